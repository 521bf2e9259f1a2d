/*
 * bench_checkout.c — the checkout benchmark behind `make bench`.
 *
 * What it measures, all in one process and one run, printed as one table:
 *
 *  1. Host-thread cost of checkout.complete(): the time the POS's main
 *     thread spends inside complete() for a 5-line receipt with a scanned
 *     member, and separately inside begin() + scan() + complete() together
 *     (p50, p99, max). docs/DESIGN.md §3 promises that the host thread only
 *     validates, computes and does a non-blocking enqueue, so these must stay
 *     in microseconds even while the writer thread is fsyncing. The host
 *     loop behaves like a real one: it delivers events (on_main_thread)
 *     whenever the plugin asked for a callback, and when complete() answers
 *     TP_ERR_BUSY (the bounded write queue is full) it counts the refusal,
 *     waits for the plugin's next event and completes again. Refusals are
 *     reported as their own figure, never folded into the percentiles.
 *
 *  2. Durable awards per second through the plugin (WAL, synchronous=FULL,
 *     group commit): N checkouts with distinct receipts for existing
 *     members, timed from the first complete() until admin flush() returns,
 *     i.e. until every award is committed to disk. The ledger is then read
 *     back to check that exactly N awards landed.
 *
 *  3. A baseline in the same process: raw SQLite inserting the same rows
 *     (the receipts + ledger rows of each award) into a database with the
 *     plugin's own schema (copied from the plugin's file), WAL +
 *     synchronous=FULL, one transaction per batch of the plugin's batch_max
 *     (256). The plugin/baseline ratio says how much of SQLite's durable
 *     insert rate the plugin keeps after its lookups, savepoints, queue and
 *     events.
 *
 *  4. Plugin memory: growth of VmRSS (/proc/self/status) from before the
 *     plugin is loaded and its instance created and initialised, to after
 *     all checkouts of 1 and 2 have been committed and delivered.
 *
 * Why this way: the plugin is loaded from build/tillpoints.so with dlopen
 * through host-shim/host.c, exactly as a POS loads it, so the figures are
 * those of the shipped artifact (not of test objects). Inputs come from a
 * seeded PRNG, so two runs send the same receipts. Databases live in a
 * fresh directory under /tmp (the same disk as the project on the reference
 * machines), removed at the end.
 *
 * Usage: bench_checkout [--quick] [--n N] [--seed S] [--plugin PATH]
 * The exit status is 0 when the measurement ran and the read-back check
 * passed, whatever the verdicts; 1 when the bench itself could not run.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "host.h"
#include "bench.h"

#define LAT_N_DEFAULT 20000
#define AWARD_N_DEFAULT 50000
#define LAT_N_QUICK 2000
#define AWARD_N_QUICK 5000
#define WARMUP_N 200         /* untimed checkouts before the latency phase */
#define MEMBERS 2000         /* members added through admin.member_add */
#define BATCH_MAX 256        /* written into the plugin's config too */
#define QUEUE_CAPACITY 4096  /* the plugin's default, stated explicitly */
#define LINES 5
#define SALE_TIME_BASE 1735689600000LL /* 2025-01-01T00:00:00Z, fixed for
                                          reproducible rows */

/* Targets (docs/DESIGN.md §10 and the bench brief). */
#define TARGET_COMPLETE_P99_US 50.0
#define TARGET_COMPLETE_MAX_US 1000.0
#define TARGET_AWARDS_PER_S 20000.0
#define TARGET_RATIO 0.5
#define TARGET_RSS_MIB 16.0

/* ---- small utilities ---------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000L;
}

/* ---- the sales ---------------------------------------------------------- */

/* One generated checkout. The plugin's preview fills eligible/points, which
 * the baseline then inserts verbatim, so both write the same rows. */
typedef struct sale {
    int member;                /* index into the member codes */
    int64_t amount[LINES];
    int64_t discount[LINES];
    int64_t total;             /* sum of net line amounts (tax included) */
    int64_t eligible;          /* from the preview */
    int64_t points;            /* from the preview */
    int64_t time_ms;
} sale;

static void make_sales(sale *s, size_t n, uint64_t *rng, size_t first_index)
{
    for (size_t i = 0; i < n; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i].member = (int)bench_rng_range(rng, 0, MEMBERS - 1);
        for (int l = 0; l < LINES; l++) {
            s[i].amount[l] = bench_rng_range(rng, 50, 5000);
            /* one line in four carries a discount of up to a fifth */
            s[i].discount[l] = bench_rng_range(rng, 0, 3) == 0 ? bench_rng_range(rng, 0, s[i].amount[l] / 5) : 0;
            s[i].total += s[i].amount[l] - s[i].discount[l];
        }
        s[i].time_ms = SALE_TIME_BASE + (int64_t)(first_index + i) * 7000;
    }
}

static void member_code(char *out, size_t cap, int member)
{
    snprintf(out, cap, "M%06d", member + 1);
}

static void receipt_id(char *out, size_t cap, char phase, size_t i)
{
    snprintf(out, cap, "%c-%07zu", phase, i + 1);
}

/* ---- the host ----------------------------------------------------------- */

typedef struct counters {
    long committed;      /* AWARD_COMMITTED, status OK, points > 0 */
    long committed_other;/* AWARD_COMMITTED without points (no member) */
    long award_failed;
    long identified, unknown;
    long storage_errors;
    long other;
} counters;

static void on_event(void *user, const tp_event *ev)
{
    counters *c = user;
    switch (ev->kind) {
    case TP_EVENT_AWARD_COMMITTED:
        if (ev->status == TP_OK && ev->points > 0)
            c->committed++;
        else
            c->committed_other++;
        break;
    case TP_EVENT_AWARD_FAILED: c->award_failed++; break;
    case TP_EVENT_MEMBER_IDENTIFIED: c->identified++; break;
    case TP_EVENT_MEMBER_UNKNOWN: c->unknown++; break;
    case TP_EVENT_STORAGE_ERROR: c->storage_errors++; break;
    default: c->other++; break;
    }
}

typedef struct bench_host {
    tp_hostlib *lib;
    const tp_plugin *plugin;
    const tp_checkout_ext *co;
    const tp_admin_set *ad;
    int wake_fd;
} bench_host;

/* Delivers events when the plugin asked for a callback; waits up to
 * `timeout_ms` for that request (0: just look). */
static void pump(const bench_host *h, int timeout_ms)
{
    struct pollfd p = {.fd = h->wake_fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) > 0)
        tp_hostlib_dispatch(h->lib);
}

/* Per-phase results of the host loop. */
typedef struct run_stats {
    int64_t *complete_ns;  /* accepted complete() calls, one per checkout */
    int64_t *whole_ns;     /* begin + scan + every complete() call */
    long busy_calls;       /* complete() calls refused with TP_ERR_BUSY */
    long busy_checkouts;   /* checkouts refused at least once */
    long scan_deferred;    /* scan accepted, but the lookup queue was full so
                              no MEMBER_IDENTIFIED event will follow */
    int64_t first_complete_ns;
} run_stats;

/* Runs checkouts [0, n) of `sales` with receipts "<phase>-NNNNNNN". Fills
 * eligible/points from the preview. Returns 0, or -1 with a message. */
static int run_checkouts(const bench_host *h, sale *sales, size_t n, char phase,
                         run_stats *rs)
{
    static const char *const skus[LINES] = {"SKU-BREAD", "SKU-MILK", "SKU-COFFEE",
                                            "SKU-FRUIT", "TAX-VAT"};
    tp_line lines[LINES];
    char txn[32], rec[32], code[32];
    tp_message msg;
    rs->busy_calls = rs->busy_checkouts = rs->scan_deferred = 0;
    rs->first_complete_ns = 0;
    for (size_t i = 0; i < n; i++) {
        sale *s = &sales[i];
        snprintf(txn, sizeof txn, "T%c%07zu", phase, i + 1);
        receipt_id(rec, sizeof rec, phase, i);
        member_code(code, sizeof code, s->member);
        for (int l = 0; l < LINES; l++) {
            lines[l].sku = skus[l];
            lines[l].category = l == LINES - 1 ? "tax" : "grocery";
            lines[l].amount_minor = s->amount[l];
            lines[l].discount_minor = s->discount[l];
            lines[l].flags = l == LINES - 1 ? TP_LINE_TAX : 0;
        }
        tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = rec,
                        .currency = "EUR", .time_ms = s->time_ms, .lines = lines,
                        .line_count = LINES};
        tp_award_preview pv = {.struct_size = sizeof pv};

        pump(h, 0); /* a real host's loop delivers events between sales */

        int64_t t0 = bench_now_ns();
        tp_status st = h->co->begin(h->plugin, txn, "staff-1", &msg);
        if (st == TP_OK)
            st = h->co->scan(h->plugin, txn, code, &msg);
        int64_t t1 = bench_now_ns();
        if (st != TP_OK) {
            fprintf(stderr, "bench: begin/scan %s: %s (%s)\n", txn, tp_hostlib_status_name(st),
                    msg.text);
            return -1;
        }
        if (msg.text[0])
            rs->scan_deferred++;
        int64_t whole = t1 - t0, call;
        long busy_before = rs->busy_calls;
        for (;;) {
            int64_t c0 = bench_now_ns();
            if (rs->first_complete_ns == 0)
                rs->first_complete_ns = c0;
            st = h->co->complete(h->plugin, txn, &r, &pv, &msg);
            call = bench_now_ns() - c0;
            whole += call;
            if (st != TP_ERR_BUSY)
                break;
            /* Queue full: the writer is behind. Deliver what it finished,
             * wait a moment (1 ms) and complete again, as the message
             * suggests. Waking on every event instead would make this loop
             * spin against the writer for CPU and measure the host's retry
             * policy rather than the plugin. */
            if (rs->busy_calls++ == busy_before)
                rs->busy_checkouts++;
            pump(h, 0);
            struct timespec ms = {0, 1000000L};
            nanosleep(&ms, NULL);
        }
        if (st != TP_OK) {
            fprintf(stderr, "bench: complete %s: %s (%s)\n", rec, tp_hostlib_status_name(st),
                    msg.text);
            return -1;
        }
        s->eligible = pv.eligible_minor;
        s->points = pv.points;
        if (rs->complete_ns)
            rs->complete_ns[i] = call;
        if (rs->whole_ns)
            rs->whole_ns[i] = whole;
    }
    return 0;
}

/* ---- the baseline ------------------------------------------------------- */

static int sql_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bench: SQL failed: %s\n  in: %.120s\n", err ? err : "?", sql);
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* Copies the plugin's schema (tables, indexes, triggers, in creation order)
 * into `dst`, so the baseline inserts into exactly the same shape. */
static int copy_schema(const char *plugin_db, sqlite3 *dst)
{
    sqlite3 *src = NULL;
    sqlite3_stmt *q = NULL;
    int rc = -1;
    if (sqlite3_open_v2(plugin_db, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(src, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"
                                " AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
                           -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: cannot read the plugin's schema: %s\n", sqlite3_errmsg(src));
        goto out;
    }
    if (sql_exec(dst, "BEGIN") != 0)
        goto out;
    while (sqlite3_step(q) == SQLITE_ROW)
        if (sql_exec(dst, (const char *)sqlite3_column_text(q, 0)) != 0)
            goto out;
    rc = sql_exec(dst, "COMMIT");
out:
    sqlite3_finalize(q);
    sqlite3_close(src);
    return rc;
}

enum { B_RECEIPT, B_LEDGER, B_COUNT };

/* Inserts the receipts + ledger rows of `n` sales, `batch` per transaction. */
static int insert_rows(sqlite3 *db, sqlite3_stmt *const *st, const sale *s, size_t n,
                       char phase, size_t batch)
{
    char rec[32], txn[32], code[32];
    for (size_t i = 0; i < n; i += batch) {
        size_t end = i + batch < n ? i + batch : n;
        if (sql_exec(db, "BEGIN IMMEDIATE") != 0)
            return -1;
        for (size_t k = i; k < end; k++) {
            int64_t now = wall_ms();
            receipt_id(rec, sizeof rec, phase, k);
            snprintf(txn, sizeof txn, "T%c%07zu", phase, k + 1);
            member_code(code, sizeof code, s[k].member);
            sqlite3_stmt *q = st[B_RECEIPT];
            sqlite3_bind_text(q, 1, "store-1", -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 2, "till-1", -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 3, rec, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 4, txn, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 5, "staff-1", -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 6, s[k].time_ms);
            sqlite3_bind_text(q, 7, "EUR", -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 8, s[k].total);
            sqlite3_bind_int64(q, 9, s[k].eligible);
            sqlite3_bind_int(q, 10, LINES);
            sqlite3_bind_int64(q, 11, s[k].member + 1); /* ids follow insertion order */
            sqlite3_bind_text(q, 12, code, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 13, now);
            int rc = sqlite3_step(q);
            sqlite3_reset(q);
            if (rc == SQLITE_DONE && s[k].points > 0) {
                q = st[B_LEDGER];
                sqlite3_bind_int64(q, 1, s[k].member + 1);
                sqlite3_bind_text(q, 2, "store-1", -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 3, "till-1", -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 4, rec, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 5, "earn", -1, SQLITE_STATIC);
                sqlite3_bind_int64(q, 6, s[k].points);
                sqlite3_bind_null(q, 7);
                sqlite3_bind_text(q, 8, "staff-1", -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 9, "", -1, SQLITE_STATIC);
                sqlite3_bind_int64(q, 10, s[k].time_ms);
                sqlite3_bind_int64(q, 11, now);
                rc = sqlite3_step(q);
                sqlite3_reset(q);
            }
            if (rc != SQLITE_DONE) {
                fprintf(stderr, "bench: baseline insert %s: %s\n", rec, sqlite3_errmsg(db));
                sql_exec(db, "ROLLBACK");
                return -1;
            }
        }
        if (sql_exec(db, "COMMIT") != 0)
            return -1;
    }
    return 0;
}

/* Baseline: fresh database with the plugin's schema, brought to the state
 * the plugin's database had before the timed phase (members, the latency
 * phase's rows; untimed), then the timed phase's rows inserted in batches.
 * Returns rows-of-awards per second, or a negative value on failure. */
static double run_baseline(const char *dir, const char *plugin_db, const sale *warm,
                           size_t warm_n, const sale *lat, size_t lat_n, const sale *dur,
                           size_t dur_n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/baseline.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st[B_COUNT] = {NULL, NULL};
    sqlite3_stmt *mem = NULL;
    double rate = -1.0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "bench: cannot open %s\n", path);
        goto out;
    }
    if (sql_exec(db, "PRAGMA journal_mode = WAL") != 0 ||
        sql_exec(db, "PRAGMA synchronous = FULL") != 0 ||
        sql_exec(db, "PRAGMA foreign_keys = ON") != 0 || copy_schema(plugin_db, db) != 0)
        goto out;
    if (sqlite3_prepare_v2(db, "INSERT INTO members(code, name, created_ms) VALUES(?1, ?2, ?3)",
                           -1, &mem, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO receipts(location, terminal, receipt, txn, staff, time_ms,"
                           " currency, total_minor, eligible_minor, line_count, member_id,"
                           " scanned_code, journaled_ms)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                           -1, &st[B_RECEIPT], NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO ledger(member_id, location, terminal, receipt, kind,"
                           " points, reverses, staff, reason, time_ms, recorded_ms)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           -1, &st[B_LEDGER], NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: baseline prepare: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    if (sql_exec(db, "BEGIN") != 0)
        goto out;
    for (int m = 0; m < MEMBERS; m++) {
        char code[32], name[32];
        member_code(code, sizeof code, m);
        snprintf(name, sizeof name, "Member %d", m + 1);
        sqlite3_bind_text(mem, 1, code, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(mem, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(mem, 3, wall_ms());
        if (sqlite3_step(mem) != SQLITE_DONE) {
            fprintf(stderr, "bench: baseline member: %s\n", sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_reset(mem);
    }
    if (sql_exec(db, "COMMIT") != 0 ||
        insert_rows(db, st, warm, warm_n, 'W', warm_n) != 0 ||
        insert_rows(db, st, lat, lat_n, 'L', lat_n) != 0)
        goto out;
    int64_t t0 = bench_now_ns();
    if (insert_rows(db, st, dur, dur_n, 'D', BATCH_MAX) != 0)
        goto out;
    int64_t t1 = bench_now_ns();
    rate = (double)dur_n / ((double)(t1 - t0) / 1e9);
out:
    sqlite3_finalize(mem);
    for (int i = 0; i < B_COUNT; i++)
        sqlite3_finalize(st[i]);
    sqlite3_close(db);
    return rate;
}

/* Reads back the plugin's ledger: how many 'earn' rows and points the
 * durable phase left. Returns 0, or -1 when the file cannot be read. */
static int read_back(const char *plugin_db, long *rows, int64_t *points)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int rc = -1;
    if (sqlite3_open_v2(plugin_db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*), COALESCE(sum(points), 0) FROM ledger"
                               " WHERE kind = 'earn' AND receipt LIKE 'D-%'",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        *rows = (long)sqlite3_column_int64(q, 0);
        *points = sqlite3_column_int64(q, 1);
        rc = 0;
    } else {
        fprintf(stderr, "bench: cannot read back %s: %s\n", plugin_db,
                db ? sqlite3_errmsg(db) : "out of memory");
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rc;
}

/* ---- the table ---------------------------------------------------------- */

static void row(const char *figure, const char *value, const char *unit, const char *target,
                const char *ratio, const char *verdict)
{
    printf("%-40s %12s  %-10s %-10s %-9s %s\n", figure, value, unit, target, ratio, verdict);
}

static void row_num(const char *figure, double v, int decimals, const char *unit,
                    const char *target, const char *ratio, int has_target, int ok)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.*f", decimals, v);
    row(figure, buf, unit, target, ratio, has_target ? (ok ? "ok" : "MISSED") : "-");
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: bench_checkout [--quick] [--n N] [--seed S] [--plugin PATH]\n"
            "  --quick        smaller run for CI smoke (%d latency checkouts, %d awards)\n"
            "  --n N          checkouts in each timed phase (default %d latency, %d awards)\n"
            "  --seed S       PRNG seed for the generated receipts (default 42)\n"
            "  --plugin PATH  plugin to load (default build/tillpoints.so)\n",
            LAT_N_QUICK, AWARD_N_QUICK, LAT_N_DEFAULT, AWARD_N_DEFAULT);
}

static int parse_size(const char *s, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || v < 1 || v > 10000000ULL || s[0] == '-')
        return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    size_t lat_n = LAT_N_DEFAULT, dur_n = AWARD_N_DEFAULT;
    uint64_t seed = 42;
    const char *plugin_path = "build/tillpoints.so";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            lat_n = LAT_N_QUICK;
            dur_n = AWARD_N_QUICK;
        } else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            size_t n;
            if (parse_size(argv[++i], &n) != 0) {
                fprintf(stderr, "bench: --n wants a count from 1 to 10000000\n");
                return 1;
            }
            lat_n = dur_n = n;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc) {
            plugin_path = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 1;
        }
    }

    int status = 1;
    char dir[] = "/tmp/tillpoints-bench-XXXXXX";
    char config[512], plugin_db[512];
    bench_host h;
    memset(&h, 0, sizeof h);
    counters ev;
    memset(&ev, 0, sizeof ev);
    sale *warm = NULL, *lat = NULL, *dur = NULL;
    run_stats lrs, drs;
    memset(&lrs, 0, sizeof lrs);
    memset(&drs, 0, sizeof drs);
    int dir_made = 0;

    warm = calloc(WARMUP_N, sizeof *warm);
    lat = calloc(lat_n, sizeof *lat);
    dur = calloc(dur_n, sizeof *dur);
    lrs.complete_ns = calloc(lat_n, sizeof *lrs.complete_ns);
    lrs.whole_ns = calloc(lat_n, sizeof *lrs.whole_ns);
    if (!warm || !lat || !dur || !lrs.complete_ns || !lrs.whole_ns) {
        fprintf(stderr, "bench: out of memory\n");
        goto out;
    }
    uint64_t rng = seed;
    make_sales(warm, WARMUP_N, &rng, 0);
    make_sales(lat, lat_n, &rng, WARMUP_N);
    make_sales(dur, dur_n, &rng, WARMUP_N + lat_n);

    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench: cannot create %s: %s\n", dir, strerror(errno));
        goto out;
    }
    dir_made = 1;
    snprintf(config, sizeof config, "%s/tillpoints.conf", dir);
    snprintf(plugin_db, sizeof plugin_db, "%s/plugin.db", dir);
    FILE *cf = fopen(config, "w");
    if (!cf) {
        fprintf(stderr, "bench: cannot write %s: %s\n", config, strerror(errno));
        goto out;
    }
    fprintf(cf, "[store]\ndatabase = plugin.db\ncurrency = EUR\n"
                "[limits]\nbatch_max = %d\nqueue_capacity = %d\n",
            BATCH_MAX, QUEUE_CAPACITY);
    fclose(cf);

    /* 4. memory: from before the plugin is loaded and created. The
     * bench's own sample arrays are touched first so that their pages are
     * not counted as the plugin's. */
    memset(lrs.complete_ns, 0, lat_n * sizeof *lrs.complete_ns);
    memset(lrs.whole_ns, 0, lat_n * sizeof *lrs.whole_ns);
    long rss0 = bench_proc_status_kib("VmRSS");

    tp_hostlib_options opt;
    memset(&opt, 0, sizeof opt);
    opt.plugin_path = plugin_path;
    opt.config_path = config;
    opt.host_name = "bench_checkout";
    opt.on_event = on_event;
    opt.user = &ev;
    char err[512];
    h.lib = tp_hostlib_open(&opt, err, sizeof err);
    if (!h.lib) {
        fprintf(stderr, "bench: %s\n", err);
        goto out;
    }
    h.plugin = tp_hostlib_plugin(h.lib);
    h.co = tp_hostlib_checkout(h.lib);
    h.ad = tp_hostlib_admin(h.lib);
    h.wake_fd = tp_hostlib_wake_fd(h.lib);

    fprintf(stderr, "bench: adding %d members through admin.member_add\n", MEMBERS);
    for (int m = 0; m < MEMBERS; m++) {
        char code[32], name[32];
        member_code(code, sizeof code, m);
        snprintf(name, sizeof name, "Member %d", m + 1);
        tp_member_new nm = {.struct_size = sizeof nm, .code = code, .name = name};
        tp_message msg;
        tp_status st = h.ad->members->member_add(h.plugin, &nm, NULL, &msg);
        if (st != TP_OK) {
            fprintf(stderr, "bench: member_add %s: %s\n", code, msg.text);
            goto out;
        }
    }

    tp_message msg;
    fprintf(stderr, "bench: warm-up, %d checkouts (untimed)\n", WARMUP_N);
    run_stats wrs;
    memset(&wrs, 0, sizeof wrs);
    if (run_checkouts(&h, warm, WARMUP_N, 'W', &wrs) != 0 ||
        tp_hostlib_settle(h.lib, 60000, &msg) != TP_OK)
        goto out;

    /* 1. host-thread cost */
    fprintf(stderr, "bench: latency phase, %zu checkouts\n", lat_n);
    if (run_checkouts(&h, lat, lat_n, 'L', &lrs) != 0)
        goto out;
    if (tp_hostlib_settle(h.lib, 120000, &msg) != TP_OK) {
        fprintf(stderr, "bench: flush after the latency phase: %s\n", msg.text);
        goto out;
    }

    /* 2. durable awards per second */
    fprintf(stderr, "bench: durable phase, %zu awards\n", dur_n);
    sync(); /* start both durable measurements with no dirty pages pending */
    long committed_before = ev.committed;
    if (run_checkouts(&h, dur, dur_n, 'D', &drs) != 0)
        goto out;
    tp_status fst = h.ad->checkout->flush(h.plugin, 120000, &msg);
    int64_t dur_end = bench_now_ns();
    tp_hostlib_dispatch(h.lib);
    if (fst != TP_OK) {
        fprintf(stderr, "bench: flush after the durable phase: %s\n", msg.text);
        goto out;
    }
    double dur_s = (double)(dur_end - drs.first_complete_ns) / 1e9;
    double plugin_rate = (double)dur_n / dur_s;
    long dur_committed = ev.committed - committed_before;

    long rss1 = bench_proc_status_kib("VmRSS");
    long hwm1 = bench_proc_status_kib("VmHWM");

    tp_hostlib_close(h.lib);
    h.lib = NULL;

    long rows = 0;
    int64_t points = 0, expect_points = 0;
    for (size_t i = 0; i < dur_n; i++)
        expect_points += dur[i].points;
    if (read_back(plugin_db, &rows, &points) != 0)
        goto out;

    /* 3. baseline, same rows, same process */
    fprintf(stderr, "bench: baseline, %zu awards as raw SQLite inserts\n", dur_n);
    sync();
    double base_rate = run_baseline(dir, plugin_db, warm, WARMUP_N, lat, lat_n, dur, dur_n);
    if (base_rate < 0)
        goto out;

    /* ---- the table ---- */
    qsort(lrs.complete_ns, lat_n, sizeof *lrs.complete_ns, bench_cmp_i64);
    qsort(lrs.whole_ns, lat_n, sizeof *lrs.whole_ns, bench_cmp_i64);
    double c50 = bench_pct_us(lrs.complete_ns, lat_n, 0.50), c99 = bench_pct_us(lrs.complete_ns, lat_n, 0.99),
           cmax = bench_pct_us(lrs.complete_ns, lat_n, 1.0);
    double w50 = bench_pct_us(lrs.whole_ns, lat_n, 0.50), w99 = bench_pct_us(lrs.whole_ns, lat_n, 0.99),
           wmax = bench_pct_us(lrs.whole_ns, lat_n, 1.0);
    double ratio = plugin_rate / base_rate;
    double rss_mib = rss0 >= 0 && rss1 >= 0 ? (double)(rss1 - rss0) / 1024.0 : -1.0;
    double hwm_mib = rss0 >= 0 && hwm1 >= 0 ? (double)(hwm1 - rss0) / 1024.0 : -1.0;
    char ratio_s[32], target[32], value[32], head[128];

    snprintf(head, sizeof head, "bench_checkout: seed %" PRIu64 ", %zu latency checkouts, %zu awards",
             seed, lat_n, dur_n);
    printf("%s\n", head);
    row("figure", "value", "unit", "target", "ratio", "verdict");
    row("------", "-----", "----", "------", "-----", "-------");
    row_num("complete() p50", c50, 2, "us", "-", "-", 0, 1);
    row_num("complete() p99", c99, 2, "us", "< 50", "-", 1, c99 < TARGET_COMPLETE_P99_US);
    row_num("complete() max", cmax, 2, "us", "< 1000", "-", 1, cmax < TARGET_COMPLETE_MAX_US);
    row_num("begin+scan+complete p50", w50, 2, "us", "-", "-", 0, 1);
    row_num("begin+scan+complete p99", w99, 2, "us", "-", "-", 0, 1);
    row_num("begin+scan+complete max", wmax, 2, "us", "-", "-", 0, 1);
    row_num("busy rejections (latency phase)", (double)lrs.busy_calls, 0, "calls", "-", "-", 0, 1);
    row_num("  checkouts refused at least once", (double)lrs.busy_checkouts, 0, "checkouts", "-",
            "-", 0, 1);
    row_num("scan lookups skipped, queue full", (double)lrs.scan_deferred, 0, "scans", "-", "-",
            0, 1);
    snprintf(ratio_s, sizeof ratio_s, "%.2f", ratio);
    row_num("durable awards/s (plugin, sync=FULL)", plugin_rate, 0, "awards/s", ">= 20000",
            ratio_s, 1, plugin_rate >= TARGET_AWARDS_PER_S);
    row_num("durable awards/s (raw SQLite baseline)", base_rate, 0, "awards/s", "-", "1.00", 0, 1);
    row_num("plugin/baseline throughput", ratio, 2, "x", ">= 0.5", ratio_s, 1,
            ratio >= TARGET_RATIO);
    row_num("busy rejections (durable phase)", (double)drs.busy_calls, 0, "calls", "-", "-", 0, 1);
    row_num("  checkouts refused at least once", (double)drs.busy_checkouts, 0, "checkouts", "-",
            "-", 0, 1);
    snprintf(target, sizeof target, "= %zu", dur_n);
    snprintf(value, sizeof value, "%ld", rows);
    row("awards in ledger after flush", value, "rows", target, "-",
        rows == (long)dur_n && points == expect_points && dur_committed == (long)dur_n
            ? "ok" : "MISSED");
    row_num("plugin RSS growth", rss_mib, 2, "MiB", "< 16", "-", rss_mib >= 0,
            rss_mib >= 0 && rss_mib < TARGET_RSS_MIB);
    row_num("plugin peak RSS growth (VmHWM)", hwm_mib, 2, "MiB", "-", "-", 0, 1);

    if (rows != (long)dur_n || points != expect_points || dur_committed != (long)dur_n) {
        fprintf(stderr, "bench: read-back mismatch: %ld ledger rows (%" PRId64
                " points), %ld committed events; expected %zu rows (%" PRId64 " points)\n",
                rows, points, dur_committed, dur_n, expect_points);
        goto out;
    }
    if (ev.award_failed || ev.storage_errors || ev.unknown)
        fprintf(stderr, "bench: note: %ld award failures, %ld storage errors, %ld unknown "
                "members reported by events\n", ev.award_failed, ev.storage_errors, ev.unknown);
    status = 0;
out:
    if (h.lib)
        tp_hostlib_close(h.lib);
    if (dir_made)
        bench_remove_dir(dir);
    free(warm);
    free(lat);
    free(dur);
    free(lrs.complete_ns);
    free(lrs.whole_ns);
    return status;
}
