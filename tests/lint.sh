#!/bin/sh
# tests/lint.sh — static analysis of the shipped C: cppcheck and clang-tidy
# (the checked-in .clang-tidy) over plugin/, drivers/ and host-shim/.
# Exits non-zero on any finding from either tool. Run from the repo root.
#   LINT_JOBS=2 sh tests/lint.sh        # parallel clang-tidy
set -u
cd "$(dirname "$0")/.." || exit 2

PKGS="sqlite3 inih libsodium libserialport zbar libevdev libpng libpq"
PKG_CFLAGS=$(pkg-config --cflags $PKGS) || { echo "lint: pkg-config failed for: $PKGS" >&2; exit 2; }
INCS="-Iinclude -Iplugin -Idrivers -Ihost-shim"
# The release string the Makefile passes (-DTP_VERSION), a C string literal.
DEFS="-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DTP_VERSION=\"$(sed -n '1s/.*(\(.*\)).*/\1/p' packaging/deb/changelog)\""
SRC=$(ls plugin/*.c drivers/*.c host-shim/*.c)
JOBS=${LINT_JOBS:-$(nproc 2>/dev/null || echo 1)}
status=0

for tool in cppcheck clang-tidy; do
    command -v $tool >/dev/null 2>&1 || { echo "lint: $tool is not installed (apt-get install $tool)" >&2; exit 2; }
done

echo "== cppcheck"
# pkg-config's -I dirs, so cppcheck sees the real library headers' macros
# only where needed; system headers are not analysed (no -I/usr/include),
# so the limits.h constants libpng's pngconf.h checks are given here.
PKG_INCS=$(for f in $PKG_CFLAGS; do case $f in -I*) echo "$f";; esac; done)
# shellcheck disable=SC2086
cppcheck --quiet --std=c11 --enable=warning,style,performance,portability \
    --error-exitcode=1 --inline-suppr --suppress=missingIncludeSystem \
    --template='{file}:{line}: {severity}: [{id}] {message}' \
    -DCHAR_BIT=8 -DUCHAR_MAX=255 -DSHRT_MIN=-32768 -DSHRT_MAX=32767 -DUSHRT_MAX=65535 \
    -DINT_MIN=-2147483648 -DINT_MAX=2147483647 -DUINT_MAX=4294967295U $DEFS $INCS $PKG_INCS $SRC || status=1

echo "== clang-tidy ($JOBS jobs)"
logs=$(mktemp -d)
# One log per file; a file with findings leaves a .failed marker.
# shellcheck disable=SC2016,SC2086
printf '%s\n' $SRC | xargs -P "$JOBS" -I{} sh -c '
    log="$2/$(echo "$1" | tr / _).log"
    clang-tidy --quiet "$1" -- -std=c11 $3 >"$log" 2>&1 || touch "$log.failed"' \
    _ {} "$logs" "$DEFS $INCS $PKG_CFLAGS"
cat "$logs"/*.log | grep -E '^[^ ].*: (warning|error): ' | sort -u
if ls "$logs"/*.failed >/dev/null 2>&1; then
    echo "clang-tidy: findings in $(ls "$logs"/*.failed | wc -l) files"
    status=1
fi
rm -rf "$logs"
[ $status -eq 0 ] && echo "lint: clean"
exit $status
