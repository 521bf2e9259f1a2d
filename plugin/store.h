/*
 * store.h — the terminal's SQLite database: schema, migrations, and the
 * transactions the plugin's threads run against it.
 *
 * One tp_store is one connection, used by one thread at a time. The file is
 * created with mode 0600, runs in WAL mode with synchronous=FULL, and every
 * write goes through BEGIN IMMEDIATE. The journal (receipts, refunds) and the
 * ledger are append-only, enforced by triggers in the schema itself.
 */
#ifndef TP_STORE_H
#define TP_STORE_H

#include <stdint.h>

#include "config.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "util.h" /* TP_MUST_CHECK */

#define TP_SCHEMA_VERSION 8 /* sync: v4 adds the outbox (outbox.c); v5 links the
                                ledger to the audit log (audit.c); v6 dismissed
                                outbox rows and the link's state (outbox.c); v7
                                the dashboard's time indexes (stats.c); v8
                                spending points (schema.c) */

typedef struct tp_store tp_store;

/* Opens (creating when missing) and migrates the database at `path`.
 * On failure *out is NULL and `msg` says why. */
tp_status tp_store_open(const char *path, tp_store **out, tp_message *msg) TP_MUST_CHECK;
void tp_store_close(tp_store *s);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK for group commit. A failed commit
 * leaves the outcome unknown to the caller: it rolls back and re-applies,
 * and the idempotency keys make the second attempt harmless. */
tp_status tp_store_begin(tp_store *s, tp_message *msg) TP_MUST_CHECK;

/* Outside a transaction: commits sync to disk (full, the default) or, in
 * WAL mode, only at checkpoints (a power cut may undo the last commits,
 * never corrupt the file): for the writer's batches of reservations only,
 * which a restart drops anyway (spend.h). An SQLite result code. */
int tp_store_set_synchronous(tp_store *s, int full);

/* 1 when the last tp_store_begin or tp_store_commit failed because another
 * connection held the write lock past the busy timeout (SQLITE_BUSY or
 * SQLITE_LOCKED): contention, not a disk fault. The connection is fine. */
int tp_store_contended(const tp_store *s);

/* Called by a long job between two of its write transactions (chunks):
 * leaves the write lock free long enough for a waiting writer to take it,
 * at most a few milliseconds. `held_ns`: how long the last chunk held it. */
void tp_store_step_aside(int64_t held_ns);
tp_status tp_store_commit(tp_store *s, tp_message *msg) TP_MUST_CHECK;
void tp_store_rollback(tp_store *s);

/* The largest ledger id when the open transaction began (tp_store_begin),
 * or when the last audit record of it was written; -1 outside such a
 * transaction. The ledger entries above it are this transaction's, and
 * the next audit record covers them (audit.c). */
int64_t tp_store_ledger_mark(tp_store *s);
void tp_store_set_ledger_mark(tp_store *s, int64_t mark);

/* An in-memory database holding exactly the schema this build creates
 * (every migration applied to nothing), for verify to compare a file's
 * triggers with. The caller closes it with sqlite3_close. */
struct sqlite3;
tp_status tp_store_reference(struct sqlite3 **out, tp_message *msg) TP_MUST_CHECK;

/* A completed checkout, as the writer thread receives it. */
#define TP_AWARD_REDEEM_MAX 8 /* redemptions on one sale (spend.c) */

typedef struct tp_award_job {
    char txn[TP_TXN_ID_MAX + 1];
    char receipt[TP_RECEIPT_ID_MAX + 1];
    char code[TP_MEMBER_CODE_MAX + 1]; /* "" when no member was scanned */
    char staff[TP_STAFF_ID_MAX + 1];
    char currency[4];
    int64_t time_ms;
    int64_t total_minor;
    int64_t eligible_minor;
    int64_t points;
    int32_t line_count;
    int code_signed; /* the code came from a verified app pass */
    /* Redemptions the receipt commits (checkout's redeem): how many, and
     * for each the reward (its index in cfg.rewards, -1 paid with points),
     * its points and what it took off. The writer writes the entry's
     * reason and comment from them. redeem_n 0: none. */
    int32_t redeem_n;
    int16_t redeem_reward[TP_AWARD_REDEEM_MAX];
    int64_t redeem_points_of[TP_AWARD_REDEEM_MAX];
    int64_t redeem_minor_of[TP_AWARD_REDEEM_MAX];
    int64_t redeem_points; /* their sums */
    int64_t redeem_minor;
} tp_award_job;

/* A reservation of points on an open transaction (checkout's redeem),
 * written by the writer; `no` 0 in a release means every one of txn. */
typedef struct tp_reserve_job {
    char txn[TP_TXN_ID_MAX + 1];
    char code[TP_MEMBER_CODE_MAX + 1];
    uint32_t no;
    int64_t points;
} tp_reserve_job;

typedef struct tp_refund_job {
    char refund[TP_RECEIPT_ID_MAX + 1];
    char receipt[TP_RECEIPT_ID_MAX + 1];
    char currency[4];
    int64_t amount_minor;
    int full;
    int64_t time_ms;
} tp_refund_job;

/* What a job did, ready to become a host event. */
typedef struct tp_outcome {
    tp_event_kind kind;
    tp_status status;
    char txn[TP_TXN_ID_MAX + 1];
    char receipt[TP_RECEIPT_ID_MAX + 1];
    char member_code[TP_MEMBER_CODE_MAX + 1];
    char member_name[TP_NAME_MAX + 1];
    int64_t points;
    int64_t balance;
    int replayed;
    int64_t time_ms;
    char message[TP_MESSAGE_MAX];
    char device[TP_SCANNER_NAME_MAX + 1];
    char receipt_code[160];
    char refund[TP_RECEIPT_ID_MAX + 1]; /* refund jobs: the refund's number */
    char symbology[16]; /* scans: tp_symbology_event_name(), "" when unsaid */
    /* The balance to show beside `balance` (balance.h); source "" when the
     * outcome carries no balance. */
    int64_t shown_balance;
    int64_t balance_as_of_ms;
    char balance_source[TP_BALANCE_SOURCE_MAX + 1];
    /* MEMBER_IDENTIFIED: the member's next expiry (expiry.h), 0 / 0 when
     * none or expiry is off. */
    int64_t expiring_points;
    int64_t expiring_at_ms;
    /* Spending points: REDEEM_* the redemption's number and who vouched
     * ("local", "central", "offline"); AWARD/REFUND_COMMITTED the points
     * the receipt spent / a refund gave back. */
    uint32_t redemption_no;
    char redeem_source[8];
    int64_t redeemed_points;
    int64_t pending; /* a reservation for the confirmation thread: this
                        terminal's undelivered sum for the member */
} tp_outcome;

/* Each apply_* runs inside a savepoint of the open transaction: a refused
 * job changes nothing and leaves the rest of the batch intact. They return
 * TP_OK when the job was decided (committed, replayed or refused — see
 * out->status), or TP_ERR_STORAGE when the database failed and the whole
 * transaction must be rolled back and retried. */
/* `sync`: as for tp_balance_get (balance.h), for the balance to show. */
struct tp_sync;
tp_status tp_store_apply_award(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                               const tp_award_job *job, tp_outcome *out) TP_MUST_CHECK;
tp_status tp_store_apply_refund(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                                const tp_refund_job *job, tp_outcome *out) TP_MUST_CHECK;

typedef struct tp_member_row {
    int64_t id;
    char code[TP_MEMBER_CODE_MAX + 1];
    char name[TP_NAME_MAX + 1];
    char phone[TP_PHONE_MAX + 1];
    char email[TP_EMAIL_MAX + 1];
    char app_id[TP_MEMBER_CODE_MAX + 1];
    int64_t created_ms;
    int64_t balance;
} tp_member_row;

/* TP_OK and *row filled, TP_ERR_NOT_FOUND, or TP_ERR_STORAGE. */
tp_status tp_store_find_member(tp_store *s, const char *code, tp_member_row *row,
                               tp_message *msg) TP_MUST_CHECK;

/* The row id of the member whose code, card or app id is `key`, without
 * reading the row: 1 and *id set, 0 when none, -1 on a storage error. */
int tp_store_member_id(tp_store *s, const char *key, int64_t *id) TP_MUST_CHECK;

/* Adds a member in its own transaction. TP_ERR_DUPLICATE when the code
 * or app id is taken (as a code, card or app id). Phone and email must be
 * normalised by the caller. */
tp_status tp_store_add_member(tp_store *s, const char *code, const char *name,
                              const char *phone, const char *email, const char *app_id,
                              int64_t now_ms, tp_message *msg) TP_MUST_CHECK;

/* The same inside a transaction the caller opened. */
tp_status tp_store_add_member_in_txn(tp_store *s, const char *code, const char *name,
                                     const char *phone, const char *email, const char *app_id,
                                     int64_t now_ms, tp_message *msg) TP_MUST_CHECK;

/* The insert alone, for a caller that already checked the code and app id
 * against codes, cards and app ids in this transaction. */
tp_status tp_store_insert_member(tp_store *s, const char *code, const char *name,
                                 const char *phone, const char *email, const char *app_id,
                                 int64_t now_ms, tp_message *msg) TP_MUST_CHECK;

/* Member by row id, with balance. */
tp_status tp_store_member_by_id(tp_store *s, int64_t id, tp_member_row *row, tp_message *msg) TP_MUST_CHECK;

/* The statements the modules keep prepared on a connection, by name: the
 * cache is an array indexed by this enum (docs/DESIGN.md §4). */
typedef enum tp_stmt {
    TP_STMT_AUDIT_APPEND_RANGE_INSERT,
    TP_STMT_AUDIT_APPEND_RANGE_LAST,
    TP_STMT_AUDIT_LEDGER_MAX,
    TP_STMT_BALANCE_SHOWN,
    TP_STMT_SPEND_SAVEPOINT,
    TP_STMT_SPEND_RELEASE_SP,
    TP_STMT_SPEND_ROLLBACK_SP,
    TP_STMT_SPEND_HELD_OTHERS,
    TP_STMT_SPEND_RESERVE,
    TP_STMT_SPEND_RELEASE,
    TP_STMT_SPEND_OF_TXN,
    TP_STMT_SPEND_INSERT_ENTRY,
    TP_STMT_SPEND_INSERT_REDEMPTION,
    TP_STMT_SPEND_FIND_REDEEM,
    TP_STMT_SPEND_GIVEN_BACK,
    TP_STMT_SPEND_CLEAR,
    TP_STMT_BULK_ADJUSTED_BEFORE,
    TP_STMT_BULK_CHECK_BALANCE,
    TP_STMT_BULK_CHECK_REQUEST_COUNT,
    TP_STMT_BULK_FIND_UNFINISHED,
    TP_STMT_BULK_NEXT_MEMBER,
    TP_STMT_EXPIRY_ENTRIES,
    TP_STMT_EXPIRY_NEXT_MEMBER,
    TP_STMT_EXPIRY_DONE_TODAY,
    TP_STMT_CSVIO_ADD_CARDS,
    TP_STMT_CSVIO_CHECK_IMPORTED_BEFORE,
    TP_STMT_CSVIO_NEXT_MEMBER_ID_MAX,
    TP_STMT_CSVIO_ROW_RELEASE,
    TP_STMT_CSVIO_ROW_SAVEPOINT,
    TP_STMT_CSVIO_ROW_UNDO,
    TP_STMT_LEDGER_APPEND_MANUAL_INSERT,
    TP_STMT_LEDGER_BALANCE_OF,
    TP_STMT_LEDGER_HELD_OF,
    TP_STMT_LEDGER_NEXT_ID,
    TP_STMT_MANAGERS_READ_ROW_SELECT,
    TP_STMT_MANAGERS_STORE_FAILURES,
    TP_STMT_MEMBERS_BY_EMAIL,
    TP_STMT_MEMBERS_BY_PHONE,
    TP_STMT_OUTBOX_COUNTS_GET,
    TP_STMT_OUTBOX_DELIVERED_BALANCE,
    TP_STMT_OUTBOX_DELIVERED_MARK,
    TP_STMT_OUTBOX_DISMISS,
    TP_STMT_OUTBOX_ENTRY,
    TP_STMT_OUTBOX_FAILED,
    TP_STMT_OUTBOX_LIST,
    TP_STMT_OUTBOX_NEXT,
    TP_STMT_OUTBOX_RETRY,
    TP_STMT_OUTBOX_SET_PARKED,
    TP_STMT_OUTBOX_STATE_GET,
    TP_STMT_OUTBOX_STATE_SET,
    TP_STMT_RETRO_ADD_RECENT,
    TP_STMT_RETRO_APPROVED_TODAY,
    TP_STMT_RETRO_APPROVE_RETRO,
    TP_STMT_RETRO_DO_CORRECT_REV,
    TP_STMT_RETRO_DO_DISMISS_INS,
    TP_STMT_RETRO_FIND_CREDIT,
    TP_STMT_RETRO_FORM_QUEUE,
    TP_STMT_RETRO_PARK_CLAIM,
    TP_STMT_RETRO_READ_JOURNAL,
    TP_STMT_RETRO_RESOLVE_QUEUE,
    TP_STMT_SYNC_LINK_GET,
    TP_STMT_SYNC_LINK_PUT,
    TP_STMT_SYNC_PULL_BALANCE,
    TP_STMT_SYNC_PULL_CARD,
    TP_STMT_SYNC_PULL_MEMBER,
    TP_STMT_SYNC_PULL_OVERDRAFT,
    TP_STMT_COUNT
} tp_stmt;

/* Statement `id`, prepared from `text` on first use and kept until the
 * store closes; reset and unbound; NULL on error. One id always comes with
 * the same SQL text (checked in sanitizer builds). The caller resets it
 * after use so no read stays open. */
struct sqlite3_stmt;
struct sqlite3_stmt *tp_store_cached(tp_store *s, tp_stmt id, const char *text);

/* The connection, for the admin modules' own queries (same thread rules). */
struct sqlite3 *tp_store_db(tp_store *s);

/* Last SQLite error text of this connection, for logs. */
const char *tp_store_errmsg(tp_store *s);

#endif
