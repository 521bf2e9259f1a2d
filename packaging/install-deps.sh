#!/bin/sh
# Installs the Debian 12 packages that the make targets the README names
# need (all, demo, check, lint, bench, deb), when any is missing. As root it
# runs apt-get; otherwise it prints the exact command and exits 1, so that
# `make demo` and `make check` stop before compiling.
set -eu

# Build: compiler, pkg-config, the libraries' -dev packages, dpkg-buildflags
# (Debian's hardening flags, used by every build); libmicrohttpd-dev for the
# back office's web server (tillpoints-web) and libjs-chart.js, the
# Chart.js it serves to draw the dashboard (/static/chart.js, taken from
# /usr/share/javascript/chart.js at run time, never bundled).
BUILD="gcc make pkg-config dpkg-dev libsqlite3-dev libinih-dev libsodium-dev libjansson-dev \
libcsv-dev libpng-dev libserialport-dev libzbar-dev libevdev-dev libpq-dev \
libmicrohttpd-dev libjs-chart.js"
# demo: the sqlite3 shell prints the demo database.
DEMO="sqlite3"
# check: cmocka; g++ (the headers compile as C++); clang and its libFuzzer
# runtime (only a Recommends of clang); nm for the export check; valgrind;
# python3 (shim test); tmux and socat (terminal tests); qrencode and zint
# (camera test images); umockdev (wedge test); bsdutils (script); a real
# PostgreSQL (sync tests and bench); lintian, man-db, udev (package test);
# abidw and abidiff (the ABI baseline check); the back office's tests:
# chromium, chromium-driver and python3-selenium (tests/e2e_web.py drives a
# real headless Chromium through Debian's own chromedriver), openssl (a
# self-signed certificate for the TLS checks) and curl (the raw HTTP
# requests of tests/e2e_web_bad.sh).
CHECK="libcmocka-dev g++ clang libclang-rt-14-dev binutils valgrind python3 tmux socat \
qrencode zint umockdev bsdutils postgresql lintian man-db udev abigail-tools \
chromium chromium-driver python3-selenium openssl curl"
# lint: static analysers.
LINT="cppcheck clang-tidy"
# help: column(1) lays out `make help`.
HELP="bsdextrautils"

missing=""
for p in $BUILD $DEMO $CHECK $LINT $HELP; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "Installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
else
    echo "tillpoints needs these Debian packages:$missing" >&2
    echo "Run as root:  apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi
