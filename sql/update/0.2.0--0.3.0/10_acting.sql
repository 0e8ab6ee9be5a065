-- shilian upgrade script 0.2.0 -> 0.3.0, part 10: systems acting for their
-- operators (issue 17, docs/security.md "System clients"). A binding
-- records who granted it and its ledger entry; operators and regulators
-- grant and withdraw bindings themselves; the gateway picks and the
-- database verifies the acting operator of a system client's request.

ALTER TABLE api_client_operator ADD COLUMN bound_by text, ADD COLUMN ledger_id bigint;

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

-- Definer rights: the operator and the regulator write api_client_operator
-- and the ledger only through here, after api_client_binder. The grant is
-- an entry client_bind on the operator's own ledger chain.
CREATE OR REPLACE FUNCTION api_client_bind(client text, operator bigint) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	by_whom text := shilian.api_client_binder(operator);
	entry bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = api_client_bind.client) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown system client "%s"', client),
			HINT = 'Register it with shilian.api_client_add first.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM shilian.operator o WHERE o.id = api_client_bind.operator) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown operator %s', operator);
	END IF;
	INSERT INTO shilian.api_client_operator (client, operator_id, bound_by)
	VALUES (api_client_bind.client, api_client_bind.operator, by_whom) ON CONFLICT DO NOTHING;
	IF FOUND THEN
		entry := shilian.ledger_append(operator, 'client_bind',
			jsonb_build_object('client', client, 'by', by_whom));
		UPDATE shilian.api_client_operator b SET ledger_id = entry
		 WHERE b.client = api_client_bind.client AND b.operator_id = api_client_bind.operator;
	END IF;
END
$$;
COMMENT ON FUNCTION api_client_bind(text, bigint) IS
	'Let a system client see and record for an operator; granted by the operator itself, a regulator of its jurisdiction or the admin (SLA03 otherwise) and recorded as client_bind on the operator''s ledger chain. P0002 for an unknown client or operator; binding twice is harmless.';
REVOKE ALL ON FUNCTION api_client_bind(text, bigint) FROM PUBLIC, shilian_admin;
GRANT EXECUTE ON FUNCTION api_client_bind(text, bigint) TO shilian_operator, shilian_regulator, shilian_admin;

CREATE OR REPLACE FUNCTION api_client_unbind(client text, operator bigint) RETURNS void
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
REVOKE ALL ON FUNCTION api_client_unbind(text, bigint) FROM PUBLIC, shilian_admin;
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

-- The clients bound to the operators whose bindings it sees (their name and
-- kind: who acts for the operator), never the others.
CREATE POLICY api_client_operator ON api_client FOR SELECT TO shilian_operator
	USING (client IN (SELECT b.client FROM shilian.api_client_operator b));
CREATE POLICY api_client_regulator ON api_client FOR SELECT TO shilian_regulator
	USING (client IN (SELECT b.client FROM shilian.api_client_operator b));
