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

struct tp_anchor;

/* Every check, in one read transaction. `central` is this terminal's head
 * as the central database holds it, read beforehand (NULL: none read);
 * `anchor` a head a person gave back (NULL: none); `report` (may be NULL)
 * receives the local head and what the heads showed. */
tp_status tp_verify_anchored(tp_store *s, const tp_config *cfg, const tp_central_head *central,
                             const struct tp_anchor *anchor, tp_audit_report *report,
                             tp_problem_fn problem, void *user, tp_verify_result *result,
                             tp_message *msg);

#endif
