#!/usr/bin/env bash
# `make test-assert`: every suite of `make test` on an assert-enabled
# PostgreSQL 15 (--enable-cassert --enable-debug: assertions,
# CLOBBER_FREED_MEMORY, MEMORY_CONTEXT_CHECKING), built once from Debian's
# source package and cached outside the clone (tests/lib/pg_assert.sh), then
# the regress suite once more with debug_discard_caches = 1, which rebuilds
# every cache entry on each use and so finds any pointer kept into a cache.
# The extension and the gateway are built in a copy of the tree, so the
# working tree's objects (built against the system server) stay as they are.
. "$(dirname "$0")/common.sh"

ABIN=$("$TOP/tests/lib/pg_assert.sh")
APG_CONFIG=$ABIN/pg_config
say "== assert-enabled server: $("$ABIN/postgres" --version) in $ABIN"

B=$(mktemp -d "${TMPDIR:-/tmp}/shilian-assert.XXXXXX")
chmod 755 "$B"
trap 'kill "${discard:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$B"' EXIT
# SHILIAN_ASSERT_ONLY: suites (make test on the assert server) or discard
# (the debug_discard_caches pass below) alone; .ci/run starts the pass first,
# in the background, and the suites after make test (docs/development.md)
ONLY=${SHILIAN_ASSERT_ONLY:-}
case $ONLY in ''|suites|discard) ;; *) die "SHILIAN_ASSERT_ONLY is suites or discard, not $ONLY" ;; esac
# the tree as it is (committed or not), without build outputs and run state;
# a build running in it meanwhile (.ci/run's make test) may change a file
# being read: tar's exit status 1, "some files differ", is no failure here,
# since the copy is cleaned and built again below
(cd "$TOP" && { tar --exclude=./.git --exclude=./.tmp --exclude=./.run --exclude='*.o' \
	--exclude='*.so' --exclude=./.deps --exclude='*/.deps' --exclude=./tests/node/node_modules \
	--warning=no-file-changed -cf - . || [ $? -eq 1 ]; }) | tar -x -C "$B"
# the upgrade test builds the release from the history: give the copy a view of it
# (a file in a git worktree, naming the repository: linked the same way)
[ -e "$TOP/.git" ] && ln -s "$TOP/.git" "$B/.git"
make -s -C "$B" PG_CONFIG="$APG_CONFIG" clean >/dev/null
make -s -C "$B" PG_CONFIG="$APG_CONFIG" all gateway >/dev/null

failed=0

# With every cache entry rebuilt on each use a CREATE EXTENSION takes minutes
# and most regress files create their own database and extension; records.sql
# alone ran over 9 minutes (2 cores). The pass runs files that work in
# pg_regress's one database: the types' I/O and operators, the Merkle proofs,
# and trace.sql, whose graphs are built with batch_create, ship, receive,
# transform and consume (committing through the counter flush) and walked by
# the C trace and recall code (trace.sql: 2,584 s here in December 2026, before
# its fixture's repeated calls ran outside the pass). SHILIAN_DISCARD_REGRESS
# names other files (all of them: the whole suite, for a long run).
#
# That pass is one backend on one core for most of half an hour, so it runs
# beside the other suites, from a copy of the built tree of its own (its
# regress output directory, unit binaries and install are apart from theirs),
# and its output is printed when both are done.
DISCARD_REGRESS=${SHILIAN_DISCARD_REGRESS:-"base types merkle trace"}
discard_pass() {
	PG_CONFIG="$APG_CONFIG" SHILIAN_REGRESS_ONLY=1 SHILIAN_NO_FAKETIME=1 SHILIAN_PG_CONF="debug_discard_caches = 1" \
		SHILIAN_REGRESS="$DISCARD_REGRESS" "$1/tests/lib/test.sh"
}
started=$(date +%s)
if [ "$ONLY" = discard ]; then
	say "== pg_regress with debug_discard_caches = 1: $DISCARD_REGRESS"
	discard_pass "$B" || failed=1
	say "== pg_regress with debug_discard_caches = 1: $( [ $failed = 0 ] && echo ok || echo FAILED ), $(( $(date +%s) - started )) s"
	exit $failed
fi
if [ -z "$ONLY" ]; then
	D=$B/.discard-tree
	mkdir -p "$D"
	(cd "$B" && tar --exclude=./.discard-tree --exclude=./.git -cf - .) | tar -x -C "$D"
	[ -e "$TOP/.git" ] && ln -s "$TOP/.git" "$D/.git"
	say "== pg_regress with debug_discard_caches = 1: $DISCARD_REGRESS (beside the next step)"
	(discard_pass "$D" > "$B/discard.log" 2>&1) &
	discard=$!
fi

say "== make test on the assert-enabled server"
PG_CONFIG="$APG_CONFIG" SHILIAN_VALGRIND=0 SHILIAN_NO_FAKETIME=1 "$B/tests/lib/test.sh" || failed=1

if [ -z "$ONLY" ]; then
	say "== pg_regress with debug_discard_caches = 1: waiting for it"
	discard_ok=1
	wait "$discard" || discard_ok=0
	cat "$B/discard.log"
	say "== pg_regress with debug_discard_caches = 1: $( [ $discard_ok = 1 ] && echo ok || echo FAILED ), $(( $(date +%s) - started )) s"
	[ $discard_ok = 1 ] || failed=1
fi
exit $failed
