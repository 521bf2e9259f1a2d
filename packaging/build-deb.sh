#!/bin/sh
# build-deb.sh — builds the Debian packages tillpoints and tillpoints-dev
# with dpkg-deb (no debhelper, works offline):
#
#   sh packaging/build-deb.sh [OUTDIR]        (`make deb` runs it)
#
# It compiles a separate tree (BUILD=build/deb/obj) with PREFIX=/usr, so
# that the plugin path compiled into the programs is the packaged one,
# stages `make install DESTDIR=... PREFIX=/usr`, adds what the Makefile does
# not install (config, systemd unit, udev rules, man pages, pkg-config file,
# docs, maintainer scripts), computes Depends with dpkg-shlibdeps and writes
# OUTDIR/tillpoints_<version>_<arch>.deb and tillpoints-dev_<version>_<arch>.deb
# (OUTDIR defaults to build/deb). Needs dpkg-dev (dpkg-shlibdeps,
# dpkg-architecture) and the build dependencies of `make all`.
set -eu
umask 022
# Run from a recipe (make deb, make check), the parent make's command-line
# variables (BUILD=build/asan SAN=1 ...) would reach our make through these.
unset MAKEFLAGS MFLAGS MAKELEVEL

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
pk=packaging
deb=$pk/deb
out=${1:-build/deb}
work=build/deb/work
export LC_ALL=C.UTF-8

version=$(sed -n '1s/^tillpoints (\([^)]*\)).*/\1/p' "$deb/changelog")
[ -n "$version" ] || { echo "build-deb: no version in $deb/changelog" >&2; exit 1; }
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
maintainer=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$deb/changelog" | head -n 1)
# Reproducible: every timestamp is the changelog's.
SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^ -- .*>  //p' "$deb/changelog" | head -n 1)" +%s)
export SOURCE_DATE_EPOCH

# Debian's hardening flags (dpkg-buildflags) are the Makefile's own, in
# every build; a packager's CPPFLAGS, CFLAGS and LDFLAGS add to them.
rm -rf "$work"
mkdir -p "$work" "$out"
stage=$work/stage
echo "build-deb: compiling with PREFIX=/usr (BUILD=build/deb/obj)"
make --no-print-directory BUILD=build/deb/obj PREFIX=/usr LIBDIR="/usr/lib/$triplet" \
    all >"$work/make.log" 2>&1 ||
    { tail -n 40 "$work/make.log" >&2; echo "build-deb: make all failed" >&2; exit 1; }
make --no-print-directory BUILD=build/deb/obj PREFIX=/usr LIBDIR="/usr/lib/$triplet" \
    DESTDIR="$top/$stage" install >>"$work/make.log" 2>&1 ||
    { tail -n 40 "$work/make.log" >&2; echo "build-deb: make install failed" >&2; exit 1; }

# ---- split the staged tree into the two packages -------------------------
rt=$work/tillpoints
rd=$work/tillpoints-dev
libdir=/usr/lib/$triplet
mkdir -p "$rt/DEBIAN" "$rd/DEBIAN"

# tillpoints: the plugin, its modules (docs/DESIGN.md §14) and the programs.
modules="tillpoints-camera.so tillpoints-wedge.so tillpoints-sync.so"
install -d "$rt$libdir/tillpoints" "$rt/usr/bin"
for so in tillpoints.so $modules; do
    install -m 0644 "$stage$libdir/tillpoints/$so" "$rt$libdir/tillpoints/"
done
# tillpoints-web: the managers' back office (docs/DESIGN.md §15).
programs="tillpoints tillpoints-shim tillpoints-till tillpoints-web"
for b in $programs; do
    install -m 0755 "$stage/usr/bin/$b" "$rt/usr/bin/"
done
# Its pages' style and scripts, as `make install` stages them (the path
# is the server's --assets default). Chart.js is not among them: the
# server serves Debian's libjs-chart.js (a Depends below).
[ -f "$stage/usr/share/tillpoints/web/dashboard.js" ] ||
    { echo "build-deb: make install staged no /usr/share/tillpoints/web/dashboard.js" >&2; exit 1; }
install -d "$rt/usr/share/tillpoints"
cp -R "$stage/usr/share/tillpoints/web" "$rt/usr/share/tillpoints/"
find "$rt/usr/share/tillpoints/web" -type f -exec chmod 0644 {} +
# As dh_strip does (no -dbgsym package here).
for so in tillpoints.so $modules; do
    strip --remove-section=.comment --remove-section=.note --strip-unneeded \
        "$rt$libdir/tillpoints/$so"
done
for b in $programs; do
    strip --remove-section=.comment --remove-section=.note "$rt/usr/bin/$b"
done

install -d "$rt/etc/tillpoints" "$rt/lib/systemd/system" "$rt/lib/udev/rules.d"
install -m 0644 $pk/tillpoints.conf "$rt/etc/tillpoints/tillpoints.conf"
# The shipped file holds no secret (empty settings): 0644 like any conffile;
# postinst's dpkg-statoverride makes it 0600 tillpoints:tillpoints (that user
# does not exist when the package is built), and dpkg applies the override
# to every later version it unpacks, before anyone writes a secret into it.
install -m 0644 $pk/tillpoints-secrets.conf "$rt/etc/tillpoints/secrets.conf"
install -m 0644 $pk/web.conf "$rt/etc/tillpoints/web.conf"
install -m 0644 $pk/tillpoints-shim.service $pk/tillpoints-web.service "$rt/lib/systemd/system/"
install -m 0644 $pk/60-tillpoints-scanners.rules "$rt/lib/udev/rules.d/"

# Man pages, compressed as policy asks.
for m in "$pk"/man/*.[1-8]; do
    sec=${m##*.}
    install -d "$rt/usr/share/man/man$sec"
    gzip -9nc "$m" >"$rt/usr/share/man/man$sec/$(basename "$m").gz"
    chmod 0644 "$rt/usr/share/man/man$sec/$(basename "$m").gz"
done

# Docs. PROTOCOL.md stays uncompressed: the unit's Documentation= names it.
doc=$rt/usr/share/doc/tillpoints
install -d "$doc"
install -m 0644 README.md docs/PROTOCOL.md docs/MANAGER.md docs/INTEGRATING.md "$doc/"
install -m 0644 $deb/copyright "$doc/copyright"
gzip -9nc $deb/changelog >"$doc/changelog.gz"

# tillpoints-dev: headers, pkg-config file, the example host.
install -d "$rd/usr/include/tillpoints/ext" "$rd$libdir/pkgconfig"
install -m 0644 "$stage"/usr/include/tillpoints/*.h "$rd/usr/include/tillpoints/"
install -m 0644 "$stage"/usr/include/tillpoints/ext/*.h "$rd/usr/include/tillpoints/ext/"
sed -e "s|@PREFIX@|/usr|g" -e "s|@LIBDIR@|$libdir|g" -e "s|@VERSION@|$version|g" \
    $pk/tillpoints.pc.in >"$rd$libdir/pkgconfig/tillpoints.pc"
chmod 0644 "$rd$libdir/pkgconfig/tillpoints.pc"
ddoc=$rd/usr/share/doc/tillpoints-dev
install -d "$ddoc/examples"
install -m 0644 docs/example_host.c "$ddoc/examples/"
install -m 0644 $deb/copyright "$ddoc/copyright"
gzip -9nc $deb/changelog >"$ddoc/changelog.gz"

# Everything `make install` staged must be in a package (a man page may be
# there compressed): a file added to the install target is not lost silently.
missing=$( (cd "$stage" && find . -type f) | sed 's|^\.||' | while read -r f; do
    [ -e "$rt$f" ] || [ -e "$rd$f" ] || [ -e "$rt$f.gz" ] || echo "$f"
done)
if [ -n "$missing" ]; then
    echo "build-deb: make install staged files that no package ships:" >&2
    printf '%s\n' "$missing" | sed 's/^/  /' >&2
    echo "build-deb: add them to packaging/build-deb.sh" >&2
    exit 1
fi

# Lintian overrides.
for p in tillpoints tillpoints-dev; do
    if [ -f "$deb/$p.lintian-overrides" ]; then
        root=$work/$p
        install -d "$root/usr/share/lintian/overrides"
        install -m 0644 "$deb/$p.lintian-overrides" "$root/usr/share/lintian/overrides/$p"
    fi
done

# Maintainer scripts and conffiles.
for s in postinst prerm postrm; do
    install -m 0755 "$deb/tillpoints.$s" "$rt/DEBIAN/$s"
done
install -m 0644 "$deb/tillpoints.conffiles" "$rt/DEBIAN/conffiles"

# ---- Depends from the ELF files (dpkg-shlibdeps wants a debian/control) --
sl=$work/shlibs
mkdir -p "$sl/debian"
printf 'Source: tillpoints\n\nPackage: tillpoints\nArchitecture: any\n' >"$sl/debian/control"
# The modules' libraries (zbar, libevdev, libpq) are Recommends: a store
# that installs without them keeps a working till, and the module that
# needs one says which package to install when the config asks for it.
modpaths=$(for so in $modules; do printf '%s ' "$top/$rt$libdir/tillpoints/$so"; done)
# shellcheck disable=SC2086 # modpaths is a list of paths without spaces
shlibs=$(cd "$sl" && dpkg-shlibdeps -O --warnings=7 -dDepends \
    "$top/$rt$libdir/tillpoints/tillpoints.so" "$top/$rt/usr/bin/tillpoints" \
    "$top/$rt/usr/bin/tillpoints-shim" "$top/$rt/usr/bin/tillpoints-till" \
    "$top/$rt/usr/bin/tillpoints-web" \
    -dRecommends $modpaths 2>"$top/$work/shlibdeps.log") ||
    { cat "$work/shlibdeps.log" >&2; exit 1; }
[ -s "$work/shlibdeps.log" ] && sed 's/^/build-deb: /' "$work/shlibdeps.log" >&2
recommends=$(printf '%s\n' "$shlibs" | sed -n 's/^shlibs:Recommends=//p')
shlibs=$(printf '%s\n' "$shlibs" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
[ -n "$recommends" ] || { echo "build-deb: dpkg-shlibdeps found no module libraries" >&2; exit 1; }
# adduser for the postinst; libjs-chart.js for the dashboard's charts
# (tillpoints-web serves its file, it links nothing of it); the shlibs line
# covers the libraries (libmicrohttpd12 for tillpoints-web among them).
case $shlibs in *libmicrohttpd*) ;; *)
    echo "build-deb: dpkg-shlibdeps did not find libmicrohttpd for tillpoints-web: $shlibs" >&2; exit 1 ;;
esac
depends="adduser, libjs-chart.js, $shlibs"

# ---- control files, md5sums, packages -------------------------------------
for p in tillpoints tillpoints-dev; do
    root=$work/$p
    find "$root" -path "$root/DEBIAN" -prune -o -type d -exec chmod 0755 {} +
    size=$(du -k -s --apparent-size --exclude=DEBIAN "$root" | cut -f1)
    sed -e "s|@VERSION@|$version|g" -e "s|@ARCH@|$arch|g" \
        -e "s|@MAINTAINER@|$maintainer|g" -e "s|@INSTALLED_SIZE@|$size|g" \
        -e "s|@DEPENDS@|$depends|g" -e "s|@RECOMMENDS@|$recommends|g" \
        "$deb/control.$p" >"$root/DEBIAN/control"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
        xargs -r md5sum) >"$root/DEBIAN/md5sums"
    chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
    find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${p}_${version}_${arch}.deb" >/dev/null
    echo "build-deb: $out/${p}_${version}_${arch}.deb"
done
