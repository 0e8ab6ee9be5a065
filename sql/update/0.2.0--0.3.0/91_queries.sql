-- shilian upgrade script 0.2.0 -> 0.3.0, part 91: EPCIS named queries under
-- /epcis/queries (issue 18; h-queries): the table epcis_named_query (part 75)
-- with its policy (part 89_epcis_security) and the epcis_named_query_*
-- functions, which validate and run through epcis_query.

-- ---- named queries (EPCIS 2.0 REST binding: /queries) -------------------------
-- A caller's saved SimpleEventQuery (命名查询): a name and its parameters,
-- validated at creation by epcis_query itself (one place), run through it
-- with the same paging. Owned by the caller: an operator, a system client, a
-- regulator's jurisdiction, or the admins. Subscriptions are not kept here.
CREATE TABLE epcis_named_query (
	owner      text NOT NULL,		-- epcis_query_owner() of the creator
	name       text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
	params     jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (owner, name)
);
COMMENT ON TABLE epcis_named_query IS
	'EPCIS named queries (/epcis/queries): per owner (operator, system client, jurisdiction, admin) a name and its SimpleEventQuery parameters.';
SELECT pg_catalog.pg_extension_config_dump('epcis_named_query', '');

CREATE FUNCTION epcis_query_owner() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN CASE current_user::text
	WHEN 'shilian_operator' THEN 'operator:' || shilian.current_operator()
	WHEN 'shilian_system' THEN 'client:' || shilian.current_client()
	WHEN 'shilian_regulator' THEN 'regulator:' || shilian.current_jurisdiction()
	WHEN 'shilian_admin' THEN 'admin' END;
COMMENT ON FUNCTION epcis_query_owner() IS
	'Who owns the named queries the caller creates and sees: operator:<id>, client:<id>, regulator:<jurisdiction> or admin; NULL for another role.';

-- The caller's named query; SLE19 (NoSuchResourceException) when it has none of that name.
CREATE FUNCTION epcis_named_query_get(name text) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r jsonb;
BEGIN
	SELECT jsonb_build_object('name', q.name, 'query', q.params, 'createdAt', q.created_at) INTO r
	  FROM shilian.epcis_named_query q
	 WHERE q.owner = shilian.epcis_query_owner() AND q.name = epcis_named_query_get.name;
	IF r IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE19', MESSAGE = format('no named query "%s"', name),
			DETAIL = 'NoSuchResourceException.', HINT = 'Named queries are per caller: create it with POST /epcis/queries.';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION epcis_named_query_get(text) IS
	'The caller''s named query {name, query, createdAt}; SLE19 when the caller has none of that name.';

-- Create a named query: the name (SLE18 when malformed) and the parameters,
-- validated by epcis_query (SLE07, QueryParameterException, as on /events);
-- nextPageToken belongs to a run, not to a query. A name taken is 23505.
CREATE FUNCTION epcis_named_query_create(name text, params jsonb) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF name IS NULL OR name !~ '^[A-Za-z0-9._-]{1,64}$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE18', MESSAGE = format('invalid query name %s', coalesce(quote_literal(name), 'NULL')),
			HINT = 'A query name is 1 to 64 letters, digits, ".", "_" or "-".';
	END IF;
	IF shilian.epcis_query_owner() IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'named queries need an operator, system client, regulator or admin';
	END IF;
	IF jsonb_typeof(params) = 'object' AND params ? 'nextPageToken' THEN
		PERFORM shilian.epcis_query_refuse('nextPageToken', 'not part of a named query', 'Pass it when running the query.');
	END IF;
	-- one validation: the query itself (a query matching more than maxEventCount is still a valid query)
	BEGIN
		PERFORM shilian.epcis_query(params);
	EXCEPTION WHEN SQLSTATE 'SLE08' THEN
		NULL;
	END;
	BEGIN
		INSERT INTO shilian.epcis_named_query (owner, name, params)
		VALUES (shilian.epcis_query_owner(), name, params);
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = format('a named query "%s" exists', name),
			HINT = 'Delete it first, or choose another name.';
	END;
	RETURN shilian.epcis_named_query_get(name);
END
$$;
COMMENT ON FUNCTION epcis_named_query_create(text, jsonb) IS
	'Create the caller''s named query (EPCIS createQuery): parameters validated by epcis_query (SLE07), SLE18 for a malformed name, 23505 for a name taken.';

-- The caller's named queries, by name.
CREATE FUNCTION epcis_named_queries() RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT jsonb_agg(jsonb_build_object('name', q.name, 'query', q.params, 'createdAt', q.created_at)
                                  ORDER BY q.name)
                   FROM shilian.epcis_named_query q WHERE q.owner = shilian.epcis_query_owner()), '[]');
COMMENT ON FUNCTION epcis_named_queries() IS
	'The caller''s named queries [{name, query, createdAt}], by name.';

-- Delete the caller's named query; returns it. SLE19 when there is none.
CREATE FUNCTION epcis_named_query_delete(name text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r jsonb := shilian.epcis_named_query_get(name);
BEGIN
	DELETE FROM shilian.epcis_named_query q
	 WHERE q.owner = shilian.epcis_query_owner() AND q.name = epcis_named_query_delete.name;
	RETURN r;
END
$$;
COMMENT ON FUNCTION epcis_named_query_delete(text) IS
	'Delete the caller''s named query and return it; SLE19 when the caller has none of that name.';

-- Run the caller's named query through epcis_query: its parameters, with
-- this page's perPage and nextPageToken when given. SLE19 when there is none.
CREATE FUNCTION epcis_named_query_run(name text, per_page text DEFAULT NULL, next_page_token text DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN shilian.epcis_query((shilian.epcis_named_query_get(name) -> 'query')
	|| jsonb_strip_nulls(jsonb_build_object('perPage', per_page, 'nextPageToken', next_page_token)));
COMMENT ON FUNCTION epcis_named_query_run(text, text, text) IS
	'The EPCISQueryDocument of the caller''s named query (epcis_query with its parameters, perPage and nextPageToken of this page when given); SLE19 when the caller has none of that name.';

REVOKE ALL ON FUNCTION epcis_query_owner(), epcis_named_query_get(text), epcis_named_query_create(text, jsonb),
	epcis_named_queries(), epcis_named_query_delete(text), epcis_named_query_run(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_query_owner(), epcis_named_query_get(text), epcis_named_query_create(text, jsonb),
	epcis_named_queries(), epcis_named_query_delete(text), epcis_named_query_run(text, text, text)
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- Named queries (part 75): each owner reads, creates and deletes its own
-- (epcis_query_owner()), through the invoker-rights epcis_named_query_*
-- functions; nobody sees another's.
GRANT SELECT, INSERT, DELETE ON epcis_named_query
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE epcis_named_query ENABLE ROW LEVEL SECURITY;
CREATE POLICY epcis_named_query_own ON epcis_named_query
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (owner = shilian.epcis_query_owner()) WITH CHECK (owner = shilian.epcis_query_owner());
