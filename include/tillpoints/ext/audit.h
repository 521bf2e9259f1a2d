/*
 * audit.h — the plugin's audit extension, "tillpoints.audit/3": the head of
 * the terminal's audit log, and verification against heads kept outside
 * the terminal.
 *
 * The audit log is hash-chained (each record's hash covers the one before
 * it), and every point movement a person makes — adjustments, bulk
 * adjustments, imports, retro credits, corrections and their reversals —
 * has a record that covers its ledger entries (their count, sum and a
 * digest of their contents). Anyone who can write the database file could
 * still rewrite history and recompute every hash, or delete the newest
 * records; what catches that is a head kept elsewhere:
 *
 *  - with [sync] configured, the central database holds each terminal's
 *    head and refuses an audit record that does not continue it; verify
 *    compares the local log with that head;
 *  - without one, the manager writes the head (`head`, printed by
 *    `tillpoints audit head`) on the end-of-day report, and later proves
 *    with an anchor ("SEQ:HASH") that the log still contains that record
 *    and is intact up to it.
 *
 * Like the other manager-side extensions (admin.h) these calls read the
 * database before they return: [thread-safe, blocking], never from the
 * checkout thread.
 */
#ifndef TILLPOINTS_EXT_AUDIT_H
#define TILLPOINTS_EXT_AUDIT_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_AUDIT "tillpoints.audit/3"

typedef struct tp_verify_result {
    uint32_t struct_size;
    uint64_t checks;     /* invariants checked */
    uint64_t problems;   /* violations found (each reported via problem) */
    uint64_t entries;    /* ledger rows */
    uint64_t members;
} tp_verify_result;

/* The newest record of the log. */
typedef struct tp_audit_head {
    uint32_t struct_size;
    uint64_t seq;                     /* its number (1, 2, ...); 0: the log is empty */
    char hash[TP_AUDIT_HASH_MAX + 1]; /* its hash; "" when empty */
    int64_t time_ms;                  /* when it was written */
    char action[TP_AUDIT_NAME_MAX + 1];                  /* e.g. "retro.credit", "adjust", "import" */
    char location[TP_AUDIT_NAME_MAX + 1];                /* this terminal, as the central database */
    char terminal[TP_AUDIT_NAME_MAX + 1];                /* knows it */
} tp_audit_head;

/* What verify could compare the log with centrally. */
typedef uint32_t tp_audit_central;
enum {
    TP_AUDIT_CENTRAL_OFF = 0,         /* no [sync] postgres configured */
    TP_AUDIT_CENTRAL_UNREACHABLE = 1, /* configured, the head could not be read: see note */
    TP_AUDIT_CENTRAL_EMPTY = 2,       /* reachable; it holds no record of this terminal yet */
    TP_AUDIT_CENTRAL_COMPARED = 3     /* its head was compared with the local log */
};

typedef struct tp_audit_report {
    uint32_t struct_size;
    tp_audit_head local;              /* its struct_size is set with the report's */              /* the local head verify saw */
    tp_audit_central central;
    uint64_t central_seq;             /* COMPARED: the head the central database holds */
    char central_hash[TP_AUDIT_HASH_MAX + 1];
    char central_note[TP_MESSAGE_MAX + 1];           /* UNREACHABLE: why, as a sentence; else "" */
    int32_t anchor_checked;               /* an anchor was given and checked */
    uint64_t anchor_seq;              /* the record it names (found by hash when it gave
                                         none; 0 when no record has that hash) */
} tp_audit_report;

typedef struct tp_audit_ext {
    uint32_t struct_size; /* sizeof(tp_audit_ext) in the plugin's build */

    /* The newest record: for the end-of-day report. Give it on as
     * "SEQ:HASH" (the first TP_AUDIT_ANCHOR_MIN_HEX hex digits are enough:
     * forging a rewritten chain that matches them takes about 2^64 hashes). */
    tp_status (*head)(const tp_plugin *plugin, tp_audit_head *out, tp_message *msg);

    /* Checks every invariant of the database: integrity, every trigger's
     * SQL text against the schema this version creates, reversals,
     * receipts earning at most once, balances, the audit chain and the
     * ledger entries each record covers, and:
     *  - with [sync] configured, the central head (read first, on a
     *    connection of its own, with the configured timeouts): records it
     *    holds that the local log lacks (the newest were deleted), or a
     *    local record that is not the one it received (altered, hashes
     *    recomputed), are problems; an unreachable central database is not
     *    (report->central says so);
     *  - with `anchor` (NULL for none): "SEQ:HASH" or "HASH", HASH being the
     *    hash or a prefix of at least TP_AUDIT_ANCHOR_MIN_HEX hex digits.
     *    The record must still exist with that hash (the chain walk shows
     *    it is intact up to it): a missing or different record is a
     *    problem. A malformed anchor is TP_ERR_INVALID_ARGUMENT before any
     *    check runs.
     * verify reads on a connection of its own in short read transactions
     * (config [limits] verify_step_rows), so the other admin calls, the
     * forms and the tills carry on meanwhile; it covers the rows that
     * existed when it began. `progress` (may be NULL) is called on the
     * calling thread between steps with `done` of `total` rows read (the
     * file's integrity check counts as one read of the ledger).
     * Problems are reported through `problem` (line 0); `result` and
     * `report` (each may be NULL) are filled. TP_OK only without problems. */
    tp_status (*verify)(const tp_plugin *plugin, const char *anchor,
                        tp_progress_fn progress, tp_problem_fn problem, void *user,
                        tp_verify_result *result, tp_audit_report *report,
                        tp_message *msg);

    /* Appends one "ledger.seal" record, by `staff`, covering every ledger
     * entry after the last one a record covers: for history loaded into
     * the file from outside tillpoints (raw SQL, another system), which
     * verify otherwise reports as entries in no audit record. It approves
     * nothing; the record and its actor stay in the log, and go to the
     * central database like any other. TP_ERR_STATE when no entry needs
     * it. `out` (may be NULL) receives the new head. */
    tp_status (*seal)(const tp_plugin *plugin, const char *staff, const char *reason,
                      tp_audit_head *out, tp_message *msg);
} tp_audit_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_AUDIT_H */
