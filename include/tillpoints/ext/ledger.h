/*
 * ledger.h — the plugin's ledger extension, "tillpoints.ledger/1": the
 * activity log, manual adjustments and bulk adjustments.
 *
 * [thread-safe, blocking], like every manager-side extension (admin.h).
 * Every write is one transaction with its audit record (ext/audit.h).
 */
#ifndef TILLPOINTS_EXT_LEDGER_H
#define TILLPOINTS_EXT_LEDGER_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_LEDGER "tillpoints.ledger/1"

/* Ledger entry kinds, as bits for filters and as names in rows:
 * "earn" (shown as issued), "retro", "adjust", "bulk", "import",
 * "reversal", "expire", and since 2.5 "redeem" and "unredeem". */
#define TP_KIND_EARN 0x01u
#define TP_KIND_RETRO 0x02u
#define TP_KIND_ADJUST 0x04u
#define TP_KIND_BULK 0x08u
#define TP_KIND_IMPORT 0x10u
#define TP_KIND_REVERSAL 0x20u
#define TP_KIND_EXPIRE 0x40u
#define TP_KIND_ALL 0x7fu /* the kinds of 2.0..2.4; 0 asks for every kind */
/* 2.5: points spent at the till ("redeem", negative) and points a refund
 * or a manager's reversal gave back from a redemption ("unredeem"). */
#define TP_KIND_REDEEM 0x80u
#define TP_KIND_UNREDEEM 0x100u

typedef struct tp_activity_query {
    uint32_t struct_size;    /* sizeof(tp_activity_query) */
    uint32_t kinds;          /* TP_KIND_* bits; 0 = all */
    const char *member;      /* member code (or card, app id, phone, email),
                                or NULL for all members */
    const char *staff;       /* or NULL */
    const char *location;    /* or NULL */
    int64_t from_ms;         /* inclusive; 0 = no lower bound */
    int64_t to_ms;           /* exclusive; 0 = no upper bound */
    int64_t before_id;       /* page cursor: entries older than this id;
                                0 = start at the newest */
} tp_activity_query;

/* Filled by the plugin, singly (adjust) or as an array element (activity,
 * with a stride). */
typedef struct tp_activity_row {
    uint32_t struct_size;
    int64_t id;              /* pass the last row's id as before_id for the
                                next page */
    int64_t time_ms;
    char member_code[TP_MEMBER_CODE_MAX + 1];
    char member_name[TP_NAME_MAX + 1];
    int64_t points;
    char kind[TP_KIND_NAME_MAX + 1];
    char staff[TP_STAFF_ID_MAX + 1];
    char location[TP_LOCATION_MAX + 1];
    char receipt[TP_RECEIPT_ID_MAX + 1];
    char reason[TP_REASON_MAX + 1];
    char comment[TP_COMMENT_MAX + 1];
    int64_t reverses_id;     /* for reversals, the entry undone; for
                                unredeem, the redemption it gives back
                                from; else 0 */
    char approver[TP_MANAGER_ID_MAX + 1];
                             /* the approver of the audit record that covers
                                the entry: the manager who approved a retro
                                credit or a correction (both of its
                                entries); the staff member who made an
                                adjustment, bulk adjustment or import; ""
                                for checkout's awards and refunds */
} tp_activity_row;

typedef struct tp_adjustment {
    uint32_t struct_size; /* sizeof(tp_adjustment) */
    const char *member;   /* member code (or card, app id, phone, email) */
    int64_t points;       /* +/-, non-zero, |points| <= TP_ADJUST_MAX */
    const char *reason;   /* required, 1..TP_REASON_MAX bytes */
    const char *comment;  /* customer-visible, may be NULL */
    const char *staff;    /* required, 1..TP_STAFF_ID_MAX bytes */
} tp_adjustment;

typedef struct tp_bulk_adjustment {
    uint32_t struct_size;       /* sizeof(tp_bulk_adjustment) */
    const char *const *members; /* member codes; NULL with all_members */
    size_t member_count;
    int32_t all_members;        /* non-zero: every member */
    int64_t points;
    const char *reason;
    const char *comment;
    const char *staff;
} tp_bulk_adjustment;

typedef struct tp_bulk_result {
    uint32_t struct_size;
    uint64_t members;      /* members adjusted */
    int64_t points_total;  /* sum of all entries written */
    char batch_id[TP_BATCH_ID_MAX + 1]; /* the id shared by the batch's entries */
} tp_bulk_result;

typedef struct tp_ledger_ext {
    uint32_t struct_size; /* sizeof(tp_ledger_ext) in the plugin's build */

    /* The activity log (all members, or one member's history), newest
     * first, keyset-paged: up to `cap` rows (1..TP_ACTIVITY_PAGE_MAX) of
     * `stride` bytes (sizeof(tp_activity_row)) into `rows`; *count
     * receives how many were written. */
    tp_status (*activity)(const tp_plugin *plugin, const tp_activity_query *query,
                          tp_activity_row *rows, size_t cap, size_t stride,
                          size_t *count, tp_message *msg);

    /* A manual adjustment. Refused (TP_ERR_STATE) when it would take the
     * balance below zero, unless the config allows negative balances.
     * Written with an audit record ("adjust"; staff is actor and approver)
     * in the same transaction. `entry` (may be NULL) receives the entry. */
    tp_status (*adjust)(const tp_plugin *plugin, const tp_adjustment *adj,
                        tp_activity_row *entry, tp_message *msg);

    /* One adjustment for many members. Everything is checked first
     * (reading only): with an unknown member, one listed twice or a
     * balance that would go below zero, nothing is written. Then the
     * entries are written in short transactions (chunks), each with an
     * audit record ("bulk") covering its entries, so tills are never held
     * up for long. An interrupted batch is finished by the same request
     * again (same points, reason, comment and members): members it had
     * adjusted are skipped, and `msg` then says so; otherwise `msg` is
     * empty on success. */
    tp_status (*bulk_adjust)(const tp_plugin *plugin, const tp_bulk_adjustment *bulk,
                             tp_progress_fn progress, void *user,
                             tp_bulk_result *result, tp_message *msg);
} tp_ledger_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_LEDGER_H */
