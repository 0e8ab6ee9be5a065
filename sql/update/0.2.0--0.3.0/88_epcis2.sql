-- shilian upgrade script 0.2.0 -> 0.3.0, part 88: GS1 EPCIS 2.0 for real
-- clients, continued (issue 18; h-epcis2).
--
-- Receiving without the incoming inspection (进货查验): receive() takes the
-- inspection document as optional (a receipt without one is recorded, and
-- record_completeness() reports it lacking incoming_inspection; the
-- regulator's findings list it as missing_incoming_inspection); the
-- counters' rebuild counts such receipts (never complete); an EPCIS
-- receiving event without shilian:inspection passes none.

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
		   -- a retracted batch is not counted (part 83)
		   AND NOT EXISTS (SELECT 1 FROM shilian.correction x
							WHERE x.kind = 'batch' AND x.record_id = b.id AND x.action = 'retract')
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT l.seller_id, l.shipped_on, 'shipments', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status <> 'retracted' GROUP BY 1, 2
		UNION ALL
		SELECT l.buyer_id, shilian.platform_date(l.received_at), 'rejections', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status = 'rejected' GROUP BY 1, 2
		UNION ALL
		SELECT c.operator_id, shilian.platform_date(c.consumed_at), 'consumptions', count(*)
		  FROM shilian.consumption c GROUP BY 1, 2
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
