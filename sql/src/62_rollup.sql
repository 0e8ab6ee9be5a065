-- shilian install script, part 62: per-station rollups of the regulator
-- figures (docs/regulator.md, "Rollups"), so that a province's figures for a
-- calendar month read a few thousand station rows instead of a million
-- operators and their licences.
--
--   roll_station     the roll per (station, segment, holder's home station):
--                    licensed, registered, activated (period-independent)
--   operator_station the operators per (station, segment): all of them, the
--                    active 10+3 ones, the active own-system ones
--   station_month    per (station, segment, month): operators that recorded
--                    in the month, of them the active 10+3 ones, the active
--                    own-system ones with a record through a client, import
--                    or EPCIS, and the month's receipts and complete receipts
--
-- Kept two ways. The registry side (the roll, licences, operators) changes
-- rarely: a statement-level trigger recounts every station the statement
-- touched (rollup_recount), a few hundred rows each. The records side
-- changes with every record: the counter flush writes operator_month and
-- adds the change of each operator-month's contribution to station_month
-- (a first record in a month adds one active operator). The
-- recounts hold rollup_lock() exclusively and the flush's additions hold it
-- shared, so an addition is never lost under a concurrent recount: a
-- recount waits for the committing flushes and sees their rows, a flush
-- waits for the recount's transaction and adds to its rows.
-- rollup_rebuild() recounts everything (operator_day_rebuild calls it).

CREATE TABLE roll_station (
	station        text NOT NULL,
	segment        text NOT NULL,
	holder_station text NOT NULL,   -- '' when the licence is not on the platform
	licensed       bigint NOT NULL,
	registered     bigint NOT NULL,
	activated      bigint NOT NULL,
	PRIMARY KEY (station, segment, holder_station)
);
COMMENT ON TABLE roll_station IS
	'Rollup of operator_roll per (station, segment, home station of the licence''s holder on the platform, '''' for none): licences, registered, activated. Kept by triggers (docs/regulator.md).';

CREATE TABLE operator_station (
	station              text NOT NULL,
	segment              text NOT NULL,
	operators            bigint NOT NULL,
	key_operators        bigint NOT NULL,
	own_system_operators bigint NOT NULL,
	PRIMARY KEY (station, segment)
);
COMMENT ON TABLE operator_station IS
	'Rollup of operator per (station, segment): operators of any status, active 10+3 operators, active own-system operators. Kept by triggers (docs/regulator.md).';

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
-- partitioned by month as operator_month (part 58), the key (month,
-- station, segment) each partition's own: the flush adds to a row by UPDATE
-- or inserts it ON CONFLICT DO NOTHING (extension/activity.c)
PARTITION BY RANGE (month);
COMMENT ON TABLE station_month IS
	'Rollup of operator_month per (station, segment, month) of the operators at home there: that recorded, of them active 10+3 ones, active own-system ones with a record through a client, import or EPCIS; receipts, complete receipts. Kept by the counter flush (docs/regulator.md); partitioned by month.';
CREATE TABLE station_month_default PARTITION OF station_month DEFAULT;
ALTER TABLE station_month_default ADD CONSTRAINT station_month_default_pkey PRIMARY KEY (month, station, segment);
COMMENT ON TABLE station_month_default IS
	'Default partition of shilian.station_month: months that had no partition of their own when counted; the template of the month partitions.';

-- The advisory lock key of the rollups (shared: the flush's additions;
-- exclusive: recounts).
CREATE FUNCTION rollup_lock() RETURNS bigint
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN 7235861262;
COMMENT ON FUNCTION rollup_lock() IS
	'The advisory lock key that orders the rollups'' recounts (exclusive) against the counter flush''s additions (shared).';

-- Whether an operator counts for the 10+3 figures: of a key catering kind,
-- or holding a licence whose scope has one of the ten key categories.
-- (A function with a sub-select is never inlined: the queries over many
-- operators write it out.)
-- PL/pgSQL, for its plan kept per session: a SQL function with a sub-select
-- is never inlined, and PostgreSQL 15 plans its statement again at every
-- execution of the query calling it (a third of a millisecond on every
-- commit of a record, in the counters' flush).
CREATE FUNCTION operator_is_key(id bigint, kinds text[]) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN kinds OPERATOR(pg_catalog.&&) shilian.key_catering_kinds()
		OR EXISTS (SELECT 1 FROM shilian.licence li
					WHERE li.operator_id OPERATOR(pg_catalog.=) operator_is_key.id
					  AND li.scope OPERATOR(pg_catalog.&&) shilian.key_categories());
END
$$;
COMMENT ON FUNCTION operator_is_key(bigint, text[]) IS
	'The operator deals in a key category (a licence scope) or is a school canteen, collective-meal unit or central kitchen (the 10+3 rule).';
REVOKE ALL ON FUNCTION operator_is_key(bigint, text[]) FROM PUBLIC;

-- Recount the rollups of these stations (all of them when stations is NULL)
-- from the roll, licences, operators and operator_month.
CREATE FUNCTION rollup_recount(stations text[]) RETURNS void
	LANGUAGE plpgsql VOLATILE
	-- definer rights: writes the rollups whatever the caller (a registry
	-- function, the admin's roll import); EXECUTE: nobody but the owner
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	everything boolean := stations IS NULL;
BEGIN
	IF NOT everything AND cardinality(stations) = 0 THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(shilian.rollup_lock());
	IF everything THEN
		TRUNCATE shilian.roll_station, shilian.operator_station, shilian.station_month;
	ELSE
		DELETE FROM shilian.roll_station r WHERE r.station = ANY (stations);
		DELETE FROM shilian.operator_station r WHERE r.station = ANY (stations);
		DELETE FROM shilian.station_month r WHERE r.station = ANY (stations);
	END IF;
	INSERT INTO shilian.roll_station (station, segment, holder_station, licensed, registered, activated)
	SELECT r.station, r.segment, coalesce(o.station, ''), count(*), count(o.status),
		count(*) FILTER (WHERE o.status = 'active')
	  FROM shilian.operator_roll r
	  LEFT JOIN shilian.licence li ON li.licence_no = r.licence_no
	  LEFT JOIN shilian.operator o ON o.id = li.operator_id
	 WHERE everything OR r.station = ANY (stations)
	 GROUP BY 1, 2, 3;
	INSERT INTO shilian.operator_station (station, segment, operators, key_operators, own_system_operators)
	SELECT o.station, o.segment, count(*),
		count(*) FILTER (WHERE o.status = 'active' AND (o.kinds && shilian.key_catering_kinds()
			OR EXISTS (SELECT 1 FROM shilian.licence li
						WHERE li.operator_id = o.id AND li.scope && shilian.key_categories()))),
		count(*) FILTER (WHERE o.status = 'active' AND o.own_system)
	  FROM shilian.operator o
	 WHERE everything OR o.station = ANY (stations)
	 GROUP BY 1, 2;
	INSERT INTO shilian.station_month (station, segment, month, active_operators, key_recorded,
			own_system_uploading, receipts, receipts_complete)
	SELECT o.station, o.segment, m.month, count(*),
		count(*) FILTER (WHERE o.status = 'active' AND (o.kinds && shilian.key_catering_kinds()
			OR EXISTS (SELECT 1 FROM shilian.licence li
						WHERE li.operator_id = o.id AND li.scope && shilian.key_categories()))),
		count(*) FILTER (WHERE o.status = 'active' AND o.own_system AND m.via_client > 0),
		sum(m.receipts), sum(m.receipts_complete)
	  FROM shilian.operator o
	  JOIN shilian.operator_month m ON m.operator_id = o.id AND m.records > 0
	 WHERE everything OR o.station = ANY (stations)
	 GROUP BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION rollup_recount(text[]) IS
	'Recount roll_station, operator_station and station_month for these stations (NULL: all) from the roll, licences, operators and operator_month.';
REVOKE ALL ON FUNCTION rollup_recount(text[]) FROM PUBLIC;

CREATE FUNCTION rollup_rebuild() RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	PERFORM shilian.rollup_recount(NULL);
	RETURN (SELECT count(*) FROM shilian.roll_station) + (SELECT count(*) FROM shilian.operator_station)
		+ (SELECT count(*) FROM shilian.station_month);
END
$$;
COMMENT ON FUNCTION rollup_rebuild() IS
	'Admin: recount every rollup of the regulator figures (roll_station, operator_station, station_month) from the roll, licences, operators and operator_month; returns the rows written.';
REVOKE ALL ON FUNCTION rollup_rebuild() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollup_rebuild() TO shilian_admin;

-- ---- the registry side: statement triggers ------------------------------------
-- One function for the three tables and the three events (a trigger with
-- transition tables has one event): it gathers the stations whose rollups the
-- statement may have changed and recounts them.

CREATE FUNCTION rollup_registry_changed() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	st text[];
BEGIN
	IF TG_TABLE_NAME = 'operator_roll' THEN
		-- the roll's rows count at their station
		IF TG_OP = 'INSERT' THEN
			st := ARRAY(SELECT DISTINCT n.station FROM new_rows n);
		ELSIF TG_OP = 'UPDATE' THEN
			st := ARRAY(SELECT n.station FROM new_rows n UNION SELECT o.station FROM old_rows o);
		ELSE
			st := ARRAY(SELECT DISTINCT o.station FROM old_rows o);
		END IF;
	ELSIF TG_TABLE_NAME = 'licence' THEN
		-- a licence counts for the roll rows of its number and for its
		-- holder's 10+3 flag
		IF TG_OP = 'INSERT' THEN
			st := ARRAY(SELECT r.station FROM shilian.operator_roll r WHERE r.licence_no IN (SELECT n.licence_no FROM new_rows n)
						UNION SELECT o.station FROM shilian.operator o WHERE o.id IN (SELECT n.operator_id FROM new_rows n));
		ELSIF TG_OP = 'UPDATE' THEN
			st := ARRAY(SELECT r.station FROM shilian.operator_roll r
						 WHERE r.licence_no IN (SELECT n.licence_no FROM new_rows n UNION SELECT o.licence_no FROM old_rows o)
						UNION SELECT o.station FROM shilian.operator o
						 WHERE o.id IN (SELECT n.operator_id FROM new_rows n UNION SELECT x.operator_id FROM old_rows x));
		ELSE
			st := ARRAY(SELECT r.station FROM shilian.operator_roll r WHERE r.licence_no IN (SELECT o.licence_no FROM old_rows o)
						UNION SELECT o.station FROM shilian.operator o WHERE o.id IN (SELECT x.operator_id FROM old_rows x));
		END IF;
	ELSE
		-- an operator counts at its station and, through its licences, for
		-- the roll rows of their numbers
		IF TG_OP = 'INSERT' THEN
			st := ARRAY(SELECT DISTINCT n.station FROM new_rows n);
		ELSIF TG_OP = 'UPDATE' THEN
			st := ARRAY(SELECT n.station FROM new_rows n UNION SELECT o.station FROM old_rows o
						UNION SELECT r.station FROM shilian.operator_roll r
						 WHERE r.licence_no IN (SELECT li.licence_no FROM shilian.licence li
												 WHERE li.operator_id IN (SELECT n.id FROM new_rows n)));
		ELSE
			st := ARRAY(SELECT DISTINCT o.station FROM old_rows o);
		END IF;
	END IF;
	-- a bulk load touches most stations: one recount of everything
	IF cardinality(st) > 500 THEN
		PERFORM shilian.rollup_recount(NULL);
	ELSE
		PERFORM shilian.rollup_recount(st);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollup_registry_changed() IS
	'Statement trigger of operator_roll, licence and operator: recounts the rollups of the stations the statement touched.';

CREATE TRIGGER rollup_ins AFTER INSERT ON operator_roll REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_upd AFTER UPDATE ON operator_roll REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_del AFTER DELETE ON operator_roll REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_ins AFTER INSERT ON licence REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_upd AFTER UPDATE ON licence REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_del AFTER DELETE ON licence REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_ins AFTER INSERT ON operator REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_upd AFTER UPDATE ON operator REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_del AFTER DELETE ON operator REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
-- TRUNCATE of the roll (the owner's reload): its stations are all of them
CREATE FUNCTION rollup_roll_truncated() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(shilian.rollup_lock());
	TRUNCATE shilian.roll_station;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollup_roll_truncated() IS 'Statement trigger of TRUNCATE operator_roll: empties roll_station.';
CREATE TRIGGER rollup_truncate AFTER TRUNCATE ON operator_roll
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_roll_truncated();

-- ---- the records side: the counter flush's additions ----------------------------
-- The counter flush (extension/activity.c) adds the change of each
-- operator-month's contribution to station_month itself, in (month, station,
-- segment) order under rollup_lock() held shared, right after it writes
-- operator_month: no trigger runs at commit, and two committing transactions
-- lock station_month rows in the same order (no deadlock).
