#!/usr/bin/env bash
# Gateway throughput against pgbench running the same SQL transaction
# (BEGIN READ ONLY; the statement that makes it the caller's; the route's
# statement; COMMIT: the very statements the gateway sends, printed by
# `shilian-gateway sql`, with the same values bound) over the same number of
# connections, in the same run; the gateway's peak resident memory under
# that load; p99 latency from wrk in a run of its own, with the load
# generator and the server on separate cores (below).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CONNS=${SHILIAN_BENCH_CONNS:-16}
SECS=${SHILIAN_BENCH_SECS:-10}
T=$SHILIAN_BENCH_TMP
SECRET=bench-secret-0123456789abcdef-0123456789
GW_BIN=$SHILIAN_TOP/gateway/shilian-gateway

# operator_token ID: an hour's operator token, minted as a DBA would.
operator_token() {
	"$GW_BIN" token --role operator --operator "$1" --expires 1h --jwt-secret "$SECRET"
}
TOKEN=$(operator_token 1)

# The p99 runs: the load generator on the last core, the server (the
# gateway's threads, the postmaster and its backends) on the others, with
# taskset; back on every core after. On one core nothing is pinned.
NCPU=$(nproc)
ALL_CPUS=0-$((NCPU - 1))
if [ "$NCPU" -ge 2 ]; then
	LOAD_CPU=$((NCPU - 1))
	SERVER_CPUS=0-$((NCPU - 2))
	SERVER_NCPU=$((NCPU - 1))
else
	LOAD_CPU=0 SERVER_CPUS=0 SERVER_NCPU=1
fi
# Three gateways on the same database: GW as this script's child (in the
# load generator's session, as the bench has always run it: the throughput
# rows), and GWS in a session of its own (setsid), as a daemon runs. With
# the kernel's autogroup scheduling (on by default) a session is one
# scheduling group and each PostgreSQL backend is in one of its own
# (backends call setsid): the two differ
# (docs/rest.md#throughput-and-latency-吞吐量与延迟), so the bench prints the
# throughput of both. Each gateway's database pool (its admission limit) is
# sized to the cores the server has in its rows, as docs/rest.md advises
# (2 per core: docs/rest.md#sizing-the-pool-连接池大小): GW and GWS get the
# default (2 per core of the machine; nothing is pinned in their rows). The
# p99 runs give the server SERVER_NCPU cores: they go to GWP, a third
# gateway in a session of its own like GWS, started with 2 per core of
# those (on the 2-core development machine 2; the sales row's p99 with 1
# to 16 connections is measured in docs/rest.md#sizing-the-pool-连接池大小). Each
# of its routes is requested once before its p99 run (warm-up: its
# connections and prepared statements exist before wrk starts).
rm -f "$T/gw.port" "$T/gws.port" "$T/gwp.port"
"$GW_BIN" --listen 127.0.0.1:0 --port-file "$T/gw.port" \
	--threads "$CONNS" --jwt-secret "$SECRET" \
	--dsn "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=shilian_gateway" 2>/dev/null &
GW=$!
setsid "$GW_BIN" --listen 127.0.0.1:0 --port-file "$T/gws.port" \
	--threads "$CONNS" --jwt-secret "$SECRET" \
	--dsn "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=shilian_gateway" 2>/dev/null &
GWS=$!
setsid "$GW_BIN" --listen 127.0.0.1:0 --port-file "$T/gwp.port" \
	--threads "$CONNS" --db-pool-size $((2 * SERVER_NCPU)) --jwt-secret "$SECRET" \
	--dsn "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=shilian_gateway" 2>/dev/null &
GWP=$!
trap 'kill $GW $GWS $GWP 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$T/gw.port" ] && [ -s "$T/gws.port" ] && [ -s "$T/gwp.port" ] && break; sleep 0.05; done
URL=http://127.0.0.1:$(cat "$T/gw.port")
URLS=http://127.0.0.1:$(cat "$T/gws.port")
URLP=http://127.0.0.1:$(cat "$T/gwp.port")

POSTMASTER=$(psql -qAtX -c "select split_part(pg_read_file('postmaster.pid'), E'\n', 1)")
# pin_server CPUS: the gateway and the server processes onto CPUS
pin_server() {
	local p
	for p in "$POSTMASTER" $(pgrep -P "$POSTMASTER") "$GW" "$GWS" "$GWP"; do
		taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true
	done
}
echo "gateway p99: wrk on cpu $LOAD_CPU, the gateway (in a session of its own, $((2 * SERVER_NCPU)) database connections) and PostgreSQL on cpu $SERVER_CPUS (taskset), $NCPU cores" >&2

# p99_of WRK-OUTPUT: wrk's 99th percentile in ms
p99_of() {
	awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }' <<<"$1"
}

# wrk_pinned ARGS...: wrk's output, the server and wrk on separate cores
wrk_pinned() {
	local out
	[ "$NCPU" -ge 2 ] && pin_server "$SERVER_CPUS"
	out=$(taskset -c "$LOAD_CPU" wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$@")
	[ "$NCPU" -ge 2 ] && pin_server "$ALL_CPUS"
	echo "$out"
}

# The statement that makes each transaction the caller's, with pgbench
# variables for its parameters ($1 role .. $7 identity): in -M prepared
# they go as bound parameters, as the gateway's do. pgbench has no empty
# variable: the operator's jurisdiction, client and identity, empty
# strings, are '' literals.
principal_sql() {
	"$GW_BIN" sql principal | sed -e "s/\\\$1/:p_role/; s/\\\$2/:p_operator/; s/\\\$3/''/; s/\\\$4/''/" \
		-e "s/\\\$5/:p_timeout/; s/\\\$6/:p_addr/; s/\\\$7/''/"
}
PGB_PRINCIPAL=(-D p_role=shilian_operator -D p_timeout=30000 -D p_addr=127.0.0.1)

# pgbench prepares the statements of its script before the first one runs:
# its sessions get the search_path the gateway's route statements are
# parsed with (set by the principal's statement before them) up front.
# bench_route NAME PATH OPERATION-ID [pgbench -D VAR=VALUE...]: wrk on
# the route vs pgbench on its transaction (the route's statement with :code
# for its $1), then wrk on the gateway in its own session, and again with
# the cores split for the p99.
bench_route() {
	local name=$1 path=$2 op=$3 out rps rps_own p99 p99_shared tps hwm
	shift 3
	curl -fs -H "Authorization: Bearer $TOKEN" "$URL$path" >/dev/null
	curl -fs -H "Authorization: Bearer $TOKEN" "$URLS$path" >/dev/null
	curl -fs -H "Authorization: Bearer $TOKEN" "$URLP$path" >/dev/null
	out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "$URL$path")
	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	p99_shared=$(p99_of "$out")
	hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$GW/status")
	{
		echo "BEGIN READ ONLY;"
		echo "$(principal_sql);"
		echo "$("$GW_BIN" sql "$op" | sed 's/\$1/:code/');"
		echo "COMMIT;"
	} > "$T/pgb.sql"
	tps=$(PGOPTIONS="-c search_path=pg_catalog,shilian" pgbench -n -U shilian_gateway -c "$CONNS" -j 2 -T "$SECS" -M prepared -f "$T/pgb.sql" \
		"${PGB_PRINCIPAL[@]}" -D p_operator="$FARM" "$@" "$PGDATABASE" 2>/dev/null |
		awk '/^tps = / { printf "%.0f", $3 }')
	out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "$URLS$path")
	rps_own=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	out=$(wrk_pinned -H "Authorization: Bearer $TOKEN" "$URLP$path")
	p99=$(p99_of "$out")
	row "gateway $name, $CONNS conns" "$rps" "req/s" "$tps" "pgbench, same SQL" ">=0.8"
	row "gateway $name, $CONNS conns, own session" "$rps_own" "req/s" "$tps" "pgbench, same SQL" ">=0.8"
	row "gateway $name p99 latency" "$p99" "ms" "20" "target p99" "<=1"
	row "gateway $name p99, cores shared with wrk" "$p99_shared" "ms" "20" "target p99"
	row "gateway $name, p99 run (server pinned)" "$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")" "req/s" "0" "cpu $SERVER_CPUS"
	row "gateway peak resident memory ($name)" "$hwm" "MB" "64" "target" "<=1"
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

bench_route "GET /v1/session" /v1/session getSession

# GET /v1/batches/{code}: the route's own statement, as the farm.
bench_route "GET /v1/batches/{code}" "/v1/batches/$CODE" getBatch -D code="$CODE"

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
p99_shared=$(p99_of "$out")
# the route's statement: its unsent fields (shipped_on, seller) are nulls, which pgbench cannot bind
{
	echo "BEGIN;"
	echo "$(principal_sql);"
	echo "$("$GW_BIN" sql shipBatch | sed -e 's/\$1/:code/; s/\$2/:buyer/; s/\$3/:qty/; s/\$4/NULL::text/; s/\$5/NULL/');"
	echo "COMMIT;"
} > "$T/pgb_ship.sql"
tps=$(PGOPTIONS="-c search_path=pg_catalog,shilian" pgbench -n -U shilian_gateway -c "$CONNS" -j 2 -T "$SECS" -M prepared -f "$T/pgb_ship.sql" \
	"${PGB_PRINCIPAL[@]}" -D p_operator="$FARM" -D code="$CODE" -D buyer="$BUYER" -D qty="1 g" "$PGDATABASE" 2>/dev/null |
	awk '/^tps = / { printf "%.0f", $3 }')
# warm-up of GWP's statement for the route (one sale, outside the measured run)
curl -fs -X POST -H "Content-Type: application/json" -H "Authorization: Bearer $TOKEN" \
	-d "{\"code\":\"$CODE\",\"buyer\":$BUYER,\"qty\":\"1 g\"}" "$URLP/v1/shipments" >/dev/null
out=$(wrk_pinned -s "$T/ship.lua" "$URLP/v1/shipments")
p99=$(p99_of "$out")
non2xx=$non2xx$(awk '/Non-2xx/ { print $NF }' <<<"$out")
[ -n "$non2xx" ] && echo "gateway POST /v1/shipments: $non2xx non-2xx replies" >&2
row "gateway POST /v1/shipments, $CONNS conns" "$rps" "req/s" "$tps" "pgbench, same SQL" ">=0.8"
row "gateway POST /v1/shipments p99 latency" "$p99" "ms" "20" "target p99" "<=1"
row "gateway POST /v1/shipments p99, cores shared with wrk" "$p99_shared" "ms" "20" "target p99"
row "gateway POST /v1/shipments, p99 run (server pinned)" "$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")" "req/s" "0" "cpu $SERVER_CPUS"
row "gateway peak resident memory (all routes)" "$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$GW/status")" "MB" "64" "target" "<=1"
