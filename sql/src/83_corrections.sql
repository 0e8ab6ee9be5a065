-- shilian install script, part 83: corrections (更正) and retractions (撤销)
-- of records (docs/sql-reference.md, "Corrections"; docs/ledger-format.md).
-- A record is never changed in the ledger: correct() and retract() append a
-- new entry to the chain of the record's owner whose supersedes names the
-- record's latest entry (its original entry, or its last correction), and
-- bring the record tables (balances, the links the walks follow) and the
-- counters (operator_day, operator_month, the rollups) to the corrected
-- state, in the caller's transaction. The table correction keeps each step
-- with the record's row before and after it, so a recall or a finding on a
-- corrected record can show both. Kinds: batch, link (a sale),
-- inspection, consumption (消费/使用) and transformation (加工, the output
-- batch of a transform); codes SLC01-SLC19 (docs/errors.md).

CREATE TABLE correction (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind         text NOT NULL CHECK (kind IN ('batch', 'link', 'inspection', 'consumption', 'transformation')),
	record_id    bigint NOT NULL,
	action       text NOT NULL CHECK (action IN ('correct', 'retract')),
	operator_id  bigint NOT NULL REFERENCES operator (id),	-- the record's owner: its chain
	reason       text NOT NULL CHECK (btrim(reason) <> ''),
	old          jsonb NOT NULL,		-- the record's row before
	new          jsonb,					-- the row after (NULL: retracted)
	entry_id     bigint NOT NULL,		-- the correction's ledger entry
	supersedes   bigint,				-- the entry it supersedes
	epcis        jsonb,					-- the errorDeclaration it came from, if any
	corrected_by text NOT NULL,			-- the calling role
	corrected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX correction_record_idx ON correction (kind, record_id, id);
CREATE INDEX correction_operator_idx ON correction (operator_id);
CREATE UNIQUE INDEX correction_retract_once_idx ON correction (kind, record_id) WHERE action = 'retract';
COMMENT ON TABLE correction IS
	'Corrections (更正) and retractions (撤销) of batches, sales (links), inspections, consumptions and transformations: the row before and after, the reason, the ledger entry that records it and the entry it supersedes.';
SELECT pg_catalog.pg_extension_config_dump('correction', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.correction', 'id')::regclass, '');

GRANT SELECT ON correction TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE correction ENABLE ROW LEVEL SECURITY;
CREATE POLICY correction_admin ON correction FOR SELECT TO shilian_admin USING (true);
CREATE POLICY correction_operator ON correction FOR SELECT TO shilian_operator
	USING (operator_id = shilian.current_operator());
CREATE POLICY correction_system ON correction FOR SELECT TO shilian_system
	USING (operator_id IN (SELECT c FROM shilian.client_operators() AS c));
CREATE POLICY correction_regulator ON correction FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));

-- The ledger entry that made a record (batch_create for a batch, or the
-- receive that made a received one; ship for a sale; inspect for an
-- inspection; consume for a consumption; transform for a transformation,
-- whose id is its output batch's) in its owner's chain, on its event date
-- as first recorded; and its latest entry: its last correction, else that.
CREATE FUNCTION correction_origin(kind text, id bigint, owner bigint, day date) RETURNS bigint
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(
		(SELECT c.supersedes FROM shilian.correction c
		  WHERE c.kind = correction_origin.kind AND c.record_id = correction_origin.id
		  ORDER BY c.id LIMIT 1),
		(SELECT g.id FROM shilian.ledger g
		  WHERE g.operator_id = correction_origin.owner AND g.on_date = correction_origin.day
			AND g.kind = ANY (CASE correction_origin.kind WHEN 'batch' THEN ARRAY['batch_create', 'receive']
				WHEN 'link' THEN ARRAY['ship'] WHEN 'consumption' THEN ARRAY['consume']
				WHEN 'transformation' THEN ARRAY['transform'] ELSE ARRAY['inspect'] END)
			AND coalesce(shilian.ledger_body(g.body) #>> '{batch,id}', shilian.ledger_body(g.body) ->> 'id')::bigint
				= correction_origin.id
		  ORDER BY g.id LIMIT 1))
	$$;
COMMENT ON FUNCTION correction_origin(text, bigint, bigint, date) IS
	'The ledger entry that made a record (batch_create, ship, inspect, consume or transform in its owner''s chain): what its first correction supersedes.';
REVOKE ALL ON FUNCTION correction_origin(text, bigint, bigint, date) FROM PUBLIC;

CREATE FUNCTION correction_entry(kind text, id bigint, owner bigint, day date) RETURNS bigint
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT coalesce(
		(SELECT c.entry_id FROM shilian.correction c
		  WHERE c.kind = correction_entry.kind AND c.record_id = correction_entry.id
		  ORDER BY c.id DESC LIMIT 1),
		shilian.correction_origin(kind, id, owner, day))
	$$;
COMMENT ON FUNCTION correction_entry(text, bigint, bigint, date) IS
	'The latest ledger entry of a record: its last correction''s, else the entry that made it; what the next correction supersedes.';
REVOKE ALL ON FUNCTION correction_entry(text, bigint, bigint, date) FROM PUBLIC;

-- Moves a record's count in the counters: delta (-1: retracted, or moved
-- away from this day; +1: moved to this day) on the kind's column of
-- operator_day, records and receipts of operator_month, then the rollups of
-- the operator's station. A counter row that does not exist (counters off)
-- is left alone; operator_day_rebuild() gives the same figures.
CREATE FUNCTION correction_count(op bigint, on_day date, col text, delta integer, via boolean)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	v integer := CASE WHEN via THEN delta ELSE 0 END;
	-- receipts_complete is a subset of receipts, not a record of its own
	n integer := CASE WHEN col = 'receipts_complete' THEN 0 ELSE delta END;
BEGIN
	IF on_day IS NULL OR delta = 0 THEN
		RETURN;
	END IF;
	-- operator_day is partitioned, its key each partition's own (part 58):
	-- update the row, or insert it; again when another transaction
	-- inserted it first
	LOOP
		UPDATE shilian.operator_day d SET records = d.records + n,
			batches = d.batches + CASE col WHEN 'batches' THEN delta ELSE 0 END,
			shipments = d.shipments + CASE col WHEN 'shipments' THEN delta ELSE 0 END,
			inspections = d.inspections + CASE col WHEN 'inspections' THEN delta ELSE 0 END,
			receipts = d.receipts + CASE col WHEN 'receipts' THEN delta ELSE 0 END,
			receipts_complete = d.receipts_complete + CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END,
			transforms = d.transforms + CASE col WHEN 'transforms' THEN delta ELSE 0 END,
			consumptions = d.consumptions + CASE col WHEN 'consumptions' THEN delta ELSE 0 END,
			via_client = d.via_client + v
		 WHERE d.operator_id = op AND d.day = on_day;
		EXIT WHEN FOUND;
		INSERT INTO shilian.operator_day (operator_id, day, records, batches, shipments, inspections, receipts,
			receipts_complete, transforms, consumptions, via_client)
		VALUES (op, on_day, greatest(n, 0), greatest(CASE col WHEN 'batches' THEN delta ELSE 0 END, 0),
			greatest(CASE col WHEN 'shipments' THEN delta ELSE 0 END, 0),
			greatest(CASE col WHEN 'inspections' THEN delta ELSE 0 END, 0),
			greatest(CASE col WHEN 'receipts' THEN delta ELSE 0 END, 0),
			greatest(CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END, 0),
			greatest(CASE col WHEN 'transforms' THEN delta ELSE 0 END, 0),
			greatest(CASE col WHEN 'consumptions' THEN delta ELSE 0 END, 0), greatest(v, 0))
		ON CONFLICT DO NOTHING;
		EXIT WHEN FOUND;
	END LOOP;
	DELETE FROM shilian.operator_day d
	 WHERE d.operator_id = op AND d.day = on_day AND d.records <= 0;
	-- operator_month too (partitioned by month, part 58)
	LOOP
		UPDATE shilian.operator_month m SET records = m.records + n,
			receipts = m.receipts + CASE col WHEN 'receipts' THEN delta ELSE 0 END,
			receipts_complete = m.receipts_complete + CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END,
			via_client = m.via_client + v
		 WHERE m.operator_id = op AND m.month = date_trunc('month', on_day::timestamp)::date;
		EXIT WHEN FOUND;
		INSERT INTO shilian.operator_month (operator_id, month, records, receipts, receipts_complete, via_client)
		VALUES (op, date_trunc('month', on_day::timestamp)::date, greatest(n, 0),
			greatest(CASE col WHEN 'receipts' THEN delta ELSE 0 END, 0),
			greatest(CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END, 0), greatest(v, 0))
		ON CONFLICT DO NOTHING;
		EXIT WHEN FOUND;
	END LOOP;
	DELETE FROM shilian.operator_month m
	 WHERE m.operator_id = op AND m.month = date_trunc('month', on_day::timestamp)::date
	   AND m.records <= 0;
	PERFORM shilian.rollup_recount(ARRAY(SELECT o.station FROM shilian.operator o WHERE o.id = op));
END
$$;
COMMENT ON FUNCTION correction_count(bigint, date, text, integer, boolean) IS
	'Move a corrected or retracted record''s count in operator_day and operator_month (delta -1 or +1) and recount its station''s rollups.';
REVOKE ALL ON FUNCTION correction_count(bigint, date, text, integer, boolean) FROM PUBLIC;

-- Whether the record's entry came through a client, import or EPCIS (it was
-- counted in via_client).
CREATE FUNCTION correction_via(entry bigint) RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	RETURN coalesce((SELECT g.source IS NOT NULL FROM shilian.ledger g WHERE g.id = entry), false);
COMMENT ON FUNCTION correction_via(bigint) IS
	'Whether a ledger entry came through a client, import or EPCIS (was counted in via_client).';
REVOKE ALL ON FUNCTION correction_via(bigint) FROM PUBLIC;

-- The refusal of an unknown or invisible record (the same for both: a
-- record id says nothing about whom it belongs to).
CREATE FUNCTION correction_unknown(kind text, id bigint) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'SLC02',
		MESSAGE = format('unknown record: no %s has id %s', kind, id),
		HINT = 'Correct or retract your own records (or, as a regulator, those of your jurisdiction).';
END
$$;
COMMENT ON FUNCTION correction_unknown(text, bigint) IS
	'Raise SLC02: no record of this kind with this id that the caller may correct (the same for an unknown and another''s record).';
REVOKE ALL ON FUNCTION correction_unknown(text, bigint) FROM PUBLIC;

-- Who may correct or retract the record of this owner (docs/security.md,
-- row C1): the owner (its login, its bound system clients) and the admin
-- correct and retract; a regulator of the owner's jurisdiction retracts
-- only (it does not record trade facts, R3). The owner must be active to
-- correct. Returns the calling role.
CREATE FUNCTION correction_require(kind text, id bigint, owner bigint, action text) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
		ELSE current_setting('role') END;
	regulator boolean;
BEGIN
	IF owner IS NULL OR NOT shilian.may_see(owner) THEN
		PERFORM shilian.correction_unknown(kind, id);
	END IF;
	regulator := pg_has_role(caller, 'shilian_regulator', 'MEMBER')
		AND NOT pg_has_role(caller, 'shilian_admin', 'MEMBER')
		AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = caller AND r.rolsuper);
	IF regulator AND action = 'correct' THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('permission denied for %s: a regulator retracts records, it does not correct them', caller),
			HINT = 'The operator corrects its own records; a regulator may retract one (retract()).';
	END IF;
	IF NOT regulator AND (SELECT o.status FROM shilian.operator o WHERE o.id = owner) <> 'active' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC11',
			MESSAGE = format('%s %s: its operator is not active', kind, id),
			HINT = 'Only an active operator records, corrects or retracts.';
	END IF;
	RETURN caller;
END
$$;
COMMENT ON FUNCTION correction_require(text, bigint, bigint, text) IS
	'Who may correct or retract the record of this owner (docs/security.md, C1): the owner, its bound clients, the admin; a regulator of its jurisdiction retracts only. Returns the calling role.';
REVOKE ALL ON FUNCTION correction_require(text, bigint, bigint, text) FROM PUBLIC;

CREATE FUNCTION correction_reason(reason text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC03', MESSAGE = 'a correction or retraction needs a reason',
			HINT = 'Say why the record was wrong (it is kept in the ledger with the correction).';
	END IF;
	RETURN btrim(reason);
END
$$;
COMMENT ON FUNCTION correction_reason(text) IS
	'The reason of a correction, trimmed; SLC03 when empty.';
REVOKE ALL ON FUNCTION correction_reason(text) FROM PUBLIC;

-- Appends the correction's ledger entry and its row. old/new: the whole
-- rows; the entry's body names the record and holds only the changed fields.
CREATE FUNCTION correction_append(kind text, id bigint, action text, owner bigint, reason text,
		old jsonb, new jsonb, caller text, epcis jsonb, day date) RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	prev bigint := shilian.correction_entry(kind, id, owner, day);
	entry bigint;
	ch_old jsonb;
	ch_new jsonb;
	cid bigint;
BEGIN
	SELECT coalesce(jsonb_object_agg(o.key, o.value), '{}'),
		coalesce(jsonb_object_agg(o.key, new -> o.key) FILTER (WHERE new IS NOT NULL), '{}')
	  INTO ch_old, ch_new
	  FROM jsonb_each(old) o
	 WHERE new IS NULL OR new -> o.key IS DISTINCT FROM o.value;
	IF new IS NULL THEN
		ch_old := old;
	END IF;
	entry := shilian.ledger_append(owner, action, jsonb_strip_nulls(jsonb_build_object(
		'record', kind, 'id', id, 'reason', reason, 'old', ch_old,
		'new', CASE WHEN new IS NULL THEN NULL ELSE ch_new END,
		'epcis_event', epcis ->> 'eventID')), prev);
	INSERT INTO shilian.correction (kind, record_id, action, operator_id, reason, old, new, entry_id,
		supersedes, epcis, corrected_by)
	VALUES (kind, id, action, owner, reason, old, new, entry, prev, epcis, caller)
	RETURNING correction.id INTO cid;
	RETURN cid;
END
$$;
COMMENT ON FUNCTION correction_append(text, bigint, text, bigint, text, jsonb, jsonb, text, jsonb, date) IS
	'Append a correction''s ledger entry (superseding the record''s latest entry) and its row in correction; returns the correction id.';
REVOKE ALL ON FUNCTION correction_append(text, bigint, text, bigint, text, jsonb, jsonb, text, jsonb, date) FROM PUBLIC;

-- Whether a record is retracted (a retracted consumption keeps its row, with
-- nothing consumed: no later record of its batch).
CREATE FUNCTION correction_retracted(kind text, id bigint) RETURNS boolean
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	RETURN EXISTS (SELECT 1 FROM shilian.correction c
					WHERE c.kind = correction_retracted.kind AND c.record_id = correction_retracted.id
					  AND c.action = 'retract');
COMMENT ON FUNCTION correction_retracted(text, bigint) IS
	'Whether the record of this kind and id is retracted.';
REVOKE ALL ON FUNCTION correction_retracted(text, bigint) FROM PUBLIC;

-- Refuses the retraction or correction of a record already retracted.
CREATE FUNCTION correction_not_retracted(kind text, id bigint) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM shilian.correction c
				WHERE c.kind = correction_not_retracted.kind AND c.record_id = correction_not_retracted.id
				  AND c.action = 'retract') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC04',
			MESSAGE = format('%s %s is retracted', kind, id),
			HINT = 'A retracted record stays retracted; record it again if it happened after all.';
	END IF;
END
$$;
COMMENT ON FUNCTION correction_not_retracted(text, bigint) IS
	'SLC04 when the record is retracted.';
REVOKE ALL ON FUNCTION correction_not_retracted(text, bigint) FROM PUBLIC;

-- The retraction of a received sale, whole: the sale (seller's chain) and
-- the buyer's batch its receipt made (buyer's chain) are retracted, when
-- nothing was recorded against that batch since (it holds all it received,
-- no sale, processing or consumption of it, no inspection but its incoming
-- one, no other receipt into it). The quantity accepted returns to the
-- seller's batch; the walks no longer follow the sale; the seller's
-- shipment and the buyer's receipt are no longer counted. The caller has
-- passed correction_require for the seller and may see the buyer.
CREATE FUNCTION correction_receipt(l shilian.link, src shilian.batch, reason text, caller text, via boolean,
		epcis jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	b shilian.batch;
	nb shilian.batch;
	nl shilian.link;
	day date := shilian.platform_date(l.received_at);
	insp bigint;
	complete boolean;
	via_buyer boolean;
	cid bigint;
BEGIN
	SELECT * INTO b FROM shilian.batch x WHERE x.id = l.to_batch FOR UPDATE;
	SELECT min(i.id) INTO insp FROM shilian.inspection i WHERE i.link_id = l.id AND i.kind = 'incoming';
	IF b.origin <> 'received' OR NOT (b.qty_left OPERATOR(shilian.=) b.qty)
		OR EXISTS (SELECT 1 FROM shilian.link x WHERE x.to_batch = b.id AND x.id <> l.id)
		OR EXISTS (SELECT 1 FROM shilian.link x WHERE x.from_batch = b.id AND x.status <> 'retracted')
		OR EXISTS (SELECT 1 FROM shilian.consumption c WHERE c.batch_id = b.id
							AND NOT shilian.correction_retracted('consumption', c.id))
		OR EXISTS (SELECT 1 FROM shilian.inspection i WHERE i.batch_id = b.id AND i.id IS DISTINCT FROM insp) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC05',
			MESSAGE = format('sale %s: the buyer''s batch %s has later records', l.id, b.trace_code),
			HINT = 'A received sale is retracted only while the batch its receipt made is untouched; retract those records first.';
	END IF;
	SELECT c.complete INTO complete FROM shilian.incoming_complete(ARRAY[insp]) c;
	via_buyer := shilian.correction_via(shilian.correction_origin('batch', b.id, l.buyer_id, day));
	UPDATE shilian.link x SET status = 'retracted', to_batch = NULL, qty_accepted = NULL, received_at = now()
	 WHERE x.id = l.id RETURNING * INTO nl;
	UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l.qty_accepted WHERE x.id = src.id;
	nb := b;
	nb.qty_left := b.qty OPERATOR(shilian.-) b.qty;
	UPDATE shilian.batch x SET qty_left = nb.qty_left WHERE x.id = b.id;
	PERFORM shilian.correction_count(l.seller_id, l.shipped_on, 'shipments', -1, via);
	PERFORM shilian.correction_count(l.buyer_id, day, 'receipts', -1, via_buyer);
	IF complete THEN
		PERFORM shilian.correction_count(l.buyer_id, day, 'receipts_complete', -1, false);
	END IF;
	-- the two chains in operator order (docs/ledger-format.md, "Appending")
	IF l.buyer_id < l.seller_id THEN
		PERFORM shilian.correction_append('batch', b.id, 'retract', l.buyer_id, reason, to_jsonb(b), NULL, caller, epcis, day);
	END IF;
	cid := shilian.correction_append('link', l.id, 'retract', l.seller_id, reason, to_jsonb(l), NULL, caller, epcis,
		l.shipped_on);
	IF l.buyer_id > l.seller_id THEN
		PERFORM shilian.correction_append('batch', b.id, 'retract', l.buyer_id, reason, to_jsonb(b), NULL, caller, epcis, day);
	END IF;
	RETURN cid;
END
$$;
COMMENT ON FUNCTION correction_receipt(shilian.link, shilian.batch, text, text, boolean, jsonb) IS
	'Retract a received sale whole (part of retract()): the sale and the buyer''s untouched batch its receipt made, both chains, balances and counters.';
REVOKE ALL ON FUNCTION correction_receipt(shilian.link, shilian.batch, text, text, boolean, jsonb) FROM PUBLIC;

-- The one apply step of both functions. action 'correct' takes the new
-- values in changes (a JSON object of field -> value); 'retract' none.
CREATE FUNCTION correction_apply(kind text, id bigint, reason text, action text, changes jsonb, epcis jsonb)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	caller text;
	b shilian.batch;
	l shilian.link;
	i shilian.inspection;
	nb shilian.batch;
	nl shilian.link;
	ni shilian.inspection;
	src shilian.batch;
	cn shilian.consumption;
	ncn shilian.consumption;
	on_day date;
	ins jsonb;
	new_ins jsonb;
	inp record;
	q shilian.qty;
	allowed text[];
	bad text;
	used shilian.qty;
	via boolean;
	r text := shilian.correction_reason(reason);
BEGIN
	IF kind IS NULL OR kind NOT IN ('batch', 'link', 'inspection', 'consumption', 'transformation') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC01', MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Correct or retract a "batch", a "link" (a sale), an "inspection", a "consumption" or a "transformation" (its output batch).';
	END IF;
	IF id IS NULL THEN
		PERFORM shilian.correction_unknown(kind, id);
	END IF;
	IF action = 'correct' THEN
		allowed := CASE kind WHEN 'batch' THEN ARRAY['qty', 'produced_on', 'expires_on', 'lot']
			WHEN 'link' THEN ARRAY['qty', 'shipped_on'] WHEN 'consumption' THEN ARRAY['qty', 'kind', 'note']
			WHEN 'transformation' THEN ARRAY['qty', 'expires_on', 'lot', 'inputs']
			ELSE ARRAY['result', 'report'] END;
		IF changes IS NULL OR jsonb_typeof(changes) <> 'object' OR changes = '{}' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = 'a correction needs the new values',
				HINT = format('Give a JSON object of the fields to change: %s.', array_to_string(allowed, ', '));
		END IF;
		SELECT k INTO bad FROM jsonb_object_keys(changes) k WHERE k <> ALL (allowed) ORDER BY k LIMIT 1;
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06',
				MESSAGE = format('field "%s" of a %s is not corrected this way', bad, kind),
				HINT = format('A %s corrects %s; retract a record that should not exist.', kind,
					array_to_string(allowed, ', '));
		END IF;
	END IF;

	IF kind = 'batch' THEN
		SELECT * INTO b FROM shilian.batch x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, b.owner_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		IF b.origin <> 'produced' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC08',
				MESSAGE = format('batch %s is %s, not produced: it is corrected through the record that made it', b.trace_code, b.origin),
				HINT = 'Retract the sale it was received from (kind "link"), correct or retract a transformed lot as kind "transformation"; first-entry lots are not corrected as batches.';
		END IF;
		via := shilian.correction_via(shilian.correction_origin(kind, id, b.owner_id, b.produced_on));
		IF action = 'retract' THEN
			IF EXISTS (SELECT 1 FROM shilian.link x WHERE x.from_batch = b.id AND x.status <> 'retracted')
				OR EXISTS (SELECT 1 FROM shilian.consumption c WHERE c.batch_id = b.id
							AND NOT shilian.correction_retracted('consumption', c.id))
				OR EXISTS (SELECT 1 FROM shilian.inspection x WHERE x.batch_id = b.id)
				OR NOT (b.qty_left OPERATOR(shilian.=) b.qty) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC05',
					MESSAGE = format('batch %s has later records: it was shipped, processed, consumed or inspected', b.trace_code),
					HINT = 'Retract those records first (a sale still pending), or correct the batch instead.';
			END IF;
			nb := b;
			nb.qty_left := b.qty OPERATOR(shilian.-) b.qty;
			UPDATE shilian.batch x SET qty_left = nb.qty_left WHERE x.id = b.id;
			PERFORM shilian.correction_count(b.owner_id, b.produced_on, 'batches', -1, via);
			RETURN shilian.correction_append(kind, id, action, b.owner_id, r, to_jsonb(b), NULL, caller,
				epcis, b.produced_on);
		END IF;
		nb := jsonb_populate_record(b, changes - 'qty');
		IF changes ? 'qty' THEN
			nb.qty := shilian.correction_qty(changes -> 'qty');
			IF nb.qty OPERATOR(shilian.<=) (nb.qty OPERATOR(shilian.-) nb.qty) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the batch quantity must be positive';
			END IF;
			used := b.qty OPERATOR(shilian.-) b.qty_left;
			IF nb.qty OPERATOR(shilian.<) used THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = format('batch %s: %s of it is already shipped, processed or consumed, more than %s', b.trace_code, used, nb.qty),
					HINT = 'Retract or correct those records first.';
			END IF;
			nb.qty_left := nb.qty OPERATOR(shilian.-) used;
		END IF;
		IF nb.produced_on IS NULL OR nb.produced_on > shilian.platform_today() THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the production date must be a day not after today';
		END IF;
		IF nb.expires_on < nb.produced_on THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07',
				MESSAGE = format('the expiry date %s is before the production date %s', nb.expires_on, nb.produced_on);
		END IF;
		IF nb.produced_on <> b.produced_on AND (EXISTS (SELECT 1 FROM shilian.link x
				WHERE x.from_batch = b.id AND x.status <> 'retracted' AND x.shipped_on < nb.produced_on)
			OR EXISTS (SELECT 1 FROM shilian.inspection x
				WHERE x.batch_id = b.id AND shilian.platform_date(x.inspected_at) < nb.produced_on)) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC05',
				MESSAGE = format('batch %s: a later record is dated before %s', b.trace_code, nb.produced_on);
		END IF;
		IF to_jsonb(nb) = to_jsonb(b) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('batch %s already has these values', b.trace_code);
		END IF;
		UPDATE shilian.batch x SET qty = nb.qty, qty_left = nb.qty_left, produced_on = nb.produced_on,
			expires_on = nb.expires_on, lot = nb.lot WHERE x.id = b.id;
		IF nb.produced_on <> b.produced_on THEN
			-- via_client stays with the entry's date (operator_day_rebuild)
			PERFORM shilian.correction_count(b.owner_id, b.produced_on, 'batches', -1, false);
			PERFORM shilian.correction_count(b.owner_id, nb.produced_on, 'batches', 1, false);
		END IF;
		RETURN shilian.correction_append(kind, id, action, b.owner_id, r, to_jsonb(b), to_jsonb(nb), caller,
			epcis, b.produced_on);

	ELSIF kind = 'link' THEN
		SELECT * INTO l FROM shilian.link x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, l.seller_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		IF l.kind <> 'ship' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC08',
				MESSAGE = format('link %s is a processing input, not a sale', id),
				HINT = 'A processing step is corrected or retracted as kind "transformation" (the id of its output batch).';
		END IF;
		IF l.status = 'rejected' OR (l.status = 'received' AND (action = 'correct' OR NOT shilian.may_see(l.buyer_id))) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC05',
				MESSAGE = format('sale %s is %s: the buyer''s record depends on it', id, l.status),
				HINT = 'Only a sale still pending is corrected or retracted by its seller; a received sale is retracted whole by whoever answers for both seller and buyer (the admin, their regulator, a system client bound to both), else the buyer records a return.';
		END IF;
		SELECT * INTO src FROM shilian.batch x WHERE x.id = l.from_batch FOR UPDATE;
		via := shilian.correction_via(shilian.correction_origin(kind, id, l.seller_id, l.shipped_on));
		IF l.status = 'received' THEN
			RETURN shilian.correction_receipt(l, src, r, caller, via, epcis);
		END IF;
		IF action = 'retract' THEN
			nl := l;
			UPDATE shilian.link x SET status = 'retracted', received_at = now() WHERE x.id = l.id
				RETURNING * INTO nl;
			UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l.qty_shipped WHERE x.id = src.id;
			PERFORM shilian.correction_count(l.seller_id, l.shipped_on, 'shipments', -1, via);
			RETURN shilian.correction_append(kind, id, action, l.seller_id, r, to_jsonb(l), NULL, caller,
				epcis, l.shipped_on);
		END IF;
		nl := jsonb_populate_record(l, changes - 'qty');
		IF changes ? 'qty' THEN
			nl.qty_shipped := shilian.correction_qty(changes -> 'qty');
			IF nl.qty_shipped OPERATOR(shilian.<=) (nl.qty_shipped OPERATOR(shilian.-) nl.qty_shipped) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the shipped quantity must be positive';
			END IF;
			IF (src.qty_left OPERATOR(shilian.+) l.qty_shipped) OPERATOR(shilian.<) nl.qty_shipped THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = format('batch %s holds %s, less than %s', src.trace_code,
						src.qty_left OPERATOR(shilian.+) l.qty_shipped, nl.qty_shipped);
			END IF;
		END IF;
		IF nl.shipped_on IS NULL OR nl.shipped_on > shilian.platform_today() OR nl.shipped_on < src.produced_on
			OR nl.shipped_on > src.expires_on THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07',
				MESSAGE = format('the ship date %s is not between the production date %s and today (or after the expiry date)',
					nl.shipped_on, src.produced_on);
		END IF;
		IF to_jsonb(nl) = to_jsonb(l) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('sale %s already has these values', id);
		END IF;
		UPDATE shilian.link x SET qty_shipped = nl.qty_shipped, shipped_on = nl.shipped_on WHERE x.id = l.id;
		UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l.qty_shipped
			OPERATOR(shilian.-) nl.qty_shipped WHERE x.id = src.id;
		IF nl.shipped_on <> l.shipped_on THEN
			PERFORM shilian.correction_count(l.seller_id, l.shipped_on, 'shipments', -1, false);
			PERFORM shilian.correction_count(l.seller_id, nl.shipped_on, 'shipments', 1, false);
		END IF;
		RETURN shilian.correction_append(kind, id, action, l.seller_id, r, to_jsonb(l), to_jsonb(nl), caller,
			epcis, l.shipped_on);

	ELSIF kind = 'consumption' THEN
		SELECT * INTO cn FROM shilian.consumption x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, cn.operator_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		SELECT * INTO src FROM shilian.batch x WHERE x.id = cn.batch_id FOR UPDATE;
		on_day := shilian.platform_date(cn.consumed_at);
		via := shilian.correction_via(shilian.correction_origin(kind, id, cn.operator_id, on_day));
		ncn := cn;
		IF action = 'retract' THEN
			-- the quantity returns to the batch; the row stays with nothing
			-- consumed (so the walks' on hand as of a past moment adds back
			-- nothing), the row before in correction.old and the ledger
			ncn.qty := cn.qty OPERATOR(shilian.-) cn.qty;
		ELSE
			IF changes ? 'kind' THEN
				IF changes ->> 'kind' IS NULL OR changes ->> 'kind' NOT IN ('served', 'retail_sold', 'destroyed', 'sample_kept') THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07',
						MESSAGE = format('unknown consumption kind %s', changes -> 'kind'),
						HINT = 'Use "served", "retail_sold", "destroyed" or "sample_kept".';
				END IF;
				ncn.kind := changes ->> 'kind';
				-- expired food may be destroyed or kept, never served or sold (consume)
				IF ncn.kind IN ('served', 'retail_sold') AND on_day > src.expires_on THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07',
						MESSAGE = format('batch %s expired on %s, before the consumption on %s: not %s', src.trace_code,
							src.expires_on, on_day, ncn.kind);
				END IF;
			END IF;
			IF changes ? 'note' THEN
				ncn.note := changes ->> 'note';
			END IF;
			IF changes ? 'qty' THEN
				ncn.qty := shilian.correction_qty(changes -> 'qty');
				IF ncn.qty OPERATOR(shilian.<=) (ncn.qty OPERATOR(shilian.-) ncn.qty) THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the consumed quantity must be positive',
						HINT = 'Retract a consumption that did not happen.';
				END IF;
			END IF;
			IF to_jsonb(ncn) = to_jsonb(cn) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('consumption %s already has these values', id);
			END IF;
		END IF;
		IF (src.qty_left OPERATOR(shilian.+) cn.qty) OPERATOR(shilian.<) ncn.qty THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07',
				MESSAGE = format('batch %s holds %s, less than %s', src.trace_code,
					src.qty_left OPERATOR(shilian.+) cn.qty, ncn.qty);
		END IF;
		UPDATE shilian.consumption x SET qty = ncn.qty, kind = ncn.kind, note = ncn.note WHERE x.id = cn.id;
		UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) cn.qty OPERATOR(shilian.-) ncn.qty
		 WHERE x.id = src.id;
		IF action = 'retract' THEN
			PERFORM shilian.correction_count(cn.operator_id, on_day, 'consumptions', -1, via);
			RETURN shilian.correction_append(kind, id, action, cn.operator_id, r, to_jsonb(cn), NULL, caller,
				epcis, on_day);
		END IF;
		RETURN shilian.correction_append(kind, id, action, cn.operator_id, r, to_jsonb(cn), to_jsonb(ncn), caller,
			epcis, on_day);

	ELSIF kind = 'transformation' THEN
		-- the id is the output batch's; the record is the batch and its input links
		SELECT * INTO b FROM shilian.batch x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, b.owner_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		IF b.origin <> 'transformed' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC08',
				MESSAGE = format('batch %s is %s, not the output of a transformation', b.trace_code, b.origin),
				HINT = 'A produced lot is corrected as kind "batch"; a received one through the sale it came from ("link").';
		END IF;
		-- the inputs locked in id order, as transform() locks them
		PERFORM 1 FROM shilian.batch x
		 WHERE x.id IN (SELECT l2.from_batch FROM shilian.link l2 WHERE l2.to_batch = b.id AND l2.kind = 'transform')
		 ORDER BY x.id FOR UPDATE;
		SELECT jsonb_agg(to_jsonb(x) ORDER BY x.from_batch) INTO ins
		  FROM shilian.link x WHERE x.to_batch = b.id AND x.kind = 'transform';
		via := shilian.correction_via(shilian.correction_origin(kind, id, b.owner_id, b.produced_on));
		IF action = 'retract' THEN
			IF EXISTS (SELECT 1 FROM shilian.link x WHERE x.from_batch = b.id AND x.status <> 'retracted')
				OR EXISTS (SELECT 1 FROM shilian.link x WHERE x.to_batch = b.id AND x.kind <> 'transform')
				OR EXISTS (SELECT 1 FROM shilian.consumption x WHERE x.batch_id = b.id
							AND NOT shilian.correction_retracted('consumption', x.id))
				OR EXISTS (SELECT 1 FROM shilian.inspection x WHERE x.batch_id = b.id)
				OR NOT (b.qty_left OPERATOR(shilian.=) b.qty) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC05',
					MESSAGE = format('batch %s has later records: it was shipped, processed, consumed, inspected or added to', b.trace_code),
					HINT = 'Retract those records first, or correct the transformation instead.';
			END IF;
			-- every input gets back what went in; the walks no longer follow the links
			UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l2.qty_shipped
			  FROM shilian.link l2 WHERE l2.to_batch = b.id AND l2.kind = 'transform' AND x.id = l2.from_batch;
			UPDATE shilian.link x SET status = 'retracted', to_batch = NULL, qty_accepted = NULL, received_at = now()
			 WHERE x.to_batch = b.id AND x.kind = 'transform';
			UPDATE shilian.batch x SET qty_left = b.qty OPERATOR(shilian.-) b.qty WHERE x.id = b.id;
			PERFORM shilian.correction_count(b.owner_id, b.produced_on, 'transforms', -1, via);
			RETURN shilian.correction_append(kind, id, action, b.owner_id, r,
				jsonb_build_object('batch', to_jsonb(b), 'inputs', ins), NULL, caller, epcis, b.produced_on);
		END IF;
		nb := jsonb_populate_record(b, changes - 'qty' - 'inputs');
		IF changes ? 'qty' THEN
			nb.qty := shilian.correction_qty(changes -> 'qty');
			IF nb.qty OPERATOR(shilian.<=) (nb.qty OPERATOR(shilian.-) nb.qty) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = 'the batch quantity must be positive';
			END IF;
			used := b.qty OPERATOR(shilian.-) b.qty_left;
			IF nb.qty OPERATOR(shilian.<) used THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = format('batch %s: %s of it is already shipped, processed or consumed, more than %s', b.trace_code, used, nb.qty),
					HINT = 'Retract or correct those records first.';
			END IF;
			nb.qty_left := nb.qty OPERATOR(shilian.-) used;
		END IF;
		IF nb.expires_on < nb.produced_on THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC07',
				MESSAGE = format('the expiry date %s is before the production date %s', nb.expires_on, nb.produced_on);
		END IF;
		IF changes ? 'inputs' THEN
			IF jsonb_typeof(changes -> 'inputs') <> 'object' OR changes -> 'inputs' = '{}' THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = 'inputs: a JSON object of input trace codes and their corrected quantities',
					HINT = 'For example {"inputs": {"370112000000000012": "45 kg"}}.';
			END IF;
			FOR inp IN SELECT e.key, e.value FROM jsonb_each(changes -> 'inputs') e ORDER BY e.key LOOP
				SELECT l2.* INTO l FROM shilian.link l2 JOIN shilian.batch x ON x.id = l2.from_batch
				 WHERE l2.to_batch = b.id AND l2.kind = 'transform' AND x.trace_code::text = inp.key;
				IF NOT FOUND THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07',
						MESSAGE = format('%s is not an input of transformation %s', inp.key, id),
						HINT = 'Name the inputs by their trace codes; an input is added or removed by retracting the transformation and recording it again.';
				END IF;
				q := shilian.correction_qty(inp.value);
				IF q OPERATOR(shilian.<=) (q OPERATOR(shilian.-) q) THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = format('input %s: the quantity must be positive', inp.key);
				END IF;
				SELECT * INTO src FROM shilian.batch x WHERE x.id = l.from_batch;
				IF (src.qty_left OPERATOR(shilian.+) l.qty_shipped) OPERATOR(shilian.<) q THEN
					RAISE EXCEPTION USING ERRCODE = 'SLC07',
						MESSAGE = format('batch %s holds %s, less than %s', src.trace_code,
							src.qty_left OPERATOR(shilian.+) l.qty_shipped, q);
				END IF;
				UPDATE shilian.link x SET qty_shipped = q, qty_accepted = q WHERE x.id = l.id;
				UPDATE shilian.batch x SET qty_left = x.qty_left OPERATOR(shilian.+) l.qty_shipped OPERATOR(shilian.-) q
				 WHERE x.id = src.id;
			END LOOP;
		END IF;
		SELECT jsonb_agg(to_jsonb(x) ORDER BY x.from_batch) INTO new_ins
		  FROM shilian.link x WHERE x.to_batch = b.id AND x.kind = 'transform';
		IF to_jsonb(nb) = to_jsonb(b) AND new_ins = ins THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('transformation %s already has these values', id);
		END IF;
		UPDATE shilian.batch x SET qty = nb.qty, qty_left = nb.qty_left, expires_on = nb.expires_on, lot = nb.lot
		 WHERE x.id = b.id;
		RETURN shilian.correction_append(kind, id, action, b.owner_id, r,
			jsonb_build_object('batch', to_jsonb(b), 'inputs', ins),
			jsonb_build_object('batch', to_jsonb(nb), 'inputs', new_ins), caller, epcis, b.produced_on);

	ELSE
		SELECT * INTO i FROM shilian.inspection x WHERE x.id = correction_apply.id FOR UPDATE;
		caller := shilian.correction_require(kind, id, i.operator_id, action);
		PERFORM shilian.correction_not_retracted(kind, id);
		IF action = 'retract' THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC08',
				MESSAGE = format('inspection %s: an inspection is corrected, not retracted', id),
				HINT = 'Correct its result or report (correct(''inspection'', id, reason, changes)).';
		END IF;
		ni := i;
		IF changes ? 'result' THEN
			IF changes ->> 'result' IS NULL OR changes ->> 'result' NOT IN ('pass', 'fail') THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = format('unknown inspection result %s', changes -> 'result'), HINT = 'Use "pass" or "fail".';
			END IF;
			ni.result := changes ->> 'result';
		END IF;
		IF changes ? 'report' THEN
			-- keys are added or replaced, never removed: the keys the kind
			-- requires (checked when it was recorded) stay
			IF jsonb_typeof(changes -> 'report') <> 'object' OR EXISTS (SELECT 1 FROM jsonb_each(changes -> 'report') e
					WHERE e.value IN ('null'::jsonb, '""'::jsonb)) THEN
				RAISE EXCEPTION USING ERRCODE = 'SLC07',
					MESSAGE = 'report: a JSON object of the keys to add or replace, none empty',
					HINT = 'A key of the report is replaced, never removed.';
			END IF;
			ni.report := i.report || (changes -> 'report');
		END IF;
		IF to_jsonb(ni) = to_jsonb(i) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLC06', MESSAGE = format('inspection %s already has these values', id);
		END IF;
		UPDATE shilian.inspection x SET result = ni.result, report = ni.report WHERE x.id = i.id;
		RETURN shilian.correction_append(kind, id, action, i.operator_id, r, to_jsonb(i), to_jsonb(ni), caller,
			epcis, shilian.platform_date(i.inspected_at));
	END IF;
END
$$;
COMMENT ON FUNCTION correction_apply(text, bigint, text, text, jsonb, jsonb) IS
	'The one step of correct() and retract() (and of an EPCIS errorDeclaration): rights, rules, the record tables, the counters, the ledger entry.';
REVOKE ALL ON FUNCTION correction_apply(text, bigint, text, text, jsonb, jsonb) FROM PUBLIC;

-- A quantity from JSON: "12.5 kg" (the qty type's text), SLC07 otherwise.
CREATE FUNCTION correction_qty(v jsonb) RETURNS shilian.qty
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF jsonb_typeof(v) <> 'string' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC07', MESSAGE = format('qty: a quantity with its unit as a string ("45 kg"), not %s', v);
	END IF;
	RETURN (v #>> '{}')::shilian.qty;
END
$$;
COMMENT ON FUNCTION correction_qty(jsonb) IS
	'A quantity from JSON (a string such as "45 kg"); SLC07 otherwise.';
REVOKE ALL ON FUNCTION correction_qty(jsonb) FROM PUBLIC;

CREATE FUNCTION correct(kind text, id bigint, reason text, changes jsonb) RETURNS bigint
	LANGUAGE sql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	RETURN shilian.correction_apply(kind, id, reason, 'correct', changes, NULL);
COMMENT ON FUNCTION correct(text, bigint, text, jsonb) IS
	'Correct (更正) a record: kind batch (qty, produced_on, expires_on, lot), link (a pending sale: qty, shipped_on), inspection (result, report keys), consumption (qty, kind, note) or transformation (its output batch id: qty, expires_on, lot, inputs {trace code: qty}); the original stays in the ledger, a correction entry supersedes it; balances and counters follow. Returns the correction id.';
REVOKE ALL ON FUNCTION correct(text, bigint, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION correct(text, bigint, text, jsonb) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION retract(kind text, id bigint, reason text) RETURNS bigint
	LANGUAGE sql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	RETURN shilian.correction_apply(kind, id, reason, 'retract', NULL, NULL);
COMMENT ON FUNCTION retract(text, bigint, text) IS
	'Retract (撤销) a record that should not exist: a produced batch nothing was recorded against, a pending sale (its quantity returns to the seller''s batch), a consumption (its quantity returns to the batch) or a transformation whose output nothing was recorded against (each input gets back what went in); the original stays in the ledger, a retraction entry supersedes it; counters follow. Returns the correction id.';
REVOKE ALL ON FUNCTION retract(text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION retract(text, bigint, text) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- The corrections of a record, oldest first, for whoever may see it.
CREATE FUNCTION corrections(kind text, id bigint)
	RETURNS TABLE (correction bigint, action text, reason text, old jsonb, new jsonb, entry bigint,
		supersedes bigint, corrected_by text, corrected_at timestamptz)
	LANGUAGE sql STABLE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	SELECT c.id, c.action, c.reason, c.old, c.new, c.entry_id, c.supersedes, c.corrected_by, c.corrected_at
	  FROM shilian.correction c
	 WHERE c.kind = corrections.kind AND c.record_id = corrections.id AND shilian.may_see(c.operator_id)
	 ORDER BY c.id;
	END;
COMMENT ON FUNCTION corrections(text, bigint) IS
	'The corrections and retraction of a record (kind batch, link, inspection, consumption or transformation), oldest first, with the row before and after each: what a recall or finding on it shows beside the current values.';
REVOKE ALL ON FUNCTION corrections(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION corrections(text, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- EPCIS errorDeclaration (GS1 EPCIS 2.0 §7.4.1.5): the declared event (its
-- eventID, as captured before) was wrong; every record it made is
-- retracted (batches made by commissioning, sales made by shipping, the
-- consumptions of destroying and retail selling, a transformation), with
-- the declaration's reason and correctiveEventIDs kept in the correction
-- rows. The corrective events are ordinary events, captured as such.
-- Called by epcis_apply_event (part 75) for an event with errorDeclaration.
CREATE FUNCTION correction_epcis(idx integer, ev jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	decl jsonb := ev -> 'errorDeclaration';
	e shilian.epcis_event;
	why text;
	x text;
BEGIN
	IF jsonb_typeof(decl) <> 'object' OR jsonb_typeof(decl -> 'declarationTime') <> 'string' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC10',
			MESSAGE = format('EPCIS event %s: errorDeclaration needs declarationTime', idx);
	END IF;
	SELECT * INTO e FROM shilian.epcis_event v WHERE v.event_id = ev ->> 'eventID';
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC10',
			MESSAGE = format('EPCIS event %s: errorDeclaration for an unknown eventID "%s"', idx, ev ->> 'eventID'),
			HINT = 'An error declaration repeats the eventID of an event captured before.';
	END IF;
	IF e.records ? 'inspections' OR e.biz_step IN ('receiving', 'accepting') OR e.type = 'AggregationEvent' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC10',
			MESSAGE = format('EPCIS event %s: the declared event "%s" (%s) is not retracted this way', idx, e.event_id,
				coalesce(e.biz_step, e.type)),
			HINT = 'Error declarations retract commissioning, shipping, destroying, retail selling and transformation events; correct an inspection with correct(); undo a packing with an AggregationEvent DELETE.';
	END IF;
	why := coalesce(nullif(decl ->> 'reason', ''), 'EPCIS errorDeclaration')
		|| coalesce(' (corrective events: ' || (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(
			CASE jsonb_typeof(decl -> 'correctiveEventIDs') WHEN 'array' THEN decl -> 'correctiveEventIDs'
			ELSE '[]' END) c) || ')', '');
	FOR x IN SELECT jsonb_array_elements_text(coalesce(e.records -> 'links', '[]')) LOOP
		PERFORM shilian.correction_apply('link', x::bigint, why, 'retract', NULL, decl || jsonb_build_object('eventID', e.event_id));
	END LOOP;
	FOR x IN SELECT jsonb_array_elements_text(coalesce(e.records -> 'consumptions', '[]')) LOOP
		PERFORM shilian.correction_apply('consumption', x::bigint, why, 'retract', NULL, decl || jsonb_build_object('eventID', e.event_id));
	END LOOP;
	IF NOT e.records ? 'links' THEN
		-- the lots it made: commissioned batches, or a transformation's output
		FOR x IN SELECT jsonb_array_elements_text(coalesce(e.records -> 'batches', '[]')) LOOP
			PERFORM shilian.correction_apply(CASE e.type WHEN 'TransformationEvent' THEN 'transformation' ELSE 'batch' END,
				(SELECT b.id FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) x::shilian.trace_code),
				why, 'retract', NULL, decl || jsonb_build_object('eventID', e.event_id));
		END LOOP;
	END IF;
END
$$;
COMMENT ON FUNCTION correction_epcis(integer, jsonb) IS
	'An EPCIS errorDeclaration: retract the records of the declared event (its eventID captured before), naming the correctiveEventIDs.';
REVOKE ALL ON FUNCTION correction_epcis(integer, jsonb) FROM PUBLIC;
