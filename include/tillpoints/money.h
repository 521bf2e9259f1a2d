/*
 * money.h — ISO 4217 minor units, for the plugin and its hosts alike: how
 * many decimals an amount of each currency has (JPY 0, EUR 2, KWD 3,
 * CLF 4), and amounts written and read with exactly that many. Money
 * crosses the ABI as int64_t minor units only; text is for people.
 * Header-only (static inline): nothing here is a symbol of the plugin.
 */
#ifndef TILLPOINTS_MONEY_H
#define TILLPOINTS_MONEY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The minor-unit exponent of an ISO 4217 alphabetic code, 0 to
 * TP_CURRENCY_EXPONENT_MAX. A code not in the standard's list of
 * exceptions has 2, as most currencies do. */
static inline int tp_currency_exponent(const char *code)
{
    /* The currencies whose minor unit is not 2 decimals (ISO 4217, list
     * one, as published by SIX). */
    static const struct {
        char code[4];
        int exponent;
    } exceptions[] = {
        {"BHD", 3}, {"BIF", 0}, {"CLF", 4}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0},
        {"IQD", 3}, {"ISK", 0}, {"JOD", 3}, {"JPY", 0}, {"KMF", 0}, {"KRW", 0},
        {"KWD", 3}, {"LYD", 3}, {"OMR", 3}, {"PYG", 0}, {"RWF", 0}, {"TND", 3},
        {"UGX", 0}, {"UYI", 0}, {"UYW", 4}, {"VND", 0}, {"VUV", 0}, {"XAF", 0},
        {"XOF", 0}, {"XPF", 0},
    };
    for (size_t i = 0; code && i < sizeof exceptions / sizeof exceptions[0]; i++)
        if (strcmp(exceptions[i].code, code) == 0)
            return exceptions[i].exponent;
    return 2;
}

/* 10^exponent, for 0 <= exponent <= TP_CURRENCY_EXPONENT_MAX. */
static inline uint64_t tp_money_unit(int exponent)
{
    uint64_t p = 1;
    for (int i = 0; i < exponent; i++)
        p *= 10;
    return p;
}

/* Room for any amount as text: sign, 19 digits, '.', 19 digits, NUL. */
#define TP_MONEY_TEXT_SIZE 41

/* "12.50" for 1250 with exponent 2, "1250" with exponent 0, "1.250" with
 * exponent 3; a minus sign for negative amounts. Returns the length of the
 * whole text, as snprintf does (at least `cap` when it was cut). */
static inline int tp_money_format(char *buf, size_t cap, int64_t minor, int exponent)
{
    if (exponent < 0 || exponent > TP_CURRENCY_EXPONENT_MAX)
        exponent = 2;
    const char *sign = minor < 0 ? "-" : "";
    /* Never negates INT64_MIN: the cast does the arithmetic unsigned. */
    uint64_t abs = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t unit = tp_money_unit(exponent);
    if (exponent == 0)
        return snprintf(buf, cap, "%s%llu", sign, (unsigned long long)abs);
    return snprintf(buf, cap, "%s%llu.%0*llu", sign, (unsigned long long)(abs / unit), exponent,
                    (unsigned long long)(abs % unit));
}

/* Reads a non-negative amount typed by a person: digits, and at most
 * `exponent` decimals after a '.' (none when the exponent is 0), up to
 * 999,999,999 whole units (TP_AMOUNT_MAX for two decimals). 0 and *minor
 * set, or -1 when it is not such an amount. */
static inline int tp_money_parse(const char *text, int exponent, int64_t *minor)
{
    if (!text || exponent < 0 || exponent > TP_CURRENCY_EXPONENT_MAX)
        return -1;
    int64_t units = 0, fraction = 0;
    int digits = 0, decimals = -1;
    for (const char *p = text; *p; p++) {
        if (*p == '.' && decimals < 0 && digits && exponent > 0) {
            decimals = 0;
            continue;
        }
        if (*p < '0' || *p > '9')
            return -1;
        if (decimals >= 0) {
            if (++decimals > exponent)
                return -1;
            fraction = fraction * 10 + (*p - '0');
        } else {
            if (++digits > 9)
                return -1;
            units = units * 10 + (*p - '0');
        }
    }
    if (!digits || decimals == 0)
        return -1; /* nothing, or "12." */
    for (int d = decimals < 0 ? 0 : decimals; d < exponent; d++)
        fraction *= 10;
    *minor = units * (int64_t)tp_money_unit(exponent) + fraction;
    return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_MONEY_H */
