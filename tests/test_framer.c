/*
 * test_framer.c — pins down the behaviour of drivers/framer.c: each framing
 * mode, chunking independence, AIM identifiers, and every way a frame can
 * be dropped (oversize, timeout, bad prefix, control bytes), plus config
 * parsing. Expectations are written out by hand from the rules in
 * framer.h/framer.c, never computed by the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "framer.h"

/* ------------------------------------------------------------------ */
/* A recorder that keeps copies of the events                          */
/* ------------------------------------------------------------------ */

#define REC_MAX 32

typedef struct rec_event {
    tp_frame_event_kind kind;
    char data[TP_FRAMER_MAX_LENGTH + 1];
    size_t len;
    tp_symbology sym;
    char aim_id[TP_AIM_ID_LEN + 1];
    int64_t first_ms;
    int64_t last_ms;
} rec_event;

typedef struct recorder {
    size_t n;
    rec_event ev[REC_MAX];
} recorder;

typedef struct fixture {
    tp_framer framer;
    tp_framer_config cfg;
    recorder rec;
} fixture;

static void record(void *user, const tp_frame_event *ev)
{
    recorder *r = user;
    rec_event *e;

    assert_true(r->n < REC_MAX);
    assert_non_null(ev->data);
    assert_int_equal(ev->data[ev->len], '\0');
    e = &r->ev[r->n++];
    e->kind = ev->kind;
    memcpy(e->data, ev->data, ev->len + 1);
    e->len = ev->len;
    e->sym = ev->symbology;
    memcpy(e->aim_id, ev->aim_id, sizeof e->aim_id);
    e->first_ms = ev->first_ms;
    e->last_ms = ev->last_ms;
}

static int setup(void **state)
{
    fixture *fx = test_calloc(1, sizeof *fx);

    if (fx == NULL)
        return -1;
    tp_framer_config_default(&fx->cfg);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    test_free(*state);
    return 0;
}

/* Sets `key` to `value` (must succeed) on the fixture's config. */
static void set(fixture *fx, const char *key, const char *value)
{
    char msg[TP_MESSAGE_MAX + 1];

    assert_int_equal(tp_framer_config_set(&fx->cfg, key, value, msg,
                                          sizeof msg),
                     TP_OK);
}

static void start(fixture *fx)
{
    char msg[TP_MESSAGE_MAX + 1];

    memset(&fx->rec, 0, sizeof fx->rec);
    assert_int_equal(tp_framer_init(&fx->framer, &fx->cfg, record, &fx->rec,
                                    msg, sizeof msg),
                     TP_OK);
}

static void feed(fixture *fx, const char *bytes, size_t len, int64_t now)
{
    assert_int_equal(tp_framer_feed(&fx->framer, bytes, len, now), TP_OK);
}

/* For string literals without embedded NULs. */
static void feeds(fixture *fx, const char *s, int64_t now)
{
    feed(fx, s, strlen(s), now);
}

static void expect_event(const fixture *fx, size_t i,
                         tp_frame_event_kind kind, const char *data,
                         size_t len)
{
    const rec_event *e;

    assert_true(i < fx->rec.n);
    e = &fx->rec.ev[i];
    assert_string_equal(tp_frame_event_kind_name(e->kind),
                        tp_frame_event_kind_name(kind));
    assert_int_equal(e->len, len);
    assert_memory_equal(e->data, data, len);
}

static void expect_frame(const fixture *fx, size_t i, const char *label)
{
    expect_event(fx, i, TP_FRAME_EV_FRAME, label, strlen(label));
    assert_string_equal(fx->rec.ev[i].data, label);
}

/* ------------------------------------------------------------------ */
/* Suffix framing                                                      */
/* ------------------------------------------------------------------ */

static void cr_suffix_delivers_each_scan(void **state)
{
    fixture *fx = *state;

    start(fx);
    feeds(fx, "4006381333931\r12345\r", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 0, "4006381333931");
    expect_frame(fx, 1, "12345");
    assert_int_equal(fx->rec.ev[0].sym, TP_SYM_UNKNOWN);
    assert_string_equal(fx->rec.ev[0].aim_id, "");
}

static void lf_suffix_delivers_each_scan(void **state)
{
    fixture *fx = *state;

    set(fx, "suffix", "LF");
    start(fx);
    feeds(fx, "ABC\nDEF\n", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 0, "ABC");
    expect_frame(fx, 1, "DEF");
}

static void tab_suffix_delivers_each_scan(void **state)
{
    fixture *fx = *state;

    set(fx, "suffix", "TAB");
    start(fx);
    feeds(fx, "M-1001\tM-1002\t", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 0, "M-1001");
    expect_frame(fx, 1, "M-1002");
}

static void crlf_suffix_splits_two_scans_in_one_read(void **state)
{
    fixture *fx = *state;

    set(fx, "suffix", "CRLF");
    start(fx);
    feeds(fx, "111\r\n222\r\n", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 0, "111");
    expect_frame(fx, 1, "222");
}

static void crlf_terminator_split_across_reads_still_ends_frame(void **state)
{
    fixture *fx = *state;

    set(fx, "suffix", "CRLF");
    start(fx);
    feeds(fx, "111\r", 10);
    assert_int_equal(fx->rec.n, 0);
    feeds(fx, "\n", 11);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "111");
    assert_int_equal(fx->rec.ev[0].first_ms, 10);
    assert_int_equal(fx->rec.ev[0].last_ms, 11);
}

static void crlf_lone_cr_or_lf_does_not_split_frame(void **state)
{
    fixture *fx = *state;

    set(fx, "suffix", "CRLF");
    start(fx);
    /* Stray CR inside: the whole thing is one bad frame, not "12" + "34". */
    feeds(fx, "12\r34\r\n", 10);
    /* Stray LF inside. */
    feeds(fx, "56\n78\r\n", 10);
    /* CR CR LF: the first CR is data. */
    feeds(fx, "AB\r\r\n", 10);
    /* A good frame afterwards is unaffected. */
    feeds(fx, "OK\r\n", 10);
    assert_int_equal(fx->rec.n, 4);
    expect_event(fx, 0, TP_FRAME_EV_BAD_DATA, "12\r34", 5);
    expect_event(fx, 1, TP_FRAME_EV_BAD_DATA, "56\n78", 5);
    expect_event(fx, 2, TP_FRAME_EV_BAD_DATA, "AB\r", 3);
    expect_frame(fx, 3, "OK");
}

static void cr_suffix_with_crlf_scanner_reports_following_scans_bad(
    void **state)
{
    fixture *fx = *state;

    start(fx); /* CR, but the scanner sends CRLF */
    feeds(fx, "111\r\n222\r\n333\r\n", 10);
    assert_int_equal(fx->rec.n, 3);
    expect_frame(fx, 0, "111");
    expect_event(fx, 1, TP_FRAME_EV_BAD_DATA, "\n222", 4);
    expect_event(fx, 2, TP_FRAME_EV_BAD_DATA, "\n333", 4);
}

static void empty_frames_are_ignored_silently(void **state)
{
    fixture *fx = *state;

    start(fx);
    feeds(fx, "\r\r\r", 10);
    assert_int_equal(fx->rec.n, 0);

    set(fx, "suffix", "CRLF");
    start(fx);
    feeds(fx, "\r\n\r\n", 10);
    assert_int_equal(fx->rec.n, 0);

    set(fx, "framing", "stx-etx");
    start(fx);
    feeds(fx, "\x02\x03\x02\x03", 10);
    assert_int_equal(fx->rec.n, 0);
    assert_int_equal(tp_framer_deadline(&fx->framer), -1);
}

/* ------------------------------------------------------------------ */
/* Prefix framing                                                      */
/* ------------------------------------------------------------------ */

static void prefix_is_stripped(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "prefix");
    set(fx, "prefix", "SCN:");
    start(fx);
    feeds(fx, "SCN:4006381333931\r", 10);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "4006381333931");
}

static void frame_without_prefix_is_bad_prefix_and_next_frame_survives(
    void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "prefix");
    set(fx, "prefix", "SCN:");
    start(fx);
    feeds(fx, "XYZ:123\rSC\rSCN:456\r", 10);
    assert_int_equal(fx->rec.n, 3);
    expect_event(fx, 0, TP_FRAME_EV_BAD_PREFIX, "XYZ:123", 7);
    expect_event(fx, 1, TP_FRAME_EV_BAD_PREFIX, "SC", 2); /* too short */
    expect_frame(fx, 2, "456");
}

static void frame_of_only_the_prefix_is_ignored(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "prefix");
    set(fx, "prefix", "SCN:");
    start(fx);
    feeds(fx, "SCN:\r", 10);
    assert_int_equal(fx->rec.n, 0);
}

static void prefix_with_hex_escape_may_hold_control_bytes(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "prefix");
    set(fx, "suffix", "LF");
    set(fx, "prefix", "\\x1b\\\\P"); /* ESC, backslash, 'P' */
    assert_int_equal(fx->cfg.prefix_len, 3);
    assert_memory_equal(fx->cfg.prefix, "\x1b\\P", 3);
    start(fx);
    feeds(fx, "\x1b\\P42\n", 10);
    /* The control byte is accepted only as part of the prefix. */
    feeds(fx, "\x1b\\P4\x1b" "2\n", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 0, "42");
    expect_event(fx, 1, TP_FRAME_EV_BAD_DATA, "\x1b\\P4\x1b" "2", 6);
}

static void empty_prefix_in_prefix_mode_acts_as_suffix_mode(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "prefix");
    start(fx);
    feeds(fx, "ABC\r", 10);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "ABC");
}

/* ------------------------------------------------------------------ */
/* STX/ETX framing                                                     */
/* ------------------------------------------------------------------ */

static void stx_etx_delivers_frame_and_counts_noise(void **state)
{
    fixture *fx = *state;
    tp_framer_stats st;

    set(fx, "framing", "stx-etx");
    start(fx);
    /* "ab" before, CR LF after ETX, and a stray ETX are noise: 5 bytes. */
    feeds(fx, "ab\x02" "12345\x03\r\n\x03\x02" "67\x03", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 0, "12345");
    expect_frame(fx, 1, "67");
    tp_framer_get_stats(&fx->framer, &st);
    assert_int_equal(st.noise_bytes, 5);
    assert_int_equal(st.frames, 2);
}

static void stx_etx_frame_may_contain_tab_and_cr_is_bad_data(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "stx-etx");
    start(fx);
    feeds(fx, "\x02" "A\tB\x03\x02" "C\rD\x03", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 0, "A\tB");
    expect_event(fx, 1, TP_FRAME_EV_BAD_DATA, "C\rD", 3);
}

static void stx_inside_frame_restarts_frame(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "stx-etx");
    start(fx);
    feeds(fx, "\x02" "lost", 10);
    feeds(fx, "\x02" "kept\x03", 20);
    assert_int_equal(fx->rec.n, 2);
    expect_event(fx, 0, TP_FRAME_EV_BAD_DATA, "lost", 4);
    assert_int_equal(fx->rec.ev[0].first_ms, 10);
    assert_int_equal(fx->rec.ev[0].last_ms, 10);
    expect_frame(fx, 1, "kept");
    assert_int_equal(fx->rec.ev[1].first_ms, 20);
}

static void stx_etx_oversize_resyncs_at_etx(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "stx-etx");
    set(fx, "max_length", "4");
    start(fx);
    feeds(fx, "\x02" "123456789\x03" "xx\x02" "abcd\x03", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_event(fx, 0, TP_FRAME_EV_OVERSIZE, "1234", 4);
    expect_frame(fx, 1, "abcd");
}

static void stx_etx_oversize_resyncs_at_next_stx(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "stx-etx");
    set(fx, "max_length", "4");
    start(fx);
    feeds(fx, "\x02" "123456789\x02" "abcd\x03", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_event(fx, 0, TP_FRAME_EV_OVERSIZE, "1234", 4);
    expect_frame(fx, 1, "abcd");
}

/* ------------------------------------------------------------------ */
/* Data checks                                                         */
/* ------------------------------------------------------------------ */

static void control_bytes_make_frame_bad_data(void **state)
{
    fixture *fx = *state;

    start(fx);
    feed(fx, "A\0B\r", 4, 10);
    feeds(fx, "A\x1f" "B\r", 10);
    feeds(fx, "A\x7f" "B\r", 10);
    feeds(fx, "A\x01\r", 10);
    feeds(fx, "AB\r", 10);
    assert_int_equal(fx->rec.n, 5);
    expect_event(fx, 0, TP_FRAME_EV_BAD_DATA, "A\0B", 3);
    expect_event(fx, 1, TP_FRAME_EV_BAD_DATA, "A\x1f" "B", 3);
    expect_event(fx, 2, TP_FRAME_EV_BAD_DATA, "A\x7f" "B", 3);
    expect_event(fx, 3, TP_FRAME_EV_BAD_DATA, "A\x01", 2);
    expect_frame(fx, 4, "AB");
}

static void tab_is_data_unless_it_is_the_suffix(void **state)
{
    fixture *fx = *state;

    start(fx); /* CR suffix */
    feeds(fx, "A\tB\r", 10);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "A\tB");
}

static void utf8_bytes_are_allowed(void **state)
{
    fixture *fx = *state;

    start(fx);
    feeds(fx, "M\xc3\xbcller-\xe2\x82\xac" "5\r", 10);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "M\xc3\xbcller-\xe2\x82\xac" "5");
}

/* ------------------------------------------------------------------ */
/* Oversize                                                            */
/* ------------------------------------------------------------------ */

static void frame_of_exactly_max_length_is_delivered(void **state)
{
    fixture *fx = *state;

    set(fx, "max_length", "5");
    start(fx);
    feeds(fx, "12345\r", 10);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "12345");
}

static void oversize_frame_is_dropped_and_next_frame_survives(void **state)
{
    fixture *fx = *state;

    set(fx, "max_length", "5");
    start(fx);
    feeds(fx, "123", 10);
    feeds(fx, "456789", 20); /* '6' is byte 6: reported at once */
    assert_int_equal(fx->rec.n, 1);
    expect_event(fx, 0, TP_FRAME_EV_OVERSIZE, "12345", 5);
    assert_int_equal(fx->rec.ev[0].first_ms, 10);
    assert_int_equal(fx->rec.ev[0].last_ms, 20);
    feeds(fx, "ABC\rOK\r", 30); /* tail "789ABC" is not a frame */
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 1, "OK");
}

static void max_length_counts_prefix_and_aim_id(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "prefix");
    set(fx, "prefix", "P:");
    set(fx, "aim", "yes");
    set(fx, "max_length", "8");
    start(fx);
    feeds(fx, "P:]C0123\r", 10);  /* 8 bytes: fits */
    feeds(fx, "P:]C01234\r", 10); /* 9 bytes: too long */
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 0, "123");
    expect_event(fx, 1, TP_FRAME_EV_OVERSIZE, "P:]C0123", 8);
}

static void crlf_oversize_needs_the_pair_to_resync(void **state)
{
    fixture *fx = *state;

    set(fx, "suffix", "CRLF");
    set(fx, "max_length", "3");
    start(fx);
    /* The held CR of "abc\r" is data once 'x' follows: byte 4, oversize.
     * The lone LF inside the tail does not end it; CR LF does. */
    feeds(fx, "abc\rx\ny\r\nOK\r\n", 10);
    assert_int_equal(fx->rec.n, 2);
    expect_event(fx, 0, TP_FRAME_EV_OVERSIZE, "abc", 3);
    expect_frame(fx, 1, "OK");
}

/* ------------------------------------------------------------------ */
/* Timeout                                                             */
/* ------------------------------------------------------------------ */

static void partial_frame_times_out(void **state)
{
    fixture *fx = *state;

    start(fx); /* 500 ms */
    feeds(fx, "123", 1000);
    tp_framer_tick(&fx->framer, 1499);
    assert_int_equal(fx->rec.n, 0);
    tp_framer_tick(&fx->framer, 1500);
    assert_int_equal(fx->rec.n, 1);
    expect_event(fx, 0, TP_FRAME_EV_TIMEOUT, "123", 3);
    assert_int_equal(fx->rec.ev[0].first_ms, 1000);
    assert_int_equal(fx->rec.ev[0].last_ms, 1000);
    assert_int_equal(tp_framer_deadline(&fx->framer), -1);
    /* The next scan starts clean. */
    feeds(fx, "456\r", 2000);
    assert_int_equal(fx->rec.n, 2);
    expect_frame(fx, 1, "456");
}

static void late_bytes_time_out_the_old_partial_before_framing(void **state)
{
    fixture *fx = *state;

    start(fx);
    feeds(fx, "12", 1000);
    feeds(fx, "AB\r", 1600); /* no tick in between */
    assert_int_equal(fx->rec.n, 2);
    expect_event(fx, 0, TP_FRAME_EV_TIMEOUT, "12", 2);
    expect_frame(fx, 1, "AB");
    assert_int_equal(fx->rec.ev[1].first_ms, 1600);
}

static void timeout_counts_from_the_last_byte(void **state)
{
    fixture *fx = *state;

    start(fx);
    feeds(fx, "1", 1000);
    feeds(fx, "2", 1400);
    feeds(fx, "3", 1800);
    tp_framer_tick(&fx->framer, 2200);
    feeds(fx, "\r", 2200);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "123");
    assert_int_equal(fx->rec.ev[0].first_ms, 1000);
    assert_int_equal(fx->rec.ev[0].last_ms, 2200);
}

static void deadline_follows_the_pending_frame(void **state)
{
    fixture *fx = *state;

    set(fx, "frame_timeout_ms", "250");
    start(fx);
    assert_int_equal(tp_framer_deadline(&fx->framer), -1);
    feeds(fx, "1", 1000);
    assert_int_equal(tp_framer_deadline(&fx->framer), 1250);
    feeds(fx, "2", 1100);
    assert_int_equal(tp_framer_deadline(&fx->framer), 1350);
    feeds(fx, "\r", 1200);
    assert_int_equal(tp_framer_deadline(&fx->framer), -1);
}

static void zero_timeout_never_expires(void **state)
{
    fixture *fx = *state;

    set(fx, "frame_timeout_ms", "0");
    start(fx);
    feeds(fx, "12", 0);
    assert_int_equal(tp_framer_deadline(&fx->framer), -1);
    tp_framer_tick(&fx->framer, INT64_C(1) << 40);
    feeds(fx, "3\r", INT64_C(1) << 41);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "123");
}

static void clock_stepping_back_never_fires_timeout_early(void **state)
{
    fixture *fx = *state;

    start(fx);
    feeds(fx, "12", 5000);
    tp_framer_tick(&fx->framer, 1000); /* wall clock stepped back */
    assert_int_equal(fx->rec.n, 0);
    assert_int_equal(tp_framer_deadline(&fx->framer), 5500);
    tp_framer_tick(&fx->framer, 5500);
    assert_int_equal(fx->rec.n, 1);
    expect_event(fx, 0, TP_FRAME_EV_TIMEOUT, "12", 2);
}

static void deadline_saturates_instead_of_overflowing(void **state)
{
    fixture *fx = *state;

    start(fx);
    feeds(fx, "1", INT64_MAX - 10);
    assert_true(tp_framer_deadline(&fx->framer) == INT64_MAX);
    tp_framer_tick(&fx->framer, INT64_MAX);
    assert_int_equal(fx->rec.n, 0); /* only 10 ms have passed */
    /* Negative timestamps are just numbers too. */
    tp_framer_reset(&fx->framer);
    feeds(fx, "2", -1000);
    assert_true(tp_framer_deadline(&fx->framer) == -500);
    tp_framer_tick(&fx->framer, -500);
    assert_int_equal(fx->rec.n, 1);
    expect_event(fx, 0, TP_FRAME_EV_TIMEOUT, "2", 1);
}

static void oversize_tail_ends_silently_at_timeout(void **state)
{
    fixture *fx = *state;

    set(fx, "max_length", "2");
    start(fx);
    feeds(fx, "12345", 1000); /* terminator lost */
    assert_int_equal(tp_framer_deadline(&fx->framer), 1500);
    tp_framer_tick(&fx->framer, 1500);
    feeds(fx, "OK\r", 2000);
    assert_int_equal(fx->rec.n, 2);
    expect_event(fx, 0, TP_FRAME_EV_OVERSIZE, "12", 2);
    expect_frame(fx, 1, "OK");
}

static void lone_held_cr_expires_without_event(void **state)
{
    fixture *fx = *state;

    set(fx, "suffix", "CRLF");
    start(fx);
    feeds(fx, "\r", 1000);
    assert_int_equal(tp_framer_deadline(&fx->framer), 1500);
    tp_framer_tick(&fx->framer, 1500);
    assert_int_equal(fx->rec.n, 0);
    assert_int_equal(tp_framer_deadline(&fx->framer), -1);
    /* But kept bytes before a held CR are reported, without the CR. */
    feeds(fx, "AB\r", 2000);
    tp_framer_tick(&fx->framer, 2500);
    assert_int_equal(fx->rec.n, 1);
    expect_event(fx, 0, TP_FRAME_EV_TIMEOUT, "AB", 2);
}

static void lone_stx_times_out_with_empty_data(void **state)
{
    fixture *fx = *state;

    set(fx, "framing", "stx-etx");
    start(fx);
    feeds(fx, "\x02", 1000);
    tp_framer_tick(&fx->framer, 1500);
    assert_int_equal(fx->rec.n, 1);
    expect_event(fx, 0, TP_FRAME_EV_TIMEOUT, "", 0);
}

static void reset_drops_partial_frame_without_event(void **state)
{
    fixture *fx = *state;

    start(fx);
    feeds(fx, "half", 1000);
    tp_framer_reset(&fx->framer);
    assert_int_equal(tp_framer_deadline(&fx->framer), -1);
    feeds(fx, "whole\r", 1100);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "whole");
}

/* ------------------------------------------------------------------ */
/* Chunking independence                                               */
/* ------------------------------------------------------------------ */

static void byte_by_byte_feeding_matches_one_chunk(void **state)
{
    static const struct {
        const char *settings[4][2];
        const char *stream;
        size_t len;
        size_t events;
    } cases[] = {
        /* FRAME a, FRAME bb, BAD_DATA "c\0d", OVERSIZE "123456" */
        {{{"suffix", "CR"}}, "a\rbb\r\rc\0d\r12345678\rtail", 23, 4},
        /* FRAME a, BAD_DATA "b\rc\r", BAD_DATA "\nx", OVERSIZE */
        {{{"suffix", "CRLF"}}, "a\r\nb\rc\r\r\n\nx\r\n0123456789\r\nzz", 27,
         4},
        /* FRAME qr "http://x", FRAME ean13 */
        {{{"suffix", "TAB"}, {"aim", "1"}, {"max_length", "64"}},
         "]Q1http://x\t]E04006381333931\t]C0ab", 34, 2},
        /* FRAME 1, BAD_PREFIX "X:2", OVERSIZE "S:1234" */
        {{{"framing", "prefix"}, {"prefix", "S:"}},
         "S:1\rX:2\rS:\rS:12345678\rS:9", 25, 3},
        /* FRAME code128 "abc", BAD_DATA "q", OVERSIZE "123456" */
        {{{"framing", "stx-etx"}, {"aim", "yes"}},
         "zz\x02]C0abc\x03\r\n\x02q\x02" "123456789\x03\x02\x03\x02t", 29, 3},
    };

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fixture *fx = *state;
        recorder whole;

        tp_framer_config_default(&fx->cfg);
        set(fx, "max_length", "6");
        for (size_t k = 0; k < 4 && cases[c].settings[k][0] != NULL; k++)
            set(fx, cases[c].settings[k][0], cases[c].settings[k][1]);

        start(fx);
        feed(fx, cases[c].stream, cases[c].len, 10);
        tp_framer_tick(&fx->framer, 10000);
        whole = fx->rec;
        assert_int_equal(whole.n, cases[c].events + 1); /* + the timeout */

        start(fx);
        for (size_t i = 0; i < cases[c].len; i++)
            feed(fx, cases[c].stream + i, 1, 10);
        tp_framer_tick(&fx->framer, 10000);
        assert_int_equal(fx->rec.n, whole.n);
        for (size_t i = 0; i < whole.n; i++) {
            assert_int_equal(fx->rec.ev[i].kind, whole.ev[i].kind);
            assert_int_equal(fx->rec.ev[i].len, whole.ev[i].len);
            assert_memory_equal(fx->rec.ev[i].data, whole.ev[i].data,
                                whole.ev[i].len);
            assert_int_equal(fx->rec.ev[i].sym, whole.ev[i].sym);
            assert_string_equal(fx->rec.ev[i].aim_id, whole.ev[i].aim_id);
        }
    }
}

/* ------------------------------------------------------------------ */
/* AIM identifiers                                                     */
/* ------------------------------------------------------------------ */

static void aim_ids_map_to_symbologies(void **state)
{
    static const struct {
        const char *frame;
        tp_symbology sym;
        const char *name;
        const char *event; /* what a scan event names it */
    } cases[] = {
        {"]E04006381333931", TP_SYM_EAN13, "ean13", "ean13"},
        {"]E496385074", TP_SYM_EAN8, "ean8", "ean8"},
        {"]E0036000291452", TP_SYM_UPCA, "upca", "upca"},
        {"]E001234565", TP_SYM_UPCE, "upce", "upce"},
        {"]E112", TP_SYM_EAN_ADDON, "ean-addon", "ean-addon"},
        {"]E252495", TP_SYM_EAN_ADDON, "ean-addon", "ean-addon"},
        {"]E3400638133393152495", TP_SYM_EAN13, "ean13", "ean13"},
        {"]C0ABC-123", TP_SYM_CODE128, "code128", "code128"},
        {"]C1010400638133393110ABC", TP_SYM_CODE128, "code128", "gs1-128"},
        {"]A0CODE39", TP_SYM_CODE39, "code39", "code39"},
        {"]G0CODE93", TP_SYM_CODE93, "code93", "code93"},
        {"]Q1https://example.com/m/42", TP_SYM_QR, "qr", "qr"},
        {"]d1MEMBER42", TP_SYM_DATAMATRIX, "datamatrix", "datamatrix"},
        {"]d201040063813339", TP_SYM_DATAMATRIX, "datamatrix", "datamatrix"},
        {"]L0PDF", TP_SYM_PDF417, "pdf417", "pdf417"},
        {"]e00104006381333931", TP_SYM_DATABAR, "databar", "databar"},
        {"]I012345670", TP_SYM_ITF, "itf", "itf"},
        {"]F0A12345B", TP_SYM_CODABAR, "codabar", "codabar"},
        {"]z0AZTEC", TP_SYM_AZTEC, "aztec", "aztec"},
        {"]U0MAXI", TP_SYM_MAXICODE, "maxicode", "maxicode"},
        {"]X0OTHER", TP_SYM_UNKNOWN, "unknown", ""},
        {"]E9123", TP_SYM_UNKNOWN, "unknown", ""},
    };
    fixture *fx = *state;

    set(fx, "aim", "yes");
    start(fx);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[64];
        const rec_event *e;

        snprintf(line, sizeof line, "%s\r", cases[i].frame);
        fx->rec.n = 0;
        feeds(fx, line, 10);
        assert_int_equal(fx->rec.n, 1);
        e = &fx->rec.ev[0];
        assert_int_equal(e->kind, TP_FRAME_EV_FRAME);
        assert_string_equal(e->data, cases[i].frame + 3);
        assert_memory_equal(e->aim_id, cases[i].frame, 3);
        assert_int_equal(e->aim_id[3], '\0');
        assert_string_equal(tp_symbology_name(e->sym), cases[i].name);
        assert_int_equal(e->sym, cases[i].sym);
        assert_string_equal(tp_symbology_event_name(e->sym, e->aim_id), cases[i].event);
    }
}

static void frame_without_aim_id_is_kept_whole_as_unknown(void **state)
{
    fixture *fx = *state;

    set(fx, "aim", "yes");
    start(fx);
    feeds(fx, "4006381333931\r]\r]E\r]1A\r]E-5\r", 10);
    assert_int_equal(fx->rec.n, 5);
    expect_frame(fx, 0, "4006381333931");
    expect_frame(fx, 1, "]");
    expect_frame(fx, 2, "]E");
    expect_frame(fx, 3, "]1A");
    expect_frame(fx, 4, "]E-5");
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(fx->rec.ev[i].sym, TP_SYM_UNKNOWN);
        assert_string_equal(fx->rec.ev[i].aim_id, "");
    }
}

static void aim_disabled_leaves_id_in_data(void **state)
{
    fixture *fx = *state;

    start(fx);
    feeds(fx, "]E04006381333931\r", 10);
    assert_int_equal(fx->rec.n, 1);
    expect_frame(fx, 0, "]E04006381333931");
    assert_int_equal(fx->rec.ev[0].sym, TP_SYM_UNKNOWN);
    assert_string_equal(fx->rec.ev[0].aim_id, "");
}

static void frame_of_only_an_aim_id_is_ignored(void **state)
{
    fixture *fx = *state;

    set(fx, "aim", "yes");
    start(fx);
    feeds(fx, "]C0\r", 10);
    assert_int_equal(fx->rec.n, 0);
}

static void aim_parse_reports_skip_and_rejects_bad_input(void **state)
{
    tp_symbology sym = TP_SYM_QR;
    size_t skip = 99;

    (void)state;
    assert_int_equal(tp_aim_parse("]Q1x", 4, &sym, &skip), TP_OK);
    assert_int_equal(sym, TP_SYM_QR);
    assert_int_equal(skip, 3);
    /* Exactly the id, no label: still an id (E0 with 0 digits = EAN-13). */
    assert_int_equal(tp_aim_parse("]E0", 3, &sym, &skip), TP_OK);
    assert_int_equal(sym, TP_SYM_EAN13);
    /* Length is honoured: "]Q1" cut to 2 bytes is not an id. */
    assert_int_equal(tp_aim_parse("]Q1", 2, &sym, &skip), TP_ERR_NOT_FOUND);
    assert_int_equal(sym, TP_SYM_UNKNOWN);
    assert_int_equal(skip, 0);
    assert_int_equal(tp_aim_parse("Q1]", 3, &sym, &skip), TP_ERR_NOT_FOUND);
    assert_int_equal(tp_aim_parse("]Q ", 3, &sym, &skip), TP_ERR_NOT_FOUND);
    assert_int_equal(tp_aim_parse(NULL, 0, &sym, &skip), TP_ERR_NOT_FOUND);
    assert_int_equal(tp_aim_parse(NULL, 3, &sym, &skip),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_aim_parse("]Q1", 3, NULL, &skip),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_aim_parse("]Q1", 3, &sym, NULL),
                     TP_ERR_INVALID_ARGUMENT);
}

static void names_are_stable_tokens(void **state)
{
    (void)state;
    assert_string_equal(tp_symbology_name(TP_SYM_UNKNOWN), "unknown");
    assert_string_equal(tp_symbology_name(TP_SYM_DATAMATRIX), "datamatrix");
    assert_string_equal(tp_symbology_name(TP_SYM_COUNT), "unknown");
    assert_string_equal(tp_symbology_name((tp_symbology)-1), "unknown");
    for (int s = 0; s < TP_SYM_COUNT; s++)
        assert_non_null(tp_symbology_name((tp_symbology)s));
    /* Events say "" rather than "unknown": the scanner named nothing. */
    assert_string_equal(tp_symbology_event_name(TP_SYM_UNKNOWN, ""), "");
    assert_string_equal(tp_symbology_event_name(TP_SYM_UNKNOWN, "]X0"), "");
    assert_string_equal(tp_symbology_event_name(TP_SYM_COUNT, NULL), "");
    assert_string_equal(tp_symbology_event_name((tp_symbology)-1, NULL), "");
    assert_string_equal(tp_symbology_event_name(TP_SYM_QR, NULL), "qr");
    assert_string_equal(tp_symbology_event_name(TP_SYM_CODE128, NULL), "code128");
    assert_string_equal(tp_symbology_event_name(TP_SYM_CODE128, "]C0"), "code128");
    assert_string_equal(tp_symbology_event_name(TP_SYM_CODE128, "]C1"), "gs1-128");
    /* GS1 data in other symbologies keeps the family name. */
    assert_string_equal(tp_symbology_event_name(TP_SYM_QR, "]Q3"), "qr");
    assert_string_equal(tp_frame_event_kind_name(TP_FRAME_EV_FRAME), "frame");
    assert_string_equal(tp_frame_event_kind_name(TP_FRAME_EV_OVERSIZE),
                        "oversize");
    assert_string_equal(tp_frame_event_kind_name(TP_FRAME_EV_TIMEOUT),
                        "timeout");
    assert_string_equal(tp_frame_event_kind_name(TP_FRAME_EV_BAD_DATA),
                        "bad-data");
    assert_string_equal(tp_frame_event_kind_name(TP_FRAME_EV_BAD_PREFIX),
                        "bad-prefix");
    assert_string_equal(tp_frame_event_kind_name((tp_frame_event_kind)42),
                        "unknown");
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

static void config_default_is_cr_suffix_256_bytes_500_ms(void **state)
{
    tp_framer_config cfg;

    (void)state;
    memset(&cfg, 0xa5, sizeof cfg);
    tp_framer_config_default(&cfg);
    assert_int_equal(cfg.framing, TP_FRAMING_SUFFIX);
    assert_int_equal(cfg.suffix, TP_SUFFIX_CR);
    assert_int_equal(cfg.prefix_len, 0);
    assert_false(cfg.aim);
    assert_int_equal(cfg.max_length, 256);
    assert_int_equal(cfg.frame_timeout_ms, 500);
    assert_int_equal(tp_framer_config_check(&cfg, NULL, 0), TP_OK);
}

static void config_set_accepts_every_key(void **state)
{
    tp_framer_config cfg;
    char msg[TP_MESSAGE_MAX + 1] = "stale";

    (void)state;
    tp_framer_config_default(&cfg);
    assert_int_equal(tp_framer_config_set(&cfg, "framing", "STX-ETX", msg,
                                          sizeof msg),
                     TP_OK);
    assert_string_equal(msg, "");
    assert_int_equal(cfg.framing, TP_FRAMING_STX_ETX);
    assert_int_equal(tp_framer_config_set(&cfg, "suffix", "crlf", NULL, 0),
                     TP_OK);
    assert_int_equal(cfg.suffix, TP_SUFFIX_CRLF);
    assert_int_equal(tp_framer_config_set(&cfg, "prefix", "\\x02A", NULL, 0),
                     TP_OK);
    assert_int_equal(cfg.prefix_len, 2);
    assert_memory_equal(cfg.prefix, "\x02" "A", 2);
    assert_int_equal(tp_framer_config_set(&cfg, "prefix", "", NULL, 0),
                     TP_OK);
    assert_int_equal(cfg.prefix_len, 0);
    assert_int_equal(tp_framer_config_set(&cfg, "aim", "True", NULL, 0),
                     TP_OK);
    assert_true(cfg.aim);
    assert_int_equal(tp_framer_config_set(&cfg, "aim", "0", NULL, 0), TP_OK);
    assert_false(cfg.aim);
    assert_int_equal(tp_framer_config_set(&cfg, "max_length", "4096", NULL,
                                          0),
                     TP_OK);
    assert_int_equal(cfg.max_length, 4096);
    assert_int_equal(tp_framer_config_set(&cfg, "frame_timeout_ms", "60000",
                                          NULL, 0),
                     TP_OK);
    assert_int_equal(cfg.frame_timeout_ms, 60000);
}

static void config_set_rejects_bad_values_and_leaves_cfg_unchanged(
    void **state)
{
    static const struct {
        const char *key;
        const char *value;
        const char *msg;
    } cases[] = {
        {"framing", "x",
         "framing must be one of suffix, prefix, stx-etx (got 'x')."},
        {"framing", "", "framing must be one of suffix, prefix, stx-etx "
                        "(got '')."},
        {"suffix", "CR LF",
         "suffix must be one of CR, LF, CRLF, TAB (got 'CR LF')."},
        {"aim", "maybe",
         "aim must be one of yes, no, true, false, 1, 0 (got 'maybe')."},
        {"max_length", "0",
         "max_length must be a whole number from 1 to 4096 (got '0')."},
        {"max_length", "4097",
         "max_length must be a whole number from 1 to 4096 (got '4097')."},
        {"max_length", "-5",
         "max_length must be a whole number from 1 to 4096 (got '-5')."},
        {"max_length", "12abc",
         "max_length must be a whole number from 1 to 4096 (got '12abc')."},
        {"max_length", "99999999999999999999999",
         "max_length must be a whole number from 1 to 4096 "
         "(got '99999999999999999999999')."},
        {"frame_timeout_ms", "60001",
         "frame_timeout_ms must be a whole number from 0 to 60000 "
         "milliseconds, 0 to disable (got '60001')."},
        {"frame_timeout_ms", "",
         "frame_timeout_ms must be a whole number from 0 to 60000 "
         "milliseconds, 0 to disable (got '')."},
        {"prefix", "123456789",
         "prefix must be at most 8 bytes (got '123456789')."},
        {"prefix", "\\x4",
         "prefix may use only \\xNN (two hex digits) and \\\\ as escapes "
         "(got '\\x4')."},
        {"prefix", "\\n",
         "prefix may use only \\xNN (two hex digits) and \\\\ as escapes "
         "(got '\\n')."},
    };
    tp_framer_config cfg, before;

    (void)state;
    tp_framer_config_default(&cfg);
    cfg.prefix_len = 1;
    cfg.prefix[0] = '#';
    before = cfg;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[TP_MESSAGE_MAX + 1];

        assert_int_equal(tp_framer_config_set(&cfg, cases[i].key,
                                              cases[i].value, msg,
                                              sizeof msg),
                         TP_ERR_CONFIG);
        assert_string_equal(msg, cases[i].msg);
        assert_memory_equal(&cfg, &before, sizeof cfg);
    }
}

static void config_set_hands_back_unknown_keys(void **state)
{
    tp_framer_config cfg;
    char msg[TP_MESSAGE_MAX + 1];

    (void)state;
    tp_framer_config_default(&cfg);
    assert_int_equal(tp_framer_config_set(&cfg, "baud", "9600", msg,
                                          sizeof msg),
                     TP_ERR_NOT_FOUND);
    assert_string_equal(msg, "'baud' is not a scanner framing setting "
                             "(known: framing, suffix, prefix, aim, "
                             "max_length, frame_timeout_ms).");
    assert_int_equal(tp_framer_config_set(NULL, "aim", "1", msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_framer_config_set(&cfg, NULL, "1", NULL, 0),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_framer_config_set(&cfg, "aim", NULL, NULL, 0),
                     TP_ERR_INVALID_ARGUMENT);
}

static void config_message_is_truncated_safely(void **state)
{
    tp_framer_config cfg;
    char msg[8];

    (void)state;
    tp_framer_config_default(&cfg);
    assert_int_equal(tp_framer_config_set(&cfg, "framing", "x", msg,
                                          sizeof msg),
                     TP_ERR_CONFIG);
    assert_string_equal(msg, "framing");
}

static void init_rejects_prefix_holding_the_suffix(void **state)
{
    fixture *fx = *state;
    char msg[TP_MESSAGE_MAX + 1];

    set(fx, "framing", "prefix");
    set(fx, "suffix", "CRLF");
    set(fx, "prefix", "A\\x0d");
    assert_int_equal(tp_framer_init(&fx->framer, &fx->cfg, record, &fx->rec,
                                    msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_string_equal(msg, "prefix must not contain the suffix (CRLF) "
                             "byte \\x0d.");
    /* The same prefix is fine with TAB, and ignored in suffix framing. */
    set(fx, "suffix", "TAB");
    assert_int_equal(tp_framer_config_check(&fx->cfg, NULL, 0), TP_OK);
    set(fx, "suffix", "CR");
    set(fx, "framing", "suffix");
    assert_int_equal(tp_framer_config_check(&fx->cfg, NULL, 0), TP_OK);
}

static void init_rejects_out_of_range_config_and_null_arguments(
    void **state)
{
    fixture *fx = *state;
    char msg[TP_MESSAGE_MAX + 1];

    fx->cfg.max_length = 0;
    assert_int_equal(tp_framer_init(&fx->framer, &fx->cfg, record, NULL, msg,
                                    sizeof msg),
                     TP_ERR_CONFIG);
    assert_string_equal(msg, "max_length must be from 1 to 4096 (got 0).");
    tp_framer_config_default(&fx->cfg);
    fx->cfg.frame_timeout_ms = -1;
    assert_int_equal(tp_framer_init(&fx->framer, &fx->cfg, record, NULL, msg,
                                    sizeof msg),
                     TP_ERR_CONFIG);
    assert_string_equal(msg,
                        "frame_timeout_ms must be from 0 to 60000 (got -1).");
    tp_framer_config_default(&fx->cfg);
    fx->cfg.framing = (tp_framing)7;
    assert_int_equal(tp_framer_init(&fx->framer, &fx->cfg, record, NULL, msg,
                                    sizeof msg),
                     TP_ERR_CONFIG);
    tp_framer_config_default(&fx->cfg);
    fx->cfg.suffix = (tp_suffix)9;
    assert_int_equal(tp_framer_config_check(&fx->cfg, msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_string_equal(msg, "suffix must be one of CR, LF, CRLF, TAB.");
    assert_int_equal(tp_framer_config_check(NULL, msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
    tp_framer_config_default(&fx->cfg);
    fx->cfg.prefix_len = 9;
    assert_int_equal(tp_framer_config_check(&fx->cfg, NULL, 0),
                     TP_ERR_CONFIG);
    tp_framer_config_default(&fx->cfg);
    assert_int_equal(tp_framer_init(&fx->framer, &fx->cfg, NULL, NULL, msg,
                                    sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_framer_init(NULL, &fx->cfg, record, NULL, NULL, 0),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_framer_init(&fx->framer, NULL, record, NULL, NULL, 0),
                     TP_ERR_INVALID_ARGUMENT);
}

static void feed_rejects_null_data_but_accepts_empty_feed(void **state)
{
    fixture *fx = *state;

    start(fx);
    assert_int_equal(tp_framer_feed(&fx->framer, NULL, 1, 0),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_framer_feed(NULL, "x", 1, 0),
                     TP_ERR_INVALID_ARGUMENT);
    feeds(fx, "12", 1000);
    /* An empty feed lets time pass like tick(). */
    assert_int_equal(tp_framer_feed(&fx->framer, NULL, 0, 1500), TP_OK);
    assert_int_equal(fx->rec.n, 1);
    expect_event(fx, 0, TP_FRAME_EV_TIMEOUT, "12", 2);
}

static void stats_count_each_outcome(void **state)
{
    fixture *fx = *state;
    tp_framer_stats st;

    set(fx, "framing", "prefix");
    set(fx, "prefix", ">");
    set(fx, "max_length", "4");
    start(fx);
    feeds(fx, ">ok\r>12345\rx\r>a\x01\r>t", 1000);
    tp_framer_tick(&fx->framer, 2000);
    tp_framer_reset(&fx->framer);
    tp_framer_get_stats(&fx->framer, &st);
    assert_int_equal(st.frames, 1);
    assert_int_equal(st.oversize, 1);
    assert_int_equal(st.bad_prefix, 1);
    assert_int_equal(st.bad_data, 1);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.noise_bytes, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(cr_suffix_delivers_each_scan),
        T(lf_suffix_delivers_each_scan),
        T(tab_suffix_delivers_each_scan),
        T(crlf_suffix_splits_two_scans_in_one_read),
        T(crlf_terminator_split_across_reads_still_ends_frame),
        T(crlf_lone_cr_or_lf_does_not_split_frame),
        T(cr_suffix_with_crlf_scanner_reports_following_scans_bad),
        T(empty_frames_are_ignored_silently),
        T(prefix_is_stripped),
        T(frame_without_prefix_is_bad_prefix_and_next_frame_survives),
        T(frame_of_only_the_prefix_is_ignored),
        T(prefix_with_hex_escape_may_hold_control_bytes),
        T(empty_prefix_in_prefix_mode_acts_as_suffix_mode),
        T(stx_etx_delivers_frame_and_counts_noise),
        T(stx_etx_frame_may_contain_tab_and_cr_is_bad_data),
        T(stx_inside_frame_restarts_frame),
        T(stx_etx_oversize_resyncs_at_etx),
        T(stx_etx_oversize_resyncs_at_next_stx),
        T(control_bytes_make_frame_bad_data),
        T(tab_is_data_unless_it_is_the_suffix),
        T(utf8_bytes_are_allowed),
        T(frame_of_exactly_max_length_is_delivered),
        T(oversize_frame_is_dropped_and_next_frame_survives),
        T(max_length_counts_prefix_and_aim_id),
        T(crlf_oversize_needs_the_pair_to_resync),
        T(partial_frame_times_out),
        T(late_bytes_time_out_the_old_partial_before_framing),
        T(timeout_counts_from_the_last_byte),
        T(deadline_follows_the_pending_frame),
        T(zero_timeout_never_expires),
        T(clock_stepping_back_never_fires_timeout_early),
        T(deadline_saturates_instead_of_overflowing),
        T(oversize_tail_ends_silently_at_timeout),
        T(lone_held_cr_expires_without_event),
        T(lone_stx_times_out_with_empty_data),
        T(reset_drops_partial_frame_without_event),
        T(byte_by_byte_feeding_matches_one_chunk),
        T(aim_ids_map_to_symbologies),
        T(frame_without_aim_id_is_kept_whole_as_unknown),
        T(aim_disabled_leaves_id_in_data),
        T(frame_of_only_an_aim_id_is_ignored),
        T(aim_parse_reports_skip_and_rejects_bad_input),
        T(names_are_stable_tokens),
        T(config_default_is_cr_suffix_256_bytes_500_ms),
        T(config_set_accepts_every_key),
        T(config_set_rejects_bad_values_and_leaves_cfg_unchanged),
        T(config_set_hands_back_unknown_keys),
        T(config_message_is_truncated_safely),
        T(init_rejects_prefix_holding_the_suffix),
        T(init_rejects_out_of_range_config_and_null_arguments),
        T(feed_rejects_null_data_but_accepts_empty_feed),
        T(stats_count_each_outcome),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
