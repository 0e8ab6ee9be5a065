-- findings: broken_chain, compliance_findings, spot_check_sample and the
-- alerts (docs/regulator.md, "Findings") on a small province of its own
-- (36xxxx) where every finding is built on purpose and said so in a
-- comment, next to clean operators that must yield none; and who may ask.
-- It runs in a database of its own, dropped at the end: alerts_scan looks at
-- every operator, and the record functions write ledger entries and take
-- ids that the regress files after this one must not see.

SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
DROP DATABASE IF EXISTS shilian_findings;
CREATE DATABASE shilian_findings;
\c shilian_findings
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY default

-- 江西 360000: 南昌 360100 with 东湖 360102 and 西湖 360103, 景德镇 360200
-- with 昌江 360202; one station in each county.
SELECT count(shilian.jurisdiction_add(c, n)) AS added
  FROM (VALUES ('360000', '江西省'), ('360100', '南昌市'), ('360102', '东湖区'),
		('360102001', '东湖区八一市场监管所'), ('360103', '西湖区'), ('360103001', '西湖区朝阳市场监管所'),
		('360200', '景德镇市'), ('360202', '昌江区'), ('360202001', '昌江区新枫市场监管所')) v(c, n);

-- The operators (all activated):
--   东湖 360102001: W wholesaler (USCC 91360102MA0000000M), R retailer,
--                  K school canteen
--   西湖 360103001: F farm, P processor, V wholesaler
--   昌江 360202001: X retailer, E retailer (its licences have expired)
SELECT shilian.operator_register('南昌洪城批发', 'circulation', '{wholesaler}', '360102001', '东湖区1号', '0791-1',
	uscc => '91360102MA0000000M', regulator_contact => '八一所 刘一 0791-9001') AS w \gset
SELECT shilian.operator_register('东湖惠民超市', 'circulation', '{retailer}', '360102001', '东湖区2号', '0791-2',
	reg_card => 'JX-R') AS r \gset
SELECT shilian.operator_register('东湖实验小学食堂', 'catering', '{school_canteen}', '360102001', '东湖区3号', '0791-3',
	reg_card => 'JX-K') AS k \gset
SELECT shilian.operator_register('西湖绿野合作社', 'production', '{farm}', '360103001', '西湖区4号', '0791-4',
	reg_card => 'JX-F') AS f \gset
SELECT shilian.operator_register('西湖赣味食品厂', 'production', '{processor}', '360103001', '西湖区5号', '0791-5',
	reg_card => 'JX-P') AS p \gset
SELECT shilian.operator_register('西湖果蔬批发', 'circulation', '{wholesaler}', '360103001', '西湖区6号', '0791-6',
	reg_card => 'JX-V') AS v \gset
SELECT shilian.operator_register('昌江便民超市', 'circulation', '{retailer}', '360202001', '昌江区7号', '0798-7',
	reg_card => 'JX-X') AS x \gset
SELECT shilian.operator_register('昌江老街小卖部', 'circulation', '{retailer}', '360202001', '昌江区8号', '0798-8',
	reg_card => 'JX-E') AS e \gset
SELECT count(shilian.operator_activate(o)) AS activated FROM unnest(ARRAY[:w, :r, :k, :f, :p, :v, :x, :e]::bigint[]) o;

-- Licences. R's first licence ends on 2026-04-10 and a renewal follows on
-- (no expiry alert); X's only licence ends on 2026-04-15 (an expiry alert on
-- 2026-03-31); E's two licences ended on 2026-02-28 and in 2025.
SELECT count(*) AS licences FROM (
	SELECT shilian.licence_add(:w, 'JY13601020000011', '{vegetables,meat,other}', '2025-01-01', '2029-12-31')
	UNION ALL SELECT shilian.licence_add(:r, 'JY13601020000020', '{vegetables,meat,other}', '2025-01-01', '2026-04-10')
	UNION ALL SELECT shilian.licence_add(:r, 'JY13601020000038', '{vegetables,meat,other}', '2026-04-11', '2031-04-10')
	UNION ALL SELECT shilian.licence_add(:k, 'JY33601020000046', '{vegetables,meat}', '2025-01-01', '2029-12-31')
	UNION ALL SELECT shilian.licence_add(:p, 'SC10436010300015', '{meat,vegetables}', '2025-01-01', '2029-12-31')
	UNION ALL SELECT shilian.licence_add(:v, 'JY13601030000023', '{vegetables,edible_oil}', '2025-01-01', '2029-12-31')
	UNION ALL SELECT shilian.licence_add(:x, 'JY13602020000014', '{vegetables,meat}', '2025-01-01', '2026-04-15')
	UNION ALL SELECT shilian.licence_add(:e, 'JY13602020000022', '{vegetables}', '2024-03-01', '2026-02-28')
	UNION ALL SELECT shilian.licence_add(:e, 'SC12136020200018', '{vegetables}', '2023-01-01', '2025-06-30')) l;

SELECT shilian.product_register('芹菜', 'vegetables', shelf_life_days => 7, spec => '散装',
	edible_agricultural => true) AS celery \gset
SELECT shilian.product_register('辣椒酱', 'other', spec => '500g/瓶') AS sauce \gset
SELECT shilian.product_register('腊肉', 'meat', shelf_life_days => 180, spec => '500g/袋') AS bacon \gset
SELECT shilian.product_register('菜籽油', 'edible_oil', shelf_life_days => 540, spec => '5L/桶') AS oil \gset
\set insp '{"inspector": "检验员"}'
\set farmer '{"name": "胡农", "contact": "13900000009", "address": "新建区"}'

-- ---- the clean chain: F -> W, F -> P -> W -------------------------------------------
-- F harvests celery on 03-01 (with a release certificate) and sells to W and
-- P on 03-02; both receive on 03-03. P makes bacon on 03-03, sells to W on
-- 03-04, W receives on 03-05. F, P: no finding of any kind.
SELECT shilian.batch_create(:f, :celery, '500 kg', '2026-03-01', lot => 'F-0301',
	certificate => '{"certificate_no": "LY-0301"}') AS f_celery \gset
SELECT shilian.ship(:'f_celery', :w, '200 kg', '2026-03-02') AS l_fw \gset
SELECT shilian.ship(:'f_celery', :p, '100 kg', '2026-03-02') AS l_fp \gset
SELECT shilian.receive(:l_fw, '200 kg', :'insp', '2026-03-03 08:00+08') AS w_celery \gset
SELECT shilian.receive(:l_fp, '100 kg', :'insp', '2026-03-03 09:00+08') IS NOT NULL AS received;
SELECT shilian.batch_create(:p, :bacon, '300 kg', '2026-03-03', lot => 'P-0303') AS p_bacon \gset
SELECT shilian.receive(shilian.ship(:'p_bacon', :w, '100 kg', '2026-03-04'), '100 kg', :'insp',
	'2026-03-05 08:00+08') AS w_bacon \gset

-- ---- broken chains -----------------------------------------------------------------
-- (a) unlinked_receipt: R takes celery as a first entry on 03-06 from a
-- "supplier" that names W's USCC, and on 03-07 one that names W's licence:
-- W is on the platform, the goods should have come as W's sale. Two
-- evidence rows for R. A first entry from a farmer (no licence, no USCC)
-- and one naming a malformed licence are no finding (and no error).
SELECT shilian.receive_first_entry(:r, :celery, '20 kg',
	'{"name": "洪城批发", "contact": "0791-1", "uscc": "91360102MA0000000M"}', :'insp',
	'2026-03-05', '2026-03-06 07:00+08') AS r_fe1 \gset
SELECT shilian.receive_first_entry(:r, :celery, '10 kg',
	'{"name": "洪城批发", "contact": "0791-1", "licence": "JY13601020000011"}', :'insp',
	'2026-03-06', '2026-03-07 07:00+08') AS r_fe2 \gset
SELECT shilian.receive_first_entry(:r, :celery, '5 kg', :'farmer', :'insp',
	'2026-03-06', '2026-03-07 06:00+08') IS NOT NULL AS farmer_entry;
SELECT shilian.receive_first_entry(:r, :celery, '5 kg',
	'{"name": "某公司", "contact": "1", "licence": "JY-NOT-A-NUMBER"}', :'insp',
	'2026-03-06', '2026-03-07 06:30+08') IS NOT NULL AS malformed_licence_entry;
-- (b) unreceived_shipment: W sells chilli sauce (category other) to R on
-- 03-02; R never receives it.
SELECT shilian.batch_create(:w, :sauce, '100 pcs', '2026-02-20') AS w_sauce \gset
SELECT shilian.ship(:'w_sauce', :r, '10 pcs', '2026-03-02') AS l_wr_sauce \gset
-- (d) missing_receipt_10_3: W sells celery (a key category) to R on 03-04
-- and to the school canteen K on 03-08 (a 10+3 buyer); neither receives.
-- W sells bacon to K on 03-09 and K rejects it: a refusal is a record, no
-- finding.
SELECT shilian.ship(:'w_celery', :r, '30 kg', '2026-03-04') AS l_wr_celery \gset
SELECT shilian.ship(:'w_celery', :k, '40 kg', '2026-03-08') AS l_wk_celery \gset
SELECT shilian.reject(shilian.ship(:'w_bacon', :k, '10 kg', '2026-03-09'), '温度超标', '2026-03-09 10:00+08');
-- (c) sale_without_source: R, a retailer, "makes" bacon itself on 03-10
-- (batch_create) and sells it to X on 03-11, having never received bacon;
-- X receives it on 03-12. W, a wholesaler, made its chilli sauce itself
-- (above) and sold it to R on 03-02: a sale_without_source of W too.
SELECT shilian.batch_create(:r, :bacon, '50 kg', '2026-03-10') AS r_bacon \gset
SELECT shilian.ship(:'r_bacon', :x, '20 kg', '2026-03-11') AS l_rx \gset
SELECT shilian.receive(:l_rx, '20 kg', :'insp', '2026-03-12 09:00+08') IS NOT NULL AS received;
-- Not a finding: R also sells celery it received (a first entry) to X on
-- 03-11, received the same day.
SELECT shilian.receive(shilian.ship(:'r_fe1', :x, '5 kg', '2026-03-11'), '5 kg', :'insp',
	'2026-03-11 15:00+08') IS NOT NULL AS received;

-- March 2026 in 南昌 (360100), by hand:
--   R (东湖): unlinked_receipt 2 (03-06 by USCC, 03-07 by licence);
--             unreceived_shipment 1 (sauce, 03-02);
--             missing_receipt_10_3 1 (celery, 03-04);
--             sale_without_source 1 (bacon to X, 03-11)
--   K (东湖): missing_receipt_10_3 1 (celery, 03-08; the rejected bacon is none)
--   W (东湖): sale_without_source 1 (its own sauce to R, 03-02)
--   F, P, V (西湖): none
SELECT name, station, kind, records, first_on, last_on
  FROM shilian.broken_chain('360100', '[2026-03-01,2026-03-31]');
-- The evidence: link ids, trace codes, dates.
SELECT kind, jsonb_array_length(evidence) AS rows,
	evidence->0->>'link' = :'l_wr_sauce' AS sauce_link,
	evidence->0->>'shipped_on' AS shipped_on, evidence->0->>'seller_name' AS seller,
	evidence->0->>'category' AS category
  FROM shilian.broken_chain('360102', '[2026-03-01,2026-03-31]')
 WHERE operator = :r AND kind IN ('unreceived_shipment', 'missing_receipt_10_3');
SELECT evidence->0->>'trace_code' = :'r_fe1' AS first_code, evidence->0->>'supplier_uscc' AS uscc,
	evidence->0->>'supplier' = :'w' AS supplier_is_w, evidence->1->>'trace_code' = :'r_fe2' AS second_code,
	evidence->1->>'supplier_licence' AS licence, evidence->1->>'received_on' AS received_on
  FROM shilian.broken_chain('360102', '[2026-03-01,2026-03-31]')
 WHERE operator = :r AND kind = 'unlinked_receipt';
SELECT evidence->0->>'link' = :'l_rx' AS link, evidence->0->>'trace_code' = :'r_bacon' AS code,
	evidence->0->>'buyer' = :'x' AS buyer
  FROM shilian.broken_chain('360102', '[2026-03-01,2026-03-31]')
 WHERE operator = :r AND kind = 'sale_without_source';
-- The period bounds the evidence dates: 03-05 .. 03-08 keeps R's two first
-- entries, R's celery (03-04) drops out, K's (03-08) stays.
SELECT name, kind, records FROM shilian.broken_chain('360102', '[2026-03-05,2026-03-08]');
-- The grace: a sale of sauce to K shipped yesterday is pending for 1 day:
-- not yet a finding with 3 days' grace, one with none.
SELECT shilian.ship(:'w_sauce', :k, '1 pcs', current_date - 1) IS NOT NULL AS shipped;
SELECT records FROM shilian.broken_chain('360102', '(,)') WHERE operator = :k;
SELECT records FROM shilian.broken_chain('360102', '(,)', 0) WHERE operator = :k;
-- 昌江 has no break (X received both sales; E below has only compliance findings).
SELECT count(*) AS findings FROM shilian.broken_chain('360202', '(,)');
-- A negative grace: 22023.
SELECT * FROM shilian.broken_chain('360102', '(,)', -1);
\echo :LAST_ERROR_SQLSTATE

-- ---- compliance -------------------------------------------------------------------------
-- expired_licence_trading: E's licences all ended by 2026-02-28; E receives
-- celery as first entries on 03-05 and 03-20 (the receipt functions do not
-- check the buyer's licence): two records after its last valid day.
SELECT shilian.receive_first_entry(:e, :celery, '3 kg', :'farmer', :'insp', '2026-03-05',
	'2026-03-05 07:00+08') IS NOT NULL AS received;
SELECT shilian.receive_first_entry(:e, :celery, '3 kg', :'farmer', :'insp', '2026-03-20',
	'2026-03-20 07:00+08') IS NOT NULL AS received;
-- wholesaler_without_sales_records: V, a wholesaler, receives celery on
-- 03-06 and oil on 03-07 (first entries) and records no sale in March.
-- (W is a wholesaler with sales: none.)
SELECT shilian.receive_first_entry(:v, :celery, '80 kg', :'farmer', :'insp', '2026-03-06',
	'2026-03-06 05:00+08') AS v_celery \gset
SELECT shilian.receive_first_entry(:v, :oil, '20 L', '{"name": "某油坊", "contact": "2"}', :'insp',
	'2026-02-01', '2026-03-07 05:00+08') AS v_oil \gset
-- missing_incoming_inspection and expired_product_receipt: a receipt or first entry
-- recorded without its incoming inspection (receive() and receive_first_entry() may leave it out, records.sql)
-- and the record functions refuse expired goods (SLR08) ...
SELECT shilian.receive_first_entry(:k, :celery, '2 kg', :'farmer', :'insp', '2026-03-01', '2026-03-15 07:00+08');
\echo :LAST_ERROR_SQLSTATE
-- ... so these two receipts of K were loaded around them (a DBA's legacy
-- import straight into the tables), which is what the check is for: celery
-- taken on 03-10 with no incoming inspection at all, and celery that expired
-- on 03-08 taken on 03-15 with its inspection.
INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, expires_on, origin,
		supplier, created_at)
VALUES (shilian.trace_code_next('360102'), :k, :celery, '6 kg', '6 kg', '2026-03-09', '2026-03-16', 'first_entry',
		'{"name": "旧系统导入", "contact": "-"}', '2026-03-10 12:00+08')
RETURNING trace_code AS k_legacy \gset
WITH nb AS (
	INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, expires_on, origin,
			supplier, created_at)
	VALUES (shilian.trace_code_next('360102'), :k, :celery, '4 kg', '4 kg', '2026-03-01', '2026-03-08', 'first_entry',
			'{"name": "旧系统导入", "contact": "-"}', '2026-03-15 12:00+08')
	RETURNING id, trace_code)
INSERT INTO shilian.inspection (batch_id, operator_id, kind, result, report, inspected_at)
SELECT nb.id, :k, 'incoming', 'pass', :'insp', '2026-03-15 10:00+08' FROM nb
RETURNING (SELECT trace_code FROM nb) AS k_expired \gset

-- March 2026, the province, by hand:
--   K (东湖): missing_incoming_inspection 1 (03-10); expired_product_receipt 1
--             (03-15, expired 03-08)
--   V (西湖): wholesaler_without_sales_records 2 (03-06, 03-07)
--   E (昌江): expired_licence_trading 2 (03-05, 03-20; valid to 02-28)
--   W (a wholesaler that sells), R, F, P, X: none
SELECT name, kind, article, serious, records, first_on, last_on
  FROM shilian.compliance_findings('360000', '[2026-03-01,2026-03-31]');
SELECT kind, evidence->0->>'trace_code' = :'k_legacy' AS legacy, evidence->0->>'trace_code' = :'k_expired' AS expired,
	evidence->0->>'received_on' AS received_on, evidence->0->>'expires_on' AS expires_on
  FROM shilian.compliance_findings('360102') WHERE operator = :k;
SELECT evidence->0->>'record' AS record, evidence->0->>'on' AS on_date,
	evidence->0->>'licence_valid_to' AS valid_to
  FROM shilian.compliance_findings('360202') WHERE operator = :e;
-- Serious (implementing regulations art. 67(1)(1)): a violation lasting three
-- months or more. E receives again on 06-25 (first entry 03-05 .. 06-25).
SELECT shilian.receive_first_entry(:e, :celery, '3 kg', :'farmer', :'insp', '2026-06-25',
	'2026-06-25 07:00+08') IS NOT NULL AS received;
SELECT kind, article, serious, records, first_on, last_on FROM shilian.compliance_findings('360202');

-- ---- spot check ----------------------------------------------------------------------
-- 西湖 (360103), 2026Q1, n = 10 >= its 3 operators: everyone, one stratum
-- per segment at the station. The fixtures backdate created_at (the record
-- functions stamp now()) as if these records had been uploaded in March:
--   F: its batch (03-01) written 03-01 (timely), its sale to W (03-02)
--      written 03-02 (timely), to P (03-02) written 03-05 (late): 2 of 3.
--      Completeness: 2 sales, both complete (certificate LY-0301): 1.0000.
--   P: batch 03-03, sale 03-04, receipt 03-03, all written today: 0 of 3.
--      Completeness: the receipt of celery (edible agricultural: complete),
--      the bacon sale (no certificate_no): 1 of 2 = 0.5000.
--   V: receipts 03-06 (written 03-07: timely) and 03-07 (written today):
--      1 of 2. Completeness: celery from the farmer (complete), oil (not
--      agricultural: no supplier address, licence, certificate): 0.5000.
--      Findings: wholesaler_without_sales_records 2.
UPDATE shilian.batch SET created_at = '2026-03-01 18:00+08' WHERE trace_code = :'f_celery';
UPDATE shilian.link SET created_at = '2026-03-02 10:00+08' WHERE id = :l_fw;
UPDATE shilian.link SET created_at = '2026-03-05 10:00+08' WHERE id = :l_fp;
UPDATE shilian.batch SET created_at = '2026-03-07 23:00+08' WHERE trace_code = :'v_celery';
SELECT name, segment, stratum, stratum_size, stratum_sample, records, timely, timeliness,
	checked, complete, completeness, findings
  FROM shilian.spot_check_sample('360103', '2026Q1', 10, 1);
-- The province, n = 4 of 8 operators (strata city x segment):
--   南昌 circulation 3 (W, R, V): 4*3/8 = 1.5; 南昌 catering 1 (K): 0.5;
--   南昌 production 2 (F, P): 1.0; 景德镇 circulation 2 (X, E): 1.0.
--   Floors 1 + 0 + 1 + 1 = 3; the 4th seat goes to the largest remainder,
--   0.5 for both 南昌 strata, tie broken by segment: catering. So 1 each.
SELECT stratum, segment, stratum_size, stratum_sample, count(*) AS drawn
  FROM shilian.spot_check_sample('360000', '2026Q1', 4, 1)
 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2;
-- Same seed, same sample; over seeds 1..20 the draws differ.
SELECT (SELECT array_agg(operator ORDER BY operator) FROM shilian.spot_check_sample('360000', '2026Q1', 4, 7))
	 = (SELECT array_agg(operator ORDER BY operator) FROM shilian.spot_check_sample('360000', '2026Q1', 4, 7))
	AS same_seed_same_sample;
SELECT count(DISTINCT s) > 1 AS seeds_differ
  FROM generate_series(1, 20) seed,
	LATERAL (SELECT array_agg(operator ORDER BY operator) AS s
			   FROM shilian.spot_check_sample('360000', '2026Q1', 4, seed)) x;
-- n = 0: nobody; a malformed quarter or a negative n: 22023.
SELECT count(*) AS drawn FROM shilian.spot_check_sample('360000', '2026Q1', 0, 1);
SELECT * FROM shilian.spot_check_sample('360000', '2026Q5', 4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shilian.spot_check_sample('360000', '2026Q1', -1, 1);
\echo :LAST_ERROR_SQLSTATE

-- ---- alerts -------------------------------------------------------------------------------
-- As of 2026-03-31 (window 03-02 .. 03-31, grace 3 days):
--   licence_expiring: X's licence (valid to 04-15, 15 days left); R's ends
--     04-10 but its renewal follows on: none for R; E's ended already.
--   broken_chain: R 4 kinds, K missing_receipt_10_3 (03-08; yesterday's sale
--     is in no window of March), W sale_without_source.
--   compliance: K 2, V 1, E 1 (E: 03-05 and 03-20 in the window).
--   inactive_30d: none (everyone was activated today, after 2026-03-01).
SELECT shilian.alerts_scan('2026-03-31') IS NOT NULL AS scanned;
SELECT a.kind, o.name, a.jurisdiction, a.subject, a.detail->>'days_left' AS days_left,
	a.detail->>'records' AS records
  FROM shilian.alert a JOIN shilian.operator o ON o.id = a.operator_id
 WHERE a.jurisdiction LIKE '36%' ORDER BY a.kind, o.id, a.subject;
-- A second scan raises nothing new: the open alerts are not duplicated.
SELECT count(*) AS before FROM shilian.alert WHERE jurisdiction LIKE '36%' \gset
SELECT shilian.alerts_scan('2026-03-31') IS NOT NULL AS scanned;
SELECT count(*) - :before AS new_in_36 FROM shilian.alert WHERE jurisdiction LIKE '36%';
-- 40 days from now every operator of the province (activated today) has
-- recorded nothing in the last 30 days: eight inactive_30d alerts.
SELECT shilian.alerts_scan(current_date + 40) IS NOT NULL AS scanned;
SELECT count(*) AS inactive FROM shilian.alert WHERE jurisdiction LIKE '36%' AND kind = 'inactive_30d';

-- ---- who may ask ----------------------------------------------------------------------
-- A regulator of 东湖 (360102): its county's findings and alerts only.
SELECT id AS x_alert FROM shilian.alert WHERE kind = 'licence_expiring' AND operator_id = :x \gset
SELECT id AS k_alert FROM shilian.alert WHERE kind = 'broken_chain' AND operator_id = :k \gset
SET ROLE shilian_regulator;
SELECT set_config('shilian.jurisdiction', '360102', false) IS NOT NULL AS set;
SELECT name, kind, records FROM shilian.broken_chain('360102', '[2026-03-01,2026-03-31]') ORDER BY name, kind;
SELECT count(*) AS findings FROM shilian.compliance_findings('360102001');
-- Its city, the neighbouring county and another city: 42501 for each function.
SELECT * FROM shilian.broken_chain('360100', '[2026-03-01,2026-03-31]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shilian.compliance_findings('360103');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shilian.spot_check_sample('360202', '2026Q1', 4, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shilian.alerts('360100');
\echo :LAST_ERROR_SQLSTATE
-- An unknown jurisdiction: SLR19.
SELECT * FROM shilian.broken_chain('369999', '(,)');
\echo :LAST_ERROR_SQLSTATE
-- The alert table shows it only its subtree's alerts, as alerts() does.
SELECT count(*) FILTER (WHERE jurisdiction <> '360102001') AS foreign_rows, count(*) > 0 AS some
  FROM shilian.alert;
SELECT count(*) = (SELECT count(*) FROM shilian.alert WHERE acknowledged_at IS NULL) AS same
  FROM shilian.alerts('360102');
-- Acknowledging: K's alert (its county) once; a second time SLF02; X's
-- alert (昌江) 42501; an unknown alert SLF01.
SELECT shilian.alert_ack(:k_alert) IS NOT NULL AS acknowledged;
SELECT acknowledged_by FROM shilian.alert WHERE id = :k_alert;
SELECT shilian.alert_ack(:k_alert);
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.alert_ack(:x_alert);
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.alert_ack(-1);
\echo :LAST_ERROR_SQLSTATE
-- The acknowledged alert leaves the open list, and shows when asked.
SELECT count(*) AS open_k FROM shilian.alerts('360102') WHERE id = :k_alert;
SELECT count(*) AS all_k FROM shilian.alerts('360102', true) WHERE id = :k_alert;
RESET ROLE;
-- The condition still holds: the next scan raises it again (a new alert).
SELECT shilian.alerts_scan('2026-03-31') IS NOT NULL AS scanned;
SELECT count(*) AS k_broken_chain_alerts, count(*) FILTER (WHERE acknowledged_at IS NULL) AS open
  FROM shilian.alert WHERE kind = 'broken_chain' AND operator_id = :k;
-- An operator sees its own alerts only and may not call the findings.
SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', :'x', false) IS NOT NULL AS set;
SELECT kind, subject FROM shilian.alert ORDER BY id;
SELECT * FROM shilian.broken_chain('360202', '(,)');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.alerts_scan();
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('shilian.operator_id', '', false) IS NOT NULL AS reset;
RESET ROLE;

-- ---- receipt_exception: kept as the records are written and corrected -----------
-- compliance_findings reads the receipts without their incoming inspection
-- and those of expired lots from receipt_exception, which triggers keep. At
-- every step below the table equals a recount by the rule over every
-- receipt (receipt_exceptions over all links and batches).
CREATE TEMP VIEW rx_disagree AS
	SELECT count(*) AS rows_off FROM (
		(SELECT * FROM shilian.receipt_exception
		 EXCEPT ALL SELECT * FROM shilian.receipt_exceptions(ARRAY(SELECT id FROM shilian.link),
																ARRAY(SELECT id FROM shilian.batch)))
		UNION ALL
		(SELECT * FROM shilian.receipt_exceptions(ARRAY(SELECT id FROM shilian.link), ARRAY(SELECT id FROM shilian.batch))
		 EXCEPT ALL SELECT * FROM shilian.receipt_exception)) d;
SELECT (SELECT count(*) FROM shilian.receipt_exception) AS kept, rows_off FROM rx_disagree;
-- K's two legacy first entries are there: one uninspected, one of a lot
-- expired on 03-08.
SELECT b.trace_code = :'k_legacy' AS legacy, e.uninspected, e.expires_on, e.received_on
  FROM shilian.receipt_exception e JOIN shilian.batch b ON b.id = e.batch_id
 WHERE e.operator_id = :k ORDER BY e.received_on;
-- A sale received without its inspection (receive() allows it) is kept at
-- once, dated by its receipt in China time (01:30 UTC on 03-21 is 09:30).
SELECT shilian.ship(:'w_sauce', :k, '2 pcs', '2026-03-20') AS l_wk2 \gset
SELECT shilian.receive(:l_wk2, '2 pcs', NULL, '2026-03-21 01:30+00') IS NOT NULL AS received;
SELECT uninspected, expires_on, received_on FROM shilian.receipt_exception WHERE link_id = :l_wk2;
SELECT kind, records, first_on FROM shilian.compliance_findings('360102', '[2026-03-21,2026-03-21]');
SELECT rows_off FROM rx_disagree;
-- Its retraction (the seller takes the whole receipt back) removes it.
SELECT shilian.retract('link', :l_wk2, 'wrong buyer') IS NOT NULL AS retracted;
SELECT count(*) AS kept FROM shilian.receipt_exception WHERE link_id = :l_wk2;
SELECT count(*) AS findings FROM shilian.compliance_findings('360102', '[2026-03-21,2026-03-21]');
-- A sale received with its inspection is not kept.
SELECT shilian.ship(:'w_sauce', :k, '1 pcs', '2026-03-22') AS l_wk3 \gset
SELECT shilian.receive(:l_wk3, '1 pcs', :'insp', '2026-03-22 10:00+08') IS NOT NULL AS received;
SELECT count(*) AS kept FROM shilian.receipt_exception WHERE link_id = :l_wk3;
-- A later incoming inspection of K's uninspected first entry clears it; a
-- corrected expiry (after the receipt) clears the other.
SELECT shilian.inspect(:'k_legacy', 'incoming', 'pass', :'insp', '2026-03-11 09:00+08', :k) IS NOT NULL AS inspected;
UPDATE shilian.batch SET expires_on = '2026-03-20' WHERE trace_code = :'k_expired';
SELECT count(*) AS kept FROM shilian.receipt_exception WHERE operator_id = :k;
SELECT count(*) AS findings FROM shilian.compliance_findings('360102', '[2026-03-01,2026-03-31]')
 WHERE operator = :k AND kind IN ('missing_incoming_inspection', 'expired_product_receipt');
-- ... and an expiry corrected back before it keeps it again.
UPDATE shilian.batch SET expires_on = '2026-03-08' WHERE trace_code = :'k_expired';
SELECT expires_on FROM shilian.receipt_exception WHERE operator_id = :k;
SELECT rows_off FROM rx_disagree;

\c :regress_db
DROP DATABASE shilian_findings;
