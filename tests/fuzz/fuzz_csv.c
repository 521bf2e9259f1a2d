/*
 * fuzz_csv.c — libFuzzer target for the CSV import (plugin/csvio.c, libcsv
 * underneath): any bytes as a file, imported as a dry run into a real
 * SQLite store in /dev/shm. Invariants: the import returns a status and a
 * sentence, never applies anything in a dry run (the member count stays),
 * and counts no more invalid rows than rows plus one header problem.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "config.h"
#include "csvio.h"
#include "store.h"

static tp_store *store;
static tp_config cfg;
static char db_path[64], csv_path[64];

static int64_t members(void)
{
    sqlite3_stmt *q = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(tp_store_db(store), "SELECT count(*) FROM members", -1, &q, NULL) ==
            SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

static void cleanup(void)
{
    char wal[80], shm[80];
    tp_store_close(store);
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    snprintf(shm, sizeof shm, "%s-shm", db_path);
    unlink(db_path);
    unlink(wal);
    unlink(shm);
    unlink(csv_path);
}

/* libFuzzer calls these; declared for -Wmissing-prototypes. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    snprintf(db_path, sizeof db_path, "/dev/shm/tp-fuzz-csv-%d.db", (int)getpid());
    snprintf(csv_path, sizeof csv_path, "/dev/shm/tp-fuzz-csv-%d.csv", (int)getpid());
    tp_message msg;
    if (tp_config_load(&cfg, NULL, &msg) != TP_OK || tp_store_open(db_path, &store, &msg) != TP_OK)
        abort();
    atexit(cleanup);
    /* One existing member, so rows can also add to a balance. */
    if (tp_store_add_member(store, "M-0001", "Existing", NULL, NULL, NULL, 1, &msg) != TP_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(csv_path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    int64_t before = members();
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st = tp_csv_import(store, &cfg, csv_path, TP_IMPORT_DRY_RUN, "fuzz", NULL, NULL,
                                 NULL, &r, &msg);
    if (r.applied || members() != before)
        __builtin_trap();
    if (st != TP_OK && !msg.text[0])
        __builtin_trap();
    if (r.invalid > r.rows + 2)
        __builtin_trap();
    return 0;
}
