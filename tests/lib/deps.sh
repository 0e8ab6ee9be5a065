#!/usr/bin/env bash
# `make deps`: install the Debian packages the build, run and tests need.
# Idempotent and silent when everything is already there.
set -euo pipefail

PKGS="make gcc postgresql-15 postgresql-server-dev-15 postgresql-contrib
libpq-dev libcivetweb-dev libjansson-dev libjwt-dev libssl-dev openssl
perl libipc-run-perl libjson-pp-perl curl jq wrk valgrind util-linux python3-jsonschema
clang libclang-rt-14-dev postgresql-15-cron dpkg-dev binutils faketime
libqrencode-dev libpng-dev chromium zbar-tools fonts-noto-cjk nodejs libcurl4-openssl-dev
postgresql-15-auto-failover pgbackrest"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
# node and npm: Debian's npm package, unless a node with npm is there already
command -v npm >/dev/null 2>&1 || missing="$missing npm"

# The API contract tools (tests/gateway/060_openapi_client.pl): an OpenAPI
# linter and a client generator from the npm registry, pinned by
# tests/node/package-lock.json, installed into tests/node/node_modules.
node_tools() {
	local dir
	dir="$(cd "$(dirname "$0")/../node" && pwd)"
	[ -f "$dir/node_modules/.package-lock.json" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] && return 0
	echo "installing the API contract tools into $dir (npm ci)" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

if [ -z "$missing" ]; then
	node_tools
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing" >&2
	echo "run as root: apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# Debian may create and start a system cluster on 5432; ours never use it
# (private socket directories, port 54329 or no TCP at all).
apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing >/dev/null
node_tools
