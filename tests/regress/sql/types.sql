-- types: uscc, licence_no, trace_code, qty and the GS1 functions, on the
-- published vectors (tests/data/identifier-vectors.json, a copy of
-- shared/data/identifier-vectors.json), then each refusal with its SQLSTATE.
SET search_path = shilian, public;
\set VERBOSITY default
\set v `cat tests/data/identifier-vectors.json`

-- try(literal, type): 'ok', or the SQLSTATE and message of the refusal.
CREATE FUNCTION pg_temp.try(lit text, typ text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SELECT %L::shilian.%I', lit, typ);
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;

-- Operator classes are complete and consistent (amvalidate runs the same
-- checks as CREATE OPERATOR CLASS in core, plus cross-type completeness).
SELECT opc.opcname, am.amname, amvalidate(opc.oid)
  FROM pg_opclass opc JOIN pg_am am ON am.oid = opc.opcmethod
 WHERE opc.opcname IN ('uscc_ops', 'licence_no_ops', 'trace_code_ops', 'qty_ops')
 ORDER BY 1, 2;

-- Every type is documented (COMMENT ON), and so is every function of the area.
SELECT t.typname, obj_description(t.oid, 'pg_type') IS NOT NULL AS commented
  FROM pg_type t
 WHERE t.typname IN ('uscc', 'licence_no', 'trace_code', 'qty') ORDER BY 1;
SELECT count(*) AS uncommented_functions
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'shilian'
 WHERE obj_description(p.oid, 'pg_proc') IS NULL;
SELECT count(*) > 60 AS many_functions_checked
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'shilian';
SELECT count(*) AS uncommented_operators
  FROM pg_operator o JOIN pg_depend d ON d.objid = o.oid AND d.classid = 'pg_operator'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'shilian'
 WHERE obj_description(o.oid, 'pg_operator') IS NULL;
-- pass-by-value where the value fits 8 bytes
SELECT typname, typlen, typbyval FROM pg_type
 WHERE typname IN ('uscc', 'licence_no', 'trace_code', 'qty') ORDER BY 1;

-- ============================ uscc =========================================

-- All valid vectors are accepted and print canonically; division and category.
SELECT c AS code, c::uscc AS value, c::uscc::text = c AS canonical,
       uscc_division(c::uscc), uscc_category(c::uscc), uscc_is_strict(c::uscc)
  FROM jsonb_array_elements_text((:'v')::jsonb->'uscc'->'valid') AS c ORDER BY 1;
SELECT jsonb_array_length((:'v')::jsonb->'uscc'->'valid') AS uscc_valid_count;

-- Trimmed and upper-cased to the canonical form.
SELECT (:'v')::jsonb->'uscc'->'normalise'->>'input' AS input,
       ((:'v')::jsonb->'uscc'->'normalise'->>'input')::uscc::text
         = (:'v')::jsonb->'uscc'->'normalise'->>'canonical' AS canonical_ok;
SELECT uscc_division(c::uscc) = d AS division_ok
  FROM jsonb_each_text((:'v')::jsonb->'uscc'->'division_code_of') AS x(c, d);

-- Each invalid vector is refused with 22P02 and a message naming the rule.
SELECT x->>'code' AS code, x->>'why' AS why, pg_temp.try(x->>'code', 'uscc') AS refusal
  FROM jsonb_array_elements((:'v')::jsonb->'uscc'->'invalid') AS x ORDER BY 1;

-- wrong check character, names the expected one (3)
SELECT '91350100M000100Y4Z'::uscc;
\echo :LAST_ERROR_SQLSTATE
-- wrong check character, should be 6
SELECT '914403001922038217'::uscc;
\echo :LAST_ERROR_SQLSTATE
-- letter O is not in the character set: the position is named
SELECT '914403001922O38216'::uscc;
\echo :LAST_ERROR_SQLSTATE
-- 17 characters
SELECT '91440300192203821'::uscc;
\echo :LAST_ERROR_SQLSTATE
-- The vector file calls this "a letter in the division code (positions 3-8)",
-- but the A is at position 9 (the organisation code, where letters are
-- allowed), so the code is refused by its check character, which is the rule
-- it actually breaks.
SELECT '91440300A922038216'::uscc;
\echo :LAST_ERROR_SQLSTATE
-- a letter really inside positions 3-8 is refused by the division rule
SELECT '9144A3001922038216'::uscc;
\echo :LAST_ERROR_SQLSTATE
-- a multibyte character: the position counts characters, not bytes
SELECT '91440300192203821中'::uscc;
\echo :LAST_ERROR_SQLSTATE
-- lower-case letters outside the set stay refused after upper-casing (i → I)
SELECT '91350100m000100i43'::uscc;
\echo :LAST_ERROR_SQLSTATE
-- empty
SELECT ''::uscc;
\echo :LAST_ERROR_SQLSTATE

-- shilian.uscc_lenient accepts a code that fails only the check character,
-- and uscc_is_strict() tells it apart; other rules still apply.
SHOW shilian.uscc_lenient;
SET shilian.uscc_lenient = on;
SELECT '914403001922038217'::uscc AS lenient, uscc_is_strict('914403001922038217') AS strict;
SELECT '914403001922O38216'::uscc;
\echo :LAST_ERROR_SQLSTATE
RESET shilian.uscc_lenient;

-- Casts to and from text; order is the order of the canonical text.
SELECT '91350100M000100Y43'::uscc::text AS to_text, ('91350100M000100Y43'::text)::uscc AS from_text;
SELECT c FROM (VALUES ('91440300708461136T'::uscc), ('914403001922038216'), ('91350100M000100Y43')) v(c)
 ORDER BY c;
SELECT '914403001922038216'::uscc = ' 914403001922038216'::uscc AS eq,
       '914403001922038216'::uscc < '91440300708461136T'::uscc AS lt,
       '91440300708461136T'::uscc <> '914403001922038216'::uscc AS ne;

-- ============================ licence_no ===================================

-- Structurally valid vectors: accepted, canonical, fields, and the MOD 11,10
-- check digit (all four published numbers match it).
SELECT c AS number, c::licence_no::text = c AS canonical, licence_kind(c::licence_no),
       licence_category(c::licence_no), licence_region(c::licence_no), licence_check_ok(c::licence_no)
  FROM jsonb_array_elements_text((:'v')::jsonb->'licence'->'structurally_valid') AS c ORDER BY 1;

SELECT c AS number, pg_temp.try(c, 'licence_no') AS refusal
  FROM jsonb_array_elements_text((:'v')::jsonb->'licence'->'structurally_invalid') AS c ORDER BY 1;

-- 13 digits after SC
SELECT 'SC1183402030503'::licence_no;
\echo :LAST_ERROR_SQLSTATE
-- 13 digits after JY
SELECT 'JY4330108011171'::licence_no;
\echo :LAST_ERROR_SQLSTATE
-- unknown prefix
SELECT 'SX11834020305037'::licence_no;
\echo :LAST_ERROR_SQLSTATE
-- a letter among the digits: position named
SELECT 'JY2350111015367A'::licence_no;
\echo :LAST_ERROR_SQLSTATE
-- JY business type 4 does not exist
SELECT 'JY43301080111719'::licence_no;
\echo :LAST_ERROR_SQLSTATE
-- SC kind 3 does not exist
SELECT 'SC31834020305037'::licence_no;
\echo :LAST_ERROR_SQLSTATE

-- A wrong check digit is accepted by default and reported by licence_check_ok();
-- shilian.licence_strict refuses it naming the expected digit.
SHOW shilian.licence_strict;
SELECT 'SC11834020305038'::licence_no AS accepted, licence_check_ok('SC11834020305038') AS check_ok;
SET shilian.licence_strict = on;
SELECT 'SC11834020305038'::licence_no;
\echo :LAST_ERROR_SQLSTATE
SELECT 'SC11834020305037'::licence_no AS strict_ok;
RESET shilian.licence_strict;

-- Registration cards (the prefix table in docs/types.md): prefix, 6-digit
-- region, 7-digit sequence, check digit; no category. Lower case and spaces
-- normalise.
SELECT n::licence_no AS number, licence_kind(n::licence_no), licence_category(n::licence_no) IS NULL AS no_category,
       licence_region(n::licence_no), licence_check_ok(n::licence_no)
  FROM (VALUES (' xzf37010200000011 '), ('XCY37020200001236'), ('TF37048100000050')) v(n);
-- Order is text order across kinds.
SELECT n FROM (VALUES ('XZF37010200000011'::licence_no), ('JY13301080111719'), ('SC11834020305037'),
                      ('TF37048100000050'), ('XCY37020200001236')) v(n) ORDER BY n;

-- ============================ trace_code ===================================

-- Issued codes: the jurisdiction leads, the check digit verifies, they round-trip.
SELECT trace_code_region(c) AS region, length(c::text) AS digits, c::text::trace_code = c AS round_trip
  FROM (SELECT trace_code_next(j) AS c FROM (VALUES ('370102'), ('370211'), ('370481')) v(j)) s;
SELECT trace_code_next('370102') < trace_code_next('370102') AS serials_increase;
-- a known code: jurisdiction 370102, serial 1, Damm check digit 2
SELECT '370102000000000012'::trace_code, trace_code_region('370102000000000012');
-- a wrong check digit names the right one
SELECT '370102000000000018'::trace_code;
\echo :LAST_ERROR_SQLSTATE
-- two neighbours swapped (…12 → …21) are caught
SELECT '370102000000000021'::trace_code;
\echo :LAST_ERROR_SQLSTATE
-- 17 digits
SELECT '37010200000000001'::trace_code;
\echo :LAST_ERROR_SQLSTATE
-- a letter
SELECT '3701020000O0000012'::trace_code;
\echo :LAST_ERROR_SQLSTATE
-- trace_code_next validates the jurisdiction (6 digits) before taking a serial
SELECT trace_code_next('37010');
\echo :LAST_ERROR_SQLSTATE
SELECT trace_code_next('37010x');
\echo :LAST_ERROR_SQLSTATE
-- operators, systems and admins draw serials; the public and regulators do not
SET ROLE shilian_operator;
SELECT trace_code_region(trace_code_next('370102')) AS operator_issues;
RESET ROLE;
SET ROLE shilian_public;
SELECT trace_code_next('370102');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- every single-digit change of an issued code is refused (Damm)
SELECT count(*) AS mutants, count(*) FILTER (WHERE ok) AS accepted
  FROM (SELECT overlay(c placing d::text from i for 1) AS m
          FROM (SELECT '370102000000000012'::text AS c) s, generate_series(1, 18) i, generate_series(0, 9) d
         WHERE substr(c, i, 1) <> d::text) x,
       LATERAL (SELECT pg_temp.try(m, 'trace_code') = 'ok' AS ok) y;
-- exactly one check digit completes a body
SELECT count(*) AS completing_digits FROM generate_series(0, 9) d
 WHERE pg_temp.try('37028112345678901' || d, 'trace_code') = 'ok';
-- and every swap of two different neighbours (of a code with varied digits) is refused
SELECT count(*) AS swaps, count(*) FILTER (WHERE pg_temp.try(m, 'trace_code') = 'ok') AS accepted
  FROM (SELECT substr(c, 1, i - 1) || substr(c, i + 1, 1) || substr(c, i, 1) || substr(c, i + 2) AS m
          FROM (SELECT b || d AS c FROM (SELECT '37028112345678901' AS b) b, generate_series(0, 9) d
                 WHERE pg_temp.try(b || d, 'trace_code') = 'ok') s, generate_series(1, 17) i
         WHERE substr(c, i, 1) <> substr(c, i + 1, 1)) x;


-- ============================ GS1 ==========================================

-- GS1 mod 10 on every published key (GTIN-8/12/13/14 and an SSCC-18);
-- gtin_check_ok() is true only for the GTIN lengths.
SELECT k AS key, length(k) AS len, gs1_check_ok(k), gtin_check_ok(k)
  FROM jsonb_array_elements_text((:'v')::jsonb->'gs1'->'valid') AS k ORDER BY 1;
SELECT k AS key, gs1_check_ok(k), gtin_check_ok(k)
  FROM jsonb_array_elements_text((:'v')::jsonb->'gs1'->'invalid') AS k ORDER BY 1;

-- The Digital Link vector, exactly.
SELECT gs1_digital_link(x->>'gtin', x->>'lot') = x->>'uri' AS uri_ok, gs1_digital_link(x->>'gtin', x->>'lot')
  FROM (SELECT (:'v')::jsonb->'gs1'->'digital_link' AS x) s;
SELECT (gs1_parse_digital_link(x->>'uri')).* FROM (SELECT (:'v')::jsonb->'gs1'->'digital_link' AS x) s;
-- short GTINs are padded to GTIN-14; a lot outside [A-Za-z0-9-._] is percent-encoded
-- and parses back; without a lot there is no /10/.
SELECT gs1_digital_link('96385074', 'A/B%1') AS link, (gs1_parse_digital_link(gs1_digital_link('96385074', 'A/B%1'))).*;
SELECT gs1_digital_link('036000291452') AS no_lot, (gs1_parse_digital_link('http://example.com/res/01/036000291452?linkType=all')).*;
-- a wrong GTIN check digit names the right one
SELECT gs1_digital_link('6901234567893', 'L1');
\echo :LAST_ERROR_SQLSTATE
-- an SSCC is not a GTIN
SELECT gs1_digital_link('106141411234567897', 'L1');
\echo :LAST_ERROR_SQLSTATE
-- a space is not in GS1 character set 82
SELECT gs1_digital_link('09506000134352', 'AB 12');
\echo :LAST_ERROR_SQLSTATE
-- a lot longer than 20 characters
SELECT gs1_digital_link('09506000134352', repeat('A', 21));
\echo :LAST_ERROR_SQLSTATE
-- not a Digital Link
SELECT gs1_parse_digital_link('ftp://id.gs1.org/01/09506000134352');
\echo :LAST_ERROR_SQLSTATE
SELECT gs1_parse_digital_link('https://id.gs1.org/10/ABC');
\echo :LAST_ERROR_SQLSTATE
SELECT gs1_parse_digital_link('https://id.gs1.org/01/09506000134352/10/AB%2');
\echo :LAST_ERROR_SQLSTATE
SELECT gs1_parse_digital_link('https://id.gs1.org/01/09506000134353/10/ABC');
\echo :LAST_ERROR_SQLSTATE

-- ============================ qty ==========================================

-- Input forms and output in a sensible unit (largest of t/kg/g, L/mL, pcs).
SELECT lit, lit::qty AS value, qty_dimension(lit::qty), lit::qty::text::qty = lit::qty AS round_trip
  FROM (VALUES ('12.5 kg'), ('500g'), ('3 pcs'), ('2 斤'), ('250 mL'), ('1.5 L'), ('2 t'), ('2500 kg'),
               ('0.001 g'), ('-1.5 kg'), (' 7 KG '), ('1 ml'), ('0 pcs'), ('3 件'), ('1 公斤'),
               ('0.000002 斤'), ('999999999.999999 t'), ('.5 L')) v(lit);

-- Exact decimal arithmetic in base units: no floating-point drift.
SELECT '0.1 kg'::qty + '0.2 kg'::qty = '0.3 kg'::qty AS exact, '0.1 kg'::qty + '0.2 kg'::qty AS sum;
SELECT sum(q) = '100 g'::qty AS exact_sum_of_1000, sum(q) FROM (SELECT '0.1 g'::qty AS q FROM generate_series(1, 1000)) s;
SELECT '1 kg'::qty - '1500 g'::qty AS diff, '2 斤'::qty = '1 kg'::qty AS jin_is_500g, -'2 L'::qty AS neg;
-- multiplication and division by numbers round half away from zero to 0.001 base unit
SELECT '1 kg'::qty * 0.3333 AS a, 3 * '1 pcs'::qty AS b, '1 kg'::qty / 3 AS c,
       '1 g'::qty * 0.0005 AS half_up, '1 g'::qty * -0.0005 AS half_down, '1 g'::qty * 0.00049 AS below_half;
SELECT '1 kg'::qty / '250 g'::qty AS ratio;
-- conversion and construction
SELECT qty_in('1.5 kg', 'g') AS g, qty_in('1 kg', '斤') AS jin, qty_in('1 g', 't') AS t, qty_in('1.5 L', 'mL') AS ml,
       qty(1.25, 'kg') AS make, qty(-3, 'pcs') AS neg_count;
-- comparisons within a dimension, and aggregates
SELECT '1 kg'::qty > '999 g'::qty AS gt, '1 L'::qty <= '1000 mL'::qty AS le, '2 pcs'::qty <> '3 pcs'::qty AS ne;
SELECT sum(x), min(x), max(x) FROM (VALUES ('1 kg'::qty), ('250 g'), ('3 斤')) v(x);
SELECT sum(x) IS NULL AS empty_sum FROM (SELECT '1 kg'::qty AS x WHERE false) s;

-- Mixing dimensions is an error (22023) in arithmetic and aggregates.
SELECT '1 kg'::qty + '1 L'::qty;
\echo :LAST_ERROR_SQLSTATE
SELECT sum(x) FROM (VALUES ('1 kg'::qty), ('1 L')) v(x);
\echo :LAST_ERROR_SQLSTATE
SELECT min(x) FROM (VALUES ('1 kg'::qty), ('1 L')) v(x);
\echo :LAST_ERROR_SQLSTATE
SELECT max(x) FROM (VALUES ('1 pcs'::qty), ('1 L')) v(x);
\echo :LAST_ERROR_SQLSTATE
-- Comparison is the btree's total order and never raises: by dimension
-- (mass < volume < count), then by amount; two dimensions are never equal.
SELECT '1 kg'::qty < '1 L'::qty AS mass_below_volume, '1 t'::qty < '1 mL'::qty AS any_mass_below_any_volume,
       '1 L'::qty < '1 pcs'::qty AS volume_below_count, '1 kg'::qty = '1000 mL'::qty AS kg_is_not_litre,
       '1 kg'::qty <> '1 pcs'::qty AS ne, '1 pcs'::qty >= '1000 t'::qty AS ge, qty_cmp('-5 L', '1 g') AS cmp;
-- a column mixing units sorts, deduplicates, merge-joins, analyzes and indexes
CREATE TEMP TABLE mixed (q qty);
INSERT INTO mixed SELECT (ARRAY[qty(i, 'kg'), qty(i, 'L'), qty(i, 'pcs'), qty(i * 1000, 'g')])[1 + (i + 20) % 4]
  FROM generate_series(-20, 200) i;
INSERT INTO mixed VALUES ('3 kg'), ('3000 g'), ('6 斤');  -- each equal to a row above
SELECT string_agg(q::text, ' ' ORDER BY q) AS sorted FROM (SELECT DISTINCT q FROM mixed WHERE abs(qty_in(q, CASE qty_dimension(q)
	WHEN 'mass' THEN 'kg' WHEN 'volume' THEN 'L' ELSE 'pcs' END)) <= 4) s;
SELECT count(DISTINCT q) AS distinct_n, count(*) AS n FROM mixed;
ANALYZE mixed;
SELECT histogram_bounds IS NOT NULL AS has_histogram FROM pg_stats WHERE tablename = 'mixed' AND attname = 'q';
SET enable_hashjoin = off; SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM mixed a JOIN mixed b ON a.q = b.q;
SELECT count(*) AS merge_join FROM mixed a JOIN mixed b ON a.q = b.q;
RESET enable_hashjoin; RESET enable_nestloop;
SELECT count(*) FILTER (WHERE q < '0 L') AS below_zero_litre, count(*) FILTER (WHERE q BETWEEN '0 L' AND '1000 L') AS litres
  FROM mixed;
CREATE INDEX mixed_q ON mixed (q);
SET enable_seqscan = off;
SELECT count(*) AS below_zero_litre FROM mixed WHERE q < '0 L';
SELECT count(*) AS litres FROM mixed WHERE q BETWEEN '0 L' AND '1000 L';
EXPLAIN (COSTS OFF) SELECT count(*) FROM mixed WHERE q BETWEEN '0 L' AND '1000 L';
RESET enable_seqscan;
SELECT qty_in('1 kg', 'L');
\echo :LAST_ERROR_SQLSTATE
SELECT '1 kg'::qty / '1 L'::qty;
\echo :LAST_ERROR_SQLSTATE

-- Malformed literals: 22P02, the rule named.
SELECT lit, pg_temp.try(lit, 'qty') AS refusal
  FROM (VALUES ('12.5'), ('kg'), (''), ('12.5 lb'), ('1e3 kg'), ('12,5 kg'), ('1.2.3 kg'), ('0.0001 g'),
               ('0.0000001 斤'), ('- 1 kg'), ('1 k g'), ('--1 kg')) v(lit) ORDER BY 1;
SELECT '12.5'::qty;
\echo :LAST_ERROR_SQLSTATE
SELECT '0.0001 g'::qty;
\echo :LAST_ERROR_SQLSTATE
SELECT '12.5 lb'::qty;
\echo :LAST_ERROR_SQLSTATE
-- Out of range: 22003 (below 10^15 base units), for input and arithmetic.
SELECT '1000000000 t'::qty;
\echo :LAST_ERROR_SQLSTATE
SELECT '999999999 t'::qty + '1 t'::qty;
\echo :LAST_ERROR_SQLSTATE
SELECT '999999999 t'::qty * 2;
\echo :LAST_ERROR_SQLSTATE
SELECT '1 kg'::qty / 0;
\echo :LAST_ERROR_SQLSTATE
-- the constructor refuses bad arguments with 22023
SELECT qty(1, 'lb');
\echo :LAST_ERROR_SQLSTATE
SELECT qty(0.0001, 'g');
\echo :LAST_ERROR_SQLSTATE
SELECT qty('NaN', 'g');
\echo :LAST_ERROR_SQLSTATE

-- ===================== same answers with and without indexes ==============

CREATE TEMP TABLE idx_t (u uscc, l licence_no, c trace_code, q qty);
INSERT INTO idx_t
SELECT (ARRAY['914403001922038216', '91440300708461136T', '91350100M000100Y43'])[1 + i % 3]::uscc,
       (ARRAY['SC11834020305037', 'SC12744040400094', 'JY13301080111719', 'JY23501110153674'])[1 + i % 4]::licence_no,
       trace_code_next((ARRAY['370102', '370211', '370481'])[1 + i % 3]),
       qty(i, 'g')
  FROM generate_series(1, 300) i;
ANALYZE idx_t;
CREATE TEMP TABLE answers (run text, q text, n bigint);
-- The lookups, run with EXECUTE so that each is planned under the current settings.
CREATE FUNCTION pg_temp.lookups(run text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	q text[] := ARRAY[
		'u=', 'SELECT count(*) FROM idx_t WHERE u = ''91440300708461136T''',
		'u<', 'SELECT count(*) FROM idx_t WHERE u < ''91440300708461136T''',
		'l=', 'SELECT count(*) FROM idx_t WHERE l = ''JY13301080111719''',
		'l>=', 'SELECT count(*) FROM idx_t WHERE l >= ''SC11834020305037''',
		'c<', 'SELECT count(*) FROM idx_t WHERE c < (SELECT c FROM idx_t WHERE q <= ''100 g'' ORDER BY c DESC LIMIT 1)',
		'c=', 'SELECT count(*) FROM idx_t WHERE c = (SELECT c FROM idx_t WHERE q <= ''100 g'' ORDER BY c DESC LIMIT 1)',
		'q between', 'SELECT count(*) FROM idx_t WHERE q BETWEEN ''0.05 kg'' AND ''100 g''',
		'q=', 'SELECT count(*) FROM idx_t WHERE q = ''0.25 kg'''];
	n bigint;
BEGIN
	FOR i IN 1 .. array_length(q, 1) BY 2 LOOP
		EXECUTE q[i + 1] INTO n;
		INSERT INTO answers VALUES (run, q[i], n);
	END LOOP;
END $$;
SELECT pg_temp.lookups('seq');
CREATE INDEX ON idx_t USING btree (u); CREATE INDEX ON idx_t USING hash (u);
CREATE INDEX ON idx_t USING btree (l); CREATE INDEX ON idx_t USING hash (l);
CREATE INDEX ON idx_t USING btree (c); CREATE INDEX ON idx_t USING hash (c);
CREATE INDEX ON idx_t USING btree (q); CREATE INDEX ON idx_t USING hash (q);
SET enable_seqscan = off;
SELECT pg_temp.lookups('btree');
-- the indexes are really used
EXPLAIN (COSTS OFF) SELECT count(*) FROM idx_t WHERE u = '91440300708461136T';
EXPLAIN (COSTS OFF) SELECT count(*) FROM idx_t WHERE q BETWEEN '0.05 kg' AND '100 g';
DROP INDEX idx_t_u_idx, idx_t_l_idx, idx_t_c_idx, idx_t_q_idx;
SELECT pg_temp.lookups('hash');
EXPLAIN (COSTS OFF) SELECT count(*) FROM idx_t WHERE l = 'JY13301080111719';
RESET enable_seqscan;
SELECT a.q, a.n AS seq, b.n AS btree, h.n AS hash, a.n = b.n AND a.n = h.n AS same
  FROM answers a JOIN answers b ON b.q = a.q AND b.run = 'btree'
  JOIN answers h ON h.q = a.q AND h.run = 'hash'
 WHERE a.run = 'seq' ORDER BY 1;
-- hash aggregation and hash joins use the hash opclasses
SET enable_sort = off;
SELECT u, count(*) FROM idx_t GROUP BY u ORDER BY 1;
RESET enable_sort;
SELECT count(*) AS joined FROM idx_t a JOIN idx_t b ON a.c = b.c;
