#!/bin/sh
# Installs the Debian 12 packages tillpoints needs to build and test, when
# any is missing. As root it runs apt-get; otherwise it prints the command.
set -eu
PKGS="gcc g++ make pkg-config sqlite3 libsqlite3-dev libinih-dev libsodium-dev libcmocka-dev \
libjansson-dev libcsv-dev libpng-dev libserialport-dev libzbar-dev libevdev-dev libpq-dev \
valgrind clang cppcheck binutils python3 tmux socat qrencode zint umockdev bsdutils \
lintian dpkg-dev man-db udev libpq-dev postgresql"
missing=""
for p in $PKGS; do
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
    echo "Run as root:  apt-get install -y$missing" >&2
    exit 1
fi
