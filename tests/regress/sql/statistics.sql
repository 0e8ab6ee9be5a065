-- statistics: the demo province (tests/demo/province.sql, what `make run`
-- loads) mixes units and regions, and VACUUM ANALYZE of every table of the
-- schema succeeds on it: the qty btree order is total, so ANALYZE's sort of a
-- column holding kilograms, litres and pieces never fails, and pg_stats then
-- covers batch, link and consumption (the planner no longer runs blind).
-- Only counts and booleans are printed: the demo's dates are relative to today.
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE shilian_statistics_test;
\c shilian_statistics_test
SET client_min_messages = warning;
CREATE EXTENSION shilian;
-- a session far from the platform's zone: the demo's days are China days
SET timezone = 'America/New_York';
\set ECHO none
\o /dev/null
\i tests/demo/province.sql
\o
\set ECHO all
SET search_path = public, shilian;
-- Registry changes in this file take effect on 2026-01-01 (the admin's dated
-- entry, shilian.registry_time): the figures of a month read the registry as
-- it stood at the month's end (docs/regulator.md), and the records are of 2026.
SET shilian.registry_time = '2026-01-01 00:00+08';

-- the whole demo loaded (its last parts: EPCIS events, findings' operator)
SELECT (SELECT count(*) FROM shilian.operator) AS operators, (SELECT count(*) FROM shilian.epcis_event) AS epcis_events;
-- the demo mixes the three dimensions in one column, and cities
SELECT count(DISTINCT qty_dimension(qty)) AS batch_dimensions,
       count(DISTINCT qty_dimension(qty_left)) AS left_dimensions FROM shilian.batch;
SELECT count(DISTINCT qty_dimension(qty_shipped)) AS link_dimensions FROM shilian.link;
SELECT count(DISTINCT qty_dimension(qty)) >= 2 AS consumption_mixes FROM shilian.consumption;
SELECT count(DISTINCT left(j.code, 4)) >= 2 AS several_cities, count(DISTINCT left(j.code, 2)) AS provinces
  FROM shilian.operator o JOIN shilian.jurisdiction j ON j.code = o.station;

-- VACUUM ANALYZE of every table of the schema (one statement each, as
-- autovacuum runs them); a failure would stop the file here. A partitioned
-- table's statement takes its partitions (the ledger's months, named by the
-- date: not listed).
SELECT format('VACUUM ANALYZE shilian.%I', c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'shilian' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname \gexec
-- and once over the whole database
ANALYZE;

-- statistics exist for the qty columns and the tables the trace walks use
SELECT s.tablename, s.attname, s.null_frac IS NOT NULL AS has_stats
  FROM (VALUES ('batch', 'qty'), ('batch', 'qty_left'), ('link', 'qty_shipped'), ('link', 'qty_accepted'),
               ('link', 'from_batch'), ('link', 'to_batch'), ('consumption', 'qty'), ('consumption', 'batch_id')) v(t, a)
  LEFT JOIN pg_stats s ON s.schemaname = 'shilian' AND s.tablename = v.t AND s.attname = v.a
 ORDER BY v.t, v.a;
-- the qty columns have an ordered histogram or most common values (the sort ran)
SELECT tablename, attname, histogram_bounds IS NOT NULL OR most_common_vals IS NOT NULL AS ordered
  FROM pg_stats WHERE schemaname = 'shilian' AND tablename IN ('batch', 'link', 'consumption')
   AND attname IN ('qty', 'qty_left', 'qty_shipped') ORDER BY 1, 2;
-- every table of the schema has been analyzed
SELECT count(*) FILTER (WHERE last_analyze IS NULL) AS never_analyzed
  FROM pg_stat_user_tables WHERE schemaname = 'shilian';

\c :regress_db
DROP DATABASE shilian_statistics_test;
