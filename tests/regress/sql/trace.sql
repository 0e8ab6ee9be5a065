-- trace: forward and backward walks with quantities, trace_graph,
-- public_trace and a recall from opening to closing, on a fixture with two
-- diamonds, a transformation mixing a suspect and a clean input, a partial
-- receipt, consumption, destruction and a pending sale. Every expected
-- quantity is worked out by hand in the comments (docs/trace.md states the
-- rules). The fixture lives in its own province (33xxxx) so that it does not
-- depend on what other regress files left in the database.

SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY default

SELECT shilian.jurisdiction_add('330000', '浙江省');
SELECT shilian.jurisdiction_add('330100', '杭州市');
SELECT shilian.jurisdiction_add('330106', '西湖区');
SELECT shilian.jurisdiction_add('330106001', '西湖区文新市场监管所');

SELECT shilian.operator_register('西湖菜农合作社', 'production', '{farm}', '330106001',
	'杭州市西湖区转塘', '0571-1', reg_card => 'TR-F') AS f \gset
-- make test-assert runs this file once more with debug_discard_caches = 1
-- (docs/development.md), where every statement is planned again at each call:
-- seconds a statement, minutes a record function there. Each record
-- function runs under it at least once in this fixture; its repeats of the
-- same calls (the other registrations, activations and licences, sales of
-- a form already made) run without it: SET to 0 here, RESET back to the
-- server's setting (0 except in that pass).
SET debug_discard_caches = 0;
SELECT shilian.operator_register('龙井清洁蔬菜场', 'production', '{farm}', '330106001',
	'杭州市西湖区龙井', '0571-2', reg_card => 'TR-G') AS g \gset
SELECT shilian.operator_register('杭州一号批发', 'circulation', '{wholesaler}', '330106001',
	'杭州市西湖区批发路1号', '0571-3', reg_card => 'TR-W1') AS w1 \gset
SELECT shilian.operator_register('杭州二号批发', 'circulation', '{wholesaler}', '330106001',
	'杭州市西湖区批发路2号', '0571-4', reg_card => 'TR-W2') AS w2 \gset
SELECT shilian.operator_register('西湖水饺厂', 'production', '{processor}', '330106001',
	'杭州市西湖区工业路3号', '0571-5', reg_card => 'TR-P') AS p \gset
SELECT shilian.operator_register('文新超市, "旗舰店"', 'circulation', '{retailer}', '330106001',
	'杭州市西湖区文新路4号', '0571-6', reg_card => 'TR-R') AS r \gset
SELECT shilian.operator_register('文新小学食堂', 'catering', '{school_canteen}', '330106001',
	'杭州市西湖区文新路5号', '0571-7', reg_card => 'TR-C') AS c \gset
SELECT count(shilian.operator_activate(id)) FROM shilian.operator WHERE reg_card LIKE 'TR-%' AND reg_card <> 'TR-F';
RESET debug_discard_caches;
SELECT count(shilian.operator_activate(id)) FROM shilian.operator WHERE reg_card = 'TR-F';
SELECT shilian.licence_add(:w1, 'JY13301060000011', '{vegetables}', '2024-01-01', '2028-12-31') > 0 AS ok;
SET debug_discard_caches = 0;
SELECT shilian.licence_add(:w2, 'JY13301060000022', '{vegetables}', '2024-01-01', '2028-12-31') > 0 AS ok;
SELECT shilian.licence_add(:p, 'SC10433010600033', '{vegetables,meat}', '2024-01-01', '2028-12-31') > 0 AS ok;
RESET debug_discard_caches;

SELECT shilian.product_register('青菜', 'vegetables', shelf_life_days => 10, spec => '散装',
	edible_agricultural => true) AS greens \gset
SELECT shilian.product_register('青菜猪肉水饺', 'meat', shelf_life_days => 90, spec => '1kg/袋') AS dumplings \gset

\set insp '{"inspector": "检验员"}'

-- S: the suspect lot, 1000 kg; K: a clean lot, 500 kg.
SELECT shilian.batch_create(:f, :greens, '1000 kg', '2026-11-01', lot => 'S-1101') AS s \gset
SELECT shilian.batch_create(:g, :greens, '500 kg', '2026-11-01', lot => 'K-1101') AS k \gset
-- S -> W1 400 kg: lot A (400 kg).
SELECT shilian.receive(shilian.ship(:'s', :w1, '400 kg', '2026-11-02'), '400 kg', :'insp',
	'2026-11-02 10:00+08') AS a \gset
-- S -> W2 300 kg, 250 kg accepted, 50 kg go back to S: lot B (250 kg).
SELECT shilian.receive(shilian.ship(:'s', :w2, '300 kg', '2026-11-02'), '250 kg', :'insp',
	'2026-11-02 11:00+08', reject_reason => '50 kg 黄叶') AS b \gset
-- A -> P 100 kg: lot PA; K -> P 150 kg: lot PK.
SELECT shilian.ship(:'a', :p, '100 kg', '2026-11-03') AS l_a_p \gset
SELECT shilian.receive(:l_a_p, '100 kg', :'insp', '2026-11-03 09:00+08') AS pa \gset
SET debug_discard_caches = 0;
SELECT shilian.receive(shilian.ship(:'k', :p, '150 kg', '2026-11-03'), '150 kg', :'insp',
	'2026-11-03 09:30+08') AS pk \gset
RESET debug_discard_caches;
-- Diamond 1: B -> P 50 kg received into PA, which is now 150 kg.
SELECT shilian.ship(:'b', :p, '50 kg', '2026-11-04') AS l_b_p \gset
SELECT shilian.receive(:l_b_p, '50 kg', :'insp', '2026-11-04 09:00+08', into_batch => :'pa') = :'pa' AS same_lot;
-- Diamond 2: A -> R 200 kg (lot RA), B -> R 100 kg and K -> R 100 kg into RA (400 kg).
SET debug_discard_caches = 0;
SELECT shilian.receive(shilian.ship(:'a', :r, '200 kg', '2026-11-04'), '200 kg', :'insp',
	'2026-11-04 10:00+08') AS ra \gset
SELECT shilian.receive(shilian.ship(:'b', :r, '100 kg', '2026-11-04'), '100 kg', :'insp',
	'2026-11-04 11:00+08', into_batch => :'ra') = :'ra' AS same_lot;
SELECT shilian.receive(shilian.ship(:'k', :r, '100 kg', '2026-11-04'), '100 kg', :'insp',
	'2026-11-04 12:00+08', into_batch => :'ra') = :'ra' AS same_lot;
RESET debug_discard_caches;
-- The transformation mixes 120 kg of PA (suspect) and 80 kg of PK (clean)
-- into 2000 pcs of dumplings: lot D.
SELECT shilian.transform(ARRAY[:'pa', :'pk']::trace_code[], ARRAY['120 kg', '80 kg']::qty[],
	:dumplings, '2000 pcs', '2026-11-05', lot => 'D-1105') AS d \gset
SELECT shilian.inspect(:'d', 'release', 'pass', '{"certificate_no": "XH-QC-1105", "inspector": "质检员"}',
	'2026-11-05 08:00+08') > 0 AS ok;
-- D -> canteen 800 pcs: lot CD.
SELECT shilian.receive(shilian.ship(:'d', :c, '800 pcs', '2026-11-05'), '800 pcs', :'insp',
	'2026-11-05 09:00+08') AS cd \gset
-- Consumption and destruction.
SELECT shilian.consume(:'cd', '300 pcs', 'served', '2026-11-05 12:00+08') > 0 AS ok;
SELECT shilian.consume(:'cd', '100 pcs', 'destroyed', '2026-11-06 09:00+08') > 0 AS ok;
SELECT shilian.consume(:'ra', '50 kg', 'retail_sold', '2026-11-05 18:00+08') > 0 AS ok;
SELECT shilian.consume(:'ra', '20 kg', 'destroyed', '2026-11-06 09:00+08') > 0 AS ok;
SELECT shilian.consume(:'b', '30 kg', 'destroyed', '2026-11-05 10:00+08') > 0 AS ok;
-- A pending sale A -> canteen 50 kg (not received: not part of any walk).
SELECT shilian.ship(:'a', :c, '50 kg', '2026-11-06') > 0 AS ok;

CREATE TEMP TABLE lot (label text, code trace_code);
INSERT INTO lot VALUES ('S', :'s'), ('K', :'k'), ('A', :'a'), ('B', :'b'), ('PA', :'pa'),
	('PK', :'pk'), ('RA', :'ra'), ('D', :'d'), ('CD', :'cd');

-- Ids and codes depend on what ran before in this database: messages and
-- exports are shown with lot codes as their labels (S, A, ...), operator ids
-- as registration cards (TR-F, ...) and link ids as #.
CREATE FUNCTION pg_temp.masked(t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT label, code::text AS code FROM lot LOOP
		t := replace(t, r.code, r.label);
	END LOOP;
	FOR r IN SELECT id, reg_card FROM shilian.operator WHERE reg_card LIKE 'TR-%' LOOP
		t := regexp_replace(t, '(operator )' || r.id || '\M', '\1' || r.reg_card, 'g');
	END LOOP;
	RETURN regexp_replace(t, 'link [0-9]+', 'link #', 'g');
END;
$$;
-- Run a statement that must fail: its SQLSTATE and masked message.
CREATE FUNCTION pg_temp.fails(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN st || ': ' || pg_temp.masked(msg);
END;
$$;
-- The fields of one CSV line (RFC 4180 quoting undone).
CREATE FUNCTION pg_temp.csv_fields(line text) RETURNS text[] LANGUAGE sql AS $$
	SELECT array_agg(CASE WHEN m[1] LIKE '"%' THEN replace(substr(m[1], 2, length(m[1]) - 2), '""', '"')
		ELSE m[1] END ORDER BY n)
	  FROM regexp_matches(line || ',', '("(?:[^"]|"")*"|[^,]*),', 'g') WITH ORDINALITY AS x(m, n)
$$;

-- ---- forward ---------------------------------------------------------------
-- Forward qty_reached: how much of S's 1000 kg is in the lot, in kg:
-- reached(v) = sum over reached links u->v of reached(u) * q / qty(u).
--   S  1000
--   A  1000 * 400/1000                      = 400
--   B  1000 * 250/1000 (what was accepted)  = 250
--   PA 400 * 100/400 + 250 * 50/250         = 150   (diamond: both paths)
--   RA 400 * 200/400 + 250 * 100/250        = 300   (of 400 kg; K's 100 kg is clean)
--   D  150 * 120/150                        = 120   (PK is not reached forward)
--   CD 120 * 800/2000                       = 48
-- On hand (qty_left): S 1000-400-300+50 = 350; A 400-100-200-50 (pending) = 50;
-- B 250-50-100-30 = 70; PA 150-120 = 30; RA 400-50-20 = 330; D 2000-800 = 1200;
-- CD 800-300-100 = 400. PA's first link is A->P (depth 2, lower link id than B->P).
SELECT l.label, t.depth, t.qty_reached, t.qty_on_hand, t.status, o.name AS holder,
       (SELECT lf.label FROM shilian.link k JOIN shilian.batch fb ON fb.id = k.from_batch
          JOIN lot lf ON lf.code = fb.trace_code WHERE k.id = t.via_link) AS via_from
  FROM shilian.trace_forward(:'s') t JOIN lot l ON l.code = t.batch
  JOIN shilian.operator o ON o.id = t.holder
 ORDER BY t.depth, l.label;
SELECT via_link = :l_a_p AS pa_first_by_a_p FROM shilian.trace_forward(:'s') WHERE batch = :'pa';

-- max_depth bounds the walk: 1 -> S, A, B; 2 -> also PA and RA, with both
-- diamond paths summed (150 and 300 as above).
SELECT l.label, t.depth, t.qty_reached FROM shilian.trace_forward(:'s', 1) t JOIN lot l ON l.code = t.batch ORDER BY 2, 1;
SELECT l.label, t.depth, t.qty_reached FROM shilian.trace_forward(:'s', 2) t JOIN lot l ON l.code = t.batch ORDER BY 2, 1;
-- max_depth 0 is the lot itself
SELECT l.label, t.depth FROM shilian.trace_forward(:'s', 0) t JOIN lot l ON l.code = t.batch;

-- as_of 2026-11-03 12:00: links received by then are S->A, S->B, A->P only.
--   PA reached 400 * 100/400 = 100 (B->P came on 11-04).
-- On hand then: S 350 (nothing changed since); A 400-100 = 300 (A->R shipped
-- 11-04 and the pending sale 11-06 come back); B 250 (B->P, B->R and the
-- 30 kg destroyed were later); PA 100 (the 120 kg used on 11-05 come back,
-- the 50 kg received on 11-04 go).
SELECT l.label, t.depth, t.qty_reached, t.qty_on_hand
  FROM shilian.trace_forward(:'s', as_of => '2026-11-03 12:00+08') t JOIN lot l ON l.code = t.batch
 ORDER BY 2, 1;

-- ---- backward ----------------------------------------------------------------
-- Backward qty_reached: how much of each source lot went into CD, in that
-- lot's unit: reached(v) = sum over links v->u of reached(u)/qty(u) * q.
--   CD 800 pcs
--   D  800/800 * 800                = 800 pcs   (fraction 800/2000 = 0.4 of D)
--   PA 0.4 * 120                    = 48 kg     (fraction 48/150 = 0.32 of PA)
--   PK 0.4 * 80                     = 32 kg     (fraction 32/150)
--   A  0.32 * 100                   = 32 kg     (fraction 32/400 = 0.08)
--   B  0.32 * 50                    = 16 kg     (fraction 16/250 = 0.064)
--   K  32/150 * 150                 = 32 kg
--   S  0.08 * 400 + 0.064 * 250     = 48 kg     (diamond; = the forward 48 kg at CD)
SELECT l.label, t.depth, t.qty_reached, t.qty_on_hand, t.status
  FROM shilian.trace_backward(:'cd') t JOIN lot l ON l.code = t.batch
 ORDER BY t.depth, l.label;
SELECT l.label, t.depth FROM shilian.trace_backward(:'cd', 2) t JOIN lot l ON l.code = t.batch ORDER BY 2, 1;

-- The same answers with index scans forced off in the planner: the walk
-- probes the link indexes itself (or, under row-level security, runs its
-- own generic-plan queries), so planner settings do not change it.
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*), string_agg(t.qty_reached::text, ',' ORDER BY t.batch)
  FROM shilian.trace_backward(:'cd') t;
RESET enable_indexscan;
RESET enable_bitmapscan;
SELECT count(*), string_agg(t.qty_reached::text, ',' ORDER BY t.batch)
  FROM shilian.trace_backward(:'cd') t;

-- Invalid calls.
-- an unknown lot (a well-formed code nobody issued)
SELECT regexp_replace(pg_temp.fails('SELECT * FROM shilian.trace_forward(shilian.trace_code_next(''330106''))'),
	'[0-9]{18}', 'CODE');
-- a negative depth
SELECT * FROM shilian.trace_forward(:'s', -1);
\echo :LAST_ERROR_SQLSTATE
-- an unknown direction
SELECT shilian.trace_graph(:'s', 'sideways');
\echo :LAST_ERROR_SQLSTATE
-- memory bound: a walk past shilian.trace_max_batches stops with SLT01
SET shilian.trace_max_batches = 5;
SELECT count(*) FROM shilian.trace_forward(:'s');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM shilian.trace_forward(:'s', 2);
RESET shilian.trace_max_batches;

-- ---- trace_graph and public_trace -------------------------------------------------
-- nodes and edges of the backward graph of CD: 8 lots, 8 links
-- (D->CD, PA->D, PK->D, A->PA, B->PA, K->PK, S->A, S->B).
SELECT jsonb_array_length(g->'nodes') AS nodes, jsonb_array_length(g->'edges') AS edges,
       g->'nodes'->0->>'product' AS root_product, g->'nodes'->0->>'qty_reached' AS root_qty
  FROM shilian.trace_graph(:'cd', 'backward') g;
SELECT e->>'kind' AS kind, lf.label AS "from", lt.label AS "to", e->>'qty' AS qty
  FROM shilian.trace_graph(:'cd', 'backward') g, jsonb_array_elements(g->'edges') e
  JOIN lot lf ON lf.code = (e->>'from')::trace_code JOIN lot lt ON lt.code = (e->>'to')::trace_code
 ORDER BY 2, 3;

-- The consumer view of CD: custody P -> canteen (the lot was made at P);
-- no quantities, no other customers (R, W1, W2 do not appear: the dumplings'
-- ingredients are not this lot's custody chain).
-- The page asks for the lot's token, printed with the code (public_token).
SELECT shilian.public_token(:'cd') AS cd_token, shilian.public_token(:'ra') AS ra_token \gset
SELECT :'cd_token' ~ '^[0-9a-hjkmnp-tv-z]{10}$' AS token_format,
       :'cd_token' = shilian.public_token(:'cd') AS token_stable,
       :'cd_token' <> :'ra_token' AS tokens_differ;
SELECT jsonb_pretty(shilian.public_trace(:'cd', :'cd_token') - 'code');
SELECT shilian.public_trace(:'cd', :'cd_token')::text ~ '(qty| kg|pcs|文新超市|杭州|龙井|菜农)' AS leaks;
-- The consumer view of RA: made by the farm, custody farm -> W1 -> retailer;
-- only the farm (producer) and the retailer (final seller) are named, the
-- wholesaler W1 between them by region and segment only.
SELECT jsonb_pretty(shilian.public_trace(:'ra', :'ra_token') - 'code');
SELECT shilian.public_trace(:'ra', :'ra_token')::text LIKE '%' || o.name || '%' AS w1_named
  FROM shilian.operator o WHERE o.id = :w1;
-- The token is read in any case, with Crockford's look-alikes (O for 0).
SELECT shilian.public_trace(:'cd', upper(:'cd_token'))->>'code' = :'cd' AS upper_case_ok,
       shilian.public_trace(:'cd', translate(:'cd_token', '01', 'OI'))->>'code' = :'cd' AS lookalikes_ok;
-- A missing token, a wrong one, another lot's, a token one character off
-- and a code no lot has are one and the same refusal (SLP01, the code in the
-- message is the only difference): nothing tells which codes exist.
SELECT pg_temp.fails(format('SELECT shilian.public_trace(%L)', :'cd'));
SELECT pg_temp.fails(format('SELECT shilian.public_trace(%L, NULL)', :'cd'));
SELECT pg_temp.fails(format('SELECT shilian.public_trace(%L, %L)', :'cd', :'ra_token'));
SELECT pg_temp.fails(format('SELECT shilian.public_trace(%L, %L)', :'cd',
	overlay(:'cd_token' placing CASE WHEN left(:'cd_token', 1) = 'a' THEN 'b' ELSE 'a' END from 1)));
SELECT pg_temp.fails(format('SELECT shilian.public_trace(%L, %L)', :'cd', :'cd_token' || 'x'));
SELECT regexp_replace(pg_temp.fails(format('SELECT shilian.public_trace(shilian.trace_code_next(''330106''), %L)',
	:'cd_token')), '[0-9]{18}', 'NEW');
-- a NULL code is no code (as for a STRICT function)
SELECT shilian.public_trace(NULL, :'cd_token') IS NULL AS null_code;
-- The token of a lot goes to those who may see it: its holder, not another
-- operator (told the batch is unknown, as for a code no batch has).
SET ROLE shilian_operator;
SET shilian.operator_id = :'c';
SELECT shilian.public_token(:'cd') = :'cd_token' AS holder_gets_token,
       shilian.public_path(:'cd') = '/v1/public/trace/' || :'cd' || '?t=' || :'cd_token' AS holder_gets_path;
\set VERBOSITY sqlstate
SELECT shilian.public_token(:'ra');
SELECT shilian.public_token(shilian.trace_code_next('330106'));
-- the secret is no one's to read, nor the function that reads it
SELECT * FROM shilian.public_secret;
SELECT shilian.lot_secret();
\set VERBOSITY default
RESET shilian.operator_id;
RESET ROLE;

-- ---- recall ----------------------------------------------------------------
-- Open a forward recall of S: 7 targets (S, A, B, PA, RA, D, CD) with the
-- forward quantities above; NOTIFY shilian_recall carries the id.
-- (the NOTIFY is checked in tests/t/040_trace_random_dag.pl, where the
-- listener's output has no process id to hide)
SELECT shilian.recall_open(:'s', '抽检农残超标') AS rc \gset
SELECT l.label, t.holder_name, t.depth, t.qty_exposed, t.qty_on_hand, t.disposition
  FROM shilian.recall_targets(:rc) t JOIN lot l ON l.code = t.batch ORDER BY t.depth, l.label;
SELECT * FROM shilian.recall_status(:rc);
SELECT kind, operator_id, ledger_body(body)->>'targets' AS targets FROM shilian.ledger
 WHERE kind LIKE 'recall%' ORDER BY id;

-- Acknowledgements. The canteen destroyed 400 pcs.
SELECT shilian.recall_ack(:rc, :c, 'destroyed', '400 pcs');
-- the retailer withdrew 330 kg
SELECT shilian.recall_ack(:rc, :r, 'withdrawn', '330 kg');
-- refusals, each leaving the targets as they were:
-- a second acknowledgement of the same lots
SELECT pg_temp.fails(format('SELECT shilian.recall_ack(%s, %s, ''destroyed'', ''400 pcs'')', :rc, :c));
-- an operator that holds no lot of the recall (the clean farm)
SELECT pg_temp.fails(format('SELECT shilian.recall_ack(%s, %s, ''withdrawn'')', :rc, :g));
-- an unknown disposition
SELECT pg_temp.fails(format('SELECT shilian.recall_ack(%s, %s, ''eaten'')', :rc, :p));
-- P holds PA and D: a recovered quantity must name the lot
SELECT pg_temp.fails(format('SELECT shilian.recall_ack(%s, %s, ''withdrawn'', ''30 kg'')', :rc, :p));
-- more than PA had on hand
SELECT pg_temp.fails(format('SELECT shilian.recall_ack(%s, %s, ''withdrawn'', ''31 kg'', %L)', :rc, :p, :'pa'));
-- pieces for a lot counted in kg
SELECT pg_temp.fails(format('SELECT shilian.recall_ack(%s, %s, ''withdrawn'', ''30 pcs'', %L)', :rc, :p, :'pa'));
-- another operator acting for P
SET shilian.operator_id = :'r';
SELECT pg_temp.fails(format('SELECT shilian.recall_ack(%s, %s, ''withdrawn'', ''30 kg'', %L)', :rc, :p, :'pa'));
RESET shilian.operator_id;
SELECT shilian.recall_ack(:rc, :p, 'withdrawn', '30 kg', :'pa');
SELECT shilian.recall_ack(:rc, :p, 'returned', '1200 pcs', :'d');
-- closing with targets outstanding (S, A, B) is refused ...
SELECT pg_temp.fails(format('SELECT shilian.recall_close(%s)', :rc));
SELECT * FROM shilian.recall_status(:rc);
-- The aggregates for a holder cover its own lots only: the retailer R sees
-- its one lot (RA, withdrawn), not how many holders or how much is still out
-- elsewhere; the clean farm G, which holds no lot of it, is told the recall
-- is unknown (SLT10), as for a recall that does not exist. A regulator
-- keeps the whole view (the figures above).
SET ROLE shilian_operator;
SET shilian.operator_id = :'r';
SELECT * FROM shilian.recall_status(:rc);
SET shilian.operator_id = :'p';
SELECT * FROM shilian.recall_status(:rc);
SET shilian.operator_id = :'g';
\set VERBOSITY sqlstate
SELECT * FROM shilian.recall_status(:rc);
\set VERBOSITY default
RESET shilian.operator_id;
SET ROLE shilian_regulator;
SET shilian.jurisdiction = '330000';
SELECT targets, holders, outstanding FROM shilian.recall_status(:rc);
RESET shilian.jurisdiction;
RESET ROLE;
-- ... until every holder has acknowledged
SELECT shilian.recall_ack(:rc, :f, 'withdrawn', '350 kg');
SELECT shilian.recall_ack(:rc, :w1, 'returned', '50 kg');
SELECT shilian.recall_ack(:rc, :w2, 'already_consumed');
SELECT * FROM shilian.recall_status(:rc);

-- The FSMA 204 export: header and one row per lot, sorted by lot code; the
-- retailer's name holds a comma and quotes, so it is quoted with quotes doubled.
SELECT line FROM regexp_split_to_table(rtrim(shilian.recall_export(:rc), E'\r\n'), E'\r\n') WITH ORDINALITY AS x(line, n)
 WHERE n = 1;
SELECT count(*) - 1 AS lots FROM regexp_split_to_table(rtrim(shilian.recall_export(:rc), E'\r\n'), E'\r\n');
SELECT l.label, cardinality(f) AS nfields, f[2] AS product, f[3] AS qty, f[4] AS unit, f[5] AS location,
       o.reg_card AS operator, f[8] AS received, f[9] AS shipped, pg_temp.masked(f[10]) AS reference,
       pg_temp.masked(f[11]) AS previous_source, f[12] AS recipients, f[13] AS exposed, f[14] AS on_hand,
       f[15] AS depth, f[16] AS disposition
  FROM regexp_split_to_table(rtrim(shilian.recall_export(:rc), E'\r\n'), E'\r\n') WITH ORDINALITY AS x(line, n)
  CROSS JOIN LATERAL pg_temp.csv_fields(x.line) f
  JOIN lot l ON l.code::text = f[1]
  JOIN shilian.operator o ON o.id::text = f[7]
 ORDER BY x.n;
-- sorted by lot code
SELECT array_agg(split_part(line, ',', 1) ORDER BY n) = array_agg(split_part(line, ',', 1) ORDER BY split_part(line, ',', 1)) AS sorted
  FROM regexp_split_to_table(rtrim(shilian.recall_export(:rc), E'\r\n'), E'\r\n') WITH ORDINALITY AS x(line, n) WHERE n > 1;

SELECT shilian.recall_close(:rc);
SELECT status, forced, close_reason FROM shilian.recall WHERE id = :rc;
-- a closed recall takes no more steps
SELECT pg_temp.fails(format('SELECT shilian.recall_close(%s)', :rc));
SELECT pg_temp.fails(format('SELECT shilian.recall_ack(%s, %s, ''destroyed'')', :rc, :c));

-- A backward recall of CD, closed by force with outstanding targets.
SELECT shilian.recall_open(:'cd', '食堂就餐者不适', 'backward') AS rb \gset
SELECT count(*) AS targets, count(DISTINCT holder) AS holders FROM shilian.recall_targets(:rb);
-- recall_target has no foreign keys (recall_open alone writes it, from
-- its walk): every row of every recall so far names its recall, the lot
-- with that lot's code, and the lot's holder as the walk found it; and the
-- backward recall's targets are exactly its walk
SELECT count(*) AS targets_checked,
	count(*) FILTER (WHERE r.id IS NULL OR b.id IS NULL OR b.trace_code::text <> t.trace_code::text
		OR NOT EXISTS (SELECT 1 FROM shilian.operator o WHERE o.id = t.operator_id)) AS dangling
  FROM shilian.recall_target t
  LEFT JOIN shilian.recall r ON r.id = t.recall_id
  LEFT JOIN shilian.batch b ON b.id = t.batch_id;
SELECT count(*) AS differ FROM (
	(SELECT t.trace_code::text, t.operator_id, t.depth, t.via_link FROM shilian.recall_target t WHERE t.recall_id = :rb
	 EXCEPT SELECT w.batch::text, w.holder, w.depth, w.via_link FROM shilian.trace_backward(:'cd') w)
	UNION ALL
	(SELECT w.batch::text, w.holder, w.depth, w.via_link FROM shilian.trace_backward(:'cd') w
	 EXCEPT SELECT t.trace_code::text, t.operator_id, t.depth, t.via_link FROM shilian.recall_target t WHERE t.recall_id = :rb)) d;
SELECT pg_temp.fails(format('SELECT shilian.recall_close(%s, '''')', :rb));
SELECT shilian.recall_close(:rb, '监管部门决定');
SELECT status, forced, close_reason FROM shilian.recall WHERE id = :rb;
-- unknown recall, unknown direction
SELECT pg_temp.fails(format('SELECT * FROM shilian.recall_status(-1)'));
SELECT pg_temp.fails(format('SELECT shilian.recall_open(%L, ''x'', ''up'')', :'cd'));

-- Privileges: the public has public_trace only; a regulator opens and
-- closes recalls (the functions run as the extension's owner, so the walk
-- sees the whole graph and the steps reach the ledger); an operator may
-- acknowledge but not open one.
SET ROLE shilian_public;
SELECT shilian.public_trace(:'cd', :'cd_token')->'producer'->>'name' AS public_view;
SELECT shilian.public_token(:'cd');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.recall_open(:'cd', 'x');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE shilian_operator;
SELECT shilian.recall_open(:'cd', 'x');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- A regulator acts for its jurisdiction (the gateway sets it per request);
-- another province's regulator may not close the recall (part 85).
SET ROLE shilian_regulator;
SET shilian.jurisdiction = '330000';
SELECT shilian.recall_open(:'cd', '监管抽检', 'backward') AS rr \gset
SELECT count(*) AS targets FROM shilian.recall_targets(:rr);
SET shilian.jurisdiction = '370000';
SELECT shilian.recall_close(:rr, '演练');
\echo :LAST_ERROR_SQLSTATE
SET shilian.jurisdiction = '330000';
SELECT shilian.recall_close(:rr, '演练');
RESET shilian.jurisdiction;
RESET ROLE;

-- Every recall step appended one ledger entry (opens and closes on the
-- platform chain 0, acks on each holder's chain), and the chains verify.
SELECT kind, count(*) FROM shilian.ledger WHERE kind LIKE 'recall%' GROUP BY kind ORDER BY kind;
SELECT count(*) FILTER (WHERE operator_id = 0) AS platform_entries FROM shilian.ledger WHERE kind LIKE 'recall%';
SELECT bool_and(v.ok) AS chains_ok FROM unnest(ARRAY[0, :f, :w1, :w2, :p, :r, :c]::bigint[]) x, shilian.chain_verify(x) v;
