# Shared shell helpers for `make run`, `make test` and `make bench`:
# a private install of the extension and a private PostgreSQL cluster, so
# nothing here touches the system cluster or the system extension directory.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-$(ls /usr/lib/postgresql/15/bin/pg_config 2>/dev/null || command -v pg_config)}
SYS_BINDIR=$("$PG_CONFIG" --bindir)
SYS_SHAREDIR=$("$PG_CONFIG" --sharedir)
SYS_PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as the cluster owner: PostgreSQL refuses to run as root, so
# root runs the server (and the TAP tests that start servers) as `postgres`.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- env PATH="$PATH" "$@"
	else
		"$@"
	fi
}

# The directory for server-owned files must be reachable by the postgres user.
pg_can_reach() {
	[ "$(id -u)" != 0 ] && return 0
	runuser -u postgres -- test -w "$1" 2>/dev/null || runuser -u postgres -- test -x "$1" 2>/dev/null
}

# private_install DEST: a relocated copy of the server binaries with symlinks
# to the system's libraries and share files, plus this build of shilian.
# PostgreSQL finds share/ and lib/ relative to its own binary, so the copy
# loads our extension without `make install` into the system.
private_install() {
	local dest=$1 bindir libdir sharedir
	bindir=$dest${SYS_BINDIR}
	libdir=$dest${SYS_PKGLIBDIR}
	sharedir=$dest${SYS_SHAREDIR}
	rm -rf "$dest"
	mkdir -p "$bindir" "$libdir" "$sharedir/extension"
	cp -a "$SYS_BINDIR"/. "$bindir"/
	local f
	for f in "$SYS_PKGLIBDIR"/*; do
		case $(basename "$f") in shilian*|bitcode) continue ;; esac
		ln -s "$f" "$libdir"/
	done
	for f in "$SYS_SHAREDIR"/*; do
		[ "$(basename "$f")" = extension ] && continue
		ln -s "$f" "$sharedir"/
	done
	for f in "$SYS_SHAREDIR"/extension/*; do
		case $(basename "$f") in shilian*) continue ;; esac
		ln -s "$f" "$sharedir/extension"/
	done
	make -s -C "$TOP" install DESTDIR="$dest" >/dev/null
	chmod -R a+rX "$dest"
	echo "$bindir"
}

# release_install VERSION DEST: a private install (as private_install) of a
# released version, built from the commit sql/update/RELEASES names for it,
# for the upgrade test. Needs the clone's history (a full `git clone`).
release_install() {
	local version=$1 dest=$2 commit src
	commit=$(awk -v v="$version" '$1 == v { print $2 }' "$TOP/sql/update/RELEASES")
	[ -n "$commit" ] || die "sql/update/RELEASES names no commit for $version"
	git -C "$TOP" cat-file -e "$commit^{commit}" 2>/dev/null ||
		die "commit $commit of release $version is not in this clone (the upgrade test needs the history: git fetch --unshallow)"
	src=$dest.src
	rm -rf "$src"; mkdir -p "$src"
	git -C "$TOP" archive "$commit" | tar -x -C "$src"
	make -s -C "$src" all >/dev/null 2>&1 || die "building release $version failed (in $src)"
	# the release's own helpers make the install from the release's tree
	chmod -R a+rX "$src"
	bash -c '. "$1/tests/lib/common.sh" && private_install "$2"' _ "$src" "$dest"
}

# cluster_init DATADIR SOCKDIR PORT LISTEN [throwaway]
# Durable by default (fsync, synchronous_commit, full_page_writes on: the
# `make run` cluster); only a throwaway test or bench cluster, whose data
# nobody keeps, passes `throwaway` to turn them off.
cluster_init() {
	local data=$1 sock=$2 port=$3 listen=$4 kind=${5:-durable}
	mkdir -p "$data" "$sock"
	[ "$(id -u)" = 0 ] && chown postgres: "$data" "$sock"
	chmod 700 "$data"
	as_pg initdb -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
	cat >> "$data/postgresql.conf" <<CONF
# shilian private cluster
port = $port
listen_addresses = '$listen'
unix_socket_directories = '$sock'
max_connections = 100
shared_buffers = 256MB
log_min_messages = warning
max_prepared_transactions = 0
timezone = 'UTC'
CONF
	if [ "$kind" = throwaway ]; then
		cat >> "$data/postgresql.conf" <<CONF
# throwaway cluster: speed over durability
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
	fi
}

# cluster_durable DATADIR: whether the cluster's configuration keeps what it
# acknowledged (none of fsync, synchronous_commit, full_page_writes is off,
# counting the last setting of each).
cluster_durable() {
	local conf=$1/postgresql.conf k v
	for k in fsync synchronous_commit full_page_writes; do
		v=$(sed -n "s/^[[:space:]]*$k[[:space:]]*=[[:space:]]*\([a-z]*\).*/\1/p" "$conf" | tail -n 1)
		[ "$v" = off ] && return 1
	done
	return 0
}

cluster_start() {
	local data=$1 log=$2
	touch "$log"; [ "$(id -u)" = 0 ] && chown postgres: "$log"
	as_pg pg_ctl -D "$data" -l "$log" -w -t 60 start >/dev/null
}

cluster_stop() {
	local data=$1
	[ -f "$data/postmaster.pid" ] || return 0
	as_pg pg_ctl -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}
