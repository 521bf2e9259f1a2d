#!/bin/sh
# End-to-end: the back office (tillpoints-web, docs/DESIGN.md §15) against
# bad input, with curl as the client (and a few lines of Debian's python3
# where curl cannot: a slowloris client, reading an HTML table).
#
# Real server, real plugin, real SQLite file: managers and members come from
# the manager CLI, sales from the reference till, and after every request
# that must change nothing the CLI confirms that nothing changed. Checked:
# wrong PINs and the lockout (429 with the plugin's sentence, also for the
# right PIN); an expired session (a second server with --session-idle 5);
# a missing or wrong CSRF token, a foreign Origin, Referer or
# Sec-Fetch-Site (403); HTML and script in names, reasons and CSV cells
# (always escaped); a 100 MB upload (413, and the server still answers);
# malformed CSV files (a sentence, nothing applied); unknown URLs (404) and
# methods (405); 50 slowloris clients (a normal request is answered
# meanwhile); 50 managers signed in at once; the security headers and
# cookie flags; no inline script or style; plain HTTP on a non-loopback
# address refused; TLS with a self-signed certificate (the cookie is
# Secure). Meanwhile the till keeps selling (its sales complete).
#
# Pacing: servers are waited for by their ready line; jobs by the state
# their page reports; the one clock wait is the idle session's, well past
# its timeout. TP_E2E_WAIT (default 120 s) only bounds a stuck run.
#
#   BUILD=build sh tests/e2e_web_bad.sh
#
# Each check prints "ok - ..."; the first failure prints what was expected
# and what was got, and exits 1.
set -eu
B="${BUILD:-build}"
case $B in /*) ;; *) B="$(pwd)/$B" ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
WEB="$B/tillpoints-web"
CLI="$B/tillpoints"
TILL="$B/tillpoints-till"
PLUGIN="$B/tillpoints.so"
ASSETS="$top/web"
PY=/usr/bin/python3
WAIT=${TP_E2E_WAIT:-120}
for f in "$WEB" "$CLI" "$TILL" "$PLUGIN"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "e2e_web_bad: $f is missing; build first (make all BUILD=$B)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/tillpoints-e2e-web-bad-XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    if [ -n "${E2E_KEEP:-}" ]; then echo "e2e_web_bad: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { echo "ok - $1"; }
fail() { # WHAT EXPECTED GOT
    echo "FAIL - $1"
    echo "  expected: $2"
    echo "  got:      $3"
    # The stderr of the main server and of the one started last.
    for e in "$work/main.err" "$(ls -t "$work"/*.err 2>/dev/null | head -n 1)"; do
        [ -s "$e" ] && { echo "  $(basename "$e") (tail):"; tail -n 15 "$e" | sed 's/^/    /'; }
    done
    exit 1
}
body() { head -c "${2:-600}" "$work/$1.body" 2>/dev/null | tr '\n' ' '; }

MGR_PIN=975310
LOCK_PIN=246810
WRONG_PIN=111111
conf="$work/tillpoints.conf"
# pin_max_failures = 3: the lockout after three wrong PINs (docs/MANAGER.md,
# "Managers, PINs and approvals").
cat >"$conf" <<CONF
[store]
location = shop-7
terminal = till-3
database = bad.db
[retro]
pin_max_failures = 3
CONF
WRONG="Wrong manager id or PIN; after 3 wrong PINs in a row a manager is locked."

tp() { "$CLI" --plugin "$PLUGIN" --config "$conf" "$@"; }
# The number of ledger entries a manager makes (every kind but the till's
# own earn entries: the till sells meanwhile), and of members, as the CLI
# sees them: what "nothing changed" is checked against.
entries() {
    tp --json activity --type retro,adjust,bulk,import,reversal,expire --limit 1000 |
        $PY -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))'
}
members() {
    f=$(mktemp -u "$work/export-XXXXXX")
    tp export "$f" >/dev/null && $PY -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1]))) - 1)' "$f"
}

# HTML helpers: the text of the element with an id; the rows of the import
# problems table; every inline script, style or event handler of a page.
cat >"$work/page.py" <<'PY'
import html.parser, re, sys
cmd, path = sys.argv[1], sys.argv[2]
src = open(path, encoding="utf-8", errors="replace").read()
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.text, self.rows, self.cell, self.inline = [], {}, [], None, []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and not a.get("src"):
            self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        for k in a:
            if k == "style" or k.startswith("on"):
                self.inline.append(f"{k}= on <{tag}>")
        if tag in ("br", "img", "input", "meta", "link", "hr", "source", "col", "wbr"):
            return
        self.stack.append(a.get("id"))
        if tag == "tr":
            self.rows.append({})
        if tag == "td" and self.rows:
            self.cell = a.get("class")
    def handle_endtag(self, tag):
        if self.stack and tag not in ("br", "img", "input", "meta", "link", "hr"):
            self.stack.pop()
        if tag == "td":
            self.cell = None
    def handle_data(self, d):
        for i in self.stack:
            if i:
                self.text[i] = self.text.get(i, "") + d
        if self.cell and self.rows:
            self.rows[-1][self.cell] = self.rows[-1].get(self.cell, "") + d
p = P()
p.feed(src)
if cmd == "text":
    print(re.sub(r"\s+", " ", p.text.get(sys.argv[3], "")).strip())
elif cmd == "problems":
    for r in p.rows:
        if "line" in r:
            print(r["line"].strip() + "\t" + re.sub(r"\s+", " ", r.get("problem", "")).strip())
elif cmd == "inline":
    print("\n".join(p.inline))
elif cmd == "state":
    m = re.search(r'id="(?:import|verify)-state"[^>]*data-state="([a-z]+)"|data-state="([a-z]+)"[^>]*id="(?:import|verify)-state"', src)
    print((m.group(1) or m.group(2)) if m else "")
PY
text_of() { $PY "$work/page.py" text "$work/$1.body" "$2"; }

# ---- HTTP through curl ------------------------------------------------------
# http NAME JAR ARGS...: one request with the cookie jar JAR; the status in
# $code, the body in $work/NAME.body, the headers in $work/NAME.hdr.
K="" # -k under TLS
http() {
    n=$1; j=$2; shift 2
    code=$(curl -sS $K --max-time "$WAIT" -o "$work/$n.body" -D "$work/$n.hdr" -w '%{http_code}' \
        -b "$work/$j.jar" -c "$work/$j.jar" "$@" 2>"$work/$n.curl") || code="curl failed: $(cat "$work/$n.curl")"
}
hdr() { # NAME HEADER: the header's value (the last one of that name)
    tr -d '\r' <"$work/$1.hdr" | sed -n "s/^$2: *//Ip" | tail -n 1
}
csrf_of() { # NAME: the csrf value of the first form on that page
    tr '\n' ' ' <"$work/$1.body" | grep -o '<input[^>]*name="csrf"[^>]*>' | head -n 1 |
        sed -n 's/.*value="\([^"]*\)".*/\1/p'
}
expect_code() { # WHAT WANT NAME
    [ "$code" = "$2" ] || fail "$1" "HTTP $2" "HTTP $code: $(body "$3")"
}
# signin JAR ID PIN [BASE]: the sign-in page (its tp_pre cookie and csrf
# token), then the POST; $code is the POST's status.
signin() {
    base=${4:-$U}
    http "$1-get" "$1" "$base/signin"
    [ "$code" = 200 ] || fail "GET /signin" "HTTP 200" "HTTP $code"
    t=$(csrf_of "$1-get")
    [ -n "$t" ] || fail "the sign-in page carries a csrf token" 'input name="csrf" value=...' "$(body "$1-get")"
    http "$1" "$1" --data-urlencode "manager=$2" --data-urlencode "pin=$3" \
        --data-urlencode "csrf=$t" "$base/signin"
}
# session_csrf JAR NAME: $tok becomes a signed-in page's csrf token (the
# sign-out form in the navigation carries it on every page).
session_csrf() {
    http "$2" "$1" "$U/adjust"
    [ "$code" = 200 ] || fail "GET /adjust signed in" "HTTP 200" "HTTP $code: $(body "$2")"
    tok=$(csrf_of "$2")
}

# ---- servers ------------------------------------------------------------------
# start NAME ARGS...: tillpoints-web in the background; waits for its ready
# line and sets $url and $pid. A server that exits instead fails the run.
start() {
    n=$1; shift
    "$WEB" --plugin "$PLUGIN" --config "$conf" --assets "$ASSETS" "$@" \
        >"$work/$n.out" 2>"$work/$n.err" </dev/null &
    pid=$!
    pids="$pids $pid"
    i=0
    while ! grep -q '^tillpoints-web ready: ' "$work/$n.out" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || fail "$n: tillpoints-web starts" "its ready line" "it exited: $(cat "$work/$n.err")"
        i=$((i + 1))
        [ "$i" -lt $((WAIT * 10)) ] || fail "$n: tillpoints-web starts" "its ready line" "nothing in $WAIT s"
        sleep 0.1
    done
    url=$(sed -n 's|^tillpoints-web ready: \(https\{0,1\}://[^ ]*[0-9]\)/$|\1|p' "$work/$n.out")
    [ -n "$url" ] || fail "$n: the ready line" "tillpoints-web ready: http(s)://ADDR:PORT/" "$(cat "$work/$n.out")"
}
stop() { # PID NAME: SIGTERM, then exit 0 (a sanitizer build reports through it)
    kill -TERM "$1"
    if wait "$1"; then rc=0; else rc=$?; fi
    [ "$rc" = 0 ] || fail "$2: SIGTERM stops tillpoints-web cleanly" "exit 0" "exit $rc: $(tail -n 20 "$work/$2.err")"
    ok "$2: SIGTERM stops tillpoints-web, exit 0"
}

# ---- the store ------------------------------------------------------------------
printf '%s\n' "$MGR_PIN" | tp manager add mgr-1 --name "Mia Manager" --staff owner >/dev/null
printf '%s\n' "$LOCK_PIN" | tp manager add lock-1 --name "Lea Locked" --staff owner >/dev/null
tp member add M-1001 --name "Alice Example" --phone "+49 151 0000 0001" >/dev/null
tp member add M-XSS1 --name "<script>alert(1)</script>" >/dev/null
printf 'begin S-1\nscan M-1001\nitem MILK 9.99\npay\n' >"$work/sales.till"
"$TILL" --plugin "$PLUGIN" --config "$conf" --script "$work/sales.till" >"$work/till0.log" 2>&1 ||
    fail "the reference till's first sale" "exit 0" "$(tail -n 5 "$work/till0.log")"

start main --listen 127.0.0.1:0
U=$url
main_pid=$pid
ok "tillpoints-web is ready at $U/"

# ---- security headers, cookie flags, no inline code -------------------------
http hs anon "$U/signin"
expect_code "GET /signin" 200 hs
csp=$(hdr hs Content-Security-Policy)
case $csp in
*"default-src 'self'"*"script-src 'self'"*) case $csp in *unsafe-inline*|*unsafe-eval*)
    fail "CSP without unsafe-inline" "no 'unsafe-inline' or 'unsafe-eval'" "$csp" ;; esac ;;
*) fail "a Content-Security-Policy on /signin" "default-src 'self'; script-src 'self'; ..." "${csp:-none}" ;;
esac
case $csp in *"frame-ancestors 'none'"*"object-src"*|*"object-src 'none'"*"frame-ancestors 'none'"*) ;;
*) fail "CSP forbids framing and plugins" "frame-ancestors 'none', object-src 'none'" "$csp" ;; esac
ok "Content-Security-Policy without 'unsafe-inline': $csp"
[ "$(hdr hs X-Content-Type-Options)" = nosniff ] ||
    fail "X-Content-Type-Options" nosniff "$(hdr hs X-Content-Type-Options)"
ok "X-Content-Type-Options: nosniff"
[ "$(hdr hs Referrer-Policy)" = same-origin ] || fail "Referrer-Policy" same-origin "$(hdr hs Referrer-Policy)"
case $(hdr hs Cache-Control) in *no-store*) ;; *) fail "Cache-Control on a page" no-store "$(hdr hs Cache-Control)" ;; esac
ok "Referrer-Policy: same-origin, Cache-Control: no-store"
for page in /static/no-such-file.js /no-such-page; do
    http h404 anon "$U$page"
    [ -n "$(hdr h404 Content-Security-Policy)" ] && [ "$(hdr h404 X-Content-Type-Options)" = nosniff ] ||
        fail "the security headers are on every response ($page, HTTP $code)" "CSP and nosniff" "$(tr -d '\r' <"$work/h404.hdr")"
done
ok "the security headers are on error answers too (a 404 static file, a page without a session)"

signin m1 mgr-1 "$MGR_PIN"
expect_code "sign-in with the right PIN" 303 m1
[ "$(hdr m1 Location)" = / ] || fail "sign-in redirects to /" "Location: /" "$(hdr m1 Location)"
cookie=$(tr -d '\r' <"$work/m1.hdr" | grep -i '^Set-Cookie: *tp_session=' | tail -n 1)
case $cookie in *[Hh]ttp[Oo]nly*) ;; *) fail "the session cookie is HttpOnly" HttpOnly "${cookie:-no tp_session cookie}" ;; esac
case $cookie in *[Ss]ame[Ss]ite=[Ss]trict*) ;; *) fail "the session cookie is SameSite=Strict" SameSite=Strict "$cookie" ;; esac
case $cookie in *[Ss]ecure*) fail "no Secure flag over plain HTTP (the browser would drop the cookie)" "no Secure" "$cookie" ;; esac
ok "the session cookie is HttpOnly and SameSite=Strict: $cookie"

for page in / /members "/members/M-1001" /activity /missed /adjust /import /status /audit; do
    http inl m1 "$U$page"
    expect_code "GET $page signed in" 200 inl
    found=$($PY "$work/page.py" inline "$work/inl.body")
    [ -z "$found" ] || fail "no inline script or style on $page (the CSP would block it)" "none" "$found"
done
ok "no inline script, style or event handler on the signed-in pages"

# ---- the till keeps selling meanwhile ---------------------------------------
# The till writes the same database while the bad requests below run; its
# sales must complete (the back office never holds the store's database).
{
    printf 'staff anna\n'
    for n in 1 2 3 4 5 6 7 8; do printf 'begin T-%d\nscan M-1001\nitem COFFEE 2.00\npay\n' "$n"; done
} >"$work/busy.till"
"$TILL" --plugin "$PLUGIN" --config "$conf" --script "$work/busy.till" >"$work/till.log" 2>"$work/till.err" &
till_pid=$!
pids="$pids $till_pid"

# ---- unknown URLs, wrong methods, foreign forms --------------------------------
http u404 m1 "$U/no-such-page"
expect_code "an unknown URL" 404 u404
http u404b m1 "$U/members/NO-SUCH-MEMBER"
expect_code "an unknown member's page" 404 u404b
http u404c m1 "$U/form/987654321"
expect_code "a form that is not this session's" 404 u404c
ok "unknown URL, member and form: 404"
http m405 m1 -X DELETE "$U/"
expect_code "DELETE /" 405 m405
http m405b m1 -X PUT --data x=1 "$U/signin"
expect_code "PUT /signin" 405 m405b
ok "wrong methods (DELETE /, PUT /signin): 405"

# ---- CSRF and origin -----------------------------------------------------------
session_csrf m1 tok
[ -n "$tok" ] || fail "signed-in pages carry the session's csrf token" "a token" "$(body tok)"
n0=$(entries)
adjust() { # NAME CSRF-ARGS... : POST /adjust +5 for M-1001
    n=$1; shift
    http "$n" m1 --data-urlencode member=M-1001 --data-urlencode points=+5 \
        --data-urlencode "reason=csrf test" --data-urlencode comment= "$@" "$U/adjust"
}
adjust nocsrf
expect_code "POST /adjust without a csrf token" 403 nocsrf
grep -q 'This form has expired or did not come from this site; open the page again.' "$work/nocsrf.body" ||
    fail "the 403 page says why" "This form has expired or did not come from this site; ..." "$(body nocsrf)"
adjust badcsrf --data-urlencode "csrf=${tok}x"
expect_code "POST /adjust with a wrong csrf token" 403 badcsrf
adjust evil --data-urlencode "csrf=$tok" -H "Origin: https://evil.example"
expect_code "POST /adjust with Origin: https://evil.example" 403 evil
adjust evilref --data-urlencode "csrf=$tok" -H "Referer: https://evil.example/page"
expect_code "POST /adjust with a foreign Referer and no Origin" 403 evilref
adjust xsite --data-urlencode "csrf=$tok" -H "Sec-Fetch-Site: cross-site"
expect_code "POST /adjust with Sec-Fetch-Site: cross-site" 403 xsite
# A sandboxed frame sends Origin: null; another port of this host is
# another origin (another program on the machine).
adjust nullorigin --data-urlencode "csrf=$tok" -H "Origin: null"
expect_code "POST /adjust with Origin: null" 403 nullorigin
port=${U##*:}
adjust otherport --data-urlencode "csrf=$tok" -H "Origin: http://127.0.0.1:$((port == 65535 ? 1 : port + 1))"
expect_code "POST /adjust with an Origin on another port of this host" 403 otherport
[ "$(entries)" = "$n0" ] || fail "the refused POSTs wrote nothing (CLI activity)" "$n0 entries" "$(entries) entries"
ok "missing and wrong csrf token, foreign Origin (evil.example, null, another port), Referer and Sec-Fetch-Site: 403, nothing written (CLI)"
# The same POST with the token and this site's origin is done: the 403s
# above were the checks, not a broken form.
adjust goodcsrf --data-urlencode "csrf=$tok" -H "Origin: $U"
expect_code "POST /adjust with the token and this site's Origin" 200 goodcsrf
grep -q '<p[^>]*id="result"' "$work/goodcsrf.body" || fail "the adjustment's answer has p#result" 'p id="result"' "$(body goodcsrf)"
[ "$(entries)" = $((n0 + 1)) ] || fail "the accepted adjustment is written (CLI)" "$((n0 + 1)) entries" "$(entries)"
last=$(tp --json activity --type adjust --limit 1 | $PY -c '
import json, sys
e = json.load(sys.stdin)["entries"][0]
print(e["member"], e["points"], e["reason"], e["staff"])')
[ "$last" = "M-1001 5 csrf test mgr-1" ] || fail "the adjustment as the CLI sees it" "M-1001 5 csrf test mgr-1" "$last"
ok "the same POST with the session's token and this site's Origin adjusts (CLI: $last)"
http nopre fresh "$U/signin" # the pre-session cookie, but no token in the POST
http nopre2 fresh --data-urlencode manager=mgr-1 --data-urlencode "pin=$MGR_PIN" "$U/signin"
expect_code "POST /signin without the pre-session token" 403 nopre2
if grep -qi '^Set-Cookie: *tp_session=' "$work/nopre2.hdr"; then fail "no session without the token" "no tp_session cookie" "$(cat "$work/nopre2.hdr")"; fi
ok "a sign-in without its pre-session csrf token: 403, no session"
# Login CSRF: a page elsewhere cannot sign the browser in as someone else
# with a token of its own choosing (a planted tp_pre cookie and the same
# value in the form).
http planted planted -H "Cookie: tp_pre=AAAAplantedAAAA" --data-urlencode manager=mgr-1 \
    --data-urlencode "pin=$MGR_PIN" --data-urlencode csrf=AAAAplantedAAAA "$U/signin"
expect_code "POST /signin with a planted tp_pre cookie and the same token" 403 planted
if grep -qi '^Set-Cookie: *tp_session=' "$work/planted.hdr"; then fail "no session from a planted token" "no tp_session cookie" "$(cat "$work/planted.hdr")"; fi
ok "a sign-in with a planted pre-session token (cookie and form alike): 403, no session"

# ---- HTML and script in the data: always escaped ----------------------------
escaped() { # NAME RAW ESCAPED WHAT
    grep -qF -- "$3" "$work/$1.body" || fail "$4 is shown escaped" "$3" "$(body "$1" 2000)"
    if grep -qF -- "$2" "$work/$1.body"; then fail "$4 is never raw" "no $2" "$(grep -F -- "$2" "$work/$1.body" | head -n 3)"; fi
}
http xss1 m1 "$U/members/M-XSS1"
expect_code "the member page of M-XSS1" 200 xss1
escaped xss1 '<script>alert(1)</script>' '&lt;script&gt;alert(1)&lt;/script&gt;' "a member named <script>alert(1)</script> (member page)"
http xss2 m1 "$U/members?q=M-XSS1"
escaped xss2 '<script>alert(1)</script>' '&lt;script&gt;alert(1)&lt;/script&gt;' "that name in the search results"
ok "a name with <script> is escaped on the member page and in the search results"
http xss3 m1 --data-urlencode member=M-XSS1 --data-urlencode points=+1 \
    --data-urlencode 'reason=<img src=x onerror=alert(1)>' --data-urlencode comment= \
    --data-urlencode "csrf=$tok" "$U/adjust"
expect_code "an adjustment with HTML in its reason" 200 xss3
http xss4 m1 "$U/activity?member=M-XSS1"
escaped xss4 '<img src=x onerror' '&lt;img src=x onerror=alert(1)&gt;' "an adjustment reason <img src=x onerror=alert(1)> (activity)"
http xss5 m1 "$U/members/M-XSS1"
escaped xss5 '<img src=x onerror' '&lt;img src=x onerror=alert(1)&gt;' "that reason in the member's history"
ok "a reason with <img onerror> is escaped in the activity log and the member's history"

# ---- imports: bad files, HTML in a cell, a 100 MB upload ------------------------
# import NAME FILE: uploads FILE (not a dry run) and waits until the job's
# page reports an end; its page is $work/NAME-job.body.
import_file() {
    http "$1" m1 -F "csrf=$tok" -F "file=@$2;type=text/csv" "$U/import"
    expect_code "POST /import of $(basename "$2")" 303 "$1"
    loc=$(hdr "$1" Location)
    case $loc in /import/*) ;; *) fail "the upload redirects to its job" "Location: /import/JOB" "$loc" ;; esac
    i=0
    while :; do
        http "$1-job" m1 "$U$loc"
        st=$($PY "$work/page.py" state "$work/$1-job.body")
        [ "$st" = running ] || break
        i=$((i + 1))
        [ "$i" -lt $((WAIT * 5)) ] || fail "the import of $2 ends" "a data-state other than running" "$(body "$1-job")"
        sleep 0.2
    done
    case $st in done | refused | failed) ;; *) fail "the import page's state" "done, refused or failed" "'$st': $(body "$1-job")" ;; esac
}
# problems_like NAME FILE: the page lists each problem the plugin finds in
# FILE (a CLI dry run, which writes nothing), with its line.
problems_like() {
    tp --json import "$2" --dry-run --staff check >"$work/$1.dry" 2>/dev/null || true
    $PY - "$work/$1.dry" "$work/$1-job.body" "$work/page.py" <<'PY' || fail "the import page of $2 names each problem's line and sentence" "the CLI's problems" "$(cat "$work/$1.dry.diff")"
import json, re, subprocess, sys
norm = lambda t: re.sub(r"\s+", " ", t).strip()
want = [(str(p["line"]), norm(p["message"])) for p in json.load(open(sys.argv[1]))["problems"]
        if p.get("line")]
got = subprocess.run([sys.executable, sys.argv[3], "problems", sys.argv[2]], capture_output=True,
                     text=True).stdout.splitlines()
got = [tuple(g.split("\t", 1)) for g in got if "\t" in g]
open(sys.argv[1] + ".diff", "w").write(f"want {want!r}, page {got!r}")
sys.exit(0 if want and all(w in got for w in want) else 1)
PY
}
applied_nothing() { # WHAT N0 M0
    [ "$(entries)" = "$2" ] && [ "$(members "$1")" = "$3" ] ||
        fail "$1: nothing was applied (CLI)" "$2 entries, $3 members" "$(entries) entries, $(members "$1-b") members"
}
n0=$(entries)
m0=$(members before)
printf 'code,name,points\nM-5001,Good Row,5\nM-5002,Cell Row,<b>x</b>\n' >"$work/cell.csv"
import_file imp1 "$work/cell.csv"
escaped imp1-job '<b>x</b>' '&lt;b&gt;x&lt;/b&gt;' "a CSV cell <b>x</b> quoted in its line's problem"
problems_like imp1 "$work/cell.csv"
applied_nothing "a CSV with an HTML cell" "$n0" "$m0"
ok "a CSV cell <b>x</b>: the page names line 3, shows the cell escaped, nothing applied (CLI)"
printf 'foo,bar\n1,2\n' >"$work/header.csv"
import_file imp2 "$work/header.csv"
problems_like imp2 "$work/header.csv"
applied_nothing "a CSV with a wrong header" "$n0" "$m0"
ok "a CSV with a wrong header: the plugin's sentence for line 1, nothing applied"
$PY -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 64 + b"\x00\xff\xfe\n" * 100)' >"$work/garbage.csv"
import_file imp3 "$work/garbage.csv"
sentence=$(text_of imp3-job import-state)
rows=$($PY "$work/page.py" problems "$work/imp3-job.body" | grep -c . || true)
[ "$st" != "done" ] || [ "$rows" -gt 0 ] || fail "binary garbage gets a sentence" "a problem row or a refusal" "state $st: $(body imp3-job)"
[ -n "$sentence" ] || fail "binary garbage: the state says what happened" "a sentence in #import-state" "$(body imp3-job)"
grep -q 'The first line is not a header of text: is this a CSV file?' "$work/imp3-job.body" ||
    fail "binary garbage: line 1's problem says it is not text (and echoes none of it)" \
        "The first line is not a header of text: is this a CSV file?" "$(body imp3-job)"
case $sentence in "The uploaded file has no import header on its first line"*) ;;
    *) fail "binary garbage: the state names the missing header" "The uploaded file has no import header on its first line" "$sentence" ;; esac
if grep -q '/tmp/\|tillpoints-web-[A-Za-z0-9]\{6\}' "$work/imp3-job.body"; then
    fail "the import page names no server-side temp file" "no /tmp/ path" "$(grep -o '[^ ]*/tmp/[^ <]*' "$work/imp3-job.body" | head -n 3)"
fi
applied_nothing "binary garbage" "$n0" "$m0"
ok "binary garbage as a CSV: '$sentence' ($rows problem rows), nothing applied"

truncate -s 100M "$work/big.csv"
http big m1 -F "csrf=$tok" -F "file=@$work/big.csv;type=text/csv" "$U/import"
expect_code "a 100 MB upload (max_upload_bytes 16 MiB)" 413 big
kill -0 "$main_pid" 2>/dev/null || fail "the server survives the 100 MB upload" "running" "it exited: $(tail -n 20 "$work/main.err")"
http afterbig m1 "$U/members"
expect_code "the next request after the 413" 200 afterbig
applied_nothing "the 100 MB upload" "$n0" "$m0"
ok "a 100 MB upload: 413, nothing imported, the next request is answered"

# ---- wrong PINs and the lockout ---------------------------------------------------
for i in 1 2; do
    signin lk lock-1 "$WRONG_PIN"
    expect_code "wrong PIN $i of 3" 401 lk
    [ "$(text_of lk error)" = "$WRONG" ] || fail "wrong PIN $i: the plugin's sentence in #error" "$WRONG" "$(text_of lk error)"
done
ok "two wrong PINs: 401 with '$WRONG'"
signin lku nobody-at-all "$WRONG_PIN"
expect_code "an unknown manager id" 401 lku
[ "$(text_of lku error)" = "$WRONG" ] || fail "an unknown id gets the wrong PIN's sentence" "$WRONG" "$(text_of lku error)"
ok "an unknown manager id: the same 401 and sentence as a wrong PIN"
signin lkm lock-1 12ab
expect_code "a PIN that cannot be one (12ab)" 400 lkm
[ -n "$(text_of lkm error)" ] || fail "a malformed PIN: a sentence in #error" "a sentence" "$(body lkm)"
ok "a malformed PIN: 400, '$(text_of lkm error)'"
signin lk3 lock-1 "$WRONG_PIN"
expect_code "the third wrong PIN locks" 429 lk3
case $(text_of lk3 error) in *"lock-1 is now locked until"*) ;; *) fail "the third wrong PIN: the lockout sentence" "Wrong PIN. Manager lock-1 is now locked until ..." "$(text_of lk3 error)" ;; esac
signin lk4 lock-1 "$LOCK_PIN"
expect_code "the right PIN of a locked manager" 429 lk4
case $(text_of lk4 error) in "Manager lock-1 is locked until "*" UTC after 3 wrong PINs; another manager can approve"*) ;;
*) fail "the right PIN while locked: the plugin's lockout sentence" "Manager lock-1 is locked until ... UTC after 3 wrong PINs; ..." "$(text_of lk4 error)" ;; esac
if grep -qi '^Set-Cookie: *tp_session=' "$work/lk4.hdr"; then fail "a locked manager gets no session" "no tp_session cookie" "$(cat "$work/lk4.hdr")"; fi
tp manager list | grep -Eq '^lock-1 +Lea Locked +3 +[0-9]{4}-' ||
    fail "the CLI shows lock-1 locked with 3 failures" "lock-1 ... 3  YYYY-..." "$(tp manager list)"
ok "after 3 wrong PINs the right one is refused: 429, '$(text_of lk4 error)'; the CLI shows the lockout"

# ---- 50 managers at once --------------------------------------------------------------
# (ten at a time: each PIN is an Argon2id hash of 64 MiB)
i=1
while [ "$i" -le 50 ]; do
    epids=""
    for j in 0 1 2 3 4 5 6 7 8 9; do
        k=$((i + j))
        (printf '%d\n' $((500000 + k)) | tp manager add "many-$k" --name "Manager $k" --staff owner \
            >"$work/enrol-$k.log" 2>&1 || echo "enrol many-$k failed: $(cat "$work/enrol-$k.log")" >>"$work/enrol.fail") &
        epids="$epids $!"
    done
    for p in $epids; do wait "$p" || true; done
    i=$((i + 10))
done
[ ! -s "$work/enrol.fail" ] || fail "50 managers enrolled with the CLI" "50 × exit 0" "$(cat "$work/enrol.fail")"
cpids=""
for k in $(seq 1 50); do
    (
        signin "c$k" "many-$k" $((500000 + k))
        s1=$code
        http "c$k-home" "c$k" "$U/"
        echo "$k $s1 $code" >"$work/c$k.res"
    ) &
    cpids="$cpids $!"
done
for p in $cpids; do wait "$p" || true; done
bad=$(for k in $(seq 1 50); do
    r=$(cat "$work/c$k.res" 2>/dev/null || echo "$k none none")
    [ "${r#* }" = "303 200" ] || echo "$r"
done)
[ -z "$bad" ] || fail "50 managers signed in at once each see the dashboard" "sign-in 303, then / 200 (manager sign-in home)" "$bad"
ok "50 managers signed in at once: 50 × 303, then 50 × GET / 200"

# ---- slowloris -----------------------------------------------------------------------
hostport=${U#http://}
$PY - "${hostport%:*}" "${hostport##*:}" "$WAIT" >"$work/slow.log" 2>&1 <<'PY' || fail "a normal request is answered while 50 slowloris clients trickle" "HTTP 200" "$(cat "$work/slow.log")"
import http.client, socket, sys, threading, time
host, port, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(50):
    s = socket.create_connection((host, port), timeout=wait)
    s.sendall(b"GET /signin HTTP/1.1\r\nHost: " + host.encode() + b"\r\n")
    socks.append(s)
stop = threading.Event()
def trickle():  # one header byte every second on each
    while not stop.wait(1):
        for s in list(socks):
            try:
                s.send(b"X")
            except OSError:
                socks.remove(s)
t = threading.Thread(target=trickle)
t.start()
time.sleep(2)  # the attack's shape: the slow clients have trickled twice
c = http.client.HTTPConnection(host, port, timeout=wait)
t0 = time.monotonic()
c.request("GET", "/signin")
r = c.getresponse()
r.read()
took = time.monotonic() - t0
still = len(socks)
time.sleep(2)
stop.set()
t.join()
for s in socks:
    s.close()
print(f"HTTP {r.status} in {took:.2f} s with {still} of 50 slow clients connected")
sys.exit(0 if r.status == 200 else 1)
PY
kill -0 "$main_pid" 2>/dev/null || fail "the server survives 50 slowloris clients" "running" "it exited: $(tail -n 20 "$work/main.err")"
http afterslow m1 "$U/members"
expect_code "a signed-in request after the slowloris clients" 200 afterslow
ok "50 slowloris clients: $(cat "$work/slow.log"); the server stays up"

# ---- the till kept selling -------------------------------------------------------
if wait "$till_pid"; then rc=0; else rc=$?; fi
[ "$rc" = 0 ] || fail "the till's sales during the bad requests complete" "exit 0" "exit $rc: $(tail -n 5 "$work/till.log")"
[ "$(grep -c '\[award\] Receipt T-[0-9]: +2 points for Alice Example' "$work/till.log")" = 8 ] ||
    fail "the till's 8 sales were awarded" "8 [award] lines" "$(grep -c '\[award\]' "$work/till.log")"
ok "the till sold 8 times while the bad requests ran: 8 awards"

# ---- plain HTTP beyond loopback, and TLS ------------------------------------------
if "$WEB" --plugin "$PLUGIN" --config "$conf" --assets "$ASSETS" --listen 0.0.0.0:0 \
    >"$work/plain.out" 2>"$work/plain.stderr" </dev/null; then rc=0; else rc=$?; fi
[ "$rc" = 2 ] || fail "listening on 0.0.0.0 without TLS is refused" "exit 2" "exit $rc: $(cat "$work/plain.stderr")"
grep -q tls_cert "$work/plain.stderr" && grep -q allow_plain_http "$work/plain.stderr" ||
    fail "the refusal names tls_cert/tls_key and allow_plain_http" "a sentence naming them" "$(cat "$work/plain.stderr")"
[ ! -s "$work/plain.out" ] || fail "a refused start prints no ready line" "nothing on stdout" "$(cat "$work/plain.out")"
ok "--listen 0.0.0.0 without TLS: exit 2, '$(head -n 1 "$work/plain.stderr")'"
start plain --listen 0.0.0.0:0 --allow-plain-http
ok "--listen 0.0.0.0 with --allow-plain-http starts: $url/"
stop "$pid" plain

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" >"$work/openssl.log" 2>&1 ||
    fail "openssl makes a self-signed certificate" "exit 0" "$(cat "$work/openssl.log")"
start tls --listen 127.0.0.1:0 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
T=$url
tls_pid=$pid
case $T in https://127.0.0.1:*) ;; *) fail "the TLS server's ready line" "https://127.0.0.1:PORT/" "$T" ;; esac
K=-k
signin tl mgr-1 "$MGR_PIN" "$T"
expect_code "sign-in over TLS (curl -k)" 303 tl
cookie=$(tr -d '\r' <"$work/tl.hdr" | grep -i '^Set-Cookie: *tp_session=' | tail -n 1)
case $cookie in *"; "[Ss]ecure*) ;; *) fail "the session cookie over TLS is Secure" "Secure" "${cookie:-none}" ;; esac
http tl-home tl "$T/"
expect_code "the dashboard over TLS" 200 tl-home
ok "TLS with a self-signed certificate: https sign-in, Secure cookie ($cookie), dashboard 200"
K=""
code=$(curl -sS --max-time "$WAIT" -o /dev/null -w '%{http_code}' "http://${T#https://}/signin" 2>/dev/null) || true
[ "$code" != 200 ] || fail "the TLS port does not answer plain HTTP" "no HTTP 200" "$code"
ok "the TLS port does not serve plain HTTP"
stop "$tls_pid" tls
start tlsany --listen 0.0.0.0:0 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
ok "with TLS, listening on 0.0.0.0 is allowed: $url/"
stop "$pid" tlsany

# ---- an expired session -------------------------------------------------------------
# (last: it is the one check that waits by the clock)
start idle --listen 127.0.0.1:0 --session-idle 5
I=$url
idle_pid=$pid
signin idl mgr-1 "$MGR_PIN" "$I"
expect_code "sign-in on the --session-idle 5 server" 303 idl
http idl-home idl "$I/adjust"
expect_code "a page right after signing in" 200 idl-home
itok=$(csrf_of idl-home)
n0=$(entries)
# The one wait by the clock, well past the idle timeout. The timeout is
# 5 s, not 1, so that a machine that stalls for a moment between sign-in
# and the first page does not expire the session before it was used.
sleep 8
http idl-get idl "$I/members"
expect_code "a GET after the session expired" 303 idl-get
[ "$(hdr idl-get Location)" = /signin ] || fail "the expired session redirects to /signin" "Location: /signin" "$(hdr idl-get Location)"
http idl-post idl --data-urlencode member=M-1001 --data-urlencode points=+5 --data-urlencode reason=late \
    --data-urlencode comment= --data-urlencode "csrf=$itok" "$I/adjust"
expect_code "a POST after the session expired" 401 idl-post
grep -q 'Your session has ended; sign in again.' "$work/idl-post.body" ||
    fail "the 401 page says the session ended" "Your session has ended; sign in again." "$(body idl-post)"
[ "$(entries)" = "$n0" ] || fail "the expired session's POST wrote nothing (CLI)" "$n0 entries" "$(entries)"
ok "an idle session (--session-idle 5, 8 s later): GET 303 to /signin, POST 401, nothing written"
stop "$idle_pid" idle

# ---- the main server: still up, stops cleanly, the database is sound ------------------
http last m1 "$U/"
expect_code "the main server after everything" 200 last
stop "$main_pid" main
out=$(tp verify 2>&1) || fail "tillpoints verify after the bad input" "exit 0, 0 problems" "$out"
ok "tillpoints verify: $(echo "$out" | head -n 1)"
echo "e2e_web_bad: all checks passed"
