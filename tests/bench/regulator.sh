#!/usr/bin/env bash
# The operator roll at province scale (issue 9: "a million rows in well under
# a minute"): 1,000,000 licences over 16 cities, 144 counties and 720
# stations, loaded the way an admin does (docs/regulator.md): \copy of the
# register's export into a temporary staging table, then roll_import. The
# baseline is the \copy alone, into the same staging table. Then
# jurisdiction_stats for the province and for one county over that roll,
# against the issue's target of one second (no operators or records here:
# the roll side of the figures only).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=1000000
dir=${SHILIAN_BENCH_TMP:-/tmp}
file=$(mktemp "$dir/roll.XXXXXX.tsv")
trap 'rm -f "$file"' EXIT

psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT shilian.jurisdiction_add('360000', '江西省');
SELECT shilian.jurisdiction_add('36' || lpad(c::text, 2, '0') || '00', '市' || c) FROM generate_series(1, 16) c;
SELECT shilian.jurisdiction_add('36' || lpad(c::text, 2, '0') || lpad(k::text, 2, '0'), '县' || c || '-' || k)
  FROM generate_series(1, 16) c, generate_series(1, 9) k;
SELECT shilian.jurisdiction_add('36' || lpad(c::text, 2, '0') || lpad(k::text, 2, '0') || lpad(s::text, 3, '0'), '所' || c || '-' || k || '-' || s)
  FROM generate_series(1, 16) c, generate_series(1, 9) k, generate_series(1, 5) s;
SQL
# the register's export: licence, name, station, segment, kinds
psql -qAtX -v ON_ERROR_STOP=1 -c "COPY (
	SELECT CASE WHEN i % 5 = 0 THEN 'SC1' ELSE 'JY1' END || lpad(i::text, 13, '0'), '经营者' || i,
		'36' || lpad((i % 16 + 1)::text, 2, '0') || lpad((i / 16 % 9 + 1)::text, 2, '0')
			|| lpad((i / 144 % 5 + 1)::text, 3, '0'),
		(ARRAY['production', 'circulation', 'catering', 'special_food'])[i % 4 + 1],
		CASE WHEN i % 7 = 0 THEN '{restaurant}' ELSE '{retailer}' END
	  FROM generate_series(1, $N) i) TO STDOUT" > "$file"

t0=$(now_ns)
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TEMP TABLE roll_stage (LIKE shilian.operator_roll_stage);
\copy roll_stage FROM '$file'
SQL
t1=$(now_ns)
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TEMP TABLE roll_stage (LIKE shilian.operator_roll_stage);
\copy roll_stage FROM '$file'
SELECT shilian.roll_import('roll_stage');
SQL
t2=$(now_ns)
[ "$(psql -qAtX -c 'SELECT count(*) FROM shilian.operator_roll')" = "$N" ] || { echo "roll not loaded" >&2; exit 1; }
psql -qAtX -c 'VACUUM ANALYZE shilian.operator_roll' >/dev/null
copy_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
load_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
row "roll: \\copy + roll_import of 1M licences" "$load_s" "s" "$copy_s" "\\copy into staging only"

for j in 360000 360101; do
	s=$(best_of 3 "SELECT count(*) FROM shilian.jurisdiction_stats('$j', '[2026-03-01,2026-03-31]')")
	ms=$(awk -v s="$s" 'BEGIN { printf "%.0f", s * 1000 }')
	row "jurisdiction_stats $j, 1M roll, no records" "$ms" "ms" "1000" "issue 9 target (1 s)"
done
