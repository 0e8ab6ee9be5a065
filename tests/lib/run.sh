#!/usr/bin/env bash
# `make run` / `make stop` / `make psql`: a private cluster under .run/ with
# the extension, a demo province and the gateway on 127.0.0.1:8080.
# Settings (environment): SHILIAN_PGPORT (54329), SHILIAN_LISTEN (127.0.0.1:8080),
# SHILIAN_WEBHOOK_PORT (8099: the demo webhook receiver on 127.0.0.1).
. "$(dirname "$0")/common.sh"

RUN=$TOP/.run
PGPORT=${SHILIAN_PGPORT:-54329}
LISTEN=${SHILIAN_LISTEN:-127.0.0.1:8080}
WEBHOOK_PORT=${SHILIAN_WEBHOOK_PORT:-8099}
DB=shilian

# Server-owned files live under .run/ unless the postgres user cannot reach
# the project folder (a clone under /root, say): then under /var/tmp.
server_base() {
	if pg_can_reach "$TOP"; then echo "$RUN"; else
		echo "/var/tmp/shilian-run-$(echo "$TOP" | md5sum | cut -c1-12)"
	fi
}

start() {
	mkdir -p "$RUN"
	local base; base=$(server_base)
	mkdir -p "$base"; chmod 755 "$base"
	local bindir; bindir=$(private_install "$base/install")
	export PATH=$bindir:$PATH
	local data=$base/data sock=$base/sock
	if [ ! -f "$data/PG_VERSION" ]; then
		say "creating the private cluster in $data"
		cluster_init "$data" "$sock" "$PGPORT" ''
	fi
	# A cluster made when `make run` turned durability off gets it back on
	# (the last setting wins), and a running one restarts to apply it.
	if ! cluster_durable "$data"; then
		say "turning fsync, synchronous_commit and full_page_writes on in $data"
		printf '%s\n' '# durable: nothing acknowledged is lost' 'fsync = on' \
			'synchronous_commit = on' 'full_page_writes = on' | as_pg tee -a "$data/postgresql.conf" >/dev/null
		as_pg pg_ctl -D "$data" status >/dev/null 2>&1 && cluster_stop "$data"
	fi
	# pg_cron, when installed, runs the scheduled jobs of the demo database
	# (docs/install.md); a cluster made before gets it on its next start.
	local cron=0
	[ -f "$SYS_PKGLIBDIR/pg_cron.so" ] && cron=1
	if [ "$cron" = 1 ] && ! grep -q "^shared_preload_libraries = 'pg_cron'" "$data/postgresql.conf"; then
		cat >> "$data/postgresql.conf" <<CONF
# pg_cron for the scheduled jobs (docs/install.md)
shared_preload_libraries = 'pg_cron'
cron.database_name = '$DB'
cron.host = '$sock'
CONF
		as_pg pg_ctl -D "$data" status >/dev/null 2>&1 && as_pg pg_ctl -D "$data" -m fast -w stop >/dev/null
	fi
	if ! as_pg pg_ctl -D "$data" status >/dev/null 2>&1; then
		cluster_start "$data" "$base/postgres.log"
	fi
	export PGHOST=$sock PGPORT PGUSER=postgres
	psql -qAtX -d postgres -c "select 1 from pg_database where datname = '$DB'" | grep -q 1 ||
		createdb "$DB"
	# While the version number stays the same, a changed install script means
	# a re-created database (and a reloaded demo); otherwise data is kept. The
	# database goes rather than the extension: the library just built may not
	# fit the old schema that a DROP EXTENSION's ledger guard would write to.
	local sum; sum=$(cat "$TOP"/sql/shilian--*.sql | md5sum | cut -c1-32)
	if [ "$(cat "$RUN/extension.md5" 2>/dev/null)" != "$sum" ]; then
		dropdb --if-exists --force "$DB"	# --force: pg_cron's launcher stays connected
		dropdb --if-exists --force shilian_beijing	# the demo's neighbouring province
		createdb "$DB"
		psql -qX -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
set client_min_messages = warning;
create extension shilian;
SQL
		# DROP DATABASE stopped pg_cron's scheduler for good: start it again
		[ "$cron" = 1 ] && as_pg pg_ctl -D "$data" -l "$base/postgres.log" -m fast -w restart >/dev/null
		echo "$sum" > "$RUN/extension.md5"
		say "database and extension (re)created from this build"
	fi
	PGOPTIONS='-c client_min_messages=warning' psql -qX -v ON_ERROR_STOP=1 -d "$DB" \
		-v webhook_url="http://127.0.0.1:$WEBHOOK_PORT/demo" -f "$TOP/tests/demo/province.sql" >/dev/null
	# the neighbouring province (Beijing, database shilian_beijing) as a peer,
	# with a cross-border sale delivered there (docs/federation.md)
	PGOPTIONS='-c client_min_messages=warning' psql -qX -v ON_ERROR_STOP=1 -d "$DB" \
		-f "$TOP/tests/demo/neighbour.sql" >/dev/null
	# The demo's signed checkpoint: a platform key made here once (in .run/,
	# never committed), and the signing job run as cron would run it
	# (docs/ledger-format.md#the-signing-job).
	[ -s "$RUN/ledger-key.pem" ] || { (umask 077; openssl genpkey -algorithm ed25519 -out "$RUN/ledger-key.pem"); }
	"$TOP/shilian-verify" vkey --key "$RUN/ledger-key.pem" --name shilian.invalid/ledger > "$RUN/ledger.vkey"
	SHILIAN_VERIFY="$TOP/shilian-verify" "$TOP/extension/verify/sign-checkpoint.sh" \
		--key "$RUN/ledger-key.pem" --name shilian.invalid/ledger -d "$DB" >/dev/null
	local schedule="  (pg_cron is not installed: run the commands of  select * from shilian.job_plan()  by hand)"
	if [ "$cron" = 1 ]; then
		schedule=$(PGOPTIONS='-c client_min_messages=warning' psql -qAtX -v ON_ERROR_STOP=1 -d "$DB" -F '  ' \
			-c "create extension if not exists pg_cron" \
			-c "select format('  %-26s %-12s %s', jobname, schedule, command) from shilian.schedule_jobs() order by jobname")
	fi
	# Gateway: restart so it runs the binary just built. It logs in as
	# shilian_gateway and signs tokens with a secret made once for this folder.
	stop_gateway
	[ -s "$RUN/jwt_secret" ] || { openssl rand -hex 32 > "$RUN/jwt_secret"; chmod 600 "$RUN/jwt_secret"; }
	"$TOP/gateway/shilian-gateway" --listen "$LISTEN" \
		--dsn "host=$sock port=$PGPORT dbname=$DB user=shilian_gateway" \
		--jwt-secret-file "$RUN/jwt_secret" \
		--pid-file "$RUN/gateway.pid" >>"$RUN/gateway.log" 2>&1 &
	local i
	for i in $(seq 1 50); do
		curl -fs "http://$LISTEN/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	curl -fs "http://$LISTEN/healthz" >/dev/null || die "gateway did not start; see $RUN/gateway.log"
	start_webhooks "$sock"
	cat > "$RUN/env" <<ENV
PGHOST=$sock
PGPORT=$PGPORT
PGDATABASE=$DB
PGUSER=postgres
SHILIAN_URL=http://$LISTEN
export PGHOST PGPORT PGDATABASE PGUSER SHILIAN_URL
# Demo tokens (30 days), signed with .run/jwt_secret:
$(demo_tokens)
ENV
	local public_path recall_code
	public_path=$(psql -qAtX -d "$DB" -c "select shilian.public_path(b.trace_code) from shilian.batch b join shilian.operator o on o.id = b.owner_id where 'school_canteen' = any (o.kinds) order by b.id limit 1")
	recall_code=$(psql -qAtX -d "$DB" -c "select trace_code from shilian.recall order by id limit 1")
	# the consumer pages (docs/pages.md): the mill's flour by its GS1 Digital
	# Link, the canteen's recalled lot; the farm's label
	local flour_link canteen_link farm_lot farm_link
	flour_link=$(psql -qAtX -d "$DB" -c "select shilian.public_link(b.trace_code) from shilian.batch b join shilian.product p on p.id = b.product_id where p.gtin = '6901234567892' and b.origin = 'produced' order by b.id limit 1")
	canteen_link=$(psql -qAtX -d "$DB" -c "select shilian.public_link(b.trace_code) from shilian.batch b join shilian.operator o on o.id = b.owner_id where 'school_canteen' = any (o.kinds) order by b.id limit 1")
	farm_lot=$(psql -qAtX -d "$DB" -c "select b.trace_code from shilian.batch b join shilian_demo.account a on a.operator_id = b.owner_id where a.name = 'farm' and b.origin = 'produced' order by b.id limit 1")
	farm_link=$(psql -qAtX -d "$DB" -c "select shilian.public_link('$farm_lot')")
	local month; month=$(date +%Y-%m)
	local farm_id; farm_id=$(psql -qAtX -d "$DB" -c "select operator_id from shilian_demo.account where name = 'farm'")
	cat <<MSG

shilian is running.
  gateway   http://$LISTEN   (log: .run/gateway.log)
  webhooks  shilian-deliver (log: .run/deliver.log) -> receiver 127.0.0.1:$WEBHOOK_PORT (log: .run/webhooks.log)
  database  $DB on $sock port $PGPORT   (make psql)
  settings  source .run/env

Try (tokens for the demo accounts are in .run/env):
  source .run/env
  curl -s \$SHILIAN_URL/healthz
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_FARM" "\$SHILIAN_URL/v1/batches?limit=2"
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_SUPERMARKET" \$SHILIAN_URL/v1/shipments/inbox   # a receipt draft pre-filled from the sale
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_REGULATOR" \$SHILIAN_URL/v1/recalls/1   # the demo recall
  curl -s "\$SHILIAN_URL$public_path"   # what a consumer sees: no login, the lot's public token (t=) from its QR code
  psql -c "select * from shilian.trace_forward('$recall_code')"
Pages and labels (docs/pages.md; open the pages in a browser):
  http://$LISTEN$flour_link   # a lot's consumer page, by the GS1 Digital Link its label carries
  http://$LISTEN$canteen_link&lang=en   # a lot of the demo recall: the warning (English)
  http://$LISTEN$farm_link   # the farm's lot (the demo recall's suspect lot), whose label is:
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_FARM" -o label.png \$SHILIAN_URL/v1/batches/$farm_lot/label.png   # (also label.svg); zbarimg label.png gives the URI above
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_REGULATOR" -o recall.html \$SHILIAN_URL/v1/recalls/1/graph.html   # the recall graph
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_REGULATOR" -o report.html "\$SHILIAN_URL/v1/regulator/jurisdictions/370000/monthly-report.html?month=$month"
Regulators (figures, findings, alerts; docs/regulator.md):
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_REGULATOR" \$SHILIAN_URL/v1/regulator/jurisdictions/370000/stats
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_REGULATOR" "\$SHILIAN_URL/v1/regulator/jurisdictions/370000/monthly-report.csv?month=$month"
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_COUNTY" \$SHILIAN_URL/v1/regulator/jurisdictions/370112/broken-chain
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_COUNTY" \$SHILIAN_URL/v1/regulator/jurisdictions/370112/alerts
Ledger (docs/ledger-format.md): the signed checkpoint, and a chain checked offline against it
  curl -s -H 'Accept: text/plain' \$SHILIAN_URL/v1/ledger/checkpoint
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_FARM" "\$SHILIAN_URL/v1/ledger/export?operator=$farm_id" > farm.jsonl
  ./shilian-verify --key \$(cat .run/ledger.vkey) farm.jsonl
Scheduled jobs (pg_cron, UTC; docs/install.md; psql -c "select * from cron.job_run_details"):
$schedule
Integration (docs/integration.md):
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_REGULATOR" "\$SHILIAN_URL/epcis/events?perPage=2"   # GS1 EPCIS 2.0
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_SUPERMARKET" \$SHILIAN_URL/v1/items/urn:epc:id:sgtin:6970000.000004.M0002   # a milk box shipped and received by serial: in the supermarket's batch
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_WHOLESALER" \$SHILIAN_URL/epcis/queries/received-tomatoes/subscriptions   # the market's EPCIS subscription (notifications in .run/webhooks.log)
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_ADMIN" \$SHILIAN_URL/v1/admin/clients   # system clients
  printf '%s\n' '{"kind":"batch","owner":'\$(psql -qAtc "select operator_id from shilian_demo.account where name='farm'")',"product":1,"qty":"50 kg"}' |
    curl -s -i -H "Authorization: Bearer \$SHILIAN_TOKEN_FARM" -H 'Content-Type: application/x-ndjson' --data-binary @- \$SHILIAN_URL/v1/import   # 202 + Location
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_FARM" \$SHILIAN_URL/v1/import   # the farm's uploads, newest first, with progress

Self-service registration (docs/registration.md), corrections (docs/sql-reference.md), across provinces (docs/federation.md):
  \$SHILIAN_URL/register and \$SHILIAN_URL/activate   # the phone pages: register, then activate with the station's code
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_REGULATOR" "\$SHILIAN_URL/v1/registrations?station=370102"   # the request waiting for its station (Lixia)
  psql -c "select kind, record_id, action, reason from shilian.correction"   # the demo's corrected milk batch (3000 L -> 3200 L)
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_REGULATOR" \$SHILIAN_URL/v1/trace/$farm_lot/national/forward   # a national walk: into Beijing (110000, database shilian_beijing), holders there hidden
  psql -c "select * from shilian.trace_forward_national('$farm_lot') where province = '110000'"   # the admin sees them; the sale named the buyer by GLN:
  psql -c "select id, province, buyer_gln, status, remote_link from shilian.federation_outbox"

Webhooks (docs/webhooks.md): the wholesale market's and Licheng's subscriptions post to the demo receiver:
  curl -s -H "Authorization: Bearer \$SHILIAN_TOKEN_WHOLESALER" \$SHILIAN_URL/v1/webhooks
  psql -c "select shilian.alerts_scan()"; sleep 1; tail -n 3 .run/webhooks.log

Stop everything with: make stop
MSG
}

# SHILIAN_TOKEN_<NAME>=... lines for the demo's regulator and operators
# (tests/demo/province.sql lists them in shilian.demo_account), minted by
# `shilian-gateway token` with .run/jwt_secret, as docs/install.md tells a DBA.
demo_tokens() {
	local name role op jur
	psql -qAtX -F '|' -d "$DB" -c "select name, role, coalesce(operator_id::text, ''), coalesce(jurisdiction, '') from shilian_demo.account order by name" 2>/dev/null |
	while IFS='|' read -r name role op jur; do
		echo "SHILIAN_TOKEN_${name^^}=$("$TOP/gateway/shilian-gateway" token --role "$role" \
			${op:+--operator "$op"} ${jur:+--jurisdiction "$jur"} --expires 30d \
			--jwt-secret-file "$RUN/jwt_secret")"
		echo "export SHILIAN_TOKEN_${name^^}"
	done
}

# The demo's webhook receiver (signatures checked with the secrets the
# database holds for its URL) and the delivery worker, as shilian_deliver.
start_webhooks() {
	local sock=$1
	stop_pid "$RUN/deliver.pid"
	stop_pid "$RUN/receiver.pid"
	psql -qAtX -d "$DB" -c "select coalesce(json_object_agg(regexp_replace(s.url, '^https?://[^/]*', ''), k.secret), '{}')
		from shilian.webhook_subscription s join shilian.webhook_secret k on k.subscription_id = s.id
		where s.active and s.url like 'http://127.0.0.1:$WEBHOOK_PORT/%'" > "$RUN/webhook_secrets.json"
	chmod 600 "$RUN/webhook_secrets.json"
	python3 "$TOP/tests/webhooks/receiver.py" --port "$WEBHOOK_PORT" --log "$RUN/webhooks.log" \
		--secrets "$RUN/webhook_secrets.json" >>"$RUN/receiver.out" 2>&1 &
	echo $! > "$RUN/receiver.pid"
	"$TOP/deliver/shilian-deliver" --dsn "host=$sock port=$PGPORT dbname=$DB user=shilian_deliver" \
		>>"$RUN/deliver.log" 2>&1 &
	echo $! > "$RUN/deliver.pid"
}

stop_pid() {
	local pidf=$1
	if [ -f "$pidf" ]; then
		local pid; pid=$(cat "$pidf")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid"
			for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		fi
		rm -f "$pidf"
	fi
}

stop_gateway() {
	local pidf=$RUN/gateway.pid
	if [ -f "$pidf" ]; then
		local pid; pid=$(cat "$pidf")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid"
			for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		fi
		rm -f "$pidf"
	fi
}

stop() {
	stop_pid "$RUN/deliver.pid"
	stop_pid "$RUN/receiver.pid"
	stop_gateway
	local base; base=$(server_base)
	[ -d "$base/data" ] && cluster_stop "$base/data"
	say "stopped"
}

psql_shell() {
	[ -f "$RUN/env" ] || die "nothing is running: make run first"
	. "$RUN/env"
	exec "$(server_base)/install$SYS_BINDIR/psql"
}

case ${1:-} in
	start) start ;;
	stop) stop ;;
	psql) psql_shell ;;
	*) die "usage: run.sh start|stop|psql" ;;
esac
