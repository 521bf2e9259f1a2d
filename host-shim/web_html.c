/*
 * web_html.c — the output buffer and the shared page layout of
 * tillpoints-web (docs/DESIGN.md §15). See web_html.h for the guarantees:
 * escaping of every outside value, sticky allocation failure.
 */
#include "web_html.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void tp_web_buf_init(tp_web_buf *b)
{
    memset(b, 0, sizeof *b);
}

void tp_web_buf_free(tp_web_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

char *tp_web_buf_take(tp_web_buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof *b);
    return d;
}

static int buf_reserve(tp_web_buf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (more > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + more + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void tp_web_buf_put(tp_web_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void tp_web_buf_puts(tp_web_buf *b, const char *s)
{
    if (s)
        tp_web_buf_put(b, s, strlen(s));
}

void tp_web_buf_printf(tp_web_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0) {
        if (n < 0)
            b->failed = 1;
        va_end(ap2);
        return;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void tp_web_buf_esc(tp_web_buf *b, const char *s)
{
    if (!s)
        return;
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *ent = NULL;
        switch (*p) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: break;
        }
        if (ent) {
            tp_web_buf_put(b, run, (size_t)(p - run));
            tp_web_buf_puts(b, ent);
            run = p + 1;
        }
    }
    tp_web_buf_puts(b, run);
}

void tp_web_buf_url(tp_web_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!s)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            tp_web_buf_put(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            tp_web_buf_put(b, e, 3);
        }
    }
}

void tp_web_page_begin(tp_web_buf *b, const char *title, const char *csrf, int charts)
{
    tp_web_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                       "<title>");
    tp_web_buf_esc(b, title);
    tp_web_buf_puts(b, " — tillpoints</title>\n<link rel=\"stylesheet\" href=\"/static/app.css\">\n"
                       "<link rel=\"icon\" href=\"data:,\">\n");
    if (charts)
        tp_web_buf_puts(b, "<script src=\"/static/chart.js\" defer></script>\n"
                           "<script src=\"/static/dashboard.js\" defer></script>\n");
    tp_web_buf_puts(b, "</head>\n<body>\n<header>\n");
    if (csrf) {
        tp_web_buf_puts(b,
                        "<nav id=\"nav\" aria-label=\"Main\"><ul>\n"
                        "<li><a href=\"/\">Dashboard</a></li>\n"
                        "<li><a href=\"/members\">Members</a></li>\n"
                        "<li><a href=\"/activity\">Activity</a></li>\n"
                        "<li><a href=\"/missed\">Missed scans</a></li>\n"
                        "<li><a href=\"/adjust\">Adjust</a></li>\n"
                        "<li><a href=\"/import\">Import</a></li>\n"
                        "<li><a href=\"/export.csv\">Export</a></li>\n"
                        "<li><a href=\"/status\">Status</a></li>\n"
                        "<li><a href=\"/audit\">Audit</a></li>\n"
                        "<li><form id=\"signout\" method=\"post\" action=\"/signout\">"
                        "<input type=\"hidden\" name=\"csrf\" value=\"");
        tp_web_buf_esc(b, csrf);
        tp_web_buf_puts(b, "\"><button id=\"signout-submit\" type=\"submit\">Sign out</button>"
                           "</form></li>\n</ul></nav>\n");
    } else {
        tp_web_buf_puts(b, "<p class=\"brand\">tillpoints back office</p>\n");
    }
    tp_web_buf_puts(b, "</header>\n<main>\n");
}

void tp_web_page_end(tp_web_buf *b)
{
    tp_web_buf_puts(b, "</main>\n<footer><p>tillpoints back office</p></footer>\n</body>\n</html>\n");
}

void tp_web_format_time(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (cap == 0)
        return;
    if (ms <= 0 || !localtime_r(&t, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M", &tm) == 0)
        out[0] = '\0';
}
