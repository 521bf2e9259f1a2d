/*
 * csvio.h — CSV import and export of members and points (libcsv does the
 * quoting). See csvio.c for the format.
 */
#ifndef TP_CSVIO_H
#define TP_CSVIO_H

#include "config.h"
#include "store.h"
#include "tillpoints/ext/admin.h"

tp_status tp_csv_import(tp_store *s, const tp_config *cfg, const char *path, uint32_t flags,
                        const char *staff, tp_progress_fn progress, tp_problem_fn problem,
                        void *user, tp_import_result *result, tp_message *msg);

tp_status tp_csv_export(tp_store *s, const char *path, uint64_t *rows, tp_message *msg);

#endif
