/*
 * spendstore.c — spending points, the writer's side (see spend.h).
 *
 * A reservation is a row of `reservations`, written by the writer in its
 * batch like an award, checked against the member's one balance (balance.h)
 * less every other reservation of the member on the file, so two tills on
 * one database cannot both spend the same points. The redemption itself
 * is an append-only "redeem" entry written in the same savepoint as the
 * receipt and its award, with a `redemptions` row (what it took off, who
 * vouched: "local", "central", "offline", and the points spent offline
 * for the allowance); the reservations of the sale go in the same
 * transaction, so a crash leaves either the reservation or the redemption,
 * never both, and a restart drops reservations (their sales died with the
 * process). Points come back only as "unredeem" entries that reference
 * the redemption; the ledger's trigger bounds them by what it spent
 * (docs/DESIGN.md §5, "Spending points").
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "balance.h"
#include "currency.h"
#include "rewards.h"
#include "rules.h"
#include "spend.h"
#include "store.h"
#include "util.h"

#define MS_PER_DAY 86400000LL

static sqlite3_stmt *q_of(tp_store *s, tp_stmt id, const char *text)
{
    return tp_store_cached(s, id, text);
}

static int exec_cached(tp_store *s, tp_stmt id, const char *text)
{
    sqlite3_stmt *q = q_of(s, id, text);
    if (!q)
        return SQLITE_ERROR;
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int savepoint(tp_store *s)
{
    return exec_cached(s, TP_STMT_SPEND_SAVEPOINT, "SAVEPOINT spend");
}

static int release(tp_store *s)
{
    return exec_cached(s, TP_STMT_SPEND_RELEASE_SP, "RELEASE spend");
}

static void undo(tp_store *s)
{
    exec_cached(s, TP_STMT_SPEND_ROLLBACK_SP, "ROLLBACK TO spend");
    release(s);
}

static const char *unit_word(const tp_config *cfg, int64_t n)
{
    return tp_rules_unit(&cfg->rules, n);
}

tp_status tp_spend_apply_reserve(tp_store *s, const tp_config *cfg, int central,
                                 const tp_reserve_job *job, tp_outcome *out)
{
    memset(out, 0, sizeof *out);
    tp_copy(out->txn, sizeof out->txn, job->txn);
    tp_copy(out->member_code, sizeof out->member_code, job->code);
    out->redemption_no = job->no;
    out->points = job->points;
    out->time_ms = tp_now_ms();
    out->kind = TP_EVENT_REDEEM_REFUSED;
    if (savepoint(s) != SQLITE_OK)
        return TP_ERR_STORAGE;
    tp_member_row m;
    tp_message msg;
    tp_status st = tp_store_find_member(s, job->code, &m, &msg);
    if (st == TP_ERR_NOT_FOUND) {
        out->status = st;
        tp_buf_set(out->message, sizeof out->message,
                   "No member has the code %s any more; nothing was reserved.", job->code);
        release(s);
        return TP_OK;
    }
    tp_balance b;
    if (st != TP_OK ||
        tp_balance_get(s, cfg, NULL, m.code, m.balance, &b, &msg) != TP_OK)
        goto storage;
    tp_copy(out->member_name, sizeof out->member_name, m.name);
    sqlite3_stmt *q = q_of(s, TP_STMT_SPEND_HELD_OTHERS,
                           "SELECT COALESCE(SUM(points), 0) FROM reservations"
                           " WHERE member_id = ?1 AND NOT (location = ?2 AND terminal = ?3"
                           " AND txn = ?4 AND no = ?5)");
    if (!q)
        goto storage;
    sqlite3_bind_int64(q, 1, m.id);
    sqlite3_bind_text(q, 2, cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, cfg->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, job->txn, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 5, (int)job->no);
    int rc = sqlite3_step(q);
    int64_t held = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW)
        goto storage;
    int64_t available = b.shown - held;
    if (job->points > available) {
        out->status = TP_ERR_STATE;
        out->shown_balance = b.shown;
        tp_buf_set(out->message, sizeof out->message,
                   "%s has %lld %s available now (%lld held by other open sales); the "
                   "redemption needs %lld. Take its line off the sale.",
                   m.name[0] ? m.name : m.code, (long long)(available > 0 ? available : 0),
                   unit_word(cfg, available), (long long)held, (long long)job->points);
        release(s);
        return TP_OK;
    }
    q = q_of(s, TP_STMT_SPEND_RESERVE,
             "INSERT OR REPLACE INTO reservations(location, terminal, txn, no, member_id, points,"
             " source, created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!q)
        goto storage;
    sqlite3_bind_text(q, 1, cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, cfg->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, job->txn, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, (int)job->no);
    sqlite3_bind_int64(q, 5, m.id);
    sqlite3_bind_int64(q, 6, job->points);
    sqlite3_bind_text(q, 7, central ? "" : "local", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 8, out->time_ms);
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        goto storage;
    if (release(s) != SQLITE_OK)
        return TP_ERR_STORAGE;
    out->kind = TP_EVENT_REDEEM_CONFIRMED;
    out->status = TP_OK;
    out->pending = b.pending;
    out->balance = m.balance;
    tp_balance_to_outcome(&b, out);
    out->shown_balance = available - job->points; /* what is left to spend */
    if (!central)
        tp_copy(out->redeem_source, sizeof out->redeem_source, "local");
    tp_buf_set(out->message, sizeof out->message,
               "%lld %s of %s are reserved for this sale; %lld left to spend.",
               (long long)job->points, unit_word(cfg, job->points), m.name[0] ? m.name : m.code,
               (long long)out->shown_balance);
    return TP_OK;
storage:
    undo(s);
    return TP_ERR_STORAGE;
}

tp_status tp_spend_apply_release(tp_store *s, const tp_config *cfg, const tp_reserve_job *job,
                                 tp_outcome *out)
{
    memset(out, 0, sizeof *out); /* kind 0: no event */
    sqlite3_stmt *q = q_of(s, TP_STMT_SPEND_RELEASE,
                           "DELETE FROM reservations WHERE location = ?1 AND terminal = ?2"
                           " AND txn = ?3 AND (?4 = 0 OR no = ?4)");
    if (!q)
        return TP_ERR_STORAGE;
    sqlite3_bind_text(q, 1, cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, cfg->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, job->txn, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, (int)job->no);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? TP_OK : TP_ERR_STORAGE;
}

/* One ledger entry of spending: "redeem" (negative) or "unredeem"
 * (positive, `reverses` the redemption). 0 id on failure (rc says). */
static int insert_entry(tp_store *s, const tp_config *cfg, int64_t member_id,
                        const char *receipt, const char *kind, int64_t points, int64_t reverses,
                        const char *staff, const char *reason, const char *comment,
                        int64_t time_ms, int64_t *id)
{
    sqlite3_stmt *q = q_of(s, TP_STMT_SPEND_INSERT_ENTRY,
                           "INSERT INTO ledger(member_id, location, terminal, receipt, kind,"
                           " points, reverses, staff, reason, comment, time_ms, recorded_ms)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, member_id);
    sqlite3_bind_text(q, 2, cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, cfg->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, receipt, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, points);
    if (reverses)
        sqlite3_bind_int64(q, 7, reverses);
    else
        sqlite3_bind_null(q, 7);
    sqlite3_bind_text(q, 8, staff ? staff : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 9, reason ? reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 10, comment ? comment : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 11, time_ms);
    sqlite3_bind_int64(q, 12, tp_now_ms());
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return rc;
    *id = sqlite3_last_insert_rowid(tp_store_db(s));
    return SQLITE_OK;
}

/* Appends `text` to buf (cap bytes, NUL-terminated), as much as fits. */
static void append(char *buf, size_t cap, const char *text)
{
    size_t n = strlen(buf);
    if (n + 1 < cap)
        tp_copy(buf + n, cap - n, text);
}

/* The redeem entry's reason (for managers: what each redemption bought,
 * "coffee: 500 for 2.50; points: 400 for 4.00") and comment (for the
 * customer: "Free coffee, Paid with points"). */
static void describe(const tp_config *cfg, const tp_award_job *job, char *reason,
                     size_t reason_cap, char *comment, size_t comment_cap)
{
    reason[0] = comment[0] = '\0';
    for (int i = 0; i < job->redeem_n && i < TP_AWARD_REDEEM_MAX; i++) {
        int k = job->redeem_reward[i];
        const tp_reward_config *r = k >= 0 && k < cfg->n_rewards ? &cfg->rewards[k] : NULL;
        char money[TP_MONEY_TEXT_SIZE], part[TP_REWARD_NAME_MAX + TP_MONEY_TEXT_SIZE + 48];
        tp_format_money(money, sizeof money, job->redeem_minor_of[i], cfg->currency);
        snprintf(part, sizeof part, "%s%s: %lld for %s", i ? "; " : "", r ? r->name : "points",
                 (long long)job->redeem_points_of[i], money);
        append(reason, reason_cap, part);
        if (i)
            append(comment, comment_cap, ", ");
        append(comment, comment_cap, r ? r->label : "Paid with points");
    }
}

int tp_spend_commit(tp_store *s, const tp_config *cfg, const tp_award_job *job,
                    int64_t member_id, int64_t receipt_row)
{
    /* Who vouched for the points: the reservations say. None are left
     * when the sale was saved from the side journal after a restart (which
     * dropped them): standalone the ledger is the truth; with [sync]
     * nobody confirmed it in this process, so it counts as offline. */
    sqlite3_stmt *q = q_of(s, TP_STMT_SPEND_OF_TXN,
                           "SELECT COUNT(*), COALESCE(SUM(CASE WHEN source IN ('offline', '')"
                           " THEN points END), 0), COALESCE(MAX(source = 'central'), 0)"
                           " FROM reservations WHERE location = ?1 AND terminal = ?2 AND txn = ?3");
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_text(q, 1, cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, cfg->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, job->txn, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    int64_t rows = 0, offline = 0;
    int central = 0;
    if (rc == SQLITE_ROW) {
        rows = sqlite3_column_int64(q, 0);
        offline = sqlite3_column_int64(q, 1);
        central = sqlite3_column_int(q, 2);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW)
        return rc;
    int synced = cfg->sync.postgres[0] != '\0';
    if (rows == 0 && synced)
        offline = job->redeem_points;
    if (offline > job->redeem_points)
        offline = job->redeem_points;
    const char *source = offline > 0 ? "offline" : central ? "central" : "local";
    char reason[TP_REASON_MAX + 1], comment[TP_COMMENT_MAX + 1];
    describe(cfg, job, reason, sizeof reason, comment, sizeof comment);
    int64_t id = 0;
    rc = insert_entry(s, cfg, member_id, job->receipt, "redeem", -job->redeem_points, 0,
                      job->staff, reason, comment, job->time_ms, &id);
    if (rc != SQLITE_OK)
        return rc;
    q = q_of(s, TP_STMT_SPEND_INSERT_REDEMPTION,
             "INSERT INTO redemptions(ledger_id, receipt_id, discount_minor, source,"
             " offline_points, day) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, receipt_row);
    sqlite3_bind_int64(q, 3, job->redeem_minor);
    sqlite3_bind_text(q, 4, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, offline);
    sqlite3_bind_int64(q, 6, job->time_ms / MS_PER_DAY);
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return rc;
    tp_reserve_job all = {.no = 0};
    tp_copy(all.txn, sizeof all.txn, job->txn);
    tp_outcome none;
    return tp_spend_apply_release(s, cfg, &all, &none) == TP_OK ? SQLITE_OK : SQLITE_ERROR;
}

/* The redemption of `receipt` at this location: its entry, points (> 0,
 * spent), member and what came back so far. 1 found, 0 none, -1 error. */
static int find_redeem(tp_store *s, const char *location, const char *receipt, int64_t *id,
                       int64_t *spent, int64_t *member_id, int64_t *back)
{
    sqlite3_stmt *q = q_of(s, TP_STMT_SPEND_FIND_REDEEM,
                           "SELECT id, -points, member_id FROM ledger WHERE location = ?1"
                           " AND receipt = ?2 AND kind = 'redeem'");
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, receipt, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(q, 0);
        *spent = sqlite3_column_int64(q, 1);
        *member_id = sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : -1;
    q = q_of(s, TP_STMT_SPEND_GIVEN_BACK,
             "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE reverses = ?1");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, *id);
    rc = sqlite3_step(q);
    *back = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 1 : -1;
}

int tp_spend_refund_return(tp_store *s, const tp_config *cfg, const char *receipt,
                           const char *refund, int64_t paid_total, int64_t refunded_before,
                           int64_t amount, int64_t time_ms, int64_t *back, int64_t *member_id)
{
    *back = 0;
    int64_t id = 0, spent = 0, given = 0;
    int f = find_redeem(s, cfg->location, receipt, &id, &spent, member_id, &given);
    if (f <= 0)
        return f == 0 ? SQLITE_OK : SQLITE_ERROR;
    int64_t n = tp_rewards_refund_return(cfg, spent, paid_total, refunded_before, amount, given);
    if (n > spent - given)
        n = spent - given; /* a manager gave some back already */
    if (n <= 0)
        return SQLITE_OK;
    int64_t entry = 0;
    int rc = insert_entry(s, cfg, *member_id, refund, "unredeem", n, id, "",
                          "given back by a refund", "", time_ms, &entry);
    if (rc == SQLITE_OK)
        *back = n;
    return rc;
}

tp_status tp_spend_clear_reservations(tp_store *s, const tp_config *cfg, tp_message *msg)
{
    sqlite3_stmt *q = q_of(s, TP_STMT_SPEND_CLEAR,
                           "DELETE FROM reservations WHERE location = ?1 AND terminal = ?2");
    int rc = q ? SQLITE_OK : SQLITE_ERROR;
    if (q) {
        sqlite3_bind_text(q, 1, cfg->location, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, cfg->terminal, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot drop the points reserved by sales of the last run: %s.",
                   tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

/* ---- a manager's reversal (redeem.h) ---- */

tp_status tp_spend_reverse_in_txn(tp_store *s, const tp_config *cfg, const char *location,
                                  const char *receipt, const char *staff, const char *reason,
                                  int64_t *entry_id, int64_t *points, char *member,
                                  size_t member_cap, tp_message *msg)
{
    int64_t id = 0, spent = 0, member_id = 0, given = 0;
    int f = find_redeem(s, location, receipt, &id, &spent, &member_id, &given);
    if (f < 0) {
        tp_msg_set(msg, "Cannot read the redemption: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (f == 0) {
        tp_msg_set(msg, "Receipt %s of %s spent no %s here.", receipt, location,
                   unit_word(cfg, 2));
        return TP_ERR_NOT_FOUND;
    }
    int64_t n = spent - given;
    if (n <= 0) {
        tp_msg_set(msg, "Every one of the %lld %s receipt %s spent is back already.",
                   (long long)spent, unit_word(cfg, spent), receipt);
        return TP_ERR_STATE;
    }
    tp_member_row m;
    if (tp_store_member_by_id(s, member_id, &m, msg) != TP_OK)
        return TP_ERR_STORAGE;
    char key[TP_RECEIPT_ID_MAX + 8];
    snprintf(key, sizeof key, "REV-%s", receipt);
    int rc = insert_entry(s, cfg, member_id, key, "unredeem", n, id, staff, reason,
                          "Points given back", tp_now_ms(), entry_id);
    if (rc != SQLITE_OK) {
        tp_msg_set(msg, "Cannot write the ledger: %s.", tp_store_errmsg(s));
        return (rc & 0xff) == SQLITE_CONSTRAINT ? TP_ERR_STATE : TP_ERR_STORAGE;
    }
    *points = n;
    tp_copy(member, member_cap, m.code);
    return TP_OK;
}
