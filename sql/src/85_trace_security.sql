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

-- The traced sub-graph for drawing (part 40's walk, the same nodes).
CREATE FUNCTION trace_graph(code trace_code, direction text DEFAULT 'forward',
		max_depth integer DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	BEGIN ATOMIC
	-- invoker rights, as the walk: every node of the walk, with product and
	-- holder name where the caller may read them (NULL for another holder's
	-- lot, status other_holder); the edges are the links the caller may see
	-- between nodes, their ends named through trace_link_end as the walk does
	WITH t AS (
		SELECT w.*, b.id, p.name AS product, o.name AS holder_name
		  FROM shilian.trace_walk(code, direction, max_depth) w
		  LEFT JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) w.batch
		  LEFT JOIN shilian.product p ON p.id = b.product_id
		  LEFT JOIN shilian.operator o ON o.id = w.holder),
	ed AS (
		SELECT l.id, l.kind, l.from_batch, l.to_batch, l.qty_accepted, l.received_at
		  FROM shilian.link l
		 WHERE l.status = 'received' AND l.received_at <= now()
		   AND (l.id IN (SELECT t.via_link FROM t)
			OR (l.from_batch IN (SELECT t.id FROM t) AND l.to_batch IN (SELECT t.id FROM t)))),
	ends AS (
		SELECT e.id, e.trace_code
		  FROM shilian.trace_link_end(ARRAY(SELECT ed.from_batch FROM ed UNION SELECT ed.to_batch FROM ed)) e)
	SELECT jsonb_build_object(
		'root', code, 'direction', direction,
		'nodes', (SELECT coalesce(jsonb_agg(jsonb_build_object(
				'batch', t.batch, 'holder', t.holder::text, 'holder_name', t.holder_name,
				'product', t.product, 'depth', t.depth, 'via_link', t.via_link::text,
				'qty_reached', t.qty_reached, 'qty_on_hand', t.qty_on_hand, 'status', t.status)
				ORDER BY t.depth, t.batch), '[]') FROM t),
		'edges', (SELECT coalesce(jsonb_agg(jsonb_build_object(
				'link', ed.id::text, 'kind', ed.kind, 'from', f.trace_code, 'to', d.trace_code,
				'qty', ed.qty_accepted, 'received_at', ed.received_at)
				ORDER BY ed.id), '[]')
			FROM ed JOIN ends f ON f.id = ed.from_batch JOIN ends d ON d.id = ed.to_batch
			WHERE EXISTS (SELECT 1 FROM t WHERE t.batch OPERATOR(shilian.=) f.trace_code)
			  AND EXISTS (SELECT 1 FROM t WHERE t.batch OPERATOR(shilian.=) d.trace_code)));
	END;
COMMENT ON FUNCTION trace_graph(trace_code, text, integer) IS
	'The traced sub-graph for drawing: {root, direction, nodes: [batch, holder, product, depth, quantities, status], edges: [link, kind, from, to, qty]}; the nodes are what trace_walk returns to the same caller (product and holder_name NULL where it may not read them).';
REVOKE ALL ON FUNCTION trace_graph(trace_code, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_graph(trace_code, text, integer) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
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
