/*
 * util.c — see util.h.
 */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void tp_msg_set(tp_message *msg, const char *fmt, ...)
{
    if (!msg)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg->text, sizeof msg->text, fmt, ap);
    va_end(ap);
}

void tp_msg_clear(tp_message *msg)
{
    if (msg)
        msg->text[0] = '\0';
}

void tp_buf_set(char *buf, size_t cap, const char *fmt, ...)
{
    if (!buf || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

int tp_copy(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return -1;
    dst[0] = '\0';
    if (!src)
        return -1;
    size_t n = tp_bounded_len(src, cap - 1);
    if (n == (size_t)-1)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

size_t tp_bounded_len(const char *s, size_t max)
{
    if (!s)
        return (size_t)-1;
    size_t n = strnlen(s, max + 1);
    return n <= max ? n : (size_t)-1;
}

int tp_is_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

int tp_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* The lead byte gives the length and the smallest code point that
         * needs it (anything below is overlong); 0xC0, 0xC1 and 0xF5..0xFF
         * never lead. */
        size_t n;
        uint32_t cp, least;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2, cp = c & 0x1F, least = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3, cp = c & 0x0F, least = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4, cp = c & 0x07, least = 0x10000;
        } else {
            return 0;
        }
        if (len - i < n)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < least || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n;
    }
    return 1;
}

tp_status tp_check_utf8(const char *s, size_t max, const char *what, tp_message *msg)
{
    if (!s)
        return TP_OK;
    size_t n = tp_bounded_len(s, max);
    if (n == (size_t)-1) {
        tp_msg_set(msg, "The %s is longer than %zu bytes (a letter with an accent takes two); "
                   "shorten it.", what, max);
        return TP_ERR_TOO_LONG;
    }
    if (!tp_utf8_valid(s, n)) {
        tp_msg_set(msg, "The %s is not valid UTF-8 text; type it again, or save the file it "
                   "came from as UTF-8.", what);
        return TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

tp_status tp_check_text(const char *s, size_t max, const char *what, tp_message *msg)
{
    tp_status st = tp_check_utf8(s, max, what, msg);
    if (st != TP_OK || !s)
        return st;
    if (!tp_is_printable(s, strlen(s))) {
        tp_msg_set(msg, "The %s contains control characters (a tab or a line break); remove "
                   "them.", what);
        return TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

int tp_is_member_code(const char *s, size_t len, char *bad)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            if (bad)
                *bad = c;
            return 0;
        }
    }
    return len > 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (no locale, no TZ:
 * timegm is a GNU extension, and this is exact and short). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Reads exactly `n` digits at *p (advancing it); -1 when they are not. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

int tp_parse_utc(const char *text, int64_t *ms)
{
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] == 'Z')
        len--;
    if (len != 10 && len != 16 && len != 19)
        return -1;
    /* YYYY-MM-DD[THH:MM[:SS]], fixed widths, read digit by digit. */
    const char *p = text;
    int y = digits(&p, 4), mo, d, h = 0, mi = 0, sec = 0;
    if (y < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 0 || *p++ != '-' ||
        (d = digits(&p, 2)) < 0)
        return -1;
    if (len >= 16 && (*p++ != 'T' || (h = digits(&p, 2)) < 0 || *p++ != ':' ||
                      (mi = digits(&p, 2)) < 0))
        return -1;
    if (len == 19 && (*p++ != ':' || (sec = digits(&p, 2)) < 0))
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || sec > 59 || h < 0 || mi < 0 || sec < 0)
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return -1;
    int64_t days = days_from_civil(y, mo, d);
    *ms = ((days * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL;
    return 0;
}

void tp_format_utc(char *buf, size_t cap, int64_t ms)
{
    int64_t secs = ms / 1000;
    int64_t z = secs / 86400 + 719468, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        z--;
    }
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    snprintf(buf, cap, "%04lld-%02lld-%02lld %02lld:%02lld", (long long)y, (long long)m,
             (long long)d, (long long)(rem / 3600), (long long)(rem % 3600 / 60));
}

int64_t tp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tp_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t tp_mono_ms(void)
{
    return tp_mono_ns() / 1000000;
}

void tp_sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

