-- Part 87: what the gateway's pages and labels read (docs/pages.md): the
-- recall warning of the consumer page, the GS1 Digital Link lookup of the
-- resolver, the link a label's QR code carries and the recall graph.

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
