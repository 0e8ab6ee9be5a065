-- regulator_figures: the per-operator per-day counters (operator_day) kept by the
-- record functions, the sources of records, and the regulator's assessment
-- figures read from them: jurisdiction_stats' 10+3 coverage, own-system
-- upload rate and completeness rate, segment_stats and monthly_report
-- (docs/regulator.md). A small province of its own (45xxxx), every figure
-- worked out by hand in the comments.

SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
-- Registry changes in this file take effect on 2026-01-01 (the admin's dated
-- entry, shilian.registry_time): the figures of a month read the registry as
-- it stood at the month's end (docs/regulator.md), and the records are of 2026.
SET shilian.registry_time = '2026-01-01 00:00+08';
\set VERBOSITY default

-- The province: 南宁 (two counties) and 柳州 (one), a station in each county.
SELECT count(*) AS added FROM (VALUES ('450000', '广西壮族自治区'), ('450100', '南宁市'),
	('450102', '兴宁区'), ('450102001', '兴宁区朝阳市场监管所'), ('450103', '青秀区'),
	('450103001', '青秀区新竹市场监管所'), ('450200', '柳州市'), ('450202', '城中区'),
	('450202001', '城中区公园市场监管所')) v(c, n), LATERAL shilian.jurisdiction_add(c, n);

-- The operators. 450102001: F farm (own system), P processor, W wholesaler
-- (own system), K school canteen, R restaurant. 450103001: M market vendor
-- (no licence), C central kitchen (own system). 450202001: S retailer, X
-- retailer (registered, never activated).
SELECT shilian.operator_register('兴宁绿野农场', 'production', '{farm}', '450102001', '兴宁区1号', '0771-1',
	reg_card => 'GX-F', own_system => true) AS f \gset
SELECT shilian.operator_register('兴宁肉食品厂', 'production', '{processor}', '450102001', '兴宁区2号', '0771-2',
	reg_card => 'GX-P') AS p \gset
SELECT shilian.operator_register('兴宁农产品批发', 'circulation', '{wholesaler}', '450102001', '兴宁区3号', '0771-3',
	reg_card => 'GX-W', own_system => true) AS w \gset
SELECT shilian.operator_register('兴宁一小食堂', 'catering', '{school_canteen}', '450102001', '兴宁区4号', '0771-4',
	reg_card => 'GX-K') AS k \gset
SELECT shilian.operator_register('兴宁粉店', 'catering', '{restaurant}', '450102001', '兴宁区5号', '0771-5',
	reg_card => 'GX-R') AS r \gset
SELECT shilian.operator_register('青秀菜摊', 'circulation', '{market_vendor}', '450103001', '青秀区6号', '0771-6',
	reg_card => 'GX-M') AS m \gset
SELECT shilian.operator_register('青秀中央厨房', 'catering', '{central_kitchen}', '450103001', '青秀区7号', '0771-7',
	reg_card => 'GX-C', own_system => true) AS c \gset
SELECT shilian.operator_register('城中超市', 'circulation', '{retailer}', '450202001', '城中区8号', '0772-8',
	reg_card => 'GX-S') AS s \gset
SELECT shilian.operator_register('城中便利店', 'circulation', '{retailer}', '450202001', '城中区9号', '0772-9',
	reg_card => 'GX-X') AS x \gset
SELECT count(*) AS activated FROM unnest(ARRAY[:f, :p, :w, :k, :r, :m, :c, :s]::bigint[]) o,
	LATERAL shilian.operator_activate(o);
SELECT count(*) AS licences FROM (VALUES
	(:f, 'SC14501020000011', '{vegetables}'), (:p, 'SC14501020000020', '{meat}'),
	(:w, 'JY14501020000038', '{vegetables,meat}'), (:k, 'JY34501020000046', '{other}'),
	(:r, 'JY24501020000054', '{other}'), (:c, 'JY34501030000016', '{grain}'),
	(:s, 'JY14502020000012', '{dairy}'), (:x, 'JY14502020000020', '{fruit}')) v(o, l, sc),
	LATERAL shilian.licence_add(o, l::licence_no, sc::text[], '2025-01-01', '2029-12-31');

-- The roll: the eight licences above and three not on the platform (one in
-- 450103001, two in 450202001).
INSERT INTO shilian.operator_roll (licence_no, name, station, segment, kinds) VALUES
	('SC14501020000011', 'F', '450102001', 'production', '{farm}'),
	('SC14501020000020', 'P', '450102001', 'production', '{processor}'),
	('JY14501020000038', 'W', '450102001', 'circulation', '{wholesaler}'),
	('JY34501020000046', 'K', '450102001', 'catering', '{school_canteen}'),
	('JY24501020000054', 'R', '450102001', 'catering', '{restaurant}'),
	('JY34501030000016', 'C', '450103001', 'catering', '{central_kitchen}'),
	('JY14501030000024', 'N1', '450103001', 'circulation', '{retailer}'),
	('JY14502020000012', 'S', '450202001', 'circulation', '{retailer}'),
	('JY14502020000020', 'X', '450202001', 'circulation', '{retailer}'),
	('JY14502020000039', 'N2', '450202001', 'circulation', '{retailer}'),
	('JY14502020000047', 'N3', '450202001', 'catering', '{restaurant}');

SELECT shilian.product_register('青菜', 'vegetables', shelf_life_days => 10, spec => '散装',
	edible_agricultural => true) AS greens \gset
SELECT shilian.product_register('猪肉丸', 'meat', shelf_life_days => 90, spec => '500g/袋') AS balls \gset
SELECT shilian.product_register('米粉', 'grain', shelf_life_days => 3, spec => '份') AS noodles \gset
\set insp '{"inspector": "验收员"}'

-- ---- the counters ----------------------------------------------------------------
-- February: F harvests on 02-20 through its own system (a system client).
BEGIN;
SELECT set_config('shilian.client', 'gx-farm-erp', true) IS NOT NULL AS set;
SELECT shilian.batch_create(:f, :greens, '500 kg', '2026-02-20') AS g0 \gset
COMMIT;
-- March: F harvests on 03-02 and sells to W (03-03), K (03-04), R (03-05)
-- and C (03-06); R and C never receive.
SELECT shilian.batch_create(:f, :greens, '1 t', '2026-03-02') AS g1 \gset
SELECT shilian.ship(:'g1', :w, '300 kg', '2026-03-03') AS l_fw \gset
SELECT shilian.ship(:'g1', :k, '100 kg', '2026-03-04') AS l_fk \gset
SELECT shilian.ship(:'g1', :r, '50 kg', '2026-03-05') AS l_fr \gset
SELECT shilian.ship(:'g1', :c, '50 kg', '2026-03-06') AS l_fc \gset
-- W receives through a bulk import (shilian.channel), on 03-03.
BEGIN;
SELECT set_config('shilian.channel', 'import', true) IS NOT NULL AS set;
SELECT shilian.receive(:l_fw, '300 kg', :'insp', '2026-03-03 10:00+08') AS gw \gset
COMMIT;
-- P makes meatballs on 03-02 (no release inspection: no certificate) and
-- sells to W on 03-03; W receives on 03-04, typed in.
SELECT shilian.batch_create(:p, :balls, '200 kg', '2026-03-02') AS b1 \gset
SELECT shilian.receive(shilian.ship(:'b1', :w, '20 kg', '2026-03-03'), '20 kg', :'insp',
	'2026-03-04 09:00+08') IS NOT NULL AS received;
-- K receives on 03-05 and serves on 03-06.
SELECT shilian.receive(:l_fk, '100 kg', :'insp', '2026-03-05 07:00+08') AS gk \gset
SELECT shilian.consume(:'gk', '100 kg', 'served', '2026-03-06 12:00+08') > 0 AS served;
-- W sells greens to S on 03-10; S receives on 03-11.
SELECT shilian.receive(shilian.ship(:'gw', :s, '100 kg', '2026-03-10'), '100 kg', :'insp',
	'2026-03-11 08:00+08') IS NOT NULL AS received;
-- M buys greens from a farmer on 03-12 (a first entry).
SELECT shilian.receive_first_entry(:m, :greens, '30 kg', '{"name": "韦农", "contact": "13900000045"}',
	:'insp', '2026-03-12', '2026-03-12 06:00+08') AS gm \gset
-- M's market system reports a retail sale on 03-13 as an EPCIS event
-- (channel and client: "epcis:gx-market").
BEGIN;
SELECT set_config('shilian.client', 'gx-market', true) IS NOT NULL AS set,
	set_config('shilian.channel', 'epcis', true) IS NOT NULL AS set;
SELECT shilian.consume(:'gm', '10 kg', 'retail_sold', '2026-03-13 17:00+08') > 0 AS sold;
COMMIT;

-- A savepoint rolled back takes its records out of the counts; a released
-- one keeps them. Three records by F on 03-20, the second undone: 2 count.
BEGIN;
SELECT shilian.inspect(:'g1', 'sampling', 'pass', '{"agency": "广西食检院", "report_no": "S-1"}',
	'2026-03-20 09:00+08') > 0 AS ok;
SAVEPOINT a;
SELECT shilian.inspect(:'g1', 'sampling', 'pass', '{"agency": "广西食检院", "report_no": "S-2"}',
	'2026-03-20 10:00+08') > 0 AS ok;
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
SAVEPOINT b2;
SELECT shilian.inspect(:'g1', 'sampling', 'pass', '{"agency": "广西食检院", "report_no": "S-3"}',
	'2026-03-20 11:00+08') > 0 AS ok;
RELEASE SAVEPOINT b2;
RELEASE SAVEPOINT b;
COMMIT;
-- An aborted transaction counts nothing.
BEGIN;
SELECT shilian.inspect(:'g1', 'sampling', 'pass', '{"agency": "广西食检院", "report_no": "S-4"}',
	'2026-03-20 12:00+08') > 0 AS ok;
ROLLBACK;
-- A PL/pgSQL exception block is a subtransaction too: its record is undone
-- with the failed statement and not counted.
DO $$
BEGIN
	PERFORM shilian.inspect(b.trace_code, 'sampling', 'pass', '{"agency": "广西食检院", "report_no": "S-5"}',
		'2026-03-20 13:00+08')
	  FROM shilian.batch b JOIN shilian.operator o ON o.id = b.owner_id
	 WHERE o.reg_card = 'GX-F' AND b.produced_on = '2026-03-02';
	PERFORM 1 / 0;
EXCEPTION WHEN division_by_zero THEN
	NULL;
END $$;

-- A bulk import applies each line in a subtransaction: P's upload of a
-- sampling inspection (applied) and an oversized sale (refused, its line
-- rolled back) counts one record; an all_or_nothing upload with a refused
-- line counts nothing.
SELECT shilian.import_ndjson(
	'{"kind": "inspection", "code": "' || :'b1' || '", "inspection_kind": "sampling", "result": "pass", "report": {"agency": "广西食检院", "report_no": "S-7"}, "inspected_at": "2026-03-25T09:00:00+08:00"}' || E'\n' ||
	'{"kind": "ship", "code": "' || :'b1' || '", "buyer": ' || :w || ', "qty": "1 t", "shipped_on": "2026-03-25"}' || E'\n') AS job \gset
SELECT status, accepted, refused FROM shilian.import_job WHERE id = :job;
SELECT shilian.import_ndjson(
	'{"kind": "inspection", "code": "' || :'b1' || '", "inspection_kind": "sampling", "result": "pass", "report": {"agency": "广西食检院", "report_no": "S-8"}, "inspected_at": "2026-03-26T09:00:00+08:00"}' || E'\n' ||
	'{"kind": "ship", "code": "' || :'b1' || '", "buyer": ' || :w || ', "qty": "1 t", "shipped_on": "2026-03-26"}' || E'\n',
	'all_or_nothing') AS job \gset
SELECT status, accepted, refused FROM shilian.import_job WHERE id = :job;

-- By hand, per operator and day:
--   F 02-20 batch (via client); 03-02 batch; 03-03, 03-04, 03-05, 03-06 one
--     sale each; 03-20 two sampling inspections.
--   P 03-02 batch; 03-03 sale; 03-25 the imported sampling inspection (via import).
--   W 03-03 receipt (via import, complete: greens are agricultural);
--     03-04 receipt (meatballs without certificate: incomplete); 03-10 sale.
--   K 03-05 receipt (complete); 03-06 consumption.
--   S 03-11 receipt (complete).  M 03-12 first entry (complete); 03-13
--     consumption (via EPCIS).
SELECT o.reg_card, d.day, d.records, d.batches, d.inspections, d.shipments, d.receipts,
	d.receipts_complete, d.rejections, d.transforms, d.consumptions, d.via_client
  FROM shilian.operator_day d JOIN shilian.operator o ON o.id = d.operator_id
 WHERE o.station LIKE '45%' ORDER BY o.reg_card, d.day;
-- Each record's ledger entry carries its source and event date.
SELECT o.reg_card, g.kind, g.source, g.on_date
  FROM shilian.ledger g JOIN shilian.operator o ON o.id = g.operator_id
 WHERE o.station LIKE '45%' AND g.source IS NOT NULL ORDER BY g.id;
-- The other 15 of the 19 records were typed in: no source.
SELECT count(*) AS typed_in FROM shilian.ledger g JOIN shilian.operator o ON o.id = g.operator_id
 WHERE o.station LIKE '45%' AND g.source IS NULL
   AND g.kind NOT IN ('operator_register', 'operator_activate', 'licence_add');
-- shilian.channel takes import, epcis or nothing (22023).
SELECT set_config('shilian.channel', 'fax', true);
\echo :LAST_ERROR_SQLSTATE

-- The counters equal a recount from the record tables: operator_day_rebuild()
-- recounts everything; nothing changes for this province.
CREATE TEMP TABLE counted AS
	SELECT d.* FROM shilian.operator_day d JOIN shilian.operator o ON o.id = d.operator_id
	 WHERE o.station LIKE '45%';
-- operator_month, kept at commit too, holds the same per calendar month: F in
-- February and March, P W K S M in March.
SELECT count(*) AS month_differences FROM (
	(SELECT m.operator_id, m.month, m.records, m.receipts, m.receipts_complete, m.via_client
	   FROM shilian.operator_month m JOIN shilian.operator o ON o.id = m.operator_id WHERE o.station LIKE '45%'
	 EXCEPT
	 SELECT operator_id, date_trunc('month', day)::date, sum(records), sum(receipts), sum(receipts_complete), sum(via_client)
	   FROM counted GROUP BY 1, 2)
	UNION ALL
	(SELECT operator_id, date_trunc('month', day)::date, sum(records), sum(receipts), sum(receipts_complete), sum(via_client)
	   FROM counted GROUP BY 1, 2
	 EXCEPT
	 SELECT m.operator_id, m.month, m.records, m.receipts, m.receipts_complete, m.via_client
	   FROM shilian.operator_month m JOIN shilian.operator o ON o.id = m.operator_id WHERE o.station LIKE '45%')) x;
SELECT count(*) AS months FROM shilian.operator_month m JOIN shilian.operator o ON o.id = m.operator_id
 WHERE o.station LIKE '45%';
SELECT shilian.operator_day_rebuild() > 0 AS rebuilt;
SELECT count(*) AS differences FROM (
	(SELECT * FROM counted
	 EXCEPT SELECT d.* FROM shilian.operator_day d JOIN shilian.operator o ON o.id = d.operator_id
			 WHERE o.station LIKE '45%')
	UNION ALL
	(SELECT d.* FROM shilian.operator_day d JOIN shilian.operator o ON o.id = d.operator_id
	  WHERE o.station LIKE '45%'
	 EXCEPT SELECT * FROM counted)) x;
SELECT count(*) AS rows FROM counted;

-- The completeness counted at commit is record_completeness()'s verdict, on
-- every incoming record of the database.
SELECT count(*) AS incoming, count(*) FILTER (WHERE c.complete = (rc).complete) AS agree
  FROM shilian.incoming_complete(ARRAY(SELECT i.id FROM shilian.inspection i WHERE i.kind = 'incoming')) c,
	LATERAL (SELECT shilian.record_completeness(CASE WHEN i.link_id IS NULL THEN 'first_entry' ELSE 'receipt' END,
		coalesce(i.link_id, i.batch_id)) AS rc FROM shilian.inspection i WHERE i.id = c.id) z;

-- With the counters off (superuser only) a record is not counted ...
SET shilian.activity_counters = off;
SELECT shilian.inspect(:'g1', 'sampling', 'pass', '{"agency": "广西食检院", "report_no": "S-6"}',
	'2026-03-21 09:00+08') > 0 AS ok;
RESET shilian.activity_counters;
SELECT count(*) AS counted_0321 FROM shilian.operator_day WHERE operator_id = :f AND day = '2026-03-21';
-- ... until a rebuild recounts it.
SELECT shilian.operator_day_rebuild() > 0 AS rebuilt;
SELECT records, inspections FROM shilian.operator_day WHERE operator_id = :f AND day = '2026-03-21';
-- Others may not switch the counters off (42501), nor rebuild, nor read them.
SET ROLE shilian_operator;
SET shilian.activity_counters = off;
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.operator_day_rebuild();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM shilian.operator_day;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---- the figures ------------------------------------------------------------------
-- March 2026, by hand ("in J": operators at home there; 10+3 and own-system
-- figures count active operators only).
-- Roll: 450102001 F P W K R (5, all registered and active); 450103001 C
--   (active) and N1 (not registered); 450202001 S (active), X (registered
--   only), N2, N3 (not registered).
-- Active in March: F P W K (450102), M (450103), S (450202); R, C, X not.
-- 10+3 operators: F (vegetables), P (meat), W, K (school canteen), C
--   (central kitchen), S (dairy); not R (other), M (no licence), X (not
--   active). Covered (recorded in March, no March sale to it still pending):
--   F P W K S; C is not (R's and C's sales are pending; R is no 10+3 operator).
-- Own system (active): F, W, C; uploading in March: W (its import); F
--   uploaded in February only.
-- Receipts: W 2 (the meatballs lack a certificate: 1 complete), K 1, S 1,
--   M 1 (all complete).
--           licensed reg act rate  | ops active rate | 10+3 cov rate | own up rate | rcpt compl rate
-- 450102    5   5  5  1.0000       | 5  4  0.8000    | 4  4  1.0000  | 2  1 0.5000 | 3  2  0.6667
-- 450103    2   1  1  0.5000       | 2  1  0.5000    | 1  0  0.0000  | 1  0 0.0000 | 1  1  1.0000
-- 450100    7   6  6  0.8571       | 7  5  0.7143    | 5  4  0.8000  | 3  1 0.3333 | 4  3  0.7500
-- 450200    4   2  1  0.5000       | 1  1  1.0000    | 1  1  1.0000  | 0  0 NULL   | 1  1  1.0000
-- 450000   11   8  7  0.7273       | 8  6  0.7500    | 6  5  0.8333  | 3  1 0.3333 | 5  4  0.8000
-- (ops: the operators active for part of the month; X in 450202001, never
-- activated, is not one of them since 0.3.0)
SELECT * FROM shilian.jurisdiction_stats('450000', '[2026-03-01,2026-03-31]');
SELECT * FROM shilian.jurisdiction_stats('450100', '[2026-03-01,2026-03-31]');
-- February: F alone is active and covered, and uploads (its client).
-- 450102: activity 1/5 = 0.2000, coverage 1/4 = 0.2500, upload 1/2 = 0.5000;
-- 450103: 0/2, 0/1, 0/1; no receipts anywhere (rates NULL).
SELECT jurisdiction, active_operators, activity_rate, key_covered, coverage_rate,
	own_system_uploading, upload_rate, receipts, completeness_rate
  FROM shilian.jurisdiction_stats('450100', '[2026-02-01,2026-02-28]');

-- A period that is not a calendar month is read from operator_day: the
-- first ten days of March. 兴宁: F P W K active (4/5), all four 10+3
-- operators covered, W uploading (1/2), receipts W 2 + K 1 = 3, 2 complete;
-- 青秀: M recorded on 03-12 only: 0/2 active, C not covered, no receipts.
SELECT jurisdiction, active_operators, activity_rate, key_covered, coverage_rate,
	own_system_uploading, upload_rate, receipts, receipts_complete
  FROM shilian.jurisdiction_stats('450100', '[2026-03-01,2026-03-10]');

-- Per segment, for the province in March:
-- production:   roll F P 2/2/2 1.0000; ops F P 2, active 2 1.0000; 10+3 2, covered 2
--               1.0000; own system F 1, uploading 0 0.0000; receipts 0 (NULL).
-- circulation:  roll W N1 S X N2 5, registered W S X 3 0.6000, activated W S 2;
--               ops W M S X 4, active W M S 3 0.7500; 10+3 W S 2, covered 2
--               1.0000; own system W 1, uploading 1 1.0000; receipts W 2 M 1 S 1
--               = 4, complete 3 0.7500.
-- catering:     roll K R C N3 4, registered 3 0.7500, activated 3; ops K R C 3,
--               active K 1 0.3333; 10+3 K C 2, covered K 1 0.5000; own system C
--               1, uploading 0 0.0000; receipts K 1, complete 1 1.0000.
-- special_food: nothing (rates NULL).
SELECT * FROM shilian.segment_stats('450000', '[2026-03-01,2026-03-31]');

-- ---- monthly_report ---------------------------------------------------------------
-- Targets (configurable data): standard for the province, higher for 南宁,
-- a national food-safety demonstration city (its counties inherit both).
INSERT INTO shilian.assessment_target VALUES
	('450000', false, 0.90, 0.80, 0.95, 0.80),
	('450100', true, 0.98, 0.90, 1.00, 0.95);
-- March against February (the figures above). Ranks among siblings, 1 best,
-- none where the value is NULL; change = value - previous (rounded values).
-- 450000 total: registration 0.7273 (Feb the same, change 0, not met: 0.90),
--   activity 0.7500 (0.1250, +0.6250), coverage 0.8333 (0.1667, +0.6666),
--   upload 0.3333 (0.3333, 0): no target met.
-- Cities: registration 南宁 0.8571 #1, 柳州 0.5000 #2; activity 柳州 1.0000
--   (+1.0000) #1, 南宁 0.7143 (+0.5714) #2; coverage 柳州 1.0000 (+1.0000) #1
--   (met: 0.95), 南宁 0.8000 (0.2000, +0.6000) #2; upload 南宁 0.3333 #1, 柳州
--   NULL (no own-system operator: no rank, met NULL).
-- Counties: 兴宁 450102 vs 青秀 450103 in 南宁 (demonstration targets):
--   registration 1.0000 #1 (met 0.98) / 0.5000 #2; activity 0.8000 (0.2000,
--   +0.6000) #1 / 0.5000 (0, +0.5000) #2; coverage 1.0000 (0.2500, +0.7500) #1
--   (met 1.00) / 0.0000 (0, 0) #2; upload 0.5000 (0.5000, 0) #1 / 0.0000 #2.
--   城中 450202 alone in 柳州: #1 everywhere it has a value; coverage and
--   activity (1/1: S, the only operator active there) met.
SELECT jurisdiction, name, level, parent, total, demonstration, figure, value, previous, change, rank, target, met
  FROM shilian.monthly_report_rows('2026-03-15', '450000');
-- The JSON document: the total and each city and county with its four figures.
SELECT jsonb_pretty(shilian.monthly_report('2026-03-01', '450000') - 'cities' - 'counties');
SELECT c->>'jurisdiction' AS city, c->>'demonstration' AS demonstration,
	c->'figures'->'coverage_rate' AS coverage
  FROM jsonb_array_elements(shilian.monthly_report('2026-03-01', '450000')->'cities') c;
SELECT jsonb_array_length(shilian.monthly_report('2026-03-01', '450000')->'counties') AS counties;
-- The CSV form of one county: a header and one line per figure.
SELECT shilian.monthly_report_csv('2026-03-01', '450103');

-- ---- who may ask ------------------------------------------------------------------
-- A regulator of 兴宁 (450102): its own county, not its neighbour 青秀 nor
-- the city (42501); its report has the county's row only.
SET ROLE shilian_regulator;
SELECT set_config('shilian.jurisdiction', '450102', false) IS NOT NULL AS set;
SELECT jurisdiction, total, key_operators, key_covered, coverage_rate, own_system_operators, upload_rate,
	receipts, receipts_complete FROM shilian.jurisdiction_stats('450102', '[2026-03-01,2026-03-31]');
SELECT jsonb_array_length(r->'counties') AS counties, r->'total'->'figures'->'activity_rate'->>'value' AS activity
  FROM shilian.monthly_report('2026-03-01', '450102') r;
SELECT shilian.monthly_report('2026-03-01', '450103');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.monthly_report_csv('2026-03-01', '450100');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shilian.segment_stats('450103', '[2026-03-01,2026-03-31]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shilian.station_figures('450000', '[2026-03-01,2026-03-31]');
\echo :LAST_ERROR_SQLSTATE
-- The counters it reads stop at its border too.
SELECT count(DISTINCT o.station) AS stations FROM shilian.operator_day d JOIN shilian.operator o ON o.id = d.operator_id;
-- It reads the targets, it may not set them.
SELECT count(*) AS targets FROM shilian.assessment_target;
UPDATE shilian.assessment_target SET coverage_rate = 0.5;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- An unknown jurisdiction: SLR19.
SELECT shilian.monthly_report('2026-03-01', '459999');
\echo :LAST_ERROR_SQLSTATE
-- Operators may not ask.
SET ROLE shilian_operator;
SELECT shilian.monthly_report('2026-03-01', '450102');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---- the month cache (part 65) -------------------------------------------------------
-- March has ended: the refresh stores every station's counts, and the
-- figures read them (station_figures) as the live count has them (scan).
SELECT shilian.figures_cache_refresh('2026-03-01') > 0 AS stored;
SELECT count(*) AS cached FROM shilian.figures_cache_station WHERE month = '2026-03-01' AND station LIKE '45%';
CREATE TEMP VIEW cache_vs_scan AS
	(SELECT 'cache' AS side, * FROM shilian.station_figures('450000', '[2026-03-01,2026-03-31]')
	 EXCEPT ALL SELECT 'cache', * FROM shilian.station_figures_scan('450000', '[2026-03-01,2026-03-31]'))
	UNION ALL
	(SELECT 'scan', * FROM shilian.station_figures_scan('450000', '[2026-03-01,2026-03-31]')
	 EXCEPT ALL SELECT 'scan', * FROM shilian.station_figures('450000', '[2026-03-01,2026-03-31]'));
SELECT * FROM cache_vs_scan;
-- Reads never write: in a read-only transaction (a hot standby's) the
-- figures read the cache as it is.
BEGIN TRANSACTION READ ONLY;
SELECT jurisdiction, key_operators, key_covered, active_operators
  FROM shilian.jurisdiction_stats('450000', '[2026-03-01,2026-03-31]') ORDER BY total, jurisdiction;
COMMIT;
-- A registry change at now (after March's end) cannot move March: no mark.
RESET shilian.registry_time;
SELECT shilian.licence_add(:x, 'JY14502020000039', '{fruit}', '2025-01-01', '2029-12-31') IS NOT NULL AS added;
SELECT count(*) AS marks FROM shilian.figures_cache_dirty;
SET shilian.registry_time = '2026-01-01 00:00+08';
-- A late record dated in March: M (no licence) harvests greens (a key
-- category, edible agricultural) on 03-10. M's station is marked for March
-- (the counters) and from March on (the key lot); the figures count it
-- live: M is now a 10+3 operator that recorded in March.
SELECT shilian.batch_create(:m, :greens, '20 kg', '2026-03-10') IS NOT NULL AS made;
SELECT DISTINCT station, month_from, month_to FROM shilian.figures_cache_dirty ORDER BY 1, 2, 3 NULLS LAST;
SELECT jurisdiction, key_operators, key_covered, active_operators
  FROM shilian.jurisdiction_stats('450100', '[2026-03-01,2026-03-31]') ORDER BY total, jurisdiction;
SELECT * FROM cache_vs_scan;
-- A back-dated suspension (registry time 2026-01-01, before March): W's
-- station is marked from January on, and March loses W (兴宁区 450102).
SELECT shilian.operator_suspend(:w, 'late') IS NOT NULL AS suspended;
SELECT DISTINCT station, month_from, month_to FROM shilian.figures_cache_dirty
 WHERE month_to IS NULL ORDER BY 1, 2;
SELECT jurisdiction, operators, key_operators, key_covered, active_operators
  FROM shilian.jurisdiction_stats('450100', '[2026-03-01,2026-03-31]') ORDER BY total, jurisdiction;
SELECT * FROM cache_vs_scan;
-- The refresh consumes the marks and counts the marked stations again.
SELECT shilian.figures_cache_refresh('2026-03-01') > 0 AS stored;
SELECT count(*) AS marks FROM shilian.figures_cache_dirty;
SELECT * FROM cache_vs_scan;
SELECT shilian.operator_activate(:w) IS NOT NULL AS active_again;
-- A month not ended a day ago is refused (SLX04).
DO $$
BEGIN
	PERFORM shilian.figures_cache_refresh(shilian.platform_today());
EXCEPTION WHEN SQLSTATE 'SLX04' THEN
	RAISE WARNING 'refused: %', SQLSTATE;
END
$$;
TRUNCATE shilian.figures_cache, shilian.figures_cache_station, shilian.figures_cache_dirty;

-- The roll is counted whole by regulator.sql: leave none of ours behind.
DELETE FROM shilian.operator_roll WHERE station LIKE '45%';
