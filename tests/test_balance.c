/*
 * test_balance.c — the one balance (plugin/balance.c, docs/DESIGN.md §8
 * "One balance") against a REAL PostgreSQL 15 (tests/pg_fixture.sh), with
 * three terminals: three plugin instances in this process, each with its
 * own SQLite file, two of them in one location.
 *
 * After sales at every terminal and a drain, every terminal shows the
 * central sum for every member (member_get, member_find, member_balance,
 * and the balance in a scan's MEMBER_IDENTIFIED event), though each
 * terminal's own ledger holds only its share. With the central database
 * stopped, a terminal shows its last confirmed balance plus its pending
 * entries, says so, and the as-of time stays where it was; a member the
 * central database never confirmed shows this terminal's entries. A
 * receipt credited again at the other till of the location is refused
 * centrally, parked, and no longer counts in what that till shows.
 *
 * Paced by what the plugin reports (queue status, balances), never by the
 * clock alone. Skipped (not failed) when not root or PostgreSQL 15 is not
 * installed.
 */
#include "testutil.h"
#include "central.h"

#include <errno.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#define WAIT_MS 120000 /* only stops a stuck run */

static char pgdir[128], secdir[64], secrets[128], conninfo[256], public_conninfo[256];
static PGconn *pg;

/* The central ledger's sum for a member: what every terminal must show. */
static int64_t central_sum(const char *code)
{
    const char *p[1] = {code};
    PGresult *r = NULL;
    /* A second try on a new connection: the server may have restarted. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!pg || PQstatus(pg) != CONNECTION_OK || attempt > 0) {
            PQfinish(pg);
            pg = PQconnectdb(conninfo);
        }
        PQclear(r);
        r = PQexecParams(pg, "SELECT COALESCE(sum(points), 0) FROM ledger WHERE member = $1", 1,
                         NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            break;
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("central sum: %s", PQresultErrorMessage(r));
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static int group_setup(void **state)
{
    (void)state;
    int up = tc_server_up("test_balance", pgdir, sizeof pgdir, conninfo, sizeof conninfo);
    if (up <= 0)
        return up;
    snprintf(public_conninfo, sizeof public_conninfo, "host=%s dbname=tp user=tillpoints",
             pgdir);
    tu_mkdtemp(secdir, sizeof secdir);
    snprintf(secrets, sizeof secrets, "%s/secrets.conf", secdir);
    tu_write_file(secrets, "[sync]\npassword = secret\n");
    return chmod(secrets, 0600);
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(pg);
    if (pgdir[0])
        tc_fixture("destroy", pgdir);
    if (secdir[0])
        tu_rmdir(secdir);
    return 0;
}

static tu_host *terminal(const char *location, const char *id)
{
    char ini[1024];
    snprintf(ini, sizeof ini,
             "location = %s\nterminal = %s\nsecrets = %s\n"
             "[sync]\npostgres = %s\nbatch = 50\npush_interval_ms = 50\n"
             "pull_interval_ms = 200\nbackoff_min_ms = 50\nbackoff_max_ms = 400\n"
             "connect_timeout_s = 2\nstatement_timeout_ms = 1500\nmax_attempts = 2\n",
             location, id, secrets, public_conninfo);
    return tu_start(ini);
}

static tp_member_info info_of(tu_host *h, const char *code)
{
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    if (h->ad->members->member_get(h->plugin, code, &info, &msg) != TP_OK)
        fail_msg("member_get %s: %s", code, msg.text);
    return info;
}

static tp_balance_view view_of(tu_host *h, const char *code)
{
    tp_balance_view v = {.struct_size = sizeof v};
    tp_message msg;
    if (h->ad->members->member_balance(h->plugin, code, &v, &msg) != TP_OK)
        fail_msg("member_balance %s: %s", code, msg.text);
    return v;
}

/* Until terminal `h` shows `want` for `code` as the central figure (its
 * sync thread pulls what the other terminals pushed). */
static tp_member_info wait_shown(tu_host *h, const char *code, int64_t want)
{
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    for (;;) {
        tp_member_info info = info_of(h, code);
        if (info.shown_balance == want && strcmp(info.balance_source, "central") == 0)
            return info;
        if (tp_now_ms_for_tests() > end)
            fail_msg("%s shows %lld (%s) for %s, central %lld", h->config,
                     (long long)info.shown_balance, info.balance_source, code, (long long)want);
        tc_sleep_ms(50);
    }
}

static void sale(tu_host *h, const char *receipt, const char *code, int64_t amount)
{
    tp_message msg;
    tp_status st = tu_sale(h, receipt, code, amount, &msg);
    if (st == TP_ERR_BUSY) {
        tu_settle(h);
        st = tu_sale(h, receipt, code, amount, &msg);
    }
    if (st != TP_OK)
        fail_msg("sale %s: %s", receipt, msg.text);
}

/* A scan's MEMBER_IDENTIFIED event at terminal `h` (its sale cancelled). */
static tu_event identified(tu_host *h, const char *txn, const char *code)
{
    tp_message msg;
    h->n_events = 0;
    assert_int_equal(h->co->begin(h->plugin, txn, "staff-1", &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, txn, code, &msg), TP_OK);
    tu_settle(h);
    tu_event ev = *tu_find(h, TP_EVENT_MEMBER_IDENTIFIED, NULL);
    assert_int_equal(h->co->cancel(h->plugin, txn, &msg), TP_OK);
    return ev;
}

static const char *const members[] = {"M-B01", "M-B02", "M-B03"};
#define NM 3

static void every_terminal_shows_the_central_balance_and_says_when_it_is_not_fresh(void **state)
{
    (void)state;
    if (!pgdir[0])
        skip();
    tu_host *t[3];
    t[0] = terminal("store-A", "till-1");
    tp_message msg;
    int from = 0, to = 0;
    assert_int_equal(t[0]->ad->queue->central_init(t[0]->plugin, &from, &to, &msg), TP_OK);
    t[1] = terminal("store-A", "till-2");
    t[2] = terminal("store-B", "till-3");
    for (int m = 0; m < NM; m++)
        tu_add_member(t[m % 3], members[m], "Chain member");
    for (int i = 0; i < 3; i++)
        for (int m = 0; m < NM; m++)
            tc_wait_member(t[i], members[m], WAIT_MS);

    /* Sales at every terminal for every member, unequal shares. */
    for (int i = 0; i < 3; i++)
        for (int m = 0; m < NM; m++)
            for (int k = 0; k <= i + m; k++) {
                char receipt[64];
                snprintf(receipt, sizeof receipt, "T%d-%s-%d", i + 1, members[m], k);
                sale(t[i], receipt, members[m], 1000 + 700 * k + 300 * i);
            }
    tc_wait_drained(t, 3, WAIT_MS, NULL);

    /* Every terminal, every way of asking: the central sum. */
    for (int m = 0; m < NM; m++) {
        int64_t central = central_sum(members[m]);
        assert_true(central > 0);
        int differs = 0;
        for (int i = 0; i < 3; i++) {
            tp_member_info info = wait_shown(t[i], members[m], central);
            differs += info.balance != central; /* its own ledger holds a share */
            assert_true(info.balance_as_of_ms > 0);
            tp_balance_view v = view_of(t[i], members[m]);
            assert_int_equal(v.balance, central);
            assert_int_equal(v.local, info.balance);
            assert_int_equal(v.pending, 0);
            assert_string_equal(v.source, "central");
            tp_member_info found[4];
            size_t n = 0;
            assert_int_equal(t[i]->ad->members->member_find(t[i]->plugin, members[m], found, 4,
                                                             sizeof found[0], &n, &msg), TP_OK);
            assert_int_equal(n, 1);
            assert_int_equal(found[0].shown_balance, central);
            char txn[32];
            snprintf(txn, sizeof txn, "S-%d-%d", i, m);
            tu_event ev = identified(t[i], txn, members[m]);
            assert_int_equal(ev.shown_balance, central);
            assert_int_equal(ev.balance, info.balance);
            char said[64];
            snprintf(said, sizeof said, "balance %lld points", (long long)central);
            assert_non_null(strstr(ev.message, said));
        }
        assert_true(differs >= 2);
    }

    /* The central database stops: till-1 shows what was last confirmed
     * plus its own pending entries, and says so. */
    tp_member_info before = info_of(t[0], "M-B01");
    assert_int_equal(tc_fixture("stop", pgdir), 0);
    int64_t end = tp_now_ms_for_tests() + WAIT_MS;
    while (tc_status_of(t[0]).state != TP_SYNC_OFFLINE) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("the stopped server was not reported");
        tc_sleep_ms(20);
    }
    t[0]->n_events = 0;
    sale(t[0], "DOWN-1", "M-B01", 2500);
    sale(t[0], "DOWN-2", "M-B01", 4000);
    tu_settle(t[0]);
    tu_event award = *tu_find(t[0], TP_EVENT_AWARD_COMMITTED, "DOWN-2");
    tp_member_info after = info_of(t[0], "M-B01");
    int64_t pending = after.balance - before.balance;
    assert_true(pending > 0);
    assert_int_equal(after.shown_balance, before.shown_balance + pending);
    assert_string_equal(after.balance_source, "confirmed+pending");
    assert_int_equal(after.balance_as_of_ms, before.balance_as_of_ms);
    assert_int_equal(award.shown_balance, after.shown_balance);
    assert_string_equal(award.balance_source, "confirmed+pending");
    assert_int_equal(award.balance_as_of_ms, before.balance_as_of_ms);
    tp_balance_view v = view_of(t[0], "M-B01");
    assert_int_equal(v.confirmed, before.shown_balance);
    assert_int_equal(v.pending, pending);
    assert_int_equal(v.balance, after.shown_balance);
    /* A member the central database has never confirmed: this terminal's
     * entries, nothing dropped, no as-of time. */
    tu_add_member(t[0], "M-B09", "New while down");
    sale(t[0], "DOWN-3", "M-B09", 3000);
    tu_settle(t[0]);
    tp_member_info fresh = info_of(t[0], "M-B09");
    assert_true(fresh.balance > 0);
    assert_int_equal(fresh.shown_balance, fresh.balance);
    assert_string_equal(fresh.balance_source, "confirmed+pending");
    assert_int_equal(fresh.balance_as_of_ms, 0);

    /* Back: everything converges again. */
    assert_int_equal(tc_fixture("restart", pgdir), 0);
    tc_wait_drained(t, 3, WAIT_MS, NULL);
    for (int i = 0; i < 3; i++) {
        tc_wait_member(t[i], "M-B09", WAIT_MS);
        wait_shown(t[i], "M-B01", central_sum("M-B01"));
        wait_shown(t[i], "M-B09", central_sum("M-B09"));
    }

    /* Till-1's receipt credited again at till-2 (same location): refused
     * centrally, parked, and no longer in what till-2 shows. */
    int64_t chain = central_sum("M-B02");
    tp_member_info local_before = info_of(t[1], "M-B02");
    sale(t[1], "T1-M-B02-0", "M-B02", 5000);
    end = tp_now_ms_for_tests() + WAIT_MS;
    while (tc_status_of(t[1]).parked != 1) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("the receipt credited twice was not parked");
        tu_settle(t[1]);
        tc_sleep_ms(50);
    }
    tc_wait_drained(t, 3, WAIT_MS, NULL);
    assert_int_equal(central_sum("M-B02"), chain);
    tp_member_info dup = wait_shown(t[1], "M-B02", chain);
    assert_true(dup.balance > local_before.balance); /* the local ledger keeps it */
    v = view_of(t[1], "M-B02");
    assert_int_equal(v.refused, dup.balance - local_before.balance);
    assert_int_equal(v.balance, chain);
    for (int i = 0; i < 3; i++)
        tu_stop(t[i], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_terminal_shows_the_central_balance_and_says_when_it_is_not_fresh),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
