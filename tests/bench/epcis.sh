#!/usr/bin/env bash
# EPCIS capture throughput: N events in EPCISDocuments of 99 events each,
# captured by epcis_capture (every event validated, mapped and recorded
# through batch_create, ship or receive, with one ledger entry each): per lot
# a commissioning, a shipping and a receiving event. Baseline: the same
# records made by calling the three record functions directly from SQL.
# N is SHILIAN_BENCH_EPCIS_EVENTS (default 6000).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${SHILIAN_BENCH_EPCIS_EVENTS:-6000}
LOTS=$((N / 3))

psql -qAtX -v ON_ERROR_STOP=1 -v lots="$LOTS" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT shilian.jurisdiction_add(c, n) FROM (VALUES ('450000', '广西壮族自治区'), ('450100', '南宁市'),
	('450102', '兴宁区'), ('450102001', '民生街所')) v(c, n);
CREATE TABLE epcis_bench_ops AS
SELECT i, shilian.operator_register('epcis bench operator ' || i,
		CASE WHEN i <= 20 THEN 'production' ELSE 'circulation' END,
		CASE WHEN i <= 20 THEN '{processor}'::text[] ELSE '{retailer}' END,
		'450102001', 'address ' || i, 'contact ' || i, reg_card => 'EPCIS-BENCH-' || i) AS id
  FROM generate_series(1, 40) i;
SELECT count(shilian.operator_activate(id)) FROM epcis_bench_ops;
SELECT count(shilian.licence_add(o.id, ('JY1450102' || lpad(o.i::text, 6, '0') || '0')::shilian.licence_no,
		'{grain}', '2020-01-01', '2099-12-31'))
  FROM epcis_bench_ops o WHERE o.i <= 20;
SELECT shilian.product_register('epcis bench rice', 'grain', 365, gtin => '6970000000093') AS p \gset
-- lot k: seller 1 + k % 20 commissions 10 kg, ships 4 kg to buyer 21 + k % 20, who receives it
CREATE TABLE epcis_bench_lots AS
SELECT k, s.id AS seller, b.id AS buyer, 'EB-' || k AS lot
  FROM generate_series(1, :lots) k
  JOIN epcis_bench_ops s ON s.i = 1 + k % 20
  JOIN epcis_bench_ops b ON b.i = 21 + k % 20;
CREATE TABLE epcis_bench_docs AS
SELECT (k - 1) / 33 AS d, jsonb_build_object(
		'@context', 'https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
		'type', 'EPCISDocument', 'schemaVersion', '2.0', 'creationDate', '2026-01-02T12:00:00Z',
		'epcisBody', jsonb_build_object('eventList', jsonb_agg(e ORDER BY k, o))) AS doc
  FROM epcis_bench_lots l, LATERAL (VALUES
	(1, jsonb_build_object('eventID', 'urn:uuid:bench-c-' || k, 'type', 'ObjectEvent', 'action', 'ADD',
		'bizStep', 'commissioning', 'eventTime', '2026-01-01T08:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
		'bizLocation', jsonb_build_object('id', 'urn:shilian:operator:' || seller),
		'quantityList', jsonb_build_array(jsonb_build_object('epcClass',
			'urn:epc:class:lgtin:6970000.000009.' || lot, 'quantity', 10, 'uom', 'KGM')))),
	(2, jsonb_build_object('eventID', 'urn:uuid:bench-s-' || k, 'type', 'ObjectEvent', 'action', 'OBSERVE',
		'bizStep', 'shipping', 'eventTime', '2026-01-01T09:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
		'bizLocation', jsonb_build_object('id', 'urn:shilian:operator:' || seller),
		'destinationList', jsonb_build_array(jsonb_build_object('type', 'owning_party',
			'destination', 'urn:shilian:operator:' || buyer)),
		'quantityList', jsonb_build_array(jsonb_build_object('epcClass',
			'https://id.gs1.org/01/06970000000093/10/' || lot, 'quantity', 4, 'uom', 'KGM')))),
	(3, jsonb_build_object('eventID', 'urn:uuid:bench-r-' || k, 'type', 'ObjectEvent', 'action', 'OBSERVE',
		'bizStep', 'receiving', 'eventTime', '2026-01-01T15:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
		'bizLocation', jsonb_build_object('id', 'urn:shilian:operator:' || buyer),
		'sourceList', jsonb_build_array(jsonb_build_object('type', 'owning_party',
			'source', 'urn:shilian:operator:' || seller)),
		'quantityList', jsonb_build_array(jsonb_build_object('epcClass',
			'urn:epc:class:lgtin:6970000.000009.' || lot, 'quantity', 4, 'uom', 'KGM')),
		'shilian:inspection', jsonb_build_object('inspector', 'bench')))) AS v(o, e)
 GROUP BY (k - 1) / 33;
VACUUM ANALYZE;
SQL

# Warm-up: the first tenth of the documents, then ANALYZE, so that the plans
# are made for tables that hold rows (as a province's do): planned over the
# empty tables the eventID and foreign-key probes scan, and capture slows
# down with every event (0.16 of direct calls over 6,000 events, 0.46 over 600).
WARM=$(( (LOTS / 33) / 10 ))
psql -qAtX -v ON_ERROR_STOP=1 -c "SELECT count(shilian.epcis_capture(doc)) FROM (SELECT doc FROM epcis_bench_docs WHERE d < $WARM ORDER BY d) x" >/dev/null
psql -qAtX -c "ANALYZE" >/dev/null
timed=$(psql -qAtX -c "SELECT sum(jsonb_array_length(doc #> '{epcisBody,eventList}')) FROM epcis_bench_docs WHERE d >= $WARM")
capture_s=$(sql_seconds "SELECT count(shilian.epcis_capture(doc)) FROM (SELECT doc FROM epcis_bench_docs WHERE d >= $WARM ORDER BY d) x")
events=$(psql -qAtX -c "SELECT count(*) FROM shilian.epcis_event WHERE event_id LIKE 'urn:uuid:bench-%'")
[ "$events" = "$((LOTS * 3))" ] || { echo "captured $events of $((LOTS * 3)) events" >&2; exit 1; }
LOTS=$((timed / 3))
direct_s=$(sql_seconds "CREATE FUNCTION pg_temp.direct(n int) RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE l record; code shilian.trace_code;
BEGIN
	FOR l IN SELECT * FROM epcis_bench_lots ORDER BY k LIMIT n LOOP
		code := shilian.batch_create(l.seller, (SELECT id FROM shilian.product WHERE gtin = '6970000000093'),
			'10 kg', '2026-01-01', 'ED-' || l.k);
		PERFORM shilian.receive(shilian.ship(code, l.buyer, '4 kg', '2026-01-01', l.seller), '4 kg',
			'{\"inspector\": \"bench\"}', '2026-01-01 15:00+08');
	END LOOP;
END \$\$; SELECT pg_temp.direct($LOTS)")

row "EPCIS capture events/s ($((LOTS * 3)) events)" \
	"$(awk -v n="$((LOTS * 3))" -v s="$capture_s" 'BEGIN { printf "%.0f", n / s }')" "events/s" \
	"$(awk -v n="$((LOTS * 3))" -v s="$direct_s" 'BEGIN { printf "%.0f", n / s }')" "the same records by direct SQL calls"

psql -qAtX -c "DROP TABLE epcis_bench_docs, epcis_bench_lots, epcis_bench_ops" >/dev/null
