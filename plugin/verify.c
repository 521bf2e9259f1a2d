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
 */
#include "verify.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "anchor.h"
#include "audit.h"
#include "auditlink.h"
#include "util.h"

typedef struct check {
    const char *what;  /* what must hold, for the report */
    const char *sql;   /* lists violations: one text column describing each */
} check;

static const check checks[] = {
    {"the database file is intact",
     "SELECT 'integrity: ' || integrity_check FROM pragma_integrity_check"
     " WHERE integrity_check <> 'ok'"},
    {"every reference points at an existing row",
     "SELECT 'table ' || \"table\" || ' row ' || rowid || ' refers to a missing ' || parent"
     " FROM pragma_foreign_key_check"},
    {"entries have a valid kind and non-zero points in range",
     "SELECT 'ledger entry ' || id || ' has kind ' || quote(kind) || ' and points ' || points"
     " FROM ledger WHERE kind NOT IN ('earn','retro','adjust','bulk','import','reversal',"
     "'expire') OR points = 0 OR points NOT BETWEEN -1000000000000 AND 1000000000000"
     " OR (kind = 'reversal') <> (reverses IS NOT NULL)"},
    {"a reversal undoes part of a positive entry of the same member",
     "SELECT 'reversal ' || r.id || ' does not undo a positive entry of its member'"
     " FROM ledger r LEFT JOIN ledger o ON o.id = r.reverses WHERE r.kind = 'reversal'"
     " AND (o.id IS NULL OR o.member_id <> r.member_id OR o.points <= 0 OR r.points >= 0"
     " OR o.kind = 'reversal')"},
    {"no entry is reversed beyond what it earned",
     "SELECT 'entry ' || o.id || ' earned ' || o.points || ' but ' || -SUM(r.points)"
     " || ' were reversed' FROM ledger r JOIN ledger o ON o.id = r.reverses"
     " GROUP BY o.id HAVING o.points + SUM(r.points) < 0"},
    {"a receipt earns at most once, live or retro",
     "SELECT 'receipt ' || location || '/' || receipt || ' earned ' || count(*) || ' times'"
     " FROM ledger WHERE kind IN ('earn', 'retro') GROUP BY location, receipt"
     " HAVING count(*) > 1"},
    {"every earn entry matches its journaled receipt and member",
     "SELECT 'earn entry ' || l.id || ' for receipt ' || l.receipt || ' has no matching"
     " journal row' FROM ledger l LEFT JOIN receipts r ON r.location = l.location"
     " AND r.receipt = l.receipt WHERE l.kind = 'earn' AND (r.id IS NULL"
     " OR r.member_id IS NOT l.member_id)"},
    {"every ledger key is unique",
     "SELECT 'ledger key ' || location || '/' || receipt || '/' || kind || ' is used '"
     " || count(*) || ' times' FROM ledger GROUP BY location, receipt, kind"
     " HAVING count(*) > 1"},
    {"refunds never exceed the eligible amount of their receipt",
     "SELECT 'receipt ' || r.receipt || ' was refunded ' || SUM(f.amount_minor) || ' of '"
     " || r.eligible_minor FROM refunds f JOIN receipts r ON r.id = f.receipt_id"
     " GROUP BY r.id HAVING SUM(f.amount_minor) > r.eligible_minor"},
    {"journaled amounts are consistent",
     "SELECT 'receipt ' || receipt || ' has eligible ' || eligible_minor || ' of total '"
     " || total_minor FROM receipts WHERE total_minor < 0 OR eligible_minor < 0"
     " OR eligible_minor > total_minor"},
};

static const char negative_sql[] =
    "SELECT 'member ' || m.code || ' has a negative balance (' || SUM(l.points) || ')'"
    " FROM ledger l JOIN members m ON m.id = l.member_id GROUP BY l.member_id"
    " HAVING SUM(l.points) < 0";

static int run_check(tp_store *s, const char *what, const char *sql, tp_problem_fn problem,
                     void *user, tp_verify_result *r)
{
    sqlite3_stmt *q = NULL;
    r->checks++;
    if (sqlite3_prepare_v2(tp_store_db(s), sql, -1, &q, NULL) != SQLITE_OK) {
        char text[TP_MESSAGE_MAX];
        snprintf(text, sizeof text, "Cannot check that %s: %s.", what, tp_store_errmsg(s));
        r->problems++;
        if (problem)
            problem(user, 0, text);
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        char text[TP_MESSAGE_MAX];
        snprintf(text, sizeof text, "Not true that %s: %s.", what,
                 (const char *)sqlite3_column_text(q, 0));
        r->problems++;
        if (problem)
            problem(user, 0, text);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : -1;
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

tp_status tp_verify_anchored(tp_store *s, const tp_config *cfg, const tp_central_head *central,
                             const struct tp_anchor *anchor, tp_audit_report *report,
                             tp_problem_fn problem, void *user, tp_verify_result *r,
                             tp_message *msg)
{
    memset(r, 0, sizeof *r);
    tp_audit_report local_report;
    if (!report)
        report = &local_report;
    memset(report, 0, sizeof *report);
    /* One read transaction: every check sees the same snapshot. */
    if (sqlite3_exec(tp_store_db(s), "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        tp_msg_set(msg, "Cannot read the database: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    int failed = 0;
    r->checks++;
    int64_t version = count_of(s, "PRAGMA user_version");
    if (version != TP_SCHEMA_VERSION) {
        char text[TP_MESSAGE_MAX];
        snprintf(text, sizeof text, "Not true that the schema is version %d: it is %lld.",
                 TP_SCHEMA_VERSION, (long long)version);
        r->problems++;
        if (problem)
            problem(user, 0, text);
    }
    check_triggers(s, problem, user, r);
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        failed |= run_check(s, checks[i].what, checks[i].sql, problem, user, r);
    if (!cfg->allow_negative_balance)
        failed |= run_check(s, "balances are never below zero", negative_sql, problem, user, r);
    /* The audit log's hash chain: each record covers the one before. */
    r->checks++;
    audit_ctx actx = {.problem = problem, .user = user, .r = r};
    if (tp_audit_verify(s, audit_problem, &actx) < 0) {
        r->problems++;
        if (problem)
            problem(user, 0, "The audit log cannot be read.");
    }
    /* The ledger against the records covering it. */
    r->checks++;
    if (tp_auditlink_verify(s, audit_problem, &actx) < 0) {
        r->problems++;
        if (problem)
            problem(user, 0, "The ledger cannot be compared with the audit log.");
    }
    /* The heads kept outside the terminal. */
    tp_audit_tip tip;
    tp_message why;
    if (tp_audit_tip_get(s, &tip, &why) != TP_OK)
        memset(&tip, 0, sizeof tip);
    report->local.seq = tip.seq;
    tp_copy(report->local.hash, sizeof report->local.hash, tip.hash);
    report->local.time_ms = tip.time_ms;
    tp_copy(report->local.action, sizeof report->local.action, tip.action);
    if (central) {
        report->central = (tp_audit_central)central->state;
        report->central_seq = central->seq;
        tp_copy(report->central_hash, sizeof report->central_hash, central->hash);
        tp_copy(report->central_note, sizeof report->central_note, central->note);
        if (central->state == TP_AUDIT_CENTRAL_COMPARED) {
            r->checks++;
            if (tp_anchor_check_central(s, central, tip.seq, audit_problem, &actx) < 0) {
                r->problems++;
                if (problem)
                    problem(user, 0, "The audit log cannot be read.");
            }
        }
    }
    if (anchor) {
        r->checks++;
        report->anchor_checked = 1;
        if (tp_anchor_check(s, anchor, tip.seq, &report->anchor_seq, audit_problem, &actx) < 0) {
            r->problems++;
            if (problem)
                problem(user, 0, "The audit log cannot be read.");
        }
    }
    r->entries = (uint64_t)count_of(s, "SELECT count(*) FROM ledger");
    r->members = (uint64_t)count_of(s, "SELECT count(*) FROM members");
    sqlite3_exec(tp_store_db(s), "COMMIT", NULL, NULL, NULL);
    if (failed && r->problems == 0) {
        tp_msg_set(msg, "Some checks could not run: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (r->problems) {
        tp_msg_set(msg, "%llu problem%s found in %llu checks.", (unsigned long long)r->problems,
                   r->problems == 1 ? "" : "s", (unsigned long long)r->checks);
        return TP_ERR_INTERNAL;
    }
    tp_msg_set(msg, "%llu checks, 0 problems (%llu members, %llu ledger entries, %llu audit "
               "records).", (unsigned long long)r->checks, (unsigned long long)r->members,
               (unsigned long long)r->entries, (unsigned long long)tip.seq);
    return TP_OK;
}
