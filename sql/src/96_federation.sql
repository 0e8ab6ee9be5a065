-- shilian install script, part 96: federation across provinces
-- (docs/federation.md). Each province runs its own cluster with the
-- extension; the platforms call each other with dblink (installed by the
-- admin, optional: nothing here needs it until a peer is registered) over
-- foreign servers registered by province_peer(), one user mapping per peer
-- holding the login of the peer's shilian_peer role. A sale to a buyer of
-- another province is a normal sale (ship) to the buyer's counterpart row
-- here plus one row of a transactional outbox (federation_outbox);
-- federation_deliver() sends it to the peer, where federation_accept() turns
-- it, once per sale id, into the buyer's receipt draft (a pending link from
-- the seller's lot, registered there under its own trace code). National
-- traces (both directions) and recalls ask each peer for its part.

DO $roles$
BEGIN
	-- shilian_peer: what another province's platform logs in as (through a
	-- login role the admin makes a member); it may deliver sales and ask for
	-- walks, nothing else. shilian_national: the national regulator, who sees
	-- every province's part of a national trace.
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shilian_peer') THEN
		CREATE ROLE shilian_peer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shilian_national') THEN
		CREATE ROLE shilian_national NOLOGIN;
	END IF;
END
$roles$;
GRANT USAGE ON SCHEMA shilian TO shilian_peer, shilian_national;
-- the gateway switches to it for a token whose role is national (docs/rest.md)
GRANT shilian_national TO shilian_gateway;

-- The registry of peers: one foreign server (dblink_fdw) per province, named
-- shilian_peer_<code>, with a user mapping for the extension's owner.
CREATE TABLE province_peer (
	code       text PRIMARY KEY CHECK (code ~ '^[1-9][0-9]0000$'),
	name       text,
	server     name NOT NULL UNIQUE,
	time_limit interval NOT NULL CHECK (time_limit >= interval '1 second'),
	added_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE province_peer IS
	'Peer provinces (跨省对接): GB/T 2260 province code, the foreign server their platform is reached through, and the time limit of one call.';
REVOKE ALL ON province_peer FROM PUBLIC;
GRANT SELECT ON province_peer TO shilian_admin, shilian_national, shilian_regulator;
ALTER TABLE province_peer ENABLE ROW LEVEL SECURITY;
CREATE POLICY province_peer_read ON province_peer FOR SELECT
	TO shilian_admin, shilian_national, shilian_regulator USING (true);

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

-- Counterparts: the rows of the operator registry that stand for an operator
-- of another province (the buyer of a sale going out, the seller of a sale
-- coming in), keyed by province and USCC (or registration card).
CREATE TABLE federation_party (
	operator_id bigint PRIMARY KEY REFERENCES operator (id),
	province    text NOT NULL CHECK (province ~ '^[1-9][0-9]0000$'),
	party_key   text NOT NULL,
	UNIQUE (province, party_key)
);
COMMENT ON TABLE federation_party IS
	'Operators registered here as the counterpart of an operator of another province (province, USCC or card:registration card).';
REVOKE ALL ON federation_party FROM PUBLIC;
GRANT SELECT ON federation_party TO shilian_admin, shilian_national, shilian_regulator;
ALTER TABLE federation_party ENABLE ROW LEVEL SECURITY;
CREATE POLICY federation_party_read ON federation_party FOR SELECT
	TO shilian_admin, shilian_national, shilian_regulator USING (true);

-- The outbox: one row per sale to another province, written with the sale;
-- its id is the sale id, the key the peer accepts it once by.
CREATE TABLE federation_outbox (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	link_id         bigint NOT NULL UNIQUE REFERENCES link (id),
	province        text NOT NULL REFERENCES province_peer (code),
	buyer_uscc      uscc,
	payload         jsonb NOT NULL,
	status          text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'delivered', 'refused')),
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	last_error      text,
	remote_link     bigint,
	created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
	delivered_at    timestamptz,
	buyer_gln       text CHECK (buyer_gln ~ '^[0-9]{13}$'),
	CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
	-- the buyer is named by its USCC or by its GLN (PGLN), one of them
	CONSTRAINT federation_outbox_buyer_check CHECK ((buyer_uscc IS NULL) <> (buyer_gln IS NULL))
);
CREATE INDEX federation_outbox_pending_idx ON federation_outbox (province, id) WHERE status = 'pending';
COMMENT ON TABLE federation_outbox IS
	'Sales to buyers of other provinces (the sale id is the row id), the buyer named by USCC or by GLN: pending until the peer has accepted them (delivered, with the peer''s link id) or refused them for good.';
REVOKE ALL ON federation_outbox FROM PUBLIC;
GRANT SELECT ON federation_outbox TO shilian_admin, shilian_national;
ALTER TABLE federation_outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY federation_outbox_read ON federation_outbox FOR SELECT
	TO shilian_admin, shilian_national USING (true);

-- The inbox: every sale accepted from another province, once per
-- (origin, sale id), with the receipt draft it became.
CREATE TABLE federation_inbox (
	origin      text NOT NULL CHECK (origin ~ '^[1-9][0-9]0000$'),
	sale_id     bigint NOT NULL,
	link_id     bigint REFERENCES link (id),
	payload     jsonb NOT NULL,
	accepted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (origin, sale_id)
);
COMMENT ON TABLE federation_inbox IS
	'Sales accepted from other provinces, once per origin province and sale id, with the link that is the buyer''s receipt draft.';
REVOKE ALL ON federation_inbox FROM PUBLIC;
GRANT SELECT ON federation_inbox TO shilian_admin, shilian_national;
ALTER TABLE federation_inbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY federation_inbox_read ON federation_inbox FOR SELECT
	TO shilian_admin, shilian_national USING (true);

-- ---- setup --------------------------------------------------------------------

-- The schema dblink is installed in; SLN01 when it is not.
CREATE FUNCTION federation_dblink() RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s text;
BEGIN
	SELECT n.nspname INTO s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
	 WHERE e.extname = 'dblink';
	IF s IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN01',
			MESSAGE = 'federation needs the dblink extension, which is not installed in this database',
			HINT = 'As a superuser: CREATE EXTENSION dblink; (package postgresql-contrib), see docs/federation.md.';
	END IF;
	RETURN s;
END;
$$;
COMMENT ON FUNCTION federation_dblink() IS
	'The schema of the dblink extension the federation calls peers with; SLN01 if it is not installed.';
REVOKE ALL ON FUNCTION federation_dblink() FROM PUBLIC;

-- The province a code (trace code, USCC) belongs to: trace codes start with
-- their GB/T 2260 division, a USCC carries its registering authority's in
-- characters 3 to 8; the province is the first two digits and 0000.
CREATE FUNCTION province_of_code(code text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE WHEN length(code) = 18 AND code ~ '^[0-9]{2}'
		THEN substr(code, 1, 2) || '0000' END;
COMMENT ON FUNCTION province_of_code(text) IS
	'The GB/T 2260 province a trace code belongs to (its first two digits and 0000).';
CREATE FUNCTION province_of_uscc(u uscc) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN substr(u::text, 3, 2) || '0000';
COMMENT ON FUNCTION province_of_uscc(uscc) IS
	'The GB/T 2260 province of a USCC''s registering authority (characters 3 and 4, then 0000).';

-- Register or replace a peer: the foreign server (dblink_fdw) with the
-- connection options of conninfo and the time limit (connect_timeout and the
-- peer's statement_timeout), and the user mapping with its login.
CREATE FUNCTION province_peer(code text, conninfo text, login text, password text,
		name text DEFAULT NULL, time_limit interval DEFAULT interval '5 seconds') RETURNS text
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	server text := 'shilian_peer_' || code;
	opts text[] := '{}';
	m text[];
	k text;
	v text;
	rest text := conninfo;
	ms bigint;
BEGIN
	PERFORM shilian.federation_dblink();
	IF code IS NULL OR code !~ '^[1-9][0-9]0000$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN02',
			MESSAGE = format('"%s" is not a GB/T 2260 province code', code),
			HINT = 'A province code is six digits ending in 0000, as 110000 for Beijing.';
	END IF;
	IF EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = province_peer.code) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN02',
			MESSAGE = format('province %s is this platform''s own (it is in the jurisdiction registry)', code);
	END IF;
	IF conninfo IS NULL OR login IS NULL OR login = '' OR password IS NULL OR password = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN02',
			MESSAGE = 'a peer needs a conninfo, a login and a password',
			HINT = 'The peer''s login is a member of shilian_peer there; its password goes to the user mapping here.';
	END IF;
	IF time_limit IS NULL OR time_limit < interval '1 second' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLN02',
			MESSAGE = format('time limit %s is below one second', time_limit);
	END IF;
	-- key=value pairs, values bare or single-quoted with \' and \\ escapes
	LOOP
		rest := btrim(rest, E' \t\n');
		EXIT WHEN rest = '';
		m := regexp_match(rest, '^([a-z_]+)\s*=\s*(''((?:[^''\\]|\\.)*)''|([^\s'']+))(.*)$');
		IF m IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'SLN02',
				MESSAGE = format('malformed conninfo near "%s"', left(rest, 20)),
				HINT = 'Give key=value pairs, as host=db.example.cn port=5432 dbname=shilian sslmode=verify-full.';
		END IF;
		k := m[1];
		v := coalesce(regexp_replace(m[3], '\\(.)', '\1', 'g'), m[4]);
		rest := m[5];
		IF k NOT IN ('host', 'hostaddr', 'port', 'dbname', 'sslmode', 'sslrootcert', 'sslcert',
					 'sslkey', 'sslcrl', 'application_name', 'target_session_attrs') THEN
			RAISE EXCEPTION USING ERRCODE = 'SLN02',
				MESSAGE = format('conninfo key "%s" is not allowed for a peer', k),
				HINT = 'Allowed: host, hostaddr, port, dbname, ssl*, application_name, target_session_attrs; the login and password are arguments of their own, the time limit sets connect_timeout and statement_timeout.';
		END IF;
		opts := opts || format('%I %L', k, v);
	END LOOP;
	ms := greatest(1000, (extract(epoch FROM time_limit) * 1000)::bigint);
	opts := opts || format('connect_timeout %L', greatest(2, ceil(ms / 1000.0))::bigint::text)
		|| format('options %L', '-c statement_timeout=' || ms);
	-- DDL takes no parameters: every value above is quoted with %L / %I
	EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', server);
	EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER dblink_fdw OPTIONS (%s)', server,
		array_to_string(opts, ', '));
	EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (user %L, password %L)',
		server, login, password);
	INSERT INTO shilian.province_peer (code, name, server, time_limit)
	VALUES (code, name, server, time_limit)
	ON CONFLICT ON CONSTRAINT province_peer_pkey
	DO UPDATE SET name = EXCLUDED.name, server = EXCLUDED.server, time_limit = EXCLUDED.time_limit;
	RETURN server;
END;
$$;
COMMENT ON FUNCTION province_peer(text, text, text, text, text, interval) IS
	'Register (or replace) the platform of another province: its foreign server from conninfo, the user mapping with the login of its shilian_peer member, and the time limit of one call; returns the server name.';
REVOKE ALL ON FUNCTION province_peer(text, text, text, text, text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION province_peer(text, text, text, text, text, interval) TO shilian_admin;

CREATE FUNCTION province_peer_drop(code text) RETURNS void
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

-- ---- counterparts ---------------------------------------------------------------

-- The operator row standing here for an operator of another province, made
-- active on first use at the province's top jurisdiction of this registry,
-- keyed by the USCC, else the GLN (the party's PGLN, registered for it in
-- gs1_location), else the registration card it was named by.
CREATE FUNCTION federation_counterpart(province text, party jsonb, station text) RETURNS bigint
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

-- ---- selling across the border ----------------------------------------------------

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

-- On the buyer's platform (called by a peer as shilian_peer): the sale
-- becomes the buyer's receipt draft, once per (origin, sale id). Returns
-- {status: accepted | duplicate, link}. The sale's rules were the seller's
-- province's; here the buyer must be registered and active (SLN07), the
-- origin a registered peer (SLN05) and the province of the login that
-- delivers it (SLN09), and the lot one of the origin's (SLN06).
CREATE FUNCTION federation_accept(sale jsonb) RETURNS jsonb
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

-- Send the pending sales to their peers, in sale order per peer; a peer that
-- fails (down, timed out) keeps its sales pending with a later next attempt
-- (1 s doubling to 5 min), and the others go on. A refusal by the peer
-- (SLN05 to SLN07) is final: status refused with the peer's message.
-- due_only false sends every pending sale now (after a peer came back).
CREATE FUNCTION federation_deliver(max_sales integer DEFAULT 1000, due_only boolean DEFAULT true)
	RETURNS TABLE (province text, delivered integer, refused integer, pending integer, error text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	dbl text;
	p shilian.province_peer;
	o shilian.federation_outbox;
	conn text;
	answer jsonb;
	left_ integer := max_sales;
	st text;
	msg text;
BEGIN
	FOR p IN SELECT * FROM shilian.province_peer pp
			  WHERE EXISTS (SELECT 1 FROM shilian.federation_outbox x WHERE x.province = pp.code AND x.status = 'pending')
			  ORDER BY pp.code
	LOOP
		province := p.code; delivered := 0; refused := 0; error := NULL;
		conn := 'shilian_federation_' || p.code;
		-- only now: without a peer or a pending sale the job needs no dblink
		dbl := coalesce(dbl, shilian.federation_dblink());
		BEGIN
			IF conn = ANY (coalesce(shilian.federation_connections(), '{}')) THEN
				EXECUTE format('SELECT %I.dblink_disconnect($1)', dbl) USING conn;
			END IF;
			EXECUTE format('SELECT %I.dblink_connect($1, $2)', dbl) USING conn, p.server::text;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, st = RETURNED_SQLSTATE;
			error := st || ': ' || msg;
		END;
		IF error IS NULL THEN
			FOR o IN SELECT * FROM shilian.federation_outbox x
					  WHERE x.province = p.code AND x.status = 'pending'
						AND (NOT due_only OR x.next_attempt_at <= clock_timestamp())
					  ORDER BY x.id LIMIT greatest(left_, 0)
					  FOR UPDATE SKIP LOCKED
			LOOP
				BEGIN
					-- the one value in the remote statement: the sale, as a quoted literal
					EXECUTE format('SELECT r::jsonb FROM %I.dblink($1, $2) AS t(r text)', dbl)
					   INTO answer
					  USING conn, 'SELECT shilian.federation_accept(' || quote_literal(o.payload::text) || '::jsonb)::text';
					UPDATE shilian.federation_outbox x SET status = 'delivered', delivered_at = clock_timestamp(),
						attempts = x.attempts + 1, remote_link = (answer->>'link')::bigint, last_error = NULL
					 WHERE x.id = o.id;
					delivered := delivered + 1;
				EXCEPTION WHEN SQLSTATE 'SLN05' OR SQLSTATE 'SLN06' OR SQLSTATE 'SLN07' THEN
					GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
					UPDATE shilian.federation_outbox x SET status = 'refused', attempts = x.attempts + 1,
						last_error = msg WHERE x.id = o.id;
					refused := refused + 1;
				WHEN OTHERS THEN
					-- the peer went away or took too long: this sale and the rest wait
					GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, st = RETURNED_SQLSTATE;
					error := st || ': ' || msg;
				END;
				EXIT WHEN error IS NOT NULL;
				left_ := left_ - 1;
			END LOOP;
		END IF;
		IF error IS NOT NULL THEN
			-- one attempt more for the peer's first pending sale, and the next
			-- attempt of all its sales later (1 s doubling, at most 5 minutes)
			UPDATE shilian.federation_outbox x SET attempts = x.attempts + 1
			 WHERE x.id = (SELECT min(y.id) FROM shilian.federation_outbox y
							WHERE y.province = p.code AND y.status = 'pending');
			UPDATE shilian.federation_outbox x SET last_error = error,
				next_attempt_at = clock_timestamp() + least(interval '5 minutes',
					interval '1 second' * power(2, least(f.attempts, 20)))
			  FROM (SELECT max(y.attempts) AS attempts FROM shilian.federation_outbox y
					 WHERE y.province = p.code AND y.status = 'pending') f
			 WHERE x.province = p.code AND x.status = 'pending';
		END IF;
		BEGIN
			IF conn = ANY (coalesce(shilian.federation_connections(), '{}')) THEN
				EXECUTE format('SELECT %I.dblink_disconnect($1)', dbl) USING conn;
			END IF;
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		SELECT count(*) INTO pending FROM shilian.federation_outbox x WHERE x.province = p.code AND x.status = 'pending';
		RETURN NEXT;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION federation_deliver(integer, boolean) IS
	'Send pending cross-border sales to their peers (at most max_sales); one row per peer: delivered, refused, still pending, and the error that stopped it (peer down or too slow). Idempotent: a sale is accepted once by its sale id.';
REVOKE ALL ON FUNCTION federation_deliver(integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION federation_deliver(integer, boolean) TO shilian_admin;

-- The names of the session's open dblink connections.
CREATE FUNCTION federation_connections() RETURNS text[]
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r text[];
BEGIN
	EXECUTE format('SELECT %I.dblink_get_connections()', shilian.federation_dblink()) INTO r;
	RETURN r;
END;
$$;
COMMENT ON FUNCTION federation_connections() IS 'The names of this session''s open dblink connections.';
REVOKE ALL ON FUNCTION federation_connections() FROM PUBLIC;

-- ---- national trace -------------------------------------------------------------

-- This platform's part of a national forward walk, for a peer or the
-- national walk here: every lot trace_forward reaches (with full rights),
-- with the lot's quantity (the denominator of its share), its holder's name
-- and USCC, whether the lot is a counterpart's (another province's lot
-- registered here) and the provinces it was sold to (delivered sales).
CREATE FUNCTION federation_trace(code trace_code, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (batch trace_code, holder bigint, holder_name text, holder_uscc text,
		product text, depth integer, via_link bigint, qty_reached qty, qty_on_hand qty,
		lot_qty qty, status text, exports text[])
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	SELECT t.batch, t.holder, o.name, o.uscc::text, p.name, t.depth, t.via_link, t.qty_reached,
		t.qty_on_hand, b.qty, t.status,
		ARRAY(SELECT DISTINCT x.province FROM shilian.federation_outbox x JOIN shilian.link l ON l.id = x.link_id
			   WHERE l.from_batch = b.id AND x.status = 'delivered' ORDER BY 1)
	  FROM shilian.trace_forward(federation_trace.code, federation_trace.max_depth, federation_trace.as_of) t
	  JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) t.batch
	  JOIN shilian.operator o ON o.id = t.holder
	  JOIN shilian.product p ON p.id = b.product_id;
	END;
COMMENT ON FUNCTION federation_trace(trace_code, integer, timestamptz) IS
	'This platform''s part of a national forward trace: trace_forward with full rights, plus each lot''s quantity, holder name and USCC, and the provinces it was sold to.';
REVOKE ALL ON FUNCTION federation_trace(trace_code, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION federation_trace(trace_code, integer, timestamptz) TO shilian_peer, shilian_admin;

-- The same for a backward walk: exports names, for a lot that is another
-- province's (a counterpart's copy here), that province, where the walk
-- goes on.
CREATE FUNCTION federation_trace_backward(code trace_code, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (batch trace_code, holder bigint, holder_name text, holder_uscc text,
		product text, depth integer, via_link bigint, qty_reached qty, qty_on_hand qty,
		lot_qty qty, status text, exports text[])
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	SELECT t.batch, t.holder, o.name, o.uscc::text, p.name, t.depth, t.via_link, t.qty_reached,
		t.qty_on_hand, b.qty, t.status,
		ARRAY(SELECT fp.province FROM shilian.federation_party fp WHERE fp.operator_id = b.owner_id)
	  FROM shilian.trace_backward(federation_trace_backward.code, federation_trace_backward.max_depth,
			federation_trace_backward.as_of) t
	  JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) t.batch
	  JOIN shilian.operator o ON o.id = t.holder
	  JOIN shilian.product p ON p.id = b.product_id;
	END;
COMMENT ON FUNCTION federation_trace_backward(trace_code, integer, timestamptz) IS
	'This platform''s part of a national backward trace: trace_backward with full rights, plus each lot''s quantity, holder name and USCC, and for a copy of another province''s lot that province.';
REVOKE ALL ON FUNCTION federation_trace_backward(trace_code, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION federation_trace_backward(trace_code, integer, timestamptz) TO shilian_peer, shilian_admin;

-- A quantity in its dimension's base unit (g, mL, pcs), as a number.
CREATE FUNCTION qty_base(q qty) RETURNS numeric
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.qty_in(q, CASE shilian.qty_dimension(q) WHEN 'mass' THEN 'g'
		WHEN 'volume' THEN 'mL' ELSE 'pcs' END);
COMMENT ON FUNCTION qty_base(qty) IS 'A quantity as a number of its dimension''s base unit (g, mL or pcs).';

-- The national walks: this province's walk, and for every reached lot that
-- crossed a border (forward: sold to another province; backward: a copy of
-- another province's lot) that province's walk from the same lot,
-- recursively, each part scaled by the share of the start lot in the lot
-- that crossed (the walks are linear in the start lot's quantity, so the
-- parts add up). Quantities, depth and max_depth as trace_forward and
-- trace_backward. A peer that does not answer within its time limit gives
-- one row, status peer_unreachable, for the lot that crossed to it.
CREATE FUNCTION federation_walk_national(code trace_code, direction text, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (province text, batch trace_code, holder bigint, holder_name text,
		depth integer, via_link bigint, qty_reached qty, qty_on_hand qty, status text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text ELSE current_setting('role') END;
	national boolean;
	dbl text;
	unit text;
	qprov text[];
	qcode text[];
	qfactor numeric[] := ARRAY[1::numeric];
	fwd boolean := direction = 'forward';
	fn text := CASE WHEN direction = 'forward' THEN 'federation_trace' ELSE 'federation_trace_backward' END;
	f numeric;
	qdepth integer[] := ARRAY[0];
	i integer := 1;
	r record;
	srv text;
	pv text;
	msg text;
BEGIN
	IF direction IS NULL OR direction NOT IN ('forward', 'backward') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown trace direction "%s"', direction),
			HINT = 'Use "forward" or "backward".';
	END IF;
	IF max_depth < 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('max_depth %s is negative', max_depth);
	END IF;
	national := pg_has_role(caller, 'shilian_national', 'USAGE') OR pg_has_role(caller, 'shilian_admin', 'USAGE');
	IF to_regclass('pg_temp.federation_walk') IS NULL THEN
		CREATE TEMP TABLE federation_walk (part integer, province text, batch text, holder bigint,
			holder_name text, depth integer, via_link bigint, amount numeric, dim text, lot_amount numeric,
			qty_on_hand text, st text, exports text[], seq serial);
	END IF;
	TRUNCATE pg_temp.federation_walk;
	-- the start lot's own province answers for it (here, unless it is a peer's)
	qprov := ARRAY[coalesce(shilian.province_of_code(code::text), '')];
	qcode := ARRAY[code::text];
	WHILE i <= cardinality(qcode) LOOP
		IF i > 10000 THEN
			RAISE EXCEPTION USING ERRCODE = 'SLN08',
				MESSAGE = format('the national walk from %s crosses borders more than 10000 times', code),
				HINT = 'Bound it with max_depth.';
		END IF;
		SELECT pp.server INTO srv FROM shilian.province_peer pp
		 WHERE pp.code = qprov[i] AND NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = pp.code);
		BEGIN
			IF srv IS NULL AND (i = 1 OR EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = qprov[i])) THEN
				INSERT INTO pg_temp.federation_walk (part, province, batch, holder, holder_name, depth, via_link,
					amount, dim, lot_amount, qty_on_hand, st, exports)
				SELECT i, qprov[i], t.batch::text, t.holder, t.holder_name, t.depth, t.via_link,
					shilian.qty_base(t.qty_reached), shilian.qty_dimension(t.qty_reached),
					shilian.qty_base(t.lot_qty), t.qty_on_hand::text, t.status, t.exports
				  FROM (SELECT * FROM shilian.federation_trace(qcode[i]::shilian.trace_code, max_depth - qdepth[i], as_of)
						 WHERE fwd
						UNION ALL
						SELECT * FROM shilian.federation_trace_backward(qcode[i]::shilian.trace_code, max_depth - qdepth[i], as_of)
						 WHERE NOT fwd) t;
			ELSIF srv IS NULL THEN
				RAISE EXCEPTION USING ERRCODE = 'SLN05',
					MESSAGE = format('no peer is registered for province %s', qprov[i]);
			ELSE
				dbl := coalesce(dbl, shilian.federation_dblink());
				-- the remote statement's values: a trace code, a depth and a time, quoted
				EXECUTE format('INSERT INTO pg_temp.federation_walk (part, province, batch, holder, holder_name,'
						' depth, via_link, amount, dim, lot_amount, qty_on_hand, st, exports)'
						' SELECT $3, $4, t.batch, t.holder, t.holder_name, t.depth, t.via_link,'
						' shilian.qty_base(t.qty_reached::shilian.qty), shilian.qty_dimension(t.qty_reached::shilian.qty),'
						' shilian.qty_base(t.lot_qty::shilian.qty), t.qty_on_hand, t.status, t.exports'
						' FROM %I.dblink($1, $2) AS t(batch text, holder bigint, holder_name text, depth integer,'
						' via_link bigint, qty_reached text, qty_on_hand text, lot_qty text, status text, exports text[])', dbl)
				USING srv::text, 'SELECT batch::text, holder, holder_name, depth, via_link,'
						' qty_reached::text, qty_on_hand::text, lot_qty::text, status, exports'
						' FROM shilian.' || fn || '(' || quote_literal(qcode[i]) || ', '
						|| coalesce((max_depth - qdepth[i])::text, 'NULL') || ', '
						|| quote_nullable(CASE WHEN isfinite(as_of)
							THEN to_char(as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
							ELSE as_of::text END) || '::timestamptz)', i, qprov[i];
			END IF;
		EXCEPTION WHEN OTHERS THEN
			IF i = 1 THEN
				RAISE;	-- the start lot's own errors (unknown batch, SLT01) are the caller's
			END IF;
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
			INSERT INTO pg_temp.federation_walk (part, province, batch, depth, st)
			VALUES (i, qprov[i], qcode[i], qdepth[i], 'peer_unreachable');
			RAISE WARNING USING MESSAGE = format('province %s did not answer for lot %s: %s', qprov[i], qcode[i], msg);
		END;
		IF i = 1 AND fwd THEN
			SELECT CASE w.dim WHEN 'mass' THEN 'g' WHEN 'volume' THEN 'mL' ELSE 'pcs' END INTO unit
			  FROM pg_temp.federation_walk w WHERE w.part = 1 AND w.depth = 0;
		ELSIF fwd THEN
			-- forward, a part's start is the lot that crossed: counted in its own province
			DELETE FROM pg_temp.federation_walk w WHERE w.part = i AND w.depth = 0 AND w.amount IS NOT NULL;
			UPDATE pg_temp.federation_walk w SET amount = w.amount * qfactor[i], depth = w.depth + qdepth[i]
			 WHERE w.part = i AND w.amount IS NOT NULL;
		ELSIF i > 1 THEN
			-- backward, a part's start is the lot itself (its copy was dropped in
			-- the part before): what of it went into the start lot, over its
			-- whole quantity here, scales the part (each figure in its own unit)
			SELECT qfactor[i] / nullif(w.lot_amount, 0) INTO f
			  FROM pg_temp.federation_walk w WHERE w.part = i AND w.depth = 0 AND w.amount IS NOT NULL;
			UPDATE pg_temp.federation_walk w SET amount = w.amount * f, depth = w.depth + qdepth[i],
				st = CASE WHEN w.st <> 'origin' THEN w.st
					WHEN shilian.qty_base(w.qty_on_hand::shilian.qty) > 0 THEN 'on_hand' ELSE 'depleted' END
			 WHERE w.part = i AND w.amount IS NOT NULL;
		END IF;
		-- queue the lots of this part that crossed a border
		FOR r IN SELECT w.seq, w.batch, w.amount, w.lot_amount, w.depth, x.pv
				   FROM pg_temp.federation_walk w CROSS JOIN LATERAL unnest(w.exports) x(pv)
				  WHERE w.part = i AND w.amount IS NOT NULL AND w.lot_amount > 0
					AND (max_depth IS NULL OR w.depth < max_depth OR NOT fwd)
				  ORDER BY w.seq, x.pv
		LOOP
			qprov := qprov || r.pv;
			qcode := qcode || r.batch;
			-- forward: the share per unit of the lot; backward: how much of the lot
			qfactor := qfactor || CASE WHEN fwd THEN r.amount / r.lot_amount ELSE r.amount END;
			qdepth := qdepth || r.depth;
			IF NOT fwd THEN
				-- the copy here stands for the lot there, which its province reports
				DELETE FROM pg_temp.federation_walk w WHERE w.seq = r.seq;
			END IF;
		END LOOP;
		i := i + 1;
	END LOOP;
	-- one row per lot: the sum of its parts, the least depth and its first link
	RETURN QUERY
	SELECT g.province, g.batch::shilian.trace_code,
		CASE WHEN g.visible THEN g.holder END,
		CASE WHEN g.visible THEN g.holder_name END,
		g.depth, g.via_link,
		shilian.qty(round(g.amount, 3), coalesce(unit, CASE g.dim WHEN 'mass' THEN 'g' WHEN 'volume' THEN 'mL' ELSE 'pcs' END)),
		CASE WHEN g.visible THEN g.on_hand::shilian.qty END,
		CASE WHEN g.st = 'peer_unreachable' OR g.visible THEN g.st
			WHEN g.local THEN 'other_holder' ELSE 'other_province' END
	  FROM (SELECT a.*, national OR (a.local AND shilian.may_see(a.holder)) AS visible
			  FROM (SELECT w.province, w.batch,
					(array_agg(w.holder ORDER BY w.depth, w.seq))[1] AS holder,
					(array_agg(w.holder_name ORDER BY w.depth, w.seq))[1] AS holder_name,
					min(w.depth) AS depth,
					(array_agg(w.via_link ORDER BY w.depth, w.via_link))[1] AS via_link,
					sum(w.amount) AS amount,
					(array_agg(w.qty_on_hand ORDER BY w.depth, w.seq))[1] AS on_hand,
					(array_agg(w.st ORDER BY w.depth, w.seq))[1] AS st,
					(array_agg(w.dim ORDER BY w.depth, w.seq))[1] AS dim,
					EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = w.province) AS local,
					min(w.seq) AS first_seq
				  FROM pg_temp.federation_walk w
				 GROUP BY w.province, w.batch) a) g
	 ORDER BY g.depth, g.first_seq;
END;
$$;
COMMENT ON FUNCTION federation_walk_national(trace_code, text, integer, timestamptz) IS
	'trace_forward_national or trace_backward_national by direction (forward or backward).';
REVOKE ALL ON FUNCTION federation_walk_national(trace_code, text, integer, timestamptz) FROM PUBLIC;

CREATE FUNCTION trace_forward_national(code trace_code, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (province text, batch trace_code, holder bigint, holder_name text,
		depth integer, via_link bigint, qty_reached qty, qty_on_hand qty, status text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM shilian.federation_walk_national(trace_forward_national.code, 'forward',
		trace_forward_national.max_depth, trace_forward_national.as_of);
END;
$$;
COMMENT ON FUNCTION trace_forward_national(trace_code, integer, timestamptz) IS
	'Forward trace across provinces: every lot downstream of a lot in this and the peer provinces (asking each peer for its part), with trace_forward''s quantities and depth; holders and on-hand quantities only where the caller may see them (everywhere for shilian_national).';
REVOKE ALL ON FUNCTION trace_forward_national(trace_code, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_forward_national(trace_code, integer, timestamptz) TO shilian_national, shilian_regulator, shilian_admin;

CREATE FUNCTION trace_backward_national(code trace_code, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (province text, batch trace_code, holder bigint, holder_name text,
		depth integer, via_link bigint, qty_reached qty, qty_on_hand qty, status text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM shilian.federation_walk_national(trace_backward_national.code, 'backward',
		trace_backward_national.max_depth, trace_backward_national.as_of);
END;
$$;
COMMENT ON FUNCTION trace_backward_national(trace_code, integer, timestamptz) IS
	'Backward trace across provinces: every lot upstream of a lot in this and the peer provinces (asking each peer for its part), with trace_backward''s quantities (each in the source lot''s unit) and depth; holders and on-hand quantities only where the caller may see them (everywhere for shilian_national).';
REVOKE ALL ON FUNCTION trace_backward_national(trace_code, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_backward_national(trace_code, integer, timestamptz) TO shilian_national, shilian_regulator, shilian_admin;

-- ---- national recall --------------------------------------------------------------

-- The parts of a recall across borders. Out: this platform's recall reached
-- a lot sold to province `province`, whose platform opened recall
-- `remote_recall` for it (NULL and the error while it did not answer). In:
-- this platform's recall `recall_id` was opened for recall `remote_recall`
-- of province `province`, from the lot `lot` that crossed.
CREATE TABLE federation_recall (
	recall_id     bigint NOT NULL REFERENCES recall (id),
	direction     text NOT NULL CHECK (direction IN ('out', 'in')),
	province      text NOT NULL CHECK (province ~ '^[1-9][0-9]0000$'),
	lot           trace_code NOT NULL,
	remote_recall bigint,
	error         text,
	asked_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (recall_id, direction, province, lot),
	CHECK (direction = 'out' OR remote_recall IS NOT NULL)
);
CREATE UNIQUE INDEX federation_recall_in_idx ON federation_recall (province, remote_recall, lot) WHERE direction = 'in';
COMMENT ON TABLE federation_recall IS
	'The parts of recalls across borders: out (the recall a peer opened for a lot sold to it) and in (a recall opened here for a peer''s recall).';
REVOKE ALL ON federation_recall FROM PUBLIC;
GRANT SELECT ON federation_recall TO shilian_admin, shilian_national, shilian_regulator;
ALTER TABLE federation_recall ENABLE ROW LEVEL SECURITY;
CREATE POLICY federation_recall_read ON federation_recall FOR SELECT
	TO shilian_admin, shilian_national, shilian_regulator USING (true);

-- Open the parts of recall `id` in the provinces its lots were sold to (the
-- delivered sales): each peer opens a recall for the lot that crossed, with
-- the exposed quantities in the start lot's unit, and does the same for its
-- own exports. A peer that does not answer keeps its error; calling this
-- again asks every part again (a part already open is not opened twice,
-- and asks its own peers again), so parts further on catch up too.
CREATE FUNCTION federation_recall_spread(id bigint) RETURNS integer
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
CREATE FUNCTION federation_recall_accept(origin text, origin_recall bigint, code trace_code, reason text,
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

-- The schedule's catch-up: spread again every open recall with a part a
-- province did not open; returns the parts that answered.
CREATE FUNCTION federation_recall_catch_up() RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n integer := 0;
	r bigint;
BEGIN
	FOR r IN SELECT DISTINCT f.recall_id FROM shilian.federation_recall f
			   JOIN shilian.recall x ON x.id = f.recall_id AND x.status = 'open'
			  WHERE f.direction = 'out' AND f.remote_recall IS NULL ORDER BY 1
	LOOP
		n := n + shilian.federation_recall_spread(r);
	END LOOP;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION federation_recall_catch_up() IS
	'Ask the peers again for the parts of open recalls they did not open (the schedule runs it every minute); returns the parts that answered.';
REVOKE ALL ON FUNCTION federation_recall_catch_up() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION federation_recall_catch_up() TO shilian_admin;

-- A recall of a lot reaching every province its material went to.
CREATE FUNCTION recall_open_national(code trace_code, reason text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rid bigint := shilian.recall_open(code, reason, 'forward');
BEGIN
	PERFORM shilian.federation_recall_spread(rid);
	RETURN rid;
END;
$$;
COMMENT ON FUNCTION recall_open_national(trace_code, text) IS
	'Open a forward recall of a lot here and its parts in every province the lot''s material was sold to (each peer''s holders acknowledge there with recall_ack); returns the recall id here.';
REVOKE ALL ON FUNCTION recall_open_national(trace_code, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_open_national(trace_code, text) TO shilian_regulator, shilian_national, shilian_admin;

-- The progress of a recall and of its parts across borders, one row per
-- province part (the parts of the parts included, each asked of its
-- province): targets, acknowledged, outstanding, the exposed quantities
-- (one sum per dimension, in the start lot's unit) and the part's status
-- (open, closed, or unreachable with the error).
CREATE FUNCTION recall_status_national(id bigint)
	RETURNS TABLE (province text, recall bigint, lot trace_code, targets bigint, acknowledged bigint,
		outstanding bigint, exposed qty, status text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rec shilian.recall;
	f record;
BEGIN
	SELECT * INTO rec FROM shilian.recall x WHERE x.id = recall_status_national.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	RETURN QUERY
	SELECT coalesce((SELECT j.code FROM shilian.jurisdiction j WHERE j.level = 'province' ORDER BY j.code LIMIT 1),
			shilian.province_of_code(rec.trace_code::text)),
		rec.id, rec.trace_code, count(t.*), count(t.acked_at), count(t.*) - count(t.acked_at),
		shilian.sum(t.qty_exposed), rec.status
	  FROM shilian.recall_target t WHERE t.recall_id = rec.id;
	FOR f IN SELECT * FROM shilian.federation_recall x WHERE x.recall_id = rec.id AND x.direction = 'out'
			  ORDER BY x.province, x.lot
	LOOP
		IF f.remote_recall IS NULL THEN
			province := f.province; recall := NULL; lot := f.lot; targets := NULL; acknowledged := NULL;
			outstanding := NULL; exposed := NULL; status := 'unreachable: ' || f.error;
			RETURN NEXT;
			CONTINUE;
		END IF;
		BEGIN
			RETURN QUERY EXECUTE format('SELECT t.province, t.recall, t.lot::shilian.trace_code, t.targets, t.acknowledged,'
					' t.outstanding, t.exposed::shilian.qty, t.status FROM %I.dblink($1, $2) AS t(province text, recall bigint,'
					' lot text, targets bigint, acknowledged bigint, outstanding bigint, exposed text, status text)',
					shilian.federation_dblink())
				USING (SELECT pp.server::text FROM shilian.province_peer pp WHERE pp.code = f.province),
					'SELECT province, recall, lot::text, targets, acknowledged, outstanding, exposed::text, status'
					|| ' FROM shilian.federation_recall_status(' || f.remote_recall || ')';
		EXCEPTION WHEN OTHERS THEN
			province := f.province; recall := f.remote_recall; lot := f.lot; targets := NULL; acknowledged := NULL;
			outstanding := NULL; exposed := NULL; status := 'unreachable: ' || SQLERRM;
			RETURN NEXT;
		END;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION recall_status_national(bigint) IS
	'Progress of a recall here and of its parts in other provinces (asked of each): targets, acknowledged, outstanding, exposed quantity in the start lot''s unit, status (unreachable with the error when a province does not answer).';
REVOKE ALL ON FUNCTION recall_status_national(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_status_national(bigint) TO shilian_regulator, shilian_national, shilian_admin;

-- The same, for a peer asking about the part it opened here (only such
-- recalls, and for a peer login only its province's: another is unknown,
-- SLT10).
CREATE FUNCTION federation_recall_status(id bigint)
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

-- The schedule (part 92) runs federation_deliver and federation_recall_catch_up
-- every minute; an upgraded database gets that job_plan here.
