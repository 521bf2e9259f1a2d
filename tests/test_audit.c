/*
 * Unit tests for plugin/audit.c, on real SQLite files. Tampering goes
 * around the plugin with raw SQL, dropping the append-only triggers first,
 * as someone with the file and the sqlite3 shell would.
 */
#include <sodium.h>
#include <sqlite3.h>

#include "testutil.h"

#include "audit.h"
#include "store.h"

typedef struct fixture {
    char dir[256];
    char path[300];
    tp_store *s;
    int n_problems;
    uint64_t ids[16];
    char sentences[16][TP_MESSAGE_MAX];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tu_mkdtemp(f->dir, sizeof f->dir);
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    tp_message msg;
    assert_int_equal(tp_store_open(f->path, &f->s, &msg), TP_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->s)
        tp_store_close(f->s);
    tu_rmdir(f->dir);
    free(f);
    return 0;
}

static void on_problem(void *user, uint64_t id, const char *sentence)
{
    fixture *f = user;
    if (f->n_problems < 16) {
        f->ids[f->n_problems] = id;
        snprintf(f->sentences[f->n_problems], TP_MESSAGE_MAX, "%s", sentence);
    }
    f->n_problems++;
}

static int64_t verify(fixture *f)
{
    f->n_problems = 0;
    return tp_audit_verify(f->s, on_problem, f);
}

/* Appends `n` records in one transaction, numbered from `first`. */
static void append(fixture *f, int first, int n)
{
    tp_message msg;
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    for (int i = first; i < first + n; i++) {
        char receipt[32], detail[64];
        snprintf(receipt, sizeof receipt, "R-%d", i);
        snprintf(detail, sizeof detail, "record number %d", i);
        tp_audit_entry e = {.time_ms = 1700000000000LL + i,
                            .action = "retro.credit",
                            .actor = "cashier-1",
                            .approver = "anna",
                            .member = "M1",
                            .location = "shop-1",
                            .receipt = receipt,
                            .points = 10 * i,
                            .reason = "missed scan",
                            .detail = detail};
        tp_status st = tp_audit_append(f->s, &e, &msg);
        if (st != TP_OK)
            fail_msg("append: %s", msg.text);
    }
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
}

static void sql(fixture *f, const char *text)
{
    char *err = NULL;
    if (sqlite3_exec(tp_store_db(f->s), text, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", text, err ? err : "?");
}

static void text_of(fixture *f, const char *query, char *out, size_t cap)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(tp_store_db(f->s), query, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
}

/* The documented encoding, written out independently of audit.c. */
static void put(crypto_generichash_state *st, const void *p, size_t n)
{
    crypto_generichash_update(st, p, n);
}

static void put_str(crypto_generichash_state *st, const char *s)
{
    size_t n = strlen(s);
    unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    put(st, len, 4);
    put(st, s, n);
}

static void put_i64(crypto_generichash_state *st, int64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    put(st, b, 8);
}

static void expected_hash(const char *prev, int64_t id, int64_t time_ms, const char *action,
                          const char *actor, const char *approver, const char *member,
                          const char *location, const char *receipt, int64_t points,
                          const char *reason, const char *detail, char out[65])
{
    crypto_generichash_state st;
    unsigned char h[32];
    crypto_generichash_init(&st, NULL, 0, 32);
    put_str(&st, "tillpoints.audit.v1");
    put_str(&st, prev);
    put_i64(&st, id);
    put_i64(&st, time_ms);
    put_str(&st, action);
    put_str(&st, actor);
    put_str(&st, approver);
    put_str(&st, member);
    put_str(&st, location);
    put_str(&st, receipt);
    put_i64(&st, points);
    put_str(&st, reason);
    put_str(&st, detail);
    crypto_generichash_final(&st, h, 32);
    sodium_bin2hex(out, 65, h, 32);
}

static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";

static void appended_records_chain_and_verify_clean(void **state)
{
    fixture *f = *state;
    assert_int_equal(verify(f), 0);
    append(f, 1, 3);
    append(f, 4, 2);
    assert_int_equal(verify(f), 0);
    assert_int_equal(f->n_problems, 0);

    char prev[80], hash[80], want[65];
    text_of(f, "SELECT prev_hash FROM audit WHERE id = 1", prev, sizeof prev);
    assert_string_equal(prev, zeros);
    text_of(f, "SELECT hash FROM audit WHERE id = 1", hash, sizeof hash);
    expected_hash(zeros, 1, 1700000000001LL, "retro.credit", "cashier-1", "anna", "M1",
                  "shop-1", "R-1", 10, "missed scan", "record number 1", want);
    assert_string_equal(hash, want);
    text_of(f, "SELECT prev_hash FROM audit WHERE id = 2", prev, sizeof prev);
    assert_string_equal(prev, hash);
    text_of(f, "SELECT count(*) FROM audit a JOIN audit b ON b.id = a.id + 1"
               " WHERE b.prev_hash = a.hash", hash, sizeof hash);
    assert_string_equal(hash, "4");
}

static void missing_texts_are_stored_empty_and_still_verify(void **state)
{
    fixture *f = *state;
    tp_message msg;
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    tp_audit_entry e = {.time_ms = 5, .action = "pin.failure", .actor = "anna", .points = -3};
    assert_int_equal(tp_audit_append(f->s, &e, &msg), TP_OK);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    char v[80], want[65];
    text_of(f, "SELECT approver || '|' || detail FROM audit", v, sizeof v);
    assert_string_equal(v, "|");
    text_of(f, "SELECT hash FROM audit", v, sizeof v);
    expected_hash(zeros, 1, 5, "pin.failure", "anna", "", "", "", "", -3, "", "", want);
    assert_string_equal(v, want);
    assert_int_equal(verify(f), 0);
}

static void append_outside_a_transaction_or_without_action_is_refused(void **state)
{
    fixture *f = *state;
    tp_message msg;
    tp_audit_entry e = {.time_ms = 5, .action = "retro.credit"};
    assert_int_equal(tp_audit_append(f->s, &e, &msg), TP_ERR_STATE);
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    e.action = "";
    assert_int_equal(tp_audit_append(f->s, &e, &msg), TP_ERR_INVALID_ARGUMENT);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    e.action = "retro.credit";
    e.detail = big;
    assert_int_equal(tp_audit_append(f->s, &e, &msg), TP_ERR_TOO_LONG);
    assert_non_null(strstr(msg.text, "detail"));
    tp_store_rollback(f->s);
    text_of(f, "SELECT count(*) FROM audit", big, sizeof big);
    assert_string_equal(big, "0");
}

static void the_log_refuses_update_and_delete(void **state)
{
    fixture *f = *state;
    append(f, 1, 2);
    sqlite3 *db = tp_store_db(f->s);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET points = 1", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit WHERE id = 1", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_equal(verify(f), 0);
}

static void changed_field_is_detected_with_its_record_id(void **state)
{
    fixture *f = *state;
    append(f, 1, 5);
    sql(f, "DROP TRIGGER audit_no_update; UPDATE audit SET points = 9999 WHERE id = 3");
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->n_problems, 1);
    assert_int_equal(f->ids[0], 3);
    assert_string_equal(f->sentences[0], "Audit record 3 was changed after it was written (its "
                                         "hash does not match its contents).");
}

static void rewritten_record_with_a_fresh_hash_breaks_the_next_link(void **state)
{
    fixture *f = *state;
    append(f, 1, 4);
    char prev[80], update[400], forged[65];
    text_of(f, "SELECT prev_hash FROM audit WHERE id = 2", prev, sizeof prev);
    expected_hash(prev, 2, 1700000000002LL, "retro.credit", "cashier-1", "anna", "M9",
                  "shop-1", "R-2", 20, "missed scan", "record number 2", forged);
    snprintf(update, sizeof update,
             "DROP TRIGGER audit_no_update;"
             " UPDATE audit SET member = 'M9', hash = '%s' WHERE id = 2",
             forged);
    sql(f, update);
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->ids[0], 3);
    assert_string_equal(f->sentences[0], "Audit record 3 does not follow record 2: one of them "
                                         "was replaced, or it was inserted.");
}

static void deleted_middle_record_is_detected(void **state)
{
    fixture *f = *state;
    append(f, 1, 5);
    sql(f, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 3");
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->ids[0], 4);
    assert_string_equal(f->sentences[0], "Audit record 4 does not follow record 2: the records "
                                         "between them were removed, or it was inserted.");
}

static void deleted_first_record_is_detected(void **state)
{
    fixture *f = *state;
    append(f, 1, 3);
    sql(f, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 1");
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->ids[0], 2);
    assert_non_null(strstr(f->sentences[0], "is the first one but does not start the chain"));
}

static void forged_record_with_a_wrong_prev_hash_is_detected(void **state)
{
    fixture *f = *state;
    append(f, 1, 3);
    char prev[65], hash[65], insert[600];
    memset(prev, 'a', 64);
    prev[64] = '\0';
    /* Its own hash is right for its contents; only the link is wrong. */
    expected_hash(prev, 4, 1700000000004LL, "retro.credit", "x", "anna", "M1", "shop-1", "R-4",
                  500, "missed scan", "", hash);
    snprintf(insert, sizeof insert,
             "INSERT INTO audit(id, time_ms, action, actor, approver, member, location,"
             " receipt, points, reason, detail, prev_hash, hash) VALUES(4, 1700000000004,"
             " 'retro.credit', 'x', 'anna', 'M1', 'shop-1', 'R-4', 500, 'missed scan', '',"
             " '%s', '%s')",
             prev, hash);
    sql(f, insert);
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->ids[0], 4);
    assert_string_equal(f->sentences[0], "Audit record 4 does not follow record 3: one of them "
                                         "was replaced, or it was inserted.");
}

static void each_problem_is_reported_once_in_record_order(void **state)
{
    fixture *f = *state;
    append(f, 1, 8);
    sql(f, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"
           " UPDATE audit SET reason = 'typo' WHERE id = 2;"
           " DELETE FROM audit WHERE id = 6");
    assert_int_equal(verify(f), 2);
    assert_int_equal(f->n_problems, 2);
    assert_int_equal(f->ids[0], 2);
    assert_non_null(strstr(f->sentences[0], "record 2 was changed"));
    assert_int_equal(f->ids[1], 7);
    assert_non_null(strstr(f->sentences[1], "record 7 does not follow record 5"));
}

static void chain_continues_across_reopening(void **state)
{
    fixture *f = *state;
    append(f, 1, 3);
    tp_store_close(f->s);
    f->s = NULL;
    tp_message msg;
    assert_int_equal(tp_store_open(f->path, &f->s, &msg), TP_OK);
    append(f, 4, 2);
    assert_int_equal(verify(f), 0);
    char a[80], b[80];
    text_of(f, "SELECT hash FROM audit WHERE id = 3", a, sizeof a);
    text_of(f, "SELECT prev_hash FROM audit WHERE id = 4", b, sizeof b);
    assert_string_equal(a, b);
    text_of(f, "SELECT max(id) FROM audit", a, sizeof a);
    assert_string_equal(a, "5");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(appended_records_chain_and_verify_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_texts_are_stored_empty_and_still_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(append_outside_a_transaction_or_without_action_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(the_log_refuses_update_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_field_is_detected_with_its_record_id, setup, teardown),
        cmocka_unit_test_setup_teardown(rewritten_record_with_a_fresh_hash_breaks_the_next_link, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_middle_record_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_first_record_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_record_with_a_wrong_prev_hash_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(each_problem_is_reported_once_in_record_order, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_continues_across_reopening, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
