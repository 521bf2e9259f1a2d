/*
 * currency.h — money as the plugin shows it: the public helpers of
 * tillpoints/money.h (ISO 4217 exponents, formatting, parsing), and one
 * that takes the currency's code.
 */
#ifndef TP_CURRENCY_H
#define TP_CURRENCY_H

#include "tillpoints/money.h"

/* tp_money_format with the exponent of ISO 4217 `currency`. */
void tp_format_money(char *buf, size_t cap, int64_t minor, const char *currency);

#endif /* TP_CURRENCY_H */
