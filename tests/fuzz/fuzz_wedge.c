/*
 * fuzz_wedge.c — libFuzzer target for the keystroke decoder in
 * drivers/wedge.c.
 *
 * The input is a small config followed by a script of evdev events. Every
 * event the decoder reports is checked against the contract in wedge.h:
 * no scan longer than max_length, scans are 1+ bytes of printable ASCII,
 * data NUL-terminated, other events bounded too, AIM fields consistent,
 * and a deadline, when there is one, after the last key. Any violation is
 * __builtin_trap().
 *
 * Input layout:
 *   byte 0   max_length = 1 + b % 64 (small, to reach oversize), except
 *            b == 255 which gives TP_WEDGE_MAX_LENGTH
 *   byte 1   key_timeout_ms = b (0 disables the timeout)
 *   byte 2   bit 0: aim
 *   then 4-byte records:
 *     r0 >> 6 == 0: EV_KEY, code r1 | (r0 & 1) << 8, value r2 % 3,
 *                   clock += r3
 *     r0 >> 6 == 1: EV_KEY as above with a code from the "interesting" set
 *                   (letters, digits, Shift, Enter ...) picked by r1
 *     r0 >> 6 == 2: EV_SYN with code r1 % 4 (REPORT, CONFIG, MT, DROPPED)
 *                   or EV_MSC noise when r1 & 0x80; clock += r3
 *     r0 >> 6 == 3: tick at clock + r3 * 4 (the clock moves there)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wedge.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

typedef struct ctx {
    const tp_wedge_config *cfg;
    int64_t clock;
} ctx;

static void check_event(void *user, const tp_wedge_event *ev)
{
    const ctx *c = user;

    CHECK(ev->data != NULL);
    CHECK(ev->len <= c->cfg->max_length);
    CHECK(ev->data[ev->len] == '\0');
    CHECK(ev->aim_id[TP_AIM_ID_LEN] == '\0');
    CHECK((unsigned)ev->symbology < TP_SYM_COUNT);
    for (size_t i = 0; i < ev->len; i++)
        CHECK(ev->data[i] >= 0x20 && ev->data[i] <= 0x7e);
    if (ev->kind == TP_WEDGE_EV_SCAN) {
        CHECK(ev->len > 0);
        if (!c->cfg->aim)
            CHECK(ev->aim_id[0] == '\0' && ev->symbology == TP_SYM_UNKNOWN);
        if (ev->aim_id[0] != '\0')
            CHECK(ev->len + TP_AIM_ID_LEN <= c->cfg->max_length);
    } else {
        CHECK(ev->aim_id[0] == '\0');
    }
    if (ev->kind != TP_WEDGE_EV_BAD_KEY)
        CHECK(ev->bad_code == 0 && ev->bad_mods == 0);
    CHECK(ev->first_ms <= ev->last_ms);
}

static const uint16_t interesting[] = {
    KEY_A, KEY_Z, KEY_E, KEY_Q, KEY_1, KEY_0, KEY_9, KEY_MINUS, KEY_SLASH,
    KEY_RIGHTBRACE, KEY_SPACE, KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_CAPSLOCK,
    KEY_LEFTCTRL, KEY_RIGHTALT, KEY_ENTER, KEY_KPENTER, KEY_KP5, KEY_TAB,
    KEY_F13, KEY_ENTER, KEY_ENTER, KEY_LEFTMETA,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tp_wedge_decoder dec; /* 4 KiB buffer: keep it off the stack */
    tp_wedge_config cfg;
    ctx c;

    if (size < 3)
        return 0;
    tp_wedge_config_default(&cfg);
    cfg.max_length = data[0] == 255 ? TP_WEDGE_MAX_LENGTH : 1 + data[0] % 64;
    cfg.key_timeout_ms = data[1];
    cfg.aim = (data[2] & 1) != 0;
    c.cfg = &cfg;
    c.clock = 1000;
    CHECK(tp_wedge_decoder_init(&dec, &cfg, check_event, &c, NULL, 0) == TP_OK);

    for (size_t i = 3; i + 4 <= size; i += 4) {
        const uint8_t *r = data + i;
        int64_t due;

        switch (r[0] >> 6) {
        case 0:
            c.clock += r[3];
            tp_wedge_decoder_event(&dec, EV_KEY, (uint16_t)(r[1] | (r[0] & 1) << 8),
                                   r[2] % 3, c.clock);
            break;
        case 1:
            c.clock += r[3];
            tp_wedge_decoder_event(&dec, EV_KEY,
                                   interesting[r[1] % (sizeof interesting /
                                                       sizeof interesting[0])],
                                   r[2] % 3 == 2 ? 0 : 1, c.clock);
            break;
        case 2:
            c.clock += r[3];
            if (r[1] & 0x80)
                tp_wedge_decoder_event(&dec, EV_MSC, MSC_SCAN, r[2], c.clock);
            else
                tp_wedge_decoder_event(&dec, EV_SYN, r[1] % 4, 0, c.clock);
            break;
        default:
            c.clock += (int64_t)r[3] * 4;
            tp_wedge_decoder_tick(&dec, c.clock);
            break;
        }
        due = tp_wedge_decoder_deadline(&dec);
        CHECK(due == -1 || (cfg.key_timeout_ms > 0 && due > dec.last_ms));
    }
    return 0;
}
