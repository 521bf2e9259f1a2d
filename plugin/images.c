/*
 * images.c — the image extension (ext/images.h): a host's picture through
 * the camera driver's decoder (drivers/camera.h) and the scanner path's
 * payload rules (payload.h).
 *
 * The decoder and the PNG reader are the camera module's
 * (tillpoints-camera.so, loaded on the first picture; plugin/module.h):
 * a till without it answers TP_ERR_UNSUPPORTED with the loader's sentence
 * and everything else keeps working.
 *
 * Each call builds its own zbar decoder, so calls on different threads
 * share nothing but the instance's config, which is read-only after init.
 * A fresh decoder counts every code it sees (its "still in view" memory is
 * for camera streams), and no dedup window applies: each picture is
 * judged on its own, and nothing is recorded.
 *
 * Sizes are checked before any pixel is read or allocated: a PNG's header
 * names its width and height, so a small file that unpacks into a huge
 * picture is refused before libpng inflates it.
 */
#include "images.h"

#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "camera.h"
#include "instance.h"
#include "module.h"
#include "payload.h"
#include "util.h"

#define CODES_KEPT 8 /* codes of one picture that are judged; more are counted */

typedef struct found {
    tp_symbology sym;
    char aim[4];
    char data[TP_CAMERA_MAX_LABEL + 1];
    size_t len;
} found;

typedef struct collect {
    found codes[CODES_KEPT];
    uint32_t n;        /* codes reported, also beyond CODES_KEPT */
    uint32_t dropped;  /* symbols the decoder refused (check digit, length) */
    char dropped_why[TP_MESSAGE_MAX + 1];
} collect;

static void on_code(void *user, const tp_scan_data *scan)
{
    collect *c = user;
    if (c->n < CODES_KEPT && scan->len <= TP_CAMERA_MAX_LABEL) {
        found *f = &c->codes[c->n];
        f->sym = scan->symbology;
        tp_copy(f->aim, sizeof f->aim, scan->aim_id);
        memcpy(f->data, scan->data, scan->len);
        f->data[scan->len] = '\0';
        f->len = scan->len;
    }
    c->n++;
}

static void on_dropped(void *user, const char *sentence)
{
    collect *c = user;
    if (!c->dropped++)
        tp_copy(c->dropped_why, sizeof c->dropped_why, sentence);
}

/* The decoder settings: every camera scanner's symbologies together (a
 * section whose value its driver refuses is left out: the scanner thread
 * reports it), else the camera driver's default. */
static void decoder_config(const tp_camera_api *cam, const tp_config *cfg, tp_zbar_config *out)
{
    cam->zbar_config_default(out);
    uint32_t syms = 0;
    int cameras = 0;
    for (int i = 0; i < cfg->n_scanners; i++) {
        const tp_scanner_config *sc = &cfg->scanners[i];
        if (strcmp(sc->driver, "camera") != 0)
            continue;
        tp_zbar_config one;
        cam->zbar_config_default(&one);
        int refused = 0;
        for (int k = 0; k < sc->n_keys; k++)
            if (strcmp(sc->key[k], "symbologies") == 0 || strcmp(sc->key[k], "inverted") == 0)
                refused |= cam->zbar_config_set(&one, sc->key[k], sc->value[k], NULL, 0) != TP_OK;
        if (refused)
            continue;
        syms |= one.symbologies;
        out->inverted = out->inverted || one.inverted;
        cameras++;
    }
    if (cameras && syms)
        out->symbologies = syms;
}

/* What the till does with one code a scanner read (the scanner thread's
 * rule, plugin/scanners.c): the payload parser, then require_signed for a
 * member not known yet; a receipt code is not a member code. */
static tp_status judge(const tp_config *cfg, const found *f, tp_payload *pl, char *why,
                       size_t cap)
{
    tp_status st = tp_payload_parse(&cfg->scan, f->data, f->len, tp_now_ms(), pl, why, cap);
    if (st == TP_OK && pl->kind != TP_PAYLOAD_MEMBER) {
        tp_copy(why, cap, TP_PAYLOAD_NOT_A_MEMBER);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (st == TP_OK)
        st = tp_payload_signed_policy(&cfg->scan, pl->is_signed, NULL, why, cap);
    return st;
}

/* The verdict on the codes of one picture: the first member code, unless
 * the picture holds two different ones (the till cannot know which
 * customer is meant); else the first code's refusal. */
static void verdict(const tp_config *cfg, const collect *c, tp_image_result *r)
{
    r->codes = c->n;
    int member = -1, first_refused = -1;
    tp_status refusal = TP_OK;
    char why[TP_MESSAGE_MAX + 1] = "";
    tp_payload pl, chosen;
    for (uint32_t i = 0; i < c->n && i < CODES_KEPT; i++) {
        char reason[TP_MESSAGE_MAX + 1];
        tp_status st = judge(cfg, &c->codes[i], &pl, reason, sizeof reason);
        if (st != TP_OK) {
            if (first_refused < 0) {
                first_refused = (int)i;
                refusal = st;
                tp_copy(why, sizeof why, reason);
            }
            continue;
        }
        if (member < 0) {
            member = (int)i;
            chosen = pl;
        } else if (strcmp(pl.member_code, chosen.member_code) != 0) {
            r->verdict = TP_IMAGE_REFUSED;
            r->refusal = TP_ERR_INVALID_ARGUMENT;
            tp_buf_set(r->message, sizeof r->message,
                       "The picture shows two member codes, %s and %s; show one card or pass "
                       "at a time.",
                       chosen.member_code, pl.member_code);
            return;
        }
    }
    if (member >= 0) {
        const found *f = &c->codes[member];
        r->verdict = TP_IMAGE_MEMBER;
        r->is_signed = chosen.is_signed;
        tp_copy(r->member_code, sizeof r->member_code, chosen.member_code);
        tp_copy(r->symbology, sizeof r->symbology, tp_symbology_event_name(f->sym, f->aim));
        tp_buf_set(r->message, sizeof r->message, "Read member code %s from the picture.",
                   chosen.member_code);
        return;
    }
    r->verdict = TP_IMAGE_REFUSED;
    if (first_refused >= 0) {
        const found *f = &c->codes[first_refused];
        r->refusal = refusal;
        tp_copy(r->symbology, sizeof r->symbology, tp_symbology_event_name(f->sym, f->aim));
        tp_copy(r->message, sizeof r->message, why);
        return;
    }
    if (c->dropped) {
        r->refusal = TP_ERR_INVALID_ARGUMENT;
        tp_copy(r->message, sizeof r->message, c->dropped_why);
        return;
    }
    r->verdict = TP_IMAGE_NO_CODE;
    tp_buf_set(r->message, sizeof r->message,
               "No barcode was found in the picture; hold the card or phone flat and closer, "
               "out of glare, and take the picture again.");
}

/* Decodes a packed frame (rows of exactly `width` bytes) into *r. */
static tp_status decode_packed(const tp_camera_api *cam, tp_instance *in, const uint8_t *y800,
                               uint32_t width, uint32_t height, tp_image_result *r,
                               tp_message *msg)
{
    tp_zbar_config zc;
    decoder_config(cam, &in->cfg, &zc);
    tp_zbar_decoder *dec = NULL;
    char why[TP_MESSAGE_MAX + 1];
    tp_status st = cam->zbar_decoder_create(&zc, &dec, why, sizeof why);
    if (st != TP_OK) {
        tp_msg_set(msg, "%s", why);
        return st;
    }
    collect *c = calloc(1, sizeof *c);
    if (!c) {
        cam->zbar_decoder_destroy(dec);
        tp_msg_set(msg, "Out of memory while reading the picture.");
        return TP_ERR_NO_MEMORY;
    }
    tp_driver_sink sink = {.user = c, .on_data = on_code, .on_error = on_dropped};
    st = cam->zbar_decode_frame(dec, y800, (int)width, (int)height, 0, &sink);
    cam->zbar_decoder_destroy(dec);
    if (st != TP_OK) {
        free(c);
        tp_msg_set(msg, "The barcode reader failed on this picture; take it again.");
        return st == TP_ERR_INVALID_ARGUMENT ? TP_ERR_INTERNAL : st;
    }
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    verdict(&in->cfg, c, r);
    free(c);
    return TP_OK;
}

/* Width and height against the limits: TP_OK, or a status and sentence. */
static tp_status check_size(uint64_t width, uint64_t height, const char *what, tp_message *msg)
{
    if (width == 0 || height == 0) {
        tp_msg_set(msg, "The %s is %llu x %llu pixels; it has no picture in it.", what,
                   (unsigned long long)width, (unsigned long long)height);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (width > TP_IMAGE_SIDE_MAX || height > TP_IMAGE_SIDE_MAX ||
        width * height > TP_IMAGE_PIXELS_MAX) {
        tp_msg_set(msg,
                   "The %s is %llu x %llu pixels; the limit is %d pixels a side and %d "
                   "pixels in all: scale it down or crop it to the code.",
                   what, (unsigned long long)width, (unsigned long long)height,
                   TP_IMAGE_SIDE_MAX, TP_IMAGE_PIXELS_MAX);
        return TP_ERR_TOO_LONG;
    }
    return TP_OK;
}

/* The preamble both calls share: a ready instance, an answer struct and
 * the camera module. */
static tp_status begin(const tp_plugin *plugin, tp_image_result *out, tp_instance **in,
                       const tp_camera_api **cam, tp_message *msg)
{
    tp_status st = tp_instance_ready(plugin, in, msg);
    if (st != TP_OK)
        return st;
    if (!out) {
        tp_msg_set(msg, "No place for the answer (tp_image_result) was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_abi_check_out(out, TP_MIN_IMAGE_RESULT, "tp_image_result", msg)) != TP_OK)
        return st;
    char why[TP_MESSAGE_MAX];
    *cam = tp_module_api(TP_MODULE_CAMERA, why, sizeof why);
    if (!*cam) {
        tp_msg_set(msg, "This till cannot read pictures: %s", why);
        return TP_ERR_UNSUPPORTED;
    }
    return TP_OK;
}

static tp_status decode_grey(const tp_plugin *plugin, const tp_grey_frame *frame,
                             tp_image_result *out, tp_message *msg)
{
    tp_instance *in;
    const tp_camera_api *cam;
    tp_status st = begin(plugin, out, &in, &cam, msg);
    if (st != TP_OK)
        return st;
    if (!frame) {
        tp_msg_set(msg, "No frame was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_grey_frame f;
    st = tp_abi_read_in(&f, sizeof f, frame, TP_MIN_GREY_FRAME, "tp_grey_frame", msg);
    if (st != TP_OK)
        return st;
    if ((st = check_size(f.width, f.height, "frame", msg)) != TP_OK)
        return st;
    if (!f.pixels) {
        tp_msg_set(msg, "The frame has no pixels (pixels is NULL).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (f.bytes_per_row < f.width) {
        tp_msg_set(msg,
                   "The frame's bytes_per_row (%u) is less than its width (%u); give the "
                   "distance in bytes from one row to the next.",
                   f.bytes_per_row, f.width);
        return TP_ERR_INVALID_ARGUMENT;
    }
    const uint8_t *y800 = f.pixels;
    uint8_t *packed = NULL;
    if (f.bytes_per_row != f.width) {
        packed = malloc((size_t)f.width * f.height);
        if (!packed) {
            tp_msg_set(msg, "Out of memory while reading the frame.");
            return TP_ERR_NO_MEMORY;
        }
        for (uint32_t row = 0; row < f.height; row++)
            memcpy(packed + (size_t)row * f.width, f.pixels + (size_t)row * f.bytes_per_row,
                   f.width);
        y800 = packed;
    }
    tp_image_result r;
    st = decode_packed(cam, in, y800, f.width, f.height, &r, msg);
    free(packed);
    if (st != TP_OK)
        return st;
    tp_abi_write_out(out, &r, sizeof r);
    return TP_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static tp_status decode_png(const tp_plugin *plugin, const void *png, size_t len,
                            tp_image_result *out, tp_message *msg)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    tp_instance *in;
    const tp_camera_api *cam;
    tp_status st = begin(plugin, out, &in, &cam, msg);
    if (st != TP_OK)
        return st;
    if (!png || len == 0) {
        tp_msg_set(msg, "No PNG was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (len > TP_IMAGE_PNG_MAX) {
        tp_msg_set(msg, "The PNG is %zu bytes; the limit is %d: scale it down or crop it to "
                   "the code.", len, TP_IMAGE_PNG_MAX);
        return TP_ERR_TOO_LONG;
    }
    const unsigned char *b = png;
    /* The signature, then the IHDR chunk: length 13, type, width, height. */
    if (len < sizeof signature || memcmp(b, signature, sizeof signature) != 0) {
        tp_msg_set(msg, "That is not a PNG file (it does not start with the PNG signature).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (len < 24 || be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4) != 0) {
        tp_msg_set(msg, "The PNG is cut short or damaged before its header; send the whole "
                   "file.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = check_size(be32(b + 16), be32(b + 20), "PNG", msg)) != TP_OK)
        return st;
    tp_image img;
    char why[TP_MESSAGE_MAX + 1];
    st = cam->image_decode(png, len, &img, why, sizeof why);
    if (st != TP_OK) {
        tp_msg_set(msg, "%s", why);
        return st == TP_ERR_UNSUPPORTED ? TP_ERR_INVALID_ARGUMENT : st;
    }
    tp_image_result r;
    st = check_size((uint64_t)img.width, (uint64_t)img.height, "PNG", msg);
    if (st == TP_OK)
        st = decode_packed(cam, in, img.y800, (uint32_t)img.width, (uint32_t)img.height, &r,
                           msg);
    cam->image_free(&img);
    if (st != TP_OK)
        return st;
    tp_abi_write_out(out, &r, sizeof r);
    return TP_OK;
}

const tp_images_ext tp_images_extension = {.struct_size = sizeof(tp_images_ext),
                                           .decode_grey = decode_grey,
                                           .decode_png = decode_png};
