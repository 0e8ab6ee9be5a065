-- shilian install script, part 70: bulk upload (docs/integration.md).
-- import_ndjson applies one record per line by calling the record function
-- its kind names, each line in its own subtransaction, and keeps a report
-- per line (accepted with the new id or trace code, or refused with SQLSTATE
-- and message). The record functions check the caller themselves
-- (RecordCheckActor reads the outer role and the request settings), so the
-- upload runs with definer rights only to write its own report tables.

CREATE TABLE import_job (
	id              bigserial PRIMARY KEY,
	role_name       text NOT NULL,		-- the calling role (shilian_system, shilian_operator, ...)
	operator_id     bigint,				-- shilian.operator_id of the caller
	client          text,				-- shilian.client of the caller
	jurisdiction    text,				-- shilian.jurisdiction of the caller
	mode            text NOT NULL CHECK (mode IN ('all_or_nothing', 'apply_valid')),
	idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
	principal       text NOT NULL,		-- role|operator|client|jurisdiction: scope of the key
	body_hash       bytea,				-- sha256 of the upload; NULL when no whole body arrived
	total           integer NOT NULL DEFAULT 0,
	done            integer NOT NULL DEFAULT 0,
	accepted        integer NOT NULL DEFAULT 0,
	refused         integer NOT NULL DEFAULT 0,
	status          text NOT NULL DEFAULT 'running'
	                CHECK (status IN ('running', 'applied', 'rolled_back', 'failed')),
	created_at      timestamptz NOT NULL DEFAULT now(),
	finished_at     timestamptz,
	failure         text,				-- failed: why (the upload was cut off, its staged lines were lost, ...)
	lease_holder    text,				-- the gateway that runs the job (NULL: run from SQL by its caller)
	lease_until     timestamptz			-- until when that gateway's lease holds; renewed before each apply step
);
CREATE UNIQUE INDEX import_job_key_idx ON import_job (principal, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
CREATE INDEX import_job_client_idx ON import_job (client) WHERE client IS NOT NULL;
CREATE INDEX import_job_operator_idx ON import_job (operator_id) WHERE operator_id IS NOT NULL;
COMMENT ON TABLE import_job IS
	'Bulk uploads (import_ndjson, POST /v1/import): who uploaded, mode, idempotency key, line counts, outcome (running, applied, rolled_back, failed with the reason) and the lease of the gateway that runs it.';

CREATE TABLE import_line (
	job_id      bigint NOT NULL REFERENCES import_job (id) ON DELETE CASCADE,
	line_no     integer NOT NULL,
	kind        text,
	status      text NOT NULL CHECK (status IN ('accepted', 'refused', 'rolled_back')),
	result      text,		-- accepted: the new id or trace code
	sqlstate    text,		-- refused: the SQLSTATE
	message     text,		-- refused: the message
	detail      text,		-- refused: the detail, if any
	PRIMARY KEY (job_id, line_no)
);
COMMENT ON TABLE import_line IS
	'Per-line report of a bulk upload: accepted with the new id or trace code, refused with SQLSTATE and message, or rolled_back (valid, but an all_or_nothing upload had a refused line).';

SELECT pg_catalog.pg_extension_config_dump('import_job', '');
SELECT pg_catalog.pg_extension_config_dump('import_line', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.import_job', 'id')::regclass, '');

-- The record function behind each kind, and the line fields renamed because
-- "kind" names the record kind itself.
CREATE FUNCTION import_kind_function(kind text) RETURNS regprocedure
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN CASE kind
	WHEN 'operator' THEN 'shilian.operator_register(text,text,text[],text,text,text,shilian.uscc,text,boolean,text)'
	WHEN 'licence' THEN 'shilian.licence_add(bigint,shilian.licence_no,text[],date,date)'
	WHEN 'product' THEN 'shilian.product_register(text,text,integer,text,text,boolean,bigint)'
	WHEN 'batch' THEN 'shilian.batch_create(bigint,bigint,shilian.qty,date,text,date,jsonb)'
	WHEN 'inspection' THEN 'shilian.inspect(shilian.trace_code,text,text,jsonb,timestamptz,bigint)'
	WHEN 'ship' THEN 'shilian.ship(shilian.trace_code,bigint,shilian.qty,date,bigint)'
	WHEN 'receive' THEN 'shilian.receive(bigint,shilian.qty,jsonb,timestamptz,text,shilian.trace_code)'
	WHEN 'transform' THEN 'shilian.transform(shilian.trace_code[],shilian.qty[],bigint,shilian.qty,date,text,date,bigint)'
	WHEN 'consume' THEN 'shilian.consume(shilian.trace_code,shilian.qty,text,timestamptz,text,bigint)'
	WHEN 'first_entry' THEN 'shilian.receive_first_entry(bigint,bigint,shilian.qty,jsonb,jsonb,date,timestamptz,text,jsonb)'
	WHEN 'reject' THEN 'shilian.reject(bigint,text,timestamptz)'
	END::regprocedure;
COMMENT ON FUNCTION import_kind_function(text) IS
	'The record function an NDJSON line of the given kind calls (operator, licence, product, batch, inspection, ship, receive, first_entry, reject, transform, consume), or NULL for an unknown kind.';

-- The SELECT that applies one line: the record function called with named
-- arguments, each taken from the line ($1) by its field name and cast to the
-- parameter's type. Field and argument names come from the catalogue (checked
-- against the function's parameter names), never from the line itself.
CREATE FUNCTION import_line_call(kind text, line jsonb) RETURNS text
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fn regprocedure := shilian.import_kind_function(kind);
	p pg_proc;
	field text;
	arg text;
	typ oid;
	args text[] := '{}';
	i int;
	renamed text := CASE kind WHEN 'inspection' THEN 'inspection_kind'
	                          WHEN 'consume' THEN 'consumption_kind' END;
	-- parameters renamed in 0.3.0 whose 0.2.0 field name a line may still use
	-- (deprecated, removed in 0.4.0): parameter -> old field
	old_field jsonb := CASE kind WHEN 'consume' THEN '{"consumed_at": "at"}' ELSE '{}' END;
BEGIN
	IF fn IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Use operator, licence, product, batch, inspection, ship, receive, first_entry, reject, transform or consume.';
	END IF;
	SELECT * INTO p FROM pg_proc WHERE oid = fn;
	-- every field must name a parameter
	FOR field IN SELECT k FROM jsonb_object_keys(line) k WHERE k <> 'kind' ORDER BY k LOOP
		arg := CASE WHEN field = renamed THEN 'kind'
			ELSE coalesce((SELECT e.key FROM jsonb_each_text(old_field) e WHERE e.value = field), field) END;
		IF arg = 'kind' AND field <> renamed OR NOT (arg = ANY (p.proargnames)) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('unknown field "%s" for kind %s', field, kind),
				HINT = format('The fields of %s are the parameters of %s.', kind, fn::text);
		END IF;
	END LOOP;
	FOR i IN 1 .. p.pronargs LOOP
		arg := p.proargnames[i];
		field := CASE WHEN arg = 'kind' THEN renamed ELSE arg END;
		IF line -> field IS NULL AND old_field ? arg THEN
			field := old_field ->> arg;
		END IF;
		typ := p.proargtypes[i - 1];
		IF line -> field IS NULL OR jsonb_typeof(line -> field) = 'null' THEN
			IF i <= p.pronargs - p.pronargdefaults THEN
				RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
					MESSAGE = format('missing field "%s" for kind %s', field, kind);
			END IF;
			CONTINUE;
		END IF;
		args := args || CASE
			WHEN typ = 'jsonb'::regtype THEN format('%I => $1 -> %L', arg, field)
			WHEN (SELECT t.typcategory = 'A' FROM pg_type t WHERE t.oid = typ) THEN
				format('%I => ARRAY(SELECT jsonb_array_elements_text($1 -> %L))::%s',
					arg, field, format_type(typ, NULL))
			-- dates and timestamps only in their strict forms (strict_date, strict_timestamptz)
			WHEN typ = 'date'::regtype THEN format('%I => shilian.strict_date($1 ->> %L, %L)', arg, field, field)
			WHEN typ = 'timestamptz'::regtype THEN
				format('%I => shilian.strict_timestamptz($1 ->> %L, %L)', arg, field, field)
			ELSE format('%I => ($1 ->> %L)::%s', arg, field, format_type(typ, NULL))
			END;
	END LOOP;
	RETURN format('SELECT %s(%s)::text', fn::oid::regproc::text, array_to_string(args, ', '));
END
$$;
COMMENT ON FUNCTION import_line_call(text, jsonb) IS
	'The statement that applies one NDJSON line (the line is its parameter $1); refuses an unknown kind, an unknown field or a missing required field with 22023.';
REVOKE ALL ON FUNCTION import_line_call(text, jsonb) FROM PUBLIC;

-- Staged lines of a job not applied yet: filled by import_ndjson (the body
-- split into lines) or by the gateway (COPY of a streamed upload), emptied by
-- import_apply as it goes. A line refused while loading (too long, not
-- UTF-8, cut off, a CSV row of the wrong shape) comes with its SQLSTATE and
-- message instead of a body. Unlogged: a crash of the database server
-- empties it; the job whose lines were lost is then failed by the gateway
-- (import_claim), and a retry with the same idempotency key stages again the
-- lines not applied yet. No foreign key on job_id: the lines are written by
-- import_ndjson and import_stage_lines alone (no role may write them), for
-- the job import_open has just made or taken up in the same transaction, so
-- checking the key row by row proved nothing (it was a ninth of a 100,000-
-- line upload, issue 19); a job's deletion takes its staged lines with it
-- (import_job_unstage below), as the cascade did.
CREATE UNLOGGED TABLE import_stage (
	job_id   bigint NOT NULL,
	line_no  integer NOT NULL,
	body     text,
	sqlstate text CHECK (sqlstate ~ '^[0-9A-Z]{5}$'),
	message  text,
	PRIMARY KEY (job_id, line_no),
	CHECK ((body IS NULL) = (sqlstate IS NOT NULL))
);
COMMENT ON TABLE import_stage IS
	'Lines of running bulk uploads not applied yet (import_apply takes them in line order); a line refused while loading carries its SQLSTATE and message instead of a body.';

-- Deleted or truncated jobs (a DBA's purge of old uploads): their staged
-- lines go too. Definer rights: import_stage has row-level security and no
-- policy.
CREATE FUNCTION import_job_unstage() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		DELETE FROM shilian.import_stage;
	ELSE
		DELETE FROM shilian.import_stage s USING gone g WHERE s.job_id = g.id;
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION import_job_unstage() IS
	'Trigger of import_job: the staged lines of deleted or truncated jobs are removed with them.';
REVOKE ALL ON FUNCTION import_job_unstage() FROM PUBLIC;
CREATE TRIGGER import_job_unstage AFTER DELETE ON import_job
	REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION import_job_unstage();
CREATE TRIGGER import_job_unstage_all AFTER TRUNCATE ON import_job
	FOR EACH STATEMENT EXECUTE FUNCTION import_job_unstage();

-- ---- who runs a job ------------------------------------------------------------
-- A job the gateway runs has a lease: the row names the gateway
-- (lease_holder) and until when it holds (lease_until, renewed before each
-- apply step), and the database session that applies it holds the job's
-- advisory lock (two-key form: 21321, 'SI', and the job id modulo 2^31-1)
-- for as long as it runs it, so a gateway that dies lets go at once: its
-- sessions end with it. A job nobody runs (the lock free, or the lease
-- lapsed) is resumed or failed by import_claim; a job with no lease is run
-- from SQL by its caller. Correctness does not rest on the lease: import_apply
-- locks the job row, so two sessions never apply the same lines.

-- The session holding a job's lock: 'held' (by any session), 'take' (for this
-- session, unless it holds it already; false when another session does),
-- 'release' (this session's, if it holds it).
CREATE FUNCTION import_job_lock(job bigint, action text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k integer := (job % 2147483647)::integer;
	mine boolean;
	held boolean;
BEGIN
	SELECT coalesce(bool_or(l.pid = pg_backend_pid()), false), count(*) > 0 INTO mine, held
	  FROM pg_locks l
	 WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 21321 AND l.objid = k::oid
	   AND l.objsubid = 2
	   AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
	CASE action
		WHEN 'held' THEN
			RETURN held;
		WHEN 'take' THEN
			RETURN mine OR pg_try_advisory_lock(21321, k);
		WHEN 'release' THEN
			IF mine THEN
				PERFORM pg_advisory_unlock(21321, k);
			END IF;
			RETURN mine;
	END CASE;
	RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
		MESSAGE = format('unknown lock action "%s"', action);
END
$$;
COMMENT ON FUNCTION import_job_lock(bigint, text) IS
	'The advisory lock a session holds while it runs a gateway import job: held (by any session), take (for this session) or release (internal).';
REVOKE ALL ON FUNCTION import_job_lock(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_job_lock(bigint, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- Whether somebody runs a running job: its caller (no lease: from SQL), or a
-- gateway whose lease holds and whose session holds the job's lock.
CREATE FUNCTION import_job_running(job import_job) RETURNS boolean
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
RETURN job.status = 'running' AND (job.lease_holder IS NULL
	OR (job.lease_until >= clock_timestamp() AND shilian.import_job_lock(job.id, 'held')));
COMMENT ON FUNCTION import_job_running(import_job) IS
	'Whether a running import job is being run: by its SQL caller (no lease), or by a gateway whose lease holds and whose session holds the job''s lock; false for a job nobody runs (internal).';
REVOKE ALL ON FUNCTION import_job_running(import_job) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_job_running(import_job) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The caller an import job is kept for: role|operator|client|jurisdiction.
CREATE FUNCTION import_principal() RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN concat_ws('|', CASE WHEN current_setting('role') = 'none' THEN session_user::text
                           ELSE current_setting('role') END,
	shilian.current_operator(), shilian.current_client(), shilian.current_jurisdiction());
COMMENT ON FUNCTION import_principal() IS
	'The caller an import job and its idempotency key belong to: role, operator, client and jurisdiction joined by | (internal).';
REVOKE ALL ON FUNCTION import_principal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_principal() TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- One line through its record function (the path of every kind import_apply
-- does not validate itself): the checks of import_line_call, then the call.
CREATE FUNCTION import_line_exec(line jsonb) RETURNS text
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res text;
BEGIN
	EXECUTE shilian.import_line_call(line ->> 'kind', line) INTO res USING line;
	RETURN res;
END
$$;
COMMENT ON FUNCTION import_line_exec(jsonb) IS
	'Apply one NDJSON line (a JSON object with its kind) by calling the record function of its kind; returns the new id or trace code (internal, not granted).';
REVOKE ALL ON FUNCTION import_line_exec(jsonb) FROM PUBLIC;

CREATE FUNCTION import_apply(job bigint, max_lines integer DEFAULT NULL) RETURNS integer
	AS 'MODULE_PATHNAME', 'sl_import_apply'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION import_apply(bigint, integer) IS
	'Apply up to max_lines (all when null) staged lines of a running import job in line order, set-based: ship and receive lines validated in memory by the record functions'' rules and written a chunk at a time, other kinds through their record function; returns the lines still staged. An all_or_nothing job is applied whole and rolled back if any line is refused.';
REVOKE ALL ON FUNCTION import_apply(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_apply(bigint, integer) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- A new job for the caller, or the job an earlier upload with the same
-- idempotency key made: replayed = true when that one was applied or rolled
-- back, refused with SLI01 if it had another body or mode, with SLI05 while
-- somebody still runs it. A job of the key that failed, or that nobody runs
-- any more, is taken up again (replayed = false, its staged lines removed):
-- the caller stages this upload's lines not applied yet (import_line has the
-- others) and they are applied under the same job; when nothing of that job
-- was applied, this upload may have another body or mode.
CREATE FUNCTION import_open(mode text, idempotency_key text, body_hash bytea, total integer,
		OUT job bigint, OUT replayed boolean)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	who text := shilian.import_principal();
	old shilian.import_job;
BEGIN
	IF mode IS NULL OR mode NOT IN ('all_or_nothing', 'apply_valid') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown import mode "%s"', mode),
			HINT = 'Use all_or_nothing or apply_valid.';
	END IF;
	replayed := false;
	INSERT INTO shilian.import_job AS j (role_name, operator_id, client, jurisdiction, mode,
			idempotency_key, principal, body_hash, total)
	VALUES (caller, shilian.current_operator(), shilian.current_client(),
			shilian.current_jurisdiction(), import_open.mode, import_open.idempotency_key,
			who, import_open.body_hash, import_open.total)
	ON CONFLICT (principal, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
	RETURNING j.id INTO job;
	IF job IS NOT NULL THEN
		RETURN;
	END IF;
	-- the job of the key; locked by an apply step (or a gateway taking it up) means it runs
	SELECT * INTO old FROM shilian.import_job j
	 WHERE j.principal = who AND j.idempotency_key = import_open.idempotency_key
	   FOR UPDATE SKIP LOCKED;
	IF NOT FOUND OR shilian.import_job_running(old) THEN
		SELECT * INTO old FROM shilian.import_job j
		 WHERE j.principal = who AND j.idempotency_key = import_open.idempotency_key;
		RAISE EXCEPTION USING ERRCODE = 'SLI05',
			MESSAGE = format('the upload of idempotency key "%s" is still being applied', idempotency_key),
			DETAIL = format('Import job %s has %s of %s lines done.', old.id, old.done, old.total),
			HINT = 'Wait for it (GET /v1/import/{id}) and retry later with the same key.';
	END IF;
	IF NOT (old.status = 'failed' AND old.done = 0)
			AND (old.body_hash IS DISTINCT FROM import_open.body_hash OR old.mode <> import_open.mode) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI01',
			MESSAGE = format('idempotency key "%s" was used for another upload', idempotency_key),
			DETAIL = format('Import job %s was made with this key from a different body or mode.', old.id),
			HINT = 'Use a new key for a new upload.';
	END IF;
	job := old.id;
	IF old.status IN ('applied', 'rolled_back') THEN
		replayed := true;
		RETURN;
	END IF;
	-- failed, or running with nobody running it: this upload takes it up again
	UPDATE shilian.import_job j SET status = 'running', failure = NULL, finished_at = NULL,
			lease_holder = NULL, lease_until = NULL, mode = import_open.mode,
			body_hash = import_open.body_hash, total = import_open.total
	 WHERE j.id = old.id;
	DELETE FROM shilian.import_stage s WHERE s.job_id = old.id;
END
$$;
COMMENT ON FUNCTION import_open(text, text, bytea, integer) IS
	'A new import job for the caller (internal), or the earlier job of the same idempotency key: replayed true when it was applied or rolled back, SLI01 if it had another body or mode, SLI05 while it is still being applied; a failed job, or one nobody runs, is taken up again for the lines not applied yet.';
REVOKE ALL ON FUNCTION import_open(text, text, bytea, integer) FROM PUBLIC;

-- The hash an upload is known by for its idempotency key: SHA-256 over its
-- non-blank lines as staged, each as line number, tab, text (or SQLSTATE for
-- a line refused while loading) and a newline.
CREATE FUNCTION import_hash(line_nos integer[], bodies text[], states text[]) RETURNS bytea
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT sha256(convert_to(coalesce(string_agg(u.n || E'\t' || coalesce(u.b, u.s) || E'\n', ''
		ORDER BY u.n), ''), 'UTF8'))
	FROM unnest(line_nos, bodies, states) AS u(n, b, s));
COMMENT ON FUNCTION import_hash(integer[], text[], text[]) IS
	'SHA-256 of staged upload lines (line number, tab, text or SQLSTATE, newline, in line order): what an idempotency key is checked against.';
REVOKE ALL ON FUNCTION import_hash(integer[], text[], text[]) FROM PUBLIC;

CREATE FUNCTION import_ndjson(body text, mode text DEFAULT 'apply_valid',
		idempotency_key text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	o record;
	nums int[];
	bodies text[];
BEGIN
	IF body IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'the upload body is null';
	END IF;
	-- lines split at \n, a \r before it ignored, blank lines skipped (but counted)
	SELECT coalesce(array_agg(l.n ORDER BY l.n), '{}'), coalesce(array_agg(l.t ORDER BY l.n), '{}')
	  INTO nums, bodies
	  FROM (SELECT n::int, rtrim(t, E'\r') AS t
	          FROM regexp_split_to_table(body, E'\n') WITH ORDINALITY AS x(t, n)) l
	 WHERE btrim(l.t, E' \t\r') <> '';
	o := shilian.import_open(mode, idempotency_key,
		shilian.import_hash(nums, bodies, array_fill(NULL::text, ARRAY[cardinality(nums)])),
		cardinality(nums));
	IF o.replayed THEN
		RETURN o.job;
	END IF;
	-- the lines not applied yet (all of them, unless a failed job of the key is taken up again)
	INSERT INTO shilian.import_stage (job_id, line_no, body)
	SELECT o.job, u.n, u.t FROM unnest(nums, bodies) AS u(n, t)
	 WHERE NOT EXISTS (SELECT 1 FROM shilian.import_line r WHERE r.job_id = o.job AND r.line_no = u.n);
	PERFORM shilian.import_apply(o.job, NULL);
	RETURN o.job;
END
$$;
COMMENT ON FUNCTION import_ndjson(text, text, text) IS
	'Bulk upload: one record per line (JSON object with a kind and the record function''s arguments by name), staged and applied set-based by import_apply with the caller''s rights; mode apply_valid keeps the valid lines, all_or_nothing applies none if any is refused. A repeated idempotency key returns the first job and applies nothing. Returns the import job id; the per-line report is in import_line.';
REVOKE ALL ON FUNCTION import_ndjson(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_ndjson(text, text, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The gateway's streamed upload: the lines it COPYed into the session's
-- temporary table pg_temp.shilian_import_lines (line_no, body, sqlstate,
-- message) become a job's staged lines; answered as import_status plus
-- "replayed". The lines are applied afterwards by import_apply, in chunks
-- that commit (progress) for apply_valid, at once for all_or_nothing.
CREATE FUNCTION import_stage_lines(mode text DEFAULT 'apply_valid',
		idempotency_key text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	o record;
	h bytea;
	n int;
BEGIN
	SELECT shilian.import_hash(array_agg(l.line_no ORDER BY l.line_no), array_agg(l.body ORDER BY l.line_no),
			array_agg(l.sqlstate ORDER BY l.line_no)), count(*)
	  INTO h, n FROM pg_temp.shilian_import_lines l;
	o := shilian.import_open(mode, idempotency_key, h, n);
	IF NOT o.replayed THEN
		INSERT INTO shilian.import_stage (job_id, line_no, body, sqlstate, message)
		SELECT o.job, l.line_no, l.body, l.sqlstate, l.message FROM pg_temp.shilian_import_lines l
		 WHERE NOT EXISTS (SELECT 1 FROM shilian.import_line r WHERE r.job_id = o.job AND r.line_no = l.line_no);
	END IF;
	RETURN shilian.import_status(o.job) || jsonb_build_object('replayed', o.replayed);
END
$$;
COMMENT ON FUNCTION import_stage_lines(text, text) IS
	'Stage the lines of a streamed upload (the session''s temporary table shilian_import_lines, filled by COPY) as a new import job, or answer the earlier job of the same idempotency key; returns the job as import_status with replayed.';
REVOKE ALL ON FUNCTION import_stage_lines(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_stage_lines(text, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- A running job nobody runs (its gateway stopped) shows as interrupted until
-- a gateway takes it up (import_claim) or a retry with its key does.
CREATE FUNCTION import_status(id bigint) RETURNS jsonb
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('id', j.id::text, 'mode', j.mode,
		'status', CASE WHEN j.status = 'running' AND NOT shilian.import_job_running(j) THEN 'interrupted'
		               ELSE j.status END,
		'total', j.total, 'done', j.done, 'accepted', j.accepted, 'refused', j.refused,
		'idempotency_key', j.idempotency_key, 'created_at', j.created_at, 'finished_at', j.finished_at)
	|| CASE WHEN j.failure IS NULL THEN '{}' ELSE jsonb_build_object('failure', j.failure) END
	FROM shilian.import_job j WHERE j.id = import_status.id);
COMMENT ON FUNCTION import_status(bigint) IS
	'An import job the caller may see, as JSON with its counts (total, done, accepted, refused), status (running, interrupted when nobody runs it, applied, rolled_back, failed) and the failure reason; NULL if unknown or not visible.';
REVOKE ALL ON FUNCTION import_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_status(bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

CREATE FUNCTION import_lines(id bigint, status text DEFAULT NULL) RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('line', l.line_no, 'kind', l.kind,
		'status', l.status, 'result', l.result, 'sqlstate', l.sqlstate, 'message', l.message,
		'detail', l.detail)) ORDER BY l.line_no), '[]')
	FROM shilian.import_line l
	WHERE l.job_id = import_lines.id AND (import_lines.status IS NULL OR l.status = import_lines.status));
COMMENT ON FUNCTION import_lines(bigint, text) IS
	'The per-line report of an import job the caller may see, as a JSON array in line order, optionally only the lines of one status (accepted, refused, rolled_back).';
REVOKE ALL ON FUNCTION import_lines(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_lines(bigint, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The caller's jobs, newest first, a page at a time (GET /v1/import): the
-- same rows the caller may see one by one (row-level security on import_job).
CREATE FUNCTION import_jobs("limit" integer DEFAULT 50, "offset" integer DEFAULT 0) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 1000 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI06', MESSAGE = format('limit must be between 1 and 1000, not %s', coalesce("limit"::text, 'null')),
			HINT = 'Page through the jobs with limit= (1-1000, default 50) and offset=.';
	END IF;
	IF "offset" IS NULL OR "offset" < 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI06', MESSAGE = format('offset must be 0 or more, not %s', coalesce("offset"::text, 'null')),
			HINT = 'Page through the jobs with limit= (1-1000, default 50) and offset=.';
	END IF;
	RETURN (SELECT coalesce(jsonb_agg(shilian.import_status(p.id) ORDER BY p.id DESC), '[]')
		FROM (SELECT j.id FROM shilian.import_job j ORDER BY j.id DESC LIMIT "limit" OFFSET "offset") p);
END
$$;
COMMENT ON FUNCTION import_jobs(integer, integer) IS
	'The import jobs the caller may see, newest first, as a JSON array of import_status objects; limit 1-1000 (default 50), offset 0 or more (SLI06 otherwise).';
REVOKE ALL ON FUNCTION import_jobs(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_jobs(integer, integer) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- One job's progress for GET /v1/import/{id}: its status and counts, and the
-- first refused lines with their errors (the whole report is
-- GET /v1/import/{id}/lines). NULL when the caller may not see the job.
CREATE FUNCTION import_progress(id bigint, errors integer DEFAULT 100) RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT s || jsonb_build_object('errors',
		(SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('line', l.line_no, 'kind', l.kind,
			'sqlstate', l.sqlstate, 'message', l.message, 'detail', l.detail)) ORDER BY l.line_no), '[]')
		 FROM (SELECT * FROM shilian.import_line l
		       WHERE l.job_id = import_progress.id AND l.status = 'refused'
		       ORDER BY l.line_no LIMIT greatest(coalesce(import_progress.errors, 100), 0)) l))
	FROM shilian.import_status(import_progress.id) s WHERE s IS NOT NULL);
COMMENT ON FUNCTION import_progress(bigint, integer) IS
	'An import job the caller may see as import_status (status, total lines read, done, accepted, refused, created_at, finished_at) with errors: its first refused lines (line, kind, sqlstate, message, detail; 100 by default); NULL if unknown or not visible.';
REVOKE ALL ON FUNCTION import_progress(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_progress(bigint, integer) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- ---- the gateway's side of a job's life ------------------------------------------
-- An upload whose body did not arrive whole (the connection ended before the
-- chunked terminator or Content-Length bytes, or the client sent too
-- slowly): nothing was staged; the caller's job of the key (a new one, or
-- one of the key that failed with nothing applied) records it as failed with
-- the reason, so that a retry with the same key is a fresh upload. A job of
-- the key in any other state is left as it is.
CREATE FUNCTION import_cut(mode text, idempotency_key text, lines integer, reason text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	who text := shilian.import_principal();
	job bigint;
BEGIN
	IF mode IS NULL OR mode NOT IN ('all_or_nothing', 'apply_valid') THEN
		mode := 'apply_valid';
	END IF;
	INSERT INTO shilian.import_job AS j (role_name, operator_id, client, jurisdiction, mode,
			idempotency_key, principal, body_hash, total, status, failure, finished_at)
	VALUES (caller, shilian.current_operator(), shilian.current_client(),
			shilian.current_jurisdiction(), import_cut.mode, import_cut.idempotency_key,
			who, NULL, coalesce(lines, 0), 'failed', reason, clock_timestamp())
	ON CONFLICT (principal, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
	RETURNING j.id INTO job;
	IF job IS NULL THEN
		UPDATE shilian.import_job j SET mode = import_cut.mode, body_hash = NULL,
				total = coalesce(lines, 0), failure = reason, finished_at = clock_timestamp()
		 WHERE j.principal = who AND j.idempotency_key = import_cut.idempotency_key
		   AND j.status = 'failed' AND j.done = 0
		RETURNING j.id INTO job;
	END IF;
	IF job IS NULL THEN
		SELECT j.id INTO job FROM shilian.import_job j
		 WHERE j.principal = who AND j.idempotency_key = import_cut.idempotency_key;
	END IF;
	RETURN shilian.import_status(job);
END
$$;
COMMENT ON FUNCTION import_cut(text, text, integer, text) IS
	'The gateway''s record of an upload whose body did not arrive whole: a failed job with the reason and the lines received (or the failed job of the same idempotency key, updated), nothing staged; returns the job as import_status.';
REVOKE ALL ON FUNCTION import_cut(text, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_cut(text, text, integer, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The lease of a running job, taken or renewed by the gateway that applies
-- it (holder), for lease_ms from now, with the job's lock for this session;
-- SLI05 if another gateway runs it. The gateway renews it in a transaction
-- of its own before each apply step, for longer than the step may take.
CREATE FUNCTION import_lease(job bigint, holder text, lease_ms integer) RETURNS timestamptz
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j shilian.import_job;
	until timestamptz;
BEGIN
	SELECT * INTO j FROM shilian.import_job WHERE id = job FOR UPDATE;
	IF NOT FOUND OR j.status <> 'running' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI05',
			MESSAGE = format('import job %s is not running', job);
	END IF;
	IF j.lease_holder IS NOT NULL AND j.lease_holder <> holder AND shilian.import_job_running(j) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI05',
			MESSAGE = format('import job %s is being applied by another gateway', job),
			DETAIL = format('%s holds it until %s.', j.lease_holder, j.lease_until);
	END IF;
	UPDATE shilian.import_job SET lease_holder = holder,
			lease_until = clock_timestamp() + lease_ms * interval '1 millisecond'
	 WHERE id = job RETURNING lease_until INTO until;
	PERFORM shilian.import_job_lock(job, 'take');
	RETURN until;
END
$$;
COMMENT ON FUNCTION import_lease(bigint, text, integer) IS
	'Gateway only: take or renew the lease of a running import job for lease_ms milliseconds, with the job''s lock for this session; SLI05 if another gateway runs it.';
REVOKE ALL ON FUNCTION import_lease(bigint, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_lease(bigint, text, integer) TO shilian_gateway, shilian_admin;

-- The gateway lets go of a job: its lock, and the lease of a job it stopped
-- running before the end (lapsed at once, so another gateway takes it up).
CREATE FUNCTION import_release(job bigint, holder text) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE shilian.import_job j SET lease_until = clock_timestamp()
	 WHERE j.id = job AND j.lease_holder = holder AND j.status = 'running';
	PERFORM shilian.import_job_lock(job, 'release');
END
$$;
COMMENT ON FUNCTION import_release(bigint, text) IS
	'Gateway only: release an import job''s lock; a job left running gets its lease lapsed so that another gateway resumes it.';
REVOKE ALL ON FUNCTION import_release(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_release(bigint, text) TO shilian_gateway, shilian_admin;

-- A job that cannot go on (an error that is not transient): failed with the
-- reason, its staged lines removed. What it applied stays, and a retry with
-- the same key applies the rest.
CREATE FUNCTION import_fail(job bigint, holder text, reason text) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE shilian.import_job j SET status = 'failed', failure = reason, finished_at = clock_timestamp()
	 WHERE j.id = job AND j.status = 'running' AND j.lease_holder = holder;
	IF FOUND THEN
		DELETE FROM shilian.import_stage s WHERE s.job_id = job;
	END IF;
	PERFORM shilian.import_job_lock(job, 'release');
END
$$;
COMMENT ON FUNCTION import_fail(bigint, text, text) IS
	'Gateway only: fail a running import job the holder runs, with the reason, removing its staged lines (what it applied stays; a retry with the same key applies the rest).';
REVOKE ALL ON FUNCTION import_fail(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_fail(bigint, text, text) TO shilian_gateway, shilian_admin;

-- A gateway's sweep (at start and every import_sweep_ms): the first running
-- job nobody runs, taken for holder with its lock and a lease of lease_ms,
-- with the caller it runs as; none when there is no such job. A job whose
-- staged lines are not all there any more (a crash of the database server
-- empties the unlogged import_stage) is failed on the way, its staging removed.
CREATE FUNCTION import_claim(holder text, lease_ms integer,
		OUT job bigint, OUT role_name text, OUT operator_id bigint, OUT client text,
		OUT jurisdiction text, OUT mode text)
	RETURNS SETOF record
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j shilian.import_job;
	staged integer;
BEGIN
	FOR j IN SELECT * FROM shilian.import_job x WHERE x.status = 'running' AND x.lease_holder IS NOT NULL
			ORDER BY x.id FOR UPDATE SKIP LOCKED LOOP
		CONTINUE WHEN shilian.import_job_running(j);
		PERFORM shilian.import_job_lock(j.id, 'take');
		SELECT count(*) INTO staged FROM shilian.import_stage s WHERE s.job_id = j.id;
		IF staged <> j.total - j.done THEN
			UPDATE shilian.import_job x SET status = 'failed', finished_at = clock_timestamp(),
					failure = format('%s of the %s lines not applied yet were lost from the staging (the database server restarted); upload again with the same Idempotency-Key to apply them',
						j.total - j.done - staged, j.total - j.done)
			 WHERE x.id = j.id;
			DELETE FROM shilian.import_stage s WHERE s.job_id = j.id;
			PERFORM shilian.import_job_lock(j.id, 'release');
			CONTINUE;
		END IF;
		UPDATE shilian.import_job x SET lease_holder = holder,
				lease_until = clock_timestamp() + lease_ms * interval '1 millisecond'
		 WHERE x.id = j.id;
		job := j.id;
		role_name := j.role_name;
		operator_id := j.operator_id;
		client := j.client;
		jurisdiction := j.jurisdiction;
		mode := j.mode;
		RETURN NEXT;
		RETURN;
	END LOOP;
END
$$;
COMMENT ON FUNCTION import_claim(text, integer) IS
	'Gateway only: take up the first running import job nobody runs (lease lapsed or lock free) for holder, with its lock and a lease of lease_ms; returns it with the caller it runs as. A job whose staged lines were lost is failed instead.';
REVOKE ALL ON FUNCTION import_claim(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_claim(text, integer) TO shilian_gateway, shilian_admin;

-- The gateway's POST /v1/import: the upload, answered with the job's status
-- (a statement of its own, so that it sees the job import_ndjson wrote).
CREATE FUNCTION import_upload(body text, mode text DEFAULT 'apply_valid',
		idempotency_key text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint := shilian.import_ndjson(body, mode, idempotency_key);
BEGIN
	RETURN shilian.import_status(job);
END
$$;
COMMENT ON FUNCTION import_upload(text, text, text) IS
	'import_ndjson answered as import_status (the job with its counts): what POST /v1/import returns.';
REVOKE ALL ON FUNCTION import_upload(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_upload(text, text, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
