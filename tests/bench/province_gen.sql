-- A province of demo data for the regulator figures (issue 9), set-based and
-- deterministic: run by tests/bench/province_gen.sh as a superuser into a
-- database where CREATE EXTENSION shilian was run and nothing else was loaded.
--
-- Shandong (370000): 16 cities, 137 counties, 4-7 supervision stations per
-- county. At scale 1: a roll of 1,200,000 licences; each county has its own
-- registration rate (72-97%) and activation rate (70-95%), so about a million
-- operators are registered; then :days days of records from :start, about
-- 10.3 million of them (every record counts as one call of a record function
-- would: batch_create, inspect, ship, receive, reject, receive_first_entry,
-- transform, consume).
--
-- Every choice is a fixed hash of a row's number (hashint8extended with a
-- per-purpose seed), and every id is computed rather than drawn from a
-- sequence, so two runs at one scale give the same database (trace code
-- serials too: one backend, no parallel plans, rows inserted in id order).
--
-- What this skips, on purpose, for speed:
--  * the record functions and their checks: rows are written with INSERT ...
--    SELECT, consistent by construction (dates in order, licences covering
--    the product, qty_left = qty minus what left the batch, rejected sales'
--    quantity back on the seller's batch);
--  * the ledger: no ledger entries are written for these records, so
--    chain_verify has nothing to check and no entry carries a source; the
--    counters are filled by operator_day_rebuild() from the record tables,
--    and via_client (records that arrived through an operator's own system,
--    in operator_day and operator_month) is then set for the own-system
--    operators that upload (90% of them), as the gateway would have;
--  * foreign-key and trigger work during the load (session_replication_role
--    = replica) and the secondary indexes, which are dropped and rebuilt
--    around the load.
--
-- Variables: scale (1 = a province), start (first day), days.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET search_path = shilian, public;
SET TimeZone = 'Asia/Shanghai';
SET max_parallel_workers_per_gather = 0;
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';
SET session_replication_role = replica;
SET synchronous_commit = off;

\set days_late '(:days - 6)'

-- u(i, seed): a uniform number in [0, 1), a fixed function of i and seed
CREATE FUNCTION pg_temp.u(i bigint, seed bigint) RETURNS float8
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT (hashint8extended(i, seed) & 9007199254740991)::float8 / 9007199254740992.0 $$;
-- n(i, seed, k): an integer in [0, k)
CREATE FUNCTION pg_temp.n(i bigint, seed bigint, k bigint) RETURNS bigint
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT floor(pg_temp.u(i, seed) * k)::bigint $$;

-- registered_on(i, start): the day operator i registered, spread over the
-- 120 days before start (the last ones 10 days before it), so that the
-- registration rate as of each month's end rises month over month (the
-- roll was imported 150 days before start); activation follows within 10
-- days
CREATE FUNCTION pg_temp.registered_on(i bigint, start date) RETURNS date
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT start - 120 + pg_temp.n(i, 10, 110)::int $$;

CREATE TEMP TABLE p (scale float8, start date, days int, ne bigint, np bigint, nfe bigint);
INSERT INTO p SELECT :scale, :'start'::date, :days,
	round(1200000 * :scale), round(1700000 * :scale), round(300000 * :scale);

-- ---- jurisdictions ---------------------------------------------------------

CREATE TEMP TABLE city (ci int, code text, name text, ncounty int);
INSERT INTO city VALUES
	(1, '370100', '济南市', 10), (2, '370200', '青岛市', 12), (3, '370300', '淄博市', 8),
	(4, '370400', '枣庄市', 6), (5, '370500', '东营市', 5), (6, '370600', '烟台市', 12),
	(7, '370700', '潍坊市', 12), (8, '370800', '济宁市', 11), (9, '370900', '泰安市', 6),
	(10, '371000', '威海市', 4), (11, '371100', '日照市', 4), (12, '371300', '临沂市', 12),
	(13, '371400', '德州市', 11), (14, '371500', '聊城市', 8), (15, '371600', '滨州市', 7),
	(16, '371700', '菏泽市', 9);
CREATE TEMP TABLE county AS
	SELECT c.code AS city, left(c.code, 4) || lpad((k + 1)::text, 2, '0') AS code,
		c.name || '第' || k || '区县' AS name, 4 + pg_temp.n(c.ci * 100 + k, 3, 4) AS nstation,
		0.72 + 0.25 * pg_temp.u(c.ci * 100 + k, 101) AS r_reg,
		0.70 + 0.25 * pg_temp.u(c.ci * 100 + k, 102) AS r_act
	  FROM city c, generate_series(1, c.ncounty) k;
CREATE TEMP TABLE station AS
	SELECT (row_number() OVER (ORDER BY co.code, s) - 1)::int AS k, co.code || lpad(s::text, 3, '0') AS code,
		co.code AS county, co.city, co.name || '第' || s || '市场监管所' AS name, co.r_reg, co.r_act
	  FROM county co, generate_series(1, co.nstation) s;

INSERT INTO jurisdiction (code, name, level, parent, ancestors)
	VALUES ('370000', '山东省', 'province', NULL, '{370000}');
INSERT INTO jurisdiction (code, name, level, parent, ancestors)
	SELECT code, name, 'city', '370000', ARRAY['370000', code] FROM city ORDER BY code;
INSERT INTO jurisdiction (code, name, level, parent, ancestors)
	SELECT code, name, 'county', city, ARRAY['370000', city, code] FROM county ORDER BY code;
INSERT INTO jurisdiction (code, name, level, parent, ancestors)
	SELECT code, name, 'station', county, ARRAY['370000', city, county, code] FROM station ORDER BY code;

-- ---- products: 20 per category (1..10 edible agricultural in the five
-- primary categories), and 20 dishes that transforms make ---------------------

CREATE TEMP TABLE cat (ci int, category text, shelf int, agri boolean);
INSERT INTO cat VALUES
	(1, 'vegetables', 7, true), (2, 'fruit', 14, true), (3, 'aquatic', 5, true),
	(4, 'grain', 365, true), (5, 'meat', 10, true), (6, 'dairy', 21, false),
	(7, 'edible_oil', 540, false), (8, 'alcohol', NULL, false), (9, 'health_food', 730, false),
	(10, 'infant_formula', 720, false), (11, 'other', 180, false);
INSERT INTO product (id, name, category, spec, shelf_life_days, edible_agricultural)
	OVERRIDING SYSTEM VALUE
	SELECT c.ci * 100 + m, c.category || '产品' || m, c.category, m || '型', c.shelf, c.agri AND m <= 10
	  FROM cat c, generate_series(1, 20) m ORDER BY 1;
INSERT INTO product (id, name, category, spec, shelf_life_days)
	OVERRIDING SYSTEM VALUE
	SELECT 1200 + m, '菜品' || m, 'other', '份', 1 FROM generate_series(1, 20) m;

-- ---- the roll, operators and their licences --------------------------------

CREATE TEMP TABLE ent AS
WITH b AS (
	SELECT i, s.code AS station, s.r_reg, s.r_act,
		CASE WHEN pg_temp.u(i, 2) < 0.14 THEN 'production'
			 WHEN pg_temp.u(i, 2) < 0.17 THEN 'special_food'
			 WHEN pg_temp.u(i, 2) < 0.65 THEN 'circulation' ELSE 'catering' END AS segment,
		pg_temp.u(i, 3) AS u3, 1 + pg_temp.n(i, 4, 11)::int AS ci
	  FROM p, generate_series(1, p.ne) i
	  JOIN station s ON s.k = pg_temp.n(i, 1, (SELECT count(*) FROM station))
), k AS (
	SELECT b.*,
		CASE WHEN segment = 'special_food' THEN 9 + (ci % 2) ELSE ci END AS cat1,
		CASE segment
			WHEN 'production' THEN CASE WHEN ci <= 5 AND u3 < 0.6 THEN 'farm' ELSE 'processor' END
			WHEN 'special_food' THEN 'special_food_maker'
			WHEN 'circulation' THEN CASE WHEN u3 < 0.12 THEN 'wholesaler' WHEN u3 < 0.55 THEN 'retailer'
				ELSE 'market_vendor' END
			ELSE CASE WHEN u3 < 0.70 THEN 'restaurant' WHEN u3 < 0.80 THEN 'unit_canteen'
				WHEN u3 < 0.92 THEN 'school_canteen' WHEN u3 < 0.97 THEN 'collective_meal'
				ELSE 'central_kitchen' END END AS kind
	  FROM b
)
SELECT i, station, segment, kind, cat1,
	-- two categories in the scope of half the traders and caterers
	CASE WHEN segment IN ('circulation', 'catering') AND pg_temp.u(i, 5) < 0.5
		THEN 1 + (cat1 + pg_temp.n(i, 6, 9)::int) % 11 END AS cat2,
	pg_temp.u(i, 7) < CASE kind WHEN 'processor' THEN 0.30 WHEN 'wholesaler' THEN 0.30
		WHEN 'central_kitchen' THEN 0.50 WHEN 'collective_meal' THEN 0.50
		WHEN 'special_food_maker' THEN 0.40 ELSE 0.01 END AS own_system,
	pg_temp.u(i, 8) < r_reg AS registered,
	pg_temp.u(i, 8) < r_reg AND pg_temp.u(i, 9) < r_act AS activated,
	CASE WHEN segment IN ('production', 'special_food') THEN 'SC1' ELSE 'JY1' END
		|| lpad(i::text, 13, '0') AS licence_no
  FROM k;

INSERT INTO operator_roll (licence_no, name, station, segment, kinds, imported_at)
	SELECT e.licence_no::licence_no, '经营者' || e.i, e.station, e.segment, ARRAY[e.kind], p.start - 150
	  FROM ent e, p ORDER BY e.i;

INSERT INTO operator (id, reg_card, name, address, contact, segment, kinds, station, status,
		own_system, regulator_contact, registered_at, activated_at)
	OVERRIDING SYSTEM VALUE
	SELECT e.i, 'RC' || e.i, '经营者' || e.i, '地址' || e.i, '1380000' || lpad((e.i % 10000)::text, 4, '0'),
		e.segment, ARRAY[e.kind], e.station, CASE WHEN e.activated THEN 'active' ELSE 'registered' END,
		e.own_system, '监管员' || right(e.station, 5), pg_temp.registered_on(e.i, p.start),
		CASE WHEN e.activated THEN pg_temp.registered_on(e.i, p.start) + pg_temp.n(e.i, 13, 10)::int END
	  FROM ent e, p WHERE e.registered ORDER BY e.i;

-- 1% of licences lapse during the period (the operators go on trading);
-- each recorded on the platform when its holder registered
INSERT INTO licence (id, licence_no, operator_id, scope, valid_from, valid_to, added_at)
	OVERRIDING SYSTEM VALUE
	SELECT e.i, e.licence_no::licence_no, e.i,
		ARRAY[c1.category] || CASE WHEN e.cat2 IS NOT NULL THEN ARRAY[c2.category] ELSE '{}' END,
		p.start - 700,
		CASE WHEN pg_temp.u(e.i, 11) < 0.01 THEN p.start + pg_temp.n(e.i, 12, p.days)::int ELSE p.start + 1000 END,
		pg_temp.registered_on(e.i, p.start)
	  FROM ent e CROSS JOIN p JOIN cat c1 ON c1.ci = e.cat1 LEFT JOIN cat c2 ON c2.ci = e.cat2
	 WHERE e.registered ORDER BY e.i;

-- ---- who records: dense lists for drawing a random member ------------------

CREATE TEMP TABLE prod AS
	SELECT row_number() OVER (ORDER BY i) - 1 AS k, i AS id, left(station, 6) AS region, cat1 AS ci,
		kind = 'farm' AS farm, licence_no
	  FROM ent WHERE activated AND segment IN ('production', 'special_food');
CREATE TEMP TABLE whol AS
	SELECT row_number() OVER (ORDER BY i) - 1 AS k, i AS id, left(station, 6) AS region, licence_no
	  FROM ent WHERE activated AND kind = 'wholesaler';
-- retailers, market vendors and caterers: the end of the chain
CREATE TEMP TABLE buyer AS
	SELECT row_number() OVER (ORDER BY i) - 1 AS k, i AS id, left(station, 6) AS region,
		segment = 'catering' AS catering
	  FROM ent WHERE activated AND kind NOT IN ('farm', 'processor', 'special_food_maker', 'wholesaler');
CREATE TEMP TABLE vendor AS
	SELECT row_number() OVER (ORDER BY i) - 1 AS k, i AS id, left(station, 6) AS region
	  FROM ent WHERE activated AND kind = 'market_vendor';
CREATE UNIQUE INDEX ON prod (k);
CREATE UNIQUE INDEX ON whol (k);
CREATE UNIQUE INDEX ON buyer (k);
CREATE UNIQUE INDEX ON vendor (k);
ANALYZE prod; ANALYZE whol; ANALYZE buyer; ANALYZE vendor;

-- ---- the record tables: secondary indexes off during the load --------------

CREATE TEMP TABLE saved_index AS
	SELECT c.conrelid::regclass::text AS tab, c.conname AS name, pg_get_constraintdef(c.oid) AS def, true AS con
	  FROM pg_constraint c
	 WHERE c.conrelid IN ('shilian.batch'::regclass, 'shilian.link'::regclass,
			'shilian.inspection'::regclass, 'shilian.consumption'::regclass)
	   AND c.contype = 'u'
	UNION ALL
	SELECT i.indrelid::regclass::text, ci.relname, pg_get_indexdef(i.indexrelid), false
	  FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
	 WHERE i.indrelid IN ('shilian.batch'::regclass, 'shilian.link'::regclass,
			'shilian.inspection'::regclass, 'shilian.consumption'::regclass)
	   AND NOT i.indisprimary
	   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM saved_index LOOP
		IF r.con THEN
			EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tab, r.name);
		ELSE
			EXECUTE format('DROP INDEX shilian.%I', r.name);
		END IF;
	END LOOP;
END $$;

-- ---- produced batches, release and sampling inspections ---------------------
-- Batch p (1..np) of a producer; produced on a day of the period leaving six
-- days for the sales after it. Its plan: 0-2 sales of 100 kg (ship links
-- 2p-1 and 2p), a release inspection for 85% of them (the certificate the
-- buyers' incoming records need), a 1 kg sample kept for 25%.

CREATE TEMP TABLE pb AS
SELECT pp.p, pr.id AS owner, pr.region, pr.farm, pr.licence_no, c.ci, c.shelf, pp.day,
	CASE WHEN pr.farm THEN 1 + pg_temp.n(pp.p, 14, 10) ELSE 11 + pg_temp.n(pp.p, 14, 10) END AS m,
	CASE WHEN pg_temp.u(pp.p, 15) < 0.20 THEN 0 WHEN pg_temp.u(pp.p, 15) < 0.55 THEN 1 ELSE 2 END AS nship,
	NOT pr.farm AND pg_temp.u(pp.p, 16) < 0.85 AS released,
	pg_temp.u(pp.p, 17) < 0.25 AS sample,
	pg_temp.u(pp.p, 18) < 0.06 AS sampled
  FROM (SELECT g.i AS p, p.start + pg_temp.n(g.i, 12, p.days - 6)::int AS day,
			pg_temp.n(g.i, 11, (SELECT count(*) FROM prod)) AS k
		  FROM p, generate_series(1, p.np) g(i)) pp
  JOIN prod pr ON pr.k = pp.k
  JOIN cat c ON c.ci = pr.ci;

-- the sales planned from each produced batch (tier 1): link id 2p - 2 + j;
-- a quarter of them to wholesalers, the rest to retailers, market vendors
-- and caterers; 5% never received, 2% rejected
CREATE TEMP TABLE s1 AS
WITH s AS (
	SELECT pb.p, 2 * pb.p - 2 + j AS l, pb.owner AS seller, pb.farm, pb.licence_no, pb.ci, pb.m,
		pb.day, pb.shelf, pb.released,
		pb.day + pg_temp.n(2 * pb.p - 2 + j, 23, 2)::int AS shipped,
		CASE WHEN pg_temp.u(2 * pb.p - 2 + j, 21) < 0.05 THEN 'pending'
			 WHEN pg_temp.u(2 * pb.p - 2 + j, 21) < 0.07 THEN 'rejected' ELSE 'received' END AS status,
		pg_temp.u(2 * pb.p - 2 + j, 22) < 0.25 AS to_wholesaler,
		pg_temp.n(2 * pb.p - 2 + j, 24, (SELECT count(*) FROM whol)) AS wk,
		pg_temp.n(2 * pb.p - 2 + j, 24, (SELECT count(*) FROM buyer)) AS bk
	  FROM pb, generate_series(1, pb.nship) j
)
SELECT s.*, coalesce(w.id, b.id) AS buyer, coalesce(w.region, b.region) AS bregion,
	CASE WHEN w.id IS NOT NULL THEN 'wholesaler' WHEN b.catering THEN 'catering' ELSE 'retail' END AS bkind
  FROM s
  LEFT JOIN whol w ON s.to_wholesaler AND w.k = s.wk
  LEFT JOIN buyer b ON NOT s.to_wholesaler AND b.k = s.bk;

INSERT INTO batch (id, trace_code, owner_id, product_id, qty, qty_left, produced_on, expires_on, lot,
		origin, certificate, created_at)
	OVERRIDING SYSTEM VALUE
	SELECT pb.p, trace_code_next(pb.region), pb.owner, pb.ci * 100 + pb.m, '1000 kg',
		(1000 - 100 * coalesce(a.n, 0) - CASE WHEN pb.sample THEN 1 ELSE 0 END || ' kg')::qty,
		pb.day, pb.day + pb.shelf, 'L' || pb.p, 'produced',
		CASE WHEN pb.released THEN jsonb_build_object('certificate_no', 'C' || pb.p, 'inspection_id', pb.p) END,
		pb.day + time '07:00'
	  FROM pb LEFT JOIN (SELECT s1.p, count(*) AS n FROM s1 WHERE s1.status <> 'rejected' GROUP BY s1.p) a
		ON a.p = pb.p
	 ORDER BY pb.p;

INSERT INTO inspection (id, batch_id, operator_id, kind, result, report, inspected_at)
	OVERRIDING SYSTEM VALUE
	SELECT pb.p, pb.p, pb.owner, 'release', 'pass',
		jsonb_build_object('certificate_no', 'C' || pb.p, 'inspector', '检验员' || pb.owner % 100),
		pb.day + time '08:00'
	  FROM pb WHERE pb.released ORDER BY pb.p;
INSERT INTO inspection (id, batch_id, operator_id, kind, result, report, inspected_at)
	OVERRIDING SYSTEM VALUE
	SELECT (SELECT np FROM p) + pb.p, pb.p, pb.owner, 'sampling',
		CASE WHEN pg_temp.u(pb.p, 19) < 0.02 THEN 'fail' ELSE 'pass' END,
		jsonb_build_object('agency', '山东省食品检验研究院', 'report_no', 'R' || pb.p),
		pb.day + time '15:00'
	  FROM pb WHERE pb.sampled ORDER BY pb.p;

-- ---- every sale, both tiers -------------------------------------------------
-- lk: one row per sale l. Tier 1 are the sales above (l <= 2np, from batch
-- p); tier 2 are the onward sales of 50 kg that 90% of the wholesalers'
-- receipts make (l = 2np + the tier-1 link, from the receipt's batch
-- np + l). The buyer's batch of a received sale l is np + l; a sale is
-- received or rejected 0-1 day after it was shipped; a pending one never.

CREATE TEMP TABLE lk AS
SELECT l, p AS from_batch, seller, buyer, bregion, bkind, ci, m, day AS produced, day + shelf AS expires,
	'L' || p AS lot, 100 AS kg, shipped, status,
	CASE WHEN farm THEN NULL ELSE licence_no END AS seller_licence,
	CASE WHEN released THEN jsonb_build_object('certificate_no', 'C' || p, 'inspection_id', p) END AS certificate,
	CASE WHEN status <> 'pending' THEN shipped + pg_temp.n(l, 25, 2)::int
		+ time '09:00' + pg_temp.n(l, 26, 480)::int * interval '1 minute' END AS rts
  FROM s1;
INSERT INTO lk
WITH t AS (
	SELECT (SELECT np FROM p) * 2 + lk.l AS l, (SELECT np FROM p) + lk.l AS from_batch, lk.buyer AS seller,
		w.licence_no AS seller_licence, lk.ci, lk.m, lk.produced, lk.expires, lk.lot, lk.certificate,
		lk.rts::date + pg_temp.n(lk.l, 27, 2)::int AS shipped
	  FROM lk JOIN whol w ON w.id = lk.buyer
	 WHERE lk.bkind = 'wholesaler' AND lk.status = 'received' AND pg_temp.u(lk.l, 31) < 0.9
), x AS (
	SELECT t.*, CASE WHEN pg_temp.u(t.l, 21) < 0.05 THEN 'pending'
			 WHEN pg_temp.u(t.l, 21) < 0.07 THEN 'rejected' ELSE 'received' END AS status,
		pg_temp.n(t.l, 24, (SELECT count(*) FROM buyer)) AS bk
	  FROM t
)
SELECT x.l, x.from_batch, x.seller, b.id, b.region, CASE WHEN b.catering THEN 'catering' ELSE 'retail' END,
	x.ci, x.m, x.produced, x.expires, x.lot, 50, x.shipped, x.status, x.seller_licence, x.certificate,
	CASE WHEN x.status <> 'pending' THEN x.shipped + pg_temp.n(x.l, 25, 2)::int
		+ time '09:00' + pg_temp.n(x.l, 26, 480)::int * interval '1 minute' END
  FROM x JOIN buyer b ON b.k = x.bk;

-- what becomes of each received batch np + l: a wholesaler's sells 50 kg on
-- (above); a caterer's is processed into a dish (60%: transform link 4np + l,
-- dish batch 5np + nfe + l) or served whole (90% of the rest); a retailer's
-- or vendor's is 60% sold at retail (80%) and 10% destroyed (5%)
CREATE TEMP TABLE rc AS
SELECT lk.*, (SELECT np FROM p) + lk.l AS rb,
	lk.bkind = 'catering' AND pg_temp.u(lk.l, 32) < 0.6 AS transformed,
	CASE WHEN lk.bkind = 'catering' AND pg_temp.u(lk.l, 32) >= 0.6 AND pg_temp.u(lk.l, 33) < 0.9 THEN lk.kg
		 WHEN lk.bkind = 'retail' AND pg_temp.u(lk.l, 33) < 0.8 THEN lk.kg * 6 / 10 ELSE 0 END AS sold_kg,
	CASE WHEN lk.bkind = 'retail' AND pg_temp.u(lk.l, 34) < 0.05 THEN lk.kg / 10 ELSE 0 END AS destroyed_kg,
	coalesce(o.kg, 0) AS onward_kg
  FROM lk
  LEFT JOIN (SELECT t.from_batch - (SELECT np FROM p) AS l, t.kg FROM lk t
			  WHERE t.l > 2 * (SELECT np FROM p) AND t.status <> 'rejected') o ON o.l = lk.l
 WHERE lk.status = 'received';

INSERT INTO link (id, kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted,
		shipped_on, received_at, status, reject_reason, seller_licence, created_at)
	OVERRIDING SYSTEM VALUE
	SELECT l, 'ship', from_batch, CASE WHEN status = 'received' THEN (SELECT np FROM p) + l END,
		seller, buyer, (kg || ' kg')::qty, CASE WHEN status = 'received' THEN (kg || ' kg')::qty END,
		shipped, rts, status, CASE WHEN status = 'rejected' THEN '包装破损' END,
		seller_licence::licence_no, shipped + time '07:30'
	  FROM lk ORDER BY l;

INSERT INTO batch (id, trace_code, owner_id, product_id, qty, qty_left, produced_on, expires_on, lot,
		origin, supplier_licence, certificate, created_at)
	OVERRIDING SYSTEM VALUE
	SELECT rb, trace_code_next(bregion), buyer, ci * 100 + m, (kg || ' kg')::qty,
		(CASE WHEN transformed THEN 0 ELSE kg - sold_kg - destroyed_kg - onward_kg END || ' kg')::qty,
		produced, expires, lot, 'received', seller_licence::licence_no, certificate, rts
	  FROM rc ORDER BY rb;

INSERT INTO inspection (id, batch_id, operator_id, kind, result, report, link_id, inspected_at)
	OVERRIDING SYSTEM VALUE
	SELECT 2 * (SELECT np FROM p) + l, rb, buyer, 'incoming', 'pass',
		jsonb_build_object('inspector', '验收员' || buyer % 100), l, rts
	  FROM rc
	 -- 3% of the receipts are recorded without their incoming inspection
	 -- (an EPCIS receiving event or a bulk line without it), as in a province
	 WHERE pg_temp.u(rc.l, 61) >= 0.03
	 ORDER BY l;

-- ---- first entries: market vendors buying from farmers without records -----

CREATE TEMP TABLE fe AS
SELECT f, v.id AS owner, v.region, 1 + pg_temp.n(f, 43, 5)::int AS ci, 1 + pg_temp.n(f, 44, 10)::int AS m,
	p.start + pg_temp.n(f, 42, p.days)::int AS day,
	pg_temp.u(f, 45) < 0.85 AS sold
  FROM p, generate_series(1, p.nfe) f
  JOIN vendor v ON v.k = pg_temp.n(f, 41, (SELECT count(*) FROM vendor));

INSERT INTO batch (id, trace_code, owner_id, product_id, qty, qty_left, produced_on, expires_on, lot,
		origin, supplier, created_at)
	OVERRIDING SYSTEM VALUE
	SELECT 5 * p.np + f, trace_code_next(fe.region), fe.owner, fe.ci * 100 + fe.m, '80 kg',
		CASE WHEN fe.sold THEN '10 kg'::qty ELSE '80 kg'::qty END,
		fe.day, fe.day + c.shelf, NULL, 'first_entry',
		jsonb_build_object('name', '农户' || f % 5000, 'contact', '1390000' || lpad((f % 5000)::text, 4, '0')),
		fe.day + time '06:00'
	  FROM fe CROSS JOIN p JOIN cat c ON c.ci = fe.ci ORDER BY f;
INSERT INTO inspection (id, batch_id, operator_id, kind, result, report, inspected_at)
	OVERRIDING SYSTEM VALUE
	SELECT 6 * p.np + f, 5 * p.np + f, fe.owner, 'incoming', 'pass',
		jsonb_build_object('inspector', '摊主' || fe.owner % 100), fe.day + time '06:00'
	  FROM fe, p ORDER BY f;

-- ---- transforms: the caterers' dishes ---------------------------------------

INSERT INTO batch (id, trace_code, owner_id, product_id, qty, qty_left, produced_on, expires_on, lot,
		origin, created_at)
	OVERRIDING SYSTEM VALUE
	SELECT 5 * p.np + p.nfe + rc.l, trace_code_next(rc.bregion), rc.buyer, 1201 + pg_temp.n(rc.l, 35, 20),
		(rc.kg * 9 / 10 || ' kg')::qty, '0 kg', rc.rts::date, rc.rts::date + 1, NULL, 'transformed',
		rc.rts + interval '2 hours'
	  FROM rc, p WHERE rc.transformed ORDER BY rc.l;
INSERT INTO link (id, kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted,
		shipped_on, received_at, status, created_at)
	OVERRIDING SYSTEM VALUE
	SELECT 4 * p.np + rc.l, 'transform', rc.rb, 5 * p.np + p.nfe + rc.l, rc.buyer, rc.buyer,
		(rc.kg || ' kg')::qty, (rc.kg || ' kg')::qty, rc.rts::date, rc.rts + interval '2 hours', 'received',
		rc.rts + interval '2 hours'
	  FROM rc, p WHERE rc.transformed ORDER BY rc.l;

-- ---- consumption ------------------------------------------------------------

INSERT INTO consumption (id, batch_id, operator_id, qty, kind, consumed_at)
	OVERRIDING SYSTEM VALUE
	SELECT id, batch_id, operator_id, qty::qty, kind, at FROM (
		-- a kept sample of the producer's batch
		SELECT 12 * p.np + pb.p AS id, pb.p AS batch_id, pb.owner AS operator_id, '1 kg' AS qty,
			'sample_kept' AS kind, pb.day + time '09:00' AS at
		  FROM pb, p WHERE pb.sample
		UNION ALL
		-- served whole, or sold at retail
		SELECT rc.l, rc.rb, rc.buyer, rc.sold_kg || ' kg',
			CASE WHEN rc.bkind = 'catering' THEN 'served' ELSE 'retail_sold' END, rc.rts + interval '3 hours'
		  FROM rc WHERE rc.sold_kg > 0
		UNION ALL
		SELECT 4 * p.np + rc.l, rc.rb, rc.buyer, rc.destroyed_kg || ' kg', 'destroyed', rc.rts + interval '5 hours'
		  FROM rc, p WHERE rc.destroyed_kg > 0
		UNION ALL
		-- the dishes, served
		SELECT 8 * p.np + rc.l, 5 * p.np + p.nfe + rc.l, rc.buyer, rc.kg * 9 / 10 || ' kg', 'served',
			rc.rts + interval '4 hours'
		  FROM rc, p WHERE rc.transformed
		UNION ALL
		SELECT 13 * p.np + fe.f, 5 * p.np + fe.f, fe.owner, '70 kg', 'retail_sold', fe.day + time '11:00'
		  FROM fe, p WHERE fe.sold
	) c ORDER BY id;

-- ---- indexes back, sequences past the ids, statistics -----------------------

RESET session_replication_role;
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM saved_index LOOP
		IF r.con THEN
			EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', r.tab, r.name, r.def);
		ELSE
			EXECUTE r.def;
		END IF;
	END LOOP;
END $$;
SELECT setval(pg_get_serial_sequence('shilian.operator', 'id'), (SELECT max(id) FROM operator));
SELECT setval(pg_get_serial_sequence('shilian.licence', 'id'), (SELECT max(id) FROM licence));
SELECT setval(pg_get_serial_sequence('shilian.product', 'id'), (SELECT max(id) FROM product));
SELECT setval(pg_get_serial_sequence('shilian.batch', 'id'), (SELECT max(id) FROM batch));
SELECT setval(pg_get_serial_sequence('shilian.link', 'id'), (SELECT max(id) FROM link));
SELECT setval(pg_get_serial_sequence('shilian.inspection', 'id'), (SELECT max(id) FROM inspection));
SELECT setval(pg_get_serial_sequence('shilian.consumption', 'id'), (SELECT max(id) FROM consumption));

-- the receipts that break a rule (0.3.0, sql/src/66_findings.sql: its
-- triggers did not fire under session_replication_role = replica), by the
-- rule itself over every receipt
SELECT to_regclass('shilian.receipt_exception') IS NOT NULL AS has_receipt_exception \gset
\if :has_receipt_exception
SELECT receipt_exception_sync(ARRAY(SELECT l.id FROM link l WHERE l.status = 'received' AND l.kind = 'ship'),
	ARRAY(SELECT b.id FROM batch b WHERE b.origin = 'first_entry'));
\endif

-- the registry's history (0.3.0, sql/src/63_history.sql; its triggers did
-- not fire under session_replication_role = replica): each operator's
-- versions from its time stamps, each licence and roll row from theirs
SELECT CASE WHEN to_regclass('shilian.operator_history') IS NOT NULL THEN 'history' END AS history \gset
\if :{?history}
-- (under replica too: the rows are the history, so the history tables' own
-- row trigger for direct inserts, a restore's, has nothing to replace)
SET session_replication_role = replica;
INSERT INTO operator_history (operator_id, valid, status, station, segment, kinds, own_system)
SELECT o.id, v.valid, v.status, o.station, o.segment, o.kinds, o.own_system
  FROM operator o, LATERAL operator_history_versions(o) v;
INSERT INTO licence_history (licence_id, licence_no, operator_id, scope, valid_from, valid_to, recorded)
SELECT li.id, li.licence_no, li.operator_id, li.scope, li.valid_from, li.valid_to, tstzrange(li.added_at, NULL)
  FROM licence li;
INSERT INTO operator_roll_history (licence_no, name, station, segment, kinds, recorded)
SELECT r.licence_no, r.name, r.station, r.segment, r.kinds, tstzrange(r.imported_at, NULL)
  FROM operator_roll r;
RESET session_replication_role;
ANALYZE operator_history; ANALYZE licence_history; ANALYZE operator_roll_history;
\endif

ANALYZE jurisdiction; ANALYZE operator_roll; ANALYZE operator; ANALYZE licence; ANALYZE product;
ANALYZE batch; ANALYZE link; ANALYZE inspection; ANALYZE consumption;

-- ---- the counters -------------------------------------------------------------
-- Filled from the record tables by operator_day_rebuild() (when this build
-- has it); the generated records have no ledger entries and so no source:
-- the own-system operators that upload (90% of them) get their records
-- counted as arriving through a client, as the gateway would have.
SELECT CASE WHEN to_regprocedure('shilian.operator_day_rebuild()') IS NOT NULL THEN 'counters' END AS step \gset
\if :{?step}
-- the recount joins millions of rows: room to hash them, and both cores
SET work_mem = '1GB';
SET max_parallel_workers_per_gather = 2;
SELECT shilian.operator_day_rebuild() AS operator_days;
UPDATE operator_day d SET via_client = d.records
  FROM operator o WHERE o.id = d.operator_id AND o.own_system AND pg_temp.u(o.id, 51) < 0.9;
-- (without the rollups' row triggers: one recount after, when this build
-- has them)
SET session_replication_role = replica;
UPDATE operator_month m SET via_client = m.records
  FROM operator o WHERE o.id = m.operator_id AND o.own_system AND pg_temp.u(o.id, 51) < 0.9;
RESET session_replication_role;
SELECT CASE WHEN to_regprocedure('shilian.rollup_rebuild()') IS NOT NULL THEN 'rollups' END AS rollups \gset
\if :{?rollups}
SELECT shilian.rollup_rebuild() AS rollup_rows;
\endif
VACUUM ANALYZE operator_day;
VACUUM ANALYZE operator_month;
\endif
