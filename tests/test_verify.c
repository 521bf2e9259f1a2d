/* Tests for plugin/verify.c: a clean database passes; each deliberate
 * corruption (done with raw SQL, as an attacker or a bad restore would) is
 * caught. Forgeries that recompute every hash (audit_forge.h) pass the
 * terminal's own checks and are caught by the head written down before
 * (the audit extension's verify with an anchor); the central database's
 * head is tested in test_sync.c. */
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "testutil.h"
#include "audit_forge.h"
#include "tillpoints/ext/audit.h"

typedef struct found {
    int n;
    char all[4096];
} found;

static void on_problem(void *user, uint64_t line, const char *sentence)
{
    (void)line;
    found *f = user;
    f->n++;
    size_t len = strlen(f->all);
    snprintf(f->all + len, sizeof f->all - len, "%s\n", sentence);
}

/* The config every test starts with: the suite runs twice, once with the
 * default step and once reading one row per step, so every entry, record
 * and receipt a corruption touches lies on a step boundary. */
static const char *suite_ini = NULL;

static tu_host *populated(void)
{
    tu_host *h = tu_start(suite_ini);
    tu_add_member(h, "M-0001", "Ann");
    tu_add_member(h, "M-0002", "Bob");
    tp_message msg;
    assert_int_equal(tu_sale(h, "R-1", "M-0001", 2000, &msg), TP_OK);
    assert_int_equal(tu_sale(h, "R-2", "M-0002", 1000, &msg), TP_OK);
    tp_refund rf = {.struct_size = sizeof rf, .refund_id = "F-1", .receipt_id = "R-1",
                    .currency = "EUR", .amount_minor = 500};
    assert_int_equal(h->co->refund(h->plugin, &rf, &msg), TP_OK);
    tu_settle(h);
    return h;
}

static void corrupt(tu_host *h, const char *sql)
{
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("corrupting failed: %s", err);
    sqlite3_close(db);
}

static tp_status verify(tu_host *h, found *f, tp_verify_result *r)
{
    memset(f, 0, sizeof *f);
    tp_message msg;
    return h->ad->audit->verify(h->plugin, NULL, NULL, on_problem, f, r, NULL, &msg);
}

static void a_clean_database_verifies(void **state)
{
    (void)state;
    tu_host *h = populated();
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_OK);
    assert_int_equal(f.n, 0);
    assert_true(r.checks >= 12);
    assert_int_equal(r.entries, 3);
    assert_int_equal(r.members, 2);
    tu_stop(h, 1);
}

static void a_dropped_trigger_and_a_rewritten_entry_are_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    corrupt(h, "DROP TRIGGER ledger_no_update;"
               "UPDATE ledger SET points = 500 WHERE kind = 'earn' AND receipt = 'R-2';");
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_non_null(strstr(f.all, "trigger ledger_no_update is missing"));
    tu_stop(h, 1);
}

static void an_over_reversal_is_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    corrupt(h, "DROP TRIGGER ledger_reversal_bounded;"
               "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, reverses,"
               " time_ms, recorded_ms) SELECT member_id, location, terminal, 'F-X', 'reversal',"
               " -100, id, 0, 0 FROM ledger WHERE receipt = 'R-1' AND kind = 'earn';");
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_non_null(strstr(f.all, "were reversed"));
    assert_non_null(strstr(f.all, "negative balance"));
    tu_stop(h, 1);
}

static void an_earn_without_its_receipt_and_a_double_earn_are_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    corrupt(h, "PRAGMA foreign_keys = OFF;"
               "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points,"
               " time_ms, recorded_ms) VALUES(1, 'store-1', 't', 'GHOST', 'earn', 9, 0, 0);"
               "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points,"
               " time_ms, recorded_ms) VALUES(1, 'store-1', 't', 'R-2', 'retro', 9, 0, 0);");
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_non_null(strstr(f.all, "receipt GHOST has no matching journal row"));
    assert_non_null(strstr(f.all, "receipt store-1/R-2 earned 2 times"));
    tu_stop(h, 1);
}

static void a_reference_to_a_missing_row_is_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    /* With the references unenforced, as the sqlite3 tool opens a file:
     * an entry of a member that does not exist, and a card of another. */
    corrupt(h, "PRAGMA foreign_keys = OFF;"
               "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points,"
               " time_ms, recorded_ms) VALUES(99, 'store-1', 't', 'ORPHAN', 'expire', -1, 0, 0);"
               "INSERT INTO member_cards(code, member_id, added_ms) VALUES('C-LOST', 98, 0);");
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_non_null(strstr(f.all, "Not true that every reference points at an existing row: "
                                  "table ledger row 4 refers to a missing members."));
    assert_non_null(strstr(f.all, "Not true that every reference points at an existing row: "
                                  "table member_cards row ? refers to a missing members."));
    tu_stop(h, 1);
}

static void db_path(tu_host *h, char *out, size_t cap)
{
    snprintf(out, cap, "%s/test.db", h->dir);
}

static void adjust(tu_host *h, const char *code, int64_t points, const char *staff)
{
    tp_adjustment a = {.struct_size = sizeof a, .member = code, .points = points,
                       .reason = "goodwill", .staff = staff};
    tp_message msg;
    if (h->ad->ledger->adjust(h->plugin, &a, NULL, &msg) != TP_OK)
        fail_msg("adjust: %s", msg.text);
}

/* verify through the audit extension, with an anchor (or NULL). */
static tp_status verify_at(tu_host *h, const char *anchor, found *f, tp_audit_report *rep)
{
    memset(f, 0, sizeof *f);
    tp_verify_result r = {.struct_size = sizeof r};
    tp_message msg;
    return h->ad->audit->verify(h->plugin, anchor, NULL, on_problem, f, &r, rep, &msg);
}

static void head_anchor(tu_host *h, char *out, size_t cap)
{
    tp_audit_head head = {.struct_size = sizeof head};
    tp_message msg;
    assert_int_equal(h->ad->audit->head(h->plugin, &head, &msg), TP_OK);
    assert_true(head.seq > 0);
    snprintf(out, cap, "%llu:%s", (unsigned long long)head.seq, head.hash);
}

static void replacing_a_trigger_body_is_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    /* Same name, same table, a body that enforces nothing. */
    corrupt(h, "DROP TRIGGER ledger_no_update;"
               "CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT 1; END;"
               "UPDATE ledger SET points = 500 WHERE kind = 'earn' AND receipt = 'R-2';");
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_non_null(strstr(f.all, "trigger ledger_no_update was changed: its SQL is not the "
                                  "one this version creates"));
    assert_null(strstr(f.all, "is missing"));
    tu_stop(h, 1);
}

static void a_trigger_added_by_hand_is_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    /* Silently drops every refund's reversal: customers keep the points. */
    corrupt(h, "CREATE TRIGGER keep_points BEFORE INSERT ON ledger WHEN NEW.kind = 'reversal'"
               " BEGIN SELECT RAISE(IGNORE); END;");
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_int_equal(f.n, 1);
    assert_non_null(strstr(f.all, "trigger keep_points is not one tillpoints creates"));
    tu_stop(h, 1);
}

static void an_adjustment_edited_with_its_triggers_put_back_is_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    adjust(h, "M-0001", 50, "mgr-1");
    char path[300];
    db_path(h, path, sizeof path);
    forge_without_triggers(path, "ledger_no_update",
                           "UPDATE ledger SET points = 500 WHERE kind = 'adjust'", 0);
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_int_equal(f.n, 1);
    assert_non_null(strstr(f.all, "Audit record 1 (adjust by mgr-1) covers ledger entries 4 to "
                                  "4: it recorded 1 entry of 50 points, the ledger now holds 1 "
                                  "entry of 500 points there."));
    /* Same points, other contents: moved to another member. */
    forge_without_triggers(path, "ledger_no_update",
                           "UPDATE ledger SET points = 50, member_id = 2 WHERE kind = 'adjust'",
                           0);
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_int_equal(f.n, 1);
    assert_non_null(strstr(f.all, "they were changed after it was written"));
    tu_stop(h, 1);
}

static void an_entry_written_around_tillpoints_is_caught(void **state)
{
    (void)state;
    tu_host *h = populated();
    adjust(h, "M-0001", 5, "mgr-1");
    corrupt(h, "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, staff,"
               " time_ms, recorded_ms) VALUES(2, 'store-1', 't', 'ADJ-99', 'adjust', 900, 'x',"
               " 0, 0);"
               "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, staff,"
               " time_ms, recorded_ms) VALUES(2, 'store-1', 't', 'IMP-1', 'import', 100, 'x',"
               " 0, 0);");
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_int_equal(f.n, 1);
    assert_non_null(strstr(f.all, "2 ledger entries from 5 to 6 (adjust, import) are in no "
                                  "audit record"));
    /* Sealing them is possible, and is itself a record by a named person. */
    tp_audit_head head = {.struct_size = sizeof head};
    tp_message msg;
    assert_int_equal(
        h->ad->audit->seal(h->plugin, "mgr-2", "history from the old system", &head, &msg), TP_OK);
    assert_int_equal(head.seq, 2);
    assert_string_equal(head.action, "ledger.seal");
    assert_int_equal(verify(h, &f, &r), TP_OK);
    assert_int_equal(h->ad->audit->seal(h->plugin, "mgr-2", "again", NULL, &msg), TP_ERR_STATE);
    tu_stop(h, 1);
}

static void deleting_the_newest_records_is_caught_by_the_recorded_head(void **state)
{
    (void)state;
    tu_host *h = populated();
    adjust(h, "M-0001", 10, "mgr-1");
    adjust(h, "M-0001", 20, "mgr-1");
    adjust(h, "M-0002", 30, "mgr-1");
    char anchor[100];
    head_anchor(h, anchor, sizeof anchor);
    assert_int_equal(strncmp(anchor, "3:", 2), 0);
    found f;
    tp_audit_report rep = {.struct_size = sizeof rep, .local.struct_size = sizeof rep.local};
    assert_int_equal(verify_at(h, anchor, &f, &rep), TP_OK);
    assert_int_equal(rep.anchor_seq, 3);
    /* The two newest adjustments and their records are deleted. */
    char path[300];
    db_path(h, path, sizeof path);
    forge_without_triggers(path, "ledger_no_delete,audit_no_delete",
                           "DELETE FROM ledger WHERE kind = 'adjust' AND points IN (20, 30);"
                           "DELETE FROM audit WHERE id IN (2, 3);", 0);
    /* The chain alone cannot see it ... */
    assert_int_equal(verify_at(h, NULL, &f, &rep), TP_OK);
    assert_int_equal(rep.local.seq, 1);
    /* ... the head written down before can, also given as a 16-digit prefix. */
    char shorter[40];
    snprintf(shorter, sizeof shorter, "%.18s", anchor);
    assert_int_equal(verify_at(h, shorter, &f, &rep), TP_ERR_INTERNAL);
    assert_int_equal(f.n, 1);
    assert_non_null(strstr(f.all, "The anchor names audit record 3, but the log here ends at "
                                  "record 1: records 2 to 3 were deleted, or the database was "
                                  "restored from an older copy."));
    assert_int_equal(rep.anchor_seq, 0);
    tu_stop(h, 1);
}

static void an_entry_edited_with_every_hash_recomputed_is_caught_by_the_recorded_head(
    void **state)
{
    (void)state;
    tu_host *h = populated();
    adjust(h, "M-0001", 10, "mgr-1");
    adjust(h, "M-0001", 20, "mgr-1");
    char anchor[100];
    head_anchor(h, anchor, sizeof anchor);
    adjust(h, "M-0002", 30, "mgr-1"); /* after the report: not vouched for by it */
    char path[300];
    db_path(h, path, sizeof path);
    /* The first adjustment grows, its record is made to agree, and every
     * hash from it on is recomputed. */
    forge_without_triggers(path, "ledger_no_update,audit_no_update",
                           "UPDATE ledger SET points = 1000 WHERE kind = 'adjust'"
                           " AND points = 10; UPDATE audit SET points = 1000 WHERE id = 1;",
                           1);
    found f;
    tp_audit_report rep = {.struct_size = sizeof rep, .local.struct_size = sizeof rep.local};
    assert_int_equal(verify_at(h, NULL, &f, &rep), TP_OK); /* consistent on its own */
    assert_int_equal(verify_at(h, anchor, &f, &rep), TP_ERR_INTERNAL);
    assert_int_equal(f.n, 1);
    assert_non_null(strstr(f.all, "Audit record 2 is not the one the anchor recorded"));
    assert_non_null(strstr(f.all, "it, or a record before it, was altered and the hashes "
                                  "recomputed."));
    /* The same head given by hash alone: no record has it any more. */
    assert_int_equal(verify_at(h, strchr(anchor, ':') + 1, &f, &rep), TP_ERR_INTERNAL);
    assert_non_null(strstr(f.all, "No audit record has the hash the anchor recorded"));
    tu_stop(h, 1);
}

static void a_malformed_anchor_is_refused_before_any_check(void **state)
{
    (void)state;
    tu_host *h = populated();
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    tp_audit_report rep = {.struct_size = sizeof rep, .local.struct_size = sizeof rep.local};
    tp_message msg;
    const char *bad[] = {"", "12", "3:abc", "x:0123456789abcdef", "0:0123456789abcdef",
                         "3:0123456789abcdeg", ":0123456789abcdef"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&f, 0, sizeof f);
        r = (tp_verify_result){.struct_size = sizeof r};
        assert_int_equal(
            h->ad->audit->verify(h->plugin, bad[i], NULL, on_problem, &f, &r, &rep, &msg),
            TP_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(msg.text, "An audit head is written SEQ:HASH"));
        assert_int_equal(r.checks, 0);
        assert_int_equal(f.n, 0);
    }
    tu_stop(h, 1);
}

/* ---- verify beside the tills: bounded steps, no admin lock ------------ */

#define HISTORY_ROWS 50000
#define HISTORY_STEP "[limits]\nverify_step_rows = 5000\n"

/* HISTORY_ROWS earn entries with their journaled receipts for members 1
 * and 2, written with raw SQL in one transaction (a store's history). */
static void add_history(tu_host *h)
{
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[1400];
    snprintf(sql, sizeof sql,
             "BEGIN;"
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO receipts(location, terminal, receipt, txn, staff, time_ms, currency,"
             " total_minor, eligible_minor, line_count, member_id, journaled_ms)"
             " SELECT 'store-1', 't', 'H-' || i, 'H-' || i, 's', i, 'EUR', 1000, 1000, 1,"
             " 1 + i %% 2, i FROM n;"
             "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, time_ms,"
             " recorded_ms) SELECT member_id, location, terminal, receipt, 'earn', 10,"
             " time_ms, time_ms FROM receipts WHERE receipt LIKE 'H-%%' ORDER BY id;"
             "COMMIT;",
             HISTORY_ROWS);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("history: %s", err);
    sqlite3_close(db);
}

/* What another thread does while verify is between two steps. */
typedef struct beside {
    tu_host *h;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int finished;
    int write_rc;          /* BEGIN IMMEDIATE ... COMMIT on another connection */
    tp_status lookup;      /* admin member_get: takes the admin lock */
    tp_status adjustment;  /* admin adjust: a ledger entry and its audit record */
    int log_frames, checkpointed; /* the PASSIVE checkpoint after the write */
} beside;

static int exec_rc(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void *work_beside(void *arg)
{
    beside *b = arg;
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", b->h->dir);
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 60000); /* a hang guard only */
        sqlite3_wal_autocheckpoint(db, 0);
        rc = exec_rc(db, "BEGIN IMMEDIATE");
    }
    /* A sale appended meanwhile: its receipt and its earn entry. */
    if (rc == SQLITE_OK)
        rc = exec_rc(db, "INSERT INTO receipts(location, terminal, receipt, txn, staff,"
                         " time_ms, currency, total_minor, eligible_minor, line_count,"
                         " member_id, journaled_ms) VALUES('store-1', 't', 'LATE-1', 'LATE-1',"
                         " 's', 1, 'EUR', 500, 500, 1, 2, 1);"
                         "INSERT INTO ledger(member_id, location, terminal, receipt, kind,"
                         " points, time_ms, recorded_ms) VALUES(2, 'store-1', 't', 'LATE-1',"
                         " 'earn', 5, 1, 1);");
    if (rc == SQLITE_OK)
        rc = exec_rc(db, "COMMIT");
    b->write_rc = rc;
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    b->lookup = b->h->ad->members->member_get(b->h->plugin, "M-0001", &info, &msg);
    tp_adjustment a = {.struct_size = sizeof a, .member = "M-0002", .points = 7,
                       .reason = "goodwill", .staff = "mgr-9"};
    b->adjustment = b->h->ad->ledger->adjust(b->h->plugin, &a, NULL, &msg);
    /* Every frame in the WAL, those written after verify began included,
     * can go into the database file: no snapshot of verify pins them. */
    if (db && sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &b->log_frames,
                                        &b->checkpointed) != SQLITE_OK)
        b->log_frames = -1;
    sqlite3_close(db);
    pthread_mutex_lock(&b->lock);
    b->finished = 1;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

typedef struct paced {
    beside *b;
    int work_at;            /* the progress call that runs work_beside; 0: none */
    int calls;
    int ran_at_call;        /* the progress call during which the work ran */
    uint64_t done_then, total_then;
    uint64_t last_done, last_total;
    found f;
} paced;

static void on_paced_problem(void *user, uint64_t line, const char *sentence)
{
    paced *p = user;
    on_problem(&p->f, line, sentence);
}

/* In progress call work_at (the third: verify is past its first steps, far from
 * its end), runs work_beside on another thread and waits for it: verify
 * cannot go on until the other thread is done, so whatever it did
 * happened while verify was mid-run. The wait is bounded only as a hang
 * guard. */
static void on_paced_progress(void *user, uint64_t done, uint64_t total)
{
    paced *p = user;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    if (p->calls != p->work_at)
        return;
    p->ran_at_call = p->calls;
    p->done_then = done;
    p->total_then = total;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, work_beside, p->b), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 120;
    pthread_mutex_lock(&p->b->lock);
    int rc = 0;
    while (!p->b->finished && rc == 0)
        rc = pthread_cond_timedwait(&p->b->cond, &p->b->lock, &until);
    int finished = p->b->finished;
    pthread_mutex_unlock(&p->b->lock);
    if (!finished)
        fail_msg("the admin call and the write beside verify were still blocked after 120 s");
    pthread_join(t, NULL);
}

static tp_status verify_paced(tu_host *h, paced *p, tp_verify_result *r)
{
    tp_message msg;
    return h->ad->audit->verify(h->plugin, NULL, on_paced_progress, on_paced_problem, p, r, NULL,
                                &msg);
}

static void admin_calls_writes_and_checkpoints_go_on_while_verify_runs(void **state)
{
    (void)state;
    tu_host *h = tu_start(HISTORY_STEP);
    tu_add_member(h, "M-0001", "Ann");
    tu_add_member(h, "M-0002", "Bob");
    add_history(h);
    beside b = {.h = h, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
                .write_rc = -1, .log_frames = -1, .checkpointed = -1};
    paced p = {.b = &b, .work_at = 3};
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify_paced(h, &p, &r), TP_OK);
    /* The work ran mid-run, and each part of it succeeded. */
    assert_int_equal(p.ran_at_call, 3);
    assert_true(p.done_then > 0 && p.done_then < p.total_then);
    assert_true(p.calls > 3);
    assert_int_equal(p.last_done, p.last_total);
    assert_int_equal(b.write_rc, SQLITE_OK);
    assert_int_equal(b.lookup, TP_OK);
    assert_int_equal(b.adjustment, TP_OK);
    /* The checkpoint copied every frame, those after verify began too. */
    assert_true(b.log_frames > 0);
    assert_int_equal(b.checkpointed, b.log_frames);
    /* The sale and the adjustment appended meanwhile are no problem, and
     * the run covered the ledger as it was when it began. */
    assert_int_equal(p.f.n, 0);
    assert_int_equal(r.problems, 0);
    assert_int_equal(r.entries, HISTORY_ROWS);
    /* The next run covers them. */
    found f;
    assert_int_equal(verify(h, &f, &r), TP_OK);
    assert_int_equal(r.entries, HISTORY_ROWS + 2);
    tu_stop(h, 1);
}

static void progress_counts_up_to_its_total_in_many_steps(void **state)
{
    (void)state;
    tu_host *h = tu_start(HISTORY_STEP);
    tu_add_member(h, "M-0001", "Ann");
    tu_add_member(h, "M-0002", "Bob");
    add_history(h);
    beside b = {.h = h, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    paced p = {.b = &b};
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify_paced(h, &p, &r), TP_OK);
    /* Ledger, receipts and references in 5,000-row steps: dozens of steps. */
    assert_true(p.calls >= 2 * HISTORY_ROWS / 5000);
    assert_true(p.last_total >= 2 * (uint64_t)HISTORY_ROWS);
    assert_int_equal(p.last_done, p.last_total);
    tu_stop(h, 1);
}

/* A bulk adjustment's record covers entries in several steps; one of them
 * is edited with the triggers put back: the digest carried from step to
 * step still shows it. */
static void an_entry_edited_inside_a_record_spanning_steps_is_caught(void **state)
{
    (void)state;
    tu_host *h = tu_start("[limits]\nverify_step_rows = 1\n");
    const char *codes[] = {"M-0001", "M-0002", "M-0003", "M-0004"};
    for (size_t i = 0; i < 4; i++)
        tu_add_member(h, codes[i], "X");
    tp_bulk_adjustment bulk = {.struct_size = sizeof bulk, .members = codes, .member_count = 4,
                               .points = 20, .reason = "opening", .staff = "mgr-1"};
    tp_bulk_result br = {.struct_size = sizeof br};
    tp_message msg;
    assert_int_equal(h->ad->ledger->bulk_adjust(h->plugin, &bulk, NULL, NULL, &br, &msg), TP_OK);
    found f;
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(verify(h, &f, &r), TP_OK);
    char path[300];
    db_path(h, path, sizeof path);
    forge_without_triggers(path, "ledger_no_update",
                           "UPDATE ledger SET member_id = 1 WHERE id = 3", 0);
    assert_int_equal(verify(h, &f, &r), TP_ERR_INTERNAL);
    assert_int_equal(f.n, 1);
    assert_non_null(strstr(f.all, "Audit record 1 (bulk by mgr-1) covers ledger entries 1 to 4: "
                                  "they were changed after it was written"));
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_clean_database_verifies),
        cmocka_unit_test(a_dropped_trigger_and_a_rewritten_entry_are_caught),
        cmocka_unit_test(an_over_reversal_is_caught),
        cmocka_unit_test(an_earn_without_its_receipt_and_a_double_earn_are_caught),
        cmocka_unit_test(a_reference_to_a_missing_row_is_caught),
        cmocka_unit_test(replacing_a_trigger_body_is_caught),
        cmocka_unit_test(a_trigger_added_by_hand_is_caught),
        cmocka_unit_test(an_adjustment_edited_with_its_triggers_put_back_is_caught),
        cmocka_unit_test(an_entry_written_around_tillpoints_is_caught),
        cmocka_unit_test(deleting_the_newest_records_is_caught_by_the_recorded_head),
        cmocka_unit_test(an_entry_edited_with_every_hash_recomputed_is_caught_by_the_recorded_head),
        cmocka_unit_test(a_malformed_anchor_is_refused_before_any_check),
    };
    const struct CMUnitTest beside_tills[] = {
        cmocka_unit_test(admin_calls_writes_and_checkpoints_go_on_while_verify_runs),
        cmocka_unit_test(progress_counts_up_to_its_total_in_many_steps),
        cmocka_unit_test(an_entry_edited_inside_a_record_spanning_steps_is_caught),
    };
    int failed = cmocka_run_group_tests_name("verify", tests, NULL, NULL);
    suite_ini = "[limits]\nverify_step_rows = 1\n";
    failed += cmocka_run_group_tests_name("verify, one row per step", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("verify beside the tills", beside_tills, NULL, NULL);
    return failed;
}
