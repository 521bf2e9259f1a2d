/*
 * overdrafts.c — the pulled overdraft reports, for a manager (overdrafts.h).
 * Read on the shared admin connection under admin_lock, as every
 * manager-side list is.
 */
#include "overdrafts.h"

#include <string.h>

#include <sqlite3.h>

#include "abi.h"
#include "instance.h"
#include "util.h"

static tp_status list(tp_store *s, tp_overdraft *rows, size_t cap, size_t stride,
                      size_t *count, tp_message *msg)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(tp_store_db(s),
                           "SELECT id, balance, detected_ms, member, location, terminal, receipt"
                           " FROM overdrafts ORDER BY id DESC LIMIT ?1", -1, &q, NULL) !=
        SQLITE_OK) {
        tp_msg_set(msg, "Cannot read the overdrafts: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    sqlite3_bind_int64(q, 1, (sqlite3_int64)cap);
    int rc = SQLITE_DONE;
    while (*count < cap && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        tp_overdraft o;
        memset(&o, 0, sizeof o);
        o.struct_size = sizeof o;
        o.id = sqlite3_column_int64(q, 0);
        o.balance = sqlite3_column_int64(q, 1);
        o.detected_ms = sqlite3_column_int64(q, 2);
        tp_copy(o.member_code, sizeof o.member_code, (const char *)sqlite3_column_text(q, 3));
        tp_copy(o.location, sizeof o.location, (const char *)sqlite3_column_text(q, 4));
        tp_copy(o.terminal, sizeof o.terminal, (const char *)sqlite3_column_text(q, 5));
        tp_copy(o.receipt, sizeof o.receipt, (const char *)sqlite3_column_text(q, 6));
        tp_abi_put(rows, stride, (*count)++, &o, sizeof o, 1);
    }
    rc = *count < cap ? rc : SQLITE_DONE;
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot read the overdrafts: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

tp_status tp_overdrafts_list(const tp_plugin *plugin, tp_overdraft *rows, size_t cap,
                             size_t stride, size_t *count, tp_message *msg)
{
    tp_msg_clear(msg);
    tp_instance *in;
    tp_status st = tp_instance_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!count || (cap && !rows)) {
        tp_msg_set(msg, "No place for the answer was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    *count = 0;
    if (cap && (st = tp_abi_check_stride(stride, TP_MIN_OVERDRAFT, "tp_overdraft", msg)) != TP_OK)
        return st;
    if (cap == 0)
        return TP_OK;
    pthread_mutex_lock(&in->admin_lock);
    st = list(in->admin_store, rows, cap, stride, count, msg);
    pthread_mutex_unlock(&in->admin_lock);
    return st;
}
