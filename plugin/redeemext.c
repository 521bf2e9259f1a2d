/*
 * redeemext.c — the "tillpoints.redeem/1" extension (ext/redeem.h): a
 * manager's reversal of a redemption, and (overdrafts.c) the overdrafts
 * the central database reported.
 *
 * The reversal moves points, so it takes what a retro credit takes: an
 * enrolled manager's PIN, checked with the same policy, failure counter
 * and lockout (managers.h: the Argon2id hash outside the lock, the
 * failure recorded in the write transaction), whatever the host claims;
 * the entry and its audit record "redeem.reverse" are one transaction.
 */
#include <string.h>

#include <sqlite3.h>

#include "abi.h"
#include "audit.h"
#include "instance.h"
#include "ledger.h"
#include "managers.h"
#include "overdrafts.h"
#include "spend.h"
#include "util.h"

static tp_status check_request(const tp_redeem_reversal *r, tp_message *msg)
{
    if (!r->receipt || !*r->receipt) {
        tp_msg_set(msg, "Say which receipt's redemption to reverse.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (!r->approver || !*r->approver || !r->pin) {
        tp_msg_set(msg, "A reversal needs the approving manager's id and PIN.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = tp_check_text(r->receipt, TP_RECEIPT_ID_MAX, "receipt number", msg);
    if (st == TP_OK && r->location && *r->location)
        st = tp_check_text(r->location, TP_LOCATION_MAX, "location", msg);
    if (st == TP_OK)
        st = tp_ledger_check_texts(r->reason, NULL, r->staff, msg);
    if (st == TP_OK)
        st = tp_check_text(r->approver, TP_MANAGER_ID_MAX, "manager id", msg);
    return st;
}

static tp_status rx_reverse(const tp_plugin *plugin, const tp_redeem_reversal *given,
                            tp_activity_row *entry, tp_message *msg)
{
    tp_instance *in;
    tp_status st = tp_instance_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!given) {
        tp_msg_set(msg, "No reversal was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_redeem_reversal r;
    if ((st = tp_abi_read_in(&r, sizeof r, given, TP_MIN_REDEEM_REVERSAL, "tp_redeem_reversal",
                             msg)) != TP_OK ||
        (entry &&
         (st = tp_abi_check_out(entry, TP_MIN_ACTIVITY_ROW, "tp_activity_row", msg)) != TP_OK) ||
        (st = check_request(&r, msg)) != TP_OK)
        return st;
    const char *location = r.location && *r.location ? r.location : in->cfg.location;
    tp_manager_policy pol = {.max_failures = in->cfg.retro.pin_max_failures,
                             .lockout_ms = in->cfg.retro.pin_lockout_ms,
                             .min_digits = in->cfg.retro.pin_min_digits};
    tp_pin_attempt a;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_manager_pin_lookup(in->admin_store, &pol, r.approver, r.pin, tp_now_ms(), &a, msg);
    pthread_mutex_unlock(&in->admin_lock);
    if (st != TP_OK)
        return st;
    tp_manager_pin_hash(&a, r.pin); /* the slow part, outside every lock */

    pthread_mutex_lock(&in->admin_lock);
    tp_store *s = in->admin_store;
    int64_t now = tp_now_ms();
    int locked_now = 0;
    tp_message why, err;
    tp_msg_clear(&why);
    tp_msg_clear(&err);
    if ((st = tp_store_begin(s, &why)) == TP_OK)
        st = tp_manager_pin_record(s, &pol, &a, now, &locked_now, &why);
    tp_audit_entry e = {.time_ms = now, .actor = r.staff, .approver = a.id, .location = location,
                        .receipt = r.receipt, .reason = r.reason};
    int64_t id = 0, points = 0;
    char member[TP_MEMBER_CODE_MAX + 1] = "";
    tp_status ast = TP_OK;
    if (st == TP_OK) {
        st = tp_spend_reverse_in_txn(s, &in->cfg, location, r.receipt, r.staff, r.reason, &id,
                                     &points, member, sizeof member, &why);
        if (st == TP_OK) {
            e.action = "redeem.reverse";
            e.member = member;
            e.points = points;
            e.detail = "points a redemption spent, given back";
            ast = tp_audit_append(s, &e, &err);
        }
    } else if (st == TP_ERR_WRONG_PIN || (st == TP_ERR_LOCKED_OUT && locked_now)) {
        e.action = "pin.failure";
        e.detail = a.known ? "wrong PIN reversing a redemption"
                           : "no such manager reversing a redemption";
        ast = tp_audit_append(s, &e, &err);
        if (ast == TP_OK && locked_now) {
            e.action = "pin.lockout";
            e.detail = "locked after repeated wrong PINs";
            ast = tp_audit_append(s, &e, &err);
        }
    }
    /* A wrong PIN is kept (the counter and the record); a refused or
     * failed reversal writes nothing else. */
    int keep = ast == TP_OK && (st == TP_OK || st == TP_ERR_WRONG_PIN ||
                                (st == TP_ERR_LOCKED_OUT && locked_now));
    if (st == TP_OK && ast == TP_OK && entry) {
        tp_activity_row row;
        if ((ast = tp_ledger_read_entry(s, id, &row, &err)) == TP_OK)
            tp_abi_write_out(entry, &row, sizeof row);
    }
    if (keep && tp_store_commit(s, &err) == TP_OK) {
        pthread_mutex_unlock(&in->admin_lock);
        if (st == TP_OK)
            tp_msg_set(msg, "%lld points of receipt %s are back with %s.", (long long)points,
                       r.receipt, member);
        else
            tp_msg_set(msg, "%s", why.text);
        return st;
    }
    if (sqlite3_get_autocommit(tp_store_db(s)) == 0)
        tp_store_rollback(s);
    pthread_mutex_unlock(&in->admin_lock);
    if (ast != TP_OK || st == TP_OK) {
        tp_msg_set(msg, "%s", err.text[0] ? err.text : "The reversal could not be saved.");
        return TP_ERR_STORAGE;
    }
    tp_msg_set(msg, "%s", why.text);
    return st;
}

const tp_redeem_ext tp_redeem_extension = {
    .struct_size = sizeof(tp_redeem_ext),
    .reverse = rx_reverse,
    .overdrafts = tp_overdrafts_list,
};
