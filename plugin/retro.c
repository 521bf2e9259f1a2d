/*
 * retro.c — retroactive visits and the missed-scan queue (docs/DESIGN.md §6):
 * what the flows share (finding the customer, the journal, approval) and
 * where each submit goes. The flows' own steps are in retro_visit.c,
 * retro_claims.c and retro_correct.c.
 *
 * Each flow is a short series of forms. Every decision is re-checked in
 * the transaction that writes it, because the journal may have moved while
 * the manager was typing: the receipt is journaled, not credited live or
 * retro, not fully refunded, inside the window and not later than this
 * terminal's clock plus [retro] future_skew_minutes; the credit is within
 * the per-credit cap and the approving manager's daily cap. A receipt
 * known before the customer is asked for (a prefilled number or code, a
 * parked claim) is checked before the customer step.
 *
 * Approval never rests on what the host says about its staff. Every step
 * that moves points or closes a claim — a credit (journaled or manual), a
 * correction, a claim credited or dismissed from the queue — needs an
 * approver who is an enrolled, unlocked manager and who typed their PIN
 * on that step. The host's staff role only chooses what the form shows: a
 * host-declared manager finds their own id prefilled as the approver. The
 * one exception is opt-in: with [retro] trust_host_managers = yes, a
 * host-declared manager whose staff id is an enrolled, unlocked manager
 * approves without a PIN (re-checked in the writing transaction). Parking
 * a claim at checkout moves no points and needs no approval.
 *
 * The PIN's Argon2id run happens before the write transaction and with
 * the admin lock released (managers.h); the lockout is re-checked and the
 * outcome recorded inside the transaction. Credits, denials, PIN failures
 * and lockouts are written to the hash-chained audit log in the same
 * transaction as their effect. Amount, time and location always come from
 * the journal; an amount typed for a journaled receipt must match it.
 */
#include "retro.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "audit.h"
#include "ledger.h"
#include "managers.h"
#include "members.h"
#include "payload.h"
#include "retroflow.h"
#include "rules.h"
#include "currency.h"
#include "util.h"

/* ---- small helpers ---------------------------------------------------------- */

const char *tp_retro_answer(const tp_answers *a, const char *id)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->id[i], id) == 0)
            return a->value[i];
    return "";
}

void tp_retro_trim(char *s)
{
    size_t n = strlen(s), b = 0;
    while (s[b] == ' ' || s[b] == '\t')
        b++;
    while (n > b && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    memmove(s, s + b, n - b);
    s[n - b] = '\0';
}

/* "+4915112345678" -> "+49*******5678"; "ann@example.com" -> "a**@example.com" */
void tp_retro_mask_phone(char *out, size_t cap, const char *p)
{
    size_t n = strlen(p);
    if (n <= 7) {
        tp_buf_set(out, cap, "%s", n ? "***" : "");
        return;
    }
    char buf[40];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof buf; i++)
        buf[k++] = (i < 3 || i >= n - 4) ? p[i] : '*';
    buf[k] = '\0';
    tp_buf_set(out, cap, "%s", buf);
}

void tp_retro_mask_email(char *out, size_t cap, const char *e)
{
    const char *at = strchr(e, '@');
    if (!at || at == e) {
        tp_buf_set(out, cap, "%s", *e ? "***" : "");
        return;
    }
    tp_buf_set(out, cap, "%c***%s", e[0], at);
}

static void member_label(char *out, size_t cap, const tp_member_info *m)
{
    char phone[40], email[140];
    tp_retro_mask_phone(phone, sizeof phone, m->phone);
    tp_retro_mask_email(email, sizeof email, m->email);
    tp_buf_set(out, cap, "%s (%s)%s%s%s%s", m->name[0] ? m->name : "(no name)", m->code,
               phone[0] ? " - " : "", phone, email[0] ? " - " : "", email);
}

/* An amount a person typed, in the store currency's minor units (the
 * currency's own number of decimals, ISO 4217); *ok 0 when it is not one. */
int64_t tp_retro_parse_money_text(const tp_instance *in, const char *t, int *ok)
{
    int64_t minor = 0;
    *ok = tp_money_parse(t, tp_currency_exponent(in->cfg.currency), &minor) == 0;
    return *ok ? minor : 0;
}

void tp_retro_dismiss(tp_uform *out, int done, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    out->dismiss = 1;
    out->done = done;
}

void tp_retro_form_error(tp_uform *out, const char *field, const char *text)
{
    tp_ufield *f = field ? tp_uform_field(out, field) : NULL;
    if (f)
        tp_copy(f->error, sizeof f->error, text);
    else {
        tp_copy(out->message, sizeof out->message, text);
        out->is_error = 1;
    }
}

/* "points" or, for a visits program, "stamps" (n != 1), in every sentence
 * the cashier reads. */
const char *tp_retro_unit_word(const tp_instance *in, int64_t n)
{
    return tp_rules_unit(&in->cfg.rules, n);
}

/* ---- the journal -------------------------------------------------------------- */

int tp_retro_read_journal(tp_instance *in, const char *location, const char *receipt,
                        journal_row *j)
{
    static const char sql[] =
        "SELECT r.time_ms, r.total_minor, r.eligible_minor,"
        " (SELECT COALESCE(SUM(amount_minor), 0) FROM refunds f WHERE f.receipt_id = r.id),"
        " COALESCE((SELECT id FROM ledger l WHERE l.location = r.location"
        "  AND l.receipt = r.receipt AND l.kind IN ('earn', 'retro') LIMIT 1), 0),"
        " COALESCE((SELECT kind FROM ledger l WHERE l.location = r.location"
        "  AND l.receipt = r.receipt AND l.kind IN ('earn', 'retro') LIMIT 1), '')"
        " FROM receipts r WHERE r.location = ?1 AND r.receipt = ?2";
    memset(j, 0, sizeof *j);
    tp_copy(j->location, sizeof j->location, location);
    sqlite3_stmt *q = tp_store_cached(in->admin_store, TP_STMT_RETRO_READ_JOURNAL, sql);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, receipt, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        j->found = 1;
        j->time_ms = sqlite3_column_int64(q, 0);
        j->total = sqlite3_column_int64(q, 1);
        j->eligible = sqlite3_column_int64(q, 2);
        j->refunded = sqlite3_column_int64(q, 3);
        j->credited_entry = sqlite3_column_int64(q, 4);
        tp_copy(j->credited_kind, sizeof j->credited_kind, (const char *)sqlite3_column_text(q, 5));
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Why this journaled receipt cannot be credited now, or NULL. */
const char *tp_retro_receipt_refusal(tp_instance *in, const char *receipt, const journal_row *j,
                                   char *buf, size_t cap)
{
    int64_t now = tp_now_ms();
    char when[32];
    tp_format_utc(when, sizeof when, j->time_ms);
    if (j->credited_entry) {
        tp_buf_set(buf, cap, "Receipt %s already earned %s (%s, entry %lld); a receipt earns "
                   "once.", receipt, tp_retro_unit_word(in, 2),
                   strcmp(j->credited_kind, "earn") == 0 ? "at the till" : "retroactively",
                   (long long)j->credited_entry);
        return buf;
    }
    if (j->eligible > 0 && j->refunded >= j->eligible) {
        tp_buf_set(buf, cap, "Receipt %s was refunded in full; it earns nothing.", receipt);
        return buf;
    }
    if (j->time_ms > now + in->cfg.retro.future_skew_ms) {
        tp_buf_set(buf, cap, "Receipt %s is dated %s UTC, later than this till's clock allows "
                   "(%lld minutes ahead at most); check the clocks.", receipt, when,
                   (long long)(in->cfg.retro.future_skew_ms / 60000));
        return buf;
    }
    if (j->time_ms < now - in->cfg.retro.window_ms) {
        tp_buf_set(buf, cap, "Receipt %s is from %s UTC, older than the %lld days a missed visit "
                   "can be credited.", receipt, when,
                   (long long)(in->cfg.retro.window_ms / 86400000));
        return buf;
    }
    return NULL;
}

/* Why a receipt known before the customer step (prefilled, or a parked
 * claim's) cannot be credited, or NULL. A receipt that is not in the
 * journal can only be a manual credit, when those are allowed; its amount
 * is asked for on the receipt step. */
const char *tp_retro_known_receipt_refusal(tp_instance *in, const char *receipt, char *buf,
                                         size_t cap)
{
    journal_row j;
    if (tp_retro_read_journal(in, in->cfg.location, receipt, &j) != 0) {
        tp_buf_set(buf, cap, "The journal cannot be read right now; try again.");
        return buf;
    }
    if (!j.found) {
        if (in->cfg.retro.allow_manual)
            return NULL;
        tp_buf_set(buf, cap, "Receipt %s is not in this till's journal; only journaled receipts "
                   "can be credited here.", receipt);
        return buf;
    }
    return tp_retro_receipt_refusal(in, receipt, &j, buf, cap);
}

int64_t tp_retro_retro_points(tp_instance *in, const journal_row *j)
{
    int64_t remaining = j->eligible - j->refunded;
    return tp_rules_award(&in->cfg.rules, remaining > 0 ? remaining : 0, j->time_ms, j->location,
                          1);
}

/* ---- forms -------------------------------------------------------------------- */

void tp_retro_form_find(tp_session *s, tp_uform *out, const char *query)
{
    tp_buf_set(out->title, sizeof out->title, "%s: find the customer",
               s->flow == FLOW_CORRECT ? "Correct a credit" : "Missed visit");
    tp_uform_add(out, "customer", TP_FIELD_TEXT, "Customer (phone, email, member code or name)",
                 query, 1, 128);
    tp_copy(out->submit, sizeof out->submit, "Find");
}

/* Whether this session's approvals rest on the host's login: only with
 * [retro] trust_host_managers = yes, a host-declared manager, and a staff
 * id that is an enrolled manager who is not locked. Asked when a form is
 * built and again inside the writing transaction. */
static int host_login_approves(tp_instance *in, const tp_session *s)
{
    tp_message why;
    return in->cfg.retro.trust_host_managers && s->is_manager &&
           tp_manager_usable(in->admin_store, s->staff, tp_now_ms(), &why) == TP_OK;
}

/* The approval step's fields: a reason, and the approving manager's id
 * and PIN. The host's role only prefills the id (a manager approving
 * their own credit still types the PIN). */
void tp_retro_approval_fields(tp_instance *in, tp_session *s, tp_uform *out,
                            const tp_answers *keep)
{
    tp_uform_add(out, "reason", TP_FIELD_TEXT, "Reason (kept in the activity log)",
                 keep ? tp_retro_answer(keep, "reason") : "", 1, TP_REASON_MAX);
    if (host_login_approves(in, s)) {
        char text[TP_FIELD_VALUE_MAX + 1];
        tp_buf_set(text, sizeof text, "%s (logged in at the till)", s->staff);
        tp_uform_add(out, "approved_by", TP_FIELD_INFO, "Approved by", text, 0, 0);
        return;
    }
    const char *id = keep ? tp_retro_answer(keep, "approver") : "";
    if (!*id && s->is_manager)
        id = s->staff;
    tp_uform_add(out, "approver", TP_FIELD_TEXT, "Approving manager's id", id, 1,
                 TP_MANAGER_ID_MAX);
    tp_uform_add(out, "pin", TP_FIELD_PIN, "Manager PIN", "", 1, TP_PIN_MAX);
}

/* The approval form: everything comes from the journal. Returns the
 * points, or -1 when the receipt can no longer be credited (error set). */
int64_t tp_retro_form_approve(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep)
{
    tp_copy(out->title, sizeof out->title, "Missed visit: approve the credit");
    tp_uform_add(out, "who", TP_FIELD_INFO, "Customer", s->member_label, 0, 0);
    char text[TP_FIELD_VALUE_MAX + 1], money[32];
    int64_t points;
    if (s->manual) {
        tp_format_money(money, sizeof money, s->manual_amount, in->cfg.currency);
        tp_buf_set(text, sizeof text, "%s (not in the journal: manual credit) - %s %s",
                   s->receipt, money, in->cfg.currency);
        journal_row j = {.found = 1, .time_ms = tp_now_ms(), .eligible = s->manual_amount};
        tp_copy(j.location, sizeof j.location, in->cfg.location);
        points = tp_retro_retro_points(in, &j);
    } else {
        journal_row j;
        char when[32];
        if (tp_retro_read_journal(in, in->cfg.location, s->receipt, &j) != 0) {
            /* Nothing to show from it; the credit re-reads it anyway. */
            memset(&j, 0, sizeof j);
            tp_retro_form_error(out, NULL, "The journal cannot be read right now; try again.");
        }
        tp_format_money(money, sizeof money, j.eligible - j.refunded, in->cfg.currency);
        tp_format_utc(when, sizeof when, j.time_ms);
        tp_buf_set(text, sizeof text, "%s - %s %s eligible - %s UTC - %s", s->receipt, money,
                   in->cfg.currency, when, j.location);
        points = tp_retro_retro_points(in, &j);
    }
    tp_uform_add(out, "receipt_info", TP_FIELD_INFO, "Receipt", text, 0, 0);
    tp_buf_set(text, sizeof text, "%lld", (long long)points);
    tp_uform_add(out, "points", TP_FIELD_INFO,
                 in->cfg.rules.kind == TP_PROGRAM_VISITS ? "Stamps it will earn"
                                                         : "Points it will earn",
                 text, 0, 0);
    tp_retro_approval_fields(in, s, out, keep);
    tp_buf_set(out->submit, sizeof out->submit, "Credit %lld %s", (long long)points,
               tp_retro_unit_word(in, points));
    return points;
}

/* ---- steps -------------------------------------------------------------------- */

/* Resolves the customer answer: 1 chosen, 0 re-presented with matches or an
 * error. */
int tp_retro_choose_member(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char query[TP_FIELD_VALUE_MAX + 1];
    tp_copy(query, sizeof query, tp_retro_answer(a, "customer"));
    tp_retro_trim(query);
    const char *picked = tp_retro_answer(a, "member");
    tp_member_info found[TP_FORM_CHOICES_MAX];
    size_t n = 0;
    tp_message why;
    tp_msg_clear(&why);
    if (*picked) {
        tp_member_row row;
        if (tp_store_find_member(in->admin_store, picked, &row, &why) == TP_OK) {
            tp_member_info_from_row(&found[0], &row);
            n = 1;
        }
    } else if (query[0]) {
        if (tp_members_find(in->admin_store, &in->cfg, NULL, query, found, TP_FORM_CHOICES_MAX,
                            sizeof found[0], &n, &why) != TP_OK)
            n = 0;
    }
    if (n == 1) {
        /* Never a member id from a failed lookup. */
        tp_member_row row;
        if (tp_store_find_member(in->admin_store, found[0].code, &row, &why) != TP_OK) {
            tp_retro_form_find(s, out, query);
            tp_retro_form_error(out, "customer", why.text);
            return 0;
        }
        s->member_id = row.id;
        tp_copy(s->member_code, sizeof s->member_code, found[0].code);
        member_label(s->member_label, sizeof s->member_label, &found[0]);
        return 1;
    }
    tp_retro_form_find(s, out, query);
    if (n == 0) {
        char text[TP_MESSAGE_MAX];
        tp_buf_set(text, sizeof text, query[0] ? "No member matches \"%.60s\"; try the phone "
                                                 "number, email or member code."
                                               : "Type the customer's phone, email, member "
                                                 "code or name.%.0s",
                   query);
        tp_retro_form_error(out, "customer", text);
        return 0;
    }
    tp_ufield *list = tp_uform_add(out, "member", TP_FIELD_RESULTS,
                                   "Several members match; pick one", "", 1, 0);
    for (size_t i = 0; i < n; i++) {
        char label[200];
        member_label(label, sizeof label, &found[i]);
        tp_ufield_choice(list, found[i].code, label);
    }
    return 0;
}

static tp_manager_policy pin_policy(const tp_instance *in)
{
    tp_manager_policy p = {.max_failures = in->cfg.retro.pin_max_failures,
                           .lockout_ms = in->cfg.retro.pin_lockout_ms,
                           .min_digits = in->cfg.retro.pin_min_digits};
    return p;
}

/* Phase 1, before any transaction: the approver's id and PIN from the
 * answers, and the PIN's Argon2id run. The run takes 0.1 to 0.5 s, so the
 * admin lock is released for it (the admin connection is idle: no
 * transaction, no statement in progress), and the till's writer is never
 * waiting on it. 0 ready for phase 2; -1 with the form showing why. */
static int approval_check(tp_instance *in, tp_session *s, const tp_answers *a, approval *ap,
                          tp_uform *out)
{
    memset(ap, 0, sizeof *ap);
    if (host_login_approves(in, s)) {
        ap->by_host_login = 1;
        tp_copy(ap->approver, sizeof ap->approver, s->staff);
        return 0;
    }
    char id[TP_FIELD_VALUE_MAX + 1];
    tp_copy(id, sizeof id, tp_retro_answer(a, "approver"));
    tp_retro_trim(id);
    const char *pin = tp_retro_answer(a, "pin");
    if (!id[0] || !*pin) {
        tp_retro_form_error(out, id[0] ? "pin" : "approver",
                            "A manager must approve: their id and PIN.");
        return -1;
    }
    tp_manager_policy pol = pin_policy(in);
    tp_message why;
    tp_status st = tp_manager_pin_lookup(in->admin_store, &pol, id, pin, tp_now_ms(),
                                         &ap->attempt, &why);
    if (st != TP_OK) {
        tp_retro_form_error(out, st == TP_ERR_INVALID_ARGUMENT ? "pin" : NULL, why.text);
        return -1;
    }
    tp_copy(ap->approver, sizeof ap->approver, id);
    pthread_mutex_unlock(&in->admin_lock);
    tp_manager_pin_hash(&ap->attempt, pin);
    pthread_mutex_lock(&in->admin_lock);
    return 0;
}

/* Ends the open write transaction after a refusal whose audit records were
 * appended with status `st`: committed when they were written; rolled back
 * when they were not, or the commit failed — a refusal's effects (a wrong
 * PIN counted, a lockout) are never kept without their record — and then
 * the form says so. */
static void end_refusal(tp_instance *in, tp_status st, tp_message *err, tp_uform *out,
                        const char *field, const char *why)
{
    if (st == TP_OK && tp_store_commit(in->admin_store, err) == TP_OK) {
        tp_retro_form_error(out, field, why);
        return;
    }
    tp_store_rollback(in->admin_store);
    char text[TP_MESSAGE_MAX];
    tp_buf_set(text, sizeof text, "%s It could not be recorded in the audit log (%s); nothing "
               "was changed. Try again, and if this repeats, check the disk.", why, err->text);
    tp_retro_form_error(out, field, text);
}

/* Phase 2, inside the write transaction: the PIN's outcome is recorded
 * against the manager's state as it is now (a failure and a lockout with
 * their audit records), or, for a host login, the manager is checked once
 * more. TP_OK: ap->approver approves, the transaction still open.
 * Otherwise the transaction is ended (end_refusal: committed with its
 * audit records, or rolled back when they could not be written) and the
 * form shows why. */
static tp_status approval_record(tp_instance *in, tp_session *s, approval *ap, tp_uform *out)
{
    tp_message why;
    tp_status st;
    int locked_now = 0;
    if (ap->by_host_login) {
        st = tp_manager_usable(in->admin_store, ap->approver, tp_now_ms(), &why);
    } else {
        tp_manager_policy pol = pin_policy(in);
        st = tp_manager_pin_record(in->admin_store, &pol, &ap->attempt, tp_now_ms(), &locked_now,
                                   &why);
    }
    if (st == TP_OK)
        return TP_OK;
    tp_audit_entry e = {.time_ms = tp_now_ms(), .actor = s->staff, .approver = ap->approver,
                        .member = s->member_code, .location = in->cfg.location,
                        .receipt = s->receipt};
    tp_message err;
    tp_msg_clear(&err);
    if (st == TP_ERR_WRONG_PIN || (st == TP_ERR_LOCKED_OUT && locked_now)) {
        /* The audit log, for managers, tells the two apart; the form
         * does not. */
        e.action = "pin.failure";
        e.detail = ap->attempt.known ? "wrong PIN" : "no such manager";
        tp_status ast = tp_audit_append(in->admin_store, &e, &err);
        if (ast == TP_OK && locked_now) {
            e.action = "pin.lockout";
            e.detail = "locked after repeated wrong PINs";
            ast = tp_audit_append(in->admin_store, &e, &err);
        }
        end_refusal(in, ast, &err, out, "pin", why.text);
    } else if (st == TP_ERR_STATE || st == TP_ERR_NOT_FOUND || st == TP_ERR_LOCKED_OUT) {
        e.action = "retro.denied";
        e.detail = why.text;
        end_refusal(in, tp_audit_append(in->admin_store, &e, &err), &err, out,
                    ap->by_host_login ? NULL : "approver", why.text);
    } else {
        tp_store_rollback(in->admin_store);
        tp_retro_form_error(out, NULL, why.text);
    }
    return st;
}

/* The common start of a step that needs approval: a reason, the approver
 * (phase 1), the write transaction, the approver again (phase 2). 0 inside
 * the transaction with ap->approver set; -1 with the form showing why and
 * no transaction open. */
int tp_retro_begin_approved(tp_instance *in, tp_session *s, const tp_answers *a,
                          const char *reason, approval *ap, tp_uform *out)
{
    if (!reason[0]) {
        tp_retro_form_error(out, "reason", "Give a reason; it is kept in the activity log.");
        return -1;
    }
    if (approval_check(in, s, a, ap, out) != 0)
        return -1;
    tp_message why;
    if (tp_store_begin(in->admin_store, &why) != TP_OK) {
        tp_retro_form_error(out, NULL, why.text);
        return -1;
    }
    if (approval_record(in, s, ap, out) != TP_OK)
        return -1; /* the transaction is ended, its records kept or not */
    return 0;
}

/* Appended to an audit record's detail when no PIN was typed. */
const char *tp_retro_approval_note(const approval *ap)
{
    return ap->by_host_login ? "; approved by the host's manager login (trust_host_managers)"
                             : "";
}

/* A refusal after approval: audited, and the transaction ended. */
void tp_retro_deny(tp_instance *in, tp_session *s, const char *approver, int64_t points,
                 const char *why, tp_uform *out)
{
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "retro.denied", .actor = s->staff,
                        .approver = approver, .member = s->member_code,
                        .location = in->cfg.location, .receipt = s->receipt, .points = points,
                        .detail = why};
    tp_message err;
    tp_msg_clear(&err);
    end_refusal(in, tp_audit_append(in->admin_store, &e, &err), &err, out, NULL, why);
}

/* ---- entry points ------------------------------------------------------------- */

int tp_retro_start(tp_instance *in, tp_session *s, const char *prefill, tp_uform *out)
{
    char pre[TP_FIELD_VALUE_MAX + 1];
    tp_copy(pre, sizeof pre, prefill ? prefill : "");
    tp_retro_trim(pre);
    switch (s->flow) {
    case FLOW_RETRO: {
        /* A scanned receipt code or number fills the receipt step; it is
         * checked now, before the customer is asked for. */
        char err[TP_MESSAGE_MAX];
        const char *refusal = NULL;
        if (strncmp(pre, "TPR1|", 5) == 0) {
            tp_payload pl;
            if (tp_payload_parse(&in->cfg.scan, pre, strlen(pre), tp_now_ms(), &pl, err,
                                 sizeof err) == TP_OK && pl.kind == TP_PAYLOAD_RECEIPT) {
                tp_copy(s->receipt, sizeof s->receipt, pl.receipt_id);
                if (strcmp(pl.location, in->cfg.location) != 0) {
                    tp_buf_set(err, sizeof err, "Receipt %s is from %s; credit it at that "
                               "store.", pl.receipt_id, pl.location);
                    refusal = err;
                }
            }
        } else if (pre[0]) {
            if (tp_copy(s->receipt, sizeof s->receipt, pre) != 0 ||
                !tp_is_printable(pre, strlen(pre))) {
                tp_retro_dismiss(out, 0,
                                 "That is not a receipt number; open the form without one and "
                                 "pick the receipt.");
                return 0;
            }
        }
        if (s->receipt[0] && !refusal)
            refusal = tp_retro_known_receipt_refusal(in, s->receipt, err, sizeof err);
        if (refusal) {
            tp_retro_dismiss(out, 0, "%s", refusal);
            return 0;
        }
        s->step = STEP_FIND;
        tp_retro_form_find(s, out, "");
        if (s->receipt[0]) {
            char text[TP_MESSAGE_MAX];
            tp_buf_set(text, sizeof text, "Receipt %s will be credited; find the customer.",
                       s->receipt);
            tp_copy(out->message, sizeof out->message, text);
        }
        return 1;
    }
    case FLOW_QUEUE:
        s->step = STEP_QUEUE;
        if (!tp_retro_form_queue(in, out, NULL)) {
            tp_retro_dismiss(out, 0, "There are no open claims.");
            return 0;
        }
        return 1;
    case FLOW_CLAIM:
        if (!pre[0] || tp_copy(s->receipt, sizeof s->receipt, pre) != 0) {
            tp_retro_dismiss(out, 0, "Open the claim form with the receipt number of the sale.");
            return 0;
        }
        s->step = STEP_CLAIM;
        tp_retro_form_claim(s, out, NULL);
        return 1;
    case FLOW_CORRECT:
        tp_copy(s->receipt, sizeof s->receipt, pre);
        s->step = STEP_C_ENTRY;
        tp_retro_form_correct(in, s, out, NULL);
        return 1;
    }
    tp_retro_dismiss(out, 0, "Unknown form.");
    return 0;
}

/* The current step's form again, showing the answers `a`. 0 when the step
 * has no form to show again (the queue emptied meanwhile). */
static int form_again(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    switch (s->step) {
    case STEP_FIND:
        tp_retro_form_find(s, out, tp_retro_answer(a, "customer"));
        return 1;
    case STEP_RECEIPT:
        tp_retro_form_receipt(in, s, out, a);
        return 1;
    case STEP_APPROVE:
        tp_retro_form_approve(in, s, out, a);
        return 1;
    case STEP_QUEUE:
        return tp_retro_form_queue(in, out, a);
    case STEP_Q_DISMISS:
        tp_retro_form_dismiss(in, s, out, a);
        return 1;
    case STEP_CLAIM:
        tp_retro_form_claim(s, out, a);
        return 1;
    case STEP_C_ENTRY:
        tp_retro_form_correct(in, s, out, a);
        return 1;
    default:
        return 0;
    }
}

/* A text answer longer than its field's max_len is refused on that field
 * before the step reads it: the steps copy answers into buffers of the
 * field's size, and a reason cut to nothing would be told it is missing.
 * 0 when every answer fits; -1 with the form presented again, the field
 * saying so. */
static int answers_fit(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    /* Built in `out` (a form is too big for the stack twice), and cleared
     * again when every answer fits. */
    memset(out, 0, sizeof *out);
    if (!form_again(in, s, a, out)) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    int fit = 1;
    for (int i = 0; i < a->n; i++) {
        tp_ufield *f = tp_uform_field(out, a->id[i]);
        size_t n = strlen(a->value[i]);
        if (!f || f->kind != TP_FIELD_TEXT || f->max_len == 0 || n <= f->max_len)
            continue;
        tp_buf_set(f->error, sizeof f->error, "This answer is %zu bytes long; the field takes "
                   "at most %zu (a letter with an accent takes two). Shorten it.", n,
                   f->max_len);
        fit = 0;
    }
    if (fit)
        memset(out, 0, sizeof *out);
    return fit ? 0 : -1;
}

int tp_retro_submit(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    if (answers_fit(in, s, a, out) != 0)
        return 1;
    switch (s->step) {
    case STEP_FIND:
        if (!tp_retro_choose_member(in, s, a, out))
            return 1;
        if (s->receipt[0]) {
            /* Receipt known (scanned code, claim): check it now. */
            tp_answers r;
            memset(&r, 0, sizeof r);
            r.n = 1;
            tp_copy(r.id[0], sizeof r.id[0], "receipt");
            tp_copy(r.value[0], sizeof r.value[0], s->receipt);
            if (!tp_retro_choose_receipt(in, s, &r, out)) {
                s->step = STEP_RECEIPT;
                return 1;
            }
            s->step = STEP_APPROVE;
            tp_retro_form_approve(in, s, out, NULL);
            return 1;
        }
        s->step = STEP_RECEIPT;
        tp_retro_form_receipt(in, s, out, NULL);
        return 1;
    case STEP_RECEIPT:
        if (!tp_retro_choose_receipt(in, s, a, out))
            return 1;
        s->step = STEP_APPROVE;
        tp_retro_form_approve(in, s, out, NULL);
        return 1;
    case STEP_APPROVE:
        return tp_retro_approve_retro(in, s, a, out);
    case STEP_QUEUE:
        return tp_retro_resolve_queue(in, s, a, out);
    case STEP_Q_DISMISS:
        return tp_retro_do_dismiss(in, s, a, out);
    case STEP_CLAIM:
        return tp_retro_park_claim(in, s, a, out);
    case STEP_C_ENTRY:
        return tp_retro_do_correct(in, s, a, out);
    default:
        tp_retro_dismiss(out, 0, "This form is finished.");
        return 0;
    }
}
