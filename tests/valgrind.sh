#!/bin/sh
# tests/valgrind.sh — memcheck over a real host and a unit suite: the
# end-to-end till test (tests/e2e_till.sh, unchanged: it runs
# $BUILD/tillpoints-till, which here is a wrapper that starts the real till
# under valgrind) and build/tests/test_checkout. Passes only with zero
# memcheck errors and zero definitely-lost bytes in every process.
#   BUILD=build sh tests/valgrind.sh      (after `make all build/tests/test_checkout`)
set -eu
cd "$(dirname "$0")/.."
B="${BUILD:-build}"
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
for f in "$B/tillpoints-till" "$B/tillpoints.so" "$B/tests/test_checkout"; do
    [ -e "$f" ] || { echo "valgrind.sh: $f is missing; run make first" >&2; exit 2; }
done
case "$B" in /*) ABS_B=$B ;; *) ABS_B=$(pwd)/$B ;; esac
work=$(mktemp -d /tmp/tillpoints-valgrind-XXXXXX)
trap 'rm -rf "$work"' EXIT
VG="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-origins=yes --log-file=$work/vg.%p.log"

# A BUILD directory whose till is the real one under valgrind.
mkdir -p "$work/build"
ln -s "$ABS_B/tillpoints.so" "$work/build/tillpoints.so"
cat > "$work/build/tillpoints-till" <<WRAP
#!/bin/sh
exec $VG "$ABS_B/tillpoints-till" "\$@"
WRAP
chmod +x "$work/build/tillpoints-till"

status=0
echo "== e2e_till.sh under valgrind"
BUILD="$work/build" sh tests/e2e_till.sh || status=1
echo "== test_checkout under valgrind"
# shellcheck disable=SC2086
$VG "$B/tests/test_checkout" || status=1

runs=0
for log in "$work"/vg.*.log; do
    # A log without a summary is a forked child that exec'd an untraced
    # program (system("rm -rf ...") in the tests): nothing ran under memcheck.
    grep -q "ERROR SUMMARY" "$log" || continue
    runs=$((runs + 1))
    if ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
        echo "valgrind: errors in $(sed -n 's/.*Command: //p' "$log" | head -1):"; cat "$log"; status=1
    fi
    if grep -q "definitely lost: [1-9]" "$log"; then
        echo "valgrind: definite leak in $(sed -n 's/.*Command: //p' "$log" | head -1):"; cat "$log"; status=1
    fi
done
echo "valgrind: $runs processes checked"
[ $status -eq 0 ] && echo "valgrind: 0 errors, 0 definitely lost bytes"
exit $status
