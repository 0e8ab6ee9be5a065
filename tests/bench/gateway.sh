#!/usr/bin/env bash
# Gateway throughput against pgbench running the same SQL transaction
# (BEGIN READ ONLY; set_config role and settings; the query; COMMIT) over the
# same number of connections, in the same run; p99 latency from wrk and the
# gateway's peak resident memory under that load.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CONNS=${SHILIAN_BENCH_CONNS:-16}
SECS=${SHILIAN_BENCH_SECS:-10}
T=$SHILIAN_BENCH_TMP
SECRET=bench-secret-0123456789abcdef-0123456789

# operator_token ID: an hour's operator token, minted as a DBA would.
operator_token() {
	"$SHILIAN_TOP/gateway/shilian-gateway" token --role operator --operator "$1" --expires 1h --jwt-secret "$SECRET"
}
TOKEN=$(operator_token 1)

"$SHILIAN_TOP/gateway/shilian-gateway" --listen 127.0.0.1:0 --port-file "$T/gw.port" \
	--threads "$CONNS" --jwt-secret "$SECRET" \
	--dsn "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=shilian_gateway" 2>/dev/null &
GW=$!
trap 'kill $GW 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$T/gw.port" ] && break; sleep 0.05; done
URL=http://127.0.0.1:$(cat "$T/gw.port")

# bench_route NAME PATH SQL: wrk on the route vs pgbench on its transaction.
bench_route() {
	local name=$1 path=$2 sql=$3 out rps p99 tps hwm
	curl -fs -H "Authorization: Bearer $TOKEN" "$URL$path" >/dev/null
	out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "$URL$path")
	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }' <<<"$out")
	hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$GW/status")
	cat > "$T/pgb.sql" <<SQL
BEGIN READ ONLY;
select set_config('role', 'shilian_operator', true), set_config('shilian.operator_id', '1', true), set_config('shilian.jurisdiction', '', true), set_config('shilian.client', '', true), set_config('statement_timeout', '30000', true);
$sql;
COMMIT;
SQL
	tps=$(pgbench -n -U shilian_gateway -c "$CONNS" -j 2 -T "$SECS" -M prepared -f "$T/pgb.sql" "$PGDATABASE" 2>/dev/null |
		awk '/^tps = / { printf "%.0f", $3 }')
	row "gateway $name, $CONNS conns" "$rps" "req/s" "$tps" "pgbench, same SQL"
	row "gateway $name p99 latency" "$p99" "ms" "20" "target p99"
	row "gateway peak resident memory ($name)" "$hwm" "MB" "64" "target"
}

# A farm with one big batch, and a buyer, for the record routes.
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
set client_min_messages = warning;
select shilian.jurisdiction_add('370000', '山东省');
select shilian.jurisdiction_add('370100', '济南市');
select shilian.jurisdiction_add('370112', '历城区');
select shilian.jurisdiction_add('370112001', '洪家楼所');
select shilian.operator_register('bench farm', 'production', '{farm}', '370112001', 'x', 'x', reg_card => 'BENCH-FARM');
select shilian.operator_register('bench buyer', 'circulation', '{retailer}', '370112001', 'x', 'x', reg_card => 'BENCH-BUYER');
select shilian.operator_activate(id) from shilian.operator;
select shilian.product_register('bench cabbage', 'vegetables', shelf_life_days => 30, edible_agricultural => true);
select shilian.batch_create((select id from shilian.operator where reg_card = 'BENCH-FARM'), (select id from shilian.product limit 1), '1000 t', current_date - 1);
SQL
CODE=$(psql -qAtX -c "select trace_code from shilian.batch limit 1")
FARM=$(psql -qAtX -c "select id from shilian.operator where reg_card = 'BENCH-FARM'")
BUYER=$(psql -qAtX -c "select id from shilian.operator where reg_card = 'BENCH-BUYER'")
TOKEN=$(operator_token "$FARM")

bench_route "GET /v1/session" /v1/session \
	"select current_user, current_setting('shilian.operator_id'), current_setting('shilian.jurisdiction'), current_setting('shilian.client'), current_setting('transaction_read_only')"

# GET /v1/batches/{code}: the route's own statement, as the farm.
bench_route "GET /v1/batches/{code}" "/v1/batches/$CODE" \
	"select to_jsonb(b) || jsonb_build_object('id', b.id::text, 'trace_code', b.trace_code::text, 'product_name', p.name, 'category', p.category) from shilian.batch b join shilian.product p on p.id = b.product_id where b.trace_code OPERATOR(shilian.=) '$CODE'::shilian.trace_code"

# POST /v1/shipments: a 1 g sale per request (validation, lock, ledger entry).
cat > "$T/ship.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"code":"$CODE","buyer":$BUYER,"qty":"1 g"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$T/ship.lua" "$URL/v1/shipments")
rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }' <<<"$out")
cat > "$T/pgb_ship.sql" <<SQL
BEGIN;
select set_config('role', 'shilian_operator', true), set_config('shilian.operator_id', '$FARM', true), set_config('shilian.jurisdiction', '', true), set_config('shilian.client', '', true), set_config('statement_timeout', '30000', true), set_config('search_path', 'pg_catalog, shilian', true);
select json_build_object('link', shilian.ship('$CODE'::shilian.trace_code, $BUYER::bigint, '1 g'::shilian.qty, current_date, $FARM::bigint)::text);
COMMIT;
SQL
tps=$(pgbench -n -U shilian_gateway -c "$CONNS" -j 2 -T "$SECS" -M prepared -f "$T/pgb_ship.sql" "$PGDATABASE" 2>/dev/null |
	awk '/^tps = / { printf "%.0f", $3 }')
[ -n "$non2xx" ] && echo "gateway POST /v1/shipments: $non2xx non-2xx replies" >&2
row "gateway POST /v1/shipments, $CONNS conns" "$rps" "req/s" "$tps" "pgbench, same SQL"
row "gateway POST /v1/shipments p99 latency" "$p99" "ms" "20" "target p99"
row "gateway peak resident memory (all routes)" "$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$GW/status")" "MB" "64" "target"
