-- part 25 (sql/src/10_types.sql): qty comparison is a total order by
-- (dimension, amount), so ANALYZE, sorts, DISTINCT and merge joins work on
-- columns mixing units; min/max keep refusing mixed dimensions (no SORTOP).
COMMENT ON FUNCTION qty_lt(qty, qty) IS 'qty less than in the btree order (dimension mass < volume < count, then amount).';
COMMENT ON FUNCTION qty_le(qty, qty) IS 'qty less than or equal in the btree order (dimension mass < volume < count, then amount).';
COMMENT ON FUNCTION qty_gt(qty, qty) IS 'qty greater than in the btree order (dimension mass < volume < count, then amount).';
COMMENT ON FUNCTION qty_ge(qty, qty) IS 'qty greater than or equal in the btree order (dimension mass < volume < count, then amount).';
COMMENT ON FUNCTION qty_eq(qty, qty) IS 'qty equal (same dimension and amount; a mass never equals a volume).';
COMMENT ON FUNCTION qty_ne(qty, qty) IS 'qty not equal (true for quantities of two dimensions).';
COMMENT ON OPERATOR = (qty, qty) IS 'qty equal (false across dimensions)';
COMMENT ON OPERATOR <> (qty, qty) IS 'qty not equal (true across dimensions)';
COMMENT ON OPERATOR < (qty, qty) IS 'qty less than in the btree order (mass < volume < count, then amount)';
COMMENT ON OPERATOR <= (qty, qty) IS 'qty less than or equal in the btree order (mass < volume < count, then amount)';
COMMENT ON OPERATOR > (qty, qty) IS 'qty greater than in the btree order (mass < volume < count, then amount)';
COMMENT ON OPERATOR >= (qty, qty) IS 'qty greater than or equal in the btree order (mass < volume < count, then amount)';
COMMENT ON FUNCTION qty_cmp(qty, qty) IS 'btree support: -1, 0 or 1 in the total order by dimension (mass < volume < count), then amount in the base unit; never an error.';
COMMENT ON OPERATOR CLASS qty_ops USING btree IS 'B-tree support for qty: a total order by dimension (mass < volume < count), then amount, so columns mixing units sort, index and analyze.';
DROP AGGREGATE min(qty);
DROP AGGREGATE max(qty);
-- min and max refuse mixed dimensions like sum; without a SORTOP the planner
-- never answers them from the btree order (which would not refuse).
CREATE AGGREGATE min(qty) (
	SFUNC = qty_smaller, STYPE = qty, COMBINEFUNC = qty_smaller, PARALLEL = SAFE
);
COMMENT ON AGGREGATE min(qty) IS 'The smallest quantity (one dimension; an error if they mix).';
CREATE AGGREGATE max(qty) (
	SFUNC = qty_larger, STYPE = qty, COMBINEFUNC = qty_larger, PARALLEL = SAFE
);
COMMENT ON AGGREGATE max(qty) IS 'The largest quantity (one dimension; an error if they mix).';



-- part 25 (sql/src/00_base.sql and every file deriving a date from a timestamp):
-- one platform time zone (shilian.timezone): platform_date()/platform_today(),
-- and the functions that took a day from a timestamp in the session's TimeZone.
-- (operator_day_rebuild also loses its DISABLE/ENABLE TRIGGER of operator_month.)

-- sql/src/00_base.sql
CREATE FUNCTION platform_date(ts timestamptz) RETURNS date
	AS 'MODULE_PATHNAME', 'platform_date'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION shilian.platform_date(timestamptz) IS
	'The platform day of a moment: its date in shilian.timezone (default Asia/Shanghai), whatever the session''s TimeZone.';

CREATE FUNCTION platform_today() RETURNS date
	AS 'MODULE_PATHNAME', 'platform_today'
	LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION shilian.platform_today() IS
	'Today on the platform: platform_date of the transaction''s start (current_date in shilian.timezone).';

-- sql/src/20_records.sql
CREATE OR REPLACE FUNCTION batch_create(owner bigint, product bigint, qty qty,
		produced_on date DEFAULT shilian.platform_today(), lot text DEFAULT NULL,
		expires_on date DEFAULT NULL, certificate jsonb DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_batch_create'
	LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION ship(code trace_code, buyer bigint, qty qty,
		shipped_on date DEFAULT shilian.platform_today(), seller bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_ship'
	LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION receive_first_entry(buyer bigint, product bigint, qty qty, supplier jsonb,
		inspection jsonb, produced_on date DEFAULT shilian.platform_today(),
		received_at timestamptz DEFAULT now(), lot text DEFAULT NULL,
		certificate jsonb DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_receive_first_entry'
	LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION transform(inputs trace_code[], qtys qty[], product bigint, qty qty,
		produced_on date DEFAULT shilian.platform_today(), lot text DEFAULT NULL,
		expires_on date DEFAULT NULL, operator bigint DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_transform'
	LANGUAGE C VOLATILE;

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
BEGIN
	IF kind = 'incoming' THEN
		SELECT jsonb_build_object(
				'name', p.name, 'spec', p.spec, 'quantity', b_qty.q,
				'production_date_or_lot', coalesce(b.produced_on::text, b.lot),
				'shelf_life', coalesce(p.shelf_life_days::text, b.expires_on::text, 'none'),
				'purchase_date', shilian.platform_date(i.inspected_at),
				'supplier_name', coalesce(o.name, b.supplier->>'name'),
				'supplier_address', coalesce(o.address, b.supplier->>'address'),
				'supplier_contact', coalesce(o.contact, b.supplier->>'contact'),
				'supplier_licence', coalesce(b.supplier_licence::text, b.supplier->>'licence'),
				'certificate', coalesce(b.certificate, i.report->'certificate')),
			p.edible_agricultural, shilian.platform_date(i.inspected_at), b.expires_on
		  INTO f, agri, rec_date, expiry
		  FROM shilian.inspection i
		  JOIN shilian.batch b ON b.id = i.batch_id
		  JOIN shilian.product p ON p.id = b.product_id
		  LEFT JOIN shilian.link l ON l.id = i.link_id
		  LEFT JOIN shilian.operator o ON o.id = l.seller_id
		  CROSS JOIN LATERAL (SELECT coalesce(l.qty_accepted, b.qty)::text AS q) b_qty
		 WHERE i.id = record_completeness.id AND i.kind = 'incoming' AND shilian.may_see(i.operator_id);
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'SLR22',
				MESSAGE = format('unknown record: no incoming inspection has id %s', id);
		END IF;
		need := CASE WHEN agri
			THEN ARRAY['name', 'quantity', 'purchase_date', 'supplier_name']
			ELSE ARRAY['name', 'spec', 'quantity', 'production_date_or_lot', 'shelf_life',
				'purchase_date', 'supplier_name', 'supplier_address', 'supplier_contact',
				'supplier_licence', 'certificate'] END;
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
			HINT = 'Use "incoming", "release" or "sale".';
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

-- sql/src/40_trace.sql
CREATE OR REPLACE FUNCTION public_trace(code trace_code) RETURNS jsonb
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	root shilian.batch;
	origin_batch bigint;
	result jsonb;
BEGIN
	SELECT * INTO root FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR03',
			MESSAGE = format('unknown batch %s', code),
			DETAIL = 'No batch has this trace code.';
	END IF;
	-- each row: a lot of the chain and the sale it came in by (the earliest
	-- receipt of a sale, for a lot created by a receipt), followed upstream
	WITH RECURSIVE chain AS (
		SELECT b.id, b.owner_id, 0 AS step,
			CASE WHEN b.origin = 'received' THEN (SELECT l.id FROM shilian.link l
				WHERE l.to_batch = b.id AND l.kind = 'ship' AND l.status = 'received'
				ORDER BY l.received_at, l.id LIMIT 1) END AS in_link
		  FROM shilian.batch b WHERE b.id = root.id
		UNION ALL
		SELECT s.id, s.owner_id, c.step + 1,
			CASE WHEN s.origin = 'received' THEN (SELECT l2.id FROM shilian.link l2
				WHERE l2.to_batch = s.id AND l2.kind = 'ship' AND l2.status = 'received'
				ORDER BY l2.received_at, l2.id LIMIT 1) END
		  FROM chain c JOIN shilian.link l ON l.id = c.in_link
		  JOIN shilian.batch s ON s.id = l.from_batch
		 WHERE c.step < 1000
	)
	SELECT jsonb_build_object(
		'code', code,
		'product', (SELECT jsonb_strip_nulls(jsonb_build_object('name', p.name, 'category', p.category,
				'spec', p.spec, 'gtin', p.gtin))
			FROM shilian.product p WHERE p.id = root.product_id),
		'produced_on', root.produced_on, 'expires_on', root.expires_on,
		'producer', (SELECT jsonb_build_object('name', o.name,
				'licence', (SELECT lc.licence_no FROM shilian.licence lc
					WHERE lc.operator_id = o.id ORDER BY lc.valid_to DESC, lc.id LIMIT 1),
				'origin', ob.origin)
			FROM chain c JOIN shilian.batch ob ON ob.id = c.id JOIN shilian.operator o ON o.id = c.owner_id
			ORDER BY c.step DESC LIMIT 1),
		'origin_region', (SELECT jsonb_build_object('code', j.code, 'name', j.name)
			FROM chain c JOIN shilian.operator o ON o.id = c.owner_id
			JOIN shilian.jurisdiction j ON j.code = left(o.station, 6)
			ORDER BY c.step DESC LIMIT 1),
		'custody', (SELECT jsonb_agg(jsonb_build_object('step', mx.n - c.step, 'holder', o.name,
				'segment', o.segment, 'region', left(o.station, 6),
				'received_on', (SELECT shilian.platform_date(l.received_at) FROM shilian.link l WHERE l.id = c.in_link))
				ORDER BY c.step DESC)
			FROM chain c JOIN shilian.operator o ON o.id = c.owner_id
			CROSS JOIN (SELECT max(step) AS n FROM chain) mx),
		'inspections', (SELECT coalesce(jsonb_agg(jsonb_build_object('kind', i.kind, 'result', i.result,
				'on', shilian.platform_date(i.inspected_at), 'by', o.name) ORDER BY i.inspected_at, i.id), '[]')
			FROM chain c JOIN shilian.inspection i ON i.batch_id = c.id
			JOIN shilian.operator o ON o.id = i.operator_id))
	  INTO result;
	RETURN result;
END;
$$;

CREATE OR REPLACE FUNCTION recall_export(id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	out text;
BEGIN
	-- who may export: part 85 (the export spans every holder)
	PERFORM shilian.recall_require_follower(id);
	PERFORM 1 FROM shilian.recall r WHERE r.id = recall_export.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	SELECT 'traceability_lot_code,product_description,quantity,unit_of_measure,'
		|| 'location_name,location_address,operator_id,date_received,date_shipped,'
		|| 'reference_document,immediate_previous_source,subsequent_recipients,'
		|| 'qty_exposed,qty_on_hand,depth,disposition' || E'\r\n'
		|| coalesce(string_agg(concat_ws(',',
			shilian.csv_field(t.trace_code::text),
			shilian.csv_field(concat_ws(' ', p.name, p.spec)),
			shilian.csv_field(split_part(b.qty::text, ' ', 1)),
			shilian.csv_field(split_part(b.qty::text, ' ', 2)),
			shilian.csv_field(o.name),
			shilian.csv_field(o.address),
			t.operator_id::text,
			shilian.csv_field(to_char(shilian.platform_date(rin.received_at), 'YYYY-MM-DD')),
			shilian.csv_field(sh.dates),
			shilian.csv_field(coalesce('link ' || rin.id, b.lot, 'batch ' || b.trace_code::text)
				|| coalesce('; certificate ' || (b.certificate->>'certificate_no'), '')),
			shilian.csv_field(CASE b.origin
				WHEN 'received' THEN so.name || ' (' || sb.trace_code::text || ')'
				WHEN 'first_entry' THEN b.supplier->>'name'
				WHEN 'transformed' THEN (SELECT 'inputs: ' || string_agg(ib.trace_code::text, '; ' ORDER BY ib.trace_code)
					FROM shilian.link il JOIN shilian.batch ib ON ib.id = il.from_batch
					WHERE il.to_batch = b.id AND il.kind = 'transform') END),
			shilian.csv_field(sh.recipients),
			shilian.csv_field(t.qty_exposed::text),
			shilian.csv_field(t.qty_on_hand::text),
			t.depth::text,
			shilian.csv_field(t.disposition)), E'\r\n' ORDER BY t.trace_code) || E'\r\n', '')
	  INTO out
	  FROM shilian.recall_target t
	  JOIN shilian.batch b ON b.id = t.batch_id
	  JOIN shilian.product p ON p.id = b.product_id
	  JOIN shilian.operator o ON o.id = t.operator_id
	  -- how the lot came in: the earliest receipt of a sale (NULL: produced here)
	  LEFT JOIN LATERAL (SELECT l.* FROM shilian.link l
		WHERE l.to_batch = b.id AND l.kind = 'ship' AND l.status = 'received'
		ORDER BY l.received_at, l.id LIMIT 1) rin ON true
	  LEFT JOIN shilian.batch sb ON sb.id = rin.from_batch
	  LEFT JOIN shilian.operator so ON so.id = rin.seller_id
	  -- where it went: every shipment out (not rejected), buyer and date
	  LEFT JOIN LATERAL (SELECT string_agg(DISTINCT bo.name, '; ') AS recipients,
			string_agg(DISTINCT to_char(l.shipped_on, 'YYYY-MM-DD'), '; ') AS dates
		FROM shilian.link l JOIN shilian.operator bo ON bo.id = l.buyer_id
		WHERE l.from_batch = b.id AND l.status <> 'rejected') sh ON true
	 WHERE t.recall_id = recall_export.id;
	RETURN out;
END;
$$;

-- sql/src/58_activity.sql
CREATE OR REPLACE FUNCTION incoming_complete(ids bigint[])
	RETURNS TABLE (id bigint, operator_id bigint, on_date date, complete boolean)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT i.id, i.operator_id, shilian.platform_date(i.inspected_at),
		shilian.incoming_fields_complete(p.edible_agricultural, p.spec, coalesce(o.name, b.supplier->>'name'),
			coalesce(o.address, b.supplier->>'address'), coalesce(o.contact, b.supplier->>'contact'),
			coalesce(b.supplier_licence::text, b.supplier->>'licence'), coalesce(b.certificate, i.report->'certificate'))
	  FROM shilian.inspection i
	  JOIN shilian.batch b ON b.id = i.batch_id
	  JOIN shilian.product p ON p.id = b.product_id
	  LEFT JOIN shilian.link l ON l.id = i.link_id
	  LEFT JOIN shilian.operator o ON o.id = l.seller_id
	 WHERE i.id = ANY (ids) AND i.kind = 'incoming'
	$$;

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
		  FROM shilian.batch b WHERE b.origin IN ('produced', 'transformed') GROUP BY 1, 2, 3
		UNION ALL
		SELECT l.seller_id, l.shipped_on, 'shipments', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' GROUP BY 1, 2
		UNION ALL
		SELECT l.buyer_id, shilian.platform_date(l.received_at), 'rejections', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status = 'rejected' GROUP BY 1, 2
		UNION ALL
		SELECT c.operator_id, shilian.platform_date(c.at), 'consumptions', count(*)
		  FROM shilian.consumption c GROUP BY 1, 2
		UNION ALL
		-- inspections: a receipt's incoming inspection names its sale's link;
		-- a first entry's is the first inspection of its first-entry batch;
		-- the rest were recorded with inspect()
		SELECT r.operator_id, r.day, CASE WHEN r.receipt THEN 'receipts' ELSE 'inspections' END, count(*)
		  FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, i.link_id IS NOT NULL AS receipt
				  FROM shilian.inspection i
				 WHERE i.link_id IS NOT NULL
					OR i.batch_id NOT IN (SELECT b.id FROM shilian.batch b WHERE b.origin = 'first_entry')
				UNION ALL
				SELECT f.operator_id, shilian.platform_date(f.inspected_at), f.rn = 1
				  FROM (SELECT i.operator_id, i.inspected_at, i.kind,
							row_number() OVER (PARTITION BY i.batch_id ORDER BY i.id) AS rn
						  FROM shilian.inspection i JOIN shilian.batch b ON b.id = i.batch_id
						 WHERE b.origin = 'first_entry' AND i.link_id IS NULL) f) r
		 GROUP BY 1, 2, 3
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
				 WHERE i.kind = 'incoming' AND (i.link_id IS NOT NULL OR b.origin = 'first_entry')) c
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

-- sql/src/60_regulator.sql
CREATE OR REPLACE FUNCTION record_events() RETURNS TABLE (operator_id bigint, on_date date)
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT b.owner_id, b.produced_on FROM shilian.batch b
	 WHERE b.origin IN ('produced', 'transformed')
	UNION ALL
	SELECT l.seller_id, l.shipped_on FROM shilian.link l WHERE l.kind = 'ship'
	UNION ALL
	SELECT i.operator_id, shilian.platform_date(i.inspected_at) FROM shilian.inspection i
	UNION ALL
	SELECT c.operator_id, shilian.platform_date(c.at) FROM shilian.consumption c
	$$;

-- sql/src/64_figures.sql
CREATE OR REPLACE FUNCTION station_figures_scan(code text, period daterange, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	-- the license_no = operator is shilian's, whatever the caller's path;
	-- room to hash a province's million operators in memory
	SET search_path = pg_catalog, shilian, pg_temp
	SET work_mem = '256MB'
	AS $$
#variable_conflict use_column
DECLARE
	stations text[];
	everything boolean;
	big boolean;
	whole_month boolean;
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures_scan.code);
	-- the subtree's stations as a value, so that the plan is made for its size
	-- (index probes for a county, hash joins for a province); the only
	-- province of the database is every station: no filter at all
	stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE station_figures_scan.code = ANY (j.ancestors));
	everything := (SELECT j.level = 'province' FROM shilian.jurisdiction j WHERE j.code = station_figures_scan.code)
		AND NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.level = 'province' AND j.code <> station_figures_scan.code);
	big := everything OR cardinality(stations) > 200;
	-- a whole calendar month reads operator_month, any other period operator_day
	whole_month := NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)
		AND lower(period) = date_trunc('month', lower(period)::timestamp)::date
		AND upper(period) = (lower(period) + interval '1 month')::date;
	-- planned on every call with the values above (EXECUTE), so that the
	-- branches for the other size of subtree and period fold away
	RETURN QUERY EXECUTE '
	WITH act AS (
		-- the period''s counters, per operator
		SELECT m.operator_id, m.via_client::bigint AS via_client, m.receipts::bigint AS receipts,
			m.receipts_complete::bigint AS receipts_complete
		  FROM shilian.operator_month m
		 WHERE $4 AND m.month = lower($2) AND m.records > 0
		   AND ($6 OR m.operator_id IN (SELECT o.id FROM shilian.operator o WHERE o.station = ANY ($1)))
		UNION ALL
		SELECT d.operator_id, sum(d.via_client), sum(d.receipts), sum(d.receipts_complete)
		  FROM shilian.operator_day d
		 WHERE NOT $4 AND d.day <@ $2 AND d.records > 0
		   AND ($6 OR d.operator_id IN (SELECT o.id FROM shilian.operator o WHERE o.station = ANY ($1)))
		 GROUP BY d.operator_id
	), per_op AS (
		SELECT o.station, o.segment, o.status = ''active'' AS active_status, o.own_system,
			a.operator_id IS NOT NULL AS recorded, coalesce(a.via_client, 0) AS via_client,
			coalesce(a.receipts, 0) AS receipts, coalesce(a.receipts_complete, 0) AS receipts_complete,
			-- dealing in a key category (a licence''s scope) or of a key catering kind;
			-- a big subtree hashes the holders once (IN), a small one probes
			-- the index per operator (EXISTS)
			(o.kinds && shilian.key_catering_kinds()
				OR CASE WHEN $6
					THEN o.id IN (SELECT li.operator_id FROM shilian.licence li
								   WHERE li.scope && shilian.key_categories())
					ELSE EXISTS (SELECT 1 FROM shilian.licence li
								  WHERE li.operator_id = o.id AND li.scope && shilian.key_categories()) END) AS key,
			-- a sale to it shipped in the period still pending
			CASE WHEN $6
				THEN o.id IN (SELECT l.buyer_id FROM shilian.link l
							   WHERE l.status = ''pending'' AND l.kind = ''ship'' AND l.shipped_on <@ $2)
				ELSE EXISTS (SELECT 1 FROM shilian.link l
							  WHERE l.buyer_id = o.id AND l.status = ''pending'' AND l.kind = ''ship''
								AND l.shipped_on <@ $2) END AS unreceived
		  FROM shilian.operator o
		  LEFT JOIN act a ON a.operator_id = o.id
		 WHERE $5 OR o.station = ANY ($1)
		-- not pulled up: each row''s expressions above are computed once
		OFFSET 0
	), opsum AS (
		SELECT p.station, p.segment, count(*) AS operators, count(*) FILTER (WHERE p.recorded) AS active_operators,
			count(*) FILTER (WHERE p.active_status AND p.key) AS key_operators,
			count(*) FILTER (WHERE p.active_status AND p.key AND p.recorded AND NOT p.unreceived) AS key_covered,
			count(*) FILTER (WHERE p.active_status AND p.own_system) AS own_system_operators,
			count(*) FILTER (WHERE p.active_status AND p.own_system AND p.via_client > 0) AS own_system_uploading,
			sum(p.receipts) AS receipts, sum(p.receipts_complete) AS receipts_complete
		  FROM per_op p GROUP BY p.station, p.segment
	), roll AS (
		-- the roll does not depend on the period: with_roll false skips it
		SELECT r.station, r.segment, count(*) AS licensed, count(o.status) AS registered,
			count(*) FILTER (WHERE o.status = ''active'') AS activated
		  FROM shilian.operator_roll r
		  LEFT JOIN shilian.licence li ON li.licence_no = r.licence_no
		  LEFT JOIN shilian.operator o ON o.id = li.operator_id
		 WHERE $3 AND ($5 OR r.station = ANY ($1))
		 GROUP BY r.station, r.segment
	)
	SELECT coalesce(r.station, o.station), coalesce(r.segment, o.segment),
		coalesce(r.licensed, 0), coalesce(r.registered, 0), coalesce(r.activated, 0),
		coalesce(o.operators, 0), coalesce(o.active_operators, 0),
		coalesce(o.key_operators, 0), coalesce(o.key_covered, 0),
		coalesce(o.own_system_operators, 0), coalesce(o.own_system_uploading, 0),
		coalesce(o.receipts, 0)::bigint, coalesce(o.receipts_complete, 0)::bigint
	  FROM roll r FULL JOIN opsum o ON o.station = r.station AND o.segment = r.segment'
	USING stations, period, with_roll, whole_month, everything, big;
END
$$;

CREATE OR REPLACE FUNCTION station_figures_month(code text, month date, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	stations text[];
	seen text[];
	first date := date_trunc('month', station_figures_month.month::timestamp)::date;
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures_month.code);
	stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE station_figures_month.code = ANY (j.ancestors));
	-- the home stations of the licence holders the caller may see (NULL: all)
	IF current_setting('role') = 'shilian_regulator' THEN
		seen := ARRAY(SELECT s FROM shilian.subtree_stations() AS s);
	END IF;
	-- planned with the values (EXECUTE): hashed station sets for a province
	RETURN QUERY EXECUTE '
	WITH st AS (
		SELECT DISTINCT unnest($1) AS station
	), r AS (
		SELECT r.station, r.segment, sum(r.licensed)::bigint AS licensed,
			coalesce(sum(r.registered) FILTER (WHERE $2 IS NULL OR r.holder_station = ANY ($2)), 0)::bigint AS registered,
			coalesce(sum(r.activated) FILTER (WHERE $2 IS NULL OR r.holder_station = ANY ($2)), 0)::bigint AS activated
		  FROM shilian.roll_station r JOIN st ON st.station = r.station
		 WHERE $4
		 GROUP BY r.station, r.segment
	), o AS (
		SELECT o.* FROM shilian.operator_station o JOIN st ON st.station = o.station
	), m AS (
		SELECT m.* FROM shilian.station_month m JOIN st ON st.station = m.station WHERE m.month = $3
	), p AS (
		-- of the active 10+3 operators that recorded in the month, those
		-- with a sale to them shipped in the month still pending
		-- (a big subtree joins the month''s pending buyers, a small one
		-- probes link_buyer_pending_idx per operator of the subtree)
		SELECT o.station, o.segment, count(*) AS n
		  FROM shilian.operator o JOIN st ON st.station = o.station
		 WHERE ' || CASE WHEN cardinality(stations) > 200 THEN
			'o.id IN (SELECT l.buyer_id FROM shilian.link l
					   WHERE l.status = ''pending'' AND l.kind = ''ship''
						 AND l.shipped_on >= $3 AND l.shipped_on < ($3 + interval ''1 month'')::date)'
		ELSE
			'CASE WHEN true THEN EXISTS (SELECT 1 FROM shilian.link l
					  WHERE l.buyer_id = o.id AND l.status = ''pending'' AND l.kind = ''ship''
						AND l.shipped_on >= $3 AND l.shipped_on < ($3 + interval ''1 month'')::date) END' END || '
		   AND o.status = ''active''
		   AND EXISTS (SELECT 1 FROM shilian.operator_month om
						WHERE om.operator_id = o.id AND om.month = $3 AND om.records > 0)
		   -- operator_is_key, written out (a function with a sub-select is not inlined)
		   AND (o.kinds && shilian.key_catering_kinds()
				OR EXISTS (SELECT 1 FROM shilian.licence li
							WHERE li.operator_id = o.id AND li.scope && shilian.key_categories()))
		 GROUP BY o.station, o.segment
	)
	SELECT coalesce(r.station, o.station), coalesce(r.segment, o.segment),
		coalesce(r.licensed, 0), coalesce(r.registered, 0), coalesce(r.activated, 0),
		coalesce(o.operators, 0), coalesce(m.active_operators, 0),
		coalesce(o.key_operators, 0), coalesce(m.key_recorded, 0) - coalesce(p.n, 0),
		coalesce(o.own_system_operators, 0), coalesce(m.own_system_uploading, 0),
		coalesce(m.receipts, 0), coalesce(m.receipts_complete, 0)
	  FROM r FULL JOIN o ON o.station = r.station AND o.segment = r.segment
	  LEFT JOIN m ON m.station = coalesce(r.station, o.station) AND m.segment = coalesce(r.segment, o.segment)
	  LEFT JOIN p ON p.station = coalesce(r.station, o.station) AND p.segment = coalesce(r.segment, o.segment)'
	USING stations, seen, first, with_roll;
END
$$;

CREATE OR REPLACE FUNCTION station_figures(code text, period daterange, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- a whole calendar month reads the per-station rollups
	-- (station_figures_month), any other period counts operators
	-- (station_figures_scan); both check the subtree again, and so does
	-- this function, before either, so that the error names the function
	-- that was called:
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures.code);
	IF NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)
		AND lower(period) = date_trunc('month', lower(period)::timestamp)::date
		AND upper(period) = (lower(period) + interval '1 month')::date THEN
		RETURN QUERY SELECT * FROM shilian.station_figures_month(station_figures.code, lower(period), with_roll);
	ELSE
		RETURN QUERY SELECT * FROM shilian.station_figures_scan(station_figures.code, period, with_roll);
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION monthly_report_rows(month date, code text)
	RETURNS TABLE (jurisdiction text, name text, level text, parent text, total boolean,
		demonstration boolean, figure text, value numeric, previous numeric, change numeric,
		rank bigint, target numeric, met boolean)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(monthly_report_rows.code);
	RETURN QUERY
	WITH m AS (
		SELECT date_trunc('month', monthly_report_rows.month::timestamp)::date AS first
	), per AS (
		SELECT 'this' AS which, daterange(m.first, (m.first + interval '1 month')::date) AS period FROM m
		UNION ALL
		SELECT 'prev', daterange((m.first - interval '1 month')::date, m.first) FROM m
	), f AS (
		SELECT p.which, f.* FROM per p, LATERAL shilian.station_figures(monthly_report_rows.code, p.period, p.which = 'this') f
	), rows AS (
		-- the asked jurisdiction and the cities and counties below it
		SELECT j.code, j.name, j.level, j.parent, j.code = monthly_report_rows.code AS total
		  FROM shilian.jurisdiction j
		 WHERE monthly_report_rows.code = ANY (j.ancestors)
		   AND (j.code = monthly_report_rows.code OR j.level IN ('city', 'county'))
	), sums AS (
		SELECT r.code, p.which,
			shilian.share(coalesce(sum(f.registered), 0)::bigint, coalesce(sum(f.licensed), 0)::bigint) AS registration_rate,
			shilian.share(coalesce(sum(f.active_operators), 0)::bigint, coalesce(sum(f.operators), 0)::bigint) AS activity_rate,
			shilian.share(coalesce(sum(f.key_covered), 0)::bigint, coalesce(sum(f.key_operators), 0)::bigint) AS coverage_rate,
			shilian.share(coalesce(sum(f.own_system_uploading), 0)::bigint,
				coalesce(sum(f.own_system_operators), 0)::bigint) AS upload_rate
		  FROM rows r CROSS JOIN (VALUES ('this'), ('prev')) p(which)
		  LEFT JOIN shilian.jurisdiction s ON r.code = ANY (s.ancestors) AND s.level = 'station'
		  LEFT JOIN f ON f.station = s.code AND f.which = p.which
		 GROUP BY r.code, p.which
	), tgt AS (
		-- the nearest row of assessment_target at or above each jurisdiction
		SELECT r.code, t.*
		  FROM rows r JOIN shilian.jurisdiction j ON j.code = r.code
		  LEFT JOIN LATERAL (
			SELECT t.demonstration, t.registration_rate, t.activity_rate, t.coverage_rate, t.upload_rate
			  FROM shilian.assessment_target t
			 WHERE t.code = ANY (j.ancestors)
			 ORDER BY array_position(j.ancestors, t.code) DESC LIMIT 1) t ON true
	), fig AS (
		SELECT r.code, r.name, r.level, r.parent, r.total, coalesce(t.demonstration, false) AS demonstration,
			x.figure, x.ord, x.value, x.previous, x.target
		  FROM rows r
		  JOIN sums a ON a.code = r.code AND a.which = 'this'
		  JOIN sums b ON b.code = r.code AND b.which = 'prev'
		  LEFT JOIN tgt t ON t.code = r.code
		  CROSS JOIN LATERAL (VALUES
			-- the roll is not dated: last month's registration rate is taken as this month's
			('registration_rate', 1, a.registration_rate, a.registration_rate, t.registration_rate),
			('activity_rate', 2, a.activity_rate, b.activity_rate, t.activity_rate),
			('coverage_rate', 3, a.coverage_rate, b.coverage_rate, t.coverage_rate),
			('upload_rate', 4, a.upload_rate, b.upload_rate, t.upload_rate)) x(figure, ord, value, previous, target)
	)
	SELECT f.code, f.name, f.level, f.parent, f.total, f.demonstration, f.figure, f.value, f.previous,
		f.value - f.previous,
		CASE WHEN NOT f.total AND f.value IS NOT NULL
			THEN rank() OVER (PARTITION BY f.parent, f.figure, f.total ORDER BY f.value DESC NULLS LAST) END,
		f.target, f.value >= f.target
	  FROM fig f
	 ORDER BY f.total DESC, f.level, f.code, f.ord;
END
$$;

-- sql/src/66_findings.sql
CREATE OR REPLACE FUNCTION findings_broken_chain(stations text[], ops bigint[], period daterange, pending_days integer,
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
				 ON li.licence_no = coalesce(b.supplier_licence, shilian.try_license_no(b.supplier->>'licence'))
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
			SELECT shilian.platform_date(coalesce(i.inspected_at, b.created_at)) AS on_date, b.id AS batch, b.expires_on,
				i.id IS NOT NULL AS inspected
			  FROM shilian.batch b
			  LEFT JOIN LATERAL (SELECT i.id, i.inspected_at FROM shilian.inspection i
								  WHERE i.batch_id = b.id AND i.kind = 'incoming' ORDER BY i.id LIMIT 1) i ON true
			 WHERE b.owner_id = o.id AND b.origin = 'first_entry'
			   AND shilian.platform_date(coalesce(i.inspected_at, b.created_at)) <@ period
			OFFSET 0) r
	), lic AS MATERIALIZED (
		-- operators whose every licence ended before today (and before the
		-- end of the period): their last valid day
		SELECT li.operator_id, max(li.valid_to) AS valid_to
		  FROM o JOIN shilian.licence li ON li.operator_id = o.id
		 GROUP BY li.operator_id
		HAVING max(li.valid_to) < shilian.platform_today()
		   AND (upper(period) IS NULL OR max(li.valid_to) < upper(period))
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

CREATE OR REPLACE FUNCTION broken_chain(code text, period daterange, pending_days integer DEFAULT 3)
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

CREATE OR REPLACE FUNCTION spot_check_sample(code text, quarter text, n integer, seed bigint)
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
		  FROM (SELECT 'incoming' AS kind, i.id
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

CREATE OR REPLACE FUNCTION alerts_scan(as_of date DEFAULT shilian.platform_today()) RETURNS integer
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

-- sql/src/75_epcis.sql
CREATE OR REPLACE FUNCTION epcis_apply_event(job bigint, idx int, ev jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	typ text;
	act text;
	step text;
	disp text;
	t timestamptz;
	tz text;
	local_day date;
	eid text;
	prior bigint;
	op bigint;
	other bigint;
	q record;
	code shilian.trace_code;
	lnk bigint;
	expires date;
	batches text[] := '{}';
	links text[] := '{}';
	inspections text[] := '{}';
	consumptions text[] := '{}';
	classes text[] := '{}';
	anyc text[] := '{}';
	inputs shilian.trace_code[] := '{}';
	qtys shilian.qty[] := '{}';
	outp record;
	n int;
BEGIN
	IF jsonb_typeof(ev) IS DISTINCT FROM 'object' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, NULL, 'an event must be a JSON object');
	END IF;
	-- required fields of every event
	typ := ev ->> 'type';
	IF typ IS NULL THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'type', 'missing field "type"');
	END IF;
	IF typ NOT IN ('ObjectEvent', 'AggregationEvent', 'TransactionEvent', 'TransformationEvent', 'AssociationEvent') THEN
		PERFORM shilian.epcis_refuse('SLE02', idx, 'type', format('unknown event type "%s"', typ));
	END IF;
	IF jsonb_typeof(ev -> 'eventTime') IS DISTINCT FROM 'string' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTime', 'missing field "eventTime"');
	END IF;
	IF jsonb_typeof(ev -> 'eventTimeZoneOffset') IS DISTINCT FROM 'string' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTimeZoneOffset', 'missing field "eventTimeZoneOffset"');
	END IF;
	tz := ev ->> 'eventTimeZoneOffset';
	IF tz !~ '^[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)$' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTimeZoneOffset',
			format('invalid eventTimeZoneOffset "%s"', tz), 'Write it as +hh:mm or -hh:mm, e.g. +08:00.');
	END IF;
	IF ev ->> 'eventTime' !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTime',
			format('invalid eventTime "%s"', ev ->> 'eventTime'),
			'Write an ISO 8601 date-time with its offset, e.g. 2026-11-20T08:00:00+08:00.');
	END IF;
	BEGIN
		t := (ev ->> 'eventTime')::timestamptz;
	EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTime',
			format('invalid eventTime "%s"', ev ->> 'eventTime'), 'The date or time is out of range.');
	END;
	-- the platform's day of the event (shilian.timezone), as for every record
	local_day := shilian.platform_date(t);
	IF typ = 'ObjectEvent' THEN
		act := ev ->> 'action';
		IF act IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE01', idx, 'action', 'missing field "action"');
		END IF;
		IF act NOT IN ('ADD', 'OBSERVE', 'DELETE') THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, 'action', format('unknown action "%s"', act),
				'Use ADD, OBSERVE or DELETE.');
		END IF;
	END IF;
	IF ev ? 'bizStep' THEN
		step := shilian.epcis_cbv('bizStep', ev ->> 'bizStep');
		IF step IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, 'bizStep', format('unknown bizStep "%s"', ev ->> 'bizStep'),
				'Use a CBV 2.0 business step: a bare name such as "shipping", https://ref.gs1.org/cbv/BizStep-shipping or urn:epcglobal:cbv:bizstep:shipping.');
		END IF;
	END IF;
	IF ev ? 'disposition' THEN
		disp := shilian.epcis_cbv('disposition', ev ->> 'disposition');
		IF disp IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, 'disposition',
				format('unknown disposition "%s"', ev ->> 'disposition'),
				'Use a CBV 2.0 disposition: a bare name such as "in_transit", https://ref.gs1.org/cbv/Disp-in_transit or urn:epcglobal:cbv:disp:in_transit.');
		END IF;
	END IF;
	IF jsonb_typeof(ev -> 'epcList') = 'array' AND jsonb_array_length(ev -> 'epcList') > 0 THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList', 'instance-level identifiers (epcList) are not recorded',
			'This platform records lots: give each lot as a quantityElement (epcClass, quantity, uom).');
	END IF;
	IF typ NOT IN ('ObjectEvent', 'TransformationEvent') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'type', format('%s is not recorded', typ),
			'Capture ObjectEvents and TransformationEvents (docs/integration.md lists the mapping).');
	END IF;

	-- the eventID: a repeat of a captured one is refused
	IF ev ? 'eventID' THEN
		IF jsonb_typeof(ev -> 'eventID') <> 'string' OR ev ->> 'eventID' !~ '^[A-Za-z][A-Za-z0-9+.-]*:' THEN
			PERFORM shilian.epcis_refuse('SLE01', idx, 'eventID', 'the eventID must be a URI');
		END IF;
		eid := ev ->> 'eventID';
		SELECT e.job_id INTO prior FROM shilian.epcis_event e WHERE e.event_id = eid;
		IF FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'unique_violation',
				MESSAGE = format('EPCIS event %s: duplicate eventID "%s"', idx, eid),
				DETAIL = format('The event was captured before, by capture job %s.', prior),
				HINT = 'An event is captured once; a correction is a new event with its own eventID.';
		END IF;
	ELSE
		eid := 'urn:uuid:' || gen_random_uuid();
	END IF;

	-- the acting operator: bizLocation, else readPoint, else the caller's
	op := coalesce(shilian.epcis_party(ev #>> '{bizLocation,id}', idx, 'bizLocation/id'),
		shilian.epcis_party(ev #>> '{readPoint,id}', idx, 'readPoint/id'),
		shilian.current_operator());
	IF op IS NULL THEN
		PERFORM shilian.epcis_refuse('SLE04', idx, 'bizLocation', 'no operator named',
			'Set bizLocation (or readPoint) id to urn:shilian:operator:<id> or urn:shilian:uscc:<USCC>.');
	END IF;
	-- nothing about another operator's batches before the caller is known to be admitted
	PERFORM shilian.require_see(op);

	IF typ = 'TransformationEvent' THEN
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'inputQuantityList') LOOP
			inputs := inputs || shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			qtys := qtys || q.qty;
			anyc := anyc || q.keys;
		END LOOP;
		SELECT count(*) INTO n FROM jsonb_array_elements(ev -> 'outputQuantityList');
		IF n <> 1 THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'outputQuantityList',
				'a TransformationEvent is recorded with exactly one output lot',
				'Split a transformation with several outputs into one event per output lot.');
		END IF;
		SELECT * INTO outp FROM shilian.epcis_quantities(ev, idx, 'outputQuantityList');
		anyc := anyc || outp.keys;
		expires := shilian.epcis_expiry(ev, idx);
		code := shilian.transform(inputs, qtys, outp.product, outp.qty, local_day, outp.lot, expires, op);
		batches := batches || code::text;
	ELSIF act = 'ADD' AND step = 'commissioning' THEN
		expires := shilian.epcis_expiry(ev, idx);
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.batch_create(op, q.product, q.qty, local_day, q.lot, expires,
				ev -> 'shilian:certificate');
			batches := batches || code::text;
			classes := classes || q.keys;
		END LOOP;
	ELSIF act = 'OBSERVE' AND step = 'shipping' THEN
		-- the seller: sourceList owning party if given, else the acting operator
		op := coalesce(shilian.epcis_list_party(ev, idx, 'sourceList', 'source'), op);
		PERFORM shilian.require_see(op);
		other := shilian.epcis_list_party(ev, idx, 'destinationList', 'destination');
		IF other IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'destinationList', 'shipping needs the buyer in destinationList',
				'Add {"type": "owning_party", "destination": "urn:shilian:operator:<id>"}.');
		END IF;
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			lnk := shilian.ship(code, other, q.qty, local_day, op);
			links := links || lnk::text;
			classes := classes || q.keys;
		END LOOP;
	ELSIF act = 'OBSERVE' AND step IN ('receiving', 'accepting') THEN
		-- the seller from sourceList; the buyer is the acting operator
		other := shilian.epcis_list_party(ev, idx, 'sourceList', 'source');
		IF other IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'sourceList', format('%s needs the seller in sourceList', step),
				'Add {"type": "owning_party", "source": "urn:shilian:operator:<id>"}.');
		END IF;
		op := coalesce(shilian.epcis_list_party(ev, idx, 'destinationList', 'destination'), op);
		PERFORM shilian.require_see(op);
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			-- the pending sale of this lot from that seller: the one of this
			-- quantity if there is one, else the oldest
			SELECT l.id INTO lnk FROM shilian.link l JOIN shilian.batch b ON b.id = l.from_batch
			 WHERE l.buyer_id = op AND l.seller_id = other AND l.status = 'pending' AND l.kind = 'ship'
			   AND b.product_id = q.product AND b.lot = q.lot
			 ORDER BY l.qty_shipped OPERATOR(shilian.=) q.qty DESC, l.id LIMIT 1;
			IF NOT FOUND THEN
				PERFORM shilian.epcis_refuse('SLE06', idx, 'quantityList',
					format('no pending shipment of %s from operator %s to operator %s', q.epc_class, other, op),
					'Capture the seller''s shipping event first.');
			END IF;
			code := shilian.receive(lnk, q.qty, coalesce(ev -> 'shilian:inspection', '{}'), t,
				ev ->> 'shilian:rejectReason');
			links := links || lnk::text;
			batches := batches || code::text;
			classes := classes || q.keys;
		END LOOP;
	ELSIF act IN ('OBSERVE', 'DELETE') AND step IN ('destroying', 'retail_selling') THEN
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			consumptions := consumptions || shilian.consume(code, q.qty,
				CASE step WHEN 'destroying' THEN 'destroyed' ELSE 'retail_sold' END, t, eid, op)::text;
			classes := classes || q.keys;
		END LOOP;
	ELSIF act = 'OBSERVE' AND step = 'inspecting' THEN
		IF disp IS NULL OR disp NOT IN ('conformant', 'non_conformant') THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'disposition',
				'inspecting needs disposition conformant or non_conformant (the result)');
		END IF;
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			inspections := inspections || shilian.inspect(code, coalesce(ev ->> 'shilian:inspectionKind', 'release'),
				CASE disp WHEN 'conformant' THEN 'pass' ELSE 'fail' END,
				coalesce(ev -> 'shilian:report', '{}'), t, op)::text;
			classes := classes || q.keys;
		END LOOP;
	ELSE
		PERFORM shilian.epcis_refuse('SLE05', idx, 'bizStep',
			format('no record for an %s with action %s and bizStep %s', typ, coalesce(act, 'null'), coalesce(step, 'null')),
			'Recorded: ADD commissioning, OBSERVE shipping, OBSERVE receiving/accepting, OBSERVE inspecting, OBSERVE/DELETE destroying or retail_selling, and TransformationEvents.');
	END IF;

	IF typ = 'ObjectEvent' THEN
		anyc := classes;
	END IF;
	INSERT INTO shilian.epcis_event (job_id, event_index, event_id, event_hash, type, action, event_time,
		biz_step, disposition, epc_classes, any_classes, parties, records, event)
	VALUES (job, idx, eid, sha256(convert_to(ev::text, 'UTF8')), typ, act, t,
		step, disp, classes, anyc,
		ARRAY(SELECT DISTINCT x FROM unnest(ARRAY[op, other]) x WHERE x IS NOT NULL ORDER BY 1),
		jsonb_strip_nulls(jsonb_build_object(
			'batches', nullif(batches, '{}'), 'links', nullif(links, '{}'),
			'inspections', nullif(inspections, '{}'), 'consumptions', nullif(consumptions, '{}'))),
		ev || jsonb_build_object('eventID', eid));
END
$$;

-- CREATE OR REPLACE resets what parts 80 and 85 set on these functions afterwards:
-- set it again (sql/src/80_security.sql, sql/src/85_trace_security.sql).
ALTER FUNCTION batch_create(bigint, bigint, qty, date, text, date, jsonb)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION ship(trace_code, bigint, qty, date, bigint)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION receive_first_entry(bigint, bigint, qty, jsonb, jsonb, date, timestamptz, text, jsonb)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION transform(trace_code[], qty[], bigint, qty, date, text, date, bigint)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION public_trace(trace_code) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recall_export(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- part 25 (sql/src/62_rollup.sql): the counter flush adds the station rollup
-- itself, in key order, so no row trigger of operator_month runs at commit.
DROP TRIGGER rollup_ins ON operator_month;
DROP TRIGGER rollup_upd ON operator_month;
DROP FUNCTION rollup_month_flushed();
