-- shilian install script, part 64: the regulator's assessment figures
-- (docs/regulator.md): jurisdiction_stats and segment_stats per child
-- jurisdiction or segment, and the monthly report with ranks, month-on-month
-- change and targets. Everything is counted once per (station, segment) of
-- the asked subtree by station_figures, from the roll, the operators and
-- the per-day counters (operator_day, part 58), never from the records;
-- with the caller's rights, so row-level security applies to every row.

-- ---- assessment targets -----------------------------------------------------
-- The targets the province sets (configurable data, no rows by default):
-- a row for a jurisdiction applies to it and everything below it that has no
-- row of its own; a row for the province gives the standard targets, rows
-- for the national food-safety demonstration cities (demonstration = true)
-- their higher ones. docs/regulator.md lists the values the demo uses.
CREATE TABLE assessment_target (
	code              text PRIMARY KEY REFERENCES jurisdiction (code),
	demonstration     boolean NOT NULL DEFAULT false,
	registration_rate numeric NOT NULL CHECK (registration_rate BETWEEN 0 AND 1),
	activity_rate     numeric NOT NULL CHECK (activity_rate BETWEEN 0 AND 1),
	coverage_rate     numeric NOT NULL CHECK (coverage_rate BETWEEN 0 AND 1),
	upload_rate       numeric NOT NULL CHECK (upload_rate BETWEEN 0 AND 1)
);
COMMENT ON TABLE assessment_target IS
	'Targets of the four assessment figures for a jurisdiction and everything below it without a row of its own; demonstration marks a national food-safety demonstration city (higher targets).';
SELECT pg_catalog.pg_extension_config_dump('assessment_target', '');

-- ---- the ten key categories and the three catering kinds --------------------

CREATE FUNCTION key_categories() RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN ARRAY['vegetables', 'fruit', 'aquatic', 'grain', 'meat', 'dairy', 'edible_oil',
		'alcohol', 'health_food', 'infant_formula'];
COMMENT ON FUNCTION key_categories() IS
	'The ten key categories of the "10 + 3" priority (licence scope values).';
CREATE FUNCTION key_catering_kinds() RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN ARRAY['school_canteen', 'collective_meal', 'central_kitchen'];
COMMENT ON FUNCTION key_catering_kinds() IS
	'The three catering kinds of the "10 + 3" priority: school canteens, collective-meal delivery units, central kitchens.';

-- ---- station_figures ----------------------------------------------------------
-- The raw counts per (station, segment) of code's subtree for period, as of
-- the period's end (docs/regulator.md, "Figures as of the period's end"):
-- the roll, the licences and the operators as the registry's history
-- (part 63) has them at the period's last instant (now, for a period not
-- yet ended); activity from the counters of the records dated in the
-- period. The operator figures count the operators that were active for at
-- least part of the period, at the home station, segment, kinds and
-- own-system flag they had at its end; a licence counts when it was on the
-- platform by then and valid on a day of the period. among (not NULL): just
-- those jurisdiction codes of the subtree (the stations the month cache,
-- part 65, lacks), counted in one go.
CREATE FUNCTION station_figures_detail(code text, period daterange, with_roll boolean DEFAULT true,
		among text[] DEFAULT NULL)
	RETURNS TABLE (station text, segment text, holder_station text, roll boolean,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE
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
	-- (as STRICT would, among aside)
	IF station_figures_detail.code IS NULL OR period IS NULL OR with_roll IS NULL THEN
		RETURN;
	END IF;
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures_detail.code);
	-- the subtree's stations as a value, so that the plan is made for its size
	-- (index probes for a county, hash joins for a province); the only
	-- province of the database is every station: no filter at all
	stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE station_figures_detail.code = ANY (j.ancestors)
						AND (among IS NULL OR j.code = ANY (among)));
	everything := (SELECT j.level = 'province' FROM shilian.jurisdiction j WHERE j.code = station_figures_detail.code)
		AND NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.level = 'province' AND j.code <> station_figures_detail.code)
		AND among IS NULL;
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
		 WHERE $4 AND $6 AND m.month = lower($2) AND m.records > 0
		UNION ALL
		-- (a small subtree probes each operator''s row by its key: the
		-- month''s hundreds of thousands of rows, filtered, cost more)
		SELECT m.operator_id, m.via_client::bigint, m.receipts::bigint, m.receipts_complete::bigint
		  FROM op o CROSS JOIN LATERAL (
			SELECT m.operator_id, m.via_client, m.receipts, m.receipts_complete
			  FROM shilian.operator_month m
			 WHERE m.operator_id = o.id AND m.month = lower($2) AND m.records > 0 OFFSET 0) m
		 WHERE $4 AND NOT $6
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
COMMENT ON FUNCTION station_figures_detail(text, daterange, boolean, text[]) IS
	'Internal (no grants): the raw counts of station_figures_scan with the roll''s registered and activated split by the home station of each licence''s holder (holder_station, NULL for none); roll marks the roll''s rows (the operator counts are on the others); among: just those codes of the subtree. Read by station_figures_sum, figures_freeze and the month cache.';
REVOKE ALL ON FUNCTION station_figures_detail(text, daterange, boolean, text[]) FROM PUBLIC;

-- ---- frozen months ---------------------------------------------------------------
-- The counts of a month whose report has been issued, stored once by
-- figures_freeze (monthly_report_publish calls it for the month and the
-- one before): from then on every figure of that calendar month sums these
-- few rows per station instead of counting a province's operators again,
-- and gives the same answer forever (docs/regulator.md, "Frozen months").
-- figures_frozen_month is partitioned by month as the counters are (part
-- 58), its key each partition's own (figures_freeze inserts ON CONFLICT DO
-- NOTHING, which the month's partition checks).
CREATE TABLE figures_frozen_month (
	month     date NOT NULL CHECK (extract(day FROM month) = 1),
	frozen_at timestamptz NOT NULL DEFAULT now()
)
PARTITION BY RANGE (month);
COMMENT ON TABLE figures_frozen_month IS
	'The calendar months whose figures are frozen (figures_freeze): every figure of such a month reads figures_frozen; partitioned by month.';
CREATE TABLE figures_frozen_month_default PARTITION OF figures_frozen_month DEFAULT;
ALTER TABLE figures_frozen_month_default ADD CONSTRAINT figures_frozen_month_default_pkey PRIMARY KEY (month);
COMMENT ON TABLE figures_frozen_month_default IS
	'Default partition of shilian.figures_frozen_month: months that had no partition of their own when frozen; the template of the month partitions.';
CREATE TABLE figures_frozen (
	month                date NOT NULL,
	station              text NOT NULL,
	segment              text NOT NULL,
	holder_station       text,
	roll                 boolean NOT NULL,
	licensed             bigint NOT NULL,
	registered           bigint NOT NULL,
	activated            bigint NOT NULL,
	operators            bigint NOT NULL,
	active_operators     bigint NOT NULL,
	key_operators        bigint NOT NULL,
	key_covered          bigint NOT NULL,
	own_system_operators bigint NOT NULL,
	own_system_uploading bigint NOT NULL,
	receipts             bigint NOT NULL,
	receipts_complete    bigint NOT NULL
);
CREATE INDEX figures_frozen_month_station_idx ON figures_frozen (month, station);
COMMENT ON TABLE figures_frozen IS
	'The per-station counts of a frozen month as station_figures_detail gave them when it was frozen (figures_freeze); the roll''s rows per holder station.';
SELECT pg_catalog.pg_extension_config_dump('figures_frozen_month', '');
SELECT pg_catalog.pg_extension_config_dump('figures_frozen_month_default', '');
SELECT pg_catalog.pg_extension_config_dump('figures_frozen', '');
REVOKE ALL ON figures_frozen_month, figures_frozen FROM PUBLIC;
-- the admin may look; the figures read them through station_figures
GRANT SELECT ON figures_frozen_month, figures_frozen TO shilian_admin;
ALTER TABLE figures_frozen_month ENABLE ROW LEVEL SECURITY;
-- its partitions: read through figures_frozen_month only (no grant, no policy)
ALTER TABLE figures_frozen_month_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE figures_frozen ENABLE ROW LEVEL SECURITY;
CREATE POLICY figures_frozen_month_admin ON figures_frozen_month FOR SELECT TO shilian_admin USING (true);
CREATE POLICY figures_frozen_admin ON figures_frozen FOR SELECT TO shilian_admin USING (true);

-- The counts per (station, segment) of code's subtree for period, summed
-- from station_figures_detail (frozen and cached false: counted now), from
-- the frozen rows of the month that period is (frozen true) or from the
-- month cache of that ended month (cached true: figures_cache_detail, part
-- 65, the same rows, counted live for the stations not cached). A regulator's registered
-- and activated keep to the holders at home in its own subtree (what
-- row-level security lets it see of licence and operator), the admin's
-- count every holder. Internal (no grants): station_figures_scan and
-- station_figures call it.
CREATE FUNCTION station_figures_sum(code text, period daterange, with_roll boolean, frozen boolean,
		cached boolean DEFAULT false)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	stations text[];
	seen text[];
BEGIN
	-- first, whatever the rows below would tell: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures_sum.code);
	-- the home stations of the licence holders the caller may see (NULL: all)
	IF current_setting('role') = 'shilian_regulator' THEN
		seen := ARRAY(SELECT s FROM shilian.subtree_stations() AS s);
	END IF;
	IF frozen THEN
		stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE station_figures_sum.code = ANY (j.ancestors));
	END IF;
	RETURN QUERY
	SELECT d.station, d.segment, sum(d.licensed)::bigint,
		coalesce(sum(d.registered) FILTER (WHERE seen IS NULL OR d.holder_station = ANY (seen)), 0)::bigint,
		coalesce(sum(d.activated) FILTER (WHERE seen IS NULL OR d.holder_station = ANY (seen)), 0)::bigint,
		sum(d.operators)::bigint, sum(d.active_operators)::bigint,
		sum(d.key_operators)::bigint, sum(d.key_covered)::bigint,
		sum(d.own_system_operators)::bigint, sum(d.own_system_uploading)::bigint,
		sum(d.receipts)::bigint, sum(d.receipts_complete)::bigint
	  FROM (SELECT d.station, d.segment, d.holder_station, d.roll, d.licensed, d.registered, d.activated,
				d.operators, d.active_operators, d.key_operators, d.key_covered,
				d.own_system_operators, d.own_system_uploading, d.receipts, d.receipts_complete
			  FROM shilian.station_figures_detail(station_figures_sum.code, period, with_roll) d
			 WHERE NOT frozen AND NOT cached
			UNION ALL
			SELECT c.station, c.segment, c.holder_station, c.roll, c.licensed, c.registered, c.activated,
				c.operators, c.active_operators, c.key_operators, c.key_covered,
				c.own_system_operators, c.own_system_uploading, c.receipts, c.receipts_complete
			  FROM shilian.figures_cache_detail(station_figures_sum.code, lower(period), with_roll) c
			 WHERE cached AND NOT frozen
			UNION ALL
			SELECT f.station, f.segment, f.holder_station, f.roll, f.licensed, f.registered, f.activated,
				f.operators, f.active_operators, f.key_operators, f.key_covered,
				f.own_system_operators, f.own_system_uploading, f.receipts, f.receipts_complete
			  FROM shilian.figures_frozen f
			 WHERE frozen AND f.month = lower(period) AND f.station = ANY (stations)
			   AND (with_roll OR NOT f.roll)) d
	 GROUP BY d.station, d.segment;
END
$$;
COMMENT ON FUNCTION station_figures_sum(text, daterange, boolean, boolean, boolean) IS
	'Internal (no grants): the per-station counts of station_figures_scan (frozen and cached false: counted now), of the frozen month that period is (frozen true) or of that ended month through the month cache (cached true), with a regulator''s registered and activated kept to the holders at home in its subtree.';
REVOKE ALL ON FUNCTION station_figures_sum(text, daterange, boolean, boolean, boolean) FROM PUBLIC;

-- The raw counts per (station, segment) of code's subtree for period, as of
-- the period's end, counted now from the history, even for a frozen month
-- (what figures_freeze stores; the regress suite compares the two).
CREATE FUNCTION station_figures_scan(code text, period daterange, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	-- definer rights to call the internal station_figures_sum, which checks
	-- the caller's subtree
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM shilian.station_figures_sum(station_figures_scan.code, period, with_roll, false);
END
$$;
COMMENT ON FUNCTION station_figures_scan(text, daterange, boolean) IS
	'The raw counts per (station, segment) of the subtree for the period, as of the period''s end (now for a period not ended), counted now even for a frozen month: the roll, licences and operators from the registry''s history, activity from operator_day / operator_month; operator figures over the operators active for part of the period. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION station_figures_scan(text, daterange, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures_scan(text, daterange, boolean) TO shilian_regulator, shilian_admin;

-- Freeze a calendar month (any day of it): store station_figures_detail of
-- every province for it in figures_frozen, once (a month already frozen
-- stays as it is: returns 0). SLX04 for a month not ended. Returns the rows
-- stored. monthly_report_publish calls it for the month it issues and the
-- month before (the report's previous values).
CREATE FUNCTION figures_freeze(month date) RETURNS bigint
	LANGUAGE plpgsql VOLATILE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	first date := date_trunc('month', figures_freeze.month::timestamp)::date;
	n bigint;
BEGIN
	IF first + interval '1 month' > shilian.platform_today() THEN
		RAISE EXCEPTION USING ERRCODE = 'SLX04',
			MESSAGE = format('month not ended: %s runs until %s', to_char(first, 'YYYY-MM'),
				(first + interval '1 month' - interval '1 day')::date),
			HINT = 'Freeze a month after its last day; monthly_report_publish freezes the month it issues.';
	END IF;
	-- one freezer per month: a concurrent one waits here and finds it done
	INSERT INTO shilian.figures_frozen_month (month) VALUES (first) ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	INSERT INTO shilian.figures_frozen
	SELECT first, d.*
	  FROM shilian.jurisdiction p,
		LATERAL shilian.station_figures_detail(p.code, daterange(first, (first + interval '1 month')::date), true) d
	 WHERE p.level = 'province';
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION figures_freeze(date) IS
	'Admin: store the per-station counts of an ended calendar month (figures_frozen), once; from then on every figure of that month reads them. Returns the rows stored (0: already frozen). SLX04 for a month not ended. monthly_report_publish calls it.';
REVOKE ALL ON FUNCTION figures_freeze(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION figures_freeze(date) TO shilian_admin;


-- The same for one calendar month from the rollups (part 62): a few rows per
-- station. Definer rights, after the subtree check: the rollups are read
-- for the asked subtree's stations only, and a regulator's registered and
-- activated counts keep to what row-level security lets it see (a roll
-- licence whose holder is at home outside the regulator's own subtree
-- counts as not registered for it, as in station_figures_scan).
CREATE FUNCTION station_figures_month(code text, month date, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	stations text[];
	seen text[];
	first date := date_trunc('month', station_figures_month.month::timestamp)::date;
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures_month.code);
	stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE station_figures_month.code = ANY (j.ancestors));
	-- the home stations of the licence holders the caller may see (NULL: all)
	IF current_setting('role') = 'shilian_regulator' THEN
		seen := ARRAY(SELECT s FROM shilian.subtree_stations() AS s);
	END IF;
	-- planned with the values (EXECUTE): hashed station sets for a province
	RETURN QUERY EXECUTE '
	WITH st AS (
		SELECT DISTINCT unnest($1) AS station
	), r AS (
		SELECT r.station, r.segment, sum(r.licensed)::bigint AS licensed,
			coalesce(sum(r.registered) FILTER (WHERE $2 IS NULL OR r.holder_station = ANY ($2)), 0)::bigint AS registered,
			coalesce(sum(r.activated) FILTER (WHERE $2 IS NULL OR r.holder_station = ANY ($2)), 0)::bigint AS activated
		  FROM shilian.roll_station r JOIN st ON st.station = r.station
		 WHERE $4
		 GROUP BY r.station, r.segment
	), o AS (
		SELECT o.* FROM shilian.operator_station o JOIN st ON st.station = o.station
	), m AS (
		SELECT m.* FROM shilian.station_month m JOIN st ON st.station = m.station WHERE m.month = $3
	), p AS (
		-- of the active 10+3 operators that recorded in the month, those
		-- with a sale to them shipped in the month still pending
		-- (a big subtree joins the month''s pending buyers, a small one
		-- probes link_buyer_pending_idx per operator of the subtree)
		SELECT o.station, o.segment, count(*) AS n
		  FROM shilian.operator o JOIN st ON st.station = o.station
		 WHERE ' || CASE WHEN cardinality(stations) > 200 THEN
			'o.id IN (SELECT l.buyer_id FROM shilian.link l
					   WHERE l.status = ''pending'' AND l.kind = ''ship''
						 AND l.shipped_on >= $3 AND l.shipped_on < ($3 + interval ''1 month'')::date)'
		ELSE
			'CASE WHEN true THEN EXISTS (SELECT 1 FROM shilian.link l
					  WHERE l.buyer_id = o.id AND l.status = ''pending'' AND l.kind = ''ship''
						AND l.shipped_on >= $3 AND l.shipped_on < ($3 + interval ''1 month'')::date) END' END || '
		   AND o.status = ''active''
		   AND EXISTS (SELECT 1 FROM shilian.operator_month om
						WHERE om.operator_id = o.id AND om.month = $3 AND om.records > 0)
		   -- operator_is_key, written out (a function with a sub-select is not inlined)
		   AND (o.kinds && shilian.key_catering_kinds()
				OR EXISTS (SELECT 1 FROM shilian.licence li
							WHERE li.operator_id = o.id AND li.scope && shilian.key_categories()))
		 GROUP BY o.station, o.segment
	)
	SELECT coalesce(r.station, o.station), coalesce(r.segment, o.segment),
		coalesce(r.licensed, 0), coalesce(r.registered, 0), coalesce(r.activated, 0),
		coalesce(o.operators, 0), coalesce(m.active_operators, 0),
		coalesce(o.key_operators, 0), coalesce(m.key_recorded, 0) - coalesce(p.n, 0),
		coalesce(o.own_system_operators, 0), coalesce(m.own_system_uploading, 0),
		coalesce(m.receipts, 0), coalesce(m.receipts_complete, 0)
	  FROM r FULL JOIN o ON o.station = r.station AND o.segment = r.segment
	  LEFT JOIN m ON m.station = coalesce(r.station, o.station) AND m.segment = coalesce(r.segment, o.segment)
	  LEFT JOIN p ON p.station = coalesce(r.station, o.station) AND p.segment = coalesce(r.segment, o.segment)'
	USING stations, seen, first, with_roll;
END
$$;
COMMENT ON FUNCTION station_figures_month(text, date, boolean) IS
	'The per-station counts of a calendar month by the registry as it is now (the definitions before 0.3.0), read from the rollups roll_station, operator_station and station_month (part 62) and the month''s pending sales; the figures read station_figures_scan (as of the period''s end). Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION station_figures_month(text, date, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures_month(text, date, boolean) TO shilian_regulator, shilian_admin;

-- The raw counts per (station, segment) of code's subtree for period, as of
-- the period's end: what jurisdiction_stats, segment_stats and
-- monthly_report sum up. A frozen calendar month (figures_freeze: its report
-- was issued) reads its stored rows; another ended calendar month reads the
-- month cache (part 65) for its clean stations and counts the others; any
-- other period is counted from the registry's history (station_figures_scan),
-- with the same rows each way. The per-station rollups
-- (station_figures_month) hold the registry as it is now, and the figures
-- of a period read it as it was at the period's end.
CREATE FUNCTION station_figures(code text, period daterange, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	-- definer rights to call the internal station_figures_sum, which checks
	-- the caller's subtree
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	whole_month boolean;
	frozen boolean;
BEGIN
	-- first, whatever the rows would tell: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures.code);
	-- a whole calendar month: frozen, or else ended (the month cache)
	whole_month := NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)
		AND lower(period) = date_trunc('month', lower(period)::timestamp)::date
		AND upper(period) = (lower(period) + interval '1 month')::date;
	frozen := whole_month AND EXISTS (SELECT 1 FROM shilian.figures_frozen_month m WHERE m.month = lower(period));
	RETURN QUERY SELECT * FROM shilian.station_figures_sum(station_figures.code, period, with_roll, frozen,
		whole_month AND NOT frozen AND upper(period) <= shilian.figures_cache_horizon());
END
$$;
COMMENT ON FUNCTION station_figures(text, daterange, boolean) IS
	'Raw counts per (station, segment) of the jurisdiction''s subtree for the period, as of the period''s end (now for a period not ended): a frozen month''s stored counts (figures_freeze), an ended month''s cached counts for its clean stations (figures_cache_refresh), any other period''s from the registry''s history (unless with_roll is false: no roll) and the counters; what jurisdiction_stats, segment_stats and monthly_report sum up. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION station_figures(text, daterange, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures(text, daterange, boolean) TO shilian_regulator, shilian_admin;

-- A share rounded to 4 places; NULL when nothing to divide by.
CREATE FUNCTION share(part bigint, whole bigint) RETURNS numeric
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN round(part::numeric / nullif(whole, 0), 4);
COMMENT ON FUNCTION share(bigint, bigint) IS 'part ÷ whole rounded to 4 places, NULL when whole is 0.';

-- ---- jurisdiction_stats -------------------------------------------------------

CREATE FUNCTION jurisdiction_stats(code text, period daterange)
	RETURNS TABLE (jurisdiction text, name text, total boolean,
		licensed bigint, registered bigint, activated bigint, registration_rate numeric,
		operators bigint, active_operators bigint, activity_rate numeric,
		key_operators bigint, key_covered bigint, coverage_rate numeric,
		own_system_operators bigint, own_system_uploading bigint, upload_rate numeric,
		receipts bigint, receipts_complete bigint, completeness_rate numeric)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(jurisdiction_stats.code);
	RETURN QUERY
	WITH f AS (
		SELECT f.* FROM shilian.station_figures(jurisdiction_stats.code, jurisdiction_stats.period) f
	), parts AS (
		-- each child jurisdiction, and the asked one itself as the total
		SELECT j.code, j.name, false AS total FROM shilian.jurisdiction j WHERE j.parent = jurisdiction_stats.code
		UNION ALL
		SELECT j.code, j.name, true FROM shilian.jurisdiction j WHERE j.code = jurisdiction_stats.code
	), fig AS (
		SELECT p.code, p.name, p.total,
			coalesce(sum(f.licensed), 0)::bigint AS licensed,
			coalesce(sum(f.registered), 0)::bigint AS registered,
			coalesce(sum(f.activated), 0)::bigint AS activated,
			coalesce(sum(f.operators), 0)::bigint AS operators,
			coalesce(sum(f.active_operators), 0)::bigint AS active_operators,
			coalesce(sum(f.key_operators), 0)::bigint AS key_operators,
			coalesce(sum(f.key_covered), 0)::bigint AS key_covered,
			coalesce(sum(f.own_system_operators), 0)::bigint AS own_system_operators,
			coalesce(sum(f.own_system_uploading), 0)::bigint AS own_system_uploading,
			coalesce(sum(f.receipts), 0)::bigint AS receipts,
			coalesce(sum(f.receipts_complete), 0)::bigint AS receipts_complete
		  FROM parts p
		  LEFT JOIN shilian.jurisdiction s ON p.code = ANY (s.ancestors)
			AND s.code IN (SELECT f.station FROM f)
		  LEFT JOIN f ON f.station = s.code
		 GROUP BY p.code, p.name, p.total
	)
	SELECT f.code, f.name, f.total, f.licensed, f.registered, f.activated,
		shilian.share(f.registered, f.licensed), f.operators, f.active_operators,
		shilian.share(f.active_operators, f.operators),
		f.key_operators, f.key_covered, shilian.share(f.key_covered, f.key_operators),
		f.own_system_operators, f.own_system_uploading, shilian.share(f.own_system_uploading, f.own_system_operators),
		f.receipts, f.receipts_complete, shilian.share(f.receipts_complete, f.receipts)
	  FROM fig f
	 ORDER BY f.total, f.code;
END
$$;
COMMENT ON FUNCTION jurisdiction_stats(text, daterange) IS
	'Per child jurisdiction and in total (total true): licences on the roll, registered, activated, registration rate; operators, active in the period, activity rate; 10+3 operators, covered, coverage rate; own-system operators, uploading, upload rate; receipts, complete, completeness rate. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION jurisdiction_stats(text, daterange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jurisdiction_stats(text, daterange) TO shilian_regulator, shilian_admin;

-- ---- segment_stats --------------------------------------------------------------

CREATE FUNCTION segment_stats(code text, period daterange)
	RETURNS TABLE (segment text,
		licensed bigint, registered bigint, activated bigint, registration_rate numeric,
		operators bigint, active_operators bigint, activity_rate numeric,
		key_operators bigint, key_covered bigint, coverage_rate numeric,
		own_system_operators bigint, own_system_uploading bigint, upload_rate numeric,
		receipts bigint, receipts_complete bigint, completeness_rate numeric)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(segment_stats.code);
	RETURN QUERY
	WITH g AS (
		SELECT s.segment,
			coalesce(sum(f.licensed), 0)::bigint AS licensed,
			coalesce(sum(f.registered), 0)::bigint AS registered,
			coalesce(sum(f.activated), 0)::bigint AS activated,
			coalesce(sum(f.operators), 0)::bigint AS operators,
			coalesce(sum(f.active_operators), 0)::bigint AS active_operators,
			coalesce(sum(f.key_operators), 0)::bigint AS key_operators,
			coalesce(sum(f.key_covered), 0)::bigint AS key_covered,
			coalesce(sum(f.own_system_operators), 0)::bigint AS own_system_operators,
			coalesce(sum(f.own_system_uploading), 0)::bigint AS own_system_uploading,
			coalesce(sum(f.receipts), 0)::bigint AS receipts,
			coalesce(sum(f.receipts_complete), 0)::bigint AS receipts_complete
		  FROM unnest(ARRAY['production', 'circulation', 'catering', 'special_food']) WITH ORDINALITY AS s(segment, o)
		  LEFT JOIN shilian.station_figures(segment_stats.code, segment_stats.period) f ON f.segment = s.segment
		 GROUP BY s.segment, s.o
		 ORDER BY s.o
	)
	SELECT g.segment, g.licensed, g.registered, g.activated, shilian.share(g.registered, g.licensed),
		g.operators, g.active_operators, shilian.share(g.active_operators, g.operators),
		g.key_operators, g.key_covered, shilian.share(g.key_covered, g.key_operators),
		g.own_system_operators, g.own_system_uploading, shilian.share(g.own_system_uploading, g.own_system_operators),
		g.receipts, g.receipts_complete, shilian.share(g.receipts_complete, g.receipts)
	  FROM g;
END
$$;
COMMENT ON FUNCTION segment_stats(text, daterange) IS
	'The figures of jurisdiction_stats for the whole subtree of the jurisdiction, one row per supervision segment (production, circulation, catering, special_food). Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION segment_stats(text, daterange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segment_stats(text, daterange) TO shilian_regulator, shilian_admin;

-- ---- monthly_report -----------------------------------------------------------------
-- The four assessment figures for month (any day in it) and the month before,
-- for code and every city and county under it: value, previous value,
-- change, rank among the siblings in the report (1 = best; ties share a
-- rank), the target that applies and whether it is met.

CREATE FUNCTION monthly_report_rows(month date, code text)
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
COMMENT ON FUNCTION monthly_report_rows(date, text) IS
	'The monthly report as rows: per jurisdiction (the asked one, then its cities and counties) and figure, the month''s value, the previous month''s, the change, rank among siblings, target and whether met. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION monthly_report_rows(date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION monthly_report_rows(date, text) TO shilian_regulator, shilian_admin;

CREATE FUNCTION monthly_report(month date, code text) RETURNS jsonb
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
	WITH r AS (
		SELECT * FROM shilian.monthly_report_rows(monthly_report.month, monthly_report.code)
	), j AS (
		SELECT r.jurisdiction, r.name, r.level, r.parent, r.total, r.demonstration,
			jsonb_object_agg(r.figure, jsonb_build_object('value', r.value, 'previous', r.previous,
				'change', r.change, 'rank', r.rank, 'target', r.target, 'met', r.met)) AS figures
		  FROM r GROUP BY 1, 2, 3, 4, 5, 6
	)
	SELECT jsonb_build_object(
		'month', to_char(monthly_report.month, 'YYYY-MM'),
		'previous_month', to_char(monthly_report.month - interval '1 month', 'YYYY-MM'),
		'jurisdiction', monthly_report.code,
		'figures', jsonb_build_array('registration_rate', 'activity_rate', 'coverage_rate', 'upload_rate'),
		'total', (SELECT to_jsonb(j) - 'total' FROM j WHERE j.total),
		'cities', coalesce((SELECT jsonb_agg(to_jsonb(j) - 'total' ORDER BY j.jurisdiction)
			FROM j WHERE NOT j.total AND j.level = 'city'), '[]'),
		'counties', coalesce((SELECT jsonb_agg(to_jsonb(j) - 'total' ORDER BY j.jurisdiction)
			FROM j WHERE NOT j.total AND j.level = 'county'), '[]'))
	$$;
COMMENT ON FUNCTION monthly_report(date, text) IS
	'The four assessment figures (registration, activity, 10+3 coverage, own-system upload rate) of the month for the jurisdiction and each city and county under it, with previous month, change, rank among siblings, target and demonstration-city flag, as one JSON document. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION monthly_report(date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION monthly_report(date, text) TO shilian_regulator, shilian_admin;

-- The same as CSV (RFC 4180, header line, one line per jurisdiction and
-- figure), for the gateway's text/csv form.
CREATE FUNCTION monthly_report_csv(month date, code text) RETURNS text
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
	SELECT 'month,jurisdiction,name,level,parent,demonstration,figure,value,previous,change,rank,target,met' || E'\r\n'
		|| coalesce(string_agg(concat_ws(',', to_char(monthly_report_csv.month, 'YYYY-MM'), r.jurisdiction,
			'"' || replace(r.name, '"', '""') || '"', r.level, coalesce(r.parent, ''), r.demonstration::text,
			r.figure, coalesce(r.value::text, ''), coalesce(r.previous::text, ''), coalesce(r.change::text, ''),
			coalesce(r.rank::text, ''), coalesce(r.target::text, ''), coalesce(r.met::text, '')) || E'\r\n',
			'' ORDER BY r.total DESC, r.level, r.jurisdiction,
			array_position(ARRAY['registration_rate', 'activity_rate', 'coverage_rate', 'upload_rate'], r.figure)), '')
	  FROM shilian.monthly_report_rows(monthly_report_csv.month, monthly_report_csv.code) r
	$$;
COMMENT ON FUNCTION monthly_report_csv(date, text) IS
	'monthly_report as CSV with a header line: month, jurisdiction, name, level, parent, demonstration, figure, value, previous, change, rank, target, met. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION monthly_report_csv(date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION monthly_report_csv(date, text) TO shilian_regulator, shilian_admin;
