/*
 * dedup.c — duplicate-scan suppression over a small fixed table.
 *
 * Sixteen slots and a linear scan: at checkout rates (a scan every few
 * seconds, a window of 1.5 s) the table holds one or two live codes, and a
 * search of 16 entries costs less than hashing the code. The contract —
 * fixed window, fail open, exact for short codes — is in dedup.h.
 */
#include "dedup.h"

#include <assert.h>
#include <string.h>

static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return h;
}

/* Whether a slot's scan is still inside the window at now_ms. Unsigned
 * subtraction because counted_ms and now_ms may be any int64 values and
 * their signed difference could overflow. */
static int is_live(const tp_dedup *d, const tp_dedup_slot *s, int64_t now_ms)
{
    if (s->len == 0 || now_ms < s->counted_ms)
        return 0;
    return (uint64_t)now_ms - (uint64_t)s->counted_ms < (uint64_t)d->window_ms;
}

static int same_code(const tp_dedup_slot *s, const unsigned char *code,
                     size_t len, uint64_t hash)
{
    size_t cmp = len < TP_DEDUP_PREFIX ? len : TP_DEDUP_PREFIX;

    return s->len == len && s->hash == hash && memcmp(s->prefix, code, cmp) == 0;
}

tp_status tp_dedup_init(tp_dedup *d, int64_t window_ms)
{
    if (d == NULL || window_ms < 0 || window_ms > TP_DEDUP_MAX_WINDOW_MS)
        return TP_ERR_INVALID_ARGUMENT;
    memset(d, 0, sizeof *d);
    d->window_ms = window_ms;
    return TP_OK;
}

int tp_dedup_seen(tp_dedup *d, const char *code, size_t len, int64_t now_ms)
{
    const unsigned char *u = (const unsigned char *)code;
    tp_dedup_slot *victim = NULL;

    assert(d != NULL);
    assert(code != NULL || len == 0);
    if (len == 0 || d->window_ms == 0)
        return 0;

    uint64_t hash = fnv1a64(u, len);
    for (size_t i = 0; i < TP_DEDUP_SLOTS; i++) {
        tp_dedup_slot *s = &d->slots[i];
        int live = is_live(d, s, now_ms);
        if (live && same_code(s, u, len, hash))
            return 1;
        /* Reuse, in order of preference: a dead slot, else the live one
         * that counted first (forgetting it can only fail open). A dead
         * slot holding this same code is just another dead slot. */
        if (!live) {
            if (victim == NULL || is_live(d, victim, now_ms))
                victim = s;
        } else if (victim == NULL ||
                   (is_live(d, victim, now_ms) &&
                    s->counted_ms < victim->counted_ms)) {
            victim = s;
        }
    }
    assert(victim != NULL);
    victim->counted_ms = now_ms;
    victim->hash = hash;
    victim->len = len;
    memset(victim->prefix, 0, sizeof victim->prefix);
    memcpy(victim->prefix, u, len < TP_DEDUP_PREFIX ? len : TP_DEDUP_PREFIX);
    return 0;
}
