-- regulator: the operator roll and its import, jurisdiction_stats and
-- inactive_operators (docs/regulator.md) on a small province of its own
-- (35xxxx, so that it does not depend on what other regress files left),
-- with every figure worked out by hand in the comments, and who may ask.

SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
-- Registry changes in this file take effect on 2026-01-01 (the admin's dated
-- entry, shilian.registry_time): the figures of a month read the registry as
-- it stood at the month's end (docs/regulator.md), and the records are of 2026.
SET shilian.registry_time = '2026-01-01 00:00+08';
\set VERBOSITY default

-- The province: two cities; Fuzhou has two counties, Xiamen one; one
-- supervision station in each county.
SELECT shilian.jurisdiction_add('350000', '福建省');
SELECT shilian.jurisdiction_add('350100', '福州市');
SELECT shilian.jurisdiction_add('350102', '鼓楼区');
SELECT shilian.jurisdiction_add('350102001', '鼓楼区东街市场监管所');
SELECT shilian.jurisdiction_add('350103', '台江区');
SELECT shilian.jurisdiction_add('350103001', '台江区后洲市场监管所');
SELECT shilian.jurisdiction_add('350200', '厦门市');
SELECT shilian.jurisdiction_add('350211', '集美区');
SELECT shilian.jurisdiction_add('350211001', '集美区侨英市场监管所');

-- ---- the roll ------------------------------------------------------------------
-- 11 licences known to the regulator: 6 at 350102001, 3 at 350103001, 2 at
-- 350211001. The owner of the table loads with COPY directly ...
COPY shilian.operator_roll (licence_no, name, station, segment, kinds) FROM stdin;
JY13501020000011	鼓楼甲超市	350102001	circulation	{retailer}
JY13501020000020	鼓楼乙超市	350102001	circulation	{retailer}
JY13501020000038	鼓楼丙餐馆	350102001	catering	{restaurant}
JY13501020000046	鼓楼丁餐馆	350102001	catering	{restaurant}
JY13501020000054	鼓楼小学食堂	350102001	catering	{school_canteen}
SC10135010200001	鼓楼肉制品厂	350102001	production	{processor}
\.

-- ... every other admin through a staging table (row-level security
-- refuses COPY FROM into operator_roll to everyone but its owner).
SET ROLE shilian_admin;
CREATE TEMP TABLE roll_stage (LIKE shilian.operator_roll_stage);
COPY roll_stage FROM stdin;
JY13501030000015	台江甲批发	350103001	circulation	{wholesaler}
JY13501030000023	台江乙批发	350103001	circulation	{wholesaler}
JY13501030000031	台江中央厨房	350103001	catering	{central_kitchen}
JY13502110000014	集美甲超市	350211001	circulation	{retailer}
JY13502110000022	集美乙超市	xxx	circulation	{retailer}
\.
-- A station that is not registered fails the whole load (23503), nothing
-- is loaded.
SELECT shilian.roll_import('roll_stage');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS roll FROM shilian.operator_roll;
UPDATE roll_stage SET station = '350211001' WHERE station = 'xxx';
-- 5 rows loaded: the roll holds 11.
SELECT shilian.roll_import('roll_stage') AS loaded;
SELECT count(*) AS roll FROM shilian.operator_roll;
-- A refreshed register: one licence renamed and moved is updated in place.
TRUNCATE roll_stage;
INSERT INTO roll_stage VALUES ('JY13502110000022', '集美乙便利店', '350211001', 'circulation', '{retailer,market_vendor}');
SELECT shilian.roll_import('roll_stage') AS loaded;
SELECT licence_no, name, station, kinds FROM shilian.operator_roll WHERE licence_no = 'JY13502110000022';
-- A malformed licence number fails the load with 22P02 naming the rule.
TRUNCATE roll_stage;
INSERT INTO roll_stage VALUES ('JY1350211', '坏号', '350211001', 'circulation', '{retailer}');
SELECT shilian.roll_import('roll_stage');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS roll FROM shilian.operator_roll;
DROP TABLE roll_stage;
RESET ROLE;

-- roll_import is the admin's: an operator may not call it (42501).
SET ROLE shilian_operator;
SELECT shilian.roll_import('shilian.operator_roll_stage');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---- the platform -----------------------------------------------------------------
-- 350102001: A, B, P active with their roll licences, C registered (not
-- activated) with its licence, V an active market vendor without licence
-- (not on the roll). 350103001: F active with its licence, S suspended
-- without licence. 350211001: X active with its licence.
-- Roll licences not on the platform: D, 小学食堂 (350102001), 乙批发,
-- 中央厨房 (350103001), 集美乙 (350211001).
SELECT shilian.operator_register('鼓楼甲超市', 'circulation', '{retailer}', '350102001',
	'鼓楼区东街1号', '0591-1', reg_card => 'FJ-A',
	regulator_contact => '鼓楼区东街所 林一 0591-9001') AS a \gset
SELECT shilian.operator_register('鼓楼乙超市', 'circulation', '{retailer}', '350102001',
	'鼓楼区东街2号', '0591-2', reg_card => 'FJ-B',
	regulator_contact => '鼓楼区东街所 林二 0591-9002') AS b \gset
SELECT shilian.operator_register('鼓楼丙餐馆', 'catering', '{restaurant}', '350102001',
	'鼓楼区东街3号', '0591-3', reg_card => 'FJ-C',
	regulator_contact => '鼓楼区东街所 林一 0591-9001') AS c \gset
SELECT shilian.operator_register('鼓楼肉制品厂', 'production', '{processor}', '350102001',
	'鼓楼区工业路4号', '0591-4', reg_card => 'FJ-P') AS p \gset
SELECT shilian.operator_register('陈记菜摊', 'circulation', '{market_vendor}', '350102001',
	'鼓楼区东街市场5号', '0591-5', reg_card => 'FJ-V',
	regulator_contact => '鼓楼区东街所 林二 0591-9002') AS v \gset
SELECT shilian.operator_register('台江甲批发', 'circulation', '{wholesaler}', '350103001',
	'台江区后洲6号', '0591-6', reg_card => 'FJ-F') AS f \gset
SELECT shilian.operator_register('台江冷库', 'circulation', '{cold_storage}', '350103001',
	'台江区后洲7号', '0591-7', reg_card => 'FJ-S') AS s \gset
SELECT shilian.operator_register('集美甲超市', 'circulation', '{retailer}', '350211001',
	'集美区侨英8号', '0592-8', reg_card => 'FJ-X',
	regulator_contact => '集美区侨英所 陈八 0592-9008') AS x \gset
SELECT shilian.licence_add(:a, 'JY13501020000011', '{meat,vegetables}', '2025-01-01', '2029-12-31') > 0 AS ok;
SELECT shilian.licence_add(:b, 'JY13501020000020', '{vegetables}', '2025-01-01', '2029-12-31') > 0 AS ok;
SELECT shilian.licence_add(:c, 'JY13501020000038', '{other}', '2025-01-01', '2029-12-31') > 0 AS ok;
SELECT shilian.licence_add(:p, 'SC10135010200001', '{meat}', '2025-01-01', '2029-12-31') > 0 AS ok;
SELECT shilian.licence_add(:f, 'JY13501030000015', '{vegetables}', '2025-01-01', '2029-12-31') > 0 AS ok;
SELECT shilian.licence_add(:x, 'JY13502110000014', '{vegetables}', '2025-01-01', '2029-12-31') > 0 AS ok;
SELECT count(*) AS activated
  FROM unnest(ARRAY[:a, :b, :p, :v, :f, :s, :x]::bigint[]) o, LATERAL shilian.operator_activate(o);
SELECT name, status FROM shilian.operator WHERE station LIKE '35%' ORDER BY id;
SELECT shilian.operator_suspend(:s, '停业整顿');

SELECT shilian.product_register('猪肉水饺', 'meat', shelf_life_days => 90, spec => '1kg/袋') AS dumplings \gset
SELECT shilian.product_register('青菜', 'vegetables', shelf_life_days => 10, spec => '散装',
	edible_agricultural => true) AS greens \gset
\set insp '{"inspector": "检验员"}'
\set farmer '{"name": "赵农", "contact": "13900000001", "address": "闽侯县"}'

-- ---- the records (event dates) --------------------------------------------------
-- P produces on 03-05 and ships to A on 03-06; A receives on 03-07.
SELECT shilian.batch_create(:p, :dumplings, '100 kg', '2026-03-05', lot => 'D-0305') AS d \gset
SELECT shilian.receive(shilian.ship(:'d', :a, '40 kg', '2026-03-06'), '40 kg', :'insp',
	'2026-03-07 09:00+08') IS NOT NULL AS received;
-- B receives greens from a farmer on 02-10 (its only record).
SELECT shilian.receive_first_entry(:b, :greens, '20 kg', :'farmer', :'insp',
	'2026-02-10', '2026-02-10 06:30+08') IS NOT NULL AS received;
-- F receives greens from a farmer on 03-20.
SELECT shilian.receive_first_entry(:f, :greens, '50 kg', :'farmer', :'insp',
	'2026-03-20', '2026-03-20 06:30+08') IS NOT NULL AS received;
-- X receives greens from a farmer on 04-02.
SELECT shilian.receive_first_entry(:x, :greens, '30 kg', :'farmer', :'insp',
	'2026-04-02', '2026-04-02 06:30+08') IS NOT NULL AS received;
-- Last record: P 03-06 (shipment), A 03-07, B 02-10, F 03-20, X 04-02;
-- C, V, S never.

-- ---- jurisdiction_stats ----------------------------------------------------------
-- March 2026. Active in March: P, A (350102), F (350103); B (February) and
-- X (April) are not.
-- The operator figures count the operators active for part of the month
-- (0.3.0): C, never activated, and S, suspended (its registry changes take
-- effect on 2026-01-01, so for all of 2026), are not among them.
-- 350100 福州: licensed 6 + 3 = 9; registered A, B, C, P + F = 5;
--   activated A, B, P + F = 4 (C is registered only); rate 5/9 = 0.5556;
--   operators A, B, P, V + F = 5; active P, A, F = 3; 3/5 = 0.6000.
-- 350200 厦门: licensed 2; registered X = 1; activated 1; rate 1/2 = 0.5000;
--   operators X = 1; active 0; 0/1 = 0.0000.
-- 350000 total: licensed 11; registered 6; activated 5; 6/11 = 0.5455;
--   operators 6; active 3; 3/6 = 0.5000.
SELECT * FROM shilian.jurisdiction_stats('350000', '[2026-03-01,2026-03-31]');
-- One city: its counties.
-- 350102 鼓楼: licensed 6; registered A, B, C, P = 4; activated A, B, P = 3;
--   4/6 = 0.6667; operators A, B, P, V = 4; active P, A = 2; 2/4 = 0.5000.
-- 350103 台江: licensed 3; registered F = 1; activated 1; 1/3 = 0.3333;
--   operators F = 1; active F = 1; 1/1 = 1.0000.
-- total 350100 as above.
SELECT * FROM shilian.jurisdiction_stats('350100', '[2026-03-01,2026-03-31]');
-- February: only B recorded. Province: 1/6 = 0.1667; 福州 1/5 = 0.2000;
-- 厦门 0/1. The roll figures do not depend on the period.
SELECT jurisdiction, total, licensed, registered, active_operators, activity_rate
  FROM shilian.jurisdiction_stats('350000', '[2026-02-01,2026-03-01)');
-- A station has no children: the total row only. 350211001: licensed 2,
-- registered 1, activated 1; April: X active, 1/1 = 1.0000.
SELECT * FROM shilian.jurisdiction_stats('350211001', '[2026-04-01,2026-04-30]');
-- A jurisdiction with nothing in it: zero counts, rates NULL (0/0).
SELECT shilian.jurisdiction_add('350203', '思明区');
SELECT jurisdiction, total, licensed, registration_rate, operators, activity_rate
  FROM shilian.jurisdiction_stats('350203', '[2026-03-01,2026-03-31]');
-- An unknown jurisdiction: SLR19.
SELECT * FROM shilian.jurisdiction_stats('359999', '[2026-03-01,2026-03-31]');
\echo :LAST_ERROR_SQLSTATE

-- ---- inactive_operators ----------------------------------------------------------
-- No record since 03-01 (suspended S left out): B (last 02-10), C and V
-- (never); A, P, F and X recorded since.
SELECT name, station, status, last_record, regulator_contact
  FROM shilian.inactive_operators('350000', '2026-03-01');
-- Since 04-03 in 集美: X (last 04-02).
SELECT name, last_record, regulator_contact FROM shilian.inactive_operators('350211', '2026-04-03');
-- Since 04-02 in 集美: none (X recorded on that day).
SELECT count(*) AS inactive FROM shilian.inactive_operators('350211', '2026-04-02');

-- ---- who may ask -------------------------------------------------------------------
-- A regulator of 鼓楼 (350102) sees the roll of its subtree only (6) and
-- asks about its county: the station row and the total (as above for 350102).
SET ROLE shilian_regulator;
SELECT set_config('shilian.jurisdiction', '350102', false) IS NOT NULL AS set;
SELECT count(*) AS roll FROM shilian.operator_roll;
SELECT * FROM shilian.jurisdiction_stats('350102', '[2026-03-01,2026-03-31]');
SELECT name FROM shilian.inactive_operators('350102001', '2026-03-01');
-- Its city, a neighbouring county and the province are outside: 42501.
SELECT * FROM shilian.jurisdiction_stats('350100', '[2026-03-01,2026-03-31]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shilian.jurisdiction_stats('350103', '[2026-03-01,2026-03-31]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shilian.inactive_operators('350000', '2026-03-01');
\echo :LAST_ERROR_SQLSTATE
-- A regulator with no jurisdiction set asks about nothing.
SELECT set_config('shilian.jurisdiction', '', false) IS NOT NULL AS set;
SELECT * FROM shilian.jurisdiction_stats('350102', '[2026-03-01,2026-03-31]');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- The platform admin asks about any jurisdiction, with no setting; the
-- functions do not depend on the caller's search_path (shilian's licence_no
-- operators are found without it).
SET search_path = public;
SET ROLE shilian_admin;
SELECT jurisdiction, total, licensed, registered, activated, operators, active_operators
  FROM shilian.jurisdiction_stats('350000', '[2026-03-01,2026-03-31]') WHERE total;
SELECT count(*) AS inactive FROM shilian.inactive_operators('350000', '2026-03-01');
RESET ROLE;
SET search_path = public, shilian;
-- Operators and the public may not call the regulator functions, nor read the roll.
SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', :'a', false) IS NOT NULL AS set;
SELECT * FROM shilian.jurisdiction_stats('350102001', '[2026-03-01,2026-03-31]');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM shilian.operator_roll;
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('shilian.operator_id', '', false) IS NOT NULL AS set;
RESET ROLE;
SET ROLE shilian_public;
SELECT * FROM shilian.inactive_operators('350102001', '2026-03-01');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
