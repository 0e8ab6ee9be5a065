-- part 26 (sql/src/20_records.sql, 40_trace.sql, 85_trace_security.sql):
-- public access by per-lot token (the public trace cannot be enumerated and
-- names only the producer and the final seller), recall aggregates scoped to
-- an operator's own lots, keyset paging of an operator's batches.

-- ---- 20_records: the batch index in key order, the page cursor ---------------
DROP INDEX batch_owner_idx;
-- (owner, created_at, id): an operator's batches newest first, paged by key
-- (GET /v1/batches?after=), read as far as the page and no further
CREATE INDEX batch_owner_idx ON batch (owner_id, created_at, id);

-- The key of a page of the acting operator's batches (newest first): the
-- creation time of its batch with the given id, the last row of the page
-- before. Read with the caller's rights; a batch that is not the acting
-- operator's is no cursor (SLP02), so a page never starts in another's rows.
CREATE FUNCTION batch_cursor(after bigint) RETURNS timestamptz
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	at timestamptz;
BEGIN
	SELECT b.created_at INTO at FROM shilian.batch b
	 WHERE b.id = batch_cursor.after AND b.owner_id = shilian.current_operator();
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLP02',
			MESSAGE = format('unknown page cursor %s', after),
			DETAIL = 'A cursor is the id of the last batch of the page before, one of the acting operator''s batches.',
			HINT = 'Follow the Link rel="next" of the page before, or leave "after" out for the first page.';
	END IF;
	RETURN at;
END;
$$;
COMMENT ON FUNCTION batch_cursor(bigint) IS
	'The creation time of the acting operator''s batch with this id, the key a page of its batches continues after (GET /v1/batches?after=); SLP02 if it is not one of its batches.';

-- ---- 40_trace: the public token and the consumer's view -----------------------
-- ---- public access ------------------------------------------------------------
-- The code on a package is public and its format is guessable (region,
-- serial, check digit), so the consumer's page asks for a second, keyed part:
-- the lot's token, HMAC-SHA256 of the code under a per-database secret, 50
-- bits as 10 base32 characters (extension/core/lottoken.c), printed with the
-- code in the QR / Digital Link. Without the secret no token can be made, so
-- guessing codes finds nothing (docs/security.md).

-- The secret: drawn from the server's strong random source at CREATE
-- EXTENSION; no role has any privilege on the table (definer-rights
-- functions read it). pg_dump keeps it (config dump), so printed tokens stay
-- valid after a restore: the restore's CREATE EXTENSION draws a new row and
-- the dump brings back the old one, and the oldest row is the one in use.
CREATE TABLE public_secret (
	secret     bytea PRIMARY KEY CHECK (length(secret) = 32),
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public_secret IS
	'The key of the public lot tokens (the oldest row is in use); readable by no role, only through public_token and public_trace.';
REVOKE ALL ON public_secret FROM PUBLIC;
ALTER TABLE public_secret ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('public_secret', '');

CREATE FUNCTION lot_secret_new() RETURNS bytea
	AS 'MODULE_PATHNAME', 'sl_lot_secret_new'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION lot_secret_new() IS
	'32 bytes from the server''s strong random source (pg_strong_random): a new key for public_secret.';
CREATE FUNCTION lot_token(secret bytea, code trace_code) RETURNS text
	AS 'MODULE_PATHNAME', 'sl_lot_token_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lot_token(bytea, trace_code) IS
	'The public token of a code under a key: HMAC-SHA256(key, ''shilian-lot-token-v1'' 0x00 code), first 50 bits as 10 lower-case Crockford base32 characters.';
CREATE FUNCTION lot_token_ok(secret bytea, code trace_code, token text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sl_lot_token_ok_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION lot_token_ok(bytea, trace_code, text) IS
	'Whether a token (any case) is the code''s under a key, compared in constant time; false for NULLs.';
CREATE FUNCTION lot_secret() RETURNS bytea
	LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT s.secret FROM shilian.public_secret s ORDER BY s.created_at, s.secret LIMIT 1);
COMMENT ON FUNCTION lot_secret() IS
	'The key of the public tokens in use (the oldest row of public_secret); executable by no role.';
REVOKE ALL ON FUNCTION lot_secret_new(), lot_token(bytea, trace_code),
	lot_token_ok(bytea, trace_code, text), lot_secret() FROM PUBLIC;
INSERT INTO public_secret (secret) VALUES (shilian.lot_secret_new());

-- The token of a lot, for whom may see the lot: its holder, a system client
-- bound to it, a regulator above it, the admin. Any other caller is told the
-- batch is unknown, as for a code no batch has (no oracle for lots).
CREATE FUNCTION public_token(code trace_code) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	holder bigint;
BEGIN
	SELECT b.owner_id INTO holder FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code;
	IF holder IS NULL OR NOT shilian.may_see(holder) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR03',
			MESSAGE = format('unknown batch %s', code),
			DETAIL = 'No batch has this trace code.';
	END IF;
	RETURN shilian.lot_token(shilian.lot_secret(), code);
END;
$$;
COMMENT ON FUNCTION public_token(trace_code) IS
	'The public token of a lot, to print with its code (QR / Digital Link): for the lot''s holder and those who may see it; SLR03 for anyone else, as for an unknown code.';

-- Where the consumer's page of a lot is, relative to the gateway:
-- /v1/public/trace/<code>?t=<token>.
CREATE FUNCTION public_path(code trace_code) RETURNS text
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	RETURN '/v1/public/trace/' || code::text || '?t=' || shilian.public_token(code);
COMMENT ON FUNCTION public_path(trace_code) IS
	'The path of a lot''s public trace page on the gateway, with its token: /v1/public/trace/<code>?t=<token> (public_token''s rules).';

DROP FUNCTION public_trace(trace_code);

-- The consumer's view: the custody chain of this batch only (backward along
-- sales, to the lot where it was produced, processed or first entered the
-- chain), the producer and its licence, the region of origin and the
-- inspection results along the chain; no quantities, prices, customers or
-- sibling branches. Only the producer and the final seller (the holder of
-- this lot) are named; the holders between them appear by region and
-- segment. A wrong or missing token is refused exactly as an unknown code
-- (SLP01), and the token is checked before any lookup, so the answer and
-- its cost say nothing about which codes exist. SECURITY DEFINER so that
-- the public role needs only EXECUTE on this function.
CREATE FUNCTION public_trace(code trace_code, token text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	root shilian.batch;
	result jsonb;
BEGIN
	IF code IS NULL THEN
		RETURN NULL;
	END IF;
	IF shilian.lot_token_ok(shilian.lot_secret(), code, token) THEN
		SELECT * INTO root FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code;
	END IF;
	IF root.id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLP01',
			MESSAGE = format('no public trace for %s with this token', code),
			DETAIL = 'Either no lot has this code or the token is not the one printed with it.',
			HINT = 'Scan the QR code on the package, or type the code and the token printed next to it.';
	END IF;
	-- each row: a lot of the chain and the sale it came in by (the earliest
	-- receipt of a sale, for a lot created by a receipt), followed upstream
	WITH RECURSIVE chain AS (
		SELECT b.id, b.owner_id, 0 AS step,
			CASE WHEN b.origin = 'received' THEN (SELECT l.id FROM shilian.link l
				WHERE l.to_batch = b.id AND l.kind = 'ship' AND l.status = 'received'
				ORDER BY l.received_at, l.id LIMIT 1) END AS in_link
		  FROM shilian.batch b WHERE b.id = root.id
		UNION ALL
		SELECT s.id, s.owner_id, c.step + 1,
			CASE WHEN s.origin = 'received' THEN (SELECT l2.id FROM shilian.link l2
				WHERE l2.to_batch = s.id AND l2.kind = 'ship' AND l2.status = 'received'
				ORDER BY l2.received_at, l2.id LIMIT 1) END
		  FROM chain c JOIN shilian.link l ON l.id = c.in_link
		  JOIN shilian.batch s ON s.id = l.from_batch
		 WHERE c.step < 1000
	)
	SELECT jsonb_build_object(
		'code', code,
		'product', (SELECT jsonb_strip_nulls(jsonb_build_object('name', p.name, 'category', p.category,
				'spec', p.spec, 'gtin', p.gtin))
			FROM shilian.product p WHERE p.id = root.product_id),
		'produced_on', root.produced_on, 'expires_on', root.expires_on,
		'producer', (SELECT jsonb_build_object('name', o.name,
				'licence', (SELECT lc.licence_no FROM shilian.licence lc
					WHERE lc.operator_id = o.id ORDER BY lc.valid_to DESC, lc.id LIMIT 1),
				'origin', ob.origin)
			FROM chain c JOIN shilian.batch ob ON ob.id = c.id JOIN shilian.operator o ON o.id = c.owner_id
			ORDER BY c.step DESC LIMIT 1),
		'origin_region', (SELECT jsonb_build_object('code', j.code, 'name', j.name)
			FROM chain c JOIN shilian.operator o ON o.id = c.owner_id
			JOIN shilian.jurisdiction j ON j.code = left(o.station, 6)
			ORDER BY c.step DESC LIMIT 1),
		-- the producer (the last step up) and the final seller (this lot's
		-- holder) by name, the holders between them by region and segment
		'custody', (SELECT jsonb_agg(jsonb_build_object('step', mx.n - c.step,
				'segment', o.segment, 'region', left(o.station, 6),
				'received_on', (SELECT shilian.platform_date(l.received_at) FROM shilian.link l WHERE l.id = c.in_link))
				|| CASE WHEN c.step IN (0, mx.n) THEN jsonb_build_object('holder', o.name) ELSE '{}' END
				ORDER BY c.step DESC)
			FROM chain c JOIN shilian.operator o ON o.id = c.owner_id
			CROSS JOIN (SELECT max(step) AS n FROM chain) mx),
		'inspections', (SELECT coalesce(jsonb_agg(jsonb_build_object('kind', i.kind,
				'result', i.result, 'on', shilian.platform_date(i.inspected_at), 'step', mx.n - c.step)
				|| CASE WHEN i.operator_id = c.owner_id AND c.step IN (0, mx.n)
					THEN jsonb_build_object('by', o.name) ELSE '{}' END
				ORDER BY i.inspected_at, i.id), '[]')
			FROM chain c JOIN shilian.inspection i ON i.batch_id = c.id
			JOIN shilian.operator o ON o.id = i.operator_id
			CROSS JOIN (SELECT max(step) AS n FROM chain) mx))
	  INTO result;
	RETURN result;
END;
$$;
COMMENT ON FUNCTION public_trace(trace_code, text) IS
	'The consumer view of a code with its token: product, producer and licence, region of origin, custody chain of this lot (holders between producer and final seller by region and segment only) and its inspection results; no quantities, prices or other customers. SLP01 for a wrong or missing token as for an unknown code.';

-- ---- 40_trace: recall aggregates over the caller's own lots ---------------------
-- The aggregates of a recall span its holders: a follower (part 85) and any
-- regulator read them over every target; an operator or a system client
-- over the targets it may see (its own lots), and a recall with none of its
-- lots is unknown to it, as a recall that does not exist.
CREATE OR REPLACE FUNCTION recall_status(id bigint,
		OUT status text, OUT targets bigint, OUT acknowledged bigint, OUT outstanding bigint,
		OUT holders bigint, OUT holders_outstanding bigint,
		OUT on_hand_outstanding qty[], OUT recovered qty[])
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	whole boolean := shilian.recall_follows(id) OR current_setting('role') = 'shilian_regulator';
BEGIN
	SELECT r.status INTO status FROM shilian.recall r WHERE r.id = recall_status.id
	   AND (whole OR EXISTS (SELECT 1 FROM shilian.recall_target t
							  WHERE t.recall_id = r.id AND shilian.may_see(t.operator_id)));
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	SELECT count(*), count(t.acked_at), count(*) - count(t.acked_at),
		   count(DISTINCT t.operator_id), count(DISTINCT t.operator_id) FILTER (WHERE t.acked_at IS NULL)
	  INTO targets, acknowledged, outstanding, holders, holders_outstanding
	  FROM shilian.recall_target t WHERE t.recall_id = recall_status.id
	   AND (whole OR shilian.may_see(t.operator_id));
	-- quantities of different dimensions cannot be added: one sum per dimension
	SELECT array_agg(s ORDER BY d) INTO on_hand_outstanding FROM (
		SELECT shilian.qty_dimension(t.qty_on_hand) d, shilian.sum(t.qty_on_hand) s
		  FROM shilian.recall_target t WHERE t.recall_id = recall_status.id AND t.acked_at IS NULL
		   AND (whole OR shilian.may_see(t.operator_id))
		 GROUP BY 1) x;
	SELECT array_agg(s ORDER BY d) INTO recovered FROM (
		SELECT shilian.qty_dimension(t.qty_recovered) d, shilian.sum(t.qty_recovered) s
		  FROM shilian.recall_target t WHERE t.recall_id = recall_status.id AND t.qty_recovered IS NOT NULL
		   AND (whole OR shilian.may_see(t.operator_id))
		 GROUP BY 1) x;
END;
$$;
COMMENT ON FUNCTION recall_status(bigint) IS
	'Progress of a recall: open/closed, targets acknowledged and outstanding, holders outstanding, on-hand quantity outstanding and quantity recovered (one sum per dimension); for an operator or a system client, over its own lots only.';
-- part 85 fixes its search_path
ALTER FUNCTION recall_status(bigint) SET search_path = pg_catalog, pg_temp;

-- ---- 40_trace: privileges of the public functions ----------------------------------
REVOKE ALL ON FUNCTION public_trace(trace_code, text), public_token(trace_code), public_path(trace_code)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_trace(trace_code, text)
	TO shilian_public, shilian_operator, shilian_regulator, shilian_system, shilian_admin;
GRANT EXECUTE ON FUNCTION public_token(trace_code), public_path(trace_code)
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
