/*
 * admin.c — the manager-side extensions (ext/members.h, ledger.h,
 * transfer.h, managers.h, queue.h): sizes and strides at the boundary
 * (abi.h), argument checks and the admin connection's lock; the work is in
 * members.c, ledger.c, bulk.c, csvio.c, managers.c and outbox.c. Calls are
 * blocking and serialised by admin_lock.
 */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "abi.h"
#include "balance.h"
#include "csvio.h"
#include "audit.h"
#include "instance.h"
#include "managers.h"
#include "ledger.h"
#include "members.h"
#include "outbox.h" /* sync: */
#include "sync.h"   /* sync: */
#include "tillpoints/ext/admin.h"
#include "util.h"
#include "verify.h"

static tp_status admin_ready(const tp_plugin *plugin, tp_instance **in, tp_message *msg)
{
    return tp_instance_ready(plugin, in, msg);
}

/* admin_ready, plus the caller's place for the answer must exist. */
static tp_status admin_ready_for(const tp_plugin *plugin, tp_instance **in, const void *out,
                                 tp_message *msg)
{
    tp_status st = admin_ready(plugin, in, msg);
    if (st == TP_OK && !out) {
        tp_msg_set(msg, "No place for the answer was given.");
        st = TP_ERR_INVALID_ARGUMENT;
    }
    return st;
}

#define LOCKED_VOID(in, call)                                                                 \
    do {                                                                                      \
        pthread_mutex_lock(&(in)->admin_lock);                                                \
        if ((call) != TP_OK) { /* best effort: the caller's answer stands */                  \
        }                                                                                     \
        pthread_mutex_unlock(&(in)->admin_lock);                                              \
    } while (0)

#define LOCKED(in, call)                                                                      \
    do {                                                                                      \
        pthread_mutex_lock(&(in)->admin_lock);                                                \
        st = (call);                                                                          \
        pthread_mutex_unlock(&(in)->admin_lock);                                              \
    } while (0)

static tp_status check_code(const char *code, const char *what, tp_message *msg)
{
    size_t n = code ? tp_bounded_len(code, TP_MEMBER_CODE_MAX) : 0;
    if (n == (size_t)-1 || !tp_is_member_code(code, n, NULL)) {
        tp_msg_set(msg, "The %s must be 1 to %d letters, digits, '-', '_' or '.'.", what,
                   TP_MEMBER_CODE_MAX);
        return n == (size_t)-1 ? TP_ERR_TOO_LONG : TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

static tp_status admin_member_add(const tp_plugin *plugin, const tp_member_new *given,
                                  tp_member_info *out, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!given) {
        tp_msg_set(msg, "No member was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_member_new local;
    const tp_member_new *m = &local;
    if ((st = tp_abi_read_in(&local, sizeof local, given, TP_MIN_MEMBER_NEW, "tp_member_new",
                             msg)) != TP_OK ||
        (out && (st = tp_abi_check_out(out, TP_MIN_MEMBER_INFO, "tp_member_info", msg)) != TP_OK))
        return st;
    if ((st = check_code(m->code, "member code", msg)) != TP_OK ||
        (st = tp_payload_code_scannable(&in->cfg.scan, m->code, msg->text, sizeof msg->text)) !=
            TP_OK ||
        (m->app_id && *m->app_id && (st = check_code(m->app_id, "app id", msg)) != TP_OK) ||
        (st = tp_check_text(m->name, TP_NAME_MAX, "name", msg)) != TP_OK)
        return st;
    char phone[TP_PHONE_MAX + 1] = "", email[TP_EMAIL_MAX + 1] = "";
    if (m->phone && *m->phone &&
        (st = tp_normalise_phone(m->phone, in->cfg.default_country_code, phone, sizeof phone,
                                 msg)) != TP_OK)
        return st;
    if (m->email && *m->email &&
        (st = tp_normalise_email(m->email, email, sizeof email, msg)) != TP_OK)
        return st;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_store_add_member(in->admin_store, m->code, m->name, phone[0] ? phone : NULL,
                             email[0] ? email : NULL, m->app_id, tp_now_ms(), msg);
    tp_member_row row;
    tp_member_info info;
    if (st == TP_OK && out &&
        (st = tp_store_find_member(in->admin_store, m->code, &row, msg)) == TP_OK &&
        (st = tp_members_info(in->admin_store, &in->cfg, in->sync, &row, &info, msg)) == TP_OK)
        tp_abi_write_out(out, &info, sizeof info);
    pthread_mutex_unlock(&in->admin_lock);
    return st;
}

static tp_status admin_member_add_card(const tp_plugin *plugin, const char *member,
                                       const char *card, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    LOCKED(in, tp_members_add_card(in->admin_store, &in->cfg, member, card, msg));
    return st;
}

static tp_status admin_member_get(const tp_plugin *plugin, const char *key, tp_member_info *out,
                                  tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready_for(plugin, &in, out, msg);
    if (st != TP_OK ||
        (st = tp_abi_check_out(out, TP_MIN_MEMBER_INFO, "tp_member_info", msg)) != TP_OK)
        return st;
    tp_member_row row;
    tp_member_info info;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_members_resolve(in->admin_store, &in->cfg, key, &row, msg);
    if (st == TP_OK)
        st = tp_members_info(in->admin_store, &in->cfg, in->sync, &row, &info, msg);
    pthread_mutex_unlock(&in->admin_lock);
    if (st == TP_OK)
        tp_abi_write_out(out, &info, sizeof info);
    return st;
}

static tp_status admin_member_find(const tp_plugin *plugin, const char *query,
                                   tp_member_info *out, size_t cap, size_t stride,
                                   size_t *count, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!out || !count || cap == 0) {
        tp_msg_set(msg, "No place for the answers was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_abi_check_stride(stride, TP_MIN_MEMBER_INFO, "tp_member_info", msg)) != TP_OK)
        return st;
    LOCKED(in,
           tp_members_find(in->admin_store, &in->cfg, in->sync, query, out, cap, stride, count,
                           msg));
    return st;
}

static tp_status admin_activity(const tp_plugin *plugin, const tp_activity_query *given,
                                tp_activity_row *rows, size_t cap, size_t stride,
                                size_t *count, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!given || !rows || !count) {
        tp_msg_set(msg, "A query and a place for the rows are needed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_activity_query q;
    if ((st = tp_abi_read_in(&q, sizeof q, given, TP_MIN_ACTIVITY_QUERY, "tp_activity_query",
                             msg)) != TP_OK ||
        (st = tp_abi_check_stride(stride, TP_MIN_ACTIVITY_ROW, "tp_activity_row", msg)) != TP_OK)
        return st;
    LOCKED(in,
           tp_ledger_activity(in->admin_store, &in->cfg, &q, rows, cap, stride, count, msg));
    return st;
}

static tp_status admin_adjust(const tp_plugin *plugin, const tp_adjustment *given,
                              tp_activity_row *entry, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!given) {
        tp_msg_set(msg, "No adjustment was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_adjustment adj;
    if ((st = tp_abi_read_in(&adj, sizeof adj, given, TP_MIN_ADJUSTMENT, "tp_adjustment",
                             msg)) != TP_OK ||
        (entry &&
         (st = tp_abi_check_out(entry, TP_MIN_ACTIVITY_ROW, "tp_activity_row", msg)) != TP_OK))
        return st;
    tp_activity_row row;
    LOCKED(in, tp_ledger_adjust(in->admin_store, &in->cfg, &adj, entry ? &row : NULL, msg));
    if (st == TP_OK && entry)
        tp_abi_write_out(entry, &row, sizeof row);
    return st;
}

static tp_status admin_bulk_adjust(const tp_plugin *plugin, const tp_bulk_adjustment *given,
                                   tp_progress_fn progress, void *user, tp_bulk_result *result,
                                   tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!given || !result) {
        tp_msg_set(msg, "No bulk adjustment was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_bulk_adjustment b;
    if ((st = tp_abi_read_in(&b, sizeof b, given, TP_MIN_BULK, "tp_bulk_adjustment", msg)) !=
            TP_OK ||
        (st = tp_abi_check_out(result, TP_MIN_BULK_RESULT, "tp_bulk_result", msg)) != TP_OK)
        return st;
    tp_bulk_result r;
    memset(&r, 0, sizeof r);
    LOCKED(in, tp_ledger_bulk(in->admin_store, &in->cfg, &b, progress, user, &r, msg));
    tp_abi_write_out(result, &r, sizeof r);
    return st;
}

static tp_status admin_import_csv(const tp_plugin *plugin, const char *path, uint32_t flags,
                                  const char *staff, tp_progress_fn progress,
                                  tp_problem_fn problem, void *user, tp_import_result *result,
                                  tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!result) {
        tp_msg_set(msg, "No place for the result was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_abi_check_out(result, TP_MIN_IMPORT_RESULT, "tp_import_result", msg)) != TP_OK)
        return st;
    tp_import_result r;
    memset(&r, 0, sizeof r);
    LOCKED(in, tp_csv_import(in->admin_store, &in->cfg, path, flags, staff, progress, problem,
                             user, &r, msg));
    tp_abi_write_out(result, &r, sizeof r);
    return st;
}

static tp_status admin_export_csv(const tp_plugin *plugin, const char *path, uint64_t *rows,
                                  tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    uint64_t n = 0;
    LOCKED(in, tp_csv_export(in->admin_store, path, &n, msg));
    if (rows)
        *rows = n;
    return st;
}

static tp_status manager_write(tp_instance *in, int reset, const char *id, const char *name,
                               const char *pin, const char *staff, tp_message *msg)
{
    if (!staff || !*staff) {
        tp_msg_set(msg, "Say which staff member makes the change.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = tp_check_text(staff, 64, "staff id", msg);
    if (st != TP_OK)
        return st;
    /* The id, name and PIN rules live in managers.c. The PIN is checked
     * and hashed before the write transaction begins: the Argon2id run
     * never holds the lock the till's writer needs. */
    char hash[TP_PIN_HASH_MAX];
    st = tp_manager_hash_new_pin(pin, in->cfg.retro.pin_min_digits, hash, msg);
    if (st != TP_OK)
        return st;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_store_begin(in->admin_store, msg);
    int64_t now = tp_now_ms();
    if (st == TP_OK)
        st = reset ? tp_manager_reset_pin(in->admin_store, id, hash, now, msg)
                   : tp_manager_add(in->admin_store, id, name ? name : "", hash, now, msg);
    sodium_memzero(hash, sizeof hash);
    tp_audit_entry e = {.time_ms = now, .action = reset ? "manager.reset_pin" : "manager.add",
                        .actor = staff, .approver = id, .location = in->cfg.location};
    if (st == TP_OK)
        st = tp_audit_append(in->admin_store, &e, msg);
    if (st == TP_OK)
        st = tp_store_commit(in->admin_store, msg);
    else
        tp_store_rollback(in->admin_store);
    pthread_mutex_unlock(&in->admin_lock);
    return st;
}

static tp_status admin_manager_add(const tp_plugin *plugin, const char *id, const char *name,
                                   const char *pin, const char *staff, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    return st != TP_OK ? st : manager_write(in, 0, id, name, pin, staff, msg);
}

static tp_status admin_manager_reset_pin(const tp_plugin *plugin, const char *id,
                                         const char *pin, const char *staff, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    return st != TP_OK ? st : manager_write(in, 1, id, NULL, pin, staff, msg);
}

/* A back office's sign-in (ext/managers.h manager_verify): the approval
 * step's PIN check (retro.c) without a form. The Argon2id run happens
 * with the admin lock released, before the write transaction that records
 * the outcome with its audit records, so neither the other admin calls
 * nor the till's writer wait on it. A failure's count and lockout are
 * kept only with their audit records. */
static tp_status admin_manager_verify(const tp_plugin *plugin, const char *id, const char *pin,
                                      const char *client, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!id || !pin || !*id) {
        tp_msg_set(msg, "A manager id and a PIN are needed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (client && (st = tp_check_text(client, TP_STAFF_ID_MAX, "client", msg)) != TP_OK)
        return st;
    tp_manager_policy pol = {.max_failures = in->cfg.retro.pin_max_failures,
                             .lockout_ms = in->cfg.retro.pin_lockout_ms,
                             .min_digits = in->cfg.retro.pin_min_digits};
    tp_pin_attempt a;
    LOCKED(in, tp_manager_pin_lookup(in->admin_store, &pol, id, pin, tp_now_ms(), &a, msg));
    if (st != TP_OK)
        return st;
    tp_manager_pin_hash(&a, pin);
    pthread_mutex_lock(&in->admin_lock);
    int64_t now = tp_now_ms();
    int locked_now = 0;
    tp_message why, err;
    tp_msg_clear(&err);
    st = tp_store_begin(in->admin_store, &why);
    if (st == TP_OK)
        st = tp_manager_pin_record(in->admin_store, &pol, &a, now, &locked_now, &why);
    tp_audit_entry e = {.time_ms = now, .actor = client ? client : "", .approver = a.id,
                        .location = in->cfg.location};
    tp_status ast = TP_OK;
    if (st == TP_OK) {
        e.action = "manager.signin";
        ast = tp_audit_append(in->admin_store, &e, &err);
    } else if (st == TP_ERR_WRONG_PIN || (st == TP_ERR_LOCKED_OUT && locked_now)) {
        /* The audit log tells a wrong PIN from an unknown id; the
         * answer does not. */
        e.action = "pin.failure";
        e.detail = a.known ? "wrong PIN at sign-in" : "no such manager at sign-in";
        ast = tp_audit_append(in->admin_store, &e, &err);
        if (ast == TP_OK && locked_now) {
            e.action = "pin.lockout";
            e.detail = "locked after repeated wrong PINs";
            ast = tp_audit_append(in->admin_store, &e, &err);
        }
    } else if (st != TP_ERR_LOCKED_OUT && st != TP_ERR_STATE) {
        ast = st; /* storage: nothing to keep */
    }
    if (ast == TP_OK && tp_store_commit(in->admin_store, &err) == TP_OK) {
        tp_msg_set(msg, "%s", why.text);
    } else {
        tp_store_rollback(in->admin_store);
        if (ast == st && st != TP_OK) {
            tp_msg_set(msg, "%s", why.text);
        } else {
            tp_msg_set(msg, "The sign-in could not be recorded in the audit log (%s); nothing "
                       "was changed. Try again, and if this repeats, check the disk.", err.text);
            st = TP_ERR_STORAGE;
        }
    }
    pthread_mutex_unlock(&in->admin_lock);
    sodium_memzero(&a, sizeof a);
    return st;
}

static tp_status admin_manager_list(const tp_plugin *plugin, tp_manager_info *out, size_t cap,
                                    size_t stride, size_t *count, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!count || (cap && !out)) {
        tp_msg_set(msg, "No place for the answer was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (cap && (st = tp_abi_check_stride(stride, TP_MIN_MANAGER_INFO, "tp_manager_info", msg)) !=
                   TP_OK)
        return st;
    tp_manager_row rows[64];
    size_t n = 0;
    size_t want = cap < 64 ? cap : 64;
    LOCKED(in, tp_manager_list(in->admin_store, rows, want, &n, msg));
    *count = n;
    /* n counts every manager; only `want` rows were read and fit in out. */
    size_t shown = st == TP_OK ? n : 0;
    if (shown > want)
        shown = want;
    for (size_t i = 0; i < shown; i++) {
        tp_manager_info info;
        memset(&info, 0, sizeof info);
        tp_copy(info.id, sizeof info.id, rows[i].id);
        tp_copy(info.name, sizeof info.name, rows[i].name);
        info.failures = rows[i].failures;
        info.locked_until_ms = rows[i].locked_until_ms;
        info.created_ms = rows[i].created_ms;
        tp_abi_put(out, stride, i, &info, sizeof info, 0);
    }
    return st;
}

/* sync: the outbox and the central database (outbox.c, sync.c). */
static tp_status queue_status_get(tp_instance *in, tp_queue_status *out, tp_message *msg);

static tp_status admin_queue_status(const tp_plugin *plugin, tp_queue_status *out,
                                    tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready_for(plugin, &in, out, msg);
    if (st != TP_OK ||
        (st = tp_abi_check_out(out, TP_MIN_QUEUE_STATUS, "tp_queue_status", msg)) != TP_OK)
        return st;
    tp_queue_status local;
    st = queue_status_get(in, &local, msg);
    if (st == TP_OK)
        tp_abi_write_out(out, &local, sizeof local);
    return st;
}

/* Counts from the outbox; the link's state as the sync thread last wrote
 * it to the database (sync_link), so that any process on this file — the
 * CLI beside a running till — shows what the till knows. Before any
 * thread wrote it, this process's own thread says (connecting, at first). */
static tp_status queue_status_get(tp_instance *in, tp_queue_status *out, tp_message *msg)
{
    tp_status st;
    memset(out, 0, sizeof *out);
    tp_outbox_counts c;
    tp_sync_link link;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_outbox_counts_get(in->admin_store, &c, msg);
    if (st == TP_OK &&
        (tp_sync_state_get(in->admin_store, "last_success_ms", &out->last_success_ms) != TP_OK ||
         tp_sync_state_get(in->admin_store, "last_pull_ms", &out->last_pull_ms) != TP_OK ||
         tp_sync_link_get(in->admin_store, &link) != TP_OK)) {
        tp_msg_set(msg, "Cannot read the sync state: %s.", tp_store_errmsg(in->admin_store));
        st = TP_ERR_STORAGE;
    }
    pthread_mutex_unlock(&in->admin_lock);
    if (st != TP_OK)
        return st;
    tp_sync_snapshot snap;
    tp_sync_snapshot_get(in->sync, &snap);
    out->configured = in->cfg.sync.postgres[0] != 0;
    if (!link.updated_ms) { /* never written: this process's thread, if any */
        link.state = in->sync ? snap.state : TP_SYNC_CONNECTING;
        link.status = snap.status;
        tp_buf_set(link.error, sizeof link.error, "%s", snap.last_error);
        link.error_ms = snap.last_error_ms;
        link.next_attempt_ms = snap.next_attempt_ms;
    }
    out->state = out->configured ? link.state : TP_SYNC_OFF;
    out->pending = c.pending;
    out->parked = c.parked;
    out->delivered = c.delivered;
    out->failing = c.failing;
    out->oldest_pending_ms = c.oldest_pending_ms;
    if (snap.last_success_ms > out->last_success_ms)
        out->last_success_ms = snap.last_success_ms;
    if (out->configured && out->state != TP_SYNC_ONLINE && link.error[0]) {
        tp_buf_set(out->last_error, sizeof out->last_error, "%s", link.error);
        out->last_error_ms = link.error_ms;
        out->next_attempt_ms = link.next_attempt_ms;
    } else {
        /* Online: the newest refusal of an entry, if one waits. */
        tp_buf_set(out->last_error, sizeof out->last_error, "%s", c.last_error);
    }
    return TP_OK;
}

static tp_status admin_queue_list(const tp_plugin *plugin, int32_t parked_only,
                                  tp_queue_entry *out, size_t cap, size_t stride, size_t *count,
                                  tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!count || (cap && !out)) {
        tp_msg_set(msg, "No place for the answer was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (cap && (st = tp_abi_check_stride(stride, TP_MIN_QUEUE_ENTRY, "tp_queue_entry", msg)) !=
                   TP_OK)
        return st;
    LOCKED(in, tp_outbox_list(in->admin_store, parked_only, out, cap, stride, count, msg));
    return st;
}

static tp_status admin_queue_retry(const tp_plugin *plugin, uint64_t *rows, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    LOCKED(in, tp_outbox_retry(in->admin_store, tp_now_ms(), rows, msg));
    return st;
}

static tp_status queue_park_set(const tp_plugin *plugin, int64_t id, int parked, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (id <= 0) {
        tp_msg_set(msg, "An outbox entry id is a positive number (see tillpoints queue status).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    LOCKED(in, tp_outbox_set_parked(in->admin_store, id, parked, msg));
    return st;
}

/* Dismissal (queue.h 2.2): the row stays in the outbox, parked, with
 * dismissed_ms set; nothing sends, unparks or counts it again (outbox.c,
 * schema v6). The audit record, in the same transaction, says who and why;
 * it goes to the central database like every record. */
static tp_status admin_queue_dismiss(const tp_plugin *plugin, int64_t id, const char *staff,
                                     const char *reason, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (id <= 0) {
        tp_msg_set(msg, "An outbox entry id is a positive number (see tillpoints queue list).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (!staff || !*staff) {
        tp_msg_set(msg, "Say which staff member dismisses the entry.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (!reason || !*reason) {
        tp_msg_set(msg, "Give a reason of 1 to %d characters: why the entry is never to be "
                   "sent.", TP_REASON_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_check_text(staff, 64, "staff id", msg)) != TP_OK ||
        (st = tp_check_text(reason, TP_REASON_MAX, "reason", msg)) != TP_OK)
        return st;
    pthread_mutex_lock(&in->admin_lock);
    int64_t now = tp_now_ms();
    tp_queue_entry e;
    memset(&e, 0, sizeof e);
    st = tp_store_begin(in->admin_store, msg);
    if (st == TP_OK)
        st = tp_outbox_dismiss(in->admin_store, id, now, &e, msg);
    if (st == TP_OK) {
        char detail[TP_MESSAGE_MAX + 1];
        tp_buf_set(detail, sizeof detail, "outbox entry %lld (%s) dismissed; it was parked: %s",
                   (long long)id, e.event_id, e.last_error);
        tp_audit_entry a = {.time_ms = now, .action = "queue.dismiss", .actor = staff,
                            .member = e.member, .location = in->cfg.location,
                            .receipt = e.receipt, .points = e.points, .reason = reason,
                            .detail = detail};
        st = tp_audit_append(in->admin_store, &a, msg);
    }
    if (st == TP_OK)
        st = tp_store_commit(in->admin_store, msg);
    else
        tp_store_rollback(in->admin_store);
    pthread_mutex_unlock(&in->admin_lock);
    if (st == TP_OK)
        tp_msg_set(msg, "Outbox entry %lld is dismissed: it is never sent and no longer counts "
                   "as refused; the local ledger keeps it.", (long long)id);
    return st;
}

static tp_status admin_queue_park(const tp_plugin *plugin, int64_t id, tp_message *msg)
{
    return queue_park_set(plugin, id, 1, msg);
}

static tp_status admin_queue_unpark(const tp_plugin *plugin, int64_t id, tp_message *msg)
{
    return queue_park_set(plugin, id, 0, msg);
}

static tp_status admin_central_init(const tp_plugin *plugin, int32_t *from, int32_t *to,
                                    tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    int f = 0, t = 0;
    st = tp_central_init(in, &f, &t, msg);
    if (st == TP_OK) {
        /* A sync thread (in any process on this file) waiting out its
         * backoff after "no schema" tries again now, so the link's state
         * that queue status shows catches up at once. */
        tp_message ignored;
        uint64_t reset = 0;
        LOCKED_VOID(in, tp_outbox_retry(in->admin_store, tp_now_ms(), &reset, &ignored));
        /* The recorded cause "no schema" (or an older one) is fixed now:
         * until a sync thread tries again and records what it finds, queue
         * status says it is connecting rather than repeat the old cause. */
        pthread_mutex_lock(&in->admin_lock);
        tp_sync_link link;
        if (tp_sync_link_get(in->admin_store, &link) == TP_OK && link.status == TP_ERR_VERSION) {
            memset(&link, 0, sizeof link);
            link.state = TP_SYNC_CONNECTING;
            link.updated_ms = tp_now_ms();
            if (tp_sync_link_put(in->admin_store, &link, &ignored) != TP_OK)
                tp_msg_clear(&ignored); /* only a display; the thread records the truth */
        }
        pthread_mutex_unlock(&in->admin_lock);
    }
    if (from)
        *from = f;
    if (to)
        *to = t;
    return st;
}

static tp_status member_balance_get(tp_instance *in, const char *key, tp_balance_view *out,
                                    tp_message *msg);

static tp_status admin_member_balance(const tp_plugin *plugin, const char *key,
                                      tp_balance_view *out, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready_for(plugin, &in, out, msg);
    if (st != TP_OK ||
        (st = tp_abi_check_out(out, TP_MIN_BALANCE_VIEW, "tp_balance_view", msg)) != TP_OK)
        return st;
    tp_balance_view local;
    st = member_balance_get(in, key, &local, msg);
    if (st == TP_OK)
        tp_abi_write_out(out, &local, sizeof local);
    return st;
}

/* The view is the one rule's figures (balance.c, docs/DESIGN.md §8 "One
 * balance"), with the parts it adds up. */
static tp_status member_balance_get(tp_instance *in, const char *key, tp_balance_view *out,
                                    tp_message *msg)
{
    tp_member_row row;
    tp_balance b;
    pthread_mutex_lock(&in->admin_lock);
    tp_status st = tp_members_resolve(in->admin_store, &in->cfg, key, &row, msg);
    if (st == TP_OK)
        st = tp_balance_get(in->admin_store, &in->cfg, in->sync, row.code, row.balance, &b, msg);
    pthread_mutex_unlock(&in->admin_lock);
    if (st != TP_OK)
        return st;
    tp_balance_to_view(&b, row.code, out);
    return TP_OK;
}

const tp_members_ext tp_members_extension = {
    .struct_size = sizeof(tp_members_ext),
    .member_add = admin_member_add,
    .member_add_card = admin_member_add_card,
    .member_get = admin_member_get,
    .member_find = admin_member_find,
    .member_balance = admin_member_balance,
};

const tp_ledger_ext tp_ledger_extension = {
    .struct_size = sizeof(tp_ledger_ext),
    .activity = admin_activity,
    .adjust = admin_adjust,
    .bulk_adjust = admin_bulk_adjust,
};

const tp_transfer_ext tp_transfer_extension = {
    .struct_size = sizeof(tp_transfer_ext),
    .import_csv = admin_import_csv,
    .export_csv = admin_export_csv,
};

const tp_managers_ext tp_managers_extension = {
    .struct_size = sizeof(tp_managers_ext),
    .manager_add = admin_manager_add,
    .manager_reset_pin = admin_manager_reset_pin,
    .manager_list = admin_manager_list,
    .manager_verify = admin_manager_verify,
};

const tp_queue_ext tp_queue_extension = {
    .struct_size = sizeof(tp_queue_ext),
    .queue_status = admin_queue_status,
    .queue_list = admin_queue_list,
    .queue_retry = admin_queue_retry,
    .queue_park = admin_queue_park,
    .queue_unpark = admin_queue_unpark,
    .central_init = admin_central_init,
    .queue_dismiss = admin_queue_dismiss,
};
