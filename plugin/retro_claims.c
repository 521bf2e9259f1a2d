/*
 * retro_claims.c — missed-scan claims (docs/DESIGN.md §6): parking one at
 * checkout ("missed-scan-claim", no points, no approval), and the queue
 * ("missed-scan-queue"): crediting an open claim through the visit flow,
 * or dismissing it with a reason and a manager's approval.
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

/* ---- missed-scan claims -------------------------------------------------------- */

void tp_retro_form_claim(tp_session *s, tp_uform *out, const tp_answers *keep)
{
    tp_copy(out->title, sizeof out->title, "Customer will claim this visit later");
    tp_uform_add(out, "receipt_info", TP_FIELD_INFO, "Receipt", s->receipt, 0, 0);
    tp_uform_add(out, "phone", TP_FIELD_TEXT, "Customer's phone (optional)",
                 keep ? tp_retro_answer(keep, "phone") : "", 0, 32);
    tp_uform_add(out, "email", TP_FIELD_TEXT, "Customer's email (optional)",
                 keep ? tp_retro_answer(keep, "email") : "", 0, TP_EMAIL_MAX);
    tp_uform_add(out, "note", TP_FIELD_TEXT, "Note (optional)",
                 keep ? tp_retro_answer(keep, "note") : "", 0, 200);
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

int tp_retro_park_claim(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    tp_retro_form_claim(s, out, a);
    char phone[TP_PHONE_MAX + 1] = "", email[TP_EMAIL_MAX + 1] = "";
    tp_message why;
    if (*tp_retro_answer(a, "phone") && tp_normalise_phone(tp_retro_answer(a, "phone"),
                                                  in->cfg.default_country_code, phone,
                                                  sizeof phone, &why) != TP_OK) {
        tp_retro_form_error(out, "phone", why.text);
        return 1;
    }
    if (*tp_retro_answer(a, "email") &&
        tp_normalise_email(tp_retro_answer(a, "email"), email, sizeof email, &why) != TP_OK) {
        tp_retro_form_error(out, "email", why.text);
        return 1;
    }
    /* The sale was completed a moment ago: let the writer journal it. */
    wait_for_writer(in, 3000);
    journal_row j;
    if (tp_store_begin(in->admin_store, &why) != TP_OK) {
        tp_retro_form_error(out, NULL, why.text);
        return 1;
    }
    if (tp_retro_read_journal(in, in->cfg.location, s->receipt, &j) != 0 || !j.found) {
        char err[TP_MESSAGE_MAX];
        tp_store_rollback(in->admin_store);
        tp_buf_set(err, sizeof err, "Receipt %s is not in this till's journal; complete the sale "
                   "first.", s->receipt);
        tp_retro_form_error(out, NULL, err);
        return 1;
    }
    if (j.credited_entry) {
        tp_store_rollback(in->admin_store);
        tp_retro_dismiss(out, 0, "Receipt %s already earned %s; there is nothing to claim.",
                         s->receipt, tp_retro_unit_word(in, 2));
        return 0;
    }
    static const char sql[] =
        "INSERT INTO claims(location, receipt, created_ms, staff,"
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
        sqlite3_bind_text(q, 7, tp_retro_answer(a, "note"), -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        tp_store_rollback(in->admin_store);
        tp_retro_dismiss(out, 0,
                         "A claim for receipt %s is already waiting in the managers' queue.",
                         s->receipt);
        return 0;
    }
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "claim.park", .actor = s->staff,
                        .location = in->cfg.location, .receipt = s->receipt,
                        .detail = tp_retro_answer(a, "note")};
    if (rc != SQLITE_DONE || tp_audit_append(in->admin_store, &e, &why) != TP_OK ||
        tp_store_commit(in->admin_store, &why) != TP_OK) {
        tp_store_rollback(in->admin_store);
        tp_retro_form_error(out, NULL, "The claim could not be saved; try again.");
        return 1;
    }
    tp_retro_dismiss(out, 1,
                     "Claim parked for receipt %s; a manager can credit it from the missed-scan "
                     "queue.",
                     s->receipt);
    return 0;
}

int tp_retro_form_queue(tp_instance *in, tp_uform *out, const tp_answers *keep)
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
        tp_retro_mask_phone(phone, sizeof phone, (const char *)sqlite3_column_text(q, 3));
        tp_retro_mask_email(email, sizeof email, (const char *)sqlite3_column_text(q, 4));
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
                 keep ? tp_retro_answer(keep, "dismiss_reason") : "", 0, TP_REASON_MAX);
    tp_copy(out->submit, sizeof out->submit, "Resolve");
    return 1;
}

void tp_retro_form_dismiss(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep)
{
    tp_buf_set(out->title, sizeof out->title, "Missed-scan queue: dismiss the claim for %s",
               s->receipt);
    tp_uform_add(out, "receipt_info", TP_FIELD_INFO, "Receipt", s->receipt, 0, 0);
    tp_retro_approval_fields(in, s, out, keep);
    tp_copy(out->submit, sizeof out->submit, "Dismiss the claim");
}

int tp_retro_do_dismiss(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    char reason[TP_REASON_MAX + 1];
    tp_copy(reason, sizeof reason, tp_retro_answer(a, "reason"));
    tp_retro_trim(reason);
    tp_retro_form_dismiss(in, s, out, a);
    approval ap;
    if (tp_retro_begin_approved(in, s, a, reason, &ap, out) != 0)
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
        tp_retro_dismiss(out, 0,
                         "The claim for receipt %s was already resolved; nothing was changed.",
                         s->receipt);
        return 0;
    }
    char detail[120];
    tp_buf_set(detail, sizeof detail, "claim %lld%s", (long long)s->claim_id,
               tp_retro_approval_note(&ap));
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "claim.dismiss", .actor = s->staff,
                        .approver = ap.approver, .location = in->cfg.location,
                        .receipt = s->receipt, .reason = reason, .detail = detail};
    tp_message why;
    if (rc != SQLITE_DONE || tp_audit_append(in->admin_store, &e, &why) != TP_OK ||
        tp_store_commit(in->admin_store, &why) != TP_OK) {
        tp_store_rollback(in->admin_store);
        tp_retro_form_error(out, NULL, "The claim could not be dismissed; try again.");
        return 1;
    }
    tp_retro_dismiss(out, 1, "Claim for receipt %s dismissed: %s.", s->receipt, reason);
    return 0;
}

int tp_retro_resolve_queue(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out)
{
    const char *pick = tp_retro_answer(a, "claim");
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
        if (!tp_retro_form_queue(in, out, a)) {
            tp_retro_dismiss(out, 0, "There are no open claims.");
            return 0;
        }
        tp_retro_form_error(out, "claim", "Pick a claim from the list.");
        return 1;
    }
    char reason[TP_REASON_MAX + 1];
    tp_copy(reason, sizeof reason, tp_retro_answer(a, "dismiss_reason"));
    tp_retro_trim(reason);
    s->claim_id = id;
    if (reason[0]) {
        /* Dismissing closes the claim for good: an approval step. */
        tp_answers keep;
        memset(&keep, 0, sizeof keep);
        keep.n = 1;
        tp_copy(keep.id[0], sizeof keep.id[0], "reason");
        tp_copy(keep.value[0], sizeof keep.value[0], reason);
        s->step = STEP_Q_DISMISS;
        tp_retro_form_dismiss(in, s, out, &keep);
        return 1;
    }
    /* The claim's receipt is checked now, before the customer is asked
     * for (and again when the credit is written). */
    char err[TP_MESSAGE_MAX];
    const char *refusal = tp_retro_known_receipt_refusal(in, s->receipt, err, sizeof err);
    if (refusal) {
        char text[TP_MESSAGE_MAX];
        tp_buf_set(text, sizeof text, "%s To close the claim, dismiss it with a reason.",
                   refusal);
        tp_retro_form_queue(in, out, a);
        tp_retro_form_error(out, "claim", text);
        s->claim_id = 0;
        return 1;
    }
    /* Credit it: the retro flow with the receipt known. */
    s->flow = FLOW_RETRO;
    s->step = STEP_FIND;
    tp_copy(s->prefill_customer, sizeof s->prefill_customer, contact);
    tp_retro_form_find(s, out, contact);
    return 1;
}
