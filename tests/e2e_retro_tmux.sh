#!/bin/sh
# End-to-end, the way a manager uses it: the reference till runs
# interactively on a real terminal (a tmux pane), keys are typed into it
# with send-keys and the screen is read back with capture-pane. A sale
# without a member, then the retroactive-visit form (docs/DESIGN.md §6): as a
# manager (find the customer by phone, pick the receipt from the list,
# give a reason, type the PIN: the login only prefills the approver), then
# as a cashier who needs a manager's PIN (a wrong PIN shows the error on
# the form, the right one credits), then as someone who logs in as a
# manager with an id nobody enrolled (refused, nothing written). A receipt
# already credited, or dated beyond the allowed clock skew, is refused
# before the customer is asked for and is not offered in the list. Every
# credit is checked on screen and again in the SQLite file with sqlite3.
#
# Waits are bounded polls of the screen (TP_E2E_WAIT seconds, default 120:
# each ends as soon as the text is there, so the bound only stops a stuck
# run); the tmux server is private (its own socket in the scratch
# directory, so another run of the suite never meets it) and is killed on
# every exit path.
set -eu
B="${BUILD:-build}"
case $B in /*) ;; *) B="$(pwd)/$B" ;; esac
TILL="$B/tillpoints-till"
CLI="$B/tillpoints"
work=$(mktemp -d /tmp/tillpoints-e2e-retro-XXXXXX)
sock="$work/tmux.sock"
S=till
WAIT=${TP_E2E_WAIT:-120}
T() { tmux -S "$sock" -f /dev/null "$@"; }
cleanup() {
    T kill-server 2>/dev/null || true
    [ -n "${E2E_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
passed=0
failed=0
check() { # name, condition...
    name=$1; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
q() { sqlite3 "$work/r.db" "$1"; }
summary() {
    echo "e2e_retro_tmux: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

MGR_PIN=975310
WRONG_PIN=864209
FAKE_PIN=123456

cat > "$work/tp.conf" <<CONF
[store]
location = shop-7
terminal = till-3
database = r.db
[program]
points_per_unit = 2
unit_minor = 100
CONF

# The manager who approves a cashier's credit, with a PIN from stdin.
printf '%s\n' "$MGR_PIN" | "$CLI" --plugin "$B/tillpoints.so" --config "$work/tp.conf" \
    manager add mgr-1 --name "Mia Manager" --staff owner > "$work/mgr.out" 2>&1 ||
    { cat "$work/mgr.out"; echo "FAIL: manager add"; failed=1; summary; }

# ---------------------------------------------------------------- helpers
W=$S # the window typed into and read
screen() { T capture-pane -p -J -S -2000 -t "$W" 2>/dev/null || true; }
count() { screen | grep -cF -- "$1" || true; }
# wait_more TEXT BEFORE [SECONDS]: until TEXT is on screen more than BEFORE times.
wait_more() {
    i=0
    lim=$(( ${3:-$WAIT} * 10 ))
    while [ "$i" -lt "$lim" ]; do
        [ "$(count "$1")" -gt "$2" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "timed out waiting for: $1"
    screen | tail -25 | sed 's/^/    | /'
    return 1
}
type_line() { # LINE (may be empty: just Enter)
    [ -z "$1" ] || T send-keys -t "$W" -l -- "$1"
    T send-keys -t "$W" Enter
}
# step NAME LINE EXPECT: types LINE, then waits for a new EXPECT on screen.
# A step that times out ends the run (the rest would only cascade).
step() {
    n0=$(count "$3")
    type_line "$2"
    if wait_more "$3" "$n0"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1"
        summary
        exit 1
    fi
}
# The list number of receipt $1 in the last list on screen.
entry_of() {
    screen | sed -n "s/^ *[*]\{0,1\} *\([0-9][0-9]*\)) $1 - .*/\1/p" | tail -1
}

# ------------------------------------------------------------- the till
T new-session -d -s "$S" -x 220 -y 50 \
    "cd '$work' && '$TILL' --plugin '$B/tillpoints.so' --config '$work/tp.conf'; echo \$? > '$work/till.rc'; sleep 600"
T set-option -t "$S" history-limit 5000 >/dev/null
wait_more "Type help for commands." 0 || { failed=$((failed + 1)); summary; exit 1; }

# 1. A sale without a member; the till prints the receipt's claim code.
step "item rung up" "item COFFEE 12.50" "COFFEE"
step "paid without a member" "pay R-200" "Receipt R-200 recorded; no member was scanned."
check "receipt code for a later claim shown" \
    [ "$(count "Receipt code for a later claim: TPR1|shop-7|R-200|")" -ge 1 ]
step "member added" "member add M-0007 Alice Example --phone +4915100000007" "Member M-0007 added"

# 2. A manager credits the missed visit.
step "manager logged in" "login mgr-1 manager" "Manager mgr-1 logged in. Approvals still take an enrolled manager's PIN."
step "retro opens the form" "retro" "> Customer (phone, email, member code or name): "
step "customer found by phone" "0151 00000007" "> Receipt number, or scan the receipt's code: "
check "the customer is shown masked" [ "$(count "Customer: Alice Example (M-0007) - +49*******0007")" -ge 1 ]
step "receipt typed empty, list next" "" "> Or pick one of this store's recent receipts"
n=$(entry_of R-200)
check "R-200 is in the list of recent receipts" [ -n "$n" ]
step "receipt picked by its number" "${n:-1}" "> Amount on the receipt"
step "approval form" "" "> Reason (kept in the activity log): "
check "the form shows 25 points from the journal" [ "$(count "Points it will earn: 25")" -ge 1 ]
check "the form's submit label" [ "$(count "then: Credit 25 points")" -ge 1 ]
step "the login prefills the approver" "forgot to scan" "> Approving manager's id [mgr-1]: "
step "the PIN is still asked" "" "> Manager PIN: "
step "credited" "$MGR_PIN" "[done] Credited 25 points to Alice Example (M-0007)"
check "ledger: retro credit of 25 for R-200" \
    [ "$(q "SELECT l.points||'|'||l.staff||'|'||l.reason FROM ledger l JOIN members m ON m.id=l.member_id WHERE m.code='M-0007' AND l.kind='retro' AND l.receipt='R-200'")" = "25|mgr-1|forgot to scan" ]
check "audit: approved by mgr-1 with the reason" \
    [ "$(q "SELECT approver||'|'||points||'|'||reason FROM audit WHERE action='retro.credit' AND receipt='R-200'")" = "mgr-1|25|forgot to scan" ]
step "balance 25" "member show M-0007" "M-0007  Alice Example  balance 25 points"

# 3. A cashier: the approval needs a manager's id and PIN.
step "second sale" "item TEA 4.00" "TEA"
step "paid without a member" "pay R-201" "Receipt R-201 recorded; no member was scanned."
step "cashier logged in" "login cash-1 cashier" "Cashier cash-1 logged in."
step "retro with the receipt number" "retro R-201" "Receipt R-201 will be credited; find the customer."
step "customer by member code" "M-0007" "> Reason (kept in the activity log): "
check "the form shows 8 points" [ "$(count "Points it will earn: 8")" -ge 1 ]
step "reason" "customer forgot the app" "> Approving manager's id: "
step "approver" "mgr-1" "> Manager PIN: "
step "a wrong PIN shows the error on the form" "$WRONG_PIN" "! Wrong manager id or PIN"
check "nothing credited after the wrong PIN" \
    [ "$(q "SELECT count(*) FROM ledger WHERE receipt='R-201'")" = 0 ]
check "the failure is counted" \
    [ "$(q "SELECT count(*) FROM audit WHERE action='pin.failure' AND approver='mgr-1'")" = 1 ]
step "reason kept (Enter)" "" "> Approving manager's id [mgr-1]: "
step "approver kept (Enter)" "" "> Manager PIN: "
step "the right PIN credits" "$MGR_PIN" "[done] Credited 8 points to Alice Example (M-0007)"
check "PINs never appear on screen" [ "$(count "$MGR_PIN")" = 0 ] && [ "$(count "$WRONG_PIN")" = 0 ]
check "ledger: retro credit of 8 by the cashier" \
    [ "$(q "SELECT l.points||'|'||l.staff||'|'||l.reason FROM ledger l WHERE l.kind='retro' AND l.receipt='R-201'")" = "8|cash-1|customer forgot the app" ]
check "audit: approved by mgr-1" \
    [ "$(q "SELECT actor||'|'||approver FROM audit WHERE action='retro.credit' AND receipt='R-201'")" = "cash-1|mgr-1" ]
step "balance 33" "member show M-0007" "M-0007  Alice Example  balance 33 points"

# 4. Logging in as a manager is not enough: an id nobody enrolled is
#    refused like a wrong PIN, and nothing is written.
step "third sale" "item WATER 2.00" "WATER"
step "paid without a member" "pay R-202" "Receipt R-202 recorded; no member was scanned."
step "made-up manager logged in" "login boss manager" "Manager boss logged in. Approvals still take"
step "retro R-202" "retro R-202" "Receipt R-202 will be credited; find the customer."
step "customer" "M-0007" "> Reason (kept in the activity log): "
step "reason" "trust me" "> Approving manager's id [boss]: "
step "approver kept" "" "> Manager PIN: "
step "the made-up manager is refused" "$FAKE_PIN" "! Wrong manager id or PIN"
step "cancelled" ":cancel" "[not done] Cancelled; nothing was changed."
check "nothing credited for R-202" [ "$(q "SELECT count(*) FROM ledger WHERE receipt='R-202'")" = 0 ]
check "the attempt is audited" \
    [ "$(q "SELECT count(*) FROM audit WHERE action='pin.failure' AND approver='boss' AND detail='no such manager'")" = 1 ]

# 5. A credited receipt, or one dated beyond the clock skew (5 minutes by
#    default), is refused before the customer step and not offered.
step "manager logged in again" "login mgr-1 manager" "Manager mgr-1 logged in. Approvals still take an enrolled manager's PIN."
step "a credited receipt is refused at once" "retro R-200" "[not done] Receipt R-200 already earned points"
step "fourth sale" "item JUICE 3.00" "JUICE"
step "paid without a member" "pay R-203" "Receipt R-203 recorded; no member was scanned."
# The journal row as a till whose clock ran 10 minutes fast writes it.
q "DROP TRIGGER receipts_no_update; UPDATE receipts SET time_ms = time_ms + 600000 WHERE receipt='R-203'"
step "a future receipt is refused at once" "retro R-203" "[not done] Receipt R-203 is dated"
step "retro opens the form" "retro" "> Customer (phone, email, member code or name): "
step "customer" "M-0007" "> Receipt number, or scan the receipt's code: "
step "receipt typed empty, list next" "" "> Or pick one of this store's recent receipts"
check "R-202 is offered" [ -n "$(entry_of R-202)" ]
check "R-203 (in the future) is not offered" [ -z "$(entry_of R-203)" ]
step "cancelled" ":cancel" "[not done] Cancelled; nothing was changed."

# 6. :cancel leaves nothing behind; the till exits cleanly.
step "cancel a form" "retro" "> Customer (phone, email, member code or name): "
step "cancelled" ":cancel" "[not done] Cancelled; nothing was changed."
type_line "quit"
i=0
while [ ! -s "$work/till.rc" ] && [ "$i" -lt $((WAIT * 10)) ]; do sleep 0.1; i=$((i + 1)); done
check "till exited 0" [ "$(cat "$work/till.rc" 2>/dev/null)" = 0 ]
check "two retro credits, nothing else" [ "$(q "SELECT count(*) FROM ledger WHERE kind='retro'")" = 2 ]
check "manager's failures were cleared by the right PIN" \
    [ "$(q "SELECT failures FROM managers WHERE id='mgr-1'")" = 0 ]
check "integrity" [ "$(q "PRAGMA integrity_check")" = ok ]

# 7. The CLI on a terminal asks a new manager's PIN twice, echo off; a PIN
#    shorter than the policy (6 digits) is refused.
cli_window() { # NAME: runs `tillpoints manager add mgr-2` in a new window
    T new-window -t "$S" -n "$1" \
        "'$CLI' --plugin '$B/tillpoints.so' --config '$work/tp.conf' manager add mgr-2 \
         --name 'Max Manager' --staff owner; echo \$? > '$work/$1.rc'; sleep 600"
    W="$S:$1"
    wait_more "New PIN for mgr-2: " 0 || { failed=$((failed + 1)); summary; exit 1; }
}
wait_rc() { i=0; while [ ! -s "$work/$1.rc" ] && [ "$i" -lt $((WAIT * 10)) ]; do sleep 0.1; i=$((i + 1)); done; cat "$work/$1.rc" 2>/dev/null; }
cli_window cli0
step "CLI asks the PIN again" "24680" "The same PIN again: "
step "a 5-digit PIN is refused" "24680" "A manager PIN is 6 to 12 digits (0-9), nothing else."
check "short PIN: exit non-zero" [ "$(wait_rc cli0)" != 0 ]
cli_window cli1
step "CLI asks the PIN again" "246801" "The same PIN again: "
step "different PINs are refused" "246809" "The two PINs differ; nothing was changed."
check "mismatch: exit 1" [ "$(wait_rc cli1)" = 1 ]
cli_window cli2
step "CLI asks the PIN again" "246801" "The same PIN again: "
step "the manager is added" "246801" "Manager mgr-2 (Max Manager) added."
check "added: exit 0" [ "$(wait_rc cli2)" = 0 ]
check "the new PIN never appears on screen" [ "$(count 24680)" = 0 ] && [ "$(count 246809)" = 0 ]
check "two managers" [ "$(q "SELECT count(*) FROM managers")" = 2 ]
check "the PIN is stored as an Argon2id hash" \
    [ "$(q "SELECT substr(pin_hash, 1, 9) FROM managers WHERE id='mgr-2'")" = "\$argon2id" ]

summary
