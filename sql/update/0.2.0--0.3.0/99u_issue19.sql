-- 0.2.0 -> 0.3.0, part 99u (issue 19).
--
-- The holders' index of recall_target leads with the recall (part 40):
-- every query by holder names the recall, and a new recall's entries then
-- go to the index's right edge, in key order (recall.c), instead of one
-- random leaf per target.
DROP INDEX recall_target_operator_idx;
CREATE INDEX recall_target_operator_idx ON recall_target (recall_id, operator_id);

-- receipt_exception_sync deletes a receipt's old row by its ctid after a
-- probe of its key, with plans kept for the session, instead of planning
-- a DELETE at each call (part 66; part 99h's body otherwise).
CREATE OR REPLACE FUNCTION receipt_exception_sync(links bigint[], batches bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_generic_plan
	AS $$
DECLARE
	row_at tid;
BEGIN
	-- Each receipt's row (one at most: the keys are unique) found by a
	-- probe of its key, then deleted by its ctid (a TID scan, whatever the
	-- table's size when the plan was made). A generic plan of "link_id =
	-- ANY (links)" made while receipt_exception was empty scans it whole
	-- for every receipt of a bulk statement (200,000 sales inserted
	-- received: hours); planning it at each call (EXECUTE) was 4 % of a
	-- receipt; "ctid = ANY (...)" is planned as a scan of the table too.
	-- Most receipts have no row: the loops find nothing.
	IF cardinality(links) > 0 THEN
		FOR row_at IN SELECT x.ctid FROM (SELECT DISTINCT unnest(links) AS id) k
			CROSS JOIN LATERAL (SELECT e.ctid FROM shilian.receipt_exception e
								 WHERE e.link_id = k.id LIMIT 1) x LOOP
			DELETE FROM shilian.receipt_exception e WHERE e.ctid = row_at;
		END LOOP;
	END IF;
	IF cardinality(batches) > 0 THEN
		FOR row_at IN SELECT x.ctid FROM (SELECT DISTINCT unnest(batches) AS id) k
			CROSS JOIN LATERAL (SELECT e.ctid FROM shilian.receipt_exception e
								 WHERE e.link_id IS NULL AND e.batch_id = k.id LIMIT 1) x LOOP
			DELETE FROM shilian.receipt_exception e WHERE e.ctid = row_at;
		END LOOP;
	END IF;
	INSERT INTO shilian.receipt_exception (operator_id, batch_id, link_id, received_on, uninspected, expires_on)
	SELECT x.operator_id, x.batch_id, x.link_id, x.received_on, x.uninspected, x.expires_on
	  FROM shilian.receipt_exceptions(links, batches) x;
END
$$;
