/*
 * wedge.c — keyboard-wedge barcode scanners over evdev (libevdev): the pure
 * keystroke decoder and the tp_driver_ops that serves a device with it.
 * The rules the decoder follows are stated in wedge.h.
 *
 * Why the device path looks the way it does:
 *  - The fd is opened O_NONBLOCK and every read goes through
 *    libevdev_next_event() until -EAGAIN, so on_ready() never blocks.
 *  - The device is grabbed (EVIOCGRAB) so that a scan does not also type
 *    into the POS. A failed grab means another program holds the device;
 *    open() then fails with a sentence saying so instead of running
 *    half-grabbed.
 *  - Event timestamps are switched to CLOCK_MONOTONIC (EVIOCSCLOCKID) and
 *    the inter-key gaps are measured on them, not on the time we happened
 *    to read: a scanner thread that was busy for 100 ms must not turn one
 *    fast burst into "human typing". For deadline()/tick() the driver keeps
 *    the skew between the event clock and CLOCK_MONOTONIC as of the last
 *    read, so it works whatever clock the stamps are on (a kernel or a test
 *    double that refuses EVIOCSCLOCKID leaves them on CLOCK_REALTIME).
 *  - SYN_DROPPED: libevdev hands over the SYN_DROPPED and then, read with
 *    LIBEVDEV_READ_FLAG_SYNC, the key-state deltas that bring us back in
 *    step. The decoder uses the deltas for modifier state only and refuses
 *    the scan that was cut.
 *  - At most WEDGE_DRAIN_MAX events are taken per on_ready()/tick(); when
 *    more were left in libevdev's own queue (which poll cannot see),
 *    deadline() asks for an immediate tick() to finish the job.
 *
 * Stray typing (STRAY) is not handed to on_error: a person pressing keys on
 * a combined keyboard/scanner is not a fault to show a cashier. It is
 * counted and health() mentions it, with the hint to raise key_timeout_ms
 * for a scanner that types slowly.
 */
#include "wedge.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <libevdev/libevdev.h>

#include "drvutil.h"
#include "module.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* The US layout                                                       */
/* ------------------------------------------------------------------ */

typedef struct key_chars {
    char plain;
    char shifted;
    bool letter; /* Caps Lock applies */
    bool keypad; /* Shift does not apply */
} key_chars;

#define LETTER(k, c) [k] = {c, (char)((c) - 'a' + 'A'), true, false}
#define SYMBOL(k, p, s) [k] = {p, s, false, false}
#define KEYPAD(k, c) [k] = {c, c, false, true}

static const key_chars us_layout[KEY_KPCOMMA + 1] = {
    LETTER(KEY_A, 'a'), LETTER(KEY_B, 'b'), LETTER(KEY_C, 'c'),
    LETTER(KEY_D, 'd'), LETTER(KEY_E, 'e'), LETTER(KEY_F, 'f'),
    LETTER(KEY_G, 'g'), LETTER(KEY_H, 'h'), LETTER(KEY_I, 'i'),
    LETTER(KEY_J, 'j'), LETTER(KEY_K, 'k'), LETTER(KEY_L, 'l'),
    LETTER(KEY_M, 'm'), LETTER(KEY_N, 'n'), LETTER(KEY_O, 'o'),
    LETTER(KEY_P, 'p'), LETTER(KEY_Q, 'q'), LETTER(KEY_R, 'r'),
    LETTER(KEY_S, 's'), LETTER(KEY_T, 't'), LETTER(KEY_U, 'u'),
    LETTER(KEY_V, 'v'), LETTER(KEY_W, 'w'), LETTER(KEY_X, 'x'),
    LETTER(KEY_Y, 'y'), LETTER(KEY_Z, 'z'),
    SYMBOL(KEY_1, '1', '!'), SYMBOL(KEY_2, '2', '@'), SYMBOL(KEY_3, '3', '#'),
    SYMBOL(KEY_4, '4', '$'), SYMBOL(KEY_5, '5', '%'), SYMBOL(KEY_6, '6', '^'),
    SYMBOL(KEY_7, '7', '&'), SYMBOL(KEY_8, '8', '*'), SYMBOL(KEY_9, '9', '('),
    SYMBOL(KEY_0, '0', ')'),
    SYMBOL(KEY_MINUS, '-', '_'), SYMBOL(KEY_EQUAL, '=', '+'),
    SYMBOL(KEY_LEFTBRACE, '[', '{'), SYMBOL(KEY_RIGHTBRACE, ']', '}'),
    SYMBOL(KEY_SEMICOLON, ';', ':'), SYMBOL(KEY_APOSTROPHE, '\'', '"'),
    SYMBOL(KEY_GRAVE, '`', '~'), SYMBOL(KEY_BACKSLASH, '\\', '|'),
    SYMBOL(KEY_COMMA, ',', '<'), SYMBOL(KEY_DOT, '.', '>'),
    SYMBOL(KEY_SLASH, '/', '?'), SYMBOL(KEY_SPACE, ' ', ' '),
    KEYPAD(KEY_KP0, '0'), KEYPAD(KEY_KP1, '1'), KEYPAD(KEY_KP2, '2'),
    KEYPAD(KEY_KP3, '3'), KEYPAD(KEY_KP4, '4'), KEYPAD(KEY_KP5, '5'),
    KEYPAD(KEY_KP6, '6'), KEYPAD(KEY_KP7, '7'), KEYPAD(KEY_KP8, '8'),
    KEYPAD(KEY_KP9, '9'), KEYPAD(KEY_KPDOT, '.'), KEYPAD(KEY_KPMINUS, '-'),
    KEYPAD(KEY_KPPLUS, '+'), KEYPAD(KEY_KPASTERISK, '*'),
    KEYPAD(KEY_KPSLASH, '/'), KEYPAD(KEY_KPEQUAL, '='),
    KEYPAD(KEY_KPCOMMA, ','),
};

#undef LETTER
#undef SYMBOL
#undef KEYPAD

#define MODS_SHIFT (TP_WEDGE_MOD_LSHIFT | TP_WEDGE_MOD_RSHIFT)
#define MODS_COMMAND                                                         \
    (TP_WEDGE_MOD_LCTRL | TP_WEDGE_MOD_RCTRL | TP_WEDGE_MOD_LALT |           \
     TP_WEDGE_MOD_RALT | TP_WEDGE_MOD_LMETA | TP_WEDGE_MOD_RMETA)

/* The modifier bit of a key, or 0. */
static unsigned modifier_bit(uint16_t code)
{
    switch (code) {
    case KEY_LEFTSHIFT: return TP_WEDGE_MOD_LSHIFT;
    case KEY_RIGHTSHIFT: return TP_WEDGE_MOD_RSHIFT;
    case KEY_LEFTCTRL: return TP_WEDGE_MOD_LCTRL;
    case KEY_RIGHTCTRL: return TP_WEDGE_MOD_RCTRL;
    case KEY_LEFTALT: return TP_WEDGE_MOD_LALT;
    case KEY_RIGHTALT: return TP_WEDGE_MOD_RALT;
    case KEY_LEFTMETA: return TP_WEDGE_MOD_LMETA;
    case KEY_RIGHTMETA: return TP_WEDGE_MOD_RMETA;
    default: return 0;
    }
}

/* The character a press types, or 0 when it types none. */
static char key_char(const tp_wedge_decoder *dec, uint16_t code)
{
    const key_chars *k;
    bool shift;

    if (code >= sizeof us_layout / sizeof us_layout[0])
        return 0;
    k = &us_layout[code];
    if (k->plain == 0 || (dec->mods & MODS_COMMAND) != 0)
        return 0;
    if (k->keypad)
        return k->plain;
    shift = (dec->mods & MODS_SHIFT) != 0;
    if (k->letter && dec->caps)
        shift = !shift;
    return shift ? k->shifted : k->plain;
}

/* ------------------------------------------------------------------ */
/* Config                                                              */
/* ------------------------------------------------------------------ */

void tp_wedge_config_default(tp_wedge_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->layout = TP_WEDGE_LAYOUT_US;
    cfg->key_timeout_ms = TP_WEDGE_DEFAULT_KEY_TIMEOUT_MS;
    cfg->max_length = TP_WEDGE_DEFAULT_MAX_LENGTH;
    cfg->aim = false;
}

tp_status tp_wedge_config_set(tp_wedge_config *cfg, const char *key,
                              const char *value, char *msg, size_t msg_cap)
{
    uint64_t v;

    if (cfg == NULL || key == NULL || value == NULL) {
        tp_buf_set(msg, msg_cap,
                   "Internal error: no config, key or value given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (strcasecmp(key, "layout") == 0) {
        if (strcasecmp(value, "us") != 0) {
            tp_buf_set(msg, msg_cap,
                       "layout '%.40s' is not supported: the keyboard-wedge "
                       "driver knows only 'us'; set the scanner itself to a US "
                       "keyboard layout and use layout = us.",
                       value);
            return TP_ERR_CONFIG;
        }
        cfg->layout = TP_WEDGE_LAYOUT_US;
        return TP_OK;
    }
    if (strcasecmp(key, "key_timeout_ms") == 0) {
        if (!tp_drv_parse_uint(value, TP_WEDGE_MAX_KEY_TIMEOUT_MS, &v)) {
            tp_buf_set(msg, msg_cap,
                       "key_timeout_ms must be a whole number from 0 to %d "
                       "milliseconds, 0 to never discard on a pause (got "
                       "'%.40s').",
                       TP_WEDGE_MAX_KEY_TIMEOUT_MS, value);
            return TP_ERR_CONFIG;
        }
        cfg->key_timeout_ms = (int64_t)v;
        return TP_OK;
    }
    if (strcasecmp(key, "max_length") == 0)
        return tp_drv_config_max_length(value, TP_WEDGE_MAX_LENGTH,
                                        &cfg->max_length, msg, msg_cap);
    if (strcasecmp(key, "aim") == 0)
        return tp_drv_config_bool("aim", value, &cfg->aim, msg, msg_cap);
    tp_buf_set(msg, msg_cap,
               "'%.40s' is not a keyboard-wedge setting (known: device, "
               "layout, key_timeout_ms, max_length, aim, grab).",
               key);
    return TP_ERR_NOT_FOUND;
}

static tp_status config_check(const tp_wedge_config *cfg, char *msg, size_t cap)
{
    if (cfg->layout != TP_WEDGE_LAYOUT_US) {
        tp_buf_set(msg, cap, "Only the us keyboard layout is supported.");
        return TP_ERR_CONFIG;
    }
    if (cfg->key_timeout_ms < 0 ||
        cfg->key_timeout_ms > TP_WEDGE_MAX_KEY_TIMEOUT_MS) {
        tp_buf_set(msg, cap, "key_timeout_ms must be from 0 to %d (got %lld).",
                   TP_WEDGE_MAX_KEY_TIMEOUT_MS, (long long)cfg->key_timeout_ms);
        return TP_ERR_CONFIG;
    }
    if (cfg->max_length < 1 || cfg->max_length > TP_WEDGE_MAX_LENGTH) {
        tp_buf_set(msg, cap, "max_length must be from 1 to %d (got %zu).",
                   TP_WEDGE_MAX_LENGTH, cfg->max_length);
        return TP_ERR_CONFIG;
    }
    return TP_OK;
}

/* ------------------------------------------------------------------ */
/* The decoder                                                         */
/* ------------------------------------------------------------------ */

enum { ST_IDLE = 0, ST_COLLECT, ST_SWALLOW };

const char *tp_wedge_event_kind_name(tp_wedge_event_kind kind)
{
    switch (kind) {
    case TP_WEDGE_EV_SCAN: return "scan";
    case TP_WEDGE_EV_OVERSIZE: return "oversize";
    case TP_WEDGE_EV_BAD_KEY: return "bad-key";
    case TP_WEDGE_EV_STRAY: return "stray";
    case TP_WEDGE_EV_DROPPED: return "dropped";
    }
    return "unknown";
}

tp_status tp_wedge_decoder_init(tp_wedge_decoder *dec, const tp_wedge_config *cfg,
                                tp_wedge_cb cb, void *user, char *msg,
                                size_t msg_cap)
{
    tp_status st;

    if (dec == NULL || cfg == NULL || cb == NULL) {
        tp_buf_set(msg, msg_cap,
                   "Internal error: decoder, config or callback missing.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    st = config_check(cfg, msg, msg_cap);
    if (st != TP_OK)
        return st;
    memset(dec, 0, sizeof *dec);
    dec->cfg = *cfg;
    dec->cb = cb;
    dec->user = user;
    dec->state = ST_IDLE;
    return TP_OK;
}

static void emit(tp_wedge_decoder *dec, tp_wedge_event_kind kind,
                 const char *data, size_t len, int64_t first_ms, int64_t last_ms)
{
    tp_wedge_event ev;

    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.data = data;
    ev.len = len;
    ev.symbology = TP_SYM_UNKNOWN;
    ev.first_ms = first_ms;
    ev.last_ms = last_ms;
    if (kind == TP_WEDGE_EV_BAD_KEY) {
        ev.bad_code = dec->bad_code;
        ev.bad_mods = dec->bad_mods;
    }
    switch (kind) {
    case TP_WEDGE_EV_SCAN: dec->stats.scans++; break;
    case TP_WEDGE_EV_OVERSIZE: dec->stats.oversize++; break;
    case TP_WEDGE_EV_BAD_KEY: dec->stats.bad_key++; break;
    case TP_WEDGE_EV_STRAY: dec->stats.stray++; break;
    case TP_WEDGE_EV_DROPPED: dec->stats.dropped++; break;
    }
    dec->cb(dec->user, &ev);
}

static void start_scan(tp_wedge_decoder *dec, int64_t ms)
{
    dec->state = ST_COLLECT;
    dec->len = 0;
    dec->buf[0] = '\0';
    dec->bad = false;
    dec->bad_code = 0;
    dec->bad_mods = 0;
    dec->first_ms = ms;
}

/* Ends what is pending because of a pause: STRAY when something was typed
 * (or a bad key pressed), silence when we were swallowing a refused scan. */
static void expire(tp_wedge_decoder *dec)
{
    if (dec->state == ST_COLLECT && (dec->len > 0 || dec->bad)) {
        dec->buf[dec->len] = '\0';
        emit(dec, TP_WEDGE_EV_STRAY, dec->buf, dec->len, dec->first_ms,
             dec->last_ms);
    }
    dec->state = ST_IDLE;
    dec->len = 0;
}

/* Whether `ms` comes more than the timeout after the previous press.
 * Unsigned arithmetic: the timestamps may be any int64 values. */
static bool is_gap(const tp_wedge_decoder *dec, int64_t ms)
{
    if (!dec->have_last || dec->cfg.key_timeout_ms <= 0 || ms <= dec->last_ms)
        return false;
    return (uint64_t)ms - (uint64_t)dec->last_ms >
           (uint64_t)dec->cfg.key_timeout_ms;
}

static void end_scan(tp_wedge_decoder *dec, int64_t ms)
{
    const char *p = dec->buf;
    size_t n = dec->len;
    tp_symbology sym = TP_SYM_UNKNOWN;
    size_t skip = 0;
    int state = dec->state;

    dec->state = ST_IDLE;
    dec->buf[n] = '\0';
    dec->len = 0; /* p and n keep the text for the event below */
    if (state != ST_COLLECT)
        return; /* nothing typed, or a refused scan being swallowed */
    if (dec->bad) {
        emit(dec, TP_WEDGE_EV_BAD_KEY, p, n, dec->first_ms, ms);
        return;
    }
    if (dec->cfg.aim && tp_aim_parse(p, n, &sym, &skip) == TP_OK) {
        tp_wedge_event ev;

        if (n == skip)
            return; /* only an AIM id: nothing to deliver */
        memset(&ev, 0, sizeof ev);
        ev.kind = TP_WEDGE_EV_SCAN;
        ev.data = p + skip;
        ev.len = n - skip;
        ev.symbology = sym;
        memcpy(ev.aim_id, p, TP_AIM_ID_LEN);
        ev.first_ms = dec->first_ms;
        ev.last_ms = ms;
        dec->stats.scans++;
        dec->cb(dec->user, &ev);
        return;
    }
    if (n == 0)
        return;
    emit(dec, TP_WEDGE_EV_SCAN, p, n, dec->first_ms, ms);
}

static void on_press(tp_wedge_decoder *dec, uint16_t code, int64_t ms)
{
    char c;

    if (dec->state != ST_IDLE && is_gap(dec, ms))
        expire(dec);
    dec->have_last = true;
    dec->last_ms = ms;

    if (code == KEY_ENTER || code == KEY_KPENTER) {
        end_scan(dec, ms);
        return;
    }
    if (code == KEY_CAPSLOCK) {
        dec->caps = !dec->caps;
        return;
    }
    if (code == KEY_NUMLOCK || code == KEY_SCROLLLOCK)
        return; /* lock keys type nothing and harm nothing */
    if (dec->state == ST_IDLE)
        start_scan(dec, ms);
    if (dec->state == ST_SWALLOW)
        return;

    c = key_char(dec, code);
    if (c == 0) {
        if (!dec->bad) {
            dec->bad = true;
            dec->bad_code = code;
            dec->bad_mods = dec->mods & MODS_COMMAND;
        }
        return;
    }
    if (dec->len >= dec->cfg.max_length) {
        dec->buf[dec->len] = '\0';
        emit(dec, TP_WEDGE_EV_OVERSIZE, dec->buf, dec->len, dec->first_ms, ms);
        dec->state = ST_SWALLOW;
        dec->len = 0;
        return;
    }
    dec->buf[dec->len++] = c;
}

void tp_wedge_decoder_event(tp_wedge_decoder *dec, uint16_t type, uint16_t code,
                            int32_t value, int64_t time_ms)
{
    unsigned bit;

    if (dec == NULL)
        return;
    if (type == EV_SYN) {
        if (code == SYN_DROPPED) {
            size_t n = dec->state == ST_COLLECT ? dec->len : 0;

            dec->buf[n] = '\0';
            emit(dec, TP_WEDGE_EV_DROPPED, dec->buf, n, time_ms, time_ms);
            dec->state = ST_SWALLOW;
            dec->len = 0;
            dec->resync = true;
            dec->have_last = true;
            dec->last_ms = time_ms;
        } else if (code == SYN_REPORT) {
            dec->resync = false;
        }
        return;
    }
    if (type != EV_KEY)
        return;

    bit = modifier_bit(code);
    if (bit != 0) {
        if (value == 1)
            dec->mods |= bit;
        else if (value == 0)
            dec->mods &= ~bit;
        /* A modifier press is a keystroke of the burst, for the gaps. */
        if (value == 1 && !dec->resync) {
            if (dec->state != ST_IDLE && is_gap(dec, time_ms))
                expire(dec);
            dec->have_last = true;
            dec->last_ms = time_ms;
        }
        return;
    }
    if (value != 1 || dec->resync)
        return; /* releases, repeats, and state deltas while resyncing */
    on_press(dec, code, time_ms);
}

void tp_wedge_decoder_feed(tp_wedge_decoder *dec, const struct input_event *ev)
{
    int64_t ms;

    if (dec == NULL || ev == NULL)
        return;
    ms = (int64_t)ev->input_event_sec * 1000 + (int64_t)ev->input_event_usec / 1000;
    tp_wedge_decoder_event(dec, ev->type, ev->code, ev->value, ms);
}

int64_t tp_wedge_decoder_deadline(const tp_wedge_decoder *dec)
{
    int64_t t;

    if (dec == NULL || dec->state == ST_IDLE || dec->cfg.key_timeout_ms <= 0)
        return -1;
    t = dec->cfg.key_timeout_ms + 1;
    if (dec->last_ms > INT64_MAX - t)
        return INT64_MAX;
    return dec->last_ms + t;
}

void tp_wedge_decoder_tick(tp_wedge_decoder *dec, int64_t now_ms)
{
    if (dec == NULL || dec->state == ST_IDLE)
        return;
    if (is_gap(dec, now_ms))
        expire(dec);
}

void tp_wedge_decoder_reset(tp_wedge_decoder *dec, bool caps_on)
{
    if (dec == NULL)
        return;
    dec->state = ST_IDLE;
    dec->len = 0;
    dec->buf[0] = '\0';
    dec->mods = 0;
    dec->caps = caps_on;
    dec->resync = false;
    dec->bad = false;
    dec->have_last = false;
}

void tp_wedge_decoder_get_stats(const tp_wedge_decoder *dec, tp_wedge_stats *out)
{
    if (dec == NULL || out == NULL)
        return;
    *out = dec->stats;
}

void tp_wedge_describe(const tp_wedge_event *ev, const tp_wedge_config *cfg,
                       char *buf, size_t cap)
{
    const char *name;

    if (buf == NULL || cap == 0)
        return;
    buf[0] = '\0';
    if (ev == NULL || cfg == NULL)
        return;
    switch (ev->kind) {
    case TP_WEDGE_EV_SCAN:
        tp_buf_set(buf, cap, "Scan of %zu characters read.", ev->len);
        break;
    case TP_WEDGE_EV_OVERSIZE:
        tp_buf_set(buf, cap,
                   "Scan longer than %zu characters discarded; raise "
                   "max_length or check that the scanner sends Enter after "
                   "each code.",
                   cfg->max_length);
        break;
    case TP_WEDGE_EV_BAD_KEY:
        name = libevdev_event_code_get_name(EV_KEY, ev->bad_code);
        if (ev->bad_mods != 0)
            tp_buf_set(buf, cap,
                       "Scan discarded: the scanner pressed %s (code %u) with "
                       "Ctrl, Alt or Meta held, which types no character; "
                       "turn off control-character output on the scanner, "
                       "then scan again.",
                       name != NULL ? name : "an unnamed key",
                       (unsigned)ev->bad_code);
        else
            tp_buf_set(buf, cap,
                       "Scan discarded: the scanner typed %s (code %u), which "
                       "has no character in the us keyboard layout; set the "
                       "scanner to a US keyboard layout without Tab or "
                       "control characters, then scan again.",
                       name != NULL ? name : "an unnamed key",
                       (unsigned)ev->bad_code);
        break;
    case TP_WEDGE_EV_STRAY:
        tp_buf_set(buf, cap,
                   "%zu typed characters discarded: keys came more than %lld "
                   "ms apart, which is a person typing, not a scan (raise "
                   "key_timeout_ms if the scanner types slowly).",
                   ev->len, (long long)cfg->key_timeout_ms);
        break;
    case TP_WEDGE_EV_DROPPED:
        tp_buf_set(buf, cap,
                   "A scan was lost because the scanner's keystrokes were not "
                   "read in time; scan again.");
        break;
    }
}

/* ------------------------------------------------------------------ */
/* The driver                                                          */
/* ------------------------------------------------------------------ */

#define WEDGE_PATH_MAX 256
#define WEDGE_NAME_MAX 80
#define WEDGE_DRAIN_MAX 1024 /* events per on_ready/tick before yielding */

struct tp_driver {
    tp_driver_sink sink;
    tp_wedge_config cfg;
    tp_wedge_decoder dec;
    char device[WEDGE_PATH_MAX];
    char name[WEDGE_NAME_MAX];
    bool grab;
    int fd;
    struct libevdev *dev;
    bool grabbed;
    bool syncing;  /* inside a SYN_DROPPED resync (LIBEVDEV_READ_FLAG_SYNC) */
    bool backlog;  /* libevdev still holds events poll() cannot see */
    bool gone;     /* a read said ENODEV; on_ready reports it */
    bool have_skew;
    int64_t skew_ms; /* event clock minus CLOCK_MONOTONIC, at the last read */
};

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_decoded(void *user, const tp_wedge_event *ev)
{
    tp_driver *d = user;
    char sentence[320];

    if (ev->kind == TP_WEDGE_EV_SCAN) {
        tp_drv_deliver_scan(&d->sink, ev->data, ev->len, ev->symbology,
                            ev->aim_id, ev->last_ms);
        return;
    }
    if (ev->kind == TP_WEDGE_EV_STRAY)
        return; /* counted; see the top of this file */
    tp_wedge_describe(ev, &d->cfg, sentence, sizeof sentence);
    tp_drv_report_error(&d->sink, sentence);
}

static tp_driver *wedge_create(const tp_driver_sink *sink)
{
    tp_driver *d = calloc(1, sizeof *d);

    if (d == NULL)
        return NULL;
    if (sink != NULL)
        d->sink = *sink;
    tp_wedge_config_default(&d->cfg);
    d->grab = true;
    d->fd = -1;
    return d;
}

static tp_status wedge_configure(tp_driver *d, const char *key, const char *value,
                                 char *msg, size_t msg_cap)
{
    if (d == NULL || key == NULL || value == NULL) {
        tp_buf_set(msg, msg_cap,
                   "Internal error: no device, key or value given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (strcasecmp(key, "device") == 0) {
        size_t n = strlen(value);

        if (n == 0 || value[0] != '/' || n >= sizeof d->device) {
            tp_buf_set(msg, msg_cap,
                       "device must be an absolute path shorter than %zu "
                       "bytes, such as /dev/input/by-id/usb-...-event-kbd "
                       "(got '%.60s').",
                       sizeof d->device, value);
            return TP_ERR_CONFIG;
        }
        memcpy(d->device, value, n + 1);
        return TP_OK;
    }
    if (strcasecmp(key, "grab") == 0)
        return tp_drv_config_bool("grab", value, &d->grab, msg, msg_cap);
    return tp_wedge_config_set(&d->cfg, key, value, msg, msg_cap);
}

static tp_status wedge_check(tp_driver *d, char *msg, size_t msg_cap)
{
    if (d == NULL)
        return TP_ERR_INVALID_ARGUMENT;
    if (d->device[0] == '\0') {
        tp_buf_set(msg, msg_cap,
                   "A keyboard-wedge scanner needs device = its input device, "
                   "preferably the stable /dev/input/by-id/usb-...-event-kbd "
                   "link.");
        return TP_ERR_CONFIG;
    }
    return config_check(&d->cfg, msg, msg_cap);
}

static void wedge_close(tp_driver *d)
{
    if (d == NULL)
        return;
    if (d->dev != NULL) {
        if (d->grabbed)
            (void)libevdev_grab(d->dev, LIBEVDEV_UNGRAB);
        libevdev_free(d->dev);
        d->dev = NULL;
    }
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    d->grabbed = false;
    d->syncing = false;
    d->backlog = false;
    d->gone = false;
}

static bool has_digit_keys(const struct libevdev *dev)
{
    static const unsigned row[] = {KEY_1, KEY_2, KEY_3, KEY_4, KEY_5,
                                   KEY_6, KEY_7, KEY_8, KEY_9, KEY_0};
    static const unsigned pad[] = {KEY_KP1, KEY_KP2, KEY_KP3, KEY_KP4, KEY_KP5,
                                   KEY_KP6, KEY_KP7, KEY_KP8, KEY_KP9, KEY_KP0};
    bool all_row = true, all_pad = true;

    for (size_t i = 0; i < 10; i++) {
        all_row = all_row && libevdev_has_event_code(dev, EV_KEY, row[i]);
        all_pad = all_pad && libevdev_has_event_code(dev, EV_KEY, pad[i]);
    }
    return all_row || all_pad;
}

static tp_status wedge_open(tp_driver *d, int64_t now_ms, char *msg, size_t msg_cap)
{
    int rc;
    const char *name;

    (void)now_ms;
    if (d == NULL)
        return TP_ERR_INVALID_ARGUMENT;
    if (d->device[0] == '\0') {
        tp_buf_set(msg, msg_cap,
                   "No device = configured for this keyboard-wedge scanner.");
        return TP_ERR_CONFIG;
    }
    wedge_close(d);

    d->fd = open(d->device, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (d->fd < 0) {
        int e = errno;

        if (e == ENOENT || e == ENODEV || e == ENXIO) {
            tp_buf_set(msg, msg_cap,
                       "Scanner %.200s is not there; check that it is plugged "
                       "in (it is tried again).",
                       d->device);
            return TP_ERR_NOT_FOUND;
        }
        if (e == EACCES || e == EPERM) {
            tp_buf_set(msg, msg_cap,
                       "No permission to read scanner %.200s; run the POS as "
                       "a member of the 'input' group or install tillpoints' "
                       "udev rule for the scanner.",
                       d->device);
            return TP_ERR_CONFIG;
        }
        tp_buf_set(msg, msg_cap, "Cannot open scanner %.200s: %s.", d->device,
                   strerror(e));
        return TP_ERR_CONFIG;
    }

    rc = libevdev_new_from_fd(d->fd, &d->dev);
    if (rc < 0) {
        d->dev = NULL;
        wedge_close(d);
        if (rc == -ENODEV) {
            tp_buf_set(msg, msg_cap,
                       "Scanner %.200s went away while opening it.",
                       d->device);
            return TP_ERR_NOT_FOUND;
        }
        tp_buf_set(msg, msg_cap,
                   "%.200s is not an input event device (%s); device must be a "
                   "/dev/input/eventN node or a /dev/input/by-id/...-event-kbd "
                   "link.",
                   d->device, strerror(-rc));
        return TP_ERR_CONFIG;
    }
    name = libevdev_get_name(d->dev);
    snprintf(d->name, sizeof d->name, "%s", name != NULL ? name : "");

    if (!libevdev_has_event_type(d->dev, EV_KEY) ||
        !libevdev_has_event_code(d->dev, EV_KEY, KEY_ENTER) ||
        !has_digit_keys(d->dev)) {
        tp_buf_set(msg, msg_cap,
                   "%.200s (\"%.60s\") is not a keyboard: it has no Enter and "
                   "digit keys, so it cannot be a keyboard-wedge scanner; "
                   "point device at the scanner's -event-kbd node.",
                   d->device, d->name);
        wedge_close(d);
        return TP_ERR_CONFIG;
    }

    /* Gaps are measured on event timestamps; ask for the monotonic clock.
     * Where that is refused the stamps stay CLOCK_REALTIME, and a step of
     * the wall clock only looks like one long or short gap. */
    (void)libevdev_set_clock_id(d->dev, CLOCK_MONOTONIC);
    d->have_skew = false;

    if (d->grab) {
        rc = libevdev_grab(d->dev, LIBEVDEV_GRAB);
        if (rc < 0) {
            tp_buf_set(msg, msg_cap,
                       "Cannot take scanner %.200s for tillpoints: another "
                       "program holds it (%s); close that program or set grab "
                       "= no.",
                       d->device, strerror(-rc));
            wedge_close(d);
            return rc == -ENODEV ? TP_ERR_NOT_FOUND : TP_ERR_BUSY;
        }
        d->grabbed = true;
    }

    {
        tp_wedge_stats keep = d->dec.stats; /* counters survive a reopen */

        tp_wedge_decoder_init(&d->dec, &d->cfg, on_decoded, d, NULL, 0);
        d->dec.stats = keep;
    }
    tp_wedge_decoder_reset(&d->dec,
                           libevdev_has_event_code(d->dev, EV_LED, LED_CAPSL) &&
                               libevdev_get_event_value(d->dev, EV_LED, LED_CAPSL) > 0);
    /* Keys already held (a Shift) as libevdev read them at open. */
    for (unsigned code = KEY_LEFTCTRL; code <= KEY_RIGHTMETA; code++)
        if (modifier_bit((uint16_t)code) != 0 &&
            libevdev_get_event_value(d->dev, EV_KEY, code) > 0)
            d->dec.mods |= modifier_bit((uint16_t)code);
    if (msg != NULL && msg_cap > 0)
        msg[0] = '\0';
    return TP_OK;
}

static int wedge_fd(const tp_driver *d, short *events)
{
    if (d == NULL || d->fd < 0)
        return -1;
    if (events != NULL)
        *events = POLLIN;
    return d->fd;
}

/* Reads what is there, up to WEDGE_DRAIN_MAX events. TP_OK or
 * TP_ERR_NOT_FOUND when the device is gone. */
static tp_status drain(tp_driver *d)
{
    struct input_event ev;

    d->backlog = false;
    for (int n = 0; n < WEDGE_DRAIN_MAX; n++) {
        unsigned flag = d->syncing ? LIBEVDEV_READ_FLAG_SYNC : LIBEVDEV_READ_FLAG_NORMAL;
        int rc = libevdev_next_event(d->dev, flag, &ev);

        if (rc == LIBEVDEV_READ_STATUS_SUCCESS ||
            rc == LIBEVDEV_READ_STATUS_SYNC) {
            /* The first SYNC is the SYN_DROPPED itself; the decoder then
             * takes the deltas as state, not as typing. */
            if (rc == LIBEVDEV_READ_STATUS_SYNC)
                d->syncing = true;
            d->skew_ms = (int64_t)ev.input_event_sec * 1000 +
                         (int64_t)ev.input_event_usec / 1000 -
                         clock_ms(CLOCK_MONOTONIC);
            d->have_skew = true;
            tp_wedge_decoder_feed(&d->dec, &ev);
            continue;
        }
        if (rc == -EAGAIN) {
            if (d->syncing) {
                d->syncing = false; /* resync done: back to normal reads */
                continue;
            }
            return TP_OK;
        }
        if (rc == -EINTR)
            continue;
        /* -ENODEV after an unplug; anything else (EIO) is as good as gone. */
        d->gone = true;
        return TP_ERR_NOT_FOUND;
    }
    d->backlog = true;
    return TP_OK;
}

static tp_status wedge_on_ready(tp_driver *d, short revents, int64_t now_ms)
{
    tp_status st;

    (void)now_ms;
    if (d == NULL || d->dev == NULL)
        return TP_ERR_STATE;
    if (d->gone)
        return TP_ERR_NOT_FOUND;
    st = drain(d);
    if (st != TP_OK)
        return st;
    if ((revents & (POLLHUP | POLLERR | POLLNVAL)) != 0 && !d->backlog) {
        d->gone = true;
        return TP_ERR_NOT_FOUND;
    }
    return TP_OK;
}

static int64_t wedge_deadline(const tp_driver *d)
{
    int64_t due;

    if (d == NULL || d->dev == NULL)
        return -1;
    if (d->backlog || d->gone)
        return 0; /* already due: tick() finishes the reading */
    due = tp_wedge_decoder_deadline(&d->dec);
    if (due < 0)
        return -1;
    /* From the event clock to the monotonic one the thread runs on. The
     * skew was sampled when the last event was read, so it includes the
     * read latency: the timer fires a little late, never early. */
    return d->have_skew ? due - d->skew_ms : clock_ms(CLOCK_MONOTONIC);
}

static void wedge_tick(tp_driver *d, int64_t now_ms)
{
    (void)now_ms;
    if (d == NULL || d->dev == NULL || d->gone)
        return;
    /* Keys waiting in the kernel belong before the pause is judged. */
    if (drain(d) != TP_OK)
        return;
    if (d->have_skew)
        tp_wedge_decoder_tick(&d->dec, clock_ms(CLOCK_MONOTONIC) + d->skew_ms);
}

static tp_status wedge_health(tp_driver *d, char *msg, size_t msg_cap)
{
    int version;
    tp_wedge_stats s;

    if (d == NULL)
        return TP_ERR_INVALID_ARGUMENT;
    if (d->dev == NULL || d->fd < 0) {
        tp_buf_set(msg, msg_cap, "Scanner %.200s is not open.", d->device);
        return TP_ERR_STATE;
    }
    if (d->gone || ioctl(d->fd, EVIOCGVERSION, &version) < 0) {
        tp_buf_set(msg, msg_cap, "Scanner %.200s has gone away (unplugged?).",
                   d->device);
        return TP_ERR_NOT_FOUND;
    }
    tp_wedge_decoder_get_stats(&d->dec, &s);
    if (s.stray > 0 && s.scans == 0)
        tp_buf_set(msg, msg_cap,
                   "Scanner %.200s is online%s but every scan so far was "
                   "discarded as typing (%llu); if it types slower than one "
                   "key per %lld ms, raise key_timeout_ms.",
                   d->device, d->grabbed ? " and grabbed" : "",
                   (unsigned long long)s.stray,
                   (long long)d->cfg.key_timeout_ms);
    else
        tp_buf_set(msg, msg_cap,
                   "Scanner %.200s is online%s: %llu scans, %llu refused, "
                   "%llu typing fragments ignored.",
                   d->device, d->grabbed ? " and grabbed" : " (not grabbed)",
                   (unsigned long long)s.scans,
                   (unsigned long long)s.oversize +
                       (unsigned long long)s.bad_key +
                       (unsigned long long)s.dropped,
                   (unsigned long long)s.stray);
    return TP_OK;
}

static void wedge_destroy(tp_driver *d)
{
    if (d == NULL)
        return;
    wedge_close(d);
    free(d);
}

const tp_driver_ops tp_wedge_driver = {
    .name = "wedge",
    .create = wedge_create,
    .configure = wedge_configure,
    .check = wedge_check,
    .open = wedge_open,
    .fd = wedge_fd,
    .on_ready = wedge_on_ready,
    .deadline = wedge_deadline,
    .tick = wedge_tick,
    .health = wedge_health,
    .close = wedge_close,
    .destroy = wedge_destroy,
};

/* The module's entry (plugin/module.h). */
static const tp_wedge_api wedge_api = {.driver = &tp_wedge_driver};

TP_MODULE_DEFINE(wedge, &wedge_api);
