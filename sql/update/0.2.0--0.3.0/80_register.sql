-- shilian upgrade script 0.2.0 -> 0.3.0, part 80: self-service registration
-- and activation (issue 24): the whole of sql/src/83_registration.sql, all new.

-- ---- the trusted registry steps (C, extension/registry.c) ----------------------

CREATE FUNCTION operator_register_matched(name text, segment text, kinds text[], station text,
		address text, contact text, uscc uscc DEFAULT NULL, reg_card text DEFAULT NULL,
		own_system boolean DEFAULT false, regulator_contact text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_operator_register_matched'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION operator_register_matched(text, text, text[], text, text, text, uscc, text, boolean, text) IS
	'operator_register without the caller check, for a request matched or decided by part 83; executable by the extension owner only.';
REVOKE ALL ON FUNCTION operator_register_matched(text, text, text[], text, text, text, uscc, text, boolean, text) FROM PUBLIC;

CREATE FUNCTION licence_add_matched(operator bigint, licence_no licence_no, scope text[],
		valid_from date, valid_to date) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_licence_add_matched'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION licence_add_matched(bigint, licence_no, text[], date, date) IS
	'licence_add without the caller check, for a request matched or decided by part 83; executable by the extension owner only.';
REVOKE ALL ON FUNCTION licence_add_matched(bigint, licence_no, text[], date, date) FROM PUBLIC;

CREATE FUNCTION operator_activate_bound(id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'sl_operator_activate_bound'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION operator_activate_bound(bigint) IS
	'operator_activate without the caller check, for an operator that bound its identity with a valid activation code (part 83); executable by the extension owner only.';
REVOKE ALL ON FUNCTION operator_activate_bound(bigint) FROM PUBLIC;

-- ---- tables -------------------------------------------------------------------

CREATE TABLE registration_request (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name        text NOT NULL CHECK (name <> ''),
	uscc        uscc,
	reg_card    text CHECK (reg_card <> ''),
	licence_no  licence_no NOT NULL,
	scope       text[] NOT NULL,
	valid_from  date NOT NULL,
	valid_to    date NOT NULL,
	segment     text NOT NULL,
	kinds       text[] NOT NULL,
	address     text NOT NULL CHECK (address <> ''),
	contact     text NOT NULL CHECK (contact <> ''),
	station     text NOT NULL REFERENCES jurisdiction (code),
	identity    text CHECK (identity <> ''),
	-- the identity is the login's own (the subject of the token the request
	-- came with, shilian.identity), not a value typed into the form: its
	-- first login activates the operator once registered
	identity_verified boolean NOT NULL DEFAULT false,
	-- the system client (a market's or canteen sub-system) that made the
	-- request for its vendor: bound to the operator once registered
	client      text,
	client_addr text NOT NULL,
	status      text NOT NULL
		CHECK (status IN ('registered', 'pending', 'approved', 'corrected', 'refused', 'conflict')),
	operator_id bigint REFERENCES operator (id),
	reason      text,
	decided_by  text,
	decided_at  timestamptz,
	created_at  timestamptz NOT NULL DEFAULT now(),
	CHECK (uscc IS NOT NULL OR reg_card IS NOT NULL)
);
CREATE INDEX registration_request_station_idx ON registration_request (station, status);
CREATE INDEX registration_request_licence_idx ON registration_request (licence_no);
COMMENT ON TABLE registration_request IS
	'Self-service registration requests (注册): what the operator gave, the client address, and the outcome: registered (matched the roll), pending, approved, corrected, refused (by the station) or conflict (licence held by a registered operator).';

CREATE TABLE registration_throttle (
	addr   text NOT NULL,
	kind   text NOT NULL CHECK (kind IN ('register', 'activate')),
	window_at timestamptz NOT NULL,
	n      integer NOT NULL,
	PRIMARY KEY (addr, kind, window_at)
);
COMMENT ON TABLE registration_throttle IS
	'Registration requests and activation attempts per client address and hour (registration_throttle_take).';

CREATE TABLE activation_code (
	operator_id bigint PRIMARY KEY REFERENCES operator (id),
	salt        bytea NOT NULL,
	code_hash   bytea NOT NULL,
	issued_by   text NOT NULL,
	issued_at   timestamptz NOT NULL DEFAULT now(),
	expires_at  timestamptz NOT NULL,
	used_at     timestamptz,
	failures    integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE activation_code IS
	'The one live activation code (激活码) of an operator: SHA-256 of salt and code (the code itself is never stored), expiry, use, wrong attempts.';

CREATE TABLE operator_identity (
	identity    text PRIMARY KEY CHECK (identity ~ '^(phone:[0-9+]{5,20}|sub:.+)$'),
	operator_id bigint NOT NULL REFERENCES operator (id),
	bound_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_identity_operator_idx ON operator_identity (operator_id);
COMMENT ON TABLE operator_identity IS
	'Identities bound to an operator at activation: phone:<number> or sub:<token subject> of the identity provider.';

SELECT pg_catalog.pg_extension_config_dump('registration_request', '');
SELECT pg_catalog.pg_extension_config_dump('activation_code', '');
SELECT pg_catalog.pg_extension_config_dump('operator_identity', '');
REVOKE ALL ON registration_request, registration_throttle, activation_code, operator_identity FROM PUBLIC;
ALTER TABLE registration_request ENABLE ROW LEVEL SECURITY;
ALTER TABLE registration_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE activation_code ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_identity ENABLE ROW LEVEL SECURITY;

-- ---- throttling -----------------------------------------------------------------

-- The caller's address: the setting shilian.client_addr, which the gateway
-- sets for every request; a direct SQL session without it counts as
-- local:<role>. The public role never calls without it (SLQ01).
CREATE FUNCTION registration_client_addr() RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	a text := nullif(current_setting('shilian.client_addr', true), '');
BEGIN
	IF a IS NOT NULL THEN
		RETURN a;
	END IF;
	IF current_setting('role') = 'shilian_public' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ01',
			MESSAGE = 'no client address: shilian.client_addr is not set',
			HINT = 'The gateway sets shilian.client_addr for every public request.';
	END IF;
	RETURN 'local:' || current_setting('role');
END
$$;
COMMENT ON FUNCTION registration_client_addr() IS
	'The address a registration or activation is counted against: shilian.client_addr (set by the gateway), else local:<role>; SLQ01 for the public role without it.';
REVOKE ALL ON FUNCTION registration_client_addr() FROM PUBLIC;

-- How many of kind an address may do per hour.
CREATE FUNCTION registration_limit(kind text) RETURNS integer
	LANGUAGE sql IMMUTABLE
	AS $$ SELECT CASE kind WHEN 'register' THEN 5 WHEN 'activate' THEN 10 END $$;
COMMENT ON FUNCTION registration_limit(text) IS
	'Per client address and hour: 5 registration requests, 10 activation attempts.';

-- Count one request of kind from addr in the current hour; SLQ02 when the
-- address has used its hour.
CREATE FUNCTION registration_throttle_take(addr text, kind text) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	used integer;
	h timestamptz := date_trunc('hour', now());
BEGIN
	DELETE FROM shilian.registration_throttle t WHERE t.window_at < h - interval '1 day';
	INSERT INTO shilian.registration_throttle AS t (addr, kind, window_at, n)
	VALUES (addr, kind, h, 1)
	ON CONFLICT ON CONSTRAINT registration_throttle_pkey DO UPDATE SET n = t.n + 1
	RETURNING t.n INTO used;
	IF used > shilian.registration_limit(kind) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ02',
			MESSAGE = format('too many %s requests from %s this hour', kind, addr),
			DETAIL = format('An address may make %s per hour.', shilian.registration_limit(kind)),
			HINT = 'Try again in the next hour, or ask the supervision station.';
	END IF;
END
$$;
COMMENT ON FUNCTION registration_throttle_take(text, text) IS
	'Count one registration request or activation attempt of an address in the current hour; SLQ02 beyond registration_limit.';
REVOKE ALL ON FUNCTION registration_throttle_take(text, text) FROM PUBLIC;

-- ---- registering a request --------------------------------------------------------

-- The one rule that turns a request into an operator with its licence:
-- operator_register's row and ledger entry, licence_add's, then the
-- request's outcome in the operator's chain.
CREATE FUNCTION registration_register(r registration_request, outcome text, by_whom text, why text)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	op bigint;
BEGIN
	op := shilian.operator_register_matched(r.name, r.segment, r.kinds, r.station, r.address, r.contact,
		r.uscc, r.reg_card);
	PERFORM shilian.licence_add_matched(op, r.licence_no, r.scope, r.valid_from, r.valid_to);
	UPDATE shilian.registration_request q
	   SET status = outcome, operator_id = op, reason = why, decided_by = by_whom, decided_at = now(),
		   name = r.name, uscc = r.uscc, reg_card = r.reg_card, licence_no = r.licence_no, scope = r.scope,
		   valid_from = r.valid_from, valid_to = r.valid_to, segment = r.segment, kinds = r.kinds,
		   address = r.address, contact = r.contact
	 WHERE q.id = r.id;
	PERFORM shilian.ledger_append(op, 'registration_decide', jsonb_strip_nulls(jsonb_build_object(
		'request', r.id, 'decision', outcome, 'licence_no', r.licence_no::text, 'station', r.station,
		'decided_by', by_whom, 'reason', why)));
	-- a market's or canteen sub-system that registered its vendor records for it
	IF r.client IS NOT NULL THEN
		PERFORM shilian.api_client_bind_as(r.client, op, 'registration:' || r.id);
	END IF;
	RETURN op;
END
$$;
COMMENT ON FUNCTION registration_register(registration_request, text, text, text) IS
	'Register the operator and licence of a matched or approved request (operator_register_matched, licence_add_matched), record the outcome in the request and the operator''s chain, and bind the system client that made the request, if any.';
REVOKE ALL ON FUNCTION registration_register(registration_request, text, text, text) FROM PUBLIC;

-- The licence's holder on the platform, if any.
CREATE FUNCTION registration_licence_holder(no licence_no) RETURNS bigint
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$ SELECT l.operator_id FROM shilian.licence l WHERE l.licence_no = no $$;
COMMENT ON FUNCTION registration_licence_holder(licence_no) IS
	'The operator holding a licence on the platform, NULL when none.';
REVOKE ALL ON FUNCTION registration_licence_holder(licence_no) FROM PUBLIC;

CREATE FUNCTION operator_register_request(name text, segment text, kinds text[], station text,
		address text, contact text, licence_no text, scope text[], valid_from date, valid_to date,
		uscc text DEFAULT NULL, reg_card text DEFAULT NULL, identity text DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	addr text := shilian.registration_client_addr();
	login text := nullif(current_setting('shilian.identity', true), '');
	via text := CASE WHEN current_setting('role') = 'shilian_system' THEN shilian.current_client() END;
	verified boolean := false;
	r shilian.registration_request;
	lic shilian.licence_no;
	holder bigint;
	op bigint;
	matched boolean;
BEGIN
	PERFORM shilian.registration_throttle_take(addr, 'register');
	IF name IS NULL OR segment IS NULL OR kinds IS NULL OR station IS NULL OR address IS NULL
		OR contact IS NULL OR licence_no IS NULL OR scope IS NULL OR valid_from IS NULL OR valid_to IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ03',
			MESSAGE = 'incomplete registration request',
			DETAIL = 'name, segment, kinds, station, address, contact, licence_no, scope, valid_from and valid_to are required.';
	END IF;
	IF uscc IS NULL AND reg_card IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ03',
			MESSAGE = 'incomplete registration request: give uscc or reg_card',
			DETAIL = 'An enterprise registers with its unified social credit code, a small vendor with its registration card number.';
	END IF;
	IF identity IS NOT NULL AND identity !~ '^(phone:[0-9+]{5,20}|sub:.+)$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ04',
			MESSAGE = format('invalid identity "%s"', identity),
			HINT = 'Give phone:<number> or sub:<token subject>.';
	END IF;
	-- a request made with a login (an operator's or public token) is that
	-- login's: its identity is the token's subject, verified by the gateway
	IF login IS NOT NULL AND current_setting('role') IN ('shilian_operator', 'shilian_public') THEN
		IF identity IS NOT NULL AND identity <> login THEN
			RAISE EXCEPTION USING ERRCODE = 'SLQ04',
				MESSAGE = format('identity "%s" is not the login''s (%s)', identity, login),
				HINT = 'A request made with a login registers that login: leave identity out.';
		END IF;
		identity := login;
		verified := true;
	END IF;
	lic := licence_no::shilian.licence_no;       -- 22P02 naming the rule
	IF NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = station AND j.level = 'station') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR19',
			MESSAGE = format('unknown jurisdiction: %s is not a registered supervision station', station);
	END IF;
	INSERT INTO shilian.registration_request (name, uscc, reg_card, licence_no, scope, valid_from, valid_to,
		segment, kinds, address, contact, station, identity, identity_verified, client, client_addr, status)
	VALUES (name, uscc::shilian.uscc, reg_card, lic, scope, valid_from, valid_to, segment, kinds, address,
		contact, station, identity, verified, via, addr, 'pending')
	RETURNING * INTO r;

	-- a licence already held on the platform: refused, kept for the station
	holder := shilian.registration_licence_holder(lic);
	IF holder IS NOT NULL THEN
		UPDATE shilian.registration_request q
		   SET status = 'conflict', operator_id = holder, decided_by = 'platform', decided_at = now(),
			   reason = format('licence %s is held by registered operator %s', lic, holder)
		 WHERE q.id = r.id;
		RETURN jsonb_build_object('id', r.id, 'status', 'conflict', 'error', jsonb_build_object(
			'code', 'SLQ05', 'message', format('licence %s is already held by a registered operator', lic),
			'hint', 'A licence belongs to one operator; the supervision station has been shown this request.'));
	END IF;
	IF (r.uscc IS NOT NULL AND EXISTS (SELECT 1 FROM shilian.operator o WHERE o.uscc = r.uscc))
		OR (r.reg_card IS NOT NULL AND EXISTS (SELECT 1 FROM shilian.operator o WHERE o.reg_card = r.reg_card)) THEN
		UPDATE shilian.registration_request q
		   SET status = 'conflict', decided_by = 'platform', decided_at = now(),
			   reason = 'the USCC or registration card is already registered'
		 WHERE q.id = r.id;
		RETURN jsonb_build_object('id', r.id, 'status', 'conflict', 'error', jsonb_build_object(
			'code', 'SLQ05', 'message', 'the USCC or registration card is already registered',
			'hint', 'An operator registers once; a further licence is added by its supervision station.'));
	END IF;

	-- the match: licence number, holder name and home station as on the roll
	SELECT EXISTS (SELECT 1 FROM shilian.operator_roll o
					WHERE o.licence_no = lic AND o.name = r.name AND o.station = r.station)
	  INTO matched;
	IF NOT matched THEN
		RETURN jsonb_build_object('id', r.id, 'status', 'pending');
	END IF;
	-- the identity is bound at activation (the station's code), not here
	op := shilian.registration_register(r, 'registered', 'roll', 'matched the operator roll');
	RETURN jsonb_build_object('id', r.id, 'status', 'registered', 'operator', op);
END
$$;
COMMENT ON FUNCTION operator_register_request(text, text, text[], text, text, text, text, text[], date, date, text, text, text) IS
	'Self-service registration (注册), for the login''s own identity when made with a token (shilian.identity): registered at once when licence number, holder name and home station match the operator roll, else pending for the station; a licence or USCC already registered is a conflict (SLQ05). Throttled per client address (SLQ02). Returns {id, status, operator | error}.';
REVOKE ALL ON FUNCTION operator_register_request(text, text, text[], text, text, text, text, text[], date, date, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_register_request(text, text, text[], text, text, text, text, text[], date, date, text, text, text)
	TO shilian_public, shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- ---- the station's queue and decisions ------------------------------------------------

CREATE FUNCTION registration_requests(station text, status text DEFAULT 'pending')
	RETURNS TABLE (id bigint, name text, uscc text, reg_card text, licence_no text, segment text,
		kinds text[], address text, contact text, req_station text, req_status text, operator_id bigint,
		reason text, created_at timestamptz, closest_roll jsonb)
	LANGUAGE plpgsql STABLE
	SECURITY DEFINER
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	PERFORM shilian.regulator_require_subtree(station);
	IF status IS NOT NULL AND status NOT IN ('registered', 'pending', 'approved', 'corrected', 'refused', 'conflict') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ06',
			MESSAGE = format('unknown request status "%s"', status),
			HINT = 'Use pending, conflict, registered, approved, corrected or refused (NULL: all).';
	END IF;
	RETURN QUERY
	SELECT q.id, q.name, q.uscc::text, q.reg_card, q.licence_no::text, q.segment, q.kinds, q.address,
		   q.contact, q.station, q.status, q.operator_id, q.reason, q.created_at,
		   (SELECT coalesce(jsonb_agg(c.row ORDER BY c.score DESC, c.licence_no), '[]')
			  FROM (SELECT jsonb_build_object('licence_no', o.licence_no::text, 'name', o.name,
							 'station', o.station, 'segment', o.segment,
							 'holder', shilian.registration_licence_holder(o.licence_no)::text) AS row,
						   o.licence_no,
						   (o.licence_no = q.licence_no)::int * 4 + (o.name = q.name)::int * 2
						   + (strpos(o.name, q.name) > 0 OR strpos(q.name, o.name) > 0)::int
						   + (o.station = q.station)::int AS score
					  FROM shilian.operator_roll o
					  JOIN shilian.jurisdiction j ON j.code = o.station
					 WHERE registration_requests.station = ANY (j.ancestors)
					   AND (o.licence_no = q.licence_no OR strpos(o.name, q.name) > 0
							OR strpos(q.name, o.name) > 0)
					 ORDER BY score DESC, o.licence_no LIMIT 3) c)
	  FROM shilian.registration_request q
	  JOIN shilian.jurisdiction s ON s.code = q.station
	 WHERE registration_requests.station = ANY (s.ancestors)
	   AND (registration_requests.status IS NULL OR q.status = registration_requests.status)
	 ORDER BY q.created_at, q.id;
END
$$;
COMMENT ON FUNCTION registration_requests(text, text) IS
	'Regulator: the registration requests at home in its subtree (default pending; NULL all), each with up to three closest roll rows of the subtree (same licence, same or containing name) and their holder on the platform.';
REVOKE ALL ON FUNCTION registration_requests(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registration_requests(text, text) TO shilian_regulator, shilian_admin;

CREATE FUNCTION registration_decide(id bigint, decision text, reason text, corrections jsonb DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	r shilian.registration_request;
	who text := coalesce(nullif(current_setting('shilian.jurisdiction', true), ''), current_setting('role'));
	op bigint;
	holder bigint;
BEGIN
	IF decision IS NULL OR decision NOT IN ('approve', 'correct', 'refuse') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ07',
			MESSAGE = format('unknown decision "%s"', coalesce(decision, 'null')),
			HINT = 'Decide approve, correct or refuse.';
	END IF;
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ08',
			MESSAGE = 'a decision on a registration request gives a reason';
	END IF;
	SELECT * INTO r FROM shilian.registration_request q WHERE q.id = registration_decide.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ09',
			MESSAGE = format('unknown registration request %s', coalesce(registration_decide.id::text, 'null'));
	END IF;
	-- the request's station decides: 42501 outside the caller's subtree
	PERFORM shilian.regulator_require_subtree(r.station);
	IF r.status NOT IN ('pending', 'conflict') OR (r.status = 'conflict' AND decision <> 'refuse') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ10',
			MESSAGE = format('registration request %s is %s', r.id, r.status),
			HINT = 'Only a pending request is approved or corrected; a conflict is only refused.';
	END IF;
	IF decision = 'correct' THEN
		IF corrections IS NULL OR jsonb_typeof(corrections) <> 'object' OR corrections = '{}'
			OR EXISTS (SELECT 1 FROM jsonb_object_keys(corrections) k
						WHERE k NOT IN ('name', 'uscc', 'reg_card', 'licence_no', 'scope', 'valid_from', 'valid_to',
										'segment', 'kinds', 'address', 'contact')) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLQ11',
				MESSAGE = 'a correction names the fields it corrects',
				HINT = 'corrections: an object of name, uscc, reg_card, licence_no, scope, valid_from, valid_to, segment, kinds, address, contact.';
		END IF;
		r := jsonb_populate_record(r, corrections);
	ELSIF corrections IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ11',
			MESSAGE = format('corrections are given only with the decision correct, not %s', decision);
	END IF;

	IF decision = 'refuse' THEN
		UPDATE shilian.registration_request q
		   SET status = 'refused', reason = registration_decide.reason, decided_by = who, decided_at = now()
		 WHERE q.id = r.id;
		-- a refused request has no operator: its decision goes to the
		-- platform chain (operator 0), a conflict's to the holder's
		PERFORM shilian.ledger_append(coalesce(r.operator_id, 0), 'registration_decide', jsonb_build_object(
			'request', r.id, 'decision', 'refused', 'licence_no', r.licence_no::text, 'station', r.station,
			'decided_by', who, 'reason', registration_decide.reason));
		RETURN jsonb_build_object('id', r.id, 'status', 'refused');
	END IF;
	holder := shilian.registration_licence_holder(r.licence_no);
	IF holder IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ05',
			MESSAGE = format('licence %s is already held by registered operator %s', r.licence_no, holder),
			HINT = 'Refuse the request, or correct its licence number.';
	END IF;
	op := shilian.registration_register(r, CASE decision WHEN 'approve' THEN 'approved' ELSE 'corrected' END,
		who, registration_decide.reason);
	RETURN jsonb_build_object('id', r.id, 'status', CASE decision WHEN 'approve' THEN 'approved' ELSE 'corrected' END,
		'operator', op);
END
$$;
COMMENT ON FUNCTION registration_decide(bigint, text, text, jsonb) IS
	'Regulator of the request''s station (or above), admin: approve, correct (with corrections) or refuse a pending registration request with a reason; approve and correct register the operator and its licence; each decision in the ledger.';
REVOKE ALL ON FUNCTION registration_decide(bigint, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registration_decide(bigint, text, text, jsonb) TO shilian_regulator, shilian_admin;

-- ---- activation ---------------------------------------------------------------

CREATE FUNCTION activation_code_issue(operator bigint, valid interval DEFAULT '7 days')
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	o shilian.operator;
	code text;
	salt bytea := decode(replace(gen_random_uuid()::text, '-', ''), 'hex');
	until timestamptz;
	who text := coalesce(nullif(current_setting('shilian.jurisdiction', true), ''), current_setting('role'));
BEGIN
	SELECT * INTO o FROM shilian.operator x WHERE x.id = activation_code_issue.operator FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR01',
			MESSAGE = format('unknown operator: operator %s is not registered', coalesce(operator::text, 'null'));
	END IF;
	PERFORM shilian.regulator_require_subtree(o.station);
	IF o.status = 'suspended' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ12',
			MESSAGE = format('operator %s is suspended: no activation code', o.id),
			HINT = 'Activate it again (operator_activate) after the cause of its suspension is gone.';
	END IF;
	IF valid IS NULL OR valid <= interval '0' OR valid > interval '90 days' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ13',
			MESSAGE = format('an activation code is valid for more than nothing and at most 90 days, not %s', valid);
	END IF;
	-- ten digits from the strong random source behind gen_random_uuid
	code := lpad((('x' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 15))::bit(60)::bigint
				  % 10000000000)::text, 10, '0');
	until := now() + valid;
	INSERT INTO shilian.activation_code AS a (operator_id, salt, code_hash, issued_by, issued_at, expires_at)
	VALUES (o.id, salt, sha256(salt || convert_to(code, 'UTF8')), who, now(), until)
	ON CONFLICT (operator_id) DO UPDATE SET salt = excluded.salt, code_hash = excluded.code_hash,
		issued_by = excluded.issued_by, issued_at = excluded.issued_at, expires_at = excluded.expires_at,
		used_at = NULL, failures = 0;
	PERFORM shilian.ledger_append(o.id, 'activation_code_issue', jsonb_build_object(
		'operator_id', o.id, 'issued_by', who, 'expires_at', until));
	RETURN jsonb_build_object('operator', o.id, 'code', code, 'expires_at', until);
END
$$;
COMMENT ON FUNCTION activation_code_issue(bigint, interval) IS
	'Regulator of the operator''s station (or above), admin: a one-time ten-digit activation code (激活码), shown once, stored as salted SHA-256, valid for valid (default 7 days); replaces the operator''s earlier code.';
REVOKE ALL ON FUNCTION activation_code_issue(bigint, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION activation_code_issue(bigint, interval) TO shilian_regulator, shilian_admin;

-- The one rule that binds an identity to an operator (the operator row
-- locked by the caller, its status st): the binding, its ledger entry and
-- the activation of a registered operator through operator_activate's path.
CREATE FUNCTION registration_bind_identity(op bigint, ident text, st text, how jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	INSERT INTO shilian.operator_identity (identity, operator_id) VALUES (ident, op)
	ON CONFLICT (identity) DO NOTHING;
	PERFORM shilian.ledger_append(op, 'operator_identity_bind', jsonb_build_object(
		'operator_id', op, 'identity', ident) || how);
	IF st = 'registered' THEN
		PERFORM shilian.operator_activate_bound(op);
	END IF;
END
$$;
COMMENT ON FUNCTION registration_bind_identity(bigint, text, text, jsonb) IS
	'Bind an identity to an operator (operator_identity), append operator_identity_bind to its chain and activate it if registered (internal to activation).';
REVOKE ALL ON FUNCTION registration_bind_identity(bigint, text, text, jsonb) FROM PUBLIC;

-- A refusal of an activation attempt is an answer, not an error, so that the
-- attempt stays counted (throttle, wrong attempts on the code).
CREATE FUNCTION operator_activate_with_code(licence_no text, code text, identity text)
	RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	addr text := shilian.registration_client_addr();
	op bigint;
	a shilian.activation_code;
	st text;
	bound bigint;
BEGIN
	PERFORM shilian.registration_throttle_take(addr, 'activate');
	IF licence_no IS NULL OR code IS NULL OR identity IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ03',
			MESSAGE = 'incomplete activation: licence_no, code and identity are required';
	END IF;
	IF identity !~ '^(phone:[0-9+]{5,20}|sub:.+)$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLQ04',
			MESSAGE = format('invalid identity "%s"', identity),
			HINT = 'Give phone:<number> or sub:<token subject>.';
	END IF;
	op := shilian.registration_licence_holder(licence_no::shilian.licence_no);
	IF op IS NOT NULL THEN
		SELECT * INTO a FROM shilian.activation_code c WHERE c.operator_id = op FOR UPDATE;
	END IF;
	-- one answer for an unknown licence, no code and a wrong code
	IF op IS NULL OR a.operator_id IS NULL OR a.used_at IS NOT NULL OR a.failures >= 5
		OR a.code_hash <> sha256(a.salt || convert_to(code, 'UTF8')) THEN
		IF a.operator_id IS NOT NULL AND a.used_at IS NULL THEN
			UPDATE shilian.activation_code c SET failures = c.failures + 1 WHERE c.operator_id = op;
		END IF;
		RETURN jsonb_build_object('status', 'refused', 'error', jsonb_build_object(
			'code', 'SLQ14', 'message', 'wrong licence number or activation code, or the code was used',
			'hint', 'Check the code the supervision station gave; after five wrong attempts ask for a new one.'));
	END IF;
	IF a.expires_at <= now() THEN
		RETURN jsonb_build_object('status', 'refused', 'error', jsonb_build_object(
			'code', 'SLQ15', 'message', 'the activation code has expired',
			'hint', 'Ask the supervision station for a new code.'));
	END IF;
	SELECT b.operator_id INTO bound FROM shilian.operator_identity b WHERE b.identity = operator_activate_with_code.identity;
	IF bound IS NOT NULL AND bound <> op THEN
		RETURN jsonb_build_object('status', 'refused', 'error', jsonb_build_object(
			'code', 'SLQ16', 'message', 'this identity is bound to another operator',
			'hint', 'One phone number or login belongs to one operator.'));
	END IF;
	SELECT o.status INTO st FROM shilian.operator o WHERE o.id = op FOR UPDATE;
	IF st = 'suspended' THEN
		RETURN jsonb_build_object('status', 'refused', 'error', jsonb_build_object(
			'code', 'SLQ12', 'message', 'the operator is suspended',
			'hint', 'The supervision station activates a suspended operator.'));
	END IF;
	UPDATE shilian.activation_code c SET used_at = now() WHERE c.operator_id = op;
	PERFORM shilian.registration_bind_identity(op, identity, st, '{}');
	RETURN jsonb_build_object('status', 'active', 'operator', op, 'identity', identity);
END
$$;
COMMENT ON FUNCTION operator_activate_with_code(text, text, text) IS
	'Activation (激活) with the station''s one-time code: binds the identity (phone:<n> or sub:<subject>) to the licence''s holder and makes it active. Throttled per address (SLQ02); a refusal is returned as {status: refused, error: {code}} so the attempt stays counted.';
REVOKE ALL ON FUNCTION operator_activate_with_code(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_activate_with_code(text, text, text)
	TO shilian_public, shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- The operator a login acts for (the gateway asks, for an operator's token
-- that names none): the one its identity is bound to; else, on the first
-- login with the identity a registration request was made with (a verified
-- one, shilian.identity of that request), the request's operator once the
-- station approved it (approved or corrected) and not yet activated: bound
-- and activated now. NULL otherwise (the token acts for no operator).
-- A request matched on the roll alone does not activate this way: a
-- licence's number and holder hang on the shop wall, so a match proves
-- nothing about who asks; the station's code (or its decision) does.
CREATE FUNCTION identity_operator(identity text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	op bigint;
	st text;
BEGIN
	IF identity IS NULL OR identity !~ '^sub:.+$' THEN
		RETURN NULL;
	END IF;
	SELECT b.operator_id INTO op FROM shilian.operator_identity b WHERE b.identity = identity_operator.identity;
	IF op IS NOT NULL THEN
		RETURN op;
	END IF;
	SELECT q.operator_id INTO op FROM shilian.registration_request q
	 WHERE q.identity = identity_operator.identity AND q.identity_verified
	   AND q.status IN ('approved', 'corrected')
	 ORDER BY q.id DESC LIMIT 1;
	IF op IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT o.status INTO st FROM shilian.operator o WHERE o.id = op FOR UPDATE;
	-- a concurrent first login may have bound it meanwhile
	IF EXISTS (SELECT 1 FROM shilian.operator_identity b WHERE b.identity = identity_operator.identity) THEN
		RETURN (SELECT b.operator_id FROM shilian.operator_identity b WHERE b.identity = identity_operator.identity);
	END IF;
	-- activated by someone else's code, or suspended: the station decides
	IF st <> 'registered' THEN
		RETURN NULL;
	END IF;
	PERFORM shilian.registration_bind_identity(op, identity, st, '{"via": "first_login"}');
	RETURN op;
END
$$;
COMMENT ON FUNCTION identity_operator(text) IS
	'The operator a login (sub:<token subject>) acts for: the bound one; on the first login of the verified identity of a request the station approved, that operator, bound and activated now (激活). NULL otherwise. For the gateway.';
REVOKE ALL ON FUNCTION identity_operator(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION identity_operator(text) TO shilian_gateway;

-- ---- the station's follow-up ---------------------------------------------------------

CREATE FUNCTION registration_followup(station text)
	RETURNS TABLE (licence_no text, name text, home_station text, segment text, state text,
		operator_id bigint, contact text, registered_at timestamptz)
	LANGUAGE plpgsql STABLE
	SECURITY DEFINER
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	PERFORM shilian.regulator_require_subtree(station);
	RETURN QUERY
	SELECT r.licence_no::text, r.name, r.station, r.segment,
		   CASE WHEN o.id IS NULL THEN 'unregistered' ELSE 'not_active' END,
		   o.id, coalesce(o.contact, q.contact), o.registered_at
	  FROM shilian.operator_roll r
	  JOIN shilian.jurisdiction j ON j.code = r.station
	  LEFT JOIN shilian.licence l ON l.licence_no = r.licence_no
	  LEFT JOIN shilian.operator o ON o.id = l.operator_id
	  LEFT JOIN LATERAL (SELECT x.contact FROM shilian.registration_request x
						  WHERE x.licence_no = r.licence_no ORDER BY x.created_at DESC LIMIT 1) q ON true
	 WHERE registration_followup.station = ANY (j.ancestors)
	   AND (o.id IS NULL OR o.status = 'registered')
	 ORDER BY r.station, (o.id IS NOT NULL), r.licence_no::text;
END
$$;
COMMENT ON FUNCTION registration_followup(text) IS
	'Regulator: the roll''s licences of its subtree whose holder has not registered (state unregistered; contact from its latest request, if any) or registered but not activated (not_active), with contacts, for the station''s rounds.';
REVOKE ALL ON FUNCTION registration_followup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registration_followup(text) TO shilian_regulator, shilian_admin;

-- One CSV field: quoted when it holds a comma, quote or line break; a
-- leading =, +, - or @ gets a quote mark so that a spreadsheet shows it as text.
CREATE FUNCTION registration_csv_field(v text) RETURNS text
	LANGUAGE sql IMMUTABLE
	AS $$
	SELECT CASE WHEN v IS NULL THEN ''
				WHEN v ~ E'[",\r\n]' OR v ~ '^[=+@-]'
				THEN '"' || CASE WHEN v ~ '^[=+@-]' THEN '''' ELSE '' END || replace(v, '"', '""') || '"'
				ELSE v END
	$$;
COMMENT ON FUNCTION registration_csv_field(text) IS
	'One CSV field: quoted when needed; a leading =, +, - or @ prefixed with a quote mark.';
REVOKE ALL ON FUNCTION registration_csv_field(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registration_csv_field(text) TO shilian_regulator, shilian_admin;

CREATE FUNCTION registration_followup_csv(station text) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
	SELECT 'licence_no,name,home_station,segment,state,operator_id,contact,registered_at' || E'\n'
		|| coalesce(string_agg(concat_ws(',', shilian.registration_csv_field(f.licence_no),
			shilian.registration_csv_field(f.name), f.home_station, f.segment, f.state,
			coalesce(f.operator_id::text, ''), shilian.registration_csv_field(f.contact),
			coalesce(to_char(f.registered_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"'), '')),
			E'\n'), '') || E'\n'
	  FROM shilian.registration_followup(station) f
	$$;
COMMENT ON FUNCTION registration_followup_csv(text) IS
	'registration_followup as CSV (RFC 4180, header line, times in Asia/Shanghai).';
REVOKE ALL ON FUNCTION registration_followup_csv(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registration_followup_csv(text) TO shilian_regulator, shilian_admin;
