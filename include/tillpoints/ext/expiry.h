/*
 * expiry.h — the plugin's expiry extension, "tillpoints.expiry/1" (2.4):
 * points that expire [expiry] months calendar months after they were
 * earned (docs/DESIGN.md §5, "Expiry").
 *
 * [thread-safe, blocking], like every manager-side extension (admin.h).
 * Expiry only ever appends: points that expire leave the balance through
 * one ledger entry of kind "expire" per member and run. A till that is
 * not a back office also runs the expiry itself, once a day, on a thread
 * of its own; a back-office tool calls expire() when it wants to.
 */
#ifndef TILLPOINTS_EXT_EXPIRY_H
#define TILLPOINTS_EXT_EXPIRY_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_EXPIRY "tillpoints.expiry/1"

/* Filled by expire(); set struct_size first. */
typedef struct tp_expiry_result {
    uint32_t struct_size;
    uint64_t members; /* members who had points expire (or would) */
    uint64_t entries; /* expire entries written (or that would be) */
    int64_t points;   /* points expired, a positive number */
    int32_t applied;  /* 1: written; 0: a dry run, nothing written */
} tp_expiry_result;

/* A member's next expiry; set struct_size first. Both 0 when nothing
 * expires (no points, or expiry off). */
typedef struct tp_expiry_next {
    uint32_t struct_size;
    int64_t points; /* points that expire then (> 0) */
    int64_t at_ms;  /* the earliest expiry instant of those points, UTC ms;
                       a time already past means they go at the next run */
} tp_expiry_next;

typedef struct tp_expiry_ext {
    uint32_t struct_size; /* sizeof(tp_expiry_ext) in the plugin's build */

    /* Expires every member's points whose expiry instant is at or before
     * `as_of_ms` (0: now). Reads and checks first, then writes in short
     * transactions, each with an audit record "expire" (actor and
     * approver `staff`), so a till waiting for the database gets in
     * between. Entries are keyed by the day of as_of_ms and the member:
     * running it again the same day, from any process, writes nothing
     * twice. `dry_run` non-zero: the same figures, nothing written.
     * TP_ERR_STATE with a sentence when [expiry] months is 0.
     * `progress` (may be NULL) is called on the calling thread. */
    tp_status (*expire)(const tp_plugin *plugin, int64_t as_of_ms, int32_t dry_run,
                        const char *staff, tp_progress_fn progress, void *user,
                        tp_expiry_result *out, tp_message *msg);

    /* The next expiry of a member (by code, card, app id, phone or
     * email). 0 / 0 when none, or when expiry is off. */
    tp_status (*member_next)(const tp_plugin *plugin, const char *key, tp_expiry_next *out,
                             tp_message *msg);
} tp_expiry_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_EXPIRY_H */
