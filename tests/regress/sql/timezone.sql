-- timezone: one platform time zone. Every date derived from a timestamp is
-- the day in shilian.timezone (Asia/Shanghai by default), whatever the
-- session's TimeZone: records made at 23:30 and 00:30 China time from a UTC
-- session and from a New York session land on their Chinese days in the
-- ledger, the counters (operator_day, operator_month across a month end),
-- the rebuilt counters, the FSMA recall export and
-- EPCIS capture. Fixed dates in the past only.
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE shilian_timezone_test;
\c shilian_timezone_test
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
-- Registry changes in this file take effect on 2026-01-01 (the admin's dated
-- entry, shilian.registry_time): the figures of a month read the registry as
-- it stood at the month's end (docs/regulator.md), and the records are of 2026.
SET shilian.registry_time = '2026-01-01 00:00+08';
\set VERBOSITY default

-- the function every derivation goes through
SET timezone = 'UTC';
SHOW shilian.timezone;
SELECT platform_date('2026-03-10 15:30+00') AS at_2330_china, platform_date('2026-03-10 16:30+00') AS at_0030_china,
       '2026-03-10 16:30+00'::timestamptz::date AS session_date;
SELECT platform_today() - (now() AT TIME ZONE 'Asia/Shanghai')::date AS today_is_china_today;
SELECT platform_date('infinity') AS inf, platform_date('-infinity') AS ninf;
-- superusers may move the platform (per database or server), not a request
SET shilian.timezone = 'UTC';
SELECT platform_date('2026-03-10 16:30+00') AS in_utc;
SET shilian.timezone = 'Mars/Olympus';
RESET shilian.timezone;
SET ROLE shilian_operator;
SET shilian.timezone = 'UTC';
RESET ROLE;
SELECT platform_date('2026-03-10 16:30+00') AS back_to_china;

-- a small province of its own
SELECT count(*) AS added FROM (VALUES ('460000', '海南省'), ('460100', '海口市'), ('460105', '秀英区'),
	('460105001', '秀英区市场监管所')) v(c, n), LATERAL shilian.jurisdiction_add(c, n);
SELECT shilian.operator_register('秀英农场', 'production', '{farm}', '460105001', '海口', '1', reg_card => 'TZ-1') AS farm \gset
SELECT shilian.operator_register('秀英批发', 'circulation', '{wholesaler}', '460105001', '海口', '2', reg_card => 'TZ-2') AS wh \gset
SELECT count(shilian.operator_activate(o)) AS activated FROM unnest(ARRAY[:farm, :wh]::bigint[]) o;
SELECT shilian.licence_add(:wh, 'JY14601050000011', '{vegetables}', '2020-01-01', '2099-12-31') > 0 AS licensed;
SELECT shilian.product_register('空心菜', 'vegetables', 30, '散装', edible_agricultural => true) AS veg \gset

-- From a UTC session: 2026-03-10 23:30 and 2026-03-11 00:30 China time are
-- both 2026-03-10 in UTC; the second is the 11th on the platform.
SET timezone = 'UTC';
SELECT shilian.batch_create(:farm, :veg, '1 t', '2026-03-10', 'TZ-A')::text AS a \gset
SELECT shilian.inspect(:'a', 'sampling', 'pass', '{"agency": "海口检测", "report_no": "TZ-1"}',
	'2026-03-10 15:30+00') AS insp_2330 \gset
SELECT shilian.inspect(:'a', 'sampling', 'pass', '{"agency": "海口检测", "report_no": "TZ-2"}',
	'2026-03-10 16:30+00') AS insp_0030 \gset
SELECT shilian.ship(:'a', :wh, '100 kg', '2026-03-11') AS l1 \gset
-- received at 00:30 on the 11th China time (the 10th in UTC): not before the ship date
SELECT shilian.receive(:l1, '100 kg', '{"inspector": "李四"}', '2026-03-10 16:30+00')::text AS w \gset
SELECT shilian.ship(:'a', :wh, '50 kg', '2026-03-11') AS l2 \gset
SELECT shilian.reject(:l2, '不新鲜', '2026-03-10 16:45+00');
-- the month end: 2026-03-31 23:30 and 2026-04-01 00:30 China time (both March in UTC)
SELECT shilian.consume(:'w', '1 kg', 'retail_sold', '2026-03-31 15:30+00') > 0 AS sold_march;
SELECT shilian.consume(:'w', '1 kg', 'retail_sold', '2026-03-31 16:30+00') > 0 AS sold_april;

-- From a New York session (12 or 13 hours behind China): 2026-04-01 00:30 China
-- time is still March 31 in New York; 2026-04-02 23:30 China is the 2nd there too.
SET timezone = 'America/New_York';
SELECT shilian.consume(:'w', '1 kg', 'retail_sold', '2026-04-01 00:30+08') > 0 AS sold_april_ny;
SELECT shilian.consume(:'w', '2 kg', 'destroyed', '2026-04-02 23:30+08') > 0 AS destroyed_ny;
SELECT shilian.inspect(:'w', 'sampling', 'pass', '{"agency": "海口检测", "report_no": "TZ-3"}',
	'2026-04-01 00:30+08') AS insp_ny \gset

-- the ledger's event dates (on_date), read from a third zone
SET timezone = 'Pacific/Honolulu';
SELECT kind, on_date FROM shilian.ledger WHERE operator_id IN (:farm, :wh)
   AND kind IN ('inspect', 'receive', 'reject', 'consume') ORDER BY id;
-- the counters: per operator and Chinese day, and per Chinese month
SELECT o.name, d.day, d.records, d.batches, d.inspections, d.shipments, d.receipts, d.rejections, d.consumptions
  FROM shilian.operator_day d JOIN shilian.operator o ON o.id = d.operator_id
 WHERE d.operator_id IN (:farm, :wh) ORDER BY o.name, d.day;
SELECT o.name, m.month, m.records, m.receipts FROM shilian.operator_month m JOIN shilian.operator o ON o.id = m.operator_id
 WHERE m.operator_id IN (:farm, :wh) ORDER BY o.name, m.month;
-- the figures: the station rollup's months, and the regulator's monthly
-- figures of March and of April read from this session (the wholesaler was
-- active in both; its receipt was in March)
SELECT month, segment, active_operators, receipts FROM shilian.station_month
 WHERE station = '460105001' ORDER BY month, segment;
SELECT lower(p) AS month_from, s.active_operators, s.receipts
  FROM (VALUES (daterange('2026-03-01', '2026-04-01')), (daterange('2026-04-01', '2026-05-01'))) v(p),
	LATERAL shilian.jurisdiction_stats('460105', p) s WHERE s.total ORDER BY 1;
-- the counters rebuilt from the record tables in yet another session zone are the same
CREATE TEMP TABLE live AS SELECT * FROM shilian.operator_day WHERE operator_id IN (:farm, :wh);
CREATE TEMP TABLE live_month AS SELECT * FROM shilian.operator_month WHERE operator_id IN (:farm, :wh);
SET timezone = 'America/Los_Angeles';
SELECT shilian.operator_day_rebuild() > 0 AS rebuilt;
SELECT count(*) AS differing_days FROM (
	(SELECT * FROM live EXCEPT SELECT * FROM shilian.operator_day WHERE operator_id IN (:farm, :wh))
	UNION ALL
	(SELECT * FROM shilian.operator_day WHERE operator_id IN (:farm, :wh) EXCEPT SELECT * FROM live)) x;
SELECT count(*) AS differing_months FROM (
	(SELECT * FROM live_month EXCEPT SELECT * FROM shilian.operator_month WHERE operator_id IN (:farm, :wh))
	UNION ALL
	(SELECT * FROM shilian.operator_month WHERE operator_id IN (:farm, :wh) EXCEPT SELECT * FROM live_month)) x;

-- the FSMA recall export from a UTC session: the wholesaler's lot was
-- received on the 11th (China), the day it was shipped, not the day before
SET timezone = 'UTC';
SELECT set_config('shilian.jurisdiction', '460000', false) IS NOT NULL AS regulator;
SELECT shilian.recall_open(:'a', '时区测试') AS rid \gset
SELECT split_part(line, ',', 1) = :'w' AS wholesaler_lot, split_part(line, ',', 8) AS date_received
  FROM regexp_split_to_table(shilian.recall_export(:rid), E'\r\n') WITH ORDINALITY t(line, n)
 WHERE line LIKE :'w' || ',%';
SELECT split_part(line, ',', 9) AS date_shipped
  FROM regexp_split_to_table(shilian.recall_export(:rid), E'\r\n') t(line) WHERE line LIKE :'a' || ',%';
SELECT set_config('shilian.jurisdiction', '', false) IS NOT NULL AS reset;

-- EPCIS: a commissioning event at 00:30 China time (eventTime in UTC) makes
-- a batch produced on the Chinese day
SELECT shilian.product_register('番茄', 'vegetables', 15, '散装', gtin => '6970000000017', edible_agricultural => true) > 0 AS gtin_product;
SELECT jsonb_build_object('@context', '["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]'::jsonb,
	'type', 'EPCISDocument', 'schemaVersion', '2.0', 'creationDate', '2026-03-11T00:00:00Z',
	'epcisBody', jsonb_build_object('eventList', jsonb_build_array(jsonb_build_object(
		'eventID', 'urn:uuid:0e0c3c1a-0000-4000-8000-00000000a001', 'type', 'ObjectEvent', 'action', 'ADD',
		'bizStep', 'commissioning', 'disposition', 'active',
		'eventTime', '2026-03-10T16:30:00Z', 'eventTimeZoneOffset', '+00:00',
		'bizLocation', jsonb_build_object('id', 'urn:shilian:operator:' || :farm),
		'quantityList', jsonb_build_array(jsonb_build_object(
			'epcClass', 'urn:epc:class:lgtin:6970000.000001.TZ-E', 'quantity', 10, 'uom', 'KGM')))))) AS doc \gset
SELECT shilian.epcis_capture(:'doc') IS NOT NULL AS captured;
SELECT b.lot, b.produced_on FROM shilian.batch b WHERE b.lot = 'TZ-E';

\c :regress_db
DROP DATABASE shilian_timezone_test;
