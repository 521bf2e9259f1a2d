/*
 * verify.h — checks every invariant of a terminal's database.
 */
#ifndef TP_VERIFY_H
#define TP_VERIFY_H

#include "config.h"
#include "store.h"
#include "tillpoints/ext/admin.h"

tp_status tp_verify(tp_store *s, const tp_config *cfg, tp_problem_fn problem, void *user,
                    tp_verify_result *result, tp_message *msg);

#endif
