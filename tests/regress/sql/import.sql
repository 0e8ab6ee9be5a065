-- import: bulk upload of NDJSON records (import_ndjson, docs/integration.md).
-- Runs in a database of its own so that the records it makes do not shift
-- the ids and trace codes the other files expect.
-- A system client uploads lines of every kind; the bad lines are refused
-- one by one with their SQLSTATE and leave nothing behind, the valid ones
-- are applied; all_or_nothing applies nothing when a line is refused; a
-- repeated idempotency key returns the first job.

SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE shilian_import_test;
\c shilian_import_test
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY default

-- What the record functions write: equal before and after means unchanged.
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ',
		(SELECT count(*) FROM shilian.operator), (SELECT count(*) FROM shilian.licence),
		(SELECT count(*) FROM shilian.product),
		(SELECT count(*) FROM shilian.batch), (SELECT count(*) FROM shilian.link),
		(SELECT count(*) FROM shilian.inspection), (SELECT count(*) FROM shilian.consumption),
		(SELECT count(*) FROM shilian.ledger),
		(SELECT md5(string_agg(concat_ws(',', id, qty_left), ';' ORDER BY id)) FROM shilian.batch))
$$;

SELECT shilian.jurisdiction_add('370000', '山东省') IS NOT NULL AS ok;
SELECT shilian.jurisdiction_add('370100', '济南市') IS NOT NULL AS ok;
SELECT shilian.jurisdiction_add('370112', '历城区') IS NOT NULL AS ok;
SELECT shilian.jurisdiction_add('370112001', '历城区洪家楼市场监管所') IS NOT NULL AS ok;
SELECT shilian.operator_register('历城绿源蔬菜合作社', 'production', '{farm}', '370112001',
	'济南市历城区港沟街道', '0531-88000001', uscc => '91370112MA3C00001X') AS farm \gset
SELECT shilian.operator_register('济南泉城农产品批发有限公司', 'circulation', '{wholesaler}', '370112001',
	'济南市历城区1号', '0531-88000002', uscc => '91370102MA3C00002H') AS wholesaler \gset
SELECT shilian.operator_register('别家超市', 'circulation', '{retailer}', '370112001',
	'济南市历城区2号', '0531-88000003', uscc => '91370112MA3C000047') AS other \gset
SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
SELECT shilian.licence_add(:wholesaler, 'JY13701020000018', '{vegetables}', '2024-01-01', '2028-12-31') > 0 AS ok;
SELECT shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10,
	edible_agricultural => true) AS cabbage \gset
SELECT shilian.api_client_add('erp1', '合作社ERP');
SELECT shilian.api_client_bind('erp1', :farm);
SELECT shilian.api_client_bind('erp1', :wholesaler);
SELECT shilian.api_client_add('erp2', '别家ERP');
-- a batch of the other operator, not bound to erp1
SELECT shilian.batch_create(:other, :cabbage, '50 kg', '2026-11-01') AS foreign_code \gset
-- a code no batch has
SELECT shilian.trace_code_next('370112') AS unknown_code \gset

-- The system client erp1 records for its operators.
SET ROLE shilian_system;
SELECT set_config('shilian.client', 'erp1', false);
SELECT shilian.batch_create(:farm, :cabbage, '1 t', '2026-11-01', lot => 'LY-1101') AS a \gset
SELECT shilian.ship(:'a', :wholesaler, '100 kg', '2026-11-02') AS pending_link \gset

-- ---- apply_valid ------------------------------------------------------------
CREATE TEMP TABLE upload (n int, line text);
GRANT SELECT ON upload TO PUBLIC;
INSERT INTO upload VALUES
 (1, '{"kind": "batch", "owner": ' || :farm || ', "product": ' || :cabbage || ', "qty": "500 kg", "produced_on": "2026-11-01", "lot": "LY-1101b"}'),
 (2, '{"kind": "ship", "code": "' || :'a' || '", "buyer": ' || :wholesaler || ', "qty": "200 kg", "shipped_on": "2026-11-02"}'),
 (3, '{"kind": "ship", "code": "' || :'a' || '", "buyer": ' || :wholesaler || ', "qty": "2 t", "shipped_on": "2026-11-02"}'),
 (4, '{"kind": "ship", "code": "' || :'unknown_code' || '", "buyer": ' || :wholesaler || ', "qty": "1 kg"}'),
 (5, '{"kind": "ship", "code": "' || :'a' || '", "buyer": ' || :wholesaler || ', "qty": "10 kgs"}'),
 (6, '{"kind": "ship", "code": "' || :'a' || '", '),
 (7, '{"kind": "harvest", "owner": 1}'),
 (8, '{"kind": "consume", "code": "' || :'a' || '", "qty": "5 kg"}'),
 (9, '{"kind": "consume", "code": "' || :'a' || '", "qty": "5 kg", "consumption_kind": "sample_kept", "colour": "green"}'),
 (10, '{"kind": "consume", "code": "' || :'a' || '", "qty": "5 kg", "consumption_kind": "sample_kept", "at": "2026-11-02T12:00:00+08:00"}'),
 (11, '{"kind": "inspection", "code": "' || :'a' || '", "inspection_kind": "release", "result": "pass", "report": {"certificate_no": "LY-QC-1", "inspector": "赵六"}, "inspected_at": "2026-11-01T18:00:00+08:00"}'),
 (12, '   '),
 (13, '{"kind": "receive", "link": ' || :pending_link || ', "qty": "100 kg", "inspection": {"inspector": "李四"}, "received_at": "2026-11-02T15:00:00+08:00"}'),
 (14, '[1, 2]'),
 (15, '{"kind": "consume", "code": "' || :'foreign_code' || '", "qty": "1 kg", "consumption_kind": "destroyed", "operator": ' || :other || '}'),
 (16, '{"kind": "transform", "inputs": ["' || :'a' || '"], "qtys": ["50 kg"], "product": ' || :cabbage || ', "qty": "50 kg", "produced_on": "2026-11-02", "operator": ' || :farm || '}'),
 (17, '{"kind": "ship", "code": "' || :'a' || '", "buyer": ' || :wholesaler || ', "qty": "1 L", "shipped_on": "2026-11-02"}'),
 (18, '{"qty": "1 kg"}');
SELECT pg_temp.state() AS before \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n) || E'\n') AS job FROM upload \gset
-- exactly the bad lines are refused, each with its SQLSTATE and message
SELECT line_no, kind, status, sqlstate, message FROM shilian.import_line
 WHERE job_id = :job ORDER BY line_no;
-- the accepted lines carry their new trace code or id
SELECT line_no, result ~ '^[0-9]+$' AS id, length(result) AS len FROM shilian.import_line
 WHERE job_id = :job AND status = 'accepted' ORDER BY line_no;
SELECT total, done, accepted, refused, status, mode, finished_at IS NOT NULL AS finished
  FROM shilian.import_job WHERE id = :job;
-- they were applied: batch a lost 200 + 5 + 50 kg (ship, sample, transform)
SELECT qty_left FROM shilian.batch WHERE trace_code = :'a'::shilian.trace_code;
SELECT b.lot, b.qty FROM shilian.batch b JOIN shilian.import_line l
    ON l.result = b.trace_code::text WHERE l.job_id = :job ORDER BY l.line_no;
SELECT status, qty_accepted FROM shilian.link WHERE id = :pending_link;
-- import_status and import_lines are the report as JSON (the REST answers)
SELECT shilian.import_status(:job) - 'id' - 'created_at' - 'finished_at' AS status;
SELECT jsonb_array_length(shilian.import_lines(:job)) AS lines,
       jsonb_array_length(shilian.import_lines(:job, 'refused')) AS refused;
SELECT shilian.import_lines(:job, 'refused') -> 0 AS first_refused;

-- ---- all_or_nothing ---------------------------------------------------------
SELECT pg_temp.state() AS before \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n), 'all_or_nothing') AS job2
  FROM upload WHERE n IN (1, 2, 3, 10) \gset
-- nothing applied: the valid lines are reported rolled_back, without a result
SELECT pg_temp.state() = :'before' AS unchanged;
SELECT line_no, status, result, sqlstate FROM shilian.import_line WHERE job_id = :job2 ORDER BY line_no;
SELECT total, accepted, refused, status FROM shilian.import_job WHERE id = :job2;
-- all valid: all_or_nothing applies everything
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n), 'all_or_nothing') AS job3
  FROM upload WHERE n IN (1, 10) \gset
SELECT total, accepted, refused, status FROM shilian.import_job WHERE id = :job3;
-- import_upload (POST /v1/import) answers with the job's status
SELECT shilian.import_upload(line) - 'id' - 'created_at' - 'finished_at' AS answer FROM upload WHERE n = 10;
SELECT pg_temp.state() = :'before' AS unchanged;

-- ---- first entries, rejections and references to earlier lines (issue 25) -----
-- A first entry (a receipt from a supplier with no records) and a
-- rejection are line kinds too; a ship, inspection or consume line names
-- the lot an earlier line made by "code_ref", a reject line the sale an
-- earlier ship line made by "link_ref". Line 1 harvests, line 2 ships
-- what line 1 made, line 3 refuses it; line 4 is a first entry, line 5
-- inspects its lot and line 6 sells from it; line 7 names a refused
-- line, line 8 a line that made no batch, line 9 gives both code and
-- code_ref, line 10 puts code_ref on a kind without a lot, line 11 rejects
-- a sale line 4 did not make.
CREATE TEMP TABLE refs (n int, line text);
GRANT SELECT ON refs TO PUBLIC;
INSERT INTO refs VALUES
 (1, '{"kind": "batch", "owner": ' || :farm || ', "product": ' || :cabbage || ', "qty": "300 kg", "produced_on": "2026-11-03", "lot": "LY-1103"}'),
 (2, '{"kind": "ship", "code_ref": 1, "buyer": ' || :wholesaler || ', "qty": "100 kg", "shipped_on": "2026-11-03"}'),
 (3, '{"kind": "reject", "link_ref": 2, "reject_reason": "叶片发黄", "rejected_at": "2026-11-04T08:00:00+08:00"}'),
 (4, '{"kind": "first_entry", "buyer": ' || :wholesaler || ', "product": ' || :cabbage || ', "qty": "40 kg", "supplier": {"name": "赵农", "contact": "13900000001"}, "inspection": {"inspector": "李四"}, "produced_on": "2026-11-03", "received_at": "2026-11-03T07:00:00+08:00"}'),
 (5, '{"kind": "inspection", "code_ref": 4, "inspection_kind": "sampling", "result": "pass", "report": {"agency": "济南食检", "report_no": "R-1"}, "inspected_at": "2026-11-03T09:00:00+08:00"}'),
 (6, '{"kind": "ship", "code_ref": 4, "buyer": ' || :farm || ', "qty": "10 kg", "shipped_on": "2026-11-03"}'),
 (7, '{"kind": "consume", "code_ref": 8, "qty": "1 kg", "consumption_kind": "destroyed"}'),
 (8, '{"kind": "consume", "code_ref": 3, "qty": "1 kg", "consumption_kind": "destroyed"}'),
 (9, '{"kind": "consume", "code": "' || :'a' || '", "code_ref": 1, "qty": "1 kg", "consumption_kind": "destroyed"}'),
 (10, '{"kind": "receive", "code_ref": 1, "qty": "1 kg", "inspection": {}}'),
 (11, '{"kind": "reject", "link_ref": 4, "reject_reason": "x"}');
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS jobr FROM refs \gset
SELECT line_no, kind, status, sqlstate, message FROM shilian.import_line WHERE job_id = :jobr ORDER BY line_no;
-- line 2 shipped from line 1's lot and line 3 rejected that sale: the lot
-- has its 300 kg again; line 6 shipped from line 4's first entry
SELECT b.qty_left, l.status, l.reject_reason
  FROM shilian.import_line r1 JOIN shilian.batch b ON b.trace_code::text = r1.result
  JOIN shilian.link l ON l.from_batch = b.id
 WHERE r1.job_id = :jobr AND r1.line_no = 1;
SELECT b.origin, b.qty_left, (SELECT count(*) FROM shilian.inspection i WHERE i.batch_id = b.id) AS inspections
  FROM shilian.import_line r4 JOIN shilian.batch b ON b.trace_code::text = r4.result
 WHERE r4.job_id = :jobr AND r4.line_no = 4;

-- ---- idempotency key ---------------------------------------------------------
SELECT shilian.import_ndjson(line, 'apply_valid', 'upload-2026-11-02') AS job4
  FROM upload WHERE n = 1 \gset
SELECT pg_temp.state() AS before \gset
-- the same upload again: the first job, nothing applied
SELECT shilian.import_ndjson(line, 'apply_valid', 'upload-2026-11-02') = :job4 AS same_job
  FROM upload WHERE n = 1;
SELECT pg_temp.state() = :'before' AS unchanged;
SELECT count(*) FROM shilian.import_job WHERE idempotency_key = 'upload-2026-11-02';
-- the key with another body: refused (SLI01)
SELECT shilian.import_ndjson(line, 'apply_valid', 'upload-2026-11-02') FROM upload WHERE n = 10;
\echo :LAST_ERROR_SQLSTATE
-- the key with another mode: refused too
SELECT shilian.import_ndjson(line, 'all_or_nothing', 'upload-2026-11-02') FROM upload WHERE n = 1;
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.state() = :'before' AS unchanged;

-- ---- refusals of the whole upload --------------------------------------------
-- an unknown mode
SELECT shilian.import_ndjson('{}', 'best_effort');
\echo :LAST_ERROR_SQLSTATE

-- ---- who sees which jobs -------------------------------------------------------
SELECT count(*) AS erp1_jobs FROM shilian.import_job;
SELECT count(*) > 0 AS erp1_lines FROM shilian.import_line;
-- another client sees none of them, nor their lines
SELECT set_config('shilian.client', 'erp2', false);
SELECT count(*) AS erp2_jobs FROM shilian.import_job;
SELECT count(*) AS erp2_lines FROM shilian.import_line;
SELECT shilian.import_status(:job) IS NULL AS hidden, shilian.import_lines(:job) AS lines;
-- erp2 records nothing for erp1's operators through an upload (42501 per line)
SELECT shilian.import_ndjson(line) AS job5 FROM upload WHERE n = 1 \gset
SELECT line_no, status, sqlstate FROM shilian.import_line WHERE job_id = :job5;
-- an operator sees only its own uploads
RESET ROLE;
SET ROLE shilian_operator;
SELECT set_config('shilian.client', '', false), set_config('shilian.operator_id', :'farm', false);
SELECT count(*) AS farm_jobs FROM shilian.import_job;
SELECT shilian.import_ndjson(line) AS job6 FROM upload WHERE n = 10 \gset
SELECT id = :job6 AS own, role_name, operator_id = :farm AS farm, client, status, accepted
  FROM shilian.import_job;
-- the public may not upload
RESET ROLE;
SET ROLE shilian_public;
SELECT shilian.import_ndjson('{}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM shilian.import_job;
\echo :LAST_ERROR_SQLSTATE
-- admin sees every job
RESET ROLE;
SET ROLE shilian_admin;
SELECT count(*) AS all_jobs FROM shilian.import_job;
RESET ROLE;

\c :regress_db
DROP DATABASE shilian_import_test;
