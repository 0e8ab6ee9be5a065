-- shilian install script, part 40: trace and recall (docs/trace.md). The
-- walks are C (extension/trace.c); the recall case is a table of targets
-- materialized from one walk, driven to closing by acknowledgements, each step
-- appended to the ledger.

-- ---- trace ------------------------------------------------------------------

CREATE FUNCTION trace_forward(code trace_code, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (batch trace_code, holder bigint, depth integer, via_link bigint,
		qty_reached qty, qty_on_hand qty, status text)
	AS 'MODULE_PATHNAME', 'sl_trace_forward'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION trace_forward(trace_code, integer, timestamptz) IS
	'Every batch downstream of a batch over links received by as_of: holder, depth, first link, quantity of the suspect lot that reached it (in the suspect lot''s unit) and quantity on hand; each batch once.';
REVOKE ALL ON FUNCTION trace_forward(trace_code, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_forward(trace_code, integer, timestamptz) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION trace_backward(code trace_code, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (batch trace_code, holder bigint, depth integer, via_link bigint,
		qty_reached qty, qty_on_hand qty, status text)
	AS 'MODULE_PATHNAME', 'sl_trace_backward'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION trace_backward(trace_code, integer, timestamptz) IS
	'Every batch upstream of a batch over links received by as_of: holder, depth, first link, quantity of that source lot that went into the given lot (in the source''s unit) and quantity on hand; each batch once.';
REVOKE ALL ON FUNCTION trace_backward(trace_code, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_backward(trace_code, integer, timestamptz) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- For recall_open: the walk as of now with each batch's id (no join back to
-- batch by trace code: 35,000 index probes were a third of opening a recall).
CREATE FUNCTION trace_targets(code trace_code, direction text)
	RETURNS TABLE (batch_id bigint, batch trace_code, holder bigint, depth integer, via_link bigint,
		qty_reached qty, qty_on_hand qty)
	AS 'MODULE_PATHNAME', 'sl_trace_targets'
	LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION trace_targets(trace_code, text) IS
	'For recall_open: trace_forward or trace_backward (direction) as of now, each row with the batch id and without status.';
REVOKE ALL ON FUNCTION trace_targets(trace_code, text) FROM PUBLIC;

-- direction 'forward' or 'backward'; anything else is refused (22023).
CREATE FUNCTION trace_walk(code trace_code, direction text, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (batch trace_code, holder bigint, depth integer, via_link bigint,
		qty_reached qty, qty_on_hand qty, status text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 100
	AS $$
BEGIN
	IF direction = 'forward' THEN
		RETURN QUERY SELECT * FROM shilian.trace_forward(code, max_depth, as_of);
	ELSIF direction = 'backward' THEN
		RETURN QUERY SELECT * FROM shilian.trace_backward(code, max_depth, as_of);
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown trace direction "%s"', direction),
			HINT = 'Use "forward" or "backward".';
	END IF;
END;
$$;
COMMENT ON FUNCTION trace_walk(trace_code, text, integer, timestamptz) IS
	'trace_forward or trace_backward by direction (''forward'' or ''backward'').';
REVOKE ALL ON FUNCTION trace_walk(trace_code, text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_walk(trace_code, text, integer, timestamptz) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- trace_graph, which names the far ends of links as the walk does, is in
-- part 85 after trace_link_end.

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
REVOKE ALL ON FUNCTION lot_secret_new() FROM PUBLIC;
CREATE FUNCTION lot_token(secret bytea, code trace_code) RETURNS text
	AS 'MODULE_PATHNAME', 'sl_lot_token_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lot_token(bytea, trace_code) IS
	'The public token of a code under a key: HMAC-SHA256(key, ''shilian-lot-token-v1'' 0x00 code), first 50 bits as 10 lower-case Crockford base32 characters.';
REVOKE ALL ON FUNCTION lot_token(bytea, trace_code) FROM PUBLIC;
CREATE FUNCTION lot_token_ok(secret bytea, code trace_code, token text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sl_lot_token_ok_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION lot_token_ok(bytea, trace_code, text) IS
	'Whether a token (any case) is the code''s under a key, compared in constant time; false for NULLs.';
REVOKE ALL ON FUNCTION lot_token_ok(bytea, trace_code, text) FROM PUBLIC;
CREATE FUNCTION lot_secret() RETURNS bytea
	LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT s.secret FROM shilian.public_secret s ORDER BY s.created_at, s.secret LIMIT 1);
COMMENT ON FUNCTION lot_secret() IS
	'The key of the public tokens in use (the oldest row of public_secret); executable by no role.';
REVOKE ALL ON FUNCTION lot_secret() FROM PUBLIC;
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
REVOKE ALL ON FUNCTION public_token(trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_token(trace_code) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- Where the consumer's page of a lot is, relative to the gateway:
-- /v1/public/trace/<code>?t=<token>.
CREATE FUNCTION public_path(code trace_code) RETURNS text
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	RETURN '/v1/public/trace/' || code::text || '?t=' || shilian.public_token(code);
COMMENT ON FUNCTION public_path(trace_code) IS
	'The path of a lot''s public trace page on the gateway, with its token: /v1/public/trace/<code>?t=<token> (public_token''s rules).';
REVOKE ALL ON FUNCTION public_path(trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_path(trace_code) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The public trace's one refusal (SLP01, a 404 at the gateway), the same for
-- a wrong or missing token and for a code or Digital Link no lot has.
CREATE FUNCTION public_refuse(code text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'SLP01',
		MESSAGE = format('no public trace for %s with this token', code),
		DETAIL = 'Either no lot has this code or the token is not the one printed with it.',
		HINT = 'Scan the QR code on the package, or type the code and the token printed next to it.';
END;
$$;
COMMENT ON FUNCTION public_refuse(text) IS
	'Raise SLP01 (no public trace for this code with this token): the one refusal of public_trace and public_lot.';

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
		PERFORM shilian.public_refuse(code::text);
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
				'region_name', (SELECT j.name FROM shilian.jurisdiction j WHERE j.code = left(o.station, 6)),
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
			CROSS JOIN (SELECT max(step) AS n FROM chain) mx),
		-- open recalls of this lot or of any lot it was made from (part 87)
		'recalls', shilian.public_recalls(root.id))
	  INTO result;
	RETURN result;
END;
$$;
COMMENT ON FUNCTION public_trace(trace_code, text) IS
	'The consumer view of a code with its token: product, producer and licence, region of origin, custody chain of this lot (holders between producer and final seller by region and segment only), its inspection results and the open recalls of it or its inputs (public_recalls); no quantities, prices or other customers. SLP01 for a wrong or missing token as for an unknown code.';
REVOKE ALL ON FUNCTION public_trace(trace_code, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_trace(trace_code, text) TO shilian_public, shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- ---- recall -----------------------------------------------------------------

CREATE TABLE recall (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	batch_id      bigint NOT NULL REFERENCES batch (id),
	trace_code    trace_code NOT NULL,
	direction     text NOT NULL CHECK (direction IN ('forward', 'backward')),
	reason        text NOT NULL CHECK (reason <> ''),
	opened_by     bigint NOT NULL,		-- the acting operator, 0 for the platform (a regulator)
	-- the regulator's jurisdiction at opening: its subtree follows the recall (part 85)
	opened_jurisdiction text DEFAULT shilian.current_jurisdiction(),
	opened_at     timestamptz NOT NULL DEFAULT now(),
	status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	closed_at     timestamptz,
	close_reason  text,
	forced        boolean NOT NULL DEFAULT false,
	CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
	CHECK (NOT forced OR close_reason IS NOT NULL)
);
CREATE INDEX recall_batch_idx ON recall (batch_id);
COMMENT ON TABLE recall IS
	'Recall cases: the suspect lot, direction, reason, who opened it, open or closed (forced closings keep their reason).';

CREATE TABLE recall_target (
	-- no foreign keys: rows are written by recall_open alone (no role may
	-- insert), from the recall it has just made and the lots and holders
	-- its walk read, none of which is ever deleted; checking three keys per
	-- row was 60% of opening a recall of 37,000 lots (issue 19, docs/trace.md)
	recall_id     bigint NOT NULL,
	batch_id      bigint NOT NULL,
	trace_code    trace_code NOT NULL,
	operator_id   bigint NOT NULL,
	depth         integer NOT NULL,
	via_link      bigint,
	qty_exposed   qty NOT NULL,
	qty_on_hand   qty NOT NULL,
	notified_at   timestamptz NOT NULL DEFAULT now(),
	disposition   text CHECK (disposition IN ('withdrawn', 'destroyed', 'returned',
		'not_received', 'already_consumed')),
	qty_recovered qty,
	acked_at      timestamptz,
	ack_ledger_id bigint,
	PRIMARY KEY (recall_id, batch_id),
	CHECK ((disposition IS NULL) = (acked_at IS NULL))
);
-- a holder's targets within a recall (recall_ack, the policies' EXISTS per
-- recall): the recall first, so that a new recall's entries all go to the
-- index's right edge, where recall.c inserts them in key order (a random
-- leaf per row, with the holder first, was a third of opening a recall)
CREATE INDEX recall_target_operator_idx ON recall_target (recall_id, operator_id);
COMMENT ON TABLE recall_target IS
	'One row per affected lot of a recall: holder, exposed and on-hand quantity at opening, and the holder''s acknowledgement (disposition, quantity recovered).';

-- Who follows a recall (used by recall_targets below and by the security
-- part 85): the platform admin, or a regulator at or above the jurisdiction
-- that opened it.
COMMENT ON COLUMN recall.opened_jurisdiction IS
	'Jurisdiction of the regulator that opened the recall (shilian.jurisdiction at opening); its subtree''s regulators follow the recall.';

-- Whether the calling regulator's jurisdiction is the given one or above it.
CREATE FUNCTION jurisdiction_covers(code text) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN shilian.current_jurisdiction() IS NOT NULL AND code IS NOT NULL
		AND EXISTS (SELECT 1 FROM shilian.jurisdiction j
					 WHERE j.code = jurisdiction_covers.code
					   AND shilian.current_jurisdiction() = ANY (j.ancestors));
COMMENT ON FUNCTION jurisdiction_covers(text) IS
	'True when the regulator of this transaction (shilian.jurisdiction) is at or above the given jurisdiction.';

-- Where a recall was opened, for the recall_target policy (read with definer
-- rights: the recall policy reads recall_target, and policies may not loop).
CREATE FUNCTION recall_opened_in(recall bigint) RETURNS text
	LANGUAGE sql STABLE STRICT SECURITY DEFINER PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT r.opened_jurisdiction FROM shilian.recall r WHERE r.id = recall_opened_in.recall);
COMMENT ON FUNCTION recall_opened_in(bigint) IS
	'The jurisdiction that opened a recall (for the row-level security policy of recall_target).';

-- The guard of the steps that follow a whole recall (close, export): the
-- platform admin, or a regulator at or above the jurisdiction that opened it.
-- Inside definer-rights code the current user is the owner, so the caller is
-- judged from the role the request switched to (the role setting) and, for
-- a bare session, from whether the session user is a superuser.
CREATE FUNCTION recall_follows(recall bigint) RETURNS boolean
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	RETURN current_setting('role') = 'shilian_admin'
		OR (current_setting('role') = 'none'
			AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper))
		OR (current_setting('role') = 'shilian_regulator'
			AND shilian.jurisdiction_covers(shilian.recall_opened_in(recall)));
COMMENT ON FUNCTION recall_follows(bigint) IS
	'Whether the caller follows the whole recall: the platform admin, or a regulator at or above the jurisdiction that opened it.';

CREATE FUNCTION recall_require_follower(recall bigint) RETURNS void
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	opened text := shilian.recall_opened_in(recall);
BEGIN
	IF shilian.recall_follows(recall) THEN
		RETURN;
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
		MESSAGE = format('recall %s is followed by the jurisdiction that opened it', recall),
		DETAIL = format('It was opened by %s.', coalesce(opened, 'the platform')),
		HINT = 'A regulator at or above that jurisdiction, or the platform admin, closes and exports it.';
END
$$;
COMMENT ON FUNCTION recall_require_follower(bigint) IS
	'Error 42501 unless the caller is the platform admin or a regulator at or above the jurisdiction that opened the recall.';

SELECT pg_catalog.pg_extension_config_dump('recall', '');
SELECT pg_catalog.pg_extension_config_dump('recall_target', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.recall', 'id')::regclass, '');

-- The ledger chain a recall step by the platform is appended to: the acting
-- operator (shilian.operator_id) when set, else 0, the platform's own chain.
CREATE FUNCTION recall_actor() RETURNS bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN coalesce(nullif(current_setting('shilian.operator_id', true), '')::bigint, 0);
COMMENT ON FUNCTION recall_actor() IS
	'The ledger chain for recall steps taken by the platform: shilian.operator_id when set, else 0 (the platform).';

-- For recall_open: the targets of a recall as its walk finds them, written
-- into recall_target a thousand rows at a time, its triggers fired as for
-- an INSERT (recall.c; through INSERT ... SELECT FROM trace_targets when
-- recall_target has rules, a BEFORE ROW trigger or row-level security for
-- the writer), with how many rows and holders.
CREATE FUNCTION recall_targets_write(recall bigint, code trace_code, direction text,
		OUT targets bigint, OUT holders bigint)
	AS 'MODULE_PATHNAME', 'sl_recall_targets_write'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recall_targets_write(bigint, trace_code, text) IS
	'For recall_open: write the targets of a recall (trace_targets(code, direction) as of now) into recall_target; returns the number of targets and of distinct holders.';
REVOKE ALL ON FUNCTION recall_targets_write(bigint, trace_code, text) FROM PUBLIC;

CREATE FUNCTION recall_open(code trace_code, reason text, direction text DEFAULT 'forward')
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	rid bigint;
	root bigint;
	n bigint;
	holders bigint;
BEGIN
	IF code IS NULL OR reason IS NULL OR reason = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'recall needs a trace code and a reason';
	END IF;
	IF direction IS NULL OR direction NOT IN ('forward', 'backward') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown trace direction "%s"', direction),
			HINT = 'Use "forward" or "backward".';
	END IF;
	SELECT b.id INTO root FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR03',
			MESSAGE = format('unknown batch %s', code),
			DETAIL = 'No batch has this trace code.';
	END IF;
	INSERT INTO shilian.recall (batch_id, trace_code, direction, reason, opened_by)
	VALUES (root, code, direction, reason, shilian.recall_actor())
	RETURNING id INTO rid;
	-- the walk, its rows written and its holders counted in C (recall.c)
	SELECT t.targets, t.holders INTO n, holders FROM shilian.recall_targets_write(rid, code, direction) t;
	PERFORM shilian.ledger_append(shilian.recall_actor(), 'recall_open', jsonb_build_object(
		'recall', rid::text, 'batch', code, 'direction', direction, 'reason', reason,
		'targets', n, 'holders', holders));
	PERFORM pg_notify('shilian_recall', rid::text);
	RETURN rid;
END;
$$;
COMMENT ON FUNCTION recall_open(trace_code, text, text) IS
	'Open a recall of a lot: records the case, materializes every affected lot (holder, exposed and on-hand quantity) as a target, appends recall_open to the ledger and sends NOTIFY shilian_recall with the recall id; returns the id.';
REVOKE ALL ON FUNCTION recall_open(trace_code, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_open(trace_code, text, text) TO shilian_regulator, shilian_admin;

-- ---- recall steps ----------------------------------------------------------------
-- Definer rights: the walk and the targets span every jurisdiction, and
-- each step appends to the ledger.
ALTER FUNCTION recall_open(trace_code, text, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The open recall id, or an error: unknown (SLT10), closed (SLT11).
CREATE FUNCTION recall_require_open(id bigint) RETURNS shilian.recall
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	r shilian.recall;
BEGIN
	SELECT * INTO r FROM shilian.recall WHERE recall.id = recall_require_open.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	IF r.status = 'closed' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT11', MESSAGE = format('recall %s is closed', id),
			HINT = 'Open a new recall for further action.';
	END IF;
	RETURN r;
END;
$$;
COMMENT ON FUNCTION recall_require_open(bigint) IS
	'Lock and return an open recall; SLT10 if unknown, SLT11 if closed.';
REVOKE ALL ON FUNCTION recall_require_open(bigint) FROM PUBLIC;

CREATE FUNCTION recall_targets(id bigint)
	RETURNS TABLE (batch trace_code, holder bigint, holder_name text, depth integer,
		via_link bigint, qty_exposed qty, qty_on_hand qty, disposition text,
		qty_recovered qty, acked_at timestamptz)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	BEGIN ATOMIC
	SELECT t.trace_code, t.operator_id, o.name, t.depth, t.via_link, t.qty_exposed,
		t.qty_on_hand, t.disposition, t.qty_recovered, t.acked_at
	  FROM shilian.recall_target t JOIN shilian.operator o ON o.id = t.operator_id
	 WHERE t.recall_id = recall_targets.id
	   AND (shilian.recall_follows(t.recall_id) OR shilian.may_see(t.operator_id))
	 ORDER BY t.depth, t.trace_code;
	END;
COMMENT ON FUNCTION recall_targets(bigint) IS
	'The affected lots of a recall with holders, quantities at opening and acknowledgements.';
REVOKE ALL ON FUNCTION recall_targets(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_targets(bigint) TO shilian_regulator, shilian_admin;
-- targets: definer rights with the filter in the function (a holder sees its
-- own lots, a regulator its subtree's holders, a follower every holder).
ALTER FUNCTION recall_targets(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION recall_targets(bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION recall_ack(id bigint, operator bigint, disposition text,
		qty_recovered qty DEFAULT NULL, batch trace_code DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	r shilian.recall;
	t shilian.recall_target;
	n integer;
	entry bigint;
	acting bigint := nullif(current_setting('shilian.operator_id', true), '')::bigint;
BEGIN
	IF id IS NULL OR operator IS NULL OR disposition IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'recall_ack needs a recall, an operator and a disposition';
	END IF;
	IF acting IS NOT NULL AND acting <> recall_ack.operator THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('acting operator %s may not acknowledge a recall for operator %s', acting, recall_ack.operator),
			DETAIL = 'The setting shilian.operator_id names the operator this transaction acts for.';
	END IF;
	IF disposition NOT IN ('withdrawn', 'destroyed', 'returned', 'not_received', 'already_consumed') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT14',
			MESSAGE = format('unknown recall disposition "%s"', disposition),
			HINT = 'Use withdrawn, destroyed, returned, not_received or already_consumed.';
	END IF;
	r := shilian.recall_require_open(id);
	SELECT count(*) INTO n FROM shilian.recall_target rt
	 WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator
	   AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch);
	IF n = 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT12',
			MESSAGE = format('operator %s holds no target of recall %s', recall_ack.operator, id)
				|| CASE WHEN batch IS NULL THEN '' ELSE format(' in batch %s', batch) END,
			HINT = 'recall_targets() lists the lots and holders of a recall.';
	END IF;
	SELECT count(*) INTO n FROM shilian.recall_target rt
	 WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator AND rt.acked_at IS NULL
	   AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch);
	IF n = 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT13',
			MESSAGE = format('operator %s has already acknowledged recall %s', recall_ack.operator, id)
				|| CASE WHEN batch IS NULL THEN '' ELSE format(' for batch %s', batch) END;
	END IF;
	IF qty_recovered IS NOT NULL THEN
		IF n > 1 THEN
			RAISE EXCEPTION USING ERRCODE = 'SLT15',
				MESSAGE = format('operator %s holds %s outstanding lots of recall %s: name the batch the recovered quantity is for', recall_ack.operator, n, id),
				HINT = 'Acknowledge each lot with its batch code.';
		END IF;
		SELECT * INTO t FROM shilian.recall_target rt
		 WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator AND rt.acked_at IS NULL
		   AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch);
		IF shilian.qty_dimension(qty_recovered) <> shilian.qty_dimension(t.qty_on_hand) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLT16',
				MESSAGE = format('recovered quantity %s is a %s, lot %s is counted in %s', qty_recovered,
					shilian.qty_dimension(qty_recovered), t.trace_code, shilian.qty_dimension(t.qty_on_hand));
		END IF;
		IF qty_recovered OPERATOR(shilian.<) (t.qty_on_hand OPERATOR(shilian.-) t.qty_on_hand)
		   OR qty_recovered OPERATOR(shilian.>) t.qty_on_hand THEN
			RAISE EXCEPTION USING ERRCODE = 'SLT16',
				MESSAGE = format('recovered quantity %s is outside 0 .. %s, what lot %s had on hand when the recall opened',
					qty_recovered, t.qty_on_hand, t.trace_code);
		END IF;
	END IF;
	entry := shilian.ledger_append(recall_ack.operator, 'recall_ack', jsonb_build_object(
		'recall', id::text, 'disposition', disposition, 'qty_recovered', qty_recovered::text,
		'batches', (SELECT jsonb_agg(rt.trace_code ORDER BY rt.trace_code) FROM shilian.recall_target rt
			WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator AND rt.acked_at IS NULL
			  AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch))));
	UPDATE shilian.recall_target rt
	   SET disposition = recall_ack.disposition, qty_recovered = recall_ack.qty_recovered,
		   acked_at = now(), ack_ledger_id = entry
	 WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator AND rt.acked_at IS NULL
	   AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION recall_ack(bigint, bigint, text, qty, trace_code) IS
	'A holder acknowledges its outstanding lots of a recall (or the one named by batch): disposition withdrawn, destroyed, returned, not_received or already_consumed, with the quantity recovered; appends recall_ack to its ledger chain; returns the lots acknowledged.';
REVOKE ALL ON FUNCTION recall_ack(bigint, bigint, text, qty, trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_ack(bigint, bigint, text, qty, trace_code) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER FUNCTION recall_ack(bigint, bigint, text, qty, trace_code) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The aggregates of a recall span its holders: a follower (part 85) and any
-- regulator read them over every target; an operator or a system client
-- over the targets it may see (its own lots), and a recall with none of its
-- lots is unknown to it, as a recall that does not exist.
CREATE FUNCTION recall_status(id bigint,
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
REVOKE ALL ON FUNCTION recall_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_status(bigint) TO shilian_regulator, shilian_admin;
ALTER FUNCTION recall_status(bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION recall_status(bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION recall_close(id bigint, force_reason text DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	r shilian.recall;
	n bigint;
BEGIN
	IF id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'recall_close needs a recall id';
	END IF;
	-- who may close: part 85
	PERFORM shilian.recall_require_follower(id);
	r := shilian.recall_require_open(id);
	SELECT count(*) INTO n FROM shilian.recall_target t WHERE t.recall_id = id AND t.acked_at IS NULL;
	IF n > 0 AND (force_reason IS NULL OR force_reason = '') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT17',
			MESSAGE = format('recall %s has %s outstanding targets', id, n),
			DETAIL = 'Every holder must acknowledge its lots before the recall closes.',
			HINT = 'Wait for recall_ack from the holders, or close with force_reason.';
	END IF;
	UPDATE shilian.recall SET status = 'closed', closed_at = now(),
		close_reason = nullif(force_reason, ''), forced = n > 0
	 WHERE recall.id = recall_close.id;
	PERFORM shilian.ledger_append(shilian.recall_actor(), 'recall_close', jsonb_build_object(
		'recall', id::text, 'outstanding', n, 'forced', n > 0, 'reason', nullif(force_reason, '')));
END;
$$;
COMMENT ON FUNCTION recall_close(bigint, text) IS
	'Close a recall; refused (SLT17) while targets are outstanding unless force_reason is given; appends recall_close to the ledger.';
REVOKE ALL ON FUNCTION recall_close(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_close(bigint, text) TO shilian_regulator, shilian_admin;
ALTER FUNCTION recall_close(bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- One CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
CREATE FUNCTION csv_field(v text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE WHEN v IS NULL THEN ''
		WHEN v ~ '[",\r\n]' THEN '"' || replace(v, '"', '""') || '"' ELSE v END;
COMMENT ON FUNCTION csv_field(text) IS 'A value as one RFC 4180 CSV field (empty for NULL).';

CREATE FUNCTION recall_export(id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	out text;
BEGIN
	-- who may export: part 85 (the export spans every holder)
	PERFORM shilian.recall_require_follower(id);
	PERFORM 1 FROM shilian.recall r WHERE r.id = recall_export.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	SELECT 'traceability_lot_code,product_description,quantity,unit_of_measure,'
		|| 'location_name,location_address,operator_id,date_received,date_shipped,'
		|| 'reference_document,immediate_previous_source,subsequent_recipients,'
		|| 'qty_exposed,qty_on_hand,depth,disposition' || E'\r\n'
		|| coalesce(string_agg(concat_ws(',',
			shilian.csv_field(t.trace_code::text),
			shilian.csv_field(concat_ws(' ', p.name, p.spec)),
			shilian.csv_field(split_part(b.qty::text, ' ', 1)),
			shilian.csv_field(split_part(b.qty::text, ' ', 2)),
			shilian.csv_field(o.name),
			shilian.csv_field(o.address),
			t.operator_id::text,
			shilian.csv_field(to_char(shilian.platform_date(rin.received_at), 'YYYY-MM-DD')),
			shilian.csv_field(sh.dates),
			shilian.csv_field(coalesce('link ' || rin.id, b.lot, 'batch ' || b.trace_code::text)
				|| coalesce('; certificate ' || (b.certificate->>'certificate_no'), '')),
			shilian.csv_field(CASE b.origin
				WHEN 'received' THEN so.name || ' (' || sb.trace_code::text || ')'
				WHEN 'first_entry' THEN b.supplier->>'name'
				WHEN 'transformed' THEN (SELECT 'inputs: ' || string_agg(ib.trace_code::text, '; ' ORDER BY ib.trace_code)
					FROM shilian.link il JOIN shilian.batch ib ON ib.id = il.from_batch
					WHERE il.to_batch = b.id AND il.kind = 'transform') END),
			shilian.csv_field(sh.recipients),
			shilian.csv_field(t.qty_exposed::text),
			shilian.csv_field(t.qty_on_hand::text),
			t.depth::text,
			shilian.csv_field(t.disposition)), E'\r\n' ORDER BY t.trace_code) || E'\r\n', '')
	  INTO out
	  FROM shilian.recall_target t
	  JOIN shilian.batch b ON b.id = t.batch_id
	  JOIN shilian.product p ON p.id = b.product_id
	  JOIN shilian.operator o ON o.id = t.operator_id
	  -- how the lot came in: the earliest receipt of a sale (NULL: produced here)
	  LEFT JOIN LATERAL (SELECT l.* FROM shilian.link l
		WHERE l.to_batch = b.id AND l.kind = 'ship' AND l.status = 'received'
		ORDER BY l.received_at, l.id LIMIT 1) rin ON true
	  LEFT JOIN shilian.batch sb ON sb.id = rin.from_batch
	  LEFT JOIN shilian.operator so ON so.id = rin.seller_id
	  -- where it went: every sale out (not rejected or retracted) to another operator,
	  -- buyer and date (the holder's own processing is no recipient)
	  LEFT JOIN LATERAL (SELECT string_agg(DISTINCT bo.name, '; ') AS recipients,
			string_agg(DISTINCT to_char(l.shipped_on, 'YYYY-MM-DD'), '; ') AS dates
		FROM shilian.link l JOIN shilian.operator bo ON bo.id = l.buyer_id
		WHERE l.from_batch = b.id AND l.status NOT IN ('rejected', 'retracted')
		  AND l.kind = 'ship' AND l.buyer_id <> t.operator_id) sh ON true
	 WHERE t.recall_id = recall_export.id;
	RETURN out;
END;
$$;
COMMENT ON FUNCTION recall_export(bigint) IS
	'FSMA 204 style sortable CSV (RFC 4180, CRLF) of every affected lot of a recall: lot code, product, quantity and unit, location, receipt and shipment dates, reference document, previous source, recipients, exposed and on-hand quantity.';
REVOKE ALL ON FUNCTION recall_export(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_export(bigint) TO shilian_regulator, shilian_admin;
ALTER FUNCTION recall_export(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
