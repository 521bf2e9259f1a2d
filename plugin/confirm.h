/*
 * confirm.h — the confirmation thread: a redemption reserved on this
 * terminal is confirmed with the central ledger, or, when the central
 * database does not answer in time, against the offline allowance
 * (docs/DESIGN.md §8, "No double spending between terminals").
 *
 * Runs only in a till (not a back office) with [sync] postgres. It owns a
 * libpq connection of its own (not the sync thread's: a confirmation
 * must not wait behind a push) and a SQLite connection of its own. Every
 * outcome is one TP_EVENT_REDEEM_CONFIRMED or TP_EVENT_REDEEM_REFUSED
 * posted with tp_instance_post (txn, member_code, redemption_no, points,
 * redeem_source "central" or "offline", message).
 *
 * The central side (schema v3, schema.c): holds(location, terminal, txn,
 * no, member, points, expires) taken by tp_hold() under a per-member
 * advisory lock — available = central balance + the terminal's pending
 * entries for the member - the other live holds of the member; a hold is
 * dropped when the terminal's redeem entry for that txn arrives (trigger
 * on events), on release, when it expires, and when the terminal starts
 * (this thread deletes every hold of its location/terminal first).
 */
#ifndef TP_CONFIRM_H
#define TP_CONFIRM_H

#include <stdint.h>

#include "tillpoints/tillpoints.h"
#include "util.h" /* TP_MUST_CHECK */

struct tp_instance;
typedef struct tp_confirm tp_confirm;

/* Starts the thread when the config has [sync] postgres and the host is
 * not a back office; *out stays NULL (and TP_OK) otherwise. */
tp_status tp_confirm_start(struct tp_instance *in, tp_confirm **out,
                           tp_message *msg) TP_MUST_CHECK;

/* Signals, joins and frees; NULL is fine. Holds taken stay centrally
 * until they expire or the next start drops them. */
void tp_confirm_stop(tp_confirm *c);

/* [writer thread, non-blocking] A reservation just committed in the
 * terminal's `reservations` table: confirm it. `pending` is this
 * terminal's undelivered ledger sum for the member (what the central
 * figure does not have yet). Returns 0 when queued; -1 when the queue is
 * full (the caller then refuses the redemption with a sentence). */
int tp_confirm_hold(tp_confirm *c, const char *txn, uint32_t no, const char *member_code,
                    int64_t points, int64_t pending);

/* [writer thread, non-blocking] The reservation(s) of txn are gone
 * (unredeem, cancel, or committed: then `committed` is 1 and the central
 * hold goes when the redeem entry arrives): drop the central hold(s).
 * no 0: every one of txn. Best effort: a hold not dropped expires. */
void tp_confirm_release(tp_confirm *c, const char *txn, uint32_t no, int committed);

#endif
