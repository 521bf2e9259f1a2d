/*
 * test_alloc.c — running out of memory at any allocation of plugin
 * create/init or of a checkout cycle gives a clear status, never a crash
 * and never a leak (every allocation goes through one seam, so
 * tests can make it fail on the Nth call).
 *
 * Two seams, one counter:
 *  - the plugin's own malloc/calloc/realloc/strdup, wrapped at link time
 *    (-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup: the
 *    plugin is linked statically from build/libtillpoints-test.a, so its
 *    calls reach the __wrap_ functions below);
 *  - SQLite's allocator, replaced through SQLITE_CONFIG_MALLOC before the
 *    plugin initialises SQLite.
 * For N = 1, 2, ... the Nth allocation fails, until a run makes fewer than
 * N allocations. Every run must end in TP_OK or in a failed call with its
 * sentence (create: NULL and a message; init: TP_ERR_NO_MEMORY or
 * TP_ERR_STORAGE with a message), and destroy must release everything:
 * the ASan build's LeakSanitizer fails the binary on any leak.
 */
#include <limits.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "testutil.h"

/* ---- the seam ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

enum { SEAM_PLUGIN = 1, SEAM_SQLITE = 2 };
static atomic_int alloc_seams;   /* SEAM_* bits counted and failed */
static atomic_long alloc_count;  /* allocations since arming */
static atomic_long alloc_fail_at; /* 0: never fail */
static atomic_long alloc_failed;  /* failures injected */

static int alloc_should_fail(int seam)
{
    if (!(atomic_load(&alloc_seams) & seam))
        return 0;
    long at = atomic_load(&alloc_fail_at);
    if (at == 0)
        return 0;
    long n = atomic_fetch_add(&alloc_count, 1) + 1;
    if (n != at)
        return 0;
    atomic_fetch_add(&alloc_failed, 1);
    return 1;
}

static void alloc_arm(long nth, int seams)
{
    atomic_store(&alloc_fail_at, 0);
    atomic_store(&alloc_seams, seams);
    atomic_store(&alloc_count, 0);
    atomic_store(&alloc_failed, 0);
    atomic_store(&alloc_fail_at, nth);
}

static void alloc_disarm(void)
{
    atomic_store(&alloc_fail_at, 0);
}

void *__wrap_malloc(size_t n)
{
    return alloc_should_fail(SEAM_PLUGIN) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_should_fail(SEAM_PLUGIN) ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return alloc_should_fail(SEAM_PLUGIN) ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return alloc_should_fail(SEAM_PLUGIN) ? NULL : __real_strdup(s);
}

static sqlite3_mem_methods sqlite_real_mem;

static void *sqlite_malloc(int n)
{
    return alloc_should_fail(SEAM_SQLITE) ? NULL : sqlite_real_mem.xMalloc(n);
}

static void *sqlite_realloc(void *p, int n)
{
    return alloc_should_fail(SEAM_SQLITE) ? NULL : sqlite_real_mem.xRealloc(p, n);
}

static void install_sqlite_seam(void)
{
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_real_mem), SQLITE_OK);
    sqlite3_mem_methods m = sqlite_real_mem;
    m.xMalloc = sqlite_malloc;
    m.xRealloc = sqlite_realloc;
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
}

/* ---- a host on a tmpfs directory (fsync-free: thousands of runs) ---- */

typedef struct alloc_host {
    tu_host h; /* the testutil host, for its callbacks */
    int disabled_events;
} alloc_host;

static char base_dir[128];
static char template_db[200];

static void ah_on_event(const tp_host *host, const tp_event *plugin_event)
{
    const tp_event ev = tp_event_read(plugin_event), *e = &ev;
    alloc_host *a = host->host_data;
    if (e->kind == TP_EVENT_PLUGIN_DISABLED)
        a->disabled_events++;
    tu_on_event(host, e);
}

static void ah_init(alloc_host *a, const char *dir, const char *ini)
{
    memset(a, 0, sizeof *a);
    snprintf(a->h.dir, sizeof a->h.dir, "%s", dir);
    snprintf(a->h.config, sizeof a->h.config, "%s/tillpoints.conf", dir);
    char text[1024];
    snprintf(text, sizeof text, "[store]\ndatabase = test.db\n%s", ini ? ini : "");
    tu_write_file(a->h.config, text);
    a->h.main_thread = pthread_self();
    a->h.events_ext.struct_size = sizeof a->h.events_ext;
    a->h.events_ext.on_event = ah_on_event;
    a->h.host.abi = (tp_version)TP_VERSION_INIT;
    a->h.host.struct_size = sizeof a->h.host;
    a->h.host.name = "alloc";
    a->h.host.vendor = "tillpoints tests";
    a->h.host.version = "0";
    a->h.host.host_data = a;
    a->h.host.get_extension = tu_get_extension;
    a->h.host.request_callback = tu_request_callback;
    a->h.host.log = tu_log;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static int group_setup(void **state)
{
    (void)state;
    install_sqlite_seam();
    snprintf(base_dir, sizeof base_dir, "/dev/shm/tillpoints-alloc-XXXXXX");
    if (!mkdtemp(base_dir)) {
        snprintf(base_dir, sizeof base_dir, "/tmp/tillpoints-alloc-XXXXXX");
        assert_non_null(mkdtemp(base_dir));
    }
    /* A migrated database with one member, copied before each run. */
    char dir[160];
    snprintf(dir, sizeof dir, "%s/template", base_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    alloc_host a;
    ah_init(&a, dir, NULL);
    assert_true(tillpoints_entry.init("test"));
    tp_message msg;
    const tp_plugin *p = tillpoints_entry.create(&a.h.host, a.h.config, &msg);
    assert_non_null(p);
    assert_int_equal(p->init(p, &msg), TP_OK);
    tp_admin_set ads;
    const tp_admin_set *ad = tu_admin_set(p, &ads);
    tp_member_new m = {.struct_size = sizeof m, .code = "M-0001", .name = "Ann"};
    assert_int_equal(ad->members->member_add(p, &m, NULL, &msg), TP_OK);
    p->destroy(p);
    snprintf(template_db, sizeof template_db, "%s/test.db", dir);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_rmdir(base_dir);
    return 0;
}

/* ---- create + init ---- */

typedef struct sweep_stats {
    long runs, ok, create_failed, init_failed, disabled;
    long by_status[32];
} sweep_stats;

/* One create/init/destroy with the nth allocation failing. Returns 1 when
 * the failure was injected (so a larger n may still hit something). */
static int init_once(long nth, int seams, int fresh_db, sweep_stats *s)
{
    char dir[160];
    snprintf(dir, sizeof dir, "%s/run", base_dir);
    tu_rmdir(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    alloc_host *a = calloc(1, sizeof *a);
    assert_non_null(a);
    ah_init(a, dir, NULL);
    if (!fresh_db) {
        char db[200];
        snprintf(db, sizeof db, "%s/test.db", dir);
        copy_file(template_db, db);
    }
    tp_message msg;
    msg.text[0] = '\0';
    alloc_arm(nth, seams);
    const tp_plugin *p = tillpoints_entry.create(&a->h.host, a->h.config, &msg);
    tp_status st = TP_OK;
    if (p)
        st = p->init(p, &msg);
    alloc_disarm();
    int injected = atomic_load(&alloc_failed) > 0;
    s->runs++;
    if (!p) {
        if (!msg.text[0])
            fail_msg("allocation %ld: create() failed without a sentence", nth);
        s->create_failed++;
    } else if (st != TP_OK) {
        if (!msg.text[0])
            fail_msg("allocation %ld: init() returned %d without a sentence", nth, st);
        if (st != TP_ERR_NO_MEMORY && st != TP_ERR_STORAGE && st != TP_ERR_INTERNAL)
            fail_msg("allocation %ld: init() returned %d: %s", nth, st, msg.text);
        s->init_failed++;
        s->by_status[st & 31]++;
    } else {
        s->ok++;
        /* A failure after init returned (a worker thread's allocation)
         * must switch loyalty off cleanly, not crash. */
        tp_admin_set ads;
        const tp_admin_set *ad = tu_admin_set(p, &ads);
        assert_int_equal(ad->checkout->flush(p, TU_SETTLE_MS, &msg), TP_OK);
        p->on_main_thread(p);
        s->disabled += a->disabled_events > 0;
    }
    if (p)
        p->destroy(p);
    free(a);
    return injected;
}

/* Every allocation of the plugin's own; SQLite's (thousands, mostly inside
 * sqlite3_open and the schema) every one of the first 40, then an even
 * sample of about 160 more, so the sweep stays within seconds. */
static void sweep_init(int fresh_db, const char *label)
{
    sweep_stats s;
    memset(&s, 0, sizeof s);
    long plugin_n = 1;
    while (init_once(plugin_n, SEAM_PLUGIN, fresh_db, &s))
        plugin_n++;
    init_once(LONG_MAX, SEAM_SQLITE, fresh_db, &s); /* counts SQLite's */
    long sqlite_total = atomic_load(&alloc_count), sqlite_runs = 0;
    long stride = sqlite_total > 200 ? (sqlite_total - 40) / 160 : 1;
    for (long n = 1; n <= sqlite_total; n += n < 40 ? 1 : stride, sqlite_runs++)
        init_once(n, SEAM_SQLITE, fresh_db, &s);
    print_message("  %s: %ld plugin allocations (every one failed once), %ld SQLite allocations "
                  "(%ld of them failed once); %ld create() refused, %ld init() refused "
                  "(%ld no memory, %ld storage, %ld internal), %ld started anyway "
                  "(%ld of them disabled themselves)\n",
                  label, plugin_n - 1, sqlite_total, sqlite_runs, s.create_failed, s.init_failed,
                  s.by_status[TP_ERR_NO_MEMORY & 31], s.by_status[TP_ERR_STORAGE & 31],
                  s.by_status[TP_ERR_INTERNAL & 31], s.ok, s.disabled);
    assert_true(plugin_n > 5);
    assert_true(sqlite_total > 10);
    assert_true(s.create_failed > 0);
    assert_true(s.init_failed > 0);
}

static void out_of_memory_anywhere_in_create_and_init_is_a_clear_failure(void **state)
{
    (void)state;
    sweep_init(0, "create+init on an existing database");
}

static void out_of_memory_while_creating_a_new_database_is_a_clear_failure(void **state)
{
    (void)state;
    sweep_init(1, "create+init creating the database");
}

/* ---- a checkout cycle ---- */

static void out_of_memory_anywhere_in_a_checkout_cycle_loses_no_accepted_award(void **state)
{
    (void)state;
    char dir[160];
    snprintf(dir, sizeof dir, "%s/cycle", base_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    char db[200];
    snprintf(db, sizeof db, "%s/test.db", dir);
    copy_file(template_db, db);
    alloc_host *a = calloc(1, sizeof *a);
    assert_non_null(a);
    ah_init(a, dir, NULL);
    tp_message msg;
    const tp_plugin *p = tillpoints_entry.create(&a->h.host, a->h.config, &msg);
    assert_non_null(p);
    assert_int_equal(p->init(p, &msg), TP_OK);
    const tp_checkout_ext *co = p->get_extension(p, TP_EXT_CHECKOUT);
    tp_admin_set ads;
    const tp_admin_set *ad = tu_admin_set(p, &ads);
    /* One sale first, so the worker threads have made their start-up
     * allocations before the counting begins. */
    tp_line warm_line = {.sku = "SKU-1", .amount_minor = 500};
    tp_receipt warm = {.struct_size = sizeof warm, .line_stride = sizeof(tp_line),
                       .receipt_id = "WARM", .currency = "EUR", .lines = &warm_line,
                       .line_count = 1};
    assert_int_equal(co->begin(p, "WARM", NULL, &msg), TP_OK);
    assert_int_equal(co->complete(p, "WARM", &warm, NULL, &msg), TP_OK);
    assert_int_equal(ad->checkout->flush(p, TU_SETTLE_MS, &msg), TP_OK);
    p->on_main_thread(p);
    long accepted = 0, refused = 0, n;
    for (n = 1;; n++) {
        char id[32];
        snprintf(id, sizeof id, "A-%ld", n);
        tp_line line = {.sku = "SKU-1", .amount_minor = 500};
        tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = id,
                        .currency = "EUR", .lines = &line, .line_count = 1};
        a->h.n_events = 0;
        alloc_arm(n, SEAM_PLUGIN | SEAM_SQLITE);
        tp_status st = co->begin(p, id, "staff-1", &msg);
        if (st == TP_OK)
            st = co->scan(p, id, "M-0001", &msg);
        if (st == TP_OK) {
            assert_int_equal(ad->checkout->flush(p, TU_SETTLE_MS, &msg), TP_OK);
            p->on_main_thread(p);
            st = co->complete(p, id, &r, NULL, &msg);
        }
        if (st == TP_OK) {
            accepted++;
            /* One failed allocation costs the writer one retry (50 ms
             * backoff), never its ability to write. */
            if (ad->checkout->flush(p, TU_SETTLE_MS, &msg) != TP_OK)
                fail_msg("allocation %ld failed once, and the writer still has not saved "
                         "the award %d s later: %s", n, TU_SETTLE_MS / 1000, msg.text);
        } else {
            /* Any refusal must say why; the till then goes on without it. */
            if (!msg.text[0])
                fail_msg("allocation %ld: checkout call returned %d without a sentence", n, st);
            refused++;
            if (getenv("TU_VERBOSE"))
                print_message("allocation %ld: status %d: %s\n", n, st, msg.text);
            co->cancel(p, id, &msg);
        }
        p->on_main_thread(p);
        alloc_disarm();
        int injected = atomic_load(&alloc_failed) > 0;
        if (st == TP_OK) {
            /* Durable whether or not its event got through. */
            tp_member_info info = {.struct_size = sizeof info};
            assert_int_equal(ad->members->member_get(p, "M-0001", &info, &msg), TP_OK);
            assert_int_equal(info.balance, 5 * accepted);
        }
        if (!injected)
            break;
    }
    tp_verify_result vr = {.struct_size = sizeof vr};
    assert_int_equal(ad->audit->verify(p, NULL, NULL, NULL, NULL, &vr, NULL, &msg), TP_OK);
    assert_int_equal(vr.problems, 0);
    print_message("  checkout cycle: %ld allocations, each failed once: %ld sales accepted, "
                  "%ld refused with a sentence\n", n - 1, accepted, refused);
    assert_true(n > 3);
    p->destroy(p);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(out_of_memory_anywhere_in_create_and_init_is_a_clear_failure),
        cmocka_unit_test(out_of_memory_while_creating_a_new_database_is_a_clear_failure),
        cmocka_unit_test(out_of_memory_anywhere_in_a_checkout_cycle_loses_no_accepted_award),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
