-- shilian upgrade script 0.2.0 -> 0.3.0, part 60: pages (issue 20).
-- The consumer page's recall warning in public_trace, the Digital Link
-- lookup, the label's link and the recall graph (sql/src/40_trace.sql,
-- sql/src/87_pages.sql). public_recalls comes first: public_trace calls it.

-- Open recalls that reach a lot: recalls whose targets (or suspect lot)
-- include the lot itself or any lot it was made from, by sale or as an input
-- of a processing step, followed upstream. For the consumer's warning only
-- (called by public_trace with definer rights): the reason and the opening
-- day, nothing about holders.
CREATE FUNCTION public_recalls(batch bigint) RETURNS jsonb
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH RECURSIVE up(id) AS (
		SELECT public_recalls.batch
		UNION
		SELECT l.from_batch FROM up JOIN shilian.link l ON l.to_batch = up.id
	)
	SELECT coalesce(jsonb_agg(jsonb_build_object('opened_on', shilian.platform_date(r.opened_at),
			'reason', r.reason, 'this_lot', h.this_lot) ORDER BY r.opened_at, r.id), '[]'::jsonb)
	  FROM shilian.recall r
	 CROSS JOIN LATERAL (SELECT bool_or(up.id = public_recalls.batch) AS this_lot FROM up
		WHERE up.id = r.batch_id OR EXISTS (SELECT 1 FROM shilian.recall_target t
			WHERE t.recall_id = r.id AND t.batch_id = up.id)) h
	 WHERE r.status = 'open' AND h.this_lot IS NOT NULL
	$$;
COMMENT ON FUNCTION public_recalls(bigint) IS
	'The open recalls reaching a lot or any lot it was made from (sales and processing inputs, upstream): opening day, reason and whether this lot itself is a target; for public_trace''s warning.';
REVOKE ALL ON FUNCTION public_recalls(bigint) FROM PUBLIC;

-- The public trace's one refusal (SLP01, a 404 at the gateway), the same for
-- a wrong or missing token and for a code or Digital Link no lot has.
CREATE FUNCTION public_refuse(code text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'SLP01',
		MESSAGE = format('no public trace for %s with this token', code),
		DETAIL = 'Either no lot has this code or the token is not the one printed with it.',
		HINT = 'Scan the QR code on the package, or type the code and the token printed next to it.';
END;
$$;
COMMENT ON FUNCTION public_refuse(text) IS
	'Raise SLP01 (no public trace for this code with this token): the one refusal of public_trace and public_lot.';

-- The consumer's view: the custody chain of this batch only (backward along
-- sales, to the lot where it was produced, processed or first entered the
-- chain), the producer and its licence, the region of origin and the
-- inspection results along the chain; no quantities, prices, customers or
-- sibling branches. Only the producer and the final seller (the holder of
-- this lot) are named; the holders between them appear by region and
-- segment. A wrong or missing token is refused exactly as an unknown code
-- (SLP01), and the token is checked before any lookup, so the answer and
-- its cost say nothing about which codes exist. SECURITY DEFINER so that
-- the public role needs only EXECUTE on this function.
CREATE OR REPLACE FUNCTION public_trace(code trace_code, token text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	root shilian.batch;
	result jsonb;
BEGIN
	IF code IS NULL THEN
		RETURN NULL;
	END IF;
	IF shilian.lot_token_ok(shilian.lot_secret(), code, token) THEN
		SELECT * INTO root FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code;
	END IF;
	IF root.id IS NULL THEN
		PERFORM shilian.public_refuse(code::text);
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
		-- the producer (the last step up) and the final seller (this lot's
		-- holder) by name, the holders between them by region and segment
		'custody', (SELECT jsonb_agg(jsonb_build_object('step', mx.n - c.step,
				'segment', o.segment, 'region', left(o.station, 6),
				'region_name', (SELECT j.name FROM shilian.jurisdiction j WHERE j.code = left(o.station, 6)),
				'received_on', (SELECT shilian.platform_date(l.received_at) FROM shilian.link l WHERE l.id = c.in_link))
				|| CASE WHEN c.step IN (0, mx.n) THEN jsonb_build_object('holder', o.name) ELSE '{}' END
				ORDER BY c.step DESC)
			FROM chain c JOIN shilian.operator o ON o.id = c.owner_id
			CROSS JOIN (SELECT max(step) AS n FROM chain) mx),
		'inspections', (SELECT coalesce(jsonb_agg(jsonb_build_object('kind', i.kind,
				'result', i.result, 'on', shilian.platform_date(i.inspected_at), 'step', mx.n - c.step)
				|| CASE WHEN i.operator_id = c.owner_id AND c.step IN (0, mx.n)
					THEN jsonb_build_object('by', o.name) ELSE '{}' END
				ORDER BY i.inspected_at, i.id), '[]')
			FROM chain c JOIN shilian.inspection i ON i.batch_id = c.id
			JOIN shilian.operator o ON o.id = i.operator_id
			CROSS JOIN (SELECT max(step) AS n FROM chain) mx),
		-- open recalls of this lot or of any lot it was made from (part 87)
		'recalls', shilian.public_recalls(root.id))
	  INTO result;
	RETURN result;
END;
$$;
COMMENT ON FUNCTION public_trace(trace_code, text) IS
	'The consumer view of a code with its token: product, producer and licence, region of origin, custody chain of this lot (holders between producer and final seller by region and segment only), its inspection results and the open recalls of it or its inputs (public_recalls); no quantities, prices or other customers. SLP01 for a wrong or missing token as for an unknown code.';
REVOKE ALL ON FUNCTION public_trace(trace_code, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_trace(trace_code, text) TO shilian_public, shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The lot a GS1 Digital Link names, for the resolver: the GTIN (any length,
-- check digit checked) with the lot (AI 10) and/or a serial (AI 21), and the
-- token printed with it. Several lots may share a GTIN and lot number (the
-- buyer's lot keeps the seller's number); the token, which belongs to one
-- trace code, picks the one. With a serial and no lot the serial is the
-- platform's trace code of the lot (a label printed per lot that has no lot
-- number); with both, the lot decides. A malformed key is 22P02 (400); no
-- lot, or no lot whose token this is, is the public trace's SLP01 (404).
CREATE FUNCTION public_lot(gtin text, lot text, serial text, token text) RETURNS trace_code
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	key text;
	c shilian.trace_code;
BEGIN
	-- the rules of the Digital Link's key and qualifiers (GTIN check digit,
	-- 1-20 characters of GS1 set 82), as gs1_digital_link has them
	key := (shilian.gs1_parse_digital_link(shilian.gs1_digital_link(gtin, lot))).gtin;
	IF serial IS NOT NULL THEN
		PERFORM shilian.gs1_digital_link(gtin, serial);
	END IF;
	IF lot IS NOT NULL THEN
		FOR c IN SELECT b.trace_code FROM shilian.product p JOIN shilian.batch b ON b.product_id = p.id
				  WHERE p.gtin = ANY (ARRAY[key, substr(key, 2), substr(key, 3), substr(key, 7)])
				    AND b.lot = public_lot.lot
				  ORDER BY b.id LOOP
			IF shilian.lot_token_ok(shilian.lot_secret(), c, token) THEN
				RETURN c;
			END IF;
		END LOOP;
	ELSIF serial ~ '^[0-9]{18}$' THEN
		SELECT b.trace_code INTO c FROM shilian.product p JOIN shilian.batch b ON b.product_id = p.id
		 WHERE p.gtin = ANY (ARRAY[key, substr(key, 2), substr(key, 3), substr(key, 7)])
		   AND b.trace_code OPERATOR(shilian.=) serial::shilian.trace_code;
		IF c IS NOT NULL AND shilian.lot_token_ok(shilian.lot_secret(), c, token) THEN
			RETURN c;
		END IF;
	END IF;
	PERFORM shilian.public_refuse(shilian.gs1_digital_link(gtin, lot)
		|| coalesce('/21/' || serial, ''));
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION public_lot(text, text, text, text) IS
	'The trace code a GS1 Digital Link (GTIN with lot and/or serial; a serial alone is the lot''s trace code) names together with the token printed with it; 22P02 for a malformed key, SLP01 as public_trace for no such lot or a wrong token.';
REVOKE ALL ON FUNCTION public_lot(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_lot(text, text, text, text) TO shilian_public, shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- What a lot's label carries in its QR code, as a path with query on the
-- resolver: the GS1 Digital Link /01/<GTIN-14>/10/<lot>?t=<token> when the
-- product has a GTIN and the lot number is a GS1 lot, /01/<GTIN-14>/21/<code>
-- when it has a GTIN and no usable lot number, else the platform's own
-- /t/<code>?t=<token>. Definer rights to read the product of a lot bought
-- from another; public_token first, so only who may see the lot gets it.
CREATE FUNCTION public_link(code trace_code) RETURNS text
	LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	token text := shilian.public_token(code);
	g text;
	l text;
BEGIN
	SELECT p.gtin, b.lot INTO g, l FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id
	 WHERE b.trace_code OPERATOR(shilian.=) code;
	IF g IS NOT NULL THEN
		BEGIN
			RETURN substr(shilian.gs1_digital_link(g, l), length('https://id.gs1.org') + 1)
				|| CASE WHEN l IS NULL THEN '/21/' || code::text ELSE '' END || '?t=' || token;
		EXCEPTION WHEN invalid_text_representation THEN
			-- a lot number outside GS1 set 82 (say, in Chinese): by trace code
			RETURN substr(shilian.gs1_digital_link(g), length('https://id.gs1.org') + 1)
				|| '/21/' || code::text || '?t=' || token;
		END;
	END IF;
	RETURN '/t/' || code::text || '?t=' || token;
END;
$$;
COMMENT ON FUNCTION public_link(trace_code) IS
	'The path and query a lot''s label QR code carries on the resolver: /01/<GTIN-14>/10/<lot>?t=<token> (or /21/<code> without a GS1 lot number) for a product with a GTIN, else /t/<code>?t=<token>; public_token''s rules (SLR03 for whom may not see the lot).';
REVOKE ALL ON FUNCTION public_link(trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_link(trace_code) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The recall graph of a case for the regulator's picture: every target lot
-- with holder, region, product, quantities and acknowledgement, and the
-- links between targets with the quantity that went along each. Who may:
-- the followers of the recall (recall_require_follower, part 85); definer
-- rights because the graph spans every holder.
CREATE FUNCTION recall_graph(id bigint) RETURNS jsonb
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r shilian.recall;
	out jsonb;
BEGIN
	PERFORM shilian.recall_require_follower(id);
	SELECT * INTO r FROM shilian.recall x WHERE x.id = recall_graph.id;
	IF r.id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	SELECT jsonb_build_object(
		'recall', jsonb_build_object('id', r.id::text, 'code', r.trace_code::text, 'reason', r.reason,
			'direction', r.direction, 'status', r.status, 'opened_on', shilian.platform_date(r.opened_at)),
		'nodes', (SELECT coalesce(jsonb_agg(jsonb_build_object('batch', t.trace_code::text,
				'holder', t.operator_id::text, 'holder_name', o.name, 'segment', o.segment,
				'region', left(o.station, 6), 'region_name', coalesce(j.name, left(o.station, 6)),
				'product', p.name, 'depth', t.depth, 'qty_exposed', t.qty_exposed::text,
				'qty_on_hand', t.qty_on_hand::text, 'disposition', t.disposition,
				'qty_recovered', t.qty_recovered::text) ORDER BY t.depth, t.trace_code), '[]'::jsonb)
			FROM shilian.recall_target t
			JOIN shilian.batch b ON b.id = t.batch_id
			JOIN shilian.product p ON p.id = b.product_id
			JOIN shilian.operator o ON o.id = t.operator_id
			LEFT JOIN shilian.jurisdiction j ON j.code = left(o.station, 6)
			WHERE t.recall_id = r.id),
		'edges', (SELECT coalesce(jsonb_agg(jsonb_build_object('from', f.trace_code::text,
				'to', g.trace_code::text, 'kind', l.kind,
				'qty', coalesce(l.qty_accepted, l.qty_shipped)::text) ORDER BY l.id), '[]'::jsonb)
			FROM shilian.recall_target f
			JOIN shilian.link l ON l.from_batch = f.batch_id
			JOIN shilian.recall_target g ON g.recall_id = f.recall_id AND g.batch_id = l.to_batch
			WHERE f.recall_id = r.id))
	  INTO out;
	RETURN out;
END;
$$;
COMMENT ON FUNCTION recall_graph(bigint) IS
	'A recall case as a graph for drawing: the recall, every target lot (holder, region, product, exposed and on-hand quantity, disposition) and the links between targets with their quantities; for the regulators who follow the recall and the admin (42501 otherwise).';
REVOKE ALL ON FUNCTION recall_graph(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_graph(bigint) TO shilian_regulator, shilian_admin;

-- What a label prints: the code, product line, lot, dates and the link of
-- its QR code (public_link). Definer rights to read the product of a lot
-- bought from another; public_link's token check comes first, so only who
-- may see the lot gets its label (SLR03 otherwise, as for an unknown code).
CREATE FUNCTION lot_label(code trace_code)
	RETURNS TABLE (trace_code text, product text, spec text, gtin text, lot text,
		produced_on date, expires_on date, link text)
	LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	l text := shilian.public_link(code);
BEGIN
	RETURN QUERY SELECT b.trace_code::text, p.name, p.spec, p.gtin, b.lot, b.produced_on, b.expires_on, l
	  FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id
	 WHERE b.trace_code OPERATOR(shilian.=) lot_label.code;
END;
$$;
COMMENT ON FUNCTION lot_label(trace_code) IS
	'What a lot''s printed label carries: trace code, product name and specification, GTIN, lot number, production and expiry dates, and the QR code''s link (public_link); public_token''s rules (SLR03 for whom may not see the lot).';
REVOKE ALL ON FUNCTION lot_label(trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lot_label(trace_code) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The labels of the acting operator's lots produced (or received) on a day,
-- oldest first, for a sheet: at most 500 (a day's printing run).
CREATE FUNCTION lot_labels(day date)
	RETURNS TABLE (trace_code text, product text, spec text, gtin text, lot text,
		produced_on date, expires_on date, link text)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT l.* FROM (SELECT b.trace_code FROM shilian.batch b
		WHERE b.owner_id = shilian.current_operator() AND b.produced_on = lot_labels.day
		ORDER BY b.created_at, b.id LIMIT 500) b
	 CROSS JOIN LATERAL shilian.lot_label(b.trace_code) l
	$$;
COMMENT ON FUNCTION lot_labels(date) IS
	'The labels (lot_label) of the acting operator''s lots with that production day, oldest first, at most 500.';
REVOKE ALL ON FUNCTION lot_labels(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lot_labels(date) TO shilian_operator, shilian_system, shilian_admin;
