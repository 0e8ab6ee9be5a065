-- json_limits: JSON nested deeper than the platform allows never crashes a
-- backend. jsonb input has check_stack_depth, so a document nested 200,000
-- levels deep is a clean error; where the extension parses JSON text
-- itself (the lines of a bulk upload) the platform's limit of 64 levels
-- (extension/core/jsonlimit.h, the same the gateway checks) refuses the line
-- with 54000 and the other lines of the upload are applied.
-- Runs in a database of its own so the ids and codes of other files do not shift.

SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE shilian_json_test;
\c shilian_json_test
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET search_path = public, shilian;
-- the error only, without the hint that names this server's max_stack_depth
\set VERBOSITY terse

-- through SQL: 200,000 levels is a clean error, the session goes on
SELECT (repeat('[', 200000) || repeat(']', 200000))::jsonb;
SELECT (repeat('{"a":', 200000) || '1' || repeat('}', 200000))::jsonb;
SELECT 1 AS still_here;
-- 1,000 levels parse: PostgreSQL's own bound is the stack, not a depth
SELECT jsonb_typeof((repeat('[', 1000) || repeat(']', 1000))::jsonb) AS deep_array;

-- through the extension's own parser: an upload's lines
SELECT shilian.jurisdiction_add('370000', '山东省') IS NOT NULL AS ok;
SELECT shilian.jurisdiction_add('370100', '济南市') IS NOT NULL AS ok;
SELECT shilian.jurisdiction_add('370112', '历城区') IS NOT NULL AS ok;
SELECT shilian.jurisdiction_add('370112001', '历城区洪家楼市场监管所') IS NOT NULL AS ok;
SELECT shilian.operator_register('历城绿源蔬菜合作社', 'production', '{farm}', '370112001',
	'济南市历城区港沟街道', '0531-88000001', uscc => '91370112MA3C00001X') AS farm \gset
SELECT shilian.operator_activate(:farm);
SELECT shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10,
	edible_agricultural => true) AS cabbage \gset
SELECT shilian.api_client_add('erp1', '合作社ERP');
SELECT shilian.api_client_bind('erp1', :farm);
SET ROLE shilian_system;
SELECT set_config('shilian.client', 'erp1', false);

CREATE TEMP TABLE upload (n int, line text);
INSERT INTO upload VALUES
 (1, '{"kind": "batch", "owner": ' || :farm || ', "product": ' || :cabbage || ', "qty": "500 kg", "produced_on": "2026-11-01"}'),
 -- 1,000 levels inside a field: over the limit
 (2, '{"kind": "batch", "owner": ' || :farm || ', "product": ' || :cabbage || ', "qty": "1 kg", "certificate": '
     || repeat('[', 1000) || repeat(']', 1000) || '}'),
 -- 200,000 levels: over the limit, and over the stack
 (3, repeat('[', 200000) || repeat(']', 200000)),
 -- 64 levels in all (the object is the first): within the limit
 (4, '{"kind": "batch", "owner": ' || :farm || ', "product": ' || :cabbage || ', "qty": "2 kg", "certificate": {"a": '
     || repeat('[', 62) || repeat(']', 62) || '}}'),
 -- brackets inside strings are not nesting
 (5, '{"kind": "batch", "owner": ' || :farm || ', "product": ' || :cabbage || ', "qty": "3 kg", "lot": "'
     || repeat('[', 100) || '"}');
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job FROM upload \gset
SELECT line_no, kind, status, sqlstate, message FROM shilian.import_line
 WHERE job_id = :job ORDER BY line_no;
SELECT total, accepted, refused, status FROM shilian.import_job WHERE id = :job;
RESET ROLE;

\c :regress_db
DROP DATABASE shilian_json_test;
