/*
 * managers.c — managers who approve retroactive credits (see managers.h).
 *
 * PINs are 4 to 12 digits and are stored only as Argon2id strings from
 * libsodium's crypto_pwhash_str_alg at the INTERACTIVE limits (64 MiB,
 * roughly 0.1 to 0.5 s per hash or verification). That cost is paid when a
 * manager approves something, never on the checkout path. The PIN itself is
 * never copied, stored, logged or put in a message: it is read in place by
 * the format check and by libsodium, so there is no copy to wipe.
 *
 * The failure counter and the lockout live in the managers table, so a
 * restart changes nothing:
 *  - a locked manager (locked_until_ms > now) is refused with TP_ERR_STATE
 *    before the PIN is looked at, so guessing during a lockout costs
 *    nothing and teaches nothing;
 *  - a wrong PIN adds one failure; the one that reaches max_failures sets
 *    locked_until_ms = now + lockout_ms;
 *  - once a lockout has expired, the counter starts again from 0: the
 *    manager has max_failures fresh attempts, so guessing is held to
 *    max_failures tries per lockout period (5 per 30 min by default);
 *  - a right PIN, or a PIN reset, clears the counter and any lockout.
 * A malformed PIN (wrong length, not digits) for an existing, unlocked
 * manager counts as a wrong PIN — the header promises that
 * TP_ERR_INVALID_ARGUMENT from tp_manager_verify means the counter went up —
 * but costs no Argon2id run, since it cannot be right.
 *
 * Every function runs on the caller's connection inside the write
 * transaction the caller opened; the caller must COMMIT after a wrong PIN
 * (not roll back), or the failure and the lockout are lost.
 */
#include "managers.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "util.h"

#define NAME_MAX_LEN 128
#define DEFAULT_MAX_FAILURES 5
#define DEFAULT_LOCKOUT_MS (30LL * 60 * 1000)

static const char select_sql[] =
    "SELECT name, pin_hash, failures, locked_until_ms FROM managers WHERE id = ?1";
static const char failures_sql[] =
    "UPDATE managers SET failures = ?2, locked_until_ms = ?3, updated_ms = ?4 WHERE id = ?1";

/* 1..TP_MANAGER_ID_MAX printable bytes. */
static int id_ok(const char *id)
{
    size_t n = id ? tp_bounded_len(id, TP_MANAGER_ID_MAX) : 0;
    return n != 0 && n != (size_t)-1 && tp_is_printable(id, n);
}

/* Length of a well-formed PIN, or 0. Reads at most TP_PIN_MAX + 1 bytes. */
static size_t pin_len(const char *pin)
{
    size_t n = pin ? tp_bounded_len(pin, TP_PIN_MAX) : (size_t)-1;
    if (n == (size_t)-1 || n < TP_PIN_MIN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (pin[i] < '0' || pin[i] > '9')
            return 0;
    return n;
}

tp_status tp_manager_check_pin_format(const char *pin, tp_message *msg)
{
    if (pin_len(pin) == 0) {
        tp_msg_set(msg, "A PIN is %d to %d digits (0-9), nothing else.", TP_PIN_MIN, TP_PIN_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

/* Argon2id string of the PIN into out (crypto_pwhash_STRBYTES). */
static tp_status hash_pin(const char *pin, char out[crypto_pwhash_STRBYTES], tp_message *msg)
{
    /* Safe to repeat; the plugin's init already did it, tests may not. */
    if (sodium_init() < 0) {
        tp_msg_set(msg, "The cryptography library could not start.");
        return TP_ERR_INTERNAL;
    }
    if (crypto_pwhash_str_alg(out, pin, strlen(pin), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        tp_msg_set(msg, "Not enough memory to hash the PIN (Argon2id needs %zu MiB).",
                   (size_t)(crypto_pwhash_MEMLIMIT_INTERACTIVE >> 20));
        return TP_ERR_NO_MEMORY;
    }
    return TP_OK;
}

/* 1 exists, 0 not, -1 error. */
static int manager_exists(sqlite3 *db, const char *id)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM managers WHERE id = ?1", -1, &q, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

tp_status tp_manager_add(tp_store *s, const char *id, const char *name, const char *pin,
                         int64_t now_ms, tp_message *msg)
{
    if (!id_ok(id)) {
        tp_msg_set(msg, "A manager id is 1 to %d printable characters.", TP_MANAGER_ID_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    size_t name_n = name ? tp_bounded_len(name, NAME_MAX_LEN) : 0;
    if (name_n == (size_t)-1 || (name && !tp_is_printable(name, name_n))) {
        tp_msg_set(msg, "A manager's name is at most %d printable characters.", NAME_MAX_LEN);
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = tp_manager_check_pin_format(pin, msg);
    if (st != TP_OK)
        return st;
    sqlite3 *db = tp_store_db(s);
    /* Checked before hashing so a duplicate does not cost an Argon2id run;
     * the primary key still decides. */
    int exists = manager_exists(db, id);
    if (exists < 0) {
        tp_msg_set(msg, "Cannot read managers: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (exists) {
        tp_msg_set(msg, "There is already a manager with the id %s.", id);
        return TP_ERR_DUPLICATE;
    }
    char hash[crypto_pwhash_STRBYTES];
    if ((st = hash_pin(pin, hash, msg)) != TP_OK)
        return st;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO managers(id, name, pin_hash, failures,"
                                " locked_until_ms, created_ms, updated_ms)"
                                " VALUES(?1, ?2, ?3, 0, 0, ?4, ?4)",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, name ? name : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, now_ms);
        rc = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        tp_msg_set(msg, "There is already a manager with the id %s.", id);
        return TP_ERR_DUPLICATE;
    }
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot add the manager: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    tp_msg_clear(msg);
    return TP_OK;
}

tp_status tp_manager_reset_pin(tp_store *s, const char *id, const char *pin, int64_t now_ms,
                               tp_message *msg)
{
    if (!id_ok(id)) {
        tp_msg_set(msg, "A manager id is 1 to %d printable characters.", TP_MANAGER_ID_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = tp_manager_check_pin_format(pin, msg);
    if (st != TP_OK)
        return st;
    sqlite3 *db = tp_store_db(s);
    int exists = manager_exists(db, id);
    if (exists < 0) {
        tp_msg_set(msg, "Cannot read managers: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (!exists) {
        tp_msg_set(msg, "There is no manager with the id %s.", id);
        return TP_ERR_NOT_FOUND;
    }
    char hash[crypto_pwhash_STRBYTES];
    if ((st = hash_pin(pin, hash, msg)) != TP_OK)
        return st;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE managers SET pin_hash = ?2, failures = 0,"
                                " locked_until_ms = 0, updated_ms = ?3 WHERE id = ?1",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, now_ms);
        rc = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot change the PIN: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (sqlite3_changes(db) != 1) {
        tp_msg_set(msg, "There is no manager with the id %s.", id);
        return TP_ERR_NOT_FOUND;
    }
    tp_msg_clear(msg);
    return TP_OK;
}

/* "14:35" when `until` falls on the same UTC day as `now`, else
 * "2024-05-02 14:35"; rounded up to the minute, so the manager is never
 * told a time at which the lockout still holds. */
static void format_until(char *buf, size_t cap, int64_t until, int64_t now)
{
    int64_t up = (until + 59999) / 60000 * 60000;
    char u[32], n[32];
    tp_format_utc(u, sizeof u, up);
    tp_format_utc(n, sizeof n, now);
    if (strncmp(u, n, 10) == 0 && strlen(u) > 11)
        tp_copy(buf, cap, u + 11);
    else
        tp_copy(buf, cap, u);
}

static tp_status store_failures(tp_store *s, const char *id, int failures, int64_t until,
                                int64_t now_ms, tp_message *msg)
{
    sqlite3_stmt *q = tp_store_cached(s, failures_sql);
    int rc = q ? SQLITE_OK : SQLITE_ERROR;
    if (q) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, failures);
        sqlite3_bind_int64(q, 3, until);
        sqlite3_bind_int64(q, 4, now_ms);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot record the PIN attempt: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

tp_status tp_manager_verify(tp_store *s, const tp_manager_policy *policy, const char *id,
                            const char *pin, int64_t now_ms, int *locked_now, tp_message *msg)
{
    if (locked_now)
        *locked_now = 0;
    int max_failures = policy ? policy->max_failures : DEFAULT_MAX_FAILURES;
    int64_t lockout_ms = policy ? policy->lockout_ms : DEFAULT_LOCKOUT_MS;
    if (max_failures < 1)
        max_failures = 1;
    if (lockout_ms < 0)
        lockout_ms = 0;
    if (!id_ok(id)) {
        tp_msg_set(msg, "There is no such manager (an id is 1 to %d printable characters).",
                   TP_MANAGER_ID_MAX);
        return TP_ERR_NOT_FOUND;
    }

    sqlite3_stmt *q = tp_store_cached(s, select_sql);
    if (!q) {
        tp_msg_set(msg, "Cannot read managers: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        if (rc == SQLITE_DONE) {
            tp_msg_set(msg, "There is no manager with the id %s.", id);
            return TP_ERR_NOT_FOUND;
        }
        tp_msg_set(msg, "Cannot read managers: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    char hash[crypto_pwhash_STRBYTES];
    const unsigned char *h = sqlite3_column_text(q, 1);
    int hash_ok = h && tp_copy(hash, sizeof hash, (const char *)h) == 0 &&
                  strncmp(hash, "$argon2", 7) == 0;
    int failures = sqlite3_column_int(q, 2);
    int64_t until = sqlite3_column_int64(q, 3);
    sqlite3_reset(q);

    if (until > now_ms) {
        char when[32];
        format_until(when, sizeof when, until, now_ms);
        tp_msg_set(msg,
                   "Manager %s is locked until %s UTC after %d wrong PINs; another manager "
                   "can approve, or reset the PIN with tillpoints manager reset-pin.",
                   id, when, failures);
        return TP_ERR_STATE;
    }
    if (!hash_ok) {
        tp_msg_set(msg, "The stored PIN of manager %s is damaged; reset it with tillpoints "
                   "manager reset-pin.", id);
        return TP_ERR_STORAGE;
    }
    /* An expired lockout starts a fresh run of attempts (see the top). */
    if (until != 0)
        failures = 0;

    size_t n = pin_len(pin);
    int right = n != 0 && sodium_init() >= 0 && crypto_pwhash_str_verify(hash, pin, n) == 0;
    if (right) {
        if (failures != 0 || until != 0) {
            tp_status st = store_failures(s, id, 0, 0, now_ms, msg);
            if (st != TP_OK)
                return st;
        }
        tp_msg_clear(msg);
        return TP_OK;
    }

    failures++;
    if (failures >= max_failures) {
        int64_t lock_until = now_ms + lockout_ms;
        tp_status st = store_failures(s, id, failures, lock_until, now_ms, msg);
        if (st != TP_OK)
            return st;
        if (locked_now)
            *locked_now = 1;
        char when[32];
        format_until(when, sizeof when, lock_until, now_ms);
        tp_msg_set(msg,
                   "Wrong PIN. Manager %s is now locked until %s UTC after %d wrong PINs; "
                   "another manager can approve, or reset the PIN with tillpoints manager "
                   "reset-pin.",
                   id, when, failures);
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = store_failures(s, id, failures, 0, now_ms, msg);
    if (st != TP_OK)
        return st;
    int left = max_failures - failures;
    long long minutes = (long long)((lockout_ms + 59999) / 60000);
    tp_msg_set(msg, "Wrong PIN for manager %s; %d more wrong %s lock%s it for %lld minute%s.",
               id, left, left == 1 ? "PIN" : "PINs", left == 1 ? "s" : "", minutes,
               minutes == 1 ? "" : "s");
    return TP_ERR_INVALID_ARGUMENT;
}

tp_status tp_manager_list(tp_store *s, tp_manager_row *out, size_t cap, size_t *count,
                          tp_message *msg)
{
    sqlite3 *db = tp_store_db(s);
    sqlite3_stmt *q = NULL;
    size_t n = 0;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, name, failures, locked_until_ms, created_ms,"
                                " COUNT(*) OVER () FROM managers ORDER BY id",
                                -1, &q, NULL);
    if (count)
        *count = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(q);
        if (rc != SQLITE_ROW)
            break;
        if (count)
            *count = (size_t)sqlite3_column_int64(q, 5);
        if (!out || n >= cap)
            break;
        tp_manager_row *r = &out[n++];
        memset(r, 0, sizeof *r);
        const unsigned char *t = sqlite3_column_text(q, 0);
        tp_copy(r->id, sizeof r->id, t ? (const char *)t : "");
        t = sqlite3_column_text(q, 1);
        tp_copy(r->name, sizeof r->name, t ? (const char *)t : "");
        r->failures = sqlite3_column_int(q, 2);
        r->locked_until_ms = sqlite3_column_int64(q, 3);
        r->created_ms = sqlite3_column_int64(q, 4);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot list managers: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    tp_msg_clear(msg);
    return TP_OK;
}
