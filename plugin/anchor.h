/*
 * anchor.h — the audit log compared with heads kept outside the terminal:
 * the central database's (sync.c keeps it) and the one a manager wrote on
 * the end-of-day report. Also the "tillpoints.audit/3" extension
 * (ext/audit.h).
 */
#ifndef TP_ANCHOR_H
#define TP_ANCHOR_H

#include <stdint.h>

#include "audit.h"
#include "store.h"
#include "sync.h"
#include "util.h" /* TP_MUST_CHECK */

/* A head given back by a person: "SEQ:HASH" or "HASH", HASH being 16 to 64
 * hex digits (a prefix of the record's hash). */
typedef struct tp_anchor {
    int has_seq;
    uint64_t seq;
    char hash[TP_AUDIT_HASH_HEX + 1]; /* lowercase */
} tp_anchor;

/* TP_OK, or TP_ERR_INVALID_ARGUMENT with a sentence saying the format. */
tp_status tp_anchor_parse(const char *text, tp_anchor *out, tp_message *msg) TP_MUST_CHECK;

/* Inside verify's read transaction: the record the anchor names must still
 * exist with that hash. *found receives its number (0 when no record has
 * the hash). Returns problems reported, or -1 when the log cannot be read. */
int64_t tp_anchor_check(tp_store *s, const tp_anchor *a, uint64_t local_seq, uint64_t *found,
                        tp_audit_problem_fn problem, void *user);

/* The same for the central database's head of this terminal (state
 * COMPARED); nothing for the other states. */
int64_t tp_anchor_check_central(tp_store *s, const tp_central_head *c, uint64_t local_seq,
                                tp_audit_problem_fn problem, void *user);

#endif
