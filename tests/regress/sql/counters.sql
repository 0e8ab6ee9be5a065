-- counters: the counter flush's in-place update (extension/activity.c,
-- CounterAdd) honours what a DBA adds to the counter tables, or leaves the
-- row to the upsert: a CHECK constraint is checked on the new row version
-- (ExecConstraints), a DEFAULT fills the rows the upsert inserts and stays
-- on the rows updated in place, a stored generated column is recomputed
-- (the in-place path is refused for such a table). Each record is its own
-- transaction, so each commit's flush updates an existing row in place.
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE shilian_counters_test;
\c shilian_counters_test
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY default

SELECT count(*) AS added FROM (VALUES ('470000', '测试省'), ('470100', '测试市'), ('470102', '测试区'),
	('470102001', '测试所')) v(c, n), LATERAL shilian.jurisdiction_add(c, n);
SELECT shilian.operator_register('计数农场', 'production', '{farm}', '470102001', 'a', '1', reg_card => 'CT-1') AS op \gset
SELECT shilian.operator_activate(:op);
SELECT shilian.product_register('菠菜', 'vegetables', 10) AS veg \gset
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;

-- a DEFAULT on a new column, a CHECK on each table
ALTER TABLE shilian.operator_day ADD COLUMN note text NOT NULL DEFAULT 'counted';
ALTER TABLE shilian.operator_day ADD CONSTRAINT day_cap CHECK (records <= 3);
ALTER TABLE shilian.operator_month ADD CONSTRAINT month_cap CHECK (records <= 5);
-- in place: the 5th of January reaches 3 records
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
SELECT day, records, note FROM shilian.operator_day WHERE operator_id = :op ORDER BY day;
-- a 4th breaks the day's CHECK at commit: refused, nothing counted
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
SELECT day, records FROM shilian.operator_day WHERE operator_id = :op ORDER BY day;
SELECT count(*) AS batches FROM shilian.batch WHERE owner_id = :op;
-- a new day's row comes from the upsert with the column's DEFAULT; then the
-- month's CHECK (5 records) stops the 6th record of January
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-06') IS NOT NULL AS made;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-06') IS NOT NULL AS made;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-06') IS NOT NULL AS made;
SELECT day, records, note FROM shilian.operator_day WHERE operator_id = :op ORDER BY day;
SELECT month, records FROM shilian.operator_month WHERE operator_id = :op ORDER BY month;

-- a stored generated column: the flush must recompute it (the in-place path
-- is refused for the table; the upsert's UPDATE recomputes it)
ALTER TABLE shilian.operator_day ADD COLUMN twice integer GENERATED ALWAYS AS (records * 2) STORED;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-02-01') IS NOT NULL AS made;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-02-01') IS NOT NULL AS made;
SELECT day, records, twice, twice = 2 * records AS recomputed FROM shilian.operator_day WHERE operator_id = :op ORDER BY day;

-- without them again, the counts equal the records (and the rebuild's recount)
ALTER TABLE shilian.operator_day DROP COLUMN twice, DROP COLUMN note, DROP CONSTRAINT day_cap;
ALTER TABLE shilian.operator_month DROP CONSTRAINT month_cap;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
SELECT (SELECT sum(records) FROM shilian.operator_day WHERE operator_id = :op) AS counted,
       (SELECT count(*) FROM shilian.batch WHERE owner_id = :op) AS batches;
CREATE TEMP TABLE live AS SELECT * FROM shilian.operator_day;
SELECT shilian.operator_day_rebuild() > 0 AS rebuilt;
SELECT count(*) AS differing FROM ((TABLE live EXCEPT TABLE shilian.operator_day)
	UNION ALL (TABLE shilian.operator_day EXCEPT TABLE live)) x;

-- where the flush remembers a row to be (CounterAtPlace) is only a hint:
-- after the rebuild (every row inserted anew), an update by a statement
-- (the version the flush wrote last is no longer the row's), a change of
-- key and back (the row's chain starts elsewhere), a VACUUM FULL (a new
-- file), a rebuild then a VACUUM (the old versions' line pointers freed for
-- other rows), each next record of this session still adds to its row
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
UPDATE shilian.operator_day SET records = records WHERE operator_id = :op AND day = '2026-01-05';
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
UPDATE shilian.operator_day SET day = '2026-01-20' WHERE operator_id = :op AND day = '2026-01-05';
UPDATE shilian.operator_day SET day = '2026-01-05' WHERE operator_id = :op AND day = '2026-01-20';
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
VACUUM FULL shilian.operator_day_default, shilian.operator_month_default;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
-- a TRUNCATE under a remembered place (a new, empty file): the next record
-- starts its row again, at one, instead of adding to a row that is gone
TRUNCATE shilian.operator_day_default, shilian.operator_month_default;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
SELECT day, records FROM shilian.operator_day WHERE operator_id = :op ORDER BY day;
SELECT month, records FROM shilian.operator_month WHERE operator_id = :op ORDER BY month;
SELECT shilian.operator_day_rebuild() > 0 AS rebuilt;
VACUUM shilian.operator_day_default, shilian.operator_month_default;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-01-05') IS NOT NULL AS made;
SELECT shilian.batch_create(:op, :veg, '1 kg', '2026-02-01') IS NOT NULL AS made;
SELECT day, records FROM shilian.operator_day WHERE operator_id = :op ORDER BY day;
SELECT month, records FROM shilian.operator_month WHERE operator_id = :op ORDER BY month;
DROP TABLE live;
CREATE TEMP TABLE live AS SELECT * FROM shilian.operator_day;
SELECT shilian.operator_day_rebuild() > 0 AS rebuilt;
SELECT count(*) AS differing FROM ((TABLE live EXCEPT TABLE shilian.operator_day)
	UNION ALL (TABLE shilian.operator_day EXCEPT TABLE live)) x;

\c :regress_db
DROP DATABASE shilian_counters_test;
