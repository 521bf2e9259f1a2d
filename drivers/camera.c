/*
 * camera.c — the camera/image barcode driver (see camera.h).
 *
 * Decisions that live here:
 *
 * zbar facts (Debian 12, zbar 0.23.92; docs/DESIGN.md §12). Every symbology is
 * first switched off (symbology 0, ZBAR_CFG_ENABLE 0) and only the
 * configured ones are switched on: with all of them on, a blank noisy frame
 * once produced a phantom DataBar. QR is decoded with ZBAR_CFG_BINARY,
 * because without it zbar guesses a text encoding and turned UTF-8 into
 * Big5; the label is then the exact bytes in the symbol, measured with
 * zbar_symbol_get_data_length (it may contain NUL). Light-on-dark codes
 * are found only with ZBAR_CFG_TEST_INVERTED (config `inverted = yes`),
 * which rescans an inverted copy when the frame gave nothing, so it costs
 * a second scan on every frame without a code. zbar has no Data Matrix or
 * Aztec decoder; asking for them is a config error that says so. Debian
 * 12's libzbar0 is also built without its PDF417 decoder (zbar refuses to
 * enable it), so `pdf417` fails the driver's check() with a sentence saying
 * exactly that; a zbar built with it decodes PDF417 through the same path.
 * Sentences that offer choices list only what the installed zbar agrees
 * to enable, asked at run time (decodable_list).
 *
 * Trust. A symbol is reported only when its zbar type maps to a symbology
 * that is enabled, its label is 1..TP_CAMERA_MAX_LABEL bytes, and for
 * EAN-13/EAN-8/UPC-A/UPC-E it is all digits of the right length with a
 * correct GS1 check digit (zbar checks it too; this is the belt to its
 * braces, and it is the only mandatory check digit among the linear codes
 * we take: Code 128 and DataBar have checksums zbar always verifies, Code
 * 39, I2/5 and Codabar have none that is mandatory).
 *
 * In view, not "seen recently". A camera sees the same phone screen on
 * dozens of frames. The decoder remembers up to TP_CAMERA_TRACK_MAX codes
 * (symbology + exact bytes) with the frame number and time they were last
 * seen. A sighting counts when the code is new, or when it was absent from
 * at least rearm_frames consecutive frames, or when rearm_ms have passed
 * since it was last seen (the time rule covers a camera whose frames stop
 * or slow down). So one code held in view counts once, however long, and
 * a flicker of fewer than rearm_frames frames without a decode does not
 * count it twice. When more codes than slots are in play, the one seen
 * longest ago is forgotten (fail open: at worst it counts again). zbar's
 * own inter-frame cache is not used: it adds a consistency delay and its
 * rule is not ours to configure or test. The plugin's tp_dedup window
 * still applies on top, to every scanner alike. Dropped symbols (bad
 * check digit, too long) go through the same memory, so the sink hears
 * about each one once while it stays in view, not 30 times a second.
 *
 * Still images. zbar has no image-file reader, so PNG goes through libpng
 * (a Debian base library; qrencode and zint write PNG), with every colour
 * type expanded to 8-bit RGBA, alpha composited on white (a code drawn on
 * a transparent background reads as printed on paper) and converted to
 * grey with integer BT.601 weights. Binary PGM/PPM — the format frame dumps
 * and netpbm tools use — is parsed by a small reader here: numbers of at
 * most 9 digits, comments, maxval 1..65535, every size checked before any
 * allocation. Both decoders bound width, height and pixel count first.
 *
 * The camera (V4L2). open() checks that the device node exists (else
 * TP_ERR_NOT_FOUND, which the scanner thread retries with backoff), then
 * zbar_video_create/request_size/open, zbar_negotiate_format (which calls
 * zbar_video_init with the best format the camera offers that zbar can
 * convert), zbar_video_enable, and exposes zbar_video_get_fd() for poll().
 * zbar_video_next_image() blocks until a buffer is filled, so it is only
 * called after poll() reported POLLIN, when a filled buffer is waiting and
 * the dequeue returns at once. The fd stays blocking as zbar opened it:
 * with O_NONBLOCK zbar reports EAGAIN as a failure we could not tell from a
 * lost device. Frames in another format are converted to Y800 by zbar
 * (zbar_image_convert) and go through tp_zbar_decode_frame, the same path
 * the still-image tests exercise. A NULL frame, POLLERR/POLLHUP/POLLNVAL or
 * a vanished node is reported as TP_ERR_NOT_FOUND (device gone).
 * This machine has no /dev/video* (and no v4l2loopback), so the capture
 * path is compiled and reviewed but only its "no such device" and "not a
 * camera" answers are exercised by tests/test_camera.c.
 *
 * Never harm the host: no exit/abort/fork, no signals, no global mutable
 * state, nothing printed (zbar's own error printing is off at its default
 * verbosity 0, and libpng's warnings are swallowed).
 */
#include "camera.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/videodev2.h>
#include <png.h>
#include <zbar.h>

#include "drvutil.h"
#include "module.h"
#include "util.h"

#define Y800_FOURCC zbar_fourcc('Y', '8', '0', '0')
#define GREY_FOURCC zbar_fourcc('G', 'R', 'E', 'Y')

#define DEFAULT_SYMBOLOGIES                                                         \
    ((1u << TP_SYM_QR) | (1u << TP_SYM_CODE128) | (1u << TP_SYM_EAN13) |            \
     (1u << TP_SYM_EAN8))
#define DEFAULT_REARM_FRAMES 5
#define DEFAULT_REARM_MS 1000
#define MAX_REARM_FRAMES 1000
#define MAX_REARM_MS 600000

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);

    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* A decimal in [lo, hi], nothing else (no sign, no spaces, <= 9 digits). */
static int parse_int(const char *s, long lo, long hi, long *out)
{
    long v = 0;
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 9)
            return -1;
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    size_t n = strlen(s);

    if (ieq(s, n, "yes") || ieq(s, n, "true") || ieq(s, n, "1") || ieq(s, n, "on")) {
        *out = true;
        return 0;
    }
    if (ieq(s, n, "no") || ieq(s, n, "false") || ieq(s, n, "0") || ieq(s, n, "off")) {
        *out = false;
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Symbologies                                                         */
/* ------------------------------------------------------------------ */

typedef struct sym_entry {
    const char *name;          /* config token */
    tp_symbology sym;
    zbar_symbol_type_t zbar;   /* primary zbar type */
    zbar_symbol_type_t zbar2;  /* a second zbar type, or ZBAR_NONE */
    const char *aim;           /* ISO/IEC 15424 id for the plain variant */
    const char *aim_gs1;       /* id when zbar flags GS1 data, or NULL */
} sym_entry;

static const sym_entry sym_table[] = {
    {"qr", TP_SYM_QR, ZBAR_QRCODE, ZBAR_NONE, "]Q1", "]Q3"},
    {"ean13", TP_SYM_EAN13, ZBAR_EAN13, ZBAR_NONE, "]E0", NULL},
    {"ean8", TP_SYM_EAN8, ZBAR_EAN8, ZBAR_NONE, "]E4", NULL},
    {"upca", TP_SYM_UPCA, ZBAR_UPCA, ZBAR_NONE, "]E0", NULL},
    {"upce", TP_SYM_UPCE, ZBAR_UPCE, ZBAR_NONE, "]E0", NULL},
    {"code128", TP_SYM_CODE128, ZBAR_CODE128, ZBAR_NONE, "]C0", "]C1"},
    {"code39", TP_SYM_CODE39, ZBAR_CODE39, ZBAR_NONE, "]A0", NULL},
    {"code93", TP_SYM_CODE93, ZBAR_CODE93, ZBAR_NONE, "]G0", NULL},
    {"i25", TP_SYM_ITF, ZBAR_I25, ZBAR_NONE, "]I0", NULL},
    {"itf", TP_SYM_ITF, ZBAR_I25, ZBAR_NONE, "]I0", NULL},
    {"pdf417", TP_SYM_PDF417, ZBAR_PDF417, ZBAR_NONE, "", NULL},
    {"databar", TP_SYM_DATABAR, ZBAR_DATABAR, ZBAR_DATABAR_EXP, "]e0", NULL},
    {"codabar", TP_SYM_CODABAR, ZBAR_CODABAR, ZBAR_NONE, "]F0", NULL},
};
#define SYM_TABLE_N (sizeof sym_table / sizeof sym_table[0])

/* Where zbar cannot even make a scanner (out of memory), the choices
 * every zbar since 0.10 decodes. */
#define SYM_LIST_FALLBACK "qr, ean13, ean8, upca, upce, code128, code39, code93, i25, databar, codabar"

/* The symbologies the installed zbar agrees to enable, as a comma list for
 * sentences ("choose from ..."): asked at run time, so a refusal never
 * offers one the library then refuses (Debian 12's libzbar0 is built
 * without PDF417). Aliases (itf for i25) are not repeated. */
static const char *decodable_list(char *buf, size_t cap)
{
    zbar_image_scanner_t *sc = zbar_image_scanner_create();
    size_t used = 0;

    if (sc == NULL) {
        tp_buf_set(buf, cap, "%s", SYM_LIST_FALLBACK);
        return buf;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < SYM_TABLE_N; i++) {
        int alias = 0;

        for (size_t k = 0; k < i; k++)
            alias |= sym_table[k].sym == sym_table[i].sym;
        if (alias || zbar_image_scanner_set_config(sc, sym_table[i].zbar, ZBAR_CFG_ENABLE, 1) != 0 ||
            (sym_table[i].zbar2 != ZBAR_NONE &&
             zbar_image_scanner_set_config(sc, sym_table[i].zbar2, ZBAR_CFG_ENABLE, 1) != 0))
            continue;
        int n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", sym_table[i].name);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    zbar_image_scanner_destroy(sc);
    if (used == 0)
        tp_buf_set(buf, cap, "%s", SYM_LIST_FALLBACK);
    return buf;
}

tp_symbology tp_camera_symbology_from_name(const char *name, size_t len)
{
    if (name == NULL)
        return TP_SYM_UNKNOWN;
    for (size_t i = 0; i < SYM_TABLE_N; i++)
        if (ieq(name, len, sym_table[i].name))
            return sym_table[i].sym;
    return TP_SYM_UNKNOWN;
}

static const sym_entry *entry_for_zbar(zbar_symbol_type_t type)
{
    zbar_symbol_type_t base = (zbar_symbol_type_t)(type & ZBAR_SYMBOL);

    for (size_t i = 0; i < SYM_TABLE_N; i++)
        if (sym_table[i].zbar == base || (sym_table[i].zbar2 != ZBAR_NONE && sym_table[i].zbar2 == base))
            return &sym_table[i];
    return NULL;
}

static int all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* GS1 mod-10 over n digits where the last one is the check digit. */
static int gs1_mod10_ok(const char *d, size_t n)
{
    int sum = 0;

    for (size_t i = 0; i + 1 < n; i++) {
        /* weight 3 for the digit right before the check digit, then 1, 3 ... */
        int w = ((n - 2 - i) % 2 == 0) ? 3 : 1;
        sum += w * (d[i] - '0');
    }
    return (10 - sum % 10) % 10 == d[n - 1] - '0';
}

int tp_gtin_check_ok(tp_symbology sym, const char *d, size_t len)
{
    char upca[12];

    if (d == NULL || !all_digits(d, len))
        return 0;
    switch (sym) {
    case TP_SYM_EAN13:
        return len == 13 && gs1_mod10_ok(d, len);
    case TP_SYM_EAN8:
        return len == 8 && gs1_mod10_ok(d, len);
    case TP_SYM_UPCA:
        return len == 12 && gs1_mod10_ok(d, len);
    case TP_SYM_UPCE:
        /* number system, six digits, check digit: expand to UPC-A. */
        if (len != 8 || (d[0] != '0' && d[0] != '1'))
            return 0;
        upca[0] = d[0];
        switch (d[6]) {
        case '0':
        case '1':
        case '2':
            memcpy(upca + 1, (const char[]){d[1], d[2], d[6], '0', '0', '0', '0', d[3], d[4], d[5]}, 10);
            break;
        case '3':
            memcpy(upca + 1, (const char[]){d[1], d[2], d[3], '0', '0', '0', '0', '0', d[4], d[5]}, 10);
            break;
        case '4':
            memcpy(upca + 1, (const char[]){d[1], d[2], d[3], d[4], '0', '0', '0', '0', '0', d[5]}, 10);
            break;
        default:
            memcpy(upca + 1, (const char[]){d[1], d[2], d[3], d[4], d[5], '0', '0', '0', '0', d[6]}, 10);
            break;
        }
        upca[11] = d[7];
        return gs1_mod10_ok(upca, 12);
    default:
        return 0;
    }
}

static int is_gtin(tp_symbology s)
{
    return s == TP_SYM_EAN13 || s == TP_SYM_EAN8 || s == TP_SYM_UPCA || s == TP_SYM_UPCE;
}

/* ------------------------------------------------------------------ */
/* Decoder configuration                                               */
/* ------------------------------------------------------------------ */

void tp_zbar_config_default(tp_zbar_config *cfg)
{
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->symbologies = DEFAULT_SYMBOLOGIES;
    cfg->inverted = false;
    cfg->rearm_frames = DEFAULT_REARM_FRAMES;
    cfg->rearm_ms = DEFAULT_REARM_MS;
}

static tp_status parse_symbologies(const char *value, uint32_t *out, char *msg, size_t cap)
{
    uint32_t mask = 0;
    const char *p = value;
    char choices[160];

    for (;;) {
        const char *start, *end;

        while (*p == ' ' || *p == '\t')
            p++;
        start = p;
        while (*p != '\0' && *p != ',')
            p++;
        end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end > start) {
            size_t n = (size_t)(end - start);
            tp_symbology s = tp_camera_symbology_from_name(start, n);

            if (s == TP_SYM_UNKNOWN) {
                if (ieq(start, n, "datamatrix") || ieq(start, n, "aztec") ||
                    ieq(start, n, "maxicode"))
                    tp_buf_set(msg, cap,
                               "symbologies: zbar cannot decode %.*s; use a serial or "
                               "keyboard scanner for it, or choose from %s.",
                               (int)(n > 40 ? 40 : n), start,
                               decodable_list(choices, sizeof choices));
                else
                    tp_buf_set(msg, cap, "symbologies: unknown symbology '%.*s'; choose from %s.",
                               (int)(n > 40 ? 40 : n), start,
                               decodable_list(choices, sizeof choices));
                return TP_ERR_CONFIG;
            }
            mask |= 1u << s;
        } else if (*p == ',' || end != value) {
            tp_buf_set(msg, cap, "symbologies: empty entry in '%.60s'; write a comma list such as "
                                 "qr,ean13.", value);
            return TP_ERR_CONFIG;
        }
        if (*p == '\0')
            break;
        p++;
    }
    if (mask == 0) {
        tp_buf_set(msg, cap, "symbologies must name at least one of %s.",
                   decodable_list(choices, sizeof choices));
        return TP_ERR_CONFIG;
    }
    *out = mask;
    return TP_OK;
}

tp_status tp_zbar_config_set(tp_zbar_config *cfg, const char *key, const char *value, char *msg,
                             size_t msg_cap)
{
    long v;

    tp_buf_set(msg, msg_cap, "%s", "");
    if (cfg == NULL || key == NULL || value == NULL) {
        tp_buf_set(msg, msg_cap, "camera config: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(key, "symbologies") == 0) {
        uint32_t mask;
        tp_status st = parse_symbologies(value, &mask, msg, msg_cap);

        if (st == TP_OK)
            cfg->symbologies = mask;
        return st;
    }
    if (strcmp(key, "inverted") == 0) {
        bool b;

        if (parse_bool(value, &b) != 0) {
            tp_buf_set(msg, msg_cap, "inverted must be yes or no (got '%.40s').", value);
            return TP_ERR_CONFIG;
        }
        cfg->inverted = b;
        return TP_OK;
    }
    if (strcmp(key, "rearm_frames") == 0) {
        if (parse_int(value, 1, MAX_REARM_FRAMES, &v) != 0) {
            tp_buf_set(msg, msg_cap,
                       "rearm_frames must be a whole number of frames from 1 to %d (got '%.40s').",
                       MAX_REARM_FRAMES, value);
            return TP_ERR_CONFIG;
        }
        cfg->rearm_frames = (int)v;
        return TP_OK;
    }
    if (strcmp(key, "rearm_ms") == 0) {
        if (parse_int(value, 0, MAX_REARM_MS, &v) != 0) {
            tp_buf_set(msg, msg_cap,
                       "rearm_ms must be milliseconds from 0 to %d, 0 to count frames only "
                       "(got '%.40s').",
                       MAX_REARM_MS, value);
            return TP_ERR_CONFIG;
        }
        cfg->rearm_ms = v;
        return TP_OK;
    }
    return TP_ERR_NOT_FOUND;
}

tp_status tp_zbar_config_check(const tp_zbar_config *cfg, char *msg, size_t msg_cap)
{
    char choices[160];

    tp_buf_set(msg, msg_cap, "%s", "");
    if (cfg == NULL) {
        tp_buf_set(msg, msg_cap, "camera config: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (cfg->symbologies == 0 || (cfg->symbologies & ~((1u << TP_SYM_COUNT) - 1u)) != 0 ||
        (cfg->symbologies & (1u << TP_SYM_UNKNOWN)) != 0) {
        tp_buf_set(msg, msg_cap, "symbologies must name at least one of %s.",
                   decodable_list(choices, sizeof choices));
        return TP_ERR_CONFIG;
    }
    for (int s = 1; s < TP_SYM_COUNT; s++) {
        int found = 0;

        if (!(cfg->symbologies & (1u << s)))
            continue;
        for (size_t i = 0; i < SYM_TABLE_N; i++)
            found |= sym_table[i].sym == (tp_symbology)s;
        if (!found) {
            tp_buf_set(msg, msg_cap, "symbologies: zbar cannot decode %s; choose from %s.",
                       tp_symbology_name((tp_symbology)s),
                       decodable_list(choices, sizeof choices));
            return TP_ERR_CONFIG;
        }
    }
    if (cfg->rearm_frames < 1 || cfg->rearm_frames > MAX_REARM_FRAMES) {
        tp_buf_set(msg, msg_cap, "rearm_frames must be from 1 to %d (got %d).", MAX_REARM_FRAMES,
                   cfg->rearm_frames);
        return TP_ERR_CONFIG;
    }
    if (cfg->rearm_ms < 0 || cfg->rearm_ms > MAX_REARM_MS) {
        tp_buf_set(msg, msg_cap, "rearm_ms must be from 0 to %d (got %lld).", MAX_REARM_MS,
                   (long long)cfg->rearm_ms);
        return TP_ERR_CONFIG;
    }
    return TP_OK;
}

/* ------------------------------------------------------------------ */
/* Decoder                                                             */
/* ------------------------------------------------------------------ */

typedef struct track {
    int used;
    int rejected;         /* a dropped symbol: on_error once, never on_data */
    tp_symbology sym;
    size_t len;           /* full label length */
    size_t kept;          /* bytes kept in data: min(len, TP_CAMERA_MAX_LABEL) */
    uint64_t last_frame;
    int64_t last_ms;
    char data[TP_CAMERA_MAX_LABEL];
} track;

struct tp_zbar_decoder {
    tp_zbar_config cfg;
    zbar_image_scanner_t *scanner;
    zbar_image_t *image;
    uint64_t frame_no;
    tp_zbar_stats stats;
    char label[TP_CAMERA_MAX_LABEL + 1];
    track tracks[TP_CAMERA_TRACK_MAX];
};

/* Applies cfg to a zbar scanner. 0, or -1 with a sentence naming what this
 * build of zbar refused (Debian's libzbar0 0.23.92 is built without the
 * PDF417 decoder, for instance, and refuses to enable it). */
static int scanner_configure(zbar_image_scanner_t *sc, const tp_zbar_config *cfg, char *msg,
                             size_t cap)
{
    /* Everything off first (symbology 0 reaches every decoder, composite
     * and the EAN add-ons included), then exactly what was asked for. */
    if (zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0) != 0) {
        tp_buf_set(msg, cap, "zbar refused to switch its decoders off; check libzbar0.");
        return -1;
    }
    for (size_t i = 0; i < SYM_TABLE_N; i++) {
        if (!(cfg->symbologies & (1u << sym_table[i].sym)))
            continue;
        if (zbar_image_scanner_set_config(sc, sym_table[i].zbar, ZBAR_CFG_ENABLE, 1) != 0 ||
            (sym_table[i].zbar2 != ZBAR_NONE &&
             zbar_image_scanner_set_config(sc, sym_table[i].zbar2, ZBAR_CFG_ENABLE, 1) != 0)) {
            char choices[160];

            tp_buf_set(msg, cap,
                       "symbologies: the installed zbar was built without a %s decoder; remove "
                       "%s from symbologies (it decodes %s), or read it with a serial or "
                       "keyboard scanner.",
                       sym_table[i].name, sym_table[i].name,
                       decodable_list(choices, sizeof choices));
            return -1;
        }
    }
    if ((cfg->symbologies & (1u << TP_SYM_QR)) &&
        zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1) != 0) {
        tp_buf_set(msg, cap, "zbar refused binary QR decoding (ZBAR_CFG_BINARY); libzbar0 0.23 or "
                             "newer is needed for exact QR bytes.");
        return -1;
    }
    if (zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_TEST_INVERTED,
                                      cfg->inverted ? 1 : 0) != 0) {
        tp_buf_set(msg, cap,
                   "inverted: zbar refused ZBAR_CFG_TEST_INVERTED; libzbar0 0.23 or newer is "
                   "needed for light-on-dark codes.");
        return -1;
    }
    zbar_image_scanner_enable_cache(sc, 0);
    return 0;
}

tp_status tp_zbar_decoder_create(const tp_zbar_config *cfg, tp_zbar_decoder **out, char *msg,
                                 size_t msg_cap)
{
    tp_zbar_decoder *dec;
    tp_status st;

    if (out == NULL || cfg == NULL) {
        tp_buf_set(msg, msg_cap, "camera decoder: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    st = tp_zbar_config_check(cfg, msg, msg_cap);
    if (st != TP_OK)
        return st;
    dec = calloc(1, sizeof *dec);
    if (dec == NULL) {
        tp_buf_set(msg, msg_cap, "camera decoder: out of memory.");
        return TP_ERR_NO_MEMORY;
    }
    dec->cfg = *cfg;
    dec->scanner = zbar_image_scanner_create();
    dec->image = zbar_image_create();
    if (dec->scanner == NULL || dec->image == NULL) {
        tp_zbar_decoder_destroy(dec);
        tp_buf_set(msg, msg_cap, "camera decoder: out of memory creating the zbar scanner.");
        return TP_ERR_NO_MEMORY;
    }
    if (scanner_configure(dec->scanner, cfg, msg, msg_cap) != 0) {
        tp_zbar_decoder_destroy(dec);
        return TP_ERR_CONFIG;
    }
    zbar_image_set_format(dec->image, Y800_FOURCC);
    *out = dec;
    return TP_OK;
}

void tp_zbar_decoder_destroy(tp_zbar_decoder *dec)
{
    if (dec == NULL)
        return;
    if (dec->image != NULL) {
        zbar_image_set_data(dec->image, NULL, 0, NULL);
        zbar_image_destroy(dec->image);
    }
    if (dec->scanner != NULL)
        zbar_image_scanner_destroy(dec->scanner);
    free(dec);
}

void tp_zbar_decoder_reset(tp_zbar_decoder *dec)
{
    if (dec == NULL)
        return;
    for (size_t i = 0; i < TP_CAMERA_TRACK_MAX; i++)
        dec->tracks[i].used = 0;
}

void tp_zbar_decoder_get_stats(const tp_zbar_decoder *dec, tp_zbar_stats *out)
{
    if (dec == NULL || out == NULL)
        return;
    *out = dec->stats;
}

/* The remembered entry for this code, or a slot to put it in (free, else
 * the one seen longest ago). *fresh says which. */
static track *track_find(tp_zbar_decoder *dec, tp_symbology sym, const char *data, size_t len,
                         int *fresh)
{
    size_t kept = len < TP_CAMERA_MAX_LABEL ? len : TP_CAMERA_MAX_LABEL;
    track *victim = NULL;

    for (size_t i = 0; i < TP_CAMERA_TRACK_MAX; i++) {
        track *t = &dec->tracks[i];

        if (!t->used) {
            if (victim == NULL || victim->used)
                victim = t;
            continue;
        }
        if (t->sym == sym && t->len == len && memcmp(t->data, data, kept) == 0) {
            *fresh = 0;
            return t;
        }
        if (victim == NULL || (victim->used && t->last_frame < victim->last_frame))
            victim = t;
    }
    *fresh = 1;
    victim->used = 1;
    victim->sym = sym;
    victim->len = len;
    victim->kept = kept;
    memcpy(victim->data, data, kept);
    return victim;
}

/* Decides whether this sighting counts, and updates the entry. */
static int sighting_counts(tp_zbar_decoder *dec, track *t, int fresh, int64_t now_ms)
{
    int counts;

    if (fresh) {
        counts = 1;
    } else if (t->last_frame == dec->frame_no) {
        counts = 0; /* the same code twice in one frame */
    } else {
        uint64_t absent = dec->frame_no - t->last_frame - 1;

        counts = absent >= (uint64_t)dec->cfg.rearm_frames ||
                 (dec->cfg.rearm_ms > 0 && now_ms - t->last_ms >= dec->cfg.rearm_ms);
    }
    t->last_frame = dec->frame_no;
    t->last_ms = now_ms;
    return counts;
}

static void handle_symbol(tp_zbar_decoder *dec, const zbar_symbol_t *zs, int64_t now_ms,
                          const tp_driver_sink *sink)
{
    const sym_entry *e = entry_for_zbar(zbar_symbol_get_type(zs));
    const char *data = zbar_symbol_get_data(zs);
    size_t len = zbar_symbol_get_data_length(zs);
    const char *why = NULL;
    int fresh;
    track *t;

    dec->stats.symbols++;
    if (e == NULL || !(dec->cfg.symbologies & (1u << e->sym)) || data == NULL || len == 0) {
        /* Not asked for (zbar should not report it at all) or empty:
         * dropped without a word, like noise. */
        dec->stats.rejected++;
        return;
    }
    if (len > TP_CAMERA_MAX_LABEL)
        why = "is longer than the driver accepts";
    else if (is_gtin(e->sym) && !tp_gtin_check_ok(e->sym, data, len))
        why = "has a wrong check digit or length";

    t = track_find(dec, e->sym, data, len, &fresh);
    if (why != NULL)
        t->rejected = 1;
    else if (fresh)
        t->rejected = 0;
    if (!sighting_counts(dec, t, fresh, now_ms)) {
        dec->stats.suppressed++;
        return;
    }
    if (why != NULL) {
        dec->stats.rejected++;
        if (sink != NULL && sink->on_error != NULL) {
            char sentence[TP_MESSAGE_MAX];

            snprintf(sentence, sizeof sentence,
                     "A %s code of %zu bytes seen by the camera %s and was ignored; "
                     "if it is a real code, scan it with another scanner.",
                     tp_symbology_name(e->sym), len, why);
            sink->on_error(sink->user, sentence);
        }
        return;
    }
    dec->stats.events++;
    if (sink != NULL && sink->on_data != NULL) {
        const char *aim = e->aim;

        if (e->aim_gs1 != NULL && (zbar_symbol_get_modifiers(zs) & (1u << ZBAR_MOD_GS1)))
            aim = e->aim_gs1;
        memcpy(dec->label, data, len);
        dec->label[len] = '\0';
        tp_drv_deliver_scan(sink, dec->label, len, e->sym, aim, now_ms);
    }
}

tp_status tp_zbar_decode_frame(tp_zbar_decoder *dec, const uint8_t *y800, int width, int height,
                               int64_t now_ms, const tp_driver_sink *sink)
{
    int n;

    if (dec == NULL || y800 == NULL || width < 1 || height < 1 || width > TP_CAMERA_MAX_SIDE ||
        height > TP_CAMERA_MAX_SIDE || (long)width * height > TP_CAMERA_MAX_PIXELS)
        return TP_ERR_INVALID_ARGUMENT;

    dec->frame_no++;
    dec->stats.frames++;
    zbar_image_set_format(dec->image, Y800_FOURCC);
    zbar_image_set_size(dec->image, (unsigned)width, (unsigned)height);
    /* zbar only reads the buffer; no cleanup handler, so it is never freed. */
    zbar_image_set_data(dec->image, y800, (unsigned long)width * (unsigned long)height, NULL);
    n = zbar_scan_image(dec->scanner, dec->image);
    if (n < 0) {
        zbar_image_set_data(dec->image, NULL, 0, NULL);
        return TP_ERR_INTERNAL;
    }
    for (const zbar_symbol_t *zs = zbar_image_first_symbol(dec->image); zs != NULL;
         zs = zbar_symbol_next(zs))
        handle_symbol(dec, zs, now_ms, sink);
    zbar_image_scanner_recycle_image(dec->scanner, dec->image);
    zbar_image_set_data(dec->image, NULL, 0, NULL);
    return TP_OK;
}

/* ------------------------------------------------------------------ */
/* Still images: grey conversion                                       */
/* ------------------------------------------------------------------ */

static uint8_t luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((77u * r + 150u * g + 29u * b + 128u) >> 8);
}

/* Grey over white, by alpha. */
static uint8_t over_white(uint8_t y, uint8_t a)
{
    return (uint8_t)(((unsigned)y * a + 255u * (255u - a) + 127u) / 255u);
}

static tp_status check_size(unsigned long w, unsigned long h, char *msg, size_t cap)
{
    if (w == 0 || h == 0) {
        tp_buf_set(msg, cap, "The image has no pixels (%lux%lu).", w, h);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (w > TP_CAMERA_MAX_SIDE || h > TP_CAMERA_MAX_SIDE ||
        w * h > (unsigned long)TP_CAMERA_MAX_PIXELS) {
        tp_buf_set(msg, cap,
                   "The image is %lux%lu pixels; at most %dx%d and %ld pixels are accepted, "
                   "so scale it down first.",
                   w, h, TP_CAMERA_MAX_SIDE, TP_CAMERA_MAX_SIDE, (long)TP_CAMERA_MAX_PIXELS);
        return TP_ERR_TOO_LONG;
    }
    return TP_OK;
}

/* ------------------------------------------------------------------ */
/* Still images: binary PGM / PPM                                      */
/* ------------------------------------------------------------------ */

/* Skips whitespace and '#' comments, then reads a decimal of at most 9
 * digits. -1 when malformed or the buffer ends. */
static int pnm_number(const uint8_t *b, size_t len, size_t *pos, unsigned long *out)
{
    size_t p = *pos;
    unsigned long v = 0;
    int digits = 0;

    for (;;) {
        if (p >= len)
            return -1;
        if (b[p] == '#') {
            while (p < len && b[p] != '\n' && b[p] != '\r')
                p++;
        } else if (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r' ||
                   b[p] == '\v' || b[p] == '\f') {
            p++;
        } else {
            break;
        }
    }
    while (p < len && b[p] >= '0' && b[p] <= '9') {
        if (++digits > 9)
            return -1;
        v = v * 10 + (unsigned long)(b[p] - '0');
        p++;
    }
    if (digits == 0)
        return -1;
    *pos = p;
    *out = v;
    return 0;
}

static tp_status decode_pnm(const uint8_t *b, size_t len, tp_image *out, char *msg, size_t cap)
{
    size_t pos = 2, px, need, bps;
    unsigned long w, h, maxval;
    int channels = b[1] == '6' ? 3 : 1;
    tp_status st;
    uint8_t *y;

    if (pnm_number(b, len, &pos, &w) != 0 || pnm_number(b, len, &pos, &h) != 0 ||
        pnm_number(b, len, &pos, &maxval) != 0) {
        tp_buf_set(msg, cap, "The PGM/PPM header is malformed or cut short.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (maxval < 1 || maxval > 65535) {
        tp_buf_set(msg, cap, "The PGM/PPM maxval is %lu; it must be from 1 to 65535.", maxval);
        return TP_ERR_INVALID_ARGUMENT;
    }
    st = check_size(w, h, msg, cap);
    if (st != TP_OK)
        return st;
    /* Exactly one whitespace byte separates the header from the raster. */
    if (pos >= len || !(b[pos] == ' ' || b[pos] == '\t' || b[pos] == '\n' || b[pos] == '\r' ||
                        b[pos] == '\v' || b[pos] == '\f')) {
        tp_buf_set(msg, cap, "The PGM/PPM header is malformed or cut short.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    pos++;
    bps = maxval > 255 ? 2 : 1;
    px = (size_t)w * h;
    need = px * (size_t)channels * bps;
    if (len - pos < need) {
        tp_buf_set(msg, cap, "The PGM/PPM image is cut short: %zu of %zu pixel bytes present.",
                   len - pos, need);
        return TP_ERR_INVALID_ARGUMENT;
    }
    y = malloc(px);
    if (y == NULL) {
        tp_buf_set(msg, cap, "Out of memory loading a %lux%lu image.", w, h);
        return TP_ERR_NO_MEMORY;
    }
    b += pos;
    for (size_t i = 0; i < px; i++) {
        unsigned c[3] = {0, 0, 0};

        for (int k = 0; k < channels; k++) {
            unsigned v = bps == 2 ? ((unsigned)b[0] << 8 | b[1]) : b[0];

            b += bps;
            if (v > maxval)
                v = (unsigned)maxval;
            c[k] = (unsigned)((v * 255ul + maxval / 2) / maxval);
        }
        y[i] = channels == 3 ? luma(c[0], c[1], c[2]) : (uint8_t)c[0];
    }
    out->y800 = y;
    out->width = (int)w;
    out->height = (int)h;
    return TP_OK;
}

/* ------------------------------------------------------------------ */
/* Still images: PNG through libpng                                    */
/* ------------------------------------------------------------------ */

/* Everything the setjmp'ing function changes lives here, in the caller's
 * frame, so its values are well defined after a longjmp. */
typedef struct png_job {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    png_structp png;
    png_infop info;
    uint8_t *rgba;   /* whole image (interlaced) or one row */
    uint8_t *y;
    png_uint_32 w, h;
    char *msg;
    size_t cap;
    tp_status st;
} png_job;

static void png_read_mem(png_structp png, png_bytep data, size_t n)
{
    png_job *j = png_get_io_ptr(png);

    if (j->len - j->pos < n)
        png_error(png, "the PNG file is cut short");
    memcpy(data, j->buf + j->pos, n);
    j->pos += n;
}

static void png_on_error(png_structp png, png_const_charp text)
{
    png_job *j = png_get_error_ptr(png);

    if (j->st == TP_OK) {
        j->st = TP_ERR_INVALID_ARGUMENT;
        tp_buf_set(j->msg, j->cap, "The PNG image is damaged or cut short (%s).", text);
    }
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp text)
{
    (void)png;
    (void)text; /* never printed: the plugin has no stderr to speak of */
}

static void rgba_row_to_grey(const uint8_t *rgba, uint8_t *y, png_uint_32 w)
{
    for (png_uint_32 x = 0; x < w; x++, rgba += 4)
        y[x] = over_white(luma(rgba[0], rgba[1], rgba[2]), rgba[3]);
}

static int png_decode_inner(png_job *j)
{
    int color, depth, interlace, passes;

    if (setjmp(png_jmpbuf(j->png)))
        return -1;
    png_set_read_fn(j->png, j, png_read_mem);
    /* libpng's own limit (1,000,000 per side) stays; ours is checked
     * right after the header, with a sentence, before any allocation. */
    png_set_chunk_malloc_max(j->png, (png_alloc_size_t)8 * 1024 * 1024);
    png_read_info(j->png, j->info);
    png_get_IHDR(j->png, j->info, &j->w, &j->h, &depth, &color, &interlace, NULL, NULL);
    if (check_size(j->w, j->h, j->msg, j->cap) != TP_OK) {
        j->st = check_size(j->w, j->h, NULL, 0);
        return -1;
    }
    /* Normalise every colour type to 8-bit RGBA. */
    png_set_expand(j->png);
    png_set_strip_16(j->png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(j->png);
    if (!(color & PNG_COLOR_MASK_ALPHA) && !png_get_valid(j->png, j->info, PNG_INFO_tRNS))
        png_set_filler(j->png, 0xff, PNG_FILLER_AFTER);
    passes = png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);
    if (png_get_rowbytes(j->png, j->info) != (size_t)j->w * 4) {
        j->st = TP_ERR_UNSUPPORTED;
        tp_buf_set(j->msg, j->cap, "This PNG layout cannot be converted to grey.");
        return -1;
    }
    j->y = malloc((size_t)j->w * j->h);
    j->rgba = malloc((size_t)j->w * 4 * (passes > 1 ? j->h : 1));
    if (j->y == NULL || j->rgba == NULL) {
        j->st = TP_ERR_NO_MEMORY;
        tp_buf_set(j->msg, j->cap, "Out of memory loading a %lux%lu image.", (unsigned long)j->w,
                   (unsigned long)j->h);
        return -1;
    }
    if (passes > 1) {
        /* libpng fills interlaced rows pass by pass into the same buffer. */
        for (int p = 0; p < passes; p++)
            for (png_uint_32 r = 0; r < j->h; r++)
                png_read_row(j->png, j->rgba + (size_t)r * j->w * 4, NULL);
        for (png_uint_32 r = 0; r < j->h; r++)
            rgba_row_to_grey(j->rgba + (size_t)r * j->w * 4, j->y + (size_t)r * j->w, j->w);
    } else {
        for (png_uint_32 r = 0; r < j->h; r++) {
            png_read_row(j->png, j->rgba, NULL);
            rgba_row_to_grey(j->rgba, j->y + (size_t)r * j->w, j->w);
        }
    }
    return 0;
}

static tp_status decode_png(const uint8_t *b, size_t len, tp_image *out, char *msg, size_t cap)
{
    png_job j;

    memset(&j, 0, sizeof j);
    j.buf = b;
    j.len = len;
    j.msg = msg;
    j.cap = cap;
    j.st = TP_OK;
    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, png_on_error, png_on_warning);
    if (j.png != NULL)
        j.info = png_create_info_struct(j.png);
    if (j.png == NULL || j.info == NULL) {
        png_destroy_read_struct(&j.png, NULL, NULL);
        tp_buf_set(msg, cap, "Out of memory starting the PNG reader.");
        return TP_ERR_NO_MEMORY;
    }
    if (png_decode_inner(&j) != 0) {
        if (j.st == TP_OK) {
            j.st = TP_ERR_INVALID_ARGUMENT;
            tp_buf_set(msg, cap, "The PNG image could not be read.");
        }
        free(j.y);
        j.y = NULL;
    }
    png_destroy_read_struct(&j.png, &j.info, NULL);
    free(j.rgba);
    if (j.st == TP_OK) {
        out->y800 = j.y;
        out->width = (int)j.w;
        out->height = (int)j.h;
    }
    return j.st;
}

/* ------------------------------------------------------------------ */
/* Still images: entry points                                          */
/* ------------------------------------------------------------------ */

tp_status tp_image_decode(const void *buf, size_t len, tp_image *out, char *msg, size_t msg_cap)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *b = buf;

    tp_buf_set(msg, msg_cap, "%s", "");
    if (out == NULL || (buf == NULL && len > 0)) {
        tp_buf_set(msg, msg_cap, "image: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    if (len >= sizeof png_sig && memcmp(b, png_sig, sizeof png_sig) == 0) {
        /* IHDR is always the first chunk: refuse an oversize picture from
         * its header, before libpng reads (and allocates for) anything. */
        if (len >= 24 && memcmp(b + 12, "IHDR", 4) == 0) {
            unsigned long w = (unsigned long)b[16] << 24 | (unsigned long)b[17] << 16 |
                              (unsigned long)b[18] << 8 | b[19];
            unsigned long h = (unsigned long)b[20] << 24 | (unsigned long)b[21] << 16 |
                              (unsigned long)b[22] << 8 | b[23];
            tp_status st = check_size(w, h, msg, msg_cap);

            if (st == TP_ERR_TOO_LONG)
                return st;
        }
        return decode_png(b, len, out, msg, msg_cap);
    }
    if (len >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6'))
        return decode_pnm(b, len, out, msg, msg_cap);
    tp_buf_set(msg, msg_cap,
               "The image is not a PNG or a binary PGM/PPM (P5/P6) file; convert it to PNG.");
    return TP_ERR_UNSUPPORTED;
}

tp_status tp_image_load(const char *path, tp_image *out, char *msg, size_t msg_cap)
{
    FILE *f;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    tp_status st;

    tp_buf_set(msg, msg_cap, "%s", "");
    if (path == NULL || out == NULL) {
        tp_buf_set(msg, msg_cap, "image: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    f = fopen(path, "rb");
    if (f == NULL) {
        tp_buf_set(msg, msg_cap, "Cannot open image %.160s: %s.", path, strerror(errno));
        return TP_ERR_NOT_FOUND;
    }
    for (;;) {
        size_t n;

        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            uint8_t *nb;

            if (cap >= (size_t)TP_IMAGE_MAX_FILE) {
                tp_buf_set(msg, msg_cap, "Image %.160s is larger than %ld bytes.", path,
                           (long)TP_IMAGE_MAX_FILE);
                st = TP_ERR_TOO_LONG;
                goto out;
            }
            if (ncap > (size_t)TP_IMAGE_MAX_FILE)
                ncap = (size_t)TP_IMAGE_MAX_FILE;
            nb = realloc(buf, ncap);
            if (nb == NULL) {
                tp_buf_set(msg, msg_cap, "Out of memory reading image %.160s.", path);
                st = TP_ERR_NO_MEMORY;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                tp_buf_set(msg, msg_cap, "Cannot read image %.160s.", path);
                st = TP_ERR_NOT_FOUND;
                goto out;
            }
            break;
        }
    }
    st = tp_image_decode(buf, len, out, msg, msg_cap);
out:
    fclose(f);
    free(buf);
    return st;
}

void tp_image_free(tp_image *img)
{
    if (img == NULL)
        return;
    free(img->y800);
    memset(img, 0, sizeof *img);
}

/* ------------------------------------------------------------------ */
/* The camera driver                                                   */
/* ------------------------------------------------------------------ */

struct tp_driver {
    tp_driver_sink sink;
    char device[TP_CAMERA_DEVICE_MAX + 1];
    long width, height; /* 0 = camera default */
    tp_zbar_config zcfg;
    tp_zbar_decoder *dec;
    zbar_video_t *video;
    int fd;
};

static tp_driver *cam_create(const tp_driver_sink *sink)
{
    tp_driver *d = calloc(1, sizeof *d);

    if (d == NULL)
        return NULL;
    if (sink != NULL)
        d->sink = *sink;
    tp_zbar_config_default(&d->zcfg);
    d->fd = -1;
    return d;
}

static tp_status cam_configure(tp_driver *d, const char *key, const char *value, char *msg,
                               size_t msg_cap)
{
    tp_status st;
    long v;

    tp_buf_set(msg, msg_cap, "%s", "");
    if (d == NULL || key == NULL || value == NULL) {
        tp_buf_set(msg, msg_cap, "camera config: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(key, "device") == 0) {
        if (strncmp(value, "/dev/", 5) != 0 || strlen(value) > TP_CAMERA_DEVICE_MAX ||
            strlen(value) <= 5) {
            tp_buf_set(msg, msg_cap,
                       "device must be a V4L2 device path such as /dev/video0 (got '%.60s').",
                       value);
            return TP_ERR_CONFIG;
        }
        snprintf(d->device, sizeof d->device, "%s", value);
        return TP_OK;
    }
    if (strcmp(key, "width") == 0 || strcmp(key, "height") == 0) {
        if (parse_int(value, 16, TP_CAMERA_MAX_SIDE, &v) != 0) {
            tp_buf_set(msg, msg_cap, "%s must be a number of pixels from 16 to %d (got '%.40s').",
                       key, TP_CAMERA_MAX_SIDE, value);
            return TP_ERR_CONFIG;
        }
        if (key[0] == 'w')
            d->width = v;
        else
            d->height = v;
        return TP_OK;
    }
    st = tp_zbar_config_set(&d->zcfg, key, value, msg, msg_cap);
    if (st == TP_OK && d->video == NULL) {
        /* built again by the next check()/open() with the new settings */
        tp_zbar_decoder_destroy(d->dec);
        d->dec = NULL;
    }
    return st;
}

static tp_status cam_check(tp_driver *d, char *msg, size_t msg_cap)
{
    tp_buf_set(msg, msg_cap, "%s", "");
    if (d == NULL)
        return TP_ERR_INVALID_ARGUMENT;
    if (d->device[0] == '\0') {
        tp_buf_set(msg, msg_cap, "A camera needs device = /dev/videoN in its section.");
        return TP_ERR_CONFIG;
    }
    if ((d->width == 0) != (d->height == 0)) {
        tp_buf_set(msg, msg_cap, "Give both width and height for the camera, or neither.");
        return TP_ERR_CONFIG;
    }
    if (d->width * d->height > TP_CAMERA_MAX_PIXELS) {
        tp_buf_set(msg, msg_cap,
                   "A %ldx%ld capture is larger than %ld pixels; choose a smaller one.",
                   d->width, d->height, (long)TP_CAMERA_MAX_PIXELS);
        return TP_ERR_CONFIG;
    }
    /* Building the decoder now also asks zbar whether it can decode every
     * configured symbology, so a missing decoder is a config error at
     * startup rather than a surprise at the first open(). */
    if (d->dec == NULL)
        return tp_zbar_decoder_create(&d->zcfg, &d->dec, msg, msg_cap);
    return TP_OK;
}

/* Asks the node itself whether it is a V4L2 capture device, so that a
 * wrong device= is answered with a sentence, without zbar and libv4l2
 * printing their own complaints to the host's stderr. 0 yes, -1 no. */
static int is_v4l2_capture(const char *device)
{
    struct v4l2_capability cap;
    int fd = open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    int ok;

    if (fd < 0)
        return -1;
    memset(&cap, 0, sizeof cap);
    ok = ioctl(fd, VIDIOC_QUERYCAP, &cap) == 0;
    close(fd);
    if (!ok)
        return -1;
    if (cap.capabilities & V4L2_CAP_DEVICE_CAPS)
        return (cap.device_caps & V4L2_CAP_VIDEO_CAPTURE) ? 0 : -1;
    return (cap.capabilities & V4L2_CAP_VIDEO_CAPTURE) ? 0 : -1;
}

static void cam_close(tp_driver *d)
{
    if (d == NULL || d->video == NULL)
        return;
    zbar_video_enable(d->video, 0);
    zbar_video_destroy(d->video); /* closes the device */
    d->video = NULL;
    d->fd = -1;
}

static tp_status cam_open(tp_driver *d, int64_t now_ms, char *msg, size_t msg_cap)
{
    struct stat sb;
    tp_status st;

    (void)now_ms;
    tp_buf_set(msg, msg_cap, "%s", "");
    if (d == NULL)
        return TP_ERR_INVALID_ARGUMENT;
    if (d->video != NULL)
        return TP_OK;
    st = cam_check(d, msg, msg_cap); /* also creates the decoder */
    if (st != TP_OK)
        return st;
    if (stat(d->device, &sb) != 0) {
        tp_buf_set(msg, msg_cap,
                   "Camera %s is not there (%s); plug it in or fix device= — it is tried again "
                   "automatically.",
                   d->device, strerror(errno));
        return TP_ERR_NOT_FOUND;
    }
    if (!S_ISCHR(sb.st_mode)) {
        tp_buf_set(msg, msg_cap, "%s is not a device node; device= must name a camera such as "
                                 "/dev/video0.",
                   d->device);
        return TP_ERR_CONFIG;
    }
    if (is_v4l2_capture(d->device) != 0) {
        tp_buf_set(msg, msg_cap,
                   "%s is not a camera zbar can use (no V4L2 video capture); check device= and "
                   "that this user may open it.",
                   d->device);
        return TP_ERR_UNSUPPORTED;
    }
    d->video = zbar_video_create();
    if (d->video == NULL) {
        tp_buf_set(msg, msg_cap, "Out of memory opening camera %s.", d->device);
        return TP_ERR_NO_MEMORY;
    }
    if (d->width > 0)
        zbar_video_request_size(d->video, (unsigned)d->width, (unsigned)d->height);
    if (zbar_video_open(d->video, d->device) != 0) {
        tp_buf_set(msg, msg_cap,
                   "%s is not a camera zbar can use (V4L2 open failed); check device= and that "
                   "this user may open it.",
                   d->device);
        cam_close(d);
        return TP_ERR_UNSUPPORTED;
    }
    if (zbar_negotiate_format(d->video, NULL) != 0) {
        tp_buf_set(msg, msg_cap,
                   "Camera %s offers no picture format zbar can convert to grey; try another "
                   "width/height or another camera.",
                   d->device);
        cam_close(d);
        return TP_ERR_UNSUPPORTED;
    }
    if (zbar_video_enable(d->video, 1) != 0) {
        tp_buf_set(msg, msg_cap,
                   "Camera %s refused to start capturing; is another program using it?",
                   d->device);
        cam_close(d);
        return TP_ERR_BUSY;
    }
    d->fd = zbar_video_get_fd(d->video);
    if (d->fd < 0) {
        tp_buf_set(msg, msg_cap, "Camera %s cannot be polled (V4L1 only?); use a V4L2 camera.",
                   d->device);
        cam_close(d);
        return TP_ERR_UNSUPPORTED;
    }
    return TP_OK;
}

static int cam_fd(const tp_driver *d, short *events)
{
    if (events != NULL)
        *events = POLLIN;
    return d != NULL && d->video != NULL ? d->fd : -1;
}

static tp_status cam_on_ready(tp_driver *d, short revents, int64_t now_ms)
{
    zbar_image_t *img, *grey;
    unsigned long fmt;
    tp_status st;

    if (d == NULL || d->video == NULL)
        return TP_ERR_STATE;
    if (revents & (POLLERR | POLLHUP | POLLNVAL))
        return TP_ERR_NOT_FOUND;
    if (!(revents & POLLIN))
        return TP_OK;
    img = zbar_video_next_image(d->video); /* a buffer is ready: does not wait */
    if (img == NULL)
        return TP_ERR_NOT_FOUND;
    fmt = zbar_image_get_format(img);
    grey = (fmt == Y800_FOURCC || fmt == GREY_FOURCC) ? img : zbar_image_convert(img, Y800_FOURCC);
    if (grey == NULL) {
        zbar_image_destroy(img); /* hands the buffer back to the camera */
        tp_drv_report_error(&d->sink, "A camera frame could not be converted to grey "
                                      "(out of memory?); it was skipped.");
        return TP_OK;
    }
    st = tp_zbar_decode_frame(d->dec, zbar_image_get_data(grey), (int)zbar_image_get_width(grey),
                              (int)zbar_image_get_height(grey), now_ms, &d->sink);
    if (grey != img)
        zbar_image_destroy(grey);
    zbar_image_destroy(img);
    if (st != TP_OK)
        tp_drv_report_error(&d->sink, "A camera frame could not be decoded; it was skipped.");
    return TP_OK;
}

static int64_t cam_deadline(const tp_driver *d)
{
    (void)d;
    return -1; /* frames drive everything; no timers */
}

static void cam_tick(tp_driver *d, int64_t now_ms)
{
    (void)d;
    (void)now_ms;
}

static tp_status cam_health(tp_driver *d, char *msg, size_t msg_cap)
{
    struct stat sb;

    tp_buf_set(msg, msg_cap, "%s", "");
    if (d == NULL)
        return TP_ERR_INVALID_ARGUMENT;
    if (d->video == NULL) {
        tp_buf_set(msg, msg_cap, "Camera %s is not open.",
                   d->device[0] ? d->device : "(no device=)");
        return TP_ERR_STATE;
    }
    if (stat(d->device, &sb) != 0) {
        tp_buf_set(msg, msg_cap, "Camera %s has gone away; plug it back in.", d->device);
        return TP_ERR_NOT_FOUND;
    }
    return TP_OK;
}

static void cam_destroy(tp_driver *d)
{
    if (d == NULL)
        return;
    cam_close(d);
    tp_zbar_decoder_destroy(d->dec);
    free(d);
}

const tp_driver_ops tp_camera_driver = {
    .name = "camera",
    .create = cam_create,
    .configure = cam_configure,
    .check = cam_check,
    .open = cam_open,
    .fd = cam_fd,
    .on_ready = cam_on_ready,
    .deadline = cam_deadline,
    .tick = cam_tick,
    .health = cam_health,
    .close = cam_close,
    .destroy = cam_destroy,
};

/* The module's entry (plugin/module.h). */
static const tp_camera_api camera_api = {
    .driver = &tp_camera_driver,
    .zbar_config_default = tp_zbar_config_default,
    .zbar_config_set = tp_zbar_config_set,
    .zbar_decoder_create = tp_zbar_decoder_create,
    .zbar_decoder_destroy = tp_zbar_decoder_destroy,
    .zbar_decode_frame = tp_zbar_decode_frame,
    .image_decode = tp_image_decode,
    .image_free = tp_image_free,
};

TP_MODULE_DEFINE(camera, &camera_api);
