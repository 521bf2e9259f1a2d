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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
