#!/usr/bin/env bash
# Bulk upload throughput: N NDJSON ship lines applied by import_ndjson
# (apply_valid; every line in its own subtransaction through ship(), with
# every link rule checked and one ledger entry each) against a raw COPY of
# the same rows (code, buyer, qty) into an unindexed table. 20 sellers'
# batches and 20 buyers, so lines do not all wait on one batch row.
# N is SHILIAN_BENCH_IMPORT_LINES (default 10000: the time per line grows with
# the number of lines in one upload, see docs/integration.md; the issue's target run is
# 1,000,000).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${SHILIAN_BENCH_IMPORT_LINES:-10000}
T=${SHILIAN_BENCH_TMP:-/tmp}/import-bench
mkdir -p "$T"
chmod 755 "$T"

psql -qAtX -v ON_ERROR_STOP=1 -v n="$N" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT shilian.jurisdiction_add(c, n) FROM (VALUES ('440000', '广东省'), ('440100', '广州市'),
	('440104', '越秀区'), ('440104001', '北京街所')) v(c, n);
CREATE TABLE bench_ops AS
SELECT i, shilian.operator_register('bench operator ' || i,
		CASE WHEN i <= 20 THEN 'production' ELSE 'circulation' END,
		CASE WHEN i <= 20 THEN '{processor}'::text[] ELSE '{retailer}' END,
		'440104001', 'address ' || i, 'contact ' || i, reg_card => 'BENCH-' || i) AS id
  FROM generate_series(1, 40) i;
SELECT count(shilian.operator_activate(id)) FROM bench_ops;
SELECT count(shilian.licence_add(o.id, ('JY1440104' || lpad(o.i::text, 6, '0') || '0')::shilian.license_no,
		'{grain}', '2020-01-01', '2099-12-31'))
  FROM bench_ops o WHERE o.i <= 20;
SELECT shilian.product_register('bench flour', 'grain', 180) AS p \gset
CREATE TABLE bench_batch AS
SELECT o.i, shilian.batch_create(o.id, :p, '1000 t', current_date - 1)::text AS code
  FROM bench_ops o WHERE o.i <= 20;
-- the rows: line g ships 1 kg of seller (g % 20)'s batch to buyer 21 + g % 20
CREATE TABLE bench_rows AS
SELECT g, b.code, o.id AS buyer, '1 kg'::text AS qty
  FROM generate_series(1, :n) g
  JOIN bench_batch b ON b.i = 1 + g % 20
  JOIN bench_ops o ON o.i = 21 + g % 20;
CREATE TABLE bench_body AS
SELECT string_agg(json_build_object('kind', 'ship', 'code', code, 'buyer', buyer, 'qty', qty)::text,
		E'\n' ORDER BY g) AS body FROM bench_rows;
CREATE TABLE bench_raw (code text, buyer bigint, qty text);
VACUUM ANALYZE;
SQL
psql -qAtX -v ON_ERROR_STOP=1 -c "\\copy (SELECT code, buyer, qty FROM bench_rows ORDER BY g) TO '$T/rows.csv' CSV"

import_s=$(sql_seconds "SELECT shilian.import_ndjson(body) FROM bench_body")
accepted=$(psql -qAtX -c "SELECT accepted FROM shilian.import_job ORDER BY id DESC LIMIT 1")
[ "$accepted" = "$N" ] || { echo "import accepted $accepted of $N lines" >&2; exit 1; }
copy_s=$(best_of 3 "\\copy bench_raw FROM '$T/rows.csv' CSV")

row "import_ndjson ship lines (apply_valid, $N lines)" \
	"$(awk -v n="$N" -v s="$import_s" 'BEGIN { printf "%.0f", n / s }')" "lines/s" \
	"$(awk -v n="$N" -v s="$copy_s" 'BEGIN { printf "%.0f", n / s }')" "raw COPY, unindexed table"

psql -qAtX -c "DROP TABLE bench_batch, bench_ops, bench_rows, bench_body, bench_raw" >/dev/null
rm -rf "$T"
