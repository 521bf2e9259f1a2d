/*
 * util.h — small helpers shared by the plugin's modules: bounded string
 * copies, messages for people, the clock.
 */
#ifndef TP_UTIL_H
#define TP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tillpoints/tillpoints.h"

#if defined(__GNUC__)
#define TP_PRINTF(a, b) __attribute__((format(printf, a, b)))
/* On a function whose result says whether it failed: the compiler refuses
 * a caller that drops it, so no failed write is committed unnoticed. */
#define TP_MUST_CHECK __attribute__((warn_unused_result))
#else
#define TP_PRINTF(a, b)
#define TP_MUST_CHECK
#endif

/* Fills `msg` (may be NULL) with a printf-formatted sentence. */
void tp_msg_set(tp_message *msg, const char *fmt, ...) TP_PRINTF(2, 3);
void tp_msg_clear(tp_message *msg);

/* snprintf into `buf` of size `cap`, never overflowing. */
void tp_buf_set(char *buf, size_t cap, const char *fmt, ...) TP_PRINTF(3, 4);

/* Copies `src` into `dst` (capacity `cap`, including the NUL). Returns 0
 * when src fits, -1 (and leaves dst empty) when it does not or is NULL. */
int tp_copy(char *dst, size_t cap, const char *src);

/* Length of `s` if it is at most `max` bytes, else (size_t)-1. Reads at most
 * max+1 bytes, so an unterminated string is never overrun beyond that. */
size_t tp_bounded_len(const char *s, size_t max);

/* Non-zero when `s` (length `len`) is printable ASCII/UTF-8 without
 * control characters; used for ids that end up on screens and receipts. */
int tp_is_printable(const char *s, size_t len);

/* Non-zero when the `len` bytes at `s` are well-formed UTF-8: no stray
 * continuation bytes, no truncated sequence, no overlong form, no UTF-16
 * surrogate (U+D800..U+DFFF), nothing above U+10FFFF. */
int tp_utf8_valid(const char *s, size_t len);

/* Checks a text a person typed or a file held (a name, reason, comment,
 * staff id): at most `max` bytes, valid UTF-8, no control characters. NULL
 * passes (callers that need the text say so themselves). TP_OK,
 * TP_ERR_TOO_LONG, or TP_ERR_INVALID_ARGUMENT, with a sentence naming
 * `what` ("name", "reason") in `msg` (may be NULL). */
tp_status tp_check_text(const char *s, size_t max, const char *what,
                        tp_message *msg) TP_MUST_CHECK;

/* tp_check_text without the control-character rule, for what a scanner
 * may have typed (a form answer or prefill ending in CR LF, trimmed later). */
tp_status tp_check_utf8(const char *s, size_t max, const char *what,
                        tp_message *msg) TP_MUST_CHECK;

/* Non-zero when `s` (length `len`, > 0) is a member code: letters, digits,
 * '-', '_' and '.' only. Returns 0 and sets *bad to the first other byte. */
int tp_is_member_code(const char *s, size_t len, char *bad);

/* Parses a UTC time "YYYY-MM-DD", "YYYY-MM-DDTHH:MM" or
 * "YYYY-MM-DDTHH:MM:SS", with an optional trailing Z, into ms. 0 or -1. */
int tp_parse_utc(const char *text, int64_t *ms) TP_MUST_CHECK;

/* Formats UTC ms as "YYYY-MM-DD HH:MM". */
void tp_format_utc(char *buf, size_t cap, int64_t ms);

/* Current UTC time in milliseconds. */
int64_t tp_now_ms(void);

/* Monotonic clock, for durations only (never stored): nanoseconds and
 * milliseconds since an arbitrary start. */
int64_t tp_mono_ns(void);
int64_t tp_mono_ms(void);

/* Sleeps `ns` nanoseconds (nothing when <= 0), resuming after signals. */
void tp_sleep_ns(int64_t ns);


#endif
