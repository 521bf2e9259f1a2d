/*
 * verify.c — `tillpoints verify`: checks every invariant the schema and the
 * code are meant to keep, reading the database the way an auditor would.
 *
 * The schema's triggers and constraints prevent violations in normal
 * operation; verify exists for the abnormal case (a restored backup, a
 * hand-edited file, a dropped trigger, a bug). Each check is one query that
 * lists violating rows; every row found is reported as a sentence.
 *
 * The triggers are compared by their SQL text with the ones this build
 * creates (every migration run on an empty in-memory database), not only by
 * name: a trigger whose body was replaced — `SELECT 1` instead of RAISE —
 * keeps its name and stops enforcing anything. A trigger tillpoints does
 * not create is reported too (a BEFORE INSERT trigger could silently drop
 * a refund's reversal). The audit log is checked as a chain (audit.c),
 * against the ledger entries it covers (auditlink.c), and against the
 * heads kept outside the terminal (anchor.c).
 *
 * How it reads beside the tills. verify opens a connection of its own (the
 * admin connection and its lock stay free for the forms and the other
 * admin calls) and, apart from the few checks that cannot be cut up, reads
 * in steps: each step is one short read transaction over a range of row
 * ids of one table (`[limits] verify_step_rows`, 20,000 by default), and
 * between steps no read transaction is open, so the tills' writes are
 * checkpointed into the database file as usual instead of piling up in
 * the WAL behind one long snapshot.
 *
 * What one run covers, and why separate snapshots are still sound. The
 * first step notes the last row id of every table it walks (ledger,
 * receipts, members, audit, and each table with references) in one
 * snapshot S0, and the run checks exactly the rows up to those ids: a row
 * appended later is not looked at (the next run sees it). The ledger, the
 * journal and the audit log are append-only, so every row up to the noted
 * ids is, in every later snapshot, exactly what it was in S0; a check of
 * one row (its kind, its reversal, its receipt, its audit record's chain
 * link) gives the same answer in whichever step reads it. A check over a
 * group of rows is done inside one statement, so the group is read in one
 * snapshot: a member's balance is the sum of their ledger entries up to
 * the noted ledger id (ids are given in commit order, one writer at a
 * time, so that sum is their balance as it stood in S0); a receipt's
 * refunds, an entry's reversals and the entries sharing a key are each
 * summed or counted in one statement, restricted to the noted ids where
 * a later row could change the answer. The walks that carry state from
 * step to step (the audit chain's link to the record before, the digest
 * of the audit record whose ledger range spans a step boundary) keep it
 * in memory between steps, and only read rows up to the noted ids. So a
 * run reports what one read of S0 would have reported: nothing more for
 * rows written meanwhile, nothing less for the rows it covers.
 *
 * Two checks read their table in one statement and so in one snapshot:
 * the file's integrity check (SQLite's b-tree walk cannot be split by
 * rows without skipping the free-page accounting) and the reference check
 * of a table without row ids (member cards). They are the longest steps.
 */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "anchor.h"
#include "audit.h"
#include "auditlink.h"
#include "schema.h"
#include "util.h"

/* A check over a range of row ids: :after < id <= :upto of the table walked;
 * :ledger, :receipts and :refunds are the last ids of those tables in S0.
 * Lists violations, one text column each. */
typedef struct ranged {
    const char *what; /* what must hold, for the report */
    const char *sql;
} ranged;

/* Walked over ledger ids. The "at most once" checks report a key at its
 * first entry, counting its entries up to the run's last id (the
 * ledger's UNIQUE(location, receipt, kind) index finds them). */
static const ranged ledger_checks[] = {
    {"entries have a valid kind and non-zero points in range",
     "SELECT 'ledger entry ' || id || ' has kind ' || quote(kind) || ' and points ' || points"
     " FROM ledger WHERE id > :after AND id <= :upto AND (kind NOT IN ('earn','retro','adjust','bulk',"
     "'import','reversal','expire','redeem','unredeem') OR points = 0"
     " OR points NOT BETWEEN -" TP_SQL_INT(TP_ENTRY_POINTS_MAX) " AND " TP_SQL_INT(TP_ENTRY_POINTS_MAX)
     " OR (kind IN ('reversal', 'unredeem')) <> (reverses IS NOT NULL)"
     " OR (kind = 'redeem' AND points > 0))"},
    {"points given back come from a redemption of the same member",
     "SELECT 'entry ' || r.id || ' gives back points of no redemption of its member'"
     " FROM ledger r LEFT JOIN ledger o ON o.id = r.reverses AND o.id <= :ledger"
     " WHERE r.id > :after AND r.id <= :upto AND r.kind = 'unredeem'"
     " AND (o.id IS NULL OR o.member_id <> r.member_id OR o.kind <> 'redeem' OR r.points <= 0)"},
    {"no redemption gives back more than it spent",
     "SELECT 'redemption ' || o.id || ' spent ' || -o.points || ' but ' || SUM(r.points)"
     " || ' came back' FROM ledger o JOIN ledger r ON r.reverses = o.id AND r.id <= :ledger"
     " AND r.kind = 'unredeem' WHERE o.id > :after AND o.id <= :upto AND o.kind = 'redeem'"
     " GROUP BY o.id HAVING o.points + SUM(r.points) > 0"},
    {"a reversal undoes part of a positive entry of the same member",
     "SELECT 'reversal ' || r.id || ' does not undo a positive entry of its member'"
     " FROM ledger r LEFT JOIN ledger o ON o.id = r.reverses AND o.id <= :ledger"
     " WHERE r.id > :after AND r.id <= :upto AND r.kind = 'reversal'"
     " AND (o.id IS NULL OR o.member_id <> r.member_id OR o.points <= 0 OR r.points >= 0"
     " OR o.kind = 'reversal')"},
    {"no entry is reversed beyond what it earned",
     "SELECT 'entry ' || o.id || ' earned ' || o.points || ' but ' || -SUM(r.points)"
     " || ' were reversed' FROM ledger o JOIN ledger r ON r.reverses = o.id AND r.id <= :ledger"
     " AND r.kind = 'reversal' WHERE o.id > :after AND o.id <= :upto GROUP BY o.id HAVING o.points + SUM(r.points) < 0"},
    {"a receipt earns at most once, live or retro",
     "SELECT 'receipt ' || l.location || '/' || l.receipt || ' earned ' ||"
     " (SELECT count(*) FROM ledger d WHERE d.location = l.location AND d.receipt = l.receipt"
     "  AND d.kind IN ('earn', 'retro') AND d.id <= :ledger) || ' times'"
     " FROM ledger l WHERE l.id > :after AND l.id <= :upto AND l.kind IN ('earn', 'retro')"
     " AND EXISTS (SELECT 1 FROM ledger d WHERE d.location = l.location"
     "  AND d.receipt = l.receipt AND d.kind IN ('earn', 'retro') AND d.id <> l.id"
     "  AND d.id <= :ledger)"
     " AND NOT EXISTS (SELECT 1 FROM ledger e WHERE e.location = l.location"
     "  AND e.receipt = l.receipt AND e.kind IN ('earn', 'retro') AND e.id < l.id)"},
    {"every earn entry matches its journaled receipt and member",
     "SELECT 'earn entry ' || l.id || ' for receipt ' || l.receipt || ' has no matching"
     " journal row' FROM ledger l LEFT JOIN receipts r ON r.location = l.location"
     " AND r.receipt = l.receipt AND r.id <= :receipts WHERE l.id > :after AND l.id <= :upto"
     " AND l.kind = 'earn'"
     " AND (r.id IS NULL OR r.member_id IS NOT l.member_id)"},
    {"every ledger key is unique",
     "SELECT 'ledger key ' || l.location || '/' || l.receipt || '/' || l.kind || ' is used '"
     " || (SELECT count(*) FROM ledger d WHERE d.location = l.location"
     "  AND d.receipt = l.receipt AND d.kind = l.kind AND d.id <= :ledger) || ' times'"
     " FROM ledger l WHERE l.id > :after AND l.id <= :upto"
     " AND EXISTS (SELECT 1 FROM ledger d WHERE d.location = l.location"
     "  AND d.receipt = l.receipt AND d.kind = l.kind AND d.id <> l.id AND d.id <= :ledger)"
     " AND NOT EXISTS (SELECT 1 FROM ledger e WHERE e.location = l.location"
     "  AND e.receipt = l.receipt AND e.kind = l.kind AND e.id < l.id)"},
};

/* Walked over receipt ids. A receipt's refunds are summed in one
 * statement, up to the run's last refund. */
static const ranged receipt_checks[] = {
    {"refunds never exceed the eligible amount of their receipt",
     "SELECT 'receipt ' || r.receipt || ' was refunded ' || SUM(f.amount_minor) || ' of '"
     " || r.eligible_minor FROM receipts r JOIN refunds f ON f.receipt_id = r.id"
     " AND f.id <= :refunds"
     " WHERE r.id > :after AND r.id <= :upto GROUP BY r.id"
     " HAVING SUM(f.amount_minor) > r.eligible_minor"},
    {"journaled amounts are consistent",
     "SELECT 'receipt ' || receipt || ' has eligible ' || eligible_minor || ' of total '"
     " || total_minor FROM receipts WHERE id > :after AND id <= :upto AND (total_minor < 0"
     " OR eligible_minor < 0 OR eligible_minor > total_minor)"},
};

/* Walked over member ids: each balance as it stood at the run's last
 * ledger id (the ledger_member index holds member, id and points). */
static const ranged negative_check = {
    "balances are never below zero",
    "SELECT 'member ' || code || ' has a negative balance (' || balance || ')' FROM"
    " (SELECT m.code, (SELECT SUM(l.points) FROM ledger l WHERE l.member_id = m.id"
    "  AND l.id <= :ledger) AS balance FROM members m WHERE m.id > :after AND m.id <= :upto)"
    " WHERE balance < 0"};

#define MAX_REF_TABLES 64

/* A table with references, walked by row id (or read whole when it has
 * none), and the statement listing its rows that refer to a missing row. */
typedef struct ref_table {
    char name[64];
    int64_t last;  /* its last row id in S0; -1: no row ids, read whole */
    char *sql;     /* sqlite3_mprintf'd; owned */
} ref_table;

typedef struct run {
    tp_store *s;
    tp_progress_fn progress;
    tp_problem_fn problem;
    void *user;
    tp_verify_result *r;
    tp_verify_steps *steps;
    int64_t step;
    int64_t ledger_last, receipts_last, refunds_last, members_last, audit_last;
    uint64_t done, total;
    int failed; /* a check could not run */
    ref_table refs[MAX_REF_TABLES];
    int n_refs;
    int64_t started_ns;
} run;

static void say(run *u, const char *text)
{
    u->r->problems++;
    if (u->problem)
        u->problem(u->user, 0, text);
}

/* A step is one read transaction: BEGIN (deferred, so the snapshot starts
 * at its first read) ... COMMIT, then the progress report, with no read
 * transaction open while the caller's callback runs. */
static int step_begin(run *u)
{
    u->started_ns = tp_mono_ns();
    if (sqlite3_exec(tp_store_db(u->s), "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        u->failed = 1;
        return -1;
    }
    return 0;
}

static void step_end(run *u, uint64_t advance)
{
    sqlite3_exec(tp_store_db(u->s), "COMMIT", NULL, NULL, NULL);
    int64_t ms = (tp_mono_ns() - u->started_ns) / 1000000;
    if (u->steps) {
        u->steps->steps++;
        if (ms > u->steps->longest_ms)
            u->steps->longest_ms = ms;
    }
    u->done += advance;
    if (u->done > u->total)
        u->done = u->total;
    if (u->progress)
        u->progress(u->user, u->done, u->total);
}

/* Runs one listing query (its parameters bound by name);
 * every row is a problem. 0, or -1 when it could not run. */
static int list_violations(run *u, const char *what, const char *sql, int64_t after,
                           int64_t upto)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(tp_store_db(u->s), sql, -1, &q, NULL) != SQLITE_OK) {
        char text[TP_MESSAGE_MAX];
        snprintf(text, sizeof text, "Cannot check that %s: %s.", what, tp_store_errmsg(u->s));
        say(u, text);
        u->failed = 1;
        return -1;
    }
    const struct {
        const char *name;
        int64_t value;
    } last[] = {{":after", after}, {":upto", upto}, {":ledger", u->ledger_last},
                {":receipts", u->receipts_last}, {":refunds", u->refunds_last}};
    for (size_t i = 0; i < sizeof last / sizeof last[0]; i++) {
        int at = sqlite3_bind_parameter_index(q, last[i].name);
        if (at > 0)
            sqlite3_bind_int64(q, at, last[i].value);
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(q, 0);
        char text[TP_MESSAGE_MAX];
        snprintf(text, sizeof text, "Not true that %s: %s.", what, t ? (const char *)t : "?");
        say(u, text);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        char text[TP_MESSAGE_MAX];
        snprintf(text, sizeof text, "Cannot check that %s: %s.", what, tp_store_errmsg(u->s));
        say(u, text);
        u->failed = 1;
        return -1;
    }
    return 0;
}

typedef struct audit_ctx {
    tp_problem_fn problem;
    void *user;
    tp_verify_result *r;
} audit_ctx;

static void audit_problem(void *user, uint64_t id, const char *sentence)
{
    audit_ctx *a = user;
    (void)id;
    a->r->problems++;
    if (a->problem)
        a->problem(a->user, 0, sentence);
}

static int64_t count_of(tp_store *s, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(tp_store_db(s), sql, -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

/* One sentence per trigger that is missing, changed or unknown. */
static void check_triggers(tp_store *s, tp_problem_fn problem, void *user, tp_verify_result *r)
{
    static const char what[] = "the schema's triggers are in place and unchanged";
    static const char list[] =
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name";
    r->checks++;
    sqlite3 *ref = NULL;
    tp_message why;
    sqlite3_stmt *want = NULL, *have = NULL;
    int ok = tp_store_reference(&ref, &why) == TP_OK &&
             sqlite3_prepare_v2(ref, list, -1, &want, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(tp_store_db(s), list, -1, &have, NULL) == SQLITE_OK;
    char text[TP_MESSAGE_MAX];
    /* A merge of two name-sorted lists. */
    int rw = ok ? sqlite3_step(want) : SQLITE_DONE, rh = ok ? sqlite3_step(have) : SQLITE_DONE;
    while (ok && (rw == SQLITE_ROW || rh == SQLITE_ROW)) {
        const char *wn = rw == SQLITE_ROW ? (const char *)sqlite3_column_text(want, 0) : NULL;
        const char *hn = rh == SQLITE_ROW ? (const char *)sqlite3_column_text(have, 0) : NULL;
        int cmp = !wn ? 1 : !hn ? -1 : strcmp(wn, hn);
        text[0] = '\0';
        if (cmp < 0) {
            tp_buf_set(text, sizeof text, "Not true that %s: trigger %s is missing: the ledger "
                       "or journal can be rewritten.", what, wn);
        } else if (cmp > 0) {
            tp_buf_set(text, sizeof text, "Not true that %s: trigger %s is not one tillpoints "
                       "creates: it was added by hand and may change or drop what is "
                       "written.", what, hn);
        } else {
            const unsigned char *ws = sqlite3_column_text(want, 1);
            const unsigned char *hs = sqlite3_column_text(have, 1);
            if (!ws || !hs || strcmp((const char *)ws, (const char *)hs) != 0)
                tp_buf_set(text, sizeof text, "Not true that %s: trigger %s was changed: its "
                           "SQL is not the one this version creates, so what it enforces may "
                           "no longer hold.", what, wn);
        }
        if (text[0]) {
            r->problems++;
            if (problem)
                problem(user, 0, text);
        }
        if (cmp <= 0)
            rw = sqlite3_step(want);
        if (cmp >= 0)
            rh = sqlite3_step(have);
    }
    if (!ok || (rw != SQLITE_DONE) || (rh != SQLITE_DONE)) {
        tp_buf_set(text, sizeof text, "Cannot check that %s: %s", what,
                   !ref ? why.text : tp_store_errmsg(s));
        r->problems++;
        if (problem)
            problem(user, 0, text);
    }
    sqlite3_finalize(want);
    sqlite3_finalize(have);
    sqlite3_close(ref);
}

/* One reference's rows of `table` in the range that refer to a missing
 * row of `parent` (rows up to its last row id in S0), appended to *sql
 * with UNION ALL. */
static int add_reference(char **sql, const char *table, const char *parent,
                         int64_t parent_last, const char *nonnull, const char *match)
{
    char *more = sqlite3_mprintf("%s%sSELECT 'table %q row ' || c.rowid || ' refers to a"
                                 " missing %q' FROM \"%w\" c WHERE c.rowid > :after"
                                 " AND c.rowid <= :upto AND %s AND NOT EXISTS (SELECT 1"
                                 " FROM \"%w\" p WHERE %s AND p.rowid <= %lld)",
                                 *sql ? *sql : "", *sql ? " UNION ALL " : "", table, parent,
                                 table, nonnull, parent, match, (long long)parent_last);
    sqlite3_free(*sql);
    *sql = more;
    return more ? 0 : -1;
}

/* The tables with references, each with the statement that lists its
 * rows referring to a missing row and its last row id (read in S0). A
 * row's references are checked as SQLite's foreign_key_check does (a row
 * with a NULL in a reference's columns refers to nothing); a table
 * without row ids, or a reference without named parent columns, is left
 * to foreign_key_check over the whole table. */
static int find_ref_tables(run *u)
{
    sqlite3 *db = tp_store_db(u->s);
    sqlite3_stmt *t = NULL, *k = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT DISTINCT m.name, COALESCE(l.wr, 0) FROM sqlite_master m"
                                " JOIN pragma_foreign_key_list(m.name) f"
                                " LEFT JOIN pragma_table_list l ON l.name = m.name"
                                " AND l.schema = 'main' WHERE m.type = 'table' ORDER BY m.name",
                                -1, &t, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "SELECT id, \"table\", \"from\", \"to\""
                                " FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
                                -1, &k, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(t)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (u->n_refs == MAX_REF_TABLES) {
            rc = SQLITE_FULL;
            break;
        }
        ref_table *f = &u->refs[u->n_refs++];
        const unsigned char *name = sqlite3_column_text(t, 0);
        tp_copy(f->name, sizeof f->name, name ? (const char *)name : "");
        int whole = sqlite3_column_int(t, 1); /* WITHOUT ROWID */
        char *sql = NULL, *nonnull = NULL, *match = NULL;
        char parent[128] = "";
        int64_t cur = -1, parent_last = 0;
        sqlite3_reset(k);
        sqlite3_bind_text(k, 1, f->name, -1, SQLITE_TRANSIENT);
        int krc = SQLITE_DONE;
        while (!whole && (krc = sqlite3_step(k)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(k, 0);
            const char *ptab = (const char *)sqlite3_column_text(k, 1);
            const char *from = (const char *)sqlite3_column_text(k, 2);
            const char *to = (const char *)sqlite3_column_text(k, 3);
            if (!ptab || !from || !to) {
                whole = 1;
                break;
            }
            if (id != cur && cur >= 0 &&
                add_reference(&sql, f->name, parent, parent_last, nonnull, match)) {
                krc = SQLITE_NOMEM;
                break;
            }
            if (id != cur) {
                sqlite3_free(nonnull);
                sqlite3_free(match);
                nonnull = match = NULL;
                tp_copy(parent, sizeof parent, ptab);
                cur = id;
                /* A parent without row ids: foreign_key_check instead. */
                char *last_sql = sqlite3_mprintf("SELECT COALESCE(MAX(rowid), 0) FROM \"%w\"",
                                                 parent);
                parent_last = last_sql ? count_of(u->s, last_sql) : -1;
                sqlite3_free(last_sql);
                if (parent_last < 0) {
                    whole = 1;
                    break;
                }
            }
            char *n2 = sqlite3_mprintf("%s%sc.\"%w\" IS NOT NULL", nonnull ? nonnull : "",
                                       nonnull ? " AND " : "", from);
            char *m2 = sqlite3_mprintf("%s%sp.\"%w\" = c.\"%w\"", match ? match : "",
                                       match ? " AND " : "", to, from);
            sqlite3_free(nonnull);
            sqlite3_free(match);
            nonnull = n2;
            match = m2;
            if (!nonnull || !match) {
                krc = SQLITE_NOMEM;
                break;
            }
        }
        if (!whole && krc == SQLITE_DONE && cur >= 0 &&
            add_reference(&sql, f->name, parent, parent_last, nonnull, match))
            krc = SQLITE_NOMEM;
        sqlite3_free(nonnull);
        sqlite3_free(match);
        sqlite3_reset(k);
        if (!whole && krc != SQLITE_DONE) {
            sqlite3_free(sql);
            rc = krc;
            break;
        }
        if (whole || !sql) {
            sqlite3_free(sql);
            f->last = -1;
            f->sql = sqlite3_mprintf("SELECT 'table ' || \"table\" || ' row ' ||"
                                     " COALESCE(rowid, '?') || ' refers to a missing ' || parent"
                                     " FROM pragma_foreign_key_check(%Q)", f->name);
        } else {
            f->sql = sql;
            char *last_sql = sqlite3_mprintf("SELECT COALESCE(MAX(rowid), 0) FROM \"%w\"",
                                             f->name);
            f->last = last_sql ? count_of(u->s, last_sql) : -1;
            sqlite3_free(last_sql);
            if (f->last < 0) {
                rc = SQLITE_ERROR;
                break;
            }
        }
        if (!f->sql) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(t);
    sqlite3_finalize(k);
    return rc == SQLITE_DONE ? 0 : -1;
}

static const char refs_what[] = "every reference points at an existing row";

/* Walks `upto` ids of one table in steps, running `checks` on each range.
 * A check that cannot run is reported once and left out of the later
 * steps; the others go on. A step that cannot begin ends the walk. */
#define MAX_RANGED 8
static void walk(run *u, int64_t upto, const ranged *checks, size_t n)
{
    int dead[MAX_RANGED] = {0};
    for (int64_t after = 0; after < upto;) {
        int64_t to = upto - after > u->step ? after + u->step : upto;
        if (step_begin(u) != 0) {
            for (size_t i = 0; i < n && i < MAX_RANGED; i++) {
                char text[TP_MESSAGE_MAX];
                snprintf(text, sizeof text, "Cannot check that %s: %s.", checks[i].what,
                         tp_store_errmsg(u->s));
                if (!dead[i])
                    say(u, text);
            }
            return;
        }
        for (size_t i = 0; i < n && i < MAX_RANGED; i++)
            if (!dead[i] && list_violations(u, checks[i].what, checks[i].sql, after, to) != 0)
                dead[i] = 1;
        step_end(u, (uint64_t)(to - after));
        after = to;
    }
}

tp_status tp_verify_anchored(tp_store *s, const tp_config *cfg, const tp_central_head *central,
                             const struct tp_anchor *anchor, tp_audit_report *report,
                             tp_progress_fn progress, tp_problem_fn problem, void *user,
                             tp_verify_result *r, tp_verify_steps *steps, tp_message *msg)
{
    memset(r, 0, sizeof *r);
    if (steps)
        memset(steps, 0, sizeof *steps);
    tp_audit_report local_report;
    if (!report)
        report = &local_report;
    memset(report, 0, sizeof *report);
    run *u = calloc(1, sizeof *u);
    if (!u) {
        tp_msg_set(msg, "Out of memory for verify.");
        return TP_ERR_NO_MEMORY;
    }
    u->s = s;
    u->progress = progress;
    u->problem = problem;
    u->user = user;
    u->r = r;
    u->steps = steps;
    u->step = cfg->verify_step_rows > 0 ? cfg->verify_step_rows : 20000;
    audit_ctx actx = {.problem = problem, .user = user, .r = r};
    tp_status st = TP_OK;
    tp_auditlink_walk *link = NULL;

    /* S0: the schema, and where every walk ends. */
    if (step_begin(u) != 0) {
        tp_msg_set(msg, "Cannot read the database: %s.", tp_store_errmsg(s));
        st = TP_ERR_STORAGE;
        goto out;
    }
    r->checks++;
    int64_t version = count_of(s, "PRAGMA user_version");
    if (version != TP_SCHEMA_VERSION) {
        char text[TP_MESSAGE_MAX];
        snprintf(text, sizeof text, "Not true that the schema is version %d: it is %lld.",
                 TP_SCHEMA_VERSION, (long long)version);
        say(u, text);
    }
    check_triggers(s, problem, user, r);
    u->ledger_last = count_of(s, "SELECT COALESCE(MAX(id), 0) FROM ledger");
    u->receipts_last = count_of(s, "SELECT COALESCE(MAX(id), 0) FROM receipts");
    u->refunds_last = count_of(s, "SELECT COALESCE(MAX(id), 0) FROM refunds");
    u->members_last = count_of(s, "SELECT COALESCE(MAX(id), 0) FROM members");
    u->audit_last = count_of(s, "SELECT COALESCE(MAX(id), 0) FROM audit");
    int64_t entries = count_of(s, "SELECT count(*) FROM ledger");
    int64_t members = count_of(s, "SELECT count(*) FROM members");
    tp_audit_tip tip;
    tp_message why;
    if (tp_audit_tip_get(s, &tip, &why) != TP_OK)
        memset(&tip, 0, sizeof tip);
    int refs_ok = find_ref_tables(u) == 0;
    if (u->ledger_last < 0 || u->receipts_last < 0 || u->refunds_last < 0 ||
        u->members_last < 0 || u->audit_last < 0 || entries < 0 || members < 0) {
        sqlite3_exec(tp_store_db(s), "COMMIT", NULL, NULL, NULL);
        tp_msg_set(msg, "Cannot read the database: %s.", tp_store_errmsg(s));
        st = TP_ERR_STORAGE;
        goto out;
    }
    r->entries = (uint64_t)entries;
    r->members = (uint64_t)members;
    /* Progress counts row ids walked; the integrity check counts as one
     * walk of the ledger (it is about as long). */
    u->total = 2 * (uint64_t)u->ledger_last + (uint64_t)u->receipts_last +
               (uint64_t)u->audit_last;
    if (!cfg->allow_negative_balance)
        u->total += (uint64_t)u->members_last;
    for (int i = 0; i < u->n_refs; i++)
        u->total += u->refs[i].last > 0 ? (uint64_t)u->refs[i].last : 0;
    step_end(u, 0);

    /* The file: one statement, so one snapshot (see the top). */
    r->checks++;
    if (step_begin(u) == 0) {
        list_violations(u, "the database file is intact",
                        "SELECT 'integrity: ' || integrity_check FROM pragma_integrity_check"
                        " WHERE integrity_check <> 'ok'", 0, 0);
        step_end(u, (uint64_t)u->ledger_last);
    }

    /* References. */
    r->checks++;
    if (!refs_ok) {
        char text[TP_MESSAGE_MAX];
        snprintf(text, sizeof text, "Cannot check that %s: %s.", refs_what, tp_store_errmsg(s));
        say(u, text);
        u->failed = 1;
    }
    for (int i = 0; refs_ok && i < u->n_refs; i++) {
        ref_table *f = &u->refs[i];
        if (f->last < 0) {
            if (step_begin(u) == 0) {
                list_violations(u, refs_what, f->sql, 0, 0);
                step_end(u, 0);
            }
        } else {
            ranged c = {refs_what, f->sql};
            walk(u, f->last, &c, 1);
        }
    }

    /* The ledger: its checks and the audit records covering it, side by
     * side, range by range. */
    r->checks += sizeof ledger_checks / sizeof ledger_checks[0];
    r->checks++; /* the ledger against the records covering it */
    link = tp_auditlink_begin((uint64_t)u->audit_last, audit_problem, &actx);
    if (!link) {
        st = TP_ERR_NO_MEMORY;
        tp_msg_set(msg, "Out of memory for verify.");
        goto out;
    }
    int link_failed = 0, began = 1;
    int dead[sizeof ledger_checks / sizeof ledger_checks[0]] = {0};
    for (int64_t after = 0; after < u->ledger_last;) {
        int64_t to = u->ledger_last - after > u->step ? after + u->step : u->ledger_last;
        if (step_begin(u) != 0) {
            for (size_t i = 0; i < sizeof ledger_checks / sizeof ledger_checks[0]; i++) {
                char text[TP_MESSAGE_MAX];
                snprintf(text, sizeof text, "Cannot check that %s: %s.", ledger_checks[i].what,
                         tp_store_errmsg(s));
                if (!dead[i])
                    say(u, text);
            }
            began = 0;
            break;
        }
        for (size_t i = 0; i < sizeof ledger_checks / sizeof ledger_checks[0]; i++)
            if (!dead[i] && list_violations(u, ledger_checks[i].what, ledger_checks[i].sql,
                                            after, to) != 0)
                dead[i] = 1;
        if (!link_failed && tp_auditlink_step(s, link, after, to) < 0)
            link_failed = 1;
        step_end(u, (uint64_t)(to - after));
        after = to;
    }
    /* The ranges past the ledger's end, in a step of their own. */
    if (!began || (!link_failed && step_begin(u) != 0)) {
        link_failed = 1;
    } else if (!link_failed) {
        if (tp_auditlink_end(s, link) < 0)
            link_failed = 1;
        step_end(u, 0);
    }
    if (link_failed) {
        u->failed = 1;
        say(u, "The ledger cannot be compared with the audit log.");
    }

    /* The journal. */
    r->checks += sizeof receipt_checks / sizeof receipt_checks[0];
    walk(u, u->receipts_last, receipt_checks, sizeof receipt_checks / sizeof receipt_checks[0]);

    if (!cfg->allow_negative_balance) {
        r->checks++;
        walk(u, u->members_last, &negative_check, 1);
    }

    /* The audit log's hash chain: each record covers the one before. */
    r->checks++;
    tp_audit_walk chain;
    tp_audit_walk_init(&chain);
    int chain_failed = 0;
    for (int64_t after = 0; after < u->audit_last && !chain_failed;) {
        int64_t to = u->audit_last - after > u->step ? after + u->step : u->audit_last;
        if (step_begin(u) != 0) {
            chain_failed = 1;
            break;
        }
        if (tp_audit_verify_range(s, &chain, (uint64_t)after, (uint64_t)to, audit_problem,
                                  &actx) < 0)
            chain_failed = 1;
        step_end(u, (uint64_t)(to - after));
        after = to;
    }
    if (chain_failed) {
        u->failed = 1;
        say(u, "The audit log cannot be read.");
    }

    /* The heads kept outside the terminal, against the head S0 saw. */
    report->local.seq = tip.seq;
    tp_copy(report->local.hash, sizeof report->local.hash, tip.hash);
    report->local.time_ms = tip.time_ms;
    tp_copy(report->local.action, sizeof report->local.action, tip.action);
    int heads = (central && central->state == TP_AUDIT_CENTRAL_COMPARED) || anchor;
    if (heads && step_begin(u) != 0)
        goto verdict;
    if (central) {
        report->central = (tp_audit_central)central->state;
        report->central_seq = central->seq;
        tp_copy(report->central_hash, sizeof report->central_hash, central->hash);
        tp_copy(report->central_note, sizeof report->central_note, central->note);
        if (central->state == TP_AUDIT_CENTRAL_COMPARED) {
            r->checks++;
            if (tp_anchor_check_central(s, central, tip.seq, audit_problem, &actx) < 0)
                say(u, "The audit log cannot be read.");
        }
    }
    if (anchor) {
        r->checks++;
        report->anchor_checked = 1;
        if (tp_anchor_check(s, anchor, tip.seq, &report->anchor_seq, audit_problem, &actx) < 0)
            say(u, "The audit log cannot be read.");
    }
    if (heads)
        step_end(u, 0);

verdict:
    if (u->failed && r->problems == 0) {
        tp_msg_set(msg, "Some checks could not run: %s.", tp_store_errmsg(s));
        st = TP_ERR_STORAGE;
    } else if (r->problems) {
        tp_msg_set(msg, "%llu problem%s found in %llu checks.", (unsigned long long)r->problems,
                   r->problems == 1 ? "" : "s", (unsigned long long)r->checks);
        st = TP_ERR_INTERNAL;
    } else {
        tp_msg_set(msg, "%llu checks, 0 problems (%llu members, %llu ledger entries, %llu audit "
                   "records).", (unsigned long long)r->checks, (unsigned long long)r->members,
                   (unsigned long long)r->entries, (unsigned long long)tip.seq);
    }
out:
    if (sqlite3_get_autocommit(tp_store_db(s)) == 0)
        sqlite3_exec(tp_store_db(s), "ROLLBACK", NULL, NULL, NULL);
    tp_auditlink_free(link);
    for (int i = 0; i < u->n_refs; i++)
        sqlite3_free(u->refs[i].sql);
    free(u);
    return st;
}

tp_status tp_verify_database(const tp_config *cfg, const tp_central_head *central,
                             const struct tp_anchor *anchor, tp_audit_report *report,
                             tp_progress_fn progress, tp_problem_fn problem, void *user,
                             tp_verify_result *r, tp_verify_steps *steps, tp_message *msg)
{
    memset(r, 0, sizeof *r);
    tp_store *s = NULL;
    tp_status st = tp_store_open(cfg->database, &s, msg);
    if (st != TP_OK)
        return st;
    /* Only reads: the connection is refused any write, whatever happens. */
    if (sqlite3_exec(tp_store_db(s), "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        tp_msg_set(msg, "Cannot open the database for reading: %s.", tp_store_errmsg(s));
        tp_store_close(s);
        return TP_ERR_STORAGE;
    }
    st = tp_verify_anchored(s, cfg, central, anchor, report, progress, problem, user, r, steps,
                            msg);
    tp_store_close(s);
    return st;
}
