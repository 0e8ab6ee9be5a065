-- shilian install script, part 50: the tamper-evident ledger
-- (docs/ledger-format.md). Per-operator hash chains, an RFC 9162 Merkle log
-- over all entries, and the protection that makes the tables insert-only.

-- One row per record. The hash covers every column but leaf placement
-- (kept in ledger_leaf, so that this table is strictly insert-only).
-- Ready for time partitioning: ids and recorded_at grow together, and
-- nothing refers to a row by its physical position.
CREATE TABLE ledger (
	id			bigint PRIMARY KEY,
	operator_id	bigint NOT NULL,
	seq			bigint NOT NULL CHECK (seq >= 1),
	kind		text NOT NULL,
	body		bytea NOT NULL,
	alg			smallint NOT NULL,
	prev_hash	bytea NOT NULL,
	hash		bytea NOT NULL,
	supersedes	bigint,
	recorded_at	timestamptz NOT NULL,
	-- the last line of defence against a forked chain
	CONSTRAINT ledger_operator_seq_key UNIQUE (operator_id, seq)
);
COMMENT ON TABLE ledger IS
	'Insert-only ledger: one hash-chained entry per record, per operator chain (docs/ledger-format.md).';
COMMENT ON COLUMN ledger.body IS
	'The record body in the canonical encoding that is hashed; ledger_body() renders it as jsonb.';
COMMENT ON COLUMN ledger.alg IS '1 = SHA-256, 2 = SM3 (shilian.hash_algorithm when appended).';
CREATE SEQUENCE ledger_id_seq AS bigint OWNED BY ledger.id;

-- Leaf placement in the Merkle log, assigned by checkpoint() in entry-id order.
CREATE TABLE ledger_leaf (
	leaf_index	bigint PRIMARY KEY CHECK (leaf_index >= 0),
	entry_id	bigint NOT NULL UNIQUE,
	operator_id	bigint NOT NULL,
	seq			bigint NOT NULL,
	hash		bytea NOT NULL
);
CREATE INDEX ledger_leaf_operator_seq ON ledger_leaf (operator_id, seq);
COMMENT ON TABLE ledger_leaf IS
	'Leaf index of every checkpointed ledger entry, with the entry hash the Merkle tree was built from.';

-- Roots of complete Merkle subtrees at levels 4, 8, 12, ... (16, 256, ... leaves):
-- a proof element costs at most 8 stored hashes, storage about n/15 rows.
CREATE TABLE merkle_node (
	level		smallint NOT NULL,
	idx			bigint NOT NULL,
	hash		bytea NOT NULL,
	PRIMARY KEY (level, idx)
);
COMMENT ON TABLE merkle_node IS
	'Stored roots of complete subtrees of the Merkle log at every fourth level.';

CREATE TABLE checkpoint (
	tree_size	bigint PRIMARY KEY CHECK (tree_size >= 0),
	root		bytea NOT NULL,
	alg			smallint NOT NULL,
	last_entry_id bigint NOT NULL,
	frontier	bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE checkpoint IS
	'Published Merkle tree heads: size, root, hash algorithm, and the right edge (frontier) to extend from.';

-- Maintenance done on ledger tables under shilian.ledger_maintenance.
CREATE TABLE ledger_maintenance (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT now(),
	role		name NOT NULL DEFAULT session_user,
	command		text NOT NULL,
	object		text NOT NULL,
	query		text
);
COMMENT ON TABLE ledger_maintenance IS
	'Every DROP/ALTER of a ledger table done in maintenance mode (also appended to the ledger, operator 0).';

SELECT pg_catalog.pg_extension_config_dump('ledger', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_leaf', '');
SELECT pg_catalog.pg_extension_config_dump('merkle_node', '');
SELECT pg_catalog.pg_extension_config_dump('checkpoint', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_maintenance', '');

REVOKE ALL ON ledger, ledger_leaf, merkle_node, checkpoint, ledger_maintenance FROM PUBLIC;

-- ---- append and verify ------------------------------------------------------

CREATE FUNCTION ledger_append(operator_id bigint, kind text, body jsonb, supersedes bigint DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'shilian_ledger_append'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ledger_append(bigint, text, jsonb, bigint) IS
	'Append one entry (body: a jsonb object) to the operator''s hash chain; returns the entry id. supersedes names the entry this one corrects.';
REVOKE ALL ON FUNCTION ledger_append(bigint, text, jsonb, bigint) FROM PUBLIC;

CREATE FUNCTION ledger_body(body bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'shilian_ledger_body'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger_body(bytea) IS
	'The jsonb value of a canonical ledger body (ledger.body).';

CREATE FUNCTION ledger_canonical(body jsonb) RETURNS bytea
	AS 'MODULE_PATHNAME', 'shilian_ledger_canonical'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger_canonical(jsonb) IS
	'The canonical encoding of a jsonb object, as hashed in ledger entries (docs/ledger-format.md).';

CREATE FUNCTION chain_verify(operator bigint DEFAULT NULL,
	OUT operator bigint, OUT entries bigint, OUT ok boolean, OUT first_bad_seq bigint, OUT reason text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'shilian_chain_verify'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION chain_verify(bigint) IS
	'Recompute every hash of one operator''s chain (NULL: all chains) and check sequence continuity and checkpointed tails; one row per operator.';
