-- vocabulary: the SQL names made consistent in 0.3.0 (docs/sql-reference.md,
-- "Names") and the 0.2.0 names kept one version as deprecated aliases
-- (docs/development.md); the event times trace links carry; trace_graph
-- under row-level security. Its own province (43xxxx), after every other
-- file (trace codes are numbered across the database).

SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY default

-- ---- licence, one spelling ---------------------------------------------------------
SELECT licence_kind('SC11834020305037'), licence_category('SC11834020305037'),
	licence_region('SC11834020305037'), licence_check_ok('SC11834020305037');
SELECT 'JY23501110153674'::licence_no;
SELECT pg_typeof('JY23501110153674'::licence_no);
-- no object of the SQL API is spelt license any more, but the aliases
SELECT p.proname FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'shilian')
   AND p.proname ~ 'license' ORDER BY 1;
SELECT t.typname FROM pg_type t JOIN pg_depend d ON d.objid = t.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'shilian')
   AND t.typname ~ 'license' ORDER BY 1;
-- every deprecated alias says so and names its replacement
SELECT p.proname, obj_description(p.oid, 'pg_proc') FROM pg_proc p
 WHERE p.pronamespace = 'shilian'::regnamespace
   AND obj_description(p.oid, 'pg_proc') LIKE 'DEPRECATED%' ORDER BY 1;
SELECT obj_description('shilian.license_no'::regtype, 'pg_type');

-- The 0.2.0 names still work: the type as a domain over licence_no, which
-- every function and operator of licence_no takes.
SELECT license_kind('SC11834020305037'), license_category('SC11834020305037'),
	license_region('SC11834020305037'), license_check_ok('SC11834020305037');
CREATE TEMP TABLE old_caller (l license_no);
INSERT INTO old_caller VALUES ('sc11834020305037'), ('JY23501110153674');
SELECT l, licence_kind(l), l = 'SC11834020305037'::licence_no AS same FROM old_caller ORDER BY l;
SELECT 'XX1'::license_no;
\echo :LAST_ERROR_SQLSTATE

-- The setting: shilian.licence_strict; the 0.2.0 name is still accepted,
-- with a warning, and while it is on numbers are checked strictly too.
SET client_min_messages = notice;
SELECT 'SC11834020305030'::licence_no;
SET shilian.licence_strict = on;
SELECT 'SC11834020305030'::licence_no;
\echo :LAST_ERROR_SQLSTATE
RESET shilian.licence_strict;
SET shilian.license_strict = on;
SELECT 'SC11834020305030'::licence_no;
\echo :LAST_ERROR_SQLSTATE
RESET shilian.license_strict;
SELECT 'SC11834020305030'::licence_no;
SET client_min_messages = warning;

-- ---- a fixture: a farm, a processor, a canteen -----------------------------------
SELECT shilian.jurisdiction_add('430000', '湖南省');
SELECT shilian.jurisdiction_add('430100', '长沙市');
SELECT shilian.jurisdiction_add('430102', '芙蓉区');
SELECT shilian.jurisdiction_add('430102001', '芙蓉区定王台市场监管所');
SELECT shilian.operator_register('芙蓉菜农', 'production', '{farm}', '430102001',
	'长沙市芙蓉区1号', '0731-1', reg_card => 'VO-F') AS f \gset
SELECT shilian.operator_register('芙蓉米粉厂', 'production', '{processor}', '430102001',
	'长沙市芙蓉区2号', '0731-2', reg_card => 'VO-P') AS p \gset
SELECT shilian.operator_register('定王台小学食堂', 'catering', '{school_canteen}', '430102001',
	'长沙市芙蓉区3号', '0731-3', reg_card => 'VO-C') AS c \gset
SELECT count(shilian.operator_activate(id)) FROM shilian.operator WHERE reg_card LIKE 'VO-%';
SELECT shilian.licence_add(:p, 'SC10443010200012', '{grain}', '2024-01-01', '2028-12-31') > 0 AS ok;
SELECT shilian.product_register('稻谷', 'grain', shelf_life_days => 365, spec => '散装',
	edible_agricultural => true) AS rice \gset
SELECT shilian.product_register('米粉', 'grain', shelf_life_days => 30, spec => '5kg/箱') AS noodles \gset
\set insp '{"inspector": "检验员"}'

SELECT shilian.batch_create(:f, :rice, '1000 kg', '2026-09-20', lot => 'R1') AS r1 \gset
SELECT shilian.batch_create(:f, :rice, '1000 kg', '2026-09-20', lot => 'R2') AS r2 \gset
-- the processor receives both lots on 1 October, at 08:00 and 09:00
SELECT shilian.ship(:'r1', :p, '400 kg', '2026-10-01') AS l1 \gset
SELECT shilian.receive(:l1, '400 kg', :'insp', '2026-10-01 08:00+08') AS p1 \gset
SELECT shilian.ship(:'r2', :p, '300 kg', '2026-10-01') AS l2 \gset
SELECT shilian.receive(:l2, '300 kg', :'insp', '2026-10-01 09:00+08') AS p2 \gset

-- ---- transform takes plain array literals ----------------------------------------------
-- ARRAY[...] of text (and of numbers for the codes) and '{...}' literals,
-- without casts; every check of the types' input still applies.
SELECT shilian.transform(ARRAY[:'p1'], ARRAY['100 kg'], :noodles, '90 kg', '2026-10-03',
	operator => :p) AS n1 \gset
SELECT shilian.transform(ARRAY[:p2], ARRAY['50 kg'], :noodles, '45 kg', '2026-10-03',
	operator => :p) AS n2 \gset
SELECT format('{%s,%s}', :'p1', :'p2') AS codes \gset
SELECT shilian.transform(:'codes', '{10 kg, 10 kg}', :noodles, '18 kg', '2026-10-04',
	operator => :p) AS n3 \gset
SELECT (SELECT qty_left FROM shilian.batch WHERE trace_code = :'p1') AS p1_left,
	(SELECT qty_left FROM shilian.batch WHERE trace_code = :'p2') AS p2_left;
SELECT shilian.transform(ARRAY[:'p1'], ARRAY['ten kg'], :noodles, '9 kg', '2026-10-04', operator => :p);
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.transform(ARRAY['370102000000000000'], ARRAY['1 kg'], :noodles, '1 kg', '2026-10-04', operator => :p);
\echo :LAST_ERROR_SQLSTATE

-- ---- trace links carry the event's time --------------------------------------------------
-- A transform's links: the start of its production day (platform time), or
-- the arrival of its last input if later; entered today, they are not
-- stamped today. n3 (4 October) is after both inputs arrived.
SELECT b.trace_code = :'n1' AS n1, l.received_at
  FROM shilian.link l JOIN shilian.batch b ON b.id = l.to_batch
 WHERE l.kind = 'transform' AND b.trace_code = ANY (ARRAY[:'n1', :'n2', :'n3']::trace_code[])
 ORDER BY l.id;
-- A transform on the day its input arrives starts no earlier than the arrival.
SELECT shilian.transform(ARRAY[:'p2'], ARRAY['20 kg'], :noodles, '18 kg', '2026-10-01',
	operator => :p) AS n0 \gset
SELECT l.received_at FROM shilian.link l JOIN shilian.batch b ON b.id = l.to_batch
 WHERE b.trace_code = :'n0';
-- So trace_forward as of a past day finds the processing of that day,
-- though it was entered later: R1 as of 2 October reached P1, not yet
-- the noodles; as of 3 October 12:00 N1 too; as of 5 October N3 as well.
SELECT w.batch = :'p1' AS is_p1, w.batch = :'n1' AS is_n1, w.batch = :'n3' AS is_n3, depth
  FROM shilian.trace_forward(:'r1', as_of => '2026-10-02 12:00+08') w ORDER BY depth, batch;
SELECT w.batch = :'p1' AS is_p1, w.batch = :'n1' AS is_n1, w.batch = :'n3' AS is_n3, depth
  FROM shilian.trace_forward(:'r1', as_of => '2026-10-03 12:00+08') w ORDER BY depth, batch;
SELECT w.batch = :'p1' AS is_p1, w.batch = :'n1' AS is_n1, w.batch = :'n3' AS is_n3, depth
  FROM shilian.trace_forward(:'r1', as_of => '2026-10-05 12:00+08') w ORDER BY depth, batch;
-- and the stock on hand as of then: P1 had 400 kg on 2 October, 300 kg
-- after the processing of the 3rd
SELECT qty_on_hand FROM shilian.trace_forward(:'r1', as_of => '2026-10-02 12:00+08') WHERE batch = :'p1';
SELECT qty_on_hand FROM shilian.trace_forward(:'r1', as_of => '2026-10-03 12:00+08') WHERE batch = :'p1';

-- ---- one name per time: *_at timestamptz, *_on date ----------------------------------------
SELECT shilian.ship(:'n1', :c, '10 kg', '2026-10-04') AS l3 \gset
SELECT shilian.ship(:'n1', :c, '5 kg', '2026-10-04') AS l4 \gset
SELECT shilian.reject(:l4, reject_reason => '包装破损', rejected_at => '2026-10-05 07:00+08');
SELECT status, reject_reason, received_at FROM shilian.link WHERE id = :l4;
SELECT shilian.receive(:l3, '10 kg', :'insp', received_at => '2026-10-05 07:30+08') AS cn \gset
SELECT shilian.consume(:'cn', '2 kg', 'served', consumed_at => '2026-10-05 12:00+08') > 0 AS ok;
SELECT c.kind, c.qty, c.consumed_at FROM shilian.consumption c
  JOIN shilian.batch b ON b.id = c.batch_id WHERE b.trace_code = :'cn';
-- every timestamp column of the extension's tables ends in _at, every date
-- in _on, or is one of these: period keys (month, day; valid_from/valid_to),
-- a deadline (import_job.lease_until), EPCIS's own names (event_time,
-- record_time), and the ledger's (on_date, ledger_maintenance.at), whose
-- names are part of the ledger format (docs/ledger-format.md).
SELECT c.relname, a.attname, format_type(a.atttypid, NULL)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'shilian'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
   AND ((a.atttypid = 'timestamptz'::regtype AND a.attname !~ '_at$')
	 OR (a.atttypid = 'date'::regtype AND a.attname !~ '_(on|from|to)$'))
 ORDER BY 1, 2;
-- a bulk import line may still name consume's time "at" (0.2.0), or consumed_at
SELECT shilian.import_line_call('consume', '{"code": "1", "qty": "1 kg", "consumption_kind": "served", "at": "2026-10-05"}');
SELECT shilian.import_line_call('consume', '{"code": "1", "qty": "1 kg", "consumption_kind": "served", "consumed_at": "2026-10-05"}');

-- ---- record_completeness: the id of the record the kind names -------------------------------
SELECT * FROM shilian.record_completeness('receipt', :l3);
SELECT * FROM shilian.record_completeness('sale', :l3);
-- (a rejected sale is no receipt)
\set VERBOSITY sqlstate
SELECT * FROM shilian.record_completeness('receipt', :l4);
\set VERBOSITY default

-- ---- trace_graph returns what trace_walk returns, for every caller ----------------------------
-- The processor sees its own lots and the links it is party to; the lots
-- at the far end (the farm's R1, the canteen's CN) are other_holder.
SET ROLE shilian_operator;
SET shilian.operator_id = :'p';
SELECT (SELECT jsonb_agg(n->>'batch' ORDER BY n->>'batch')
		  FROM jsonb_array_elements(shilian.trace_graph(:'p1') -> 'nodes') n)
	 = (SELECT jsonb_agg(batch::text ORDER BY batch::text) FROM shilian.trace_forward(:'p1')) AS same_nodes,
	(SELECT count(*) FROM shilian.trace_forward(:'p1')) AS nodes,
	jsonb_array_length(shilian.trace_graph(:'p1') -> 'edges') AS edges;
SELECT n->>'status' AS status, n->>'product' AS product, n->>'depth' AS depth
  FROM jsonb_array_elements(shilian.trace_graph(:'n1') -> 'nodes') n ORDER BY depth, status;
SELECT (SELECT jsonb_agg(n->>'batch' ORDER BY n->>'batch')
		  FROM jsonb_array_elements(shilian.trace_graph(:'p1', 'backward') -> 'nodes') n)
	 = (SELECT jsonb_agg(batch::text ORDER BY batch::text) FROM shilian.trace_backward(:'p1')) AS same_nodes_backward;
RESET shilian.operator_id;
RESET ROLE;
-- the admin sees the whole graph, the same nodes as the walk
SELECT (SELECT jsonb_agg(n->>'batch' ORDER BY n->>'batch')
		  FROM jsonb_array_elements(shilian.trace_graph(:'r1') -> 'nodes') n)
	 = (SELECT jsonb_agg(batch::text ORDER BY batch::text) FROM shilian.trace_forward(:'r1')) AS same_nodes,
	jsonb_array_length(shilian.trace_graph(:'r1') -> 'nodes') AS nodes,
	jsonb_array_length(shilian.trace_graph(:'r1') -> 'edges') AS edges;
