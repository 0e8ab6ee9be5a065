-- shilian upgrade script 0.2.0 -> 0.3.0, part 82: a market's system client
-- is bound to the vendors it registered (issue 24): the binding rule of
-- api_client_bind as api_client_bind_as, called by api_client_bind and by
-- the registration of a request the client made (part 80).

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
CREATE OR REPLACE FUNCTION api_client_bind(client text, operator bigint) RETURNS void
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
