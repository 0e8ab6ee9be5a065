-- writes_prepared: the CHECK constraints and trigger WHEN conditions of the
-- tables the record functions write are prepared from a per-backend cache
-- (extension/expr_cache.c). A session that changes them between records
-- gets the new ones at its next record: a constraint added and dropped, a
-- SQL function a constraint calls (inlined when planned) replaced, a
-- trigger's condition replaced. All in one transaction, rolled back, so
-- that the files before this one see nothing of it.

SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
\set VERBOSITY terse

BEGIN;
SELECT count(shilian.jurisdiction_add(c, n)) >= 0 AS ok FROM (VALUES ('450000', '广西壮族自治区'), ('450100', '南宁市'),
	('450102', '兴宁区'), ('450102001', '兴宁区市场监管所')) v(c, n)
 WHERE NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = v.c);
SELECT shilian.operator_register('缓存测试加工厂', 'production', '{processor}', '450102001',
	'南宁市兴宁区一路1号', '0771-0000001', reg_card => 'WP-1') AS seller \gset
SELECT shilian.operator_register('缓存测试超市', 'circulation', '{retailer}', '450102001',
	'南宁市兴宁区二路2号', '0771-0000002', reg_card => 'WP-2') AS buyer \gset
SELECT shilian.operator_activate(:seller) IS NOT NULL AS ok, shilian.operator_activate(:buyer) IS NOT NULL AS ok;
SELECT shilian.licence_add(:seller, 'JY14501020000010', '{grain}', '2020-01-01', '2099-12-31') > 0 AS ok;
SELECT shilian.product_register('缓存测试面粉', 'grain', 180) AS product \gset
SELECT shilian.batch_create(:seller, :product, '100 kg', current_date - 1) AS code \gset

-- warm: each statement's constraints and conditions built once, then kept
SELECT shilian.receive(shilian.ship(:'code', :buyer, '1 kg'), '1 kg', '{"inspector": "甲"}') IS NOT NULL AS ok;
SELECT shilian.receive(shilian.ship(:'code', :buyer, '1 kg'), '1 kg', '{"inspector": "甲"}') IS NOT NULL AS ok;

-- a constraint added in the session is checked at the next sale, and no
-- longer once dropped
ALTER TABLE shilian.link ADD CONSTRAINT writes_prepared_qty CHECK (qty_shipped OPERATOR(shilian.<>) '2 kg') NOT VALID;
SAVEPOINT s;
SELECT shilian.ship(:'code', :buyer, '2 kg');
ROLLBACK TO s;
SELECT shilian.ship(:'code', :buyer, '3 kg') IS NOT NULL AS ok;
ALTER TABLE shilian.link DROP CONSTRAINT writes_prepared_qty;
SELECT shilian.ship(:'code', :buyer, '2 kg') IS NOT NULL AS ok;

-- a constraint calling a SQL function: replacing the function changes what
-- the constraint allows at the next receipt (the new lot's batch row)
CREATE FUNCTION pg_temp.writes_prepared_ok(q shilian.qty) RETURNS boolean LANGUAGE sql IMMUTABLE
	AS $$ SELECT q OPERATOR(shilian.<>) '4 kg' $$;
ALTER TABLE shilian.batch ADD CONSTRAINT writes_prepared_f CHECK (pg_temp.writes_prepared_ok(qty)) NOT VALID;
SELECT shilian.ship(:'code', :buyer, '4 kg') AS link4 \gset
SELECT shilian.ship(:'code', :buyer, '5 kg') AS link5 \gset
SAVEPOINT s;
SELECT shilian.receive(:link4, '4 kg', '{"inspector": "甲"}');
ROLLBACK TO s;
SELECT shilian.receive(:link5, '5 kg', '{"inspector": "甲"}') IS NOT NULL AS ok;
CREATE OR REPLACE FUNCTION pg_temp.writes_prepared_ok(q shilian.qty) RETURNS boolean LANGUAGE sql IMMUTABLE
	AS $$ SELECT q OPERATOR(shilian.<>) '5 kg' $$;
SELECT shilian.receive(:link4, '4 kg', '{"inspector": "甲"}') IS NOT NULL AS ok;
SELECT shilian.ship(:'code', :buyer, '5 kg') AS link5 \gset
SAVEPOINT s;
SELECT shilian.receive(:link5, '5 kg', '{"inspector": "甲"}');
ROLLBACK TO s;
ALTER TABLE shilian.batch DROP CONSTRAINT writes_prepared_f;
SELECT shilian.receive(:link5, '5 kg', '{"inspector": "甲"}') IS NOT NULL AS ok;

-- a row trigger's WHEN condition replaced: the next sale fires by the new one
CREATE TEMP TABLE writes_prepared_fired (qty text);
CREATE FUNCTION pg_temp.writes_prepared_log() RETURNS trigger LANGUAGE plpgsql
	AS $$ BEGIN INSERT INTO writes_prepared_fired VALUES (NEW.qty_shipped::text); RETURN NULL; END $$;
CREATE TRIGGER writes_prepared_t AFTER INSERT ON shilian.link FOR EACH ROW
	WHEN (NEW.qty_shipped OPERATOR(shilian.=) '6 kg') EXECUTE FUNCTION pg_temp.writes_prepared_log();
SELECT shilian.ship(:'code', :buyer, '6 kg') IS NOT NULL AS ok;
SELECT shilian.ship(:'code', :buyer, '7 kg') IS NOT NULL AS ok;
DROP TRIGGER writes_prepared_t ON shilian.link;
CREATE TRIGGER writes_prepared_t AFTER INSERT ON shilian.link FOR EACH ROW
	WHEN (NEW.qty_shipped OPERATOR(shilian.=) '7 kg') EXECUTE FUNCTION pg_temp.writes_prepared_log();
SELECT shilian.ship(:'code', :buyer, '6 kg') IS NOT NULL AS ok;
SELECT shilian.ship(:'code', :buyer, '7 kg') IS NOT NULL AS ok;
SELECT qty FROM writes_prepared_fired ORDER BY qty;
ROLLBACK;
