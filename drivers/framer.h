/*
 * framer.h — turns the byte stream of a serial barcode scanner into scans.
 *
 * A scanner on a serial line sends each scan as a run of bytes delimited in
 * one of three ways, chosen per device: a suffix (CR, LF, CRLF or TAB), a
 * fixed prefix plus a suffix, or STX ... ETX. The framer finds the frames,
 * strips the delimiters, the prefix and (optionally) the AIM symbology
 * identifier, checks the data, and reports each result as one event.
 *
 * Guarantees:
 *  - Pure: no I/O, no allocation, no threads, no global mutable state. All
 *    state lives in the caller-allocated tp_framer, so a poll loop can own
 *    one framer per device and a test can drive it with made-up clocks.
 *  - Chunking never matters: feeding a stream in one call, byte by byte or
 *    split anywhere yields the same events with the same content, provided
 *    each byte carries the same timestamp.
 *  - Bounded: no frame longer than cfg.max_length (<= TP_FRAMER_MAX_LENGTH)
 *    is ever delivered; a longer one is reported once as OVERSIZE and its
 *    tail is skipped up to the next terminator.
 *  - Every frame ends in at most one event: FRAME, or one error kind
 *    telling why it was dropped. Only a frame with nothing to deliver
 *    (empty, just the prefix, just an AIM id) ends silently.
 *
 * Time: `now_ms` is any int64 millisecond clock that does not jump backwards
 * (CLOCK_MONOTONIC is right; wall time that steps back only delays a
 * timeout, it never fires one early). Values near INT64_MAX are not useful.
 *
 * Thread: a framer has no locking. One thread feeds it (the scanner thread);
 * different framers are independent. Callbacks run on the feeding thread,
 * inside tp_framer_feed()/tp_framer_tick(), and must not call back into the
 * same framer.
 */
#ifndef TP_DRIVERS_FRAMER_H
#define TP_DRIVERS_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tillpoints/tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_FRAMER_MAX_LENGTH 4096       /* hard upper bound for max_length */
#define TP_FRAMER_DEFAULT_MAX_LENGTH 256
#define TP_FRAMER_DEFAULT_TIMEOUT_MS 500
#define TP_FRAMER_MAX_TIMEOUT_MS 60000  /* a longer gap is a dead scanner */
#define TP_FRAMER_PREFIX_MAX 8          /* bytes, after decoding escapes */
#define TP_AIM_ID_LEN 3                 /* "]" + code char + modifier */

/* ------------------------------------------------------------------ */
/* Symbologies and AIM identifiers (ISO/IEC 15424)                     */
/* ------------------------------------------------------------------ */

/* Symbology families. The AIM modifier (e.g. GS1-128 is "]C1", Code 128
 * is "]C0") is not folded into this enum; it stays available as the raw
 * identifier in tp_frame_event.aim_id. Values are stable; new ones are only
 * appended before TP_SYM_COUNT. */
typedef enum tp_symbology {
    TP_SYM_UNKNOWN = 0, /* no AIM id, or a code char not listed here */
    TP_SYM_EAN13,       /* ]E0 with 13 digits (incl. UPC-A as 0+12), ]E3 */
    TP_SYM_EAN8,        /* ]E4 */
    TP_SYM_UPCA,        /* ]E0 with 12 digits (scanner sends UPC-A native) */
    TP_SYM_UPCE,        /* ]E0 with 6-8 digits (UPC-E not expanded) */
    TP_SYM_EAN_ADDON,   /* ]E1, ]E2: a 2- or 5-digit add-on on its own */
    TP_SYM_CODE128,     /* ]C* (includes GS1-128, modifier 1) */
    TP_SYM_CODE39,      /* ]A* */
    TP_SYM_CODE93,      /* ]G* */
    TP_SYM_QR,          /* ]Q* */
    TP_SYM_DATAMATRIX,  /* ]d* */
    TP_SYM_PDF417,      /* ]L* (also MicroPDF417) */
    TP_SYM_DATABAR,     /* ]e* */
    TP_SYM_ITF,         /* ]I* */
    TP_SYM_CODABAR,     /* ]F* */
    TP_SYM_AZTEC,       /* ]z* */
    TP_SYM_MAXICODE,    /* ]U* */
    TP_SYM_COUNT
} tp_symbology;

/* [thread-safe] A short stable lowercase token for logs and config files
 * ("ean13", "qr", "code128", ...). Never NULL: out-of-range values give
 * "unknown". The string is static. */
const char *tp_symbology_name(tp_symbology sym);

/* [thread-safe] The name a scan event carries for a scan of family `sym`
 * whose AIM id (NULL or "" when none) is `aim_id`: tp_symbology_name(sym),
 * except "gs1-128" for Code 128 carrying GS1 data (modifier 1, "]C1"),
 * which GS1 names as a symbology of its own; and "" for TP_SYM_UNKNOWN,
 * since then the scanner said nothing we can name. Static string, never
 * NULL. */
const char *tp_symbology_event_name(tp_symbology sym, const char *aim_id);

/* [thread-safe] Looks for an AIM identifier at the start of `data` (which
 * is the whole frame payload, `len` bytes, no NUL needed). An identifier is
 * ']' + an ASCII letter + an ASCII letter or digit.
 *
 * TP_OK: one is there; *skip = TP_AIM_ID_LEN and *sym is its family
 * (TP_SYM_UNKNOWN for a well-formed id with an unlisted code char). For
 * ]E0 the length of the rest decides EAN-13 / UPC-A / UPC-E, see the enum.
 * TP_ERR_NOT_FOUND: no identifier; *skip = 0, *sym = TP_SYM_UNKNOWN.
 * TP_ERR_INVALID_ARGUMENT: sym or skip NULL, or data NULL with len > 0. */
tp_status tp_aim_parse(const char *data, size_t len, tp_symbology *sym,
                       size_t *skip);

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

typedef enum tp_framing {
    TP_FRAMING_SUFFIX = 0, /* data + suffix */
    TP_FRAMING_PREFIX,     /* prefix + data + suffix; prefix is checked */
    TP_FRAMING_STX_ETX     /* 0x02 + data + 0x03 */
} tp_framing;

typedef enum tp_suffix {
    TP_SUFFIX_CR = 0,
    TP_SUFFIX_LF,
    TP_SUFFIX_CRLF, /* only the pair CR LF ends a frame, see framer.c */
    TP_SUFFIX_TAB
} tp_suffix;

/* Plain data, caller-owned, copied by tp_framer_init(). Fill it with
 * tp_framer_config_default() and then tp_framer_config_set(). */
typedef struct tp_framer_config {
    tp_framing framing;
    tp_suffix suffix;        /* used by SUFFIX and PREFIX framing */
    char prefix[TP_FRAMER_PREFIX_MAX]; /* used by PREFIX framing; raw bytes */
    size_t prefix_len;       /* 0..TP_FRAMER_PREFIX_MAX; 0 = no prefix */
    bool aim;                /* strip and map a leading AIM id */
    size_t max_length;       /* 1..TP_FRAMER_MAX_LENGTH, see framer.c */
    int64_t frame_timeout_ms; /* 0..TP_FRAMER_MAX_TIMEOUT_MS; 0 = never */
} tp_framer_config;

/* [thread-safe] suffix framing, CR, no prefix, no AIM, max_length 256,
 * frame_timeout_ms 500. */
void tp_framer_config_default(tp_framer_config *cfg);

/* [thread-safe] Sets one key from its text form, as read from a config
 * file. Keys and accepted values (keywords are case-insensitive):
 *   framing           suffix | prefix | stx-etx
 *   suffix            CR | LF | CRLF | TAB
 *   prefix            text of up to 8 bytes; "\xNN" is a byte, "\\" a
 *                     backslash; empty = no prefix
 *   aim               yes | no | true | false | 1 | 0
 *   max_length        1..4096 (decimal)
 *   frame_timeout_ms  0..60000 (decimal; 0 disables the timeout)
 * On failure `cfg` is unchanged and `msg` (may be NULL; msg_cap bytes,
 * always NUL-terminated when msg_cap > 0) holds one sentence naming the
 * key, the allowed values and what was given. Returns TP_OK,
 * TP_ERR_CONFIG (bad value), TP_ERR_NOT_FOUND (a key this module does not
 * own, so a caller can offer it to the next parser), or
 * TP_ERR_INVALID_ARGUMENT (cfg, key or value NULL). Rules that involve two
 * keys are checked by tp_framer_config_check(). */
tp_status tp_framer_config_set(tp_framer_config *cfg, const char *key,
                               const char *value, char *msg, size_t msg_cap);

/* [thread-safe] Checks a whole config, including rules across keys (the
 * prefix must not contain a byte of the suffix). TP_OK or TP_ERR_CONFIG
 * with a sentence in `msg` (as for config_set). */
tp_status tp_framer_config_check(const tp_framer_config *cfg, char *msg,
                                 size_t msg_cap);

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

typedef enum tp_frame_event_kind {
    TP_FRAME_EV_FRAME = 0, /* a good scan */
    TP_FRAME_EV_OVERSIZE,  /* frame exceeded max_length; tail skipped */
    TP_FRAME_EV_TIMEOUT,   /* partial frame went quiet for the timeout */
    TP_FRAME_EV_BAD_DATA,  /* control byte in the data, or STX/ETX frame
                              cut short by a new STX */
    TP_FRAME_EV_BAD_PREFIX /* PREFIX framing: frame lacks the prefix */
} tp_frame_event_kind;

/* [thread-safe] "frame", "oversize", "timeout", "bad-data", "bad-prefix";
 * "unknown" when out of range. Static string. */
const char *tp_frame_event_kind_name(tp_frame_event_kind kind);

/* One result. Owned by the framer; valid only during the callback — copy
 * what you keep.
 *   FRAME: data is the label: prefix, AIM id and delimiters removed,
 *     1..max_length bytes, no control bytes, NUL-terminated.
 *   errors: data is the raw frame body as far as it was kept (delimiters
 *     removed, prefix and AIM id not), at most max_length bytes. It is
 *     NUL-terminated too, but may contain NULs itself: use len. For
 *     OVERSIZE it is the first max_length bytes. TIMEOUT in STX/ETX mode
 *     may be empty (only the STX came); in suffix modes a held-back CR is
 *     not included, and a partial frame of nothing but that CR expires
 *     without an event.
 *   symbology / aim_id: only for FRAME with cfg.aim and an id present;
 *     otherwise TP_SYM_UNKNOWN and "".
 *   first_ms: when the frame's first byte arrived (STX in STX/ETX mode).
 *   last_ms: when its last byte arrived: the terminator for FRAME,
 *     BAD_DATA and BAD_PREFIX; the byte that overflowed for OVERSIZE; the
 *     last byte received before the silence for TIMEOUT, or before the
 *     interrupting STX for BAD_DATA. */
typedef struct tp_frame_event {
    tp_frame_event_kind kind;
    const char *data;
    size_t len;
    tp_symbology symbology;
    char aim_id[TP_AIM_ID_LEN + 1];
    int64_t first_ms;
    int64_t last_ms;
} tp_frame_event;

typedef void (*tp_framer_cb)(void *user, const tp_frame_event *ev);

/* Counters since init, for a device health check. */
typedef struct tp_framer_stats {
    uint64_t frames;
    uint64_t oversize;
    uint64_t timeouts;
    uint64_t bad_data;
    uint64_t bad_prefix;
    uint64_t noise_bytes; /* STX/ETX: bytes outside any frame, ignored */
} tp_framer_stats;

/* ------------------------------------------------------------------ */
/* The framer                                                          */
/* ------------------------------------------------------------------ */

/* Caller-allocated (embed it in the device struct). The fields are
 * private to framer.c; read them only through the functions below. */
typedef struct tp_framer {
    tp_framer_config cfg;
    tp_framer_cb cb;
    void *user;
    int state;
    bool pending_cr;
    size_t len;
    int64_t first_ms;
    int64_t last_ms;
    tp_framer_stats stats;
    char buf[TP_FRAMER_MAX_LENGTH + 1];
} tp_framer;

/* [any thread] Prepares `f` with a copy of `cfg` (checked as by
 * tp_framer_config_check). `cb` (not NULL) receives every event with
 * `user`. TP_OK, TP_ERR_CONFIG (reason in msg) or TP_ERR_INVALID_ARGUMENT. */
tp_status tp_framer_init(tp_framer *f, const tp_framer_config *cfg,
                         tp_framer_cb cb, void *user, char *msg,
                         size_t msg_cap);

/* [feeding thread] Hands over bytes read at `now_ms`. First a pending
 * partial frame whose deadline has passed is dropped (TIMEOUT), then the
 * bytes are framed; the callback may run any number of times.
 * TP_OK, or TP_ERR_INVALID_ARGUMENT for f NULL or data NULL with len > 0. */
tp_status tp_framer_feed(tp_framer *f, const void *data, size_t len,
                         int64_t now_ms);

/* [feeding thread] Lets time pass without data: drops a pending partial
 * frame whose deadline is <= now_ms (TIMEOUT). Call it when poll() times
 * out or returns for another device. */
void tp_framer_tick(tp_framer *f, int64_t now_ms);

/* [feeding thread] The time at which tick() will drop what is pending, or
 * -1 when nothing is pending or the timeout is disabled. A poll loop sleeps
 * at most until the smallest deadline of its framers. */
int64_t tp_framer_deadline(const tp_framer *f);

/* [feeding thread] Forgets any partial frame without an event, e.g. when
 * the device is reopened after an unplug. Counters are kept. */
void tp_framer_reset(tp_framer *f);

/* [feeding thread] Copies the counters into *out. */
void tp_framer_get_stats(const tp_framer *f, tp_framer_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* TP_DRIVERS_FRAMER_H */
