#!/bin/sh
# End-to-end: the reference till (a real host) dlopens the built plugin,
# runs scripted sales, and the points are checked in the SQLite file with
# the sqlite3 command-line tool — not through the plugin.
set -eu
B="${BUILD:-build}"
TILL="$B/tillpoints-till"
work=$(mktemp -d /tmp/tillpoints-e2e-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # name, condition...
    name=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
q() { sqlite3 "$work/e2e.db" "$1"; }

cat > "$work/tillpoints.conf" <<CONF
[store]
location = shop-7
terminal = till-3
database = e2e.db
[program]
points_per_unit = 2
unit_minor = 100
rounding = floor
exclude_categories = tobacco
CONF
run_till() { "$TILL" --plugin "$B/tillpoints.so" --config "$work/tillpoints.conf" --script "$1"; }

# 1. Sales: 2 points per 1.00, floor; tax and tobacco do not earn.
cat > "$work/a.till" <<'S'
member add C-101 Carla Client
member add C-102 Dan Doe
begin A-1
scan C-101
item MILK 1.49
item BREAD 3.20
item VAT 0.33 tax
item CIGS 8.00 tobacco
pay
begin A-2
scan C-102
item WINE 12.99
discount 1.00
pay
begin A-3
item GUM 0.99
pay
S
run_till "$work/a.till" > "$work/a.out" || { cat "$work/a.out"; echo "FAIL: script a was refused"; exit 1; }
# A-1: eligible 4.69 -> 9.38 -> 9 points; A-2: 11.99 -> 23.98 -> 23 points.
check "C-101 earned 9" [ "$(q "SELECT sum(points) FROM ledger l JOIN members m ON m.id=l.member_id WHERE m.code='C-101'")" = 9 ]
check "C-102 earned 23" [ "$(q "SELECT sum(points) FROM ledger l JOIN members m ON m.id=l.member_id WHERE m.code='C-102'")" = 23 ]
check "all three receipts journaled" [ "$(q "SELECT count(*) FROM receipts")" = 3 ]
check "receipt carries location and terminal" [ "$(q "SELECT location||'/'||terminal FROM receipts WHERE receipt='A-1'")" = "shop-7/till-3" ]
check "total includes tax and tobacco" [ "$(q "SELECT total_minor FROM receipts WHERE receipt='A-1'")" = 1302 ]
check "till showed the award" grep -q "Receipt A-1: +9 points for Carla Client; balance 9." "$work/a.out"
check "database is private" [ "$(stat -c %a "$work/e2e.db")" = 600 ]
check "WAL mode" [ "$(q "PRAGMA journal_mode")" = wal ]

# 2. A restart, a replay of A-1 and an unknown member: nothing doubled.
cat > "$work/b.till" <<'S'
begin again
scan C-101
item MILK 1.49
item BREAD 3.20
item VAT 0.33 tax
item CIGS 8.00 tobacco
pay A-1
begin B-1
scan STRANGER-9
item TEA 5.00
pay
refund A-2 6.00 RF-1
member show C-102
S
run_till "$work/b.till" > "$work/b.out" || { cat "$work/b.out"; echo "FAIL: script b was refused"; exit 1; }
check "replay did not double" [ "$(q "SELECT count(*) FROM ledger WHERE receipt='A-1'")" = 1 ]
check "till said already recorded" grep -q "already recorded" "$work/b.out"
check "unknown member journaled without points" [ "$(q "SELECT count(*) FROM receipts WHERE receipt='B-1' AND member_id IS NULL")" = 1 ]
check "till said unknown member" grep -q "No member has the code STRANGER-9" "$work/b.out"
# Refund 6.00 of 11.99: 5.99 left -> 11 kept -> 12 reversed.
check "partial refund reversed 12" [ "$(q "SELECT points FROM ledger WHERE kind='reversal'")" = -12 ]
check "C-102 balance after refund" grep -q "C-102  Dan Doe  balance 11 points" "$work/b.out"
check "integrity" [ "$(q "PRAGMA integrity_check")" = ok ]

# 3. Bad input at the till: clear sentences, exit status 1, nothing written.
before=$(q "SELECT count(*) FROM receipts")
cat > "$work/c.till" <<'S'
begin C-101
scan not/a/code
item X -1.00
item Y 1.234
pay
refund NO-SUCH 1.00 RF-9
S
if run_till "$work/c.till" > "$work/c.out"; then status=0; else status=$?; fi
check "bad input makes the script fail" [ "$status" = 1 ]
check "bad code explained" grep -q "The code contains '/', which loyalty codes never have" "$work/c.out"
check "bad price explained" grep -q "The price must look like 4.50" "$work/c.out"
check "unknown refund receipt explained" grep -q "Receipt NO-SUCH is not in this till's journal" "$work/c.out"
# The till could not add items, so pay had nothing; C-101 was left open and
# cancelled at exit: no new receipt.
check "no receipt from bad input" [ "$(q "SELECT count(*) FROM receipts")" = "$before" ]

# 4. A config error stops the till with the file and line.
printf '[program]\nrounding = up\n' > "$work/bad.conf"
if "$TILL" --plugin "$B/tillpoints.so" --config "$work/bad.conf" --script /dev/null 2> "$work/bad.err"; then
    status=0; else status=$?; fi
check "bad config exit 2" [ "$status" = 2 ]
check "bad config explained" grep -q "bad.conf line 2: \[program\] rounding must be floor, nearest or ceil." "$work/bad.err"

# 5. Points that expire ([expiry] months = 1; docs/DESIGN.md §5): the
# cashier sees the next expiry when the member is identified and in
# `member show`. The sale's date is now, so they expire a month from now.
printf '[store]\ndatabase = exp.db\n[expiry]\nmonths = 1\n' > "$work/exp.conf"
cat > "$work/e.till" <<'S'
member add E-201 Erin Expiry
begin
scan E-201
item COFFEE 42.00
pay
begin
scan E-201
cancel
member show E-201
S
"$TILL" --plugin "$B/tillpoints.so" --config "$work/exp.conf" --script "$work/e.till" > "$work/e.out" 2>&1 ||
    { cat "$work/e.out"; echo "FAIL: the expiry script was refused"; exit 1; }
check "identified: 42 points expire on a date" grep -Eq "^  \(42 points expire on [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC\)$" "$work/e.out"
check "member show: the same line" [ "$(grep -c "points expire on" "$work/e.out")" -ge 2 ]
check "without [expiry] nothing is said of expiry" sh -c '! grep -q "expire" "$1"' sh "$work/a.out"

# 6. Spending points at the till (docs/INTEGRATING.md, "Spending points at
# the till"): 10 points per 1.00 earned; a coffee for 500 points, and
# points pay 1.00 per 100, at least 100, in steps of 50. Earning is on
# what was paid ([redeem] earn_on = paid). Balances through the CLI.
cat > "$work/spend.conf" <<'CONF'
[store]
location = shop-7
terminal = till-3
database = spend.db
[program]
points_per_unit = 10
unit_minor = 100
[reward "coffee"]
cost = 500
free_sku = COFFEE
label = Free coffee
[reward "fiver"]
cost = 400
amount_off = 5.00
min_basket = 20.00
[redeem]
pay_with_points = yes
points_per_unit = 100
unit = 1.00
min_points = 100
step_points = 50
CONF
CLI="$B/tillpoints"
balance() { "$CLI" --plugin "$B/tillpoints.so" --config "$work/spend.conf" balance "$1"; }
cat > "$work/s.till" <<'S'
member add S-301 Sam Spender
begin P-1
scan S-301
item WINE 60.00
item CHEESE 12.00
pay
begin P-2
scan S-301
item COFFEE 2.50
item CAKE 4.20
offers
redeem coffee
total
pay
begin P-3
scan S-301
item WINE 12.99
redeem points 200
unredeem 1
redeem points
total
pay
S
"$TILL" --plugin "$B/tillpoints.so" --config "$work/spend.conf" --script "$work/s.till" > "$work/s.out" 2>&1 ||
    { cat "$work/s.out"; echo "FAIL: the spending script was refused"; exit 1; }
# P-1: 72.00 -> 720 points. P-2: the coffee (2.50) for 500; 4.20 paid -> 42
# earned: 720 - 500 + 42 = 262. P-3: 200 points taken off again; then as
# many as fit: 262 in steps of 50 -> 250 points pay 2.50; 10.49 paid ->
# 104 earned: 262 - 250 + 104 = 116.
check "identified: the rewards the balance affords" grep -q "^    redeem coffee       Free coffee, 500 points$" "$work/s.out"
check "identified: a basket minimum is said" grep -q "redeem fiver        fiver, 400 points, on a basket of 20.00 EUR or more" "$work/s.out"
check "the reward's discount line" grep -q "^  Free coffee                2.50-$" "$work/s.out"
check "the confirmation arrived" grep -q "\[points confirmed\] 500 points of Sam Spender are reserved for this sale; 220 left to spend." "$work/s.out"
check "total: left to pay after the coffee" grep -q "^  Left to pay: 4.20 EUR.$" "$work/s.out"
check "pay: points spent" grep -q "^  Points spent: 500 for 2.50 EUR off.$" "$work/s.out"
check "pay: what is left, and earning on it" grep -q "^  Paid 4.20 EUR (eligible 6.70): 42 points pending.$" "$work/s.out"
check "the award names both" grep -q "Receipt P-2: 500 points spent, +42 earned for Sam Spender; balance 262." "$work/s.out"
check "unredeem takes the line off" grep -q "^  Redemption 1 taken off: Paid with 200 points (2.00 EUR, 200 points).$" "$work/s.out"
check "redeem points: as many as fit" grep -q "^  Paid with 250 points       2.50-$" "$work/s.out"
check "pay after paying with points" grep -q "^  Paid 10.49 EUR (eligible 12.99): 104 points pending.$" "$work/s.out"
check "CLI: balance after spending" [ "$(balance S-301)" = "S-301 (Sam Spender): 116 points" ]
check "ledger: two redeem entries" [ "$(sqlite3 "$work/spend.db" "SELECT group_concat(points) FROM (SELECT points FROM ledger WHERE kind='redeem' ORDER BY id)")" = "-500,-250" ]

# More than the balance: refused at once with a sentence, nothing spent,
# and the sale can still be paid without points.
cat > "$work/r.till" <<'S'
begin R-1
scan S-301
item WINE 12.99
item COFFEE 2.50
redeem points 5000
redeem coffee
redeem nosuch
total
pay
S
if "$TILL" --plugin "$B/tillpoints.so" --config "$work/spend.conf" --script "$work/r.till" > "$work/r.out" 2>&1; then
    status=0; else status=$?; fi
check "refused redemptions make the script fail" [ "$status" = 1 ]
check "more points than the balance: refused" grep -q "Spending 5000 points needs more than the 116 S-301 has available. (wrong state)" "$work/r.out"
check "a reward above the balance: refused" grep -q "Free coffee costs 500 points; S-301 has 116 available. (wrong state)" "$work/r.out"
check "an unknown reward: the rewards are named" grep -q "No reward is called nosuch here; the rewards are: coffee, fiver. (not found)" "$work/r.out"
check "refused: nothing taken off" grep -q "^  Left to pay: 15.49 EUR.$" "$work/r.out"
# R-1 paid in full: 154 earned, nothing spent.
check "CLI: balance after the refusals" [ "$(balance S-301)" = "S-301 (Sam Spender): 270 points" ]
check "no redeem entry for R-1" [ "$(sqlite3 "$work/spend.db" "SELECT count(*) FROM ledger WHERE receipt='R-1' AND kind='redeem'")" = 0 ]

echo "e2e_till: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
