/* Unit tests for host-shim/host.c helpers that do not need a plugin. */
#include "testutil.h"

#include "host.h"

static void money_parses_exactly_without_floating_point(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(tp_hostlib_parse_money("4.50", "EUR", &v), 0);
    assert_int_equal(v, 450);
    assert_int_equal(tp_hostlib_parse_money("4.5", "EUR", &v), 0);
    assert_int_equal(v, 450);
    assert_int_equal(tp_hostlib_parse_money("12", "EUR", &v), 0);
    assert_int_equal(v, 1200);
    assert_int_equal(tp_hostlib_parse_money("0.07", "EUR", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(tp_hostlib_parse_money("999999999.99", "EUR", &v), 0);
    assert_int_equal(v, 99999999999LL);
    /* With the currency's own decimals: none for yen, three for dinars. */
    assert_int_equal(tp_hostlib_parse_money("1250", "JPY", &v), 0);
    assert_int_equal(v, 1250);
    assert_int_equal(tp_hostlib_parse_money("12.50", "JPY", &v), -1);
    assert_int_equal(tp_hostlib_parse_money("1.250", "KWD", &v), 0);
    assert_int_equal(v, 1250);
}

static void money_refuses_what_a_cashier_could_mistype(void **state)
{
    (void)state;
    const char *bad[] = {"", "-1", "1.234", "1.", ".5", "1,50", "1e3", "abc", "1000000000",
                         "1..2", " 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        if (tp_hostlib_parse_money(bad[i], "EUR", &v) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(v, 42);
    }
}

/* Installed programs load only the installed plugin: --plugin or
 * $TILLPOINTS_PLUGIN may name another, nothing else is looked at — not a
 * tillpoints.so in the current directory, not one beside the program. */
static void plugin_path_is_explicit_or_the_installed_one(void **state)
{
    (void)state;
    char dir[256], here[4096], planted[300], path[4096];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(planted, sizeof planted, "%s/tillpoints.so", dir);
    tu_write_file(planted, "not a plugin\n");
    assert_non_null(getcwd(here, sizeof here));
    assert_int_equal(chdir(dir), 0);
    const char *saved = getenv("TILLPOINTS_PLUGIN");
    char keep[4096] = "";
    if (saved)
        snprintf(keep, sizeof keep, "%s", saved);

    unsetenv("TILLPOINTS_PLUGIN");
    assert_int_equal(tp_hostlib_plugin_path(NULL, path, sizeof path), TP_HOSTLIB_PLUGIN_INSTALLED);
    assert_string_equal(path, TP_INSTALLED_PLUGIN);
    setenv("TILLPOINTS_PLUGIN", "", 1); /* empty: not a choice */
    assert_int_equal(tp_hostlib_plugin_path(NULL, path, sizeof path), TP_HOSTLIB_PLUGIN_INSTALLED);
    setenv("TILLPOINTS_PLUGIN", planted, 1);
    assert_int_equal(tp_hostlib_plugin_path(NULL, path, sizeof path), TP_HOSTLIB_PLUGIN_ENV);
    assert_string_equal(path, planted);
    assert_int_equal(tp_hostlib_plugin_path("/opt/x/tillpoints.so", path, sizeof path),
                     TP_HOSTLIB_PLUGIN_GIVEN);
    assert_string_equal(path, "/opt/x/tillpoints.so");

    if (keep[0])
        setenv("TILLPOINTS_PLUGIN", keep, 1);
    else
        unsetenv("TILLPOINTS_PLUGIN");
    assert_int_equal(chdir(here), 0);
    tu_rmdir(dir);
}

static void every_status_has_a_name(void **state)
{
    (void)state;
    for (int s = TP_OK; s <= TP_ERR_LOCKED_OUT; s++)
        assert_string_not_equal(tp_hostlib_status_name((tp_status)s), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(money_parses_exactly_without_floating_point),
        cmocka_unit_test(money_refuses_what_a_cashier_could_mistype),
        cmocka_unit_test(every_status_has_a_name),
        cmocka_unit_test(plugin_path_is_explicit_or_the_installed_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
