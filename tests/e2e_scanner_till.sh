#!/bin/sh
# e2e_scanner_till.sh — a cashier's session with a plugin-owned serial
# scanner, end to end: the reference till (tillpoints-till, interactive)
# runs inside tmux, its config has [scanner "front"] on a serial port, and
# the "scanner" is a pseudo-terminal whose slave is bind-mounted over a
# /dev/ttyS<N> node, so the real libserialport and drivers/serial.c read
# it (docs/DESIGN.md §7). The cashier adds a member, the member's card is scanned
# (bytes written to the PTY master), an item is rung up and paid; the
# screen (tmux capture-pane) must show the scan (with the symbology its AIM
# id names), the member and the award, and the points are then checked in
# the SQLite file with sqlite3 — not through the plugin. Then
# tillpoints-shim serves the same scanner over its JSON-lines protocol, and
# its scan events must carry the symbology as well, and a client saying
# hello late learns the scanner online with its counters (scanner.state,
# scanners.list).
#
# How: as root, the script re-executes itself under
# `unshare --mount --propagation private`, so the bind mount is private and
# vanishes with the namespace. socat holds the PTY master and copies what
# the script writes into a FIFO to it. The till runs with
# LD_PRELOAD=serial_seam.so (modem-line ioctls for PTYs; libasan first when
# the till is an ASan build). tmux uses its own socket in the scratch
# directory, so no other tmux server is touched; a trap kills it, socat and
# the scratch directory whatever happens. Every wait is a poll for what
# the programs show (a line on screen, a file), bounded by TP_E2E_WAIT
# seconds (default 120: it only stops a stuck run).
#
# Environment: BUILD (default build), TP_SERIAL_SEAM (default
# $BUILD/serial_seam.so), TP_ALLOW_SKIP=1 to skip (exit 0) when not root or
# no mount namespace can be made; without it that is a failure.
# Output: progress, FAIL lines, and exactly one closing line
# "e2e_scanner_till: N passed, M failed"; exit status 1 on any failure.
# shellcheck disable=SC2317 # functions run from check() and the trap
set -eu
B="${BUILD:-build}"
TILL="$B/tillpoints-till"
SEAM="${TP_SERIAL_SEAM:-$B/serial_seam.so}"
NAME=e2e_scanner_till
WAIT=${TP_E2E_WAIT:-120}

cannot_run() { # why
    if [ "${TP_ALLOW_SKIP:-}" = 1 ]; then
        echo "SKIP $NAME: $1 (TP_ALLOW_SKIP=1)"
        echo "$NAME: 0 passed, 0 failed"
        exit 0
    fi
    echo "FAIL: $1; this test needs root and a private mount namespace (TP_ALLOW_SKIP=1 skips it)"
    echo "$NAME: 0 passed, 1 failed"
    exit 1
}

if [ "${TP_E2E_SCANNER_INSIDE:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || cannot_run "not running as root"
    unshare --mount --propagation private true 2>/dev/null ||
        cannot_run "unshare --mount failed"
    export TP_E2E_SCANNER_INSIDE=1
    exec unshare --mount --propagation private sh "$0" "$@"
fi

passed=0
failed=0
check() { # name, condition...
    name=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
finish() {
    echo "$NAME: $passed passed, $failed failed"
    if [ "$failed" -eq 0 ]; then exit 0; fi
    exit 1
}
SHIM="$B/tillpoints-shim"
for f in "$TILL" "$SHIM" "$SEAM"; do
    [ -e "$f" ] || { echo "FAIL: $f is missing; run make all $SEAM"; failed=1; finish; }
done
for tool in tmux socat sqlite3; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; failed=1; finish; }
done

# A /dev/ttyS<N> char node with a sysfs entry (libserialport wants both):
# ttyS7 if there, else the lowest.
node=
for s in /sys/class/tty/ttyS*; do
    n=${s##*/}
    [ -c "/dev/$n" ] || continue
    if [ "$n" = ttyS7 ]; then node=/dev/ttyS7; break; fi
    if [ -z "$node" ] || [ "${n#ttyS}" -lt "${node#/dev/ttyS}" ]; then node=/dev/$n; fi
done
[ -n "$node" ] || { echo "FAIL: no /dev/ttyS* node with a /sys/class/tty entry"; failed=1; finish; }

work=$(mktemp -d /tmp/tillpoints-e2e-scanner-XXXXXX)
sock="$work/tmux.sock"
socat_pid=
shim_pid=
cleanup() {
    tmux -S "$sock" kill-server 2>/dev/null || true
    if [ -n "$shim_pid" ]; then kill "$shim_pid" 2>/dev/null || true; fi
    exec 4>&- 2>/dev/null || true
    if [ -n "$socat_pid" ]; then kill "$socat_pid" 2>/dev/null || true; fi
    exec 3>&- 2>/dev/null || true
    umount -l "$node" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

# --- the scanner: a PTY held by socat, fed from a FIFO -------------------
mkfifo "$work/scan.fifo"
exec 3<>"$work/scan.fifo" # kept open: socat never sees end of file
socat -u - "PTY,raw,echo=0,link=$work/pty" <"$work/scan.fifo" 2>"$work/socat.log" &
socat_pid=$!
i=0
while [ ! -L "$work/pty" ] && [ $i -lt $((WAIT * 20)) ]; do sleep 0.05; i=$((i + 1)); done
[ -L "$work/pty" ] || { cat "$work/socat.log"; echo "FAIL: socat made no PTY"; failed=1; finish; }
mount --bind "$(readlink "$work/pty")" "$node"
scan() { printf '%s\r' "$1" >&3; }

# --- the till --------------------------------------------------------------
cat > "$work/tillpoints.conf" <<CONF
[store]
database = e2e.db
[program]
points_per_unit = 1
unit_minor = 100
rounding = floor
[scanner "front"]
driver = serial
port = $node
baud = 9600
suffix = CR
aim = yes
CONF
preload="$SEAM"
asan=$(ldd "$TILL" 2>/dev/null | awk '/libasan\.so/ {print $3; exit}')
[ -n "$asan" ] && preload="$asan:$SEAM" # ASan must come first in LD_PRELOAD
printf 'set -g remain-on-exit on\nset -g history-limit 10000\n' > "$work/tmux.conf"
# The pane's shell records the till's exit status itself: tmux 3.3a was
# seen leaving the exited till an unreaped zombie, with no
# #{pane_dead_status}, in about a third of runs.
tmux -S "$sock" -f "$work/tmux.conf" new-session -d -s till -x 200 -y 50 \
    "env LD_PRELOAD='$preload' '$TILL' --plugin '$B/tillpoints.so' --config '$work/tillpoints.conf';
     echo \$? > '$work/till.status.tmp'; mv '$work/till.status.tmp' '$work/till.status'"

screen() { tmux -S "$sock" capture-pane -p -J -S - -E - -t till 2>/dev/null || true; }
# Polls the screen until it has a line matching the fixed string, up to
# WAIT s. True when it does.
shows() {
    i=0
    while [ "$i" -lt $((WAIT * 20)) ]; do
        screen | grep -qF -- "$1" && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}
# True when a screen line matches the extended regular expression.
screen_matches() { screen | grep -qE -- "$1"; }
type_line() { tmux -S "$sock" send-keys -t till -l -- "$1"; tmux -S "$sock" send-keys -t till Enter; }

check "till started with its prompt" shows "till>"
check "the scanner came online" shows "[scanner online] Serial scanner on $node is online"

type_line "member add C-777 Carla Client"
check "member added" shows "Member C-777 added: Carla Client."

scan "]Q1C-777"
check "till showed the scan as a QR code" shows "[scanner qr] Scanner front read member code C-777."
check "till identified the member" shows "[member] Carla Client (C-777), balance 0 points."

type_line "item COFFEE 4.50"
type_line "pay"
check "till showed the award" shows "points for Carla Client; balance 4."
check "award line is +4 points on the sale's receipt" \
    screen_matches '^  \[award\] Receipt S[0-9]+-1: \+4 points for Carla Client; balance 4\.$'

scan "hello world"
check "junk scan without an AIM id was rejected on screen, no symbology" \
    shows "[scan rejected] The code contains a space"

type_line "scanners"
check "scanners lists front online with its counts" shows "errors 0"
check "the scanners line is front, serial, online, 1 scan, 1 rejected" \
    screen_matches '^  front +serial +online +scans 1, rejected 1, errors 0$'

type_line "quit"
i=0
while [ ! -f "$work/till.status" ] && [ $i -lt $((WAIT * 20)) ]; do
    sleep 0.05
    i=$((i + 1))
done
check "till quit cleanly (exit status 0)" [ "$(cat "$work/till.status" 2>/dev/null)" = 0 ]

q() { sqlite3 "$work/e2e.db" "$1"; }
check "4 points in the database for C-777" \
    [ "$(q "SELECT COALESCE(sum(l.points),0) FROM ledger l JOIN members m ON m.id=l.member_id WHERE m.code='C-777'")" = 4 ]
check "one receipt journaled, 4.50 total" [ "$(q "SELECT count(*)||'/'||sum(total_minor) FROM receipts")" = "1/450" ]

# --- the same scanner through tillpoints-shim -----------------------------
# The shim's config names the port through a link that does not exist yet:
# the scanner is offline until the link appears, which happens only after
# hello, so the shim reports scanner.online to this client and the scans
# below are sent to a port that is open (opening flushes what came before).
sed "s|^port = .*|port = $work/front-link|" "$work/tillpoints.conf" > "$work/shim.conf"
mkfifo "$work/shim.in"
: > "$work/shim.out" # there before the first look, whenever the shim starts
exec 4<>"$work/shim.in"
env LD_PRELOAD="$preload" "$SHIM" --plugin "$B/tillpoints.so" --config "$work/shim.conf" \
    <"$work/shim.in" >"$work/shim.out" 2>"$work/shim.err" 3>&- 4>&- &
shim_pid=$!
# Polls shim.out until a line has every fixed string given, up to WAIT s.
said() {
    i=0
    while [ "$i" -lt $((WAIT * 20)) ]; do
        lines=$(cat "$work/shim.out")
        for want in "$@"; do lines=$(printf '%s\n' "$lines" | grep -F -- "$want" || true); done
        [ -n "$lines" ] && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}
printf '%s\n' '{"id":1,"method":"hello","params":{"protocol":"1.0","client":"e2e_scanner_till"}}' >&4
check "shim answered hello" said '"id":1' '"result"'
check "shim's hello is followed by the scanner's state" \
    said '"event":"scanner.state"' '"name":"front"' '"driver":"serial"'
ln -s "$node" "$work/front-link"
check "shim reported the scanner online" said '"event":"scanner.online"'
scan "]E05901234123457"
check "shim's scan event names ean13" \
    said '"event":"scan"' '"member_code":"5901234123457"' '"symbology":"ean13"'
scan "]C1hello world"
check "shim's scan.rejected event names gs1-128" \
    said '"event":"scan.rejected"' '"symbology":"gs1-128"'
# A client attaching now (a repeated hello stands for it) learns the
# running state and counters without having seen the events.
printf '%s\n' '{"id":2,"method":"hello","params":{"protocol":"1.3","client":"late POS"}}' >&4
check "a late hello is followed by the scanner online with its counters" \
    said '"event":"scanner.state"' '"state":"online"' '"scans":1,"rejected":1,'
printf '%s\n' '{"id":3,"method":"scanners.list"}' >&4
check "shim's scanners.list shows the scanner online with its counters" \
    said '"id":3' '"name":"front"' '"state":"online"' '"scans":1,"rejected":1'
exec 4>&- # end of input: the shim ends
i=0
while kill -0 "$shim_pid" 2>/dev/null && [ $i -lt $((WAIT * 20)) ]; do sleep 0.05; i=$((i + 1)); done
kill -0 "$shim_pid" 2>/dev/null && kill "$shim_pid" # stuck: fail below, do not hang
shim_status=0
wait "$shim_pid" || shim_status=$?
shim_pid=
check "shim ended cleanly at the end of its input (exit status 0)" [ "$shim_status" = 0 ]

if [ "$failed" -ne 0 ]; then
    echo "--- till screen ---"
    screen
    echo "--- shim output ---"
    cat "$work/shim.out" "$work/shim.err"
    echo "---"
fi
finish
