-- shilian upgrade script 0.2.0 -> 0.3.0, part 30: consistent SQL names
-- (issue 17, docs/sql-reference.md "Names"): the spelling licence, *_at for
-- timestamps, record_completeness by the id of the record its kind names,
-- plain array literals for transform, trace links at the event's own time,
-- trace_graph under row-level security, recall recipients. Old names stay
-- one version as deprecated aliases (docs/development.md).

-- ---- licence, one spelling ------------------------------------------------------
-- The type keeps its OID (columns, the functions taking it, the operators
-- follow the rename); the support functions, operator classes and families
-- are renamed to match; C symbols stay (they are the 0.2.0 library's).
ALTER TYPE license_no RENAME TO licence_no;

ALTER FUNCTION license_no_in(cstring) RENAME TO licence_no_in;

ALTER FUNCTION license_no_out(licence_no) RENAME TO licence_no_out;

ALTER FUNCTION license_no_recv(internal) RENAME TO licence_no_recv;

ALTER FUNCTION license_no_send(licence_no) RENAME TO licence_no_send;

ALTER FUNCTION license_no_eq(licence_no, licence_no) RENAME TO licence_no_eq;

ALTER FUNCTION license_no_ne(licence_no, licence_no) RENAME TO licence_no_ne;

ALTER FUNCTION license_no_lt(licence_no, licence_no) RENAME TO licence_no_lt;

ALTER FUNCTION license_no_le(licence_no, licence_no) RENAME TO licence_no_le;

ALTER FUNCTION license_no_gt(licence_no, licence_no) RENAME TO licence_no_gt;

ALTER FUNCTION license_no_ge(licence_no, licence_no) RENAME TO licence_no_ge;

ALTER FUNCTION license_no_cmp(licence_no, licence_no) RENAME TO licence_no_cmp;

ALTER FUNCTION license_no_sortsupport(internal) RENAME TO licence_no_sortsupport;

ALTER FUNCTION license_no_hash(licence_no) RENAME TO licence_no_hash;

ALTER FUNCTION license_no_hash_extended(licence_no, bigint) RENAME TO licence_no_hash_extended;

ALTER OPERATOR CLASS license_no_ops USING btree RENAME TO licence_no_ops;

ALTER OPERATOR FAMILY license_no_ops USING btree RENAME TO licence_no_ops;

ALTER OPERATOR CLASS license_no_ops USING hash RENAME TO licence_no_ops;

ALTER OPERATOR FAMILY license_no_ops USING hash RENAME TO licence_no_ops;

ALTER FUNCTION license_kind(licence_no) RENAME TO licence_kind;

ALTER FUNCTION license_category(licence_no) RENAME TO licence_category;

ALTER FUNCTION license_region(licence_no) RENAME TO licence_region;

ALTER FUNCTION license_check_ok(licence_no) RENAME TO licence_check_ok;

ALTER FUNCTION try_license_no(text) RENAME TO try_licence_no;

-- the comments name the type
COMMENT ON TYPE licence_no IS
	'Food licence number: SC (production) or JY (business) + 14 digits, or a registration card (TF, XCY, XZF + 14 digits); 8 bytes, passed by value.';
COMMENT ON FUNCTION licence_no_in(cstring) IS
	'licence_no input: trims, upper-cases the prefix, checks prefix, length, digits and kind digit; the MOD 11,10 check digit only under shilian.licence_strict.';
COMMENT ON FUNCTION licence_no_out(licence_no) IS 'licence_no output: prefix + 14 digits.';
COMMENT ON FUNCTION licence_no_recv(internal) IS 'licence_no binary input: format version byte 1, then the text; runs every check of licence_no input.';
COMMENT ON FUNCTION licence_no_send(licence_no) IS 'licence_no binary output: format version byte 1, then the text.';
COMMENT ON FUNCTION licence_no_eq(licence_no, licence_no) IS 'licence_no equal.';
COMMENT ON FUNCTION licence_no_ne(licence_no, licence_no) IS 'licence_no not equal.';
COMMENT ON FUNCTION licence_no_lt(licence_no, licence_no) IS 'licence_no less than (in text order).';
COMMENT ON FUNCTION licence_no_le(licence_no, licence_no) IS 'licence_no less than or equal (in text order).';
COMMENT ON FUNCTION licence_no_gt(licence_no, licence_no) IS 'licence_no greater than (in text order).';
COMMENT ON FUNCTION licence_no_ge(licence_no, licence_no) IS 'licence_no greater than or equal (in text order).';
COMMENT ON OPERATOR = (licence_no, licence_no) IS 'licence_no equal';
COMMENT ON OPERATOR <> (licence_no, licence_no) IS 'licence_no not equal';
COMMENT ON OPERATOR < (licence_no, licence_no) IS 'licence_no less than (in text order)';
COMMENT ON OPERATOR <= (licence_no, licence_no) IS 'licence_no less than or equal (in text order)';
COMMENT ON OPERATOR > (licence_no, licence_no) IS 'licence_no greater than (in text order)';
COMMENT ON OPERATOR >= (licence_no, licence_no) IS 'licence_no greater than or equal (in text order)';
COMMENT ON FUNCTION licence_no_cmp(licence_no, licence_no) IS 'btree support: -1, 0 or 1, in text order.';
COMMENT ON FUNCTION licence_no_sortsupport(internal) IS 'btree sort support for licence_no.';
COMMENT ON FUNCTION licence_no_hash(licence_no) IS 'hash support: 32-bit hash of a licence_no.';
COMMENT ON FUNCTION licence_no_hash_extended(licence_no, bigint) IS 'hash support: seeded 64-bit hash of a licence_no.';
COMMENT ON OPERATOR CLASS licence_no_ops USING btree IS 'B-tree support for licence_no, in text order.';
COMMENT ON OPERATOR CLASS licence_no_ops USING hash IS 'Hash index and hash join support for licence_no.';
COMMENT ON FUNCTION licence_kind(licence_no) IS
	'The prefix: SC (food production licence), JY (food business licence), or a registration card: TF (food vendor), XCY (small catering), XZF (food workshop).';
COMMENT ON FUNCTION licence_category(licence_no) IS
	'SC: the 3-digit category code (kind 1 food / 2 additive + 2-digit food category); JY: the business type (1 sales, 2 catering, 3 unit canteen); registration cards: NULL.';
COMMENT ON FUNCTION licence_region(licence_no) IS
	'The 6-digit region field of the issuing authority (usually, not always, a GB/T 2260 code).';
COMMENT ON FUNCTION licence_check_ok(licence_no) IS
	'True if the last digit is the ISO/IEC 7064 MOD 11,10 check digit of the 13 digits before it (no official algorithm is published; most real numbers match).';


-- the 0.2.0 names, deprecated
CREATE DOMAIN license_no AS licence_no;
COMMENT ON DOMAIN license_no IS
	'DEPRECATED (removed in 0.4.0): use licence_no. A domain over licence_no without constraints.';
CREATE FUNCTION license_kind(licence_no) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.licence_kind($1);
COMMENT ON FUNCTION license_kind(licence_no) IS
	'DEPRECATED (removed in 0.4.0): use licence_kind.';
CREATE FUNCTION license_category(licence_no) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.licence_category($1);
COMMENT ON FUNCTION license_category(licence_no) IS
	'DEPRECATED (removed in 0.4.0): use licence_category.';
CREATE FUNCTION license_region(licence_no) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.licence_region($1);
COMMENT ON FUNCTION license_region(licence_no) IS
	'DEPRECATED (removed in 0.4.0): use licence_region.';
CREATE FUNCTION license_check_ok(licence_no) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.licence_check_ok($1);
COMMENT ON FUNCTION license_check_ok(licence_no) IS
	'DEPRECATED (removed in 0.4.0): use licence_check_ok.';

-- bodies that name the type or its functions

CREATE OR REPLACE FUNCTION try_licence_no(t text) RETURNS licence_no
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

CREATE OR REPLACE FUNCTION roll_import(source regclass) RETURNS bigint
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	-- source is a regclass: its text form is a quoted, existing relation
	EXECUTE format('INSERT INTO shilian.operator_roll AS r (licence_no, name, station, segment, kinds)'
				   ' SELECT s.licence_no::shilian.licence_no, s.name, s.station, s.segment, s.kinds'
				   '   FROM %s AS s'
				   ' ON CONFLICT (licence_no) DO UPDATE SET name = excluded.name,'
				   ' station = excluded.station, segment = excluded.segment, kinds = excluded.kinds,'
				   ' imported_at = now()', source);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION roll_import(regclass) IS
	'Admin: load or refresh the operator roll from a staging table shaped like operator_roll_stage (licence_no, name, station, segment, kinds); returns the rows loaded.';
REVOKE ALL ON FUNCTION roll_import(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION roll_import(regclass) TO shilian_admin;

CREATE OR REPLACE FUNCTION import_kind_function(kind text) RETURNS regprocedure
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN CASE kind
	WHEN 'operator' THEN 'shilian.operator_register(text,text,text[],text,text,text,shilian.uscc,text,boolean,text)'
	WHEN 'licence' THEN 'shilian.licence_add(bigint,shilian.licence_no,text[],date,date)'
	WHEN 'product' THEN 'shilian.product_register(text,text,integer,text,text,boolean,bigint)'
	WHEN 'batch' THEN 'shilian.batch_create(bigint,bigint,shilian.qty,date,text,date,jsonb)'
	WHEN 'inspection' THEN 'shilian.inspect(shilian.trace_code,text,text,jsonb,timestamptz,bigint)'
	WHEN 'ship' THEN 'shilian.ship(shilian.trace_code,bigint,shilian.qty,date,bigint)'
	WHEN 'receive' THEN 'shilian.receive(bigint,shilian.qty,jsonb,timestamptz,text,shilian.trace_code)'
	WHEN 'transform' THEN 'shilian.transform(shilian.trace_code[],shilian.qty[],bigint,shilian.qty,date,text,date,bigint)'
	WHEN 'consume' THEN 'shilian.consume(shilian.trace_code,shilian.qty,text,timestamptz,text,bigint)'
	END::regprocedure;
COMMENT ON FUNCTION import_kind_function(text) IS
	'The record function an NDJSON line of the given kind calls (operator, licence, product, batch, inspection, ship, receive, transform, consume), or NULL for an unknown kind.';


-- ---- *_at timestamptz, one name per parameter ---------------------------------------
ALTER TABLE consumption RENAME COLUMN at TO consumed_at;
COMMENT ON COLUMN operator_day.consumptions IS 'consume: served, sold at retail, destroyed, kept as a sample (dated consumed_at).';

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
		SELECT c.operator_id, shilian.platform_date(c.consumed_at), 'consumptions', count(*)
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
COMMENT ON FUNCTION operator_day_rebuild() IS
	'Admin: recount shilian.operator_day (and operator_month and the rollups of part 62) from the record tables and the ledger''s sources (after a load with shilian.activity_counters off); returns the (operator, day) rows written.';
REVOKE ALL ON FUNCTION operator_day_rebuild() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_day_rebuild() TO shilian_admin;

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
	SELECT c.operator_id, shilian.platform_date(c.consumed_at) FROM shilian.consumption c
	$$;
COMMENT ON FUNCTION record_events() IS
	'Every record as (operator, event date): batches produced or transformed, sales, inspections (receipts included), consumption; as the caller may see them.';
REVOKE ALL ON FUNCTION record_events() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_events() TO shilian_regulator, shilian_admin;

-- parameters renamed (a C function reads them by position): dropped and
-- made again with the same rights; named-notation callers use the new names
-- (bulk import lines still take consume's "at", import_line_call).
DROP FUNCTION reject(bigint, text, timestamptz);

CREATE FUNCTION reject(link bigint, reject_reason text, rejected_at timestamptz DEFAULT now()) RETURNS void
	AS 'MODULE_PATHNAME', 'sl_reject'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION reject(bigint, text, timestamptz) IS
	'Refuse a whole pending sale with a reason; the shipped quantity returns to the seller''s batch.';
ALTER FUNCTION reject(bigint, text, timestamptz) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION reject(bigint, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reject(bigint, text, timestamptz) TO shilian_operator, shilian_system, shilian_admin;

DROP FUNCTION consume(trace_code, qty, text, timestamptz, text, bigint);

CREATE FUNCTION consume(code trace_code, qty qty, kind text, consumed_at timestamptz DEFAULT now(),
		note text DEFAULT NULL, operator bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_consume'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION consume(trace_code, qty, text, timestamptz, text, bigint) IS
	'Record quantity leaving the chain: served (canteen), retail_sold, destroyed or sample_kept; returns the consumption id.';
ALTER FUNCTION consume(trace_code, qty, text, timestamptz, text, bigint)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION consume(trace_code, qty, text, timestamptz, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION consume(trace_code, qty, text, timestamptz, text, bigint) TO shilian_operator, shilian_system, shilian_admin;

CREATE OR REPLACE FUNCTION import_line_call(kind text, line jsonb) RETURNS text
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fn regprocedure := shilian.import_kind_function(kind);
	p pg_proc;
	field text;
	arg text;
	typ oid;
	args text[] := '{}';
	i int;
	renamed text := CASE kind WHEN 'inspection' THEN 'inspection_kind'
	                          WHEN 'consume' THEN 'consumption_kind' END;
	-- parameters renamed in 0.3.0 whose 0.2.0 field name a line may still use
	-- (deprecated, removed in 0.4.0): parameter -> old field
	old_field jsonb := CASE kind WHEN 'consume' THEN '{"consumed_at": "at"}' ELSE '{}' END;
BEGIN
	IF fn IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Use operator, licence, product, batch, inspection, ship, receive, transform or consume.';
	END IF;
	SELECT * INTO p FROM pg_proc WHERE oid = fn;
	-- every field must name a parameter
	FOR field IN SELECT k FROM jsonb_object_keys(line) k WHERE k <> 'kind' ORDER BY k LOOP
		arg := CASE WHEN field = renamed THEN 'kind'
			ELSE coalesce((SELECT e.key FROM jsonb_each_text(old_field) e WHERE e.value = field), field) END;
		IF arg = 'kind' AND field <> renamed OR NOT (arg = ANY (p.proargnames)) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('unknown field "%s" for kind %s', field, kind),
				HINT = format('The fields of %s are the parameters of %s.', kind, fn::text);
		END IF;
	END LOOP;
	FOR i IN 1 .. p.pronargs LOOP
		arg := p.proargnames[i];
		field := CASE WHEN arg = 'kind' THEN renamed ELSE arg END;
		IF line -> field IS NULL AND old_field ? arg THEN
			field := old_field ->> arg;
		END IF;
		typ := p.proargtypes[i - 1];
		IF line -> field IS NULL OR jsonb_typeof(line -> field) = 'null' THEN
			IF i <= p.pronargs - p.pronargdefaults THEN
				RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
					MESSAGE = format('missing field "%s" for kind %s', field, kind);
			END IF;
			CONTINUE;
		END IF;
		args := args || CASE
			WHEN typ = 'jsonb'::regtype THEN format('%I => $1 -> %L', arg, field)
			WHEN (SELECT t.typcategory = 'A' FROM pg_type t WHERE t.oid = typ) THEN
				format('%I => ARRAY(SELECT jsonb_array_elements_text($1 -> %L))::%s',
					arg, field, format_type(typ, NULL))
			-- dates and timestamps only in their strict forms (strict_date, strict_timestamptz)
			WHEN typ = 'date'::regtype THEN format('%I => shilian.strict_date($1 ->> %L, %L)', arg, field, field)
			WHEN typ = 'timestamptz'::regtype THEN
				format('%I => shilian.strict_timestamptz($1 ->> %L, %L)', arg, field, field)
			ELSE format('%I => ($1 ->> %L)::%s', arg, field, format_type(typ, NULL))
			END;
	END LOOP;
	RETURN format('SELECT %s(%s)::text', fn::oid::regproc::text, array_to_string(args, ', '));
END
$$;
COMMENT ON FUNCTION import_line_call(text, jsonb) IS
	'The statement that applies one NDJSON line (the line is its parameter $1); refuses an unknown kind, an unknown field or a missing required field with 22023.';
REVOKE ALL ON FUNCTION import_line_call(text, jsonb) FROM PUBLIC;


-- ---- record_completeness by the record's own id --------------------------------------

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
		 WHERE i.id = insp AND i.kind = 'incoming' AND shilian.may_see(i.operator_id);
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'SLR22',
				MESSAGE = format('unknown record: no %s has id %s', CASE kind
					WHEN 'incoming' THEN 'incoming inspection' WHEN 'receipt' THEN 'receipt (link)'
					ELSE 'first-entry batch' END, id);
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


-- ---- transform with plain array literals ---------------------------------------
CREATE CAST (text AS trace_code) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (text AS trace_code) IS 'A trace code from its 18 digits as text (trace_code input; implicit, for array literals).';
CREATE CAST (bigint AS trace_code) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (bigint AS trace_code) IS 'A trace code from its 18 digits as a number (trace_code input; implicit, for array literals).';
CREATE CAST (text AS qty) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (text AS qty) IS 'A quantity from its text, e.g. ''2.5 kg'' (qty input; implicit, for array literals).';


-- ---- trace ------------------------------------------------------------------------------
-- A transform's links carry the event's time (extension/records.c,
-- SL_TRANSFORM_AT): the start of the production day in the platform time
-- zone, or the arrival of the last input if later, never after the entry.
-- shilian.timezone is the library's setting: call into the library first, so
-- that it is loaded in this backend whatever ran before.
SELECT shilian.platform_today() IS NOT NULL AS library_loaded;
WITH t AS (
	SELECT l.to_batch,
		GREATEST((b.produced_on::timestamp AT TIME ZONE pg_catalog.current_setting('shilian.timezone')),
			max(il.received_at)) AS at
	  FROM link l
	  JOIN batch b ON b.id = l.to_batch
	  LEFT JOIN link tl ON tl.to_batch = l.to_batch AND tl.kind = 'transform'
	  LEFT JOIN link il ON il.to_batch = tl.from_batch AND il.status = 'received'
	 WHERE l.kind = 'transform'
	 GROUP BY l.to_batch, b.produced_on)
UPDATE link l SET received_at = LEAST(l.received_at, t.at)
  FROM t
 WHERE l.kind = 'transform' AND l.to_batch = t.to_batch AND t.at < l.received_at;

CREATE OR REPLACE FUNCTION trace_graph(code trace_code, direction text DEFAULT 'forward',
		max_depth integer DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	BEGIN ATOMIC
	-- invoker rights, as the walk: every node of the walk, with product and
	-- holder name where the caller may read them (NULL for another holder's
	-- lot, status other_holder); the edges are the links the caller may see
	-- between nodes, their ends named through trace_link_end as the walk does
	WITH t AS (
		SELECT w.*, b.id, p.name AS product, o.name AS holder_name
		  FROM shilian.trace_walk(code, direction, max_depth) w
		  LEFT JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) w.batch
		  LEFT JOIN shilian.product p ON p.id = b.product_id
		  LEFT JOIN shilian.operator o ON o.id = w.holder),
	ed AS (
		SELECT l.id, l.kind, l.from_batch, l.to_batch, l.qty_accepted, l.received_at
		  FROM shilian.link l
		 WHERE l.status = 'received' AND l.received_at <= now()
		   AND (l.id IN (SELECT t.via_link FROM t)
			OR (l.from_batch IN (SELECT t.id FROM t) AND l.to_batch IN (SELECT t.id FROM t)))),
	ends AS (
		SELECT e.id, e.trace_code
		  FROM shilian.trace_link_end(ARRAY(SELECT ed.from_batch FROM ed UNION SELECT ed.to_batch FROM ed)) e)
	SELECT jsonb_build_object(
		'root', code, 'direction', direction,
		'nodes', (SELECT coalesce(jsonb_agg(jsonb_build_object(
				'batch', t.batch, 'holder', t.holder::text, 'holder_name', t.holder_name,
				'product', t.product, 'depth', t.depth, 'via_link', t.via_link::text,
				'qty_reached', t.qty_reached, 'qty_on_hand', t.qty_on_hand, 'status', t.status)
				ORDER BY t.depth, t.batch), '[]') FROM t),
		'edges', (SELECT coalesce(jsonb_agg(jsonb_build_object(
				'link', ed.id::text, 'kind', ed.kind, 'from', f.trace_code, 'to', d.trace_code,
				'qty', ed.qty_accepted, 'received_at', ed.received_at)
				ORDER BY ed.id), '[]')
			FROM ed JOIN ends f ON f.id = ed.from_batch JOIN ends d ON d.id = ed.to_batch
			WHERE EXISTS (SELECT 1 FROM t WHERE t.batch OPERATOR(shilian.=) f.trace_code)
			  AND EXISTS (SELECT 1 FROM t WHERE t.batch OPERATOR(shilian.=) d.trace_code)));
	END;
COMMENT ON FUNCTION trace_graph(trace_code, text, integer) IS
	'The traced sub-graph for drawing: {root, direction, nodes: [batch, holder, product, depth, quantities, status], edges: [link, kind, from, to, qty]}; the nodes are what trace_walk returns to the same caller (product and holder_name NULL where it may not read them).';
REVOKE ALL ON FUNCTION trace_graph(trace_code, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_graph(trace_code, text, integer) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

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
	  -- where it went: every sale out (not rejected) to another operator,
	  -- buyer and date (the holder's own processing is no recipient)
	  LEFT JOIN LATERAL (SELECT string_agg(DISTINCT bo.name, '; ') AS recipients,
			string_agg(DISTINCT to_char(l.shipped_on, 'YYYY-MM-DD'), '; ') AS dates
		FROM shilian.link l JOIN shilian.operator bo ON bo.id = l.buyer_id
		WHERE l.from_batch = b.id AND l.status <> 'rejected'
		  AND l.kind = 'ship' AND l.buyer_id <> t.operator_id) sh ON true
	 WHERE t.recall_id = recall_export.id;
	RETURN out;
END;
$$;
COMMENT ON FUNCTION recall_export(bigint) IS
	'FSMA 204 style sortable CSV (RFC 4180, CRLF) of every affected lot of a recall: lot code, product, quantity and unit, location, receipt and shipment dates, reference document, previous source, recipients, exposed and on-hand quantity.';
REVOKE ALL ON FUNCTION recall_export(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_export(bigint) TO shilian_regulator, shilian_admin;
ALTER FUNCTION recall_export(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
