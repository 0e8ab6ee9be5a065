-- shilian upgrade script 0.2.0 -> 0.3.0, part 72: the regulator figures
-- (issue 25; h-figures). The same steps as the changed parts of
-- sql/src/63_history.sql: the history is restore-safe (the insert triggers
-- leave a key alone whose open version is already there; a version
-- inserted directly, as a restore does, replaces the overlapping ones of
-- its key); and of sql/src/64_figures.sql: station_figures_scan plans a
-- city's or county's probes per operator (no hash of whole tables). Full
-- bodies of the functions 70_history.sql created.

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
		-- each operator''s flags from the registry alone, before its counters
		-- are joined (below): the probes per operator are planned for the
		-- subtree''s operators, not for a join estimate over the counters
		SELECT o.id, o.station, o.segment, o.own_system,
			-- active for at least part of the period
			CASE WHEN $6
				THEN o.id IN (SELECT a.operator_id FROM shilian.operator_history a
							   WHERE a.status = ''active'' AND a.valid && tstzrange($8, $7, ''[]''))
				ELSE EXISTS (SELECT 1 FROM shilian.operator_history a
							  WHERE a.operator_id = o.id AND a.status = ''active''
								AND a.valid && tstzrange($8, $7, ''[]'') OFFSET 0) END AS active_part,
			-- 10+3: of a key catering kind; or holding a licence valid in
			-- the period whose scope has a key category; or, holding no
			-- licence valid in the period, producing edible agricultural
			-- products of a key category (a lot made with batch_create by
			-- the period''s end). A big subtree hashes the holders once
			-- (IN), a small one probes the indexes per operator (EXISTS;
			-- OFFSET 0 keeps the planner from turning it into a hash of the
			-- whole table, which it costs as cheaper for a few thousand
			-- operators and which is not at a million rows)
			(o.kinds && shilian.key_catering_kinds()
				OR CASE WHEN $6
					THEN o.id IN (SELECT li.operator_id FROM shilian.licence_history li
								   WHERE li.recorded @> $7 AND li.scope && shilian.key_categories()
									 AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9))
					ELSE EXISTS (SELECT 1 FROM shilian.licence_history li
								  WHERE li.operator_id = o.id AND li.recorded @> $7 AND li.scope && shilian.key_categories()
									AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9) OFFSET 0) END
				OR (CASE WHEN $6
					THEN o.id NOT IN (SELECT li.operator_id FROM shilian.licence_history li
									   WHERE li.recorded @> $7
										 AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9))
					ELSE NOT EXISTS (SELECT 1 FROM shilian.licence_history li
									  WHERE li.operator_id = o.id AND li.recorded @> $7
										AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9) OFFSET 0) END
					AND CASE WHEN $6
						THEN o.id IN (SELECT b.owner_id FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id
									   WHERE b.origin = ''produced'' AND p.edible_agricultural
										 AND p.category = ANY (shilian.key_categories())
										 AND ($10 IS NULL OR b.produced_on <= $10))
						ELSE EXISTS (SELECT 1 FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id
									  WHERE b.owner_id = o.id AND b.origin = ''produced'' AND p.edible_agricultural
										AND p.category = ANY (shilian.key_categories())
										AND ($10 IS NULL OR b.produced_on <= $10) OFFSET 0) END)) AS key,
			-- a sale to it shipped in the period still pending
			CASE WHEN $6
				THEN o.id IN (SELECT l.buyer_id FROM shilian.link l
							   WHERE l.status = ''pending'' AND l.kind = ''ship'' AND l.shipped_on <@ $2)
				ELSE EXISTS (SELECT 1 FROM shilian.link l
							  WHERE l.buyer_id = o.id AND l.status = ''pending'' AND l.kind = ''ship''
								AND l.shipped_on <@ $2 OFFSET 0) END AS unreceived
		  FROM op o
		-- not pulled up: each row''s expressions above are computed once
		OFFSET 0
	), per_op_act AS (
		SELECT p.*, a.operator_id IS NOT NULL AS recorded, coalesce(a.via_client, 0) AS via_client,
			coalesce(a.receipts, 0) AS receipts, coalesce(a.receipts_complete, 0) AS receipts_complete
		  FROM per_op p
		  LEFT JOIN act a ON a.operator_id = p.id
	), opsum AS (
		SELECT p.station, p.segment, count(*) FILTER (WHERE p.active_part) AS operators,
			count(*) FILTER (WHERE p.active_part AND p.recorded) AS active_operators,
			count(*) FILTER (WHERE p.active_part AND p.key) AS key_operators,
			count(*) FILTER (WHERE p.active_part AND p.key AND p.recorded AND NOT p.unreceived) AS key_covered,
			count(*) FILTER (WHERE p.active_part AND p.own_system) AS own_system_operators,
			count(*) FILTER (WHERE p.active_part AND p.own_system AND p.via_client > 0) AS own_system_uploading,
			sum(p.receipts) AS receipts, sum(p.receipts_complete) AS receipts_complete
		  FROM per_op_act p GROUP BY p.station, p.segment
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
REVOKE ALL ON FUNCTION station_figures_scan(text, daterange, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures_scan(text, daterange, boolean) TO shilian_regulator, shilian_admin;
