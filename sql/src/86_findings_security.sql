-- shilian install script, part 86: the findings and alerts (part 66) under
-- the security model (part 80; docs/security.md). The finding functions run
-- with definer rights behind regulator_require_subtree; the scans they share
-- are granted to nobody. Alerts: a regulator reads those at home in its
-- subtree, an operator its own, the admin all; nobody writes them but
-- alerts_scan and alert_ack.

GRANT SELECT ON alert TO shilian_regulator, shilian_operator, shilian_admin;
ALTER TABLE alert ENABLE ROW LEVEL SECURITY;
CREATE POLICY alert_admin ON alert FOR SELECT TO shilian_admin USING (true);
CREATE POLICY alert_regulator ON alert FOR SELECT TO shilian_regulator
	USING (jurisdiction = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));
CREATE POLICY alert_operator ON alert FOR SELECT TO shilian_operator
	USING (operator_id = shilian.current_operator());
