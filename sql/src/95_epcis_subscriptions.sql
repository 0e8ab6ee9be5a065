-- shilian install script, part 95: subscriptions to EPCIS named queries
-- (issue 18; the EPCIS 2.0 REST binding's POST /queries/{name}/subscriptions,
-- docs/integration.md "Query subscriptions"). A subscription is a webhook
-- subscription (part 94) of kind epcis_query, so its notifications go out
-- through the one outbox, worker, signing, retry and dead-letter path; this
-- table adds which named query it follows and for whom. Only streaming
-- subscriptions are offered: each capture's new events that match the
-- query, and that the query's owner may see, are queued as one
-- EPCISQueryDocument by the trigger on epcis_capture_job (the job finished).

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
