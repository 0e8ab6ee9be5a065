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

-- The counters (part 58): written only by the record functions' commit-time
-- flush, which runs as the table's owner; a regulator reads the rows of the
-- operators at home in its subtree, the admin all of them and rebuilds them.
GRANT SELECT ON operator_day TO shilian_regulator, shilian_admin;
ALTER TABLE operator_day ENABLE ROW LEVEL SECURITY;
-- its partitions: read through operator_day only (no grant, no policy)
ALTER TABLE operator_day_default ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_day_admin ON operator_day FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_day_regulator ON operator_day FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));
GRANT SELECT ON operator_month TO shilian_regulator, shilian_admin;
ALTER TABLE operator_month ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_month_default ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_month_admin ON operator_month FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_month_regulator ON operator_month FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));
GRANT SELECT ON assessment_target TO shilian_regulator, shilian_admin;
GRANT INSERT, UPDATE, DELETE ON assessment_target TO shilian_admin;
ALTER TABLE assessment_target ENABLE ROW LEVEL SECURITY;
CREATE POLICY assessment_target_admin ON assessment_target TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY assessment_target_regulator ON assessment_target FOR SELECT TO shilian_regulator USING (true);
GRANT SELECT ON roll_station, operator_station, station_month TO shilian_admin;
ALTER TABLE roll_station ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_station ENABLE ROW LEVEL SECURITY;
ALTER TABLE station_month ENABLE ROW LEVEL SECURITY;
ALTER TABLE station_month_default ENABLE ROW LEVEL SECURITY;
CREATE POLICY roll_station_admin ON roll_station FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_station_admin ON operator_station FOR SELECT TO shilian_admin USING (true);
CREATE POLICY station_month_admin ON station_month FOR SELECT TO shilian_admin USING (true);
