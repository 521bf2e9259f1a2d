/*
 * driver.h — the one interface every scanner driver implements, modelled on
 * UnifiedPOS's Scanner device: open (claim + enable), data events carrying
 * the raw label and its symbology, error and status (online/offline)
 * events, and close (disable + release).
 *
 * All devices are served by one plugin thread (the scanner thread) over
 * poll(): a driver exposes the fd it wants polled and a deadline for its
 * timers, and does its work only inside on_ready()/tick(), never blocking.
 * Drivers report through the sink; the scanner thread turns that into host
 * events. A driver never sleeps, never spawns threads and never touches
 * global mutable state: its state lives in the struct it was given.
 *
 * Lifecycle, driven by the scanner thread:
 *   create(cfg...) -> configure(key, value)* -> check()
 *   -> open() -> [poll fd; on_ready() / tick()]* -> close()
 *   -> (after a disconnect: open() again with backoff) -> destroy()
 */
#ifndef TP_DRIVER_H
#define TP_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "framer.h" /* tp_symbology */
#include "tillpoints/tillpoints.h"

typedef enum tp_device_state {
    TP_DEVICE_CLOSED = 0, /* not opened yet, or closed */
    TP_DEVICE_ONLINE = 1,
    TP_DEVICE_OFFLINE = 2, /* unplugged / hung up; the thread reopens it */
    TP_DEVICE_ERROR = 3    /* misconfigured or refused; needs a person */
} tp_device_state;

/* One decoded scan; valid for the duration of the on_data call. */
typedef struct tp_scan_data {
    const char *data;        /* label bytes, NUL-terminated for convenience */
    size_t len;              /* bytes in data (may contain any byte) */
    tp_symbology symbology;  /* TP_SYM_UNKNOWN when the device does not say */
    char aim_id[4];          /* "]Q1" or "" */
    int64_t time_ms;         /* monotonic ms when the scan completed */
} tp_scan_data;

/* Callbacks the driver calls from inside on_ready()/tick()/open(). */
typedef struct tp_driver_sink {
    void *user;
    void (*on_data)(void *user, const tp_scan_data *scan);
    /* A scan that was discarded or a recoverable fault; `sentence` says what
     * a person can do ("Frame longer than 256 bytes discarded; check the
     * scanner's suffix setting."). */
    void (*on_error)(void *user, const char *sentence);
    /* Device online/offline/error transitions. */
    void (*on_status)(void *user, tp_device_state state, const char *sentence);
} tp_driver_sink;

typedef struct tp_driver tp_driver; /* one device, owned by the scanner thread */

typedef struct tp_driver_ops {
    const char *name; /* "serial", "camera", "wedge" — the config's driver= */

    /* Allocates a device with default settings; NULL when out of memory. */
    tp_driver *(*create)(const tp_driver_sink *sink);

    /* One key of the device's config section (everything but driver=).
     * TP_ERR_NOT_FOUND for a key the driver does not know; TP_ERR_CONFIG
     * with a sentence for a bad value (and nothing changed). */
    tp_status (*configure)(tp_driver *d, const char *key, const char *value, char *msg,
                           size_t msg_cap);

    /* Cross-key validation once every key was given. */
    tp_status (*check)(tp_driver *d, char *msg, size_t msg_cap);

    /* Opens, claims and enables the device. Non-blocking. TP_OK: fd() is
     * valid. TP_ERR_NOT_FOUND: not there (yet) — retried with backoff.
     * Other: a sentence saying what is wrong. */
    tp_status (*open)(tp_driver *d, int64_t now_ms, char *msg, size_t msg_cap);

    /* The fd to poll and the poll events wanted, or -1 when closed. */
    int (*fd)(const tp_driver *d, short *events);

    /* The fd is ready (revents as poll returned them). Reads what is there
     * without blocking and reports scans through the sink. Returns TP_OK,
     * or TP_ERR_NOT_FOUND when the device went away (hang-up, read()==0,
     * EIO, ENODEV): the thread then closes it, reports it offline and
     * reopens it with backoff. */
    tp_status (*on_ready)(tp_driver *d, short revents, int64_t now_ms);

    /* The monotonic ms of the driver's next timer (a partial frame that
     * will time out), or -1. */
    int64_t (*deadline)(const tp_driver *d);
    void (*tick)(tp_driver *d, int64_t now_ms);

    /* Cheap liveness check (UnifiedPOS checkHealth): TP_OK or a sentence. */
    tp_status (*health)(tp_driver *d, char *msg, size_t msg_cap);

    /* Disables and releases the device; safe when not open. */
    void (*close)(tp_driver *d);
    void (*destroy)(tp_driver *d);
} tp_driver_ops;

#endif
