/*
 * managers.h — managers who approve retroactive credits, corrections and
 * claim resolutions: PINs stored as Argon2id hashes (libsodium
 * crypto_pwhash_str), never logged; a failure counter and a lockout that
 * are written to the database, so a restart does not reset them.
 *
 * Checking a PIN is three steps, so that the slow Argon2id run (0.1 to
 * 0.5 s) never holds the database's write lock, which the till's writer
 * needs for every sale:
 *   tp_manager_pin_lookup   reads the manager (no transaction needed);
 *   tp_manager_pin_hash     runs Argon2id, touching no database at all;
 *   tp_manager_pin_record   inside the caller's write transaction
 *                           (BEGIN IMMEDIATE): re-reads the lockout and
 *                           writes the outcome, so that a failure, its
 *                           audit record and a lockout land together.
 * tp_manager_verify does all three with a transaction of its own.
 *
 * An id that is not an enrolled manager costs the same Argon2id run (on a
 * dummy hash made once per process with the same parameters) and gets the
 * same sentence as a wrong PIN, so ids cannot be told apart by the answer
 * or its cost. A lockout, once reached, is said: the manager has to know.
 */
#ifndef TP_MANAGERS_H
#define TP_MANAGERS_H

#include <stdint.h>

#include "store.h"
#include "tillpoints/limits.h" /* TP_MANAGER_ID_MAX, TP_PIN_MIN, TP_PIN_MAX */
#include "util.h" /* TP_MUST_CHECK */

#define TP_PIN_FLOOR TP_PIN_MIN /* no policy may allow fewer digits */
#define TP_PIN_MIN_DEFAULT 6    /* [retro] pin_min_digits */
#define TP_PIN_HASH_MAX 128   /* >= crypto_pwhash_STRBYTES */
#define TP_LOCKOUT_CAP_MS (24LL * 3600 * 1000)

typedef struct tp_manager_policy {
    int max_failures;       /* lock after every this many wrong PINs (5) */
    int64_t lockout_ms;     /* the first lockout (30 min); each further one
                               before a right PIN doubles, up to 24 h (or
                               lockout_ms when that is longer) */
    int min_digits;         /* fewest digits of a PIN (6; 0 = the default) */
} tp_manager_policy;

typedef struct tp_manager_row {
    char id[TP_MANAGER_ID_MAX + 1];
    char name[128 + 1];
    int failures;            /* wrong PINs since the last right one */
    int64_t locked_until_ms; /* 0 or the UTC ms the lockout ends */
    int64_t created_ms;
} tp_manager_row;

/* One PIN attempt between its three steps. Holds a copy of the stored
 * hash (not a secret: it is what the database holds), never the PIN. */
typedef struct tp_pin_attempt {
    char id[TP_MANAGER_ID_MAX + 1];
    int known;                     /* an enrolled manager at lookup */
    int locked;                    /* locked at lookup: nothing is hashed */
    int64_t locked_until_ms;
    int failures;
    char hash[TP_PIN_HASH_MAX];    /* the stored hash, "" when unknown */
    int hashed;                    /* tp_manager_pin_hash ran */
    int right;                     /* ... and the PIN matched */
} tp_pin_attempt;

/* PIN rules: min_digits (TP_PIN_FLOOR..TP_PIN_MAX; 0 = the default)
 * to TP_PIN_MAX digits. TP_OK or a sentence. */
tp_status tp_manager_check_pin_format(const char *pin, int min_digits, tp_message *msg) TP_MUST_CHECK;

/* Adding a manager or changing a PIN takes two steps, so that the slow
 * Argon2id run (0.1-0.5 s) never holds the write lock the till's writer
 * needs:
 * 1. tp_manager_hash_new_pin, outside any transaction: checks the PIN
 *    against the policy (`min_digits`, 0 = the default) and fills `out`
 *    (TP_PIN_HASH_MAX bytes) with its Argon2id string;
 * 2. tp_manager_add or tp_manager_reset_pin, inside the caller's write
 *    transaction, store that hash. */
tp_status tp_manager_hash_new_pin(const char *pin, int min_digits, char out[TP_PIN_HASH_MAX],
                                  tp_message *msg) TP_MUST_CHECK;

/* Adds a manager with the PIN hash from step 1. TP_ERR_DUPLICATE when the
 * id exists. */
tp_status tp_manager_add(tp_store *s, const char *id, const char *name, const char *pin_hash,
                         int64_t now_ms, tp_message *msg) TP_MUST_CHECK;

/* Replaces the PIN hash, clears failures and any lockout. */
tp_status tp_manager_reset_pin(tp_store *s, const char *id, const char *pin_hash, int64_t now_ms,
                               tp_message *msg) TP_MUST_CHECK;

/* Step 1. TP_OK with *a filled; TP_ERR_INVALID_ARGUMENT (a sentence with
 * the policy, the same for any id) when the PIN is not policy->min_digits
 * to TP_PIN_MAX digits: it cannot be right, so nothing is hashed or
 * counted; TP_ERR_STORAGE when the database cannot be read or the stored
 * hash is damaged. */
tp_status tp_manager_pin_lookup(tp_store *s, const tp_manager_policy *policy, const char *id,
                                const char *pin, int64_t now_ms, tp_pin_attempt *a,
                                tp_message *msg) TP_MUST_CHECK;

/* Step 2: one Argon2id verification against the stored hash, or against
 * the dummy hash for an unknown id; none for a locked manager. No
 * database, no lock needed. */
void tp_manager_pin_hash(tp_pin_attempt *a, const char *pin);

/* Step 3, inside the caller's write transaction:
 *  TP_OK              right PIN; failures and lockout are cleared.
 *  TP_ERR_WRONG_PIN   wrong PIN or no such manager (one sentence for
 *                     both); a manager's counter went up.
 *  TP_ERR_LOCKED_OUT  this wrong PIN reached a multiple of
 *                     policy->max_failures and locked the manager
 *                     (*locked_now = 1), or the manager was already locked
 *                     (the PIN was not checked; *locked_now = 0).
 *  TP_ERR_STATE       a lockout ended, or the PIN was reset, while it was
 *                     being checked: type it again.
 *  TP_ERR_STORAGE     database error.
 * The caller must COMMIT after TP_ERR_WRONG_PIN and TP_ERR_LOCKED_OUT (not
 * roll back), or the failure and the lockout are lost. The sentence never
 * has the PIN. */
tp_status tp_manager_pin_record(tp_store *s, const tp_manager_policy *policy,
                                const tp_pin_attempt *a, int64_t now_ms, int *locked_now,
                                tp_message *msg) TP_MUST_CHECK;

/* Lookup, hash and record, the record in a transaction of its own (the
 * caller must not have one open). Same answers as tp_manager_pin_record,
 * plus tp_manager_pin_lookup's. */
tp_status tp_manager_verify(tp_store *s, const tp_manager_policy *policy, const char *id,
                            const char *pin, int64_t now_ms, int *locked_now, tp_message *msg) TP_MUST_CHECK;

/* For an approval that trusts the host's login ([retro]
 * trust_host_managers): TP_OK when `id` is an enrolled manager who is not
 * locked at now_ms; TP_ERR_NOT_FOUND, TP_ERR_LOCKED_OUT (with the
 * sentence) or TP_ERR_STORAGE otherwise. Reads only. */
tp_status tp_manager_usable(tp_store *s, const char *id, int64_t now_ms, tp_message *msg) TP_MUST_CHECK;

/* How many Argon2id verifications this process has run (real and dummy);
 * tests use it to see that an unknown id costs what a wrong PIN costs. */
uint64_t tp_manager_hash_runs(void);

/* Up to `cap` managers ordered by id; *count receives how many exist. */
tp_status tp_manager_list(tp_store *s, tp_manager_row *out, size_t cap, size_t *count,
                          tp_message *msg) TP_MUST_CHECK;

#endif
