-- shilian upgrade script 0.2.0 -> 0.3.0, part 99f: inspections and
-- consumption partitioned by Asia/Shanghai month (issue 22). The same steps
-- as the changed parts of sql/src/20_records.sql (inspection and consumption
-- partitioned by inspected_at and consumed_at, with <table>_default and its
-- keys and indexes), 66_findings.sql (the incoming-inspection index on
-- inspection_default), 80_security.sql (row-level security of the default
-- partitions, the tables' policies and grants), 54_partitions.sql
-- (partition_month_make, partitions_ahead) and 92_schedule.sql (the daily
-- job runs partitions_ahead); and operator_day partitioned by month of day
-- (58_activity.sql, 82_regulator_security.sql, correction_count of
-- 83_corrections.sql). The existing rows are copied in id order with
-- their ids, and each identity sequence goes on where the old one stopped;
-- they all go to the default partitions, which keep them (rows are never
-- moved); the month partitions start with the first month that has no row in
-- the default partition (partitions_ahead(), the daily job), as for the
-- ledger (part 99b).

-- The old tables' CHECK and foreign-key constraints are dropped before the
-- new tables are made, so that theirs get the same names as in a fresh
-- install (constraint names are chosen unique in the schema); the rows
-- copied are checked again by the new ones.
DO $old$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT k.conrelid::regclass AS tbl, k.conname
			   FROM pg_constraint k
			  WHERE k.conrelid IN ('shilian.inspection'::regclass, 'shilian.consumption'::regclass)
				AND k.contype IN ('c', 'f')
			  ORDER BY 1, 2 LOOP
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl, r.conname);
	END LOOP;
END
$old$;

-- ---- inspection ---------------------------------------------------------------

ALTER TABLE inspection RENAME TO inspection_unpartitioned;
ALTER INDEX inspection_pkey RENAME TO inspection_unpartitioned_pkey;
ALTER INDEX inspection_batch_idx RENAME TO inspection_unpartitioned_batch_idx;
ALTER INDEX inspection_incoming_idx RENAME TO inspection_unpartitioned_incoming_idx;
ALTER SEQUENCE inspection_id_seq RENAME TO inspection_unpartitioned_id_seq;

CREATE TABLE inspection (
	id           bigint GENERATED ALWAYS AS IDENTITY,
	batch_id     bigint NOT NULL REFERENCES batch (id),
	operator_id  bigint NOT NULL REFERENCES operator (id),
	kind         text NOT NULL CHECK (kind IN ('release', 'incoming', 'sampling')),
	result       text NOT NULL CHECK (result IN ('pass', 'fail')),
	report       jsonb NOT NULL CHECK (jsonb_typeof(report) = 'object'),
	link_id      bigint REFERENCES link (id),
	inspected_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (inspected_at);
COMMENT ON TABLE inspection IS
	'Inspection records: release (出厂检验), incoming (进货查验) and sampling, with a report document; partitioned by Asia/Shanghai month of inspected_at.';
CREATE TABLE inspection_default PARTITION OF inspection DEFAULT;
ALTER TABLE inspection_default ADD CONSTRAINT inspection_default_pkey PRIMARY KEY (id, inspected_at);
CREATE INDEX inspection_default_batch_idx ON inspection_default (batch_id);
COMMENT ON TABLE inspection_default IS
	'Default partition of shilian.inspection: inspections of months that had no partition of their own when recorded; the template of the month partitions.';
CREATE INDEX inspection_default_incoming_idx ON inspection_default (batch_id, id) INCLUDE (link_id, inspected_at)
	WHERE kind = 'incoming';

INSERT INTO inspection (id, batch_id, operator_id, kind, result, report, link_id, inspected_at)
	OVERRIDING SYSTEM VALUE
	SELECT id, batch_id, operator_id, kind, result, report, link_id, inspected_at
	  FROM inspection_unpartitioned ORDER BY id;
SELECT setval('inspection_id_seq', s.last_value, s.is_called) FROM inspection_unpartitioned_id_seq s;
-- (the old identity sequence leaves the extension's dumped tables too)
ALTER EXTENSION shilian DROP SEQUENCE inspection_unpartitioned_id_seq;
ALTER EXTENSION shilian DROP TABLE inspection_unpartitioned;
DROP TABLE inspection_unpartitioned;

-- ---- consumption --------------------------------------------------------------

ALTER TABLE consumption RENAME TO consumption_unpartitioned;
ALTER INDEX consumption_pkey RENAME TO consumption_unpartitioned_pkey;
ALTER INDEX consumption_batch_idx RENAME TO consumption_unpartitioned_batch_idx;
ALTER SEQUENCE consumption_id_seq RENAME TO consumption_unpartitioned_id_seq;

CREATE TABLE consumption (
	id          bigint GENERATED ALWAYS AS IDENTITY,
	batch_id    bigint NOT NULL REFERENCES batch (id),
	operator_id bigint NOT NULL REFERENCES operator (id),
	qty         qty NOT NULL,
	kind        text NOT NULL CHECK (kind IN ('served', 'retail_sold', 'destroyed', 'sample_kept')),
	consumed_at timestamptz NOT NULL DEFAULT now(),
	note        text
) PARTITION BY RANGE (consumed_at);
COMMENT ON TABLE consumption IS
	'Quantities leaving the chain: served in a canteen, sold at retail, destroyed, kept as a sample; partitioned by Asia/Shanghai month of consumed_at.';
CREATE TABLE consumption_default PARTITION OF consumption DEFAULT;
ALTER TABLE consumption_default ADD CONSTRAINT consumption_default_pkey PRIMARY KEY (id, consumed_at);
CREATE INDEX consumption_default_batch_idx ON consumption_default (batch_id);
COMMENT ON TABLE consumption_default IS
	'Default partition of shilian.consumption: consumption of months that had no partition of their own when recorded; the template of the month partitions.';

INSERT INTO consumption (id, batch_id, operator_id, qty, kind, consumed_at, note)
	OVERRIDING SYSTEM VALUE
	SELECT id, batch_id, operator_id, qty, kind, consumed_at, note
	  FROM consumption_unpartitioned ORDER BY id;
SELECT setval('consumption_id_seq', s.last_value, s.is_called) FROM consumption_unpartitioned_id_seq s;
ALTER EXTENSION shilian DROP SEQUENCE consumption_unpartitioned_id_seq;
ALTER EXTENSION shilian DROP TABLE consumption_unpartitioned;
DROP TABLE consumption_unpartitioned;

-- ---- dump, privileges, row-level security (parts 20 and 80) ---------------------

SELECT pg_catalog.pg_extension_config_dump('inspection', '');
SELECT pg_catalog.pg_extension_config_dump('consumption', '');
SELECT pg_catalog.pg_extension_config_dump('inspection_default', '');
SELECT pg_catalog.pg_extension_config_dump('consumption_default', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.inspection', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.consumption', 'id')::regclass, '');

GRANT SELECT ON inspection, consumption TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
ALTER TABLE inspection ENABLE ROW LEVEL SECURITY;
ALTER TABLE consumption ENABLE ROW LEVEL SECURITY;
ALTER TABLE inspection_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE consumption_default ENABLE ROW LEVEL SECURITY;
DO $policies$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['inspection', 'consumption'] LOOP
		EXECUTE format('CREATE POLICY %I ON shilian.%I TO shilian_admin USING (true) WITH CHECK (true)',
					   t || '_admin', t);
		EXECUTE format('CREATE POLICY %I ON shilian.%I FOR SELECT TO shilian_operator'
					   ' USING (operator_id = shilian.current_operator())', t || '_operator', t);
		EXECUTE format('CREATE POLICY %I ON shilian.%I FOR SELECT TO shilian_system'
					   ' USING (operator_id IN (SELECT c FROM shilian.client_operators() AS c))',
					   t || '_system', t);
		EXECUTE format('CREATE POLICY %I ON shilian.%I FOR SELECT TO shilian_regulator'
					   ' USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s))',
					   t || '_regulator', t);
	END LOOP;
END
$policies$;

-- ---- operator_day (part 58, 82) -------------------------------------------------

ALTER TABLE operator_day RENAME TO operator_day_unpartitioned;
ALTER INDEX operator_day_pkey RENAME TO operator_day_unpartitioned_pkey;
ALTER INDEX operator_day_day_idx RENAME TO operator_day_unpartitioned_day_idx;

CREATE TABLE operator_day (
	operator_id       bigint NOT NULL,
	day               date NOT NULL,
	records           integer NOT NULL DEFAULT 0,
	batches           integer NOT NULL DEFAULT 0,
	inspections       integer NOT NULL DEFAULT 0,
	shipments         integer NOT NULL DEFAULT 0,
	receipts          integer NOT NULL DEFAULT 0,
	receipts_complete integer NOT NULL DEFAULT 0,
	rejections        integer NOT NULL DEFAULT 0,
	transforms        integer NOT NULL DEFAULT 0,
	consumptions      integer NOT NULL DEFAULT 0,
	via_client        integer NOT NULL DEFAULT 0
)
PARTITION BY RANGE (day);
COMMENT ON TABLE operator_day IS
	'Records per operator per event date, kept by the record functions at commit (docs/regulator.md): all records, by kind, complete receipts, those that came through a client, import or EPCIS; partitioned by month of day.';
COMMENT ON COLUMN operator_day.records IS 'Every record: the sum of the kind columns (receipts_complete and via_client are subsets).';
COMMENT ON COLUMN operator_day.batches IS 'batch_create: batches produced or harvested (dated produced_on).';
COMMENT ON COLUMN operator_day.inspections IS 'inspect: release, sampling and stand-alone incoming inspections (dated inspected_at).';
COMMENT ON COLUMN operator_day.shipments IS 'ship: sales (dated shipped_on), counted for the seller.';
COMMENT ON COLUMN operator_day.receipts IS 'receive and receive_first_entry: receipts, with or without their incoming inspection (dated received_at), for the buyer.';
COMMENT ON COLUMN operator_day.receipts_complete IS 'Of the receipts, those whose incoming record has every field record_completeness() requires.';
COMMENT ON COLUMN operator_day.rejections IS 'reject: sales refused whole (dated rejected_at), for the buyer.';
COMMENT ON COLUMN operator_day.transforms IS 'transform: processing steps (dated produced_on).';
COMMENT ON COLUMN operator_day.consumptions IS 'consume: served, sold at retail, destroyed, kept as a sample (dated consumed_at).';
COMMENT ON COLUMN operator_day.via_client IS 'Of the records, those whose ledger entry has a source: through a system client (X-API-Key), import or EPCIS.';
CREATE TABLE operator_day_default PARTITION OF operator_day DEFAULT WITH (fillfactor = 70);
ALTER TABLE operator_day_default ADD CONSTRAINT operator_day_default_pkey PRIMARY KEY (operator_id, day);
CREATE INDEX operator_day_default_day_idx ON operator_day_default (day);
COMMENT ON TABLE operator_day_default IS
	'Default partition of shilian.operator_day: days of months that had no partition of their own when counted; the template of the month partitions.';

INSERT INTO operator_day (operator_id, day, records, batches, inspections, shipments, receipts,
		receipts_complete, rejections, transforms, consumptions, via_client)
	SELECT operator_id, day, records, batches, inspections, shipments, receipts,
		receipts_complete, rejections, transforms, consumptions, via_client
	  FROM operator_day_unpartitioned ORDER BY operator_id, day;
ALTER EXTENSION shilian DROP TABLE operator_day_unpartitioned;
DROP TABLE operator_day_unpartitioned;

SELECT pg_catalog.pg_extension_config_dump('operator_day', '');
SELECT pg_catalog.pg_extension_config_dump('operator_day_default', '');
GRANT SELECT ON operator_day TO shilian_regulator, shilian_admin;
ALTER TABLE operator_day ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_day_default ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_day_admin ON operator_day FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_day_regulator ON operator_day FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));

-- corrections move a count by update or insert (no ON CONFLICT DO UPDATE
-- on the partitioned operator_day); full body (part 83)
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
	INSERT INTO shilian.operator_month AS m (operator_id, month, records, receipts, receipts_complete, via_client)
	VALUES (op, date_trunc('month', on_day::timestamp)::date, greatest(n, 0),
		greatest(CASE col WHEN 'receipts' THEN delta ELSE 0 END, 0),
		greatest(CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END, 0), greatest(v, 0))
	ON CONFLICT (operator_id, month) DO UPDATE SET records = m.records + n,
		receipts = m.receipts + CASE col WHEN 'receipts' THEN delta ELSE 0 END,
		receipts_complete = m.receipts_complete + CASE col WHEN 'receipts_complete' THEN delta ELSE 0 END,
		via_client = m.via_client + v;
	DELETE FROM shilian.operator_month m
	 WHERE m.operator_id = op AND m.month = date_trunc('month', on_day::timestamp)::date
	   AND m.records <= 0;
	PERFORM shilian.rollup_recount(ARRAY(SELECT o.station FROM shilian.operator o WHERE o.id = op));
END
$$;
COMMENT ON FUNCTION correction_count(bigint, date, text, integer, boolean) IS
	'Move a corrected or retracted record''s count in operator_day and operator_month (delta -1 or +1) and recount its station''s rollups.';
REVOKE ALL ON FUNCTION correction_count(bigint, date, text, integer, boolean) FROM PUBLIC;

-- ---- month partitions ahead (part 54) -------------------------------------------

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
	RETURN true;
END
$$;
COMMENT ON FUNCTION partition_month_make(regclass, date) IS
	'Internal (partitions_ahead()): make the month partition <table>_pYYYYMM of a table partitioned by Asia/Shanghai month, as a copy of its default partition''s keys, indexes, options, row-level security and statement triggers; false when it exists or the default partition holds rows of that month.';
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
	'Admin (the daily job): make the month partitions (Asia/Shanghai months) of every partitioned table, the ledger''s (ledger_partitions_ahead) and those of inspection, consumption and operator_day (<table>_pYYYYMM, copies of <table>_default), from the current month to months ahead, skipping a month with rows in a default partition; returns how many were made. SLL50 for months outside 0..24.';
REVOKE ALL ON FUNCTION partitions_ahead(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION partitions_ahead(integer) TO shilian_admin;

-- ---- the daily job runs partitions_ahead (part 92; full body) --------------------

CREATE OR REPLACE FUNCTION job_plan(OUT jobname text, OUT schedule text, OUT command text, OUT purpose text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	VALUES
		('shilian_checkpoint', '* * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.checkpoint()',
		 'every minute: publish a Merkle tree head over the entries committed since the last one'),
		('shilian_idempotency_prune', '17 * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.idempotency_prune()',
		 'hourly: delete the gateway''s idempotency keys older than 24 hours'),
		('shilian_alerts_scan', '30 18 * * *',
		 'SET ROLE shilian_admin; SELECT shilian.alerts_scan()',
		 'daily at 02:30 Asia/Shanghai: raise the day''s alerts and NOTIFY shilian_alert'),
		('shilian_ledger_partitions', '40 18 * * *',
		 'SET ROLE shilian_admin; SELECT shilian.partitions_ahead()',
		 'daily at 02:40 Asia/Shanghai: make the month partitions of the ledger, inspections, consumption and daily counters for this month and the three ahead'),
		('shilian_monthly_report', '30 0 5 * *',
		 'SET ROLE shilian_admin; SELECT shilian.monthly_report_publish()',
		 'on the 5th at 08:30 Asia/Shanghai: store last month''s report of every province, city and county and NOTIFY shilian_report'),
		('shilian_federation', '* * * * *',
		 'SET ROLE shilian_admin; SELECT count(*) FROM shilian.federation_deliver(); SELECT shilian.federation_recall_catch_up()',
		 'every minute: send the sales to buyers of other provinces to their platforms and ask again for the recall parts a province did not open (docs/federation.md); nothing without peers')
	$$;
COMMENT ON FUNCTION job_plan() IS
	'The periodic jobs: name, cron schedule (UTC), SQL command and purpose. schedule_jobs() registers them with pg_cron; without pg_cron, run the commands from another scheduler.';

