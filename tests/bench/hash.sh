#!/usr/bin/env bash
# Hashing throughput of shilian.hash() in SQL (256-byte messages, one query
# over a prepared table) against `openssl speed` on the same machine.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=1000000
psql -qAtX -c "create unlogged table bench_msg as
	select decode(repeat(lpad(to_hex(i), 8, '0'), 32), 'hex') as m
	from generate_series(1, $N) i" >/dev/null; psql -qAtX -c "vacuum analyze bench_msg"

for alg in sha256 sm3; do
	s=$(best_of 3 "set max_parallel_workers_per_gather = 0; select count(shilian.hash(m, '$alg')) from bench_msg")
	fig=$(awk -v n=$N -v s="$s" 'BEGIN { printf "%.0f", n / s }')
	evp=$([ $alg = sha256 ] && echo sha256 || echo sm3)
	base=$(openssl speed -seconds 2 -bytes 256 -evp $evp 2>&1 |
		awk '/^Doing/ { for (i = 1; i <= NF; i++) if ($i == "in") { n = $(i - 2); t = $(i + 1); sub(/s$/, "", t); printf "%.0f", n / t; exit } }')
	row "hash $alg 256 B via SQL, 1 core (1M rows)" "$fig" "hashes/s" "$base" "openssl speed -evp $evp"
done
psql -qAtX -c "drop table bench_msg" >/dev/null
