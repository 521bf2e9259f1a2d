/*
 * retro_visit.c — the "retro-visit" flow's own steps (docs/DESIGN.md §6):
 * picking the journaled receipt (or a manual one), the approving
 * manager's daily cap, and the credit itself, re-checked in the
 * transaction that writes it. The steps it shares with the other flows
 * (finding the customer, approval) are in retro.c.
 */
#include "retro.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "audit.h"
#include "balance.h"
#include "currency.h"
#include "ledger.h"
#include "managers.h"
#include "members.h"
#include "payload.h"
#include "retroflow.h"
#include "rules.h"
#include "util.h"

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

void tp_retro_form_receipt(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep)
{
    tp_copy(out->title, sizeof out->title, "Missed visit: pick the receipt");
    tp_uform_add(out, "who", TP_FIELD_INFO, "Customer", s->member_label, 0, 0);
    tp_uform_add(out, "receipt", TP_FIELD_TEXT, "Receipt number, or scan the receipt's code",
                 keep ? tp_retro_answer(keep, "receipt") : s->receipt, 0, 160);
    char label[96];
    tp_buf_set(label, sizeof label, "Or pick one of this store's recent receipts without %s",
               tp_retro_unit_word(in, 2));
    tp_ufield *recent = tp_uform_add(out, "recent", TP_FIELD_RESULTS, label, "", 0, 0);
    add_recent(in, recent);
    tp_uform_add(out, "amount", TP_FIELD_MONEY,
                 "Amount on the receipt (optional; it must match the journal)",
                 keep ? tp_retro_answer(keep, "amount") : "", 0, 16);
    if (in->cfg.retro.allow_manual)
        tp_uform_add(out, "manual_amount", TP_FIELD_MONEY,
                     "Receipt not in this till's journal? Its eligible amount (manual credit)",
                     keep ? tp_retro_answer(keep, "manual_amount") : "", 0, 16);
    tp_copy(out->submit, sizeof out->submit, "Next");
}

/* Resolves the receipt answers; 1 when a creditable receipt is chosen. */
int tp_retro_choose_receipt(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char text[TP_FIELD_VALUE_MAX + 1], err[TP_MESSAGE_MAX];
    tp_copy(text, sizeof text,
            *tp_retro_answer(a, "recent") ? tp_retro_answer(a, "recent")
                                          : tp_retro_answer(a, "receipt"));
    tp_retro_trim(text);
    const char *field = *tp_retro_answer(a, "recent") ? "recent" : "receipt";
    char receipt[TP_RECEIPT_ID_MAX + 1] = "";
    char location[TP_CFG_ID_MAX + 1];
    tp_copy(location, sizeof location, in->cfg.location);
    if (strncmp(text, "TPR1|", 5) == 0) {
        tp_payload pl;
        if (tp_payload_parse(&in->cfg.scan, text, strlen(text), tp_now_ms(), &pl, err,
                             sizeof err) != TP_OK || pl.kind != TP_PAYLOAD_RECEIPT) {
            tp_retro_form_receipt(in, s, out, a);
            tp_retro_form_error(out, "receipt", err);
            return 0;
        }
        tp_copy(receipt, sizeof receipt, pl.receipt_id);
        tp_copy(location, sizeof location, pl.location);
    } else if (tp_copy(receipt, sizeof receipt, text) != 0 ||
               !tp_is_printable(receipt, strlen(receipt))) {
        tp_retro_form_receipt(in, s, out, a);
        tp_retro_form_error(out, "receipt", "That is not a receipt number.");
        return 0;
    }
    if (!receipt[0]) {
        tp_retro_form_receipt(in, s, out, a);
        tp_retro_form_error(out, "receipt",
                            "Type the receipt number, scan its code, or pick one below.");
        return 0;
    }
    if (strcmp(location, in->cfg.location) != 0) {
        tp_retro_form_receipt(in, s, out, a);
        tp_buf_set(err, sizeof err, "That receipt is from %s; credit it at that store.", location);
        tp_retro_form_error(out, "receipt", err);
        return 0;
    }
    journal_row j;
    if (tp_retro_read_journal(in, location, receipt, &j) != 0) {
        tp_retro_form_receipt(in, s, out, a);
        tp_retro_form_error(out, NULL, "The journal cannot be read right now; try again.");
        return 0;
    }
    int ok = 0;
    const char *manual = tp_retro_answer(a, "manual_amount");
    if (!j.found) {
        if (in->cfg.retro.allow_manual && *manual) {
            int64_t amount = tp_retro_parse_money_text(in, manual, &ok);
            if (!ok || amount <= 0) {
                tp_retro_form_receipt(in, s, out, a);
                char example[32], sentence[80];
                tp_format_money(example, sizeof example, 1250, in->cfg.currency);
                tp_buf_set(sentence, sizeof sentence, "Type the amount like %s.", example);
                tp_retro_form_error(out, "manual_amount", sentence);
                return 0;
            }
            s->manual = 1;
            s->manual_amount = amount;
            tp_copy(s->receipt, sizeof s->receipt, receipt);
            return 1;
        }
        tp_retro_form_receipt(in, s, out, a);
        tp_buf_set(err, sizeof err, "Receipt %s is not in this till's journal%s.", receipt,
                   in->cfg.retro.allow_manual ? "; for a manual credit give its amount below"
                                              : "; only journaled receipts can be credited here");
        tp_retro_form_error(out, field, err);
        return 0;
    }
    const char *refusal = tp_retro_receipt_refusal(in, receipt, &j, err, sizeof err);
    if (refusal) {
        tp_retro_form_receipt(in, s, out, a);
        tp_retro_form_error(out, field, refusal);
        return 0;
    }
    const char *typed = tp_retro_answer(a, "amount");
    if (*typed) {
        int64_t amount = tp_retro_parse_money_text(in, typed, &ok);
        if (!ok || (amount != j.total && amount != j.eligible)) {
            char money[32];
            tp_format_money(money, sizeof money, j.total, in->cfg.currency);
            tp_retro_form_receipt(in, s, out, a);
            tp_buf_set(err, sizeof err, "The journal has %s %s for receipt %s, not %s; check the "
                       "receipt.", money, in->cfg.currency, receipt, typed);
            tp_retro_form_error(out, "amount", err);
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


int tp_retro_approve_retro(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char reason[TP_REASON_MAX + 1];
    tp_copy(reason, sizeof reason, tp_retro_answer(a, "reason"));
    tp_retro_trim(reason);
    int64_t points = tp_retro_form_approve(in, s, out, a);
    tp_message why;
    approval ap;
    if (tp_retro_begin_approved(in, s, a, reason, &ap, out) != 0)
        return 1;
    const char *approver = ap.approver;
    char err[TP_MESSAGE_MAX];
    /* Re-check against the journal as it is now. */
    journal_row j;
    if (!s->manual) {
        if (tp_retro_read_journal(in, in->cfg.location, s->receipt, &j) != 0 || !j.found) {
            tp_store_rollback(in->admin_store);
            tp_retro_form_error(out, NULL, "The receipt is no longer in the journal.");
            return 1;
        }
        const char *refusal = tp_retro_receipt_refusal(in, s->receipt, &j, err, sizeof err);
        if (refusal) {
            tp_retro_deny(in, s, approver, points, refusal, out);
            return 1;
        }
        points = tp_retro_retro_points(in, &j);
    }
    if (points <= 0) {
        char none[TP_MESSAGE_MAX];
        int64_t eligible = s->manual ? s->manual_amount : j.eligible - j.refunded;
        if (tp_rules_why_none(&in->cfg.rules, s->manual ? s->manual_amount : j.total, eligible,
                              in->cfg.currency, none, sizeof none))
            tp_buf_set(err, sizeof err, "Receipt %s earns no %s: %s.", s->receipt,
                       tp_retro_unit_word(in, 2), none);
        else
            tp_buf_set(err, sizeof err, "Receipt %s earns no %s under the current rules.",
                       s->receipt, tp_retro_unit_word(in, 2));
        tp_retro_deny(in, s, approver, 0, err, out);
        return 1;
    }
    int64_t cap = s->manual ? in->cfg.retro.manual_max_points
                            : in->cfg.retro.max_points_per_credit;
    if (points > cap) {
        tp_buf_set(err, sizeof err,
                   "%lld %s is more than one %s credit may carry (%lld); "
                   "use an adjustment with a reason instead.",
                   (long long)points, tp_retro_unit_word(in, points),
                   s->manual ? "manual" : "retroactive", (long long)cap);
        tp_retro_deny(in, s, approver, points, err, out);
        return 1;
    }
    int64_t today = approved_today(in, approver);
    if (today < 0 || today + points > in->cfg.retro.max_points_per_manager_day) {
        tp_buf_set(err, sizeof err,
                   "Manager %s has approved %lld %s today; with %lld more "
                   "that is above the daily limit of %lld.",
                   approver, (long long)today, tp_retro_unit_word(in, today), (long long)points,
                   (long long)in->cfg.retro.max_points_per_manager_day);
        tp_retro_deny(in, s, approver, points, err, out);
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
               s->receipt, tp_retro_approval_note(&ap));
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "retro.credit", .actor = s->staff,
                        .approver = approver, .member = s->member_code,
                        .location = in->cfg.location, .receipt = key, .points = points,
                        .reason = reason, .detail = detail};
    if (st == TP_OK)
        st = tp_audit_append(in->admin_store, &e, &why);
    if (st == TP_OK && s->claim_id) {
        static const char sql[] =
            "INSERT INTO claim_resolutions(claim_id, resolved_ms, outcome,"
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
            tp_msg_set(&why, "The claim could not be closed: %s.",
                       tp_store_errmsg(in->admin_store));
        }
    }
    if (st != TP_OK || tp_store_commit(in->admin_store, &why) != TP_OK) {
        if (st != TP_OK)
            tp_store_rollback(in->admin_store);
        tp_retro_form_error(out, NULL, why.text);
        return 1;
    }
    /* The credit is committed; the balance is only shown when it can be
     * read back (never a value from a failed lookup). */
    tp_member_row m;
    tp_balance b; /* the balance to show (balance.h) */
    if (tp_store_member_by_id(in->admin_store, s->member_id, &m, &why) == TP_OK &&
        tp_balance_get(in->admin_store, &in->cfg, NULL, m.code, m.balance, &b, &why) == TP_OK)
        tp_retro_dismiss(out, 1, "Credited %lld %s to %s for receipt %s%s; balance %lld.",
                (long long)points, tp_retro_unit_word(in, points), s->member_label, s->receipt,
                s->manual ? " (manual)" : "", (long long)b.shown);
    else
        tp_retro_dismiss(out, 1, "Credited %lld %s to %s for receipt %s%s.", (long long)points,
                         tp_retro_unit_word(in, points), s->member_label, s->receipt,
                         s->manual ? " (manual)" : "");
    return 0;
}
