-- shilian install script, part 54: the month partitions of the tables that
-- grow without bound (docs/operations.md, "Partitioning"). The ledger's are
-- made by ledger_partitions_ahead() (part 50, with the ledger's own guard);
-- every other partitioned table of schema shilian (inspection, consumption:
-- part 20; operator_day, operator_month: part 58; station_month: part 62;
-- figures_frozen_month: part 64) is partitioned by RANGE of one column by Asia/Shanghai month and
-- has a DEFAULT partition named <table>_default, which is the template of its
-- month partitions <table>_pYYYYMM: each gets the default partition's primary
-- and unique keys, indexes, storage options, row-level security and
-- statement triggers, under the same names with _default replaced by
-- _pYYYYMM. A table partitioned later needs nothing here.

-- Make the month partition of parent for the month starting on month (its
-- first day), unless it exists or the default partition already holds rows
-- of that month (rows are never moved: the month then has no partition of
-- its own). True when it made one. Internal (partitions_ahead()).
CREATE FUNCTION partition_month_make(parent regclass, month date) RETURNS boolean
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
REVOKE ALL ON FUNCTION partition_month_make(regclass, date) FROM PUBLIC;

CREATE FUNCTION partitions_ahead(months integer DEFAULT 3) RETURNS integer
	LANGUAGE plpgsql
	-- definer rights: a partition is made by the tables' owner; the job
	-- runs as shilian_admin
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	first CONSTANT date := date_trunc('month', shilian.platform_today())::date;
	made integer;
	t regclass;
BEGIN
	-- the ledger's months first (SLL50 for months outside 0..24: the one
	-- rule for how far ahead)
	made := shilian.ledger_partitions_ahead(months);
	-- one caller at a time (two jobs making the same month); 21324 = 0x534C
	PERFORM pg_advisory_xact_lock(21324, 54);
	FOR t IN SELECT c.oid::regclass
			   FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
			  WHERE c.relnamespace = 'shilian'::regnamespace AND c.relname <> 'ledger'
				AND c.relkind = 'p' AND NOT c.relispartition
			  ORDER BY c.relname LOOP
		FOR i IN 0 .. months LOOP
			IF shilian.partition_month_make(t, (first + make_interval(months => i))::date) THEN
				made := made + 1;
			END IF;
		END LOOP;
	END LOOP;
	RETURN made;
END
$$;
COMMENT ON FUNCTION partitions_ahead(integer) IS
	'Admin (the daily job): make the month partitions (Asia/Shanghai months) of every partitioned table, the ledger''s (ledger_partitions_ahead) and those of inspection, consumption, operator_day, operator_month, station_month and figures_frozen_month (<table>_pYYYYMM, copies of <table>_default), from the current month to months ahead, skipping a month with rows in a default partition; returns how many were made. SLL50 for months outside 0..24.';
REVOKE ALL ON FUNCTION partitions_ahead(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION partitions_ahead(integer) TO shilian_admin;
