/*
 * fuzz_framer.c — libFuzzer target for drivers/framer.c.
 *
 * The input is a config followed by a script of reads and clock ticks. The
 * script is played into two framers: one gets each read as a single chunk,
 * the other byte by byte with the same timestamp. Chunking must never
 * matter, so both must produce the identical event sequence and counters.
 * Every event is also checked against the contract in framer.h (lengths,
 * NUL termination, no control bytes in a FRAME, AIM fields, timestamps, a
 * deadline always in the future). Any violation is __builtin_trap().
 *
 * Input layout:
 *   byte 0   framing = b % 3, suffix = (b >> 2) & 3, aim = (b >> 4) & 1
 *   byte 1,2 v = b1 | b2 << 8; max_length = 1 + v % 4096 if v & 0x8000,
 *            else 1 + b1 % 32 (small limits find oversize paths faster)
 *   byte 3   frame_timeout_ms = b * 8 (0 disables)
 *   byte 4   prefix length = b % 9, followed by that many prefix bytes
 *            (CR, LF, TAB replaced by 'P' so the config stays valid)
 *   then ops, each starting with a header byte h:
 *     h >> 6 == 0: read of (h & 63) bytes, clock unchanged
 *     h >> 6 == 1: next byte d, clock += d ms, read of (h & 63) bytes
 *     h >> 6 == 2: next byte d, clock += d * 16 ms, read of (h & 63) bytes
 *     h >> 6 == 3: tick; (h & 63) == 63 jumps the clock to the deadline,
 *                  anything else advances it by (h & 63) * 16 ms
 * A read shorter than announced takes what is left of the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framer.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

typedef struct event_log {
    const tp_framer_config *cfg;
    uint8_t *buf;
    size_t len;
    size_t cap;
} event_log;

static void log_put(event_log *log, const void *p, size_t n)
{
    if (log->len + n > log->cap) {
        size_t cap = log->cap ? log->cap : 1024;
        uint8_t *nb;

        while (cap < log->len + n)
            cap *= 2;
        nb = realloc(log->buf, cap);
        CHECK(nb != NULL);
        log->buf = nb;
        log->cap = cap;
    }
    memcpy(log->buf + log->len, p, n);
    log->len += n;
}

static void check_event(const tp_framer_config *cfg, const tp_frame_event *ev)
{
    CHECK(ev->data != NULL);
    CHECK(ev->len <= cfg->max_length);
    CHECK(ev->data[ev->len] == '\0');
    CHECK(ev->first_ms <= ev->last_ms);
    CHECK(ev->aim_id[TP_AIM_ID_LEN] == '\0');
    CHECK((unsigned)ev->symbology < TP_SYM_COUNT);

    switch (ev->kind) {
    case TP_FRAME_EV_FRAME:
        CHECK(ev->len > 0);
        for (size_t i = 0; i < ev->len; i++) {
            unsigned char c = (unsigned char)ev->data[i];

            CHECK(c != 0x7f && (c >= 0x20 || c == '\t'));
            if (cfg->framing != TP_FRAMING_STX_ETX &&
                cfg->suffix == TP_SUFFIX_TAB)
                CHECK(c != '\t');
        }
        if (!cfg->aim) {
            CHECK(ev->aim_id[0] == '\0');
            CHECK(ev->symbology == TP_SYM_UNKNOWN);
        } else if (ev->aim_id[0] != '\0') {
            CHECK(ev->aim_id[0] == ']');
            CHECK(strlen(ev->aim_id) == TP_AIM_ID_LEN);
        } else {
            CHECK(ev->symbology == TP_SYM_UNKNOWN);
        }
        break;
    case TP_FRAME_EV_OVERSIZE:
        CHECK(ev->len == cfg->max_length);
        /* fall through */
    case TP_FRAME_EV_TIMEOUT:
    case TP_FRAME_EV_BAD_DATA:
    case TP_FRAME_EV_BAD_PREFIX:
        CHECK(ev->aim_id[0] == '\0');
        CHECK(ev->symbology == TP_SYM_UNKNOWN);
        break;
    default:
        CHECK(0);
    }
}

static void on_event(void *user, const tp_frame_event *ev)
{
    event_log *log = user;
    uint32_t kind = (uint32_t)ev->kind;
    uint32_t sym = (uint32_t)ev->symbology;
    uint64_t len = ev->len;

    check_event(log->cfg, ev);
    log_put(log, &kind, sizeof kind);
    log_put(log, &len, sizeof len);
    log_put(log, ev->data, ev->len);
    log_put(log, &sym, sizeof sym);
    log_put(log, ev->aim_id, sizeof ev->aim_id);
    log_put(log, &ev->first_ms, sizeof ev->first_ms);
    log_put(log, &ev->last_ms, sizeof ev->last_ms);
}

/* After every step the deadline is either absent or still ahead: anything
 * that was due has just been dropped. */
static void check_deadline(const tp_framer *a, const tp_framer *b, int64_t now)
{
    int64_t d = tp_framer_deadline(a);

    CHECK(d == tp_framer_deadline(b));
    CHECK(d == -1 || d > now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_framer_config cfg;
    tp_framer *whole, *bytewise;
    event_log log_whole, log_bytewise;
    tp_framer_stats st_whole, st_bytewise;
    size_t pos = 5;
    int64_t now = 1000;
    unsigned v;

    if (size < 5)
        return 0;

    tp_framer_config_default(&cfg);
    cfg.framing = (tp_framing)(data[0] % 3);
    cfg.suffix = (tp_suffix)((data[0] >> 2) & 3);
    cfg.aim = ((data[0] >> 4) & 1) != 0;
    v = (unsigned)data[1] | (unsigned)data[2] << 8;
    cfg.max_length = (v & 0x8000) ? 1 + v % TP_FRAMER_MAX_LENGTH
                                  : 1 + (size_t)(data[1] % 32);
    cfg.frame_timeout_ms = (int64_t)data[3] * 8;
    cfg.prefix_len = data[4] % (TP_FRAMER_PREFIX_MAX + 1);
    if (pos + cfg.prefix_len > size)
        return 0;
    for (size_t i = 0; i < cfg.prefix_len; i++) {
        char c = (char)data[pos + i];

        cfg.prefix[i] = (c == '\r' || c == '\n' || c == '\t') ? 'P' : c;
    }
    pos += cfg.prefix_len;
    CHECK(tp_framer_config_check(&cfg, NULL, 0) == TP_OK);

    /* Heap, not stack: two framers are ~8 KiB each. */
    whole = malloc(sizeof *whole);
    bytewise = malloc(sizeof *bytewise);
    CHECK(whole != NULL && bytewise != NULL);
    memset(&log_whole, 0, sizeof log_whole);
    memset(&log_bytewise, 0, sizeof log_bytewise);
    log_whole.cfg = &cfg;
    log_bytewise.cfg = &cfg;
    CHECK(tp_framer_init(whole, &cfg, on_event, &log_whole, NULL, 0) ==
          TP_OK);
    CHECK(tp_framer_init(bytewise, &cfg, on_event, &log_bytewise, NULL, 0) ==
          TP_OK);

    while (pos < size) {
        uint8_t h = data[pos++];
        unsigned op = h >> 6;
        size_t n = h & 63;

        if (op == 3) {
            if (n == 63) {
                int64_t d = tp_framer_deadline(whole);

                if (d != -1 && d > now)
                    now = d;
                tp_framer_tick(whole, now);
                tp_framer_tick(bytewise, now);
                CHECK(tp_framer_deadline(whole) == -1);
            } else {
                now += (int64_t)n * 16;
                tp_framer_tick(whole, now);
                tp_framer_tick(bytewise, now);
            }
            check_deadline(whole, bytewise, now);
            continue;
        }
        if (op != 0) {
            if (pos >= size)
                break;
            now += op == 1 ? data[pos] : (int64_t)data[pos] * 16;
            pos++;
        }
        if (n > size - pos)
            n = size - pos;
        CHECK(tp_framer_feed(whole, n ? data + pos : NULL, n, now) == TP_OK);
        if (n == 0)
            CHECK(tp_framer_feed(bytewise, NULL, 0, now) == TP_OK);
        for (size_t i = 0; i < n; i++)
            CHECK(tp_framer_feed(bytewise, data + pos + i, 1, now) == TP_OK);
        pos += n;
        check_deadline(whole, bytewise, now);
    }

    /* Let any partial frame expire so its event is compared too. */
    now += TP_FRAMER_MAX_TIMEOUT_MS + 1;
    tp_framer_tick(whole, now);
    tp_framer_tick(bytewise, now);
    CHECK(tp_framer_deadline(whole) == -1);

    CHECK(log_whole.len == log_bytewise.len);
    CHECK(log_whole.len == 0 ||
          memcmp(log_whole.buf, log_bytewise.buf, log_whole.len) == 0);
    tp_framer_get_stats(whole, &st_whole);
    tp_framer_get_stats(bytewise, &st_bytewise);
    CHECK(memcmp(&st_whole, &st_bytewise, sizeof st_whole) == 0);

    free(log_whole.buf);
    free(log_bytewise.buf);
    free(whole);
    free(bytewise);
    return 0;
}
