/* Unit tests for plugin/config.c. */
#include "testutil.h"

#include "config.h"

static void defaults_run_without_any_file(void **state)
{
    (void)state;
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load(&c, NULL, &msg), TP_OK);
    assert_string_equal(c.location, "store-1");
    assert_string_equal(c.terminal, "till-1");
    assert_string_equal(c.currency, "EUR");
    assert_string_equal(c.database, "tillpoints.db");
    assert_int_equal(c.rules.kind, TP_PROGRAM_SPEND);
    assert_int_equal(c.rules.points_per_unit, 1);
    assert_int_equal(c.rules.unit_minor, 100);
    assert_int_equal(c.rules.rounding, TP_ROUND_FLOOR);
    assert_int_equal(c.queue_capacity, 4096);
    assert_int_equal(c.shutdown_deadline_ms, 3000);
}

static void file_overrides_defaults_and_resolves_database_beside_it(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/t.conf", dir);
    tu_write_file(path, "[store]\nlocation = berlin-2\ncurrency = USD\ndatabase = x.db\n"
                        "[program]\nkind = visits\nrounding = ceil\n"
                        "exclude_categories = tobacco, lottery\n");
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load(&c, path, &msg), TP_OK);
    assert_string_equal(c.location, "berlin-2");
    assert_string_equal(c.currency, "USD");
    char want[300];
    snprintf(want, sizeof want, "%s/x.db", dir);
    assert_string_equal(c.database, want);
    assert_int_equal(c.rules.kind, TP_PROGRAM_VISITS);
    assert_int_equal(c.rules.rounding, TP_ROUND_CEIL);
    assert_int_equal(c.rules.n_excluded_categories, 2);
    assert_string_equal(c.rules.excluded_categories[1], "lottery");
    tu_rmdir(dir);
}

static void bad_values_name_the_line_and_leave_the_config_untouched(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *needle;
    } cases[] = {
        {"[store]\ncurrency = euro\n", "line 2: [store] currency must be an ISO 4217"},
        {"[program]\n\npoints_per_unit = 0\n", "line 3: [program] points_per_unit"},
        {"[program]\nunit_minor = 1.5\n", "unit_minor"},
        {"[program]\nrounding = up\n", "floor, nearest or ceil"},
        {"[program]\nkind = cashback\n", "spend or visits"},
        {"[limits]\nshutdown_deadline_ms = 50\n", "from 100 to 60000"},
        {"[store]\nlocaton = x\n", "not a setting tillpoints knows"},
        {"[store]\nlocation = has space\n", "letters, digits"},
        {"[limits]\nqueue_capacity = 99999999999999999999\n", "queue_capacity"},
        {"this is not ini\n", "line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_config c;
        memset(&c, 0x5a, sizeof c);
        tp_message msg;
        assert_int_equal(tp_config_load_string(&c, cases[i].text, &msg), TP_ERR_CONFIG);
        if (!strstr(msg.text, cases[i].needle))
            fail_msg("case %zu: message '%s' lacks '%s'", i, msg.text, cases[i].needle);
        assert_int_equal((unsigned char)c.location[0], 0x5a);
    }
}

static void overlong_line_is_refused_not_cut(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "[store]\nlocation = %0400d\n", 1);
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load_string(&c, text, &msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "longer than"));
}

static void campaigns_are_read_from_named_sections(void **state)
{
    (void)state;
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load_string(&c,
                                           "[campaign \"double-dec\"]\nmultiplier = 2\n"
                                           "start = 2026-12-01\nend = 2027-01-01T00:00Z\n"
                                           "location = store-2\n"
                                           "[campaign \"welcome\"]\nbonus = 50\nretro = yes\n",
                                           &msg),
                     TP_OK);
    assert_int_equal(c.rules.n_campaigns, 2);
    assert_string_equal(c.rules.campaigns[0].name, "double-dec");
    assert_int_equal(c.rules.campaigns[0].multiplier, 2);
    assert_int_equal(c.rules.campaigns[0].start_ms, 1796083200000LL); /* 2026-12-01 UTC */
    assert_int_equal(c.rules.campaigns[0].end_ms, 1798761600000LL);   /* 2027-01-01 UTC */
    assert_string_equal(c.rules.campaigns[0].location, "store-2");
    assert_int_equal(c.rules.campaigns[1].bonus, 50);
    assert_true(c.rules.campaigns[1].retro);
    assert_int_equal(tp_config_load_string(&c, "[campaign \"x\"]\nstart = 2026-02-30\n", &msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "UTC date"));
    assert_int_equal(tp_config_load_string(&c, "[campaign \"x\"]\nstart = 2027-01-01\n"
                                               "end = 2026-01-01\n", &msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "ends before it starts"));
}

static void missing_file_says_which_file(void **state)
{
    (void)state;
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load(&c, "/nonexistent/tillpoints.conf", &msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "/nonexistent/tillpoints.conf"));
}

static void retro_approval_settings_have_safe_defaults_and_a_floor(void **state)
{
    (void)state;
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load(&c, NULL, &msg), TP_OK);
    assert_int_equal(c.retro.pin_min_digits, 6);
    assert_false(c.retro.trust_host_managers);
    assert_int_equal(c.retro.future_skew_ms, 5 * 60000);
    assert_int_equal(tp_config_load_string(&c, "[retro]\npin_min_digits = 4\n"
                                               "trust_host_managers = yes\n"
                                               "future_skew_minutes = 0\n", &msg), TP_OK);
    assert_int_equal(c.retro.pin_min_digits, 4);
    assert_true(c.retro.trust_host_managers);
    assert_int_equal(c.retro.future_skew_ms, 0);
    /* Never below 4 digits, said in a sentence; the config is untouched. */
    const char *bad[] = {"[retro]\npin_min_digits = 3\n", "[retro]\npin_min_digits = 0\n",
                         "[retro]\npin_min_digits = 13\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&c, 0x5a, sizeof c);
        assert_int_equal(tp_config_load_string(&c, bad[i], &msg), TP_ERR_CONFIG);
        assert_non_null(strstr(msg.text, "[retro] pin_min_digits must be from 4 to 12 digits"));
        assert_int_equal((unsigned char)c.location[0], 0x5a);
    }
    assert_int_equal(tp_config_load_string(&c, "[retro]\ntrust_host_managers = maybe\n", &msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "trust_host_managers must be yes or no"));
    assert_int_equal(tp_config_load_string(&c, "[retro]\nfuture_skew_minutes = 1440\n", &msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "future_skew_minutes must be a number of minutes from 0"));
}

static void rewards_and_redeem_are_off_by_default(void **state)
{
    (void)state;
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load(&c, NULL, &msg), TP_OK);
    assert_int_equal(c.n_rewards, 0);
    assert_false(c.redeem.pay_with_points);
    assert_int_equal(c.redeem.points_per_unit, 0);
    assert_int_equal(c.redeem.unit_minor, 0);
    assert_int_equal(c.redeem.min_points, 0); /* points_per_unit, unset */
    assert_int_equal(c.redeem.step_points, 1);
    assert_int_equal(c.redeem.earn_on, TP_EARN_ON_PAID);
    assert_int_equal(c.redeem.refund, TP_POINTS_REFUND_BACK);
}

static void a_full_rewards_example_loads_every_setting(void **state)
{
    (void)state;
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load_string(&c,
                                           "[store]\ncurrency = EUR\n"
                                           "[reward \"five-off\"]\ncost = 500\n"
                                           "amount_off = 5.00\n"
                                           "[reward \"fifteen\"]\ncost = 1500\n"
                                           "percent_off = 15\npercent_cap = 10.00\n"
                                           "min_basket = 20.00\nmax_per_receipt = 2\n"
                                           "label = 15 % off (Kaffee & Kuchen)\n"
                                           "[reward coffee]\ncost = 300\nfree_sku = 4006381333931\n"
                                           "min_basket = 0.5\n"
                                           "[redeem]\npay_with_points = yes\n"
                                           "points_per_unit = 100\nunit = 1.00\n"
                                           "min_points = 200\nstep_points = 50\n"
                                           "earn_on = eligible\nrefund = kept\n",
                                           &msg),
                     TP_OK);
    assert_int_equal(c.n_rewards, 3);
    const tp_reward_config *r = &c.rewards[0];
    assert_string_equal(r->name, "five-off");
    assert_string_equal(r->label, "five-off"); /* the name when no label is given */
    assert_int_equal(r->kind, TP_REWARD_AMOUNT_OFF);
    assert_int_equal(r->cost, 500);
    assert_int_equal(r->amount_off_minor, 500); /* 5.00 EUR = 500 cents */
    assert_int_equal(r->min_basket_minor, 0);
    assert_int_equal(r->max_per_receipt, 1);
    r = &c.rewards[1];
    assert_int_equal(r->kind, TP_REWARD_PERCENT_OFF);
    assert_int_equal(r->percent_off, 15);
    assert_int_equal(r->percent_cap_minor, 1000);
    assert_int_equal(r->min_basket_minor, 2000);
    assert_int_equal(r->max_per_receipt, 2);
    assert_string_equal(r->label, "15 % off (Kaffee & Kuchen)");
    r = &c.rewards[2];
    assert_string_equal(r->name, "coffee"); /* a name without quotes, as for campaigns */
    assert_int_equal(r->kind, TP_REWARD_FREE_SKU);
    assert_string_equal(r->free_sku, "4006381333931");
    assert_int_equal(r->min_basket_minor, 50); /* 0.5 = 0.50 = 50 cents */
    assert_true(c.redeem.pay_with_points);
    assert_int_equal(c.redeem.points_per_unit, 100);
    assert_int_equal(c.redeem.unit_minor, 100);
    assert_int_equal(c.redeem.min_points, 200);
    assert_int_equal(c.redeem.step_points, 50);
    assert_int_equal(c.redeem.earn_on, TP_EARN_ON_ELIGIBLE);
    assert_int_equal(c.redeem.refund, TP_POINTS_REFUND_KEPT);
}

static void min_points_defaults_to_the_points_of_one_unit(void **state)
{
    (void)state;
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load_string(&c, "[redeem]\npay_with_points = yes\n"
                                               "points_per_unit = 250\nunit = 2.00\n"
                                               "step_points = 50\n", &msg),
                     TP_OK);
    assert_int_equal(c.redeem.min_points, 250); /* a multiple of 50 */
    assert_int_equal(c.redeem.unit_minor, 200);
}

static void reward_amounts_are_read_with_the_currency_decimals(void **state)
{
    (void)state;
    tp_config c;
    tp_message msg;
    /* JPY has no decimals: 500 is 500 yen. */
    assert_int_equal(tp_config_load_string(&c, "[store]\ncurrency = JPY\n"
                                               "[reward \"yen\"]\ncost = 10\namount_off = 500\n",
                                               &msg),
                     TP_OK);
    assert_int_equal(c.rewards[0].amount_off_minor, 500);
    assert_int_equal(tp_config_load_string(&c, "[store]\ncurrency = JPY\n"
                                               "[reward \"yen\"]\ncost = 10\namount_off = 5.00\n",
                                               &msg),
                     TP_ERR_CONFIG);
    assert_string_equal(msg.text, "configuration line 5: [reward \"yen\"] amount_off must be an "
                                  "amount in JPY without decimals, more than 0, such as 5.");
    /* The reward comes before [store]: the currency given after it still
     * decides. KWD has 3 decimals: 1.250 is 1250 fils, 2.5 is 2500. */
    assert_int_equal(tp_config_load_string(&c, "[reward \"kw\"]\ncost = 10\namount_off = 1.250\n"
                                               "min_basket = 2.5\n"
                                               "[store]\ncurrency = KWD\n", &msg),
                     TP_OK);
    assert_int_equal(c.rewards[0].amount_off_minor, 1250);
    assert_int_equal(c.rewards[0].min_basket_minor, 2500);
    /* Three decimals are one too many in EUR. */
    assert_int_equal(tp_config_load_string(&c, "[reward \"e\"]\ncost = 10\n"
                                               "amount_off = 1.250\n", &msg),
                     TP_ERR_CONFIG);
    assert_string_equal(msg.text, "configuration line 3: [reward \"e\"] amount_off must be an "
                                  "amount in EUR with at most 2 decimals, more than 0, such as "
                                  "5.00.");
}

static void bad_rewards_are_refused_with_a_sentence_and_change_nothing(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *message; /* the whole sentence */
    } cases[] = {
        {"[reward \"a\"]\ncost = -5\namount_off = 1.00\n",
         "configuration line 2: [reward \"a\"] cost must be a whole number of points from 1 to "
         "100000000."},
        {"[reward \"a\"]\ncost = 100000001\namount_off = 1.00\n",
         "configuration line 2: [reward \"a\"] cost must be a whole number of points from 1 to "
         "100000000."},
        {"[reward \"a\"]\ncost = 10\npercent_off = 101\n",
         "configuration line 3: [reward \"a\"] percent_off must be a whole number from 1 to "
         "100."},
        {"[reward \"a\"]\ncost = 10\npercent_off = 0\n",
         "configuration line 3: [reward \"a\"] percent_off must be a whole number from 1 to "
         "100."},
        {"[reward \"a\"]\ncost = 10\namount_off = 1.00\nfree_sku = X1\n",
         "configuration line 4: [reward \"a\"] free_sku is a second kind of reward: a reward is "
         "exactly one of amount_off, percent_off or free_sku."},
        {"[reward \"a\"]\ncost = 10\nmin_basket = 5.00\n",
         "configuration line 2: [reward \"a\"] needs what the customer gets: one of amount_off, "
         "percent_off or free_sku."},
        {"[reward \"a\"]\ncost = 10\npercent_cap = 2.00\namount_off = 1.00\n",
         "configuration line 3: [reward \"a\"] percent_cap only bounds a percent_off reward; "
         "this reward has no percent_off."},
        {"[reward \"a\"]\namount_off = 1.00\n",
         "configuration line 2: [reward \"a\"] cost is missing: the points the reward costs, a "
         "whole number from 1 to 100000000."},
        {"[reward]\ncost = 10\n",
         "configuration line 2: [reward] cost belongs to a reward section that needs a name of "
         "1-32 letters, digits, '-', '_' or '.': [reward \"coffee\"]."},
        {"[reward \"\"]\ncost = 10\n",
         "configuration line 2: [reward \"\"] cost belongs to a reward section that needs a "
         "name of 1-32 letters, digits, '-', '_' or '.': [reward \"coffee\"]."},
        {"[reward \"free coffee\"]\ncost = 10\n",
         "configuration line 2: [reward \"free coffee\"] cost belongs to a reward whose name is "
         "not 1-32 letters, digits, '-', '_' or '.'."},
        {"[reward \"a\"]\ncost = 10\namount_off = 1.00\ncost = 20\n",
         "configuration line 4: [reward \"a\"] cost is given twice for this reward; keep one."},
        {"[reward \"a\"]\ncost = 10\namount_off = 1.00\n[reward \"a\"]\namount_off = 2.00\n",
         "configuration line 5: [reward \"a\"] amount_off is given twice for this reward; keep "
         "one."},
        {"[reward \"a\"]\ncost = 10\namount_of = 1.00\n",
         "configuration line 3: [reward \"a\"] amount_of is not a reward setting (cost, "
         "amount_off, percent_off, percent_cap, free_sku, min_basket, max_per_receipt, label)."},
        {"[rewards]\ncost = 10\n",
         "configuration line 2: [rewards] cost is not a setting tillpoints knows; check its "
         "spelling."},
        {"[reward \"a\"]\ncost = 10\namount_off = 0.00\n",
         "configuration line 3: [reward \"a\"] amount_off must be an amount in EUR with at most "
         "2 decimals, more than 0, such as 5.00."},
        {"[reward \"a\"]\ncost = 10\namount_off = -5.00\n",
         "configuration line 3: [reward \"a\"] amount_off must be an amount in EUR with at most "
         "2 decimals, more than 0, such as 5.00."},
        {"[reward \"a\"]\ncost = 10\npercent_off = 10\npercent_cap = 0\n",
         "configuration line 4: [reward \"a\"] percent_cap must be an amount in EUR with at "
         "most 2 decimals, more than 0, such as 5.00."},
        {"[reward \"a\"]\ncost = 10\namount_off = 1.00\nmin_basket = ten\n",
         "configuration line 4: [reward \"a\"] min_basket must be an amount in EUR with at "
         "most 2 decimals, 0 or more, such as 5.00."},
        {"[reward \"a\"]\ncost = 10\namount_off = 1.00\nmax_per_receipt = 0\n",
         "configuration line 4: [reward \"a\"] max_per_receipt must be a whole number from 1 to "
         "100."},
        {"[reward \"a\"]\ncost = 10\nfree_sku = "
         "12345678901234567890123456789012345678901234567890123456789012345\n",
         "configuration line 3: [reward \"a\"] free_sku must be a SKU of 1 to 64 bytes."},
        {"[reward \"a\"]\ncost = 10\namount_off = 1.00\nlabel = \xff\xfe\n",
         "configuration line 4: [reward \"a\"] label must be 1 to 128 bytes of UTF-8 text (a "
         "letter with an accent takes two)."},
        {"[redeem]\npay_with_points = yes\npoints_per_unit = 100\n",
         "configuration line 2: [redeem] pay_with_points = yes needs the rate: points_per_unit "
         "and unit (100 and 1.00: 100 points pay 1.00)."},
        {"[redeem]\npay_with_points = yes\npoints_per_unit = 100\nunit = 1.00\n"
         "min_points = 230\nstep_points = 50\n",
         "configuration line 5: [redeem] min_points (230) must be a multiple of step_points "
         "(50), such as 200 or 250."},
        {"[redeem]\npay_with_points = yes\npoints_per_unit = 100\nunit = 1.00\n"
         "step_points = 30\n",
         "configuration line 5: [redeem] min_points, points_per_unit (100) when not given, must "
         "be a multiple of step_points (30); set min_points to 90 or 120."},
        {"[redeem]\nunit = 0\n",
         "configuration line 2: [redeem] unit must be an amount in EUR with at most 2 decimals, "
         "more than 0, such as 5.00."},
        {"[redeem]\nstep_points = 0\n",
         "configuration line 2: [redeem] step_points must be a whole number of points from 1 to "
         "100000000."},
        {"[redeem]\nearn_on = net\n",
         "configuration line 2: [redeem] earn_on must be paid (points are earned on the "
         "eligible amount minus what points paid for) or eligible."},
        {"[redeem]\nrefund = yes\n",
         "configuration line 2: [redeem] refund must be back (a refund gives spent points back "
         "in proportion) or kept."},
        {"[redeem]\nrate = 100\n",
         "configuration line 2: [redeem] rate is not a [redeem] setting (pay_with_points, "
         "points_per_unit, unit, min_points, step_points, earn_on, refund, confirm_timeout_ms, offline_allowance)."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_config c;
        memset(&c, 0x5a, sizeof c);
        tp_message msg;
        assert_int_equal(tp_config_load_string(&c, cases[i].text, &msg), TP_ERR_CONFIG);
        if (strcmp(msg.text, cases[i].message) != 0)
            fail_msg("case %zu: message\n  '%s'\nwanted\n  '%s'", i, msg.text,
                     cases[i].message);
        assert_int_equal((unsigned char)c.location[0], 0x5a);
        assert_int_equal((unsigned char)((unsigned char *)&c.n_rewards)[0], 0x5a);
    }
}

static void at_most_32_rewards(void **state)
{
    (void)state;
    char text[8192];
    size_t len = 0;
    for (int i = 0; i < TP_REWARDS_MAX + 1; i++)
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "[reward \"r%d\"]\ncost = %d\namount_off = 1.00\n", i, i + 1);
    tp_config c;
    tp_message msg;
    assert_int_equal(tp_config_load_string(&c, text, &msg), TP_ERR_CONFIG);
    /* The 33rd reward's first key is line 3 * 32 + 2 = 98. */
    assert_string_equal(msg.text, "configuration line 98: [reward \"r32\"] cost is in one "
                                  "reward too many (at most 32).");
    /* Without the 33rd, all 32 load. */
    text[strstr(text, "[reward \"r32\"]") - text] = '\0';
    assert_int_equal(tp_config_load_string(&c, text, &msg), TP_OK);
    assert_int_equal(c.n_rewards, TP_REWARDS_MAX);
    assert_int_equal(c.rewards[31].cost, 32);
}

static void a_bad_reward_in_a_file_names_the_file(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/t.conf", dir);
    tu_write_file(path, "[store]\nlocation = a\n\n[reward \"big\"]\ncost = -1\n");
    tp_config c;
    memset(&c, 0x5a, sizeof c);
    tp_message msg;
    assert_int_equal(tp_config_load(&c, path, &msg), TP_ERR_CONFIG);
    char want[512];
    snprintf(want, sizeof want, "%s line 5: [reward \"big\"] cost must be a whole number of "
             "points from 1 to 100000000.", path);
    assert_string_equal(msg.text, want);
    assert_int_equal((unsigned char)c.location[0], 0x5a);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_run_without_any_file),
        cmocka_unit_test(file_overrides_defaults_and_resolves_database_beside_it),
        cmocka_unit_test(bad_values_name_the_line_and_leave_the_config_untouched),
        cmocka_unit_test(overlong_line_is_refused_not_cut),
        cmocka_unit_test(campaigns_are_read_from_named_sections),
        cmocka_unit_test(missing_file_says_which_file),
        cmocka_unit_test(retro_approval_settings_have_safe_defaults_and_a_floor),
        cmocka_unit_test(rewards_and_redeem_are_off_by_default),
        cmocka_unit_test(a_full_rewards_example_loads_every_setting),
        cmocka_unit_test(min_points_defaults_to_the_points_of_one_unit),
        cmocka_unit_test(reward_amounts_are_read_with_the_currency_decimals),
        cmocka_unit_test(bad_rewards_are_refused_with_a_sentence_and_change_nothing),
        cmocka_unit_test(at_most_32_rewards),
        cmocka_unit_test(a_bad_reward_in_a_file_names_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
