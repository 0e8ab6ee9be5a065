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

-- ---- trace ----------------------------------------------------------------------
-- The walk reads links and batches as the caller, so it reaches batches only
-- through links its caller may see; a lot at the far end of such a link that
-- row-level security hides (a counterparty's, or across a regulator's border)
-- is looked up here, by code, holder and size only, and reported without its
-- stock on hand (status other_holder). An operator's walk thus ends one step
-- up and one step down, naming its neighbours' lots, never reading them.
CREATE FUNCTION trace_link_end(ids bigint[])
	RETURNS TABLE (id bigint, trace_code trace_code, owner_id bigint, qty qty)
	LANGUAGE sql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT b.id, b.trace_code, b.owner_id, b.qty
	  FROM shilian.batch b
	 WHERE b.id = ANY (ids)
	   AND EXISTS (SELECT 1 FROM shilian.link l
				    WHERE (l.from_batch = b.id OR l.to_batch = b.id)
					  AND (shilian.may_see(l.seller_id) OR shilian.may_see(l.buyer_id)))
$$;
COMMENT ON FUNCTION trace_link_end(bigint[]) IS
	'For the trace walk: code, holder and size of the lots at the far end of links the caller may see (definer rights; nothing else of them).';
REVOKE ALL ON FUNCTION trace_link_end(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_link_end(bigint[]) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
-- public_trace is the consumer view: definer rights, nothing private in it,
-- nothing without the lot's token (part 40).

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
		OR shilian.jurisdiction_covers(shilian.recall_opened_in(recall_id)));

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

-- The guard of acknowledgements (definer rights), from the request settings:
-- an operator acknowledges only for itself (recall_ack checks that too); a
-- regulator only for holders it may see or for recalls it follows.
CREATE FUNCTION recall_ack_guard() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j text := shilian.current_jurisdiction();
	op bigint := shilian.current_operator();
BEGIN
	IF op IS NOT NULL AND op <> NEW.operator_id THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('acting operator %s may not acknowledge for operator %s', op, NEW.operator_id);
	END IF;
	IF op IS NULL AND j IS NOT NULL
	   AND NOT shilian.jurisdiction_covers(shilian.recall_opened_in(NEW.recall_id))
	   AND NOT EXISTS (SELECT 1 FROM shilian.operator o
						JOIN shilian.jurisdiction s ON s.code = o.station
					   WHERE o.id = NEW.operator_id AND j = ANY (s.ancestors)) THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('regulator of %s may not acknowledge recall %s for operator %s', j, NEW.recall_id, NEW.operator_id);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION recall_ack_guard() IS
	'Trigger: who may acknowledge a recall target, judged from the request settings.';
CREATE TRIGGER recall_ack_guard BEFORE UPDATE ON recall_target FOR EACH ROW EXECUTE FUNCTION recall_ack_guard();
