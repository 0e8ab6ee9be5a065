-- The demo's neighbouring province (docs/federation.md), loaded by `make run`
-- after tests/demo/province.sql, run as a superuser in the province's
-- database: Beijing (110000) in the database shilian_beijing of the same
-- cluster, with the extension, and the two platforms registered as each
-- other's peers over dblink (province_peer, each with its own peer login,
-- bound with province_peer_login). The Licheng farm sells 200 kg of its
-- cabbage lot (the demo recall's suspect lot) to Beijing's Xinfadi
-- wholesale market, named by its GLN (PGLN); the sale is delivered, the
-- market receives it there, and a national trace of the farm lot crosses
-- into Beijing. Idempotent: the sale is made once, the peers registered
-- again on every run (the socket or port may have changed). Try:
--   SELECT * FROM shilian.trace_forward_national('<the farm lot>');
--   SELECT * FROM shilian.federation_outbox;
--   psql -d shilian_beijing -c 'SELECT * FROM shilian.federation_inbox'
\set ON_ERROR_STOP 1
SELECT current_database() AS province_db,
	format('host=%s port=%s dbname=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
		current_setting('port'), current_database()) AS province_conninfo,
	format('host=%s port=%s dbname=shilian_beijing', split_part(current_setting('unix_socket_directories'), ',', 1),
		current_setting('port')) AS neighbour_conninfo \gset
SELECT 'CREATE DATABASE shilian_beijing'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'shilian_beijing') \gexec
CREATE EXTENSION IF NOT EXISTS dblink;
-- each province's login on the other's platform (roles are the cluster's;
-- the bindings are each database's)
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'peer_370000') THEN
		CREATE ROLE peer_370000 LOGIN PASSWORD 'demo-peer-370000' IN ROLE shilian_peer;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'peer_110000') THEN
		CREATE ROLE peer_110000 LOGIN PASSWORD 'demo-peer-110000' IN ROLE shilian_peer;
	END IF;
END
$$;

\connect shilian_beijing
CREATE EXTENSION IF NOT EXISTS shilian;
CREATE EXTENSION IF NOT EXISTS dblink;
-- Beijing's registry: the Xinfadi market, registered once (its USCC is the
-- marker), with its PGLN (what the farm names it by)
DO $demo$
DECLARE
	market bigint;
BEGIN
	IF EXISTS (SELECT 1 FROM shilian.operator o WHERE o.uscc OPERATOR(shilian.=) '91110106MA0X00201N'::shilian.uscc) THEN
		RETURN;
	END IF;
	PERFORM shilian.jurisdiction_add(c, n)
	   FROM (VALUES ('110000', '北京市'), ('110100', '市辖区'), ('110106', '丰台区'),
			('110106001', '丰台区花乡市场监管所')) v(c, n);
	market := shilian.operator_register('北京新发地农产品批发市场', 'circulation', '{wholesaler}', '110106001',
		'北京市丰台区新发地桥西', '010-67100201', uscc => '91110106MA0X00201N');
	PERFORM shilian.operator_activate(market);
	PERFORM shilian.licence_add(market, 'JY11101060002016', '{vegetables,fruit}',
		shilian.platform_today() - 500, shilian.platform_today() + 1300);
	PERFORM shilian.gs1_location_register(market, 'urn:epc:id:pgln:6970001.00001', '北京新发地农产品批发市场');
END
$demo$;
SELECT shilian.province_peer('370000', :'province_conninfo', 'peer_110000', 'demo-peer-110000',
	name => '山东省', time_limit => '3 seconds') IS NOT NULL AS registered;
SELECT shilian.province_peer_login('370000', 'peer_370000');

\connect :province_db
SELECT shilian.province_peer('110000', :'neighbour_conninfo', 'peer_370000', 'demo-peer-370000',
	name => '北京市', time_limit => '3 seconds') IS NOT NULL AS registered;
SELECT shilian.province_peer_login('110000', 'peer_110000');
-- the sale, once: 200 kg of the farm's cabbage lot, the day the wholesaler
-- got its 800 kg, to the market named by GLN
DO $demo$
DECLARE
	lot shilian.trace_code;
	shipped date;
BEGIN
	IF EXISTS (SELECT 1 FROM shilian.federation_outbox) THEN
		RETURN;
	END IF;
	SELECT b.trace_code, l.shipped_on INTO lot, shipped
	  FROM shilian.batch b JOIN shilian.operator o ON o.id = b.owner_id
	  JOIN shilian.link l ON l.from_batch = b.id
	 WHERE o.uscc OPERATOR(shilian.=) '93370112MA3D001010'::shilian.uscc AND b.origin = 'produced'
	 ORDER BY b.id, l.id LIMIT 1;
	BEGIN
		PERFORM shilian.ship_cross_border(lot, NULL, '200 kg', shipped, buyer_gln => 'urn:epc:id:pgln:6970001.00001',
			buyer_province => '110000', buyer_name => '北京新发地农产品批发市场');
	EXCEPTION WHEN OTHERS THEN
		-- a province loaded days before (its lot expired): the demo goes on without it
		RAISE NOTICE 'demo: no cross-border sale (%)', SQLERRM;
	END;
END
$demo$;
SELECT province, delivered, refused, pending, error FROM shilian.federation_deliver();

\connect shilian_beijing
-- the market receives it (its receipt draft, pre-filled from the sale)
SELECT shilian.receive(d.link, d.qty, '{"inspector": "刘七", "rapid_test": "农残速测合格"}',
		(d.shipped_on + 1) + time '05:30')
  FROM shilian.operator o, shilian.receipt_drafts(o.id) d
 WHERE o.uscc OPERATOR(shilian.=) '91110106MA0X00201N'::shilian.uscc;

\connect :province_db
SELECT 'demo: a national trace of ' || min(t.batch::text) FILTER (WHERE t.depth = 0) || ' reaches '
	|| count(*) FILTER (WHERE t.province = '110000') || ' lot(s) in province 110000' AS federation
  FROM shilian.trace_forward_national((SELECT b.trace_code FROM shilian.federation_outbox x
		JOIN shilian.link l ON l.id = x.link_id JOIN shilian.batch b ON b.id = l.from_batch ORDER BY x.id LIMIT 1)) t;
