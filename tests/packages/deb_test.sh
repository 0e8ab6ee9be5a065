#!/usr/bin/env bash
# tests/packages/deb_test.sh DEBDIR — the Debian packages on this machine, as
# docs/install.md has a DBA use them: install both with apt-get, make a fresh
# cluster with pg_createcluster, CREATE EXTENSION in a UTF8 database, the
# pg_hba line, the scheduled jobs (when pg_cron is installed), the gateway
# started with its systemd unit's ExecStart as the unit's User (systemd does
# not run in the test sandbox, so the unit's command line is run as it is:
# the sandboxing options of the unit are not applied), /healthz, /metrics and
# an admin request with a token signed by the package's key; then the
# documented uninstall (DROP EXTENSION, schema, roles) and apt-get purge,
# checking that nothing of either package is left. TAP output; needs root.
# Everything made here is removed on exit, failure included; a lock keeps two
# runs on one machine apart.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
DEBDIR=$(cd "${1:?usage: deb_test.sh DEBDIR}" && pwd)
PGV=15
EXT_PKG=postgresql-$PGV-shilian
GW_PKG=shilian-gateway

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP the package test installs packages: run it as root"
	exit 0
fi

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; failed=1; [ $# -gt 1 ] && printf '#   %s\n' "${@:2}"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; return 1; fi; }
bail() { echo "Bail out! $*"; exit 1; }

exec 9>/var/lock/shilian-package-test.lock
flock -w 1800 9 || bail "another package test holds /var/lock/shilian-package-test.lock"

EXT_DEB=$(ls "$DEBDIR"/${EXT_PKG}_*.deb 2>/dev/null | head -1)
GW_DEB=$(ls "$DEBDIR"/${GW_PKG}_*.deb 2>/dev/null | head -1)
[ -n "$EXT_DEB" ] && [ -n "$GW_DEB" ] || bail "no packages in $DEBDIR (make deb)"
for p in $EXT_PKG $GW_PKG; do
	[ "$(dpkg-query -W -f='${db:Status-Status}' $p 2>/dev/null)" = installed ] &&
		bail "$p is installed on this machine already; this test installs and purges it, so it does not run here"
done

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
CLUSTER=shilian_pkgtest_$$
PORT=$(free_port)
while [ -e /var/run/postgresql/.s.PGSQL.$PORT ] || pg_lsclusters -h | awk '{print $3}' | grep -qx "$PORT"; do
	PORT=$(free_port)
done
GWPORT=$(free_port)
DB=shilian
TMP=$(mktemp -d /tmp/shilian-pkgtest.XXXXXX)
USER_EXISTED=0
getent passwd shilian_gateway >/dev/null && USER_EXISTED=1
GWPID=

cleanup() {
	set +e
	if [ -n "$GWPID" ] && kill -0 "$GWPID" 2>/dev/null; then kill -KILL "$GWPID"; wait "$GWPID" 2>/dev/null; fi
	pg_lsclusters -h | awk '{print $2}' | grep -qx "$CLUSTER" && pg_dropcluster --stop $PGV "$CLUSTER"
	for p in $GW_PKG $EXT_PKG; do
		dpkg-query -W -f='${db:Status-Status}' $p 2>/dev/null | grep -q . &&
			DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq -o DPkg::Lock::Timeout=600 $p >/dev/null 2>&1
	done
	[ "$USER_EXISTED" = 0 ] && getent passwd shilian_gateway >/dev/null && deluser --system --quiet shilian_gateway >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the packages themselves -------------------------------------------------
depends() { dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//'; }
for want in postgresql-$PGV libssl3; do
	check "$EXT_PKG depends on $want" grep -qx "$want" <(depends "$EXT_DEB")
done
for want in libcivetweb1 libjansson4 libpq5 libjwt0 libssl3 adduser; do
	check "$GW_PKG depends on $want" grep -qx "$want" <(depends "$GW_DEB")
done
check "$GW_PKG marks /etc/shilian/gateway.conf a conffile" \
	bash -c "dpkg-deb --ctrl-tarfile '$GW_DEB' | tar -xOf - ./conffiles | grep -qx /etc/shilian/gateway.conf"

# ---- install -------------------------------------------------------------------
if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
	"$EXT_DEB" "$GW_DEB" > "$TMP/apt.log" 2>&1; then
	ok "apt-get install ./$(basename "$EXT_DEB") ./$(basename "$GW_DEB")"
else
	nok "apt-get install of both packages" "$(tail -20 "$TMP/apt.log")"
	bail "packages did not install"
fi

# Every shared library an installed ELF file needs comes from a package it depends on.
for pair in "$EXT_PKG:/usr/lib/postgresql/$PGV/lib/shilian.so" "$GW_PKG:/usr/bin/shilian-gateway" "$GW_PKG:/usr/bin/shilian-verify"; do
	pkg=${pair%%:*}; file=${pair#*:}
	deb=$EXT_DEB; [ "$pkg" = "$GW_PKG" ] && deb=$GW_DEB
	missing=""
	for lib in $(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64|64bit/ {print $NF; exit}')
		[ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
		owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
		[ -n "$owner" ] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
		grep -qx "$owner" <(depends "$deb") || missing="$missing $lib($owner)"
	done
	if [ -z "$missing" ]; then ok "$file: every NEEDED library is in $pkg's Depends"; else nok "$file: libraries not in Depends:$missing"; fi
done

UNIT=/lib/systemd/system/shilian-gateway.service
check "the unit is installed" test -f "$UNIT"
if command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify accepts the unit" systemd-analyze verify --man=no "$UNIT"
else
	ok "systemd-analyze verify accepts the unit # SKIP systemd is not installed here"
fi
check "the man pages are installed" test -f /usr/share/man/man8/shilian-gateway.8.gz -a -f /usr/share/man/man1/shilian-verify.1.gz
check "the system user shilian_gateway exists" bash -c 'getent passwd shilian_gateway >/dev/null'
check "the key /etc/shilian/jwt_secret is 640 root:shilian_gateway" \
	test "$(stat -c '%a %U %G' /etc/shilian/jwt_secret 2>/dev/null)" = "640 root shilian_gateway"
check "the key holds 64 hex digits" grep -qxE '[0-9a-f]{64}' /etc/shilian/jwt_secret
check "shilian-gateway --help exits 0" bash -c 'shilian-gateway --help 2>/dev/null'
check "shilian-verify --help exits 0" bash -c 'shilian-verify --help >/dev/null'
check "shilian-deliver --help exits 0" bash -c 'shilian-deliver --help >/dev/null'
check "the delivery worker's unit is installed" test -f /lib/systemd/system/shilian-deliver.service

# ---- a fresh cluster, as docs/install.md sets one up ----------------------------
if pg_createcluster $PGV "$CLUSTER" --port "$PORT" >"$TMP/create.log" 2>&1; then
	ok "pg_createcluster $PGV $CLUSTER --port $PORT"
else
	nok "pg_createcluster" "$(cat "$TMP/create.log")"; bail "no cluster"
fi
CRON=0
[ -f /usr/lib/postgresql/$PGV/lib/pg_cron.so ] && CRON=1
if [ "$CRON" = 1 ]; then
	pg_conftool $PGV "$CLUSTER" set shared_preload_libraries pg_cron
	pg_conftool $PGV "$CLUSTER" set cron.database_name "$DB"
	pg_conftool $PGV "$CLUSTER" set cron.host /var/run/postgresql
fi
pg_conftool $PGV "$CLUSTER" set timezone Asia/Shanghai
# the line docs/install.md gives, before Debian's own local lines
HBA=/etc/postgresql/$PGV/$CLUSTER/pg_hba.conf
{ echo "local   $DB   shilian_gateway   peer"; cat "$HBA"; } > "$TMP/hba" && cat "$TMP/hba" > "$HBA"
check "pg_ctlcluster $PGV $CLUSTER start" pg_ctlcluster $PGV "$CLUSTER" start

psql_pg() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@"; }
check "createdb -E UTF8 -T template0 --locale=C.UTF-8 $DB" \
	runuser -u postgres -- createdb -p "$PORT" -E UTF8 -T template0 --locale=C.UTF-8 "$DB"
out=$(psql_pg -d "$DB" -At -c "SET client_min_messages = warning" -c "CREATE EXTENSION shilian" \
	-c "SELECT shilian.version() || ' ' || extversion FROM pg_extension WHERE extname = 'shilian'" 2>&1)
pkgver=$(dpkg-query -W -f='${Version}' $EXT_PKG | sed 's/-[^-]*$//')
check "CREATE EXTENSION shilian: library and script $pkgver" test "$out" = "$pkgver $pkgver"
if [ "$CRON" = 1 ]; then
	out=$(psql_pg -d "$DB" -At -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_cron" \
		-c "SELECT count(*) FROM shilian.schedule_jobs()" \
		-c "SELECT string_agg(jobname, ',' ORDER BY jobname) FROM cron.job" 2>&1)
	check "schedule_jobs registers the seven jobs with pg_cron" \
		test "$out" = $'7\nshilian_alerts_scan,shilian_checkpoint,shilian_federation,shilian_figures_cache,shilian_idempotency_prune,shilian_ledger_partitions,shilian_monthly_report'
else
	echo "# pg_cron (postgresql-$PGV-cron) is not installed: scheduled jobs not checked here"
fi

# ---- the gateway, by its unit's command line ------------------------------------
EXEC=$(sed -n 's/^ExecStart=//p' "$UNIT")
RUNAS=$(sed -n 's/^User=//p' "$UNIT")
RUNGROUP=$(sed -n 's/^Group=//p' "$UNIT")
check "the unit runs /usr/bin/shilian-gateway with /etc/shilian/gateway.conf as shilian_gateway" \
	test "$EXEC|$RUNAS|$RUNGROUP" = "/usr/bin/shilian-gateway --config /etc/shilian/gateway.conf|shilian_gateway|shilian_gateway"
# the two edits docs/install.md has a DBA make: the cluster's port, the address
sed -i -e "s/^dsn = .*/dsn = host=\/var\/run\/postgresql port=$PORT dbname=$DB user=shilian_gateway application_name=shilian-gateway/" \
	-e "s/^listen = .*/listen = 127.0.0.1:$GWPORT/" /etc/shilian/gateway.conf
# shellcheck disable=SC2086
# setpriv execs the command (no parent left in between), as systemd's User=/Group= do
setpriv --reuid="$RUNAS" --regid="$RUNGROUP" --init-groups -- $EXEC > "$TMP/gateway.log" 2>&1 &
GWPID=$!
for _ in $(seq 1 100); do
	curl -fs "http://127.0.0.1:$GWPORT/healthz" >/dev/null 2>&1 && break
	kill -0 "$GWPID" 2>/dev/null || break
	sleep 0.1
done
out=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$GWPORT/healthz")
check "GET /healthz: 200, database up" test "$out" = '{"status":"ok","database":"up"} 200' ||
	sed 's/^/#   /' "$TMP/gateway.log"
check "GET /metrics counts the request" bash -c "curl -fs http://127.0.0.1:$GWPORT/metrics | grep -q 'healthz'"
# the first admin token as docs/install.md mints it ("First token")
token=$(shilian-gateway token --config /etc/shilian/gateway.conf --role admin --expires 10m)
out=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$GWPORT/v1/version")
check "GET /v1/version as admin with the token of shilian-gateway token --config /etc/shilian/gateway.conf" \
	test "$out" = "{\"gateway\":\"$pkgver\",\"library\":\"$pkgver\",\"extension\":\"$pkgver\"}"
kill -TERM "$GWPID"
wait "$GWPID"
rc=$?
GWPID=
check "the gateway exits 0 on SIGTERM (the unit's KillSignal)" test "$rc" = 0
check "the gateway logged each request" grep -q 'GET /healthz 200' "$TMP/gateway.log"

# ---- the documented uninstall ---------------------------------------------------
unsched=""
[ "$CRON" = 1 ] && unsched="SELECT shilian.unschedule_jobs();"
if out=$(psql_pg -d "$DB" -At 2>&1 <<SQL
SET client_min_messages = warning;
$unsched
BEGIN;
SET LOCAL shilian.allow_drop = on;
DROP EXTENSION shilian;
COMMIT;
SQL
); then
	ok "unschedule_jobs, then SET LOCAL shilian.allow_drop and DROP EXTENSION shilian in one transaction"
else
	nok "the documented DROP EXTENSION" "$out"
fi
check "the schema shilian went with the extension" \
	test "$(psql_pg -d "$DB" -At -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'shilian'")" = 0
if [ "$CRON" = 1 ]; then
	check "no pg_cron job is left" test "$(psql_pg -d "$DB" -At -c 'SELECT count(*) FROM cron.job')" = 0
fi
# the statement as docs/install.md gives it (Uninstall), not a copy of it
drop_roles=$(sed -n 's/^\(DROP ROLE shilian_[a-z_, ]*\);$/\1/p' "$TOP/docs/install.md" | head -n 1)
out=$(psql_pg -d postgres -At -c "$drop_roles" \
	-c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'shilian%'" 2>&1)
check "the documented DROP ROLE leaves no shilian role" test "$out" = 0 || echo "#   $out"
check "pg_dropcluster --stop $PGV $CLUSTER" pg_dropcluster --stop $PGV "$CLUSTER"

files=$(dpkg -L $EXT_PKG $GW_PKG 2>/dev/null)
if DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq -o DPkg::Lock::Timeout=600 $GW_PKG $EXT_PKG >"$TMP/apt.log" 2>&1; then
	ok "apt-get purge $GW_PKG $EXT_PKG"
else
	nok "apt-get purge" "$(tail -20 "$TMP/apt.log")"
fi
left=""
while read -r f; do
	[ -n "$f" ] && [ ! -d "$f" ] && [ -e "$f" ] && left="$left $f"
done <<<"$files"
check "no file of either package is left${left:+:$left}" test -z "$left"
check "/etc/shilian is gone (config and key)" test ! -e /etc/shilian
check "no shilian extension files are left" bash -c "! ls /usr/share/postgresql/$PGV/extension/shilian* /usr/lib/postgresql/$PGV/lib/shilian.so 2>/dev/null"

echo "1..$n"
exit $failed
