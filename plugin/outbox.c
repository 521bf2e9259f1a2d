/*
 * outbox.c — the outbox schema (v4) and its queries (see outbox.h).
 *
 * Why triggers: the ledger, members, cards and audit are written from
 * several modules (checkout, adjustments, bulk, import, retro, managers).
 * An AFTER INSERT trigger puts the outbox row into the very transaction
 * that wrote the effect, whoever wrote it, so "same transaction" holds by
 * construction. Payloads are built by SQLite's JSON1 (json_object), so the
 * C side never formats JSON.
 *
 * Pulled rows (members and cards copied from the central directory) must
 * not be sent back: the pull sets sync_state.pulling = 1 inside its own
 * write transaction and the member triggers skip while it is set. Other
 * connections never see the 1, since it is reset before that COMMIT.
 *
 * The ledger event_id includes the terminal: the same receipt number
 * credited on two terminals gives two different events, and the central
 * ledger's uniqueness on (location, receipt) refuses the second one, which
 * is then parked here (see sync.c) instead of silently swallowed as a
 * duplicate.
 */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "abi.h"
#include "util.h"



/* The same rows the triggers write, for everything already in the file:
 * run once when a standalone terminal is first pointed at a central
 * database. INSERT OR IGNORE by event_id makes it safe to run again.
 * Members and cards first, so the central side knows them before their
 * ledger entries arrive. */
static const char *const backfill_sql[] = {
    "INSERT OR IGNORE INTO outbox(event_id, kind, member, payload, created_ms)"
    " SELECT 'member:' || n.code, 'member', n.code,"
    "  json_object('code', n.code, 'name', n.name, 'phone', n.phone,"
    "   'email', n.email, 'app_id', n.app_id, 'created_ms', n.created_ms),"
    "  n.created_ms FROM members n ORDER BY n.id",
    "INSERT OR IGNORE INTO outbox(event_id, kind, member, payload, created_ms)"
    " SELECT 'card:' || c.code, 'card', m.code,"
    "  json_object('card', c.code, 'member', m.code, 'added_ms', c.added_ms),"
    "  c.added_ms FROM member_cards c JOIN members m ON m.id = c.member_id"
    " ORDER BY c.added_ms",
    "INSERT OR IGNORE INTO outbox(event_id, kind, member, points, payload, created_ms)"
    " SELECT 'ledger:' || l.location || '/' || l.terminal || '/' || l.receipt || '/'"
    "  || l.kind, 'ledger', m.code, l.points,"
    "  json_object('location', l.location, 'terminal', l.terminal,"
    "   'receipt', l.receipt, 'kind', l.kind, 'member', m.code,"
    "   'points', l.points, 'staff', l.staff, 'reason', l.reason,"
    "   'comment', l.comment, 'time_ms', l.time_ms, 'recorded_ms', l.recorded_ms,"
    "   'reverses', json((SELECT json_object('terminal', o.terminal, 'receipt', o.receipt,"
    "                     'kind', o.kind) FROM ledger o WHERE o.id = l.reverses))),"
    "  l.recorded_ms FROM ledger l JOIN members m ON m.id = l.member_id ORDER BY l.id",
    /* As schema v5's outbox_audit trigger writes them (audit.c). */
    "INSERT OR IGNORE INTO outbox(event_id, kind, member, payload, created_ms)"
    " SELECT 'audit:' || a.hash, 'audit', a.member,"
    "  json_object('id', a.id, 'time_ms', a.time_ms, 'action', a.action, 'actor', a.actor,"
    "   'approver', a.approver, 'member', a.member, 'location', a.location,"
    "   'receipt', a.receipt, 'points', a.points, 'reason', a.reason,"
    "   'detail', a.detail, 'ledger_first', a.ledger_first, 'ledger_last', a.ledger_last,"
    "   'ledger_count', a.ledger_count, 'ledger_sum', a.ledger_sum,"
    "   'ledger_digest', a.ledger_digest, 'prev_hash', a.prev_hash, 'hash', a.hash),"
    "  a.time_ms FROM audit a ORDER BY a.id",
};

tp_status tp_outbox_enable(tp_store *s, int on, tp_message *msg)
{
    int64_t was = 0;
    tp_msg_clear(msg);
    if (tp_store_begin(s, msg) != TP_OK)
        return TP_ERR_STORAGE;
    tp_status st = tp_sync_state_get(s, "outbox_on", &was);
    if (st == TP_OK && on && !was) {
        for (size_t i = 0; i < sizeof backfill_sql / sizeof backfill_sql[0]; i++) {
            if (sqlite3_exec(tp_store_db(s), backfill_sql[i], NULL, NULL, NULL) != SQLITE_OK) {
                tp_msg_set(msg, "Cannot prepare the outbox for the central database: %s.",
                           tp_store_errmsg(s));
                st = TP_ERR_STORAGE;
                break;
            }
        }
    }
    if (st == TP_OK && (on ? 1 : 0) != was)
        st = tp_sync_state_set(s, "outbox_on", on ? 1 : 0);
    if (st != TP_OK) {
        if (!msg || !msg->text[0])
            tp_msg_set(msg, "Cannot prepare the outbox for the central database: %s.",
                       tp_store_errmsg(s));
        tp_store_rollback(s);
        return st;
    }
    return tp_store_commit(s, msg);
}

void tp_outbox_batch_free(tp_outbox_batch *b)
{
    free(b->rows);
    free(b->text);
    memset(b, 0, sizeof *b);
}

/* Appends `s` to the batch's text arena; returns its offset or -1. */
static long arena_put(tp_outbox_batch *b, const char *s)
{
    size_t n = strlen(s) + 1;
    if (b->text_len + n > b->text_cap) {
        size_t cap = b->text_cap ? b->text_cap : 65536;
        while (cap < b->text_len + n)
            cap *= 2;
        char *t = realloc(b->text, cap);
        if (!t)
            return -1;
        b->text = t;
        b->text_cap = cap;
    }
    memcpy(b->text + b->text_len, s, n);
    b->text_len += n;
    return (long)(b->text_len - n);
}

/* The receipt (a ledger entry's) comes along so that a refusal can name
 * it; a dismissed row is always parked, so parked = 0 excludes it. */
#define ROW_STRINGS 5
static const char sql_next[] =
    "SELECT id, attempts, points, event_id, kind, payload, member,"
    " CASE WHEN kind = 'ledger' THEN COALESCE(json_extract(payload, '$.receipt'), '')"
    " ELSE '' END FROM outbox"
    " WHERE delivered_ms IS NULL AND parked = 0 AND id > ?2 ORDER BY id LIMIT ?1";

tp_status tp_outbox_next(tp_store *s, int64_t after_id, size_t max, tp_outbox_batch *b,
                         tp_message *msg)
{
    b->n = 0;
    b->text_len = 0;
    if (b->cap < max) {
        tp_outbox_row *r = realloc(b->rows, max * sizeof *r);
        if (!r) {
            tp_msg_set(msg, "Out of memory reading the outbox.");
            return TP_ERR_NO_MEMORY;
        }
        b->rows = r;
        b->cap = max;
    }
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_NEXT, sql_next);
    if (!q) {
        tp_msg_set(msg, "Cannot read the outbox: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    sqlite3_bind_int64(q, 1, (sqlite3_int64)max);
    sqlite3_bind_int64(q, 2, after_id);
    int rc;
    tp_status st = TP_OK;
    /* Strings go into one arena first (by offset, as it may move), then
     * the pointers are fixed up. */
    long *offs = malloc(max * ROW_STRINGS * sizeof *offs);
    if (!offs) {
        sqlite3_reset(q);
        tp_msg_set(msg, "Out of memory reading the outbox.");
        return TP_ERR_NO_MEMORY;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && b->n < max) {
        tp_outbox_row *r = &b->rows[b->n];
        r->id = sqlite3_column_int64(q, 0);
        r->attempts = sqlite3_column_int(q, 1);
        r->points = sqlite3_column_int64(q, 2);
        for (int k = 0; k < ROW_STRINGS; k++) {
            const unsigned char *t = sqlite3_column_text(q, 3 + k);
            long o = arena_put(b, t ? (const char *)t : "");
            if (o < 0) {
                st = TP_ERR_NO_MEMORY;
                break;
            }
            offs[b->n * ROW_STRINGS + (size_t)k] = o;
        }
        if (st != TP_OK)
            break;
        b->n++;
    }
    if (st == TP_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = TP_ERR_STORAGE;
    sqlite3_reset(q);
    if (st != TP_OK) {
        free(offs);
        b->n = 0;
        tp_msg_set(msg, st == TP_ERR_NO_MEMORY ? "Out of memory reading the outbox."
                                               : "Cannot read the outbox.");
        return st;
    }
    for (size_t i = 0; i < b->n; i++) {
        const long *o = &offs[i * ROW_STRINGS];
        b->rows[i].event_id = b->text + o[0];
        b->rows[i].kind = b->text + o[1];
        b->rows[i].payload = b->text + o[2];
        b->rows[i].member = b->text + o[3];
        b->rows[i].receipt = b->text + o[4];
    }
    free(offs);
    return TP_OK;
}

/* One range update: rows are read in id order and new rows only get
 * larger ids, so [first, last] holds exactly the batch, minus rows parked
 * meanwhile (they stay parked; sending one again later is harmless). */
static const char sql_mark[] = "UPDATE outbox SET delivered_ms = ?3, last_error = ''"
                               " WHERE id BETWEEN ?1 AND ?2 AND delivered_ms IS NULL"
                               " AND parked = 0";
static const char sql_balance[] =
    "INSERT INTO central_balances(code, balance, seq, pulled_ms) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(code) DO UPDATE SET balance = excluded.balance, seq = excluded.seq,"
    " pulled_ms = excluded.pulled_ms WHERE excluded.seq > central_balances.seq";
static const char sql_state_set[] = "INSERT INTO sync_state(key, value) VALUES(?1, ?2)"
                                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value";
static const char sql_state_get[] = "SELECT value FROM sync_state WHERE key = ?1";

tp_status tp_outbox_delivered(tp_store *s, int64_t first_id, int64_t last_id,
                              const tp_central_balance *bal, size_t nbal, int64_t now_ms,
                              tp_message *msg)
{
    if (tp_store_begin(s, msg) != TP_OK)
        return TP_ERR_STORAGE;
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_DELIVERED_MARK, sql_mark);
    if (q) {
        sqlite3_bind_int64(q, 1, first_id);
        sqlite3_bind_int64(q, 2, last_id);
        sqlite3_bind_int64(q, 3, now_ms);
        int rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            q = NULL;
    }
    sqlite3_stmt *b = q ? tp_store_cached(s, TP_STMT_OUTBOX_DELIVERED_BALANCE, sql_balance) : NULL;
    for (size_t i = 0; b && i < nbal; i++) {
        sqlite3_bind_text(b, 1, bal[i].code, -1, SQLITE_STATIC);
        sqlite3_bind_int64(b, 2, bal[i].balance);
        sqlite3_bind_int64(b, 3, bal[i].seq);
        sqlite3_bind_int64(b, 4, now_ms);
        int rc = sqlite3_step(b);
        sqlite3_reset(b);
        if (rc != SQLITE_DONE)
            b = NULL;
    }
    if (!b || tp_sync_state_set(s, "last_success_ms", now_ms) != TP_OK) {
        tp_msg_set(msg, "Cannot mark outbox rows delivered: %s.", tp_store_errmsg(s));
        tp_store_rollback(s);
        return TP_ERR_STORAGE;
    }
    return tp_store_commit(s, msg);
}

static const char sql_fail[] =
    "UPDATE outbox SET attempts = attempts + 1, last_error = substr(?2, 1, 255),"
    " parked = (attempts + 1 >= ?3) WHERE id = ?1 AND delivered_ms IS NULL"
    " AND dismissed_ms IS NULL RETURNING parked";

tp_status tp_outbox_failed(tp_store *s, int64_t id, const char *error, int max_attempts,
                           int *parked, tp_message *msg)
{
    *parked = 0;
    if (tp_store_begin(s, msg) != TP_OK)
        return TP_ERR_STORAGE;
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_FAILED, sql_fail);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_text(q, 2, error, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(q, 3, max_attempts);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            *parked = sqlite3_column_int(q, 0);
            rc = sqlite3_step(q);
        }
        sqlite3_reset(q);
    }
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot record an outbox failure: %s.", tp_store_errmsg(s));
        tp_store_rollback(s);
        return TP_ERR_STORAGE;
    }
    return tp_store_commit(s, msg);
}

static const char sql_entry[] =
    "SELECT id, event_id, kind, member, points, attempts, parked, created_ms, last_error,"
    " CASE WHEN kind = 'ledger' THEN COALESCE(json_extract(payload, '$.receipt'), '')"
    " ELSE '' END, dismissed_ms FROM outbox WHERE id = ?1 AND delivered_ms IS NULL";

/* One row of sql_entry (or sql_list) as the ABI's entry. */
static void entry_of(sqlite3_stmt *q, tp_queue_entry *e)
{
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(q, 0);
    tp_copy(e->event_id, sizeof e->event_id, (const char *)sqlite3_column_text(q, 1));
    tp_copy(e->kind, sizeof e->kind, (const char *)sqlite3_column_text(q, 2));
    tp_copy(e->member, sizeof e->member, (const char *)sqlite3_column_text(q, 3));
    e->points = sqlite3_column_int64(q, 4);
    e->attempts = sqlite3_column_int(q, 5);
    e->parked = sqlite3_column_int(q, 6);
    e->created_ms = sqlite3_column_int64(q, 7);
    tp_copy(e->last_error, sizeof e->last_error, (const char *)sqlite3_column_text(q, 8));
    tp_copy(e->receipt, sizeof e->receipt, (const char *)sqlite3_column_text(q, 9));
}

/* Reads undelivered row `id`: 1 found (*dismissed set), 0 not, -1 error. */
static int entry_get(tp_store *s, int64_t id, tp_queue_entry *e, int *dismissed)
{
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_ENTRY, sql_entry);
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        entry_of(q, e);
        *dismissed = sqlite3_column_type(q, 10) != SQLITE_NULL;
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Why park/unpark/dismiss found nothing to change. */
static tp_status no_such_entry(tp_store *s, int64_t id, tp_message *msg)
{
    tp_queue_entry e;
    int dismissed = 0;
    if (entry_get(s, id, &e, &dismissed) == 1 && dismissed) {
        tp_msg_set(msg, "Outbox entry %lld was dismissed: it is resolved for good and is never "
                   "sent.", (long long)id);
        return TP_ERR_STATE;
    }
    tp_msg_set(msg, "There is no undelivered outbox entry %lld (see `tillpoints queue list`).",
               (long long)id);
    return TP_ERR_NOT_FOUND;
}

static const char sql_dismiss[] = "UPDATE outbox SET dismissed_ms = ?2 WHERE id = ?1"
                                  " AND parked = 1 AND delivered_ms IS NULL"
                                  " AND dismissed_ms IS NULL";

tp_status tp_outbox_dismiss(tp_store *s, int64_t id, int64_t now_ms, tp_queue_entry *entry,
                            tp_message *msg)
{
    int dismissed = 0;
    int found = entry_get(s, id, entry, &dismissed);
    if (found < 0) {
        tp_msg_set(msg, "Cannot read outbox entry %lld: %s.", (long long)id, tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (found == 0 || dismissed)
        return no_such_entry(s, id, msg);
    if (!entry->parked) {
        tp_msg_set(msg, "Outbox entry %lld is still waiting to be sent, not parked: only a "
                   "parked entry can be dismissed (park it first with `tillpoints queue park "
                   "%lld`).", (long long)id, (long long)id);
        return TP_ERR_STATE;
    }
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_DISMISS, sql_dismiss);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int64(q, 2, now_ms);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    if (rc != SQLITE_DONE || sqlite3_changes(tp_store_db(s)) != 1) {
        tp_msg_set(msg, "Cannot dismiss outbox entry %lld: %s.", (long long)id,
                   tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

static const char sql_park[] =
    "UPDATE outbox SET parked = ?2, attempts = CASE WHEN ?2 = 0 THEN 0 ELSE attempts END,"
    " last_error = CASE WHEN ?2 = 1 AND last_error = '' THEN 'parked by hand'"
    " ELSE last_error END WHERE id = ?1 AND delivered_ms IS NULL AND dismissed_ms IS NULL";

tp_status tp_outbox_set_parked(tp_store *s, int64_t id, int parked, tp_message *msg)
{
    if (tp_store_begin(s, msg) != TP_OK)
        return TP_ERR_STORAGE;
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_SET_PARKED, sql_park);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int(q, 2, parked ? 1 : 0);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot change outbox entry %lld: %s.", (long long)id,
                   tp_store_errmsg(s));
        tp_store_rollback(s);
        return TP_ERR_STORAGE;
    }
    if (sqlite3_changes(tp_store_db(s)) == 0) {
        tp_store_rollback(s);
        return no_such_entry(s, id, msg);
    }
    if (parked == 0 && tp_sync_state_set(s, "retry_ms", tp_now_ms()) != TP_OK) {
        tp_msg_set(msg, "Cannot record the retry: %s.", tp_store_errmsg(s));
        tp_store_rollback(s);
        return TP_ERR_STORAGE;
    }
    return tp_store_commit(s, msg);
}

static const char sql_retry[] =
    "UPDATE outbox SET attempts = 0 WHERE delivered_ms IS NULL AND parked = 0 AND attempts > 0";

tp_status tp_outbox_retry(tp_store *s, int64_t now_ms, uint64_t *rows, tp_message *msg)
{
    if (tp_store_begin(s, msg) != TP_OK)
        return TP_ERR_STORAGE;
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_RETRY, sql_retry);
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    if (q)
        sqlite3_reset(q);
    if (rows)
        *rows = rc == SQLITE_DONE ? (uint64_t)sqlite3_changes(tp_store_db(s)) : 0;
    if (rc != SQLITE_DONE || tp_sync_state_set(s, "retry_ms", now_ms) != TP_OK) {
        tp_msg_set(msg, "Cannot ask for a retry: %s.", tp_store_errmsg(s));
        tp_store_rollback(s);
        return TP_ERR_STORAGE;
    }
    return tp_store_commit(s, msg);
}

tp_status tp_sync_state_get(tp_store *s, const char *key, int64_t *value)
{
    *value = 0;
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_STATE_GET, sql_state_get);
    if (!q)
        return TP_ERR_STORAGE;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? TP_OK : TP_ERR_STORAGE;
}

tp_status tp_sync_state_set(tp_store *s, const char *key, int64_t value)
{
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_STATE_SET, sql_state_set);
    if (!q)
        return TP_ERR_STORAGE;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, value);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? TP_OK : TP_ERR_STORAGE;
}

static const char sql_link_get[] =
    "SELECT state, status, error, error_ms, next_attempt_ms, updated_ms FROM sync_link"
    " WHERE id = 1";
static const char sql_link_put[] =
    "UPDATE sync_link SET state = ?1, status = ?2, error = ?3, error_ms = ?4,"
    " next_attempt_ms = ?5, updated_ms = ?6 WHERE id = 1";

tp_status tp_sync_link_get(tp_store *s, tp_sync_link *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_SYNC_LINK_GET, sql_link_get);
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        out->state = (tp_sync_state)sqlite3_column_int(q, 0);
        out->status = sqlite3_column_int(q, 1);
        const unsigned char *t = sqlite3_column_text(q, 2);
        tp_copy(out->error, sizeof out->error, t ? (const char *)t : "");
        out->error_ms = sqlite3_column_int64(q, 3);
        out->next_attempt_ms = sqlite3_column_int64(q, 4);
        out->updated_ms = sqlite3_column_int64(q, 5);
    }
    if (q)
        sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? TP_OK : TP_ERR_STORAGE;
}

tp_status tp_sync_link_put(tp_store *s, const tp_sync_link *link, tp_message *msg)
{
    if (tp_store_begin(s, msg) != TP_OK)
        return TP_ERR_STORAGE;
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_SYNC_LINK_PUT, sql_link_put);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_int(q, 1, (int)link->state);
        sqlite3_bind_int(q, 2, link->status);
        sqlite3_bind_text(q, 3, link->error, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 4, link->error_ms);
        sqlite3_bind_int64(q, 5, link->next_attempt_ms);
        sqlite3_bind_int64(q, 6, link->updated_ms);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
    }
    if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot record the state of the link to the central database: %s.",
                   tp_store_errmsg(s));
        tp_store_rollback(s);
        return TP_ERR_STORAGE;
    }
    return tp_store_commit(s, msg);
}

static const char sql_counts[] =
    "SELECT (SELECT count(*) FROM outbox WHERE delivered_ms IS NULL AND parked = 0),"
    " (SELECT count(*) FROM outbox WHERE delivered_ms IS NULL AND parked = 1"
    "  AND dismissed_ms IS NULL),"
    " (SELECT count(*) FROM outbox WHERE delivered_ms IS NOT NULL),"
    " (SELECT count(*) FROM outbox WHERE delivered_ms IS NULL AND parked = 0 AND attempts > 0),"
    " (SELECT min(created_ms) FROM outbox WHERE delivered_ms IS NULL AND parked = 0),"
    " (SELECT last_error FROM outbox WHERE delivered_ms IS NULL AND last_error <> ''"
    "  AND dismissed_ms IS NULL ORDER BY id DESC LIMIT 1),"
    " (SELECT count(*) FROM outbox WHERE dismissed_ms IS NOT NULL)";

tp_status tp_outbox_counts_get(tp_store *s, tp_outbox_counts *out, tp_message *msg)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_COUNTS_GET, sql_counts);
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        out->pending = (uint64_t)sqlite3_column_int64(q, 0);
        out->parked = (uint64_t)sqlite3_column_int64(q, 1);
        out->delivered = (uint64_t)sqlite3_column_int64(q, 2);
        out->failing = (uint64_t)sqlite3_column_int64(q, 3);
        out->oldest_pending_ms = sqlite3_column_int64(q, 4);
        const unsigned char *t = sqlite3_column_text(q, 5);
        tp_copy(out->last_error, sizeof out->last_error, t ? (const char *)t : "");
        out->dismissed = (uint64_t)sqlite3_column_int64(q, 6);
    }
    if (q)
        sqlite3_reset(q);
    if (rc != SQLITE_ROW) {
        tp_msg_set(msg, "Cannot read the outbox: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

static const char sql_list[] =
    "SELECT id, event_id, kind, member, points, attempts, parked, created_ms, last_error,"
    " CASE WHEN kind = 'ledger' THEN COALESCE(json_extract(payload, '$.receipt'), '')"
    " ELSE '' END FROM outbox WHERE delivered_ms IS NULL AND dismissed_ms IS NULL"
    " AND (?1 = 0 OR parked = 1) ORDER BY id LIMIT ?2";

tp_status tp_outbox_list(tp_store *s, int parked_only, tp_queue_entry *out, size_t cap,
                         size_t stride, size_t *count, tp_message *msg)
{
    *count = 0;
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_OUTBOX_LIST, sql_list);
    if (!q) {
        tp_msg_set(msg, "Cannot read the outbox: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    sqlite3_bind_int(q, 1, parked_only ? 1 : 0);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)cap);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && *count < cap) {
        tp_queue_entry e;
        entry_of(q, &e);
        tp_abi_put(out, stride, (*count)++, &e, sizeof e, 0);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot read the outbox: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}
