#!/bin/sh
# tests/valgrind.sh — memcheck over a real host and a unit suite: the
# end-to-end till test (tests/e2e_till.sh, unchanged: it runs
# $BUILD/tillpoints-till, which here is a wrapper that starts the real till
# under valgrind), build/tests/test_checkout and build/tests/test_redeem. Passes only with zero
# memcheck errors and zero definitely-lost bytes in every process.
#   BUILD=build sh tests/valgrind.sh      (after `make all build/tests/test_checkout`)
set -eu
cd "$(dirname "$0")/.."
B="${BUILD:-build}"
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
for f in "$B/tillpoints-till" "$B/tillpoints.so" "$B/tests/test_checkout" "$B/tests/test_redeem"; do
    [ -e "$f" ] || { echo "valgrind.sh: $f is missing; run make first" >&2; exit 2; }
done
case "$B" in /*) ABS_B=$B ;; *) ABS_B=$(pwd)/$B ;; esac
work=$(mktemp -d /tmp/tillpoints-valgrind-XXXXXX)
trap 'rm -rf "$work"' EXIT
VG="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-origins=yes --log-file=$work/vg.%p.log"

# A BUILD directory whose till is the real one under valgrind.
mkdir -p "$work/build"
ln -s "$ABS_B/tillpoints.so" "$work/build/tillpoints.so"
ln -s "$ABS_B/tillpoints" "$work/build/tillpoints" # the manager's CLI checks balances
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
echo "== test_redeem under valgrind"
# shellcheck disable=SC2086
$VG "$B/tests/test_redeem" || status=1

# The back office: a manager signs in, looks at every page that reads the
# database, opens a missed-visit form and signs out, with curl; then the
# server is stopped with SIGTERM (docs/DESIGN.md §15).
echo "== tillpoints-web under valgrind"
printf '[store]\ndatabase = %s/web.db\n' "$work" > "$work/web.conf"
printf '246810\n' | "$B/tillpoints" --plugin "$B/tillpoints.so" --config "$work/web.conf" \
    manager add mia --name "Mia Manager" --staff vg >/dev/null
"$B/tillpoints" --plugin "$B/tillpoints.so" --config "$work/web.conf" \
    member add M-1001 --name "Ann <b>" --phone "0151 2345 6789" >/dev/null
mkfifo "$work/ready"
$VG "$ABS_B/tillpoints-web" --plugin "$ABS_B/tillpoints.so" --config "$work/web.conf" \
    --listen 127.0.0.1:0 --assets web > "$work/ready" &
web_pid=$!
read -r line < "$work/ready"
url=${line#tillpoints-web ready: }
url=${url%/}
jar="$work/jar"
get() { curl -sS -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" "$url$1"; }
csrf=$(curl -sS -b "$jar" -c "$jar" "$url/signin" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
code=$(curl -sS -o /dev/null -w '%{http_code}' -b "$jar" -c "$jar" -H "Origin: $url" \
    --data-urlencode manager=mia --data-urlencode pin=246810 --data-urlencode "csrf=$csrf" "$url/signin")
[ "$code" = 303 ] || { echo "valgrind: web sign-in answered $code"; status=1; }
for page in / /dashboard.json "/members?q=0151%202345%206789" /members/M-1001 /activity /missed \
    /status /audit /forms/retro-visit; do
    code=$(get "$page")
    case $code in 200|303) ;; *) echo "valgrind: GET $page answered $code"; status=1 ;; esac
done
csrf=$(curl -sS -b "$jar" "$url/" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
curl -sS -o /dev/null -b "$jar" -H "Origin: $url" --data-urlencode "csrf=$csrf" "$url/signout"
kill -TERM "$web_pid"
wait "$web_pid" || { echo "valgrind: tillpoints-web exited $?"; status=1; }

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
