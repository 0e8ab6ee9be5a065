#!/usr/bin/env bash
# Webhook delivery (docs/webhooks.md): events delivered per second by
# shilian-deliver to a local receiver (tests/webhooks/receiver.py), against
# the receiver's own request rate (wrk POSTing the same body over as many
# connections as the worker has threads); and the lag from the change to
# its delivery, median and p99, of events committed one per transaction
# while the worker runs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

T=$SHILIAN_BENCH_TMP
WORKERS=${SHILIAN_BENCH_WEBHOOK_WORKERS:-8}
EVENTS=${SHILIAN_BENCH_WEBHOOK_EVENTS:-5000}
LAG_EVENTS=${SHILIAN_BENCH_WEBHOOK_LAG_EVENTS:-500}
SECS=${SHILIAN_BENCH_SECS:-10}

rm -f "$T/wh.port"
python3 "$SHILIAN_TOP/tests/webhooks/receiver.py" --port-file "$T/wh.port" --log "$T/wh.log" --quiet-log 2>/dev/null &
RECV=$!
DELIVER=
trap 'kill $RECV ${DELIVER:-} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$T/wh.port" ] && break; sleep 0.05; done
URL=http://127.0.0.1:$(cat "$T/wh.port")

# One buyer per worker thread, each subscribed to its receipt drafts (one
# subscription's events go one at a time, so the subscriptions are what the
# threads share out), and a farm lot large enough for every sale.
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<SQL
set client_min_messages = warning;
select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
	('370102', '历下区'), ('370102001', '泉城路所')) v(c, n);
select shilian.operator_activate(shilian.operator_register('F', 'production', '{farm}', '370102001', 'a', '1', reg_card => 'BW-F'));
create table bench_buyer as
	select shilian.operator_register('W' || i, 'circulation', '{wholesaler}', '370102001', 'a', '1', reg_card => 'BW-W' || i) as id
	  from generate_series(1, $WORKERS) i;
select shilian.operator_activate(id) from bench_buyer;
create table bench_lot as select shilian.batch_create((select id from shilian.operator where name = 'F'),
	shilian.product_register('白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true),
	'1000 t', shilian.platform_today()) as code;
set shilian.webhook_allow_http = on;
select shilian.webhook_subscribe('$URL/w' || id, '{receipt_draft}', id) from bench_buyer;
SQL
ship_sql() {
	echo "select count(shilian.ship((select code from bench_lot), b.id, '1 kg', shilian.platform_today()))
		from generate_series(1, $1) i join (select id, row_number() over (order by id) - 1 as k from bench_buyer) b
		  on b.k = i % $WORKERS"
}
deliver() {
	"$SHILIAN_TOP/deliver/shilian-deliver" --dsn "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=shilian_deliver" \
		--workers "$WORKERS" --poll-ms 100 2>/dev/null &
	DELIVER=$!
}
wait_empty() {
	for _ in $(seq 1 6000); do
		[ "$(psql -qAtX -c "select count(*) from shilian.webhook_delivery where status = 'pending'")" = 0 ] && return 0
		sleep 0.05
	done
	echo "webhook bench: the outbox did not empty" >&2
	exit 1
}

# Throughput: the events committed first, then drained by a fresh worker.
psql -qAtX -v ON_ERROR_STOP=1 -c "$(ship_sql "$EVENTS")" >/dev/null
t0=$(now_ns)
deliver
wait_empty
t1=$(now_ns)
eps=$(awk -v n="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / ((b - a) / 1e9) }')

# The receiver's own rate: wrk POSTing a body of the same size.
body=$(psql -qAtX -c "select shilian.webhook_body(d) from shilian.webhook_delivery d order by id limit 1")
cat > "$T/wh.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[$body]==]
LUA
rps=$(wrk -t2 -c"$WORKERS" -d"${SECS}s" -s "$T/wh.lua" "$URL/wrk" | awk '/^Requests\/sec:/ { printf "%.0f", $2 }')
row "webhooks delivered/s, $WORKERS subscriptions and workers" "$eps" "events/s" "$rps" "the receiver's own rate (wrk)"

# Lag: one sale per transaction, a few milliseconds apart, while the worker
# runs; from the change (created_at) to the 2xx being recorded.
psql -qAtX -c "truncate shilian.webhook_attempt, shilian.webhook_delivery" >/dev/null 2>&1 ||
	psql -qAtX -c "delete from shilian.webhook_attempt; delete from shilian.webhook_delivery" >/dev/null
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<SQL
do \$\$
begin
	for i in 1..$LAG_EVENTS loop
		perform shilian.ship((select code from bench_lot), (select id from bench_buyer order by id offset i % $WORKERS limit 1),
			'1 kg', shilian.platform_today());
		commit;
		perform pg_sleep(0.004);
	end loop;
end
\$\$;
SQL
wait_empty
read -r p50 p99 < <(psql -qAtX -F ' ' -c "select round((percentile_cont(0.5) within group (order by x) * 1000)::numeric, 1),
	round((percentile_cont(0.99) within group (order by x) * 1000)::numeric, 1)
	from (select extract(epoch from delivered_at - created_at) as x from shilian.webhook_delivery where status = 'delivered') d")
row "webhook lag change->delivery, median" "$p50" "ms" "1000" "a second (no target)"
row "webhook lag change->delivery, p99" "$p99" "ms" "1000" "a second (no target)"
