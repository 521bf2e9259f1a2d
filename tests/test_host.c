/* Unit tests for host-shim/host.c helpers that do not need a plugin. */
#include "testutil.h"

#include "host.h"

static void money_parses_exactly_without_floating_point(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(tp_hostlib_parse_money("4.50", &v), 0);
    assert_int_equal(v, 450);
    assert_int_equal(tp_hostlib_parse_money("4.5", &v), 0);
    assert_int_equal(v, 450);
    assert_int_equal(tp_hostlib_parse_money("12", &v), 0);
    assert_int_equal(v, 1200);
    assert_int_equal(tp_hostlib_parse_money("0.07", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(tp_hostlib_parse_money("999999999.99", &v), 0);
    assert_int_equal(v, 99999999999LL);
}

static void money_refuses_what_a_cashier_could_mistype(void **state)
{
    (void)state;
    const char *bad[] = {"", "-1", "1.234", "1.", ".5", "1,50", "1e3", "abc", "1000000000",
                         "1..2", " 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        if (tp_hostlib_parse_money(bad[i], &v) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(v, 42);
    }
}

static void every_status_has_a_name(void **state)
{
    (void)state;
    for (int s = TP_OK; s <= TP_ERR_INTERNAL; s++)
        assert_string_not_equal(tp_hostlib_status_name((tp_status)s), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(money_parses_exactly_without_floating_point),
        cmocka_unit_test(money_refuses_what_a_cashier_could_mistype),
        cmocka_unit_test(every_status_has_a_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
