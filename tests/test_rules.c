/* Unit tests for plugin/rules.c: eligible amounts, points, refunds. Every
 * expectation is computed by hand in the comment beside it. */
#include "testutil.h"

#include "config.h"
#include "rules.h"

static tp_rules_config spend(int64_t ppu, int64_t unit, tp_rounding r)
{
    tp_rules_config c;
    memset(&c, 0, sizeof c);
    c.kind = TP_PROGRAM_SPEND;
    c.points_per_unit = ppu;
    c.unit_minor = unit;
    c.rounding = r;
    return c;
}

static void floor_rounding_drops_the_fraction(void **state)
{
    (void)state;
    tp_rules_config c = spend(1, 100, TP_ROUND_FLOOR);
    assert_int_equal(tp_rules_points(&c, 199), 1); /* 1.99 -> 1 */
    assert_int_equal(tp_rules_points(&c, 200), 2);
    assert_int_equal(tp_rules_points(&c, 99), 0);
    assert_int_equal(tp_rules_points(&c, 0), 0);
}

static void nearest_rounds_half_up_and_ceil_rounds_any_fraction_up(void **state)
{
    (void)state;
    tp_rules_config n = spend(1, 100, TP_ROUND_NEAREST);
    assert_int_equal(tp_rules_points(&n, 149), 1); /* 1.49 -> 1 */
    assert_int_equal(tp_rules_points(&n, 150), 2); /* 1.50 -> 2 */
    tp_rules_config c = spend(1, 100, TP_ROUND_CEIL);
    assert_int_equal(tp_rules_points(&c, 101), 2); /* 1.01 -> 2 */
    assert_int_equal(tp_rules_points(&c, 100), 1);
}

static void rational_ratio_is_exact_in_integers(void **state)
{
    (void)state;
    /* 3 points per 2.00: 3.33 -> 333*3/200 = 4.995 */
    tp_rules_config f = spend(3, 200, TP_ROUND_FLOOR);
    assert_int_equal(tp_rules_points(&f, 333), 4);
    tp_rules_config c = spend(3, 200, TP_ROUND_CEIL);
    assert_int_equal(tp_rules_points(&c, 333), 5);
    tp_rules_config n = spend(3, 200, TP_ROUND_NEAREST);
    assert_int_equal(tp_rules_points(&n, 333), 5);
    /* Largest amount with the largest ratio still fits in int64:
     * 1e11 * 1e6 / 1 = 1e17. */
    tp_rules_config big = spend(1000000, 1, TP_ROUND_FLOOR);
    assert_int_equal(tp_rules_points(&big, TP_AMOUNT_MAX), 100000000000000000LL);
}

static void minimum_and_cap_bound_the_points(void **state)
{
    (void)state;
    tp_rules_config c = spend(1, 100, TP_ROUND_FLOOR);
    c.min_eligible_minor = 500;
    assert_int_equal(tp_rules_points(&c, 499), 0);
    assert_int_equal(tp_rules_points(&c, 500), 5);
    c.cap_per_receipt = 50;
    assert_int_equal(tp_rules_points(&c, 100000), 50); /* 1000 -> capped */
}

static void visits_program_gives_one_stamp_per_qualifying_visit(void **state)
{
    (void)state;
    tp_rules_config c = spend(1, 100, TP_ROUND_FLOOR);
    c.kind = TP_PROGRAM_VISITS;
    c.min_eligible_minor = 300;
    assert_int_equal(tp_rules_points(&c, 299), 0);
    assert_int_equal(tp_rules_points(&c, 300), 1);
    assert_int_equal(tp_rules_points(&c, 99999), 1);
}

static void a_receipt_that_earns_nothing_is_told_why(void **state)
{
    (void)state;
    char why[TP_MESSAGE_MAX + 1];
    tp_rules_config c = spend(1, 100, TP_ROUND_NEAREST);
    /* 0.49 at 1 point per 1.00, nearest: 0.49 -> 0. */
    assert_int_equal(tp_rules_why_none(&c, 49, 49, "EUR", why, sizeof why), 1);
    assert_string_equal(why, "its eligible amount, 0.49 EUR, is less than one point's worth "
                             "(1 point per 1.00 EUR, rounded to the nearest point)");
    assert_int_equal(tp_rules_why_none(&c, 0, 0, "EUR", why, sizeof why), 1);
    assert_string_equal(why, "its total is 0.00 EUR");
    /* 0.50 rounds up to one point: nothing to explain. */
    assert_int_equal(tp_rules_why_none(&c, 50, 50, "EUR", why, sizeof why), 0);
    assert_string_equal(why, "");
    c.kind = TP_PROGRAM_VISITS;
    assert_int_equal(tp_rules_why_none(&c, 900, 0, "EUR", why, sizeof why), 1);
    assert_string_equal(why, "none of its lines earn stamps (tax, tips, gift cards and "
                             "excluded items never do)");
    assert_string_equal(tp_rules_unit(&c, 1), "stamp");
    assert_string_equal(tp_rules_unit(&c, 0), "stamps");
}

static void tax_tips_gift_cards_and_exclusions_do_not_earn(void **state)
{
    (void)state;
    tp_rules_config c = spend(1, 100, TP_ROUND_FLOOR);
    c.n_excluded_categories = 1;
    strcpy(c.excluded_categories[0], "tobacco");
    c.n_excluded_skus = 1;
    strcpy(c.excluded_skus[0], "DEPOSIT");
    tp_line lines[] = {
        {.sku = "A", .amount_minor = 1000, .discount_minor = 150}, /* 8.50 earns */
        {.sku = "VAT", .amount_minor = 190, .flags = TP_LINE_TAX},
        {.sku = "TIP", .amount_minor = 200, .flags = TP_LINE_TIP},
        {.sku = "GC", .amount_minor = 2500, .flags = TP_LINE_GIFT_CARD},
        {.sku = "CIG", .category = "tobacco", .amount_minor = 700},
        {.sku = "DEPOSIT", .amount_minor = 25},
        {.sku = NULL, .category = NULL, .amount_minor = 100}, /* 1.00 earns */
    };
    int64_t total = 0, eligible = 0;
    tp_message msg;
    assert_int_equal(tp_rules_eligible(&c, lines, 7, sizeof(tp_line), &total, &eligible, &msg),
                     TP_OK);
    assert_int_equal(total, 850 + 190 + 200 + 2500 + 700 + 25 + 100);
    assert_int_equal(eligible, 950);
}

static void bad_lines_are_refused_with_the_line_number(void **state)
{
    (void)state;
    tp_rules_config c = spend(1, 100, TP_ROUND_FLOOR);
    int64_t total = -1, eligible = -1;
    tp_message msg;
    tp_line neg[] = {{.amount_minor = 100}, {.amount_minor = -5}};
    assert_int_equal(tp_rules_eligible(&c, neg, 2, sizeof(tp_line), &total, &eligible, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "Line 2"));
    assert_int_equal(total, -1); /* untouched */
    tp_line disc[] = {{.amount_minor = 100, .discount_minor = 101}};
    assert_int_equal(tp_rules_eligible(&c, disc, 1, sizeof(tp_line), &total, &eligible, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "discount"));
    tp_line over[] = {{.amount_minor = TP_AMOUNT_MAX}, {.amount_minor = 1}};
    assert_int_equal(tp_rules_eligible(&c, over, 2, sizeof(tp_line), &total, &eligible, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "total"));
    assert_int_equal(tp_rules_eligible(&c, NULL, 3, sizeof(tp_line), &total, &eligible, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        tp_rules_eligible(&c, over, TP_LINES_MAX + 1, sizeof(tp_line), &total, &eligible, &msg),
        TP_ERR_INVALID_ARGUMENT);
    char longsku[TP_SKU_MAX + 2];
    memset(longsku, 'x', sizeof longsku - 1);
    longsku[sizeof longsku - 1] = '\0';
    tp_line lsku[] = {{.sku = longsku, .amount_minor = 1}};
    assert_int_equal(tp_rules_eligible(&c, lsku, 1, sizeof(tp_line), &total, &eligible, &msg),
                     TP_ERR_TOO_LONG);
}

static void partial_refund_reverses_in_proportion_with_the_same_rounding(void **state)
{
    (void)state;
    tp_rules_config c = spend(1, 100, TP_ROUND_FLOOR);
    /* 27.99 earned 27. Refund 10.00: 17.99 left -> 17 kept -> reverse 10. */
    assert_int_equal(tp_rules_refund_points(&c, 27, 2799, 0, 1000, 0, 0, "store-1"), 10);
    /* Then refund 0.99: 17.00 left -> 17 kept -> reverse 0 more. */
    assert_int_equal(tp_rules_refund_points(&c, 27, 2799, 1000, 99, 10, 0, "store-1"), 0);
    /* Then the rest (17.00): 0 left -> reverse the remaining 17. */
    assert_int_equal(tp_rules_refund_points(&c, 27, 2799, 1099, 1700, 10, 0, "store-1"), 17);
}

static void refund_after_partial_refund_never_overdraws(void **state)
{
    (void)state;
    /* Every refund sequence, for several ratios and roundings: the sum of
     * reversals never exceeds the earned points, and refunding everything
     * reverses exactly what was earned. */
    tp_rounding rs[] = {TP_ROUND_FLOOR, TP_ROUND_NEAREST, TP_ROUND_CEIL};
    unsigned seed = 12345;
    for (int ri = 0; ri < 3; ri++) {
        for (int64_t ppu = 1; ppu <= 7; ppu += 3) {
            tp_rules_config c = spend(ppu, 100 + ppu * 37, rs[ri]);
            for (int trial = 0; trial < 200; trial++) {
                seed = seed * 1103515245u + 12345u;
                int64_t eligible = 1 + (int64_t)(seed % 100000);
                int64_t earned = tp_rules_points(&c, eligible);
                int64_t refunded = 0, reversed = 0;
                while (refunded < eligible) {
                    seed = seed * 1103515245u + 12345u;
                    int64_t part = 1 + (int64_t)(seed % (uint64_t)(eligible / 3 + 1));
                    if (part > eligible - refunded)
                        part = eligible - refunded;
                    int64_t r = tp_rules_refund_points(&c, earned, eligible, refunded, part,
                                                       reversed, 0, "store-1");
                    assert_true(r >= 0);
                    reversed += r;
                    refunded += part;
                    assert_true(reversed <= earned);
                }
                assert_int_equal(reversed, earned);
            }
        }
    }
}

static void campaigns_multiply_then_add_bonuses_inside_their_window(void **state)
{
    (void)state;
    tp_rules_config c = spend(1, 100, TP_ROUND_FLOOR);
    c.n_campaigns = 3;
    memset(c.campaigns, 0, sizeof c.campaigns);
    /* double points 1000..2000 everywhere; triple at store-2 only;
     * +50 bonus 1500..3000, also for retro credits */
    c.campaigns[0] = (tp_campaign){.name = "double", .multiplier = 2, .start_ms = 1000,
                                   .end_ms = 2000};
    c.campaigns[1] = (tp_campaign){.name = "triple", .multiplier = 3, .start_ms = 1000,
                                   .end_ms = 2000, .location = "store-2"};
    c.campaigns[2] = (tp_campaign){.name = "bonus", .multiplier = 1, .bonus = 50,
                                   .start_ms = 1500, .end_ms = 3000, .retro = 1};
    assert_int_equal(tp_rules_award(&c, 1000, 999, "store-1", 0), 10);   /* before */
    assert_int_equal(tp_rules_award(&c, 1000, 1000, "store-1", 0), 20);  /* x2 */
    assert_int_equal(tp_rules_award(&c, 1000, 1000, "store-2", 0), 30);  /* largest: x3 */
    assert_int_equal(tp_rules_award(&c, 1000, 1500, "store-1", 0), 70);  /* x2 + 50 */
    assert_int_equal(tp_rules_award(&c, 1000, 2000, "store-1", 0), 60);  /* end exclusive */
    assert_int_equal(tp_rules_award(&c, 1000, 1500, "store-1", 1), 60);  /* retro: bonus only */
    assert_int_equal(tp_rules_award(&c, 50, 1500, "store-1", 0), 0);     /* no base, no bonus */
    c.cap_per_receipt = 25;
    assert_int_equal(tp_rules_award(&c, 1000, 1500, "store-1", 0), 25);  /* cap on the total */
}

static void refunds_under_a_campaign_reverse_the_campaign_points_too(void **state)
{
    (void)state;
    tp_rules_config c = spend(1, 100, TP_ROUND_FLOOR);
    c.n_campaigns = 1;
    memset(c.campaigns, 0, sizeof c.campaigns);
    c.campaigns[0] = (tp_campaign){.name = "double", .multiplier = 2, .start_ms = 0,
                                   .end_ms = 5000};
    int64_t earned = tp_rules_award(&c, 1000, 100, "store-1", 0); /* 20 */
    assert_int_equal(earned, 20);
    /* Half refunded: 5.00 left earns 10 under the same campaign. */
    assert_int_equal(tp_rules_refund_points(&c, earned, 1000, 0, 500, 0, 100, "store-1"), 10);
    assert_int_equal(tp_rules_refund_points(&c, earned, 1000, 500, 500, 10, 100, "store-1"), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(floor_rounding_drops_the_fraction),
        cmocka_unit_test(nearest_rounds_half_up_and_ceil_rounds_any_fraction_up),
        cmocka_unit_test(rational_ratio_is_exact_in_integers),
        cmocka_unit_test(minimum_and_cap_bound_the_points),
        cmocka_unit_test(visits_program_gives_one_stamp_per_qualifying_visit),
        cmocka_unit_test(a_receipt_that_earns_nothing_is_told_why),
        cmocka_unit_test(tax_tips_gift_cards_and_exclusions_do_not_earn),
        cmocka_unit_test(bad_lines_are_refused_with_the_line_number),
        cmocka_unit_test(partial_refund_reverses_in_proportion_with_the_same_rounding),
        cmocka_unit_test(refund_after_partial_refund_never_overdraws),
        cmocka_unit_test(campaigns_multiply_then_add_bonuses_inside_their_window),
        cmocka_unit_test(refunds_under_a_campaign_reverse_the_campaign_points_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
