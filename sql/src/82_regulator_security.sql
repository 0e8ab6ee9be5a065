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
