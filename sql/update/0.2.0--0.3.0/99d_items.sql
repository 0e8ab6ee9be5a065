-- shilian 0.2.0 -> 0.3.0, part 99d: serialised items followed after
-- commissioning (issue 18). A shipping event's epcList may name SGTINs: one
-- sale per lot holding them, each item recorded on it (item_link); a
-- receiving event naming them receives those sales; the items are then in
-- the buyer's batch, wherever the receipt came from. Items packed on an SSCC
-- (batch_item.unit_id) travel on the unit's sale. A TransformationEvent may
-- take serialised inputs (inputEPCList: used up, recorded on the processing
-- link) and make serialised outputs (outputEPCList: items of the output
-- lot). item_batch follows an item to the last batch the caller may see.
-- The same steps as the changed parts of sql/src/75_epcis.sql and
-- 89_epcis_security.sql.

-- the unit a serialised item is packed on (AggregationEvent childEPCs): it
-- goes with the unit's sale of its lot, and is not shipped or received alone
ALTER TABLE batch_item ADD COLUMN unit_id bigint REFERENCES logistic_unit (id) ON DELETE SET NULL;
CREATE INDEX batch_item_unit_idx ON batch_item (unit_id) WHERE unit_id IS NOT NULL;
COMMENT ON COLUMN batch_item.unit_id IS
	'The logistic_unit row (SSCC and lot) the item is packed on, NULL when not packed; emptying the unit clears it.';

-- ---- serialised items followed through sales ----------------------------------
-- An item (batch_item) shipped by a shipping event's epcList travels on the
-- sale made for it (item_link); once that sale is received, by whatever
-- path (EPCIS, REST, SQL receive()), the item is in the buyer's received
-- batch. Where an item is: the received batch of the last received sale
-- carrying it, else the lot it was commissioned in (item_lot); a pending
-- sale carrying it means it is in transit; a rejected or retracted one, that
-- it stayed where it was.
CREATE TABLE item_link (
	item_id  bigint NOT NULL REFERENCES batch_item (id),
	link_id  bigint NOT NULL REFERENCES link (id),
	PRIMARY KEY (item_id, link_id)
);
CREATE INDEX item_link_link_idx ON item_link (link_id);
COMMENT ON TABLE item_link IS
	'Serialised items shipped on a sale by an EPCIS shipping event''s epcList: the item is in the sale''s received batch once the sale is received.';
SELECT pg_catalog.pg_extension_config_dump('item_link', '');

-- epcis_items takes the list to read (a transformation's outputEPCList)
DROP FUNCTION epcis_items(jsonb, int);
CREATE FUNCTION epcis_items(ev jsonb, idx int, field text DEFAULT 'epcList')
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
			  FROM jsonb_array_elements(ev -> field) WITH ORDINALITY x) y
		 ORDER BY y.m[1] NULLS FIRST, y.m[2], y.k
	LOOP
		IF e.m IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE04', idx, field || '/' || e.k,
				format('unsupported instance identifier %s', e.epc),
				'Name serialised items by SGTIN: urn:epc:id:sgtin:<company prefix>.<item reference>.<serial> or https://id.gs1.org/01/<GTIN>/21/<serial>.');
		END IF;
		IF prev = e.m[1] || '/' || e.m[2] THEN
			PERFORM shilian.epcis_refuse('SLE13', idx, field || '/' || e.k,
				format('serial %s of GTIN %s is listed twice', e.m[2], e.m[1]));
		END IF;
		prev := e.m[1] || '/' || e.m[2];
		IF EXISTS (SELECT 1 FROM shilian.batch_item b WHERE b.gtin = e.m[1] AND b.serial = e.m[2]) THEN
			PERFORM shilian.epcis_refuse('SLE13', idx, field || '/' || e.k,
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
				PERFORM shilian.epcis_refuse('SLE04', idx, field || '/' || e.k,
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
COMMENT ON FUNCTION epcis_items(jsonb, int, text) IS
	'The SGTINs of an event''s epcList (or the list named by field: a transformation''s outputEPCList) by product: GTIN-14, serials, class keys; SLE04 for other identifiers or unknown GTINs, SLE13 for a serial listed twice or commissioned before (internal).';
REVOKE ALL ON FUNCTION epcis_items(jsonb, int, text) FROM PUBLIC;

CREATE FUNCTION item_lot(item bigint) RETURNS bigint
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce((SELECT l.to_batch FROM shilian.item_link il JOIN shilian.link l ON l.id = il.link_id
	                  WHERE il.item_id = item_lot.item AND l.status = 'received'
	                  ORDER BY l.id DESC LIMIT 1),
	                (SELECT i.batch_id FROM shilian.batch_item i WHERE i.id = item_lot.item))
$$;
COMMENT ON FUNCTION item_lot(bigint) IS
	'The batch a serialised item is in now: the received batch of the last received sale carrying it (item_link), else its commissioning lot (internal).';
REVOKE ALL ON FUNCTION item_lot(bigint) FROM PUBLIC;

CREATE FUNCTION item_free(item bigint, op bigint) RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM shilian.batch_item i JOIN shilian.batch b ON b.id = shilian.item_lot(i.id)
	                WHERE i.id = item_free.item AND i.unit_id IS NULL AND b.owner_id = item_free.op)
	   AND NOT EXISTS (SELECT 1 FROM shilian.item_link il JOIN shilian.link l ON l.id = il.link_id
	                    WHERE il.item_id = item_free.item AND (l.status = 'pending' OR l.kind = 'transform'))
$$;
COMMENT ON FUNCTION item_free(bigint, bigint) IS
	'Whether a serialised item is free for the operator to ship, pack or use: in a batch it holds, not packed on a unit, not in transit, not used up (internal).';
REVOKE ALL ON FUNCTION item_free(bigint, bigint) FROM PUBLIC;

CREATE FUNCTION epcis_listed_items(ev jsonb)
	RETURNS TABLE (k int, epc text, item bigint)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.k, e.epc, i.id
	  FROM (SELECT (x.ordinality - 1)::int AS k, x.value #>> '{}' AS epc,
	               regexp_match(shilian.epcis_gs1_uri(x.value #>> '{}'), '^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$') AS m
	          FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'epcList') WHEN 'array' THEN ev -> 'epcList' ELSE '[]' END)
	               WITH ORDINALITY x
	         WHERE jsonb_typeof(x.value) = 'string') e
	  LEFT JOIN shilian.batch_item i ON i.gtin = e.m[1] AND i.serial = e.m[2]
	 WHERE e.m IS NOT NULL
$$;
COMMENT ON FUNCTION epcis_listed_items(jsonb) IS
	'The SGTINs of an event''s epcList with their index and the batch_item recorded for each (NULL: unknown) (internal).';
REVOKE ALL ON FUNCTION epcis_listed_items(jsonb) FROM PUBLIC;

CREATE FUNCTION epcis_ship_items(ev jsonb, idx int, op bigint, buyer bigint, day date)
	RETURNS TABLE (link bigint, keys text[])
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e record;
	g record;
	items bigint[] := '{}';
	lots bigint[] := '{}';
BEGIN
	FOR e IN SELECT x.k, x.epc, x.item, shilian.item_lot(x.item) AS lot FROM shilian.epcis_listed_items(ev) x ORDER BY x.k LOOP
		IF e.item IS NULL OR NOT shilian.item_free(e.item, op) THEN
			PERFORM shilian.epcis_refuse('SLE30', idx, 'epcList/' || e.k,
				format('item not held: operator %s holds no item %s free to ship (unknown, in another''s lot, packed on a logistic unit, or in transit)', op, e.epc),
				'Ship serialised items commissioned in, or received into, a lot the seller holds; an item packed on an SSCC goes with the unit (ship the SSCC, or unpack it first); one on a sale not yet received is in transit.');
		END IF;
		IF e.item = ANY (items) THEN
			PERFORM shilian.epcis_refuse('SLE30', idx, 'epcList/' || e.k, format('item %s is listed twice', e.epc));
		END IF;
		items := items || e.item;
		lots := lots || e.lot;
	END LOOP;
	-- a sale per lot, in the order the lots first appear in the list
	FOR g IN SELECT x.lot, b.trace_code, array_agg(x.item) AS its
	           FROM unnest(items, lots) WITH ORDINALITY x(item, lot, k) JOIN shilian.batch b ON b.id = x.lot
	          GROUP BY x.lot, b.trace_code ORDER BY min(x.k) LOOP
		link := shilian.ship(g.trace_code, buyer, (cardinality(g.its) || ' pcs')::shilian.qty, day, op);
		INSERT INTO shilian.item_link (item_id, link_id) SELECT i, epcis_ship_items.link FROM unnest(g.its) i;
		keys := shilian.epcis_batch_keys(g.lot);
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION epcis_ship_items(jsonb, int, bigint, bigint, date) IS
	'Ship the serialised items of a shipping event''s epcList to the buyer: one sale per lot holding them, of as many pieces, each item recorded on it (item_link); SLE30 for an item the seller does not hold (internal).';
REVOKE ALL ON FUNCTION epcis_ship_items(jsonb, int, bigint, bigint, date) FROM PUBLIC;

CREATE FUNCTION epcis_receive_items(ev jsonb, idx int, op bigint, seller bigint, t timestamptz)
	RETURNS TABLE (link bigint, code trace_code, keys text[])
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e record;
	g record;
	items bigint[] := '{}';
	sales bigint[] := '{}';
BEGIN
	FOR e IN SELECT x.k, x.epc, x.item,
	                (SELECT l.id FROM shilian.item_link il JOIN shilian.link l ON l.id = il.link_id
	                  WHERE il.item_id = x.item AND l.status = 'pending' AND l.buyer_id = op AND l.seller_id = seller) AS lnk,
	                (SELECT u.sscc FROM shilian.batch_item i JOIN shilian.logistic_unit u ON u.id = i.unit_id WHERE i.id = x.item) AS sscc
	           FROM shilian.epcis_listed_items(ev) x ORDER BY x.k LOOP
		IF e.lnk IS NULL OR e.sscc IS NOT NULL THEN
			PERFORM shilian.epcis_refuse('SLE31', idx, 'epcList/' || e.k,
				CASE WHEN e.sscc IS NULL
				THEN format('item not shipped: no pending shipment of item %s from operator %s to operator %s', e.epc, seller, op)
				ELSE format('item %s is packed on logistic unit %s: receive the unit', e.epc, e.sscc) END,
				'Capture the seller''s shipping event listing the item first; items packed on an SSCC are received with the unit.');
		END IF;
		IF e.item = ANY (items) THEN
			PERFORM shilian.epcis_refuse('SLE31', idx, 'epcList/' || e.k, format('item %s is listed twice', e.epc));
		END IF;
		items := items || e.item;
		sales := sales || e.lnk;
	END LOOP;
	FOR g IN SELECT l.id AS lnk, l.from_batch, l.qty_shipped
	           FROM (SELECT x.lnk, min(x.k) AS k FROM unnest(sales) WITH ORDINALITY x(lnk, k) GROUP BY x.lnk) y
	           JOIN shilian.link l ON l.id = y.lnk ORDER BY y.k LOOP
		link := g.lnk;
		code := shilian.receive(g.lnk, g.qty_shipped, ev -> 'shilian:inspection', t, ev ->> 'shilian:rejectReason');
		keys := shilian.epcis_batch_keys(g.from_batch);
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION epcis_receive_items(jsonb, int, bigint, bigint, timestamptz) IS
	'Receive in full the pending sales from the seller carrying the serialised items of a receiving event''s epcList; their items are then in the received batches; SLE31 for an item on no pending sale (internal).';
REVOKE ALL ON FUNCTION epcis_receive_items(jsonb, int, bigint, bigint, timestamptz) FROM PUBLIC;

CREATE FUNCTION epcis_input_items(ev jsonb, idx int, op bigint)
	RETURNS TABLE (code trace_code, qty qty, keys text[], items bigint[])
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e record;
	seen bigint[] := '{}';
	lots bigint[] := '{}';
BEGIN
	FOR e IN SELECT x.value #>> '{}' AS epc, (x.ordinality - 1)::int AS k, i.id AS item, shilian.item_lot(i.id) AS lot
	           FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'inputEPCList') WHEN 'array' THEN ev -> 'inputEPCList' ELSE '[]' END)
	                WITH ORDINALITY x
	           LEFT JOIN LATERAL regexp_match(shilian.epcis_gs1_uri(CASE jsonb_typeof(x.value) WHEN 'string' THEN x.value #>> '{}' END),
	                         '^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$') m ON true
	           LEFT JOIN shilian.batch_item i ON i.gtin = m[1] AND i.serial = m[2]
	          ORDER BY x.ordinality LOOP
		IF e.item IS NULL OR NOT shilian.item_free(e.item, op) THEN
			PERFORM shilian.epcis_refuse('SLE30', idx, 'inputEPCList/' || e.k,
				format('item not held: operator %s holds no item %s free to use (unknown, in another''s lot, packed on a logistic unit, in transit, or used up)', op, e.epc),
				'A transformation''s inputEPCList names serialised items commissioned in, or received into, a lot the operator holds, each used once.');
		END IF;
		IF e.item = ANY (seen) THEN
			PERFORM shilian.epcis_refuse('SLE30', idx, 'inputEPCList/' || e.k, format('item %s is listed twice', e.epc));
		END IF;
		seen := seen || e.item;
		lots := lots || e.lot;
	END LOOP;
	RETURN QUERY
	SELECT b.trace_code, (count(*) || ' pcs')::shilian.qty, shilian.epcis_batch_keys(x.lot), array_agg(x.item ORDER BY x.k)
	  FROM unnest(seen, lots) WITH ORDINALITY x(item, lot, k) JOIN shilian.batch b ON b.id = x.lot
	 GROUP BY x.lot, b.trace_code ORDER BY min(x.k);
END
$$;
COMMENT ON FUNCTION epcis_input_items(jsonb, int, bigint) IS
	'The serialised inputs of a TransformationEvent by the lots holding them (a piece each); SLE30 for an item the operator does not hold free to use (internal).';
REVOKE ALL ON FUNCTION epcis_input_items(jsonb, int, bigint) FROM PUBLIC;

CREATE FUNCTION epcis_transform_items(ev jsonb, code trace_code, out_gtin text, out_serials text[]) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	out_id bigint := (SELECT b.id FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code);
	owner bigint := (SELECT b.owner_id FROM shilian.batch b WHERE b.id = out_id);
BEGIN
	INSERT INTO shilian.item_link (item_id, link_id)
	SELECT i.id, l.id
	  FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'inputEPCList') WHEN 'array' THEN ev -> 'inputEPCList' ELSE '[]' END) x
	 CROSS JOIN LATERAL regexp_match(shilian.epcis_gs1_uri(x.value #>> '{}'), '^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$') m
	  JOIN shilian.batch_item i ON i.gtin = m[1] AND i.serial = m[2]
	  JOIN shilian.link l ON l.kind = 'transform' AND l.to_batch = out_id AND l.from_batch = shilian.item_lot(i.id);
	INSERT INTO shilian.batch_item (batch_id, owner_id, gtin, serial)
	SELECT out_id, owner, out_gtin, sn FROM unnest(out_serials) sn WHERE out_gtin IS NOT NULL;
END
$$;
COMMENT ON FUNCTION epcis_transform_items(jsonb, trace_code, text, text[]) IS
	'Record a TransformationEvent''s serialised inputs on its processing links (used up) and its serialised outputs as members of the output lot (internal).';
REVOKE ALL ON FUNCTION epcis_transform_items(jsonb, trace_code, text, text[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION epcis_units(ev jsonb, idx int) RETURNS SETOF text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e record;
BEGIN
	FOR e IN SELECT x.value AS epc, (x.ordinality - 1)::int AS k
	           FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'epcList') WHEN 'array' THEN ev -> 'epcList' ELSE '[]' END)
	                WITH ORDINALITY x LOOP
		-- serialised items (SGTIN) are epcis_ship_items' and epcis_receive_items'
		CONTINUE WHEN jsonb_typeof(e.epc) = 'string'
			AND shilian.epcis_gs1_uri(e.epc #>> '{}') ~ '^https://id\.gs1\.org/01/[0-9]{14}/21/[^/?#]+$';
		IF jsonb_typeof(e.epc) IS DISTINCT FROM 'string'
			OR shilian.epcis_gs1_uri(e.epc #>> '{}') !~ '^https://id\.gs1\.org/00/' THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList/' || e.k,
				format('only logistic units (SSCC) and serialised items (SGTIN) are shipped or received by epcList, not %s', e.epc),
				'Name lots as quantityElements (epcClass, quantity, uom), pack them on an SSCC (AggregationEvent) and name the SSCC, or name commissioned items by SGTIN.');
		END IF;
		RETURN NEXT shilian.epcis_sscc(e.epc #>> '{}', idx, 'epcList/' || e.k);
	END LOOP;
END
$$;
COMMENT ON FUNCTION epcis_units(jsonb, int) IS
	'The SSCCs (18 digits) of a shipping or receiving event''s epcList (SGTINs skipped); SLE05 for another identifier, SLE15 for a malformed SSCC (internal).';
REVOKE ALL ON FUNCTION epcis_units(jsonb, int) FROM PUBLIC;

CREATE OR REPLACE FUNCTION item_batch(epc text) RETURNS trace_code
	LANGUAGE plpgsql STABLE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m text[] := regexp_match(shilian.epcis_gs1_uri(epc), '^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$');
	code shilian.trace_code;
BEGIN
	IF m IS NULL OR NOT shilian.gtin_check_ok(m[1]) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE24', MESSAGE = format('"%s" is not a serialised item (SGTIN)', left(epc, 200)),
			HINT = 'Name it as urn:epc:id:sgtin:<company prefix>.<item reference>.<serial> or https://id.gs1.org/01/<GTIN>/21/<serial> (a valid GTIN check digit).';
	END IF;
	SELECT b.trace_code INTO code
	  FROM shilian.batch_item i
	 CROSS JOIN LATERAL (SELECT i.batch_id AS batch, 0::bigint AS k
	                     UNION ALL
	                     SELECT l.to_batch, l.id FROM shilian.item_link il JOIN shilian.link l ON l.id = il.link_id
	                      WHERE il.item_id = i.id AND l.status = 'received') p
	  JOIN shilian.batch b ON b.id = p.batch
	 WHERE i.gtin = m[1] AND i.serial = m[2] AND shilian.may_see(b.owner_id)
	 ORDER BY p.k DESC LIMIT 1;
	IF code IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE14', MESSAGE = format('unknown item "%s"', epc),
			HINT = 'Name a serialised item commissioned by an EPCIS event: urn:epc:id:sgtin:... or https://id.gs1.org/01/<GTIN>/21/<serial>.';
	END IF;
	RETURN code;
END
$$;
COMMENT ON FUNCTION item_batch(text) IS
	'The batch (trace code) a serialised item (SGTIN as EPC URI or Digital Link) is in, as far as the caller may see: the last of its commissioning lot and the batches it was received into whose holder the caller may see; SLE24 when the text is no SGTIN, SLE14 when unknown or not visible.';
REVOKE ALL ON FUNCTION item_batch(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION item_batch(text) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE OR REPLACE FUNCTION epcis_aggregate(op bigint, idx int, ev jsonb, act text, t timestamptz) RETURNS text[]
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	unit text;
	q record;
	classes text[] := '{}';
	found_lots boolean;
	inner_unit text;
BEGIN
	IF act NOT IN ('ADD', 'DELETE') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'action', format('an AggregationEvent with action %s is not recorded', act),
			'Pack a logistic unit with action ADD, empty it with DELETE; ship and receive it by an ObjectEvent naming the SSCC in epcList.');
	END IF;
	IF jsonb_typeof(ev -> 'parentID') IS DISTINCT FROM 'string' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'parentID', 'missing field "parentID"',
			'Name the logistic unit by its SSCC.');
	END IF;
	unit := shilian.epcis_sscc(ev ->> 'parentID', idx, 'parentID');
	PERFORM 1 FROM shilian.logistic_unit u WHERE u.sscc = unit FOR UPDATE;
	PERFORM shilian.epcis_units_settle(unit);
	IF act = 'DELETE' THEN
		SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO classes FROM (
			SELECT DISTINCT unnest(shilian.epcis_batch_keys(u.batch_id)) k
			  FROM shilian.logistic_unit u WHERE u.sscc = unit AND u.owner_id = op AND u.link_id IS NULL) z;
		DELETE FROM shilian.logistic_unit u WHERE u.sscc = unit AND u.owner_id = op AND u.link_id IS NULL;
		found_lots := FOUND;
		-- the units packed on it come off (each keeps what it holds)
		DELETE FROM shilian.logistic_unit_nest n WHERE n.outer_sscc = unit AND n.owner_id = op;
		IF NOT found_lots AND NOT FOUND THEN
			PERFORM shilian.epcis_refuse('SLE16', idx, 'parentID',
				format('unknown logistic unit: operator %s holds nothing packed on SSCC %s', op, unit));
		END IF;
		RETURN classes;
	END IF;
	IF EXISTS (SELECT 1 FROM shilian.logistic_unit u WHERE u.sscc = unit AND (u.owner_id <> op OR u.link_id IS NOT NULL))
	   OR EXISTS (SELECT 1 FROM shilian.logistic_unit_nest n WHERE n.outer_sscc = unit AND n.owner_id <> op) THEN
		PERFORM shilian.epcis_refuse('SLE16', idx, 'parentID',
			format('logistic unit %s is held by another operator or in transit', unit),
			'Pack a unit you hold; an SSCC is packed again after its receiver unpacks it (AggregationEvent DELETE).');
	END IF;
	IF NOT ev ? 'childQuantityList' AND NOT ev ? 'childEPCs' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'childQuantityList', 'packing needs childQuantityList or childEPCs',
			'List the lots packed (epcClass, quantity, uom) or the serialised items (SGTINs).');
	END IF;
	IF ev ? 'childQuantityList' THEN
		FOR q IN SELECT x.*, (row_number() OVER () - 1)::int AS k FROM shilian.epcis_quantities(ev, idx, 'childQuantityList') x LOOP
			PERFORM shilian.epcis_pack_lot(unit, op,
				(SELECT b.id FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class)),
				q.qty, t, idx, 'childQuantityList');
			classes := classes || q.keys;
		END LOOP;
	END IF;
	IF jsonb_typeof(ev -> 'childEPCs') = 'array' THEN
		-- logistic units (SSCCs) packed on this one, with all they hold:
		-- each held by the packer, not in transit, on no other unit, and
		-- not this unit or one it is packed on
		FOR q IN SELECT x.value #>> '{}' AS epc, (x.ordinality - 1)::int AS k
		           FROM jsonb_array_elements(ev -> 'childEPCs') WITH ORDINALITY x
		          WHERE jsonb_typeof(x.value) = 'string' AND shilian.epcis_gs1_uri(x.value #>> '{}') ~ '^https://id\.gs1\.org/00/' LOOP
			inner_unit := shilian.epcis_sscc(q.epc, idx, 'childEPCs/' || q.k);
			PERFORM shilian.epcis_units_settle(inner_unit);
			IF unit IN (SELECT x FROM shilian.epcis_unit_tree(inner_unit) x) THEN
				PERFORM shilian.epcis_refuse('SLE16', idx, 'childEPCs/' || q.k,
					format('logistic unit %s cannot be packed on %s: %s is inside it', inner_unit, unit, unit),
					'A unit is never packed inside itself.');
			END IF;
			IF EXISTS (SELECT 1 FROM shilian.logistic_unit_nest n WHERE n.inner_sscc = inner_unit) THEN
				PERFORM shilian.epcis_refuse('SLE16', idx, 'childEPCs/' || q.k,
					format('logistic unit %s is packed on %s already', inner_unit,
						(SELECT n.outer_sscc FROM shilian.logistic_unit_nest n WHERE n.inner_sscc = inner_unit)),
					'Unpack it first (AggregationEvent DELETE of the unit it is on).');
			END IF;
			IF EXISTS (SELECT 1 FROM shilian.logistic_unit u WHERE u.sscc = inner_unit AND (u.owner_id <> op OR u.link_id IS NOT NULL))
			   OR EXISTS (SELECT 1 FROM shilian.logistic_unit_nest n WHERE n.outer_sscc = inner_unit AND n.owner_id <> op)
			   OR NOT (EXISTS (SELECT 1 FROM shilian.logistic_unit u WHERE u.sscc = inner_unit)
			           OR EXISTS (SELECT 1 FROM shilian.logistic_unit_nest n WHERE n.outer_sscc = inner_unit)) THEN
				PERFORM shilian.epcis_refuse('SLE16', idx, 'childEPCs/' || q.k,
					format('logistic unit %s is not held by operator %s (unknown, empty, another''s or in transit)', inner_unit, op),
					'Pack units you hold, each packed first (AggregationEvent ADD with its SSCC as parentID).');
			END IF;
			INSERT INTO shilian.logistic_unit_nest (inner_sscc, outer_sscc, owner_id, packed_at)
			VALUES (inner_unit, unit, op, t);
			classes := classes || ARRAY(SELECT DISTINCT unnest(shilian.epcis_batch_keys(u.batch_id))
				FROM shilian.logistic_unit u WHERE u.sscc IN (SELECT shilian.epcis_unit_tree(inner_unit)));
		END LOOP;
		-- serialised items, by the batch that holds them (a piece each)
		FOR q IN SELECT min(e.k) AS k, count(*) AS n, min(e.epc) AS epc, bool_and(i.id IS NOT NULL) AS known,
		                bool_or(i.id IS NOT NULL AND NOT shilian.item_free(i.id, op)) AS moving,
		                array_agg(i.id) AS items, b.id AS batch_id, b.owner_id
		           FROM (SELECT x.value #>> '{}' AS epc, (x.ordinality - 1)::int AS k,
		                        regexp_match(shilian.epcis_gs1_uri(CASE jsonb_typeof(x.value) WHEN 'string' THEN x.value #>> '{}' END),
		                            '^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$') AS m
		                   FROM jsonb_array_elements(ev -> 'childEPCs') WITH ORDINALITY x
		                  WHERE NOT (jsonb_typeof(x.value) = 'string'
		                             AND coalesce(shilian.epcis_gs1_uri(x.value #>> '{}') ~ '^https://id\.gs1\.org/00/', false))) e
		           LEFT JOIN shilian.batch_item i ON i.gtin = e.m[1] AND i.serial = e.m[2]
		           -- the batch the item is in now (commissioned, or received since)
		           LEFT JOIN shilian.batch b ON b.id = shilian.item_lot(i.id)
		          GROUP BY b.id, b.owner_id ORDER BY 1 LOOP
			IF NOT q.known OR q.owner_id <> op OR q.moving THEN
				PERFORM shilian.epcis_refuse('SLE06', idx, 'childEPCs/' || q.k,
					format('no item %s held by operator %s', q.epc, op),
					'Pack serialised items (SGTINs) commissioned in, or received into, a lot the packer holds (not packed on another unit, not on a sale in transit).');
			END IF;
			PERFORM shilian.epcis_pack_lot(unit, op, q.batch_id, (q.n || ' pcs')::shilian.qty, t, idx, 'childEPCs');
			UPDATE shilian.batch_item i SET unit_id = (SELECT u.id FROM shilian.logistic_unit u WHERE u.sscc = unit AND u.batch_id = q.batch_id)
			 WHERE i.id = ANY (q.items);
			classes := classes || shilian.epcis_batch_keys(q.batch_id);
		END LOOP;
	END IF;
	RETURN classes;
END
$$;
COMMENT ON FUNCTION epcis_aggregate(bigint, int, jsonb, text, timestamptz) IS
	'Record an AggregationEvent: ADD packs the lots of childQuantityList and the items and SSCC units of childEPCs into the SSCC parentID, DELETE empties it; SLE15/SLE16/SLE06/SLE17 (internal to epcis_capture).';
REVOKE ALL ON FUNCTION epcis_aggregate(bigint, int, jsonb, text, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION epcis_ship_units(ev jsonb, idx int, op bigint, buyer bigint, day date)
	RETURNS TABLE (link bigint, keys text[])
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	unit text;
	u record;
	n int;
BEGIN
	FOR unit IN SELECT * FROM shilian.epcis_units(ev, idx) LOOP
		IF EXISTS (SELECT 1 FROM shilian.logistic_unit_nest x WHERE x.inner_sscc = unit) THEN
			PERFORM shilian.epcis_refuse('SLE16', idx, 'epcList',
				format('logistic unit %s is packed on %s: ship that unit, or unpack it first', unit,
					(SELECT x.outer_sscc FROM shilian.logistic_unit_nest x WHERE x.inner_sscc = unit)));
		END IF;
		PERFORM shilian.epcis_units_settle(x) FROM shilian.epcis_unit_tree(unit) x;
		n := 0;
		-- every lot on the unit and on the units packed on it, at any depth
		FOR u IN SELECT x.id, x.batch_id, x.qty, b.trace_code FROM shilian.logistic_unit x JOIN shilian.batch b ON b.id = x.batch_id
		          WHERE x.sscc IN (SELECT shilian.epcis_unit_tree(unit)) AND x.owner_id = op AND x.link_id IS NULL
		          ORDER BY x.id FOR UPDATE OF x LOOP
			link := shilian.ship(u.trace_code, buyer, u.qty, day, op);
			UPDATE shilian.logistic_unit x SET link_id = epcis_ship_units.link WHERE x.id = u.id;
			-- the serialised items packed on it travel on the sale
			INSERT INTO shilian.item_link (item_id, link_id)
			SELECT i.id, epcis_ship_units.link FROM shilian.batch_item i WHERE i.unit_id = u.id;
			keys := shilian.epcis_batch_keys(u.batch_id);
			n := n + 1;
			RETURN NEXT;
		END LOOP;
		IF n = 0 THEN
			PERFORM shilian.epcis_refuse('SLE16', idx, 'epcList',
				format('unknown logistic unit: operator %s holds nothing packed on SSCC %s', op, unit),
				'Pack it first (AggregationEvent ADD with the SSCC as parentID).');
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION epcis_ship_units(jsonb, int, bigint, bigint, date) IS
	'Ship every lot packed on the SSCCs of a shipping event''s epcList, and on the units packed on them, to the buyer (one link per lot); SLE16 for a unit the seller holds nothing on or one packed on another (internal).';
REVOKE ALL ON FUNCTION epcis_ship_units(jsonb, int, bigint, bigint, date) FROM PUBLIC;

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
	out_gtin text;
	out_serials text[];
	n int;
BEGIN
	-- an error declaration (same eventID as the event it declares wrong)
	-- retracts that event's records (part 83, correction_epcis)
	IF jsonb_typeof(ev) = 'object' AND ev ? 'errorDeclaration' THEN
		PERFORM shilian.correction_epcis(idx, ev);
		RETURN;
	END IF;
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
	-- the one strict reading of timestamps (strict_timestamptz): RFC 3339 with its offset
	BEGIN
		t := shilian.strict_timestamptz(ev ->> 'eventTime', 'eventTime');
	EXCEPTION WHEN SQLSTATE 'SLD03' OR SQLSTATE 'SLD04' OR SQLSTATE 'SLD05' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTime',
			format('invalid eventTime "%s"', ev ->> 'eventTime'),
			CASE SQLSTATE WHEN 'SLD05' THEN 'The date or time is out of range.'
			ELSE 'Write an RFC 3339 date-time with its offset, e.g. 2026-11-20T08:00:00+08:00.' END);
	END;
	-- the platform's day of the event (shilian.timezone), as for every record
	local_day := shilian.platform_date(t);
	IF typ IN ('ObjectEvent', 'AggregationEvent') THEN
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
		-- an extension term (a URI outside the CBV) is kept as written, not refused as unknown
		IF step IS NULL AND (jsonb_typeof(ev -> 'bizStep') <> 'string'
		                     OR ev ->> 'bizStep' !~ '^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$'
		                     OR ev ->> 'bizStep' ~* '^(urn:epcglobal:cbv:|https?://ref\.gs1\.org/cbv/)') THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, 'bizStep', format('unknown bizStep "%s"', ev ->> 'bizStep'),
				'Use a CBV 2.0 business step: a bare name such as "shipping", https://ref.gs1.org/cbv/BizStep-shipping or urn:epcglobal:cbv:bizstep:shipping; or an extension term as a URI of your own.');
		END IF;
	END IF;
	IF ev ? 'disposition' THEN
		disp := shilian.epcis_cbv('disposition', ev ->> 'disposition');
		IF disp IS NULL AND (jsonb_typeof(ev -> 'disposition') <> 'string'
		                     OR ev ->> 'disposition' !~ '^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$'
		                     OR ev ->> 'disposition' ~* '^(urn:epcglobal:cbv:|https?://ref\.gs1\.org/cbv/)') THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, 'disposition',
				format('unknown disposition "%s"', ev ->> 'disposition'),
				'Use a CBV 2.0 disposition: a bare name such as "in_transit", https://ref.gs1.org/cbv/Disp-in_transit or urn:epcglobal:cbv:disp:in_transit; or an extension term as a URI of your own.');
		END IF;
	END IF;
	-- serialised items are recorded when commissioned (members of the lot made)
	-- and followed by shipping and receiving events; logistic units (SSCC) are
	-- shipped and received by their epcList
	IF jsonb_typeof(ev -> 'epcList') = 'array' AND jsonb_array_length(ev -> 'epcList') > 0
		AND (typ <> 'ObjectEvent' OR NOT (act = 'ADD' AND step IS NOT DISTINCT FROM 'commissioning'
		                                  OR act = 'OBSERVE' AND step IN ('shipping', 'receiving', 'accepting'))) THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList',
			'instance-level identifiers (epcList) are recorded by commissioning (ADD), shipping and receiving ObjectEvents only',
			'Commission serialised items (action ADD, bizStep commissioning), ship and receive them or the SSCC they are packed on by epcList; other events name their lot as a quantityElement (epcClass, quantity, uom).');
	END IF;
	IF typ NOT IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'type', format('%s is not recorded', typ),
			'Capture ObjectEvents, AggregationEvents and TransformationEvents (docs/integration.md lists the mapping).');
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
		-- the inputs: lots (inputQuantityList), serialised items (inputEPCList), or both
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'inputQuantityList')
		          WHERE ev ? 'inputQuantityList' OR NOT (jsonb_typeof(ev -> 'inputEPCList') = 'array'
		                                                AND jsonb_array_length(ev -> 'inputEPCList') > 0) LOOP
			inputs := inputs || shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			qtys := qtys || q.qty;
			anyc := anyc || q.keys;
		END LOOP;
		-- serialised inputs (inputEPCList): a piece of each lot holding them
		FOR q IN SELECT * FROM shilian.epcis_input_items(ev, idx, op) LOOP
			inputs := inputs || q.code;
			qtys := qtys || q.qty;
			anyc := anyc || q.keys;
		END LOOP;
		-- one output lot: a quantity (outputQuantityList) or serialised items
		-- of one GTIN (outputEPCList), its lot number from ilmd
		SELECT count(*) INTO n FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'outputQuantityList')
			WHEN 'array' THEN ev -> 'outputQuantityList' ELSE '[]' END);
		IF jsonb_typeof(ev -> 'outputEPCList') = 'array' AND jsonb_array_length(ev -> 'outputEPCList') > 0 THEN
			SELECT count(*) + n INTO n FROM shilian.epcis_items(ev, idx, 'outputEPCList');
		END IF;
		IF n <> 1 THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'outputQuantityList',
				'a TransformationEvent is recorded with exactly one output lot',
				'Split a transformation with several outputs into one event per output lot; serialised outputs (outputEPCList) are one lot of one GTIN.');
		END IF;
		IF jsonb_typeof(ev -> 'outputQuantityList') = 'array' AND jsonb_array_length(ev -> 'outputQuantityList') > 0 THEN
			SELECT * INTO outp FROM shilian.epcis_quantities(ev, idx, 'outputQuantityList');
		ELSE
			SELECT i.product, (cardinality(i.serials) || ' pcs')::shilian.qty AS qty,
				coalesce(ev #>> '{ilmd,cbvmda:lotNumber}', ev #>> '{ilmd,lotNumber}') AS lot, i.keys
			  INTO outp FROM shilian.epcis_items(ev, idx, 'outputEPCList') i;
			SELECT i.gtin, i.serials INTO out_gtin, out_serials FROM shilian.epcis_items(ev, idx, 'outputEPCList') i;
		END IF;
		anyc := anyc || outp.keys;
		expires := shilian.epcis_expiry(ev, idx);
		code := shilian.transform(inputs, qtys, outp.product, outp.qty, local_day, outp.lot, expires, op);
		batches := batches || code::text;
		PERFORM shilian.epcis_transform_items(ev, code, out_gtin, out_serials);
	ELSIF typ = 'AggregationEvent' THEN
		-- packing lots or items on an SSCC logistic unit (ADD), emptying it (DELETE)
		classes := shilian.epcis_aggregate(op, idx, ev, act, t);
	ELSIF act = 'ADD' AND step = 'commissioning' THEN
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
		IF ev ? 'quantityList' OR jsonb_typeof(ev -> 'epcList') IS DISTINCT FROM 'array'
			OR jsonb_array_length(ev -> 'epcList') = 0 THEN
			FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
				code := shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
				lnk := shilian.ship(code, other, q.qty, local_day, op);
				links := links || lnk::text;
				classes := classes || q.keys;
			END LOOP;
		END IF;
		-- every lot packed on the logistic units named, one sale each
		FOR q IN SELECT * FROM shilian.epcis_ship_units(ev, idx, op, other, local_day) LOOP
			links := links || q.link::text;
			classes := classes || q.keys;
		END LOOP;
		-- the serialised items named, one sale per lot holding them
		FOR q IN SELECT * FROM shilian.epcis_ship_items(ev, idx, op, other, local_day) LOOP
			links := links || q.link::text;
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
		IF ev ? 'quantityList' OR jsonb_typeof(ev -> 'epcList') IS DISTINCT FROM 'array'
			OR jsonb_array_length(ev -> 'epcList') = 0 THEN
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
				code := shilian.receive(lnk, q.qty, ev -> 'shilian:inspection', t,
					ev ->> 'shilian:rejectReason');
				links := links || lnk::text;
				batches := batches || code::text;
				classes := classes || q.keys;
			END LOOP;
		END IF;
		-- every sale shipping the logistic units named from that seller
		FOR q IN SELECT * FROM shilian.epcis_receive_units(ev, idx, op, other, t) LOOP
			links := links || q.link::text;
			batches := batches || q.code::text;
			classes := classes || q.keys;
		END LOOP;
		-- every sale carrying the serialised items named
		FOR q IN SELECT * FROM shilian.epcis_receive_items(ev, idx, op, other, t) LOOP
			links := links || q.link::text;
			batches := batches || q.code::text;
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
			format('no record for an %s with action %s and bizStep %s', typ, coalesce(act, 'null'),
				coalesce(step, ev ->> 'bizStep', 'null')),
			'Recorded: ADD commissioning, OBSERVE shipping, OBSERVE receiving/accepting, OBSERVE inspecting, OBSERVE/DELETE destroying or retail_selling, AggregationEvents ADD/DELETE, and TransformationEvents.');
	END IF;

	IF typ IN ('ObjectEvent', 'AggregationEvent') THEN
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
COMMENT ON FUNCTION epcis_apply_event(bigint, int, jsonb) IS
	'Validate one EPCIS event and record it through the record functions (internal to epcis_capture).';
REVOKE ALL ON FUNCTION epcis_apply_event(bigint, int, jsonb) FROM PUBLIC;

-- Items on sales (part 75): read as the sale's parties' records are;
-- written only by epcis_capture.
GRANT SELECT ON item_link TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE item_link ENABLE ROW LEVEL SECURITY;
CREATE POLICY item_link_read ON item_link FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (EXISTS (SELECT 1 FROM shilian.link l
	                WHERE l.id = item_link.link_id AND (shilian.may_see(l.seller_id) OR shilian.may_see(l.buyer_id))));
