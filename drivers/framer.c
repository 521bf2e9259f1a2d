/*
 * framer.c — the serial-scanner byte-stream framer (see framer.h).
 *
 * The framer is a small state machine fed one byte at a time; the chunk a
 * read() happened to return never influences a decision, which is what
 * makes "byte by byte == all at once" hold. Decisions that are not obvious:
 *
 * CRLF suffix. Only the two-byte sequence CR LF ends a frame. A CR is held
 * back until the next byte shows what it was (that byte may come in a later
 * read): LF completes the terminator; anything else makes the CR an
 * ordinary data byte. A lone LF is always data. Since CR and LF are control
 * bytes, a frame that contains a stray one is then rejected as BAD_DATA as
 * a whole rather than split into two half-scans, which could each look like
 * a valid but wrong code. "AB\r\r\n" is therefore BAD_DATA "AB\r".
 *
 * Single-byte suffixes are strict too: a scanner that sends CRLF to a port
 * configured for CR delivers the first scan and then BAD_DATA ("\n...") for
 * every later one. Tolerating it would hide the misconfiguration.
 *
 * Length. max_length counts every byte between the delimiters, prefix and
 * AIM id included, because it bounds the buffer, not the label. The frame
 * is declared OVERSIZE the moment byte max_length+1 arrives, so the report
 * is not held hostage by a terminator that may never come. The rest is
 * skipped up to the next terminator (STX/ETX: ETX, or a new STX).
 *
 * Timeout. Measured from the most recent byte of the pending frame, not
 * its first byte: a long frame at a slow baud rate that keeps arriving is
 * alive; a scanner that stops mid-frame is not. The frame expires when
 * now - last_byte >= timeout, so a poll loop that sleeps exactly until
 * tp_framer_deadline() finds it expired on wake-up instead of spinning one
 * more millisecond. The skipped tail of an oversize frame expires the same
 * way, silently (OVERSIZE was already reported): if its terminator was lost,
 * the next scan must not be swallowed with it.
 *
 * STX/ETX. Bytes outside STX..ETX are counted as noise_bytes and otherwise
 * ignored: many scanners send CR/LF after ETX, and an event per stray byte
 * would flood the log. An STX inside a frame means the previous ETX was
 * lost; the partial frame is reported as BAD_DATA and a new frame starts,
 * so the following scan survives.
 *
 * Check order at the terminator: empty -> ignored; prefix missing ->
 * BAD_PREFIX; control byte after the prefix -> BAD_DATA (the prefix itself
 * may hold control bytes, which is why \xNN exists); AIM id stripped;
 * nothing left -> ignored; else FRAME. Control bytes are < 0x20 and 0x7f,
 * except TAB when TAB is not the suffix. Note that GS1 data with a GS
 * (0x1d) separator is consequently rejected.
 */
#include "framer.h"

#include <assert.h>
#include <string.h>

#include "drvutil.h"
#include "util.h"

#define STX 0x02
#define ETX 0x03

enum framer_state {
    ST_IDLE = 0, /* between frames */
    ST_FRAME,    /* collecting a frame body */
    ST_SKIP      /* skipping the tail of an oversize frame */
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static bool is_alpha(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(int c)
{
    if (is_digit(c))
        return c - '0';
    c = tp_drv_ascii_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static const char *suffix_name(tp_suffix s)
{
    switch (s) {
    case TP_SUFFIX_CR: return "CR";
    case TP_SUFFIX_LF: return "LF";
    case TP_SUFFIX_CRLF: return "CRLF";
    case TP_SUFFIX_TAB: return "TAB";
    }
    return "?";
}

/* The single byte that ends a frame; CRLF is handled apart. */
static int suffix_byte(tp_suffix s)
{
    switch (s) {
    case TP_SUFFIX_CR: return '\r';
    case TP_SUFFIX_LF:
    case TP_SUFFIX_CRLF: return '\n';
    case TP_SUFFIX_TAB: return '\t';
    }
    return -1;
}

/* TAB is allowed unconditionally: when TAB is the suffix it always ends
 * the frame and so never reaches this check. */
static bool is_control(unsigned char c)
{
    return c == 0x7f || (c < 0x20 && c != '\t');
}

/* ------------------------------------------------------------------ */
/* Symbologies                                                         */
/* ------------------------------------------------------------------ */

static const char *const sym_names[TP_SYM_COUNT] = {
    [TP_SYM_UNKNOWN] = "unknown",     [TP_SYM_EAN13] = "ean13",
    [TP_SYM_EAN8] = "ean8",           [TP_SYM_UPCA] = "upca",
    [TP_SYM_UPCE] = "upce",           [TP_SYM_EAN_ADDON] = "ean-addon",
    [TP_SYM_CODE128] = "code128",     [TP_SYM_CODE39] = "code39",
    [TP_SYM_CODE93] = "code93",       [TP_SYM_QR] = "qr",
    [TP_SYM_DATAMATRIX] = "datamatrix", [TP_SYM_PDF417] = "pdf417",
    [TP_SYM_DATABAR] = "databar",     [TP_SYM_ITF] = "itf",
    [TP_SYM_CODABAR] = "codabar",     [TP_SYM_AZTEC] = "aztec",
    [TP_SYM_MAXICODE] = "maxicode",
};

const char *tp_symbology_name(tp_symbology sym)
{
    if ((unsigned)sym >= TP_SYM_COUNT)
        return "unknown";
    return sym_names[sym];
}

const char *tp_symbology_event_name(tp_symbology sym, const char *aim_id)
{
    if (sym == TP_SYM_UNKNOWN || (unsigned)sym >= TP_SYM_COUNT)
        return "";
    if (sym == TP_SYM_CODE128 && aim_id != NULL && strcmp(aim_id, "]C1") == 0)
        return "gs1-128";
    return sym_names[sym];
}

/* ]E0 covers EAN-13, UPC-A and UPC-E (ISO/IEC 15424 and the GS1 General
 * Specifications). A conforming scanner sends UPC-A as 13 digits with a
 * leading 0, which we report as EAN-13: it is the same GTIN-13. Scanners
 * configured to send UPC-A as 12 digits, or UPC-E unexpanded (6-8 digits),
 * still use ]E0, so the label length is the only way to tell them apart. */
static tp_symbology ean_family(char modifier, size_t label_len)
{
    switch (modifier) {
    case '0':
        if (label_len == 12)
            return TP_SYM_UPCA;
        if (label_len >= 6 && label_len <= 8)
            return TP_SYM_UPCE;
        return TP_SYM_EAN13;
    case '1':
    case '2':
        return TP_SYM_EAN_ADDON;
    case '3':
        return TP_SYM_EAN13; /* EAN-13/UPC-A with its add-on appended */
    case '4':
        return TP_SYM_EAN8;
    default:
        return TP_SYM_UNKNOWN;
    }
}

static tp_symbology aim_family(char code)
{
    switch (code) {
    case 'A': return TP_SYM_CODE39;
    case 'C': return TP_SYM_CODE128;
    case 'F': return TP_SYM_CODABAR;
    case 'G': return TP_SYM_CODE93;
    case 'I': return TP_SYM_ITF;
    case 'L': return TP_SYM_PDF417;
    case 'Q': return TP_SYM_QR;
    case 'U': return TP_SYM_MAXICODE;
    case 'd': return TP_SYM_DATAMATRIX;
    case 'e': return TP_SYM_DATABAR;
    case 'z': return TP_SYM_AZTEC;
    default: return TP_SYM_UNKNOWN;
    }
}

tp_status tp_aim_parse(const char *data, size_t len, tp_symbology *sym,
                       size_t *skip)
{
    unsigned char code, mod;

    if (sym == NULL || skip == NULL || (data == NULL && len > 0))
        return TP_ERR_INVALID_ARGUMENT;
    *sym = TP_SYM_UNKNOWN;
    *skip = 0;
    if (len < TP_AIM_ID_LEN || data[0] != ']')
        return TP_ERR_NOT_FOUND;
    code = (unsigned char)data[1];
    mod = (unsigned char)data[2];
    if (!is_alpha(code) || !(is_alpha(mod) || is_digit(mod)))
        return TP_ERR_NOT_FOUND;
    *skip = TP_AIM_ID_LEN;
    if (code == 'E')
        *sym = ean_family((char)mod, len - TP_AIM_ID_LEN);
    else
        *sym = aim_family((char)code);
    return TP_OK;
}

const char *tp_frame_event_kind_name(tp_frame_event_kind kind)
{
    switch (kind) {
    case TP_FRAME_EV_FRAME: return "frame";
    case TP_FRAME_EV_OVERSIZE: return "oversize";
    case TP_FRAME_EV_TIMEOUT: return "timeout";
    case TP_FRAME_EV_BAD_DATA: return "bad-data";
    case TP_FRAME_EV_BAD_PREFIX: return "bad-prefix";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

void tp_framer_config_default(tp_framer_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->framing = TP_FRAMING_SUFFIX;
    cfg->suffix = TP_SUFFIX_CR;
    cfg->prefix_len = 0;
    cfg->aim = false;
    cfg->max_length = TP_FRAMER_DEFAULT_MAX_LENGTH;
    cfg->frame_timeout_ms = TP_FRAMER_DEFAULT_TIMEOUT_MS;
}

/* Decodes "\xNN" and "\\"; anything else after a backslash is an error so
 * that a typo like "\n" is not taken literally as two bytes. */
static tp_status parse_prefix(const char *value, char *out, size_t *out_len,
                              char *msg, size_t cap)
{
    size_t n = 0;
    const char *p = value;

    while (*p != '\0') {
        int byte;

        if (*p == '\\') {
            if (p[1] == '\\') {
                byte = '\\';
                p += 2;
            } else if (p[1] == 'x' && hex_value((unsigned char)p[2]) >= 0 &&
                       hex_value((unsigned char)p[3]) >= 0) {
                byte = hex_value((unsigned char)p[2]) * 16 +
                       hex_value((unsigned char)p[3]);
                p += 4;
            } else {
                tp_buf_set(msg, cap,
                           "prefix may use only \\xNN (two hex digits) and "
                           "\\\\ as escapes (got '%.40s').",
                           value);
                return TP_ERR_CONFIG;
            }
        } else {
            byte = (unsigned char)*p;
            p++;
        }
        if (n == TP_FRAMER_PREFIX_MAX) {
            tp_buf_set(msg, cap,
                       "prefix must be at most %d bytes (got '%.40s').",
                       TP_FRAMER_PREFIX_MAX, value);
            return TP_ERR_CONFIG;
        }
        out[n++] = (char)byte;
    }
    *out_len = n;
    return TP_OK;
}

tp_status tp_framer_config_set(tp_framer_config *cfg, const char *key,
                               const char *value, char *msg, size_t msg_cap)
{
    tp_buf_set(msg, msg_cap, "%s", "");
    if (cfg == NULL || key == NULL || value == NULL) {
        tp_buf_set(msg, msg_cap, "framer config: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }

    if (tp_drv_keyword_eq(key, "framing")) {
        if (tp_drv_keyword_eq(value, "suffix"))
            cfg->framing = TP_FRAMING_SUFFIX;
        else if (tp_drv_keyword_eq(value, "prefix"))
            cfg->framing = TP_FRAMING_PREFIX;
        else if (tp_drv_keyword_eq(value, "stx-etx"))
            cfg->framing = TP_FRAMING_STX_ETX;
        else {
            tp_buf_set(msg, msg_cap,
                       "framing must be one of suffix, prefix, stx-etx "
                       "(got '%.40s').",
                       value);
            return TP_ERR_CONFIG;
        }
        return TP_OK;
    }

    if (tp_drv_keyword_eq(key, "suffix")) {
        if (tp_drv_keyword_eq(value, "CR"))
            cfg->suffix = TP_SUFFIX_CR;
        else if (tp_drv_keyword_eq(value, "LF"))
            cfg->suffix = TP_SUFFIX_LF;
        else if (tp_drv_keyword_eq(value, "CRLF"))
            cfg->suffix = TP_SUFFIX_CRLF;
        else if (tp_drv_keyword_eq(value, "TAB"))
            cfg->suffix = TP_SUFFIX_TAB;
        else {
            tp_buf_set(msg, msg_cap,
                       "suffix must be one of CR, LF, CRLF, TAB (got '%.40s').",
                       value);
            return TP_ERR_CONFIG;
        }
        return TP_OK;
    }

    if (tp_drv_keyword_eq(key, "prefix")) {
        char buf[TP_FRAMER_PREFIX_MAX];
        size_t n = 0;
        tp_status st = parse_prefix(value, buf, &n, msg, msg_cap);

        if (st != TP_OK)
            return st;
        memcpy(cfg->prefix, buf, n);
        cfg->prefix_len = n;
        return TP_OK;
    }

    if (tp_drv_keyword_eq(key, "aim"))
        return tp_drv_config_bool("aim", value, &cfg->aim, msg, msg_cap);

    if (tp_drv_keyword_eq(key, "max_length"))
        return tp_drv_config_max_length(value, TP_FRAMER_MAX_LENGTH,
                                        &cfg->max_length, msg, msg_cap);

    if (tp_drv_keyword_eq(key, "frame_timeout_ms")) {
        uint64_t v;

        if (!tp_drv_parse_uint(value, TP_FRAMER_MAX_TIMEOUT_MS, &v)) {
            tp_buf_set(msg, msg_cap,
                       "frame_timeout_ms must be a whole number from 0 to %d "
                       "milliseconds, 0 to disable (got '%.40s').",
                       TP_FRAMER_MAX_TIMEOUT_MS, value);
            return TP_ERR_CONFIG;
        }
        cfg->frame_timeout_ms = (int64_t)v;
        return TP_OK;
    }

    tp_buf_set(msg, msg_cap,
               "'%.40s' is not a scanner framing setting (known: framing, "
               "suffix, prefix, aim, max_length, frame_timeout_ms).",
               key);
    return TP_ERR_NOT_FOUND;
}

tp_status tp_framer_config_check(const tp_framer_config *cfg, char *msg,
                                 size_t msg_cap)
{
    tp_buf_set(msg, msg_cap, "%s", "");
    if (cfg == NULL) {
        tp_buf_set(msg, msg_cap, "framer config: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (cfg->framing != TP_FRAMING_SUFFIX &&
        cfg->framing != TP_FRAMING_PREFIX &&
        cfg->framing != TP_FRAMING_STX_ETX) {
        tp_buf_set(msg, msg_cap, "framing must be one of suffix, prefix, "
                                 "stx-etx.");
        return TP_ERR_CONFIG;
    }
    if (cfg->suffix != TP_SUFFIX_CR && cfg->suffix != TP_SUFFIX_LF &&
        cfg->suffix != TP_SUFFIX_CRLF && cfg->suffix != TP_SUFFIX_TAB) {
        tp_buf_set(msg, msg_cap, "suffix must be one of CR, LF, CRLF, TAB.");
        return TP_ERR_CONFIG;
    }
    if (cfg->prefix_len > TP_FRAMER_PREFIX_MAX) {
        tp_buf_set(msg, msg_cap, "prefix must be at most %d bytes.",
                   TP_FRAMER_PREFIX_MAX);
        return TP_ERR_CONFIG;
    }
    if (cfg->max_length < 1 || cfg->max_length > TP_FRAMER_MAX_LENGTH) {
        tp_buf_set(msg, msg_cap, "max_length must be from 1 to %d (got %zu).",
                   TP_FRAMER_MAX_LENGTH, cfg->max_length);
        return TP_ERR_CONFIG;
    }
    if (cfg->frame_timeout_ms < 0 ||
        cfg->frame_timeout_ms > TP_FRAMER_MAX_TIMEOUT_MS) {
        tp_buf_set(msg, msg_cap,
                   "frame_timeout_ms must be from 0 to %d (got %lld).",
                   TP_FRAMER_MAX_TIMEOUT_MS, (long long)cfg->frame_timeout_ms);
        return TP_ERR_CONFIG;
    }
    /* A prefix holding a terminator byte could never match a frame (or,
     * for CRLF, would make the split ambiguous), so refuse it up front
     * rather than report BAD_PREFIX for every scan. */
    if (cfg->framing == TP_FRAMING_PREFIX) {
        for (size_t i = 0; i < cfg->prefix_len; i++) {
            unsigned char c = (unsigned char)cfg->prefix[i];
            bool clash = c == suffix_byte(cfg->suffix) ||
                         (cfg->suffix == TP_SUFFIX_CRLF && c == '\r');

            if (clash) {
                tp_buf_set(msg, msg_cap,
                           "prefix must not contain the suffix (%s) byte "
                           "\\x%02x.",
                           suffix_name(cfg->suffix), c);
                return TP_ERR_CONFIG;
            }
        }
    }
    return TP_OK;
}

/* ------------------------------------------------------------------ */
/* The state machine                                                   */
/* ------------------------------------------------------------------ */

static void frame_clear(tp_framer *f)
{
    f->state = ST_IDLE;
    f->pending_cr = false;
    f->len = 0;
}

static void emit(tp_framer *f, tp_frame_event_kind kind, const char *data,
                 size_t len, tp_symbology sym, const char *aim_id,
                 int64_t last_ms)
{
    tp_frame_event ev;

    assert(len <= f->cfg.max_length);
    assert(data[len] == '\0');
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.data = data;
    ev.len = len;
    ev.symbology = sym;
    if (aim_id != NULL)
        memcpy(ev.aim_id, aim_id, TP_AIM_ID_LEN);
    ev.first_ms = f->first_ms;
    ev.last_ms = last_ms;
    switch (kind) {
    case TP_FRAME_EV_FRAME: f->stats.frames++; break;
    case TP_FRAME_EV_OVERSIZE: f->stats.oversize++; break;
    case TP_FRAME_EV_TIMEOUT: f->stats.timeouts++; break;
    case TP_FRAME_EV_BAD_DATA: f->stats.bad_data++; break;
    case TP_FRAME_EV_BAD_PREFIX: f->stats.bad_prefix++; break;
    }
    f->cb(f->user, &ev);
}

/* Emits the kept body as an error event. */
static void emit_body(tp_framer *f, tp_frame_event_kind kind, int64_t last)
{
    f->buf[f->len] = '\0';
    emit(f, kind, f->buf, f->len, TP_SYM_UNKNOWN, NULL, last);
}

/* Marks that a byte of the pending frame (or skipped tail) arrived. */
static void touch(tp_framer *f, int64_t now)
{
    if (f->state == ST_IDLE) {
        f->state = ST_FRAME;
        f->first_ms = now;
        f->len = 0;
    }
    f->last_ms = now;
}

static void body_append(tp_framer *f, unsigned char b, int64_t now)
{
    touch(f, now);
    if (f->state == ST_SKIP)
        return;
    if (f->len == f->cfg.max_length) {
        emit_body(f, TP_FRAME_EV_OVERSIZE, now);
        f->state = ST_SKIP;
        f->len = 0;
        return;
    }
    f->buf[f->len++] = (char)b;
}

/* The terminator of a frame arrived at `now`. */
static void frame_end(tp_framer *f, int64_t now)
{
    const char *p = f->buf;
    size_t n = f->len;
    size_t i, skip = 0;
    tp_symbology sym = TP_SYM_UNKNOWN;
    const char *aim_id = NULL;

    if (f->state != ST_FRAME || n == 0)
        goto out;
    f->buf[n] = '\0';

    if (f->cfg.framing == TP_FRAMING_PREFIX && f->cfg.prefix_len > 0) {
        if (n < f->cfg.prefix_len ||
            memcmp(p, f->cfg.prefix, f->cfg.prefix_len) != 0) {
            emit_body(f, TP_FRAME_EV_BAD_PREFIX, now);
            goto out;
        }
        p += f->cfg.prefix_len;
        n -= f->cfg.prefix_len;
    }
    if (n == 0)
        goto out;
    for (i = 0; i < n; i++) {
        if (is_control((unsigned char)p[i])) {
            emit_body(f, TP_FRAME_EV_BAD_DATA, now);
            goto out;
        }
    }
    if (f->cfg.aim && tp_aim_parse(p, n, &sym, &skip) == TP_OK) {
        aim_id = p;
        p += skip;
        n -= skip;
    }
    if (n == 0)
        goto out;
    /* p + n is buf + len, so the label is NUL-terminated already. */
    emit(f, TP_FRAME_EV_FRAME, p, n, sym, aim_id, now);
out:
    frame_clear(f);
}

static void suffix_feed_byte(tp_framer *f, unsigned char b, int64_t now)
{
    if (f->cfg.suffix == TP_SUFFIX_CRLF) {
        if (f->pending_cr) {
            f->pending_cr = false;
            if (b == '\n') {
                frame_end(f, now);
                return;
            }
            body_append(f, '\r', now); /* it was data after all */
        }
        if (b == '\r') {
            touch(f, now);
            f->pending_cr = true;
            return;
        }
        body_append(f, b, now);
        return;
    }
    if (b == suffix_byte(f->cfg.suffix)) {
        frame_end(f, now);
        return;
    }
    body_append(f, b, now);
}

static void stx_feed_byte(tp_framer *f, unsigned char b, int64_t now)
{
    if (b == STX) {
        if (f->state == ST_FRAME && f->len > 0)
            emit_body(f, TP_FRAME_EV_BAD_DATA, f->last_ms);
        frame_clear(f);
        touch(f, now);
        return;
    }
    switch (f->state) {
    case ST_IDLE:
        f->stats.noise_bytes++;
        return;
    case ST_SKIP:
        if (b == ETX)
            frame_clear(f);
        else
            touch(f, now);
        return;
    default:
        if (b == ETX)
            frame_end(f, now);
        else
            body_append(f, b, now);
        return;
    }
}

/* Expired when now - last_ms >= timeout, computed without overflow for any
 * pair of int64 timestamps. */
static bool expired(const tp_framer *f, int64_t now)
{
    if (f->state == ST_IDLE || f->cfg.frame_timeout_ms == 0)
        return false;
    if (now < f->last_ms)
        return false;
    return (uint64_t)now - (uint64_t)f->last_ms >=
           (uint64_t)f->cfg.frame_timeout_ms;
}

static void check_timeout(tp_framer *f, int64_t now)
{
    if (!expired(f, now))
        return;
    /* A held-back CR is not reported as data: it was never known to be
     * data. A lone held CR is line noise, as silent as an empty frame; a
     * lone STX is a frame the scanner announced, so it is reported. */
    if (f->state == ST_FRAME &&
        (f->len > 0 || f->cfg.framing == TP_FRAMING_STX_ETX))
        emit_body(f, TP_FRAME_EV_TIMEOUT, f->last_ms);
    frame_clear(f);
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

tp_status tp_framer_init(tp_framer *f, const tp_framer_config *cfg,
                         tp_framer_cb cb, void *user, char *msg,
                         size_t msg_cap)
{
    tp_status st;

    if (f == NULL || cfg == NULL || cb == NULL) {
        tp_buf_set(msg, msg_cap, "framer init: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    st = tp_framer_config_check(cfg, msg, msg_cap);
    if (st != TP_OK)
        return st;
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    f->cb = cb;
    f->user = user;
    frame_clear(f);
    return TP_OK;
}

tp_status tp_framer_feed(tp_framer *f, const void *data, size_t len,
                         int64_t now_ms)
{
    const unsigned char *p = data;
    size_t i;

    if (f == NULL || (data == NULL && len > 0))
        return TP_ERR_INVALID_ARGUMENT;
    check_timeout(f, now_ms);
    for (i = 0; i < len; i++) {
        if (f->cfg.framing == TP_FRAMING_STX_ETX)
            stx_feed_byte(f, p[i], now_ms);
        else
            suffix_feed_byte(f, p[i], now_ms);
    }
    return TP_OK;
}

void tp_framer_tick(tp_framer *f, int64_t now_ms)
{
    if (f == NULL)
        return;
    check_timeout(f, now_ms);
}

int64_t tp_framer_deadline(const tp_framer *f)
{
    if (f == NULL || f->state == ST_IDLE || f->cfg.frame_timeout_ms == 0)
        return -1;
    if (f->last_ms > INT64_MAX - f->cfg.frame_timeout_ms)
        return INT64_MAX;
    return f->last_ms + f->cfg.frame_timeout_ms;
}

void tp_framer_reset(tp_framer *f)
{
    if (f == NULL)
        return;
    frame_clear(f);
}

void tp_framer_get_stats(const tp_framer *f, tp_framer_stats *out)
{
    if (f == NULL || out == NULL)
        return;
    *out = f->stats;
}
