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

REVOKE ALL ON FUNCTION try_license_no(text), try_uscc(text), findings_subtree(text),
	findings_broken_chain(text[], bigint[], daterange, integer, date),
	findings_compliance(text[], bigint[], daterange),
	findings_spot_pick(text, integer, bigint),
	broken_chain(text, daterange, integer), compliance_findings(text, daterange),
	spot_check_sample(text, text, integer, bigint), alerts_scan(date), alerts(text, boolean),
	alert_ack(bigint)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION broken_chain(text, daterange, integer), compliance_findings(text, daterange),
	spot_check_sample(text, text, integer, bigint), alerts(text, boolean), alert_ack(bigint)
	TO shilian_regulator, shilian_admin;
GRANT EXECUTE ON FUNCTION alerts_scan(date) TO shilian_admin;
