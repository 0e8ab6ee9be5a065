-- shilian 0.2.0 -> 0.3.0, part 99m: a past month still in ledger_default
-- (every entry of a ledger upgraded from 0.2.0) is moved into a partition of
-- its own by ledger_month_split(), so that it can be archived (issue 22).
-- ledger_refuse_change lets that function's transaction alone delete the
-- month's rows from ledger_default; ledger_archive_check's refusal of a month
-- without a partition names the function. Bodies are parts 50's and 54's.

-- The one exception: ledger_month_split() (part 54) moves a past month out
-- of ledger_default into a partition of its own; the C guard lets its own
-- transaction delete that month's rows there, and nothing else.
CREATE FUNCTION ledger_split_allowed(recorded_at timestamptz) RETURNS boolean
	AS 'MODULE_PATHNAME', 'shilian_ledger_split_allowed'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION ledger_split_allowed(timestamptz) IS
	'For ledger_refuse_change(): whether this transaction is ledger_month_split() moving the month that holds this time out of ledger_default.';

CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog
	AS $$
BEGIN
	IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' AND TG_RELID = 'shilian.ledger_default'::regclass THEN
		IF shilian.ledger_split_allowed(OLD.recorded_at) THEN
			RETURN OLD;
		END IF;
	END IF;
	RAISE EXCEPTION USING
		ERRCODE = 'SLL30',
		MESSAGE = format('%s on shilian.%s is not allowed', lower(TG_OP), TG_TABLE_NAME),
		DETAIL = 'Ledger tables are insert-only.',
		HINT = 'A correction is a new entry: shilian.ledger_append(operator, kind, body, supersedes => entry id).';
END
$$;

-- A past month still in ledger_default (recorded before its partition was
-- made: every entry of a ledger upgraded from 0.2.0, or a month the daily job
-- missed) gets a partition of its own, so that it can be archived like any
-- other: its entries are moved, unchanged (same ids, hashes, chains, leaves),
-- from ledger_default into a new ledger_pYYYYMM that is then attached. The
-- C guard lets this transaction alone delete them there and attach the table
-- holding them (ledger_split_allow); the move is a ledger entry of operator
-- 0. Returns the entries moved: 0 when the month has a partition already or
-- holds nothing. Only a month that is over (SLL61): a month still being
-- written stays where its appends go.
CREATE FUNCTION ledger_split_allow(partition regclass, lo timestamptz, hi timestamptz) RETURNS void
	AS 'MODULE_PATHNAME', 'shilian_ledger_split_allow'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION ledger_split_allow(regclass, timestamptz, timestamptz) IS
	'For ledger_month_split() only: lets the current transaction delete ledger_default''s entries in [lo, hi) and attach this table holding them.';
REVOKE ALL ON FUNCTION ledger_split_allow(regclass, timestamptz, timestamptz) FROM PUBLIC;

CREATE FUNCTION ledger_month_split(month date) RETURNS bigint
	LANGUAGE plpgsql
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m date;
	part text;
	lo timestamptz;
	hi timestamptz;
	moved bigint;
BEGIN
	IF $1 IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL60', MESSAGE = 'no month given to split out of ledger_default';
	END IF;
	m := date_trunc('month', $1)::date;
	IF m >= date_trunc('month', shilian.platform_today())::date THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL61',
			MESSAGE = format('ledger month %s is not over', to_char(m, 'YYYY-MM')),
			HINT = 'Only a past Asia/Shanghai month is moved out of ledger_default.';
	END IF;
	part := 'ledger_p' || to_char(m, 'YYYYMM');
	lo := m::timestamp AT TIME ZONE 'Asia/Shanghai';
	hi := (m + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai';
	-- one change of the ledger's partitions at a time (ledger_partitions_ahead
	-- takes the same lock)
	PERFORM pg_advisory_xact_lock(21324, 50);
	IF to_regclass(format('shilian.%I', part)) IS NOT NULL THEN
		RETURN 0;
	END IF;
	-- no entry is written to ledger_default while it is read (appends to
	-- months without a partition wait); reads go on until the ATTACH
	LOCK TABLE shilian.ledger_default IN EXCLUSIVE MODE;
	IF NOT EXISTS (SELECT 1 FROM shilian.ledger_default d WHERE d.recorded_at >= lo AND d.recorded_at < hi) THEN
		RETURN 0;
	END IF;
	-- a plain table first, indexed after the rows are in (one build, not one
	-- insertion per row), attached last
	EXECUTE format('CREATE TABLE shilian.%I (LIKE shilian.ledger INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
	PERFORM shilian.ledger_split_allow(format('shilian.%I', part)::regclass, lo, hi);
	EXECUTE format('WITH moved AS (DELETE FROM shilian.ledger_default d WHERE d.recorded_at >= $1 AND d.recorded_at < $2 RETURNING d.*)'
				   ' INSERT INTO shilian.%I (id, operator_id, seq, kind, body, alg, prev_hash, hash, supersedes, recorded_at, source, on_date)'
				   ' SELECT id, operator_id, seq, kind, body, alg, prev_hash, hash, supersedes, recorded_at, source, on_date'
				   ' FROM moved ORDER BY id', part)
	  USING lo, hi;
	GET DIAGNOSTICS moved = ROW_COUNT;
	EXECUTE format('ALTER TABLE shilian.%I ADD CONSTRAINT %I PRIMARY KEY (id, recorded_at)', part, part || '_pkey');
	EXECUTE format('CREATE INDEX %I ON shilian.%I (operator_id, seq)', part || '_operator_seq', part);
	EXECUTE format('ALTER TABLE shilian.%I ENABLE ROW LEVEL SECURITY', part);
	EXECUTE format('CREATE TRIGGER ledger_insert_only BEFORE TRUNCATE ON shilian.%I'
				   ' FOR EACH STATEMENT EXECUTE FUNCTION shilian.ledger_refuse_change()', part);
	EXECUTE format('ALTER TABLE shilian.ledger ATTACH PARTITION shilian.%I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
	PERFORM shilian.ledger_append(0, 'ledger_month_split', jsonb_build_object(
		'month', to_char(m, 'YYYY-MM'), 'partition', part, 'entries', moved,
		'role', session_user::text));
	RETURN moved;
END
$$;
COMMENT ON FUNCTION ledger_month_split(date) IS
	'Admin: move a past ledger month''s entries, unchanged, out of ledger_default into a partition of its own (ledger_pYYYYMM), so that it can be archived; recorded in the ledger; returns the entries moved (0: the month has a partition or no entries). SLL60 no month, SLL61 not over.';
REVOKE ALL ON FUNCTION ledger_month_split(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_month_split(date) TO shilian_admin;

CREATE OR REPLACE FUNCTION ledger_archive_check(month date, of_tree bigint DEFAULT NULL,
	OUT month_start date, OUT partition text, OUT entries bigint, OUT first_entry_id bigint,
	OUT last_entry_id bigint, OUT tree_size bigint, OUT root bytea, OUT alg smallint)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	m date;
	rel regclass;
	needed bigint;
	keep_until date;
	leaves bigint;
	bad bigint;
BEGIN
	IF $1 IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL60', MESSAGE = 'no month given to archive';
	END IF;
	m := date_trunc('month', $1)::date;
	month_start := m;
	partition := 'ledger_p' || to_char(m, 'YYYYMM');
	IF m >= date_trunc('month', shilian.platform_today())::date THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL61',
			MESSAGE = format('ledger month %s is not over', to_char(m, 'YYYY-MM')),
			HINT = 'Only a past Asia/Shanghai month is archived, once every entry in it is past its retention date.';
	END IF;
	rel := to_regclass(format('shilian.%I', partition));
	IF rel IS NULL OR NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = rel
								  AND i.inhparent = 'shilian.ledger'::regclass) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL60',
			MESSAGE = format('the ledger has no partition for month %s', to_char(m, 'YYYY-MM')),
			DETAIL = CASE WHEN EXISTS (SELECT 1 FROM shilian.ledger_archived a WHERE a.month = m)
				THEN 'The month is archived already (shilian.ledger_archived).'
				ELSE 'Entries of a month without a partition of its own are in ledger_default, which is never archived.' END,
			HINT = CASE WHEN EXISTS (SELECT 1 FROM shilian.ledger_archived a WHERE a.month = m)
				THEN 'Its archive file proves its entries offline (shilian-verify archive).'
				ELSE 'shilian.ledger_month_split(month) moves a past month out of ledger_default into a partition of its own.' END;
	END IF;
	-- every entry's retention (the rule above) and its place in the log
	EXECUTE format('SELECT count(*), min(l.id), max(l.id), max(f.leaf_index) + 1, count(f.leaf_index),'
				   ' max(shilian.ledger_retained_until(l.kind, shilian.ledger_body(l.body), l.recorded_at))'
				   ' FROM shilian.%I l LEFT JOIN shilian.ledger_leaf f ON f.entry_id = l.id', partition)
	  INTO entries, first_entry_id, last_entry_id, needed, leaves, keep_until;
	IF keep_until >= shilian.platform_today() THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL62',
			MESSAGE = format('ledger month %s holds entries inside their retention period', to_char(m, 'YYYY-MM')),
			DETAIL = format('The last of them must be kept until %s (its lot''s expiry date plus six months, or two years without a shelf life).', keep_until),
			HINT = format('Archive the month from %s on.', keep_until + 1);
	END IF;
	IF leaves < entries THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL63',
			MESSAGE = format('ledger month %s is not fully checkpointed', to_char(m, 'YYYY-MM')),
			HINT = 'Run shilian.checkpoint() (the scheduled job does every minute) and export again.';
	END IF;
	needed := coalesce(needed, 0);
	-- the checkpoint: the one asked for, or the latest signed one that
	-- holds every entry, or the latest
	SELECT c.tree_size, c.root, c.alg INTO tree_size, root, alg
	  FROM shilian.checkpoint c
	 WHERE c.tree_size >= needed AND ($2 IS NULL OR c.tree_size = $2)
	 ORDER BY ($2 IS NULL AND EXISTS (SELECT 1 FROM shilian.checkpoint_note n WHERE n.tree_size = c.tree_size)) DESC,
			  c.tree_size DESC
	 LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL63',
			MESSAGE = CASE WHEN $2 IS NULL THEN format('no checkpoint holds every entry of ledger month %s', to_char(m, 'YYYY-MM'))
				ELSE format('checkpoint %s does not exist or does not hold every entry of ledger month %s', $2, to_char(m, 'YYYY-MM')) END,
			DETAIL = format('The month''s entries need a tree of at least %s leaves.', needed),
			HINT = 'Run shilian.checkpoint() and export again.';
	END IF;
	-- each operator's entries of the month are one stretch of its chain, so
	-- that the chain goes on from the stretch's last hash once it is gone
	EXECUTE format('SELECT l.operator_id FROM shilian.%I l GROUP BY l.operator_id'
				   ' HAVING count(*) <> max(l.seq) - min(l.seq) + 1 LIMIT 1', partition)
	  INTO bad;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL64',
			MESSAGE = format('ledger month %s does not hold one unbroken stretch of the chain of operator %s',
							 to_char(m, 'YYYY-MM'), bad),
			HINT = 'Run shilian.chain_verify() for that operator.';
	END IF;
	RETURN;
END
$$;
