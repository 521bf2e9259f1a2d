/*
 * audit_forge.h — what someone holding the database file and the published
 * encoding (plugin/audit.c, plugin/audit.h) can do, written here
 * independently of audit.c: rewrite history and recompute every hash, with
 * the append-only triggers dropped and then put back exactly as they were.
 * The tests use it to show which checks such a forgery gets past (the
 * chain, the ledger digests, the trigger texts) and which catch it (the
 * heads kept outside the terminal).
 */
#ifndef TP_AUDIT_FORGE_H
#define TP_AUDIT_FORGE_H

#include <sodium.h>
#include <sqlite3.h>

#include "testutil.h"

static inline void forge_str(crypto_generichash_state *st, const char *s, size_t n)
{
    unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    crypto_generichash_update(st, len, 4);
    crypto_generichash_update(st, (const unsigned char *)s, n);
}

static inline void forge_col_str(crypto_generichash_state *st, sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    forge_str(st, t ? (const char *)t : "", t ? (size_t)sqlite3_column_bytes(q, i) : 0);
}

static inline void forge_i64(crypto_generichash_state *st, int64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    crypto_generichash_update(st, b, 8);
}

static inline void forge_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("forge: %s: %s", sql, err ? err : "?");
}

/* The digest of ledger entries first..last (audit.h's encoding). */
static inline void forge_digest(sqlite3 *db, int64_t first, int64_t last, int64_t *count,
                                int64_t *sum, char out[TP_AUDIT_HASH_MAX + 1])
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id, member_id, location, terminal, receipt,"
                                        " kind, points, COALESCE(reverses, 0), staff, reason,"
                                        " comment, time_ms, recorded_ms FROM ledger"
                                        " WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(q, 1, first);
    sqlite3_bind_int64(q, 2, last);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    forge_str(&st, "tillpoints.ledger.v1", 20);
    *count = *sum = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        forge_i64(&st, sqlite3_column_int64(q, 0));
        forge_i64(&st, sqlite3_column_int64(q, 1));
        for (int i = 2; i <= 5; i++)
            forge_col_str(&st, q, i);
        forge_i64(&st, sqlite3_column_int64(q, 6));
        forge_i64(&st, sqlite3_column_int64(q, 7));
        for (int i = 8; i <= 10; i++)
            forge_col_str(&st, q, i);
        forge_i64(&st, sqlite3_column_int64(q, 11));
        forge_i64(&st, sqlite3_column_int64(q, 12));
        (*count)++;
        *sum += sqlite3_column_int64(q, 6);
    }
    sqlite3_finalize(q);
    unsigned char h[32];
    crypto_generichash_final(&st, h, 32);
    sodium_bin2hex(out, 65, h, 32);
}

/* Brings the ledger part of every record from `from` on in line with the
 * ledger, then recomputes every hash from `from` on. The caller has
 * dropped audit_no_update. */
static inline void forge_rehash_from(sqlite3 *db, int64_t from)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id, time_ms, action, actor, approver, member,"
                                        " location, receipt, points, reason, detail,"
                                        " ledger_first, ledger_last FROM audit WHERE id >= ?1"
                                        " ORDER BY id",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(q, 1, from);
    char prev[TP_AUDIT_HASH_MAX + 1] = "0000000000000000000000000000000000000000000000000000000000000000";
    if (from > 1) {
        sqlite3_stmt *p;
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash FROM audit WHERE id = ?1", -1, &p,
                                            NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(p, 1, from - 1);
        assert_int_equal(sqlite3_step(p), SQLITE_ROW);
        snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(p, 0));
        sqlite3_finalize(p);
    }
    while (sqlite3_step(q) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, 32);
        forge_str(&st, "tillpoints.audit.v1", 19);
        forge_str(&st, prev, 64);
        forge_i64(&st, id);
        forge_i64(&st, sqlite3_column_int64(q, 1));
        for (int i = 2; i <= 7; i++)
            forge_col_str(&st, q, i);
        forge_i64(&st, sqlite3_column_int64(q, 8));
        forge_col_str(&st, q, 9);
        forge_col_str(&st, q, 10);
        char update[600];
        if (sqlite3_column_type(q, 11) != SQLITE_NULL) {
            int64_t first = sqlite3_column_int64(q, 11), last = sqlite3_column_int64(q, 12);
            int64_t count, sum;
            char digest[TP_AUDIT_HASH_MAX + 1];
            forge_digest(db, first, last, &count, &sum, digest);
            forge_str(&st, "ledger", 6);
            forge_i64(&st, first);
            forge_i64(&st, last);
            forge_i64(&st, count);
            forge_i64(&st, sum);
            forge_str(&st, digest, 64);
            snprintf(update, sizeof update,
                     "UPDATE audit SET ledger_count = %lld, ledger_sum = %lld,"
                     " ledger_digest = '%s' WHERE id = %lld",
                     (long long)count, (long long)sum, digest, (long long)id);
            forge_exec(db, update);
        }
        unsigned char h[32];
        char hash[TP_AUDIT_HASH_MAX + 1];
        crypto_generichash_final(&st, h, 32);
        sodium_bin2hex(hash, sizeof hash, h, 32);
        snprintf(update, sizeof update,
                 "UPDATE audit SET prev_hash = '%s', hash = '%s' WHERE id = %lld", prev, hash,
                 (long long)id);
        forge_exec(db, update);
        memcpy(prev, hash, sizeof prev);
    }
    sqlite3_finalize(q);
}

/* Runs `sql` on the file at `path` with the named triggers dropped (a
 * comma-separated list), then puts each back from its own saved text, so
 * sqlite_master shows exactly what tillpoints created. */
static inline void forge_without_triggers(const char *path, const char *triggers,
                                          const char *sql, int64_t rehash_from)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char names[256], saved[8][2048];
    int n = 0;
    snprintf(names, sizeof names, "%s", triggers);
    for (char *save = NULL, *t = strtok_r(names, ",", &save); t && n < 8;
         t = strtok_r(NULL, ",", &save)) {
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE"
                                                " type = 'trigger' AND name = ?1",
                                            -1, &q, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(q, 1, t, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        snprintf(saved[n], sizeof saved[n], "%s", (const char *)sqlite3_column_text(q, 0));
        sqlite3_finalize(q);
        char drop[128];
        snprintf(drop, sizeof drop, "DROP TRIGGER %s", t);
        forge_exec(db, drop);
        n++;
    }
    forge_exec(db, sql);
    if (rehash_from > 0)
        forge_rehash_from(db, rehash_from);
    for (int i = 0; i < n; i++)
        forge_exec(db, saved[i]);
    sqlite3_close(db);
}

#endif
