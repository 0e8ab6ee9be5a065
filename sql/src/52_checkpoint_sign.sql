-- shilian install script, part 52: signed checkpoints (docs/ledger-format.md
-- #signed-checkpoints). The tree heads of part 50 as C2SP checkpoints, with a
-- "heads" line committing to each operator's last entry in the tree; the
-- signatures come from a key outside the database (shilian-verify sign), the
-- cosignatures from witnesses (shilian-verify witness); the database keeps
-- and serves the signed notes, and the export for the offline verifier.

-- Signed checkpoint notes: the text that was signed and the platform's signature lines.
CREATE TABLE checkpoint_note (
	tree_size	bigint PRIMARY KEY,
	body		text NOT NULL,
	signatures	text NOT NULL,
	stored_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE checkpoint_note IS
	'Signed checkpoints (C2SP signed notes): the checkpoint text (checkpoint_body) and the platform''s signature lines.';

-- Witness cosignatures, one line per witness and checkpoint.
CREATE TABLE checkpoint_cosignature (
	tree_size	bigint NOT NULL,
	witness		text NOT NULL,
	signature	text NOT NULL,
	stored_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tree_size, witness)
);
COMMENT ON TABLE checkpoint_cosignature IS
	'Cosignature lines of witnesses on signed checkpoints (c2sp.org/tlog-cosignature), by witness key name.';

-- Checkpoints a witness refused to cosign (inconsistent with what it cosigned: a fork).
CREATE TABLE checkpoint_refusal (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	witness		text NOT NULL,
	tree_size	bigint,
	reason		text NOT NULL,
	note		text,
	raised_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE checkpoint_refusal IS
	'Checkpoints a witness refused to cosign, with its reason; each one is announced on NOTIFY shilian_alert.';

SELECT pg_catalog.pg_extension_config_dump('checkpoint_note', '');
SELECT pg_catalog.pg_extension_config_dump('checkpoint_cosignature', '');
SELECT pg_catalog.pg_extension_config_dump('checkpoint_refusal', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.checkpoint_refusal', 'id')::regclass, '');
REVOKE ALL ON checkpoint_note, checkpoint_cosignature, checkpoint_refusal FROM PUBLIC;
-- the public reads signed checkpoints through checkpoint_note() only, like
-- every table; the rows are nobody's own, so every row is visible to those
-- granted SELECT
GRANT SELECT ON checkpoint_note, checkpoint_cosignature TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
GRANT SELECT ON checkpoint_refusal TO shilian_regulator, shilian_admin;
ALTER TABLE checkpoint_note ENABLE ROW LEVEL SECURITY;
ALTER TABLE checkpoint_cosignature ENABLE ROW LEVEL SECURITY;
ALTER TABLE checkpoint_refusal ENABLE ROW LEVEL SECURITY;
CREATE POLICY checkpoint_note_read ON checkpoint_note FOR SELECT USING (true);
CREATE POLICY checkpoint_cosignature_read ON checkpoint_cosignature FOR SELECT USING (true);
CREATE POLICY checkpoint_refusal_read ON checkpoint_refusal FOR SELECT USING (true);
-- evidence: written once, like the ledger tables
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoint_note
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoint_cosignature
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoint_refusal
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE FUNCTION merkle_root(leaves bytea[], algorithm text DEFAULT 'sha256') RETURNS bytea
	AS 'MODULE_PATHNAME', 'shilian_merkle_root'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION merkle_root(bytea[], text) IS
	'RFC 9162 Merkle tree hash of a list of leaf data (leaf hash H(0x00 || data)); H('''') for the empty list.';

CREATE FUNCTION merkle_path(leaves bytea[], index bigint, algorithm text DEFAULT 'sha256') RETURNS bytea[]
	AS 'MODULE_PATHNAME', 'shilian_merkle_path'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION merkle_path(bytea[], bigint, text) IS
	'RFC 9162 audit path of leaf index in the Merkle tree of a list of leaf data, innermost first (SLL22 outside the list).';

-- The hash algorithm of the Merkle log, by name (that of its first checkpoint).
CREATE FUNCTION log_algorithm() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT CASE c.alg WHEN 1 THEN 'sha256' WHEN 2 THEN 'sm3' END
			  FROM shilian.checkpoint c ORDER BY c.tree_size LIMIT 1);
COMMENT ON FUNCTION log_algorithm() IS
	'The Merkle log''s hash algorithm (sha256 or sm3), NULL before the first checkpoint.';
GRANT EXECUTE ON FUNCTION log_algorithm() TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;

-- Each operator's last entry in the tree of tree_size leaves, in operator order;
-- leaf is the heads leaf data: i64(operator) || H(i64(seq) || i64(leaf index) || entry hash).
-- A skip scan of ledger_leaf (operator_id, seq): two index probes per
-- operator, whatever the size of the log.
CREATE FUNCTION checkpoint_heads(tree_size bigint,
	OUT idx bigint, OUT operator_id bigint, OUT seq bigint, OUT leaf_index bigint, OUT entry_hash bytea, OUT leaf bytea)
	RETURNS SETOF record
	LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT row_number() OVER (ORDER BY h.operator_id) - 1, h.operator_id, h.seq, h.leaf_index, h.hash,
		int8send(h.operator_id) || shilian.hash(int8send(h.seq) || int8send(h.leaf_index) || h.hash,
			shilian.log_algorithm())
	  FROM (WITH RECURSIVE ops(op) AS (
				(SELECT f.operator_id FROM shilian.ledger_leaf f ORDER BY f.operator_id LIMIT 1)
				UNION ALL
				SELECT (SELECT f.operator_id FROM shilian.ledger_leaf f WHERE f.operator_id > ops.op
						 ORDER BY f.operator_id LIMIT 1)
				  FROM ops WHERE ops.op IS NOT NULL)
			SELECT l.* FROM ops, LATERAL (
				-- leaves follow entry ids, which grow with seq in a chain
				SELECT f.operator_id, f.seq, f.leaf_index, f.hash FROM shilian.ledger_leaf f
				 WHERE f.operator_id = ops.op AND f.leaf_index < $1
				 ORDER BY f.seq DESC LIMIT 1) l) h
	 ORDER BY h.operator_id
$$;
COMMENT ON FUNCTION checkpoint_heads(bigint) IS
	'Each operator''s last entry in the Merkle tree of tree_size leaves, with its heads leaf data (the heads line of a signed checkpoint).';
REVOKE ALL ON FUNCTION checkpoint_heads(bigint) FROM PUBLIC;

-- The checkpoint text a signer signs (c2sp.org/tlog-checkpoint): origin,
-- size, base64 root, and the extension line "heads ALG BASE64".
CREATE FUNCTION checkpoint_body(tree_size bigint DEFAULT NULL) RETURNS text
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c record;
	alg text := shilian.log_algorithm();
BEGIN
	SELECT k.tree_size, k.root INTO c FROM shilian.checkpoint k
	 WHERE k.tree_size = coalesce($1, (SELECT max(m.tree_size) FROM shilian.checkpoint m));
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL41',
			MESSAGE = CASE WHEN $1 IS NULL THEN 'there is no checkpoint yet'
					  ELSE format('there is no checkpoint of size %s', $1) END,
			HINT = 'Checkpoints are made by shilian.checkpoint(); SELECT tree_size FROM shilian.checkpoint lists them.';
	END IF;
	RETURN current_setting('shilian.log_origin') || E'\n' || c.tree_size || E'\n'
		|| encode(c.root, 'base64') || E'\n'
		|| 'heads ' || alg || ' '
		|| encode(shilian.merkle_root(ARRAY(SELECT h.leaf FROM shilian.checkpoint_heads(c.tree_size) h ORDER BY h.idx), alg),
				  'base64') || E'\n';
END
$$;
COMMENT ON FUNCTION checkpoint_body(bigint) IS
	'The C2SP checkpoint text of a tree head (NULL: the latest): origin (shilian.log_origin), size, base64 root, heads line; what the signing job signs.';
REVOKE ALL ON FUNCTION checkpoint_body(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION checkpoint_body(bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;

-- The signing job's question: the latest checkpoint's text, if no note holds it yet.
CREATE FUNCTION checkpoint_to_sign() RETURNS text
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	-- only the latest: an older head is never signed after a newer one
	RETURN (SELECT shilian.checkpoint_body(c.tree_size)
			  FROM (SELECT k.tree_size FROM shilian.checkpoint k ORDER BY k.tree_size DESC LIMIT 1) c
			 WHERE NOT EXISTS (SELECT 1 FROM shilian.checkpoint_note n WHERE n.tree_size = c.tree_size));
COMMENT ON FUNCTION checkpoint_to_sign() IS
	'The text of the latest checkpoint when it is not signed yet (NULL otherwise), for the signing job (shilian-verify sign).';
REVOKE ALL ON FUNCTION checkpoint_to_sign() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION checkpoint_to_sign() TO shilian_admin;

-- One signature line: em dash, space, key name (no space, no +), space, base64 of at least 5 bytes.
CREATE FUNCTION note_signature_name(line text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE WHEN line ~ '^— [^ +[:cntrl:]]+ (?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})\n$'
				 AND length(split_part(rtrim(line, E'\n'), ' ', 3)) >= 8
			THEN split_part(line, ' ', 2) END;
COMMENT ON FUNCTION note_signature_name(text) IS
	'The key name of a C2SP note signature line ("— name base64\n"), NULL if the line is not one.';

-- Store a signed checkpoint: its text must be exactly checkpoint_body() of
-- its size (origin, root and heads of the ledger's own checkpoint).
CREATE FUNCTION checkpoint_note_store(note text) RETURNS bigint
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	sep int := length(note) - position(E'\n\n' IN reverse(note));
	body text;
	sigs text;
	size_text text;
	lines text[];
	old shilian.checkpoint_note;
BEGIN
	IF position(E'\n\n' IN note) = 0 OR right(note, 1) <> E'\n' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL40', MESSAGE = 'not a signed note',
			DETAIL = 'A signed note is its text, a blank line and one or more signature lines, each ending in a newline (c2sp.org/signed-note).';
	END IF;
	-- the text ends at the last blank line
	body := left(note, sep);
	sigs := substr(note, sep + 2);
	lines := ARRAY(SELECT l || E'\n' FROM unnest(string_to_array(rtrim(sigs, E'\n'), E'\n')) l);
	IF sigs = '' OR EXISTS (SELECT 1 FROM unnest(lines) l WHERE shilian.note_signature_name(l) IS NULL) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL40', MESSAGE = 'the note''s signature lines are malformed',
			DETAIL = 'Each is "— <key name> <base64(key id || signature)>".';
	END IF;
	size_text := split_part(body, E'\n', 2);
	IF size_text !~ '^(0|[1-9][0-9]{0,17})$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL40', MESSAGE = 'the note is not a checkpoint',
			DETAIL = 'Its second line is not a tree size.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM shilian.checkpoint c WHERE c.tree_size = size_text::bigint)
	   OR body IS DISTINCT FROM shilian.checkpoint_body(size_text::bigint) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL41',
			MESSAGE = format('the signed checkpoint of size %s is not the ledger''s checkpoint', size_text),
			DETAIL = 'Its origin, root or heads line differs from checkpoint_body() of that size, or there is no such checkpoint.',
			HINT = 'Sign the text of shilian.checkpoint_body(size) (or checkpoint_to_sign()) unchanged.';
	END IF;
	SELECT * INTO old FROM shilian.checkpoint_note n WHERE n.tree_size = size_text::bigint;
	IF FOUND THEN
		IF old.signatures = sigs THEN
			RETURN old.tree_size;
		END IF;
		RAISE EXCEPTION USING ERRCODE = 'SLL42',
			MESSAGE = format('the checkpoint of size %s is signed already', size_text),
			DETAIL = 'A signed checkpoint is stored once; witnesses add cosignatures with checkpoint_cosign().';
	END IF;
	INSERT INTO shilian.checkpoint_note (tree_size, body, signatures) VALUES (size_text::bigint, body, sigs);
	RETURN size_text::bigint;
END
$$;
COMMENT ON FUNCTION checkpoint_note_store(text) IS
	'Store a signed checkpoint (a C2SP signed note over checkpoint_body of its size): SLL40 not a signed checkpoint, SLL41 not the ledger''s checkpoint, SLL42 signed already; returns its tree size.';
REVOKE ALL ON FUNCTION checkpoint_note_store(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION checkpoint_note_store(text) TO shilian_admin;

-- A witness's cosignature line on a stored signed checkpoint.
CREATE FUNCTION checkpoint_cosign(tree_size bigint, signature text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	line text := CASE WHEN right(signature, 1) = E'\n' THEN signature ELSE signature || E'\n' END;
	witness text := shilian.note_signature_name(line);
	n int;
BEGIN
	IF witness IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLK01', MESSAGE = 'not a note signature line',
			DETAIL = 'A cosignature is "— <witness key name> <base64(key id || timestamp || signature)>".';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM shilian.checkpoint_note c WHERE c.tree_size = $1) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL44',
			MESSAGE = format('the checkpoint of size %s is not signed', $1),
			HINT = 'Witnesses cosign the published signed checkpoints (GET /v1/ledger/checkpoint).';
	END IF;
	IF EXISTS (SELECT 1 FROM shilian.checkpoint_note c WHERE c.tree_size = $1 AND position(line IN c.signatures) > 0) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLK02', MESSAGE = 'that line is the platform''s own signature';
	END IF;
	INSERT INTO shilian.checkpoint_cosignature AS c (tree_size, witness, signature)
	VALUES ($1, witness, line)
	ON CONFLICT ON CONSTRAINT checkpoint_cosignature_pkey DO NOTHING;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n = 1;
END
$$;
COMMENT ON FUNCTION checkpoint_cosign(bigint, text) IS
	'Store a witness''s cosignature line on a signed checkpoint (one per witness key name; false when that witness cosigned it already): SLK01 malformed line, SLL44 not signed.';
REVOKE ALL ON FUNCTION checkpoint_cosign(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION checkpoint_cosign(bigint, text) TO shilian_regulator, shilian_admin;

-- A witness refused a checkpoint: kept, and announced like the other alerts.
CREATE FUNCTION checkpoint_witness_refused(witness text, tree_size bigint, reason text, note text DEFAULT NULL)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	id bigint;
BEGIN
	IF witness IS NULL OR witness !~ '^[^ +[:cntrl:]]+$' OR coalesce(reason, '') = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLK03', MESSAGE = 'a refusal names the witness key and a reason';
	END IF;
	INSERT INTO shilian.checkpoint_refusal AS r (witness, tree_size, reason, note)
	VALUES ($1, $2, $3, $4) RETURNING r.id INTO id;
	PERFORM pg_notify('shilian_alert', json_build_object('id', id::text, 'kind', 'witness_refused',
		'witness', $1, 'tree_size', $2::text)::text);
	RETURN id;
END
$$;
COMMENT ON FUNCTION checkpoint_witness_refused(text, bigint, text, text) IS
	'Record that a witness refused a checkpoint (inconsistent with what it cosigned: a fork or a rollback) and NOTIFY shilian_alert (kind witness_refused); returns the refusal id.';
REVOKE ALL ON FUNCTION checkpoint_witness_refused(text, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION checkpoint_witness_refused(text, bigint, text, text) TO shilian_regulator, shilian_admin;

-- The published signed checkpoint: the note with its cosignature lines.
CREATE FUNCTION checkpoint_note(tree_size bigint DEFAULT NULL) RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT n.body || E'\n' || n.signatures
				|| coalesce((SELECT string_agg(c.signature, '' ORDER BY c.witness)
							   FROM shilian.checkpoint_cosignature c WHERE c.tree_size = n.tree_size), '')
			  FROM shilian.checkpoint_note n
			 WHERE n.tree_size = coalesce($1, (SELECT max(m.tree_size) FROM shilian.checkpoint_note m)));
COMMENT ON FUNCTION checkpoint_note(bigint) IS
	'A signed checkpoint as a C2SP signed note with its witnesses'' cosignatures (NULL: the latest signed); NULL if there is none.';
GRANT EXECUTE ON FUNCTION checkpoint_note(bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;

-- The same as JSON, for GET /v1/ledger/checkpoint with Accept: application/json.
CREATE FUNCTION checkpoint_note_json(tree_size bigint DEFAULT NULL) RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT jsonb_build_object('tree_size', n.tree_size::text,
				'origin', split_part(n.body, E'\n', 1),
				'root', encode(decode(split_part(n.body, E'\n', 3), 'base64'), 'hex'),
				'alg', shilian.log_algorithm(),
				'note', shilian.checkpoint_note(n.tree_size),
				'cosignatures', coalesce((SELECT jsonb_agg(jsonb_build_object('witness', c.witness,
						'signature', rtrim(c.signature, E'\n'), 'stored_at', c.stored_at) ORDER BY c.witness)
					FROM shilian.checkpoint_cosignature c WHERE c.tree_size = n.tree_size), '[]'),
				'stored_at', n.stored_at)
			  FROM shilian.checkpoint_note n
			 WHERE n.tree_size = coalesce($1, (SELECT max(m.tree_size) FROM shilian.checkpoint_note m)));
COMMENT ON FUNCTION checkpoint_note_json(bigint) IS
	'A signed checkpoint as JSON: tree_size, origin, root (hex), alg, note (with cosignatures), cosignatures, stored_at; NULL if none.';
GRANT EXECUTE ON FUNCTION checkpoint_note_json(bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;

-- ---- export for the offline verifier ----------------------------------------------

CREATE FUNCTION ledger_export(operator bigint, old_size bigint DEFAULT NULL) RETURNS SETOF text
	LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$
	WITH head AS (
		SELECT * FROM shilian.checkpoint ORDER BY tree_size DESC LIMIT 1
	), signed AS (
		SELECT n.tree_size, shilian.checkpoint_note(n.tree_size) AS note
		  FROM shilian.checkpoint_note n ORDER BY n.tree_size DESC LIMIT 1
	), heads AS (
		SELECT h.* FROM signed s, shilian.checkpoint_heads(s.tree_size) h
	), own AS (
		SELECT * FROM heads WHERE operator_id = $1
	), shown AS (
		-- the operator's own head, or the two around where it would be (absent)
		SELECT * FROM own
		UNION ALL
		(SELECT * FROM heads WHERE operator_id < $1 AND NOT EXISTS (SELECT 1 FROM own) ORDER BY operator_id DESC LIMIT 1)
		UNION ALL
		(SELECT * FROM heads WHERE operator_id > $1 AND NOT EXISTS (SELECT 1 FROM own) ORDER BY operator_id LIMIT 1)
	), lines AS (
		SELECT 0 AS part, 0::bigint AS ord,
			jsonb_build_object('type', 'header', 'format', 'shilian-ledger-export/1',
				'operator', $1::text, 'exported_at', now())::text AS line
		UNION ALL
		SELECT 1, l.seq, jsonb_build_object(
			'type', 'entry',
			'id', l.id::text,
			'operator_id', l.operator_id::text,
			'seq', l.seq::text,
			'alg', CASE l.alg WHEN 1 THEN 'sha256' WHEN 2 THEN 'sm3' ELSE l.alg::text END,
			'kind', l.kind,
			'recorded_at', l.recorded_at,
			'recorded_at_us', (extract(epoch FROM l.recorded_at) * 1000000)::bigint::text,
			'supersedes', l.supersedes::text,
			'body_canonical', encode(l.body, 'hex'),
			'prev_hash', encode(l.prev_hash, 'hex'),
			'hash', encode(l.hash, 'hex'),
			'leaf_index', f.leaf_index::text,
			'inclusion', CASE WHEN f.leaf_index < h.tree_size
				THEN shilian.inclusion_proof(l.id, h.tree_size)->'path' END)::text
		FROM shilian.ledger l
		LEFT JOIN shilian.ledger_leaf f ON f.entry_id = l.id
		LEFT JOIN head h ON true
		WHERE l.operator_id = $1
		UNION ALL
		-- each stretch of the chain whose month was archived (part 54): the
		-- chain goes on from the hash of its last entry, proved in the tree
		SELECT 1, r.first_seq, jsonb_build_object('type', 'archived',
			'month', to_char(r.month, 'YYYY-MM'),
			'first_seq', r.first_seq::text, 'last_seq', r.last_seq::text,
			'last_entry_id', c.entry_id::text, 'last_hash', encode(r.last_hash, 'hex'),
			'leaf_index', f.leaf_index::text,
			'inclusion', shilian.inclusion_proof(c.entry_id, h.tree_size)->'path')::text
		FROM shilian.ledger_archived_range r
		JOIN shilian.ledger_chain c ON c.operator_id = r.operator_id AND c.seq = r.last_seq
		JOIN shilian.ledger_leaf f ON f.entry_id = c.entry_id
		LEFT JOIN head h ON true
		WHERE r.operator_id = $1
		UNION ALL
		SELECT 2, 0, jsonb_build_object('type', 'checkpoint', 'tree_size', h.tree_size::text,
			'root', encode(h.root, 'hex'),
			'alg', CASE h.alg WHEN 1 THEN 'sha256' WHEN 2 THEN 'sm3' ELSE h.alg::text END,
			'created_at', h.created_at)::text
		FROM head h
		UNION ALL
		-- the operator's last checkpointed entry, as the tree recorded it: an
		-- export whose chain stops short of it has lost its tail
		SELECT 2, 1, jsonb_build_object('type', 'checkpointed_head', 'seq', f.seq::text,
			'entry_id', f.entry_id::text, 'leaf_index', f.leaf_index::text,
			'entry_hash', encode(f.hash, 'hex'),
			'inclusion', shilian.inclusion_proof(f.entry_id, h.tree_size)->'path')::text
		FROM head h, LATERAL (
			SELECT * FROM shilian.ledger_leaf lf
			WHERE lf.operator_id = $1 AND lf.leaf_index < h.tree_size
			ORDER BY lf.seq DESC LIMIT 1) f
		UNION ALL
		-- the latest signed checkpoint, and where the operator's last entry
		-- in it is (docs/ledger-format.md#signed-checkpoints)
		SELECT 2, 2, jsonb_build_object('type', 'signed_checkpoint', 'tree_size', s.tree_size::text,
			'note', s.note,
			'heads_size', (SELECT count(*) FROM heads)::text,
			'heads', coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
					'index', w.idx::text, 'operator_id', w.operator_id::text,
					'seq', CASE WHEN w.operator_id = $1 THEN w.seq::text END,
					'leaf_index', CASE WHEN w.operator_id = $1 THEN w.leaf_index::text END,
					'entry_hash', CASE WHEN w.operator_id = $1 THEN encode(w.entry_hash, 'hex') END,
					'head_digest', encode(substr(w.leaf, 9), 'hex'),
					'path', to_jsonb(ARRAY(SELECT encode(p, 'hex') FROM unnest(shilian.merkle_path(
						ARRAY(SELECT h.leaf FROM heads h ORDER BY h.idx), w.idx, shilian.log_algorithm())) p))))
					ORDER BY w.idx) FROM shown w), '[]'))::text
		FROM signed s
		UNION ALL
		SELECT 3, c.size, jsonb_build_object('type', 'consistency', 'old_size', c.size::text,
			'new_size', h.tree_size::text,
			'path', shilian.consistency_proof(c.size, h.tree_size)->'path')::text
		FROM head h, (SELECT tree_size FROM shilian.checkpoint UNION SELECT $2) AS c(size)
		WHERE c.size > 0 AND c.size < h.tree_size
	)
	-- definer rights: only for a caller that may see the operator (part 15)
	SELECT line FROM lines WHERE shilian.require_see($1) ORDER BY part, ord
$$;
COMMENT ON FUNCTION ledger_export(bigint, bigint) IS
	'JSON lines for shilian-verify: a header, the operator''s entries with inclusion proofs (and each archived stretch of its chain: its last hash, proved), the latest checkpoint, the operator''s last checkpointed entry, the latest signed checkpoint with the heads proof for the operator, and consistency proofs from every earlier checkpoint and from old_size.';
REVOKE ALL ON FUNCTION ledger_export(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_export(bigint, bigint) TO shilian_regulator, shilian_admin;
ALTER FUNCTION ledger_export(bigint, bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION ledger_export(bigint, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
