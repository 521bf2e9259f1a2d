/*
 * admin.h — the plugin's admin extension, "tillpoints.admin/1": manager and
 * back-office calls (members, balances, flushing).
 *
 * Unlike checkout, these calls read and write the database before they
 * return, so they may wait on the disk. They are [thread-safe]: a POS calls
 * them from a worker thread or a back-office process, never from the thread
 * that runs the checkout screen. The `tillpoints` CLI is such a host.
 */
#ifndef TILLPOINTS_EXT_ADMIN_H
#define TILLPOINTS_EXT_ADMIN_H

#include "../tillpoints.h"
#include "events.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_ADMIN "tillpoints.admin/1"

#define TP_PHONE_MAX 32
#define TP_EMAIL_MAX 128

typedef struct tp_member_new {
    const char *code;  /* 1..TP_MEMBER_CODE_MAX bytes: letters, digits, -_. */
    const char *name;  /* 0..TP_NAME_MAX bytes, may be NULL */
    const char *phone; /* 0..TP_PHONE_MAX bytes, may be NULL */
    const char *email; /* 0..TP_EMAIL_MAX bytes, may be NULL */
} tp_member_new;

/* Caller-allocated; filled by member_get. */
typedef struct tp_member_info {
    char code[TP_MEMBER_CODE_MAX + 1];
    char name[TP_NAME_MAX + 1];
    char phone[TP_PHONE_MAX + 1];
    char email[TP_EMAIL_MAX + 1];
    int64_t balance; /* sum of the member's ledger */
} tp_member_info;

typedef struct tp_admin_ext {
    /* [thread-safe, blocking] Adds a member. TP_ERR_DUPLICATE when the
     * code is taken. */
    tp_status (*member_add)(const tp_plugin *plugin, const tp_member_new *member,
                            tp_message *msg);

    /* [thread-safe, blocking] Looks a member up by code, with balance. */
    tp_status (*member_get)(const tp_plugin *plugin, const char *code,
                            tp_member_info *out, tp_message *msg);

    /* [thread-safe, blocking] Waits until every accepted checkout, scan
     * and refund has been processed (its event is queued for the host),
     * or `timeout_ms` passes (TP_ERR_BUSY). */
    tp_status (*flush)(const tp_plugin *plugin, int64_t timeout_ms, tp_message *msg);
} tp_admin_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_ADMIN_H */
