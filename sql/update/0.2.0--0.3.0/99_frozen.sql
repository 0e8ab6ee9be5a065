-- shilian upgrade script 0.2.0 -> 0.3.0, part 99: frozen months (issues 19,
-- 20, 25). The same steps as the changed parts of sql/src/64_figures.sql
-- (station_figures_detail split out of station_figures_scan, the tables
-- figures_frozen_month and figures_frozen, station_figures_sum,
-- figures_freeze; station_figures reads a frozen month's rows) and of
-- sql/src/92_schedule.sql (monthly_report_publish freezes the month it
-- issues and the one before). Full bodies of the functions earlier parts
-- created.

CREATE FUNCTION station_figures_detail(code text, period daterange, with_roll boolean DEFAULT true)
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
COMMENT ON FUNCTION station_figures_detail(text, daterange, boolean) IS
	'Internal (no grants): the raw counts of station_figures_scan with the roll''s registered and activated split by the home station of each licence''s holder (holder_station, NULL for none); roll marks the roll''s rows (the operator counts are on the others). Read by station_figures_sum and figures_freeze.';
REVOKE ALL ON FUNCTION station_figures_detail(text, daterange, boolean) FROM PUBLIC;

-- ---- frozen months ---------------------------------------------------------------
-- The counts of a month whose report has been issued, stored once by
-- figures_freeze (monthly_report_publish calls it for the month and the
-- one before): from then on every figure of that calendar month sums these
-- few rows per station instead of counting a province's operators again,
-- and gives the same answer forever (docs/regulator.md, "Frozen months").
CREATE TABLE figures_frozen_month (
	month     date PRIMARY KEY CHECK (extract(day FROM month) = 1),
	frozen_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE figures_frozen_month IS
	'The calendar months whose figures are frozen (figures_freeze): every figure of such a month reads figures_frozen.';
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
SELECT pg_catalog.pg_extension_config_dump('figures_frozen', '');
REVOKE ALL ON figures_frozen_month, figures_frozen FROM PUBLIC;
-- the admin may look; the figures read them through station_figures
GRANT SELECT ON figures_frozen_month, figures_frozen TO shilian_admin;
ALTER TABLE figures_frozen_month ENABLE ROW LEVEL SECURITY;
ALTER TABLE figures_frozen ENABLE ROW LEVEL SECURITY;
CREATE POLICY figures_frozen_month_admin ON figures_frozen_month FOR SELECT TO shilian_admin USING (true);
CREATE POLICY figures_frozen_admin ON figures_frozen FOR SELECT TO shilian_admin USING (true);

-- The counts per (station, segment) of code's subtree for period, summed
-- from station_figures_detail (frozen false: counted now) or from the frozen
-- rows of the month that period is (frozen true). A regulator's registered
-- and activated keep to the holders at home in its own subtree (what
-- row-level security lets it see of licence and operator), the admin's
-- count every holder. Internal (no grants): station_figures_scan and
-- station_figures call it.
CREATE FUNCTION station_figures_sum(code text, period daterange, with_roll boolean, frozen boolean)
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
			 WHERE NOT frozen
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
COMMENT ON FUNCTION station_figures_sum(text, daterange, boolean, boolean) IS
	'Internal (no grants): the per-station counts of station_figures_scan (frozen false: counted now) or of the frozen month that period is (frozen true), with a regulator''s registered and activated kept to the holders at home in its subtree.';
REVOKE ALL ON FUNCTION station_figures_sum(text, daterange, boolean, boolean) FROM PUBLIC;

-- The raw counts per (station, segment) of code's subtree for period, as of
-- the period's end, counted now from the history, even for a frozen month
-- (what figures_freeze stores; the regress suite compares the two).
CREATE OR REPLACE FUNCTION station_figures_scan(code text, period daterange, with_roll boolean DEFAULT true)
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


-- The raw counts per (station, segment) of code's subtree for period, as of
-- the period's end: what jurisdiction_stats, segment_stats and
-- monthly_report sum up. A frozen calendar month (figures_freeze: its report
-- was issued) reads its stored rows; any other period is counted from the
-- registry's history (station_figures_scan). The per-station rollups
-- (station_figures_month) hold the registry as it is now, and the figures
-- of a period read it as it was at the period's end.
CREATE OR REPLACE FUNCTION station_figures(code text, period daterange, with_roll boolean DEFAULT true)
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
	frozen boolean;
BEGIN
	-- first, whatever the rows would tell: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures.code);
	-- a whole calendar month that has been frozen
	frozen := NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)
		AND lower(period) = date_trunc('month', lower(period)::timestamp)::date
		AND upper(period) = (lower(period) + interval '1 month')::date
		AND EXISTS (SELECT 1 FROM shilian.figures_frozen_month m WHERE m.month = lower(period));
	RETURN QUERY SELECT * FROM shilian.station_figures_sum(station_figures.code, period, with_roll, frozen);
END
$$;
COMMENT ON FUNCTION station_figures(text, daterange, boolean) IS
	'Raw counts per (station, segment) of the jurisdiction''s subtree for the period, as of the period''s end (now for a period not ended): a frozen month''s stored counts (figures_freeze), any other period''s from the registry''s history (unless with_roll is false: no roll) and the counters; what jurisdiction_stats, segment_stats and monthly_report sum up. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION station_figures(text, daterange, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures(text, daterange, boolean) TO shilian_regulator, shilian_admin;

-- Store monthly_report(month, code) for every province, city and county and
-- send NOTIFY shilian_report {"jurisdiction","month"} for each row stored or
-- changed (delivered at commit). month: any day of it; NULL is the month
-- before today's. A month that has not ended is refused (SLX04): its figures
-- would still move. Returns how many rows were stored or changed.
CREATE OR REPLACE FUNCTION monthly_report_publish(month date DEFAULT NULL) RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	first date := date_trunc('month', coalesce(monthly_report_publish.month,
		(date_trunc('month', shilian.platform_today()) - interval '1 month')::date))::date;
	issued integer;
BEGIN
	IF first + interval '1 month' > shilian.platform_today() THEN
		RAISE EXCEPTION USING ERRCODE = 'SLX04',
			MESSAGE = format('month not ended: %s runs until %s', to_char(first, 'YYYY-MM'),
				(first + interval '1 month' - interval '1 day')::date),
			HINT = 'Publish a month after its last day; the scheduled job publishes last month''s on the 5th.';
	END IF;
	-- the month and the one before it (the report's previous values) are
	-- frozen first: the reports below, and every later figure of those
	-- months, read their stored counts (docs/regulator.md, "Frozen months")
	PERFORM shilian.figures_freeze((first - interval '1 month')::date);
	PERFORM shilian.figures_freeze(first);
	WITH up AS (
		INSERT INTO shilian.monthly_report_issue AS r (jurisdiction, month, report)
		SELECT j.code, first, shilian.monthly_report(first, j.code)
		  FROM shilian.jurisdiction j
		 WHERE j.level IN ('province', 'city', 'county')
		 ORDER BY j.code
		ON CONFLICT ON CONSTRAINT monthly_report_issue_pkey DO UPDATE SET report = excluded.report, issued_at = now()
			WHERE r.report IS DISTINCT FROM excluded.report
		RETURNING r.jurisdiction, r.month
	)
	SELECT count(pg_notify('shilian_report', json_build_object('jurisdiction', u.jurisdiction,
			'month', to_char(u.month, 'YYYY-MM'))::text))
	  INTO issued
	  FROM (SELECT * FROM up ORDER BY jurisdiction) u;
	RETURN issued;
END
$$;
COMMENT ON FUNCTION monthly_report_publish(date) IS
	'Admin (the monthly job, on the 5th): freeze the month and the one before (figures_freeze), store monthly_report of the month (NULL: last month) for every province, city and county in monthly_report_issue and NOTIFY shilian_report per row stored or changed; returns how many. SLX04 for a month not ended.';
REVOKE ALL ON FUNCTION monthly_report_publish(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION monthly_report_publish(date) TO shilian_admin;

