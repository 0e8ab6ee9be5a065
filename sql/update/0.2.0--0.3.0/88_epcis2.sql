-- shilian upgrade script 0.2.0 -> 0.3.0, part 88: GS1 EPCIS 2.0 for real
-- clients, continued (issue 18; h-epcis2).
--
-- Receiving without the incoming inspection (进货查验): receive() takes the
-- inspection document as optional (a receipt without one is recorded, and
-- record_completeness() reports it lacking incoming_inspection; the
-- regulator's findings list it as missing_incoming_inspection); the
-- counters' rebuild counts such receipts (never complete); an EPCIS
-- receiving event without shilian:inspection passes none.
-- Then corrections of consumptions and transformations (part 83) and the
-- EPCIS error declarations of their events, and serialised items (SGTINs)
-- commissioned by an epcList (part 75); each section below says what it
-- carries. Functions an earlier part created are re-created here whole.

-- inspection DEFAULT NULL (adding a default keeps the signature)
CREATE OR REPLACE FUNCTION receive(link bigint, qty qty, inspection jsonb DEFAULT NULL,
		received_at timestamptz DEFAULT now(), reject_reason text DEFAULT NULL,
		into_batch trace_code DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_receive'
	LANGUAGE C VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION receive(bigint, qty, jsonb, timestamptz, text, trace_code) IS
	'Confirm a pending sale: creates the buyer''s batch pre-filled from the seller''s (or adds to the buyer''s batch into_batch) and its incoming inspection (optional: without one the receipt is recorded but incomplete in record_completeness); a smaller quantity needs reject_reason and the rest returns to the seller''s batch.';

-- Which fields the law requires are missing from a record (Food Safety Law
-- arts. 50, 51, 53, 65), and how long the record must be kept: six months past
-- the end of shelf life, or two years from the record date without one. The
-- id is always the id of the record the kind names:
--   kind 'receipt' (id: the link of the received sale) and 'first_entry'
--     (id: the first-entry batch): the incoming record (进货查验记录): name,
--     spec, quantity, production date or lot, shelf life, purchase date,
--     supplier name, address, contact, supplier licence, certificate, and
--     the incoming inspection itself (进货查验: receive() without one records
--     the receipt, which then lacks incoming_inspection); an edible
--     agricultural product needs only name, quantity, purchase date,
--     supplier name and the incoming inspection.
--   kind 'sale' or 'release' (id: the link of the sale): name, spec,
--     quantity, production date or lot, shelf life, inspection certificate
--     number, sale date, buyer name, address, contact.
--   kind 'incoming' (id: the incoming inspection): the 0.2.0 form of the
--     incoming record, deprecated (a WARNING; removed in 0.4.0).
-- A product without shelf life (shelf_life_days NULL, no expiry) records
-- "none" as its shelf life.
CREATE OR REPLACE FUNCTION record_completeness(kind text, id bigint,
		OUT complete boolean, OUT missing text[], OUT retain_until date)
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	-- definer rights: the record names its counterparty, which a regulator
	-- across the border cannot see; may_see admits the record's owner only
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	f jsonb;
	need text[];
	agri boolean;
	rec_date date;
	expiry date;
	insp bigint;
BEGIN
	-- the incoming record of a receipt or a first entry is kept with its
	-- incoming inspection: find it, then read it as the 0.2.0 kind did
	IF kind = 'incoming' THEN
		RAISE WARNING USING ERRCODE = '01P01',
			MESSAGE = 'record_completeness kind "incoming" (an inspection id) is deprecated and will be removed in 0.4.0',
			HINT = 'Use kind "receipt" with the link id of the sale, or "first_entry" with the batch id.';
		insp := id;
	ELSIF kind = 'receipt' THEN
		SELECT i.id INTO insp FROM shilian.inspection i
		 WHERE i.link_id = record_completeness.id AND i.kind = 'incoming'
		 ORDER BY i.id LIMIT 1;
	ELSIF kind = 'first_entry' THEN
		SELECT i.id INTO insp FROM shilian.inspection i
		  JOIN shilian.batch b ON b.id = i.batch_id
		 WHERE b.id = record_completeness.id AND b.origin = 'first_entry' AND i.kind = 'incoming'
		 ORDER BY i.id LIMIT 1;
	END IF;
	IF kind IN ('incoming', 'receipt', 'first_entry') THEN
		-- the incoming inspection, or a receipt recorded without one (its
		-- link: the receipt date and the buyer's batch)
		SELECT jsonb_build_object(
				'name', p.name, 'spec', p.spec, 'quantity', b_qty.q,
				'production_date_or_lot', coalesce(b.produced_on::text, b.lot),
				'shelf_life', coalesce(p.shelf_life_days::text, b.expires_on::text, 'none'),
				'purchase_date', shilian.platform_date(i.inspected_at),
				'supplier_name', coalesce(o.name, b.supplier->>'name'),
				'supplier_address', coalesce(o.address, b.supplier->>'address'),
				'supplier_contact', coalesce(o.contact, b.supplier->>'contact'),
				'supplier_licence', coalesce(b.supplier_licence::text, b.supplier->>'licence'),
				'certificate', coalesce(b.certificate, i.report->'certificate'),
				'incoming_inspection', i.id),
			p.edible_agricultural, shilian.platform_date(i.inspected_at), b.expires_on
		  INTO f, agri, rec_date, expiry
		  FROM (SELECT x.id, x.batch_id, x.link_id, x.inspected_at, x.report, x.operator_id
				  FROM shilian.inspection x
				 WHERE x.id = insp AND x.kind = 'incoming'
				UNION ALL
				SELECT NULL, x.to_batch, x.id, x.received_at, NULL, x.buyer_id
				  FROM shilian.link x
				 WHERE insp IS NULL AND record_completeness.kind = 'receipt' AND x.id = record_completeness.id
				   AND x.kind = 'ship' AND x.status = 'received') i
		  JOIN shilian.batch b ON b.id = i.batch_id
		  JOIN shilian.product p ON p.id = b.product_id
		  LEFT JOIN shilian.link l ON l.id = i.link_id
		  LEFT JOIN shilian.operator o ON o.id = l.seller_id
		  CROSS JOIN LATERAL (SELECT coalesce(l.qty_accepted, b.qty)::text AS q) b_qty
		 WHERE shilian.may_see(i.operator_id);
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'SLR22',
				MESSAGE = format('unknown record: no %s has id %s', CASE kind
					WHEN 'incoming' THEN 'incoming inspection' WHEN 'receipt' THEN 'receipt (link)'
					ELSE 'first-entry batch' END, id);
		END IF;
		need := CASE WHEN agri
			THEN ARRAY['name', 'quantity', 'purchase_date', 'supplier_name', 'incoming_inspection']
			ELSE ARRAY['name', 'spec', 'quantity', 'production_date_or_lot', 'shelf_life',
				'purchase_date', 'supplier_name', 'supplier_address', 'supplier_contact',
				'supplier_licence', 'certificate', 'incoming_inspection'] END;
	ELSIF kind IN ('release', 'sale') THEN
		SELECT jsonb_build_object(
				'name', p.name, 'spec', p.spec, 'quantity', l.qty_shipped::text,
				'production_date_or_lot', coalesce(b.produced_on::text, b.lot),
				'shelf_life', coalesce(p.shelf_life_days::text, b.expires_on::text, 'none'),
				'certificate_no', b.certificate->>'certificate_no',
				'sale_date', l.shipped_on,
				'buyer_name', o.name, 'buyer_address', o.address, 'buyer_contact', o.contact),
			l.shipped_on, b.expires_on
		  INTO f, rec_date, expiry
		  FROM shilian.link l
		  JOIN shilian.batch b ON b.id = l.from_batch
		  JOIN shilian.product p ON p.id = b.product_id
		  JOIN shilian.operator o ON o.id = l.buyer_id
		 WHERE l.id = record_completeness.id AND l.kind = 'ship' AND shilian.may_see(l.seller_id);
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'SLR22',
				MESSAGE = format('unknown record: no sale has link id %s', id);
		END IF;
		need := ARRAY['name', 'spec', 'quantity', 'production_date_or_lot', 'shelf_life',
			'certificate_no', 'sale_date', 'buyer_name', 'buyer_address', 'buyer_contact'];
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Use "receipt" (link id), "first_entry" (batch id), "sale" or "release" (link id).';
	END IF;
	SELECT coalesce(array_agg(k ORDER BY o), '{}')
	  INTO missing
	  FROM unnest(need) WITH ORDINALITY AS n(k, o)
	 WHERE f->k IS NULL OR f->k = 'null'::jsonb OR f->>k = '';
	complete := cardinality(missing) = 0;
	retain_until := CASE WHEN expiry IS NOT NULL THEN (expiry + interval '6 months')::date
		ELSE (rec_date + interval '2 years')::date END;
END;
$$;
COMMENT ON FUNCTION record_completeness(text, bigint) IS
	'Which legally required fields a record lacks and the date until which it must be kept; id is the id of the record kind names: receipt (the link of the received sale), first_entry (the batch), sale or release (the link of the sale); incoming (an inspection id) is deprecated.';
REVOKE ALL ON FUNCTION record_completeness(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_completeness(text, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- Recount operator_day from the record tables (and via_client from the
-- ledger's source column): for a DBA after a bulk load with the counters
-- off, and for the demo-data generator. Waits for (and holds off) every
-- committing transaction's counter flush, so none is lost or counted twice.
-- Dates come from timestamps as platform days (shilian.platform_date), as the
-- record functions' do, whatever the session's TimeZone.
CREATE OR REPLACE FUNCTION operator_day_rebuild() RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	-- definer rights: truncates the table and reads every record and ledger
	-- row whatever the caller (EXECUTE: shilian_admin)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	LOCK TABLE shilian.operator_day IN ACCESS EXCLUSIVE MODE;
	TRUNCATE shilian.operator_day;
	INSERT INTO shilian.operator_day (operator_id, day, records, batches, inspections, shipments,
			receipts, receipts_complete, rejections, transforms, consumptions, via_client)
	SELECT e.operator_id, e.day,
		sum(e.n) FILTER (WHERE e.k <> 'receipts_complete' AND e.k <> 'via_client'),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'batches'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'inspections'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'shipments'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'receipts'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'receipts_complete'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'rejections'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'transforms'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'consumptions'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'via_client'), 0)
	  FROM (
		SELECT b.owner_id AS operator_id, b.produced_on AS day,
			CASE b.origin WHEN 'produced' THEN 'batches' ELSE 'transforms' END AS k, count(*) AS n
		  FROM shilian.batch b WHERE b.origin IN ('produced', 'transformed')
		   -- a retracted batch or transformation is not counted (part 83)
		   AND NOT EXISTS (SELECT 1 FROM shilian.correction x
							WHERE x.kind IN ('batch', 'transformation') AND x.record_id = b.id AND x.action = 'retract')
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT l.seller_id, l.shipped_on, 'shipments', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status <> 'retracted' GROUP BY 1, 2
		UNION ALL
		SELECT l.buyer_id, shilian.platform_date(l.received_at), 'rejections', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status = 'rejected' GROUP BY 1, 2
		UNION ALL
		SELECT c.operator_id, shilian.platform_date(c.consumed_at), 'consumptions', count(*)
		  FROM shilian.consumption c
		 WHERE NOT EXISTS (SELECT 1 FROM shilian.correction x
							WHERE x.kind = 'consumption' AND x.record_id = c.id AND x.action = 'retract')
		 GROUP BY 1, 2
		UNION ALL
		-- inspections: a receipt's incoming inspection names its sale's link;
		-- a first entry's is the first inspection of its first-entry batch;
		-- the rest were recorded with inspect()
		SELECT r.operator_id, r.day, CASE WHEN r.receipt THEN 'receipts' ELSE 'inspections' END, count(*)
		  FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, i.link_id IS NOT NULL AS receipt
				  FROM shilian.inspection i
				 WHERE (i.link_id IS NOT NULL
					OR i.batch_id NOT IN (SELECT b.id FROM shilian.batch b WHERE b.origin = 'first_entry'))
				   -- the receipt of a sale retracted since is not counted (part 83)
				   AND NOT EXISTS (SELECT 1 FROM shilian.link x WHERE x.id = i.link_id AND x.status = 'retracted')
				UNION ALL
				SELECT f.operator_id, shilian.platform_date(f.inspected_at), f.rn = 1
				  FROM (SELECT i.operator_id, i.inspected_at, i.kind,
							row_number() OVER (PARTITION BY i.batch_id ORDER BY i.id) AS rn
						  FROM shilian.inspection i JOIN shilian.batch b ON b.id = i.batch_id
						 WHERE b.origin = 'first_entry' AND i.link_id IS NULL) f) r
		 GROUP BY 1, 2, 3
		UNION ALL
		-- the receipts recorded without their incoming inspection (never
		-- complete: record_completeness lacks incoming_inspection)
		SELECT l.buyer_id, shilian.platform_date(l.received_at), 'receipts', count(*)
		  FROM shilian.link l
		 WHERE l.kind = 'ship' AND l.status = 'received'
		   AND NOT EXISTS (SELECT 1 FROM shilian.inspection i WHERE i.link_id = l.id AND i.kind = 'incoming')
		 GROUP BY 1, 2
		UNION ALL
		SELECT c.operator_id, c.day, 'receipts_complete', count(*)
		  FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, i.id, i.batch_id, b.origin,
					shilian.incoming_fields_complete(p.edible_agricultural, p.spec,
						coalesce(o.name, b.supplier->>'name'), coalesce(o.address, b.supplier->>'address'),
						coalesce(o.contact, b.supplier->>'contact'),
						coalesce(b.supplier_licence::text, b.supplier->>'licence'),
						coalesce(b.certificate, i.report->'certificate')) AS complete
				  FROM shilian.inspection i
				  JOIN shilian.batch b ON b.id = i.batch_id
				  JOIN shilian.product p ON p.id = b.product_id
				  LEFT JOIN shilian.link l ON l.id = i.link_id
				  LEFT JOIN shilian.operator o ON o.id = l.seller_id
				 WHERE i.kind = 'incoming' AND (i.link_id IS NOT NULL OR b.origin = 'first_entry')
				   AND NOT EXISTS (SELECT 1 FROM shilian.link x WHERE x.id = i.link_id AND x.status = 'retracted')) c
		 WHERE c.complete
		   AND (c.origin <> 'first_entry' OR c.id = (SELECT min(f.id) FROM shilian.inspection f
													  WHERE f.batch_id = c.batch_id))
		 GROUP BY 1, 2
		UNION ALL
		SELECT g.operator_id, g.on_date, 'via_client', count(*)
		  FROM shilian.ledger g
		 WHERE g.source IS NOT NULL AND g.on_date IS NOT NULL
		   -- the record kinds (the registry's entries are not counted)
		   AND g.kind IN ('batch_create', 'inspect', 'ship', 'receive', 'receive_first_entry', 'reject',
				'transform', 'consume')
		   -- nor the entry of a record retracted since (part 83): the entry
		   -- its first correction superseded
		   AND NOT EXISTS (SELECT 1 FROM shilian.correction x
							WHERE x.action = 'retract' AND x.operator_id = g.operator_id
							  AND g.id = (SELECT f.supersedes FROM shilian.correction f
										   WHERE f.kind = x.kind AND f.record_id = x.record_id
										   ORDER BY f.id LIMIT 1))
		 GROUP BY 1, 2
	  ) e
	 GROUP BY e.operator_id, e.day
	HAVING sum(e.n) FILTER (WHERE e.k <> 'receipts_complete' AND e.k <> 'via_client') > 0;
	GET DIAGNOSTICS n = ROW_COUNT;
	LOCK TABLE shilian.operator_month IN ACCESS EXCLUSIVE MODE;
	TRUNCATE shilian.operator_month;
	-- the rollups (part 62): one recount after
	INSERT INTO shilian.operator_month (operator_id, month, records, receipts, receipts_complete, via_client)
	SELECT d.operator_id, date_trunc('month', d.day::timestamp)::date, sum(d.records), sum(d.receipts),
		sum(d.receipts_complete), sum(d.via_client)
	  FROM shilian.operator_day d GROUP BY 1, 2;
	PERFORM shilian.rollup_recount(NULL);
	RETURN n;
END
$$;
COMMENT ON FUNCTION operator_day_rebuild() IS
	'Admin: recount shilian.operator_day (and operator_month and the rollups of part 62) from the record tables and the ledger''s sources (after a load with shilian.activity_counters off); returns the (operator, day) rows written.';
REVOKE ALL ON FUNCTION operator_day_rebuild() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_day_rebuild() TO shilian_admin;
-- epcis_apply_event (part 75): a receiving event without shilian:inspection
-- passes no inspection to receive() (it used to pass '{}', refused SLR15),
-- patched in the body installed by the earlier steps.
DO $patch$
DECLARE
	def text := pg_catalog.pg_get_functiondef('shilian.epcis_apply_event(bigint, integer, jsonb)'::pg_catalog.regprocedure);
	old text := E'shilian.receive(lnk, q.qty, coalesce(ev -> ''shilian:inspection'', ''{}''), t,';
BEGIN
	IF pg_catalog.strpos(def, old) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event has no receive() call to patch';
	END IF;
	EXECUTE pg_catalog.replace(def, old, E'shilian.receive(lnk, q.qty, ev -> ''shilian:inspection'', t,');
END
$patch$;


-- Corrections (更正) and retractions (撤销) of consumptions (消费/使用) and
-- transformations (加工: the output batch and its input links), as part 83
-- has them: the correction kinds, the ledger entry each supersedes
-- (correction_origin), the counters they move (correction_count: transforms,
-- consumptions), the apply step; the rebuild above leaves retracted ones out.
ALTER TABLE correction DROP CONSTRAINT correction_kind_check;
ALTER TABLE correction ADD CONSTRAINT correction_kind_check
	CHECK (kind IN ('batch', 'link', 'inspection', 'consumption', 'transformation'));

COMMENT ON TABLE correction IS
	'Corrections (更正) and retractions (撤销) of batches, sales (links), inspections, consumptions and transformations: the row before and after, the reason, the ledger entry that records it and the entry it supersedes.';

-- The ledger entry that made a record (batch_create for a batch, or the
-- receive that made a received one; ship for a sale; inspect for an
-- inspection; consume for a consumption; transform for a transformation,
-- whose id is its output batch's) in its owner's chain, on its event date
-- as first recorded; and its latest entry: its last correction, else that.
CREATE OR REPLACE FUNCTION correction_origin(kind text, id bigint, owner bigint, day date) RETURNS bigint
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(
		(SELECT c.supersedes FROM shilian.correction c
		  WHERE c.kind = correction_origin.kind AND c.record_id = correction_origin.id
		  ORDER BY c.id LIMIT 1),
		(SELECT g.id FROM shilian.ledger g
		  WHERE g.operator_id = correction_origin.owner AND g.on_date = correction_origin.day
			AND g.kind = ANY (CASE correction_origin.kind WHEN 'batch' THEN ARRAY['batch_create', 'receive']
				WHEN 'link' THEN ARRAY['ship'] WHEN 'consumption' THEN ARRAY['consume']
				WHEN 'transformation' THEN ARRAY['transform'] ELSE ARRAY['inspect'] END)
			AND coalesce(shilian.ledger_body(g.body) #>> '{batch,id}', shilian.ledger_body(g.body) ->> 'id')::bigint
				= correction_origin.id
		  ORDER BY g.id LIMIT 1))
	$$;
COMMENT ON FUNCTION correction_origin(text, bigint, bigint, date) IS
	'The ledger entry that made a record (batch_create, ship, inspect, consume or transform in its owner''s chain): what its first correction supersedes.';
REVOKE ALL ON FUNCTION correction_origin(text, bigint, bigint, date) FROM PUBLIC;

-- Moves a record's count in the counters: delta (-1: retracted, or moved
-- away from this day; +1: moved to this day) on the kind's column of
-- operator_day, records and receipts of operator_month, then the rollups of
-- the operator's station. A counter row that does not exist (counters off)
-- is left alone; operator_day_rebuild() gives the same figures.
CREATE OR REPLACE FUNCTION correction_count(op bigint, on_day date, col text, delta integer, via boolean)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v integer := CASE WHEN via THEN delta ELSE 0 END;
	-- receipts_complete is a subset of receipts, not a record of its own
	n integer := CASE WHEN col = 'receipts_complete' THEN 0 ELSE delta END;
BEGIN
	IF on_day IS NULL OR delta = 0 THEN
		RETURN;
	END IF;
	INSERT INTO shilian.operator_day AS d (operator_id, day, records, batches, shipments, inspections, receipts,
		receipts_complete, transforms, consumptions, via_client)
	VALUES (op, on_day, greatest(n, 0), greatest(CASE col WHEN 'batches' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'shipments' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'inspections' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'receipts' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'transforms' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'consumptions' THEN delta ELSE 0 END, 0), greatest(v, 0))
	ON CONFLICT (operator_id, day) DO UPDATE SET records = d.records + n,
		batches = d.batches + CASE col WHEN 'batches' THEN delta ELSE 0 END,
		shipments = d.shipments + CASE col WHEN 'shipments' THEN delta ELSE 0 END,
		inspections = d.inspections + CASE col WHEN 'inspections' THEN delta ELSE 0 END,
		receipts = d.receipts + CASE col WHEN 'receipts' THEN delta ELSE 0 END,
		receipts_complete = d.receipts_complete + CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END,
		transforms = d.transforms + CASE col WHEN 'transforms' THEN delta ELSE 0 END,
		consumptions = d.consumptions + CASE col WHEN 'consumptions' THEN delta ELSE 0 END,
		via_client = d.via_client + v;
	DELETE FROM shilian.operator_day d
	 WHERE d.operator_id = op AND d.day = on_day AND d.records <= 0;
	INSERT INTO shilian.operator_month AS m (operator_id, month, records, receipts, receipts_complete, via_client)
	VALUES (op, date_trunc('month', on_day::timestamp)::date, greatest(n, 0),
		greatest(CASE col WHEN 'receipts' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END, 0), greatest(v, 0))
	ON CONFLICT (operator_id, month) DO UPDATE SET records = m.records + n,
		receipts = m.receipts + CASE col WHEN 'receipts' THEN delta ELSE 0 END,
		receipts_complete = m.receipts_complete + CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END,
		via_client = m.via_client + v;
	DELETE FROM shilian.operator_month m
	 WHERE m.operator_id = op AND m.month = date_trunc('month', on_day::timestamp)::date
	   AND m.records <= 0;
	PERFORM shilian.rollup_recount(ARRAY(SELECT o.station FROM shilian.operator o WHERE o.id = op));
END
$$;
COMMENT ON FUNCTION correction_count(bigint, date, text, integer, boolean) IS
	'Move a corrected or retracted record''s count in operator_day and operator_month (delta -1 or +1) and recount its station''s rollups.';
REVOKE ALL ON FUNCTION correction_count(bigint, date, text, integer, boolean) FROM PUBLIC;

-- Whether a record is retracted (a retracted consumption keeps its row, with
-- nothing consumed: no later record of its batch).
CREATE OR REPLACE FUNCTION correction_retracted(kind text, id bigint) RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	RETURN EXISTS (SELECT 1 FROM shilian.correction c
					WHERE c.kind = correction_retracted.kind AND c.record_id = correction_retracted.id
					  AND c.action = 'retract');
COMMENT ON FUNCTION correction_retracted(text, bigint) IS
	'Whether the record of this kind and id is retracted.';
REVOKE ALL ON FUNCTION correction_retracted(text, bigint) FROM PUBLIC;

-- The retraction of a received sale, whole: the sale (seller's chain) and
-- the buyer's batch its receipt made (buyer's chain) are retracted, when
-- nothing was recorded against that batch since (it holds all it received,
-- no sale, processing or consumption of it, no inspection but its incoming
-- one, no other receipt into it). The quantity accepted returns to the
-- seller's batch; the walks no longer follow the sale; the seller's
-- shipment and the buyer's receipt are no longer counted. The caller has
-- passed correction_require for the seller and may see the buyer.
CREATE OR REPLACE FUNCTION correction_receipt(l shilian.link, src shilian.batch, reason text, caller text, via boolean,
		epcis jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	b shilian.batch;
	nb shilian.batch;
	nl shilian.link;
	day date := shilian.platform_date(l.received_at);
	insp bigint;
	complete boolean;
	via_buyer boolean;
	cid bigint;
BEGIN
	SELECT * INTO b FROM shilian.batch x WHERE x.id = l.to_batch FOR UPDATE;
	SELECT min(i.id) INTO insp FROM shilian.inspection i WHERE i.link_id = l.id AND i.kind = 'incoming';
	IF b.origin <> 'received' OR NOT (b.qty_left OPERATOR(shilian.=) b.qty)
		OR EXISTS (SELECT 1 FROM shilian.link x WHERE x.to_batch = b.id AND x.id <> l.id)
		OR EXISTS (SELECT 1 FROM shilian.link x WHERE x.from_batch = b.id AND x.status <> 'retracted')
		OR EXISTS (SELECT 1 FROM shilian.consumption c WHERE c.batch_id = b.id
							AND NOT shilian.correction_retracted('consumption', c.id))
		OR EXISTS (SELECT 1 FROM shilian.inspection i WHERE i.batch_id = b.id AND i.id IS DISTINCT FROM insp) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC05',
			MESSAGE = format('sale %s: the buyer''s batch %s has later records', l.id, b.trace_code),
			HINT = 'A received sale is retracted only while the batch its receipt made is untouched; retract those records first.';
	END IF;
	SELECT c.complete INTO complete FROM shilian.incoming_complete(ARRAY[insp]) c;
	via_buyer := shilian.correction_via(shilian.correction_origin('batch', b.id, l.buyer_id, day));
	UPDATE shilian.link x SET status = 'retracted', to_batch = NULL, qty_accepted = NULL, received_at = now()
	 WHERE x.id = l.id RETURNING * INTO nl;
	UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l.qty_accepted WHERE x.id = src.id;
	nb := b;
	nb.qty_left := b.qty OPERATOR(shilian.-) b.qty;
	UPDATE shilian.batch x SET qty_left = nb.qty_left WHERE x.id = b.id;
	PERFORM shilian.correction_count(l.seller_id, l.shipped_on, 'shipments', -1, via);
	PERFORM shilian.correction_count(l.buyer_id, day, 'receipts', -1, via_buyer);
	IF complete THEN
		PERFORM shilian.correction_count(l.buyer_id, day, 'receipts_complete', -1, false);
	END IF;
	-- the two chains in operator order (docs/ledger-format.md, "Appending")
	IF l.buyer_id < l.seller_id THEN
		PERFORM shilian.correction_append('batch', b.id, 'retract', l.buyer_id, reason, to_jsonb(b), NULL, caller, epcis, day);
	END IF;
	cid := shilian.correction_append('link', l.id, 'retract', l.seller_id, reason, to_jsonb(l), NULL, caller, epcis,
		l.shipped_on);
	IF l.buyer_id > l.seller_id THEN
		PERFORM shilian.correction_append('batch', b.id, 'retract', l.buyer_id, reason, to_jsonb(b), NULL, caller, epcis, day);
	END IF;
	RETURN cid;
END
$$;
COMMENT ON FUNCTION correction_receipt(shilian.link, shilian.batch, text, text, boolean, jsonb) IS
	'Retract a received sale whole (part of retract()): the sale and the buyer''s untouched batch its receipt made, both chains, balances and counters.';
REVOKE ALL ON FUNCTION correction_receipt(shilian.link, shilian.batch, text, text, boolean, jsonb) FROM PUBLIC;

-- The one apply step of both functions. action 'correct' takes the new
-- values in changes (a JSON object of field -> value); 'retract' none.
CREATE OR REPLACE FUNCTION correction_apply(kind text, id bigint, reason text, action text, changes jsonb, epcis jsonb)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	caller text;
	b shilian.batch;
	l shilian.link;
	i shilian.inspection;
	nb shilian.batch;
	nl shilian.link;
	ni shilian.inspection;
	src shilian.batch;
	cn shilian.consumption;
	ncn shilian.consumption;
	on_day date;
	ins jsonb;
	new_ins jsonb;
	inp record;
	q shilian.qty;
	allowed text[];
	bad text;
	used shilian.qty;
	via boolean;
	r text := shilian.correction_reason(reason);
BEGIN
	IF kind IS NULL OR kind NOT IN ('batch', 'link', 'inspection', 'consumption', 'transformation') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC01', MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Correct or retract a "batch", a "link" (a sale), an "inspection", a "consumption" or a "transformation" (its output batch).';
	END IF;
	IF id IS NULL THEN
		PERFORM shilian.correction_unknown(kind, id);
	END IF;
	IF action = 'correct' THEN
		allowed := CASE kind WHEN 'batch' THEN ARRAY['qty', 'produced_on', 'expires_on', 'lot']
			WHEN 'link' THEN ARRAY['qty', 'shipped_on'] WHEN 'consumption' THEN ARRAY['qty', 'kind', 'note']
			WHEN 'transformation' THEN ARRAY['qty', 'expires_on', 'lot', 'inputs']
			ELSE ARRAY['result', 'report'] END;
		IF changes IS NULL OR jsonb_typeof(changes) <> 'object' OR changes = '{}' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = 'a correction needs the new values',
				HINT = format('Give a JSON object of the fields to change: %s.', array_to_string(allowed, ', '));
		END IF;
		SELECT k INTO bad FROM jsonb_object_keys(changes) k WHERE k <> ALL (allowed) ORDER BY k LIMIT 1;
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06',
				MESSAGE = format('field "%s" of a %s is not corrected this way', bad, kind),
				HINT = format('A %s corrects %s; retract a record that should not exist.', kind,
					array_to_string(allowed, ', '));
		END IF;
	END IF;

	IF kind = 'batch' THEN
		SELECT * INTO b FROM shilian.batch x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, b.owner_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		IF b.origin <> 'produced' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC08',
				MESSAGE = format('batch %s is %s, not produced: it is corrected through the record that made it', b.trace_code, b.origin),
				HINT = 'Retract the sale it was received from (kind "link"), correct or retract a transformed lot as kind "transformation"; first-entry lots are not corrected as batches.';
		END IF;
		via := shilian.correction_via(shilian.correction_origin(kind, id, b.owner_id, b.produced_on));
		IF action = 'retract' THEN
			IF EXISTS (SELECT 1 FROM shilian.link x WHERE x.from_batch = b.id AND x.status <> 'retracted')
				OR EXISTS (SELECT 1 FROM shilian.consumption c WHERE c.batch_id = b.id
							AND NOT shilian.correction_retracted('consumption', c.id))
				OR EXISTS (SELECT 1 FROM shilian.inspection x WHERE x.batch_id = b.id)
				OR NOT (b.qty_left OPERATOR(shilian.=) b.qty) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC05',
					MESSAGE = format('batch %s has later records: it was shipped, processed, consumed or inspected', b.trace_code),
					HINT = 'Retract those records first (a sale still pending), or correct the batch instead.';
			END IF;
			nb := b;
			nb.qty_left := b.qty OPERATOR(shilian.-) b.qty;
			UPDATE shilian.batch x SET qty_left = nb.qty_left WHERE x.id = b.id;
			PERFORM shilian.correction_count(b.owner_id, b.produced_on, 'batches', -1, via);
			RETURN shilian.correction_append(kind, id, action, b.owner_id, r, to_jsonb(b), NULL, caller,
				epcis, b.produced_on);
		END IF;
		nb := jsonb_populate_record(b, changes - 'qty');
		IF changes ? 'qty' THEN
			nb.qty := shilian.correction_qty(changes -> 'qty');
			IF nb.qty OPERATOR(shilian.<=) (nb.qty OPERATOR(shilian.-) nb.qty) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the batch quantity must be positive';
			END IF;
			used := b.qty OPERATOR(shilian.-) b.qty_left;
			IF nb.qty OPERATOR(shilian.<) used THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = format('batch %s: %s of it is already shipped, processed or consumed, more than %s', b.trace_code, used, nb.qty),
					HINT = 'Retract or correct those records first.';
			END IF;
			nb.qty_left := nb.qty OPERATOR(shilian.-) used;
		END IF;
		IF nb.produced_on IS NULL OR nb.produced_on > shilian.platform_today() THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the production date must be a day not after today';
		END IF;
		IF nb.expires_on < nb.produced_on THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07',
				MESSAGE = format('the expiry date %s is before the production date %s', nb.expires_on, nb.produced_on);
		END IF;
		IF nb.produced_on <> b.produced_on AND (EXISTS (SELECT 1 FROM shilian.link x
				WHERE x.from_batch = b.id AND x.status <> 'retracted' AND x.shipped_on < nb.produced_on)
			OR EXISTS (SELECT 1 FROM shilian.inspection x
				WHERE x.batch_id = b.id AND shilian.platform_date(x.inspected_at) < nb.produced_on)) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC05',
				MESSAGE = format('batch %s: a later record is dated before %s', b.trace_code, nb.produced_on);
		END IF;
		IF to_jsonb(nb) = to_jsonb(b) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('batch %s already has these values', b.trace_code);
		END IF;
		UPDATE shilian.batch x SET qty = nb.qty, qty_left = nb.qty_left, produced_on = nb.produced_on,
			expires_on = nb.expires_on, lot = nb.lot WHERE x.id = b.id;
		IF nb.produced_on <> b.produced_on THEN
			-- via_client stays with the entry's date (operator_day_rebuild)
			PERFORM shilian.correction_count(b.owner_id, b.produced_on, 'batches', -1, false);
			PERFORM shilian.correction_count(b.owner_id, nb.produced_on, 'batches', 1, false);
		END IF;
		RETURN shilian.correction_append(kind, id, action, b.owner_id, r, to_jsonb(b), to_jsonb(nb), caller,
			epcis, b.produced_on);

	ELSIF kind = 'link' THEN
		SELECT * INTO l FROM shilian.link x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, l.seller_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		IF l.kind <> 'ship' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC08',
				MESSAGE = format('link %s is a processing input, not a sale', id),
				HINT = 'A processing step is corrected or retracted as kind "transformation" (the id of its output batch).';
		END IF;
		IF l.status = 'rejected' OR (l.status = 'received' AND (action = 'correct' OR NOT shilian.may_see(l.buyer_id))) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC05',
				MESSAGE = format('sale %s is %s: the buyer''s record depends on it', id, l.status),
				HINT = 'Only a sale still pending is corrected or retracted by its seller; a received sale is retracted whole by whoever answers for both seller and buyer (the admin, their regulator, a system client bound to both), else the buyer records a return.';
		END IF;
		SELECT * INTO src FROM shilian.batch x WHERE x.id = l.from_batch FOR UPDATE;
		via := shilian.correction_via(shilian.correction_origin(kind, id, l.seller_id, l.shipped_on));
		IF l.status = 'received' THEN
			RETURN shilian.correction_receipt(l, src, r, caller, via, epcis);
		END IF;
		IF action = 'retract' THEN
			nl := l;
			UPDATE shilian.link x SET status = 'retracted', received_at = now() WHERE x.id = l.id
				RETURNING * INTO nl;
			UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l.qty_shipped WHERE x.id = src.id;
			PERFORM shilian.correction_count(l.seller_id, l.shipped_on, 'shipments', -1, via);
			RETURN shilian.correction_append(kind, id, action, l.seller_id, r, to_jsonb(l), NULL, caller,
				epcis, l.shipped_on);
		END IF;
		nl := jsonb_populate_record(l, changes - 'qty');
		IF changes ? 'qty' THEN
			nl.qty_shipped := shilian.correction_qty(changes -> 'qty');
			IF nl.qty_shipped OPERATOR(shilian.<=) (nl.qty_shipped OPERATOR(shilian.-) nl.qty_shipped) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the shipped quantity must be positive';
			END IF;
			IF (src.qty_left OPERATOR(shilian.+) l.qty_shipped) OPERATOR(shilian.<) nl.qty_shipped THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = format('batch %s holds %s, less than %s', src.trace_code,
						src.qty_left OPERATOR(shilian.+) l.qty_shipped, nl.qty_shipped);
			END IF;
		END IF;
		IF nl.shipped_on IS NULL OR nl.shipped_on > shilian.platform_today() OR nl.shipped_on < src.produced_on
			OR nl.shipped_on > src.expires_on THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07',
				MESSAGE = format('the ship date %s is not between the production date %s and today (or after the expiry date)',
					nl.shipped_on, src.produced_on);
		END IF;
		IF to_jsonb(nl) = to_jsonb(l) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('sale %s already has these values', id);
		END IF;
		UPDATE shilian.link x SET qty_shipped = nl.qty_shipped, shipped_on = nl.shipped_on WHERE x.id = l.id;
		UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l.qty_shipped
			OPERATOR(shilian.-) nl.qty_shipped WHERE x.id = src.id;
		IF nl.shipped_on <> l.shipped_on THEN
			PERFORM shilian.correction_count(l.seller_id, l.shipped_on, 'shipments', -1, false);
			PERFORM shilian.correction_count(l.seller_id, nl.shipped_on, 'shipments', 1, false);
		END IF;
		RETURN shilian.correction_append(kind, id, action, l.seller_id, r, to_jsonb(l), to_jsonb(nl), caller,
			epcis, l.shipped_on);

	ELSIF kind = 'consumption' THEN
		SELECT * INTO cn FROM shilian.consumption x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, cn.operator_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		SELECT * INTO src FROM shilian.batch x WHERE x.id = cn.batch_id FOR UPDATE;
		on_day := shilian.platform_date(cn.consumed_at);
		via := shilian.correction_via(shilian.correction_origin(kind, id, cn.operator_id, on_day));
		ncn := cn;
		IF action = 'retract' THEN
			-- the quantity returns to the batch; the row stays with nothing
			-- consumed (so the walks' on hand as of a past moment adds back
			-- nothing), the row before in correction.old and the ledger
			ncn.qty := cn.qty OPERATOR(shilian.-) cn.qty;
		ELSE
			IF changes ? 'kind' THEN
				IF changes ->> 'kind' IS NULL OR changes ->> 'kind' NOT IN ('served', 'retail_sold', 'destroyed', 'sample_kept') THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07',
						MESSAGE = format('unknown consumption kind %s', changes -> 'kind'),
						HINT = 'Use "served", "retail_sold", "destroyed" or "sample_kept".';
				END IF;
				ncn.kind := changes ->> 'kind';
				-- expired food may be destroyed or kept, never served or sold (consume)
				IF ncn.kind IN ('served', 'retail_sold') AND on_day > src.expires_on THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07',
						MESSAGE = format('batch %s expired on %s, before the consumption on %s: not %s', src.trace_code,
							src.expires_on, on_day, ncn.kind);
				END IF;
			END IF;
			IF changes ? 'note' THEN
				ncn.note := changes ->> 'note';
			END IF;
			IF changes ? 'qty' THEN
				ncn.qty := shilian.correction_qty(changes -> 'qty');
				IF ncn.qty OPERATOR(shilian.<=) (ncn.qty OPERATOR(shilian.-) ncn.qty) THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the consumed quantity must be positive',
						HINT = 'Retract a consumption that did not happen.';
				END IF;
			END IF;
			IF to_jsonb(ncn) = to_jsonb(cn) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('consumption %s already has these values', id);
			END IF;
		END IF;
		IF (src.qty_left OPERATOR(shilian.+) cn.qty) OPERATOR(shilian.<) ncn.qty THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07',
				MESSAGE = format('batch %s holds %s, less than %s', src.trace_code,
					src.qty_left OPERATOR(shilian.+) cn.qty, ncn.qty);
		END IF;
		UPDATE shilian.consumption x SET qty = ncn.qty, kind = ncn.kind, note = ncn.note WHERE x.id = cn.id;
		UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) cn.qty OPERATOR(shilian.-) ncn.qty
		 WHERE x.id = src.id;
		IF action = 'retract' THEN
			PERFORM shilian.correction_count(cn.operator_id, on_day, 'consumptions', -1, via);
			RETURN shilian.correction_append(kind, id, action, cn.operator_id, r, to_jsonb(cn), NULL, caller,
				epcis, on_day);
		END IF;
		RETURN shilian.correction_append(kind, id, action, cn.operator_id, r, to_jsonb(cn), to_jsonb(ncn), caller,
			epcis, on_day);

	ELSIF kind = 'transformation' THEN
		-- the id is the output batch's; the record is the batch and its input links
		SELECT * INTO b FROM shilian.batch x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, b.owner_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		IF b.origin <> 'transformed' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC08',
				MESSAGE = format('batch %s is %s, not the output of a transformation', b.trace_code, b.origin),
				HINT = 'A produced lot is corrected as kind "batch"; a received one through the sale it came from ("link").';
		END IF;
		-- the inputs locked in id order, as transform() locks them
		PERFORM 1 FROM shilian.batch x
		 WHERE x.id IN (SELECT l2.from_batch FROM shilian.link l2 WHERE l2.to_batch = b.id AND l2.kind = 'transform')
		 ORDER BY x.id FOR UPDATE;
		SELECT jsonb_agg(to_jsonb(x) ORDER BY x.from_batch) INTO ins
		  FROM shilian.link x WHERE x.to_batch = b.id AND x.kind = 'transform';
		via := shilian.correction_via(shilian.correction_origin(kind, id, b.owner_id, b.produced_on));
		IF action = 'retract' THEN
			IF EXISTS (SELECT 1 FROM shilian.link x WHERE x.from_batch = b.id AND x.status <> 'retracted')
				OR EXISTS (SELECT 1 FROM shilian.link x WHERE x.to_batch = b.id AND x.kind <> 'transform')
				OR EXISTS (SELECT 1 FROM shilian.consumption x WHERE x.batch_id = b.id
							AND NOT shilian.correction_retracted('consumption', x.id))
				OR EXISTS (SELECT 1 FROM shilian.inspection x WHERE x.batch_id = b.id)
				OR NOT (b.qty_left OPERATOR(shilian.=) b.qty) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC05',
					MESSAGE = format('batch %s has later records: it was shipped, processed, consumed, inspected or added to', b.trace_code),
					HINT = 'Retract those records first, or correct the transformation instead.';
			END IF;
			-- every input gets back what went in; the walks no longer follow the links
			UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l2.qty_shipped
			  FROM shilian.link l2 WHERE l2.to_batch = b.id AND l2.kind = 'transform' AND x.id = l2.from_batch;
			UPDATE shilian.link x SET status = 'retracted', to_batch = NULL, qty_accepted = NULL, received_at = now()
			 WHERE x.to_batch = b.id AND x.kind = 'transform';
			UPDATE shilian.batch x SET qty_left = b.qty OPERATOR(shilian.-) b.qty WHERE x.id = b.id;
			PERFORM shilian.correction_count(b.owner_id, b.produced_on, 'transforms', -1, via);
			RETURN shilian.correction_append(kind, id, action, b.owner_id, r,
				jsonb_build_object('batch', to_jsonb(b), 'inputs', ins), NULL, caller, epcis, b.produced_on);
		END IF;
		nb := jsonb_populate_record(b, changes - 'qty' - 'inputs');
		IF changes ? 'qty' THEN
			nb.qty := shilian.correction_qty(changes -> 'qty');
			IF nb.qty OPERATOR(shilian.<=) (nb.qty OPERATOR(shilian.-) nb.qty) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the batch quantity must be positive';
			END IF;
			used := b.qty OPERATOR(shilian.-) b.qty_left;
			IF nb.qty OPERATOR(shilian.<) used THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = format('batch %s: %s of it is already shipped, processed or consumed, more than %s', b.trace_code, used, nb.qty),
					HINT = 'Retract or correct those records first.';
			END IF;
			nb.qty_left := nb.qty OPERATOR(shilian.-) used;
		END IF;
		IF nb.expires_on < nb.produced_on THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07',
				MESSAGE = format('the expiry date %s is before the production date %s', nb.expires_on, nb.produced_on);
		END IF;
		IF changes ? 'inputs' THEN
			IF jsonb_typeof(changes -> 'inputs') <> 'object' OR changes -> 'inputs' = '{}' THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = 'inputs: a JSON object of input trace codes and their corrected quantities',
					HINT = 'For example {"inputs": {"370112000000000012": "45 kg"}}.';
			END IF;
			FOR inp IN SELECT e.key, e.value FROM jsonb_each(changes -> 'inputs') e ORDER BY e.key LOOP
				SELECT l2.* INTO l FROM shilian.link l2 JOIN shilian.batch x ON x.id = l2.from_batch
				 WHERE l2.to_batch = b.id AND l2.kind = 'transform' AND x.trace_code::text = inp.key;
				IF NOT FOUND THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07',
						MESSAGE = format('%s is not an input of transformation %s', inp.key, id),
						HINT = 'Name the inputs by their trace codes; an input is added or removed by retracting the transformation and recording it again.';
				END IF;
				q := shilian.correction_qty(inp.value);
				IF q OPERATOR(shilian.<=) (q OPERATOR(shilian.-) q) THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = format('input %s: the quantity must be positive', inp.key);
				END IF;
				SELECT * INTO src FROM shilian.batch x WHERE x.id = l.from_batch;
				IF (src.qty_left OPERATOR(shilian.+) l.qty_shipped) OPERATOR(shilian.<) q THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07',
						MESSAGE = format('batch %s holds %s, less than %s', src.trace_code,
							src.qty_left OPERATOR(shilian.+) l.qty_shipped, q);
				END IF;
				UPDATE shilian.link x SET qty_shipped = q, qty_accepted = q WHERE x.id = l.id;
				UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l.qty_shipped OPERATOR(shilian.-) q
				 WHERE x.id = src.id;
			END LOOP;
		END IF;
		SELECT jsonb_agg(to_jsonb(x) ORDER BY x.from_batch) INTO new_ins
		  FROM shilian.link x WHERE x.to_batch = b.id AND x.kind = 'transform';
		IF to_jsonb(nb) = to_jsonb(b) AND new_ins = ins THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('transformation %s already has these values', id);
		END IF;
		UPDATE shilian.batch x SET qty = nb.qty, qty_left = nb.qty_left, expires_on = nb.expires_on, lot = nb.lot
		 WHERE x.id = b.id;
		RETURN shilian.correction_append(kind, id, action, b.owner_id, r,
			jsonb_build_object('batch', to_jsonb(b), 'inputs', ins),
			jsonb_build_object('batch', to_jsonb(nb), 'inputs', new_ins), caller, epcis, b.produced_on);

	ELSE
		SELECT * INTO i FROM shilian.inspection x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, i.operator_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		IF action = 'retract' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC08',
				MESSAGE = format('inspection %s: an inspection is corrected, not retracted', id),
				HINT = 'Correct its result or report (correct(''inspection'', id, reason, changes)).';
		END IF;
		ni := i;
		IF changes ? 'result' THEN
			IF changes ->> 'result' IS NULL OR changes ->> 'result' NOT IN ('pass', 'fail') THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = format('unknown inspection result %s', changes -> 'result'), HINT = 'Use "pass" or "fail".';
			END IF;
			ni.result := changes ->> 'result';
		END IF;
		IF changes ? 'report' THEN
			-- keys are added or replaced, never removed: the keys the kind
			-- requires (checked when it was recorded) stay
			IF jsonb_typeof(changes -> 'report') <> 'object' OR EXISTS (SELECT 1 FROM jsonb_each(changes -> 'report') e
					WHERE e.value IN ('null'::jsonb, '""'::jsonb)) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = 'report: a JSON object of the keys to add or replace, none empty',
					HINT = 'A key of the report is replaced, never removed.';
			END IF;
			ni.report := i.report || (changes -> 'report');
		END IF;
		IF to_jsonb(ni) = to_jsonb(i) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('inspection %s already has these values', id);
		END IF;
		UPDATE shilian.inspection x SET result = ni.result, report = ni.report WHERE x.id = i.id;
		RETURN shilian.correction_append(kind, id, action, i.operator_id, r, to_jsonb(i), to_jsonb(ni), caller,
			epcis, shilian.platform_date(i.inspected_at));
	END IF;
END
$$;
COMMENT ON FUNCTION correction_apply(text, bigint, text, text, jsonb, jsonb) IS
	'The one step of correct() and retract() (and of an EPCIS errorDeclaration): rights, rules, the record tables, the counters, the ledger entry.';
REVOKE ALL ON FUNCTION correction_apply(text, bigint, text, text, jsonb, jsonb) FROM PUBLIC;

-- EPCIS errorDeclaration (GS1 EPCIS 2.0 §7.4.1.5): the declared event (its
-- eventID, as captured before) was wrong; every record it made is
-- retracted (batches made by commissioning, sales made by shipping, the
-- consumptions of destroying and retail selling, a transformation), with
-- the declaration's reason and correctiveEventIDs kept in the correction
-- rows. The corrective events are ordinary events, captured as such.
-- Called by epcis_apply_event (part 75) for an event with errorDeclaration.
CREATE OR REPLACE FUNCTION correction_epcis(idx integer, ev jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	decl jsonb := ev -> 'errorDeclaration';
	e shilian.epcis_event;
	why text;
	x text;
BEGIN
	IF jsonb_typeof(decl) <> 'object' OR jsonb_typeof(decl -> 'declarationTime') <> 'string' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC10',
			MESSAGE = format('EPCIS event %s: errorDeclaration needs declarationTime', idx);
	END IF;
	SELECT * INTO e FROM shilian.epcis_event v WHERE v.event_id = ev ->> 'eventID';
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC10',
			MESSAGE = format('EPCIS event %s: errorDeclaration for an unknown eventID "%s"', idx, ev ->> 'eventID'),
			HINT = 'An error declaration repeats the eventID of an event captured before.';
	END IF;
	IF e.records ? 'inspections' OR e.biz_step IN ('receiving', 'accepting') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC10',
			MESSAGE = format('EPCIS event %s: the declared event "%s" (%s) is not retracted this way', idx, e.event_id,
				coalesce(e.biz_step, e.type)),
			HINT = 'Error declarations retract commissioning, shipping, destroying, retail selling and transformation events; correct an inspection with correct().';
	END IF;
	why := coalesce(nullif(decl ->> 'reason', ''), 'EPCIS errorDeclaration')
		|| coalesce(' (corrective events: ' || (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(
			CASE jsonb_typeof(decl -> 'correctiveEventIDs') WHEN 'array' THEN decl -> 'correctiveEventIDs'
			ELSE '[]' END) c) || ')', '');
	FOR x IN SELECT jsonb_array_elements_text(coalesce(e.records -> 'links', '[]')) LOOP
		PERFORM shilian.correction_apply('link', x::bigint, why, 'retract', NULL, decl || jsonb_build_object('eventID', e.event_id));
	END LOOP;
	FOR x IN SELECT jsonb_array_elements_text(coalesce(e.records -> 'consumptions', '[]')) LOOP
		PERFORM shilian.correction_apply('consumption', x::bigint, why, 'retract', NULL, decl || jsonb_build_object('eventID', e.event_id));
	END LOOP;
	IF NOT e.records ? 'links' THEN
		-- the lots it made: commissioned batches, or a transformation's output
		FOR x IN SELECT jsonb_array_elements_text(coalesce(e.records -> 'batches', '[]')) LOOP
			PERFORM shilian.correction_apply(CASE e.type WHEN 'TransformationEvent' THEN 'transformation' ELSE 'batch' END,
				(SELECT b.id FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) x::shilian.trace_code),
				why, 'retract', NULL, decl || jsonb_build_object('eventID', e.event_id));
		END LOOP;
	END IF;
END
$$;
COMMENT ON FUNCTION correction_epcis(integer, jsonb) IS
	'An EPCIS errorDeclaration: retract the records of the declared event (its eventID captured before), naming the correctiveEventIDs.';
REVOKE ALL ON FUNCTION correction_epcis(integer, jsonb) FROM PUBLIC;

COMMENT ON FUNCTION correct(text, bigint, text, jsonb) IS
	'Correct (更正) a record: kind batch (qty, produced_on, expires_on, lot), link (a pending sale: qty, shipped_on), inspection (result, report keys), consumption (qty, kind, note) or transformation (its output batch id: qty, expires_on, lot, inputs {trace code: qty}); the original stays in the ledger, a correction entry supersedes it; balances and counters follow. Returns the correction id.';
COMMENT ON FUNCTION retract(text, bigint, text) IS
	'Retract (撤销) a record that should not exist: a produced batch nothing was recorded against, a pending sale (its quantity returns to the seller''s batch), a consumption (its quantity returns to the batch) or a transformation whose output nothing was recorded against (each input gets back what went in); the original stays in the ledger, a retraction entry supersedes it; counters follow. Returns the correction id.';
COMMENT ON FUNCTION corrections(text, bigint) IS
	'The corrections and retraction of a record (kind batch, link, inspection, consumption or transformation), oldest first, with the row before and after each: what a recall or finding on it shows beside the current values.';

-- Serialised items (issue 18): the SGTINs of a commissioning ObjectEvent's
-- epcList recorded as members of the lot it makes (batch_item, part 75; its
-- row-level security, part 89), item_batch() to find a serial's lot,
-- epcis_items() reading an epcList, and epcis_apply_event patched in place
-- (an epcList refused only outside commissioning; commissioning makes a lot
-- per GTIN of its items).

-- Serialised items (SGTINs) of a lot: each instance identifier of a
-- commissioning ObjectEvent's epcList (issue 18) is recorded as a member of
-- the batch the event made, once (GTIN and serial unique): item_batch()
-- finds the lot of a serial, and the walks go on from it.
CREATE TABLE batch_item (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	batch_id  bigint NOT NULL REFERENCES batch (id),
	owner_id  bigint NOT NULL REFERENCES operator (id),	-- who commissioned it (the batch's first holder)
	gtin      text NOT NULL CHECK (gtin ~ '^[0-9]{14}$'),
	serial    text NOT NULL CHECK (serial <> ''),
	UNIQUE (gtin, serial)
);
CREATE INDEX batch_item_batch_idx ON batch_item (batch_id);
COMMENT ON TABLE batch_item IS
	'Serialised items (SGTIN: GTIN-14 and serial) commissioned as members of a batch by an EPCIS commissioning event''s epcList.';
SELECT pg_catalog.pg_extension_config_dump('batch_item', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.batch_item', 'id')::regclass, '');
-- Serialised items (part 75): read as the commissioning operator's records
-- are; written only by epcis_capture.
GRANT SELECT ON batch_item TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE batch_item ENABLE ROW LEVEL SECURITY;
CREATE POLICY batch_item_read ON batch_item FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (shilian.may_see(owner_id));

-- The SGTINs of an event's epcList, by product: GTIN-14, the serials, and
-- the class keys; any spelling of an SGTIN (EPC URI, Digital Link) is
-- read through its canonical Digital Link. SLE04 for another identifier or
-- a GTIN no product has, SLE13 for a serial listed twice or commissioned
-- before (internal).
CREATE OR REPLACE FUNCTION epcis_items(ev jsonb, idx int)
	RETURNS TABLE (product bigint, gtin text, serials text[], keys text[])
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e record;
	prev text := NULL;
	cur text := NULL;
	acc text[] := '{}';
BEGIN
	-- in GTIN and serial order (a malformed identifier first)
	FOR e IN SELECT * FROM (
			SELECT x.value AS epc, (x.ordinality - 1)::int AS k,
				regexp_match(shilian.epcis_gs1_uri(CASE jsonb_typeof(x.value) WHEN 'string' THEN x.value #>> '{}' END),
					'^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$') AS m
			  FROM jsonb_array_elements(ev -> 'epcList') WITH ORDINALITY x) y
		 ORDER BY y.m[1] NULLS FIRST, y.m[2], y.k
	LOOP
		IF e.m IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE04', idx, 'epcList/' || e.k,
				format('unsupported instance identifier %s', e.epc),
				'Name serialised items by SGTIN: urn:epc:id:sgtin:<company prefix>.<item reference>.<serial> or https://id.gs1.org/01/<GTIN>/21/<serial>.');
		END IF;
		IF prev = e.m[1] || '/' || e.m[2] THEN
			PERFORM shilian.epcis_refuse('SLE13', idx, 'epcList/' || e.k,
				format('serial %s of GTIN %s is listed twice', e.m[2], e.m[1]));
		END IF;
		prev := e.m[1] || '/' || e.m[2];
		IF EXISTS (SELECT 1 FROM shilian.batch_item b WHERE b.gtin = e.m[1] AND b.serial = e.m[2]) THEN
			PERFORM shilian.epcis_refuse('SLE13', idx, 'epcList/' || e.k,
				format('item %s/21/%s was commissioned before', shilian.gs1_digital_link(e.m[1]), e.m[2]),
				'An item is commissioned once; ship or receive its lot.');
		END IF;
		IF cur IS DISTINCT FROM e.m[1] THEN
			IF cur IS NOT NULL THEN
				gtin := cur;
				serials := acc;
				RETURN NEXT;
			END IF;
			cur := e.m[1];
			acc := '{}';
			product := NULL;
			SELECT p.id INTO product FROM shilian.product p
			 WHERE p.gtin IN (cur, substr(cur, 2), substr(cur, 3), substr(cur, 7)) AND lpad(p.gtin, 14, '0') = cur;
			IF product IS NULL THEN
				PERFORM shilian.epcis_refuse('SLE04', idx, 'epcList/' || e.k,
					format('unknown product: no product has GTIN %s', cur),
					'Register the product with its GTIN first (product_register).');
			END IF;
			keys := ARRAY[shilian.gs1_digital_link(cur)];
		END IF;
		acc := acc || e.m[2];
	END LOOP;
	IF cur IS NOT NULL THEN
		gtin := cur;
		serials := acc;
		RETURN NEXT;
	END IF;
END
$$;
COMMENT ON FUNCTION epcis_items(jsonb, int) IS
	'The SGTINs of an event''s epcList by product: GTIN-14, serials, class keys; SLE04 for other identifiers or unknown GTINs, SLE13 for a serial listed twice or commissioned before (internal).';
REVOKE ALL ON FUNCTION epcis_items(jsonb, int) FROM PUBLIC;

-- The lot a serialised item (SGTIN, any spelling) was commissioned in, for
-- whoever may see that batch's holder: where a walk by serial starts
-- (trace_forward(item_batch(epc)) reaches every lot it went on to). SLE14
-- for an unknown item or one the caller may not see.
CREATE OR REPLACE FUNCTION item_batch(epc text) RETURNS trace_code
	LANGUAGE plpgsql STABLE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m text[] := regexp_match(shilian.epcis_gs1_uri(epc), '^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$');
	code shilian.trace_code;
BEGIN
	SELECT b.trace_code INTO code FROM shilian.batch_item i JOIN shilian.batch b ON b.id = i.batch_id
	 WHERE i.gtin = m[1] AND i.serial = m[2] AND shilian.may_see(b.owner_id);
	IF code IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE14', MESSAGE = format('unknown item "%s"', epc),
			HINT = 'Name a serialised item commissioned by an EPCIS event: urn:epc:id:sgtin:... or https://id.gs1.org/01/<GTIN>/21/<serial>.';
	END IF;
	RETURN code;
END
$$;
COMMENT ON FUNCTION item_batch(text) IS
	'The batch (trace code) a serialised item (SGTIN as EPC URI or Digital Link) was commissioned in, for whoever may see its holder; SLE14 when unknown or not visible.';
REVOKE ALL ON FUNCTION item_batch(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION item_batch(text) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

DO $patch$
DECLARE
	def text := pg_catalog.pg_get_functiondef('shilian.epcis_apply_event(bigint, integer, jsonb)'::pg_catalog.regprocedure);
BEGIN
	IF pg_catalog.strpos(def, $o1$	IF jsonb_typeof(ev -> 'epcList') = 'array' AND jsonb_array_length(ev -> 'epcList') > 0 THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList', 'instance-level identifiers (epcList) are not recorded',
			'This platform records lots: give each lot as a quantityElement (epcClass, quantity, uom).');
	END IF;$o1$) = 0 OR pg_catalog.strpos(def, $o2$	ELSIF act = 'ADD' AND step = 'commissioning' THEN
		expires := shilian.epcis_expiry(ev, idx);
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.batch_create(op, q.product, q.qty, local_day, q.lot, expires,
				ev -> 'shilian:certificate');
			batches := batches || code::text;
			classes := classes || q.keys;
		END LOOP;$o2$) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event: the epcList refusal or the commissioning step to patch is not there';
	END IF;
	def := pg_catalog.replace(def, $o1$	IF jsonb_typeof(ev -> 'epcList') = 'array' AND jsonb_array_length(ev -> 'epcList') > 0 THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList', 'instance-level identifiers (epcList) are not recorded',
			'This platform records lots: give each lot as a quantityElement (epcClass, quantity, uom).');
	END IF;$o1$, $n1$	-- serialised items are recorded when commissioned (members of the lot made)
	IF jsonb_typeof(ev -> 'epcList') = 'array' AND jsonb_array_length(ev -> 'epcList') > 0
		AND (typ <> 'ObjectEvent' OR act <> 'ADD' OR step IS DISTINCT FROM 'commissioning') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList',
			'instance-level identifiers (epcList) are recorded only by a commissioning event (ADD)',
			'Commission the items (action ADD, bizStep commissioning); later events name their lot as a quantityElement (epcClass, quantity, uom).');
	END IF;$n1$);
	def := pg_catalog.replace(def, $o2$	ELSIF act = 'ADD' AND step = 'commissioning' THEN
		expires := shilian.epcis_expiry(ev, idx);
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.batch_create(op, q.product, q.qty, local_day, q.lot, expires,
				ev -> 'shilian:certificate');
			batches := batches || code::text;
			classes := classes || q.keys;
		END LOOP;$o2$, $n2$	ELSIF act = 'ADD' AND step = 'commissioning' THEN
		expires := shilian.epcis_expiry(ev, idx);
		IF ev ? 'quantityList' OR jsonb_typeof(ev -> 'epcList') IS DISTINCT FROM 'array'
			OR jsonb_array_length(ev -> 'epcList') = 0 THEN
			FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
				code := shilian.batch_create(op, q.product, q.qty, local_day, q.lot, expires,
					ev -> 'shilian:certificate');
				batches := batches || code::text;
				classes := classes || q.keys;
			END LOOP;
		END IF;
		-- serialised items: a lot per GTIN (its lot number from ilmd), the items its members
		FOR q IN SELECT * FROM shilian.epcis_items(ev, idx) LOOP
			code := shilian.batch_create(op, q.product, (cardinality(q.serials) || ' pcs')::shilian.qty, local_day,
				coalesce(ev #>> '{ilmd,cbvmda:lotNumber}', ev #>> '{ilmd,lotNumber}'), expires, ev -> 'shilian:certificate');
			INSERT INTO shilian.batch_item (batch_id, owner_id, gtin, serial)
			SELECT b.id, op, q.gtin, sn FROM shilian.batch b, unnest(q.serials) sn WHERE b.trace_code OPERATOR(shilian.=) code;
			batches := batches || code::text;
			classes := classes || q.keys;
		END LOOP;$n2$);
	EXECUTE def;
END
$patch$;

