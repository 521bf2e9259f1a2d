/*
 * balance.c — the one balance a terminal shows (see balance.h). The rule is
 * written in docs/DESIGN.md §8, "One balance"; this is its only copy.
 *
 * Standalone, the balance is this terminal's ledger sum, as it always was.
 * With [sync], per member:
 *
 *   pending   = this terminal's ledger entries not yet delivered, not parked
 *   refused   = its entries parked (refused centrally, or parked by hand):
 *               they count in nothing shown until a manager unparks them
 *   dismissed = parked entries a manager resolved for good (queue
 *               dismiss): they count in nothing shown, ever
 *   confirmed = the central balance last received (central_balances), or,
 *               when the central database has never sent one for the
 *               member, this terminal's delivered entries:
 *               local - pending - refused - dismissed
 *   shown     = confirmed + pending
 *
 * Why the second branch of `confirmed`: a push stores the balances the
 * central database returned in the same SQLite transaction that marks the
 * rows delivered (sync.c), and a push returns the balance of every member
 * of its batch, also when the central database already had the events (a
 * batch sent again after a lost answer). A member with delivered entries
 * and no central_balances row is then one whose rows were delivered before
 * that rule (an older terminal database); counting confirmed as 0 would
 * hide entries the central database already holds.
 *
 * Freshness: as_of_ms is when the central figure was last known current:
 * when the member's row arrived, or the last pull that brought anything (a
 * pull brings every balance changed since the one before, so after it each
 * row is current as of then). The source says "central" only when nothing
 * is pending and the link answered within max(2 x pull_interval_ms, 10 s)
 * (this process's sync thread, when the caller may ask it, or the time the
 * database records for the last push or pull of any process).
 *
 * Cost: one statement on the caller's connection: two primary-key reads
 * (central_balances, sync_state) and three sums over the member's open
 * outbox rows through the partial index outbox_member_open.
 */
#include "balance.h"

#include <string.h>

#include <sqlite3.h>

#include "sync.h"

static const char sql_shown[] =
    "SELECT (SELECT balance FROM central_balances WHERE code = ?1),"
    " (SELECT pulled_ms FROM central_balances WHERE code = ?1),"
    " (SELECT COALESCE(SUM(points), 0) FROM outbox WHERE member = ?1 AND parked = 0"
    "  AND delivered_ms IS NULL AND kind = 'ledger'),"
    " (SELECT COALESCE(SUM(points), 0) FROM outbox WHERE member = ?1 AND parked = 1"
    "  AND delivered_ms IS NULL AND kind = 'ledger' AND dismissed_ms IS NULL),"
    " (SELECT value FROM sync_state WHERE key = 'last_pull_ms'),"
    " (SELECT value FROM sync_state WHERE key = 'last_success_ms'),"
    " (SELECT COALESCE(SUM(points), 0) FROM outbox WHERE member = ?1 AND parked = 1"
    "  AND delivered_ms IS NULL AND kind = 'ledger' AND dismissed_ms IS NOT NULL)";

tp_status tp_balance_get(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                         const char *code, int64_t ledger, tp_balance *out, tp_message *msg)
{
    memset(out, 0, sizeof *out);
    out->shown = out->local = ledger;
    out->source = TP_BALANCE_LOCAL;
    if (!cfg->sync.postgres[0])
        return TP_OK;

    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_BALANCE_SHOWN, sql_shown);
    int rc = SQLITE_ERROR, has_central = 0;
    int64_t central = 0, pulled_ms = 0, last_pull_ms = 0, dismissed = 0;
    if (q) {
        sqlite3_bind_text(q, 1, code, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            has_central = sqlite3_column_type(q, 0) != SQLITE_NULL;
            central = sqlite3_column_int64(q, 0);
            pulled_ms = sqlite3_column_int64(q, 1);
            out->pending = sqlite3_column_int64(q, 2);
            out->refused = sqlite3_column_int64(q, 3);
            last_pull_ms = sqlite3_column_int64(q, 4);
            out->link_ms = sqlite3_column_int64(q, 5);
            dismissed = sqlite3_column_int64(q, 6);
        }
        sqlite3_reset(q);
        sqlite3_clear_bindings(q); /* `code` is the caller's */
    }
    if (rc != SQLITE_ROW) {
        tp_msg_set(msg, "Cannot read the member's balance: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }

    out->confirmed =
        has_central ? central : ledger - out->pending - out->refused - dismissed;
    out->shown = out->confirmed + out->pending;
    if (has_central)
        out->as_of_ms = pulled_ms > last_pull_ms ? pulled_ms : last_pull_ms;

    int online = 0;
    if (sync) {
        tp_sync_snapshot snap;
        tp_sync_snapshot_get(sync, &snap);
        online = snap.state == TP_SYNC_ONLINE;
        if (snap.last_success_ms > out->link_ms)
            out->link_ms = snap.last_success_ms;
    }
    int64_t fresh = 2 * (int64_t)cfg->sync.pull_interval_ms;
    if (fresh < 10000)
        fresh = 10000;
    if (out->link_ms && tp_now_ms() - out->link_ms < fresh)
        online = 1;
    out->source = has_central && online && out->pending == 0 ? TP_BALANCE_CENTRAL
                                                              : TP_BALANCE_CONFIRMED_PENDING;
    return TP_OK;
}

void tp_balance_to_member_info(const tp_balance *b, tp_member_info *info)
{
    info->shown_balance = b->shown;
    info->balance_as_of_ms = b->as_of_ms;
    tp_copy(info->balance_source, sizeof info->balance_source, b->source);
}

void tp_balance_to_view(const tp_balance *b, const char *code, tp_balance_view *view)
{
    memset(view, 0, sizeof *view);
    tp_copy(view->code, sizeof view->code, code);
    view->balance = b->shown;
    view->local = b->local;
    view->confirmed = b->confirmed;
    view->pending = b->pending;
    view->refused = b->refused;
    view->confirmed_ms = b->link_ms;
    tp_copy(view->source, sizeof view->source, b->source);
}

void tp_balance_to_outcome(const tp_balance *b, tp_outcome *o)
{
    o->shown_balance = b->shown;
    o->balance_as_of_ms = b->as_of_ms;
    tp_copy(o->balance_source, sizeof o->balance_source, b->source);
}
