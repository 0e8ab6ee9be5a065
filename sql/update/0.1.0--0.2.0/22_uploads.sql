-- part 22 (sql/src/70_import.sql): the import job's life with the gateway:
-- a failed state with its reason, the lease of the gateway that runs a job,
-- a job taken up again by a retry with its key or by a gateway's sweep, and
-- an upload cut off recorded as failed (docs/integration.md).

ALTER TABLE import_job ALTER COLUMN body_hash DROP NOT NULL;
ALTER TABLE import_job DROP CONSTRAINT import_job_status_check;
ALTER TABLE import_job ADD CONSTRAINT import_job_status_check
	CHECK (status IN ('running', 'applied', 'rolled_back', 'failed'));
ALTER TABLE import_job ADD COLUMN failure text, ADD COLUMN lease_holder text,
	ADD COLUMN lease_until timestamptz;

COMMENT ON TABLE import_job IS
	'Bulk uploads (import_ndjson, POST /v1/import): who uploaded, mode, idempotency key, line counts, outcome (running, applied, rolled_back, failed with the reason) and the lease of the gateway that runs it.';

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

-- Whether somebody runs a running job: its caller (no lease: from SQL), or a
-- gateway whose lease holds and whose session holds the job's lock.
CREATE FUNCTION import_job_running(job import_job) RETURNS boolean
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
RETURN job.status = 'running' AND (job.lease_holder IS NULL
	OR (job.lease_until >= clock_timestamp() AND shilian.import_job_lock(job.id, 'held')));
COMMENT ON FUNCTION import_job_running(import_job) IS
	'Whether a running import job is being run: by its SQL caller (no lease), or by a gateway whose lease holds and whose session holds the job''s lock; false for a job nobody runs (internal).';

-- The caller an import job is kept for: role|operator|client|jurisdiction.
CREATE FUNCTION import_principal() RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN concat_ws('|', CASE WHEN current_setting('role') = 'none' THEN session_user::text
                           ELSE current_setting('role') END,
	shilian.current_operator(), shilian.current_client(), shilian.current_jurisdiction());
COMMENT ON FUNCTION import_principal() IS
	'The caller an import job and its idempotency key belong to: role, operator, client and jurisdiction joined by | (internal).';

-- A new job for the caller, or the job an earlier upload with the same
-- idempotency key made: replayed = true when that one was applied or rolled
-- back, refused with SLI01 if it had another body or mode, with SLI05 while
-- somebody still runs it. A job of the key that failed, or that nobody runs
-- any more, is taken up again (replayed = false, its staged lines removed):
-- the caller stages this upload's lines not applied yet (import_line has the
-- others) and they are applied under the same job; when nothing of that job
-- was applied, this upload may have another body or mode.
CREATE OR REPLACE FUNCTION import_open(mode text, idempotency_key text, body_hash bytea, total integer,
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

CREATE OR REPLACE FUNCTION import_ndjson(body text, mode text DEFAULT 'apply_valid',
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

CREATE OR REPLACE FUNCTION import_stage_lines(mode text DEFAULT 'apply_valid',
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

-- A running job nobody runs (its gateway stopped) shows as interrupted until
-- a gateway takes it up (import_claim) or a retry with its key does.
CREATE OR REPLACE FUNCTION import_status(id bigint) RETURNS jsonb
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
GRANT EXECUTE ON FUNCTION import_cut(text, text, integer, text)
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

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

REVOKE ALL ON FUNCTION import_job_lock(bigint, text), import_job_running(import_job), import_principal(),
	import_lease(bigint, text, integer), import_release(bigint, text), import_fail(bigint, text, text),
	import_claim(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_job_lock(bigint, text), import_job_running(import_job), import_principal()
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
GRANT EXECUTE ON FUNCTION import_lease(bigint, text, integer), import_release(bigint, text),
	import_fail(bigint, text, text), import_claim(text, integer) TO shilian_gateway, shilian_admin;
