-- shilian upgrade script 0.2.0 -> 0.3.0, part 90: a first entry (首次进货)
-- without its incoming inspection (issue 18; h-firstentry), as part 88 did
-- for receive().
--
-- receive_first_entry() takes the inspection as optional (the rule of
-- receive(): given, it is checked, SLR15). The receipt time is now kept on the
-- batch (received_at), so a first entry without an inspection still has its
-- receipt date: record_completeness('first_entry', id) reports it lacking
-- incoming_inspection, operator_day_rebuild() counts it as a receipt (never
-- complete), and the regulator's findings (missing_incoming_inspection) date
-- it by received_at. Functions patched in place, as parts 86/88/89 do.

-- a first entry's receipt time (receive_first_entry's received_at); NULL
-- for every other origin
ALTER TABLE batch ADD COLUMN received_at timestamptz;
-- the first entries recorded so far: the time of their incoming inspection
UPDATE batch b SET received_at = (SELECT min(i.inspected_at) FROM inspection i
								   WHERE i.batch_id = b.id AND i.kind = 'incoming')
 WHERE b.origin = 'first_entry';

-- inspection DEFAULT NULL (adding a default keeps the signature)
CREATE OR REPLACE FUNCTION receive_first_entry(buyer bigint, product bigint, qty qty, supplier jsonb,
		inspection jsonb DEFAULT NULL, produced_on date DEFAULT shilian.platform_today(),
		received_at timestamptz DEFAULT now(), lot text DEFAULT NULL,
		certificate jsonb DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_receive_first_entry'
	LANGUAGE C VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION receive_first_entry(bigint, bigint, qty, jsonb, jsonb, date, timestamptz, text, jsonb) IS
	'First entry into the chain of goods from a supplier without records (a farmer at a market): supplier needs name and contact; the incoming inspection is optional (without one the first entry is recorded but incomplete in record_completeness); returns the new batch''s trace code.';

DO $patch$
DECLARE
	def text;
	old text;
BEGIN
	-- record_completeness (as part 88 left it): a first entry without its
	-- incoming inspection, dated by its received_at
	def := pg_catalog.pg_get_functiondef('shilian.record_completeness(text, bigint)'::pg_catalog.regprocedure);
	old := $o$				 WHERE insp IS NULL AND record_completeness.kind = 'receipt' AND x.id = record_completeness.id
				   AND x.kind = 'ship' AND x.status = 'received') i$o$;
	IF pg_catalog.strpos(def, old) = 0 THEN
		RAISE EXCEPTION 'record_completeness has no receipt branch to patch';
	END IF;
	EXECUTE pg_catalog.replace(def, old, $n$				 WHERE insp IS NULL AND record_completeness.kind = 'receipt' AND x.id = record_completeness.id
				   AND x.kind = 'ship' AND x.status = 'received'
				UNION ALL
				SELECT NULL, x.id, NULL, x.received_at, NULL, x.owner_id
				  FROM shilian.batch x
				 WHERE insp IS NULL AND record_completeness.kind = 'first_entry' AND x.id = record_completeness.id
				   AND x.origin = 'first_entry') i$n$);

	-- operator_day_rebuild (as part 88 left it): those first entries count
	-- as receipts
	def := pg_catalog.pg_get_functiondef('shilian.operator_day_rebuild()'::pg_catalog.regprocedure);
	old := $o$		   AND NOT EXISTS (SELECT 1 FROM shilian.inspection i WHERE i.link_id = l.id AND i.kind = 'incoming')
		 GROUP BY 1, 2
$o$;
	IF pg_catalog.strpos(def, old) = 0 THEN
		RAISE EXCEPTION 'operator_day_rebuild has no uninspected receipts to patch';
	END IF;
	EXECUTE pg_catalog.replace(def, old, old || $n$		UNION ALL
		-- the first entries recorded without one, dated by their received_at
		SELECT b.owner_id, shilian.platform_date(b.received_at), 'receipts', count(*)
		  FROM shilian.batch b
		 WHERE b.origin = 'first_entry'
		   AND NOT EXISTS (SELECT 1 FROM shilian.inspection i WHERE i.batch_id = b.id AND i.kind = 'incoming')
		 GROUP BY 1, 2
$n$);
	-- a later inspection of such a batch (inspect) is no receipt
	def := pg_catalog.pg_get_functiondef('shilian.operator_day_rebuild()'::pg_catalog.regprocedure);
	old := 'SELECT f.operator_id, shilian.platform_date(f.inspected_at), f.rn = 1' || E'\n';
	IF pg_catalog.strpos(def, old) = 0 THEN
		RAISE EXCEPTION 'operator_day_rebuild has no first-entry inspections to patch';
	END IF;
	EXECUTE pg_catalog.replace(def, old,
		'SELECT f.operator_id, shilian.platform_date(f.inspected_at), f.rn = 1 AND f.kind = ''incoming''' || E'\n');

	-- findings_compliance (part 66): a first entry's receipt date is its
	-- received_at (before: its inspection's, else its creation's)
	def := pg_catalog.pg_get_functiondef('shilian.findings_compliance(text[], bigint[], daterange)'::pg_catalog.regprocedure);
	old := 'coalesce(i.inspected_at, b.created_at)';
	IF pg_catalog.strpos(def, old) = 0 THEN
		RAISE EXCEPTION 'findings_compliance has no first-entry date to patch';
	END IF;
	EXECUTE pg_catalog.replace(def, old, 'coalesce(b.received_at, i.inspected_at, b.created_at)');
END
$patch$;

COMMENT ON COLUMN operator_day.receipts IS 'receive and receive_first_entry: receipts, with or without their incoming inspection (dated received_at), for the buyer.';
