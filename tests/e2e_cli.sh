#!/bin/sh
# End-to-end: the `tillpoints` manager CLI (a real host) dlopens the built
# plugin and runs every command on a real database file; sales come from
# the reference till. Each expectation is checked on the CLI's output and
# exit status, and again directly in the SQLite file with the sqlite3
# command-line tool — not through the plugin. --json answers are parsed
# with python3's json module.
set -eu
B="${BUILD:-build}"
CLI="$B/tillpoints"
TILL="$B/tillpoints-till"
work=$(mktemp -d /tmp/tillpoints-e2e-cli-XXXXXX)
[ -n "${E2E_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # name, command...
    name=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
q() { sqlite3 "$work/x.db" "$1"; }
q2() { sqlite3 "$work/fresh/y.db" "$1"; }
has() { grep -q -- "$1" "$2"; }           # has TEXT FILE (fixed regex)
hasnt() { ! grep -q -- "$1" "$2"; }
json() { # json FILE PYTHON-EXPRESSION-ON-d
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}
# tp NAME ARGS...: runs the CLI, stdout to $work/NAME.out, stderr to
# $work/NAME.err, exit status in $rc.
tp() {
    n=$1; shift
    if "$CLI" --plugin "$B/tillpoints.so" --config "$work/tp.conf" "$@" \
        > "$work/$n.out" 2> "$work/$n.err"; then rc=0; else rc=$?; fi
}
tp2() { # the same on the fresh database
    n=$1; shift
    if "$CLI" --plugin "$B/tillpoints.so" --config "$work/fresh/tp.conf" "$@" \
        > "$work/$n.out" 2> "$work/$n.err"; then rc=0; else rc=$?; fi
}
ledger_rows() { q "SELECT count(*) FROM ledger"; }
bal() { q "SELECT COALESCE(SUM(l.points),0) FROM members m LEFT JOIN ledger l ON l.member_id=m.id WHERE m.code='$1'"; }

printf '[store]\nlocation = shop-7\nterminal = till-3\ndatabase = x.db\n' > "$work/tp.conf"

# 1. Usage errors: exit 2 with a usage line, before anything is opened.
tp u1
check "no command: exit 2" [ "$rc" = 2 ]
check "no command: usage line" has "^usage: tillpoints" "$work/u1.err"
tp u2 adjust M-1001 +5 --reason x
check "adjust without --staff: exit 2" [ "$rc" = 2 ]
check "adjust without --staff: says so" has "adjust needs --staff" "$work/u2.err"
tp u3 activity --from 2026-02-30
check "impossible date: exit 2" [ "$rc" = 2 ]
tp u4 activity --type issued,gifts
check "unknown type: exit 2" [ "$rc" = 2 ]
tp u5 bulk-adjust +5 --reason r --staff s
check "bulk-adjust needs a member source: exit 2" [ "$rc" = 2 ]
check "usage error opened no database" [ ! -e "$work/x.db" ]

# The manager's guide covers every command: each usage line `tillpoints
# help` prints is in docs/MANAGER.md's command list, word for word, with a
# link to a section the guide has.
tp h1 help
check "help: exit 0" [ "$rc" = 0 ]
tp h2 --help
check "help lists what --help lists" cmp -s "$work/h1.out" "$work/h2.out"
manager_guide_covers() {
    python3 - "$work/h1.out" docs/MANAGER.md <<'PY'
import re, sys
usage = open(sys.argv[1]).read().split("commands:\n", 1)[1]
commands = [l[2:] for l in usage.splitlines() if l.startswith("  ") and not l.startswith("   ")]
guide = open(sys.argv[2], encoding="utf-8").read()
slugs = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
         for h in re.findall(r"^#{2,3} (.+)$", guide, re.M)}
bad = []
for c in commands:
    m = re.search(r"^- `" + re.escape(c) + r"` .*\(#([a-z0-9-]+)\)$", guide, re.M)
    if not m or m.group(1) not in slugs:
        bad.append(c)
if len(commands) < 20 or bad:
    print("MANAGER.md lacks a section for: %s (%d commands listed)" % (bad, len(commands)))
    sys.exit(1)
PY
}
check "MANAGER.md has a section for every command tillpoints help lists" manager_guide_covers

# --version: every program names its release, the ABI it was built for and
# the loaded plugin's release, ABI and SQLite, without opening a database.
ver=$(sed -n '1s/.*(\(.*\)).*/\1/p' packaging/deb/changelog)
sqlv=$(sqlite3 --version | cut -d' ' -f1)
for prog in tillpoints tillpoints-till tillpoints-shim; do
    if "$B/$prog" --plugin "$B/tillpoints.so" --version > "$work/v.out" 2>&1; then rc=0; else rc=$?; fi
    check "$prog --version: exit 0" [ "$rc" = 0 ]
    check "$prog --version: its own release $ver and ABI" has "^$prog $ver (tillpoints ABI [0-9]*\.[0-9]*\.[0-9]*)$" "$work/v.out"
    check "$prog --version: the plugin's release, ABI and SQLite $sqlv" \
        has "^plugin: .*tillpoints.so $ver (ABI [0-9.]*), SQLite $sqlv$" "$work/v.out"
done
if "$CLI" --plugin "$work/no-such-plugin.so" --version > "$work/v2.out" 2>&1; then rc=0; else rc=$?; fi
check "--version with a missing plugin: exit 1" [ "$rc" = 1 ]
check "--version with a missing plugin: says which file" has "^plugin: Cannot load the plugin $work/no-such-plugin.so" "$work/v2.out"
check "--version opened no database" [ ! -e "$work/x.db" ]

# Installed programs load only the installed plugin: a tillpoints.so beside
# the program or in the current directory is never loaded unless named
# (--plugin PATH or $TILLPOINTS_PLUGIN).
mkdir "$work/bin"
cp "$B/tillpoints" "$B/tillpoints-till" "$B/tillpoints-shim" "$B/tillpoints.so" "$work/bin/"
for prog in tillpoints tillpoints-till tillpoints-shim; do
    if (cd "$work/bin" && env -u TILLPOINTS_PLUGIN "./$prog" --version) > "$work/v3.out" 2>&1; then rc=0; else rc=$?; fi
    check "$prog never loads the tillpoints.so beside it or in the current directory" \
        hasnt "$work/bin/tillpoints.so" "$work/v3.out"
    check "$prog without --plugin names the installed plugin" \
        has "^plugin: .*/lib/[^ ]*tillpoints/tillpoints\.so" "$work/v3.out"
    if has "^plugin: Cannot load" "$work/v3.out"; then
        check "$prog: a missing installed plugin says how to name another" \
            has "pass --plugin PATH or set TILLPOINTS_PLUGIN" "$work/v3.out"
    fi
    if (cd "$work/bin" && TILLPOINTS_PLUGIN="$work/bin/tillpoints.so" "./$prog" --version) \
        > "$work/v4.out" 2>&1; then rc=0; else rc=$?; fi
    check "$prog loads the plugin \$TILLPOINTS_PLUGIN names" has "^plugin: $work/bin/tillpoints.so " "$work/v4.out"
done

# 2. Members: add with phone, email and app id; a card; lookups by each key.
tp add1 member add M-1001 --name "Alice Example" --phone "+49 151 0000 0001" \
    --email " Alice@Example.COM " --app-id APP-1
check "member add: exit 0" [ "$rc" = 0 ]
check "member add: says added" has "Member M-1001 added" "$work/add1.out"
check "phone stored as E.164" [ "$(q "SELECT phone FROM members WHERE code='M-1001'")" = "+4915100000001" ]
check "email stored normalised" [ "$(q "SELECT email FROM members WHERE code='M-1001'")" = "alice@example.com" ]
tp add2 member add M-1002 --name "Bob Sample" --email bob@example.com
tp add3 member add M-1003 --name "Alina Other" --phone "+44 20 7946 0003"
check "three members" [ "$(q "SELECT count(*) FROM members")" = 3 ]
tp dup member add M-1001 --name "Someone Else"
check "duplicate code: exit 1" [ "$rc" = 1 ]
check "duplicate code: plugin sentence" has "^tillpoints: " "$work/dup.err"
check "duplicate changed nothing" [ "$(q "SELECT name FROM members WHERE code='M-1001'")" = "Alice Example" ]
# A name that is not UTF-8 text (Latin-1 from an old export) is refused by
# name; a code beyond its limit is too long. Neither adds anyone.
tp latin1 member add M-1009 --name "$(printf 'J\374rgen')"
check "non-UTF-8 name: exit 1" [ "$rc" = 1 ]
check "non-UTF-8 name: says which field" has "^tillpoints: The name is not valid UTF-8 text" "$work/latin1.err"
tp longcode member add "M-$(printf '%0130d' 0)" --name "Too Long"
check "over-long code: exit 1" [ "$rc" = 1 ]
check "over-long code: sentence" has "^tillpoints: The member code must be 1 to 128" "$work/longcode.err"
check "neither was added" [ "$(q "SELECT count(*) FROM members WHERE code='M-1009' OR name='Too Long'")" = 0 ]
tp card member add-card M-1001 CARD-77
check "add-card: exit 0" [ "$rc" = 0 ]
check "add-card: says so" has "CARD-77" "$work/card.out"
for key in M-1001 CARD-77 APP-1 +4915100000001 "0049 151 0000 0001" alice@example.com; do
    tp show member show "$key"
    check "member show by '$key'" has "^code: *M-1001$" "$work/show.out"
done
tp show member show M-1001
check "member show: full phone" has "+4915100000001" "$work/show.out"
check "member show: full email" has "alice@example.com" "$work/show.out"
# Phone and email are not unique (a family may share one): a lookup by a
# shared email is refused as ambiguous and asks for the member code.
tp dupmail member add M-1004 --name "Al Example" --email ALICE@example.com
check "shared email allowed: exit 0" [ "$rc" = 0 ]
tp ambig member show alice@example.com
check "lookup by shared email: exit 1" [ "$rc" = 1 ]
check "lookup by shared email: asks for the code" has "Several members share the email" "$work/ambig.err"
tp nobody member show NOBODY-9
check "unknown member: exit 1" [ "$rc" = 1 ]
check "unknown member: sentence on stderr" has "^tillpoints: .*NOBODY-9" "$work/nobody.err"
tp find member find ali
check "find by name prefix: exit 0" [ "$rc" = 0 ]
check "find: Alice" has "^M-1001 .*Alice Example" "$work/find.out"
check "find: Alina" has "^M-1003 .*Alina Other" "$work/find.out"
check "find: not Bob" hasnt "Bob Sample" "$work/find.out"
check "find: phone in full" has "+4915100000001" "$work/find.out"

# 3. Sales through the reference till: M-1001 earns 9, M-1002 earns 30.
cat > "$work/sales.till" <<'S'
begin S-1
scan M-1001
item MILK 9.99
pay
begin S-2
scan CARD-77
item BREAD 3.50
pay
begin S-3
scan M-1002
item WINE 30.00
pay
S
if "$TILL" --plugin "$B/tillpoints.so" --config "$work/tp.conf" --script "$work/sales.till" \
    > "$work/sales.out" 2>&1; then rc=0; else rc=$?; fi
check "till sales: exit 0" [ "$rc" = 0 ]
check "M-1001 earned 12 in the db" [ "$(bal M-1001)" = 12 ]
tp b1 balance M-1001
check "balance: 12" has "^M-1001 (Alice Example): 12 points$" "$work/b1.out"
tp b2 balance CARD-77
check "balance by card" has "12 points" "$work/b2.out"

# 4. Adjustments: credit, refused overdraw, unknown member.
tp adj adjust M-1001 +5 --reason "goodwill" --comment "Sorry for the wait" --staff mgr-1
check "adjust: exit 0" [ "$rc" = 0 ]
check "adjust: new balance shown" has "balance 17 points" "$work/adj.out"
check "adjust row in the db" [ "$(q "SELECT points||'/'||staff||'/'||reason FROM ledger WHERE kind='adjust'")" = "5/mgr-1/goodwill" ]
check "balance 17 in the db" [ "$(bal M-1001)" = 17 ]
rows=$(ledger_rows)
tp over adjust M-1001 -100 --reason "typo" --staff mgr-1
check "overdraw: exit 1" [ "$rc" = 1 ]
check "overdraw: sentence" has "^tillpoints: " "$work/over.err"
check "overdraw wrote nothing" [ "$(ledger_rows)" = "$rows" ]
tp adjx adjust NOBODY-9 +5 --reason x --staff mgr-1
check "adjust unknown member: exit 1" [ "$rc" = 1 ]
check "adjust unknown member wrote nothing" [ "$(ledger_rows)" = "$rows" ]
tp adjm adjust M-1001 -2 --reason "correction" --staff mgr-2
check "debit: exit 0" [ "$rc" = 0 ]
check "balance 15 in the db" [ "$(bal M-1001)" = 15 ]

# 5. History and the activity log, with paging.
tp h history M-1001
check "history: exit 0" [ "$rc" = 0 ]
check "history: header" has "^time  *member  *points  *type  *staff  *location  *receipt  *reason" "$work/h.out"
check "history: issued row" has "M-1001  *+9  *issued .*shop-7  *S-1" "$work/h.out"
check "history: adjust row" has "M-1001  *+5  *adjust  *mgr-1  .*goodwill" "$work/h.out"
check "history: no older page" has "no older ones" "$work/h.out"
check "history: time in UTC form" grep -Eq "^20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]  " "$work/h.out"
tp p1 history M-1001 --limit 2
check "page 1: two rows and a cursor" has "add --before " "$work/p1.out"
cursor=$(sed -n 's/.*add --before \([0-9]*\)$/\1/p' "$work/p1.out")
newest2=$(q "SELECT min(lid) FROM (SELECT l.id AS lid FROM ledger l JOIN members m ON m.id=l.member_id WHERE m.code='M-1001' ORDER BY l.id DESC LIMIT 2)")
check "cursor is the last row's id" [ "$cursor" = "$newest2" ]
tp p2 history M-1001 --limit 2 --before "$cursor"
check "page 2: the issued rows" has "issued" "$work/p2.out"
check "page 2: not the newest adjustment" hasnt "correction" "$work/p2.out"
tp a1 activity --type adjust
check "activity --type adjust: only adjustments" [ "$(grep -c ' adjust ' "$work/a1.out")" = 2 ]
check "activity --type adjust: no issued" hasnt " issued " "$work/a1.out"
tp a2 activity --type issued --type adjust --staff mgr-2
check "activity --staff: one row" [ "$(grep -c ' M-1001 ' "$work/a2.out")" = 1 ]
tp a3 activity --type issued --member M-1002 --location shop-7
check "activity --member: M-1002 issued" has "M-1002  *+30  *issued" "$work/a3.out"
tp a4 activity --from 2099-01-01
check "activity in the future: no entries" has "No entries." "$work/a4.out"
tp a5 activity --from 2000-01-01 --to 2099-12-31T23:59Z --location elsewhere
check "activity other location: no entries" has "No entries." "$work/a5.out"
tp hx history NOBODY-9
check "history of unknown member: exit 1" [ "$rc" = 1 ]

# 6. Bulk adjustments: a members file (CRLF, blank line, comment), --all;
# all or none.
printf 'M-1001\r\n\r\n# a comment\r\n  M-1002  \r\n' > "$work/members.txt"
rows=$(ledger_rows)
tp bulk bulk-adjust --members-file "$work/members.txt" +10 --reason "spring promo" --staff mgr-1
check "bulk: exit 0" [ "$rc" = 0 ]
check "bulk: summary" has "^bulk-adjust: +10 points for 2 members, +20 points in total" "$work/bulk.out"
check "bulk: two rows in the db" [ "$(q "SELECT count(*) FROM ledger WHERE kind='bulk'")" = 2 ]
check "bulk: no progress escape codes off a terminal" [ ! -s "$work/bulk.err" ]
tp bulkall bulk-adjust --all +1 --reason "anniversary" --staff mgr-1
check "bulk --all: every member" has "for $(q "SELECT count(*) FROM members") members" "$work/bulkall.out"
check "bulk --all: one row per member" [ "$(q "SELECT count(*) FROM ledger WHERE reason='anniversary'")" = "$(q "SELECT count(*) FROM members")" ]
rows=$(ledger_rows)
printf 'M-1001\nNOBODY-9\n' > "$work/bad-members.txt"
tp bulkbad bulk-adjust --members-file "$work/bad-members.txt" +10 --reason x --staff mgr-1
check "bulk with unknown member: exit 1" [ "$rc" = 1 ]
check "bulk with unknown member: nothing written" [ "$(ledger_rows)" = "$rows" ]
tp bulkover bulk-adjust --all -20 --reason x --staff mgr-1
check "bulk overdraw: exit 1" [ "$rc" = 1 ]
check "bulk overdraw: nothing written" [ "$(ledger_rows)" = "$rows" ]
tp bulknofile bulk-adjust --members-file "$work/missing.txt" +1 --reason x --staff mgr-1
check "bulk missing file: exit 1" [ "$rc" = 1 ]
# On a terminal (a pty from script(1)) a progress bar is drawn on stderr.
if command -v script > /dev/null 2>&1; then
    script -qec "'$CLI' --plugin '$B/tillpoints.so' --config '$work/tp.conf' bulk-adjust --all +1 --reason tty --staff mgr-1" \
        /dev/null > "$work/tty.out" 2>&1 || true
    check "progress bar on a terminal" grep -q "\] 100% " "$work/tty.out"
    check "summary after the bar" grep -q "bulk-adjust: +1 point for " "$work/tty.out"
fi

# 7. CSV import: BOM, CRLF, quoted fields with commas; dry run; re-import.
printf '\357\273\277code,name,phone,email,points,reason\r\n' > "$work/in.csv"
printf 'NEW-1,"Smith, Jane",+4915100000010,jane@example.com,100,"migrated, old card"\r\n' >> "$work/in.csv"
printf 'NEW-2,"O""Brien, Pat",,,40,"paper card"\r\n' >> "$work/in.csv"
printf 'M-1002,Bob Sample,,,25,"bonus, spring"\r\n' >> "$work/in.csv"
members=$(q "SELECT count(*) FROM members"); rows=$(ledger_rows)
tp dry import "$work/in.csv" --dry-run --staff mgr-1
check "dry run: exit 0" [ "$rc" = 0 ]
check "dry run: summary" has "^import: 3 rows, 0 invalid, 2 members created, 3 entries, +165 points; dry run" "$work/dry.out"
check "dry run: no member added" [ "$(q "SELECT count(*) FROM members")" = "$members" ]
check "dry run: no entry added" [ "$(ledger_rows)" = "$rows" ]
m2=$(bal M-1002)
tp imp import "$work/in.csv" --staff mgr-1
check "import: exit 0" [ "$rc" = 0 ]
check "import: summary" has "^import: 3 rows, 0 invalid, 2 members created, 3 entries, +165 points; applied" "$work/imp.out"
check "import: quoted name with comma" [ "$(q "SELECT name FROM members WHERE code='NEW-1'")" = "Smith, Jane" ]
check "import: doubled quote" [ "$(q "SELECT name FROM members WHERE code='NEW-2'")" = "O\"Brien, Pat" ]
check "import: quoted reason with comma" [ "$(q "SELECT reason FROM ledger l JOIN members m ON m.id=l.member_id WHERE m.code='NEW-1'")" = "migrated, old card" ]
check "import: no CR kept" [ "$(q "SELECT count(*) FROM ledger WHERE reason LIKE '%'||char(13)||'%'")" = 0 ]
check "import: phone and email" [ "$(q "SELECT phone||' '||email FROM members WHERE code='NEW-1'")" = "+4915100000010 jane@example.com" ]
check "import: NEW-1 has 100" [ "$(bal NEW-1)" = 100 ]
check "import: M-1002 credited 25" [ "$(bal M-1002)" = $((m2 + 25)) ]
check "import: kind import, staff" [ "$(q "SELECT count(*) FROM ledger WHERE kind='import' AND staff='mgr-1'")" = 3 ]
rows=$(ledger_rows); members=$(q "SELECT count(*) FROM members")
tp reimp import "$work/in.csv" --staff mgr-1
check "re-import: exit 0" [ "$rc" = 0 ]
check "re-import: nothing added twice" [ "$(ledger_rows)" = "$rows" ]
check "re-import: no member added" [ "$(q "SELECT count(*) FROM members")" = "$members" ]
check "re-import: balance unchanged" [ "$(bal NEW-1)" = 100 ]

# A malformed row: its line number, nothing applied.
printf 'code,name,phone,email,points,reason\nBAD-1,Good Row,,,10,ok\nBAD-2,Bad Row,,,ten,oops\nBAD-3,Other,,,5,ok\n' > "$work/bad.csv"
rows=$(ledger_rows); members=$(q "SELECT count(*) FROM members")
tp bad import "$work/bad.csv" --staff mgr-1
check "malformed row: exit 1" [ "$rc" = 1 ]
check "malformed row: line number" has "^line 3: " "$work/bad.out"
check "malformed row: only that line" [ "$(grep -c '^line ' "$work/bad.out")" = 1 ]
check "malformed row: nothing applied" [ "$(ledger_rows)" = "$rows" ]
check "malformed row: no member created" [ "$(q "SELECT count(*) FROM members")" = "$members" ]
tp badskip import "$work/bad.csv" --skip-invalid --staff mgr-1
check "--skip-invalid: exit 0" [ "$rc" = 0 ]
check "--skip-invalid: still names line 3" has "^line 3: " "$work/badskip.out"
check "--skip-invalid: the two good rows" [ "$(ledger_rows)" = $((rows + 2)) ]
check "--skip-invalid: bad row left out" [ "$(q "SELECT count(*) FROM members WHERE code='BAD-2'")" = 0 ]
tp nofile import "$work/missing.csv" --staff mgr-1
check "import missing file: exit 1" [ "$rc" = 1 ]

# 8. Export, then import into a fresh database: the same balances.
# Cells a spreadsheet would run as a formula, and a literal leading quote.
# A code the store's scanners would refuse ([scan] code_min_length = 4 by
# default) is refused when the member is added, with the scanner's reason:
# such a member could never be scanned.
tp short member add AB3 --name "Too Short"
check "member add: a code [scan] refuses: exit 1" [ "$rc" = 1 ]
check "member add: says the scanners would refuse it" \
    grep -q "The code AB3 is too short (at least 4 characters); a member with this code could never be scanned at this store" "$work/short.err"
check "member add: nothing added" [ "$(q "SELECT count(*) FROM members WHERE code='AB3'")" = 0 ]
printf 'code,name,points\nAB4,Short Row,5\n' > "$work/short.csv"
tp shortcsv import "$work/short.csv" --staff mgr-1
check "import: a code [scan] refuses is an invalid row" grep -q "^line 2: The code AB4 is too short" "$work/shortcsv.out"

tp fx1 member add FX-1 --name '=HYPERLINK("http://evil.example/","click")' --email "x@evil.example"
check "formula-like name accepted as a name" [ "$rc" = 0 ]
tp fx2 member add FX-2 --name "'Quoted name"
tp fx3 member add FX-3 --name "-1+2 Baker" --phone "+49 151 0000 0003"
tp fx4 member add FX-4 --name "@SUM(A1)"
old_umask=$(umask)
umask 000 # the export must not depend on the caller's umask
tp exp export "$work/out.csv"
umask "$old_umask"
check "export: exit 0" [ "$rc" = 0 ]
check "export: the file is 0600 under umask 000 (phones and e-mails)" \
    [ "$(stat -c %a "$work/out.csv")" = 600 ]
check "export: a formula cell is written with a leading quote" \
    grep -qF "\"FX-1\",\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"click\"\")\"" "$work/out.csv"
check "export: a phone number is written with a leading quote" grep -qF "\"'+4915100000003\"" "$work/out.csv"
check "export: a literal leading quote gets one more" grep -qF "\"FX-2\",\"''Quoted name\"" "$work/out.csv"
check "export: no text cell starts with = + - @ tab or CR" python3 -c "
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='')))
bad = [c for r in rows[1:] for i, c in enumerate(r) if i != 4 and c[:1] in ('=', '+', '-', '@', '\t', '\r')]
sys.exit(1 if bad or len(rows) < 2 else 0)" "$work/out.csv"
count=$(q "SELECT count(*) FROM members")
check "export: says how many" has "^export: $count members written" "$work/exp.out"
check "export: header" [ "$(head -n 1 "$work/out.csv" | tr -d '\r')" = "code,name,phone,email,points,reason,app_id,cards" ]
check "export: one line per member" [ "$(($(wc -l < "$work/out.csv") - 1))" = "$count" ]
mkdir "$work/fresh"
printf '[store]\nlocation = shop-9\ndatabase = y.db\n' > "$work/fresh/tp.conf"
tp2 rt import "$work/out.csv" --staff mgr-9
check "round trip import: exit 0" [ "$rc" = 0 ]
balances="SELECT m.code||'='||COALESCE(SUM(l.points),0) FROM members m LEFT JOIN ledger l ON l.member_id=m.id GROUP BY m.id ORDER BY m.code"
check "round trip: same balances" [ "$(q "$balances")" = "$(q2 "$balances")" ]
check "round trip: names, phones, emails" [ "$(q "SELECT code,name,phone,email FROM members ORDER BY code")" = "$(q2 "SELECT code,name,phone,email FROM members ORDER BY code")" ]
check "round trip: formula cells and a literal quote come back exactly" \
    [ "$(q2 "SELECT name FROM members WHERE code IN ('FX-1','FX-2','FX-3','FX-4') ORDER BY code")" = "$(printf '%s\n' '=HYPERLINK("http://evil.example/","click")' "'Quoted name" '-1+2 Baker' '@SUM(A1)')" ]

# 9. --json: one document on stdout, parsed by python.
tp js member show CARD-77 --json
check "json show: exit 0" [ "$rc" = 0 ]
check "json show: member and balance" json "$work/js.out" "d['ok'] and d['member']['code']=='M-1001' and d['member']['balance']==$(bal M-1001) and d['member']['phone']=='+4915100000001'"
tp jb --json balance M-1002
check "json balance" json "$work/jb.out" "d['balance']==$(bal M-1002)"
tp ja --json activity --type adjust,bulk --limit 3
check "json activity: 3 entries, cursor" json "$work/ja.out" "len(d['entries'])==3 and d['next_before']==d['entries'][-1]['id'] and all(e['type'] in ('adjust','bulk') for e in d['entries'])"
check "json activity: integer points" json "$work/ja.out" "all(isinstance(e['points'],int) for e in d['entries'])"
tp jf --json member find ali
check "json find" json "$work/jf.out" "sorted(m['code'] for m in d['members'])==['M-1001','M-1003']"
tp jx --json adjust M-1001 -100000 --reason x --staff mgr-1
check "json refusal: exit 1" [ "$rc" = 1 ]
check "json refusal: ok false and the sentence" json "$work/jx.out" "d['ok'] is False and len(d['error'])>10"
check "json refusal: sentence on stderr too" has "^tillpoints: " "$work/jx.err"
tp jbad --json import "$work/bad.csv" --dry-run --staff mgr-1
check "json import problems" json "$work/jbad.out" "d['ok'] is False and d['invalid']==1 and not d['applied'] and [p['line'] for p in d['problems'] if p['message'].startswith('Points must')]==[3]"
tp jv --json verify
check "json verify clean" json "$work/jv.out" "d['ok'] and d['problem_count']==0 and d['checks']>0 and d['problems']==[]"

# 10. verify: clean, then two corruptions made behind the plugin's back.
tp v verify
check "verify clean: exit 0" [ "$rc" = 0 ]
check "verify clean: summary" grep -Eq "^verify: [1-9][0-9]* checks, 0 problems$" "$work/v.out"
check "verify through a pipe: no progress line" [ ! -s "$work/v.err" ]
# On a terminal (a PTY, stdout and stderr both on it), verify draws its
# progress line on stderr, one row per step here, and clears it before the
# verdict.
sed 's/^database = .*/&\n[limits]\nverify_step_rows = 1/' "$work/tp.conf" > "$work/steps.conf"
if python3 - "$CLI" --plugin "$B/tillpoints.so" --config "$work/steps.conf" verify \
    > "$work/vpty.out" 2> "$work/vpty.err" <<'PTY'
import os, subprocess, sys
master, slave = os.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the child closed the terminal
        break
    if not chunk:
        break
    out += chunk
sys.stdout.buffer.write(out)
sys.exit(p.wait())
PTY
then rc=0; else rc=$?; fi
check "verify on a terminal: exit 0" [ "$rc" = 0 ]
pty_has() { # name, python regex over the bytes the terminal got
    check "$1" python3 -c 'import re, sys; sys.exit(not re.search(sys.argv[2].encode(), open(sys.argv[1], "rb").read()))' "$work/vpty.out" "$2"
}
pty_has "verify on a terminal: a progress line" '\rverify: [0-9,]+ of [0-9,]+ rows read \([0-9]+%\)\x1b\[K'
pty_has "verify on a terminal: it reaches 100%" '\rverify: ([0-9,]+) of \1 rows read \(100%\)'
pty_has "verify on a terminal: cleared, then the verdict" '\(100%\)\x1b\[K\r\x1b\[Kverify: [1-9][0-9]* checks, 0 problems\r?\n'
cp "$work/x.db" "$work/good.db"
# (a) drop the append-only trigger and rewrite a ledger row.
q "DROP TRIGGER ledger_no_update; UPDATE ledger SET points = points + 1000 WHERE kind='adjust' AND points=5;"
tp v1 verify
check "verify after UPDATE: exit 1" [ "$rc" = 1 ]
check "verify after UPDATE: counts problems" grep -Eq "^verify: [0-9]+ checks, [1-9][0-9]* problems?$" "$work/v1.out"
# (b) an over-reversal inserted with the guard trigger off, then put back.
cp "$work/good.db" "$work/x.db"
rm -f "$work/x.db-wal" "$work/x.db-shm"
guard=$(q "SELECT sql FROM sqlite_master WHERE name='ledger_reversal_bounded'")
q "DROP TRIGGER ledger_reversal_bounded;
   INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, reverses, staff, reason, time_ms, recorded_ms)
     SELECT member_id, location, terminal, receipt||'-x', 'reversal', -(points + 50), id, 'intruder', '', time_ms, time_ms
     FROM ledger WHERE receipt='S-3' AND kind='earn';
   $guard;"
check "the guard trigger is back" [ "$(q "SELECT count(*) FROM sqlite_master WHERE name='ledger_reversal_bounded'")" = 1 ]
tp v2 verify
check "verify over-reversal: exit 1" [ "$rc" = 1 ]
check "verify over-reversal: a problem printed" [ "$(grep -vc '^verify: ' "$work/v2.out")" -ge 1 ]

# 11. The audit log: every point movement above has a record (actor and
# approver), activity shows the approver, `audit head` gives the head for
# the end-of-day report, and `verify --head` catches what the chain alone
# cannot. Tampering goes around the plugin: the sqlite3 shell, and for
# recomputing hashes a second, independent implementation of the published
# encoding (plugin/audit.c) in python's hashlib.
cp "$work/good.db" "$work/x.db"
rm -f "$work/x.db-wal" "$work/x.db-shm"
check "a record per adjustment, by its staff" [ "$(q "SELECT group_concat(actor||'/'||approver||'/'||points, ' ') FROM audit WHERE action='adjust'")" = "mgr-1/mgr-1/5 mgr-2/mgr-2/-2" ]
check "a record per bulk batch, covering its entries" [ "$(q "SELECT count(*) FROM audit a WHERE action='bulk' AND approver='mgr-1' AND ledger_count = (SELECT count(*) FROM ledger l WHERE l.kind='bulk' AND l.receipt LIKE a.receipt||'/%')")" = "$(q "SELECT count(DISTINCT substr(receipt, 1, instr(receipt, '/') - 1)) FROM ledger WHERE kind='bulk'")" ]
check "records per applied import chunk, with its points" [ "$(q "SELECT count(DISTINCT receipt)||'/'||sum(points)||'/'||sum(ledger_count) FROM audit WHERE action='import' AND approver='mgr-1' AND location='shop-7'")" = "$(q "SELECT count(DISTINCT substr(receipt, 1, 23))||'/'||sum(points)||'/'||count(*) FROM ledger WHERE kind='import'")" ]
check "the import's record: its file, lines and entries" [ "$(q "SELECT detail FROM audit WHERE action='import' AND points=165")" = "file in.csv, lines 2-4: 3 entries, 2 members created" ]
tp act --json activity --type adjust,bulk,import --limit 100
check "activity: the approver of every adjustment, bulk and import entry" json "$work/act.out" "len(d['entries'])==$(q "SELECT count(*) FROM ledger WHERE kind IN ('adjust','bulk','import')") and all(e['approver']==e['staff'] and e['staff'] for e in d['entries'])"
tp act2 --json activity --type issued
check "activity: checkout awards have no approver" json "$work/act2.out" "d['entries'] and all(e['approver']=='' for e in d['entries'])"

tp head audit head
check "audit head: exit 0" [ "$rc" = 0 ]
seq=$(q "SELECT max(id) FROM audit")
hash=$(q "SELECT hash FROM audit WHERE id=$seq")
check "audit head: SEQ:HASH" has "^audit head: $seq:$hash$" "$work/head.out"
check "audit head: what to write down" has "write down at least $seq:$(echo "$hash" | cut -c1-16)" "$work/head.out"
tp jhead --json audit head
check "audit head --json" json "$work/jhead.out" "d['seq']==$seq and d['hash']=='$hash' and d['anchor']=='$seq:$hash' and d['location']=='shop-7' and d['terminal']=='till-3'"
anchor="$seq:$hash"
short="$seq:$(echo "$hash" | cut -c1-16)"
tp vh verify --head "$short"
check "verify --head: exit 0" [ "$rc" = 0 ]
check "verify --head: found" has "record $seq still has that hash" "$work/vh.out"
tp vhu verify --head "$seq:zz"
check "verify --head malformed: usage error" [ "$rc" = 2 ]
check "verify --head malformed: says the form" has "takes SEQ:HASH" "$work/vhu.err"
cp "$work/x.db" "$work/anchored.db"

cat > "$work/forge.py" <<'PY'
# Rewrites history as someone with the file would: with the triggers
# dropped (and put back from their own text), changes the database with
# SQL, then recomputes every audit record's ledger part and hash from
# record FROM on, per the encoding published in plugin/audit.c.
import hashlib, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1]); sql = sys.argv[2]; start = int(sys.argv[3])
triggers = sys.argv[4].split(",")
saved = [db.execute("SELECT sql FROM sqlite_master WHERE name=?", (t,)).fetchone()[0] for t in triggers]
for t in triggers: db.execute("DROP TRIGGER " + t)
db.executescript(sql)
def s(b): b = b.encode() if isinstance(b, str) else b; return struct.pack(">I", len(b)) + b
def i(v): return struct.pack(">q", v)
def digest(first, last):
    h = hashlib.blake2b(digest_size=32); h.update(s("tillpoints.ledger.v1")); n = total = 0
    for r in db.execute("SELECT id, member_id, location, terminal, receipt, kind, points,"
                        " COALESCE(reverses, 0), staff, reason, comment, time_ms, recorded_ms"
                        " FROM ledger WHERE id BETWEEN ? AND ? ORDER BY id", (first, last)):
        h.update(i(r[0]) + i(r[1]) + s(r[2]) + s(r[3]) + s(r[4]) + s(r[5]) + i(r[6]) + i(r[7])
                 + s(r[8]) + s(r[9]) + s(r[10]) + i(r[11]) + i(r[12]))
        n += 1; total += r[6]
    return n, total, h.hexdigest()
if start > 0:
    prev = "0" * 64 if start == 1 else db.execute("SELECT hash FROM audit WHERE id=?", (start - 1,)).fetchone()[0]
    for r in db.execute("SELECT id, time_ms, action, actor, approver, member, location, receipt,"
                        " points, reason, detail, ledger_first, ledger_last FROM audit"
                        " WHERE id >= ? ORDER BY id", (start,)).fetchall():
        h = hashlib.blake2b(digest_size=32)
        h.update(s("tillpoints.audit.v1") + s(prev) + i(r[0]) + i(r[1]) + s(r[2]) + s(r[3])
                 + s(r[4]) + s(r[5]) + s(r[6]) + s(r[7]) + i(r[8]) + s(r[9]) + s(r[10]))
        if r[11] is not None:
            n, total, d = digest(r[11], r[12])
            db.execute("UPDATE audit SET ledger_count=?, ledger_sum=?, ledger_digest=? WHERE id=?",
                       (n, total, d, r[0]))
            h.update(s("ledger") + i(r[11]) + i(r[12]) + i(n) + i(total) + s(d))
        db.execute("UPDATE audit SET prev_hash=?, hash=? WHERE id=?", (prev, h.hexdigest(), r[0]))
        prev = h.hexdigest()
for t in saved: db.execute(t)
db.commit()
PY
forge() { python3 "$work/forge.py" "$work/x.db" "$@"; }

# (c) the newest records deleted, with the entries they covered.
last_entries=$(q "SELECT ledger_first||' AND '||ledger_last FROM audit WHERE id=$seq")
forge "DELETE FROM ledger WHERE id BETWEEN $last_entries; DELETE FROM audit WHERE id=$seq;" 0 "ledger_no_delete,audit_no_delete"
tp vd verify
check "deleted newest: the chain alone sees nothing" [ "$rc" = 0 ]
tp vdh verify --head "$short"
check "deleted newest, verify --head: exit 1" [ "$rc" = 1 ]
check "deleted newest, verify --head: names the records" has "^The anchor names audit record $seq, but the log here ends at record $((seq - 1)): record $seq was deleted" "$work/vdh.out"

# (d) an entry edited, its record made to agree, every hash recomputed.
cp "$work/anchored.db" "$work/x.db"
rm -f "$work/x.db-wal" "$work/x.db-shm"
first_adj=$(q "SELECT min(id) FROM audit WHERE action='adjust'")
forge "UPDATE ledger SET points = 500 WHERE kind='adjust' AND points = 5; UPDATE audit SET points = 500 WHERE id=$first_adj;" "$first_adj" "ledger_no_update,audit_no_update"
check "the forgery changed the head" [ "$(q "SELECT hash FROM audit WHERE id=$seq")" != "$hash" ]
tp ve verify
check "rehashed edit: the terminal's own checks pass" [ "$rc" = 0 ]
tp veh verify --head "$anchor"
check "rehashed edit, verify --head: exit 1" [ "$rc" = 1 ]
check "rehashed edit, verify --head: altered" has "^Audit record $seq is not the one the anchor recorded .*altered and the hashes recomputed" "$work/veh.out"
tp jveh --json verify --head "$anchor"
check "rehashed edit, --json: the anchor not found" json "$work/jveh.out" "not d['ok'] and d['audit']['anchor']['found'] is False and d['problem_count']==1"

# (e) the same edit without recomputing: the record's digest names it.
cp "$work/anchored.db" "$work/x.db"
rm -f "$work/x.db-wal" "$work/x.db-shm"
forge "UPDATE ledger SET points = 500 WHERE kind='adjust' AND points = 5;" 0 "ledger_no_update"
tp vl verify
check "edited entry: exit 1" [ "$rc" = 1 ]
check "edited entry: its record" has "^Audit record $first_adj (adjust by mgr-1) covers ledger entries .*it recorded 1 entry of 5 points, the ledger now holds 1 entry of 500 points there." "$work/vl.out"

# (f) a trigger's body replaced, its name kept.
cp "$work/anchored.db" "$work/x.db"
rm -f "$work/x.db-wal" "$work/x.db-shm"
q "DROP TRIGGER audit_no_delete; CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT 1; END;"
tp vt verify --head "$anchor"
check "replaced trigger: exit 1" [ "$rc" = 1 ]
check "replaced trigger: named" has "trigger audit_no_delete was changed" "$work/vt.out"
cp "$work/anchored.db" "$work/x.db"
rm -f "$work/x.db-wal" "$work/x.db-shm"

# scanners: without a running shim (--shim SOCKET, tested in e2e_shim.py)
# the configured scanners are listed from the configuration, with where
# the live state is; the plugin is not even loaded (a plugin path that
# does not exist is never looked at), so no scanner device is opened.
printf '[store]\ndatabase = sc.db\n[scanner "front"]\ndriver = serial\nport = /dev/serial/by-id/no-such-scanner ; at the front till\n' > "$work/sc.conf"
if "$CLI" --plugin "$work/no-such-plugin.so" --config "$work/sc.conf" scanners > "$work/sc.out" 2>&1; then rc=0; else rc=$?; fi
check "scanners: exit 0" [ "$rc" = 0 ]
check "scanners: front listed as configured" has "^front .*serial .*/dev/serial/by-id/no-such-scanner\$" "$work/sc.out"
check "scanners: says the live state is the owner's" has "known only to the program that owns it.*--shim SOCKET" "$work/sc.out"
check "scanners: claims no state it does not know" hasnt "offline" "$work/sc.out"
tp noscan scanners
check "scanners: none configured" has "No scanners are configured" "$work/noscan.out"

# 13. Points that expire: [expiry] months = 1 on a database of its own.
# M-EX1 is credited 40 now, so they expire a month from now; --as-of two
# months ahead finds them due. A dry run writes nothing, the run writes one
# entry with its audit record, and a second run the same day nothing more.
mkdir "$work/exp"
printf '[store]\nlocation = shop-9\ndatabase = e.db\n[expiry]\nmonths = 1\n' > "$work/exp/tp.conf"
qe() { sqlite3 "$work/exp/e.db" "$1"; }
tpe() { # the same on the expiry database
    n=$1; shift
    if "$CLI" --plugin "$B/tillpoints.so" --config "$work/exp/tp.conf" "$@" \
        > "$work/$n.out" 2> "$work/$n.err"; then rc=0; else rc=$?; fi
}
later=$(date -u -d '+2 months' +%Y-%m-%d)
tpe ex0 member add M-EX1 --name "Eli Ex"
tpe ex1 adjust M-EX1 +40 --reason "welcome" --staff mgr-1
tpe ex2 member show M-EX1
check "member show: next expiry line" has "^          next expiry: 40 points on $(date -u -d '+1 month' +%Y-%m-)[0-9][0-9] [0-9][0-9]:[0-9][0-9] UTC\$" "$work/ex2.out"
tpe ex3 --json member show M-EX1
check "member show --json: expiring points" json "$work/ex3.out" "d['member']['expiring_points'] == 40 and d['member']['expiring_at_ms'] > 0"
tpe ex4 expire --dry-run --as-of "$later" --staff mgr-1
check "expire --dry-run: exit 0" [ "$rc" = 0 ]
check "expire --dry-run: the figures" has "^Dry run: 40 points of 1 member would expire; nothing written.\$" "$work/ex4.out"
check "expire --dry-run: nothing written" [ "$(qe "SELECT count(*) FROM ledger WHERE kind='expire'")" = 0 ]
tpe ex5 expire --as-of "$later" --staff mgr-1
check "expire: exit 0" [ "$rc" = 0 ]
check "expire: the figures" has "^Expired 40 points of 1 member (1 entry).\$" "$work/ex5.out"
check "expire: one entry of -40" [ "$(qe "SELECT count(*)||' '||sum(points) FROM ledger WHERE kind='expire'")" = "1 -40" ]
check "expire: its audit record" [ "$(qe "SELECT actor||' '||approver||' '||ledger_count FROM audit WHERE action='expire'")" = "mgr-1 mgr-1 1" ]
tpe ex6 expire --as-of "$later" --staff mgr-1
check "expire again the same day: nothing" has "^No points are due to expire; nothing written.\$" "$work/ex6.out"
tpe ex7 balance M-EX1
check "balance after expiry: 0, no next expiry" has "^M-EX1 (Eli Ex): 0 points\$" "$work/ex7.out"
check "balance after expiry: no expiry line" hasnt "next expiry" "$work/ex7.out"
tpe ex8 activity --type expire
check "activity --type expire lists it" has "expire" "$work/ex8.out"
tp ex9 expire --staff mgr-1
check "expire with expiry off: exit 1" [ "$rc" = 1 ]
check "expire with expiry off: says so" has "Points do not expire at this store (\[expiry\] months = 0)." "$work/ex9.err"
tpe ex10 expire --as-of 2027-02-30 --staff mgr-1
check "expire --as-of an impossible date: exit 2" [ "$rc" = 2 ]
tpe exv verify
check "expiry: verify clean" [ "$rc" = 0 ]

# 14. Points spent at the till, on a database of its own: P-2001 earns 720
# (10 points per 1.00), then spends 500 on a coffee (2.50) and 200 points
# on 2.00 of the rest; 2.20 paid earns 22: 720 - 700 + 22 = 42. A manager
# gives the 700 back with a PIN (read from stdin, never the command line).
mkdir "$work/spend"
cat > "$work/spend/tp.conf" <<'CONF'
[store]
location = shop-5
database = s.db
[program]
points_per_unit = 10
unit_minor = 100
[reward "coffee"]
cost = 500
free_sku = COFFEE
label = Free coffee
[redeem]
pay_with_points = yes
points_per_unit = 100
unit = 1.00
min_points = 100
step_points = 50
CONF
qs() { sqlite3 "$work/spend/s.db" "$1"; }
tps() { # the same on the spending database; stdin is passed on (the PIN)
    n=$1; shift
    if "$CLI" --plugin "$B/tillpoints.so" --config "$work/spend/tp.conf" "$@" \
        > "$work/$n.out" 2> "$work/$n.err"; then rc=0; else rc=$?; fi
}
tps sp0 member add P-2001 --name "Pat Points"
cat > "$work/spend.till" <<'S'
staff anna
begin SP-1
scan P-2001
item WINE 60.00
item CHEESE 12.00
pay
begin SP-2
scan P-2001
item COFFEE 2.50
item CAKE 4.20
redeem coffee
redeem points 200
pay
S
if "$TILL" --plugin "$B/tillpoints.so" --config "$work/spend/tp.conf" --script "$work/spend.till" \
    > "$work/spend.out" 2>&1; then rc=0; else rc=$?; fi
check "spending sale: exit 0" [ "$rc" = 0 ]
check "spending sale: 42 left" [ "$(qs "SELECT sum(points) FROM ledger")" = 42 ]
tps sp1 activity --type redeem
check "activity --type redeem: exit 0" [ "$rc" = 0 ]
check "activity --type redeem: the sale's entry" has "^[0-9-]* [0-9:]*  P-2001  -700    redeem  anna   shop-5    SP-2     coffee: 500 for 2.50; points: 200 for 2.00\$" "$work/sp1.out"
check "activity --type redeem: nothing else" has "^1 entry shown; no older ones.\$" "$work/sp1.out"
tps sp2 --json activity --type redeem,unredeem
check "activity --json: the kind is redeem" json "$work/sp2.out" "[r['kind'] for r in d['entries']] == ['redeem'] and d['entries'][0]['points'] == -700"
printf '583920\n' > "$work/spend/pin"
tps sp3 manager add mgr-9 --name "Max Manager" --staff owner < "$work/spend/pin"
check "manager for reversals: exit 0" [ "$rc" = 0 ]
# A wrong PIN: refused, nothing written.
printf '111111\n' > "$work/spend/wrong"
tps sp4 redeem reverse SP-2 --reason "charged twice" --staff anna --approver mgr-9 < "$work/spend/wrong"
check "reverse, wrong PIN: exit 1" [ "$rc" = 1 ]
check "reverse, wrong PIN: says so" has "^tillpoints: Wrong manager id or PIN; after 5 wrong PINs in a row a manager is locked.\$" "$work/sp4.err"
check "reverse, wrong PIN: balance unchanged" [ "$(qs "SELECT sum(points) FROM ledger")" = 42 ]
check "reverse, wrong PIN: no unredeem entry" [ "$(qs "SELECT count(*) FROM ledger WHERE kind='unredeem'")" = 0 ]
# No PIN at all, and no way to give one on the command line.
tps sp5 redeem reverse SP-2 --reason "charged twice" --staff anna --approver mgr-9 < /dev/null
check "reverse, no PIN: exit 1, says so" sh -c '[ "$1" = 1 ] && grep -q "^tillpoints: No PIN was given (the input ended).$" "$2"' sh "$rc" "$work/sp5.err"
tps sp6 redeem reverse SP-2 --reason "charged twice" --staff anna --approver mgr-9 --pin 583920
check "reverse, --pin is no option: exit 2" [ "$rc" = 2 ]
tps sp7 redeem reverse SP-2 --reason "charged twice" --staff anna
check "reverse without --approver: exit 2, says so" sh -c '[ "$1" = 2 ] && grep -q "reverse needs --approver" "$2"' sh "$rc" "$work/sp7.err"
# The right PIN: every spent point back, with its audit record.
tps sp8 redeem reverse SP-2 --reason "charged twice" --staff anna --approver mgr-9 < "$work/spend/pin"
check "reverse: exit 0" [ "$rc" = 0 ]
check "reverse: the entry and the balance" has "^Entry [0-9]*: +700 points given back to P-2001 (Pat Points) for receipt SP-2; balance 742 points.\$" "$work/sp8.out"
check "reverse: 742 in the db" [ "$(qs "SELECT sum(points) FROM ledger")" = 742 ]
check "reverse: one unredeem entry of 700" [ "$(qs "SELECT group_concat(points) FROM ledger WHERE kind='unredeem'")" = 700 ]
check "reverse: the audit record names staff and approver" [ "$(qs "SELECT actor||'/'||approver FROM audit WHERE action='redeem.reverse'")" = "anna/mgr-9" ]
tps sp9 redeem reverse SP-2 --reason "again" --staff anna --approver mgr-9 < "$work/spend/pin"
check "reverse again: exit 1" [ "$rc" = 1 ]
check "reverse again: all back already" has "^tillpoints: Every one of the 700 points receipt SP-2 spent is back already.\$" "$work/sp9.err"
check "reverse again: balance unchanged" [ "$(qs "SELECT sum(points) FROM ledger")" = 742 ]
tps sp10 redeem reverse SP-1 --reason "wrong one" --staff anna --approver mgr-9 < "$work/spend/pin"
check "reverse of a receipt that spent nothing: exit 1, says so" sh -c '[ "$1" = 1 ] && grep -q "^tillpoints: Receipt SP-1 of shop-5 spent no points here.$" "$2"' sh "$rc" "$work/sp10.err"
tps sp11 activity --type unredeem
check "activity --type unredeem: the reversal, by anna for mgr-9" has "P-2001  +700    unredeem  anna (mgr-9)  shop-5" "$work/sp11.out"
tps sp12 overdrafts
check "overdrafts: none standalone" sh -c '[ "$1" = 0 ] && [ "$(cat "$2")" = "No overdrafts reported." ]' sh "$rc" "$work/sp12.out"
tps sp13 --json overdrafts
check "overdrafts --json: an empty list" json "$work/sp13.out" "d['ok'] and d['overdrafts'] == []"
tps sp14 verify
check "verify knows redeem and unredeem" [ "$rc" = 0 ]

# 12. An import is written in chunks: killed once its first chunks are in
# (as the database shows), the same file again finishes it, each row once.
# On a database of its own.
mkdir "$work/big"
printf '[store]\nlocation = shop-8\ndatabase = b.db\n' > "$work/big/tp.conf"
qb() { sqlite3 "$work/big/b.db" "$1"; }
tpb() { # tp on the big database
    n=$1; shift
    if "$CLI" --plugin "$B/tillpoints.so" --config "$work/big/tp.conf" "$@" \
        > "$work/$n.out" 2> "$work/$n.err"; then rc=0; else rc=$?; fi
}
python3 -c "
print('code,name,points')
for i in range(60000): print('K-%05d,Member %d,%d' % (i, i, i % 50 + 1))
" > "$work/big.csv"
tpb bigv0 verify # creates the database
"$CLI" --plugin "$B/tillpoints.so" --config "$work/big/tp.conf" import "$work/big.csv" \
    --staff mgr-big > "$work/big1.out" 2>&1 &
pid=$!
i=0; n=0
while [ "$i" -lt 2400 ]; do # hang guard: 2 minutes
    n=$(qb "SELECT count(*) FROM ledger")
    [ "$n" -gt 0 ] && break
    sleep 0.05; i=$((i + 1))
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
done_before=$(qb "SELECT count(*) FROM ledger")
check "killed import: some chunks were in" [ "$n" -gt 0 ]
check "killed import: stopped before the end" [ "$done_before" -lt 60000 ]
tpb bigv1 verify
check "killed import: verify clean" [ "$rc" = 0 ]
tpb big2 import "$work/big.csv" --staff mgr-big
check "finished import: exit 0" [ "$rc" = 0 ]
check "finished import: says what was in already" has "^$done_before rows of this file were imported by an earlier run" "$work/big2.out"
check "finished import: the rest applied" has "^import: 60000 rows, 0 invalid, $((60000 - done_before)) members created, $((60000 - done_before)) entries" "$work/big2.out"
check "finished import: each row once" [ "$(qb "SELECT count(DISTINCT receipt)||' '||count(*) FROM ledger")" = "60000 60000" ]
check "finished import: balances" [ "$(qb "SELECT sum(points) FROM ledger l JOIN members m ON m.id = l.member_id WHERE m.code = 'K-00049'")" = 50 ]
check "finished import: chunk records cover every entry" [ "$(qb "SELECT sum(ledger_count) FROM audit WHERE action='import'")" = 60000 ]
tpb bigv2 verify
check "finished import: verify clean" [ "$rc" = 0 ]

echo "e2e_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
