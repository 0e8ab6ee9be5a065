#!/usr/bin/env bash
# The ledger: append overhead at 8 clients (a realistic record insert with and
# without its ledger entry, over many operators and over 8 busy ones),
# checkpoint time for 100k new leaves, and chain_verify throughput against
# `openssl speed -evp sha256` at the mean entry size, all in one run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

T=${SHILIAN_BENCH_TMP:-/tmp}/ledger-bench
mkdir -p "$T"
SECS=${SHILIAN_BENCH_SECONDS:-8}

psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE bench_record (
	id bigserial PRIMARY KEY,
	operator_id bigint NOT NULL,
	code text NOT NULL UNIQUE,
	body jsonb NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON bench_record (operator_id);
-- A record function as batch_create is one: a row with three indexes and a
-- jsonb body, and, when the ledger is on, the same body appended to the
-- operator's chain in the same transaction. Both sides run this function.
CREATE FUNCTION bench_record_add(op bigint, body jsonb, ledger boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	rid bigint;
BEGIN
	INSERT INTO bench_record (operator_id, code, body) VALUES (op, md5(random()::text), body)
		RETURNING id INTO rid;
	IF ledger THEN
		PERFORM shilian.ledger_append(op, 'batch_create', body);
	END IF;
	RETURN rid;
END $$;
-- The physical side of the append: the same record and the same two rows a
-- ledger entry writes (its partition row and its ledger_chain row), by
-- plain INSERTs into tables of their shape, constraints and indexes, without
-- the canonical encoding, the hash, the chain head's look-up or triggers.
-- The seqs come from one sequence (unique per operator as the chain's are).
CREATE TABLE bench_ledger_rows (LIKE shilian.ledger_default INCLUDING ALL);
CREATE TABLE bench_chain_rows (LIKE shilian.ledger_chain INCLUDING ALL);
CREATE SEQUENCE bench_ledger_seq;
CREATE FUNCTION bench_record_rows(op bigint, body jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	rid bigint;
	eid bigint := nextval('bench_ledger_seq');
	h bytea := sha256(''::bytea);
BEGIN
	INSERT INTO bench_record (operator_id, code, body) VALUES (op, md5(random()::text), body)
		RETURNING id INTO rid;
	INSERT INTO bench_ledger_rows (id, operator_id, seq, kind, body, alg, prev_hash, hash, recorded_at)
		VALUES (eid, op, eid, 'batch_create', convert_to(body::text, 'UTF8'), 1, h, h, now());
	INSERT INTO bench_chain_rows (operator_id, seq, entry_id, hash) VALUES (op, eid, eid, h);
	RETURN rid;
END $$;
SQL

body='{"product": "菠菜 spinach", "spec": "500 g bag", "qty": 120.5, "unit": "kg", "lot": "L20261129-07", "produced": "2026-11-28", "shelf_life_days": 5, "inspection": {"result": "pass", "report": "R-3701-889"}}'
for ops in 100000 8; do
	for ledger in false true; do
		cat > "$T/${ledger}_$ops.sql" <<SQL
\set op random(1, $ops)
SELECT bench_record_add(:op, '$body', $ledger);
SQL
	done
	cat > "$T/rows_$ops.sql" <<SQL
\set op random(1, $ops)
SELECT bench_record_rows(:op, '$body');
SQL
done
tps() { pgbench -n -M prepared -c 8 -j 2 -T "$SECS" -f "$1" 2>/dev/null | awk '/^tps/ { printf "%.0f", $3 }'; }

# warm both tables up, then alternate so that load from elsewhere hits both sides
tps "$T/true_100000.sql" >/dev/null
for ops in 100000 8; do
	p1=$(tps "$T/false_$ops.sql"); l1=$(tps "$T/true_$ops.sql"); r1=$(tps "$T/rows_$ops.sql")
	p2=$(tps "$T/false_$ops.sql"); l2=$(tps "$T/true_$ops.sql"); r2=$(tps "$T/rows_$ops.sql")
	plain=$(awk -v a="$p1" -v b="$p2" 'BEGIN { print (a > b ? a : b) }')
	ledger=$(awk -v a="$l1" -v b="$l2" 'BEGIN { print (a > b ? a : b) }')
	rows=$(awk -v a="$r1" -v b="$r2" 'BEGIN { print (a > b ? a : b) }')
	if [ "$ops" = 8 ]; then what="8 busy operators"; target=">=0.6"; else what="100k operators"; target=">=0.8"; fi
	row "records with ledger, 8 clients, $what" "$ledger" "records/s" "$plain" "same records, ledger off" "$target"
	# beside it, the physical limit: the same rows by plain INSERTs
	row "records + its ledger rows as plain INSERTs, $what" "$rows" "records/s" "$plain" "same records, ledger off"
	row "records with ledger vs its rows as plain INSERTs, $what" "$ledger" "records/s" "$rows" "plain INSERTs of the same rows"
done

# Top the log up to 1M entries over 10k operators, publish them, then time
# a checkpoint of exactly 100k new leaves.
have=$(psql -qAtX -c "SELECT count(*) FROM shilian.ledger")
if [ "$have" -lt 900000 ]; then
	psql -qAtX -c "SELECT count(shilian.ledger_append(i % 10000, 'batch_create', jsonb_build_object('n', i, 'lot', 'L' || i, 'qty', i * 0.25)))
		FROM generate_series(1, 900000 - $have) i" >/dev/null
fi
psql -qAtX -c "SELECT shilian.checkpoint()" >/dev/null
psql -qAtX -c "SELECT count(shilian.ledger_append(i % 10000, 'inspect', jsonb_build_object('n', i, 'result', 'pass')))
	FROM generate_series(1, 100000) i" >/dev/null
total=$(psql -qAtX -c "SELECT count(*) FROM shilian.ledger")
s=$(sql_seconds "SELECT shilian.checkpoint()")
row "checkpoint, 100k new leaves (log of $((total / 1000))k)" "$s" "s" "0" "-"

# chain_verify over everything, one backend: per core means the backend's
# own CPU time (from /proc), as openssl speed counts its own; the machine may
# be shared. Best of 3 in one session.
psql -qAtX -c "VACUUM ANALYZE shilian.ledger" >/dev/null
cpu=$(psql -qAtX <<'SQL' | awk -v tck="$(getconf CLK_TCK)" '/^cpu / { c[n++] = $2 }
	END { for (i = 1; i < n; i++) { d = c[i] - c[i - 1]; if (i == 1 || d < best) best = d } printf "%.3f", best / tck }'
SELECT pg_backend_pid() AS pid \gset
\setenv PID :pid
\! awk '{ print "cpu", $14 + $15 }' /proc/$PID/stat
SELECT count(*) FROM shilian.chain_verify() WHERE NOT ok;
\! awk '{ print "cpu", $14 + $15 }' /proc/$PID/stat
SELECT count(*) FROM shilian.chain_verify() WHERE NOT ok;
\! awk '{ print "cpu", $14 + $15 }' /proc/$PID/stat
SELECT count(*) FROM shilian.chain_verify() WHERE NOT ok;
\! awk '{ print "cpu", $14 + $15 }' /proc/$PID/stat
SQL
)
wall=$(best_of 3 "SELECT count(*) FROM shilian.chain_verify() WHERE NOT ok")
bad=$(psql -qAtX -c "SELECT count(*) FROM shilian.chain_verify() WHERE NOT ok")
[ "$bad" = 0 ] || { echo "chain_verify found $bad bad chains in the benchmark ledger" >&2; exit 1; }
bytes=$(psql -qAtX -c "SELECT sum(1 + 5 * 12 + 5 + 4 + octet_length(kind) + 4 + length(body) + 32) FROM shilian.ledger")
mean=$(awk -v b="$bytes" -v n="$total" 'BEGIN { printf "%.0f", b / n }')
eps=$(awk -v n="$total" -v s="$cpu" 'BEGIN { printf "%.0f", n / s }')
eps_wall=$(awk -v n="$total" -v s="$wall" 'BEGIN { printf "%.0f", n / s }')
mbs=$(awk -v b="$bytes" -v s="$cpu" 'BEGIN { printf "%.1f", b / s / 1e6 }')
read -r evp_n evp_mbs < <(openssl speed -seconds 2 -bytes "$mean" -evp sha256 2>&1 |
	awk -v m="$mean" '/^Doing/ { for (i = 1; i <= NF; i++) if ($i == "in") { n = $(i - 2); t = $(i + 1); sub(/s$/, "", t); printf "%.0f %.1f\n", n / t, n * m / t / 1e6; exit } }')
row "chain_verify, per core (${total} entries)" "$eps" "entries/s" "$evp_n" "openssl sha256 ${mean} B/s"
row "chain_verify, per core, bytes hashed" "$mbs" "MB/s" "$evp_mbs" "openssl sha256 ${mean} B MB/s"
row "chain_verify, wall clock (${total} entries)" "$eps_wall" "entries/s" "$evp_n" "openssl sha256 ${mean} B/s"

psql -qAtX -c "DROP FUNCTION bench_record_add; DROP FUNCTION bench_record_rows; DROP TABLE bench_record, bench_ledger_rows, bench_chain_rows; DROP SEQUENCE bench_ledger_seq" >/dev/null
