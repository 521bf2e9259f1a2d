/* Tests for plugin/verify.c: a clean database passes; each deliberate
 * corruption (done with raw SQL, as an attacker or a bad restore would) is
 * caught. */
#include <sqlite3.h>

#include "testutil.h"

typedef struct found {
    int n;
    char all[4096];
} found;

static void on_problem(void *user, uint64_t line, const char *sentence)
{
    (void)line;
    found *f = user;
    f->n++;
    size_t len = strlen(f->all);
    snprintf(f->all + len, sizeof f->all - len, "%s\n", sentence);
}

static tu_host *populated(void)
{
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tu_add_member(h, "M-0002", "Bob");
    tp_message msg;
    assert_int_equal(tu_sale(h, "R-1", "M-0001", 2000, &msg), TP_OK);
    assert_int_equal(tu_sale(h, "R-2", "M-0002", 1000, &msg), TP_OK);
    tp_refund rf = {.refund_id = "F-1", .receipt_id = "R-1", .currency = "EUR",
                    .amount_minor = 500};
    assert_int_equal(h->co->refund(h->plugin, &rf, &msg), TP_OK);
    tu_settle(h);
    return h;
}

static void corrupt(tu_host *h, const char *sql)
{
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("corrupting failed: %s", err);
    sqlite3_close(db);
}

static tp_status verify(tu_host *h, found *f, tp_verify_result *r)
{
    memset(f, 0, sizeof *f);
    tp_message msg;
    return h->ad->verify(h->plugin, on_problem, f, r, &msg);
}

static void a_clean_database_verifies(void **state)
{
    (void)state;
    tu_host *h = populated();
    found f;
    tp_verify_result r;
    assert_int_equal(verify(h, &f, &r), TP_OK);
    assert_int_equal(f.n, 0);
    assert_true(r.checks >= 12);
    assert_int_equal(r.entries, 3);
    assert_int_equal(r.members, 2);
    tu_stop(h, 1);
}

static void a_dropped_trigger_and_a_rewritten_entry_are_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    corrupt(h, "DROP TRIGGER ledger_no_update;"
               "UPDATE ledger SET points = 500 WHERE kind = 'earn' AND receipt = 'R-2';");
    found f;
    tp_verify_result r;
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_non_null(strstr(f.all, "trigger ledger_no_update is missing"));
    tu_stop(h, 1);
}

static void an_over_reversal_is_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    corrupt(h, "DROP TRIGGER ledger_reversal_bounded;"
               "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, reverses,"
               " time_ms, recorded_ms) SELECT member_id, location, terminal, 'F-X', 'reversal',"
               " -100, id, 0, 0 FROM ledger WHERE receipt = 'R-1' AND kind = 'earn';");
    found f;
    tp_verify_result r;
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_non_null(strstr(f.all, "were reversed"));
    assert_non_null(strstr(f.all, "negative balance"));
    tu_stop(h, 1);
}

static void an_earn_without_its_receipt_and_a_double_earn_are_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    corrupt(h, "PRAGMA foreign_keys = OFF;"
               "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points,"
               " time_ms, recorded_ms) VALUES(1, 'store-1', 't', 'GHOST', 'earn', 9, 0, 0);"
               "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points,"
               " time_ms, recorded_ms) VALUES(1, 'store-1', 't', 'R-2', 'retro', 9, 0, 0);");
    found f;
    tp_verify_result r;
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_non_null(strstr(f.all, "receipt GHOST has no matching journal row"));
    assert_non_null(strstr(f.all, "receipt store-1/R-2 earned 2 times"));
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_clean_database_verifies),
        cmocka_unit_test(a_dropped_trigger_and_a_rewritten_entry_are_caught),
        cmocka_unit_test(an_over_reversal_is_caught),
        cmocka_unit_test(an_earn_without_its_receipt_and_a_double_earn_are_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
