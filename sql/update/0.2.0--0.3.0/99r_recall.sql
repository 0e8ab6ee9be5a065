-- 0.2.0 -> 0.3.0, part 99r: recall_open writes its targets in C (issue 19):
-- recall_targets_write (part 40, recall.c) walks, writes the rows a thousand
-- at a time and counts the holders from the walk.
-- For recall_open: the targets of a recall as its walk finds them, written
-- into recall_target a thousand rows at a time, its triggers fired as for
-- an INSERT (recall.c; through INSERT ... SELECT FROM trace_targets when
-- recall_target has rules, a BEFORE ROW trigger or row-level security for
-- the writer), with how many rows and holders.
CREATE FUNCTION recall_targets_write(recall bigint, code trace_code, direction text,
		OUT targets bigint, OUT holders bigint)
	AS 'MODULE_PATHNAME', 'sl_recall_targets_write'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recall_targets_write(bigint, trace_code, text) IS
	'For recall_open: write the targets of a recall (trace_targets(code, direction) as of now) into recall_target; returns the number of targets and of distinct holders.';
REVOKE ALL ON FUNCTION recall_targets_write(bigint, trace_code, text) FROM PUBLIC;

-- recall_open calls it (part 99j's body otherwise).
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
	-- the walk, its rows written and its holders counted in C (recall.c)
	SELECT t.targets, t.holders INTO n, holders FROM shilian.recall_targets_write(rid, code, direction) t;
	PERFORM shilian.ledger_append(shilian.recall_actor(), 'recall_open', jsonb_build_object(
		'recall', rid::text, 'batch', code, 'direction', direction, 'reason', reason,
		'targets', n, 'holders', holders));
	PERFORM pg_notify('shilian_recall', rid::text);
	RETURN rid;
END;
$$;
