-- shilian install script, part 66: what the regulator acts on
-- (docs/regulator.md, "Findings"): broken chains, violations of the
-- record-keeping articles, the quarterly spot-check sample and alerts.
--
-- The scans' plans are costed high (generic plans over arrays of unknown
-- size): "SET jit = off" keeps a second of JIT compilation out of calls that
-- take a fraction of it.
--
-- The findings read across borders (a receipt names a supplier registered in
-- another county; a pending sale comes from a seller elsewhere), so the
-- public functions run with definer rights, check the caller with
-- regulator_require_subtree first (SLR19, 42501) and then read only the
-- operators at home in the asked subtree; the evidence holds what the
-- operator's own records hold (the counterparty's id and name, as its
-- receipt drafts show them). The scans themselves are plain SQL over the
-- operators at home at a set of stations (or named by id), shared by
-- broken_chain, compliance_findings, spot_check_sample and alerts_scan, and
-- granted to nobody.

-- ---- indexes the scans use -----------------------------------------------------
-- Pending sales by date: the shipments never received (a small share of all
-- links, so a small index). The index carries the buyer and the link id, so that the pending sales of
-- a subtree are picked from it alone (an index-only scan) before any link
-- row is read.
CREATE INDEX link_pending_shipped_idx ON link (shipped_on) INCLUDE (buyer_id, id)
	WHERE status = 'pending' AND kind = 'ship';
-- The operators of a subtree with what the scans need of them, from the
-- index alone (an index-only scan by station).
CREATE INDEX operator_station_cover_idx ON operator (station) INCLUDE (id, segment, kinds);
-- First entries that name a supplier's licence or USCC: the only ones that
-- can point at an operator on the platform.
CREATE INDEX batch_first_entry_named_idx ON batch (owner_id)
	WHERE origin = 'first_entry' AND (supplier_licence IS NOT NULL OR supplier ?| ARRAY['licence', 'uscc']);
-- Batches an operator created itself (batch_create), by holder: a seller that
-- is no producer shows up here.
CREATE INDEX batch_produced_owner_idx ON batch (owner_id, product_id) WHERE origin = 'produced';

-- The receipts of compliance_findings, from indexes alone (index-only scans;
-- the visibility map autovacuum keeps): confirmed sales by buyer with the
-- date, the link, the lots on both sides; incoming inspections by lot, in
-- record order, with the sale they name and the date (whether a receipt has
-- its inspection, and a first entry's first one); first entries by holder
-- with their expiry. Measured at scale 0.2 (203,168 operators, 370100):
-- compliance_findings 0.90 s -> 0.35 s, no longer reading a heap page per
-- receipt for the link and the inspection.
CREATE INDEX link_received_buyer_idx ON link (buyer_id) INCLUDE (received_at, id, to_batch, from_batch)
	WHERE status = 'received' AND kind = 'ship';
-- (inspection is partitioned: the index is made on its default partition,
-- the template that partitions_ahead() copies to every month partition)
CREATE INDEX inspection_default_incoming_idx ON inspection_default (batch_id, id) INCLUDE (link_id, inspected_at)
	WHERE kind = 'incoming';
CREATE INDEX batch_first_entry_owner_idx ON batch (owner_id) INCLUDE (id, expires_on, created_at)
	WHERE origin = 'first_entry';

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
-- receipt 0.85 ms; every name in it is schema-qualified. Stated in two
-- halves, the sales' and the first entries', each inlined the same way, so
-- that the sync of a receipt of a sale starts the plan of the sales' half
-- only (the whole rule's plan, both halves, cost a receipt 1.5 % of a
-- ship + receive pair to start).
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

CREATE FUNCTION receipt_exceptions(links bigint[], batches bigint[])
	RETURNS TABLE (operator_id bigint, batch_id bigint, link_id bigint, received_on date, uninspected boolean,
		expires_on date)
	LANGUAGE sql STABLE
	AS $$
	SELECT * FROM shilian.receipt_exceptions_of_sales(links)
	UNION ALL
	SELECT * FROM shilian.receipt_exceptions_of_first_entries(batches)
	$$;
COMMENT ON FUNCTION receipt_exceptions(bigint[], bigint[]) IS
	'The rule behind receipt_exception: of these sales (links) and first entries (batches), the receipts without their incoming inspection or dated after the lot''s expiry.';
REVOKE ALL ON FUNCTION receipt_exceptions(bigint[], bigint[]) FROM PUBLIC;

-- Make receipt_exception agree with receipt_exceptions() for these receipts,
-- each half of the rule run only for the receipts of its kind given: a
-- DELETE of their rows and an INSERT of what the half gives, the half
-- inlined into it. In C (extension/receipt_exception.c), as the trigger
-- below that calls it: the statements are kept once per backend with their
-- generic plans, planned with sequential scans off (the record functions'
-- statements, extension/stmt.c). A generic plan of the DELETEs made when
-- VACUUM ANALYZE had seen receipt_exception empty (relpages 0) was
-- otherwise a scan of the whole table, for every receipt of a bulk
-- statement (200,000 sales inserted received: hours); with them off it is
-- the unique partial index's probe whatever the statistics say (t/027,
-- docs/regulator.md). Before, the PL/pgSQL sync with SET plan_cache_mode and
-- enable_seqscan, called from the PL/pgSQL trigger, cost 4.5 % of a ship +
-- receive pair around its statements.
CREATE FUNCTION receipt_exception_sync(links bigint[], batches bigint[]) RETURNS void
	AS 'MODULE_PATHNAME', 'receipt_exception_sync'
	LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION receipt_exception_sync(bigint[], bigint[]) IS
	'Recompute the receipt_exception rows of these sales and first entries from the records (receipt_exceptions).';
REVOKE ALL ON FUNCTION receipt_exception_sync(bigint[], bigint[]) FROM PUBLIC;

-- The triggers: what can change a receipt's exception.
--   link UPDATE (statement, transition tables): a sale received, or a
--     receipt retracted or re-dated;
--   link INSERT of a received sale (a restore, or an import writing a
--     sale with its receipt: receipt_exception_inserted, per statement);
--   batch INSERT of a first entry (row);
--   batch UPDATE of the expiry or the receipt time (row, a correction):
--     the sales received of that lot, and the batch if a first entry;
--   inspection INSERT of an incoming inspection (row: a statement trigger
--     of the partitioned table would not fire for rows written into a
--     partition directly, as pg_restore writes them): it can only clear a
--     receipt's exception, so only a receipt that has one is recomputed (a
--     receive writes its inspection in the same statement as the receipt,
--     and the link trigger, firing at the end of that statement, sees it).
-- In C (extension/receipt_exception.c), which reads the link statement's
-- transition tables itself and runs the sync's statements directly.
CREATE FUNCTION receipt_exception_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'receipt_exception_changed'
	LANGUAGE C SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION receipt_exception_changed() IS
	'Trigger of link, batch and inspection: keeps receipt_exception for the receipts a statement received, retracted, re-dated, corrected or inspected.';
REVOKE ALL ON FUNCTION receipt_exception_changed() FROM PUBLIC;

-- The INSERTs of link, once per statement from its transition table (a bulk
-- import writes thousands of sales a statement, received with their
-- receipts): the sales inserted received (a restore, or an import that
-- writes a sale together with its receipt), recomputed together, as the row
-- trigger did one by one. In C, as receipt_exception_changed: a statement
-- with none of them (a ship() of a pending sale) returns at once.
CREATE FUNCTION receipt_exception_inserted() RETURNS trigger
	AS 'MODULE_PATHNAME', 'receipt_exception_inserted'
	LANGUAGE C SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION receipt_exception_inserted() IS
	'Statement trigger of link INSERT: keeps receipt_exception for the sales inserted received.';
REVOKE ALL ON FUNCTION receipt_exception_inserted() FROM PUBLIC;

CREATE TRIGGER receipt_exception_upd AFTER UPDATE ON link REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION receipt_exception_changed();
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON link REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION receipt_exception_inserted();
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON batch
	FOR EACH ROW WHEN (NEW.origin = 'first_entry') EXECUTE FUNCTION receipt_exception_changed();
CREATE TRIGGER receipt_exception_upd AFTER UPDATE OF expires_on, received_at ON batch
	FOR EACH ROW WHEN (OLD.expires_on IS DISTINCT FROM NEW.expires_on OR OLD.received_at IS DISTINCT FROM NEW.received_at)
	EXECUTE FUNCTION receipt_exception_changed();
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON inspection
	FOR EACH ROW WHEN (NEW.kind = 'incoming') EXECUTE FUNCTION receipt_exception_changed();

-- A supplier document is free text: a malformed licence or USCC in it is no
-- match rather than an error. STABLE: the input rules follow settings
-- (shilian.uscc_lenient); PARALLEL RESTRICTED: the exception block is a
-- subtransaction, which parallel workers cannot start.
CREATE FUNCTION try_licence_no(t text) RETURNS licence_no
	LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN t::shilian.licence_no;
EXCEPTION WHEN invalid_text_representation THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION try_licence_no(text) IS
	'The text as a licence_no, or NULL when it is not a valid licence number.';
REVOKE ALL ON FUNCTION try_licence_no(text) FROM PUBLIC;

CREATE FUNCTION try_uscc(t text) RETURNS uscc
	LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN t::shilian.uscc;
EXCEPTION WHEN invalid_text_representation THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION try_uscc(text) IS
	'The text as a uscc, or NULL when it is not a valid unified social credit code.';
REVOKE ALL ON FUNCTION try_uscc(text) FROM PUBLIC;

-- The jurisdiction codes of a subtree (the asked one and every one below;
-- operators have stations among them): an index probe on ancestors.
CREATE FUNCTION findings_subtree(code text) RETURNS text[]
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE j.ancestors @> ARRAY[findings_subtree.code]);
COMMENT ON FUNCTION findings_subtree(text) IS
	'Codes of the jurisdictions at or below the given one (no access check: internal).';
REVOKE ALL ON FUNCTION findings_subtree(text) FROM PUBLIC;

-- ---- broken chains ---------------------------------------------------------------
-- One row per (operator, kind) with every evidence row counted and the first
-- 100 (by date) listed. Kinds:
--   unlinked_receipt      a first entry (receive_first_entry) whose supplier
--                         licence or USCC belongs to another operator on the
--                         platform: the goods should have come as its sale;
--                         dated by the receipt (incoming inspection).
--   unreceived_shipment   a sale to the operator still pending pending_days
--                         after it was shipped (as of as_of), not a 10+3 receipt.
--   missing_receipt_10_3  the same for a 10+3 receipt: the product is in one of
--                         the ten key categories, or the buyer is a school
--                         canteen, collective-meal unit or central kitchen.
--   sale_without_source   a sale of a lot the seller made itself (batch_create)
--                         although it produces nothing (segment not production,
--                         no farm/processor/workshop/special_food_maker/importer
--                         kind) and never received that product.
CREATE FUNCTION findings_broken_chain(stations text[], ops bigint[], period daterange, pending_days integer,
		as_of date)
	RETURNS TABLE (operator bigint, kind text, records bigint, first_on date, last_on date, evidence jsonb)
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
	), pending AS MATERIALIZED (
		-- the sales to the examined operators pending since before the
		-- grace, from link_pending_shipped_idx alone
		SELECT l.id, o.kinds
		  FROM shilian.link l JOIN o ON o.id = l.buyer_id
		 WHERE l.status = 'pending' AND l.kind = 'ship'
		   AND l.shipped_on <= as_of - pending_days AND l.shipped_on <@ period
	), made AS MATERIALIZED (
		-- lots that sellers which produce nothing made themselves: few, found
		-- by one probe per such operator (materialized, so that the sales
		-- from them are looked up per lot, never by scanning all sales)
		SELECT b.id, b.owner_id, b.product_id, b.trace_code
		  FROM o JOIN shilian.batch b ON b.owner_id = o.id AND b.origin = 'produced'
		 WHERE o.segment <> 'production'
		   AND NOT o.kinds && ARRAY['farm', 'processor', 'workshop', 'special_food_maker', 'importer']
	), ev AS (
		SELECT b.owner_id AS operator, 'unlinked_receipt' AS kind, shilian.platform_date(i.inspected_at) AS on_date, b.id AS ref,
			jsonb_build_object('trace_code', b.trace_code::text, 'received_on', shilian.platform_date(i.inspected_at),
				'supplier_name', b.supplier->>'name',
				'supplier_licence', coalesce(b.supplier_licence::text, b.supplier->>'licence'),
				'supplier_uscc', b.supplier->>'uscc',
				'supplier', coalesce(li.operator_id, su.id)::text) AS e
		  FROM o
		  JOIN shilian.batch b ON b.owner_id = o.id
		  JOIN shilian.inspection i ON i.batch_id = b.id AND i.kind = 'incoming'
		  LEFT JOIN shilian.licence li
				 ON li.licence_no = coalesce(b.supplier_licence, shilian.try_licence_no(b.supplier->>'licence'))
		  LEFT JOIN shilian.operator su ON su.uscc = shilian.try_uscc(b.supplier->>'uscc')
		 WHERE b.origin = 'first_entry' AND (b.supplier_licence IS NOT NULL OR b.supplier ?| ARRAY['licence', 'uscc'])
		   AND shilian.platform_date(i.inspected_at) <@ period
		   AND coalesce(li.operator_id, su.id) <> b.owner_id
		UNION ALL
		SELECT l.buyer_id,
			CASE WHEN p.category <> 'other'
					OR pd.kinds && ARRAY['school_canteen', 'collective_meal', 'central_kitchen']
				THEN 'missing_receipt_10_3' ELSE 'unreceived_shipment' END,
			l.shipped_on, l.id,
			jsonb_build_object('link', l.id::text, 'trace_code', fb.trace_code::text,
				'seller', l.seller_id::text, 'seller_name', so.name, 'product', p.name,
				'category', p.category, 'qty', l.qty_shipped::text, 'shipped_on', l.shipped_on,
				'days_pending', as_of - l.shipped_on)
		  FROM pending pd
		  JOIN shilian.link l ON l.id = pd.id
		  JOIN shilian.operator so ON so.id = l.seller_id
		  JOIN shilian.batch fb ON fb.id = l.from_batch
		  JOIN shilian.product p ON p.id = fb.product_id
		UNION ALL
		SELECT m.owner_id, 'sale_without_source', l.shipped_on, l.id,
			jsonb_build_object('link', l.id::text, 'trace_code', m.trace_code::text, 'product', p.name,
				'qty', l.qty_shipped::text, 'shipped_on', l.shipped_on, 'buyer', l.buyer_id::text)
		  FROM made m
		  JOIN shilian.link l ON l.from_batch = m.id AND l.kind = 'ship'
		  JOIN shilian.product p ON p.id = m.product_id
		 WHERE l.shipped_on <@ period
		   AND NOT EXISTS (SELECT 1 FROM shilian.batch r
							WHERE r.owner_id = m.owner_id AND r.product_id = m.product_id
							  AND r.origin IN ('received', 'first_entry'))
	), num AS (
		SELECT ev.*, row_number() OVER (PARTITION BY ev.operator, ev.kind ORDER BY ev.on_date, ev.ref) AS rn
		  FROM ev
	)
	SELECT n.operator, n.kind, count(*), min(n.on_date), max(n.on_date),
		jsonb_agg(n.e ORDER BY n.on_date, n.ref) FILTER (WHERE n.rn <= 100)
	  FROM num n
	 GROUP BY n.operator, n.kind
	$$;
COMMENT ON FUNCTION findings_broken_chain(text[], bigint[], daterange, integer, date) IS
	'Internal scan behind broken_chain: per operator (at home at one of the stations, or named in ops) and kind of break, the evidence in the period (no access check).';
REVOKE ALL ON FUNCTION findings_broken_chain(text[], bigint[], daterange, integer, date) FROM PUBLIC;

-- ---- violations of the record-keeping articles ---------------------------------
-- The article strings are the contract (docs/regulator.md); a finding that
-- lasted three months or more (first to last evidence) is serious under the
-- implementing regulations art. 67(1)(1), which the article then names too.
CREATE FUNCTION findings_compliance(stations text[], ops bigint[], period daterange)
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
COMMENT ON FUNCTION findings_compliance(text[], bigint[], daterange) IS
	'Internal scan behind compliance_findings: per operator (at home at one of the stations, or named in ops) and kind of violation, the article and the evidence in the period (no access check).';
REVOKE ALL ON FUNCTION findings_compliance(text[], bigint[], daterange) FROM PUBLIC;

-- ---- the public functions --------------------------------------------------------

CREATE FUNCTION broken_chain(code text, period daterange, pending_days integer DEFAULT 3)
	RETURNS TABLE (operator bigint, name text, station text, kind text, records bigint,
		first_on date, last_on date, evidence jsonb)
	LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
BEGIN
	PERFORM shilian.regulator_require_subtree(code);
	IF pending_days < 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('pending_days must not be negative: %s', pending_days);
	END IF;
	RETURN QUERY
	SELECT f.operator, o.name, o.station, f.kind, f.records, f.first_on, f.last_on, f.evidence
	  FROM shilian.findings_broken_chain(shilian.findings_subtree(code), NULL, period, pending_days,
			shilian.platform_today()) f
	  JOIN shilian.operator o ON o.id = f.operator
	 ORDER BY o.station, f.operator, f.kind;
END
$$;
COMMENT ON FUNCTION broken_chain(text, daterange, integer) IS
	'Operators at home in the jurisdiction with a broken chain in the period: unlinked_receipt, unreceived_shipment, missing_receipt_10_3, sale_without_source (pending_days: grace before a sale counts as never received); one row per operator and kind with the evidence. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION broken_chain(text, daterange, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION broken_chain(text, daterange, integer) TO shilian_regulator, shilian_admin;

CREATE FUNCTION compliance_findings(code text, period daterange DEFAULT '(,)')
	RETURNS TABLE (operator bigint, name text, station text, kind text, article text, serious boolean,
		records bigint, first_on date, last_on date, evidence jsonb)
	LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
BEGIN
	PERFORM shilian.regulator_require_subtree(code);
	RETURN QUERY
	SELECT f.operator, o.name, o.station, f.kind, f.article, f.serious, f.records, f.first_on, f.last_on,
		f.evidence
	  FROM shilian.findings_compliance(shilian.findings_subtree(code), NULL, period) f
	  JOIN shilian.operator o ON o.id = f.operator
	 ORDER BY o.station, f.operator, f.kind;
END
$$;
COMMENT ON FUNCTION compliance_findings(text, daterange) IS
	'Operators at home in the jurisdiction violating the record-keeping articles (missing_incoming_inspection, wholesaler_without_sales_records, expired_licence_trading, expired_product_receipt), each with its article and evidence; period defaults to all records. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION compliance_findings(text, daterange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION compliance_findings(text, daterange) TO shilian_regulator, shilian_admin;

-- ---- the quarterly spot check ------------------------------------------------------
-- Population: the operators at home in the subtree that are not suspended.
-- Strata: (the jurisdiction one level below code that holds the operator's
-- station — the station itself when code is a station —, segment).
-- Allocation: proportional, by largest remainder (Hamilton): each stratum
-- gets floor(n * N_h / N), and the seats left go one each to the strata with
-- the largest remainders (ties: by jurisdiction, then segment); n >= N takes
-- everyone. Within a stratum operators are ranked by
-- hashint8extended(id, seed), so a seed always draws the same sample.
-- Timeliness: of the operator's production, sale and receipt records dated
-- in the quarter, the share written (created_at) by the end of the day after
-- the event (created_at::date <= event date + 1). Completeness: of its
-- incoming inspections and sales in the quarter, the share record_completeness
-- finds complete. Findings: broken_chain and compliance_findings of the
-- quarter, kind and count.
CREATE FUNCTION findings_spot_pick(code text, n integer, seed bigint)
	RETURNS TABLE (operator bigint, stratum text, segment text, stratum_size bigint, stratum_sample bigint)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
	WITH depth AS (
		SELECT cardinality(j.ancestors) AS d FROM shilian.jurisdiction j WHERE j.code = findings_spot_pick.code
	), pop AS (
		SELECT o.id, o.segment, coalesce(s.ancestors[depth.d + 1], s.code) AS stratum
		  FROM shilian.operator o
		  JOIN shilian.jurisdiction s ON s.code = o.station
		  CROSS JOIN depth
		 WHERE o.station = ANY (shilian.findings_subtree(findings_spot_pick.code))
		   AND o.status <> 'suspended'
	), strata AS (
		SELECT p.stratum, p.segment, count(*) AS size,
			n::numeric * count(*) / sum(count(*)) OVER () AS quota
		  FROM pop p GROUP BY p.stratum, p.segment
	), alloc AS (
		SELECT st.stratum, st.segment, st.size, floor(st.quota)::bigint AS base,
			row_number() OVER (ORDER BY st.quota - floor(st.quota) DESC, st.stratum, st.segment) AS remainder_rank
		  FROM strata st
	), seats AS (
		SELECT a.stratum, a.segment, a.size,
			least(a.size, a.base + CASE WHEN a.remainder_rank <= n - sum(a.base) OVER () THEN 1 ELSE 0 END) AS take
		  FROM alloc a
	), ranked AS (
		SELECT p.id, p.stratum, p.segment,
			row_number() OVER (PARTITION BY p.stratum, p.segment
							   ORDER BY pg_catalog.hashint8extended(p.id, seed), p.id) AS r
		  FROM pop p
	)
	SELECT r.id, r.stratum, r.segment, s.size, s.take
	  FROM ranked r JOIN seats s ON s.stratum = r.stratum AND s.segment = r.segment
	 WHERE r.r <= s.take
	$$;
COMMENT ON FUNCTION findings_spot_pick(text, integer, bigint) IS
	'Internal draw behind spot_check_sample: n operators of the subtree, stratified by jurisdiction below code and segment, proportional allocation by largest remainder, ranked by hashint8extended(id, seed) (no access check).';
REVOKE ALL ON FUNCTION findings_spot_pick(text, integer, bigint) FROM PUBLIC;

CREATE FUNCTION spot_check_sample(code text, quarter text, n integer, seed bigint)
	RETURNS TABLE (operator bigint, name text, station text, segment text, stratum text,
		stratum_size bigint, stratum_sample bigint, records bigint, timely bigint, timeliness numeric,
		checked bigint, complete bigint, completeness numeric, findings jsonb)
	LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
DECLARE
	q_start date;
	q daterange;
BEGIN
	PERFORM shilian.regulator_require_subtree(code);
	IF quarter !~ '^[0-9]{4}Q[1-4]$' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid quarter "%s"', quarter),
			HINT = 'Give the quarter as YYYYQn, e.g. 2026Q4.';
	END IF;
	IF n < 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('sample size must not be negative: %s', n);
	END IF;
	q_start := make_date(left(quarter, 4)::integer, (right(quarter, 1)::integer - 1) * 3 + 1, 1);
	q := daterange(q_start, (q_start + interval '3 months')::date, '[)');

	RETURN QUERY
	WITH pick AS MATERIALIZED (
		SELECT * FROM shilian.findings_spot_pick(code, n, seed)
	), picked AS (
		SELECT ARRAY(SELECT p.operator FROM pick p) AS ids
	), fnd AS (
		SELECT f.operator, jsonb_agg(jsonb_build_object('source', f.source, 'kind', f.kind, 'article', f.article,
				'records', f.records) ORDER BY f.source, f.kind) AS findings
		  FROM (SELECT b.operator, 'broken_chain' AS source, b.kind, NULL::text AS article, b.records
				  FROM picked, shilian.findings_broken_chain(NULL, picked.ids, q, 3, shilian.platform_today()) b
				UNION ALL
				SELECT c.operator, 'compliance', c.kind, c.article, c.records
				  FROM picked, shilian.findings_compliance(NULL, picked.ids, q) c) f
		 GROUP BY f.operator
	)
	SELECT p.operator, o.name, o.station, o.segment, p.stratum, p.stratum_size, p.stratum_sample,
		t.records, t.timely, round(t.timely::numeric / nullif(t.records, 0), 4),
		c.checked, c.complete, round(c.complete::numeric / nullif(c.checked, 0), 4),
		coalesce(fnd.findings, '[]')
	  FROM pick p
	  JOIN shilian.operator o ON o.id = p.operator
	  LEFT JOIN fnd ON fnd.operator = p.operator
	  CROSS JOIN LATERAL (
		SELECT count(*) AS records, count(*) FILTER (WHERE w.written <= w.event + 1) AS timely
		  FROM (SELECT b.produced_on AS event, shilian.platform_date(b.created_at) AS written
				  FROM shilian.batch b
				 WHERE b.owner_id = p.operator AND b.origin IN ('produced', 'transformed') AND b.produced_on <@ q
				UNION ALL
				SELECT l.shipped_on, shilian.platform_date(l.created_at)
				  FROM shilian.link l
				 WHERE l.seller_id = p.operator AND l.kind = 'ship' AND l.shipped_on <@ q
				UNION ALL
				SELECT r.event, shilian.platform_date(b.created_at)
				  FROM shilian.batch b
				  CROSS JOIN LATERAL (
					SELECT shilian.platform_date(min(i.inspected_at)) AS event FROM shilian.inspection i
					 WHERE i.batch_id = b.id AND i.kind = 'incoming') r
				 WHERE b.owner_id = p.operator AND b.origin IN ('received', 'first_entry') AND r.event <@ q) w
	  ) t
	  CROSS JOIN LATERAL (
		SELECT count(*) AS checked,
			count(*) FILTER (WHERE (shilian.record_completeness(x.kind, x.id)).complete) AS complete
		  FROM (SELECT CASE WHEN i.link_id IS NULL THEN 'first_entry' ELSE 'receipt' END AS kind,
					coalesce(i.link_id, b.id) AS id
				  FROM shilian.batch b
				  JOIN shilian.inspection i ON i.batch_id = b.id
				 WHERE b.owner_id = p.operator AND i.operator_id = p.operator AND i.kind = 'incoming'
				   AND shilian.platform_date(i.inspected_at) <@ q
				UNION ALL
				SELECT 'sale', l.id
				  FROM shilian.link l
				 WHERE l.seller_id = p.operator AND l.kind = 'ship' AND l.shipped_on <@ q) x
	  ) c
	 ORDER BY p.stratum, o.segment, p.operator;
END
$$;
COMMENT ON FUNCTION spot_check_sample(text, text, integer, bigint) IS
	'Quarterly spot check: a reproducible sample of n operators (seed) stratified by jurisdiction and segment with proportional allocation, each with timeliness, completeness and its findings in the quarter (YYYYQn). Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION spot_check_sample(text, text, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION spot_check_sample(text, text, integer, bigint) TO shilian_regulator, shilian_admin;

-- ---- alerts ------------------------------------------------------------------------
-- What an app pushes to the regulator on duty (and the operator concerned):
-- raised by alerts_scan (a daily job), one open alert per (kind, operator,
-- subject) at most, closed by alert_ack. jurisdiction is the operator's home
-- station when the alert was raised.
CREATE TABLE alert (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind            text NOT NULL
		CHECK (kind IN ('licence_expiring', 'broken_chain', 'inactive_30d', 'compliance')),
	operator_id     bigint NOT NULL REFERENCES operator (id),
	jurisdiction    text NOT NULL REFERENCES jurisdiction (code),
	subject         text NOT NULL,
	detail          jsonb NOT NULL CHECK (jsonb_typeof(detail) = 'object'),
	raised_at       timestamptz NOT NULL DEFAULT now(),
	acknowledged_at timestamptz,
	acknowledged_by text,
	CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
CREATE UNIQUE INDEX alert_open_key ON alert (kind, operator_id, subject) WHERE acknowledged_at IS NULL;
CREATE INDEX alert_jurisdiction_idx ON alert (jurisdiction, raised_at);
CREATE INDEX alert_operator_idx ON alert (operator_id);
COMMENT ON TABLE alert IS
	'Alerts for regulators and operators: licence_expiring, broken_chain, inactive_30d, compliance; open until acknowledged (alerts_scan, alert_ack).';
COMMENT ON COLUMN alert.subject IS
	'What the alert is about within its kind (the licence number, the finding kind; empty for inactive_30d): one open alert per kind, operator and subject.';
SELECT pg_catalog.pg_extension_config_dump('alert', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.alert', 'id')::regclass, '');

-- Raise the alerts that hold on as_of and are not open already; one
-- NOTIFY shilian_alert per new alert, payload {"id","kind","operator",
-- "jurisdiction"} (delivered when the transaction commits). Scans:
--   licence_expiring  a licence whose valid_to falls within as_of .. as_of + 30
--                     and that no other licence of the same kind (SC/JY) of
--                     its holder outlasts (subject: the licence number);
--   broken_chain      broken_chain over the 30 days up to as_of (subject: the kind);
--   compliance        compliance_findings over the same 30 days (subject: the kind);
--   inactive_30d      an active operator, activated 30 days or more before
--                     as_of, with no record dated in the 30 days up to as_of
--                     (subject: empty).
-- Returns the number of alerts raised.
CREATE FUNCTION alerts_scan(as_of date DEFAULT shilian.platform_today()) RETURNS integer
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, shilian, pg_temp
	SET jit = off
	AS $$
DECLARE
	everywhere text[] := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE j.level = 'station');
	win daterange := daterange(as_of - 29, as_of, '[]');
	raised integer;
BEGIN
	WITH cand AS (
		SELECT 'licence_expiring' AS kind, li.operator_id, li.licence_no::text AS subject,
			jsonb_build_object('licence_no', li.licence_no::text, 'valid_to', li.valid_to,
				'days_left', li.valid_to - as_of) AS detail
		  FROM shilian.licence li
		  JOIN shilian.operator o ON o.id = li.operator_id
		 WHERE li.valid_to BETWEEN as_of AND as_of + 30 AND o.status <> 'suspended'
		   AND NOT EXISTS (SELECT 1 FROM shilian.licence l2
							WHERE l2.operator_id = li.operator_id AND l2.id <> li.id
							  AND left(l2.licence_no::text, 2) = left(li.licence_no::text, 2)
							  AND l2.valid_to > li.valid_to AND l2.valid_from <= li.valid_to + 1)
		UNION ALL
		SELECT 'broken_chain', b.operator, b.kind,
			jsonb_build_object('finding', b.kind, 'records', b.records, 'first_on', b.first_on,
				'last_on', b.last_on, 'evidence', jsonb_path_query_array(b.evidence, '$[0 to 9]'))
		  FROM shilian.findings_broken_chain(everywhere, NULL, win, 3, as_of) b
		UNION ALL
		SELECT 'compliance', c.operator, c.kind,
			jsonb_build_object('finding', c.kind, 'article', c.article, 'records', c.records,
				'first_on', c.first_on, 'last_on', c.last_on,
				'evidence', jsonb_path_query_array(c.evidence, '$[0 to 9]'))
		  FROM shilian.findings_compliance(everywhere, NULL, win) c
		UNION ALL
		-- from the per-operator-per-day counters (part 62), one index probe
		-- per active operator rather than a scan of every record
		SELECT 'inactive_30d', o.id, '',
			jsonb_build_object('last_record', (SELECT max(d.day) FROM shilian.operator_day d
												WHERE d.operator_id = o.id AND d.day <= as_of AND d.records > 0),
				'since', as_of - 29)
		  FROM shilian.operator o
		 WHERE o.status = 'active' AND shilian.platform_date(o.activated_at) <= as_of - 30
		   AND NOT EXISTS (SELECT 1 FROM shilian.operator_day d
							WHERE d.operator_id = o.id AND d.day BETWEEN as_of - 29 AND as_of AND d.records > 0)
	), ins AS (
		INSERT INTO shilian.alert AS a (kind, operator_id, jurisdiction, subject, detail)
		SELECT c.kind, c.operator_id, o.station, c.subject, c.detail
		  FROM cand c JOIN shilian.operator o ON o.id = c.operator_id
		 ORDER BY c.kind, c.operator_id, c.subject
		ON CONFLICT (kind, operator_id, subject) WHERE acknowledged_at IS NULL DO NOTHING
		RETURNING a.id, a.kind, a.operator_id, a.jurisdiction
	)
	SELECT count(pg_notify('shilian_alert', json_build_object('id', i.id::text, 'kind', i.kind,
			'operator', i.operator_id::text, 'jurisdiction', i.jurisdiction)::text))
	  INTO raised
	  FROM (SELECT * FROM ins ORDER BY id) i;
	RETURN raised;
END
$$;
COMMENT ON FUNCTION alerts_scan(date) IS
	'Admin (a daily job): raise the alerts holding on as_of (licence_expiring within 30 days, broken_chain and compliance over the last 30 days, inactive_30d) that are not open already; NOTIFY shilian_alert per new alert; returns how many.';
REVOKE ALL ON FUNCTION alerts_scan(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerts_scan(date) TO shilian_admin;

-- Alerts at home in a jurisdiction's subtree, open ones only unless asked.
CREATE FUNCTION alerts(code text, include_acknowledged boolean DEFAULT false)
	RETURNS SETOF alert
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM shilian.regulator_require_subtree(code);
	RETURN QUERY
	SELECT a.* FROM shilian.alert a
	 WHERE a.jurisdiction = ANY (ARRAY(SELECT j.code FROM shilian.jurisdiction j
										WHERE j.ancestors @> ARRAY[alerts.code]))
	   AND (include_acknowledged OR a.acknowledged_at IS NULL)
	 ORDER BY a.raised_at DESC, a.id DESC;
END
$$;
COMMENT ON FUNCTION alerts(text, boolean) IS
	'Alerts of the operators at home in the jurisdiction, newest first; open ones only unless include_acknowledged. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION alerts(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerts(text, boolean) TO shilian_regulator, shilian_admin;

CREATE FUNCTION alert_ack(id bigint) RETURNS timestamptz
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a shilian.alert;
	at timestamptz;
BEGIN
	SELECT * INTO a FROM shilian.alert x WHERE x.id = alert_ack.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLF01',
			MESSAGE = format('unknown alert: no alert has id %s', id);
	END IF;
	PERFORM shilian.regulator_require_subtree(a.jurisdiction);
	IF a.acknowledged_at IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLF02',
			MESSAGE = format('alert already acknowledged by %s', a.acknowledged_by),
			DETAIL = 'An alert is acknowledged once; alerts_scan raises a new one while its condition holds.';
	END IF;
	UPDATE shilian.alert x SET acknowledged_at = now(),
		acknowledged_by = coalesce(shilian.current_jurisdiction(), current_setting('role'))
	 WHERE x.id = alert_ack.id
	RETURNING x.acknowledged_at INTO at;
	RETURN at;
END
$$;
COMMENT ON FUNCTION alert_ack(bigint) IS
	'Acknowledge an open alert (a regulator at or above its station, or the admin); SLF01 unknown, SLF02 already acknowledged, 42501 outside the caller''s subtree.';
REVOKE ALL ON FUNCTION alert_ack(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alert_ack(bigint) TO shilian_regulator, shilian_admin;
