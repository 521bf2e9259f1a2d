/*
 * images.h — the plugin's image extension, "tillpoints.images/1" (since
 * ABI 2.1): barcodes in pictures the host took itself (its own camera, a
 * customer-facing display, an uploaded photo), read by the plugin's
 * decoder and judged by the same rules as a scan at the till.
 *
 * The answer is what the till would do with the scan: the member code it
 * identifies (after [scan] url_pattern, check digits, signed passes and
 * require_signed = all), or why not in a sentence the cashier can act on.
 * Nothing is recorded and no event is sent: a host that wants the member
 * on the sale passes the member code to checkout.scan (ext/checkout.h),
 * which looks the member up.
 *
 * The decoder reads the symbologies of the store's camera scanners
 * ([scanner] sections with driver = camera: their `symbologies` and
 * `inverted`), or qr, code128, ean13 and ean8 when there is none.
 *
 * Cost: decoding is pure computation on the calling thread, proportional
 * to the pixels: about a millisecond for a phone-screen QR code, tens of
 * milliseconds for a full-HD frame, more at the limits (limits.h:
 * TP_IMAGE_SIDE_MAX, TP_IMAGE_PIXELS_MAX, TP_IMAGE_PNG_MAX). Call it from
 * the host's capture or worker thread, never from the checkout screen's
 * thread for a big image.
 */
#ifndef TILLPOINTS_EXT_IMAGES_H
#define TILLPOINTS_EXT_IMAGES_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_IMAGES "tillpoints.images/1"

/* An 8-bit grey frame (luminance, 0 black .. 255 white), e.g. the Y plane
 * of a camera's YUV frame. Caller-owned, read during the call only. */
typedef struct tp_grey_frame {
    uint32_t struct_size;    /* sizeof(tp_grey_frame) */
    uint32_t width;          /* pixels, 1..TP_IMAGE_SIDE_MAX */
    uint32_t height;         /* pixels, 1..TP_IMAGE_SIDE_MAX; width x height
                                at most TP_IMAGE_PIXELS_MAX */
    uint32_t bytes_per_row;  /* >= width: row r starts at
                                pixels + r * bytes_per_row */
    const uint8_t *pixels;   /* (height - 1) * bytes_per_row + width bytes
                                are read, top row first */
} tp_grey_frame;

typedef uint32_t tp_image_verdict;
enum {
    TP_IMAGE_MEMBER = 1,  /* a member code the till would take */
    TP_IMAGE_NO_CODE = 2, /* no barcode was found */
    TP_IMAGE_REFUSED = 3  /* a barcode, but not one the till would take */
};

/* The answer. Caller-allocated (set struct_size); see "Sizes" in
 * tillpoints.h. */
typedef struct tp_image_result {
    uint32_t struct_size;
    tp_image_verdict verdict;
    tp_status refusal;    /* TP_IMAGE_REFUSED: the status a scanner's
                             scan.rejected event would carry (e.g.
                             TP_ERR_INVALID_ARGUMENT, TP_ERR_UNSUPPORTED);
                             TP_OK otherwise */
    int32_t is_signed;    /* the member code came from a verified signed
                             app pass */
    uint32_t codes;       /* barcodes found in the picture */
    char member_code[TP_MEMBER_CODE_MAX + 1]; /* TP_IMAGE_MEMBER: the code
                             to hand to checkout.scan; "" otherwise */
    char symbology[TP_SYMBOLOGY_MAX + 1]; /* of the code the verdict is
                             about, named as tp_event.symbology ("qr",
                             "ean13", ...); "" for TP_IMAGE_NO_CODE */
    char message[TP_MESSAGE_MAX + 1]; /* one sentence: what was read, or
                             why the till would not take it */
} tp_image_result;

typedef struct tp_images_ext {
    uint32_t struct_size; /* sizeof(tp_images_ext) in the plugin's build */

    /* [thread-safe] Reads the barcodes in a grey frame and judges them
     * as the till would. TP_OK with `out` filled (a verdict of any kind);
     * else `out` is left as it was and `msg` says why:
     * TP_ERR_INVALID_ARGUMENT (NULL, a size of 0, bytes_per_row < width),
     * TP_ERR_TOO_LONG (beyond TP_IMAGE_SIDE_MAX or TP_IMAGE_PIXELS_MAX),
     * TP_ERR_STATE (before init), TP_ERR_NO_MEMORY, TP_ERR_UNSUPPORTED
     * when the plugin's camera module (tillpoints-camera.so, which holds
     * the decoder) is not installed. May take tens of ms: see the top of
     * this file. */
    tp_status (*decode_grey)(const tp_plugin *plugin, const tp_grey_frame *frame,
                             tp_image_result *out, tp_message *msg);

    /* [thread-safe] The same for a PNG file's bytes (`len` at most
     * TP_IMAGE_PNG_MAX; any colour type, depth and interlace; alpha is
     * taken as drawn on white). Besides the statuses above:
     * TP_ERR_INVALID_ARGUMENT for bytes that are not a whole PNG (not
     * one, or cut short), TP_ERR_TOO_LONG for a file or picture beyond the
     * limits, checked before the picture is decoded. */
    tp_status (*decode_png)(const tp_plugin *plugin, const void *png, size_t len,
                            tp_image_result *out, tp_message *msg);
} tp_images_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_IMAGES_H */
