-- shilian upgrade script 0.2.0 -> 0.3.0, part 89: EPCIS aggregation of lots
-- and items on SSCC logistic units (issue 18; h-agg).
--
-- The table logistic_unit (what a unit holds) and its read policy (part
-- 89_epcis_security), the functions packing, shipping and receiving units
-- (part 75: epcis_sscc, epcis_units, epcis_batch_keys, epcis_pack_lot,
-- epcis_aggregate, epcis_ship_units, epcis_receive_units), and
-- epcis_apply_event patched in place (as part 88 left it): AggregationEvents
-- recorded, an epcList of SSCCs in shipping and receiving events.

-- epcis_event (part 75) keeps AggregationEvents.
ALTER TABLE epcis_event DROP CONSTRAINT epcis_event_type_check;
ALTER TABLE epcis_event ADD CONSTRAINT epcis_event_type_check
	CHECK (type IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent'));

-- ---- logistic units (SSCC) ---------------------------------------------------
-- What an SSCC logistic unit (a pallet, a case: 托盘/箱) holds (issue 18): an
-- AggregationEvent ADD packs lots (childQuantityList) or serialised items
-- (childEPCs) into it; a shipping ObjectEvent naming the SSCC in its epcList
-- ships every lot inside (link_id set: in transit to the buyer); the buyer's
-- receiving event naming it receives every one of those sales, and the unit
-- then holds the buyer's received batches; an AggregationEvent DELETE
-- empties it.
CREATE TABLE logistic_unit (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sscc       text NOT NULL CHECK (sscc ~ '^[0-9]{18}$'),
	owner_id   bigint NOT NULL REFERENCES operator (id),	-- who holds (or shipped) it
	batch_id   bigint NOT NULL REFERENCES batch (id),
	qty        qty NOT NULL,
	link_id    bigint REFERENCES link (id),	-- the sale shipping it, until received
	packed_at  timestamptz NOT NULL,
	UNIQUE (sscc, batch_id)
);
CREATE INDEX logistic_unit_batch_idx ON logistic_unit (batch_id);
CREATE INDEX logistic_unit_link_idx ON logistic_unit (link_id) WHERE link_id IS NOT NULL;
COMMENT ON TABLE logistic_unit IS
	'The contents of SSCC logistic units (one row per lot in a unit): packed by an EPCIS AggregationEvent ADD, shipped (link_id) and received as the unit, emptied by an AggregationEvent DELETE.';
SELECT pg_catalog.pg_extension_config_dump('logistic_unit', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.logistic_unit', 'id')::regclass, '');

-- An SSCC in any spelling (urn:epc:id:sscc:…, a Digital Link with AI 00) as
-- its 18 digits, the check digit validated: SLE15 otherwise, naming the
-- event and field.
CREATE FUNCTION epcis_sscc(uri text, idx int, field text) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m text[] := regexp_match(shilian.epcis_gs1_uri(uri), '^https://id\.gs1\.org/00/([0-9]{18})$');
BEGIN
	IF m IS NULL OR NOT shilian.gs1_check_ok(m[1]) THEN
		PERFORM shilian.epcis_refuse('SLE15', idx, field,
			format('not an SSCC: %s', coalesce(uri, 'null')),
			'Name a logistic unit by its SSCC: urn:epc:id:sscc:<company prefix>.<serial reference> or https://id.gs1.org/00/<18 digits> (the 18th digit the GS1 check digit).');
	END IF;
	RETURN m[1];
END
$$;
COMMENT ON FUNCTION epcis_sscc(text, int, text) IS
	'The 18 digits of an SSCC (EPC URI or Digital Link), check digit validated; SLE15 naming the event and field otherwise (internal).';
REVOKE ALL ON FUNCTION epcis_sscc(text, int, text) FROM PUBLIC;

-- The SSCCs of a shipping or receiving event's epcList (SLE05 for another
-- kind of identifier: items are shipped by their lot).
CREATE FUNCTION epcis_units(ev jsonb, idx int) RETURNS SETOF text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e record;
BEGIN
	FOR e IN SELECT x.value AS epc, (x.ordinality - 1)::int AS k
	           FROM jsonb_array_elements(CASE jsonb_typeof(ev -> 'epcList') WHEN 'array' THEN ev -> 'epcList' ELSE '[]' END)
	                WITH ORDINALITY x LOOP
		IF jsonb_typeof(e.epc) IS DISTINCT FROM 'string'
			OR shilian.epcis_gs1_uri(e.epc #>> '{}') !~ '^https://id\.gs1\.org/00/' THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList/' || e.k,
				format('only logistic units (SSCC) are shipped or received by epcList, not %s', e.epc),
				'Name lots as quantityElements (epcClass, quantity, uom), or pack them on an SSCC (AggregationEvent) and name the SSCC.');
		END IF;
		RETURN NEXT shilian.epcis_sscc(e.epc #>> '{}', idx, 'epcList/' || e.k);
	END LOOP;
END
$$;
COMMENT ON FUNCTION epcis_units(jsonb, int) IS
	'The SSCCs (18 digits) of a shipping or receiving event''s epcList; SLE05 for another identifier, SLE15 for a malformed SSCC (internal).';
REVOKE ALL ON FUNCTION epcis_units(jsonb, int) FROM PUBLIC;

-- The class keys (Digital Link with and without lot) of a batch's lot.
CREATE FUNCTION epcis_batch_keys(batch bigint) RETURNS text[]
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN p.gtin IS NULL THEN '{}'::text[]
	       WHEN b.lot IS NULL THEN ARRAY[shilian.gs1_digital_link(lpad(p.gtin, 14, '0'))]
	       ELSE ARRAY[shilian.gs1_digital_link(lpad(p.gtin, 14, '0'), b.lot), shilian.gs1_digital_link(lpad(p.gtin, 14, '0'))] END
	  FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id WHERE b.id = batch
$$;
COMMENT ON FUNCTION epcis_batch_keys(bigint) IS
	'The EPC class keys (Digital Link of GTIN and lot, and of the GTIN) of a batch, for the captured event''s classes (internal).';
REVOKE ALL ON FUNCTION epcis_batch_keys(bigint) FROM PUBLIC;

-- A unit whose sale was retracted (an error declaration of its shipping
-- event) or rejected is back with its shipper: its link is cleared.
CREATE FUNCTION epcis_units_settle(unit text, batch bigint DEFAULT NULL) RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	UPDATE shilian.logistic_unit x SET link_id = NULL
	 WHERE (x.sscc = unit OR x.batch_id = batch) AND x.link_id IS NOT NULL
	   AND EXISTS (SELECT 1 FROM shilian.link l WHERE l.id = x.link_id AND l.status IN ('retracted', 'rejected'));
END;
COMMENT ON FUNCTION epcis_units_settle(text, bigint) IS
	'Give back to its shipper a unit (or the units holding a batch) whose sale was retracted or rejected (internal).';
REVOKE ALL ON FUNCTION epcis_units_settle(text, bigint) FROM PUBLIC;

-- Pack a quantity of one of the operator's batches into a unit: SLE17 when
-- the batch holds less than this and what is already packed of it.
CREATE FUNCTION epcis_pack_lot(unit text, op bigint, batch bigint, q qty, t timestamptz, idx int, field text)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b record;
	packed shilian.qty;
BEGIN
	SELECT x.trace_code, x.qty_left INTO b FROM shilian.batch x WHERE x.id = batch FOR UPDATE;
	PERFORM shilian.epcis_units_settle(NULL, batch);
	SELECT shilian.sum(u.qty) INTO packed FROM shilian.logistic_unit u WHERE u.batch_id = batch AND u.link_id IS NULL;
	IF (CASE WHEN packed IS NULL THEN q ELSE packed OPERATOR(shilian.+) q END) OPERATOR(shilian.>) b.qty_left THEN
		PERFORM shilian.epcis_refuse('SLE17', idx, field,
			format('batch %s holds %s, of which %s is packed already: %s more cannot be packed',
				b.trace_code, b.qty_left, coalesce(packed::text, 'nothing'), q));
	END IF;
	INSERT INTO shilian.logistic_unit AS u (sscc, owner_id, batch_id, qty, packed_at)
	VALUES (unit, op, batch, q, t)
	ON CONFLICT (sscc, batch_id) DO UPDATE SET qty = u.qty OPERATOR(shilian.+) excluded.qty;
END
$$;
COMMENT ON FUNCTION epcis_pack_lot(text, bigint, bigint, qty, timestamptz, int, text) IS
	'Pack a quantity of a batch into an SSCC unit; SLE17 when it holds less than that plus what is packed of it already (internal).';
REVOKE ALL ON FUNCTION epcis_pack_lot(text, bigint, bigint, qty, timestamptz, int, text) FROM PUBLIC;

-- An AggregationEvent: ADD packs the lots of childQuantityList and the
-- serialised items of childEPCs (by their lot, a piece each) into the unit
-- parentID; DELETE empties it. Returns the class keys of the lots.
-- SLE15 malformed SSCC, SLE16 a unit the operator does not hold (unknown,
-- another's or in transit), SLE06 a lot or item the packer does not hold,
-- SLE17 more than the lot holds.
CREATE FUNCTION epcis_aggregate(op bigint, idx int, ev jsonb, act text, t timestamptz) RETURNS text[]
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	unit text;
	q record;
	classes text[] := '{}';
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
		IF NOT FOUND THEN
			PERFORM shilian.epcis_refuse('SLE16', idx, 'parentID',
				format('unknown logistic unit: operator %s holds nothing packed on SSCC %s', op, unit));
		END IF;
		RETURN classes;
	END IF;
	IF EXISTS (SELECT 1 FROM shilian.logistic_unit u WHERE u.sscc = unit AND (u.owner_id <> op OR u.link_id IS NOT NULL)) THEN
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
		-- serialised items, by the batch that holds them (a piece each)
		FOR q IN SELECT min(e.k) AS k, count(*) AS n, min(e.epc) AS epc, bool_and(i.id IS NOT NULL) AS known,
		                i.batch_id, b.owner_id
		           FROM (SELECT x.value #>> '{}' AS epc, (x.ordinality - 1)::int AS k,
		                        regexp_match(shilian.epcis_gs1_uri(CASE jsonb_typeof(x.value) WHEN 'string' THEN x.value #>> '{}' END),
		                            '^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$') AS m
		                   FROM jsonb_array_elements(ev -> 'childEPCs') WITH ORDINALITY x) e
		           LEFT JOIN shilian.batch_item i ON i.gtin = e.m[1] AND i.serial = e.m[2]
		           LEFT JOIN shilian.batch b ON b.id = i.batch_id
		          GROUP BY i.batch_id, b.owner_id ORDER BY 1 LOOP
			IF NOT q.known OR q.owner_id <> op THEN
				PERFORM shilian.epcis_refuse('SLE06', idx, 'childEPCs/' || q.k,
					format('no item %s held by operator %s', q.epc, op),
					'Pack serialised items (SGTINs) commissioned in a lot the packer holds.');
			END IF;
			PERFORM shilian.epcis_pack_lot(unit, op, q.batch_id, (q.n || ' pcs')::shilian.qty, t, idx, 'childEPCs');
			classes := classes || shilian.epcis_batch_keys(q.batch_id);
		END LOOP;
	END IF;
	RETURN classes;
END
$$;
COMMENT ON FUNCTION epcis_aggregate(bigint, int, jsonb, text, timestamptz) IS
	'Record an AggregationEvent: ADD packs the lots of childQuantityList and the items of childEPCs into the SSCC parentID, DELETE empties it; SLE15/SLE16/SLE06/SLE17 (internal to epcis_capture).';
REVOKE ALL ON FUNCTION epcis_aggregate(bigint, int, jsonb, text, timestamptz) FROM PUBLIC;

-- Ship every lot packed on the units of a shipping event's epcList (one
-- sale each, by ship()); SLE16 for a unit the seller holds nothing on.
CREATE FUNCTION epcis_ship_units(ev jsonb, idx int, op bigint, buyer bigint, day date)
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
		PERFORM shilian.epcis_units_settle(unit);
		n := 0;
		FOR u IN SELECT x.id, x.batch_id, x.qty, b.trace_code FROM shilian.logistic_unit x JOIN shilian.batch b ON b.id = x.batch_id
		          WHERE x.sscc = unit AND x.owner_id = op AND x.link_id IS NULL ORDER BY x.id FOR UPDATE OF x LOOP
			link := shilian.ship(u.trace_code, buyer, u.qty, day, op);
			UPDATE shilian.logistic_unit x SET link_id = epcis_ship_units.link WHERE x.id = u.id;
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
	'Ship every lot packed on the SSCCs of a shipping event''s epcList to the buyer (one link per lot); SLE16 for a unit the seller holds nothing on (internal).';
REVOKE ALL ON FUNCTION epcis_ship_units(jsonb, int, bigint, bigint, date) FROM PUBLIC;

-- Receive every pending sale shipping the units of a receiving event's
-- epcList from that seller (receive(), the inspection optional as for any
-- receipt); the unit then holds the received batches. SLE16 for a unit
-- with no pending sale from the seller to the buyer.
CREATE FUNCTION epcis_receive_units(ev jsonb, idx int, op bigint, seller bigint, t timestamptz)
	RETURNS TABLE (link bigint, code trace_code, keys text[])
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	unit text;
	u record;
	n int;
BEGIN
	FOR unit IN SELECT * FROM shilian.epcis_units(ev, idx) LOOP
		n := 0;
		FOR u IN SELECT x.id, x.batch_id, x.link_id, l.qty_shipped FROM shilian.logistic_unit x JOIN shilian.link l ON l.id = x.link_id
		          WHERE x.sscc = unit AND l.buyer_id = op AND l.seller_id = seller AND l.status = 'pending'
		          ORDER BY x.id FOR UPDATE OF x LOOP
			link := u.link_id;
			keys := shilian.epcis_batch_keys(u.batch_id);
			code := shilian.receive(u.link_id, u.qty_shipped, ev -> 'shilian:inspection', t, ev ->> 'shilian:rejectReason');
			UPDATE shilian.logistic_unit x SET owner_id = op, link_id = NULL, packed_at = t,
				batch_id = (SELECT b.id FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) epcis_receive_units.code)
			 WHERE x.id = u.id;
			n := n + 1;
			RETURN NEXT;
		END LOOP;
		IF n = 0 THEN
			PERFORM shilian.epcis_refuse('SLE16', idx, 'epcList',
				format('unknown logistic unit: no pending shipment of SSCC %s from operator %s to operator %s', unit, seller, op),
				'Capture the seller''s packing and shipping events first.');
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION epcis_receive_units(jsonb, int, bigint, bigint, timestamptz) IS
	'Receive every pending sale of the SSCCs of a receiving event''s epcList from the seller (inspection optional); the unit then holds the buyer''s batches; SLE16 when there is none (internal).';
REVOKE ALL ON FUNCTION epcis_receive_units(jsonb, int, bigint, bigint, timestamptz) FROM PUBLIC;

-- Logistic units (part 75): read as the holder's records are; written only
-- by epcis_capture.
GRANT SELECT ON logistic_unit TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE logistic_unit ENABLE ROW LEVEL SECURITY;
CREATE POLICY logistic_unit_read ON logistic_unit FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (shilian.may_see(owner_id));

-- epcis_apply_event (part 75), patched in the body the earlier parts installed.
DO $patch$
DECLARE
	def text := pg_catalog.pg_get_functiondef('shilian.epcis_apply_event(bigint, integer, jsonb)'::pg_catalog.regprocedure);
BEGIN
	IF pg_catalog.strpos(def, $o0$	IF typ = 'ObjectEvent' THEN
		act := ev ->> 'action';$o0$) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event: patch 0 of part 89 does not apply';
	END IF;
	def := pg_catalog.replace(def, $o0$	IF typ = 'ObjectEvent' THEN
		act := ev ->> 'action';$o0$, $n0$	IF typ IN ('ObjectEvent', 'AggregationEvent') THEN
		act := ev ->> 'action';$n0$);
	IF pg_catalog.strpos(def, $o1$	-- serialised items are recorded when commissioned (members of the lot made)
	IF jsonb_typeof(ev -> 'epcList') = 'array' AND jsonb_array_length(ev -> 'epcList') > 0
		AND (typ <> 'ObjectEvent' OR act <> 'ADD' OR step IS DISTINCT FROM 'commissioning') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList',
			'instance-level identifiers (epcList) are recorded only by a commissioning event (ADD)',
			'Commission the items (action ADD, bizStep commissioning); later events name their lot as a quantityElement (epcClass, quantity, uom).');
	END IF;$o1$) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event: patch 1 of part 89 does not apply';
	END IF;
	def := pg_catalog.replace(def, $o1$	-- serialised items are recorded when commissioned (members of the lot made)
	IF jsonb_typeof(ev -> 'epcList') = 'array' AND jsonb_array_length(ev -> 'epcList') > 0
		AND (typ <> 'ObjectEvent' OR act <> 'ADD' OR step IS DISTINCT FROM 'commissioning') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList',
			'instance-level identifiers (epcList) are recorded only by a commissioning event (ADD)',
			'Commission the items (action ADD, bizStep commissioning); later events name their lot as a quantityElement (epcClass, quantity, uom).');
	END IF;$o1$, $n1$	-- serialised items are recorded when commissioned (members of the lot made);
	-- logistic units (SSCC) are shipped and received by their epcList
	IF jsonb_typeof(ev -> 'epcList') = 'array' AND jsonb_array_length(ev -> 'epcList') > 0
		AND (typ <> 'ObjectEvent' OR NOT (act = 'ADD' AND step IS NOT DISTINCT FROM 'commissioning'
		                                  OR act = 'OBSERVE' AND step IN ('shipping', 'receiving', 'accepting'))) THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList',
			'instance-level identifiers (epcList) are recorded only by a commissioning event (ADD), logistic units (SSCC) by shipping and receiving events',
			'Commission the items (action ADD, bizStep commissioning); later events name their lot as a quantityElement (epcClass, quantity, uom), or the SSCC they are packed on.');
	END IF;$n1$);
	IF pg_catalog.strpos(def, $o2$	IF typ NOT IN ('ObjectEvent', 'TransformationEvent') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'type', format('%s is not recorded', typ),
			'Capture ObjectEvents and TransformationEvents (docs/integration.md lists the mapping).');$o2$) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event: patch 2 of part 89 does not apply';
	END IF;
	def := pg_catalog.replace(def, $o2$	IF typ NOT IN ('ObjectEvent', 'TransformationEvent') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'type', format('%s is not recorded', typ),
			'Capture ObjectEvents and TransformationEvents (docs/integration.md lists the mapping).');$o2$, $n2$	IF typ NOT IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'type', format('%s is not recorded', typ),
			'Capture ObjectEvents, AggregationEvents and TransformationEvents (docs/integration.md lists the mapping).');$n2$);
	IF pg_catalog.strpos(def, $o3$	ELSIF act = 'ADD' AND step = 'commissioning' THEN
$o3$) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event: patch 3 of part 89 does not apply';
	END IF;
	def := pg_catalog.replace(def, $o3$	ELSIF act = 'ADD' AND step = 'commissioning' THEN
$o3$, $n3$	ELSIF typ = 'AggregationEvent' THEN
		-- packing lots or items on an SSCC logistic unit (ADD), emptying it (DELETE)
		classes := shilian.epcis_aggregate(op, idx, ev, act, t);
	ELSIF act = 'ADD' AND step = 'commissioning' THEN
$n3$);
	IF pg_catalog.strpos(def, $o4$		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			lnk := shilian.ship(code, other, q.qty, local_day, op);
			links := links || lnk::text;
			classes := classes || q.keys;
		END LOOP;
$o4$) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event: patch 4 of part 89 does not apply';
	END IF;
	def := pg_catalog.replace(def, $o4$		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			lnk := shilian.ship(code, other, q.qty, local_day, op);
			links := links || lnk::text;
			classes := classes || q.keys;
		END LOOP;
$o4$, $n4$		IF ev ? 'quantityList' OR jsonb_typeof(ev -> 'epcList') IS DISTINCT FROM 'array'
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
$n4$);
	IF pg_catalog.strpos(def, $o5$		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
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
$o5$) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event: patch 5 of part 89 does not apply';
	END IF;
	def := pg_catalog.replace(def, $o5$		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
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
$o5$, $n5$		IF ev ? 'quantityList' OR jsonb_typeof(ev -> 'epcList') IS DISTINCT FROM 'array'
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
$n5$);
	IF pg_catalog.strpos(def, $o6$			'Recorded: ADD commissioning, OBSERVE shipping, OBSERVE receiving/accepting, OBSERVE inspecting, OBSERVE/DELETE destroying or retail_selling, and TransformationEvents.');$o6$) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event: patch 6 of part 89 does not apply';
	END IF;
	def := pg_catalog.replace(def, $o6$			'Recorded: ADD commissioning, OBSERVE shipping, OBSERVE receiving/accepting, OBSERVE inspecting, OBSERVE/DELETE destroying or retail_selling, and TransformationEvents.');$o6$, $n6$			'Recorded: ADD commissioning, OBSERVE shipping, OBSERVE receiving/accepting, OBSERVE inspecting, OBSERVE/DELETE destroying or retail_selling, AggregationEvents ADD/DELETE, and TransformationEvents.');$n6$);
	IF pg_catalog.strpos(def, $o7$	IF typ = 'ObjectEvent' THEN
		anyc := classes;$o7$) = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event: patch 7 of part 89 does not apply';
	END IF;
	def := pg_catalog.replace(def, $o7$	IF typ = 'ObjectEvent' THEN
		anyc := classes;$o7$, $n7$	IF typ IN ('ObjectEvent', 'AggregationEvent') THEN
		anyc := classes;$n7$);
	EXECUTE def;
END
$patch$;


-- correction_epcis (part 83, as part 88 left it): an error declaration of an
-- AggregationEvent is refused (SLC10), not accepted with nothing retracted.
DO $patch$
DECLARE
	def text := pg_catalog.pg_get_functiondef('shilian.correction_epcis(integer, jsonb)'::pg_catalog.regprocedure);
BEGIN
	IF pg_catalog.strpos(def, $o1$IF e.records ? 'inspections' OR e.biz_step IN ('receiving', 'accepting') THEN$o1$) = 0 OR pg_catalog.strpos(def, $o2$HINT = 'Error declarations retract commissioning, shipping, destroying, retail selling and transformation events; correct an inspection with correct().';$o2$) = 0 THEN
		RAISE EXCEPTION 'correction_epcis: the refusal to patch is not there';
	END IF;
	def := pg_catalog.replace(def, $o1$IF e.records ? 'inspections' OR e.biz_step IN ('receiving', 'accepting') THEN$o1$, $n1$IF e.records ? 'inspections' OR e.biz_step IN ('receiving', 'accepting') OR e.type = 'AggregationEvent' THEN$n1$);
	def := pg_catalog.replace(def, $o2$HINT = 'Error declarations retract commissioning, shipping, destroying, retail selling and transformation events; correct an inspection with correct().';$o2$, $n2$HINT = 'Error declarations retract commissioning, shipping, destroying, retail selling and transformation events; correct an inspection with correct(); undo a packing with an AggregationEvent DELETE.';$n2$);
	EXECUTE def;
END
$patch$;
