#!/usr/bin/env bash
# pg_assert.sh: print the bin directory of an assert-enabled PostgreSQL 15,
# building it first when the cache has none for the installed server's
# version. The build is Debian's own source package (apt-get source, with a
# deb-src entry added when missing) configured with --enable-cassert and
# --enable-debug, which also turns on CLOBBER_FREED_MEMORY and
# MEMORY_CONTEXT_CHECKING. It is kept outside the clone
# (SHILIAN_ASSERT_CACHE, default /var/cache/shilian) keyed by the version, so
# only the first run on a machine pays for it (about 15 minutes on 2 cores).
set -euo pipefail

say() { printf '%s\n' "$*" >&2; }
CACHE=${SHILIAN_ASSERT_CACHE:-/var/cache/shilian}
installed=$(dpkg-query -W -f='${Version}' postgresql-15)
# A cached build of the installed version, else of any 15.x (the assert
# build runs its own server binaries, so a minor version apart is fine).
for d in "$CACHE/pg15-assert-$installed" $(ls -d "$CACHE"/pg15-assert-* 2>/dev/null | sort -V -r); do
	if [ -x "$d/bin/pg_config" ] && [ -f "$d/.complete" ]; then
		echo "$d/bin"
		exit 0
	fi
done
[ "$(id -u)" = 0 ] || { say "building the assert-enabled server needs root (apt-get) once; run as root"; exit 1; }

export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
	say "adding deb-src entries for Debian's source packages"
	sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
		> /etc/apt/sources.list.d/shilian-deb-src.sources
fi
apt-get update -qq >/dev/null
# What configure below needs; the release tarball carries the generated
# parser files, so no bison or flex.
apt-get install -y -qq --no-install-recommends dpkg-dev gcc make perl \
	libipc-run-perl zlib1g-dev libssl-dev pkg-config >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/pg-assert.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
# The installed version's source first; a mirror may lack it (security
# updates), then the newest source it has. Only the upstream tarball of the
# source package is built: Debian's patches point the module directory at
# the system's /usr/lib/postgresql/15/lib, where an install would overwrite
# the packaged server's modules.
version=""
for v in "$installed" $(apt-cache showsrc postgresql-15 | awk '/^Version:/ { print $2 }' | sort -V -r); do
	if (cd "$work" && apt-get source -qq --download-only "postgresql-15=$v" >/dev/null 2>&1); then
		version=$v
		break
	fi
	rm -rf "${work:?}"/*
done
[ -n "$version" ] || { say "apt-get source postgresql-15 found no source package"; exit 1; }
orig=$(ls "$work"/postgresql-15_*.orig.tar.* | head -1)
tar -xf "$orig" -C "$work"
src=$(find "$work" -maxdepth 1 -type d -name 'postgresql-15*' | head -1)
[ -n "$src" ] || { say "the source package of postgresql-15 has no upstream tree"; exit 1; }
dest=$CACHE/pg15-assert-$version
# .complete marks a finished install: a build cut short is redone.
rm -rf "$dest"
say "building an assert-enabled PostgreSQL $version in $dest (first run on this machine only)"
# The build's output goes to a log, whose end is shown when a step fails.
log=$work/build.log
step() { say "  $1"; shift; "$@" >>"$log" 2>&1 || { say "failed: $*"; tail -n 40 "$log" >&2; exit 1; }; }
cd "$src"
# a make above us (make test-assert) must not pass its flags or jobserver down
unset MAKEFLAGS MAKELEVEL MFLAGS
step configure ./configure -q --prefix="$dest" --enable-cassert --enable-debug \
	--enable-tap-tests --without-icu --without-readline --with-openssl CFLAGS='-O2 -g'
libdir=$(printf 'p:\n\t@echo $(pkglibdir)\n' | make -s -C src -f Makefile -f - p)
[ "$libdir" = "$dest/lib/postgresql" ] || { say "unexpected module directory $libdir (wanted $dest/lib/postgresql)"; exit 1; }
step "make world-bin (-j$(nproc))" make -s -j"$(nproc)" world-bin
step "make install-world-bin" make -s install-world-bin
cd - >/dev/null
touch "$dest/.complete"
echo "$dest/bin"
