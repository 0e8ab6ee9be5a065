-- shilian upgrade script 0.2.0 -> 0.3.0, part 85: EPCIS event identity
-- (sql/src/75_epcis.sql): the event hash ID names an event captured without
-- an eventID, and a resent document is reported as already captured.

-- added empty, then filled and constrained: a column added with its default
-- would keep that default as the table's "missing value", which a fresh
-- install does not have
ALTER TABLE epcis_capture_job ADD COLUMN already_captured text[];
UPDATE epcis_capture_job SET already_captured = '{}';
ALTER TABLE epcis_capture_job ALTER COLUMN already_captured SET DEFAULT '{}',
	ALTER COLUMN already_captured SET NOT NULL;

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

CREATE OR REPLACE FUNCTION epcis_capture_status(id bigint) RETURNS jsonb
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
