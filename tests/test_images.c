/*
 * test_images.c — pins down the image extension (plugin/images.c,
 * include/tillpoints/ext/images.h) through a plugin instance, as a host
 * calls it: pictures made at test time by independent encoders (qrencode,
 * zint; run with fork/exec from this test), handed over as PNG bytes or,
 * unpacked here with libpng's own reader, as a raw grey frame with padded
 * rows. Expected codes are the strings handed to the encoders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "tillpoints/ext/images.h"

#define CANARY 0xA5

typedef struct picture {
    unsigned char *bytes; /* the PNG file */
    size_t len;
} picture;

static picture read_file(const char *path)
{
    picture p = {NULL, 0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    p.bytes = malloc((size_t)n);
    assert_non_null(p.bytes);
    assert_int_equal(fread(p.bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    p.len = (size_t)n;
    return p;
}

/* qrencode -s 4 -o DIR/qr.png TEXT */
static picture qr_png(const tu_host *h, const char *text)
{
    char path[400];
    snprintf(path, sizeof path, "%s/qr.png", h->dir);
    char *argv[] = {"qrencode", "-s", "4", "-o", path, (char *)text, NULL};
    tu_run_quiet(argv);
    return read_file(path);
}

/* zint -b TYPE --scale=2 -d DATA -o DIR/zint.png */
static picture zint_png(const tu_host *h, const char *type, const char *data)
{
    char path[400];
    snprintf(path, sizeof path, "%s/zint.png", h->dir);
    char *argv[] = {"zint", "-b", (char *)type, "--scale=2", "-d", (char *)data, "-o", path, NULL};
    tu_run_quiet(argv);
    return read_file(path);
}

static const tp_images_ext *images_of(const tu_host *h)
{
    const tp_images_ext *x = h->plugin->get_extension(h->plugin, TP_EXT_IMAGES);
    assert_non_null(x);
    assert_true(TP_HAS_FIELD(x, tp_images_ext, decode_png));
    return x;
}

static tp_status png_verdict(const tu_host *h, const picture *p, tp_image_result *r,
                             tp_message *msg)
{
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    return images_of(h)->decode_png(h->plugin, p->bytes, p->len, r, msg);
}

static void qr_of_a_member_code_reads_as_that_member_and_qr(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    picture p = qr_png(h, "MEMBER-0042");
    tp_image_result r;
    tp_message msg;
    assert_int_equal(png_verdict(h, &p, &r, &msg), TP_OK);
    assert_int_equal(r.struct_size, sizeof r);
    assert_int_equal(r.verdict, TP_IMAGE_MEMBER);
    assert_int_equal(r.refusal, TP_OK);
    assert_int_equal(r.codes, 1);
    assert_string_equal(r.member_code, "MEMBER-0042");
    assert_string_equal(r.symbology, "qr");
    assert_non_null(strstr(r.message, "MEMBER-0042"));
    free(p.bytes);
    tu_stop(h, 1);
}

static void ean13_card_reads_with_its_check_digit(void **state)
{
    (void)state;
    tu_host *h = tu_start("[scan]\ncheck_digit = ean13\n");
    /* zint adds the check digit: 590123412345 -> 5901234123457. */
    picture p = zint_png(h, "13", "590123412345");
    tp_image_result r;
    tp_message msg;
    assert_int_equal(png_verdict(h, &p, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_MEMBER);
    assert_string_equal(r.member_code, "5901234123457");
    assert_string_equal(r.symbology, "ean13");
    free(p.bytes);
    tu_stop(h, 1);
}

/* The PNG unpacked to 8-bit grey by libpng itself, into rows of
 * `bytes_per_row` bytes (padding filled with a pattern the decoder must
 * never read as picture). */
static uint8_t *grey_rows(const picture *p, uint32_t pad, uint32_t *w, uint32_t *hgt,
                          uint32_t *bytes_per_row)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_memory(&img, p->bytes, p->len));
    img.format = PNG_FORMAT_GRAY;
    *w = img.width;
    *hgt = img.height;
    *bytes_per_row = img.width + pad;
    uint8_t *buf = malloc((size_t)*bytes_per_row * img.height);
    assert_non_null(buf);
    memset(buf, 0x00, (size_t)*bytes_per_row * img.height);
    assert_true(png_image_finish_read(&img, NULL, buf, (png_int_32)*bytes_per_row, NULL));
    png_image_free(&img);
    return buf;
}

static void a_grey_frame_with_padded_rows_reads_as_the_member(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    picture p = qr_png(h, "CARD-7781");
    uint32_t w, hgt, bpr;
    uint8_t *px = grey_rows(&p, 37, &w, &hgt, &bpr);
    tp_grey_frame f = {.struct_size = sizeof f, .width = w, .height = hgt, .bytes_per_row = bpr,
                       .pixels = px};
    tp_image_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    tp_message msg;
    assert_int_equal(images_of(h)->decode_grey(h->plugin, &f, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_MEMBER);
    assert_string_equal(r.member_code, "CARD-7781");
    assert_string_equal(r.symbology, "qr");
    /* The same frame packed (bytes_per_row == width) reads the same. */
    for (uint32_t row = 0; row < hgt; row++)
        memmove(px + (size_t)row * w, px + (size_t)row * bpr, w);
    f.bytes_per_row = w;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    assert_int_equal(images_of(h)->decode_grey(h->plugin, &f, &r, &msg), TP_OK);
    assert_string_equal(r.member_code, "CARD-7781");
    free(px);
    free(p.bytes);
    tu_stop(h, 1);
}

static void a_blank_frame_says_no_code_was_found(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    static uint8_t white[320 * 240];
    memset(white, 0xFF, sizeof white);
    tp_grey_frame f = {.struct_size = sizeof f, .width = 320, .height = 240,
                       .bytes_per_row = 320, .pixels = white};
    tp_image_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    tp_message msg;
    assert_int_equal(images_of(h)->decode_grey(h->plugin, &f, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_NO_CODE);
    assert_int_equal(r.codes, 0);
    assert_string_equal(r.member_code, "");
    assert_string_equal(r.symbology, "");
    assert_non_null(strstr(r.message, "No barcode was found"));
    tu_stop(h, 1);
}

static void a_code_that_is_no_loyalty_code_is_refused_with_the_scanners_reason(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    picture p = qr_png(h, "TPR1|STORE-1|R-1001|00000000");
    tp_image_result r;
    tp_message msg;
    assert_int_equal(png_verdict(h, &p, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_REFUSED);
    assert_int_equal(r.refusal, TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(r.member_code, "");
    assert_string_equal(r.symbology, "qr");
    assert_true(strlen(r.message) > 10);
    free(p.bytes);
    /* A link when the store takes none. */
    p = qr_png(h, "https://loyalty.example.com/m/ABC-123");
    assert_int_equal(png_verdict(h, &p, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_REFUSED);
    assert_int_not_equal(r.refusal, TP_OK);
    assert_true(strlen(r.message) > 10);
    free(p.bytes);
    tu_stop(h, 1);
}

static void a_link_qr_reads_as_the_code_in_it_under_url_pattern(void **state)
{
    (void)state;
    tu_host *h = tu_start("[scan]\nurl_pattern = https://loyalty.example.com/m/{code}\n");
    picture p = qr_png(h, "https://loyalty.example.com/m/ABC-123?utm=app");
    tp_image_result r;
    tp_message msg;
    assert_int_equal(png_verdict(h, &p, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_MEMBER);
    assert_string_equal(r.member_code, "ABC-123");
    assert_string_equal(r.symbology, "qr");
    free(p.bytes);
    /* Another store's link is refused. */
    p = qr_png(h, "https://other.example.org/m/ABC-123");
    assert_int_equal(png_verdict(h, &p, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_REFUSED);
    assert_string_equal(r.member_code, "");
    free(p.bytes);
    tu_stop(h, 1);
}

static tp_status grey_verdict(const tu_host *h, const uint8_t *px, uint32_t w, uint32_t hgt,
                              uint32_t bpr, tp_image_result *r)
{
    tp_grey_frame f = {.struct_size = sizeof f, .width = w, .height = hgt, .bytes_per_row = bpr,
                       .pixels = px};
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    tp_message msg;
    return images_of(h)->decode_grey(h->plugin, &f, r, &msg);
}

static void two_different_member_codes_in_one_picture_are_refused(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    picture a = qr_png(h, "MEMBER-0001"), b = qr_png(h, "MEMBER-0002");
    uint32_t wa, ha, ba, wb, hb, bb;
    uint8_t *pa = grey_rows(&a, 0, &wa, &ha, &ba), *pb = grey_rows(&b, 0, &wb, &hb, &bb);
    /* Side by side on white, as two cards on a counter. */
    uint32_t w = wa + 40 + wb, hgt = ha > hb ? ha : hb;
    uint8_t *both = malloc((size_t)w * hgt);
    assert_non_null(both);
    memset(both, 0xFF, (size_t)w * hgt);
    for (uint32_t row = 0; row < ha; row++)
        memcpy(both + (size_t)row * w, pa + (size_t)row * ba, wa);
    for (uint32_t row = 0; row < hb; row++)
        memcpy(both + (size_t)row * w + wa + 40, pb + (size_t)row * bb, wb);
    tp_image_result r;
    assert_int_equal(grey_verdict(h, both, w, hgt, w, &r), TP_OK);
    assert_int_equal(r.codes, 2);
    assert_int_equal(r.verdict, TP_IMAGE_REFUSED);
    assert_int_equal(r.refusal, TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(r.member_code, "");
    assert_non_null(strstr(r.message, "MEMBER-0001"));
    assert_non_null(strstr(r.message, "MEMBER-0002"));
    /* The same card twice is one customer. */
    for (uint32_t row = 0; row < ha; row++)
        memcpy(both + (size_t)row * w + wa + 40, pa + (size_t)row * ba, wa);
    assert_int_equal(grey_verdict(h, both, w, hgt, w, &r), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_MEMBER);
    assert_string_equal(r.member_code, "MEMBER-0001");
    free(both);
    free(pa);
    free(pb);
    free(a.bytes);
    free(b.bytes);
    tu_stop(h, 1);
}

static void the_camera_scanners_symbologies_are_the_ones_read(void **state)
{
    (void)state;
    /* A store whose camera reads QR codes only: an EAN-13 card is not
     * read from a picture either. (No such device here: the scanner is
     * offline, which does not matter to pictures.) */
    tu_host *h = tu_start("[scanner \"door\"]\ndriver = camera\ndevice = /dev/video-none\n"
                          "symbologies = qr\n");
    picture p = zint_png(h, "13", "590123412345");
    tp_image_result r;
    tp_message msg;
    assert_int_equal(png_verdict(h, &p, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_NO_CODE);
    free(p.bytes);
    p = qr_png(h, "MEMBER-0042");
    assert_int_equal(png_verdict(h, &p, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_MEMBER);
    free(p.bytes);
    tu_stop(h, 1);
}

static void require_signed_all_refuses_a_plain_card_as_the_till_does(void **state)
{
    (void)state;
    /* RFC 8032 test 1's public key: any valid key will do. */
    tu_host *h = tu_start("[scan]\ntoken_public_key = "
                          "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n"
                          "require_signed = all\n");
    picture p = qr_png(h, "MEMBER-0042");
    tp_image_result r;
    tp_message msg;
    assert_int_equal(png_verdict(h, &p, &r, &msg), TP_OK);
    assert_int_equal(r.verdict, TP_IMAGE_REFUSED);
    assert_int_equal(r.refusal, TP_ERR_UNSUPPORTED);
    assert_non_null(strstr(r.message, "app"));
    free(p.bytes);
    tu_stop(h, 1);
}

/* Calls decode_grey on a bad frame and checks the status, that a sentence
 * came back and that the answer struct was not touched. */
static void grey_refused(const tu_host *h, const tp_grey_frame *f, tp_status want,
                         const char *says)
{
    struct {
        tp_image_result r;
        unsigned char after[16];
    } buf;
    memset(&buf, CANARY, sizeof buf);
    buf.r.struct_size = sizeof buf.r;
    tp_message msg;
    assert_int_equal(images_of(h)->decode_grey(h->plugin, f, &buf.r, &msg), want);
    if (!strstr(msg.text, says))
        fail_msg("\"%s\" does not say \"%s\"", msg.text, says);
    assert_int_equal(buf.r.struct_size, sizeof buf.r);
    const unsigned char *raw = (const unsigned char *)&buf.r.verdict;
    for (size_t i = 0; i < sizeof buf - sizeof buf.r.struct_size; i++)
        assert_int_equal(raw[i], CANARY);
}

static void frames_beyond_the_limits_or_malformed_are_refused_with_a_sentence(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    static uint8_t px[64 * 64];
    memset(px, 0xFF, sizeof px);
    tp_grey_frame f = {.struct_size = sizeof f, .width = TP_IMAGE_SIDE_MAX + 1, .height = 1,
                       .bytes_per_row = TP_IMAGE_SIDE_MAX + 1, .pixels = px};
    grey_refused(h, &f, TP_ERR_TOO_LONG, "pixels a side");
    f.width = TP_IMAGE_SIDE_MAX;
    f.height = TP_IMAGE_SIDE_MAX; /* each side allowed, 16 Mpixel in all is not */
    f.bytes_per_row = TP_IMAGE_SIDE_MAX;
    grey_refused(h, &f, TP_ERR_TOO_LONG, "pixels in all");
    f.width = 64;
    f.height = 64;
    f.bytes_per_row = 63;
    grey_refused(h, &f, TP_ERR_INVALID_ARGUMENT, "bytes_per_row (63)");
    f.bytes_per_row = 64;
    f.height = 0;
    grey_refused(h, &f, TP_ERR_INVALID_ARGUMENT, "no picture");
    f.height = 64;
    f.pixels = NULL;
    grey_refused(h, &f, TP_ERR_INVALID_ARGUMENT, "no pixels");
    f.pixels = px;
    f.struct_size = 8; /* smaller than the struct ever was */
    grey_refused(h, &f, TP_ERR_INVALID_ARGUMENT, "sizeof(tp_grey_frame)");
    grey_refused(h, NULL, TP_ERR_INVALID_ARGUMENT, "No frame");
    /* An answer struct that is too small is refused before anything. */
    f.struct_size = sizeof f;
    tp_image_result small;
    memset(&small, 0, sizeof small);
    small.struct_size = 12;
    tp_message msg;
    assert_int_equal(images_of(h)->decode_grey(h->plugin, &f, &small, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "sizeof(tp_image_result)"));
    tu_stop(h, 1);
}

static void pngs_cut_short_damaged_or_too_big_are_refused_with_a_sentence(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    picture p = qr_png(h, "MEMBER-0042");
    tp_image_result r;
    tp_message msg;
    picture cut = {p.bytes, p.len / 2};
    assert_int_equal(png_verdict(h, &cut, &r, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_true(strlen(msg.text) > 10);
    cut.len = 20; /* inside the header */
    assert_int_equal(png_verdict(h, &cut, &r, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "cut short"));
    picture text = {(unsigned char *)"GIF89a not a png at all", 23};
    assert_int_equal(png_verdict(h, &text, &r, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "not a PNG"));
    assert_int_equal(images_of(h)->decode_png(h->plugin, p.bytes, TP_IMAGE_PNG_MAX + 1u, &r,
                                              &msg),
                     TP_ERR_TOO_LONG);
    assert_non_null(strstr(msg.text, "bytes"));
    /* A header that claims 20000 x 20000 pixels: refused before libpng
     * would unpack it. */
    unsigned char *big = malloc(p.len);
    assert_non_null(big);
    memcpy(big, p.bytes, p.len);
    const unsigned char side[4] = {0x00, 0x00, 0x4E, 0x20};
    memcpy(big + 16, side, 4);
    memcpy(big + 20, side, 4);
    picture huge = {big, p.len};
    assert_int_equal(png_verdict(h, &huge, &r, &msg), TP_ERR_TOO_LONG);
    assert_non_null(strstr(msg.text, "20000 x 20000"));
    free(big);
    free(p.bytes);
    tu_stop(h, 1);
}

static void a_call_without_an_instance_is_refused_with_a_sentence(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    picture p = qr_png(h, "MEMBER-0042");
    const tp_images_ext *x = images_of(h);
    tp_plugin *fake = NULL; /* no instance at all */
    tp_image_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    tp_message msg;
    assert_int_equal(x->decode_png(fake, p.bytes, p.len, &r, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_true(strlen(msg.text) > 0);
    free(p.bytes);
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qr_of_a_member_code_reads_as_that_member_and_qr),
        cmocka_unit_test(ean13_card_reads_with_its_check_digit),
        cmocka_unit_test(a_grey_frame_with_padded_rows_reads_as_the_member),
        cmocka_unit_test(a_blank_frame_says_no_code_was_found),
        cmocka_unit_test(a_code_that_is_no_loyalty_code_is_refused_with_the_scanners_reason),
        cmocka_unit_test(a_link_qr_reads_as_the_code_in_it_under_url_pattern),
        cmocka_unit_test(two_different_member_codes_in_one_picture_are_refused),
        cmocka_unit_test(the_camera_scanners_symbologies_are_the_ones_read),
        cmocka_unit_test(require_signed_all_refuses_a_plain_card_as_the_till_does),
        cmocka_unit_test(frames_beyond_the_limits_or_malformed_are_refused_with_a_sentence),
        cmocka_unit_test(pngs_cut_short_damaged_or_too_big_are_refused_with_a_sentence),
        cmocka_unit_test(a_call_without_an_instance_is_refused_with_a_sentence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
