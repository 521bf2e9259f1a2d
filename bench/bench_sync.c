/*
 * bench_sync.c — the sync benchmark behind `make bench` (issue 7).
 *
 * What it measures, against a real PostgreSQL 15 started for the run
 * (tests/pg_fixture.sh; fsync on, as in production), printed as one table:
 *
 *  1. Drain rate: a backlog of N outbox events (default 100 000: members and
 *     earn entries written through the plugin's own schema and triggers,
 *     i.e. exactly the rows checkouts produce) waits in a terminal's SQLite
 *     file; the plugin is started with [sync] and the time until the outbox
 *     is empty (queue_status pending = 0) gives events/s into the central
 *     database. The central ledger is then counted: every event exactly once.
 *
 *  2. Host-thread cost of checkout.complete() while such a drain runs,
 *     against the same figure with an idle sync thread (baseline in the same
 *     run): p50, p99, max of the time inside complete().
 *
 * The plugin is linked in (libtillpoints-test.a), one instance, as a host
 * would use it. Usage: bench_sync [--quick] [--n N]
 * Exit status 0 when the measurement ran and the read-back matched.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/tillpoints.h"
#include "bench.h"
#include "hostabi.h"
#include "benchhost.h"

#define TARGET_EVENTS_PER_S 20000.0
#define MEMBERS 1000

typedef bench_host bhost;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int start(bhost *b, const char *config)
{
    b->on_event = NULL;
    return bench_host_start(b, "bench_sync", config);
}

static void stop(bhost *b)
{
    bench_host_stop(b);
}

static int fixture(const char *cmd, const char *dir)
{
    char line[512];
    snprintf(line, sizeof line, "sh tests/pg_fixture.sh %s %s %ld on", cmd, dir, (long)getpid());
    return system(line);
}

/* Writes `n` outbox events into the terminal's file through the schema's
 * triggers: members first (when `members`), then earn entries. */
static int make_backlog(const char *db_path, int members, long n, const char *tag)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(db_path, &db) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(db, 10000);
    char *err = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err);
    long made = 0;
    if (members) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
                 " INSERT INTO members(code, name, created_ms) SELECT printf('BM-%%05d', i),"
                 " 'Bench member', 0 FROM c",
                 MEMBERS);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, sql, NULL, NULL, &err);
        made = MEMBERS;
    }
    char sql[640];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %ld)"
             " INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, staff,"
             " reason, time_ms, recorded_ms) SELECT (SELECT id FROM members WHERE code ="
             " printf('BM-%%05d', 1 + i %% %d)), 'store-1', 'till-1', printf('%s-%%07d', i),"
             " 'earn', 1 + i %% 50, 'staff', '', 1700000000000 + i, 1700000000000 + i FROM c",
             n - made, MEMBERS, tag);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "bench: backlog: %s\n", err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static uint64_t pending(bhost *b)
{
    tp_queue_status st = {.struct_size = sizeof st};
    tp_message msg;
    if (b->ad->queue->queue_status(b->p, &st, &msg) != TP_OK)
        return UINT64_MAX;
    return st.pending;
}

/* n checkouts; complete() times (ns) into out. */
static int checkouts(bhost *b, const char *tag, size_t n, int64_t *out)
{
    for (size_t i = 0; i < n; i++) {
        char receipt[48], code[16];
        snprintf(receipt, sizeof receipt, "%s-%zu", tag, i);
        snprintf(code, sizeof code, "BM-%05d", (int)(1 + i % MEMBERS));
        tp_message msg;
        if (b->co->begin(b->p, receipt, "staff", &msg) != TP_OK ||
            b->co->scan(b->p, receipt, code, &msg) != TP_OK)
            return -1;
        tp_line lines[5];
        for (int k = 0; k < 5; k++)
            lines[k] = (tp_line){.sku = "SKU", .amount_minor = 199 + k * 100};
        tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line),
                        .receipt_id = receipt, .currency = "EUR", .lines = lines, .line_count = 5};
        int64_t t0 = bench_now_ns();
        tp_status st = b->co->complete(b->p, receipt, &r, NULL, &msg);
        out[i] = bench_now_ns() - t0;
        while (st == TP_ERR_BUSY) {
            b->p->on_main_thread(b->p);
            sleep_ms(1);
            st = b->co->complete(b->p, receipt, &r, NULL, &msg);
        }
        if (st != TP_OK) {
            fprintf(stderr, "bench: complete: %s\n", msg.text);
            return -1;
        }
        bench_host_pump(b);
        if (i % 8 == 7)
            sleep_ms(1); /* a till, not a loop: ~1000 checkouts/s */
    }
    tp_message msg;
    b->ad->checkout->flush(b->p, 60000, &msg);
    b->p->on_main_thread(b->p);
    return 0;
}

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

int main(int argc, char **argv)
{
    long n = 100000;
    size_t lat_n = 3000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            n = 20000;
            lat_n = 1000;
        } else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            n = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_sync [--quick] [--n EVENTS]\n");
            return 2;
        }
    }
    if (n < MEMBERS * 2) {
        fprintf(stderr, "bench: --n must be at least %d\n", MEMBERS * 2);
        return 2;
    }
    if (geteuid() != 0 || access("/usr/lib/postgresql/15/bin/initdb", X_OK) != 0) {
        fprintf(stderr, "bench_sync: needs root and PostgreSQL 15; skipped\n");
        return 0;
    }
    int status = 1;
    char dir[64], pgdir[96], config[160], db_path[160], ini[512];
    snprintf(dir, sizeof dir, "/tmp/tillpoints-bench-sync-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(pgdir, sizeof pgdir, "/tmp/tillpoints-bench-pg-%ld", (long)getpid());
    snprintf(config, sizeof config, "%s/tillpoints.conf", dir);
    snprintf(db_path, sizeof db_path, "%s/terminal.db", dir);
    int64_t *lat_idle = calloc(lat_n, sizeof *lat_idle);
    int64_t *lat_drain = calloc(lat_n, sizeof *lat_drain);
    bhost b;
    memset(&b, 0, sizeof b);
    PGconn *pg = NULL;
    if (!lat_idle || !lat_drain || fixture("start", pgdir) != 0)
        goto out;

    /* The backlog, written while the terminal runs standalone. */
    FILE *f = fopen(config, "w");
    if (!f)
        goto out;
    fprintf(f, "[store]\ndatabase = terminal.db\nlocation = store-1\nterminal = till-1\n");
    fclose(f);
    if (start(&b, config) != 0)
        goto out;
    stop(&b);
    fprintf(stderr, "bench: writing a backlog of %ld outbox events\n", n);
    if (make_backlog(db_path, 1, n, "R") != 0)
        goto out;

    /* 1. Drain. The password is in a secrets file readable by its owner
     * only, as the plugin requires of a config others can read. */
    char secrets[200];
    snprintf(secrets, sizeof secrets, "%s/secrets.conf", dir);
    f = fopen(secrets, "w");
    if (!f || fchmod(fileno(f), 0600) != 0 || fputs("[sync]\npassword = secret\n", f) == EOF) {
        if (f)
            fclose(f);
        goto out;
    }
    fclose(f);
    snprintf(ini, sizeof ini,
             "[store]\ndatabase = terminal.db\nlocation = store-1\nterminal = till-1\n"
             "secrets = secrets.conf\n"
             "[sync]\npostgres = host=%s dbname=tp user=tillpoints\n"
             "batch = 5000\npush_interval_ms = 20\npull_interval_ms = 500\n"
             "backoff_min_ms = 20\nbackoff_max_ms = 200\n", pgdir);
    f = fopen(config, "w");
    if (!f)
        goto out;
    fputs(ini, f);
    fclose(f);
    if (start(&b, config) != 0)
        goto out;
    tp_message msg;
    int32_t from, to;
    if (b.ad->queue->central_init(b.p, &from, &to, &msg) != TP_OK) {
        fprintf(stderr, "bench: central init: %s\n", msg.text);
        goto out;
    }
    tp_message rmsg;
    uint64_t reset;
    b.ad->queue->queue_retry(b.p, &reset, &rmsg); /* skip the backoff of "no schema yet" */
    fprintf(stderr, "bench: draining\n");
    int64_t t0 = bench_now_ns();
    uint64_t left;
    while ((left = pending(&b)) != 0) {
        if (bench_now_ns() - t0 > 300LL * 1000000000) {
            fprintf(stderr, "bench: the drain did not finish (%" PRIu64 " left)\n", left);
            goto out;
        }
        sleep_ms(5);
    }
    double drain_s = (double)(bench_now_ns() - t0) / 1e9;
    double rate = (double)n / drain_s;
    char conninfo[200];
    snprintf(conninfo, sizeof conninfo, "host=%s dbname=tp user=tillpoints password=secret",
             pgdir);
    pg = PQconnectdb(conninfo);
    PGresult *r = PQexec(pg, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM ledger),"
                             " (SELECT count(DISTINCT event_id) FROM ledger)");
    long events = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
    long ledger = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 1)) : -1;
    long distinct = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 2)) : -1;
    PQclear(r);

    /* 2. complete() with an idle sync thread, then during a drain. */
    fprintf(stderr, "bench: %zu checkouts, sync idle\n", lat_n);
    if (checkouts(&b, "idle", lat_n, lat_idle) != 0)
        goto out;
    fixture("stop", pgdir);
    fprintf(stderr, "bench: another backlog of %ld events, then %zu checkouts while it drains\n",
            n, lat_n);
    if (make_backlog(db_path, 0, n, "S") != 0)
        goto out;
    fixture("restart", pgdir);
    b.ad->queue->queue_retry(b.p, &reset, &rmsg);
    while (pending(&b) > (uint64_t)n - 2000) /* the drain has begun */
        sleep_ms(1);
    if (checkouts(&b, "drain", lat_n, lat_drain) != 0)
        goto out;
    uint64_t after = pending(&b);
    qsort(lat_idle, lat_n, sizeof *lat_idle, bench_cmp_i64);
    qsort(lat_drain, lat_n, sizeof *lat_drain, bench_cmp_i64);

    printf("bench_sync: %ld-event backlog, %zu checkouts per latency phase, PostgreSQL 15 on a "
           "Unix socket (fsync on)\n", n, lat_n);
    row("figure", "value", "unit", "target", "ratio", "verdict");
    row("------", "-----", "----", "------", "-----", "-------");
    row_num("drain rate (100k backlog -> central)", rate, 0, "events/s", ">= 20000", "-", 1,
            rate >= TARGET_EVENTS_PER_S);
    row_num("drain time", drain_s, 2, "s", "-", "-", 0, 1);
    char value[32], target[32];
    snprintf(value, sizeof value, "%ld", events);
    snprintf(target, sizeof target, "= %ld", n);
    row("central events after drain", value, "rows", target, "-", events == n ? "ok" : "MISSED");
    snprintf(value, sizeof value, "%ld", ledger);
    snprintf(target, sizeof target, "= %ld", n - MEMBERS);
    row("central ledger rows (distinct)", value, "rows", target, "-",
        ledger == n - MEMBERS && distinct == ledger ? "ok" : "MISSED");
    const char *names[3] = {"p50", "p99", "max"};
    double ps[3] = {0.5, 0.99, 1.0};
    for (int k = 0; k < 3; k++) {
        char fig[64], ratio[16];
        double idle = bench_pct_us(lat_idle, lat_n, ps[k]), drain = bench_pct_us(lat_drain, lat_n, ps[k]);
        snprintf(fig, sizeof fig, "complete() %s, sync idle", names[k]);
        row_num(fig, idle, 2, "us", "-", "1.00", 0, 1);
        snprintf(fig, sizeof fig, "complete() %s, while draining", names[k]);
        snprintf(ratio, sizeof ratio, "%.2f", idle > 0 ? drain / idle : 0.0);
        row_num(fig, drain, 2, "us", k == 1 ? "< 50" : "-", ratio, k == 1, k != 1 || drain < 50);
    }
    row_num("events still pending after phase", (double)after, 0, "events", "> 0", "-", 1,
            after > 0);
    status = events == n && ledger == n - MEMBERS && distinct == ledger ? 0 : 1;
out:
    stop(&b);
    PQfinish(pg);
    fixture("destroy", pgdir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: cannot remove %s\n", dir);
    free(lat_idle);
    free(lat_drain);
    return status;
}
