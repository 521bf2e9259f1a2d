/*
 * rewards.c — rewards and paying with points, as arithmetic (rewards.h,
 * docs/DESIGN.md §5 "Rewards and paying with points").
 *
 * What it guarantees: every result is an integer count of minor units or
 * points, rounded down, so the customer can lose less than one minor unit
 * (or point) to rounding and the store never gives more than configured.
 * The bounds keep every product in int64_t: amounts are at most
 * TP_AMOUNT_MAX (1e11), percents at most 100 and [redeem] points_per_unit
 * at most 1e6, so eligible * percent <= 1e13 and amount * points_per_unit
 * <= 1e17. Where a factor has no such bound (points, unit_minor of a
 * four-decimal currency) mul_div_floor divides without a wider type.
 */
#include "rewards.h"

#include <string.h>

#include "abi.h"
#include "currency.h"
#include "rules.h"
#include "util.h"

/* floor(a * b / c) for a >= 0, 0 <= b <= c, c > 0, exactly and without
 * overflow: the result is at most a. Long multiplication over the bits of
 * b, keeping the running product a * (bits so far) as q * c + r with
 * 0 <= r < c, so neither part ever exceeds the final result or 2c. */
static int64_t mul_div_floor(int64_t a, int64_t b, int64_t c)
{
    const uint64_t uc = (uint64_t)c;
    const uint64_t qa = (uint64_t)a / uc, ra = (uint64_t)a % uc;
    uint64_t q = 0, r = 0;
    for (int bit = 62; bit >= 0; bit--) {
        q <<= 1;
        r <<= 1;
        if (r >= uc) {
            r -= uc;
            q++;
        }
        if (((uint64_t)b >> bit) & 1) {
            q += qa;
            r += ra;
            if (r >= uc) {
                r -= uc;
                q++;
            }
        }
    }
    return (int64_t)q;
}

static int rate_set(const tp_redeem_config *d)
{
    return d->points_per_unit > 0 && d->unit_minor > 0;
}

/* The (skip + 1)-th line of `sku` that is still worth something, in
 * receipt order: its net amount, or -1 when there is none. Tax, tip and
 * gift-card lines are never an item to give away. */
static int64_t free_line_net(const char *sku, const tp_line *lines, size_t count, size_t stride,
                             int skip)
{
    for (size_t i = 0; i < count; i++) {
        tp_line l;
        tp_abi_get(&l, sizeof l, lines, stride, i);
        if (!l.sku || strcmp(l.sku, sku) != 0 ||
            (l.flags & (TP_LINE_TAX | TP_LINE_TIP | TP_LINE_GIFT_CARD)))
            continue;
        int64_t net = l.amount_minor - l.discount_minor;
        if (net <= 0)
            continue; /* already free */
        if (skip-- == 0)
            return net;
    }
    return -1;
}

tp_status tp_rewards_discount(const tp_config *cfg, const tp_reward_config *r,
                              const tp_line *lines, size_t count, size_t stride,
                              int64_t eligible_minor, int already_applied,
                              int64_t *discount_minor, tp_message *msg)
{
    if (discount_minor)
        *discount_minor = 0;
    if (!cfg || !r || !discount_minor) {
        tp_msg_set(msg, "No reward to apply.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (eligible_minor < 0 || eligible_minor > TP_AMOUNT_MAX || already_applied < 0) {
        tp_msg_set(msg, "The eligible amount must be between 0 and %lld minor units, and the "
                   "times the reward is applied 0 or more.", (long long)TP_AMOUNT_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    /* The lines are checked as checkout checks them, so a free item is
     * only ever looked for in a receipt that checkout would accept. */
    int64_t total = 0, eligible = 0;
    tp_status st = tp_rules_eligible(&cfg->rules, lines, count, stride, &total, &eligible, msg);
    if (st != TP_OK)
        return st;
    return tp_rewards_discount_checked(cfg, r, lines, count, stride, eligible_minor,
                                       already_applied, discount_minor, msg);
}

tp_status tp_rewards_discount_checked(const tp_config *cfg, const tp_reward_config *r,
                                      const tp_line *lines, size_t count, size_t stride,
                                      int64_t eligible_minor, int already_applied,
                                      int64_t *discount_minor, tp_message *msg)
{
    *discount_minor = 0;
    const char *cur = cfg->currency;
    char have[TP_MONEY_TEXT_SIZE], need[TP_MONEY_TEXT_SIZE];
    if (already_applied >= r->max_per_receipt) {
        if (r->max_per_receipt == 1)
            tp_msg_set(msg, "%s can be used once per receipt, and this receipt has it already.",
                       r->label);
        else
            tp_msg_set(msg, "%s can be used %d times per receipt, and this receipt has it %d "
                       "times already.", r->label, r->max_per_receipt, already_applied);
        return TP_ERR_STATE;
    }
    if (eligible_minor < r->min_basket_minor) {
        tp_format_money(need, sizeof need, r->min_basket_minor, cur);
        tp_format_money(have, sizeof have, eligible_minor, cur);
        tp_msg_set(msg, "This reward needs a basket of at least %s %s; this one is %s %s.", need,
                   cur, have, cur);
        return TP_ERR_STATE;
    }
    int64_t off = 0;
    switch (r->kind) {
    case TP_REWARD_AMOUNT_OFF:
        off = r->amount_off_minor < eligible_minor ? r->amount_off_minor : eligible_minor;
        break;
    case TP_REWARD_PERCENT_OFF:
        /* eligible <= 1e11, percent <= 100: the product fits. Division
         * rounds down: 15% of 9.99 is 1.4985, so 1.49. */
        off = eligible_minor * r->percent_off / 100;
        if (r->percent_cap_minor > 0 && off > r->percent_cap_minor)
            off = r->percent_cap_minor;
        break;
    case TP_REWARD_FREE_SKU: {
        int64_t net = free_line_net(r->free_sku, lines, count, stride, already_applied);
        if (net < 0) {
            if (already_applied == 0)
                tp_msg_set(msg, "%s gives one %s free, and this receipt has none; add it to the "
                           "receipt first.", r->label, r->free_sku);
            else
                tp_msg_set(msg, "%s gives one %s free, and every %s on this receipt is free "
                           "already; add another first.", r->label, r->free_sku, r->free_sku);
            return TP_ERR_NOT_FOUND;
        }
        off = net < eligible_minor ? net : eligible_minor;
        break;
    }
    default:
        tp_msg_set(msg, "%s is not a reward tillpoints knows how to apply.", r->label);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (off <= 0) {
        tp_format_money(have, sizeof have, eligible_minor, cur);
        if (r->kind == TP_REWARD_PERCENT_OFF && eligible_minor > 0) {
            tp_format_money(need, sizeof need, 1, cur);
            tp_msg_set(msg, "%s would take nothing off: %lld%% of %s %s is less than %s %s.",
                       r->label, (long long)r->percent_off, have, cur, need, cur);
        } else {
            tp_msg_set(msg, "%s would take nothing off: this receipt's eligible amount is %s "
                       "%s.", r->label, have, cur);
        }
        return TP_ERR_STATE;
    }
    *discount_minor = off;
    return TP_OK;
}

size_t tp_rewards_affordable(const tp_config *cfg, int64_t balance, int *indexes, size_t cap)
{
    size_t n = 0;
    if (!cfg || !indexes)
        return 0;
    for (int i = 0; i < cfg->n_rewards && n < cap; i++)
        if (cfg->rewards[i].cost <= balance)
            indexes[n++] = i;
    return n;
}

int64_t tp_rewards_points_to_minor(const tp_config *cfg, int64_t points)
{
    if (!cfg || points <= 0 || !rate_set(&cfg->redeem))
        return 0;
    const int64_t per = cfg->redeem.points_per_unit, unit = cfg->redeem.unit_minor;
    /* Whole units first, then the remainder: points / per * unit cannot
     * overflow below the cap, and the remainder is below one unit. */
    int64_t whole = points / per;
    if (whole > TP_AMOUNT_MAX / unit)
        return TP_AMOUNT_MAX;
    int64_t minor = whole * unit + mul_div_floor(unit, points % per, per);
    return minor > TP_AMOUNT_MAX ? TP_AMOUNT_MAX : minor;
}

tp_status tp_rewards_points_for_amount(const tp_config *cfg, int64_t amount_minor,
                                       int64_t balance, int64_t *points, int64_t *minor,
                                       tp_message *msg)
{
    if (points)
        *points = 0;
    if (minor)
        *minor = 0;
    if (!cfg || !points || !minor) {
        tp_msg_set(msg, "Nothing to pay with points.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    const tp_redeem_config *d = &cfg->redeem;
    if (!d->pay_with_points || !rate_set(d) || d->step_points < 1) {
        tp_msg_set(msg, "This store does not take points as payment.");
        return TP_ERR_UNSUPPORTED;
    }
    if (amount_minor <= 0 || amount_minor > TP_AMOUNT_MAX) {
        tp_msg_set(msg, "The amount to pay with points must be between 1 and %lld minor units.",
                   (long long)TP_AMOUNT_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    const char *cur = cfg->currency;
    const int64_t per = d->points_per_unit, unit = d->unit_minor, step = d->step_points;
    const int64_t least = d->min_points > step ? d->min_points : step;
    char least_worth[TP_MONEY_TEXT_SIZE];
    tp_format_money(least_worth, sizeof least_worth, tp_rewards_points_to_minor(cfg, least), cur);
    if (balance < least) {
        tp_msg_set(msg, "Paying with points takes at least %lld points (%s %s); this member has "
                   "%lld.", (long long)least, least_worth, cur, (long long)balance);
        return TP_ERR_STATE;
    }
    /* The most points worth at most the amount: floor(p * unit / per) <=
     * amount exactly when p * unit < (amount + 1) * per, that is p <=
     * ((amount + 1) * per - 1) / unit. (amount + 1) * per <= 1e17. */
    int64_t fit = ((amount_minor + 1) * per - 1) / unit;
    int64_t use = balance < fit ? balance : fit;
    use = use / step * step;
    if (use < least) {
        char amount[TP_MONEY_TEXT_SIZE];
        tp_format_money(amount, sizeof amount, amount_minor, cur);
        tp_msg_set(msg, "Paying with points takes at least %lld points (%s %s), more than the "
                   "%s %s left to pay.", (long long)least, least_worth, cur, amount, cur);
        return TP_ERR_STATE;
    }
    int64_t pays = tp_rewards_points_to_minor(cfg, use);
    if (pays <= 0) {
        char one[TP_MONEY_TEXT_SIZE];
        tp_format_money(one, sizeof one, 1, cur);
        tp_msg_set(msg, "%lld points are worth less than %s %s at this store's rate.",
                   (long long)use, one, cur);
        return TP_ERR_STATE;
    }
    /* The fewest points that pay as much: ceil(pays * per / unit), up to
     * the step, at least the minimum. It is at most `use`, which pays
     * that much and is such a multiple, so the amount stays `pays`. */
    int64_t fewest = (pays * per + unit - 1) / unit;
    fewest = (fewest + step - 1) / step * step;
    if (fewest < least)
        fewest = least;
    *points = fewest;
    *minor = pays;
    return TP_OK;
}

int64_t tp_rewards_refund_return(const tp_config *cfg, int64_t spent_points,
                                 int64_t paid_minor_total, int64_t refunded_before_minor,
                                 int64_t refund_minor, int64_t returned_before)
{
    if (!cfg || cfg->redeem.refund == TP_POINTS_REFUND_KEPT || spent_points <= 0)
        return 0;
    if (refunded_before_minor < 0)
        refunded_before_minor = 0;
    if (refund_minor < 0)
        refund_minor = 0;
    if (returned_before < 0)
        returned_before = 0;
    /* The total to have given back after this refund, from the cumulative
     * amount: each step returns the difference, so the steps add up to
     * the total of the last one whatever the sequence. */
    int64_t total;
    if (paid_minor_total <= 0 || refunded_before_minor >= paid_minor_total ||
        refund_minor >= paid_minor_total - refunded_before_minor)
        total = spent_points;
    else
        total = mul_div_floor(spent_points, refunded_before_minor + refund_minor,
                              paid_minor_total);
    int64_t back = total - returned_before;
    return back > 0 ? back : 0;
}

int64_t tp_rewards_earn_base(const tp_config *cfg, int64_t eligible_minor,
                             int64_t points_discount_minor)
{
    if (eligible_minor <= 0)
        return 0;
    if (!cfg || cfg->redeem.earn_on == TP_EARN_ON_ELIGIBLE || points_discount_minor <= 0)
        return eligible_minor;
    return points_discount_minor >= eligible_minor ? 0 : eligible_minor - points_discount_minor;
}
