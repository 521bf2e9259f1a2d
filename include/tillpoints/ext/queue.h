/*
 * queue.h — the plugin's queue extension, "tillpoints.queue/1": the outbox
 * of entries waiting for the central database, and the central schema
 * (docs/DESIGN.md §8).
 *
 * [thread-safe, blocking], like every manager-side extension (admin.h).
 * The link's state for a till's status line is ext/sync.h.
 */
#ifndef TILLPOINTS_EXT_QUEUE_H
#define TILLPOINTS_EXT_QUEUE_H

#include "../tillpoints.h"
#include "sync.h" /* tp_sync_state */

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_QUEUE "tillpoints.queue/1"

typedef struct tp_queue_status {
    uint32_t struct_size;
    int32_t configured;         /* [sync] postgres is set */
    tp_sync_state state;        /* this process's sync thread */
    uint64_t pending;           /* waiting to be sent */
    uint64_t parked;            /* refused for good or parked by hand */
    uint64_t delivered;
    uint64_t failing;           /* pending rows that failed at least once */
    int64_t oldest_pending_ms;  /* UTC ms the oldest pending row was written; 0 none */
    int64_t last_success_ms;    /* last central commit or pull (any process); 0 never */
    int64_t last_pull_ms;
    char last_error[TP_MESSAGE_MAX + 1]; /* the link's last error, or the newest row error; "" */
    /* 2.2: the link as the till running the sync thread last recorded it
     * (any process on this database reads the same): */
    int64_t last_error_ms;      /* when last_error happened, UTC ms; 0 none */
    int64_t next_attempt_ms;    /* the next try while backing off, UTC ms; else 0 */
} tp_queue_status;

/* An array element: queue_list takes a stride. */
typedef struct tp_queue_entry {
    int64_t id;                 /* for queue_park / queue_unpark */
    char event_id[TP_EVENT_ID_MAX + 1];
    char kind[TP_QUEUE_KIND_MAX + 1]; /* ledger, member, card, audit */
    char member[TP_MEMBER_CODE_MAX + 1];
    int64_t points;
    int32_t attempts;
    int32_t parked;
    int64_t created_ms;
    char last_error[TP_MESSAGE_MAX + 1];
    char receipt[TP_RECEIPT_ID_MAX + 1]; /* 2.2: a ledger entry's receipt, else "" */
} tp_queue_entry;

typedef struct tp_queue_ext {
    uint32_t struct_size; /* sizeof(tp_queue_ext) in the plugin's build */

    /* Counts and the link's state. Works without [sync] (configured = 0). */
    tp_status (*queue_status)(const tp_plugin *plugin, tp_queue_status *out, tp_message *msg);
    /* Undelivered entries, oldest first: all, or parked ones only. Up to
     * `cap` elements of `stride` bytes (sizeof(tp_queue_entry)); *count
     * receives how many were written. */
    tp_status (*queue_list)(const tp_plugin *plugin, int32_t parked_only, tp_queue_entry *out,
                            size_t cap, size_t stride, size_t *count, tp_message *msg);
    /* Resets the failure counts of pending entries and asks the sync thread
     * (in any process on this database) to try now; *rows: entries reset. */
    tp_status (*queue_retry)(const tp_plugin *plugin, uint64_t *rows, tp_message *msg);
    /* Parks an entry (it stops being sent) or unparks it (sent again). */
    tp_status (*queue_park)(const tp_plugin *plugin, int64_t id, tp_message *msg);
    tp_status (*queue_unpark)(const tp_plugin *plugin, int64_t id, tp_message *msg);
    /* Creates or migrates the central schema; *from / *to: versions. */
    tp_status (*central_init)(const tp_plugin *plugin, int32_t *from, int32_t *to,
                              tp_message *msg);

    /* 2.2: resolves a parked entry for good without sending it (e.g. a
     * receipt the central had already credited at another terminal): it
     * is never sent and never counts in the balance shown; the local
     * ledger keeps it (append-only). Written with an audit record
     * ("queue dismiss": staff, reason) in the same transaction.
     * TP_ERR_STATE for an entry that is not parked. */
    tp_status (*queue_dismiss)(const tp_plugin *plugin, int64_t id, const char *staff,
                               const char *reason, tp_message *msg);
} tp_queue_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_QUEUE_H */
