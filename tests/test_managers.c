/*
 * Unit tests for plugin/managers.c, on real SQLite files.
 *
 * Argon2id runs at the production INTERACTIVE limits (64 MiB, ~0.1-0.5 s
 * per hash or verification), so each test keeps its count of hashing calls
 * small; malformed PINs and locked managers cost no hashing at all.
 */
#include <sodium.h>
#include <sqlite3.h>

#include "testutil.h"

#include "managers.h"
#include "store.h"
#include "util.h"

#define PIN "73914682"
#define OTHER_PIN "55512340"

typedef struct fixture {
    char dir[256];
    char path[300];
    tp_store *s;
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

/* Each call is one transaction, committed whatever the outcome, as the
 * retroactive-credit dialog does so that failures and lockouts persist. */
static tp_status add(fixture *f, const char *id, const char *pin, tp_message *msg)
{
    tp_message m;
    assert_int_equal(tp_store_begin(f->s, &m), TP_OK);
    tp_status st = tp_manager_add(f->s, id, "Anna Berg", pin, 1000, msg);
    assert_int_equal(tp_store_commit(f->s, &m), TP_OK);
    return st;
}

static tp_status verify(fixture *f, const tp_manager_policy *p, const char *id,
                        const char *pin, int64_t now, int *locked_now, tp_message *msg)
{
    tp_message m;
    assert_int_equal(tp_store_begin(f->s, &m), TP_OK);
    tp_status st = tp_manager_verify(f->s, p, id, pin, now, locked_now, msg);
    assert_int_equal(tp_store_commit(f->s, &m), TP_OK);
    if (pin && strlen(pin) >= 8)
        assert_null(strstr(msg->text, pin));
    return st;
}

static tp_status reset_pin(fixture *f, const char *id, const char *pin, int64_t now,
                           tp_message *msg)
{
    tp_message m;
    assert_int_equal(tp_store_begin(f->s, &m), TP_OK);
    tp_status st = tp_manager_reset_pin(f->s, id, pin, now, msg);
    assert_int_equal(tp_store_commit(f->s, &m), TP_OK);
    return st;
}

static tp_manager_row row_of(fixture *f, const char *id)
{
    tp_manager_row rows[8];
    size_t n = 0;
    tp_message msg;
    assert_int_equal(tp_manager_list(f->s, rows, 8, &n, &msg), TP_OK);
    for (size_t i = 0; i < n && i < 8; i++)
        if (strcmp(rows[i].id, id) == 0)
            return rows[i];
    fail_msg("manager %s not listed", id);
    return rows[0];
}

static int64_t utc(const char *text)
{
    int64_t ms = 0;
    assert_int_equal(tp_parse_utc(text, &ms), 0);
    return ms;
}

static void reopen(fixture *f)
{
    tp_store_close(f->s);
    f->s = NULL;
    tp_message msg;
    assert_int_equal(tp_store_open(f->path, &f->s, &msg), TP_OK);
}

static const tp_manager_policy five_in_30_min = {5, 30 * 60 * 1000LL};

static void right_pin_is_accepted_and_wrong_pin_counts_a_failure(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = -1;
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(verify(f, &five_in_30_min, "anna", PIN, 2000, &locked, &msg), TP_OK);
    assert_int_equal(locked, 0);
    assert_int_equal(verify(f, &five_in_30_min, "anna", OTHER_PIN, 3000, &locked, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(locked, 0);
    assert_non_null(strstr(msg.text, "Wrong PIN for manager anna; 4 more wrong PINs"));
    tp_manager_row r = row_of(f, "anna");
    assert_int_equal(r.failures, 1);
    assert_int_equal(r.locked_until_ms, 0);
    assert_string_equal(r.name, "Anna Berg");
    assert_int_equal(r.created_ms, 1000);
}

static void five_wrong_pins_lock_the_manager_across_a_restart(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    int64_t now = utc("2024-05-02T14:05:00Z");
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(verify(f, &five_in_30_min, "anna", OTHER_PIN, now + i, &locked, &msg),
                         TP_ERR_INVALID_ARGUMENT);
        assert_int_equal(locked, 0);
    }
    assert_int_equal(verify(f, &five_in_30_min, "anna", OTHER_PIN, now, &locked, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(locked, 1);
    assert_non_null(strstr(msg.text, "now locked until 14:35 UTC after 5 wrong PINs"));

    reopen(f);
    tp_manager_row r = row_of(f, "anna");
    assert_int_equal(r.failures, 5);
    assert_int_equal(r.locked_until_ms, now + 30 * 60 * 1000LL);

    /* Even the right PIN is refused, without being checked. */
    assert_int_equal(verify(f, &five_in_30_min, "anna", PIN, now + 60000, &locked, &msg),
                     TP_ERR_STATE);
    assert_int_equal(locked, 0);
    assert_string_equal(msg.text,
                        "Manager anna is locked until 14:35 UTC after 5 wrong PINs; another "
                        "manager can approve, or reset the PIN with tillpoints manager "
                        "reset-pin.");
    assert_int_equal(row_of(f, "anna").failures, 5);
}

static void lockout_on_another_day_names_the_date(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    int64_t now = utc("2024-05-02T23:50:00Z");
    tp_manager_policy one = {1, 30 * 60 * 1000LL};
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(verify(f, &one, "anna", OTHER_PIN, now, &locked, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(locked, 1);
    assert_int_equal(verify(f, &one, "anna", PIN, now + 1, &locked, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "locked until 2024-05-03 00:20 UTC after 1 wrong PINs"));
}

static void expired_lockout_gives_a_fresh_run_of_attempts(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    tp_manager_policy two = {2, 60000};
    int64_t now = utc("2024-05-02T10:00:00Z");
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    verify(f, &two, "anna", OTHER_PIN, now, &locked, &msg);
    assert_int_equal(verify(f, &two, "anna", OTHER_PIN, now, &locked, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(locked, 1);
    int64_t until = row_of(f, "anna").locked_until_ms;
    assert_int_equal(until, now + 60000);
    assert_int_equal(verify(f, &two, "anna", PIN, until - 1, &locked, &msg), TP_ERR_STATE);

    /* At the end of the lockout the counter starts again from 0: one wrong
     * PIN does not re-lock a manager who is allowed two. */
    assert_int_equal(verify(f, &two, "anna", OTHER_PIN, until, &locked, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(locked, 0);
    tp_manager_row r = row_of(f, "anna");
    assert_int_equal(r.failures, 1);
    assert_int_equal(r.locked_until_ms, 0);

    assert_int_equal(verify(f, &two, "anna", PIN, until + 1, &locked, &msg), TP_OK);
    assert_int_equal(row_of(f, "anna").failures, 0);
}

static void reset_pin_clears_the_lockout_and_replaces_the_pin(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    tp_manager_policy one = {1, 30 * 60 * 1000LL};
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(verify(f, &one, "anna", OTHER_PIN, 5000, &locked, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(locked, 1);
    assert_int_equal(reset_pin(f, "anna", OTHER_PIN, 6000, &msg), TP_OK);
    tp_manager_row r = row_of(f, "anna");
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.locked_until_ms, 0);
    assert_int_equal(verify(f, &one, "anna", OTHER_PIN, 7000, &locked, &msg), TP_OK);
    assert_int_equal(reset_pin(f, "nobody", PIN, 6000, &msg), TP_ERR_NOT_FOUND);
    assert_int_equal(reset_pin(f, "anna", "12", 6000, &msg), TP_ERR_INVALID_ARGUMENT);
}

static void duplicate_manager_id_is_refused(void **state)
{
    fixture *f = *state;
    tp_message msg;
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(add(f, "anna", OTHER_PIN, &msg), TP_ERR_DUPLICATE);
    assert_string_equal(msg.text, "There is already a manager with the id anna.");
    size_t n = 0;
    assert_int_equal(tp_manager_list(f->s, NULL, 0, &n, &msg), TP_OK);
    assert_int_equal(n, 1);
}

static void pins_must_be_4_to_12_digits(void **state)
{
    fixture *f = *state;
    tp_message msg;
    const char *bad[] = {NULL, "", "123", "1234567890123", "12a4", " 1234", "1234 ",
                         "12-34", "١٢٣٤"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tp_manager_check_pin_format(bad[i], &msg), TP_ERR_INVALID_ARGUMENT);
        assert_string_equal(msg.text, "A PIN is 4 to 12 digits (0-9), nothing else.");
        assert_int_equal(add(f, "anna", bad[i], &msg), TP_ERR_INVALID_ARGUMENT);
    }
    assert_int_equal(tp_manager_check_pin_format("0000", &msg), TP_OK);
    assert_int_equal(tp_manager_check_pin_format("123456789012", &msg), TP_OK);
    size_t n = 9;
    assert_int_equal(tp_manager_list(f->s, NULL, 0, &n, &msg), TP_OK);
    assert_int_equal(n, 0);
}

static void malformed_pin_counts_as_a_wrong_pin(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    tp_manager_policy two = {2, 60000};
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(verify(f, &two, "anna", "12", 10, &locked, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(verify(f, &two, "anna", NULL, 11, &locked, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(locked, 1);
    assert_int_equal(row_of(f, "anna").locked_until_ms, 11 + 60000);
}

static void unknown_or_invalid_manager_is_not_found(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    assert_int_equal(verify(f, NULL, "nobody", PIN, 10, &locked, &msg), TP_ERR_NOT_FOUND);
    assert_string_equal(msg.text, "There is no manager with the id nobody.");
    assert_int_equal(verify(f, NULL, NULL, PIN, 10, &locked, &msg), TP_ERR_NOT_FOUND);
    assert_int_equal(verify(f, NULL, "", PIN, 10, &locked, &msg), TP_ERR_NOT_FOUND);
    char long_id[TP_MANAGER_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(verify(f, NULL, long_id, PIN, 10, &locked, &msg), TP_ERR_NOT_FOUND);
    assert_int_equal(add(f, long_id, PIN, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(add(f, "tab\there", PIN, &msg), TP_ERR_INVALID_ARGUMENT);
}

static void list_is_ordered_by_id_and_counts_beyond_capacity(void **state)
{
    fixture *f = *state;
    tp_message msg;
    /* Rows inserted directly: this test is about listing, not hashing. */
    sqlite3 *db = tp_store_db(f->s);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO managers(id, name, pin_hash, created_ms,"
                                  " updated_ms) VALUES('carl', 'C', '$argon2id$x', 3, 3),"
                                  " ('anna', 'A', '$argon2id$x', 1, 1),"
                                  " ('bert', 'B', '$argon2id$x', 2, 2)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    tp_manager_row rows[2];
    size_t n = 0;
    assert_int_equal(tp_manager_list(f->s, rows, 2, &n, &msg), TP_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].id, "anna");
    assert_string_equal(rows[1].id, "bert");
    assert_int_equal(rows[1].created_ms, 2);
}

static void damaged_pin_hash_is_a_storage_error_not_a_failure(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    sqlite3 *db = tp_store_db(f->s);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO managers(id, pin_hash, created_ms, updated_ms)"
                                  " VALUES('anna', 'plaintext?', 1, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(verify(f, NULL, "anna", PIN, 10, &locked, &msg), TP_ERR_STORAGE);
    assert_non_null(strstr(msg.text, "reset-pin"));
    assert_int_equal(row_of(f, "anna").failures, 0);
}

/* Non-zero when `needle` occurs in the file at `path` (missing file: 0). */
static int file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    assert_true(feof(fp));
    fclose(fp);
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(buf + i, needle, k) == 0)
            return 1;
    return 0;
}

static void pin_is_stored_only_as_an_argon2id_hash(void **state)
{
    fixture *f = *state;
    tp_message msg;
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(tp_store_db(f->s),
                                        "SELECT pin_hash FROM managers WHERE id = 'anna'", -1,
                                        &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    char hash[crypto_pwhash_STRBYTES];
    snprintf(hash, sizeof hash, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    assert_int_equal(strncmp(hash, "$argon2id$v=19$m=65536,t=2,p=1$", 31), 0);
    assert_null(strstr(hash, PIN));

    /* Neither the WAL nor, after the checkpoint on close, the database
     * file holds the PIN; the hash itself is there. */
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_false(file_contains(wal, PIN));
    tp_store_close(f->s);
    f->s = NULL;
    assert_true(file_contains(f->path, hash) || file_contains(wal, hash));
    assert_false(file_contains(f->path, PIN));
    assert_false(file_contains(wal, PIN));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(right_pin_is_accepted_and_wrong_pin_counts_a_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(five_wrong_pins_lock_the_manager_across_a_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(lockout_on_another_day_names_the_date, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_lockout_gives_a_fresh_run_of_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_pin_clears_the_lockout_and_replaces_the_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_manager_id_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(pins_must_be_4_to_12_digits, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_pin_counts_as_a_wrong_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_or_invalid_manager_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(list_is_ordered_by_id_and_counts_beyond_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_pin_hash_is_a_storage_error_not_a_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(pin_is_stored_only_as_an_argon2id_hash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
