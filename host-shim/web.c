/*
 * web.c — tillpoints-web, the manager's back office in a browser
 * (docs/DESIGN.md §15): the command line, the configuration, start-up,
 * the main loop, and shutdown.
 *
 * The program is one more host of the plugin (host.c), in the back-office
 * role: the plugin opens none of the till's scanners here. The main
 * thread owns the plugin's [main-thread] calls: it polls the plugin's
 * wake pipe (tp_hostlib_dispatch delivers forms and events), the pipe of
 * form jobs posted by connection threads (web_forms.c), and a self-pipe
 * for SIGTERM and SIGINT.
 *
 * Guarantees: a start-up problem exits 2 with one sentence on stderr and
 * no listening socket; when listening, exactly one ready line goes to
 * stdout; SIGTERM/SIGINT stop the server cleanly (connections finished,
 * job threads joined, forms cancelled, plugin destroyed, the private
 * upload directory removed) and exit 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hostabi.h"
#include "web.h"

#define EXIT_START 2
#define SESSIONS_MAX 1000

static int sig_pipe[2] = {-1, -1}; /* the signal handler's only way out */

int64_t tp_web_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* the pipe is full: a stop is already pending */
    }
    errno = saved;
}

static void usage(FILE *out)
{
    fputs("Usage: tillpoints-web [--config FILE] [--web-config FILE] [--plugin PATH]\n"
          "                      [--listen ADDR:PORT] [--assets DIR] [--chartjs FILE]\n"
          "                      [--session-idle SECONDS] [--max-upload BYTES]\n"
          "                      [--allow-plain-http] [--tls-cert FILE --tls-key FILE]\n"
          "                      [--verbose] [--version] [--help]\n"
          "The manager's back office in a browser: sign in with a manager id and PIN.\n"
          "  --config FILE       the store's tillpoints.conf (default "
          "/etc/tillpoints/tillpoints.conf)\n"
          "  --web-config FILE   the [web] settings (default /etc/tillpoints/web.conf)\n"
          "  --listen ADDR:PORT  default 127.0.0.1:8080; port 0 picks a free port\n"
          "See tillpoints-web(8).\n",
          out);
}

typedef struct cli_args {
    const char *config;
    const char *web_config;
    const char *plugin;
    int verbose;
    int version;
    /* overrides of the web configuration, applied after the file */
    const char *key[16];
    const char *value[16];
    int n;
} cli_args;

/* 0 to run, 1 to exit 0 (help), 2 for a usage error. */
static int parse_args(int argc, char **argv, cli_args *a)
{
    enum { O_CONFIG = 256, O_WEBCONF, O_PLUGIN, O_LISTEN, O_ASSETS, O_CHART, O_IDLE, O_UPLOAD,
           O_PLAIN, O_CERT, O_KEY, O_VERBOSE, O_VERSION, O_HELP };
    static const struct option opts[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"web-config", required_argument, NULL, O_WEBCONF},
        {"plugin", required_argument, NULL, O_PLUGIN},
        {"listen", required_argument, NULL, O_LISTEN},
        {"assets", required_argument, NULL, O_ASSETS},
        {"chartjs", required_argument, NULL, O_CHART},
        {"session-idle", required_argument, NULL, O_IDLE},
        {"max-upload", required_argument, NULL, O_UPLOAD},
        {"allow-plain-http", no_argument, NULL, O_PLAIN},
        {"tls-cert", required_argument, NULL, O_CERT},
        {"tls-key", required_argument, NULL, O_KEY},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"version", no_argument, NULL, O_VERSION},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case O_CONFIG: a->config = optarg; break;
        case O_WEBCONF: a->web_config = optarg; break;
        case O_PLUGIN: a->plugin = optarg; break;
        case O_LISTEN: key = "listen"; break;
        case O_ASSETS: key = "assets"; break;
        case O_CHART: key = "chartjs"; break;
        case O_IDLE: key = "session_idle_seconds"; break;
        case O_UPLOAD: key = "max_upload_bytes"; break;
        case O_PLAIN: key = "allow_plain_http"; optarg = (char *)"yes"; break;
        case O_CERT: key = "tls_cert"; break;
        case O_KEY: key = "tls_key"; break;
        case O_VERBOSE: a->verbose = 1; break;
        case O_VERSION: a->version = 1; break;
        case O_HELP: usage(stdout); return 1;
        default:
            fprintf(stderr, "tillpoints-web: unknown option or missing value: %s; see "
                            "tillpoints-web --help.\n",
                    argv[optind - 1]);
            return 2;
        }
        if (key && a->n < 16) {
            a->key[a->n] = key;
            a->value[a->n++] = optarg;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tillpoints-web: unexpected argument \"%s\"; see tillpoints-web --help.\n",
                argv[optind]);
        return 2;
    }
    return 0;
}

/* The private upload directory: a 0700 directory from mkdtemp under
 * $STATE_DIRECTORY (systemd; the first of a list), $TMPDIR or /tmp. */
static int make_tmpdir(tp_web *w, char *err, size_t err_cap)
{
    char base[TP_WEB_PATH_MAX];
    const char *sd = getenv("STATE_DIRECTORY");
    const char *td = getenv("TMPDIR");
    if (sd && *sd) {
        snprintf(base, sizeof base, "%s", sd);
        char *colon = strchr(base, ':');
        if (colon)
            *colon = '\0';
    } else {
        snprintf(base, sizeof base, "%s", td && *td ? td : "/tmp");
    }
    if (snprintf(w->tmpdir, sizeof w->tmpdir, "%s/tillpoints-web-XXXXXX", base) >=
            (int)sizeof w->tmpdir ||
        !mkdtemp(w->tmpdir)) {
        snprintf(err, err_cap, "Cannot make a private directory for uploads under %s: %s.", base,
                 strerror(errno));
        w->tmpdir[0] = '\0';
        return -1;
    }
    return 0;
}

static void remove_tmpdir(tp_web *w)
{
    if (!w->tmpdir[0])
        return;
    DIR *d = opendir(w->tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[TP_WEB_PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", w->tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(w->tmpdir);
}

static void *stop_daemon(void *arg)
{
    void **a = arg;
    tp_web *w = a[0];
    int fd = *(int *)a[1];
    tp_web_http_stop(w);
    unsigned char b = 1;
    if (write(fd, &b, 1) < 0) {
        /* the main loop then stops at its poll timeout */
    }
    return NULL;
}

/* Serves the plugin's wake pipe and the form jobs until `stop_fd` (or
 * sig_pipe[0] when stop_fd < 0) is readable. */
static void main_loop(tp_web *w, int stop_fd)
{
    int until = stop_fd >= 0 ? stop_fd : sig_pipe[0];
    for (;;) {
        struct pollfd p[3] = {{tp_hostlib_wake_fd(w->h), POLLIN, 0},
                              {tp_web_forms_fd(w), POLLIN, 0},
                              {until, POLLIN, 0}};
        int n = poll(p, 3, 1000);
        if (n < 0 && errno != EINTR)
            return;
        if (n <= 0)
            continue;
        if (p[0].revents)
            tp_hostlib_dispatch(w->h);
        if (p[1].revents)
            tp_web_forms_run_jobs(w);
        if (p[2].revents)
            return;
    }
}

int main(int argc, char **argv)
{
    cli_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : EXIT_START;

    static tp_web w; /* static: large, and the callbacks' user for the whole run */
    tp_web_config_defaults(&w.cfg);
    w.verbose = a.verbose;
    tp_hostlib_options opt = {.host_name = "tillpoints-web", .plugin_path = a.plugin,
                              .on_present = tp_web_on_present, .on_dismiss = tp_web_on_dismiss,
                              .user = &w, .verbose = a.verbose, .back_office = 1};
    opt.config_path = tp_hostlib_config_path(a.config);
    w.config_path = opt.config_path;
    if (a.version)
        return tp_hostlib_print_version(stdout, "tillpoints-web", &opt);

    char err[2048];
    const char *web_conf = a.web_config;
    if (!web_conf && access(TP_WEB_DEFAULT_CONFIG, F_OK) == 0)
        web_conf = TP_WEB_DEFAULT_CONFIG;
    if (web_conf && tp_web_config_load(&w.cfg, web_conf, err, sizeof err) != 0) {
        fprintf(stderr, "tillpoints-web: %s\n", err);
        return EXIT_START;
    }
    for (int i = 0; i < a.n; i++) {
        if (tp_web_config_set(&w.cfg, a.key[i], a.value[i], err, sizeof err) != 0) {
            fprintf(stderr, "tillpoints-web: on the command line, %s.\n", err);
            return EXIT_START;
        }
    }
    if (tp_web_config_check(&w.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "tillpoints-web: %s\n", err);
        return EXIT_START;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "tillpoints-web: libsodium could not start (no random source).\n");
        return EXIT_START;
    }
    randombytes_buf(w.pre_key, sizeof w.pre_key);
    char probe[TP_WEB_PATH_MAX + 16];
    snprintf(probe, sizeof probe, "%s/app.css", w.cfg.assets);
    if (access(probe, R_OK) != 0)
        fprintf(stderr, "tillpoints-web: warning: %s cannot be read; pages will have no style "
                        "(set assets, or --assets).\n", probe);
    if (access(w.cfg.chartjs, R_OK) != 0)
        fprintf(stderr, "tillpoints-web: warning: %s cannot be read; the dashboard shows its "
                        "table but no charts (install libjs-chart.js, or set chartjs).\n",
                w.cfg.chartjs);

    if (pipe(sig_pipe) != 0) {
        fprintf(stderr, "tillpoints-web: cannot make a pipe: %s.\n", strerror(errno));
        return EXIT_START;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
        fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) | O_NONBLOCK);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    rc = EXIT_START;
    if (make_tmpdir(&w, err, sizeof err) != 0) {
        fprintf(stderr, "tillpoints-web: %s\n", err);
        goto out_pipes;
    }
    if (tp_web_sessions_init(&w.sessions, SESSIONS_MAX, (int64_t)w.cfg.session_idle_seconds * 1000) !=
            0 ||
        tp_web_forms_init(&w) != 0 || tp_web_jobs_init(&w) != 0) {
        fprintf(stderr, "tillpoints-web: out of memory at start.\n");
        goto out_tables;
    }
    if (!(w.h = tp_hostlib_open(&opt, err, sizeof err))) {
        fprintf(stderr, "tillpoints-web: %s\n", err);
        goto out_tables;
    }
    w.p = tp_hostlib_plugin(w.h);
    w.ad = tp_hostlib_admin(w.h);
    w.ui = tp_hostlib_ui(w.h);
    w.stats = tp_hostabi_extension(w.p, TP_EXT_STATS, TP_FIELD_END(tp_stats_ext, stats));
    w.scanners = tp_hostabi_extension(w.p, TP_EXT_SCANNERS, TP_FIELD_END(tp_scanners_ext, list));
    if (!w.ad || !TP_HAS_FIELD(w.ad->managers, tp_managers_ext, manager_verify) ||
        !w.ad->managers->manager_verify || !w.stats || !w.stats->stats) {
        fprintf(stderr, "tillpoints-web: the loyalty plugin is older than ABI 2.3: it has no "
                        "manager sign-in (managers.manager_verify) or no dashboard figures "
                        "(tillpoints.stats/1); install the plugin of this release.\n");
        goto out_plugin;
    }
    if (!w.ui) {
        fprintf(stderr, "tillpoints-web: the loyalty plugin has no forms extension (%s); "
                        "install the plugin of this release.\n", TP_EXT_UI);
        goto out_plugin;
    }
    char url[300];
    if (tp_web_http_start(&w, url, sizeof url, err, sizeof err) != 0) {
        fprintf(stderr, "tillpoints-web: %s\n", err);
        goto out_plugin;
    }
    printf("tillpoints-web ready: %s\n", url);
    fflush(stdout);

    main_loop(&w, -1);

    /* Stop: the daemon's connection threads may wait on the main thread
     * (form jobs), so it is stopped on a helper thread while this one
     * keeps serving them. */
    {
        int done[2];
        pthread_t t;
        void *arg[2] = {&w, &done[1]};
        if (pipe(done) == 0 && pthread_create(&t, NULL, stop_daemon, arg) == 0) {
            main_loop(&w, done[0]);
            pthread_join(t, NULL);
            close(done[0]);
            close(done[1]);
        } else {
            tp_web_http_stop(&w);
        }
    }
    tp_web_jobs_free(&w);
    tp_web_forms_cancel_all(&w);
    tp_hostlib_dispatch(w.h);
    rc = 0;
out_plugin:
    tp_hostlib_stop(w.h);
    tp_hostlib_close(w.h);
out_tables:
    tp_web_jobs_free(&w);
    tp_web_forms_free(&w);
    tp_web_sessions_free(&w.sessions);
    sodium_memzero(w.pre_key, sizeof w.pre_key);
    remove_tmpdir(&w);
out_pipes:
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    return rc;
}
