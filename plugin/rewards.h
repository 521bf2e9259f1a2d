/*
 * rewards.h — what spending points at the till is worth: the discount a
 * reward gives a receipt, the rewards a balance can pay for, paying part
 * of a receipt with points, the points a refund gives back, and the amount
 * a receipt that spent points earns on (docs/DESIGN.md §5, "Rewards and
 * paying with points").
 *
 * Guarantees: pure integer arithmetic in minor units of the store's
 * currency — no I/O, no allocation, no floating point, no state; nothing
 * here reads or changes a balance. Every rounding is down, in the
 * customer's disfavour by less than one minor unit (or one point), and
 * never gives more than was asked for: a discount never exceeds the
 * eligible amount, points never pay more than is left to pay, and refunds
 * never give back more points than were spent.
 *
 * Order on one receipt (for the checkout that will use this; it does not
 * yet): rewards first, in the order the cashier adds them, each on the
 * eligible amount the earlier ones left; then paying with points, on what
 * is left to pay; then earning, on tp_rewards_earn_base.
 */
#ifndef TP_REWARDS_H
#define TP_REWARDS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tillpoints/ext/checkout.h"
#include "util.h" /* TP_MUST_CHECK */

/* The discount reward `r` gives a receipt whose eligible amount (after the
 * rewards already applied to it) is `eligible_minor`, when this reward is
 * already on the receipt `already_applied` times:
 *   amount_off:  min(amount_off, eligible);
 *   percent_off: floor(eligible * percent / 100), then at most percent_cap;
 *   free_sku:    one line with that SKU: the amount minus the discount of
 *                the first such line not already made free (lines whose
 *                net is 0, and the `already_applied` matching lines before
 *                it, which earlier applications freed), at most eligible.
 *                A line is one unit: tp_line has no quantity.
 * min_basket is compared with `eligible_minor`.
 * `lines`: `count` elements of `stride` bytes, checked as
 * tp_rules_eligible checks them (TP_ERR_INVALID_ARGUMENT or
 * TP_ERR_TOO_LONG with its sentence).
 * TP_OK with `*discount_minor` > 0; otherwise `*discount_minor` is 0 and
 * `msg` says what the cashier can do:
 *   TP_ERR_STATE      the basket is below min_basket, the reward is on the
 *                     receipt max_per_receipt times, or it would take
 *                     nothing off;
 *   TP_ERR_NOT_FOUND  free_sku is not on the receipt (or every line of it
 *                     is free already);
 *   TP_ERR_INVALID_ARGUMENT  NULL, a negative or too large amount. */
tp_status tp_rewards_discount(const tp_config *cfg, const tp_reward_config *r,
                              const tp_line *lines, size_t count, size_t stride,
                              int64_t eligible_minor, int already_applied,
                              int64_t *discount_minor, tp_message *msg) TP_MUST_CHECK;

/* The same for lines the caller has just checked with tp_rules_eligible
 * (checkout's redeem, on the host's thread, which must not check them
 * twice); cfg, r and discount_minor non-NULL, eligible_minor in range. */
tp_status tp_rewards_discount_checked(const tp_config *cfg, const tp_reward_config *r,
                                      const tp_line *lines, size_t count, size_t stride,
                                      int64_t eligible_minor, int already_applied,
                                      int64_t *discount_minor, tp_message *msg) TP_MUST_CHECK;

/* Which rewards a balance of `balance` points can pay for (cost <=
 * balance): their indexes in cfg->rewards, in the configuration's order,
 * written to `indexes` (at most `cap`; TP_REWARDS_MAX always suffices).
 * Returns how many were written. */
size_t tp_rewards_affordable(const tp_config *cfg, int64_t balance, int *indexes, size_t cap);

/* What `points` pay at the [redeem] rate: floor(points * unit_minor /
 * points_per_unit), at most TP_AMOUNT_MAX. 0 for points <= 0 or when no
 * rate is configured. */
int64_t tp_rewards_points_to_minor(const tp_config *cfg, int64_t points);

/* Paying `amount_minor` (what is left to pay, 1..TP_AMOUNT_MAX) with points
 * from a balance of `balance`: the points to use — a multiple of
 * step_points, at least min_points, at most the balance, worth no more
 * than the amount — chosen to pay as much as possible, and of the ways to
 * pay that much, the fewest points, so no point is spent on a rounding
 * remainder. Fills `*points` and `*minor` (what they pay) on TP_OK; both 0
 * otherwise, with a sentence:
 *   TP_ERR_UNSUPPORTED  the store does not take points as payment;
 *   TP_ERR_STATE        the balance is below min_points, the amount is
 *                       less than min_points pay, or the points that fit
 *                       are worth nothing;
 *   TP_ERR_INVALID_ARGUMENT  NULL, or an amount out of range. */
tp_status tp_rewards_points_for_amount(const tp_config *cfg, int64_t amount_minor,
                                       int64_t balance, int64_t *points, int64_t *minor,
                                       tp_message *msg) TP_MUST_CHECK;

/* Points to give back now when `refund_minor` more of a receipt is
 * refunded, `refunded_before_minor` having been refunded already and
 * `returned_before` points given back for it: the receipt spent
 * `spent_points`, and `paid_minor_total` is the amount refunds are
 * measured against (the eligible amount tp_refund.amount_minor is a part
 * of). After the refunds so far the total given back is
 * floor(spent * refunded / paid_total) of the cumulative refunded amount,
 * exactly `spent_points` once everything (or more) is refunded, so no
 * sequence of partial refunds drifts by rounding or gives back more than
 * was spent. 0 with [redeem] refund = kept. Never negative. */
int64_t tp_rewards_refund_return(const tp_config *cfg, int64_t spent_points,
                                 int64_t paid_minor_total, int64_t refunded_before_minor,
                                 int64_t refund_minor, int64_t returned_before);

/* The amount a receipt earns points on: with [redeem] earn_on = paid,
 * `eligible_minor` minus `points_discount_minor` (everything points paid
 * for on the receipt: reward discounts and the amount paid with points),
 * never below 0; with earn_on = eligible, `eligible_minor`. */
int64_t tp_rewards_earn_base(const tp_config *cfg, int64_t eligible_minor,
                             int64_t points_discount_minor);

#endif /* TP_REWARDS_H */
