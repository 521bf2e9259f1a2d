/*
 * scanners.h — the plugin's scanners extension, "tillpoints.scanners/2":
 * the state of the barcode scanners the plugin owns (configured as
 * [scanner "name"] sections). Their scans and status changes arrive as
 * events (ext/events.h); this extension answers "what is plugged in and
 * working" for a status screen or `tillpoints scanners`.
 */
#ifndef TILLPOINTS_EXT_SCANNERS_H
#define TILLPOINTS_EXT_SCANNERS_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_SCANNERS "tillpoints.scanners/2"

typedef uint32_t tp_scanner_state;
enum {
    TP_SCANNER_STARTING = 0, /* not opened yet */
    TP_SCANNER_ONLINE = 1,
    TP_SCANNER_OFFLINE = 2,  /* not there; retried with backoff */
    TP_SCANNER_ERROR = 3     /* misconfigured or refused; see last_error */
};

/* An array element: list takes a stride. */
typedef struct tp_scanner_info {
    char name[TP_SCANNER_NAME_MAX + 1];        /* the config section's name */
    char driver[TP_DRIVER_NAME_MAX + 1];      /* serial, camera, wedge */
    char device[TP_DEVICE_MAX + 1];     /* port or device path as configured */
    tp_scanner_state state;
    int64_t last_scan_ms;     /* UTC ms of the last good scan, 0 = none */
    uint64_t scans;           /* good scans delivered */
    uint64_t rejected;        /* reads that were not loyalty codes */
    uint64_t errors;          /* discarded frames, open failures */
    uint64_t reconnects;      /* times it came back after going offline */
    char last_error[TP_MESSAGE_MAX + 1];     /* sentence, "" when none */
} tp_scanner_info;

typedef struct tp_scanners_ext {
    uint32_t struct_size; /* sizeof(tp_scanners_ext) in the plugin's build */

    /* [thread-safe] A snapshot of up to `cap` scanners, elements of
     * `stride` bytes (sizeof(tp_scanner_info)); *count receives how many
     * are configured. Never blocks on a device. */
    tp_status (*list)(const tp_plugin *plugin, tp_scanner_info *out, size_t cap,
                      size_t stride, size_t *count, tp_message *msg);
} tp_scanners_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_SCANNERS_H */
