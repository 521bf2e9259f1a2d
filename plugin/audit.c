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
 * where str(x) is a 4-byte big-endian byte length followed by the bytes,
 * and u64/i64 are 8-byte big-endian (two's complement). Every string is
 * length-prefixed, so no two different records encode alike ("ab"+"c" and
 * "a"+"bc" differ), and the row id is covered, so records cannot be
 * renumbered. prev_hash is the previous record's hash, as its 64 hex
 * characters; the first record's is 64 '0's.
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
 * after them points back); anchoring the head hash elsewhere would.
 */
#include "audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "util.h"

#define HASH_BYTES ((size_t)32)
#define HASH_HEX ((size_t)64) /* 2 * HASH_BYTES */
#define ACTION_MAX 32
#define TEXT_MAX 1024
#define N_TEXTS 8

static const char chain_tag[] = "tillpoints.audit.v1";
static const char first_prev[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static const char last_sql[] = "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1";
static const char insert_sql[] =
    "INSERT INTO audit(id, time_ms, action, actor, approver, member, location, receipt,"
    " points, reason, detail, prev_hash, hash)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/* One record as it is hashed. texts: action, actor, approver, member,
 * location, receipt, reason, detail — byte strings with lengths. */
typedef struct record {
    uint64_t id;
    int64_t time_ms;
    int64_t points;
    const char *text[N_TEXTS];
    size_t len[N_TEXTS];
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
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(out, HASH_HEX + 1, h, sizeof h);
}

tp_status tp_audit_append(tp_store *s, const tp_audit_entry *e, tp_message *msg)
{
    static const char *const names[N_TEXTS] = {"action", "actor", "approver", "member",
                                               "location", "receipt", "reason", "detail"};
    if (!e) {
        tp_msg_set(msg, "No audit record to write.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    sqlite3 *db = tp_store_db(s);
    if (sqlite3_get_autocommit(db)) {
        tp_msg_set(msg, "The audit log is written only inside the transaction of the change "
                   "it records.");
        return TP_ERR_STATE;
    }
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

    char prev[HASH_HEX + 1];
    sqlite3_stmt *q = tp_store_cached(s, last_sql);
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

    q = tp_store_cached(s, insert_sql);
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

static void report(tp_audit_problem_fn problem, void *user, uint64_t id, const char *fmt, ...)
    TP_PRINTF(4, 5);

static void report(tp_audit_problem_fn problem, void *user, uint64_t id, const char *fmt, ...)
{
    if (!problem)
        return;
    char text[TP_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    problem(user, id, text);
}

/* Text column i as bytes: pointer (never NULL) and length. */
static const char *column(sqlite3_stmt *q, int i, size_t *len)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    *len = t ? (size_t)sqlite3_column_bytes(q, i) : 0;
    return t ? (const char *)t : "";
}

int64_t tp_audit_verify(tp_store *s, tp_audit_problem_fn problem, void *user)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(tp_store_db(s),
                           "SELECT id, time_ms, action, actor, approver, member, location,"
                           " receipt, points, reason, detail, prev_hash, hash"
                           " FROM audit ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK) {
        sqlite3_finalize(q);
        return -1;
    }
    /* The previous record's stored hash: what this record must point to. */
    char expected[HASH_HEX + 1];
    memcpy(expected, first_prev, sizeof expected);
    uint64_t prev_id = 0;
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

        char computed[HASH_HEX + 1];
        hash_record(prev, prev_len, &r, computed);
        int bad = 0;
        if (hash_len != HASH_HEX || memcmp(stored, computed, HASH_HEX) != 0) {
            bad = 1;
            report(problem, user, r.id,
                   "Audit record %llu was changed after it was written (its hash does not "
                   "match its contents).",
                   (unsigned long long)r.id);
        }
        if (prev_len != HASH_HEX || memcmp(prev, expected, HASH_HEX) != 0) {
            bad++;
            if (prev_id == 0)
                report(problem, user, r.id,
                       "Audit record %llu is the first one but does not start the chain: "
                       "the records before it were removed, or it was inserted.",
                       (unsigned long long)r.id);
            else if (r.id != prev_id + 1)
                report(problem, user, r.id,
                       "Audit record %llu does not follow record %llu: the records between "
                       "them were removed, or it was inserted.",
                       (unsigned long long)r.id, (unsigned long long)prev_id);
            else
                report(problem, user, r.id,
                       "Audit record %llu does not follow record %llu: one of them was "
                       "replaced, or it was inserted.",
                       (unsigned long long)r.id, (unsigned long long)prev_id);
        }
        problems += bad;
        /* The stored hash, so that one altered record is one problem. */
        if (hash_len == HASH_HEX)
            memcpy(expected, stored, HASH_HEX);
        else
            memset(expected, '?', HASH_HEX);
        expected[HASH_HEX] = '\0';
        prev_id = r.id;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return -1;
    return problems;
}
