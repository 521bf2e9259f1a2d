#!/bin/sh
# ABI compatibility across minor versions (docs/INTEGRATING.md, "Versions
# and compatibility"): the plugin and a test host (tests/abi/compat_host.c)
# are each built against today's headers (2.N, include/) and against a
# made-up next minor 2.N+1 (tests/abi/next.py: one field appended to
# tp_member_info, one new extension), and every pairing runs. BUILD and SAN
# as for `make check-run`.
set -eu
BUILD=${BUILD:-build}
SAN=${SAN:-}
MAKE=${MAKE:-make}
NEXT=$BUILD/abi-next

python3 tests/abi/next.py include "$NEXT/include"
# Each plugin with its camera module beside it: the images extension
# decodes through it (docs/DESIGN.md §14).
"$MAKE" --no-print-directory -j2 BUILD="$BUILD" SAN="$SAN" "$BUILD/tillpoints.so" \
    "$BUILD/tillpoints-camera.so" "$BUILD/compat_host"
"$MAKE" --no-print-directory -j2 BUILD="$NEXT" SAN="$SAN" TP_INCLUDE="$NEXT/include" \
    "$NEXT/tillpoints.so" "$NEXT/tillpoints-camera.so" "$NEXT/compat_host"

# The minors as the headers say, so the script cannot drift from them.
minor_of() {
    sed -n 's/^#define TP_ABI_MINOR \([0-9][0-9]*\)$/\1/p' "$1/tillpoints/tillpoints.h"
}
now=$(minor_of include)
next=$(minor_of "$NEXT/include")
if [ -z "$now" ] || [ "$next" != $((now + 1)) ]; then
    echo "compat: the made-up headers are not the next minor (2.$now -> 2.$next)" >&2
    exit 1
fi

for host in "$now" "$next"; do
    for plugin in "$now" "$next"; do
        if [ "$host" = "$now" ]; then h=$BUILD/compat_host; else h=$NEXT/compat_host; fi
        if [ "$plugin" = "$now" ]; then p=$BUILD/tillpoints.so; else p=$NEXT/tillpoints.so; fi
        echo "== ABI 2.$host host with ABI 2.$plugin plugin"
        TILLPOINTS_PLUGIN=$p TP_EXPECT_PLUGIN_MINOR=$plugin "$h"
    done
done
echo "compat: every pairing of 2.$now and 2.$next hosts and plugins works"
