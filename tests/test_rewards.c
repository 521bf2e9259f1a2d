/* Unit tests for plugin/rewards.c: reward discounts, paying with points,
 * points given back on refunds and the amount earned on. Every expectation
 * is worked out by hand in the comment beside it. */
#include "testutil.h"

#include "config.h"
#include "rewards.h"

/* The built-in defaults in `currency`, with no rewards. */
static tp_config store(const char *currency)
{
    tp_config c;
    tp_message msg;
    if (tp_config_load(&c, NULL, &msg) != TP_OK)
        fail_msg("defaults: %s", msg.text);
    tp_copy(c.currency, sizeof c.currency, currency);
    return c;
}

static tp_reward_config reward(const char *label, tp_reward_kind kind)
{
    tp_reward_config r;
    memset(&r, 0, sizeof r);
    tp_copy(r.name, sizeof r.name, "r");
    tp_copy(r.label, sizeof r.label, label);
    r.kind = kind;
    r.cost = 100;
    r.max_per_receipt = 1;
    return r;
}

static tp_line line(const char *sku, int64_t amount, int64_t discount, uint32_t flags)
{
    tp_line l = {sku, NULL, amount, discount, flags};
    return l;
}

/* The discount, asserting the call's status. */
static int64_t discount(const tp_config *c, const tp_reward_config *r, const tp_line *lines,
                        size_t n, int64_t eligible, int applied, tp_status want, tp_message *msg)
{
    int64_t off = -1;
    tp_status st = tp_rewards_discount(c, r, lines, n, sizeof(tp_line), eligible, applied, &off,
                                       msg);
    if (st != want)
        fail_msg("status %d, wanted %d: %s", st, want, msg->text);
    if (st != TP_OK)
        assert_int_equal(off, 0); /* a refusal never leaves a discount behind */
    return off;
}

static void amount_off_never_takes_more_than_the_eligible_amount(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    tp_reward_config r = reward("Five off", TP_REWARD_AMOUNT_OFF);
    r.amount_off_minor = 500; /* 5.00 */
    tp_message msg;
    /* 5.00 off 12.50 is 5.00. */
    assert_int_equal(discount(&c, &r, NULL, 0, 1250, 0, TP_OK, &msg), 500);
    /* 5.00 off exactly 5.00 is 5.00: the receipt becomes free. */
    assert_int_equal(discount(&c, &r, NULL, 0, 500, 0, TP_OK, &msg), 500);
    /* 5.00 off 3.00 is 3.00, never 5.00. */
    assert_int_equal(discount(&c, &r, NULL, 0, 300, 0, TP_OK, &msg), 300);
    /* Nothing eligible: nothing to take off, said so. */
    discount(&c, &r, NULL, 0, 0, 0, TP_ERR_STATE, &msg);
    assert_string_equal(msg.text, "Five off would take nothing off: this receipt's eligible "
                                  "amount is 0.00 EUR.");
}

static void percent_off_rounds_down_to_the_minor_unit(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    tp_reward_config r = reward("15% off", TP_REWARD_PERCENT_OFF);
    r.percent_off = 15;
    tp_message msg;
    /* 15% of 9.99 = 1.4985 -> 1.49 (999 * 15 = 14985, / 100 = 149). */
    assert_int_equal(discount(&c, &r, NULL, 0, 999, 0, TP_OK, &msg), 149);
    /* 15% of 10.00 = 1.50 exactly. */
    assert_int_equal(discount(&c, &r, NULL, 0, 1000, 0, TP_OK, &msg), 150);
    /* 15% of 0.06 = 0.009 -> 0.00: refused rather than applied for nothing. */
    discount(&c, &r, NULL, 0, 6, 0, TP_ERR_STATE, &msg);
    assert_string_equal(msg.text, "15% off would take nothing off: 15% of 0.06 EUR is less "
                                  "than 0.01 EUR.");
    /* 15% of 0.07 = 0.0105 -> 0.01. */
    assert_int_equal(discount(&c, &r, NULL, 0, 7, 0, TP_OK, &msg), 1);
    /* 33% of 1.01 = 0.3333 -> 0.33. */
    r.percent_off = 33;
    assert_int_equal(discount(&c, &r, NULL, 0, 101, 0, TP_OK, &msg), 33);
    /* 100% of 12.34 is all of it. */
    r.percent_off = 100;
    assert_int_equal(discount(&c, &r, NULL, 0, 1234, 0, TP_OK, &msg), 1234);
}

static void percent_cap_bounds_the_percent(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    tp_reward_config r = reward("20% off", TP_REWARD_PERCENT_OFF);
    r.percent_off = 20;
    r.percent_cap_minor = 1000; /* at most 10.00 */
    tp_message msg;
    /* 20% of 49.99 = 9.998 -> 9.99, below the cap. */
    assert_int_equal(discount(&c, &r, NULL, 0, 4999, 0, TP_OK, &msg), 999);
    /* 20% of 50.00 = 10.00, the cap exactly. */
    assert_int_equal(discount(&c, &r, NULL, 0, 5000, 0, TP_OK, &msg), 1000);
    /* 20% of 80.00 = 16.00 -> capped at 10.00. */
    assert_int_equal(discount(&c, &r, NULL, 0, 8000, 0, TP_OK, &msg), 1000);
}

static void a_yen_store_counts_whole_yen(void **state)
{
    (void)state;
    tp_config c = store("JPY");
    tp_reward_config r = reward("15% off", TP_REWARD_PERCENT_OFF);
    r.percent_off = 15;
    r.min_basket_minor = 1000; /* 1000 yen */
    tp_message msg;
    /* 15% of 1999 yen = 299.85 -> 299 yen. */
    assert_int_equal(discount(&c, &r, NULL, 0, 1999, 0, TP_OK, &msg), 299);
    /* 999 yen is one yen short of the minimum; amounts without decimals. */
    discount(&c, &r, NULL, 0, 999, 0, TP_ERR_STATE, &msg);
    assert_string_equal(msg.text, "This reward needs a basket of at least 1000 JPY; this one "
                                  "is 999 JPY.");
    /* 15% of 1000 yen = 150 yen, at the minimum exactly. */
    assert_int_equal(discount(&c, &r, NULL, 0, 1000, 0, TP_OK, &msg), 150);
}

static void a_kuwaiti_dinar_store_counts_fils(void **state)
{
    (void)state;
    tp_config c = store("KWD");
    tp_reward_config r = reward("15% off", TP_REWARD_PERCENT_OFF);
    r.percent_off = 15;
    r.min_basket_minor = 20000; /* 20.000 KWD */
    tp_message msg;
    /* 15% of 29.999 KWD = 4.49985 -> 4.499 KWD (29999 * 15 = 449985, / 100 = 4499). */
    assert_int_equal(discount(&c, &r, NULL, 0, 29999, 0, TP_OK, &msg), 4499);
    discount(&c, &r, NULL, 0, 12500, 0, TP_ERR_STATE, &msg);
    assert_string_equal(msg.text, "This reward needs a basket of at least 20.000 KWD; this one "
                                  "is 12.500 KWD.");
}

static void min_basket_is_met_at_the_edge_and_not_a_cent_below(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    tp_reward_config r = reward("Five off", TP_REWARD_AMOUNT_OFF);
    r.amount_off_minor = 500;
    r.min_basket_minor = 2000; /* 20.00 */
    tp_message msg;
    discount(&c, &r, NULL, 0, 1250, 0, TP_ERR_STATE, &msg);
    assert_string_equal(msg.text, "This reward needs a basket of at least 20.00 EUR; this one "
                                  "is 12.50 EUR.");
    discount(&c, &r, NULL, 0, 1999, 0, TP_ERR_STATE, &msg);
    assert_string_equal(msg.text, "This reward needs a basket of at least 20.00 EUR; this one "
                                  "is 19.99 EUR.");
    /* 20.00 meets a minimum of 20.00: 5.00 off. */
    assert_int_equal(discount(&c, &r, NULL, 0, 2000, 0, TP_OK, &msg), 500);
}

static void max_per_receipt_counts_the_times_already_applied(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    tp_reward_config r = reward("Ten off", TP_REWARD_AMOUNT_OFF);
    r.amount_off_minor = 1000;
    r.max_per_receipt = 2;
    tp_message msg;
    /* First and second: 10.00 off 50.00 each. */
    assert_int_equal(discount(&c, &r, NULL, 0, 5000, 0, TP_OK, &msg), 1000);
    assert_int_equal(discount(&c, &r, NULL, 0, 4000, 1, TP_OK, &msg), 1000);
    /* Third: refused. */
    discount(&c, &r, NULL, 0, 3000, 2, TP_ERR_STATE, &msg);
    assert_string_equal(msg.text, "Ten off can be used 2 times per receipt, and this receipt "
                                  "has it 2 times already.");
    r.max_per_receipt = 1;
    discount(&c, &r, NULL, 0, 3000, 1, TP_ERR_STATE, &msg);
    assert_string_equal(msg.text, "Ten off can be used once per receipt, and this receipt has "
                                  "it already.");
    /* A negative count is a caller's mistake, not a refusal to explain. */
    discount(&c, &r, NULL, 0, 3000, -1, TP_ERR_INVALID_ARGUMENT, &msg);
}

static void free_item_is_the_first_matching_line_not_already_free(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    tp_reward_config r = reward("Free coffee", TP_REWARD_FREE_SKU);
    tp_copy(r.free_sku, sizeof r.free_sku, "COF");
    r.max_per_receipt = 3;
    tp_line lines[] = {
        line("COF", 0, 0, TP_LINE_TAX), /* a tax line is never an item */
        line("COF", 300, 300, 0),       /* already free (net 0): skipped */
        line("BUN", 200, 0, 0),
        line("COF", 350, 0, 0),         /* first to make free: 3.50 */
        line("COF", 500, 100, 0),       /* second: 5.00 - 1.00 = 4.00 */
    };
    size_t n = sizeof lines / sizeof lines[0];
    tp_message msg;
    /* Eligible: 2.00 + 3.50 + 4.00 = 9.50. */
    assert_int_equal(discount(&c, &r, lines, n, 950, 0, TP_OK, &msg), 350);
    /* Applied once already (the 3.50 line is free): the 4.00 line, on the
     * 6.00 left. */
    assert_int_equal(discount(&c, &r, lines, n, 600, 1, TP_OK, &msg), 400);
    /* Twice already: no coffee left to give. */
    discount(&c, &r, lines, n, 200, 2, TP_ERR_NOT_FOUND, &msg);
    assert_string_equal(msg.text, "Free coffee gives one COF free, and every COF on this "
                                  "receipt is free already; add another first.");
    /* Never more than eligible: 3.50 line, 2.00 eligible left -> 2.00. */
    assert_int_equal(discount(&c, &r, lines, n, 200, 0, TP_OK, &msg), 200);
}

static void free_item_not_on_the_receipt_says_to_add_it(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    tp_reward_config r = reward("Free coffee", TP_REWARD_FREE_SKU);
    tp_copy(r.free_sku, sizeof r.free_sku, "4006381333931");
    tp_line lines[] = {line("BUN", 200, 0, 0), line(NULL, 150, 0, 0)};
    tp_message msg;
    discount(&c, &r, lines, 2, 350, 0, TP_ERR_NOT_FOUND, &msg);
    assert_string_equal(msg.text, "Free coffee gives one 4006381333931 free, and this receipt "
                                  "has none; add it to the receipt first.");
    /* A receipt with no lines at all has none either. */
    discount(&c, &r, NULL, 0, 0, 0, TP_ERR_NOT_FOUND, &msg);
}

static void lines_checkout_would_refuse_are_refused_here_too(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    tp_reward_config r = reward("Free coffee", TP_REWARD_FREE_SKU);
    tp_copy(r.free_sku, sizeof r.free_sku, "COF");
    tp_line bad[] = {line("COF", 100, 200, 0)}; /* a discount larger than its line */
    tp_message msg;
    discount(&c, &r, bad, 1, 100, 0, TP_ERR_INVALID_ARGUMENT, &msg);
    assert_string_equal(msg.text, "Line 1: the discount must be between 0 and the line amount.");
    /* Lines said to be there but not passed. */
    discount(&c, &r, NULL, 2, 100, 0, TP_ERR_INVALID_ARGUMENT, &msg);
    /* An eligible amount beyond TP_AMOUNT_MAX, or negative. */
    discount(&c, &r, NULL, 0, TP_AMOUNT_MAX + 1, 0, TP_ERR_INVALID_ARGUMENT, &msg);
    discount(&c, &r, NULL, 0, -1, 0, TP_ERR_INVALID_ARGUMENT, &msg);
}

static void affordable_lists_the_rewards_a_balance_pays_for(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    c.n_rewards = 3;
    c.rewards[0] = reward("Five off", TP_REWARD_AMOUNT_OFF);
    c.rewards[0].cost = 500;
    c.rewards[1] = reward("15% off", TP_REWARD_PERCENT_OFF);
    c.rewards[1].cost = 1500;
    c.rewards[2] = reward("Free coffee", TP_REWARD_FREE_SKU);
    c.rewards[2].cost = 300;
    int idx[TP_REWARDS_MAX];
    assert_int_equal(tp_rewards_affordable(&c, 299, idx, TP_REWARDS_MAX), 0);
    assert_int_equal(tp_rewards_affordable(&c, -50, idx, TP_REWARDS_MAX), 0);
    /* 499: only the coffee (300). */
    assert_int_equal(tp_rewards_affordable(&c, 499, idx, TP_REWARDS_MAX), 1);
    assert_int_equal(idx[0], 2);
    /* 500: five off and coffee, in the configuration's order. */
    assert_int_equal(tp_rewards_affordable(&c, 500, idx, TP_REWARDS_MAX), 2);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 2);
    assert_int_equal(tp_rewards_affordable(&c, 1500, idx, TP_REWARDS_MAX), 3);
    assert_int_equal(idx[1], 1);
    /* Room for one: only the first written. */
    idx[1] = -7;
    assert_int_equal(tp_rewards_affordable(&c, 1500, idx, 1), 1);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], -7);
}

/* [redeem] pay_with_points at `per` points for `unit` minor units. */
static tp_config paying(const char *currency, int64_t per, int64_t unit, int64_t min,
                        int64_t step)
{
    tp_config c = store(currency);
    c.redeem.pay_with_points = 1;
    c.redeem.points_per_unit = per;
    c.redeem.unit_minor = unit;
    c.redeem.min_points = min;
    c.redeem.step_points = step;
    return c;
}

static void points_are_worth_the_rate_rounded_down(void **state)
{
    (void)state;
    tp_config c = paying("EUR", 100, 100, 100, 1); /* 100 points = 1.00 */
    assert_int_equal(tp_rewards_points_to_minor(&c, 349), 349); /* 3.49 */
    assert_int_equal(tp_rewards_points_to_minor(&c, 0), 0);
    assert_int_equal(tp_rewards_points_to_minor(&c, -5), 0);
    c = paying("EUR", 3, 2, 3, 1); /* 3 points = 0.02 */
    /* 10 points = 20/3 = 6.67 cents -> 0.06. */
    assert_int_equal(tp_rewards_points_to_minor(&c, 10), 6);
    c = paying("JPY", 10, 1, 10, 1); /* 10 points = 1 yen */
    assert_int_equal(tp_rewards_points_to_minor(&c, 99), 9); /* 9.9 yen -> 9 */
    /* A huge balance is worth at most the largest amount there is. */
    c = paying("EUR", 1, 100, 1, 1);
    assert_int_equal(tp_rewards_points_to_minor(&c, INT64_MAX), TP_AMOUNT_MAX);
    /* 1e6 points = 999,999,999.9999 CLF (4 decimals: 9,999,999,999,999 minor
     * units, the largest unit the config reads). 999,999 points are worth
     * 9,999,999,999,999 * 999,999 / 1e6 = 9,999,989,999,999.000001 minor
     * units: the product overflows int64 (about 1e19), and the result is
     * above TP_AMOUNT_MAX, so the largest amount, not a wrapped one. */
    c = paying("CLF", 1000000, 9999999999999LL, 1000000, 1);
    assert_int_equal(tp_rewards_points_to_minor(&c, 999999), TP_AMOUNT_MAX);
    /* No rate configured: points are worth nothing here. */
    c = store("EUR");
    assert_int_equal(tp_rewards_points_to_minor(&c, 1000), 0);
}

/* tp_rewards_points_for_amount, asserting its status. */
static void pay(const tp_config *c, int64_t amount, int64_t balance, tp_status want,
                int64_t want_points, int64_t want_minor, tp_message *msg)
{
    int64_t points = -1, minor = -1;
    tp_status st = tp_rewards_points_for_amount(c, amount, balance, &points, &minor, msg);
    if (st != want)
        fail_msg("amount %lld balance %lld: status %d, wanted %d: %s", (long long)amount,
                 (long long)balance, st, want, msg->text);
    assert_int_equal(points, want_points);
    assert_int_equal(minor, want_minor);
}

static void paying_with_points_uses_whole_steps_above_the_minimum(void **state)
{
    (void)state;
    /* 100 points = 1.00, in steps of 50, at least 200. */
    tp_config c = paying("EUR", 100, 100, 200, 50);
    tp_message msg;
    /* Balance 349, 10.00 to pay: 349 -> 300 (steps of 50) = 3.00. */
    pay(&c, 1000, 349, TP_OK, 300, 300, &msg);
    /* 2.50 to pay, balance 1000: 250 points is 5 steps and pays 2.50 exactly. */
    pay(&c, 250, 1000, TP_OK, 250, 250, &msg);
    /* 2.49 to pay: 249 points fit, 200 is the step below: pays 2.00. */
    pay(&c, 249, 1000, TP_OK, 200, 200, &msg);
    /* The minimum exactly: 200 points for 2.00. */
    pay(&c, 200, 200, TP_OK, 200, 200, &msg);
    /* 1.50 to pay: 150 points fit, below the minimum of 200. */
    pay(&c, 150, 1000, TP_ERR_STATE, 0, 0, &msg);
    assert_string_equal(msg.text, "Paying with points takes at least 200 points (2.00 EUR), "
                                  "more than the 1.50 EUR left to pay.");
    /* A balance one point short of the minimum. */
    pay(&c, 1000, 199, TP_ERR_STATE, 0, 0, &msg);
    assert_string_equal(msg.text, "Paying with points takes at least 200 points (2.00 EUR); "
                                  "this member has 199.");
    /* Nothing left to pay, or more than any receipt. */
    pay(&c, 0, 1000, TP_ERR_INVALID_ARGUMENT, 0, 0, &msg);
    pay(&c, TP_AMOUNT_MAX + 1, 1000, TP_ERR_INVALID_ARGUMENT, 0, 0, &msg);
    /* Paying with points switched off. */
    c.redeem.pay_with_points = 0;
    pay(&c, 1000, 1000, TP_ERR_UNSUPPORTED, 0, 0, &msg);
    assert_string_equal(msg.text, "This store does not take points as payment.");
}

static void paying_with_points_spends_no_point_on_a_rounding_remainder(void **state)
{
    (void)state;
    /* 3 points = 0.02, steps of 1, at least 3. */
    tp_config c = paying("EUR", 3, 2, 3, 1);
    tp_message msg;
    /* Balance 100, 10.00 to pay: 100 points are worth 200/3 = 66.7 -> 0.66;
     * 99 points are worth 198/3 = 66 exactly, so the 100th buys nothing
     * and is kept: 99 points pay 0.66. */
    pay(&c, 1000, 100, TP_OK, 99, 66, &msg);
    /* 0.01 to pay: at most 2 points fit ((2 * 3 - 1) / 2 = 2; 3 points
     * would pay 0.02), below the minimum of 3. */
    pay(&c, 1, 100, TP_ERR_STATE, 0, 0, &msg);
    /* With a minimum of 1: 2 points fit and pay 4/3 -> 0.01; 2 is also
     * the fewest that pay 0.01 (ceil(1 * 3 / 2) = 2). */
    c.redeem.min_points = 1;
    pay(&c, 1, 100, TP_OK, 2, 1, &msg);
    /* 1000 points = 0.01, at least 1: 500 points are worth nothing. */
    c = paying("EUR", 1000, 1, 1, 1);
    pay(&c, 100, 500, TP_ERR_STATE, 0, 0, &msg);
    assert_string_equal(msg.text, "500 points are worth less than 0.01 EUR at this store's "
                                  "rate.");
}

static void paying_with_points_never_pays_more_than_asked_over_many_amounts(void **state)
{
    (void)state;
    /* Every amount of 0.01..30.00 and balances 0..1200 at three rates: the
     * answer is a multiple of the step at or above the minimum, within the
     * balance, paying what the points are worth and no more than the
     * amount; one more step would overdraw or overpay; one step less pays
     * less. */
    const struct {
        int64_t per, unit, min, step;
    } rates[] = {{100, 100, 200, 50}, {3, 2, 3, 1}, {7, 5, 14, 7}};
    tp_message msg;
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        tp_config c = paying("EUR", rates[k].per, rates[k].unit, rates[k].min, rates[k].step);
        for (int64_t amount = 1; amount <= 3000; amount += 7) {
            for (int64_t balance = 0; balance <= 1200; balance += 13) {
                int64_t p = 0, m = 0;
                tp_status st = tp_rewards_points_for_amount(&c, amount, balance, &p, &m, &msg);
                if (st != TP_OK) {
                    assert_int_equal(st, TP_ERR_STATE);
                    assert_int_equal(p, 0);
                    continue;
                }
                assert_int_equal(p % rates[k].step, 0);
                assert_true(p >= rates[k].min && p <= balance);
                assert_int_equal(m, tp_rewards_points_to_minor(&c, p));
                assert_true(m > 0 && m <= amount);
                int64_t more = p + rates[k].step;
                while (more <= balance && tp_rewards_points_to_minor(&c, more) == m)
                    more += rates[k].step; /* the same amount: look past it */
                assert_true(more > balance || tp_rewards_points_to_minor(&c, more) > amount);
                if (p - rates[k].step >= rates[k].min)
                    assert_true(tp_rewards_points_to_minor(&c, p - rates[k].step) < m);
            }
        }
    }
}

static void partial_refunds_give_back_exactly_the_spent_points_in_the_end(void **state)
{
    (void)state;
    tp_config c = store("EUR"); /* refund = back */
    /* 300 points spent on a receipt of 10.00. */
    int64_t back1 = tp_rewards_refund_return(&c, 300, 1000, 0, 333, 0);
    assert_int_equal(back1, 99); /* 300 * 3.33 / 10.00 = 99.9 -> 99 */
    int64_t back2 = tp_rewards_refund_return(&c, 300, 1000, 333, 333, back1);
    assert_int_equal(back2, 100); /* cumulative 6.66: 199.8 -> 199, less 99 */
    int64_t back3 = tp_rewards_refund_return(&c, 300, 1000, 666, 334, back1 + back2);
    assert_int_equal(back3, 101); /* all 10.00 refunded: 300, less 199 */
    assert_int_equal(back1 + back2 + back3, 300);
    /* Nothing left to give back after that. */
    assert_int_equal(tp_rewards_refund_return(&c, 300, 1000, 1000, 1, 300), 0);
}

static void a_refund_beyond_what_is_left_never_gives_back_more_than_spent(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    /* 6.00 of 10.00: 300 * 0.6 = 180. */
    int64_t first = tp_rewards_refund_return(&c, 300, 1000, 0, 600, 0);
    assert_int_equal(first, 180);
    /* Then 6.00 more, though only 4.00 is left: the remaining 120. */
    assert_int_equal(tp_rewards_refund_return(&c, 300, 1000, 600, 600, first), 120);
    /* A single refund of twice the receipt: the 300 spent, no more. */
    assert_int_equal(tp_rewards_refund_return(&c, 300, 1000, 0, 2000, 0), 300);
    /* More already given back than the total due now (a caller's slip): 0. */
    assert_int_equal(tp_rewards_refund_return(&c, 300, 1000, 0, 100, 250), 0);
    /* Nothing spent, nothing back. */
    assert_int_equal(tp_rewards_refund_return(&c, 0, 1000, 0, 1000, 0), 0);
}

static void refund_kept_gives_nothing_back(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    c.redeem.refund = TP_POINTS_REFUND_KEPT;
    assert_int_equal(tp_rewards_refund_return(&c, 300, 1000, 0, 1000, 0), 0);
    assert_int_equal(tp_rewards_refund_return(&c, 300, 1000, 0, 500, 0), 0);
}

static void refund_return_is_exact_where_the_product_overflows(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    /* 10^12 points spent on 999,999,999.99 (99,999,999,999 minor units);
     * a third of it refunded (33,333,333,333): 10^12 / 3 =
     * 333,333,333,333.3 -> 333,333,333,333. The product 10^12 *
     * 33,333,333,333 is about 3.3e22, beyond int64. */
    assert_int_equal(tp_rewards_refund_return(&c, 1000000000000LL, 99999999999LL, 0,
                                              33333333333LL, 0),
                     333333333333LL);
}

static void refund_sequences_always_add_up_to_the_cumulative_share(void **state)
{
    (void)state;
    tp_config c = store("EUR");
    /* Random partial refunds (a fixed linear congruential sequence) until
     * the receipt is refunded in full: after each, the points given back
     * so far are floor(spent * refunded / paid), never more than spent,
     * and exactly spent at the end. */
    uint64_t seed = 12345;
    for (int trial = 0; trial < 2000; trial++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t spent = (int64_t)(seed >> 33) % 100000 + 1;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t paid = (int64_t)(seed >> 33) % 1000000 + 1;
        int64_t refunded = 0, returned = 0;
        while (refunded < paid) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            int64_t part = (int64_t)(seed >> 33) % (paid / 3 + 1) + 1;
            int64_t back = tp_rewards_refund_return(&c, spent, paid, refunded, part, returned);
            assert_true(back >= 0);
            refunded += part;
            returned += back;
            int64_t share = refunded >= paid ? spent : spent * refunded / paid; /* < 1e11 */
            assert_int_equal(returned, share);
            assert_true(returned <= spent);
        }
        assert_int_equal(returned, spent);
    }
}

static void points_are_earned_on_what_was_paid_unless_configured_otherwise(void **state)
{
    (void)state;
    tp_config c = store("EUR"); /* earn_on = paid */
    /* 10.00 eligible, 3.00 of it paid by points: earns on 7.00. */
    assert_int_equal(tp_rewards_earn_base(&c, 1000, 300), 700);
    /* Points paid for all of it, or more: earns on nothing, never less. */
    assert_int_equal(tp_rewards_earn_base(&c, 1000, 1000), 0);
    assert_int_equal(tp_rewards_earn_base(&c, 1000, 1200), 0);
    assert_int_equal(tp_rewards_earn_base(&c, 1000, 0), 1000);
    c.redeem.earn_on = TP_EARN_ON_ELIGIBLE;
    /* As if no points were used: 10.00. */
    assert_int_equal(tp_rewards_earn_base(&c, 1000, 300), 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(amount_off_never_takes_more_than_the_eligible_amount),
        cmocka_unit_test(percent_off_rounds_down_to_the_minor_unit),
        cmocka_unit_test(percent_cap_bounds_the_percent),
        cmocka_unit_test(a_yen_store_counts_whole_yen),
        cmocka_unit_test(a_kuwaiti_dinar_store_counts_fils),
        cmocka_unit_test(min_basket_is_met_at_the_edge_and_not_a_cent_below),
        cmocka_unit_test(max_per_receipt_counts_the_times_already_applied),
        cmocka_unit_test(free_item_is_the_first_matching_line_not_already_free),
        cmocka_unit_test(free_item_not_on_the_receipt_says_to_add_it),
        cmocka_unit_test(lines_checkout_would_refuse_are_refused_here_too),
        cmocka_unit_test(affordable_lists_the_rewards_a_balance_pays_for),
        cmocka_unit_test(points_are_worth_the_rate_rounded_down),
        cmocka_unit_test(paying_with_points_uses_whole_steps_above_the_minimum),
        cmocka_unit_test(paying_with_points_spends_no_point_on_a_rounding_remainder),
        cmocka_unit_test(paying_with_points_never_pays_more_than_asked_over_many_amounts),
        cmocka_unit_test(partial_refunds_give_back_exactly_the_spent_points_in_the_end),
        cmocka_unit_test(a_refund_beyond_what_is_left_never_gives_back_more_than_spent),
        cmocka_unit_test(refund_kept_gives_nothing_back),
        cmocka_unit_test(refund_return_is_exact_where_the_product_overflows),
        cmocka_unit_test(refund_sequences_always_add_up_to_the_cumulative_share),
        cmocka_unit_test(points_are_earned_on_what_was_paid_unless_configured_otherwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
