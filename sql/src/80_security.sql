-- shilian install script, part 80: who sees what (docs/security.md).
-- Runs after every part that creates tables. Row-level security on every
-- table whose rows belong to an operator, one policy per role, keyed on the
-- request settings read through current_operator(), current_client() and
-- current_jurisdiction() (part 15). Tables are granted SELECT only: every
-- write goes through a record function that runs with definer rights
-- (its validation must see rows the caller may not) and checks the caller
-- in C (RecordCheckActor -> security.c). Each function's own rights
-- (SECURITY DEFINER, search_path, REVOKE/GRANT EXECUTE) stand next to its
-- CREATE FUNCTION, wherever it is defined, so that a function reads whole
-- and an upgrade step is a readable diff.

-- ---- system clients and the operators they upload for --------------------

CREATE TABLE api_client (
	client      text PRIMARY KEY CHECK (client ~ '^[A-Za-z0-9._-]{1,64}$'),
	name        text NOT NULL CHECK (name <> ''),
	-- own_system: an enterprise's own traceability system (自建系统), the
	-- numerator of the regulator's self-built upload rate; market and canteen:
	-- the platform's market and canteen sub-systems
	kind        text NOT NULL DEFAULT 'other'
		CHECK (kind IN ('own_system', 'market', 'canteen', 'other')),
	active      boolean NOT NULL DEFAULT true,
	created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE api_client IS
	'External systems (enterprise own systems, market and canteen sub-systems) that call as shilian_system with shilian.client set to client.';

CREATE TABLE api_client_operator (
	client      text NOT NULL REFERENCES api_client (client) ON DELETE CASCADE,
	operator_id bigint NOT NULL REFERENCES operator (id),
	bound_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (client, operator_id),
	-- who granted it (operator, regulator:J, admin; NULL before 0.3.0) and
	-- the client_bind entry on the operator's ledger chain
	bound_by    text,
	ledger_id   bigint
);
CREATE INDEX api_client_operator_operator_idx ON api_client_operator (operator_id);
COMMENT ON TABLE api_client_operator IS
	'Which operators a system client sees and records for.';

SELECT pg_catalog.pg_extension_config_dump('api_client', '');
SELECT pg_catalog.pg_extension_config_dump('api_client_operator', '');

CREATE FUNCTION api_client_add(client text, name text, kind text DEFAULT 'other') RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF client !~ '^[A-Za-z0-9._-]{1,64}$' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid system client id "%s"', client),
			HINT = 'Use 1 to 64 letters, digits, dots, underscores or hyphens.';
	END IF;
	IF kind NOT IN ('own_system', 'market', 'canteen', 'other') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown system client kind "%s"', kind),
			HINT = 'Use own_system, market, canteen or other.';
	END IF;
	IF btrim(name) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'a system client needs a name';
	END IF;
	INSERT INTO shilian.api_client (client, name, kind)
	VALUES (api_client_add.client, api_client_add.name, api_client_add.kind);
END
$$;
COMMENT ON FUNCTION api_client_add(text, text, text) IS
	'Admin: register a system client (its id is what shilian.client is set to for its requests) of kind own_system, market, canteen or other.';
REVOKE ALL ON FUNCTION api_client_add(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_add(text, text, text) TO shilian_admin;

-- Who may bind a client to an operator: the operator itself, a regulator of
-- its home jurisdiction, the admin (may_see: the operator's own records, the
-- regulator's subtree, everyone); never a system client, which would grant
-- itself. 42501-like SLA03 otherwise, checked before any lookup so that an
-- operator learns nothing about ids it may not act for. Returns who grants:
-- operator, regulator:J or admin (api_client_operator.bound_by).
CREATE FUNCTION api_client_binder(operator bigint) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	role text := current_setting('role');
BEGIN
	IF operator IS NULL OR role IN ('shilian_system', 'shilian_public')
	   OR NOT shilian.may_see(operator) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLA03',
			MESSAGE = 'this caller may not bind or unbind system clients for this operator',
			DETAIL = 'A binding is granted or withdrawn by the operator itself, by a regulator of its home jurisdiction or by the platform admin.';
	END IF;
	RETURN CASE role WHEN 'shilian_operator' THEN 'operator'
		WHEN 'shilian_regulator' THEN 'regulator:' || shilian.current_jurisdiction()
		ELSE 'admin' END;
END
$$;
COMMENT ON FUNCTION api_client_binder(bigint) IS
	'The caller who may bind system clients to the operator (operator, regulator:J or admin), or error SLA03.';
REVOKE ALL ON FUNCTION api_client_binder(bigint) FROM PUBLIC;

-- The one rule that binds a system client to an operator, by_whom granting
-- it: the binding and its client_bind entry on the operator's own ledger
-- chain (api_client_bind after its caller check; a registration request a
-- market's client made for its vendor, part 83). Binding twice is harmless.
CREATE FUNCTION api_client_bind_as(client text, operator bigint, by_whom text) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	entry bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = api_client_bind_as.client) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown system client "%s"', client),
			HINT = 'Register it with shilian.api_client_add first.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM shilian.operator o WHERE o.id = api_client_bind_as.operator) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown operator %s', operator);
	END IF;
	INSERT INTO shilian.api_client_operator (client, operator_id, bound_by)
	VALUES (api_client_bind_as.client, api_client_bind_as.operator, by_whom) ON CONFLICT DO NOTHING;
	IF FOUND THEN
		entry := shilian.ledger_append(operator, 'client_bind',
			jsonb_build_object('client', client, 'by', by_whom));
		UPDATE shilian.api_client_operator b SET ledger_id = entry
		 WHERE b.client = api_client_bind_as.client AND b.operator_id = api_client_bind_as.operator;
	END IF;
END
$$;
COMMENT ON FUNCTION api_client_bind_as(text, bigint, text) IS
	'Bind a system client to an operator as by_whom grants it, recorded as client_bind on the operator''s ledger chain (internal: api_client_bind, registration). P0002 for an unknown client or operator.';
REVOKE ALL ON FUNCTION api_client_bind_as(text, bigint, text) FROM PUBLIC;

-- Definer rights: the operator and the regulator write api_client_operator
-- and the ledger only through here, after api_client_binder. The grant is
-- an entry client_bind on the operator's own ledger chain.
CREATE FUNCTION api_client_bind(client text, operator bigint) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM shilian.api_client_bind_as(client, operator, shilian.api_client_binder(operator));
END
$$;
COMMENT ON FUNCTION api_client_bind(text, bigint) IS
	'Let a system client see and record for an operator; granted by the operator itself, a regulator of its jurisdiction or the admin (SLA03 otherwise) and recorded as client_bind on the operator''s ledger chain. P0002 for an unknown client or operator; binding twice is harmless.';
REVOKE ALL ON FUNCTION api_client_bind(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_bind(text, bigint) TO shilian_operator, shilian_regulator, shilian_admin;

CREATE FUNCTION api_client_unbind(client text, operator bigint) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	by_whom text := shilian.api_client_binder(operator);
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = api_client_unbind.client) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown system client "%s"', client);
	END IF;
	DELETE FROM shilian.api_client_operator b
	 WHERE b.client = api_client_unbind.client AND b.operator_id = api_client_unbind.operator;
	IF FOUND THEN
		PERFORM shilian.ledger_append(operator, 'client_unbind',
			jsonb_build_object('client', client, 'by', by_whom));
	END IF;
END
$$;
COMMENT ON FUNCTION api_client_unbind(text, bigint) IS
	'Withdraw a system client''s right to an operator; by the operator itself, a regulator of its jurisdiction or the admin (SLA03 otherwise), recorded as client_unbind on the operator''s ledger chain. P0002 for an unknown client; unbinding an operator not bound is harmless.';
REVOKE ALL ON FUNCTION api_client_unbind(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_unbind(text, bigint) TO shilian_operator, shilian_regulator, shilian_admin;

-- The bindings the caller may see, through the policies of api_client and
-- api_client_operator: an operator its own, a regulator those of its
-- subtree, a system client its own, the admin all (operator: only that one).
-- VOLATILE, like api_client_info, to see the binding its REST route has just made.
CREATE FUNCTION api_client_bindings(operator bigint DEFAULT NULL)
	RETURNS TABLE (client text, name text, kind text, operator bigint, bound_at timestamptz,
				   bound_by text, ledger_id bigint)
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	SELECT b.client, c.name, c.kind, b.operator_id, b.bound_at, b.bound_by, b.ledger_id
	  FROM shilian.api_client_operator b
	  LEFT JOIN shilian.api_client c ON c.client = b.client
	 WHERE api_client_bindings.operator IS NULL OR b.operator_id = api_client_bindings.operator
	 ORDER BY b.operator_id, b.client;
	END;
COMMENT ON FUNCTION api_client_bindings(bigint) IS
	'System client bindings the caller may see (an operator its own, a regulator its subtree''s, a system client its own, the admin all), optionally of one operator: client, name, kind, operator, bound_at, bound_by, ledger_id.';
REVOKE ALL ON FUNCTION api_client_bindings(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_bindings(bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The gateway's choice of the operator a system client's request acts for,
-- before any role switch (like api_client_authenticate): the named operator
-- when the active client is bound to it, else the client's only binding;
-- NULL otherwise. bindings counts the client's bindings (0 when inactive).
CREATE FUNCTION api_client_acting(client text, operator bigint, OUT acting bigint, OUT bindings bigint)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	WITH b AS (SELECT o.operator_id FROM shilian.api_client_operator o
				 JOIN shilian.api_client c ON c.client = o.client
				WHERE o.client = api_client_acting.client AND c.active)
	SELECT CASE WHEN api_client_acting.operator IS NOT NULL
				THEN (SELECT b.operator_id FROM b WHERE b.operator_id = api_client_acting.operator)
				WHEN (SELECT count(*) FROM b) = 1 THEN (SELECT b.operator_id FROM b) END,
		   (SELECT count(*) FROM b);
	END;
COMMENT ON FUNCTION api_client_acting(text, bigint) IS
	'Gateway only: the operator a system client''s request acts for (the named one if bound, else the only binding, else NULL) and how many operators the active client is bound to.';
REVOKE ALL ON FUNCTION api_client_acting(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_acting(text, bigint) TO shilian_gateway;

-- The acting operator of a request, set by the gateway after the role and
-- shilian.client: shilian.operator_id, transaction-local. A system client
-- may claim only an operator bound to it (may_see), so the setting can never
-- carry an unbound operator past this point (SLA02, 403 at the gateway).
CREATE FUNCTION set_acting_operator(operator text) RETURNS text
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM pg_catalog.set_config('shilian.operator_id', coalesce(operator, ''), true);
	IF coalesce(operator, '') <> '' AND pg_catalog.current_setting('role') = 'shilian_system'
	   AND NOT shilian.may_see(operator::bigint) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLA02',
			MESSAGE = format('system client "%s" is not bound to operator %s',
							 pg_catalog.current_setting('shilian.client'), operator),
			HINT = 'The operator, or a regulator of its jurisdiction, binds the client (api_client_bind).';
	END IF;
	RETURN operator;
END
$$;
COMMENT ON FUNCTION set_acting_operator(text) IS
	'Set shilian.operator_id for this transaction (the gateway, after the role and shilian.client); a system client only for an operator bound to it (SLA02 otherwise).';

-- ---- the sets the policies test membership in -----------------------------
-- subtree_stations and client_operators are plain STABLE SQL, inlined into
-- the policies, so the planner sees through them; subtree_operators and the
-- counterparties below read with definer rights (they name operator and
-- link, whose own policies name them back: see "A role in several groups").
-- A policy's sub-select stays a subplan (it is not pulled up into a join),
-- so the small side is built once per query: the stations of the subtree as
-- an array (an index probe on operator_station_idx), then the operator ids
-- hashed for the big tables.

-- The regulator's subtree: every jurisdiction whose ancestors (province ...
-- itself, kept by jurisdiction_add) include shilian.jurisdiction. GIN index
-- jurisdiction_ancestors_idx serves the @>; a county has tens of stations,
-- a province a few thousand, so this side is always small.
CREATE FUNCTION subtree_stations() RETURNS SETOF text
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT j.code FROM shilian.jurisdiction j
	 WHERE j.ancestors @> ARRAY[shilian.current_jurisdiction()]
	$$;
COMMENT ON FUNCTION subtree_stations() IS
	'Codes of the jurisdictions at or below shilian.jurisdiction (empty when unset).';

-- Definer rights: the policies of link, batch and the other tables owned
-- through an operator column name this set, and the policy of operator
-- names link (an operator's counterparties). Read with the caller's rights,
-- a role that is both an operator and a regulator planned operator -> link
-- -> subtree_operators -> operator -> ... until "stack depth limit
-- exceeded". As the owner it reads operator without row-level security:
-- the same rows, since the regulator's policy on operator is this very
-- test (station in subtree_stations()). Executed by the regulator role only
-- (its policies), never by PUBLIC: it must not tell anyone else who is at
-- home where.
CREATE FUNCTION subtree_operators() RETURNS SETOF bigint
	LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT o.id FROM shilian.operator o
	 WHERE o.station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s))
	$$;
COMMENT ON FUNCTION subtree_operators() IS
	'Ids of the operators whose home station lies at or below shilian.jurisdiction (definer rights, for the regulator''s policies).';
REVOKE ALL ON FUNCTION subtree_operators() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION subtree_operators() TO shilian_regulator;

CREATE FUNCTION client_operators() RETURNS SETOF bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT b.operator_id FROM shilian.api_client_operator b
	  JOIN shilian.api_client c ON c.client = b.client
	 WHERE b.client = shilian.current_client() AND c.active
	$$;
COMMENT ON FUNCTION client_operators() IS
	'Ids of the operators bound to the active system client named by shilian.client.';

-- The counterparties of a set of operators: the other party of each link
-- one of them is party to as seller or buyer (the rule of the link
-- policies link_operator and link_system below). The operator's and the
-- system client's policies on operator name them through the two
-- definer-rights sets after it, so that what each binding shows does not
-- depend on the other policies of link that apply to the caller: read with
-- the caller's rights, a role that is also a regulator would see the
-- counterparties of every link of its subtree (more than the union of its
-- bindings), and the regulator's policy on link leads back to operator.
-- Internal (no EXECUTE): only those two call it, as the owner.
CREATE FUNCTION link_counterparties(operators bigint[]) RETURNS SETOF bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT l.buyer_id FROM shilian.link l WHERE l.seller_id = ANY (operators)
	UNION
	SELECT l.seller_id FROM shilian.link l WHERE l.buyer_id = ANY (operators)
	$$;
COMMENT ON FUNCTION link_counterparties(bigint[]) IS
	'Internal: the other parties of the links a set of operators is party to (seller or buyer).';
REVOKE ALL ON FUNCTION link_counterparties(bigint[]) FROM PUBLIC;

CREATE FUNCTION operator_counterparties() RETURNS SETOF bigint
	LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT c FROM shilian.link_counterparties(ARRAY[shilian.current_operator()]) AS c
	$$;
COMMENT ON FUNCTION operator_counterparties() IS
	'Ids of the counterparties of shilian.operator_id: the other party of each of its links (definer rights, for the operator''s policy on operator).';
REVOKE ALL ON FUNCTION operator_counterparties() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_counterparties() TO shilian_operator;

CREATE FUNCTION client_counterparties() RETURNS SETOF bigint
	LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT c FROM shilian.link_counterparties(ARRAY(SELECT o FROM shilian.client_operators() AS o)) AS c
	$$;
COMMENT ON FUNCTION client_counterparties() IS
	'Ids of the counterparties of the operators bound to the active system client: the other party of each of their links (definer rights, for the system client''s policy on operator).';
REVOKE ALL ON FUNCTION client_counterparties() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION client_counterparties() TO shilian_system;

-- The buyer side of links is searched by every operator's policy (the
-- existing index covers only pending sales).
CREATE INDEX link_buyer_idx ON link (buyer_id);

-- ---- table privileges -------------------------------------------------------
-- SELECT only, filtered by the policies below; nothing for shilian_public
-- (it reads public_trace only) nor for the gateway login role itself.

GRANT SELECT ON jurisdiction, operator, licence, product, batch, link, inspection,
	consumption, ledger, ledger_leaf, merkle_node, checkpoint, api_client, api_client_operator
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
GRANT SELECT ON ledger_maintenance TO shilian_admin;
GRANT INSERT, UPDATE, DELETE ON api_client, api_client_operator TO shilian_admin;

-- ---- row-level security -----------------------------------------------------
-- Not FORCEd: the table owner (the superuser who ran CREATE EXTENSION) is
-- the definer of the record functions, whose validation must see every row;
-- no request ever runs as the owner. jurisdiction, merkle_node and
-- checkpoint belong to nobody (published reference data and tree heads);
-- idempotency_key (part 90) is granted to the gateway and admin only.

ALTER TABLE operator ENABLE ROW LEVEL SECURITY;
ALTER TABLE licence ENABLE ROW LEVEL SECURITY;
ALTER TABLE product ENABLE ROW LEVEL SECURITY;
ALTER TABLE batch ENABLE ROW LEVEL SECURITY;
ALTER TABLE link ENABLE ROW LEVEL SECURITY;
ALTER TABLE inspection ENABLE ROW LEVEL SECURITY;
ALTER TABLE consumption ENABLE ROW LEVEL SECURITY;
-- their partitions are granted to no role: with row-level security on and
-- no policy, not even a grant made by mistake shows a row (every role reads
-- through the partitioned table and its policies); partitions_ahead()
-- enables it on every month partition it makes, as on the default one
ALTER TABLE inspection_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE consumption_default ENABLE ROW LEVEL SECURITY;
-- ledger, ledger_leaf, ledger_maintenance: enabled in part 50, before its
-- DDL guard (which refuses ALTER TABLE on ledger tables).
ALTER TABLE api_client ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_client_operator ENABLE ROW LEVEL SECURITY;

-- Admin sees every row of every table it is granted.
DO $admin$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['operator', 'licence', 'product', 'batch', 'link', 'inspection',
							 'consumption', 'ledger', 'ledger_leaf', 'ledger_maintenance',
							 'api_client', 'api_client_operator']
	LOOP
		EXECUTE format('CREATE POLICY %I ON shilian.%I TO shilian_admin USING (true) WITH CHECK (true)',
					   t || '_admin', t);
	END LOOP;
END
$admin$;

-- Rows owned by one operator through one column: its own, its bound
-- operators' (system), its subtree's (regulator).
DO $owned$
DECLARE
	t text[];
BEGIN
	FOREACH t SLICE 1 IN ARRAY ARRAY[
		['batch', 'owner_id'], ['inspection', 'operator_id'], ['consumption', 'operator_id'],
		['ledger', 'operator_id'], ['ledger_leaf', 'operator_id']]
	LOOP
		EXECUTE format('CREATE POLICY %I ON shilian.%I FOR SELECT TO shilian_operator'
					   ' USING (%I = shilian.current_operator())', t[1] || '_operator', t[1], t[2]);
		EXECUTE format('CREATE POLICY %I ON shilian.%I FOR SELECT TO shilian_system'
					   ' USING (%I IN (SELECT c FROM shilian.client_operators() AS c))',
					   t[1] || '_system', t[1], t[2]);
		EXECUTE format('CREATE POLICY %I ON shilian.%I FOR SELECT TO shilian_regulator'
					   ' USING (%I IN (SELECT s FROM shilian.subtree_operators() AS s))',
					   t[1] || '_regulator', t[1], t[2]);
	END LOOP;
END
$owned$;

-- Links: the ones the operator is party to, as seller or buyer — never its
-- counterparties' other links.
CREATE POLICY link_operator ON link FOR SELECT TO shilian_operator
	USING (seller_id = shilian.current_operator() OR buyer_id = shilian.current_operator());
CREATE POLICY link_system ON link FOR SELECT TO shilian_system
	USING (seller_id IN (SELECT c FROM shilian.client_operators() AS c)
		OR buyer_id IN (SELECT c FROM shilian.client_operators() AS c));
CREATE POLICY link_regulator ON link FOR SELECT TO shilian_regulator
	USING (seller_id IN (SELECT s FROM shilian.subtree_operators() AS s)
		OR buyer_id IN (SELECT s FROM shilian.subtree_operators() AS s));

-- Operators: its own row, and the rows of its counterparties (the other
-- parties of its links: operator_counterparties), whose name, address,
-- contact and licence its records must carry. A regulator: the operators
-- at home in its subtree.
CREATE POLICY operator_operator ON operator FOR SELECT TO shilian_operator
	USING (id = shilian.current_operator()
		OR id IN (SELECT c FROM shilian.operator_counterparties() AS c));
CREATE POLICY operator_system ON operator FOR SELECT TO shilian_system
	USING (id IN (SELECT c FROM shilian.client_operators() AS c)
		OR id IN (SELECT c FROM shilian.client_counterparties() AS c));
CREATE POLICY operator_regulator ON operator FOR SELECT TO shilian_regulator
	USING (station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));

-- Licences: of the operators it sees (itself and its counterparties).
CREATE POLICY licence_operator ON licence FOR SELECT TO shilian_operator
	USING (operator_id IN (SELECT o.id FROM shilian.operator o));
CREATE POLICY licence_system ON licence FOR SELECT TO shilian_system
	USING (operator_id IN (SELECT o.id FROM shilian.operator o));
CREATE POLICY licence_regulator ON licence FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));

-- Products: the shared catalogue (no owner), its own, and those of the
-- batches it sees (a received batch keeps the seller's product).
CREATE POLICY product_operator ON product FOR SELECT TO shilian_operator
	USING (owner_id IS NULL OR owner_id = shilian.current_operator()
		OR id IN (SELECT b.product_id FROM shilian.batch b));
CREATE POLICY product_system ON product FOR SELECT TO shilian_system
	USING (owner_id IS NULL OR owner_id IN (SELECT c FROM shilian.client_operators() AS c)
		OR id IN (SELECT b.product_id FROM shilian.batch b));
CREATE POLICY product_regulator ON product FOR SELECT TO shilian_regulator
	USING (owner_id IS NULL OR owner_id IN (SELECT s FROM shilian.subtree_operators() AS s)
		OR id IN (SELECT b.product_id FROM shilian.batch b));

-- System clients: their own client row and bindings; an operator sees which
-- clients are bound to it, a regulator the bindings in its subtree.
CREATE POLICY api_client_system ON api_client FOR SELECT TO shilian_system
	USING (client = shilian.current_client());
CREATE POLICY api_client_operator_system ON api_client_operator FOR SELECT TO shilian_system
	USING (client = shilian.current_client());
CREATE POLICY api_client_operator_operator ON api_client_operator FOR SELECT TO shilian_operator
	USING (operator_id = shilian.current_operator());
CREATE POLICY api_client_operator_regulator ON api_client_operator FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));
-- The clients bound to the operators whose bindings it sees (their name and
-- kind: who acts for the operator), never the others.
CREATE POLICY api_client_operator ON api_client FOR SELECT TO shilian_operator
	USING (client IN (SELECT b.client FROM shilian.api_client_operator b));
CREATE POLICY api_client_regulator ON api_client FOR SELECT TO shilian_regulator
	USING (client IN (SELECT b.client FROM shilian.api_client_operator b));

-- The public reads no table directly (docs/security.md, P1); tree heads
-- reach it through the proof functions.
REVOKE SELECT ON checkpoint FROM shilian_public;
