-- shilian upgrade script 0.2.0 -> 0.3.0, part 97: federation, second slice
-- (sql/src/96_federation.sql, the same statements; h-fed2). A peer login is
-- bound to its province (province_peer_login) and may claim no other
-- (federation_peer_claim, SLN09): federation_accept, federation_recall_accept
-- and federation_recall_status carry the check, province_peer_drop unbinds.
-- federation_recall_spread tells the peers this platform's province (it
-- told them the province of the recalled lot, a peer's for a part opened
-- here for that peer, which the bound login now refuses).
-- A cross-border buyer may be named by its GLN (PGLN) instead of its USCC
-- (ship_cross_border's new buyer_gln and buyer_province, SLN10; the outbox's
-- buyer_gln; federation_counterpart keyed by it; federation_accept resolving
-- it through gs1_location).

-- The logins the peers log in here with, each bound to its one province:
-- what a peer login asserts (the origin of a sale it delivers, the province
-- of a recall it spreads) must be its own (federation_peer_claim).
CREATE TABLE province_peer_login (
	login    name PRIMARY KEY,
	province text NOT NULL REFERENCES province_peer (code) ON DELETE CASCADE,
	added_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE province_peer_login IS
	'The login role each peer province''s platform logs in here with (a member of shilian_peer), one province per login: a delivery or recall by that login may claim only that province.';
REVOKE ALL ON province_peer_login FROM PUBLIC;
GRANT SELECT ON province_peer_login TO shilian_admin, shilian_national;
ALTER TABLE province_peer_login ENABLE ROW LEVEL SECURITY;
CREATE POLICY province_peer_login_read ON province_peer_login FOR SELECT
	TO shilian_admin, shilian_national USING (true);

CREATE OR REPLACE FUNCTION province_peer_drop(code text) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	p shilian.province_peer;
BEGIN
	SELECT * INTO p FROM shilian.province_peer pp WHERE pp.code = province_peer_drop.code;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN05', MESSAGE = format('no peer is registered for province %s', code);
	END IF;
	IF EXISTS (SELECT 1 FROM shilian.federation_outbox o WHERE o.province = p.code AND o.status = 'pending') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN05',
			MESSAGE = format('province %s still has sales waiting for delivery', code),
			HINT = 'Deliver them first (federation_deliver).';
	END IF;
	EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', p.server);
	-- its logins may no longer deliver or spread a recall here
	DELETE FROM shilian.province_peer_login l WHERE l.province = p.code;
	-- the row stays while delivered sales name it; the server and mapping go
	IF NOT EXISTS (SELECT 1 FROM shilian.federation_outbox o WHERE o.province = p.code) THEN
		DELETE FROM shilian.province_peer pp WHERE pp.code = p.code;
	END IF;
END;
$$;
COMMENT ON FUNCTION province_peer_drop(text) IS
	'Remove a peer''s foreign server, user mapping and login bindings (refused while sales to it wait for delivery).';
REVOKE ALL ON FUNCTION province_peer_drop(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION province_peer_drop(text) TO shilian_admin;

-- Bind the login a peer province's platform logs in here with (its user
-- mapping there names it) to that province: a login belongs to one
-- province; binding it again moves it. The login must be an existing login
-- role, a member of shilian_peer and no superuser (SLN02); the province a
-- registered peer (SLN05).
CREATE FUNCTION province_peer_login(code text, login name) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r pg_roles;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.province_peer p JOIN pg_foreign_server fs ON fs.srvname = p.server
					WHERE p.code = province_peer_login.code) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN05',
			MESSAGE = format('no peer is registered for province %s', code),
			HINT = 'Register the province with province_peer() first.';
	END IF;
	SELECT * INTO r FROM pg_roles x WHERE x.rolname = login;
	IF NOT FOUND OR NOT r.rolcanlogin OR r.rolsuper OR NOT pg_has_role(login, 'shilian_peer', 'MEMBER') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN02',
			MESSAGE = format('"%s" is not a peer login (%s)', login,
				CASE WHEN r.rolname IS NULL THEN 'no such role' WHEN NOT r.rolcanlogin THEN 'it cannot log in'
					WHEN r.rolsuper THEN 'a superuser' ELSE 'not a member of shilian_peer' END),
			HINT = 'Give each peer province a login role of its own: CREATE ROLE … LOGIN PASSWORD … IN ROLE shilian_peer.';
	END IF;
	INSERT INTO shilian.province_peer_login (login, province) VALUES (login, code)
	ON CONFLICT ON CONSTRAINT province_peer_login_pkey
	DO UPDATE SET province = EXCLUDED.province, added_at = EXCLUDED.added_at;
END;
$$;
COMMENT ON FUNCTION province_peer_login(text, name) IS
	'Bind the login role a peer province logs in here with to that province (a login belongs to one province): its deliveries and recalls may claim only that province.';
REVOKE ALL ON FUNCTION province_peer_login(text, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION province_peer_login(text, name) TO shilian_admin;

CREATE FUNCTION province_peer_login_drop(login name) RETURNS boolean
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	WITH d AS (DELETE FROM shilian.province_peer_login l WHERE l.login = province_peer_login_drop.login RETURNING 1)
	SELECT EXISTS (SELECT 1 FROM d);
	END;
COMMENT ON FUNCTION province_peer_login_drop(name) IS
	'Unbind a peer login (it may no longer deliver or spread a recall here); returns whether it was bound.';
REVOKE ALL ON FUNCTION province_peer_login_drop(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION province_peer_login_drop(name) TO shilian_admin;

-- The province the session's login acts for, for the peers' entry points:
-- a bound peer login's province (province_peer_login); NULL (any) for the
-- platform's own admin or a superuser, who may replay a delivery by hand;
-- any other login (a shilian_peer member bound to no province) SLN09. The
-- login is session_user: SET ROLE does not change it.
CREATE FUNCTION federation_peer_province() RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	bound text;
BEGIN
	SELECT l.province INTO bound FROM shilian.province_peer_login l WHERE l.login = session_user;
	IF bound IS NULL AND NOT pg_has_role(session_user, 'shilian_admin', 'MEMBER') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN09',
			MESSAGE = format('login %s is bound to no peer province', session_user),
			HINT = 'The admin binds each peer province''s login with province_peer_login(code, login), docs/federation.md.';
	END IF;
	RETURN bound;
END;
$$;
COMMENT ON FUNCTION federation_peer_province() IS
	'The province the session''s login (session_user) is bound to as a peer login; NULL for the admin or a superuser; SLN09 for a login bound to no province.';
REVOKE ALL ON FUNCTION federation_peer_province() FROM PUBLIC;

-- The one check of what a peer asserts: province `province` (the origin of
-- a sale, the province of a recall) must be a registered peer (SLN05) and,
-- for a peer login, the province of that login (SLN09).
CREATE FUNCTION federation_peer_claim(province text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	bound text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.province_peer p WHERE p.code = federation_peer_claim.province) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN05',
			MESSAGE = format('province %s is no registered peer of this platform', province);
	END IF;
	bound := shilian.federation_peer_province();
	IF bound IS DISTINCT FROM province AND bound IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN09',
			MESSAGE = format('login %s is the login of province %s: it may not act for province %s',
				session_user, bound, province),
			HINT = 'Each peer province delivers with its own login (province_peer_login).';
	END IF;
END;
$$;
COMMENT ON FUNCTION federation_peer_claim(text) IS
	'Check a province a peer asserts (a sale''s origin, a recall''s province): a registered peer (SLN05) and, for a peer login, its own province (SLN09).';
REVOKE ALL ON FUNCTION federation_peer_claim(text) FROM PUBLIC;

-- On the buyer's platform (called by a peer as shilian_peer): the sale
-- becomes the buyer's receipt draft, once per (origin, sale id). Returns
-- {status: accepted | duplicate, link}. The sale's rules were the seller's
-- province's; here the buyer must be registered and active (SLN07), the
-- origin a registered peer (SLN05) and the province of the login that
-- delivers it (SLN09), and the lot one of the origin's (SLN06).
CREATE OR REPLACE FUNCTION federation_accept(sale jsonb) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	org text := sale->>'origin';
	sid bigint;
	buyer shilian.operator;
	station text;
	seller bigint;
	product bigint;
	lic shilian.licence_no;
	b shilian.batch;
	q shilian.qty;
	lnk shilian.link;
	prior bigint;
BEGIN
	IF jsonb_typeof(sale) IS DISTINCT FROM 'object' OR jsonb_typeof(sale->'sale_id') IS DISTINCT FROM 'number'
	   OR org IS NULL OR sale->'lot'->>'code' IS NULL OR sale->>'qty' IS NULL
	   OR (sale->>'buyer_uscc' IS NULL) = (sale->>'buyer_gln' IS NULL) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN06',
			MESSAGE = 'malformed sale: origin, sale_id, lot.code, qty and one of buyer_uscc and buyer_gln are needed';
	END IF;
	IF sale->>'buyer_gln' !~ '^[0-9]{13}$' OR NOT shilian.gs1_check_ok(sale->>'buyer_gln') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN06', MESSAGE = format('malformed sale: buyer GLN %s', sale->>'buyer_gln');
	END IF;
	sid := (sale->>'sale_id')::bigint;
	-- a registered peer, and the province of the login that delivers it
	PERFORM shilian.federation_peer_claim(org);
	IF shilian.province_of_code(sale->'lot'->>'code') IS DISTINCT FROM org THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN06',
			MESSAGE = format('lot %s is not a lot of province %s', sale->'lot'->>'code', org);
	END IF;
	-- once per sale: a second delivery (a retry after a lost answer) finds it
	INSERT INTO shilian.federation_inbox (origin, sale_id, payload) VALUES (org, sid, sale)
	ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		SELECT i.link_id INTO prior FROM shilian.federation_inbox i
		 WHERE i.origin = org AND i.sale_id = sid;
		RETURN jsonb_build_object('status', 'duplicate', 'link', prior);
	END IF;
	-- sales of one lot accepted at once (two deliverers) make its copy once
	PERFORM pg_advisory_xact_lock(hashtext('shilian_federation_lot'), hashtext(sale->'lot'->>'code'));
	-- the buyer, by its USCC or by its GLN (a PGLN registered here, gs1_location)
	SELECT o.* INTO buyer FROM shilian.operator o
	 WHERE CASE WHEN sale->>'buyer_gln' IS NOT NULL
			THEN o.id = shilian.gs1_location_operator('https://id.gs1.org/417/' || (sale->>'buyer_gln'))
			ELSE o.uscc OPERATOR(shilian.=) (sale->>'buyer_uscc')::shilian.uscc END
	   AND NOT EXISTS (SELECT 1 FROM shilian.federation_party fp WHERE fp.operator_id = o.id);
	IF NOT FOUND OR buyer.status <> 'active' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN07',
			MESSAGE = format('buyer %s is %s on this platform', coalesce(sale->>'buyer_uscc', 'GLN ' || (sale->>'buyer_gln')),
				CASE WHEN buyer.id IS NULL THEN 'not registered' ELSE 'not active' END);
	END IF;
	SELECT j.ancestors[1] INTO station FROM shilian.jurisdiction j WHERE j.code = buyer.station;
	seller := shilian.federation_counterpart(org, sale->'seller', station);
	-- the seller's licence as the seller's province recorded it
	IF sale->'licence'->>'no' IS NOT NULL THEN
		lic := (sale->'licence'->>'no')::shilian.licence_no;
		IF NOT EXISTS (SELECT 1 FROM shilian.licence li WHERE li.licence_no OPERATOR(shilian.=) lic) THEN
			INSERT INTO shilian.licence (licence_no, operator_id, scope, valid_from, valid_to)
			VALUES (lic, seller, ARRAY(SELECT jsonb_array_elements_text(sale->'licence'->'scope')),
				(sale->'licence'->>'valid_from')::date, (sale->'licence'->>'valid_to')::date);
		END IF;
	END IF;
	SELECT p.id INTO product FROM shilian.product p
	 WHERE (sale->'product'->>'gtin' IS NOT NULL AND p.gtin = sale->'product'->>'gtin')
		OR (sale->'product'->>'gtin' IS NULL AND p.owner_id = seller AND p.name = sale->'product'->>'name'
			AND p.category = sale->'product'->>'category'
			AND p.spec IS NOT DISTINCT FROM sale->'product'->>'spec')
	 ORDER BY p.id LIMIT 1;
	IF product IS NULL THEN
		INSERT INTO shilian.product (name, category, spec, gtin, shelf_life_days, edible_agricultural, owner_id)
		VALUES (sale->'product'->>'name', sale->'product'->>'category', sale->'product'->>'spec',
			sale->'product'->>'gtin', (sale->'product'->>'shelf_life_days')::integer,
			coalesce((sale->'product'->>'edible_agricultural')::boolean, false), seller)
		RETURNING id INTO product;
	END IF;
	q := (sale->>'qty')::shilian.qty;
	-- the seller's lot, under its own trace code, holding what was sold here
	SELECT * INTO b FROM shilian.batch x WHERE x.trace_code OPERATOR(shilian.=) (sale->'lot'->>'code')::shilian.trace_code;
	IF NOT FOUND THEN
		INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on,
			expires_on, lot, origin, certificate)
		VALUES ((sale->'lot'->>'code')::shilian.trace_code, seller, product, q, q OPERATOR(shilian.-) q,
			(sale->'lot'->>'produced_on')::date, (sale->'lot'->>'expires_on')::date, sale->'lot'->>'lot',
			'produced', CASE WHEN jsonb_typeof(sale->'lot'->'certificate') = 'object' THEN sale->'lot'->'certificate' END)
		RETURNING * INTO b;
	ELSIF NOT EXISTS (SELECT 1 FROM shilian.federation_party fp WHERE fp.operator_id = b.owner_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN06',
			MESSAGE = format('lot %s is registered here as a lot of this platform', b.trace_code);
	ELSE
		UPDATE shilian.batch x SET qty = x.qty OPERATOR(shilian.+) q WHERE x.id = b.id;
	END IF;
	INSERT INTO shilian.link (kind, from_batch, seller_id, buyer_id, qty_shipped, shipped_on, seller_licence)
	VALUES ('ship', b.id, seller, buyer.id, q, (sale->>'shipped_on')::date, lic)
	RETURNING * INTO lnk;
	UPDATE shilian.federation_inbox i SET link_id = lnk.id
	 WHERE i.origin = org AND i.sale_id = sid;
	-- the sale on the seller's counterpart's chain here: the buyer's side of it
	PERFORM shilian.ledger_append(seller, 'ship', to_jsonb(lnk)
		|| jsonb_build_object('federation', jsonb_build_object('origin', org, 'sale_id', sid)));
	RETURN jsonb_build_object('status', 'accepted', 'link', lnk.id);
END;
$$;
COMMENT ON FUNCTION federation_accept(jsonb) IS
	'On the buyer''s platform: a sale from another province becomes the buyer''s receipt draft (a pending link from the seller''s lot), once per origin and sale id; returns {status: accepted or duplicate, link}.';
REVOKE ALL ON FUNCTION federation_accept(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION federation_accept(jsonb) TO shilian_peer, shilian_admin;

-- Open the parts of recall `id` in the provinces its lots were sold to (the
-- delivered sales): each peer opens a recall for the lot that crossed, with
-- the exposed quantities in the start lot's unit, and does the same for its
-- own exports. A peer that does not answer keeps its error; calling this
-- again asks every part again (a part already open is not opened twice,
-- and asks its own peers again), so parts further on catch up too.
CREATE OR REPLACE FUNCTION federation_recall_spread(id bigint) RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r record;
	rr bigint;
	msg text;
	n integer := 0;
	rec shilian.recall;
	unit text;
	home text;
BEGIN
	SELECT * INTO rec FROM shilian.recall x WHERE x.id = federation_recall_spread.id;
	-- the recall is this platform's: the peers are told this province (the
	-- one its login there is bound to), not the province of the recalled
	-- lot, which for a part opened here for a peer is that peer's
	home := coalesce((SELECT j.code FROM shilian.jurisdiction j WHERE j.level = 'province' ORDER BY j.code LIMIT 1),
		shilian.province_of_code(rec.trace_code::text));
	SELECT CASE shilian.qty_dimension(t.qty_exposed) WHEN 'mass' THEN 'g' WHEN 'volume' THEN 'mL' ELSE 'pcs' END
	  INTO unit FROM shilian.recall_target t WHERE t.recall_id = rec.id ORDER BY t.depth LIMIT 1;
	FOR r IN SELECT t.trace_code, t.depth, x.province, pp.server,
			shilian.qty_base(t.qty_exposed) / nullif(shilian.qty_base(b.qty), 0) AS factor
			   FROM shilian.recall_target t JOIN shilian.batch b ON b.id = t.batch_id
			   JOIN shilian.link l ON l.from_batch = b.id
			   JOIN shilian.federation_outbox x ON x.link_id = l.id AND x.status = 'delivered'
			   LEFT JOIN shilian.province_peer pp ON pp.code = x.province
			  WHERE t.recall_id = rec.id
			  GROUP BY t.trace_code, t.depth, x.province, pp.server, t.qty_exposed, b.qty
			  ORDER BY t.depth, t.trace_code, x.province
	LOOP
		-- asked again when open already: the peer opens nothing twice, and
		-- asks its own peers again for the parts they did not open
		BEGIN
			IF r.server IS NULL THEN
				RAISE EXCEPTION USING ERRCODE = 'SLN05', MESSAGE = format('no peer is registered for province %s', r.province);
			END IF;
			EXECUTE format('SELECT r::bigint FROM %I.dblink($1, $2) AS t(r text)', shilian.federation_dblink())
			   INTO rr
			  USING r.server::text, 'SELECT shilian.federation_recall_accept('
				|| quote_literal(home) || ', ' || rec.id || ', '
				|| quote_literal(r.trace_code::text) || ', ' || quote_literal(rec.reason) || ', '
				|| r.factor || ', ' || quote_literal(unit) || ', ' || r.depth || ')::text';
			msg := NULL;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
			rr := NULL;
		END;
		INSERT INTO shilian.federation_recall (recall_id, direction, province, lot, remote_recall, error)
		VALUES (rec.id, 'out', r.province, r.trace_code, rr, msg)
		ON CONFLICT (recall_id, direction, province, lot)
		DO UPDATE SET remote_recall = coalesce(EXCLUDED.remote_recall, federation_recall.remote_recall),
		error = EXCLUDED.error, asked_at = EXCLUDED.asked_at;
		IF rr IS NOT NULL THEN
			n := n + 1;
		ELSE
			RAISE WARNING USING MESSAGE = format('province %s did not open its part of recall %s: %s', r.province, rec.id, msg);
		END IF;
	END LOOP;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION federation_recall_spread(bigint) IS
	'Have the peers open their parts of a recall (the lots sold to them), once each, and theirs further on; returns how many parts answered; a peer that fails keeps its error and is asked again on the next call.';
REVOKE ALL ON FUNCTION federation_recall_spread(bigint) FROM PUBLIC;

-- On a peer: open (once) this platform's part of recall `origin_recall` of
-- province `origin`, from its copy of the lot that crossed: recall_open of
-- that lot, the exposed quantities scaled to the start lot's share and unit
-- and the depths shifted, the copy itself no target (its province has it);
-- then the parts further on. Returns the recall id here.
CREATE OR REPLACE FUNCTION federation_recall_accept(origin text, origin_recall bigint, code trace_code, reason text,
		factor numeric, unit text, depth integer) RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rid bigint;
BEGIN
	PERFORM shilian.federation_peer_claim(origin);
	PERFORM pg_advisory_xact_lock(hashtext('shilian_federation_recall'), hashtext(origin || ':' || origin_recall));
	SELECT f.recall_id INTO rid FROM shilian.federation_recall f
	 WHERE f.direction = 'in' AND f.province = federation_recall_accept.origin
	   AND f.remote_recall = federation_recall_accept.origin_recall AND f.lot OPERATOR(shilian.=) code;
	IF FOUND THEN
		PERFORM shilian.federation_recall_spread(rid);
		RETURN rid;
	END IF;
	rid := shilian.recall_open(code, format('%s (recall %s of province %s)', reason, origin_recall, origin));
	DELETE FROM shilian.recall_target t WHERE t.recall_id = rid AND t.depth = 0;
	UPDATE shilian.recall_target t
	   SET qty_exposed = shilian.qty(round(shilian.qty_base(t.qty_exposed) * factor, 3), unit),
		   depth = t.depth + federation_recall_accept.depth
	 WHERE t.recall_id = rid;
	INSERT INTO shilian.federation_recall (recall_id, direction, province, lot, remote_recall)
	VALUES (rid, 'in', origin, code, origin_recall);
	PERFORM shilian.federation_recall_spread(rid);
	RETURN rid;
END;
$$;
COMMENT ON FUNCTION federation_recall_accept(text, bigint, trace_code, text, numeric, text, integer) IS
	'On a peer: open, once, this platform''s part of another province''s recall from its copy of the lot that crossed (quantities in the start lot''s share and unit), and its parts further on; returns the recall id here.';
REVOKE ALL ON FUNCTION federation_recall_accept(text, bigint, trace_code, text, numeric, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION federation_recall_accept(text, bigint, trace_code, text, numeric, text, integer) TO shilian_peer, shilian_admin;

-- The same, for a peer asking about the part it opened here (only such
-- recalls, and for a peer login only its province's: another is unknown,
-- SLT10).
CREATE OR REPLACE FUNCTION federation_recall_status(id bigint)
	RETURNS TABLE (province text, recall bigint, lot trace_code, targets bigint, acknowledged bigint,
		outstanding bigint, exposed qty, status text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	bound text := shilian.federation_peer_province();
BEGIN
	-- a peer login asks only about the parts opened for its own province
	IF NOT EXISTS (SELECT 1 FROM shilian.federation_recall f
					WHERE f.recall_id = federation_recall_status.id AND f.direction = 'in'
					  AND (bound IS NULL OR f.province = bound)) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	RETURN QUERY SELECT * FROM shilian.recall_status_national(id);
END;
$$;
COMMENT ON FUNCTION federation_recall_status(bigint) IS
	'For a peer: recall_status_national of a recall opened here as part of that province''s recall.';
REVOKE ALL ON FUNCTION federation_recall_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION federation_recall_status(bigint) TO shilian_peer, shilian_admin;

-- ---- the buyer named by GLN -------------------------------------------------------

ALTER TABLE federation_outbox ALTER COLUMN buyer_uscc DROP NOT NULL,
	ADD COLUMN buyer_gln text CHECK (buyer_gln ~ '^[0-9]{13}$'),
	-- the buyer is named by its USCC or by its GLN (PGLN), one of them
	ADD CONSTRAINT federation_outbox_buyer_check CHECK ((buyer_uscc IS NULL) <> (buyer_gln IS NULL));

COMMENT ON TABLE federation_outbox IS
	'Sales to buyers of other provinces (the sale id is the row id), the buyer named by USCC or by GLN: pending until the peer has accepted them (delivered, with the peer''s link id) or refused them for good.';

-- The operator row standing here for an operator of another province, made
-- active on first use at the province's top jurisdiction of this registry,
-- keyed by the USCC, else the GLN (the party's PGLN, registered for it in
-- gs1_location), else the registration card it was named by.
CREATE OR REPLACE FUNCTION federation_counterpart(province text, party jsonb, station text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	key text := coalesce(party->>'uscc', 'gln:' || (party->>'gln'), 'card:' || (party->>'reg_card'));
	id bigint;
BEGIN
	-- two sales naming a new counterpart at once make it once
	PERFORM pg_advisory_xact_lock(hashtext('shilian_federation_party'), hashtext(province || ':' || key));
	SELECT fp.operator_id INTO id FROM shilian.federation_party fp
	 WHERE fp.province = federation_counterpart.province AND fp.party_key = key;
	IF FOUND THEN
		RETURN id;
	END IF;
	INSERT INTO shilian.operator (uscc, reg_card, name, address, contact, segment, kinds, station,
		status, activated_at, regulator_contact)
	VALUES ((party->>'uscc')::shilian.uscc,
		CASE WHEN party->>'uscc' IS NULL THEN province || ':' || coalesce('gln:' || (party->>'gln'), party->>'reg_card') END,
		coalesce(nullif(party->>'name', ''), 'USCC ' || (party->>'uscc'), 'GLN ' || (party->>'gln')),
		coalesce(nullif(party->>'address', ''), 'province ' || province),
		coalesce(nullif(party->>'contact', ''), 'via the platform of province ' || province),
		coalesce(party->>'segment', 'circulation'),
		coalesce(nullif(ARRAY(SELECT jsonb_array_elements_text(party->'kinds')), '{}'), '{wholesaler}'),
		station, 'active', now(), 'counterpart in province ' || province)
	RETURNING operator.id INTO id;
	INSERT INTO shilian.federation_party (operator_id, province, party_key) VALUES (id, province, key);
	IF party->>'gln' IS NOT NULL THEN
		-- its PGLN resolves to it here (EPCIS), unless already another's
		INSERT INTO shilian.gs1_location (operator_id, kind, uri, name, registered_by)
		VALUES (id, 'party', 'https://id.gs1.org/417/' || (party->>'gln'), party->>'name', 'federation')
		ON CONFLICT (uri) DO NOTHING;
	END IF;
	RETURN id;
END;
$$;
COMMENT ON FUNCTION federation_counterpart(text, jsonb, text) IS
	'The operator row (made on first use) standing for an operator of another province: {uscc, gln or reg_card, name, address, contact, segment, kinds}.';
REVOKE ALL ON FUNCTION federation_counterpart(text, jsonb, text) FROM PUBLIC;

DROP FUNCTION ship_cross_border(trace_code, uscc, qty, date, bigint, text);

-- The buyer is named by exactly one of its USCC (whose characters give its
-- province) and its GLN (PGLN; the province then given as buyer_province,
-- a GLN carries none): SLN10 otherwise; a malformed GLN or a wrong check
-- digit SLE10 (gs1_location_uri), an SGLN (a location) SLN10.
CREATE FUNCTION ship_cross_border(code trace_code, buyer_uscc uscc, qty qty,
		shipped_on date DEFAULT shilian.platform_today(), seller bigint DEFAULT NULL,
		buyer_name text DEFAULT NULL, buyer_gln text DEFAULT NULL, buyer_province text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	province text;
	gln_uri text;
	gln text;
	label text;
	b shilian.batch;
	home text;
	buyer bigint;
	lnk shilian.link;
	lid bigint;
	sale bigint;
	payload jsonb;
BEGIN
	IF code IS NULL OR qty IS NULL OR shipped_on IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'ship_cross_border needs a code, a quantity and a ship date';
	END IF;
	IF (buyer_uscc IS NULL) = (buyer_gln IS NULL) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN10',
			MESSAGE = 'name the buyer by its USCC or by its GLN, exactly one of them',
			HINT = 'buyer_uscc (统一社会信用代码), or buyer_gln (its GLN or PGLN) with buyer_province.';
	END IF;
	IF buyer_gln IS NOT NULL THEN
		gln_uri := shilian.gs1_location_uri(buyer_gln);	-- SLE10: malformed, wrong check digit
		IF gln_uri !~ '^https://id\.gs1\.org/417/[0-9]{13}$' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLN10',
				MESSAGE = format('%s names a location (SGLN), not a party', buyer_gln),
				HINT = 'Name the buyer by its GLN (PGLN): 13 digits, urn:epc:id:pgln:… or https://id.gs1.org/417/….';
		END IF;
		gln := substr(gln_uri, length('https://id.gs1.org/417/') + 1);
		IF buyer_province IS NULL OR buyer_province !~ '^[1-9][0-9]0000$' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLN10',
				MESSAGE = format('a buyer named by GLN needs its province as a GB/T 2260 province code, not %s',
					coalesce('"' || buyer_province || '"', 'none')),
				HINT = 'A GLN carries no province: give buyer_province, as 110000 for Beijing.';
		END IF;
		province := buyer_province;
		label := 'GLN ' || gln;
	ELSE
		province := shilian.province_of_uscc(buyer_uscc);
		IF buyer_province IS DISTINCT FROM province AND buyer_province IS NOT NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'SLN10',
				MESSAGE = format('buyer %s is of province %s, not %s', buyer_uscc, province, buyer_province),
				HINT = 'A USCC carries its province; leave buyer_province out.';
		END IF;
		label := buyer_uscc::text;
	END IF;
	IF EXISTS (SELECT 1 FROM shilian.operator o WHERE o.uscc OPERATOR(shilian.=) buyer_uscc
				AND NOT EXISTS (SELECT 1 FROM shilian.federation_party fp WHERE fp.operator_id = o.id))
	   OR EXISTS (SELECT 1 FROM shilian.gs1_location l WHERE l.uri = gln_uri
				AND NOT EXISTS (SELECT 1 FROM shilian.federation_party fp WHERE fp.operator_id = l.operator_id))
	   OR EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = province) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN03',
			MESSAGE = format('buyer %s belongs to this province (%s)', label, province),
			HINT = 'Sell to a buyer of this platform with ship(code, buyer, qty).';
	END IF;
	-- (a dropped peer keeps its row while sales name it, not its server)
	IF NOT EXISTS (SELECT 1 FROM shilian.province_peer p JOIN pg_catalog.pg_foreign_server fs ON fs.srvname = p.server
					WHERE p.code = province) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN04',
			MESSAGE = format('no peer is registered for province %s, the province of buyer %s', province, label),
			HINT = 'The admin registers the province''s platform with province_peer().';
	END IF;
	SELECT * INTO b FROM shilian.batch x WHERE x.trace_code OPERATOR(shilian.=) code;
	-- an unknown code: ship() below refuses it with its own error (SLR03)
	SELECT j.ancestors[1] INTO home FROM shilian.operator o JOIN shilian.jurisdiction j ON j.code = o.station
	 WHERE o.id = coalesce(seller, shilian.current_operator(), b.owner_id);
	IF home IS NULL THEN
		SELECT j.code INTO home FROM shilian.jurisdiction j WHERE j.level = 'province' ORDER BY j.code LIMIT 1;
	END IF;
	buyer := shilian.federation_counterpart(province,
		jsonb_build_object('uscc', buyer_uscc::text, 'gln', gln, 'name', buyer_name), home);
	-- every rule of a sale, and the seller's ledger entry: ship() to the counterpart
	lid := shilian.ship(code, buyer, qty, shipped_on, seller);
	SELECT * INTO lnk FROM shilian.link l WHERE l.id = lid;
	SELECT jsonb_build_object(
			'origin', shilian.province_of_code(code::text),
			'seller', jsonb_build_object('uscc', s.uscc::text, 'reg_card', s.reg_card, 'name', s.name,
				'address', s.address, 'contact', s.contact, 'segment', s.segment, 'kinds', to_jsonb(s.kinds)),
			'licence', (SELECT jsonb_build_object('no', li.licence_no::text, 'scope', to_jsonb(li.scope),
					'valid_from', li.valid_from, 'valid_to', li.valid_to)
				FROM shilian.licence li WHERE li.licence_no OPERATOR(shilian.=) lnk.seller_licence),
			'product', jsonb_build_object('name', p.name, 'category', p.category, 'spec', p.spec,
				'gtin', p.gtin, 'shelf_life_days', p.shelf_life_days,
				'edible_agricultural', p.edible_agricultural),
			'lot', jsonb_build_object('code', bb.trace_code::text, 'produced_on', bb.produced_on,
				'expires_on', bb.expires_on, 'lot', bb.lot, 'certificate', bb.certificate),
			'qty', lnk.qty_shipped::text, 'shipped_on', lnk.shipped_on)
		-- the buyer as the seller named it: buyer_uscc or buyer_gln
		|| jsonb_strip_nulls(jsonb_build_object('buyer_uscc', buyer_uscc::text, 'buyer_gln', gln))
	  INTO payload
	  FROM shilian.batch bb JOIN shilian.product p ON p.id = bb.product_id
	  JOIN shilian.operator s ON s.id = lnk.seller_id
	 WHERE bb.id = lnk.from_batch;
	INSERT INTO shilian.federation_outbox (link_id, province, buyer_uscc, buyer_gln, payload)
	VALUES (lnk.id, province, buyer_uscc, gln, payload) RETURNING id INTO sale;
	UPDATE shilian.federation_outbox o SET payload = o.payload || jsonb_build_object('sale_id', sale)
	 WHERE o.id = sale;
	PERFORM pg_notify('shilian_federation', province);
	RETURN sale;
END;
$$;
COMMENT ON FUNCTION ship_cross_border(trace_code, uscc, qty, date, bigint, text, text, text) IS
	'Sell part of a batch to a buyer of another province, named by USCC or by GLN (PGLN, with buyer_province): a sale (ship) to the buyer''s counterpart here, under every rule of a sale, and one outbox row the peer receives it from; returns the sale id.';
REVOKE ALL ON FUNCTION ship_cross_border(trace_code, uscc, qty, date, bigint, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ship_cross_border(trace_code, uscc, qty, date, bigint, text, text, text) TO shilian_operator, shilian_system, shilian_admin;
