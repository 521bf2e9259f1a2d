/*
 * sync.h — the plugin's sync extension, "tillpoints.sync/2": the state of
 * this terminal's link to the central PostgreSQL ([sync] in the config),
 * for a status line on the till. Changes also arrive as SYNC_STATE and
 * SYNC_PARKED events; the outbox itself is managed through the queue
 * extension (ext/queue.h).
 */
#ifndef TILLPOINTS_EXT_SYNC_H
#define TILLPOINTS_EXT_SYNC_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_SYNC "tillpoints.sync/2"

/* The link to the central database (docs/DESIGN.md §8). */
typedef uint32_t tp_sync_state;
enum {
    TP_SYNC_OFF = 0,        /* no [sync] postgres: standalone */
    TP_SYNC_CONNECTING = 1, /* first attempt not finished yet */
    TP_SYNC_ONLINE = 2,     /* connected; the outbox drains */
    TP_SYNC_OFFLINE = 3,    /* unreachable or refused; retried with backoff */
    TP_SYNC_ERROR = 4       /* reachable but unusable (credentials, schema
                               version); retried with backoff; see last_error */
};

typedef struct tp_sync_status {
    uint32_t struct_size;    /* set by the caller; see tillpoints.h */
    int32_t configured;          /* [sync] postgres is set */
    tp_sync_state state;     /* TP_SYNC_OFF when standalone */
    char last_error[TP_MESSAGE_MAX + 1];    /* sentence, "" when none */
    int64_t last_error_ms;   /* UTC ms */
    int64_t last_success_ms; /* UTC ms of the last central commit or pull */
    int64_t next_attempt_ms; /* while backing off, else 0 */
    uint64_t pushed;         /* outbox entries delivered by this instance */
    uint64_t parked;         /* entries parked after repeated refusals */
    uint64_t pulled;         /* directory/balance rows pulled */
    uint64_t reconnects;
} tp_sync_status;

typedef struct tp_sync_ext {
    uint32_t struct_size; /* sizeof(tp_sync_ext) in the plugin's build */

    /* [thread-safe] A snapshot kept in memory: never waits on the network
     * or the disk, so the till may call it on every screen refresh. */
    tp_status (*status)(const tp_plugin *plugin, tp_sync_status *out, tp_message *msg);
} tp_sync_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_SYNC_H */
