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

CREATE FUNCTION idempotency_prune(older_than interval DEFAULT '24 hours') RETURNS bigint
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
	WITH d AS (DELETE FROM shilian.idempotency_key WHERE created_at < now() - $1 RETURNING 1)
	SELECT count(*) FROM d;
$$;
COMMENT ON FUNCTION idempotency_prune(interval) IS
	'Delete idempotency keys older than the given age (default 24 hours); returns how many. Run it from cron.';

REVOKE ALL ON FUNCTION idempotency_claim(text, text, text), idempotency_store(text, text, int, text),
	idempotency_prune(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_claim(text, text, text), idempotency_store(text, text, int, text)
	TO shilian_gateway;
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
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
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

REVOKE ALL ON FUNCTION api_client_key_new(text), api_client_key_revoke(text),
	api_client_authenticate(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_key_new(text), api_client_key_revoke(text) TO shilian_admin;
GRANT EXECUTE ON FUNCTION api_client_authenticate(text) TO shilian_gateway;
-- admins list keys (ids and dates, never keys); RLS like the other tables
ALTER TABLE api_client_key ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_client_key_admin ON api_client_key TO shilian_admin USING (true);
GRANT SELECT (key_id, client, created_at, revoked_at) ON api_client_key TO shilian_admin;
