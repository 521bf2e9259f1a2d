/*
 * Unit tests for plugin/audit.c, on real SQLite files. Tampering goes
 * around the plugin with raw SQL, dropping the append-only triggers first,
 * as someone with the file and the sqlite3 shell would.
 */
#include <sodium.h>
#include <sqlite3.h>

#include "testutil.h"
#include "audit_forge.h"

#include "audit.h"
#include "auditlink.h"
#include "config.h"
#include "ledger.h"
#include "store.h"

typedef struct fixture {
    char dir[256];
    char path[300];
    tp_store *s;
    int n_problems;
    uint64_t ids[16];
    char sentences[16][TP_MESSAGE_MAX + 1];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tu_mkdtemp(f->dir, sizeof f->dir);
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    tp_message msg;
    assert_int_equal(tp_store_open(f->path, &f->s, &msg), TP_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->s)
        tp_store_close(f->s);
    tu_rmdir(f->dir);
    free(f);
    return 0;
}

static void on_problem(void *user, uint64_t id, const char *sentence)
{
    fixture *f = user;
    if (f->n_problems < 16) {
        f->ids[f->n_problems] = id;
        snprintf(f->sentences[f->n_problems], sizeof f->sentences[0], "%s", sentence);
    }
    f->n_problems++;
}

static int64_t verify(fixture *f)
{
    f->n_problems = 0;
    return tp_audit_verify(f->s, on_problem, f);
}

/* Appends `n` records in one transaction, numbered from `first`. */
static void append(fixture *f, int first, int n)
{
    tp_message msg;
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    for (int i = first; i < first + n; i++) {
        char receipt[32], detail[64];
        snprintf(receipt, sizeof receipt, "R-%d", i);
        snprintf(detail, sizeof detail, "record number %d", i);
        tp_audit_entry e = {.time_ms = 1700000000000LL + i,
                            .action = "retro.credit",
                            .actor = "cashier-1",
                            .approver = "anna",
                            .member = "M1",
                            .location = "shop-1",
                            .receipt = receipt,
                            .points = 10 * i,
                            .reason = "missed scan",
                            .detail = detail};
        tp_status st = tp_audit_append(f->s, &e, &msg);
        if (st != TP_OK)
            fail_msg("append: %s", msg.text);
    }
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
}

static void sql(fixture *f, const char *text)
{
    char *err = NULL;
    if (sqlite3_exec(tp_store_db(f->s), text, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", text, err ? err : "?");
}

static void text_of(fixture *f, const char *query, char *out, size_t cap)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(tp_store_db(f->s), query, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
}

/* The documented encoding, written out independently of audit.c. */
static void put(crypto_generichash_state *st, const void *p, size_t n)
{
    crypto_generichash_update(st, p, n);
}

static void put_str(crypto_generichash_state *st, const char *s)
{
    size_t n = strlen(s);
    unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    put(st, len, 4);
    put(st, s, n);
}

static void put_i64(crypto_generichash_state *st, int64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    put(st, b, 8);
}

static void expected_hash(const char *prev, int64_t id, int64_t time_ms, const char *action,
                          const char *actor, const char *approver, const char *member,
                          const char *location, const char *receipt, int64_t points,
                          const char *reason, const char *detail, char out[TP_AUDIT_HASH_MAX + 1])
{
    crypto_generichash_state st;
    unsigned char h[32];
    crypto_generichash_init(&st, NULL, 0, 32);
    put_str(&st, "tillpoints.audit.v1");
    put_str(&st, prev);
    put_i64(&st, id);
    put_i64(&st, time_ms);
    put_str(&st, action);
    put_str(&st, actor);
    put_str(&st, approver);
    put_str(&st, member);
    put_str(&st, location);
    put_str(&st, receipt);
    put_i64(&st, points);
    put_str(&st, reason);
    put_str(&st, detail);
    crypto_generichash_final(&st, h, 32);
    sodium_bin2hex(out, 65, h, 32);
}

static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";

static void appended_records_chain_and_verify_clean(void **state)
{
    fixture *f = *state;
    assert_int_equal(verify(f), 0);
    append(f, 1, 3);
    append(f, 4, 2);
    assert_int_equal(verify(f), 0);
    assert_int_equal(f->n_problems, 0);

    char prev[80], hash[80], want[TP_AUDIT_HASH_MAX + 1];
    text_of(f, "SELECT prev_hash FROM audit WHERE id = 1", prev, sizeof prev);
    assert_string_equal(prev, zeros);
    text_of(f, "SELECT hash FROM audit WHERE id = 1", hash, sizeof hash);
    expected_hash(zeros, 1, 1700000000001LL, "retro.credit", "cashier-1", "anna", "M1",
                  "shop-1", "R-1", 10, "missed scan", "record number 1", want);
    assert_string_equal(hash, want);
    text_of(f, "SELECT prev_hash FROM audit WHERE id = 2", prev, sizeof prev);
    assert_string_equal(prev, hash);
    text_of(f, "SELECT count(*) FROM audit a JOIN audit b ON b.id = a.id + 1"
               " WHERE b.prev_hash = a.hash", hash, sizeof hash);
    assert_string_equal(hash, "4");
}

static void missing_texts_are_stored_empty_and_still_verify(void **state)
{
    fixture *f = *state;
    tp_message msg;
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    tp_audit_entry e = {.time_ms = 5, .action = "pin.failure", .actor = "anna", .points = -3};
    assert_int_equal(tp_audit_append(f->s, &e, &msg), TP_OK);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    char v[80], want[TP_AUDIT_HASH_MAX + 1];
    text_of(f, "SELECT approver || '|' || detail FROM audit", v, sizeof v);
    assert_string_equal(v, "|");
    text_of(f, "SELECT hash FROM audit", v, sizeof v);
    expected_hash(zeros, 1, 5, "pin.failure", "anna", "", "", "", "", -3, "", "", want);
    assert_string_equal(v, want);
    assert_int_equal(verify(f), 0);
}

static void append_outside_a_transaction_or_without_action_is_refused(void **state)
{
    fixture *f = *state;
    tp_message msg;
    tp_audit_entry e = {.time_ms = 5, .action = "retro.credit"};
    assert_int_equal(tp_audit_append(f->s, &e, &msg), TP_ERR_STATE);
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    e.action = "";
    assert_int_equal(tp_audit_append(f->s, &e, &msg), TP_ERR_INVALID_ARGUMENT);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    e.action = "retro.credit";
    e.detail = big;
    assert_int_equal(tp_audit_append(f->s, &e, &msg), TP_ERR_TOO_LONG);
    assert_non_null(strstr(msg.text, "detail"));
    tp_store_rollback(f->s);
    text_of(f, "SELECT count(*) FROM audit", big, sizeof big);
    assert_string_equal(big, "0");
}

static void the_log_refuses_update_and_delete(void **state)
{
    fixture *f = *state;
    append(f, 1, 2);
    sqlite3 *db = tp_store_db(f->s);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET points = 1", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit WHERE id = 1", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_equal(verify(f), 0);
}

static void changed_field_is_detected_with_its_record_id(void **state)
{
    fixture *f = *state;
    append(f, 1, 5);
    sql(f, "DROP TRIGGER audit_no_update; UPDATE audit SET points = 9999 WHERE id = 3");
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->n_problems, 1);
    assert_int_equal(f->ids[0], 3);
    assert_string_equal(f->sentences[0], "Audit record 3 was changed after it was written (its "
                                         "hash does not match its contents).");
}

static void rewritten_record_with_a_fresh_hash_breaks_the_next_link(void **state)
{
    fixture *f = *state;
    append(f, 1, 4);
    char prev[80], update[400], forged[TP_AUDIT_HASH_MAX + 1];
    text_of(f, "SELECT prev_hash FROM audit WHERE id = 2", prev, sizeof prev);
    expected_hash(prev, 2, 1700000000002LL, "retro.credit", "cashier-1", "anna", "M9",
                  "shop-1", "R-2", 20, "missed scan", "record number 2", forged);
    snprintf(update, sizeof update,
             "DROP TRIGGER audit_no_update;"
             " UPDATE audit SET member = 'M9', hash = '%s' WHERE id = 2",
             forged);
    sql(f, update);
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->ids[0], 3);
    assert_string_equal(f->sentences[0], "Audit record 3 does not follow record 2: one of them "
                                         "was replaced, or it was inserted.");
}

static void deleted_middle_record_is_detected(void **state)
{
    fixture *f = *state;
    append(f, 1, 5);
    sql(f, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 3");
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->ids[0], 4);
    assert_string_equal(f->sentences[0], "Audit record 4 does not follow record 2: the records "
                                         "between them were removed, or it was inserted.");
}

static void deleted_first_record_is_detected(void **state)
{
    fixture *f = *state;
    append(f, 1, 3);
    sql(f, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 1");
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->ids[0], 2);
    assert_non_null(strstr(f->sentences[0], "is the first one but does not start the chain"));
}

static void forged_record_with_a_wrong_prev_hash_is_detected(void **state)
{
    fixture *f = *state;
    append(f, 1, 3);
    char prev[TP_AUDIT_HASH_MAX + 1], hash[TP_AUDIT_HASH_MAX + 1], insert[600];
    memset(prev, 'a', 64);
    prev[64] = '\0';
    /* Its own hash is right for its contents; only the link is wrong. */
    expected_hash(prev, 4, 1700000000004LL, "retro.credit", "x", "anna", "M1", "shop-1", "R-4",
                  500, "missed scan", "", hash);
    snprintf(insert, sizeof insert,
             "INSERT INTO audit(id, time_ms, action, actor, approver, member, location,"
             " receipt, points, reason, detail, prev_hash, hash) VALUES(4, 1700000000004,"
             " 'retro.credit', 'x', 'anna', 'M1', 'shop-1', 'R-4', 500, 'missed scan', '',"
             " '%s', '%s')",
             prev, hash);
    sql(f, insert);
    assert_int_equal(verify(f), 1);
    assert_int_equal(f->ids[0], 4);
    assert_string_equal(f->sentences[0], "Audit record 4 does not follow record 3: one of them "
                                         "was replaced, or it was inserted.");
}

static void each_problem_is_reported_once_in_record_order(void **state)
{
    fixture *f = *state;
    append(f, 1, 8);
    sql(f, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"
           " UPDATE audit SET reason = 'typo' WHERE id = 2;"
           " DELETE FROM audit WHERE id = 6");
    assert_int_equal(verify(f), 2);
    assert_int_equal(f->n_problems, 2);
    assert_int_equal(f->ids[0], 2);
    assert_non_null(strstr(f->sentences[0], "record 2 was changed"));
    assert_int_equal(f->ids[1], 7);
    assert_non_null(strstr(f->sentences[1], "record 7 does not follow record 5"));
}

static void chain_continues_across_reopening(void **state)
{
    fixture *f = *state;
    append(f, 1, 3);
    tp_store_close(f->s);
    f->s = NULL;
    tp_message msg;
    assert_int_equal(tp_store_open(f->path, &f->s, &msg), TP_OK);
    append(f, 4, 2);
    assert_int_equal(verify(f), 0);
    char a[80], b[80];
    text_of(f, "SELECT hash FROM audit WHERE id = 3", a, sizeof a);
    text_of(f, "SELECT prev_hash FROM audit WHERE id = 4", b, sizeof b);
    assert_string_equal(a, b);
    text_of(f, "SELECT max(id) FROM audit", a, sizeof a);
    assert_string_equal(a, "5");
}

/* Ledger entries written raw, as a write path does, inside the open
 * transaction: `n` adjustments of member 1, keys K-<first>.. */
static void ledger_rows(fixture *f, int first, int n, int points)
{
    for (int i = first; i < first + n; i++) {
        char row[300];
        snprintf(row, sizeof row,
                 "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, staff,"
                 " time_ms, recorded_ms) VALUES(1, 'shop-1', 't1', 'K-%d', 'adjust', %d, 'anna',"
                 " %d, %d)", i, points, i, i);
        sql(f, row);
    }
}

static void add_member(fixture *f)
{
    sql(f, "INSERT INTO members(code, created_ms) VALUES('M1', 1)");
}

static int64_t int_of(fixture *f, const char *query)
{
    char v[80];
    text_of(f, query, v, sizeof v);
    return strtoll(v, NULL, 10);
}

static tp_status append_one(fixture *f, const char *action, int64_t points)
{
    tp_message msg;
    tp_audit_entry e = {.time_ms = 7, .action = action, .actor = "anna", .approver = "anna",
                        .location = "shop-1", .points = points};
    return tp_audit_append(f->s, &e, &msg);
}

static int64_t link_problems(fixture *f)
{
    f->n_problems = 0;
    return tp_auditlink_verify(f->s, on_problem, f);
}

static void a_record_covers_exactly_the_entries_its_transaction_wrote(void **state)
{
    fixture *f = *state;
    tp_message msg;
    add_member(f);
    /* Earlier entries of another transaction (checkout's, say). */
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    ledger_rows(f, 1, 2, 5);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    ledger_rows(f, 3, 3, 7);
    assert_int_equal(append_one(f, "bulk", 21), TP_OK);
    ledger_rows(f, 6, 1, 9); /* a second record in the same transaction */
    assert_int_equal(append_one(f, "adjust", 9), TP_OK);
    assert_int_equal(append_one(f, "pin.failure", 0), TP_OK); /* no entries: no range */
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);

    char v[200];
    text_of(f, "SELECT ledger_first || '-' || ledger_last || ' ' || ledger_count || ' '"
               " || ledger_sum FROM audit WHERE id = 1", v, sizeof v);
    assert_string_equal(v, "3-5 3 21");
    text_of(f, "SELECT ledger_first || '-' || ledger_last || ' ' || ledger_count || ' '"
               " || ledger_sum FROM audit WHERE id = 2", v, sizeof v);
    assert_string_equal(v, "6-6 1 9");
    assert_int_equal(int_of(f, "SELECT ledger_first IS NULL FROM audit WHERE id = 3"), 1);
    /* The digest and the hash are the published encoding, computed here
     * without audit.c: rehashing changes nothing. */
    int64_t count, sum;
    char digest[TP_AUDIT_HASH_MAX + 1], stored[80], hash1[80], hash2[80];
    forge_digest(tp_store_db(f->s), 3, 5, &count, &sum, digest);
    text_of(f, "SELECT ledger_digest FROM audit WHERE id = 1", stored, sizeof stored);
    assert_string_equal(stored, digest);
    text_of(f, "SELECT group_concat(hash, ',') FROM audit", hash1, sizeof hash1);
    sql(f, "DROP TRIGGER audit_no_update");
    forge_rehash_from(tp_store_db(f->s), 1);
    text_of(f, "SELECT group_concat(hash, ',') FROM audit", hash2, sizeof hash2);
    assert_string_equal(hash1, hash2);
    assert_int_equal(verify(f), 0);
    /* Entries 1-2 are nobody's: the link check names them. */
    assert_int_equal(link_problems(f), 1);
    assert_non_null(strstr(f->sentences[0], "2 ledger entries from 1 to 2 (adjust) are in no "
                                            "audit record"));
}

static void a_covered_entry_changed_added_or_removed_is_named_with_its_record(void **state)
{
    fixture *f = *state;
    tp_message msg;
    add_member(f);
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    ledger_rows(f, 1, 4, 10);
    assert_int_equal(append_one(f, "import", 40), TP_OK);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    assert_int_equal(link_problems(f), 0);
    sql(f, "DROP TRIGGER ledger_no_update; DROP TRIGGER ledger_no_delete;"
           " UPDATE ledger SET reason = 'edited' WHERE id = 2");
    assert_int_equal(link_problems(f), 1);
    assert_int_equal(f->ids[0], 1);
    assert_string_equal(f->sentences[0], "Audit record 1 (import by anna) covers ledger entries "
                                         "1 to 4: they were changed after it was written (same "
                                         "count and points, different contents).");
    sql(f, "UPDATE ledger SET reason = '' WHERE id = 2; DELETE FROM ledger WHERE id = 4");
    assert_int_equal(link_problems(f), 1);
    assert_non_null(strstr(f->sentences[0], "it recorded 4 entries of 40 points, the ledger now "
                                            "holds 3 entries of 30 points there."));
}

static void two_records_claiming_the_same_entries_are_reported(void **state)
{
    fixture *f = *state;
    tp_message msg;
    add_member(f);
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    ledger_rows(f, 1, 2, 10);
    assert_int_equal(append_one(f, "bulk", 20), TP_OK);
    ledger_rows(f, 3, 2, 10);
    assert_int_equal(append_one(f, "bulk", 20), TP_OK);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    sql(f, "DROP TRIGGER audit_no_update; UPDATE audit SET ledger_first = 2 WHERE id = 2");
    assert_true(link_problems(f) >= 1);
    assert_non_null(strstr(f->sentences[0], "Audit record 2 (bulk) claims ledger entries from 2, "
                                            "which an earlier record already covers"));
}

static void append_in_a_transaction_not_begun_by_the_store_is_refused(void **state)
{
    fixture *f = *state;
    tp_message msg;
    sql(f, "BEGIN IMMEDIATE");
    tp_audit_entry e = {.time_ms = 5, .action = "adjust"};
    assert_int_equal(tp_audit_append(f->s, &e, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "tp_store_begin"));
    sql(f, "ROLLBACK");
}

/* An upgrade from schema 4: the history gets one record covering it. The
 * file is taken back to schema 4 by hand (v8's tables, triggers and
 * sync_state key — its widened ledger kinds stay, which v8 finds done —,
 * v7's indexes, v6's outbox
 * column, trigger and sync_link, and the v5 columns, index and outbox
 * trigger removed), then reopened. */
static void an_upgrade_seals_the_existing_ledger_in_one_record(void **state)
{
    fixture *f = *state;
    add_member(f);
    ledger_rows(f, 1, 3, 4);
    sql(f, "DROP TABLE reservations; DROP TABLE redemptions; DROP TABLE overdrafts;"
           " DROP TRIGGER ledger_redeem_negative; DROP TRIGGER ledger_unredeem_bounded;"
           " DELETE FROM sync_state WHERE key = 'overdrafts_seq';"
           " DROP INDEX ledger_time; DROP INDEX receipts_time;"
           " DROP TRIGGER outbox_dismissed_final; ALTER TABLE outbox DROP COLUMN dismissed_ms;"
           " DROP TABLE sync_link;"
           " DROP TRIGGER outbox_audit; DROP INDEX audit_ledger_range;"
           " ALTER TABLE audit DROP COLUMN ledger_first;"
           " ALTER TABLE audit DROP COLUMN ledger_last; ALTER TABLE audit DROP COLUMN"
           " ledger_count; ALTER TABLE audit DROP COLUMN ledger_sum; ALTER TABLE audit DROP"
           " COLUMN ledger_digest;"
           " CREATE TRIGGER outbox_audit AFTER INSERT ON audit BEGIN SELECT 1; END;"
           " PRAGMA user_version = 4");
    tp_store_close(f->s);
    f->s = NULL;
    tp_message msg;
    assert_int_equal(tp_store_open(f->path, &f->s, &msg), TP_OK);
    char v[200];
    text_of(f, "SELECT action || ' ' || actor || ' ' || ledger_first || '-' || ledger_last"
               " || ' ' || ledger_count || ' ' || ledger_sum FROM audit", v, sizeof v);
    assert_string_equal(v, "ledger.seal tillpoints 1-3 3 12");
    assert_int_equal(verify(f), 0);
    assert_int_equal(link_problems(f), 0);
    sql(f, "DROP TRIGGER ledger_no_update; UPDATE ledger SET points = 40 WHERE id = 3");
    assert_int_equal(link_problems(f), 1);
    assert_non_null(strstr(f->sentences[0], "Audit record 1 (ledger.seal by tillpoints)"));
}

static void an_empty_ledger_is_upgraded_without_a_record(void **state)
{
    fixture *f = *state;
    assert_int_equal(int_of(f, "SELECT count(*) FROM audit"), 0);
    assert_int_equal(int_of(f, "PRAGMA user_version"), TP_SCHEMA_VERSION);
}

/* ---- through the admin ABI ---------------------------------------------- */

typedef struct audit_row {
    char action[TP_AUDIT_NAME_MAX + 1], actor[TP_STAFF_ID_MAX + 1];
    char approver[TP_MANAGER_ID_MAX + 1], member[TP_MEMBER_CODE_MAX + 1];
    char receipt[TP_RECEIPT_ID_MAX + 1];
    int64_t points, count, sum;
} audit_row;

static int audit_rows(tu_host *h, audit_row *out, int cap)
{
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT action, actor, approver, member, receipt,"
                                            " points, COALESCE(ledger_count, 0),"
                                            " COALESCE(ledger_sum, 0) FROM audit ORDER BY id",
                                        -1, &q, NULL),
                     SQLITE_OK);
    int n = 0;
    while (n < cap && sqlite3_step(q) == SQLITE_ROW) {
        audit_row *r = &out[n++];
        snprintf(r->action, sizeof r->action, "%s", (const char *)sqlite3_column_text(q, 0));
        snprintf(r->actor, sizeof r->actor, "%s", (const char *)sqlite3_column_text(q, 1));
        snprintf(r->approver, sizeof r->approver, "%s", (const char *)sqlite3_column_text(q, 2));
        snprintf(r->member, sizeof r->member, "%s", (const char *)sqlite3_column_text(q, 3));
        snprintf(r->receipt, sizeof r->receipt, "%s", (const char *)sqlite3_column_text(q, 4));
        r->points = sqlite3_column_int64(q, 5);
        r->count = sqlite3_column_int64(q, 6);
        r->sum = sqlite3_column_int64(q, 7);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* The approver activity shows for each entry, newest first, as
 * "kind:staff:approver" joined by spaces. */
static void activity_approvers(tu_host *h, char *out, size_t cap)
{
    tp_activity_row rows[32];
    size_t n = 0;
    tp_activity_query q = {.struct_size = sizeof q};
    tp_message msg;
    assert_int_equal(h->ad->ledger->activity(h->plugin, &q, rows, 32, sizeof rows[0], &n, &msg),
                     TP_OK);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s:%s:%s", i ? " " : "", rows[i].kind, rows[i].staff,
                 rows[i].approver);
    }
}

static void adjust_bulk_and_import_each_write_a_record_with_actor_and_approver(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tu_add_member(h, "M-0002", "Bob");
    tp_message msg;
    tp_status sale = tu_sale(h, "R-1", "M-0001", 1500, &msg);
    if (sale != TP_OK)
        fail_msg("sale: %s", msg.text);
    tu_settle(h);
    tp_adjustment adj = {.struct_size = sizeof adj, .member = "M-0001", .points = 50,
                         .reason = "goodwill", .comment = "sorry for the wait", .staff = "mgr-1"};
    tp_activity_row entry = {.struct_size = sizeof entry};
    assert_int_equal(h->ad->ledger->adjust(h->plugin, &adj, &entry, &msg), TP_OK);
    assert_string_equal(entry.approver, "mgr-1");
    const char *const list[] = {"M-0001", "M-0002"};
    tp_bulk_adjustment bulk = {.struct_size = sizeof bulk, .members = list, .member_count = 2,
                               .points = -5, .reason = "expired voucher", .staff = "mgr-2"};
    tp_bulk_result br = {.struct_size = sizeof br};
    assert_int_equal(h->ad->ledger->bulk_adjust(h->plugin, &bulk, NULL, NULL, &br, &msg),
                     TP_ERR_STATE);
    bulk.points = 5;
    assert_int_equal(h->ad->ledger->bulk_adjust(h->plugin, &bulk, NULL, NULL, &br, &msg), TP_OK);
    char csv[300];
    snprintf(csv, sizeof csv, "%s/in.csv", h->dir);
    tu_write_file(csv, "code,name,points\nM-0003,Cid,30\nM-0002,,7\nM-0004,Dee,0\n");
    tp_import_result ir = {.struct_size = sizeof ir};
    assert_int_equal(
        h->ad->transfer->import_csv(h->plugin, csv, 0, "mgr-3", NULL, NULL, NULL, &ir, &msg),
        TP_OK);
    /* A dry run and a refused bulk wrote nothing. */
    assert_int_equal(h->ad->transfer->import_csv(h->plugin, csv, TP_IMPORT_DRY_RUN, "mgr-3", NULL,
                                                 NULL, NULL, &ir, &msg),
                     TP_OK);

    audit_row a[8];
    assert_int_equal(audit_rows(h, a, 8), 3);
    assert_string_equal(a[0].action, "adjust");
    assert_string_equal(a[0].actor, "mgr-1");
    assert_string_equal(a[0].approver, "mgr-1");
    assert_string_equal(a[0].member, "M-0001");
    assert_string_equal(a[0].receipt, "ADJ-2");
    assert_int_equal(a[0].points, 50);
    assert_int_equal(a[0].count, 1);
    assert_string_equal(a[1].action, "bulk");
    assert_string_equal(a[1].actor, "mgr-2");
    assert_string_equal(a[1].approver, "mgr-2");
    assert_string_equal(a[1].receipt, br.batch_id);
    assert_int_equal(a[1].points, 10);
    assert_int_equal(a[1].count, 2);
    assert_int_equal(a[1].sum, 10);
    assert_string_equal(a[2].action, "import");
    assert_string_equal(a[2].actor, "mgr-3");
    assert_string_equal(a[2].approver, "mgr-3");
    assert_int_equal(strncmp(a[2].receipt, "IMPORT-", 7), 0);
    assert_int_equal(a[2].points, 37);
    assert_int_equal(a[2].count, 2);

    char shown[512];
    activity_approvers(h, shown, sizeof shown);
    assert_string_equal(shown, "import:mgr-3:mgr-3 import:mgr-3:mgr-3 bulk:mgr-2:mgr-2 "
                               "bulk:mgr-2:mgr-2 adjust:mgr-1:mgr-1 earn:staff-1:");
    tp_verify_result vr = {.struct_size = sizeof vr};
    assert_int_equal(h->ad->audit->verify(h->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg),
                     TP_OK);
    tu_stop(h, 1);
}

/* Whatever writes the entries, the record written after them in the same
 * transaction names their approver: here a correction as retro.c writes
 * it (a reversal of the wrong member's credit and a credit to the right
 * one, then one "correction" record), and a retro credit. */
static void activity_shows_the_approver_of_the_record_covering_each_entry(void **state)
{
    fixture *f = *state;
    tp_message msg;
    tp_config cfg;
    assert_int_equal(tp_config_load_string(&cfg, "[store]\nlocation = shop-1\n", &msg), TP_OK);
    sql(f, "INSERT INTO members(code, created_ms) VALUES('M1', 1), ('M2', 1)");
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    sql(f, "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, staff,"
           " time_ms, recorded_ms) VALUES(1, 'shop-1', 't', 'S-1', 'retro', 27, 'cas-1', 1, 1)");
    tp_audit_entry credit = {.time_ms = 1, .action = "retro.credit", .actor = "cas-1",
                             .approver = "mia", .member = "M1", .location = "shop-1",
                             .receipt = "S-1", .points = 27};
    assert_int_equal(tp_audit_append(f->s, &credit, &msg), TP_OK);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    assert_int_equal(tp_store_begin(f->s, &msg), TP_OK);
    sql(f, "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, reverses,"
           " staff, time_ms, recorded_ms) VALUES(1, 'shop-1', 't', 'CORR-2', 'reversal', -27,"
           " 1, 'cas-2', 2, 2);"
           "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, staff,"
           " time_ms, recorded_ms) VALUES(2, 'shop-1', 't', 'S-1#C2', 'retro', 27, 'cas-2', 2,"
           " 2)");
    tp_audit_entry corr = {.time_ms = 2, .action = "correction", .actor = "cas-2",
                           .approver = "max", .member = "M2", .location = "shop-1",
                           .receipt = "S-1", .points = 27};
    assert_int_equal(tp_audit_append(f->s, &corr, &msg), TP_OK);
    assert_int_equal(tp_store_commit(f->s, &msg), TP_OK);
    tp_activity_row rows[8];
    size_t n = 0;
    tp_activity_query q = {.struct_size = sizeof q};
    assert_int_equal(tp_ledger_activity(f->s, &cfg, &q, rows, 8, sizeof rows[0], &n, &msg), TP_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].kind, "retro");
    assert_string_equal(rows[0].approver, "max");
    assert_string_equal(rows[1].kind, "reversal");
    assert_string_equal(rows[1].approver, "max");
    assert_string_equal(rows[2].kind, "retro");
    assert_string_equal(rows[2].approver, "mia");
    assert_int_equal(link_problems(f), 0);
    assert_int_equal(verify(f), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(appended_records_chain_and_verify_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_texts_are_stored_empty_and_still_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(append_outside_a_transaction_or_without_action_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(the_log_refuses_update_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_field_is_detected_with_its_record_id, setup, teardown),
        cmocka_unit_test_setup_teardown(rewritten_record_with_a_fresh_hash_breaks_the_next_link, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_middle_record_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_first_record_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_record_with_a_wrong_prev_hash_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(each_problem_is_reported_once_in_record_order, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_continues_across_reopening, setup, teardown),
        cmocka_unit_test_setup_teardown(a_record_covers_exactly_the_entries_its_transaction_wrote, setup, teardown),
        cmocka_unit_test_setup_teardown(a_covered_entry_changed_added_or_removed_is_named_with_its_record, setup, teardown),
        cmocka_unit_test_setup_teardown(two_records_claiming_the_same_entries_are_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(append_in_a_transaction_not_begun_by_the_store_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(an_upgrade_seals_the_existing_ledger_in_one_record, setup, teardown),
        cmocka_unit_test_setup_teardown(an_empty_ledger_is_upgraded_without_a_record, setup, teardown),
        cmocka_unit_test_setup_teardown(activity_shows_the_approver_of_the_record_covering_each_entry, setup, teardown),
        cmocka_unit_test(adjust_bulk_and_import_each_write_a_record_with_actor_and_approver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
