/*
 * spend.h — spending points at the till (docs/DESIGN.md §5, "Spending
 * points"): checkout's offers, redeem and unredeem on the host's thread,
 * and the writer's side of them — reservations, the redemption committed
 * with its receipt, points a refund gives back, a manager's reversal.
 *
 * The host's thread computes (rewards.c) and queues; it never reads the
 * database. The balance it checks first is the one the member-identified
 * event showed, less what open transactions of this till reserved; the
 * writer then checks the reservation against the database (every
 * reservation of the member on the file), and with [sync] the
 * confirmation thread against the central ledger (confirm.h).
 */
#ifndef TP_SPEND_H
#define TP_SPEND_H

#include "instance.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/redeem.h"

/* ---- the host's thread (checkout.c's table) ---- */

tp_status tp_spend_offers(const tp_plugin *plugin, const char *txn_id, tp_reward_offer *out,
                          size_t cap, size_t stride, size_t *count, tp_message *msg);
tp_status tp_spend_redeem(const tp_plugin *plugin, const char *txn_id,
                          const tp_redeem_request *request, tp_redemption *out, tp_message *msg);
tp_status tp_spend_unredeem(const tp_plugin *plugin, const char *txn_id, uint32_t no,
                            tp_message *msg);

/* complete(): TP_OK when every redemption of `t` is confirmed, else
 * TP_ERR_STATE with the sentence. */
tp_status tp_spend_ready_to_complete(const tp_txn_slot *t, tp_message *msg);
/* complete(): the redemptions into the award job (points, discount,
 * numbers, detail), before the points earned are computed. */
void tp_spend_fill_award(const tp_instance *in, const tp_txn_slot *t, tp_award_job *a);
/* cancel(): queues the release of every reservation of `t`. TP_ERR_BUSY
 * (nothing changed) when the write queue is full. */
tp_status tp_spend_release_all(tp_instance *in, tp_txn_slot *t, tp_message *msg);
/* complete() and cancel(): the sale's slot is about to be cleared. */
void tp_spend_closed(tp_instance *in, const tp_txn_slot *t);
/* scan(): a new code while points are reserved for the member is refused. */
tp_status tp_spend_may_rescan(const tp_txn_slot *t, const char *code, tp_message *msg);

/* Delivery (instance.c), before the host sees the event: a member
 * identified, a redemption confirmed or refused updates its transaction;
 * MEMBER_IDENTIFIED gets the offers the shown balance affords. */
void tp_spend_on_event(tp_instance *in, const tp_event_node *node, tp_event *ev);

/* ---- the writer (workers.c, store.c) ---- */

/* A reservation: TP_OK when decided (out->kind REDEEM_CONFIRMED with
 * source "local" standalone; with `central`, REDEEM_CONFIRMED with source
 * "" — the confirmation thread decides — and out->pending the terminal's
 * undelivered sum; or REDEEM_REFUSED), TP_ERR_STORAGE to retry the batch. */
tp_status tp_spend_apply_reserve(tp_store *s, const tp_config *cfg, int central,
                                 const tp_reserve_job *job, tp_outcome *out) TP_MUST_CHECK;
/* A release: out->kind 0 (no event). */
tp_status tp_spend_apply_release(tp_store *s, const tp_config *cfg, const tp_reserve_job *job,
                                 tp_outcome *out) TP_MUST_CHECK;
/* Inside apply_award's savepoint, the receipt row just written: the
 * redeem entry, its redemptions row, the reservations of the transaction
 * gone. An SQLite result code (SQLITE_OK). */
int tp_spend_commit(tp_store *s, const tp_config *cfg, const tp_award_job *job,
                    int64_t member_id, int64_t receipt_row);
/* Inside apply_refund's savepoint: the points the refund of `amount` gives
 * back from the receipt's redemption ([redeem] refund), written as an
 * "unredeem" entry keyed by the refund. *back the points (0: none, or the
 * receipt spent none); *member_id its member. An SQLite result code. */
int tp_spend_refund_return(tp_store *s, const tp_config *cfg, const char *receipt,
                           const char *refund, int64_t paid_total, int64_t refunded_before,
                           int64_t amount, int64_t time_ms, int64_t *back, int64_t *member_id);
/* init(): reservations this terminal left behind (a crash, kill -9)
 * belong to transactions that no longer exist: gone. */
tp_status tp_spend_clear_reservations(tp_store *s, const tp_config *cfg,
                                      tp_message *msg) TP_MUST_CHECK;

/* ---- the manager's extension (redeem.h, redeemext.c) ---- */

/* Inside the caller's write transaction: gives back what the redemption
 * of `receipt` at `location` has not given back yet, as one "unredeem"
 * entry keyed REV-<receipt>. *entry_id, *points and the member's code.
 * TP_ERR_NOT_FOUND (it spent nothing), TP_ERR_STATE (all back already). */
tp_status tp_spend_reverse_in_txn(tp_store *s, const tp_config *cfg, const char *location,
                                  const char *receipt, const char *staff, const char *reason,
                                  int64_t *entry_id, int64_t *points, char *member,
                                  size_t member_cap, tp_message *msg) TP_MUST_CHECK;
extern const tp_redeem_ext tp_redeem_extension;

#endif
