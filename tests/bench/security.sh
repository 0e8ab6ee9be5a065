#!/usr/bin/env bash
# The cost of row-level security on a regulator's reads: a city regulator
# (shilian_regulator, shilian.jurisdiction = 370100, set per transaction as
# the gateway does) lists its batches with RLS on, against the superuser
# running the same listing with the subtree written by hand as a join (RLS
# bypassed). One province, 4 cities x 10 counties x 5 stations, 100
# operators per station (20,000) and 10 batches each (200,000), loaded by
# plain INSERT. Latency averages from pgbench, 1 client.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SECS=${SHILIAN_BENCH_SECURITY_SECS:-5}
T=${SHILIAN_BENCH_TMP:-/tmp}/security-bench
mkdir -p "$T"

psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT shilian.jurisdiction_add('370000', '山东省');
SELECT shilian.jurisdiction_add((370000 + c * 100)::text, 'city ' || c) FROM generate_series(1, 4) c;
SELECT shilian.jurisdiction_add((370000 + c * 100 + k)::text, 'county ' || c || '-' || k)
  FROM generate_series(1, 4) c, generate_series(1, 10) k;
SELECT shilian.jurisdiction_add((370000 + c * 100 + k)::text || lpad(s::text, 3, '0'), 'station')
  FROM generate_series(1, 4) c, generate_series(1, 10) k, generate_series(1, 5) s;
INSERT INTO shilian.operator (name, segment, kinds, station, status, address, contact, reg_card)
SELECT 'op ' || j.code || '-' || i, 'circulation', '{retailer}', j.code, 'active', 'a', 'c',
	'B-' || j.code || '-' || i
  FROM shilian.jurisdiction j, generate_series(1, 100) i WHERE j.level = 'station';
SELECT shilian.product_register('bench cabbage', 'vegetables', 10) AS p \gset
INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, origin)
SELECT shilian.trace_code_next(left(o.station, 6)), o.id, :p, '100 kg', '100 kg', current_date, 'produced'
  FROM shilian.operator o, generate_series(1, 10) g;
VACUUM ANALYZE;
SQL

cat > "$T/rls.sql" <<'EOF2'
BEGIN;
SELECT set_config('role', 'shilian_regulator', true), set_config('shilian.jurisdiction', '370100', true);
SELECT count(*), max(trace_code::text), shilian.sum(qty_left) FROM shilian.batch;
COMMIT;
EOF2
cat > "$T/super.sql" <<'EOF2'
BEGIN;
SELECT count(*), max(trace_code::text), shilian.sum(qty_left) FROM shilian.batch
 WHERE owner_id IN (SELECT o.id FROM shilian.operator o JOIN shilian.jurisdiction j ON j.code = o.station
					 WHERE j.ancestors @> ARRAY['370100']);
COMMIT;
EOF2
cat > "$T/rls_page.sql" <<'EOF2'
BEGIN;
SELECT set_config('role', 'shilian_regulator', true), set_config('shilian.jurisdiction', '370101', true);
SELECT id, trace_code, owner_id, qty_left FROM shilian.batch ORDER BY owner_id, created_at LIMIT 50;
COMMIT;
EOF2
cat > "$T/super_page.sql" <<'EOF2'
BEGIN;
SELECT id, trace_code, owner_id, qty_left FROM shilian.batch
 WHERE owner_id IN (SELECT o.id FROM shilian.operator o JOIN shilian.jurisdiction j ON j.code = o.station
					 WHERE j.ancestors @> ARRAY['370101'])
 ORDER BY owner_id, created_at LIMIT 50;
COMMIT;
EOF2

# latency average in ms of a pgbench script
lat() {
	pgbench -n -c 1 -T "$SECS" -f "$1" 2>/dev/null | awk '/latency average/ { print $4 }'
}

# the same rows either way
a=$(psql -qAtX <<'SQL'
BEGIN;
SELECT set_config('role', 'shilian_regulator', true), set_config('shilian.jurisdiction', '370100', true) \g /dev/null
SELECT count(*) FROM shilian.batch;
COMMIT;
SQL
)
b=$(psql -qAtX -c "SELECT count(*) FROM shilian.batch b JOIN shilian.operator o ON o.id = b.owner_id WHERE o.station LIKE '3701%'")
[ "$a" = "$b" ] || { echo "security bench: RLS listing saw $a batches, expected $b" >&2; exit 1; }

# trace_forward: each batch k sold to batches 2k and 2k+1 (a binary fan-out
# over all 200,000), walked by the provincial regulator, who sees every link
# and batch, so both sides walk the same graph: RLS on (the walk reads
# through SQL, one query per level) against the superuser (index scans).
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
INSERT INTO shilian.link (kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted,
	shipped_on, received_at, status)
SELECT 'ship', f.id, t.id, f.owner_id, t.owner_id, '1 kg', '1 kg', current_date, now(), 'received'
  FROM shilian.batch f JOIN shilian.batch t ON t.id IN (2 * f.id, 2 * f.id + 1)
 WHERE f.owner_id <> t.owner_id;
ANALYZE shilian.link;
SQL
ROOT=$(psql -qAtX -c "SELECT trace_code FROM shilian.batch ORDER BY id LIMIT 1")
cat > "$T/trace_rls.sql" <<EOF2
BEGIN;
SELECT set_config('role', 'shilian_regulator', true), set_config('shilian.jurisdiction', '370000', true);
SELECT count(*) FROM shilian.trace_forward('$ROOT');
COMMIT;
EOF2
cat > "$T/trace_super.sql" <<EOF2
SELECT count(*) FROM shilian.trace_forward('$ROOT');
EOF2
a=$(psql -qAtX -c "SET role shilian_regulator; SET shilian.jurisdiction = '370000'; SELECT count(*) FROM shilian.trace_forward('$ROOT')" | tail -1)
b=$(psql -qAtX -c "SELECT count(*) FROM shilian.trace_forward('$ROOT')")
[ "$a" = "$b" ] || { echo "security bench: trace under RLS reached $a batches, superuser $b" >&2; exit 1; }
row "security: province regulator trace_forward ($b batches), RLS" "$(lat "$T/trace_rls.sql")" "ms" "$(lat "$T/trace_super.sql")" "superuser, RLS bypassed" "<=1.5"

row "security: city regulator lists its 50k of 200k batches, RLS" "$(lat "$T/rls.sql")" "ms" "$(lat "$T/super.sql")" "superuser, subtree by hand"
row "security: county regulator, first page of 50 batches, RLS" "$(lat "$T/rls_page.sql")" "ms" "$(lat "$T/super_page.sql")" "superuser, subtree by hand"
