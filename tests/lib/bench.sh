#!/usr/bin/env bash
# `make bench`: run every tests/bench/*.sh against a private install and a
# fresh cluster, and print one table. Each script prints rows as
#   name<TAB>figure<TAB>unit<TAB>baseline<TAB>baseline-name
# and the ratio figure/baseline is computed here, all in one run.
. "$(dirname "$0")/common.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/shilian-bench.XXXXXX")
chmod 755 "$T"
trap 'cluster_stop "$T/data"; rm -rf "$T"' EXIT

BINDIR=$(private_install "$T/inst")
export PATH=$BINDIR:$PATH
cluster_init "$T/data" "$T/sock" 5432 '' throwaway
# a benchmark cluster: realistic durability settings are for the DBA guide;
# here both sides of every ratio run on the same settings.
cluster_start "$T/data" "$T/postgres.log"
export PGHOST=$T/sock PGPORT=5432 PGUSER=postgres
export SHILIAN_TOP=$TOP SHILIAN_BENCH_TMP=$T

rows=$T/rows.tsv
: > "$rows"
for b in "$TOP"/tests/bench/*.sh; do
	# lib.sh and the generators other scripts run (province_gen.sh makes a
	# 1M-operator province for regulator.sh: minutes, and no rows of its own)
	case $(basename "$b") in lib.sh | *_gen.sh) continue ;; esac
	# SHILIAN_BENCH=gateway,trace runs only those scripts
	if [ -n "${SHILIAN_BENCH:-}" ] && ! [[ ",$SHILIAN_BENCH," == *",$(basename "$b" .sh),"* ]]; then continue; fi
	say "== $(basename "$b")"
	# each script gets a fresh database of its own
	export PGDATABASE=bench_$(basename "$b" .sh)
	createdb "$PGDATABASE"
	psql -qX -c 'CREATE EXTENSION shilian' >/dev/null
	if ! bash "$b" >> "$rows"; then
		say "benchmark $(basename "$b") failed"
		exit 1
	fi
done

# ratio = figure / baseline; a row with a target (an issue's bound on the
# ratio, tests/bench/lib.sh) says whether this run met it
printf '\n%-52s %14s %-10s %14s %-28s %8s %-8s %s\n' name figure unit baseline "baseline is" ratio target verdict
printf '%s\n' "$(printf '%.0s-' $(seq 1 150))"
met=0 missed=0
while IFS=$'\t' read -r name fig unit base bname target; do
	ratio=$(awk -v a="$fig" -v b="$base" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.3f", a / b }')
	verdict=
	if [ -n "$target" ] && [ "$ratio" != - ]; then
		verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN {
			op = substr(t, 1, 2); v = substr(t, 3) + 0
			ok = (op == "<=") ? (r <= v) : (op == ">=") ? (r >= v) : -1
			print (ok < 0) ? "bad target" : ok ? "met" : "NOT met" }')
		case $verdict in met) met=$((met + 1)) ;; "NOT met") missed=$((missed + 1)) ;; esac
	fi
	printf '%-52s %14s %-10s %14s %-28s %8s %-8s %s\n' "$name" "$fig" "$unit" "$base" "$bname" "$ratio" "$target" "$verdict"
done < "$rows"
printf '\nrows with a target: %d met, %d not met\n' "$met" "$missed"
