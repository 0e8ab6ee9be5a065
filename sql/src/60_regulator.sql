-- shilian install script, part 60: the regulator side (docs/regulator.md).
-- The operator roll (the licences the regulator knows of, imported from the
-- licence register) is the denominator of the registration rate; the
-- figures are read with the caller's rights, so row-level security (part
-- 82) keeps a regulator inside its subtree, and each function refuses with
-- 42501 a jurisdiction outside it rather than answering with zeros.

-- ---- the operator roll ------------------------------------------------------

CREATE TABLE operator_roll (
	licence_no  licence_no PRIMARY KEY,
	name        text NOT NULL CHECK (name <> ''),
	station     text NOT NULL REFERENCES jurisdiction (code),
	segment     text NOT NULL
		CHECK (segment IN ('production', 'circulation', 'catering', 'special_food')),
	kinds       text[] NOT NULL CHECK (cardinality(kinds) > 0 AND kinds <@ ARRAY[
		'farm', 'processor', 'wholesaler', 'retailer', 'market_vendor', 'market',
		'restaurant', 'school_canteen', 'collective_meal', 'central_kitchen',
		'unit_canteen', 'workshop', 'importer', 'cold_storage', 'special_food_maker']),
	imported_at timestamptz NOT NULL DEFAULT registry_now()
);
CREATE INDEX operator_roll_station_idx ON operator_roll (station);
COMMENT ON TABLE operator_roll IS
	'The licences known to the regulator (imported from the licence register): holder name, home station, segment, kinds; the denominator of the registration rate.';

SELECT pg_catalog.pg_extension_config_dump('operator_roll', '');

-- The shape of a staging table for roll_import: COPY the register's export
-- into a temporary table LIKE this one (row-level security forbids COPY FROM
-- straight into operator_roll for every role but its owner).
CREATE TABLE operator_roll_stage (
	licence_no  text,
	name        text,
	station     text,
	segment     text,
	kinds       text[]
);
COMMENT ON TABLE operator_roll_stage IS
	'Template of a staging table for roll_import (CREATE TEMP TABLE s (LIKE shilian.operator_roll_stage); COPY s FROM ...); holds no rows itself.';

-- Load (or refresh) the roll from a staging table with the columns of
-- operator_roll_stage: one INSERT ... SELECT, so a million rows load in
-- seconds; a licence already on the roll takes the new name, station,
-- segment and kinds. Every row is checked by the table's constraints and
-- types (a bad licence number fails the whole load with 22P02 naming it).
CREATE FUNCTION roll_import(source regclass) RETURNS bigint
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
	-- the import's date: every row it loads or changes carries it, and the
	-- roll's history (part 63) dates this version of the roll by it
	t timestamptz := shilian.registry_now();
BEGIN
	-- source is a regclass: its text form is a quoted, existing relation
	EXECUTE format('INSERT INTO shilian.operator_roll AS r (licence_no, name, station, segment, kinds, imported_at)'
				   ' SELECT s.licence_no::shilian.licence_no, s.name, s.station, s.segment, s.kinds, $1'
				   '   FROM %s AS s'
				   ' ON CONFLICT (licence_no) DO UPDATE SET name = excluded.name,'
				   ' station = excluded.station, segment = excluded.segment, kinds = excluded.kinds,'
				   ' imported_at = excluded.imported_at', source) USING t;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION roll_import(regclass) IS
	'Admin: load or refresh the operator roll from a staging table shaped like operator_roll_stage (licence_no, name, station, segment, kinds); returns the rows loaded.';
REVOKE ALL ON FUNCTION roll_import(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION roll_import(regclass) TO shilian_admin;

-- ---- records in time --------------------------------------------------------
-- Every record an operator made, by the date of the event it records:
-- batches it produced or transformed (produced_on), sales (shipped_on),
-- inspections including the incoming inspection of every receipt
-- (inspected_at) and consumption (consumed_at); timestamps are taken as dates in the
-- session time zone. Invoker rights and inlined: the caller's row-level
-- security applies.
CREATE FUNCTION record_events() RETURNS TABLE (operator_id bigint, on_date date)
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT b.owner_id, b.produced_on FROM shilian.batch b
	 WHERE b.origin IN ('produced', 'transformed')
	UNION ALL
	SELECT l.seller_id, l.shipped_on FROM shilian.link l WHERE l.kind = 'ship'
	UNION ALL
	SELECT i.operator_id, shilian.platform_date(i.inspected_at) FROM shilian.inspection i
	UNION ALL
	SELECT c.operator_id, shilian.platform_date(c.consumed_at) FROM shilian.consumption c
	$$;
COMMENT ON FUNCTION record_events() IS
	'Every record as (operator, event date): batches produced or transformed, sales, inspections (receipts included), consumption; as the caller may see them.';
REVOKE ALL ON FUNCTION record_events() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_events() TO shilian_regulator, shilian_admin;

-- ---- who may ask about a jurisdiction ---------------------------------------

CREATE FUNCTION regulator_require_subtree(code text) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF code IS NULL OR NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = regulator_require_subtree.code) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR19',
			MESSAGE = format('unknown jurisdiction: %s', coalesce(code, 'null')),
			HINT = 'Give a registered GB/T 2260 division or station code.';
	END IF;
	IF current_setting('role') = 'shilian_admin'
		OR (current_setting('role') = 'none'
			AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper))
		OR (current_setting('role') = 'shilian_regulator' AND shilian.jurisdiction_covers(code)) THEN
		RETURN code;
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
		MESSAGE = format('jurisdiction %s is outside the caller''s subtree', code),
		DETAIL = format('The caller regulates %s.', coalesce(shilian.current_jurisdiction(), 'no jurisdiction')),
		HINT = 'A regulator asks about its own jurisdiction or those below it; the platform admin about any.';
END
$$;
COMMENT ON FUNCTION regulator_require_subtree(text) IS
	'Returns the code when the caller is the platform admin or a regulator at or above that jurisdiction; error SLR19 for an unknown code, 42501 otherwise.';
REVOKE ALL ON FUNCTION regulator_require_subtree(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION regulator_require_subtree(text) TO shilian_regulator, shilian_admin;

-- jurisdiction_stats, segment_stats and monthly_report: part 64, after the
-- counters (part 58) they read.

-- ---- inactive_operators -----------------------------------------------------

CREATE FUNCTION inactive_operators(code text, since date)
	RETURNS TABLE (id bigint, name text, station text, segment text, status text,
		contact text, last_record date, regulator_contact text)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
	WITH asked AS (
		SELECT shilian.regulator_require_subtree(inactive_operators.code) AS code
	), last AS (
		-- from the counters (part 58), not the records
		SELECT d.operator_id, max(d.day) AS last_record
		  FROM shilian.operator_day d WHERE d.records > 0 GROUP BY d.operator_id
	)
	SELECT o.id, o.name, o.station, o.segment, o.status, o.contact, l.last_record, o.regulator_contact
	  FROM shilian.operator o
	  JOIN shilian.jurisdiction s ON s.code = o.station
	  CROSS JOIN asked a
	  LEFT JOIN last l ON l.operator_id = o.id
	 WHERE a.code = ANY (s.ancestors)
	   AND o.status <> 'suspended'
	   AND (l.last_record IS NULL OR l.last_record < inactive_operators.since)
	 ORDER BY o.station, o.id
	$$;
COMMENT ON FUNCTION inactive_operators(text, date) IS
	'Registered or active operators at home in the jurisdiction''s subtree with no record dated on or after since: last record date (NULL: never) and the regulator contact. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION inactive_operators(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION inactive_operators(text, date) TO shilian_regulator, shilian_admin;
