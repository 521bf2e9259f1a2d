/*
 * stats.h — the dashboard's figures (ext/stats.h): counts and points per
 * day read from the ledger and the receipt journal.
 */
#ifndef TP_STATS_H
#define TP_STATS_H

#include <stddef.h>

#include "store.h"
#include "tillpoints/ext/stats.h"

extern const tp_stats_ext tp_stats_extension;

/* The figures for days [from_ms, from_ms + days * 86,400,000) in one read
 * transaction on `s`, sorted by metric, day and key. *rows (owned by the
 * caller, free()) receives *n rows. The caller holds the store's lock. */
tp_status tp_stats_read(tp_store *s, int64_t from_ms, int32_t days, tp_stats_row **rows,
                        size_t *n, tp_message *msg) TP_MUST_CHECK;

#endif
