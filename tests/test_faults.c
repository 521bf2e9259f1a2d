/*
 * test_faults.c — I/O errors, a full disk and a stalled disk never cost an
 * accepted award and never block the till (docs/DESIGN.md §3, §4, §10 "Faults").
 *
 * A test SQLite VFS ("faulty") is registered as the default VFS before the
 * plugin opens its database. It wraps the original default VFS's xOpen and
 * gives every file io_methods that forward to the real ones, except that
 * xWrite and xSync on the plugin's files can be made to fail (the Nth call
 * once, or every call from the Nth on, with SQLITE_IOERR_WRITE,
 * SQLITE_IOERR_FSYNC or SQLITE_FULL), to sync and then report a failure
 * anyway (a commit that reached the disk with an unknown outcome), or to
 * hold a sync until the test lets it go (a stalled disk).
 *
 * What each run asserts, through the host the plugin sees:
 *  - complete() returns TP_OK (or TP_ERR_BUSY when the queue is full) at
 *    once, never blocked by the disk: the time each call spends blocked
 *    (asleep, not running or waiting for a CPU; testutil.h tu_blocked_ms)
 *    is held to a 50 ms sanity bound (not a benchmark), so a busy machine
 *    does not trip it; and while a sync is held, the till keeps selling
 *    until the queue is full and says so;
 *  - a failing commit brings STORAGE_ERROR, and STORAGE_RECOVERED once the
 *    fault is gone;
 *  - AWARD_COMMITTED is delivered only for receipts already visible in the
 *    database (checked on an independent connection at delivery time);
 *  - afterwards every accepted award is journaled once with one earn entry,
 *    got exactly one AWARD_COMMITTED, and verify() is clean.
 *
 * The full-filesystem test mounts a real 3 MiB tmpfs in a private mount
 * namespace (root only; skipped otherwise).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"

/* ---- the faulty VFS ---- */

enum { OP_WRITE = 1, OP_SYNC = 2 };
enum { FAULT_OFF, FAULT_COUNT, FAULT_ONCE, FAULT_PERSIST };

static struct {
    atomic_int mode;
    atomic_int ops;      /* OP_* bits the fault applies to */
    atomic_int err;      /* SQLite code to return */
    atomic_int lie;      /* sync really, then report err */
    atomic_long count;   /* matching calls seen since arming */
    atomic_long nth;     /* 1-based */
    atomic_long injected;
    atomic_long injected_wal;
    atomic_int stall_armed;   /* the next xSync on a watched file stalls ... */
    atomic_int stalled;       /* ... and says so while it waits ... */
    atomic_int stall_release; /* ... until the test lets it go, */
    atomic_int stall_gave_up; /* or STALL_MAX_MS pass (a test failure) */
    char prefix[256];    /* only files under this directory are touched */
} fault;

static sqlite3_vfs *real_vfs;

/* Every wait in this file is for something the plugin or the VFS reports;
 * these bounds only stop a run that is stuck, so they are generous. */
#define WAIT_MS 120000.0
#define STALL_MAX_MS 120000.0

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct faulty_file {
    sqlite3_file base;
    sqlite3_file *real; /* follows this struct in the same allocation */
    const char *name; /* valid until xClose (SQLite's guarantee) */
    int is_wal;
    int pad; /* keeps the real file 8-aligned */
} faulty_file;

static sqlite3_file *R(sqlite3_file *f)
{
    return ((faulty_file *)f)->real;
}

/* Files under the armed directory only: the test's own connections and
 * other tests' files are left alone. */
static int watched(const faulty_file *f)
{
    return f->name && fault.prefix[0] && strncmp(f->name, fault.prefix, strlen(fault.prefix)) == 0;
}

static void fault_arm(int mode, int ops, int err, long nth, const char *dir)
{
    atomic_store(&fault.mode, FAULT_OFF);
    snprintf(fault.prefix, sizeof fault.prefix, "%s/", dir);
    atomic_store(&fault.ops, ops);
    atomic_store(&fault.err, err);
    atomic_store(&fault.lie, 0);
    atomic_store(&fault.count, 0);
    atomic_store(&fault.nth, nth);
    atomic_store(&fault.injected, 0);
    atomic_store(&fault.injected_wal, 0);
    atomic_store(&fault.mode, mode);
}

static void fault_clear(void)
{
    atomic_store(&fault.mode, FAULT_OFF);
    atomic_store(&fault.stall_armed, 0);
    atomic_store(&fault.stall_release, 1);
}

/* Counts a call; 1 when this one must fail. */
static int fault_hits(faulty_file *f, int op)
{
    int mode = atomic_load(&fault.mode);
    if (mode == FAULT_OFF || !watched(f) || !(atomic_load(&fault.ops) & op))
        return 0;
    long n = atomic_fetch_add(&fault.count, 1) + 1;
    long nth = atomic_load(&fault.nth);
    int hit = (mode == FAULT_ONCE && n == nth) || (mode == FAULT_PERSIST && n >= nth);
    if (hit) {
        atomic_fetch_add(&fault.injected, 1);
        if (f->is_wal)
            atomic_fetch_add(&fault.injected_wal, 1);
    }
    return hit;
}

static int ff_close(sqlite3_file *f)
{
    return R(f)->pMethods->xClose(R(f));
}
static int ff_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return R(f)->pMethods->xRead(R(f), b, n, o);
}
static int ff_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    if (fault_hits((faulty_file *)f, OP_WRITE))
        return atomic_load(&fault.err);
    return R(f)->pMethods->xWrite(R(f), b, n, o);
}
static int ff_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return R(f)->pMethods->xTruncate(R(f), size);
}
static int ff_sync(sqlite3_file *f, int flags)
{
    faulty_file *ff = (faulty_file *)f;
    if (watched(ff) && atomic_exchange(&fault.stall_armed, 0)) {
        /* A stalled disk: this sync waits until the test lets it go. */
        atomic_store(&fault.stalled, 1);
        double end = mono_ms() + STALL_MAX_MS;
        while (!atomic_load(&fault.stall_release)) {
            if (mono_ms() > end) {
                atomic_store(&fault.stall_gave_up, 1);
                break;
            }
            nap_ms(1);
        }
        atomic_store(&fault.stalled, 0);
    }
    if (fault_hits(ff, OP_SYNC)) {
        if (!atomic_load(&fault.lie))
            return atomic_load(&fault.err);
        int rc = R(f)->pMethods->xSync(R(f), flags);
        return rc == SQLITE_OK ? atomic_load(&fault.err) : rc;
    }
    return R(f)->pMethods->xSync(R(f), flags);
}
static int ff_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return R(f)->pMethods->xFileSize(R(f), size);
}
static int ff_lock(sqlite3_file *f, int l)
{
    return R(f)->pMethods->xLock(R(f), l);
}
static int ff_unlock(sqlite3_file *f, int l)
{
    return R(f)->pMethods->xUnlock(R(f), l);
}
static int ff_check_lock(sqlite3_file *f, int *out)
{
    return R(f)->pMethods->xCheckReservedLock(R(f), out);
}
static int ff_control(sqlite3_file *f, int op, void *arg)
{
    return R(f)->pMethods->xFileControl(R(f), op, arg);
}
static int ff_sector(sqlite3_file *f)
{
    return R(f)->pMethods->xSectorSize(R(f));
}
static int ff_caps(sqlite3_file *f)
{
    return R(f)->pMethods->xDeviceCharacteristics(R(f));
}
static int ff_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **p)
{
    return R(f)->pMethods->xShmMap(R(f), pg, sz, extend, p);
}
static int ff_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return R(f)->pMethods->xShmLock(R(f), offset, n, flags);
}
static void ff_shm_barrier(sqlite3_file *f)
{
    R(f)->pMethods->xShmBarrier(R(f));
}
static int ff_shm_unmap(sqlite3_file *f, int del)
{
    return R(f)->pMethods->xShmUnmap(R(f), del);
}
static int ff_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{
    return R(f)->pMethods->xFetch(R(f), o, n, p);
}
static int ff_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return R(f)->pMethods->xUnfetch(R(f), o, p);
}

static const sqlite3_io_methods faulty_io = {
    3,          ff_close,      ff_read,      ff_write,   ff_truncate,  ff_sync,
    ff_size,    ff_lock,       ff_unlock,    ff_check_lock, ff_control, ff_sector,
    ff_caps,    ff_shm_map,    ff_shm_lock,  ff_shm_barrier, ff_shm_unmap, ff_fetch,
    ff_unfetch,
};

static int faulty_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                       int *out_flags)
{
    (void)vfs;
    faulty_file *ff = (faulty_file *)file;
    memset(ff, 0, sizeof *ff);
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    /* SQLite calls xClose whenever pMethods is set, even after a failure. */
    ff->base.pMethods = ff->real->pMethods ? &faulty_io : NULL;
    ff->name = name;
    ff->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    return rc;
}

static sqlite3_vfs faulty_vfs;

static void faulty_register(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(real_vfs);
    assert_int_equal(real_vfs->iVersion >= 3, 1);
    faulty_vfs = *real_vfs; /* forwards everything but xOpen */
    faulty_vfs.zName = "faulty";
    faulty_vfs.szOsFile = (int)sizeof(faulty_file) + real_vfs->szOsFile;
    faulty_vfs.pNext = NULL;
    faulty_vfs.xOpen = faulty_open;
    /* The other methods receive our vfs pointer; the unix VFS ignores its
     * own pointer except for pAppData, which the copy keeps. */
    assert_int_equal(sqlite3_vfs_register(&faulty_vfs, 1), SQLITE_OK);
}

/* ---- a host that checks what it is told ---- */

#define MAX_SALES 4096
#define BATCH_CONFIG "[limits]\nqueue_capacity = 16\nbatch_max = 4\n"
#define COMPLETE_BOUND_MS 50.0

typedef struct fault_run {
    tu_host *h;
    sqlite3 *check; /* independent connection on the real VFS */
    int n_sales;
    char accepted[MAX_SALES]; /* 1: complete() returned TP_OK */
    int committed[MAX_SALES];  /* AWARD_COMMITTED events per sale */
    int replayed[MAX_SALES];
    int deferred[MAX_SALES];   /* AWARD_DEFERRED events per sale (destroy) */
    int failed[MAX_SALES];     /* AWARD_FAILED events per sale */
    int n_accepted, n_committed, n_failed, n_deferred;
    int storage_errors, storage_recovered;
    int busy;
    int committed_not_visible;
    double worst_ms, worst_blocked_ms;
} fault_run;

static fault_run *cur;

static int64_t check_int(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (arg)
        sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void fr_on_event(const tp_host *host, const tp_event *plugin_event)
{
    const tp_event ev = tp_event_read(plugin_event), *e = &ev;
    (void)host;
    fault_run *r = cur;
    int i = -1;
    if (e->receipt_id && e->receipt_id[0])
        assert_int_equal(sscanf(e->receipt_id, "F-%d", &i), 1);
    switch (e->kind) {
    case TP_EVENT_AWARD_COMMITTED:
        assert_true(i >= 0 && i < r->n_sales);
        r->committed[i]++;
        r->replayed[i] += e->replayed;
        r->n_committed++;
        /* The host was told: it must already be on disk. */
        if (check_int(r->check, "SELECT count(*) FROM receipts WHERE receipt = ?1",
                      e->receipt_id) != 1)
            r->committed_not_visible++;
        break;
    case TP_EVENT_AWARD_FAILED:
        if (i >= 0 && i < r->n_sales)
            r->failed[i]++;
        r->n_failed++;
        break;
    case TP_EVENT_AWARD_DEFERRED:
        assert_true(i >= 0 && i < r->n_sales);
        assert_int_equal(e->status, TP_ERR_STORAGE);
        assert_non_null(strstr(e->message, "saved when loyalty next starts"));
        r->deferred[i]++;
        r->n_deferred++;
        break;
    case TP_EVENT_STORAGE_ERROR:
        assert_int_equal(r->storage_errors, r->storage_recovered);
        assert_non_null(strstr(e->message, "Sales go on"));
        r->storage_errors++;
        break;
    case TP_EVENT_STORAGE_RECOVERED:
        assert_int_equal(r->storage_errors, r->storage_recovered + 1);
        r->storage_recovered++;
        break;
    default:
        break;
    }
}

static void fr_open_check(fault_run *r, const char *db)
{
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", r->h->dir);
    if (db)
        snprintf(path, sizeof path, "%s", db);
    assert_int_equal(sqlite3_open_v2(path, &r->check, SQLITE_OPEN_READONLY, "unix"), SQLITE_OK);
    sqlite3_busy_timeout(r->check, 5000);
}

/* `db`: the database path when the config moves it out of the test dir. */
static fault_run *fr_start(const char *ini, const char *db)
{
    fault_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->h = tu_start(ini);
    r->h->events_ext.on_event = fr_on_event; /* the plugin keeps the struct's address */
    cur = r;
    for (int i = 1; i <= 4; i++) {
        char code[16];
        snprintf(code, sizeof code, "M-%04d", i);
        tu_add_member(r->h, code, "Fault Member");
    }
    fr_open_check(r, db);
    return r;
}

static void fr_pump(fault_run *r)
{
    r->h->plugin->on_main_thread(r->h->plugin);
}

/* One sale as a till runs it. TP_ERR_BUSY is an answer, not a failure:
 * the till cancels and the receipt is credited later. */
static void fr_sale(fault_run *r)
{
    assert_true(r->n_sales < MAX_SALES);
    int i = r->n_sales++;
    char id[32], code[16];
    snprintf(id, sizeof id, "F-%d", i);
    snprintf(code, sizeof code, "M-%04d", 1 + i % 4);
    const tp_checkout_ext *co = r->h->co;
    const tp_plugin *p = r->h->plugin;
    tp_message msg;
    assert_int_equal(co->begin(p, id, "staff-1", &msg), TP_OK);
    assert_int_equal(co->scan(p, id, code, &msg), TP_OK);
    tp_line line = {.sku = "SKU-1", .amount_minor = 100 + 37 * (i % 50)};
    tp_receipt rc = {.struct_size = sizeof rc, .line_stride = sizeof(tp_line), .receipt_id = id,
                     .currency = "EUR", .lines = &line, .line_count = 1};
    tu_clock c0 = tu_clock_now();
    tp_status st = co->complete(p, id, &rc, NULL, &msg);
    tu_clock c1 = tu_clock_now();
    double wall = tu_wall_ms(&c0, &c1), blocked = tu_blocked_ms(&c0, &c1);
    if (wall > r->worst_ms)
        r->worst_ms = wall;
    if (blocked > r->worst_blocked_ms)
        r->worst_blocked_ms = blocked;
    if (blocked >= COMPLETE_BOUND_MS)
        fail_msg("complete() of %s was blocked for %.1f ms (%.1f ms wall): the till waited",
                 id, blocked, wall);
    if (st == TP_OK) {
        r->accepted[i] = 1;
        r->n_accepted++;
    } else {
        if (st != TP_ERR_BUSY)
            fail_msg("complete() of %s: status %d: %s", id, st, msg.text);
        r->busy++;
        assert_int_equal(co->cancel(p, id, &msg), TP_OK);
    }
    if (atomic_load(&r->h->callbacks_requested))
        fr_pump(r);
}

/* With the fault gone: every accepted sale gets its event, then the
 * database is checked sale by sale. */
static void fr_settle_and_check(fault_run *r, const char *what)
{
    double deadline = mono_ms() + WAIT_MS;
    while (r->n_committed + r->n_failed < r->n_accepted && mono_ms() < deadline) {
        fr_pump(r);
        nap_ms(2);
    }
    tu_settle(r->h);
    if (r->n_failed)
        fail_msg("%s: %d accepted awards failed", what, r->n_failed);
    if (r->n_committed != r->n_accepted)
        fail_msg("%s: %d accepted, %d committed events", what, r->n_accepted, r->n_committed);
    if (r->committed_not_visible)
        fail_msg("%s: %d AWARD_COMMITTED events arrived before their receipt was in the "
                 "database", what, r->committed_not_visible);
    if (r->storage_recovered != r->storage_errors)
        fail_msg("%s: %d STORAGE_ERROR events but %d STORAGE_RECOVERED", what,
                 r->storage_errors, r->storage_recovered);
    for (int i = 0; i < r->n_sales; i++) {
        char id[32];
        snprintf(id, sizeof id, "F-%d", i);
        int64_t rows = check_int(r->check, "SELECT count(*) FROM receipts WHERE receipt = ?1", id);
        int64_t earn = check_int(r->check,
                                 "SELECT count(*) FROM ledger WHERE receipt = ?1 AND kind = 'earn'",
                                 id);
        int want = r->accepted[i];
        if (rows != want || earn != want || r->committed[i] != want)
            fail_msg("%s: receipt %s (accepted %d): %lld journal rows, %lld earn entries, "
                     "%d commit events", what, id, want, (long long)rows, (long long)earn,
                     r->committed[i]);
    }
    tp_verify_result vr = {.struct_size = sizeof vr};
    tp_message msg;
    if (r->h->ad->audit->verify(r->h->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg) != TP_OK ||
        vr.problems)
        fail_msg("%s: verify: %s", what, msg.text);
}

static void fr_stop(fault_run *r)
{
    fault_clear();
    tu_stop(r->h, 1); /* destroy() delivers what is pending: r->check still open */
    sqlite3_close(r->check);
    cur = NULL;
    free(r);
}

/* Keeps selling (a sale every 2 ms while there is room for the sales the
 * caller makes afterwards) until the host was told of a STORAGE_ERROR, or
 * WAIT_MS pass. */
static void sell_until_storage_error(fault_run *r)
{
    double deadline = mono_ms() + WAIT_MS;
    while (r->storage_errors == 0 && mono_ms() < deadline) {
        if (r->n_sales < MAX_SALES - 100)
            fr_sale(r);
        else
            fr_pump(r);
        nap_ms(2);
    }
}

/* ---- the tests ---- */

#define SALES_PER_RUN 24

typedef struct fault_kind {
    const char *name;
    int ops, err;
} fault_kind;

static const fault_kind kinds[] = {
    {"xWrite SQLITE_IOERR_WRITE", OP_WRITE, SQLITE_IOERR_WRITE},
    {"xSync SQLITE_IOERR_FSYNC", OP_SYNC, SQLITE_IOERR_FSYNC},
    {"xWrite SQLITE_FULL", OP_WRITE, SQLITE_FULL},
};

/* How many matching calls the workload makes without faults. */
static long count_calls(int ops)
{
    fault_run *r = fr_start(BATCH_CONFIG, NULL);
    fault_arm(FAULT_COUNT, ops, 0, 0, r->h->dir);
    for (int i = 0; i < SALES_PER_RUN; i++)
        fr_sale(r);
    fr_settle_and_check(r, "fault-free run");
    long n = atomic_load(&fault.count);
    fr_stop(r);
    return n;
}

static void run_with_fault(const fault_kind *k, int mode, long nth, long *injected,
                           long *with_error)
{
    char what[160];
    snprintf(what, sizeof what, "%s, %s from call %ld", k->name,
             mode == FAULT_ONCE ? "once" : "persistent", nth);
    fault_run *r = fr_start(BATCH_CONFIG, NULL);
    fault_arm(mode, k->ops, k->err, nth, r->h->dir);
    for (int i = 0; i < SALES_PER_RUN; i++)
        fr_sale(r);
    if (mode == FAULT_PERSIST) {
        /* Keep selling while the disk fails, until the host was told. */
        sell_until_storage_error(r);
        for (int i = 0; i < 20; i++)
            fr_sale(r);
    } else {
        /* Let the writer meet the fault before it is cleared. */
        tp_message msg;
        double deadline = mono_ms() + WAIT_MS;
        while (r->h->ad->checkout->flush(r->h->plugin, 1, &msg) != TP_OK && mono_ms() < deadline &&
               atomic_load(&fault.injected) == 0)
            fr_pump(r);
    }
    long hit = atomic_load(&fault.injected), hit_wal = atomic_load(&fault.injected_wal);
    fault_clear();
    fr_settle_and_check(r, what);
    /* A failed WAL write or sync fails the commit: the host must hear of it
     * (a failed checkpoint of the main file is retried by SQLite itself). */
    if (hit_wal && r->storage_errors == 0)
        fail_msg("%s: %ld faults in the WAL, but no STORAGE_ERROR event", what, hit_wal);
    if (mode == FAULT_PERSIST && hit == 0)
        fail_msg("%s: the fault never fired", what);
    *injected += hit;
    *with_error += r->storage_errors > 0;
    fr_stop(r);
}

/* A new host on the files of an earlier one (a till restarted), with its
 * check connection open but the plugin not yet loaded: its events are
 * counted in a fresh run with `n_sales` sales already known. */
static fault_run *fr_attach(const char *dir, const char *config, int n_sales)
{
    fault_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->h = calloc(1, sizeof *r->h);
    assert_non_null(r->h);
    r->n_sales = n_sales;
    tu_host *h = r->h;
    snprintf(h->dir, sizeof h->dir, "%s", dir);
    snprintf(h->config, sizeof h->config, "%s", config);
    h->main_thread = pthread_self();
    pthread_mutex_init(&h->log_lock, NULL);
    h->events_ext.struct_size = sizeof h->events_ext;
    h->events_ext.on_event = fr_on_event;
    h->host.abi = (tp_version)TP_VERSION_INIT;
    h->host.struct_size = sizeof h->host;
    h->host.host_data = h;
    h->host.get_extension = tu_get_extension;
    h->host.request_callback = tu_request_callback;
    h->host.log = tu_log;
    cur = r;
    fr_open_check(r, NULL);
    return r;
}

/* Loads and starts the plugin of an attached host. */
static void fr_load(fault_run *r, const char *config)
{
    tu_host *h = r->h;
    assert_true(tillpoints_entry.init("test"));
    tp_message msg;
    h->plugin = tillpoints_entry.create(&h->host, config, &msg);
    assert_non_null(h->plugin);
    if (h->plugin->init(h->plugin, &msg) != TP_OK)
        fail_msg("init after restart: %s", msg.text);
    tu_attach(h);
}

/* A till restarted on the files of an earlier one. */
static fault_run *fr_reopen(const char *dir, const char *config, int n_sales)
{
    fault_run *r = fr_attach(dir, config, n_sales);
    fr_load(r, config);
    return r;
}

static void every_failed_write_or_sync_is_retried_and_no_accepted_award_is_lost(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        long calls = count_calls(kinds[k].ops);
        assert_true(calls > 0);
        /* Every call of the write path once, capped to keep the run short. */
        long step = calls > 40 ? (calls + 39) / 40 : 1;
        long injected = 0, with_error = 0, runs = 0;
        for (long n = 1; n <= calls; n += step, runs++)
            run_with_fault(&kinds[k], FAULT_ONCE, n, &injected, &with_error);
        print_message("  %s once: %ld calls in the workload, %ld runs, %ld faults injected, "
                      "%ld runs reported STORAGE_ERROR\n",
                      kinds[k].name, calls, runs, injected, with_error);
        assert_true(with_error > 0);
        long p_runs = 0, p_err = 0, p_inj = 0;
        for (long n = 1; n <= calls; n += calls / 3 + 1, p_runs++)
            run_with_fault(&kinds[k], FAULT_PERSIST, n, &p_inj, &p_err);
        print_message("  %s persistent: %ld runs, %ld faults injected, %ld reported "
                      "STORAGE_ERROR then STORAGE_RECOVERED\n",
                      kinds[k].name, p_runs, p_inj, p_err);
        assert_int_equal(p_err, p_runs);
    }
}

/* The commit reached the disk but SQLite was told it failed; the plugin
 * shuts down before it could succeed. The next instance finds the rows,
 * and the till completing those receipts again gets replays, not doubles. */
static void a_commit_with_unknown_outcome_is_not_doubled_when_replayed(void **state)
{
    (void)state;
    fault_run *r = fr_start(BATCH_CONFIG, NULL);
    char dir[256], config[300], db[320];
    snprintf(dir, sizeof dir, "%s", r->h->dir);
    snprintf(config, sizeof config, "%s", r->h->config);
    snprintf(db, sizeof db, "%s/test.db", dir);
    /* The frames of the failing commit must reach the WAL file. They do not
     * when the WAL is empty or may start over (everything in it copied to
     * the database, which depends on what the plugin's connections did
     * before and so on the machine's speed): the commit then writes and
     * syncs a new WAL header first, that sync fails, and no frame is ever
     * written. So a connection of the test's own writes a row of its own
     * (the WAL now holds frames) and keeps a read snapshot of it from
     * before the fault until after shutdown: while it is held, the WAL can
     * neither start over nor be deleted by the last connection to close. */
    sqlite3 *hold = NULL;
    assert_int_equal(sqlite3_open_v2(db, &hold, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(hold,
                                  "CREATE TABLE test_hold(x); INSERT INTO test_hold VALUES(1);"
                                  "BEGIN; SELECT count(*) FROM test_hold;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    fault_arm(FAULT_PERSIST, OP_SYNC, SQLITE_IOERR_FSYNC, 1, dir);
    atomic_store(&fault.lie, 1);
    for (int i = 0; i < 6; i++)
        fr_sale(r);
    double deadline = mono_ms() + WAIT_MS;
    while (r->storage_errors == 0 && mono_ms() < deadline) {
        fr_pump(r);
        nap_ms(1);
    }
    assert_int_equal(r->storage_errors, 1);
    assert_int_equal(r->n_committed, 0); /* nothing acknowledged while failing */
    /* Shutdown with the fault still on: the writer retries until the
     * deadline (its backoff wakes when destroy() gives up, or destroy()
     * would never return), then every receipt goes to the side journal and
     * the host hears it was deferred. The WAL keeps the frames that did
     * reach the disk. */
    sqlite3_close(r->check);
    r->check = NULL;
    r->h->plugin->destroy(r->h->plugin);
    r->h->plugin = NULL;
    /* The holder closes last and keeps the WAL file (persistent WAL). */
    int persist = 1;
    assert_int_equal(sqlite3_file_control(hold, "main", SQLITE_FCNTL_PERSIST_WAL, &persist),
                     SQLITE_OK);
    sqlite3_exec(hold, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(hold);
    fault_clear();
    int n_sales = r->n_sales;
    assert_int_equal(r->n_deferred, n_sales);
    for (int i = 0; i < n_sales; i++)
        assert_int_equal(r->deferred[i], 1);
    assert_int_equal(r->n_failed, 0);
    tu_stop(r->h, 0);
    free(r);
    char pending[400];
    snprintf(pending, sizeof pending, "%s/test.db.pending", dir);
    assert_int_equal(access(pending, F_OK), 0);

    /* A new till session on the same file replays the journal. */
    r = fr_attach(dir, config, n_sales);
    r->n_accepted = n_sales;
    memset(r->accepted, 1, (size_t)n_sales);
    int64_t found = check_int(r->check, "SELECT count(*) FROM receipts", NULL);
    print_message("  %lld of %d receipts whose commit was reported failed were on disk\n",
                  (long long)found, n_sales);
    assert_true(found > 0); /* the scenario happened */
    fr_load(r, config);
    /* Every receipt once in the database, one commit event each; those
     * already on disk are reported as replays. */
    fr_settle_and_check(r, "replaying the side journal after an unknown commit outcome");
    int replays = 0;
    for (int i = 0; i < n_sales; i++)
        replays += r->replayed[i];
    assert_int_equal(replays, found);
    assert_int_equal(access(pending, F_OK), -1); /* removed once committed */
    fr_stop(r);
}

/* Threads of this process, from /proc: a test waits for a thread it
 * cannot join (a writer abandoned by destroy()) by watching it go. */
static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}


/* Sells until the writer is inside a sync that does not return, then 30
 * more sales that queue behind it. */
static void stall_and_sell(fault_run *r, const char *dir)
{
    fault_arm(FAULT_OFF, 0, 0, 0, dir);
    atomic_store(&fault.stall_gave_up, 0);
    atomic_store(&fault.stall_release, 0);
    atomic_store(&fault.stall_armed, 1);
    double deadline = mono_ms() + WAIT_MS;
    while (!atomic_load(&fault.stalled)) {
        if (mono_ms() > deadline)
            fail_msg("the writer never reached a sync in %.0f s", WAIT_MS / 1000.0);
        fr_sale(r);
        nap_ms(1);
    }
    for (int i = 0; i < 30; i++)
        fr_sale(r);
}

/* The disk hangs in the middle of a commit and the till shuts down.
 * destroy() must return while the sync is still held (so it did not wait
 * for the disk), having told the host of every accepted receipt exactly
 * once: committed, or deferred to the next start. The abandoned writer's
 * commit then completes after destroy() returned (no crash, no freed
 * memory touched: run this under ASan/valgrind), and a new instance
 * replays the side journal without doubling the receipts that commit
 * saved after all. */
static void a_hung_disk_at_shutdown_defers_what_it_holds_and_the_next_start_saves_it_once(
    void **state)
{
    (void)state;
    int threads0 = thread_count();
    fault_run *r = fr_start("[limits]\nqueue_capacity = 64\nbatch_max = 4\n"
                            "shutdown_deadline_ms = 200\n", NULL);
    char dir[256], config[300], pending[400];
    snprintf(dir, sizeof dir, "%s", r->h->dir);
    snprintf(config, sizeof config, "%s", r->h->config);
    snprintf(pending, sizeof pending, "%s/test.db.pending", dir);
    for (int i = 0; i < 8; i++)
        fr_sale(r);
    tu_settle(r->h);
    assert_int_equal(r->n_committed, 8);

    stall_and_sell(r, dir);
    int n_sales = r->n_sales, n_accepted = r->n_accepted;
    double deadline;
    assert_int_equal(n_accepted, n_sales);

    r->h->plugin->destroy(r->h->plugin);
    r->h->plugin = NULL;
    if (!atomic_load(&fault.stalled))
        fail_msg("destroy() returned only after the stalled sync was let go (or it gave up "
                 "after %.0f s): it waited for the disk", STALL_MAX_MS / 1000.0);
    int committed1[MAX_SALES];
    memcpy(committed1, r->committed, sizeof committed1);
    int deferred = 0;
    for (int i = 0; i < n_sales; i++) {
        if (r->committed[i] + r->deferred[i] != 1)
            fail_msg("receipt F-%d: %d commit and %d deferred events at shutdown", i,
                     r->committed[i], r->deferred[i]);
        deferred += r->deferred[i];
    }
    assert_int_equal(r->n_failed, 0);
    assert_int_equal(r->committed_not_visible, 0);
    assert_true(deferred >= 30); /* at least what was queued behind the stall */
    struct stat st;
    assert_int_equal(stat(pending, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    int deferred1[MAX_SALES];
    memcpy(deferred1, r->deferred, sizeof deferred1);
    tu_stop(r->h, 0); /* the host is gone; the writer still hangs in the disk */
    sqlite3_close(r->check);
    free(r);
    cur = NULL;

    /* The disk answers: the abandoned writer's commit completes, the
     * writer sees it was abandoned, posts nothing and frees what it
     * shared with the instance. Its thread going is the sign. */
    atomic_store(&fault.stall_release, 1);
    deadline = mono_ms() + WAIT_MS;
    while (thread_count() > threads0) {
        if (mono_ms() > deadline)
            fail_msg("the abandoned writer did not exit within %.0f s of the disk answering",
                     WAIT_MS / 1000.0);
        nap_ms(2);
    }
    assert_int_equal(atomic_load(&fault.stall_gave_up), 0);
    fault_clear();

    /* The next start replays the journal. */
    sqlite3 *db;
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, "unix"), SQLITE_OK);
    int late = 0; /* deferred, yet saved by the abandoned writer's commit */
    for (int i = 0; i < n_sales; i++) {
        char id[32];
        snprintf(id, sizeof id, "F-%d", i);
        if (deferred1[i])
            late += (int)check_int(db, "SELECT count(*) FROM receipts WHERE receipt = ?1", id);
    }
    sqlite3_close(db);
    r = fr_reopen(dir, config, n_sales);
    tu_settle(r->h);
    deadline = mono_ms() + WAIT_MS;
    while (r->n_committed < deferred && mono_ms() < deadline) {
        fr_pump(r);
        nap_ms(2);
    }
    int replays = 0;
    for (int i = 0; i < n_sales; i++) {
        char id[32];
        snprintf(id, sizeof id, "F-%d", i);
        int64_t rows = check_int(r->check, "SELECT count(*) FROM receipts WHERE receipt = ?1", id);
        int64_t earn = check_int(r->check,
                                 "SELECT count(*) FROM ledger WHERE receipt = ?1 AND kind = 'earn'",
                                 id);
        if (rows != 1 || earn != 1 || r->committed[i] != deferred1[i])
            fail_msg("receipt F-%d (deferred %d): %lld journal rows, %lld earn entries, %d "
                     "commit events after restart", i, deferred1[i], (long long)rows,
                     (long long)earn, r->committed[i]);
        replays += r->replayed[i];
    }
    assert_int_equal(replays, late);
    assert_int_equal(access(pending, F_OK), -1);
    tp_verify_result vr = {.struct_size = sizeof vr};
    tp_message msg;
    if (r->h->ad->audit->verify(r->h->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg) != TP_OK ||
        vr.problems)
        fail_msg("verify after replay: %s", msg.text);
    print_message("  hung disk at shutdown: %d accepted, %d committed before destroy(), %d "
                  "deferred (%d of them saved after all by the abandoned commit), all saved "
                  "once after restart\n", n_accepted, n_accepted - deferred, deferred, late);
    fr_stop(r);
}

/* The whole disk hangs: not only SQLite's sync but also the side journal
 * (its file is a FIFO nobody reads, so opening it blocks, as a write to a
 * hung disk would). destroy() still returns within its deadline, while
 * both are held, and tells the host that the receipts it could not save
 * must be credited again; nothing is written later behind its back. */
static void when_the_side_journal_hangs_too_destroy_returns_and_says_credit_again(void **state)
{
    (void)state;
    int threads0 = thread_count();
    fault_run *r = fr_start("[limits]\nqueue_capacity = 64\nbatch_max = 4\n"
                            "shutdown_deadline_ms = 200\n", NULL);
    char dir[256], tmp[420], pending[400];
    snprintf(dir, sizeof dir, "%s", r->h->dir);
    snprintf(pending, sizeof pending, "%s/test.db.pending", dir);
    snprintf(tmp, sizeof tmp, "%s/test.db.pending.tmp", dir);
    assert_int_equal(mkfifo(tmp, 0600), 0);
    stall_and_sell(r, dir);
    int n_sales = r->n_sales;
    r->h->plugin->destroy(r->h->plugin);
    r->h->plugin = NULL;
    if (!atomic_load(&fault.stalled))
        fail_msg("destroy() returned only after the stalled sync was let go: it waited");
    for (int i = 0; i < n_sales; i++)
        if (r->committed[i] + r->failed[i] != 1)
            fail_msg("receipt F-%d: %d commit and %d failure events at shutdown", i,
                     r->committed[i], r->failed[i]);
    assert_int_equal(r->n_deferred, 0);
    assert_true(r->n_failed >= 30); /* at least what was queued behind the stall */
    tu_stop(r->h, 0);
    sqlite3_close(r->check);
    free(r);
    cur = NULL;

    /* Let the journal's open through (read the FIFO to its end: its fsync
     * fails, so no file is left) and the disk answer; both threads go. */
    int fd = open(tmp, O_RDONLY);
    assert_true(fd >= 0);
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
    atomic_store(&fault.stall_release, 1);
    double deadline = mono_ms() + WAIT_MS;
    while (thread_count() > threads0) {
        if (mono_ms() > deadline)
            fail_msg("the abandoned threads did not exit within %.0f s", WAIT_MS / 1000.0);
        nap_ms(2);
    }
    fault_clear();
    assert_int_equal(access(pending, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), -1);
    tu_rmdir(dir);
}

/* The disk stalls in the middle of a commit (a sync that does not return
 * until the test lets it go, twice): checkout goes on, each complete()
 * returning while the writer is stuck, until the queue is full and says
 * so; once the disk moves again everything accepted is saved. Paced by what
 * the VFS reports (the writer is inside the stalled sync), not by the
 * clock. */
static void a_stalled_disk_never_blocks_checkout_and_loses_nothing(void **state)
{
    (void)state;
    fault_run *r = fr_start("[limits]\nqueue_capacity = 64\nbatch_max = 16\n", NULL);
    fault_arm(FAULT_COUNT, OP_SYNC, 0, 0, r->h->dir);
    atomic_store(&fault.stall_gave_up, 0);
    int sales_stalled = 0, accepted_stalled = 0, committed_stalled = 0;
    for (int stall = 1; stall <= 2; stall++) {
        atomic_store(&fault.stall_release, 0);
        atomic_store(&fault.stall_armed, 1);
        /* Sell until the writer is inside the stalled sync. */
        double deadline = mono_ms() + WAIT_MS;
        while (!atomic_load(&fault.stalled)) {
            if (mono_ms() > deadline)
                fail_msg("stall %d: the writer never reached a sync in %.0f s", stall,
                         WAIT_MS / 1000.0);
            if (r->n_sales < MAX_SALES / 2)
                fr_sale(r);
            else
                fr_pump(r);
            nap_ms(1);
        }
        /* The disk is stuck: the till keeps selling until the queue has
         * said it is full a few times. Every one of these complete() calls
         * returned while the sync was held. */
        int sales0 = r->n_sales, accepted0 = r->n_accepted, committed0 = r->n_committed;
        int busy0 = r->busy;
        while (r->busy - busy0 < 5) {
            if (r->n_sales >= MAX_SALES - 100)
                fail_msg("stall %d: %d sales and the queue never said it was full", stall,
                         r->n_sales - sales0);
            fr_sale(r);
        }
        if (!atomic_load(&fault.stalled))
            fail_msg("stall %d: the sync was no longer held when the queue filled (it gave up "
                     "after %.0f s: checkout waited for the disk)", stall, STALL_MAX_MS / 1000.0);
        sales_stalled += r->n_sales - sales0;
        accepted_stalled += r->n_accepted - accepted0;
        committed_stalled += r->n_committed - committed0;
        atomic_store(&fault.stall_release, 1);
        deadline = mono_ms() + WAIT_MS;
        while (atomic_load(&fault.stalled) && mono_ms() < deadline)
            nap_ms(1);
    }
    assert_int_equal(atomic_load(&fault.stall_gave_up), 0);
    fault_clear();
    fr_settle_and_check(r, "stalled disk");
    print_message("  stalled disk: %d sales (%d accepted, %d busy); while the disk was stalled "
                  "%d sales, %d accepted, %d commit events delivered; slowest complete() "
                  "%.2f ms wall, %.2f ms blocked\n",
                  r->n_sales, r->n_accepted, r->busy, sales_stalled, accepted_stalled,
                  committed_stalled, r->worst_ms, r->worst_blocked_ms);
    assert_true(r->busy >= 10); /* the queue filled and said so instead of waiting */
    fr_stop(r);
}

/* A real small filesystem: a 3 MiB tmpfs in a private mount namespace,
 * filled to the last byte. Runs in a child (the mount dies with it); the
 * parent made the mount point and removes it. */
static void full_tmpfs_child(const char *mnt)
{
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", mnt, "tmpfs", 0, "size=3m,mode=0700") != 0) {
        print_error("cannot set up the tmpfs: %s\n", strerror(errno));
        _exit(2);
    }
    char ini[512];
    snprintf(ini, sizeof ini, "[store]\ndatabase = %s/test.db\n"
             "[limits]\nqueue_capacity = 256\nbatch_max = 16\n", mnt);
    char db[300], filler[300];
    snprintf(db, sizeof db, "%s/test.db", mnt);
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    fault_run *r = fr_start(ini, db);
    for (int i = 0; i < 20; i++)
        fr_sale(r);
    tu_settle(r->h);
    fr_pump(r);
    /* Fill every remaining byte. */
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    static char block[65536];
    memset(block, 'x', sizeof block);
    size_t chunk = sizeof block;
    long filled = 0;
    while (chunk > 0) {
        ssize_t n = write(fd, block, chunk);
        if (n > 0)
            filled += n;
        else
            chunk /= 2;
    }
    close(fd);
    sell_until_storage_error(r);
    int sales_when_full = r->n_sales;
    for (int i = 0; i < 40; i++)
        fr_sale(r);
    print_message("  tmpfs: filler %ld bytes; STORAGE_ERROR after %d sales: %s\n", filled,
                  sales_when_full, r->storage_errors ? "yes" : "NO");
    assert_int_equal(r->storage_errors, 1);
    assert_int_equal(unlink(filler), 0);
    fr_settle_and_check(r, "full tmpfs");
    print_message("  tmpfs: %d sales, %d accepted, all saved after the space came back\n",
                  r->n_sales, r->n_accepted);
    fr_stop(r);
    _exit(0);
}

static void a_full_filesystem_is_reported_and_recovers_when_space_returns(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("  needs root for a private tmpfs mount (unshare + mount); skipped\n");
        skip();
    }
    char mnt[] = "/tmp/tillpoints-tmpfs-XXXXXX";
    assert_non_null(mkdtemp(mnt));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        full_tmpfs_child(mnt);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    (void)rmdir(mnt); /* empty here: the tmpfs was only in the child's namespace */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the full-filesystem child failed (status 0x%x); see its output above", status);
}

int main(void)
{
    faulty_register();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_failed_write_or_sync_is_retried_and_no_accepted_award_is_lost),
        cmocka_unit_test(a_commit_with_unknown_outcome_is_not_doubled_when_replayed),
        cmocka_unit_test(a_stalled_disk_never_blocks_checkout_and_loses_nothing),
        cmocka_unit_test(
            a_hung_disk_at_shutdown_defers_what_it_holds_and_the_next_start_saves_it_once),
        cmocka_unit_test(when_the_side_journal_hangs_too_destroy_returns_and_says_credit_again),
        cmocka_unit_test(a_full_filesystem_is_reported_and_recovers_when_space_returns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
