-- shilian 0.2.0 -> 0.3.0, part 99h: compliance_findings without three index
-- probes per receipt (issue 19). The receipts without their incoming
-- inspection or of expired lots are kept in receipt_exception as they are
-- written (part 66), filled here once from the records by the same rule; the
-- scan reads them and reads every receipt only of the operators whose
-- receipts all count (wholesalers without sales, operators past their
-- licences), and each operator's last licence day with one index probe.

-- ---- receipts that break a rule, kept as they are written ----------------------------
-- Two of compliance_findings' kinds look at every receipt: one without its
-- incoming inspection (missing_incoming_inspection) and one dated after the
-- expiry of the lot received (expired_product_receipt). Read at query time
-- that is three index probes per receipt (200,000 receipts in a city's
-- month: two to four seconds), so the receipts that break either rule are
-- kept here instead, by the triggers below, as their records are written
-- and corrected; the scan reads a few rows. receipt_exceptions() is the one
-- statement of the rule: the triggers, the upgrade's fill and the tests
-- that compare the table with a recount all call it.
-- A row per receipt: a confirmed sale (link_id, batch_id its to_batch) or a
-- first entry (link_id NULL, batch_id the first entry's batch); the receiver;
-- its Asia/Shanghai date; uninspected; the lot's expiry when the receipt is
-- after it (else NULL). Derived data: not dumped, a restore refills it as
-- it loads links, batches and inspections (the triggers fire on the COPY).
CREATE TABLE receipt_exception (
	operator_id bigint NOT NULL,
	batch_id    bigint NOT NULL,
	link_id     bigint,
	received_on date NOT NULL,
	uninspected boolean NOT NULL,
	expires_on  date,
	CHECK (uninspected OR expires_on IS NOT NULL)
);
CREATE UNIQUE INDEX receipt_exception_link_key ON receipt_exception (link_id) WHERE link_id IS NOT NULL;
CREATE UNIQUE INDEX receipt_exception_first_entry_key ON receipt_exception (batch_id) WHERE link_id IS NULL;
CREATE INDEX receipt_exception_operator_idx ON receipt_exception (operator_id, received_on);
CREATE INDEX receipt_exception_received_on_idx ON receipt_exception (received_on);
-- read only by the findings (definer rights); no role reads it directly
ALTER TABLE receipt_exception ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE receipt_exception IS
	'Receipts (confirmed sales, first entries) without their incoming inspection or dated after the expiry of the lot received, kept by triggers for compliance_findings (derived, not dumped).';

-- The rule: which of these receipts break it, and how. links: sales (the
-- ones not received, or transformations, give nothing); batches: first
-- entries (other batches give nothing). Neither STRICT nor SET: the planner
-- inlines it into the caller's statement (receipt_exception_sync, whose
-- plans PL/pgSQL keeps), where a function planned at every call cost a
-- receipt 0.85 ms; every name in it is schema-qualified.
CREATE FUNCTION receipt_exceptions(links bigint[], batches bigint[])
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
	UNION ALL
	SELECT r.owner_id, r.id, NULL, r.on_date, r.insp IS NULL,
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
COMMENT ON FUNCTION receipt_exceptions(bigint[], bigint[]) IS
	'The rule behind receipt_exception: of these sales (links) and first entries (batches), the receipts without their incoming inspection or dated after the lot''s expiry.';
REVOKE ALL ON FUNCTION receipt_exceptions(bigint[], bigint[]) FROM PUBLIC;

-- Make receipt_exception agree with receipt_exceptions() for these receipts.
-- PL/pgSQL, for its plans kept per session, and generic ones (a SQL
-- function's statements, or a custom plan of the rule, are planned again at
-- every call: half a millisecond a receipt's trigger would pay).
CREATE FUNCTION receipt_exception_sync(links bigint[], batches bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET plan_cache_mode = force_generic_plan
	AS $$
BEGIN
	-- planned at each call (EXECUTE of a constant statement): a generic plan
	-- made while receipt_exception was empty scans it whole, for every
	-- receipt of a bulk statement (200,000 sales inserted received: hours)
	IF cardinality(links) > 0 THEN
		EXECUTE 'DELETE FROM shilian.receipt_exception e WHERE e.link_id = ANY ($1)' USING links;
	END IF;
	IF cardinality(batches) > 0 THEN
		EXECUTE 'DELETE FROM shilian.receipt_exception e WHERE e.link_id IS NULL AND e.batch_id = ANY ($1)' USING batches;
	END IF;
	INSERT INTO shilian.receipt_exception (operator_id, batch_id, link_id, received_on, uninspected, expires_on)
	SELECT x.operator_id, x.batch_id, x.link_id, x.received_on, x.uninspected, x.expires_on
	  FROM shilian.receipt_exceptions(links, batches) x;
END
$$;
COMMENT ON FUNCTION receipt_exception_sync(bigint[], bigint[]) IS
	'Recompute the receipt_exception rows of these sales and first entries from the records (receipt_exceptions).';
REVOKE ALL ON FUNCTION receipt_exception_sync(bigint[], bigint[]) FROM PUBLIC;

-- The triggers: what can change a receipt's exception.
--   link UPDATE (statement, transition tables): a sale received, or a
--     receipt retracted or re-dated;
--   link INSERT of a received sale (row, only a restore does it);
--   batch INSERT of a first entry (row);
--   batch UPDATE of the expiry or the receipt time (row, a correction):
--     the sales received of that lot, and the batch if a first entry;
--   inspection INSERT of an incoming inspection (row): it can only clear a
--     receipt's exception, so only a receipt that has one is recomputed (a
--     receive writes its inspection in the same statement as the receipt,
--     and the link trigger, firing at the end of that statement, sees it).
CREATE FUNCTION receipt_exception_changed() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	links bigint[];
BEGIN
	IF TG_TABLE_NAME = 'link' AND TG_LEVEL = 'STATEMENT' THEN
		links := ARRAY(SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
						WHERE n.kind = 'ship' AND (n.status = 'received' OR o.status = 'received')
						  AND (n.status IS DISTINCT FROM o.status OR n.received_at IS DISTINCT FROM o.received_at
							   OR n.to_batch IS DISTINCT FROM o.to_batch OR n.from_batch <> o.from_batch));
		IF cardinality(links) > 0 THEN
			PERFORM shilian.receipt_exception_sync(links, '{}');
		END IF;
	ELSIF TG_TABLE_NAME = 'link' THEN
		PERFORM shilian.receipt_exception_sync(ARRAY[NEW.id], '{}');
	ELSIF TG_TABLE_NAME = 'batch' THEN
		PERFORM shilian.receipt_exception_sync(
			ARRAY(SELECT l.id FROM shilian.link l
				   WHERE TG_OP = 'UPDATE' AND l.from_batch = NEW.id AND l.status = 'received' AND l.kind = 'ship'),
			CASE WHEN NEW.origin = 'first_entry' THEN ARRAY[NEW.id] ELSE '{}' END);
	ELSIF NEW.link_id IS NOT NULL THEN
		IF EXISTS (SELECT 1 FROM shilian.receipt_exception e WHERE e.link_id = NEW.link_id) THEN
			PERFORM shilian.receipt_exception_sync(ARRAY[NEW.link_id], '{}');
		END IF;
	ELSIF EXISTS (SELECT 1 FROM shilian.receipt_exception e WHERE e.link_id IS NULL AND e.batch_id = NEW.batch_id) THEN
		PERFORM shilian.receipt_exception_sync('{}', ARRAY[NEW.batch_id]);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION receipt_exception_changed() IS
	'Trigger of link, batch and inspection: keeps receipt_exception for the receipts a statement received, retracted, re-dated, corrected or inspected.';
REVOKE ALL ON FUNCTION receipt_exception_changed() FROM PUBLIC;

CREATE TRIGGER receipt_exception_upd AFTER UPDATE ON link REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION receipt_exception_changed();
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON link
	FOR EACH ROW WHEN (NEW.kind = 'ship' AND NEW.status = 'received') EXECUTE FUNCTION receipt_exception_changed();
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON batch
	FOR EACH ROW WHEN (NEW.origin = 'first_entry') EXECUTE FUNCTION receipt_exception_changed();
CREATE TRIGGER receipt_exception_upd AFTER UPDATE ON batch
	FOR EACH ROW WHEN (OLD.expires_on IS DISTINCT FROM NEW.expires_on OR OLD.received_at IS DISTINCT FROM NEW.received_at)
	EXECUTE FUNCTION receipt_exception_changed();
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON inspection
	FOR EACH ROW WHEN (NEW.kind = 'incoming') EXECUTE FUNCTION receipt_exception_changed();

-- the receipts recorded before this version
SELECT shilian.receipt_exception_sync(
	ARRAY(SELECT l.id FROM shilian.link l WHERE l.status = 'received' AND l.kind = 'ship'),
	ARRAY(SELECT b.id FROM shilian.batch b WHERE b.origin = 'first_entry'));

CREATE OR REPLACE FUNCTION findings_compliance(stations text[], ops bigint[], period daterange)
	RETURNS TABLE (operator bigint, kind text, article text, serious boolean, records bigint,
		first_on date, last_on date, evidence jsonb)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, shilian, pg_temp
	SET jit = off
	AS $$
	WITH o AS MATERIALIZED (
		-- the operators examined: at home at one of the stations, or named
		-- (callers give one or the other; "x IS NOT NULL" gates each branch
		-- off as a whole: an index scan on "= ANY (NULL)" reads the index)
		SELECT so.id, so.kinds, so.segment FROM shilian.operator so
		 WHERE stations IS NOT NULL AND so.station = ANY (stations)
		UNION ALL
		SELECT so.id, so.kinds, so.segment FROM shilian.operator so WHERE ops IS NOT NULL AND so.id = ANY (ops)
	), lic AS MATERIALIZED (
		-- operators whose every licence ended before today (and before the
		-- end of the period): their last valid day, one probe of
		-- licence_operator_idx per operator (a join would hash every licence
		-- of the province to keep a city's)
		SELECT o.id AS operator_id, m.valid_to
		  FROM o CROSS JOIN LATERAL (
			SELECT max(li.valid_to) AS valid_to FROM shilian.licence li WHERE li.operator_id = o.id) m
		 WHERE m.valid_to < shilian.platform_today()
		   AND (upper(period) IS NULL OR m.valid_to < upper(period))
	), whs AS MATERIALIZED (
		-- wholesalers without a sale in the period
		SELECT w.id FROM o w
		 WHERE w.kinds @> ARRAY['wholesaler']
		   AND NOT EXISTS (SELECT 1 FROM shilian.link s
							WHERE s.seller_id = w.id AND s.kind = 'ship' AND s.shipped_on <@ period)
	), rcpt AS (
		-- every receipt in the period of the operators whose receipts all
		-- count (wholesalers without sales, operators past their licences),
		-- operator by operator (OFFSET 0 keeps each a nested loop over the
		-- operator's index entries): confirmed sales and first entries
		SELECT x.id AS operator, r.on_date, r.link, r.batch
		  FROM (SELECT whs.id FROM whs UNION SELECT lic.operator_id FROM lic) x CROSS JOIN LATERAL (
			SELECT shilian.platform_date(l.received_at) AS on_date, l.id AS link, l.to_batch AS batch
			  FROM shilian.link l
			 WHERE l.buyer_id = x.id AND l.status = 'received' AND l.kind = 'ship'
			   AND shilian.platform_date(l.received_at) <@ period
			UNION ALL
			SELECT shilian.platform_date(coalesce(b.received_at, i.inspected_at, b.created_at)), NULL, b.id
			  FROM shilian.batch b
			  LEFT JOIN LATERAL (SELECT i.inspected_at FROM shilian.inspection i
								  WHERE i.batch_id = b.id AND i.kind = 'incoming' ORDER BY i.id LIMIT 1) i ON true
			 WHERE b.owner_id = x.id AND b.origin = 'first_entry'
			   AND shilian.platform_date(coalesce(b.received_at, i.inspected_at, b.created_at)) <@ period
			OFFSET 0) r
	), ex AS (
		-- the receipts in the period without their inspection or of expired
		-- lots, as receipt_exception keeps them
		SELECT e.operator_id AS operator, e.received_on AS on_date, e.link_id AS link, e.batch_id AS batch, e.uninspected,
			e.expires_on
		  FROM o JOIN shilian.receipt_exception e ON e.operator_id = o.id
		 WHERE e.received_on <@ period
	), ev AS (
		-- (the lot received, a foreign key, is looked up per evidence row: a
		-- scalar subquery is an index probe whatever the planner expects of
		-- the CTE's size)
		SELECT r.operator, 'missing_incoming_inspection' AS kind, r.on_date, r.batch AS ref,
			jsonb_build_object('link', r.link::text,
				'trace_code', (SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch)::text,
				'received_on', r.on_date) AS e
		  FROM ex r
		 WHERE r.uninspected
		UNION ALL
		SELECT r.operator, 'expired_product_receipt', r.on_date, r.batch,
			jsonb_build_object('link', r.link::text,
				'trace_code', (SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch)::text,
				'received_on', r.on_date, 'expires_on', r.expires_on)
		  FROM ex r
		 WHERE r.expires_on IS NOT NULL
		UNION ALL
		SELECT r.operator, 'wholesaler_without_sales_records', r.on_date, r.batch,
			jsonb_build_object('link', r.link::text,
				'trace_code', (SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch)::text,
				'received_on', r.on_date)
		  FROM rcpt r
		  JOIN whs w ON w.id = r.operator
	UNION ALL
		SELECT x.operator, 'expired_licence_trading', x.on_date, x.ref,
			jsonb_build_object('record', x.record, 'link', x.link::text, 'trace_code', x.trace_code::text,
				'on', x.on_date, 'licence_valid_to', x.valid_to)
		  FROM (
			SELECT lic.operator_id AS operator, 'sale' AS record, s.shipped_on AS on_date, s.id AS ref,
				s.id AS link, s.trace_code, lic.valid_to
			  FROM lic CROSS JOIN LATERAL (
				SELECT s.id, s.shipped_on, b.trace_code
				  FROM shilian.link s JOIN shilian.batch b ON b.id = s.from_batch
				 WHERE s.seller_id = lic.operator_id AND s.kind = 'ship' AND s.shipped_on > lic.valid_to
				   AND s.shipped_on <@ period
				OFFSET 0) s
			UNION ALL
			SELECT lic.operator_id, 'receipt', r.on_date, r.batch, r.link,
				(SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch), lic.valid_to
			  FROM lic JOIN rcpt r ON r.operator = lic.operator_id AND r.on_date > lic.valid_to
			UNION ALL
			SELECT lic.operator_id, 'production', b.produced_on, b.id, NULL, b.trace_code, lic.valid_to
			  FROM lic CROSS JOIN LATERAL (
				SELECT b.id, b.produced_on, b.trace_code
				  FROM shilian.batch b
				 WHERE b.owner_id = lic.operator_id AND b.origin IN ('produced', 'transformed')
				   AND b.produced_on > lic.valid_to AND b.produced_on <@ period
				OFFSET 0) b
		  ) x
	), num AS (
		SELECT ev.*, row_number() OVER (PARTITION BY ev.operator, ev.kind ORDER BY ev.on_date, ev.ref) AS rn
		  FROM ev
	), agg AS (
		SELECT n.operator, n.kind, count(*) AS records, min(n.on_date) AS first_on, max(n.on_date) AS last_on,
			jsonb_agg(n.e ORDER BY n.on_date, n.ref) FILTER (WHERE n.rn <= 100) AS evidence
		  FROM num n
		 GROUP BY n.operator, n.kind
	)
	SELECT a.operator, a.kind,
		CASE a.kind
			WHEN 'missing_incoming_inspection' THEN 'Food Safety Law arts. 50, 53; art. 126(1)(3)'
			WHEN 'wholesaler_without_sales_records' THEN 'Food Safety Law art. 53(3); art. 126(1)(3)'
			WHEN 'expired_licence_trading' THEN 'Food Safety Law art. 35(1); art. 122(1)'
			WHEN 'expired_product_receipt' THEN 'Food Safety Law art. 34(10); art. 124(1)(5)'
		END || CASE WHEN a.last_on >= a.first_on + interval '3 months'
			THEN '; Implementing Regulations art. 67(1)(1)' ELSE '' END,
		a.last_on >= a.first_on + interval '3 months',
		a.records, a.first_on, a.last_on, a.evidence
	  FROM agg a
	$$;
