#!/usr/bin/env bash
# Parsing cost of the identifier and quantity types: 1,000,000 literals cast
# from a text column (select count(x::type)), against parsing the same
# strings with the nearest built-in type: text input for uscc and
# licence_no, int8 for trace_code, numeric for qty (the number alone).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=1000000
W='{1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28}'
CS='0123456789ABCDEFGHJKLMNPQRTUWXY'
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<SQL
create unlogged table bench_uscc as
	select b || substr('$CS', ((31 - s % 31) % 31 + 1)::int, 1) as x
	  from (select b, sum((strpos('$CS', substr(b, k, 1)) - 1) * ('$W'::int[])[k]) as s
	          from (select '91370102' || lpad(upper(to_hex(i::int8 * 7919 % 68719476736)), 9, '0') as b
	                  from generate_series(1, $N) i) g,
	               generate_series(1, 17) k
	         group by b) t;
create unlogged table bench_trace as select shilian.trace_code_next('370102')::text as x from generate_series(1, $N);
create unlogged table bench_license as
	select 'SC1' || lpad((i::int8 * 7919)::text, 13, '0') as x from generate_series(1, $N) i;
create unlogged table bench_qty as
	select n || ' kg' as x, n as n from (select ((i::int8 * 7919) % 100000000) / 1000.0 || '' as n from generate_series(1, $N) i) s;
vacuum analyze bench_uscc, bench_trace, bench_license, bench_qty;
SQL
[ "$(psql -qAtX -c 'select count(*) from bench_uscc')" = "$N" ] || { echo "bench_uscc has the wrong size" >&2; exit 1; }

rate() { awk -v n=$N -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
P='set max_parallel_workers_per_gather = 0;'

s=$(best_of 5 "$P select count(x::shilian.uscc) from bench_uscc")
b=$(best_of 5 "$P select count(x::cstring::text) from bench_uscc")
row "parse uscc literal, 1 core (1M rows)" "$(rate "$s")" "literals/s" "$(rate "$b")" "text input, same strings"

s=$(best_of 5 "$P select count(x::shilian.trace_code) from bench_trace")
b=$(best_of 5 "$P select count(x::int8) from bench_trace")
row "parse trace_code literal, 1 core (1M rows)" "$(rate "$s")" "literals/s" "$(rate "$b")" "int8 input, same strings"

s=$(best_of 5 "$P select count(x::shilian.licence_no) from bench_license")
b=$(best_of 5 "$P select count(x::cstring::text) from bench_license")
row "parse licence_no literal, 1 core (1M rows)" "$(rate "$s")" "literals/s" "$(rate "$b")" "text input, same strings"

s=$(best_of 5 "$P select count(x::shilian.qty) from bench_qty")
b=$(best_of 5 "$P select count(n::numeric) from bench_qty")
row "parse qty literal, 1 core (1M rows)" "$(rate "$s")" "literals/s" "$(rate "$b")" "numeric input, number only"

psql -qAtX -c "drop table bench_uscc, bench_trace, bench_license, bench_qty" >/dev/null
