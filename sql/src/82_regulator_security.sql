-- shilian install script, part 82: the regulator side (part 60) under the
-- security model (part 80; docs/security.md). The roll is reference data of
-- the regulators: a regulator reads the licences whose home station lies in
-- its subtree, the platform admin reads and loads all of it; operators,
-- systems and the public see none of it.

GRANT SELECT ON operator_roll TO shilian_regulator, shilian_admin;
GRANT INSERT, UPDATE, DELETE ON operator_roll TO shilian_admin;
GRANT SELECT ON operator_roll_stage TO shilian_admin;

ALTER TABLE operator_roll ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_roll_stage ENABLE ROW LEVEL SECURITY;

CREATE POLICY operator_roll_admin ON operator_roll TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY operator_roll_stage_admin ON operator_roll_stage TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY operator_roll_regulator ON operator_roll FOR SELECT TO shilian_regulator
	USING (station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));

REVOKE ALL ON FUNCTION roll_import(regclass), record_events(), regulator_require_subtree(text),
	jurisdiction_stats(text, daterange), inactive_operators(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION roll_import(regclass) TO shilian_admin;
GRANT EXECUTE ON FUNCTION record_events(), regulator_require_subtree(text),
	jurisdiction_stats(text, daterange), inactive_operators(text, date)
	TO shilian_regulator, shilian_admin;

-- The counters (part 58): written only by the record functions' commit-time
-- flush, which runs as the table's owner; a regulator reads the rows of the
-- operators at home in its subtree, the admin all of them and rebuilds them.
GRANT SELECT ON operator_day TO shilian_regulator, shilian_admin;
ALTER TABLE operator_day ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_day_admin ON operator_day FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_day_regulator ON operator_day FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));
GRANT SELECT ON operator_month TO shilian_regulator, shilian_admin;
ALTER TABLE operator_month ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_month_admin ON operator_month FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_month_regulator ON operator_month FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));
REVOKE ALL ON FUNCTION operator_day_rebuild(), incoming_complete(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_day_rebuild() TO shilian_admin;
GRANT EXECUTE ON FUNCTION incoming_complete(bigint[]) TO shilian_regulator, shilian_admin;

-- The figures (part 64): regulators and the admin; the targets are the
-- admin's to set and every regulator's to read.
REVOKE ALL ON FUNCTION station_figures(text, daterange, boolean), segment_stats(text, daterange),
	monthly_report_rows(date, text), monthly_report(date, text), monthly_report_csv(date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures(text, daterange, boolean), segment_stats(text, daterange),
	monthly_report_rows(date, text), monthly_report(date, text), monthly_report_csv(date, text)
	TO shilian_regulator, shilian_admin;
GRANT SELECT ON assessment_target TO shilian_regulator, shilian_admin;
GRANT INSERT, UPDATE, DELETE ON assessment_target TO shilian_admin;
ALTER TABLE assessment_target ENABLE ROW LEVEL SECURITY;
CREATE POLICY assessment_target_admin ON assessment_target TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY assessment_target_regulator ON assessment_target FOR SELECT TO shilian_regulator USING (true);

-- The rollups (part 62): written by their triggers and recounts as the
-- owner, read by station_figures_month with definer rights after the
-- subtree check; the admin reads them and rebuilds them, nobody else
-- touches them directly.
REVOKE ALL ON FUNCTION station_figures_scan(text, daterange, boolean), station_figures_month(text, date, boolean),
	rollup_recount(text[]), rollup_rebuild(), operator_is_key(bigint, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures_scan(text, daterange, boolean), station_figures_month(text, date, boolean)
	TO shilian_regulator, shilian_admin;
GRANT EXECUTE ON FUNCTION rollup_rebuild() TO shilian_admin;
GRANT SELECT ON roll_station, operator_station, station_month TO shilian_admin;
ALTER TABLE roll_station ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_station ENABLE ROW LEVEL SECURITY;
ALTER TABLE station_month ENABLE ROW LEVEL SECURITY;
CREATE POLICY roll_station_admin ON roll_station FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_station_admin ON operator_station FOR SELECT TO shilian_admin USING (true);
CREATE POLICY station_month_admin ON station_month FOR SELECT TO shilian_admin USING (true);
