/*
 * store.c — SQLite storage (see store.h).
 *
 * Why the schema looks the way it does:
 *  - receipts: the checkout journal. Every completed checkout, with or
 *    without a member, keyed by (location, receipt); that key is the
 *    award's idempotency key, so a replayed complete finds its first run.
 *  - ledger: append-only point movements. Balances are sums of it. A
 *    reversal references the entry it undoes, and a trigger refuses any
 *    reversal that would undo more than that entry earned.
 *  - Triggers, not code, forbid UPDATE and DELETE on the journal and the
 *    ledger, so no future bug in C can rewrite history.
 */
#include "store.h"
#include "spend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <assert.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit.h" /* the ledger seal of an upgrade */
#include "balance.h"
#include "payload.h"
#include "rules.h"
#include "schema.h"
#include "currency.h"
#include "util.h"



enum {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
    S_FIND_RECEIPT, S_FIND_MEMBER, S_MEMBER_BY_ID, S_BALANCE, S_INS_RECEIPT,
    S_INS_LEDGER, S_FIND_LEDGER, S_FIND_REFUND, S_SUM_REFUNDS, S_SUM_REVERSED,
    S_INS_REFUND, S_INS_MEMBER, S_RECENT_VISIT, S_MEMBER_ID, S_LEDGER_MAX, S_COUNT
};

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT job",
    [S_RELEASE] = "RELEASE job",
    [S_ROLLBACK_TO] = "ROLLBACK TO job",
    [S_FIND_RECEIPT] = "SELECT id, total_minor, eligible_minor, COALESCE(member_id, 0),"
                       " scanned_code, line_count, time_ms FROM receipts"
                       " WHERE location = ?1 AND receipt = ?2",
    /* A scanned code may be the member code, a card, or the app id. */
    [S_FIND_MEMBER] = "SELECT id, code, name, COALESCE(phone, ''), COALESCE(email, ''),"
                      " COALESCE(app_id, ''), created_ms FROM members WHERE code = ?1"
                      " UNION ALL SELECT m.id, m.code, m.name, COALESCE(m.phone, ''),"
                      " COALESCE(m.email, ''), COALESCE(m.app_id, ''), m.created_ms"
                      " FROM member_cards c JOIN members m ON m.id = c.member_id"
                      " WHERE c.code = ?1"
                      " UNION ALL SELECT id, code, name, COALESCE(phone, ''),"
                      " COALESCE(email, ''), COALESCE(app_id, ''), created_ms"
                      " FROM members WHERE app_id = ?1 LIMIT 1",
    [S_MEMBER_BY_ID] = "SELECT id, code, name, COALESCE(phone, ''), COALESCE(email, ''),"
                       " COALESCE(app_id, ''), created_ms FROM members WHERE id = ?1",
    [S_BALANCE] = "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?1",
    [S_INS_RECEIPT] = "INSERT INTO receipts(location, terminal, receipt, txn, staff, time_ms,"
                      " currency, total_minor, eligible_minor, line_count, member_id,"
                      " scanned_code, journaled_ms)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [S_INS_LEDGER] = "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points,"
                     " reverses, staff, reason, time_ms, recorded_ms)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [S_FIND_LEDGER] = "SELECT id, points, member_id FROM ledger"
                      " WHERE location = ?1 AND receipt = ?2 AND kind = ?3",
    [S_FIND_REFUND] = "SELECT receipt_id, amount_minor FROM refunds"
                      " WHERE location = ?1 AND refund = ?2",
    [S_SUM_REFUNDS] = "SELECT COALESCE(SUM(amount_minor), 0) FROM refunds WHERE receipt_id = ?1",
    [S_SUM_REVERSED] = "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE reverses = ?1",
    [S_INS_REFUND] = "INSERT INTO refunds(location, terminal, refund, receipt_id, amount_minor,"
                     " time_ms, journaled_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_RECENT_VISIT] = "SELECT 1 FROM ledger WHERE member_id = ?1 AND kind IN ('earn', 'retro')"
                        " AND time_ms > ?2 AND time_ms <= ?3 LIMIT 1",
    [S_INS_MEMBER] = "INSERT INTO members(code, name, phone, email, created_ms, app_id)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_MEMBER_ID] = "SELECT id FROM members WHERE code = ?1"
                    " UNION ALL SELECT member_id FROM member_cards WHERE code = ?1"
                    " UNION ALL SELECT id FROM members WHERE app_id = ?1 LIMIT 1",
    [S_LEDGER_MAX] = "SELECT COALESCE(MAX(id), 0) FROM ledger",
};

struct tp_store {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    /* The largest ledger id when the open transaction began, or when the
     * last audit record of it was written: the ledger entries above it are
     * the ones the next audit record covers (audit.c). -1 outside a
     * transaction begun by tp_store_begin. */
    int64_t ledger_mark;
    int contended; /* the last begin or commit failed on another writer's lock */
    int sync_normal; /* PRAGMA synchronous is NORMAL now (tp_store_set_synchronous) */
    int64_t busy_since_ns; /* when the current wait for a lock began */
    /* Statements of the other modules, prepared once per connection. */
    sqlite3_stmt *cache[TP_STMT_COUNT];
};

const char *tp_store_errmsg(tp_store *s)
{
    return s && s->db ? sqlite3_errmsg(s->db) : "no database";
}

/* Creates the file 0600 before SQLite sees it: SQLite would otherwise
 * create it with the process umask, readable by others. Only when it does
 * not exist yet: open()+close() on a database another connection of this
 * process holds would drop that connection's POSIX locks (closing any fd
 * of a file releases all of the process's locks on it), and a second
 * process could then checkpoint and delete the WAL under our feet. */
static int create_private(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : -1;
    close(fd);
    return 0;
}

static int exec(sqlite3 *db, const char *text)
{
    return sqlite3_exec(db, text, NULL, NULL, NULL);
}

/* 1 when the file at `path` is empty: a database someone is creating. */
static int is_empty_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && sb.st_size == 0;
}

/*
 * Waiting for another connection's lock: for up to BUSY_WAIT_MS, looking
 * again every BUSY_POLL_NS. SQLite's own busy timeout backs off to a look
 * every 100 ms, so a till's writer that came while a manager's import held
 * the lock for a 50 ms chunk slept through the gaps between chunks and
 * waited for whole seconds; looking every millisecond, it takes the lock in
 * the first gap (csvio.c, bulk.c). A look is one lock attempt on the
 * database's shared memory, so a waiting connection costs little CPU.
 */
#define BUSY_WAIT_MS 5000
#define BUSY_POLL_NS 1000000

static int busy_wait(void *arg, int count)
{
    tp_store *s = arg;
    int64_t now = tp_mono_ns();
    if (count == 0)
        s->busy_since_ns = now;
    if (now - s->busy_since_ns >= (int64_t)BUSY_WAIT_MS * 1000000)
        return 0;
    tp_sleep_ns(BUSY_POLL_NS);
    return 1;
}

/*
 * Between two chunks of a long job (import, bulk adjustment) the lock is
 * left free for a moment, so a writer that came during the chunk gets it:
 * it looks every BUSY_POLL_NS, so a few looks' worth is enough; a chunk
 * that held the lock briefly rests briefly. Measured with the store-day
 * bench (bench/README.md).
 */
#define STEP_ASIDE_MAX_NS 5000000

void tp_store_step_aside(int64_t held_ns)
{
    tp_sleep_ns(held_ns < STEP_ASIDE_MAX_NS ? held_ns : STEP_ASIDE_MAX_NS);
}

/*
 * WAL, durable commits, foreign keys. Switching a new database to WAL needs
 * it to itself for a moment; when several processes open a new database at
 * once, the others see SQLITE_BUSY (the busy handler does not cover this
 * step) or, while the creator's rollback journal comes and goes, an I/O
 * error naming that journal. Those are retried for up to 5 s (the busy
 * timeout); an I/O error on a database that already has content is not.
 */
static int setup_connection(sqlite3 *db, const char *path)
{
    int rc = SQLITE_OK;
    for (int tries = 0; tries < 500; tries++) {
        rc = exec(db, "PRAGMA journal_mode = WAL");
        int primary = rc & 0xff;
        if (rc == SQLITE_OK || !(primary == SQLITE_BUSY || primary == SQLITE_LOCKED ||
                                 (primary == SQLITE_IOERR && is_empty_file(path))))
            break;
        struct timespec pause = {0, 10000000L}; /* 10 ms */
        nanosleep(&pause, NULL);
    }
    if (rc == SQLITE_OK)
        rc = exec(db, "PRAGMA synchronous = FULL");
    if (rc == SQLITE_OK)
        rc = exec(db, "PRAGMA foreign_keys = ON");
    return rc;
}

/* PRAGMA user_version, or -1 when it cannot be read. */
static int schema_version(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return version;
}

/*
 * Brings the database to the newest schema, one step per transaction. The
 * version that decides a step is read inside that step's write transaction
 * (BEGIN IMMEDIATE): when two processes open a new database at once (a
 * till and the manager's CLI), the second waits for the first's step and
 * then finds it done, instead of running it again and failing. The read
 * before any transaction only spares an up-to-date database the write lock.
 */
/* After a migration that edited sqlite_schema (v8, schema.c): a new
 * schema cookie, so that this connection and every other one parse the
 * edited text before their next statement (SQLite's documented procedure
 * for such a change). */
static int bump_schema_cookie(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA schema_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (v < 0)
        return SQLITE_ERROR;
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA schema_version = %d", v + 1);
    return exec(db, pragma);
}

static tp_status migrate(tp_store *s, const char *path, tp_message *msg)
{
    const int known = TP_SCHEMA_VERSION;
    int version = schema_version(s->db);
    int in_txn = 0;
    tp_status st = TP_ERR_STORAGE;
    for (;;) {
        if (version < 0) {
            tp_msg_set(msg, "Cannot read the schema version of %s: %s.", path,
                       sqlite3_errmsg(s->db));
            break;
        }
        if (version > known) {
            tp_msg_set(msg, "%s was written by a newer tillpoints (schema %d; this one knows %d). "
                       "Install the newer version.", path, version, known);
            st = TP_ERR_VERSION;
            break;
        }
        if (version == known) {
            if (in_txn && exec(s->db, "COMMIT") != SQLITE_OK) {
                tp_msg_set(msg, "Cannot read the schema of %s: %s.", path, sqlite3_errmsg(s->db));
                break;
            }
            return TP_OK;
        }
        if (!in_txn) {
            if (exec(s->db, "BEGIN IMMEDIATE") != SQLITE_OK) {
                tp_msg_set(msg, "Cannot upgrade %s: %s.", path, sqlite3_errmsg(s->db));
                return TP_ERR_STORAGE;
            }
            in_txn = 1;
            version = schema_version(s->db); /* as it is now, under the lock */
            continue;
        }
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version + 1);
        tp_message why;
        tp_msg_clear(&why);
        if (exec(s->db, tp_schema_migrations[version]) != SQLITE_OK ||
            (version + 1 == 8 && bump_schema_cookie(s->db) != SQLITE_OK) ||
            /* v5: the entries written before the ledger was linked to the
             * audit log get one record that covers them all (audit.c). */
            (version + 1 == 5 && tp_audit_seal_history(s, &why) != TP_OK) ||
            exec(s->db, pragma) != SQLITE_OK || exec(s->db, "COMMIT") != SQLITE_OK) {
            tp_msg_set(msg, "Cannot upgrade %s to schema %d: %s", path, version + 1,
                       why.text[0] ? why.text : sqlite3_errmsg(s->db));
            break;
        }
        in_txn = 0;
        version = schema_version(s->db);
    }
    if (in_txn || sqlite3_get_autocommit(s->db) == 0)
        exec(s->db, "ROLLBACK");
    return st;
}

tp_status tp_store_open(const char *path, tp_store **out, tp_message *msg)
{
    *out = NULL;
    tp_store *s = calloc(1, sizeof *s);
    if (!s) {
        tp_msg_set(msg, "Out of memory opening the database.");
        return TP_ERR_NO_MEMORY;
    }
    s->ledger_mark = -1;
    tp_status st = TP_ERR_STORAGE;
    if (create_private(path) != 0) {
        tp_msg_set(msg, "Cannot create the database %s: %s.", path, strerror(errno));
        goto fail;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        tp_msg_set(msg, "Cannot open the database %s: %s.", path,
                   s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_handler(s->db, busy_wait, s);
    if (setup_connection(s->db, path) != SQLITE_OK) {
        tp_msg_set(msg, "Cannot set up the database %s: %s.", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    st = migrate(s, path, msg);
    if (st != TP_OK)
        goto fail;
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
            SQLITE_OK) {
            tp_msg_set(msg, "Cannot prepare a query on %s: %s.", path, sqlite3_errmsg(s->db));
            st = TP_ERR_STORAGE;
            goto fail;
        }
    }
    *out = s;
    return TP_OK;
fail:
    tp_store_close(s);
    return st;
}

void tp_store_close(tp_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    for (int i = 0; i < TP_STMT_COUNT; i++)
        sqlite3_finalize(s->cache[i]);
    sqlite3_close(s->db);
    free(s);
}

/* Resets and returns statement `i`, ready for binding. */
static sqlite3_stmt *stmt(tp_store *s, int i)
{
    sqlite3_reset(s->st[i]);
    sqlite3_clear_bindings(s->st[i]);
    return s->st[i];
}

static int run(tp_store *s, int i)
{
    int rc = sqlite3_step(stmt(s, i));
    sqlite3_reset(s->st[i]);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_text(sqlite3_stmt *q, int i, const char *v)
{
    sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

static const char *col_text(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? (const char *)t : "";
}

static int is_contention(int rc)
{
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

int tp_store_contended(const tp_store *s)
{
    return s && s->contended;
}

int tp_store_set_synchronous(tp_store *s, int full)
{
    if (s->sync_normal == !full)
        return SQLITE_OK;
    int rc = exec(s->db, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    if (rc == SQLITE_OK)
        s->sync_normal = !full;
    return rc;
}

tp_status tp_store_begin(tp_store *s, tp_message *msg)
{
    int rc = run(s, S_BEGIN);
    s->contended = is_contention(rc);
    if (rc != SQLITE_OK) {
        tp_msg_set(msg, "Cannot start a database transaction: %s.", sqlite3_errmsg(s->db));
        return TP_ERR_STORAGE;
    }
    /* Under BEGIN IMMEDIATE no other connection writes until COMMIT, so
     * every ledger entry above this mark is this transaction's. */
    sqlite3_stmt *q = stmt(s, S_LEDGER_MAX);
    rc = sqlite3_step(q);
    s->ledger_mark = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW) {
        tp_msg_set(msg, "Cannot read the ledger: %s.", sqlite3_errmsg(s->db));
        run(s, S_ROLLBACK);
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

int64_t tp_store_ledger_mark(tp_store *s)
{
    return sqlite3_get_autocommit(s->db) ? -1 : s->ledger_mark;
}

void tp_store_set_ledger_mark(tp_store *s, int64_t mark)
{
    s->ledger_mark = mark;
}

tp_status tp_store_commit(tp_store *s, tp_message *msg)
{
    s->ledger_mark = -1;
    int rc = run(s, S_COMMIT);
    s->contended = is_contention(rc);
    if (rc != SQLITE_OK) {
        tp_msg_set(msg, "Cannot commit to the database: %s.", sqlite3_errmsg(s->db));
        tp_store_rollback(s);
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

void tp_store_rollback(tp_store *s)
{
    s->ledger_mark = -1;
    if (!sqlite3_get_autocommit(s->db))
        run(s, S_ROLLBACK);
}

tp_status tp_store_reference(struct sqlite3 **out, tp_message *msg)
{
    *out = NULL;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL) !=
        SQLITE_OK) {
        tp_msg_set(msg, "Cannot build the reference schema: %s.",
                   db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return TP_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < TP_SCHEMA_VERSION; i++)
        if (exec(db, tp_schema_migrations[i]) != SQLITE_OK ||
            (i + 1 == 8 && bump_schema_cookie(db) != SQLITE_OK)) {
            tp_msg_set(msg, "Cannot build the reference schema %zu: %s.", i + 1,
                       sqlite3_errmsg(db));
            sqlite3_close(db);
            return TP_ERR_INTERNAL;
        }
    *out = db;
    return TP_OK;
}

/* Member by id or code into *row (without balance). 1 found, 0 not, -1 error. */
static int load_member(tp_store *s, int by, sqlite3_int64 id, const char *code,
                       tp_member_row *row)
{
    sqlite3_stmt *q = stmt(s, by);
    if (by == S_MEMBER_BY_ID)
        sqlite3_bind_int64(q, 1, id);
    else
        bind_text(q, 1, code);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        memset(row, 0, sizeof *row);
        row->id = sqlite3_column_int64(q, 0);
        tp_copy(row->code, sizeof row->code, col_text(q, 1));
        tp_copy(row->name, sizeof row->name, col_text(q, 2));
        tp_copy(row->phone, sizeof row->phone, col_text(q, 3));
        tp_copy(row->email, sizeof row->email, col_text(q, 4));
        tp_copy(row->app_id, sizeof row->app_id, col_text(q, 5));
        row->created_ms = sqlite3_column_int64(q, 6);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int balance_of(tp_store *s, sqlite3_int64 member_id, int64_t *balance)
{
    sqlite3_stmt *q = stmt(s, S_BALANCE);
    sqlite3_bind_int64(q, 1, member_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *balance = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Ledger entry (location, receipt, kind): 1 found, 0 not, -1 error. */
static int find_ledger(tp_store *s, const char *location, const char *receipt,
                       const char *kind, sqlite3_int64 *id, int64_t *points,
                       sqlite3_int64 *member_id)
{
    sqlite3_stmt *q = stmt(s, S_FIND_LEDGER);
    bind_text(q, 1, location);
    bind_text(q, 2, receipt);
    bind_text(q, 3, kind);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(q, 0);
        *points = sqlite3_column_int64(q, 1);
        *member_id = sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int64_t sum_of(tp_store *s, int which, sqlite3_int64 key, int *err)
{
    sqlite3_stmt *q = stmt(s, which);
    sqlite3_bind_int64(q, 1, key);
    int64_t v = 0;
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    else
        *err = 1;
    sqlite3_reset(q);
    return v;
}

static int insert_ledger(tp_store *s, const tp_config *cfg, sqlite3_int64 member_id,
                         const char *receipt, const char *kind, int64_t points,
                         sqlite3_int64 reverses, const char *staff, int64_t time_ms)
{
    sqlite3_stmt *q = stmt(s, S_INS_LEDGER);
    sqlite3_bind_int64(q, 1, member_id);
    bind_text(q, 2, cfg->location);
    bind_text(q, 3, cfg->terminal);
    bind_text(q, 4, receipt);
    bind_text(q, 5, kind);
    sqlite3_bind_int64(q, 6, points);
    if (reverses)
        sqlite3_bind_int64(q, 7, reverses);
    else
        sqlite3_bind_null(q, 7);
    bind_text(q, 8, staff);
    bind_text(q, 9, "");
    sqlite3_bind_int64(q, 10, time_ms);
    sqlite3_bind_int64(q, 11, tp_now_ms());
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* A failure inside a job: constraint violations refuse the job alone (they
 * mean the request contradicts the data, and retrying cannot help); any
 * other error is the disk's, and the batch must be retried. */
static tp_status job_failed(tp_store *s, int rc, tp_outcome *out, tp_event_kind kind)
{
    run(s, S_ROLLBACK_TO);
    run(s, S_RELEASE);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        out->kind = kind;
        out->status = TP_ERR_INTERNAL;
        tp_buf_set(out->message, sizeof out->message,
                   "Receipt %s was not recorded: the database refused it (%s).", out->receipt,
                   sqlite3_errmsg(s->db));
        return TP_OK;
    }
    return TP_ERR_STORAGE;
}

/* The member and their balance after the job: the ledger sum `balance`
 * and the balance to show (balance.h), read inside the job's transaction so
 * that the entry just written counts as pending. 0, or -1 when the shown
 * balance could not be read (the source then stays ""). */
static int outcome_member(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                          tp_outcome *out, const tp_member_row *m, int64_t balance)
{
    tp_copy(out->member_code, sizeof out->member_code, m->code);
    tp_copy(out->member_name, sizeof out->member_name, m->name);
    out->balance = balance;
    tp_balance b;
    tp_message msg;
    if (tp_balance_get(s, cfg, sync, m->code, balance, &b, &msg) != TP_OK)
        return -1;
    tp_balance_to_outcome(&b, out);
    return 0;
}

/* The code printed on a receipt without a member, for a later claim. A
 * receipt id the code cannot carry gets none; the sale is recorded anyway. */
static void receipt_code_of(const tp_config *cfg, const char *receipt, tp_outcome *out)
{
    if (tp_receipt_code_format(&cfg->scan, cfg->location, receipt, out->receipt_code,
                               sizeof out->receipt_code) != TP_OK)
        out->receipt_code[0] = '\0';
}

/* Why an award with a member earns nothing: the rules' reason, or, when
 * the rules would award (a campaign's or the cap's doing cannot make 0),
 * the plain fact. */
static const char *zero_reason(const tp_config *cfg, const tp_award_job *job, char *buf,
                               size_t cap)
{
    if (!tp_rules_why_none(&cfg->rules, job->total_minor, job->eligible_minor, job->currency, buf,
                           cap))
        tp_buf_set(buf, cap, "the rules award nothing for it");
    return buf;
}

tp_status tp_store_apply_award(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                               const tp_award_job *job, tp_outcome *out)
{
    memset(out, 0, sizeof *out);
    tp_copy(out->txn, sizeof out->txn, job->txn);
    tp_copy(out->receipt, sizeof out->receipt, job->receipt);
    out->time_ms = job->time_ms;
    if (run(s, S_SAVEPOINT) != SQLITE_OK)
        return TP_ERR_STORAGE;

    int rc = SQLITE_OK;
    tp_member_row m;
    int64_t balance = 0;

    /* Replay: the receipt is already journaled. */
    sqlite3_stmt *q = stmt(s, S_FIND_RECEIPT);
    bind_text(q, 1, cfg->location);
    bind_text(q, 2, job->receipt);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        int64_t total = sqlite3_column_int64(q, 1), eligible = sqlite3_column_int64(q, 2);
        sqlite3_int64 member_id = sqlite3_column_int64(q, 3);
        int same = total == job->total_minor && eligible == job->eligible_minor &&
                   strcmp(col_text(q, 4), job->code) == 0;
        sqlite3_reset(q);
        if (!same) {
            char money[32];
            run(s, S_RELEASE);
            out->kind = TP_EVENT_AWARD_FAILED;
            out->status = TP_ERR_DUPLICATE;
            tp_format_money(money, sizeof money, total, job->currency);
            tp_buf_set(out->message, sizeof out->message,
                       "Receipt %s was already recorded with a different total (%s %s) or "
                       "member; nothing changed.", job->receipt, money, job->currency);
            return TP_OK;
        }
        out->kind = TP_EVENT_AWARD_COMMITTED;
        out->replayed = 1;
        sqlite3_int64 lid = 0, lmember = 0;
        int64_t points = 0;
        if (find_ledger(s, cfg->location, job->receipt, "earn", &lid, &points, &lmember) < 0)
            return job_failed(s, sqlite3_errcode(s->db), out, TP_EVENT_AWARD_FAILED);
        out->points = points;
        if (member_id && load_member(s, S_MEMBER_BY_ID, member_id, NULL, &m) == 1 &&
            balance_of(s, member_id, &balance) == 0 &&
            outcome_member(s, cfg, sync, out, &m, balance) != 0) {
            /* the figures are the original ones; no balance to show */
        }
        tp_buf_set(out->message, sizeof out->message,
                   "Receipt %s was already recorded (%lld %s); nothing was added.",
                   job->receipt, (long long)points, tp_rules_unit(&cfg->rules, points));
        run(s, S_RELEASE);
        return TP_OK;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return job_failed(s, rc, out, TP_EVENT_AWARD_FAILED);

    int found = 0;
    char refused[TP_MESSAGE_MAX] = "";
    if (job->code[0]) {
        found = load_member(s, S_FIND_MEMBER, 0, job->code, &m);
        if (found < 0)
            return job_failed(s, sqlite3_errcode(s->db), out, TP_EVENT_AWARD_FAILED);
        /* [scan] require_signed: a plain code of a member who must show the
         * app pass earns nothing; the receipt stays unclaimed, so a manager
         * can credit it later. */
        if (found && tp_payload_signed_policy(&cfg->scan, job->code_signed, m.app_id, refused,
                                              sizeof refused) != TP_OK)
            found = 0;
    }

    q = stmt(s, S_INS_RECEIPT);
    bind_text(q, 1, cfg->location);
    bind_text(q, 2, cfg->terminal);
    bind_text(q, 3, job->receipt);
    bind_text(q, 4, job->txn);
    bind_text(q, 5, job->staff);
    sqlite3_bind_int64(q, 6, job->time_ms);
    bind_text(q, 7, job->currency);
    sqlite3_bind_int64(q, 8, job->total_minor);
    sqlite3_bind_int64(q, 9, job->eligible_minor);
    sqlite3_bind_int(q, 10, job->line_count);
    if (found)
        sqlite3_bind_int64(q, 11, m.id);
    else
        sqlite3_bind_null(q, 11);
    bind_text(q, 12, job->code);
    sqlite3_bind_int64(q, 13, tp_now_ms());
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return job_failed(s, rc, out, TP_EVENT_AWARD_FAILED);
    sqlite3_int64 receipt_row = sqlite3_last_insert_rowid(s->db);

    out->kind = TP_EVENT_AWARD_COMMITTED;
    int64_t points = job->points;
    int stamped_recently = 0;
    if (found && points > 0 && cfg->rules.kind == TP_PROGRAM_VISITS &&
        cfg->rules.visit_period_ms > 0) {
        /* The one decision checkout cannot make on the host's thread: it
         * needs the member's recent visits. */
        q = stmt(s, S_RECENT_VISIT);
        sqlite3_bind_int64(q, 1, m.id);
        sqlite3_bind_int64(q, 2, job->time_ms - cfg->rules.visit_period_ms);
        sqlite3_bind_int64(q, 3, job->time_ms);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return job_failed(s, rc, out, TP_EVENT_AWARD_FAILED);
        stamped_recently = rc == SQLITE_ROW;
        if (stamped_recently)
            points = 0;
    }
    const char *units = tp_rules_unit(&cfg->rules, 2);
    if (found) {
        char why[TP_MESSAGE_MAX];
        if (points > 0) {
            rc = insert_ledger(s, cfg, m.id, job->receipt, "earn", points, 0, job->staff,
                               job->time_ms);
            if (rc != SQLITE_OK)
                return job_failed(s, rc, out, TP_EVENT_AWARD_FAILED);
        }
        /* Points spent on the sale: with its receipt and award, or not at
         * all (spendstore.c). */
        if (job->redeem_points > 0) {
            rc = tp_spend_commit(s, cfg, job, m.id, receipt_row);
            if (rc != SQLITE_OK)
                return job_failed(s, rc, out, TP_EVENT_AWARD_FAILED);
            out->redeemed_points = job->redeem_points;
        }
        if (balance_of(s, m.id, &balance) != 0 ||
            outcome_member(s, cfg, sync, out, &m, balance) != 0)
            return job_failed(s, sqlite3_errcode(s->db), out, TP_EVENT_AWARD_FAILED);
        out->points = points;
        balance = out->shown_balance; /* what the sentences say */
        if (stamped_recently)
            tp_buf_set(out->message, sizeof out->message,
                       "Receipt %s recorded; %s already got a stamp within the last %lld hours, "
                       "so this visit earns none. Balance %lld.", job->receipt,
                       m.name[0] ? m.name : m.code,
                       (long long)(cfg->rules.visit_period_ms / 3600000), (long long)balance);
        else if (points == 0)
            tp_buf_set(out->message, sizeof out->message,
                       "Receipt %s earns no %s for %s: %s. Balance %lld.", job->receipt, units,
                       m.name[0] ? m.name : m.code, zero_reason(cfg, job, why, sizeof why),
                       (long long)balance);
        else if (job->redeem_points > 0)
            tp_buf_set(out->message, sizeof out->message,
                       "Receipt %s: %lld %s spent, +%lld earned for %s; balance %lld.",
                       job->receipt, (long long)job->redeem_points,
                       tp_rules_unit(&cfg->rules, job->redeem_points), (long long)points,
                       m.name[0] ? m.name : m.code, (long long)balance);
        else
            tp_buf_set(out->message, sizeof out->message,
                       "Receipt %s: +%lld %s for %s; balance %lld.", job->receipt,
                       (long long)points, tp_rules_unit(&cfg->rules, points),
                       m.name[0] ? m.name : m.code, (long long)balance);
        if (job->redeem_points > 0 && points == 0 && !stamped_recently)
            tp_buf_set(out->message, sizeof out->message,
                       "Receipt %s: %lld %s spent for %s; balance %lld.", job->receipt,
                       (long long)job->redeem_points,
                       tp_rules_unit(&cfg->rules, job->redeem_points),
                       m.name[0] ? m.name : m.code, (long long)balance);
    } else if (job->code[0]) {
        receipt_code_of(cfg, job->receipt, out);
        out->status = refused[0] ? TP_ERR_UNSUPPORTED : TP_ERR_NOT_FOUND;
        if (refused[0])
            tp_buf_set(out->message, sizeof out->message, "Receipt %s recorded without %s. %s",
                       job->receipt, units, refused);
        else
            tp_buf_set(out->message, sizeof out->message,
                       "Receipt %s recorded without %s: no member has the code %s.",
                       job->receipt, units, job->code);
    } else {
        /* No member: the receipt gets a code to print, so the customer can
         * claim the visit later and a manager's scan fills the dialog. */
        receipt_code_of(cfg, job->receipt, out);
        tp_buf_set(out->message, sizeof out->message,
                   "Receipt %s recorded; no member was scanned.", job->receipt);
    }
    if (run(s, S_RELEASE) != SQLITE_OK)
        return TP_ERR_STORAGE;
    return TP_OK;
}

static tp_status refund_refused(tp_store *s, tp_outcome *out, tp_status why)
{
    run(s, S_RELEASE);
    out->kind = TP_EVENT_REFUND_FAILED;
    out->status = why;
    return TP_OK;
}

tp_status tp_store_apply_refund(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                                const tp_refund_job *job, tp_outcome *out)
{
    memset(out, 0, sizeof *out);
    tp_copy(out->receipt, sizeof out->receipt, job->receipt);
    tp_copy(out->refund, sizeof out->refund, job->refund);
    out->time_ms = job->time_ms;
    if (run(s, S_SAVEPOINT) != SQLITE_OK)
        return TP_ERR_STORAGE;

    sqlite3_stmt *q = stmt(s, S_FIND_RECEIPT);
    bind_text(q, 1, cfg->location);
    bind_text(q, 2, job->receipt);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            return job_failed(s, rc, out, TP_EVENT_REFUND_FAILED);
        tp_buf_set(out->message, sizeof out->message,
                   "Receipt %s is not in this till's journal; no %s were reversed.",
                   job->receipt, tp_rules_unit(&cfg->rules, 2));
        return refund_refused(s, out, TP_ERR_NOT_FOUND);
    }
    sqlite3_int64 receipt_row = sqlite3_column_int64(q, 0);
    int64_t eligible = sqlite3_column_int64(q, 2);
    int64_t sale_time = sqlite3_column_int64(q, 6);
    sqlite3_reset(q);

    int err = 0;
    /* Replay of the same refund id. */
    q = stmt(s, S_FIND_REFUND);
    bind_text(q, 1, cfg->location);
    bind_text(q, 2, job->refund);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        sqlite3_int64 prev_receipt = sqlite3_column_int64(q, 0);
        int64_t prev_amount = sqlite3_column_int64(q, 1);
        sqlite3_reset(q);
        if (prev_receipt != receipt_row || (!job->full && prev_amount != job->amount_minor)) {
            tp_buf_set(out->message, sizeof out->message,
                       "Refund %s was already recorded for a different receipt or amount; "
                       "nothing changed.", job->refund);
            return refund_refused(s, out, TP_ERR_DUPLICATE);
        }
        sqlite3_int64 lid = 0, lmember = 0;
        int64_t points = 0;
        int f = find_ledger(s, cfg->location, job->refund, "reversal", &lid, &points, &lmember);
        if (f < 0)
            return job_failed(s, sqlite3_errcode(s->db), out, TP_EVENT_REFUND_FAILED);
        out->kind = TP_EVENT_REFUND_COMMITTED;
        out->replayed = 1;
        out->points = points;
        tp_member_row m;
        int64_t balance = 0;
        if (f == 1 && load_member(s, S_MEMBER_BY_ID, lmember, NULL, &m) == 1 &&
            balance_of(s, lmember, &balance) == 0 &&
            outcome_member(s, cfg, sync, out, &m, balance) != 0) {
            /* the figures are the original ones; no balance to show */
        }
        tp_buf_set(out->message, sizeof out->message,
                   "Refund %s was already recorded; nothing more was reversed.", job->refund);
        run(s, S_RELEASE);
        return TP_OK;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return job_failed(s, rc, out, TP_EVENT_REFUND_FAILED);

    int64_t refunded_before = sum_of(s, S_SUM_REFUNDS, receipt_row, &err);
    if (err)
        return job_failed(s, sqlite3_errcode(s->db), out, TP_EVENT_REFUND_FAILED);
    int64_t remaining = eligible - refunded_before;
    int64_t amount = job->full ? remaining : job->amount_minor;
    if (amount <= 0) {
        tp_buf_set(out->message, sizeof out->message,
                   "Receipt %s has already been refunded in full.", job->receipt);
        return refund_refused(s, out, TP_ERR_STATE);
    }
    if (amount > remaining) {
        char money[32];
        tp_format_money(money, sizeof money, remaining, job->currency);
        tp_buf_set(out->message, sizeof out->message,
                   "The refund is larger than what is left on receipt %s (%s %s); "
                   "nothing changed.", job->receipt, money, job->currency);
        return refund_refused(s, out, TP_ERR_INVALID_ARGUMENT);
    }

    q = stmt(s, S_INS_REFUND);
    bind_text(q, 1, cfg->location);
    bind_text(q, 2, cfg->terminal);
    bind_text(q, 3, job->refund);
    sqlite3_bind_int64(q, 4, receipt_row);
    sqlite3_bind_int64(q, 5, amount);
    sqlite3_bind_int64(q, 6, job->time_ms);
    sqlite3_bind_int64(q, 7, tp_now_ms());
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return job_failed(s, rc, out, TP_EVENT_REFUND_FAILED);

    out->kind = TP_EVENT_REFUND_COMMITTED;
    /* Points the receipt spent come back in proportion ([redeem] refund). */
    int64_t back = 0, spender = 0;
    rc = tp_spend_refund_return(s, cfg, job->receipt, job->refund, eligible, refunded_before,
                                amount, job->time_ms, &back, &spender);
    if (rc != SQLITE_OK)
        return job_failed(s, rc, out, TP_EVENT_REFUND_FAILED);
    out->redeemed_points = back;
    sqlite3_int64 earn_id = 0, member_id = 0;
    int64_t earned = 0;
    int f = find_ledger(s, cfg->location, job->receipt, "earn", &earn_id, &earned, &member_id);
    if (f < 0)
        return job_failed(s, sqlite3_errcode(s->db), out, TP_EVENT_REFUND_FAILED);
    if (f == 0 && back > 0) {
        tp_member_row m;
        int64_t balance = 0;
        if (load_member(s, S_MEMBER_BY_ID, spender, NULL, &m) != 1 ||
            balance_of(s, spender, &balance) != 0 ||
            outcome_member(s, cfg, sync, out, &m, balance) != 0)
            return job_failed(s, sqlite3_errcode(s->db), out, TP_EVENT_REFUND_FAILED);
        tp_buf_set(out->message, sizeof out->message,
                   "Refund %s: %lld spent %s back for %s; balance %lld.", job->refund,
                   (long long)back, tp_rules_unit(&cfg->rules, back),
                   m.name[0] ? m.name : m.code, (long long)out->shown_balance);
    } else if (f == 0) {
        tp_buf_set(out->message, sizeof out->message,
                   "Refund %s recorded; receipt %s earned no %s.", job->refund, job->receipt,
                   tp_rules_unit(&cfg->rules, 2));
    } else {
        int64_t reversed_before = -sum_of(s, S_SUM_REVERSED, earn_id, &err);
        if (err)
            return job_failed(s, sqlite3_errcode(s->db), out, TP_EVENT_REFUND_FAILED);
        int64_t reverse = tp_rules_refund_points(&cfg->rules, earned, eligible, refunded_before,
                                                 amount, reversed_before, sale_time,
                                                 cfg->location);
        if (reverse > 0) {
            rc = insert_ledger(s, cfg, member_id, job->refund, "reversal", -reverse, earn_id, "",
                               job->time_ms);
            if (rc != SQLITE_OK)
                return job_failed(s, rc, out, TP_EVENT_REFUND_FAILED);
        }
        tp_member_row m;
        int64_t balance = 0;
        if (load_member(s, S_MEMBER_BY_ID, member_id, NULL, &m) != 1 ||
            balance_of(s, member_id, &balance) != 0 ||
            outcome_member(s, cfg, sync, out, &m, balance) != 0)
            return job_failed(s, sqlite3_errcode(s->db), out, TP_EVENT_REFUND_FAILED);
        balance = out->shown_balance; /* what the sentence says */
        out->points = -reverse;
        if (back > 0)
            tp_buf_set(out->message, sizeof out->message,
                       "Refund %s: -%lld %s for %s, %lld spent back; balance %lld.",
                       job->refund, (long long)reverse, tp_rules_unit(&cfg->rules, reverse),
                       m.name[0] ? m.name : m.code, (long long)back, (long long)balance);
        else
            tp_buf_set(out->message, sizeof out->message,
                       "Refund %s: -%lld %s for %s; balance %lld.", job->refund,
                       (long long)reverse, tp_rules_unit(&cfg->rules, reverse),
                       m.name[0] ? m.name : m.code, (long long)balance);
    }
    if (run(s, S_RELEASE) != SQLITE_OK)
        return TP_ERR_STORAGE;
    return TP_OK;
}

tp_status tp_store_find_member(tp_store *s, const char *code, tp_member_row *row,
                               tp_message *msg)
{
    int f = load_member(s, S_FIND_MEMBER, 0, code, row);
    if (f == 1 && balance_of(s, row->id, &row->balance) == 0)
        return TP_OK;
    if (f == 0) {
        tp_msg_set(msg, "No member has the code %s.", code);
        return TP_ERR_NOT_FOUND;
    }
    tp_msg_set(msg, "Cannot read members: %s.", sqlite3_errmsg(s->db));
    return TP_ERR_STORAGE;
}

int tp_store_member_id(tp_store *s, const char *key, int64_t *id)
{
    sqlite3_stmt *q = stmt(s, S_MEMBER_ID);
    bind_text(q, 1, key);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

tp_status tp_store_add_member_in_txn(tp_store *s, const char *code, const char *name,
                                     const char *phone, const char *email, const char *app_id,
                                     int64_t now_ms, tp_message *msg)
{
    /* A new code must not shadow an existing card or app id either. */
    tp_member_row other;
    const char *taken = load_member(s, S_FIND_MEMBER, 0, code, &other) != 0 ? code
                        : (app_id && *app_id &&
                           load_member(s, S_FIND_MEMBER, 0, app_id, &other) != 0)
                            ? app_id
                            : NULL;
    if (taken) {
        tp_msg_set(msg, "The code %s is already used by member %s.", taken, other.code);
        return TP_ERR_DUPLICATE;
    }
    return tp_store_insert_member(s, code, name, phone, email, app_id, now_ms, msg);
}

tp_status tp_store_insert_member(tp_store *s, const char *code, const char *name,
                                 const char *phone, const char *email, const char *app_id,
                                 int64_t now_ms, tp_message *msg)
{
    sqlite3_stmt *q = stmt(s, S_INS_MEMBER);
    bind_text(q, 1, code);
    bind_text(q, 2, name ? name : "");
    if (phone && *phone)
        bind_text(q, 3, phone);
    else
        sqlite3_bind_null(q, 3);
    if (email && *email)
        bind_text(q, 4, email);
    else
        sqlite3_bind_null(q, 4);
    sqlite3_bind_int64(q, 5, now_ms);
    if (app_id && *app_id)
        bind_text(q, 6, app_id);
    else
        sqlite3_bind_null(q, 6);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        int unique = rc == SQLITE_CONSTRAINT_UNIQUE;
        if (unique)
            tp_msg_set(msg, "A member with the code %s already exists.", code);
        else
            tp_msg_set(msg, "Cannot add the member: %s.", sqlite3_errmsg(s->db));
        return unique ? TP_ERR_DUPLICATE : TP_ERR_STORAGE;
    }
    return TP_OK;
}

tp_status tp_store_add_member(tp_store *s, const char *code, const char *name,
                              const char *phone, const char *email, const char *app_id,
                              int64_t now_ms, tp_message *msg)
{
    if (tp_store_begin(s, msg) != TP_OK)
        return TP_ERR_STORAGE;
    tp_status st = tp_store_add_member_in_txn(s, code, name, phone, email, app_id, now_ms, msg);
    if (st != TP_OK) {
        tp_store_rollback(s);
        return st;
    }
    return tp_store_commit(s, msg);
}

sqlite3 *tp_store_db(tp_store *s)
{
    return s->db;
}

tp_status tp_store_member_by_id(tp_store *s, int64_t id, tp_member_row *row, tp_message *msg)
{
    int f = load_member(s, S_MEMBER_BY_ID, id, NULL, row);
    if (f == 1 && balance_of(s, row->id, &row->balance) == 0)
        return TP_OK;
    if (f == 0) {
        tp_msg_set(msg, "No member has the id %lld.", (long long)id);
        return TP_ERR_NOT_FOUND;
    }
    tp_msg_set(msg, "Cannot read members: %s.", sqlite3_errmsg(s->db));
    return TP_ERR_STORAGE;
}

sqlite3_stmt *tp_store_cached(tp_store *s, tp_stmt id, const char *text)
{
    if ((unsigned)id >= TP_STMT_COUNT)
        return NULL;
    sqlite3_stmt *q = s->cache[id];
    if (q) {
        assert(strcmp(sqlite3_sql(q), text) == 0); /* one id, one statement */
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
        return q;
    }
    if (sqlite3_prepare_v3(s->db, text, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) != SQLITE_OK)
        return NULL;
    s->cache[id] = q;
    return q;
}
