/*
 * util.c — see util.h.
 */
#include "util.h"

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

int64_t tp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tp_format_money(char *buf, size_t cap, int64_t minor)
{
    const char *sign = minor < 0 ? "-" : "";
    /* Avoid negating INT64_MIN: amounts are bounded far below it. */
    uint64_t abs = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    snprintf(buf, cap, "%s%llu.%02llu", sign, (unsigned long long)(abs / 100),
             (unsigned long long)(abs % 100));
}
