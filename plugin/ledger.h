/*
 * ledger.h — manager operations on the append-only ledger: the activity
 * log, manual and bulk adjustments. An adjustment is one transaction; a
 * bulk adjustment is written in chunks (bulk.c).
 */
#ifndef TP_LEDGER_H
#define TP_LEDGER_H

#include "config.h"
#include "store.h"
#include "tillpoints/ext/admin.h"
#include "util.h" /* TP_MUST_CHECK */

tp_status tp_ledger_activity(tp_store *s, const tp_config *cfg, const tp_activity_query *q,
                             tp_activity_row *rows, size_t cap, size_t stride, size_t *count,
                             tp_message *msg) TP_MUST_CHECK;

tp_status tp_ledger_adjust(tp_store *s, const tp_config *cfg, const tp_adjustment *adj,
                           tp_activity_row *entry, tp_message *msg) TP_MUST_CHECK;

/* A bulk adjustment (bulk.c): checked in a read transaction, then written
 * in chunks, each with its audit record; an interrupted one is finished by
 * running the same request again. */
tp_status tp_ledger_bulk(tp_store *s, const tp_config *cfg, const tp_bulk_adjustment *b,
                         tp_progress_fn progress, void *user, tp_bulk_result *result,
                         tp_message *msg) TP_MUST_CHECK;

/* How a bulk adjustment cuts its writes: a chunk ends at `chunk_members`
 * entries or `chunk_ms` milliseconds open, whichever comes first.
 * `committed` (may be NULL) hears of each committed part with the members
 * adjusted so far by this run. */
typedef struct tp_bulk_pace {
    uint32_t chunk_members;
    uint32_t chunk_ms;
    void (*committed)(void *user, uint64_t part, uint64_t members);
    void *user;
} tp_bulk_pace;

#define TP_BULK_CHUNK_MEMBERS 1000u
#define TP_BULK_CHUNK_MS 50u

/* tp_ledger_bulk with its own pace (NULL: the defaults). */
tp_status tp_ledger_bulk_paced(tp_store *s, const tp_config *cfg, const tp_bulk_adjustment *b,
                               const tp_bulk_pace *pace, tp_progress_fn progress, void *user,
                               tp_bulk_result *result, tp_message *msg) TP_MUST_CHECK;

/* Inside an open transaction: appends one manager entry (adjust, bulk,
 * import) after checking the balance rule. `key` is the entry's unique
 * receipt key. Returns TP_OK, TP_ERR_STATE (would go negative; sentence in
 * msg), TP_ERR_DUPLICATE (key exists) or TP_ERR_STORAGE. */
tp_status tp_ledger_append_manual(tp_store *s, const tp_config *cfg, int64_t member_id,
                                  const char *member_label, const char *kind, const char *key,
                                  int64_t points, const char *staff, const char *reason,
                                  const char *comment, int64_t *entry_id, tp_message *msg) TP_MUST_CHECK;

/* Next free ledger id: a unique, gap-free stamp for generated keys. Only
 * meaningful inside a write transaction. */
int64_t tp_ledger_next_id(tp_store *s);

/* Entry `id` as the activity log shows it. */
tp_status tp_ledger_read_entry(tp_store *s, int64_t id, tp_activity_row *row,
                               tp_message *msg) TP_MUST_CHECK;

/* Validates reason/comment/staff of a manager entry. */
tp_status tp_ledger_check_texts(const char *reason, const char *comment, const char *staff,
                                tp_message *msg) TP_MUST_CHECK;

#endif
