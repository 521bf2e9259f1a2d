/*
 * test_crash.c — kill -9 during checkouts loses no acknowledged award and
 * doubles none (docs/DESIGN.md §3, §4, §10 "Faults").
 *
 * The parent creates members, then runs many short child lives. Each child
 * drives the real plugin through tillpoints_entry like a till does (begin,
 * scan, complete as fast as the queue takes them, on_main_thread for the
 * events) and writes one line to a pipe for every AWARD_COMMITTED event it
 * received: that award is "acknowledged" to the host.
 *
 * The kills are paced by what the child reports, never by the clock alone,
 * so a slow or busy machine proves the same thing as a fast idle one. The
 * child says "I" when the plugin is up and "B" once it is inside its first
 * checkout of the life (begin and scan done). The parent draws (seeded; the
 * seed is printed; rerun with TP_CRASH_SEED=<seed>) what each life must
 * reach before it is killed:
 *   - most lives: every replay below answered, then 1 to FRESH_MAX new
 *     receipts of this life acknowledged;
 *   - one life in REPLAY_KILL_ONE_IN (when it has replays): only j of its
 *     replays answered, j from 0 (killed inside its first checkout);
 * then a random 0 to JITTER_MAX_US microseconds more, so the SIGKILL lands
 * anywhere in the checkout that follows. Every life therefore reaches a
 * checkout by construction; one that does not get there within
 * LIFE_TIMEOUT_S seconds (times TP_CRASH_SLOW) fails the test, saying how
 * far it got. Then, with the child dead:
 *   - opens the file with sqlite3 directly: PRAGMA integrity_check is ok,
 *     every receipt ever acknowledged is journaled exactly once and has
 *     exactly one earn entry with the points the event announced;
 *   - opens a fresh plugin instance on it: admin verify() is TP_OK with
 *     0 problems.
 * The next child life first completes again the last few acknowledged
 * receipts (they must come back as replayed AWARD_COMMITTED events with the
 * same points, and add no row) and the next few receipts the killed child
 * may have had in flight (committed or not: afterwards each is present
 * exactly once).
 *
 * TP_CRASH_KILLS (default 200) sets the number of child lives.
 * TP_CRASH_SLOW (default 1, at most 100) multiplies the per-life timeout
 * for slow builds (ThreadSanitizer starts a child ~10x slower); it changes
 * nothing else, since the lives wait for the child's progress anyway. A
 * small queue and batch make many commits per life.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "testutil.h"

#define CRASH_CONFIG "[limits]\nqueue_capacity = 64\nbatch_max = 16\n"
#define N_MEMBERS 8
#define FRESH_MAX 64          /* new acknowledged receipts before a kill, at most */
#define REPLAY_KILL_ONE_IN 4  /* lives killed during their replays */
#define JITTER_MAX_US 1500    /* extra delay after the progress is reached */
#define LIFE_TIMEOUT_S 60     /* per life, times TP_CRASH_SLOW */
#define REPLAY_ACKED 4    /* acknowledged receipts re-completed per life */
#define REPLAY_INFLIGHT 3 /* receipts after the last acknowledged one */

/* ---- deterministic sales: a receipt id says everything about it ---- */

static int64_t sale_amount(int life, int seq)
{
    return 100 + (int64_t)(((unsigned)life * 7919u + (unsigned)seq * 104729u) % 4900u);
}

/* "" for every 7th sale: a checkout without a member is journaled too. */
static void sale_member(int seq, char *out, size_t cap)
{
    if (seq % 7 == 6)
        snprintf(out, cap, "%s", "");
    else
        snprintf(out, cap, "M-%04d", 1 + seq % N_MEMBERS);
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* xorshift64*: reproducible from the printed seed. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* ---- the child: a till that acknowledges what the plugin confirms ---- */

typedef struct child_host {
    tp_host host;
    tp_host_events_ext events_ext;
    atomic_int callbacks;
    int fd; /* pipe to the parent */
} child_host;

static void child_die(const char *why)
{
    char line[600];
    int n = snprintf(line, sizeof line, "X %s\n", why);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        _exit(4);
    _exit(3);
}

/* One line per write(): atomic below PIPE_BUF, so a kill never splits one. */
static void child_say(child_host *c, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n <= 0 || (size_t)n >= sizeof line || write(c->fd, line, (size_t)n) != n)
        child_die("cannot write to the parent");
}

static void child_on_event(const tp_host *host, const tp_event *plugin_event)
{
    const tp_event ev = tp_event_read(plugin_event), *e = &ev;
    child_host *c = host->host_data;
    switch (e->kind) {
    case TP_EVENT_AWARD_COMMITTED:
        child_say(c, "A %s %lld %d %d\n", e->receipt_id, (long long)e->points, e->replayed,
                  (int)e->status);
        break;
    case TP_EVENT_AWARD_FAILED:
        child_say(c, "F %s %d\n", e->receipt_id, (int)e->status);
        break;
    case TP_EVENT_STORAGE_ERROR:
    case TP_EVENT_PLUGIN_DISABLED:
        child_say(c, "E %d\n", (int)e->kind);
        break;
    default:
        break;
    }
}

static const void *child_get_extension(const tp_host *host, const char *id)
{
    child_host *c = host->host_data;
    return strcmp(id, TP_HOST_EXT_EVENTS) == 0 ? &c->events_ext : NULL;
}

static void child_request_callback(const tp_host *host)
{
    child_host *c = host->host_data;
    atomic_fetch_add(&c->callbacks, 1);
}

static void child_pump(child_host *c, const tp_plugin *p, int *seen)
{
    int now = atomic_load(&c->callbacks);
    if (now != *seen) {
        *seen = now;
        p->on_main_thread(p);
    }
}

/* begin, scan, complete; on a full queue cancels, delivers events, waits
 * a millisecond and tries again — a till that keeps selling. */
static void child_sale(child_host *c, const tp_plugin *p, const tp_checkout_ext *co, int life,
                       int seq, int *seen, int *said_begun)
{
    char id[32], member[16];
    snprintf(id, sizeof id, "L%d-%d", life, seq);
    sale_member(seq, member, sizeof member);
    tp_line line = {.sku = "SKU-1", .amount_minor = sale_amount(life, seq)};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = id,
                    .currency = "EUR", .lines = &line, .line_count = 1};
    tp_message msg;
    for (;;) {
        if (co->begin(p, id, "staff-1", &msg) != TP_OK)
            child_die(msg.text);
        if (member[0] && co->scan(p, id, member, &msg) != TP_OK)
            child_die(msg.text);
        if (!*said_begun) {
            /* Inside a checkout: from here on the parent may kill. */
            child_say(c, "B\n");
            *said_begun = 1;
        }
        tp_status st = co->complete(p, id, &r, NULL, &msg);
        if (st == TP_OK)
            break;
        if (st != TP_ERR_BUSY)
            child_die(msg.text);
        if (co->cancel(p, id, &msg) != TP_OK)
            child_die(msg.text);
        child_pump(c, p, seen);
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    child_pump(c, p, seen);
}

typedef struct replay_item {
    int life, seq;
} replay_item;

static void child_main(const char *config, int fd, int life, const replay_item *replays,
                       int n_replays)
{
    child_host c;
    memset(&c, 0, sizeof c);
    c.fd = fd;
    c.events_ext.struct_size = sizeof c.events_ext;
    c.events_ext.on_event = child_on_event;
    c.host.abi = (tp_version)TP_VERSION_INIT;
    c.host.struct_size = sizeof c.host;
    c.host.name = "crash-child";
    c.host.vendor = "tillpoints tests";
    c.host.version = "0";
    c.host.host_data = &c;
    c.host.get_extension = child_get_extension;
    c.host.request_callback = child_request_callback;
    if (!tillpoints_entry.init("test"))
        child_die("entry init failed");
    tp_message msg;
    const tp_plugin *p = tillpoints_entry.create(&c.host, config, &msg);
    if (!p)
        child_die(msg.text);
    if (p->init(p, &msg) != TP_OK)
        child_die(msg.text);
    const tp_checkout_ext *co = p->get_extension(p, TP_EXT_CHECKOUT);
    child_say(&c, "I\n");
    int seen = 0, said_begun = 0;
    for (int i = 0; i < n_replays; i++)
        child_sale(&c, p, co, replays[i].life, replays[i].seq, &seen, &said_begun);
    for (int seq = 0;; seq++)
        child_sale(&c, p, co, life, seq, &seen, &said_begun);
}

/* ---- the parent: the ledger of what was acknowledged ---- */

typedef struct crash_run {
    char dir[256], config[300], db_path[300];
    sqlite3 *acked; /* in memory: acked(receipt, life, seq, points) */
    int life;
    /* The last acknowledged receipts, oldest first, for the next replay. */
    replay_item recent[REPLAY_ACKED];
    int n_recent;
    int max_seq_this_life;
    /* What the child of this life reported so far. */
    int life_up, life_begun, life_replays_answered, life_fresh_acks;
    /* Totals for the report. */
    long acks, replays_checked, inflight_recovered, lives_in_checkout, storage_errors;
    /* Lives killed after their replays and new awards, and the replays of
     * acknowledged receipts those lives had to see answered. */
    long fresh_lives, replays_required;
    int64_t slowest_life_ms;
} crash_run;

static int64_t mem_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* Points and whether `receipt` was acknowledged before: 1 yes, 0 no. */
static int acked_points(crash_run *r, const char *receipt, int64_t *points)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(r->acked, "SELECT points FROM acked WHERE receipt = ?1",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, receipt, -1, SQLITE_STATIC);
    int found = sqlite3_step(q) == SQLITE_ROW;
    if (found)
        *points = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return found;
}

static void remember_ack(crash_run *r, const char *receipt, int64_t points)
{
    int life = -1, seq = -1;
    assert_int_equal(sscanf(receipt, "L%d-%d", &life, &seq), 2);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(r->acked, "INSERT INTO acked VALUES(?1, ?2, ?3, ?4)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, receipt, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, life);
    sqlite3_bind_int(q, 3, seq);
    sqlite3_bind_int64(q, 4, points);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    r->acks++;
    if (r->n_recent == REPLAY_ACKED) {
        memmove(r->recent, r->recent + 1, sizeof r->recent[0] * (REPLAY_ACKED - 1));
        r->n_recent--;
    }
    r->recent[r->n_recent++] = (replay_item){life, seq};
    if (life == r->life && seq > r->max_seq_this_life)
        r->max_seq_this_life = seq;
}

static void handle_line(crash_run *r, char *line)
{
    char receipt[64];
    long long points;
    int replayed, status;
    if (line[0] == 'I') {
        r->life_up = 1;
    } else if (line[0] == 'B') {
        if (!r->life_begun)
            r->lives_in_checkout++;
        r->life_begun = 1;
    } else if (line[0] == 'A' &&
               sscanf(line, "A %63s %lld %d %d", receipt, &points, &replayed, &status) == 4) {
        int life = -1, seq = -1;
        assert_int_equal(sscanf(receipt, "L%d-%d", &life, &seq), 2);
        /* The child completes its replays (earlier lives' receipts) first,
         * then new receipts of its own life. */
        if (life == r->life)
            r->life_fresh_acks++;
        else
            r->life_replays_answered++;
        char member[16];
        sale_member(seq, member, sizeof member);
        /* Every member exists: each award is a full success. */
        if (status != TP_OK)
            fail_msg("life %d: receipt %s committed with status %d", r->life, receipt, status);
        if (member[0] && points <= 0)
            fail_msg("life %d: receipt %s for %s earned %lld points", r->life, receipt, member,
                     points);
        int64_t before = 0;
        if (acked_points(r, receipt, &before)) {
            /* A receipt the host already has: only a replay may answer. */
            if (!replayed || before != points)
                fail_msg("life %d: receipt %s acknowledged before with %lld points came back "
                         "replayed=%d with %lld points", r->life, receipt, (long long)before,
                         replayed, points);
            r->replays_checked++;
        } else {
            if (replayed)
                r->inflight_recovered++; /* committed before the kill, never acknowledged */
            remember_ack(r, receipt, points);
        }
    } else if (line[0] == 'F') {
        fail_msg("life %d: the plugin refused a checkout: %s", r->life, line);
    } else if (line[0] == 'E') {
        r->storage_errors++;
    } else {
        fail_msg("life %d: unexpected line from the child: %s", r->life, line);
    }
}

/* Reads whatever the pipe holds (blocking up to `wait_ms`), handling
 * complete lines. Returns 0 at end of file. */
static int read_pipe(crash_run *r, int fd, char *buf, size_t cap, size_t *len, int wait_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int pr = poll(&pfd, 1, wait_ms);
    if (pr <= 0)
        return 1;
    ssize_t n = read(fd, buf + *len, cap - *len - 1);
    if (n < 0 && errno == EINTR)
        return 1;
    assert_true(n >= 0);
    if (n == 0)
        return 0;
    *len += (size_t)n;
    buf[*len] = '\0';
    char *start = buf, *nl;
    while ((nl = strchr(start, '\n')) != NULL) {
        *nl = '\0';
        handle_line(r, start);
        start = nl + 1;
    }
    *len -= (size_t)(start - buf);
    memmove(buf, start, *len);
    return 1;
}

static void verify_problem(void *user, uint64_t line, const char *sentence)
{
    (void)user;
    (void)line;
    print_error("verify: %s\n", sentence);
}

static const char *const acked_checks[] = {
    /* journaled exactly once */
    "SELECT count(*) FROM acked a WHERE (SELECT count(*) FROM t.receipts x"
    " WHERE x.location = 'store-1' AND x.receipt = a.receipt) <> 1",
    /* exactly one earn entry when points were announced, none otherwise */
    "SELECT count(*) FROM acked a WHERE (SELECT count(*) FROM t.ledger l"
    " WHERE l.location = 'store-1' AND l.receipt = a.receipt AND l.kind = 'earn')"
    " <> (a.points > 0)",
    /* with the points the event announced */
    "SELECT count(*) FROM acked a JOIN t.ledger l ON l.location = 'store-1'"
    " AND l.receipt = a.receipt AND l.kind = 'earn' WHERE l.points <> a.points",
    /* no earn entry at all is doubled, acknowledged or not */
    "SELECT count(*) FROM (SELECT 1 FROM t.ledger GROUP BY location, receipt, kind"
    " HAVING count(*) > 1)",
};

static void check_database(crash_run *r)
{
    char attach[400];
    snprintf(attach, sizeof attach, "ATTACH '%s' AS t", r->db_path);
    assert_int_equal(sqlite3_exec(r->acked, attach, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(r->acked, "PRAGMA t.integrity_check", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    if (strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0)
        fail_msg("after kill %d: integrity_check: %s", r->life, sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    for (size_t i = 0; i < sizeof acked_checks / sizeof acked_checks[0]; i++) {
        int64_t bad = mem_int(r->acked, acked_checks[i]);
        if (bad != 0)
            fail_msg("after kill %d (seed printed above): %lld acknowledged receipts break: %s",
                     r->life, (long long)bad, acked_checks[i]);
    }
    assert_int_equal(sqlite3_exec(r->acked, "DETACH t", NULL, NULL, NULL), SQLITE_OK);

    /* A fresh plugin instance on the same file: opens, and finds nothing
     * wrong. */
    tp_host host = tu_bare_host();
    tp_message msg;
    const tp_plugin *p = tillpoints_entry.create(&host, r->config, &msg);
    assert_non_null(p);
    if (p->init(p, &msg) != TP_OK)
        fail_msg("after kill %d: a fresh instance does not start: %s", r->life, msg.text);
    tp_admin_set ads;
    const tp_admin_set *ad = tu_admin_set(p, &ads);
    tp_verify_result vr = {.struct_size = sizeof vr};
    tp_status st = ad->audit->verify(p, NULL, NULL, verify_problem, NULL, &vr, NULL, &msg);
    if (st != TP_OK || vr.problems != 0)
        fail_msg("after kill %d: verify: %s", r->life, msg.text);
    p->destroy(p);
}

static int64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How far a life must get before it is killed: inside a checkout, with
 * `replays` of its replays answered and `fresh` new receipts acknowledged,
 * then `jitter_us` more. Drawn from the seed, three numbers a life. */
typedef struct life_goal {
    int replays, fresh, jitter_us;
} life_goal;

static int goal_reached(const crash_run *r, const life_goal *g)
{
    return r->life_begun && r->life_replays_answered >= g->replays &&
           r->life_fresh_acks >= g->fresh;
}

static void one_life(crash_run *r, int timeout_ms)
{
    /* What this life completes first: the last acknowledged receipts, and
     * the ones after the previous life's last acknowledged receipt. */
    replay_item replays[REPLAY_ACKED + REPLAY_INFLIGHT];
    int n = 0;
    for (int i = 0; i < r->n_recent; i++)
        replays[n++] = r->recent[i];
    if (r->max_seq_this_life >= 0)
        for (int k = 1; k <= REPLAY_INFLIGHT; k++)
            replays[n++] = (replay_item){r->life, r->max_seq_this_life + k};
    uint64_t d_mode = rng_next(), d_count = rng_next(), d_jitter = rng_next();
    life_goal g = {.replays = n, .fresh = 1 + (int)(d_count % FRESH_MAX),
                   .jitter_us = (int)(d_jitter % (JITTER_MAX_US + 1))};
    if (n > 0 && d_mode % REPLAY_KILL_ONE_IN == 0) {
        g.replays = (int)(d_count % (uint64_t)n); /* 0: inside the first replay */
        g.fresh = 0;
    } else {
        r->fresh_lives++;
        r->replays_required += r->n_recent; /* acknowledged before: must replay */
    }
    r->life++;
    r->max_seq_this_life = -1;
    r->life_up = r->life_begun = r->life_replays_answered = r->life_fresh_acks = 0;

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    int64_t t0 = mono_now_ms();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_main(r->config, fds[1], r->life, replays, n);
        _exit(5);
    }
    close(fds[1]);
    static char buf[1 << 16];
    size_t len = 0;
    /* Wait for the child's progress, not for the clock: the deadline only
     * bounds a child that is stuck. */
    int64_t deadline = t0 + timeout_ms;
    int open = 1;
    while (open && !goal_reached(r, &g)) {
        int64_t left = deadline - mono_now_ms();
        if (left <= 0)
            break;
        open = read_pipe(r, fds[0], buf, sizeof buf, &len, left > 1000 ? 1000 : (int)left);
    }
    int reached = goal_reached(r, &g);
    if (reached && g.jitter_us > 0) {
        struct timespec ts = {0, (long)g.jitter_us * 1000L};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    int wstatus;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    int64_t took = mono_now_ms() - t0;
    if (took > r->slowest_life_ms)
        r->slowest_life_ms = took;
    while (read_pipe(r, fds[0], buf, sizeof buf, &len, 1000))
        ;
    close(fds[0]);
    if (!WIFSIGNALED(wstatus) || WTERMSIG(wstatus) != SIGKILL)
        fail_msg("life %d: the child ended by itself (status 0x%x) before the kill", r->life,
                 wstatus);
    if (!reached)
        fail_msg("life %d: killed after %d ms without reaching its goal (a stuck child, or "
                 "TP_CRASH_SLOW too small for this build): plugin up %s, inside a checkout %s, "
                 "%d of %d replays answered, %d of %d new awards acknowledged",
                 r->life, timeout_ms, r->life_up ? "yes" : "no", r->life_begun ? "yes" : "no",
                 r->life_replays_answered, g.replays, r->life_fresh_acks, g.fresh);
    assert_int_equal(len, 0); /* no torn line */
    check_database(r);
}

static void kill_9_during_checkouts_loses_no_acknowledged_award_and_doubles_none(void **state)
{
    (void)state;
    /* TP_CRASH_SLOW stretches the per-life timeout for slow builds
     * (ThreadSanitizer starts a child ~10x slower). */
    const char *sl = getenv("TP_CRASH_SLOW");
    int slow = sl ? (int)strtol(sl, NULL, 10) : 1;
    if (slow < 1 || slow > 100)
        slow = 1;
    const char *k = getenv("TP_CRASH_KILLS");
    int kills = k && atoi(k) > 0 ? atoi(k) : 200;
    const char *s = getenv("TP_CRASH_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)tp_now_ms_for_tests();
    if (seed == 0)
        seed = 1;
    rng_state = seed;
    int timeout_ms = LIFE_TIMEOUT_S * 1000 * slow;
    print_message("test_crash: seed %llu (TP_CRASH_SEED=%llu reproduces), %d kills, each after "
                  "the child reports a checkout; %d s per life at most\n",
                  (unsigned long long)seed, (unsigned long long)seed, kills, timeout_ms / 1000);

    crash_run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->max_seq_this_life = -1;
    /* Members first, through the admin extension, with no child alive. */
    tu_host *h = tu_start(CRASH_CONFIG);
    for (int i = 1; i <= N_MEMBERS; i++) {
        char code[16];
        snprintf(code, sizeof code, "M-%04d", i);
        tu_add_member(h, code, "Crash Member");
    }
    snprintf(r->dir, sizeof r->dir, "%s", h->dir);
    snprintf(r->config, sizeof r->config, "%s", h->config);
    snprintf(r->db_path, sizeof r->db_path, "%s/test.db", h->dir);
    tu_stop(h, 0);

    assert_int_equal(sqlite3_open(":memory:", &r->acked), SQLITE_OK);
    assert_int_equal(sqlite3_exec(r->acked,
                                  "CREATE TABLE acked(receipt TEXT PRIMARY KEY, life INTEGER,"
                                  " seq INTEGER, points INTEGER)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    int64_t t0 = mono_now_ms();
    for (int i = 0; i < kills; i++)
        one_life(r, timeout_ms);
    int64_t t1 = mono_now_ms();

    int64_t journaled;
    {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(r->db_path, &db), SQLITE_OK);
        journaled = mem_int(db, "SELECT count(*) FROM receipts");
        sqlite3_close(db);
    }
    print_message("test_crash: %d kills in %.1f s (slowest life %.2f s); %ld lives reached "
                  "checkout; %ld awards acknowledged, %lld receipts journaled; %ld replays of "
                  "acknowledged awards checked (%ld required); %ld in-flight awards found "
                  "committed after the kill; %ld lives killed during their replays; "
                  "%ld storage errors\n",
                  kills, (double)(t1 - t0) / 1000.0, (double)r->slowest_life_ms / 1000.0,
                  r->lives_in_checkout, r->acks, (long long)journaled, r->replays_checked,
                  r->replays_required, r->inflight_recovered, kills - r->fresh_lives,
                  r->storage_errors);
    /* The run proves something only if kills landed during checkouts and
     * replays really happened. Each life waited for its goal, so these hold
     * by construction whatever the machine's speed. */
    assert_int_equal(r->lives_in_checkout, kills);
    assert_true(r->fresh_lives > 0);
    assert_true(r->acks >= r->fresh_lives);
    assert_true(r->replays_checked >= r->replays_required);
    assert_true(r->fresh_lives < 2 || r->replays_required > 0);
    assert_int_equal(r->storage_errors, 0);
    sqlite3_close(r->acked);
    tu_rmdir(r->dir);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_9_during_checkouts_loses_no_acknowledged_award_and_doubles_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
