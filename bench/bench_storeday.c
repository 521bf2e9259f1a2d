/*
 * bench_storeday.c — the "store day" benchmark: a till keeps selling while
 * a manager runs the heavy back-office jobs against the same database, and
 * then the till is shut down with its disk stalled.
 *
 * What it measures, in one run, printed as one table:
 *
 *  A. Each admin job alone, no till: a CSV import of R rows (default
 *     1,000,000 new members with an opening balance), a bulk adjustment of
 *     every one of the M existing members (default 100,000) and a full
 *     `verify`, one after the other (verify, bulk, import), each as its own
 *     `tillpoints` CLI process, the way a manager runs them. Their wall times are the
 *     baselines of the jobs' ratio column.
 *  B. The till alone, on the store's database, for as long as the longest
 *     job of phase A took: checkouts at a steady rate (default 200 a second)
 *     through the plugin loaded in this process. Host-thread complete()
 *     latency and durability latency (complete() returned -> the award's
 *     AWARD_COMMITTED event delivered on the host thread) are the baselines
 *     of the till's ratio column.
 *  C. The store day: the same till streaming while the same three jobs run
 *     at once, all three started together, the till going on until the last
 *     of them has exited. Latencies, storage alarms (STORAGE_ERROR events),
 *     busy refusals and the jobs' wall times, against A and B.
 *     Then the ledger is read back: every award the plugin accepted during
 *     B and C must be journaled exactly once (lost / doubled).
 *  S. Shutdown with a stalled disk: the plugin is opened again, every fsync
 *     on its database files is held by a VFS wrapper registered in this
 *     process (the plugin uses the same libsqlite3, so the default VFS
 *     registered here is the one it opens its files with), a few checkouts
 *     are completed, and destroy is timed against the configured
 *     [limits] shutdown_deadline_ms. A watchdog lets the disk go after 30 s
 *     so that the bench always ends; the row then says MISSED. After a
 *     restart the ledger is read back: how many of those awards are on disk.
 *
 * Why this way: what is promised is that manager work never stalls a
 * till, shutdown is bounded, and no alarm is false. That is only visible
 * with the real pieces together: the shipped build/tillpoints.so loaded with
 * dlopen through host-shim/host.c in this process, and the admin jobs as the
 * separate processes a manager starts (build/tillpoints), all on one SQLite
 * file. Phases A and C run on two databases built the same way (untimed
 * setup: a CSV import of the M members), so each job does the same work
 * alone and under load. Inputs come from a seeded generator (splitmix64).
 * Everything lives in a fresh directory under /tmp, removed at the end.
 *
 * Usage: bench_storeday [--quick] [--import N] [--members N] [--rate R]
 *                       [--deadline-ms N] [--seed S] [--plugin PATH]
 *                       [--cli PATH]
 * Exit status 0 when the measurement ran and the read-back checks passed,
 * whatever the verdicts; 1 when the bench could not run, an award of the
 * till was lost (phases B, C) or doubled (any phase), or a job that said it
 * succeeded left no trace. Awards missing after the stalled shutdown are a
 * row of the table, not a failure of the run.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "host.h"
#include "bench.h"

extern char **environ;

#define IMPORT_DEFAULT 1000000
#define MEMBERS_DEFAULT 100000
#define IMPORT_QUICK 20000
#define MEMBERS_QUICK 5000
#define RATE_DEFAULT 200        /* checkouts a second; 0: flat out */
#define DEADLINE_DEFAULT_MS 2000
#define DEADLINE_MARGIN_MS 250  /* allowed past the deadline to stop threads
                                   and close files */
#define WATCHDOG_MS 30000       /* the stalled disk is let go after this */
#define STALL_SALES 100         /* checkouts completed while the disk stalls */
#define BASELINE_MIN_S 3.0      /* phase B lasts at least this long */
#define BASELINE_MAX_S 120.0    /* ... and at most this long */
#define LINES 5
#define SALE_TIME_BASE 1735689600000LL /* 2025-01-01T00:00:00Z */

/* Targets (the store-day spec). */
#define TARGET_COMPLETE_P99_US 10.0
#define TARGET_COMPLETE_MAX_US 1000.0
#define TARGET_DURABLE_P99_MS 250.0

/* ---- small utilities ---------------------------------------------------- */

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

static void nap_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    nanosleep(&ts, NULL);
}

/* ---- a disk that can stall: a VFS wrapper holding xSync ----------------- */

/* Wraps the default VFS. While `held` is set, every xSync on a file whose
 * name starts with `prefix` waits until it is cleared; everything else is
 * passed straight through. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int held;
    long waiting;   /* syncs waiting right now */
    long caught;    /* syncs that had to wait since the stall began */
    char prefix[512];
} stall = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, ""};

static sqlite3_vfs *base_vfs;
static sqlite3_vfs stall_vfs;

typedef struct stall_file {
    sqlite3_file base;
    sqlite3_file *real; /* right after this struct, same allocation */
    int watched;
    int pad;
} stall_file;

#define REAL(f) (((stall_file *)(f))->real)

static int sf_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int sf_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int sf_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int sf_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int sf_sync(sqlite3_file *f, int flags)
{
    if (((stall_file *)f)->watched) {
        pthread_mutex_lock(&stall.mu);
        if (stall.held) {
            stall.caught++;
            stall.waiting++;
            pthread_cond_broadcast(&stall.cv); /* stall_wait may be counting */
            while (stall.held)
                pthread_cond_wait(&stall.cv, &stall.mu);
            stall.waiting--;
            pthread_cond_broadcast(&stall.cv);
        }
        pthread_mutex_unlock(&stall.mu);
    }
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int sf_size(sqlite3_file *f, sqlite3_int64 *n)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int sf_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int sf_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int sf_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int sf_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int sf_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int sf_caps(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int sf_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, p);
}
static int sf_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void sf_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int sf_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int sf_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, p);
}
static int sf_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static const sqlite3_io_methods stall_io = {
    3, sf_close, sf_read, sf_write, sf_truncate, sf_sync, sf_size, sf_lock, sf_unlock,
    sf_reserved, sf_control, sf_sector, sf_caps, sf_shm_map, sf_shm_lock, sf_shm_barrier,
    sf_shm_unmap, sf_fetch, sf_unfetch,
};

static int stall_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                      int *out_flags)
{
    (void)vfs;
    stall_file *sf = (stall_file *)file;
    memset(sf, 0, sizeof *sf);
    sf->real = (sqlite3_file *)(sf + 1);
    int rc = base_vfs->xOpen(base_vfs, name, sf->real, flags, out_flags);
    /* SQLite closes a file whose pMethods is set, even after a failed open. */
    sf->base.pMethods = sf->real->pMethods ? &stall_io : NULL;
    pthread_mutex_lock(&stall.mu);
    sf->watched = name && stall.prefix[0] && strncmp(name, stall.prefix, strlen(stall.prefix)) == 0;
    pthread_mutex_unlock(&stall.mu);
    return rc;
}

/* Makes the wrapper the default VFS of this process (and so of the plugin,
 * which shares its libsqlite3). Until a prefix is set it touches nothing. */
static int stall_register(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    if (!base_vfs || base_vfs->iVersion < 3)
        return -1;
    stall_vfs = *base_vfs;
    stall_vfs.zName = "bench-stall";
    stall_vfs.pNext = NULL;
    stall_vfs.szOsFile = (int)sizeof(stall_file) + base_vfs->szOsFile;
    stall_vfs.xOpen = stall_open;
    return sqlite3_vfs_register(&stall_vfs, 1) == SQLITE_OK ? 0 : -1;
}

static void stall_hold(void)
{
    pthread_mutex_lock(&stall.mu);
    stall.held = 1;
    stall.caught = 0;
    pthread_mutex_unlock(&stall.mu);
}

static void stall_release(void)
{
    pthread_mutex_lock(&stall.mu);
    stall.held = 0;
    pthread_cond_broadcast(&stall.cv);
    pthread_mutex_unlock(&stall.mu);
}

/* Waits up to `ms` until `caught >= want` (want > 0) or, with want == 0,
 * until no sync is waiting any more. Returns 0 when it happened. */
static int stall_wait(long want, int64_t ms)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += (time_t)(ms / 1000);
    end.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&stall.mu);
    while (want > 0 ? stall.caught < want : stall.waiting > 0) {
        if (pthread_cond_timedwait(&stall.cv, &stall.mu, &end) == ETIMEDOUT) {
            rc = -1;
            break;
        }
    }
    pthread_mutex_unlock(&stall.mu);
    return rc;
}

/* ---- the admin jobs: tillpoints CLI processes --------------------------- */

enum { JOB_IMPORT, JOB_BULK, JOB_VERIFY, JOB_COUNT };
static const char *const job_names[JOB_COUNT] = {"import", "bulk-adjust", "verify"};

typedef struct job {
    const char *name;
    char *argv[16];
    char out[512], err[512];
    int64_t t0, t1;
    int status;           /* exit status; -1: did not start or was killed */
    atomic_int *done;     /* incremented when it has exited (phase C) */
} job;

/* Starts the CLI with stdin from /dev/null and its output in files, waits
 * for it. Returns 0 when it ran (whatever its exit status). */
static int job_run(job *j)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    j->status = -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, j->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, j->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    j->t0 = bench_now_ns();
    int rc = posix_spawn(&pid, j->argv[0], &fa, NULL, j->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        j->t1 = bench_now_ns();
        fprintf(stderr, "bench: cannot start %s: %s\n", j->argv[0], strerror(rc));
        return -1;
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    j->t1 = bench_now_ns();
    j->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    return 0;
}

static void *job_thread(void *arg)
{
    job *j = arg;
    job_run(j);
    atomic_fetch_add(j->done, 1);
    return NULL;
}

/* The last non-empty line of a file, for the progress lines. */
static void last_line(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            snprintf(out, cap, "%s", line);
    }
    fclose(f);
}

static void job_report(const job *j, const char *when)
{
    char line[512];
    last_line(j->status == 0 ? j->out : j->err, line, sizeof line);
    if (!line[0])
        last_line(j->out, line, sizeof line);
    fprintf(stderr, "bench: %s (%s): exit %d after %.1f s: %s\n", j->name, when, j->status,
            secs(j->t1 - j->t0), line);
}

/* ---- the till ----------------------------------------------------------- */

/* One checkout the till completed. */
typedef struct sale_rec {
    int64_t call_ns;       /* the accepted complete() call */
    int64_t done_ns;       /* when complete() returned */
    int64_t committed_ns;  /* first AWARD_COMMITTED delivered; 0: none */
    int64_t points;        /* from the preview */
    int committed;         /* AWARD_COMMITTED events (not replayed) */
    int failed;            /* AWARD_FAILED events */
    int journal_rows;      /* read back: receipts rows */
    int earn_rows;         /* read back: earn ledger rows */
} sale_rec;

typedef struct till_phase {
    char tag;              /* receipt prefix: B, C or S */
    sale_rec *recs;
    size_t n, cap;
    long busy_calls, busy_checkouts;
    int64_t busy_wait_max_ns; /* longest a sale waited to be accepted */
    int64_t t0, t1;
} till_phase;

typedef struct till {
    tp_hostlib *lib;
    const tp_plugin *plugin;
    const tp_checkout_ext *co;
    int wake_fd;
    till_phase *phases[3];  /* B, C, S: where events find their sale */
    long storage_errors, storage_recovered, award_failed, replayed, other_committed;
    uint64_t rng;
    int members;
} till;

static till_phase *phase_of(till *t, char tag)
{
    for (int i = 0; i < 3; i++)
        if (t->phases[i] && t->phases[i]->tag == tag)
            return t->phases[i];
    return NULL;
}

/* "C-0001234" -> phase C, index 1233; NULL when not one of ours. */
static sale_rec *find_sale(till *t, const char *receipt)
{
    if (!receipt || !receipt[0] || receipt[1] != '-')
        return NULL;
    till_phase *p = phase_of(t, receipt[0]);
    if (!p)
        return NULL;
    char *end = NULL;
    unsigned long v = strtoul(receipt + 2, &end, 10);
    if (!end || *end || v < 1 || v > p->n)
        return NULL;
    return &p->recs[v - 1];
}

static void on_event(void *user, const tp_event *ev)
{
    till *t = user;
    int64_t now = bench_now_ns();
    sale_rec *s;
    switch (ev->kind) {
    case TP_EVENT_AWARD_COMMITTED:
        s = find_sale(t, ev->receipt_id);
        if (ev->replayed)
            t->replayed++;
        else if (!s)
            t->other_committed++;
        else if (s->committed++ == 0)
            s->committed_ns = now;
        break;
    case TP_EVENT_AWARD_FAILED:
        t->award_failed++;
        s = find_sale(t, ev->receipt_id);
        if (s)
            s->failed++;
        break;
    case TP_EVENT_STORAGE_ERROR:
        t->storage_errors++;
        fprintf(stderr, "bench: storage.error: %s\n", ev->message);
        break;
    case TP_EVENT_STORAGE_RECOVERED: t->storage_recovered++; break;
    default: break;
    }
}

static void pump(const till *t, int timeout_ms)
{
    struct pollfd p = {.fd = t->wake_fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) > 0)
        tp_hostlib_dispatch(t->lib);
}

/* Delivers events until `until_ns` (monotonic); returns at once if past. */
static void pump_until(const till *t, int64_t until_ns)
{
    for (;;) {
        int64_t left = until_ns - bench_now_ns();
        if (left <= 0)
            return;
        if (left < 1000000) {
            pump(t, 0);
            nap_ns(left);
            return;
        }
        pump(t, (int)(left / 1000000));
    }
}

static int till_open(till *t, const char *plugin, const char *config)
{
    tp_hostlib_options opt;
    memset(&opt, 0, sizeof opt);
    opt.plugin_path = plugin;
    opt.config_path = config;
    opt.host_name = "bench_storeday";
    opt.on_event = on_event;
    opt.user = t;
    char err[512];
    t->lib = tp_hostlib_open(&opt, err, sizeof err);
    if (!t->lib) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    t->plugin = tp_hostlib_plugin(t->lib);
    t->co = tp_hostlib_checkout(t->lib);
    t->wake_fd = tp_hostlib_wake_fd(t->lib);
    return 0;
}

/* One checkout like a till's: begin, scan a member, complete a 5-line
 * receipt (4 goods lines, one in four discounted, a VAT line). A refused
 * complete() (TP_ERR_BUSY: the write queue is full) is counted and tried
 * again 1 ms later, as the plugin's message asks. Returns 0, or -1. */
static int checkout(till *t, till_phase *p)
{
    static const char *const skus[LINES] = {"SKU-BREAD", "SKU-MILK", "SKU-COFFEE",
                                            "SKU-FRUIT", "TAX-VAT"};
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        sale_rec *r = realloc(p->recs, cap * sizeof *r);
        if (!r) {
            fprintf(stderr, "bench: out of memory\n");
            return -1;
        }
        memset(r + p->cap, 0, (cap - p->cap) * sizeof *r);
        p->recs = r;
        p->cap = cap;
    }
    size_t i = p->n;
    char txn[32], rec[32], code[32];
    snprintf(txn, sizeof txn, "T%c%07zu", p->tag, i + 1);
    snprintf(rec, sizeof rec, "%c-%07zu", p->tag, i + 1);
    snprintf(code, sizeof code, "M-%07d", (int)bench_rng_range(&t->rng, 1, t->members));
    tp_line lines[LINES];
    for (int l = 0; l < LINES; l++) {
        int64_t amount = bench_rng_range(&t->rng, 50, 5000);
        lines[l].sku = skus[l];
        lines[l].category = l == LINES - 1 ? "tax" : "grocery";
        lines[l].amount_minor = amount;
        lines[l].discount_minor =
            bench_rng_range(&t->rng, 0, 3) == 0 ? bench_rng_range(&t->rng, 0, amount / 5) : 0;
        lines[l].flags = l == LINES - 1 ? TP_LINE_TAX : 0;
    }
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = rec,
                    .currency = "EUR", .time_ms = SALE_TIME_BASE + (int64_t)i * 7000,
                    .lines = lines, .line_count = LINES};
    tp_message msg;
    tp_award_preview pv = {.struct_size = sizeof pv};
    tp_status st = t->co->begin(t->plugin, txn, "staff-1", &msg);
    if (st == TP_OK)
        st = t->co->scan(t->plugin, txn, code, &msg);
    if (st != TP_OK) {
        fprintf(stderr, "bench: begin/scan %s: %s (%s)\n", txn, tp_hostlib_status_name(st),
                msg.text);
        return -1;
    }
    p->n++; /* events may name it from here on */
    int refused = 0;
    int64_t c0, c1, first = bench_now_ns();
    for (;;) {
        c0 = bench_now_ns();
        st = t->co->complete(t->plugin, txn, &r, &pv, &msg);
        c1 = bench_now_ns();
        if (st != TP_ERR_BUSY)
            break;
        p->busy_calls++;
        if (!refused++)
            p->busy_checkouts++;
        pump(t, 0);
        nap_ns(1000000);
    }
    if (st != TP_OK) {
        fprintf(stderr, "bench: complete %s: %s (%s)\n", rec, tp_hostlib_status_name(st),
                msg.text);
        return -1;
    }
    if (refused && c1 - first > p->busy_wait_max_ns)
        p->busy_wait_max_ns = c1 - first;
    p->recs[i].call_ns = c1 - c0;
    p->recs[i].done_ns = c1;
    p->recs[i].points = pv.points;
    return 0;
}

/* Streams checkouts at `rate` a second (0: flat out), delivering events in
 * between like a host's main loop, until `stop_ns` passes (when > 0) or
 * `*done` reaches `done_target` (when done != NULL). */
static int stream(till *t, till_phase *p, int rate, int64_t stop_ns, const atomic_int *done,
                  int done_target)
{
    int64_t period = rate > 0 ? 1000000000LL / rate : 0;
    p->t0 = bench_now_ns();
    int64_t due = p->t0;      /* when the next sale is due */
    int64_t last_note = due;  /* last progress line */
    for (;;) {
        int64_t now = bench_now_ns();
        if (stop_ns > 0 && now >= stop_ns)
            break;
        if (done && atomic_load(done) >= done_target)
            break;
        if (now - last_note > 10000000000LL) {
            fprintf(stderr, "bench:   phase %c: %zu checkouts, %.0f s\n", p->tag, p->n,
                    secs(now - p->t0));
            last_note = now;
        }
        pump_until(t, due);
        pump(t, 0);
        if (checkout(t, p) != 0)
            return -1;
        due += period;
        /* A host that fell behind (a long stall) does not sell a burst to
         * catch up: a till sells when its customers are there. */
        if (period && bench_now_ns() - due > 1000000000LL)
            due = bench_now_ns();
    }
    p->t1 = bench_now_ns();
    return 0;
}

/* ---- read back ---------------------------------------------------------- */

/* Counts, for every sale of phase p, its journaled receipt rows and its earn
 * ledger rows. Returns 0, or -1 when the file cannot be read. */
static int read_back(const char *db_path, till_phase *p)
{
    static const char *const sql[2] = {
        "SELECT receipt, count(*) FROM receipts WHERE receipt >= ?1 AND receipt < ?2"
        " GROUP BY receipt",
        "SELECT receipt, count(*) FROM ledger WHERE kind = 'earn' AND receipt >= ?1"
        " AND receipt < ?2 GROUP BY receipt",
    };
    sqlite3 *db = NULL;
    int rc = -1;
    char lo[4] = {p->tag, '-', 0, 0}, hi[4] = {p->tag, '.', 0, 0};
    for (size_t i = 0; i < p->n; i++)
        p->recs[i].journal_rows = p->recs[i].earn_rows = 0;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 10000);
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db, sql[k], -1, &q, NULL) != SQLITE_OK)
            goto out;
        sqlite3_bind_text(q, 1, lo, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, hi, -1, SQLITE_STATIC);
        int step;
        while ((step = sqlite3_step(q)) == SQLITE_ROW) {
            char *end = NULL;
            const char *r = (const char *)sqlite3_column_text(q, 0);
            unsigned long v = r ? strtoul(r + 2, &end, 10) : 0;
            if (v >= 1 && v <= p->n && end && !*end) {
                if (k == 0)
                    p->recs[v - 1].journal_rows += sqlite3_column_int(q, 1);
                else
                    p->recs[v - 1].earn_rows += sqlite3_column_int(q, 1);
            }
        }
        sqlite3_finalize(q);
        if (step != SQLITE_DONE)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "bench: cannot read back %s: %s\n", db_path,
                db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return rc;
}

/* One integer from a query on a read-only connection; -1 on failure. */
static int64_t query_int(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 10000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    else
        fprintf(stderr, "bench: %s: %s\n", sql, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

typedef struct tally {
    long accepted, lost, doubled, no_event, failed;
} tally;

static void tally_phase(const till_phase *p, tally *t)
{
    for (size_t i = 0; i < p->n; i++) {
        const sale_rec *s = &p->recs[i];
        t->accepted++;
        if (s->journal_rows == 0 || (s->points > 0 && s->earn_rows == 0))
            t->lost++;
        if (s->journal_rows > 1 || s->earn_rows > 1 || s->committed > 1)
            t->doubled++;
        if (s->committed == 0)
            t->no_event++;
        if (s->failed)
            t->failed++;
    }
}

/* Sorted host-thread call times and durability latencies of a phase. */
typedef struct lat {
    int64_t *call, *durable;
    size_t n_call, n_durable;
} lat;

static int lat_of(const till_phase *p, lat *l)
{
    l->call = malloc((p->n + 1) * sizeof *l->call);
    l->durable = malloc((p->n + 1) * sizeof *l->durable);
    l->n_call = l->n_durable = 0;
    if (!l->call || !l->durable)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        l->call[l->n_call++] = p->recs[i].call_ns;
        if (p->recs[i].committed_ns)
            l->durable[l->n_durable++] = p->recs[i].committed_ns - p->recs[i].done_ns;
    }
    qsort(l->call, l->n_call, sizeof *l->call, bench_cmp_i64);
    qsort(l->durable, l->n_durable, sizeof *l->durable, bench_cmp_i64);
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

#define FIGURE_W 44
#define row(...) bench_row(FIGURE_W, __VA_ARGS__)
#define row_num(...) bench_row_num(FIGURE_W, __VA_ARGS__)

/* ---- set-up ------------------------------------------------------------- */

static int write_config(const char *path, const char *db, int deadline_ms)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "[store]\ndatabase = %s\nlocation = store-1\nterminal = till-1\ncurrency = EUR\n",
            db);
    if (deadline_ms > 0)
        fprintf(f, "[limits]\nshutdown_deadline_ms = %d\n", deadline_ms);
    return fclose(f) == 0 ? 0 : -1;
}

/* A CSV of `n` new members from code `prefix`-0000001 on, with opening
 * balances: the shape a store migrating its members imports. */
static int write_csv(const char *path, const char *prefix, int n, uint64_t *rng)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "code,points,name\n");
    for (int i = 1; i <= n; i++)
        fprintf(f, "%s-%07d,%d,Customer %d\n", prefix, i, (int)bench_rng_range(rng, 1, 500), i);
    return fclose(f) == 0 ? 0 : -1;
}

static int write_member_list(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (int i = 1; i <= n; i++)
        fprintf(f, "M-%07d\n", i);
    return fclose(f) == 0 ? 0 : -1;
}

typedef struct paths {
    char dir[64];
    char conf[2][512], db[2][512];      /* [0] phase A, [1] phases B, C, S */
    char base_csv[512], import_csv[512], list[512];
} paths;

/* Fills the three jobs' command lines for database k. */
static void jobs_prepare(job *jobs, const paths *p, int k, const char *cli, const char *plugin,
                         atomic_int *done)
{
    for (int i = 0; i < JOB_COUNT; i++) {
        job *j = &jobs[i];
        memset(j, 0, sizeof *j);
        j->name = job_names[i];
        j->done = done;
        snprintf(j->out, sizeof j->out, "%s/job-%d-%d.out", p->dir, k, i);
        snprintf(j->err, sizeof j->err, "%s/job-%d-%d.err", p->dir, k, i);
        int a = 0;
        j->argv[a++] = (char *)cli;
        j->argv[a++] = (char *)"--config";
        j->argv[a++] = (char *)p->conf[k];
        j->argv[a++] = (char *)"--plugin";
        j->argv[a++] = (char *)plugin;
        if (i == JOB_IMPORT) {
            j->argv[a++] = (char *)"import";
            j->argv[a++] = (char *)p->import_csv;
        } else if (i == JOB_BULK) {
            j->argv[a++] = (char *)"bulk-adjust";
            j->argv[a++] = (char *)"--members-file";
            j->argv[a++] = (char *)p->list;
            j->argv[a++] = (char *)"+5";
            j->argv[a++] = (char *)"--reason";
            j->argv[a++] = (char *)"store day";
        } else {
            j->argv[a++] = (char *)"verify";
        }
        if (i != JOB_VERIFY) {
            j->argv[a++] = (char *)"--staff";
            j->argv[a++] = (char *)"mgr-1";
        }
        j->argv[a] = NULL;
    }
}

/* Builds database k: the plugin creates it, the M members come from an
 * untimed CSV import through the CLI. */
static int setup_db(const paths *p, int k, const char *cli, const char *plugin)
{
    job j;
    memset(&j, 0, sizeof j);
    j.name = "setup import";
    snprintf(j.out, sizeof j.out, "%s/setup-%d.out", p->dir, k);
    snprintf(j.err, sizeof j.err, "%s/setup-%d.err", p->dir, k);
    char *argv[] = {(char *)cli, (char *)"--config", (char *)p->conf[k], (char *)"--plugin",
                    (char *)plugin, (char *)"import", (char *)p->base_csv, (char *)"--staff",
                    (char *)"mgr-1", NULL};
    memcpy(j.argv, argv, sizeof argv);
    if (job_run(&j) != 0 || j.status != 0) {
        job_report(&j, "setup");
        return -1;
    }
    return 0;
}

/* ---- the stalled shutdown ----------------------------------------------- */

typedef struct watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int closed;
    int fired;
} watchdog;

static void *watchdog_thread(void *arg)
{
    watchdog *w = arg;
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += WATCHDOG_MS / 1000;
    pthread_mutex_lock(&w->mu);
    while (!w->closed) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &end) == ETIMEDOUT) {
            w->fired = 1;
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (w->fired) {
        fprintf(stderr, "bench: destroy has not returned after %d s: letting the disk go\n",
                WATCHDOG_MS / 1000);
        stall_release();
    }
    return NULL;
}

typedef struct shutdown_result {
    double destroy_ms;
    int watchdog_fired;
    long syncs_caught;
    int ran;
} shutdown_result;

/* Opens the till on database 1, holds its fsyncs, sells STALL_SALES, and
 * times tp_hostlib_close (destroy, deinit, unload). */
static int stalled_shutdown(till *t, till_phase *sp, const paths *p, const char *plugin,
                            shutdown_result *res)
{
    memset(res, 0, sizeof *res);
    pthread_mutex_lock(&stall.mu);
    snprintf(stall.prefix, sizeof stall.prefix, "%s", p->db[1]);
    pthread_mutex_unlock(&stall.mu);
    /* Opened after the prefix is set: its files are watched. */
    if (till_open(t, plugin, p->conf[1]) != 0)
        return -1;
    tp_message msg;
    if (tp_hostlib_settle(t->lib, 60000, &msg) != TP_OK) {
        fprintf(stderr, "bench: flush before the stall: %s\n", msg.text);
        return -1;
    }
    stall_hold();
    for (int i = 0; i < STALL_SALES; i++) {
        pump(t, 0);
        if (checkout(t, sp) != 0) {
            stall_release();
            return -1;
        }
    }
    /* Wait until the writer is really stuck on the disk (bounded). */
    int64_t h0 = bench_now_ns();
    if (stall_wait(1, 60000) != 0)
        fprintf(stderr, "bench: no fsync was held within 60 s; the shutdown row measures an "
                        "idle disk\n");
    else
        fprintf(stderr, "bench: the first fsync was held %.1f s after the checkouts\n",
                secs(bench_now_ns() - h0));
    pump(t, 0);
    watchdog w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    pthread_t wt;
    if (pthread_create(&wt, NULL, watchdog_thread, &w) != 0) {
        stall_release();
        return -1;
    }
    int64_t t0 = bench_now_ns();
    tp_hostlib_close(t->lib);
    int64_t t1 = bench_now_ns();
    t->lib = NULL;
    pthread_mutex_lock(&w.mu);
    w.closed = 1;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(wt, NULL);
    pthread_mutex_lock(&stall.mu);
    res->syncs_caught = stall.caught;
    pthread_mutex_unlock(&stall.mu);
    stall_release();
    /* A thread the plugin may have left behind finishes its sync first. */
    if (stall_wait(0, 60000) != 0)
        fprintf(stderr, "bench: a held fsync is still waiting after its release\n");
    pthread_mutex_lock(&stall.mu);
    stall.prefix[0] = '\0';
    pthread_mutex_unlock(&stall.mu);
    res->destroy_ms = (double)(t1 - t0) / 1e6;
    res->watchdog_fired = w.fired;
    res->ran = 1;
    /* Restart: whatever the plugin kept aside is replayed by init. */
    if (till_open(t, plugin, p->conf[1]) != 0)
        return -1;
    if (tp_hostlib_settle(t->lib, 120000, &msg) != TP_OK)
        fprintf(stderr, "bench: flush after the restart: %s\n", msg.text);
    tp_hostlib_close(t->lib);
    t->lib = NULL;
    return 0;
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: bench_storeday [--quick] [--import N] [--members N] [--rate R]\n"
            "                      [--deadline-ms N] [--seed S] [--plugin PATH] [--cli PATH]\n"
            "  --quick          CI size: %d import rows, %d members\n"
            "  --import N       rows of the CSV import (default %d)\n"
            "  --members N      members of the bulk adjustment (default %d)\n"
            "  --rate R         till checkouts a second, 0 for flat out (default %d)\n"
            "  --deadline-ms N  [limits] shutdown_deadline_ms to configure (default %d)\n"
            "  --seed S         generator seed (default 42)\n"
            "  --plugin PATH    plugin to load (default build/tillpoints.so)\n"
            "  --cli PATH       manager CLI to run the jobs with (default build/tillpoints)\n",
            IMPORT_QUICK, MEMBERS_QUICK, IMPORT_DEFAULT, MEMBERS_DEFAULT, RATE_DEFAULT,
            DEADLINE_DEFAULT_MS);
}

static int parse_count(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long n_import = IMPORT_DEFAULT, n_members = MEMBERS_DEFAULT, rate = RATE_DEFAULT;
    long deadline_ms = DEADLINE_DEFAULT_MS;
    uint64_t seed = 42;
    int quick = 0;
    const char *plugin = "build/tillpoints.so", *cli = "build/tillpoints";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--quick") == 0) {
            quick = 1;
            n_import = IMPORT_QUICK;
            n_members = MEMBERS_QUICK;
        } else if (strcmp(a, "--import") == 0 && more) {
            if (parse_count(argv[++i], 1, 10000000, &n_import) != 0) {
                fprintf(stderr, "bench: --import wants a row count from 1 to 10000000\n");
                return 1;
            }
        } else if (strcmp(a, "--members") == 0 && more) {
            if (parse_count(argv[++i], 1, 9999999, &n_members) != 0) {
                fprintf(stderr, "bench: --members wants a count from 1 to 9999999\n");
                return 1;
            }
        } else if (strcmp(a, "--rate") == 0 && more) {
            if (parse_count(argv[++i], 0, 100000, &rate) != 0) {
                fprintf(stderr, "bench: --rate wants checkouts a second, 0 to 100000\n");
                return 1;
            }
        } else if (strcmp(a, "--deadline-ms") == 0 && more) {
            if (parse_count(argv[++i], 1, 600000, &deadline_ms) != 0) {
                fprintf(stderr, "bench: --deadline-ms wants milliseconds, 1 to 600000\n");
                return 1;
            }
        } else if (strcmp(a, "--seed") == 0 && more) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(a, "--plugin") == 0 && more) {
            plugin = argv[++i];
        } else if (strcmp(a, "--cli") == 0 && more) {
            cli = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 1;
        }
    }
    if (access(cli, X_OK) != 0 || access(plugin, R_OK) != 0) {
        fprintf(stderr, "bench: needs %s and %s (make all)\n", cli, plugin);
        return 1;
    }

    int status = 1, dir_made = 0, deadline_known = 1;
    paths p;
    memset(&p, 0, sizeof p);
    till t;
    memset(&t, 0, sizeof t);
    till_phase pb = {.tag = 'B'}, pc = {.tag = 'C'}, ps = {.tag = 'S'};
    t.phases[0] = &pb;
    t.phases[1] = &pc;
    t.phases[2] = &ps;
    t.rng = seed;
    t.members = (int)n_members;
    lat lb = {0}, lc = {0};
    job ja[JOB_COUNT], jc[JOB_COUNT];
    atomic_int jobs_done = 0;
    char mach[192];
    bench_machine(mach, sizeof mach);
    double load0 = bench_loadavg();

    /* Before anything opens a database: the wrapper must be the default VFS
     * when the plugin opens its files. The bench also keeps its own
     * reference on the plugin, so that a thread a bounded destroy leaves
     * behind never runs into unloaded code. */
    if (stall_register() != 0) {
        fprintf(stderr, "bench: cannot register the stalling VFS\n");
        return 1;
    }
    void *keep = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    if (!keep) {
        fprintf(stderr, "bench: %s\n", dlerror());
        return 1;
    }

    snprintf(p.dir, sizeof p.dir, "/tmp/tillpoints-bench-storeday-XXXXXX");
    if (!mkdtemp(p.dir)) {
        fprintf(stderr, "bench: cannot create a directory under /tmp: %s\n", strerror(errno));
        goto out;
    }
    dir_made = 1;
    char dir[sizeof p.dir];
    memcpy(dir, p.dir, sizeof dir);
    for (int k = 0; k < 2; k++) {
        snprintf(p.conf[k], sizeof p.conf[k], "%s/%c.conf", dir, k ? 'c' : 'a');
        snprintf(p.db[k], sizeof p.db[k], "%s/%c.db", dir, k ? 'c' : 'a');
    }
    snprintf(p.base_csv, sizeof p.base_csv, "%s/members.csv", dir);
    snprintf(p.import_csv, sizeof p.import_csv, "%s/import.csv", dir);
    snprintf(p.list, sizeof p.list, "%s/members.txt", dir);

    /* [limits] shutdown_deadline_ms: a plugin that does not know the key
     * refuses the whole file, so it is probed once; without it the configs
     * leave it out and the shutdown row still holds destroy to the deadline
     * asked for. */
    {
        char probe_conf[600];
        snprintf(probe_conf, sizeof probe_conf, "%s/probe.conf", dir);
        if (write_config(probe_conf, "probe.db", (int)deadline_ms) != 0)
            goto out;
        tp_hostlib_options opt;
        memset(&opt, 0, sizeof opt);
        opt.plugin_path = plugin;
        opt.config_path = probe_conf;
        opt.host_name = "bench_storeday";
        char err[512];
        tp_hostlib *h = tp_hostlib_open(&opt, err, sizeof err);
        if (h) {
            tp_hostlib_close(h);
        } else if (strstr(err, "shutdown_deadline_ms")) {
            deadline_known = 0;
            fprintf(stderr, "bench: this plugin does not know [limits] shutdown_deadline_ms; "
                            "the configs leave it out\n");
        } else {
            fprintf(stderr, "bench: %s\n", err);
            goto out;
        }
    }
    for (int k = 0; k < 2; k++)
        if (write_config(p.conf[k], k ? "c.db" : "a.db", deadline_known ? (int)deadline_ms : 0))
            goto out;

    fprintf(stderr, "bench: writing %ld members and a %ld-row import file\n", n_members, n_import);
    uint64_t csv_rng = seed ^ 0x5707EDA7ULL;
    if (write_csv(p.base_csv, "M", (int)n_members, &csv_rng) != 0 ||
        write_csv(p.import_csv, "N", (int)n_import, &csv_rng) != 0 ||
        write_member_list(p.list, (int)n_members) != 0)
        goto out;
    int64_t s0 = bench_now_ns();
    fprintf(stderr, "bench: setup: two databases of %ld members (CLI import, untimed)\n",
            n_members);
    if (setup_db(&p, 0, cli, plugin) != 0 || setup_db(&p, 1, cli, plugin) != 0)
        goto out;
    double setup_s = secs(bench_now_ns() - s0);

    /* A: each job alone. Verify first, so that it sees the same database
     * (the members, not yet the import) as the verify of phase C, which
     * starts together with the import. */
    static const int order[JOB_COUNT] = {JOB_VERIFY, JOB_BULK, JOB_IMPORT};
    jobs_prepare(ja, &p, 0, cli, plugin, &jobs_done);
    double longest_s = 0;
    for (int i = 0; i < JOB_COUNT; i++) {
        job *j = &ja[order[i]];
        fprintf(stderr, "bench: phase A: %s alone\n", j->name);
        if (job_run(j) != 0)
            goto out;
        job_report(j, "alone");
        if (j->status != 0) {
            fprintf(stderr, "bench: %s fails even alone; see %s\n", j->name, j->err);
            goto out;
        }
        if (secs(j->t1 - j->t0) > longest_s)
            longest_s = secs(j->t1 - j->t0);
    }

    /* B: the till alone, as long as the longest job took. */
    double b_s = longest_s < BASELINE_MIN_S ? BASELINE_MIN_S
               : longest_s > BASELINE_MAX_S ? BASELINE_MAX_S : longest_s;
    fprintf(stderr, "bench: phase B: the till alone for %.1f s at %ld/s\n", b_s, rate);
    if (till_open(&t, plugin, p.conf[1]) != 0)
        goto out;
    tp_message msg;
    long alarms_b0 = t.storage_errors;
    if (stream(&t, &pb, (int)rate, bench_now_ns() + (int64_t)(b_s * 1e9), NULL, 0) != 0)
        goto out;
    if (tp_hostlib_settle(t.lib, 120000, &msg) != TP_OK) {
        fprintf(stderr, "bench: flush after phase B: %s\n", msg.text);
        goto out;
    }
    long alarms_b = t.storage_errors - alarms_b0;

    /* C: the store day. */
    fprintf(stderr, "bench: phase C: the till with import, bulk-adjust and verify at once\n");
    jobs_prepare(jc, &p, 1, cli, plugin, &jobs_done);
    atomic_store(&jobs_done, 0);
    long alarms_c0 = t.storage_errors, recovered_c0 = t.storage_recovered;
    pthread_t jt[JOB_COUNT];
    int started = 0;
    for (; started < JOB_COUNT; started++)
        if (pthread_create(&jt[started], NULL, job_thread, &jc[started]) != 0)
            break;
    int sret = started == JOB_COUNT ? stream(&t, &pc, (int)rate, 0, &jobs_done, JOB_COUNT) : -1;
    for (int i = 0; i < started; i++)
        pthread_join(jt[i], NULL);
    if (sret != 0)
        goto out;
    for (int i = 0; i < JOB_COUNT; i++)
        job_report(&jc[i], "store day");
    tp_status fst = tp_hostlib_settle(t.lib, 300000, &msg);
    if (fst != TP_OK) {
        fprintf(stderr, "bench: flush after phase C: %s\n", msg.text);
        goto out;
    }
    long alarms_c = t.storage_errors - alarms_c0;
    long recovered_c = t.storage_recovered - recovered_c0;
    tp_hostlib_close(t.lib);
    t.lib = NULL;

    fprintf(stderr, "bench: reading the ledger back\n");
    if (read_back(p.db[1], &pb) != 0 || read_back(p.db[1], &pc) != 0)
        goto out;
    /* The jobs that said they succeeded must have left their rows. */
    int64_t members_c = query_int(p.db[1], "SELECT count(*) FROM members");
    int64_t bulk_c = query_int(p.db[1], "SELECT count(*) FROM ledger WHERE kind = 'bulk'");
    int jobs_ok = 1;
    if (jc[JOB_IMPORT].status == 0 && members_c != n_members + n_import) {
        fprintf(stderr, "bench: import said it succeeded, but %s holds %" PRId64 " members,"
                        " not %ld\n", p.db[1], members_c, n_members + n_import);
        jobs_ok = 0;
    }
    if (jc[JOB_BULK].status == 0 && bulk_c != n_members) {
        fprintf(stderr, "bench: bulk-adjust said it succeeded, but %s holds %" PRId64
                        " bulk entries, not %ld\n", p.db[1], bulk_c, n_members);
        jobs_ok = 0;
    }

    /* S: shutdown with the disk stalled. */
    fprintf(stderr, "bench: phase S: %d checkouts with every fsync held, then destroy\n",
            STALL_SALES);
    shutdown_result sr;
    if (stalled_shutdown(&t, &ps, &p, plugin, &sr) != 0)
        goto out;
    if (read_back(p.db[1], &ps) != 0)
        goto out;

    /* ---- the table ---- */
    tally tb = {0}, tc = {0}, ts = {0};
    tally_phase(&pb, &tb);
    tally_phase(&pc, &tc);
    tally_phase(&ps, &ts);
    if (lat_of(&pb, &lb) != 0 || lat_of(&pc, &lc) != 0) {
        fprintf(stderr, "bench: out of memory\n");
        goto out;
    }
    double load1 = bench_loadavg();
    char pace[48];
    if (rate)
        snprintf(pace, sizeof pace, "%ld checkouts/s", rate);
    else
        snprintf(pace, sizeof pace, "full speed");
    printf("bench_storeday: seed %" PRIu64 ", %ld members, %ld-row import, till at %s%s\n",
           seed, n_members, n_import, pace, quick ? " (--quick)" : "");
    printf("  %s; load average %.2f at start, %.2f at end\n", mach, load0, load1);
    printf("  phase C starts import, bulk-adjust and verify together; phase B (ratio base of the"
           " till rows) ran %.1f s\n", secs(pb.t1 - pb.t0));
    if (!deadline_known)
        printf("  this plugin does not know [limits] shutdown_deadline_ms: the configs leave it "
               "out\n");
    row("figure", "value", "unit", "target", "ratio", "verdict");
    row("------", "-----", "----", "------", "-----", "-------");
    row_num("setup: 2 databases of members (untimed)", setup_s, 1, "s", "-", 0, -1);
    row_num("checkouts, till alone (B)", (double)pb.n, 0, "sales", "-", 0, -1);
    row_num("checkouts, store day (C)", (double)pc.n, 0, "sales", "-", 0, -1);
    struct { const char *name; double p; } pcts[] = {{"p50", 0.50}, {"p99", 0.99}, {"max", 1.0}};
    char fig[96];
    for (int i = 0; i < 3; i++) {
        double vb = bench_pct_us(lb.call, lb.n_call, pcts[i].p);
        double vc = bench_pct_us(lc.call, lc.n_call, pcts[i].p);
        const char *target = i == 1 ? "< 10" : i == 2 ? "< 1000" : "-";
        double lim = i == 1 ? TARGET_COMPLETE_P99_US : TARGET_COMPLETE_MAX_US;
        snprintf(fig, sizeof fig, "complete() %s, till alone (B)", pcts[i].name);
        row_num(fig, vb, 2, "us", target, vb, i ? vb < lim : -1);
        snprintf(fig, sizeof fig, "complete() %s, store day (C)", pcts[i].name);
        row_num(fig, vc, 2, "us", target, vb, i ? vc < lim : -1);
    }
    for (int i = 0; i < 3; i++) {
        double vb = bench_pct_ms(lb.durable, lb.n_durable, pcts[i].p);
        double vc = bench_pct_ms(lc.durable, lc.n_durable, pcts[i].p);
        const char *target = i == 1 ? "< 250" : "-";
        snprintf(fig, sizeof fig, "complete -> committed %s, alone (B)", pcts[i].name);
        row_num(fig, vb, 1, "ms", target, vb, i == 1 ? vb < TARGET_DURABLE_P99_MS : -1);
        snprintf(fig, sizeof fig, "complete -> committed %s, store day (C)", pcts[i].name);
        row_num(fig, vc, 1, "ms", target, vb, i == 1 ? vc < TARGET_DURABLE_P99_MS : -1);
    }
    row_num("busy refusals of complete() (C)", (double)pc.busy_calls, 0, "calls", "-", 0, -1);
    row_num("  checkouts refused at least once (C)", (double)pc.busy_checkouts, 0, "sales", "-",
            0, -1);
    row_num("  longest a sale waited to be accepted (C)", (double)pc.busy_wait_max_ns / 1e6, 1,
            "ms", "-", 0, -1);
    row_num("storage alarms (storage.error), B", (double)alarms_b, 0, "events", "= 0", 0,
            alarms_b == 0);
    row_num("storage alarms (storage.error), C", (double)alarms_c, 0, "events", "= 0", 0,
            alarms_c == 0);
    if (recovered_c)
        row_num("  storage.recovered, C", (double)recovered_c, 0, "events", "-", 0, -1);
    row_num("awards lost (B+C)", (double)(tb.lost + tc.lost), 0, "awards", "= 0", 0,
            tb.lost + tc.lost == 0);
    row_num("awards doubled (B+C)", (double)(tb.doubled + tc.doubled), 0, "awards", "= 0", 0,
            tb.doubled + tc.doubled == 0);
    row_num("awards without a committed event (B+C)", (double)(tb.no_event + tc.no_event), 0,
            "awards", "= 0", 0, tb.no_event + tc.no_event == 0);
    for (int i = 0; i < JOB_COUNT; i++) {
        double va = secs(ja[i].t1 - ja[i].t0), vc = secs(jc[i].t1 - jc[i].t0);
        snprintf(fig, sizeof fig, "%s alone (A)", job_names[i]);
        row_num(fig, va, 2, "s", "-", va, -1);
        snprintf(fig, sizeof fig, "%s during the store day (C)", job_names[i]);
        if (jc[i].status == 0) {
            row_num(fig, vc, 2, "s", "-", va, -1);
        } else {
            char v[32], r[32], verdict[32];
            snprintf(v, sizeof v, "%.2f", vc);
            snprintf(r, sizeof r, "%.2f", vc / va);
            snprintf(verdict, sizeof verdict, "EXIT %d", jc[i].status);
            row(fig, v, "s", "exit 0", r, verdict);
        }
    }
    char tgt[32], v[32];
    double limit = (double)deadline_ms + DEADLINE_MARGIN_MS;
    snprintf(tgt, sizeof tgt, "<= %.0f", limit);
    snprintf(v, sizeof v, "%.1f", sr.destroy_ms);
    row("shutdown with the disk stalled", v, "ms", tgt, "-",
        sr.watchdog_fired ? "MISSED (disk let go after 30 s)"
                          : sr.destroy_ms <= limit ? "ok" : "MISSED");
    row_num("  fsyncs held during the stalled shutdown", (double)sr.syncs_caught, 0, "syncs",
            "-", 0, -1);
    snprintf(v, sizeof v, "%ld/%ld", ts.accepted - ts.lost, ts.accepted);
    snprintf(tgt, sizeof tgt, "= %ld", ts.accepted);
    row("  its awards on disk after a restart", v, "awards", tgt, "-",
        ts.lost == 0 ? "ok" : "MISSED");

    if (tb.lost + tc.lost || tb.doubled + tc.doubled || ts.doubled) {
        fprintf(stderr, "bench: read-back: %ld lost and %ld doubled of %ld awards (B+C); "
                "%ld doubled in S\n", tb.lost + tc.lost, tb.doubled + tc.doubled,
                tb.accepted + tc.accepted, ts.doubled);
        goto out;
    }
    if (!jobs_ok)
        goto out;
    if (t.award_failed)
        fprintf(stderr, "bench: note: %ld AWARD_FAILED events\n", t.award_failed);
    status = 0;
out:
    if (t.lib)
        tp_hostlib_close(t.lib);
    if (dir_made)
        bench_remove_dir(p.dir);
    free(pb.recs);
    free(pc.recs);
    free(ps.recs);
    free(lb.call);
    free(lb.durable);
    free(lc.call);
    free(lc.durable);
    return status;
}
