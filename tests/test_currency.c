/* ISO 4217 minor units: exponents, and amounts written and read with
 * exactly that many decimals (plugin/currency.c). */
#include "testutil.h"

#include "currency.h"

static void exponents_follow_iso_4217(void **state)
{
    (void)state;
    assert_int_equal(tp_currency_exponent("EUR"), 2);
    assert_int_equal(tp_currency_exponent("USD"), 2);
    assert_int_equal(tp_currency_exponent("JPY"), 0);
    assert_int_equal(tp_currency_exponent("KRW"), 0);
    assert_int_equal(tp_currency_exponent("KWD"), 3);
    assert_int_equal(tp_currency_exponent("BHD"), 3);
    assert_int_equal(tp_currency_exponent("CLF"), 4);
    assert_int_equal(tp_currency_exponent("XOF"), 0);
    assert_int_equal(tp_currency_exponent(NULL), 2);
}

static void amounts_are_written_with_the_currencys_decimals(void **state)
{
    (void)state;
    char b[32];
    tp_money_format(b, sizeof b, 1250, 2);
    assert_string_equal(b, "12.50");
    tp_money_format(b, sizeof b, 1250, 0);
    assert_string_equal(b, "1250");
    tp_money_format(b, sizeof b, 1250, 3);
    assert_string_equal(b, "1.250");
    tp_money_format(b, sizeof b, 5, 4);
    assert_string_equal(b, "0.0005");
    tp_money_format(b, sizeof b, -7, 2);
    assert_string_equal(b, "-0.07");
    tp_money_format(b, sizeof b, INT64_MIN, 2);
    assert_string_equal(b, "-92233720368547758.08");
}

static void amounts_are_read_with_at_most_the_currencys_decimals(void **state)
{
    (void)state;
    int64_t m = -1;
    assert_int_equal(tp_money_parse("12.5", 2, &m), 0);
    assert_int_equal(m, 1250);
    assert_int_equal(tp_money_parse("12", 2, &m), 0);
    assert_int_equal(m, 1200);
    assert_int_equal(tp_money_parse("1250", 0, &m), 0);
    assert_int_equal(m, 1250);
    assert_int_equal(tp_money_parse("1.250", 3, &m), 0);
    assert_int_equal(m, 1250);
    assert_int_equal(tp_money_parse("1.2", 3, &m), 0);
    assert_int_equal(m, 1200);
    assert_int_equal(tp_money_parse("12.50", 0, &m), -1); /* yen have no decimals */
    assert_int_equal(tp_money_parse("12.505", 2, &m), -1);
    assert_int_equal(tp_money_parse("12.", 2, &m), -1);
    assert_int_equal(tp_money_parse(".5", 2, &m), -1);
    assert_int_equal(tp_money_parse("", 2, &m), -1);
    assert_int_equal(tp_money_parse("-1", 2, &m), -1);
    assert_int_equal(tp_money_parse("1e3", 2, &m), -1);
    assert_int_equal(tp_money_parse("1234567890", 2, &m), -1);
    assert_int_equal(tp_money_parse("999999999.9999", 4, &m), 0);
    assert_int_equal(m, 9999999999999);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exponents_follow_iso_4217),
        cmocka_unit_test(amounts_are_written_with_the_currencys_decimals),
        cmocka_unit_test(amounts_are_read_with_at_most_the_currencys_decimals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
