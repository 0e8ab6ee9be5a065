-- 0.2.0 -> 0.3.0, part 99zl (issue 19: staging a bulk upload checked its
-- job's key once per line). import_stage loses its foreign key onto
-- import_job: its lines are written only by import_ndjson and
-- import_stage_lines, for the job import_open has just made or taken up; a
-- deleted or truncated job's staged lines are removed by a trigger instead
-- of the cascade (sql/src/70_import.sql).
ALTER TABLE import_stage DROP CONSTRAINT import_stage_job_id_fkey;

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
