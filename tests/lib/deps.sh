#!/usr/bin/env bash
# `make deps`: install the Debian packages the build, run and tests need.
# Idempotent and silent when everything is already there.
set -euo pipefail

PKGS="make gcc postgresql-15 postgresql-server-dev-15 postgresql-contrib
libpq-dev libcivetweb-dev libjansson-dev libjwt-dev libssl-dev openssl
perl libipc-run-perl libjson-pp-perl curl jq wrk valgrind util-linux python3-jsonschema
clang libclang-rt-14-dev postgresql-15-cron dpkg-dev binutils faketime
libcurl4-openssl-dev"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

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
