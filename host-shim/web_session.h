/*
 * web_session.h — who is signed in to tillpoints-web, and whether a
 * request may change anything (docs/DESIGN.md §15).
 *
 * Sessions live in memory only: a restart signs everyone out. A session is
 * a random 32-byte token (base64url, the cookie tp_session) and a second
 * random token for its forms (CSRF). Lookups compare tokens in constant
 * time; a session idle for longer than the table's idle time is gone on
 * the next lookup. The table is bounded: when it is full the session idle
 * longest is evicted.
 *
 * Pure and unit-testable: the clock is a parameter (now_ms), the only
 * outside call is libsodium's random source. Thread-safe: the table has
 * its own lock; lookups hand out copies.
 */
#ifndef TP_WEB_SESSION_H
#define TP_WEB_SESSION_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tillpoints/limits.h"

/* 32 random bytes in unpadded base64url. */
#define TP_WEB_TOKEN_LEN 43

typedef struct tp_web_session {
    uint64_t serial;                     /* unique per process, never 0 */
    char token[TP_WEB_TOKEN_LEN + 1];
    char csrf[TP_WEB_TOKEN_LEN + 1];
    char manager[TP_MANAGER_ID_MAX + 1];
    int64_t created_ms;
    int64_t last_ms;
} tp_web_session;

typedef struct tp_web_sessions {
    pthread_mutex_t lock;
    tp_web_session *slot; /* cap entries; serial 0 = free */
    size_t cap;
    int64_t idle_ms;
    uint64_t next_serial;
} tp_web_sessions;

/* 0, or -1 when out of memory. Call sodium_init() first. */
int tp_web_sessions_init(tp_web_sessions *t, size_t cap, int64_t idle_ms);
/* Wipes every token. */
void tp_web_sessions_free(tp_web_sessions *t);

/* A new session for `manager`; `out` receives a copy. 0, or -1. */
int tp_web_session_create(tp_web_sessions *t, const char *manager, int64_t now_ms,
                          tp_web_session *out);
/* The session of cookie value `token` when it exists and has not been idle
 * too long (then its last use becomes now_ms and `out` receives a copy):
 * 0; else -1 (an expired session is removed). */
int tp_web_session_lookup(tp_web_sessions *t, const char *token, int64_t now_ms,
                          tp_web_session *out);
/* Signs a session out. 0, or -1 when there was none. */
int tp_web_session_remove(tp_web_sessions *t, const char *token);
/* Sessions now held (expired ones count until looked up). */
size_t tp_web_session_count(tp_web_sessions *t);

/* 32 random bytes, base64url without padding, into out[TP_WEB_TOKEN_LEN + 1]. */
void tp_web_token_new(char *out);

/* The sign-in form's pre-session token (cookie tp_pre and hidden field):
 * 16 random bytes and their MAC under the server's `key` (32 bytes,
 * random per process), base64url, TP_WEB_TOKEN_LEN characters. A token
 * the server did not make (a cookie planted by someone else) fails
 * tp_web_pre_token_ok. */
#define TP_WEB_PRE_KEY_LEN 32
void tp_web_pre_token_new(const unsigned char *key, char *out);
int tp_web_pre_token_ok(const unsigned char *key, const char *token);

/* The form's token equals the expected one (both non-empty, same length,
 * compared in constant time). 1 or 0. */
int tp_web_csrf_ok(const char *expected, const char *given);

/* Whether a POST may come from where its headers say (any may be NULL):
 * Sec-Fetch-Site "cross-site" is refused; an Origin header must be
 * exactly scheme://host of this request ("null" is refused); without one,
 * a Referer must start with scheme://host/; with neither the request is
 * allowed (the CSRF token still has to match). `host` is the request's
 * Host header. Under TLS (`tls`) the scheme is https; without, http or
 * https (a TLS proxy in front, allow_plain_http). 1 or 0. */
int tp_web_origin_ok(const char *origin, const char *referer, const char *sec_fetch_site,
                     const char *host, int tls);

/* The value of cookie `name` in a Cookie header ("a=1; b=2"), copied to
 * `out`. 0, or -1 when absent, or longer than cap-1. */
int tp_web_cookie_get(const char *header, const char *name, char *out, size_t cap);

#endif
