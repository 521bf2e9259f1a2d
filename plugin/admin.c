/*
 * admin.c — the admin extension (see ext/admin.h). Blocking calls on the
 * admin connection, serialised by admin_lock.
 */
#include <string.h>
#include <time.h>

#include "instance.h"
#include "tillpoints/ext/admin.h"
#include "util.h"

static tp_status admin_ready(const tp_plugin *plugin, tp_instance **in, tp_message *msg)
{
    tp_msg_clear(msg);
    *in = tp_instance_of(plugin);
    if (!*in) {
        tp_msg_set(msg, "No plugin instance was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (!(*in)->initialised) {
        tp_msg_set(msg, "Loyalty is not started; the host must call init first.");
        return TP_ERR_STATE;
    }
    return TP_OK;
}

static tp_status check_text(const char *s, size_t max, const char *what, tp_message *msg)
{
    if (!s)
        return TP_OK;
    size_t n = tp_bounded_len(s, max);
    if (n == (size_t)-1) {
        tp_msg_set(msg, "The %s is longer than %zu characters.", what, max);
        return TP_ERR_TOO_LONG;
    }
    if (!tp_is_printable(s, n)) {
        tp_msg_set(msg, "The %s contains control characters.", what);
        return TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

static tp_status admin_member_add(const tp_plugin *plugin, const tp_member_new *m,
                                  tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!m || !m->code) {
        tp_msg_set(msg, "A member needs a code.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    size_t n = tp_bounded_len(m->code, TP_MEMBER_CODE_MAX);
    if (n == (size_t)-1) {
        tp_msg_set(msg, "The member code is longer than %d characters.", TP_MEMBER_CODE_MAX);
        return TP_ERR_TOO_LONG;
    }
    if (!tp_is_member_code(m->code, n, NULL)) {
        tp_msg_set(msg, "A member code is letters, digits, '-', '_' or '.' only.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = check_text(m->name, TP_NAME_MAX, "name", msg)) != TP_OK ||
        (st = check_text(m->phone, TP_PHONE_MAX, "phone number", msg)) != TP_OK ||
        (st = check_text(m->email, TP_EMAIL_MAX, "email address", msg)) != TP_OK)
        return st;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_store_add_member(in->admin_store, m->code, m->name, m->phone, m->email,
                             tp_now_ms(), msg);
    pthread_mutex_unlock(&in->admin_lock);
    return st;
}

static tp_status admin_member_get(const tp_plugin *plugin, const char *code,
                                  tp_member_info *out, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!code || !out) {
        tp_msg_set(msg, "A member code and a place for the answer are needed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (tp_bounded_len(code, TP_MEMBER_CODE_MAX) == (size_t)-1) {
        tp_msg_set(msg, "The member code is longer than %d characters.", TP_MEMBER_CODE_MAX);
        return TP_ERR_TOO_LONG;
    }
    tp_member_row row;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_store_find_member(in->admin_store, code, &row, msg);
    pthread_mutex_unlock(&in->admin_lock);
    if (st != TP_OK)
        return st;
    memset(out, 0, sizeof *out);
    tp_copy(out->code, sizeof out->code, row.code);
    tp_copy(out->name, sizeof out->name, row.name);
    tp_copy(out->phone, sizeof out->phone, row.phone);
    tp_copy(out->email, sizeof out->email, row.email);
    out->balance = row.balance;
    return TP_OK;
}

static tp_status admin_flush(const tp_plugin *plugin, int64_t timeout_ms, tp_message *msg)
{
    tp_instance *in;
    tp_status st = admin_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    int64_t deadline = tp_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (tp_queue_pending(&in->write_q) == 0 && tp_queue_pending(&in->lookup_q) == 0)
            return TP_OK;
        if (tp_now_ms() >= deadline) {
            tp_msg_set(msg, "Loyalty still has work waiting for the disk after %lld ms.",
                       (long long)timeout_ms);
            return TP_ERR_BUSY;
        }
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
}

const tp_admin_ext tp_admin_extension = {
    .member_add = admin_member_add,
    .member_get = admin_member_get,
    .flush = admin_flush,
};
