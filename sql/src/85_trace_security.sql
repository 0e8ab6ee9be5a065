-- shilian install script, part 85: trace and recall (part 40) under the
-- security model (part 80; docs/security.md).
--
-- The trace functions read batches and links with the caller's rights, so
-- row-level security decides how far each role sees: an operator sees the
-- links it is party to, so its trace stops at its direct neighbours; a
-- regulator's stops at the border of its subtree. A recall is different:
-- it must reach every holder wherever they are, so opening, acknowledging
-- and closing run with definer rights, open to the roles that take those
-- steps, and the regulator that opened a recall (or one above it) sees all
-- of its targets across borders.

ALTER TABLE recall ADD COLUMN opened_jurisdiction text DEFAULT shilian.current_jurisdiction();
COMMENT ON COLUMN recall.opened_jurisdiction IS
	'Jurisdiction of the regulator that opened the recall (shilian.jurisdiction at opening); its subtree''s regulators follow the recall.';

-- Whether the calling regulator's jurisdiction is the given one or above it.
CREATE FUNCTION jurisdiction_covers(code text) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN shilian.current_jurisdiction() IS NOT NULL AND code IS NOT NULL
		AND EXISTS (SELECT 1 FROM shilian.jurisdiction j
					 WHERE j.code = jurisdiction_covers.code
					   AND shilian.current_jurisdiction() = ANY (j.ancestors));
COMMENT ON FUNCTION jurisdiction_covers(text) IS
	'True when the regulator of this transaction (shilian.jurisdiction) is at or above the given jurisdiction.';

-- ---- trace ----------------------------------------------------------------------
-- A link names two batches; whoever may see the link may see both ends (the
-- seller's lot on a receipt, the buyer's lot on a sale), and nothing beyond:
-- the link policies decide which links that is. The trace walk reaches
-- batches only through links, so every lot it reaches is one its caller may
-- see, and an operator's walk ends one step up and one step down.
CREATE POLICY batch_link_end ON batch FOR SELECT
	TO shilian_operator, shilian_system, shilian_regulator
	USING (EXISTS (SELECT 1 FROM shilian.link l WHERE l.from_batch = batch.id)
		OR EXISTS (SELECT 1 FROM shilian.link l WHERE l.to_batch = batch.id));
REVOKE ALL ON FUNCTION trace_forward(trace_code, integer, timestamptz),
	trace_backward(trace_code, integer, timestamptz),
	trace_walk(trace_code, text, integer, timestamptz),
	trace_graph(trace_code, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_forward(trace_code, integer, timestamptz),
	trace_backward(trace_code, integer, timestamptz),
	trace_walk(trace_code, text, integer, timestamptz),
	trace_graph(trace_code, text, integer)
	TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
-- public_trace is the consumer view: definer rights, nothing private in it;
-- like every definer function, with nothing but pg_catalog on its path.
ALTER FUNCTION public_trace(trace_code) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION public_trace(trace_code) TO shilian_public;

-- ---- recall tables ------------------------------------------------------------
GRANT SELECT ON recall, recall_target TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER TABLE recall ENABLE ROW LEVEL SECURITY;
ALTER TABLE recall_target ENABLE ROW LEVEL SECURITY;

CREATE POLICY recall_admin ON recall TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY recall_target_admin ON recall_target TO shilian_admin USING (true) WITH CHECK (true);

-- A regulator: the recalls its subtree opened, and those that reach a
-- holder in its subtree (its local holders must act too).
CREATE POLICY recall_regulator ON recall FOR SELECT TO shilian_regulator
	USING (shilian.jurisdiction_covers(opened_jurisdiction)
		OR EXISTS (SELECT 1 FROM shilian.recall_target t
					WHERE t.recall_id = recall.id
					  AND t.operator_id IN (SELECT s FROM shilian.subtree_operators() AS s)));
CREATE POLICY recall_target_regulator ON recall_target FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s)
		OR EXISTS (SELECT 1 FROM shilian.recall r
					WHERE r.id = recall_target.recall_id
					  AND shilian.jurisdiction_covers(r.opened_jurisdiction)));

-- An operator or a system client: the recalls it holds lots of, and only
-- its own targets (never the other holders).
CREATE POLICY recall_target_operator ON recall_target FOR SELECT TO shilian_operator
	USING (operator_id = shilian.current_operator());
CREATE POLICY recall_operator ON recall FOR SELECT TO shilian_operator
	USING (EXISTS (SELECT 1 FROM shilian.recall_target t
					WHERE t.recall_id = recall.id AND t.operator_id = shilian.current_operator()));
CREATE POLICY recall_target_system ON recall_target FOR SELECT TO shilian_system
	USING (operator_id IN (SELECT c FROM shilian.client_operators() AS c));
CREATE POLICY recall_system ON recall FOR SELECT TO shilian_system
	USING (EXISTS (SELECT 1 FROM shilian.recall_target t
					WHERE t.recall_id = recall.id
					  AND t.operator_id IN (SELECT c FROM shilian.client_operators() AS c)));

-- ---- recall steps ----------------------------------------------------------------
-- Definer rights: the walk and the targets span every jurisdiction, and
-- each step appends to the ledger.
ALTER FUNCTION recall_open(trace_code, text, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recall_ack(bigint, bigint, text, qty, trace_code) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recall_close(bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION recall_open(trace_code, text, text), recall_ack(bigint, bigint, text, qty, trace_code),
	recall_close(bigint, text), recall_targets(bigint), recall_status(bigint), recall_export(bigint)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_open(trace_code, text, text), recall_close(bigint, text)
	TO shilian_regulator, shilian_admin;
GRANT EXECUTE ON FUNCTION recall_ack(bigint, bigint, text, qty, trace_code),
	recall_targets(bigint), recall_status(bigint), recall_export(bigint)
	TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- The guard of the definer-rights steps, from the request settings (inside
-- a definer function the role is the owner's, so the settings are what
-- identify the caller): a regulator closes only recalls of its subtree and
-- acknowledges only for holders it may see or recalls it follows; an
-- operator acknowledges only for itself (recall_ack checks that too).
CREATE FUNCTION recall_guard() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j text := shilian.current_jurisdiction();
	op bigint := shilian.current_operator();
	opened text;
BEGIN
	IF TG_TABLE_NAME = 'recall' THEN
		IF j IS NOT NULL AND NOT shilian.jurisdiction_covers(NEW.opened_jurisdiction) THEN
			RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
				MESSAGE = format('regulator of %s may not close recall %s', j, NEW.id),
				DETAIL = format('The recall was opened by %s.', coalesce(NEW.opened_jurisdiction, 'the platform')),
				HINT = 'A recall is closed by the jurisdiction that opened it or one above it.';
		END IF;
	ELSE
		IF op IS NOT NULL AND op <> NEW.operator_id THEN
			RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
				MESSAGE = format('acting operator %s may not acknowledge for operator %s', op, NEW.operator_id);
		END IF;
		SELECT r.opened_jurisdiction INTO opened FROM shilian.recall r WHERE r.id = NEW.recall_id;
		IF op IS NULL AND j IS NOT NULL AND NOT shilian.jurisdiction_covers(opened)
		   AND NOT EXISTS (SELECT 1 FROM shilian.operator o
							JOIN shilian.jurisdiction s ON s.code = o.station
						   WHERE o.id = NEW.operator_id AND j = ANY (s.ancestors)) THEN
			RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
				MESSAGE = format('regulator of %s may not acknowledge recall %s for operator %s', j, NEW.recall_id, NEW.operator_id);
		END IF;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION recall_guard() IS
	'Trigger: who may close a recall or acknowledge a target, judged from the request settings.';
CREATE TRIGGER recall_guard BEFORE UPDATE ON recall FOR EACH ROW EXECUTE FUNCTION recall_guard();
CREATE TRIGGER recall_target_guard BEFORE UPDATE ON recall_target FOR EACH ROW EXECUTE FUNCTION recall_guard();
