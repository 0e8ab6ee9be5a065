-- history: the registry's history and the figures as of the period's end
-- (docs/regulator.md, "The registry's history"; issue 25). A small province
-- of its own (53xxxx) whose registry changes are dated (shilian.registry_time,
-- fixed days of 2026: nothing here depends on today's date). March is
-- closed (its report issued), then registrations, suspensions, stations,
-- licences and the roll change in April: March's figures, ranks and
-- previous values stay what was issued, April's follow the changes.

-- It runs in a database of its own, dropped at the end: it issues a monthly
-- report (which the files after it, dating their registries in early 2026,
-- could not change any more), and its ledger entries and ids must not be
-- seen by them.

SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
DROP DATABASE IF EXISTS shilian_history;
CREATE DATABASE shilian_history;
\c shilian_history
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY default

SELECT count(*) AS added FROM (VALUES ('530000', '云南省'), ('530100', '昆明市'),
	('530102', '五华区'), ('530102001', '五华所'), ('530103', '盘龙区'), ('530103001', '盘龙所'),
	('530103002', '盘龙二所'), ('530300', '曲靖市'), ('530302', '麒麟区'), ('530302001', '麒麟所')) v(c, n),
	LATERAL shilian.jurisdiction_add(c, n);

-- ---- January 5: the first registrations and the first roll -----------------------------
-- A wholesaler (own system) and B retailer in 五华; C school canteen and D
-- retailer in 盘龙; F a farm in 麒麟 without a licence. D stays registered.
SET shilian.registry_time = '2026-01-05 09:00+08';
SELECT shilian.operator_register('五华批发', 'circulation', '{wholesaler}', '530102001', '五华1号', '0871-1',
	reg_card => 'YN-A', own_system => true) AS a \gset
SELECT shilian.operator_register('五华超市', 'circulation', '{retailer}', '530102001', '五华2号', '0871-2',
	reg_card => 'YN-B') AS b \gset
SELECT shilian.operator_register('盘龙一小食堂', 'catering', '{school_canteen}', '530103001', '盘龙3号', '0871-3',
	reg_card => 'YN-C') AS c \gset
SELECT shilian.operator_register('盘龙便利店', 'circulation', '{retailer}', '530103001', '盘龙4号', '0871-4',
	reg_card => 'YN-D') AS d \gset
SELECT shilian.operator_register('麒麟菜园', 'production', '{farm}', '530302001', '麒麟5号', '0874-5',
	reg_card => 'YN-F') AS f \gset
SELECT count(*) AS activated FROM unnest(ARRAY[:a, :b, :c, :f]::bigint[]) o, LATERAL shilian.operator_activate(o);
SELECT count(*) AS licences FROM (VALUES
	(:a, 'JY15301020000016', '{vegetables}'), (:b, 'JY15301020000024', '{other}'),
	(:c, 'JY35301030000015', '{other}'), (:d, 'JY15301030000023', '{fruit}')) v(o, l, sc),
	LATERAL shilian.licence_add(o, l::licence_no, sc::text[], '2025-06-01', '2029-12-31');
CREATE TEMP TABLE roll_stage (LIKE shilian.operator_roll_stage);
INSERT INTO roll_stage VALUES
	('JY15301020000016', 'A', '530102001', 'circulation', '{wholesaler}'),
	('JY15301020000024', 'B', '530102001', 'circulation', '{retailer}'),
	('JY35301030000015', 'C', '530103001', 'catering', '{school_canteen}'),
	('JY15301030000023', 'D', '530103001', 'circulation', '{retailer}'),
	('JY15301030000031', 'N1', '530103001', 'circulation', '{retailer}'),
	('JY15303020000012', 'N2', '530302001', 'circulation', '{retailer}');
SELECT shilian.roll_import('roll_stage') AS roll_v1;

-- ---- February 10: E registers in 麒麟 with the roll's licence N2 -----------------------------
SET shilian.registry_time = '2026-02-10 09:00+08';
SELECT shilian.operator_register('麒麟超市', 'circulation', '{retailer}', '530302001', '麒麟6号', '0874-6',
	reg_card => 'YN-E') AS e \gset
SELECT shilian.operator_activate(:e);
SELECT shilian.licence_add(:e, 'JY15303020000012', '{dairy}', '2025-06-01', '2029-12-31') > 0 AS added;

-- ---- the records (event dates in February and March) ---------------------------------------
SELECT shilian.product_register('青菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true) AS greens \gset
SELECT shilian.product_register('盒饭', 'other', shelf_life_days => 1) AS meal \gset
\set insp '{"inspector": "验收员"}'
-- February: F harvests and sells to A, who receives.
SELECT shilian.receive(shilian.ship(shilian.batch_create(:f, :greens, '100 kg', '2026-02-12'), :a, '50 kg',
	'2026-02-13'), '50 kg', :'insp', '2026-02-14 09:00+08') AS ga \gset
-- March: F harvests again and sells to A, B and C, who receive (A through
-- its own system, a system client); E makes a lot.
SELECT shilian.batch_create(:f, :greens, '100 kg', '2026-03-02') AS g2 \gset
BEGIN;
SELECT set_config('shilian.client', 'yn-erp', true) IS NOT NULL AS set;
SELECT shilian.receive(shilian.ship(:'g2', :a, '10 kg', '2026-03-03'), '10 kg', :'insp',
	'2026-03-04 08:00+08') IS NOT NULL AS received;
COMMIT;
SELECT shilian.receive(shilian.ship(:'g2', :b, '10 kg', '2026-03-03'), '10 kg', :'insp',
	'2026-03-04 09:00+08') IS NOT NULL AS received;
SELECT shilian.receive(shilian.ship(:'g2', :c, '10 kg', '2026-03-03'), '10 kg', :'insp',
	'2026-03-04 10:00+08') IS NOT NULL AS received;
SELECT shilian.batch_create(:e, :meal, '10 kg', '2026-03-05') IS NOT NULL AS made;

-- ---- the history as of instants ----------------------------------------------------------
-- D registered on January 5, E on February 10; at the end of January E was
-- not there yet.
SELECT count(*) AS operators_end_of_january FROM shilian.operator_as_of('2026-01-31 23:59+08') o
 WHERE o.station LIKE '53%';
SELECT count(*) AS operators_end_of_february FROM shilian.operator_as_of('2026-02-28 23:59+08') o
 WHERE o.station LIKE '53%';
SELECT count(*) AS roll_end_of_february FROM shilian.roll_as_of('2026-02-28 23:59+08') r WHERE r.station LIKE '53%';

-- ---- the figures by month ---------------------------------------------------------------------
-- Registration rate as of each month's end: January 4 of 6 roll licences
-- registered (A, B, C, D), February 5 of 6 (E's N2 too): it moves month on
-- month. Activity in February over the operators active in it (A, B, C, E,
-- F): A and F recorded, 2/5.
SELECT jurisdiction, licensed, registered, registration_rate, operators, active_operators, activity_rate
  FROM shilian.jurisdiction_stats('530000', '[2026-01-01,2026-01-31]');
SELECT jurisdiction, licensed, registered, registration_rate, operators, active_operators, activity_rate
  FROM shilian.jurisdiction_stats('530000', '[2026-02-01,2026-02-28]');
-- March: A, B, C, E, F recorded; 10+3: A (vegetables licence), C (school
-- canteen) and F (no licence, harvests greens, an edible agricultural
-- product of a key category); own system: A, uploading.
SELECT * FROM shilian.jurisdiction_stats('530000', '[2026-03-01,2026-03-31]');
-- February's report: the registration rate rose from January's.
SELECT jurisdiction, figure, value, previous, change, rank
  FROM shilian.monthly_report_rows('2026-02-01', '530000') WHERE figure = 'registration_rate';

-- ---- March is closed ------------------------------------------------------------------------
SET ROLE shilian_admin;
SELECT shilian.monthly_report_publish('2026-03-01') > 0 AS published;
RESET ROLE;
CREATE TEMP TABLE march_rows AS SELECT * FROM shilian.monthly_report_rows('2026-03-01', '530000');
CREATE TEMP TABLE march_stats AS
	SELECT j.code, s.* FROM shilian.jurisdiction j, LATERAL shilian.jurisdiction_stats(j.code, '[2026-03-01,2026-03-31]') s
	 WHERE j.code LIKE '53%' AND j.level <> 'station';
CREATE TEMP TABLE march_segments AS SELECT * FROM shilian.segment_stats('530000', '[2026-03-01,2026-03-31]');

-- Publishing froze March and the month before it (its report's previous
-- values): their figures now sum the stored per-station rows, which are
-- what a count from the history gives, for the admin and for a regulator
-- (registered and activated only of the holders at home in its subtree).
SELECT month FROM shilian.figures_frozen_month ORDER BY month;
SELECT m.month, (SELECT count(*)
		FROM ((SELECT * FROM shilian.station_figures('530000', m.month) EXCEPT ALL
			   SELECT * FROM shilian.station_figures_scan('530000', m.month))
			  UNION ALL
			  (SELECT * FROM shilian.station_figures_scan('530000', m.month) EXCEPT ALL
			   SELECT * FROM shilian.station_figures('530000', m.month))) x) AS rows_differ
  FROM (VALUES ('[2026-02-01,2026-02-28]'::daterange), ('[2026-03-01,2026-03-31]')) m(month)
 ORDER BY m.month;
SELECT count(*) AS frozen_rows FROM shilian.station_figures('530000', '[2026-03-01,2026-03-31]');
SET ROLE shilian_regulator;
SELECT set_config('shilian.jurisdiction', '530100', false) IS NOT NULL AS set;
SELECT count(*) AS regulator_rows_differ
  FROM ((SELECT * FROM shilian.station_figures('530100', '[2026-03-01,2026-03-31]') EXCEPT ALL
		 SELECT * FROM shilian.station_figures_scan('530100', '[2026-03-01,2026-03-31]'))
		UNION ALL
		(SELECT * FROM shilian.station_figures_scan('530100', '[2026-03-01,2026-03-31]') EXCEPT ALL
		 SELECT * FROM shilian.station_figures('530100', '[2026-03-01,2026-03-31]'))) x;
-- a regulator reads no frozen row directly, nor freezes
SELECT count(*) FROM shilian.figures_frozen;
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.figures_freeze('2026-01-01');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT set_config('shilian.jurisdiction', '', false) IS NOT NULL AS set;
-- The frozen rows are what the figures read: a stored row changed (rolled
-- back) shows in March and not in April, which is counted.
BEGIN;
UPDATE shilian.figures_frozen SET operators = operators + 1000
 WHERE ctid = (SELECT ctid FROM shilian.figures_frozen WHERE month = '2026-03-01' AND NOT roll LIMIT 1);
SELECT (SELECT operators FROM shilian.jurisdiction_stats('530000', '[2026-03-01,2026-03-31]') WHERE total)
	- (SELECT operators FROM march_stats WHERE code = '530000' AND total) AS march_shows_the_stored_rows;
ROLLBACK;
-- A month is frozen once (0 rows the second time); a month not ended is
-- refused (SLX04).
SET ROLE shilian_admin;
SELECT shilian.figures_freeze('2026-03-15') AS frozen_again;
\set VERBOSITY sqlstate
SELECT shilian.figures_freeze(shilian.platform_today());
\set VERBOSITY default
RESET ROLE;

-- Nothing may take effect in or before an issued month any more (SLH06);
-- nor in the future (SLH03); a malformed time is SLH01.
SET shilian.registry_time = '2026-03-20 09:00+08';
SELECT shilian.operator_suspend(:a, 'too late');
\echo :LAST_ERROR_SQLSTATE
SET shilian.registry_time = '2999-01-01 00:00+08';
SELECT shilian.operator_suspend(:a, 'too early');
\echo :LAST_ERROR_SQLSTATE
SET shilian.registry_time = 'next tuesday';
SELECT shilian.operator_suspend(:a, 'what day');
\echo :LAST_ERROR_SQLSTATE
-- Only the platform admin dates registry changes (SLH02): a regulator's
-- session (here its session authorization) may not.
SET shilian.registry_time = '2026-04-02 09:00+08';
SET SESSION AUTHORIZATION shilian_regulator;
SELECT set_config('shilian.jurisdiction', '530000', false) IS NOT NULL AS set;
SELECT shilian.operator_suspend(:a, 'not yours to date');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
SELECT set_config('shilian.jurisdiction', '', false) IS NOT NULL AS set;

-- ---- April 10: the registry changes -----------------------------------------------------------
SET shilian.registry_time = '2026-04-10 09:00+08';
-- a registration: G in 五华 with the roll's N1 licence number
SELECT shilian.operator_register('五华新店', 'circulation', '{retailer}', '530102001', '五华7号', '0871-7',
	reg_card => 'YN-G') AS g \gset
SELECT shilian.operator_activate(:g);
SELECT shilian.licence_add(:g, 'JY15301030000031', '{fruit}', '2026-04-01', '2030-03-31') > 0 AS added;
-- a suspension: A
SELECT shilian.operator_suspend(:a, 'no cold chain');
-- a station: D moves to 盘龙二所, and is activated; B runs its own system now
SELECT shilian.operator_update(:d, station => '530103002');
SELECT shilian.operator_activate(:d);
SELECT shilian.operator_update(:b, own_system => true);
-- a licence: B gets a meat licence (a key category)
SELECT shilian.licence_add(:b, 'SC15301020000013', '{meat}', '2026-04-01', '2030-03-31') > 0 AS added;
-- the roll: N1 moves to 五华, C's licence leaves the register, a new one N3
DELETE FROM roll_stage;
INSERT INTO roll_stage VALUES
	('JY15301030000031', 'N1', '530102001', 'circulation', '{retailer}'),
	('JY15301030000049', 'N3', '530103001', 'circulation', '{retailer}');
SELECT shilian.roll_import('roll_stage') AS roll_v2;
DELETE FROM shilian.operator_roll WHERE licence_no = 'JY35301030000015';
-- A change dated before an operator's latest version is refused (SLH04):
-- the history only grows at its end.
SET shilian.registry_time = '2026-04-05 09:00+08';
SELECT shilian.operator_activate(:a);
\echo :LAST_ERROR_SQLSTATE
RESET shilian.registry_time;

-- ---- the closed month is what was issued ----------------------------------------------------
-- The same report rows (values, previous values, changes, ranks, targets) ...
SELECT count(*) AS report_rows_changed
  FROM ((TABLE march_rows EXCEPT ALL SELECT * FROM shilian.monthly_report_rows('2026-03-01', '530000'))
		UNION ALL (SELECT * FROM shilian.monthly_report_rows('2026-03-01', '530000') EXCEPT ALL TABLE march_rows)) x;
-- ... the same figures for every city and county and by segment ...
SELECT count(*) AS stats_rows_changed
  FROM ((TABLE march_stats EXCEPT ALL
		 SELECT j.code, s.* FROM shilian.jurisdiction j, LATERAL shilian.jurisdiction_stats(j.code, '[2026-03-01,2026-03-31]') s
		  WHERE j.code LIKE '53%' AND j.level <> 'station')
		UNION ALL
		(SELECT j.code, s.* FROM shilian.jurisdiction j, LATERAL shilian.jurisdiction_stats(j.code, '[2026-03-01,2026-03-31]') s
		  WHERE j.code LIKE '53%' AND j.level <> 'station' EXCEPT ALL TABLE march_stats)) x;
SELECT count(*) AS segment_rows_changed
  FROM ((TABLE march_segments EXCEPT ALL SELECT * FROM shilian.segment_stats('530000', '[2026-03-01,2026-03-31]'))
		UNION ALL (SELECT * FROM shilian.segment_stats('530000', '[2026-03-01,2026-03-31]') EXCEPT ALL TABLE march_segments)) x;
-- ... and the stored report of every 53 jurisdiction equals a recomputation.
SELECT count(*) AS issued, count(*) FILTER (WHERE r.report = shilian.monthly_report(r.month, r.jurisdiction)) AS recomputed_equal
  FROM shilian.monthly_report_issue r WHERE r.jurisdiction LIKE '53%' AND r.month = '2026-03-01';

-- ---- April follows the changes -------------------------------------------------------------
-- Roll as of April's end: A, B, D, N1 (now 五华), N2, N3 (C's left): 6;
-- registered A, B, D, G's N1, E's N2: 5; activated: B, D, G, E (A suspended).
-- Operators active in April: A (until the 10th), B, C, D (from the 10th),
-- E, F, G. 五华 gains G and N1; 盘龙's D is at 530103002.
SELECT * FROM shilian.jurisdiction_stats('530100', '[2026-04-01,2026-04-30]');
SELECT station, segment, licensed, registered, activated, operators, key_operators, own_system_operators
  FROM shilian.station_figures('530000', '[2026-04-01,2026-04-30]') ORDER BY station, segment;
-- April's report: its previous values are March's as issued.
SELECT count(*) AS previous_is_march_as_issued
  FROM shilian.monthly_report_rows('2026-04-01', '530000') a
  JOIN march_rows m USING (jurisdiction, figure)
 WHERE a.previous IS NOT DISTINCT FROM m.value;
SELECT count(*) AS rows FROM march_rows;
SELECT jurisdiction, figure, value, previous, change, rank
  FROM shilian.monthly_report_rows('2026-04-01', '530000')
 WHERE figure IN ('registration_rate', 'activity_rate') ORDER BY jurisdiction, figure;

-- The history of D: registered in 盘龙所, moved to 盘龙二所 and activated
-- the same instant (one version replaces the other).
SELECT status, station, lower(h.valid) AS since, upper(h.valid) AS until
  FROM shilian.operator_history h WHERE h.operator_id = :d ORDER BY lower(h.valid);
-- Each change is in D's ledger chain too.
SELECT kind FROM shilian.ledger WHERE operator_id = :d ORDER BY id;

-- ---- a period not ended reads the registry as of now -----------------------------------------
-- A period open at its end is as of now: a change made now (no registry
-- time) shows there at once, and not in April.
CREATE TEMP TABLE open_before AS SELECT * FROM shilian.jurisdiction_stats('530000', '[2026-04-01,)') WHERE total;
SELECT shilian.operator_suspend(:g, 'now');
SELECT b.activated - a.activated AS activated_drop_now
  FROM shilian.jurisdiction_stats('530000', '[2026-04-01,)') a, open_before b WHERE a.total;
SELECT activated AS april_activated FROM shilian.jurisdiction_stats('530000', '[2026-04-01,2026-04-30]') WHERE total;

-- ---- operator_update: who may change what ---------------------------------------------------
-- The operator itself: its contact and address, nothing else (42501).
SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', :'e', false) IS NOT NULL AS set;
SELECT shilian.operator_update(:e, contact => '0874-66');
SELECT shilian.operator_update(:e, own_system => true);
\echo :LAST_ERROR_SQLSTATE
-- (the message names the acting operator's id: the code only)
\set VERBOSITY sqlstate
SELECT shilian.operator_update(:b, contact => '0871-22');
\set VERBOSITY default
RESET ROLE;
SELECT set_config('shilian.operator_id', '', false) IS NOT NULL AS set;
-- A regulator: operators at home in its subtree, to stations in it.
SET ROLE shilian_regulator;
SELECT set_config('shilian.jurisdiction', '530300', false) IS NOT NULL AS set;
SELECT shilian.operator_update(:e, kinds => '{retailer,market_vendor}', regulator_contact => '麒麟所 张');
SELECT shilian.operator_update(:e, station => '530102001');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.operator_update(:b, contact => '0871-22');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT set_config('shilian.jurisdiction', '', false) IS NOT NULL AS set;
SELECT contact, kinds, regulator_contact FROM shilian.operator WHERE id = :e;
-- Nothing to change, an unknown operator, kind or station.
SELECT shilian.operator_update(:e);
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.operator_update(-1, contact => 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.operator_update(:e, kinds => '{spaceport}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.operator_update(:e, station => '530302');
\echo :LAST_ERROR_SQLSTATE
-- A contact change is in the ledger, not in the figures' history: E has
-- two versions, active from February 10 (registered and activated at the
-- same instant) and the one with its new kinds.
SELECT count(*) AS versions FROM shilian.operator_history WHERE operator_id = :e;

\c :regress_db
DROP DATABASE shilian_history;
