-- shilian 0.2.0 -> 0.3.0, part 99c: opening a recall without a foreign-key
-- check per target (issue 19). recall_target's rows are written by
-- recall_open alone, from the recall it has just made and the lots and
-- holders its walk read (none of them is ever deleted); the three checks
-- per row were 60% of opening a recall of 37,000 lots. recall_open calls
-- the walk itself rather than through trace_walk (one set of rows less).

ALTER TABLE recall_target
	DROP CONSTRAINT recall_target_recall_id_fkey,
	DROP CONSTRAINT recall_target_batch_id_fkey,
	DROP CONSTRAINT recall_target_operator_id_fkey;

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
	SELECT rid, b.id, w.batch, w.holder, w.depth, w.via_link, w.qty_reached, w.qty_on_hand
	  -- the walk itself, not through trace_walk: one set of rows less to store
	  FROM (SELECT * FROM shilian.trace_forward(code) WHERE direction = 'forward'
			UNION ALL
			SELECT * FROM shilian.trace_backward(code) WHERE direction = 'backward') w
	  JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) w.batch;
	GET DIAGNOSTICS n = ROW_COUNT;
	SELECT count(DISTINCT operator_id) INTO holders FROM shilian.recall_target WHERE recall_id = rid;
	PERFORM shilian.ledger_append(shilian.recall_actor(), 'recall_open', jsonb_build_object(
		'recall', rid::text, 'batch', code, 'direction', direction, 'reason', reason,
		'targets', n, 'holders', holders));
	PERFORM pg_notify('shilian_recall', rid::text);
	RETURN rid;
END;
$$;
