-- 0.2.0 -> 0.3.0, part 99p: the counted figures look up less (issue 19).
-- station_figures_detail (part 99's body otherwise), the same counts:
-- an operator active at the period's end was active in it, so the earlier
-- versions are looked up only for the others; and the rare "no licence
-- valid in the period, a key-category lot" test of the 10+3 flag is probed
-- per operator for a province too, instead of hashing every licence and
-- every lot of the province (docs/regulator.md, "Cost").
CREATE OR REPLACE FUNCTION station_figures_detail(code text, period daterange, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text, holder_station text, roll boolean,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	-- definer rights after the subtree check: the history is read for the
	-- asked subtree's stations only; granted to nobody, since its
	-- holder_station rows tell about holders outside a regulator's subtree
	-- (its callers, station_figures_sum and figures_freeze, are the
	-- owner's and sum them as the caller may see);
	-- room to hash a province's million operators in memory; no JIT: the
	-- plan's many expressions cost seconds to compile for a count that
	-- takes a fraction of that
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	SET work_mem = '256MB' SET jit = off
	AS $$
#variable_conflict use_column
DECLARE
	stations text[];
	everything boolean;
	big boolean;
	whole_month boolean;
	first_day date;
	last_day date;
	t0 timestamptz;
	t1 timestamptz;
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures_detail.code);
	-- the subtree's stations as a value, so that the plan is made for its size
	-- (index probes for a county, hash joins for a province); the only
	-- province of the database is every station: no filter at all
	stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE station_figures_detail.code = ANY (j.ancestors));
	everything := (SELECT j.level = 'province' FROM shilian.jurisdiction j WHERE j.code = station_figures_detail.code)
		AND NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.level = 'province' AND j.code <> station_figures_detail.code);
	big := everything OR cardinality(stations) > 200;
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
		SELECT h.operator_id AS id, h.station, h.segment, h.kinds, h.own_system, h.status
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
			-- active for at least part of the period: at its end (the
			-- version above, valid at $7, which is in the period), or else
			-- in an earlier version (looked up only for the operators not
			-- active at the end)
			o.status = ''active'' OR CASE WHEN $6
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
				-- (asked only of the few operators neither of a key kind
				-- nor holding a key licence: probed per operator even for a
				-- province, where a hash would read every licence and every
				-- lot of the province for them)
				OR (NOT EXISTS (SELECT 1 FROM shilian.licence_history li
								 WHERE li.operator_id = o.id AND li.recorded @> $7
								   AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9) OFFSET 0)
					AND EXISTS (SELECT 1 FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id
								 WHERE b.owner_id = o.id AND b.origin = ''produced'' AND p.edible_agricultural
								   AND p.category = ANY (shilian.key_categories())
								   AND ($10 IS NULL OR b.produced_on <= $10) OFFSET 0))) AS key,
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
		-- for an operator registered then (activated: active then); per
		-- home station of that operator (the holder''s; NULL for none)
		SELECT r.station, r.segment, o.station AS holder_station, count(*) AS licensed,
			count(o.status) AS registered, count(*) FILTER (WHERE o.status = ''active'') AS activated
		  FROM shilian.operator_roll_history r
		  LEFT JOIN shilian.licence_history li ON li.licence_no = r.licence_no AND li.recorded @> $7
			AND ($10 IS NULL OR li.valid_from <= $10) AND ($9 IS NULL OR li.valid_to >= $9)
		  LEFT JOIN shilian.operator_history o ON o.operator_id = li.operator_id AND o.valid @> $7
		 WHERE $3 AND r.recorded @> $7 AND ($5 OR r.station = ANY ($1))
		 GROUP BY r.station, r.segment, o.station
	)
	-- the roll''s rows (per holder station), then the operators''
	SELECT r.station, r.segment, r.holder_station, true, r.licensed, r.registered, r.activated,
		0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint
	  FROM roll r
	UNION ALL
	SELECT o.station, o.segment, NULL, false, 0, 0, 0, o.operators, o.active_operators,
		o.key_operators, o.key_covered, o.own_system_operators, o.own_system_uploading,
		coalesce(o.receipts, 0)::bigint, coalesce(o.receipts_complete, 0)::bigint
	  FROM opsum o'
	USING stations, period, with_roll, whole_month, everything, big, t1, t0, first_day, last_day;
END
$$;
