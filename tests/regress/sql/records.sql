-- records: the registry and the trace records. A scenario farm -> wholesaler
-- -> market vendor and -> processor (transform with a second input from a
-- flour mill) -> school canteen (consume), each receipt pre-filled from the
-- sale; then every refusal of the link rules with its SQLSTATE and message,
-- each followed by a check that nothing was written.
-- The examples in docs/sql-reference.md are the calls made here.

SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY default

-- A fingerprint of everything the record functions write (rows and balances,
-- ledger entries included): equal before and after a refusal means the
-- refusal left the database unchanged.
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ',
		(SELECT count(*) FROM shilian.operator), (SELECT count(*) FROM shilian.licence),
		(SELECT count(*) FROM shilian.batch), (SELECT count(*) FROM shilian.link),
		(SELECT count(*) FROM shilian.inspection), (SELECT count(*) FROM shilian.consumption),
		(SELECT count(*) FROM shilian.ledger),
		(SELECT md5(string_agg(concat_ws(',', id, qty_left, qty), ';' ORDER BY id)) FROM shilian.batch),
		(SELECT md5(string_agg(concat_ws(',', id, status, to_batch, qty_accepted), ';' ORDER BY id)) FROM shilian.link),
		(SELECT md5(string_agg(concat_ws(',', id, status), ';' ORDER BY id)) FROM shilian.operator))
$$;
CREATE TEMP TABLE saved_state (s text);
CREATE FUNCTION pg_temp.snapshot() RETURNS void LANGUAGE sql AS $$
	DELETE FROM saved_state; INSERT INTO saved_state SELECT pg_temp.state();
$$;
CREATE FUNCTION pg_temp.unchanged() RETURNS boolean LANGUAGE sql AS $$
	SELECT pg_temp.state() = s FROM saved_state;
$$;

-- Entries other tests left in the ledger are not ours.
CREATE TEMP TABLE ledger_before AS SELECT kind, count(*) AS n FROM shilian.ledger GROUP BY kind;

-- ---- registry ---------------------------------------------------------------

-- Province, cities, counties and stations (level and parent follow from the code).
SELECT shilian.jurisdiction_add('370000', '山东省');
SELECT shilian.jurisdiction_add('370100', '济南市');
SELECT shilian.jurisdiction_add('370102', '历下区');
SELECT shilian.jurisdiction_add('370112', '历城区');
SELECT shilian.jurisdiction_add('370102001', '历下区泉城路市场监管所');
SELECT shilian.jurisdiction_add('370112001', '历城区洪家楼市场监管所');
SELECT code, level, parent, ancestors FROM shilian.jurisdiction ORDER BY code;

-- Operators: enterprises by USCC, the market vendor by its registration card.
SELECT shilian.operator_register('历城绿源蔬菜合作社', 'production', '{farm}', '370112001',
	'济南市历城区港沟街道', '0531-88000001', uscc => '91370112MA3C00001X') AS farm \gset
SELECT shilian.operator_register('济南泉城农产品批发有限公司', 'circulation', '{wholesaler}', '370102001',
	'济南市历下区泉城路1号', '0531-88000002', uscc => '91370102MA3C00002H',
	own_system => true, regulator_contact => '泉城路所 张三') AS wholesaler \gset
SELECT shilian.operator_register('王五蔬菜摊', 'circulation', '{market_vendor}', '370102001',
	'济南市历下区农贸市场A12', '13800000003', reg_card => 'LX370102-0003') AS vendor \gset
SELECT shilian.operator_register('济南鲁味食品有限公司', 'production', '{processor}', '370112001',
	'济南市历城区工业北路8号', '0531-88000004', uscc => '91370112MA3C000047') AS processor \gset
SELECT shilian.operator_register('济南面粉厂', 'production', '{processor}', '370112001',
	'济南市历城区面粉路2号', '0531-88000006', uscc => '91370281MA3C00006G') AS mill \gset
SELECT shilian.operator_register('历下实验小学食堂', 'catering', '{school_canteen}', '370102001',
	'济南市历下区文化东路5号', '0531-88000005', uscc => '12370102MB2800005H') AS canteen \gset
-- registered but never activated (for the refusals below)
SELECT shilian.operator_register('未启用超市', 'circulation', '{retailer}', '370102001',
	'济南市历下区', '0531-88000007', uscc => '91370211MA3C00003T') AS dormant \gset

SELECT shilian.operator_activate(id) FROM shilian.operator WHERE id <> :dormant ORDER BY id;
SELECT name, segment, kinds, station, status, uscc, reg_card FROM shilian.operator ORDER BY id;

-- Licences: the farm sells its own produce without one (Food Safety Law art. 35).
SELECT shilian.licence_add(:wholesaler, 'JY13701020000018', '{vegetables,grain}', '2024-01-01', '2028-12-31') > 0 AS ok;
SELECT shilian.licence_add(:processor, 'SC10137011200027', '{vegetables,grain,meat}', '2024-01-01', '2028-12-31') > 0 AS ok;
SELECT shilian.licence_add(:mill, 'SC10337021100036', '{grain}', '2022-01-01', '2028-12-31') > 0 AS ok;
SELECT shilian.licence_add(:vendor, 'JY23701020000049', '{vegetables}', '2024-01-01', '2025-12-31') > 0 AS ok;
SELECT shilian.licence_add(:canteen, 'JY33701020000056', '{vegetables,grain,meat}', '2024-01-01', '2028-12-31') > 0 AS ok;

-- Products in key categories; cabbage is an edible agricultural product.
SELECT shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, spec => '散装',
	edible_agricultural => true) AS cabbage \gset
SELECT shilian.product_register('小麦粉', 'grain', shelf_life_days => 180, spec => '25kg/袋',
	gtin => '6901234567892', owner => :mill) AS flour \gset
SELECT shilian.product_register('白菜猪肉水饺', 'meat', shelf_life_days => 90, spec => '1kg/袋',
	owner => :processor) AS dumplings \gset
SELECT shilian.product_register('猪肉', 'meat', shelf_life_days => 5, spec => '冷鲜') AS pork \gset
SELECT name, category, spec, gtin, shelf_life_days, edible_agricultural FROM shilian.product ORDER BY id;

-- ---- the scenario ----------------------------------------------------------

-- The farm harvests 1 t of cabbage; expiry is production date + shelf life.
SELECT shilian.batch_create(:farm, :cabbage, '1 t', '2026-11-01', lot => 'LY-1101') AS cabbage_farm \gset
SELECT shilian.trace_code_region(:'cabbage_farm') AS region, qty, qty_left, produced_on, expires_on, origin
  FROM shilian.batch WHERE trace_code = :'cabbage_farm';

-- The farm sells 600 kg to the wholesaler: a pending link ...
SELECT shilian.ship(:'cabbage_farm', :wholesaler, '600 kg', '2026-11-02') AS l_farm_wh \gset
SELECT qty_left FROM shilian.batch WHERE trace_code = :'cabbage_farm';

-- ... which is the wholesaler's receipt draft, pre-filled from the sale.
SELECT seller_name, seller_contact, seller_licence, product_name, spec, category, qty,
       shipped_on, produced_on, expires_on, lot, from_code = :'cabbage_farm' AS from_farm
  FROM shilian.receipt_drafts(:wholesaler);

-- The wholesaler receives it; its new batch carries the seller's data.
SELECT shilian.receive(:l_farm_wh, '600 kg', '{"inspector": "李四", "result": "pass", "rapid_test": "农残合格"}',
	'2026-11-02 15:00+08') AS cabbage_wh \gset
SELECT b.qty, b.qty_left, b.produced_on, b.expires_on, b.lot, b.origin, b.supplier_licence,
       o.name AS owner, l.status, l.qty_accepted
  FROM shilian.batch b JOIN shilian.operator o ON o.id = b.owner_id
  JOIN shilian.link l ON l.to_batch = b.id
 WHERE b.trace_code = :'cabbage_wh';
SELECT count(*) AS drafts_left FROM shilian.receipt_drafts(:wholesaler);

-- Wholesaler -> market vendor (whose licence has expired: it buys, it does
-- not sell) 50 kg; the vendor accepts 45 kg, 5 kg wilted go back.
SELECT shilian.ship(:'cabbage_wh', :vendor, '50 kg', '2026-11-03') AS l_wh_vendor \gset
SELECT seller_name, seller_licence, product_name, qty FROM shilian.receipt_drafts(:vendor);
SELECT shilian.receive(:l_wh_vendor, '45000 g', '{"inspector": "王五"}', '2026-11-03 07:00+08',
	reject_reason => '5 kg 萎蔫') AS cabbage_vendor \gset
SELECT l.status, l.qty_shipped, l.qty_accepted, l.reject_reason, s.qty_left AS wholesaler_left,
       b.qty AS vendor_qty, b.supplier_licence
  FROM shilian.link l JOIN shilian.batch s ON s.id = l.from_batch JOIN shilian.batch b ON b.id = l.to_batch
 WHERE l.id = :l_wh_vendor;

-- The vendor also buys 20 kg of cabbage from a farmer without records: a first entry.
SELECT shilian.receive_first_entry(:vendor, :cabbage, '20 kg',
	'{"name": "赵六", "contact": "13900000009", "address": "历城区港沟村"}',
	'{"inspector": "王五", "rapid_test": "农残合格"}',
	'2026-11-03', '2026-11-03 06:30+08') AS cabbage_first \gset
SELECT origin, supplier->>'name' AS supplier, qty, expires_on FROM shilian.batch WHERE trace_code = :'cabbage_first';
-- and sells it at retail
SELECT shilian.consume(:'cabbage_first', '12 kg', 'retail_sold', '2026-11-03 18:00+08') > 0 AS ok;

-- The mill makes flour, inspects it before release (出厂检验) and ships to the processor.
SELECT shilian.batch_create(:mill, :flour, '2 t', '2026-10-20', lot => 'MF-1020') AS flour_mill \gset
SELECT shilian.inspect(:'flour_mill', 'release', 'pass',
	'{"certificate_no": "MF-QC-1020", "inspector": "钱七", "items": {"moisture": "13.2%"}}',
	'2026-10-21 09:00+08') > 0 AS ok;
SELECT certificate->>'certificate_no' AS certificate FROM shilian.batch WHERE trace_code = :'flour_mill';
SELECT shilian.ship(:'flour_mill', :processor, '500 kg', '2026-11-02') AS l_mill_proc \gset
SELECT shilian.receive(:l_mill_proc, '500 kg', '{"inspector": "孙八"}', '2026-11-02 16:00+08') AS flour_proc \gset
SELECT certificate->>'certificate_no' AS certificate, supplier_licence, expires_on
  FROM shilian.batch WHERE trace_code = :'flour_proc';

-- Wholesaler -> processor 300 kg of cabbage.
SELECT shilian.ship(:'cabbage_wh', :processor, '300 kg', '2026-11-03') AS l_wh_proc \gset
SELECT shilian.receive(:l_wh_proc, '300 kg', '{"inspector": "孙八"}', '2026-11-03 10:00+08') AS cabbage_proc \gset

-- The processor makes dumplings from cabbage and flour (two inputs).
SELECT shilian.transform(ARRAY[:'cabbage_proc', :'flour_proc']::shilian.trace_code[],
	ARRAY['280 kg', '200 kg']::shilian.qty[], :dumplings, '4000 pcs', '2026-11-04',
	lot => 'SJ-1104') AS dumplings_proc \gset
SELECT i.trace_code = :'cabbage_proc' AS is_cabbage, l.kind, l.status, l.qty_accepted, i.qty_left AS input_left
  FROM shilian.link l JOIN shilian.batch i ON i.id = l.from_batch JOIN shilian.batch o ON o.id = l.to_batch
 WHERE o.trace_code = :'dumplings_proc' ORDER BY l.id;
SELECT qty, produced_on, expires_on, origin FROM shilian.batch WHERE trace_code = :'dumplings_proc';

-- Processor -> school canteen 1000 pieces; the canteen serves 600 and keeps a sample.
SELECT shilian.inspect(:'dumplings_proc', 'release', 'pass',
	'{"certificate_no": "LW-QC-1104", "inspector": "周九"}', '2026-11-04 17:00+08') > 0 AS ok;
SELECT shilian.ship(:'dumplings_proc', :canteen, '1000 pcs', '2026-11-05') AS l_proc_canteen \gset
SELECT seller_name, seller_licence, product_name, qty, certificate->>'certificate_no' AS certificate
  FROM shilian.receipt_drafts(:canteen);
SELECT shilian.receive(:l_proc_canteen, '1000 pcs', '{"inspector": "吴十", "cold_chain": "-18C"}',
	'2026-11-05 09:00+08') AS dumplings_canteen \gset
SELECT shilian.consume(:'dumplings_canteen', '600 pcs', 'served', '2026-11-05 12:00+08') > 0 AS ok;
SELECT shilian.consume(:'dumplings_canteen', '20 pcs', 'sample_kept', '2026-11-05 12:00+08',
	note => '留样 48 小时') > 0 AS ok;
-- The gateway names the acting operator per transaction: the canteen records
-- for itself (the operator argument defaults to it).
BEGIN;
SELECT set_config('shilian.operator_id', :'canteen', true);
SELECT shilian.consume(:'dumplings_canteen', '5 pcs', 'destroyed', '2026-11-05 13:00+08', '掉落') > 0 AS ok;
COMMIT;
SELECT qty, qty_left, supplier_licence, certificate->>'certificate_no' AS certificate
  FROM shilian.batch WHERE trace_code = :'dumplings_canteen';

-- The chain from the farm to the canteen, by index in both directions.
SELECT o.name AS holder, p.name AS product, b.origin, b.qty, b.qty_left
  FROM shilian.batch b JOIN shilian.operator o ON o.id = b.owner_id JOIN shilian.product p ON p.id = b.product_id
 ORDER BY b.id;
SELECT l.kind, s.name AS seller, bu.name AS buyer, l.qty_shipped, l.qty_accepted, l.status
  FROM shilian.link l JOIN shilian.operator s ON s.id = l.seller_id JOIN shilian.operator bu ON bu.id = l.buyer_id
 ORDER BY l.id;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT to_batch FROM shilian.link WHERE from_batch = 1;
EXPLAIN (COSTS OFF) SELECT from_batch FROM shilian.link WHERE to_batch = 1;
RESET enable_seqscan;

-- Every record appended exactly one ledger entry on its operator's chain.
SELECT l.kind, count(*) - coalesce(min(b.n), 0) AS count
  FROM shilian.ledger l LEFT JOIN ledger_before b USING (kind)
 GROUP BY l.kind HAVING count(*) > coalesce(min(b.n), 0) ORDER BY l.kind;
SELECT o.name, (shilian.chain_verify(o.id)).ok FROM shilian.operator o ORDER BY o.id;

-- ---- completeness and retention ---------------------------------------------

-- The wholesaler's receipt: complete; kept 6 months past the cabbage's expiry.
-- (kind receipt: the id is the link of the received sale)
SELECT * FROM shilian.record_completeness('receipt', :l_farm_wh);
-- The farmer's first entry: an edible agricultural product needs name,
-- quantity, date and supplier only (kind first_entry: the id is the batch).
SELECT * FROM shilian.record_completeness('first_entry',
	(SELECT b.id FROM shilian.batch b WHERE b.trace_code = :'cabbage_first'));
-- The canteen's receipt of dumplings: complete (certificate from the release inspection).
SELECT * FROM shilian.record_completeness('receipt', :l_proc_canteen);
-- The 0.2.0 kind incoming (an inspection id) still answers, with a
-- deprecation warning, what kind receipt answers for that receipt.
SELECT * FROM shilian.record_completeness('incoming',
	(SELECT id FROM shilian.inspection WHERE link_id = :l_farm_wh));
-- The id is the record's own: a sale's link is no first entry, an
-- inspection id is no receipt.
SELECT * FROM shilian.record_completeness('first_entry', :l_farm_wh);
SELECT * FROM shilian.record_completeness('receipt',
	(SELECT max(id) + 1000 FROM shilian.link));
-- The farm's sale of cabbage lacks a certificate number (no release inspection).
SELECT * FROM shilian.record_completeness('sale', :l_farm_wh);
-- The processor's sale: complete.
SELECT * FROM shilian.record_completeness('release', :l_proc_canteen);
-- A product without shelf life: kept two years from the record date.
SELECT shilian.product_register('散装白酒', 'alcohol', spec => '散装') AS liquor \gset
SELECT shilian.licence_add(:processor, 'JY13701020000067', '{alcohol}', '2024-01-01', '2028-12-31') > 0 AS ok;
SELECT shilian.batch_create(:processor, :liquor, '200 L', '2026-06-01') AS liquor_proc \gset
SELECT shilian.ship(:'liquor_proc', :canteen, '10 L', '2026-11-06') AS l_liquor \gset
SELECT * FROM shilian.record_completeness('sale', :l_liquor);
SELECT shilian.record_completeness('purchase', 1);
\echo :LAST_ERROR_SQLSTATE

-- ---- refusals: each with its SQLSTATE, and nothing written ------------------

SELECT pg_temp.snapshot();

-- unknown operator: the buyer does not exist
SELECT shilian.ship(:'cabbage_farm', 999999, '1 kg', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- inactive operator: the buyer is registered but not active
SELECT shilian.ship(:'cabbage_farm', :dormant, '1 kg', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- inactive operator: a suspended seller cannot ship (suspended in this transaction, rolled back)
BEGIN;
SELECT shilian.operator_suspend(:farm, '抽检不合格 停业整顿');
SELECT shilian.ship(:'cabbage_farm', :wholesaler, '1 kg', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT pg_temp.unchanged();
-- foreign batch: the wholesaler ships the farm's batch
SELECT shilian.ship(:'cabbage_farm', :vendor, '1 kg', '2026-11-06', seller => :wholesaler);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- foreign batch, found through the acting operator: shilian.operator_id is the wholesaler
BEGIN;
SELECT set_config('shilian.operator_id', :'wholesaler', true);
SELECT shilian.ship(:'cabbage_farm', :vendor, '1 kg', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT pg_temp.unchanged();
-- acting operator: the session acts for the wholesaler but names the farm as seller
BEGIN;
SELECT set_config('shilian.operator_id', :'wholesaler', true);
SELECT shilian.ship(:'cabbage_farm', :vendor, '1 kg', '2026-11-06', seller => :farm);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT pg_temp.unchanged();
-- acting operator: the vendor cannot receive the canteen-bound sale of liquor
BEGIN;
SELECT set_config('shilian.operator_id', :'vendor', true);
SELECT shilian.receive(:l_liquor, '10 L', '{"inspector": "x"}', '2026-11-06 10:00+08');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT pg_temp.unchanged();
-- quantity over balance: the farm has 400 kg left
SELECT shilian.ship(:'cabbage_farm', :wholesaler, '400001 g', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- quantity over balance in transform and consume too
SELECT shilian.consume(:'dumplings_canteen', '381 pcs', 'served', '2026-11-06 12:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.transform(ARRAY[:'cabbage_proc']::shilian.trace_code[], ARRAY['21 kg']::shilian.qty[],
	:dumplings, '100 pcs', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- wrong unit dimension: litres of cabbage
SELECT shilian.ship(:'cabbage_farm', :wholesaler, '5 L', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.consume(:'dumplings_canteen', '1 kg', 'served', '2026-11-06 12:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- dates out of order: shipped before it was produced
SELECT shilian.ship(:'cabbage_farm', :wholesaler, '1 kg', '2026-10-31');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- dates out of order: received before it was shipped
SELECT shilian.receive(:l_liquor, '10 L', '{"inspector": "吴十"}', '2026-11-05 10:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- dates out of order: a licence valid to before valid from
SELECT shilian.licence_add(:canteen, 'JY13701120000074', '{meat}', '2026-01-01', '2025-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- dates out of order: produced in the future
SELECT shilian.batch_create(:farm, :cabbage, '1 t', '2999-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- expired batch: the cabbage (expiry 2026-11-11) cannot be received after it expired
SELECT shilian.ship(:'cabbage_wh', :processor, '10 kg', '2026-11-10') AS l_late \gset
SELECT pg_temp.snapshot();
SELECT shilian.receive(:l_late, '10 kg', '{"inspector": "孙八"}', '2026-11-12 08:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- expired batch: nor shipped, nor served
SELECT shilian.ship(:'cabbage_wh', :processor, '10 kg', '2026-11-12');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.consume(:'cabbage_vendor', '1 kg', 'retail_sold', '2026-11-12 08:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- expired licence: the vendor's licence ended on 2025-12-31
SELECT shilian.ship(:'cabbage_vendor', :canteen, '1 kg', '2026-11-04');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- no licence: a farm sells its edible agricultural products without one, but
-- not pork (a product that is not marked edible agricultural)
SELECT shilian.batch_create(:farm, :pork, '50 kg', '2026-11-05') AS pork_farm \gset
SELECT pg_temp.snapshot();
SELECT shilian.ship(:'pork_farm', :canteen, '10 kg', '2026-11-05');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- licence scope mismatch: the mill's licence covers grain, not meat
SELECT shilian.batch_create(:mill, :pork, '100 kg', '2026-11-05') AS pork_mill \gset
SELECT pg_temp.snapshot();
SELECT shilian.ship(:'pork_mill', :canteen, '10 kg', '2026-11-05');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- self-link: shipping to oneself
SELECT shilian.ship(:'cabbage_wh', :wholesaler, '1 kg', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- self-link: the mill ships flour to itself
SELECT shilian.ship(:'flour_mill', :mill, '1 kg', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- double receipt: the farm's sale to the wholesaler was received already
SELECT shilian.receive(:l_farm_wh, '600 kg', '{"inspector": "李四"}', '2026-11-02 16:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.reject(:l_farm_wh, '重复');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- cycle: the processor sells its flour back to the mill, which receives it into
-- the mill's original flour batch, the source of the processor's flour
SELECT shilian.ship(:'flour_proc', :mill, '100 kg', '2026-11-06') AS l_back \gset
SELECT pg_temp.snapshot();
SELECT shilian.receive(:l_back, '100 kg', '{"inspector": "钱七"}', '2026-11-06 10:00+08', into_batch => :'flour_mill');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- foreign batch: the processor receives a sale into the mill's batch (so a
-- link can never point back at its own source batch)
SELECT shilian.ship(:'flour_mill', :processor, '1 kg', '2026-11-06') AS l_self \gset
SELECT pg_temp.snapshot();
SELECT shilian.receive(:l_self, '1 kg', '{"inspector": "孙八"}', '2026-11-06 10:00+08', into_batch => :'flour_mill');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- product mismatch: flour received into a batch of cabbage
SELECT shilian.receive(:l_self, '1 kg', '{"inspector": "孙八"}', '2026-11-06 10:00+08', into_batch => :'cabbage_proc');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- accepted over shipped, and a partial receipt without a reason
SELECT shilian.receive(:l_self, '2 kg', '{"inspector": "孙八"}', '2026-11-06 10:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.receive(:l_self, '0.5 kg', '{"inspector": "孙八"}', '2026-11-06 10:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- quantity not positive
SELECT shilian.ship(:'cabbage_farm', :wholesaler, '0 kg', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- document incomplete: an incoming inspection without an inspector, a release
-- report without certificate number, a first entry without the supplier's contact
SELECT shilian.receive(:l_self, '1 kg', '{"result": "pass"}', '2026-11-06 10:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.inspect(:'flour_mill', 'release', 'pass', '{"inspector": "钱七", "certificate_no": ""}', '2026-11-06 10:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.receive_first_entry(:vendor, :cabbage, '5 kg', '{"name": "赵六"}', '{"inspector": "王五"}',
	'2026-11-06', '2026-11-06 06:30+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.receive(:l_self, '1 kg', '["inspector"]', '2026-11-06 10:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- unknown batch, link, product, jurisdiction
SELECT shilian.ship('370102000000000012', :wholesaler, '1 kg', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.receive(999999, '1 kg', '{"inspector": "x"}', '2026-11-06 10:00+08');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.batch_create(:farm, 999999, '1 kg', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.operator_register('无站点', 'catering', '{restaurant}', '370102', 'x', 'y', reg_card => 'X-1');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.jurisdiction_add('370211001', '黄岛区某所');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- status transition: activating an active operator
SELECT shilian.operator_activate(:farm);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- NULLs where required
SELECT shilian.ship(NULL, :wholesaler, '1 kg');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.ship(:'cabbage_farm', NULL, '1 kg');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.ship(:'cabbage_farm', :wholesaler, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.receive(:l_self, NULL, '{"inspector": "孙八"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.transform(ARRAY[:'cabbage_proc', NULL]::shilian.trace_code[], ARRAY['1 kg', '1 kg']::shilian.qty[],
	:dumplings, '10 pcs', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.consume(:'dumplings_canteen', '1 pcs', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.operator_register('无证件', 'catering', '{restaurant}', '370102001', 'x', 'y');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
-- invalid arguments: unknown kinds, mismatched arrays, a duplicate input, a bad GTIN
SELECT shilian.consume(:'dumplings_canteen', '1 pcs', 'eaten');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.inspect(:'flour_mill', 'smell', 'pass', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.transform(ARRAY[:'cabbage_proc']::shilian.trace_code[], ARRAY['1 kg', '1 kg']::shilian.qty[],
	:dumplings, '10 pcs', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.transform(ARRAY[:'cabbage_proc', :'cabbage_proc']::shilian.trace_code[], ARRAY['1 kg', '1 kg']::shilian.qty[],
	:dumplings, '10 pcs', '2026-11-06');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.product_register('坏条码', 'other', gtin => '6901234567893');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SELECT shilian.licence_add(:canteen, 'JY13701120000074', '{snacks}', '2024-01-01', '2028-12-31');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.unchanged();
SET shilian.operator_id = 'abc';
SHOW shilian.operator_id;

-- Nothing above was written.
SELECT pg_temp.unchanged();

-- A refused record inside a larger transaction leaves nothing behind either:
-- a ship that succeeds, then one that fails, in one transaction, rolled back.
BEGIN;
SELECT shilian.ship(:'cabbage_farm', :wholesaler, '10 kg', '2026-11-06') > 0 AS shipped;
SELECT shilian.ship(:'cabbage_farm', :wholesaler, '391 kg', '2026-11-06');
ROLLBACK;
SELECT pg_temp.unchanged();

-- Rejecting a whole sale returns its quantity to the seller's batch.
SELECT qty_left AS before_reject FROM shilian.batch WHERE trace_code = :'flour_mill';
SELECT shilian.reject(:l_self, '包装破损', '2026-11-06 10:00+08');
SELECT qty_left AS after_reject FROM shilian.batch WHERE trace_code = :'flour_mill';
SELECT status, reject_reason FROM shilian.link WHERE id = :l_self;

-- A legitimate receipt into an existing batch (no cycle): commingled flour.
SELECT shilian.ship(:'flour_mill', :processor, '100 kg', '2026-11-06') AS l_more \gset
SELECT shilian.receive(:l_more, '100 kg', '{"inspector": "孙八"}', '2026-11-06 11:00+08', into_batch => :'flour_proc') = :'flour_proc' AS same_batch;
SELECT qty, qty_left FROM shilian.batch WHERE trace_code = :'flour_proc';

-- A receipt without its incoming inspection (进货查验, issue 18): recorded and
-- linked like any other (the inspection is optional; when given it is
-- complete, SLR15 above), reported lacking incoming_inspection, and no
-- complete receipt in the counters (the rebuild agrees).
SELECT shilian.ship(:'flour_mill', :processor, '50 kg', '2026-11-07') AS l_bare \gset
SELECT shilian.receive(:l_bare, '50 kg', received_at => '2026-11-07 09:00+08') AS flour_bare \gset
SELECT l.status, l.to_batch = b.id AS linked, l.qty_accepted, b.qty_left, b.origin, b.owner_id = :processor AS processors
  FROM shilian.link l, shilian.batch b WHERE l.id = :l_bare AND b.trace_code = :'flour_bare';
SELECT count(*) AS its_inspections FROM shilian.inspection WHERE link_id = :l_bare;
SELECT kind, shilian.ledger_body(body) -> 'inspection_id' AS inspection_id,
	shilian.ledger_body(body) #>> '{link,id}' = :'l_bare' AS its_link
  FROM shilian.ledger WHERE operator_id = :processor ORDER BY id DESC LIMIT 1;
SELECT * FROM shilian.record_completeness('receipt', :l_bare);
SELECT receipts, receipts_complete FROM shilian.operator_day WHERE operator_id = :processor AND day = '2026-11-07';
SELECT count(*) FILTER (WHERE t.batch = :'flour_mill') AS reaches_the_mill
  FROM shilian.trace_backward(:'flour_bare') t;
-- the same with an inspection: complete, counted complete
SELECT shilian.ship(:'flour_mill', :processor, '10 kg', '2026-11-07') AS l_insp \gset
SELECT shilian.receive(:l_insp, '10 kg', '{"inspector": "孙八"}', '2026-11-07 10:00+08') IS NOT NULL AS received;
SELECT complete, missing FROM shilian.record_completeness('receipt', :l_insp);
SELECT receipts, receipts_complete FROM shilian.operator_day WHERE operator_id = :processor AND day = '2026-11-07';
CREATE TEMP TABLE live_days AS SELECT * FROM shilian.operator_day;
SELECT shilian.operator_day_rebuild() > 0 AS rebuilt;
SELECT count(*) AS differing FROM ((TABLE live_days EXCEPT TABLE shilian.operator_day)
	UNION ALL (TABLE shilian.operator_day EXCEPT TABLE live_days)) x;

-- A first entry (首次进货) without its incoming inspection (issue 18), as
-- receive() above: recorded, its receipt time kept on the batch
-- (received_at), reported lacking incoming_inspection, counted as a receipt
-- but not a complete one (the rebuild agrees), and listed by the
-- regulator's findings as missing_incoming_inspection on its receipt date.
SELECT shilian.receive_first_entry(:vendor, :cabbage, '8 kg', '{"name": "赵六", "contact": "13900000009"}',
	produced_on => '2026-11-08', received_at => '2026-11-08 06:00+08') AS cabbage_bare \gset
SELECT b.origin, b.qty, b.received_at = '2026-11-08 06:00+08' AS received_kept,
	(SELECT count(*) FROM shilian.inspection i WHERE i.batch_id = b.id) AS its_inspections
  FROM shilian.batch b WHERE b.trace_code = :'cabbage_bare';
SELECT kind, shilian.ledger_body(body) -> 'inspection_id' AS inspection_id
  FROM shilian.ledger WHERE operator_id = :vendor ORDER BY id DESC LIMIT 1;
SELECT * FROM shilian.record_completeness('first_entry', (SELECT id FROM shilian.batch WHERE trace_code = :'cabbage_bare'));
SELECT receipts, receipts_complete FROM shilian.operator_day WHERE operator_id = :vendor AND day = '2026-11-08';
SELECT kind, records, first_on, last_on,
	evidence @> jsonb_build_array(jsonb_build_object('trace_code', :'cabbage_bare', 'received_on', '2026-11-08')) AS lists_it
  FROM shilian.compliance_findings((SELECT station FROM shilian.operator WHERE id = :vendor), '[2026-11-08,2026-11-08]')
 WHERE operator = :vendor AND kind = 'missing_incoming_inspection';
-- given but incomplete, the inspection is still refused (the rule of receive)
SELECT shilian.receive_first_entry(:vendor, :cabbage, '8 kg', '{"name": "赵六", "contact": "13900000009"}', '{}',
	'2026-11-08', '2026-11-08 06:00+08');
\echo :LAST_ERROR_SQLSTATE
-- with an inspection: complete, and counted complete
SELECT shilian.receive_first_entry(:vendor, :cabbage, '2 kg', '{"name": "赵六", "contact": "13900000009"}',
	'{"inspector": "王五"}', '2026-11-08', '2026-11-08 07:00+08') AS cabbage_insp \gset
SELECT complete, missing FROM shilian.record_completeness('first_entry', (SELECT id FROM shilian.batch WHERE trace_code = :'cabbage_insp'));
SELECT receipts, receipts_complete FROM shilian.operator_day WHERE operator_id = :vendor AND day = '2026-11-08';
-- a later inspection of the bare first entry is an inspection, not its receipt
SELECT shilian.inspect(:'cabbage_bare', 'sampling', 'pass', '{"agency": "区市场监管所", "report_no": "CJ-1108"}',
	'2026-11-08 08:00+08') > 0 AS ok;
SELECT missing FROM shilian.record_completeness('first_entry', (SELECT id FROM shilian.batch WHERE trace_code = :'cabbage_bare'));
DROP TABLE live_days;
CREATE TEMP TABLE live_days AS SELECT * FROM shilian.operator_day;
SELECT shilian.operator_day_rebuild() > 0 AS rebuilt;
SELECT count(*) AS differing FROM ((TABLE live_days EXCEPT TABLE shilian.operator_day)
	UNION ALL (TABLE shilian.operator_day EXCEPT TABLE live_days)) x;

-- The tables, the default partitions of the partitioned ones (p) and their
-- identity sequences are dumped with the extension's data
-- (pg_extension_config_dump).
SELECT c.relname, c.relkind FROM pg_extension e, unnest(e.extconfig) AS t(oid) JOIN pg_class c ON c.oid = t.oid
 WHERE e.extname = 'shilian' AND regexp_replace(c.relname, '_id_seq$|_default$', '') IN ('jurisdiction', 'operator',
	'licence', 'product', 'batch', 'link', 'inspection', 'consumption') ORDER BY 1;
