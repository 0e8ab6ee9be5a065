-- shilian upgrade script 0.2.0 -> 0.3.0, part 72: the regulator figures
-- (issue 25; h-figures). The same steps as the changed parts of
-- sql/src/63_history.sql: the history is restore-safe (the insert triggers
-- leave a key alone whose open version is already there; a version
-- inserted directly, as a restore does, replaces the overlapping ones of
-- its key). Full bodies of the functions 70_history.sql created.

CREATE OR REPLACE FUNCTION operator_history_keep() RETURNS trigger
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

CREATE OR REPLACE FUNCTION licence_history_keep() RETURNS trigger
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

CREATE OR REPLACE FUNCTION roll_history_keep() RETURNS trigger
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
