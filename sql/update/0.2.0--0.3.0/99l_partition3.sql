-- shilian upgrade script 0.2.0 -> 0.3.0, part 99l: the per-month counters
-- partitioned by month (issue 22), as operator_day was in part 99f:
-- operator_month (sql/src/58_activity.sql, 82_regulator_security.sql),
-- station_month (62_rollup.sql, 82_regulator_security.sql) and
-- figures_frozen_month (64_figures.sql), each partitioned by RANGE of its
-- month column (a date, the first day of the month) with a default partition
-- <table>_default, the template of the month partitions that
-- partitions_ahead() makes; correction_count (83_corrections.sql) adds to
-- operator_month by update or insert (no key of the partitioned table for
-- ON CONFLICT DO UPDATE); partition_month_make (54_partitions.sql) makes the
-- partitions of a table whose rows are not dumped (station_month) members of
-- the extension. The existing rows are copied with their values; they go to
-- the default partitions, which keep them (rows are never moved); the month
-- partitions start with the first month that has no row in the default
-- partition (partitions_ahead(), the daily job).

-- The old tables' CHECK constraints are dropped before the new tables are
-- made, so that theirs get the same names as in a fresh install (constraint
-- names are chosen unique in the schema); the rows copied are checked again
-- by the new ones.
DO $old$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT k.conrelid::regclass AS tbl, k.conname
			   FROM pg_constraint k
			  WHERE k.conrelid IN ('shilian.operator_month'::regclass, 'shilian.station_month'::regclass,
								   'shilian.figures_frozen_month'::regclass)
				AND k.contype IN ('c', 'f')
			  ORDER BY 1, 2 LOOP
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
	END LOOP;
END
$old$;

-- ---- operator_month (parts 58, 82) ----------------------------------------------

ALTER TABLE operator_month RENAME TO operator_month_unpartitioned;
ALTER INDEX operator_month_pkey RENAME TO operator_month_unpartitioned_pkey;
ALTER INDEX operator_month_month_idx RENAME TO operator_month_unpartitioned_month_idx;

CREATE TABLE operator_month (
	operator_id       bigint NOT NULL,
	month             date NOT NULL CHECK (extract(day FROM month) = 1),
	records           integer NOT NULL DEFAULT 0,
	receipts          integer NOT NULL DEFAULT 0,
	receipts_complete integer NOT NULL DEFAULT 0,
	via_client        integer NOT NULL DEFAULT 0
)
PARTITION BY RANGE (month);
COMMENT ON TABLE operator_month IS
	'operator_day summed per calendar month (month = its first day): records, receipts, complete receipts, records through a client, import or EPCIS; partitioned by month.';
CREATE TABLE operator_month_default PARTITION OF operator_month DEFAULT WITH (fillfactor = 70);
ALTER TABLE operator_month_default ADD CONSTRAINT operator_month_default_pkey PRIMARY KEY (operator_id, month);
CREATE INDEX operator_month_default_month_idx ON operator_month_default (month);
COMMENT ON TABLE operator_month_default IS
	'Default partition of shilian.operator_month: months that had no partition of their own when counted; the template of the month partitions.';

INSERT INTO operator_month (operator_id, month, records, receipts, receipts_complete, via_client)
	SELECT operator_id, month, records, receipts, receipts_complete, via_client
	  FROM operator_month_unpartitioned ORDER BY operator_id, month;
ALTER EXTENSION shilian DROP TABLE operator_month_unpartitioned;
DROP TABLE operator_month_unpartitioned;

SELECT pg_catalog.pg_extension_config_dump('operator_month', '');
SELECT pg_catalog.pg_extension_config_dump('operator_month_default', '');
GRANT SELECT ON operator_month TO shilian_regulator, shilian_admin;
ALTER TABLE operator_month ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_month_default ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_month_admin ON operator_month FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_month_regulator ON operator_month FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));

-- ---- station_month (parts 62, 82) -----------------------------------------------

ALTER TABLE station_month RENAME TO station_month_unpartitioned;
ALTER INDEX station_month_pkey RENAME TO station_month_unpartitioned_pkey;

CREATE TABLE station_month (
	station              text NOT NULL,
	segment              text NOT NULL,
	month                date NOT NULL CHECK (extract(day FROM month) = 1),
	active_operators     bigint NOT NULL DEFAULT 0,
	key_recorded         bigint NOT NULL DEFAULT 0,
	own_system_uploading bigint NOT NULL DEFAULT 0,
	receipts             bigint NOT NULL DEFAULT 0,
	receipts_complete    bigint NOT NULL DEFAULT 0
)
PARTITION BY RANGE (month);
COMMENT ON TABLE station_month IS
	'Rollup of operator_month per (station, segment, month) of the operators at home there: that recorded, of them active 10+3 ones, active own-system ones with a record through a client, import or EPCIS; receipts, complete receipts. Kept by the counter flush (docs/regulator.md); partitioned by month.';
CREATE TABLE station_month_default PARTITION OF station_month DEFAULT;
ALTER TABLE station_month_default ADD CONSTRAINT station_month_default_pkey PRIMARY KEY (month, station, segment);
COMMENT ON TABLE station_month_default IS
	'Default partition of shilian.station_month: months that had no partition of their own when counted; the template of the month partitions.';

INSERT INTO station_month (station, segment, month, active_operators, key_recorded, own_system_uploading,
		receipts, receipts_complete)
	SELECT station, segment, month, active_operators, key_recorded, own_system_uploading, receipts, receipts_complete
	  FROM station_month_unpartitioned ORDER BY month, station, segment;
ALTER EXTENSION shilian DROP TABLE station_month_unpartitioned;
DROP TABLE station_month_unpartitioned;

GRANT SELECT ON station_month TO shilian_admin;
ALTER TABLE station_month ENABLE ROW LEVEL SECURITY;
ALTER TABLE station_month_default ENABLE ROW LEVEL SECURITY;
CREATE POLICY station_month_admin ON station_month FOR SELECT TO shilian_admin USING (true);

-- ---- figures_frozen_month (part 64) ---------------------------------------------

ALTER TABLE figures_frozen_month RENAME TO figures_frozen_month_unpartitioned;
ALTER INDEX figures_frozen_month_pkey RENAME TO figures_frozen_month_unpartitioned_pkey;

CREATE TABLE figures_frozen_month (
	month     date NOT NULL CHECK (extract(day FROM month) = 1),
	frozen_at timestamptz NOT NULL DEFAULT now()
)
PARTITION BY RANGE (month);
COMMENT ON TABLE figures_frozen_month IS
	'The calendar months whose figures are frozen (figures_freeze): every figure of such a month reads figures_frozen; partitioned by month.';
CREATE TABLE figures_frozen_month_default PARTITION OF figures_frozen_month DEFAULT;
ALTER TABLE figures_frozen_month_default ADD CONSTRAINT figures_frozen_month_default_pkey PRIMARY KEY (month);
COMMENT ON TABLE figures_frozen_month_default IS
	'Default partition of shilian.figures_frozen_month: months that had no partition of their own when frozen; the template of the month partitions.';

INSERT INTO figures_frozen_month (month, frozen_at)
	SELECT month, frozen_at FROM figures_frozen_month_unpartitioned ORDER BY month;
ALTER EXTENSION shilian DROP TABLE figures_frozen_month_unpartitioned;
DROP TABLE figures_frozen_month_unpartitioned;

SELECT pg_catalog.pg_extension_config_dump('figures_frozen_month', '');
SELECT pg_catalog.pg_extension_config_dump('figures_frozen_month_default', '');
REVOKE ALL ON figures_frozen_month FROM PUBLIC;
GRANT SELECT ON figures_frozen_month TO shilian_admin;
ALTER TABLE figures_frozen_month ENABLE ROW LEVEL SECURITY;
ALTER TABLE figures_frozen_month_default ENABLE ROW LEVEL SECURITY;
CREATE POLICY figures_frozen_month_admin ON figures_frozen_month FOR SELECT TO shilian_admin USING (true);

-- ---- corrections add to operator_month by update or insert (part 83; full body) --

-- Moves a record's count in the counters: delta (-1: retracted, or moved
-- away from this day; +1: moved to this day) on the kind's column of
-- operator_day, records and receipts of operator_month, then the rollups of
-- the operator's station. A counter row that does not exist (counters off)
-- is left alone; operator_day_rebuild() gives the same figures.
CREATE OR REPLACE FUNCTION correction_count(op bigint, on_day date, col text, delta integer, via boolean)
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
-- ---- partitions of a table whose rows are not dumped: members of the extension
-- (part 54; full body)

CREATE OR REPLACE FUNCTION partition_month_make(parent regclass, month date) RETURNS boolean
	LANGUAGE plpgsql
	-- bounds written and read back as ISO text, with their UTC offset
	SET search_path = pg_catalog, pg_temp SET datestyle = 'ISO, YMD'
	AS $$
DECLARE
	tbl text;
	deflt text;
	part text;
	col text;
	typ regtype;
	lo text;
	hi text;
	opts text[];
	taken boolean;
	r record;
BEGIN
	SELECT c.relname, a.attname, a.atttypid::regtype INTO tbl, col, typ
	  FROM pg_class c
	  JOIN pg_partitioned_table p ON p.partrelid = c.oid
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
	 WHERE c.oid = parent AND c.relnamespace = 'shilian'::regnamespace
	   AND p.partstrat = 'r' AND p.partnatts = 1;
	IF tbl IS NULL OR typ NOT IN ('timestamptz'::regtype, 'date'::regtype)
	   OR month IS NULL OR month <> date_trunc('month', month)::date THEN
		RAISE EXCEPTION 'partition_month_make(%, %): not a table of schema shilian partitioned by month of one date or timestamptz column, or not the first day of a month',
			parent, month;
	END IF;
	deflt := tbl || '_default';
	part := tbl || '_p' || to_char(month, 'YYYYMM');
	IF to_regclass(format('shilian.%I', part)) IS NOT NULL THEN
		RETURN false;
	END IF;
	IF to_regclass(format('shilian.%I', deflt)) IS NULL THEN
		RAISE EXCEPTION 'partition_month_make(%): no default partition shilian.%', parent, deflt;
	END IF;
	-- Asia/Shanghai months, whatever the session's time zone
	IF typ = 'date'::regtype THEN
		lo := month::text;
		hi := (month + interval '1 month')::date::text;
	ELSE
		lo := (month::timestamp AT TIME ZONE 'Asia/Shanghai')::text;
		hi := ((month + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai')::text;
	END IF;
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM shilian.%I d WHERE d.%I >= %L::%s AND d.%I < %L::%s)',
				   deflt, col, lo, typ, col, hi, typ) INTO taken;
	IF taken THEN
		RETURN false;
	END IF;
	SELECT c.reloptions INTO opts FROM pg_class c WHERE c.oid = format('shilian.%I', deflt)::regclass;
	EXECUTE format('CREATE TABLE shilian.%I PARTITION OF shilian.%I FOR VALUES FROM (%L) TO (%L)%s',
				   part, tbl, lo, hi,
				   CASE WHEN opts IS NULL THEN '' ELSE ' WITH (' || array_to_string(opts, ', ') || ')' END);
	-- the template's keys, then its other indexes
	FOR r IN SELECT k.conname, pg_get_constraintdef(k.oid) AS def
			   FROM pg_constraint k
			  WHERE k.conrelid = format('shilian.%I', deflt)::regclass AND k.contype IN ('p', 'u')
			  ORDER BY k.contype, k.conname LOOP
		EXECUTE format('ALTER TABLE shilian.%I ADD CONSTRAINT %I %s',
					   part, part || substr(r.conname, length(deflt) + 1), r.def);
	END LOOP;
	FOR r IN SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def
			   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			  WHERE i.indrelid = format('shilian.%I', deflt)::regclass
				AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
								AND k.conrelid = i.indrelid)
			  ORDER BY c.relname LOOP
		EXECUTE regexp_replace(r.def, '^(CREATE (UNIQUE )?INDEX )\S+ ON \S+ ',
							   '\1' || quote_ident(part || substr(r.relname, length(deflt) + 1))
							   || ' ON shilian.' || quote_ident(part) || ' ');
	END LOOP;
	IF (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = format('shilian.%I', deflt)::regclass) THEN
		EXECUTE format('ALTER TABLE shilian.%I ENABLE ROW LEVEL SECURITY', part);
	END IF;
	-- statement triggers of the template's own (row triggers of the
	-- partitioned table are cloned to every partition by PostgreSQL)
	FOR r IN SELECT pg_get_triggerdef(t.oid) AS def
			   FROM pg_trigger t
			  WHERE t.tgrelid = format('shilian.%I', deflt)::regclass AND NOT t.tgisinternal
				AND t.tgparentid = 0
			  ORDER BY t.tgname LOOP
		EXECUTE replace(r.def, ' ON shilian.' || quote_ident(deflt) || ' ', ' ON shilian.' || quote_ident(part) || ' ');
	END LOOP;
	-- dumped as the template is: a table whose rows pg_dump keeps (its
	-- default partition is extension configuration) gets partitions that
	-- pg_dump writes with their rows; one whose rows are derived and not
	-- dumped (station_month: rollup_rebuild() after a restore) gets
	-- partitions that are members of the extension, which pg_dump skips
	IF EXISTS (SELECT 1 FROM pg_depend d
				WHERE d.classid = 'pg_class'::regclass AND d.objid = format('shilian.%I', deflt)::regclass
				  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
				  AND NOT EXISTS (SELECT 1 FROM pg_extension x
								   WHERE x.oid = d.refobjid
									 AND format('shilian.%I', deflt)::regclass::oid = ANY (x.extconfig))) THEN
		EXECUTE format('ALTER EXTENSION shilian ADD TABLE shilian.%I', part);
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION partition_month_make(regclass, date) IS
	'Internal (partitions_ahead()): make the month partition <table>_pYYYYMM of a table partitioned by Asia/Shanghai month, as a copy of its default partition''s keys, indexes, options, row-level security and statement triggers, a member of the extension when the default partition is one whose rows are not dumped; false when it exists or the default partition holds rows of that month.';
COMMENT ON FUNCTION partitions_ahead(integer) IS
	'Admin (the daily job): make the month partitions (Asia/Shanghai months) of every partitioned table, the ledger''s (ledger_partitions_ahead) and those of inspection, consumption, operator_day, operator_month, station_month and figures_frozen_month (<table>_pYYYYMM, copies of <table>_default), from the current month to months ahead, skipping a month with rows in a default partition; returns how many were made. SLL50 for months outside 0..24.';

-- ---- ledger_chain last of the dumped tables again (part 99) ----------------------
-- The tables this part made dumped came after ledger_chain's entry, which a
-- fresh install has last (sql/src/99_ledger_chain_dump.sql): it leaves the
-- extension's list of dumped tables and comes back at its end, so that the
-- list is the same after an upgrade. (The table stays; only its membership
-- is dropped and added again, in this transaction.)
ALTER EXTENSION shilian DROP TABLE ledger_chain;
ALTER EXTENSION shilian ADD TABLE ledger_chain;
SELECT pg_catalog.pg_extension_config_dump('ledger_chain',
	'WHERE EXISTS (SELECT 1 FROM shilian.ledger_archived_range r WHERE r.operator_id = ledger_chain.operator_id'
	' AND ledger_chain.seq BETWEEN r.first_seq AND r.last_seq)');
