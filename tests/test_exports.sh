#!/bin/sh
# The plugin's contract with its host, read off the built .so: it exports
# exactly tillpoints_entry, and imports nothing that could end, fork or
# take signals from the host process.
set -eu
so="${BUILD:-build}/tillpoints.so"
[ -f "$so" ] || { echo "test_exports: $so not built" >&2; exit 1; }
fail=0
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
          grep -v -x -E '_init|_fini|_edata|_end|__bss_start' || true)
passed=0
if [ "$exports" != "tillpoints_entry" ]; then
    echo "FAIL: $so exports: $(echo "$exports" | tr '\n' ' ')"
    fail=$((fail + 1))
else
    passed=$((passed + 1))
fi
# A plain (shipping) build also has assert() compiled out: a failed assert
# aborts. Sanitizer builds keep asserts on purpose.
deadly='exit|_exit|_Exit|abort|fork|vfork|system|popen|signal|sigaction|raise|kill|execv|execve|execvp'
[ "${SAN:-}" = 1 ] || deadly="$deadly|__assert_fail"
forbidden=$(nm -D --undefined-only "$so" | awk '{print $2}' | sed 's/@.*//' |
            grep -x -E "$deadly" || true)
if [ -n "$forbidden" ]; then
    echo "FAIL: $so imports $(echo "$forbidden" | tr '\n' ' ')"
    fail=$((fail + 1))
else
    passed=$((passed + 1))
fi
echo "test_exports: $passed passed, $fail failed"
[ "$fail" -eq 0 ]
