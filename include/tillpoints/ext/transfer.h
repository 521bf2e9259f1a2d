/*
 * transfer.h — the plugin's transfer extension, "tillpoints.transfer/1":
 * members and balances in and out as CSV files.
 *
 * [thread-safe, blocking], like every manager-side extension (admin.h).
 */
#ifndef TILLPOINTS_EXT_TRANSFER_H
#define TILLPOINTS_EXT_TRANSFER_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_TRANSFER "tillpoints.transfer/1"

#define TP_IMPORT_DRY_RUN 0x1u      /* check everything, write nothing */
#define TP_IMPORT_SKIP_INVALID 0x2u /* apply the valid rows anyway */

typedef struct tp_import_result {
    uint32_t struct_size;
    uint64_t rows;          /* data rows read */
    uint64_t invalid;       /* rows refused (each reported via problem) */
    uint64_t members_created;
    uint64_t entries;       /* ledger entries written (or that would be) */
    int64_t points_total;
    int32_t applied;        /* non-zero when the database was changed */
} tp_import_result;

typedef struct tp_transfer_ext {
    uint32_t struct_size; /* sizeof(tp_transfer_ext) in the plugin's build */

    /* Imports a CSV file (header: code,name,phone,email,points,reason —
     * see docs/MANAGER.md). Every row is checked first, reading only (a
     * dry run is that check); with any invalid row nothing is applied
     * unless TP_IMPORT_SKIP_INVALID. The rows are then written in short
     * transactions (chunks), each with an audit record ("import", by
     * `staff`) covering its entries. Re-importing the same file adds
     * nothing twice, which also finishes an interrupted import; `problem`
     * then hears, with line 0, how many rows an earlier run had written. */
    tp_status (*import_csv)(const tp_plugin *plugin, const char *path, uint32_t flags,
                            const char *staff, tp_progress_fn progress,
                            tp_problem_fn problem, void *user,
                            tp_import_result *result, tp_message *msg);

    /* Writes every member with their balance in the import format. */
    tp_status (*export_csv)(const tp_plugin *plugin, const char *path,
                            uint64_t *rows, tp_message *msg);
} tp_transfer_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_TRANSFER_H */
