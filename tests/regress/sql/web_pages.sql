-- web_pages (docs/pages.md; named to run last, so that its fixture shifts no
-- id another file prints): what the consumer page, the Digital Link resolver,
-- the labels and the recall graph read. A recall of a farm's lot reaches the
-- processor's lot received from it (a target) and, through a processing
-- step after the recall, the dumplings made from it (not a target, but an
-- input is recalled); the clean lot of another farm is not reached. The
-- fixture lives in its own province (52xxxx); dates are fixed, and the
-- recall's opening day (today) is never printed.

SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY terse

SELECT count(*) AS added FROM (VALUES ('520000', '贵州省'), ('520100', '贵阳市'),
	('520102', '南明区'), ('520102001', '南明所')) v(c, n), LATERAL shilian.jurisdiction_add(c, n);
SELECT shilian.operator_register('南明菜农', 'production', '{farm}', '520102001', '贵阳', '1', reg_card => 'PG-F') AS f \gset
SELECT shilian.operator_register('南明清洁菜场', 'production', '{farm}', '520102001', '贵阳', '2', reg_card => 'PG-G') AS g \gset
SELECT shilian.operator_register('南明食品厂', 'production', '{processor}', '520102001', '贵阳', '3', reg_card => 'PG-P') AS p \gset
SELECT shilian.operator_register('南明超市', 'circulation', '{retailer}', '520102001', '贵阳', '4', reg_card => 'PG-R') AS r \gset
SELECT count(shilian.operator_activate(id)) FROM shilian.operator WHERE reg_card LIKE 'PG-%';
SELECT shilian.licence_add(:p, 'SC10452010200011', '{vegetables,meat}', '2024-01-01', '2028-12-31') > 0 AS ok;

SELECT shilian.product_register('贵州白菜', 'vegetables', shelf_life_days => 10, spec => '散装',
	gtin => '6940000000010', edible_agricultural => true) AS greens \gset
SELECT shilian.product_register('贵州辣椒', 'vegetables', shelf_life_days => 10,
	gtin => '06940000000027', edible_agricultural => true) AS chili \gset
SELECT shilian.product_register('白菜饺子', 'meat', shelf_life_days => 90, spec => '1kg/袋') AS dumplings \gset
\set insp '{"inspector": "检验员"}'

-- S: the farm's lot; P receives part of it as PS (the lot number comes along)
SELECT shilian.batch_create(:f, :greens, '500 kg', '2026-10-01', lot => 'GZ-1001') AS s \gset
SELECT shilian.receive(shilian.ship(:'s', :p, '100 kg', '2026-10-02'), '100 kg', :'insp',
	'2026-10-02 10:00+08') AS ps \gset
SELECT lot FROM shilian.batch WHERE trace_code = :'ps';
-- K: a clean lot of the other farm with no lot number; X: chili with a lot number in Chinese
SELECT shilian.batch_create(:g, :greens, '200 kg', '2026-10-01') AS k \gset
SELECT shilian.batch_create(:g, :chili, '50 kg', '2026-10-01', lot => '十月批') AS x \gset
SELECT shilian.receive(shilian.ship(:'k', :p, '50 kg', '2026-10-02'), '50 kg', :'insp',
	'2026-10-02 11:00+08') AS pk \gset

-- the recall of S, forward: S and PS are its targets
SELECT shilian.recall_open(:'s', '农残超标（测试）') AS rid \gset
SELECT t.trace_code = :'s' AS is_s, t.trace_code = :'ps' AS is_ps FROM shilian.recall_target t
 WHERE t.recall_id = :rid ORDER BY t.depth;
-- after it, P makes dumplings D of PS and PK: D is no target, but an input is recalled
SELECT shilian.transform(ARRAY[:'ps', :'pk']::trace_code[], ARRAY['60 kg', '40 kg']::qty[],
	:dumplings, '1000 pcs', '2026-10-03', lot => 'JZ-1003') AS d \gset
SELECT shilian.receive(shilian.ship(:'d', :r, '400 pcs', '2026-10-04'), '400 pcs', :'insp',
	'2026-10-04 09:00+08') AS rd \gset
SELECT count(*) AS d_targets FROM shilian.recall_target WHERE recall_id = :rid AND trace_code IN (:'d', :'rd');

-- ---- public_trace's recalls: the lot, its inputs, nothing else ----------------
SELECT 'S' AS lot, r - 'opened_on' AS recall FROM jsonb_array_elements(shilian.public_trace(:'s', shilian.public_token(:'s'))->'recalls') r
UNION ALL
SELECT 'PS', r - 'opened_on' FROM jsonb_array_elements(shilian.public_trace(:'ps', shilian.public_token(:'ps'))->'recalls') r
UNION ALL
SELECT 'D', r - 'opened_on' FROM jsonb_array_elements(shilian.public_trace(:'d', shilian.public_token(:'d'))->'recalls') r
UNION ALL
SELECT 'RD', r - 'opened_on' FROM jsonb_array_elements(shilian.public_trace(:'rd', shilian.public_token(:'rd'))->'recalls') r;
-- the clean lot and the chili: no recall
SELECT shilian.public_trace(:'k', shilian.public_token(:'k'))->'recalls' AS k_recalls,
       shilian.public_trace(:'x', shilian.public_token(:'x'))->'recalls' AS x_recalls;
-- the opening day is the platform's day of the recall
SELECT (shilian.public_trace(:'d', shilian.public_token(:'d'))->'recalls'->0->>'opened_on')::date
	= shilian.platform_date(r.opened_at) AS opened_on_ok FROM shilian.recall r WHERE r.id = :rid;
-- custody carries region names; the retailer's page names no quantity
SELECT jsonb_path_query_array(shilian.public_trace(:'rd', shilian.public_token(:'rd')), '$.custody[*].region_name') AS regions;
SELECT shilian.public_trace(:'rd', shilian.public_token(:'rd'))::text ~ '(400 pcs|1000 pcs|60 kg|40 kg|100 kg)' AS quantities_shown;

-- ---- public_lot: the Digital Link and its token pick the lot -------------------
SELECT shilian.public_lot('6940000000010', 'GZ-1001', NULL, shilian.public_token(:'s')) = :'s' AS s_by_gtin13,
       shilian.public_lot('06940000000010', 'GZ-1001', NULL, shilian.public_token(:'ps')) = :'ps' AS ps_same_lot_number,
       shilian.public_lot('06940000000010', 'GZ-1001', 'ITEM-1', upper(shilian.public_token(:'s'))) = :'s' AS serial_with_lot,
       shilian.public_lot('06940000000010', NULL, :'k', shilian.public_token(:'k')) = :'k' AS serial_is_code;
CREATE FUNCTION pg_temp.fails(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
-- the SQLSTATE alone, where the message names a trace code (drawn from a sequence)
CREATE FUNCTION pg_temp.fails_code(q text) RETURNS text LANGUAGE sql AS $$ SELECT left(pg_temp.fails(q), 5) $$;
SELECT pg_temp.fails(format('SELECT shilian.public_lot(%L, %L, NULL, %L)', '06940000000010', 'GZ-1001', 'aaaaaaaaaa')) AS wrong_token;
SELECT pg_temp.fails(format('SELECT shilian.public_lot(%L, %L, NULL, NULL)', '06940000000010', 'GZ-1001')) AS no_token;
SELECT pg_temp.fails(format('SELECT shilian.public_lot(%L, %L, NULL, %L)', '06940000000010', 'GZ-9999', shilian.public_token(:'s'))) AS unknown_lot;
SELECT pg_temp.fails(format('SELECT shilian.public_lot(%L, %L, NULL, %L)', '06940000000027', 'GZ-1001', shilian.public_token(:'s'))) AS other_gtin;
SELECT pg_temp.fails_code(format('SELECT shilian.public_lot(%L, NULL, %L, %L)', '06940000000010', :'x', shilian.public_token(:'x'))) AS code_of_other_gtin;
SELECT pg_temp.fails(format('SELECT shilian.public_lot(%L, NULL, %L, %L)', '06940000000010', 'ABC', shilian.public_token(:'s'))) AS serial_not_a_code;
SELECT pg_temp.fails(format('SELECT shilian.public_lot(%L, %L, NULL, %L)', '06940000000011', 'GZ-1001', shilian.public_token(:'s'))) AS bad_check_digit;
SELECT pg_temp.fails(format('SELECT shilian.public_lot(%L, %L, NULL, %L)', '06940000000010', 'GZ 1001', shilian.public_token(:'s'))) AS lot_outside_set_82;
SELECT pg_temp.fails(format('SELECT shilian.public_lot(%L, NULL, %L, %L)', '06940000000010', '520102999999999998', shilian.public_token(:'s'))) AS code_unknown;
-- the public role may call it, and nothing more
SELECT shilian.public_token(:'s') AS s_token \gset
SET ROLE shilian_public;
SELECT shilian.public_lot('6940000000010', 'GZ-1001', NULL, :'s_token') = :'s' AS public_may;
SELECT pg_temp.fails_code(format('SELECT shilian.public_link(%L)', :'s')) AS public_no_link,
       pg_temp.fails_code(format('SELECT * FROM shilian.lot_label(%L)', :'s')) AS public_no_label;
RESET ROLE;

-- ---- public_link and the labels ------------------------------------------------
SELECT regexp_replace(shilian.public_link(:'s'), 't=[0-9a-z]{10}$', 't=<token>') AS gtin_and_lot,
       regexp_replace(shilian.public_link(:'k'), '21/[0-9]{18}\?t=[0-9a-z]{10}$', '21/<code>?t=<token>') AS gtin_no_lot,
       regexp_replace(shilian.public_link(:'x'), '21/[0-9]{18}\?t=[0-9a-z]{10}$', '21/<code>?t=<token>') AS lot_in_chinese,
       regexp_replace(shilian.public_link(:'d'), '^/t/[0-9]{18}\?t=[0-9a-z]{10}$', '/t/<code>?t=<token>') AS no_gtin;
SELECT shilian.public_link(:'s') = '/01/06940000000010/10/GZ-1001?t=' || shilian.public_token(:'s') AS link_has_the_token;
SELECT product, spec, gtin, lot, produced_on, expires_on, link LIKE '/01/%' AS dl FROM shilian.lot_label(:'ps');
-- as the farm: its own lots of the day, not the other farm's; another's label is an unknown batch
BEGIN;
SET LOCAL ROLE shilian_operator;
SELECT set_config('shilian.operator_id', :'f', true) IS NOT NULL AS acting;
SELECT trace_code = :'s' AS own, product FROM shilian.lot_labels('2026-10-01');
SELECT count(*) AS other_day FROM shilian.lot_labels('2026-10-02');
SELECT pg_temp.fails_code(format('SELECT * FROM shilian.lot_label(%L)', :'k')) AS others_label;
SELECT pg_temp.fails_code(format('SELECT shilian.public_link(%L)', :'k')) AS others_link;
SELECT pg_temp.fails(format('SELECT shilian.recall_graph(%s)', :rid)) AS operator_graph;
ROLLBACK;

-- ---- recall_graph --------------------------------------------------------------
SELECT jsonb_array_length(g->'nodes') AS nodes, jsonb_array_length(g->'edges') AS edges,
       g->'recall'->>'reason' AS reason, g->'recall'->>'status' AS status,
       (SELECT array_agg(n->>'holder_name' ORDER BY n->>'depth') FROM jsonb_array_elements(g->'nodes') n) AS holders,
       (SELECT array_agg(n->>'region_name') FROM jsonb_array_elements(g->'nodes') n) AS regions,
       (SELECT e->>'qty' FROM jsonb_array_elements(g->'edges') e) AS edge_qty
  FROM shilian.recall_graph(:rid) g;
-- a regulator of the province follows the recall the admin opened? No: 42501
BEGIN;
SET LOCAL ROLE shilian_regulator;
SELECT set_config('shilian.jurisdiction', '520000', true) IS NOT NULL AS acting;
SELECT pg_temp.fails_code(format('SELECT shilian.recall_graph(%s)', :rid)) AS outside_follower;
ROLLBACK;
SELECT pg_temp.fails('SELECT shilian.recall_graph(-1)') AS unknown_recall;

-- ---- closed: the warning goes ---------------------------------------------------
SELECT count(*) AS closed FROM (SELECT shilian.recall_close(:rid, '测试结束')) c;
SELECT shilian.public_trace(:'d', shilian.public_token(:'d'))->'recalls' AS d_after_close,
       shilian.public_trace(:'ps', shilian.public_token(:'ps'))->'recalls' AS ps_after_close;
