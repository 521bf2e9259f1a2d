/*
 * managers.h — managers who approve retroactive credits: PINs stored as
 * Argon2id hashes (libsodium crypto_pwhash_str), never logged; a failure
 * counter and a lockout that are written to the database, so a restart
 * does not reset them.
 *
 * All functions run on a connection the caller owns, inside a write
 * transaction the caller opened (BEGIN IMMEDIATE), so that a PIN failure,
 * its audit record and the lockout land together.
 */
#ifndef TP_MANAGERS_H
#define TP_MANAGERS_H

#include <stdint.h>

#include "store.h"

#define TP_MANAGER_ID_MAX 64
#define TP_PIN_MIN 4
#define TP_PIN_MAX 12

typedef struct tp_manager_policy {
    int max_failures;       /* lock after this many wrong PINs in a row (5) */
    int64_t lockout_ms;     /* for this long (30 min) */
} tp_manager_policy;

typedef struct tp_manager_row {
    char id[TP_MANAGER_ID_MAX + 1];
    char name[128 + 1];
    int failures;
    int64_t locked_until_ms; /* 0 or the UTC ms the lockout ends */
    int64_t created_ms;
} tp_manager_row;

/* PIN rules: TP_PIN_MIN..TP_PIN_MAX digits. TP_OK or a sentence. */
tp_status tp_manager_check_pin_format(const char *pin, tp_message *msg);

/* Adds a manager with an Argon2id hash of `pin`. TP_ERR_DUPLICATE when the
 * id exists. */
tp_status tp_manager_add(tp_store *s, const char *id, const char *name, const char *pin,
                         int64_t now_ms, tp_message *msg);

/* Replaces the PIN, clears failures and any lockout. */
tp_status tp_manager_reset_pin(tp_store *s, const char *id, const char *pin, int64_t now_ms,
                               tp_message *msg);

/* Verifies `pin` for manager `id` at `now_ms`:
 *  TP_OK              right PIN; the failure counter is cleared.
 *  TP_ERR_NOT_FOUND   no such manager (sentence).
 *  TP_ERR_STATE       locked until ...; the PIN was not even checked.
 *  TP_ERR_INVALID_ARGUMENT wrong PIN; the counter went up. When it reached
 *                     policy->max_failures the manager is now locked
 *                     (*locked_now = 1) for policy->lockout_ms.
 *  TP_ERR_STORAGE     database error.
 * The sentence never contains the PIN. */
tp_status tp_manager_verify(tp_store *s, const tp_manager_policy *policy, const char *id,
                            const char *pin, int64_t now_ms, int *locked_now, tp_message *msg);

/* Up to `cap` managers ordered by id; *count receives how many exist. */
tp_status tp_manager_list(tp_store *s, tp_manager_row *out, size_t cap, size_t *count,
                          tp_message *msg);

#endif
