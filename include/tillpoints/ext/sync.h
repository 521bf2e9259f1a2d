/*
 * sync.h — the plugin's sync extension, "tillpoints.sync/1": the state of
 * this terminal's link to the central PostgreSQL ([sync] in the config),
 * for a status line on the till. Changes also arrive as SYNC_STATE and
 * SYNC_PARKED events; the outbox itself is managed through the admin
 * extension (queue_status, queue_retry, queue_park, queue_unpark).
 */
#ifndef TILLPOINTS_EXT_SYNC_H
#define TILLPOINTS_EXT_SYNC_H

#include "../tillpoints.h"
#include "admin.h" /* tp_sync_state */

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_SYNC "tillpoints.sync/1"

typedef struct tp_sync_status {
    int configured;          /* [sync] postgres is set */
    tp_sync_state state;     /* TP_SYNC_OFF when standalone */
    char last_error[256];    /* sentence, "" when none */
    int64_t last_error_ms;   /* UTC ms */
    int64_t last_success_ms; /* UTC ms of the last central commit or pull */
    int64_t next_attempt_ms; /* while backing off, else 0 */
    uint64_t pushed;         /* outbox entries delivered by this instance */
    uint64_t parked;         /* entries parked after repeated refusals */
    uint64_t pulled;         /* directory/balance rows pulled */
    uint64_t reconnects;
} tp_sync_status;

typedef struct tp_sync_ext {
    /* [thread-safe] A snapshot kept in memory: never waits on the network
     * or the disk, so the till may call it on every screen refresh. */
    tp_status (*status)(const tp_plugin *plugin, tp_sync_status *out, tp_message *msg);
} tp_sync_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_SYNC_H */
