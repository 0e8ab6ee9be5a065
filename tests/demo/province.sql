-- The demo province loaded by `make run` (idempotent). Each area of the
-- platform adds its part here so that a newcomer sees it working.
SELECT 'demo: shilian ' || shilian.version() AS loaded;

-- The month partitions of the ledger, inspections, consumption and the
-- counters (docs/operations.md#partitioning-分区): this month and three ahead, as the
-- daily job makes them, before the demo's records; shown with the number of
-- rows in each at the end.
SELECT shilian.partitions_ahead() >= 0 AS partitions_ready;

-- Identifier and quantity types (docs/types.md): checked literals.
SELECT '91350100M000100Y43'::shilian.uscc AS uscc,
       'SC11834020305037'::shilian.licence_no AS licence,
       '370102000000000012'::shilian.trace_code AS trace_code,
       '2 斤'::shilian.qty AS qty;

-- Registry and trace records (docs/sql-reference.md): Shandong 370000 with
-- two cities, four counties and their supervision stations, eleven operators
-- across the four segments, licences, products in key categories and a chain
-- farm -> wholesaler -> market vendor, and -> processor (with flour from a
-- mill) -> school canteen and central kitchen; milk to a collective-meal
-- unit; one sale still pending (a receipt draft). Dates are relative to today
-- so that the batches are live. Loaded once: the farm's USCC is the marker.
DO $demo$
DECLARE
	d0 date := shilian.platform_today() - 6;
	farm bigint; wholesaler bigint; vendor bigint; processor bigint; mill bigint;
	market bigint; canteen bigint; kitchen bigint; babyshop bigint; dairy bigint;
	meals bigint; seafood bigint;
	cabbage bigint; flour bigint; dumplings bigint; milk bigint; formula bigint;
	b_cabbage shilian.trace_code; b_cabbage_wh shilian.trace_code; b_flour shilian.trace_code;
	b_flour_p shilian.trace_code; b_cabbage_p shilian.trace_code; b_dumplings shilian.trace_code;
	b_canteen shilian.trace_code; b_milk shilian.trace_code; b_meals shilian.trace_code;
	l bigint;
BEGIN
	-- the types' operators (uscc =, qty +) for this transaction only
	PERFORM set_config('search_path', 'shilian, public', true);
	IF EXISTS (SELECT 1 FROM shilian.operator WHERE uscc = '93370112MA3D001010') THEN
		RAISE NOTICE 'demo records already loaded';
		RETURN;
	END IF;

	PERFORM shilian.jurisdiction_add(c, n)
	   FROM (VALUES ('370000', '山东省'), ('370100', '济南市'), ('370200', '青岛市'),
			('370102', '历下区'), ('370112', '历城区'), ('370202', '市南区'), ('370211', '黄岛区'),
			('370102001', '历下区泉城路市场监管所'), ('370112001', '历城区洪家楼市场监管所'),
			('370202001', '市南区八大关市场监管所'), ('370211001', '黄岛区辛安市场监管所')) v(c, n)
	  WHERE NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = v.c);

	farm := shilian.operator_register('历城绿源蔬菜专业合作社', 'production', '{farm}', '370112001',
		'济南市历城区港沟街道', '0531-88100101', uscc => '93370112MA3D001010');
	wholesaler := shilian.operator_register('济南泉城农产品批发市场有限公司', 'circulation', '{wholesaler,market}',
		'370102001', '济南市历下区泉城路1号', '0531-88100102', uscc => '91370102MA3D00102R',
		own_system => true, regulator_contact => '泉城路所 张三 0531-86000001');
	vendor := shilian.operator_register('王五蔬菜摊', 'circulation', '{market_vendor}', '370102001',
		'济南市历下区泉城路农贸市场A12', '13800100103', reg_card => 'LX370102-0103');
	processor := shilian.operator_register('济南鲁味食品有限公司', 'production', '{processor}', '370112001',
		'济南市历城区工业北路8号', '0531-88100104', uscc => '91370112MA3D00104F', own_system => true);
	mill := shilian.operator_register('青岛黄岛面粉有限公司', 'production', '{processor}', '370211001',
		'青岛市黄岛区辛安街道面粉路2号', '0532-88100105', uscc => '91370211MA3D001059');
	market := shilian.operator_register('青岛市南惠民超市', 'circulation', '{retailer}', '370202001',
		'青岛市市南区香港中路10号', '0532-88100106', uscc => '91370202MA3D00106B');
	canteen := shilian.operator_register('历下实验小学食堂', 'catering', '{school_canteen}', '370102001',
		'济南市历下区文化东路5号', '0531-88100107', uscc => '12370102MB2D00107A',
		regulator_contact => '泉城路所 李四 0531-86000002');
	kitchen := shilian.operator_register('青岛黄岛中央厨房有限公司', 'catering', '{central_kitchen}', '370211001',
		'青岛市黄岛区长江路3号', '0532-88100108', uscc => '91370211MA3D00108J');
	babyshop := shilian.operator_register('青岛市南母婴用品店', 'special_food', '{retailer}', '370202001',
		'青岛市市南区东海西路6号', '0532-88100109', uscc => '91370202MA3D00109L');
	dairy := shilian.operator_register('历城牧场乳业有限公司', 'production', '{farm,processor}', '370112001',
		'济南市历城区柳埠街道', '0531-88100110', uscc => '91370112MA3D001104');
	meals := shilian.operator_register('济南团餐配送有限公司', 'catering', '{collective_meal}', '370102001',
		'济南市历下区经十路20号', '0531-88100111', uscc => '91370102MA3D00111P');
	seafood := shilian.operator_register('市南海鲜小馆', 'catering', '{restaurant}', '370202001',
		'青岛市市南区大学路7号', '13800100112', reg_card => 'XC370202-0112');
	-- everyone but the seafood restaurant has been activated by its station
	PERFORM shilian.operator_activate(id) FROM shilian.operator
	  WHERE id IN (farm, wholesaler, vendor, processor, mill, market, canteen, kitchen, babyshop, dairy, meals);

	PERFORM shilian.licence_add(wholesaler, 'JY13701020001019', '{vegetables,fruit,aquatic,grain,meat}', d0 - 700, d0 + 1100);
	PERFORM shilian.licence_add(processor, 'SC10437011201042', '{vegetables,grain,meat}', d0 - 400, d0 + 1400);
	PERFORM shilian.licence_add(mill, 'SC10537021101054', '{grain}', d0 - 900, d0 + 900);
	PERFORM shilian.licence_add(market, 'JY13702020001062', '{vegetables,fruit,meat,dairy,grain,edible_oil,alcohol}', d0 - 300, d0 + 1500);
	PERFORM shilian.licence_add(canteen, 'JY33701020001073', '{vegetables,grain,meat,dairy}', d0 - 500, d0 + 1300);
	PERFORM shilian.licence_add(kitchen, 'JY23702110001089', '{vegetables,grain,meat}', d0 - 200, d0 + 1600);
	PERFORM shilian.licence_add(babyshop, 'JY13702020001095', '{infant_formula,health_food}', d0 - 100, d0 + 1700);
	PERFORM shilian.licence_add(dairy, 'SC11337011201104', '{dairy}', d0 - 800, d0 + 1000);
	PERFORM shilian.licence_add(meals, 'JY13701020001117', '{vegetables,grain,meat,dairy}', d0 - 600, d0 + 1200);

	cabbage := shilian.product_register('大白菜', 'vegetables', 10, '散装', edible_agricultural => true);
	flour := shilian.product_register('小麦粉', 'grain', 180, '25kg/袋', gtin => '6901234567892', owner => mill);
	dumplings := shilian.product_register('白菜猪肉水饺', 'meat', 90, '1kg/袋', owner => processor);
	milk := shilian.product_register('巴氏杀菌鲜牛奶', 'dairy', 7, '1L/瓶', owner => dairy);
	formula := shilian.product_register('婴儿配方奶粉(0-6月龄)', 'infant_formula', 540, '800g/罐');

	-- farm -> wholesaler -> market vendor (who also buys from a farmer without records)
	b_cabbage := shilian.batch_create(farm, cabbage, '2 t', d0, 'LY-' || to_char(d0, 'MMDD'));
	l := shilian.ship(b_cabbage, wholesaler, '800 kg', d0 + 1);
	-- the wholesale market's own system uploads its receipts (a system client)
	PERFORM set_config('shilian.client', 'quancheng-wms', true);
	b_cabbage_wh := shilian.receive(l, '800 kg', '{"inspector": "李建", "rapid_test": "农残速测合格"}', (d0 + 1) + time '15:00');
	PERFORM set_config('shilian.client', '', true);
	l := shilian.ship(b_cabbage_wh, vendor, '60 kg', d0 + 2);
	PERFORM shilian.receive(l, '55 kg', '{"inspector": "王五"}', (d0 + 2) + time '06:00', reject_reason => '5 kg 萎蔫退回');
	PERFORM shilian.consume(shilian.receive_first_entry(vendor, cabbage, '30 kg',
		'{"name": "赵六", "contact": "13900100109", "address": "历城区港沟村"}',
		'{"inspector": "王五", "rapid_test": "农残速测合格"}', d0 + 2, (d0 + 2) + time '05:30'),
		'20 kg', 'retail_sold', (d0 + 2) + time '18:00');

	-- mill -> processor; wholesaler -> processor; dumplings from cabbage and flour
	b_flour := shilian.batch_create(mill, flour, '5 t', d0 - 10, 'MF-' || to_char(d0 - 10, 'MMDD'));
	PERFORM shilian.inspect(b_flour, 'release', 'pass',
		'{"certificate_no": "HD-QC-0001", "inspector": "钱七", "items": {"moisture": "13.2%", "ash": "0.62%"}}',
		(d0 - 9) + time '09:00');
	l := shilian.ship(b_flour, processor, '1 t', d0 + 1);
	b_flour_p := shilian.receive(l, '1 t', '{"inspector": "孙八"}', (d0 + 2) + time '09:00');
	l := shilian.ship(b_cabbage_wh, processor, '400 kg', d0 + 2);
	b_cabbage_p := shilian.receive(l, '400 kg', '{"inspector": "孙八"}', (d0 + 2) + time '10:00');
	b_dumplings := shilian.transform(ARRAY[b_cabbage_p, b_flour_p], ARRAY['350 kg', '300 kg']::shilian.qty[],
		dumplings, '6000 pcs', d0 + 3, 'SJ-' || to_char(d0 + 3, 'MMDD'));
	PERFORM shilian.inspect(b_dumplings, 'release', 'pass',
		'{"certificate_no": "LW-QC-0001", "inspector": "周九"}', (d0 + 3) + time '17:00');

	-- processor -> school canteen (served, sample kept) and -> central kitchen (partly rejected)
	l := shilian.ship(b_dumplings, canteen, '1500 pcs', d0 + 4);
	b_canteen := shilian.receive(l, '1500 pcs', '{"inspector": "吴十", "cold_chain": "-18C"}', (d0 + 4) + time '08:00');
	PERFORM shilian.consume(b_canteen, '1000 pcs', 'served', (d0 + 4) + time '12:00');
	PERFORM shilian.consume(b_canteen, '20 pcs', 'sample_kept', (d0 + 4) + time '12:00', '留样 48 小时');
	l := shilian.ship(b_dumplings, kitchen, '2000 pcs', d0 + 4);
	PERFORM shilian.receive(l, '1950 pcs', '{"inspector": "郑一"}', (d0 + 5) + time '07:00',
		reject_reason => '50 pcs 包装破损退回');
	-- still pending: the supermarket's receipt draft (see receipt_drafts)
	PERFORM shilian.ship(b_dumplings, market, '1000 pcs', d0 + 5);

	-- dairy -> collective-meal unit
	b_milk := shilian.batch_create(dairy, milk, '3000 L', shilian.platform_today() - 1, 'RY-' || to_char(shilian.platform_today() - 1, 'MMDD'));
	PERFORM shilian.inspect(b_milk, 'release', 'pass',
		'{"certificate_no": "RY-QC-0001", "inspector": "冯二"}', (shilian.platform_today() - 1) + time '06:00');
	l := shilian.ship(b_milk, meals, '500 L', shilian.platform_today() - 1);
	-- the dairy typed 3000 L for 3200 L: corrected (更正, docs/sql-reference.md
	-- "Corrections"); the original entry stays in its chain, a correct entry
	-- supersedes it. Try: SELECT * FROM shilian.corrections('batch', <the milk batch's id>);
	PERFORM shilian.correct('batch', (SELECT b.id FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) b_milk),
		'称重录入错误：实际 3200 L', '{"qty": "3200 L"}');
	b_meals := shilian.receive(l, '500 L', '{"inspector": "陈三"}', (shilian.platform_today() - 1) + time '10:00');
	PERFORM shilian.consume(b_meals, '300 L', 'served', (shilian.platform_today() - 1) + time '12:00');

	-- the baby shop's formula came from outside the province: a first entry with its importer's licence
	PERFORM shilian.receive_first_entry(babyshop, formula, '120 pcs',
		'{"name": "上海某进口贸易有限公司", "contact": "021-60000000", "address": "上海市浦东新区", "licence": "JY13101150000000"}',
		'{"inspector": "褚四", "certificate": "入境货物检验检疫证明 3100000000"}', shilian.platform_today() - 30, (shilian.platform_today() - 3) + time '10:00',
		certificate => '{"certificate_no": "3100000000"}');
END
$demo$;

SELECT o.name AS holder, p.name AS product, b.origin, b.qty, b.qty_left, b.expires_on
  FROM shilian.batch b JOIN shilian.operator o ON o.id = b.owner_id JOIN shilian.product p ON p.id = b.product_id
 WHERE o.station LIKE '37%' ORDER BY b.id;

-- ---- trace and recall (docs/trace.md) ----------------------------------------
-- A recall of the farm's cabbage lot above, opened once by the platform: it
-- reaches the wholesaler, the vendor, the processor's cabbage and dumplings,
-- the canteen and the central kitchen; the canteen has acknowledged.
-- Try: SELECT * FROM shilian.recall_targets(1);  SELECT * FROM shilian.recall_status(1);
--      SELECT * FROM shilian.trace_backward((SELECT trace_code FROM shilian.recall_targets(1) ORDER BY depth DESC LIMIT 1));
DO $demo$
DECLARE
	lot shilian.trace_code;
	canteen bigint;
	rid bigint;
BEGIN
	SELECT b.trace_code INTO lot
	  FROM shilian.batch b JOIN shilian.operator o ON o.id = b.owner_id
	 WHERE o.uscc OPERATOR(shilian.=) '93370112MA3D001010'::shilian.uscc AND b.origin = 'produced'
	 ORDER BY b.id LIMIT 1;
	IF lot IS NULL OR EXISTS (SELECT 1 FROM shilian.recall r WHERE r.trace_code OPERATOR(shilian.=) lot) THEN
		RETURN;
	END IF;
	-- opened by the provincial regulator (its jurisdiction follows the recall)
	PERFORM set_config('shilian.jurisdiction', '370000', true);
	rid := shilian.recall_open(lot, '演示：大白菜农残快检超标');
	PERFORM set_config('shilian.jurisdiction', '', true);
	SELECT o.id INTO canteen FROM shilian.operator o
	 WHERE o.uscc OPERATOR(shilian.=) '12370102MB2D00107A'::shilian.uscc;
	PERFORM shilian.recall_ack(rid, canteen, 'destroyed', t.qty_on_hand)
	   FROM shilian.recall_target t WHERE t.recall_id = rid AND t.operator_id = canteen;
END
$demo$;
SELECT 'demo: recall ' || r.id || ' of ' || r.trace_code || ': ' || s.targets || ' lots, '
	|| s.outstanding || ' outstanding' AS recall
  FROM shilian.recall r, shilian.recall_status(r.id) s ORDER BY r.id LIMIT 1;

-- Ledger (docs/ledger-format.md): a short demo chain for operator 900001 and
-- a published tree head, written once. Try:
--   SELECT * FROM shilian.chain_verify(900001);
--   SELECT shilian.verify_inclusion(shilian.inclusion_proof(id)) FROM shilian.ledger WHERE operator_id = 900001;
DO $$
DECLARE
	shipped bigint;
BEGIN
	IF EXISTS (SELECT 1 FROM shilian.ledger WHERE operator_id = 900001) THEN
		RETURN;
	END IF;
	PERFORM shilian.ledger_append(900001, 'batch_create',
		'{"product": "菠菜 spinach", "lot": "L20261128-01", "qty": 120.5, "unit": "kg", "produced": "2026-11-28"}');
	PERFORM shilian.ledger_append(900001, 'inspect',
		'{"lot": "L20261128-01", "kind": "factory_release", "result": "pass", "report": "R-3701-0001"}');
	shipped := shilian.ledger_append(900001, 'ship',
		'{"lot": "L20261128-01", "buyer": "370102-market-7", "qty": 40, "unit": "kg"}');
	PERFORM shilian.ledger_append(900001, 'ship',
		'{"lot": "L20261128-01", "buyer": "370102-market-7", "qty": 45, "unit": "kg", "note": "quantity corrected"}',
		shipped);
	PERFORM shilian.checkpoint();
END
$$;
SELECT 'demo: ledger ' || entries || ' entries, chain ok = ' || ok AS ledger FROM shilian.chain_verify(900001);

-- ---- the operator roll (docs/regulator.md) -------------------------------------
-- The licences the regulator knows of from the licence register: two held by
-- operators on the platform, two by businesses not registered yet. Try:
--   SELECT * FROM shilian.jurisdiction_stats('370000', daterange(shilian.platform_today() - 30, shilian.platform_today(), '[]'));
--   SELECT * FROM shilian.inactive_operators('370000', shilian.platform_today() - 7);
INSERT INTO shilian.operator_roll (licence_no, name, station, segment, kinds) VALUES
	('JY13701020001019', '济南泉城农产品批发市场有限公司', '370102001', 'circulation', '{wholesaler,market}'),
	('SC10437011201042', '济南鲁味食品有限公司', '370112001', 'production', '{processor}'),
	('JY13701120000015', '历城港沟饭店', '370112001', 'catering', '{restaurant}'),
	('JY13702020000018', '市南八大关便利店', '370202001', 'circulation', '{retailer}')
ON CONFLICT (licence_no) DO NOTHING;
SELECT 'demo: ' || count(*) || ' licences on the operator roll' AS roll FROM shilian.operator_roll;

-- ---- self-service registration and activation (docs/registration.md) ----------
-- Two market vendors are added to the roll. 老王 registers himself
-- (his licence, name and station match the roll: registered at once), the
-- station gives him an activation code and he activates with his phone;
-- 李记 writes its name differently and waits in the station's queue (the
-- roll's other unregistered licences are above). Try:
--   SELECT * FROM shilian.registration_requests('370102');
--   SELECT * FROM shilian.registration_followup('370100');
--   curl -s -X POST $SHILIAN_URL/v1/registrations -H 'Content-Type: application/json' -d '{...}'
INSERT INTO shilian.operator_roll (licence_no, name, station, segment, kinds) VALUES
	('JY13701020003016', '泉城路老王菜摊', '370102001', 'circulation', '{market_vendor}'),
	('JY13701020003024', '泉城路李记水果', '370102001', 'circulation', '{market_vendor}')
ON CONFLICT (licence_no) DO NOTHING;
DO $$
DECLARE
	r jsonb;
	code text;
BEGIN
	IF EXISTS (SELECT 1 FROM shilian.registration_request WHERE licence_no::text = 'JY13701020003016') THEN
		RETURN;
	END IF;
	r := shilian.operator_register_request('泉城路老王菜摊', 'circulation', '{market_vendor}', '370102001',
		'济南市历下区泉城路菜市场 A-12', '13800000016', 'JY13701020003016', '{vegetables}',
		shilian.platform_today() - 200, shilian.platform_today() + 1600,
		reg_card => 'LX370102-3016', identity => 'phone:13800000016');
	code := shilian.activation_code_issue((r->>'operator')::bigint) ->> 'code';
	PERFORM shilian.operator_activate_with_code('JY13701020003016', code, 'phone:13800000016');
	PERFORM shilian.operator_register_request('李记水果店', 'circulation', '{market_vendor}', '370102001',
		'济南市历下区泉城路菜市场 B-03', '13800000024', 'JY13701020003024', '{fruit}',
		shilian.platform_today() - 100, shilian.platform_today() + 1700, reg_card => 'LX370102-3024');
END
$$;
SELECT 'demo: registration requests ' || string_agg(licence_no::text || ' ' || status, ', ' ORDER BY id)
	AS registrations FROM shilian.registration_request;

-- ---- assessment targets (docs/regulator.md) -----------------------------------
-- The province's standard targets, and Jinan's higher ones as a national
-- food-safety demonstration city. Try:
--   SELECT shilian.monthly_report(shilian.platform_today(), '370000');
-- Issuing last month's report (the job on the 5th) freezes its figures
-- (docs/regulator.md#frozen-months-月报封存):
--   SET ROLE shilian_admin; SELECT shilian.monthly_report_publish();
--   SELECT * FROM shilian.figures_frozen_month;
INSERT INTO shilian.assessment_target VALUES
	('370000', false, 0.90, 0.80, 0.95, 0.80),
	('370100', true, 0.98, 0.90, 1.00, 0.95)
ON CONFLICT (code) DO NOTHING;

-- ---- GS1 EPCIS 2.0 (docs/integration.md) ------------------------------------------
-- The farm's own system speaks EPCIS: it commissions a lot of tomatoes (GTIN
-- 6970000000017) and ships part of it to the wholesale market, whose system
-- captures the receipt; the records are made by epcis_capture. The farm and
-- the market are registered by GLN (gs1_location), and the shipping event
-- names them and the farm's field only by PGLN and SGLN. The receipt
-- is sent as a standard client would, without an eventID: it is named by its
-- GS1 event hash ID (ni:///sha-256;...?ver=CBV2.0), and sending the same
-- document again records nothing new. It names the parties by PGLN and has
-- nothing of the platform's own, no shilian:inspection either: the receipt is
-- recorded without its incoming inspection (进货查验), which
-- record_completeness('receipt', link) reports and the regulator's findings
-- list as missing_incoming_inspection. Try:
--   SELECT jsonb_pretty(shilian.epcis_query('{"EQ_bizStep": "shipping|receiving"}'));
--   SELECT event_id FROM shilian.epcis_event WHERE biz_step = 'receiving';
--   curl -s "$GW/epcis/events?EQ_bizStep=receiving&orderBy=eventTime" -H "Authorization: Bearer $TOKEN"
-- The market keeps a named query, received-tomatoes (GET /epcis/queries as the market).
DO $demo$
DECLARE
	d0 date := shilian.platform_today() - 6;
	farm bigint;
	wh bigint;
	lot text := 'FQ-' || to_char(shilian.platform_today() - 5, 'MMDD');
	ctx jsonb := '["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"shilian": "urn:shilian:epcis:"}]';
BEGIN
	IF EXISTS (SELECT 1 FROM shilian.epcis_event) THEN
		RETURN;
	END IF;
	SELECT id INTO farm FROM shilian.operator WHERE name = '历城绿源蔬菜专业合作社';
	SELECT id INTO wh FROM shilian.operator WHERE name = '济南泉城农产品批发市场有限公司';
	IF NOT EXISTS (SELECT 1 FROM shilian.product WHERE gtin = '6970000000017') THEN
		PERFORM shilian.product_register('番茄', 'vegetables', 15, '散装', gtin => '6970000000017',
			edible_agricultural => true);
	END IF;
	-- GS1 master data: the farm's PGLN and a field (SGLN), the market's PGLN
	PERFORM shilian.gs1_location_register(farm, 'urn:epc:id:pgln:6970000.00001', '历城绿源蔬菜专业合作社');
	PERFORM shilian.gs1_location_register(farm, 'urn:epc:id:sgln:6970000.00001.field-3', '3号地块');
	PERFORM shilian.gs1_location_register(wh, 'urn:epc:id:pgln:6970000.00003', '济南泉城农产品批发市场');
	PERFORM shilian.epcis_capture(jsonb_build_object('@context', ctx, 'type', 'EPCISDocument',
		'schemaVersion', '2.0', 'creationDate', to_char(d0 + 2, 'YYYY-MM-DD') || 'T10:00:00+08:00',
		'epcisBody', jsonb_build_object('eventList', jsonb_build_array(
			jsonb_build_object('eventID', 'urn:uuid:9d3f0c2a-7b1e-4e6f-8a21-0000000d0001',
				'type', 'ObjectEvent', 'action', 'ADD', 'bizStep', 'commissioning', 'disposition', 'active',
				'eventTime', to_char(d0 + 1, 'YYYY-MM-DD') || 'T08:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
				'bizLocation', jsonb_build_object('id', 'urn:shilian:operator:' || farm),
				'quantityList', jsonb_build_array(jsonb_build_object(
					'epcClass', 'urn:epc:class:lgtin:6970000.000001.' || lot, 'quantity', 1000, 'uom', 'KGM'))),
			-- a standard shipping event: the field's SGLN, the parties' PGLNs
			jsonb_build_object('eventID', 'urn:uuid:9d3f0c2a-7b1e-4e6f-8a21-0000000d0002',
				'type', 'ObjectEvent', 'action', 'OBSERVE', 'bizStep', 'shipping', 'disposition', 'in_transit',
				'eventTime', to_char(d0 + 2, 'YYYY-MM-DD') || 'T09:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
				'readPoint', jsonb_build_object('id', 'urn:epc:id:sgln:6970000.00001.field-3'),
				'bizLocation', jsonb_build_object('id', 'urn:epc:id:sgln:6970000.00001.field-3'),
				'quantityList', jsonb_build_array(jsonb_build_object(
					'epcClass', 'https://id.gs1.org/01/06970000000017/10/' || lot, 'quantity', 300, 'uom', 'KGM')),
				'sourceList', jsonb_build_array(jsonb_build_object(
					'type', 'owning_party', 'source', 'urn:epc:id:pgln:6970000.00001')),
				'destinationList', jsonb_build_array(jsonb_build_object(
					'type', 'owning_party', 'destination', 'https://id.gs1.org/417/6970000000031')))))));
	PERFORM shilian.epcis_capture(jsonb_build_object('@context', ctx, 'type', 'EPCISDocument',
		'schemaVersion', '2.0', 'creationDate', to_char(d0 + 2, 'YYYY-MM-DD') || 'T16:00:00+08:00',
		'epcisBody', jsonb_build_object('eventList', jsonb_build_array(
			jsonb_build_object(
				'type', 'ObjectEvent', 'action', 'OBSERVE', 'bizStep', 'receiving', 'disposition', 'in_progress',
				'eventTime', to_char(d0 + 2, 'YYYY-MM-DD') || 'T15:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
				'bizLocation', jsonb_build_object('id', 'urn:shilian:operator:' || wh),
				'quantityList', jsonb_build_array(jsonb_build_object(
					'epcClass', 'urn:epc:class:lgtin:6970000.000001.' || lot, 'quantity', 300, 'uom', 'KGM')),
				'sourceList', jsonb_build_array(jsonb_build_object(
					'type', 'owning_party', 'source', 'urn:epc:id:pgln:6970000.00001')),
				'destinationList', jsonb_build_array(jsonb_build_object(
					'type', 'owning_party', 'destination', 'urn:epc:id:pgln:6970000.00003')))))));
	-- the market's named query (命名查询) of the tomatoes it receives, created as the
	-- market (validated by epcis_query); GET /epcis/queries/received-tomatoes/events runs it
	PERFORM set_config('role', 'shilian_operator', true);
	PERFORM set_config('shilian.operator_id', wh::text, true);
	PERFORM shilian.epcis_named_query_create('received-tomatoes',
		'{"EQ_bizStep": "receiving", "MATCH_anyEPCClass": "https://id.gs1.org/01/06970000000017"}');
	PERFORM set_config('shilian.operator_id', '', true);
	PERFORM set_config('role', 'none', true);
END
$demo$;
-- Serialised items (序列化单品) followed from maker to shop: the dairy's system
-- commissions three gift boxes of milk, each with its own serial (SGTIN,
-- GTIN 6970000000048), ships two of them to the supermarket by serial, and
-- the supermarket's till scans one of them on arrival: the sale is received
-- and both boxes are then in the supermarket's batch. Try, as the
-- supermarket: GET /v1/items/urn%3Aepc%3Aid%3Asgtin%3A6970000.000004.M0001
-- (its batch), and as the dairy (its own lot: it may not see the shop's).
DO $demo$
DECLARE
	d0 date := shilian.platform_today() - 6;
	dairy bigint;
	shop bigint;
	ctx jsonb := '["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]';
	doc jsonb := jsonb_build_object('@context', ctx, 'type', 'EPCISDocument', 'schemaVersion', '2.0');
BEGIN
	IF EXISTS (SELECT 1 FROM shilian.batch_item) THEN
		RETURN;
	END IF;
	SELECT id INTO dairy FROM shilian.operator WHERE name = '历城牧场乳业有限公司';
	SELECT id INTO shop FROM shilian.operator WHERE name = '青岛市南惠民超市';
	IF NOT EXISTS (SELECT 1 FROM shilian.product WHERE gtin = '6970000000048') THEN
		PERFORM shilian.product_register('巴氏杀菌鲜牛奶礼盒', 'dairy', 7, '1L×2瓶/盒', gtin => '6970000000048', owner => dairy);
	END IF;
	PERFORM shilian.epcis_capture(doc || jsonb_build_object('creationDate', to_char(d0 + 4, 'YYYY-MM-DD') || 'T18:00:00+08:00',
		'epcisBody', jsonb_build_object('eventList', jsonb_build_array(
			jsonb_build_object('eventID', 'urn:uuid:9d3f0c2a-7b1e-4e6f-8a21-0000000d0011',
				'type', 'ObjectEvent', 'action', 'ADD', 'bizStep', 'commissioning', 'disposition', 'active',
				'eventTime', to_char(d0 + 3, 'YYYY-MM-DD') || 'T07:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
				'bizLocation', jsonb_build_object('id', 'urn:shilian:operator:' || dairy),
				'epcList', jsonb_build_array('urn:epc:id:sgtin:6970000.000004.M0001', 'urn:epc:id:sgtin:6970000.000004.M0002',
					'urn:epc:id:sgtin:6970000.000004.M0003'),
				'ilmd', jsonb_build_object('cbvmda:lotNumber', 'LH-' || to_char(d0 + 3, 'MMDD'))),
			jsonb_build_object('eventID', 'urn:uuid:9d3f0c2a-7b1e-4e6f-8a21-0000000d0012',
				'type', 'ObjectEvent', 'action', 'OBSERVE', 'bizStep', 'shipping', 'disposition', 'in_transit',
				'eventTime', to_char(d0 + 4, 'YYYY-MM-DD') || 'T06:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
				'bizLocation', jsonb_build_object('id', 'urn:shilian:operator:' || dairy),
				'epcList', jsonb_build_array('urn:epc:id:sgtin:6970000.000004.M0001', 'urn:epc:id:sgtin:6970000.000004.M0002'),
				'sourceList', jsonb_build_array(jsonb_build_object('type', 'owning_party', 'source', 'urn:shilian:operator:' || dairy)),
				'destinationList', jsonb_build_array(jsonb_build_object('type', 'owning_party', 'destination', 'urn:shilian:operator:' || shop)))))));
	PERFORM shilian.epcis_capture(doc || jsonb_build_object('creationDate', to_char(d0 + 4, 'YYYY-MM-DD') || 'T18:00:00+08:00',
		'epcisBody', jsonb_build_object('eventList', jsonb_build_array(
			jsonb_build_object('eventID', 'urn:uuid:9d3f0c2a-7b1e-4e6f-8a21-0000000d0013',
				'type', 'ObjectEvent', 'action', 'OBSERVE', 'bizStep', 'receiving', 'disposition', 'in_progress',
				'eventTime', to_char(d0 + 4, 'YYYY-MM-DD') || 'T14:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
				'bizLocation', jsonb_build_object('id', 'urn:shilian:operator:' || shop),
				'epcList', jsonb_build_array('https://id.gs1.org/01/06970000000048/21/M0001'),
				'sourceList', jsonb_build_array(jsonb_build_object('type', 'owning_party', 'source', 'urn:shilian:operator:' || dairy)),
				'destinationList', jsonb_build_array(jsonb_build_object('type', 'owning_party', 'destination', 'urn:shilian:operator:' || shop)))))));
END
$demo$;
SELECT 'demo: ' || count(*) || ' EPCIS events captured' AS epcis FROM shilian.epcis_event;

-- ---- findings and alerts (docs/regulator.md, "Findings") ------------------------
-- Broken chains and a violation to act on, and the alerts raised for them:
-- the wholesale market's cabbage sale to the school canteen four days ago is
-- still not received (a missing 10+3 receipt); the Licheng processor took
-- flour as a first entry from a supplier naming the mill's licence (the mill
-- is on the platform: an unlinked receipt); a new Licheng wholesaler buys
-- from farmers and records no sales, and its licence ends in 20 days. Try:
--   SELECT * FROM shilian.broken_chain('370000', daterange(shilian.platform_today() - 30, shilian.platform_today(), '[]'));
--   SELECT * FROM shilian.compliance_findings('370112');
--   SELECT * FROM shilian.spot_check_sample('370100', to_char(shilian.platform_today(), 'YYYY"Q"Q'), 5, 1);
--   SELECT * FROM shilian.alerts('370000');   (LISTEN shilian_alert; SELECT shilian.alerts_scan();)
DO $demo$
DECLARE
	d0 date := shilian.platform_today() - 6;
	wholesaler bigint; canteen bigint; processor bigint; lc bigint;
	cabbage bigint; flour bigint;
	lot shilian.trace_code;
BEGIN
	PERFORM set_config('search_path', 'shilian, public', true);
	IF EXISTS (SELECT 1 FROM shilian.operator WHERE reg_card = 'LC370112-0201') THEN
		RETURN;
	END IF;
	SELECT id INTO wholesaler FROM shilian.operator WHERE uscc = '91370102MA3D00102R';
	SELECT id INTO canteen FROM shilian.operator WHERE uscc = '12370102MB2D00107A';
	SELECT id INTO processor FROM shilian.operator WHERE uscc = '91370112MA3D00104F';
	SELECT id INTO cabbage FROM shilian.product WHERE name = '大白菜' ORDER BY id LIMIT 1;
	SELECT id INTO flour FROM shilian.product WHERE name = '小麦粉' ORDER BY id LIMIT 1;
	SELECT b.trace_code INTO lot FROM shilian.batch b
	 WHERE b.owner_id = wholesaler AND b.product_id = cabbage AND b.origin = 'received' ORDER BY b.id LIMIT 1;
	PERFORM shilian.ship(lot, canteen, '30 kg', d0 + 2);
	PERFORM shilian.receive_first_entry(processor, flour, '500 kg',
		'{"name": "黄岛面粉", "contact": "0532-88100105", "licence": "SC10537021101054"}',
		'{"inspector": "孙八"}', d0, (d0 + 4) + time '09:00', certificate => '{"certificate_no": "HD-QC-0002"}');
	lc := shilian.operator_register('历城港沟蔬菜批发部', 'circulation', '{wholesaler}', '370112001',
		'济南市历城区港沟街道农贸市场', '13800100201', reg_card => 'LC370112-0201',
		regulator_contact => '洪家楼所 王五 0531-86000003');
	PERFORM shilian.operator_activate(lc);
	PERFORM shilian.licence_add(lc, 'JY13701120000201', '{vegetables,fruit}', d0 - 300, shilian.platform_today() + 20);
	PERFORM shilian.receive_first_entry(lc, cabbage, '200 kg',
		'{"name": "刘七", "contact": "13900100211", "address": "历城区港沟村"}', '{"inspector": "刘八"}',
		shilian.platform_today(), now());
	PERFORM shilian.receive_first_entry(lc, cabbage, '150 kg',
		'{"name": "孙九", "contact": "13900100212", "address": "历城区柳埠村"}', '{"inspector": "刘八"}',
		shilian.platform_today(), now());
END
$demo$;
SELECT 'demo: ' || shilian.alerts_scan() || ' new alerts' AS alerts;
SELECT 'demo: ' || count(*) || ' open alerts' AS alerts FROM shilian.alert WHERE acknowledged_at IS NULL;

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

-- ---- demo accounts -------------------------------------------------------------
-- Who `make run` makes REST tokens for (.run/env: SHILIAN_TOKEN_<NAME>). Kept
-- outside the extension, in schema shilian_demo; refreshed on every load.
CREATE SCHEMA IF NOT EXISTS shilian_demo;
CREATE TABLE IF NOT EXISTS shilian_demo.account (
	name         text PRIMARY KEY,
	role         text NOT NULL,
	operator_id  bigint,
	jurisdiction text,
	note         text
);
INSERT INTO shilian_demo.account AS a (name, role, operator_id, jurisdiction, note)
SELECT v.name, v.role, o.id, v.jurisdiction, v.note
  FROM (VALUES
	('farm', 'operator', '历城绿源蔬菜专业合作社', NULL, 'the cabbage farm'),
	('wholesaler', 'operator', '济南泉城农产品批发市场有限公司', NULL, 'the wholesale market'),
	('supermarket', 'operator', '青岛市南惠民超市', NULL, 'has a receipt draft waiting'),
	('canteen', 'operator', '历下实验小学食堂', NULL, 'school canteen (10+3)'),
	('regulator', 'regulator', NULL, '370000', 'provincial regulator, opened the demo recall'),
	('county', 'regulator', NULL, '370112', 'Licheng county regulator'),
	('admin', 'admin', NULL, NULL, 'platform admin')) AS v (name, role, opname, jurisdiction, note)
  LEFT JOIN shilian.operator o ON o.name = v.opname
ON CONFLICT (name) DO UPDATE SET role = excluded.role, operator_id = excluded.operator_id,
	jurisdiction = excluded.jurisdiction, note = excluded.note;
SELECT 'demo: ' || count(*) || ' accounts with REST tokens in .run/env' AS accounts FROM shilian_demo.account;

-- The wholesale market's own traceability system (自建系统), a system client
-- of kind own_system bound to it: GET /v1/admin/clients lists it, and an
-- admin makes it a key with POST /v1/admin/clients/quancheng-erp/keys.
SELECT shilian.api_client_add('quancheng-erp', '泉城批发市场自建追溯系统', 'own_system')
 WHERE NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = 'quancheng-erp');
SELECT shilian.api_client_bind('quancheng-erp', o.id)
  FROM shilian.operator o WHERE o.name = '济南泉城农产品批发市场有限公司';

-- ---- pages and labels (docs/pages.md) -------------------------------------------
-- What the labels' QR codes carry: the mill's flour by its GS1 Digital Link
-- (a GTIN and a lot number), a lot of the demo recall by its trace code; the
-- gateway answers both with the consumer page (make run prints the URLs).
SELECT 'demo: consumer page ' || shilian.public_link(b.trace_code) AS page
  FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id
 WHERE p.gtin = '6901234567892' AND b.origin = 'produced' ORDER BY b.id LIMIT 1;
SELECT 'demo: recall warning on ' || shilian.public_link(t.trace_code) AS page
  FROM shilian.recall_target t ORDER BY t.recall_id, t.depth DESC, t.trace_code LIMIT 1;

-- ---- systems acting for their operators (issue 17) ------------------------------
-- The Quancheng road farmers' market runs a market sub-system (市场子系统) for
-- its stalls: the vegetable stall 王五蔬菜摊 signed up to it itself (as the
-- operator, like POST /v1/client-bindings with its token), and the Licheng
-- county regulator bound the Ganggou wholesale stall. Each grant is a
-- client_bind entry on the stall's own ledger chain. The Lixia schools'
-- canteen sub-system (食堂子系统) is registered, not yet bound. The market
-- system, bound to two operators, names the one each request acts for:
-- GET /v1/shipments/inbox?operator=<id> with its X-API-Key (docs/integration.md).
SELECT shilian.api_client_add('quancheng-market', '泉城路农贸市场子系统', 'market')
 WHERE NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = 'quancheng-market');
SELECT shilian.api_client_add('lixia-canteens', '历下区学校食堂子系统', 'canteen')
 WHERE NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = 'lixia-canteens');
DO $bind$
DECLARE
	stall bigint := (SELECT id FROM shilian.operator WHERE name = '王五蔬菜摊');
	ganggou bigint := (SELECT id FROM shilian.operator WHERE name = '历城港沟蔬菜批发部');
BEGIN
	-- as the request of each granter would run: role and settings, local to this transaction
	PERFORM set_config('role', 'shilian_operator', true), set_config('shilian.operator_id', stall::text, true);
	PERFORM shilian.api_client_bind('quancheng-market', stall);
	PERFORM set_config('role', 'shilian_regulator', true), set_config('shilian.operator_id', '', true),
		set_config('shilian.jurisdiction', '370112', true);
	PERFORM shilian.api_client_bind('quancheng-market', ganggou);
	PERFORM set_config('role', 'none', true), set_config('shilian.jurisdiction', '', true);
END
$bind$;
INSERT INTO shilian_demo.account AS a (name, role, operator_id, jurisdiction, note)
SELECT 'stall', 'operator', o.id, NULL, 'market stall, bound the market sub-system quancheng-market'
  FROM shilian.operator o WHERE o.name = '王五蔬菜摊'
ON CONFLICT (name) DO UPDATE SET role = excluded.role, operator_id = excluded.operator_id,
	jurisdiction = excluded.jurisdiction, note = excluded.note;
SELECT 'demo: system client ' || b.client || ' acts for ' || string_agg(b.name || ' (' || b.operator || ', bound by ' || b.bound_by || ')', ', ' ORDER BY b.operator) AS bindings
  FROM (SELECT x.client, o.name, x.operator, x.bound_by FROM shilian.api_client_bindings() x
		  JOIN shilian.operator o ON o.id = x.operator WHERE x.client = 'quancheng-market') b
 GROUP BY b.client;
-- The bindings are ledger entries too: a tree head over them, so that the
-- published log covers every entry (docs/install.md's restore check).
DO $head$
BEGIN
	IF (SELECT count(*) FROM shilian.ledger) > (SELECT coalesce(max(tree_size), 0) FROM shilian.checkpoint) THEN
		PERFORM shilian.checkpoint();
	END IF;
END
$head$;

-- ---- webhooks (docs/webhooks.md) -------------------------------------------------
-- The wholesale market subscribes to its recalls and receipt drafts, the
-- Licheng county regulator to its alerts, at a local receiver (plain http to
-- a loopback host, allowed here for the demo only: shilian.webhook_allow_http).
-- `make run` starts that receiver (tests/webhooks/receiver.py, its log in
-- .run/webhooks.log, signatures checked) and the worker shilian-deliver.
-- psql -v webhook_url=... picks another URL. Try:
--   curl -s -H "Authorization: Bearer $SHILIAN_TOKEN_WHOLESALER" $SHILIAN_URL/v1/webhooks
--   psql -c "select shilian.alerts_scan()"   then   tail .run/webhooks.log
\if :{?webhook_url}
\else
\set webhook_url 'http://127.0.0.1:8099/demo'
\endif
SET shilian.webhook_allow_http = on;
SELECT shilian.webhook_subscribe(:'webhook_url' || '/wholesaler', '{recall,receipt_draft}', o.id) ->> 'id' AS webhook
  FROM shilian.operator o
 WHERE o.name = '济南泉城农产品批发市场有限公司'
   AND NOT EXISTS (SELECT 1 FROM shilian.webhook_subscription s
					WHERE s.operator_id = o.id AND s.url = :'webhook_url' || '/wholesaler' AND s.active);
SELECT shilian.webhook_subscribe(:'webhook_url' || '/county', '{alert}', jurisdiction => '370112') ->> 'id' AS webhook
 WHERE NOT EXISTS (SELECT 1 FROM shilian.webhook_subscription s
					WHERE s.jurisdiction = '370112' AND s.url = :'webhook_url' || '/county' AND s.active);
-- The market follows its named query received-tomatoes (查询订阅, stream):
-- each capture of a tomato receipt of its own is POSTed to /market-epcis as
-- an EPCISQueryDocument (GET /epcis/queries/received-tomatoes/subscriptions).
BEGIN;
SELECT set_config('shilian.operator_id', o.id::text, true) AS market FROM shilian.operator o
 WHERE o.name = '济南泉城农产品批发市场有限公司';
SET LOCAL ROLE shilian_operator;
SELECT shilian.epcis_subscribe('received-tomatoes', :'webhook_url' || '/market-epcis', stream => true) ->> 'subscriptionID'
	AS epcis_subscription
 WHERE NOT EXISTS (SELECT 1 FROM shilian.epcis_subscription e JOIN shilian.webhook_subscription w ON w.id = e.webhook_id
				   WHERE e.query_name = 'received-tomatoes' AND w.url = :'webhook_url' || '/market-epcis' AND w.active);
COMMIT;
RESET shilian.webhook_allow_http;
SELECT 'demo: ' || count(*) || ' webhook subscriptions under ' || :'webhook_url' AS webhooks
  FROM shilian.webhook_subscription WHERE url LIKE :'webhook_url' || '/%' AND active;

-- Signed checkpoints (docs/ledger-format.md#signed-checkpoints): the text of
-- the latest checkpoint, which the platform's signing job signs outside the
-- database (`make run` does it with a demo key made in .run/); then
-- GET /v1/ledger/checkpoint serves the signed note to witnesses and auditors.
SELECT 'demo: checkpoint to sign: ' || replace(rtrim(shilian.checkpoint_body(), E'\n'), E'\n', ' | ') AS signed_checkpoint;

-- Where the demo's ledger entries are: one row per partition of the ledger.
SELECT c.relname AS ledger_partition, count(l.id) AS entries
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  LEFT JOIN shilian.ledger l ON l.tableoid = c.oid
 WHERE i.inhparent = 'shilian.ledger'::regclass
 GROUP BY c.relname ORDER BY c.relname;

-- Where the demo's inspections, consumption and counters are (by
-- Asia/Shanghai month of inspected_at, consumed_at, day and month; earlier
-- dates in the default partitions).
SELECT c.relname AS record_partition, count(r.tableoid) AS row_count
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  LEFT JOIN (SELECT x.tableoid FROM shilian.inspection x
			 UNION ALL SELECT y.tableoid FROM shilian.consumption y
			 UNION ALL SELECT z.tableoid FROM shilian.operator_day z
			 UNION ALL SELECT m.tableoid FROM shilian.operator_month m
			 UNION ALL SELECT s.tableoid FROM shilian.station_month s) r ON r.tableoid = c.oid
 WHERE i.inhparent IN ('shilian.inspection'::regclass, 'shilian.consumption'::regclass,
					   'shilian.operator_day'::regclass, 'shilian.operator_month'::regclass,
					   'shilian.station_month'::regclass)
 GROUP BY c.relname ORDER BY c.relname;

-- The month cache (docs/regulator.md#the-month-cache-月度缓存): last month
-- and the month before, stored as the hourly job would (the figures of an
-- ended month read them; a late record marks its station dirty again).
SET ROLE shilian_admin;
SELECT shilian.figures_cache_refresh() >= 0 AS month_cache;
RESET ROLE;
