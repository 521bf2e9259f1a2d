/*
 * sync.h — the sync thread: the outbox to a central PostgreSQL, and the
 * member directory and confirmed balances back (docs/DESIGN.md §8).
 *
 * Runs only when [sync] postgres is set; never on the host's thread. The
 * thread owns its own SQLite connection and its libpq connection. It never
 * blocks shutdown for longer than one poll(): every wait also watches a
 * wake-up descriptor that tp_sync_stop() signals.
 */
#ifndef TP_SYNC_H
#define TP_SYNC_H

#include <stdint.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/tillpoints.h"
#include "util.h" /* TP_MUST_CHECK */

struct tp_instance;
struct tp_config;
typedef struct tp_sync tp_sync;

/* The central schema version this build speaks. */
/* v2: audit_heads, the audit chain check; v3: holds and tp_hold(),
 * overdrafts (no double spending between terminals) */
#define TP_CENTRAL_SCHEMA_VERSION 3

/* Starts the thread when the config has [sync] postgres; *out stays NULL
 * (and TP_OK) without it. */
tp_status tp_sync_start(struct tp_instance *in, tp_sync **out, tp_message *msg) TP_MUST_CHECK;

/* Signals, joins and frees; NULL is fine. Pending rows stay in the outbox. */
void tp_sync_stop(tp_sync *s);

/* [thread-safe, non-blocking] This process's view of the link. */
typedef struct tp_sync_snapshot {
    tp_sync_state state;
    tp_status status; /* of last_error: TP_ERR_UNREACHABLE, _CONFIG, _VERSION, ... */
    char last_error[256];
    int64_t last_error_ms;
    int64_t last_success_ms;
    int64_t next_attempt_ms; /* while backing off; else 0 */
    uint64_t pushed, parked, pulled, reconnects;
} tp_sync_snapshot;

void tp_sync_snapshot_get(tp_sync *s, tp_sync_snapshot *out);

/* The "tillpoints.sync/1" extension (ext/sync.h). */
extern const struct tp_sync_ext tp_sync_extension;

/* [blocking] Creates or migrates the central schema at cfg's [sync]
 * postgres. *from / *to: the versions before and after. A connection
 * refused is TP_ERR_UNREACHABLE, refused credentials TP_ERR_CONFIG, each
 * with a sentence (the driver's own words go to in's log). */
tp_status tp_central_init(struct tp_instance *in, int *from, int *to, tp_message *msg) TP_MUST_CHECK;

/* [blocking] The head of this terminal's audit chain as the central
 * database holds it (audit_heads, schema v2), read on a connection of its
 * own with the configured timeouts. Never fails: out->state says what was
 * found, and out->note why the head could not be read. */
typedef struct tp_central_head {
    int state; /* TP_AUDIT_CENTRAL_* (ext/audit.h) */
    uint64_t seq;
    char hash[TP_AUDIT_HASH_MAX + 1];
    char note[256];
} tp_central_head;
void tp_central_audit_head(const struct tp_config *cfg, tp_central_head *out);


#endif
