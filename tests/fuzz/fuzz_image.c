/*
 * fuzz_image.c — libFuzzer target for the still-image reader in
 * drivers/camera.c (tp_image_decode: PNG through libpng, binary PGM/PPM
 * through our own bounded reader) and, for small pictures, the zbar decode
 * path behind it.
 *
 * Checked on every input (violations are __builtin_trap()):
 *  - TP_OK gives a pixel buffer and 1..TP_CAMERA_MAX_SIDE sides within
 *    TP_CAMERA_MAX_PIXELS, and every pixel can be read (ASan sees
 *    overruns); any other status leaves the image zeroed and a non-empty,
 *    NUL-terminated sentence.
 *  - Images of at most 64x64 pixels go through tp_zbar_decode_frame with
 *    every symbology zbar here can decode and inverted=yes: every reported
 *    label is 1..TP_CAMERA_MAX_LABEL bytes, NUL-terminated, of an enabled
 *    symbology, and EAN/UPC labels pass the check-digit test.
 * Seeds: tests/fuzz/corpus/image/ (PNG in several colour types, bit
 * depths, tRNS and interlacing; PGM, PPM, 16-bit PGM).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camera.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

static void on_data(void *user, const tp_scan_data *s)
{
    (void)user;
    CHECK(s->data != NULL && s->len >= 1 && s->len <= TP_CAMERA_MAX_LABEL);
    CHECK(s->data[s->len] == '\0');
    CHECK(s->symbology != TP_SYM_UNKNOWN && s->symbology != TP_SYM_PDF417);
    if (s->symbology == TP_SYM_EAN13 || s->symbology == TP_SYM_EAN8 ||
        s->symbology == TP_SYM_UPCA || s->symbology == TP_SYM_UPCE)
        CHECK(tp_gtin_check_ok(s->symbology, s->data, s->len));
}

static void on_error(void *user, const char *sentence)
{
    (void)user;
    CHECK(sentence != NULL && sentence[0] != '\0');
}

/* libFuzzer calls these; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tp_zbar_decoder *dec; /* one per process: creating it is slow */
    tp_image im;
    char msg[TP_MESSAGE_MAX + 1];
    tp_status st;

    memset(msg, 'x', sizeof msg);
    st = tp_image_decode(data, size, &im, msg, sizeof msg);
    CHECK(memchr(msg, '\0', sizeof msg) != NULL);
    if (st != TP_OK) {
        CHECK(im.y800 == NULL && im.width == 0 && im.height == 0);
        CHECK(msg[0] != '\0');
        return 0;
    }
    CHECK(im.y800 != NULL);
    CHECK(im.width >= 1 && im.width <= TP_CAMERA_MAX_SIDE);
    CHECK(im.height >= 1 && im.height <= TP_CAMERA_MAX_SIDE);
    CHECK((long)im.width * im.height <= TP_CAMERA_MAX_PIXELS);
    {
        volatile unsigned sum = 0;

        for (size_t i = 0; i < (size_t)im.width * im.height; i++)
            sum += im.y800[i];
        (void)sum;
    }
    if ((long)im.width * im.height <= 64 * 64) {
        if (dec == NULL) {
            tp_zbar_config cfg;

            tp_zbar_config_default(&cfg);
            CHECK(tp_zbar_config_set(&cfg, "symbologies",
                                     "qr,ean13,ean8,upca,upce,code128,code39,code93,i25,"
                                     "databar,codabar",
                                     msg, sizeof msg) == TP_OK);
            CHECK(tp_zbar_config_set(&cfg, "inverted", "yes", msg, sizeof msg) == TP_OK);
            CHECK(tp_zbar_decoder_create(&cfg, &dec, msg, sizeof msg) == TP_OK);
        }
        static int64_t clock_ms;
        tp_driver_sink sink = {.user = NULL, .on_data = on_data, .on_error = on_error};
        CHECK(tp_zbar_decode_frame(dec, im.y800, im.width, im.height, clock_ms += 1000, &sink) ==
              TP_OK);
    }
    tp_image_free(&im);
    CHECK(im.y800 == NULL);
    return 0;
}
