#!/usr/bin/env bash
# Ship + receive pairs per second through the SQL functions (every link rule
# checked in C, the batch row locked, one ledger entry per record) against
# plain INSERTs of the same link, batch and inspection rows with no
# validation, at 1 and 8 clients (pgbench custom scripts). 200 sellers with
# 2000 batches and 200 buyers are registered first, so that 8 clients rarely
# meet on one batch, with 4000 sales received and the tables analyzed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SECS=${SHILIAN_BENCH_RECORDS_SECS:-5}
T=${SHILIAN_BENCH_TMP:-/tmp}/records-bench
mkdir -p "$T"

psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT shilian.jurisdiction_add(c, n) FROM (VALUES ('440000', '广东省'), ('440100', '广州市'),
	('440104', '越秀区'), ('440104001', '北京街所')) v(c, n)
 WHERE NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = v.c);
CREATE TABLE bench_ops AS
SELECT i, shilian.operator_register('bench operator ' || i,
		CASE WHEN i <= 200 THEN 'production' ELSE 'circulation' END,
		CASE WHEN i <= 200 THEN '{processor}'::text[] ELSE '{retailer}' END,
		'440104001', 'address ' || i, 'contact ' || i, reg_card => 'BENCH-' || i) AS id
  FROM generate_series(1, 400) i;
SELECT count(shilian.operator_activate(id)) FROM bench_ops;
-- licence numbers JY1 440104 000001..: the check digit is only advisory
SELECT count(shilian.licence_add(o.id, ('JY1440104' || lpad(o.i::text, 6, '0') || '0')::shilian.licence_no,
		'{grain}', '2020-01-01', '2099-12-31'))
  FROM bench_ops o WHERE o.i <= 200;
SELECT shilian.product_register('bench flour', 'grain', 180) AS p \gset
CREATE TABLE bench_batch AS
SELECT row_number() OVER () AS n, shilian.batch_create(o.id, :p, '1000 t', current_date - 1) AS code
  FROM bench_ops o, generate_series(1, 10) g WHERE o.i <= 200;
CREATE TABLE bench_batch_id AS
SELECT bb.n, b.id FROM bench_batch bb JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) bb.code;
ALTER TABLE bench_batch_id ADD PRIMARY KEY (n);
-- history, as a province has: 4000 sales received before the run, so that
-- the statistics (and the plans the sessions keep) are those of tables
-- with rows, not of empty ones
SELECT count(shilian.receive(l, '1 kg', '{"inspector": "bench"}'))
  FROM (SELECT shilian.ship(bb.code, (SELECT id FROM bench_ops WHERE i = 201 + g % 200), '1 kg') AS l
		  FROM generate_series(1, 4000) g JOIN bench_batch bb ON bb.n = 1 + g % 2000) s;
VACUUM ANALYZE;
SQL

read -r BMIN BMAX <<<"$(psql -qAtX -F' ' -c "select min(id), max(id) from bench_ops where i > 200")"

cat > "$T/api.sql" <<'EOF2'
\set n random(1, 2000)
\set buyer random(:bmin, :bmax)
SELECT shilian.ship((SELECT b.trace_code FROM shilian.batch b JOIN bench_batch_id i ON i.id = b.id WHERE i.n = :n), :buyer, '1 kg') AS link \gset
SELECT shilian.receive(:link, '1 kg', '{"inspector": "bench"}');
EOF2

cat > "$T/plain.sql" <<'EOF2'
\set n random(1, 2000)
\set buyer random(:bmin, :bmax)
INSERT INTO shilian.link (kind, from_batch, seller_id, buyer_id, qty_shipped, shipped_on)
SELECT 'ship', b.id, b.owner_id, :buyer, '1 kg', current_date
  FROM shilian.batch b JOIN bench_batch_id i ON i.id = b.id WHERE i.n = :n RETURNING id AS link \gset
WITH nb AS (INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on,
		expires_on, lot, origin, certificate)
	SELECT shilian.trace_code_next('440104'), :buyer, s.product_id, '1 kg', '1 kg', s.produced_on,
		s.expires_on, s.lot, 'received', s.certificate
	  FROM shilian.batch s JOIN bench_batch_id i ON i.id = s.id WHERE i.n = :n RETURNING id)
INSERT INTO shilian.inspection (batch_id, operator_id, kind, result, report, link_id)
SELECT id, :buyer, 'incoming', 'pass', '{"inspector": "bench"}', :link FROM nb;
EOF2

tps() {
	local script=$1 clients=$2
	pgbench -n -c "$clients" -j "$clients" -T "$SECS" -D bmin="$BMIN" -D bmax="$BMAX" -f "$script" 2>&1 |
		awk '/^tps = / { printf "%.0f", $3; found = 1 } END { if (!found) exit 1 }'
}

# The machine is shared: alternate the two sides and keep the best of three
# runs of each, so that a burst of load elsewhere does not decide the ratio.
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
for c in 1 8; do
	api=0 plain=0
	for _ in 1 2 3; do
		api=$(max "$api" "$(tps "$T/api.sql" $c)")
		plain=$(max "$plain" "$(tps "$T/plain.sql" $c)")
	done
	row "ship+receive pairs via SQL API, $c client(s)" "$api" "pairs/s" "$plain" "plain INSERTs, $c client(s)" ">=0.6"
done

psql -qAtX -c "DROP TABLE bench_batch, bench_batch_id, bench_ops" >/dev/null
