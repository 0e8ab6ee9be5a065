-- strict_input: the one reading of dates and timestamps from user text
-- (strict_date, strict_timestamptz; extension/core/strictdate.c). A date is
-- YYYY-MM-DD with a real day; a timestamp is RFC 3339 with its offset, and
-- the same text gives the same instant in any session TimeZone. Bulk
-- import lines (the record functions' JSON, and the set-based ship and
-- receive) refuse a loose form with the SLD code naming the field.
-- Dates are fixed and in the past: nothing here depends on the day it runs.
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE shilian_strict_input_test;
\c shilian_strict_input_test
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY terse

-- the SQLSTATE and message of a statement, or ok
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;

-- ---- dates ------------------------------------------------------------------------
SELECT v, shilian.strict_date(v)::text AS d
  FROM unnest(ARRAY['2026-01-12', '2024-02-29', '2000-02-29', '0001-01-01', '9999-12-31']) v;
SELECT v, pg_temp.try(format('SELECT shilian.strict_date(%L, %L)', v, 'produced_on')) AS refused
  FROM unnest(ARRAY['01/12/2026', '2026-1-2', 'yesterday', 'today', 'now', 'epoch', '2026-02-30',
	'2025-02-29', '2026-13-01', '20260112', '2026-01-12 ', '2026-01-12T00:00:00Z', '']) v;
SELECT shilian.strict_date(NULL) IS NULL AS null_is_null, shilian.strict_date('2026-01-12', NULL) AS no_field;
SELECT pg_temp.try($$SELECT shilian.strict_date('12.01.2026')$$) AS without_field;

-- ---- timestamps: the same instant in any session zone ----------------------------------
SET timezone = 'Asia/Shanghai';
CREATE TEMP TABLE inst AS SELECT v, shilian.strict_timestamptz(v) AS shanghai
  FROM unnest(ARRAY['2026-01-12T08:30:00+08:00', '2026-01-12T00:30:00Z', '2026-01-12t00:30:00z',
	'2026-01-12 08:30:00+08:00', '2026-01-11T19:30:00-05:00', '2026-01-12T00:30:00.000000Z',
	'2026-01-12T00:30:00.0000004Z', '2026-01-12T00:29:59.9999996Z']) v;
SET timezone = 'America/New_York';
ALTER TABLE inst ADD new_york timestamptz;
UPDATE inst SET new_york = shilian.strict_timestamptz(v);
SET timezone = 'UTC';
SELECT v, shanghai = new_york AS same_in_any_zone, shanghai = '2026-01-12 00:30:00+00' AS instant FROM inst;
SELECT shilian.strict_timestamptz('2026-01-12T00:30:00.123456Z')::text AS micro,
	shilian.strict_timestamptz('2026-12-31T23:59:60Z')::text AS leap_second,
	shilian.strict_timestamptz('2026-01-12T10:00:00-00:00')::text AS minus_zero;
SELECT v, pg_temp.try(format('SELECT shilian.strict_timestamptz(%L, %L)', v, 'received_at')) AS refused
  FROM unnest(ARRAY['2026-01-12 10:00:00', '2026-01-12T10:00:00', '2026-01-12', 'now', 'yesterday',
	'2026-01-12T10:00Z', '2026-01-12 10:00+08', '2026-01-12T10:00:00+0800', '01/12/2026 10:00:00Z',
	'2026-01-12T24:00:00Z', '2026-01-12T10:00:00+24:00', '2026-02-30T10:00:00Z',
	'2026-01-12T10:00:00.1234567890Z']) v;
RESET timezone;

-- ---- bulk import: each line's dates and times, refused with the field named -------------
SELECT shilian.jurisdiction_add(c, n) IS NOT NULL AS ok FROM (VALUES ('370000', '山东省'),
	('370100', '济南市'), ('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
SELECT shilian.operator_register('加工厂', 'production', '{processor}', '370112001', 'a', '1', reg_card => 'S-1') AS mill \gset
SELECT shilian.operator_register('批发商', 'circulation', '{wholesaler}', '370112001', 'b', '2', reg_card => 'S-2') AS wh \gset
SELECT count(shilian.operator_activate(o)) FROM unnest(ARRAY[:mill, :wh]::bigint[]) o;
SELECT shilian.licence_add(:mill, 'JY13701020000018', '{grain}', '2020-01-01', '2099-12-31') > 0 AS ok;
SELECT shilian.product_register('面粉', 'grain') AS flour \gset
SELECT shilian.batch_create(:mill, :flour, '1 t', '2024-01-01')::text AS a \gset
SELECT shilian.ship(:'a', :wh, '100 kg', '2024-01-02') AS l1 \gset

SET timezone = 'Pacific/Kiritimati';	-- +14: a time read in the session zone would show
CREATE TEMP TABLE upload (n int, line text);
INSERT INTO upload VALUES
 (1, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "2024-01-05"}', :mill, :flour)),
 (2, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "01/12/2024"}', :mill, :flour)),
 (3, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "yesterday"}', :mill, :flour)),
 (4, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "expires_on": "2024-02-30"}', :mill, :flour)),
 (5, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "shipped_on": "2024-1-3"}', :'a', :wh)),
 (6, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "shipped_on": "today"}', :'a', :wh)),
 (7, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "shipped_on": "2024-01-03"}', :'a', :wh)),
 (8, format('{"kind": "receive", "link": %s, "qty": "100 kg", "inspection": {"inspector": "李四"}, "received_at": "2024-01-03 10:00:00"}', :l1)),
 (9, format('{"kind": "receive", "link": %s, "qty": "100 kg", "inspection": {"inspector": "李四"}, "received_at": "2024-01-03T10:00:00+08:00"}', :l1)),
 (10, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "sample_kept", "at": "2024-01-04"}', :'a')),
 (11, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "sample_kept", "at": "2024-01-04T09:00:00Z"}', :'a')),
 (12, format('{"kind": "licence", "operator": %s, "licence_no": "JY13701020000026", "scope": ["grain"], "valid_from": "2024/01/01", "valid_to": "2030-12-31"}', :wh));
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job FROM upload \gset
SELECT total, accepted, refused, status FROM shilian.import_job WHERE id = :job;
SELECT line_no, kind, status, sqlstate, message FROM shilian.import_line WHERE job_id = :job ORDER BY line_no;
-- what the accepted lines recorded, whatever the session zone
SET timezone = 'UTC';
SELECT produced_on FROM shilian.batch WHERE trace_code = (SELECT result FROM shilian.import_line WHERE job_id = :job AND line_no = 1)::shilian.trace_code;
SELECT shipped_on FROM shilian.link WHERE id = (SELECT result::bigint FROM shilian.import_line WHERE job_id = :job AND line_no = 7);
SELECT received_at FROM shilian.link WHERE id = :l1;
SELECT consumed_at AS at FROM shilian.consumption WHERE id = (SELECT result::bigint FROM shilian.import_line WHERE job_id = :job AND line_no = 11);
RESET timezone;

\c :regress_db
DROP DATABASE shilian_strict_input_test;
