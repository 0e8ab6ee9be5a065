-- shilian upgrade script 0.2.0 -> 0.3.0, part 20: imports followable over
-- REST (import_jobs, import_progress) and strict dates and timestamps
-- (one parser: strict_date, strict_timestamptz) wherever user text is read.

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
