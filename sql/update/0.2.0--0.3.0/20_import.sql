-- shilian upgrade script 0.2.0 -> 0.3.0, part 20: imports followable over
-- REST (import_jobs, import_progress) and strict dates and timestamps
-- (one parser: strict_date, strict_timestamptz) wherever user text is read.

-- The caller's jobs, newest first, a page at a time (GET /v1/import): the
-- same rows the caller may see one by one (row-level security on import_job).
CREATE FUNCTION import_jobs("limit" integer DEFAULT 50, "offset" integer DEFAULT 0) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 1000 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI06', MESSAGE = format('limit must be between 1 and 1000, not %s', coalesce("limit"::text, 'null')),
			HINT = 'Page through the jobs with limit= (1-1000, default 50) and offset=.';
	END IF;
	IF "offset" IS NULL OR "offset" < 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI06', MESSAGE = format('offset must be 0 or more, not %s', coalesce("offset"::text, 'null')),
			HINT = 'Page through the jobs with limit= (1-1000, default 50) and offset=.';
	END IF;
	RETURN (SELECT coalesce(jsonb_agg(shilian.import_status(p.id) ORDER BY p.id DESC), '[]')
		FROM (SELECT j.id FROM shilian.import_job j ORDER BY j.id DESC LIMIT "limit" OFFSET "offset") p);
END
$$;
COMMENT ON FUNCTION import_jobs(integer, integer) IS
	'The import jobs the caller may see, newest first, as a JSON array of import_status objects; limit 1-1000 (default 50), offset 0 or more (SLI06 otherwise).';
REVOKE ALL ON FUNCTION import_jobs(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_jobs(integer, integer) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- One job's progress for GET /v1/import/{id}: its status and counts, and the
-- first refused lines with their errors (the whole report is
-- GET /v1/import/{id}/lines). NULL when the caller may not see the job.
CREATE FUNCTION import_progress(id bigint, errors integer DEFAULT 100) RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT s || jsonb_build_object('errors',
		(SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('line', l.line_no, 'kind', l.kind,
			'sqlstate', l.sqlstate, 'message', l.message, 'detail', l.detail)) ORDER BY l.line_no), '[]')
		 FROM (SELECT * FROM shilian.import_line l
		       WHERE l.job_id = import_progress.id AND l.status = 'refused'
		       ORDER BY l.line_no LIMIT greatest(coalesce(import_progress.errors, 100), 0)) l))
	FROM shilian.import_status(import_progress.id) s WHERE s IS NOT NULL);
COMMENT ON FUNCTION import_progress(bigint, integer) IS
	'An import job the caller may see as import_status (status, total lines read, done, accepted, refused, created_at, finished_at) with errors: its first refused lines (line, kind, sqlstate, message, detail; 100 by default); NULL if unknown or not visible.';
REVOKE ALL ON FUNCTION import_progress(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_progress(bigint, integer) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- ---- strict dates and timestamps (extension/core/strictdate.c) -------------------
-- The one reading of user text as a date or timestamptz: YYYY-MM-DD only;
-- RFC 3339 with Z or ±HH:MM only (never read in the session's zone).
-- Bulk import, the record functions' JSON lines, EPCIS capture and the
-- gateway's SQL all go through these (SLD01-SLD05 naming the field).
CREATE FUNCTION strict_date(value text, field text DEFAULT NULL) RETURNS date
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'sl_strict_date';
COMMENT ON FUNCTION strict_date(text, text) IS
	'value as a date, only in the form YYYY-MM-DD with a real day (SLD01 otherwise, SLD02 for no such day, e.g. 2026-02-30); field names the input in the message; NULL gives NULL.';

CREATE FUNCTION strict_timestamptz(value text, field text DEFAULT NULL) RETURNS timestamptz
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'sl_strict_timestamptz';
COMMENT ON FUNCTION strict_timestamptz(text, text) IS
	'value as a timestamptz, only as an RFC 3339 date-time with Z or ±HH:MM (SLD03 not RFC 3339, SLD04 no offset, SLD05 a field out of range); never read in the session''s TimeZone; field names the input in the message; NULL gives NULL.';

-- ---- the one reading of dates and timestamps, wherever user text becomes one ----
-- NDJSON/CSV lines: date and timestamptz parameters through strict_date/strict_timestamptz
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
BEGIN
	IF fn IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Use operator, licence, product, batch, inspection, ship, receive, transform or consume.';
	END IF;
	SELECT * INTO p FROM pg_proc WHERE oid = fn;
	-- every field must name a parameter
	FOR field IN SELECT k FROM jsonb_object_keys(line) k WHERE k <> 'kind' ORDER BY k LOOP
		arg := CASE WHEN field = renamed THEN 'kind' ELSE field END;
		IF arg = 'kind' AND field <> renamed OR NOT (arg = ANY (p.proargnames)) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('unknown field "%s" for kind %s', field, kind),
				HINT = format('The fields of %s are the parameters of %s.', kind, fn::text);
		END IF;
	END LOOP;
	FOR i IN 1 .. p.pronargs LOOP
		arg := p.proargnames[i];
		field := CASE WHEN arg = 'kind' THEN renamed ELSE arg END;
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

-- EPCIS: eventTime, creationDate and the ilmd expiry through the same functions
CREATE OR REPLACE FUNCTION epcis_expiry(ev jsonb, idx int) RETURNS date
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

CREATE OR REPLACE FUNCTION epcis_capture(doc jsonb) RETURNS bigint
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
		PERFORM shilian.epcis_apply_event(job, i, doc #> ARRAY['epcisBody', 'eventList', i::text]);
	END LOOP;
	UPDATE shilian.epcis_capture_job SET finished_at = clock_timestamp() WHERE id = job;
	RETURN job;
END
$$;

