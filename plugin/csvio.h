/*
 * csvio.h — CSV import and export of members and points (libcsv does the
 * quoting). See csvio.c for the format.
 */
#ifndef TP_CSVIO_H
#define TP_CSVIO_H

#include "config.h"
#include "store.h"
#include "tillpoints/ext/admin.h"
#include "util.h" /* TP_MUST_CHECK */

/* How an import cuts its writes. Every write transaction ends once it
 * holds `chunk_rows` rows or has been open `chunk_ms` milliseconds,
 * whichever comes first, so a till's writer (busy timeout 5 s) waits at
 * most one chunk plus its commit. The defaults (TP_IMPORT_CHUNK_ROWS,
 * TP_IMPORT_CHUNK_MS) keep a chunk under about 50 ms; tests make chunks
 * small. `committed` (may be NULL) hears of each committed chunk, with
 * the last line it covers; progress comes every `progress_lines` lines. */
typedef struct tp_import_pace {
    uint32_t chunk_rows;
    uint32_t chunk_ms;
    uint32_t progress_lines;
    void (*committed)(void *user, uint64_t chunk, uint64_t last_line);
} tp_import_pace;

#define TP_IMPORT_CHUNK_ROWS 2000u
#define TP_IMPORT_CHUNK_MS 50u
#define TP_IMPORT_PROGRESS_LINES 10000u

/* Imports `path` (see csvio.c): first a read-only pass checks every row
 * (a dry run stops there), then the rows are written in chunks. */
tp_status tp_csv_import(tp_store *s, const tp_config *cfg, const char *path, uint32_t flags,
                        const char *staff, tp_progress_fn progress, tp_problem_fn problem,
                        void *user, tp_import_result *result, tp_message *msg) TP_MUST_CHECK;

/* tp_csv_import with its own pace (NULL: the defaults). */
tp_status tp_csv_import_paced(tp_store *s, const tp_config *cfg, const char *path,
                              uint32_t flags, const char *staff, const tp_import_pace *pace,
                              tp_progress_fn progress, tp_problem_fn problem, void *user,
                              tp_import_result *result, tp_message *msg) TP_MUST_CHECK;

tp_status tp_csv_export(tp_store *s, const char *path, uint64_t *rows, tp_message *msg) TP_MUST_CHECK;

#endif
