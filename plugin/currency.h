/*
 * currency.h — ISO 4217 minor units: how many decimals an amount of each
 * currency has (JPY 0, EUR 2, KWD 3, CLF 4), and amounts written and read
 * with exactly that many. Money is always int64 minor units inside
 * tillpoints; text is only for people (docs/DESIGN.md §2).
 */
#ifndef TP_CURRENCY_H
#define TP_CURRENCY_H

#include <stddef.h>
#include <stdint.h>

/* The minor-unit exponent of an ISO 4217 alphabetic code: 0..4. A code
 * not in the standard's list of exceptions has 2, as most currencies do. */
int tp_currency_exponent(const char *code);

/* "12.50" for 1250 with exponent 2, "1250" with exponent 0, "1.250" with
 * exponent 3; a minus sign for negative amounts. */
void tp_money_format(char *buf, size_t cap, int64_t minor, int exponent);

/* tp_money_format with the exponent of ISO 4217 `currency`. */
void tp_format_money(char *buf, size_t cap, int64_t minor, const char *currency);

/* Reads a non-negative amount typed by a person: digits, and at most
 * `exponent` decimals after a '.' (none when the exponent is 0), up to
 * 999,999,999 whole units. 0 and *minor set, or -1 when it is not such an
 * amount. */
int tp_money_parse(const char *text, int exponent, int64_t *minor);

#endif /* TP_CURRENCY_H */
