#!/bin/sh
# ABI compatibility across minor versions (docs/INTEGRATING.md, "Versions
# and compatibility"): the plugin and a test host (tests/abi/compat_host.c)
# are each built against the 2.0 headers and against a made-up 2.1
# (tests/abi/next.py: one field appended to tp_member_info, one new
# extension), and every pairing runs. BUILD and SAN as for `make check-run`.
set -eu
BUILD=${BUILD:-build}
SAN=${SAN:-}
MAKE=${MAKE:-make}
NEXT=$BUILD/abi-next

python3 tests/abi/next.py include "$NEXT/include"
"$MAKE" --no-print-directory -j2 BUILD="$BUILD" SAN="$SAN" "$BUILD/tillpoints.so" "$BUILD/compat_host"
"$MAKE" --no-print-directory -j2 BUILD="$NEXT" SAN="$SAN" TP_INCLUDE="$NEXT/include" \
    "$NEXT/tillpoints.so" "$NEXT/compat_host"

for host in 2.0 2.1; do
    for plugin in 2.0 2.1; do
        if [ $host = 2.0 ]; then h=$BUILD/compat_host; else h=$NEXT/compat_host; fi
        if [ $plugin = 2.0 ]; then p=$BUILD/tillpoints.so; else p=$NEXT/tillpoints.so; fi
        echo "== ABI $host host with ABI $plugin plugin"
        TILLPOINTS_PLUGIN=$p TP_EXPECT_PLUGIN_MINOR=${plugin#2.} "$h"
    done
done
echo "compat: every pairing of 2.0 and 2.1 hosts and plugins works"
