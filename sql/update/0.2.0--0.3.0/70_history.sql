-- shilian upgrade script 0.2.0 -> 0.3.0, part 70: the registry's history and
-- the figures as of the period's end (issue 25; h-history). The same steps as
-- sql/src/19_registry_time.sql, 63_history.sql, 84_history_security.sql and
-- the changed functions of 60_regulator.sql and 64_figures.sql; the history
-- starts from the registry as it is: each operator's versions from its
-- registered_at, activated_at and suspended_at, each licence from its
-- added_at, each roll row from its imported_at.

-- shilian install script, part 19: the registry's time (docs/regulator.md,
-- "The registry's history"). Every registry change (an operator registered,
-- activated, suspended or updated, a licence recorded, a roll import) takes
-- effect at registry_now(): now(), or the time the platform admin set in
-- shilian.registry_time to enter changes that took effect earlier (a
-- migration from the paper register). The history (part 63) is dated by it,
-- so the figures of a period read the registry as it stood at the period's
-- end. Two rules keep a past period fixed: an operator's, licence's or
-- roll row's history only grows at its end (a change before its latest
-- version is refused, SLH04, by the history triggers of part 63), and no
-- change may take effect inside or before a month whose report has been
-- issued (monthly_report_issue, part 92).

-- The first instant of a platform day (00:00 in shilian.timezone).
CREATE FUNCTION platform_start(day date) RETURNS timestamptz
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	-- shilian.timezone is defined when the library is loaded: load it first
	-- (a session that has called no C function of shilian yet)
	PERFORM shilian.platform_today();
	RETURN (day::timestamp) AT TIME ZONE current_setting('shilian.timezone');
END
$$;
COMMENT ON FUNCTION platform_start(date) IS
	'The first instant of the platform day (00:00 in shilian.timezone): where a period of days begins and ends.';

CREATE FUNCTION registry_now() RETURNS timestamptz
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	setting text := current_setting('shilian.registry_time', true);
	t timestamptz;
	closed date;
BEGIN
	IF setting IS NULL OR setting = '' THEN
		RETURN now();
	END IF;
	BEGIN
		t := setting::timestamptz;
	EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_parameter_value THEN
		RAISE EXCEPTION USING ERRCODE = 'SLH01',
			MESSAGE = format('invalid registry time: %s', setting),
			HINT = 'Set shilian.registry_time to an RFC 3339 timestamp with its offset (2026-01-05 09:00+08), or to empty for now().';
	END;
	IF NOT (current_setting('role') = 'shilian_admin'
			OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper)) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLH02',
			MESSAGE = 'only the platform admin dates registry changes (shilian.registry_time)',
			HINT = 'Leave shilian.registry_time empty: a change takes effect now.';
	END IF;
	IF t > now() THEN
		RAISE EXCEPTION USING ERRCODE = 'SLH03',
			MESSAGE = format('registry time %s is in the future', t),
			HINT = 'A registry change takes effect now or earlier.';
	END IF;
	closed := (SELECT max(r.month) FROM shilian.monthly_report_issue r);
	IF closed IS NOT NULL AND t < shilian.platform_start((closed + interval '1 month')::date) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLH06',
			MESSAGE = format('registry time %s falls in or before %s, whose report has been issued', t, to_char(closed, 'YYYY-MM')),
			DETAIL = 'An issued month''s figures never change.',
			HINT = 'Date the change on or after the first day of the month after the last issued report.';
	END IF;
	RETURN t;
END
$$;
COMMENT ON FUNCTION registry_now() IS
	'The effective time of a registry change: now(), or shilian.registry_time when the platform admin set it (SLH01 malformed, SLH02 not the admin, SLH03 in the future, SLH06 in or before an issued month; the history triggers refuse a change before the object''s latest version, SLH04).';

-- ---- the registry's time stamps the registry's tables (part 20, 60) ----------------
ALTER TABLE operator ALTER COLUMN registered_at SET DEFAULT registry_now();
ALTER TABLE licence ALTER COLUMN added_at SET DEFAULT registry_now();
ALTER TABLE operator_roll ALTER COLUMN imported_at SET DEFAULT registry_now();

CREATE OR REPLACE FUNCTION roll_import(source regclass) RETURNS bigint
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

-- shilian install script, part 63: the registry's history (docs/regulator.md,
-- "The registry's history"). Everything the figures read of the registry,
-- with the time range in which it held:
--
--   operator_history       an operator's status, home station, segment,
--                          kinds and own-system flag, per validity range
--   licence_history        a licence's number, holder, scope and validity
--                          dates, per range in which the platform recorded it
--   operator_roll_history  a roll licence's station, segment and kinds, per
--                          range between the roll imports that set and
--                          changed (or dropped) it: each import is a dated
--                          version of the roll
--
-- Ranges are tstzrange [from, to), to NULL while current. They are kept by
-- statement triggers on operator, licence and operator_roll, so every path
-- that changes those tables (the registry functions, which also append the
-- change to the operator's ledger chain; the roll import; an admin's
-- DELETE) dates its change at registry_now() (part 19). The history is
-- only appended to at its end: registry_now() never goes back before the
-- latest change, so the registry as of any past instant never changes, and
-- neither do the figures of a past period (part 64).

CREATE TABLE operator_history (
	operator_id bigint NOT NULL,
	valid       tstzrange NOT NULL CHECK (NOT isempty(valid) AND NOT lower_inf(valid)),
	status      text NOT NULL,
	station     text NOT NULL,
	segment     text NOT NULL,
	kinds       text[] NOT NULL,
	own_system  boolean NOT NULL
);
-- an operator's versions in time order (the triggers, the active-in-period probe)
CREATE INDEX operator_history_operator_idx ON operator_history (operator_id, lower(valid));
-- the versions valid at an instant (a province's operators as of a period's end)
CREATE INDEX operator_history_valid_idx ON operator_history USING gist (valid);
-- a station's versions (a county's operators)
CREATE INDEX operator_history_station_idx ON operator_history (station, lower(valid));
COMMENT ON TABLE operator_history IS
	'Each operator''s status, home station, segment, kinds and own-system flag with the range of time (valid) in which they held; kept by a statement trigger on operator, dated by registry_now().';

CREATE TABLE licence_history (
	licence_id  bigint NOT NULL,
	licence_no  licence_no NOT NULL,
	operator_id bigint NOT NULL,
	scope       text[] NOT NULL,
	valid_from  date NOT NULL,
	valid_to    date NOT NULL,
	recorded    tstzrange NOT NULL CHECK (NOT isempty(recorded) AND NOT lower_inf(recorded))
);
CREATE INDEX licence_history_operator_idx ON licence_history (operator_id, lower(recorded));
CREATE INDEX licence_history_no_idx ON licence_history (licence_no, lower(recorded));
CREATE INDEX licence_history_recorded_idx ON licence_history USING gist (recorded);
COMMENT ON TABLE licence_history IS
	'Each licence as the platform recorded it (number, holder, scope, validity dates) with the range of time (recorded) in which it was on the platform; kept by a statement trigger on licence, dated by registry_now().';

CREATE TABLE operator_roll_history (
	licence_no licence_no NOT NULL,
	name       text NOT NULL,
	station    text NOT NULL,
	segment    text NOT NULL,
	kinds      text[] NOT NULL,
	recorded   tstzrange NOT NULL CHECK (NOT isempty(recorded) AND NOT lower_inf(recorded))
);
CREATE INDEX operator_roll_history_no_idx ON operator_roll_history (licence_no, lower(recorded));
CREATE INDEX operator_roll_history_station_idx ON operator_roll_history (station, lower(recorded));
CREATE INDEX operator_roll_history_recorded_idx ON operator_roll_history USING gist (recorded);
COMMENT ON TABLE operator_roll_history IS
	'Each roll licence''s holder name, station, segment and kinds with the range of time (recorded) between the roll imports that set and changed or dropped it: the roll as of any instant; kept by statement triggers on operator_roll, dated by registry_now().';

SELECT pg_catalog.pg_extension_config_dump('operator_history', '');
SELECT pg_catalog.pg_extension_config_dump('licence_history', '');
SELECT pg_catalog.pg_extension_config_dump('operator_roll_history', '');

-- ---- the triggers ------------------------------------------------------------------
-- A new row opens a version at its own date (registered_at, added_at,
-- imported_at: registry_now() by default, or what a bulk load gave); a
-- changed row closes the open version at registry_now() and opens the new
-- one; a deleted row closes it. A version opened at that same instant (two
-- changes in one transaction) is replaced instead of closed.

-- An operator's versions from its timestamps: registered from registered_at,
-- active from activated_at, suspended from suspended_at (a row inserted
-- with a status, as a bulk load or the 0.2.0 upgrade does).
CREATE FUNCTION operator_history_versions(o operator)
	RETURNS TABLE (valid tstzrange, status text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
	WITH t AS (
		SELECT o.registered_at AS reg,
			CASE WHEN o.status = 'registered' THEN NULL
				 WHEN o.status = 'active' THEN greatest(coalesce(o.activated_at, o.registered_at), o.registered_at)
				 -- suspended: active in between when it was activated before the suspension
				 WHEN o.activated_at IS NOT NULL AND o.activated_at < coalesce(o.suspended_at, 'infinity')
					THEN greatest(o.activated_at, o.registered_at) END AS act,
			CASE WHEN o.status = 'suspended'
				THEN greatest(coalesce(o.suspended_at, o.registered_at), o.registered_at) END AS sus
	), v AS (
		SELECT t.reg AS a, coalesce(t.act, t.sus) AS b, 'registered' AS status FROM t
		UNION ALL
		SELECT t.act, t.sus, 'active' FROM t WHERE t.act IS NOT NULL
		UNION ALL
		SELECT t.sus, NULL, 'suspended' FROM t WHERE t.sus IS NOT NULL
	)
	SELECT tstzrange(v.a, v.b), v.status FROM v WHERE v.b IS NULL OR v.a < v.b
	$$;
COMMENT ON FUNCTION operator_history_versions(operator) IS
	'The status versions of an operator row from its registered_at, activated_at and suspended_at (a row inserted with a status; the 0.2.0 upgrade).';
REVOKE ALL ON FUNCTION operator_history_versions(operator) FROM PUBLIC;

-- SLH04 when a change at t would fall before the latest version of what it
-- changes (latest: the greatest start of an open version among them).
CREATE FUNCTION history_require_forward(t timestamptz, latest timestamptz, what text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF latest > t THEN
		RAISE EXCEPTION USING ERRCODE = 'SLH04',
			MESSAGE = format('registry time %s is before the latest change of this %s (%s)', t, what, latest),
			DETAIL = 'The history only grows at its end: a change never rewrites what held before another one.',
			HINT = 'Enter dated changes (shilian.registry_time) in time order.';
	END IF;
END
$$;
COMMENT ON FUNCTION history_require_forward(timestamptz, timestamptz, text) IS
	'Error SLH04 when a registry change at t would fall before the latest version (latest) of the operator, licence or roll row it changes.';
REVOKE ALL ON FUNCTION history_require_forward(timestamptz, timestamptz, text) FROM PUBLIC;

CREATE FUNCTION operator_history_keep() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	t timestamptz;
	changed bigint[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO shilian.operator_history (operator_id, valid, status, station, segment, kinds, own_system)
		SELECT n.id, v.valid, v.status, n.station, n.segment, n.kinds, n.own_system
		  FROM new_rows n, LATERAL shilian.operator_history_versions(n) v;
		RETURN NULL;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		changed := ARRAY(SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
						  WHERE (n.status, n.station, n.segment, n.kinds, n.own_system)
								IS DISTINCT FROM (o.status, o.station, o.segment, o.kinds, o.own_system));
	ELSE
		changed := ARRAY(SELECT o.id FROM old_rows o);
	END IF;
	IF cardinality(changed) = 0 THEN
		RETURN NULL;
	END IF;
	t := shilian.registry_now();
	PERFORM shilian.history_require_forward(t, (SELECT max(lower(h.valid)) FROM shilian.operator_history h
		WHERE h.operator_id = ANY (changed) AND upper_inf(h.valid)), 'operator');
	DELETE FROM shilian.operator_history h
	 WHERE h.operator_id = ANY (changed) AND upper_inf(h.valid) AND lower(h.valid) >= t;
	UPDATE shilian.operator_history h SET valid = tstzrange(lower(h.valid), t)
	 WHERE h.operator_id = ANY (changed) AND upper_inf(h.valid);
	IF TG_OP = 'UPDATE' THEN
		INSERT INTO shilian.operator_history (operator_id, valid, status, station, segment, kinds, own_system)
		SELECT n.id, tstzrange(t, NULL), n.status, n.station, n.segment, n.kinds, n.own_system
		  FROM new_rows n WHERE n.id = ANY (changed);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION operator_history_keep() IS
	'Statement trigger of operator: opens, closes and replaces the operator_history versions of the rows the statement inserted, changed (status, station, segment, kinds, own_system) or deleted, at registry_now().';
REVOKE ALL ON FUNCTION operator_history_keep() FROM PUBLIC;

-- the history so far: the registry as it is, dated by its own time stamps
INSERT INTO operator_history (operator_id, valid, status, station, segment, kinds, own_system)
SELECT o.id, v.valid, v.status, o.station, o.segment, o.kinds, o.own_system
  FROM operator o, LATERAL operator_history_versions(o) v;
INSERT INTO licence_history (licence_id, licence_no, operator_id, scope, valid_from, valid_to, recorded)
SELECT li.id, li.licence_no, li.operator_id, li.scope, li.valid_from, li.valid_to, tstzrange(li.added_at, NULL)
  FROM licence li;
INSERT INTO operator_roll_history (licence_no, name, station, segment, kinds, recorded)
SELECT r.licence_no, r.name, r.station, r.segment, r.kinds, tstzrange(r.imported_at, NULL)
  FROM operator_roll r;

CREATE TRIGGER history_ins AFTER INSERT ON operator REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION operator_history_keep();
CREATE TRIGGER history_upd AFTER UPDATE ON operator REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION operator_history_keep();
CREATE TRIGGER history_del AFTER DELETE ON operator REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION operator_history_keep();

CREATE FUNCTION licence_history_keep() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	t timestamptz;
	changed bigint[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO shilian.licence_history (licence_id, licence_no, operator_id, scope, valid_from, valid_to, recorded)
		SELECT n.id, n.licence_no, n.operator_id, n.scope, n.valid_from, n.valid_to, tstzrange(n.added_at, NULL)
		  FROM new_rows n;
		RETURN NULL;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		changed := ARRAY(SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
						  WHERE (n.licence_no, n.operator_id, n.scope, n.valid_from, n.valid_to)
								IS DISTINCT FROM (o.licence_no, o.operator_id, o.scope, o.valid_from, o.valid_to));
	ELSE
		changed := ARRAY(SELECT o.id FROM old_rows o);
	END IF;
	IF cardinality(changed) = 0 THEN
		RETURN NULL;
	END IF;
	t := shilian.registry_now();
	PERFORM shilian.history_require_forward(t, (SELECT max(lower(h.recorded)) FROM shilian.licence_history h
		WHERE h.licence_id = ANY (changed) AND upper_inf(h.recorded)), 'licence');
	DELETE FROM shilian.licence_history h
	 WHERE h.licence_id = ANY (changed) AND upper_inf(h.recorded) AND lower(h.recorded) >= t;
	UPDATE shilian.licence_history h SET recorded = tstzrange(lower(h.recorded), t)
	 WHERE h.licence_id = ANY (changed) AND upper_inf(h.recorded);
	IF TG_OP = 'UPDATE' THEN
		INSERT INTO shilian.licence_history (licence_id, licence_no, operator_id, scope, valid_from, valid_to, recorded)
		SELECT n.id, n.licence_no, n.operator_id, n.scope, n.valid_from, n.valid_to, tstzrange(t, NULL)
		  FROM new_rows n WHERE n.id = ANY (changed);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION licence_history_keep() IS
	'Statement trigger of licence: opens, closes and replaces the licence_history versions of the rows the statement inserted, changed or deleted, at registry_now().';
REVOKE ALL ON FUNCTION licence_history_keep() FROM PUBLIC;
-- by licence id (the triggers)
CREATE INDEX licence_history_id_idx ON licence_history (licence_id, lower(recorded));

CREATE TRIGGER history_ins AFTER INSERT ON licence REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION licence_history_keep();
CREATE TRIGGER history_upd AFTER UPDATE ON licence REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION licence_history_keep();
CREATE TRIGGER history_del AFTER DELETE ON licence REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION licence_history_keep();

CREATE FUNCTION roll_history_keep() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	t timestamptz;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		t := shilian.registry_now();
		PERFORM shilian.history_require_forward(t, (SELECT max(lower(h.recorded)) FROM shilian.operator_roll_history h
			WHERE upper_inf(h.recorded)), 'roll');
		DELETE FROM shilian.operator_roll_history h WHERE upper_inf(h.recorded) AND lower(h.recorded) >= t;
		UPDATE shilian.operator_roll_history h SET recorded = tstzrange(lower(h.recorded), t)
		 WHERE upper_inf(h.recorded);
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		INSERT INTO shilian.operator_roll_history (licence_no, name, station, segment, kinds, recorded)
		SELECT n.licence_no, n.name, n.station, n.segment, n.kinds, tstzrange(n.imported_at, NULL)
		  FROM new_rows n;
		RETURN NULL;
	END IF;
	t := shilian.registry_now();
	-- the rows whose version ends here: deleted, or changed in what the
	-- roll says (a re-import of the same row continues its version)
	PERFORM shilian.history_require_forward(t, (SELECT max(lower(h.recorded)) FROM shilian.operator_roll_history h
		JOIN old_rows o ON o.licence_no = h.licence_no WHERE upper_inf(h.recorded)), 'roll licence');
	IF TG_OP = 'UPDATE' THEN
		DELETE FROM shilian.operator_roll_history h
		 USING new_rows n JOIN old_rows o ON o.licence_no = n.licence_no
		 WHERE (n.name, n.station, n.segment, n.kinds) IS DISTINCT FROM (o.name, o.station, o.segment, o.kinds)
		   AND h.licence_no = o.licence_no AND upper_inf(h.recorded) AND lower(h.recorded) >= t;
		UPDATE shilian.operator_roll_history h SET recorded = tstzrange(lower(h.recorded), t)
		  FROM new_rows n JOIN old_rows o ON o.licence_no = n.licence_no
		 WHERE (n.name, n.station, n.segment, n.kinds) IS DISTINCT FROM (o.name, o.station, o.segment, o.kinds)
		   AND h.licence_no = o.licence_no AND upper_inf(h.recorded);
		INSERT INTO shilian.operator_roll_history (licence_no, name, station, segment, kinds, recorded)
		SELECT n.licence_no, n.name, n.station, n.segment, n.kinds, tstzrange(t, NULL)
		  FROM new_rows n JOIN old_rows o ON o.licence_no = n.licence_no
		 WHERE (n.name, n.station, n.segment, n.kinds) IS DISTINCT FROM (o.name, o.station, o.segment, o.kinds);
	ELSE
		DELETE FROM shilian.operator_roll_history h USING old_rows o
		 WHERE h.licence_no = o.licence_no AND upper_inf(h.recorded) AND lower(h.recorded) >= t;
		UPDATE shilian.operator_roll_history h SET recorded = tstzrange(lower(h.recorded), t)
		  FROM old_rows o
		 WHERE h.licence_no = o.licence_no AND upper_inf(h.recorded);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION roll_history_keep() IS
	'Statement trigger of operator_roll: opens the operator_roll_history version of each licence an import adds (at its imported_at), closes and reopens those it changes and closes those deleted or truncated, at registry_now().';
REVOKE ALL ON FUNCTION roll_history_keep() FROM PUBLIC;

CREATE TRIGGER history_ins AFTER INSERT ON operator_roll REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION roll_history_keep();
CREATE TRIGGER history_upd AFTER UPDATE ON operator_roll REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION roll_history_keep();
CREATE TRIGGER history_del AFTER DELETE ON operator_roll REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION roll_history_keep();
CREATE TRIGGER history_truncate AFTER TRUNCATE ON operator_roll
	FOR EACH STATEMENT EXECUTE FUNCTION roll_history_keep();

-- ---- the registry as of an instant ---------------------------------------------------
-- Invoker rights: row-level security (below) keeps a regulator to its subtree.

CREATE FUNCTION operator_as_of(at timestamptz)
	RETURNS TABLE (operator_id bigint, status text, station text, segment text, kinds text[], own_system boolean)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT h.operator_id, h.status, h.station, h.segment, h.kinds, h.own_system
	  FROM shilian.operator_history h
	 WHERE h.valid OPERATOR(pg_catalog.@>) operator_as_of.at
	$$;
COMMENT ON FUNCTION operator_as_of(timestamptz) IS
	'The operators as the registry stood at that instant: status, home station, segment, kinds, own-system flag (from operator_history). Regulators: their subtree.';
REVOKE ALL ON FUNCTION operator_as_of(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_as_of(timestamptz) TO shilian_regulator, shilian_admin;

CREATE FUNCTION licence_as_of(at timestamptz)
	RETURNS TABLE (licence_id bigint, licence_no licence_no, operator_id bigint, scope text[],
		valid_from date, valid_to date)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT h.licence_id, h.licence_no, h.operator_id, h.scope, h.valid_from, h.valid_to
	  FROM shilian.licence_history h
	 WHERE h.recorded OPERATOR(pg_catalog.@>) licence_as_of.at
	$$;
COMMENT ON FUNCTION licence_as_of(timestamptz) IS
	'The licences recorded on the platform at that instant, with holder, scope and validity dates (from licence_history). Regulators: of their subtree''s operators.';
REVOKE ALL ON FUNCTION licence_as_of(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION licence_as_of(timestamptz) TO shilian_regulator, shilian_admin;

CREATE FUNCTION roll_as_of(at timestamptz)
	RETURNS TABLE (licence_no licence_no, name text, station text, segment text, kinds text[])
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT h.licence_no, h.name, h.station, h.segment, h.kinds
	  FROM shilian.operator_roll_history h
	 WHERE h.recorded OPERATOR(pg_catalog.@>) roll_as_of.at
	$$;
COMMENT ON FUNCTION roll_as_of(timestamptz) IS
	'The operator roll as the last import before that instant left it (from operator_roll_history). Regulators: their subtree''s stations.';
REVOKE ALL ON FUNCTION roll_as_of(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION roll_as_of(timestamptz) TO shilian_regulator, shilian_admin;

-- ---- operator_update (extension/registry.c) -------------------------------------------

CREATE FUNCTION operator_update(id bigint, name text DEFAULT NULL, address text DEFAULT NULL,
		contact text DEFAULT NULL, segment text DEFAULT NULL, kinds text[] DEFAULT NULL,
		station text DEFAULT NULL, own_system boolean DEFAULT NULL, regulator_contact text DEFAULT NULL)
	RETURNS void
	AS 'MODULE_PATHNAME', 'sl_operator_update'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION operator_update(bigint, text, text, text, text, text[], text, boolean, text) IS
	'Change an operator''s registry fields (NULL: keep): the operator itself its address and contact, its regulator or the admin any field (a new station inside the regulator''s subtree); one ledger entry, dated in the history at registry_now().';
ALTER FUNCTION operator_update(bigint, text, text, text, text, text[], text, boolean, text)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION operator_update(bigint, text, text, text, text, text[], text, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_update(bigint, text, text, text, text, text[], text, boolean, text)
	TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;


-- shilian install script, part 84: who reads the registry's history (part 63;
-- docs/security.md), after the context functions of part 80.

-- Regulators the versions at home in their subtree (the licences of
-- operators at home there now), the admin all; operators and systems none.
REVOKE ALL ON operator_history, licence_history, operator_roll_history FROM PUBLIC;
GRANT SELECT ON operator_history, licence_history, operator_roll_history TO shilian_regulator, shilian_admin;
ALTER TABLE operator_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE licence_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_roll_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_history_admin ON operator_history FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_history_regulator ON operator_history FOR SELECT TO shilian_regulator
	USING (station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));
CREATE POLICY licence_history_admin ON licence_history FOR SELECT TO shilian_admin USING (true);
CREATE POLICY licence_history_regulator ON licence_history FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));
CREATE POLICY operator_roll_history_admin ON operator_roll_history FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_roll_history_regulator ON operator_roll_history FOR SELECT TO shilian_regulator
	USING (station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));

-- ---- the figures as of the period's end (part 64) ---------------------------------
CREATE OR REPLACE FUNCTION station_figures_scan(code text, period daterange, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	-- definer rights after the subtree check: the history is read for the
	-- asked subtree's stations only, and a regulator's registered and
	-- activated keep to the holders at home in its own subtree (what
	-- row-level security lets it see of licence and operator);
	-- room to hash a province's million operators in memory; no JIT: the
	-- plan's many expressions cost seconds to compile for a count that
	-- takes a fraction of that
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	SET work_mem = '256MB' SET jit = off
	AS $$
#variable_conflict use_column
DECLARE
	stations text[];
	seen text[];
	everything boolean;
	big boolean;
	whole_month boolean;
	first_day date;
	last_day date;
	t0 timestamptz;
	t1 timestamptz;
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures_scan.code);
	-- the subtree's stations as a value, so that the plan is made for its size
	-- (index probes for a county, hash joins for a province); the only
	-- province of the database is every station: no filter at all
	stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE station_figures_scan.code = ANY (j.ancestors));
	everything := (SELECT j.level = 'province' FROM shilian.jurisdiction j WHERE j.code = station_figures_scan.code)
		AND NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.level = 'province' AND j.code <> station_figures_scan.code);
	big := everything OR cardinality(stations) > 200;
	-- the home stations of the licence holders the caller may see (NULL: all)
	IF current_setting('role') = 'shilian_regulator' THEN
		seen := ARRAY(SELECT s FROM shilian.subtree_stations() AS s);
	END IF;
	-- a whole calendar month reads operator_month, any other period operator_day
	whole_month := NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)
		AND lower(period) = date_trunc('month', lower(period)::timestamp)::date
		AND upper(period) = (lower(period) + interval '1 month')::date;
	-- the period's days and instants: t0 its first instant, t1 its last one
	-- or now, whichever is earlier (the registry as of the period's end)
	IF NOT isempty(period) THEN
		first_day := CASE WHEN lower_inf(period) THEN NULL ELSE lower(period) END;
		last_day := CASE WHEN upper_inf(period) THEN NULL ELSE upper(period) - 1 END;
	END IF;
	t1 := least(now(), coalesce(shilian.platform_start(last_day + 1) - interval '1 microsecond', 'infinity'));
	t0 := least(t1, coalesce(shilian.platform_start(first_day), '-infinity'));
	IF isempty(period) THEN
		t0 := t1;
	END IF;
	-- planned on every call with the values above (EXECUTE), so that the
	-- branches for the other size of subtree and period fold away
	RETURN QUERY EXECUTE '
	WITH op AS (
		-- the operators at home in the subtree at the period''s end
		SELECT h.operator_id AS id, h.station, h.segment, h.kinds, h.own_system
		  FROM shilian.operator_history h
		 WHERE h.valid @> $7 AND ($5 OR h.station = ANY ($1))
	), act AS (
		-- the period''s counters, per operator
		SELECT m.operator_id, m.via_client::bigint AS via_client, m.receipts::bigint AS receipts,
			m.receipts_complete::bigint AS receipts_complete
		  FROM shilian.operator_month m
		 WHERE $4 AND m.month = lower($2) AND m.records > 0
		   AND ($6 OR m.operator_id IN (SELECT o.id FROM op o))
		UNION ALL
		SELECT d.operator_id, sum(d.via_client), sum(d.receipts), sum(d.receipts_complete)
		  FROM shilian.operator_day d
		 WHERE NOT $4 AND d.day <@ $2 AND d.records > 0
		   AND ($6 OR d.operator_id IN (SELECT o.id FROM op o))
		 GROUP BY d.operator_id
	), per_op AS (
		SELECT o.station, o.segment, o.own_system,
			-- active for at least part of the period
			CASE WHEN $6
				THEN o.id IN (SELECT a.operator_id FROM shilian.operator_history a
							   WHERE a.status = ''active'' AND a.valid && tstzrange($8, $7, ''[]''))
				ELSE EXISTS (SELECT 1 FROM shilian.operator_history a
							  WHERE a.operator_id = o.id AND a.status = ''active''
								AND a.valid && tstzrange($8, $7, ''[]'')) END AS active_part,
			a.operator_id IS NOT NULL AS recorded, coalesce(a.via_client, 0) AS via_client,
			coalesce(a.receipts, 0) AS receipts, coalesce(a.receipts_complete, 0) AS receipts_complete,
			-- 10+3: of a key catering kind; or holding a licence valid in
			-- the period whose scope has a key category; or, holding no
			-- licence valid in the period, producing edible agricultural
			-- products of a key category (a lot made with batch_create by
			-- the period''s end). A big subtree hashes the holders once
			-- (IN), a small one probes the indexes per operator (EXISTS)
			(o.kinds && shilian.key_catering_kinds()
				OR CASE WHEN $6
					THEN o.id IN (SELECT li.operator_id FROM shilian.licence_history li
								   WHERE li.recorded @> $7 AND li.scope && shilian.key_categories()
									 AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9))
					ELSE EXISTS (SELECT 1 FROM shilian.licence_history li
								  WHERE li.operator_id = o.id AND li.recorded @> $7 AND li.scope && shilian.key_categories()
									AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9)) END
				OR (CASE WHEN $6
					THEN o.id NOT IN (SELECT li.operator_id FROM shilian.licence_history li
									   WHERE li.recorded @> $7
										 AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9))
					ELSE NOT EXISTS (SELECT 1 FROM shilian.licence_history li
									  WHERE li.operator_id = o.id AND li.recorded @> $7
										AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9)) END
					AND EXISTS (SELECT 1 FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id
								 WHERE b.owner_id = o.id AND b.origin = ''produced'' AND p.edible_agricultural
								   AND p.category = ANY (shilian.key_categories())
								   AND ($10 IS NULL OR b.produced_on <= $10)))) AS key,
			-- a sale to it shipped in the period still pending
			CASE WHEN $6
				THEN o.id IN (SELECT l.buyer_id FROM shilian.link l
							   WHERE l.status = ''pending'' AND l.kind = ''ship'' AND l.shipped_on <@ $2)
				ELSE EXISTS (SELECT 1 FROM shilian.link l
							  WHERE l.buyer_id = o.id AND l.status = ''pending'' AND l.kind = ''ship''
								AND l.shipped_on <@ $2) END AS unreceived
		  FROM op o
		  LEFT JOIN act a ON a.operator_id = o.id
		-- not pulled up: each row''s expressions above are computed once
		OFFSET 0
	), opsum AS (
		SELECT p.station, p.segment, count(*) FILTER (WHERE p.active_part) AS operators,
			count(*) FILTER (WHERE p.active_part AND p.recorded) AS active_operators,
			count(*) FILTER (WHERE p.active_part AND p.key) AS key_operators,
			count(*) FILTER (WHERE p.active_part AND p.key AND p.recorded AND NOT p.unreceived) AS key_covered,
			count(*) FILTER (WHERE p.active_part AND p.own_system) AS own_system_operators,
			count(*) FILTER (WHERE p.active_part AND p.own_system AND p.via_client > 0) AS own_system_uploading,
			sum(p.receipts) AS receipts, sum(p.receipts_complete) AS receipts_complete
		  FROM per_op p GROUP BY p.station, p.segment
	), roll AS (
		-- the roll as of the period''s end; a licence counts as registered
		-- when the platform had recorded it by then, valid in the period,
		-- for an operator registered then (activated: active then)
		SELECT r.station, r.segment, count(*) AS licensed, count(o.status) AS registered,
			count(*) FILTER (WHERE o.status = ''active'') AS activated
		  FROM shilian.operator_roll_history r
		  LEFT JOIN shilian.licence_history li ON li.licence_no = r.licence_no AND li.recorded @> $7
			AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9)
		  LEFT JOIN shilian.operator_history o ON o.operator_id = li.operator_id AND o.valid @> $7
			AND ($11 IS NULL OR o.station = ANY ($11))
		 WHERE $3 AND r.recorded @> $7 AND ($5 OR r.station = ANY ($1))
		 GROUP BY r.station, r.segment
	)
	SELECT coalesce(r.station, o.station), coalesce(r.segment, o.segment),
		coalesce(r.licensed, 0), coalesce(r.registered, 0), coalesce(r.activated, 0),
		coalesce(o.operators, 0), coalesce(o.active_operators, 0),
		coalesce(o.key_operators, 0), coalesce(o.key_covered, 0),
		coalesce(o.own_system_operators, 0), coalesce(o.own_system_uploading, 0),
		coalesce(o.receipts, 0)::bigint, coalesce(o.receipts_complete, 0)::bigint
	  FROM roll r FULL JOIN opsum o ON o.station = r.station AND o.segment = r.segment'
	USING stations, period, with_roll, whole_month, everything, big, t1, t0, first_day, last_day, seen;
END
$$;
COMMENT ON FUNCTION station_figures_scan(text, daterange, boolean) IS
	'The raw counts per (station, segment) of the subtree for the period, as of the period''s end (now for a period not ended): the roll, licences and operators from the registry''s history, activity from operator_day / operator_month; operator figures over the operators active for part of the period. Regulators: own subtree only (42501).';

COMMENT ON FUNCTION station_figures_month(text, date, boolean) IS
	'The per-station counts of a calendar month by the registry as it is now (the definitions before 0.3.0), read from the rollups roll_station, operator_station and station_month (part 62) and the month''s pending sales; the figures read station_figures_scan (as of the period''s end). Regulators: own subtree only (42501).';

CREATE OR REPLACE FUNCTION station_figures(code text, period daterange, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures.code);
	RETURN QUERY SELECT * FROM shilian.station_figures_scan(station_figures.code, period, with_roll);
END
$$;
COMMENT ON FUNCTION station_figures(text, daterange, boolean) IS
	'Raw counts per (station, segment) of the jurisdiction''s subtree for the period, as of the period''s end (now for a period not ended), from the registry''s history (unless with_roll is false: no roll) and the counters; what jurisdiction_stats, segment_stats and monthly_report sum up. Regulators: own subtree only (42501).';

CREATE OR REPLACE FUNCTION monthly_report_rows(month date, code text)
	RETURNS TABLE (jurisdiction text, name text, level text, parent text, total boolean,
		demonstration boolean, figure text, value numeric, previous numeric, change numeric,
		rank bigint, target numeric, met boolean)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(monthly_report_rows.code);
	RETURN QUERY
	WITH m AS (
		SELECT date_trunc('month', monthly_report_rows.month::timestamp)::date AS first
	), per AS (
		SELECT 'this' AS which, daterange(m.first, (m.first + interval '1 month')::date) AS period FROM m
		UNION ALL
		SELECT 'prev', daterange((m.first - interval '1 month')::date, m.first) FROM m
	), f AS (
		SELECT p.which, f.* FROM per p, LATERAL shilian.station_figures(monthly_report_rows.code, p.period) f
	), rows AS (
		-- the asked jurisdiction and the cities and counties below it
		SELECT j.code, j.name, j.level, j.parent, j.code = monthly_report_rows.code AS total
		  FROM shilian.jurisdiction j
		 WHERE monthly_report_rows.code = ANY (j.ancestors)
		   AND (j.code = monthly_report_rows.code OR j.level IN ('city', 'county'))
	), sums AS (
		SELECT r.code, p.which,
			shilian.share(coalesce(sum(f.registered), 0)::bigint, coalesce(sum(f.licensed), 0)::bigint) AS registration_rate,
			shilian.share(coalesce(sum(f.active_operators), 0)::bigint, coalesce(sum(f.operators), 0)::bigint) AS activity_rate,
			shilian.share(coalesce(sum(f.key_covered), 0)::bigint, coalesce(sum(f.key_operators), 0)::bigint) AS coverage_rate,
			shilian.share(coalesce(sum(f.own_system_uploading), 0)::bigint,
				coalesce(sum(f.own_system_operators), 0)::bigint) AS upload_rate
		  FROM rows r CROSS JOIN (VALUES ('this'), ('prev')) p(which)
		  LEFT JOIN shilian.jurisdiction s ON r.code = ANY (s.ancestors) AND s.level = 'station'
		  LEFT JOIN f ON f.station = s.code AND f.which = p.which
		 GROUP BY r.code, p.which
	), tgt AS (
		-- the nearest row of assessment_target at or above each jurisdiction
		SELECT r.code, t.*
		  FROM rows r JOIN shilian.jurisdiction j ON j.code = r.code
		  LEFT JOIN LATERAL (
			SELECT t.demonstration, t.registration_rate, t.activity_rate, t.coverage_rate, t.upload_rate
			  FROM shilian.assessment_target t
			 WHERE t.code = ANY (j.ancestors)
			 ORDER BY array_position(j.ancestors, t.code) DESC LIMIT 1) t ON true
	), fig AS (
		SELECT r.code, r.name, r.level, r.parent, r.total, coalesce(t.demonstration, false) AS demonstration,
			x.figure, x.ord, x.value, x.previous, x.target
		  FROM rows r
		  JOIN sums a ON a.code = r.code AND a.which = 'this'
		  JOIN sums b ON b.code = r.code AND b.which = 'prev'
		  LEFT JOIN tgt t ON t.code = r.code
		  CROSS JOIN LATERAL (VALUES
			-- every figure as of its month's end: the registration rate moves too
			('registration_rate', 1, a.registration_rate, b.registration_rate, t.registration_rate),
			('activity_rate', 2, a.activity_rate, b.activity_rate, t.activity_rate),
			('coverage_rate', 3, a.coverage_rate, b.coverage_rate, t.coverage_rate),
			('upload_rate', 4, a.upload_rate, b.upload_rate, t.upload_rate)) x(figure, ord, value, previous, target)
	)
	SELECT f.code, f.name, f.level, f.parent, f.total, f.demonstration, f.figure, f.value, f.previous,
		f.value - f.previous,
		CASE WHEN NOT f.total AND f.value IS NOT NULL
			THEN rank() OVER (PARTITION BY f.parent, f.figure, f.total ORDER BY f.value DESC NULLS LAST) END,
		f.target, f.value >= f.target
	  FROM fig f
	 ORDER BY f.total DESC, f.level, f.code, f.ord;
END
$$;

-- ---- the bulk import's line kinds first_entry and reject (part 70) -------------------
CREATE OR REPLACE FUNCTION import_kind_function(kind text) RETURNS regprocedure
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN CASE kind
	WHEN 'operator' THEN 'shilian.operator_register(text,text,text[],text,text,text,shilian.uscc,text,boolean,text)'
	WHEN 'licence' THEN 'shilian.licence_add(bigint,shilian.licence_no,text[],date,date)'
	WHEN 'product' THEN 'shilian.product_register(text,text,integer,text,text,boolean,bigint)'
	WHEN 'batch' THEN 'shilian.batch_create(bigint,bigint,shilian.qty,date,text,date,jsonb)'
	WHEN 'inspection' THEN 'shilian.inspect(shilian.trace_code,text,text,jsonb,timestamptz,bigint)'
	WHEN 'ship' THEN 'shilian.ship(shilian.trace_code,bigint,shilian.qty,date,bigint)'
	WHEN 'receive' THEN 'shilian.receive(bigint,shilian.qty,jsonb,timestamptz,text,shilian.trace_code)'
	WHEN 'transform' THEN 'shilian.transform(shilian.trace_code[],shilian.qty[],bigint,shilian.qty,date,text,date,bigint)'
	WHEN 'consume' THEN 'shilian.consume(shilian.trace_code,shilian.qty,text,timestamptz,text,bigint)'
	WHEN 'first_entry' THEN 'shilian.receive_first_entry(bigint,bigint,shilian.qty,jsonb,jsonb,date,timestamptz,text,jsonb)'
	WHEN 'reject' THEN 'shilian.reject(bigint,text,timestamptz)'
	END::regprocedure;
COMMENT ON FUNCTION import_kind_function(text) IS
	'The record function an NDJSON line of the given kind calls (operator, licence, product, batch, inspection, ship, receive, first_entry, reject, transform, consume), or NULL for an unknown kind.';

CREATE OR REPLACE FUNCTION import_line_call(kind text, line jsonb) RETURNS text
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fn regprocedure := shilian.import_kind_function(kind);
	p pg_proc;
	field text;
	arg text;
	typ oid;
	args text[] := '{}';
	i int;
	renamed text := CASE kind WHEN 'inspection' THEN 'inspection_kind'
	                          WHEN 'consume' THEN 'consumption_kind' END;
	-- parameters renamed in 0.3.0 whose 0.2.0 field name a line may still use
	-- (deprecated, removed in 0.4.0): parameter -> old field
	old_field jsonb := CASE kind WHEN 'consume' THEN '{"consumed_at": "at"}' ELSE '{}' END;
BEGIN
	IF fn IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Use operator, licence, product, batch, inspection, ship, receive, first_entry, reject, transform or consume.';
	END IF;
	SELECT * INTO p FROM pg_proc WHERE oid = fn;
	-- every field must name a parameter
	FOR field IN SELECT k FROM jsonb_object_keys(line) k WHERE k <> 'kind' ORDER BY k LOOP
		arg := CASE WHEN field = renamed THEN 'kind'
			ELSE coalesce((SELECT e.key FROM jsonb_each_text(old_field) e WHERE e.value = field), field) END;
		IF arg = 'kind' AND field <> renamed OR NOT (arg = ANY (p.proargnames)) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('unknown field "%s" for kind %s', field, kind),
				HINT = format('The fields of %s are the parameters of %s.', kind, fn::text);
		END IF;
	END LOOP;
	FOR i IN 1 .. p.pronargs LOOP
		arg := p.proargnames[i];
		field := CASE WHEN arg = 'kind' THEN renamed ELSE arg END;
		IF line -> field IS NULL AND old_field ? arg THEN
			field := old_field ->> arg;
		END IF;
		typ := p.proargtypes[i - 1];
		IF line -> field IS NULL OR jsonb_typeof(line -> field) = 'null' THEN
			IF i <= p.pronargs - p.pronargdefaults THEN
				RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
					MESSAGE = format('missing field "%s" for kind %s', field, kind);
			END IF;
			CONTINUE;
		END IF;
		args := args || CASE
			WHEN typ = 'jsonb'::regtype THEN format('%I => $1 -> %L', arg, field)
			WHEN (SELECT t.typcategory = 'A' FROM pg_type t WHERE t.oid = typ) THEN
				format('%I => ARRAY(SELECT jsonb_array_elements_text($1 -> %L))::%s',
					arg, field, format_type(typ, NULL))
			-- dates and timestamps only in their strict forms (strict_date, strict_timestamptz)
			WHEN typ = 'date'::regtype THEN format('%I => shilian.strict_date($1 ->> %L, %L)', arg, field, field)
			WHEN typ = 'timestamptz'::regtype THEN
				format('%I => shilian.strict_timestamptz($1 ->> %L, %L)', arg, field, field)
			ELSE format('%I => ($1 ->> %L)::%s', arg, field, format_type(typ, NULL))
			END;
	END LOOP;
	RETURN format('SELECT %s(%s)::text', fn::oid::regproc::text, array_to_string(args, ', '));
END
$$;
