/*
 * test_modules.c — the optional modules (docs/DESIGN.md §14,
 * plugin/module.h): the camera (zbar, V4L2), keyboard-wedge (libevdev) and
 * central sync (libpq) parts live in tillpoints-camera.so,
 * tillpoints-wedge.so and tillpoints-sync.so beside tillpoints.so, and are
 * loaded only when the config names them.
 *
 * What a process maps is per process (/proc/self/maps), and a loaded module
 * is never unloaded (RTLD_NODELETE), so every scenario runs in a fresh
 * child: this program runs itself again (/proc/self/exe --scenario NAME
 * PLUGIN DIR), the child loads the real plugin with dlopen through the host
 * library (host-shim/host.c, tp_hostlib_open), creates and initialises it
 * with DIR/tillpoints.conf, checks what it sees with cmocka and says so on
 * its output; the parent checks the child's exit status and that line.
 *
 * This program itself must not link any library the scenarios look for:
 * it never calls libpq, zbar or libevdev (the central database is checked
 * through the plugin's own sync status), so the linker leaves them out.
 *
 * Every wait is for something the plugin reports (a scanner's state, the
 * sync status, the queue); the deadline only stops a run that is stuck.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>

#include "testutil.h"
#include "procmaps.h"
#include "central.h"

#include "host.h"
#include "tillpoints/ext/images.h"
#include "tillpoints/ext/queue.h"
#include "tillpoints/ext/scanners.h"
#include "tillpoints/ext/sync.h"

extern char **environ;

#define WAIT_MS 120000

/* Missing devices: nothing to open, so each driver reports its own
 * "not there" sentence and retries. */
#define CAMERA_DEVICE "/dev/video-tillpoints-test-97"
#define WEDGE_DEVICE "/dev/input/by-id/usb-tillpoints-test-missing-event-kbd"
#define MEMBER "M-MOD-0001"

/* ------------------------------------------------------------ the maps */

/* The mapped shared objects, and the families the default config must not
 * bring into a POS (tp_heavy_libs), come from tests/procmaps.h. */
static void read_maps(tp_mapped *m)
{
    assert_int_equal(tp_read_maps(m), 0);
}

static void print_mapped(const tp_mapped *m)
{
    printf("mapped (%d):", m->n);
    for (int i = 0; i < m->n; i++)
        printf(" %s", m->name[i]);
    printf("\n");
}

static void must_map(const tp_mapped *m, const char *prefix)
{
    if (!tp_find_mapped(m, prefix)) {
        print_mapped(m);
        fail_msg("%s is not mapped", prefix);
    }
}

/* Fails naming every one of `names` that is mapped. */
static void must_not_map(const tp_mapped *m, const char *const *names, size_t n)
{
    char found[1024] = "";
    for (size_t i = 0; i < n; i++) {
        const char *hit = tp_find_mapped(m, names[i]);
        if (hit) {
            size_t used = strlen(found);
            snprintf(found + used, sizeof found - used, " %s", hit);
        }
    }
    if (found[0]) {
        print_mapped(m);
        printf("mapped but must not be:%s\n", found);
        fail_msg("mapped but must not be:%s", found);
    }
}

/* ----------------------------------------------------- the child's host */

static struct child {
    const char *scenario, *plugin, *dir;
    tp_hostlib *lib;
    const tp_plugin *p;
    const tp_admin_set *ad;
    int awards;     /* AWARD_COMMITTED events */
    int64_t points; /* of the last one */
} C;

static void on_event(void *user, const tp_event *ev)
{
    (void)user;
    if (ev->kind == TP_EVENT_AWARD_COMMITTED) {
        C.awards++;
        C.points = ev->points;
    }
}

static void child_open(void)
{
    char conf[400], err[1024] = "";
    snprintf(conf, sizeof conf, "%s/tillpoints.conf", C.dir);
    tp_hostlib_options opt = {.plugin_path = C.plugin, .config_path = conf,
                              .host_name = "test_modules", .on_event = on_event};
    C.lib = tp_hostlib_open(&opt, err, sizeof err);
    if (!C.lib)
        fail_msg("dlopen + create + init of %s failed: %s", C.plugin, err);
    C.p = tp_hostlib_plugin(C.lib);
    C.ad = tp_hostlib_admin(C.lib);
    assert_non_null(C.ad);
}

static void child_close(const char *what)
{
    tp_hostlib_close(C.lib);
    printf("scenario %s: %s\n", C.scenario, what);
    fflush(stdout);
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The scanner `name` once it has said something (its last_error). */
static tp_scanner_info scanner_reported(const char *name)
{
    const tp_scanners_ext *sx = C.p->get_extension(C.p, TP_EXT_SCANNERS);
    assert_non_null(sx);
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    for (;;) {
        tp_scanner_info all[8];
        size_t n = 0;
        tp_message msg;
        assert_int_equal(sx->list(C.p, all, 8, sizeof all[0], &n, &msg), TP_OK);
        for (size_t i = 0; i < n && i < 8; i++)
            if (strcmp(all[i].name, name) == 0 && all[i].state != TP_SCANNER_STARTING &&
                all[i].last_error[0])
                return all[i];
        if (tp_now_ms_for_tests() > end)
            fail_msg("scanner %s reported nothing within %d s", name, WAIT_MS / 1000);
        tp_hostlib_dispatch(C.lib);
        pause_ms(20);
    }
}

/* A driver's own sentence for a missing device, not the loader's. */
static void drivers_own_sentence(const char *name, const char *device)
{
    tp_scanner_info s = scanner_reported(name);
    printf("scanner %s: state %u: %s\n", name, (unsigned)s.state, s.last_error);
    if (strstr(s.last_error, "not installed"))
        fail_msg("scanner %s says its module is not installed: %s", name, s.last_error);
    assert_int_equal(s.state, TP_SCANNER_OFFLINE);
    assert_non_null(strstr(s.last_error, device));
    assert_non_null(strstr(s.last_error, "is not there"));
}

/* The loader's sentence for a module file that is not beside the plugin. */
static void says_not_installed(const char *what, const char *sentence, const char *file)
{
    printf("%s: %s\n", what, sentence);
    if (!strstr(sentence, file) || !strstr(sentence, "not installed"))
        fail_msg("%s does not say that %s is not installed: %s", what, file, sentence);
}

static void copy_file(const char *from, const char *to);

static void add_member(void)
{
    tp_member_new m = {.struct_size = sizeof m, .code = MEMBER, .name = "Module Tester"};
    tp_message msg;
    if (C.ad->members->member_add(C.p, &m, NULL, &msg) != TP_OK)
        fail_msg("member_add: %s", msg.text);
}

/* The PNG the parent made (qrencode of MEMBER), handed to images.decode_png. */
static tp_status decode_member_png(tp_image_result *r, tp_message *msg)
{
    char path[400];
    snprintf(path, sizeof path, "%s/member.png", C.dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char png[1 << 16];
    size_t len = fread(png, 1, sizeof png, f);
    fclose(f);
    assert_true(len > 0 && len < sizeof png);
    const tp_images_ext *ix = C.p->get_extension(C.p, TP_EXT_IMAGES);
    assert_non_null(ix);
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    memset(msg, 0, sizeof *msg);
    return ix->decode_png(C.p, png, len, r, msg);
}

/* A sale of 25.00 EUR with the member code typed in; committed and
 * delivered before it returns. */
static void sale(const char *receipt)
{
    const tp_checkout_ext *co = C.ad->checkout;
    tp_message msg;
    if (co->begin(C.p, receipt, "staff-1", &msg) != TP_OK)
        fail_msg("begin: %s", msg.text);
    if (co->scan(C.p, receipt, MEMBER, &msg) != TP_OK)
        fail_msg("scan: %s", msg.text);
    tp_line line = {.sku = "SKU-1", .amount_minor = 2500};
    tp_receipt r = {.struct_size = sizeof r, .receipt_id = receipt, .currency = "EUR",
                    .lines = &line, .line_count = 1, .line_stride = sizeof line};
    if (co->complete(C.p, receipt, &r, NULL, &msg) != TP_OK)
        fail_msg("complete: %s", msg.text);
    if (tp_hostlib_settle(C.lib, WAIT_MS, &msg) != TP_OK)
        fail_msg("settle: %s", msg.text);
    tp_hostlib_dispatch(C.lib);
}

static tp_sync_status sync_status(void)
{
    const tp_sync_ext *sx = C.p->get_extension(C.p, TP_EXT_SYNC);
    assert_non_null(sx);
    tp_sync_status st = {.struct_size = sizeof st};
    tp_message msg;
    assert_int_equal(sx->status(C.p, &st, &msg), TP_OK);
    return st;
}

static tp_queue_status queue_status(void)
{
    tp_queue_status st = {.struct_size = sizeof st};
    tp_message msg;
    assert_int_equal(C.ad->queue->queue_status(C.p, &st, &msg), TP_OK);
    return st;
}

/* -------------------------------------------------------- the scenarios */

/* A check on this program, not the plugin: were the heavy libraries
 * mapped before the plugin is loaded, the scenarios would prove nothing. */
static void nothing_heavy_before_the_plugin(void)
{
    tp_mapped m;
    read_maps(&m);
    for (size_t i = 0; i < TP_N_HEAVY_LIBS; i++)
        if (tp_find_mapped(&m, tp_heavy_libs[i])) {
            print_mapped(&m);
            fail_msg("this test program maps %s before it loads the plugin: link it without "
                     "the modules' objects (Makefile: test_modules: private MODULE_OBJ :=)",
                     tp_find_mapped(&m, tp_heavy_libs[i]));
        }
}

/* a. [store] database only: none of the heavy libraries or modules is
 * mapped, the plugin is. */
static void scenario_default(void **state)
{
    (void)state;
    nothing_heavy_before_the_plugin();
    child_open();
    tp_mapped m;
    read_maps(&m);
    must_map(&m, "tillpoints.so");
    must_not_map(&m, tp_heavy_libs, TP_N_HEAVY_LIBS);
    child_close("passed");
}

/* b. A camera scanner: its module and zbar are mapped, the missing camera
 * is reported in the camera driver's words, and a picture of a member's
 * code reads as that member. */
static void scenario_camera(void **state)
{
    (void)state;
    child_open();
    drivers_own_sentence("cam", CAMERA_DEVICE);
    add_member();
    tp_image_result r;
    tp_message msg;
    tp_status st = decode_member_png(&r, &msg);
    if (st != TP_OK)
        fail_msg("decode_png: %s", msg.text);
    printf("images: verdict %u: %s\n", (unsigned)r.verdict, r.message);
    assert_int_equal(r.verdict, TP_IMAGE_MEMBER);
    assert_string_equal(r.member_code, MEMBER);
    tp_mapped m;
    read_maps(&m);
    must_map(&m, "tillpoints-camera.so");
    must_map(&m, "libzbar");
    child_close("passed");
}

/* c. A keyboard wedge: its module and libevdev are mapped, the missing
 * device is reported in the wedge driver's words. */
static void scenario_wedge(void **state)
{
    (void)state;
    child_open();
    drivers_own_sentence("kbd", WEDGE_DEVICE);
    tp_mapped m;
    read_maps(&m);
    must_map(&m, "tillpoints-wedge.so");
    must_map(&m, "libevdev");
    child_close("passed");
}

/* d. Central sync against a real PostgreSQL: libpq and the sync module are
 * mapped, the link comes online and a sale reaches the central database. */
static void scenario_sync(void **state)
{
    (void)state;
    child_open();
    int32_t from = -1, to = -1;
    tp_message msg;
    if (C.ad->queue->central_init(C.p, &from, &to, &msg) != TP_OK)
        fail_msg("central init: %s", msg.text);

    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    tp_sync_status ss;
    while ((ss = sync_status()).state != TP_SYNC_ONLINE) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("sync did not come online within %d s (state %u: %s)", WAIT_MS / 1000,
                     (unsigned)ss.state, ss.last_error);
        tp_hostlib_dispatch(C.lib);
        pause_ms(20);
    }
    add_member();
    sale("MOD-SYNC-1");
    assert_int_equal(C.awards, 1);
    assert_true(C.points > 0);
    /* The sale's outbox row is written with the award (settled above);
     * the queue empties once it is delivered. */
    end = tp_now_ms_for_tests() + WAIT_MS;
    tp_queue_status qs;
    while ((qs = queue_status()).pending != 0 || (ss = sync_status()).pushed < 1) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("the sale was not pushed within %d s (pending %llu, pushed %llu: %s)",
                     WAIT_MS / 1000, (unsigned long long)qs.pending,
                     (unsigned long long)sync_status().pushed, sync_status().last_error);
        tp_hostlib_dispatch(C.lib);
        pause_ms(20);
    }
    printf("sync: state %u, pushed %llu, parked %llu\n", (unsigned)ss.state,
           (unsigned long long)ss.pushed, (unsigned long long)ss.parked);
    assert_int_equal(qs.parked, 0);
    tp_mapped m;
    read_maps(&m);
    must_map(&m, "tillpoints-sync.so");
    must_map(&m, "libpq");
    child_close("passed");
}

/* e. tillpoints.so alone in a directory, camera, wedge and sync
 * configured: init succeeds, each part says which module is not
 * installed, and checkout with a typed member code still works. */
static void scenario_missing(void **state)
{
    (void)state;
    nothing_heavy_before_the_plugin();
    child_open();
    add_member();
    sale("MOD-MISSING-1");
    assert_int_equal(C.awards, 1);
    assert_true(C.points > 0);
    tp_message msg;
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(C.ad->members->member_get(C.p, MEMBER, &info, &msg), TP_OK);
    assert_int_equal(info.balance, C.points);

    tp_scanner_info cam = scanner_reported("cam");
    says_not_installed("scanner cam", cam.last_error, "tillpoints-camera.so");
    tp_scanner_info kbd = scanner_reported("kbd");
    says_not_installed("scanner kbd", kbd.last_error, "tillpoints-wedge.so");

    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    tp_sync_status ss;
    while (!(ss = sync_status()).last_error[0]) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("sync reported nothing within %d s (state %u)", WAIT_MS / 1000,
                     (unsigned)ss.state);
        tp_hostlib_dispatch(C.lib);
        pause_ms(20);
    }
    says_not_installed("sync", ss.last_error, "tillpoints-sync.so");

    tp_image_result r;
    assert_int_equal(decode_member_png(&r, &msg), TP_ERR_UNSUPPORTED);
    says_not_installed("images", msg.text, "tillpoints-camera.so");

    /* After every part has tried its module: none of them is mapped. */
    tp_mapped m;
    read_maps(&m);
    static const char *const none[] = {"libzbar", "libevdev", "libpq", "tillpoints-camera.so",
                                       "tillpoints-wedge.so", "tillpoints-sync.so"};
    must_not_map(&m, none, sizeof none / sizeof none[0]);

    /* The camera module installed while the till runs: the scanner's next
     * retry loads it and the camera driver takes over (its own sentence
     * for the missing device), without a restart. */
    const char *built = getenv("TILLPOINTS_PLUGIN");
    assert_non_null(built);
    char from[512], to[512];
    snprintf(from, sizeof from, "%.*s/tillpoints-camera.so",
             (int)(strrchr(built, '/') ? strrchr(built, '/') - built : 1),
             strrchr(built, '/') ? built : ".");
    snprintf(to, sizeof to, "%s/tillpoints-camera.so", C.dir);
    /* As dpkg does: written under another name, then renamed into place,
     * so the scanner thread never opens a half-written module. */
    char part[520];
    snprintf(part, sizeof part, "%s.part", to);
    copy_file(from, part);
    assert_int_equal(rename(part, to), 0);
    int64_t until = tp_now_ms_for_tests() + WAIT_MS;
    while (strstr(scanner_reported("cam").last_error, "not installed")) {
        if (tp_now_ms_for_tests() > until)
            fail_msg("the camera module installed at %s was not picked up within %d s", to,
                     WAIT_MS / 1000);
        tp_hostlib_dispatch(C.lib);
        pause_ms(20);
    }
    drivers_own_sentence("cam", CAMERA_DEVICE);
    read_maps(&m);
    must_map(&m, "tillpoints-camera.so");
    child_close("passed");
}

static int run_scenario(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    C.scenario = argv[2];
    C.plugin = argv[3];
    C.dir = argv[4];
    setvbuf(stdout, NULL, _IOLBF, 0); /* in order with cmocka's messages */
    alarm(WAIT_MS / 1000 * 3);        /* a stuck child dies; the parent reports it */
    static const struct {
        const char *name;
        CMUnitTestFunction fn;
    } all[] = {{"default", scenario_default}, {"camera", scenario_camera},
               {"wedge", scenario_wedge},     {"sync", scenario_sync},
               {"missing", scenario_missing}};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i].name, C.scenario) == 0) {
            const struct CMUnitTest one[] = {{all[i].name, all[i].fn, NULL, NULL, NULL}};
            return _cmocka_run_group_tests(all[i].name, one, 1, NULL, NULL);
        }
    fprintf(stderr, "test_modules: no scenario %s\n", C.scenario);
    return 2;
}

/* ------------------------------------------------------------ the parent */

static const char *plugin_path(void)
{
    const char *p = getenv("TILLPOINTS_PLUGIN");
    if (!p || !p[0])
        fail_msg("set TILLPOINTS_PLUGIN to the built tillpoints.so");
    return p;
}

/* A fresh directory holding tillpoints.conf ("[store] database" and then
 * `ini`) and member.png, a QR code of MEMBER. */
static void scenario_dir(char *dir, size_t cap, const char *ini)
{
    tu_mkdtemp(dir, cap);
    char path[400], text[4096];
    snprintf(path, sizeof path, "%s/tillpoints.conf", dir);
    snprintf(text, sizeof text, "[store]\ndatabase = %s/t.db\n%s", dir, ini ? ini : "");
    tu_write_file(path, text);
    snprintf(path, sizeof path, "%s/member.png", dir);
    char *argv[] = {"qrencode", "-s", "4", "-o", path, MEMBER, NULL};
    tu_run_quiet(argv);
}

/* Runs `scenario` in a fresh process; fails with the child's output unless
 * it exits 0 having said that the scenario passed. */
static void run_child(const char *scenario, const char *plugin, const char *dir)
{
    int out[2];
    assert_int_equal(pipe(out), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    char *argv[] = {"test_modules", "--scenario", (char *)scenario, (char *)plugin, (char *)dir,
                    NULL};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0)
        fail_msg("cannot run the %s scenario: %s", scenario, strerror(rc));
    static char text[1 << 16];
    size_t len = 0;
    ssize_t k;
    while ((k = read(out[0], text + len, sizeof text - 1 - len)) != 0) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            break;
        len += (size_t)k;
        if (len == sizeof text - 1) { /* keep the end, where the verdict is */
            memmove(text, text + len / 2, len - len / 2);
            len -= len / 2;
        }
    }
    text[len] = '\0';
    close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char want[64];
    snprintf(want, sizeof want, "scenario %s: passed\n", scenario);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !strstr(text, want)) {
        fprintf(stderr, "---- scenario %s, child output:\n%s---- end of child output\n", scenario,
                text);
        if (WIFSIGNALED(status))
            fail_msg("scenario %s: the child was killed by signal %d", scenario,
                     WTERMSIG(status));
        fail_msg("scenario %s failed (exit status %d): see the child's output above", scenario,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (getenv("TU_VERBOSE"))
        fprintf(stderr, "%s", text);
}

/* a. The default config maps none of the heavy libraries. */
static void default_config_maps_no_heavy_library(void **state)
{
    (void)state;
    char dir[256];
    scenario_dir(dir, sizeof dir, NULL);
    run_child("default", plugin_path(), dir);
    tu_rmdir(dir);
}

/* b. A configured camera loads its module and works. */
static void a_camera_loads_its_module_and_reads_pictures(void **state)
{
    (void)state;
    char dir[256];
    scenario_dir(dir, sizeof dir,
                 "[scanner \"cam\"]\ndriver = camera\ndevice = " CAMERA_DEVICE "\n");
    run_child("camera", plugin_path(), dir);
    tu_rmdir(dir);
}

/* c. A configured keyboard wedge loads its module. */
static void a_wedge_loads_its_module(void **state)
{
    (void)state;
    char dir[256];
    scenario_dir(dir, sizeof dir,
                 "[scanner \"kbd\"]\ndriver = wedge\ndevice = " WEDGE_DEVICE "\n");
    run_child("wedge", plugin_path(), dir);
    tu_rmdir(dir);
}

/* d. Configured sync loads its module and pushes a sale to a real
 * PostgreSQL (tests/pg_fixture.sh). Skipped without root or PostgreSQL 15. */
static void sync_loads_its_module_and_pushes_a_sale(void **state)
{
    (void)state;
    if (geteuid() != 0 || access(TC_INITDB, X_OK) != 0) {
        printf("skipped: needs root and PostgreSQL 15 in /usr/lib/postgresql/15/bin\n");
        skip();
    }
    char pgdir[64] = "/tmp/tillpoints-pg-XXXXXX";
    assert_non_null(mkdtemp(pgdir));
    if (tc_fixture("start", pgdir) != 0) {
        tc_fixture("destroy", pgdir);
        fail_msg("PostgreSQL did not start (tests/pg_fixture.sh)");
    }
    /* The terminal reads the password from a secrets file (0600) beside
     * its config, as an installed one does; the config holds none. */
    char dir[256], path[400], text[2048];
    scenario_dir(dir, sizeof dir, NULL);
    snprintf(path, sizeof path, "%s/secrets.conf", dir);
    tu_write_file(path, "[sync]\npassword = secret\n");
    assert_int_equal(chmod(path, 0600), 0);
    snprintf(text, sizeof text,
             "[store]\ndatabase = %s/t.db\nlocation = store-M\nterminal = till-M\n"
             "secrets = %s/secrets.conf\n"
             "[sync]\npostgres = host=%s dbname=tp user=tillpoints\npush_interval_ms = 50\n"
             "pull_interval_ms = 200\nbackoff_min_ms = 50\nbackoff_max_ms = 400\n"
             "connect_timeout_s = 5\n",
             dir, dir, pgdir);
    snprintf(path, sizeof path, "%s/tillpoints.conf", dir);
    tu_write_file(path, text);
    run_child("sync", plugin_path(), dir);
    tc_fixture("destroy", pgdir);
    tu_rmdir(dir);
}

/* Copies `from` to `to` (the plugin, alone in a directory). */
static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        fail_msg("cannot open %s: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(out >= 0);
    char buf[1 << 16];
    ssize_t k;
    while ((k = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)k), k);
    assert_int_equal(k, 0);
    close(in);
    assert_int_equal(close(out), 0);
}

/* e. Modules configured but not installed: clear sentences, checkout goes
 * on. */
static void missing_modules_are_named_and_checkout_goes_on(void **state)
{
    (void)state;
    char dir[256], plugin[400];
    scenario_dir(dir, sizeof dir,
                 "[scanner \"cam\"]\ndriver = camera\ndevice = " CAMERA_DEVICE "\n"
                 "[scanner \"kbd\"]\ndriver = wedge\ndevice = " WEDGE_DEVICE "\n"
                 "[sync]\npostgres = host=/nonexistent dbname=tp user=tillpoints\n"
                 "backoff_min_ms = 50\nbackoff_max_ms = 400\n");
    snprintf(plugin, sizeof plugin, "%s/tillpoints.so", dir);
    copy_file(plugin_path(), plugin);
    run_child("missing", plugin, dir);
    tu_rmdir(dir);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--scenario") == 0)
        return run_scenario(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_config_maps_no_heavy_library),
        cmocka_unit_test(a_camera_loads_its_module_and_reads_pictures),
        cmocka_unit_test(a_wedge_loads_its_module),
        cmocka_unit_test(sync_loads_its_module_and_pushes_a_sale),
        cmocka_unit_test(missing_modules_are_named_and_checkout_goes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
