/*
 * test_sync.c — the outbox and the sync thread against a REAL PostgreSQL
 * 15 (tests/pg_fixture.sh: initdb into a temporary directory as the
 * postgres user, a Unix socket only, stopped on exit also on failure).
 * No mocks of the database.
 *
 * Three plugin instances in this process are three terminals (three SQLite
 * files, two locations) checking out for shared members while the server
 * is stopped, started, killed with -9 and restarted. At the end the central
 * ledger holds every award exactly once, every terminal shows the central
 * balances, and a receipt replayed on another terminal of the same location
 * is refused (parked and reported, counted as refused on that terminal).
 * Then: wrong credentials, a schema version mismatch, and a server that
 * stalls (the push lock held elsewhere) — reported, retried, nothing lost
 * or doubled; a reason longer than the status holds is shown cut. And the audit chain's anchor: the central database holds
 * each terminal's head, refuses a record that does not continue it (a
 * history rewritten with every hash recomputed), and verify names records
 * deleted or altered on the terminal by comparing with that head.
 *
 * Skipped (not failed) when not root or PostgreSQL 15 is not installed.
 */
#include "testutil.h"
#include "central.h"
#include "audit_forge.h"
#include "tillpoints/ext/audit.h"
#include "tillpoints/ext/sync.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <libpq-fe.h>
#include <sqlite3.h>

/* Every wait is for a state the plugin or the server reports; the bound
 * only stops a run that is stuck, so it is generous (a busy machine, a
 * sanitizer build). */
#define WAIT_MS 120000

typedef struct world {
    char pgdir[128];
    char conninfo[256]; /* the test's own, with the password */
    char public_conninfo[256]; /* the terminals': no password in the config */
    char secdir[64];
    char good_secrets[128], wrong_secrets[128]; /* [sync] password files, 0600 */
    PGconn *pg; /* the test's own look at the central database */
} world;

static world W;

static int64_t q_int(const char *sql)
{
    return tc_query_int(&W.pg, W.conninfo, sql);
}

static int group_setup(void **state)
{
    (void)state;
    int up = tc_server_up("test_sync", W.pgdir, sizeof W.pgdir, W.conninfo, sizeof W.conninfo);
    if (up <= 0)
        return up;
    /* Terminals read the password from a secrets file, as installed ones
     * do (docs/INTEGRATING.md, "Secrets"); their config holds none. */
    snprintf(W.public_conninfo, sizeof W.public_conninfo, "host=%s dbname=tp user=tillpoints",
             W.pgdir);
    tu_mkdtemp(W.secdir, sizeof W.secdir);
    snprintf(W.good_secrets, sizeof W.good_secrets, "%s/good.conf", W.secdir);
    snprintf(W.wrong_secrets, sizeof W.wrong_secrets, "%s/wrong.conf", W.secdir);
    tu_write_file(W.good_secrets, "[sync]\npassword = secret\n");
    tu_write_file(W.wrong_secrets, "[sync]\npassword = wrong\n");
    if (chmod(W.good_secrets, 0600) != 0 || chmod(W.wrong_secrets, 0600) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tc_server_down(&W.pg, W.pgdir, W.secdir);
    return 0;
}

#define SKIP_WITHOUT_PG() TC_SKIP_WITHOUT_SERVER(W.pgdir)

/* A terminal whose [sync] password comes from the secrets file `secrets`. */
static tu_host *terminal(const char *location, const char *terminal_id, const char *secrets,
                         const char *extra)
{
    char ini[2048];
    snprintf(ini, sizeof ini,
             "location = %s\nterminal = %s\nsecrets = %s\n"
             "[sync]\npostgres = %s\nbatch = 50\npush_interval_ms = 50\n"
             "pull_interval_ms = 200\nbackoff_min_ms = 50\nbackoff_max_ms = 400\n"
             "connect_timeout_s = 2\nstatement_timeout_ms = 1500\nmax_attempts = 2\n%s",
             location, terminal_id, secrets, W.public_conninfo, extra ? extra : "");
    return tu_start(ini);
}

/* SYNC_PARKED events the hosts received (on their main thread). */
static int parked_events;

static void pump(tu_host *h)
{
    h->plugin->on_main_thread(h->plugin);
    for (int i = 0; i < h->n_events; i++)
        parked_events += h->ev[i].kind == TP_EVENT_SYNC_PARKED;
    h->n_events = 0; /* only the state matters here; keep room */
}

static double max_sale_ms, max_sale_blocked_ms;

/* One sale, timing the host thread's calls: how long they took, and how
 * long of that the thread was blocked (asleep on a lock, the disk or the
 * network) rather than running or waiting for a CPU another process had. */
static void sale(tu_host *h, const char *receipt, const char *code, int64_t amount)
{
    tu_clock a = tu_clock_now();
    tp_message msg;
    tp_status st = tu_sale(h, receipt, code, amount, &msg);
    tu_clock b = tu_clock_now();
    if (tu_wall_ms(&a, &b) > max_sale_ms)
        max_sale_ms = tu_wall_ms(&a, &b);
    if (tu_blocked_ms(&a, &b) > max_sale_blocked_ms)
        max_sale_blocked_ms = tu_blocked_ms(&a, &b);
    if (st == TP_ERR_BUSY) { /* the write queue is full: let the writer catch up */
        tu_settle(h);
        st = h->co->complete(h->plugin, receipt, NULL, NULL, &msg);
        if (st != TP_OK)
            st = tu_sale(h, receipt, code, amount, &msg);
    }
    if (st != TP_OK)
        fail_msg("sale %s: %s", receipt, msg.text);
}

static int64_t local_count(tu_host *h, const char *sql)
{
    char path[400];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static const char *const members[] = {"M-0001", "M-0002", "M-0003", "M-0004", "M-0005",
                                      "M-0006"};
#define NMEMBERS 6

static void round_of_sales(tu_host **t, const char *tag, int per_terminal)
{
    for (int k = 0; k < per_terminal; k++)
        for (int i = 0; i < 3; i++) {
            char receipt[64];
            snprintf(receipt, sizeof receipt, "T%d-%s-%d", i + 1, tag, k);
            sale(t[i], receipt, members[(k + i) % NMEMBERS], 100 + 37 * k);
        }
}

static void three_terminals_converge_through_stop_kill_and_restart(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *t[3];
    t[0] = terminal("store-A", "till-1", W.good_secrets, NULL);
    tp_message msg;
    int from = -1, to = -1;
    assert_int_equal(t[0]->ad->queue->central_init(t[0]->plugin, &from, &to, &msg), TP_OK);
    assert_int_equal(to, 3);
    /* Running it again is harmless. */
    assert_int_equal(t[0]->ad->queue->central_init(t[0]->plugin, &from, &to, &msg), TP_OK);
    assert_int_equal(from, 3);
    t[1] = terminal("store-A", "till-2", W.good_secrets, NULL);
    t[2] = terminal("store-B", "till-3", W.good_secrets, NULL);

    /* Members created on two terminals reach the third through central. */
    for (int m = 0; m < 4; m++)
        tu_add_member(t[0], members[m], "Shared member");
    for (int m = 4; m < NMEMBERS; m++)
        tu_add_member(t[2], members[m], "Store B member");
    for (int i = 0; i < 3; i++)
        for (int m = 0; m < NMEMBERS; m++)
            tc_wait_member(t[i], members[m], WAIT_MS);

    round_of_sales(t, "up", 20);

    /* Server stopped: checkouts go on, points show as confirmed+pending. */
    assert_int_equal(tc_fixture("stop", W.pgdir), 0);
    round_of_sales(t, "down", 20);
    for (int i = 0; i < 3; i++)
        tu_settle(t[i]);
    tp_balance_view v = {.struct_size = sizeof v};
    /* Until the sync thread has met the stopped server and said so. */
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    tp_queue_status st = {.struct_size = sizeof st};
    while ((st = tc_status_of(t[0])).state != TP_SYNC_OFFLINE) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("the stopped server was not reported (state %d: %s)", (int)st.state,
                     st.last_error);
        tc_sleep_ms(20);
    }
    assert_int_equal(t[0]->ad->members->member_balance(t[0]->plugin, "M-0001", &v, &msg), TP_OK);
    assert_string_equal(v.source, "confirmed+pending");
    assert_true(v.pending > 0);
    assert_int_equal(v.balance, v.confirmed + v.pending);
    st = tc_status_of(t[0]);
    assert_true(st.pending > 0);
    assert_int_equal(st.state, TP_SYNC_OFFLINE);
    assert_true(st.last_error[0] != 0);

    /* Back: the backlog drains while new sales go on. */
    assert_int_equal(tc_fixture("restart", W.pgdir), 0);
    round_of_sales(t, "back", 20);

    /* Killed with -9 in the middle of the traffic, then restarted. */
    round_of_sales(t, "kill1", 40);
    assert_int_equal(tc_fixture("kill", W.pgdir), 0);
    round_of_sales(t, "kill2", 40);
    assert_int_equal(tc_fixture("restart", W.pgdir), 0);
    round_of_sales(t, "after", 20);

    /* The same receipt of store-A credited again on the other till, after
     * the first credit reached the central ledger. (Had both been offline,
     * whichever reached the central first would stand and the other be
     * parked: first to the central wins.) */
    tc_wait_drained(t, 3, WAIT_MS, pump);
    sale(t[1], "T1-up-0", "M-0003", 5000);
    tc_wait_drained(t, 3, WAIT_MS, pump);
    end = tp_now_ms_for_tests() + WAIT_MS;
    while (tc_status_of(t[1]).parked != 1) {
        if (tp_now_ms_for_tests() > end) {
            tp_queue_entry e[8];
            size_t k = 0;
            t[1]->ad->queue->queue_list(t[1]->plugin, 0, e, 8, sizeof e[0], &k, &msg);
            for (size_t j = 0; j < k; j++)
                fprintf(stderr, "entry %lld %s parked %d attempts %d: %s\n", (long long)e[j].id,
                        e[j].event_id, e[j].parked, e[j].attempts, e[j].last_error);
            tp_queue_status qs = tc_status_of(t[1]);
            fprintf(stderr, "parked %llu pending %llu delivered %llu; central rows %lld\n",
                    (unsigned long long)qs.parked, (unsigned long long)qs.pending,
                    (unsigned long long)qs.delivered,
                    (long long)q_int("SELECT count(*) FROM ledger WHERE receipt = 'T1-up-0'"));
            fail_msg("the replayed receipt was not parked");
        }
        tc_sleep_ms(50);
    }
    tp_queue_entry parked[4];
    size_t n = 0;
    assert_int_equal(
        t[1]->ad->queue->queue_list(t[1]->plugin, 1, parked, 4, sizeof parked[0], &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(parked[0].event_id, "ledger:store-A/till-2/T1-up-0/earn");
    /* A sentence naming who holds the receipt; the server's words went to
     * the log. */
    assert_string_equal(parked[0].receipt, "T1-up-0");
    assert_non_null(strstr(parked[0].last_error, "Receipt T1-up-0 was already credited at "
                                                 "terminal till-1 of store-A"));
    assert_null(strstr(parked[0].last_error, "duplicate key value"));
    /* The host was told, and the till's status line can show it. */
    pump(t[1]);
    assert_true(parked_events >= 1);
    const tp_sync_ext *sx = t[1]->plugin->get_extension(t[1]->plugin, TP_EXT_SYNC);
    assert_non_null(sx);
    tp_sync_status ss = {.struct_size = sizeof ss};
    assert_int_equal(sx->status(t[1]->plugin, &ss, &msg), TP_OK);
    assert_true(ss.configured);
    assert_int_equal(ss.parked, 1);

    /* Every award exactly once. */
    int64_t local_total = 0;
    for (int i = 0; i < 3; i++)
        local_total += local_count(t[i], "SELECT count(*) FROM ledger");
    assert_int_equal(q_int("SELECT count(*) FROM ledger"), local_total - 1);
    assert_int_equal(q_int("SELECT count(*) FROM (SELECT location, receipt FROM ledger"
                           " WHERE kind IN ('earn','retro') GROUP BY 1, 2 HAVING count(*) > 1) d"),
                     0);
    assert_int_equal(q_int("SELECT count(*) FROM events WHERE kind = 'ledger'"), local_total - 1);
    assert_int_equal(q_int("SELECT count(*) FROM ledger WHERE receipt = 'T1-up-0'"), 1);
    assert_int_equal(q_int("SELECT count(*) FROM members"), NMEMBERS);
    assert_int_equal(q_int("SELECT count(*) FROM balances b WHERE balance <>"
                           " (SELECT sum(points) FROM ledger l WHERE l.member = b.member)"),
                     0);

    /* Every terminal converges on the central balances. */
    end = tp_now_ms_for_tests() + WAIT_MS;
    for (int i = 0; i < 3; i++) {
        for (int m = 0; m < NMEMBERS; m++) {
            char sql[160];
            snprintf(sql, sizeof sql,
                     "SELECT COALESCE(sum(points), 0) FROM ledger WHERE member = '%s'", members[m]);
            int64_t central = q_int(sql);
            for (;;) {
                assert_int_equal(
                    t[i]->ad->members->member_balance(t[i]->plugin, members[m], &v, &msg), TP_OK);
                if (v.balance == central && strcmp(v.source, "central") == 0)
                    break;
                if (tp_now_ms_for_tests() > end)
                    fail_msg("terminal %d member %s shows %lld (%s), central %lld", i + 1,
                             members[m], (long long)v.balance, v.source, (long long)central);
                tc_sleep_ms(50);
            }
        }
    }
    /* The refused credit is out of till-2's shown balance and said so. */
    assert_int_equal(t[1]->ad->members->member_balance(t[1]->plugin, "M-0003", &v, &msg), TP_OK);
    assert_int_equal(v.refused, 50);
    /* Local ledgers stay intact (append-only, verify clean). */
    for (int i = 0; i < 3; i++) {
        tp_verify_result vr = {.struct_size = sizeof vr};
        assert_int_equal(
            t[i]->ad->audit->verify(t[i]->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg), TP_OK);
    }
    fprintf(stderr, "test_sync: %lld awards, slowest host-thread sale %.1f ms (%.1f ms of it "
            "blocked)\n", (long long)(local_total - 1), max_sale_ms, max_sale_blocked_ms);
    assert_true(max_sale_blocked_ms < 50.0); /* never waits on the network */
    for (int i = 0; i < 3; i++)
        tu_stop(t[i], 1);
}

static void wrong_credentials_are_reported_and_nothing_is_lost(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *h = terminal("store-C", "till-9", W.wrong_secrets, NULL);
    tu_add_member(h, "M-C001", "Carol");
    sale(h, "C-1", "M-C001", 1000);
    tu_settle(h);
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    tp_queue_status st = {.struct_size = sizeof st};
    while ((st = tc_status_of(h)).state != TP_SYNC_ERROR) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("wrong credentials not reported (state %d)", (int)st.state);
        tc_sleep_ms(20);
    }
    assert_non_null(strstr(st.last_error, "refused this terminal's password"));
    assert_int_equal(st.pending, 2); /* the member and the award wait */
    /* Fixed in the secrets; the restarted instance delivers both, once. */
    char ini[1024];
    snprintf(ini, sizeof ini, "[store]\ndatabase = test.db\nlocation = store-C\n"
             "terminal = till-9\nsecrets = %s\n[sync]\npostgres = %s\npush_interval_ms = 50\n",
             W.good_secrets, W.public_conninfo);
    tu_write_file(h->config, ini);
    tu_restart(h);
    tu_host *one[1] = {h};
    tc_wait_drained(one, 1, WAIT_MS, pump);
    assert_int_equal(q_int("SELECT count(*) FROM ledger WHERE receipt = 'C-1'"), 1);
    assert_int_equal(q_int("SELECT count(*) FROM members WHERE code = 'M-C001'"), 1);
    tu_stop(h, 1);
}

static void schema_version_mismatch_waits_until_fixed(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *h = terminal("store-D", "till-7", W.good_secrets, NULL);
    tu_add_member(h, "M-D001", "Dora");
    tu_host *one[1] = {h};
    tc_wait_drained(one, 1, WAIT_MS, pump);
    q_int("UPDATE schema_version SET version = version + 96"); /* 1, 2, 3 -> 97, 98, 99 */
    sale(h, "D-1", "M-D001", 1000);
    tu_settle(h);
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    tp_queue_status st = {.struct_size = sizeof st};
    while ((st = tc_status_of(h)).state != TP_SYNC_ERROR || !strstr(st.last_error, "99")) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("schema mismatch not reported: %s", st.last_error);
        tc_sleep_ms(20);
    }
    assert_non_null(strstr(st.last_error, "newer than this terminal"));
    assert_int_equal(st.pending, 1);
    assert_int_equal(q_int("SELECT count(*) FROM ledger WHERE receipt = 'D-1'"), 0);
    /* central init will not touch a newer schema, and says it is a version
     * problem, naming both versions. */
    tp_message msg;
    int from = 0, to = 0;
    assert_int_equal(h->ad->queue->central_init(h->plugin, &from, &to, &msg), TP_ERR_VERSION);
    assert_non_null(strstr(msg.text, "The central schema is version 99, newer than this "
                                     "tillpoints knows (3)"));
    q_int("UPDATE schema_version SET version = version - 96");
    uint64_t reset = 0;
    assert_int_equal(h->ad->queue->queue_retry(h->plugin, &reset, &msg), TP_OK);
    tc_wait_drained(one, 1, WAIT_MS, pump);
    assert_int_equal(q_int("SELECT count(*) FROM ledger WHERE receipt = 'D-1'"), 1);
    tu_stop(h, 1);
}

static void a_stalled_server_times_out_and_the_batch_is_sent_once_later(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *h = terminal("store-E", "till-5", W.good_secrets, NULL);
    tu_add_member(h, "M-E001", "Emil");
    tu_host *one[1] = {h};
    tc_wait_drained(one, 1, WAIT_MS, pump);
    /* Another session holds the push lock: the terminal's statement waits
     * until its lock/statement timeout, gives up, and backs off. */
    PGconn *holder = PQconnectdb(W.conninfo);
    PGresult *r = PQexec(holder, "BEGIN; SELECT pg_advisory_xact_lock(7321000701)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    for (int k = 0; k < 30; k++) {
        char receipt[32];
        snprintf(receipt, sizeof receipt, "E-%d", k);
        sale(h, receipt, "M-E001", 500);
    }
    tu_settle(h);
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    tp_queue_status st = {.struct_size = sizeof st};
    while (!strstr((st = tc_status_of(h)).last_error, "timeout")) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("stall not reported: %s", st.last_error);
        tc_sleep_ms(50);
    }
    assert_int_equal(st.pending, 30);
    r = PQexec(holder, "COMMIT");
    PQclear(r);
    PQfinish(holder);
    tc_wait_drained(one, 1, WAIT_MS, pump);
    assert_int_equal(q_int("SELECT count(*) FROM ledger WHERE receipt LIKE 'E-%'"), 30);
    assert_int_equal(q_int("SELECT sum(points) FROM ledger WHERE member = 'M-E001'"), 150);
    tu_stop(h, 1);
}

static void parked_entries_can_be_unparked_and_standalone_has_no_queue(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL); /* no [sync]: standalone, nothing changes */
    tu_add_member(h, "M-F001", "Fay");
    tp_message msg;
    assert_int_equal(tu_sale(h, "F-1", "M-F001", 700, &msg), TP_OK);
    tu_settle(h);
    tp_queue_status st = tc_status_of(h);
    assert_int_equal(st.configured, 0);
    assert_int_equal(st.state, TP_SYNC_OFF);
    assert_int_equal(st.pending, 0); /* standalone journals nothing for a central */
    tp_balance_view v = {.struct_size = sizeof v};
    assert_int_equal(h->ad->members->member_balance(h->plugin, "M-F001", &v, &msg), TP_OK);
    assert_string_equal(v.source, "local");
    assert_int_equal(v.balance, 7);
    assert_int_equal(h->ad->queue->central_init(h->plugin, NULL, NULL, &msg), TP_ERR_CONFIG);
    /* Pointed at a central database later (here one that is not reachable),
     * the terminal queues its whole history once. */
    char ini[512];
    snprintf(ini, sizeof ini,
             "[store]\ndatabase = test.db\n[sync]\npostgres = host=%s/no-such-socket "
             "dbname=tp user=tillpoints connect_timeout=1\n", h->dir);
    tu_write_file(h->config, ini);
    tu_restart(h);
    st = tc_status_of(h);
    assert_int_equal(st.configured, 1);
    assert_int_equal(st.pending, 2);
    tp_queue_entry e[4];
    size_t n = 0;
    assert_int_equal(h->ad->queue->queue_list(h->plugin, 0, e, 4, sizeof e[0], &n, &msg), TP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].event_id, "member:M-F001");
    assert_string_equal(e[0].receipt, "");
    assert_string_equal(e[1].kind, "ledger");
    assert_string_equal(e[1].receipt, "F-1");
    assert_string_equal(e[1].member, "M-F001");
    assert_int_equal(e[1].points, 7);
    assert_int_equal(e[1].parked, 0);
    assert_true(e[1].id > e[0].id);
    /* Only a parked entry can be dismissed. */
    assert_int_equal(h->ad->queue->queue_dismiss(h->plugin, e[1].id, "mgr-1", "test", &msg),
                     TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "not parked"));
    assert_int_equal(h->ad->queue->queue_park(h->plugin, e[1].id, &msg), TP_OK);
    n = 0;
    assert_int_equal(h->ad->queue->queue_list(h->plugin, 0, e, 4, sizeof e[0], &n, &msg), TP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].parked, 0); /* pending and parked, each with its id */
    assert_int_equal(e[1].parked, 1);
    assert_int_equal(tc_status_of(h).parked, 1);
    assert_int_equal(h->ad->queue->queue_unpark(h->plugin, e[1].id, &msg), TP_OK);
    assert_int_equal(tc_status_of(h).parked, 0);
    assert_int_equal(h->ad->queue->queue_park(h->plugin, 99999, &msg), TP_ERR_NOT_FOUND);
    /* A new sale now goes to the outbox as it happens. */
    assert_int_equal(tu_sale(h, "F-2", "M-F001", 300, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tc_status_of(h).pending, 3);
    tu_stop(h, 1);
}

static void central_text(const char *sql, char *out, size_t cap)
{
    PGresult *r = PQexec(W.pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("central query %s: %s", sql, PQresultErrorMessage(r));
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void local_text(tu_host *h, const char *sql, char *out, size_t cap)
{
    char path[400];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    tu_text_sql(path, sql, out, cap);
}

static void adjust(tu_host *h, const char *code, int64_t points)
{
    tu_adjust(h, code, points, "goodwill");
}

typedef struct problems {
    int n;
    char all[4096];
} problems;

static void on_problem(void *user, uint64_t line, const char *sentence)
{
    (void)line;
    problems *p = user;
    p->n++;
    size_t len = strlen(p->all);
    snprintf(p->all + len, sizeof p->all - len, "%s\n", sentence);
}

static tp_status verify_with_central(tu_host *h, problems *p, tp_audit_report *rep)
{
    memset(p, 0, sizeof *p);
    tp_verify_result r = {.struct_size = sizeof r};
    tp_message msg;
    return h->ad->audit->verify(h->plugin, NULL, NULL, on_problem, p, &r, rep, &msg);
}

/* A terminal with three adjustments of its own member (`code`: each
 * terminal its own, or a member pulled from another terminal would clash),
 * all delivered; the central head is record 3 with the terminal's hash. */
static tu_host *anchored_terminal(const char *terminal_id, const char *code)
{
    tu_host *h = terminal("store-G", terminal_id, W.good_secrets, NULL);
    tp_message msg;
    int from = 0, to = 0;
    assert_int_equal(h->ad->queue->central_init(h->plugin, &from, &to, &msg), TP_OK);
    tu_add_member(h, code, "Gus");
    adjust(h, code, 10);
    adjust(h, code, 20);
    adjust(h, code, 30);
    tu_host *one[1] = {h};
    tc_wait_drained(one, 1, WAIT_MS, pump);
    char sql[200], central[80], local[80];
    snprintf(sql, sizeof sql, "SELECT seq || ':' || hash FROM audit_heads WHERE location ="
             " 'store-G' AND terminal = '%s'", terminal_id);
    central_text(sql, central, sizeof central);
    local_text(h, "SELECT id || ':' || hash FROM audit WHERE id = 3", local, sizeof local);
    assert_string_equal(central, local);
    problems p;
    tp_audit_report rep = {.struct_size = sizeof rep, .local.struct_size = sizeof rep.local};
    assert_int_equal(verify_with_central(h, &p, &rep), TP_OK);
    assert_int_equal(rep.central, TP_AUDIT_CENTRAL_COMPARED);
    assert_int_equal(rep.central_seq, 3);
    return h;
}

static void a_rewritten_history_is_refused_centrally_and_named_by_verify(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *h = anchored_terminal("till-rw", "M-G-RW");
    char path[400];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    /* The first adjustment grows tenfold; its record is made to agree and
     * every hash from it on is recomputed: the terminal's own checks pass. */
    forge_without_triggers(path, "ledger_no_update,audit_no_update",
                           "UPDATE ledger SET points = 100 WHERE kind = 'adjust' AND points = 10;"
                           "UPDATE audit SET points = 100 WHERE id = 1;", 1);
    problems p;
    tp_audit_report rep = {.struct_size = sizeof rep, .local.struct_size = sizeof rep.local};
    assert_int_equal(verify_with_central(h, &p, &rep), TP_ERR_INTERNAL);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.all, "Audit record 3 is not the one the central database received"));
    assert_non_null(strstr(p.all, "was altered and the hashes recomputed"));
    /* The next record chains onto the forged head: the central refuses it,
     * and the terminal parks it with the central's sentence. */
    adjust(h, "M-G-RW", 1);
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    while (tc_status_of(h).parked < 1) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("the record after the rewrite was not refused: %s", tc_status_of(h).last_error);
        tu_settle(h);
        pump(h);
        tc_sleep_ms(50);
    }
    tp_queue_entry e[4];
    size_t n = 0;
    tp_message msg;
    assert_int_equal(h->ad->queue->queue_list(h->plugin, 1, e, 4, sizeof e[0], &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].kind, "audit");
    assert_non_null(strstr(e[0].last_error, "Audit record 4 of terminal store-G/till-rw does not "
                                            "follow record 3, the last one the central database "
                                            "holds"));
    assert_int_equal(q_int("SELECT seq FROM audit_heads WHERE terminal = 'till-rw'"), 3);
    /* The ledger entry itself still reached the central ledger (the
     * points moved locally); the refused record is what raises the alarm. */
    assert_int_equal(q_int("SELECT count(*) FROM events WHERE kind = 'audit' AND terminal ="
                           " 'till-rw'"), 3);
    tu_stop(h, 1);
}

static void deleted_newest_records_are_named_by_verify(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *h = anchored_terminal("till-del", "M-G-DEL");
    char path[400];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    /* The two newest adjustments and their records go; the chain and the
     * ledger that remain are consistent. */
    forge_without_triggers(path, "ledger_no_delete,audit_no_delete",
                           "DELETE FROM ledger WHERE kind = 'adjust' AND points IN (20, 30);"
                           "DELETE FROM audit WHERE id IN (2, 3);", 0);
    problems p;
    tp_audit_report rep = {.struct_size = sizeof rep, .local.struct_size = sizeof rep.local};
    assert_int_equal(verify_with_central(h, &p, &rep), TP_ERR_INTERNAL);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.all, "The central database holds this terminal's audit record 3, "
                                  "but the log here ends at record 1: records 2 to 3 were "
                                  "deleted, or the database was restored from an older copy."));
    assert_int_equal(rep.local.seq, 1);
    /* The next record is a second record 2: refused centrally. (Not an
     * adjustment: its key, ADJ-2, would be the deleted entry's again, and
     * the outbox refuses to send an event twice.) */
    tp_message msg;
    if (h->ad->managers->manager_add(h->plugin, "mgr-9", "Nina", "482913", "owner", &msg) != TP_OK)
        fail_msg("manager_add: %s", msg.text);
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    while (tc_status_of(h).parked < 1) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("the record after the deletion was not refused: %s",
                     tc_status_of(h).last_error);
        tu_settle(h);
        pump(h);
        tc_sleep_ms(50);
    }
    assert_int_equal(q_int("SELECT seq FROM audit_heads WHERE terminal = 'till-del'"), 3);
    tu_stop(h, 1);
}

static void a_replaced_trigger_is_named_by_verify_with_a_central_database(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *h = anchored_terminal("till-trg", "M-G-TRG");
    char path[400];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    forge_exec(db, "DROP TRIGGER audit_no_delete; CREATE TRIGGER audit_no_delete BEFORE DELETE"
                   " ON audit BEGIN SELECT 1; END;");
    sqlite3_close(db);
    problems p;
    tp_audit_report rep = {.struct_size = sizeof rep, .local.struct_size = sizeof rep.local};
    assert_int_equal(verify_with_central(h, &p, &rep), TP_ERR_INTERNAL);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.all, "trigger audit_no_delete was changed"));
    assert_int_equal(rep.central, TP_AUDIT_CENTRAL_COMPARED);
    tu_stop(h, 1);
}

/* A central database that took audit events under schema 1 (no heads):
 * the migration starts each terminal's head at its newest record, and the
 * terminal's next record continues it. */
static void central_schema_1_is_migrated_with_heads_from_its_events(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *h = anchored_terminal("till-mig", "M-G-MIG");
    /* Back to version 1: v3's objects first (test_confirm.c migrates 2 -> 3). */
    q_int("BEGIN; DROP TRIGGER balances_overdraft ON balances; DROP FUNCTION tp_overdraft();"
          " DROP TABLE overdrafts; DROP TRIGGER events_redeem_drops_hold ON events;"
          " DROP FUNCTION tp_hold_spent(); DROP FUNCTION tp_hold(text, text, text, integer,"
          " text, bigint, bigint, bigint); DROP TABLE holds;"
          " DROP TRIGGER events_audit_chain ON events; DROP FUNCTION tp_audit_chain();"
          " DROP TABLE audit_heads; DELETE FROM schema_version WHERE version >= 2; COMMIT");
    tp_message msg;
    int from = 0, to = 0;
    assert_int_equal(h->ad->queue->central_init(h->plugin, &from, &to, &msg), TP_OK);
    assert_int_equal(from, 1);
    assert_int_equal(to, 3);
    char central[80], local[80];
    central_text("SELECT seq || ':' || hash FROM audit_heads WHERE terminal = 'till-mig'",
                 central, sizeof central);
    local_text(h, "SELECT id || ':' || hash FROM audit WHERE id = 3", local, sizeof local);
    assert_string_equal(central, local);
    adjust(h, "M-G-MIG", 4);
    tu_host *one[1] = {h};
    tc_wait_drained(one, 1, WAIT_MS, pump);
    assert_int_equal(tc_status_of(h).parked, 0);
    assert_int_equal(q_int("SELECT seq FROM audit_heads WHERE terminal = 'till-mig'"), 4);
    tu_stop(h, 1);
}

static void an_unreachable_central_database_is_said_not_counted(void **state)
{
    (void)state;
    char ini[512];
    snprintf(ini, sizeof ini, "[sync]\npostgres = host=/nonexistent-dir dbname=tp"
             " user=tillpoints\nconnect_timeout_s = 1\n");
    tu_host *h = tu_start(ini);
    tu_add_member(h, "M-0001", "Ann");
    adjust(h, "M-0001", 1);
    problems p;
    tp_audit_report rep = {.struct_size = sizeof rep, .local.struct_size = sizeof rep.local};
    assert_int_equal(verify_with_central(h, &p, &rep), TP_OK);
    assert_int_equal(rep.central, TP_AUDIT_CENTRAL_UNREACHABLE);
    assert_non_null(strstr(rep.central_note, "cannot connect"));
    tu_stop(h, 1);
}

/* The reason a sync fails may be longer than the status's last_error (a
 * server's message, or the loader's sentence naming a missing
 * tillpoints-sync.so by its full path): it is shown cut, never blank. */
static void a_long_sync_error_is_shown_cut_not_blank(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *h = terminal("store-L", "till-3", W.good_secrets, NULL);
    tu_add_member(h, "M-L001", "Lena");
    tu_host *one[1] = {h};
    tc_wait_drained(one, 1, WAIT_MS, pump);
    /* A refusal of no SQLSTATE class of its own (P0001): the batch waits. */
    q_int("CREATE FUNCTION tp_test_refuse() RETURNS trigger LANGUAGE plpgsql AS"
          " $$BEGIN RAISE EXCEPTION 'refused: %', repeat('x', 400); END$$");
    q_int("CREATE TRIGGER tp_test_refuse BEFORE INSERT ON events FOR EACH ROW"
          " WHEN (NEW.location = 'store-L') EXECUTE FUNCTION tp_test_refuse()");
    sale(h, "L-1", "M-L001", 1000);
    tu_settle(h);
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    tp_queue_status st = {.struct_size = sizeof st};
    while ((st = tc_status_of(h)).state != TP_SYNC_OFFLINE || !strstr(st.last_error, "xxx")) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("the refusal was not reported: state %d, \"%s\"", (int)st.state,
                     st.last_error);
        pump(h);
        tc_sleep_ms(20);
    }
    assert_int_equal(strlen(st.last_error), TP_MESSAGE_MAX);
    assert_non_null(strstr(st.last_error, "the server said: refused: xxx"));
    assert_int_equal(st.pending, 1);
    q_int("DROP TRIGGER tp_test_refuse ON events");
    q_int("DROP FUNCTION tp_test_refuse()");
    tc_wait_drained(one, 1, WAIT_MS, pump);
    assert_int_equal(q_int("SELECT count(*) FROM ledger WHERE receipt = 'L-1'"), 1);
    tu_stop(h, 1);
}


/* ------------------------------------------------ the queue explains itself */

/* The CLI (build/tillpoints), another process on h's database: its
 * stdout and stderr together in `out`. -1 when the CLI is not built. */
/* Runs the manager CLI of the same build as the plugin under test (the
 * directory of $TILLPOINTS_PLUGIN: a sanitizer build's CLI with its own
 * plugin) on h's config; its output (stdout and stderr) in `out`. */
static int cli_run(tu_host *h, const char *args, char *out, size_t cap)
{
    out[0] = '\0';
    const char *plugin = getenv("TILLPOINTS_PLUGIN");
    if (!plugin || !strrchr(plugin, '/'))
        fail_msg("set TILLPOINTS_PLUGIN to the built tillpoints.so (its directory holds the CLI)");
    char cli[512];
    snprintf(cli, sizeof cli, "%.*s/tillpoints", (int)(strrchr(plugin, '/') - plugin), plugin);
    if (access(cli, X_OK) != 0)
        fail_msg("%s is not built: run make all first", cli);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --plugin %s --config %s %s 2>&1", cli, plugin, h->config, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Until the link state recorded in h's database is `state` with a
 * sentence: read from the file, as any other process reads it. */
static void wait_recorded(tu_host *h, int state, const char *words)
{
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    char text[400] = "";
    for (;;) {
        tu_settle(h);
        h->plugin->on_main_thread(h->plugin);
        local_text(h, "SELECT state || ' ' || status || ' ' || error FROM sync_link", text,
                   sizeof text);
        if (atoi(text) == state && strstr(text, words))
            return;
        if (tp_now_ms_for_tests() > end)
            fail_msg("the link was not recorded as %d \"%s\": %s", state, words, text);
        tc_sleep_ms(20);
    }
}

/* The newest event of `kind` the host received (events are kept). */
static const tu_event *last_event(tu_host *h, tp_event_kind kind)
{
    for (int i = h->n_events - 1; i >= 0; i--)
        if (h->ev[i].kind == kind)
            return &h->ev[i];
    return NULL;
}

static const tu_event *wait_event(tu_host *h, tp_event_kind kind)
{
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    const tu_event *e;
    while (!(e = last_event(h, kind))) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("no event of kind %d", (int)kind);
        tu_settle(h);
        h->plugin->on_main_thread(h->plugin);
        tc_sleep_ms(20);
    }
    return e;
}

/* One terminal per cause; what it records is what another process (a
 * second instance on the same file, and the CLI) shows. */
static void queue_status_in_another_process_names_each_cause(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    char ini[1024], out[4096];
    tp_message msg;

    /* A wrong password. */
    tu_host *h = terminal("store-Q", "till-q1", W.wrong_secrets, NULL);
    tu_add_member(h, "M-Q001", "Quinn");
    wait_recorded(h, TP_SYNC_ERROR, "refused this terminal's password");
    /* A second instance on the same file, whose own thread has not
     * necessarily tried yet, shows what the first recorded. */
    tu_host *other = tu_start(NULL);
    snprintf(ini, sizeof ini, "[store]\ndatabase = %s/test.db\nlocation = store-Q\n"
             "terminal = till-q1\nsecrets = %s\n[sync]\npostgres = %s\n"
             "backoff_min_ms = 60000\nbackoff_max_ms = 60000\n", h->dir, W.wrong_secrets,
             W.public_conninfo);
    tu_write_file(other->config, ini);
    tu_restart(other);
    tp_queue_status st = tc_status_of(other);
    assert_int_equal(st.state, TP_SYNC_ERROR);
    assert_string_equal(st.last_error, "The central database refused this terminal's password: "
                                       "set the right [sync] password in the secrets file.");
    assert_true(st.last_error_ms > 0);
    assert_true(st.next_attempt_ms > 0);
    assert_int_equal(st.pending, 1);
    tu_stop(other, 1);
    assert_true(cli_run(h, "queue status", out, sizeof out) >= 0); /* exited, not killed */
    {
        fprintf(stderr, "%s", out);
        assert_non_null(strstr(out, "central:      error"));
        assert_non_null(strstr(out, "last error:   The central database refused this "
                                    "terminal's password"));
        assert_non_null(strstr(out, "next retry:"));
        /* Any other command warns on stderr, once, with the same cause. */
        assert_int_equal(cli_run(h, "member show M-Q001", out, sizeof out), 0);
        assert_non_null(strstr(out, "tillpoints warning: central database refused: The "
                                    "central database refused this terminal's password"));
        assert_null(strstr(strstr(out, "warning") + 1, "warning"));
    }
    tu_stop(h, 1);

    /* A refused connection: nothing listens on that port. */
    h = terminal("store-Q", "till-q2", W.good_secrets, NULL);
    snprintf(ini, sizeof ini, "[store]\ndatabase = test.db\nlocation = store-Q\n"
             "terminal = till-q2\n[sync]\npostgres = host=127.0.0.1 port=1 dbname=tp "
             "user=tillpoints\nconnect_timeout_s = 2\nbackoff_min_ms = 50\n"
             "backoff_max_ms = 400\n");
    tu_write_file(h->config, ini);
    tu_restart(h);
    h->n_events = 0;
    wait_recorded(h, TP_SYNC_OFFLINE, "cannot be reached");
    st = tc_status_of(h);
    assert_int_equal(st.state, TP_SYNC_OFFLINE);
    assert_non_null(strstr(st.last_error, "The central database cannot be reached: nothing "
                                          "answers at \"127.0.0.1\", port 1"));
    /* The host heard it as unreachable, not as a storage error. */
    const tu_event *ev = wait_event(h, TP_EVENT_SYNC_STATE);
    assert_int_equal(ev->status, TP_ERR_UNREACHABLE);
    assert_string_equal(ev->message, st.last_error);
    const tp_sync_ext *sx = h->plugin->get_extension(h->plugin, TP_EXT_SYNC);
    tp_sync_status ss = {.struct_size = sizeof ss};
    assert_int_equal(sx->status(h->plugin, &ss, &msg), TP_OK);
    assert_string_equal(ss.last_error, st.last_error);
    assert_true(cli_run(h, "queue status", out, sizeof out) >= 0); /* exited, not killed */
    {
        fprintf(stderr, "%s", out);
        assert_non_null(strstr(out, "central:      offline"));
        assert_non_null(strstr(out, "nothing answers at \"127.0.0.1\", port 1"));
        assert_int_equal(cli_run(h, "queue list", out, sizeof out), 0);
        assert_non_null(strstr(out, "tillpoints warning: central database unreachable: The "
                                    "central database cannot be reached"));
    }
    tu_stop(h, 1);

    /* A database without the tillpoints schema; central init creates it
     * and says only that. */
    q_int("CREATE DATABASE tp_empty OWNER tillpoints");
    h = tu_start(NULL);
    snprintf(ini, sizeof ini, "[store]\ndatabase = test.db\nlocation = store-Q\n"
             "terminal = till-q3\nsecrets = %s\n[sync]\npostgres = host=%s dbname=tp_empty "
             "user=tillpoints\nbackoff_min_ms = 50\nbackoff_max_ms = 400\n", W.good_secrets,
             W.pgdir);
    tu_write_file(h->config, ini);
    tu_restart(h);
    wait_recorded(h, TP_SYNC_ERROR, "no tillpoints schema");
    st = tc_status_of(h);
    assert_string_equal(st.last_error, "The central database has no tillpoints schema: run "
                                       "`tillpoints central init` once.");
    ev = wait_event(h, TP_EVENT_SYNC_STATE);
    assert_int_equal(ev->status, TP_ERR_VERSION);
    assert_true(cli_run(h, "queue status", out, sizeof out) >= 0); /* exited, not killed */
    {
        fprintf(stderr, "%s", out);
        assert_non_null(strstr(out, "last error:   The central database has no tillpoints "
                                    "schema"));
        assert_int_equal(cli_run(h, "central init", out, sizeof out), 0);
        fprintf(stderr, "%s", out);
        assert_string_equal(out, "The central schema went from version 0 to 3.\n");
        /* The terminal's thread is asked to try again at once. */
        wait_recorded(h, TP_SYNC_ONLINE, "");
    }
    tu_stop(h, 1);
}

/* Two terminals of one store credit the same receipt: the second is
 * refused, and the event says who, what and why; dismissing it resolves
 * it for good. */
static void a_parked_duplicate_is_named_and_can_be_dismissed(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    tu_host *a = terminal("store-P", "till-p1", W.good_secrets, NULL);
    tu_host *b = terminal("store-P", "till-p2", W.good_secrets, NULL);
    tu_add_member(a, "M-P001", "Pia");
    tu_host *both[2] = {a, b};
    tc_wait_drained(both, 2, WAIT_MS, pump);
    tc_wait_member(b, "M-P001", WAIT_MS);
    sale(a, "S-5", "M-P001", 5000);
    tc_wait_drained(both, 2, WAIT_MS, pump);
    b->n_events = 0;
    sale(b, "S-5", "M-P001", 5000);
    const tu_event *ev = wait_event(b, TP_EVENT_SYNC_PARKED);
    fprintf(stderr, "sync.parked: %s\n", ev->message);
    assert_int_equal(ev->status, TP_ERR_DUPLICATE);
    assert_string_equal(ev->receipt, "S-5");
    assert_string_equal(ev->member_code, "M-P001");
    assert_int_equal(ev->points, 50);
    const char *says = "Receipt S-5 was already credited at terminal till-p1 of store-P";
    assert_true(strncmp(ev->message, says, strlen(says)) == 0); /* the cause first */
    tp_queue_entry e[4];
    size_t n = 0;
    tp_message msg;
    assert_int_equal(b->ad->queue->queue_list(b->plugin, 1, e, 4, sizeof e[0], &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].receipt, "S-5");
    tp_balance_view v = {.struct_size = sizeof v};
    assert_int_equal(b->ad->members->member_balance(b->plugin, "M-P001", &v, &msg), TP_OK);
    assert_int_equal(v.refused, 50);
    int64_t shown_before = v.balance, local_before = v.local;

    /* Dismissed: audited, no longer refused or pending, never sent. */
    assert_int_equal(b->ad->queue->queue_dismiss(b->plugin, e[0].id, "", "x", &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(b->ad->queue->queue_dismiss(b->plugin, e[0].id, "mgr-1",
                                                 "credited at till-p1 already", &msg), TP_OK);
    assert_int_equal(tc_status_of(b).parked, 0);
    assert_int_equal(b->ad->members->member_balance(b->plugin, "M-P001", &v, &msg), TP_OK);
    assert_int_equal(v.refused, 0);
    /* Resolved for good: it counts in nothing shown, and the ledger keeps it. */
    assert_int_equal(v.balance, shown_before);
    assert_int_equal(v.pending, 0);
    assert_int_equal(v.local, local_before);
    assert_int_equal(local_count(b, "SELECT count(*) FROM audit WHERE action = 'queue.dismiss'"
                                    " AND actor = 'mgr-1' AND receipt = 'S-5' AND points = 50"
                                    " AND reason = 'credited at till-p1 already'"), 1);
    assert_int_equal(b->ad->queue->queue_dismiss(b->plugin, e[0].id, "mgr-1", "again", &msg),
                     TP_ERR_STATE);
    assert_int_equal(b->ad->queue->queue_unpark(b->plugin, e[0].id, &msg), TP_ERR_STATE);
    uint64_t reset = 0;
    assert_int_equal(b->ad->queue->queue_retry(b->plugin, &reset, &msg), TP_OK);
    tc_wait_drained(both, 2, WAIT_MS, pump); /* the dismissal's audit record travels; the entry does not */
    assert_int_equal(q_int("SELECT count(*) FROM events WHERE payload->>'action' ="
                           " 'queue.dismiss'"), 1);
    assert_int_equal(q_int("SELECT count(*) FROM ledger WHERE receipt = 'S-5'"), 1);
    assert_int_equal(local_count(b, "SELECT count(*) FROM outbox WHERE dismissed_ms IS NOT NULL"
                                    " AND delivered_ms IS NULL AND parked = 1"), 1);
    assert_int_equal(local_count(b, "SELECT count(*) FROM ledger WHERE receipt = 'S-5'"), 1);
    tp_verify_result vr = {.struct_size = sizeof vr};
    assert_int_equal(b->ad->audit->verify(b->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg),
                     TP_OK);
    tu_stop(a, 1);
    tu_stop(b, 1);
}

/* A refusal that is not a duplicate (a CHECK of the central ledger) is
 * parked with its own status and sentence. */
static void a_check_constraint_refusal_is_not_called_a_duplicate(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    q_int("ALTER TABLE ledger ADD CONSTRAINT tp_test_points_cap"
          " CHECK (location <> 'store-K' OR points <= 100) NOT VALID");
    tu_host *h = terminal("store-K", "till-k1", W.good_secrets, NULL);
    tu_add_member(h, "M-K001", "Kim");
    tu_host *one[1] = {h};
    tc_wait_drained(one, 1, WAIT_MS, pump);
    h->n_events = 0;
    sale(h, "K-1", "M-K001", 20000);
    const tu_event *ev = wait_event(h, TP_EVENT_SYNC_PARKED);
    fprintf(stderr, "sync.parked: %s\n", ev->message);
    assert_int_equal(ev->status, TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(ev->receipt, "K-1");
    assert_int_equal(ev->points, 200);
    assert_non_null(strstr(ev->message, "The central database refused receipt K-1: it breaks "
                                        "its rule tp_test_points_cap."));
    assert_null(strstr(ev->message, "already"));
    q_int("ALTER TABLE ledger DROP CONSTRAINT tp_test_points_cap");
    tu_stop(h, 1);
}

/* The store's own server options in [sync] postgres (here a search_path,
 * for the tables in a schema of their own) are kept: the sync thread adds
 * its timeouts to them instead of replacing them. */
static void the_stores_own_server_options_are_kept(void **state)
{
    (void)state;
    SKIP_WITHOUT_PG();
    q_int("DROP DATABASE IF EXISTS tpopt");
    q_int("CREATE DATABASE tpopt");
    char admin[300];
    snprintf(admin, sizeof admin, "host=%s dbname=tpopt user=tillpoints password=secret",
             W.pgdir);
    PGconn *pg = PQconnectdb(admin);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *r = PQexec(pg, "CREATE SCHEMA loyalty");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    char ini[2048];
    snprintf(ini, sizeof ini,
             "location = store-O\nterminal = till-O\nsecrets = %s\n"
             "[sync]\npostgres = host=%s dbname=tpopt user=tillpoints "
             "options='-c search_path=loyalty'\npush_interval_ms = 50\npull_interval_ms = 200\n"
             "backoff_min_ms = 50\nbackoff_max_ms = 400\nconnect_timeout_s = 2\n",
             W.good_secrets, W.pgdir);
    tu_host *h = tu_start(ini);
    tp_message msg;
    int32_t from = -1, to = -1;
    assert_int_equal(h->ad->queue->central_init(h->plugin, &from, &to, &msg), TP_OK);
    tu_add_member(h, "M-OPT-1", "Opt");
    sale(h, "O-1", "M-OPT-1", 1000);
    tc_wait_drained(&h, 1, WAIT_MS, pump);
    r = PQexec(pg, "SELECT count(*) FROM loyalty.ledger WHERE receipt = 'O-1'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    r = PQexec(pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
    assert_string_equal(PQgetvalue(r, 0, 0), "0"); /* nothing landed beside them */
    PQclear(r);
    PQfinish(pg);
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parked_entries_can_be_unparked_and_standalone_has_no_queue),
        cmocka_unit_test(three_terminals_converge_through_stop_kill_and_restart),
        cmocka_unit_test(wrong_credentials_are_reported_and_nothing_is_lost),
        cmocka_unit_test(schema_version_mismatch_waits_until_fixed),
        cmocka_unit_test(a_stalled_server_times_out_and_the_batch_is_sent_once_later),
        cmocka_unit_test(a_rewritten_history_is_refused_centrally_and_named_by_verify),
        cmocka_unit_test(deleted_newest_records_are_named_by_verify),
        cmocka_unit_test(a_replaced_trigger_is_named_by_verify_with_a_central_database),
        cmocka_unit_test(central_schema_1_is_migrated_with_heads_from_its_events),
        cmocka_unit_test(an_unreachable_central_database_is_said_not_counted),
        cmocka_unit_test(a_long_sync_error_is_shown_cut_not_blank),
        cmocka_unit_test(queue_status_in_another_process_names_each_cause),
        cmocka_unit_test(a_parked_duplicate_is_named_and_can_be_dismissed),
        cmocka_unit_test(a_check_constraint_refusal_is_not_called_a_duplicate),
        cmocka_unit_test(the_stores_own_server_options_are_kept),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
