/*
 * audit.c — the hash-chained audit log (see audit.h).
 *
 * Each record's hash is the lowercase hex of BLAKE2b-256 (libsodium
 * crypto_generichash, 32 bytes, no key) over one canonical encoding:
 *
 *   str("tillpoints.audit.v1")  str(prev_hash)
 *   u64(id) i64(time_ms) str(action) str(actor) str(approver) str(member)
 *   str(location) str(receipt) i64(points) str(reason) str(detail)
 *
 * and, only for a record that covers ledger entries (schema 5), followed by
 *
 *   str("ledger") u64(ledger_first) u64(ledger_last) u64(ledger_count)
 *   i64(ledger_sum) str(ledger_digest)
 *
 * where str(x) is a 4-byte big-endian byte length followed by the bytes,
 * and u64/i64 are 8-byte big-endian (two's complement). Every string is
 * length-prefixed, so no two different records encode alike ("ab"+"c" and
 * "a"+"bc" differ, and a record with a ledger part never encodes like one
 * without), and the row id is covered, so records cannot be renumbered.
 * prev_hash is the previous record's hash, as its 64 hex characters; the
 * first record's is 64 '0's. Records written before schema 5 have no
 * ledger part and hash exactly as they did.
 *
 * The ledger part: tp_store_begin notes the largest ledger id; a record
 * appended in that transaction covers the entries above the note (they can
 * only be this transaction's: BEGIN IMMEDIATE keeps every other writer
 * out), and moves the note to its last entry. So every write path that
 * adds ledger entries and then appends its audit record — adjustments,
 * bulk, import, retro credits, corrections with their reversals — binds
 * those entries to the record without knowing their ids. The digest is
 * read back from the ledger as stored (see audit.h for its encoding).
 *
 * Why the chain has no key. A keyed hash (a per-terminal secret) would stop
 * someone who can write the database but not read the key; on a terminal
 * the service user that writes the database also reads its secrets, so the
 * key would mostly protect against a copy edited elsewhere and restored —
 * which the anchors catch anyway. A key would also make the chain
 * unverifiable by an auditor without it, and unverifiable for good when it
 * is lost. The defence is anchoring the head outside the terminal: the
 * central database holds each terminal's head and refuses a record that
 * does not follow it (sync.c), and without one the manager writes the head
 * (`tillpoints audit head`) on the end-of-day report (docs/MANAGER.md).
 *
 * tp_audit_append reads the last record (ORDER BY id DESC LIMIT 1) and
 * inserts id + 1 inside the caller's write transaction, so two writers can
 * never chain onto the same record; it refuses to run outside one.
 *
 * tp_audit_verify walks the log in id order and checks two things per
 * record, each reported separately:
 *  - its hash matches its contents: otherwise it was changed after it was
 *    written;
 *  - its prev_hash is the stored hash of the record before it: otherwise a
 *    record was removed before it, or it was inserted or replaced.
 * The next link is checked against the stored hash, not the recomputed one,
 * so one altered record is one problem, not a cascade. Exactly one callback
 * per problem, in id order (callers count them), so the first and the last
 * callback carry the first and the last broken record.
 * What a chain alone cannot show: removal of the newest records (nothing
 * after them points back), or a history rewritten with every hash
 * recomputed; anchoring the head elsewhere does (anchor.c).
 */
#include "audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "util.h"

#define HASH_BYTES ((size_t)32)
#define HASH_HEX ((size_t)TP_AUDIT_HASH_HEX) /* 2 * HASH_BYTES */
#define ACTION_MAX 32
#define TEXT_MAX 1024
#define N_TEXTS 8

static const char chain_tag[] = "tillpoints.audit.v1";
static const char ledger_tag[] = "ledger";
static const char digest_tag[] = "tillpoints.ledger.v1";
static const char first_prev[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";



static const char last_sql[] = "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1";
static const char ledger_max_sql[] = "SELECT COALESCE(MAX(id), 0) FROM ledger";
static const char insert_sql[] =
    "INSERT INTO audit(id, time_ms, action, actor, approver, member, location, receipt,"
    " points, reason, detail, prev_hash, hash, ledger_first, ledger_last, ledger_count,"
    " ledger_sum, ledger_digest)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

/* One record as it is hashed. texts: action, actor, approver, member,
 * location, receipt, reason, detail — byte strings with lengths. */
typedef struct record {
    uint64_t id;
    int64_t time_ms;
    int64_t points;
    const char *text[N_TEXTS];
    size_t len[N_TEXTS];
    /* The ledger part (has_ledger = 0: none). */
    int has_ledger;
    int64_t first, last, sum;
    uint64_t count;
    const char *digest;
    size_t digest_len;
} record;

enum { T_ACTION, T_ACTOR, T_APPROVER, T_MEMBER, T_LOCATION, T_RECEIPT, T_REASON, T_DETAIL };

static void put_u64(crypto_generichash_state *st, uint64_t v)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    crypto_generichash_update(st, b, sizeof b);
}

static void put_str(crypto_generichash_state *st, const char *s, size_t n)
{
    unsigned char b[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    crypto_generichash_update(st, b, sizeof b);
    if (n)
        crypto_generichash_update(st, (const unsigned char *)s, n);
}

/* Hex hash of `r` chained onto `prev` (prev_len bytes) into out. */
static void hash_record(const char *prev, size_t prev_len, const record *r,
                        char out[HASH_HEX + 1])
{
    crypto_generichash_state st;
    unsigned char h[HASH_BYTES];
    crypto_generichash_init(&st, NULL, 0, HASH_BYTES);
    put_str(&st, chain_tag, sizeof chain_tag - 1);
    put_str(&st, prev, prev_len);
    put_u64(&st, r->id);
    put_u64(&st, (uint64_t)r->time_ms);
    for (int i = T_ACTION; i <= T_RECEIPT; i++)
        put_str(&st, r->text[i], r->len[i]);
    put_u64(&st, (uint64_t)r->points);
    put_str(&st, r->text[T_REASON], r->len[T_REASON]);
    put_str(&st, r->text[T_DETAIL], r->len[T_DETAIL]);
    if (r->has_ledger) {
        put_str(&st, ledger_tag, sizeof ledger_tag - 1);
        put_u64(&st, (uint64_t)r->first);
        put_u64(&st, (uint64_t)r->last);
        put_u64(&st, r->count);
        put_u64(&st, (uint64_t)r->sum);
        put_str(&st, r->digest, r->digest_len);
    }
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(out, HASH_HEX + 1, h, sizeof h);
}

/* ---- the ledger digest -------------------------------------------------- */

void tp_audit_digest_init(crypto_generichash_state *st)
{
    crypto_generichash_init(st, NULL, 0, HASH_BYTES);
    put_str(st, digest_tag, sizeof digest_tag - 1);
}

static void put_col_str(crypto_generichash_state *st, sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    put_str(st, t ? (const char *)t : "", t ? (size_t)sqlite3_column_bytes(q, i) : 0);
}

void tp_audit_digest_row(crypto_generichash_state *st, sqlite3_stmt *q, int col)
{
    put_u64(st, (uint64_t)sqlite3_column_int64(q, col));      /* id */
    put_u64(st, (uint64_t)sqlite3_column_int64(q, col + 1));  /* member_id */
    for (int i = 2; i <= 5; i++)                                /* location .. kind */
        put_col_str(st, q, col + i);
    put_u64(st, (uint64_t)sqlite3_column_int64(q, col + 6));  /* points */
    put_u64(st, (uint64_t)sqlite3_column_int64(q, col + 7));  /* reverses */
    for (int i = 8; i <= 10; i++)                               /* staff, reason, comment */
        put_col_str(st, q, col + i);
    put_u64(st, (uint64_t)sqlite3_column_int64(q, col + 11)); /* time_ms */
    put_u64(st, (uint64_t)sqlite3_column_int64(q, col + 12)); /* recorded_ms */
}

void tp_audit_digest_final(crypto_generichash_state *st, char hex[TP_AUDIT_HASH_HEX + 1])
{
    unsigned char h[HASH_BYTES];
    crypto_generichash_final(st, h, sizeof h);
    sodium_bin2hex(hex, HASH_HEX + 1, h, sizeof h);
}

/* The ledger part of a record covering entries first..last, read back as
 * stored. 0, or -1 (msg set). */
static int summarise(tp_store *s, int64_t first, int64_t last, record *r,
                     char digest[HASH_HEX + 1], tp_message *msg)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(tp_store_db(s),
                           "SELECT " TP_AUDIT_LEDGER_COLUMNS " FROM ledger"
                           " WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK) {
        tp_msg_set(msg, "Cannot read the ledger for the audit log: %s.", tp_store_errmsg(s));
        sqlite3_finalize(q);
        return -1;
    }
    sqlite3_bind_int64(q, 1, first);
    sqlite3_bind_int64(q, 2, last);
    crypto_generichash_state st;
    tp_audit_digest_init(&st);
    r->count = 0;
    r->sum = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        tp_audit_digest_row(&st, q, 0);
        r->count++;
        r->sum += sqlite3_column_int64(q, 6);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot read the ledger for the audit log: %s.", tp_store_errmsg(s));
        return -1;
    }
    tp_audit_digest_final(&st, digest);
    r->has_ledger = 1;
    r->first = first;
    r->last = last;
    r->digest = digest;
    r->digest_len = HASH_HEX;
    return 0;
}

static int64_t ledger_max(tp_store *s, int *err)
{
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_AUDIT_LEDGER_MAX, ledger_max_sql);
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    int64_t max = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    if (q)
        sqlite3_reset(q);
    *err = rc != SQLITE_ROW;
    return max;
}

/* Appends `e`, covering ledger entries first..last when last >= first. */
static tp_status append_range(tp_store *s, const tp_audit_entry *e, int64_t first, int64_t last,
                              tp_message *msg)
{
    static const char *const names[N_TEXTS] = {"action", "actor", "approver", "member",
                                               "location", "receipt", "reason", "detail"};
    record r;
    memset(&r, 0, sizeof r);
    const char *in[N_TEXTS] = {e->action, e->actor,   e->approver, e->member,
                               e->location, e->receipt, e->reason, e->detail};
    for (int i = 0; i < N_TEXTS; i++) {
        r.text[i] = in[i] ? in[i] : "";
        size_t max = i == T_ACTION ? ACTION_MAX : TEXT_MAX;
        r.len[i] = tp_bounded_len(r.text[i], max);
        if (r.len[i] == (size_t)-1) {
            tp_msg_set(msg, "The audit record's %s is longer than %zu bytes.", names[i], max);
            return TP_ERR_TOO_LONG;
        }
    }
    if (r.len[T_ACTION] == 0) {
        tp_msg_set(msg, "An audit record needs an action.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    r.time_ms = e->time_ms;
    r.points = e->points;
    char digest[HASH_HEX + 1] = "";
    if (last >= first && first > 0 && summarise(s, first, last, &r, digest, msg) != 0)
        return TP_ERR_STORAGE;

    char prev[HASH_HEX + 1];
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_AUDIT_APPEND_RANGE_LAST, last_sql);
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        r.id = (uint64_t)sqlite3_column_int64(q, 0) + 1;
        const unsigned char *h = sqlite3_column_text(q, 1);
        if (tp_copy(prev, sizeof prev, h ? (const char *)h : "") != 0 ||
            strlen(prev) != HASH_HEX) {
            sqlite3_reset(q);
            tp_msg_set(msg, "The last audit record's hash is damaged; run tillpoints verify.");
            return TP_ERR_STORAGE;
        }
    } else if (rc == SQLITE_DONE) {
        r.id = 1;
        memcpy(prev, first_prev, sizeof prev);
    }
    if (q)
        sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot read the audit log: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }

    char hash[HASH_HEX + 1];
    hash_record(prev, HASH_HEX, &r, hash);

    q = tp_store_cached(s, TP_STMT_AUDIT_APPEND_RANGE_INSERT, insert_sql);
    rc = q ? SQLITE_OK : SQLITE_ERROR;
    if (q) {
        sqlite3_bind_int64(q, 1, (sqlite3_int64)r.id);
        sqlite3_bind_int64(q, 2, r.time_ms);
        for (int i = T_ACTION; i <= T_RECEIPT; i++)
            sqlite3_bind_text(q, 3 + i, r.text[i], (int)r.len[i], SQLITE_STATIC);
        sqlite3_bind_int64(q, 9, r.points);
        sqlite3_bind_text(q, 10, r.text[T_REASON], (int)r.len[T_REASON], SQLITE_STATIC);
        sqlite3_bind_text(q, 11, r.text[T_DETAIL], (int)r.len[T_DETAIL], SQLITE_STATIC);
        sqlite3_bind_text(q, 12, prev, (int)HASH_HEX, SQLITE_STATIC);
        sqlite3_bind_text(q, 13, hash, (int)HASH_HEX, SQLITE_STATIC);
        if (r.has_ledger) {
            sqlite3_bind_int64(q, 14, r.first);
            sqlite3_bind_int64(q, 15, r.last);
            sqlite3_bind_int64(q, 16, (sqlite3_int64)r.count);
            sqlite3_bind_int64(q, 17, r.sum);
            sqlite3_bind_text(q, 18, digest, (int)HASH_HEX, SQLITE_STATIC);
        } /* else unbound: NULL */
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot write the audit log: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    tp_msg_clear(msg);
    return TP_OK;
}

tp_status tp_audit_append(tp_store *s, const tp_audit_entry *e, tp_message *msg)
{
    if (!e) {
        tp_msg_set(msg, "No audit record to write.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (sqlite3_get_autocommit(tp_store_db(s))) {
        tp_msg_set(msg, "The audit log is written only inside the transaction of the change "
                   "it records.");
        return TP_ERR_STATE;
    }
    int64_t mark = tp_store_ledger_mark(s);
    if (mark < 0) {
        tp_msg_set(msg, "The audit log is written only inside a transaction begun by "
                   "tp_store_begin (it covers the ledger entries written since).");
        return TP_ERR_STATE;
    }
    int err = 0;
    int64_t last = ledger_max(s, &err);
    if (err) {
        tp_msg_set(msg, "Cannot read the ledger for the audit log: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    tp_status st = append_range(s, e, mark + 1, last, msg);
    if (st == TP_OK && last > mark)
        tp_store_set_ledger_mark(s, last);
    return st;
}

tp_status tp_audit_seal_history(tp_store *s, tp_message *msg)
{
    int err = 0;
    int64_t last = ledger_max(s, &err);
    if (err) {
        tp_msg_set(msg, "Cannot read the ledger: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (last == 0)
        return TP_OK;
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "ledger.seal", .actor = "tillpoints",
                        .reason = "schema 5 upgrade",
                        .detail = "ledger entries written before each point movement had an "
                                  "audit record of its own"};
    return append_range(s, &e, 1, last, msg);
}

tp_status tp_audit_seal(tp_store *s, const char *location, const char *staff,
                        const char *reason, uint64_t *seq, tp_message *msg)
{
    if (tp_store_begin(s, msg) != TP_OK)
        return TP_ERR_STORAGE;
    static const char span_sql[] =
        "SELECT (SELECT COALESCE(MAX(ledger_last), 0) FROM audit WHERE ledger_first IS NOT NULL),"
        " (SELECT COALESCE(MAX(id), 0) FROM ledger)";
    static const char count_sql[] =
        "SELECT count(*), COALESCE(group_concat(DISTINCT kind), '') FROM ledger l"
        " WHERE l.id BETWEEN ?1 AND ?2 AND " TP_AUDIT_NEEDS_RECORD("l");
    sqlite3_stmt *q = NULL;
    int64_t covered = 0, last = 0, needing = 0;
    char kinds[96] = "";
    int ok = sqlite3_prepare_v2(tp_store_db(s), span_sql, -1, &q, NULL) == SQLITE_OK &&
             sqlite3_step(q) == SQLITE_ROW;
    if (ok) {
        covered = sqlite3_column_int64(q, 0);
        last = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    q = NULL;
    ok = ok && sqlite3_prepare_v2(tp_store_db(s), count_sql, -1, &q, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_int64(q, 1, covered + 1);
        sqlite3_bind_int64(q, 2, last);
        ok = sqlite3_step(q) == SQLITE_ROW;
        if (ok) {
            needing = sqlite3_column_int64(q, 0);
            tp_copy(kinds, sizeof kinds, (const char *)sqlite3_column_text(q, 1));
        }
    }
    sqlite3_finalize(q);
    if (!ok) {
        tp_msg_set(msg, "Cannot read the ledger: %s.", tp_store_errmsg(s));
        tp_store_rollback(s);
        return TP_ERR_STORAGE;
    }
    if (needing == 0) {
        tp_store_rollback(s);
        tp_msg_set(msg, "Every ledger entry that needs an audit record has one; nothing was "
                   "sealed.");
        return TP_ERR_STATE;
    }
    char detail[200];
    tp_buf_set(detail, sizeof detail, "entries %lld to %lld, %lld of them (%s) written into the "
               "file without an audit record", (long long)covered + 1, (long long)last,
               (long long)needing, kinds);
    /* No approver: sealing records who found the entries, it approves
     * none of them (activity then shows the approvers of their own time). */
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "ledger.seal", .actor = staff,
                        .location = location, .reason = reason, .detail = detail};
    tp_status st = append_range(s, &e, covered + 1, last, msg);
    tp_audit_tip tip;
    if (st == TP_OK)
        st = tp_audit_tip_get(s, &tip, msg);
    if (st != TP_OK) {
        tp_store_rollback(s);
        return st;
    }
    if (seq)
        *seq = tip.seq;
    st = tp_store_commit(s, msg);
    if (st == TP_OK)
        tp_msg_set(msg, "Audit record %llu seals ledger entries %lld to %lld (%lld needed a "
                   "record: %s).", (unsigned long long)tip.seq, (long long)covered + 1,
                   (long long)last, (long long)needing, kinds);
    return st;
}

/* ---- reading ------------------------------------------------------------ */

void tp_audit_vsay(tp_audit_problem_fn problem, void *user, uint64_t id, const char *fmt,
                      va_list ap)
{
    if (!problem)
        return;
    char text[TP_MESSAGE_MAX];
    vsnprintf(text, sizeof text, fmt, ap);
    problem(user, id, text);
}

void tp_audit_say(tp_audit_problem_fn problem, void *user, uint64_t id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tp_audit_vsay(problem, user, id, fmt, ap);
    va_end(ap);
}

/* Text column i as bytes: pointer (never NULL) and length. */
static const char *column(sqlite3_stmt *q, int i, size_t *len)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    *len = t ? (size_t)sqlite3_column_bytes(q, i) : 0;
    return t ? (const char *)t : "";
}

void tp_audit_walk_init(tp_audit_walk *w)
{
    memset(w, 0, sizeof *w);
    memcpy(w->expected, first_prev, sizeof w->expected);
}

int64_t tp_audit_verify_range(tp_store *s, tp_audit_walk *w, uint64_t after, uint64_t upto,
                              tp_audit_problem_fn problem, void *user)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(tp_store_db(s),
                           "SELECT id, time_ms, action, actor, approver, member, location,"
                           " receipt, points, reason, detail, prev_hash, hash, ledger_first,"
                           " ledger_last, ledger_count, ledger_sum, ledger_digest"
                           " FROM audit WHERE id > ?1 AND id <= ?2 ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK) {
        sqlite3_finalize(q);
        return -1;
    }
    sqlite3_bind_int64(q, 1, after > INT64_MAX ? INT64_MAX : (sqlite3_int64)after);
    sqlite3_bind_int64(q, 2, upto > INT64_MAX ? INT64_MAX : (sqlite3_int64)upto);
    /* w->expected: the previous record's stored hash, what this record
     * must point to. */
    int64_t problems = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        record r;
        memset(&r, 0, sizeof r);
        r.id = (uint64_t)sqlite3_column_int64(q, 0);
        r.time_ms = sqlite3_column_int64(q, 1);
        r.points = sqlite3_column_int64(q, 8);
        static const int cols[N_TEXTS] = {2, 3, 4, 5, 6, 7, 9, 10};
        for (int i = 0; i < N_TEXTS; i++)
            r.text[i] = column(q, cols[i], &r.len[i]);
        size_t prev_len, hash_len;
        const char *prev = column(q, 11, &prev_len);
        const char *stored = column(q, 12, &hash_len);
        /* Any ledger column set makes it a record with a ledger part:
         * clearing some of them must not turn it back into a plain one. */
        for (int c = 13; c <= 17; c++)
            r.has_ledger |= sqlite3_column_type(q, c) != SQLITE_NULL;
        if (r.has_ledger) {
            r.first = sqlite3_column_int64(q, 13);
            r.last = sqlite3_column_int64(q, 14);
            r.count = (uint64_t)sqlite3_column_int64(q, 15);
            r.sum = sqlite3_column_int64(q, 16);
            r.digest = column(q, 17, &r.digest_len);
        }

        char computed[HASH_HEX + 1];
        hash_record(prev, prev_len, &r, computed);
        int bad = 0;
        if (hash_len != HASH_HEX || memcmp(stored, computed, HASH_HEX) != 0) {
            bad = 1;
            tp_audit_say(problem, user, r.id,
                   "Audit record %llu was changed after it was written (its hash does not "
                   "match its contents).",
                   (unsigned long long)r.id);
        }
        if (prev_len != HASH_HEX || memcmp(prev, w->expected, HASH_HEX) != 0) {
            bad++;
            if (w->prev_id == 0)
                tp_audit_say(problem, user, r.id,
                       "Audit record %llu is the first one but does not start the chain: "
                       "the records before it were removed, or it was inserted.",
                       (unsigned long long)r.id);
            else if (r.id != w->prev_id + 1)
                tp_audit_say(problem, user, r.id,
                       "Audit record %llu does not follow record %llu: the records between "
                       "them were removed, or it was inserted.",
                       (unsigned long long)r.id, (unsigned long long)w->prev_id);
            else
                tp_audit_say(problem, user, r.id,
                       "Audit record %llu does not follow record %llu: one of them was "
                       "replaced, or it was inserted.",
                       (unsigned long long)r.id, (unsigned long long)w->prev_id);
        }
        problems += bad;
        /* The stored hash, so that one altered record is one problem. */
        if (hash_len == HASH_HEX)
            memcpy(w->expected, stored, HASH_HEX);
        else
            memset(w->expected, '?', HASH_HEX);
        w->expected[HASH_HEX] = '\0';
        w->prev_id = r.id;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return -1;
    w->problems += problems;
    return problems;
}

int64_t tp_audit_verify(tp_store *s, tp_audit_problem_fn problem, void *user)
{
    tp_audit_walk w;
    tp_audit_walk_init(&w);
    return tp_audit_verify_range(s, &w, 0, UINT64_MAX, problem, user);
}

tp_status tp_audit_tip_get(tp_store *s, tp_audit_tip *out, tp_message *msg)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(tp_store_db(s),
                                "SELECT id, hash, time_ms, action FROM audit"
                                " ORDER BY id DESC LIMIT 1",
                                -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->seq = (uint64_t)sqlite3_column_int64(q, 0);
        const unsigned char *h = sqlite3_column_text(q, 1);
        tp_copy(out->hash, sizeof out->hash, h ? (const char *)h : "");
        out->time_ms = sqlite3_column_int64(q, 2);
        const unsigned char *a = sqlite3_column_text(q, 3);
        tp_copy(out->action, sizeof out->action, a ? (const char *)a : "");
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot read the audit log: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

int tp_audit_hash_of(tp_store *s, uint64_t seq, char hash[TP_AUDIT_HASH_HEX + 1])
{
    hash[0] = '\0';
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(tp_store_db(s), "SELECT hash FROM audit WHERE id = ?1", -1, &q,
                                NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            const unsigned char *h = sqlite3_column_text(q, 0);
            if (tp_copy(hash, TP_AUDIT_HASH_HEX + 1, h ? (const char *)h : "") != 0)
                hash[0] = '\0';
        }
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int tp_audit_find_hash(tp_store *s, const char *prefix, uint64_t *seq,
                       char hash[TP_AUDIT_HASH_HEX + 1])
{
    *seq = 0;
    hash[0] = '\0';
    /* A range on the unique index: [prefix, prefix + 'g'), since hex
     * digits sort below 'g'. */
    char hi[TP_AUDIT_HASH_HEX + 2];
    tp_buf_set(hi, sizeof hi, "%sg", prefix);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(tp_store_db(s),
                                "SELECT id, hash FROM audit WHERE hash >= ?1 AND hash < ?2"
                                " LIMIT 2",
                                -1, &q, NULL);
    int found = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, prefix, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, hi, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            if (found++ == 0) {
                *seq = (uint64_t)sqlite3_column_int64(q, 0);
                const unsigned char *h = sqlite3_column_text(q, 1);
                tp_copy(hash, TP_AUDIT_HASH_HEX + 1, h ? (const char *)h : "");
            }
        }
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return -1;
    return found > 1 ? 2 : found;
}
