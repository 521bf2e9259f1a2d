/*
 * outbox.h — the terminal's outbox: every ledger entry, member, card and
 * audit record, queued for the central database (docs/DESIGN.md §8).
 *
 * Rows are written by SQLite triggers (schema v4, schema.c) in the same
 * transaction as the row they describe, so no write path in C can forget
 * one and a crash can never separate an effect from its outbox row. Each
 * row carries a deterministic idempotency key (event_id):
 *
 *   ledger:LOCATION/TERMINAL/RECEIPT/KIND   member:CODE
 *   card:CODE                                audit:HASH
 *
 * The sync thread reads undelivered, unparked rows in id order and marks
 * them delivered only after the central COMMIT. Everything here runs on a
 * tp_store the caller owns (one thread at a time).
 */
#ifndef TP_OUTBOX_H
#define TP_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/sync.h"
#include "tillpoints/tillpoints.h"
#include "util.h" /* TP_MUST_CHECK */


typedef struct tp_outbox_row {
    int64_t id;
    char *event_id; /* owned by the batch */
    char *kind;
    char *payload;
    char *member;   /* the member it concerns, or "" */
    char *receipt;  /* a ledger entry's receipt, else "" */
    int64_t points; /* a ledger entry's points, else 0 */
    int attempts;
} tp_outbox_row;

typedef struct tp_outbox_batch {
    tp_outbox_row *rows; /* owned */
    size_t n, cap;
    char *text;          /* one allocation holding every row's strings */
    size_t text_len, text_cap;
} tp_outbox_batch;

void tp_outbox_batch_free(tp_outbox_batch *b);

/* Up to `max` undelivered, unparked rows with id > after_id, in id order. TP_OK (possibly
 * empty) or TP_ERR_STORAGE / TP_ERR_NO_MEMORY with msg. */
tp_status tp_outbox_next(tp_store *s, int64_t after_id, size_t max, tp_outbox_batch *b,
                         tp_message *msg) TP_MUST_CHECK;

/* A balance the central database reported (absolute, with its sequence). */
typedef struct tp_central_balance {
    char code[TP_MEMBER_CODE_MAX + 1];
    int64_t balance;
    int64_t seq;
} tp_central_balance;

/* In one transaction: marks the batch read as ids first..last delivered at
 * `now_ms` and stores the balances the central database returned (only
 * when newer). */
tp_status tp_outbox_delivered(tp_store *s, int64_t first_id, int64_t last_id,
                              const tp_central_balance *bal, size_t nbal, int64_t now_ms,
                              tp_message *msg) TP_MUST_CHECK;

/* A permanent failure of one row: attempts+1, last_error (a sentence,
 * cut at 255 bytes), parked when attempts reach `max_attempts`. *parked
 * says whether it was parked now. A dismissed row is left alone. */
tp_status tp_outbox_failed(tp_store *s, int64_t id, const char *error, int max_attempts,
                           int *parked, tp_message *msg) TP_MUST_CHECK;

/* Manual operations (admin): park or unpark one row by id; retry resets
 * the attempts of every unparked row and asks the sync thread (in any
 * process using this file) to skip its backoff. */
tp_status tp_outbox_set_parked(tp_store *s, int64_t id, int parked, tp_message *msg) TP_MUST_CHECK;

/* Dismisses parked row `id` for good (schema v6): dismissed_ms = now_ms.
 * Runs inside the caller's write transaction (the caller appends the audit
 * record in the same one). *entry receives the row as it was, for that
 * record. TP_ERR_NOT_FOUND: no undelivered row `id`; TP_ERR_STATE: the row
 * is pending, not parked (park it first), or already dismissed. */
tp_status tp_outbox_dismiss(tp_store *s, int64_t id, int64_t now_ms, tp_queue_entry *entry,
                            tp_message *msg) TP_MUST_CHECK;
tp_status tp_outbox_retry(tp_store *s, int64_t now_ms, uint64_t *rows, tp_message *msg) TP_MUST_CHECK;

/* Sync bookkeeping kept in the database (cross-process): integer values of
 * sync_state ("members_seq", "cards_seq", "balances_seq", "retry_ms",
 * "last_success_ms", "last_pull_ms"), and the UTC day (days since 1970) of
 * the last complete scheduled expiry run, "expiry_last_day" (expiry.c). */
tp_status tp_sync_state_get(tp_store *s, const char *key, int64_t *value) TP_MUST_CHECK;

/* Turns the outbox on (a [sync] section is configured) or off
 * (standalone: nothing is journaled for a central database, so a sale
 * costs what it did before sync existed). Turning it on for the first time
 * queues everything already in the file, so the central database still
 * receives the terminal's whole history. Its own transaction. */
tp_status tp_outbox_enable(tp_store *s, int on, tp_message *msg) TP_MUST_CHECK;
tp_status tp_sync_state_set(tp_store *s, const char *key, int64_t value) TP_MUST_CHECK;

/* The link to the central database as the sync thread last recorded it
 * (sync_link, schema v6): written by whichever process runs a sync thread
 * on this file, read by any (queue status in the CLI shows what the till
 * knows). state 0 (TP_SYNC_OFF) and updated_ms 0: never written. */
typedef struct tp_sync_link {
    tp_sync_state state;
    tp_status status;          /* of the last error; TP_OK when none */
    char error[TP_MESSAGE_MAX + 1]; /* its sentence, or "" */
    int64_t error_ms;
    int64_t next_attempt_ms;   /* while backing off; else 0 */
    int64_t updated_ms;
} tp_sync_link;

tp_status tp_sync_link_get(tp_store *s, tp_sync_link *out) TP_MUST_CHECK;
/* Its own transaction. */
tp_status tp_sync_link_put(tp_store *s, const tp_sync_link *link, tp_message *msg) TP_MUST_CHECK;

typedef struct tp_outbox_counts {
    uint64_t pending;        /* undelivered, unparked */
    uint64_t parked;         /* parked and not dismissed */
    uint64_t dismissed;
    uint64_t delivered;
    uint64_t failing;        /* pending rows with attempts > 0 */
    int64_t oldest_pending_ms; /* created_ms of the oldest pending row; 0 none */
    char last_error[256];    /* of the newest failing or parked row, or "" */
} tp_outbox_counts;

tp_status tp_outbox_counts_get(tp_store *s, tp_outbox_counts *out, tp_message *msg) TP_MUST_CHECK;

/* Undelivered rows, oldest first (pending and parked, or parked only;
 * never dismissed ones), up to cap; each with its receipt when a ledger
 * entry. */
tp_status tp_outbox_list(tp_store *s, int parked_only, tp_queue_entry *out, size_t cap,
                         size_t stride, size_t *count, tp_message *msg) TP_MUST_CHECK;

#endif
