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
		  FROM new_rows n, LATERAL shilian.operator_history_versions(n) v
		 -- a restore that loaded the history first: it is already there
		 WHERE NOT EXISTS (SELECT 1 FROM shilian.operator_history h
							WHERE h.operator_id = n.id AND upper_inf(h.valid));
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
		  FROM new_rows n
		 -- a restore that loaded the history first: it is already there
		 WHERE NOT EXISTS (SELECT 1 FROM shilian.licence_history h
							WHERE h.licence_id = n.id AND upper_inf(h.recorded));
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
		  FROM new_rows n
		 -- a restore that loaded the history first: it is already there (a
		 -- licence back on the roll after a drop has no open version)
		 WHERE NOT EXISTS (SELECT 1 FROM shilian.operator_roll_history h
							WHERE h.licence_no = n.licence_no AND upper_inf(h.recorded));
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

-- ---- a restore ---------------------------------------------------------------------------------
-- pg_dump keeps the three history tables (pg_extension_config_dump) and the
-- tables they follow; a restore COPYs both, in the dump's order (operator,
-- then operator_history), and the insert triggers above open versions of
-- their own from the restored rows' dates (registered_at, added_at,
-- imported_at), which the dumped history then overlaps. A version inserted
-- directly into a history table (at trigger depth 0: a restore, or the
-- admin by hand; the triggers above insert at depth 1 or more) is the
-- history: it replaces the versions of the same operator, licence or roll
-- licence that overlap it. The dumped versions of one key never overlap
-- each other, and they cover the same time from the same start as the
-- derived ones, so after the restore the history is exactly the dumped one
-- whichever table came first (tests/t/026_history_dump.pl).
CREATE FUNCTION history_restore_replace() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	IF TG_TABLE_NAME = 'operator_history' THEN
		DELETE FROM shilian.operator_history h
		 WHERE h.operator_id = NEW.operator_id AND h.valid && NEW.valid;
	ELSIF TG_TABLE_NAME = 'licence_history' THEN
		DELETE FROM shilian.licence_history h
		 WHERE h.licence_id = NEW.licence_id AND h.recorded && NEW.recorded;
	ELSE
		DELETE FROM shilian.operator_roll_history h
		 WHERE h.licence_no = NEW.licence_no AND h.recorded && NEW.recorded;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION history_restore_replace() IS
	'Row trigger of the history tables for rows inserted directly (a restore): the inserted version replaces the versions of the same operator, licence or roll licence that overlap it, so a pg_dump restore leaves the dumped history exactly.';
REVOKE ALL ON FUNCTION history_restore_replace() FROM PUBLIC;

CREATE TRIGGER history_restore BEFORE INSERT ON operator_history
	FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION history_restore_replace();
CREATE TRIGGER history_restore BEFORE INSERT ON licence_history
	FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION history_restore_replace();
CREATE TRIGGER history_restore BEFORE INSERT ON operator_roll_history
	FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION history_restore_replace();

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

