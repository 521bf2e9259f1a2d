/*
 * testutil.h — helpers shared by the cmocka suites: temporary directories
 * and a minimal in-process host that records the plugin's events.
 */
#ifndef TP_TESTUTIL_H
#define TP_TESTUTIL_H

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/ext/hostrole.h"
#include "tillpoints/ext/ui.h"
#include "tillpoints/tillpoints.h"

#include "hostabi.h"

static inline int64_t tp_now_ms_for_tests(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Time the calling thread spent blocked (asleep on a lock, the disk, the
 * network, a timer) between two readings, as opposed to running or waiting
 * for a CPU that other processes hold: wall time less the thread's CPU time
 * less its run-queue wait (/proc/thread-self/schedstat, field 2). A busy
 * machine lengthens the wall time of a call but not this, so a bound on it
 * says "the call did not wait for X" whatever else the machine is doing.
 * Without schedstat the run-queue wait counts as blocked (stricter). */
typedef struct tu_clock {
    int64_t wall_ns, cpu_ns, runq_ns;
} tu_clock;

static inline tu_clock tu_clock_now(void)
{
    tu_clock c = {0, 0, 0};
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c.wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    c.cpu_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (f) {
        unsigned long long run = 0, wait = 0;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2)
            c.runq_ns = (int64_t)wait;
        fclose(f);
    }
    return c;
}

/* Milliseconds of wall time, and of blocked time, from a to b. */
static inline double tu_wall_ms(const tu_clock *a, const tu_clock *b)
{
    return (double)(b->wall_ns - a->wall_ns) / 1e6;
}

static inline double tu_blocked_ms(const tu_clock *a, const tu_clock *b)
{
    int64_t ns = (b->wall_ns - a->wall_ns) - (b->cpu_ns - a->cpu_ns) - (b->runq_ns - a->runq_ns);
    return ns > 0 ? (double)ns / 1e6 : 0.0;
}

/* A fresh directory under /tmp; removed by tu_rmdir. */
/* Runs argv (no shell, output discarded) and fails the test unless it
 * exits 0: for the tools that make test inputs (qrencode, zint, socat). */
static inline void tu_run_quiet(char *const argv[])
{
    pid_t pid = fork();
    int status = 0;
    assert_true(pid >= 0);
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s exited with status %d", argv[0], status);
}

static inline void tu_mkdtemp(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/tillpoints-test-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static inline void tu_rmdir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The one integer a query returns (a count, a sum), read on a connection
 * of its own, read-only, as a second process would see the database. */
static inline int64_t tu_count_sql(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* Runs `argv` (argv[0] the program) with its stdout on a pipe, reads its
 * lines until it prints "mid" (it is then inside the work a test wants to
 * interrupt), and kills it with SIGKILL. Returns how many lines before
 * "mid" began with `count_prefix` (NULL: none counted). Fails the test when
 * the child ends without saying "mid" or is not killed by the signal. */
static inline int tu_kill_at_mid(char *const argv[], const char *count_prefix)
{
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    FILE *from = fdopen(out[0], "r");
    assert_non_null(from);
    char line[64];
    int counted = 0, mid = 0;
    while (!mid && fgets(line, sizeof line, from)) {
        if (count_prefix && strncmp(line, count_prefix, strlen(count_prefix)) == 0)
            counted++;
        mid = strcmp(line, "mid\n") == 0;
    }
    assert_true(mid); /* not "finished": the child was stopped inside its work */
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    fclose(from);
    return counted;
}

/* The text of the first column of the first row `sql` yields on the
 * database file at db_path, into out (cap bytes). */
static inline void tu_text_sql(const char *db_path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static inline void tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define TU_MAX_EVENTS 256

typedef struct tu_event {
    tp_event_kind kind;
    tp_status status;
    char txn[TP_TXN_ID_MAX + 1];
    char receipt[TP_RECEIPT_ID_MAX + 1];
    char member_code[TP_MEMBER_CODE_MAX + 1];
    int64_t points;
    int64_t balance;
    int replayed;
    char message[TP_MESSAGE_MAX + 1];
    char receipt_code[200];
    char refund[TP_RECEIPT_ID_MAX + 1];
    char symbology[TP_SYMBOLOGY_MAX + 1];
    int64_t shown_balance; /* 2.2: the balance to show (docs/DESIGN.md §8) */
    int64_t balance_as_of_ms;
    char balance_source[TP_BALANCE_SOURCE_MAX + 1];
    int64_t expiring_points; /* 2.4: the member's next expiry (ext/expiry.h) */
    int64_t expiring_at_ms;
    uint32_t redemption_no; /* 2.5: spending points (ext/checkout.h) */
    char redeem_source[16];
    int64_t redeemed_points;
    size_t offer_count;
    char offers[4][TP_REWARD_NAME_MAX + 1]; /* the first offers' names */
} tu_event;

/* The last form the plugin presented, copied. */
typedef struct tu_form {
    uint64_t id;
    char title[128];
    char message[TP_MESSAGE_MAX + 1];
    int is_error;
    int n;
    char fid[TP_FORM_FIELDS_MAX][TP_FIELD_ID_MAX + 1];
    tp_field_kind kind[TP_FORM_FIELDS_MAX];
    char value[TP_FORM_FIELDS_MAX][TP_FIELD_VALUE_MAX + 1];
    char error[TP_FORM_FIELDS_MAX][TP_MESSAGE_MAX + 1];
    int n_choices[TP_FORM_FIELDS_MAX];
    char ckey[TP_FORM_FIELDS_MAX][TP_FORM_CHOICES_MAX][TP_FIELD_VALUE_MAX + 1];
    char clabel[TP_FORM_FIELDS_MAX][TP_FORM_CHOICES_MAX][160];
    char submit[64];
} tu_form;

typedef struct tu_host {
    tp_host host;
    tp_host_events_ext events_ext;
    tp_host_ui_ext ui_ext;
    int back_office;           /* offer the back-office host role (ext/hostrole.h) */
    tp_host_role_ext role_ext;
    tu_form form;          /* last presented */
    int presented;         /* forms presented so far */
    int dismissed;         /* dismissals so far */
    uint64_t dismissed_id;
    int dismissed_done;
    char result[TP_MESSAGE_MAX + 1];
    pthread_t main_thread;
    atomic_int callbacks_requested;
    int off_thread_events; /* events delivered off the main thread: a bug */
    int n_events;
    tu_event ev[TU_MAX_EVENTS];
    /* Log lines at INFO and above, counted from any thread; the newest is
     * kept. A test paces itself by what the plugin logs. */
    pthread_mutex_t log_lock;
    int n_logs;
    char last_log[TP_MESSAGE_MAX + 1];
    const tp_plugin *plugin;
    const tp_checkout_ext *co;
    tp_admin_set admin;    /* the manager-side extensions ... */
    const tp_admin_set *ad; /* ... as the suites call them: &admin */
    char dir[256];
    char config[300];
} tu_host;

static inline void tu_on_event(const tp_host *host, const tp_event *plugin_event)
{
    tu_host *h = host->host_data;
    const tp_event ev = tp_event_read(plugin_event), *e = &ev;
    if (!pthread_equal(pthread_self(), h->main_thread))
        h->off_thread_events++;
    if (h->n_events >= TU_MAX_EVENTS)
        return;
    tu_event *d = &h->ev[h->n_events++];
    memset(d, 0, sizeof *d);
    d->kind = e->kind;
    d->status = e->status;
    snprintf(d->txn, sizeof d->txn, "%s", e->txn_id);
    snprintf(d->receipt, sizeof d->receipt, "%s", e->receipt_id);
    snprintf(d->member_code, sizeof d->member_code, "%s", e->member_code);
    d->points = e->points;
    d->balance = e->balance;
    d->replayed = e->replayed;
    snprintf(d->message, sizeof d->message, "%s", e->message);
    snprintf(d->receipt_code, sizeof d->receipt_code, "%s", e->receipt_code);
    snprintf(d->refund, sizeof d->refund, "%s", e->refund_id);
    snprintf(d->symbology, sizeof d->symbology, "%s", e->symbology);
    d->shown_balance = e->shown_balance;
    d->balance_as_of_ms = e->balance_as_of_ms;
    snprintf(d->balance_source, sizeof d->balance_source, "%s", e->balance_source);
    d->expiring_points = e->expiring_points;
    d->expiring_at_ms = e->expiring_at_ms;
    d->redemption_no = e->redemption_no;
    snprintf(d->redeem_source, sizeof d->redeem_source, "%s", e->redeem_source);
    d->redeemed_points = e->redeemed_points;
    d->offer_count = e->offer_count;
    for (size_t i = 0; i < e->offer_count && i < 4; i++) {
        tp_reward_offer o = tp_reward_offer_read(e->offers, e->offer_stride, i);
        snprintf(d->offers[i], sizeof d->offers[i], "%s", o.name);
    }
}

/* Reads the form by the plugin's sizes and strides (hostabi.h). */
static inline void tu_present(const tp_host *host, const tp_form *plugin_form)
{
    tu_host *h = host->host_data;
    if (!pthread_equal(pthread_self(), h->main_thread))
        h->off_thread_events++;
    tu_form *c = &h->form;
    memset(c, 0, sizeof *c);
    const tp_form form = tp_form_read(plugin_form), *f = &form;
    c->id = f->form_id;
    snprintf(c->title, sizeof c->title, "%s", f->title);
    snprintf(c->message, sizeof c->message, "%s", f->message);
    c->is_error = f->is_error;
    snprintf(c->submit, sizeof c->submit, "%s", f->submit_label);
    for (size_t i = 0; i < f->field_count && i < TP_FORM_FIELDS_MAX; i++) {
        const tp_form_field field = tp_form_field_read(f, i), *x = &field;
        snprintf(c->fid[i], sizeof c->fid[i], "%s", x->id);
        c->kind[i] = x->kind;
        snprintf(c->value[i], sizeof c->value[i], "%s", x->value);
        snprintf(c->error[i], sizeof c->error[i], "%s", x->error);
        for (size_t k = 0; k < x->choice_count && k < TP_FORM_CHOICES_MAX; k++) {
            const tp_form_choice choice = tp_form_choice_read(x, k);
            snprintf(c->ckey[i][k], sizeof c->ckey[i][k], "%s", choice.key);
            snprintf(c->clabel[i][k], sizeof c->clabel[i][k], "%s", choice.label);
        }
        c->n_choices[i] = (int)(x->choice_count < TP_FORM_CHOICES_MAX ? x->choice_count
                                                                       : TP_FORM_CHOICES_MAX);
        c->n++;
    }
    h->presented++;
}

static inline void tu_dismiss(const tp_host *host, uint64_t id, int32_t done, const char *result)
{
    tu_host *h = host->host_data;
    h->dismissed++;
    h->dismissed_id = id;
    h->dismissed_done = done;
    snprintf(h->result, sizeof h->result, "%s", result);
}

static inline const void *tu_get_extension(const tp_host *host, const char *id)
{
    tu_host *h = host->host_data;
    if (strcmp(id, TP_HOST_EXT_UI) == 0)
        return &h->ui_ext;
    if (strcmp(id, TP_HOST_EXT_ROLE) == 0)
        return h->back_office ? &h->role_ext : NULL;
    return strcmp(id, TP_HOST_EXT_EVENTS) == 0 ? &h->events_ext : NULL;
}

/* Index of field `id` in the last form, or -1. */
static inline int tu_field(const tu_host *h, const char *id)
{
    for (int i = 0; i < h->form.n; i++)
        if (strcmp(h->form.fid[i], id) == 0)
            return i;
    return -1;
}

/* Also the callback of the suites' bare hosts (no host_data, no events
 * extension): a plugin may ask for callbacks whenever it has something to
 * deliver, e.g. while init replays the side journal of a destroy() that ran
 * past its deadline on a slow machine or under valgrind. */
static inline void tu_request_callback(const tp_host *host)
{
    tu_host *h = host->host_data;
    if (h)
        atomic_fetch_add(&h->callbacks_requested, 1);
}

/* A host with its ABI version, its size and request_callback, and nothing
 * else (no events, no forms, no log): the suites' bare hosts. */
static inline tp_host tu_bare_host(void)
{
    tp_host host;
    memset(&host, 0, sizeof host);
    host.abi = (tp_version)TP_VERSION_INIT;
    host.struct_size = sizeof host;
    host.request_callback = tu_request_callback;
    return host;
}

static inline void tu_log(const tp_host *host, tp_log_level level, const char *msg)
{
    tu_host *h = host->host_data;
    if (level >= TP_LOG_ERROR && getenv("TU_VERBOSE"))
        fprintf(stderr, "plugin: %s\n", msg);
    if (level < TP_LOG_INFO)
        return;
    pthread_mutex_lock(&h->log_lock);
    h->n_logs++;
    snprintf(h->last_log, sizeof h->last_log, "%s", msg);
    pthread_mutex_unlock(&h->log_lock);
}

/* How many lines the plugin has logged at INFO or above; the newest into
 * `last` (may be NULL). */
static inline int tu_logged(tu_host *h, char *last, size_t cap)
{
    pthread_mutex_lock(&h->log_lock);
    int n = h->n_logs;
    if (last)
        snprintf(last, cap, "%s", h->last_log);
    pthread_mutex_unlock(&h->log_lock);
    return n;
}

/* The manager-side extensions of `p` into `set`; fails the test when the
 * plugin lacks one. Returns `set`. */
static inline const tp_admin_set *tu_admin_set(const tp_plugin *p, tp_admin_set *set)
{
    const char *missing = tp_admin_set_get(p, set);
    if (missing)
        fail_msg("the plugin lacks the %s extension", missing);
    return set;
}

/* Points co and ad at the extensions of the (new) instance h->plugin. */
static inline void tu_attach(tu_host *h)
{
    h->ad = tu_admin_set(h->plugin, &h->admin);
    h->co = h->admin.checkout;
}

/* Creates a host and a plugin instance (through tillpoints_entry, as a
 * real host would) on a fresh directory. `ini` (may be NULL) is appended
 * to a config that points the database into that directory. */
static inline tu_host *tu_start(const char *ini)
{
    tu_host *h = calloc(1, sizeof *h);
    assert_non_null(h);
    tu_mkdtemp(h->dir, sizeof h->dir);
    snprintf(h->config, sizeof h->config, "%s/tillpoints.conf", h->dir);
    char text[4096];
    snprintf(text, sizeof text, "[store]\ndatabase = test.db\n%s", ini ? ini : "");
    tu_write_file(h->config, text);
    h->main_thread = pthread_self();
    pthread_mutex_init(&h->log_lock, NULL);
    h->events_ext.struct_size = sizeof h->events_ext;
    h->events_ext.on_event = tu_on_event;
    h->ui_ext.struct_size = sizeof h->ui_ext;
    h->ui_ext.present = tu_present;
    h->ui_ext.dismiss = tu_dismiss;
    h->role_ext.struct_size = sizeof h->role_ext;
    h->role_ext.flags = TP_HOST_ROLE_BACK_OFFICE;
    h->host.abi = (tp_version)TP_VERSION_INIT;
    h->host.struct_size = sizeof h->host;
    h->host.name = "cmocka";
    h->host.vendor = "tillpoints tests";
    h->host.version = "0";
    h->host.host_data = h;
    h->host.get_extension = tu_get_extension;
    h->host.request_callback = tu_request_callback;
    h->host.log = tu_log;
    assert_true(tillpoints_entry.init("test"));
    tp_message msg;
    h->plugin = tillpoints_entry.create(&h->host, h->config, &msg);
    assert_non_null(h->plugin);
    tp_status st = h->plugin->init(h->plugin, &msg);
    if (st != TP_OK)
        fail_msg("init: %s", msg.text);
    tu_attach(h);
    return h;
}

/* Waits for the plugin's threads, then delivers events on this thread.
 * The bound is generous: it only stops a writer that is stuck, and a busy
 * machine (or a sanitizer build) must not trip it. */
#define TU_SETTLE_MS 120000
static inline void tu_settle(tu_host *h)
{
    tp_message msg;
    tp_status st = h->ad->checkout->flush(h->plugin, TU_SETTLE_MS, &msg);
    if (st != TP_OK)
        fail_msg("flush: the plugin's writer did not finish within %d s: %s",
                 TU_SETTLE_MS / 1000, msg.text);
    h->plugin->on_main_thread(h->plugin);
}

/* Destroys and re-creates the instance on the same files: a restart. */
static inline void tu_restart(tu_host *h)
{
    h->plugin->destroy(h->plugin);
    tp_message msg;
    h->plugin = tillpoints_entry.create(&h->host, h->config, &msg);
    assert_non_null(h->plugin);
    if (h->plugin->init(h->plugin, &msg) != TP_OK)
        fail_msg("init after restart: %s", msg.text);
    tu_attach(h);
}

static inline void tu_stop(tu_host *h, int remove_dir)
{
    if (h->plugin)
        h->plugin->destroy(h->plugin);
    tillpoints_entry.deinit();
    assert_int_equal(h->off_thread_events, 0);
    if (remove_dir)
        tu_rmdir(h->dir);
    free(h);
}

static inline const tu_event *tu_last(const tu_host *h)
{
    assert_true(h->n_events > 0);
    return &h->ev[h->n_events - 1];
}

/* The last event of `kind` (for `receipt`, unless NULL); fails if none.
 * A scan's lookup and a sale's award run on two plugin threads, so their
 * events may come in either order: a test that wants one of them looks
 * for it rather than taking the last event. */
static inline const tu_event *tu_find(const tu_host *h, tp_event_kind kind, const char *receipt)
{
    for (int i = h->n_events - 1; i >= 0; i--)
        if (h->ev[i].kind == kind && (!receipt || strcmp(h->ev[i].receipt, receipt) == 0))
            return &h->ev[i];
    fail_msg("no event of kind %d%s%s among %d", (int)kind, receipt ? " for " : "",
             receipt ? receipt : "", h->n_events);
    return NULL;
}

/* Opens the plugin's form `action` as `staff` with `role` (ext/ui.h) and
 * delivers what the plugin presents; returns the form's id. */
static inline uint64_t tu_form_open(tu_host *h, const char *action, const char *staff,
                                    const char *role, const char *prefill)
{
    const tp_ui_ext *ui = h->plugin->get_extension(h->plugin, TP_EXT_UI);
    assert_non_null(ui);
    tp_staff who = {.struct_size = sizeof who, .id = staff, .role = role};
    tp_message msg;
    uint64_t form = 0;
    if (ui->open(h->plugin, action, &who, prefill, &form, &msg) != TP_OK)
        fail_msg("open %s: %s", action, msg.text);
    tu_settle(h);
    return form;
}

/* Submits the answers `ap` (field id, value, ..., NULL) to `form` and
 * delivers the outcome. */
static inline void tu_form_vsubmit(tu_host *h, uint64_t form, va_list ap)
{
    const tp_ui_ext *ui = h->plugin->get_extension(h->plugin, TP_EXT_UI);
    assert_non_null(ui);
    tp_form_answer a[TP_FORM_ANSWERS_MAX];
    size_t n = 0;
    for (;;) {
        const char *id = va_arg(ap, const char *);
        if (!id || n == TP_FORM_ANSWERS_MAX)
            break;
        a[n].field_id = id;
        a[n].value = va_arg(ap, const char *);
        n++;
    }
    tp_message msg;
    if (ui->submit(h->plugin, form, a, n, sizeof(tp_form_answer), &msg) != TP_OK)
        fail_msg("submit: %s", msg.text);
    tu_settle(h);
}

static inline void tu_form_submit(tu_host *h, uint64_t form, ...)
{
    va_list ap;
    va_start(ap, form);
    tu_form_vsubmit(h, form, ap);
    va_end(ap);
}

static inline void tu_add_member(tu_host *h, const char *code, const char *name)
{
    tp_member_new m = {.struct_size = sizeof m, .code = code, .name = name};
    tp_message msg;
    tp_status st = h->ad->members->member_add(h->plugin, &m, NULL, &msg);
    if (st != TP_OK)
        fail_msg("member_add: %s", msg.text);
}

/* A manager's adjustment of `points` with `reason`, by staff mgr-1; the
 * test fails when the plugin refuses it. */
static inline void tu_adjust(tu_host *h, const char *code, int64_t points, const char *reason)
{
    tp_adjustment a = {.struct_size = sizeof a, .member = code, .points = points,
                       .reason = reason, .staff = "mgr-1"};
    tp_message msg;
    if (h->ad->ledger->adjust(h->plugin, &a, NULL, &msg) != TP_OK)
        fail_msg("adjust: %s", msg.text);
}

static inline int64_t tu_balance(tu_host *h, const char *code)
{
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    assert_int_equal(h->ad->members->member_get(h->plugin, code, &info, &msg), TP_OK);
    return info.balance;
}

/* Runs one sale: begin, optional scan, one line of `amount`, complete. */
static inline tp_status tu_sale(tu_host *h, const char *receipt, const char *code,
                                int64_t amount, tp_message *msg)
{
    tp_status st = h->co->begin(h->plugin, receipt, "staff-1", msg);
    if (st != TP_OK)
        return st;
    if (code && (st = h->co->scan(h->plugin, receipt, code, msg)) != TP_OK)
        return st;
    tp_line line = {.sku = "SKU-1", .amount_minor = amount};
    tp_receipt r = {.struct_size = sizeof r, .receipt_id = receipt, .currency = "EUR",
                    .lines = &line, .line_count = 1, .line_stride = sizeof line};
    return h->co->complete(h->plugin, receipt, &r, NULL, msg);
}

#endif
