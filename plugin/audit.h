/*
 * audit.h — the audit log: every point movement a person makes (manual,
 * bulk and imported adjustments, retroactive credits, corrections and the
 * reversals they write), every denial, PIN failure, lockout and claim
 * decision, written in the same transaction as its effect, and hash-chained:
 * each record's hash covers the previous record's hash and every field of
 * the record, so a changed, removed or reordered record breaks the chain,
 * which verify() detects.
 *
 * A record written in a transaction that added ledger entries also covers
 * those entries: it carries their id range, count, point sum and a digest
 * of their contents, all inside its hash. verify (auditlink.c) recomputes
 * the digest from the ledger and requires every entry a person made to lie
 * in some record's range, so a ledger entry cannot be changed, added or
 * removed without a matching change to the chain — and the chain's head is
 * anchored outside the terminal (anchor.c: the central database, or the
 * head hash written on the end-of-day report).
 */
#ifndef TP_AUDIT_H
#define TP_AUDIT_H

#include <stdarg.h>
#include <stdint.h>

#include <sodium.h>

#include "store.h"
#include "util.h"

#define TP_AUDIT_HASH_HEX 64 /* hex digits of a record hash or a ledger digest */

typedef struct tp_audit_entry {
    int64_t time_ms;
    const char *action;   /* "retro.credit", "retro.denied", "pin.failure",
                             "pin.lockout", "correction", "claim.park",
                             "claim.dismiss", "manager.add", "manager.reset_pin",
                             "adjust", "bulk", "import", "ledger.seal" */
    const char *actor;    /* staff who did it */
    const char *approver; /* manager who approved, or "" */
    const char *member;   /* member code, or "" */
    const char *location;
    const char *receipt;  /* the ledger key, or a batch's key prefix */
    int64_t points;
    const char *reason;
    const char *detail;   /* free text: what was refused and why, etc. */
} tp_audit_entry;


/* Appends one record inside the caller's open write transaction, which
 * must have been begun by tp_store_begin: the ledger entries the
 * transaction added since it began (or since its previous audit record)
 * are covered by this record. NULL strings are stored as "". */
tp_status tp_audit_append(tp_store *s, const tp_audit_entry *e, tp_message *msg) TP_MUST_CHECK;

/* Schema v5 upgrade, inside the migration's transaction: one "ledger.seal"
 * record covering every ledger entry written before entries had records
 * of their own (nothing when the ledger is empty). */
tp_status tp_audit_seal_history(tp_store *s, tp_message *msg) TP_MUST_CHECK;

/* `tillpoints audit seal`: in its own transaction, one "ledger.seal"
 * record by `staff` covering the ledger entries after the last covered one
 * (history loaded into the file from outside tillpoints). TP_ERR_STATE
 * when none of them needs a record. *seq receives the record's number. */
tp_status tp_audit_seal(tp_store *s, const char *location, const char *staff,
                        const char *reason, uint64_t *seq, tp_message *msg) TP_MUST_CHECK;

/* Walks the chain from the first record; reports each broken link through
 * `problem` (line = the record id). Returns the number of problems, or -1
 * when the log cannot be read. */
typedef void (*tp_audit_problem_fn)(void *user, uint64_t id, const char *sentence);

/* Formats one problem sentence (at most TP_MESSAGE_MAX bytes) and hands it
 * to `problem` with the record id it concerns (0: none); nothing when
 * `problem` is NULL. Every verify step reports through these. */
void tp_audit_vsay(tp_audit_problem_fn problem, void *user, uint64_t id, const char *fmt,
                      va_list ap) TP_PRINTF(4, 0);
void tp_audit_say(tp_audit_problem_fn problem, void *user, uint64_t id, const char *fmt, ...)
    TP_PRINTF(4, 5);
int64_t tp_audit_verify(tp_store *s, tp_audit_problem_fn problem, void *user);

/* The same walk in pieces, for verify's bounded read transactions: the
 * link to the record before is carried in `w` from piece to piece, so
 * walking ids 1..n in consecutive ranges reports exactly what one walk
 * would. tp_audit_verify_range checks the records `after` < id <= `upto`
 * (call inside a read transaction) and returns the problems it found, or
 * -1 when the log cannot be read. */
typedef struct tp_audit_walk {
    char expected[TP_AUDIT_HASH_HEX + 1]; /* the last record's stored hash */
    uint64_t prev_id;                     /* the last record's id; 0: none yet */
    int64_t problems;                     /* found so far */
} tp_audit_walk;
void tp_audit_walk_init(tp_audit_walk *w);
int64_t tp_audit_verify_range(tp_store *s, tp_audit_walk *w, uint64_t after, uint64_t upto,
                              tp_audit_problem_fn problem, void *user);

/* SQL condition: ledger entry `l` (a table alias in quotes) was made by a
 * person and must lie in some record's range: adjustments, bulk, import,
 * retro credits (also a correction's), expiry, and every reversal or
 * redemption given back that is not a refund's (a refund's is journaled in
 * `refunds`, keyed by its id): a manager's reversal of a redemption. */
#define TP_AUDIT_NEEDS_RECORD(l)                                                            \
    "(" l ".kind IN ('adjust', 'bulk', 'import', 'retro', 'expire') OR (" l ".kind IN"      \
    " ('reversal', 'unredeem') AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.location = " l ".location" \
    " AND f.refund = " l ".receipt)))"

/* The newest record: seq 0 and an empty hash when the log is empty. */
typedef struct tp_audit_tip {
    uint64_t seq;
    char hash[TP_AUDIT_HASH_HEX + 1];
    int64_t time_ms;
    char action[TP_AUDIT_NAME_MAX + 1];
} tp_audit_tip;
tp_status tp_audit_tip_get(tp_store *s, tp_audit_tip *out, tp_message *msg) TP_MUST_CHECK;

/* The stored hash of record `seq`: 1 found, 0 no such record, -1 error. */
int tp_audit_hash_of(tp_store *s, uint64_t seq, char hash[TP_AUDIT_HASH_HEX + 1]) TP_MUST_CHECK;

/* The record whose stored hash starts with `prefix` (lowercase hex):
 * 1 found (one), 0 none, 2 more than one, -1 error. */
int tp_audit_find_hash(tp_store *s, const char *prefix, uint64_t *seq,
                       char hash[TP_AUDIT_HASH_HEX + 1]) TP_MUST_CHECK;

/* The digest of a range of ledger entries, as the records carry it: the
 * lowercase hex of BLAKE2b-256 over str("tillpoints.ledger.v1") and, per
 * entry in id order, u64(id) i64(member_id) str(location) str(terminal)
 * str(receipt) str(kind) i64(points) i64(reverses, 0 for none) str(staff)
 * str(reason) str(comment) i64(time_ms) i64(recorded_ms) — the encoding
 * of audit.c. TP_AUDIT_LEDGER_COLUMNS selects those columns in that order
 * (the row's id first). */
#define TP_AUDIT_LEDGER_COLUMNS                                                               \
    "id, member_id, location, terminal, receipt, kind, points, COALESCE(reverses, 0), staff," \
    " reason, comment, time_ms, recorded_ms"
#define TP_AUDIT_LEDGER_NCOLS 13
void tp_audit_digest_init(crypto_generichash_state *st);
/* Adds the entry in columns col..col+12 of `q` (TP_AUDIT_LEDGER_COLUMNS). */
struct sqlite3_stmt;
void tp_audit_digest_row(crypto_generichash_state *st, struct sqlite3_stmt *q, int col);
void tp_audit_digest_final(crypto_generichash_state *st, char hex[TP_AUDIT_HASH_HEX + 1]);

#endif
