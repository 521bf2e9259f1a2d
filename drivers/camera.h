/*
 * camera.h — barcodes from pictures: the camera driver (V4L2 through zbar)
 * and the decode path it shares with still images.
 *
 * Three layers, each usable on its own:
 *
 *  1. tp_zbar_decoder: a pure "Y800 frame in, scans out" decoder around
 *     zbar's image scanner. It enables only the configured symbologies,
 *     returns label bytes exactly as encoded (ZBAR_CFG_BINARY, lengths
 *     from zbar_symbol_get_data_length, never strlen), re-checks the check
 *     digit of EAN/UPC labels, and suppresses a code that stays in view:
 *     a code counts once while it is seen in consecutive frames, and again
 *     only after it was absent for rearm_frames frames in a row, or was not
 *     seen for rearm_ms. No I/O, no threads, no global state.
 *  2. tp_image: a still image (PNG through libpng, or binary PGM/PPM
 *     through a small bounded reader) converted to Y800 grey, to feed the
 *     decoder — for tests, tools and image uploads.
 *  3. tp_camera_driver: the tp_driver_ops for `driver = camera`, which
 *     captures frames with zbar's video API and runs them through (1).
 *
 * Config keys of a camera section (also accepted by tp_zbar_config_set
 * for the decoder keys):
 *   device        /dev/videoN (required for the camera driver)
 *   width, height requested capture size, 16..8192, both or neither
 *   symbologies   comma list of qr, ean13, ean8, upca, upce, code128,
 *                 code39, code93, i25 (alias itf), pdf417, databar,
 *                 codabar (pdf417 only where zbar was built with it);
 *                 default "qr,code128,ean13,ean8"
 *   inverted      yes|no: also try light-on-dark codes (default no)
 *   rearm_frames  1..1000, default 5
 *   rearm_ms      0..600000, default 1000 (0: frames only)
 *
 * Thread: a decoder or a driver is used by one thread at a time (the
 * scanner thread); different ones are independent. Sinks are called on
 * that thread from inside the call that decoded the frame.
 */
#ifndef TP_DRIVERS_CAMERA_H
#define TP_DRIVERS_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "framer.h"
#include "tillpoints/tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_CAMERA_MAX_LABEL 4096     /* longer labels are dropped with an error */
#define TP_CAMERA_MAX_SIDE 8192      /* frame and image width/height limit */
#define TP_CAMERA_MAX_PIXELS (16L * 1024 * 1024) /* 16 Mpixel */
#define TP_CAMERA_TRACK_MAX 16       /* codes remembered as "in view" */
#define TP_CAMERA_DEVICE_MAX 255

/* The driver's ops table (name "camera"). */
extern const tp_driver_ops tp_camera_driver;

/* ------------------------------------------------------------------ */
/* Decoder configuration                                               */
/* ------------------------------------------------------------------ */

/* Plain data, caller-owned, copied by tp_zbar_decoder_create(). */
typedef struct tp_zbar_config {
    uint32_t symbologies; /* bit (1u << tp_symbology) per enabled one */
    bool inverted;        /* also try light-on-dark (ZBAR_CFG_TEST_INVERTED) */
    int rearm_frames;     /* 1..1000 consecutive frames without the code */
    int64_t rearm_ms;     /* 0..600000 ms since last seen; 0 = frames only */
} tp_zbar_config;

/* [thread-safe] qr, code128, ean13, ean8; inverted no; rearm_frames 5;
 * rearm_ms 1000. */
void tp_zbar_config_default(tp_zbar_config *cfg);

/* [thread-safe] Sets one decoder key (symbologies, inverted, rearm_frames,
 * rearm_ms) from its text form. TP_OK; TP_ERR_CONFIG with a sentence in
 * msg (cfg unchanged); TP_ERR_NOT_FOUND for a key this layer does not
 * own; TP_ERR_INVALID_ARGUMENT for NULL arguments. msg may be NULL. */
tp_status tp_zbar_config_set(tp_zbar_config *cfg, const char *key, const char *value,
                             char *msg, size_t msg_cap);

/* [thread-safe] Checks a whole config. TP_OK or TP_ERR_CONFIG + sentence. */
tp_status tp_zbar_config_check(const tp_zbar_config *cfg, char *msg, size_t msg_cap);

/* ------------------------------------------------------------------ */
/* Decoder                                                             */
/* ------------------------------------------------------------------ */

typedef struct tp_zbar_decoder tp_zbar_decoder; /* opaque, owned by its creator */

typedef struct tp_zbar_stats {
    uint64_t frames;     /* frames decoded */
    uint64_t symbols;    /* symbols zbar reported, before any filtering */
    uint64_t events;     /* on_data calls */
    uint64_t suppressed; /* symbols not reported because still in view */
    uint64_t rejected;   /* symbols dropped (bad check digit, too long, ...) */
} tp_zbar_stats;

/* [any thread] Creates a decoder with a copy of `cfg` (checked first).
 * *out receives it; the caller owns it and frees it with
 * tp_zbar_decoder_destroy(). TP_OK, TP_ERR_CONFIG (sentence in msg; also
 * when the installed zbar lacks a configured decoder: Debian 12's libzbar0
 * is built without PDF417),
 * TP_ERR_NO_MEMORY, TP_ERR_INVALID_ARGUMENT. */
tp_status tp_zbar_decoder_create(const tp_zbar_config *cfg, tp_zbar_decoder **out, char *msg,
                                 size_t msg_cap);

/* Frees the decoder and its zbar objects. NULL is fine. */
void tp_zbar_decoder_destroy(tp_zbar_decoder *dec);

/* Decodes one frame: `y800` is width*height bytes of 8-bit grey, rows
 * top to bottom, no padding; borrowed for the call only. `now_ms` is a
 * monotonic clock. Every code that counts is reported through
 * sink->on_data (symbology, label bytes + NUL, AIM id, time_ms = now_ms),
 * in the order zbar found them; a dropped symbol through sink->on_error
 * once while it stays in view. sink may be NULL (nothing is reported,
 * the in-view state still advances). The sink must not call back into
 * this decoder.
 * TP_OK (with or without codes), TP_ERR_INVALID_ARGUMENT (NULL decoder or
 * frame, a side outside 1..TP_CAMERA_MAX_SIDE, more than
 * TP_CAMERA_MAX_PIXELS), TP_ERR_INTERNAL (zbar failed on the frame). */
tp_status tp_zbar_decode_frame(tp_zbar_decoder *dec, const uint8_t *y800, int width, int height,
                               int64_t now_ms, const tp_driver_sink *sink);

/* Forgets which codes are in view: the next sighting of any code counts. */
void tp_zbar_decoder_reset(tp_zbar_decoder *dec);

/* Copies the counters into *out. */
void tp_zbar_decoder_get_stats(const tp_zbar_decoder *dec, tp_zbar_stats *out);

/* ------------------------------------------------------------------ */
/* Symbology helpers                                                   */
/* ------------------------------------------------------------------ */

/* [thread-safe] The tp_symbology of a config token ("qr", "i25", ...), or
 * TP_SYM_UNKNOWN for a token this driver cannot decode. */
tp_symbology tp_camera_symbology_from_name(const char *name, size_t len);

/* [thread-safe] Non-zero when `digits` (len bytes) is an EAN-13 (13),
 * EAN-8 (8), UPC-A (12) or UPC-E (8, number system 0 or 1) label of the
 * given symbology with a correct check digit. */
int tp_gtin_check_ok(tp_symbology sym, const char *digits, size_t len);

/* ------------------------------------------------------------------ */
/* Still images                                                        */
/* ------------------------------------------------------------------ */

/* An 8-bit grey image. y800 is owned by the struct; free with
 * tp_image_free(). */
typedef struct tp_image {
    uint8_t *y800;
    int width;
    int height;
} tp_image;

#define TP_IMAGE_MAX_FILE (64L * 1024 * 1024) /* bytes read from a file */

/* [thread-safe] Decodes a PNG (any colour type, bit depth and interlace;
 * alpha is composited on white; colour converted to grey) or a binary
 * PGM (P5) / PPM (P6) with maxval 1..65535 from memory. On success *out
 * owns a new buffer; on failure *out is zeroed and msg says why.
 * TP_OK, TP_ERR_UNSUPPORTED (not PNG/PGM/PPM), TP_ERR_INVALID_ARGUMENT
 * (a malformed or truncated image, or NULL arguments), TP_ERR_TOO_LONG
 * (larger than TP_CAMERA_MAX_SIDE / TP_CAMERA_MAX_PIXELS), TP_ERR_NO_MEMORY. */
tp_status tp_image_decode(const void *buf, size_t len, tp_image *out, char *msg, size_t msg_cap);

/* [thread-safe] Reads the file at `path` (at most TP_IMAGE_MAX_FILE
 * bytes) and decodes it as tp_image_decode() does. Blocking file I/O:
 * not for the host's thread. TP_ERR_NOT_FOUND when it cannot be read. */
tp_status tp_image_load(const char *path, tp_image *out, char *msg, size_t msg_cap);

/* Frees the pixels and zeroes the struct; NULL and zeroed structs are fine. */
void tp_image_free(tp_image *img);

/* ------------------------------------------------------------------ */
/* The camera module                                                   */
/* ------------------------------------------------------------------ */

/* What the core reaches of this file, through tillpoints-camera.so
 * (plugin/module.h, docs/DESIGN.md §14): the driver, and the decoder and
 * image reader that tillpoints.images/1 uses. Each member is the function
 * of the same name above. */
typedef struct tp_camera_api {
    const tp_driver_ops *driver;
    void (*zbar_config_default)(tp_zbar_config *cfg);
    tp_status (*zbar_config_set)(tp_zbar_config *cfg, const char *key, const char *value,
                                 char *msg, size_t msg_cap);
    tp_status (*zbar_decoder_create)(const tp_zbar_config *cfg, tp_zbar_decoder **out, char *msg,
                                     size_t msg_cap);
    void (*zbar_decoder_destroy)(tp_zbar_decoder *dec);
    tp_status (*zbar_decode_frame)(tp_zbar_decoder *dec, const uint8_t *y800, int width,
                                   int height, int64_t now_ms, const tp_driver_sink *sink);
    tp_status (*image_decode)(const void *buf, size_t len, tp_image *out, char *msg,
                              size_t msg_cap);
    void (*image_free)(tp_image *img);
} tp_camera_api;

#ifdef __cplusplus
}
#endif

#endif /* TP_DRIVERS_CAMERA_H */
