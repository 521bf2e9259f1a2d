/* Unit tests for plugin/store.c, on real SQLite files. */
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "config.h"
#include "store.h"

typedef struct fixture {
    char dir[256];
    char path[300];
    tp_config cfg;
    tp_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tu_mkdtemp(f->dir, sizeof f->dir);
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    tp_message msg;
    assert_int_equal(tp_config_load(&f->cfg, NULL, &msg), TP_OK);
    assert_int_equal(tp_store_open(f->path, &f->s, &msg), TP_OK);
    assert_int_equal(tp_store_add_member(f->s, "M1", "Ann", NULL, NULL, NULL, 1, &msg), TP_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tp_store_close(f->s);
    tu_rmdir(f->dir);
    free(f);
    return 0;
}

static tp_award_job award(const char *receipt, const char *code, int64_t eligible,
                          int64_t points)
{
    tp_award_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.txn, sizeof j.txn, "%s", receipt);
    snprintf(j.receipt, sizeof j.receipt, "%s", receipt);
    snprintf(j.code, sizeof j.code, "%s", code);
    snprintf(j.currency, sizeof j.currency, "EUR");
    j.time_ms = 1700000000000LL;
    j.total_minor = eligible;
    j.eligible_minor = eligible;
    j.points = points;
    j.line_count = 1;
    return j;
}

static tp_outcome apply_award(fixture *f, tp_award_job j)
{
    tp_outcome o;
    tp_message msg;
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    assert_int_equal(tp_store_apply_award(f->s, &f->cfg, NULL, &j, &o), TP_OK);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    return o;
}

static tp_outcome apply_refund(fixture *f, const char *refund, const char *receipt,
                               int64_t amount, int full)
{
    tp_refund_job j;
    memset(&j, 0, sizeof j);
    snprintf(j.refund, sizeof j.refund, "%s", refund);
    snprintf(j.receipt, sizeof j.receipt, "%s", receipt);
    snprintf(j.currency, sizeof j.currency, "EUR");
    j.amount_minor = amount;
    j.full = full;
    j.time_ms = 1700000000000LL;
    tp_outcome o;
    tp_message msg;
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    assert_int_equal(tp_store_apply_refund(f->s, &f->cfg, NULL, &j, &o), TP_OK);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    return o;
}

static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void new_database_is_private_wal_and_at_the_current_schema(void **state)
{
    fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(query_int(f->path, "PRAGMA user_version"), TP_SCHEMA_VERSION);
    sqlite3 *db;
    sqlite3_open(f->path, &db);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void database_from_a_newer_version_is_refused(void **state)
{
    fixture *f = *state;
    char path[300];
    snprintf(path, sizeof path, "%s/new.db", f->dir);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    tp_store *s = NULL;
    tp_message msg;
    assert_int_equal(tp_store_open(path, &s, &msg), TP_ERR_VERSION);
    assert_null(s);
    char want[64];
    snprintf(want, sizeof want, "(schema 99; this one knows %d)", TP_SCHEMA_VERSION);
    assert_non_null(strstr(msg.text, "newer tillpoints"));
    assert_non_null(strstr(msg.text, want));
}

static void award_journals_the_receipt_and_credits_the_member(void **state)
{
    fixture *f = *state;
    tp_outcome o = apply_award(f, award("R1", "M1", 1234, 12));
    assert_int_equal(o.kind, TP_EVENT_AWARD_COMMITTED);
    assert_int_equal(o.status, TP_OK);
    assert_int_equal(o.points, 12);
    assert_int_equal(o.balance, 12);
    assert_string_equal(o.member_name, "Ann");
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM receipts"), 1);
    assert_int_equal(query_int(f->path, "SELECT points FROM ledger WHERE kind='earn'"), 12);
}

static void replayed_receipt_is_recognised_and_not_credited_twice(void **state)
{
    fixture *f = *state;
    apply_award(f, award("R1", "M1", 1234, 12));
    tp_outcome o = apply_award(f, award("R1", "M1", 1234, 12));
    assert_int_equal(o.kind, TP_EVENT_AWARD_COMMITTED);
    assert_true(o.replayed);
    assert_int_equal(o.points, 12);
    assert_int_equal(o.balance, 12);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM ledger"), 1);
    /* Same receipt number, different content: refused, nothing changes. */
    o = apply_award(f, award("R1", "M1", 9999, 99));
    assert_int_equal(o.kind, TP_EVENT_AWARD_FAILED);
    assert_int_equal(o.status, TP_ERR_DUPLICATE);
    assert_int_equal(query_int(f->path, "SELECT sum(points) FROM ledger"), 12);
}

static void unknown_member_is_journaled_without_points(void **state)
{
    fixture *f = *state;
    tp_outcome o = apply_award(f, award("R2", "NOPE", 500, 5));
    assert_int_equal(o.kind, TP_EVENT_AWARD_COMMITTED);
    assert_int_equal(o.status, TP_ERR_NOT_FOUND);
    assert_non_null(strstr(o.message, "no member has the code NOPE"));
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM receipts"), 1);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM ledger"), 0);
}

static void refunds_reverse_in_proportion_and_never_beyond_the_sale(void **state)
{
    fixture *f = *state;
    apply_award(f, award("R3", "M1", 2799, 27));
    tp_outcome o = apply_refund(f, "F1", "R3", 1000, 0); /* 17.99 left: keep 17 */
    assert_int_equal(o.kind, TP_EVENT_REFUND_COMMITTED);
    assert_int_equal(o.points, -10);
    assert_int_equal(o.balance, 17);
    o = apply_refund(f, "F2", "R3", 1800, 0); /* only 17.99 left */
    assert_int_equal(o.kind, TP_EVENT_REFUND_FAILED);
    assert_int_equal(o.status, TP_ERR_INVALID_ARGUMENT);
    o = apply_refund(f, "F1", "R3", 1000, 0); /* replay */
    assert_true(o.replayed);
    assert_int_equal(o.points, -10);
    o = apply_refund(f, "F3", "R3", 0, 1); /* the rest */
    assert_int_equal(o.points, -17);
    assert_int_equal(o.balance, 0);
    o = apply_refund(f, "F4", "R3", 0, 1);
    assert_int_equal(o.kind, TP_EVENT_REFUND_FAILED);
    assert_int_equal(o.status, TP_ERR_STATE);
    o = apply_refund(f, "F5", "NO-SUCH", 100, 0);
    assert_int_equal(o.status, TP_ERR_NOT_FOUND);
    assert_int_equal(query_int(f->path, "SELECT sum(points) FROM ledger"), 0);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM refunds"), 2);
}

static void ledger_and_journal_refuse_update_and_delete(void **state)
{
    fixture *f = *state;
    apply_award(f, award("R4", "M1", 500, 5));
    sqlite3 *db;
    sqlite3_open(f->path, &db);
    const char *attacks[] = {
        "UPDATE ledger SET points = 500",
        "DELETE FROM ledger",
        "UPDATE receipts SET total_minor = 1",
        "DELETE FROM receipts",
        /* A reversal larger than the entry it reverses. */
        "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, reverses,"
        " time_ms, recorded_ms) VALUES(1, 'store-1', 't', 'X', 'reversal', -6, 1, 0, 0)",
        /* A reversal without an original. */
        "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points,"
        " time_ms, recorded_ms) VALUES(1, 'store-1', 't', 'Y', 'reversal', -1, 0, 0)",
        /* The same receipt earning twice. */
        "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points,"
        " time_ms, recorded_ms) VALUES(1, 'store-1', 't', 'R4', 'earn', 5, 0, 0)",
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++)
        if (sqlite3_exec(db, attacks[i], NULL, NULL, NULL) == SQLITE_OK)
            fail_msg("the schema allowed: %s", attacks[i]);
    sqlite3_close(db);
    assert_int_equal(query_int(f->path, "SELECT sum(points) FROM ledger"), 5);
}

static void duplicate_member_code_is_refused(void **state)
{
    fixture *f = *state;
    tp_message msg;
    assert_int_equal(tp_store_add_member(f->s, "M1", "Other", NULL, NULL, NULL, 1, &msg),
                     TP_ERR_DUPLICATE);
    assert_non_null(strstr(msg.text, "already used"));
    tp_member_row row;
    assert_int_equal(tp_store_find_member(f->s, "M1", &row, &msg), TP_OK);
    assert_string_equal(row.name, "Ann");
    assert_int_equal(tp_store_find_member(f->s, "M9", &row, &msg), TP_ERR_NOT_FOUND);
}

static void data_survives_reopening(void **state)
{
    fixture *f = *state;
    apply_award(f, award("R5", "M1", 700, 7));
    tp_store_close(f->s);
    tp_message msg;
    assert_int_equal(tp_store_open(f->path, &f->s, &msg), TP_OK);
    tp_member_row row;
    assert_int_equal(tp_store_find_member(f->s, "M1", &row, &msg), TP_OK);
    assert_int_equal(row.balance, 7);
}

/* Processes that open the same new database at the same moment (a till and
 * the manager's CLI started together) all start: each migration step reads
 * the schema version inside its write transaction, so the second process
 * finds the step done instead of running it again. Rounds of PROCS
 * children released together by one byte on a pipe; each reports its
 * status as its exit code. */
static void processes_opening_a_new_database_at_once_all_start(void **state)
{
    enum { ROUNDS = 20, PROCS = 4 };
    fixture *f = *state;
    for (int round = 0; round < ROUNDS; round++) {
        char path[340];
        snprintf(path, sizeof path, "%s/race-%d.db", f->dir, round);
        int gate[2];
        assert_int_equal(pipe(gate), 0);
        pid_t kids[PROCS];
        for (int k = 0; k < PROCS; k++) {
            kids[k] = fork();
            assert_true(kids[k] >= 0);
            if (kids[k] == 0) {
                close(gate[1]);
                char go;
                if (read(gate[0], &go, 1) != 1)
                    _exit(100);
                tp_store *st = NULL;
                tp_message m;
                tp_status rc = tp_store_open(path, &st, &m);
                if (rc != TP_OK)
                    fprintf(stderr, "round %d: %s\n", round, m.text);
                tp_store_close(st);
                _exit((int)rc);
            }
        }
        close(gate[0]);
        char go[PROCS] = {0};
        assert_int_equal(write(gate[1], go, PROCS), PROCS);
        close(gate[1]);
        for (int k = 0; k < PROCS; k++) {
            int ws = 0;
            assert_int_equal(waitpid(kids[k], &ws, 0), kids[k]);
            assert_true(WIFEXITED(ws));
            assert_int_equal(WEXITSTATUS(ws), TP_OK);
        }
        tp_store *st = NULL;
        tp_message m;
        assert_int_equal(tp_store_open(path, &st, &m), TP_OK);
        tp_store_close(st);
        assert_int_equal(query_int(path, "PRAGMA user_version"),
                         query_int(f->path, "PRAGMA user_version"));
        assert_int_equal(query_int(path, "SELECT count(*) FROM audit"), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_database_is_private_wal_and_at_the_current_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(database_from_a_newer_version_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(award_journals_the_receipt_and_credits_the_member, setup, teardown),
        cmocka_unit_test_setup_teardown(replayed_receipt_is_recognised_and_not_credited_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_member_is_journaled_without_points, setup, teardown),
        cmocka_unit_test_setup_teardown(refunds_reverse_in_proportion_and_never_beyond_the_sale, setup, teardown),
        cmocka_unit_test_setup_teardown(ledger_and_journal_refuse_update_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_member_code_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(data_survives_reopening, setup, teardown),
        cmocka_unit_test_setup_teardown(processes_opening_a_new_database_at_once_all_start, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
