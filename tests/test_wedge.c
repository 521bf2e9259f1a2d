/*
 * test_wedge.c — pins down drivers/wedge.c: the keystroke decoder on
 * recorded evdev event streams (written out below as {type, code, value,
 * ms}, with the EV_MSC scan codes and EV_SYN reports a real keyboard sends),
 * the config keys, and the device path of the real driver.
 *
 * Device path, three seams:
 *  - always: open() on a missing path and on a file that is no input
 *    device;
 *  - /dev/uinput: a virtual keyboard driven end-to-end (skipped where the
 *    kernel has no uinput, which is the case on the project's machines);
 *  - umockdev: when umockdev-run is installed, the test writes a fake
 *    evdev keyboard and mouse (sysfs description, ioctl answers, an evemu
 *    event script) to a temp dir and runs itself again under
 *    `umockdev-run ... -- test_wedge --umockdev-child`, which drives the
 *    real open/grab/poll/on_ready path through libevdev. No root needed.
 * Expectations are written by hand from wedge.h, never computed by the code
 * under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libevdev/libevdev-uinput.h>
#include <libevdev/libevdev.h>

#include "wedge.h"

/* ------------------------------------------------------------------ */
/* Recorded streams and a recorder                                     */
/* ------------------------------------------------------------------ */

typedef struct rec_input {
    uint16_t type;
    uint16_t code;
    int32_t value;
    int64_t ms;
} rec_input;

/* What a USB keyboard sends per key: MSC_SCAN, the key, a SYN_REPORT. */
#define PRESS(c, t) {EV_MSC, MSC_SCAN, 0x70000 + (c), (t)}, {EV_KEY, (c), 1, (t)}, \
                    {EV_SYN, SYN_REPORT, 0, (t)}
#define RELEASE(c, t) {EV_MSC, MSC_SCAN, 0x70000 + (c), (t)}, {EV_KEY, (c), 0, (t)}, \
                      {EV_SYN, SYN_REPORT, 0, (t)}
#define TAP(c, t) PRESS(c, t), RELEASE(c, (t) + 1)
/* A shifted key, with the left Shift. */
#define STAP(c, t) PRESS(KEY_LEFTSHIFT, t), TAP(c, (t) + 1), RELEASE(KEY_LEFTSHIFT, (t) + 2)

#define REC_MAX 32

typedef struct rec_event {
    tp_wedge_event_kind kind;
    char data[TP_WEDGE_MAX_LENGTH + 1];
    size_t len;
    tp_symbology sym;
    char aim_id[TP_AIM_ID_LEN + 1];
    uint16_t bad_code;
    unsigned bad_mods;
    int64_t first_ms;
    int64_t last_ms;
} rec_event;

typedef struct fixture {
    tp_wedge_config cfg;
    tp_wedge_decoder dec;
    size_t n;
    rec_event ev[REC_MAX];
} fixture;

static void record(void *user, const tp_wedge_event *ev)
{
    fixture *fx = user;
    rec_event *e;

    assert_true(fx->n < REC_MAX);
    assert_non_null(ev->data);
    assert_int_equal(ev->data[ev->len], '\0');
    e = &fx->ev[fx->n++];
    e->kind = ev->kind;
    memcpy(e->data, ev->data, ev->len + 1);
    e->len = ev->len;
    e->sym = ev->symbology;
    memcpy(e->aim_id, ev->aim_id, sizeof e->aim_id);
    e->bad_code = ev->bad_code;
    e->bad_mods = ev->bad_mods;
    e->first_ms = ev->first_ms;
    e->last_ms = ev->last_ms;
}

static int setup(void **state)
{
    fixture *fx = test_calloc(1, sizeof *fx);

    if (fx == NULL)
        return -1;
    tp_wedge_config_default(&fx->cfg);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    test_free(*state);
    return 0;
}

static void start(fixture *fx)
{
    assert_int_equal(tp_wedge_decoder_init(&fx->dec, &fx->cfg, record, fx, NULL, 0),
                     TP_OK);
}

/* Feeds a recorded stream as struct input_events, the way the driver does. */
static void play(fixture *fx, const rec_input *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct input_event ev;

        memset(&ev, 0, sizeof ev);
        ev.input_event_sec = (time_t)(in[i].ms / 1000);
        ev.input_event_usec = (suseconds_t)((in[i].ms % 1000) * 1000);
        ev.type = in[i].type;
        ev.code = in[i].code;
        ev.value = in[i].value;
        tp_wedge_decoder_feed(&fx->dec, &ev);
    }
}

#define PLAY(fx, arr) play((fx), (arr), sizeof(arr) / sizeof((arr)[0]))

static void expect_scan(const fixture *fx, size_t i, const char *text)
{
    assert_true(i < fx->n);
    assert_int_equal(fx->ev[i].kind, TP_WEDGE_EV_SCAN);
    assert_string_equal(fx->ev[i].data, text);
    assert_int_equal(fx->ev[i].len, strlen(text));
}

/* ------------------------------------------------------------------ */
/* Decoder                                                             */
/* ------------------------------------------------------------------ */

static void plain_numeric_scan_is_delivered_at_enter(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        TAP(KEY_4, 1000), TAP(KEY_0, 1004), TAP(KEY_1, 1008), TAP(KEY_2, 1012),
        TAP(KEY_3, 1016), TAP(KEY_4, 1020), TAP(KEY_5, 1024), TAP(KEY_6, 1028),
        TAP(KEY_7, 1032), TAP(KEY_8, 1036), TAP(KEY_9, 1040), TAP(KEY_0, 1044),
        TAP(KEY_5, 1048), TAP(KEY_ENTER, 1052),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    expect_scan(fx, 0, "4012345678905");
    assert_int_equal(fx->ev[0].sym, TP_SYM_UNKNOWN);
    assert_string_equal(fx->ev[0].aim_id, "");
    assert_int_equal(fx->ev[0].first_ms, 1000);
    assert_int_equal(fx->ev[0].last_ms, 1052);
    assert_int_equal(tp_wedge_decoder_deadline(&fx->dec), -1);
}

static void either_shift_key_makes_upper_case_and_release_ends_it(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        STAP(KEY_A, 100), TAP(KEY_B, 104),
        /* right Shift held across two keys */
        PRESS(KEY_RIGHTSHIFT, 108), TAP(KEY_C, 109), TAP(KEY_D, 112),
        RELEASE(KEY_RIGHTSHIFT, 114), TAP(KEY_E, 116),
        /* both held, one released: still shifted */
        PRESS(KEY_LEFTSHIFT, 120), PRESS(KEY_RIGHTSHIFT, 121),
        RELEASE(KEY_LEFTSHIFT, 122), TAP(KEY_F, 123), RELEASE(KEY_RIGHTSHIFT, 125),
        TAP(KEY_G, 127), TAP(KEY_ENTER, 130),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    expect_scan(fx, 0, "AbCDeFg");
}

static void us_symbols_plain_and_shifted(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        TAP(KEY_MINUS, 10), STAP(KEY_MINUS, 14), TAP(KEY_DOT, 20),
        TAP(KEY_SLASH, 24), STAP(KEY_SEMICOLON, 28), STAP(KEY_SLASH, 34),
        TAP(KEY_EQUAL, 40), STAP(KEY_EQUAL, 44), TAP(KEY_SEMICOLON, 50),
        TAP(KEY_APOSTROPHE, 54), STAP(KEY_APOSTROPHE, 58), TAP(KEY_LEFTBRACE, 64),
        STAP(KEY_RIGHTBRACE, 68), TAP(KEY_BACKSLASH, 74), STAP(KEY_BACKSLASH, 78),
        TAP(KEY_GRAVE, 84), STAP(KEY_GRAVE, 88), TAP(KEY_COMMA, 94),
        STAP(KEY_COMMA, 98), STAP(KEY_DOT, 104), TAP(KEY_SPACE, 110),
        STAP(KEY_1, 114), STAP(KEY_2, 120), STAP(KEY_3, 126), STAP(KEY_4, 132),
        STAP(KEY_5, 138), STAP(KEY_6, 144), STAP(KEY_7, 150), STAP(KEY_8, 156),
        STAP(KEY_9, 162), STAP(KEY_0, 168), TAP(KEY_ENTER, 174),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    expect_scan(fx, 0, "-_./:?=+;'\"[}\\|`~,<> !@#$%^&*()");
}

static void caps_lock_inverts_shift_for_letters_only(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        TAP(KEY_CAPSLOCK, 10), {EV_LED, LED_CAPSL, 1, 10},
        TAP(KEY_A, 14), STAP(KEY_B, 18), TAP(KEY_1, 24), STAP(KEY_1, 28),
        TAP(KEY_CAPSLOCK, 34), TAP(KEY_C, 38), TAP(KEY_ENTER, 42),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    expect_scan(fx, 0, "Ab1!c");
}

static void unknown_key_spoils_the_scan_and_is_reported_at_enter(void **state)
{
    fixture *fx = *state;
    char sentence[320];
    static const rec_input in[] = {
        TAP(KEY_1, 10), TAP(KEY_TAB, 14), TAP(KEY_2, 18), TAP(KEY_F13, 22),
        TAP(KEY_ENTER, 26),
        /* the next scan is clean again */
        TAP(KEY_7, 30), TAP(KEY_ENTER, 34),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 2);
    assert_int_equal(fx->ev[0].kind, TP_WEDGE_EV_BAD_KEY);
    assert_int_equal(fx->ev[0].bad_code, KEY_TAB); /* the first offender */
    assert_int_equal(fx->ev[0].bad_mods, 0);
    assert_string_equal(fx->ev[0].data, "12");
    assert_int_equal(fx->ev[0].last_ms, 26);
    expect_scan(fx, 1, "7");

    tp_wedge_event ev = {.kind = TP_WEDGE_EV_BAD_KEY, .data = "", .bad_code = KEY_TAB};
    tp_wedge_describe(&ev, &fx->cfg, sentence, sizeof sentence);
    assert_non_null(strstr(sentence, "KEY_TAB"));
    assert_non_null(strstr(sentence, "us keyboard layout"));
    assert_int_equal(sentence[strlen(sentence) - 1], '.');
}

static void ctrl_combination_is_a_bad_key(void **state)
{
    fixture *fx = *state;
    char sentence[320];
    static const rec_input in[] = {
        TAP(KEY_0, 10), PRESS(KEY_LEFTCTRL, 14), TAP(KEY_RIGHTBRACE, 15),
        RELEASE(KEY_LEFTCTRL, 17), TAP(KEY_1, 20), TAP(KEY_ENTER, 24),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    assert_int_equal(fx->ev[0].kind, TP_WEDGE_EV_BAD_KEY);
    assert_int_equal(fx->ev[0].bad_code, KEY_RIGHTBRACE);
    assert_int_equal(fx->ev[0].bad_mods, TP_WEDGE_MOD_LCTRL);
    tp_wedge_event ev = {.kind = TP_WEDGE_EV_BAD_KEY, .data = "",
                         .bad_code = KEY_RIGHTBRACE, .bad_mods = TP_WEDGE_MOD_LCTRL};
    tp_wedge_describe(&ev, &fx->cfg, sentence, sizeof sentence);
    assert_non_null(strstr(sentence, "Ctrl"));
}

static void human_typing_is_discarded_then_a_fast_scan_succeeds(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        /* a person types "12" and Enter, ~150 ms apart */
        TAP(KEY_1, 1000), TAP(KEY_2, 1150), TAP(KEY_ENTER, 1320),
        /* a person types "ab" and walks away */
        TAP(KEY_A, 2000), TAP(KEY_B, 2200),
        /* a scanner: 5 ms per key, first key 800 ms later */
        TAP(KEY_9, 3000), TAP(KEY_8, 3005), TAP(KEY_7, 3010),
        TAP(KEY_ENTER, 3015),
    };

    start(fx);
    PLAY(fx, in);
    /* "1" at the "2", "2" at the Enter, "a" at the "b", "b" at the "9" */
    assert_int_equal(fx->n, 5);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(fx->ev[i].kind, TP_WEDGE_EV_STRAY);
    assert_string_equal(fx->ev[0].data, "1");
    assert_string_equal(fx->ev[1].data, "2");
    assert_string_equal(fx->ev[3].data, "b");
    assert_int_equal(fx->ev[3].last_ms, 2200);
    expect_scan(fx, 4, "987");

    tp_wedge_stats s;
    tp_wedge_decoder_get_stats(&fx->dec, &s);
    assert_int_equal(s.stray, 4);
    assert_int_equal(s.scans, 1);
}

static void gap_of_exactly_the_timeout_is_still_one_scan(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        TAP(KEY_1, 100), TAP(KEY_2, 150), TAP(KEY_ENTER, 200),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    expect_scan(fx, 0, "12");
}

static void a_pause_without_enter_expires_at_the_deadline(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {TAP(KEY_X, 500), TAP(KEY_Y, 510)};

    start(fx);
    PLAY(fx, in);
    assert_int_equal(tp_wedge_decoder_deadline(&fx->dec), 561);
    tp_wedge_decoder_tick(&fx->dec, 560);
    assert_int_equal(fx->n, 0);
    tp_wedge_decoder_tick(&fx->dec, 561);
    assert_int_equal(fx->n, 1);
    assert_int_equal(fx->ev[0].kind, TP_WEDGE_EV_STRAY);
    assert_string_equal(fx->ev[0].data, "xy");
    assert_int_equal(tp_wedge_decoder_deadline(&fx->dec), -1);
}

static void timeout_zero_never_discards(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {TAP(KEY_1, 0), TAP(KEY_2, 90000), TAP(KEY_ENTER, 200000)};

    assert_int_equal(tp_wedge_config_set(&fx->cfg, "key_timeout_ms", "0", NULL, 0), TP_OK);
    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    expect_scan(fx, 0, "12");
}

static void oversize_is_reported_once_and_the_tail_swallowed(void **state)
{
    fixture *fx = *state;
    char sentence[320];
    static const rec_input in[] = {
        TAP(KEY_1, 10), TAP(KEY_2, 12), TAP(KEY_3, 14), TAP(KEY_4, 16),
        TAP(KEY_5, 18), TAP(KEY_6, 20), TAP(KEY_7, 22), TAP(KEY_ENTER, 24),
        /* exactly max_length fits */
        TAP(KEY_A, 30), TAP(KEY_B, 32), TAP(KEY_C, 34), TAP(KEY_D, 36),
        TAP(KEY_ENTER, 38),
    };

    assert_int_equal(tp_wedge_config_set(&fx->cfg, "max_length", "4", NULL, 0), TP_OK);
    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 2);
    assert_int_equal(fx->ev[0].kind, TP_WEDGE_EV_OVERSIZE);
    assert_string_equal(fx->ev[0].data, "1234");
    assert_int_equal(fx->ev[0].last_ms, 18);
    expect_scan(fx, 1, "abcd");
    tp_wedge_event ev = {.kind = TP_WEDGE_EV_OVERSIZE, .data = ""};
    tp_wedge_describe(&ev, &fx->cfg, sentence, sizeof sentence);
    assert_non_null(strstr(sentence, "longer than 4 characters"));
}

static void key_repeats_are_ignored(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        PRESS(KEY_5, 10), {EV_KEY, KEY_5, 2, 260}, {EV_SYN, SYN_REPORT, 0, 260},
        {EV_KEY, KEY_5, 2, 293}, {EV_SYN, SYN_REPORT, 0, 293}, RELEASE(KEY_5, 300),
        TAP(KEY_6, 302), TAP(KEY_ENTER, 305),
    };

    fx->cfg.key_timeout_ms = 0; /* the hold itself is slow */
    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    expect_scan(fx, 0, "56");
}

static void enter_and_keypad_enter_both_end_a_scan(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        TAP(KEY_1, 10), TAP(KEY_ENTER, 12),
        TAP(KEY_KP2, 20), TAP(KEY_KPDOT, 22), TAP(KEY_KP3, 24), TAP(KEY_KPMINUS, 26),
        TAP(KEY_KPENTER, 28),
        /* Enter alone is an empty scan: silent */
        TAP(KEY_ENTER, 40),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 2);
    expect_scan(fx, 0, "1");
    expect_scan(fx, 1, "2.3-");
}

static void aim_prefix_is_stripped_and_mapped(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        /* ]E0 4006381333931 */
        TAP(KEY_RIGHTBRACE, 10), STAP(KEY_E, 12), TAP(KEY_0, 16),
        TAP(KEY_4, 18), TAP(KEY_0, 20), TAP(KEY_0, 22), TAP(KEY_6, 24),
        TAP(KEY_3, 26), TAP(KEY_8, 28), TAP(KEY_1, 30), TAP(KEY_3, 32),
        TAP(KEY_3, 34), TAP(KEY_3, 36), TAP(KEY_9, 38), TAP(KEY_3, 40),
        TAP(KEY_1, 42), TAP(KEY_ENTER, 44),
        /* ]Q1 alone: nothing to deliver */
        TAP(KEY_RIGHTBRACE, 60), STAP(KEY_Q, 62), TAP(KEY_1, 66), TAP(KEY_ENTER, 68),
        /* no AIM id: delivered as is */
        TAP(KEY_M, 80), TAP(KEY_1, 82), TAP(KEY_ENTER, 84),
    };

    assert_int_equal(tp_wedge_config_set(&fx->cfg, "aim", "yes", NULL, 0), TP_OK);
    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 2);
    expect_scan(fx, 0, "4006381333931");
    assert_int_equal(fx->ev[0].sym, TP_SYM_EAN13);
    assert_string_equal(fx->ev[0].aim_id, "]E0");
    assert_string_equal(tp_symbology_event_name(fx->ev[0].sym, fx->ev[0].aim_id), "ean13");
    expect_scan(fx, 1, "m1");
    assert_int_equal(fx->ev[1].sym, TP_SYM_UNKNOWN);
    assert_string_equal(tp_symbology_event_name(fx->ev[1].sym, fx->ev[1].aim_id), "");
}

static void aim_off_keeps_the_identifier_as_data(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        TAP(KEY_RIGHTBRACE, 10), STAP(KEY_Q, 12), TAP(KEY_1, 16), TAP(KEY_X, 18),
        TAP(KEY_ENTER, 20),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    expect_scan(fx, 0, "]Q1x");
}

static void syn_dropped_refuses_the_cut_scan_and_recovers(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        TAP(KEY_1, 10), PRESS(KEY_LEFTSHIFT, 12), {EV_SYN, SYN_DROPPED, 0, 13},
        /* libevdev's sync deltas: Shift went up, a key is down; not typing */
        {EV_KEY, KEY_LEFTSHIFT, 0, 14}, {EV_KEY, KEY_8, 1, 14},
        {EV_SYN, SYN_REPORT, 0, 14},
        /* the tail of the cut scan is swallowed up to its Enter */
        TAP(KEY_9, 16), TAP(KEY_ENTER, 18),
        /* the next scan is fine, and Shift is known to be up */
        TAP(KEY_A, 30), TAP(KEY_2, 32), TAP(KEY_ENTER, 34),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 2);
    assert_int_equal(fx->ev[0].kind, TP_WEDGE_EV_DROPPED);
    assert_string_equal(fx->ev[0].data, "1");
    expect_scan(fx, 1, "a2");
}

static void syn_dropped_between_scans_carries_no_old_text(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        TAP(KEY_1, 10), TAP(KEY_2, 12), TAP(KEY_ENTER, 14),
        {EV_SYN, SYN_DROPPED, 0, 20}, {EV_SYN, SYN_REPORT, 0, 20},
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 2);
    expect_scan(fx, 0, "12");
    assert_int_equal(fx->ev[1].kind, TP_WEDGE_EV_DROPPED);
    assert_int_equal(fx->ev[1].len, 0); /* record() checks data[len] == NUL */
}

static void other_event_types_are_noise(void **state)
{
    fixture *fx = *state;
    static const rec_input in[] = {
        {EV_MSC, MSC_TIMESTAMP, 1234, 5}, {EV_LED, LED_NUML, 1, 5},
        {EV_REP, REP_DELAY, 250, 5}, {EV_REL, REL_X, 3, 5},
        TAP(KEY_Z, 10), {EV_SYN, SYN_CONFIG, 0, 11}, TAP(KEY_NUMLOCK, 12),
        TAP(KEY_ENTER, 14),
    };

    start(fx);
    PLAY(fx, in);
    assert_int_equal(fx->n, 1);
    expect_scan(fx, 0, "z");
}

/* ------------------------------------------------------------------ */
/* Config                                                              */
/* ------------------------------------------------------------------ */

static void config_rejects_unsupported_layout_with_the_supported_list(void **state)
{
    fixture *fx = *state;
    char msg[256];

    assert_int_equal(tp_wedge_config_set(&fx->cfg, "layout", "de", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "'de'"));
    assert_non_null(strstr(msg, "only 'us'"));
    assert_int_equal(tp_wedge_config_set(&fx->cfg, "layout", "US", msg, sizeof msg), TP_OK);
    assert_int_equal(tp_wedge_config_set(&fx->cfg, "key_timeout_ms", "60001", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "key_timeout_ms"));
    assert_int_equal(tp_wedge_config_set(&fx->cfg, "max_length", "0", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_int_equal(tp_wedge_config_set(&fx->cfg, "max_length", "4097", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_int_equal(tp_wedge_config_set(&fx->cfg, "aim", "maybe", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_int_equal(tp_wedge_config_set(&fx->cfg, "baud", "9600", msg, sizeof msg),
                     TP_ERR_NOT_FOUND);
    assert_int_equal(fx->cfg.max_length, TP_WEDGE_DEFAULT_MAX_LENGTH); /* unchanged */
    assert_int_equal(fx->cfg.key_timeout_ms, TP_WEDGE_DEFAULT_KEY_TIMEOUT_MS);
}

static void driver_needs_a_device_and_knows_its_keys(void **state)
{
    char msg[256];
    tp_driver_sink sink = {0};
    tp_driver *d = tp_wedge_driver.create(&sink);

    (void)state;
    assert_non_null(d);
    assert_string_equal(tp_wedge_driver.name, "wedge");
    assert_int_equal(tp_wedge_driver.check(d, msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "device"));
    assert_int_equal(tp_wedge_driver.configure(d, "device", "event3", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_int_equal(tp_wedge_driver.configure(d, "grab", "sometimes", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_int_equal(tp_wedge_driver.configure(d, "parity", "none", msg, sizeof msg),
                     TP_ERR_NOT_FOUND);
    assert_int_equal(tp_wedge_driver.configure(d, "device", "/dev/input/by-id/x-event-kbd",
                                               msg, sizeof msg), TP_OK);
    assert_int_equal(tp_wedge_driver.configure(d, "grab", "no", msg, sizeof msg), TP_OK);
    assert_int_equal(tp_wedge_driver.configure(d, "layout", "us", msg, sizeof msg), TP_OK);
    assert_int_equal(tp_wedge_driver.configure(d, "key_timeout_ms", "80", msg, sizeof msg),
                     TP_OK);
    assert_int_equal(tp_wedge_driver.check(d, msg, sizeof msg), TP_OK);
    assert_int_equal(tp_wedge_driver.fd(d, NULL), -1);
    assert_int_equal(tp_wedge_driver.deadline(d), -1);
    assert_int_equal(tp_wedge_driver.health(d, msg, sizeof msg), TP_ERR_STATE);
    tp_wedge_driver.close(d); /* safe when not open */
    tp_wedge_driver.destroy(d);
}

/* ------------------------------------------------------------------ */
/* Device path                                                         */
/* ------------------------------------------------------------------ */

typedef struct sink_log {
    int scans;
    int errors;
    char scan[8][64];
    char error[8][320];
} sink_log;

static void sink_data(void *user, const tp_scan_data *s)
{
    sink_log *l = user;

    if (l->scans < 8)
        snprintf(l->scan[l->scans], sizeof l->scan[0], "%s", s->data);
    l->scans++;
}

static void sink_error(void *user, const char *sentence)
{
    sink_log *l = user;

    if (l->errors < 8)
        snprintf(l->error[l->errors], sizeof l->error[0], "%s", sentence);
    l->errors++;
}

static tp_driver *driver_for(const char *path, sink_log *log)
{
    tp_driver_sink sink = {log, sink_data, sink_error, NULL};
    tp_driver *d = tp_wedge_driver.create(&sink);

    assert_non_null(d);
    assert_int_equal(tp_wedge_driver.configure(d, "device", path, NULL, 0), TP_OK);
    return d;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A scanner-thread loop in miniature: poll, on_ready, tick at deadlines,
 * until `scans` + `errors` arrived or `ms` passed. Returns on_ready's
 * last status. */
static tp_status pump(tp_driver *d, sink_log *log, int scans, int errors, int ms)
{
    int64_t end = mono_ms() + ms;

    while (mono_ms() < end && (log->scans < scans || log->errors < errors)) {
        short events = 0;
        struct pollfd p = {tp_wedge_driver.fd(d, &events), 0, 0};
        int64_t due = tp_wedge_driver.deadline(d);
        int wait = 20;

        p.events = events;
        if (due >= 0 && due - mono_ms() < wait)
            wait = due > mono_ms() ? (int)(due - mono_ms()) : 0;
        if (poll(&p, 1, wait) > 0) {
            tp_status st = tp_wedge_driver.on_ready(d, p.revents, mono_ms());

            if (st != TP_OK)
                return st;
        }
        due = tp_wedge_driver.deadline(d);
        if (due >= 0 && due <= mono_ms())
            tp_wedge_driver.tick(d, mono_ms());
    }
    return TP_OK;
}

static void open_missing_path_is_not_found_with_a_sentence(void **state)
{
    char msg[256] = "";
    sink_log log = {0};
    tp_driver *d = driver_for("/dev/input/by-id/usb-no-such-scanner-event-kbd", &log);

    (void)state;
    assert_int_equal(tp_wedge_driver.open(d, 0, msg, sizeof msg), TP_ERR_NOT_FOUND);
    assert_non_null(strstr(msg, "usb-no-such-scanner-event-kbd"));
    assert_non_null(strstr(msg, "plugged in"));
    assert_int_equal(tp_wedge_driver.fd(d, NULL), -1);
    tp_wedge_driver.destroy(d);
}

static void open_on_a_file_that_is_no_input_device_is_a_config_error(void **state)
{
    char msg[256] = "";
    char path[64];
    sink_log log = {0};
    tp_driver *d = driver_for("/dev/null", &log);
    int fd;

    (void)state;
    assert_int_equal(tp_wedge_driver.open(d, 0, msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "/dev/null is not an input event device"));
    assert_int_equal(tp_wedge_driver.fd(d, NULL), -1);
    tp_wedge_driver.destroy(d);

    snprintf(path, sizeof path, "/tmp/tp-wedge-notdev-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not evdev", 9), 9);
    close(fd);
    d = driver_for(path, &log);
    assert_int_equal(tp_wedge_driver.open(d, 0, msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "is not an input event device"));
    tp_wedge_driver.destroy(d);
    unlink(path);
}

static void uinput_keyboard_end_to_end(void **state)
{
    struct libevdev *dev;
    struct libevdev_uinput *ui = NULL;
    static const unsigned keys[] = {KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7,
                                    KEY_8, KEY_9, KEY_0, KEY_ENTER, KEY_LEFTSHIFT,
                                    KEY_A, KEY_B, KEY_MINUS};
    static const unsigned type[] = {KEY_A, KEY_B, KEY_MINUS, KEY_9, KEY_ENTER};
    char msg[256] = "";
    sink_log log = {0};
    tp_driver *d;

    (void)state;
    if (access("/dev/uinput", F_OK) != 0) {
        printf("skipped: /dev/uinput does not exist on this machine\n");
        skip();
    }
    dev = libevdev_new();
    assert_non_null(dev);
    libevdev_set_name(dev, "tillpoints test wedge");
    libevdev_enable_event_type(dev, EV_KEY);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        libevdev_enable_event_code(dev, EV_KEY, keys[i], NULL);
    if (libevdev_uinput_create_from_device(dev, LIBEVDEV_UINPUT_OPEN_MANAGED, &ui) != 0) {
        libevdev_free(dev);
        printf("skipped: /dev/uinput exists but cannot create a device (%s)\n",
               strerror(errno));
        skip();
    }
    {
        /* until devtmpfs shows the node (bounded: a stuck udev fails) */
        const char *node = libevdev_uinput_get_devnode(ui);
        int64_t end = mono_ms() + 60000;

        while (node == NULL || access(node, R_OK) != 0) {
            if (mono_ms() > end)
                fail_msg("the uinput device node %s did not appear within 60 s",
                         node ? node : "(none)");
            usleep(10 * 1000);
            if (node == NULL)
                node = libevdev_uinput_get_devnode(ui);
        }
    }
    d = driver_for(libevdev_uinput_get_devnode(ui), &log);
    assert_int_equal(tp_wedge_driver.open(d, mono_ms(), msg, sizeof msg), TP_OK);
    for (size_t i = 0; i < sizeof type / sizeof type[0]; i++) {
        libevdev_uinput_write_event(ui, EV_KEY, type[i], 1);
        libevdev_uinput_write_event(ui, EV_SYN, SYN_REPORT, 0);
        libevdev_uinput_write_event(ui, EV_KEY, type[i], 0);
        libevdev_uinput_write_event(ui, EV_SYN, SYN_REPORT, 0);
    }
    assert_int_equal(pump(d, &log, 1, 0, 120000), TP_OK);
    assert_int_equal(log.scans, 1);
    assert_string_equal(log.scan[0], "ab-9");
    assert_int_equal(tp_wedge_driver.health(d, msg, sizeof msg), TP_OK);
    libevdev_uinput_destroy(ui); /* unplug */
    assert_int_equal(pump(d, &log, 2, 0, 120000), TP_ERR_NOT_FOUND);
    tp_wedge_driver.destroy(d);
    libevdev_free(dev);
}

/* --- umockdev ------------------------------------------------------- */

#define UMOCK_KBD "/dev/input/event9"
#define UMOCK_MOUSE "/dev/input/event10"

static void hex_bits(FILE *f, const unsigned *bits, size_t n, size_t bytes)
{
    unsigned char map[96] = {0};

    for (size_t i = 0; i < n; i++)
        map[bits[i] / 8] |= (unsigned char)(1u << (bits[i] % 8));
    for (size_t i = 0; i < bytes; i++)
        fprintf(f, "%02X", map[i]);
}

/* The ioctl answers libevdev_new_from_fd() asks for, in umockdev's
 * ioctl-record format; zero bitmaps for types the device lacks. */
static void write_ioctls(const char *path, const char *name, const unsigned *types,
                         size_t ntypes, const unsigned *keys, size_t nkeys,
                         const unsigned *rels, size_t nrels)
{
    FILE *f = fopen(path, "w");
    static const unsigned other[] = {3, 4, 5, 17, 18, 21};

    assert_non_null(f);
    fprintf(f, "EVIOCGVERSION 0 01000100\nEVIOCGID 0 0300F30507000001\n");
    fprintf(f, "EVIOCGNAME(0) %zu ", strlen(name) + 1);
    for (size_t i = 0; i < 255; i++)
        fprintf(f, "%02X", i < strlen(name) ? (unsigned char)name[i] : 0);
    fprintf(f, "\nEVIOCGPROP(0) 8 0000000000000000\nEVIOCGBIT(0) 8 ");
    hex_bits(f, types, ntypes, 8);
    fprintf(f, "\nEVIOCGBIT(1) 96 ");
    hex_bits(f, keys, nkeys, 96);
    fprintf(f, "\nEVIOCGBIT(2) 8 ");
    hex_bits(f, rels, nrels, 8);
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        fprintf(f, "\nEVIOCGBIT(%u) %d %s", other[i], other[i] == 21 ? 16 : 8,
                other[i] == 21 ? "00000000000000000000000000000000" : "0000000000000000");
    fprintf(f, "\nEVIOCGKEY(0) 96 ");
    hex_bits(f, NULL, 0, 96);
    fprintf(f, "\nEVIOCGLED(0) 8 0000000000000000\nEVIOCGSW(0) 8 0000000000000000\n");
    fclose(f);
}

static void write_evemu_tap(FILE *f, unsigned code, double t)
{
    fprintf(f, "E: %.6f 0004 0004 %u\n", t, 0x70000u + code);
    fprintf(f, "E: %.6f 0001 %04x 1\n", t, code);
    fprintf(f, "E: %.6f 0000 0000 0\n", t);
    fprintf(f, "E: %.6f 0001 %04x 0\n", t + 0.001, code);
    fprintf(f, "E: %.6f 0000 0000 0\n", t + 0.001);
}

static void write_umockdev_fixtures(const char *dir)
{
    char path[PATH_MAX];
    FILE *f;
    unsigned keys[128];
    size_t nkeys = 0;
    static const unsigned kbd_types[] = {EV_SYN, EV_KEY, EV_MSC};
    static const unsigned mouse_types[] = {EV_SYN, EV_KEY, EV_REL};
    static const unsigned mouse_keys[] = {BTN_LEFT, BTN_RIGHT};
    static const unsigned mouse_rels[] = {REL_X, REL_Y};
    double t = 0.3;

    for (unsigned k = KEY_ESC; k <= KEY_KPDOT; k++)
        keys[nkeys++] = k;

    snprintf(path, sizeof path, "%s/devices.umockdev", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "P: /devices/virtual/input/input9/event9\nN: input/event9\n"
            "E: DEVNAME=/dev/input/event9\nE: SUBSYSTEM=input\nE: ID_INPUT=1\n"
            "E: ID_INPUT_KEYBOARD=1\nA: dev=13:73\nL: device=../../input9\n\n"
            "P: /devices/virtual/input/input9\nE: SUBSYSTEM=input\n"
            "A: name=tillpoints fake wedge scanner\n\n"
            "P: /devices/virtual/input/input10/event10\nN: input/event10\n"
            "E: DEVNAME=/dev/input/event10\nE: SUBSYSTEM=input\nE: ID_INPUT=1\n"
            "E: ID_INPUT_MOUSE=1\nA: dev=13:74\nL: device=../../input10\n\n"
            "P: /devices/virtual/input/input10\nE: SUBSYSTEM=input\n"
            "A: name=tillpoints fake mouse\n");
    fclose(f);

    snprintf(path, sizeof path, "%s/kbd.ioctl", dir);
    write_ioctls(path, "tillpoints fake wedge scanner", kbd_types, 3, keys, nkeys, NULL, 0);
    snprintf(path, sizeof path, "%s/mouse.ioctl", dir);
    write_ioctls(path, "tillpoints fake mouse", mouse_types, 3, mouse_keys, 2, mouse_rels, 2);

    /* A scan "123"; a person typing "xy" 200 ms apart; a scan "Ab-9" with
     * Shift; a scan with a Tab in it. */
    snprintf(path, sizeof path, "%s/scans.events", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# EVEMU 1.3\n");
    write_evemu_tap(f, KEY_1, t);
    write_evemu_tap(f, KEY_2, t += 0.004);
    write_evemu_tap(f, KEY_3, t += 0.004);
    write_evemu_tap(f, KEY_ENTER, t += 0.004);
    write_evemu_tap(f, KEY_X, t += 0.3);
    write_evemu_tap(f, KEY_Y, t += 0.2);
    t += 0.3;
    fprintf(f, "E: %.6f 0001 %04x 1\nE: %.6f 0000 0000 0\n", t, KEY_LEFTSHIFT, t);
    write_evemu_tap(f, KEY_A, t += 0.002);
    fprintf(f, "E: %.6f 0001 %04x 0\nE: %.6f 0000 0000 0\n", t + 0.002, KEY_LEFTSHIFT,
            t + 0.002);
    write_evemu_tap(f, KEY_B, t += 0.004);
    write_evemu_tap(f, KEY_MINUS, t += 0.004);
    write_evemu_tap(f, KEY_9, t += 0.004);
    write_evemu_tap(f, KEY_ENTER, t += 0.004);
    write_evemu_tap(f, KEY_5, t += 0.2);
    write_evemu_tap(f, KEY_TAB, t += 0.004);
    write_evemu_tap(f, KEY_ENTER, t += 0.004);
    fclose(f);
}

static bool in_path(const char *prog)
{
    const char *p = getenv("PATH");
    char buf[PATH_MAX];

    while (p != NULL && *p != '\0') {
        const char *e = strchr(p, ':');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);

        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
        if (access(buf, X_OK) == 0)
            return true;
        p = e != NULL ? e + 1 : NULL;
    }
    return false;
}

static void umockdev_keyboard_drives_the_real_device_path(void **state)
{
    char dir[] = "/tmp/tp-wedge-umockdev-XXXXXX";
    char self[PATH_MAX];
    char cmd[4 * PATH_MAX];
    ssize_t n;
    int rc;

    (void)state;
    if (!in_path("umockdev-run")) {
        printf("skipped: umockdev-run is not installed (apt-get install umockdev)\n");
        skip();
    }
    n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    assert_non_null(mkdtemp(dir));
    write_umockdev_fixtures(dir);
    /* ASan wants to be first in the preload list; umockdev's preload is. */
    snprintf(cmd, sizeof cmd,
             "ASAN_OPTIONS=\"verify_asan_link_order=0:${ASAN_OPTIONS:-}\" "
             "umockdev-run -d %s/devices.umockdev -i " UMOCK_KBD "=%s/kbd.ioctl "
             "-i " UMOCK_MOUSE "=%s/mouse.ioctl -e " UMOCK_KBD "=%s/scans.events "
             "-- '%s' --umockdev-child",
             dir, dir, dir, dir, self);
    fflush(stdout);
    rc = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
}

/* Run inside umockdev-run (see above), or by hand with the same files. */
static void child_scans_arrive_through_libevdev(void **state)
{
    char msg[320] = "";
    sink_log log = {0};
    tp_driver *d = driver_for(UMOCK_KBD, &log);

    (void)state;
    assert_int_equal(tp_wedge_driver.open(d, mono_ms(), msg, sizeof msg), TP_OK);
    assert_true(tp_wedge_driver.fd(d, NULL) >= 0);
    assert_int_equal(pump(d, &log, 2, 1, 120000), TP_OK);
    assert_int_equal(log.scans, 2);
    assert_string_equal(log.scan[0], "123");
    assert_string_equal(log.scan[1], "Ab-9"); /* "x" and "y" were typing */
    assert_int_equal(log.errors, 1);
    assert_non_null(strstr(log.error[0], "KEY_TAB"));
    assert_int_equal(tp_wedge_driver.health(d, msg, sizeof msg), TP_OK);
    assert_non_null(strstr(msg, "2 scans"));
    assert_non_null(strstr(msg, "grabbed"));
    tp_wedge_driver.close(d);
    assert_int_equal(tp_wedge_driver.fd(d, NULL), -1);
    tp_wedge_driver.destroy(d);
}

static void child_mouse_is_not_a_keyboard(void **state)
{
    char msg[320] = "";
    sink_log log = {0};
    tp_driver *d = driver_for(UMOCK_MOUSE, &log);

    (void)state;
    assert_int_equal(tp_wedge_driver.open(d, mono_ms(), msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "is not a keyboard"));
    assert_non_null(strstr(msg, "tillpoints fake mouse"));
    assert_int_equal(tp_wedge_driver.fd(d, NULL), -1);
    tp_wedge_driver.destroy(d);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest decoder[] = {
        cmocka_unit_test_setup_teardown(plain_numeric_scan_is_delivered_at_enter, setup, teardown),
        cmocka_unit_test_setup_teardown(either_shift_key_makes_upper_case_and_release_ends_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(us_symbols_plain_and_shifted, setup, teardown),
        cmocka_unit_test_setup_teardown(caps_lock_inverts_shift_for_letters_only, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_key_spoils_the_scan_and_is_reported_at_enter,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(ctrl_combination_is_a_bad_key, setup, teardown),
        cmocka_unit_test_setup_teardown(human_typing_is_discarded_then_a_fast_scan_succeeds,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(gap_of_exactly_the_timeout_is_still_one_scan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_pause_without_enter_expires_at_the_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(timeout_zero_never_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(oversize_is_reported_once_and_the_tail_swallowed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(key_repeats_are_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(enter_and_keypad_enter_both_end_a_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(aim_prefix_is_stripped_and_mapped, setup, teardown),
        cmocka_unit_test_setup_teardown(aim_off_keeps_the_identifier_as_data, setup, teardown),
        cmocka_unit_test_setup_teardown(syn_dropped_refuses_the_cut_scan_and_recovers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(syn_dropped_between_scans_carries_no_old_text, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(other_event_types_are_noise, setup, teardown),
        cmocka_unit_test_setup_teardown(config_rejects_unsupported_layout_with_the_supported_list,
                                        setup, teardown),
        cmocka_unit_test(driver_needs_a_device_and_knows_its_keys),
        cmocka_unit_test(open_missing_path_is_not_found_with_a_sentence),
        cmocka_unit_test(open_on_a_file_that_is_no_input_device_is_a_config_error),
        cmocka_unit_test(uinput_keyboard_end_to_end),
        cmocka_unit_test(umockdev_keyboard_drives_the_real_device_path),
    };
    const struct CMUnitTest child[] = {
        cmocka_unit_test(child_scans_arrive_through_libevdev),
        cmocka_unit_test(child_mouse_is_not_a_keyboard),
    };

    if (argc > 1 && strcmp(argv[1], "--umockdev-child") == 0)
        return cmocka_run_group_tests_name("wedge under umockdev", child, NULL, NULL);
    return cmocka_run_group_tests_name("wedge", decoder, NULL, NULL);
}
