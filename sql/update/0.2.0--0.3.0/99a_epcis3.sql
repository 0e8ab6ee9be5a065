-- shilian upgrade script 0.2.0 -> 0.3.0, part 99a: subscriptions to EPCIS
-- named queries (issue 18; h-epcis3). The same steps as
-- sql/src/95_epcis_subscriptions.sql (the table epcis_subscription, the
-- epcis_subscribe/_subscriptions/_subscription_get/_unsubscribe functions
-- and the outbox trigger on epcis_capture_job), and the changed parts of
-- sql/src/94_webhooks.sql (a webhook subscription of kind epcis_query has
-- no operator or jurisdiction; webhook_body sends its EPCISQueryDocument as
-- it is) and of sql/src/75_epcis.sql (deleting a named query removes its
-- subscriptions). Also the REST route of item_batch (GET /v1/items/{epc}):
-- item_batch refuses a text that is no SGTIN (SLE24) apart from an unknown
-- item (SLE14), and item_get returns the item with its lot. And nested
-- logistic units (part 75/89): the table logistic_unit_nest with its
-- policy, epcis_unit_tree, and the full bodies of epcis_aggregate,
-- epcis_ship_units and epcis_receive_units (part 89_aggregation made them).

ALTER TABLE webhook_subscription DROP CONSTRAINT webhook_subscription_check,
	ADD CONSTRAINT webhook_subscription_check CHECK ((operator_id IS NULL) <> (jurisdiction IS NULL)
		OR (operator_id IS NULL AND jurisdiction IS NULL AND kinds = '{epcis_query}'));

CREATE OR REPLACE FUNCTION webhook_body(d shilian.webhook_delivery) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	-- an EPCIS query subscription's notification is the EPCISQueryDocument
	-- (or problem) itself, as the EPCIS 2.0 REST binding sends it (part 95)
	RETURN CASE WHEN d.kind LIKE 'epcis_query.%' THEN d.data::text
		ELSE jsonb_build_object('id', d.event_id::text, 'kind', d.kind,
		'time', to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		'subscription', d.subscription_id::text, 'delivery', d.id::text, 'data', d.data)::text END;
COMMENT ON FUNCTION webhook_body(webhook_delivery) IS
	'The JSON body POSTed for a delivery: id (idempotency id), kind, time (UTC), subscription, delivery and data; an EPCIS query notification''s data alone; the same bytes on every attempt.';

CREATE OR REPLACE FUNCTION epcis_named_query_delete(name text) RETURNS jsonb
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
	SELECT b.trace_code INTO code FROM shilian.batch_item i JOIN shilian.batch b ON b.id = i.batch_id
	 WHERE i.gtin = m[1] AND i.serial = m[2] AND shilian.may_see(b.owner_id);
	IF code IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE14', MESSAGE = format('unknown item "%s"', epc),
			HINT = 'Name a serialised item commissioned by an EPCIS event: urn:epc:id:sgtin:... or https://id.gs1.org/01/<GTIN>/21/<serial>.';
	END IF;
	RETURN code;
END
$$;
COMMENT ON FUNCTION item_batch(text) IS
	'The batch (trace code) a serialised item (SGTIN as EPC URI or Digital Link) was commissioned in, for whoever may see its holder; SLE24 when the text is no SGTIN, SLE14 when unknown or not visible.';
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

-- An AggregationEvent: ADD packs the lots of childQuantityList, the
-- serialised items of childEPCs (by their lot, a piece each) and the
-- logistic units of childEPCs (SSCCs, with all they hold) into the unit
-- parentID; DELETE empties it (the units on it come off). Returns the class keys of the lots.
-- SLE15 malformed SSCC, SLE16 a unit the operator does not hold (unknown,
-- another's or in transit), SLE06 a lot or item the packer does not hold,
-- SLE17 more than the lot holds.
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
		                i.batch_id, b.owner_id
		           FROM (SELECT x.value #>> '{}' AS epc, (x.ordinality - 1)::int AS k,
		                        regexp_match(shilian.epcis_gs1_uri(CASE jsonb_typeof(x.value) WHEN 'string' THEN x.value #>> '{}' END),
		                            '^https://id\.gs1\.org/01/([0-9]{14})/21/([^/?#]+)$') AS m
		                   FROM jsonb_array_elements(ev -> 'childEPCs') WITH ORDINALITY x
		                  WHERE NOT (jsonb_typeof(x.value) = 'string'
		                             AND coalesce(shilian.epcis_gs1_uri(x.value #>> '{}') ~ '^https://id\.gs1\.org/00/', false))) e
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
	'Record an AggregationEvent: ADD packs the lots of childQuantityList and the items and SSCC units of childEPCs into the SSCC parentID, DELETE empties it; SLE15/SLE16/SLE06/SLE17 (internal to epcis_capture).';
REVOKE ALL ON FUNCTION epcis_aggregate(bigint, int, jsonb, text, timestamptz) FROM PUBLIC;

-- Ship every lot packed on the units of a shipping event's epcList, and on
-- the units packed on them (one sale each, by ship()); SLE16 for a unit
-- the seller holds nothing on, or one packed on another unit.
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
CREATE OR REPLACE FUNCTION epcis_receive_units(ev jsonb, idx int, op bigint, seller bigint, t timestamptz)
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

-- Nested logistic units (part 75): read as the holder's records are;
-- written only by epcis_capture.
GRANT SELECT ON logistic_unit_nest TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE logistic_unit_nest ENABLE ROW LEVEL SECURITY;
CREATE POLICY logistic_unit_nest_read ON logistic_unit_nest FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (shilian.may_see(owner_id));

CREATE TABLE epcis_subscription (
	webhook_id  bigint PRIMARY KEY REFERENCES webhook_subscription (id),
	owner       text NOT NULL,		-- epcis_query_owner() of the subscriber: operator:<id>, client:<id>, regulator:<code>, admin
	query_name  text NOT NULL,
	params      jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),	-- the named query's parameters when subscribed
	created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX epcis_subscription_owner_idx ON epcis_subscription (owner, query_name);
COMMENT ON TABLE epcis_subscription IS
	'EPCIS query subscriptions (stream): the webhook subscription that carries the notifications, the named query and its owner.';
SELECT pg_catalog.pg_extension_config_dump('epcis_subscription', '');

-- The owner of the caller's named queries, as epcis_query_owner() names it,
-- but readable inside definer-rights functions (from the role the caller set).
CREATE FUNCTION epcis_subscriber() RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN CASE CASE WHEN current_setting('role') = 'none' THEN session_user::text ELSE current_setting('role') END
	WHEN 'shilian_operator' THEN 'operator:' || shilian.current_operator()
	WHEN 'shilian_system' THEN 'client:' || shilian.current_client()
	WHEN 'shilian_regulator' THEN 'regulator:' || shilian.current_jurisdiction()
	WHEN 'shilian_admin' THEN 'admin' END;
COMMENT ON FUNCTION epcis_subscriber() IS
	'epcis_query_owner() of the calling role (operator:<id>, client:<id>, regulator:<code>, admin), for definer-rights functions; NULL for another role.';

-- Whether an owner of named queries may see an event concerning these
-- operators: the rule of the epcis_event policies (part 89), for an owner
-- named explicitly (a notification is written during another's capture).
CREATE FUNCTION epcis_owner_sees(owner text, parties bigint[]) RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN CASE split_part(epcis_owner_sees.owner, ':', 1)
	WHEN 'admin' THEN true
	WHEN 'operator' THEN epcis_owner_sees.parties @> ARRAY[nullif(split_part(epcis_owner_sees.owner, ':', 2), '')::bigint]
	WHEN 'client' THEN epcis_owner_sees.parties && ARRAY(SELECT b.operator_id FROM shilian.api_client_operator b
		JOIN shilian.api_client c ON c.client = b.client
		WHERE b.client = substr(epcis_owner_sees.owner, 8) AND c.active)
	WHEN 'regulator' THEN epcis_owner_sees.parties && ARRAY(SELECT o.id FROM shilian.operator o
		JOIN shilian.jurisdiction j ON j.code = o.station
		WHERE j.ancestors @> ARRAY[substr(epcis_owner_sees.owner, 11)])
	ELSE false END;
COMMENT ON FUNCTION epcis_owner_sees(text, bigint[]) IS
	'Whether the owner of a named query (operator:<id>, client:<id>, regulator:<code>, admin) may see an event concerning these operators: the epcis_event policies'' rule.';
REVOKE ALL ON FUNCTION epcis_owner_sees(text, bigint[]) FROM PUBLIC;

-- One subscription as the REST binding shows it (no secret).
CREATE FUNCTION epcis_subscription_json(webhook bigint) RETURNS jsonb
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('subscriptionID', e.webhook_id::text, 'queryName', e.query_name,
		'dest', w.url, 'stream', true, 'reportIfEmpty', false, 'createdAt', e.created_at,
		'active', w.active, 'removedAt', w.removed_at,
		'lastNotifiedAt', (SELECT max(d.delivered_at) FROM shilian.webhook_delivery d WHERE d.subscription_id = w.id),
		'pending', (SELECT count(*) FROM shilian.webhook_delivery d WHERE d.subscription_id = w.id AND d.status = 'pending'),
		'delivered', (SELECT count(*) FROM shilian.webhook_delivery d WHERE d.subscription_id = w.id AND d.status = 'delivered'),
		'dead', (SELECT count(*) FROM shilian.webhook_delivery d WHERE d.subscription_id = w.id AND d.status = 'dead'))
	FROM shilian.epcis_subscription e JOIN shilian.webhook_subscription w ON w.id = e.webhook_id
	WHERE e.webhook_id = webhook);
COMMENT ON FUNCTION epcis_subscription_json(bigint) IS
	'An EPCIS query subscription as JSON: subscriptionID, queryName, dest, stream, createdAt, lastNotifiedAt, delivery counts (internal: callers check the owner).';
REVOKE ALL ON FUNCTION epcis_subscription_json(bigint) FROM PUBLIC;

-- Subscribe to the caller's named query (SLE19 when it has none of that
-- name): dest is checked by the webhook rule (webhook_check_url, SLW01);
-- stream must be true (SLE20); schedules and initialRecordTime are not
-- offered (SLE21); the signatureToken, when given, is the HMAC key of the
-- notifications' signature (SLE22 when not 16 to 200 printable ASCII
-- characters), else a secret is made and returned here once.
CREATE FUNCTION epcis_subscribe(query_name text, dest text, signature_token text DEFAULT NULL,
	stream boolean DEFAULT NULL, report_if_empty boolean DEFAULT NULL, schedule jsonb DEFAULT NULL,
	initial_record_time text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	who text := shilian.epcis_subscriber();
	q shilian.epcis_named_query;
	sid bigint;
	secret text := coalesce(signature_token,
		'whsec_' || encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'hex'));
BEGIN
	IF who IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'query subscriptions need an operator, system client, regulator or admin';
	END IF;
	SELECT * INTO q FROM shilian.epcis_named_query n WHERE n.owner = who AND n.name = query_name;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE19', MESSAGE = format('no named query "%s"', query_name),
			DETAIL = 'NoSuchResourceException.', HINT = 'Named queries are per caller: create it with POST /epcis/queries.';
	END IF;
	IF schedule IS NOT NULL OR initial_record_time IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE21',
			MESSAGE = format('%s is not offered: only streaming subscriptions are',
				CASE WHEN schedule IS NOT NULL THEN 'a scheduled subscription' ELSE 'initialRecordTime' END),
			DETAIL = 'SubscribeNotPermittedException.',
			HINT = 'Subscribe with "stream": true to be notified of each newly captured event that matches; run the query (GET /epcis/queries/{name}/events) for the past.';
	END IF;
	IF stream IS DISTINCT FROM true THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE20', MESSAGE = 'a query subscription needs "stream": true',
			DETAIL = 'InvalidURIException.',
			HINT = 'The REST binding asks for stream true (or a schedule, not offered here), so that nobody subscribes to a stream by accident.';
	END IF;
	IF report_if_empty THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE20', MESSAGE = 'reportIfEmpty belongs to a scheduled subscription, not to a stream',
			HINT = 'A stream notifies only when matching events are captured; leave reportIfEmpty out or false.';
	END IF;
	IF signature_token IS NOT NULL AND signature_token !~ '^[!-~]{16,200}$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE22',
			MESSAGE = 'invalid signatureToken: it must be 16 to 200 printable ASCII characters without spaces',
			HINT = 'It is the HMAC-SHA256 key of the notifications'' Shilian-Signature; use a random string.';
	END IF;
	INSERT INTO shilian.webhook_subscription (operator_id, jurisdiction, url, kinds, created_by)
	VALUES (NULL, NULL, shilian.webhook_check_url(dest), '{epcis_query}',
		concat_ws('|', current_setting('role'), shilian.current_client()))
	RETURNING id INTO sid;
	INSERT INTO shilian.webhook_secret (subscription_id, secret) VALUES (sid, secret);
	INSERT INTO shilian.epcis_subscription (webhook_id, owner, query_name, params)
	VALUES (sid, who, q.name, q.params);
	RETURN shilian.epcis_subscription_json(sid)
		|| CASE WHEN signature_token IS NULL THEN jsonb_build_object('secret', secret) ELSE '{}' END;
END
$$;
COMMENT ON FUNCTION epcis_subscribe(text, text, text, boolean, boolean, jsonb, text) IS
	'Subscribe a URL to the caller''s named query (EPCIS subscribe, stream): each capture''s new matching events the caller may see are POSTed there as an EPCISQueryDocument through the webhook outbox; SLE19 no such query, SLW01 URL, SLE20 stream not true, SLE21 schedule/initialRecordTime, SLE22 signatureToken. The secret is returned once when no signatureToken was given.';

-- The caller's subscription of a named query; SLE23 when it has none of that id.
CREATE FUNCTION epcis_subscription_require(query_name text, id text) RETURNS bigint
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sid bigint;
BEGIN
	IF epcis_subscription_require.id ~ '^[0-9]{1,18}$' THEN
		SELECT e.webhook_id INTO sid FROM shilian.epcis_subscription e
		  JOIN shilian.webhook_subscription w ON w.id = e.webhook_id
		 WHERE e.webhook_id = epcis_subscription_require.id::bigint AND e.owner = shilian.epcis_subscriber() AND e.query_name = epcis_subscription_require.query_name;
	END IF;
	IF sid IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE23',
			MESSAGE = format('no subscription %s of named query "%s"', left(epcis_subscription_require.id, 40), query_name),
			DETAIL = 'NoSuchSubscriptionException.', HINT = 'GET /epcis/queries/{name}/subscriptions lists yours.';
	END IF;
	RETURN sid;
END
$$;
COMMENT ON FUNCTION epcis_subscription_require(text, text) IS
	'The caller''s subscription of its named query by id; SLE23 when unknown or another''s.';
REVOKE ALL ON FUNCTION epcis_subscription_require(text, text) FROM PUBLIC;

CREATE FUNCTION epcis_subscription_get(query_name text, id text) RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN shilian.epcis_subscription_json(shilian.epcis_subscription_require(query_name, id));
COMMENT ON FUNCTION epcis_subscription_get(text, text) IS
	'One of the caller''s subscriptions of its named query; SLE23 when unknown or another''s.';

-- The caller's active subscriptions of a named query (SLE19 when it has no such query).
CREATE FUNCTION epcis_subscriptions(query_name text) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.epcis_named_query n
	                WHERE n.owner = shilian.epcis_subscriber() AND n.name = query_name) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE19', MESSAGE = format('no named query "%s"', query_name),
			DETAIL = 'NoSuchResourceException.', HINT = 'Named queries are per caller: create it with POST /epcis/queries.';
	END IF;
	RETURN coalesce((SELECT jsonb_agg(shilian.epcis_subscription_json(e.webhook_id) ORDER BY e.webhook_id)
		FROM shilian.epcis_subscription e JOIN shilian.webhook_subscription w ON w.id = e.webhook_id
		WHERE e.owner = shilian.epcis_subscriber() AND e.query_name = epcis_subscriptions.query_name AND w.active), '[]');
END
$$;
COMMENT ON FUNCTION epcis_subscriptions(text) IS
	'The caller''s active subscriptions of its named query, by id; SLE19 when it has no such query.';

-- Unsubscribe: the webhook subscription is removed (no new notification,
-- pending ones cancelled, its log kept); returns it.
CREATE FUNCTION epcis_unsubscribe(query_name text, id text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sid bigint := shilian.epcis_subscription_require(query_name, id);
BEGIN
	UPDATE shilian.webhook_subscription w SET active = false, removed_at = now() WHERE w.id = sid AND w.active;
	UPDATE shilian.webhook_delivery d SET status = 'cancelled', lease_holder = NULL, lease_until = NULL
	 WHERE d.subscription_id = sid AND d.status = 'pending';
	RETURN shilian.epcis_subscription_json(sid);
END
$$;
COMMENT ON FUNCTION epcis_unsubscribe(text, text) IS
	'Remove one of the caller''s subscriptions of its named query (EPCIS unsubscribe): no new notification, pending ones cancelled; SLE23 when unknown or another''s.';

-- A named query deleted: its subscriptions go with it (the REST binding's
-- "forcibly unsubscribes"). Called by epcis_named_query_delete.
CREATE FUNCTION epcis_unsubscribe_all(query_name text) RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sid bigint;
	n integer := 0;
BEGIN
	FOR sid IN SELECT w.id FROM shilian.epcis_subscription e JOIN shilian.webhook_subscription w ON w.id = e.webhook_id
	            WHERE w.active AND e.owner = shilian.epcis_subscriber() AND e.query_name = epcis_unsubscribe_all.query_name
	            ORDER BY w.id FOR UPDATE OF w LOOP
		UPDATE shilian.webhook_subscription w SET active = false, removed_at = now() WHERE w.id = sid;
		UPDATE shilian.webhook_delivery d SET status = 'cancelled', lease_holder = NULL, lease_until = NULL
		 WHERE d.subscription_id = sid AND d.status = 'pending';
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION epcis_unsubscribe_all(text) IS
	'Remove all the caller''s active subscriptions of its named query (when the query is deleted); returns how many.';

REVOKE ALL ON FUNCTION epcis_subscriber(), epcis_subscribe(text, text, text, boolean, boolean, jsonb, text),
	epcis_subscription_get(text, text), epcis_subscriptions(text), epcis_unsubscribe(text, text),
	epcis_unsubscribe_all(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_subscriber(), epcis_subscribe(text, text, text, boolean, boolean, jsonb, text),
	epcis_subscription_get(text, text), epcis_subscriptions(text), epcis_unsubscribe(text, text),
	epcis_unsubscribe_all(text)
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER FUNCTION epcis_subscribe(text, text, text, boolean, boolean, jsonb, text) SECURITY DEFINER;
ALTER FUNCTION epcis_subscription_get(text, text) SECURITY DEFINER;
ALTER FUNCTION epcis_subscriptions(text) SECURITY DEFINER;
ALTER FUNCTION epcis_unsubscribe(text, text) SECURITY DEFINER;
ALTER FUNCTION epcis_unsubscribe_all(text) SECURITY DEFINER;

-- The outbox writer: when a capture job finishes (epcis_capture sets its
-- finished_at after its last event), its events are matched against every
-- active subscription by epcis_query itself, with the subscribed parameters
-- and EQ_eventID narrowed to the job's events the owner may see (a query
-- naming eventIDs keeps only those); paging and count limits are a run's,
-- not a stream's, and are left out. One notification per capture and
-- subscription (per 1000 matching events), an EPCISQueryDocument with the
-- subscriptionID; a query that fails now (a GLN since removed, ...) sends
-- an RFC 7807 problem instead, and never fails the capture.
CREATE FUNCTION webhook_on_epcis_capture() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s record;
	ids text[];
	part text[];
	p jsonb;
	doc jsonb;
	n bigint := 0;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.webhook_subscription w WHERE w.active AND 'epcis_query' = ANY (w.kinds)) THEN
		RETURN NULL;
	END IF;
	FOR s IN SELECT e.webhook_id, e.owner, e.params FROM shilian.epcis_subscription e
	           JOIN shilian.webhook_subscription w ON w.id = e.webhook_id AND w.active
	          ORDER BY e.webhook_id LOOP
		ids := ARRAY(SELECT ev.event_id FROM new_rows j JOIN old_rows o ON o.id = j.id
		               JOIN shilian.epcis_event ev ON ev.job_id = j.id
		              WHERE j.success AND j.finished_at IS DISTINCT FROM o.finished_at
		                AND shilian.epcis_owner_sees(s.owner, ev.parties)
		              ORDER BY ev.id);
		IF s.params ? 'EQ_eventID' THEN
			ids := ARRAY(SELECT i FROM unnest(ids) WITH ORDINALITY u(i, k)
			              WHERE i = ANY (shilian.epcis_query_list(s.params, 'EQ_eventID')) ORDER BY k);
		END IF;
		FOR k IN 0 .. (cardinality(ids) - 1) / 1000 LOOP
			part := ids[k * 1000 + 1 : (k + 1) * 1000];
			CONTINUE WHEN coalesce(cardinality(part), 0) = 0;
			p := s.params - 'perPage' - 'nextPageToken' - 'maxEventCount' - 'eventCountLimit'
				|| jsonb_build_object('EQ_eventID', to_jsonb(part), 'perPage', '1000');
			BEGIN
				doc := shilian.epcis_query(p) - 'shilian:nextPageToken';
				CONTINUE WHEN jsonb_array_length(doc #> '{epcisBody,queryResults,resultsBody,eventList}') = 0;
				doc := jsonb_set(doc, '{epcisBody,queryResults,subscriptionID}', to_jsonb(s.webhook_id::text));
				INSERT INTO shilian.webhook_delivery (subscription_id, kind, data) VALUES (s.webhook_id, 'epcis_query.result', doc);
			EXCEPTION WHEN OTHERS THEN
				INSERT INTO shilian.webhook_delivery (subscription_id, kind, data)
				VALUES (s.webhook_id, 'epcis_query.error', jsonb_build_object(
					'type', 'epcisException:ImplementationException', 'title', 'the subscribed query failed',
					'status', 500, 'detail', SQLERRM, 'instance', 'urn:shilian:subscription:' || s.webhook_id));
			END;
			n := n + 1;
		END LOOP;
	END LOOP;
	IF n > 0 THEN
		PERFORM pg_notify('shilian_webhook', '');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION webhook_on_epcis_capture() IS
	'Trigger: a finished capture job''s events that match an active query subscription''s named query, and that its owner may see, become one epcis_query.result notification (an EPCISQueryDocument, up to 1000 events) per subscription.';
ALTER FUNCTION webhook_on_epcis_capture() SECURITY DEFINER;
REVOKE ALL ON FUNCTION webhook_on_epcis_capture() FROM PUBLIC;
CREATE TRIGGER webhook_outbox_upd AFTER UPDATE ON epcis_capture_job REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION webhook_on_epcis_capture();

-- Each owner reads its own subscriptions (the functions above are the way
-- to change them).
GRANT SELECT ON epcis_subscription TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE epcis_subscription ENABLE ROW LEVEL SECURITY;
CREATE POLICY epcis_subscription_own ON epcis_subscription FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (owner = shilian.epcis_query_owner());
