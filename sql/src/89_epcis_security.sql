-- shilian install script, part 89: who sees which EPCIS events and capture
-- jobs (part 75). An event is visible as the records it made are: to the
-- operators concerned (parties: the owner, or seller and buyer of a sale),
-- to the system clients bound to one of them, to the regulators of one of
-- them; an admin sees all. A capture job is visible to whoever captured it,
-- as an import job is (part 88). Only epcis_capture writes them.

GRANT SELECT ON epcis_capture_job, epcis_event
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

ALTER TABLE epcis_capture_job ENABLE ROW LEVEL SECURITY;
ALTER TABLE epcis_event ENABLE ROW LEVEL SECURITY;

CREATE POLICY epcis_capture_job_admin ON epcis_capture_job FOR SELECT TO shilian_admin USING (true);
CREATE POLICY epcis_capture_job_operator ON epcis_capture_job FOR SELECT TO shilian_operator
	USING (role_name = 'shilian_operator' AND operator_id = shilian.current_operator());
CREATE POLICY epcis_capture_job_system ON epcis_capture_job FOR SELECT TO shilian_system
	USING (role_name = 'shilian_system' AND client = shilian.current_client());
CREATE POLICY epcis_capture_job_regulator ON epcis_capture_job FOR SELECT TO shilian_regulator
	USING (role_name = 'shilian_regulator' AND jurisdiction = shilian.current_jurisdiction());

CREATE POLICY epcis_event_admin ON epcis_event FOR SELECT TO shilian_admin USING (true);
CREATE POLICY epcis_event_operator ON epcis_event FOR SELECT TO shilian_operator
	USING (parties @> ARRAY[shilian.current_operator()]);
CREATE POLICY epcis_event_system ON epcis_event FOR SELECT TO shilian_system
	USING (parties && ARRAY(SELECT c FROM shilian.client_operators() AS c));
CREATE POLICY epcis_event_regulator ON epcis_event FOR SELECT TO shilian_regulator
	USING (parties && ARRAY(SELECT s FROM shilian.subtree_operators() AS s));

-- GS1 master data (part 75): read as the operator's records are; written only
-- by gs1_location_register.
GRANT SELECT ON gs1_location TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE gs1_location ENABLE ROW LEVEL SECURITY;
CREATE POLICY gs1_location_read ON gs1_location FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (shilian.may_see(operator_id));

-- Serialised items (part 75): read as the commissioning operator's records
-- are; written only by epcis_capture.
GRANT SELECT ON batch_item TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE batch_item ENABLE ROW LEVEL SECURITY;
CREATE POLICY batch_item_read ON batch_item FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (shilian.may_see(owner_id));

-- Items on sales (part 75): read as the sale's parties' records are;
-- written only by epcis_capture.
GRANT SELECT ON item_link TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE item_link ENABLE ROW LEVEL SECURITY;
CREATE POLICY item_link_read ON item_link FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (EXISTS (SELECT 1 FROM shilian.link l
	                WHERE l.id = item_link.link_id AND (shilian.may_see(l.seller_id) OR shilian.may_see(l.buyer_id))));

-- Logistic units (part 75): read as the holder's records are; written only
-- by epcis_capture.
GRANT SELECT ON logistic_unit TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE logistic_unit ENABLE ROW LEVEL SECURITY;
CREATE POLICY logistic_unit_read ON logistic_unit FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (shilian.may_see(owner_id));

-- Nested logistic units (part 75): read as the holder's records are;
-- written only by epcis_capture.
GRANT SELECT ON logistic_unit_nest TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE logistic_unit_nest ENABLE ROW LEVEL SECURITY;
CREATE POLICY logistic_unit_nest_read ON logistic_unit_nest FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (shilian.may_see(owner_id));

-- Named queries (part 75): each owner reads, creates and deletes its own
-- (epcis_query_owner()), through the invoker-rights epcis_named_query_*
-- functions; nobody sees another's.
GRANT SELECT, INSERT, DELETE ON epcis_named_query
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE epcis_named_query ENABLE ROW LEVEL SECURITY;
CREATE POLICY epcis_named_query_own ON epcis_named_query
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (owner = shilian.epcis_query_owner()) WITH CHECK (owner = shilian.epcis_query_owner());
