-- shilian install script, part 84: who reads the registry's history (part 63;
-- docs/security.md), after the context functions of part 80.

-- Regulators the versions at home in their subtree (the licences of
-- operators at home there now), the admin all; operators and systems none.
REVOKE ALL ON operator_history, licence_history, operator_roll_history FROM PUBLIC;
GRANT SELECT ON operator_history, licence_history, operator_roll_history TO shilian_regulator, shilian_admin;
ALTER TABLE operator_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE licence_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_roll_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_history_admin ON operator_history FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_history_regulator ON operator_history FOR SELECT TO shilian_regulator
	USING (station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));
CREATE POLICY licence_history_admin ON licence_history FOR SELECT TO shilian_admin USING (true);
CREATE POLICY licence_history_regulator ON licence_history FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));
CREATE POLICY operator_roll_history_admin ON operator_roll_history FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_roll_history_regulator ON operator_roll_history FOR SELECT TO shilian_regulator
	USING (station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));
