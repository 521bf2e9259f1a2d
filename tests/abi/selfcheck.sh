#!/bin/sh
# The ABI check checks itself (docs/DESIGN.md §13): on a copy of the public
# headers, the unchanged copy must pass and each deliberately incompatible
# change must fail, one change at a time, and so must a renamed field,
# which abidiff would by default call harmless. The baseline here is made from
# the unchanged copy, in another directory than every check, so a pass also
# shows that the dump does not depend on where it was built.
#
# The targets of the changes are found by their shape (tests/abi/mutate.awk),
# not by name. When a change finds nothing to apply to, this says so and
# fails: a self-check that changed nothing would prove nothing.
set -eu

here=$(dirname "$0")
abi="sh $here/abi.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tp-abi-selfcheck.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# The headers may pin their own layout with static assertions. They are
# switched off here, in the baseline and in every case alike, so that each
# change must be caught by abidiff rather than by the compiler.
export ABI_SURFACE_CPPFLAGS='-D_Static_assert(...)='

cp -R include "$tmp/pristine"
$abi baseline "$tmp/pristine" - "$tmp/baseline" "$tmp/baseline-build" >/dev/null

failed=0

# run_case NAME: checks $tmp/NAME/include against the baseline; prints the
# status (0 same, 1 differs, 2 could not compare).
run_case() {
    status=0
    $abi check "$tmp/$1/include" - "$tmp/baseline" "$tmp/$1/build" \
        >"$tmp/$1/check.log" 2>&1 || status=$?
    echo "$status"
}

mkdir -p "$tmp/unchanged"
cp -R include "$tmp/unchanged/include"
status=$(run_case unchanged)
if [ "$status" -eq 0 ] && cmp -s "$tmp/baseline/surface.abi" "$tmp/unchanged/build/surface.abi"; then
    echo "abi self-check: the unchanged headers pass, their dump byte-identical from another directory"
else
    echo "FAIL: abi self-check: the unchanged headers do not pass (status $status):"
    cat "$tmp/unchanged/check.log"
    diff "$tmp/baseline/surface.abi" "$tmp/unchanged/build/surface.abi" | head -20 || true
    failed=$((failed + 1))
fi

for change in swap width insert drop-fn array rename; do
    mkdir -p "$tmp/$change"
    cp -R include "$tmp/$change/include"
    # The first header, in a stable order, that has something to change.
    found=""
    for h in $(cd "$tmp/$change/include" && find tillpoints -name '*.h' | LC_ALL=C sort); do
        f="$tmp/$change/include/$h"
        if awk -v change="$change" -v report="$tmp/$change/what" -f "$here/mutate.awk" "$f" >"$f.new"; then
            mv "$f.new" "$f"
            found="$h: $(cat "$tmp/$change/what")"
            break
        fi
        rm -f "$f.new"
    done
    if [ -z "$found" ]; then
        echo "FAIL: abi self-check case $change found nothing to change"
        failed=$((failed + 1))
        continue
    fi
    status=$(run_case "$change")
    case "$status" in
    1) echo "abi self-check: $change fails as it must ($found)" ;;
    0)
        echo "FAIL: abi self-check: $change passed the ABI check ($found)"
        failed=$((failed + 1))
        ;;
    *)
        echo "FAIL: abi self-check: $change could not be checked ($found):"
        cat "$tmp/$change/check.log"
        failed=$((failed + 1))
        ;;
    esac
done

if [ "$failed" -ne 0 ]; then
    echo "abi self-check: $failed failed"
    exit 1
fi
echo "abi self-check: all passed"
