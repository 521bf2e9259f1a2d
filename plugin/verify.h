/*
 * verify.h — checks every invariant of a terminal's database.
 */
#ifndef TP_VERIFY_H
#define TP_VERIFY_H

#include "config.h"
#include "store.h"
#include "sync.h"
#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/audit.h"
#include "util.h" /* TP_MUST_CHECK */

struct tp_anchor;

/* What the steps of a run took, for tests and measurements. */
typedef struct tp_verify_steps {
    uint64_t steps;     /* read transactions */
    int64_t longest_ms; /* the longest of them */
} tp_verify_steps;

/* Every check, on `s` (a connection no other thread uses meanwhile), in
 * bounded read transactions (verify.c says what a run covers). `central`
 * is this terminal's head as the central database holds it, read
 * beforehand (NULL: none read); `anchor` a head a person gave back (NULL:
 * none); `report` (may be NULL) receives the local head and what the
 * heads showed. `progress` (may be NULL) is called after every step, with
 * no read transaction open: row ids walked of the total. `steps` may be
 * NULL. */
tp_status tp_verify_anchored(tp_store *s, const tp_config *cfg, const tp_central_head *central,
                             const struct tp_anchor *anchor, tp_audit_report *report,
                             tp_progress_fn progress, tp_problem_fn problem, void *user,
                             tp_verify_result *result, tp_verify_steps *steps, tp_message *msg) TP_MUST_CHECK;

/* The same on a read-only connection of its own to cfg->database, opened
 * for the run and closed after it: no lock of the instance is held. */
tp_status tp_verify_database(const tp_config *cfg, const tp_central_head *central,
                             const struct tp_anchor *anchor, tp_audit_report *report,
                             tp_progress_fn progress, tp_problem_fn problem, void *user,
                             tp_verify_result *result, tp_verify_steps *steps, tp_message *msg) TP_MUST_CHECK;

#endif
