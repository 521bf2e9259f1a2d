/*
 * bench_zbar.c — what the camera driver's decode path costs on top of zbar.
 *
 * One QR code (made by `qrencode -s 4`, run once at start-up, loaded with
 * tp_image_load) is placed in the middle of a mid-grey frame of 640x480
 * and of 1280x720. Each frame is then decoded N times by:
 *
 *  - ours: tp_zbar_decode_frame() with symbologies = qr (the plugin's
 *    path: argument checks, zbar, label checks, the in-view table, the
 *    sink call);
 *  - bare: zbar_scan_image() on a zbar image scanner configured the same
 *    way (every decoder off, QR on, ZBAR_CFG_BINARY), reading each symbol's
 *    type, data and length, then recycling the image — the least a caller
 *    of zbar has to do;
 *  - bare, zbar defaults: zbar_scan_image() with zbar's default config
 *    (most 1-D decoders and QR on), for context: what enabling only the
 *    configured symbologies saves. No target.
 *
 * The three are interleaved frame by frame (ours, bare, default, ours, ...)
 * so that clock-frequency drift hits them alike; each call is timed with
 * CLOCK_MONOTONIC and the median is reported. The overhead target is
 * ours/bare <= 1.10 on the medians. A run is valid only if every bare scan
 * found the QR and ours reported it exactly once (it stays in view).
 *
 * usage: bench_zbar [--quick] [--n N]     (default N 200, --quick 20)
 * Exit status 0 when the measurement ran and the checks passed, whatever
 * the verdicts; 1 otherwise. Progress goes to stderr, the table to stdout.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zbar.h>

#include "camera.h"
#include "bench.h"

#define N_DEFAULT 200
#define N_QUICK 20
#define TARGET_OVERHEAD 1.10
#define QR_TEXT "TP-MEMBER-0001234567"

static double median_ms(int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_i64);
    return (double)v[n / 2] / 1e6;
}

/* Runs qrencode (the bench may fork; the plugin never does) and loads the PNG. */
static int make_qr(tp_image *qr)
{
    char dir[] = "/tmp/tillpoints-bench-zbar-XXXXXX", path[96], msg[256];
    pid_t pid;
    int status = 0;
    tp_status st;

    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench_zbar: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/qr.png", dir);
    pid = fork();
    if (pid == 0) {
        execlp("qrencode", "qrencode", "-s", "4", "-o", path, QR_TEXT, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_zbar: qrencode failed (is the qrencode package installed?)\n");
        rmdir(dir);
        return -1;
    }
    st = tp_image_load(path, qr, msg, sizeof msg);
    unlink(path);
    rmdir(dir);
    if (st != TP_OK) {
        fprintf(stderr, "bench_zbar: %s\n", msg);
        return -1;
    }
    return 0;
}

static uint8_t *frame_with(const tp_image *qr, int w, int h)
{
    uint8_t *f = malloc((size_t)w * h);
    int x0 = (w - qr->width) / 2, y0 = (h - qr->height) / 2;

    if (f == NULL || x0 < 0 || y0 < 0) {
        free(f);
        return NULL;
    }
    memset(f, 128, (size_t)w * h);
    for (int y = 0; y < qr->height; y++)
        memcpy(f + (size_t)(y0 + y) * w + x0, qr->y800 + (size_t)y * qr->width, (size_t)qr->width);
    return f;
}

typedef struct counter {
    long events;
} counter;

static void count_data(void *user, const tp_scan_data *s)
{
    counter *c = user;

    if (s->len == strlen(QR_TEXT) && memcmp(s->data, QR_TEXT, s->len) == 0)
        c->events++;
}

/* zbar_scan_image on the frame; returns how many symbols had our text. */
static int bare_scan(zbar_image_scanner_t *sc, zbar_image_t *img, const uint8_t *f, int w, int h)
{
    int found = 0;

    zbar_image_set_size(img, (unsigned)w, (unsigned)h);
    zbar_image_set_data(img, f, (unsigned long)w * h, NULL);
    if (zbar_scan_image(sc, img) < 0)
        return -1;
    for (const zbar_symbol_t *s = zbar_image_first_symbol(img); s; s = zbar_symbol_next(s)) {
        unsigned len = zbar_symbol_get_data_length(s);

        if (zbar_symbol_get_type(s) == ZBAR_QRCODE && len == strlen(QR_TEXT) &&
            memcmp(zbar_symbol_get_data(s), QR_TEXT, len) == 0)
            found++;
    }
    zbar_image_scanner_recycle_image(sc, img);
    return found;
}

static void row(const char *figure, const char *value, const char *unit, const char *target,
                const char *ratio, const char *verdict)
{
    printf("%-40s %12s  %-10s %-10s %-9s %s\n", figure, value, unit, target, ratio, verdict);
}

static void row_ms(const char *figure, double v, const char *ratio)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%.3f", v);
    row(figure, buf, "ms/frame", "-", ratio, "-");
}

typedef struct result {
    double ours, bare, dflt;
    int ok;
} result;

static result run_size(const tp_image *qr, int w, int h, size_t n)
{
    result r = {0, 0, 0, 0};
    uint8_t *f = frame_with(qr, w, h);
    int64_t *t_ours = calloc(n, sizeof *t_ours), *t_bare = calloc(n, sizeof *t_bare),
            *t_dflt = calloc(n, sizeof *t_dflt);
    zbar_image_scanner_t *bare = zbar_image_scanner_create(), *dflt = zbar_image_scanner_create();
    zbar_image_t *img = zbar_image_create();
    tp_zbar_decoder *dec = NULL;
    tp_zbar_config cfg;
    counter c = {0};
    tp_driver_sink sink = {.user = &c, .on_data = count_data};
    char msg[256];
    long bare_found = 0, dflt_found = 0;
    tp_zbar_stats st;

    tp_zbar_config_default(&cfg);
    if (f == NULL || !t_ours || !t_bare || !t_dflt || !bare || !dflt || !img ||
        tp_zbar_config_set(&cfg, "symbologies", "qr", msg, sizeof msg) != TP_OK ||
        tp_zbar_decoder_create(&cfg, &dec, msg, sizeof msg) != TP_OK) {
        fprintf(stderr, "bench_zbar: setup failed for %dx%d %s\n", w, h, msg);
        goto out;
    }
    zbar_image_set_format(img, zbar_fourcc('Y', '8', '0', '0'));
    zbar_image_scanner_set_config(bare, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
    zbar_image_scanner_set_config(bare, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
    zbar_image_scanner_set_config(bare, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1);

    fprintf(stderr, "bench_zbar: %dx%d, %zu frames each, interleaved\n", w, h, n);
    for (size_t i = 0; i < n + 3; i++) { /* the first 3 rounds warm up, untimed */
        int64_t t0 = bench_now_ns(), t1, t2, t3;
        int b, d;

        if (tp_zbar_decode_frame(dec, f, w, h, (int64_t)i * 33, &sink) != TP_OK)
            goto out;
        t1 = bench_now_ns();
        b = bare_scan(bare, img, f, w, h);
        t2 = bench_now_ns();
        d = bare_scan(dflt, img, f, w, h);
        t3 = bench_now_ns();
        if (i < 3)
            continue;
        t_ours[i - 3] = t1 - t0;
        t_bare[i - 3] = t2 - t1;
        t_dflt[i - 3] = t3 - t2;
        bare_found += b == 1;
        dflt_found += d == 1;
    }
    tp_zbar_decoder_get_stats(dec, &st);
    r.ours = median_ms(t_ours, n);
    r.bare = median_ms(t_bare, n);
    r.dflt = median_ms(t_dflt, n);
    r.ok = c.events == 1 && st.symbols == n + 3 && bare_found == (long)n && dflt_found == (long)n;
    if (!r.ok)
        fprintf(stderr,
                "bench_zbar: %dx%d check failed: ours %ld events / %llu symbols, bare found "
                "%ld/%zu, default found %ld/%zu\n",
                w, h, c.events, (unsigned long long)st.symbols, bare_found, n, dflt_found, n);
out:
    zbar_image_set_data(img, NULL, 0, NULL);
    zbar_image_destroy(img);
    if (bare)
        zbar_image_scanner_destroy(bare);
    if (dflt)
        zbar_image_scanner_destroy(dflt);
    tp_zbar_decoder_destroy(dec);
    free(t_ours);
    free(t_bare);
    free(t_dflt);
    free(f);
    return r;
}

int main(int argc, char **argv)
{
    static const int sizes[2][2] = {{640, 480}, {1280, 720}};
    size_t n = N_DEFAULT;
    tp_image qr;
    int ok = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            n = N_QUICK;
        } else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            char *end = NULL;
            unsigned long v = strtoul(argv[++i], &end, 10);

            if (end == NULL || *end != '\0' || v < 1 || v > 100000 || argv[i][0] == '-') {
                fprintf(stderr, "bench_zbar: --n wants a count from 1 to 100000\n");
                return 1;
            }
            n = v;
        } else {
            fprintf(stderr, "usage: bench_zbar [--quick] [--n N]\n");
            return 1;
        }
    }
    if (make_qr(&qr) != 0)
        return 1;
    printf("bench_zbar: QR %dx%d px (\"%s\", qrencode -s 4) in a grey frame, %zu frames per "
           "path, medians\n",
           qr.width, qr.height, QR_TEXT, n);
    row("figure", "value", "unit", "target", "ratio", "verdict");
    row("------", "-----", "----", "------", "-----", "-------");
    for (int s = 0; s < 2; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        result r = run_size(&qr, w, h, n);
        char fig[64], ratio[32], val[32];
        double ov = r.bare > 0 ? r.ours / r.bare : 0;

        ok &= r.ok;
        snprintf(fig, sizeof fig, "%dx%d tp_zbar_decode_frame", w, h);
        snprintf(ratio, sizeof ratio, "%.3f", ov);
        row_ms(fig, r.ours, ratio);
        snprintf(fig, sizeof fig, "%dx%d bare zbar_scan_image (qr)", w, h);
        row_ms(fig, r.bare, "1.000");
        snprintf(fig, sizeof fig, "%dx%d bare, zbar default config", w, h);
        snprintf(ratio, sizeof ratio, "%.3f", r.bare > 0 ? r.dflt / r.bare : 0);
        row_ms(fig, r.dflt, ratio);
        snprintf(fig, sizeof fig, "%dx%d overhead ours/bare", w, h);
        snprintf(val, sizeof val, "%.3f", ov);
        row(fig, val, "x", "<= 1.10", val,
            !r.ok ? "INVALID" : ov <= TARGET_OVERHEAD ? "ok" : "MISSED");
    }
    tp_image_free(&qr);
    return ok ? 0 : 1;
}
