/*
 * bench_web.c — the back office in a browser at store scale
 * (docs/DESIGN.md §15): tillpoints-web on a database of 1 M members and
 * 10 M ledger rows, while a till sells on the same file.
 *
 * What it measures, in one run, printed as one table:
 *
 *  0. Set-up (untimed): the store is bench_admin's (`bench_admin
 *     --load-only --end-now --dir DIR`): its ledger ends now, so the
 *     dashboard's 30 days hold about 860,000 entries and 90,000 receipts
 *     completed without a member. A manager is enrolled through the
 *     plugin, build/tillpoints-web is started on the store's config (the
 *     real program, a child process on 127.0.0.1, port chosen by the
 *     kernel; the bench waits for its ready line), and signs in through
 *     the real sign-in form.
 *  1. Server time of single requests, one keep-alive connection, 200
 *     requests each (p50, p99, max): the dashboard page, its figures
 *     (/dashboard.json), a member search by phone typed in national format
 *     (random members), the activity log's first page and its 1,000th page
 *     (the cursor the 999th page hands out). Server time is what the server
 *     reports in its Server-Timing header (from the request's arrival to
 *     its answer); the client's round trip is printed beside it. The
 *     dashboard's first request after the start (its figures not yet kept,
 *     stats.c) is its own row. Baseline: the sign-in page, which calls
 *     nothing of the plugin.
 *  2. Requests per second of the activity page with 20 clients, each on
 *     its own keep-alive connection, for 20 s; baseline the sign-in page
 *     with the same clients for as long.
 *  3. The till: complete() on the host thread (p99, max) at a steady 200
 *     checkouts a second, first alone, then during phase 2's load; every
 *     award must be committed afterwards (flush), none lost.
 *
 * Every answer is checked (status 200 and what the page must hold); a
 * failed check fails the run, a missed target does not.
 *
 * Usage: bench_web --dir DIR [--quick] [--plugin PATH] [--web PATH]
 *                  [--assets DIR] [--members N] [--seed S]
 * --quick: 50 requests a figure and 3 s of load (CI); DIR is what
 * bench_admin loaded (--members must match its member count).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "bench.h"

extern char **environ;

#define REQUESTS_DEFAULT 200
#define REQUESTS_QUICK 50
#define LOAD_DEFAULT_S 20.0 /* phase 2: each load runs this long */
#define LOAD_QUICK_S 3.0
#define CLIENTS 20
#define MEMBERS_DEFAULT 1000000
#define PAGE_ROWS 50 /* the activity page's rows (tillpoints-web) */
#define TILL_RATE 200
#define TILL_ALONE_S 5.0
#define READY_TIMEOUT_MS 300000 /* the server's plugin opens a 10 M-row file */
#define MANAGER "bench-mgr"
#define PIN "583920"

/* Targets (the back office's brief; docs/DESIGN.md §15). */
#define TARGET_PAGE_P99_MS 50.0
#define TARGET_COMPLETE_P99_US 50.0 /* the till's own target (bench_checkout) */

/* ---- a small HTTP/1.1 client ---------------------------------------------- */

typedef struct conn {
    int fd;
    char *buf; /* the last response: headers, then body */
    size_t len, cap;
} conn;

typedef struct response {
    int status;
    const char *body;
    size_t body_len;
    double server_ms; /* Server-Timing dur, -1 when absent */
    char cookie[256]; /* the first Set-Cookie's name=value */
    char location[256];
} response;

static int port;

/* Whether body[0..len) holds `needle` (memmem is a GNU extension). */
static int holds(const char *body, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n && i + n <= len; i++)
        if (body[i] == needle[0] && memcmp(body + i, needle, n) == 0)
            return 1;
    return 0;
}

static int conn_open(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

static int reserve(conn *c, size_t more)
{
    if (c->len + more + 1 <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 65536;
    while (cap < c->len + more + 1)
        cap *= 2;
    char *b = realloc(c->buf, cap);
    if (!b)
        return -1;
    c->buf = b;
    c->cap = cap;
    return 0;
}

/* Reads until `have` bytes are buffered; 0, or -1 on EOF or error. */
static int fill(conn *c, size_t have)
{
    while (c->len < have) {
        if (reserve(c, 65536) != 0)
            return -1;
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
    return 0;
}

/* The value of header `name` in the header block [h, end), copied. */
static int header(const char *h, const char *end, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = h; p && p < end;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol || eol > end)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(eol - v), v);
            return 1;
        }
        p = eol + 2;
    }
    return 0;
}

/* Sends one request and reads its response (Content-Length or chunked).
 * 0, or -1 when the connection failed. */
static int http(conn *c, const char *method, const char *path, const char *cookie,
                const char *form, response *r)
{
    char req[4096], length[128] = "";
    if (form)
        snprintf(length, sizeof length,
                 "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n",
                 strlen(form));
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\n"
                     "%s%s%s%s\r\n%s",
                     method, path, port, port, cookie ? "Cookie: " : "", cookie ? cookie : "",
                     cookie ? "\r\n" : "", length, form ? form : "");
    if (n < 0 || (size_t)n >= sizeof req || write(c->fd, req, (size_t)n) != n)
        return -1;
    c->len = 0;
    if (fill(c, 4) != 0)
        return -1;
    char *end;
    while (!(end = strstr(c->buf, "\r\n\r\n")))
        if (fill(c, c->len + 1) != 0)
            return -1;
    size_t head_len = (size_t)(end - c->buf) + 4;
    memset(r, 0, sizeof *r);
    r->server_ms = -1;
    if (sscanf(c->buf, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    char v[256];
    if (header(c->buf, end + 2, "Server-Timing", v, sizeof v)) {
        const char *d = strstr(v, "dur=");
        if (d)
            r->server_ms = strtod(d + 4, NULL);
    }
    if (header(c->buf, end + 2, "Set-Cookie", v, sizeof v))
        snprintf(r->cookie, sizeof r->cookie, "%.*s", (int)strcspn(v, ";"), v);
    header(c->buf, end + 2, "Location", r->location, sizeof r->location);
    if (header(c->buf, end + 2, "Content-Length", v, sizeof v)) {
        size_t body = strtoull(v, NULL, 10);
        if (fill(c, head_len + body) != 0)
            return -1;
        r->body = c->buf + head_len;
        r->body_len = body;
        return 0;
    }
    if (header(c->buf, end + 2, "Transfer-Encoding", v, sizeof v) && strstr(v, "chunked")) {
        /* De-chunk in place behind the headers. */
        size_t in = head_len, out = head_len;
        for (;;) {
            while (!strstr(c->buf + in, "\r\n"))
                if (fill(c, c->len + 1) != 0)
                    return -1;
            size_t size = strtoull(c->buf + in, NULL, 16);
            in = (size_t)(strstr(c->buf + in, "\r\n") - c->buf) + 2;
            if (fill(c, in + size + 2) != 0)
                return -1;
            memmove(c->buf + out, c->buf + in, size);
            out += size;
            in += size + 2;
            if (size == 0)
                break;
        }
        c->buf[out] = '\0';
        r->body = c->buf + head_len;
        r->body_len = out - head_len;
        return 0;
    }
    r->body = c->buf + head_len;
    r->body_len = 0;
    return 0;
}

/* ---- the table ------------------------------------------------------------ */

static int failures; /* correctness checks that failed */

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "bench: check failed: %s\n", what);
        failures++;
    }
}

#define FIGURE_W 52
#define row(...) bench_row(FIGURE_W, __VA_ARGS__)
#define row_num(...) bench_row_num(FIGURE_W, __VA_ARGS__)

/* ---- the server ----------------------------------------------------------- */

static pid_t web_pid = -1;

/* Starts tillpoints-web and reads its ready line; sets `port`. */
static int web_start(const char *web, const char *plugin, const char *config, const char *assets)
{
    int out[2];
    if (pipe(out) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    char *const argv[] = {(char *)web,    "--plugin",     (char *)plugin, "--config",
                          (char *)config, "--listen",     "127.0.0.1:0",  "--assets",
                          (char *)assets, "--session-idle", "86400",      NULL};
    int rc = posix_spawn(&web_pid, web, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        fprintf(stderr, "bench: cannot start %s: %s\n", web, strerror(rc));
        close(out[0]);
        return -1;
    }
    char line[512];
    size_t len = 0;
    int64_t until = bench_now_ns() + (int64_t)READY_TIMEOUT_MS * 1000000;
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        int left = (int)((until - bench_now_ns()) / 1000000);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
    close(out[0]); /* the server writes nothing more to stdout */
    const char *u = strstr(line, "http://127.0.0.1:");
    if (!strstr(line, "tillpoints-web ready:") || !u) {
        fprintf(stderr, "bench: %s did not say it was ready (it said: %s)\n", web, line);
        return -1;
    }
    port = atoi(u + strlen("http://127.0.0.1:"));
    return port > 0 ? 0 : -1;
}

static void web_stop(void)
{
    if (web_pid > 0) {
        kill(web_pid, SIGTERM);
        int st;
        waitpid(web_pid, &st, 0);
        web_pid = -1;
    }
}

/* Signs in through the form; writes "tp_session=..." to `cookie`. */
static int sign_in(char *cookie, size_t cap)
{
    conn c = {.fd = -1};
    response r;
    int ok = -1;
    if (conn_open(&c) != 0 || http(&c, "GET", "/signin", NULL, NULL, &r) != 0 || r.status != 200)
        goto out;
    char pre[256];
    snprintf(pre, sizeof pre, "%s", r.cookie);
    const char *f = strstr(r.body, "name=\"csrf\" value=\"");
    if (!f)
        goto out;
    f += strlen("name=\"csrf\" value=\"");
    char form[512];
    snprintf(form, sizeof form, "manager=%s&pin=%s&csrf=%.*s", MANAGER, PIN,
             (int)strcspn(f, "\""), f);
    if (http(&c, "POST", "/signin", pre, form, &r) != 0 || r.status != 303 ||
        strncmp(r.cookie, "tp_session=", 11) != 0)
        goto out;
    snprintf(cookie, cap, "%s", r.cookie);
    ok = 0;
out:
    if (ok != 0)
        fprintf(stderr, "bench: sign-in failed (status %d)\n", c.fd >= 0 ? r.status : -1);
    conn_close(&c);
    return ok;
}

/* ---- 1. single requests ------------------------------------------------- */

typedef struct timing {
    int64_t *server_ns, *client_ns;
    size_t n;
} timing;

typedef const char *(*path_fn)(size_t i, char *buf, size_t cap, const char **must_hold);

/* `runs` requests on one connection; each answer must be 200 and hold
 * the marker. 0, or -1 when the connection failed. */
static int measure(const char *cookie, path_fn path, size_t runs, timing *t)
{
    conn c = {.fd = -1};
    if (conn_open(&c) != 0)
        return -1;
    t->n = 0;
    for (size_t i = 0; i < runs; i++) {
        char buf[256];
        const char *must = NULL;
        const char *p = path(i, buf, sizeof buf, &must);
        response r;
        int64_t t0 = bench_now_ns();
        if (http(&c, "GET", p, cookie, NULL, &r) != 0) {
            conn_close(&c);
            return -1;
        }
        int64_t t1 = bench_now_ns();
        char what[400];
        snprintf(what, sizeof what, "GET %s answers 200 holding %s (got %d)", p, must, r.status);
        check(r.status == 200 && must && holds(r.body, r.body_len, must), what);
        t->client_ns[t->n] = t1 - t0;
        t->server_ns[t->n] = r.server_ms >= 0 ? (int64_t)(r.server_ms * 1e6) : t1 - t0;
        t->n++;
    }
    conn_close(&c);
    qsort(t->server_ns, t->n, sizeof *t->server_ns, bench_cmp_i64);
    qsort(t->client_ns, t->n, sizeof *t->client_ns, bench_cmp_i64);
    return 0;
}

static size_t n_members = MEMBERS_DEFAULT;
static uint64_t rng = 42;
static int64_t cursor_1000; /* before_id of the activity log's 1,000th page */

static const char *p_signin(size_t i, char *b, size_t cap, const char **must)
{
    (void)i;
    (void)b;
    (void)cap;
    *must = "id=\"signin\"";
    return "/signin";
}

static const char *p_dashboard(size_t i, char *b, size_t cap, const char **must)
{
    (void)i;
    (void)b;
    (void)cap;
    *must = "id=\"dashboard-table\"";
    return "/";
}

static const char *p_dashboard_json(size_t i, char *b, size_t cap, const char **must)
{
    (void)i;
    (void)b;
    (void)cap;
    *must = "\"retro_by_manager\"";
    return "/dashboard.json";
}

/* A random member's phone as a person types it: "0151 1234 5678" (the
 * bench_admin store's numbers: 7919 * i + 12345678 mod 10^8, national format). */
static const char *p_search(size_t i, char *b, size_t cap, const char **must)
{
    (void)i;
    static char code[32];
    size_t m = (size_t)bench_rng_range(&rng, 0, (int64_t)n_members - 1);
    unsigned long d = (unsigned long)((m * 7919ULL + 12345678ULL) % 100000000ULL);
    snprintf(b, cap, "/members?q=0151+%04lu+%04lu", d / 10000, d % 10000);
    snprintf(code, sizeof code, "M-%07zu", m + 1);
    *must = code;
    return b;
}

static const char *p_activity(size_t i, char *b, size_t cap, const char **must)
{
    (void)i;
    (void)b;
    (void)cap;
    *must = "id=\"activity\"";
    return "/activity";
}

static const char *p_activity_1000(size_t i, char *b, size_t cap, const char **must)
{
    (void)i;
    snprintf(b, cap, "/activity?before=%" PRId64, cursor_1000);
    *must = "id=\"activity\"";
    return b;
}

static void rows_for(const char *name, const timing *t, const timing *base, int has_target)
{
    char fig[96];
    double p50 = bench_pct_ms(t->server_ns, t->n, 0.5), p99 = bench_pct_ms(t->server_ns, t->n, 0.99);
    double b99 = base ? bench_pct_ms(base->server_ns, base->n, 0.99) : 0;
    snprintf(fig, sizeof fig, "%s: server p50", name);
    row_num(fig, p50, 2, "ms", "-", 0, -1);
    snprintf(fig, sizeof fig, "%s: server p99 (%zu requests)", name, t->n);
    if (has_target)
        row_num(fig, p99, 2, "ms", "< 50", b99, p99 < TARGET_PAGE_P99_MS);
    else
        row_num(fig, p99, 2, "ms", "-", 0, -1);
    snprintf(fig, sizeof fig, "%s: server max", name);
    row_num(fig, (double)t->server_ns[t->n ? t->n - 1 : 0] / 1e6, 2, "ms", "-", 0, -1);
    snprintf(fig, sizeof fig, "%s: client round trip p99", name);
    row_num(fig, bench_pct_ms(t->client_ns, t->n, 0.99), 2, "ms", "-", 0, -1);
}

/* ---- 2. load, and 3. the till ---------------------------------------------- */

typedef struct load {
    const char *cookie;
    const char *path;
    const char *must;
    atomic_int stop;   /* set when the load's time is up */
    atomic_long answered;
    atomic_int failed;
} load;

static void *client(void *arg)
{
    load *l = arg;
    conn c = {.fd = -1};
    if (conn_open(&c) != 0) {
        atomic_fetch_add(&l->failed, 1);
    } else {
        while (!atomic_load(&l->stop)) {
            response r;
            if (http(&c, "GET", l->path, l->cookie, NULL, &r) != 0 || r.status != 200 ||
                !holds(r.body, r.body_len, l->must)) {
                atomic_fetch_add(&l->failed, 1);
                break;
            }
            atomic_fetch_add(&l->answered, 1);
        }
    }
    conn_close(&c);
    return NULL;
}

typedef struct till {
    tp_hostlib *lib;
    const tp_plugin *plugin;
    const tp_checkout_ext *co;
    int64_t *complete_ns;
    size_t n, cap;
    long committed, failed;
    long sold;
} till;

static void on_event(void *user, const tp_event *ev)
{
    till *t = user;
    if (ev->kind == TP_EVENT_AWARD_COMMITTED)
        t->committed++;
    else if (ev->kind == TP_EVENT_AWARD_FAILED)
        t->failed++;
}

/* One checkout; its complete() call time is recorded. */
static int sell(till *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        int64_t *g = realloc(t->complete_ns, cap * sizeof *g);
        if (!g)
            return -1;
        t->complete_ns = g;
        t->cap = cap;
    }
    char txn[32], code[32];
    t->sold++;
    snprintf(txn, sizeof txn, "W-%07ld", t->sold);
    snprintf(code, sizeof code, "M-%07d", (int)bench_rng_range(&rng, 1, (int64_t)n_members));
    tp_line line = {.sku = "SKU-COFFEE", .category = "grocery",
                    .amount_minor = bench_rng_range(&rng, 100, 5000)};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof line, .receipt_id = txn,
                    .currency = "EUR", .lines = &line, .line_count = 1};
    tp_message msg;
    if (t->co->begin(t->plugin, txn, "staff-1", &msg) != TP_OK ||
        t->co->scan(t->plugin, txn, code, &msg) != TP_OK) {
        fprintf(stderr, "bench: begin/scan %s: %s\n", txn, msg.text);
        return -1;
    }
    int64_t c0 = bench_now_ns();
    tp_status st = t->co->complete(t->plugin, txn, &r, NULL, &msg);
    int64_t c1 = bench_now_ns();
    if (st != TP_OK) {
        fprintf(stderr, "bench: complete %s: %s\n", txn, msg.text);
        return -1;
    }
    t->complete_ns[t->n++] = c1 - c0;
    return 0;
}

/* Sells at TILL_RATE a second for `seconds`, delivering events between
 * sales. */
static int till_run(till *t, double seconds)
{
    t->n = 0;
    int64_t start = bench_now_ns(), step = 1000000000LL / TILL_RATE;
    for (long i = 0;; i++) {
        if (bench_now_ns() - start >= (int64_t)(seconds * 1e9))
            break;
        if (sell(t) != 0)
            return -1;
        tp_hostlib_dispatch(t->lib);
        int64_t due = start + (i + 1) * step, now = bench_now_ns();
        if (due > now) {
            struct timespec ts = {.tv_sec = (due - now) / 1000000000LL,
                                  .tv_nsec = (due - now) % 1000000000LL};
            nanosleep(&ts, NULL);
        }
    }
    qsort(t->complete_ns, t->n, sizeof *t->complete_ns, bench_cmp_i64);
    return 0;
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *to)
{
    fprintf(to, "usage: bench_web --dir DIR [--quick] [--plugin PATH] [--web PATH]\n"
                "                 [--assets DIR] [--members N] [--seed S]\n"
                "  --dir DIR      the store bench_admin --load-only --end-now --dir DIR loaded\n"
                "  --quick        CI size: %d requests a figure, %.0f s of load\n"
                "  --members N    the store's members (default %d; as bench_admin's)\n",
            REQUESTS_QUICK, LOAD_QUICK_S, MEMBERS_DEFAULT);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *plugin = "build/tillpoints.so", *web = "build/tillpoints-web",
               *assets = "web";
    size_t runs = REQUESTS_DEFAULT;
    double load_s = LOAD_DEFAULT_S;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0) {
            runs = REQUESTS_QUICK;
            load_s = LOAD_QUICK_S;
        } else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc)
            plugin = argv[++i];
        else if (strcmp(argv[i], "--web") == 0 && i + 1 < argc)
            web = argv[++i];
        else if (strcmp(argv[i], "--assets") == 0 && i + 1 < argc)
            assets = argv[++i];
        else if (strcmp(argv[i], "--members") == 0 && i + 1 < argc)
            n_members = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 1;
        }
    }
    if (!dir || n_members < 1) {
        usage(stderr);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int status = 1;
    char config[512], mach[256], cookie[256];
    snprintf(config, sizeof config, "%s/tillpoints.conf", dir);
    bench_machine(mach, sizeof mach);
    double load0 = bench_loadavg();
    till t;
    memset(&t, 0, sizeof t);
    timing tm[7];
    memset(tm, 0, sizeof tm);
    for (size_t i = 0; i < 7; i++) {
        tm[i].server_ns = calloc(runs, sizeof(int64_t));
        tm[i].client_ns = calloc(runs, sizeof(int64_t));
        if (!tm[i].server_ns || !tm[i].client_ns) {
            fprintf(stderr, "bench: out of memory\n");
            goto out;
        }
    }

    /* ---- 0. set-up: the till, a manager, the server ---- */
    tp_hostlib_options opt;
    memset(&opt, 0, sizeof opt);
    opt.plugin_path = plugin;
    opt.config_path = config;
    opt.host_name = "bench_web till";
    opt.on_event = on_event;
    opt.user = &t;
    char err[512];
    if (!(t.lib = tp_hostlib_open(&opt, err, sizeof err))) {
        fprintf(stderr, "bench: %s\n", err);
        goto out;
    }
    t.plugin = tp_hostlib_plugin(t.lib);
    t.co = tp_hostlib_checkout(t.lib);
    const tp_admin_set *ad = tp_hostlib_admin(t.lib);
    tp_message msg;
    tp_status st = ad->managers->manager_add(t.plugin, MANAGER, "Bench Manager", PIN, "bench",
                                             &msg);
    if (st == TP_ERR_DUPLICATE)
        st = ad->managers->manager_reset_pin(t.plugin, MANAGER, PIN, "bench", &msg);
    if (st != TP_OK) {
        fprintf(stderr, "bench: enrolling the manager: %s\n", msg.text);
        goto out;
    }
    /* The 1,000th page's cursor, as the 999th page hands it out. */
    {
        tp_activity_row rows[PAGE_ROWS];
        tp_activity_query q = {.struct_size = sizeof q};
        for (int page = 1; page < 1000; page++) {
            size_t n = 0;
            if (ad->ledger->activity(t.plugin, &q, rows, PAGE_ROWS, sizeof rows[0], &n, &msg) !=
                    TP_OK ||
                n != PAGE_ROWS) {
                fprintf(stderr, "bench: activity page %d: %s\n", page, msg.text);
                goto out;
            }
            q.before_id = rows[n - 1].id;
        }
        cursor_1000 = q.before_id;
    }
    fprintf(stderr, "bench: starting %s on %s\n", web, config);
    if (web_start(web, plugin, config, assets) != 0 || sign_in(cookie, sizeof cookie) != 0)
        goto out;

    /* ---- 1. single requests ---- */
    timing cold = {.server_ns = tm[6].server_ns, .client_ns = tm[6].client_ns};
    if (measure(cookie, p_dashboard, 1, &cold) != 0 ||   /* the first: nothing kept */
        measure(cookie, p_signin, runs, &tm[0]) != 0 ||
        measure(cookie, p_dashboard, runs, &tm[1]) != 0 ||
        measure(cookie, p_dashboard_json, runs, &tm[2]) != 0 ||
        measure(cookie, p_search, runs, &tm[3]) != 0 ||
        measure(cookie, p_activity, runs, &tm[4]) != 0 ||
        measure(cookie, p_activity_1000, runs, &tm[5]) != 0) {
        fprintf(stderr, "bench: the server closed a connection\n");
        goto out;
    }

    /* ---- 3a. the till alone ---- */
    if (till_run(&t, TILL_ALONE_S) != 0)
        goto out;
    double alone99 = bench_pct_us(t.complete_ns, t.n, 0.99);
    double alone_max = bench_pct_us(t.complete_ns, t.n, 1.0);
    size_t alone_n = t.n;

    /* ---- 2. load (and 3b. the till during it) ---- */
    double rps[2] = {0, 0};
    size_t load_n = 0;
    double load99 = 0, load_max = 0;
    for (int k = 0; k < 2; k++) {
        load l = {.cookie = cookie, .path = k ? "/activity" : "/signin",
                  .must = k ? "id=\"activity\"" : "id=\"signin\""};
        pthread_t th[CLIENTS];
        int64_t t0 = bench_now_ns();
        int started = 0;
        for (; started < CLIENTS; started++)
            if (pthread_create(&th[started], NULL, client, &l) != 0)
                break;
        int till_ok = 0;
        if (k == 1) { /* the till sells while the clients ask */
            till_ok = till_run(&t, load_s);
            load_n = t.n;
            load99 = bench_pct_us(t.complete_ns, t.n, 0.99);
            load_max = bench_pct_us(t.complete_ns, t.n, 1.0);
        } else {
            struct timespec ts = {.tv_sec = (time_t)load_s,
                                  .tv_nsec = (long)((load_s - (double)(time_t)load_s) * 1e9)};
            nanosleep(&ts, NULL);
        }
        atomic_store(&l.stop, 1);
        for (int i = 0; i < started; i++)
            pthread_join(th[i], NULL);
        rps[k] = (double)atomic_load(&l.answered) / ((double)(bench_now_ns() - t0) / 1e9);
        if (till_ok != 0)
            goto out;
        char what[128];
        snprintf(what, sizeof what, "%d clients x GET %s: every answer 200", CLIENTS, l.path);
        check(started == CLIENTS && atomic_load(&l.failed) == 0, what);
    }
    if (tp_hostlib_settle(t.lib, 120000, &msg) != TP_OK)
        fprintf(stderr, "bench: flush: %s\n", msg.text);
    check(t.committed == t.sold && t.failed == 0, "every checkout of the till was committed");

    /* ---- the table ---- */
    printf("bench_web: %zu members, the store of bench_admin --end-now in %s; %s; load "
           "average %.2f at start, %.2f at end\n",
           n_members, dir, mach, load0, bench_loadavg());
    row("figure", "value", "unit", "target", "ratio", "verdict");
    row("------", "-----", "----", "------", "-----", "-------");
    rows_for("sign-in page (baseline)", &tm[0], NULL, 0);
    row_num("dashboard: first request after start (server)",
            (double)cold.server_ns[0] / 1e6, 2, "ms", "-", 0, -1);
    rows_for("dashboard page", &tm[1], &tm[0], 1);
    rows_for("dashboard figures (json)", &tm[2], &tm[0], 1);
    rows_for("member search by phone", &tm[3], &tm[0], 1);
    rows_for("activity log, first page", &tm[4], &tm[0], 1);
    rows_for("activity log, 1,000th page", &tm[5], &tm[0], 1);
    row_num("sign-in page, 20 clients (baseline)", rps[0], 0, "req/s", "-", 0, -1);
    row_num("activity page, 20 clients", rps[1], 0, "req/s", "-", rps[0], -1);
    char fig[96];
    snprintf(fig, sizeof fig, "till complete() p99, alone (%zu sales)", alone_n);
    row_num(fig, alone99, 2, "us", "< 50", 0, alone99 < TARGET_COMPLETE_P99_US);
    row_num("till complete() max, alone", alone_max, 2, "us", "-", 0, -1);
    snprintf(fig, sizeof fig, "till complete() p99, under the load (%zu sales)", load_n);
    row_num(fig, load99, 2, "us", "< 50", alone99, load99 < TARGET_COMPLETE_P99_US);
    row_num("till complete() max, under the load", load_max, 2, "us", "-", alone_max, -1);
    row_num("till awards committed / sold", (double)t.committed, 0, "", "all", 0,
            t.committed == t.sold);
    status = failures ? 1 : 0;
out:
    web_stop();
    if (t.lib) {
        tp_hostlib_stop(t.lib);
        tp_hostlib_close(t.lib);
    }
    for (size_t i = 0; i < 7; i++) {
        free(tm[i].server_ns);
        free(tm[i].client_ns);
    }
    free(t.complete_ns);
    if (failures)
        fprintf(stderr, "bench: %d check(s) failed\n", failures);
    return status;
}
