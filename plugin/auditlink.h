/*
 * auditlink.h — does the ledger still hold what the audit log says was
 * written? (see auditlink.c)
 */
#ifndef TP_AUDITLINK_H
#define TP_AUDITLINK_H

#include <stdint.h>

#include "audit.h"
#include "store.h"

/* In one pass over the ledger: every audit record's ledger range still
 * holds the entries it recorded (count, sum, digest), the ranges do not
 * overlap, and every entry a person made (TP_AUDIT_NEEDS_RECORD) lies in
 * some range. Each problem is reported through `problem` (id = the audit
 * record, or 0 for entries in no record). Returns the number of problems,
 * or -1 when the database cannot be read. Call inside a read transaction. */
int64_t tp_auditlink_verify(tp_store *s, tp_audit_problem_fn problem, void *user);

#endif
