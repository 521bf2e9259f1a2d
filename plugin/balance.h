/*
 * balance.h — the one balance a terminal shows: the rule of
 * docs/DESIGN.md §8, "One balance", and nowhere else.
 *
 * Every balance that leaves the plugin (tp_member_info.shown_balance,
 * tp_event.shown_balance, member_balance's view, the sentences of the
 * lookup, award, refund and retro-credit outcomes) comes from
 * tp_balance_get. Redemption will check against the same figure.
 */
#ifndef TP_BALANCE_H
#define TP_BALANCE_H

#include <stdint.h>

#include "config.h"
#include "store.h"
#include "tillpoints/ext/admin.h"
#include "util.h" /* TP_MUST_CHECK */

struct tp_sync;

/* The values of balance_source (tp_member_info, tp_event, tp_balance_view). */
#define TP_BALANCE_LOCAL "local"                         /* no [sync]: the ledger */
#define TP_BALANCE_CENTRAL "central"                     /* the central figure, fresh */
#define TP_BALANCE_CONFIRMED_PENDING "confirmed+pending" /* last confirmed + pending */

typedef struct tp_balance {
    int64_t shown;     /* what to show: confirmed + pending (standalone: local) */
    int64_t local;     /* this terminal's ledger sum for the member */
    int64_t confirmed; /* the part of `shown` the central database holds */
    int64_t pending;   /* this terminal's entries not yet delivered, parked ones aside */
    int64_t refused;   /* parked entries: in `local`, in nothing shown */
    int64_t as_of_ms;  /* when the central figure was last confirmed; 0 never or standalone */
    int64_t link_ms;   /* when the central database last answered (any process); 0 never */
    const char *source; /* one of the TP_BALANCE_* strings above (static) */
} tp_balance;

/* Fills *out for member `code` whose ledger sum on this terminal is
 * `ledger`, reading on `s` (the caller's connection, any thread; inside the
 * caller's transaction when one is open, so an entry just written counts
 * as pending). `sync` is this process's sync thread for the freshness of
 * the link, or NULL when the caller may not touch it (the writer and
 * lookup threads: the sync thread is stopped before them at destroy), and
 * then only the database says how fresh the link is. Standalone (no [sync]
 * postgres) it reads nothing. TP_OK, or TP_ERR_STORAGE with msg. */
tp_status tp_balance_get(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                         const char *code, int64_t ledger, tp_balance *out,
                         tp_message *msg) TP_MUST_CHECK;

/* Copies the shown balance, its as-of time and source into the 2.2 fields
 * of a member info (whose code and balance are already set). */
void tp_balance_to_member_info(const tp_balance *b, tp_member_info *info);

/* The same, into an outcome that becomes an event (its `balance` set). */
void tp_balance_to_outcome(const tp_balance *b, tp_outcome *o);

/* The same, into member_balance's view. */
void tp_balance_to_view(const tp_balance *b, const char *code, tp_balance_view *view);

#endif
