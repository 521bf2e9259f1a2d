/*
 * audit.h — the audit log: every retroactive credit, denial, PIN failure,
 * lockout, correction and claim decision, written in the same transaction
 * as its effect, and hash-chained: each record's hash covers the previous
 * record's hash and every field of the record, so a changed, removed or
 * reordered record breaks the chain, which verify() detects.
 */
#ifndef TP_AUDIT_H
#define TP_AUDIT_H

#include <stdint.h>

#include "store.h"

typedef struct tp_audit_entry {
    int64_t time_ms;
    const char *action;   /* "retro.credit", "retro.denied", "pin.failure",
                             "pin.lockout", "correction", "claim.park",
                             "claim.dismiss", "manager.add", "manager.reset_pin" */
    const char *actor;    /* staff who did it */
    const char *approver; /* manager who approved, or "" */
    const char *member;   /* member code, or "" */
    const char *location;
    const char *receipt;
    int64_t points;
    const char *reason;
    const char *detail;   /* free text: what was refused and why, etc. */
} tp_audit_entry;

/* Appends one record inside the caller's open write transaction. NULL
 * strings are stored as "". */
tp_status tp_audit_append(tp_store *s, const tp_audit_entry *e, tp_message *msg);

/* Walks the chain from the first record; reports each broken link through
 * `problem` (line = the record id). Returns the number of problems, or -1
 * when the log cannot be read. */
typedef void (*tp_audit_problem_fn)(void *user, uint64_t id, const char *sentence);
int64_t tp_audit_verify(tp_store *s, tp_audit_problem_fn problem, void *user);

#endif
