/*
 * test_storeday.c — a till keeps selling while a manager imports a CSV
 * file, bulk-adjusts every member and runs verify on the same database
 * (docs/DESIGN.md §3 "Manager work is polite").
 *
 * The till is this test's main thread, driving the plugin as a POS does:
 * begin, scan, complete, and on_main_thread whenever it asked for a
 * callback. The manager is a second thread calling the admin extension of
 * the same instance. The two are interleaved by what the program reports,
 * not by the clock: each time a job reports progress, it waits until the
 * till has had a few more sales accepted, so sales are made while every
 * job is under way, however fast or slow the machine.
 *
 * Asserted afterwards: no STORAGE_ERROR was raised (contention is not a
 * disk fault), every accepted sale got exactly one AWARD_COMMITTED and has
 * exactly one receipt and one earn entry in the ledger, the import and the
 * bulk adjustment wrote what they said, and verify finds nothing wrong.
 * The store-day benchmark (bench/bench_storeday.c) measures the same day
 * at full size; this test proves its correctness on any machine.
 */
#include "testutil.h"

#define MEMBERS 40
#define IMPORT_ROWS 8000
#define SALES_PER_REPORT 3
#define REPORTS_WAITED 150 /* per job: bounds the sales the test makes */
#define HANG_GUARD_MS 120000

typedef struct day {
    tu_host *h;
    atomic_long accepted;  /* sales complete() accepted */
    atomic_int jobs_done;  /* the manager's thread is finished */
    int waits;             /* reports waited for, this job (manager thread) */
    long sales_during[3];  /* sales accepted while each job ran */
    tp_status st_import, st_bulk, st_verify;
    tp_import_result imp;
    tp_bulk_result bulk;
    tp_verify_result ver;
    uint64_t problems;
    char msg[3][TP_MESSAGE_MAX + 1];
    char csv[400];
} day;

static atomic_long committed_events, storage_alarms;

static void count_event(const tp_host *host, const tp_event *plugin_event)
{
    const tp_event ev = tp_event_read(plugin_event), *e = &ev;
    if (e->kind == TP_EVENT_AWARD_COMMITTED && !e->replayed)
        atomic_fetch_add(&committed_events, 1);
    if (e->kind == TP_EVENT_STORAGE_ERROR)
        atomic_fetch_add(&storage_alarms, 1);
    tu_on_event(host, e);
}

/* The job reported progress: let the till make a few more sales first. */
static void on_progress(void *user, uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    day *d = user;
    if (d->waits >= REPORTS_WAITED)
        return;
    d->waits++;
    long until = atomic_load(&d->accepted) + SALES_PER_REPORT;
    tu_clock start = tu_clock_now();
    while (atomic_load(&d->accepted) < until) {
        tu_clock now = tu_clock_now();
        if (tu_wall_ms(&start, &now) > HANG_GUARD_MS)
            return; /* the till stopped selling; its assertions say why */
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

static void on_problem(void *user, uint64_t line, const char *sentence)
{
    day *d = user;
    d->problems++;
    print_message("problem (line %llu): %s\n", (unsigned long long)line, sentence);
}

static void *manager(void *arg)
{
    day *d = arg;
    tu_host *h = d->h;
    tp_message msg;
    long before = atomic_load(&d->accepted);
    d->waits = 0;
    d->imp.struct_size = sizeof d->imp;
    d->bulk.struct_size = sizeof d->bulk;
    d->ver.struct_size = sizeof d->ver;
    d->st_import = h->ad->transfer->import_csv(h->plugin, d->csv, 0, "mgr-1", on_progress,
                                               on_problem, d, &d->imp, &msg);
    snprintf(d->msg[0], sizeof d->msg[0], "%s", msg.text);
    d->sales_during[0] = atomic_load(&d->accepted) - before;

    before = atomic_load(&d->accepted);
    d->waits = 0;
    tp_bulk_adjustment b = {.struct_size = sizeof b, .all_members = 1, .points = 2,
                            .reason = "store day", .staff = "mgr-1"};
    d->st_bulk = h->ad->ledger->bulk_adjust(h->plugin, &b, on_progress, d, &d->bulk, &msg);
    snprintf(d->msg[1], sizeof d->msg[1], "%s", msg.text);
    d->sales_during[1] = atomic_load(&d->accepted) - before;

    before = atomic_load(&d->accepted);
    d->st_verify = h->ad->audit->verify(h->plugin, NULL, NULL, on_problem, d, &d->ver, NULL, &msg);
    snprintf(d->msg[2], sizeof d->msg[2], "%s", msg.text);
    d->sales_during[2] = atomic_load(&d->accepted) - before;
    atomic_store(&d->jobs_done, 1);
    return NULL;
}

static void a_till_sells_through_an_import_a_bulk_adjustment_and_verify(void **state)
{
    (void)state;
    day d;
    memset(&d, 0, sizeof d);
    atomic_init(&d.accepted, 0);
    atomic_init(&d.jobs_done, 0);
    atomic_store(&committed_events, 0);
    atomic_store(&storage_alarms, 0);
    /* Small verify steps, so verify too runs in many transactions here. */
    tu_host *h = tu_start("[limits]\nverify_step_rows = 500\n");
    d.h = h;
    h->events_ext.on_event = count_event;
    char code[32];
    for (int i = 0; i < MEMBERS; i++) {
        snprintf(code, sizeof code, "TILL-%03d", i);
        tu_add_member(h, code, "Regular");
    }
    snprintf(d.csv, sizeof d.csv, "%s/members.csv", h->dir);
    FILE *f = fopen(d.csv, "w");
    assert_non_null(f);
    fprintf(f, "code,name,points\n");
    for (int i = 0; i < IMPORT_ROWS; i++)
        fprintf(f, "IMP-%06d,Imported %d,%d\n", i, i, 1 + i % 50);
    assert_int_equal(fclose(f), 0);

    pthread_t mgr;
    assert_int_equal(pthread_create(&mgr, NULL, manager, &d), 0);
    long sale = 0, busy = 0;
    int seen = atomic_load(&h->callbacks_requested);
    tu_clock start = tu_clock_now();
    while (!atomic_load(&d.jobs_done)) {
        tu_clock now = tu_clock_now();
        if (tu_wall_ms(&start, &now) > HANG_GUARD_MS)
            fail_msg("the manager's jobs did not finish within %d s", HANG_GUARD_MS / 1000);
        char receipt[32];
        snprintf(receipt, sizeof receipt, "DAY-%06ld", sale);
        snprintf(code, sizeof code, "TILL-%03ld", sale % MEMBERS);
        tp_message msg;
        tp_status st = tu_sale(h, receipt, code, 1000 + sale % 700, &msg);
        if (st == TP_OK) {
            sale++;
            atomic_fetch_add(&d.accepted, 1);
        } else {
            /* A full queue is a correct answer under load, never a loss:
             * the POS finishes the sale without points. Anything else is. */
            assert_int_equal(st, TP_ERR_BUSY);
            h->co->cancel(h->plugin, receipt, &msg);
            busy++;
        }
        int asked = atomic_load(&h->callbacks_requested);
        if (asked != seen) {
            seen = asked;
            h->plugin->on_main_thread(h->plugin);
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(pthread_join(mgr, NULL), 0);
    tu_settle(h);
    print_message("store day: %ld sales accepted (%ld, %ld, %ld during import, bulk, verify), "
                  "%ld refused as busy\n",
                  sale, d.sales_during[0], d.sales_during[1], d.sales_during[2], busy);

    /* The jobs did their work, and the till sold while each ran. */
    if (d.st_import != TP_OK)
        fail_msg("import: %s", d.msg[0]);
    assert_int_equal(d.imp.rows, IMPORT_ROWS);
    assert_int_equal(d.imp.entries, IMPORT_ROWS);
    if (d.st_bulk != TP_OK)
        fail_msg("bulk adjustment: %s", d.msg[1]);
    assert_int_equal(d.bulk.members, MEMBERS + IMPORT_ROWS);
    if (d.st_verify != TP_OK)
        fail_msg("verify: %s", d.msg[2]);
    assert_int_equal(d.problems, 0);
    assert_int_equal(d.ver.problems, 0);
    assert_true(d.sales_during[0] >= SALES_PER_REPORT);
    assert_true(d.sales_during[1] >= SALES_PER_REPORT);

    /* No false alarm, nothing lost, nothing doubled. */
    assert_int_equal(atomic_load(&storage_alarms), 0);
    assert_int_equal(atomic_load(&committed_events), sale);
    char db[400];
    snprintf(db, sizeof db, "%s/test.db", h->dir);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM receipts WHERE receipt LIKE 'DAY-%'"),
                     sale);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM ledger WHERE kind = 'earn' "
                                      "AND receipt LIKE 'DAY-%'"),
                     sale);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM (SELECT receipt FROM ledger "
                                      "WHERE receipt LIKE 'DAY-%' GROUP BY receipt, kind "
                                      "HAVING count(*) > 1)"),
                     0);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM ledger WHERE kind = 'bulk'"),
                     MEMBERS + IMPORT_ROWS);
    /* Both were written in chunks, each with its audit record, not in one
     * long transaction (test_csvio shows a writer getting in between). */
    assert_true(tu_count_sql(db, "SELECT count(*) FROM audit WHERE action = 'import'") > 1);
    assert_true(tu_count_sql(db, "SELECT count(*) FROM audit WHERE action = 'bulk'") > 1);
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_till_sells_through_an_import_a_bulk_adjustment_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
