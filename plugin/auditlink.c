/*
 * auditlink.c — the ledger checked against the audit records that cover
 * it (see auditlink.h; the ranges and the digest are defined in audit.c).
 *
 * Why one pass: a store's ledger has millions of entries and an import's
 * record covers up to all of them, so the ranges are walked side by side
 * with the ledger in id order (both come sorted from an index), adding
 * each entry to the digest of the range it lies in. Memory stays constant
 * and the cost is one scan of the ledger.
 *
 * What it catches (each with a sentence naming records and entry ids):
 *  - an entry changed, added or removed inside a record's range, also with
 *    the append-only triggers dropped: the count, the sum or the digest no
 *    longer matches what the record recorded inside its hash;
 *  - an entry a person made that no record covers: written with raw SQL
 *    around tillpoints, or left behind when the newest audit records were
 *    deleted;
 *  - two records claiming the same entries.
 * What it cannot catch alone: a record rewritten to match an edited entry
 * with every later hash recomputed. The anchors do (anchor.c).
 */
#include "auditlink.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util.h"

typedef struct range {
    uint64_t audit_id;
    char action[TP_AUDIT_NAME_MAX + 1], actor[TP_STAFF_ID_MAX + 1];
    int64_t first, last, sum, seen_sum;
    uint64_t count, seen;
    char digest[TP_AUDIT_HASH_HEX + 1];
    crypto_generichash_state st;
} range;

/* A run of uncovered entries, reported as one sentence. */
typedef struct island {
    int64_t from, to;
    uint64_t n;
    unsigned kinds; /* bits of kind_names */
} island;

static const char *const kind_names[] = {"adjust", "bulk",    "import",  "retro",
                                         "expire", "reversal", "unredeem"};
#define N_KINDS (sizeof kind_names / sizeof kind_names[0])

typedef struct walk {
    tp_audit_problem_fn problem;
    void *user;
    int64_t problems;
} walk;

static void say(walk *w, uint64_t id, const char *fmt, ...) TP_PRINTF(3, 4);
static void say(walk *w, uint64_t id, const char *fmt, ...)
{
    w->problems++;
    va_list ap;
    va_start(ap, fmt);
    tp_audit_vsay(w->problem, w->user, id, fmt, ap);
    va_end(ap);
}

static const char *text_col(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t ? (const char *)t : "";
}

/* Loads the next range; 1 loaded, 0 none left, -1 error. */
static int next_range(sqlite3_stmt *q, range *r)
{
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : -1;
    memset(r, 0, sizeof *r);
    r->audit_id = (uint64_t)sqlite3_column_int64(q, 0);
    tp_copy(r->action, sizeof r->action, text_col(q, 1));
    tp_copy(r->actor, sizeof r->actor, text_col(q, 2));
    r->first = sqlite3_column_int64(q, 3);
    r->last = sqlite3_column_int64(q, 4);
    r->count = (uint64_t)sqlite3_column_int64(q, 5);
    r->sum = sqlite3_column_int64(q, 6);
    tp_copy(r->digest, sizeof r->digest, text_col(q, 7));
    tp_audit_digest_init(&r->st);
    return 1;
}

static const char *entries(uint64_t n)
{
    return n == 1 ? "entry" : "entries";
}

/* Compares what a range recorded with what the ledger holds. */
static void finish(walk *w, range *r)
{
    char now[TP_AUDIT_HASH_HEX + 1];
    tp_audit_digest_final(&r->st, now);
    if (r->seen != r->count || r->seen_sum != r->sum)
        say(w, r->audit_id,
            "Audit record %llu (%s by %s) covers ledger entries %lld to %lld: it recorded %llu "
            "%s of %lld points, the ledger now holds %llu %s of %lld points there.",
            (unsigned long long)r->audit_id, r->action, r->actor[0] ? r->actor : "tillpoints",
            (long long)r->first, (long long)r->last, (unsigned long long)r->count,
            entries(r->count), (long long)r->sum, (unsigned long long)r->seen,
            entries(r->seen), (long long)r->seen_sum);
    else if (strcmp(now, r->digest) != 0)
        say(w, r->audit_id,
            "Audit record %llu (%s by %s) covers ledger entries %lld to %lld: they were "
            "changed after it was written (same count and points, different contents).",
            (unsigned long long)r->audit_id, r->action, r->actor[0] ? r->actor : "tillpoints",
            (long long)r->first, (long long)r->last);
}

static void flush_island(walk *w, island *is)
{
    if (is->n == 0)
        return;
    char kinds[80] = "";
    size_t n = 0;
    for (size_t k = 0; k < N_KINDS; k++)
        if (is->kinds & (1u << k))
            n += (size_t)snprintf(kinds + n, sizeof kinds - n, "%s%s", n ? ", " : "",
                                  kind_names[k]);
    if (is->n == 1)
        say(w, 0,
            "Ledger entry %lld (%s) is in no audit record: it was written around tillpoints, "
            "or the audit record that covered it was removed.",
            (long long)is->from, kinds);
    else
        say(w, 0,
            "%llu ledger entries from %lld to %lld (%s) are in no audit record: they were "
            "written around tillpoints, or the audit records that covered them were removed.",
            (unsigned long long)is->n, (long long)is->from, (long long)is->to, kinds);
    memset(is, 0, sizeof *is);
}

static unsigned kind_bit(const char *kind)
{
    for (size_t k = 0; k < N_KINDS; k++)
        if (strcmp(kind, kind_names[k]) == 0)
            return 1u << k;
    return 0;
}

/* The walk between pieces: the range being digested (its hash state
 * included), the entries claimed so far and the run of uncovered entries
 * carry over, so consecutive pieces report what one pass would. */
struct tp_auditlink_walk {
    walk w;
    island is;
    range cur;
    int have;            /* 1: cur is loaded; 0: no range loaded */
    int64_t claimed;     /* the last entry id some earlier range claimed */
    int64_t key_first;   /* the last range loaded, by (ledger_first, id): */
    uint64_t key_id;     /* the next one comes after it */
    uint64_t audit_upto; /* records above this id are not looked at */
    int failed;
};

tp_auditlink_walk *tp_auditlink_begin(uint64_t audit_upto, tp_audit_problem_fn problem,
                                      void *user)
{
    tp_auditlink_walk *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->w.problem = problem;
    a->w.user = user;
    a->key_first = INT64_MIN;
    a->audit_upto = audit_upto > INT64_MAX ? INT64_MAX : audit_upto;
    return a;
}

void tp_auditlink_free(tp_auditlink_walk *a)
{
    free(a);
}

/* The ranges after the last one loaded that start at or below `first_max`. */
static sqlite3_stmt *ranges_after(sqlite3 *db, const tp_auditlink_walk *a, int64_t first_max)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, action, actor, ledger_first, ledger_last,"
                           " COALESCE(ledger_count, -1), COALESCE(ledger_sum, 0),"
                           " COALESCE(ledger_digest, '') FROM audit"
                           " WHERE ledger_first IS NOT NULL AND ledger_first <= ?3"
                           " AND (ledger_first, id) > (?1, ?2) AND id <= ?4"
                           " ORDER BY ledger_first, id",
                           -1, &q, NULL) != SQLITE_OK) {
        sqlite3_finalize(q);
        return NULL;
    }
    sqlite3_bind_int64(q, 1, a->key_first);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)a->key_id);
    sqlite3_bind_int64(q, 3, first_max);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)a->audit_upto);
    return q;
}

/* next_range, remembering where the walk is among the ranges. */
static int load_range(tp_auditlink_walk *a, sqlite3_stmt *q)
{
    int got = next_range(q, &a->cur);
    if (got == 1) {
        a->key_first = a->cur.first;
        a->key_id = a->cur.audit_id;
    }
    return got;
}

int64_t tp_auditlink_step(tp_store *s, tp_auditlink_walk *a, int64_t after, int64_t upto)
{
    if (a->failed)
        return -1;
    sqlite3 *db = tp_store_db(s);
    int64_t before = a->w.problems;
    sqlite3_stmt *rq = ranges_after(db, a, upto), *lq = NULL;
    int rc = rq ? sqlite3_prepare_v2(db,
                                     "SELECT " TP_AUDIT_LEDGER_COLUMNS ", "
                                     TP_AUDIT_NEEDS_RECORD("l")
                                     " FROM ledger l WHERE id > ?1 AND id <= ?2 ORDER BY id",
                                     -1, &lq, NULL)
                : SQLITE_ERROR;
    if (rc != SQLITE_OK) {
        sqlite3_finalize(rq);
        sqlite3_finalize(lq);
        a->failed = 1;
        return -1;
    }
    sqlite3_bind_int64(lq, 1, after);
    sqlite3_bind_int64(lq, 2, upto);
    /* A range carried over from the last piece stays; otherwise the next
     * one starting in this piece (or before) is loaded. */
    if (a->have != 1)
        a->have = load_range(a, rq);
    int failed = a->have < 0;
    while (!failed && (rc = sqlite3_step(lq)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(lq, 0);
        /* Ranges wholly below this entry are complete. */
        while (a->have == 1 && a->cur.last < id) {
            finish(&a->w, &a->cur);
            if (a->cur.last > a->claimed)
                a->claimed = a->cur.last;
            a->have = load_range(a, rq);
            if (a->have == 1 && a->cur.first <= a->claimed)
                say(&a->w, a->cur.audit_id,
                    "Audit record %llu (%s) claims ledger entries from %lld, which an earlier "
                    "record already covers (up to %lld): one of them was forged.",
                    (unsigned long long)a->cur.audit_id, a->cur.action,
                    (long long)a->cur.first, (long long)a->claimed);
        }
        if (a->have < 0) {
            failed = 1;
            break;
        }
        if (a->have == 1 && a->cur.first <= id) {
            flush_island(&a->w, &a->is);
            tp_audit_digest_row(&a->cur.st, lq, 0);
            a->cur.seen++;
            a->cur.seen_sum += sqlite3_column_int64(lq, 6);
            continue;
        }
        if (sqlite3_column_int(lq, TP_AUDIT_LEDGER_NCOLS)) {
            if (a->is.n == 0)
                a->is.from = id;
            a->is.to = id;
            a->is.n++;
            a->is.kinds |= kind_bit(text_col(lq, 5));
        }
    }
    if (!failed && rc != SQLITE_DONE)
        failed = 1;
    sqlite3_finalize(rq);
    sqlite3_finalize(lq);
    a->failed = failed;
    return failed ? -1 : a->w.problems - before;
}

int64_t tp_auditlink_end(tp_store *s, tp_auditlink_walk *a)
{
    if (a->failed)
        return -1;
    int64_t before = a->w.problems;
    flush_island(&a->w, &a->is);
    /* Ranges past the ledger's end: their entries are gone. */
    sqlite3_stmt *rq = ranges_after(tp_store_db(s), a, INT64_MAX);
    if (!rq) {
        a->failed = 1;
        return -1;
    }
    if (a->have != 1)
        a->have = load_range(a, rq);
    while (a->have == 1) {
        finish(&a->w, &a->cur);
        a->have = load_range(a, rq);
    }
    sqlite3_finalize(rq);
    if (a->have < 0) {
        a->failed = 1;
        return -1;
    }
    return a->w.problems - before;
}

int64_t tp_auditlink_verify(tp_store *s, tp_audit_problem_fn problem, void *user)
{
    tp_auditlink_walk *a = tp_auditlink_begin(UINT64_MAX, problem, user);
    if (!a)
        return -1;
    int64_t n = tp_auditlink_step(s, a, INT64_MIN, INT64_MAX);
    int64_t m = n < 0 ? -1 : tp_auditlink_end(s, a);
    int64_t total = a->w.problems;
    tp_auditlink_free(a);
    return n < 0 || m < 0 ? -1 : total;
}
