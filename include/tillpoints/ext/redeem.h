/*
 * redeem.h — the plugin's redemption extension, "tillpoints.redeem/1"
 * (2.5): a manager's tools for points spent at the till (docs/MANAGER.md,
 * "Points spent at the till").
 *
 * [thread-safe, blocking], like every manager-side extension (admin.h).
 * Spending itself is checkout's (checkout.h: offers, redeem, unredeem).
 */
#ifndef TILLPOINTS_EXT_REDEEM_H
#define TILLPOINTS_EXT_REDEEM_H

#include "../tillpoints.h"
#include "ledger.h" /* tp_activity_row */

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_REDEEM "tillpoints.redeem/1"

/* Gives back what a receipt's redemption has not given back yet. */
typedef struct tp_redeem_reversal {
    uint32_t struct_size;  /* sizeof(tp_redeem_reversal) */
    const char *receipt;   /* the receipt that spent the points */
    const char *location;  /* its store; NULL or "" = this till's */
    const char *reason;    /* required, 1..TP_REASON_MAX bytes */
    const char *staff;     /* who asks, 1..TP_STAFF_ID_MAX bytes */
    const char *approver;  /* an enrolled manager's id */
    const char *pin;       /* that manager's PIN */
} tp_redeem_reversal;

/* An overdraft the central database reported (TP_EVENT_OVERDRAFT): a
 * member whose balance went below zero when redemptions of terminals
 * that could not reach it were delivered. Set struct_size first; an
 * array element with a stride in overdrafts(). */
typedef struct tp_overdraft {
    uint32_t struct_size;
    int64_t id;                  /* the central report's number */
    int64_t balance;             /* the central balance then, < 0 */
    int64_t detected_ms;
    char member_code[TP_MEMBER_CODE_MAX + 1];
    char location[TP_LOCATION_MAX + 1]; /* the terminal whose delivery took */
    char terminal[TP_LOCATION_MAX + 1]; /* the balance below zero */
    char receipt[TP_RECEIPT_ID_MAX + 1];
} tp_overdraft;

typedef struct tp_redeem_ext {
    uint32_t struct_size; /* sizeof(tp_redeem_ext) in the plugin's build */

    /* A manager's reversal of a redemption: one "unredeem" entry giving
     * back every point of the receipt's redemption that refunds or an
     * earlier reversal have not, with an audit record "redeem.reverse"
     * (actor staff, approver the manager) in the same transaction. The
     * PIN is checked as for a retro credit (same failures and lockout):
     * TP_ERR_WRONG_PIN, TP_ERR_LOCKED_OUT. TP_ERR_NOT_FOUND when the
     * receipt spent no points here; TP_ERR_STATE when everything it spent
     * is back already. `entry` (may be NULL) receives the entry. */
    tp_status (*reverse)(const tp_plugin *plugin, const tp_redeem_reversal *request,
                         tp_activity_row *entry, tp_message *msg);

    /* The overdrafts the central database reported and this terminal has
     * pulled, newest first: up to `cap` elements of `stride` bytes,
     * *count how many. None without [sync]. */
    tp_status (*overdrafts)(const tp_plugin *plugin, tp_overdraft *rows, size_t cap,
                            size_t stride, size_t *count, tp_message *msg);
} tp_redeem_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_REDEEM_H */
