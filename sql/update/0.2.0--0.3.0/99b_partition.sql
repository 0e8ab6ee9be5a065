-- shilian upgrade script 0.2.0 -> 0.3.0, part 99b: the ledger partitioned by
-- month (issue 22). The same steps as the changed parts of
-- sql/src/50_ledger.sql (ledger partitioned by recorded_at with ledger_default,
-- ledger_chain and its insert trigger, the row trigger and the partitions'
-- TRUNCATE guard, ledger_guard_ddl for partitions, ledger_guard_alter_start,
-- ledger_guard_harmless, ledger_partitions_ahead) and of
-- sql/src/92_schedule.sql (the daily shilian_ledger_partitions job). The
-- existing entries are copied into the new ledger in id order (ids, seqs,
-- hashes and recorded_at unchanged, so the chains and the Merkle log verify
-- as before); they all go to ledger_default, which keeps them (rows are never
-- moved); the month partitions start with the first month that has no entry
-- in it (ledger_partitions_ahead(), the daily job). Full bodies of the
-- functions earlier parts created.

-- The DDL guard refuses all of this outside maintenance mode, and would
-- append a maintenance entry per command: it is off while this script runs
-- (in the one transaction of ALTER EXTENSION UPDATE).
ALTER EVENT TRIGGER shilian_ledger_guard_drop DISABLE;
ALTER EVENT TRIGGER shilian_ledger_guard_alter DISABLE;

-- correction_via has an SQL-standard body that depends on the old table
DROP FUNCTION correction_via(bigint);

ALTER TABLE ledger RENAME TO ledger_unpartitioned;
ALTER INDEX ledger_pkey RENAME TO ledger_unpartitioned_pkey;
ALTER INDEX ledger_operator_seq_key RENAME TO ledger_unpartitioned_operator_seq_key;
ALTER TABLE ledger_unpartitioned RENAME CONSTRAINT ledger_seq_check TO ledger_unpartitioned_seq_check;

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
COMMENT ON TABLE ledger IS
	'Insert-only ledger: one hash-chained entry per record, per operator chain (docs/ledger-format.md).';
COMMENT ON COLUMN ledger.body IS
	'The record body in the canonical encoding that is hashed; ledger_body() renders it as jsonb.';
COMMENT ON COLUMN ledger.source IS
	'Not hashed: how a record arrived (NULL typed in directly; api:CLIENT, import, import:CLIENT, epcis, epcis:CLIENT).';
COMMENT ON COLUMN ledger.on_date IS
	'Not hashed: the date of the event a record function recorded (the day it counts on in operator_day).';
COMMENT ON COLUMN ledger.alg IS '1 = SHA-256, 2 = SM3 (shilian.hash_algorithm when appended).';
ALTER SEQUENCE ledger_id_seq OWNED BY ledger.id;

-- Where no month partition exists (before ledger_partitions_ahead() first
-- runs, or past the months it made).
CREATE TABLE ledger_default PARTITION OF ledger DEFAULT;
ALTER TABLE ledger_default ADD CONSTRAINT ledger_default_pkey PRIMARY KEY (id, recorded_at);
CREATE INDEX ledger_default_operator_seq ON ledger_default (operator_id, seq);
COMMENT ON TABLE ledger_default IS
	'Default partition of shilian.ledger: entries of months that had no partition of their own when recorded.';

-- One row per ledger entry, written by the ledger's own insert trigger (on
-- every partition, also those made later): (operator_id, seq) is the last
-- line of defence against a forked chain and entry_id keeps ids unique
-- across partitions. The appends read a chain's head here (seq and hash of
-- its last entry). Not dumped: a restore refills it as it loads the ledger.
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

SELECT pg_catalog.pg_extension_config_dump('ledger', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_default', '');
REVOKE ALL ON ledger, ledger_default, ledger_chain FROM PUBLIC;
ALTER TABLE ledger ENABLE ROW LEVEL SECURITY;
-- the partitions and ledger_chain are granted to no role: with row-level
-- security on and no policy, not even a grant made by mistake shows a row
ALTER TABLE ledger_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_chain ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON ledger TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
-- the policies of part 80
CREATE POLICY ledger_admin ON ledger TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY ledger_operator ON ledger FOR SELECT TO shilian_operator
	USING (operator_id = shilian.current_operator());
CREATE POLICY ledger_system ON ledger FOR SELECT TO shilian_system
	USING (operator_id IN (SELECT c FROM shilian.client_operators() AS c));
CREATE POLICY ledger_regulator ON ledger FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));

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
-- ledger_chain_entry_id_key) and the insert fails.
CREATE FUNCTION ledger_chain_link() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog
	AS $$
BEGIN
	INSERT INTO shilian.ledger_chain (operator_id, seq, entry_id, hash)
		VALUES (NEW.operator_id, NEW.seq, NEW.id, NEW.hash);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION ledger_chain_link() IS
	'Insert trigger of the ledger (every partition): records (operator, seq, entry id, hash) in ledger_chain, whose keys refuse a forked chain or a reused id.';
CREATE TRIGGER ledger_chain_link BEFORE INSERT ON ledger
	FOR EACH ROW EXECUTE FUNCTION ledger_chain_link();

-- the entries, in id order (each one through ledger_chain_link)
INSERT INTO ledger (id, operator_id, seq, kind, body, alg, prev_hash, hash, supersedes, recorded_at, source, on_date)
	SELECT id, operator_id, seq, kind, body, alg, prev_hash, hash, supersedes, recorded_at, source, on_date
	  FROM ledger_unpartitioned ORDER BY id;
ALTER EXTENSION shilian DROP TABLE ledger_unpartitioned;
DROP TABLE ledger_unpartitioned;

CREATE FUNCTION correction_via(entry bigint) RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	RETURN coalesce((SELECT g.source IS NOT NULL FROM shilian.ledger g WHERE g.id = entry), false);
COMMENT ON FUNCTION correction_via(bigint) IS
	'Whether a ledger entry came through a client, import or EPCIS (was counted in via_client).';
REVOKE ALL ON FUNCTION correction_via(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ledger_guard_ddl() RETURNS event_trigger
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

CREATE EVENT TRIGGER shilian_ledger_guard_alter_start ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION ledger_guard_alter_start();
ALTER EVENT TRIGGER shilian_ledger_guard_alter_start ENABLE ALWAYS;

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

CREATE OR REPLACE FUNCTION job_plan(OUT jobname text, OUT schedule text, OUT command text, OUT purpose text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	VALUES
		('shilian_checkpoint', '* * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.checkpoint()',
		 'every minute: publish a Merkle tree head over the entries committed since the last one'),
		('shilian_idempotency_prune', '17 * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.idempotency_prune()',
		 'hourly: delete the gateway''s idempotency keys older than 24 hours'),
		('shilian_alerts_scan', '30 18 * * *',
		 'SET ROLE shilian_admin; SELECT shilian.alerts_scan()',
		 'daily at 02:30 Asia/Shanghai: raise the day''s alerts and NOTIFY shilian_alert'),
		('shilian_ledger_partitions', '40 18 * * *',
		 'SET ROLE shilian_admin; SELECT shilian.ledger_partitions_ahead()',
		 'daily at 02:40 Asia/Shanghai: make the ledger''s month partitions for this month and the three ahead'),
		('shilian_monthly_report', '30 0 5 * *',
		 'SET ROLE shilian_admin; SELECT shilian.monthly_report_publish()',
		 'on the 5th at 08:30 Asia/Shanghai: store last month''s report of every province, city and county and NOTIFY shilian_report'),
		('shilian_federation', '* * * * *',
		 'SET ROLE shilian_admin; SELECT count(*) FROM shilian.federation_deliver(); SELECT shilian.federation_recall_catch_up()',
		 'every minute: send the sales to buyers of other provinces to their platforms and ask again for the recall parts a province did not open (docs/federation.md); nothing without peers')
	$$;
COMMENT ON FUNCTION job_plan() IS
	'The periodic jobs: name, cron schedule (UTC), SQL command and purpose. schedule_jobs() registers them with pg_cron; without pg_cron, run the commands from another scheduler.';


ALTER EVENT TRIGGER shilian_ledger_guard_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER shilian_ledger_guard_alter ENABLE ALWAYS;
