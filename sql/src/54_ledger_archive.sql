-- shilian install script, part 54: the retention archive of ledger months
-- (issue 22, docs/operations.md#archiving-a-ledger-month). A month partition
-- of the ledger whose every entry is past its retention date and inside a
-- checkpoint is exported to a file (every entry with its inclusion proof
-- against one checkpoint, and that checkpoint's signed note), proved offline
-- with `shilian-verify archive`, then detached by ledger_archive(), which
-- alone the DDL guard lets detach a month (ledger_guard.c). ledger_chain,
-- ledger_leaf and merkle_node keep their rows: chain_verify, log_verify and
-- the proofs of later entries go on from the archived heads.

-- The tables ledger_archived and ledger_archived_range are in part 51
-- (ledger_export, part 52, reads the second).

-- The retention rule (食品追溯记录保存期限), written once: a record about a
-- lot is kept until the lot's expiry date plus six months; with no shelf
-- life (no expiry date, or a record about no lot), at least two years after
-- the record's Asia/Shanghai date. The lot is the batch the body names: the
-- "batch" object of a receipt or transformation, the batch_id of an
-- inspection or consumption, the from_batch of a sale (link), the batch a
-- batch_create entry made, the batch a correction is about.
CREATE FUNCTION ledger_retained_until(kind text, body jsonb, recorded_at timestamptz) RETURNS date
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH lot AS (
		SELECT CASE
			WHEN jsonb_typeof($2 -> 'batch' -> 'id') = 'number' THEN ($2 -> 'batch' ->> 'id')::bigint
			WHEN jsonb_typeof($2 -> 'batch_id') = 'number' THEN ($2 ->> 'batch_id')::bigint
			WHEN jsonb_typeof($2 -> 'from_batch') = 'number' THEN ($2 ->> 'from_batch')::bigint
			WHEN $1 = 'batch_create' AND jsonb_typeof($2 -> 'id') = 'number' THEN ($2 ->> 'id')::bigint
			WHEN $2 ->> 'record' = 'batch' AND jsonb_typeof($2 -> 'id') = 'number' THEN ($2 ->> 'id')::bigint
		END AS id
	)
	SELECT coalesce(
		(SELECT (b.expires_on + interval '6 months')::date
		   FROM lot JOIN shilian.batch b ON b.id = lot.id
		  WHERE b.expires_on IS NOT NULL),
		(($3 AT TIME ZONE 'Asia/Shanghai')::date + interval '2 years')::date)
$$;
COMMENT ON FUNCTION ledger_retained_until(text, jsonb, timestamptz) IS
	'The retention rule of a ledger entry (kind, ledger_body(body), recorded_at): the last day it must be kept: its lot''s expiry date plus six months, or two years after its Asia/Shanghai date where there is no shelf life.';
REVOKE ALL ON FUNCTION ledger_retained_until(text, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_retained_until(text, jsonb, timestamptz) TO shilian_regulator, shilian_admin;

-- The C guard lets this transaction detach this one partition (ledger_guard.c).
CREATE FUNCTION ledger_archive_allow(partition regclass) RETURNS void
	AS 'MODULE_PATHNAME', 'shilian_ledger_archive_allow'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION ledger_archive_allow(regclass) IS
	'For ledger_archive() only: lets the current transaction DETACH this month partition of the ledger.';
REVOKE ALL ON FUNCTION ledger_archive_allow(regclass) FROM PUBLIC;

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

-- Whether a month may leave the database, and what it holds: the checks of
-- the export and of the archive, in one place. SLL60..SLL64.
CREATE FUNCTION ledger_archive_check(month date, of_tree bigint DEFAULT NULL,
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
COMMENT ON FUNCTION ledger_archive_check(date, bigint) IS
	'Whether a ledger month may be archived (SLL60 no such partition, SLL61 not over, SLL62 inside retention, SLL63 not checkpointed, SLL64 a broken stretch) and its figures and checkpoint.';
REVOKE ALL ON FUNCTION ledger_archive_check(date, bigint) FROM PUBLIC;

-- The archive file of a month: JSON lines, one header, one checkpoint (with
-- its signed note if signed), one line per entry with its inclusion proof.
-- Deterministic for a month and a tree size (times in UTC, no export time):
-- ledger_archive() recomputes it and compares the SHA-256.
CREATE FUNCTION ledger_archive_export(month date, tree_size bigint DEFAULT NULL) RETURNS SETOF text
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH c AS (
		SELECT * FROM shilian.ledger_archive_check($1, $2)
	), lines AS (
		SELECT 0 AS part, 0::bigint AS ord,
			jsonb_build_object('type', 'header', 'format', 'shilian-ledger-archive/1',
				'month', to_char(c.month_start, 'YYYY-MM'), 'partition', c.partition,
				'entries', c.entries::text, 'first_entry_id', c.first_entry_id::text,
				'last_entry_id', c.last_entry_id::text, 'tree_size', c.tree_size::text)::text AS line
		  FROM c
		UNION ALL
		SELECT 1, 0, jsonb_build_object('type', 'checkpoint', 'tree_size', c.tree_size::text,
			'root', encode(c.root, 'hex'),
			'alg', CASE c.alg WHEN 1 THEN 'sha256' WHEN 2 THEN 'sm3' ELSE c.alg::text END,
			'note', shilian.checkpoint_note(c.tree_size))::text
		  FROM c
		UNION ALL
		SELECT 2, l.id, jsonb_build_object(
			'type', 'entry',
			'id', l.id::text,
			'operator_id', l.operator_id::text,
			'seq', l.seq::text,
			'alg', CASE l.alg WHEN 1 THEN 'sha256' WHEN 2 THEN 'sm3' ELSE l.alg::text END,
			'kind', l.kind,
			'recorded_at', to_char(l.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
			'recorded_at_us', (extract(epoch FROM l.recorded_at) * 1000000)::bigint::text,
			'supersedes', l.supersedes::text,
			'body', shilian.ledger_body(l.body),
			'body_canonical', encode(l.body, 'hex'),
			'prev_hash', encode(l.prev_hash, 'hex'),
			'hash', encode(l.hash, 'hex'),
			'retained_until', shilian.ledger_retained_until(l.kind, shilian.ledger_body(l.body), l.recorded_at),
			'leaf_index', f.leaf_index::text,
			'inclusion', shilian.inclusion_proof(l.id, c.tree_size) -> 'path')::text
		  FROM c, shilian.ledger l JOIN shilian.ledger_leaf f ON f.entry_id = l.id
		 WHERE l.tableoid = format('shilian.%I', c.partition)::regclass
		   -- the month's bounds, so that only its partition is read
		   AND l.recorded_at >= (date_trunc('month', $1)::timestamp AT TIME ZONE 'Asia/Shanghai')
		   AND l.recorded_at < ((date_trunc('month', $1) + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai')
	)
	SELECT line FROM lines ORDER BY part, ord
$$;
COMMENT ON FUNCTION ledger_archive_export(date, bigint) IS
	'The archive file of a ledger month past retention (JSON lines for shilian-verify archive): header, checkpoint (tree size, root, signed note), every entry with its leaf index and inclusion proof. tree_size NULL: the latest signed checkpoint holding the month, else the latest. SLL60..SLL64.';
REVOKE ALL ON FUNCTION ledger_archive_export(date, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_archive_export(date, bigint) TO shilian_admin;

-- Detach an exported month: the file's SHA-256 must be that of the export
-- of the same month and tree size now (the file holds what the database
-- holds). The detached table is renamed ledger_archived_pYYYYMM, which the
-- DDL guard does not protect: the DBA drops it once the file is stored.
CREATE FUNCTION ledger_archive(month date, tree_size bigint, archive_sha256 bytea) RETURNS bigint
	LANGUAGE plpgsql
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	c record;
	digest bytea;
	detached text;
BEGIN
	IF $2 IS NULL OR $3 IS NULL OR length($3) <> 32 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL65',
			MESSAGE = 'ledger_archive needs the tree size and the 32-byte SHA-256 of the archive file',
			HINT = 'Take tree_size from the file''s header line and the digest from sha256sum (shilian-verify archive prints both).';
	END IF;
	-- one archive at a time; 21324 = 0x534C, the ledger's lock space
	PERFORM pg_advisory_xact_lock(21324, 54);
	-- no entry arrives in the month while it is read (appends go to the
	-- current month and wait only if the clock went back); DETACH takes
	-- the ledger's ACCESS EXCLUSIVE lock at the end, for a moment
	IF $1 IS NOT NULL AND to_regclass(format('shilian.%I', 'ledger_p' || to_char($1, 'YYYYMM'))) IS NOT NULL THEN
		EXECUTE format('LOCK TABLE shilian.%I IN SHARE MODE', 'ledger_p' || to_char($1, 'YYYYMM'));
	END IF;
	SELECT * INTO c FROM shilian.ledger_archive_check($1, $2);
	SELECT sha256(convert_to(string_agg(e.line, E'\n') || E'\n', 'UTF8'))
	  INTO digest FROM shilian.ledger_archive_export($1, $2) AS e(line);
	IF digest IS DISTINCT FROM $3 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLL65',
			MESSAGE = format('the archive file of ledger month %s differs from the month''s export', to_char(c.month_start, 'YYYY-MM')),
			DETAIL = format('The export of tree %s has SHA-256 %s.', c.tree_size, encode(digest, 'hex')),
			HINT = 'Export the month again with ledger_archive_export(month, tree_size), check it with shilian-verify archive, and give its sha256sum.';
	END IF;
	detached := 'ledger_archived_p' || to_char(c.month_start, 'YYYYMM');
	INSERT INTO shilian.ledger_archived (month, partition, detached_as, entries, first_entry_id, last_entry_id,
			tree_size, root, archive_sha256)
		VALUES (c.month_start, c.partition, detached, c.entries, c.first_entry_id, c.last_entry_id,
			c.tree_size, c.root, $3);
	INSERT INTO shilian.ledger_archived_range (month, operator_id, first_seq, last_seq, last_hash)
		SELECT c.month_start, l.operator_id, min(l.seq), max(l.seq),
			   (SELECT h.hash FROM shilian.ledger_chain h WHERE h.operator_id = l.operator_id AND h.seq = max(l.seq))
		  FROM shilian.ledger l
		 WHERE l.tableoid = format('shilian.%I', c.partition)::regclass
		   AND l.recorded_at >= (c.month_start::timestamp AT TIME ZONE 'Asia/Shanghai')
		   AND l.recorded_at < ((c.month_start + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai')
		 GROUP BY l.operator_id;
	PERFORM shilian.ledger_archive_allow(format('shilian.%I', c.partition)::regclass);
	EXECUTE format('ALTER TABLE shilian.ledger DETACH PARTITION shilian.%I', c.partition);
	EXECUTE format('ALTER TABLE shilian.%I RENAME TO %I', c.partition, detached);
	EXECUTE format('COMMENT ON TABLE shilian.%I IS %L', detached,
		format('Ledger month %s, archived (shilian.ledger_archived): no longer part of the ledger; drop it once the archive file is stored.',
			   to_char(c.month_start, 'YYYY-MM')));
	-- the archive is itself a ledger entry (operator 0, as maintenance is)
	PERFORM shilian.ledger_append(0, 'ledger_archive', jsonb_build_object(
		'month', to_char(c.month_start, 'YYYY-MM'), 'partition', c.partition,
		'entries', c.entries, 'first_entry_id', c.first_entry_id, 'last_entry_id', c.last_entry_id,
		'tree_size', c.tree_size, 'root', encode(c.root, 'hex'), 'archive_sha256', encode($3, 'hex'),
		'role', session_user::text));
	RETURN c.entries;
END
$$;
COMMENT ON FUNCTION ledger_archive(date, bigint, bytea) IS
	'Admin: detach an exported ledger month past retention (the file''s SHA-256 must match the export of that month and tree size), record it in ledger_archived and in the ledger; returns the entries archived. SLL60..SLL65.';
REVOKE ALL ON FUNCTION ledger_archive(date, bigint, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_archive(date, bigint, bytea) TO shilian_admin;
