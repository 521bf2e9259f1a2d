/*
 * Unit tests for plugin/managers.c, on real SQLite files.
 *
 * Argon2id runs at the production INTERACTIVE limits (64 MiB, ~0.1-0.5 s
 * per hash or verification), so each test keeps its count of hashing calls
 * small; malformed PINs and locked managers cost no hashing at all. What a
 * check costs is read from tp_manager_hash_runs(), the plugin's count of
 * Argon2id verifications, never from a clock.
 */
#include <sodium.h>
#include <sqlite3.h>

#include "testutil.h"

#include "managers.h"
#include "store.h"
#include "util.h"

#define PIN "73914682"
#define OTHER_PIN "55512340"
#define WRONG_5 "Wrong manager id or PIN; after 5 wrong PINs in a row a manager is locked."

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

/* Each call is one transaction, committed whatever the outcome. The
 * PIN policy is the default (6 to 12 digits) unless said. */
static tp_status add_min(fixture *f, const char *id, const char *pin, int min_digits,
                         tp_message *msg)
{
    tp_message m;
    char hash[TP_PIN_HASH_MAX];
    tp_status st = tp_manager_hash_new_pin(pin, min_digits, hash, msg);
    if (st != TP_OK)
        return st;
    assert_int_equal(tp_store_begin(f->s, &m), TP_OK);
    st = tp_manager_add(f->s, id, "Anna Berg", hash, 1000, msg);
    assert_int_equal(tp_store_commit(f->s, &m), TP_OK);
    return st;
}

static tp_status add(fixture *f, const char *id, const char *pin, tp_message *msg)
{
    return add_min(f, id, pin, 0, msg);
}

/* tp_manager_verify hashes first and records in a transaction of its own,
 * as the retro dialog does. */
static tp_status verify(fixture *f, const tp_manager_policy *p, const char *id,
                        const char *pin, int64_t now, int *locked_now, tp_message *msg)
{
    tp_status st = tp_manager_verify(f->s, p, id, pin, now, locked_now, msg);
    if (pin && strlen(pin) >= 6)
        assert_null(strstr(msg->text, pin));
    return st;
}

static tp_status reset_pin(fixture *f, const char *id, const char *pin, int64_t now,
                           tp_message *msg)
{
    tp_message m;
    char hash[TP_PIN_HASH_MAX];
    tp_status st = tp_manager_hash_new_pin(pin, 0, hash, msg);
    if (st != TP_OK)
        return st;
    assert_int_equal(tp_store_begin(f->s, &m), TP_OK);
    st = tp_manager_reset_pin(f->s, id, hash, now, msg);
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

static const tp_manager_policy five_in_30_min = {5, 30 * 60 * 1000LL, 0};

static void right_pin_is_accepted_and_wrong_pin_counts_a_failure(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = -1;
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(verify(f, &five_in_30_min, "anna", PIN, 2000, &locked, &msg), TP_OK);
    assert_int_equal(locked, 0);
    assert_int_equal(verify(f, &five_in_30_min, "anna", OTHER_PIN, 3000, &locked, &msg),
                     TP_ERR_WRONG_PIN);
    assert_int_equal(locked, 0);
    assert_string_equal(msg.text, WRONG_5);
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
                         TP_ERR_WRONG_PIN);
        assert_int_equal(locked, 0);
    }
    assert_int_equal(verify(f, &five_in_30_min, "anna", OTHER_PIN, now, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
    assert_int_equal(locked, 1);
    assert_non_null(strstr(msg.text, "now locked until 14:35 UTC after 5 wrong PINs"));

    reopen(f);
    tp_manager_row r = row_of(f, "anna");
    assert_int_equal(r.failures, 5);
    assert_int_equal(r.locked_until_ms, now + 30 * 60 * 1000LL);

    /* Even the right PIN is refused, without being checked. */
    assert_int_equal(verify(f, &five_in_30_min, "anna", PIN, now + 60000, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
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
    tp_manager_policy one = {1, 30 * 60 * 1000LL, 0};
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(verify(f, &one, "anna", OTHER_PIN, now, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
    assert_int_equal(locked, 1);
    assert_int_equal(verify(f, &one, "anna", PIN, now + 1, &locked, &msg), TP_ERR_LOCKED_OUT);
    assert_non_null(strstr(msg.text, "locked until 2024-05-03 00:20 UTC after 1 wrong PINs"));
}

static void each_further_lockout_lasts_twice_as_long(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    tp_manager_policy two = {2, 60000, 0};
    int64_t now = utc("2024-05-02T10:00:00Z");
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    verify(f, &two, "anna", OTHER_PIN, now, &locked, &msg);
    assert_int_equal(verify(f, &two, "anna", OTHER_PIN, now, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
    assert_int_equal(locked, 1);
    int64_t until = row_of(f, "anna").locked_until_ms;
    assert_int_equal(until, now + 60000);
    assert_int_equal(verify(f, &two, "anna", PIN, until - 1, &locked, &msg), TP_ERR_LOCKED_OUT);

    /* The counter is not reset when the lockout ends: the next
     * max_failures wrong PINs lock again, for twice as long. */
    assert_int_equal(verify(f, &two, "anna", OTHER_PIN, until, &locked, &msg),
                     TP_ERR_WRONG_PIN);
    assert_int_equal(locked, 0);
    assert_int_equal(row_of(f, "anna").failures, 3);
    assert_int_equal(verify(f, &two, "anna", OTHER_PIN, until + 1, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
    assert_int_equal(locked, 1);
    tp_manager_row r = row_of(f, "anna");
    assert_int_equal(r.failures, 4);
    assert_int_equal(r.locked_until_ms, until + 1 + 120000);
    until = r.locked_until_ms;
    verify(f, &two, "anna", OTHER_PIN, until, &locked, &msg);
    assert_int_equal(verify(f, &two, "anna", OTHER_PIN, until, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
    assert_int_equal(row_of(f, "anna").locked_until_ms, until + 240000);
    until += 240000;

    /* A right PIN clears it all: the next lockout is a short one again. */
    assert_int_equal(verify(f, &two, "anna", PIN, until, &locked, &msg), TP_OK);
    r = row_of(f, "anna");
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.locked_until_ms, 0);
    verify(f, &two, "anna", OTHER_PIN, until, &locked, &msg);
    verify(f, &two, "anna", OTHER_PIN, until, &locked, &msg);
    assert_int_equal(locked, 1);
    assert_int_equal(row_of(f, "anna").locked_until_ms, until + 60000);
}

static void growing_lockouts_stop_at_a_day(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    tp_manager_policy hourly = {1, 3600000, 0};
    int64_t now = utc("2024-05-02T10:00:00Z");
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    /* 1, 2, 4, 8, 16 hours, then 24 hours each time. */
    const int64_t hours[] = {1, 2, 4, 8, 16, 24, 24};
    for (size_t i = 0; i < sizeof hours / sizeof hours[0]; i++) {
        assert_int_equal(verify(f, &hourly, "anna", OTHER_PIN, now, &locked, &msg),
                         TP_ERR_LOCKED_OUT);
        assert_int_equal(locked, 1);
        int64_t until = row_of(f, "anna").locked_until_ms;
        assert_int_equal(until - now, hours[i] * 3600000);
        now = until;
    }
    /* A configured first lockout longer than a day is the cap itself. */
    tp_manager_policy weekly = {1, 7 * 86400000LL, 0};
    assert_int_equal(verify(f, &weekly, "anna", OTHER_PIN, now, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
    assert_int_equal(row_of(f, "anna").locked_until_ms - now, 7 * 86400000LL);
}

static void reset_pin_clears_the_lockout_and_replaces_the_pin(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    tp_manager_policy one = {1, 30 * 60 * 1000LL, 0};
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(verify(f, &one, "anna", OTHER_PIN, 5000, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
    assert_int_equal(locked, 1);
    assert_int_equal(reset_pin(f, "anna", OTHER_PIN, 6000, &msg), TP_OK);
    tp_manager_row r = row_of(f, "anna");
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.locked_until_ms, 0);
    assert_int_equal(verify(f, &one, "anna", OTHER_PIN, 7000, &locked, &msg), TP_OK);
    assert_int_equal(reset_pin(f, "nobody", PIN, 6000, &msg), TP_ERR_NOT_FOUND);
    assert_int_equal(reset_pin(f, "anna", "12", 6000, &msg), TP_ERR_INVALID_ARGUMENT);
    /* Shorter than the policy's 6 digits: refused, the PIN stays. */
    assert_int_equal(reset_pin(f, "anna", "48213", 6000, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(msg.text, "A manager PIN is 6 to 12 digits (0-9), nothing else.");
    assert_int_equal(verify(f, &one, "anna", OTHER_PIN, 7000, &locked, &msg), TP_OK);
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

static void pins_are_6_to_12_digits_by_default_and_never_fewer_than_4(void **state)
{
    fixture *f = *state;
    tp_message msg;
    const char *bad[] = {NULL, "", "123", "12345", "1234567890123", "12a456", " 123456",
                         "123456 ", "123-456", "١٢٣٤٥٦"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tp_manager_check_pin_format(bad[i], 0, &msg), TP_ERR_INVALID_ARGUMENT);
        assert_string_equal(msg.text, "A manager PIN is 6 to 12 digits (0-9), nothing else.");
        assert_int_equal(add(f, "anna", bad[i], &msg), TP_ERR_INVALID_ARGUMENT);
    }
    assert_int_equal(tp_manager_check_pin_format("000000", 0, &msg), TP_OK);
    assert_int_equal(tp_manager_check_pin_format("123456789012", 0, &msg), TP_OK);
    /* A store may allow 4 digits, never fewer. */
    assert_int_equal(tp_manager_check_pin_format("0000", 4, &msg), TP_OK);
    assert_int_equal(tp_manager_check_pin_format("000", 3, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(msg.text, "A manager PIN is 4 to 12 digits (0-9), nothing else.");
    assert_int_equal(tp_manager_check_pin_format("12345678", 8, &msg), TP_OK);
    assert_int_equal(tp_manager_check_pin_format("1234567", 8, &msg), TP_ERR_INVALID_ARGUMENT);
    size_t n = 9;
    assert_int_equal(tp_manager_list(f->s, NULL, 0, &n, &msg), TP_OK);
    assert_int_equal(n, 0);
}

static void malformed_pin_is_refused_for_any_id_before_it_costs_anything(void **state)
{
    fixture *f = *state;
    tp_message msg, other;
    int locked = 0;
    tp_manager_policy two = {2, 60000, 0};
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    uint64_t runs = tp_manager_hash_runs();
    const char *bad[] = {"12", NULL, "12345", "12a4567", "1234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(verify(f, &two, "anna", bad[i], 10, &locked, &msg),
                         TP_ERR_INVALID_ARGUMENT);
        assert_int_equal(verify(f, &two, "nobody", bad[i], 10, &locked, &other),
                         TP_ERR_INVALID_ARGUMENT);
        assert_string_equal(msg.text, other.text);
        assert_int_equal(locked, 0);
    }
    /* It cannot be right, so it is neither hashed nor counted. */
    assert_int_equal(tp_manager_hash_runs(), runs);
    assert_int_equal(row_of(f, "anna").failures, 0);
    assert_int_equal(row_of(f, "anna").locked_until_ms, 0);
}

static void a_pin_shorter_than_a_raised_minimum_must_be_reset(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    /* Set while the store allowed 4 digits. */
    assert_int_equal(add_min(f, "anna", "4711", 4, &msg), TP_OK);
    tp_manager_policy four = {5, 60000, 4}, six = {5, 60000, 6};
    assert_int_equal(verify(f, &six, "anna", "4711", 10, &locked, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(msg.text, "A manager PIN is 6 to 12 digits; a shorter PIN set before "
                                  "must be replaced with tillpoints manager reset-pin.");
    assert_int_equal(row_of(f, "anna").failures, 0);
    /* Under the old policy it still verifies; a reset moves it on. */
    assert_int_equal(verify(f, &four, "anna", "4711", 20, &locked, &msg), TP_OK);
    assert_int_equal(reset_pin(f, "anna", PIN, 30, &msg), TP_OK);
    assert_int_equal(verify(f, &six, "anna", PIN, 40, &locked, &msg), TP_OK);
}

static void unknown_id_answers_like_a_wrong_pin_and_costs_one_hash(void **state)
{
    fixture *f = *state;
    tp_message wrong, unknown;
    int locked = 0;
    assert_int_equal(add(f, "anna", PIN, &wrong), TP_OK);
    uint64_t runs = tp_manager_hash_runs();
    assert_int_equal(verify(f, NULL, "anna", OTHER_PIN, 10, &locked, &wrong),
                     TP_ERR_WRONG_PIN);
    assert_int_equal(tp_manager_hash_runs(), runs + 1);
    assert_string_equal(wrong.text, WRONG_5);

    char long_id[TP_MANAGER_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    const char *ids[] = {"nobody", "ANNA", "anna ", NULL, "", long_id, "tab\there"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        runs = tp_manager_hash_runs();
        /* Even the right PIN of another manager does not help. */
        assert_int_equal(verify(f, NULL, ids[i], i % 2 ? PIN : OTHER_PIN, 10, &locked, &unknown),
                         TP_ERR_WRONG_PIN);
        assert_int_equal(tp_manager_hash_runs(), runs + 1);
        assert_string_equal(unknown.text, wrong.text);
        assert_int_equal(locked, 0);
    }
    assert_int_equal(add(f, long_id, PIN, &unknown), TP_ERR_TOO_LONG);
    assert_non_null(strstr(unknown.text, "The manager id is longer than 64 bytes"));
    assert_int_equal(add(f, "tab\there", PIN, &unknown), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unknown.text, "control characters"));
    assert_int_equal(add(f, "J\xfcrgen", PIN, &unknown), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unknown.text, "The manager id is not valid UTF-8 text"));
}

static void a_locked_manager_costs_no_hash(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    tp_manager_policy one = {1, 60000, 0};
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(verify(f, &one, "anna", OTHER_PIN, 10, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
    uint64_t runs = tp_manager_hash_runs();
    assert_int_equal(verify(f, &one, "anna", PIN, 20, &locked, &msg), TP_ERR_LOCKED_OUT);
    assert_int_equal(tp_manager_hash_runs(), runs);
    assert_int_equal(row_of(f, "anna").failures, 1);
}

/* The hash runs while another connection holds the write lock, as the
 * till's writer does for every sale; only the record needs the lock. */
static void the_hash_runs_without_the_write_lock(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    sqlite3 *writer;
    assert_int_equal(sqlite3_open(f->path, &writer), SQLITE_OK);
    assert_int_equal(sqlite3_exec(writer, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    tp_pin_attempt a;
    assert_int_equal(tp_manager_pin_lookup(f->s, NULL, "anna", PIN, 10, &a, &msg), TP_OK);
    uint64_t runs = tp_manager_hash_runs();
    tp_manager_pin_hash(&a, PIN);
    assert_int_equal(tp_manager_hash_runs(), runs + 1);
    assert_true(a.right);
    assert_int_equal(sqlite3_exec(writer, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(writer);
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    assert_int_equal(tp_manager_pin_record(f->s, NULL, &a, 10, &locked, &msg), TP_OK);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
}

/* Between the hash and the record another till may lock the manager, or
 * the PIN may be reset: the record goes by the state under the lock. */
static void the_record_rechecks_the_lockout_and_the_pin(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    tp_manager_policy one = {1, 60000, 0};
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    tp_pin_attempt a;
    assert_int_equal(tp_manager_pin_lookup(f->s, &one, "anna", PIN, 10, &a, &msg), TP_OK);
    tp_manager_pin_hash(&a, PIN);
    assert_true(a.right);
    /* Meanwhile, elsewhere: a wrong PIN locks anna. */
    assert_int_equal(verify(f, &one, "anna", OTHER_PIN, 11, &locked, &msg),
                     TP_ERR_LOCKED_OUT);
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    assert_int_equal(tp_manager_pin_record(f->s, &one, &a, 12, &locked, &msg), TP_ERR_LOCKED_OUT);
    assert_non_null(strstr(msg.text, "Manager anna is locked until"));
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);

    /* A reset between the hash and the record: type it again. */
    assert_int_equal(reset_pin(f, "anna", PIN, 20, &msg), TP_OK);
    assert_int_equal(tp_manager_pin_lookup(f->s, &one, "anna", PIN, 30, &a, &msg), TP_OK);
    tp_manager_pin_hash(&a, PIN);
    assert_int_equal(reset_pin(f, "anna", OTHER_PIN, 31, &msg), TP_OK);
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    assert_int_equal(tp_manager_pin_record(f->s, &one, &a, 32, &locked, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "was changed while it was being checked"));
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    assert_int_equal(row_of(f, "anna").failures, 0);
}

static void usable_means_enrolled_and_not_locked(void **state)
{
    fixture *f = *state;
    tp_message msg;
    int locked = 0;
    tp_manager_policy one = {1, 60000, 0};
    assert_int_equal(tp_manager_usable(f->s, "anna", 10, &msg), TP_ERR_NOT_FOUND);
    assert_int_equal(add(f, "anna", PIN, &msg), TP_OK);
    assert_int_equal(tp_manager_usable(f->s, "anna", 10, &msg), TP_OK);
    assert_int_equal(tp_manager_usable(f->s, "", 10, &msg), TP_ERR_NOT_FOUND);
    verify(f, &one, "anna", OTHER_PIN, 10, &locked, &msg);
    assert_int_equal(tp_manager_usable(f->s, "anna", 20, &msg), TP_ERR_LOCKED_OUT);
    assert_non_null(strstr(msg.text, "locked until"));
    assert_int_equal(tp_manager_usable(f->s, "anna", 10 + 60000, &msg), TP_OK);
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
        cmocka_unit_test_setup_teardown(each_further_lockout_lasts_twice_as_long, setup, teardown),
        cmocka_unit_test_setup_teardown(growing_lockouts_stop_at_a_day, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_pin_clears_the_lockout_and_replaces_the_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_manager_id_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(pins_are_6_to_12_digits_by_default_and_never_fewer_than_4, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_pin_is_refused_for_any_id_before_it_costs_anything, setup, teardown),
        cmocka_unit_test_setup_teardown(a_pin_shorter_than_a_raised_minimum_must_be_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_id_answers_like_a_wrong_pin_and_costs_one_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(a_locked_manager_costs_no_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(the_hash_runs_without_the_write_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(the_record_rechecks_the_lockout_and_the_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(usable_means_enrolled_and_not_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(list_is_ordered_by_id_and_counts_beyond_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_pin_hash_is_a_storage_error_not_a_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(pin_is_stored_only_as_an_argon2id_hash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
