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
trap 'rm -rf "$B"' EXIT
# the tree as it is (committed or not), without build outputs and run state
(cd "$TOP" && tar --exclude=./.git --exclude=./.tmp --exclude=./.run --exclude='*.o' \
	--exclude='*.so' --exclude=./.deps --exclude='*/.deps' -cf - .) | tar -x -C "$B"
# the upgrade test builds the release from the history: give the copy a view of it
# (a file in a git worktree, naming the repository: linked the same way)
[ -e "$TOP/.git" ] && ln -s "$TOP/.git" "$B/.git"
make -s -C "$B" PG_CONFIG="$APG_CONFIG" clean >/dev/null
make -s -C "$B" PG_CONFIG="$APG_CONFIG" all gateway >/dev/null

failed=0
say "== make test on the assert-enabled server"
PG_CONFIG="$APG_CONFIG" SHILIAN_VALGRIND=0 SHILIAN_NO_FAKETIME=1 "$B/tests/lib/test.sh" || failed=1

# With every cache entry rebuilt on each use a CREATE EXTENSION takes minutes
# and most regress files create their own database and extension; records.sql
# alone ran over 9 minutes (2 cores). The pass runs files that work in
# pg_regress's one database: the types' I/O and operators, the Merkle proofs,
# and trace.sql, whose graphs are built with batch_create, ship, receive,
# transform and consume (committing through the counter flush) and walked by
# the C trace and recall code (trace.sql: 924 s here). SHILIAN_DISCARD_REGRESS
# names other files (all of them: the whole suite, for a long run).
DISCARD_REGRESS=${SHILIAN_DISCARD_REGRESS:-"base types merkle trace"}
say "== pg_regress with debug_discard_caches = 1: $DISCARD_REGRESS"
PG_CONFIG="$APG_CONFIG" SHILIAN_REGRESS_ONLY=1 SHILIAN_NO_FAKETIME=1 SHILIAN_PG_CONF="debug_discard_caches = 1" \
	SHILIAN_REGRESS="$DISCARD_REGRESS" "$B/tests/lib/test.sh" || failed=1
exit $failed
