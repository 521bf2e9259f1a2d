/*
 * stats.c — what a manager's dashboard shows, per day (ext/stats.h,
 * docs/DESIGN.md §15): points issued, refunds taken back, missed visits
 * credited and corrected (by approving manager), adjustments, and the
 * receipts each terminal journaled with and without a member.
 *
 * The figures are kept per instance, by day, with how far into the ledger
 * and the receipt journal they are complete (the highest id read). A
 * query first adds what was written since (a rowid range scan of the new
 * entries: ids only grow), then reads the days it has never read, each
 * run of them in one range scan on an index that covers what it counts
 * (schema v7: ledger_time, receipts_time), up to the ids of the same read
 * transaction. So a dashboard costs the entries since it was last shown,
 * not the month, and the figures of one call agree with each other.
 * Whether a retro credit or a reversal belongs to a correction, and who
 * approved it, is the audit record covering the entry (audit.c's ledger
 * ranges; the same two-seek lookup as the activity log, ledger.c), asked
 * only for retro and reversal entries. Nothing is written.
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

/* The figures of a ledger entry: its kind, the day it falls on (days
 * counted from ?1, the cache's alignment), and for retro and reversal
 * entries the covering audit record's action and approver; for retro
 * credits from before schema 5 (covered by the upgrade's seal) the
 * approver of the retro.credit record with the same key, as in the
 * activity log. Grouped, so a day of a busy store is a few rows. The two
 * variants differ only in which rows they read. */
#define LEDGER_GROUPS(where)                                                                  \
    "SELECT kind, day, act, appr, count(*), sum(points) FROM ("                               \
    " SELECT l.kind AS kind, (l.time_ms - ?1) / 86400000 AS day, l.points AS points,"         \
    "  CASE WHEN l.kind IN ('retro', 'reversal') THEN"                                        \
    "   (SELECT a.action FROM audit a WHERE a.ledger_first ="                                 \
    "     (SELECT max(b.ledger_first) FROM audit b WHERE b.ledger_first <= l.id)"             \
    "     AND a.ledger_last >= l.id) END AS act,"                                             \
    "  CASE WHEN l.kind = 'retro' THEN COALESCE(NULLIF("                                      \
    "   (SELECT a.approver FROM audit a WHERE a.ledger_first ="                               \
    "     (SELECT max(b.ledger_first) FROM audit b WHERE b.ledger_first <= l.id)"             \
    "     AND a.ledger_last >= l.id), ''),"                                                   \
    "   (SELECT a.approver FROM audit a WHERE a.action = 'retro.credit'"                      \
    "     AND a.location = l.location AND a.receipt = l.receipt LIMIT 1), '') END AS appr"    \
    " FROM ledger l WHERE " where ")"                                                         \
    " GROUP BY kind, day, act, appr"
/* Days ?2 .. ?3 (exclusive), entries up to id ?4: on ledger_time. */
static const char ledger_days_sql[] = LEDGER_GROUPS(
    "l.time_ms >= ?1 + ?2 * 86400000 AND l.time_ms < ?1 + ?3 * 86400000 AND l.id <= ?4");
/* Entries ?2 < id <= ?3 (those written since the cache was brought up to
 * date): on the ledger's rowid. */
static const char ledger_new_sql[] =
    LEDGER_GROUPS("l.id > ?2 AND l.id <= ?3 AND l.time_ms >= ?1");

#define RECEIPT_GROUPS(where)                                                                 \
    "SELECT (time_ms - ?1) / 86400000 AS day, terminal, count(*), sum(member_id IS NULL)"     \
    " FROM receipts WHERE " where " GROUP BY day, terminal"
static const char receipts_days_sql[] = RECEIPT_GROUPS(
    "time_ms >= ?1 + ?2 * 86400000 AND time_ms < ?1 + ?3 * 86400000 AND id <= ?4");
static const char receipts_new_sql[] =
    RECEIPT_GROUPS("id > ?2 AND id <= ?3 AND time_ms >= ?1");

/* At most this many days are kept; beyond it, days outside the query's
 * range are dropped. A year and a bit: a dashboard and its comparisons. */
#define CACHE_DAYS_MAX 400

typedef struct acc {
    tp_stats_row *rows;
    size_t n, cap;
} acc;

typedef struct cached_day {
    int64_t day; /* days since the cache's alignment */
    acc figures; /* the day's rows; their `day` is set on the way out */
} cached_day;

/* Days are counted from `align` (a query's from_ms modulo a day: the
 * store's midnight). A query with another alignment (another time zone, a
 * clock change) starts the cache over. */
struct tp_stats_cache {
    int64_t align;
    int64_t ledger_upto, receipts_upto; /* ids the cached days are complete to */
    cached_day *days;                   /* sorted by day */
    size_t n, cap;
};

/* Adds count and points to the row (metric, key), creating it. A day has
 * a few rows (metrics x terminals or managers): a linear search is
 * enough. 0 on success, -1 out of memory. */
static int add(acc *a, const char *metric, const char *key, int64_t count, int64_t points)
{
    for (size_t i = 0; i < a->n; i++) {
        tp_stats_row *r = &a->rows[i];
        if (strcmp(r->metric, metric) == 0 && strcmp(r->key, key) == 0) {
            r->count += count;
            r->points += points;
            return 0;
        }
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
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

/* The cached day `day`, or NULL. */
static cached_day *find_day(tp_stats_cache *c, int64_t day)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->days[mid].day == day)
            return &c->days[mid];
        if (c->days[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Adds an empty day (not yet cached) in order; NULL out of memory. */
static cached_day *insert_day(tp_stats_cache *c, int64_t day)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        cached_day *grown = realloc(c->days, cap * sizeof *grown);
        if (!grown)
            return NULL;
        c->days = grown;
        c->cap = cap;
    }
    size_t at = c->n;
    while (at > 0 && c->days[at - 1].day > day)
        at--;
    memmove(&c->days[at + 1], &c->days[at], (c->n - at) * sizeof *c->days);
    c->n++;
    memset(&c->days[at], 0, sizeof c->days[at]);
    c->days[at].day = day;
    return &c->days[at];
}

static void drop_days(tp_stats_cache *c, int64_t keep_first, int64_t keep_last)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->days[i].day >= keep_first && c->days[i].day <= keep_last)
            c->days[kept++] = c->days[i];
        else
            free(c->days[i].figures.rows);
    }
    c->n = kept;
}

void tp_stats_cache_free(tp_stats_cache *c)
{
    if (!c)
        return;
    drop_days(c, 1, 0);
    free(c->days);
    free(c);
}

/* One ledger group (kind, day, covering action, approver, count, sum)
 * into its cached day, when that day is cached. */
static int add_ledger_group(tp_stats_cache *c, sqlite3_stmt *q)
{
    cached_day *d = find_day(c, sqlite3_column_int64(q, 1));
    if (!d)
        return 0; /* a day no one asked for: read in full when asked */
    acc *a = &d->figures;
    const char *kind = text_or_empty(q, 0);
    const char *act = text_or_empty(q, 2);
    const char *appr = text_or_empty(q, 3);
    int64_t count = sqlite3_column_int64(q, 4), points = sqlite3_column_int64(q, 5);
    int correction = strcmp(act, "correction") == 0;
    if (strcmp(kind, "earn") == 0)
        return add(a, "issued", "", count, points);
    if (strcmp(kind, "retro") == 0)
        return add(a, correction ? "corrected" : "retro", appr, count, points);
    if (strcmp(kind, "reversal") == 0)
        /* A correction's reversal is the other half of the credit it
         * moved, counted there; every other reversal is a refund's. */
        return correction ? 0 : add(a, "refunded", "", count, -points);
    if (strcmp(kind, "adjust") == 0 || strcmp(kind, "bulk") == 0 || strcmp(kind, "import") == 0)
        return add(a, "adjusted", "", count, points);
    return 0; /* "expire", and kinds a later schema adds: not on the dashboard */
}

static int add_receipt_group(tp_stats_cache *c, sqlite3_stmt *q)
{
    cached_day *d = find_day(c, sqlite3_column_int64(q, 0));
    return d ? add(&d->figures, "receipts", text_or_empty(q, 1), sqlite3_column_int64(q, 2),
                   sqlite3_column_int64(q, 3))
             : 0;
}

/* Runs `sql` with the alignment and up to three more parameters, each
 * group into the cache. SQLITE_OK, an SQLite error, or SQLITE_NOMEM. */
static int run_groups(sqlite3 *db, tp_stats_cache *c, const char *sql, int ledger, int64_t p2,
                      int64_t p3, int64_t p4)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(q, 1, c->align);
    sqlite3_bind_int64(q, 2, p2);
    sqlite3_bind_int64(q, 3, p3);
    if (sqlite3_bind_parameter_count(q) >= 4)
        sqlite3_bind_int64(q, 4, p4);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        if ((ledger ? add_ledger_group(c, q) : add_receipt_group(c, q)) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int64_t max_id(sqlite3 *db, const char *sql, int *rc)
{
    sqlite3_stmt *q = NULL;
    int64_t v = 0;
    if ((*rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL)) == SQLITE_OK) {
        if ((*rc = sqlite3_step(q)) == SQLITE_ROW) {
            v = sqlite3_column_int64(q, 0);
            *rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(q);
    return v;
}

/* Brings the cache up to date with the entries and receipts written since
 * (rowid ranges: ids only grow, the ledger and the journal are
 * append-only, and a writer that commits after this snapshot was given
 * ids above every id in it), then reads the days of [first, last] it does
 * not have, each run of them in one range scan up to the snapshot's ids. */
static int refresh(sqlite3 *db, tp_stats_cache *c, int64_t first, int64_t last)
{
    int rc;
    int64_t ledger_max = max_id(db, "SELECT COALESCE(max(id), 0) FROM ledger", &rc);
    int64_t receipts_max =
        rc == SQLITE_OK ? max_id(db, "SELECT COALESCE(max(id), 0) FROM receipts", &rc) : 0;
    if (rc != SQLITE_OK)
        return rc;
    if (c->n == 0) {
        c->ledger_upto = ledger_max;
        c->receipts_upto = receipts_max;
    }
    if (ledger_max > c->ledger_upto &&
        (rc = run_groups(db, c, ledger_new_sql, 1, c->ledger_upto, ledger_max, 0)) != SQLITE_OK)
        return rc;
    c->ledger_upto = ledger_max;
    if (receipts_max > c->receipts_upto &&
        (rc = run_groups(db, c, receipts_new_sql, 0, c->receipts_upto, receipts_max, 0)) !=
            SQLITE_OK)
        return rc;
    c->receipts_upto = receipts_max;
    for (int64_t day = first; day <= last; day++) {
        if (find_day(c, day))
            continue;
        int64_t end = day; /* a run of days not cached: [day, end] */
        while (end < last && !find_day(c, end + 1))
            end++;
        for (int64_t d = day; d <= end; d++)
            if (!insert_day(c, d))
                return SQLITE_NOMEM;
        if ((rc = run_groups(db, c, ledger_days_sql, 1, day, end + 1, ledger_max)) !=
                SQLITE_OK ||
            (rc = run_groups(db, c, receipts_days_sql, 0, day, end + 1, receipts_max)) !=
                SQLITE_OK)
            return rc; /* the caller drops the cache: the run is incomplete */
        day = end;
    }
    return SQLITE_OK;
}

tp_status tp_stats_read(tp_store *s, tp_stats_cache **cache, int64_t from_ms, int32_t days,
                        tp_stats_row **rows, size_t *n, tp_message *msg)
{
    *rows = NULL;
    *n = 0;
    int64_t align = from_ms % DAY_MS;
    if (*cache && (*cache)->align != align) {
        tp_stats_cache_free(*cache);
        *cache = NULL;
    }
    if (!*cache) {
        if (!(*cache = calloc(1, sizeof **cache))) {
            tp_msg_set(msg, "Out of memory reading the dashboard's figures.");
            return TP_ERR_NO_MEMORY;
        }
        (*cache)->align = align;
    }
    tp_stats_cache *c = *cache;
    int64_t first = (from_ms - align) / DAY_MS, last = first + days - 1;
    if (c->n + (size_t)days > CACHE_DAYS_MAX)
        drop_days(c, first, last);
    sqlite3 *db = tp_store_db(s);
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = refresh(db, c, first, last);
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM)
        tp_msg_set(msg, "The dashboard's figures could not be read: %s.", sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL); /* a read: nothing to lose */
    if (rc != SQLITE_OK) {
        /* Whatever was half read is not kept. */
        tp_stats_cache_free(c);
        *cache = NULL;
        if (rc == SQLITE_NOMEM)
            tp_msg_set(msg, "Out of memory reading the dashboard's figures.");
        return rc == SQLITE_NOMEM ? TP_ERR_NO_MEMORY : TP_ERR_STORAGE;
    }
    size_t total = 0;
    for (int64_t day = first; day <= last; day++)
        total += find_day(c, day)->figures.n;
    tp_stats_row *out = total ? malloc(total * sizeof *out) : NULL;
    if (total && !out) {
        tp_msg_set(msg, "Out of memory reading the dashboard's figures.");
        return TP_ERR_NO_MEMORY;
    }
    size_t k = 0;
    for (int64_t day = first; day <= last; day++) {
        const acc *a = &find_day(c, day)->figures;
        for (size_t i = 0; i < a->n; i++) {
            out[k] = a->rows[i];
            out[k++].day = (int32_t)(day - first);
        }
    }
    if (k > 1)
        qsort(out, k, sizeof *out, by_metric_day_key);
    *rows = out;
    *n = k;
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
    st = tp_stats_read(in->admin_store, &in->stats_cache, q.from_ms, q.days, &rows, &n, msg);
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
