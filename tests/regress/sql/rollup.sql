-- rollup: the per-station rollups of the regulator figures (roll_station,
-- operator_station, station_month; docs/regulator.md, "Rollups") equal a
-- recount from the roll, licences, operators and counters after mixed
-- records, savepoints, aborted transactions, suspensions, new licences, roll
-- reloads and a counter rebuild; and the figures read from them for a
-- calendar month (station_figures_month) equal the figures counted from the
-- operators (station_figures_scan), for the admin and under a regulator's
-- row-level security.

SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
-- Registry changes in this file take effect on 2026-01-01 (the admin's dated
-- entry, shilian.registry_time): the figures of a month read the registry as
-- it stood at the month's end (docs/regulator.md), and the records are of 2026.
SET shilian.registry_time = '2026-01-01 00:00+08';

-- Rows of the rollups that differ from a recount (all-zero rows left by the
-- flush's additions count as absent). Recounts in a rolled-back
-- subtransaction, so the rollups stay as the triggers kept them.
CREATE FUNCTION pg_temp.rollup_diff() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	CREATE TEMP TABLE kept_roll ON COMMIT DROP AS SELECT * FROM shilian.roll_station;
	CREATE TEMP TABLE kept_ops ON COMMIT DROP AS SELECT * FROM shilian.operator_station;
	CREATE TEMP TABLE kept_month ON COMMIT DROP AS SELECT * FROM shilian.station_month
	 WHERE (active_operators, key_recorded, own_system_uploading, receipts, receipts_complete) <> (0, 0, 0, 0, 0);
	BEGIN
		PERFORM shilian.rollup_rebuild();
		SELECT (SELECT count(*) FROM ((TABLE kept_roll EXCEPT ALL TABLE shilian.roll_station)
				UNION ALL (TABLE shilian.roll_station EXCEPT ALL TABLE kept_roll)) d)
			+ (SELECT count(*) FROM ((TABLE kept_ops EXCEPT ALL TABLE shilian.operator_station)
				UNION ALL (TABLE shilian.operator_station EXCEPT ALL TABLE kept_ops)) d)
			+ (SELECT count(*) FROM ((TABLE kept_month EXCEPT ALL TABLE shilian.station_month)
				UNION ALL (TABLE shilian.station_month EXCEPT ALL TABLE kept_month)) d)
		  INTO n;
		RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'undo', DETAIL = n::text;
	EXCEPTION WHEN raise_exception THEN
		GET STACKED DIAGNOSTICS n = PG_EXCEPTION_DETAIL;
	END;
	DROP TABLE kept_roll, kept_ops, kept_month;
	RETURN n;
END $$;
-- Rows where the month's figures from the rollups and from the operators differ.
-- Since 0.3.0 the figures are counted as of the month's end from the
-- registry's history (station_figures_scan) and count only the operators
-- active for part of the month, while the rollups hold the registry as it
-- is now: the columns both define alike are compared, the roll's (every
-- change of this file takes effect on 2026-01-01, before the months asked,
-- and every licence is valid through them) and the receipts.
CREATE FUNCTION pg_temp.figures_diff(code text, month date) RETURNS bigint LANGUAGE sql AS $$
	WITH a AS (SELECT station, segment, licensed, registered, activated, receipts, receipts_complete
				 FROM shilian.station_figures_month(code, month)),
		b AS (SELECT station, segment, licensed, registered, activated, receipts, receipts_complete
				FROM shilian.station_figures_scan(code,
				daterange(month, (month + interval '1 month')::date)))
	SELECT count(*) FROM ((TABLE a EXCEPT ALL TABLE b) UNION ALL (TABLE b EXCEPT ALL TABLE a)) d
$$;

SELECT count(*) AS added FROM (VALUES ('460000', '海南省'), ('460100', '海口市'),
	('460105', '秀英区'), ('460105001', '秀英所'), ('460106', '龙华区'), ('460106001', '龙华所'),
	('460106002', '龙华二所')) v(c, n), LATERAL shilian.jurisdiction_add(c, n);

-- A farm with its own system and a processor in 秀英; a school canteen, a
-- retailer and a restaurant (own system) in 龙华.
SELECT shilian.operator_register('秀英农场', 'production', '{farm}', '460105001', '秀英1号', '0898-1',
	reg_card => 'HN-A', own_system => true) AS a \gset
SELECT shilian.operator_register('秀英食品厂', 'production', '{processor}', '460105001', '秀英2号', '0898-2',
	reg_card => 'HN-B') AS b \gset
SELECT shilian.operator_register('龙华一小食堂', 'catering', '{school_canteen}', '460106001', '龙华3号', '0898-3',
	reg_card => 'HN-C') AS c \gset
SELECT shilian.operator_register('龙华超市', 'circulation', '{retailer}', '460106002', '龙华4号', '0898-4',
	reg_card => 'HN-D') AS d \gset
SELECT shilian.operator_register('龙华饭店', 'catering', '{restaurant}', '460106001', '龙华5号', '0898-5',
	reg_card => 'HN-E', own_system => true) AS e \gset
SELECT count(*) AS activated FROM unnest(ARRAY[:a, :b, :c, :d, :e]::bigint[]) o, LATERAL shilian.operator_activate(o);
SELECT count(*) AS licences FROM (VALUES
	(:a, 'SC14601050000011', '{vegetables}'), (:b, 'SC14601050000020', '{meat}'),
	(:c, 'JY34601060000016', '{other}'), (:d, 'JY14601060000024', '{other}'),
	(:e, 'JY24601060000032', '{other}')) v(o, l, sc),
	LATERAL shilian.licence_add(o, l::licence_no, sc::text[], '2025-01-01', '2029-12-31');
-- The roll: 龙华's retailer licence is on 秀英's roll (its holder moved), and
-- one licence is not on the platform.
INSERT INTO shilian.operator_roll (licence_no, name, station, segment, kinds) VALUES
	('SC14601050000011', 'A', '460105001', 'production', '{farm}'),
	('SC14601050000020', 'B', '460105001', 'production', '{processor}'),
	('JY14601060000024', 'D', '460105001', 'circulation', '{retailer}'),
	('JY34601060000016', 'C', '460106001', 'catering', '{school_canteen}'),
	('JY24601060000032', 'E', '460106001', 'catering', '{restaurant}'),
	('JY14601060000040', 'N', '460106002', 'circulation', '{retailer}');
SELECT pg_temp.rollup_diff() AS diff;
SELECT station, segment, holder_station, licensed, registered, activated FROM shilian.roll_station WHERE station LIKE '46%' ORDER BY 1, 2, 3;

SELECT shilian.product_register('青菜', 'vegetables', shelf_life_days => 10, spec => '散装',
	edible_agricultural => true) AS greens \gset
SELECT shilian.product_register('肉丸', 'meat', shelf_life_days => 90, spec => '500g/袋') AS balls \gset
\set insp '{"inspector": "验收员"}'

-- February: the farm harvests through its system.
BEGIN;
SELECT set_config('shilian.client', 'hn-farm-erp', true) IS NOT NULL AS set;
SELECT shilian.batch_create(:a, :greens, '500 kg', '2026-02-20') AS g0 \gset
COMMIT;
-- March: the farm harvests, sells to the canteen (received), the retailer
-- (rejected) and the restaurant (pending); the processor makes meatballs
-- and sells to the canteen (received through an import).
SELECT shilian.batch_create(:a, :greens, '1 t', '2026-03-02') AS g1 \gset
SELECT shilian.receive(shilian.ship(:'g1', :c, '100 kg', '2026-03-03'), '100 kg', :'insp',
	'2026-03-04 07:00+08') AS gc \gset
SELECT shilian.reject(shilian.ship(:'g1', :d, '50 kg', '2026-03-05'), '不新鲜', '2026-03-05 10:00+08') IS NOT NULL AS rejected;
SELECT shilian.ship(:'g1', :e, '50 kg', '2026-03-06') AS l_ae \gset
SELECT shilian.batch_create(:b, :balls, '200 kg', '2026-03-02') AS b1 \gset
SELECT shilian.ship(:'b1', :c, '20 kg', '2026-03-07') AS l_bc \gset
BEGIN;
SELECT set_config('shilian.channel', 'import', true) IS NOT NULL AS set;
SELECT shilian.receive(:l_bc, '20 kg', :'insp', '2026-03-08 09:00+08') IS NOT NULL AS received;
COMMIT;
-- The restaurant's system records a first entry; a savepoint undoes a
-- second one, an aborted transaction a third.
BEGIN;
SELECT set_config('shilian.client', 'hn-rest-pos', true) IS NOT NULL AS set;
SELECT shilian.receive_first_entry(:e, :greens, '5 kg', '{"name": "王农", "contact": "13900000046"}', :'insp', '2026-03-10',
	'2026-03-10 06:00+08') IS NOT NULL AS entered;
SAVEPOINT s;
SELECT shilian.receive_first_entry(:e, :greens, '6 kg', '{"name": "王农", "contact": "13900000046"}', :'insp', '2026-03-11',
	'2026-03-11 06:00+08') IS NOT NULL AS entered;
ROLLBACK TO SAVEPOINT s;
COMMIT;
BEGIN;
SELECT shilian.consume(:'gc', '10 kg', 'served', '2026-03-12 12:00+08') > 0 AS served;
ROLLBACK;
SELECT shilian.consume(:'gc', '10 kg', 'served', '2026-03-12 18:00+08') > 0 AS served;

SELECT pg_temp.rollup_diff() AS diff;
-- March by station: 秀英 A and B recorded; 龙华 C (key, receipts 2, its
-- sales all received: covered), E (first entry through its system: own
-- system uploading; it has a pending sale to it in March: not covered; not
-- key anyway), D (rejection only: recorded).
SELECT station, segment, active_operators, key_recorded, own_system_uploading, receipts, receipts_complete
  FROM shilian.station_month WHERE month = '2026-03-01' AND station LIKE '46%' ORDER BY 1, 2;
SELECT code, m, pg_temp.figures_diff(code, m) AS diff
  FROM unnest(ARRAY['460000', '460100', '460105', '460106', '460106001']) code,
	unnest(ARRAY['2026-02-01', '2026-03-01', '2026-04-01']::date[]) m ORDER BY 1, 2;

-- The registry changes: the processor is suspended, the retailer gets a
-- licence in a key category (it becomes a 10+3 operator), the restaurant
-- is suspended and reinstated, the canteen's sale from the farm stays
-- received; the roll is reloaded: the retailer's licence moves to 龙华二所,
-- a new licence appears and the unknown one leaves.
SELECT shilian.operator_suspend(:b, '停业整顿') IS NOT NULL AS suspended;
SELECT shilian.licence_add(:d, 'JY14601060000059', '{fruit}', '2025-01-01', '2029-12-31') IS NOT NULL AS added;
SELECT shilian.operator_suspend(:e, '整改') IS NOT NULL AS suspended;
SELECT shilian.operator_activate(:e) IS NOT NULL AS reinstated;
CREATE TEMP TABLE roll_stage (LIKE shilian.operator_roll_stage);
INSERT INTO roll_stage VALUES
	('JY14601060000024', 'D', '460106002', 'circulation', '{retailer}'),
	('JY14601060000059', 'D2', '460106002', 'circulation', '{retailer}');
SELECT shilian.roll_import('roll_stage') AS loaded;
DELETE FROM shilian.operator_roll WHERE licence_no = 'JY14601060000040';
-- April: the farm's new lot, one sale to the retailer pending, one received.
SELECT shilian.batch_create(:a, :greens, '100 kg', '2026-04-01') AS g2 \gset
SELECT shilian.ship(:'g2', :d, '10 kg', '2026-04-03') IS NOT NULL AS shipped;
SELECT shilian.receive(shilian.ship(:'g2', :d, '10 kg', '2026-04-04'), '10 kg', :'insp',
	'2026-04-05 07:00+08') IS NOT NULL AS received;
SELECT pg_temp.rollup_diff() AS diff;
SELECT station, segment, operators, key_operators, own_system_operators FROM shilian.operator_station WHERE station LIKE '46%' ORDER BY 1, 2;
SELECT code, m, pg_temp.figures_diff(code, m) AS diff
  FROM unnest(ARRAY['460000', '460105', '460106']) code,
	unnest(ARRAY['2026-03-01', '2026-04-01']::date[]) m ORDER BY 1, 2;

-- Under a regulator's row-level security: 秀英's regulator sees the retailer
-- licence on its roll only while its holder is at home in 秀英 (it is not:
-- not registered for it), as the figures counted from the rows it may read.
INSERT INTO shilian.operator_roll (licence_no, name, station, segment, kinds) VALUES
	('JY24601060000032', 'E', '460105001', 'catering', '{restaurant}')
	ON CONFLICT (licence_no) DO UPDATE SET station = excluded.station;
SELECT pg_temp.rollup_diff() AS diff;
SET ROLE shilian_regulator;
SELECT set_config('shilian.jurisdiction', '460105', false) IS NOT NULL AS set;
SELECT pg_temp.figures_diff('460105', '2026-03-01') AS diff, pg_temp.figures_diff('460105001', '2026-04-01') AS diff;
SELECT jurisdiction, licensed, registered, activated FROM shilian.jurisdiction_stats('460105', '[2026-03-01,2026-03-31]');
-- and nothing outside its subtree
SELECT * FROM shilian.station_figures_month('460106', '2026-03-01');
\echo :LAST_ERROR_SQLSTATE
-- nor the rollups themselves
SELECT count(*) FROM shilian.station_month;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT set_config('shilian.jurisdiction', '', false) IS NOT NULL AS set;
SELECT jurisdiction, licensed, registered, activated FROM shilian.jurisdiction_stats('460105', '[2026-03-01,2026-03-31]');

-- After a counter rebuild (operator_day_rebuild recounts the rollups too)
-- and after a TRUNCATE of the roll, still equal.
SELECT shilian.operator_day_rebuild() > 0 AS rebuilt;
SELECT pg_temp.rollup_diff() AS diff;
TRUNCATE shilian.operator_roll;
SELECT count(*) AS roll_rows FROM shilian.roll_station;
SELECT pg_temp.rollup_diff() AS diff, pg_temp.figures_diff('460000', '2026-03-01') AS figures;
SELECT shilian.rollup_rebuild() > 0 AS rebuilt;
