#!/usr/bin/env bash
# The findings (docs/regulator.md, "Findings") on the demo province of
# tests/bench/province_gen.sh: broken_chain and compliance_findings for one
# city (济南 370100, 10 of 137 counties) over the generated 30 days and
# spot_check_sample of 100 of its operators, each the best of 3 against the
# issue's target of one second; and alerts_scan of the whole province once
# (it writes), a daily job, against a minute. The scale defaults to 0.1
# (about 100,000 operators and 1.1 million records, about 40 s to generate)
# to keep `make bench` within minutes; SHILIAN_FINDINGS_SCALE=1 gives the
# issue's province (about a million operators and 11 million records, about
# 7 minutes to generate). The row names say the scale measured.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

scale=${SHILIAN_FINDINGS_SCALE:-0.1}
SHILIAN_GEN_SCALE=$scale SHILIAN_GEN_START=2026-02-15 SHILIAN_GEN_DAYS=30 \
	bash "$(dirname "$0")/province_gen.sh" 2>/dev/null
# the visibility map autovacuum would have set by now on a live database
# (the index-only scans of the findings rely on it)
vacuum_settled shilian.operator shilian.link shilian.inspection shilian.batch
city_ops=$(psql -qAtX -c "SELECT count(*) FROM shilian.operator WHERE station = ANY (shilian.findings_subtree('370100'))")
psql -qAtX -c "SELECT 'findings bench: scale $scale, ' || (SELECT count(*) FROM shilian.operator) || ' operators, '
	|| $city_ops || ' in 370100'" >&2
period="'[2026-02-15,2026-03-16]'"

# the result must not be empty: the generator leaves 5% of its sales pending
n=$(psql -qAtX -c "SELECT count(*) FROM shilian.broken_chain('370100', $period)")
[ "$n" -gt 0 ] || { echo "broken_chain found nothing" >&2; exit 1; }

ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
s=$(best_of 3 "SELECT count(*) FROM shilian.broken_chain('370100', $period)")
row "broken_chain city 370100, scale $scale" "$(ms "$s")" "ms" "1000" "issue 9 target (1 s)" "<=1"
s=$(best_of 3 "SELECT count(*) FROM shilian.compliance_findings('370100', $period)")
row "compliance_findings city 370100, scale $scale" "$(ms "$s")" "ms" "1000" "issue 9 target (1 s)" "<=1"
s=$(best_of 3 "SELECT count(*) FROM shilian.spot_check_sample('370100', '2026Q1', 100, 1)")
row "spot_check_sample city 370100 n=100, scale $scale" "$(ms "$s")" "ms" "1000" "issue 9 target (1 s)" "<=1"
s=$(sql_seconds "SELECT shilian.alerts_scan('2026-03-16')")
row "alerts_scan province (daily job), scale $scale" "$(ms "$s")" "ms" "60000" "a minute (no target)"
