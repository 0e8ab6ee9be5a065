-- shilian 0.2.0 -> 0.3.0, part 99i: record_completeness finds a receipt's
-- incoming inspection through the buyer's batch the receipt made (an
-- index-only probe of inspection_incoming_idx) instead of scanning every
-- inspection for its link (no index leads with link_id): 27 ms a call at the
-- bench's scale 0.1, five calls per operator of spot_check_sample. The body
-- is part 20's.
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
		-- through the buyer's batch the receipt made (an index-only probe of
		-- inspection_incoming_idx); a retracted receipt no longer names it,
		-- and only then are the inspections searched by link
		SELECT i.id INTO insp FROM shilian.link l
		  JOIN shilian.inspection i ON i.batch_id = l.to_batch AND i.link_id = l.id
		 WHERE l.id = record_completeness.id AND i.kind = 'incoming'
		 ORDER BY i.id LIMIT 1;
		IF insp IS NULL AND EXISTS (SELECT 1 FROM shilian.link l
									 WHERE l.id = record_completeness.id AND l.to_batch IS NULL) THEN
			SELECT i.id INTO insp FROM shilian.inspection i
			 WHERE i.link_id = record_completeness.id AND i.kind = 'incoming'
			 ORDER BY i.id LIMIT 1;
		END IF;
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
				   AND x.kind = 'ship' AND x.status = 'received'
				UNION ALL
				SELECT NULL, x.id, NULL, x.received_at, NULL, x.owner_id
				  FROM shilian.batch x
				 WHERE insp IS NULL AND record_completeness.kind = 'first_entry' AND x.id = record_completeness.id
				   AND x.origin = 'first_entry') i
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
