/*
 * rules.h — how many points a receipt earns. Pure integer arithmetic, no
 * I/O, no allocation: this is what runs on the host's thread at checkout.
 */
#ifndef TP_RULES_H
#define TP_RULES_H

#include <stdint.h>

#include "config.h"
#include "tillpoints/ext/checkout.h"
#include "util.h" /* TP_MUST_CHECK */

/* Checks every line and sums the eligible amount: line amount minus its
 * discount, leaving out tax, tip and gift-card lines and excluded
 * categories/SKUs. Fills `total_minor` (sum of amounts minus discounts of
 * all lines) and `eligible_minor`. Returns TP_ERR_INVALID_ARGUMENT (with a
 * sentence) for a negative amount, a discount larger than its line, an
 * over-long SKU or category, or totals beyond TP_AMOUNT_MAX. */
/* `lines`: `count` elements of `stride` bytes (tp_receipt.line_stride). */
tp_status tp_rules_eligible(const tp_rules_config *rules, const tp_line *lines, size_t count,
                            size_t stride, int64_t *total_minor, int64_t *eligible_minor,
                            tp_message *msg) TP_MUST_CHECK;

/* Base points (or stamps) that `eligible_minor` earns under `rules`, after
 * the minimum and the per-receipt cap, before campaigns. Never negative. */
int64_t tp_rules_points(const tp_rules_config *rules, int64_t eligible_minor);

/* What the program awards, for sentences a cashier reads: "point" or
 * "points" (n != 1), and for a visits program "stamp" or "stamps". */
const char *tp_rules_unit(const tp_rules_config *rules, int64_t n);

/* Why a receipt of `total_minor`, `eligible_minor` of it eligible, earns
 * nothing under `rules` (tp_rules_points is 0): one clause written into
 * `buf`, such as "none of its lines earn points (tax, tips, gift cards
 * and excluded items never do)", the minimum for a visit, or a ratio that
 * rounds the amount down to zero. Returns 0 and leaves `buf` empty when
 * the receipt does earn. */
int tp_rules_why_none(const tp_rules_config *rules, int64_t total_minor, int64_t eligible_minor,
                      const char *currency, char *buf, size_t cap);

/* Points a receipt at `time_ms` and `location` earns including campaigns:
 * the largest active multiplier applies to the base, then every active
 * fixed bonus is added; campaigns only reward a receipt that earns base
 * points, and a retroactive credit (`retro`) only gets campaigns marked
 * retro. The per-receipt cap bounds the total. */
int64_t tp_rules_award(const tp_rules_config *rules, int64_t eligible_minor, int64_t time_ms,
                       const char *location, int retro);

/* Points to reverse when `refund_minor` more of a receipt's eligible amount
 * is refunded, `refunded_before_minor` having been refunded already:
 * earned - award(remaining) - reversed_before, never below 0, where award()
 * applies the campaigns that applied to the sale (same time and location). Because
 * every step recomputes from the remaining amount with the same rounding,
 * any sequence of partial refunds reverses at most what was earned, and a
 * full refund reverses exactly that. */
int64_t tp_rules_refund_points(const tp_rules_config *rules, int64_t earned,
                               int64_t eligible_minor, int64_t refunded_before_minor,
                               int64_t refund_minor, int64_t reversed_before, int64_t time_ms,
                               const char *location);

#endif
