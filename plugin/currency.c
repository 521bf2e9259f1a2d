/*
 * currency.c — ISO 4217 minor units (currency.h).
 */
#include "currency.h"

#include <stdio.h>
#include <string.h>

#include "tillpoints/limits.h"

/* The currencies whose minor unit is not 2 decimals (ISO 4217, list one,
 * as published by SIX). Sorted; everything else has 2. */
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

_Static_assert(TP_CURRENCY_EXPONENT_MAX == 4, "the largest exponent in the table");

int tp_currency_exponent(const char *code)
{
    for (size_t i = 0; code && i < sizeof exceptions / sizeof exceptions[0]; i++)
        if (strcmp(exceptions[i].code, code) == 0)
            return exceptions[i].exponent;
    return 2;
}

static uint64_t power10(int exponent)
{
    uint64_t p = 1;
    for (int i = 0; i < exponent; i++)
        p *= 10;
    return p;
}

void tp_money_format(char *buf, size_t cap, int64_t minor, int exponent)
{
    if (exponent < 0 || exponent > TP_CURRENCY_EXPONENT_MAX)
        exponent = 2;
    const char *sign = minor < 0 ? "-" : "";
    /* Never negates INT64_MIN: the cast does the arithmetic unsigned. */
    uint64_t abs = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t unit = power10(exponent);
    if (exponent == 0)
        snprintf(buf, cap, "%s%llu", sign, (unsigned long long)abs);
    else
        snprintf(buf, cap, "%s%llu.%0*llu", sign, (unsigned long long)(abs / unit), exponent,
                 (unsigned long long)(abs % unit));
}

int tp_money_parse(const char *text, int exponent, int64_t *minor)
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
    *minor = units * (int64_t)power10(exponent) + fraction;
    return 0;
}

void tp_format_money(char *buf, size_t cap, int64_t minor, const char *currency)
{
    tp_money_format(buf, cap, minor, tp_currency_exponent(currency));
}
