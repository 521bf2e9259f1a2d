/*
 * currency.c — money in the store's currency (currency.h).
 */
#include "currency.h"

void tp_format_money(char *buf, size_t cap, int64_t minor, const char *currency)
{
    tp_money_format(buf, cap, minor, tp_currency_exponent(currency));
}
