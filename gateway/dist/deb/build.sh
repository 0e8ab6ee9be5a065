#!/usr/bin/env bash
# `make deb`: the Debian packages postgresql-15-shilian (the extension) and
# shilian-gateway (gateway, offline verifier, systemd unit, example config,
# man pages), built with dpkg-deb from one staged `make install`, split by
# path. Runtime dependencies come from dpkg-shlibdeps (the shared libraries
# the binaries link), plus what the packages need besides.
# usage: build.sh VERSION OUTDIR
set -euo pipefail

VERSION=$1
OUT=$2
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
DIST=$TOP/gateway/dist
REVISION=1
ARCH=$(dpkg --print-architecture)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGMAJOR=$("$PG_CONFIG" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
EXT_PKG=postgresql-$PGMAJOR-shilian
GW_PKG=shilian-gateway
MAINTAINER='shilian maintainers <maintainers@shilian.invalid>'

mkdir -p "$TOP/$OUT"
OUT=$(cd "$TOP/$OUT" && pwd)
W=$OUT/work
rm -rf "$W"
mkdir -p "$W/stage" "$W/$EXT_PKG" "$W/$GW_PKG"

# One staged install with the packaging paths of Debian 12.
make -s -C "$TOP" install DESTDIR="$W/stage" prefix=/usr GW_UNITDIR=/lib/systemd/system \
	GW_DOCDIR=/usr/share/doc/$GW_PKG PG_CONFIG="$PG_CONFIG" >/dev/null

# Split: the server's directories go to the extension package, the rest to
# the gateway's.
mkdir -p "$W/$EXT_PKG/usr/lib" "$W/$EXT_PKG/usr/share"
mv "$W/stage/usr/lib/postgresql" "$W/$EXT_PKG/usr/lib/"
mv "$W/stage/usr/share/postgresql" "$W/$EXT_PKG/usr/share/"
cp -a "$W/stage/." "$W/$GW_PKG/"
find "$W/$GW_PKG" -type d -empty -delete

# Docs: copyright (and the gateway's man pages compressed, as policy wants).
copyright() {
	mkdir -p "$1/usr/share/doc/$2"
	cat > "$1/usr/share/doc/$2/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: shilian
Comment: food-safety traceability platform (食链); built from the shilian
 source tree by \`make deb\`. The project states no licence yet.
Files: *
Copyright: the shilian maintainers
License: unstated
EOF
}
copyright "$W/$EXT_PKG" "$EXT_PKG"
copyright "$W/$GW_PKG" "$GW_PKG"
gzip -9n "$W/$GW_PKG"/usr/share/man/man*/*

# Runtime dependencies of the ELF files, as dpkg-shlibdeps finds them
# (it wants a debian/control to read; the extension's undefined symbols are
# the server's own, hence --ignore-missing-info and no -x/-l warnings).
shlibdeps() {
	local dir=$1; shift
	mkdir -p "$W/shlib/debian"
	printf 'Source: shilian\n\nPackage: shilian\nArchitecture: any\n' > "$W/shlib/debian/control"
	(cd "$W/shlib" && dpkg-shlibdeps -O --warnings=0 --ignore-missing-info "$@" 2>/dev/null) |
		sed -n 's/^shlibs:Depends=//p'
}
EXT_DEPS=$(shlibdeps "$W/$EXT_PKG" "$W/$EXT_PKG"/usr/lib/postgresql/"$PGMAJOR"/lib/shilian.so)
GW_DEPS=$(shlibdeps "$W/$GW_PKG" "$W/$GW_PKG"/usr/bin/shilian-gateway "$W/$GW_PKG"/usr/bin/shilian-verify \
	"$W/$GW_PKG"/usr/bin/shilian-deliver)

control() {
	local root=$1 pkg=$2 depends=$3 desc=$4
	mkdir -p "$root/DEBIAN"
	{
		echo "Package: $pkg"
		echo "Version: $VERSION-$REVISION"
		echo "Architecture: $ARCH"
		echo "Maintainer: $MAINTAINER"
		echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
		echo "Depends: $depends"
		[ "$pkg" = "$EXT_PKG" ] && echo "Suggests: postgresql-$PGMAJOR-cron, $GW_PKG"
		[ "$pkg" = "$GW_PKG" ] && echo "Suggests: $EXT_PKG"
		echo "Section: database"
		echo "Priority: optional"
		printf 'Description: %s\n' "$desc"
	} > "$root/DEBIAN/control"
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
		xargs -0 md5sum) > "$root/DEBIAN/md5sums"
}
control "$W/$EXT_PKG" "$EXT_PKG" "postgresql-$PGMAJOR, $EXT_DEPS" \
"food-safety traceability for PostgreSQL $PGMAJOR (shilian extension)
 shilian (食链) records who produced, inspected, sold, bought and served
 every lot of food in a province, in a hash-chained ledger with a Merkle
 log, and traces a problem lot forward and back for recalls. This package
 holds the PostgreSQL extension: CREATE EXTENSION shilian in a UTF8 database."
control "$W/$GW_PKG" "$GW_PKG" "adduser, $GW_DEPS" \
"REST gateway and offline ledger verifier of shilian
 shilian-gateway serves the shilian SQL API as JSON over HTTP (JWT or API key
 authentication, bulk upload, GS1 EPCIS 2.0, /healthz and /metrics) and runs
 as the systemd service shilian-gateway. shilian-verify checks an exported
 ledger chain without the database."

# The gateway's config is a conffile; maintainer scripts make its user and key.
echo /etc/shilian/gateway.conf > "$W/$GW_PKG/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 755 "$DIST/deb/$GW_PKG.$s" "$W/$GW_PKG/DEBIAN/$s"
done

rm -f "$OUT"/*.deb
for p in "$EXT_PKG" "$GW_PKG"; do
	dpkg-deb --root-owner-group -Zxz --build "$W/$p" "$OUT/${p}_$VERSION-${REVISION}_$ARCH.deb" >/dev/null
	echo "$OUT/${p}_$VERSION-${REVISION}_$ARCH.deb"
done
rm -rf "$W"
