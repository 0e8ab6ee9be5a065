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
