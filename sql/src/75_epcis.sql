-- shilian install script, part 75: GS1 EPCIS 2.0 capture and query
-- (docs/integration.md, "EPCIS 2.0"). epcis_capture validates an
-- EPCISDocument (JSON-LD) and maps each event onto the record functions
-- (batch_create, ship, receive, inspect, transform, consume), all or nothing
-- per document; the events are kept in epcis_event with the records they
-- made, so that a repeated eventID is refused and epcis_events can answer
-- the standard's SimpleEventQuery. The record functions check the caller
-- themselves (RecordCheckActor reads the outer role and the request
-- settings); capture runs with definer rights only to write its own tables
-- and to find the batches and pending shipments the events name.
-- Who sees which events and jobs: part 89.

CREATE TABLE epcis_capture_job (
	id           bigserial PRIMARY KEY,
	role_name    text NOT NULL,		-- the calling role (shilian_system, shilian_operator, ...)
	operator_id  bigint,			-- shilian.operator_id of the caller
	client       text,				-- shilian.client of the caller
	jurisdiction text,				-- shilian.jurisdiction of the caller
	doc_hash     bytea NOT NULL,	-- sha256 of the document as captured (jsonb text)
	success      boolean NOT NULL,
	events       integer NOT NULL DEFAULT 0,
	sqlstate     text,				-- a failed capture: the error
	message      text,
	detail       text,
	hint         text,
	created_at   timestamptz NOT NULL DEFAULT now(),
	finished_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
	already_captured text[] NOT NULL DEFAULT '{}',	-- eventIDs of the document captured before (a resend)
	CHECK (success = (sqlstate IS NULL))
);
CREATE INDEX epcis_capture_job_operator_idx ON epcis_capture_job (operator_id) WHERE operator_id IS NOT NULL;
CREATE INDEX epcis_capture_job_client_idx ON epcis_capture_job (client) WHERE client IS NOT NULL;
COMMENT ON TABLE epcis_capture_job IS
	'EPCIS capture jobs: who captured, success with the number of events, or the error that rolled the whole document back.';

CREATE TABLE epcis_event (
	id          bigserial PRIMARY KEY,
	job_id      bigint NOT NULL REFERENCES epcis_capture_job (id),
	event_index integer NOT NULL,		-- position in the document's eventList (from 0)
	event_id    text NOT NULL UNIQUE,	-- the event's eventID (urn:uuid:... when it had none)
	event_hash  bytea NOT NULL,			-- sha256 of the event as captured (jsonb text)
	type        text NOT NULL CHECK (type IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent')),
	action      text CHECK (action IN ('ADD', 'OBSERVE', 'DELETE')),
	event_time  timestamptz NOT NULL,
	biz_step    text,					-- CBV short name (shipping, receiving, ...)
	disposition text,					-- CBV short name
	epc_classes text[] NOT NULL,		-- quantityList classes as Digital Link keys, with and without lot
	any_classes text[] NOT NULL,		-- the same over quantityList, inputQuantityList, outputQuantityList
	parties     bigint[] NOT NULL,		-- operators whose records the event made or touched
	records     jsonb NOT NULL,			-- what it made: {"batches": [...], "links": [...], ...}
	event       jsonb NOT NULL,			-- the event as captured (eventID added when absent)
	record_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX epcis_event_time_idx ON epcis_event (event_time, id);
CREATE INDEX epcis_event_job_idx ON epcis_event (job_id);
CREATE INDEX epcis_event_classes_idx ON epcis_event USING gin (epc_classes);
CREATE INDEX epcis_event_any_classes_idx ON epcis_event USING gin (any_classes);
CREATE INDEX epcis_event_parties_idx ON epcis_event USING gin (parties);
COMMENT ON TABLE epcis_event IS
	'Captured EPCIS events: eventID (unique), hash, type, eventTime, bizStep, classes, the operators concerned, the records each made and the event itself.';

-- EPCIS names a lot by GTIN and lot number, and every shipping, inspecting,
-- destroying and transformation event looks up the operator's batch by them:
-- without this index the lookup reads every batch of the product.
CREATE INDEX batch_owner_lot_idx ON batch (owner_id, product_id, lot) WHERE lot IS NOT NULL;

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

SELECT pg_catalog.pg_extension_config_dump('epcis_capture_job', '');
SELECT pg_catalog.pg_extension_config_dump('epcis_event', '');
SELECT pg_catalog.pg_extension_config_dump('batch_item', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.batch_item', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.epcis_capture_job', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.epcis_event', 'id')::regclass, '');

-- ---- vocabulary --------------------------------------------------------------

-- A CBV 2.0 term as its short name: the bare name ("shipping"), the GS1 Web
-- URI (https://ref.gs1.org/cbv/BizStep-shipping) or the URN
-- (urn:epcglobal:cbv:bizstep:shipping); NULL when it is none of them.
CREATE FUNCTION epcis_cbv(vocabulary text, term text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (
	WITH v(web, urn, names) AS (
		SELECT * FROM (VALUES
			('BizStep-', 'urn:epcglobal:cbv:bizstep:', ARRAY['accepting', 'arriving', 'assembling',
				'collecting', 'commissioning', 'consigning', 'creating_class_instance', 'cycle_counting',
				'decommissioning', 'departing', 'destroying', 'disassembling', 'dispensing', 'encoding',
				'entering_exiting', 'holding', 'inspecting', 'installing', 'killing', 'loading', 'other',
				'packing', 'picking', 'receiving', 'removing', 'repackaging', 'repairing', 'replacing',
				'reserving', 'retail_selling', 'sampling', 'sensor_reporting', 'shipping',
				'staging_outbound', 'stock_taking', 'stocking', 'storing', 'transporting', 'unloading',
				'unpacking', 'void_shipping']),
			('Disp-', 'urn:epcglobal:cbv:disp:', ARRAY['active', 'available', 'completeness_inferred',
				'completeness_verified', 'conformant', 'container_closed', 'container_open', 'damaged',
				'destroyed', 'dispensed', 'disposed', 'encoded', 'expired', 'in_progress', 'in_transit',
				'inactive', 'mismatch_class', 'mismatch_instance', 'mismatch_quantity',
				'needs_replacement', 'no_pedigree_match', 'non_conformant', 'non_sellable_other',
				'partially_dispensed', 'recalled', 'reserved', 'retail_sold', 'returned',
				'sellable_accessible', 'sellable_not_accessible', 'stolen', 'unavailable', 'unknown']),
			('SDT-', 'urn:epcglobal:cbv:sdt:', ARRAY['owning_party', 'possessing_party', 'location']),
			('BTT-', 'urn:epcglobal:cbv:btt:', ARRAY['bol', 'cert', 'desadv', 'inv', 'pedigree', 'po', 'poc',
				'prodorder', 'recadv', 'rma', 'testprd', 'testres', 'upevt'])
		) AS t(web, urn, names)
		WHERE t.web = CASE vocabulary WHEN 'bizStep' THEN 'BizStep-' WHEN 'disposition' THEN 'Disp-'
			WHEN 'sourceDestType' THEN 'SDT-' WHEN 'bizTransactionType' THEN 'BTT-' END
	)
	SELECT n FROM v, unnest(v.names) n
	 WHERE term IN (n, 'https://ref.gs1.org/cbv/' || v.web || n, v.urn || n)
);
COMMENT ON FUNCTION epcis_cbv(text, text) IS
	'The CBV 2.0 short name of a bizStep, disposition, sourceDestType or bizTransactionType term given bare, as https://ref.gs1.org/cbv/… URI or as urn:epcglobal:cbv:… URN; NULL if not in the vocabulary.';

-- UN/CEFACT Recommendation 20 codes (the uom of a quantityElement) as qty units.
CREATE FUNCTION epcis_uom_unit(uom text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE uom
	WHEN 'KGM' THEN 'kg' WHEN 'GRM' THEN 'g' WHEN 'TNE' THEN 't'
	WHEN 'LTR' THEN 'L' WHEN 'MLT' THEN 'mL'
	WHEN 'H87' THEN 'pcs' WHEN 'EA' THEN 'pcs' WHEN 'C62' THEN 'pcs'
	END;
COMMENT ON FUNCTION epcis_uom_unit(text) IS
	'The qty unit of a UN/CEFACT unit code: KGM kg, GRM g, TNE t, LTR L, MLT mL, H87/EA/C62 pieces; NULL for any other code.';

-- ---- identifiers ---------------------------------------------------------------

-- A class-level identifier as GTIN-14 and lot: an LGTIN EPC URN
-- (urn:epc:class:lgtin:<company prefix>.<indicator+item ref>.<lot>) or a GS1
-- Digital Link URI (https://id.gs1.org/01/<GTIN>[/10/<lot>]). NULL when it is
-- neither form; 22P02 when it is one of them but malformed.
CREATE FUNCTION epcis_class_parse(uri text, OUT gtin text, OUT lot text)
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m text[];
	d text;
	s int := 0;
BEGIN
	IF uri LIKE 'urn:epc:class:lgtin:%' THEN
		m := regexp_match(uri, '^urn:epc:class:lgtin:([0-9]+)\.([0-9]+)\.(.+)$');
		IF m IS NULL OR length(m[1]) + length(m[2]) <> 13 OR length(m[1]) NOT BETWEEN 6 AND 12 THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_text_representation',
				MESSAGE = format('invalid LGTIN EPC URN: "%s"', uri),
				DETAIL = 'An LGTIN is urn:epc:class:lgtin:<company prefix>.<indicator and item reference>.<lot>, the two numbers 13 digits together.';
		END IF;
		-- GTIN-14: indicator digit, company prefix, item reference, check digit
		d := substr(m[2], 1, 1) || m[1] || substr(m[2], 2);
		FOR i IN 1 .. 13 LOOP
			s := s + substr(d, i, 1)::int * CASE WHEN i % 2 = 1 THEN 3 ELSE 1 END;
		END LOOP;
		gtin := d || ((10 - s % 10) % 10)::text;
		lot := m[3];
		-- the lot as gs1_digital_link would accept it (1-20 chars of set 82)
		PERFORM shilian.gs1_digital_link(gtin, lot);
		RETURN;
	END IF;
	IF uri ~ '^https?://[^/]+/(.*/)?(01|gtin)/' THEN
		SELECT p.gtin, p.lot INTO gtin, lot FROM shilian.gs1_parse_digital_link(uri) p;
		RETURN;
	END IF;
	gtin := NULL;
	lot := NULL;
END
$$;
COMMENT ON FUNCTION epcis_class_parse(text) IS
	'GTIN-14 and lot of an LGTIN EPC URN or a GS1 Digital Link class URI; NULLs for any other URI, 22P02 for a malformed one.';

-- The keys an event's class is found by: the Digital Link with the lot and
-- the one without (so a query for a GTIN matches every lot of it).
CREATE FUNCTION epcis_class_keys(uri text) RETURNS text[]
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT CASE WHEN c.gtin IS NULL THEN ARRAY[uri]
		WHEN c.lot IS NULL THEN ARRAY[shilian.gs1_digital_link(c.gtin)]
		ELSE ARRAY[shilian.gs1_digital_link(c.gtin, c.lot), shilian.gs1_digital_link(c.gtin)] END
	FROM shilian.epcis_class_parse(uri) c);
COMMENT ON FUNCTION epcis_class_keys(text) IS
	'Digital Link keys of a class URI: with its lot (if any) first, then the GTIN alone; other URIs as they are.';

-- A party (readPoint, bizLocation, source, destination): urn:shilian:operator:<id>
-- or urn:shilian:uscc:<unified social credit code>. NULL when the URI is not
-- one of these forms; SLE04 when it names no operator.
CREATE FUNCTION epcis_party(uri text, idx int DEFAULT NULL, field text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	op bigint;
BEGIN
	IF uri IS NULL THEN
		RETURN NULL;
	ELSIF uri ~ '^urn:shilian:operator:[1-9][0-9]{0,17}$' THEN
		SELECT o.id INTO op FROM shilian.operator o WHERE o.id = substr(uri, 22)::bigint;
	ELSIF uri LIKE 'urn:shilian:uscc:%' THEN
		SELECT o.id INTO op FROM shilian.operator o
		 WHERE o.uscc OPERATOR(shilian.=) substr(uri, 18)::shilian.uscc;
	ELSIF shilian.epcis_gs1_uri(uri) ~ '^https://id\.gs1\.org/41[47]/' THEN
		-- a PGLN, GLN or SGLN: GS1 master data (gs1_location)
		op := shilian.gs1_location_operator(uri);
	ELSE
		RETURN NULL;
	END IF;
	IF op IS NULL AND idx IS NOT NULL THEN
		PERFORM shilian.epcis_refuse('SLE04', idx, field, format('unknown party: no operator is %s', uri),
			'Name a registered operator: urn:shilian:operator:<id>, urn:shilian:uscc:<USCC>, or a GLN/PGLN/SGLN registered with gs1_location_register.');
	ELSIF op IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE04',
			MESSAGE = format('unknown party: no operator is %s', uri);
	END IF;
	RETURN op;
END
$$;
COMMENT ON FUNCTION epcis_party(text, int, text) IS
	'The operator a party URI names (urn:shilian:operator:<id>, urn:shilian:uscc:<USCC>, or a PGLN/GLN/SGLN registered in gs1_location); NULL for other URIs, SLE04 if no operator matches (naming the event and field when given).';
REVOKE ALL ON FUNCTION epcis_party(text, int, text) FROM PUBLIC;

-- ---- event hash ID -----------------------------------------------------------

-- GS1's EPCIS event hash ID (CBV 2.0 section 8.9): the canonical pre-hash
-- string of an event (extension/core/eventhash.c) and its SHA-256 as
-- ni:///sha-256;<hex>?ver=CBV2.0. The document's @context binds the prefixes
-- of extension fields. Capture names an event without an eventID by it, so a
-- resent document is recognised.
CREATE FUNCTION epcis_event_prehash(event jsonb, context jsonb DEFAULT NULL) RETURNS text
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'shilian_epcis_event_prehash';
COMMENT ON FUNCTION epcis_event_prehash(jsonb, jsonb) IS
	'The canonical pre-hash string of an EPCIS event (CBV 2.0 event hash ID), given the document''s @context.';
CREATE FUNCTION epcis_event_hash(event jsonb, context jsonb DEFAULT NULL) RETURNS text
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'shilian_epcis_event_hash';
COMMENT ON FUNCTION epcis_event_hash(jsonb, jsonb) IS
	'The EPCIS event hash ID of an event (ni:///sha-256;<hex>?ver=CBV2.0), given the document''s @context: the eventID capture assigns when an event has none.';

-- ---- capture -----------------------------------------------------------------

-- Raise an EPCIS refusal about one event's field.
CREATE FUNCTION epcis_refuse(code text, idx int, field text, msg text, hint text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
	IF hint IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = code,
			MESSAGE = format('EPCIS event %s: %s', idx, msg),
			DETAIL = format('At /epcisBody/eventList/%s%s.', idx, coalesce('/' || field, ''));
	END IF;
	RAISE EXCEPTION USING ERRCODE = code,
		MESSAGE = format('EPCIS event %s: %s', idx, msg),
		DETAIL = format('At /epcisBody/eventList/%s%s.', idx, coalesce('/' || field, '')),
		HINT = hint;
END
$$;
COMMENT ON FUNCTION epcis_refuse(text, int, text, text, text) IS
	'Raise an EPCIS capture refusal naming the event index and field (internal).';

-- A quantityElement as qty: quantity a positive JSON number, uom a UN/CEFACT code
-- (absent: pieces).
CREATE FUNCTION epcis_qty(q jsonb, idx int, field text) RETURNS qty
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	unit text;
BEGIN
	IF jsonb_typeof(q -> 'quantity') IS DISTINCT FROM 'number' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, field || '/quantity',
			'a quantityElement needs a numeric "quantity"');
	END IF;
	IF q ? 'uom' THEN
		unit := shilian.epcis_uom_unit(q ->> 'uom');
		IF unit IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE03', idx, field || '/uom',
				format('unknown unit of measure "%s"', q ->> 'uom'),
				'Use a UN/CEFACT code: KGM, GRM, TNE (mass), LTR, MLT (volume), H87, EA, C62 (pieces).');
		END IF;
	ELSE
		unit := 'pcs';
	END IF;
	RETURN shilian.qty((q ->> 'quantity')::numeric, unit);
END
$$;
COMMENT ON FUNCTION epcis_qty(jsonb, int, text) IS
	'The qty of an EPCIS quantityElement (quantity and UN/CEFACT uom; pieces without uom); SLE01/SLE03 naming the event and field (internal).';

-- The quantityList elements of an event field as (product, lot, qty, class).
CREATE FUNCTION epcis_quantities(ev jsonb, idx int, field text)
	RETURNS TABLE (product bigint, lot text, qty qty, epc_class text, keys text[])
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q jsonb;
	k int := 0;
	c record;
	f text;
BEGIN
	IF jsonb_typeof(ev -> field) IS DISTINCT FROM 'array' OR jsonb_array_length(ev -> field) = 0 THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, field, format('missing field "%s"', field),
			'This platform records lots: give each lot as a quantityElement (epcClass, quantity, uom).');
	END IF;
	FOR q IN SELECT e FROM jsonb_array_elements(ev -> field) e LOOP
		f := field || '/' || k;
		IF jsonb_typeof(q -> 'epcClass') IS DISTINCT FROM 'string' THEN
			PERFORM shilian.epcis_refuse('SLE01', idx, f || '/epcClass', 'a quantityElement needs an "epcClass"');
		END IF;
		SELECT * INTO c FROM shilian.epcis_class_parse(q ->> 'epcClass');
		IF c.gtin IS NULL OR c.lot IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE04', idx, f || '/epcClass',
				format('unsupported class identifier "%s"', q ->> 'epcClass'),
				'Name a lot: urn:epc:class:lgtin:<company prefix>.<item reference>.<lot> or https://id.gs1.org/01/<GTIN>/10/<lot>.');
		END IF;
		product := NULL;
		SELECT p.id INTO product FROM shilian.product p
		 WHERE p.gtin IN (c.gtin, substr(c.gtin, 2), substr(c.gtin, 3), substr(c.gtin, 7))
		   AND lpad(p.gtin, 14, '0') = c.gtin;
		IF product IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE04', idx, f || '/epcClass',
				format('unknown product: no product has GTIN %s', c.gtin),
				'Register the product with its GTIN first (product_register).');
		END IF;
		lot := c.lot;
		qty := shilian.epcis_qty(q, idx, f);
		epc_class := q ->> 'epcClass';
		keys := ARRAY[shilian.gs1_digital_link(c.gtin, c.lot), shilian.gs1_digital_link(c.gtin)];
		RETURN NEXT;
		k := k + 1;
	END LOOP;
END
$$;
COMMENT ON FUNCTION epcis_quantities(jsonb, int, text) IS
	'The quantityElements of an event list field as product (by GTIN), lot, qty, class and its Digital Link keys (with and without lot); refuses with SLE01/SLE03/SLE04 (internal).';
REVOKE ALL ON FUNCTION epcis_quantities(jsonb, int, text) FROM PUBLIC;

-- The operator's newest batch of a product and lot.
CREATE FUNCTION epcis_batch(op bigint, product bigint, lot text, idx int, epc_class text)
	RETURNS trace_code
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	code shilian.trace_code;
BEGIN
	SELECT b.trace_code INTO code FROM shilian.batch b
	 WHERE b.product_id = epcis_batch.product AND b.owner_id = op AND b.lot = epcis_batch.lot
	 ORDER BY b.id DESC LIMIT 1;
	IF code IS NULL THEN
		PERFORM shilian.epcis_refuse('SLE06', idx, NULL,
			format('no batch of %s held by operator %s', epc_class, op),
			'Capture its commissioning (or receiving) event first.');
	END IF;
	RETURN code;
END
$$;
COMMENT ON FUNCTION epcis_batch(bigint, bigint, text, int, text) IS
	'The newest batch an operator holds of a product and lot, or SLE06 naming the event (internal).';
REVOKE ALL ON FUNCTION epcis_batch(bigint, bigint, text, int, text) FROM PUBLIC;

-- The first party of a sourceList/destinationList by type preference.
CREATE FUNCTION epcis_list_party(ev jsonb, idx int, field text, key text) RETURNS bigint
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e jsonb;
	k int := 0;
	t text;
	op bigint;
	best bigint;
	best_rank int := 99;
BEGIN
	IF ev -> field IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(ev -> field) <> 'array' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, field, format('"%s" must be an array', field));
	END IF;
	FOR e IN SELECT x FROM jsonb_array_elements(ev -> field) x LOOP
		t := shilian.epcis_cbv('sourceDestType', e ->> 'type');
		IF t IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, field || '/' || k || '/type',
				format('unknown %s type "%s"', key, coalesce(e ->> 'type', 'null')),
				'Use owning_party, possessing_party or location (CBV 2.0).');
		END IF;
		IF jsonb_typeof(e -> key) IS DISTINCT FROM 'string' THEN
			PERFORM shilian.epcis_refuse('SLE01', idx, field || '/' || k, format('missing field "%s"', key));
		END IF;
		op := shilian.epcis_party(e ->> key, idx, field || '/' || k || '/' || key);
		IF op IS NOT NULL AND array_position(ARRAY['owning_party', 'possessing_party', 'location'], t) < best_rank THEN
			best := op;
			best_rank := array_position(ARRAY['owning_party', 'possessing_party', 'location'], t);
		END IF;
		k := k + 1;
	END LOOP;
	RETURN best;
END
$$;
COMMENT ON FUNCTION epcis_list_party(jsonb, int, text, text) IS
	'The operator a sourceList or destinationList names (owning_party before possessing_party before location); checks the CBV types (internal).';
REVOKE ALL ON FUNCTION epcis_list_party(jsonb, int, text, text) FROM PUBLIC;

-- The lot's expiry from the event's ilmd (CBV master data): itemExpirationDate,
-- else bestBeforeDate; NULL when neither is given.
CREATE FUNCTION epcis_expiry(ev jsonb, idx int) RETURNS date
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	f text := CASE WHEN ev #> '{ilmd,cbvmda:itemExpirationDate}' IS NOT NULL THEN 'cbvmda:itemExpirationDate'
	               ELSE 'cbvmda:bestBeforeDate' END;
BEGIN
	IF ev #> ARRAY['ilmd', f] IS NULL THEN
		RETURN NULL;
	END IF;
	-- the one strict reading of dates (strict_date): YYYY-MM-DD with a real day
	RETURN shilian.strict_date(ev #>> ARRAY['ilmd', f], f);
EXCEPTION WHEN SQLSTATE 'SLD01' OR SQLSTATE 'SLD02' THEN
	PERFORM shilian.epcis_refuse('SLE01', idx, 'ilmd/' || f,
		format('invalid %s "%s"', f, ev #>> ARRAY['ilmd', f]),
		CASE SQLSTATE WHEN 'SLD02' THEN 'The date is out of range.' ELSE 'Write the date as YYYY-MM-DD.' END);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION epcis_expiry(jsonb, int) IS
	'The expiry date an event''s ilmd gives (cbvmda:itemExpirationDate, else cbvmda:bestBeforeDate), NULL if none; SLE01 naming the event for a malformed date (internal).';

-- Apply one event: check its fields and vocabulary, call the record functions,
-- keep it in epcis_event.
-- The SGTINs of an event's epcList, by product: GTIN-14, the serials, and
-- the class keys; any spelling of an SGTIN (EPC URI, Digital Link) is
-- read through its canonical Digital Link. SLE04 for another identifier or
-- a GTIN no product has, SLE13 for a serial listed twice or commissioned
-- before (internal).
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

CREATE FUNCTION epcis_apply_event(job bigint, idx int, ev jsonb) RETURNS void
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

CREATE FUNCTION epcis_capture(doc jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET shilian.channel = 'epcis'
AS $$
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	job bigint;
	n int;
	missing text;
	ev jsonb;
	h text;
	again text[] := '{}';
BEGIN
	IF doc IS NULL OR jsonb_typeof(doc) <> 'object' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01', MESSAGE = 'invalid EPCIS document: not a JSON object';
	END IF;
	SELECT f INTO missing FROM unnest(ARRAY['@context', 'type', 'schemaVersion', 'creationDate', 'epcisBody']) f
	 WHERE NOT doc ? f LIMIT 1;
	IF missing IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = format('invalid EPCIS document: missing field "%s"', missing),
			HINT = 'An EPCISDocument has @context, type, schemaVersion, creationDate and epcisBody.eventList.';
	END IF;
	IF doc ->> 'type' IS DISTINCT FROM 'EPCISDocument' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = format('invalid EPCIS document: type is %s, not EPCISDocument', doc -> 'type');
	END IF;
	IF jsonb_typeof(doc -> 'schemaVersion') IS DISTINCT FROM 'string' OR doc ->> 'schemaVersion' !~ '^2\.[0-9]+$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = format('invalid EPCIS document: schemaVersion %s is not 2.x', doc -> 'schemaVersion');
	END IF;
	-- the one strict reading of timestamps (strict_timestamptz): RFC 3339 with its offset
	BEGIN
		IF jsonb_typeof(doc -> 'creationDate') IS DISTINCT FROM 'string'
		   OR shilian.strict_timestamptz(doc ->> 'creationDate', 'creationDate') IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'SLD03';
		END IF;
	EXCEPTION WHEN SQLSTATE 'SLD03' OR SQLSTATE 'SLD04' OR SQLSTATE 'SLD05' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = format('invalid EPCIS document: creationDate %s is not an RFC 3339 date-time with its offset',
				doc -> 'creationDate');
	END;
	IF jsonb_typeof(doc #> '{epcisBody,eventList}') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = 'invalid EPCIS document: missing field "epcisBody.eventList"';
	END IF;
	IF NOT (SELECT bool_and(jsonb_typeof(c) = 'string' OR jsonb_typeof(c) = 'object')
	          FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc -> '@context') = 'array'
	                                         THEN doc -> '@context' ELSE jsonb_build_array(doc -> '@context') END) c) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = 'invalid EPCIS document: @context must be a URI, an object or an array of them';
	END IF;

	n := jsonb_array_length(doc #> '{epcisBody,eventList}');
	-- master data first: the events may name the GLNs it registers
	PERFORM shilian.epcis_master_data(doc);
	INSERT INTO shilian.epcis_capture_job (role_name, operator_id, client, jurisdiction, doc_hash, success, events)
	VALUES (caller, shilian.current_operator(), shilian.current_client(), shilian.current_jurisdiction(),
		sha256(convert_to(doc::text, 'UTF8')), true, n)
	RETURNING id INTO job;
	FOR i IN 0 .. n - 1 LOOP
		ev := doc #> ARRAY['epcisBody', 'eventList', i::text];
		-- an event without an eventID is named by its event hash ID; an event
		-- captured before under its eventID with the same hash (a resend) is
		-- reported, not recorded again; another event under a known eventID is
		-- refused by epcis_apply_event (23505)
		-- An error declaration repeats the declared event (its hash leaves
		-- errorDeclaration out): it is a resend once a correction records it.
		IF jsonb_typeof(ev) = 'object' AND ev ? 'errorDeclaration' THEN
			IF jsonb_typeof(ev -> 'eventID') = 'string' AND EXISTS (SELECT 1 FROM shilian.correction c
			     WHERE c.epcis ->> 'eventID' = ev ->> 'eventID') THEN
				again := again || (ev ->> 'eventID');
				CONTINUE;
			END IF;
		ELSIF jsonb_typeof(ev) = 'object' THEN
			h := shilian.epcis_event_hash(ev, doc -> '@context');
			IF NOT ev ? 'eventID' THEN
				ev := ev || jsonb_build_object('eventID', h);
			END IF;
			IF jsonb_typeof(ev -> 'eventID') = 'string' AND EXISTS (SELECT 1 FROM shilian.epcis_event e
			     WHERE e.event_id = ev ->> 'eventID'
			       AND shilian.epcis_event_hash(e.event, doc -> '@context') = h) THEN
				again := again || (ev ->> 'eventID');
				CONTINUE;
			END IF;
		END IF;
		PERFORM shilian.epcis_apply_event(job, i, ev);
	END LOOP;
	UPDATE shilian.epcis_capture_job SET finished_at = clock_timestamp(), events = n - cardinality(again),
		already_captured = again
	 WHERE id = job;
	RETURN job;
END
$$;
COMMENT ON FUNCTION epcis_capture(jsonb) IS
	'Capture a GS1 EPCIS 2.0 EPCISDocument: validate it and record every event through the record functions (ADD commissioning -> batch_create, OBSERVE shipping -> ship, receiving/accepting -> receive, inspecting -> inspect, destroying -> consume, TransformationEvent -> transform), all or nothing; an event without eventID is named by its event hash ID, an event captured before (same eventID, same hash) is reported in already_captured and not recorded again; returns the capture job id. Refusals: SLE01-SLE06, 23505 for another event under a known eventID, and those of the record functions.';
REVOKE ALL ON FUNCTION epcis_capture(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_capture(jsonb) TO shilian_operator, shilian_system, shilian_admin;

-- What GET /epcis/capture/{id} answers: the job as the standard's EPCISCaptureJob.
CREATE FUNCTION epcis_capture_status(id bigint) RETURNS jsonb
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('captureID', j.id::text, 'createdAt', j.created_at,
		'finishedAt', j.finished_at, 'running', false, 'success', j.success,
		'captureErrorBehaviour', 'rollback', 'events', CASE WHEN j.success THEN j.events ELSE 0 END,
		'errors', CASE WHEN j.success THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
			'type', CASE WHEN j.sqlstate LIKE 'SLE%' OR j.sqlstate LIKE '22%'
				THEN 'https://ref.gs1.org/standards/epcis/exceptions#ValidationException'
				ELSE 'urn:shilian:sqlstate:' || j.sqlstate END,
			'title', j.message, 'code', j.sqlstate, 'detail', j.detail, 'hint', j.hint))) END)
		|| CASE WHEN j.success AND j.already_captured <> '{}'
			THEN jsonb_build_object('shilian:alreadyCaptured', to_jsonb(j.already_captured)) ELSE '{}' END
	FROM shilian.epcis_capture_job j WHERE j.id = epcis_capture_status.id);
COMMENT ON FUNCTION epcis_capture_status(bigint) IS
	'An EPCIS capture job the caller may see, as an EPCISCaptureJob (captureID, createdAt, finishedAt, running, success, captureErrorBehaviour rollback, errors; shilian:alreadyCaptured lists the eventIDs of a resent document''s events that were captured before); NULL if unknown or not visible.';
REVOKE ALL ON FUNCTION epcis_capture_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_capture_status(bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- What POST /epcis/capture runs: epcis_capture in a subtransaction; a refused
-- document is kept as a failed job (its events roll back) and answered as an
-- error that names the job.
CREATE FUNCTION epcis_capture_submit(doc jsonb,
		OUT body jsonb, OUT location text, OUT error_sqlstate text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	job bigint;
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	BEGIN
		job := shilian.epcis_capture(doc);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
			hnt = PG_EXCEPTION_HINT;
		INSERT INTO shilian.epcis_capture_job (role_name, operator_id, client, jurisdiction, doc_hash,
			success, sqlstate, message, detail, hint)
		VALUES (caller, shilian.current_operator(), shilian.current_client(), shilian.current_jurisdiction(),
			sha256(convert_to(coalesce(doc::text, ''), 'UTF8')), false, st, msg, nullif(det, ''), nullif(hnt, ''))
		RETURNING id INTO job;
		body := jsonb_build_object('code', st, 'message', msg, 'details', nullif(det, ''),
			'hint', nullif(hnt, ''), 'captureID', job::text);
		location := '/epcis/capture/' || job;
		error_sqlstate := st;
		RETURN;
	END;
	body := shilian.epcis_capture_status(job);
	location := '/epcis/capture/' || job;
END
$$;
COMMENT ON FUNCTION epcis_capture_submit(jsonb) IS
	'epcis_capture for POST /epcis/capture: the capture job (body), its Location, and for a refused document the error (kept as a failed job, nothing else written).';
REVOKE ALL ON FUNCTION epcis_capture_submit(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_capture_submit(jsonb) TO shilian_operator, shilian_system, shilian_admin;

-- ---- query ------------------------------------------------------------------------

CREATE FUNCTION epcis_events(ge_event_time timestamptz DEFAULT NULL, lt_event_time timestamptz DEFAULT NULL,
		eq_biz_step text[] DEFAULT NULL, match_epc_class text[] DEFAULT NULL,
		match_any_epc_class text[] DEFAULT NULL, per_page int DEFAULT NULL,
		next_page_token text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	steps text[];
	cls text[];
	anyc text[];
	n int := coalesce(per_page, 30);
	after_id bigint;
	after_time timestamptz;
	evs jsonb;
	cnt int;
	last_id bigint;
	tok text;
BEGIN
	IF n NOT BETWEEN 1 AND 1000 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('perPage %s is out of range', n), HINT = 'Ask for 1 to 1000 events a page.';
	END IF;
	IF eq_biz_step IS NOT NULL THEN
		SELECT array_agg(coalesce(shilian.epcis_cbv('bizStep', s), '?' || s)) INTO steps FROM unnest(eq_biz_step) s;
		IF EXISTS (SELECT 1 FROM unnest(steps) s WHERE s LIKE '?%') THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('unknown bizStep in EQ_bizStep: %s',
					(SELECT string_agg(substr(s, 2), ', ') FROM unnest(steps) s WHERE s LIKE '?%'));
		END IF;
	END IF;
	IF match_epc_class IS NOT NULL THEN
		SELECT array_agg((shilian.epcis_class_keys(c))[1]) INTO cls FROM unnest(match_epc_class) c;
	END IF;
	IF match_any_epc_class IS NOT NULL THEN
		SELECT array_agg((shilian.epcis_class_keys(c))[1]) INTO anyc FROM unnest(match_any_epc_class) c;
	END IF;
	IF next_page_token IS NOT NULL THEN
		BEGIN
			after_id := substr(convert_from(decode(next_page_token, 'hex'), 'UTF8'), 4)::bigint;
			IF convert_from(decode(next_page_token, 'hex'), 'UTF8') NOT LIKE 'v1|%' THEN
				RAISE EXCEPTION 'bad';
			END IF;
		EXCEPTION WHEN OTHERS THEN
			after_id := NULL;
		END;
		SELECT e.event_time INTO after_time FROM shilian.epcis_event e WHERE e.id = after_id;
		IF after_time IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('invalid nextPageToken "%s"', next_page_token),
				HINT = 'Pass the token of the previous page''s Link header with the same query parameters.';
		END IF;
	END IF;

	SELECT coalesce(jsonb_agg(p.ev ORDER BY p.event_time, p.id) FILTER (WHERE p.rn <= n), '[]'),
	       count(*), max(p.id) FILTER (WHERE p.rn = n)
	  INTO evs, cnt, last_id
	  FROM (SELECT e.id, e.event_time,
	               e.event || jsonb_build_object('recordTime', e.record_time) AS ev,
	               row_number() OVER (ORDER BY e.event_time, e.id) AS rn
	          FROM shilian.epcis_event e
	         WHERE (ge_event_time IS NULL OR e.event_time >= ge_event_time)
	           AND (lt_event_time IS NULL OR e.event_time < lt_event_time)
	           AND (steps IS NULL OR e.biz_step = ANY (steps))
	           AND (cls IS NULL OR e.epc_classes && cls)
	           AND (anyc IS NULL OR e.any_classes && anyc)
	           AND (after_id IS NULL OR (e.event_time, e.id) > (after_time, after_id))
	         ORDER BY e.event_time, e.id
	         LIMIT n + 1) p;
	IF cnt > n THEN
		tok := encode(convert_to('v1|' || last_id, 'UTF8'), 'hex');
	END IF;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'@context', jsonb_build_array('https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
			jsonb_build_object('shilian', 'urn:shilian:epcis:', 'cbvmda', 'urn:epcglobal:cbv:mda:')),
		'type', 'EPCISQueryDocument',
		'schemaVersion', '2.0',
		'creationDate', now(),
		'epcisBody', jsonb_build_object('queryResults', jsonb_build_object(
			'queryName', 'SimpleEventQuery',
			'resultsBody', jsonb_build_object('eventList', evs))),
		'shilian:nextPageToken', tok));
END
$$;
COMMENT ON FUNCTION epcis_events(timestamptz, timestamptz, text[], text[], text[], int, text) IS
	'SimpleEventQuery over the captured EPCIS events the caller may see: GE_eventTime, LT_eventTime, EQ_bizStep, MATCH_epcClass, MATCH_anyEPCClass (a class without lot matches every lot), perPage (30, at most 1000) and nextPageToken; returns an EPCISQueryDocument, ordered by eventTime, with shilian:nextPageToken when there is a next page.';
REVOKE ALL ON FUNCTION epcis_events(timestamptz, timestamptz, text[], text[], text[], int, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_events(timestamptz, timestamptz, text[], text[], text[], int, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- ---- the query interface of EPCIS 2.0 (SimpleEventQuery) --------------------------

-- An identifier as its constrained canonical GS1 Digital Link URI (EPC URI,
-- EPC class or pattern URI, Digital Link with a custom domain): the form the
-- event hash uses, so EQ_readPoint and MATCH_epc compare any spelling alike.
-- NULL when the text names no GS1 key.
CREATE FUNCTION epcis_gs1_uri(uri text) RETURNS text
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'shilian_epcis_gs1_uri';
COMMENT ON FUNCTION epcis_gs1_uri(text) IS
	'The constrained canonical GS1 Digital Link URI of an EPC URI, EPC class/pattern URI or Digital Link URI; NULL when it names no GS1 key.';

-- The lot a serialised item (SGTIN, any spelling) is in, as far as the
-- caller may see: of the lot it was commissioned in and the batches it was
-- received into since (item_link: sales made for it by shipping events that
-- list it), the last one whose holder the caller may see. A walk by serial
-- starts there (trace_forward(item_batch(epc)) reaches every lot it went on
-- to, trace_backward where it came from). SLE24 for a text that is no
-- SGTIN, SLE14 for an unknown item or one the caller may see in no lot.
CREATE FUNCTION item_batch(epc text) RETURNS trace_code
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

-- A serialised item with its lot (GET /v1/items/{epc}): item_batch decides
-- (the one rule: SLE24 malformed, SLE14 unknown or not visible).
CREATE FUNCTION item_get(epc text) RETURNS jsonb
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('epc', epc, 'uri', u, 'gtin', m[1], 'serial', m[2],
		'batch', shilian.item_batch(epc)::text)
	FROM shilian.epcis_gs1_uri(epc) u,
	     LATERAL regexp_match(u, '^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$') m);
COMMENT ON FUNCTION item_get(text) IS
	'A serialised item (SGTIN, any spelling) as {epc, uri (canonical Digital Link), gtin, serial, batch (its lot''s trace code)}, by item_batch''s rule: SLE24 malformed, SLE14 unknown or not visible.';
REVOKE ALL ON FUNCTION item_get(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION item_get(text) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- Refuse a query parameter: SLE07, the standard's QueryParameterException.
CREATE FUNCTION epcis_query_refuse(name text, msg text, hint text DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF hint IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE07', MESSAGE = format('query parameter %s: %s', name, msg),
			DETAIL = format('QueryParameterException: %s.', name);
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'SLE07', MESSAGE = format('query parameter %s: %s', name, msg),
		DETAIL = format('QueryParameterException: %s.', name), HINT = hint;
END
$$;
COMMENT ON FUNCTION epcis_query_refuse(text, text, text) IS
	'Raise SLE07 (QueryParameterException) naming a query parameter (internal to epcis_query).';

-- A query parameter's values: a JSON array, or a string of values separated
-- by "|" (the REST binding's form).
CREATE FUNCTION epcis_query_list(params jsonb, name text) RETURNS text[]
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v jsonb := params -> name;
	r text[];
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) = 'string' THEN
		r := string_to_array(v #>> '{}', '|');
	ELSIF jsonb_typeof(v) = 'array' AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v) x
	                                                 WHERE jsonb_typeof(x) <> 'string') THEN
		r := ARRAY(SELECT jsonb_array_elements_text(v));
	ELSE
		PERFORM shilian.epcis_query_refuse(name, 'must be a string or an array of strings');
	END IF;
	IF cardinality(r) = 0 OR EXISTS (SELECT 1 FROM unnest(r) x WHERE x = '') THEN
		PERFORM shilian.epcis_query_refuse(name, 'an empty value');
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION epcis_query_list(jsonb, text) IS
	'The values of a query parameter (a JSON array or "a|b"); SLE07 when malformed (internal to epcis_query).';

-- One value of a query parameter.
CREATE FUNCTION epcis_query_one(params jsonb, name text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF params -> name IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(params -> name) NOT IN ('string', 'number') OR params ->> name = '' THEN
		PERFORM shilian.epcis_query_refuse(name, 'must be one value');
	END IF;
	RETURN params ->> name;
END
$$;
COMMENT ON FUNCTION epcis_query_one(jsonb, text) IS
	'The one value of a query parameter; SLE07 when it is not one (internal to epcis_query).';

-- A timestamp parameter, strictly RFC 3339 with its offset.
CREATE FUNCTION epcis_query_time(params jsonb, name text) RETURNS timestamptz
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v text := shilian.epcis_query_one(params, name);
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN shilian.strict_timestamptz(v, name);
EXCEPTION WHEN SQLSTATE 'SLD03' OR SQLSTATE 'SLD04' OR SQLSTATE 'SLD05' THEN
	PERFORM shilian.epcis_query_refuse(name, format('"%s" is not an RFC 3339 date-time with its offset', v),
		'Write e.g. 2026-11-20T08:00:00+08:00 or 2026-11-20T00:00:00Z.');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION epcis_query_time(jsonb, text) IS
	'A timestamp query parameter (RFC 3339 with its offset); SLE07 otherwise (internal to epcis_query).';

-- A positive integer parameter.
CREATE FUNCTION epcis_query_int(params jsonb, name text, lo int, hi int) RETURNS int
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v text := shilian.epcis_query_one(params, name);
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	IF v !~ '^[0-9]{1,9}$' OR v::int NOT BETWEEN lo AND hi THEN
		PERFORM shilian.epcis_query_refuse(name, format('"%s" is not an integer from %s to %s', v, lo, hi));
	END IF;
	RETURN v::int;
END
$$;
COMMENT ON FUNCTION epcis_query_int(jsonb, text, int, int) IS
	'An integer query parameter within its range; SLE07 otherwise (internal to epcis_query).';

-- Identifiers as compared: the canonical Digital Link when there is one.
CREATE FUNCTION epcis_query_ids(ids text[]) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN ARRAY(SELECT coalesce(shilian.epcis_gs1_uri(i), i) FROM unnest(ids) i);

-- Whether one of the identifiers of a list (jsonb array of strings, or one
-- string) matches the query's: the same canonical identifier, or under a
-- pattern (urn:epc:idpat:…:*, every serial of the class).
CREATE FUNCTION epcis_query_match(ids jsonb, exact text[], prefixes text[]) RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT 1
	FROM jsonb_array_elements_text(CASE jsonb_typeof(ids) WHEN 'array' THEN ids
	                               WHEN 'string' THEN jsonb_build_array(ids) ELSE '[]' END) x,
	     LATERAL (SELECT coalesce(shilian.epcis_gs1_uri(x), x) AS id) c
	WHERE c.id = ANY (exact) OR EXISTS (SELECT 1 FROM unnest(prefixes) p WHERE starts_with(c.id, p)));

-- The classes of quantity lists, as the keys epcis_class_keys gives (with and without lot).
CREATE FUNCTION epcis_query_classes(lists jsonb[]) RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN ARRAY(SELECT k FROM unnest(lists) l, jsonb_array_elements(CASE WHEN jsonb_typeof(l) = 'array' THEN l ELSE '[]' END) q,
	unnest(coalesce(shilian.epcis_class_keys(q ->> 'epcClass'), ARRAY[q ->> 'epcClass'])) k);

COMMENT ON FUNCTION epcis_query_ids(text[]) IS
	'Identifiers as epcis_query compares them: the canonical GS1 Digital Link URI when there is one (internal to epcis_query).';
COMMENT ON FUNCTION epcis_query_match(jsonb, text[], text[]) IS
	'Whether an identifier of a list matches the query''s, exactly or under an EPC pattern (internal to epcis_query).';
COMMENT ON FUNCTION epcis_query_classes(jsonb[]) IS
	'The EPC classes of quantity lists, with and without lot (internal to epcis_query).';

-- The parameter names epcis_query knows.
CREATE FUNCTION epcis_query_parameters() RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['eventType', 'GE_eventTime', 'LT_eventTime', 'GE_recordTime', 'LT_recordTime', 'EQ_action',
	'EQ_bizStep', 'EQ_disposition', 'EQ_readPoint', 'WD_readPoint', 'EQ_bizLocation', 'WD_bizLocation',
	'EQ_transformationID', 'MATCH_epc', 'MATCH_parentID', 'MATCH_inputEPC', 'MATCH_outputEPC', 'MATCH_anyEPC',
	'MATCH_epcClass', 'MATCH_inputEPCClass', 'MATCH_outputEPCClass', 'MATCH_anyEPCClass', 'EQ_eventID',
	'EXISTS_errorDeclaration', 'orderBy', 'orderDirection', 'eventCountLimit', 'maxEventCount', 'perPage',
	'nextPageToken'];
COMMENT ON FUNCTION epcis_query_parameters() IS
	'The SimpleEventQuery parameters epcis_query supports (besides EQ_bizTransaction_<type>, EQ_source_<type>, EQ_destination_<type>).';

CREATE FUNCTION epcis_query(params jsonb DEFAULT '{}') RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	types text[];
	ge_t timestamptz := shilian.epcis_query_time(params, 'GE_eventTime');
	lt_t timestamptz := shilian.epcis_query_time(params, 'LT_eventTime');
	ge_r timestamptz := shilian.epcis_query_time(params, 'GE_recordTime');
	lt_r timestamptz := shilian.epcis_query_time(params, 'LT_recordTime');
	acts text[] := shilian.epcis_query_list(params, 'EQ_action');
	steps text[];
	step_uris text[];
	disps text[];
	disp_uris text[];
	read_points text[];
	biz_locations text[];
	tids text[];
	eids text[] := shilian.epcis_query_list(params, 'EQ_eventID');
	m_epc text[]; p_epc text[];
	m_parent text[]; p_parent text[];
	m_in text[]; p_in text[];
	m_out text[]; p_out text[];
	m_any text[]; p_any text[];
	c_cls text[]; c_in text[]; c_out text[]; c_any text[];
	exists_err text := params ->> 'EXISTS_errorDeclaration';	-- a Void parameter: its value, if any, is empty or true
	party_filters jsonb := '[]';			-- [{list, field, type, ids}] from EQ_bizTransaction_/EQ_source_/EQ_destination_
	ob text := coalesce(shilian.epcis_query_one(params, 'orderBy'), 'eventTime');
	dir text := shilian.epcis_query_one(params, 'orderDirection');
	d int;
	count_limit int := shilian.epcis_query_int(params, 'eventCountLimit', 1, 1000000000);
	max_count int := shilian.epcis_query_int(params, 'maxEventCount', 1, 1000000000);
	n int := coalesce(shilian.epcis_query_int(params, 'perPage', 1, 1000), 30);
	tok text := shilian.epcis_query_one(params, 'nextPageToken');
	after_id bigint;
	after_sk numeric;
	parts text[];
	evs jsonb;
	cnt int;
	last_id bigint;
	total bigint;
	next_tok text;
	v text;
	x text;
BEGIN
	IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE07', MESSAGE = 'query parameters must be a JSON object';
	END IF;
	-- every parameter is known or refused: never ignored
	FOR k IN SELECT jsonb_object_keys(params) LOOP
		IF k = ANY (shilian.epcis_query_parameters()) THEN
			CONTINUE;
		END IF;
		IF k ~ '^EQ_(bizTransaction|source|destination)_.' THEN
			x := substring(k FROM '^EQ_[a-zA-Z]+_(.*)$');
			v := substring(k FROM '^EQ_([a-zA-Z]+)_');
			-- the type: a CBV term (bare, Web URI or URN) or an extension URI
			x := coalesce(shilian.epcis_cbv(CASE v WHEN 'bizTransaction' THEN 'bizTransactionType' ELSE 'sourceDestType' END, x),
				CASE WHEN x ~ '^[A-Za-z][A-Za-z0-9+.-]*:' THEN x END);
			IF x IS NULL THEN
				PERFORM shilian.epcis_query_refuse(k, format('unknown %s type', v));
			END IF;
			party_filters := party_filters || jsonb_build_object('list', v || 'List', 'field', v, 'type', x,
				'ids', to_jsonb(shilian.epcis_query_ids(shilian.epcis_query_list(params, k))));
			CONTINUE;
		END IF;
		IF k ~ '^(EQ|GT|GE|LT|LE|MATCH|WD|EXISTS|HASATTR|EQATTR|EQ_INNER|GT_INNER|GE_INNER|LT_INNER|LE_INNER|EXISTS_INNER)_' THEN
			PERFORM shilian.epcis_query_refuse(k, 'not supported by this repository',
				'The supported parameters are listed in docs/integration.md ("Query").');
		END IF;
		PERFORM shilian.epcis_query_refuse(k, 'unknown query parameter',
			'SimpleEventQuery parameters: eventType, GE_eventTime, EQ_bizStep, MATCH_epc, ... (docs/integration.md).');
	END LOOP;

	types := shilian.epcis_query_list(params, 'eventType');
	SELECT min(t) INTO v FROM unnest(types) t
	 WHERE t NOT IN ('ObjectEvent', 'AggregationEvent', 'TransactionEvent', 'TransformationEvent', 'AssociationEvent');
	IF v IS NOT NULL THEN
		PERFORM shilian.epcis_query_refuse('eventType', format('unknown event type "%s"', v),
			'ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent or AssociationEvent.');
	END IF;
	SELECT min(a) INTO v FROM unnest(acts) a WHERE a NOT IN ('ADD', 'OBSERVE', 'DELETE');
	IF v IS NOT NULL THEN
		PERFORM shilian.epcis_query_refuse('EQ_action', format('unknown action "%s"', v), 'ADD, OBSERVE or DELETE.');
	END IF;
	-- business steps and dispositions: CBV terms in any spelling, or extension URIs as given
	FOREACH x IN ARRAY coalesce(shilian.epcis_query_list(params, 'EQ_bizStep'), '{}') LOOP
		v := shilian.epcis_cbv('bizStep', x);
		IF v IS NOT NULL THEN
			steps := coalesce(steps, '{}') || v;
		ELSIF x ~ '^[A-Za-z][A-Za-z0-9+.-]*:' THEN
			step_uris := coalesce(step_uris, '{}') || x;
		ELSE
			PERFORM shilian.epcis_query_refuse('EQ_bizStep', format('unknown bizStep "%s"', x),
				'A CBV 2.0 business step (bare, https://ref.gs1.org/cbv/BizStep-… or urn:epcglobal:cbv:bizstep:…) or an extension URI.');
		END IF;
	END LOOP;
	IF params ? 'EQ_bizStep' THEN
		steps := coalesce(steps, '{}');
		step_uris := coalesce(step_uris, '{}');
	END IF;
	FOREACH x IN ARRAY coalesce(shilian.epcis_query_list(params, 'EQ_disposition'), '{}') LOOP
		v := shilian.epcis_cbv('disposition', x);
		IF v IS NOT NULL THEN
			disps := coalesce(disps, '{}') || v;
		ELSIF x ~ '^[A-Za-z][A-Za-z0-9+.-]*:' THEN
			disp_uris := coalesce(disp_uris, '{}') || x;
		ELSE
			PERFORM shilian.epcis_query_refuse('EQ_disposition', format('unknown disposition "%s"', x),
				'A CBV 2.0 disposition (bare, https://ref.gs1.org/cbv/Disp-… or urn:epcglobal:cbv:disp:…) or an extension URI.');
		END IF;
	END LOOP;
	IF params ? 'EQ_disposition' THEN
		disps := coalesce(disps, '{}');
		disp_uris := coalesce(disp_uris, '{}');
	END IF;
	-- locations: without a location hierarchy, WD_ (with descendants) is the location itself
	read_points := shilian.epcis_query_ids(coalesce(shilian.epcis_query_list(params, 'EQ_readPoint'), '{}')
		|| coalesce(shilian.epcis_query_list(params, 'WD_readPoint'), '{}'));
	IF NOT (params ? 'EQ_readPoint' OR params ? 'WD_readPoint') THEN
		read_points := NULL;
	END IF;
	biz_locations := shilian.epcis_query_ids(coalesce(shilian.epcis_query_list(params, 'EQ_bizLocation'), '{}')
		|| coalesce(shilian.epcis_query_list(params, 'WD_bizLocation'), '{}'));
	IF NOT (params ? 'EQ_bizLocation' OR params ? 'WD_bizLocation') THEN
		biz_locations := NULL;
	END IF;
	IF params ? 'EQ_transformationID' THEN
		tids := shilian.epcis_query_ids(shilian.epcis_query_list(params, 'EQ_transformationID'));
	END IF;
	-- instance identifiers: exact, and patterns (urn:epc:idpat:…:*) as the prefix of every serial
	SELECT array_agg(coalesce(shilian.epcis_gs1_uri(i), i)) FILTER (WHERE i NOT LIKE 'urn:epc:idpat:%'),
	       array_agg(shilian.epcis_gs1_uri(i) || '/') FILTER (WHERE i LIKE 'urn:epc:idpat:%')
	  INTO m_epc, p_epc FROM unnest(shilian.epcis_query_list(params, 'MATCH_epc')) i;
	SELECT array_agg(coalesce(shilian.epcis_gs1_uri(i), i)) FILTER (WHERE i NOT LIKE 'urn:epc:idpat:%'),
	       array_agg(shilian.epcis_gs1_uri(i) || '/') FILTER (WHERE i LIKE 'urn:epc:idpat:%')
	  INTO m_parent, p_parent FROM unnest(shilian.epcis_query_list(params, 'MATCH_parentID')) i;
	SELECT array_agg(coalesce(shilian.epcis_gs1_uri(i), i)) FILTER (WHERE i NOT LIKE 'urn:epc:idpat:%'),
	       array_agg(shilian.epcis_gs1_uri(i) || '/') FILTER (WHERE i LIKE 'urn:epc:idpat:%')
	  INTO m_in, p_in FROM unnest(shilian.epcis_query_list(params, 'MATCH_inputEPC')) i;
	SELECT array_agg(coalesce(shilian.epcis_gs1_uri(i), i)) FILTER (WHERE i NOT LIKE 'urn:epc:idpat:%'),
	       array_agg(shilian.epcis_gs1_uri(i) || '/') FILTER (WHERE i LIKE 'urn:epc:idpat:%')
	  INTO m_out, p_out FROM unnest(shilian.epcis_query_list(params, 'MATCH_outputEPC')) i;
	SELECT array_agg(coalesce(shilian.epcis_gs1_uri(i), i)) FILTER (WHERE i NOT LIKE 'urn:epc:idpat:%'),
	       array_agg(shilian.epcis_gs1_uri(i) || '/') FILTER (WHERE i LIKE 'urn:epc:idpat:%')
	  INTO m_any, p_any FROM unnest(shilian.epcis_query_list(params, 'MATCH_anyEPC')) i;
	IF EXISTS (SELECT 1 FROM unnest(ARRAY['MATCH_epc', 'MATCH_parentID', 'MATCH_inputEPC', 'MATCH_outputEPC', 'MATCH_anyEPC']) p,
	           unnest(shilian.epcis_query_list(params, p)) i
	            WHERE i LIKE 'urn:epc:idpat:%' AND shilian.epcis_gs1_uri(i) IS NULL) THEN
		PERFORM shilian.epcis_query_refuse('MATCH_epc', 'a malformed EPC pattern URI',
			'Write a pattern as urn:epc:idpat:sgtin:<company prefix>.<item reference>.*');
	END IF;
	-- classes: a class without a lot matches every lot of its GTIN
	SELECT array_agg(coalesce((shilian.epcis_class_keys(c))[1], c)) INTO c_cls FROM unnest(shilian.epcis_query_list(params, 'MATCH_epcClass')) c;
	SELECT array_agg(coalesce((shilian.epcis_class_keys(c))[1], c)) INTO c_in FROM unnest(shilian.epcis_query_list(params, 'MATCH_inputEPCClass')) c;
	SELECT array_agg(coalesce((shilian.epcis_class_keys(c))[1], c)) INTO c_out FROM unnest(shilian.epcis_query_list(params, 'MATCH_outputEPCClass')) c;
	SELECT array_agg(coalesce((shilian.epcis_class_keys(c))[1], c)) INTO c_any FROM unnest(shilian.epcis_query_list(params, 'MATCH_anyEPCClass')) c;
	IF exists_err IS NOT NULL AND exists_err NOT IN ('', 'true') THEN
		PERFORM shilian.epcis_query_refuse('EXISTS_errorDeclaration', 'takes no value');
	END IF;
	-- order: eventTime or recordTime; the standard's default direction with orderBy is DESC
	IF ob NOT IN ('eventTime', 'recordTime') THEN
		PERFORM shilian.epcis_query_refuse('orderBy', format('cannot order by "%s"', ob), 'Order by eventTime or recordTime.');
	END IF;
	IF dir IS NOT NULL AND dir NOT IN ('ASC', 'DESC') THEN
		PERFORM shilian.epcis_query_refuse('orderDirection', format('"%s" is neither ASC nor DESC', dir));
	END IF;
	d := CASE coalesce(dir, CASE WHEN params ? 'orderBy' THEN 'DESC' ELSE 'ASC' END) WHEN 'DESC' THEN -1 ELSE 1 END;
	IF count_limit IS NOT NULL AND NOT params ? 'orderBy' THEN
		PERFORM shilian.epcis_query_refuse('eventCountLimit', 'needs orderBy', 'Name the order the first events are counted in.');
	END IF;
	IF count_limit IS NOT NULL AND max_count IS NOT NULL THEN
		PERFORM shilian.epcis_query_refuse('eventCountLimit', 'not together with maxEventCount');
	END IF;
	IF tok IS NOT NULL THEN
		BEGIN
			parts := string_to_array(convert_from(decode(tok, 'hex'), 'UTF8'), '|');
		EXCEPTION WHEN OTHERS THEN
			parts := NULL;
		END;
		IF parts IS NULL OR cardinality(parts) <> 4 OR parts[1] <> 'v2' OR parts[2] <> ob OR parts[3] <> d::text
		   OR parts[4] !~ '^[0-9]{1,18}$' THEN
			PERFORM shilian.epcis_query_refuse('nextPageToken', format('invalid token "%s"', tok),
				'Pass the token of the previous page''s Link header with the same query parameters.');
		END IF;
		after_id := parts[4]::bigint;
		SELECT d * extract(epoch FROM CASE ob WHEN 'recordTime' THEN e.record_time ELSE e.event_time END)
		  INTO after_sk FROM shilian.epcis_event e WHERE e.id = after_id;
		IF after_sk IS NULL THEN
			PERFORM shilian.epcis_query_refuse('nextPageToken', format('invalid token "%s"', tok),
				'Pass the token of the previous page''s Link header with the same query parameters.');
		END IF;
	END IF;

	WITH q AS (
	SELECT m.id, m.sk, m.sid, row_number() OVER (ORDER BY m.sk, m.sid) AS rn
	  FROM (SELECT e.id, d * extract(epoch FROM CASE ob WHEN 'recordTime' THEN e.record_time ELSE e.event_time END) AS sk,
	               d * e.id AS sid
	          FROM shilian.epcis_event e
	         WHERE (types IS NULL OR e.type = ANY (types))
	           AND (ge_t IS NULL OR e.event_time >= ge_t) AND (lt_t IS NULL OR e.event_time < lt_t)
	           AND (ge_r IS NULL OR e.record_time >= ge_r) AND (lt_r IS NULL OR e.record_time < lt_r)
	           AND (acts IS NULL OR e.action = ANY (acts))
	           AND (steps IS NULL OR e.biz_step = ANY (steps) OR e.event ->> 'bizStep' = ANY (step_uris))
	           AND (disps IS NULL OR e.disposition = ANY (disps) OR e.event ->> 'disposition' = ANY (disp_uris))
	           AND (read_points IS NULL OR shilian.epcis_query_match(e.event #> '{readPoint,id}', read_points, '{}'))
	           AND (biz_locations IS NULL OR shilian.epcis_query_match(e.event #> '{bizLocation,id}', biz_locations, '{}'))
	           AND (tids IS NULL OR shilian.epcis_query_match(e.event -> 'transformationID', tids, '{}'))
	           AND (eids IS NULL OR e.event_id = ANY (eids))
	           AND (m_epc IS NULL AND p_epc IS NULL
	                OR shilian.epcis_query_match(coalesce(e.event -> 'epcList', '[]') || coalesce(e.event -> 'childEPCs', '[]'),
	                                             coalesce(m_epc, '{}'), coalesce(p_epc, '{}')))
	           AND (m_parent IS NULL AND p_parent IS NULL
	                OR shilian.epcis_query_match(e.event -> 'parentID', coalesce(m_parent, '{}'), coalesce(p_parent, '{}')))
	           AND (m_in IS NULL AND p_in IS NULL
	                OR shilian.epcis_query_match(e.event -> 'inputEPCList', coalesce(m_in, '{}'), coalesce(p_in, '{}')))
	           AND (m_out IS NULL AND p_out IS NULL
	                OR shilian.epcis_query_match(e.event -> 'outputEPCList', coalesce(m_out, '{}'), coalesce(p_out, '{}')))
	           AND (m_any IS NULL AND p_any IS NULL
	                OR shilian.epcis_query_match(coalesce(e.event -> 'epcList', '[]') || coalesce(e.event -> 'childEPCs', '[]')
	                                             || coalesce(e.event -> 'inputEPCList', '[]') || coalesce(e.event -> 'outputEPCList', '[]')
	                                             || CASE WHEN jsonb_typeof(e.event -> 'parentID') = 'string'
	                                                     THEN jsonb_build_array(e.event -> 'parentID') ELSE '[]' END,
	                                             coalesce(m_any, '{}'), coalesce(p_any, '{}')))
	           AND (c_cls IS NULL OR e.epc_classes && c_cls
	                OR shilian.epcis_query_classes(ARRAY[e.event -> 'childQuantityList']) && c_cls)
	           AND (c_in IS NULL OR shilian.epcis_query_classes(ARRAY[e.event -> 'inputQuantityList']) && c_in)
	           AND (c_out IS NULL OR shilian.epcis_query_classes(ARRAY[e.event -> 'outputQuantityList']) && c_out)
	           AND (c_any IS NULL OR e.any_classes && c_any
	                OR shilian.epcis_query_classes(ARRAY[e.event -> 'childQuantityList']) && c_any)
	           AND (exists_err IS NULL OR e.event ? 'errorDeclaration')
	           AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(party_filters) p
	                            WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(
	                                    CASE WHEN jsonb_typeof(e.event -> (p ->> 'list')) = 'array' THEN e.event -> (p ->> 'list') ELSE '[]' END) l
	                                   WHERE coalesce(shilian.epcis_cbv(CASE p ->> 'field' WHEN 'bizTransaction' THEN 'bizTransactionType'
	                                                                    ELSE 'sourceDestType' END, l ->> 'type'), l ->> 'type') = p ->> 'type'
	                                     AND coalesce(shilian.epcis_gs1_uri(l ->> (p ->> 'field')), l ->> (p ->> 'field'))
	                                         IN (SELECT jsonb_array_elements_text(p -> 'ids'))))) m
	)
	SELECT coalesce(jsonb_agg(p.ev ORDER BY p.sk, p.sid) FILTER (WHERE p.pn <= n), '[]'),
	       count(p.id), max(p.id) FILTER (WHERE p.pn = n), (SELECT count(*) FROM q)
	  INTO evs, cnt, last_id, total
	  FROM (SELECT q.id, q.sk, q.sid, e.event || jsonb_build_object('recordTime', e.record_time) AS ev,
	               row_number() OVER (ORDER BY q.sk, q.sid) AS pn
	          FROM q JOIN shilian.epcis_event e ON e.id = q.id
	         WHERE (count_limit IS NULL OR q.rn <= count_limit)
	           AND (after_id IS NULL OR (q.sk, q.sid) > (after_sk, d * after_id))
	         ORDER BY q.sk, q.sid
	         LIMIT n + 1) p;
	IF max_count IS NOT NULL AND total > max_count THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE08',
			MESSAGE = format('the query matches %s events, more than maxEventCount %s', total, max_count),
			DETAIL = 'QueryTooLargeException.',
			HINT = 'Narrow the query, or page through it with perPage.';
	END IF;
	IF cnt > n THEN
		next_tok := encode(convert_to(concat_ws('|', 'v2', ob, d, last_id), 'UTF8'), 'hex');
	END IF;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'@context', jsonb_build_array('https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
			jsonb_build_object('shilian', 'urn:shilian:epcis:', 'cbvmda', 'urn:epcglobal:cbv:mda:')),
		'type', 'EPCISQueryDocument',
		'schemaVersion', '2.0',
		'creationDate', now(),
		'epcisBody', jsonb_build_object('queryResults', jsonb_build_object(
			'queryName', 'SimpleEventQuery',
			'resultsBody', jsonb_build_object('eventList', evs))),
		'shilian:nextPageToken', next_tok));
END
$$;
COMMENT ON FUNCTION epcis_query(jsonb) IS
	'EPCIS 2.0 SimpleEventQuery over the captured events the caller may see: every parameter of epcis_query_parameters() (and EQ_bizTransaction_/EQ_source_/EQ_destination_<type>), each value a string ("a|b" for several) or an array; an unknown, unsupported or malformed parameter is SLE07 (QueryParameterException), more events than maxEventCount SLE08 (QueryTooLargeException). Returns an EPCISQueryDocument with shilian:nextPageToken when there is a next page.';
GRANT EXECUTE ON FUNCTION epcis_query(jsonb) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
REVOKE ALL ON FUNCTION epcis_query(jsonb) FROM PUBLIC;

-- One event by its eventID (GET /epcis/events/{eventID}); SLE09 when there is none the caller may see.
CREATE FUNCTION epcis_event_get(event_id text) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r jsonb;
BEGIN
	r := shilian.epcis_query(jsonb_build_object('EQ_eventID', jsonb_build_array(event_id)));
	IF jsonb_array_length(r #> '{epcisBody,queryResults,resultsBody,eventList}') = 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE09', MESSAGE = format('no EPCIS event "%s"', event_id),
			DETAIL = 'NoSuchResourceException.', HINT = 'The eventID is unknown or its event is not yours to see.';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION epcis_event_get(text) IS
	'The captured event of an eventID as an EPCISQueryDocument (GET /epcis/events/{eventID}); SLE09 when unknown or not visible.';
GRANT EXECUTE ON FUNCTION epcis_event_get(text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
REVOKE ALL ON FUNCTION epcis_event_get(text) FROM PUBLIC;

-- The event types (GET /epcis/eventTypes): every type the standard defines, as the REST binding's collection.
CREATE FUNCTION epcis_event_types() RETURNS jsonb
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN jsonb_build_object('@context', 'https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
	'type', 'Collection',
	'member', jsonb_build_array('ObjectEvent', 'AggregationEvent', 'TransactionEvent', 'TransformationEvent', 'AssociationEvent'));
COMMENT ON FUNCTION epcis_event_types() IS
	'The EPCIS event types as a Collection (GET /epcis/eventTypes).';

-- ---- GS1 master data: an operator's GLN/PGLN and the SGLNs of its sites --------------

-- A party (PGLN, or a GLN naming a party) or a location (SGLN: a GLN with an
-- optional extension: a farm's field, a warehouse, a canteen) of an
-- operator, by its canonical GS1 Digital Link URI (https://id.gs1.org/417/…,
-- https://id.gs1.org/414/…[/254/…]); EPCIS sources, destinations,
-- readPoints and bizLocations that name it resolve to the operator.
CREATE TABLE gs1_location (
	id           bigserial PRIMARY KEY,
	operator_id  bigint NOT NULL REFERENCES operator (id),
	kind         text NOT NULL CHECK (kind IN ('party', 'location')),
	uri          text NOT NULL UNIQUE CHECK (uri ~ '^https://id\.gs1\.org/(417/[0-9]{13}|414/[0-9]{13}(/254/.+)?)$'),
	name         text,
	registered_by text NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gs1_location_operator_idx ON gs1_location (operator_id);
COMMENT ON TABLE gs1_location IS
	'GS1 master data: the PGLN/GLN (kind party) and SGLNs (kind location) of operators, by canonical Digital Link URI; EPCIS parties and locations resolve through it.';
SELECT pg_catalog.pg_extension_config_dump('gs1_location', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.gs1_location', 'id')::regclass, '');

-- A GLN, PGLN or SGLN as its canonical Digital Link URI: 13 digits (a GLN,
-- check digit validated), urn:epc:id:pgln:… / urn:epc:id:sgln:…, or a Digital
-- Link with AI 417 or 414 (check digit validated). SLE10 otherwise.
CREATE FUNCTION gs1_location_uri(identifier text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u text;
	g text;
BEGIN
	IF identifier ~ '^[0-9]{13}$' THEN
		g := identifier;
		u := 'https://id.gs1.org/417/' || g;
	ELSIF identifier ~ '^urn:epc:id:(pgln|sgln):' THEN
		u := shilian.epcis_gs1_uri(identifier);
	ELSIF identifier ~ '^https?://' THEN
		u := shilian.epcis_gs1_uri(identifier);
		g := substring(u FROM '^https://id\.gs1\.org/41[47]/([0-9]{13})');
	END IF;
	IF u IS NULL OR u !~ '^https://id\.gs1\.org/(417/[0-9]{13}|414/[0-9]{13}(/254/.+)?)$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE10',
			MESSAGE = format('"%s" is not a GLN, PGLN or SGLN', identifier),
			HINT = 'Give 13 digits (a GLN), urn:epc:id:pgln:…, urn:epc:id:sgln:… or https://id.gs1.org/417/… or /414/….';
	END IF;
	IF g IS NOT NULL AND NOT shilian.gs1_check_ok(g) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE10',
			MESSAGE = format('GLN %s: wrong check digit', g),
			HINT = 'The 13th digit is the GS1 mod-10 check digit of the first 12.';
	END IF;
	RETURN u;
END
$$;
COMMENT ON FUNCTION gs1_location_uri(text) IS
	'The canonical Digital Link URI of a GLN (13 digits), PGLN or SGLN (EPC URI or Digital Link), the check digit validated; SLE10 otherwise.';

-- Register a GLN/PGLN or SGLN for an operator: an admin, a regulator of the
-- operator's jurisdiction, or the operator itself (not a system client).
CREATE FUNCTION gs1_location_register(operator bigint, identifier text, name text DEFAULT NULL) RETURNS text
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	u text := shilian.gs1_location_uri(identifier);
	holder bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.operator o WHERE o.id = gs1_location_register.operator) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE04', MESSAGE = format('unknown operator %s', operator);
	END IF;
	IF caller = 'shilian_system' OR NOT shilian.may_see(operator) THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = format('may not register GS1 identifiers for operator %s', operator),
			HINT = 'An operator registers its own; a regulator those of its jurisdiction; an admin any.';
	END IF;
	SELECT l.operator_id INTO holder FROM shilian.gs1_location l WHERE l.uri = u;
	IF holder IS NOT NULL AND holder <> operator THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE11',
			MESSAGE = format('%s is registered to another operator', u),
			HINT = 'A GLN names one party or location.';
	END IF;
	INSERT INTO shilian.gs1_location (operator_id, kind, uri, name, registered_by)
	VALUES (operator, CASE WHEN u LIKE 'https://id.gs1.org/417/%' THEN 'party' ELSE 'location' END, u, name, caller)
	ON CONFLICT (uri) DO UPDATE SET name = coalesce(EXCLUDED.name, shilian.gs1_location.name);
	RETURN u;
END
$$;
COMMENT ON FUNCTION gs1_location_register(bigint, text, text) IS
	'Register a GLN/PGLN (party) or SGLN (location) of an operator by the caller (the operator itself, its regulator, an admin); returns its canonical Digital Link URI. SLE10 malformed or wrong check digit, SLE11 registered to another operator, 42501 not allowed.';
REVOKE ALL ON FUNCTION gs1_location_register(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gs1_location_register(bigint, text, text) TO shilian_operator, shilian_regulator, shilian_admin;

-- The operator a GS1 party or location names: the registered URI, else the
-- GLN of an SGLN with an extension (a site within a registered location).
CREATE FUNCTION gs1_location_operator(identifier text) RETURNS bigint
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT l.operator_id FROM shilian.gs1_location l
	 WHERE l.uri IN (shilian.epcis_gs1_uri(gs1_location_operator.identifier),
	                 regexp_replace(shilian.epcis_gs1_uri(gs1_location_operator.identifier), '/254/.*$', ''))
	 ORDER BY l.uri = shilian.epcis_gs1_uri(gs1_location_operator.identifier) DESC LIMIT 1);
COMMENT ON FUNCTION gs1_location_operator(text) IS
	'The operator a GS1 party/location URI (PGLN, SGLN, GLN Digital Link) is registered to; NULL if none.';
REVOKE ALL ON FUNCTION gs1_location_operator(text) FROM PUBLIC;

-- The GLNs of a document's master data (epcisHeader.epcisMasterData
-- vocabularies: business locations, read points, parties): each element
-- whose id is a GLN, PGLN or SGLN is registered for the acting operator (the
-- caller's own, as gs1_location_register), named by its cbvmda name
-- attribute; other elements are left alone. Internal to epcis_capture.
CREATE FUNCTION epcis_master_data(doc jsonb) RETURNS int
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	voc jsonb;
	el jsonb;
	op bigint := shilian.current_operator();
	u text;
	holder bigint;
	nm text;
	n int := 0;
BEGIN
	IF jsonb_typeof(doc #> '{epcisHeader,epcisMasterData,vocabularyList}') IS DISTINCT FROM 'array' THEN
		RETURN 0;
	END IF;
	FOR voc IN SELECT x FROM jsonb_array_elements(doc #> '{epcisHeader,epcisMasterData,vocabularyList}') x LOOP
		FOR el IN SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(voc -> 'vocabularyElementList') = 'array'
		                                             THEN voc -> 'vocabularyElementList' ELSE '[]' END) x LOOP
			IF jsonb_typeof(el -> 'id') IS DISTINCT FROM 'string'
			   OR coalesce(shilian.epcis_gs1_uri(el ->> 'id'), '') !~ '^https://id\.gs1\.org/41[47]/' THEN
				CONTINUE;
			END IF;
			IF op IS NULL THEN
				RAISE EXCEPTION USING ERRCODE = 'SLE12',
					MESSAGE = format('master data names %s but the capture acts for no operator', el ->> 'id'),
					HINT = 'An operator registers its own GLNs (or use gs1_location_register).';
			END IF;
			PERFORM shilian.require_see(op);
			u := shilian.gs1_location_uri(el ->> 'id');
			SELECT l.operator_id INTO holder FROM shilian.gs1_location l WHERE l.uri = u;
			IF holder IS NOT NULL AND holder <> op THEN
				RAISE EXCEPTION USING ERRCODE = 'SLE11',
					MESSAGE = format('%s is registered to another operator', u),
					DETAIL = 'In epcisHeader.epcisMasterData.', HINT = 'A GLN names one party or location.';
			END IF;
			SELECT a ->> 'attribute' INTO nm FROM jsonb_array_elements(CASE WHEN jsonb_typeof(el -> 'attributes') = 'array'
			                                                          THEN el -> 'attributes' ELSE '[]' END) a
			 WHERE a ->> 'id' IN ('urn:epcglobal:cbv:mda#name', 'cbvmda:name', 'https://gs1.org/voc/name', 'name')
			   AND jsonb_typeof(a -> 'attribute') = 'string'
			 LIMIT 1;
			INSERT INTO shilian.gs1_location (operator_id, kind, uri, name, registered_by)
			VALUES (op, CASE WHEN u LIKE 'https://id.gs1.org/417/%' THEN 'party' ELSE 'location' END, u, nm, 'epcis')
			ON CONFLICT (uri) DO UPDATE SET name = coalesce(EXCLUDED.name, shilian.gs1_location.name);
			n := n + 1;
		END LOOP;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION epcis_master_data(jsonb) IS
	'Register the GLN/PGLN/SGLN elements of an EPCISDocument''s master data for the acting operator (internal to epcis_capture); SLE10 malformed, SLE11 another operator''s, SLE12 no acting operator.';
REVOKE ALL ON FUNCTION epcis_master_data(jsonb) FROM PUBLIC;

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
-- the unit a serialised item is packed on (AggregationEvent childEPCs): it
-- goes with the unit's sale of its lot, and is not shipped or received alone
ALTER TABLE batch_item ADD COLUMN unit_id bigint REFERENCES logistic_unit (id) ON DELETE SET NULL;
CREATE INDEX batch_item_unit_idx ON batch_item (unit_id) WHERE unit_id IS NOT NULL;
COMMENT ON COLUMN batch_item.unit_id IS
	'The logistic_unit row (SSCC and lot) the item is packed on, NULL when not packed; emptying the unit clears it.';
SELECT pg_catalog.pg_extension_config_dump('logistic_unit', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.logistic_unit', 'id')::regclass, '');

-- Nested logistic units (cases on a pallet): an AggregationEvent ADD whose
-- childEPCs name SSCCs packs those units, with all they hold, onto its
-- parentID; shipping or receiving the outer unit ships or receives
-- everything inside it, at any depth; a DELETE of the outer unit takes the
-- inner ones off (they stay packed themselves). A unit is on one unit at
-- most, never inside itself.
CREATE TABLE logistic_unit_nest (
	inner_sscc text PRIMARY KEY CHECK (inner_sscc ~ '^[0-9]{18}$'),
	outer_sscc text NOT NULL CHECK (outer_sscc ~ '^[0-9]{18}$' AND outer_sscc <> inner_sscc),
	owner_id   bigint NOT NULL REFERENCES operator (id),	-- who holds (or shipped) the outer unit
	packed_at  timestamptz NOT NULL
);
CREATE INDEX logistic_unit_nest_outer_idx ON logistic_unit_nest (outer_sscc);
COMMENT ON TABLE logistic_unit_nest IS
	'SSCC logistic units packed on another (cases on a pallet) by an EPCIS AggregationEvent ADD whose childEPCs name SSCCs; shipped and received with the outer unit.';
SELECT pg_catalog.pg_extension_config_dump('logistic_unit_nest', '');

-- A unit and every unit packed on it, at any depth (itself first).
CREATE FUNCTION epcis_unit_tree(unit text) RETURNS SETOF text
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE t(sscc, depth) AS (
		SELECT unit, 0
		UNION
		SELECT n.inner_sscc, t.depth + 1 FROM shilian.logistic_unit_nest n JOIN t ON n.outer_sscc = t.sscc WHERE t.depth < 32)
	SELECT sscc FROM t GROUP BY sscc ORDER BY min(depth), sscc
$$;
COMMENT ON FUNCTION epcis_unit_tree(text) IS
	'An SSCC and the SSCCs packed on it at any depth (internal).';
REVOKE ALL ON FUNCTION epcis_unit_tree(text) FROM PUBLIC;

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

-- An AggregationEvent: ADD packs the lots of childQuantityList, the
-- serialised items of childEPCs (by their lot, a piece each) and the
-- logistic units of childEPCs (SSCCs, with all they hold) into the unit
-- parentID; DELETE empties it (the units on it come off). Returns the class keys of the lots.
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

-- Ship every lot packed on the units of a shipping event's epcList, and on
-- the units packed on them (one sale each, by ship()); SLE16 for a unit
-- the seller holds nothing on, or one packed on another unit.
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

-- Receive every pending sale shipping the units of a receiving event's
-- epcList, and the units packed on them, from that seller (receive(), the inspection optional as for any
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
		          WHERE x.sscc IN (SELECT shilian.epcis_unit_tree(unit)) AND l.buyer_id = op AND l.seller_id = seller AND l.status = 'pending'
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
		-- the units packed on it are the buyer's now, still packed so
		UPDATE shilian.logistic_unit_nest x SET owner_id = op, packed_at = t
		 WHERE n > 0 AND x.outer_sscc IN (SELECT shilian.epcis_unit_tree(unit)) AND x.owner_id = seller;
		IF n = 0 THEN
			PERFORM shilian.epcis_refuse('SLE16', idx, 'epcList',
				format('unknown logistic unit: no pending shipment of SSCC %s from operator %s to operator %s', unit, seller, op),
				'Capture the seller''s packing and shipping events first.');
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION epcis_receive_units(jsonb, int, bigint, bigint, timestamptz) IS
	'Receive every pending sale of the SSCCs of a receiving event''s epcList, and of the units packed on them, from the seller (inspection optional); the units then hold the buyer''s batches; SLE16 when there is none (internal).';
REVOKE ALL ON FUNCTION epcis_receive_units(jsonb, int, bigint, bigint, timestamptz) FROM PUBLIC;

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

-- The batch an item is in now: the received batch of the last received sale
-- carrying it, else the lot it was commissioned in.
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

-- Whether an item is free for operator op to ship, pack or use: known, in a
-- batch op holds (item_lot), not packed on a logistic unit, not on a sale
-- in transit, not used up by a transformation. The one rule of
-- epcis_ship_items, epcis_input_items and epcis_aggregate.
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

-- The serialised items (SGTINs) of an event's epcList, each with its index
-- in the list and the item recorded under it (NULL: never commissioned);
-- SSCCs are skipped (epcis_units takes them), anything else is refused there.
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

-- Ship the serialised items of a shipping event's epcList: one sale per lot
-- the seller holds them in (ship(), of as many pieces as items listed), each
-- item recorded on its sale. SLE30 for an item never commissioned, listed
-- twice, not in a lot of the seller's, or in transit.
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

-- Receive in full the pending sales from the seller that carry the
-- serialised items of a receiving event's epcList (receive(), the
-- inspection optional as for any receipt); every item of such a sale is
-- then in the received batch, as everything on a logistic unit is. SLE31
-- for an item on no pending sale from the seller to the receiver.
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

-- The serialised inputs of a TransformationEvent (inputEPCList): per lot
-- holding them, its trace code, a piece per item, its class keys and the
-- items. SLE30 for an item the operator does not hold free to use (unknown,
-- another's, packed on a unit, in transit, used up by a transformation) or
-- listed twice.
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

-- After a TransformationEvent made batch code: its serialised inputs are
-- recorded on the processing link from their lot (used up: they are in the
-- output now, item_lot gives it), its serialised outputs (outp.gtin and
-- outp.serials, from outputEPCList) as members of the output lot.
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

-- ---- named queries (EPCIS 2.0 REST binding: /queries) -------------------------
-- A caller's saved SimpleEventQuery (命名查询): a name and its parameters,
-- validated at creation by epcis_query itself (one place), run through it
-- with the same paging. Owned by the caller: an operator, a system client, a
-- regulator's jurisdiction, or the admins. Subscriptions are not kept here.
CREATE TABLE epcis_named_query (
	owner      text NOT NULL,		-- epcis_query_owner() of the creator
	name       text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
	params     jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (owner, name)
);
COMMENT ON TABLE epcis_named_query IS
	'EPCIS named queries (/epcis/queries): per owner (operator, system client, jurisdiction, admin) a name and its SimpleEventQuery parameters.';
SELECT pg_catalog.pg_extension_config_dump('epcis_named_query', '');

CREATE FUNCTION epcis_query_owner() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN CASE current_user::text
	WHEN 'shilian_operator' THEN 'operator:' || shilian.current_operator()
	WHEN 'shilian_system' THEN 'client:' || shilian.current_client()
	WHEN 'shilian_regulator' THEN 'regulator:' || shilian.current_jurisdiction()
	WHEN 'shilian_admin' THEN 'admin' END;
COMMENT ON FUNCTION epcis_query_owner() IS
	'Who owns the named queries the caller creates and sees: operator:<id>, client:<id>, regulator:<jurisdiction> or admin; NULL for another role.';

-- The caller's named query; SLE19 (NoSuchResourceException) when it has none of that name.
CREATE FUNCTION epcis_named_query_get(name text) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r jsonb;
BEGIN
	SELECT jsonb_build_object('name', q.name, 'query', q.params, 'createdAt', q.created_at) INTO r
	  FROM shilian.epcis_named_query q
	 WHERE q.owner = shilian.epcis_query_owner() AND q.name = epcis_named_query_get.name;
	IF r IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE19', MESSAGE = format('no named query "%s"', name),
			DETAIL = 'NoSuchResourceException.', HINT = 'Named queries are per caller: create it with POST /epcis/queries.';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION epcis_named_query_get(text) IS
	'The caller''s named query {name, query, createdAt}; SLE19 when the caller has none of that name.';

-- Create a named query: the name (SLE18 when malformed) and the parameters,
-- validated by epcis_query (SLE07, QueryParameterException, as on /events);
-- nextPageToken belongs to a run, not to a query. A name taken is 23505.
CREATE FUNCTION epcis_named_query_create(name text, params jsonb) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF name IS NULL OR name !~ '^[A-Za-z0-9._-]{1,64}$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE18', MESSAGE = format('invalid query name %s', coalesce(quote_literal(name), 'NULL')),
			HINT = 'A query name is 1 to 64 letters, digits, ".", "_" or "-".';
	END IF;
	IF shilian.epcis_query_owner() IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'named queries need an operator, system client, regulator or admin';
	END IF;
	IF jsonb_typeof(params) = 'object' AND params ? 'nextPageToken' THEN
		PERFORM shilian.epcis_query_refuse('nextPageToken', 'not part of a named query', 'Pass it when running the query.');
	END IF;
	-- one validation: the query itself (a query matching more than maxEventCount is still a valid query)
	BEGIN
		PERFORM shilian.epcis_query(params);
	EXCEPTION WHEN SQLSTATE 'SLE08' THEN
		NULL;
	END;
	BEGIN
		INSERT INTO shilian.epcis_named_query (owner, name, params)
		VALUES (shilian.epcis_query_owner(), name, params);
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = format('a named query "%s" exists', name),
			HINT = 'Delete it first, or choose another name.';
	END;
	RETURN shilian.epcis_named_query_get(name);
END
$$;
COMMENT ON FUNCTION epcis_named_query_create(text, jsonb) IS
	'Create the caller''s named query (EPCIS createQuery): parameters validated by epcis_query (SLE07), SLE18 for a malformed name, 23505 for a name taken.';

-- The caller's named queries, by name.
CREATE FUNCTION epcis_named_queries() RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT jsonb_agg(jsonb_build_object('name', q.name, 'query', q.params, 'createdAt', q.created_at)
                                  ORDER BY q.name)
                   FROM shilian.epcis_named_query q WHERE q.owner = shilian.epcis_query_owner()), '[]');
COMMENT ON FUNCTION epcis_named_queries() IS
	'The caller''s named queries [{name, query, createdAt}], by name.';

-- Delete the caller's named query; returns it. SLE19 when there is none.
CREATE FUNCTION epcis_named_query_delete(name text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r jsonb := shilian.epcis_named_query_get(name);
BEGIN
	-- its subscriptions go with it (part 95)
	PERFORM shilian.epcis_unsubscribe_all(name);
	DELETE FROM shilian.epcis_named_query q
	 WHERE q.owner = shilian.epcis_query_owner() AND q.name = epcis_named_query_delete.name;
	RETURN r;
END
$$;
COMMENT ON FUNCTION epcis_named_query_delete(text) IS
	'Delete the caller''s named query and return it, its subscriptions removed; SLE19 when the caller has none of that name.';

-- Run the caller's named query through epcis_query: its parameters, with
-- this page's perPage and nextPageToken when given. SLE19 when there is none.
CREATE FUNCTION epcis_named_query_run(name text, per_page text DEFAULT NULL, next_page_token text DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN shilian.epcis_query((shilian.epcis_named_query_get(name) -> 'query')
	|| jsonb_strip_nulls(jsonb_build_object('perPage', per_page, 'nextPageToken', next_page_token)));
COMMENT ON FUNCTION epcis_named_query_run(text, text, text) IS
	'The EPCISQueryDocument of the caller''s named query (epcis_query with its parameters, perPage and nextPageToken of this page when given); SLE19 when the caller has none of that name.';

REVOKE ALL ON FUNCTION epcis_query_owner(), epcis_named_query_get(text), epcis_named_query_create(text, jsonb),
	epcis_named_queries(), epcis_named_query_delete(text), epcis_named_query_run(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_query_owner(), epcis_named_query_get(text), epcis_named_query_create(text, jsonb),
	epcis_named_queries(), epcis_named_query_delete(text), epcis_named_query_run(text, text, text)
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
