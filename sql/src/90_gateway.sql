-- shilian install script, part 90: state kept for the REST gateway.
-- Idempotency keys: a POST retried with the same Idempotency-Key and the same
-- request returns the first response instead of making a second record. The
-- key is claimed in the request's own transaction, so a concurrent retry waits
-- for the first and then replays it; a failed request releases its key.

CREATE TABLE idempotency_key (
	principal    text NOT NULL,		-- role|operator|client|jurisdiction of the caller
	key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
	request_hash bytea NOT NULL,		-- sha256 of method, path and body
	status       int,
	response     text,
	created_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (principal, key)
);
COMMENT ON TABLE idempotency_key IS
	'Responses to POST requests sent with an Idempotency-Key header, replayed on retry (gateway state; prune with idempotency_prune).';

CREATE FUNCTION idempotency_claim(principal text, key text, request text,
	OUT claimed boolean, OUT same_request boolean, OUT status int, OUT response text)
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h bytea := sha256(convert_to(request, 'UTF8'));
BEGIN
	INSERT INTO shilian.idempotency_key AS k (principal, key, request_hash)
	VALUES (idempotency_claim.principal, idempotency_claim.key, h)
	ON CONFLICT DO NOTHING;
	IF FOUND THEN
		claimed := true; same_request := true;
		RETURN;
	END IF;
	SELECT false, k.request_hash = h, k.status, k.response
	  INTO claimed, same_request, status, response
	  FROM shilian.idempotency_key k
	 WHERE k.principal = idempotency_claim.principal AND k.key = idempotency_claim.key;
END
$$;
COMMENT ON FUNCTION idempotency_claim(text, text, text) IS
	'Gateway only: claim an idempotency key for a request, or return the stored response of the first request with that key.';
REVOKE ALL ON FUNCTION idempotency_claim(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_claim(text, text, text) TO shilian_gateway;

CREATE FUNCTION idempotency_store(principal text, key text, status int, response text)
	RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE shilian.idempotency_key k SET status = $3, response = $4
	 WHERE k.principal = $1 AND k.key = $2;
$$;
COMMENT ON FUNCTION idempotency_store(text, text, int, text) IS
	'Gateway only: store the response of the request that claimed an idempotency key.';
REVOKE ALL ON FUNCTION idempotency_store(text, text, int, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_store(text, text, int, text) TO shilian_gateway;

CREATE FUNCTION idempotency_prune(older_than interval DEFAULT '24 hours') RETURNS bigint
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
	WITH d AS (DELETE FROM shilian.idempotency_key WHERE created_at < now() - $1 RETURNING 1)
	SELECT count(*) FROM d;
$$;
COMMENT ON FUNCTION idempotency_prune(interval) IS
	'Delete idempotency keys older than the given age (default 24 hours); returns how many. Run it from cron.';
REVOKE ALL ON FUNCTION idempotency_prune(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_prune(interval) TO shilian_admin;
GRANT SELECT, INSERT, UPDATE ON idempotency_key TO shilian_gateway;
GRANT DELETE ON idempotency_key TO shilian_admin;
GRANT SELECT ON idempotency_key TO shilian_admin;

-- ---- API keys of system clients -----------------------------------------------
-- A key is shown once, when made; the database keeps its SHA-256 only. The
-- key carries a public id (sl_<id>_<secret>) so it is found by index and can
-- be named in logs and revoked without being known.
CREATE TABLE api_client_key (
	key_id      text PRIMARY KEY,
	client      text NOT NULL REFERENCES api_client (client) ON DELETE CASCADE,
	key_hash    bytea NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	revoked_at  timestamptz
);
CREATE INDEX api_client_key_client_idx ON api_client_key (client);
COMMENT ON TABLE api_client_key IS
	'API keys of system clients: public id, SHA-256 of the key (the key itself is never stored), revocation.';
SELECT pg_catalog.pg_extension_config_dump('api_client_key', '');

CREATE FUNCTION api_client_key_new(client text) RETURNS text
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id text := substr(replace(gen_random_uuid()::text, '-', ''), 1, 12);
	secret text := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
	key text := 'sl_' || id || '_' || secret;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = api_client_key_new.client) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown system client "%s"', client),
			HINT = 'Register it with shilian.api_client_add first.';
	END IF;
	INSERT INTO shilian.api_client_key (key_id, client, key_hash)
	VALUES (id, api_client_key_new.client, sha256(convert_to(key, 'UTF8')));
	RETURN key;
END
$$;
COMMENT ON FUNCTION api_client_key_new(text) IS
	'Admin: make an API key for a system client and return it; it is shown this once (only its hash is kept).';
REVOKE ALL ON FUNCTION api_client_key_new(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_key_new(text) TO shilian_admin;

CREATE FUNCTION api_client_key_revoke(key_id text) RETURNS boolean
	LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
	WITH r AS (UPDATE shilian.api_client_key k SET revoked_at = now()
				WHERE k.key_id = api_client_key_revoke.key_id AND k.revoked_at IS NULL RETURNING 1)
	SELECT count(*) > 0 FROM r;
$$;
COMMENT ON FUNCTION api_client_key_revoke(text) IS
	'Admin: revoke an API key by its public id (the part after sl_); true if it was live.';
REVOKE ALL ON FUNCTION api_client_key_revoke(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_key_revoke(text) TO shilian_admin;

-- The gateway's check of an X-API-Key: the client id, or NULL for a wrong,
-- revoked or malformed key or an inactive client.
CREATE FUNCTION api_client_authenticate(key text) RETURNS text
	LANGUAGE sql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.client FROM shilian.api_client_key k JOIN shilian.api_client c ON c.client = k.client
	 WHERE k.key_id = split_part(key, '_', 2) AND key LIKE 'sl\_%\_%'
	   AND k.key_hash = sha256(convert_to(key, 'UTF8'))
	   AND k.revoked_at IS NULL AND c.active;
$$;
COMMENT ON FUNCTION api_client_authenticate(text) IS
	'Gateway only: the system client an API key belongs to, or NULL (wrong, revoked, malformed key or inactive client).';
REVOKE ALL ON FUNCTION api_client_authenticate(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_authenticate(text) TO shilian_gateway;
-- admins list keys (ids and dates, never keys); RLS like the other tables
ALTER TABLE api_client_key ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_client_key_admin ON api_client_key TO shilian_admin USING (true);
GRANT SELECT (key_id, client, created_at, revoked_at) ON api_client_key TO shilian_admin;

-- ---- managing system clients (admins; REST under /v1/admin/clients) ---------
-- Invoker rights: the platform admin reads api_client and api_client_operator
-- through its policies and the key table's public columns (never key_hash).

GRANT SELECT (key_id, client, created_at, revoked_at) ON api_client_key TO shilian_admin;

-- One client as a document: id, name, kind, active, when registered, the
-- operators it is bound to and its keys by public id (NULL: no such client).
-- VOLATILE, so that it takes a fresh snapshot: the REST routes call it in the
-- statement that has just bound, unbound or registered (read-only otherwise).
CREATE FUNCTION api_client_info(client text) RETURNS jsonb
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	SELECT jsonb_build_object(
			'client', c.client, 'name', c.name, 'kind', c.kind, 'active', c.active,
			'created_at', c.created_at,
			'operators', coalesce((SELECT jsonb_agg(b.operator_id::text ORDER BY b.operator_id)
									 FROM shilian.api_client_operator b WHERE b.client = c.client), '[]'),
			'keys', coalesce((SELECT jsonb_agg(jsonb_build_object('key_id', k.key_id,
									 'created_at', k.created_at, 'revoked_at', k.revoked_at)
									 ORDER BY k.created_at, k.key_id)
								FROM shilian.api_client_key k WHERE k.client = c.client), '[]'))
	  FROM shilian.api_client c
	 WHERE c.client = api_client_info.client;
	END;
COMMENT ON FUNCTION api_client_info(text) IS
	'Admin: a system client as jsonb (client, name, kind, active, created_at, bound operators, keys by public id with revocation); NULL when unknown.';
REVOKE ALL ON FUNCTION api_client_info(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_info(text) TO shilian_admin;

CREATE FUNCTION api_clients() RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	SELECT coalesce(jsonb_agg(shilian.api_client_info(c.client) ORDER BY c.client), '[]')
	  FROM shilian.api_client c;
	END;
COMMENT ON FUNCTION api_clients() IS
	'Admin: every system client as api_client_info documents, ordered by client id.';
REVOKE ALL ON FUNCTION api_clients() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_clients() TO shilian_admin;

-- Change a client's name, kind or active flag (NULL: keep). Switching a
-- client off refuses its keys at once (api_client_authenticate checks it).
CREATE FUNCTION api_client_update(client text, name text DEFAULT NULL, kind text DEFAULT NULL,
		active boolean DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IS NOT NULL AND kind NOT IN ('own_system', 'market', 'canteen', 'other') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown system client kind "%s"', kind),
			HINT = 'Use own_system, market, canteen or other.';
	END IF;
	IF name IS NOT NULL AND btrim(name) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'a system client needs a name';
	END IF;
	UPDATE shilian.api_client c
	   SET name = coalesce(api_client_update.name, c.name),
		   kind = coalesce(api_client_update.kind, c.kind),
		   active = coalesce(api_client_update.active, c.active)
	 WHERE c.client = api_client_update.client;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN shilian.api_client_info(client);
END
$$;
COMMENT ON FUNCTION api_client_update(text, text, text, boolean) IS
	'Admin: change a system client''s name, kind or active flag (NULL keeps the value); returns api_client_info, NULL when unknown.';
REVOKE ALL ON FUNCTION api_client_update(text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_update(text, text, text, boolean) TO shilian_admin;

-- Revoke one key of one client: the key document, NULL when the client has
-- no such key (already revoked keys answer with their revocation time).
CREATE FUNCTION api_client_key_revoke(client text, key_id text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r record;
BEGIN
	UPDATE shilian.api_client_key k SET revoked_at = coalesce(k.revoked_at, now())
	 WHERE k.client = api_client_key_revoke.client AND k.key_id = api_client_key_revoke.key_id
	RETURNING k.key_id, k.client, k.created_at, k.revoked_at INTO r;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN jsonb_build_object('client', r.client, 'key_id', r.key_id,
							  'created_at', r.created_at, 'revoked_at', r.revoked_at);
END
$$;
COMMENT ON FUNCTION api_client_key_revoke(text, text) IS
	'Admin: revoke key key_id of a system client; returns the key document, NULL when the client has no such key.';
REVOKE ALL ON FUNCTION api_client_key_revoke(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_key_revoke(text, text) TO shilian_admin;
