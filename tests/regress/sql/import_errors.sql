-- import_errors: what an error during a bulk import does. A refusal (a
-- business rule, a bad literal, a constraint) refuses its line and leaves
-- nothing of it behind, even when raised after the line's record was
-- written; any other error (a serialization failure, a statement timeout)
-- fails the whole import instead of being reported as a refused line, in
-- both modes, and leaves the caller's own savepoint usable.
-- Dates are fixed and in the past: nothing here depends on the day it runs.
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE shilian_import_errors_test;
\c shilian_import_errors_test
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY terse

SELECT shilian.jurisdiction_add(c, n) IS NOT NULL AS ok FROM (VALUES ('370000', '山东省'),
	('370100', '济南市'), ('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
SELECT shilian.operator_register('加工厂', 'production', '{processor}', '370112001', 'a', '1', reg_card => 'E-1') AS mill \gset
SELECT shilian.operator_register('批发商', 'circulation', '{wholesaler}', '370112001', 'b', '2', reg_card => 'E-2') AS wh \gset
SELECT count(shilian.operator_activate(o)) FROM unnest(ARRAY[:mill, :wh]::bigint[]) o;
SELECT shilian.licence_add(:mill, 'JY13701020000018', '{grain}', '2020-01-01', '2099-12-31') > 0 AS ok;
SELECT shilian.product_register('面粉', 'grain') AS flour \gset
SELECT shilian.batch_create(:mill, :flour, '1 t', '2024-01-01')::text AS a \gset

-- A trigger that stands for whatever else can go wrong while a record is
-- written: it runs after the consumption row (and the batch's balance) is
-- written, and fails by the note the line gives.
CREATE FUNCTION public.consumption_trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	CASE NEW.note
	WHEN 'refuse after write' THEN
		RAISE EXCEPTION 'consumption refused after its write' USING ERRCODE = 'check_violation';
	WHEN 'serialize' THEN
		RAISE EXCEPTION 'simulated serialization failure' USING ERRCODE = 'serialization_failure';
	WHEN 'damaged' THEN
		RAISE EXCEPTION 'simulated damaged chain' USING ERRCODE = 'SLL10';
	WHEN 'cancel' THEN
		-- what a statement timeout or pg_cancel_backend raises (a real timer
		-- would not fire under the suite's faketime rerun)
		RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = 'query_canceled';
	ELSE
	END CASE;
	RETURN NULL;
END
$$;
CREATE TRIGGER consumption_trap AFTER INSERT ON shilian.consumption
	FOR EACH ROW EXECUTE FUNCTION public.consumption_trap();

-- The outcome of an upload, errors included (query_canceled is not in OTHERS).
CREATE FUNCTION pg_temp.outcome(body text, mode text DEFAULT 'apply_valid') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	job bigint;
	st text;
	msg text;
	r record;
BEGIN
	job := shilian.import_ndjson(body, mode);
	SELECT * INTO r FROM shilian.import_job WHERE id = job;
	RETURN format('%s: %s accepted, %s refused', r.status, r.accepted, r.refused);
EXCEPTION WHEN OTHERS OR query_canceled THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN format('failed: %s %s', st, msg);
END
$$;

CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM shilian.link) AS links, (SELECT count(*) FROM shilian.batch) AS batches,
       (SELECT count(*) FROM shilian.inspection) AS inspections,
       (SELECT count(*) FROM shilian.consumption) AS consumptions,
       (SELECT count(*) FROM shilian.ledger) AS entries,
       (SELECT count(*) FROM shilian.import_job) AS jobs,
       (SELECT qty_left FROM shilian.batch WHERE trace_code = :'a'::shilian.trace_code) AS a_left;

-- ---- refused lines leave nothing behind ----------------------------------------
-- valid lines around refused ones of every path: a rule of the in-memory
-- check (3, 7), a line that does not parse (4, 8: the lines after it are
-- still parsed and applied), and a record function whose write is undone by
-- a refusal raised after it (2)
CREATE TEMP TABLE upload (n int, line text);
INSERT INTO upload VALUES
 (1, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "10 kg", "shipped_on": "2024-02-01"}', :'a', :wh)),
 (2, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "destroyed", "at": "2024-02-01T10:00:00+08:00", "note": "refuse after write"}', :'a')),
 (3, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "2 t", "shipped_on": "2024-02-01"}', :'a', :wh)),
 (4, '{"kind": "ship", "code": '),
 (5, format('{"kind": "consume", "code": "%s", "qty": "2 kg", "consumption_kind": "destroyed", "at": "2024-02-01T10:00:00+08:00", "note": "fine"}', :'a')),
 (6, '{"kind": "receive", "link_ref": 1, "qty": "10 kg", "inspection": {"inspector": "李四"}, "received_at": "2024-02-02T09:00:00+08:00"}'),
 (7, '{"kind": "receive", "link_ref": 1, "qty": "10 kg", "inspection": {"inspector": "李四"}, "received_at": "2024-02-02T09:00:00+08:00"}'),
 (8, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "3 kgs"}', :'a', :wh)),
 (9, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "5 kg", "shipped_on": "2024-02-03"}', :'a', :wh));
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job FROM upload \gset
SELECT line_no, kind, status, sqlstate FROM shilian.import_line WHERE job_id = :job ORDER BY line_no;
SELECT message FROM shilian.import_line WHERE job_id = :job AND line_no = 2;
-- what was written is exactly what the accepted lines write: two sales (1, 9),
-- one receipt (6: a batch, an inspection), one consumption (5), a ledger
-- entry each; the balance moved by 10 + 2 + 5 kg only (not by line 2's 1 kg)
SELECT (SELECT count(*) FROM shilian.link) - links AS new_links,
       (SELECT count(*) FROM shilian.batch) - batches AS new_batches,
       (SELECT count(*) FROM shilian.inspection) - inspections AS new_inspections,
       (SELECT count(*) FROM shilian.consumption) - consumptions AS new_consumptions,
       (SELECT count(*) FROM shilian.ledger) - entries AS new_entries,
       (SELECT count(*) FROM shilian.consumption WHERE note = 'refuse after write') AS orphan_consumptions,
       a_left OPERATOR(shilian.-) (SELECT qty_left FROM shilian.batch WHERE trace_code = :'a'::shilian.trace_code) AS a_used
  FROM before;
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

-- a receipt naming link -1 is refused as receive(-1, ...) refuses it, not
-- taken for the sale that line 1 of the same upload makes
SELECT shilian.import_ndjson(format(E'{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "shipped_on": "2024-02-03"}\n'
	'{"kind": "receive", "link": -1, "qty": "1 kg", "inspection": {"inspector": "李四"}}', :'a', :wh)) AS job \gset
SELECT line_no, status, sqlstate, message FROM shilian.import_line WHERE job_id = :job ORDER BY line_no;

-- ---- other errors fail the whole import ----------------------------------------
TRUNCATE before;
INSERT INTO before
SELECT (SELECT count(*) FROM shilian.link), (SELECT count(*) FROM shilian.batch),
       (SELECT count(*) FROM shilian.inspection), (SELECT count(*) FROM shilian.consumption),
       (SELECT count(*) FROM shilian.ledger), (SELECT count(*) FROM shilian.import_job),
       (SELECT qty_left FROM shilian.batch WHERE trace_code = :'a'::shilian.trace_code);
-- a serialization failure is no refused line, in either mode (a refusal next to it is)
SELECT pg_temp.outcome(format(E'{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "shipped_on": "2024-02-03"}\n'
	'{"kind": "ship", "code": "%s", "buyer": %s, "qty": "9 t"}\n'
	'{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "destroyed", "note": "serialize"}',
	:'a', :wh, :'a', :wh, :'a'), mode) AS outcome
  FROM unnest(ARRAY['apply_valid', 'all_or_nothing']) mode;
-- nor is an error of the ledger's class (not a business rule of the line)
SELECT pg_temp.outcome(format(E'{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "shipped_on": "2024-02-03"}\n'
	'{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "destroyed", "note": "damaged"}',
	:'a', :wh, :'a')) AS outcome;
-- the same upload without the failing line: refused line reported, job kept
SELECT pg_temp.outcome(format(E'{"kind": "ship", "code": "%s", "buyer": %s, "qty": "9 t"}', :'a', :wh)) AS outcome;
-- a cancel (57014) during a line's write fails the import
SELECT pg_temp.outcome(format(E'{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "shipped_on": "2024-02-03"}\n'
	'{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "destroyed", "note": "cancel"}',
	:'a', :wh, :'a')) AS outcome;
-- nothing of the failed imports remains (the one refused-only job does)
SELECT (SELECT count(*) FROM shilian.link) - links AS new_links,
       (SELECT count(*) FROM shilian.consumption) - consumptions AS new_consumptions,
       (SELECT count(*) FROM shilian.ledger) - entries AS new_entries,
       (SELECT count(*) FROM shilian.import_job) - jobs AS new_jobs,
       (SELECT qty_left FROM shilian.batch WHERE trace_code = :'a'::shilian.trace_code) = a_left AS balance_kept
  FROM before;
-- the session goes on: the failed all_or_nothing import closed its own subtransaction
SELECT pg_temp.outcome(format(E'{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "shipped_on": "2024-02-03"}', :'a', :wh),
	'all_or_nothing') AS outcome;
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

\c :regress_db
DROP DATABASE shilian_import_errors_test;
