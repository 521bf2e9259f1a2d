/*
 * test_camera.c — pins down drivers/camera.c: the zbar decode path on
 * images made at test time by independent encoders (qrencode, zint; run
 * with fork/exec from this test, never by the plugin), degraded in C with
 * a seeded generator (scaled, noisy, rotated, inverted, placed in a grey
 * frame); blank frames that must stay silent; duplicate suppression over
 * synthetic frame sequences; the still-image loader (PNG, PGM, PPM and
 * damaged files); config errors; and the camera driver's answers on a
 * machine without /dev/video*. Expected labels are the strings handed to
 * the encoders, never something computed by the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zbar.h>

#include "camera.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Recorder sink                                                       */
/* ------------------------------------------------------------------ */

#define REC_MAX 64

typedef struct rec_scan {
    char data[TP_CAMERA_MAX_LABEL + 1];
    size_t len;
    tp_symbology sym;
    char aim[4];
    int64_t time_ms;
} rec_scan;

typedef struct recorder {
    int n;
    rec_scan scan[REC_MAX];
    int errors;
    char last_error[512];
} recorder;

static void rec_data(void *user, const tp_scan_data *s)
{
    recorder *r = user;

    assert_true(r->n < REC_MAX);
    assert_true(s->len <= TP_CAMERA_MAX_LABEL);
    assert_int_equal(s->data[s->len], '\0');
    memcpy(r->scan[r->n].data, s->data, s->len + 1);
    r->scan[r->n].len = s->len;
    r->scan[r->n].sym = s->symbology;
    memcpy(r->scan[r->n].aim, s->aim_id, sizeof r->scan[r->n].aim);
    r->scan[r->n].time_ms = s->time_ms;
    r->n++;
}

static void rec_error(void *user, const char *sentence)
{
    recorder *r = user;

    r->errors++;
    snprintf(r->last_error, sizeof r->last_error, "%s", sentence);
}

static void rec_status(void *user, tp_device_state state, const char *sentence)
{
    (void)user;
    (void)state;
    (void)sentence;
}

static tp_driver_sink rec_sink(recorder *r)
{
    tp_driver_sink s = {.user = r, .on_data = rec_data, .on_error = rec_error,
                        .on_status = rec_status};
    memset(r, 0, sizeof *r);
    return s;
}

/* ------------------------------------------------------------------ */
/* Encoders, run as separate processes                                 */
/* ------------------------------------------------------------------ */

typedef struct fixture {
    char dir[64];
    int counter;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/tillpoints-camera-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char path[128];

    for (int i = 0; i < fx->counter; i++) {
        snprintf(path, sizeof path, "%s/img%d.png", fx->dir, i);
        unlink(path);
        snprintf(path, sizeof path, "%s/img%d.bin", fx->dir, i);
        unlink(path);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static const char *next_path(fixture *fx, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/img%d.png", fx->dir, fx->counter++);
    return buf;
}

/* qrencode -s <module> -o PATH [extra...] TEXT, loaded as grey. */
static tp_image qr_image(fixture *fx, const char *text, int module, const char *extra1,
                         const char *extra2)
{
    char path[128], size[16], msg[256];
    char *argv[10];
    int n = 0;
    tp_image img;

    next_path(fx, path, sizeof path);
    snprintf(size, sizeof size, "%d", module);
    argv[n++] = "qrencode";
    argv[n++] = "-s";
    argv[n++] = size;
    argv[n++] = "-o";
    argv[n++] = path;
    if (extra1)
        argv[n++] = (char *)extra1;
    if (extra2)
        argv[n++] = (char *)extra2;
    argv[n++] = (char *)text;
    argv[n] = NULL;
    tu_run_quiet(argv);
    if (tp_image_load(path, &img, msg, sizeof msg) != TP_OK)
        fail_msg("load %s: %s", path, msg);
    return img;
}

/* zint -b <type> --scale=<s> -d DATA -o PATH [extra], loaded as grey. */
static tp_image zint_image(fixture *fx, const char *type, const char *data, const char *extra)
{
    char path[128], msg[256];
    char *argv[10];
    int n = 0;
    tp_image img;

    next_path(fx, path, sizeof path);
    argv[n++] = "zint";
    argv[n++] = "-b";
    argv[n++] = (char *)type;
    argv[n++] = "--scale=2";
    argv[n++] = "-d";
    argv[n++] = (char *)data;
    argv[n++] = "-o";
    argv[n++] = path;
    if (extra)
        argv[n++] = (char *)extra;
    argv[n] = NULL;
    tu_run_quiet(argv);
    if (tp_image_load(path, &img, msg, sizeof msg) != TP_OK)
        fail_msg("load %s: %s", path, msg);
    return img;
}

/* ------------------------------------------------------------------ */
/* Degradation in C, seeded                                            */
/* ------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* sin/cos/floor without libm (the Makefile links no -lm): Taylor series
 * after reducing to [-pi, pi], far more precise than a pixel needs. */
#define TEST_PI 3.14159265358979323846

static double t_sin(double x)
{
    double term, sum;

    while (x > TEST_PI)
        x -= 2 * TEST_PI;
    while (x < -TEST_PI)
        x += 2 * TEST_PI;
    term = x;
    sum = x;
    for (int k = 1; k < 12; k++) {
        term *= -x * x / ((2 * k) * (2 * k + 1));
        sum += term;
    }
    return sum;
}

static double t_cos(double x)
{
    return t_sin(x + TEST_PI / 2);
}

static int t_floor(double x)
{
    int i = (int)x;

    return (x < i) ? i - 1 : i;
}

static uint8_t clamp8(double v)
{
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)(v + 0.5);
}

static double sample(const tp_image *im, double x, double y, double fill)
{
    int x0 = t_floor(x), y0 = t_floor(y);
    double fx = x - x0, fy = y - y0, v[4];

    for (int k = 0; k < 4; k++) {
        int xx = x0 + (k & 1), yy = y0 + (k >> 1);
        v[k] = (xx < 0 || yy < 0 || xx >= im->width || yy >= im->height)
                   ? fill
                   : im->y800[(size_t)yy * im->width + xx];
    }
    return (v[0] * (1 - fx) + v[1] * fx) * (1 - fy) + (v[2] * (1 - fx) + v[3] * fx) * fy;
}

/* A w x h frame of `bg` with `im` (plus a white margin of `pad`) centred,
 * scaled by `scale` and rotated by `deg`, bilinear. */
static tp_image place(const tp_image *im, int w, int h, uint8_t bg, double scale, double deg, int pad)
{
    tp_image out = {malloc((size_t)w * h), w, h};
    double a = deg * TEST_PI / 180.0, c = t_cos(a), s = t_sin(a);
    double cx = w / 2.0, cy = h / 2.0, ix = im->width / 2.0, iy = im->height / 2.0;

    assert_non_null(out.y800);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = (x + 0.5 - cx) / scale, dy = (y + 0.5 - cy) / scale;
            double sx = c * dx + s * dy + ix - 0.5, sy = -s * dx + c * dy + iy - 0.5;
            double v;

            if (sx < -pad || sy < -pad || sx > im->width - 1 + pad || sy > im->height - 1 + pad)
                v = bg;
            else
                v = sample(im, sx, sy, 255);
            out.y800[(size_t)y * w + x] = clamp8(v);
        }
    return out;
}

static void add_noise(tp_image *im, int amplitude, uint64_t seed)
{
    for (size_t i = 0; i < (size_t)im->width * im->height; i++) {
        int d = (int)(rng_next(&seed) % (uint64_t)(2 * amplitude + 1)) - amplitude;
        im->y800[i] = clamp8(im->y800[i] + d);
    }
}

static void invert(tp_image *im)
{
    for (size_t i = 0; i < (size_t)im->width * im->height; i++)
        im->y800[i] = (uint8_t)(255 - im->y800[i]);
}

/* ------------------------------------------------------------------ */
/* Decoding helpers                                                    */
/* ------------------------------------------------------------------ */

static tp_zbar_decoder *decoder(const char *symbologies, const char *inverted, const char *rearm_frames,
                                const char *rearm_ms)
{
    tp_zbar_config cfg;
    tp_zbar_decoder *dec = NULL;
    char msg[256];

    tp_zbar_config_default(&cfg);
    if (symbologies)
        assert_int_equal(tp_zbar_config_set(&cfg, "symbologies", symbologies, msg, sizeof msg), TP_OK);
    if (inverted)
        assert_int_equal(tp_zbar_config_set(&cfg, "inverted", inverted, msg, sizeof msg), TP_OK);
    if (rearm_frames)
        assert_int_equal(tp_zbar_config_set(&cfg, "rearm_frames", rearm_frames, msg, sizeof msg),
                         TP_OK);
    if (rearm_ms)
        assert_int_equal(tp_zbar_config_set(&cfg, "rearm_ms", rearm_ms, msg, sizeof msg), TP_OK);
    if (tp_zbar_decoder_create(&cfg, &dec, msg, sizeof msg) != TP_OK)
        fail_msg("decoder: %s", msg);
    return dec;
}

/* Decodes one image with a fresh decoder; returns what the recorder got. */
static void decode_once(const tp_image *im, const char *symbologies, const char *inverted,
                        recorder *r)
{
    tp_zbar_decoder *dec = decoder(symbologies, inverted, NULL, NULL);
    tp_driver_sink sink = rec_sink(r);

    assert_int_equal(tp_zbar_decode_frame(dec, im->y800, im->width, im->height, 1000, &sink), TP_OK);
    tp_zbar_decoder_destroy(dec);
}

static void assert_one_scan(const recorder *r, const char *text, tp_symbology sym, const char *aim)
{
    if (r->n != 1)
        fail_msg("expected one scan of '%s', got %d (errors %d: %s)", text, r->n, r->errors,
                 r->last_error);
    assert_int_equal(r->scan[0].len, strlen(text));
    assert_memory_equal(r->scan[0].data, text, strlen(text));
    assert_int_equal(r->scan[0].sym, sym);
    if (aim)
        assert_string_equal(r->scan[0].aim, aim);
    assert_int_equal(r->errors, 0);
}

/* ------------------------------------------------------------------ */
/* Symbologies from independent encoders                               */
/* ------------------------------------------------------------------ */

static void qrencode_png_decodes_to_its_text_as_qr(void **state)
{
    recorder r;
    tp_image im = qr_image(*state, "TP-MEMBER-000123", 4, NULL, NULL);

    decode_once(&im, "qr", NULL, &r);
    assert_one_scan(&r, "TP-MEMBER-000123", TP_SYM_QR, "]Q1");
    assert_int_equal(r.scan[0].time_ms, 1000);
    tp_image_free(&im);
}

static void utf8_qr_content_comes_back_byte_exact(void **state)
{
    /* Latin, Greek, CJK and an emoji: zbar without ZBAR_CFG_BINARY turned
     * such text into Big5/Shift-JIS guesses. */
    const char *text = "Caf\xc3\xa9 \xce\xba\xce\xb1\xce\xbb\xce\xb7 \xe7\x82\xb9\xe6\x95\xb0 "
                       "\xe2\x82\xac" "5 \xf0\x9f\x8e\x81";
    recorder r;
    tp_image im = qr_image(*state, text, 4, NULL, NULL);

    decode_once(&im, "qr", NULL, &r);
    assert_one_scan(&r, text, TP_SYM_QR, NULL);
    tp_image_free(&im);
}

static void qr_with_nul_free_8bit_bytes_keeps_its_length(void **state)
{
    /* 8-bit mode with bytes >= 0x80 that are not valid UTF-8. */
    const char *text = "A\xff\xfe\x80Z";
    recorder r;
    tp_image im = qr_image(*state, text, 4, "-8", NULL);

    decode_once(&im, "qr", NULL, &r);
    assert_one_scan(&r, text, TP_SYM_QR, NULL);
    tp_image_free(&im);
}

static void code128_from_zint_decodes(void **state)
{
    recorder r;
    tp_image im = zint_image(*state, "20", "LOYALTY-12345", NULL);

    decode_once(&im, "code128", NULL, &r);
    assert_one_scan(&r, "LOYALTY-12345", TP_SYM_CODE128, "]C0");
    tp_image_free(&im);
}

static void ean13_from_zint_decodes_with_its_check_digit(void **state)
{
    recorder r;
    /* zint adds the check digit: 590123412345 -> 5901234123457. */
    tp_image im = zint_image(*state, "13", "590123412345", NULL);

    decode_once(&im, "ean13", NULL, &r);
    assert_one_scan(&r, "5901234123457", TP_SYM_EAN13, "]E0");
    tp_image_free(&im);
}

/* What the host sees: the scan event's symbology, from zbar's symbol type
 * (and its GS1 flag), named as a serial scanner's AIM id would be. */
static void camera_scans_carry_the_event_symbology_names(void **state)
{
    static const struct {
        const char *type, *data, *symbologies, *label, *event;
    } cases[] = {
        {NULL, "TP-MEMBER-000123", "qr", "TP-MEMBER-000123", "qr"}, /* qrencode */
        {"13", "590123412345", "ean13", "5901234123457", "ean13"},
        {"10", "9638507", "ean8", "96385074", "ean8"},
        {"20", "LOYALTY-12345", "code128", "LOYALTY-12345", "code128"},
        /* GS1-128: zint encodes FNC1 first; zbar flags the symbol GS1. */
        {"16", "[01]09501101530003", "code128", "0109501101530003", "gs1-128"},
        {"34", "03600029145", "upca,ean13", "036000291452", "upca"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        recorder r;
        tp_image im = cases[i].type ? zint_image(*state, cases[i].type, cases[i].data, NULL)
                                    : qr_image(*state, cases[i].data, 4, NULL, NULL);

        decode_once(&im, cases[i].symbologies, NULL, &r);
        if (r.n != 1)
            fail_msg("%s: expected one scan, got %d (errors %d: %s)", cases[i].data, r.n,
                     r.errors, r.last_error);
        assert_string_equal(r.scan[0].data, cases[i].label);
        assert_string_equal(tp_symbology_event_name(r.scan[0].sym, r.scan[0].aim),
                            cases[i].event);
        tp_image_free(&im);
    }
}

static void ean8_from_zint_decodes(void **state)
{
    recorder r;
    tp_image im = zint_image(*state, "10", "9638507", NULL);

    decode_once(&im, "ean8", NULL, &r);
    assert_one_scan(&r, "96385074", TP_SYM_EAN8, "]E4");
    tp_image_free(&im);
}

static void upca_is_ean13_with_leading_zero_unless_upca_is_enabled(void **state)
{
    recorder r;
    tp_image im = zint_image(*state, "34", "03600029145", NULL);

    decode_once(&im, "ean13", NULL, &r);
    assert_one_scan(&r, "0036000291452", TP_SYM_EAN13, NULL);
    decode_once(&im, "upca,ean13", NULL, &r);
    assert_one_scan(&r, "036000291452", TP_SYM_UPCA, "]E0");
    tp_image_free(&im);
}

static void upce_from_zint_decodes_as_eight_digits_when_enabled(void **state)
{
    recorder r;
    tp_image im = zint_image(*state, "37", "0123456", NULL);

    decode_once(&im, "upce", NULL, &r);
    assert_one_scan(&r, "01234565", TP_SYM_UPCE, "]E0");
    tp_image_free(&im);
}

static void pdf417_is_refused_by_name_or_decoded_exactly(void **state)
{
    recorder r;
    tp_image im = zint_image(*state, "55", "MEMBER-0042", NULL);
    tp_zbar_config cfg;
    tp_zbar_decoder *dec = NULL;
    char msg[256];
    tp_status st;

    /* Debian 12's libzbar0 0.23.92 is built without its PDF417 decoder
     * and refuses to enable it: that must be a config error naming
     * pdf417, not a silent "no code" forever. A zbar built with PDF417
     * must return the label exactly, or nothing. */
    tp_zbar_config_default(&cfg);
    assert_int_equal(tp_zbar_config_set(&cfg, "symbologies", "pdf417", msg, sizeof msg), TP_OK);
    st = tp_zbar_decoder_create(&cfg, &dec, msg, sizeof msg);
    if (st == TP_OK) {
        tp_driver_sink sink = rec_sink(&r);

        assert_int_equal(tp_zbar_decode_frame(dec, im.y800, im.width, im.height, 0, &sink), TP_OK);
        if (r.n == 1)
            assert_one_scan(&r, "MEMBER-0042", TP_SYM_PDF417, NULL);
        else
            assert_int_equal(r.n, 0);
        assert_int_equal(r.errors, 0);
        tp_zbar_decoder_destroy(dec);
    } else {
        assert_int_equal(st, TP_ERR_CONFIG);
        assert_null(dec);
        if (strstr(msg, "without a pdf417 decoder") == NULL)
            fail_msg("unexpected sentence: %s", msg);
    }
    tp_image_free(&im);
}

static void symbology_not_configured_is_never_reported(void **state)
{
    recorder r;
    tp_image c128 = zint_image(*state, "20", "LOYALTY-12345", NULL);
    tp_image qr = qr_image(*state, "TP-1", 4, NULL, NULL);

    decode_once(&c128, "qr,ean13", NULL, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.errors, 0);
    decode_once(&qr, "code128", NULL, &r);
    assert_int_equal(r.n, 0);
    tp_image_free(&c128);
    tp_image_free(&qr);
}

/* ------------------------------------------------------------------ */
/* Degraded pictures                                                   */
/* ------------------------------------------------------------------ */

static void qr_in_a_640x480_grey_frame_decodes(void **state)
{
    recorder r;
    tp_image qr = qr_image(*state, "TP-MEMBER-000777", 4, NULL, NULL);
    tp_image f = place(&qr, 640, 480, 128, 1.0, 0, 0);

    decode_once(&f, "qr", NULL, &r);
    assert_one_scan(&r, "TP-MEMBER-000777", TP_SYM_QR, NULL);
    tp_image_free(&f);
    tp_image_free(&qr);
}

static void qr_scaled_down_and_up_still_decodes(void **state)
{
    recorder r;
    tp_image qr = qr_image(*state, "TP-MEMBER-000778", 6, NULL, NULL);
    tp_image small = place(&qr, 400, 300, 110, 0.55, 0, 0);
    tp_image big = place(&qr, 1000, 800, 140, 2.3, 0, 0);

    decode_once(&small, "qr", NULL, &r);
    assert_one_scan(&r, "TP-MEMBER-000778", TP_SYM_QR, NULL);
    decode_once(&big, "qr", NULL, &r);
    assert_one_scan(&r, "TP-MEMBER-000778", TP_SYM_QR, NULL);
    tp_image_free(&small);
    tp_image_free(&big);
    tp_image_free(&qr);
}

static void qr_with_seeded_noise_still_decodes(void **state)
{
    recorder r;
    tp_image qr = qr_image(*state, "TP-MEMBER-000779", 5, NULL, NULL);
    tp_image f = place(&qr, 640, 480, 128, 1.0, 0, 0);

    add_noise(&f, 60, 12345);
    decode_once(&f, "qr", NULL, &r);
    assert_one_scan(&r, "TP-MEMBER-000779", TP_SYM_QR, NULL);
    tp_image_free(&f);
    tp_image_free(&qr);
}

static void qr_rotated_still_decodes(void **state)
{
    recorder r;
    tp_image qr = qr_image(*state, "TP-MEMBER-000780", 5, NULL, NULL);
    static const double angles[] = {7, 23, 45, 90, 168};

    for (size_t i = 0; i < sizeof angles / sizeof angles[0]; i++) {
        tp_image f = place(&qr, 640, 480, 128, 1.0, angles[i], 4);

        add_noise(&f, 20, 99 + i);
        decode_once(&f, "qr", NULL, &r);
        assert_one_scan(&r, "TP-MEMBER-000780", TP_SYM_QR, NULL);
        tp_image_free(&f);
    }
    tp_image_free(&qr);
}

static void ean13_rotated_and_noisy_still_decodes(void **state)
{
    recorder r;
    tp_image im = zint_image(*state, "13", "590123412345", NULL);
    tp_image f = place(&im, 640, 480, 128, 1.5, 12, 20);

    add_noise(&f, 30, 7);
    decode_once(&f, "ean13", NULL, &r);
    assert_one_scan(&r, "5901234123457", TP_SYM_EAN13, NULL);
    tp_image_free(&f);
    tp_image_free(&im);
}

static void blank_noisy_frames_give_no_event_even_with_every_symbology(void **state)
{
    /* every symbology the installed zbar can decode (pdf417: see above) */
    const char *all = "qr,ean13,ean8,upca,upce,code128,code39,code93,i25,databar,codabar";
    tp_zbar_decoder *dec = decoder(all, "yes", NULL, NULL);
    recorder r;
    tp_driver_sink sink = rec_sink(&r);
    tp_image f = {malloc(320 * 240), 320, 240};
    uint64_t seed = 2024;
    tp_zbar_stats st;

    (void)state;
    assert_non_null(f.y800);
    for (int i = 0; i < 60; i++) {
        /* uniform noise, mid-grey noise, and blotchy noise (box-blurred) */
        for (size_t k = 0; k < 320 * 240; k++)
            f.y800[k] = (uint8_t)(i % 3 == 1 ? 128 : 0);
        add_noise(&f, i % 3 == 1 ? 40 : 127, seed + (uint64_t)i);
        if (i % 3 == 0)
            for (size_t k = 0; k < 320 * 240; k++)
                f.y800[k] = (uint8_t)(f.y800[k] + 128); /* full 0..255 range */
        if (i % 3 == 2)
            for (size_t k = 4; k < 320 * 240; k++) /* runs across rows: fine for noise */
                f.y800[k] = (uint8_t)((f.y800[k - 4] + f.y800[k - 3] + f.y800[k - 2] +
                                       f.y800[k - 1] + f.y800[k]) / 5);
        assert_int_equal(tp_zbar_decode_frame(dec, f.y800, 320, 240, i * 33, &sink), TP_OK);
    }
    memset(f.y800, 255, 320 * 240);
    assert_int_equal(tp_zbar_decode_frame(dec, f.y800, 320, 240, 9999, &sink), TP_OK);
    memset(f.y800, 0, 320 * 240);
    assert_int_equal(tp_zbar_decode_frame(dec, f.y800, 320, 240, 10999, &sink), TP_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.errors, 0);
    tp_zbar_decoder_get_stats(dec, &st);
    assert_int_equal(st.frames, 62);
    assert_int_equal(st.events, 0);
    tp_image_free(&f);
    tp_zbar_decoder_destroy(dec);
}

static void light_on_dark_qr_needs_inverted_yes(void **state)
{
    recorder r;
    /* Made light-on-dark by the encoder itself ... */
    tp_image enc = qr_image(*state, "TP-DARK-MODE-1", 4, "--foreground=FFFFFF", "--background=000000");
    /* ... and by inverting a normal one inside a dark frame. */
    tp_image qr = qr_image(*state, "TP-DARK-MODE-2", 4, NULL, NULL);
    tp_image f = place(&qr, 640, 480, 255, 1.0, 0, 0);

    invert(&f);
    decode_once(&enc, "qr", "no", &r);
    assert_int_equal(r.n, 0);
    decode_once(&enc, "qr", "yes", &r);
    assert_one_scan(&r, "TP-DARK-MODE-1", TP_SYM_QR, NULL);
    decode_once(&f, "qr", "no", &r);
    assert_int_equal(r.n, 0);
    decode_once(&f, "qr", "yes", &r);
    assert_one_scan(&r, "TP-DARK-MODE-2", TP_SYM_QR, NULL);
    tp_image_free(&enc);
    tp_image_free(&qr);
    tp_image_free(&f);
}

/* ------------------------------------------------------------------ */
/* Frame sequences: duplicate suppression                              */
/* ------------------------------------------------------------------ */

typedef struct seq {
    tp_image code;   /* a 320x240 frame with the QR */
    tp_image code2;  /* the same frame with a second, different QR beside it */
    tp_image empty;  /* the same grey, no code */
} seq;

static void seq_make(fixture *fx, seq *s)
{
    tp_image a = qr_image(fx, "TP-SEQ-A", 3, NULL, NULL);
    tp_image b = qr_image(fx, "TP-SEQ-B", 3, NULL, NULL);

    s->code = place(&a, 320, 240, 128, 1.0, 0, 0);
    s->empty = place(&a, 320, 240, 128, 0.01, 0, 0);
    memset(s->empty.y800, 128, 320 * 240);
    s->code2 = place(&a, 320, 240, 128, 1.0, 0, 0);
    /* paste B into the right part of code2, A shifted left */
    memset(s->code2.y800, 128, 320 * 240);
    for (int y = 0; y < a.height && y < 240; y++) {
        memcpy(&s->code2.y800[y * 320 + 5], &a.y800[y * a.width], (size_t)a.width);
        memcpy(&s->code2.y800[y * 320 + 315 - b.width], &b.y800[y * b.width], (size_t)b.width);
    }
    tp_image_free(&a);
    tp_image_free(&b);
}

static void seq_free(seq *s)
{
    tp_image_free(&s->code);
    tp_image_free(&s->code2);
    tp_image_free(&s->empty);
}

static void feed(tp_zbar_decoder *dec, const tp_image *f, int64_t t, const tp_driver_sink *sink)
{
    assert_int_equal(tp_zbar_decode_frame(dec, f->y800, f->width, f->height, t, sink), TP_OK);
}

static void same_code_in_five_consecutive_frames_counts_once(void **state)
{
    seq s;
    recorder r;
    tp_driver_sink sink = rec_sink(&r);
    tp_zbar_decoder *dec = decoder("qr", NULL, "3", "0");
    tp_zbar_stats st;

    seq_make(*state, &s);
    for (int i = 0; i < 5; i++)
        feed(dec, &s.code, 100 + 33 * i, &sink);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.scan[0].data, "TP-SEQ-A");
    assert_int_equal(r.scan[0].time_ms, 100);
    tp_zbar_decoder_get_stats(dec, &st);
    assert_int_equal(st.frames, 5);
    assert_int_equal(st.events, 1);
    assert_int_equal(st.suppressed, 4);
    seq_free(&s);
    tp_zbar_decoder_destroy(dec);
}

static void code_absent_for_rearm_frames_then_present_counts_twice(void **state)
{
    seq s;
    recorder r;
    tp_driver_sink sink = rec_sink(&r);
    tp_zbar_decoder *dec = decoder("qr", NULL, "3", "0");
    int64_t t = 0;

    seq_make(*state, &s);
    for (int i = 0; i < 5; i++)
        feed(dec, &s.code, t += 33, &sink);
    for (int i = 0; i < 3; i++) /* absent for exactly rearm_frames */
        feed(dec, &s.empty, t += 33, &sink);
    for (int i = 0; i < 5; i++)
        feed(dec, &s.code, t += 33, &sink);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.scan[1].data, "TP-SEQ-A");
    assert_int_equal(r.scan[1].time_ms, 9 * 33);
    seq_free(&s);
    tp_zbar_decoder_destroy(dec);
}

static void flicker_shorter_than_rearm_frames_counts_once(void **state)
{
    seq s;
    recorder r;
    tp_driver_sink sink = rec_sink(&r);
    tp_zbar_decoder *dec = decoder("qr", NULL, "3", "0");
    int64_t t = 0;

    seq_make(*state, &s);
    feed(dec, &s.code, t += 33, &sink);
    feed(dec, &s.empty, t += 33, &sink);
    feed(dec, &s.empty, t += 33, &sink); /* two missed frames < 3 */
    feed(dec, &s.code, t += 33, &sink);
    feed(dec, &s.empty, t += 33, &sink);
    feed(dec, &s.code, t += 33, &sink);
    assert_int_equal(r.n, 1);
    seq_free(&s);
    tp_zbar_decoder_destroy(dec);
}

static void code_unseen_for_rearm_ms_counts_again_without_frames_between(void **state)
{
    seq s;
    recorder r;
    tp_driver_sink sink = rec_sink(&r);
    tp_zbar_decoder *dec = decoder("qr", NULL, "1000", "500");

    seq_make(*state, &s);
    feed(dec, &s.code, 1000, &sink);
    feed(dec, &s.code, 1499, &sink); /* 499 ms later: still the same sighting */
    assert_int_equal(r.n, 1);
    feed(dec, &s.code, 1999, &sink); /* 500 ms after it was last seen */
    assert_int_equal(r.n, 2);
    assert_int_equal(r.scan[1].time_ms, 1999);
    seq_free(&s);
    tp_zbar_decoder_destroy(dec);
}

static void two_codes_in_one_frame_give_two_events_once(void **state)
{
    seq s;
    recorder r;
    tp_driver_sink sink = rec_sink(&r);
    tp_zbar_decoder *dec = decoder("qr", NULL, "3", "0");
    int a = 0, b = 0;

    seq_make(*state, &s);
    feed(dec, &s.code2, 10, &sink);
    feed(dec, &s.code2, 20, &sink);
    feed(dec, &s.code, 30, &sink); /* A stays, B leaves for one frame */
    feed(dec, &s.code2, 40, &sink);
    assert_int_equal(r.n, 2);
    for (int i = 0; i < r.n; i++) {
        a += strcmp(r.scan[i].data, "TP-SEQ-A") == 0;
        b += strcmp(r.scan[i].data, "TP-SEQ-B") == 0;
    }
    assert_int_equal(a, 1);
    assert_int_equal(b, 1);
    seq_free(&s);
    tp_zbar_decoder_destroy(dec);
}

static void reset_makes_a_code_in_view_count_again(void **state)
{
    seq s;
    recorder r;
    tp_driver_sink sink = rec_sink(&r);
    tp_zbar_decoder *dec = decoder("qr", NULL, NULL, NULL);

    seq_make(*state, &s);
    feed(dec, &s.code, 10, &sink);
    tp_zbar_decoder_reset(dec);
    feed(dec, &s.code, 20, &sink);
    assert_int_equal(r.n, 2);
    seq_free(&s);
    tp_zbar_decoder_destroy(dec);
}

/* ------------------------------------------------------------------ */
/* Check digits, config, arguments                                     */
/* ------------------------------------------------------------------ */

static void gtin_check_digits_are_verified(void **state)
{
    (void)state;
    assert_true(tp_gtin_check_ok(TP_SYM_EAN13, "5901234123457", 13));
    assert_false(tp_gtin_check_ok(TP_SYM_EAN13, "5901234123458", 13));
    assert_false(tp_gtin_check_ok(TP_SYM_EAN13, "590123412345", 12));
    assert_false(tp_gtin_check_ok(TP_SYM_EAN13, "59012341234a7", 13));
    assert_true(tp_gtin_check_ok(TP_SYM_EAN8, "96385074", 8));
    assert_false(tp_gtin_check_ok(TP_SYM_EAN8, "96385075", 8));
    assert_true(tp_gtin_check_ok(TP_SYM_UPCA, "036000291452", 12));
    assert_false(tp_gtin_check_ok(TP_SYM_UPCA, "036000291453", 12));
    /* UPC-E 01234565 expands to UPC-A 012345000065. */
    assert_true(tp_gtin_check_ok(TP_SYM_UPCE, "01234565", 8));
    assert_false(tp_gtin_check_ok(TP_SYM_UPCE, "01234566", 8));
    /* 0 + 425261 + 4 expands (last digit 1) to 042100005264. */
    assert_true(tp_gtin_check_ok(TP_SYM_UPCE, "04252614", 8));
    assert_false(tp_gtin_check_ok(TP_SYM_UPCE, "24252614", 8));
    assert_false(tp_gtin_check_ok(TP_SYM_QR, "5901234123457", 13));
}

static void bad_config_values_are_refused_with_a_sentence(void **state)
{
    static const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"symbologies", "qr,foo", "unknown symbology 'foo'"},
        {"symbologies", "datamatrix", "zbar cannot decode datamatrix"},
        {"symbologies", "qr,Aztec", "zbar cannot decode Aztec"},
        {"symbologies", "", "at least one"},
        {"symbologies", " , ", "empty entry"},
        {"symbologies", "qr,,ean13", "empty entry"},
        {"inverted", "maybe", "inverted must be yes or no"},
        {"rearm_frames", "0", "rearm_frames must be"},
        {"rearm_frames", "1001", "rearm_frames must be"},
        {"rearm_frames", "-3", "rearm_frames must be"},
        {"rearm_frames", "5x", "rearm_frames must be"},
        {"rearm_ms", "600001", "rearm_ms must be"},
        {"rearm_ms", "", "rearm_ms must be"},
        {"rearm_ms", "9999999999999", "rearm_ms must be"},
    };
    tp_zbar_config cfg, before;
    char msg[256];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_zbar_config_default(&cfg);
        before = cfg;
        assert_int_equal(tp_zbar_config_set(&cfg, cases[i].key, cases[i].value, msg, sizeof msg),
                         TP_ERR_CONFIG);
        if (strstr(msg, cases[i].needle) == NULL)
            fail_msg("%s=%s: '%s' lacks '%s'", cases[i].key, cases[i].value, msg, cases[i].needle);
        assert_true(msg[strlen(msg) - 1] == '.');
        assert_memory_equal(&cfg, &before, sizeof cfg);
    }
    tp_zbar_config_default(&cfg);
    assert_int_equal(tp_zbar_config_set(&cfg, "device", "/dev/video0", msg, sizeof msg),
                     TP_ERR_NOT_FOUND);
    assert_int_equal(tp_zbar_config_set(&cfg, "symbologies", " QR , ean13,I25 ", msg, sizeof msg),
                     TP_OK);
    assert_int_equal(cfg.symbologies,
                     (1u << TP_SYM_QR) | (1u << TP_SYM_EAN13) | (1u << TP_SYM_ITF));
    assert_int_equal(tp_zbar_config_set(&cfg, "inverted", "YES", msg, sizeof msg), TP_OK);
    assert_true(cfg.inverted);
    assert_int_equal(tp_zbar_config_set(NULL, "inverted", "yes", msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
    cfg.symbologies = 1u << TP_SYM_DATAMATRIX; /* set behind the parser's back */
    assert_int_equal(tp_zbar_config_check(&cfg, msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "datamatrix"));
}

/* Whether the installed zbar agrees to enable `type`: asked here directly,
 * not through the driver. */
static int zbar_enables(zbar_symbol_type_t type)
{
    zbar_image_scanner_t *sc = zbar_image_scanner_create();
    int ok;

    assert_non_null(sc);
    ok = zbar_image_scanner_set_config(sc, type, ZBAR_CFG_ENABLE, 1) == 0;
    zbar_image_scanner_destroy(sc);
    return ok;
}

/* A refusal that offers choices offers only what this zbar decodes: on
 * Debian 12 (no PDF417 decoder) pdf417 is not among them. */
static void refusal_offers_only_symbologies_the_installed_zbar_decodes(void **state)
{
    static const char *const refused[] = {"datamatrix", "aztec", "foo", ""};
    tp_zbar_config cfg;
    tp_zbar_decoder *dec = NULL;
    char msg[256];
    int pdf417 = zbar_enables(ZBAR_PDF417);

    (void)state;
    assert_true(zbar_enables(ZBAR_QRCODE));
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        tp_zbar_config_default(&cfg);
        assert_int_equal(tp_zbar_config_set(&cfg, "symbologies", refused[i], msg, sizeof msg),
                         TP_ERR_CONFIG);
        if ((strstr(msg, "pdf417") != NULL) != pdf417)
            fail_msg("symbologies=%s: zbar %s pdf417, but the sentence says: %s", refused[i],
                     pdf417 ? "decodes" : "refuses", msg);
        assert_non_null(strstr(msg, "qr, ean13"));
        assert_non_null(strstr(msg, "codabar"));
        assert_true(msg[strlen(msg) - 1] == '.');
    }
    if (!pdf417) {
        /* asking for it anyway: the sentence names it once, as refused */
        tp_zbar_config_default(&cfg);
        assert_int_equal(tp_zbar_config_set(&cfg, "symbologies", "qr,pdf417", msg, sizeof msg),
                         TP_OK);
        assert_int_equal(tp_zbar_decoder_create(&cfg, &dec, msg, sizeof msg), TP_ERR_CONFIG);
        assert_null(dec);
        assert_non_null(strstr(msg, "it decodes qr, ean13"));
        assert_null(strstr(strstr(msg, "it decodes"), "pdf417"));
    }
}

static void decode_frame_refuses_bad_dimensions(void **state)
{
    tp_zbar_decoder *dec = decoder("qr", NULL, NULL, NULL);
    uint8_t px[16] = {0};

    (void)state;
    assert_int_equal(tp_zbar_decode_frame(dec, NULL, 4, 4, 0, NULL), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_zbar_decode_frame(dec, px, 0, 4, 0, NULL), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_zbar_decode_frame(dec, px, 4, -1, 0, NULL), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_zbar_decode_frame(dec, px, TP_CAMERA_MAX_SIDE + 1, 1, 0, NULL),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_zbar_decode_frame(dec, px, 8000, 8000, 0, NULL), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_zbar_decode_frame(NULL, px, 4, 4, 0, NULL), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_zbar_decode_frame(dec, px, 4, 4, 0, NULL), TP_OK);
    tp_zbar_decoder_destroy(dec);
}

/* ------------------------------------------------------------------ */
/* Still-image loader                                                  */
/* ------------------------------------------------------------------ */

static const char *write_bin(fixture *fx, const void *data, size_t len, char *path, size_t cap)
{
    FILE *f;

    snprintf(path, cap, "%s/img%d.bin", fx->dir, fx->counter++);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static void png_with_transparent_background_is_composited_on_white(void **state)
{
    recorder r;
    /* Transparent *black* background: dropping alpha would give an all-black picture. */
    tp_image zi = zint_image(*state, "20", "ALPHA-128", "--bg=00000000");
    tp_image qi = qr_image(*state, "ALPHA-QR", 4, "-t", "PNG32");

    /* Uncomposited, every zint pixel would be black (both palette entries
     * are 000000), so a decode proves the alpha went over white. */
    decode_once(&zi, "code128", NULL, &r);
    assert_one_scan(&r, "ALPHA-128", TP_SYM_CODE128, NULL);
    decode_once(&qi, "qr", NULL, &r);
    assert_one_scan(&r, "ALPHA-QR", TP_SYM_QR, NULL);
    tp_image_free(&zi);
    tp_image_free(&qi);
}

static void pgm_and_ppm_load_as_the_expected_grey(void **state)
{
    /* 3x1: black, white, mid; PPM pure red/green/blue -> BT.601 luma. */
    static const uint8_t pgm[] = "P5\n# a comment\n3 1\n255\n\x00\xff\x80";
    static const uint8_t ppm[] = "P6 3 1 255\n\xff\x00\x00\x00\xff\x00\x00\x00\xff";
    static const uint8_t pgm16[] = "P5 2 1 65535\n\xff\xff\x80\x00";
    tp_image im;
    char msg[256], path[128];

    assert_int_equal(tp_image_decode(pgm, sizeof pgm - 1, &im, msg, sizeof msg), TP_OK);
    assert_int_equal(im.width, 3);
    assert_int_equal(im.height, 1);
    assert_int_equal(im.y800[0], 0);
    assert_int_equal(im.y800[1], 255);
    assert_int_equal(im.y800[2], 128);
    tp_image_free(&im);
    assert_null(im.y800);
    write_bin(*state, ppm, sizeof ppm - 1, path, sizeof path);
    assert_int_equal(tp_image_load(path, &im, msg, sizeof msg), TP_OK);
    assert_int_equal(im.y800[0], 77);  /* (77*255+128)>>8 */
    assert_int_equal(im.y800[1], 149); /* (150*255+128)>>8 */
    assert_int_equal(im.y800[2], 29);  /* (29*255+128)>>8 */
    tp_image_free(&im);
    assert_int_equal(tp_image_decode(pgm16, sizeof pgm16 - 1, &im, msg, sizeof msg), TP_OK);
    assert_int_equal(im.y800[0], 255);
    assert_int_equal(im.y800[1], 128);
    tp_image_free(&im);
}

static void damaged_or_unknown_images_are_refused_with_a_sentence(void **state)
{
    fixture *fx = *state;
    char path[128], msg[256];
    tp_image im, qr = qr_image(fx, "CUT", 4, NULL, NULL);
    FILE *f;
    uint8_t buf[4096];
    size_t n;

    (void)qr;
    tp_image_free(&qr);
    /* The PNG qrencode just wrote, cut in half. */
    snprintf(path, sizeof path, "%s/img%d.png", fx->dir, fx->counter - 1);
    f = fopen(path, "rb");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 100);
    assert_int_equal(tp_image_decode(buf, n / 2, &im, msg, sizeof msg), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "PNG"));
    assert_null(im.y800);
    buf[40] ^= 0x55; /* a flipped byte in a chunk: CRC error */
    assert_int_equal(tp_image_decode(buf, n, &im, msg, sizeof msg), TP_ERR_INVALID_ARGUMENT);
    assert_null(im.y800);

    assert_int_equal(tp_image_decode("GIF89a....", 10, &im, msg, sizeof msg), TP_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "convert it to PNG"));
    assert_int_equal(tp_image_decode("P5 3 1 255\n\x01", 12, &im, msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "cut short"));
    assert_int_equal(tp_image_decode("P5 3", 4, &im, msg, sizeof msg), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_image_decode("P5 3 1 0\n", 9, &im, msg, sizeof msg), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_image_decode("P5 1234567890 1 255\n", 20, &im, msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_image_decode(NULL, 0, &im, msg, sizeof msg), TP_ERR_UNSUPPORTED);
    assert_int_equal(tp_image_decode("P5", 2, NULL, msg, sizeof msg), TP_ERR_INVALID_ARGUMENT);

    snprintf(path, sizeof path, "%s/does-not-exist.png", fx->dir);
    assert_int_equal(tp_image_load(path, &im, msg, sizeof msg), TP_ERR_NOT_FOUND);
    assert_non_null(strstr(msg, "does-not-exist.png"));
}

static void huge_declared_size_is_refused_before_allocating(void **state)
{
    /* 8000x8000 = 64 Mpixel, within each side but over the pixel cap; and a
     * PNG header claiming 100000x1 (over the side cap). */
    static const uint8_t pnm[] = "P5 8000 8000 255\n";
    uint8_t png_hdr[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                           'I',  'H', 'D', 'R', 0, 1, 0x86, 0xa0, /* width 100000 */
                           0, 0, 0, 1, 8, 0, 0, 0, 0};
    uint32_t crc = 0xffffffffu;

    for (int i = 12; i < 29; i++) { /* CRC-32 over "IHDR" + its 13 bytes */
        crc ^= png_hdr[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    crc ^= 0xffffffffu;
    png_hdr[29] = (uint8_t)(crc >> 24);
    png_hdr[30] = (uint8_t)(crc >> 16);
    png_hdr[31] = (uint8_t)(crc >> 8);
    png_hdr[32] = (uint8_t)crc;
    tp_image im;
    char msg[256];

    (void)state;
    assert_int_equal(tp_image_decode(pnm, sizeof pnm - 1, &im, msg, sizeof msg), TP_ERR_TOO_LONG);
    assert_non_null(strstr(msg, "scale it down"));
    assert_int_equal(tp_image_decode(png_hdr, sizeof png_hdr, &im, msg, sizeof msg), TP_ERR_TOO_LONG);
    assert_non_null(strstr(msg, "100000x1"));
    assert_null(im.y800);
}

/* ------------------------------------------------------------------ */
/* The camera driver without a camera                                  */
/* ------------------------------------------------------------------ */

static tp_driver *camera_with(recorder *r, const char *device)
{
    tp_driver_sink sink = rec_sink(r);
    tp_driver *d = tp_camera_driver.create(&sink);
    char msg[256];

    assert_non_null(d);
    assert_int_equal(tp_camera_driver.configure(d, "device", device, msg, sizeof msg), TP_OK);
    return d;
}

static void camera_open_without_the_device_node_is_not_found_with_a_sentence(void **state)
{
    recorder r;
    tp_driver *d = camera_with(&r, "/dev/video-tillpoints-test-absent");
    char msg[256];
    short ev = 0;

    (void)state;
    assert_string_equal(tp_camera_driver.name, "camera");
    assert_int_equal(tp_camera_driver.check(d, msg, sizeof msg), TP_OK);
    assert_int_equal(tp_camera_driver.open(d, 0, msg, sizeof msg), TP_ERR_NOT_FOUND);
    assert_non_null(strstr(msg, "/dev/video-tillpoints-test-absent is not there"));
    assert_int_equal(tp_camera_driver.fd(d, &ev), -1);
    assert_int_equal(tp_camera_driver.deadline(d), -1);
    assert_int_equal(tp_camera_driver.health(d, msg, sizeof msg), TP_ERR_STATE);
    assert_non_null(strstr(msg, "not open"));
    tp_camera_driver.tick(d, 5);
    tp_camera_driver.close(d);
    tp_camera_driver.close(d);
    tp_camera_driver.destroy(d);
    tp_camera_driver.destroy(NULL);
}

static void camera_open_on_a_node_that_is_not_a_camera_is_refused(void **state)
{
    recorder r;
    tp_driver *d = camera_with(&r, "/dev/null");
    char msg[256];
    tp_status st;

    (void)state;
    st = tp_camera_driver.open(d, 0, msg, sizeof msg);
    assert_int_equal(st, TP_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "/dev/null is not a camera"));
    assert_int_equal(tp_camera_driver.fd(d, NULL), -1);
    tp_camera_driver.destroy(d);

    d = camera_with(&r, "/dev/shm");
    assert_int_equal(tp_camera_driver.open(d, 0, msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "not a device node"));
    tp_camera_driver.destroy(d);
}

static void camera_config_errors_name_the_key(void **state)
{
    recorder r;
    tp_driver_sink sink = rec_sink(&r);
    tp_driver *d = tp_camera_driver.create(&sink);
    char msg[256];

    (void)state;
    assert_int_equal(tp_camera_driver.check(d, msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "device = /dev/videoN"));
    assert_int_equal(tp_camera_driver.configure(d, "device", "video0", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "device must be"));
    assert_int_equal(tp_camera_driver.configure(d, "device", "/dev/", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_int_equal(tp_camera_driver.configure(d, "width", "15", msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "width must be"));
    assert_int_equal(tp_camera_driver.configure(d, "height", "lots", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "height must be"));
    assert_int_equal(tp_camera_driver.configure(d, "baud", "9600", msg, sizeof msg),
                     TP_ERR_NOT_FOUND);
    assert_int_equal(tp_camera_driver.configure(d, "symbologies", "aztec", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_int_equal(tp_camera_driver.configure(d, "device", "/dev/video0", msg, sizeof msg), TP_OK);
    assert_int_equal(tp_camera_driver.configure(d, "width", "1280", msg, sizeof msg), TP_OK);
    assert_int_equal(tp_camera_driver.check(d, msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "both width and height"));
    assert_int_equal(tp_camera_driver.configure(d, "height", "720", msg, sizeof msg), TP_OK);
    assert_int_equal(tp_camera_driver.configure(d, "inverted", "yes", msg, sizeof msg), TP_OK);
    assert_int_equal(tp_camera_driver.check(d, msg, sizeof msg), TP_OK);
    /* a symbology this zbar lacks is caught by check(), before any open() */
    assert_int_equal(tp_camera_driver.configure(d, "symbologies", "qr,pdf417", msg, sizeof msg),
                     TP_OK);
    if (tp_camera_driver.check(d, msg, sizeof msg) != TP_OK)
        assert_non_null(strstr(msg, "pdf417"));
    tp_camera_driver.destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qrencode_png_decodes_to_its_text_as_qr),
        cmocka_unit_test(utf8_qr_content_comes_back_byte_exact),
        cmocka_unit_test(qr_with_nul_free_8bit_bytes_keeps_its_length),
        cmocka_unit_test(code128_from_zint_decodes),
        cmocka_unit_test(ean13_from_zint_decodes_with_its_check_digit),
        cmocka_unit_test(camera_scans_carry_the_event_symbology_names),
        cmocka_unit_test(ean8_from_zint_decodes),
        cmocka_unit_test(upca_is_ean13_with_leading_zero_unless_upca_is_enabled),
        cmocka_unit_test(upce_from_zint_decodes_as_eight_digits_when_enabled),
        cmocka_unit_test(pdf417_is_refused_by_name_or_decoded_exactly),
        cmocka_unit_test(refusal_offers_only_symbologies_the_installed_zbar_decodes),
        cmocka_unit_test(symbology_not_configured_is_never_reported),
        cmocka_unit_test(qr_in_a_640x480_grey_frame_decodes),
        cmocka_unit_test(qr_scaled_down_and_up_still_decodes),
        cmocka_unit_test(qr_with_seeded_noise_still_decodes),
        cmocka_unit_test(qr_rotated_still_decodes),
        cmocka_unit_test(ean13_rotated_and_noisy_still_decodes),
        cmocka_unit_test(blank_noisy_frames_give_no_event_even_with_every_symbology),
        cmocka_unit_test(light_on_dark_qr_needs_inverted_yes),
        cmocka_unit_test(same_code_in_five_consecutive_frames_counts_once),
        cmocka_unit_test(code_absent_for_rearm_frames_then_present_counts_twice),
        cmocka_unit_test(flicker_shorter_than_rearm_frames_counts_once),
        cmocka_unit_test(code_unseen_for_rearm_ms_counts_again_without_frames_between),
        cmocka_unit_test(two_codes_in_one_frame_give_two_events_once),
        cmocka_unit_test(reset_makes_a_code_in_view_count_again),
        cmocka_unit_test(gtin_check_digits_are_verified),
        cmocka_unit_test(bad_config_values_are_refused_with_a_sentence),
        cmocka_unit_test(decode_frame_refuses_bad_dimensions),
        cmocka_unit_test(png_with_transparent_background_is_composited_on_white),
        cmocka_unit_test(pgm_and_ppm_load_as_the_expected_grey),
        cmocka_unit_test(damaged_or_unknown_images_are_refused_with_a_sentence),
        cmocka_unit_test(huge_declared_size_is_refused_before_allocating),
        cmocka_unit_test(camera_open_without_the_device_node_is_not_found_with_a_sentence),
        cmocka_unit_test(camera_open_on_a_node_that_is_not_a_camera_is_refused),
        cmocka_unit_test(camera_config_errors_name_the_key),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
