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

# The floor of a pair: every row version it writes, by plain statements
# with no validation, hashing, look-ups or triggers. The sale, the seller's
# lot updated, the buyer's new lot, the sale received, the incoming
# inspection (as above), and what the API writes besides: a ledger entry and
# its chain row per record (into tables of their shape, with their keys
# and indexes, bodies of the bench's entry sizes) and, at each commit, the
# counters' rows (the seller's day and month after the sale; the buyer's
# day and month and the station's month after the receipt; into copies
# holding the rows of the bench's operators). No target: it shows how much
# of the pair's time is writing what it writes. Its statements are prepared
# (planned once per session, as the API's are), so that planning them is
# not counted as writing.
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE bench_ledger_rows (LIKE shilian.ledger_default INCLUDING ALL);
CREATE TABLE bench_chain_rows (LIKE shilian.ledger_chain INCLUDING ALL);
CREATE SEQUENCE bench_ledger_seq;
CREATE TABLE bench_op_day (LIKE shilian.operator_day INCLUDING ALL);
CREATE TABLE bench_op_month (LIKE shilian.operator_month INCLUDING ALL);
CREATE TABLE bench_station_month (LIKE shilian.station_month INCLUDING ALL);
INSERT INTO bench_op_day (operator_id, day) SELECT id, shilian.platform_date(now()) FROM bench_ops;
INSERT INTO bench_op_month (operator_id, month)
SELECT id, date_trunc('month', shilian.platform_date(now()))::date FROM bench_ops;
INSERT INTO bench_station_month (station, segment, month)
SELECT '440104001', s, date_trunc('month', shilian.platform_date(now()))::date
  FROM unnest('{production,circulation}'::text[]) s;
ANALYZE bench_op_day; ANALYZE bench_op_month; ANALYZE bench_station_month;
SQL

cat > "$T/rows.sql" <<'EOF2'
\set n random(1, 2000)
\set buyer random(:bmin, :bmax)
WITH l AS (INSERT INTO shilian.link (kind, from_batch, seller_id, buyer_id, qty_shipped, shipped_on)
	SELECT 'ship', b.id, b.owner_id, :buyer, '1 kg', current_date
	  FROM shilian.batch b JOIN bench_batch_id i ON i.id = b.id WHERE i.n = :n RETURNING id, from_batch, seller_id),
 s AS (UPDATE shilian.batch b SET qty_left = b.qty_left FROM l WHERE b.id = l.from_batch),
 x AS (SELECT nextval('bench_ledger_seq') AS id),
 e AS (INSERT INTO bench_ledger_rows (id, operator_id, seq, kind, body, alg, prev_hash, hash, recorded_at)
	SELECT x.id, l.seller_id, x.id, 'ship', convert_to(repeat('s', 326), 'UTF8'), 1,
		sha256(''::bytea), sha256(convert_to(x.id::text, 'UTF8')), now() FROM l, x
	RETURNING id, operator_id, seq, hash),
 c AS (INSERT INTO bench_chain_rows (operator_id, seq, entry_id, hash) SELECT operator_id, seq, id, hash FROM e),
 d AS (UPDATE bench_op_day d SET records = d.records + 1, shipments = d.shipments + 1 FROM l
	WHERE d.operator_id = l.seller_id AND d.day = shilian.platform_date(now())),
 m AS (UPDATE bench_op_month m SET records = m.records + 1 FROM l
	WHERE m.operator_id = l.seller_id AND m.month = date_trunc('month', shilian.platform_date(now()))::date)
SELECT id AS link FROM l \gset
WITH nb AS (INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on,
		expires_on, lot, origin, certificate)
	SELECT shilian.trace_code_next('440104'), :buyer, s.product_id, '1 kg', '1 kg', s.produced_on,
		s.expires_on, s.lot, 'received', s.certificate
	  FROM shilian.batch s JOIN bench_batch_id i ON i.id = s.id WHERE i.n = :n RETURNING id),
 ul AS (UPDATE shilian.link l SET to_batch = nb.id, qty_accepted = '1 kg', received_at = now(), status = 'received'
	FROM nb WHERE l.id = :link),
 ins AS (INSERT INTO shilian.inspection (batch_id, operator_id, kind, result, report, link_id)
	SELECT id, :buyer, 'incoming', 'pass', '{"inspector": "bench"}', :link FROM nb),
 x AS (SELECT nextval('bench_ledger_seq') AS id),
 e AS (INSERT INTO bench_ledger_rows (id, operator_id, seq, kind, body, alg, prev_hash, hash, recorded_at)
	SELECT x.id, :buyer, x.id, 'receive', convert_to(repeat('r', 788), 'UTF8'), 1,
		sha256(''::bytea), sha256(convert_to(x.id::text, 'UTF8')), now() FROM x
	RETURNING id, operator_id, seq, hash),
 c AS (INSERT INTO bench_chain_rows (operator_id, seq, entry_id, hash) SELECT operator_id, seq, id, hash FROM e),
 d AS (UPDATE bench_op_day d SET records = d.records + 1, receipts = d.receipts + 1,
		inspections = d.inspections + 1, receipts_complete = d.receipts_complete + 1
	WHERE d.operator_id = :buyer AND d.day = shilian.platform_date(now())),
 m AS (UPDATE bench_op_month m SET records = m.records + 1, receipts = m.receipts + 1,
		receipts_complete = m.receipts_complete + 1
	WHERE m.operator_id = :buyer AND m.month = date_trunc('month', shilian.platform_date(now()))::date),
 sm AS (UPDATE bench_station_month t SET receipts = t.receipts + 1, receipts_complete = t.receipts_complete + 1
	WHERE t.station = '440104001' AND t.segment = 'circulation'
	  AND t.month = date_trunc('month', shilian.platform_date(now()))::date)
SELECT count(*) FROM nb;
EOF2

tps() {
	local script=$1 clients=$2
	shift 2
	pgbench -n "$@" -c "$clients" -j "$clients" -T "$SECS" -D bmin="$BMIN" -D bmax="$BMAX" -f "$script" 2>&1 |
		awk '/^tps = / { printf "%.0f", $3; found = 1 } END { if (!found) exit 1 }'
}

# The machine is shared: alternate the two sides and keep the best of three
# runs of each, so that a burst of load elsewhere does not decide the ratio.
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
for c in 1 8; do
	api=0 plain=0 rows=0
	for _ in 1 2 3; do
		api=$(max "$api" "$(tps "$T/api.sql" $c)")
		plain=$(max "$plain" "$(tps "$T/plain.sql" $c)")
		rows=$(max "$rows" "$(tps "$T/rows.sql" $c -M prepared)")
	done
	row "ship+receive pairs via SQL API, $c client(s)" "$api" "pairs/s" "$plain" "plain INSERTs, $c client(s)" ">=0.6"
	row "ship+receive pairs: every row a pair writes, plain, $c client(s)" "$rows" "pairs/s" "$plain" "plain INSERTs, $c client(s)"
	row "ship+receive pairs via SQL API vs every row it writes, $c client(s)" "$api" "pairs/s" "$rows" "the same rows, plain, $c client(s)"
done

psql -qAtX -c "DROP TABLE bench_batch, bench_batch_id, bench_ops, bench_ledger_rows, bench_chain_rows, bench_op_day, bench_op_month, bench_station_month" -c "DROP SEQUENCE bench_ledger_seq" >/dev/null
