/*
 * managers.c — managers who approve retroactive credits (see managers.h).
 *
 * PINs are pin_min_digits (6 by default, never fewer than 4) to 12 digits
 * and are stored only as Argon2id strings from libsodium's
 * crypto_pwhash_str_alg at the INTERACTIVE limits (64 MiB, roughly 0.1 to
 * 0.5 s per hash or verification). That cost is paid when a manager
 * approves something, never on the checkout path, and never inside a
 * write transaction (see managers.h for the three steps). The PIN itself
 * is never copied, stored, logged or put in a message: it is read in place
 * by the format check and by libsodium, so there is no copy to wipe.
 *
 * The failure counter and the lockout live in the managers table, so a
 * restart changes nothing:
 *  - a locked manager (locked_until_ms > now) is refused with
 *    TP_ERR_LOCKED_OUT before the PIN is looked at, so guessing during a lockout costs
 *    nothing and teaches nothing;
 *  - `failures` counts the wrong PINs since the last right one and is not
 *    reset when a lockout ends; every max_failures-th wrong PIN locks the
 *    manager, the first time for lockout_ms, each further time twice as
 *    long as the time before, up to 24 h (or lockout_ms when that is
 *    longer). With the defaults (5, 30 min) that is 5 guesses in the first
 *    half hour and, after about a day and a half of lockouts, 5 a day —
 *    instead of 5 every half hour for ever;
 *  - a right PIN, or a PIN reset, clears the counter and any lockout.
 * The lockout level is derived from `failures`, so no column was added;
 * changing pin_max_failures changes where the next lockout falls.
 *
 * A PIN that is not pin_min_digits to 12 digits cannot be right: it is
 * refused with the policy's sentence before the manager is even looked up,
 * for every id alike, and costs no Argon2id run and no failure. A PIN set
 * before the minimum was raised is such a PIN: that manager is told to
 * have it reset (tillpoints manager reset-pin); see MANAGER.md.
 *
 * An unknown id is verified against a dummy hash made once per process at
 * the same parameters and answered with the wrong-PIN sentence, so the
 * answer and its cost do not say whether the id exists.
 */
#include "managers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "util.h"

#define NAME_MAX_LEN 128
#define DEFAULT_MAX_FAILURES 5
#define DEFAULT_LOCKOUT_MS (30LL * 60 * 1000)

_Static_assert(TP_PIN_HASH_MAX >= crypto_pwhash_STRBYTES, "room for an Argon2id string");

static const char select_sql[] =
    "SELECT name, pin_hash, failures, locked_until_ms FROM managers WHERE id = ?1";
static const char failures_sql[] =
    "UPDATE managers SET failures = ?2, locked_until_ms = ?3, updated_ms = ?4 WHERE id = ?1";

static atomic_uint_least64_t hash_runs;

/* The dummy hash: made on first use (the first PIN check of the process
 * pays for it whatever the id, so even that one does not tell ids apart). */
static pthread_mutex_t dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static char dummy_hash[crypto_pwhash_STRBYTES];
static int dummy_made;

/* 1..TP_MANAGER_ID_MAX printable bytes. */
static int id_ok(const char *id)
{
    size_t n = id ? tp_bounded_len(id, TP_MANAGER_ID_MAX) : 0;
    return n != 0 && n != (size_t)-1 && tp_is_printable(id, n);
}

/* id_ok for an id being enrolled or changed, with the sentence. */
static tp_status check_id(const char *id, tp_message *msg)
{
    if (!id || !*id) {
        tp_msg_set(msg, "A manager id is 1 to %d printable characters.", TP_MANAGER_ID_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    return tp_check_text(id, TP_MANAGER_ID_MAX, "manager id", msg);
}

static int min_of(int min_digits)
{
    if (min_digits == 0)
        return TP_PIN_MIN_DEFAULT;
    return min_digits < TP_PIN_FLOOR ? TP_PIN_FLOOR : min_digits > TP_PIN_MAX ? TP_PIN_MAX
                                                                             : min_digits;
}

/* Number of leading digits of pin, reading at most TP_PIN_MAX + 1 bytes;
 * *all_digits says whether that is the whole string. */
static size_t digits(const char *pin, int *all_digits)
{
    size_t n = 0;
    *all_digits = 0;
    if (!pin)
        return 0;
    while (n <= TP_PIN_MAX && pin[n] >= '0' && pin[n] <= '9')
        n++;
    *all_digits = pin[n] == '\0' || n > TP_PIN_MAX;
    return n;
}

/* Length of a PIN that follows the policy, or 0. */
static size_t pin_len(const char *pin, int min_digits)
{
    int all = 0;
    size_t n = digits(pin, &all);
    return all && n >= (size_t)min_of(min_digits) && n <= TP_PIN_MAX ? n : 0;
}

tp_status tp_manager_check_pin_format(const char *pin, int min_digits, tp_message *msg)
{
    if (pin_len(pin, min_digits) == 0) {
        tp_msg_set(msg, "A manager PIN is %d to %d digits (0-9), nothing else.",
                   min_of(min_digits), TP_PIN_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

static tp_status crypto_ready(tp_message *msg)
{
    /* Safe to repeat; the plugin's init already did it, tests may not. */
    if (sodium_init() < 0) {
        tp_msg_set(msg, "The cryptography library could not start.");
        return TP_ERR_INTERNAL;
    }
    return TP_OK;
}

static int argon2id(char out[crypto_pwhash_STRBYTES], const char *pin, size_t n)
{
    return crypto_pwhash_str_alg(out, pin, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                 crypto_pwhash_MEMLIMIT_INTERACTIVE,
                                 crypto_pwhash_ALG_ARGON2ID13);
}

/* Argon2id string of the PIN into out (crypto_pwhash_STRBYTES). */
static tp_status hash_pin(const char *pin, char out[crypto_pwhash_STRBYTES], tp_message *msg)
{
    tp_status st = crypto_ready(msg);
    if (st != TP_OK)
        return st;
    if (argon2id(out, pin, strlen(pin)) != 0) {
        tp_msg_set(msg, "Not enough memory to hash the PIN (Argon2id needs %zu MiB).",
                   (size_t)(crypto_pwhash_MEMLIMIT_INTERACTIVE >> 20));
        return TP_ERR_NO_MEMORY;
    }
    return TP_OK;
}

/* 1 when the dummy hash exists (made now if needed). Its PIN is random
 * and thrown away: nothing can match it. */
static int dummy_ready(void)
{
    pthread_mutex_lock(&dummy_lock);
    if (!dummy_made && sodium_init() >= 0) {
        char pin[TP_PIN_MAX + 1];
        for (int i = 0; i < TP_PIN_MAX; i++)
            pin[i] = (char)('0' + randombytes_uniform(10));
        pin[TP_PIN_MAX] = '\0';
        dummy_made = argon2id(dummy_hash, pin, TP_PIN_MAX) == 0;
        sodium_memzero(pin, sizeof pin);
    }
    int made = dummy_made;
    pthread_mutex_unlock(&dummy_lock);
    return made;
}

tp_status tp_manager_hash_new_pin(const char *pin, int min_digits, char out[TP_PIN_HASH_MAX],
                                  tp_message *msg)
{
    _Static_assert(TP_PIN_HASH_MAX >= crypto_pwhash_STRBYTES, "room for an Argon2id string");
    tp_status st = tp_manager_check_pin_format(pin, min_digits, msg);
    if (st != TP_OK)
        return st;
    return hash_pin(pin, out, msg);
}

/* A hash from tp_manager_hash_new_pin: an Argon2id string. */
static int is_pin_hash(const char *h)
{
    return h && strncmp(h, crypto_pwhash_argon2id_STRPREFIX,
                        strlen(crypto_pwhash_argon2id_STRPREFIX)) == 0 &&
           tp_bounded_len(h, TP_PIN_HASH_MAX - 1) != (size_t)-1;
}

tp_status tp_manager_add(tp_store *s, const char *id, const char *name, const char *pin_hash,
                         int64_t now_ms, tp_message *msg)
{
    tp_status st = check_id(id, msg);
    if (st == TP_OK)
        st = tp_check_text(name, NAME_MAX_LEN, "manager's name", msg);
    if (st != TP_OK)
        return st;
    if (!is_pin_hash(pin_hash)) {
        tp_msg_set(msg, "The new PIN was not hashed; nothing was changed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    sqlite3 *db = tp_store_db(s);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO managers(id, name, pin_hash, failures,"
                                " locked_until_ms, created_ms, updated_ms)"
                                " VALUES(?1, ?2, ?3, 0, 0, ?4, ?4)",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, name ? name : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, pin_hash, -1, SQLITE_STATIC);
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

tp_status tp_manager_reset_pin(tp_store *s, const char *id, const char *pin_hash, int64_t now_ms,
                               tp_message *msg)
{
    tp_status st = check_id(id, msg);
    if (st != TP_OK)
        return st;
    if (!is_pin_hash(pin_hash)) {
        tp_msg_set(msg, "The new PIN was not hashed; nothing was changed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    sqlite3 *db = tp_store_db(s);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE managers SET pin_hash = ?2, failures = 0,"
                                " locked_until_ms = 0, updated_ms = ?3 WHERE id = ?1",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, pin_hash, -1, SQLITE_STATIC);
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
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_MANAGERS_STORE_FAILURES, failures_sql);
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

typedef struct row_state {
    int found;
    int failures;
    int64_t until;
    char hash[TP_PIN_HASH_MAX];
    int hash_ok;
} row_state;

static tp_status read_row(tp_store *s, const char *id, row_state *r, tp_message *msg)
{
    memset(r, 0, sizeof *r);
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_MANAGERS_READ_ROW_SELECT, select_sql);
    if (!q) {
        tp_msg_set(msg, "Cannot read managers: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(q, 1);
        r->found = 1;
        r->hash_ok = h && tp_copy(r->hash, sizeof r->hash, (const char *)h) == 0 &&
                     strncmp(r->hash, "$argon2", 7) == 0;
        r->failures = sqlite3_column_int(q, 2);
        r->until = sqlite3_column_int64(q, 3);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot read managers: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

static void policy_of(const tp_manager_policy *policy, int *max_failures, int64_t *lockout_ms,
                      int *min_digits)
{
    *max_failures = policy ? policy->max_failures : DEFAULT_MAX_FAILURES;
    *lockout_ms = policy ? policy->lockout_ms : DEFAULT_LOCKOUT_MS;
    *min_digits = min_of(policy ? policy->min_digits : 0);
    if (*max_failures < 1)
        *max_failures = 1;
    if (*lockout_ms < 0)
        *lockout_ms = 0;
}

/* The length of lockout number `level` (1 = the first): lockout_ms doubled
 * level - 1 times, at most 24 h (or lockout_ms when that is longer). */
static int64_t lockout_length(int64_t lockout_ms, int level)
{
    int64_t cap = lockout_ms > TP_LOCKOUT_CAP_MS ? lockout_ms : TP_LOCKOUT_CAP_MS;
    int64_t d = lockout_ms;
    for (int i = 1; i < level && d < cap; i++)
        d = d > cap / 2 ? cap : d * 2;
    return d < cap ? d : cap;
}

static void locked_sentence(tp_message *msg, const char *id, int64_t until, int failures,
                            int64_t now_ms)
{
    char when[32];
    format_until(when, sizeof when, until, now_ms);
    tp_msg_set(msg,
               "Manager %s is locked until %s UTC after %d wrong PINs; another manager "
               "can approve, or reset the PIN with tillpoints manager reset-pin.",
               id, when, failures);
}

/* One sentence for a wrong PIN and for an id that is no manager. */
static void wrong_sentence(tp_message *msg, int max_failures)
{
    tp_msg_set(msg, "Wrong manager id or PIN; after %d wrong PINs in a row a manager is locked.",
               max_failures);
}

tp_status tp_manager_pin_lookup(tp_store *s, const tp_manager_policy *policy, const char *id,
                                const char *pin, int64_t now_ms, tp_pin_attempt *a,
                                tp_message *msg)
{
    int max_failures, min_digits;
    int64_t lockout_ms;
    policy_of(policy, &max_failures, &lockout_ms, &min_digits);
    memset(a, 0, sizeof *a);
    if (pin_len(pin, min_digits) == 0) {
        int all = 0;
        size_t n = digits(pin, &all);
        if (all && n >= TP_PIN_FLOOR && n < (size_t)min_digits)
            tp_msg_set(msg, "A manager PIN is %d to %d digits; a shorter PIN set before must "
                       "be replaced with tillpoints manager reset-pin.", min_digits, TP_PIN_MAX);
        else
            tp_msg_set(msg, "A manager PIN is %d to %d digits (0-9), nothing else.", min_digits,
                       TP_PIN_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    /* An id that cannot exist is answered like one that does not. */
    if (!id_ok(id)) {
        tp_copy(a->id, sizeof a->id, "");
        tp_msg_clear(msg);
        return TP_OK;
    }
    tp_copy(a->id, sizeof a->id, id);
    row_state r;
    tp_status st = read_row(s, id, &r, msg);
    if (st != TP_OK)
        return st;
    if (!r.found) {
        tp_msg_clear(msg);
        return TP_OK;
    }
    a->known = 1;
    a->failures = r.failures;
    a->locked_until_ms = r.until;
    a->locked = r.until > now_ms;
    if (!a->locked && !r.hash_ok) {
        tp_msg_set(msg, "The stored PIN of manager %s is damaged; reset it with tillpoints "
                   "manager reset-pin.", id);
        return TP_ERR_STORAGE;
    }
    tp_copy(a->hash, sizeof a->hash, r.hash);
    tp_msg_clear(msg);
    return TP_OK;
}

void tp_manager_pin_hash(tp_pin_attempt *a, const char *pin)
{
    a->hashed = 0;
    a->right = 0;
    if (a->locked)
        return;
    /* Made before either branch, so its one-off cost does not depend on
     * the id either. */
    int dummy = dummy_ready();
    /* One code path for both: the same verification at the same
     * parameters, against the stored hash or the dummy. */
    const char *against = a->known ? a->hash : dummy ? dummy_hash : NULL;
    if (against && pin) {
        int match = sodium_init() >= 0 &&
                    crypto_pwhash_str_verify(against, pin, strlen(pin)) == 0;
        atomic_fetch_add(&hash_runs, 1);
        /* The dummy's PIN was random and thrown away; an unknown id never
         * approves, whatever was typed. */
        a->right = a->known && match;
    }
    a->hashed = 1;
}

uint64_t tp_manager_hash_runs(void)
{
    return atomic_load(&hash_runs);
}

tp_status tp_manager_pin_record(tp_store *s, const tp_manager_policy *policy,
                                const tp_pin_attempt *a, int64_t now_ms, int *locked_now,
                                tp_message *msg)
{
    int max_failures, min_digits;
    int64_t lockout_ms;
    policy_of(policy, &max_failures, &lockout_ms, &min_digits);
    if (locked_now)
        *locked_now = 0;
    if (!a->known) {
        wrong_sentence(msg, max_failures);
        return TP_ERR_WRONG_PIN;
    }
    /* The state as it is now, under the write lock: another till may have
     * locked the manager, or a reset changed the PIN, while we hashed. */
    row_state r;
    tp_status st = read_row(s, a->id, &r, msg);
    if (st != TP_OK)
        return st;
    if (!r.found) {
        wrong_sentence(msg, max_failures);
        return TP_ERR_WRONG_PIN;
    }
    if (r.until > now_ms) {
        locked_sentence(msg, a->id, r.until, r.failures, now_ms);
        return TP_ERR_LOCKED_OUT;
    }
    if (!a->hashed || a->locked) {
        tp_msg_set(msg, "The lockout of manager %s has just ended; type the PIN again.", a->id);
        return TP_ERR_STATE;
    }
    if (strcmp(r.hash, a->hash) != 0) {
        tp_msg_set(msg, "The PIN of manager %s was changed while it was being checked; type "
                   "it again.", a->id);
        return TP_ERR_STATE;
    }
    if (a->right) {
        if (r.failures != 0 || r.until != 0) {
            st = store_failures(s, a->id, 0, 0, now_ms, msg);
            if (st != TP_OK)
                return st;
        }
        tp_msg_clear(msg);
        return TP_OK;
    }
    int failures = r.failures + 1;
    if (failures % max_failures == 0) {
        int64_t lock_until = now_ms + lockout_length(lockout_ms, failures / max_failures);
        st = store_failures(s, a->id, failures, lock_until, now_ms, msg);
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
                   a->id, when, failures);
        return TP_ERR_LOCKED_OUT;
    }
    st = store_failures(s, a->id, failures, 0, now_ms, msg);
    if (st != TP_OK)
        return st;
    wrong_sentence(msg, max_failures);
    return TP_ERR_WRONG_PIN;
}

tp_status tp_manager_verify(tp_store *s, const tp_manager_policy *policy, const char *id,
                            const char *pin, int64_t now_ms, int *locked_now, tp_message *msg)
{
    if (locked_now)
        *locked_now = 0;
    tp_pin_attempt a;
    tp_status st = tp_manager_pin_lookup(s, policy, id, pin, now_ms, &a, msg);
    if (st != TP_OK)
        return st;
    tp_manager_pin_hash(&a, pin);
    tp_message why;
    if (tp_store_begin(s, &why) != TP_OK) {
        tp_msg_set(msg, "%s", why.text);
        return TP_ERR_STORAGE;
    }
    st = tp_manager_pin_record(s, policy, &a, now_ms, locked_now, msg);
    if (st == TP_OK || st == TP_ERR_WRONG_PIN || st == TP_ERR_LOCKED_OUT || st == TP_ERR_STATE) {
        if (tp_store_commit(s, &why) != TP_OK) {
            tp_msg_set(msg, "%s", why.text);
            return TP_ERR_STORAGE;
        }
    } else {
        tp_store_rollback(s);
    }
    return st;
}

tp_status tp_manager_usable(tp_store *s, const char *id, int64_t now_ms, tp_message *msg)
{
    if (!id_ok(id)) {
        tp_msg_set(msg, "That staff id is not an enrolled manager.");
        return TP_ERR_NOT_FOUND;
    }
    row_state r;
    tp_status st = read_row(s, id, &r, msg);
    if (st != TP_OK)
        return st;
    if (!r.found) {
        tp_msg_set(msg, "%s is not an enrolled manager.", id);
        return TP_ERR_NOT_FOUND;
    }
    if (r.until > now_ms) {
        locked_sentence(msg, id, r.until, r.failures, now_ms);
        return TP_ERR_LOCKED_OUT;
    }
    tp_msg_clear(msg);
    return TP_OK;
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
