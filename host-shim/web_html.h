/*
 * web_html.h — the output side of tillpoints-web (docs/DESIGN.md §15): a
 * growable byte buffer with printf and HTML-escaping appends, and the
 * page layout every HTML page shares (head, navigation, footer).
 *
 * Guarantees: every string that came from the request, the database or
 * the plugin reaches a page through tp_web_buf_esc (or an "%E"-free
 * printf of numbers only), which escapes & < > " ' and passes every other
 * byte through unchanged (invalid UTF-8 included: the page is served as
 * UTF-8 and the browser shows a replacement character, never markup).
 * An allocation failure is sticky: the buffer keeps its old contents,
 * `failed` is set, and the caller answers 500. Pure: no I/O, no globals.
 */
#ifndef TP_WEB_HTML_H
#define TP_WEB_HTML_H

#include <stddef.h>
#include <stdint.h>

typedef struct tp_web_buf {
    char *data;   /* NUL-terminated when not NULL; owned by the buffer */
    size_t len;
    size_t cap;
    int failed;   /* an append could not grow the buffer */
} tp_web_buf;

void tp_web_buf_init(tp_web_buf *b);
void tp_web_buf_free(tp_web_buf *b);
/* Hands the bytes to the caller (free() them); the buffer is empty again. */
char *tp_web_buf_take(tp_web_buf *b, size_t *len);
void tp_web_buf_put(tp_web_buf *b, const char *s, size_t n);
void tp_web_buf_puts(tp_web_buf *b, const char *s);
/* printf for markup the program writes itself: never pass a value from
 * outside as a %s here, use tp_web_buf_esc. */
void tp_web_buf_printf(tp_web_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` (NULL: nothing) HTML-escaped: & < > " ' become entities. */
void tp_web_buf_esc(tp_web_buf *b, const char *s);
/* The same for a value inside a URL's query (percent-encoding), for
 * links such as /members/CODE and /activity?member=CODE. */
void tp_web_buf_url(tp_web_buf *b, const char *s);

/* The layout. `title` is escaped. `csrf` non-NULL: a signed-in page,
 * with the navigation and the sign-out form carrying that token.
 * `charts`: the dashboard's scripts (external files: the CSP forbids
 * inline script). */
void tp_web_page_begin(tp_web_buf *b, const char *title, const char *csrf, int charts);
void tp_web_page_end(tp_web_buf *b);

/* "YYYY-MM-DD HH:MM" in the process's time zone, for UTC ms. */
void tp_web_format_time(int64_t ms, char *out, size_t cap);

#endif
