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
