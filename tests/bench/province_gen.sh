#!/usr/bin/env bash
# Demo province for the regulator figures (issue 9): 16 cities, 137 counties,
# about 750 stations, a roll of 1.2M licences, about 1M operators and 30 days
# of records (about 10.3M at scale 1), generated set-based and
# deterministically by tests/bench/province_gen.sql (read its header for
# what it skips: the ledger, the record functions' checks).
#
# Runs as a superuser against $PGDATABASE (libpq environment), which must hold
# a fresh CREATE EXTENSION shilian and nothing else.
#   SHILIAN_GEN_SCALE  1 (default) = a province; 0.01 = 12,000 licences
#   SHILIAN_GEN_START  first day of the records (default 2026-02-15)
#   SHILIAN_GEN_DAYS   number of days (default 30, at least 8)
# Prints a summary line: operators, records and the seconds it took.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scale=${SHILIAN_GEN_SCALE:-1}
start=${SHILIAN_GEN_START:-2026-02-15}
days=${SHILIAN_GEN_DAYS:-30}
t0=$(date +%s%N)
psql -qAtX -v ON_ERROR_STOP=1 -v scale="$scale" -v start="$start" -v days="$days" \
	-f "$here/province_gen.sql" >/dev/null
t1=$(date +%s%N)
psql -qAtX -v ON_ERROR_STOP=1 -F ' ' -c "
	SELECT 'province_gen: scale $scale,',
		(SELECT count(*) FROM shilian.operator_roll) || ' licences,',
		(SELECT count(*) FROM shilian.operator) || ' operators,',
		(SELECT count(*) FROM shilian.batch WHERE origin IN ('produced', 'transformed'))
		+ (SELECT count(*) FROM shilian.link WHERE kind = 'ship')
		+ (SELECT count(*) FROM shilian.link WHERE status = 'rejected')
		+ (SELECT count(*) FROM shilian.inspection)
		+ (SELECT count(*) FROM shilian.consumption) || ' records,',
		round(($t1 - $t0) / 1e9, 1) || ' s'" >&2
# The month cache (docs/regulator.md, "The month cache"): the records' months
# that have ended, stored once as the hourly job would (a build without it:
# nothing to do).
if [ "$(psql -qAtX -c "SELECT to_regprocedure('shilian.figures_cache_refresh(date)') IS NOT NULL")" = t ]; then
	psql -qAtX -v ON_ERROR_STOP=1 -c "
		SET ROLE shilian_admin;
		SELECT sum(shilian.figures_cache_refresh(m::date))
		  FROM generate_series(date_trunc('month', '$start'::date), '$start'::date + $days, interval '1 month') m
		 WHERE m + interval '1 month' < shilian.platform_today()" >/dev/null
fi
