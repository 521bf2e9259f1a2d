#!/bin/sh
# The plugin's contract with its host, read off the built objects:
# tillpoints.so exports exactly tillpoints_entry, each module
# (docs/DESIGN.md §14) exactly tillpoints_module_<name>; none imports
# anything that could end, fork or take signals from the host process; and
# the core names none of the modules' libraries as NEEDED, so loading it
# can never map them.
set -eu
b="${BUILD:-build}"
passed=0
fail=0
# A plain (shipping) build also has assert() compiled out: a failed assert
# aborts. Sanitizer builds keep asserts on purpose.
deadly='exit|_exit|_Exit|abort|fork|vfork|system|popen|signal|sigaction|raise|kill|execv|execve|execvp'
[ "${SAN:-}" = 1 ] || deadly="$deadly|__assert_fail"

check_so() { # check_so FILE EXPECTED_EXPORT
    so=$1
    [ -f "$so" ] || { echo "FAIL: $so not built"; fail=$((fail + 1)); return; }
    exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
              grep -v -x -E '_init|_fini|_edata|_end|__bss_start' || true)
    if [ "$exports" != "$2" ]; then
        echo "FAIL: $so exports: $(echo "$exports" | tr '\n' ' ') (expected $2 only)"
        fail=$((fail + 1))
    else
        passed=$((passed + 1))
    fi
    forbidden=$(nm -D --undefined-only "$so" | awk '{print $2}' | sed 's/@.*//' |
                grep -x -E "$deadly" || true)
    if [ -n "$forbidden" ]; then
        echo "FAIL: $so imports $(echo "$forbidden" | tr '\n' ' ')"
        fail=$((fail + 1))
    else
        passed=$((passed + 1))
    fi
}

check_so "$b/tillpoints.so" tillpoints_entry
for m in camera wedge sync; do
    check_so "$b/tillpoints-$m.so" "tillpoints_module_$m"
done

heavy=$(readelf -d "$b/tillpoints.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
        grep -E '^lib(pq|zbar|evdev|png|X11|xcb|dbus|v4l|jpeg|ssl|crypto|gnutls|krb5|gssapi|ldap)' || true)
if [ -n "$heavy" ]; then
    echo "FAIL: $b/tillpoints.so needs $(echo "$heavy" | tr '\n' ' ')(a module's libraries)"
    fail=$((fail + 1))
else
    passed=$((passed + 1))
fi
echo "test_exports: $passed passed, $fail failed"
[ "$fail" -eq 0 ]
