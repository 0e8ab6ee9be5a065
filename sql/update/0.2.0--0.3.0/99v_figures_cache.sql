-- 0.2.0 -> 0.3.0, part 99v: the month cache (issue 19, "counted months").
-- Part 65 of the install script: figures_cache, figures_cache_station,
-- figures_cache_dirty, the writers' marks (triggers on the history tables,
-- link, batch, product, operator_month; the counters' flush inserts its
-- own), figures_cache_detail and figures_cache_refresh. Of part 64:
-- station_figures_detail gains among (the stations to count; a new
-- signature, dropped and made again: its body is 99p's with that, and a
-- small subtree probes operator_month per operator), station_figures_sum
-- its cached argument (likewise), and station_figures reads the cache for
-- an ended, unfrozen month; job_plan gains the hourly refresh.
DROP FUNCTION station_figures_detail(text, daterange, boolean);
DROP FUNCTION station_figures_sum(text, daterange, boolean, boolean);

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

-- ---- the tables --------------------------------------------------------------------
-- A (month, station) row: station's rows of month in figures_cache are
-- station_figures_detail's, as the refresh counted them (station: any
-- jurisdiction code of the province; most have no rows of their own).
CREATE TABLE figures_cache_station (
	month     date NOT NULL CHECK (extract(day FROM month) = 1),
	station   text NOT NULL,
	cached_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (month, station)
);
COMMENT ON TABLE figures_cache_station IS
	'The (month, station) pairs whose figures figures_cache holds (figures_cache_refresh): clean unless a row of figures_cache_dirty covers them.';
CREATE TABLE figures_cache (
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
CREATE INDEX figures_cache_month_station_idx ON figures_cache (month, station);
COMMENT ON TABLE figures_cache IS
	'The per-station counts of an ended, unfrozen calendar month as station_figures_detail gave them when figures_cache_refresh stored them (the stations figures_cache_station lists); the roll''s rows per holder station.';
-- Written by every change that may move an ended month's figures (the
-- triggers below and the counters' flush, extension/activity.c): station's
-- figures of the months month_from .. month_to (NULL: every month from
-- month_from on) are no longer the cached ones. Only inserted, so that a
-- writer at any isolation level marks what a refresh running beside it
-- stores; figures_cache_refresh consumes the rows it sees.
CREATE TABLE figures_cache_dirty (
	station    text NOT NULL,
	month_from date NOT NULL,
	month_to   date,
	at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX figures_cache_dirty_station_idx ON figures_cache_dirty (station, month_from);
COMMENT ON TABLE figures_cache_dirty IS
	'Stations whose cached figures of the months month_from .. month_to (NULL: on) a write may have moved since they were cached; consumed by figures_cache_refresh, and the figures count them live until then.';
SELECT pg_catalog.pg_extension_config_dump('figures_cache_station', '');
SELECT pg_catalog.pg_extension_config_dump('figures_cache', '');
SELECT pg_catalog.pg_extension_config_dump('figures_cache_dirty', '');
REVOKE ALL ON figures_cache_station, figures_cache, figures_cache_dirty FROM PUBLIC;
-- the admin may look; the figures read them through station_figures, the
-- writers through the definer functions below
GRANT SELECT ON figures_cache_station, figures_cache, figures_cache_dirty TO shilian_admin;
ALTER TABLE figures_cache_station ENABLE ROW LEVEL SECURITY;
ALTER TABLE figures_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE figures_cache_dirty ENABLE ROW LEVEL SECURITY;
CREATE POLICY figures_cache_station_admin ON figures_cache_station FOR SELECT TO shilian_admin USING (true);
CREATE POLICY figures_cache_admin ON figures_cache FOR SELECT TO shilian_admin USING (true);
CREATE POLICY figures_cache_dirty_admin ON figures_cache_dirty FOR SELECT TO shilian_admin USING (true);

-- The first day of the current platform month: every month before it has
-- ended, and only a write into one of those can move a cached month.
CREATE FUNCTION figures_cache_horizon() RETURNS date
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN date_trunc('month', shilian.platform_today()::timestamp)::date;
COMMENT ON FUNCTION figures_cache_horizon() IS
	'The first day of the current platform month: the writes dated before it (ended months) mark the month cache dirty.';

-- ---- what moves a month ------------------------------------------------------------
-- station_figures_detail of month M reads, for the operators of a station:
-- operator_history at M's end and over M (status, station, segment, kinds,
-- own-system), licence_history recorded at M's end (key licence, any
-- licence), the key lots (batch, product) produced by M's end, the sales to
-- them shipped in M still pending (link), operator_month / operator_day of
-- M; and for the roll's rows at the roll's station: operator_roll_history
-- recorded at M's end, each roll licence's licence_history and its holder's
-- operator_history. Each is marked below: a change of the history dated at
-- t moves the months that end after t (the history only grows at its end,
-- so a change at now moves no ended month, and a licence or roll version
-- recorded after M's end is not "recorded by then": it cannot move M), a
-- counter row of an ended month moves that month, a sale's status or a
-- key lot dated in an ended month moves that month (the lot, every month
-- from its own on).

-- Mark the stations of these operators (every home station their history
-- has; with roll, also the roll stations of their licences, whose
-- registered / activated the holder's status and station move) and the
-- given stations dirty for month_from .. month_to (NULL: on). Nothing for
-- months not ended. A statement about many operators (a bulk load) marks
-- every station.
CREATE FUNCTION figures_cache_mark(ops bigint[], stations text[], month_from date, month_to date, with_roll boolean)
	RETURNS void
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	horizon date := shilian.figures_cache_horizon();
BEGIN
	IF month_from IS NULL OR month_from >= horizon THEN
		RETURN;
	END IF;
	month_from := date_trunc('month', month_from::timestamp)::date;
	IF month_to IS NOT NULL THEN
		month_to := date_trunc('month', month_to::timestamp)::date;
	END IF;
	IF cardinality(ops) > 1000 OR cardinality(stations) > 1000 THEN
		INSERT INTO shilian.figures_cache_dirty (station, month_from, month_to)
		SELECT j.code, month_from, month_to FROM shilian.jurisdiction j;
		RETURN;
	END IF;
	INSERT INTO shilian.figures_cache_dirty (station, month_from, month_to)
	SELECT s.station, month_from, month_to
	  FROM (SELECT h.station FROM shilian.operator_history h WHERE h.operator_id = ANY (ops)
			UNION
			SELECT r.station FROM shilian.licence_history li
			  JOIN shilian.operator_roll_history r ON r.licence_no = li.licence_no
			 WHERE with_roll AND li.operator_id = ANY (ops)
			UNION
			SELECT unnest(stations)) s
	 WHERE s.station IS NOT NULL;
END
$$;
COMMENT ON FUNCTION figures_cache_mark(bigint[], text[], date, date, boolean) IS
	'Internal (no grants): mark the month cache dirty for the home stations of these operators (with_roll: and the roll stations of their licences) and the given stations, for the months month_from .. month_to (NULL: on) that have ended.';
REVOKE ALL ON FUNCTION figures_cache_mark(bigint[], text[], date, date, boolean) FROM PUBLIC;

-- The registry's history (statement triggers on the three history tables,
-- which every registry change, dated or not, and a restore write). A version
-- inserted or deleted moves the months from its start; a version changed in
-- place (the same key and start: closed, reopened) from where the old and
-- the new one first differ.
CREATE FUNCTION figures_cache_history_changed() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	horizon timestamptz := shilian.platform_start(shilian.figures_cache_horizon());
	cols text;
	c text;
	t timestamptz;
	ops bigint[];
	stations text[];
	lics text[];
BEGIN
	-- the statement's versions as (k: o old / n new, range, operator,
	-- station, licence number); fixed text only, by table and operation
	-- (the transition tables are the statement's)
	cols := CASE TG_TABLE_NAME
		WHEN 'operator_history' THEN 'x.valid, x.operator_id, x.station, NULL::text'
		WHEN 'licence_history' THEN 'x.recorded, x.operator_id, NULL::text, x.licence_no::text'
		ELSE 'x.recorded, NULL::bigint, x.station, x.licence_no::text' END;
	c := 'WITH c(k, r, op, st, lic) AS (' || concat_ws(' UNION ALL ',
		CASE WHEN TG_OP <> 'DELETE' THEN 'SELECT ''n'', ' || cols || ' FROM new_rows x' END,
		CASE WHEN TG_OP <> 'INSERT' THEN 'SELECT ''o'', ' || cols || ' FROM old_rows x' END) || ') ';
	-- where the history changed: an old and a new version of the same key
	-- and start differ from the earlier of their ends (from the start when
	-- the range is the same: other columns changed); any other version from
	-- its start
	IF TG_OP = 'UPDATE' THEN
		EXECUTE c || '
		SELECT min(CASE WHEN o.k IS NULL OR n.k IS NULL THEN lower(coalesce(n.r, o.r))
						WHEN o.r = n.r THEN lower(n.r)
						ELSE least(upper(o.r), upper(n.r)) END)
		  FROM (SELECT * FROM c WHERE c.k = ''o'') o
		  FULL JOIN (SELECT * FROM c WHERE c.k = ''n'') n
			ON n.op IS NOT DISTINCT FROM o.op AND n.lic IS NOT DISTINCT FROM o.lic
		   AND n.st IS NOT DISTINCT FROM o.st AND lower(n.r) = lower(o.r)' INTO t;
	ELSE
		EXECUTE c || 'SELECT min(lower(c.r)) FROM c' INTO t;
	END IF;
	IF t IS NULL OR t >= horizon THEN
		RETURN NULL;
	END IF;
	EXECUTE c || 'SELECT ARRAY(SELECT DISTINCT c.op FROM c WHERE c.op IS NOT NULL),
		ARRAY(SELECT DISTINCT c.st FROM c WHERE c.st IS NOT NULL),
		ARRAY(SELECT DISTINCT c.lic FROM c WHERE c.lic IS NOT NULL)' INTO ops, stations, lics;
	IF TG_TABLE_NAME = 'licence_history' THEN
		-- the roll's rows of these licences, at the roll's station
		stations := stations || ARRAY(SELECT DISTINCT r.station FROM shilian.operator_roll_history r
			WHERE r.licence_no::text = ANY (lics));
	END IF;
	PERFORM shilian.figures_cache_mark(ops, stations, shilian.platform_date(t), NULL,
		TG_TABLE_NAME = 'operator_history');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION figures_cache_history_changed() IS
	'Statement trigger of operator_history, licence_history and operator_roll_history: a change of the history before the current month marks the stations it may move dirty in the month cache, for every month from the change on.';
REVOKE ALL ON FUNCTION figures_cache_history_changed() FROM PUBLIC;

CREATE TRIGGER figures_cache_ins AFTER INSERT ON operator_history REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_history_changed();
CREATE TRIGGER figures_cache_upd AFTER UPDATE ON operator_history REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_history_changed();
CREATE TRIGGER figures_cache_del AFTER DELETE ON operator_history REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_history_changed();
CREATE TRIGGER figures_cache_ins AFTER INSERT ON licence_history REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_history_changed();
CREATE TRIGGER figures_cache_upd AFTER UPDATE ON licence_history REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_history_changed();
CREATE TRIGGER figures_cache_del AFTER DELETE ON licence_history REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_history_changed();
CREATE TRIGGER figures_cache_ins AFTER INSERT ON operator_roll_history REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_history_changed();
CREATE TRIGGER figures_cache_upd AFTER UPDATE ON operator_roll_history REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_history_changed();
CREATE TRIGGER figures_cache_del AFTER DELETE ON operator_roll_history REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_history_changed();

-- A sale (link kind ship) shipped in an ended month whose buyer, status or
-- date changed, or that was recorded or removed late: its buyers' stations,
-- for its months (key_covered: a sale to the buyer shipped in the month
-- still pending). Only rows dated before the current month reach it (WHEN).
CREATE FUNCTION figures_cache_link_changed() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		PERFORM shilian.figures_cache_mark(ARRAY[OLD.buyer_id], NULL, OLD.shipped_on, OLD.shipped_on, false);
	END IF;
	IF TG_OP <> 'DELETE' THEN
		PERFORM shilian.figures_cache_mark(ARRAY[NEW.buyer_id], NULL, NEW.shipped_on, NEW.shipped_on, false);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION figures_cache_link_changed() IS
	'Row trigger of link: a sale shipped in an ended month that was inserted, deleted or changed (status, buyer, date) marks its buyer''s stations dirty in the month cache for that month.';
REVOKE ALL ON FUNCTION figures_cache_link_changed() FROM PUBLIC;

CREATE TRIGGER figures_cache_ins AFTER INSERT ON link FOR EACH ROW
	WHEN (NEW.kind = 'ship' AND NEW.shipped_on < shilian.figures_cache_horizon())
	EXECUTE FUNCTION figures_cache_link_changed();
CREATE TRIGGER figures_cache_upd AFTER UPDATE ON link FOR EACH ROW
	WHEN ((OLD.kind = 'ship' OR NEW.kind = 'ship')
		AND least(OLD.shipped_on, NEW.shipped_on) < shilian.figures_cache_horizon()
		AND (OLD.status, OLD.shipped_on, OLD.buyer_id, OLD.kind)
			IS DISTINCT FROM (NEW.status, NEW.shipped_on, NEW.buyer_id, NEW.kind))
	EXECUTE FUNCTION figures_cache_link_changed();
CREATE TRIGGER figures_cache_del AFTER DELETE ON link FOR EACH ROW
	WHEN (OLD.kind = 'ship' AND OLD.shipped_on < shilian.figures_cache_horizon())
	EXECUTE FUNCTION figures_cache_link_changed();

-- A lot produced (batch_create) before the current month, of a key
-- category's edible agricultural product: its owner's 10+3 flag when it
-- holds no licence, in every month from the lot's on.
CREATE FUNCTION figures_cache_batch_changed() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	IF TG_OP <> 'INSERT' AND OLD.origin = 'produced'
		AND EXISTS (SELECT 1 FROM shilian.product p WHERE p.id = OLD.product_id AND p.edible_agricultural
					   AND p.category = ANY (shilian.key_categories())) THEN
		PERFORM shilian.figures_cache_mark(ARRAY[OLD.owner_id], NULL, OLD.produced_on, NULL, false);
	END IF;
	IF TG_OP <> 'DELETE' AND NEW.origin = 'produced'
		AND EXISTS (SELECT 1 FROM shilian.product p WHERE p.id = NEW.product_id AND p.edible_agricultural
					   AND p.category = ANY (shilian.key_categories())) THEN
		PERFORM shilian.figures_cache_mark(ARRAY[NEW.owner_id], NULL, NEW.produced_on, NULL, false);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION figures_cache_batch_changed() IS
	'Row trigger of batch: a key-category lot produced before the current month that was inserted, deleted or changed (owner, product, date, origin) marks its owner''s stations dirty in the month cache from the lot''s month on.';
REVOKE ALL ON FUNCTION figures_cache_batch_changed() FROM PUBLIC;

CREATE TRIGGER figures_cache_ins AFTER INSERT ON batch FOR EACH ROW
	WHEN (NEW.origin = 'produced' AND NEW.produced_on < shilian.figures_cache_horizon())
	EXECUTE FUNCTION figures_cache_batch_changed();
CREATE TRIGGER figures_cache_upd AFTER UPDATE ON batch FOR EACH ROW
	WHEN ((OLD.origin = 'produced' OR NEW.origin = 'produced')
		AND least(OLD.produced_on, NEW.produced_on) < shilian.figures_cache_horizon()
		AND (OLD.produced_on, OLD.product_id, OLD.owner_id, OLD.origin)
			IS DISTINCT FROM (NEW.produced_on, NEW.product_id, NEW.owner_id, NEW.origin))
	EXECUTE FUNCTION figures_cache_batch_changed();
CREATE TRIGGER figures_cache_del AFTER DELETE ON batch FOR EACH ROW
	WHEN (OLD.origin = 'produced' AND OLD.produced_on < shilian.figures_cache_horizon())
	EXECUTE FUNCTION figures_cache_batch_changed();

-- Everything, from the start: a product's category or edible-agricultural
-- flag changed (rare; its lots may make or unmake 10+3 operators of any
-- month), or operator_month rebuilt (operator_day_rebuild truncates it).
CREATE FUNCTION figures_cache_all_changed() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	PERFORM shilian.figures_cache_mark(NULL, ARRAY(SELECT j.code FROM shilian.jurisdiction j), '-infinity', NULL, false);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION figures_cache_all_changed() IS
	'Trigger of product (category or edible-agricultural flag changed) and of operator_month (truncated by operator_day_rebuild): marks every station dirty in the month cache for every month.';
REVOKE ALL ON FUNCTION figures_cache_all_changed() FROM PUBLIC;

CREATE TRIGGER figures_cache_upd AFTER UPDATE ON product FOR EACH ROW
	WHEN ((OLD.category, OLD.edible_agricultural) IS DISTINCT FROM (NEW.category, NEW.edible_agricultural))
	EXECUTE FUNCTION figures_cache_all_changed();
CREATE TRIGGER figures_cache_truncate AFTER TRUNCATE ON operator_month
	FOR EACH STATEMENT EXECUTE FUNCTION figures_cache_all_changed();

-- ---- reading -------------------------------------------------------------------------
-- station_figures_detail(code, month) for an ended, unfrozen calendar month:
-- the clean stations' stored rows, the others counted live in one call of
-- station_figures_detail for just those stations (its plan for a few
-- hundred stations probes the indexes per operator, for more it hashes;
-- none cached: the whole subtree). Reads only. Internal (no grants):
-- station_figures_sum calls it.
CREATE FUNCTION figures_cache_detail(code text, month date, with_roll boolean)
	RETURNS TABLE (station text, segment text, holder_station text, roll boolean,
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
	first date := date_trunc('month', figures_cache_detail.month::timestamp)::date;
	period daterange := daterange(first, (first + interval '1 month')::date);
	stations text[];
	clean text[];
	missing text[];
BEGIN
	-- first, whatever the rows below would tell: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(figures_cache_detail.code);
	stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE figures_cache_detail.code = ANY (j.ancestors));
	clean := ARRAY(SELECT c.station FROM shilian.figures_cache_station c
					WHERE c.month = first AND c.station = ANY (stations)
					  AND NOT EXISTS (SELECT 1 FROM shilian.figures_cache_dirty d
									   WHERE d.station = c.station AND d.month_from <= first
										 AND (d.month_to IS NULL OR d.month_to >= first)));
	missing := ARRAY(SELECT s FROM unnest(stations) AS s EXCEPT SELECT c FROM unnest(clean) AS c);
	IF cardinality(missing) > 0 THEN
		RETURN QUERY SELECT d.* FROM shilian.station_figures_detail(figures_cache_detail.code, period, with_roll,
			CASE WHEN cardinality(clean) > 0 THEN missing END) d;
	END IF;
	RETURN QUERY SELECT f.station, f.segment, f.holder_station, f.roll, f.licensed, f.registered, f.activated,
		f.operators, f.active_operators, f.key_operators, f.key_covered,
		f.own_system_operators, f.own_system_uploading, f.receipts, f.receipts_complete
	  FROM shilian.figures_cache f
	 WHERE f.month = first AND f.station = ANY (clean) AND (with_roll OR NOT f.roll);
END
$$;
COMMENT ON FUNCTION figures_cache_detail(text, date, boolean) IS
	'Internal (no grants): station_figures_detail''s rows of an ended calendar month for the subtree, read from the month cache for its clean stations (figures_cache_station without a figures_cache_dirty row) and counted live for the others. Read by station_figures_sum.';
REVOKE ALL ON FUNCTION figures_cache_detail(text, date, boolean) FROM PUBLIC;

-- ---- refreshing ------------------------------------------------------------------------
-- Consume the dirty marks (the cached stations they cover are dropped), then
-- count and store every station of month (any day of it; NULL: the months
-- cached already and the two before the current one, the monthly report's)
-- that is not cached. Only months ended a whole day ago are stored (a
-- transaction that started in the month and still writes into it has not
-- marked anything: it did not write into an ended month); frozen months are
-- dropped from the cache (they read figures_frozen). SLX04 for a month not
-- ended. Returns the rows stored.
CREATE FUNCTION figures_cache_refresh(month date DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	first date := date_trunc('month', figures_cache_refresh.month::timestamp)::date;
	-- the first month not to store
	upto date := date_trunc('month', (shilian.platform_today() - 1)::timestamp)::date;
	months date[];
	m date;
	everything text[];
	missing text[];
	n bigint := 0;
	k bigint;
BEGIN
	IF first IS NOT NULL AND first >= upto THEN
		RAISE EXCEPTION USING ERRCODE = 'SLX04',
			MESSAGE = format('month not ended: %s runs until %s', to_char(first, 'YYYY-MM'),
				(first + interval '1 month' - interval '1 day')::date),
			HINT = 'The month cache holds months ended at least a day ago.';
	END IF;
	-- one refresher at a time; readers and writers are not held up
	LOCK TABLE shilian.figures_cache_station IN EXCLUSIVE MODE;
	-- the marks committed so far (one later stays for the next run: its
	-- change may not be seen by the counts below)
	WITH d AS (
		DELETE FROM shilian.figures_cache_dirty d RETURNING d.station, d.month_from, d.month_to
	)
	DELETE FROM shilian.figures_cache_station c USING d
	 WHERE c.station = d.station AND c.month >= d.month_from AND (d.month_to IS NULL OR c.month <= d.month_to);
	DELETE FROM shilian.figures_cache_station c
	 WHERE c.month >= upto OR c.month IN (SELECT f.month FROM shilian.figures_frozen_month f);
	DELETE FROM shilian.figures_cache f
	 WHERE NOT EXISTS (SELECT 1 FROM shilian.figures_cache_station c WHERE c.month = f.month AND c.station = f.station);
	IF first IS NOT NULL THEN
		months := ARRAY[first];
	ELSE
		months := ARRAY(SELECT DISTINCT c.month FROM shilian.figures_cache_station c
						UNION SELECT (upto - interval '1 month')::date
						UNION SELECT (upto - interval '2 month')::date);
	END IF;
	everything := ARRAY(SELECT j.code FROM shilian.jurisdiction j);
	FOREACH m IN ARRAY months LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM shilian.figures_frozen_month f WHERE f.month = m);
		missing := ARRAY(SELECT s FROM unnest(everything) AS s
						 EXCEPT SELECT c.station FROM shilian.figures_cache_station c WHERE c.month = m);
		CONTINUE WHEN cardinality(missing) = 0;
		INSERT INTO shilian.figures_cache
		SELECT m, d.*
		  FROM shilian.jurisdiction p,
			LATERAL shilian.station_figures_detail(p.code, daterange(m, (m + interval '1 month')::date), true,
				CASE WHEN cardinality(missing) < cardinality(everything) THEN missing END) d
		 WHERE p.level = 'province';
		GET DIAGNOSTICS k = ROW_COUNT;
		n := n + k;
		INSERT INTO shilian.figures_cache_station (month, station) SELECT m, s FROM unnest(missing) AS s;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION figures_cache_refresh(date) IS
	'Admin (the hourly job): drop the cached stations that writes marked dirty, then count (one station_figures_detail call for the missing stations) and store (figures_cache) every station not cached of the month (NULL: the months cached already and the two before the current one) that ended at least a day ago and is not frozen. Returns the rows stored. SLX04 for a month not ended a day ago.';
REVOKE ALL ON FUNCTION figures_cache_refresh(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION figures_cache_refresh(date) TO shilian_admin;

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
-- the period's end: what jurisdiction_stats, segment_stats and
-- monthly_report sum up. A frozen calendar month (figures_freeze: its report
-- was issued) reads its stored rows; another ended calendar month reads the
-- month cache (part 65) for its clean stations and counts the others; any
-- other period is counted from the registry's history (station_figures_scan),
-- with the same rows each way. The per-station rollups
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

CREATE OR REPLACE FUNCTION job_plan(OUT jobname text, OUT schedule text, OUT command text, OUT purpose text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	VALUES
		('shilian_checkpoint', '* * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.checkpoint()',
		 'every minute: publish a Merkle tree head over the entries committed since the last one'),
		('shilian_idempotency_prune', '17 * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.idempotency_prune()',
		 'hourly: delete the gateway''s idempotency keys older than 24 hours'),
		('shilian_alerts_scan', '30 18 * * *',
		 'SET ROLE shilian_admin; SELECT shilian.alerts_scan()',
		 'daily at 02:30 Asia/Shanghai: raise the day''s alerts and NOTIFY shilian_alert'),
		('shilian_ledger_partitions', '40 18 * * *',
		 'SET ROLE shilian_admin; SELECT shilian.partitions_ahead()',
		 'daily at 02:40 Asia/Shanghai: make the month partitions of the ledger, inspections, consumption and daily counters for this month and the three ahead'),
		('shilian_figures_cache', '47 * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.figures_cache_refresh()',
		 'hourly: count again the stations of the ended months'' cache that late records and back-dated changes marked, and store last month and the month before (docs/regulator.md, "The month cache")'),
		('shilian_monthly_report', '30 0 5 * *',
		 'SET ROLE shilian_admin; SELECT shilian.monthly_report_publish()',
		 'on the 5th at 08:30 Asia/Shanghai: store last month''s report of every province, city and county and NOTIFY shilian_report'),
		('shilian_federation', '* * * * *',
		 'SET ROLE shilian_admin; SELECT count(*) FROM shilian.federation_deliver(); SELECT shilian.federation_recall_catch_up()',
		 'every minute: send the sales to buyers of other provinces to their platforms and ask again for the recall parts a province did not open (docs/federation.md); nothing without peers')
	$$;
COMMENT ON FUNCTION job_plan() IS
	'The periodic jobs: name, cron schedule (UTC), SQL command and purpose. schedule_jobs() registers them with pg_cron; without pg_cron, run the commands from another scheduler.';

-- ---- ledger_chain last of the dumped tables again (part 99) ----------------------
-- The month cache's tables dumped above came after ledger_chain's entry,
-- which a fresh install has last (sql/src/99_ledger_chain_dump.sql): it
-- leaves the extension's list of dumped tables and comes back at its end,
-- as in part 99l, so that the list is the same after an upgrade.
ALTER EXTENSION shilian DROP TABLE ledger_chain;
ALTER EXTENSION shilian ADD TABLE ledger_chain;
SELECT pg_catalog.pg_extension_config_dump('ledger_chain',
	'WHERE EXISTS (SELECT 1 FROM shilian.ledger_archived_range r WHERE r.operator_id = ledger_chain.operator_id'
	' AND ledger_chain.seq BETWEEN r.first_seq AND r.last_seq)');
