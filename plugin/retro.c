/*
 * retro.c — retroactive visits and the missed-scan queue (docs/DESIGN.md §6).
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
#include "rules.h"
#include "currency.h"
#include "util.h"

enum {
    STEP_FIND = 1, STEP_RECEIPT, STEP_APPROVE,     /* retro-visit */
    STEP_C_ENTRY = 11, STEP_C_APPROVE,            /* correct-credit */
    STEP_QUEUE = 21, STEP_Q_DISMISS,              /* missed-scan-queue */
    STEP_CLAIM = 31                               /* missed-scan-claim */
};

/* ---- small helpers ---------------------------------------------------------- */

static const char *answer(const tp_answers *a, const char *id)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->id[i], id) == 0)
            return a->value[i];
    return "";
}

static void trim(char *s)
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
static void mask_phone(char *out, size_t cap, const char *p)
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

static void mask_email(char *out, size_t cap, const char *e)
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
    mask_phone(phone, sizeof phone, m->phone);
    mask_email(email, sizeof email, m->email);
    tp_buf_set(out, cap, "%s (%s)%s%s%s%s", m->name[0] ? m->name : "(no name)", m->code,
               phone[0] ? " - " : "", phone, email[0] ? " - " : "", email);
}

/* An amount a person typed, in the store currency's minor units (the
 * currency's own number of decimals, ISO 4217); *ok 0 when it is not one. */
static int64_t parse_money_text(const tp_instance *in, const char *t, int *ok)
{
    int64_t minor = 0;
    *ok = tp_money_parse(t, tp_currency_exponent(in->cfg.currency), &minor) == 0;
    return *ok ? minor : 0;
}

static void dismiss(tp_uform *out, int done, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dismiss(tp_uform *out, int done, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    out->dismiss = 1;
    out->done = done;
}

static void form_error(tp_uform *out, const char *field, const char *text)
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
static const char *unit_word(const tp_instance *in, int64_t n)
{
    return tp_rules_unit(&in->cfg.rules, n);
}

/* ---- the journal -------------------------------------------------------------- */

typedef struct journal_row {
    int found;
    char location[TP_CFG_ID_MAX + 1];
    int64_t time_ms;
    int64_t total, eligible, refunded;
    int64_t credited_entry;   /* earn or retro entry for this receipt, 0 none */
    char credited_kind[16];
} journal_row;

static int read_journal(tp_instance *in, const char *location, const char *receipt,
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
static const char *receipt_refusal(tp_instance *in, const char *receipt, const journal_row *j,
                                   char *buf, size_t cap)
{
    int64_t now = tp_now_ms();
    char when[32];
    tp_format_utc(when, sizeof when, j->time_ms);
    if (j->credited_entry) {
        tp_buf_set(buf, cap, "Receipt %s already earned %s (%s, entry %lld); a receipt earns "
                   "once.", receipt, unit_word(in, 2),
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
static const char *known_receipt_refusal(tp_instance *in, const char *receipt, char *buf,
                                         size_t cap)
{
    journal_row j;
    if (read_journal(in, in->cfg.location, receipt, &j) != 0) {
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
    return receipt_refusal(in, receipt, &j, buf, cap);
}

static int64_t retro_points(tp_instance *in, const journal_row *j)
{
    int64_t remaining = j->eligible - j->refunded;
    return tp_rules_award(&in->cfg.rules, remaining > 0 ? remaining : 0, j->time_ms, j->location,
                          1);
}

/* ---- forms -------------------------------------------------------------------- */

static void form_find(tp_session *s, tp_uform *out, const char *query)
{
    tp_buf_set(out->title, sizeof out->title, "%s: find the customer",
               s->flow == FLOW_CORRECT ? "Correct a credit" : "Missed visit");
    tp_uform_add(out, "customer", TP_FIELD_TEXT, "Customer (phone, email, member code or name)",
                 query, 1, 128);
    tp_copy(out->submit, sizeof out->submit, "Find");
}

static int add_recent(tp_instance *in, tp_ufield *list)
{
    static const char sql[] =
        "SELECT r.receipt, r.total_minor, r.time_ms FROM receipts r"
        " WHERE r.location = ?1 AND r.time_ms >= ?2 AND r.time_ms <= ?4"
        " AND r.member_id IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.location = r.location"
        "  AND l.receipt = r.receipt AND l.kind IN ('earn', 'retro'))"
        " ORDER BY r.time_ms DESC LIMIT ?3";
    sqlite3_stmt *q = tp_store_cached(in->admin_store, TP_STMT_RETRO_ADD_RECENT, sql);
    if (!q)
        return -1;
    int64_t now = tp_now_ms();
    sqlite3_bind_text(q, 1, in->cfg.location, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now - in->cfg.retro.window_ms);
    sqlite3_bind_int(q, 3, in->cfg.retro.recent_receipts);
    /* A receipt that cannot be credited is not offered (receipt_refusal). */
    sqlite3_bind_int64(q, 4, now + in->cfg.retro.future_skew_ms);
    while (sqlite3_step(q) == SQLITE_ROW) {
        char label[160], money[32], when[32];
        const char *id = (const char *)sqlite3_column_text(q, 0);
        tp_format_money(money, sizeof money, sqlite3_column_int64(q, 1), in->cfg.currency);
        tp_format_utc(when, sizeof when, sqlite3_column_int64(q, 2));
        tp_buf_set(label, sizeof label, "%s - %s %s - %s UTC", id, money, in->cfg.currency, when);
        tp_ufield_choice(list, id, label);
    }
    sqlite3_reset(q);
    return 0;
}

static void form_receipt(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep)
{
    tp_copy(out->title, sizeof out->title, "Missed visit: pick the receipt");
    tp_uform_add(out, "who", TP_FIELD_INFO, "Customer", s->member_label, 0, 0);
    tp_uform_add(out, "receipt", TP_FIELD_TEXT, "Receipt number, or scan the receipt's code",
                 keep ? answer(keep, "receipt") : s->receipt, 0, 160);
    char label[96];
    tp_buf_set(label, sizeof label, "Or pick one of this store's recent receipts without %s",
               unit_word(in, 2));
    tp_ufield *recent = tp_uform_add(out, "recent", TP_FIELD_RESULTS, label, "", 0, 0);
    add_recent(in, recent);
    tp_uform_add(out, "amount", TP_FIELD_MONEY,
                 "Amount on the receipt (optional; it must match the journal)",
                 keep ? answer(keep, "amount") : "", 0, 16);
    if (in->cfg.retro.allow_manual)
        tp_uform_add(out, "manual_amount", TP_FIELD_MONEY,
                     "Receipt not in this till's journal? Its eligible amount (manual credit)",
                     keep ? answer(keep, "manual_amount") : "", 0, 16);
    tp_copy(out->submit, sizeof out->submit, "Next");
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
static void approval_fields(tp_instance *in, tp_session *s, tp_uform *out,
                            const tp_answers *keep)
{
    tp_uform_add(out, "reason", TP_FIELD_TEXT, "Reason (kept in the activity log)",
                 keep ? answer(keep, "reason") : "", 1, TP_REASON_MAX);
    if (host_login_approves(in, s)) {
        char text[TP_FIELD_VALUE_MAX + 1];
        tp_buf_set(text, sizeof text, "%s (logged in at the till)", s->staff);
        tp_uform_add(out, "approved_by", TP_FIELD_INFO, "Approved by", text, 0, 0);
        return;
    }
    const char *id = keep ? answer(keep, "approver") : "";
    if (!*id && s->is_manager)
        id = s->staff;
    tp_uform_add(out, "approver", TP_FIELD_TEXT, "Approving manager's id", id, 1,
                 TP_MANAGER_ID_MAX);
    tp_uform_add(out, "pin", TP_FIELD_PIN, "Manager PIN", "", 1, TP_PIN_MAX);
}

/* The approval form: everything comes from the journal. Returns the
 * points, or -1 when the receipt can no longer be credited (error set). */
static int64_t form_approve(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep)
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
        points = retro_points(in, &j);
    } else {
        journal_row j;
        char when[32];
        read_journal(in, in->cfg.location, s->receipt, &j);
        tp_format_money(money, sizeof money, j.eligible - j.refunded, in->cfg.currency);
        tp_format_utc(when, sizeof when, j.time_ms);
        tp_buf_set(text, sizeof text, "%s - %s %s eligible - %s UTC - %s", s->receipt, money,
                   in->cfg.currency, when, j.location);
        points = retro_points(in, &j);
    }
    tp_uform_add(out, "receipt_info", TP_FIELD_INFO, "Receipt", text, 0, 0);
    tp_buf_set(text, sizeof text, "%lld", (long long)points);
    tp_uform_add(out, "points", TP_FIELD_INFO,
                 in->cfg.rules.kind == TP_PROGRAM_VISITS ? "Stamps it will earn"
                                                         : "Points it will earn",
                 text, 0, 0);
    approval_fields(in, s, out, keep);
    tp_buf_set(out->submit, sizeof out->submit, "Credit %lld %s", (long long)points,
               unit_word(in, points));
    return points;
}

/* ---- steps -------------------------------------------------------------------- */

/* Resolves the customer answer: 1 chosen, 0 re-presented with matches or an
 * error. */
static int choose_member(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char query[TP_FIELD_VALUE_MAX + 1];
    tp_copy(query, sizeof query, answer(a, "customer"));
    trim(query);
    const char *picked = answer(a, "member");
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
        if (tp_members_find(in->admin_store, &in->cfg, query, found, TP_FORM_CHOICES_MAX,
                            sizeof found[0], &n, &why) != TP_OK)
            n = 0;
    }
    if (n == 1) {
        /* Never a member id from a failed lookup. */
        tp_member_row row;
        if (tp_store_find_member(in->admin_store, found[0].code, &row, &why) != TP_OK) {
            form_find(s, out, query);
            form_error(out, "customer", why.text);
            return 0;
        }
        s->member_id = row.id;
        tp_copy(s->member_code, sizeof s->member_code, found[0].code);
        member_label(s->member_label, sizeof s->member_label, &found[0]);
        return 1;
    }
    form_find(s, out, query);
    if (n == 0) {
        char text[TP_MESSAGE_MAX];
        tp_buf_set(text, sizeof text, query[0] ? "No member matches \"%.60s\"; try the phone "
                                                 "number, email or member code."
                                               : "Type the customer's phone, email, member "
                                                 "code or name.%.0s",
                   query);
        form_error(out, "customer", text);
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

/* Resolves the receipt answers; 1 when a creditable receipt is chosen. */
static int choose_receipt(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char text[TP_FIELD_VALUE_MAX + 1], err[TP_MESSAGE_MAX];
    tp_copy(text, sizeof text, *answer(a, "recent") ? answer(a, "recent") : answer(a, "receipt"));
    trim(text);
    const char *field = *answer(a, "recent") ? "recent" : "receipt";
    char receipt[TP_RECEIPT_ID_MAX + 1] = "";
    char location[TP_CFG_ID_MAX + 1];
    tp_copy(location, sizeof location, in->cfg.location);
    if (strncmp(text, "TPR1|", 5) == 0) {
        tp_payload pl;
        if (tp_payload_parse(&in->cfg.scan, text, strlen(text), tp_now_ms(), &pl, err,
                             sizeof err) != TP_OK || pl.kind != TP_PAYLOAD_RECEIPT) {
            form_receipt(in, s, out, a);
            form_error(out, "receipt", err);
            return 0;
        }
        tp_copy(receipt, sizeof receipt, pl.receipt_id);
        tp_copy(location, sizeof location, pl.location);
    } else if (tp_copy(receipt, sizeof receipt, text) != 0 ||
               !tp_is_printable(receipt, strlen(receipt))) {
        form_receipt(in, s, out, a);
        form_error(out, "receipt", "That is not a receipt number.");
        return 0;
    }
    if (!receipt[0]) {
        form_receipt(in, s, out, a);
        form_error(out, "receipt", "Type the receipt number, scan its code, or pick one below.");
        return 0;
    }
    if (strcmp(location, in->cfg.location) != 0) {
        form_receipt(in, s, out, a);
        tp_buf_set(err, sizeof err, "That receipt is from %s; credit it at that store.", location);
        form_error(out, "receipt", err);
        return 0;
    }
    journal_row j;
    if (read_journal(in, location, receipt, &j) != 0) {
        form_receipt(in, s, out, a);
        form_error(out, NULL, "The journal cannot be read right now; try again.");
        return 0;
    }
    int ok = 0;
    const char *manual = answer(a, "manual_amount");
    if (!j.found) {
        if (in->cfg.retro.allow_manual && *manual) {
            int64_t amount = parse_money_text(in, manual, &ok);
            if (!ok || amount <= 0) {
                form_receipt(in, s, out, a);
                char example[32], sentence[80];
                tp_format_money(example, sizeof example, 1250, in->cfg.currency);
                tp_buf_set(sentence, sizeof sentence, "Type the amount like %s.", example);
                form_error(out, "manual_amount", sentence);
                return 0;
            }
            s->manual = 1;
            s->manual_amount = amount;
            tp_copy(s->receipt, sizeof s->receipt, receipt);
            return 1;
        }
        form_receipt(in, s, out, a);
        tp_buf_set(err, sizeof err, "Receipt %s is not in this till's journal%s.", receipt,
                   in->cfg.retro.allow_manual ? "; for a manual credit give its amount below"
                                              : "; only journaled receipts can be credited here");
        form_error(out, field, err);
        return 0;
    }
    const char *refusal = receipt_refusal(in, receipt, &j, err, sizeof err);
    if (refusal) {
        form_receipt(in, s, out, a);
        form_error(out, field, refusal);
        return 0;
    }
    const char *typed = answer(a, "amount");
    if (*typed) {
        int64_t amount = parse_money_text(in, typed, &ok);
        if (!ok || (amount != j.total && amount != j.eligible)) {
            char money[32];
            tp_format_money(money, sizeof money, j.total, in->cfg.currency);
            form_receipt(in, s, out, a);
            tp_buf_set(err, sizeof err, "The journal has %s %s for receipt %s, not %s; check the "
                       "receipt.", money, in->cfg.currency, receipt, typed);
            form_error(out, "amount", err);
            return 0;
        }
    }
    s->manual = 0;
    tp_copy(s->receipt, sizeof s->receipt, receipt);
    return 1;
}

static int64_t start_of_utc_day(int64_t ms)
{
    return ms - ms % 86400000;
}

static int64_t approved_today(tp_instance *in, const char *approver)
{
    static const char sql[] = "SELECT COALESCE(SUM(points), 0) FROM audit WHERE approver = ?1"
                              " AND action IN ('retro.credit', 'correction') AND time_ms >= ?2";
    sqlite3_stmt *q = tp_store_cached(in->admin_store, TP_STMT_RETRO_APPROVED_TODAY, sql);
    int64_t sum = 0;
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, approver, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, start_of_utc_day(tp_now_ms()));
    if (sqlite3_step(q) == SQLITE_ROW)
        sum = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return sum;
}

/* ---- approval ----------------------------------------------------------------- */

/* Who approves a step, and how. */
typedef struct approval {
    char approver[TP_MANAGER_ID_MAX + 1];
    int by_host_login;          /* trust_host_managers: no PIN was typed */
    tp_pin_attempt attempt;     /* the PIN's check, between its steps */
} approval;

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
    tp_copy(id, sizeof id, answer(a, "approver"));
    trim(id);
    const char *pin = answer(a, "pin");
    if (!id[0] || !*pin) {
        form_error(out, id[0] ? "pin" : "approver", "A manager must approve: their id and PIN.");
        return -1;
    }
    tp_manager_policy pol = pin_policy(in);
    tp_message why;
    tp_status st = tp_manager_pin_lookup(in->admin_store, &pol, id, pin, tp_now_ms(),
                                         &ap->attempt, &why);
    if (st != TP_OK) {
        form_error(out, st == TP_ERR_INVALID_ARGUMENT ? "pin" : NULL, why.text);
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
        form_error(out, field, why);
        return;
    }
    tp_store_rollback(in->admin_store);
    char text[TP_MESSAGE_MAX];
    tp_buf_set(text, sizeof text, "%s It could not be recorded in the audit log (%s); nothing "
               "was changed. Try again, and if this repeats, check the disk.", why, err->text);
    form_error(out, field, text);
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
        form_error(out, NULL, why.text);
    }
    return st;
}

/* The common start of a step that needs approval: a reason, the approver
 * (phase 1), the write transaction, the approver again (phase 2). 0 inside
 * the transaction with ap->approver set; -1 with the form showing why and
 * no transaction open. */
static int begin_approved(tp_instance *in, tp_session *s, const tp_answers *a,
                          const char *reason, approval *ap, tp_uform *out)
{
    if (!reason[0]) {
        form_error(out, "reason", "Give a reason; it is kept in the activity log.");
        return -1;
    }
    if (approval_check(in, s, a, ap, out) != 0)
        return -1;
    tp_message why;
    if (tp_store_begin(in->admin_store, &why) != TP_OK) {
        form_error(out, NULL, why.text);
        return -1;
    }
    if (approval_record(in, s, ap, out) != TP_OK)
        return -1; /* the transaction is ended, its records kept or not */
    return 0;
}

/* Appended to an audit record's detail when no PIN was typed. */
static const char *approval_note(const approval *ap)
{
    return ap->by_host_login ? "; approved by the host's manager login (trust_host_managers)"
                             : "";
}

/* A refusal after approval: audited, and the transaction ended. */
static void deny(tp_instance *in, tp_session *s, const char *approver, int64_t points,
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

static int approve_retro(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char reason[TP_REASON_MAX + 1];
    tp_copy(reason, sizeof reason, answer(a, "reason"));
    trim(reason);
    int64_t points = form_approve(in, s, out, a);
    tp_message why;
    approval ap;
    if (begin_approved(in, s, a, reason, &ap, out) != 0)
        return 1;
    const char *approver = ap.approver;
    char err[TP_MESSAGE_MAX];
    /* Re-check against the journal as it is now. */
    journal_row j;
    if (!s->manual) {
        if (read_journal(in, in->cfg.location, s->receipt, &j) != 0 || !j.found) {
            tp_store_rollback(in->admin_store);
            form_error(out, NULL, "The receipt is no longer in the journal.");
            return 1;
        }
        const char *refusal = receipt_refusal(in, s->receipt, &j, err, sizeof err);
        if (refusal) {
            deny(in, s, approver, points, refusal, out);
            return 1;
        }
        points = retro_points(in, &j);
    }
    if (points <= 0) {
        char none[TP_MESSAGE_MAX];
        int64_t eligible = s->manual ? s->manual_amount : j.eligible - j.refunded;
        if (tp_rules_why_none(&in->cfg.rules, s->manual ? s->manual_amount : j.total, eligible,
                              in->cfg.currency, none, sizeof none))
            tp_buf_set(err, sizeof err, "Receipt %s earns no %s: %s.", s->receipt,
                       unit_word(in, 2), none);
        else
            tp_buf_set(err, sizeof err, "Receipt %s earns no %s under the current rules.",
                       s->receipt, unit_word(in, 2));
        deny(in, s, approver, 0, err, out);
        return 1;
    }
    int64_t cap = s->manual ? in->cfg.retro.manual_max_points
                            : in->cfg.retro.max_points_per_credit;
    if (points > cap) {
        tp_buf_set(err, sizeof err, "%lld %s is more than one %s credit may carry (%lld); "
                   "use an adjustment with a reason instead.", (long long)points, unit_word(in, points),
                   s->manual ? "manual" : "retroactive", (long long)cap);
        deny(in, s, approver, points, err, out);
        return 1;
    }
    int64_t today = approved_today(in, approver);
    if (today < 0 || today + points > in->cfg.retro.max_points_per_manager_day) {
        tp_buf_set(err, sizeof err, "Manager %s has approved %lld %s today; with %lld more "
                   "that is above the daily limit of %lld.", approver, (long long)today,
                   unit_word(in, today), (long long)points, (long long)in->cfg.retro.max_points_per_manager_day);
        deny(in, s, approver, points, err, out);
        return 1;
    }
    char key[80], full_reason[TP_REASON_MAX + 16];
    if (s->manual) {
        tp_buf_set(key, sizeof key, "MANUAL-%lld", (long long)tp_ledger_next_id(in->admin_store));
        tp_buf_set(full_reason, sizeof full_reason, "manual: %s", reason);
    } else {
        tp_copy(key, sizeof key, s->receipt);
        tp_copy(full_reason, sizeof full_reason, reason);
    }
    int64_t entry = 0;
    tp_status st = tp_ledger_append_manual(in->admin_store, &in->cfg, s->member_id, s->member_code,
                                           "retro", key, points, s->staff, full_reason, NULL,
                                           &entry, &why);
    char detail[200];
    tp_buf_set(detail, sizeof detail, "%s%s%s", s->manual ? "manual credit, receipt " : "receipt ",
               s->receipt, approval_note(&ap));
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "retro.credit", .actor = s->staff,
                        .approver = approver, .member = s->member_code,
                        .location = in->cfg.location, .receipt = key, .points = points,
                        .reason = reason, .detail = detail};
    if (st == TP_OK)
        st = tp_audit_append(in->admin_store, &e, &why);
    if (st == TP_OK && s->claim_id) {
        static const char sql[] = "INSERT INTO claim_resolutions(claim_id, resolved_ms, outcome,"
                                  " staff, reason, ledger_id) VALUES(?1, ?2, 'credited', ?3, ?4, ?5)";
        sqlite3_stmt *q = tp_store_cached(in->admin_store, TP_STMT_RETRO_APPROVE_RETRO, sql);
        int rc = SQLITE_ERROR;
        if (q) {
            sqlite3_bind_int64(q, 1, s->claim_id);
            sqlite3_bind_int64(q, 2, tp_now_ms());
            sqlite3_bind_text(q, 3, s->staff, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 4, reason, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 5, entry);
            rc = sqlite3_step(q);
            sqlite3_reset(q);
        }
        if (rc != SQLITE_DONE) {
            st = TP_ERR_STORAGE;
            tp_msg_set(&why, "The claim could not be closed: %s.", tp_store_errmsg(in->admin_store));
        }
    }
    if (st != TP_OK || tp_store_commit(in->admin_store, &why) != TP_OK) {
        if (st != TP_OK)
            tp_store_rollback(in->admin_store);
        form_error(out, NULL, why.text);
        return 1;
    }
    /* The credit is committed; the balance is only shown when it can be
     * read back (never a value from a failed lookup). */
    tp_member_row m;
    if (tp_store_member_by_id(in->admin_store, s->member_id, &m, &why) == TP_OK)
        dismiss(out, 1, "Credited %lld %s to %s for receipt %s%s; balance %lld.",
                (long long)points, unit_word(in, points), s->member_label, s->receipt,
                s->manual ? " (manual)" : "", (long long)m.balance);
    else
        dismiss(out, 1, "Credited %lld %s to %s for receipt %s%s.", (long long)points,
                unit_word(in, points), s->member_label, s->receipt, s->manual ? " (manual)" : "");
    return 0;
}

/* ---- missed-scan claims -------------------------------------------------------- */

static void form_claim(tp_session *s, tp_uform *out, const tp_answers *keep)
{
    tp_copy(out->title, sizeof out->title, "Customer will claim this visit later");
    tp_uform_add(out, "receipt_info", TP_FIELD_INFO, "Receipt", s->receipt, 0, 0);
    tp_uform_add(out, "phone", TP_FIELD_TEXT, "Customer's phone (optional)",
                 keep ? answer(keep, "phone") : "", 0, 32);
    tp_uform_add(out, "email", TP_FIELD_TEXT, "Customer's email (optional)",
                 keep ? answer(keep, "email") : "", 0, TP_EMAIL_MAX);
    tp_uform_add(out, "note", TP_FIELD_TEXT, "Note (optional)", keep ? answer(keep, "note") : "",
                 0, 200);
    tp_copy(out->submit, sizeof out->submit, "Park the claim");
}

static void wait_for_writer(tp_instance *in, int64_t ms)
{
    int64_t until = tp_now_ms() + ms;
    while (tp_queue_pending(&in->write_q) > 0 && tp_now_ms() < until) {
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
}

static int park_claim(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    form_claim(s, out, a);
    char phone[TP_PHONE_MAX + 1] = "", email[TP_EMAIL_MAX + 1] = "";
    tp_message why;
    if (*answer(a, "phone") && tp_normalise_phone(answer(a, "phone"),
                                                  in->cfg.default_country_code, phone,
                                                  sizeof phone, &why) != TP_OK) {
        form_error(out, "phone", why.text);
        return 1;
    }
    if (*answer(a, "email") &&
        tp_normalise_email(answer(a, "email"), email, sizeof email, &why) != TP_OK) {
        form_error(out, "email", why.text);
        return 1;
    }
    /* The sale was completed a moment ago: let the writer journal it. */
    wait_for_writer(in, 3000);
    journal_row j;
    if (tp_store_begin(in->admin_store, &why) != TP_OK) {
        form_error(out, NULL, why.text);
        return 1;
    }
    if (read_journal(in, in->cfg.location, s->receipt, &j) != 0 || !j.found) {
        char err[TP_MESSAGE_MAX];
        tp_store_rollback(in->admin_store);
        tp_buf_set(err, sizeof err, "Receipt %s is not in this till's journal; complete the sale "
                   "first.", s->receipt);
        form_error(out, NULL, err);
        return 1;
    }
    if (j.credited_entry) {
        tp_store_rollback(in->admin_store);
        dismiss(out, 0, "Receipt %s already earned %s; there is nothing to claim.", s->receipt,
                unit_word(in, 2));
        return 0;
    }
    static const char sql[] = "INSERT INTO claims(location, receipt, created_ms, staff,"
                              " contact_phone, contact_email, note) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    sqlite3_stmt *q = tp_store_cached(in->admin_store, TP_STMT_RETRO_PARK_CLAIM, sql);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_text(q, 1, in->cfg.location, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, s->receipt, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, tp_now_ms());
        sqlite3_bind_text(q, 4, s->staff, -1, SQLITE_STATIC);
        if (phone[0])
            sqlite3_bind_text(q, 5, phone, -1, SQLITE_STATIC);
        if (email[0])
            sqlite3_bind_text(q, 6, email, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 7, answer(a, "note"), -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        tp_store_rollback(in->admin_store);
        dismiss(out, 0, "A claim for receipt %s is already waiting in the managers' queue.",
                s->receipt);
        return 0;
    }
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "claim.park", .actor = s->staff,
                        .location = in->cfg.location, .receipt = s->receipt,
                        .detail = answer(a, "note")};
    if (rc != SQLITE_DONE || tp_audit_append(in->admin_store, &e, &why) != TP_OK ||
        tp_store_commit(in->admin_store, &why) != TP_OK) {
        tp_store_rollback(in->admin_store);
        form_error(out, NULL, "The claim could not be saved; try again.");
        return 1;
    }
    dismiss(out, 1, "Claim parked for receipt %s; a manager can credit it from the missed-scan "
            "queue.", s->receipt);
    return 0;
}

static int form_queue(tp_instance *in, tp_uform *out, const tp_answers *keep)
{
    static const char sql[] =
        "SELECT c.id, c.receipt, c.created_ms, COALESCE(c.contact_phone, ''),"
        " COALESCE(c.contact_email, ''), COALESCE(r.total_minor, 0) FROM claims c"
        " LEFT JOIN receipts r ON r.location = c.location AND r.receipt = c.receipt"
        " WHERE NOT EXISTS (SELECT 1 FROM claim_resolutions x WHERE x.claim_id = c.id)"
        " ORDER BY c.id LIMIT 20";
    tp_copy(out->title, sizeof out->title, "Missed-scan queue: open claims, oldest first");
    tp_ufield *list = tp_uform_add(out, "claim", TP_FIELD_RESULTS, "Claim", "", 1, 0);
    sqlite3_stmt *q = tp_store_cached(in->admin_store, TP_STMT_RETRO_FORM_QUEUE, sql);
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        char key[32], label[160], money[32], when[32], phone[40], email[140];
        tp_buf_set(key, sizeof key, "%lld", (long long)sqlite3_column_int64(q, 0));
        tp_format_utc(when, sizeof when, sqlite3_column_int64(q, 2));
        tp_format_money(money, sizeof money, sqlite3_column_int64(q, 5), in->cfg.currency);
        mask_phone(phone, sizeof phone, (const char *)sqlite3_column_text(q, 3));
        mask_email(email, sizeof email, (const char *)sqlite3_column_text(q, 4));
        tp_buf_set(label, sizeof label, "%s - %s %s - parked %s UTC%s%s%s%s",
                   (const char *)sqlite3_column_text(q, 1), money, in->cfg.currency, when,
                   phone[0] ? " - " : "", phone, email[0] ? " - " : "", email);
        tp_ufield_choice(list, key, label);
    }
    if (q)
        sqlite3_reset(q);
    if (list->n_choices == 0)
        return 0;
    tp_uform_add(out, "dismiss_reason", TP_FIELD_TEXT,
                 "To dismiss the claim instead of crediting it, a reason",
                 keep ? answer(keep, "dismiss_reason") : "", 0, TP_REASON_MAX);
    tp_copy(out->submit, sizeof out->submit, "Resolve");
    return 1;
}

static void form_dismiss(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep)
{
    tp_buf_set(out->title, sizeof out->title, "Missed-scan queue: dismiss the claim for %s",
               s->receipt);
    tp_uform_add(out, "receipt_info", TP_FIELD_INFO, "Receipt", s->receipt, 0, 0);
    approval_fields(in, s, out, keep);
    tp_copy(out->submit, sizeof out->submit, "Dismiss the claim");
}

static int do_dismiss(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char reason[TP_REASON_MAX + 1];
    tp_copy(reason, sizeof reason, answer(a, "reason"));
    trim(reason);
    form_dismiss(in, s, out, a);
    approval ap;
    if (begin_approved(in, s, a, reason, &ap, out) != 0)
        return 1;
    /* The claim must still be open: claim_resolutions has one row per
     * claim, so a claim resolved meanwhile fails the insert. */
    static const char ins[] = "INSERT INTO claim_resolutions(claim_id, resolved_ms, outcome,"
                              " staff, reason) VALUES(?1, ?2, 'dismissed', ?3, ?4)";
    sqlite3_stmt *w = tp_store_cached(in->admin_store, TP_STMT_RETRO_DO_DISMISS_INS, ins);
    int rc = SQLITE_ERROR;
    if (w) {
        sqlite3_bind_int64(w, 1, s->claim_id);
        sqlite3_bind_int64(w, 2, tp_now_ms());
        sqlite3_bind_text(w, 3, s->staff, -1, SQLITE_STATIC);
        sqlite3_bind_text(w, 4, reason, -1, SQLITE_STATIC);
        rc = sqlite3_step(w);
        sqlite3_reset(w);
    }
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        tp_store_rollback(in->admin_store);
        dismiss(out, 0, "The claim for receipt %s was already resolved; nothing was changed.",
                s->receipt);
        return 0;
    }
    char detail[120];
    tp_buf_set(detail, sizeof detail, "claim %lld%s", (long long)s->claim_id,
               approval_note(&ap));
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "claim.dismiss", .actor = s->staff,
                        .approver = ap.approver, .location = in->cfg.location,
                        .receipt = s->receipt, .reason = reason, .detail = detail};
    tp_message why;
    if (rc != SQLITE_DONE || tp_audit_append(in->admin_store, &e, &why) != TP_OK ||
        tp_store_commit(in->admin_store, &why) != TP_OK) {
        tp_store_rollback(in->admin_store);
        form_error(out, NULL, "The claim could not be dismissed; try again.");
        return 1;
    }
    dismiss(out, 1, "Claim for receipt %s dismissed: %s.", s->receipt, reason);
    return 0;
}

static int resolve_queue(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    const char *pick = answer(a, "claim");
    char *end = NULL;
    long long id = strtoll(pick, &end, 10);
    static const char sql[] =
        "SELECT c.receipt, COALESCE(c.contact_phone, ''), COALESCE(c.contact_email, '')"
        " FROM claims c WHERE c.id = ?1"
        " AND NOT EXISTS (SELECT 1 FROM claim_resolutions x WHERE x.claim_id = c.id)";
    sqlite3_stmt *q = tp_store_cached(in->admin_store, TP_STMT_RETRO_RESOLVE_QUEUE, sql);
    int found = 0;
    char contact[TP_FIELD_VALUE_MAX + 1] = "";
    if (q && *pick && !*end) {
        sqlite3_bind_int64(q, 1, id);
        if (sqlite3_step(q) == SQLITE_ROW) {
            found = 1;
            tp_copy(s->receipt, sizeof s->receipt, (const char *)sqlite3_column_text(q, 0));
            const char *phone = (const char *)sqlite3_column_text(q, 1);
            tp_copy(contact, sizeof contact,
                    *phone ? phone : (const char *)sqlite3_column_text(q, 2));
        }
        sqlite3_reset(q);
    }
    if (!found) {
        if (!form_queue(in, out, a)) {
            dismiss(out, 0, "There are no open claims.");
            return 0;
        }
        form_error(out, "claim", "Pick a claim from the list.");
        return 1;
    }
    char reason[TP_REASON_MAX + 1];
    tp_copy(reason, sizeof reason, answer(a, "dismiss_reason"));
    trim(reason);
    s->claim_id = id;
    if (reason[0]) {
        /* Dismissing closes the claim for good: an approval step. */
        tp_answers keep;
        memset(&keep, 0, sizeof keep);
        keep.n = 1;
        tp_copy(keep.id[0], sizeof keep.id[0], "reason");
        tp_copy(keep.value[0], sizeof keep.value[0], reason);
        s->step = STEP_Q_DISMISS;
        form_dismiss(in, s, out, &keep);
        return 1;
    }
    /* The claim's receipt is checked now, before the customer is asked
     * for (and again when the credit is written). */
    char err[TP_MESSAGE_MAX];
    const char *refusal = known_receipt_refusal(in, s->receipt, err, sizeof err);
    if (refusal) {
        char text[TP_MESSAGE_MAX];
        tp_buf_set(text, sizeof text, "%s To close the claim, dismiss it with a reason.",
                   refusal);
        form_queue(in, out, a);
        form_error(out, "claim", text);
        s->claim_id = 0;
        return 1;
    }
    /* Credit it: the retro flow with the receipt known. */
    s->flow = FLOW_RETRO;
    s->step = STEP_FIND;
    tp_copy(s->prefill_customer, sizeof s->prefill_customer, contact);
    form_find(s, out, contact);
    return 1;
}

/* ---- correct-credit ------------------------------------------------------------ */

typedef struct credit_entry {
    int64_t id, member_id, points, reversed;
    char kind[16], member_code[TP_MEMBER_CODE_MAX + 1];
} credit_entry;

static int find_credit(tp_instance *in, const char *receipt, credit_entry *c)
{
    static const char sql[] =
        "SELECT l.id, l.member_id, l.points, l.kind, m.code,"
        " (SELECT COALESCE(SUM(points), 0) FROM ledger r WHERE r.reverses = l.id)"
        " FROM ledger l JOIN members m ON m.id = l.member_id"
        " WHERE l.location = ?1 AND l.receipt = ?2 AND l.kind IN ('earn', 'retro')";
    memset(c, 0, sizeof *c);
    sqlite3_stmt *q = tp_store_cached(in->admin_store, TP_STMT_RETRO_FIND_CREDIT, sql);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, in->cfg.location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, receipt, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        c->id = sqlite3_column_int64(q, 0);
        c->member_id = sqlite3_column_int64(q, 1);
        c->points = sqlite3_column_int64(q, 2);
        tp_copy(c->kind, sizeof c->kind, (const char *)sqlite3_column_text(q, 3));
        tp_copy(c->member_code, sizeof c->member_code, (const char *)sqlite3_column_text(q, 4));
        c->reversed = -sqlite3_column_int64(q, 5);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static void form_correct(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep)
{
    tp_copy(out->title, sizeof out->title, "Correct a credit given to the wrong customer");
    tp_uform_add(out, "receipt", TP_FIELD_TEXT, "Receipt of the credit",
                 keep ? answer(keep, "receipt") : s->receipt, 1, TP_RECEIPT_ID_MAX);
    tp_uform_add(out, "customer", TP_FIELD_TEXT, "The right customer (phone, email, code or name)",
                 keep ? answer(keep, "customer") : "", 1, 128);
    approval_fields(in, s, out, keep);
    tp_buf_set(out->submit, sizeof out->submit, "Move the %s", unit_word(in, 2));
}

static int do_correct(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char receipt[TP_RECEIPT_ID_MAX + 1], reason[TP_REASON_MAX + 1], err[TP_MESSAGE_MAX];
    tp_copy(receipt, sizeof receipt, answer(a, "receipt"));
    trim(receipt);
    tp_copy(reason, sizeof reason, answer(a, "reason"));
    trim(reason);
    tp_copy(s->receipt, sizeof s->receipt, receipt);
    credit_entry c;
    int f = find_credit(in, receipt, &c);
    if (f != 1) {
        form_correct(in, s, out, a);
        tp_buf_set(err, sizeof err, "Receipt %s has no credit to correct.", receipt);
        form_error(out, "receipt", err);
        return 1;
    }
    int64_t moving = c.points - c.reversed;
    if (moving <= 0) {
        form_correct(in, s, out, a);
        tp_buf_set(err, sizeof err, "The credit for receipt %s was already reversed.", receipt);
        form_error(out, "receipt", err);
        return 1;
    }
    tp_uform probe;
    memset(&probe, 0, sizeof probe);
    if (!choose_member(in, s, a, &probe)) {
        /* Show the matches (or the error) on the correction form. */
        form_correct(in, s, out, a);
        tp_ufield *src = tp_uform_field(&probe, "member");
        if (src) {
            tp_ufield *dst = tp_uform_add(out, "member", TP_FIELD_RESULTS, src->label, "", 1, 0);
            if (dst) {
                for (int i = 0; i < src->n_choices; i++)
                    tp_ufield_choice(dst, src->ckey[i], src->clabel[i]);
            }
        } else {
            tp_ufield *cf = tp_uform_field(&probe, "customer");
            form_error(out, "customer", cf ? cf->error : "Find the right customer.");
        }
        return 1;
    }
    form_correct(in, s, out, a);
    if (s->member_id == c.member_id) {
        form_error(out, "customer", "That is the member who has the credit already.");
        return 1;
    }
    tp_message why;
    approval ap;
    if (begin_approved(in, s, a, reason, &ap, out) != 0)
        return 1;
    const char *approver = ap.approver;
    /* The credit as it is now, under the write lock. */
    credit_entry current;
    if (find_credit(in, receipt, &current) != 1 || current.id != c.id ||
        current.points - current.reversed != moving) {
        tp_store_rollback(in->admin_store);
        tp_buf_set(err, sizeof err, "The credit for receipt %s changed meanwhile; look again.",
                   receipt);
        form_error(out, "receipt", err);
        return 1;
    }
    /* Reversal on the wrong member and credit on the right one: one
     * transaction, so the points never exist twice or not at all. */
    int64_t next = tp_ledger_next_id(in->admin_store);
    char rkey[80], ckey[96];
    tp_buf_set(rkey, sizeof rkey, "CORR-%lld", (long long)next);
    tp_buf_set(ckey, sizeof ckey, "%s#C%lld", receipt, (long long)next);
    static const char rev_sql[] =
        "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, reverses,"
        " staff, reason, time_ms, recorded_ms) VALUES(?1, ?2, ?3, ?4, 'reversal', ?5, ?6, ?7, ?8,"
        " ?9, ?9)";
    sqlite3_stmt *q = tp_store_cached(in->admin_store, TP_STMT_RETRO_DO_CORRECT_REV, rev_sql);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_int64(q, 1, c.member_id);
        sqlite3_bind_text(q, 2, in->cfg.location, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, in->cfg.terminal, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, rkey, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, -moving);
        sqlite3_bind_int64(q, 6, c.id);
        sqlite3_bind_text(q, 7, s->staff, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 8, reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 9, tp_now_ms());
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    tp_status st = rc == SQLITE_DONE ? TP_OK : TP_ERR_STORAGE;
    if (st != TP_OK)
        tp_msg_set(&why, "The reversal could not be written: %s.", tp_store_errmsg(in->admin_store));
    if (st == TP_OK && !in->cfg.allow_negative_balance) {
        /* A balance that cannot be read is not taken for a good one. */
        tp_member_row wrong;
        st = tp_store_member_by_id(in->admin_store, c.member_id, &wrong, &why);
        if (st == TP_OK && wrong.balance < 0) {
            tp_msg_set(&why, "Member %s has already spent some of these %s (balance would be "
                       "%lld); adjust their balance first.", c.member_code, unit_word(in, 2),
                       (long long)wrong.balance);
            st = TP_ERR_STATE;
        }
    }
    if (st == TP_OK)
        st = tp_ledger_append_manual(in->admin_store, &in->cfg, s->member_id, s->member_code,
                                     "retro", ckey, moving, s->staff, reason, NULL, NULL, &why);
    char detail[200];
    tp_buf_set(detail, sizeof detail, "moved from %s to %s (entry %lld)%s", c.member_code,
               s->member_code, (long long)c.id, approval_note(&ap));
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "correction", .actor = s->staff,
                        .approver = approver, .member = s->member_code,
                        .location = in->cfg.location, .receipt = receipt, .points = moving,
                        .reason = reason, .detail = detail};
    if (st == TP_OK)
        st = tp_audit_append(in->admin_store, &e, &why);
    if (st != TP_OK || tp_store_commit(in->admin_store, &why) != TP_OK) {
        if (st != TP_OK)
            tp_store_rollback(in->admin_store);
        form_error(out, NULL, why.text);
        return 1;
    }
    dismiss(out, 1, "Moved %lld %s of receipt %s from %s to %s.", (long long)moving,
            unit_word(in, moving), receipt, c.member_code, s->member_label);
    return 0;
}

/* ---- entry points ------------------------------------------------------------- */

int tp_retro_start(tp_instance *in, tp_session *s, const char *prefill, tp_uform *out)
{
    char pre[TP_FIELD_VALUE_MAX + 1];
    tp_copy(pre, sizeof pre, prefill ? prefill : "");
    trim(pre);
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
                dismiss(out, 0, "That is not a receipt number; open the form without one and "
                        "pick the receipt.");
                return 0;
            }
        }
        if (s->receipt[0] && !refusal)
            refusal = known_receipt_refusal(in, s->receipt, err, sizeof err);
        if (refusal) {
            dismiss(out, 0, "%s", refusal);
            return 0;
        }
        s->step = STEP_FIND;
        form_find(s, out, "");
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
        if (!form_queue(in, out, NULL)) {
            dismiss(out, 0, "There are no open claims.");
            return 0;
        }
        return 1;
    case FLOW_CLAIM:
        if (!pre[0] || tp_copy(s->receipt, sizeof s->receipt, pre) != 0) {
            dismiss(out, 0, "Open the claim form with the receipt number of the sale.");
            return 0;
        }
        s->step = STEP_CLAIM;
        form_claim(s, out, NULL);
        return 1;
    case FLOW_CORRECT:
        tp_copy(s->receipt, sizeof s->receipt, pre);
        s->step = STEP_C_ENTRY;
        form_correct(in, s, out, NULL);
        return 1;
    }
    dismiss(out, 0, "Unknown form.");
    return 0;
}

/* The current step's form again, showing the answers `a`. 0 when the step
 * has no form to show again (the queue emptied meanwhile). */
static int form_again(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    switch (s->step) {
    case STEP_FIND:
        form_find(s, out, answer(a, "customer"));
        return 1;
    case STEP_RECEIPT:
        form_receipt(in, s, out, a);
        return 1;
    case STEP_APPROVE:
        form_approve(in, s, out, a);
        return 1;
    case STEP_QUEUE:
        return form_queue(in, out, a);
    case STEP_Q_DISMISS:
        form_dismiss(in, s, out, a);
        return 1;
    case STEP_CLAIM:
        form_claim(s, out, a);
        return 1;
    case STEP_C_ENTRY:
        form_correct(in, s, out, a);
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
        if (!choose_member(in, s, a, out))
            return 1;
        if (s->receipt[0]) {
            /* Receipt known (scanned code, claim): check it now. */
            tp_answers r;
            memset(&r, 0, sizeof r);
            r.n = 1;
            tp_copy(r.id[0], sizeof r.id[0], "receipt");
            tp_copy(r.value[0], sizeof r.value[0], s->receipt);
            if (!choose_receipt(in, s, &r, out)) {
                s->step = STEP_RECEIPT;
                return 1;
            }
            s->step = STEP_APPROVE;
            form_approve(in, s, out, NULL);
            return 1;
        }
        s->step = STEP_RECEIPT;
        form_receipt(in, s, out, NULL);
        return 1;
    case STEP_RECEIPT:
        if (!choose_receipt(in, s, a, out))
            return 1;
        s->step = STEP_APPROVE;
        form_approve(in, s, out, NULL);
        return 1;
    case STEP_APPROVE:
        return approve_retro(in, s, a, out);
    case STEP_QUEUE:
        return resolve_queue(in, s, a, out);
    case STEP_Q_DISMISS:
        return do_dismiss(in, s, a, out);
    case STEP_CLAIM:
        return park_claim(in, s, a, out);
    case STEP_C_ENTRY:
        return do_correct(in, s, a, out);
    default:
        dismiss(out, 0, "This form is finished.");
        return 0;
    }
}
