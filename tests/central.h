/*
 * central.h — what the tests that run a central PostgreSQL share
 * (test_sync, test_balance, test_modules): the throw-away server of
 * tests/pg_fixture.sh, and waiting on what a terminal reports. Header-only
 * (static inline), included after testutil.h.
 */
#ifndef TP_TEST_CENTRAL_H
#define TP_TEST_CENTRAL_H

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

#endif
