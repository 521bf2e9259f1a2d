/*
 * overdrafts.h — the overdrafts the central database reported and the sync
 * thread pulled into this terminal's `overdrafts` table (sync.c; docs/
 * DESIGN.md §8, "No double spending between terminals"): the list behind
 * the tillpoints.redeem/1 extension's overdrafts() (ext/redeem.h).
 */
#ifndef TP_OVERDRAFTS_H
#define TP_OVERDRAFTS_H

#include <stddef.h>

#include "tillpoints/ext/redeem.h"
#include "tillpoints/tillpoints.h"
#include "util.h" /* TP_MUST_CHECK */

/* [thread-safe, blocking] Newest first (the central report's number): up
 * to `cap` elements of `stride` bytes (at least the 2.5 size of
 * tp_overdraft) into `rows`, each element's struct_size set to the bytes
 * written; *count how many. None (TP_OK, 0) without [sync]. */
tp_status tp_overdrafts_list(const tp_plugin *plugin, tp_overdraft *rows, size_t cap,
                             size_t stride, size_t *count, tp_message *msg) TP_MUST_CHECK;

#endif
