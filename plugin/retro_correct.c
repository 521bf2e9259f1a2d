/*
 * retro_correct.c — "correct-credit" (docs/DESIGN.md §6): a credit given
 * to the wrong customer is reversed and given to the right one in one
 * transaction, with a manager's approval and both entries audited.
 */
#include "retro.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "audit.h"
#include "currency.h"
#include "ledger.h"
#include "managers.h"
#include "members.h"
#include "payload.h"
#include "retroflow.h"
#include "rules.h"
#include "util.h"

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

void tp_retro_form_correct(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep)
{
    tp_copy(out->title, sizeof out->title, "Correct a credit given to the wrong customer");
    tp_uform_add(out, "receipt", TP_FIELD_TEXT, "Receipt of the credit",
                 keep ? tp_retro_answer(keep, "receipt") : s->receipt, 1, TP_RECEIPT_ID_MAX);
    tp_uform_add(out, "customer", TP_FIELD_TEXT, "The right customer (phone, email, code or name)",
                 keep ? tp_retro_answer(keep, "customer") : "", 1, 128);
    tp_retro_approval_fields(in, s, out, keep);
    tp_buf_set(out->submit, sizeof out->submit, "Move the %s", tp_retro_unit_word(in, 2));
}

int tp_retro_do_correct(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char receipt[TP_RECEIPT_ID_MAX + 1], reason[TP_REASON_MAX + 1], err[TP_MESSAGE_MAX];
    tp_copy(receipt, sizeof receipt, tp_retro_answer(a, "receipt"));
    tp_retro_trim(receipt);
    tp_copy(reason, sizeof reason, tp_retro_answer(a, "reason"));
    tp_retro_trim(reason);
    tp_copy(s->receipt, sizeof s->receipt, receipt);
    credit_entry c;
    int f = find_credit(in, receipt, &c);
    if (f != 1) {
        tp_retro_form_correct(in, s, out, a);
        tp_buf_set(err, sizeof err, "Receipt %s has no credit to correct.", receipt);
        tp_retro_form_error(out, "receipt", err);
        return 1;
    }
    int64_t moving = c.points - c.reversed;
    if (moving <= 0) {
        tp_retro_form_correct(in, s, out, a);
        tp_buf_set(err, sizeof err, "The credit for receipt %s was already reversed.", receipt);
        tp_retro_form_error(out, "receipt", err);
        return 1;
    }
    tp_uform probe;
    memset(&probe, 0, sizeof probe);
    if (!tp_retro_choose_member(in, s, a, &probe)) {
        /* Show the matches (or the error) on the correction form. */
        tp_retro_form_correct(in, s, out, a);
        tp_ufield *src = tp_uform_field(&probe, "member");
        if (src) {
            tp_ufield *dst = tp_uform_add(out, "member", TP_FIELD_RESULTS, src->label, "", 1, 0);
            if (dst) {
                for (int i = 0; i < src->n_choices; i++)
                    tp_ufield_choice(dst, src->ckey[i], src->clabel[i]);
            }
        } else {
            tp_ufield *cf = tp_uform_field(&probe, "customer");
            tp_retro_form_error(out, "customer", cf ? cf->error : "Find the right customer.");
        }
        return 1;
    }
    tp_retro_form_correct(in, s, out, a);
    if (s->member_id == c.member_id) {
        tp_retro_form_error(out, "customer", "That is the member who has the credit already.");
        return 1;
    }
    tp_message why;
    approval ap;
    if (tp_retro_begin_approved(in, s, a, reason, &ap, out) != 0)
        return 1;
    const char *approver = ap.approver;
    /* The credit as it is now, under the write lock. */
    credit_entry current;
    if (find_credit(in, receipt, &current) != 1 || current.id != c.id ||
        current.points - current.reversed != moving) {
        tp_store_rollback(in->admin_store);
        tp_buf_set(err, sizeof err, "The credit for receipt %s changed meanwhile; look again.",
                   receipt);
        tp_retro_form_error(out, "receipt", err);
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
        tp_msg_set(&why, "The reversal could not be written: %s.",
                   tp_store_errmsg(in->admin_store));
    if (st == TP_OK && !in->cfg.allow_negative_balance) {
        /* A balance that cannot be read is not taken for a good one. */
        tp_member_row wrong;
        st = tp_store_member_by_id(in->admin_store, c.member_id, &wrong, &why);
        if (st == TP_OK && wrong.balance < 0) {
            tp_msg_set(&why,
                       "Member %s has already spent some of these %s (balance would be "
                       "%lld); adjust their balance first.",
                       c.member_code, tp_retro_unit_word(in, 2), (long long)wrong.balance);
            st = TP_ERR_STATE;
        }
    }
    if (st == TP_OK)
        st = tp_ledger_append_manual(in->admin_store, &in->cfg, s->member_id, s->member_code,
                                     "retro", ckey, moving, s->staff, reason, NULL, NULL, &why);
    char detail[200];
    tp_buf_set(detail, sizeof detail, "moved from %s to %s (entry %lld)%s", c.member_code,
               s->member_code, (long long)c.id, tp_retro_approval_note(&ap));
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "correction", .actor = s->staff,
                        .approver = approver, .member = s->member_code,
                        .location = in->cfg.location, .receipt = receipt, .points = moving,
                        .reason = reason, .detail = detail};
    if (st == TP_OK)
        st = tp_audit_append(in->admin_store, &e, &why);
    if (st != TP_OK || tp_store_commit(in->admin_store, &why) != TP_OK) {
        if (st != TP_OK)
            tp_store_rollback(in->admin_store);
        tp_retro_form_error(out, NULL, why.text);
        return 1;
    }
    tp_retro_dismiss(out, 1, "Moved %lld %s of receipt %s from %s to %s.", (long long)moving,
            tp_retro_unit_word(in, moving), receipt, c.member_code, s->member_label);
    return 0;
}
