-- 0.2.0 -> 0.3.0, part 99j: the trace walk reads links index-only (issue 19).
-- link_from_idx and link_to_idx carry the other end, the link id,
-- qty_accepted and received_at (part 20).
DROP INDEX link_from_idx;
CREATE INDEX link_from_idx ON link (from_batch) INCLUDE (to_batch, id, qty_accepted, received_at);
DROP INDEX link_to_idx;
CREATE INDEX link_to_idx ON link (to_batch) INCLUDE (from_batch, id, qty_accepted, received_at);

-- For recall_open: the walk as of now with each batch's id (part 40).
CREATE FUNCTION trace_targets(code trace_code, direction text)
	RETURNS TABLE (batch_id bigint, batch trace_code, holder bigint, depth integer, via_link bigint,
		qty_reached qty, qty_on_hand qty)
	AS 'MODULE_PATHNAME', 'sl_trace_targets'
	LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION trace_targets(trace_code, text) IS
	'For recall_open: trace_forward or trace_backward (direction) as of now, each row with the batch id and without status.';
REVOKE ALL ON FUNCTION trace_targets(trace_code, text) FROM PUBLIC;

-- recall_open takes its targets' batch ids from the walk (part 99c's body
-- otherwise).
CREATE OR REPLACE FUNCTION recall_open(code trace_code, reason text, direction text DEFAULT 'forward')
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	rid bigint;
	root bigint;
	n bigint;
	holders bigint;
BEGIN
	IF code IS NULL OR reason IS NULL OR reason = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'recall needs a trace code and a reason';
	END IF;
	IF direction IS NULL OR direction NOT IN ('forward', 'backward') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown trace direction "%s"', direction),
			HINT = 'Use "forward" or "backward".';
	END IF;
	SELECT b.id INTO root FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR03',
			MESSAGE = format('unknown batch %s', code),
			DETAIL = 'No batch has this trace code.';
	END IF;
	INSERT INTO shilian.recall (batch_id, trace_code, direction, reason, opened_by)
	VALUES (root, code, direction, reason, shilian.recall_actor())
	RETURNING id INTO rid;
	INSERT INTO shilian.recall_target (recall_id, batch_id, trace_code, operator_id, depth,
		via_link, qty_exposed, qty_on_hand)
	SELECT rid, w.batch_id, w.batch, w.holder, w.depth, w.via_link, w.qty_reached, w.qty_on_hand
	  -- the walk itself with the batch ids, not through trace_walk
	  FROM shilian.trace_targets(code, direction) w;
	GET DIAGNOSTICS n = ROW_COUNT;
	SELECT count(DISTINCT operator_id) INTO holders FROM shilian.recall_target WHERE recall_id = rid;
	PERFORM shilian.ledger_append(shilian.recall_actor(), 'recall_open', jsonb_build_object(
		'recall', rid::text, 'batch', code, 'direction', direction, 'reason', reason,
		'targets', n, 'holders', holders));
	PERFORM pg_notify('shilian_recall', rid::text);
	RETURN rid;
END;
$$;
