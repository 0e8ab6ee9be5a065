-- shilian install script, part 58: the per-operator, per-day record counters
-- that the regulator figures read (docs/regulator.md, "Counters"). Every
-- record function counts its record through RecordToLedger (extension/
-- records.c, activity.c): the counts of a transaction are added to
-- operator_day once per (operator, day) just before it commits (in place
-- when the row exists, else by an upsert), and a record undone
-- by a rolled-back savepoint or transaction is never counted.
-- operator_day_rebuild() recounts everything from the record tables.

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
-- A row per operator and active day, without end: partitioned by month of
-- day (operator_day_pYYYYMM holds the days of that month), with a DEFAULT
-- partition, the template of the months that partitions_ahead() (part 54)
-- makes. The key (operator_id, day) is each partition's own, as for the
-- record tables (part 20): a key of the partitioned table itself would be
-- built again by a restore's ATTACH PARTITION. So the flush adds to a row by
-- UPDATE, or inserts it ON CONFLICT DO NOTHING and tries again when another
-- transaction inserted it first (activity.c, correction_count).
PARTITION BY RANGE (day);
COMMENT ON TABLE operator_day IS
	'Records per operator per event date, kept by the record functions at commit (docs/regulator.md): all records, by kind, complete receipts, those that came through a client, import or EPCIS; partitioned by month of day.';
-- room on every page for the next versions of its rows: a commit's update
-- is then a HOT update (no new entries in either index). Measured on the
-- demo province: without it 3 of 4 counter updates were not HOT. (Every
-- month partition gets the default partition's fillfactor.)
CREATE TABLE operator_day_default PARTITION OF operator_day DEFAULT WITH (fillfactor = 70);
ALTER TABLE operator_day_default ADD CONSTRAINT operator_day_default_pkey PRIMARY KEY (operator_id, day);
CREATE INDEX operator_day_default_day_idx ON operator_day_default (day);
COMMENT ON TABLE operator_day_default IS
	'Default partition of shilian.operator_day: days of months that had no partition of their own when counted; the template of the month partitions.';
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

SELECT pg_catalog.pg_extension_config_dump('operator_day', '');
SELECT pg_catalog.pg_extension_config_dump('operator_day_default', '');

-- The same per calendar month (month: its first day), kept by the same
-- flush: what the figures of a whole month read (700,000 rows a month
-- for a province rather than 2 million operator-days to group).
-- Partitioned by month as operator_day is (operator_month_pYYYYMM holds
-- one month, operator_month_default the months without a partition of their
-- own), its key each partition's own: the flush and correction_count add to
-- a row by UPDATE or insert it ON CONFLICT DO NOTHING, again when another
-- transaction inserted it first.
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
SELECT pg_catalog.pg_extension_config_dump('operator_month', '');
SELECT pg_catalog.pg_extension_config_dump('operator_month_default', '');

-- Whether an incoming record is complete by the rule of
-- record_completeness('receipt' or 'first_entry', id) (part 20), from the fields that can be
-- missing (name, quantity, dates and shelf life always have a value):
-- inlined into set-based queries, for the counters (at commit, for the
-- receipts of the transaction) and the rebuild. The regress suite checks
-- that it agrees with record_completeness() on every incoming record.
CREATE FUNCTION incoming_fields_complete(agricultural boolean, spec text, supplier_name text,
		supplier_address text, supplier_contact text, supplier_licence text, certificate jsonb)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT coalesce(supplier_name, '') <> ''
		AND (coalesce(agricultural, false) OR (
			coalesce(spec, '') <> '' AND coalesce(supplier_address, '') <> ''
			AND coalesce(supplier_contact, '') <> '' AND coalesce(supplier_licence, '') <> ''
			AND certificate IS NOT NULL AND certificate <> 'null'::jsonb AND certificate <> '""'::jsonb))
	$$;
COMMENT ON FUNCTION incoming_fields_complete(boolean, text, text, text, text, text, jsonb) IS
	'The completeness rule of an incoming record (record_completeness) on the fields that can be missing; agricultural products need only the supplier name.';

-- The incoming inspections with these ids: inspecting operator, date, complete.
CREATE FUNCTION incoming_complete(ids bigint[])
	RETURNS TABLE (id bigint, operator_id bigint, on_date date, complete boolean)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT i.id, i.operator_id, shilian.platform_date(i.inspected_at),
		shilian.incoming_fields_complete(p.edible_agricultural, p.spec, coalesce(o.name, b.supplier->>'name'),
			coalesce(o.address, b.supplier->>'address'), coalesce(o.contact, b.supplier->>'contact'),
			coalesce(b.supplier_licence::text, b.supplier->>'licence'), coalesce(b.certificate, i.report->'certificate'))
	  FROM shilian.inspection i
	  JOIN shilian.batch b ON b.id = i.batch_id
	  JOIN shilian.product p ON p.id = b.product_id
	  LEFT JOIN shilian.link l ON l.id = i.link_id
	  LEFT JOIN shilian.operator o ON o.id = l.seller_id
	 WHERE i.id = ANY (ids) AND i.kind = 'incoming'
	$$;
COMMENT ON FUNCTION incoming_complete(bigint[]) IS
	'For a few incoming inspections by id: the inspecting operator, the date, and whether record_completeness() would call the record complete.';
REVOKE ALL ON FUNCTION incoming_complete(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION incoming_complete(bigint[]) TO shilian_regulator, shilian_admin;

-- Recount operator_day from the record tables (and via_client from the
-- ledger's source column): for a DBA after a bulk load with the counters
-- off, and for the demo-data generator. Waits for (and holds off) every
-- committing transaction's counter flush, so none is lost or counted twice.
-- Dates come from timestamps as platform days (shilian.platform_date), as the
-- record functions' do, whatever the session's TimeZone.
CREATE FUNCTION operator_day_rebuild() RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	-- definer rights: truncates the table and reads every record and ledger
	-- row whatever the caller (EXECUTE: shilian_admin)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	LOCK TABLE shilian.operator_day IN ACCESS EXCLUSIVE MODE;
	TRUNCATE shilian.operator_day;
	INSERT INTO shilian.operator_day (operator_id, day, records, batches, inspections, shipments,
			receipts, receipts_complete, rejections, transforms, consumptions, via_client)
	SELECT e.operator_id, e.day,
		sum(e.n) FILTER (WHERE e.k <> 'receipts_complete' AND e.k <> 'via_client'),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'batches'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'inspections'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'shipments'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'receipts'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'receipts_complete'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'rejections'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'transforms'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'consumptions'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'via_client'), 0)
	  FROM (
		SELECT b.owner_id AS operator_id, b.produced_on AS day,
			CASE b.origin WHEN 'produced' THEN 'batches' ELSE 'transforms' END AS k, count(*) AS n
		  FROM shilian.batch b WHERE b.origin IN ('produced', 'transformed')
		   -- a retracted batch or transformation is not counted (part 83)
		   AND NOT EXISTS (SELECT 1 FROM shilian.correction x
							WHERE x.kind IN ('batch', 'transformation') AND x.record_id = b.id AND x.action = 'retract')
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT l.seller_id, l.shipped_on, 'shipments', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status <> 'retracted' GROUP BY 1, 2
		UNION ALL
		SELECT l.buyer_id, shilian.platform_date(l.received_at), 'rejections', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status = 'rejected' GROUP BY 1, 2
		UNION ALL
		SELECT c.operator_id, shilian.platform_date(c.consumed_at), 'consumptions', count(*)
		  FROM shilian.consumption c
		 WHERE NOT EXISTS (SELECT 1 FROM shilian.correction x
							WHERE x.kind = 'consumption' AND x.record_id = c.id AND x.action = 'retract')
		 GROUP BY 1, 2
		UNION ALL
		-- inspections: a receipt's incoming inspection names its sale's link;
		-- a first entry's is the first inspection of its first-entry batch;
		-- the rest were recorded with inspect()
		SELECT r.operator_id, r.day, CASE WHEN r.receipt THEN 'receipts' ELSE 'inspections' END, count(*)
		  FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, i.link_id IS NOT NULL AS receipt
				  FROM shilian.inspection i
				 WHERE (i.link_id IS NOT NULL
					OR i.batch_id NOT IN (SELECT b.id FROM shilian.batch b WHERE b.origin = 'first_entry'))
				   -- the receipt of a sale retracted since is not counted (part 83)
				   AND NOT EXISTS (SELECT 1 FROM shilian.link x WHERE x.id = i.link_id AND x.status = 'retracted')
				UNION ALL
				SELECT f.operator_id, shilian.platform_date(f.inspected_at), f.rn = 1 AND f.kind = 'incoming'
				  FROM (SELECT i.operator_id, i.inspected_at, i.kind,
							row_number() OVER (PARTITION BY i.batch_id ORDER BY i.id) AS rn
						  FROM shilian.inspection i JOIN shilian.batch b ON b.id = i.batch_id
						 WHERE b.origin = 'first_entry' AND i.link_id IS NULL) f) r
		 GROUP BY 1, 2, 3
		UNION ALL
		-- the receipts recorded without their incoming inspection (never
		-- complete: record_completeness lacks incoming_inspection)
		SELECT l.buyer_id, shilian.platform_date(l.received_at), 'receipts', count(*)
		  FROM shilian.link l
		 WHERE l.kind = 'ship' AND l.status = 'received'
		   AND NOT EXISTS (SELECT 1 FROM shilian.inspection i WHERE i.link_id = l.id AND i.kind = 'incoming')
		 GROUP BY 1, 2
		UNION ALL
		-- the first entries recorded without one, dated by their received_at
		SELECT b.owner_id, shilian.platform_date(b.received_at), 'receipts', count(*)
		  FROM shilian.batch b
		 WHERE b.origin = 'first_entry'
		   AND NOT EXISTS (SELECT 1 FROM shilian.inspection i WHERE i.batch_id = b.id AND i.kind = 'incoming')
		 GROUP BY 1, 2
		UNION ALL
		SELECT c.operator_id, c.day, 'receipts_complete', count(*)
		  FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, i.id, i.batch_id, b.origin,
					shilian.incoming_fields_complete(p.edible_agricultural, p.spec,
						coalesce(o.name, b.supplier->>'name'), coalesce(o.address, b.supplier->>'address'),
						coalesce(o.contact, b.supplier->>'contact'),
						coalesce(b.supplier_licence::text, b.supplier->>'licence'),
						coalesce(b.certificate, i.report->'certificate')) AS complete
				  FROM shilian.inspection i
				  JOIN shilian.batch b ON b.id = i.batch_id
				  JOIN shilian.product p ON p.id = b.product_id
				  LEFT JOIN shilian.link l ON l.id = i.link_id
				  LEFT JOIN shilian.operator o ON o.id = l.seller_id
				 WHERE i.kind = 'incoming' AND (i.link_id IS NOT NULL OR b.origin = 'first_entry')
				   AND NOT EXISTS (SELECT 1 FROM shilian.link x WHERE x.id = i.link_id AND x.status = 'retracted')) c
		 WHERE c.complete
		   AND (c.origin <> 'first_entry' OR c.id = (SELECT min(f.id) FROM shilian.inspection f
													  WHERE f.batch_id = c.batch_id))
		 GROUP BY 1, 2
		UNION ALL
		SELECT g.operator_id, g.on_date, 'via_client', count(*)
		  FROM shilian.ledger g
		 WHERE g.source IS NOT NULL AND g.on_date IS NOT NULL
		   -- the record kinds (the registry's entries are not counted)
		   AND g.kind IN ('batch_create', 'inspect', 'ship', 'receive', 'receive_first_entry', 'reject',
				'transform', 'consume')
		   -- nor the entry of a record retracted since (part 83): the entry
		   -- its first correction superseded
		   AND NOT EXISTS (SELECT 1 FROM shilian.correction x
							WHERE x.action = 'retract' AND x.operator_id = g.operator_id
							  AND g.id = (SELECT f.supersedes FROM shilian.correction f
										   WHERE f.kind = x.kind AND f.record_id = x.record_id
										   ORDER BY f.id LIMIT 1))
		 GROUP BY 1, 2
	  ) e
	 GROUP BY e.operator_id, e.day
	HAVING sum(e.n) FILTER (WHERE e.k <> 'receipts_complete' AND e.k <> 'via_client') > 0;
	GET DIAGNOSTICS n = ROW_COUNT;
	LOCK TABLE shilian.operator_month IN ACCESS EXCLUSIVE MODE;
	TRUNCATE shilian.operator_month;
	-- the rollups (part 62): one recount after
	INSERT INTO shilian.operator_month (operator_id, month, records, receipts, receipts_complete, via_client)
	SELECT d.operator_id, date_trunc('month', d.day::timestamp)::date, sum(d.records), sum(d.receipts),
		sum(d.receipts_complete), sum(d.via_client)
	  FROM shilian.operator_day d GROUP BY 1, 2;
	PERFORM shilian.rollup_recount(NULL);
	RETURN n;
END
$$;
COMMENT ON FUNCTION operator_day_rebuild() IS
	'Admin: recount shilian.operator_day (and operator_month and the rollups of part 62) from the record tables and the ledger''s sources (after a load with shilian.activity_counters off); returns the (operator, day) rows written.';
REVOKE ALL ON FUNCTION operator_day_rebuild() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_day_rebuild() TO shilian_admin;
