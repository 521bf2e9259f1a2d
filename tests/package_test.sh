#!/bin/sh
# package_test.sh — the Debian packages, as an integrator gets them:
#
#   1. builds tillpoints and tillpoints-dev (packaging/build-deb.sh) and runs
#      lintian on them: any error or warning that is not overridden fails;
#   2. installs them with dpkg -i (their dependencies come from
#      packaging/install-deps.sh; nothing is fetched) and checks what the
#      maintainer scripts made: the tillpoints system user, /var/lib/tillpoints
#      (0750, tillpoints), the config (a conffile, 0640 root:tillpoints), the
#      secrets file (a conffile, 0600 tillpoints), the group tillpoints-pos
#      of the socket's clients, which reads neither;
#   3. runs the INSTALLED programs on the installed plugin and the packaged
#      config (database /var/lib/tillpoints/tillpoints.db), as the tillpoints
#      user: the `tillpoints` CLI, `tillpoints-shim` over stdio (hello and one
#      checkout) and on a socket as its unit runs it (a member of
#      tillpoints-pos served, anyone else refused), the receipt key taken
#      from the secrets file (a secret in the config refused), and the
#      example host docs/example_host.c built against the installed header
#      and pkg-config file; tillpoints-web, the back office, on the packaged
#      web.conf (its pages, its assets, Debian's Chart.js, a manager's
#      sign-in) with its unit's user;
#   4. reinstalls over itself (a locally changed conffile is kept), removes
#      (config and database stay), then purges, and lists what is left under
#      /usr/lib/<triplet>/tillpoints, /etc/tillpoints, /var/lib/tillpoints and
#      /usr/include/tillpoints: nothing. The tillpoints system user is kept
#      by the purge, as Debian recommends (a reused uid would own the old
#      files); this test deletes it again only when it created it.
#
# It must run as root (make check on CI is); otherwise it says why and exits
# 0. Two runs on one machine take turns (a flock under /run/lock; see
# below). It refuses (fails) to run on a machine where tillpoints is
# installed or its paths exist, and its EXIT trap purges what it installed, so that the
# machine is left as it was found. Ends with `package_test: N passed, M failed`.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND...
    d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}
has() { printf '%s\n' "$1" | grep -q -- "$2"; } # has TEXT PATTERN
lacks() { ! has "$@"; }                              # lacks TEXT PATTERN
finish() {
    echo "package_test: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

if [ "$(id -u)" -ne 0 ]; then
    echo "package_test: skipped: installing packages needs root (run as root, as CI does)."
    exit 0
fi

export LC_ALL=C.UTF-8
unset MAKEFLAGS MFLAGS MAKELEVEL

# ---- one package test at a time on this machine --------------------------------
# The packages are installed system-wide, so two runs of the suite (two
# clones, two make checks) cannot both have them at once. A run waits for
# the other's to end (its EXIT trap has purged by then) instead of failing:
# an exclusive flock on a file under /run/lock, held on fd 9 until this
# script exits, for up to TP_PACKAGE_LOCK_WAIT seconds (default 3600).
lockdir=/run/lock
[ -d "$lockdir" ] && [ -w "$lockdir" ] || lockdir=/var/lock
[ -d "$lockdir" ] && [ -w "$lockdir" ] || lockdir=/tmp
lock=${TP_PACKAGE_LOCK:-$lockdir/tillpoints-package-test.lock}
lock_wait=${TP_PACKAGE_LOCK_WAIT:-3600}
command -v flock >/dev/null 2>&1 || { bad "flock (util-linux) is installed"; finish; exit 1; }
exec 9>>"$lock"
if ! flock -n 9; then
    echo "package_test: another package test holds $lock; waiting for it (up to $lock_wait s)"
    t0=$(date +%s)
    if ! flock -w "$lock_wait" 9; then
        bad "the package test lock $lock was released within $lock_wait s (TP_PACKAGE_LOCK_WAIT)"
        finish; exit 1
    fi
    echo "package_test: got $lock after $(( $(date +%s) - t0 )) s"
fi
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
plugin=/usr/lib/$triplet/tillpoints/tillpoints.so
conf=/etc/tillpoints/tillpoints.conf
data=/var/lib/tillpoints
as_tp() { timeout 60 runuser -u tillpoints -- "$@"; } # as the shim service runs
installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qv '^not-installed$'; }

# ---- the machine as found ---------------------------------------------------
for p in tillpoints tillpoints-dev; do
    if installed "$p"; then
        bad "package $p is already on this machine; purge it first (dpkg --purge $p): this test installs and purges its own"
        finish; exit 1
    fi
done
for d in /usr/lib/$triplet/tillpoints /usr/include/tillpoints /etc/tillpoints $data; do
    if [ -e "$d" ]; then
        bad "$d exists already (a make install, or data of an earlier install?); this test would replace and then delete it, so it stops"
        finish; exit 1
    fi
done
had_user=0; getent passwd tillpoints >/dev/null && had_user=1
had_group=0; getent group tillpoints >/dev/null && had_group=1
had_pos_group=0; getent group tillpoints-pos >/dev/null && had_pos_group=1

tmp=$(mktemp -d /tmp/tillpoints-package-test.XXXXXX)
chmod 0755 "$tmp" # the tillpoints user runs the example host from here

cleanup() {
    trap '' HUP INT TERM PIPE # finish the cleanup whatever happens now
    for p in tillpoints-dev tillpoints; do
        if installed "$p"; then
            dpkg --purge "$p" >"$tmp/cleanup.log" 2>&1 || cat "$tmp/cleanup.log"
        fi
    done
    rm -f /etc/systemd/system/multi-user.target.wants/tillpoints-shim.service
    [ -z "${web_pid:-}" ] || kill "$web_pid" 2>/dev/null
    # The purge keeps the system user (policy); take back only what we made.
    if [ "$had_user" -eq 0 ] && getent passwd tillpoints >/dev/null; then
        deluser --system --quiet tillpoints >/dev/null 2>&1 || userdel tillpoints
    fi
    if [ "$had_pos_group" -eq 0 ] && getent group tillpoints-pos >/dev/null; then
        delgroup --system --quiet tillpoints-pos >/dev/null 2>&1 || groupdel tillpoints-pos
    fi
    if [ "$had_group" -eq 0 ] && getent group tillpoints >/dev/null; then
        delgroup --system --quiet tillpoints >/dev/null 2>&1 || groupdel tillpoints
    fi
    rm -rf "$tmp"
}
trap 'cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE

# ---- build --------------------------------------------------------------------
echo "== building the packages (packaging/build-deb.sh)"
if ! sh "$top/packaging/build-deb.sh" "$tmp/debs" >"$tmp/build.log" 2>&1; then
    tail -n 40 "$tmp/build.log"
    bad "packaging/build-deb.sh builds the packages"
    finish; exit 1
fi
deb=$(ls "$tmp"/debs/tillpoints_*.deb 2>/dev/null)
devdeb=$(ls "$tmp"/debs/tillpoints-dev_*.deb 2>/dev/null)
if [ -f "$deb" ] && [ -f "$devdeb" ]; then
    ok "build-deb.sh built $(basename "$deb") and $(basename "$devdeb")"
else
    bad "build-deb.sh built both packages"; finish; exit 1
fi

# ---- the modules: shipped, and their libraries only recommended ----------------
fields=$(dpkg-deb -f "$deb" Depends Recommends)
files=$(dpkg-deb -c "$deb")
for m in camera wedge sync; do
    check "the package ships tillpoints-$m.so beside tillpoints.so" \
        has "$files" "/tillpoints/tillpoints-$m.so"
done
depends_line=$(printf '%s\n' "$fields" | sed -n 's/^Depends: //p')
recommends_line=$(printf '%s\n' "$fields" | sed -n 's/^Recommends: //p')
for lib in libpq5 libzbar0 libevdev2; do
    check "$lib (a module's library) is recommended" has "$recommends_line" "$lib"
    check "$lib is not a dependency (Depends: $depends_line)" lacks "$depends_line" "$lib"
done
# The back office (docs/DESIGN.md §15): its program, unit, config and
# assets; libmicrohttpd (linked, found by dpkg-shlibdeps) and Debian's
# Chart.js (served, so named explicitly) are dependencies.
for f in ./usr/bin/tillpoints-web ./lib/systemd/system/tillpoints-web.service \
    ./etc/tillpoints/web.conf ./usr/share/tillpoints/web/dashboard.js; do
    check "the package ships ${f#.}" has "$files" " $f\$"
done
check "the package ships no copy of Chart.js (Debian's libjs-chart.js is used)" lacks "$files" "/[Cc]hart\\(\\.min\\)\\{0,1\\}\\.js\$"
for lib in libmicrohttpd12 libjs-chart.js; do
    check "$lib is a dependency (Depends: $depends_line)" has "$depends_line" "$lib"
done

# ---- lintian -------------------------------------------------------------------
if command -v lintian >/dev/null 2>&1; then
    # Every tag is printed (info, pedantic, experimental, overridden);
    # errors and warnings fail.
    lintian --fail-on error,warning --display-info --display-experimental --pedantic \
        --show-overrides --tag-display-limit 0 "$deb" "$devdeb" >"$tmp/lintian.log" 2>&1
    lrc=$?
    grep -v 'running with root privileges' "$tmp/lintian.log" | sed 's/^/     lintian: /'
    if [ "$lrc" -ne 0 ] || grep -qE '^[EW]: ' "$tmp/lintian.log"; then
        bad "lintian: no error or warning that is not overridden"
    else
        ok "lintian: no error or warning that is not overridden ($(grep -c '^O: ' "$tmp/lintian.log") overridden, each with its reason in packaging/deb/*.lintian-overrides)"
    fi
else
    bad "lintian is installed (packaging/install-deps.sh installs it)"
fi

# ---- install -------------------------------------------------------------------
echo "== dpkg -i"
if dpkg -i "$deb" "$devdeb" >"$tmp/install.log" 2>&1 && installed tillpoints && installed tillpoints-dev; then
    ok "dpkg -i installs tillpoints and tillpoints-dev"
else
    sed 's/^/     /' "$tmp/install.log"
    bad "dpkg -i installs tillpoints and tillpoints-dev (dependencies come from packaging/install-deps.sh)"
    finish; exit 1
fi

uid=$(id -u tillpoints 2>/dev/null || echo none)
check "postinst made the tillpoints system user (uid $uid, no login shell)" \
    sh -c "[ \"$uid\" != none ] && [ \"$uid\" -lt 1000 ] && getent passwd tillpoints | grep -q ':/usr/sbin/nologin\$'"
check "$data is a directory, 0750, owned tillpoints:tillpoints" \
    sh -c "[ \"\$(stat -c '%a %U %G %F' $data)\" = '750 tillpoints tillpoints directory' ]"
check "$conf is 0640 root:tillpoints (dpkg-statoverride) and a dpkg conffile" \
    sh -c "[ \"\$(stat -c '%a %U %G' $conf)\" = '640 root tillpoints' ] &&
           dpkg-query -W -f='\${Conffiles}' tillpoints | grep -q ' $conf '"
check "the config sets database = $data/tillpoints.db" \
    grep -qx "database = $data/tillpoints.db" "$conf"
# Secrets and the socket's clients (docs/INTEGRATING.md, "Users, files and
# permissions"): the config holds no secret, the secrets file is the
# tillpoints user's alone, and the POS's group tillpoints-pos reads neither.
secrets=/etc/tillpoints/secrets.conf
unit=/lib/systemd/system/tillpoints-shim.service
pgid=$(getent group tillpoints-pos | cut -d: -f3)
check "postinst made the system group tillpoints-pos for the socket's clients (gid ${pgid:-none})" \
    sh -c "[ -n '$pgid' ] && [ '$pgid' -lt 1000 ]"
check "$secrets is 0600 tillpoints:tillpoints (dpkg-statoverride) and a dpkg conffile" \
    sh -c "[ \"\$(stat -c '%a %U %G' $secrets)\" = '600 tillpoints tillpoints' ] &&
           dpkg-statoverride --list $secrets | grep -q '^tillpoints tillpoints 600 ' &&
           dpkg-query -W -f='\${Conffiles}' tillpoints | grep -q ' $secrets '"
check "the config names the secrets file and holds no secret value" \
    sh -c "grep -qx 'secrets = $secrets' $conf &&
           ! grep -qE '^[[:space:]]*(receipt_code_key|password)[[:space:]]*=[[:space:]]*[^[:space:];]' $conf"
check "a member of tillpoints-pos can read neither the config nor the secrets" \
    sh -c "! setpriv --reuid=nobody --regid=nogroup --groups=tillpoints-pos cat $conf >/dev/null 2>&1 &&
           ! setpriv --reuid=nobody --regid=nogroup --groups=tillpoints-pos cat $secrets >/dev/null 2>&1"
check "the shim's unit gives its socket to tillpoints-pos and joins that group" \
    sh -c "grep -q '^ExecStart=.* --socket-group tillpoints-pos ' $unit &&
           grep -q '^SupplementaryGroups=tillpoints-pos ' $unit && grep -q '^RuntimeDirectoryMode=0711$' $unit"
pcplugin=$(pkg-config --variable=plugin tillpoints 2>/dev/null)
check "pkg-config --variable=plugin tillpoints is the installed plugin ($pcplugin)" \
    sh -c "[ '$pcplugin' = '$plugin' ] && [ -f '$plugin' ]"
check "pkg-config --cflags --libs tillpoints works ($(pkg-config --cflags --libs tillpoints 2>&1))" \
    pkg-config --exists tillpoints
check "the udev rules and the systemd unit are installed" \
    test -f /lib/udev/rules.d/60-tillpoints-scanners.rules -a -f /lib/systemd/system/tillpoints-shim.service
webconf=/etc/tillpoints/web.conf
webunit=/lib/systemd/system/tillpoints-web.service
check "$webconf is 0640 root:tillpoints (dpkg-statoverride) and a dpkg conffile" \
    sh -c "[ \"\$(stat -c '%a %U %G' $webconf)\" = '640 root tillpoints' ] &&
           dpkg-query -W -f='\${Conffiles}' tillpoints | grep -q ' $webconf '"
# The web server's unit: the packaged configs, the tillpoints user, no
# restart loop on a start-up error (exit 2), and no devices (it owns no
# scanner, unlike the shim).
check "tillpoints-web.service runs the packaged configs as tillpoints, without devices" \
    sh -c "grep -qx 'ExecStart=/usr/bin/tillpoints-web --config $conf --web-config $webconf' $webunit &&
           grep -qx 'User=tillpoints' $webunit && grep -qx 'PrivateDevices=yes' $webunit &&
           grep -qx 'RestartPreventExitStatus=2' $webunit && grep -qx 'StateDirectory=tillpoints' $webunit &&
           ! grep -q '^DeviceAllow=' $webunit && ! grep -qx 'RuntimeDirectory=tillpoints' $webunit"
webwants=/etc/systemd/system/multi-user.target.wants/tillpoints-web.service
check "dpkg -i leaves tillpoints-web.service disabled (no $webwants)" \
    sh -c "[ ! -e $webwants ] && [ ! -L $webwants ]"
# The package never enables the shim's service: the integrator sets up the
# socket's group first (docs/INTEGRATING.md).
wants=/etc/systemd/system/multi-user.target.wants/tillpoints-shim.service
check "dpkg -i leaves tillpoints-shim.service disabled (no $wants)" \
    sh -c "[ ! -e $wants ] && [ ! -L $wants ]"
for page in "1 tillpoints" "1 tillpoints-till" "5 tillpoints.conf" "8 tillpoints-shim" "8 tillpoints-web"; do
    # shellcheck disable=SC2086
    if man -w $page >/dev/null 2>&1 && [ -z "$(MANWIDTH=80 man --warnings $page 2>&1 >/dev/null)" ]; then
        ok "man $page is installed and renders without warnings"
    else
        bad "man $page is installed and renders without warnings"
    fi
done
if command -v udevadm >/dev/null 2>&1 && [ -e /sys/class/tty/tty ]; then
    udevadm test --action=add /sys/class/tty/tty >"$tmp/udev.log" 2>&1
    if grep -q '60-tillpoints-scanners.rules' "$tmp/udev.log" &&
        ! grep -E '60-tillpoints-scanners.rules:[0-9]+ ' "$tmp/udev.log"; then
        ok "udevadm reads 60-tillpoints-scanners.rules without a complaint"
    else
        bad "udevadm reads 60-tillpoints-scanners.rules without a complaint"
    fi
else
    echo "note - udevadm not installed: the udev rules' syntax is not checked here"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
    for u in tillpoints-shim.service tillpoints-web.service; do
        if systemd-analyze verify "/lib/systemd/system/$u" >"$tmp/unit.log" 2>&1; then
            ok "systemd-analyze verify $u"
        else
            sed 's/^/     /' "$tmp/unit.log"
            bad "systemd-analyze verify $u"
        fi
    done
fi

# ---- the installed programs, as the tillpoints user -----------------------------
echo "== the installed programs on $conf"
if out=$(as_tp tillpoints member add PKG-1001 --name "Package Test" 2>&1); then
    ok "tillpoints member add (default config $conf)"
else
    echo "$out" | sed 's/^/     /'; bad "tillpoints member add (default config $conf)"
fi
check "the database was created in $data, 0600, owned by tillpoints" \
    sh -c "[ \"\$(stat -c '%a %U' $data/tillpoints.db 2>/dev/null)\" = '600 tillpoints' ]"

printf '%s\n' \
    '{"id":1,"method":"hello","params":{"protocol":"1.0","client":"package_test"}}' \
    '{"id":2,"method":"checkout.begin","params":{"txn":"PKG-S1"}}' \
    '{"id":3,"method":"checkout.scan","params":{"txn":"PKG-S1","code":"PKG-1001"}}' \
    '{"id":4,"method":"checkout.complete","params":{"txn":"PKG-S1","receipt":{"id":"PKG-S1","currency":"EUR","lines":[{"sku":"COFFEE","amount_minor":450}]}}}' \
    >"$tmp/shim.in"
timeout 60 runuser -u tillpoints -- tillpoints-shim --config "$conf" <"$tmp/shim.in" >"$tmp/shim.out" 2>"$tmp/shim.err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '"id":1,"result":{"protocol":"1.6"' "$tmp/shim.out" &&
    grep -q '"id":4,"result":{"txn":"PKG-S1","receipt_id":"PKG-S1","has_member":true,"eligible_minor":450,"points":4,"redeemed_points":0,"redeemed_minor":0}' "$tmp/shim.out" &&
    grep '"event":"award.committed"' "$tmp/shim.out" | grep -q '"receipt_id":"PKG-S1","member_code":"PKG-1001".*"points":4,"balance":4,'; then
    ok "tillpoints-shim over stdio: hello, then a checkout whose award (+4) is committed"
else
    echo "     exit $rc"; sed 's/^/     shim: /' "$tmp/shim.out" "$tmp/shim.err"
    bad "tillpoints-shim over stdio: hello, then a checkout whose award (+4) is committed"
fi

example=/usr/share/doc/tillpoints-dev/examples/example_host.c
check "the installed example is docs/example_host.c" cmp -s "$example" "$top/docs/example_host.c"
cp "$example" "$tmp/example_host.c"
# shellcheck disable=SC2046
if (cd "$tmp" && cc -std=c11 -Wall -Wextra -Werror -pedantic -o example_host example_host.c \
        $(pkg-config --cflags --libs tillpoints)) >"$tmp/cc.log" 2>&1; then
    ok "example_host.c builds against the installed header and pkg-config file alone"
    if as_tp "$tmp/example_host" "$(pkg-config --variable=plugin tillpoints)" "$conf" PKG-1001 \
        >"$tmp/example.out" 2>&1 && grep -q '^plugin ABI 2\.' "$tmp/example.out" &&
        grep -q 'recorded: +7 points for PKG-1001, balance 11$' "$tmp/example.out"; then
        sed 's/^/     example: /' "$tmp/example.out"
        ok "the example host loads the installed plugin, checks the ABI and gets its award (+7, balance 11)"
    else
        sed 's/^/     example: /' "$tmp/example.out"
        bad "the example host loads the installed plugin, checks the ABI and gets its award (+7, balance 11)"
    fi
else
    sed 's/^/     /' "$tmp/cc.log"
    bad "example_host.c builds against the installed header and pkg-config file alone"
fi

out=$(as_tp tillpoints balance PKG-1001 2>&1)
check "tillpoints balance sees the shim's and the example's awards: $out" has "$out" '11 points'
out=$(as_tp tillpoints --json member show PKG-1001 2>&1)
check "tillpoints --json member show" has "$out" '"ok": *true'
# root runs the CLI too (an administrator will): SQLite gives any file it
# creates next to the database to the database's owner, so the shim service
# can still open everything afterwards.
out=$(timeout 60 tillpoints verify 2>&1)
check "tillpoints verify as root: $out" has "$out" ', 0 problems'
check "every file in $data still belongs to tillpoints after root used the database" \
    sh -c "[ -z \"\$(find $data ! -user tillpoints)\" ]"

# The shim as its unit runs it (user tillpoints, supplementary group
# tillpoints-pos), on a socket in a directory like its RuntimeDirectory:
# a POS user in tillpoints-pos is served; a user outside it is refused by
# the socket's mode, and by the shim itself when the mode is loosened.
echo "== the shim's socket, as tillpoints-shim.service runs it"
run=$tmp/run
mkdir -m 0711 "$run" && chown tillpoints:tillpoints "$run"
sock=$run/shim.sock
timeout 120 runuser -u tillpoints -g tillpoints -G tillpoints-pos -- tillpoints-shim --socket "$sock" \
    --socket-group tillpoints-pos --config "$conf" 2>"$tmp/sock.err" &
shim_pid=$!
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ] && kill -0 "$shim_pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
check "the shim listens on $sock, 0660 tillpoints:tillpoints-pos" \
    sh -c "[ \"\$(stat -c '%a %U %G' $sock 2>/dev/null)\" = '660 tillpoints tillpoints-pos' ]"
cat >"$tmp/peer.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("REFUSED", e.errno); sys.exit(0)
try:  # a refused client may find the connection closed already ...
    s.sendall(b'{"id":1,"method":"hello","params":{"protocol":"1.0"}}\n'
              b'{"id":2,"method":"admin.member_add","params":{"code":"%s"}}\n'
              % sys.argv[2].encode())
except OSError:
    pass
s.settimeout(20)
try:  # ... and the shim's one line still waiting to be read
    for line in s.makefile("rb"):
        sys.stdout.write(line.decode())
        if b'"id":2' in line:
            break
except OSError as e:
    print("CLOSED", e.errno)
PY
chmod 0644 "$tmp/peer.py"
out=$(timeout 30 setpriv --reuid=nobody --regid=nogroup --groups=tillpoints-pos -- /usr/bin/python3 "$tmp/peer.py" "$sock" PKG-POS-1 2>&1)
served=0
has "$out" '"id":1,"result":{"protocol":"1.6"' && has "$out" '"id":2,"result"' && served=1
check "a POS user in tillpoints-pos is served (hello, member add)" [ "$served" = 1 ]
out=$(timeout 30 setpriv --reuid=nobody --regid=nogroup --clear-groups -- /usr/bin/python3 "$tmp/peer.py" "$sock" PKG-INTRUDER 2>&1)
check "a user outside tillpoints-pos cannot connect: $out" has "$out" '^REFUSED 13'
chmod 0666 "$sock"
out=$(timeout 30 setpriv --reuid=nobody --regid=nogroup --clear-groups -- /usr/bin/python3 "$tmp/peer.py" "$sock" PKG-INTRUDER 2>&1)
check "with the socket's mode loosened, the shim refuses that user itself (not_allowed)" \
    has "$out" '"id":null,"error":{"code":"not_allowed","message":"This tillpoints-shim serves only members of the group tillpoints-pos'
kill "$shim_pid" 2>/dev/null; wait "$shim_pid" 2>/dev/null
check "the served client's member was added, the refused one's was not" \
    sh -c "runuser -u tillpoints -- tillpoints member show PKG-POS-1 >/dev/null 2>&1 &&
           ! runuser -u tillpoints -- tillpoints member show PKG-INTRUDER >/dev/null 2>&1"
check "the shim logged the refused uid" grep -q "refused a connection from uid $(id -u nobody) " "$tmp/sock.err"

# Secrets in use: the receipt key from the secrets file keys the receipt
# codes the installed plugin prints; the same key in the config is refused.
echo "== secrets"
key=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
cp -p "$secrets" "$tmp/secrets.orig"
sed -i "s/^receipt_code_key =.*/receipt_code_key = $key/" "$secrets"
chown tillpoints:tillpoints "$secrets" && chmod 0600 "$secrets"
printf '%s\n' '{"id":1,"method":"hello","params":{"protocol":"1.0"}}' \
    '{"id":2,"method":"checkout.begin","params":{"txn":"PKG-K1"}}' \
    '{"id":3,"method":"checkout.complete","params":{"txn":"PKG-K1","receipt":{"id":"PKG-K1","currency":"EUR","lines":[{"sku":"TEA","amount_minor":300}]}}}' \
    | timeout 60 runuser -u tillpoints -- tillpoints-shim --config "$conf" >"$tmp/key.out" 2>&1
want=$(python3 -c "import hashlib,sys; print(hashlib.blake2b(b'TPR1|store-1|PKG-K1', key=bytes.fromhex(sys.argv[1]), digest_size=16).hexdigest()[:8])" "$key")
check "the receipt code is keyed with the secrets file's key (TPR1|store-1|PKG-K1|$want)" \
    grep -q "\"receipt_code\":\"TPR1|store-1|PKG-K1|$want\"" "$tmp/key.out"
chmod 0640 "$secrets"
out=$(as_tp tillpoints verify 2>&1)
check "a group-readable secrets file is refused: $out" has "$out" 'can be used by users other than its owner'
cp -p "$tmp/secrets.orig" "$secrets"
cp -p "$conf" "$tmp/conf.orig"
printf '[scan]\nreceipt_code_key = %s\n' "$key" >>"$conf"
out=$(as_tp tillpoints verify 2>&1)
check "a secret in the group-readable config is refused: $out" has "$out" 'receipt_code_key is a secret'
cp -p "$tmp/conf.orig" "$conf"

# Installed programs load the installed plugin only, even with a
# tillpoints.so beside them.
mkdir "$tmp/bin"
cp /usr/bin/tillpoints "$plugin" "$tmp/bin/"
out=$(cd "$tmp/bin" && env -u TILLPOINTS_PLUGIN ./tillpoints --version 2>&1)
check "a copied program loads $plugin, not the tillpoints.so beside it: $(echo "$out" | tail -n 1)" \
    has "$out" "^plugin: $plugin "

# The back office as its unit runs it (user tillpoints, the packaged
# configs), on a free port: its pages, its assets and Debian's Chart.js are
# where the package put them, and an enrolled manager signs in with the
# installed plugin's manager_verify. setpriv execs the server itself, so
# SIGTERM reaches it and its exit status is its own.
echo "== the installed back office, as tillpoints-web.service runs it"
printf '%s\n' 975310 | as_tp tillpoints manager add pkg-mgr --name "Package Manager" --staff package_test \
    >"$tmp/mgr.log" 2>&1 || { sed 's/^/     /' "$tmp/mgr.log"; bad "tillpoints manager add pkg-mgr"; }
setpriv --reuid=tillpoints --regid=tillpoints --init-groups -- /usr/bin/tillpoints-web \
    --config "$conf" --web-config "$webconf" --listen 127.0.0.1:0 >"$tmp/web.out" 2>"$tmp/web.err" </dev/null &
web_pid=$!
i=0
while ! grep -q '^tillpoints-web ready: http://127.0.0.1:[0-9]*/$' "$tmp/web.out" && [ $i -lt 1200 ] &&
    kill -0 "$web_pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
weburl=$(sed -n 's|^tillpoints-web ready: \(http://127.0.0.1:[0-9]*\)/$|\1|p' "$tmp/web.out")
if [ -n "$weburl" ]; then
    ok "the installed tillpoints-web is ready on the packaged web.conf ($weburl/)"
    jar=$tmp/web.jar
    code=$(curl -sS --max-time 60 -c "$jar" -b "$jar" -o "$tmp/signin.html" -w '%{http_code}' "$weburl/signin")
    check "GET /signin: 200 ($code)" [ "$code" = 200 ]
    code=$(curl -sS --max-time 60 -o "$tmp/chart.js" -w '%{http_code}' "$weburl/static/chart.js")
    check "/static/chart.js is Debian's libjs-chart.js ($code)" \
        sh -c "[ '$code' = 200 ] && cmp -s '$tmp/chart.js' /usr/share/javascript/chart.js/chart.min.js"
    code=$(curl -sS --max-time 60 -o "$tmp/dashboard.js" -w '%{http_code}' "$weburl/static/dashboard.js")
    check "/static/dashboard.js comes from /usr/share/tillpoints/web ($code)" \
        sh -c "[ '$code' = 200 ] && cmp -s '$tmp/dashboard.js' /usr/share/tillpoints/web/dashboard.js"
    csrf=$(tr '\n' ' ' <"$tmp/signin.html" | grep -o '<input[^>]*name="csrf"[^>]*>' | head -n 1 |
        sed -n 's/.*value="\([^"]*\)".*/\1/p')
    code=$(curl -sS --max-time 60 -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' \
        --data-urlencode manager=pkg-mgr --data-urlencode pin=975310 --data-urlencode "csrf=$csrf" "$weburl/signin")
    code2=$(curl -sS --max-time 60 -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' "$weburl/")
    check "an enrolled manager signs in and sees the dashboard (sign-in $code, then / $code2)" \
        [ "$code $code2" = "303 200" ]
else
    sed 's/^/     web: /' "$tmp/web.out" "$tmp/web.err"
    bad "the installed tillpoints-web is ready on the packaged web.conf"
fi
kill -TERM "$web_pid" 2>/dev/null
wait "$web_pid"
rc=$?
web_pid=
check "tillpoints-web stops on SIGTERM with exit 0 ($rc)" [ "$rc" = 0 ]

# ---- reinstall, remove, purge ------------------------------------------------------
echo "== reinstall, remove, purge"
echo "; local change by package_test" >>"$conf"
# An administrator enables the service (the link systemctl enable makes);
# reinstalling keeps it enabled and the purge removes the link.
mkdir -p "$(dirname "$wants")" && ln -s /lib/systemd/system/tillpoints-shim.service "$wants"
if dpkg -i "$deb" >"$tmp/reinstall.log" 2>&1 && grep -q 'local change by package_test' "$conf" &&
    [ "$(stat -c '%a %G' "$conf")" = "640 tillpoints" ] && [ -f "$data/tillpoints.db" ]; then
    ok "reinstalling keeps the changed conffile, its mode and the database"
else
    sed 's/^/     /' "$tmp/reinstall.log"; bad "reinstalling keeps the changed conffile, its mode and the database"
fi
check "reinstalling keeps the service the administrator enabled" test -L "$wants"
if dpkg -r tillpoints-dev tillpoints >"$tmp/remove.log" 2>&1 && [ ! -e "$plugin" ] &&
    [ ! -e /usr/bin/tillpoints ] && [ -f "$conf" ] && [ -f "$data/tillpoints.db" ]; then
    ok "dpkg -r removes the programs and keeps the config and the database"
else
    sed 's/^/     /' "$tmp/remove.log"; bad "dpkg -r removes the programs and keeps the config and the database"
fi
if dpkg --purge tillpoints-dev tillpoints >"$tmp/purge.log" 2>&1 && ! installed tillpoints && ! installed tillpoints-dev; then
    ok "dpkg --purge tillpoints-dev tillpoints"
else
    sed 's/^/     /' "$tmp/purge.log"; bad "dpkg --purge tillpoints-dev tillpoints"
fi
echo "     left behind after the purge:"
left=0
for d in /usr/lib/$triplet/tillpoints /etc/tillpoints $data /usr/include/tillpoints \
    /usr/lib/$triplet/pkgconfig/tillpoints.pc /usr/share/doc/tillpoints /usr/share/doc/tillpoints-dev \
    /usr/bin/tillpoints /usr/bin/tillpoints-shim /usr/bin/tillpoints-till /usr/bin/tillpoints-web \
    /usr/share/tillpoints /lib/systemd/system/tillpoints-web.service \
    /lib/systemd/system/tillpoints-shim.service /lib/udev/rules.d/60-tillpoints-scanners.rules; do
    if [ -e "$d" ]; then
        left=1; echo "       $d:"; find "$d" | sed 's/^/         /'
    else
        echo "       $d: gone"
    fi
done
check "the purge leaves no file or directory of the packages" [ "$left" -eq 0 ]
check "the purge removed the administrator's enable link $wants" \
    sh -c "[ ! -e $wants ] && [ ! -L $wants ]"
check "the purge removed the config's, the secrets file's and web.conf's dpkg-statoverride" \
    sh -c "! dpkg-statoverride --list $conf >/dev/null 2>&1 && ! dpkg-statoverride --list $secrets >/dev/null 2>&1 &&
           ! dpkg-statoverride --list $webconf >/dev/null 2>&1"
if getent passwd tillpoints >/dev/null; then
    echo "     kept by policy: the system user $(getent passwd tillpoints)"
    [ "$had_user" -eq 0 ] && echo "     (this test created it and deletes it in its cleanup)"
fi

finish
