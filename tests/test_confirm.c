/*
 * test_confirm.c — the confirmation thread (plugin/confirm.c) and the
 * central schema v3 behind it (holds, tp_hold, overdrafts) against a REAL
 * PostgreSQL 15 (tests/pg_fixture.sh) and real SQLite files: plugin
 * instances in this process are terminals sharing members.
 *
 * A reservation is written into the terminal's `reservations` table and
 * handed to tp_confirm_hold, as checkout's writer does; a committed
 * redemption is its receipt, redeem entry and redemptions row written in
 * one SQLite transaction, as the writer commits them. Every wait is for an
 * event the terminal posts or a row the central database or the terminal
 * holds; the bound only stops a stuck run.
 *
 * Skipped (not failed) when not root or PostgreSQL 15 is not installed.
 */
#include "testutil.h"
#include "central.h"
#include "confirm.h"
#include "instance.h"
#include "overdrafts.h"
#include "tillpoints/ext/redeem.h"

#include <errno.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#define WAIT_MS 120000
#define DAY_MS 86400000LL

static struct {
    char pgdir[128];
    char conninfo[256];
    char secdir[64];
    char secrets[128];
    PGconn *pg;
} W;

static int64_t q_int(const char *sql)
{
    return tc_query_int(&W.pg, W.conninfo, sql);
}

static int group_setup(void **state)
{
    (void)state;
    int up = tc_server_up("test_confirm", W.pgdir, sizeof W.pgdir, W.conninfo, sizeof W.conninfo);
    if (up <= 0)
        return up;
    tu_mkdtemp(W.secdir, sizeof W.secdir);
    snprintf(W.secrets, sizeof W.secrets, "%s/secrets.conf", W.secdir);
    tu_write_file(W.secrets, "[sync]\npassword = secret\n");
    return chmod(W.secrets, 0600);
}

static int group_teardown(void **state)
{
    (void)state;
    tc_server_down(&W.pg, W.pgdir, W.secdir);
    return 0;
}

#define SKIP_WITHOUT_PG() TC_SKIP_WITHOUT_SERVER(W.pgdir)

static tu_host *terminal(const char *location, const char *id, int64_t allowance)
{
    char ini[1024];
    snprintf(ini, sizeof ini,
             "location = %s\nterminal = %s\nsecrets = %s\n"
             "[sync]\npostgres = host=%s dbname=tp user=tillpoints\nbatch = 50\n"
             "push_interval_ms = 50\npull_interval_ms = 200\nbackoff_min_ms = 50\n"
             "backoff_max_ms = 400\nconnect_timeout_s = 2\nstatement_timeout_ms = 1500\n"
             "[redeem]\nconfirm_timeout_ms = 3000\noffline_allowance = %lld\n"
             "pay_with_points = yes\npoints_per_unit = 100\nunit = 1.00\n",
             location, id, W.secrets, W.pgdir, (long long)allowance);
    return tu_start(ini);
}

static void adjust(tu_host *h, const char *code, int64_t points)
{
    tu_adjust(h, code, points, "goodwill");
}

static void drained(tu_host *h);

/* Two tills of `location` with `allowance`, and member `code` with
 * `points` at the first, delivered and known at the second. */
static void two_tills(const char *location, const char *t1, const char *t2, int64_t allowance,
                      const char *code, const char *name, int64_t points, tu_host **a,
                      tu_host **b)
{
    *a = terminal(location, t1, allowance);
    *b = terminal(location, t2, allowance);
    tu_add_member(*a, code, name);
    adjust(*a, code, points);
    drained(*a);
    tc_wait_member(*b, code, WAIT_MS);
}

static void drained(tu_host *h)
{
    tu_host *one[1] = {h};
    tc_wait_drained(one, 1, WAIT_MS, NULL);
}

/* Runs `sql` (statements, with %-free text) on terminal h's database. */
static void local_exec(tu_host *h, const char *sql)
{
    char path[400];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("local %s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

static int64_t local_int(tu_host *h, const char *sql)
{
    char path[400];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    return tu_count_sql(path, sql);
}

/* A reservation of `points` for member `code` as checkout's redeem writes
 * it (source '' = waiting), handed to the confirmation thread. */
static void reserve(tu_host *h, const char *txn, uint32_t no, const char *code,
                    int64_t points, int64_t pending)
{
    tp_instance *in = tp_instance_of(h->plugin);
    char sql[600];
    snprintf(sql, sizeof sql,
             "INSERT INTO reservations(location, terminal, txn, no, member_id, points, source,"
             " created_ms) SELECT '%s', '%s', '%s', %u, id, %lld, '', 0 FROM members"
             " WHERE code = '%s'", in->cfg.location, in->cfg.terminal, txn, no,
             (long long)points, code);
    local_exec(h, sql);
    assert_int_equal(tp_confirm_hold(in->confirm, txn, no, code, points, pending), 0);
}

static const char *source_of(tu_host *h, const char *txn, uint32_t no, char *out, size_t cap)
{
    char path[400], sql[200];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    snprintf(sql, sizeof sql, "SELECT source FROM reservations WHERE txn = '%s' AND no = %u",
             txn, no);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    snprintf(out, cap, "%s", sqlite3_step(q) == SQLITE_ROW
                                 ? (const char *)sqlite3_column_text(q, 0) : "(gone)");
    sqlite3_finalize(q);
    sqlite3_close(db);
    return out;
}

/* The REDEEM_* answer for txn, delivered on this thread. */
static tu_event answer_for(tu_host *h, const char *txn)
{
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    for (;;) {
        h->plugin->on_main_thread(h->plugin);
        for (int i = 0; i < h->n_events; i++)
            if ((h->ev[i].kind == TP_EVENT_REDEEM_CONFIRMED ||
                 h->ev[i].kind == TP_EVENT_REDEEM_REFUSED) &&
                strcmp(h->ev[i].txn, txn) == 0) {
                tu_event e = h->ev[i]; /* taken out; the rest stay for later */
                memmove(&h->ev[i], &h->ev[i + 1], (size_t)(h->n_events - i - 1) * sizeof e);
                h->n_events--;
                return e;
            }
        if (h->n_events > TU_MAX_EVENTS / 2)
            h->n_events = 0;
        if (tp_now_ms_for_tests() > end)
            fail_msg("no answer for %s", txn);
        tc_sleep_ms(10);
    }
}

/* Until the central query `sql` yields `want`. */
static void central_becomes(const char *sql, int64_t want)
{
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    int64_t v;
    while ((v = q_int(sql)) != want) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("%s stays %lld, not %lld", sql, (long long)v, (long long)want);
        tc_sleep_ms(20);
    }
}

/* The redemption of txn committed at terminal h, as checkout's writer
 * commits it: receipt, redeem entry (which reaches the outbox with its
 * txn), redemptions row (offline_points when confirmed offline), and the
 * reservation gone. */
static void commit_redemption(tu_host *h, const char *txn, const char *receipt,
                              const char *code, int64_t points, int offline)
{
    tp_instance *in = tp_instance_of(h->plugin);
    int64_t now = tp_now_ms_for_tests();
    char sql[2400];
    snprintf(sql, sizeof sql,
             "BEGIN;"
             "INSERT INTO receipts(location, terminal, receipt, txn, time_ms, currency,"
             " total_minor, eligible_minor, line_count, member_id, journaled_ms)"
             " SELECT '%s', '%s', '%s', '%s', %lld, 'EUR', 1000, 1000, 1, id, %lld FROM members"
             " WHERE code = '%s';"
             "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, time_ms,"
             " recorded_ms) SELECT id, '%s', '%s', '%s', 'redeem', %lld, %lld, %lld FROM members"
             " WHERE code = '%s';"
             "INSERT INTO redemptions(ledger_id, receipt_id, discount_minor, source,"
             " offline_points, day) SELECT l.id, r.id, 100, '%s', %lld, %lld FROM ledger l,"
             " receipts r WHERE l.receipt = '%s' AND l.kind = 'redeem' AND r.receipt = '%s';"
             "DELETE FROM reservations WHERE txn = '%s';"
             "COMMIT;",
             in->cfg.location, in->cfg.terminal, receipt, txn, (long long)now, (long long)now,
             code, in->cfg.location, in->cfg.terminal, receipt, (long long)-points,
             (long long)now, (long long)now, code, offline ? "offline" : "central",
             (long long)(offline ? points : 0), (long long)(now / DAY_MS), receipt, receipt,
             txn);
    local_exec(h, sql);
}

/* The central schema at version 2 (before holds) is taken to 3 by central
 * init, and runs then. */
static void central_init_migrates_2_to_3(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *h = terminal("store-A", "till-1", 1000);
    tp_message msg;
    int from = -1, to = -1;
    assert_int_equal(h->ad->queue->central_init(h->plugin, &from, &to, &msg), TP_OK);
    assert_int_equal(to, 3);
    q_int("BEGIN; DROP TRIGGER balances_overdraft ON balances; DROP FUNCTION tp_overdraft();"
          " DROP TABLE overdrafts; DROP TRIGGER events_redeem_drops_hold ON events;"
          " DROP FUNCTION tp_hold_spent(); DROP FUNCTION tp_hold(text, text, text, integer,"
          " text, bigint, bigint, bigint); DROP TABLE holds;"
          " DELETE FROM schema_version WHERE version = 3; COMMIT");
    assert_int_equal(h->ad->queue->central_init(h->plugin, &from, &to, &msg), TP_OK);
    assert_int_equal(from, 2);
    assert_int_equal(to, 3);
    assert_string_equal(msg.text, "The central schema went from version 2 to 3.");
    assert_int_equal(q_int("SELECT count(*) FROM holds"), 0);
    assert_int_equal(q_int("SELECT count(*) FROM overdrafts"), 0);
    tu_stop(h, 1);
}

/* Two tills, one member with 1000 points: the first holds 600; the second
 * asking 500 is refused while that hold lives (1000 - 600 = 400 left);
 * released, the 500 are confirmed. A pending entry of the asking terminal
 * counts: -100 pending leaves 900 - 500 = 400 for a 450 that is refused. */
static void a_hold_blocks_the_same_points_at_another_till_until_released(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *a, *b;
    two_tills("store-A", "till-1", "till-2", 1000, "M-H001", "Hana", 1000, &a, &b);
    assert_int_equal(q_int("SELECT balance FROM balances WHERE member = 'M-H001'"), 1000);
    char src[16];

    reserve(a, "A-1", 1, "M-H001", 600, 0);
    tu_event e = answer_for(a, "A-1");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_int_equal(e.status, TP_OK);
    assert_int_equal(e.points, 600);
    assert_string_equal(e.member_code, "M-H001");
    assert_string_equal(e.message, "600 points confirmed by the central ledger.");
    assert_string_equal(source_of(a, "A-1", 1, src, sizeof src), "central");
    assert_int_equal(q_int("SELECT points FROM holds WHERE terminal = 'till-1' AND txn = 'A-1'"),
                     600);

    reserve(b, "B-1", 1, "M-H001", 500, 0);
    e = answer_for(b, "B-1");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_REFUSED);
    assert_int_equal(e.status, TP_ERR_STATE);
    assert_string_equal(e.message, "The central ledger shows 400 points available for M-H001 "
                                   "(other tills hold or spent the rest); remove the 500-point "
                                   "redemption.");
    assert_string_equal(source_of(b, "B-1", 1, src, sizeof src), "");
    assert_int_equal(q_int("SELECT count(*) FROM holds WHERE terminal = 'till-2'"), 0);

    /* The first till's sale is cancelled: its hold goes. */
    local_exec(a, "DELETE FROM reservations WHERE txn = 'A-1'");
    tp_confirm_release(tp_instance_of(a->plugin)->confirm, "A-1", 0, 0);
    central_becomes("SELECT count(*) FROM holds WHERE terminal = 'till-1'", 0);

    local_exec(b, "DELETE FROM reservations WHERE txn = 'B-1'");
    reserve(b, "B-2", 1, "M-H001", 500, 0);
    e = answer_for(b, "B-2");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_string_equal(source_of(b, "B-2", 1, src, sizeof src), "central");

    /* 1000 - 500 held by B-2 - 100 pending at till-1 = 400 < 450. */
    reserve(a, "A-2", 1, "M-H001", 450, -100);
    e = answer_for(a, "A-2");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_REFUSED);
    assert_non_null(strstr(e.message, "shows 400 points available"));

    tu_stop(a, 1);
    tu_stop(b, 1);
}

/* A committed redemption keeps its hold (release with committed = 1) until
 * its redeem entry reaches the central ledger, which drops it; the points
 * are then in the balance. */
static void the_redeem_entry_arriving_drops_the_hold(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *a = terminal("store-R", "till-r1", 1000);
    tu_add_member(a, "M-R001", "Rui");
    adjust(a, "M-R001", 800);
    drained(a);
    tp_confirm *c = tp_instance_of(a->plugin)->confirm;

    reserve(a, "R-1", 1, "M-R001", 300, 0);
    assert_int_equal(answer_for(a, "R-1").kind, TP_EVENT_REDEEM_CONFIRMED);
    /* Paused: the sync thread cannot deliver until the lock is released. */
    PGconn *lock = PQconnectdb(W.conninfo);
    PGresult *r = PQexec(lock, "BEGIN; SELECT pg_advisory_xact_lock(7321000701)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    commit_redemption(a, "R-1", "R-REC-1", "M-R001", 300, 0);
    tp_confirm_release(c, "R-1", 0, 1);
    /* A later job answered means the release before it was handled. */
    reserve(a, "R-2", 1, "M-R001", 100, -300);
    assert_int_equal(answer_for(a, "R-2").kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_int_equal(q_int("SELECT count(*) FROM holds WHERE txn = 'R-1'"), 1);

    r = PQexec(lock, "COMMIT");
    PQclear(r);
    PQfinish(lock);
    tu_host *one[1] = {a};
    tc_wait_drained(one, 1, WAIT_MS, NULL);
    central_becomes("SELECT count(*) FROM holds WHERE txn = 'R-1'", 0);
    assert_int_equal(q_int("SELECT balance FROM balances WHERE member = 'M-R001'"), 500);
    assert_int_equal(q_int("SELECT count(*) FROM holds WHERE txn = 'R-2'"), 1);
    tu_stop(a, 1);
}

/* A till restarted (or killed) between redeem and complete leaves no hold:
 * its next start deletes every hold of its location and terminal, and
 * only those. */
static void a_restart_drops_the_terminals_holds(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *a, *b;
    two_tills("store-S", "till-s1", "till-s2", 1000, "M-S001", "Sam", 1000, &a, &b);
    reserve(a, "S-1", 1, "M-S001", 200, 0);
    reserve(a, "S-1", 2, "M-S001", 300, 0);
    assert_int_equal(answer_for(a, "S-1").kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_int_equal(answer_for(a, "S-1").kind, TP_EVENT_REDEEM_CONFIRMED);
    reserve(b, "S-9", 1, "M-S001", 100, 0);
    assert_int_equal(answer_for(b, "S-9").kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_int_equal(q_int("SELECT count(*) FROM holds WHERE terminal = 'till-s1'"), 2);

    tu_restart(a);
    central_becomes("SELECT count(*) FROM holds WHERE terminal = 'till-s1'", 0);
    assert_int_equal(q_int("SELECT count(*) FROM holds WHERE terminal = 'till-s2'"), 1);
    tu_stop(a, 1);
    tu_stop(b, 1);
}

/* The central database stopped: a redemption is confirmed offline while
 * the member's offline spending today at this till (committed offline
 * redemptions and offline reservations) stays within the allowance, and
 * refused beyond it; an allowance of 0 refuses every one. Answers come at
 * once, not after a connect timeout each. */
static void offline_redemptions_are_bounded_by_the_allowance(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *a = terminal("store-O", "till-o1", 1000);
    tu_host *z = terminal("store-O", "till-o0", 0);
    tu_add_member(a, "M-O001", "Olga");
    adjust(a, "M-O001", 5000);
    drained(a);
    tc_wait_member(z, "M-O001", WAIT_MS);
    assert_int_equal(tc_fixture("stop", W.pgdir), 0);
    PQfinish(W.pg);
    W.pg = NULL;

    char src[16];
    reserve(a, "O-1", 1, "M-O001", 300, 0);
    tu_event e = answer_for(a, "O-1");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_string_equal(source_of(a, "O-1", 1, src, sizeof src), "offline");
    assert_non_null(strstr(e.message, "300 points confirmed offline"));
    commit_redemption(a, "O-1", "O-REC-1", "M-O001", 300, 1); /* 300 committed today */

    reserve(a, "O-2", 1, "M-O001", 200, 0); /* + 200 reserved = 500 */
    assert_int_equal(answer_for(a, "O-2").kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_string_equal(source_of(a, "O-2", 1, src, sizeof src), "offline");
    assert_int_equal(local_int(a, "SELECT COALESCE(SUM(offline_points), 0) FROM redemptions"),
                     300);

    tu_clock t0 = tu_clock_now();
    reserve(a, "O-3", 1, "M-O001", 400, 0); /* 900: still within 1000 */
    assert_int_equal(answer_for(a, "O-3").kind, TP_EVENT_REDEEM_CONFIRMED);
    reserve(a, "O-4", 1, "M-O001", 200, 0); /* 1100: beyond */
    e = answer_for(a, "O-4");
    tu_clock t1 = tu_clock_now();
    assert_int_equal(e.kind, TP_EVENT_REDEEM_REFUSED);
    assert_int_equal(e.status, TP_ERR_UNREACHABLE);
    assert_string_equal(e.message, "The central database does not answer and M-O001 has "
                                   "already spent 900 of the 1000 points allowed offline "
                                   "today at this till; remove the 200-point redemption.");
    assert_string_equal(source_of(a, "O-4", 1, src, sizeof src), "");
    /* Two answers within one confirmation deadline: no wait per job. */
    assert_true(tu_wall_ms(&t0, &t1) < 3000);

    reserve(z, "Z-1", 1, "M-O001", 10, 0);
    e = answer_for(z, "Z-1");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_REFUSED);
    assert_int_equal(e.status, TP_ERR_UNREACHABLE);
    assert_string_equal(e.message, "Spending points needs the central database, which does "
                                   "not answer; remove the 10-point redemption and try again "
                                   "later.");

    tu_stop(a, 1);
    tu_stop(z, 1);
    assert_int_equal(tc_fixture("restart", W.pgdir), 0);
}

/* OVERDRAFT events the two tills of the overspend test received. */
static tu_host *od_host[2];
static int od_seen[2];
static int64_t od_points;

static void pump_overdrafts(tu_host *h)
{
    h->plugin->on_main_thread(h->plugin);
    for (int i = 0; i < h->n_events; i++)
        if (h->ev[i].kind == TP_EVENT_OVERDRAFT) {
            assert_string_equal(h->ev[i].member_code, "M-V001");
            assert_non_null(strstr(h->ev[i].message, "took M-V001 to -600 points"));
            od_seen[h == od_host[1]]++;
            od_points = h->ev[i].points;
        }
    h->n_events = 0;
}

/* Two tills spend the same member's points offline, each within its
 * allowance; back online, both deliver, the central balance goes below
 * zero by no more than what the allowances let them spend beyond it, and
 * the overdraft is reported: a central row, pulled by every terminal,
 * one OVERDRAFT event each, listed by tp_overdrafts_list. */
static void an_offline_overspend_is_reported_and_bounded(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    const int64_t allowance = 800;
    tu_host *a, *b;
    two_tills("store-V", "till-v1", "till-v2", allowance, "M-V001", "Vera", 1000, &a, &b);
    assert_int_equal(tc_fixture("stop", W.pgdir), 0);
    PQfinish(W.pg);
    W.pg = NULL;

    reserve(a, "V-1", 1, "M-V001", 800, 0);
    reserve(b, "V-2", 1, "M-V001", 800, 0);
    assert_int_equal(answer_for(a, "V-1").kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_int_equal(answer_for(b, "V-2").kind, TP_EVENT_REDEEM_CONFIRMED);
    commit_redemption(a, "V-1", "V-REC-1", "M-V001", 800, 1);
    commit_redemption(b, "V-2", "V-REC-2", "M-V001", 800, 1);

    assert_int_equal(tc_fixture("restart", W.pgdir), 0);
    tu_host *both[2] = {a, b};
    od_host[0] = a;
    od_host[1] = b;
    tc_wait_drained(both, 2, WAIT_MS, pump_overdrafts);
    int64_t balance = q_int("SELECT balance FROM balances WHERE member = 'M-V001'");
    assert_int_equal(balance, 1000 - 1600);
    assert_true(-balance <= 2 * allowance);
    /* The push that took it below zero recorded it, naming its receipt. */
    assert_int_equal(q_int("SELECT count(*) FROM overdrafts WHERE member = 'M-V001'"), 1);
    assert_int_equal(q_int("SELECT balance FROM overdrafts WHERE member = 'M-V001'"), -600);
    assert_int_equal(q_int("SELECT count(*) FROM overdrafts WHERE member = 'M-V001'"
                           " AND receipt IN ('V-REC-1', 'V-REC-2')"),
                     1);

    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    while (od_seen[0] == 0 || od_seen[1] == 0) {
        pump_overdrafts(a);
        pump_overdrafts(b);
        if (tp_now_ms_for_tests() > end)
            fail_msg("overdraft events: %d at till-v1, %d at till-v2 (pulled: %lld, %lld)",
                     od_seen[0], od_seen[1],
                     (long long)local_int(a, "SELECT count(*) FROM overdrafts"),
                     (long long)local_int(b, "SELECT count(*) FROM overdrafts"));
        tc_sleep_ms(20);
    }
    /* One each: a report is announced once, not at every pull. */
    tu_settle(a);
    tu_settle(b);
    pump_overdrafts(a);
    pump_overdrafts(b);
    assert_int_equal(od_seen[0], 1);
    assert_int_equal(od_seen[1], 1);
    assert_int_equal(od_points, -600);
    assert_int_equal(local_int(a, "SELECT count(*) FROM overdrafts WHERE member = 'M-V001'"), 1);

    tp_overdraft rows[4];
    size_t n = 0;
    tp_message msg;
    assert_int_equal(tp_overdrafts_list(b->plugin, rows, 4, sizeof rows[0], &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].struct_size, sizeof rows[0]);
    assert_string_equal(rows[0].member_code, "M-V001");
    assert_int_equal(rows[0].balance, -600);
    assert_string_equal(rows[0].location, "store-V");
    assert_true(rows[0].id > 0 && rows[0].detected_ms > 0);
    /* A stride smaller than the struct is refused with a sentence. */
    assert_int_equal(tp_overdrafts_list(b->plugin, rows, 4, 8, &n, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    tu_stop(a, 1);
    tu_stop(b, 1);
}

/* OVERDRAFT events for M-W001 at the two tills of the checkout test. */
static tu_host *w_host[2];
static int w_seen[2];

static void pump_w(tu_host *h)
{
    h->plugin->on_main_thread(h->plugin);
    for (int i = 0; i < h->n_events; i++)
        if (h->ev[i].kind == TP_EVENT_OVERDRAFT && strcmp(h->ev[i].member_code, "M-W001") == 0)
            w_seen[h == w_host[1]] = 1;
    h->n_events = 0;
}

/* The shown balance of `code` at terminal h (the one balance, §8). */
static int64_t shown(tu_host *h, const char *code)
{
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    assert_int_equal(h->ad->members->member_get(h->plugin, code, &info, &msg), TP_OK);
    return info.shown_balance;
}

/* Begins sale `txn` at h for `code`, waits for the member, and pays
 * `points` of a 10.00 basket with points through checkout's redeem. */
static void sale_paying(tu_host *h, const char *txn, const char *code, int64_t points)
{
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, txn, "cas-1", &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, txn, code, &msg), TP_OK);
    tu_settle(h);
    tp_line line = {.sku = "SKU-1", .amount_minor = 1000};
    tp_redeem_request rq = {.struct_size = sizeof rq, .points = points, .lines = &line,
                            .line_count = 1, .line_stride = sizeof line};
    tp_redemption r = {.struct_size = sizeof r};
    if (h->co->redeem(h->plugin, txn, &rq, &r, &msg) != TP_OK)
        fail_msg("redeem on %s: %s", txn, msg.text);
    assert_int_equal(r.points, points);
}

static tp_status complete_10(tu_host *h, const char *txn, tp_message *msg)
{
    tp_line line = {.sku = "SKU-1", .amount_minor = 1000};
    tp_receipt rc = {.struct_size = sizeof rc, .receipt_id = txn, .currency = "EUR",
                     .lines = &line, .line_count = 1, .line_stride = sizeof line};
    return h->co->complete(h->plugin, txn, &rc, NULL, msg);
}

/* The whole rule through checkout, as tills use it. Central up: till 1
 * spends 600 of 1000 (confirmed centrally); till 2 asks 500 of the same
 * points and is refused with the 400 left, and cannot complete until it
 * takes the line off. Till 1's sale earns 4 on the 4.00 paid: 404. Then
 * the central database goes down and both tills spend 400 each, within
 * their allowance of 500 (confirmed offline), each sale earning 6; back
 * up, the central balance is 404 - 800 + 12 = -384, never below
 * -(2 tills x 500), and the overdraft is reported to both tills. */
static void two_tills_spend_through_checkout_central_then_offline(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *a, *b;
    two_tills("store-W", "till-w1", "till-w2", 500, "M-W001", "Wim", 1000, &a, &b);
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    while (shown(b, "M-W001") != 1000) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("till 2 shows %lld, not the central 1000", (long long)shown(b, "M-W001"));
        tc_sleep_ms(20);
    }

    sale_paying(a, "W-1", "M-W001", 600);
    tu_event e = answer_for(a, "W-1");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_string_equal(e.redeem_source, "central");
    sale_paying(b, "W-2", "M-W001", 500);
    e = answer_for(b, "W-2");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_REFUSED);
    assert_non_null(strstr(e.message, "400 points available"));
    tp_message msg;
    assert_int_equal(complete_10(b, "W-2", &msg), TP_ERR_STATE);
    assert_int_equal(b->co->unredeem(b->plugin, "W-2", 1, &msg), TP_OK);
    assert_int_equal(b->co->cancel(b->plugin, "W-2", &msg), TP_OK);
    assert_int_equal(complete_10(a, "W-1", &msg), TP_OK);
    tu_settle(a);
    drained(a);
    central_becomes("SELECT balance FROM balances WHERE member = 'M-W001'", 404);
    central_becomes("SELECT count(*) FROM holds WHERE member = 'M-W001'", 0);
    end = tp_now_ms_for_tests() + WAIT_MS;
    while (shown(b, "M-W001") != 404) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("till 2 shows %lld, not 404", (long long)shown(b, "M-W001"));
        tc_sleep_ms(20);
    }

    assert_int_equal(tc_fixture("stop", W.pgdir), 0);
    PQfinish(W.pg);
    W.pg = NULL;
    sale_paying(a, "W-3", "M-W001", 400);
    sale_paying(b, "W-4", "M-W001", 400);
    e = answer_for(a, "W-3");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_string_equal(e.redeem_source, "offline");
    e = answer_for(b, "W-4");
    assert_int_equal(e.kind, TP_EVENT_REDEEM_CONFIRMED);
    assert_string_equal(e.redeem_source, "offline");
    assert_int_equal(complete_10(a, "W-3", &msg), TP_OK);
    assert_int_equal(complete_10(b, "W-4", &msg), TP_OK);
    tu_settle(a);
    tu_settle(b);
    assert_int_equal(local_int(a, "SELECT SUM(offline_points) FROM redemptions"), 400);

    assert_int_equal(tc_fixture("restart", W.pgdir), 0);
    tu_host *both[2] = {a, b};
    w_host[0] = a;
    w_host[1] = b;
    tc_wait_drained(both, 2, WAIT_MS, pump_w);
    int64_t balance = q_int("SELECT balance FROM balances WHERE member = 'M-W001'");
    assert_int_equal(balance, -384);
    assert_true(-balance <= 2 * 500);
    assert_true(q_int("SELECT count(*) FROM overdrafts WHERE member = 'M-W001'") >= 1);
    end = tp_now_ms_for_tests() + WAIT_MS;
    while (!w_seen[0] || !w_seen[1]) {
        pump_w(a);
        pump_w(b);
        if (tp_now_ms_for_tests() > end)
            fail_msg("overdraft events: till 1 %d, till 2 %d", w_seen[0], w_seen[1]);
        tc_sleep_ms(20);
    }
    tu_stop(a, 1);
    tu_stop(b, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(central_init_migrates_2_to_3),
        cmocka_unit_test(a_hold_blocks_the_same_points_at_another_till_until_released),
        cmocka_unit_test(the_redeem_entry_arriving_drops_the_hold),
        cmocka_unit_test(a_restart_drops_the_terminals_holds),
        cmocka_unit_test(offline_redemptions_are_bounded_by_the_allowance),
        cmocka_unit_test(an_offline_overspend_is_reported_and_bounded),
        cmocka_unit_test(two_tills_spend_through_checkout_central_then_offline),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
