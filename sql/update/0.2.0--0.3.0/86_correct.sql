-- shilian upgrade script 0.2.0 -> 0.3.0, part 86: corrections (更正) and
-- retractions (撤销) of records (issue 18; h-correct). The same steps as
-- sql/src/83_corrections.sql, the link status retracted (part 20), and the
-- changed functions: recall_export (part 40: a retracted sale is no
-- recipient), operator_day_rebuild (part 58: a retracted record is not
-- counted) and, patched in place, epcis_apply_event (part 75: errorDeclaration).

ALTER TABLE link DROP CONSTRAINT link_status_check;
ALTER TABLE link ADD CONSTRAINT link_status_check
	CHECK (status IN ('pending', 'received', 'rejected', 'retracted'));

CREATE OR REPLACE FUNCTION recall_export(id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	out text;
BEGIN
	-- who may export: part 85 (the export spans every holder)
	PERFORM shilian.recall_require_follower(id);
	PERFORM 1 FROM shilian.recall r WHERE r.id = recall_export.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	SELECT 'traceability_lot_code,product_description,quantity,unit_of_measure,'
		|| 'location_name,location_address,operator_id,date_received,date_shipped,'
		|| 'reference_document,immediate_previous_source,subsequent_recipients,'
		|| 'qty_exposed,qty_on_hand,depth,disposition' || E'\r\n'
		|| coalesce(string_agg(concat_ws(',',
			shilian.csv_field(t.trace_code::text),
			shilian.csv_field(concat_ws(' ', p.name, p.spec)),
			shilian.csv_field(split_part(b.qty::text, ' ', 1)),
			shilian.csv_field(split_part(b.qty::text, ' ', 2)),
			shilian.csv_field(o.name),
			shilian.csv_field(o.address),
			t.operator_id::text,
			shilian.csv_field(to_char(shilian.platform_date(rin.received_at), 'YYYY-MM-DD')),
			shilian.csv_field(sh.dates),
			shilian.csv_field(coalesce('link ' || rin.id, b.lot, 'batch ' || b.trace_code::text)
				|| coalesce('; certificate ' || (b.certificate->>'certificate_no'), '')),
			shilian.csv_field(CASE b.origin
				WHEN 'received' THEN so.name || ' (' || sb.trace_code::text || ')'
				WHEN 'first_entry' THEN b.supplier->>'name'
				WHEN 'transformed' THEN (SELECT 'inputs: ' || string_agg(ib.trace_code::text, '; ' ORDER BY ib.trace_code)
					FROM shilian.link il JOIN shilian.batch ib ON ib.id = il.from_batch
					WHERE il.to_batch = b.id AND il.kind = 'transform') END),
			shilian.csv_field(sh.recipients),
			shilian.csv_field(t.qty_exposed::text),
			shilian.csv_field(t.qty_on_hand::text),
			t.depth::text,
			shilian.csv_field(t.disposition)), E'\r\n' ORDER BY t.trace_code) || E'\r\n', '')
	  INTO out
	  FROM shilian.recall_target t
	  JOIN shilian.batch b ON b.id = t.batch_id
	  JOIN shilian.product p ON p.id = b.product_id
	  JOIN shilian.operator o ON o.id = t.operator_id
	  -- how the lot came in: the earliest receipt of a sale (NULL: produced here)
	  LEFT JOIN LATERAL (SELECT l.* FROM shilian.link l
		WHERE l.to_batch = b.id AND l.kind = 'ship' AND l.status = 'received'
		ORDER BY l.received_at, l.id LIMIT 1) rin ON true
	  LEFT JOIN shilian.batch sb ON sb.id = rin.from_batch
	  LEFT JOIN shilian.operator so ON so.id = rin.seller_id
	  -- where it went: every sale out (not rejected or retracted) to another operator,
	  -- buyer and date (the holder's own processing is no recipient)
	  LEFT JOIN LATERAL (SELECT string_agg(DISTINCT bo.name, '; ') AS recipients,
			string_agg(DISTINCT to_char(l.shipped_on, 'YYYY-MM-DD'), '; ') AS dates
		FROM shilian.link l JOIN shilian.operator bo ON bo.id = l.buyer_id
		WHERE l.from_batch = b.id AND l.status NOT IN ('rejected', 'retracted')
		  AND l.kind = 'ship' AND l.buyer_id <> t.operator_id) sh ON true
	 WHERE t.recall_id = recall_export.id;
	RETURN out;
END;
$$;
COMMENT ON FUNCTION recall_export(bigint) IS
	'FSMA 204 style sortable CSV (RFC 4180, CRLF) of every affected lot of a recall: lot code, product, quantity and unit, location, receipt and shipment dates, reference document, previous source, recipients, exposed and on-hand quantity.';
REVOKE ALL ON FUNCTION recall_export(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_export(bigint) TO shilian_regulator, shilian_admin;
ALTER FUNCTION recall_export(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION operator_day_rebuild() RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	-- definer rights: truncates the table and reads every record and ledger
	-- row whatever the caller (EXECUTE: shilian_admin)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	LOCK TABLE shilian.operator_day IN ACCESS EXCLUSIVE MODE;
	TRUNCATE shilian.operator_day;
	INSERT INTO shilian.operator_day (operator_id, day, records, batches, inspections, shipments,
			receipts, receipts_complete, rejections, transforms, consumptions, via_client)
	SELECT e.operator_id, e.day,
		sum(e.n) FILTER (WHERE e.k <> 'receipts_complete' AND e.k <> 'via_client'),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'batches'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'inspections'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'shipments'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'receipts'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'receipts_complete'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'rejections'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'transforms'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'consumptions'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'via_client'), 0)
	  FROM (
		SELECT b.owner_id AS operator_id, b.produced_on AS day,
			CASE b.origin WHEN 'produced' THEN 'batches' ELSE 'transforms' END AS k, count(*) AS n
		  FROM shilian.batch b WHERE b.origin IN ('produced', 'transformed')
		   -- a retracted batch is not counted (part 83)
		   AND NOT EXISTS (SELECT 1 FROM shilian.correction x
							WHERE x.kind = 'batch' AND x.record_id = b.id AND x.action = 'retract')
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT l.seller_id, l.shipped_on, 'shipments', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status <> 'retracted' GROUP BY 1, 2
		UNION ALL
		SELECT l.buyer_id, shilian.platform_date(l.received_at), 'rejections', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status = 'rejected' GROUP BY 1, 2
		UNION ALL
		SELECT c.operator_id, shilian.platform_date(c.consumed_at), 'consumptions', count(*)
		  FROM shilian.consumption c GROUP BY 1, 2
		UNION ALL
		-- inspections: a receipt's incoming inspection names its sale's link;
		-- a first entry's is the first inspection of its first-entry batch;
		-- the rest were recorded with inspect()
		SELECT r.operator_id, r.day, CASE WHEN r.receipt THEN 'receipts' ELSE 'inspections' END, count(*)
		  FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, i.link_id IS NOT NULL AS receipt
				  FROM shilian.inspection i
				 WHERE (i.link_id IS NOT NULL
					OR i.batch_id NOT IN (SELECT b.id FROM shilian.batch b WHERE b.origin = 'first_entry'))
				   -- the receipt of a sale retracted since is not counted (part 83)
				   AND NOT EXISTS (SELECT 1 FROM shilian.link x WHERE x.id = i.link_id AND x.status = 'retracted')
				UNION ALL
				SELECT f.operator_id, shilian.platform_date(f.inspected_at), f.rn = 1
				  FROM (SELECT i.operator_id, i.inspected_at, i.kind,
							row_number() OVER (PARTITION BY i.batch_id ORDER BY i.id) AS rn
						  FROM shilian.inspection i JOIN shilian.batch b ON b.id = i.batch_id
						 WHERE b.origin = 'first_entry' AND i.link_id IS NULL) f) r
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT c.operator_id, c.day, 'receipts_complete', count(*)
		  FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, i.id, i.batch_id, b.origin,
					shilian.incoming_fields_complete(p.edible_agricultural, p.spec,
						coalesce(o.name, b.supplier->>'name'), coalesce(o.address, b.supplier->>'address'),
						coalesce(o.contact, b.supplier->>'contact'),
						coalesce(b.supplier_licence::text, b.supplier->>'licence'),
						coalesce(b.certificate, i.report->'certificate')) AS complete
				  FROM shilian.inspection i
				  JOIN shilian.batch b ON b.id = i.batch_id
				  JOIN shilian.product p ON p.id = b.product_id
				  LEFT JOIN shilian.link l ON l.id = i.link_id
				  LEFT JOIN shilian.operator o ON o.id = l.seller_id
				 WHERE i.kind = 'incoming' AND (i.link_id IS NOT NULL OR b.origin = 'first_entry')
				   AND NOT EXISTS (SELECT 1 FROM shilian.link x WHERE x.id = i.link_id AND x.status = 'retracted')) c
		 WHERE c.complete
		   AND (c.origin <> 'first_entry' OR c.id = (SELECT min(f.id) FROM shilian.inspection f
													  WHERE f.batch_id = c.batch_id))
		 GROUP BY 1, 2
		UNION ALL
		SELECT g.operator_id, g.on_date, 'via_client', count(*)
		  FROM shilian.ledger g
		 WHERE g.source IS NOT NULL AND g.on_date IS NOT NULL
		   -- the record kinds (the registry's entries are not counted)
		   AND g.kind IN ('batch_create', 'inspect', 'ship', 'receive', 'receive_first_entry', 'reject',
				'transform', 'consume')
		   -- nor the entry of a record retracted since (part 83): the entry
		   -- its first correction superseded
		   AND NOT EXISTS (SELECT 1 FROM shilian.correction x
							WHERE x.action = 'retract' AND x.operator_id = g.operator_id
							  AND g.id = (SELECT f.supersedes FROM shilian.correction f
										   WHERE f.kind = x.kind AND f.record_id = x.record_id
										   ORDER BY f.id LIMIT 1))
		 GROUP BY 1, 2
	  ) e
	 GROUP BY e.operator_id, e.day
	HAVING sum(e.n) FILTER (WHERE e.k <> 'receipts_complete' AND e.k <> 'via_client') > 0;
	GET DIAGNOSTICS n = ROW_COUNT;
	LOCK TABLE shilian.operator_month IN ACCESS EXCLUSIVE MODE;
	TRUNCATE shilian.operator_month;
	-- the rollups (part 62): one recount after
	INSERT INTO shilian.operator_month (operator_id, month, records, receipts, receipts_complete, via_client)
	SELECT d.operator_id, date_trunc('month', d.day::timestamp)::date, sum(d.records), sum(d.receipts),
		sum(d.receipts_complete), sum(d.via_client)
	  FROM shilian.operator_day d GROUP BY 1, 2;
	PERFORM shilian.rollup_recount(NULL);
	RETURN n;
END
$$;
COMMENT ON FUNCTION operator_day_rebuild() IS
	'Admin: recount shilian.operator_day (and operator_month and the rollups of part 62) from the record tables and the ledger''s sources (after a load with shilian.activity_counters off); returns the (operator, day) rows written.';
REVOKE ALL ON FUNCTION operator_day_rebuild() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_day_rebuild() TO shilian_admin;

-- epcis_apply_event (part 75): the dispatch of an errorDeclaration, first
-- thing after its BEGIN, put into the body installed by the earlier steps
-- (whatever else they changed in it), so that this step does not carry a
-- copy of the whole function.
DO $patch$
DECLARE
	def text := pg_catalog.pg_get_functiondef('shilian.epcis_apply_event(bigint, integer, jsonb)'::pg_catalog.regprocedure);
	dispatch text := E'\tIF jsonb_typeof(ev) = ''object'' AND ev ? ''errorDeclaration'' THEN\n';
BEGIN
	IF pg_catalog.strpos(def, 'correction_epcis') > 0 THEN
		RETURN;
	END IF;
	IF pg_catalog.strpos(def, E'\nBEGIN\n') = 0 THEN
		RAISE EXCEPTION 'epcis_apply_event has no top-level BEGIN line to patch';
	END IF;
	EXECUTE pg_catalog.regexp_replace(def, E'\nBEGIN\n', E'\nBEGIN\n'
		|| E'\t-- an error declaration (same eventID as the event it declares wrong)\n'
		|| E'\t-- retracts that event''s records (part 83, correction_epcis)\n'
		|| dispatch
		|| E'\t\tPERFORM shilian.correction_epcis(idx, ev);\n'
		|| E'\t\tRETURN;\n'
		|| E'\tEND IF;\n');
END
$patch$;

-- shilian install script, part 83: corrections (更正) and retractions (撤销)
-- of records (docs/sql-reference.md, "Corrections"; docs/ledger-format.md).
-- A record is never changed in the ledger: correct() and retract() append a
-- new entry to the chain of the record's owner whose supersedes names the
-- record's latest entry (its original entry, or its last correction), and
-- bring the record tables (balances, the links the walks follow) and the
-- counters (operator_day, operator_month, the rollups) to the corrected
-- state, in the caller's transaction. The table correction keeps each step
-- with the record's row before and after it, so a recall or a finding on a
-- corrected record can show both. Kinds: batch, link (a sale) and
-- inspection; codes SLC01-SLC19 (docs/errors.md).

CREATE TABLE correction (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind         text NOT NULL CHECK (kind IN ('batch', 'link', 'inspection')),
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
	'Corrections (更正) and retractions (撤销) of batches, sales (links) and inspections: the row before and after, the reason, the ledger entry that records it and the entry it supersedes.';
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
-- receive that made a received one; ship for a sale; inspect for an inspection) in its owner's chain, on its event date
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
				WHEN 'link' THEN ARRAY['ship'] ELSE ARRAY['inspect'] END)
			AND coalesce(shilian.ledger_body(g.body) #>> '{batch,id}', shilian.ledger_body(g.body) ->> 'id')::bigint
				= correction_origin.id
		  ORDER BY g.id LIMIT 1))
	$$;
COMMENT ON FUNCTION correction_origin(text, bigint, bigint, date) IS
	'The ledger entry that made a record (batch_create, ship or inspect in its owner''s chain): what its first correction supersedes.';
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
	INSERT INTO shilian.operator_day AS d (operator_id, day, records, batches, shipments, inspections, receipts,
		receipts_complete, via_client)
	VALUES (op, on_day, greatest(n, 0), greatest(CASE col WHEN 'batches' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'shipments' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'inspections' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'receipts' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END, 0), greatest(v, 0))
	ON CONFLICT (operator_id, day) DO UPDATE SET records = d.records + n,
		batches = d.batches + CASE col WHEN 'batches' THEN delta ELSE 0 END,
		shipments = d.shipments + CASE col WHEN 'shipments' THEN delta ELSE 0 END,
		inspections = d.inspections + CASE col WHEN 'inspections' THEN delta ELSE 0 END,
		receipts = d.receipts + CASE col WHEN 'receipts' THEN delta ELSE 0 END,
		receipts_complete = d.receipts_complete + CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END,
		via_client = d.via_client + v;
	DELETE FROM shilian.operator_day d
	 WHERE d.operator_id = op AND d.day = on_day AND d.records <= 0;
	INSERT INTO shilian.operator_month AS m (operator_id, month, records, receipts, receipts_complete, via_client)
	VALUES (op, date_trunc('month', on_day::timestamp)::date, greatest(n, 0),
		greatest(CASE col WHEN 'receipts' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END, 0), greatest(v, 0))
	ON CONFLICT (operator_id, month) DO UPDATE SET records = m.records + n,
		receipts = m.receipts + CASE col WHEN 'receipts' THEN delta ELSE 0 END,
		receipts_complete = m.receipts_complete + CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END,
		via_client = m.via_client + v;
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
		OR EXISTS (SELECT 1 FROM shilian.consumption c WHERE c.batch_id = b.id)
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
	allowed text[];
	bad text;
	used shilian.qty;
	via boolean;
	r text := shilian.correction_reason(reason);
BEGIN
	IF kind IS NULL OR kind NOT IN ('batch', 'link', 'inspection') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC01', MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Correct or retract a "batch", a "link" (a sale) or an "inspection".';
	END IF;
	IF id IS NULL THEN
		PERFORM shilian.correction_unknown(kind, id);
	END IF;
	IF action = 'correct' THEN
		allowed := CASE kind WHEN 'batch' THEN ARRAY['qty', 'produced_on', 'expires_on', 'lot']
			WHEN 'link' THEN ARRAY['qty', 'shipped_on'] ELSE ARRAY['result', 'report'] END;
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
				HINT = 'Retract the sale it was received from (kind "link"); received, transformed and first-entry lots are not corrected as batches.';
		END IF;
		via := shilian.correction_via(shilian.correction_origin(kind, id, b.owner_id, b.produced_on));
		IF action = 'retract' THEN
			IF EXISTS (SELECT 1 FROM shilian.link x WHERE x.from_batch = b.id AND x.status <> 'retracted')
				OR EXISTS (SELECT 1 FROM shilian.consumption c WHERE c.batch_id = b.id)
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
				HINT = 'Processing steps (transform) are not corrected in this version.';
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
	'Correct (更正) a record: kind batch (qty, produced_on, expires_on, lot), link (a pending sale: qty, shipped_on) or inspection (result, report keys); the original stays in the ledger, a correction entry supersedes it; balances and counters follow. Returns the correction id.';
REVOKE ALL ON FUNCTION correct(text, bigint, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION correct(text, bigint, text, jsonb) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION retract(kind text, id bigint, reason text) RETURNS bigint
	LANGUAGE sql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	RETURN shilian.correction_apply(kind, id, reason, 'retract', NULL, NULL);
COMMENT ON FUNCTION retract(text, bigint, text) IS
	'Retract (撤销) a record that should not exist: a produced batch nothing was recorded against, or a pending sale (its quantity returns to the seller''s batch); the original stays in the ledger, a retraction entry supersedes it; counters follow. Returns the correction id.';
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
	'The corrections and retraction of a record (kind batch, link or inspection), oldest first, with the row before and after each: what a recall or finding on it shows beside the current values.';
REVOKE ALL ON FUNCTION corrections(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION corrections(text, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- EPCIS errorDeclaration (GS1 EPCIS 2.0 §7.4.1.5): the declared event (its
-- eventID, as captured before) was wrong; every record it made is
-- retracted (batches made by commissioning, sales made by shipping), with
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
	IF e.records ? 'inspections' OR e.records ? 'consumptions' OR e.type <> 'ObjectEvent'
		OR e.biz_step IN ('receiving', 'accepting') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLC10',
			MESSAGE = format('EPCIS event %s: the declared event "%s" (%s) is not retracted this way', idx, e.event_id,
				coalesce(e.biz_step, e.type)),
			HINT = 'Error declarations retract commissioning and shipping events; correct an inspection with correct().';
	END IF;
	why := coalesce(nullif(decl ->> 'reason', ''), 'EPCIS errorDeclaration')
		|| coalesce(' (corrective events: ' || (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(
			CASE jsonb_typeof(decl -> 'correctiveEventIDs') WHEN 'array' THEN decl -> 'correctiveEventIDs'
			ELSE '[]' END) c) || ')', '');
	FOR x IN SELECT jsonb_array_elements_text(coalesce(e.records -> 'links', '[]')) LOOP
		PERFORM shilian.correction_apply('link', x::bigint, why, 'retract', NULL, decl || jsonb_build_object('eventID', e.event_id));
	END LOOP;
	IF NOT e.records ? 'links' THEN
		FOR x IN SELECT jsonb_array_elements_text(coalesce(e.records -> 'batches', '[]')) LOOP
			PERFORM shilian.correction_apply('batch', (SELECT b.id FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) x::shilian.trace_code),
				why, 'retract', NULL, decl || jsonb_build_object('eventID', e.event_id));
		END LOOP;
	END IF;
END
$$;
COMMENT ON FUNCTION correction_epcis(integer, jsonb) IS
	'An EPCIS errorDeclaration: retract the records of the declared event (its eventID captured before), naming the correctiveEventIDs.';
REVOKE ALL ON FUNCTION correction_epcis(integer, jsonb) FROM PUBLIC;
