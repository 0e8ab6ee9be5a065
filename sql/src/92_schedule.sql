-- shilian install script, part 92: scheduled work (docs/install.md#scheduled-jobs).
-- job_plan() is the one list of periodic jobs; schedule_jobs() registers it
-- with pg_cron when that is installed (optional: Debian postgresql-15-cron),
-- and without pg_cron a DBA runs the same commands from any scheduler. The
-- monthly report due on the 5th (每月5日通报) is stored here, one row per
-- jurisdiction and month, and announced with NOTIFY.

-- ---- the monthly report, as issued -------------------------------------------------
CREATE TABLE monthly_report_issue (
	jurisdiction text NOT NULL REFERENCES jurisdiction (code),
	month        date NOT NULL CHECK (extract(day FROM month) = 1),
	report       jsonb NOT NULL CHECK (jsonb_typeof(report) = 'object'),
	issued_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (jurisdiction, month)
);
COMMENT ON TABLE monthly_report_issue IS
	'The monthly report as issued (每月5日通报): monthly_report(month, jurisdiction) of every province, city and county, stored by monthly_report_publish.';
COMMENT ON COLUMN monthly_report_issue.month IS
	'First day of the month the report is about.';
COMMENT ON COLUMN monthly_report_issue.issued_at IS
	'When this report was stored; a later run for the same month replaces it only if the figures changed.';
SELECT pg_catalog.pg_extension_config_dump('monthly_report_issue', '');
REVOKE ALL ON monthly_report_issue FROM PUBLIC;
-- Regulators read the reports of their subtree, the admin all; nobody writes
-- them but monthly_report_publish.
GRANT SELECT ON monthly_report_issue TO shilian_regulator, shilian_admin;
ALTER TABLE monthly_report_issue ENABLE ROW LEVEL SECURITY;
CREATE POLICY monthly_report_issue_admin ON monthly_report_issue FOR SELECT TO shilian_admin
	USING (true);
CREATE POLICY monthly_report_issue_regulator ON monthly_report_issue FOR SELECT TO shilian_regulator
	USING (jurisdiction = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));

-- Store monthly_report(month, code) for every province, city and county and
-- send NOTIFY shilian_report {"jurisdiction","month"} for each row stored or
-- changed (delivered at commit). month: any day of it; NULL is the month
-- before today's. A month that has not ended is refused (SLX04): its figures
-- would still move. Returns how many rows were stored or changed.
CREATE FUNCTION monthly_report_publish(month date DEFAULT NULL) RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	first date := date_trunc('month', coalesce(monthly_report_publish.month,
		(date_trunc('month', shilian.platform_today()) - interval '1 month')::date))::date;
	issued integer;
BEGIN
	IF first + interval '1 month' > shilian.platform_today() THEN
		RAISE EXCEPTION USING ERRCODE = 'SLX04',
			MESSAGE = format('month not ended: %s runs until %s', to_char(first, 'YYYY-MM'),
				(first + interval '1 month' - interval '1 day')::date),
			HINT = 'Publish a month after its last day; the scheduled job publishes last month''s on the 5th.';
	END IF;
	-- the month and the one before it (the report's previous values) are
	-- frozen first: the reports below, and every later figure of those
	-- months, read their stored counts (docs/regulator.md, "Frozen months")
	PERFORM shilian.figures_freeze((first - interval '1 month')::date);
	PERFORM shilian.figures_freeze(first);
	WITH up AS (
		INSERT INTO shilian.monthly_report_issue AS r (jurisdiction, month, report)
		SELECT j.code, first, shilian.monthly_report(first, j.code)
		  FROM shilian.jurisdiction j
		 WHERE j.level IN ('province', 'city', 'county')
		 ORDER BY j.code
		ON CONFLICT ON CONSTRAINT monthly_report_issue_pkey DO UPDATE SET report = excluded.report, issued_at = now()
			WHERE r.report IS DISTINCT FROM excluded.report
		RETURNING r.jurisdiction, r.month
	)
	SELECT count(pg_notify('shilian_report', json_build_object('jurisdiction', u.jurisdiction,
			'month', to_char(u.month, 'YYYY-MM'))::text))
	  INTO issued
	  FROM (SELECT * FROM up ORDER BY jurisdiction) u;
	RETURN issued;
END
$$;
COMMENT ON FUNCTION monthly_report_publish(date) IS
	'Admin (the monthly job, on the 5th): freeze the month and the one before (figures_freeze), store monthly_report of the month (NULL: last month) for every province, city and county in monthly_report_issue and NOTIFY shilian_report per row stored or changed; returns how many. SLX04 for a month not ended.';
REVOKE ALL ON FUNCTION monthly_report_publish(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION monthly_report_publish(date) TO shilian_admin;

-- ---- the periodic jobs ----------------------------------------------------------
-- Schedules are cron expressions in UTC (pg_cron 1.4 of Debian 12 runs them in
-- GMT): 18:30 UTC is 02:30 and 00:30 UTC is 08:30 in Asia/Shanghai. Each job
-- runs as shilian_admin, the role its functions are granted to.
CREATE FUNCTION job_plan(OUT jobname text, OUT schedule text, OUT command text, OUT purpose text)
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
		 'SET ROLE shilian_admin; SELECT shilian.partitions_ahead()',
		 'daily at 02:40 Asia/Shanghai: make the month partitions of the ledger, inspections, consumption and daily counters for this month and the three ahead'),
		('shilian_figures_cache', '47 * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.figures_cache_refresh()',
		 'hourly: count again the stations of the ended months'' cache that late records and back-dated changes marked, and store last month and the month before (docs/regulator.md, "The month cache")'),
		('shilian_monthly_report', '30 0 5 * *',
		 'SET ROLE shilian_admin; SELECT shilian.monthly_report_publish()',
		 'on the 5th at 08:30 Asia/Shanghai: store last month''s report of every province, city and county and NOTIFY shilian_report'),
		('shilian_federation', '* * * * *',
		 'SET ROLE shilian_admin; SELECT count(*) FROM shilian.federation_deliver(); SELECT shilian.federation_recall_catch_up()',
		 'every minute: send the sales to buyers of other provinces to their platforms and ask again for the recall parts a province did not open (docs/federation.md); nothing without peers')
	$$;
COMMENT ON FUNCTION job_plan() IS
	'The periodic jobs: name, cron schedule (UTC), SQL command and purpose. schedule_jobs() registers them with pg_cron; without pg_cron, run the commands from another scheduler.';

-- SLX02/SLX03 unless pg_cron is installed in this database.
CREATE FUNCTION schedule_require_cron() RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	crondb text := current_setting('cron.database_name', true);
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RETURN;
	END IF;
	IF crondb IS NOT NULL AND crondb <> current_database() THEN
		RAISE EXCEPTION USING ERRCODE = 'SLX03',
			MESSAGE = format('pg_cron serves database %s, not %s', crondb, current_database()),
			DETAIL = 'pg_cron keeps its jobs in the one database named by cron.database_name.',
			HINT = format('Set cron.database_name = %L and restart, then CREATE EXTENSION pg_cron here; or, in database %s, register the rows of shilian.job_plan() with cron.schedule_in_database(jobname, schedule, command, %L).',
				current_database(), crondb, current_database());
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'SLX02',
		MESSAGE = 'pg_cron is not installed in this database',
		DETAIL = 'The jobs of shilian.job_plan() are not scheduled.',
		HINT = format('Install postgresql-15-cron, set shared_preload_libraries = ''pg_cron'' and cron.database_name = %L, restart and CREATE EXTENSION pg_cron; or run the commands of SELECT * FROM shilian.job_plan() from another scheduler (docs/install.md, scheduled jobs).',
			current_database());
END
$$;
COMMENT ON FUNCTION schedule_require_cron() IS
	'Error SLX02 (pg_cron not installed here) or SLX03 (pg_cron serves another database) unless pg_cron is installed in this database.';
REVOKE ALL ON FUNCTION schedule_require_cron() FROM PUBLIC;

-- Runs with the caller's rights: the jobs belong to the caller (a superuser,
-- or a role allowed to use pg_cron and to SET ROLE shilian_admin).
CREATE FUNCTION schedule_jobs()
	RETURNS TABLE (jobid bigint, jobname text, schedule text, command text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	PERFORM shilian.schedule_require_cron();
	-- cron.schedule with a name replaces that job, so running this again
	-- (after an upgrade changed the plan) leaves one job per name.
	RETURN QUERY
	SELECT cron.schedule(p.jobname, p.schedule, p.command), p.jobname, p.schedule, p.command
	  FROM shilian.job_plan() p
	 ORDER BY p.jobname;
END
$$;
COMMENT ON FUNCTION schedule_jobs() IS
	'Register (or update) the jobs of job_plan() with pg_cron, owned by the caller; returns them with their pg_cron job ids. SLX02/SLX03 without pg_cron in this database.';
REVOKE ALL ON FUNCTION schedule_jobs() FROM PUBLIC;

CREATE FUNCTION unschedule_jobs() RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n integer;
BEGIN
	PERFORM shilian.schedule_require_cron();
	SELECT count(*) FILTER (WHERE cron.unschedule(j.jobid)) INTO n
	  FROM cron.job j
	 WHERE j.jobname IN (SELECT p.jobname FROM shilian.job_plan() p) AND j.username = current_user;
	RETURN n;
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS
	'Remove the caller''s pg_cron jobs named in job_plan() (before DROP EXTENSION); returns how many. SLX02/SLX03 without pg_cron in this database.';
REVOKE ALL ON FUNCTION unschedule_jobs() FROM PUBLIC;
