/*
 * central.h — what the tests that run a central PostgreSQL share
 * (test_sync, test_balance, test_modules): the throw-away server of
 * tests/pg_fixture.sh, and waiting on what a terminal reports (its queue
 * status, a pulled member, a drained outbox). Header-only
 * (static inline), included after testutil.h.
 */
#ifndef TP_TEST_CENTRAL_H
#define TP_TEST_CENTRAL_H

#include <errno.h>

#include <libpq-fe.h>

#include "tillpoints/ext/admin.h"

#define TC_INITDB "/usr/lib/postgresql/15/bin/initdb"

/* tests/pg_fixture.sh CMD PGDIR, owned by this process (its watchdog stops
 * the server when the process ends); $TP_PG_FIXTURE names another script.
 * The shell's status. */
static inline int tc_fixture(const char *cmd, const char *pgdir)
{
    const char *script = getenv("TP_PG_FIXTURE");
    char line[512];
    snprintf(line, sizeof line, "sh %s %s %s %ld off", script ? script : "tests/pg_fixture.sh",
             cmd, pgdir, (long)getpid());
    return system(line);
}

/* A suite's throw-away server: a fresh directory of its own (another
 * run on this machine has its own server, socket and data), started;
 * `conninfo` (cap bytes) the test's own connection string, with the
 * password. 1 started; 0 skipped, said on stderr (not root, or no
 * PostgreSQL 15), pgdir then ""; -1 failed. */
static inline int tc_server_up(const char *suite, char *pgdir, size_t pgcap, char *conninfo,
                               size_t ccap)
{
    pgdir[0] = '\0';
    if (geteuid() != 0 || access(TC_INITDB, X_OK) != 0) {
        fprintf(stderr, "%s: skipped (needs root and PostgreSQL 15 in "
                        "/usr/lib/postgresql/15/bin)\n", suite);
        return 0;
    }
    snprintf(pgdir, pgcap, "/tmp/tillpoints-pg-XXXXXX");
    if (!mkdtemp(pgdir)) {
        fprintf(stderr, "%s: mkdtemp: %s\n", suite, strerror(errno));
        pgdir[0] = '\0';
        return -1;
    }
    if (tc_fixture("start", pgdir) != 0)
        return -1;
    snprintf(conninfo, ccap, "host=%s dbname=tp user=tillpoints password=secret", pgdir);
    return 1;
}

/* The suite's end: its connection closed, its server destroyed and the
 * directory of its secrets removed (each when there is one). */
static inline void tc_server_down(PGconn **pg, const char *pgdir, const char *secdir)
{
    PQfinish(*pg);
    *pg = NULL;
    if (pgdir[0])
        tc_fixture("destroy", pgdir);
    if (secdir[0])
        tu_rmdir(secdir);
}

/* In a test: skipped when the suite has no server (tc_server_up said 0). */
#define TC_SKIP_WITHOUT_SERVER(pgdir)                                                         \
    do {                                                                                      \
        if (!(pgdir)[0])                                                                      \
            skip();                                                                           \
    } while (0)

/* The first column of the first row `sql` yields on the central
 * database, as an integer (0 for no row or NULL); *pg is (re)connected
 * with `conninfo` when needed. A failing query fails the test. */
static inline int64_t tc_query_int(PGconn **pg, const char *conninfo, const char *sql)
{
    if (!*pg || PQstatus(*pg) != CONNECTION_OK) {
        PQfinish(*pg);
        *pg = PQconnectdb(conninfo);
    }
    PGresult *r = PQexec(*pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("central query %s: %s", sql, PQresultErrorMessage(r));
    int64_t v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)
                    ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                    : 0;
    PQclear(r);
    return v;
}

static inline void tc_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline tp_queue_status tc_status_of(tu_host *h)
{
    tp_queue_status st = {.struct_size = sizeof st};
    tp_message msg;
    assert_int_equal(h->ad->queue->queue_status(h->plugin, &st, &msg), TP_OK);
    return st;
}

/* Until terminal `h` knows member `code` (pulled from the central
 * database), for at most `wait_ms`. */
static inline void tc_wait_member(tu_host *h, const char *code, int wait_ms)
{
    int64_t end = tp_now_ms_for_tests() + wait_ms;
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    while (h->ad->members->member_get(h->plugin, code, &info, &msg) != TP_OK) {
        if (tp_now_ms_for_tests() > end)
            fail_msg("member %s was not pulled: %s", code, msg.text);
        tc_sleep_ms(20);
    }
}

/* Until every terminal's outbox is empty (parked entries aside), for at
 * most `wait_ms`; each round delivers the terminals' events through `pump`
 * (NULL: delivered and dropped). On timeout, says where each one stands. */
static inline void tc_wait_drained(tu_host **t, int n, int wait_ms, void (*pump)(tu_host *))
{
    int64_t end = tp_now_ms_for_tests() + wait_ms;
    for (;;) {
        int busy = 0;
        for (int i = 0; i < n; i++) {
            tu_settle(t[i]);
            if (pump)
                pump(t[i]);
            else {
                t[i]->plugin->on_main_thread(t[i]->plugin);
                t[i]->n_events = 0;
            }
            busy += tc_status_of(t[i]).pending != 0;
        }
        if (!busy)
            return;
        if (tp_now_ms_for_tests() > end) {
            for (int i = 0; i < n; i++) {
                tp_queue_status st = tc_status_of(t[i]);
                fprintf(stderr, "terminal %d: pending %llu state %d: %s\n", i,
                        (unsigned long long)st.pending, (int)st.state, st.last_error);
            }
            fail_msg("outboxes did not drain within %d ms", wait_ms);
        }
        tc_sleep_ms(50);
    }
}

#endif
