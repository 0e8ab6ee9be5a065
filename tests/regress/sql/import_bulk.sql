-- import_bulk: the set-based path of import_apply gives every refused line
-- exactly the SQLSTATE and message the single-record function gives for the
-- same input in the same state, for every refusal of ship and receive (and
-- the kinds it passes to their record function); the chains still verify;
-- receive lines name sales of the same upload with link_ref.
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE shilian_import_bulk_test;
\c shilian_import_bulk_test
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY default

SELECT shilian.jurisdiction_add(c, n) IS NOT NULL AS ok FROM (VALUES ('370000', '山东省'),
	('370100', '济南市'), ('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
SELECT shilian.operator_register('加工厂', 'production', '{processor}', '370112001', 'a', '1', reg_card => 'B-1') AS mill \gset
SELECT shilian.operator_register('批发商', 'circulation', '{wholesaler}', '370112001', 'b', '2', reg_card => 'B-2') AS wh \gset
SELECT shilian.operator_register('未激活', 'circulation', '{retailer}', '370112001', 'c', '3', reg_card => 'B-3') AS dormant \gset
SELECT shilian.operator_register('无证', 'production', '{processor}', '370112001', 'd', '4', reg_card => 'B-4') AS nolic \gset
SELECT shilian.operator_register('错范围', 'production', '{processor}', '370112001', 'e', '5', reg_card => 'B-5') AS scope \gset
SELECT count(shilian.operator_activate(o)) FROM unnest(ARRAY[:mill, :wh, :nolic, :scope]::bigint[]) o;
SELECT shilian.licence_add(:mill, 'JY13701020000018', '{grain}', '2020-01-01', '2099-12-31') > 0 AS ok;
SELECT shilian.licence_add(:scope, 'JY13701020000026', '{dairy}', '2020-01-01', '2099-12-31') > 0 AS ok;
SELECT shilian.product_register('面粉', 'grain', shelf_life_days => 180) AS flour \gset
SELECT shilian.product_register('牛奶', 'dairy', shelf_life_days => 7) AS milk \gset
-- Dates that reach the messages are fixed and in the past (the output holds on
-- any day); 'a' keeps until 2099 so that lines without a date ship it today.
SELECT shilian.batch_create(:mill, :flour, '1 t', '2026-01-10', expires_on => '2099-12-31')::text AS a \gset
SELECT shilian.batch_create(:mill, :milk, '100 L', '2020-01-01', expires_on => '2020-01-11')::text AS old \gset
SELECT shilian.batch_create(:nolic, :flour, '1 t', current_date - 10)::text AS nl \gset
SELECT shilian.batch_create(:scope, :flour, '1 t', current_date - 10)::text AS sc \gset
SELECT shilian.batch_create(:wh, :milk, '10 L', current_date - 1)::text AS whmilk \gset
SELECT shilian.ship(:'a', :wh, '100 kg', '2026-01-11') AS l1 \gset
SELECT shilian.ship(:'a', :wh, '100 kg', '2026-01-11') AS l2 \gset
SELECT shilian.ship(:'a', :wh, '100 kg', '2026-01-11') AS l3 \gset
SELECT shilian.receive(:l3, '100 kg', '{"inspector": "王五"}', now()) IS NOT NULL AS received;
SELECT shilian.trace_code_next('370112')::text AS nobatch \gset

-- One line per refusal of ship and receive, valid lines between them, and
-- lines of other kinds (applied by their record function).
CREATE TEMP TABLE upload (n int, line text);
INSERT INTO upload VALUES
 (1, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "10 kg"}', :'a', :wh)),
 (2, format('{"kind": "ship", "code": "%s", "buyer": 999999, "qty": "1 kg"}', :'a')),                 -- SLR01
 (3, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg"}', :'a', :dormant)),           -- SLR02
 (4, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg"}', :'nobatch', :wh)),          -- SLR03
 (5, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "seller": %s}', :'a', :wh, :nolic)), -- SLR04
 (6, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "691 kg"}', :'a', :wh)),              -- SLR05 (690 kg left after line 1)
 (7, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 L"}', :'a', :wh)),                 -- SLR06
 (8, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "shipped_on": "2000-01-01"}', :'a', :wh)), -- SLR07
 (9, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 L", "shipped_on": "2020-02-01"}', :'old', :wh)), -- SLR08
 (10, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg"}', :'nl', :wh)),              -- SLR09
 (11, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg"}', :'sc', :wh)),              -- SLR10
 (12, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg"}', :'a', :mill)),             -- SLR11
 (13, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "0 kg"}', :'a', :wh)),               -- SLR16
 (14, format('{"kind": "receive", "link": %s, "qty": "100 kg", "inspection": {"inspector": "李四"}}', :l3)),  -- SLR13
 (15, '{"kind": "receive", "link": 999999, "qty": "1 kg", "inspection": {"inspector": "李四"}}'),      -- SLR14
 (16, format('{"kind": "receive", "link": %s, "qty": "100 kg", "inspection": {"by": "李四"}}', :l1)),  -- SLR15
 (17, format('{"kind": "receive", "link": %s, "qty": "90 kg", "inspection": {"inspector": "李四"}}', :l1)), -- SLR15 (no reason)
 (18, format('{"kind": "receive", "link": %s, "qty": "200 kg", "inspection": {"inspector": "李四"}}', :l1)), -- SLR17
 (19, format('{"kind": "receive", "link": %s, "qty": "-1 kg", "inspection": {"inspector": "李四"}}', :l1)), -- SLR16
 (20, format('{"kind": "receive", "link": %s, "qty": "1 L", "inspection": {"inspector": "李四"}}', :l1)),   -- SLR06
 (21, format('{"kind": "receive", "link": %s, "qty": "100 kg", "inspection": {"inspector": "李四"}, "received_at": "2000-01-01T00:00:00+08:00"}', :l1)), -- SLR07
 (22, format('{"kind": "receive", "link": %s, "qty": "90 kg", "inspection": {"inspector": "李四"}, "reject_reason": "damp"}', :l1)),
 (23, format('{"kind": "receive", "link": %s, "qty": "90 kg", "inspection": {"inspector": "李四"}, "reject_reason": "damp"}', :l1)), -- SLR13 (line 22)
 (24, format('{"kind": "receive", "link": %s, "qty": "100 kg", "inspection": {"inspector": "李四"}, "into_batch": "%s"}', :l2, :'whmilk')), -- SLR21 (record function)
 (25, format('{"kind": "batch", "owner": %s, "product": 999999, "qty": "1 kg"}', :mill)),            -- SLR18 (record function)
 (26, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "10 kgs"}', :'a', :wh)),             -- 22P02 literal
 (27, '{"kind": "ship", "code": '),                                                                    -- 22P02 JSON
 (28, format('{"kind": "ship", "code": "%s", "qty": "1 kg"}', :'a')),                                 -- 22023 missing
 (29, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg", "colour": 1}', :'a', :wh)),  -- 22023 unknown field
 (30, '"ship"'),                                                                                       -- 22023 not an object
 (31, '{"code": 1}'),                                                                                  -- 22023 no kind
 (32, '{"kind": "harvest"}'),                                                                          -- 22023 unknown kind
 (33, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "5 kg"}', :'a', :wh)),
 (34, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "sample_kept"}', :'a')),
 (35, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "900 kg"}', :'a', :wh));            -- SLR05 (after 1, 33, 34)

-- The single-record path over the same lines in the same state (each line
-- through its record function in a subtransaction, as import_ndjson did),
-- undone afterwards; its outcome comes back in the exception's detail.
CREATE FUNCTION pg_temp.single_path() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	out jsonb := '{}';
	r record;
	rec jsonb;
	st text;
	msg text;
BEGIN
	BEGIN
		FOR r IN SELECT * FROM upload ORDER BY n LOOP
			BEGIN
				rec := r.line::jsonb;
				IF jsonb_typeof(rec) <> 'object' THEN
					RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
						MESSAGE = format('a line must be a JSON object, not %s', jsonb_typeof(rec));
				END IF;
				IF rec ->> 'kind' IS NULL THEN
					RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'missing field "kind"';
				END IF;
				PERFORM shilian.import_line_exec(rec);
				out := out || jsonb_build_object(r.n::text, 'accepted');
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
				out := out || jsonb_build_object(r.n::text, st || ' ' || msg);
			END;
		END LOOP;
		RAISE EXCEPTION 'undo' USING DETAIL = out::text;
	EXCEPTION WHEN raise_exception THEN
		GET STACKED DIAGNOSTICS msg = PG_EXCEPTION_DETAIL;
		RETURN msg::jsonb;
	END;
END
$$;
SELECT pg_temp.single_path() AS single \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job FROM upload \gset

-- every line: the set-based outcome equals the single-record one
SELECT l.line_no, l.kind, coalesce(l.sqlstate, 'ok') AS sqlstate,
       coalesce(l.sqlstate || ' ' || l.message, l.status) = (:'single'::jsonb ->> l.line_no::text) AS same
  FROM shilian.import_line l WHERE l.job_id = :job ORDER BY l.line_no;
SELECT l.line_no, l.sqlstate, l.message FROM shilian.import_line l
 WHERE l.job_id = :job AND l.status = 'refused' ORDER BY l.line_no;
SELECT total, done, accepted, refused, status FROM shilian.import_job WHERE id = :job;
-- balances as the lines left them: 1 t less 300 (before), 10, 5, 1 kg, plus 10 kg not accepted (694 kg)
SELECT qty_left FROM shilian.batch WHERE trace_code = :'a'::shilian.trace_code;
-- a ledger entry per applied record, every chain verifies
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);
SELECT kind, count(*) FROM shilian.ledger WHERE recorded_at >= (SELECT created_at FROM shilian.import_job WHERE id = :job)
 GROUP BY kind ORDER BY kind;

-- ---- line references ----------------------------------------------------------
CREATE TEMP TABLE refs (n int, line text);
INSERT INTO refs VALUES
 (1, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "20 kg"}', :'a', :wh)),
 (2, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "2 t"}', :'a', :wh)),
 (3, '{"kind": "receive", "link_ref": 1, "qty": "20 kg", "inspection": {"inspector": "李四"}}'),
 (4, '{"kind": "receive", "link_ref": 2, "qty": "1 kg", "inspection": {"inspector": "李四"}}'),
 (5, '{"kind": "receive", "link_ref": 3, "qty": "1 kg", "inspection": {"inspector": "李四"}}'),
 (6, '{"kind": "receive", "link_ref": 1, "qty": "20 kg", "inspection": {"inspector": "李四"}}'),
 (7, format('{"kind": "receive", "link_ref": 1, "link": %s, "qty": "20 kg", "inspection": {"inspector": "李四"}}', :l2));
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job2 FROM refs \gset
-- line 3 receives the sale of line 1; 2 was refused and 3 is no ship line (SLI03);
-- 6 receives line 1's sale again (SLR13); 7 names both link and link_ref
SELECT line_no, status, sqlstate, message FROM shilian.import_line WHERE job_id = :job2 ORDER BY line_no;
SELECT l.status, l.qty_accepted, b.owner_id = :wh AS buyer_holds
  FROM shilian.link l JOIN shilian.batch b ON b.id = l.to_batch
 WHERE l.id = (SELECT result::bigint FROM shilian.import_line WHERE job_id = :job2 AND line_no = 1);

-- ---- the ledger entries of the imports ---------------------------------------------
-- each accepted ship or receive line has its entry, with the body the record
-- function writes (the new link; the received link, the new batch and the
-- inspection), and each operator's chain holds them in line order
CREATE TEMP TABLE entries AS
SELECT i.job_id, i.line_no, i.kind, e.operator_id, e.seq, shilian.ledger_body(e.body) AS body
  FROM shilian.import_line i
  JOIN shilian.ledger e ON e.kind = i.kind AND (
       (i.kind = 'ship' AND shilian.ledger_body(e.body) ->> 'id' = i.result)
    OR (i.kind = 'receive' AND shilian.ledger_body(e.body) -> 'batch' ->> 'trace_code' = i.result))
 WHERE i.job_id IN (:job, :job2) AND i.status = 'accepted' AND i.kind IN ('ship', 'receive');
SELECT (SELECT count(*) FROM shilian.import_line WHERE job_id IN (:job, :job2) AND status = 'accepted'
         AND kind IN ('ship', 'receive')) AS lines, count(*) AS entries FROM entries;
SELECT kind, array_agg(DISTINCT k ORDER BY k) AS body_keys, array_agg(DISTINCT body ->> 'status') AS ship_status,
       array_agg(DISTINCT body -> 'link' ->> 'status') AS receive_link_status
  FROM entries, jsonb_object_keys(body) k GROUP BY kind ORDER BY kind;
SELECT bool_and(ok) AS chains_in_line_order FROM (
	SELECT (job_id, line_no) > lag((job_id, line_no)) OVER w OR lag(line_no) OVER w IS NULL AS ok
	  FROM entries WINDOW w AS (PARTITION BY operator_id ORDER BY seq)) t;

-- ---- all_or_nothing through the set-based path -----------------------------------
SELECT count(*) AS links_before FROM shilian.link \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n), 'all_or_nothing') AS job3
  FROM upload WHERE n IN (1, 2, 33) \gset
SELECT status, accepted, refused FROM shilian.import_job WHERE id = :job3;
SELECT count(*) = :links_before AS nothing_written FROM shilian.link;
SELECT line_no, status FROM shilian.import_line WHERE job_id = :job3 ORDER BY line_no;
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

-- import_apply in chunks: progress committed per call (the gateway's loop)
SELECT (shilian.import_open('apply_valid', NULL, '\x00', 3)).job AS job4 \gset
INSERT INTO shilian.import_stage (job_id, line_no, body, sqlstate, message) VALUES
 (:job4, 1, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg"}', :'a', :wh), NULL, NULL),
 (:job4, 2, NULL, '22021', 'line 2 is not valid UTF-8'),
 (:job4, 3, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg"}', :'a', :wh), NULL, NULL);
SELECT shilian.import_apply(:job4, 2) AS left;
SELECT status, total, done, accepted, refused FROM shilian.import_job WHERE id = :job4;
SELECT shilian.import_apply(:job4, 2) AS left;
SELECT status, total, done, accepted, refused FROM shilian.import_job WHERE id = :job4;
SELECT line_no, status, sqlstate, message FROM shilian.import_line WHERE job_id = :job4 ORDER BY line_no;

-- ---- a receive line without its incoming inspection (issue 18) -------------------
-- accepted by the set-based path as by receive(): the receipt is recorded
-- and linked, no inspection is written, and the record lacks it; the same
-- line with an incomplete inspection is still SLR15
SELECT shilian.import_ndjson(format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "7 kg"}', :'a', :wh)
	|| E'\n' || '{"kind": "receive", "link_ref": 1, "qty": "7 kg"}'
	|| E'\n' || format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "3 kg"}', :'a', :wh)
	|| E'\n' || '{"kind": "receive", "link_ref": 3, "qty": "3 kg", "inspection": {}}') AS job5 \gset
SELECT line_no, kind, status, sqlstate, message FROM shilian.import_line WHERE job_id = :job5 ORDER BY line_no;
SELECT l.status, l.qty_accepted, b.owner_id = :wh AS buyer_holds,
	(SELECT count(*) FROM shilian.inspection i WHERE i.link_id = l.id) AS inspections,
	(shilian.record_completeness('receipt', l.id)).missing
  FROM shilian.link l JOIN shilian.batch b ON b.id = l.to_batch
 WHERE l.id = (SELECT result::bigint FROM shilian.import_line WHERE job_id = :job5 AND line_no = 1);
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

-- ---- a first_entry line without its incoming inspection (issue 18) ---------------
-- accepted as by receive_first_entry(): the batch is recorded with its
-- receipt time, no inspection is written, and the record lacks it; an
-- incomplete inspection is still SLR15
SELECT shilian.import_ndjson(format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", '
	'"supplier": {"name": "农户", "contact": "1"}, "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :wh, :flour)
	|| E'\n' || format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", '
	'"supplier": {"name": "农户", "contact": "1"}, "inspection": {}, "produced_on": "2026-01-10"}', :wh, :flour)) AS job6 \gset
SELECT line_no, kind, status, sqlstate, message FROM shilian.import_line WHERE job_id = :job6 ORDER BY line_no;
SELECT b.origin, b.qty, b.owner_id = :wh AS buyer_holds, b.received_at = '2026-01-12 08:00+08' AS received_kept,
	(SELECT count(*) FROM shilian.inspection i WHERE i.batch_id = b.id) AS inspections,
	(shilian.record_completeness('first_entry', b.id)).missing
  FROM shilian.batch b
 WHERE b.trace_code = (SELECT result FROM shilian.import_line WHERE job_id = :job6 AND line_no = 1)::shilian.trace_code;
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

-- ---- batch lines through the set path ---------------------------------------------
-- checked by batch_create's own rules (RecordBatchCheck) against the chunk's
-- caches and written with one statement per chunk: every refusal of
-- batch_create, and the literals and fields import_line_call refuses, give
-- the line the SQLSTATE and message the single-record path gives
TRUNCATE upload;
INSERT INTO upload VALUES
 (1, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "200 kg", "produced_on": "2026-01-10", "lot": "L-1", "expires_on": "2099-12-31"}', :mill, :flour)),
 (2, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "3 L", "produced_on": "2026-01-10", "certificate": {"certificate_no": "C-1"}, "lot": 42}', :mill, :milk)),
 (3, format('{"kind": "batch", "owner": 999999, "product": %s, "qty": "1 kg", "produced_on": "2026-01-10"}', :flour)),       -- SLR01
 (4, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "2026-01-10"}', :dormant, :flour)), -- SLR02
 (5, format('{"kind": "batch", "owner": %s, "product": 999999, "qty": "1 kg", "produced_on": "2026-01-10"}', :mill)),        -- SLR18
 (6, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "0 kg", "produced_on": "2026-01-10"}', :mill, :flour)),    -- SLR16
 (7, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "-2 kg", "produced_on": "2026-01-10"}', :mill, :flour)),   -- SLR16
 (8, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "2099-01-01"}', :mill, :flour)),    -- SLR07 (future)
 (9, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "2026-01-10", "expires_on": "2026-01-01"}', :mill, :flour)), -- SLR07 (order)
 (10, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "2026-01-10", "certificate": "C-2"}', :mill, :flour)), -- SLR15
 (11, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kgs"}', :mill, :flour)),                                -- 22P02 qty
 (12, format('{"kind": "batch", "owner": "mill", "product": %s, "qty": "1 kg"}', :flour)),                                    -- 22P02 owner
 (13, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "10/01/2026"}', :mill, :flour)),   -- SLD01
 (14, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "expires_on": "2026-02-30"}', :mill, :flour)),    -- SLD02
 (15, format('{"kind": "batch", "owner": %s, "qty": "1 kg"}', :mill)),                                                        -- 22023 missing
 (16, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "colour": "red"}', :mill, :flour)),               -- 22023 unknown field
 (17, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": null, "lot": null}', :mill, :flour)), -- null: as absent
 (18, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg"}', :'a', :wh)),
 (19, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "5 t", "produced_on": "2026-01-09"}', :wh, :flour)),
 (20, format('{"kind": "receive", "link": %s, "qty": "100 kg", "inspection": {"inspector": "李四"}}', :l2));
SELECT pg_temp.single_path() AS single \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job7 FROM upload \gset
SELECT l.line_no, l.kind, coalesce(l.sqlstate, 'ok') AS sqlstate,
       coalesce(l.sqlstate || ' ' || l.message, l.status) = (:'single'::jsonb ->> l.line_no::text) AS same
  FROM shilian.import_line l WHERE l.job_id = :job7 ORDER BY l.line_no;
SELECT l.line_no, l.sqlstate, l.message FROM shilian.import_line l
 WHERE l.job_id = :job7 AND l.status = 'refused' ORDER BY l.line_no;
-- the batches as batch_create writes them: expiry from the shelf life when
-- not given, the lot as text, origin produced, the whole quantity left
SELECT i.line_no, b.owner_id = :mill AS mill, b.qty, b.qty_left, b.produced_on, b.expires_on, b.lot, b.origin,
       b.certificate, trace_code_region(b.trace_code) AS region
  FROM shilian.import_line i JOIN shilian.batch b ON b.trace_code = i.result::shilian.trace_code
 WHERE i.job_id = :job7 AND i.kind = 'batch' AND i.status = 'accepted' AND i.line_no <> 17 ORDER BY i.line_no;
-- the set path wrote them: all in one statement, so one transaction id
-- (the record function runs each line in a subtransaction of its own)
SELECT count(*) AS batches, count(DISTINCT b.xmin::text) AS writes
  FROM shilian.import_line i JOIN shilian.batch b ON b.trace_code = i.result::shilian.trace_code
 WHERE i.job_id = :job7 AND i.kind = 'batch' AND i.status = 'accepted';
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

-- an acting operator may not create a batch for another (42501), as batch_create says
SET shilian.operator_id = :'wh';
TRUNCATE upload;
INSERT INTO upload VALUES
 (1, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "2026-01-10"}', :mill, :flour)),
 (2, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "1 kg", "produced_on": "2026-01-10"}', :wh, :flour));
SELECT pg_temp.single_path() AS single \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job8 FROM upload \gset
SELECT l.line_no, l.status, l.sqlstate, l.message,
       coalesce(l.sqlstate || ' ' || l.message, l.status) = (:'single'::jsonb ->> l.line_no::text) AS same
  FROM shilian.import_line l WHERE l.job_id = :job8 ORDER BY l.line_no;
RESET shilian.operator_id;

-- The ledger entries of batch lines are those one batch_create per line
-- appends: the same lines through the record function, kept this time, and
-- through the import give the same bodies (but for the new id, trace code
-- and creation time), kinds, operators and event dates, in line order.
TRUNCATE upload;
INSERT INTO upload VALUES
 (1, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "200 kg", "produced_on": "2026-01-10", "lot": "L-1", "expires_on": "2099-12-31"}', :mill, :flour)),
 (2, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "3 L", "produced_on": "2026-01-10", "certificate": {"certificate_no": "C-1"}, "lot": 42}', :mill, :milk)),
 (3, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "0 kg", "produced_on": "2026-01-10"}', :mill, :flour)),
 (4, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "5 t", "produced_on": "2026-01-09"}', :wh, :flour)),
 (5, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "12 pcs", "produced_on": "2025-12-31", "expires_on": "2026-01-05"}', :mill, :flour));
CREATE FUNCTION pg_temp.each_line() RETURNS TABLE (n int, result text) LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT * FROM upload u ORDER BY u.n LOOP
		BEGIN
			n := r.n;
			result := shilian.import_line_exec(r.line::jsonb);
			RETURN NEXT;
		EXCEPTION WHEN sqlstate 'SLR16' THEN
			NULL;
		END;
	END LOOP;
END
$$;
CREATE TEMP TABLE by_function AS SELECT * FROM pg_temp.each_line();
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job9 FROM upload \gset
CREATE TEMP TABLE by_import AS
SELECT line_no AS n, result FROM shilian.import_line WHERE job_id = :job9 AND status = 'accepted';
CREATE FUNCTION pg_temp.entries(regclass) RETURNS TABLE (n int, operator_id bigint, seq bigint, kind text,
	on_date date, body jsonb) LANGUAGE sql AS $$
SELECT t.n, e.operator_id, e.seq, e.kind, e.on_date,
       shilian.ledger_body(e.body) - 'id' - 'trace_code' - 'created_at'
  FROM shilian.ledger e JOIN (SELECT * FROM by_function WHERE $1 = 'by_function'::regclass
                              UNION ALL SELECT * FROM by_import WHERE $1 = 'by_import'::regclass) t
    ON shilian.ledger_body(e.body) ->> 'trace_code' = t.result AND e.kind = 'batch_create'
$$;
SELECT (SELECT count(*) FROM by_function) AS by_function, (SELECT count(*) FROM by_import) AS by_import,
       (SELECT count(*) FROM pg_temp.entries('by_function')) AS function_entries,
       (SELECT count(*) FROM pg_temp.entries('by_import')) AS import_entries;
SELECT f.n, f.kind, f.operator_id = i.operator_id AS same_operator, f.on_date = i.on_date AS same_date,
       f.body = i.body AS same_body
  FROM pg_temp.entries('by_function') f JOIN pg_temp.entries('by_import') i USING (n) ORDER BY f.n;
SELECT i.body FROM pg_temp.entries('by_import') i WHERE i.n = 2;
-- each operator's chain holds the import's entries in line order
SELECT bool_and(ok) AS chains_in_line_order FROM (
	SELECT n > lag(n) OVER w OR lag(n) OVER w IS NULL AS ok
	  FROM pg_temp.entries('by_import') WINDOW w AS (PARTITION BY operator_id ORDER BY seq)) t;

-- ---- batch, ship and receive lines in one upload ---------------------------------
-- a ship line names the batch of an earlier batch line by code_ref, a receive
-- line that sale by link_ref; refused batch lines make no batch to refer to
TRUNCATE upload;
INSERT INTO upload VALUES
 (1, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "200 kg", "produced_on": "2026-01-10", "expires_on": "2099-12-31"}', :mill, :flour)),
 (2, format('{"kind": "ship", "code_ref": 1, "buyer": %s, "qty": "50 kg"}', :wh)),
 (3, '{"kind": "receive", "link_ref": 2, "qty": "50 kg", "inspection": {"inspector": "李四"}}'),
 (4, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "0 kg", "produced_on": "2026-01-10"}', :mill, :flour)),
 (5, format('{"kind": "ship", "code_ref": 4, "buyer": %s, "qty": "1 kg"}', :wh)),
 (6, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "1 kg"}', :'a', :wh)),
 (7, format('{"kind": "batch", "owner": %s, "product": %s, "qty": "10 L", "produced_on": "2026-01-10", "expires_on": "2099-12-31"}', :wh, :milk)),
 (8, '{"kind": "consume", "code_ref": 7, "qty": "1 L", "consumption_kind": "sample_kept"}'),
 (9, format('{"kind": "ship", "code_ref": 1, "buyer": %s, "qty": "151 kg"}', :wh));
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job10 FROM upload \gset
SELECT line_no, kind, status, sqlstate, regexp_replace(message, '\d{18}', '<code>') AS message
  FROM shilian.import_line WHERE job_id = :job10 ORDER BY line_no;
-- line 1's batch: 50 kg sold and received by the wholesaler; line 7's: 1 L consumed
SELECT i.line_no, b.qty, b.qty_left FROM shilian.import_line i
  JOIN shilian.batch b ON b.trace_code = i.result::shilian.trace_code
 WHERE i.job_id = :job10 AND i.line_no IN (1, 7) ORDER BY i.line_no;
SELECT l.status, l.qty_accepted, b.owner_id = :wh AS buyer_holds,
       l.from_batch = (SELECT b1.id FROM shilian.batch b1 JOIN shilian.import_line i1 ON b1.trace_code = i1.result::shilian.trace_code
                        WHERE i1.job_id = :job10 AND i1.line_no = 1) AS from_line_1
  FROM shilian.link l JOIN shilian.batch b ON b.id = l.to_batch
 WHERE l.id = (SELECT result::bigint FROM shilian.import_line WHERE job_id = :job10 AND line_no = 2);
SELECT kind, count(*) FROM shilian.ledger WHERE recorded_at >= (SELECT created_at FROM shilian.import_job WHERE id = :job10)
 GROUP BY kind ORDER BY kind;
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

-- ---- inspection lines through the set path ----------------------------------------
-- checked by inspect's own rules (RecordInspectCheck) and written with one
-- statement per chunk: every refusal of inspect, and of import_line_call,
-- as the single-record path gives it; the first release inspection passed
-- gives the batch its certificate, a second one none
TRUNCATE upload;
INSERT INTO upload VALUES
 (1, format('{"kind": "inspection", "code": "%s", "inspection_kind": "release", "result": "pass", "report": {"certificate_no": "C-9", "inspector": "张三"}, "inspected_at": "2026-01-12T10:00:00+08:00"}', :'a')),
 (2, format('{"kind": "inspection", "code": "%s", "inspection_kind": "sampling", "result": "fail", "report": {"agency": "lab", "report_no": "R-1"}}', :'a')),
 (3, format('{"kind": "inspection", "code": "%s", "inspection_kind": "incoming", "result": "pass", "report": {"inspector": "李四"}}', :'whmilk')),
 (4, format('{"kind": "inspection", "code": "%s", "inspection_kind": "final", "result": "pass", "report": {"inspector": "李四"}}', :'a')),      -- 22023 kind
 (5, format('{"kind": "inspection", "code": "%s", "inspection_kind": "release", "result": "maybe", "report": {"inspector": "李四"}}', :'a')), -- 22023 result
 (6, format('{"kind": "inspection", "code": "%s", "inspection_kind": "incoming", "result": "pass", "report": {"inspector": "李四"}}', :'nobatch')), -- SLR03
 (7, format('{"kind": "inspection", "code": "%s", "inspection_kind": "incoming", "result": "pass", "report": {"inspector": "李四"}, "operator": %s}', :'a', :wh)), -- SLR04
 (8, format('{"kind": "inspection", "code": "%s", "inspection_kind": "incoming", "result": "pass", "report": {"inspector": "李四"}, "operator": %s}', :'a', :dormant)), -- SLR02
 (9, format('{"kind": "inspection", "code": "%s", "inspection_kind": "incoming", "result": "pass", "report": {"inspector": "李四"}, "operator": 999999}', :'a')), -- SLR01
 (10, format('{"kind": "inspection", "code": "%s", "inspection_kind": "incoming", "result": "pass", "report": {"inspector": "李四"}, "inspected_at": "2000-01-01T00:00:00+08:00"}', :'a')), -- SLR07
 (11, format('{"kind": "inspection", "code": "%s", "inspection_kind": "release", "result": "pass", "report": {"certificate_no": "C-10"}}', :'a')), -- SLR15
 (12, '{"kind": "inspection", "code": "12345", "inspection_kind": "incoming", "result": "pass", "report": {"inspector": "李四"}}'), -- 22P02
 (13, format('{"kind": "inspection", "code": "%s", "inspection_kind": "incoming", "result": "pass", "report": {"inspector": "李四"}, "inspected_at": "yesterday"}', :'a')), -- SLD03
 (14, format('{"kind": "inspection", "code": "%s", "inspection_kind": "incoming", "report": {"inspector": "李四"}}', :'a')), -- 22023 missing
 (15, format('{"kind": "inspection", "code": "%s", "inspection_kind": "incoming", "result": "pass", "report": {"inspector": "李四"}, "by": 1}', :'a')), -- 22023 unknown field
 (16, format('{"kind": "inspection", "code": "%s", "inspection_kind": "release", "result": "pass", "report": {"certificate_no": "C-11", "inspector": "张三"}}', :'a'));
SELECT certificate IS NULL AS no_certificate_yet FROM shilian.batch WHERE trace_code = :'a'::shilian.trace_code;
SELECT pg_temp.single_path() AS single \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job11 FROM upload \gset
SELECT l.line_no, l.kind, coalesce(l.sqlstate, 'ok') AS sqlstate,
       coalesce(l.sqlstate || ' ' || l.message, l.status) = (:'single'::jsonb ->> l.line_no::text) AS same
  FROM shilian.import_line l WHERE l.job_id = :job11 ORDER BY l.line_no;
SELECT l.line_no, l.sqlstate, regexp_replace(l.message, '\d{18}', '<code>') AS message FROM shilian.import_line l
 WHERE l.job_id = :job11 AND l.status = 'refused' ORDER BY l.line_no;
-- the first release inspection gave the certificate (line 1's), not line 16
SELECT b.certificate ->> 'certificate_no' AS certificate_no,
       (b.certificate ->> 'inspection_id') = (SELECT result FROM shilian.import_line WHERE job_id = :job11 AND line_no = 1) AS of_line_1
  FROM shilian.batch b WHERE b.trace_code = :'a'::shilian.trace_code;
SELECT i.line_no, n.kind, n.result, n.operator_id = :mill AS mill, n.report
  FROM shilian.import_line i JOIN shilian.inspection n ON n.id = i.result::bigint
 WHERE i.job_id = :job11 AND i.status = 'accepted' ORDER BY i.line_no;
-- the set path wrote them, in one statement (one transaction id)
SELECT count(*) AS inspections, count(DISTINCT n.xmin::text) AS writes
  FROM shilian.import_line i JOIN shilian.inspection n ON n.id = i.result::bigint
 WHERE i.job_id = :job11 AND i.status = 'accepted';
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

-- ---- consume and first_entry lines through the set path -------------------------
-- checked by consume's and receive_first_entry's own rules (RecordConsumeCheck,
-- RecordFirstEntryCheck) and written with one statement per kind per chunk:
-- every refusal of consume and receive_first_entry, and of import_line_call,
-- as the single-record path gives it; balances move line by line
SELECT shilian.batch_create(:mill, :flour, '100 kg', '2026-01-10', expires_on => '2099-12-31')::text AS c1 \gset
TRUNCATE upload;
INSERT INTO upload VALUES
 (1, format('{"kind": "consume", "code": "%s", "qty": "10 kg", "consumption_kind": "served", "consumed_at": "2026-01-12T12:00:00+08:00"}', :'c1')),
 (2, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "eaten", "consumed_at": "2026-01-12T12:00:00+08:00"}', :'c1')), -- 22023 kind
 (3, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "served"}', :'nobatch')),                  -- SLR03
 (4, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "served", "operator": %s}', :'c1', :wh)),  -- SLR04
 (5, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "served", "operator": %s}', :'c1', :dormant)), -- SLR02
 (6, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "served", "operator": 999999}', :'c1')),   -- SLR01
 (7, format('{"kind": "consume", "code": "%s", "qty": "0 kg", "consumption_kind": "served"}', :'c1')),                       -- SLR16
 (8, format('{"kind": "consume", "code": "%s", "qty": "1 L", "consumption_kind": "served"}', :'c1')),                        -- SLR06
 (9, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "served", "consumed_at": "2000-01-01T00:00:00+08:00"}', :'c1')), -- SLR07
 (10, format('{"kind": "consume", "code": "%s", "qty": "1 L", "consumption_kind": "served", "consumed_at": "2020-02-01T10:00:00+08:00"}', :'old')), -- SLR08
 (11, format('{"kind": "consume", "code": "%s", "qty": "1 L", "consumption_kind": "destroyed", "consumed_at": "2020-02-01T10:00:00+08:00", "note": "spoilt"}', :'old')),
 (12, format('{"kind": "consume", "code": "%s", "qty": "91 kg", "consumption_kind": "retail_sold", "consumed_at": "2026-01-12T12:00:00+08:00"}', :'c1')), -- SLR05 (90 kg left)
 (13, format('{"kind": "consume", "code": "%s", "qty": "5 kg", "consumption_kind": "retail_sold", "at": "2026-01-13T09:00:00+08:00"}', :'c1')), -- the 0.2.0 field "at"
 (14, format('{"kind": "consume", "code": "%s", "qty": "5 kgs", "consumption_kind": "served"}', :'c1')),                     -- 22P02
 (15, format('{"kind": "consume", "code": "%s", "qty": "1 kg"}', :'c1')),                                                   -- 22023 missing
 (16, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "served", "by": 1}', :'c1')),             -- 22023 unknown field
 (17, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "served", "consumed_at": "yesterday"}', :'c1')), -- SLD03
 (18, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "served", "at": "yesterday"}', :'c1')),   -- SLD03 (field at)
 (19, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "80 kg", "shipped_on": "2026-01-13"}', :'c1', :wh)),
 (20, format('{"kind": "consume", "code": "%s", "qty": "1 kg", "consumption_kind": "sample_kept", "consumed_at": "2026-01-13T10:00:00+08:00", "note": "留样", "operator": %s}', :'c1', :mill)),
 (21, format('{"kind": "consume", "code": "%s", "qty": "5 kg", "consumption_kind": "served", "consumed_at": "2026-01-13T12:00:00+08:00"}', :'c1')), -- SLR05 (4 kg left)
 (22, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", "supplier": {"name": "农户", "contact": "1"}, "inspection": {"inspector": "李四"}, "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :wh, :flour)),
 (23, format('{"kind": "first_entry", "buyer": 999999, "product": %s, "qty": "5 kg", "supplier": {"name": "农户", "contact": "1"}, "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :flour)), -- SLR01
 (24, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", "supplier": {"name": "农户", "contact": "1"}, "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :dormant, :flour)), -- SLR02
 (25, format('{"kind": "first_entry", "buyer": %s, "product": 999999, "qty": "5 kg", "supplier": {"name": "农户", "contact": "1"}, "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :wh)), -- SLR18
 (26, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "0 kg", "supplier": {"name": "农户", "contact": "1"}, "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :wh, :flour)), -- SLR16
 (27, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", "supplier": {"name": "农户"}, "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :wh, :flour)), -- SLR15 supplier
 (28, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", "supplier": {"name": "农户", "contact": "1"}, "inspection": {"by": "李四"}, "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :wh, :flour)), -- SLR15 inspection
 (29, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", "supplier": {"name": "农户", "contact": "1"}, "produced_on": "2026-01-13", "received_at": "2026-01-12T08:00:00+08:00"}', :wh, :flour)), -- SLR07
 (30, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 L", "supplier": {"name": "农户", "contact": "1"}, "produced_on": "2020-01-01", "received_at": "2026-01-12T08:00:00+08:00"}', :wh, :milk)), -- SLR08
 (31, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", "supplier": {"name": "农户", "contact": "1"}, "certificate": "C-1", "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :wh, :flour)), -- SLR15 certificate
 (32, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", "supplier": {"name": "农户", "contact": "1"}, "inspection": {"inspector": "李四", "result": "maybe"}, "produced_on": "2026-01-10", "received_at": "2026-01-12T08:00:00+08:00"}', :wh, :flour)), -- SLR15 result
 (33, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", "produced_on": "2026-01-10"}', :wh, :flour)), -- 22023 missing
 (34, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "5 kg", "supplier": {"name": "农户", "contact": "1"}, "produced_on": "2026-1-10"}', :wh, :flour)), -- SLD
 (35, format('{"kind": "first_entry", "buyer": %s, "product": %s, "qty": "7 kg", "supplier": {"name": "农户", "contact": "2"}, "lot": "L-7", "certificate": {"no": "C-7"}, "produced_on": "2026-01-11", "received_at": "2026-01-12T09:00:00+08:00"}', :wh, :flour)),
 (36, format('{"kind": "consume", "code_ref": 35, "qty": "2 kg", "consumption_kind": "served", "consumed_at": "2026-01-13T12:00:00+08:00"}'));
SELECT pg_temp.single_path() AS single \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job12 FROM upload \gset
SELECT l.line_no, l.kind, coalesce(l.sqlstate, 'ok') AS sqlstate,
       coalesce(l.sqlstate || ' ' || l.message, l.status) = (:'single'::jsonb ->> l.line_no::text) AS same
  FROM shilian.import_line l WHERE l.job_id = :job12 AND l.line_no < 36 ORDER BY l.line_no;
SELECT l.line_no, l.sqlstate, regexp_replace(l.message, '\d{18}', '<code>') AS message FROM shilian.import_line l
 WHERE l.job_id = :job12 AND l.status = 'refused' ORDER BY l.line_no;
-- line 36 names line 35's batch (code_ref): a chunk of its own, after it
SELECT status, (SELECT qty_left FROM shilian.batch b WHERE b.trace_code = (SELECT result FROM shilian.import_line
	WHERE job_id = :job12 AND line_no = 35)::shilian.trace_code) AS left_35
  FROM shilian.import_line WHERE job_id = :job12 AND line_no = 36;
SELECT qty_left FROM shilian.batch WHERE trace_code = :'c1'::shilian.trace_code;
SELECT i.line_no, c.kind, c.qty, c.consumed_at, c.note, c.operator_id = :mill AS mill
  FROM shilian.import_line i JOIN shilian.consumption c ON c.id = i.result::bigint
 WHERE i.job_id = :job12 AND i.kind = 'consume' AND i.status = 'accepted' ORDER BY i.line_no;
SELECT i.line_no, b.origin, b.qty, b.lot, b.supplier, b.certificate, b.received_at, b.owner_id = :wh AS wh,
	(SELECT n.result FROM shilian.inspection n WHERE n.batch_id = b.id) AS inspection
  FROM shilian.import_line i JOIN shilian.batch b ON b.trace_code = i.result::shilian.trace_code
 WHERE i.job_id = :job12 AND i.kind = 'first_entry' AND i.status = 'accepted' ORDER BY i.line_no;
-- the set path wrote lines 1-35 in one transaction id (line by line, each
-- record function's own subtransaction would give one per line; line 35's
-- batch is left out: line 36's consumption, in the next chunk, updated it)
SELECT count(*) AS rows, count(DISTINCT x) AS writes FROM (
	SELECT c.xmin::text AS x FROM shilian.import_line i JOIN shilian.consumption c ON c.id = i.result::bigint
	 WHERE i.job_id = :job12 AND i.kind = 'consume' AND i.status = 'accepted' AND i.line_no < 36
	UNION ALL
	SELECT b.xmin::text FROM shilian.import_line i JOIN shilian.batch b ON b.trace_code = i.result::shilian.trace_code
	 WHERE i.job_id = :job12 AND i.kind = 'first_entry' AND i.status = 'accepted' AND i.line_no < 35) w;
SELECT e.kind, count(*) FROM shilian.ledger e
 WHERE e.recorded_at >= (SELECT created_at FROM shilian.import_job WHERE id = :job12)
 GROUP BY e.kind ORDER BY e.kind;
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

-- ---- an incoming inspection whose result is neither pass nor fail ----------------
-- refuses that receipt alone (SLR15, as receive() refuses it: a rule of
-- RecordReceiveCheck), not the chunk; the receipt after it is accepted
SELECT shilian.ship(:'a', :wh, '1 kg', '2026-01-11') AS l9 \gset
TRUNCATE upload;
INSERT INTO upload VALUES
 (1, format('{"kind": "receive", "link": %s, "qty": "1 kg", "inspection": {"inspector": "李四", "result": "maybe"}}', :l9)),
 (2, format('{"kind": "receive", "link": %s, "qty": "1 kg", "inspection": {"inspector": "李四", "result": "fail"}, "received_at": "2026-01-12T08:00:00+08:00"}', :l9));
SELECT pg_temp.single_path() AS single \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job13 FROM upload \gset
SELECT l.line_no, l.sqlstate, l.message,
       coalesce(l.sqlstate || ' ' || l.message, l.status) = (:'single'::jsonb ->> l.line_no::text) AS same
  FROM shilian.import_line l WHERE l.job_id = :job13 ORDER BY l.line_no;
SELECT i.result FROM shilian.inspection i WHERE i.link_id = :l9;

-- ---- reject and transform lines through the set path ------------------------------
-- checked by reject's and transform's own rules (RecordRejectCheck,
-- RecordTransformCheck) and written with one statement per kind per chunk:
-- every refusal of reject and transform, and of import_line_call, as the
-- single-record path gives it; balances move line by line; a transform's
-- links take their ids in line order with the sales'
SELECT shilian.product_register('馒头', 'grain', shelf_life_days => 3) AS bun \gset
SELECT shilian.operator_register('退货方', 'circulation', '{retailer}', '370112001', 'f', '6', reg_card => 'B-6') AS gone \gset
SELECT shilian.operator_activate(:gone);
SELECT shilian.batch_create(:mill, :flour, '100 kg', '2026-01-10', expires_on => '2099-12-31')::text AS t1 \gset
SELECT shilian.batch_create(:mill, :flour, '50 kg', '2026-01-10', expires_on => '2099-12-31')::text AS t2 \gset
SELECT shilian.batch_create(:mill, :flour, '10 kg', '2026-01-12', expires_on => '2099-12-31')::text AS t3 \gset
SELECT shilian.ship(:'t1', :wh, '10 kg', '2026-01-11') AS r1 \gset
SELECT shilian.ship(:'t1', :wh, '5 kg', '2026-01-11') AS r2 \gset
SELECT shilian.ship(:'t1', :gone, '1 kg', '2026-01-11') AS r3 \gset
SELECT shilian.ship(:'t1', :scope, '1 kg', '2026-01-11') AS r4 \gset
SELECT shilian.operator_suspend(:gone, 'closed');
TRUNCATE upload;
INSERT INTO upload VALUES
 (1, format('{"kind": "reject", "link": %s, "reject_reason": "发霉", "rejected_at": "2026-01-12T08:00:00+08:00"}', :r1)),
 (2, format('{"kind": "reject", "link": %s, "reject_reason": "again", "rejected_at": "2026-01-12T08:00:00+08:00"}', :r1)), -- SLR13 (line 1)
 (3, format('{"kind": "reject", "link": %s, "reject_reason": "x"}', :l3)),                                  -- SLR13 (received)
 (4, '{"kind": "reject", "link": 999999, "reject_reason": "x"}'),                                           -- SLR14
 (5, format('{"kind": "reject", "link": %s, "reject_reason": "x"}', :r3)),                                  -- SLR02
 (6, format('{"kind": "reject", "link": %s, "reject_reason": "x", "rejected_at": "2000-01-01T00:00:00+08:00"}', :r2)), -- SLR07
 (7, format('{"kind": "reject", "link": %s}', :r2)),                                                        -- 22023 missing
 (8, format('{"kind": "reject", "link": %s, "reject_reason": "x", "by": 1}', :r2)),                         -- 22023 unknown field
 (9, '{"kind": "reject", "link": "abc", "reject_reason": "x"}'),                                            -- 22P02
 (10, format('{"kind": "reject", "link": %s, "reject_reason": "x", "rejected_at": "yesterday"}', :r2)),     -- SLD03
 (11, format('{"kind": "transform", "inputs": ["%s", "%s"], "qtys": ["20 kg", "10 kg"], "product": %s, "qty": "25 kg", "produced_on": "2026-01-12", "lot": "M-1"}', :'t1', :'t2', :bun)),
 (12, format('{"kind": "ship", "code": "%s", "buyer": %s, "qty": "5 kg", "shipped_on": "2026-01-12"}', :'t1', :wh)),
 (13, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["5 kg"], "product": %s, "qty": "5 kg", "produced_on": "2026-01-12", "expires_on": "2026-02-01", "operator": %s}', :'t2', :bun, :mill)),
 (14, format('{"kind": "transform", "inputs": [], "qtys": [], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :bun)),  -- 22023 empty
 (15, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg", "1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :bun)), -- 22023 lengths
 (16, format('{"kind": "transform", "inputs": ["%s", null], "qtys": ["1 kg", "1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :bun)), -- 22004 inputs
 (17, format('{"kind": "transform", "inputs": ["%s", "%s"], "qtys": ["1 kg", null], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :'t2', :bun)), -- 22004 qtys
 (18, format('{"kind": "transform", "inputs": ["%s", "%s"], "qtys": ["1 kg", "1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :'t1', :bun)), -- 22023 twice
 (19, format('{"kind": "transform", "inputs": ["%s", "%s"], "qtys": ["1 kg", "1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :'nobatch', :bun)), -- SLR03
 (20, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12", "operator": 999999}', :'t1', :bun)), -- SLR01
 (21, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12", "operator": %s}', :'t1', :bun, :dormant)), -- SLR02
 (22, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": 999999, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1')), -- SLR18
 (23, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "0 kg", "produced_on": "2026-01-12"}', :'t1', :bun)), -- SLR16 output
 (24, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2999-01-01"}', :'t1', :bun)), -- SLR07 future
 (25, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12", "expires_on": "2026-01-01"}', :'t1', :bun)), -- SLR07 expiry
 (26, format('{"kind": "transform", "inputs": ["%s", "%s"], "qtys": ["1 kg", "1 L"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :'whmilk', :bun)), -- SLR04
 (27, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["0 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :bun)), -- SLR16 input
 (28, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 L"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :bun)), -- SLR06
 (29, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-11"}', :'t3', :bun)), -- SLR07 input
 (30, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 L"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'old', :bun)), -- SLR08
 (31, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["36 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t2', :bun)), -- SLR05 (35 kg left)
 (32, format('{"kind": "transform", "inputs": "%s", "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :bun)), -- 22023 scalar
 (33, format('{"kind": "transform", "inputs": {"a": 1}, "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :bun)), -- 22023 object
 (34, format('{"kind": "transform", "inputs": ["12345"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :bun)), -- 22P02 code
 (35, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kgs"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :bun)), -- 22P02 qty
 (36, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "qty": "1 kg"}', :'t1')),          -- 22023 missing
 (37, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "colour": 1}', :'t1', :bun)), -- 22023 unknown field
 (38, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-1-12"}', :'t1', :bun)), -- SLD
 (39, format('{"kind": "reject", "link": %s, "reject_reason": "晚到", "rejected_at": "2026-01-13T08:00:00+08:00"}', :r2)),
 (40, format('{"kind": "transform", "inputs": ["%s", "%s"], "qtys": ["2 kg", "4 kg"], "product": %s, "qty": "6 kg", "produced_on": "2026-01-12"}', :'t2', :'t1', :bun));
SELECT pg_temp.single_path() AS single \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job14 FROM upload \gset
SELECT l.line_no, l.kind, coalesce(l.sqlstate, 'ok') AS sqlstate,
       coalesce(l.sqlstate || ' ' || l.message, l.status) = (:'single'::jsonb ->> l.line_no::text) AS same
  FROM shilian.import_line l WHERE l.job_id = :job14 ORDER BY l.line_no;
SELECT l.line_no, l.sqlstate, regexp_replace(l.message, '\d{18}', '<code>', 'g') AS message, l.detail
  FROM shilian.import_line l WHERE l.job_id = :job14 AND l.status = 'refused' ORDER BY l.line_no;
-- balances: t1 100 less 10, 5, 1, 1 shipped before, 20 + 5 + 4 here, 5 shipped,
-- 10 and 5 back (lines 1, 39); t2 50 less 10, 5, 2
SELECT (SELECT qty_left FROM shilian.batch WHERE trace_code = :'t1'::shilian.trace_code) AS t1_left,
       (SELECT qty_left FROM shilian.batch WHERE trace_code = :'t2'::shilian.trace_code) AS t2_left;
SELECT l.id, l.status, l.reject_reason, l.received_at FROM shilian.link l WHERE l.id IN (:r1, :r2) ORDER BY l.id;
SELECT i.line_no, b.origin, b.qty, b.qty_left, b.produced_on, b.expires_on, b.lot, b.owner_id = :mill AS mill,
	(SELECT jsonb_agg(jsonb_build_object('input', ib.trace_code = ANY (ARRAY[:'t1', :'t2']::shilian.trace_code[]),
		'qty', il.qty_accepted, 'at', il.received_at) ORDER BY il.id)
	   FROM shilian.link il JOIN shilian.batch ib ON ib.id = il.from_batch WHERE il.to_batch = b.id) AS inputs
  FROM shilian.import_line i JOIN shilian.batch b ON b.trace_code = i.result::shilian.trace_code
 WHERE i.job_id = :job14 AND i.kind = 'transform' AND i.status = 'accepted' ORDER BY i.line_no;
-- link ids in line order: line 11's two inputs, line 12's sale, line 13's input, line 40's two
SELECT array_agg(x.line_no ORDER BY x.id) AS lines_by_link_id FROM (
	SELECT i.line_no, il.id FROM shilian.import_line i JOIN shilian.batch b ON b.trace_code = i.result::shilian.trace_code
	  JOIN shilian.link il ON il.to_batch = b.id WHERE i.job_id = :job14 AND i.kind = 'transform'
	UNION ALL
	SELECT i.line_no, i.result::bigint FROM shilian.import_line i WHERE i.job_id = :job14 AND i.kind = 'ship') x;
-- the set path wrote the rejections and the transformations (batches and
-- links) in one transaction id (line by line, each record function's own
-- subtransaction would give one per line)
SELECT count(*) AS rows, count(DISTINCT x) AS writes FROM (
	SELECT l.xmin::text AS x FROM shilian.link l WHERE l.id IN (:r1, :r2)
	UNION ALL
	SELECT b.xmin::text FROM shilian.import_line i JOIN shilian.batch b ON b.trace_code = i.result::shilian.trace_code
	 WHERE i.job_id = :job14 AND i.kind = 'transform' AND i.status = 'accepted'
	UNION ALL
	SELECT il.xmin::text FROM shilian.import_line i JOIN shilian.batch b ON b.trace_code = i.result::shilian.trace_code
	  JOIN shilian.link il ON il.to_batch = b.id WHERE i.job_id = :job14 AND i.kind = 'transform') w;
SELECT e.kind, count(*) FROM shilian.ledger e
 WHERE e.recorded_at >= (SELECT created_at FROM shilian.import_job WHERE id = :job14)
 GROUP BY e.kind ORDER BY e.kind;
SELECT count(*) FILTER (WHERE NOT ok) AS bad_chains FROM shilian.chain_verify(NULL);

-- an acting operator may not transform for another, nor reject another's sale (42501)
SET shilian.operator_id = :'wh';
TRUNCATE upload;
INSERT INTO upload VALUES
 (1, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12", "operator": %s}', :'t1', :bun, :mill)),
 (2, format('{"kind": "transform", "inputs": ["%s"], "qtys": ["1 kg"], "product": %s, "qty": "1 kg", "produced_on": "2026-01-12"}', :'t1', :bun)), -- SLR04 (the acting operator)
 (3, format('{"kind": "reject", "link": %s, "reject_reason": "x"}', :r4));
SELECT pg_temp.single_path() AS single \gset
SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job15 FROM upload \gset
SELECT l.line_no, l.status, l.sqlstate, regexp_replace(l.message, '\d{18}', '<code>', 'g') AS message,
       coalesce(l.sqlstate || ' ' || l.message, l.status) = (:'single'::jsonb ->> l.line_no::text) AS same
  FROM shilian.import_line l WHERE l.job_id = :job15 ORDER BY l.line_no;
RESET shilian.operator_id;

-- ---- a deleted job's staged lines go with it ---------------------------------------
-- import_stage has no foreign key onto import_job (its lines are written for
-- the job just opened, by the import functions alone); a trigger removes the
-- staged lines of deleted or truncated jobs, as the cascade did
SELECT count(*) AS stage_fks FROM pg_constraint
 WHERE conrelid = 'shilian.import_stage'::regclass AND contype = 'f';
SELECT (shilian.import_open('apply_valid', NULL, '\x01', 2)).job AS job16 \gset
SELECT (shilian.import_open('apply_valid', NULL, '\x02', 1)).job AS job17 \gset
INSERT INTO shilian.import_stage (job_id, line_no, body)
VALUES (:job16, 1, '{}'), (:job16, 2, '{}'), (:job17, 1, '{}');
BEGIN;
DELETE FROM shilian.import_job WHERE id = :job16;
SELECT job_id = :job16 AS deleted_job, count(*) FROM shilian.import_stage
 WHERE job_id IN (:job16, :job17) GROUP BY 1 ORDER BY 1;
ROLLBACK;
BEGIN;
TRUNCATE shilian.import_job CASCADE;
SELECT count(*) AS staged_after_truncate FROM shilian.import_stage;
ROLLBACK;
SELECT count(*) AS staged_kept FROM shilian.import_stage WHERE job_id IN (:job16, :job17);

\c :regress_db
DROP DATABASE shilian_import_bulk_test;
