/*
 * bench_footprint.c — what loading the plugin costs a POS process
 * (docs/DESIGN.md §14): the shared objects dlopen + create + init map
 * and the resident memory they add, for three configs:
 *
 *   default   [store] database only
 *   serial    one serial scanner on a port that does not exist (the serial
 *             driver and libserialport run; no hardware needed)
 *   all       serial + camera + keyboard wedge + central sync against a
 *             PostgreSQL that cannot be reached (host=/nonexistent)
 *
 * Each config is measured in a fresh process (this program run again with
 * --child), because a process's maps only grow: a library loaded once
 * stays, and the plugin's modules are never unloaded (RTLD_NODELETE). The
 * child reads /proc/self/maps and VmRSS, loads the shipped .so through
 * host-shim/host.c as a POS does (tp_hostlib_open: dlopen, create, init),
 * waits until every configured part has reported its first state (each
 * scanner past "starting", sync past "connecting"; the bound only stops a
 * stuck run), then reads both again.
 *
 * Baseline, measured in the same run and also in a fresh process: the RSS
 * growth of dlopen'ing the system's libsqlite3.so.0 alone. The plugin
 * carries its own SQLite linked in, so loading SQLite is the least a store
 * database in the POS process can cost; the ratio says how many SQLites'
 * worth of memory the plugin adds with that config.
 *
 * Each RSS growth is split into pages of mapped files (RssFile: code and
 * read-only data, shared with the page cache) and anonymous pages
 * (RssAnon: heap, stacks, relocated data: the process's own).
 *
 * Targets: the default config maps none of the heavy families
 * (X11, dbus, Kerberos, LDAP, TLS, PostgreSQL, and zbar, V4L2, libjpeg,
 * libevdev and the modules behind them) and grows RSS by under 2 MiB.
 * The other configs are reported without a target.
 *
 * The table is a report: the exit status is 1 only when a measurement
 * could not be made.
 */
#include <dlfcn.h>
#include <errno.h>
#include <spawn.h>
#include <sys/wait.h>

#include "bench.h"
#include "../tests/procmaps.h"
#include "host.h"
#include "tillpoints/ext/scanners.h"
#include "tillpoints/ext/sync.h"

extern char **environ;

#define TARGET_DEFAULT_RSS_KIB 2048 /* < 2 MiB */
#define SETTLE_MS 15000

/* ------------------------------------------------------------ the child */

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Until every scanner has left "starting" and sync has left
 * "connecting": by then each configured part has loaded what it needs. */
static int settled(const tp_plugin *p)
{
    const tp_scanners_ext *sx = p->get_extension(p, TP_EXT_SCANNERS);
    if (sx) {
        tp_scanner_info all[8];
        size_t n = 0;
        tp_message msg;
        if (sx->list(p, all, 8, sizeof all[0], &n, &msg) == TP_OK)
            for (size_t i = 0; i < n && i < 8; i++)
                if (all[i].state == TP_SCANNER_STARTING)
                    return 0;
    }
    const tp_sync_ext *sy = p->get_extension(p, TP_EXT_SYNC);
    if (sy) {
        tp_sync_status st = {.struct_size = sizeof st};
        tp_message msg;
        if (sy->status(p, &st, &msg) == TP_OK && st.configured && st.state == TP_SYNC_CONNECTING)
            return 0;
    }
    return 1;
}

/* Prints one line for the parent:
 *   before N after N added N heavy N rss_before K rss_after K settled 0|1
 * then "heavy NAME" and "added NAME" lines. */
static int child(const char *plugin, const char *config)
{
    tp_mapped *before = calloc(1, sizeof *before), *after = calloc(1, sizeof *after);
    if (!before || !after)
        return 1;
    /* stdio's buffers and the readers' pages exist before the first
     * reading, so they are not counted as the plugin's. */
    if (tp_read_maps(before) != 0 || bench_proc_status_kib("VmRSS") < 0)
        return 1;
    tp_read_maps(before);
    long rss0 = bench_proc_status_kib("VmRSS");
    long anon0 = bench_proc_status_kib("RssAnon");

    int ok_settled = 1;
    tp_hostlib *lib = NULL;
    if (strcmp(plugin, "--sqlite") == 0) {
        /* The baseline: the system's SQLite alone, initialised. */
        void *dl = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_LOCAL);
        int (*init)(void) = dl ? (int (*)(void))dlsym(dl, "sqlite3_initialize") : NULL;
        if (!init || init() != 0) {
            fprintf(stderr, "bench: cannot load libsqlite3.so.0: %s\n", dlerror());
            return 1;
        }
    } else {
        tp_hostlib_options opt;
        memset(&opt, 0, sizeof opt);
        opt.plugin_path = plugin;
        opt.config_path = config;
        opt.host_name = "bench_footprint";
        char err[1024];
        lib = tp_hostlib_open(&opt, err, sizeof err);
        if (!lib) {
            fprintf(stderr, "bench: %s\n", err);
            return 1;
        }
        const tp_plugin *p = tp_hostlib_plugin(lib);
        int64_t end = bench_now_ns() + (int64_t)SETTLE_MS * 1000000;
        while (!settled(p)) {
            if (bench_now_ns() > end) {
                ok_settled = 0;
                break;
            }
            tp_hostlib_dispatch(lib);
            pause_ms(10);
        }
    }
    long rss1 = bench_proc_status_kib("VmRSS");
    long anon1 = bench_proc_status_kib("RssAnon");
    tp_read_maps(after);

    int added = 0, n_heavy = 0;
    char lines[TP_MAPPED_MAX][160];
    int n_lines = 0;
    for (int i = 0; i < after->n; i++) {
        int was = 0;
        for (int k = 0; k < before->n && !was; k++)
            was = strcmp(before->name[k], after->name[i]) == 0;
        if (tp_is_heavy(after->name[i])) {
            n_heavy++;
            snprintf(lines[n_lines++], sizeof lines[0], "heavy %s", after->name[i]);
        }
        if (!was) {
            added++;
            if (n_lines < TP_MAPPED_MAX)
                snprintf(lines[n_lines++], sizeof lines[0], "added %s", after->name[i]);
        }
    }
    printf("before %d after %d added %d heavy %d rss_before %ld rss_after %ld settled %d "
           "anon_before %ld anon_after %ld\n",
           before->n, after->n, added, n_heavy, rss0, rss1, ok_settled, anon0, anon1);
    for (int i = 0; i < n_lines; i++)
        printf("%s\n", lines[i]);
    fflush(stdout);
    if (lib)
        tp_hostlib_close(lib);
    free(before);
    free(after);
    return 0;
}

/* ----------------------------------------------------------- the parent */

typedef struct result {
    int before, after, added, heavy, settled;
    long rss0, rss1;
    long anon0, anon1; /* RssAnon: heap, stacks, written private pages */
    char heavy_names[1024];
} result;

/* Runs this program with --child PLUGIN CONFIG and reads its answer. */
static int measure(const char *plugin, const char *config, result *r)
{
    memset(r, 0, sizeof *r);
    int out[2];
    if (pipe(out) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    char *argv[] = {"bench_footprint", "--child", (char *)plugin, (char *)config, NULL};
    pid_t pid = -1;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        fprintf(stderr, "bench: cannot run a child: %s\n", strerror(rc));
        return -1;
    }
    FILE *f = fdopen(out[0], "r");
    int got = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "before %d after %d added %d heavy %d rss_before %ld rss_after %ld "
                   "settled %d anon_before %ld anon_after %ld",
                   &r->before, &r->after, &r->added, &r->heavy, &r->rss0, &r->rss1,
                   &r->settled, &r->anon0, &r->anon1) == 9) {
            got = 1;
        } else if (strncmp(line, "heavy ", 6) == 0) {
            size_t used = strlen(r->heavy_names);
            snprintf(r->heavy_names + used, sizeof r->heavy_names - used, "%s%s",
                     used ? " " : "", line + 6);
        } else if (strncmp(line, "added ", 6) == 0 && getenv("BENCH_VERBOSE")) {
            fprintf(stderr, "bench:   %s\n", line);
        }
    }
    if (f)
        fclose(f);
    else
        close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench: the measurement of %s failed (status %d)\n",
                config ? config : plugin, status);
        return -1;
    }
    return 0;
}

static void row(const char *figure, const char *value, const char *unit, const char *target,
                const char *ratio, const char *verdict)
{
    printf("%-44s %12s  %-8s %-12s %-9s %s\n", figure, value, unit, target, ratio, verdict);
}

static int write_config(const char *dir, const char *name, const char *body, char *path,
                        size_t cap)
{
    snprintf(path, cap, "%s/%s.conf", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "[store]\ndatabase = %s/%s.db\n%s", dir, name, body);
    return fclose(f);
}

#define SERIAL_INI                                                                            \
    "[scanner \"front\"]\ndriver = serial\nport = /dev/tillpoints/bench-no-such-port\n"
#define ALL_INI                                                                               \
    SERIAL_INI "[scanner \"cam\"]\ndriver = camera\ndevice = /dev/video-bench-none\n"          \
               "[scanner \"kbd\"]\ndriver = wedge\n"                                           \
               "device = /dev/input/by-id/usb-bench-none-event-kbd\n"                          \
               "[sync]\npostgres = host=/nonexistent dbname=tp user=tillpoints\n"

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child(argv[2], argv[3]);
    const char *plugin = "build/tillpoints.so";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            /* Already quick: the same run. */
        } else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc) {
            plugin = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_footprint [--quick] [--plugin PATH]\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 1;
        }
    }

    char dir[] = "/tmp/tillpoints-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    static const struct {
        const char *name, *label, *ini;
    } configs[] = {
        {"default", "default config", ""},
        {"serial", "one serial scanner", SERIAL_INI},
        {"all", "everything on", ALL_INI},
    };
    enum { N_CONFIGS = sizeof configs / sizeof configs[0] };
    result res[N_CONFIGS], base;
    int status = 1;
    char machine[256];
    bench_machine(machine, sizeof machine);
    double load0 = bench_loadavg();

    if (measure("--sqlite", "-", &base) != 0)
        goto out;
    for (int i = 0; i < N_CONFIGS; i++) {
        char config[512];
        if (write_config(dir, configs[i].name, configs[i].ini, config, sizeof config) != 0 ||
            measure(plugin, config, &res[i]) != 0)
            goto out;
    }

    printf("bench_footprint: %s, load %.2f..%.2f, plugin %s\n", machine, load0, bench_loadavg(),
           plugin);
    row("figure", "value", "unit", "target", "ratio", "verdict");
    row("------", "-----", "----", "------", "-----", "-------");
    long base_kib = base.rss1 - base.rss0;
    char v[32], ratio[32];
    snprintf(v, sizeof v, "%.2f", (double)base_kib / 1024.0);
    row("baseline: dlopen libsqlite3.so.0 RSS growth", v, "MiB", "-", "1.00", "-");
    for (int i = 0; i < N_CONFIGS; i++) {
        const result *r = &res[i];
        int is_default = i == 0;
        char figure[96];
        long kib = r->rss1 - r->rss0;

        snprintf(figure, sizeof figure, "%s: shared objects added", configs[i].label);
        snprintf(v, sizeof v, "%d", r->added);
        row(figure, v, "files", "-", "-", "-");
        snprintf(figure, sizeof figure, "%s: heavy libraries mapped", configs[i].label);
        snprintf(v, sizeof v, "%d", r->heavy);
        row(figure, v, "files", is_default ? "0 (none)" : "-", "-",
            is_default ? (r->heavy == 0 ? "ok" : "MISSED") : "-");
        snprintf(figure, sizeof figure, "%s: RSS growth", configs[i].label);
        snprintf(v, sizeof v, "%.2f", (double)kib / 1024.0);
        if (base_kib > 0)
            snprintf(ratio, sizeof ratio, "%.2f", (double)kib / (double)base_kib);
        else
            snprintf(ratio, sizeof ratio, "-");
        row(figure, v, "MiB", is_default ? "< 2" : "-", ratio,
            is_default ? (kib < TARGET_DEFAULT_RSS_KIB ? "ok" : "MISSED") : "-");
        /* The split: pages of mapped files (code and read-only data,
         * shared with the page cache and with other processes mapping the
         * same files) and anonymous pages (heap, stacks, relocated data),
         * which are this process's own. */
        long anon = r->anon1 - r->anon0;
        snprintf(figure, sizeof figure, "  of which files (code, data)");
        snprintf(v, sizeof v, "%.2f", (double)(kib - anon) / 1024.0);
        row(figure, v, "MiB", "-", "-", "-");
        snprintf(figure, sizeof figure, "  of which anonymous (heap, stacks)");
        snprintf(v, sizeof v, "%.2f", (double)anon / 1024.0);
        row(figure, v, "MiB", "-", "-", "-");
    }
    for (int i = 0; i < N_CONFIGS; i++) {
        if (res[i].heavy)
            printf("note: %s maps %s\n", configs[i].label, res[i].heavy_names);
        if (!res[i].settled)
            printf("note: %s: not every part had reported its state after %d s\n",
                   configs[i].label, SETTLE_MS / 1000);
    }
    status = 0;
out:
    bench_remove_dir(dir);
    return status;
}
