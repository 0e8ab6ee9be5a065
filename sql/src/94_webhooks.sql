-- shilian install script, part 94: webhooks (docs/webhooks.md).
-- Subscriptions owned by an operator or a jurisdiction; a transactional
-- outbox (webhook_delivery) filled by triggers on the tables whose changes
-- are announced, in the transaction that makes the change, one row per event
-- and subscription; and the claim/done functions the delivery worker
-- (shilian-deliver) calls as shilian_deliver.

DO $role$
BEGIN
	-- The delivery worker logs in as shilian_deliver: it may claim and settle
	-- deliveries (and so read the signing secrets), nothing else.
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shilian_deliver') THEN
		CREATE ROLE shilian_deliver LOGIN;
	END IF;
END
$role$;
GRANT USAGE ON SCHEMA shilian TO shilian_deliver;

CREATE TABLE webhook_subscription (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	operator_id  bigint REFERENCES operator (id),		-- owner: an operator (its own events) ...
	jurisdiction text REFERENCES jurisdiction (code),	-- ... or a jurisdiction (its subtree's events)
	url          text NOT NULL,
	kinds        text[] NOT NULL CHECK (cardinality(kinds) > 0),
	created_by   text NOT NULL,		-- role and client of the caller that subscribed
	created_at   timestamptz NOT NULL DEFAULT now(),
	active       boolean NOT NULL DEFAULT true,
	removed_at   timestamptz,
	-- an EPCIS query subscription (part 95) has its owner in epcis_subscription
	CONSTRAINT webhook_subscription_check CHECK ((operator_id IS NULL) <> (jurisdiction IS NULL)
		OR (operator_id IS NULL AND jurisdiction IS NULL AND kinds = '{epcis_query}')),
	CHECK (active = (removed_at IS NULL))
);
CREATE INDEX webhook_subscription_operator_idx ON webhook_subscription (operator_id) WHERE active;
CREATE INDEX webhook_subscription_jurisdiction_idx ON webhook_subscription (jurisdiction) WHERE active;
COMMENT ON TABLE webhook_subscription IS
	'Webhook subscriptions: an operator''s (recall, receipt_draft, import_refused) or a jurisdiction''s (alert), with the HTTPS URL events are POSTed to.';

-- The signing secrets, apart: no role is granted this table and row-level
-- security is on with no policy; only webhook_subscribe (which returns the
-- secret once) and webhook_claim (the worker's) read or write it.
CREATE TABLE webhook_secret (
	subscription_id bigint PRIMARY KEY REFERENCES webhook_subscription (id),
	secret          text NOT NULL
);
COMMENT ON TABLE webhook_secret IS
	'HMAC-SHA256 signing secret per subscription; readable only by the extension''s owner and, through webhook_claim, by shilian_deliver.';

-- The outbox: one row per event and subscription, written by the triggers
-- below in the transaction of the change. data is what the subscriber may
-- see; the body sent is webhook_body() of the row, the same bytes on every
-- attempt.
CREATE TABLE webhook_delivery (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subscription_id bigint NOT NULL REFERENCES webhook_subscription (id),
	event_id        uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
	kind            text NOT NULL,
	data            jsonb NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
	status          text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	lease_holder    text,
	lease_until     timestamptz,
	last_status     integer,
	last_error      text,
	delivered_at    timestamptz,
	CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX webhook_delivery_pending_idx ON webhook_delivery (subscription_id, id) WHERE status = 'pending';
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_delivery_subscription_idx ON webhook_delivery (subscription_id, id);
COMMENT ON TABLE webhook_delivery IS
	'Transactional outbox of webhook events, one row per event and subscription: pending (with its next attempt and the worker''s lease), delivered, dead (retries exhausted; webhook_redeliver) or cancelled (subscription removed).';

CREATE TABLE webhook_attempt (
	delivery_id bigint NOT NULL REFERENCES webhook_delivery (id),
	attempt     integer NOT NULL,
	worker      text NOT NULL,
	started_at  timestamptz NOT NULL,
	finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	http_status integer,
	error       text,
	PRIMARY KEY (delivery_id, attempt)
);
COMMENT ON TABLE webhook_attempt IS
	'The delivery log: every attempt of a delivery with the receiver''s HTTP status or the transport error.';

SELECT pg_catalog.pg_extension_config_dump('webhook_subscription', '');
SELECT pg_catalog.pg_extension_config_dump('webhook_secret', '');
SELECT pg_catalog.pg_extension_config_dump('webhook_delivery', '');
SELECT pg_catalog.pg_extension_config_dump('webhook_attempt', '');

-- ---- the rules ---------------------------------------------------------------

-- Which event kinds an owner may subscribe to: an operator its own recall
-- lots, receipt drafts and refused import lines; a jurisdiction the alerts
-- of its subtree.
CREATE FUNCTION webhook_kinds(owner_is_operator boolean) RETURNS text[]
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE WHEN owner_is_operator THEN ARRAY['recall', 'receipt_draft', 'import_refused']
		ELSE ARRAY['alert'] END;
COMMENT ON FUNCTION webhook_kinds(boolean) IS
	'Event kinds an operator (true) or a jurisdiction (false) may subscribe to.';

-- The receiver URL: https, no user info, no fragment; plain http only to a
-- loopback host and only where a superuser set shilian.webhook_allow_http
-- (tests, a receiver on the same machine).
CREATE FUNCTION webhook_check_url(url text) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m text[] := regexp_match(url, '^(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^#[:space:]]*)?$');
BEGIN
	IF url IS NULL OR length(url) > 2000 OR m IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW01',
			MESSAGE = format('invalid webhook URL "%s"', left(url, 200)),
			HINT = 'Use https://host[:port]/path (no user name, no fragment, at most 2000 characters).';
	END IF;
	IF m[1] = 'http' AND NOT ((lower(m[2]) IN ('localhost', '[::1]') OR m[2] ~ '^127\.[0-9]+\.[0-9]+\.[0-9]+$')
							   AND coalesce(current_setting('shilian.webhook_allow_http', true), 'off') IN ('on', 'true', '1')) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW01',
			MESSAGE = format('webhook URL "%s" is not https', left(url, 200)),
			HINT = 'Plain http is allowed only to a loopback host and only when shilian.webhook_allow_http is on.';
	END IF;
	RETURN url;
END
$$;
COMMENT ON FUNCTION webhook_check_url(text) IS
	'The webhook URL if acceptable (https; http only to localhost/127.x/[::1] with shilian.webhook_allow_http on), else SLW01.';

-- Who may see a subscription and its deliveries: the row-level security
-- policies below, and the definer-rights functions through this one rule.
CREATE FUNCTION webhook_may_see(operator bigint, jurisdiction text) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN CASE
		WHEN current_setting('role') = 'shilian_admin' THEN true
		WHEN current_setting('role') = 'none' THEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper)
		WHEN operator IS NOT NULL THEN current_setting('role') IN ('shilian_operator', 'shilian_system')
			AND shilian.may_see(operator)
		ELSE current_setting('role') = 'shilian_regulator' AND shilian.jurisdiction_covers(jurisdiction)
	END;
COMMENT ON FUNCTION webhook_may_see(bigint, text) IS
	'Whether the caller may manage and read a subscription owned by this operator (the operator itself, a client bound to it) or jurisdiction (a regulator at or above it); admins all.';

-- A subscription the caller may see, locked; SLW04 otherwise (unknown and
-- invisible alike).
CREATE FUNCTION webhook_require(subscription bigint) RETURNS shilian.webhook_subscription
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s shilian.webhook_subscription;
BEGIN
	SELECT * INTO s FROM shilian.webhook_subscription w WHERE w.id = subscription FOR UPDATE;
	IF NOT FOUND OR NOT shilian.webhook_may_see(s.operator_id, s.jurisdiction) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW04', MESSAGE = format('unknown webhook subscription %s', subscription);
	END IF;
	RETURN s;
END
$$;
COMMENT ON FUNCTION webhook_require(bigint) IS
	'Lock and return a webhook subscription the caller may see; SLW04 if unknown or not visible.';
REVOKE ALL ON FUNCTION webhook_require(bigint) FROM PUBLIC;

-- ---- managing subscriptions ----------------------------------------------------

CREATE FUNCTION webhook_subscribe(url text, kinds text[], operator bigint DEFAULT NULL,
	jurisdiction text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	op bigint := operator;
	jur text := jurisdiction;
	allowed text[];
	bad text;
	sid bigint;
	secret text := 'whsec_' || encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'hex');
BEGIN
	IF op IS NULL AND jur IS NULL THEN
		op := shilian.current_operator();
		jur := CASE WHEN op IS NULL THEN shilian.current_jurisdiction() END;
	END IF;
	IF (op IS NULL) = (jur IS NULL) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW03',
			MESSAGE = 'a webhook subscription needs one owner: an operator or a jurisdiction',
			HINT = 'Give operator (or act for one) or jurisdiction (a regulator''s own by default), not both.';
	END IF;
	IF NOT shilian.webhook_may_see(op, jur) THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = CASE WHEN op IS NOT NULL THEN format('may not subscribe to the events of operator %s', op)
				ELSE format('may not subscribe to the events of jurisdiction %s', jur) END,
			HINT = 'An operator (or a client bound to it) subscribes to its own events; a regulator to its subtree''s alerts.';
	END IF;
	IF jur IS NOT NULL AND NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = jur) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW03', MESSAGE = format('unknown jurisdiction %s', jur);
	END IF;
	IF op IS NOT NULL AND NOT EXISTS (SELECT 1 FROM shilian.operator o WHERE o.id = op) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW03', MESSAGE = format('unknown operator %s', op);
	END IF;
	allowed := shilian.webhook_kinds(op IS NOT NULL);
	IF kinds IS NULL OR cardinality(kinds) = 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW02', MESSAGE = 'a webhook subscription needs at least one event kind',
			HINT = format('Use some of: %s.', array_to_string(allowed, ', '));
	END IF;
	SELECT k INTO bad FROM unnest(kinds) k WHERE k IS NULL OR k <> ALL (allowed) LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW02',
			MESSAGE = format('event kind "%s" is not one %s may subscribe to', bad,
				CASE WHEN op IS NOT NULL THEN 'an operator' ELSE 'a jurisdiction' END),
			HINT = format('Use some of: %s.', array_to_string(allowed, ', '));
	END IF;
	INSERT INTO shilian.webhook_subscription (operator_id, jurisdiction, url, kinds, created_by)
	VALUES (op, jur, shilian.webhook_check_url(url), ARRAY(SELECT DISTINCT k FROM unnest(kinds) k ORDER BY k),
		concat_ws('|', current_setting('role'), shilian.current_client()))
	RETURNING id INTO sid;
	INSERT INTO shilian.webhook_secret (subscription_id, secret) VALUES (sid, secret);
	RETURN shilian.webhook_subscription_json(sid) || jsonb_build_object('secret', secret);
END
$$;
COMMENT ON FUNCTION webhook_subscribe(text, text[], bigint, text) IS
	'Register a webhook URL for event kinds of an operator (default: the acting one; recall, receipt_draft, import_refused) or a jurisdiction (default: the regulator''s; alert); returns the subscription with its signing secret, shown only here (SLW01 URL, SLW02 kind, SLW03 owner, 42501 not yours).';
REVOKE ALL ON FUNCTION webhook_subscribe(text, text[], bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_subscribe(text, text[], bigint, text) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER FUNCTION webhook_subscribe(text, text[], bigint, text) SECURITY DEFINER;

-- One subscription as JSON (ids as strings) with its delivery counts.
CREATE FUNCTION webhook_subscription_json(subscription bigint) RETURNS jsonb
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT jsonb_build_object('id', s.id::text, 'operator', s.operator_id::text,
			'jurisdiction', s.jurisdiction, 'url', s.url, 'kinds', to_jsonb(s.kinds),
			'active', s.active, 'created_at', s.created_at, 'removed_at', s.removed_at,
			'pending', (SELECT count(*) FROM shilian.webhook_delivery d WHERE d.subscription_id = s.id AND d.status = 'pending'),
			'delivered', (SELECT count(*) FROM shilian.webhook_delivery d WHERE d.subscription_id = s.id AND d.status = 'delivered'),
			'dead', (SELECT count(*) FROM shilian.webhook_delivery d WHERE d.subscription_id = s.id AND d.status = 'dead'))
		FROM shilian.webhook_subscription s WHERE s.id = subscription);
COMMENT ON FUNCTION webhook_subscription_json(bigint) IS
	'A webhook subscription as JSON with its pending, delivered and dead counts (internal: callers check visibility).';
REVOKE ALL ON FUNCTION webhook_subscription_json(bigint) FROM PUBLIC;

CREATE FUNCTION webhook_unsubscribe(subscription bigint) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s shilian.webhook_subscription := shilian.webhook_require(subscription);
BEGIN
	IF s.active THEN
		UPDATE shilian.webhook_subscription w SET active = false, removed_at = now() WHERE w.id = s.id;
		UPDATE shilian.webhook_delivery d SET status = 'cancelled', lease_holder = NULL, lease_until = NULL
		 WHERE d.subscription_id = s.id AND d.status = 'pending';
	END IF;
	RETURN shilian.webhook_subscription_json(s.id);
END
$$;
COMMENT ON FUNCTION webhook_unsubscribe(bigint) IS
	'Remove a webhook subscription the caller may see: no new events, pending deliveries cancelled, the log kept (SLW04 if unknown); returns it.';
REVOKE ALL ON FUNCTION webhook_unsubscribe(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_unsubscribe(bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER FUNCTION webhook_unsubscribe(bigint) SECURITY DEFINER;

CREATE FUNCTION webhook_subscriptions(include_removed boolean DEFAULT false) RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	RETURN coalesce((SELECT jsonb_agg(shilian.webhook_subscription_json(s.id) ORDER BY s.id)
		FROM shilian.webhook_subscription s
		WHERE (s.active OR include_removed) AND shilian.webhook_may_see(s.operator_id, s.jurisdiction)), '[]');
COMMENT ON FUNCTION webhook_subscriptions(boolean) IS
	'The webhook subscriptions the caller may see (its own operator''s, its bound operators'', its subtree''s), as a JSON array; removed ones too when asked.';
REVOKE ALL ON FUNCTION webhook_subscriptions(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_subscriptions(boolean) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER FUNCTION webhook_subscriptions(boolean) SECURITY DEFINER;

-- The envelope every receiver gets; the idempotency id is the event id.
CREATE FUNCTION webhook_body(d shilian.webhook_delivery) RETURNS text
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
REVOKE ALL ON FUNCTION webhook_body(webhook_delivery) FROM PUBLIC;

CREATE FUNCTION webhook_deliveries(subscription bigint, status text DEFAULT NULL, max_rows integer DEFAULT 100,
	before bigint DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	s shilian.webhook_subscription;
BEGIN
	SELECT * INTO s FROM shilian.webhook_subscription w WHERE w.id = subscription;
	IF NOT FOUND OR NOT shilian.webhook_may_see(s.operator_id, s.jurisdiction) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW04', MESSAGE = format('unknown webhook subscription %s', subscription);
	END IF;
	IF status IS NOT NULL AND status NOT IN ('pending', 'delivered', 'dead', 'cancelled') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW06', MESSAGE = format('unknown delivery status "%s"', status),
			HINT = 'Use pending, delivered, dead or cancelled.';
	END IF;
	RETURN coalesce((SELECT jsonb_agg(x.j ORDER BY x.id DESC) FROM (
		SELECT d.id, jsonb_build_object('id', d.id::text, 'event_id', d.event_id::text, 'kind', d.kind,
				'status', d.status, 'attempts', d.attempts, 'created_at', d.created_at,
				'next_attempt_at', CASE WHEN d.status = 'pending' THEN d.next_attempt_at END,
				'delivered_at', d.delivered_at, 'last_status', d.last_status, 'last_error', d.last_error,
				'body', shilian.webhook_body(d)::jsonb,
				'log', coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'started_at', a.started_at,
					'finished_at', a.finished_at, 'http_status', a.http_status, 'error', a.error) ORDER BY a.attempt)
					FROM shilian.webhook_attempt a WHERE a.delivery_id = d.id), '[]')) AS j
		  FROM shilian.webhook_delivery d
		 WHERE d.subscription_id = s.id AND (webhook_deliveries.status IS NULL OR d.status = webhook_deliveries.status)
		   AND (before IS NULL OR d.id < before)
		 ORDER BY d.id DESC
		 LIMIT least(greatest(coalesce(max_rows, 100), 1), 1000)) x), '[]');
END
$$;
COMMENT ON FUNCTION webhook_deliveries(bigint, text, integer, bigint) IS
	'The delivery log of a subscription the caller may see, newest first: each event''s body, status, attempts with HTTP status or error (status= filter, max_rows up to 1000, before= id for the next page; SLW04, SLW06).';
REVOKE ALL ON FUNCTION webhook_deliveries(bigint, text, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_deliveries(bigint, text, integer, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER FUNCTION webhook_deliveries(bigint, text, integer, bigint) SECURITY DEFINER;

CREATE FUNCTION webhook_redeliver(delivery bigint) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d shilian.webhook_delivery;
	s shilian.webhook_subscription;
BEGIN
	SELECT * INTO d FROM shilian.webhook_delivery w WHERE w.id = delivery FOR UPDATE;
	IF FOUND THEN
		SELECT * INTO s FROM shilian.webhook_subscription w WHERE w.id = d.subscription_id;
	END IF;
	IF d.id IS NULL OR NOT shilian.webhook_may_see(s.operator_id, s.jurisdiction) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW05', MESSAGE = format('unknown webhook delivery %s', delivery);
	END IF;
	IF d.status <> 'dead' OR NOT s.active THEN
		RAISE EXCEPTION USING ERRCODE = 'SLW07',
			MESSAGE = format('webhook delivery %s is %s, not dead', delivery,
				CASE WHEN s.active THEN d.status ELSE 'of a removed subscription' END),
			HINT = 'Only a dead delivery of an active subscription is sent again.';
	END IF;
	UPDATE shilian.webhook_delivery w SET status = 'pending', attempts = 0, next_attempt_at = clock_timestamp(),
		created_at = clock_timestamp(), lease_holder = NULL, lease_until = NULL
	 WHERE w.id = d.id;
	PERFORM pg_notify('shilian_webhook', '');
	RETURN jsonb_build_object('id', d.id::text, 'status', 'pending');
END
$$;
COMMENT ON FUNCTION webhook_redeliver(bigint) IS
	'Send a dead delivery again (its retries start over; its event id stays the same): SLW05 if unknown or not visible, SLW07 if not dead.';
REVOKE ALL ON FUNCTION webhook_redeliver(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_redeliver(bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER FUNCTION webhook_redeliver(bigint) SECURITY DEFINER;

-- ---- the delivery worker ---------------------------------------------------------

-- Claim up to n due deliveries, each the oldest pending one of its
-- subscription (so a subscription's events go out one at a time, in order),
-- leased to the worker for lease_seconds: a worker that dies leaves its
-- claims to be taken again when the lease runs out. The heads are found one
-- index probe per active subscription (webhook_delivery_pending_idx), a
-- few more than asked for (others may hold some), then locked with SKIP
-- LOCKED, which re-checks status and lease on the row as it
-- is now, so workers claim side by side and never the same delivery.
CREATE FUNCTION webhook_claim(worker text, n integer, lease_seconds integer)
	RETURNS TABLE (delivery bigint, attempt integer, url text, secret text, event_id uuid, body text)
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	heads bigint[];
BEGIN
	heads := ARRAY(
		SELECT h.id FROM shilian.webhook_subscription s
		 CROSS JOIN LATERAL (SELECT d.id, d.next_attempt_at, d.lease_until FROM shilian.webhook_delivery d
							  WHERE d.subscription_id = s.id AND d.status = 'pending'
							  ORDER BY d.id LIMIT 1) h
		 WHERE s.active AND h.next_attempt_at <= clock_timestamp()
		   AND (h.lease_until IS NULL OR h.lease_until < clock_timestamp())
		 ORDER BY h.next_attempt_at, h.id
		 LIMIT greatest(n, 0) * 4 + 16);
	RETURN QUERY
	WITH c AS (
		UPDATE shilian.webhook_delivery d
		   SET attempts = d.attempts + 1, lease_holder = worker,
			   lease_until = clock_timestamp() + make_interval(secs => lease_seconds)
		 WHERE d.id IN (
			SELECT h.id FROM shilian.webhook_delivery h
			 WHERE h.id = ANY (heads) AND h.status = 'pending'
			   AND (h.lease_until IS NULL OR h.lease_until < clock_timestamp())
			 ORDER BY h.next_attempt_at, h.id
			 LIMIT greatest(n, 0)
			   FOR UPDATE SKIP LOCKED)
		RETURNING d.*)
	SELECT c.id, c.attempts, s.url, k.secret, c.event_id,
		shilian.webhook_body(ROW(c.*)::shilian.webhook_delivery)
	  FROM c JOIN shilian.webhook_subscription s ON s.id = c.subscription_id
	  JOIN shilian.webhook_secret k ON k.subscription_id = c.subscription_id
	 ORDER BY c.id;
END
$$;
COMMENT ON FUNCTION webhook_claim(text, integer, integer) IS
	'Delivery worker: lease up to n due deliveries, the oldest pending one per subscription, with URL, signing secret, event id and body.';
REVOKE ALL ON FUNCTION webhook_claim(text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_claim(text, integer, integer) TO shilian_deliver, shilian_admin;
ALTER FUNCTION webhook_claim(text, integer, integer) SECURITY DEFINER;

-- Settle one attempt: delivered, or retried after an exponential backoff
-- (base_seconds * 2^(attempt-1), at most max_backoff_seconds) with full
-- jitter in its upper half, or dead once the next try would fall past
-- horizon_seconds after the event. An attempt whose lease was taken over
-- (the worker was too slow) changes nothing: the other claim settles it.
CREATE FUNCTION webhook_done(delivery bigint, worker text, attempt integer, http_status integer, error text,
	started_at timestamptz, horizon_seconds double precision, base_seconds double precision,
	max_backoff_seconds double precision) RETURNS text
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	d shilian.webhook_delivery;
	ok boolean := http_status BETWEEN 200 AND 299;
	wait double precision;
BEGIN
	SELECT * INTO d FROM shilian.webhook_delivery w WHERE w.id = delivery FOR UPDATE;
	IF NOT FOUND OR d.status <> 'pending' OR d.lease_holder IS DISTINCT FROM worker OR d.attempts <> attempt THEN
		RETURN 'stale';
	END IF;
	INSERT INTO shilian.webhook_attempt (delivery_id, attempt, worker, started_at, http_status, error)
	VALUES (d.id, attempt, worker, started_at, http_status, left(error, 500))
	ON CONFLICT DO NOTHING;
	IF ok THEN
		UPDATE shilian.webhook_delivery w SET status = 'delivered', delivered_at = clock_timestamp(),
			last_status = http_status, last_error = NULL, lease_holder = NULL, lease_until = NULL
		 WHERE w.id = d.id;
		RETURN 'delivered';
	END IF;
	wait := least(base_seconds * power(2, least(attempt - 1, 40)), max_backoff_seconds);
	wait := wait / 2 + random() * wait / 2;
	IF clock_timestamp() + make_interval(secs => wait) > d.created_at + make_interval(secs => horizon_seconds) THEN
		UPDATE shilian.webhook_delivery w SET status = 'dead', last_status = http_status, last_error = left(error, 500),
			lease_holder = NULL, lease_until = NULL
		 WHERE w.id = d.id;
		RETURN 'dead';
	END IF;
	UPDATE shilian.webhook_delivery w SET next_attempt_at = clock_timestamp() + make_interval(secs => wait),
		last_status = http_status, last_error = left(error, 500), lease_holder = NULL, lease_until = NULL
	 WHERE w.id = d.id;
	RETURN 'retry';
END
$$;
COMMENT ON FUNCTION webhook_done(bigint, text, integer, integer, text, timestamptz, double precision, double precision, double precision) IS
	'Delivery worker: settle an attempt (2xx delivered; else retried after exponential backoff with jitter, or dead past the horizon); logs the attempt; ''stale'' if the lease was lost.';
REVOKE ALL ON FUNCTION webhook_done(bigint, text, integer, integer, text, timestamptz, double precision, double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_done(bigint, text, integer, integer, text, timestamptz, double precision, double precision, double precision) TO shilian_deliver, shilian_admin;
ALTER FUNCTION webhook_done(bigint, text, integer, integer, text, timestamptz, double precision, double precision, double precision) SECURITY DEFINER;

-- For /metrics: totals and the age of the oldest due delivery.
CREATE FUNCTION webhook_metrics(OUT delivered bigint, OUT retried bigint, OUT dead bigint, OUT pending bigint,
	OUT lag_seconds double precision)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT (SELECT count(*) FROM shilian.webhook_delivery WHERE status = 'delivered'),
		(SELECT count(*) FROM shilian.webhook_attempt a
		  WHERE a.http_status IS NULL OR a.http_status NOT BETWEEN 200 AND 299),
		(SELECT count(*) FROM shilian.webhook_delivery WHERE status = 'dead'),
		(SELECT count(*) FROM shilian.webhook_delivery WHERE status = 'pending'),
		coalesce((SELECT extract(epoch FROM clock_timestamp() - min(created_at))::double precision
		   FROM shilian.webhook_delivery WHERE status = 'pending'), 0)
	$$;
COMMENT ON FUNCTION webhook_metrics() IS
	'Webhook totals for /metrics: delivered, failed attempts (retried), dead, pending, and the age in seconds of the oldest pending event (lag).';
REVOKE ALL ON FUNCTION webhook_metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_metrics() TO shilian_gateway, shilian_deliver, shilian_admin;
ALTER FUNCTION webhook_metrics() SECURITY DEFINER;

-- ---- the outbox writers: triggers on the changes announced --------------------
-- Statement triggers with transition tables, so a bulk upload's chunk or a
-- recall's thousands of targets cost one INSERT ... SELECT; each returns at
-- once when nobody subscribes to the kind. Definer rights: they write the
-- outbox whoever made the change. Each wakes the workers (NOTIFY
-- shilian_webhook, delivered at commit: never for a rolled-back change).

-- Recall targets written (recall_open): each holder's subscriptions get the
-- recall with that holder's own lots only.
CREATE FUNCTION webhook_on_recall_target() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.webhook_subscription s WHERE s.active AND 'recall' = ANY (s.kinds)) THEN
		RETURN NULL;
	END IF;
	INSERT INTO shilian.webhook_delivery (subscription_id, kind, data)
	SELECT s.id, CASE WHEN TG_OP = 'INSERT' THEN 'recall.opened' ELSE 'recall.updated' END,
		jsonb_build_object('recall', r.id::text, 'status', r.status, 'reason', r.reason, 'direction', r.direction,
			'opened_at', r.opened_at, 'operator', t.operator_id::text, 'lots', t.lots)
	  FROM (SELECT n.recall_id, n.operator_id,
				jsonb_agg(jsonb_build_object('batch', n.trace_code::text, 'depth', n.depth,
					'qty_exposed', n.qty_exposed::text, 'qty_on_hand', n.qty_on_hand::text,
					'disposition', n.disposition, 'qty_recovered', n.qty_recovered::text, 'acked_at', n.acked_at)
					ORDER BY n.depth, n.trace_code::text) AS lots
			  FROM new_rows n GROUP BY n.recall_id, n.operator_id) t
	  JOIN shilian.recall r ON r.id = t.recall_id
	  JOIN shilian.webhook_subscription s ON s.operator_id = t.operator_id AND s.active AND 'recall' = ANY (s.kinds)
	 ORDER BY s.id, r.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		PERFORM pg_notify('shilian_webhook', '');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION webhook_on_recall_target() IS
	'Trigger: recall targets written or acknowledged become recall.opened / recall.updated events for each holder''s subscriptions, with its own lots only.';
ALTER FUNCTION webhook_on_recall_target() SECURITY DEFINER;
REVOKE ALL ON FUNCTION webhook_on_recall_target() FROM PUBLIC;
CREATE TRIGGER webhook_outbox_ins AFTER INSERT ON recall_target REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION webhook_on_recall_target();
CREATE TRIGGER webhook_outbox_upd AFTER UPDATE ON recall_target REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION webhook_on_recall_target();

-- A recall closed: recall.updated to every holder's subscriptions, with
-- its own lots.
CREATE FUNCTION webhook_on_recall() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.webhook_subscription s WHERE s.active AND 'recall' = ANY (s.kinds)) THEN
		RETURN NULL;
	END IF;
	INSERT INTO shilian.webhook_delivery (subscription_id, kind, data)
	SELECT s.id, 'recall.updated',
		jsonb_build_object('recall', r.id::text, 'status', r.status, 'reason', r.reason, 'direction', r.direction,
			'opened_at', r.opened_at, 'closed_at', r.closed_at, 'operator', t.operator_id::text, 'lots', t.lots)
	  FROM new_rows r
	  JOIN old_rows o ON o.id = r.id AND o.status IS DISTINCT FROM r.status
	  CROSS JOIN LATERAL (
			SELECT rt.operator_id,
				jsonb_agg(jsonb_build_object('batch', rt.trace_code::text, 'depth', rt.depth,
					'qty_exposed', rt.qty_exposed::text, 'qty_on_hand', rt.qty_on_hand::text,
					'disposition', rt.disposition, 'qty_recovered', rt.qty_recovered::text, 'acked_at', rt.acked_at)
					ORDER BY rt.depth, rt.trace_code::text) AS lots
			  FROM shilian.recall_target rt WHERE rt.recall_id = r.id GROUP BY rt.operator_id) t
	  JOIN shilian.webhook_subscription s ON s.operator_id = t.operator_id AND s.active AND 'recall' = ANY (s.kinds)
	 ORDER BY s.id, r.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		PERFORM pg_notify('shilian_webhook', '');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION webhook_on_recall() IS
	'Trigger: a recall''s status change (closed) becomes a recall.updated event for each holder''s subscriptions, with its own lots only.';
ALTER FUNCTION webhook_on_recall() SECURITY DEFINER;
REVOKE ALL ON FUNCTION webhook_on_recall() FROM PUBLIC;
CREATE TRIGGER webhook_outbox_upd AFTER UPDATE ON recall REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION webhook_on_recall();

-- The active subscriptions to receipt drafts, with their operators: a
-- pending sale to one of them is an event for it (webhook_on_link), and the
-- bulk import writes such a buyer's sales pending first rather than already
-- received (extension/import.c). The one definition of a subscriber, which
-- both read; an inlined SQL function, read with the caller's rights.
CREATE FUNCTION receipt_draft_subscriptions() RETURNS TABLE (id bigint, operator_id bigint)
	LANGUAGE sql STABLE
	AS $$ SELECT s.id, s.operator_id FROM shilian.webhook_subscription s
		   WHERE s.active AND 'receipt_draft' = ANY (s.kinds) $$;
COMMENT ON FUNCTION receipt_draft_subscriptions() IS
	'The active webhook subscriptions to receipt_draft events and their operators (the buyers a pending sale notifies).';

-- A sale (ship, a bulk upload's ship lines): the buyer's receipt draft.
CREATE FUNCTION webhook_on_link() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.receipt_draft_subscriptions()) THEN
		RETURN NULL;
	END IF;
	INSERT INTO shilian.webhook_delivery (subscription_id, kind, data)
	SELECT s.id, 'receipt_draft.created',
		jsonb_build_object('link', l.id::text, 'buyer', l.buyer_id::text, 'seller', l.seller_id::text,
			'seller_name', o.name, 'from_code', b.trace_code::text, 'qty', l.qty_shipped::text,
			'shipped_on', l.shipped_on)
	  FROM new_rows l
	  JOIN shilian.batch b ON b.id = l.from_batch
	  JOIN shilian.operator o ON o.id = l.seller_id
	  JOIN shilian.receipt_draft_subscriptions() s ON s.operator_id = l.buyer_id
	 WHERE l.kind = 'ship' AND l.status = 'pending'
	 ORDER BY s.id, l.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		PERFORM pg_notify('shilian_webhook', '');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION webhook_on_link() IS
	'Trigger: a pending sale becomes a receipt_draft.created event for the buyer''s subscriptions.';
ALTER FUNCTION webhook_on_link() SECURITY DEFINER;
REVOKE ALL ON FUNCTION webhook_on_link() FROM PUBLIC;
CREATE TRIGGER webhook_outbox_ins AFTER INSERT ON link REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION webhook_on_link();

-- Refused lines of a bulk upload made for an operator: one event per job
-- and block of up to 500 lines.
CREATE FUNCTION webhook_on_import_line() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.webhook_subscription s WHERE s.active AND 'import_refused' = ANY (s.kinds)) THEN
		RETURN NULL;
	END IF;
	INSERT INTO shilian.webhook_delivery (subscription_id, kind, data)
	SELECT s.id, 'import.refused',
		jsonb_build_object('job', j.id::text, 'operator', j.operator_id::text, 'lines', x.lines)
	  FROM (SELECT l.job_id, (l.line_no - 1) / 500 AS block,
				jsonb_agg(jsonb_build_object('line', l.line_no, 'kind', l.kind, 'sqlstate', l.sqlstate,
					'message', l.message, 'detail', l.detail) ORDER BY l.line_no) AS lines
			  FROM new_rows l WHERE l.status = 'refused' GROUP BY 1, 2) x
	  JOIN shilian.import_job j ON j.id = x.job_id
	  JOIN shilian.webhook_subscription s ON s.operator_id = j.operator_id AND s.active AND 'import_refused' = ANY (s.kinds)
	 ORDER BY s.id, x.job_id, x.block;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		PERFORM pg_notify('shilian_webhook', '');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION webhook_on_import_line() IS
	'Trigger: refused lines of a bulk upload made for an operator become import.refused events for its subscriptions (up to 500 lines per event).';
ALTER FUNCTION webhook_on_import_line() SECURITY DEFINER;
REVOKE ALL ON FUNCTION webhook_on_import_line() FROM PUBLIC;
CREATE TRIGGER webhook_outbox_ins AFTER INSERT ON import_line REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION webhook_on_import_line();

-- An alert raised: the subscriptions of every jurisdiction at or above the
-- operator's home station.
CREATE FUNCTION webhook_on_alert() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.webhook_subscription s WHERE s.active AND 'alert' = ANY (s.kinds)) THEN
		RETURN NULL;
	END IF;
	INSERT INTO shilian.webhook_delivery (subscription_id, kind, data)
	SELECT s.id, 'alert.raised',
		jsonb_build_object('alert', a.id::text, 'kind', a.kind, 'operator', a.operator_id::text,
			'jurisdiction', a.jurisdiction, 'subject', a.subject, 'detail', a.detail, 'raised_at', a.raised_at)
	  FROM new_rows a
	  JOIN shilian.jurisdiction j ON j.code = a.jurisdiction
	  JOIN shilian.webhook_subscription s ON s.jurisdiction = ANY (j.ancestors) AND s.active AND 'alert' = ANY (s.kinds)
	 ORDER BY s.id, a.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		PERFORM pg_notify('shilian_webhook', '');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION webhook_on_alert() IS
	'Trigger: a raised alert becomes an alert.raised event for the subscriptions of the jurisdictions at or above the operator''s station.';
ALTER FUNCTION webhook_on_alert() SECURITY DEFINER;
REVOKE ALL ON FUNCTION webhook_on_alert() FROM PUBLIC;
CREATE TRIGGER webhook_outbox_ins AFTER INSERT ON alert REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION webhook_on_alert();

-- ---- who sees what -------------------------------------------------------------
-- Read through the functions above; the tables themselves are granted for
-- reading under the same rule (webhook_may_see), the secrets to nobody.
GRANT SELECT ON webhook_subscription, webhook_delivery, webhook_attempt
	TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER TABLE webhook_subscription ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_delivery ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempt ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhook_subscription_visible ON webhook_subscription FOR SELECT
	TO shilian_operator, shilian_system, shilian_regulator, shilian_admin
	USING (shilian.webhook_may_see(operator_id, jurisdiction));
CREATE POLICY webhook_delivery_visible ON webhook_delivery FOR SELECT
	TO shilian_operator, shilian_system, shilian_regulator, shilian_admin
	USING (subscription_id IN (SELECT s.id FROM shilian.webhook_subscription s));
CREATE POLICY webhook_attempt_visible ON webhook_attempt FOR SELECT
	TO shilian_operator, shilian_system, shilian_regulator, shilian_admin
	USING (delivery_id IN (SELECT d.id FROM shilian.webhook_delivery d));
