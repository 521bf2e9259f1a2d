/*
 * bench_admin.c — the manager-side benchmark: the admin extension at store
 * scale (docs/DESIGN.md §10: "member lookup and activity-log paging at 1 M
 * members / 10 M ledger rows, CSV import rate").
 *
 * What it measures, in one process and one run, printed as one table:
 *
 *  0. Setup (untimed, but reported): the plugin is loaded and initialised
 *     once on an empty file so that *it* creates the schema (v1 + v2); the
 *     plugin is closed and the file is bulk-loaded with raw SQLite (prepared
 *     statements, one transaction, journal and fsync off for the load only):
 *     N members (default 1,000,000) with code M-0000001.., a generated name,
 *     a unique phone +49151xxxxxxxx and an email nNNN@example.com; and L
 *     ledger rows (default 10,000,000) in id order, with increasing times,
 *     unique keys, kinds earn (80 %, each with its journaled receipt, as the
 *     plugin writes them) and adjust (20 %, a quarter of them negative but
 *     never below a zero balance), spread at random over the members, plus
 *     one "heavy" member with exactly 10,000 entries. The plugin is then
 *     reopened on the loaded file. By default the plugin's secondary indexes
 *     and the triggers of the three tables are dropped for the load and
 *     recreated from their own SQL afterwards (--index-before loads into the
 *     schema as it is); either way the schema is then compared with the
 *     plugin's, object by object. The loaded history is then sealed in the
 *     audit log (audit ext `seal`, one record covering it, as a store that
 *     loads history from elsewhere does), since verify requires every
 *     adjustment to be covered by an audit record. Dropping the triggers means that AFTER
 *     INSERT triggers (schema v4's outbox_ledger / outbox_member) do not run
 *     for the loaded history: the file looks like a store whose outbox has
 *     been delivered and emptied. With --index-before they run.
 *  1. admin.member_get by code, by phone typed in national format
 *     ("0151 1234 5678") and by email typed in mixed case: 10,000 random
 *     members each, p50/p99/max. Each answer is checked (right member, and
 *     for codes the balance the loader computed).
 *  2. admin.activity, pages of 50 rows: the newest page, the 1,000th page
 *     (before_id = the cursor the 999th page hands out), one member's
 *     history (the heavy member: first and 100th page) and a kind filter
 *     (adjust: first and 1,000th page); median of 50 calls each. Also, as a
 *     report row, a kind filter that matches nothing (reversal), which is the
 *     worst case of the keyset scan. Each page is checked (count, order,
 *     filter, cursor).
 *  3. The heavy member's balance through member_get (the balance is the sum
 *     of the member's ledger rows, so it grows with the member's history):
 *     median and p99 of 1,000 calls, checked against the loader's sum.
 *  4. admin.import_csv of R rows (default 1,000,000): half new members, half
 *     existing ones adding points, shuffled; rows/s over the whole call
 *     (hash, parse, checks, one transaction, commit). The ledger must gain
 *     exactly R import rows with the file's point total and the members
 *     table exactly R/2 members.
 *  5. admin.verify on the whole database (after the import): time, and it
 *     must find no problem.
 *  6. admin.import_csv of R rows into a new database (a store migrating its
 *     members: every row a new member with an opening balance), against a
 *     baseline of SQLite alone writing the same rows into the same schema
 *     in the same run (INSERT ... SELECT from a staged table: no CSV, no
 *     checks), so the ratio shows how close the import is to the floor
 *     this machine's SQLite sets. Members, entries and points are checked.
 *
 * Why this way: a store that has run for a few years has this much data, and
 * docs/DESIGN.md §10 names these figures. Everything goes through the shipped
 * build/tillpoints.so loaded with dlopen by host-shim/host.c, as a
 * back-office host would; only the bulk load is raw SQLite, because putting
 * 10 M ledger rows through the plugin would take longer than the whole bench
 * may and would measure the writer, not the manager's calls. Inputs come from
 * a seeded PRNG (splitmix64), so two runs build the same database. The
 * database lives in a fresh directory under /tmp, removed at the end.
 *
 * --dir DIR --end-now --load-only is the web benchmark's store
 * (bench_web.c): the file is loaded into DIR and kept, the ledger's
 * entries end at the present (so the dashboard's last 30 days hold about
 * 860,000 of them), and every tenth sale has a receipt beside it that was
 * completed without a member (the missed scans a dashboard counts), on
 * two tills.
 *
 * Usage: bench_admin [--quick] [--members N] [--ledger N] [--import N]
 *                    [--seed S] [--plugin PATH] [--index-before] [--load-only]
 *                    [--keep] [--dir DIR] [--end-now]
 * Exit status 0 when everything ran and every correctness check passed,
 * whatever the verdicts of the targets (MISSED does not fail); 1 when the
 * bench could not run or a check failed.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "host.h"
#include "tillpoints/ext/audit.h"
#include "bench.h"

#define MEMBERS_DEFAULT 1000000
#define LEDGER_DEFAULT 10000000
#define MEMBERS_QUICK 100000
#define LEDGER_QUICK 1000000
#define HEAVY_ENTRIES 10000
#define LEDGER_MIN 300000 /* enough adjust rows (20 %) for a 1,000th page */
#define LOOKUPS 10000
#define PAGE_ROWS 50
#define PAGE_RUNS 50
#define EMPTY_KIND_RUNS 3
#define BALANCE_RUNS 1000
#define STAFF_N 20
#define TIME_BASE 1577836800000LL /* 2020-01-01T00:00:00Z: the first entry */
#define TIME_STEP 3000            /* ms between ledger entries */

/* Targets (the bench brief; docs/DESIGN.md §10 names the figures). */
#define TARGET_LOOKUP_P99_MS 0.5
#define TARGET_PAGE_MS 5.0
#define TARGET_BALANCE_MS 5.0
#define TARGET_IMPORT_ROWS_S 100000.0

/* ---- small utilities ---------------------------------------------------- */

static double secs_since(int64_t t0)
{
    return (double)(bench_now_ns() - t0) / 1e9;
}

static int sql_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bench: SQL failed: %s\n  in: %.160s\n", err ? err : "?", sql);
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* One integer from a query with an optional integer parameter; -1 on error. */
static int64_t sql_int(sqlite3 *db, const char *sql, int64_t param)
{
    sqlite3_stmt *q = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_bind_parameter_count(q) > 0)
            sqlite3_bind_int64(q, 1, param);
        if (sqlite3_step(q) == SQLITE_ROW)
            v = sqlite3_column_int64(q, 0);
    }
    if (v < 0)
        fprintf(stderr, "bench: query failed: %s\n  in: %.160s\n", sqlite3_errmsg(db), sql);
    sqlite3_finalize(q);
    return v;
}

/* ---- the generated store -------------------------------------------------- */

static const char *const first_names[] = {
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Ida", "Jonas",
    "Karl", "Lena", "Mia", "Noah", "Olga", "Paul", "Quirin", "Rosa", "Sofia", "Tim",
    "Ute", "Viktor", "Wanda", "Xaver", "Yara", "Zoe", "Aylin", "Mehmet", "Lukas", "Marie",
    "Elias", "Leonie"};
static const char *const last_names[] = {
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
    "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann",
    "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Yılmaz", "Kaya"};
#define NAMES_N 32

typedef struct store_gen {
    size_t members;        /* members loaded (ids 1..members) */
    size_t ledger;         /* ledger rows loaded (ids 1..ledger) */
    size_t heavy;          /* index of the heavy member */
    int64_t *balance;      /* expected balance per member index, incl. import */
    int64_t *heavy_ids;    /* the heavy member's ledger ids, ascending */
    size_t heavy_n;
    size_t earn_rows, adjust_rows;
    int64_t time_base;     /* UTC ms of the first entry */
    int missed;            /* journal member-less receipts too (--end-now) */
} store_gen;

/* Member index i (0-based) -> its fields. Phones are a bijection of i on
 * 8 digits (7919 is prime to 10^8), so unique for i < 10^8. */
static void member_code(char *out, size_t cap, size_t i)
{
    snprintf(out, cap, "M-%07zu", i + 1);
}

static unsigned long phone_digits(size_t i)
{
    return (unsigned long)(((uint64_t)i * 7919u + 12345678u) % 100000000u);
}

static void member_phone_e164(char *out, size_t cap, size_t i)
{
    snprintf(out, cap, "+49151%08lu", phone_digits(i));
}

static void member_phone_typed(char *out, size_t cap, size_t i)
{
    unsigned long d = phone_digits(i);
    snprintf(out, cap, "0151 %04lu %04lu", d / 10000, d % 10000);
}

static void member_email(char *out, size_t cap, size_t i)
{
    snprintf(out, cap, "n%zu@example.com", i + 1);
}

static void member_email_typed(char *out, size_t cap, size_t i)
{
    snprintf(out, cap, "N%zu@Example.COM", i + 1);
}

static void member_name(char *out, size_t cap, uint64_t *rng)
{
    snprintf(out, cap, "%s %s", first_names[bench_rng_next(rng) % NAMES_N],
             last_names[bench_rng_next(rng) % NAMES_N]);
}

/* ---- setup: bulk load with raw SQLite ------------------------------------ */

typedef struct index_sql {
    const char *type; /* "INDEX" or "TRIGGER" */
    char *name;
    char *sql;
} index_sql;

/* The schema as a text (type, name, sql of every object), to compare the
 * file after the load with what the plugin created. Caller frees. */
static char *schema_text(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    char *out = sqlite3_mprintf("%s", "");
    if (sqlite3_prepare_v2(db, "SELECT type, name, COALESCE(sql, '') FROM sqlite_master"
                               " ORDER BY type, name", -1, &q, NULL) != SQLITE_OK) {
        sqlite3_free(out);
        return NULL;
    }
    while (out && sqlite3_step(q) == SQLITE_ROW) {
        char *next = sqlite3_mprintf("%s%s %s %s\n", out, sqlite3_column_text(q, 0),
                                     sqlite3_column_text(q, 1), sqlite3_column_text(q, 2));
        sqlite3_free(out);
        out = next;
    }
    sqlite3_finalize(q);
    return out;
}

/* The explicit (non-constraint) indexes and the triggers of the loaded
 * tables, with the plugin's own SQL for recreating them. */
static int list_droppable(sqlite3 *db, index_sql *idx, size_t cap, size_t *n)
{
    sqlite3_stmt *q = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, "SELECT type, name, sql FROM sqlite_master"
                               " WHERE type IN ('index', 'trigger') AND sql IS NOT NULL"
                               " AND tbl_name IN ('members', 'ledger', 'receipts')"
                               " ORDER BY type, name", -1, &q, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (*n == cap) {
            fprintf(stderr, "bench: more than %zu indexes and triggers\n", cap);
            rc = -1;
            break;
        }
        idx[*n].type = strcmp((const char *)sqlite3_column_text(q, 0), "index") == 0
                           ? "INDEX" : "TRIGGER";
        idx[*n].name = strdup((const char *)sqlite3_column_text(q, 1));
        idx[*n].sql = strdup((const char *)sqlite3_column_text(q, 2));
        if (!idx[*n].name || !idx[*n].sql) {
            free(idx[*n].name);
            free(idx[*n].sql);
            rc = -1;
            break;
        }
        (*n)++;
    }
    sqlite3_finalize(q);
    return rc;
}

typedef struct load_times {
    double members_s, ledger_s, index_s, total_s;
    double db_mib;
} load_times;

enum { L_MEMBER, L_LEDGER, L_RECEIPT, L_COUNT };

static int load_members(sqlite3 *db, sqlite3_stmt *q, store_gen *g, uint64_t *rng)
{
    char code[32], name[96], phone[32], email[64];
    for (size_t i = 0; i < g->members; i++) {
        member_code(code, sizeof code, i);
        member_name(name, sizeof name, rng);
        member_phone_e164(phone, sizeof phone, i);
        member_email(email, sizeof email, i);
        sqlite3_bind_int64(q, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(q, 2, code, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, phone, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, email, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 6, g->time_base - 86400000LL + (int64_t)i);
        if (sqlite3_step(q) != SQLITE_DONE) {
            fprintf(stderr, "bench: loading member %s: %s\n", code, sqlite3_errmsg(db));
            return -1;
        }
        sqlite3_reset(q);
    }
    return 0;
}

static int load_ledger(sqlite3 *db, sqlite3_stmt *const *st, store_gen *g, uint64_t *rng)
{
    static const char *const staff_names[STAFF_N] = {
        "staff-1",  "staff-2",  "staff-3",  "staff-4",  "staff-5",  "staff-6",  "staff-7",
        "staff-8",  "staff-9",  "staff-10", "staff-11", "staff-12", "staff-13", "staff-14",
        "staff-15", "staff-16", "staff-17", "staff-18", "staff-19", "staff-20"};
    static const char *const reasons[4] = {"goodwill", "complaint", "birthday bonus",
                                           "correction"};
    size_t stride = g->ledger / HEAVY_ENTRIES; /* >= 1: checked by the caller */
    size_t heavy_left = HEAVY_ENTRIES;
    char key[32], txn[32], code[32];
    sqlite3_int64 receipt_id = 0;
    for (size_t r = 0; r < g->ledger; r++) {
        size_t m;
        if (heavy_left && r % stride == stride / 2) {
            m = g->heavy;
            heavy_left--;
            g->heavy_ids[g->heavy_n++] = (int64_t)r + 1;
        } else {
            do
                m = (size_t)(bench_rng_next(rng) % g->members);
            while (m == g->heavy);
        }
        int64_t t = g->time_base + (int64_t)r * TIME_STEP;
        const char *staff = staff_names[bench_rng_next(rng) % STAFF_N];
        int earn = bench_rng_next(rng) % 5 != 0;
        int64_t points;
        if (earn) {
            points = bench_rng_range(rng, 1, 500);
            snprintf(key, sizeof key, "R%09zu", r + 1);
            snprintf(txn, sizeof txn, "T%09zu", r + 1);
            member_code(code, sizeof code, m);
            sqlite3_stmt *q = st[L_RECEIPT];
            sqlite3_bind_int64(q, 1, ++receipt_id);
            sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 3, txn, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 4, staff, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 5, t);
            sqlite3_bind_int64(q, 6, points * 100 + bench_rng_range(rng, 0, 99) + 250);
            sqlite3_bind_int64(q, 7, points * 100 + bench_rng_range(rng, 0, 99));
            sqlite3_bind_int64(q, 8, (sqlite3_int64)m + 1);
            sqlite3_bind_text(q, 9, code, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 10, "till-1", -1, SQLITE_STATIC);
            if (sqlite3_step(q) != SQLITE_DONE) {
                fprintf(stderr, "bench: loading receipt %s: %s\n", key, sqlite3_errmsg(db));
                return -1;
            }
            sqlite3_reset(q);
            if (g->missed && receipt_id % 10 == 0) {
                /* A sale beside it that nobody scanned a card for. */
                char nkey[32];
                snprintf(nkey, sizeof nkey, "N%09zu", r + 1);
                sqlite3_bind_int64(q, 1, ++receipt_id);
                sqlite3_bind_text(q, 2, nkey, -1, SQLITE_TRANSIENT);
                sqlite3_bind_null(q, 8);
                sqlite3_bind_text(q, 9, "", -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 10, (r / 10) % 2 ? "till-2" : "till-1", -1, SQLITE_STATIC);
                if (sqlite3_step(q) != SQLITE_DONE) {
                    fprintf(stderr, "bench: loading receipt %s: %s\n", nkey,
                            sqlite3_errmsg(db));
                    return -1;
                }
                sqlite3_reset(q);
            }
            g->earn_rows++;
        } else {
            points = bench_rng_range(rng, 1, 200);
            /* a quarter of the adjustments take points away, never below 0 */
            if (bench_rng_next(rng) % 4 == 0 && g->balance[m] >= points)
                points = -points;
            snprintf(key, sizeof key, "ADJ-%09zu", r + 1);
            g->adjust_rows++;
        }
        g->balance[m] += points;
        sqlite3_stmt *q = st[L_LEDGER];
        sqlite3_bind_int64(q, 1, (sqlite3_int64)r + 1);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)m + 1);
        sqlite3_bind_text(q, 3, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, earn ? "earn" : "adjust", -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, points);
        sqlite3_bind_text(q, 6, staff, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 7, earn ? "" : reasons[r % 4], -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 8, t);
        if (sqlite3_step(q) != SQLITE_DONE) {
            fprintf(stderr, "bench: loading ledger row %zu: %s\n", r + 1, sqlite3_errmsg(db));
            return -1;
        }
        sqlite3_reset(q);
        if ((r + 1) % 1000000 == 0)
            fprintf(stderr, "bench:   %zu ledger rows\n", r + 1);
    }
    return 0;
}

/* Loads the generated store into the plugin's (closed) database file. */
static int bulk_load(const char *path, store_gen *g, uint64_t seed, int index_after,
                     load_times *lt)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st[L_COUNT] = {NULL, NULL, NULL};
    index_sql idx[32];
    size_t n_idx = 0;
    char *before = NULL, *after = NULL;
    int rc = -1;
    uint64_t rng = seed ^ 0x5EEDF00DULL;
    int64_t t0 = bench_now_ns();
    memset(idx, 0, sizeof idx);

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        fprintf(stderr, "bench: cannot open %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
        goto out;
    }
    before = schema_text(db);
    /* For the load only: no journal, no fsync, a 1 GiB page cache, the file
     * to ourselves, index sorts on 2 threads. The plugin sets WAL +
     * synchronous=FULL when it reopens. */
    if (!before || sql_exec(db, "PRAGMA journal_mode = OFF") != 0 ||
        sql_exec(db, "PRAGMA synchronous = OFF") != 0 ||
        sql_exec(db, "PRAGMA locking_mode = EXCLUSIVE") != 0 ||
        sql_exec(db, "PRAGMA cache_size = -1048576") != 0 ||
        sql_exec(db, "PRAGMA temp_store = MEMORY") != 0 ||
        sql_exec(db, "PRAGMA threads = 2") != 0)
        goto out;
    if (index_after) {
        if (list_droppable(db, idx, sizeof idx / sizeof idx[0], &n_idx) != 0)
            goto out;
        for (size_t i = 0; i < n_idx; i++) {
            char *drop = sqlite3_mprintf("DROP %s \"%w\"", idx[i].type, idx[i].name);
            int bad = !drop || sql_exec(db, drop) != 0;
            sqlite3_free(drop);
            if (bad)
                goto out;
        }
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO members(id, code, name, phone, email, created_ms)"
                               " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &st[L_MEMBER],
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO ledger(id, member_id, location, terminal, receipt,"
                               " kind, points, reverses, staff, reason, comment, time_ms,"
                               " recorded_ms) VALUES(?1, ?2, 'store-1', 'till-1', ?3, ?4, ?5,"
                               " NULL, ?6, ?7, '', ?8, ?8)", -1, &st[L_LEDGER],
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO receipts(id, location, terminal, receipt, txn,"
                               " staff, time_ms, currency, total_minor, eligible_minor,"
                               " line_count, member_id, scanned_code, journaled_ms)"
                               " VALUES(?1, 'store-1', ?10, ?2, ?3, ?4, ?5, 'EUR', ?6,"
                               " ?7, 3, ?8, ?9, ?5)", -1, &st[L_RECEIPT], NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: prepare for the load: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    if (sql_exec(db, "BEGIN") != 0)
        goto out;
    fprintf(stderr, "bench: loading %zu members\n", g->members);
    int64_t t1 = bench_now_ns();
    if (load_members(db, st[L_MEMBER], g, &rng) != 0)
        goto out;
    lt->members_s = secs_since(t1);
    fprintf(stderr, "bench: loading %zu ledger rows (%s)\n", g->ledger,
            index_after ? "secondary indexes and triggers dropped" : "schema as is");
    t1 = bench_now_ns();
    if (load_ledger(db, st, g, &rng) != 0)
        goto out;
    lt->ledger_s = secs_since(t1);
    t1 = bench_now_ns();
    for (size_t i = 0; i < n_idx; i++) {
        fprintf(stderr, "bench: creating %s %s\n", idx[i].type, idx[i].name);
        if (sql_exec(db, idx[i].sql) != 0)
            goto out;
    }
    if (sql_exec(db, "COMMIT") != 0)
        goto out;
    lt->index_s = secs_since(t1);
    after = schema_text(db);
    if (!after || strcmp(before, after) != 0) {
        fprintf(stderr, "bench: the schema after the load differs from the plugin's:\n"
                        "--- plugin\n%s--- after load\n%s", before, after ? after : "?");
        goto out;
    }
    if (sql_exec(db, "PRAGMA journal_mode = WAL") != 0)
        goto out;
    rc = 0;
out:
    for (int i = 0; i < L_COUNT; i++)
        sqlite3_finalize(st[i]);
    sqlite3_close(db);
    for (size_t i = 0; i < n_idx; i++) {
        free(idx[i].name);
        free(idx[i].sql);
    }
    sqlite3_free(before);
    sqlite3_free(after);
    lt->total_s = secs_since(t0);
    struct stat sb;
    lt->db_mib = stat(path, &sb) == 0 ? (double)sb.st_size / 1048576.0 : -1.0;
    return rc;
}

/* ---- the plugin ----------------------------------------------------------- */

typedef struct bench_host {
    tp_hostlib *lib;
    const tp_plugin *plugin;
    const tp_admin_set *ad;
} bench_host;

static int plugin_open(bench_host *h, const char *plugin_path, const char *config)
{
    tp_hostlib_options opt;
    memset(&opt, 0, sizeof opt);
    opt.plugin_path = plugin_path;
    opt.config_path = config;
    opt.host_name = "bench_admin";
    char err[512];
    h->lib = tp_hostlib_open(&opt, err, sizeof err);
    if (!h->lib) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    h->plugin = tp_hostlib_plugin(h->lib);
    h->ad = tp_hostlib_admin(h->lib);
    if (!h->ad) {
        fprintf(stderr, "bench: the plugin has no admin extension\n");
        return -1;
    }
    return 0;
}

static void plugin_close(bench_host *h)
{
    if (h->lib)
        tp_hostlib_close(h->lib);
    h->lib = NULL;
}

/* ---- the table ------------------------------------------------------------ */

static int failures; /* correctness checks that failed */

static void row(const char *figure, const char *value, const char *unit, const char *target,
                const char *ratio, const char *verdict)
{
    printf("%-50s %12s  %-7s %-11s %-6s %s\n", figure, value, unit, target, ratio, verdict);
}

/* A measured figure; has_target 0: report only ("-"). */
static void row_num(const char *figure, double v, int decimals, const char *unit,
                    const char *target, double ratio, int has_target, int ok)
{
    char buf[32], rb[32] = "-";
    snprintf(buf, sizeof buf, "%.*f", decimals, v);
    if (has_target && ratio >= 0)
        snprintf(rb, sizeof rb, "%.2f", ratio);
    row(figure, buf, unit, target, rb, has_target ? (ok ? "ok" : "MISSED") : "-");
}

/* A time against an upper bound: ratio = value / bound (< 1 is good). */
static void row_ms_below(const char *figure, double ms, double bound)
{
    char target[32];
    snprintf(target, sizeof target, "< %g", bound);
    row_num(figure, ms, 3, "ms", target, ms / bound, 1, ms < bound);
}

/* A correctness check: "ok" or "FAILED" (and the exit status becomes 1). */
static void row_check(const char *figure, const char *value, const char *unit,
                      const char *target, int ok)
{
    row(figure, value, unit, target, "-", ok ? "ok" : "FAILED");
    if (!ok)
        failures++;
}

typedef struct setup_info {
    double schema_s, reopen_s, seal_s;
    load_times lt;
    int index_after;
} setup_info;

static void print_head(const char *head, const setup_info *si)
{
    printf("%s\n", head);
    row("figure", "value", "unit", "target", "ratio", "verdict");
    row("------", "-----", "----", "------", "-----", "-------");
    row_num("setup: schema by plugin init", si->schema_s, 2, "s", "-", -1, 0, 1);
    row_num("setup: load members (raw SQLite)", si->lt.members_s, 2, "s", "-", -1, 0, 1);
    row_num("setup: load ledger + receipts (raw SQLite)", si->lt.ledger_s, 2, "s", "-", -1, 0,
            1);
    row_num(si->index_after ? "setup: recreate indexes/triggers + commit"
                            : "setup: commit (indexes in place)",
            si->lt.index_s, 2, "s", "-", -1, 0, 1);
    row_num("setup: whole load", si->lt.total_s, 2, "s", "-", -1, 0, 1);
    row_num("setup: plugin reopen", si->reopen_s, 3, "s", "-", -1, 0, 1);
    row_num("setup: audit seal of the loaded history", si->seal_s, 2, "s", "-", -1, 0, 1);
    row_num("database size after load", si->lt.db_mib, 0, "MiB", "-", -1, 0, 1);
}

/* ---- 1. lookups ------------------------------------------------------------ */

enum { BY_CODE, BY_PHONE, BY_EMAIL, BY_COUNT };

/* `lookups` member_get calls of one kind on random members; fills ns[]. */
static int run_lookups(const bench_host *h, const store_gen *g, int by, size_t lookups,
                       uint64_t *rng, int64_t *ns, long *wrong)
{
    char key[64], code[32];
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    *wrong = 0;
    for (size_t i = 0; i < lookups; i++) {
        size_t m = (size_t)(bench_rng_next(rng) % g->members);
        if (by == BY_CODE)
            member_code(key, sizeof key, m);
        else if (by == BY_PHONE)
            member_phone_typed(key, sizeof key, m);
        else
            member_email_typed(key, sizeof key, m);
        int64_t t0 = bench_now_ns();
        tp_status st = h->ad->members->member_get(h->plugin, key, &info, &msg);
        ns[i] = bench_now_ns() - t0;
        if (st != TP_OK) {
            fprintf(stderr, "bench: member_get(%s): %s (%s)\n", key, tp_hostlib_status_name(st),
                    msg.text);
            return -1;
        }
        member_code(code, sizeof code, m);
        if (strcmp(info.code, code) != 0 || info.balance != g->balance[m]) {
            if (*wrong < 5)
                fprintf(stderr, "bench: member_get(%s) gave %s balance %" PRId64
                        ", expected %s balance %" PRId64 "\n", key, info.code, info.balance,
                        code, g->balance[m]);
            (*wrong)++;
        }
    }
    return 0;
}

/* ---- 2. activity pages ----------------------------------------------------- */

typedef struct page_spec {
    const char *figure;
    const char *member;   /* member filter or NULL */
    int64_t before_id;    /* 0 = newest */
    int64_t first_id;     /* the id the page must start with; -1: no rows */
    uint32_t kinds;       /* 0 = all */
    int runs;
} page_spec;

/* Runs one page `runs` times; returns the median in ms, or -1 on error.
 * Checks every answer; a wrong page counts as a failure. */
static double run_page(const bench_host *h, const page_spec *p, tp_activity_row *rows,
                       int *page_ok)
{
    int64_t ns[PAGE_RUNS] = {0};
    tp_activity_query q;
    memset(&q, 0, sizeof q);
    q.struct_size = sizeof q;
    q.kinds = p->kinds;
    q.member = p->member;
    q.before_id = p->before_id;
    *page_ok = 1;
    int runs = p->runs > PAGE_RUNS ? PAGE_RUNS : p->runs;
    for (int r = 0; r < runs; r++) {
        size_t count = 0;
        tp_message msg;
        int64_t t0 = bench_now_ns();
        tp_status st =
            h->ad->ledger->activity(h->plugin, &q, rows, PAGE_ROWS, sizeof rows[0], &count, &msg);
        ns[r] = bench_now_ns() - t0;
        if (st != TP_OK) {
            fprintf(stderr, "bench: activity (%s): %s (%s)\n", p->figure,
                    tp_hostlib_status_name(st), msg.text);
            return -1.0;
        }
        int ok = p->first_id < 0 ? count == 0 : count == PAGE_ROWS && rows[0].id == p->first_id;
        for (size_t i = 0; ok && i < count; i++) {
            ok = (p->before_id == 0 || rows[i].id < p->before_id) &&
                 (i == 0 || rows[i].id < rows[i - 1].id) &&
                 (!p->member || strcmp(rows[i].member_code, p->member) == 0) &&
                 (p->kinds != TP_KIND_ADJUST || strcmp(rows[i].kind, "adjust") == 0);
        }
        if (!ok && *page_ok) {
            fprintf(stderr, "bench: activity (%s): wrong page: %zu rows, first id %" PRId64
                    ", expected first id %" PRId64 "\n", p->figure, count,
                    count ? rows[0].id : 0, p->first_id);
            *page_ok = 0;
        }
    }
    qsort(ns, (size_t)runs, sizeof ns[0], bench_cmp_i64);
    return bench_pct_ms(ns, (size_t)runs, 0.5);
}

/* ---- 4. CSV import ----------------------------------------------------------- */

typedef struct import_expect {
    size_t rows, new_members;
    int64_t points;
    size_t first_new;     /* member index of the first new member */
    int64_t first_new_points;
} import_expect;

/* Writes the import file: rows shuffled between new members (codes after
 * the loaded ones) and existing members adding points. Updates the expected
 * balances in g (which must have room for the new members). */
static int write_import(const char *path, store_gen *g, size_t rows, uint64_t *rng,
                        import_expect *ex)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    unsigned char *is_new = malloc(rows);
    if (!is_new) {
        fclose(f);
        return -1;
    }
    memset(ex, 0, sizeof *ex);
    for (size_t i = 0; i < rows; i++)
        is_new[i] = i < rows / 2;
    for (size_t i = rows; i > 1; i--) { /* Fisher-Yates */
        size_t j = (size_t)(bench_rng_next(rng) % i);
        unsigned char t = is_new[i - 1];
        is_new[i - 1] = is_new[j];
        is_new[j] = t;
    }
    fputs("code,name,phone,email,points,reason\n", f);
    char code[32], name[96], phone[32], email[64];
    size_t next_new = g->members;
    ex->first_new = next_new;
    for (size_t i = 0; i < rows; i++) {
        int64_t points = bench_rng_range(rng, 1, 500);
        size_t m;
        if (is_new[i]) {
            m = next_new++;
            member_code(code, sizeof code, m);
            member_name(name, sizeof name, rng);
            member_phone_typed(phone, sizeof phone, m);
            member_email(email, sizeof email, m);
            fprintf(f, "%s,%s,%s,%s,%" PRId64 ",opening balance\n", code, name, phone, email,
                    points);
            ex->new_members++;
            if (m == ex->first_new)
                ex->first_new_points = points;
        } else {
            m = (size_t)(bench_rng_next(rng) % g->members);
            member_code(code, sizeof code, m);
            fprintf(f, "%s,,,,%" PRId64 ",\n", code, points);
        }
        g->balance[m] += points;
        ex->points += points;
        ex->rows++;
    }
    free(is_new);
    if (fclose(f) != 0) {
        fprintf(stderr, "bench: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

typedef struct problems {
    long n;
} problems;

static void on_problem(void *user, uint64_t line, const char *sentence)
{
    problems *p = user;
    if (p->n++ < 5)
        fprintf(stderr, "bench: problem (line %" PRIu64 "): %s\n", line, sentence);
}

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    (void)user;
    if (done % 200000 == 0 || done == total)
        fprintf(stderr, "bench:   import %" PRIu64 " of %" PRIu64 " lines\n", done, total);
}

/* ---- 6. CSV import into a new database (a migration) ----------------------
 * A store moving its members from another system: every row a new member
 * with name, phone, email and an opening balance, into a database the
 * plugin just created. The baseline is SQLite alone doing the same writes
 * on the same schema, pragmas and machine: the rows (already normalised,
 * no CSV, no checks) staged in a temporary table, then one INSERT ... SELECT
 * into members and one into the ledger, in one transaction. */

typedef struct migration {
    double import_s, raw_s;
    int ok;
} migration;

typedef struct migrant {
    char code[32], name[96], phone_typed[32], phone[32], email[64];
    int64_t points;
} migrant;

/* Row i of the migration; the same rng state gives the same rows. */
static void migrant_row(size_t i, uint64_t *rng, migrant *m)
{
    snprintf(m->code, sizeof m->code, "N-%07zu", i + 1);
    member_name(m->name, sizeof m->name, rng);
    member_phone_typed(m->phone_typed, sizeof m->phone_typed, i);
    member_phone_e164(m->phone, sizeof m->phone, i);
    member_email(m->email, sizeof m->email, i);
    m->points = bench_rng_range(rng, 1, 500);
}

static int write_config(const char *path, const char *db)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "[store]\ndatabase = %s\nlocation = store-1\nterminal = till-1\n"
               "currency = EUR\ndefault_country_code = 49\n", db);
    return fclose(f) == 0 ? 0 : -1;
}

/* The baseline: SQLite alone, same rows, into a second new database. */
static int raw_migration(const char *db_path, size_t rows, uint64_t seed, double *secs)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int ok = 0;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sql_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                     " PRAGMA foreign_keys = ON; PRAGMA cache_size = -131072;"
                     " PRAGMA temp_store = MEMORY") != 0)
        goto out;
    int64_t t0 = bench_now_ns();
    if (sql_exec(db, "BEGIN IMMEDIATE; CREATE TEMP TABLE stage(line INTEGER PRIMARY KEY,"
                     " code TEXT, name TEXT, phone TEXT, email TEXT, points INTEGER)") != 0 ||
        sqlite3_prepare_v2(db, "INSERT INTO stage VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &q,
                           NULL) != SQLITE_OK)
        goto out;
    uint64_t rng = seed;
    migrant m;
    for (size_t i = 0; i < rows; i++) {
        migrant_row(i, &rng, &m);
        sqlite3_bind_int64(q, 1, (int64_t)i + 2);
        sqlite3_bind_text(q, 2, m.code, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, m.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, m.phone, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, m.email, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 6, m.points);
        if (sqlite3_step(q) != SQLITE_DONE) {
            fprintf(stderr, "bench: raw stage: %s\n", sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_reset(q);
    }
    if (sql_exec(db, "INSERT INTO members(code, name, phone, email, created_ms)"
                     " SELECT code, name, phone, email, 1767225600000 FROM stage ORDER BY line;"
                     " INSERT INTO ledger(member_id, location, terminal, receipt, kind, points,"
                     " staff, reason, time_ms, recorded_ms)"
                     " SELECT m.id, 'store-1', 'till-1', 'RAW-L' || s.line, 'import', s.points,"
                     " 'bench', 'opening balance', 1767225600000, 1767225600000"
                     " FROM stage s JOIN members m ON m.code = s.code ORDER BY s.line;"
                     " DROP TABLE stage; COMMIT") != 0)
        goto out;
    *secs = secs_since(t0);
    ok = sql_int(db, "SELECT count(*) FROM ledger", 0) == (int64_t)rows;
out:
    sqlite3_finalize(q);
    sqlite3_close(db);
    return ok ? 0 : -1;
}

static int run_migration(const char *plugin_path, size_t rows, uint64_t seed, int keep,
                         migration *out)
{
    memset(out, 0, sizeof *out);
    char dir[] = "/tmp/tillpoints-bench-migrate-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char config[512], raw_config[512], csv[512], raw_db[512];
    snprintf(config, sizeof config, "%s/new.conf", dir);
    snprintf(raw_config, sizeof raw_config, "%s/raw.conf", dir);
    snprintf(csv, sizeof csv, "%s/migrate.csv", dir);
    snprintf(raw_db, sizeof raw_db, "%s/raw.db", dir);
    int rc = -1;
    bench_host h;
    memset(&h, 0, sizeof h);
    if (write_config(config, "new.db") != 0 || write_config(raw_config, "raw.db") != 0)
        goto done;
    /* Both databases created by the plugin: the same schema. */
    if (plugin_open(&h, plugin_path, raw_config) != 0)
        goto done;
    plugin_close(&h);
    FILE *f = fopen(csv, "w");
    if (!f)
        goto done;
    fputs("code,name,phone,email,points,reason\n", f);
    uint64_t rng = seed;
    int64_t points = 0;
    migrant m;
    for (size_t i = 0; i < rows; i++) {
        migrant_row(i, &rng, &m);
        fprintf(f, "%s,%s,%s,%s,%" PRId64 ",opening balance\n", m.code, m.name, m.phone_typed,
                m.email, m.points);
        points += m.points;
    }
    if (fclose(f) != 0)
        goto done;
    if (plugin_open(&h, plugin_path, config) != 0)
        goto done;
    fprintf(stderr, "bench: import_csv into a new database, %zu rows\n", rows);
    problems pr = {0};
    tp_import_result ir;
    memset(&ir, 0, sizeof ir);
    ir.struct_size = sizeof ir;
    tp_message msg;
    int64_t t0 = bench_now_ns();
    tp_status st = h.ad->transfer->import_csv(h.plugin, csv, 0, "bench", on_progress, on_problem,
                                              &pr, &ir, &msg);
    out->import_s = secs_since(t0);
    tp_member_info last;
    memset(&last, 0, sizeof last);
    last.struct_size = sizeof last;
    tp_status lst = h.ad->members->member_get(h.plugin, m.code, &last, &msg);
    out->ok = st == TP_OK && ir.applied && ir.rows == rows && ir.invalid == 0 &&
              ir.members_created == rows && ir.entries == rows && ir.points_total == points &&
              pr.n == 0 && lst == TP_OK && last.balance == m.points &&
              strcmp(last.phone, m.phone) == 0 && strcmp(last.email, m.email) == 0;
    if (!out->ok)
        fprintf(stderr, "bench: migration check: %s (%s); rows %" PRIu64 " created %" PRIu64
                " entries %" PRIu64 " points %" PRId64 " (expected %" PRId64 "), %ld problems\n",
                tp_hostlib_status_name(st), msg.text, ir.rows, ir.members_created, ir.entries,
                ir.points_total, points, pr.n);
    plugin_close(&h);
    fprintf(stderr, "bench: baseline, the same rows by SQLite alone\n");
    if (raw_migration(raw_db, rows, seed, &out->raw_s) != 0) {
        fprintf(stderr, "bench: the raw SQLite baseline failed\n");
        goto done;
    }
    rc = 0;
done:
    plugin_close(&h);
    if (keep)
        fprintf(stderr, "bench: kept %s\n", dir);
    else
        bench_remove_dir(dir);
    return rc;
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: bench_admin [--quick] [--members N] [--ledger N] [--import N] [--seed S]\n"
            "                   [--plugin PATH] [--index-before] [--load-only] [--keep]\n"
            "  --quick         CI size: %d members, %d ledger rows, %d import rows\n"
            "  --members N     members loaded (default %d)\n"
            "  --ledger N      ledger rows loaded (default %d; at least %d)\n"
            "  --import N      CSV rows imported (default: the number of members)\n"
            "  --seed S        PRNG seed (default 42)\n"
            "  --plugin PATH   plugin to load (default build/tillpoints.so)\n"
            "  --index-before  load into the plugin's schema as it is, instead of\n"
            "                  dropping its indexes and triggers and recreating them\n"
            "  --load-only     stop after the setup (compare load strategies)\n"
            "  --keep          keep the temporary directory (its path goes to stderr)\n"
            "  --dir DIR       load into DIR (created; must not hold a database) and keep it\n"
            "  --end-now       the ledger ends now, with member-less receipts (the web\n"
            "                  benchmark's store, bench_web)\n",
            MEMBERS_QUICK, LEDGER_QUICK, MEMBERS_QUICK, MEMBERS_DEFAULT, LEDGER_DEFAULT,
            LEDGER_MIN);
}

static int parse_count(const char *s, size_t min, size_t max, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || s[0] == '-' || v < min || v > max)
        return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    size_t n_members = MEMBERS_DEFAULT, n_ledger = LEDGER_DEFAULT, n_import = 0;
    uint64_t seed = 42;
    const char *plugin_path = "build/tillpoints.so";
    int index_after = 1, keep = 0, quick = 0, load_only = 0, end_now = 0;
    const char *dir_given = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
            n_members = MEMBERS_QUICK;
            n_ledger = LEDGER_QUICK;
        } else if (strcmp(argv[i], "--members") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], 100, 50000000, &n_members) != 0) {
                fprintf(stderr, "bench: --members wants a count from 100 to 50000000\n");
                return 1;
            }
        } else if (strcmp(argv[i], "--ledger") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], LEDGER_MIN, 500000000, &n_ledger) != 0) {
                fprintf(stderr, "bench: --ledger wants a count from %d to 500000000\n",
                        LEDGER_MIN);
                return 1;
            }
        } else if (strcmp(argv[i], "--import") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], 2, 50000000, &n_import) != 0) {
                fprintf(stderr, "bench: --import wants a count from 2 to 50000000\n");
                return 1;
            }
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc) {
            plugin_path = argv[++i];
        } else if (strcmp(argv[i], "--index-before") == 0) {
            index_after = 0;
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir_given = argv[++i];
            keep = 1;
        } else if (strcmp(argv[i], "--end-now") == 0) {
            end_now = 1;
        } else if (strcmp(argv[i], "--load-only") == 0) {
            load_only = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 1;
        }
    }
    if (n_import == 0)
        n_import = n_members;
    if (n_members + n_import / 2 + 1 > 100000000) {
        fprintf(stderr, "bench: at most 10^8 members in all (the phone numbers run out)\n");
        return 1;
    }

    int status = 1, dir_made = 0;
    char dir[512] = "/tmp/tillpoints-bench-admin-XXXXXX";
    char config[512], db_path[512], csv_path[512], mach[256], heavy_code[32], head[512];
    bench_host h;
    memset(&h, 0, sizeof h);
    store_gen g;
    memset(&g, 0, sizeof g);
    int64_t *ns = NULL;
    tp_activity_row *rows = NULL;
    sqlite3 *ro = NULL;
    setup_info si;
    memset(&si, 0, sizeof si);
    si.index_after = index_after;
    tp_message msg;
    double load0 = bench_loadavg();

    g.members = n_members;
    g.ledger = n_ledger;
    g.heavy = n_members / 2;
    g.time_base = TIME_BASE;
    if (end_now) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        g.time_base = (int64_t)now.tv_sec * 1000 - (int64_t)n_ledger * TIME_STEP;
        g.missed = 1;
    }
    g.balance = calloc(n_members + n_import / 2 + 1, sizeof *g.balance);
    g.heavy_ids = calloc(HEAVY_ENTRIES, sizeof *g.heavy_ids);
    ns = calloc(LOOKUPS > BALANCE_RUNS ? LOOKUPS : BALANCE_RUNS, sizeof *ns);
    rows = calloc(PAGE_ROWS, sizeof *rows);
    if (!g.balance || !g.heavy_ids || !ns || !rows) {
        fprintf(stderr, "bench: out of memory\n");
        goto out;
    }
    member_code(heavy_code, sizeof heavy_code, g.heavy);
    bench_machine(mach, sizeof mach);

    if (dir_given) {
        snprintf(dir, sizeof dir, "%s", dir_given);
        struct stat sb;
        char old_db[600];
        snprintf(old_db, sizeof old_db, "%s/admin.db", dir);
        if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || stat(old_db, &sb) == 0) {
            fprintf(stderr, "bench: %s cannot be created, or already holds admin.db\n", dir);
            goto out;
        }
    } else if (!mkdtemp(dir)) {
        fprintf(stderr, "bench: cannot create %s: %s\n", dir, strerror(errno));
        goto out;
    }
    dir_made = 1;
    snprintf(config, sizeof config, "%s/tillpoints.conf", dir);
    snprintf(db_path, sizeof db_path, "%s/admin.db", dir);
    snprintf(csv_path, sizeof csv_path, "%s/import.csv", dir);
    FILE *cf = fopen(config, "w");
    if (!cf) {
        fprintf(stderr, "bench: cannot write %s: %s\n", config, strerror(errno));
        goto out;
    }
    fprintf(cf, "[store]\ndatabase = admin.db\nlocation = store-1\nterminal = till-1\n"
                "currency = EUR\ndefault_country_code = 49\n");
    fclose(cf);

    /* ---- 0. setup ---- */
    fprintf(stderr, "bench: %s: the plugin creates the schema\n", dir);
    int64_t t0 = bench_now_ns();
    if (plugin_open(&h, plugin_path, config) != 0)
        goto out;
    plugin_close(&h);
    si.schema_s = secs_since(t0);
    if (bulk_load(db_path, &g, seed, index_after, &si.lt) != 0)
        goto out;
    if (g.heavy_n != HEAVY_ENTRIES) {
        fprintf(stderr, "bench: the heavy member got %zu entries\n", g.heavy_n);
        goto out;
    }
    /* The bulk load's 1 GiB cache was freed; give it back to the system so
     * it does not make the plugin's growth look negative. */
    malloc_trim(0);
    long rss_before = bench_proc_status_kib("VmRSS");
    t0 = bench_now_ns();
    if (plugin_open(&h, plugin_path, config) != 0)
        goto out;
    si.reopen_s = secs_since(t0);
    /* The loaded adjustments were written around the plugin, so no audit
     * record covers them; a store loading history from elsewhere seals it
     * once (one record by a named person), and so does the bench. */
    t0 = bench_now_ns();
    {
        const tp_audit_ext *au = h.plugin->get_extension(h.plugin, TP_EXT_AUDIT);
        tp_message why;
        if (!au || au->seal(h.plugin, "bench", "history loaded with raw SQLite", NULL, &why) !=
                       TP_OK) {
            fprintf(stderr, "bench: audit seal: %s\n", au ? why.text : "no audit extension");
            goto out;
        }
    }
    si.seal_s = secs_since(t0);
    if (load_only) {
        snprintf(head, sizeof head, "bench_admin --load-only: seed %" PRIu64 ", %zu members,"
                 " %zu ledger rows; %s; load average %.2f at start, %.2f at end", seed,
                 n_members, n_ledger, mach, load0, bench_loadavg());
        print_head(head, &si);
        status = 0;
        goto out;
    }
    /* A second, read-only connection of the bench's own, for cursors and
     * read-backs (never timed). */
    if (sqlite3_open_v2(db_path, &ro, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench: cannot open %s read-only\n", db_path);
        goto out;
    }
    sqlite3_busy_timeout(ro, 10000);

    /* ---- 1. lookups ---- */
    static const char *const by_name[BY_COUNT] = {"code", "phone (national format)",
                                                  "email (mixed case)"};
    double lk[BY_COUNT][3];
    long lk_wrong[BY_COUNT];
    uint64_t rng = seed;
    for (int by = 0; by < BY_COUNT; by++) {
        fprintf(stderr, "bench: %d member_get by %s\n", LOOKUPS, by_name[by]);
        if (run_lookups(&h, &g, by, LOOKUPS, &rng, ns, &lk_wrong[by]) != 0)
            goto out;
        qsort(ns, LOOKUPS, sizeof *ns, bench_cmp_i64);
        lk[by][0] = bench_pct_ms(ns, LOOKUPS, 0.5);
        lk[by][1] = bench_pct_ms(ns, LOOKUPS, 0.99);
        lk[by][2] = bench_pct_ms(ns, LOOKUPS, 1.0);
    }

    /* The plugin's memory in the host at this many members: the instance,
     * its threads and connections, after 30,000 lookups warmed its caches. */
    long rss_after = bench_proc_status_kib("VmRSS");

    /* ---- 2. activity pages ---- */
    int64_t newest = (int64_t)g.ledger;
    int64_t deep = (int64_t)(999 * PAGE_ROWS);
    /* The adjust rows' ids, newest first, from the file itself. */
    int64_t adj_first = sql_int(ro, "SELECT id FROM ledger WHERE kind = 'adjust'"
                                    " ORDER BY id DESC LIMIT 1", 0);
    int64_t adj_cursor = sql_int(ro, "SELECT id FROM ledger WHERE kind = 'adjust'"
                                     " ORDER BY id DESC LIMIT 1 OFFSET ?1", deep - 1);
    int64_t adj_deep = sql_int(ro, "SELECT id FROM ledger WHERE kind = 'adjust'"
                                   " ORDER BY id DESC LIMIT 1 OFFSET ?1", deep);
    if (adj_first < 0 || adj_cursor < 0 || adj_deep < 0)
        goto out;
    /* The heavy member's 100th page: its cursor is the id 99*50 entries back. */
    size_t hp = (size_t)HEAVY_ENTRIES - 1 - (size_t)99 * PAGE_ROWS;
    const page_spec pages[] = {
        {"activity, newest page (before_id 0)", NULL, 0, newest, 0, PAGE_RUNS},
        {"activity, 1,000th page", NULL, newest - deep + 1, newest - deep, 0, PAGE_RUNS},
        {"activity, one member, newest page", heavy_code, 0, g.heavy_ids[HEAVY_ENTRIES - 1],
         0, PAGE_RUNS},
        {"activity, one member, 100th page", heavy_code, g.heavy_ids[hp + 1], g.heavy_ids[hp],
         0, PAGE_RUNS},
        {"activity, kind adjust, newest page", NULL, 0, adj_first, TP_KIND_ADJUST, PAGE_RUNS},
        {"activity, kind adjust, 1,000th page", NULL, adj_cursor, adj_deep, TP_KIND_ADJUST,
         PAGE_RUNS},
        {"activity, kind reversal (no rows), page 1", NULL, 0, -1, TP_KIND_REVERSAL,
         EMPTY_KIND_RUNS},
    };
    enum { N_PAGES = sizeof pages / sizeof pages[0] };
    double page_ms[N_PAGES];
    int page_ok[N_PAGES];
    for (size_t i = 0; i < N_PAGES; i++) {
        fprintf(stderr, "bench: %s, %d calls\n", pages[i].figure, pages[i].runs);
        page_ms[i] = run_page(&h, &pages[i], rows, &page_ok[i]);
        if (page_ms[i] < 0)
            goto out;
    }

    /* ---- 3. the heavy member's balance ---- */
    fprintf(stderr, "bench: %d balances of %s (%d entries)\n", BALANCE_RUNS, heavy_code,
            HEAVY_ENTRIES);
    long bal_wrong = 0;
    for (int i = 0; i < BALANCE_RUNS; i++) {
        tp_member_info info = {.struct_size = sizeof info};
        int64_t b0 = bench_now_ns();
        tp_status st = h.ad->members->member_get(h.plugin, heavy_code, &info, &msg);
        ns[i] = bench_now_ns() - b0;
        if (st != TP_OK) {
            fprintf(stderr, "bench: member_get(%s): %s\n", heavy_code, msg.text);
            goto out;
        }
        bal_wrong += info.balance != g.balance[g.heavy];
    }
    qsort(ns, BALANCE_RUNS, sizeof *ns, bench_cmp_i64);
    double bal50 = bench_pct_ms(ns, BALANCE_RUNS, 0.5), bal99 = bench_pct_ms(ns, BALANCE_RUNS, 0.99);

    /* ---- 4. CSV import ---- */
    import_expect ex;
    fprintf(stderr, "bench: writing %zu import rows\n", n_import);
    if (write_import(csv_path, &g, n_import, &rng, &ex) != 0)
        goto out;
    int64_t imp_rows0 = sql_int(ro, "SELECT count(*) FROM ledger WHERE kind = 'import'", 0);
    int64_t ledger0 = sql_int(ro, "SELECT max(id) FROM ledger", 0);
    int64_t members0 = sql_int(ro, "SELECT count(*) FROM members", 0);
    if (imp_rows0 < 0 || ledger0 < 0 || members0 < 0)
        goto out;
    fprintf(stderr, "bench: import_csv, %zu rows\n", n_import);
    problems imp_problems = {0};
    tp_import_result ir;
    memset(&ir, 0, sizeof ir);
    ir.struct_size = sizeof ir;
    t0 = bench_now_ns();
    tp_status ist = h.ad->transfer->import_csv(h.plugin, csv_path, 0, "bench", on_progress,
                                               on_problem, &imp_problems, &ir, &msg);
    double import_s = secs_since(t0);
    if (ist != TP_OK) {
        fprintf(stderr, "bench: import_csv: %s (%s)\n", tp_hostlib_status_name(ist), msg.text);
        goto out;
    }
    double import_rate = (double)n_import / import_s;
    int64_t imp_rows = sql_int(ro, "SELECT count(*) FROM ledger WHERE kind = 'import'", 0);
    int64_t imp_points = sql_int(ro, "SELECT COALESCE(sum(points), 0) FROM ledger"
                                     " WHERE kind = 'import'", 0);
    int64_t ledger_gain = sql_int(ro, "SELECT count(*) FROM ledger WHERE id > ?1", ledger0);
    int64_t members1 = sql_int(ro, "SELECT count(*) FROM members", 0);
    char first_new_code[32];
    member_code(first_new_code, sizeof first_new_code, ex.first_new);
    tp_member_info first_new;
    memset(&first_new, 0, sizeof first_new);
    first_new.struct_size = sizeof first_new;
    tp_status fst = h.ad->members->member_get(h.plugin, first_new_code, &first_new, &msg);
    tp_member_info heavy_after;
    memset(&heavy_after, 0, sizeof heavy_after);
    heavy_after.struct_size = sizeof heavy_after;
    tp_status hst = h.ad->members->member_get(h.plugin, heavy_code, &heavy_after, &msg);
    int import_ok = imp_rows0 == 0 && imp_rows == (int64_t)ex.rows &&
                    ledger_gain == (int64_t)ex.rows && imp_points == ex.points &&
                    members1 - members0 == (int64_t)ex.new_members &&
                    ir.rows == ex.rows && ir.invalid == 0 && ir.entries == ex.rows &&
                    ir.members_created == ex.new_members && ir.points_total == ex.points &&
                    ir.applied && imp_problems.n == 0 && fst == TP_OK &&
                    first_new.balance == ex.first_new_points && hst == TP_OK &&
                    heavy_after.balance == g.balance[g.heavy];
    if (!import_ok)
        fprintf(stderr, "bench: import check: ledger +%" PRId64 " rows (%" PRId64 " import, %"
                PRId64 " points), members +%" PRId64 "; expected %zu rows, %" PRId64
                " points, %zu members; result rows %" PRIu64 " invalid %" PRIu64 " entries %"
                PRIu64 " created %" PRIu64 " points %" PRId64 "; %ld problems\n",
                ledger_gain, imp_rows, imp_points, members1 - members0, ex.rows, ex.points,
                ex.new_members, ir.rows, ir.invalid, ir.entries, ir.members_created,
                ir.points_total, imp_problems.n);

    /* ---- 5. verify ---- */
    fprintf(stderr, "bench: verify\n");
    problems ver_problems = {0};
    tp_verify_result vr;
    memset(&vr, 0, sizeof vr);
    vr.struct_size = sizeof vr;
    t0 = bench_now_ns();
    tp_status vst =
        h.ad->audit->verify(h.plugin, NULL, NULL, on_problem, &ver_problems, &vr, NULL, &msg);
    double verify_s = secs_since(t0);
    int verify_ok = vst == TP_OK && vr.problems == 0 &&
                    vr.entries == g.ledger + ex.rows && vr.members == g.members + ex.new_members;
    if (!verify_ok)
        fprintf(stderr, "bench: verify: %s (%s); %" PRIu64 " problems, %" PRIu64
                " entries, %" PRIu64 " members\n", tp_hostlib_status_name(vst), msg.text,
                vr.problems, vr.entries, vr.members);
    struct stat sb;
    double final_mib = stat(db_path, &sb) == 0 ? (double)sb.st_size / 1048576.0 : -1.0;

    /* ---- 6. migration into a new database ---- */
    migration mig;
    if (run_migration(plugin_path, n_import, seed + 1, keep, &mig) != 0)
        goto out;

    /* ---- the table ---- */
    snprintf(head, sizeof head, "bench_admin: seed %" PRIu64 ", %zu members, %zu ledger rows,"
             " %zu import rows%s; %s; load average %.2f at start, %.2f at end", seed, n_members,
             n_ledger, n_import, quick ? " (--quick)" : "", mach, load0, bench_loadavg());
    print_head(head, &si);
    for (int by = 0; by < BY_COUNT; by++) {
        char f[96];
        snprintf(f, sizeof f, "member_get by %s p50", by_name[by]);
        row_num(f, lk[by][0], 3, "ms", "-", -1, 0, 1);
        snprintf(f, sizeof f, "member_get by %s p99", by_name[by]);
        row_ms_below(f, lk[by][1], TARGET_LOOKUP_P99_MS);
        snprintf(f, sizeof f, "member_get by %s max", by_name[by]);
        row_num(f, lk[by][2], 3, "ms", "-", -1, 0, 1);
    }
    char v[48], t[48];
    long wrong = lk_wrong[BY_CODE] + lk_wrong[BY_PHONE] + lk_wrong[BY_EMAIL];
    snprintf(v, sizeof v, "%ld", wrong);
    row_check("  lookups with a wrong member or balance", v, "calls", "= 0", wrong == 0);
    if (rss_before > 0 && rss_after > 0) {
        double mib = (double)(rss_after - rss_before) / 1024.0;
        char fig[80];
        snprintf(fig, sizeof fig, "plugin RSS in the host at %zu members", n_members);
        row_num(fig, mib, 2, "MiB", "< 16", mib / 16.0, 1, mib < 16.0);
    }
    for (size_t i = 0; i < N_PAGES; i++) {
        char f[96];
        snprintf(f, sizeof f, "%s, median", pages[i].figure);
        if (pages[i].runs == PAGE_RUNS)
            row_ms_below(f, page_ms[i], TARGET_PAGE_MS);
        else
            row_num(f, page_ms[i], 3, "ms", "-", -1, 0, 1);
    }
    int pages_wrong = 0;
    for (size_t i = 0; i < N_PAGES; i++)
        pages_wrong += !page_ok[i];
    snprintf(v, sizeof v, "%d", pages_wrong);
    row_check("  activity pages with wrong rows", v, "pages", "= 0", pages_wrong == 0);
    row_num("balance of a 10,000-entry member, median", bal50, 3, "ms", "-", -1, 0, 1);
    row_ms_below("balance of a 10,000-entry member, p99", bal99, TARGET_BALANCE_MS);
    snprintf(v, sizeof v, "%ld", bal_wrong);
    row_check("  balances differing from the ledger sum", v, "calls", "= 0", bal_wrong == 0);
    snprintf(t, sizeof t, ">= %.0f", TARGET_IMPORT_ROWS_S);
    row_num("import_csv rate (half new members)", import_rate, 0, "rows/s", t,
            import_rate / TARGET_IMPORT_ROWS_S, 1, import_rate >= TARGET_IMPORT_ROWS_S);
    row_num("  import_csv wall time", import_s, 2, "s", "-", -1, 0, 1);
    snprintf(v, sizeof v, "%" PRId64, ledger_gain);
    snprintf(t, sizeof t, "= %zu", ex.rows);
    row_check("  ledger rows gained (points match)", v, "rows", t, import_ok);
    double mig_rate = (double)n_import / mig.import_s, raw_rate = (double)n_import / mig.raw_s;
    snprintf(t, sizeof t, ">= %.0f", TARGET_IMPORT_ROWS_S);
    row_num("import_csv rate, new database (all new members)", mig_rate, 0, "rows/s", t,
            mig_rate / TARGET_IMPORT_ROWS_S, 1, mig_rate >= TARGET_IMPORT_ROWS_S);
    row_num("  import_csv wall time", mig.import_s, 2, "s", "-", -1, 0, 1);
    row_num("  baseline: SQLite alone, same rows and schema", raw_rate, 0, "rows/s", "-", -1,
            0, 1);
    row_num("  import_csv / SQLite alone", mig_rate / raw_rate, 2, "x", "-", -1, 0, 1);
    snprintf(v, sizeof v, "%s", mig.ok ? "yes" : "no");
    row_check("  members, entries and points as in the file", v, "", "= yes", mig.ok);
    row_num("verify() on the whole database", verify_s, 2, "s", "-", -1, 0, 1);
    snprintf(v, sizeof v, "%" PRIu64, vr.problems);
    row_check("  verify problems found", v, "", "= 0", verify_ok);
    row_num("database size at the end", final_mib, 0, "MiB", "-", -1, 0, 1);

    status = failures ? 1 : 0;
    if (failures)
        fprintf(stderr, "bench: %d correctness check(s) failed\n", failures);
out:
    sqlite3_close(ro);
    plugin_close(&h);
    if (dir_made) {
        if (keep)
            fprintf(stderr, "bench: kept %s\n", dir);
        else
            bench_remove_dir(dir);
    }
    free(g.balance);
    free(g.heavy_ids);
    free(ns);
    free(rows);
    return status;
}
