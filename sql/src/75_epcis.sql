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
	type        text NOT NULL CHECK (type IN ('ObjectEvent', 'TransformationEvent')),
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

SELECT pg_catalog.pg_extension_config_dump('epcis_capture_job', '');
SELECT pg_catalog.pg_extension_config_dump('epcis_event', '');
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
			('SDT-', 'urn:epcglobal:cbv:sdt:', ARRAY['owning_party', 'possessing_party', 'location'])
		) AS t(web, urn, names)
		WHERE t.web = CASE vocabulary WHEN 'bizStep' THEN 'BizStep-' WHEN 'disposition' THEN 'Disp-'
			WHEN 'sourceDestType' THEN 'SDT-' END
	)
	SELECT n FROM v, unnest(v.names) n
	 WHERE term IN (n, 'https://ref.gs1.org/cbv/' || v.web || n, v.urn || n)
);
COMMENT ON FUNCTION epcis_cbv(text, text) IS
	'The CBV 2.0 short name of a bizStep, disposition or sourceDestType term given bare, as https://ref.gs1.org/cbv/… URI or as urn:epcglobal:cbv:… URN; NULL if not in the vocabulary.';

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
	ELSE
		RETURN NULL;
	END IF;
	IF op IS NULL AND idx IS NOT NULL THEN
		PERFORM shilian.epcis_refuse('SLE04', idx, field, format('unknown party: no operator is %s', uri),
			'Name a registered operator: urn:shilian:operator:<id> or urn:shilian:uscc:<USCC>.');
	ELSIF op IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE04',
			MESSAGE = format('unknown party: no operator is %s', uri);
	END IF;
	RETURN op;
END
$$;
COMMENT ON FUNCTION epcis_party(text, int, text) IS
	'The operator a party URI names (urn:shilian:operator:<id> or urn:shilian:uscc:<USCC>); NULL for other URIs, SLE04 if no operator matches (naming the event and field when given).';
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
		IF jsonb_typeof(ev) = 'object' THEN
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
