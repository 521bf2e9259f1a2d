/*
 * stats.c — what a manager's dashboard shows, per day (ext/stats.h,
 * docs/DESIGN.md §15): points issued, refunds taken back, missed visits
 * credited and corrected (by approving manager), adjustments, and the
 * receipts each terminal journaled with and without a member.
 *
 * Two range scans in one read transaction, each on an index that covers
 * what it counts (schema v7: ledger_time, receipts_time). Whether a retro
 * credit or a reversal belongs to a correction, and who approved it, is
 * the audit record covering the entry (audit.c's ledger ranges; the same
 * two-seek lookup as the activity log, ledger.c), asked only for the few
 * retro and reversal entries. Nothing is written.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "abi.h"
#include "instance.h"
#include "stats.h"
#include "util.h"

#define DAY_MS 86400000LL

/* The covering audit record's action and approver, for retro and reversal
 * entries; for retro credits from before schema 5 (covered by the
 * upgrade's seal) the approver of the retro.credit record with the same
 * key, as in the activity log. */
static const char ledger_sql[] =
    "SELECT kind, day, act, appr, count(*), sum(points) FROM ("
    " SELECT l.kind AS kind, (l.time_ms - ?1) / 86400000 AS day, l.points AS points,"
    "  CASE WHEN l.kind IN ('retro', 'reversal') THEN"
    "   (SELECT a.action FROM audit a WHERE a.ledger_first ="
    "     (SELECT max(b.ledger_first) FROM audit b WHERE b.ledger_first <= l.id)"
    "     AND a.ledger_last >= l.id) END AS act,"
    "  CASE WHEN l.kind = 'retro' THEN COALESCE(NULLIF("
    "   (SELECT a.approver FROM audit a WHERE a.ledger_first ="
    "     (SELECT max(b.ledger_first) FROM audit b WHERE b.ledger_first <= l.id)"
    "     AND a.ledger_last >= l.id), ''),"
    "   (SELECT a.approver FROM audit a WHERE a.action = 'retro.credit'"
    "     AND a.location = l.location AND a.receipt = l.receipt LIMIT 1), '') END AS appr"
    " FROM ledger l WHERE l.time_ms >= ?1 AND l.time_ms < ?2)"
    " GROUP BY kind, day, act, appr";

static const char receipts_sql[] =
    "SELECT (time_ms - ?1) / 86400000 AS day, terminal, count(*),"
    " sum(member_id IS NULL) FROM receipts WHERE time_ms >= ?1 AND time_ms < ?2"
    " GROUP BY day, terminal";

typedef struct acc {
    tp_stats_row *rows;
    size_t n, cap;
} acc;

/* Adds count and points to the row (metric, key, day), creating it. The
 * rows are few (metrics x days x terminals or managers): a linear search
 * is enough. 0 on success, -1 out of memory. */
static int add(acc *a, const char *metric, const char *key, int32_t day, int64_t count,
               int64_t points)
{
    for (size_t i = 0; i < a->n; i++) {
        tp_stats_row *r = &a->rows[i];
        if (r->day == day && strcmp(r->metric, metric) == 0 && strcmp(r->key, key) == 0) {
            r->count += count;
            r->points += points;
            return 0;
        }
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        tp_stats_row *grown = realloc(a->rows, cap * sizeof *grown);
        if (!grown)
            return -1;
        a->rows = grown;
        a->cap = cap;
    }
    tp_stats_row *r = &a->rows[a->n++];
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    tp_copy(r->metric, sizeof r->metric, metric);
    tp_copy(r->key, sizeof r->key, key);
    r->day = day;
    r->count = count;
    r->points = points;
    return 0;
}

static int by_metric_day_key(const void *x, const void *y)
{
    const tp_stats_row *a = x, *b = y;
    int c = strcmp(a->metric, b->metric);
    if (c)
        return c;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    return strcmp(a->key, b->key);
}

static const char *text_or_empty(sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    return t ? (const char *)t : "";
}

/* One ledger group: kind, day, covering action, approver, count, sum. */
static int add_ledger_group(acc *a, sqlite3_stmt *q)
{
    const char *kind = text_or_empty(q, 0);
    int32_t day = (int32_t)sqlite3_column_int64(q, 1);
    const char *act = text_or_empty(q, 2);
    const char *appr = text_or_empty(q, 3);
    int64_t count = sqlite3_column_int64(q, 4), points = sqlite3_column_int64(q, 5);
    int correction = strcmp(act, "correction") == 0;
    if (strcmp(kind, "earn") == 0)
        return add(a, "issued", "", day, count, points);
    if (strcmp(kind, "retro") == 0)
        return add(a, correction ? "corrected" : "retro", appr, day, count, points);
    if (strcmp(kind, "reversal") == 0)
        /* A correction's reversal is the other half of the credit it
         * moved, counted there; every other reversal is a refund's. */
        return correction ? 0 : add(a, "refunded", "", day, count, -points);
    if (strcmp(kind, "adjust") == 0 || strcmp(kind, "bulk") == 0 || strcmp(kind, "import") == 0)
        return add(a, "adjusted", "", day, count, points);
    return 0; /* "expire", and kinds a later schema adds: not on the dashboard */
}

tp_status tp_stats_read(tp_store *s, int64_t from_ms, int32_t days, tp_stats_row **rows,
                        size_t *n, tp_message *msg)
{
    *rows = NULL;
    *n = 0;
    sqlite3 *db = tp_store_db(s);
    int64_t to_ms = from_ms + (int64_t)days * DAY_MS;
    acc a = {0};
    int oom = 0;
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int pass = 0; pass < 2 && rc == SQLITE_OK && !oom; pass++) {
        sqlite3_stmt *q = NULL;
        rc = sqlite3_prepare_v2(db, pass == 0 ? ledger_sql : receipts_sql, -1, &q, NULL);
        if (rc != SQLITE_OK)
            break;
        sqlite3_bind_int64(q, 1, from_ms);
        sqlite3_bind_int64(q, 2, to_ms);
        while (!oom && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            if (pass == 0) {
                oom = add_ledger_group(&a, q) != 0;
            } else {
                int32_t day = (int32_t)sqlite3_column_int64(q, 0);
                oom = add(&a, "receipts", text_or_empty(q, 1), day, sqlite3_column_int64(q, 2),
                          sqlite3_column_int64(q, 3)) != 0;
            }
        }
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
        sqlite3_finalize(q);
    }
    if (rc != SQLITE_OK && !oom)
        tp_msg_set(msg, "The dashboard's figures could not be read: %s.", sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL); /* a read: nothing to lose */
    if (oom) {
        free(a.rows);
        tp_msg_set(msg, "Out of memory reading the dashboard's figures.");
        return TP_ERR_NO_MEMORY;
    }
    if (rc != SQLITE_OK) {
        free(a.rows);
        return TP_ERR_STORAGE;
    }
    if (a.n > 1)
        qsort(a.rows, a.n, sizeof *a.rows, by_metric_day_key);
    *rows = a.rows;
    *n = a.n;
    return TP_OK;
}

static tp_status stats(const tp_plugin *plugin, const tp_stats_query *given, tp_stats_row *out,
                       size_t cap, size_t stride, size_t *count, tp_message *msg)
{
    tp_instance *in;
    tp_status st = tp_instance_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!given || !count || (cap && !out)) {
        tp_msg_set(msg, "A query and a place for the rows are needed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_stats_query q;
    if ((st = tp_abi_read_in(&q, sizeof q, given, TP_MIN_STATS_QUERY, "tp_stats_query", msg)) !=
            TP_OK ||
        (cap && (st = tp_abi_check_stride(stride, TP_MIN_STATS_ROW, "tp_stats_row", msg)) != TP_OK))
        return st;
    if (q.days < 1 || q.days > TP_STATS_DAYS_MAX) {
        tp_msg_set(msg, "Ask for 1 to %d days.", TP_STATS_DAYS_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (q.from_ms < 0 || q.from_ms > INT64_MAX / 2) {
        tp_msg_set(msg, "The first day must be a time after 1970 (UTC milliseconds).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_stats_row *rows;
    size_t n;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_stats_read(in->admin_store, q.from_ms, q.days, &rows, &n, msg);
    pthread_mutex_unlock(&in->admin_lock);
    if (st != TP_OK)
        return st;
    *count = n;
    for (size_t i = 0; i < n && i < cap; i++)
        tp_abi_put(out, stride, i, &rows[i], sizeof rows[i], 1);
    if (n > cap)
        tp_msg_set(msg, "%zu of the %zu figures fit in the space given.", cap, n);
    free(rows);
    return TP_OK;
}

const tp_stats_ext tp_stats_extension = {.struct_size = sizeof(tp_stats_ext), .stats = stats};
