-- The demo province loaded by `make run` (idempotent). Each area of the
-- platform adds its part here so that a newcomer sees it working.
SELECT 'demo: shilian ' || shilian.version() AS loaded;

-- Identifier and quantity types (docs/types.md): checked literals.
SELECT '91350100M000100Y43'::shilian.uscc AS uscc,
       'SC11834020305037'::shilian.license_no AS licence,
       '370102000000000012'::shilian.trace_code AS trace_code,
       '2 斤'::shilian.qty AS qty;

-- ---- trace and recall (docs/trace.md) ----------------------------------------
-- A small chain, made once: a farm's cabbage lot sold to a wholesaler, split
-- to a market vendor and a dumpling maker, whose dumplings go to a school
-- canteen; then a recall of the farm lot with one holder's acknowledgement.
-- Try: SELECT * FROM shilian.trace_forward((SELECT trace_code FROM shilian.recall ORDER BY id LIMIT 1));
DO $demo$
DECLARE
	farm bigint; wh bigint; vendor bigint; maker bigint; canteen bigint;
	cabbage bigint; dumplings bigint;
	lot_farm shilian.trace_code; lot_wh shilian.trace_code; lot_maker shilian.trace_code;
	lot_dumplings shilian.trace_code; lot_canteen shilian.trace_code;
	rid bigint;
	insp jsonb := '{"inspector": "演示检验员"}';
BEGIN
	IF EXISTS (SELECT 1 FROM shilian.operator WHERE reg_card = 'DEMO-TRACE-FARM') THEN
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM shilian.jurisdiction WHERE code = '370000') THEN
		PERFORM shilian.jurisdiction_add('370000', '山东省');
	END IF;
	IF NOT EXISTS (SELECT 1 FROM shilian.jurisdiction WHERE code = '370100') THEN
		PERFORM shilian.jurisdiction_add('370100', '济南市');
	END IF;
	IF NOT EXISTS (SELECT 1 FROM shilian.jurisdiction WHERE code = '370112') THEN
		PERFORM shilian.jurisdiction_add('370112', '历城区');
	END IF;
	IF NOT EXISTS (SELECT 1 FROM shilian.jurisdiction WHERE code = '370112900') THEN
		PERFORM shilian.jurisdiction_add('370112900', '历城区演示市场监管所');
	END IF;
	farm := shilian.operator_register('演示蔬菜合作社', 'production', '{farm}', '370112900',
		'济南市历城区演示村', '0531-0000001', reg_card => 'DEMO-TRACE-FARM');
	wh := shilian.operator_register('演示农产品批发', 'circulation', '{wholesaler}', '370112900',
		'济南市历城区演示路1号', '0531-0000002', reg_card => 'DEMO-TRACE-WH');
	vendor := shilian.operator_register('演示菜摊', 'circulation', '{market_vendor}', '370112900',
		'济南市历城区演示市场', '0531-0000003', reg_card => 'DEMO-TRACE-VENDOR');
	maker := shilian.operator_register('演示水饺厂', 'production', '{processor}', '370112900',
		'济南市历城区演示路2号', '0531-0000004', reg_card => 'DEMO-TRACE-MAKER');
	canteen := shilian.operator_register('演示小学食堂', 'catering', '{school_canteen}', '370112900',
		'济南市历城区演示路3号', '0531-0000005', reg_card => 'DEMO-TRACE-CANTEEN');
	PERFORM shilian.operator_activate(x) FROM unnest(ARRAY[farm, wh, vendor, maker, canteen]) x;
	PERFORM shilian.licence_add(wh, 'JY13701129000011', '{vegetables}', current_date - 365, current_date + 365);
	PERFORM shilian.licence_add(maker, 'SC10437011290022', '{vegetables,meat}', current_date - 365, current_date + 365);
	cabbage := shilian.product_register('演示大白菜', 'vegetables', shelf_life_days => 10,
		edible_agricultural => true);
	dumplings := shilian.product_register('演示白菜水饺', 'meat', shelf_life_days => 90, spec => '1kg/袋');

	lot_farm := shilian.batch_create(farm, cabbage, '800 kg', current_date - 3, lot => 'DEMO-1');
	lot_wh := shilian.receive(shilian.ship(lot_farm, wh, '500 kg', current_date - 2), '500 kg', insp,
		now() - interval '2 days');
	PERFORM shilian.receive(shilian.ship(lot_wh, vendor, '100 kg', current_date - 1), '100 kg', insp,
		now() - interval '1 day');
	lot_maker := shilian.receive(shilian.ship(lot_wh, maker, '300 kg', current_date - 1), '300 kg', insp,
		now() - interval '1 day');
	lot_dumplings := shilian.transform(ARRAY[lot_maker], ARRAY['200 kg']::shilian.qty[], dumplings,
		'4000 pcs', current_date, lot => 'DEMO-SJ');
	PERFORM shilian.inspect(lot_dumplings, 'release', 'pass',
		'{"certificate_no": "DEMO-QC-1", "inspector": "演示质检员"}');
	lot_canteen := shilian.receive(shilian.ship(lot_dumplings, canteen, '1000 pcs', current_date),
		'1000 pcs', insp);
	PERFORM shilian.consume(lot_canteen, '300 pcs', 'served');

	rid := shilian.recall_open(lot_farm, '演示：农残快检超标');
	PERFORM shilian.recall_ack(rid, canteen, 'destroyed', '700 pcs');
END;
$demo$;
SELECT 'demo: recall ' || id || ' open, ' || (shilian.recall_status(id)).outstanding || ' lots outstanding' AS trace
  FROM shilian.recall ORDER BY id LIMIT 1;

-- ---- ledger (docs/ledger-format.md) ---------------------------------------------
-- Every record above is an entry in its operator's hash chain; publish a
-- Merkle tree head over them and verify every chain. Try:
--   SELECT * FROM shilian.chain_verify();
--   SELECT shilian.verify_inclusion(shilian.inclusion_proof(min(id))) FROM shilian.ledger;
--   and `shilian-verify` on `psql -Atc "select shilian.ledger_export(<operator>)"`.
SELECT 'demo: checkpoint of ' || tree_size || ' entries, root ' || encode(root, 'hex') AS ledger
  FROM shilian.checkpoint();
SELECT 'demo: ' || count(*) || ' chains verified, all ok = ' || bool_and(ok) AS ledger
  FROM shilian.chain_verify();
