/*
 * stats.h — the plugin's stats extension, "tillpoints.stats/1" (2.3): the
 * figures a manager's dashboard shows, per day.
 *
 * [thread-safe, blocking], like every manager-side extension (admin.h). It
 * only reads, in one read transaction, so the figures of one call agree
 * with each other.
 */
#ifndef TILLPOINTS_EXT_STATS_H
#define TILLPOINTS_EXT_STATS_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_STATS "tillpoints.stats/1"

/* Days one query may cover. */
#define TP_STATS_DAYS_MAX 92
/* Bytes of a metric name, and of a row's key (a terminal or manager id). */
#define TP_STATS_METRIC_MAX 16
#define TP_STATS_KEY_MAX 64

typedef struct tp_stats_query {
    uint32_t struct_size; /* sizeof(tp_stats_query) */
    int64_t from_ms;      /* UTC ms where day 0 begins: the caller's
                             midnight in the store's time zone */
    int32_t days;         /* 1..TP_STATS_DAYS_MAX days of 86,400,000 ms
                             each, from from_ms */
} tp_stats_query;

/* An array element (stats takes a stride). One figure of one day:
 *   metric      key        count                         points
 *   "issued"    ""         earn entries                  points earned
 *   "refunded"  ""         reversals of earned points    points taken back (> 0)
 *   "retro"     approver   retro credits (missed scans)  points credited
 *   "corrected" approver   corrections (credit moved)    points moved
 *   "adjusted"  ""         adjust, bulk, import entries  net points
 *   "receipts"  terminal   receipts journaled            receipts without a
 *                                                        member (missed scans)
 * Days and keys with nothing to count have no row. Ledger entries count on
 * the day of their time_ms, receipts on the day of the sale. Metrics a
 * later minor adds are rows with new names: a host skips names it does
 * not know. */
typedef struct tp_stats_row {
    uint32_t struct_size;
    char metric[TP_STATS_METRIC_MAX + 1];
    char key[TP_STATS_KEY_MAX + 1];
    int32_t day;    /* 0..days-1 */
    int64_t count;
    int64_t points;
} tp_stats_row;

typedef struct tp_stats_ext {
    uint32_t struct_size; /* sizeof(tp_stats_ext) in the plugin's build */

    /* The rows for `query`, ordered by metric, day and key: up to `cap`
     * of `stride` bytes (sizeof(tp_stats_row)) into `rows`; *count
     * receives how many exist (more than cap: only cap were written, and
     * `msg` says so). */
    tp_status (*stats)(const tp_plugin *plugin, const tp_stats_query *query,
                       tp_stats_row *rows, size_t cap, size_t stride, size_t *count,
                       tp_message *msg);
} tp_stats_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_STATS_H */
