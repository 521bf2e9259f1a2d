/*
 * wedge.h — the keyboard-wedge barcode scanner: a USB scanner that poses as
 * a keyboard and "types" each code followed by Enter.
 *
 * Two layers:
 *  - tp_wedge_decoder: pure. Fed with evdev events (type, code, value and a
 *    millisecond timestamp), it keeps the modifier state, maps key codes to
 *    characters under a layout and cuts the keystrokes into scans. The
 *    device driver and the tests drive exactly this code, so a recorded
 *    event stream in a test behaves as the same stream from a device.
 *  - tp_wedge_driver: the tp_driver_ops for config `driver = wedge`. It
 *    opens /dev/input/eventN (or a /dev/input/by-id/... link) with libevdev,
 *    grabs it so the keystrokes do not also reach the POS, and feeds the
 *    decoder from the scanner thread's poll loop.
 *
 * Decoder rules (US layout, the only one so far):
 *  - Letters, digits, space and the US punctuation keys, shifted by either
 *    Shift key; Caps Lock toggles on its press and inverts Shift for
 *    letters only (as a PC does). Keypad digits and keypad . - + * / = ,
 *    map to their characters whatever the Num Lock state (a grabbed device
 *    has no Num Lock LED that anybody maintains) and ignore Shift.
 *  - Enter or keypad Enter ends a scan. A scan of nothing ends silently; so
 *    does one of nothing but an AIM identifier when `aim` is on.
 *  - Presses (value 1) type; repeats (value 2) are ignored; releases
 *    (value 0) only matter for the modifiers.
 *  - A key with no character in the layout (Tab, F-keys, Backspace, Esc,
 *    the ISO key left of Z ...) or a character key pressed while Ctrl, Alt
 *    or Meta is held marks the scan bad; it is reported when the Enter
 *    comes (TP_WEDGE_EV_BAD_KEY) with the first such key.
 *  - Inter-key timeout: a press that comes more than key_timeout_ms after
 *    the previous press throws away what was buffered (TP_WEDGE_EV_STRAY)
 *    and starts afresh with this key. A scanner types a whole code in a
 *    burst; a person does not, so their typing never becomes a scan. The
 *    same happens in tick() once the gap has passed with no key at all.
 *  - max_length counts the characters typed before the Enter, an AIM id
 *    included. The key that would exceed it ends the scan as OVERSIZE at
 *    once; the rest up to the Enter (or a timeout gap) is swallowed.
 *  - SYN_DROPPED (the kernel's buffer overflowed): reported at once as
 *    TP_WEDGE_EV_DROPPED, since keys are missing and nobody can tell which.
 *    Events up to the next SYN_REPORT only update the modifiers (this is
 *    also how libevdev's sync events arrive), and the keys after it are
 *    swallowed up to the next Enter or timeout gap, so a code missing its
 *    head is never delivered.
 *
 * Guarantees: a SCAN carries 1..max_length bytes, all printable ASCII
 * (0x20..0x7e), NUL-terminated. Every scan ends in at most one event. No
 * I/O, no allocation, no global mutable state.
 *
 * Time: event timestamps in ms from any clock that does not jump backwards.
 * A timestamp earlier than the previous one counts as no gap.
 *
 * Thread: no locking; one thread feeds a decoder. Callbacks run inside
 * feed()/tick() and must not call back into the same decoder.
 */
#ifndef TP_DRIVERS_WEDGE_H
#define TP_DRIVERS_WEDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/input.h>

#include "driver.h"
#include "framer.h"
#include "tillpoints/tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_WEDGE_MAX_LENGTH 4096 /* hard upper bound for max_length */
#define TP_WEDGE_DEFAULT_MAX_LENGTH 256
#define TP_WEDGE_DEFAULT_KEY_TIMEOUT_MS 50
#define TP_WEDGE_MAX_KEY_TIMEOUT_MS 60000

/* The driver for `driver = wedge` device sections. Config keys:
 *   device          required; /dev/input/eventN or /dev/input/by-id/...
 *   layout          us (the only layout so far)
 *   key_timeout_ms  0..60000, default 50; 0 = never discard on a gap
 *   max_length      1..4096, default 256
 *   aim             yes|no (default no): strip and map a leading AIM id
 *   grab            yes|no (default yes): take the keyboard away from the
 *                   POS; "no" is for trying a scanner out, since every
 *                   scan then also lands in whatever window has focus. */
extern const tp_driver_ops tp_wedge_driver;

/* What the core reaches of this file, through tillpoints-wedge.so
 * (plugin/module.h, docs/DESIGN.md §14). */
typedef struct tp_wedge_api {
    const tp_driver_ops *driver;
} tp_wedge_api;

typedef enum tp_wedge_layout {
    TP_WEDGE_LAYOUT_US = 0
} tp_wedge_layout;

/* Plain data; fill with tp_wedge_config_default() then tp_wedge_config_set(). */
typedef struct tp_wedge_config {
    tp_wedge_layout layout;
    int64_t key_timeout_ms; /* 0..TP_WEDGE_MAX_KEY_TIMEOUT_MS; 0 = none */
    size_t max_length;      /* 1..TP_WEDGE_MAX_LENGTH */
    bool aim;
} tp_wedge_config;

/* [thread-safe] us, 50 ms, 256, no AIM. */
void tp_wedge_config_default(tp_wedge_config *cfg);

/* [thread-safe] Sets one of layout, key_timeout_ms, max_length, aim from
 * its text form (keywords case-insensitive). TP_OK; TP_ERR_CONFIG with one
 * sentence in msg (naming the key, what is allowed and what was given) and
 * cfg unchanged; TP_ERR_NOT_FOUND for another key (msg says so);
 * TP_ERR_INVALID_ARGUMENT for NULLs. msg may be NULL. */
tp_status tp_wedge_config_set(tp_wedge_config *cfg, const char *key,
                              const char *value, char *msg, size_t msg_cap);

typedef enum tp_wedge_event_kind {
    TP_WEDGE_EV_SCAN = 0, /* a good scan */
    TP_WEDGE_EV_OVERSIZE, /* more than max_length characters */
    TP_WEDGE_EV_BAD_KEY,  /* a key without a character, at the Enter */
    TP_WEDGE_EV_STRAY,    /* partial text discarded after a timeout gap */
    TP_WEDGE_EV_DROPPED   /* the kernel dropped events (SYN_DROPPED) */
} tp_wedge_event_kind;

/* [thread-safe] "scan", "oversize", "bad-key", "stray", "dropped";
 * "unknown" out of range. Static string. */
const char *tp_wedge_event_kind_name(tp_wedge_event_kind kind);

/* One result, owned by the decoder, valid during the callback only.
 *   SCAN: data is the label (AIM id removed when cfg.aim found one),
 *     1..max_length printable ASCII bytes, NUL-terminated.
 *   others: data is what was typed so far (printable only, AIM id kept),
 *     at most max_length bytes, NUL-terminated; may be empty.
 *   bad_code / bad_mods: BAD_KEY only: the first offending key code and
 *     whether Ctrl/Alt/Meta was held (TP_WEDGE_MOD_* bits), else 0.
 *   first_ms: the first key of the scan (the SYN_DROPPED for DROPPED);
 *   last_ms: the Enter for SCAN and BAD_KEY, the overflowing key for
 *     OVERSIZE, the last key before the gap for STRAY. */
typedef struct tp_wedge_event {
    tp_wedge_event_kind kind;
    const char *data;
    size_t len;
    tp_symbology symbology;
    char aim_id[TP_AIM_ID_LEN + 1];
    uint16_t bad_code;
    unsigned bad_mods;
    int64_t first_ms;
    int64_t last_ms;
} tp_wedge_event;

typedef void (*tp_wedge_cb)(void *user, const tp_wedge_event *ev);

#define TP_WEDGE_MOD_LSHIFT 0x01u
#define TP_WEDGE_MOD_RSHIFT 0x02u
#define TP_WEDGE_MOD_LCTRL 0x04u
#define TP_WEDGE_MOD_RCTRL 0x08u
#define TP_WEDGE_MOD_LALT 0x10u
#define TP_WEDGE_MOD_RALT 0x20u
#define TP_WEDGE_MOD_LMETA 0x40u
#define TP_WEDGE_MOD_RMETA 0x80u

typedef struct tp_wedge_stats {
    uint64_t scans;
    uint64_t oversize;
    uint64_t bad_key;
    uint64_t stray;
    uint64_t dropped;
} tp_wedge_stats;

/* Caller-allocated (embed it); fields private to wedge.c. */
typedef struct tp_wedge_decoder {
    tp_wedge_config cfg;
    tp_wedge_cb cb;
    void *user;
    unsigned mods;    /* TP_WEDGE_MOD_* held now */
    bool caps;        /* Caps Lock toggled on */
    int state;        /* idle / collecting / swallowing */
    bool resync;      /* after SYN_DROPPED, until SYN_REPORT */
    bool bad;
    uint16_t bad_code;
    unsigned bad_mods;
    bool have_last;
    int64_t first_ms;
    int64_t last_ms;  /* the latest key press */
    size_t len;
    tp_wedge_stats stats;
    char buf[TP_WEDGE_MAX_LENGTH + 1];
} tp_wedge_decoder;

/* [any thread] Prepares `dec` with a copy of `cfg`; cb (not NULL) gets
 * every event. TP_OK, TP_ERR_CONFIG (msg says why) or
 * TP_ERR_INVALID_ARGUMENT. */
tp_status tp_wedge_decoder_init(tp_wedge_decoder *dec, const tp_wedge_config *cfg,
                                tp_wedge_cb cb, void *user, char *msg,
                                size_t msg_cap);

/* [feeding thread] One evdev event at time_ms. EV_KEY and EV_SYN matter;
 * every other type (EV_MSC scan codes, EV_LED, EV_REP ...) is ignored. */
void tp_wedge_decoder_event(tp_wedge_decoder *dec, uint16_t type, uint16_t code,
                            int32_t value, int64_t time_ms);

/* [feeding thread] The same, taking the time from ev->time (ms). */
void tp_wedge_decoder_feed(tp_wedge_decoder *dec, const struct input_event *ev);

/* [feeding thread] Lets time pass: a partial scan whose last key is more
 * than key_timeout_ms before now_ms is discarded (STRAY when it had
 * typed anything or a bad key, silently when it was being swallowed). */
void tp_wedge_decoder_tick(tp_wedge_decoder *dec, int64_t now_ms);

/* [feeding thread] When tick() would discard what is pending, or -1. */
int64_t tp_wedge_decoder_deadline(const tp_wedge_decoder *dec);

/* [feeding thread] Forgets the partial scan and the modifier state without
 * an event (a reopened device starts with no keys held). Counters stay.
 * caps_on: the Caps Lock state to start from. */
void tp_wedge_decoder_reset(tp_wedge_decoder *dec, bool caps_on);

/* [feeding thread] Copies the counters. */
void tp_wedge_decoder_get_stats(const tp_wedge_decoder *dec, tp_wedge_stats *out);

/* [thread-safe] The sentence the driver hands to on_error for an event
 * that is not a SCAN (what happened and what a person can do), e.g.
 * "Scan discarded: the scanner typed key KEY_TAB (code 15), which has no
 * character in the us layout; set the scanner to a US keyboard layout and
 * no Tab or control characters, then scan again." Always NUL-terminated
 * when cap > 0. */
void tp_wedge_describe(const tp_wedge_event *ev, const tp_wedge_config *cfg,
                       char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* TP_DRIVERS_WEDGE_H */
