-- 0.2.0 -> 0.3.0, part 99x (issue 19: ship + receive pairs).
--
-- receipt_exceptions (part 99h) in two halves, the sales' and the first
-- entries', each inlined into its own statement of receipt_exception_sync,
-- which runs only the half its receipts need; the sync's DELETEs are static
-- statements again, planned once per session, with sequential scans off
-- for the function so that their generic plans probe the unique partial
-- indexes whatever the statistics say, instead of EXECUTE'd and planned at
-- every receipt (sql/src/66_findings.sql).
CREATE FUNCTION receipt_exceptions_of_sales(links bigint[])
	RETURNS TABLE (operator_id bigint, batch_id bigint, link_id bigint, received_on date, uninspected boolean,
		expires_on date)
	LANGUAGE sql STABLE
	AS $$
	-- Driven by the ids given, each looked up by its primary key (LATERAL
	-- ... LIMIT 1 is a probe per id; the record's other conditions are
	-- tested after it, outside, so that no partial index can stand in for the
	-- key): a trigger's sync runs this with a generic plan kept for the
	-- session, made perhaps while the tables were nearly empty, and "id =
	-- ANY (links)" or a condition a partial index implies got a scan of every
	-- received sale per call (O(n) a receipt, O(n^2) a bulk upload's chunk).
	-- The lots sold are read once each, not once per sale: a chunk sells from
	-- one lot thousands of times, and every sale's update of its quantity
	-- left is a version of the lot's row that a probe of it walks until the
	-- chunk commits.
	WITH l AS MATERIALIZED (
		SELECT l.id, l.buyer_id, l.to_batch, l.from_batch, shilian.platform_date(l.received_at) AS on_date
		  FROM (SELECT DISTINCT unnest(links) AS id) k
		 CROSS JOIN LATERAL (SELECT l.id, l.buyer_id, l.to_batch, l.from_batch, l.received_at, l.status, l.kind
							   FROM shilian.link l WHERE l.id = k.id LIMIT 1) l
		 WHERE l.status = 'received' AND l.kind = 'ship'
	), lot AS MATERIALIZED (
		SELECT fb.id, fb.expires_on
		  FROM (SELECT DISTINCT l.from_batch AS id FROM l) d
		 CROSS JOIN LATERAL (SELECT fb.id, fb.expires_on FROM shilian.batch fb WHERE fb.id = d.id LIMIT 1) fb
	)
	SELECT r.buyer_id, r.to_batch, r.id, r.on_date, NOT r.inspected,
		CASE WHEN r.on_date > r.expires_on THEN r.expires_on END
	  FROM (SELECT l.id, l.buyer_id, l.to_batch, l.on_date, lot.expires_on, i.found IS NOT NULL AS inspected
			  FROM l
			  JOIN lot ON lot.id = l.from_batch
			  LEFT JOIN LATERAL (SELECT true AS found FROM shilian.inspection i
								  WHERE i.batch_id = l.to_batch AND i.link_id = l.id AND i.kind = 'incoming'
								  LIMIT 1) i ON true) r
	 WHERE NOT r.inspected OR r.on_date > r.expires_on
	$$;
COMMENT ON FUNCTION receipt_exceptions_of_sales(bigint[]) IS
	'The sales half of receipt_exceptions: of these sales (links), the receipts without their incoming inspection or dated after the lot''s expiry.';
REVOKE ALL ON FUNCTION receipt_exceptions_of_sales(bigint[]) FROM PUBLIC;

CREATE FUNCTION receipt_exceptions_of_first_entries(batches bigint[])
	RETURNS TABLE (operator_id bigint, batch_id bigint, link_id bigint, received_on date, uninspected boolean,
		expires_on date)
	LANGUAGE sql STABLE
	AS $$
	-- each first entry looked up by its primary key alone (LATERAL ...
	-- LIMIT 1), its other conditions tested after it, as in the sales' half
	SELECT r.owner_id, r.id, NULL::bigint, r.on_date, r.insp IS NULL,
		CASE WHEN r.on_date > r.expires_on THEN r.expires_on END
	  FROM (SELECT DISTINCT unnest(batches) AS id) k
	 CROSS JOIN LATERAL (SELECT b.id, b.owner_id, b.expires_on, b.received_at, b.created_at, b.origin
						   FROM shilian.batch b WHERE b.id = k.id LIMIT 1) b
	 CROSS JOIN LATERAL (
		SELECT b.id, b.owner_id, b.expires_on, i.id AS insp,
			shilian.platform_date(coalesce(b.received_at, i.inspected_at, b.created_at)) AS on_date
		  FROM (SELECT 1) one
		  LEFT JOIN LATERAL (SELECT i.id, i.inspected_at FROM shilian.inspection i
							  WHERE i.batch_id = b.id AND i.kind = 'incoming' ORDER BY i.id LIMIT 1) i ON true) r
	 WHERE b.origin = 'first_entry' AND (r.insp IS NULL OR r.on_date > r.expires_on)
	$$;
COMMENT ON FUNCTION receipt_exceptions_of_first_entries(bigint[]) IS
	'The first entries half of receipt_exceptions: of these first entries (batches), the receipts without their incoming inspection or dated after the lot''s expiry.';
REVOKE ALL ON FUNCTION receipt_exceptions_of_first_entries(bigint[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION receipt_exceptions(links bigint[], batches bigint[])
	RETURNS TABLE (operator_id bigint, batch_id bigint, link_id bigint, received_on date, uninspected boolean,
		expires_on date)
	LANGUAGE sql STABLE
	AS $$
	SELECT * FROM shilian.receipt_exceptions_of_sales(links)
	UNION ALL
	SELECT * FROM shilian.receipt_exceptions_of_first_entries(batches)
	$$;

CREATE OR REPLACE FUNCTION receipt_exception_sync(links bigint[], batches bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_generic_plan
	SET enable_seqscan = off
	AS $$
BEGIN
	IF cardinality(links) > 0 THEN
		DELETE FROM shilian.receipt_exception e WHERE e.link_id = ANY (links);
		INSERT INTO shilian.receipt_exception (operator_id, batch_id, link_id, received_on, uninspected, expires_on)
		SELECT x.operator_id, x.batch_id, x.link_id, x.received_on, x.uninspected, x.expires_on
		  FROM shilian.receipt_exceptions_of_sales(links) x;
	END IF;
	IF cardinality(batches) > 0 THEN
		DELETE FROM shilian.receipt_exception e WHERE e.link_id IS NULL AND e.batch_id = ANY (batches);
		INSERT INTO shilian.receipt_exception (operator_id, batch_id, link_id, received_on, uninspected, expires_on)
		SELECT x.operator_id, x.batch_id, x.link_id, x.received_on, x.uninspected, x.expires_on
		  FROM shilian.receipt_exceptions_of_first_entries(batches) x;
	END IF;
END
$$;
