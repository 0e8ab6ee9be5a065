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
	body_hash       bytea NOT NULL,		-- sha256 of the upload
	total           integer NOT NULL DEFAULT 0,
	done            integer NOT NULL DEFAULT 0,
	accepted        integer NOT NULL DEFAULT 0,
	refused         integer NOT NULL DEFAULT 0,
	status          text NOT NULL DEFAULT 'running'
	                CHECK (status IN ('running', 'applied', 'rolled_back')),
	created_at      timestamptz NOT NULL DEFAULT now(),
	finished_at     timestamptz
);
CREATE UNIQUE INDEX import_job_key_idx ON import_job (principal, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
CREATE INDEX import_job_client_idx ON import_job (client) WHERE client IS NOT NULL;
CREATE INDEX import_job_operator_idx ON import_job (operator_id) WHERE operator_id IS NOT NULL;
COMMENT ON TABLE import_job IS
	'Bulk uploads (import_ndjson): who uploaded, mode, idempotency key, line counts and outcome.';

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
	WHEN 'licence' THEN 'shilian.licence_add(bigint,shilian.license_no,text[],date,date)'
	WHEN 'product' THEN 'shilian.product_register(text,text,integer,text,text,boolean,bigint)'
	WHEN 'batch' THEN 'shilian.batch_create(bigint,bigint,shilian.qty,date,text,date,jsonb)'
	WHEN 'inspection' THEN 'shilian.inspect(shilian.trace_code,text,text,jsonb,timestamptz,bigint)'
	WHEN 'ship' THEN 'shilian.ship(shilian.trace_code,bigint,shilian.qty,date,bigint)'
	WHEN 'receive' THEN 'shilian.receive(bigint,shilian.qty,jsonb,timestamptz,text,shilian.trace_code)'
	WHEN 'transform' THEN 'shilian.transform(shilian.trace_code[],shilian.qty[],bigint,shilian.qty,date,text,date,bigint)'
	WHEN 'consume' THEN 'shilian.consume(shilian.trace_code,shilian.qty,text,timestamptz,text,bigint)'
	END::regprocedure;
COMMENT ON FUNCTION import_kind_function(text) IS
	'The record function an NDJSON line of the given kind calls (operator, licence, product, batch, inspection, ship, receive, transform, consume), or NULL for an unknown kind.';

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
BEGIN
	IF fn IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Use operator, licence, product, batch, inspection, ship, receive, transform or consume.';
	END IF;
	SELECT * INTO p FROM pg_proc WHERE oid = fn;
	-- every field must name a parameter
	FOR field IN SELECT k FROM jsonb_object_keys(line) k WHERE k <> 'kind' ORDER BY k LOOP
		arg := CASE WHEN field = renamed THEN 'kind' ELSE field END;
		IF arg = 'kind' AND field <> renamed OR NOT (arg = ANY (p.proargnames)) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('unknown field "%s" for kind %s', field, kind),
				HINT = format('The fields of %s are the parameters of %s.', kind, fn::text);
		END IF;
	END LOOP;
	FOR i IN 1 .. p.pronargs LOOP
		arg := p.proargnames[i];
		field := CASE WHEN arg = 'kind' THEN renamed ELSE arg END;
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
			ELSE format('%I => ($1 ->> %L)::%s', arg, field, format_type(typ, NULL))
			END;
	END LOOP;
	RETURN format('SELECT %s(%s)::text', fn::oid::regproc::text, array_to_string(args, ', '));
END
$$;
COMMENT ON FUNCTION import_line_call(text, jsonb) IS
	'The statement that applies one NDJSON line (the line is its parameter $1); refuses an unknown kind, an unknown field or a missing required field with 22023.';

-- Staged lines of a job not applied yet: filled by import_ndjson (the body
-- split into lines) or by the gateway (COPY of a streamed upload), emptied by
-- import_apply as it goes. A line refused while loading (too long, not
-- UTF-8, cut off, a CSV row of the wrong shape) comes with its SQLSTATE and
-- message instead of a body. Unlogged: a crash loses only unapplied lines
-- of running jobs (their status stays running; upload again with a new key).
CREATE UNLOGGED TABLE import_stage (
	job_id   bigint NOT NULL REFERENCES import_job (id) ON DELETE CASCADE,
	line_no  integer NOT NULL,
	body     text,
	sqlstate text CHECK (sqlstate ~ '^[0-9A-Z]{5}$'),
	message  text,
	PRIMARY KEY (job_id, line_no),
	CHECK ((body IS NULL) = (sqlstate IS NOT NULL))
);
COMMENT ON TABLE import_stage IS
	'Lines of running bulk uploads not applied yet (import_apply takes them in line order); a line refused while loading carries its SQLSTATE and message instead of a body.';

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

CREATE FUNCTION import_apply(job bigint, max_lines integer DEFAULT NULL) RETURNS integer
	AS 'MODULE_PATHNAME', 'sl_import_apply'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION import_apply(bigint, integer) IS
	'Apply up to max_lines (all when null) staged lines of a running import job in line order, set-based: ship and receive lines validated in memory by the record functions'' rules and written a chunk at a time, other kinds through their record function; returns the lines still staged. An all_or_nothing job is applied whole and rolled back if any line is refused.';

-- A new job for the caller, or the job an earlier upload with the same
-- idempotency key made (replayed = true), refused with SLI01 if that one had
-- another body or mode.
CREATE FUNCTION import_open(mode text, idempotency_key text, body_hash bytea, total integer,
		OUT job bigint, OUT replayed boolean)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	who text := concat_ws('|', caller, shilian.current_operator(),
	                            shilian.current_client(), shilian.current_jurisdiction());
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
	IF job IS NULL THEN
		SELECT * INTO old FROM shilian.import_job j
		 WHERE j.principal = who AND j.idempotency_key = import_open.idempotency_key;
		IF old.body_hash <> import_open.body_hash OR old.mode <> import_open.mode THEN
			RAISE EXCEPTION USING ERRCODE = 'SLI01',
				MESSAGE = format('idempotency key "%s" was used for another upload', idempotency_key),
				DETAIL = format('Import job %s was made with this key from a different body or mode.', old.id),
				HINT = 'Use a new key for a new upload.';
		END IF;
		job := old.id;
		replayed := true;
	END IF;
END
$$;
COMMENT ON FUNCTION import_open(text, text, bytea, integer) IS
	'A new import job for the caller (internal), or the earlier job of the same idempotency key with replayed true; SLI01 if that job had another body or mode.';

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
	INSERT INTO shilian.import_stage (job_id, line_no, body)
	SELECT o.job, u.n, u.t FROM unnest(nums, bodies) AS u(n, t);
	PERFORM shilian.import_apply(o.job, NULL);
	RETURN o.job;
END
$$;
COMMENT ON FUNCTION import_ndjson(text, text, text) IS
	'Bulk upload: one record per line (JSON object with a kind and the record function''s arguments by name), staged and applied set-based by import_apply with the caller''s rights; mode apply_valid keeps the valid lines, all_or_nothing applies none if any is refused. A repeated idempotency key returns the first job and applies nothing. Returns the import job id; the per-line report is in import_line.';

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
		SELECT o.job, l.line_no, l.body, l.sqlstate, l.message FROM pg_temp.shilian_import_lines l;
	END IF;
	RETURN shilian.import_status(o.job) || jsonb_build_object('replayed', o.replayed);
END
$$;
COMMENT ON FUNCTION import_stage_lines(text, text) IS
	'Stage the lines of a streamed upload (the session''s temporary table shilian_import_lines, filled by COPY) as a new import job, or answer the earlier job of the same idempotency key; returns the job as import_status with replayed.';

CREATE FUNCTION import_status(id bigint) RETURNS jsonb
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('id', j.id::text, 'mode', j.mode, 'status', j.status,
		'total', j.total, 'done', j.done, 'accepted', j.accepted, 'refused', j.refused,
		'idempotency_key', j.idempotency_key, 'created_at', j.created_at, 'finished_at', j.finished_at)
	FROM shilian.import_job j WHERE j.id = import_status.id);
COMMENT ON FUNCTION import_status(bigint) IS
	'An import job the caller may see, as JSON with its counts (total, done, accepted, refused) and status; NULL if unknown or not visible.';

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

REVOKE ALL ON FUNCTION import_ndjson(text, text, text), import_line_call(text, jsonb),
	import_status(bigint), import_lines(bigint, text), import_line_exec(jsonb),
	import_apply(bigint, integer), import_open(text, text, bytea, integer),
	import_hash(integer[], text[], text[]), import_stage_lines(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_ndjson(text, text, text), import_status(bigint),
	import_lines(bigint, text), import_stage_lines(text, text), import_apply(bigint, integer)
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

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
GRANT EXECUTE ON FUNCTION import_upload(text, text, text)
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
