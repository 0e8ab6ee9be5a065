-- shilian install script, part 50: the tamper-evident ledger
-- (docs/ledger-format.md). Per-operator hash chains, an RFC 9162 Merkle log
-- over all entries, and the protection that makes the tables insert-only.

-- One row per record. The hash covers every column but leaf placement
-- (kept in ledger_leaf, so that this table is strictly insert-only).
-- Partitioned by month of recorded_at (Asia/Shanghai months: partition
-- ledger_pYYYYMM holds [YYYY-MM-01, next month) in Asia/Shanghai time), with a
-- DEFAULT partition ledger_default so that an insert never fails; the months
-- are created ahead by ledger_partitions_ahead() (a scheduled job, part 92).
-- A partitioned table's unique keys must contain recorded_at, so the keys
-- that make a fork impossible are kept in ledger_chain below. The indexes
-- are each partition's own, (id, recorded_at) as its primary key and
-- (operator_id, seq), made with it: indexes of the partitioned table would be
-- made again by a restore's ATTACH PARTITION before the dump's own.
CREATE TABLE ledger (
	id			bigint NOT NULL,
	operator_id	bigint NOT NULL,
	seq			bigint NOT NULL CHECK (seq >= 1),
	kind		text NOT NULL,
	body		bytea NOT NULL,
	alg			smallint NOT NULL,
	prev_hash	bytea NOT NULL,
	hash		bytea NOT NULL,
	supersedes	bigint,
	recorded_at	timestamptz NOT NULL,
	-- outside the hashed entry: where a record came from (NULL: typed in
	-- directly; api:CLIENT, import[:CLIENT], epcis[:CLIENT]) and the date of
	-- the event it records; NULL both for entries not made by a record function
	source		text,
	on_date		date
) PARTITION BY RANGE (recorded_at);
COMMENT ON TABLE ledger IS
	'Insert-only ledger: one hash-chained entry per record, per operator chain (docs/ledger-format.md).';
COMMENT ON COLUMN ledger.body IS
	'The record body in the canonical encoding that is hashed; ledger_body() renders it as jsonb.';
COMMENT ON COLUMN ledger.source IS
	'Not hashed: how a record arrived (NULL typed in directly; api:CLIENT, import, import:CLIENT, epcis, epcis:CLIENT).';
COMMENT ON COLUMN ledger.on_date IS
	'Not hashed: the date of the event a record function recorded (the day it counts on in operator_day).';
COMMENT ON COLUMN ledger.alg IS '1 = SHA-256, 2 = SM3 (shilian.hash_algorithm when appended).';
CREATE SEQUENCE ledger_id_seq AS bigint OWNED BY ledger.id;

-- Where no month partition exists (before ledger_partitions_ahead() first
-- runs, or past the months it made).
CREATE TABLE ledger_default PARTITION OF ledger DEFAULT;
ALTER TABLE ledger_default ADD CONSTRAINT ledger_default_pkey PRIMARY KEY (id, recorded_at);
CREATE INDEX ledger_default_operator_seq ON ledger_default (operator_id, seq);
COMMENT ON TABLE ledger_default IS
	'Default partition of shilian.ledger: entries of months that had no partition of their own when recorded.';

-- One row per ledger entry, written by the append beside its entry, and by
-- the ledger's own insert trigger (on every partition, also those made
-- later) for any other insert: (operator_id, seq) is the last
-- line of defence against a forked chain and entry_id keeps ids unique
-- across partitions. The appends read a chain's head here (seq and hash of
-- its last entry). A restore refills it as it loads the ledger; only the rows
-- of archived months are dumped (part 99).
-- Rows stay when a month is archived, so an archived seq is never reused.
CREATE TABLE ledger_chain (
	operator_id	bigint NOT NULL,
	seq			bigint NOT NULL,
	entry_id	bigint NOT NULL CONSTRAINT ledger_chain_entry_id_key UNIQUE,
	hash		bytea NOT NULL,
	CONSTRAINT ledger_chain_pkey PRIMARY KEY (operator_id, seq)
);
COMMENT ON TABLE ledger_chain IS
	'(operator, seq) and entry id of every ledger entry, unique across the ledger''s partitions: a forked chain or a reused id is refused; the append finds chain heads here.';

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
SELECT pg_catalog.pg_extension_config_dump('ledger_default', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_leaf', '');
SELECT pg_catalog.pg_extension_config_dump('merkle_node', '');
SELECT pg_catalog.pg_extension_config_dump('checkpoint', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_maintenance', '');

REVOKE ALL ON ledger, ledger_default, ledger_chain, ledger_leaf, merkle_node, checkpoint, ledger_maintenance FROM PUBLIC;
-- Row-level security is switched on here, before the DDL guard below exists;
-- the policies per role are in part 80 (docs/security.md).
ALTER TABLE ledger ENABLE ROW LEVEL SECURITY;
-- the partitions and ledger_chain are granted to no role: with row-level
-- security on and no policy, not even a grant made by mistake shows a row
ALTER TABLE ledger_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_chain ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_leaf ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_maintenance ENABLE ROW LEVEL SECURITY;

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
	LANGUAGE C STABLE PARALLEL SAFE ROWS 1 SECURITY DEFINER;
COMMENT ON FUNCTION chain_verify(bigint) IS
	'Recompute every hash of one operator''s chain (NULL: all chains) and check sequence continuity and checkpointed tails; one row per operator.';
REVOKE ALL ON FUNCTION chain_verify(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chain_verify(bigint) TO shilian_regulator, shilian_admin;
-- chain_verify, log_verify and ledger_export run with definer rights (part
-- 50; chain_verify checks its caller in C, ledger_export with require_see):
-- fix their search_path so that pg_temp comes last.
ALTER FUNCTION chain_verify(bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION chain_verify(bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- ---- Merkle log ---------------------------------------------------------------

CREATE FUNCTION checkpoint(OUT tree_size bigint, OUT root bytea, OUT created_at timestamptz)
	AS 'MODULE_PATHNAME', 'shilian_checkpoint'
	LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION checkpoint() IS
	'Add every committed entry not yet in the Merkle log as leaves (in entry id order) and publish the new tree head; waits for appends in flight.';
REVOKE ALL ON FUNCTION checkpoint() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION checkpoint() TO shilian_admin;
-- checkpoint() writes the Merkle log tables, which no role may write
-- directly; with definer rights shilian_admin (a cron job) runs it without
-- being a superuser.
ALTER FUNCTION checkpoint() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION inclusion_proof(entry bigint, tree_size bigint DEFAULT NULL) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'shilian_inclusion_proof'
	LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER;
COMMENT ON FUNCTION inclusion_proof(bigint, bigint) IS
	'RFC 9162 inclusion proof of a ledger entry in the log of tree_size leaves (NULL: the latest checkpoint).';
REVOKE ALL ON FUNCTION inclusion_proof(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION inclusion_proof(bigint, bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;
-- A proof needs the hashes of neighbouring leaves, which belong to other
-- operators; the Merkle log is public to every role like a CT log (a proof
-- holds the entry id, leaf index, hashes and root: no operator, no body, no
-- count per operator), so the proof functions read it with definer rights.
-- ledger and ledger_leaf rows themselves stay behind their policies.
ALTER FUNCTION inclusion_proof(bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION inclusion_proof(bigint, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION consistency_proof(old_size bigint, new_size bigint DEFAULT NULL) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'shilian_consistency_proof'
	LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER;
COMMENT ON FUNCTION consistency_proof(bigint, bigint) IS
	'RFC 9162 consistency proof that the log of old_size leaves is a prefix of the log of new_size leaves (NULL: the latest checkpoint).';
REVOKE ALL ON FUNCTION consistency_proof(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION consistency_proof(bigint, bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;
ALTER FUNCTION consistency_proof(bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION consistency_proof(bigint, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION verify_inclusion(leaf_index bigint, tree_size bigint, leaf_hash bytea, path bytea[],
	root bytea, algorithm text DEFAULT 'sha256') RETURNS boolean
	AS 'MODULE_PATHNAME', 'shilian_verify_inclusion'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION verify_inclusion(bigint, bigint, bytea, bytea[], bytea, text) IS
	'Check an RFC 9162 inclusion proof of a leaf hash against a root; a ledger entry''s leaf hash is H(0x00 || entry hash).';

CREATE FUNCTION verify_inclusion(proof jsonb) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.verify_inclusion((proof->>'leaf_index')::bigint, (proof->>'tree_size')::bigint,
		shilian.hash('\x00'::bytea || decode(proof->>'entry_hash', 'hex'), proof->>'alg'),
		ARRAY(SELECT decode(p, 'hex') FROM jsonb_array_elements_text(proof->'path') WITH ORDINALITY AS e(p, i) ORDER BY i),
		decode(proof->>'root', 'hex'), proof->>'alg');
COMMENT ON FUNCTION verify_inclusion(jsonb) IS
	'Check an inclusion proof as returned by inclusion_proof() (its entry_hash is hashed into the leaf).';

CREATE FUNCTION verify_consistency(old_size bigint, new_size bigint, old_root bytea, new_root bytea,
	path bytea[], algorithm text DEFAULT 'sha256') RETURNS boolean
	AS 'MODULE_PATHNAME', 'shilian_verify_consistency'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION verify_consistency(bigint, bigint, bytea, bytea, bytea[], text) IS
	'Check an RFC 9162 consistency proof between two tree heads.';

CREATE FUNCTION verify_consistency(proof jsonb) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.verify_consistency((proof->>'old_size')::bigint, (proof->>'new_size')::bigint,
		decode(proof->>'old_root', 'hex'), decode(proof->>'new_root', 'hex'),
		ARRAY(SELECT decode(p, 'hex') FROM jsonb_array_elements_text(proof->'path') WITH ORDINALITY AS e(p, i) ORDER BY i),
		proof->>'alg');
COMMENT ON FUNCTION verify_consistency(jsonb) IS
	'Check a consistency proof as returned by consistency_proof().';

CREATE FUNCTION log_verify(OUT tree_size bigint, OUT ok boolean, OUT first_bad_leaf bigint, OUT reason text)
	AS 'MODULE_PATHNAME', 'shilian_log_verify'
	LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER;
COMMENT ON FUNCTION log_verify() IS
	'Rebuild the Merkle log from the ledger''s entry hashes and compare with every published checkpoint root.';
REVOKE ALL ON FUNCTION log_verify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION log_verify() TO shilian_regulator, shilian_admin;
ALTER FUNCTION log_verify() SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION log_verify() TO shilian_admin;

-- ---- protection ---------------------------------------------------------------
-- Insert-only for everyone: privileges are revoked above, and this trigger
-- refuses UPDATE, DELETE and TRUNCATE even to the owner. A superuser can still
-- bypass it (session_replication_role = replica); chain_verify, log_verify
-- and shilian-verify detect what such a change did.

-- The one exception: ledger_month_split() (part 54) moves a past month out
-- of ledger_default into a partition of its own; the C guard lets its own
-- transaction delete that month's rows there, and nothing else.
CREATE FUNCTION ledger_split_allowed(recorded_at timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME', 'shilian_ledger_split_allowed'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION ledger_split_allowed(timestamptz) IS
	'For ledger_refuse_change(): whether this transaction is ledger_month_split() moving the month that holds this time out of ledger_default.';

CREATE FUNCTION ledger_refuse_change() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog
	AS $$
BEGIN
	IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' AND TG_RELID = 'shilian.ledger_default'::regclass THEN
		IF shilian.ledger_split_allowed(OLD.recorded_at) THEN
			RETURN OLD;
		END IF;
	END IF;
	RAISE EXCEPTION USING
		ERRCODE = 'SLL30',
		MESSAGE = format('%s on shilian.%s is not allowed', lower(TG_OP), TG_TABLE_NAME),
		DETAIL = 'Ledger tables are insert-only.',
		HINT = 'A correction is a new entry: shilian.ledger_append(operator, kind, body, supersedes => entry id).';
END
$$;
COMMENT ON FUNCTION ledger_refuse_change() IS
	'Trigger function refusing UPDATE, DELETE and TRUNCATE on the ledger tables (SQLSTATE SLL30).';

CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
-- A statement trigger of the partitioned ledger fires for statements on the
-- ledger only; a row trigger is cloned to every partition, also to those
-- made later, so UPDATE and DELETE of a partition named directly are
-- refused too. TRUNCATE has no row triggers: each partition gets its own
-- statement trigger (here, and in ledger_partitions_ahead()).
CREATE TRIGGER ledger_insert_only_row BEFORE UPDATE OR DELETE ON ledger
	FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE TRUNCATE ON ledger_default
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_chain
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Every entry, whichever partition it goes to and however it is inserted
-- (the append, a restore's COPY), gets its row in ledger_chain: a second
-- entry at the same (operator, seq), or a second entry with the same id, is
-- refused there (unique_violation on ledger_chain_pkey or
-- ledger_chain_entry_id_key) and the insert fails. The trigger is C
-- (ledger.c), writing the row directly (heap and index insertion, every key
-- checked); the append's fast path writes the same row itself, in the same
-- way, and goes straight to the month partition, so the trigger fires only
-- for the other insert paths.
CREATE FUNCTION ledger_chain_link() RETURNS trigger
	AS 'MODULE_PATHNAME', 'shilian_ledger_chain_link'
	LANGUAGE C;
COMMENT ON FUNCTION ledger_chain_link() IS
	'Insert trigger of the ledger (every partition): records (operator, seq, entry id, hash) in ledger_chain, whose keys refuse a forked chain or a reused id.';
CREATE TRIGGER ledger_chain_link BEFORE INSERT ON ledger
	FOR EACH ROW EXECUTE FUNCTION ledger_chain_link();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_leaf
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON merkle_node
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoint
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_maintenance
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- DROP and ALTER of ledger tables (and of their triggers, rules and sequence)
-- only with shilian.ledger_maintenance = on, which only a superuser can set;
-- each such command is recorded twice: in ledger_maintenance and as a ledger
-- entry of operator 0, the platform's own chain. The objects are known by
-- identity here (pg_event_trigger_dropped_objects, pg_event_trigger_ddl_commands),
-- whatever the query text says, so dynamic SQL in a DO block is caught too.
CREATE FUNCTION ledger_guard_ddl() RETURNS event_trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog
	AS $$
DECLARE
	protected CONSTANT text[] := ARRAY['ledger', 'ledger_default', 'ledger_chain', 'ledger_leaf',
		'merkle_node', 'checkpoint', 'ledger_maintenance', 'ledger_id_seq'];
	-- the month partitions of the ledger (ledger_partitions_ahead())
	month CONSTANT text := '^ledger_p[0-9]{6}$';
	hits text[] := '{}';
	r record;
BEGIN
	IF TG_EVENT = 'sql_drop' THEN
		FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
			IF r.schema_name = 'shilian' AND r.object_type IN ('table', 'sequence')
				 AND (r.object_name = ANY (protected) OR r.object_name ~ month)
			   OR r.object_type IN ('trigger', 'rule') AND r.object_identity ~ ' on shilian\.' AND
				  (split_part(r.object_identity, ' on shilian.', 2) = ANY (protected)
				   OR split_part(r.object_identity, ' on shilian.', 2) ~ month) THEN
				hits := hits || r.object_identity;
			END IF;
		END LOOP;
	ELSE
		-- nothing of schema shilian: the guard has nothing to say (and a
		-- role without USAGE on it may change its own tables)
		IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
					   WHERE c.schema_name = 'shilian' OR c.object_identity ~ ' on shilian\.') THEN
			RETURN;
		END IF;
		-- ATTACH PARTITION of an empty table, and what a restore does to a
		-- month partition (OWNER TO the ledger's owner, ROW LEVEL SECURITY,
		-- ADD PRIMARY KEY): judged from the parse tree at ddl_command_start
		-- (ledger_guard.c)
		IF TG_TAG = 'ALTER TABLE' AND shilian.ledger_guard_harmless() THEN
			RETURN;
		END IF;
		FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
			IF r.classid = 'pg_class'::regclass AND r.schema_name = 'shilian'
				 AND ((SELECT relname FROM pg_class WHERE oid = r.objid) = ANY (protected)
					  OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = r.objid
								 AND i.inhparent = 'shilian.ledger'::regclass))
			   OR r.classid = 'pg_trigger'::regclass AND r.object_identity ~ ' on shilian\.' AND
				  (split_part(r.object_identity, ' on shilian.', 2) = ANY (protected)
				   OR split_part(r.object_identity, ' on shilian.', 2) ~ month)
				  -- the TRUNCATE guard of a month partition, as made by
				  -- ledger_partitions_ahead() and by a restore, takes nothing away
				  AND NOT (TG_TAG = 'CREATE TRIGGER' AND split_part(r.object_identity, ' on shilian.', 2) ~ month
						   AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.oid = r.objid
									   AND t.tgname = 'ledger_insert_only'
									   AND t.tgfoid = 'shilian.ledger_refuse_change()'::regprocedure))
			   OR r.classid = 'pg_rewrite'::regclass AND r.object_identity ~ ' on shilian\.' AND
				  (split_part(r.object_identity, ' on shilian.', 2) = ANY (protected)
				   OR split_part(r.object_identity, ' on shilian.', 2) ~ month) THEN
				hits := hits || r.object_identity;
			END IF;
		END LOOP;
	END IF;
	IF cardinality(hits) = 0 THEN
		RETURN;
	END IF;
	IF NOT (coalesce(current_setting('shilian.ledger_maintenance', true), 'off')::boolean
			AND current_setting('is_superuser')::boolean) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'SLL31',
			MESSAGE = format('%s of ledger objects is not allowed', lower(TG_TAG)),
			DETAIL = format('The command touches %s.', array_to_string(hits, ', ')),
			HINT = 'A superuser can SET shilian.ledger_maintenance = on for the maintenance; it is recorded.';
	END IF;
	IF to_regclass('shilian.ledger_maintenance') IS NOT NULL THEN
		INSERT INTO shilian.ledger_maintenance (command, object, query)
			VALUES (TG_TAG, array_to_string(hits, ', '), current_query());
	END IF;
	IF to_regclass('shilian.ledger') IS NOT NULL
	   AND to_regprocedure('shilian.ledger_append(bigint,text,jsonb,bigint)') IS NOT NULL THEN
		PERFORM shilian.ledger_append(0, 'ledger_maintenance',
			jsonb_build_object('command', TG_TAG, 'objects', to_jsonb(hits), 'role', session_user::text));
	END IF;
END
$$;
COMMENT ON FUNCTION ledger_guard_ddl() IS
	'Event trigger function: DROP/ALTER of ledger objects only in recorded maintenance mode (SQLSTATE SLL31).';

-- DROP EXTENSION shilian, DROP SCHEMA shilian and DROP OWNED BY the owner
-- would drop the triggers above with everything else: they are refused before
-- they run, from the command's parse tree (C, ledger_guard.c), unless a
-- superuser set shilian.allow_drop in the same transaction; DROP EXTENSION
-- then takes the schema with it (docs/install.md#uninstalling).
CREATE FUNCTION ledger_guard_drop() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'shilian_ledger_guard_drop'
	LANGUAGE C;
COMMENT ON FUNCTION ledger_guard_drop() IS
	'Event trigger function: DROP EXTENSION shilian (or its schema, or its owner''s objects) only with shilian.allow_drop set in the transaction (SQLSTATE SLL31).';

CREATE FUNCTION ledger_guard_alter_start() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'shilian_ledger_guard_alter_start'
	LANGUAGE C;
COMMENT ON FUNCTION ledger_guard_alter_start() IS
	'Event trigger function (ddl_command_start of ALTER TABLE): notes whether the command only attaches an empty partition to the ledger or does to a ledger partition what a restore does (owner, primary key).';
CREATE FUNCTION ledger_guard_harmless() RETURNS boolean
	AS 'MODULE_PATHNAME', 'shilian_ledger_guard_harmless'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ledger_guard_harmless() IS
	'For ledger_guard_ddl(): whether the ALTER TABLE ending now was found harmless at its start (then forgotten).';
REVOKE ALL ON FUNCTION ledger_guard_harmless() FROM PUBLIC;

CREATE EVENT TRIGGER shilian_ledger_guard_drop ON sql_drop
	EXECUTE FUNCTION ledger_guard_ddl();
CREATE EVENT TRIGGER shilian_ledger_guard_alter_start ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION ledger_guard_alter_start();
CREATE EVENT TRIGGER shilian_ledger_guard_alter ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'ALTER SEQUENCE', 'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE RULE')
	EXECUTE FUNCTION ledger_guard_ddl();
CREATE EVENT TRIGGER shilian_ledger_guard_extension ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION ledger_guard_drop();
-- fire even under session_replication_role = replica
ALTER EVENT TRIGGER shilian_ledger_guard_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER shilian_ledger_guard_extension ENABLE ALWAYS;
ALTER EVENT TRIGGER shilian_ledger_guard_alter ENABLE ALWAYS;
ALTER EVENT TRIGGER shilian_ledger_guard_alter_start ENABLE ALWAYS;

-- ---- month partitions ---------------------------------------------------------

CREATE FUNCTION ledger_partitions_ahead(months integer DEFAULT 3) RETURNS integer
	LANGUAGE plpgsql
	-- definer rights: a partition is made by the ledger's owner; the job
	-- runs as shilian_admin
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	first CONSTANT date := date_trunc('month', shilian.platform_today())::date;
	m date;
	lo timestamptz;
	hi timestamptz;
	part text;
	made integer := 0;
BEGIN
	IF months IS NULL OR months < 0 OR months > 24 THEN
		RAISE EXCEPTION USING
			ERRCODE = 'SLL50',
			MESSAGE = format('cannot make ledger partitions %s months ahead', coalesce(months::text, 'NULL')),
			HINT = 'Give a number of months from 0 to 24 (the current month is always made).';
	END IF;
	-- one caller at a time (two jobs making the same month); 21324 = 0x534C, the ledger's lock space
	PERFORM pg_advisory_xact_lock(21324, 50);
	FOR i IN 0 .. months LOOP
		m := (first + make_interval(months => i))::date;
		part := 'ledger_p' || to_char(m, 'YYYYMM');
		CONTINUE WHEN to_regclass(format('shilian.%I', part)) IS NOT NULL;
		-- Asia/Shanghai months, whatever the session's time zone
		lo := m::timestamp AT TIME ZONE 'Asia/Shanghai';
		hi := (m + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai';
		-- entries of the month already in the default partition stay there
		-- (rows are never moved): the month gets no partition of its own
		CONTINUE WHEN EXISTS (SELECT 1 FROM shilian.ledger_default d
							  WHERE d.recorded_at >= lo AND d.recorded_at < hi);
		EXECUTE format('CREATE TABLE shilian.%I PARTITION OF shilian.ledger FOR VALUES FROM (%L) TO (%L)',
					   part, lo, hi);
		EXECUTE format('ALTER TABLE shilian.%I ADD CONSTRAINT %I PRIMARY KEY (id, recorded_at)', part, part || '_pkey');
		EXECUTE format('CREATE INDEX %I ON shilian.%I (operator_id, seq)', part || '_operator_seq', part);
		EXECUTE format('ALTER TABLE shilian.%I ENABLE ROW LEVEL SECURITY', part);
		EXECUTE format('CREATE TRIGGER ledger_insert_only BEFORE TRUNCATE ON shilian.%I'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION shilian.ledger_refuse_change()', part);
		made := made + 1;
	END LOOP;
	RETURN made;
END
$$;
COMMENT ON FUNCTION ledger_partitions_ahead(integer) IS
	'Admin (a daily job): make the ledger''s month partitions (ledger_pYYYYMM, Asia/Shanghai months) from the current month to months ahead, skipping a month with entries in the default partition; returns how many were made. SLL50 for months outside 0..24.';
REVOKE ALL ON FUNCTION ledger_partitions_ahead(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_partitions_ahead(integer) TO shilian_admin;

GRANT SELECT ON checkpoint TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;
