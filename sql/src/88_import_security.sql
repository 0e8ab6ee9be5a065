-- shilian install script, part 88: who sees which bulk uploads (part 70).
-- A caller sees the import jobs it made and their per-line reports: a system
-- client by shilian.client, an operator by shilian.operator_id, a regulator
-- by shilian.jurisdiction; an admin sees all. Only import_ndjson writes them.

GRANT SELECT ON import_job, import_line
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

ALTER TABLE import_job ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_line ENABLE ROW LEVEL SECURITY;

CREATE POLICY import_job_admin ON import_job FOR SELECT TO shilian_admin USING (true);
CREATE POLICY import_job_operator ON import_job FOR SELECT TO shilian_operator
	USING (role_name = 'shilian_operator' AND operator_id = shilian.current_operator());
CREATE POLICY import_job_system ON import_job FOR SELECT TO shilian_system
	USING (role_name = 'shilian_system' AND client = shilian.current_client());
CREATE POLICY import_job_regulator ON import_job FOR SELECT TO shilian_regulator
	USING (role_name = 'shilian_regulator' AND jurisdiction = shilian.current_jurisdiction());

-- A line is visible with its job (the job policy above does the filtering).
CREATE POLICY import_line_visible ON import_line FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (job_id IN (SELECT j.id FROM shilian.import_job j));

-- Staged lines: no role reads or writes them; only the import functions
-- (definer rights) do, so row-level security is on with no policy.
ALTER TABLE import_stage ENABLE ROW LEVEL SECURITY;
