# Helpers for benchmark scripts (sourced): timing of SQL and rows.
now_ns() { date +%s%N; }

# sql_seconds SQL: wall time of one statement in seconds (psql overhead included).
sql_seconds() {
	local t0 t1
	t0=$(now_ns)
	psql -qAtX -v ON_ERROR_STOP=1 -c "$1" >/dev/null
	t1=$(now_ns)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }'
}

# best_of N SQL: the fastest of N runs, in seconds.
best_of() {
	local n=$1 sql=$2 best="" s
	for _ in $(seq 1 "$n"); do
		s=$(sql_seconds "$sql")
		if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; fi
	done
	echo "$best"
}

# row NAME FIGURE UNIT BASELINE "BASELINE IS" [TARGET]: one line of the
# table. TARGET, when the issue that asked for the figure set one, bounds the
# ratio FIGURE / BASELINE: "<=0.7" or ">=0.8"; the table prints met or NOT met.
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-}"; }

# vacuum_settled TABLE...: VACUUM ANALYZE each table until its visibility map
# covers every page (relallvisible = relpages; of every partition of a
# partitioned table), so that index-only scans are
# index-only as on a table autovacuum has reached. A VACUUM right after a
# bulk load can leave the map unset: a snapshot taken meanwhile (autovacuum's
# ANALYZE of the table loaded just before, say) holds the horizon back, and
# the new rows are not yet visible to all. At most 30 tries, a second apart;
# prints each table's share of all-visible pages on stderr.
vacuum_settled() {
	local t v i
	for t in "$@"; do
		for i in $(seq 1 30); do
			psql -qAtX -v ON_ERROR_STOP=1 -c "VACUUM ANALYZE $t" >/dev/null
			v=$(psql -qAtX -c "SELECT bool_and(c.relpages <= 0 OR c.relallvisible >= c.relpages),
				sum(greatest(c.relallvisible, 0)) || '/' || sum(greatest(c.relpages, 0))
				FROM pg_class c WHERE (c.oid = '$t'::regclass AND c.relkind = 'r')
				 OR c.oid IN (SELECT p.relid FROM pg_partition_tree('$t') p WHERE p.isleaf)")
			[ "${v%%|*}" = t ] && break
			sleep 1
		done
		echo "$t: ${v#*|} pages all-visible after $i VACUUM" >&2
	done
}
