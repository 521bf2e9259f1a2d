/*
 * dedup.h — "the same code scanned twice within a short window counts once".
 *
 * Scanners double-fire: a trigger held a little long, a camera that reads
 * the same phone screen on two frames, a cashier who scans again because
 * the beep was drowned out. tp_dedup remembers the codes counted in the
 * last window_ms and reports a repeat inside that window as a duplicate.
 *
 * Guarantees:
 *  - No allocation: the whole state is the caller-owned struct below
 *    (about 1 KiB), so it can live inside a driver or plugin instance.
 *  - Fixed window, anchored at the scan that counted: a duplicate does not
 *    extend it. A code is therefore suppressed for at most window_ms after
 *    it last counted, however long a scanner keeps re-reading it, and a
 *    deliberate rescan after the window always counts. (Codes held in view
 *    of a camera are the camera driver's business: zbar's own cache
 *    reports a symbol once until it leaves the picture.)
 *  - Fails open: if more than TP_DEDUP_SLOTS distinct codes arrive within
 *    one window, the oldest is forgotten, so the worst case is a duplicate
 *    counted twice, never a different scan dropped.
 *  - Exact for codes up to TP_DEDUP_PREFIX bytes (compared byte for byte);
 *    longer codes also compare length and a 64-bit FNV-1a hash of all
 *    bytes, so two distinct long codes are confused only on a hash
 *    collision between codes sharing their first 32 bytes.
 *
 * Thread: not thread-safe; one tp_dedup per scanner source, used from the
 * thread that receives its scans. No global state: any number may exist.
 *
 * Time: now_ms should come from a monotonic clock (CLOCK_MONOTONIC in ms),
 * so that a wall-clock step does not suppress or double a scan. If time
 * still goes backwards, a remembered scan from the "future" is treated as
 * stale: the new scan counts (fail open again).
 */
#ifndef TP_DEDUP_H
#define TP_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#include "tillpoints/tillpoints.h"
#include "util.h" /* TP_MUST_CHECK */

#ifdef __cplusplus
extern "C" {
#endif

#define TP_DEDUP_DEFAULT_WINDOW_MS 1500
/* Longest window accepted: suppression is for double reads, not a
 * once-per-visit rule (that is the points rules' job). */
#define TP_DEDUP_MAX_WINDOW_MS 60000
#define TP_DEDUP_SLOTS 16
#define TP_DEDUP_PREFIX 32

/* One remembered code. Private: use the functions below. */
typedef struct tp_dedup_slot {
    int64_t counted_ms;  /* when it last counted */
    uint64_t hash;       /* FNV-1a 64 of all bytes */
    size_t len;          /* 0 = free slot */
    unsigned char prefix[TP_DEDUP_PREFIX];
} tp_dedup_slot;

/* Caller-allocated; owns no memory. Initialise with tp_dedup_init(). */
typedef struct tp_dedup {
    int64_t window_ms;
    tp_dedup_slot slots[TP_DEDUP_SLOTS];
} tp_dedup;

/* Empties `d` and sets its window. window_ms is 0..TP_DEDUP_MAX_WINDOW_MS;
 * 0 turns suppression off (every scan counts). Returns TP_OK, or
 * TP_ERR_INVALID_ARGUMENT (d NULL, window out of range; d unchanged). Call
 * again to forget everything, e.g. when a scanner reconnects. */
tp_status tp_dedup_init(tp_dedup *d, int64_t window_ms) TP_MUST_CHECK;

/* Returns 1 when `code` (len bytes, need not be NUL-terminated) already
 * counted less than window_ms ago, that is 0 <= now_ms - counted < window;
 * `d` is then unchanged. Otherwise remembers the code as counted at now_ms
 * and returns 0. An empty code (len 0, code may be NULL) is never a
 * duplicate and is not remembered. `d` must be initialised. */
int tp_dedup_seen(tp_dedup *d, const char *code, size_t len, int64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif /* TP_DEDUP_H */
