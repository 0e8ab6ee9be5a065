#!/usr/bin/env bash
# `make test`: every suite against a private install and a temporary cluster
# (never .run/): C unit tests, pg_regress, TAP tests (prove) and gateway tests
# over real HTTP. Prints a summary; non-zero exit on any failure.
. "$(dirname "$0")/common.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/shilian-test.XXXXXX")
chmod 755 "$T"
cleanup() {
	cluster_stop "$T/data"
	cluster_stop "$T/data-faketime"
	if [ "${SHILIAN_KEEP_TMP:-0}" = 1 ]; then say "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

declare -A RESULT
failed=0
record() { RESULT[$1]=$2; [ "$2" = ok ] || failed=1; }

say "== private install in $T"
BINDIR=$(private_install "$T/inst")
export PATH=$BINDIR:$PATH

# tests/lib/test.sh FILE.pl ...: only those TAP/gateway files (no unit, no regress).
ONLY="$*"

if [ -z "$ONLY" ]; then
say "== C unit tests"
if make -s -C "$TOP" unit; then record unit ok; else record unit FAILED; fi

say "== pg_regress"
cluster_init "$T/data" "$T/sock" 5432 '' throwaway
# SHILIAN_PG_CONF: extra server settings for the regress run (make test-assert)
[ -n "${SHILIAN_PG_CONF:-}" ] && printf '%s\n' "$SHILIAN_PG_CONF" >> "$T/data/postgresql.conf"
cluster_start "$T/data" "$T/postgres.log"
mkdir -p "$TOP/.tmp/regress"
# SHILIAN_REGRESS: only these regress files (make test-assert's second pass)
if make -s -C "$TOP" installcheck PGHOST="$T/sock" PGPORT=5432 PGUSER=postgres \
	${SHILIAN_REGRESS:+REGRESS="$SHILIAN_REGRESS"}; then
	record regress ok
else
	record regress FAILED
	[ -f "$TOP/.tmp/regress/regression.diffs" ] && cat "$TOP/.tmp/regress/regression.diffs"
fi
cluster_stop "$T/data"

# The same regress suite once more with the server's clock about a year and a
# half ahead (libfaketime preloaded into the postmaster, inherited by every
# backend): no expected output may depend on the day the tests run.
# (SHILIAN_NO_FAKETIME=1: not again in make test-assert, make test did it.)
if [ "${SHILIAN_NO_FAKETIME:-0}" != 1 ]; then
say "== pg_regress under faketime"
FAKE_LIB=$(dpkg -L libfaketime 2>/dev/null | grep '/faketime/libfaketime\.so\.1$' | head -n 1 || true)
[ -n "$FAKE_LIB" ] || die "libfaketime not found (make deps installs faketime)"
FAKE_DAY=$(date -u -d '+18 months' +%F)
FAKE_OFFSET=$(( $(date -d '+18 months' +%s) - $(date +%s) ))
cluster_init "$T/data-faketime" "$T/sock" 5432 '' throwaway
mkdir -p "$TOP/.tmp/regress-faketime"
touch "$T/postgres-faketime.log"; [ "$(id -u)" = 0 ] && chown postgres: "$T/postgres-faketime.log"
as_pg env LD_PRELOAD="$FAKE_LIB" FAKETIME="+$FAKE_OFFSET" FAKETIME_DONT_FAKE_MONOTONIC=1 \
	pg_ctl -D "$T/data-faketime" -l "$T/postgres-faketime.log" -w -t 60 start >/dev/null
server_day=$(psql -X -h "$T/sock" -p 5432 -U postgres -d postgres -Atc "select (now() at time zone 'UTC')::date")
say "   server now() under faketime: $(psql -X -h "$T/sock" -p 5432 -U postgres -d postgres -Atc 'select now()') (expected day $FAKE_DAY)"
if [ "$server_day" != "$FAKE_DAY" ]; then
	say "   faketime did not take effect"
	record regress-faketime FAILED
elif make -s -C "$TOP" installcheck PGHOST="$T/sock" PGPORT=5432 PGUSER=postgres \
	REGRESS_OPTS="--inputdir=tests/regress --outputdir=.tmp/regress-faketime --load-extension=shilian"; then
	record regress-faketime ok
else
	record regress-faketime FAILED
	[ -f "$TOP/.tmp/regress-faketime/regression.diffs" ] && cat "$TOP/.tmp/regress-faketime/regression.diffs"
fi
cluster_stop "$T/data-faketime"
fi
fi

# SHILIAN_REGRESS_ONLY=1: unit and regress only (make test-assert's second pass)
if [ "${SHILIAN_REGRESS_ONLY:-0}" = 1 ]; then
	for k in unit regress; do say "  $k: ${RESULT[$k]:-not run}"; done
	exit $failed
fi

# Each released version, for the upgrade test (tests/t/070_upgrade.pl);
# built only when that test runs (a list of files without it, e.g. make
# test-ha, skips the builds).
RELEASED=$(awk '!/^#/ && NF { print $1 }' "$TOP/sql/update/RELEASES")
RELEASE_BINDIRS=""
case " $ONLY " in "  "|*070_upgrade*) ;; *) RELEASED="" ;; esac
for v in $RELEASED; do
	say "== release $v (for the upgrade test)"
	RELEASE_BINDIRS="$RELEASE_BINDIRS $v=$(release_install "$v" "$T/inst-$v")=$T/inst-$v.src"
done

# TAP and gateway tests start their own clusters (PostgreSQL::Test::Cluster)
# from the private install; as root they run as the postgres user.
say "== TAP and gateway tests (prove)"
# the browser tests keep their screenshots here (tests/gateway/060_pages.pl)
mkdir -p "$TOP/.tmp/pages"; [ "$(id -u)" = 0 ] && chown -R postgres: "$TOP/.tmp/pages"
PERL5LIB="$($PG_CONFIG --pkglibdir)/pgxs/src/test/perl:$TOP/tests/lib${PERL5LIB:+:$PERL5LIB}"
# One prove run over files in directory $T/$1 (its TESTDIR: the files of one
# run share its tmp_check, where they keep gateway port files and the like).
prove_in() {
	local dir=$T/$1
	shift
	mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres: "$dir"
	# PGCTLTIMEOUT: pg_ctl waits longer on a loaded machine before giving up.
	(cd "$dir" && as_pg env PERL5LIB="$PERL5LIB" TESTDIR="$dir" PGCTLTIMEOUT=180 \
		PG_REGRESS="$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress" \
		SHILIAN_TOP="$TOP" SHILIAN_GATEWAY="$TOP/gateway/shilian-gateway" \
		SHILIAN_VALGRIND="${SHILIAN_VALGRIND:-1}" SHILIAN_RELEASES="$RELEASE_BINDIRS" \
		SHILIAN_BINDIR="$BINDIR" \
		prove --timer "$@")
}
prove_logs() {
	for l in "$T/$1"/tmp_check/log/*; do [ -f "$l" ] && { echo "--- $l"; tail -n 40 "$l"; }; done
}
# What failed, printed last so that the tail of a CI log names it: prove's
# summary report of output file $1 and the failed checks of run $2's files
# with the lines each test printed after them (got / expected).
prove_failures() {
	local failed='^(\[[^]]*\]\([^)]*\) )?not ok|Bail out|[Dd]ied|Looks like'
	say "== what failed in $2"
	sed -n '/^Test Summary Report/,/^Result:/p' "$1"
	for l in "$T/$2"/tmp_check/log/regress_log_*; do
		[ -f "$l" ] && grep -q -E "$failed" "$l" || continue
		echo "--- $l"
		grep -E -A 6 "$failed" "$l" | head -n 60
	done
}
if [ -n "$ONLY" ]; then
	suites=$(for f in $ONLY; do readlink -f "$f"; done)
	if [ -n "$suites" ]; then
		# shellcheck disable=SC2086
		if prove_in tap $suites | tee "$T/prove.out"; then record prove ok
		else record prove FAILED; prove_logs tap; prove_failures "$T/prove.out" tap; fi
	fi
else
	# The TAP files and the gateway files run as two prove runs at once, each
	# file after file in a directory of its own: one by one they were 1,086 s
	# of make test's 1,241 s in CI (December 2026), about half each, with a
	# core often idle while a file waits on its servers. Each run's output is
	# printed when both are done.
	tsuites=$(ls "$TOP"/tests/t/*.pl 2>/dev/null || true)
	gsuites=$(ls "$TOP"/tests/gateway/*.pl 2>/dev/null || true)
	tok=0 gok=0
	# shellcheck disable=SC2086
	{ [ -z "$tsuites" ] || prove_in tap-t $tsuites; } > "$T/prove-t.out" 2>&1 &
	tpid=$!
	# shellcheck disable=SC2086
	{ [ -z "$gsuites" ] || prove_in tap-gateway $gsuites; } > "$T/prove-gateway.out" 2>&1 &
	gpid=$!
	wait "$tpid" || tok=1
	wait "$gpid" || gok=1
	say "-- tests/t"
	cat "$T/prove-t.out"
	say "-- tests/gateway"
	cat "$T/prove-gateway.out"
	if [ $tok = 0 ] && [ $gok = 0 ]; then
		record prove ok
	else
		record prove FAILED
		[ $tok = 0 ] || prove_logs tap-t
		[ $gok = 0 ] || prove_logs tap-gateway
		[ $tok = 0 ] || prove_failures "$T/prove-t.out" tap-t
		[ $gok = 0 ] || prove_failures "$T/prove-gateway.out" tap-gateway
	fi
fi

say ""
say "== summary"
for k in unit regress regress-faketime prove; do
	[ -n "${RESULT[$k]:-}" ] && say "  $k: ${RESULT[$k]}"
done
exit $failed
