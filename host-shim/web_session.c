/*
 * web_session.c — the session table, tokens, and the CSRF and origin
 * checks of tillpoints-web (docs/DESIGN.md §15). See web_session.h for what
 * it guarantees; nothing here reads the clock or the network.
 */
#include "web_session.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int tp_web_sessions_init(tp_web_sessions *t, size_t cap, int64_t idle_ms)
{
    memset(t, 0, sizeof *t);
    t->slot = calloc(cap ? cap : 1, sizeof *t->slot);
    if (!t->slot)
        return -1;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->slot);
        t->slot = NULL;
        return -1;
    }
    t->cap = cap ? cap : 1;
    t->idle_ms = idle_ms;
    t->next_serial = 1;
    return 0;
}

void tp_web_sessions_free(tp_web_sessions *t)
{
    if (!t->slot)
        return;
    sodium_memzero(t->slot, t->cap * sizeof *t->slot);
    free(t->slot);
    t->slot = NULL;
    pthread_mutex_destroy(&t->lock);
}

void tp_web_token_new(char *out)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, TP_WEB_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

/* crypto_auth (HMAC-SHA-512-256) of the nonce, cut to 16 bytes. */
static void pre_mac(const unsigned char *key, const unsigned char *nonce, unsigned char *mac16)
{
    unsigned char full[crypto_auth_BYTES];
    crypto_auth(full, nonce, 16, key);
    memcpy(mac16, full, 16);
    sodium_memzero(full, sizeof full);
}

void tp_web_pre_token_new(const unsigned char *key, char *out)
{
    unsigned char raw[32];
    randombytes_buf(raw, 16);
    pre_mac(key, raw, raw + 16);
    sodium_bin2base64(out, TP_WEB_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int tp_web_pre_token_ok(const unsigned char *key, const char *token)
{
    unsigned char raw[32], mac[16];
    size_t len = 0;
    if (!token || strlen(token) != TP_WEB_TOKEN_LEN ||
        sodium_base642bin(raw, sizeof raw, token, TP_WEB_TOKEN_LEN, NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        len != sizeof raw)
        return 0;
    pre_mac(key, raw, mac);
    return sodium_memcmp(mac, raw + 16, 16) == 0;
}

static int token_equal(const char *a, const char *b)
{
    if (strlen(b) != TP_WEB_TOKEN_LEN || strlen(a) != TP_WEB_TOKEN_LEN)
        return 0;
    return sodium_memcmp(a, b, TP_WEB_TOKEN_LEN) == 0;
}

static int expired(const tp_web_sessions *t, const tp_web_session *s, int64_t now_ms)
{
    return now_ms - s->last_ms > t->idle_ms;
}

int tp_web_session_create(tp_web_sessions *t, const char *manager, int64_t now_ms,
                          tp_web_session *out)
{
    if (!manager || strlen(manager) > TP_MANAGER_ID_MAX)
        return -1;
    pthread_mutex_lock(&t->lock);
    tp_web_session *use = NULL;
    for (size_t i = 0; i < t->cap; i++) {
        tp_web_session *s = &t->slot[i];
        if (s->serial && expired(t, s, now_ms))
            sodium_memzero(s, sizeof *s);
        if (!s->serial) {
            if (!use)
                use = s;
        }
    }
    if (!use) { /* full: the one idle longest makes room */
        use = &t->slot[0];
        for (size_t i = 1; i < t->cap; i++)
            if (t->slot[i].last_ms < use->last_ms)
                use = &t->slot[i];
        sodium_memzero(use, sizeof *use);
    }
    use->serial = t->next_serial++;
    tp_web_token_new(use->token);
    tp_web_token_new(use->csrf);
    memcpy(use->manager, manager, strlen(manager) + 1);
    use->created_ms = now_ms;
    use->last_ms = now_ms;
    if (out)
        *out = *use;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

int tp_web_session_lookup(tp_web_sessions *t, const char *token, int64_t now_ms,
                          tp_web_session *out)
{
    if (!token || strlen(token) != TP_WEB_TOKEN_LEN)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->cap; i++) {
        tp_web_session *s = &t->slot[i];
        if (!s->serial || !token_equal(s->token, token))
            continue;
        if (expired(t, s, now_ms)) {
            sodium_memzero(s, sizeof *s);
        } else {
            s->last_ms = now_ms;
            if (out)
                *out = *s;
            rc = 0;
        }
        break;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int tp_web_session_remove(tp_web_sessions *t, const char *token)
{
    if (!token || strlen(token) != TP_WEB_TOKEN_LEN)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->cap; i++) {
        tp_web_session *s = &t->slot[i];
        if (s->serial && token_equal(s->token, token)) {
            sodium_memzero(s, sizeof *s);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

size_t tp_web_session_count(tp_web_sessions *t)
{
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->cap; i++)
        n += t->slot[i].serial != 0;
    pthread_mutex_unlock(&t->lock);
    return n;
}

int tp_web_csrf_ok(const char *expected, const char *given)
{
    if (!expected || !given || !*expected)
        return 0;
    size_t n = strlen(expected);
    if (strlen(given) != n)
        return 0;
    return sodium_memcmp(expected, given, n) == 0;
}

/* "scheme://host" of this server as the request names it. */
static int self_origin_with(const char *scheme, const char *host, char *out, size_t cap)
{
    if (!host || !*host)
        return -1;
    size_t ns = strlen(scheme), nh = strlen(host);
    if (ns + nh >= cap)
        return -1;
    memcpy(out, scheme, ns);
    memcpy(out + ns, host, nh);
    out[ns + nh] = '\0';
    return 0;
}

/* `url` is "scheme://host" or starts with "scheme://host/", for one of
 * the schemes this server may be reached by. */
static int names_self(const char *url, const char *host, int tls, int whole)
{
    static const char *const scheme[2] = {"https://", "http://"};
    /* Under TLS only https; without it, http, or https through a TLS proxy
     * in front (allow_plain_http): the host must match either way. */
    for (int i = 0; i < (tls ? 1 : 2); i++) {
        char self[512];
        if (self_origin_with(scheme[i], host, self, sizeof self) != 0)
            return 0;
        size_t n = strlen(self);
        if (whole ? strcmp(url, self) == 0
                  : strncmp(url, self, n) == 0 && (url[n] == '/' || url[n] == '\0'))
            return 1;
    }
    return 0;
}

int tp_web_origin_ok(const char *origin, const char *referer, const char *sec_fetch_site,
                     const char *host, int tls)
{
    if (sec_fetch_site && strcmp(sec_fetch_site, "cross-site") == 0)
        return 0;
    if (origin && *origin)
        return names_self(origin, host, tls, 1);
    if (referer && *referer)
        return names_self(referer, host, tls, 0);
    return 1;
}

/* Blanks around a cookie's name or value. */
static int blank(char c)
{
    return c == ' ' || c == '\t';
}

int tp_web_cookie_get(const char *header, const char *name, char *out, size_t cap)
{
    if (!header || !name || cap == 0)
        return -1;
    size_t nl = strlen(name);
    size_t i = 0, n = strlen(header);
    while (i < n) {
        while (i < n && (blank(header[i]) || header[i] == ';'))
            i++;
        size_t end = i;
        while (end < n && header[end] != ';')
            end++;
        size_t eq = i;
        while (eq < end && header[eq] != '=')
            eq++;
        if (eq < end) {
            size_t k_end = eq;
            while (k_end > i && blank(header[k_end - 1]))
                k_end--;
            if (k_end - i == nl && memcmp(header + i, name, nl) == 0) {
                size_t v = eq + 1, v_end = end;
                while (v < v_end && blank(header[v]))
                    v++;
                while (v_end > v && blank(header[v_end - 1]))
                    v_end--;
                if (v_end >= v + 2 && header[v] == '"' && header[v_end - 1] == '"') {
                    v++;
                    v_end--;
                }
                if (v_end - v >= cap)
                    return -1;
                memcpy(out, header + v, v_end - v);
                out[v_end - v] = '\0';
                return 0;
            }
        }
        i = end;
    }
    return -1;
}
