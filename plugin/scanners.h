/*
 * scanners.h — the scanner thread: every plugin-owned scanner served by one
 * thread over poll(), reopened with backoff when it goes away.
 */
#ifndef TP_SCANNERS_H
#define TP_SCANNERS_H

#include "tillpoints/ext/scanners.h"
#include "util.h" /* TP_MUST_CHECK */

struct tp_instance;
typedef struct tp_scanners tp_scanners;

/* Creates and configures every [scanner] of the config (no device is
 * opened yet) and starts the thread. With no scanners configured, *out is
 * NULL and no thread runs. A driver refusing a setting fails init with the
 * sentence. */
tp_status tp_scanners_start(struct tp_instance *in, tp_scanners **out, tp_message *msg) TP_MUST_CHECK;

/* Stops and joins the thread, closes and frees every device. */
void tp_scanners_stop(tp_scanners *s);

/* How long a member code read from a verified app pass by a plugin-owned
 * scanner still counts as signed when the host hands it to checkout.scan. */
#define TP_SCANNERS_VOUCH_MS 60000

/* [thread-safe] 1 when a scanner of `s` read `code` from a verified signed
 * pass within TP_SCANNERS_VOUCH_MS (and not past the pass's expiry); the
 * voucher is used up. The SCANNED event carries the member code only, so
 * this is how checkout.scan learns that it came from a pass ([scan]
 * require_signed). 0 otherwise, and for s == NULL. */
int tp_scanners_vouched(tp_scanners *s, const char *code);

extern const tp_scanners_ext tp_scanners_extension;

#endif
