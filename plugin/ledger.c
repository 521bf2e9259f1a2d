/*
 * ledger.c — the activity log and manager adjustments (see ledger.h).
 *
 * The activity log pages by key (entries older than the last id shown),
 * not by OFFSET: page 1,000 of ten million rows costs what page 1 costs.
 * Adjustments are ordinary ledger entries with an internal reason, an
 * optional customer-visible comment and the staff member; a balance may
 * not go below zero unless the configuration allows it.
 */
#include "ledger.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "abi.h"
#include "audit.h"
#include "members.h"
#include "util.h"

static const struct {
    uint32_t bit;
    const char *name;
} kinds[] = {
    {TP_KIND_EARN, "earn"},         {TP_KIND_RETRO, "retro"},     {TP_KIND_ADJUST, "adjust"},
    {TP_KIND_BULK, "bulk"},         {TP_KIND_IMPORT, "import"},   {TP_KIND_REVERSAL, "reversal"},
    {TP_KIND_EXPIRE, "expire"},     {TP_KIND_REDEEM, "redeem"},   {TP_KIND_UNREDEEM, "unredeem"},
};
#define KINDS_KNOWN (TP_KIND_ALL | TP_KIND_REDEEM | TP_KIND_UNREDEEM)

tp_status tp_ledger_check_texts(const char *reason, const char *comment, const char *staff,
                                tp_message *msg)
{
    if (!reason || !*reason) {
        tp_msg_set(msg, "Give a reason of 1 to %d characters (it is kept in the activity log).",
                   TP_REASON_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (!staff || !*staff) {
        tp_msg_set(msg, "Say which staff member makes the change (1 to 64 characters).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = tp_check_text(reason, TP_REASON_MAX, "reason", msg);
    if (st == TP_OK)
        st = tp_check_text(comment, TP_COMMENT_MAX, "customer comment", msg);
    if (st == TP_OK)
        st = tp_check_text(staff, 64, "staff id", msg);
    return st;
}

static const char next_id_sql[] = "SELECT COALESCE(MAX(id), 0) + 1 FROM ledger";
static const char balance_sql[] =
    "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?1";
static const char insert_sql[] =
    "INSERT INTO ledger(member_id, location, terminal, receipt, kind, points, staff, reason,"
    " comment, time_ms, recorded_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)";

int64_t tp_ledger_next_id(tp_store *s)
{
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_LEDGER_NEXT_ID, next_id_sql);
    int64_t next = 1;
    if (q && sqlite3_step(q) == SQLITE_ROW)
        next = sqlite3_column_int64(q, 0);
    if (q)
        sqlite3_reset(q);
    return next;
}

static int balance_of(tp_store *s, int64_t member_id, int64_t *balance)
{
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_LEDGER_BALANCE_OF, balance_sql);
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, member_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *balance = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Points open sales hold for redemptions of the member (reservations). */
static int held_of(tp_store *s, int64_t member_id, int64_t *held)
{
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_LEDGER_HELD_OF,
                                      "SELECT COALESCE(SUM(points), 0) FROM reservations"
                                      " WHERE member_id = ?1");
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, member_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *held = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

tp_status tp_ledger_append_manual(tp_store *s, const tp_config *cfg, int64_t member_id,
                                  const char *member_label, const char *kind, const char *key,
                                  int64_t points, const char *staff, const char *reason,
                                  const char *comment, int64_t *entry_id, tp_message *msg)
{
    /* Only a debit can break the balance rule; credits skip the sum. A
     * manager's debit also leaves what open sales hold for redemptions
     * (spend.h), or a sale would complete below zero; expiry takes only
     * points its lots hold, and is not held up by a sale. */
    if (points < 0 && !cfg->allow_negative_balance) {
        int64_t balance = 0, held = 0;
        if (balance_of(s, member_id, &balance) != 0 ||
            (strcmp(kind, "expire") != 0 && held_of(s, member_id, &held) != 0)) {
            tp_msg_set(msg, "Cannot read the balance: %s.", tp_store_errmsg(s));
            return TP_ERR_STORAGE;
        }
        if (balance - held + points < 0) {
            if (held > 0)
                tp_msg_set(msg, "That would take %s from %lld to %lld points, and open sales at "
                           "the till hold %lld of them for redemptions; balances cannot go "
                           "below zero here.", member_label, (long long)balance,
                           (long long)balance + (long long)points, (long long)held);
            else
                tp_msg_set(msg, "That would take %s from %lld to %lld points; balances cannot "
                           "go below zero here.", member_label, (long long)balance,
                           (long long)balance + (long long)points);
            return TP_ERR_STATE;
        }
    }
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_LEDGER_APPEND_MANUAL_INSERT, insert_sql);
    int rc = q ? SQLITE_OK : SQLITE_ERROR;
    if (rc == SQLITE_OK) {
        int64_t now = tp_now_ms();
        sqlite3_bind_int64(q, 1, member_id);
        sqlite3_bind_text(q, 2, cfg->location, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, cfg->terminal, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 6, points);
        sqlite3_bind_text(q, 7, staff, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 8, reason ? reason : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 9, comment ? comment : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 10, now);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        tp_msg_set(msg, "An entry with the key %s already exists.", key);
        return TP_ERR_DUPLICATE;
    }
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot write the ledger: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (entry_id)
        *entry_id = sqlite3_last_insert_rowid(tp_store_db(s));
    return TP_OK;
}

static void row_from(sqlite3_stmt *q, tp_activity_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    r->time_ms = sqlite3_column_int64(q, 1);
#define TXT(i) (sqlite3_column_text(q, i) ? (const char *)sqlite3_column_text(q, i) : "")
    tp_copy(r->member_code, sizeof r->member_code, TXT(2));
    tp_copy(r->member_name, sizeof r->member_name, TXT(3));
    r->points = sqlite3_column_int64(q, 4);
    tp_copy(r->kind, sizeof r->kind, TXT(5));
    tp_copy(r->staff, sizeof r->staff, TXT(6));
    tp_copy(r->location, sizeof r->location, TXT(7));
    tp_copy(r->receipt, sizeof r->receipt, TXT(8));
    tp_copy(r->reason, sizeof r->reason, TXT(9));
    tp_copy(r->comment, sizeof r->comment, TXT(10));
    r->reverses_id = sqlite3_column_int64(q, 11);
    tp_copy(r->approver, sizeof r->approver, TXT(12));
#undef TXT
}

/* The approver of an entry is the approver of the audit record whose
 * ledger range covers it (audit.c): the manager who approved a retro
 * credit or a correction with a PIN, the staff member who made an
 * adjustment, a bulk adjustment or an import. Entries written before
 * schema 5 are covered by the upgrade's seal, which names no approver;
 * for their retro credits the approver is the one of the retro.credit
 * record with the same key, as before. Checkout's awards and refunds have
 * none. The range lookup is two seeks on audit_ledger_range. */
#define ROW_COLUMNS                                                                          \
    "l.id, l.time_ms, m.code, m.name, l.points, l.kind, l.staff, l.location, l.receipt,"     \
    " l.reason, l.comment, COALESCE(l.reverses, 0),"                                         \
    " COALESCE(NULLIF((SELECT a.approver FROM audit a WHERE a.ledger_first ="                \
    "  (SELECT max(b.ledger_first) FROM audit b WHERE b.ledger_first <= l.id)"               \
    "  AND a.ledger_last >= l.id), ''),"                                                     \
    " CASE WHEN l.kind = 'retro' THEN (SELECT a.approver FROM audit a"                       \
    "  WHERE a.action = 'retro.credit' AND a.location = l.location"                          \
    "  AND a.receipt = l.receipt LIMIT 1) END, '')"

tp_status tp_ledger_activity(tp_store *s, const tp_config *cfg, const tp_activity_query *qry,
                             tp_activity_row *rows, size_t cap, size_t stride, size_t *count,
                             tp_message *msg)
{
    *count = 0;
    if (cap < 1 || cap > TP_ACTIVITY_PAGE_MAX) {
        tp_msg_set(msg, "Ask for 1 to %d rows per page.", TP_ACTIVITY_PAGE_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((qry->staff && tp_bounded_len(qry->staff, 64) == (size_t)-1) ||
        (qry->location && tp_bounded_len(qry->location, 32) == (size_t)-1)) {
        tp_msg_set(msg, "A staff or location filter is too long.");
        return TP_ERR_TOO_LONG;
    }
    if (qry->kinds & ~KINDS_KNOWN) {
        tp_msg_set(msg, "Unknown entry type in the filter.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    int64_t member_id = 0;
    if (qry->member) {
        tp_member_row m;
        tp_status st = tp_members_resolve(s, cfg, qry->member, &m, msg);
        if (st != TP_OK)
            return st;
        member_id = m.id;
    }
    char sql[2048]; /* about 1000 bytes with every filter */
    int n = snprintf(sql, sizeof sql,
                     "SELECT " ROW_COLUMNS " FROM ledger l JOIN members m ON m.id = l.member_id"
                     " WHERE l.id < ?1");
    if (member_id)
        n += snprintf(sql + n, sizeof sql - (size_t)n, " AND l.member_id = ?2");
    if (qry->staff)
        n += snprintf(sql + n, sizeof sql - (size_t)n, " AND l.staff = ?3");
    if (qry->location)
        n += snprintf(sql + n, sizeof sql - (size_t)n, " AND l.location = ?4");
    if (qry->from_ms)
        n += snprintf(sql + n, sizeof sql - (size_t)n, " AND l.time_ms >= ?5");
    if (qry->to_ms)
        n += snprintf(sql + n, sizeof sql - (size_t)n, " AND l.time_ms < ?6");
    if (qry->kinds && qry->kinds != KINDS_KNOWN) {
        n += snprintf(sql + n, sizeof sql - (size_t)n, " AND l.kind IN (");
        int first = 1;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (qry->kinds & kinds[i].bit) {
                n += snprintf(sql + n, sizeof sql - (size_t)n, "%s'%s'", first ? "" : ", ",
                              kinds[i].name);
                first = 0;
            }
        n += snprintf(sql + n, sizeof sql - (size_t)n, ")");
    }
    snprintf(sql + n, sizeof sql - (size_t)n, " ORDER BY l.id DESC LIMIT ?7");
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(tp_store_db(s), sql, -1, &q, NULL) != SQLITE_OK) {
        tp_msg_set(msg, "Cannot read the activity log: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    sqlite3_bind_int64(q, 1, qry->before_id > 0 ? qry->before_id : INT64_MAX);
    sqlite3_bind_int64(q, 2, member_id);
    sqlite3_bind_text(q, 3, qry->staff ? qry->staff : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, qry->location ? qry->location : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, qry->from_ms);
    sqlite3_bind_int64(q, 6, qry->to_ms);
    sqlite3_bind_int64(q, 7, (sqlite3_int64)cap);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && *count < cap) {
        tp_activity_row row;
        row_from(q, &row);
        tp_abi_put(rows, stride, (*count)++, &row, sizeof row, 1);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        tp_msg_set(msg, "Cannot read the activity log: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

static tp_status check_points(int64_t points, tp_message *msg)
{
    if (points == 0 || points > TP_ADJUST_MAX || points < -TP_ADJUST_MAX) {
        tp_msg_set(msg, "An adjustment is a non-zero number of points up to %lld either way.",
                   (long long)TP_ADJUST_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

tp_status tp_ledger_read_entry(tp_store *s, int64_t id, tp_activity_row *row, tp_message *msg)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(tp_store_db(s),
                                "SELECT " ROW_COLUMNS " FROM ledger l JOIN members m"
                                " ON m.id = l.member_id WHERE l.id = ?1",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, id);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW)
            row_from(q, row);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW) {
        tp_msg_set(msg, "Cannot read back the entry: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

tp_status tp_ledger_adjust(tp_store *s, const tp_config *cfg, const tp_adjustment *adj,
                           tp_activity_row *entry, tp_message *msg)
{
    tp_status st = check_points(adj->points, msg);
    if (st == TP_OK)
        st = tp_ledger_check_texts(adj->reason, adj->comment, adj->staff, msg);
    if (st != TP_OK)
        return st;
    tp_member_row m;
    if ((st = tp_members_resolve(s, cfg, adj->member, &m, msg)) != TP_OK)
        return st;
    if ((st = tp_store_begin(s, msg)) != TP_OK)
        return st;
    char key[64];
    snprintf(key, sizeof key, "ADJ-%lld", (long long)tp_ledger_next_id(s));
    int64_t id = 0;
    st = tp_ledger_append_manual(s, cfg, m.id, m.code, "adjust", key, adj->points, adj->staff,
                                 adj->reason, adj->comment, &id, msg);
    /* The back office's own authority: whoever runs the adjustment is its
     * approver (the admin ABI has no PIN step). */
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "adjust", .actor = adj->staff,
                        .approver = adj->staff, .member = m.code, .location = cfg->location,
                        .receipt = key, .points = adj->points, .reason = adj->reason,
                        .detail = adj->comment};
    if (st == TP_OK)
        st = tp_audit_append(s, &e, msg);
    if (st == TP_OK && entry)
        st = tp_ledger_read_entry(s, id, entry, msg);
    if (st != TP_OK) {
        tp_store_rollback(s);
        return st;
    }
    return tp_store_commit(s, msg);
}
