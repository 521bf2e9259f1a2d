/*
 * rules.c — points computation (see rules.h).
 *
 * Amounts are bounded by TP_AMOUNT_MAX (1e11) and points_per_unit by 1e6,
 * so eligible * points_per_unit stays below 1e17 and fits in int64_t: no
 * wider arithmetic and no floating point is needed.
 */
#include "rules.h"

#include <string.h>

#include "abi.h"
#include "currency.h"
#include "util.h"

static int listed(const char list[][TP_CFG_LIST_ITEM_MAX + 1], int n, const char *s)
{
    if (!s)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

tp_status tp_rules_eligible(const tp_rules_config *rules, const tp_line *lines,
                            size_t count, size_t stride, int64_t *total_minor,
                            int64_t *eligible_minor, tp_message *msg)
{
    if (count > 0 && !lines) {
        tp_msg_set(msg, "The receipt says it has %zu lines but none were passed.", count);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (count > TP_LINES_MAX) {
        tp_msg_set(msg, "A receipt can have at most %d lines; this one has %zu.",
                   TP_LINES_MAX, count);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (count > 0 && stride < TP_MIN_LINE) {
        tp_msg_set(msg, "The receipt's line_stride is %zu; tillpoints ABI 2.0 needs at least %zu "
                   "(set it to sizeof(tp_line)).", stride, (size_t)TP_MIN_LINE);
        return TP_ERR_INVALID_ARGUMENT;
    }
    int64_t total = 0, eligible = 0;
    for (size_t i = 0; i < count; i++) {
        tp_line line;
        const tp_line *l = &line;
        tp_abi_get(&line, sizeof line, lines, stride, i);
        if (l->sku && tp_bounded_len(l->sku, TP_SKU_MAX) == (size_t)-1) {
            tp_msg_set(msg, "Line %zu: the SKU is longer than %d characters.", i + 1, TP_SKU_MAX);
            return TP_ERR_TOO_LONG;
        }
        if (l->category && tp_bounded_len(l->category, TP_CATEGORY_MAX) == (size_t)-1) {
            tp_msg_set(msg, "Line %zu: the category is longer than %d characters.", i + 1,
                       TP_CATEGORY_MAX);
            return TP_ERR_TOO_LONG;
        }
        if (l->amount_minor < 0 || l->amount_minor > TP_AMOUNT_MAX) {
            tp_msg_set(msg, "Line %zu: the amount must be between 0 and %lld minor units; "
                       "record returns with refund.", i + 1, (long long)TP_AMOUNT_MAX);
            return TP_ERR_INVALID_ARGUMENT;
        }
        if (l->discount_minor < 0 || l->discount_minor > l->amount_minor) {
            tp_msg_set(msg, "Line %zu: the discount must be between 0 and the line amount.", i + 1);
            return TP_ERR_INVALID_ARGUMENT;
        }
        int64_t net = l->amount_minor - l->discount_minor;
        total += net;
        if (total > TP_AMOUNT_MAX) {
            tp_msg_set(msg, "The receipt total is larger than %lld minor units.",
                       (long long)TP_AMOUNT_MAX);
            return TP_ERR_INVALID_ARGUMENT;
        }
        if (l->flags & (TP_LINE_TAX | TP_LINE_TIP | TP_LINE_GIFT_CARD))
            continue;
        if (listed(rules->excluded_categories, rules->n_excluded_categories, l->category) ||
            listed(rules->excluded_skus, rules->n_excluded_skus, l->sku))
            continue;
        eligible += net;
    }
    *total_minor = total;
    *eligible_minor = eligible;
    return TP_OK;
}

static int64_t divide(int64_t num, int64_t den, tp_rounding r)
{
    /* num >= 0, den > 0 */
    int64_t q = num / den, rem = num % den;
    switch (r) {
    case TP_ROUND_CEIL:
        return rem ? q + 1 : q;
    case TP_ROUND_NEAREST:
        return rem * 2 >= den ? q + 1 : q; /* half up */
    case TP_ROUND_FLOOR:
    default:
        return q;
    }
}

int64_t tp_rules_points(const tp_rules_config *rules, int64_t eligible_minor)
{
    if (eligible_minor <= 0 || eligible_minor < rules->min_eligible_minor)
        return 0;
    if (eligible_minor > TP_AMOUNT_MAX)
        eligible_minor = TP_AMOUNT_MAX;
    int64_t points;
    if (rules->kind == TP_PROGRAM_VISITS)
        points = 1;
    else
        points = divide(eligible_minor * rules->points_per_unit, rules->unit_minor,
                        rules->rounding);
    if (rules->cap_per_receipt > 0 && points > rules->cap_per_receipt)
        points = rules->cap_per_receipt;
    return points;
}

const char *tp_rules_unit(const tp_rules_config *rules, int64_t n)
{
    if (rules->kind == TP_PROGRAM_VISITS)
        return n == 1 ? "stamp" : "stamps";
    return n == 1 ? "point" : "points";
}

int tp_rules_why_none(const tp_rules_config *rules, int64_t total_minor, int64_t eligible_minor,
                      const char *currency, char *buf, size_t cap)
{
    tp_buf_set(buf, cap, "%s", "");
    if (tp_rules_points(rules, eligible_minor) > 0)
        return 0;
    const char *units = tp_rules_unit(rules, 2);
    char amount[32], least[32];
    tp_format_money(amount, sizeof amount, eligible_minor, currency);
    if (eligible_minor <= 0 && total_minor <= 0) {
        tp_buf_set(buf, cap, "its total is %s %s", amount, currency);
    } else if (eligible_minor <= 0) {
        tp_buf_set(buf, cap, "none of its lines earn %s (tax, tips, gift cards and excluded "
                   "items never do)", units);
    } else if (eligible_minor < rules->min_eligible_minor) {
        tp_format_money(least, sizeof least, rules->min_eligible_minor, currency);
        tp_buf_set(buf, cap, "its eligible amount, %s %s, is below the store's minimum of %s %s "
                   "%s", amount, currency, least, currency,
                   rules->kind == TP_PROGRAM_VISITS ? "for a visit" : "to earn points");
    } else {
        /* Only a spend program gets here: a visit at or above the minimum
         * always earns its stamp. */
        tp_format_money(least, sizeof least, rules->unit_minor, currency);
        tp_buf_set(buf, cap, "its eligible amount, %s %s, is less than one point's worth "
                   "(%lld %s per %s %s, %s)", amount, currency,
                   (long long)rules->points_per_unit, tp_rules_unit(rules, rules->points_per_unit),
                   least, currency,
                   rules->rounding == TP_ROUND_NEAREST ? "rounded to the nearest point"
                                                       : "rounded down");
    }
    return 1;
}

int64_t tp_rules_award(const tp_rules_config *rules, int64_t eligible_minor, int64_t time_ms,
                       const char *location, int retro)
{
    int64_t base = tp_rules_points(rules, eligible_minor);
    if (base <= 0)
        return 0;
    int64_t mult = 1, bonus = 0;
    for (int i = 0; i < rules->n_campaigns; i++) {
        const tp_campaign *c = &rules->campaigns[i];
        if (time_ms < c->start_ms || time_ms >= c->end_ms || (retro && !c->retro))
            continue;
        if (c->location[0] && (!location || strcmp(c->location, location) != 0))
            continue;
        if (c->multiplier > mult)
            mult = c->multiplier;
        bonus += c->bonus;
    }
    /* base <= 1e17 only in a pathological config; multipliers are <= 100
     * and the cap keeps sane programs far from overflow. */
    int64_t total = base > INT64_MAX / mult ? INT64_MAX : base * mult;
    total = total > INT64_MAX - bonus ? INT64_MAX : total + bonus;
    if (rules->cap_per_receipt > 0 && total > rules->cap_per_receipt)
        total = rules->cap_per_receipt;
    return total;
}

int64_t tp_rules_refund_points(const tp_rules_config *rules, int64_t earned,
                               int64_t eligible_minor, int64_t refunded_before_minor,
                               int64_t refund_minor, int64_t reversed_before, int64_t time_ms,
                               const char *location)
{
    int64_t remaining = eligible_minor - refunded_before_minor - refund_minor;
    if (remaining < 0)
        remaining = 0;
    int64_t keep = remaining > 0 ? tp_rules_award(rules, remaining, time_ms, location, 0) : 0;
    if (keep > earned)
        keep = earned;
    int64_t reverse = earned - keep - reversed_before;
    return reverse > 0 ? reverse : 0;
}
