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

/* The same pass in pieces, for verify's bounded read transactions. Begin
 * with the largest audit record id to look at (later records are left
 * out), then call tp_auditlink_step for consecutive ledger id ranges
 * `after` < id <= `upto`, each inside a read transaction (any one), and
 * tp_auditlink_end once after the last. Each returns the problems it
 * reported, or -1 when the database cannot be read (the walk is then
 * spent). Owned by the caller: tp_auditlink_free. begin returns NULL when
 * out of memory. */
typedef struct tp_auditlink_walk tp_auditlink_walk;
tp_auditlink_walk *tp_auditlink_begin(uint64_t audit_upto, tp_audit_problem_fn problem,
                                      void *user);
int64_t tp_auditlink_step(tp_store *s, tp_auditlink_walk *a, int64_t after, int64_t upto);
int64_t tp_auditlink_end(tp_store *s, tp_auditlink_walk *a);
void tp_auditlink_free(tp_auditlink_walk *a);

#endif
