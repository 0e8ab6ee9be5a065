-- shilian install script, part 65: the cache of ended, unfrozen months
-- (docs/regulator.md, "The month cache"). A month that has ended but whose
-- report is not issued (not frozen, part 64) is still counted live, since
-- late records, receipts of its sales and back-dated registry changes may
-- still move it; counting a province takes seconds. figures_cache_refresh
-- stores station_figures_detail's own rows per (month, station) in
-- figures_cache and marks the station clean in figures_cache_station; every
-- write that can move such a month's figures records the stations it may
-- have moved in figures_cache_dirty (below, "what moves a month"), and the
-- figures (station_figures) read the clean stations' stored rows and count
-- only the others live. Reads never write: a hot standby and a read-only
-- transaction read the cache as it is.

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
-- ended, and only a write into one of those can move a cached month. In C
-- (extension/activity.c, the counters' flush uses the same): the triggers'
-- WHEN conditions below call it, prepared again by every statement that
-- writes link or batch, and a SQL function was inlined (its body read and
-- parsed) each time.
CREATE FUNCTION figures_cache_horizon() RETURNS date
	AS 'MODULE_PATHNAME', 'figures_cache_horizon'
	LANGUAGE C STABLE PARALLEL SAFE;
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
-- The UPDATE triggers name the columns their WHEN compares (here and on
-- batch, below): an UPDATE that sets none of them (a lot's quantity left at
-- every sale) queues nothing without preparing the WHEN condition. No
-- BEFORE trigger changes them behind the statement's back.
CREATE TRIGGER figures_cache_upd AFTER UPDATE OF status, shipped_on, buyer_id, kind ON link FOR EACH ROW
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
CREATE TRIGGER figures_cache_upd AFTER UPDATE OF produced_on, product_id, owner_id, origin ON batch FOR EACH ROW
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
