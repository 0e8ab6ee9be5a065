-- 0.2.0 -> 0.3.0, part 99h: compliance_findings reads each examined
-- operator's last licence day with one probe of licence_operator_idx instead
-- of hashing every licence of the province (issue 19). The body is part
-- 66's, with part 90's first-entry receipt date.
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
	), rcpt AS (
		-- every receipt in the period, operator by operator (OFFSET 0 keeps
		-- each a nested loop over the operator's index entries): confirmed
		-- sales (with the expiry of the lot shipped) and first entries
		SELECT o.id AS operator, r.on_date, r.link, r.batch, r.expires_on, r.inspected
		  FROM o CROSS JOIN LATERAL (
			SELECT shilian.platform_date(l.received_at) AS on_date, l.id AS link, l.to_batch AS batch,
				(SELECT fb.expires_on FROM shilian.batch fb WHERE fb.id = l.from_batch) AS expires_on,
				EXISTS (SELECT 1 FROM shilian.inspection i
						 WHERE i.batch_id = l.to_batch AND i.link_id = l.id AND i.kind = 'incoming') AS inspected
			  FROM shilian.link l
			 WHERE l.buyer_id = o.id AND l.status = 'received' AND l.kind = 'ship'
			   AND shilian.platform_date(l.received_at) <@ period
			OFFSET 0) r
		UNION ALL
		SELECT o.id, r.on_date, NULL, r.batch, r.expires_on, r.inspected
		  FROM o CROSS JOIN LATERAL (
			SELECT shilian.platform_date(coalesce(b.received_at, i.inspected_at, b.created_at)) AS on_date, b.id AS batch, b.expires_on,
				i.id IS NOT NULL AS inspected
			  FROM shilian.batch b
			  LEFT JOIN LATERAL (SELECT i.id, i.inspected_at FROM shilian.inspection i
								  WHERE i.batch_id = b.id AND i.kind = 'incoming' ORDER BY i.id LIMIT 1) i ON true
			 WHERE b.owner_id = o.id AND b.origin = 'first_entry'
			   AND shilian.platform_date(coalesce(b.received_at, i.inspected_at, b.created_at)) <@ period
			OFFSET 0) r
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
	), ev AS (
		-- (the lot received, a foreign key, is looked up per evidence row: a
		-- scalar subquery is an index probe whatever the planner expects of
		-- the CTE's size)
		SELECT r.operator, 'missing_incoming_inspection' AS kind, r.on_date, r.batch AS ref,
			jsonb_build_object('link', r.link::text,
				'trace_code', (SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch)::text,
				'received_on', r.on_date) AS e
		  FROM rcpt r
		 WHERE NOT r.inspected
		UNION ALL
		SELECT r.operator, 'expired_product_receipt', r.on_date, r.batch,
			jsonb_build_object('link', r.link::text,
				'trace_code', (SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch)::text,
				'received_on', r.on_date, 'expires_on', r.expires_on)
		  FROM rcpt r
		 WHERE r.on_date > r.expires_on
		UNION ALL
		SELECT r.operator, 'wholesaler_without_sales_records', r.on_date, r.batch,
			jsonb_build_object('link', r.link::text,
				'trace_code', (SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch)::text,
				'received_on', r.on_date)
		  FROM rcpt r
		  JOIN o w ON w.id = r.operator
		 WHERE w.kinds @> ARRAY['wholesaler']
		   AND NOT EXISTS (SELECT 1 FROM shilian.link s
							WHERE s.seller_id = w.id AND s.kind = 'ship' AND s.shipped_on <@ period)
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
