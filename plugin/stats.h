/*
 * stats.h — the dashboard's figures (ext/stats.h): counts and points per
 * day read from the ledger and the receipt journal, kept per instance so a
 * dashboard costs the entries written since it was last shown, not the
 * month (stats.c).
 */
#ifndef TP_STATS_H
#define TP_STATS_H

#include <stddef.h>

#include "store.h"
#include "tillpoints/ext/stats.h"

extern const tp_stats_ext tp_stats_extension;

/* The figures of days already read, and how far into the ledger and the
 * receipt journal they are complete. Owned by the instance (NULL until
 * the first query); used under its admin lock. */
typedef struct tp_stats_cache tp_stats_cache;

/* The figures for days [from_ms, from_ms + days * 86,400,000) in one read
 * transaction on `s`, sorted by metric, day and key. *rows (owned by the
 * caller, free()) receives *n rows. `*cache` is created on first use and
 * brought up to date; the caller holds the store's lock. */
tp_status tp_stats_read(tp_store *s, tp_stats_cache **cache, int64_t from_ms, int32_t days,
                        tp_stats_row **rows, size_t *n, tp_message *msg) TP_MUST_CHECK;

/* Frees the cache (NULL is fine). */
void tp_stats_cache_free(tp_stats_cache *cache);

#endif
