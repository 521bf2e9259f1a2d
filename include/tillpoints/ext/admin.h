/*
 * admin.h — the plugin's admin extension, "tillpoints.admin/1": manager and
 * back-office calls (members, balances, activity log, adjustments, bulk
 * adjustments, CSV import/export, verification).
 *
 * Unlike checkout, these calls read and write the database before they
 * return, so they may wait on the disk. They are [thread-safe, blocking]:
 * a POS calls them from a worker thread or a back-office process, never
 * from the thread that runs the checkout screen. The `tillpoints` CLI is
 * such a host. Every write is one transaction: it happens whole or not at
 * all. Out-structs and arrays are caller-allocated; callbacks are called on
 * the calling thread, during the call.
 */
#ifndef TILLPOINTS_EXT_ADMIN_H
#define TILLPOINTS_EXT_ADMIN_H

#include "../tillpoints.h"
#include "events.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_ADMIN "tillpoints.admin/1"

#define TP_PHONE_MAX 32    /* E.164 as stored: "+4915112345678" */
#define TP_EMAIL_MAX 128
#define TP_REASON_MAX 200  /* internal reason, for managers */
#define TP_COMMENT_MAX 200 /* customer-visible comment */
#define TP_KIND_MAX 16
#define TP_ADJUST_MAX 100000000LL /* |points| of one adjustment */

typedef struct tp_member_new {
    const char *code;   /* 1..TP_MEMBER_CODE_MAX bytes: letters, digits, -_. */
    const char *name;   /* 0..TP_NAME_MAX bytes, may be NULL */
    const char *phone;  /* as typed; normalised to E.164 with the configured
                           default country; may be NULL */
    const char *email;  /* normalised (trimmed, lower case); may be NULL */
    const char *app_id; /* the loyalty app's id for the member; may be NULL */
} tp_member_new;

typedef struct tp_member_info {
    char code[TP_MEMBER_CODE_MAX + 1];
    char name[TP_NAME_MAX + 1];
    char phone[TP_PHONE_MAX + 1];   /* E.164 or "" */
    char email[TP_EMAIL_MAX + 1];   /* or "" */
    char app_id[TP_MEMBER_CODE_MAX + 1];
    int64_t balance;                /* sum of the member's ledger */
    int64_t created_ms;
} tp_member_info;

/* Ledger entry kinds, as bits for filters and as names in rows:
 * "earn" (shown as issued), "retro", "adjust", "bulk", "import",
 * "reversal", "expire". */
#define TP_KIND_EARN 0x01u
#define TP_KIND_RETRO 0x02u
#define TP_KIND_ADJUST 0x04u
#define TP_KIND_BULK 0x08u
#define TP_KIND_IMPORT 0x10u
#define TP_KIND_REVERSAL 0x20u
#define TP_KIND_EXPIRE 0x40u
#define TP_KIND_ALL 0x7fu

typedef struct tp_activity_query {
    uint32_t kinds;          /* TP_KIND_* bits; 0 = all */
    const char *member;      /* member code (or card, app id, phone, email),
                                or NULL for all members */
    const char *staff;       /* or NULL */
    const char *location;    /* or NULL */
    int64_t from_ms;         /* inclusive; 0 = no lower bound */
    int64_t to_ms;           /* exclusive; 0 = no upper bound */
    int64_t before_id;       /* page cursor: entries older than this id;
                                0 = start at the newest */
    uint32_t limit;          /* rows wanted, 1..1000 */
} tp_activity_query;

typedef struct tp_activity_row {
    int64_t id;              /* pass the last row's id as before_id for the
                                next page */
    int64_t time_ms;
    char member_code[TP_MEMBER_CODE_MAX + 1];
    char member_name[TP_NAME_MAX + 1];
    int64_t points;
    char kind[TP_KIND_MAX + 1];
    char staff[64 + 1];
    char location[32 + 1];
    char receipt[64 + 1];
    char reason[TP_REASON_MAX + 1];
    char comment[TP_COMMENT_MAX + 1];
    int64_t reverses_id;     /* for reversals, the entry undone; else 0 */
    char approver[64 + 1];   /* the approver of the audit record that covers
                                the entry: the manager who approved a retro
                                credit or a correction (both of its
                                entries); the staff member who made an
                                adjustment, bulk adjustment or import; ""
                                for checkout's awards and refunds */
} tp_activity_row;

typedef struct tp_adjustment {
    const char *member;   /* member code (or card, app id, phone, email) */
    int64_t points;       /* +/-, non-zero, |points| <= TP_ADJUST_MAX */
    const char *reason;   /* required, 1..TP_REASON_MAX bytes */
    const char *comment;  /* customer-visible, may be NULL */
    const char *staff;    /* required, 1..64 bytes */
} tp_adjustment;

typedef struct tp_bulk_adjustment {
    const char *const *members; /* member codes; NULL with all_members */
    size_t member_count;
    int all_members;            /* non-zero: every member */
    int64_t points;
    const char *reason;
    const char *comment;
    const char *staff;
} tp_bulk_adjustment;

/* Progress of a long call: `done` of `total` rows (total 0 = unknown). */
typedef void (*tp_progress_fn)(void *user, uint64_t done, uint64_t total);

/* One problem found in a row of an input file or in the database. */
typedef void (*tp_problem_fn)(void *user, uint64_t line, const char *sentence);

typedef struct tp_bulk_result {
    uint64_t members;      /* members adjusted */
    int64_t points_total;  /* sum of all entries written */
    char batch_id[64 + 1]; /* the id shared by the batch's entries */
} tp_bulk_result;

#define TP_IMPORT_DRY_RUN 0x1u     /* check everything, write nothing */
#define TP_IMPORT_SKIP_INVALID 0x2u /* apply the valid rows anyway */

typedef struct tp_import_result {
    uint64_t rows;          /* data rows read */
    uint64_t invalid;       /* rows refused (each reported via problem) */
    uint64_t members_created;
    uint64_t entries;       /* ledger entries written (or that would be) */
    int64_t points_total;
    int applied;            /* non-zero when the database was changed */
} tp_import_result;

typedef struct tp_verify_result {
    uint64_t checks;     /* invariants checked */
    uint64_t problems;   /* violations found (each reported via problem) */
    uint64_t entries;    /* ledger rows */
    uint64_t members;
} tp_verify_result;

typedef struct tp_manager_info {
    char id[64 + 1];
    char name[TP_NAME_MAX + 1];
    int failures;            /* wrong PINs since the last right one; every
                                [retro] pin_max_failures-th locks, each lock
                                twice as long as the one before (to 24 h) */
    int64_t locked_until_ms; /* 0, or UTC ms when the lockout ends */
    int64_t created_ms;
} tp_manager_info;

/* sync: the outbox and the central database (docs/DESIGN.md §8). */
typedef enum tp_sync_state {
    TP_SYNC_OFF = 0,        /* no [sync] postgres: standalone */
    TP_SYNC_CONNECTING = 1, /* first attempt not finished yet */
    TP_SYNC_ONLINE = 2,     /* connected; the outbox drains */
    TP_SYNC_OFFLINE = 3,    /* unreachable or refused; retried with backoff */
    TP_SYNC_ERROR = 4       /* reachable but unusable (credentials, schema
                               version); retried with backoff; see last_error */
} tp_sync_state;

typedef struct tp_queue_status {
    int configured;             /* [sync] postgres is set */
    tp_sync_state state;        /* this process's sync thread */
    uint64_t pending;           /* waiting to be sent */
    uint64_t parked;            /* refused for good or parked by hand */
    uint64_t delivered;
    uint64_t failing;           /* pending rows that failed at least once */
    int64_t oldest_pending_ms;  /* UTC ms the oldest pending row was written; 0 none */
    int64_t last_success_ms;    /* last central commit or pull (any process); 0 never */
    int64_t last_pull_ms;
    char last_error[256];       /* the link's last error, or the newest row error; "" */
} tp_queue_status;

typedef struct tp_queue_entry {
    int64_t id;                 /* for queue_park / queue_unpark */
    char event_id[256];
    char kind[16];              /* ledger, member, card, audit */
    char member[TP_MEMBER_CODE_MAX + 1];
    int64_t points;
    int attempts;
    int parked;
    int64_t created_ms;
    char last_error[256];
} tp_queue_entry;

/* A member's balance as a synced terminal shows it. */
typedef struct tp_balance_view {
    char code[TP_MEMBER_CODE_MAX + 1];
    int64_t balance;      /* what to show: see source */
    int64_t local;        /* sum of this terminal's own ledger */
    int64_t confirmed;    /* the central balance as last pulled or pushed */
    int64_t pending;      /* this terminal's entries the central has not confirmed */
    int64_t refused;      /* this terminal's entries the central refused (parked) */
    int64_t confirmed_ms; /* when the link last succeeded; 0 never */
    char source[24];      /* "local" (no sync): balance = local;
                             "central": confirmed, nothing pending, link up;
                             "confirmed+pending": confirmed + pending, the
                             link is down or entries wait */
} tp_balance_view;

typedef struct tp_admin_ext {
    /* Adds a member; `out` (may be NULL) receives it as stored.
     * TP_ERR_DUPLICATE when the code or app id is already a code, card or
     * app id. Phone and email may be shared (a family); a lookup by a
     * shared one is then refused as ambiguous. */
    tp_status (*member_add)(const tp_plugin *plugin, const tp_member_new *member,
                            tp_member_info *out, tp_message *msg);

    /* Adds an alternate code (a card) to an existing member. */
    tp_status (*member_add_card)(const tp_plugin *plugin, const char *member,
                                 const char *card_code, tp_message *msg);

    /* Looks a member up by code, card, app id, phone (any format) or
     * email, with balance. */
    tp_status (*member_get)(const tp_plugin *plugin, const char *key,
                            tp_member_info *out, tp_message *msg);

    /* Members whose name starts with `query` (case-insensitive), or whose
     * code, card, app id, phone or email is `query`. Up to `cap` rows into
     * `out`; *count receives how many. */
    tp_status (*member_find)(const tp_plugin *plugin, const char *query,
                             tp_member_info *out, size_t cap, size_t *count,
                             tp_message *msg);

    /* The activity log (all members, or one member's history), newest
     * first, keyset-paged. */
    tp_status (*activity)(const tp_plugin *plugin, const tp_activity_query *query,
                          tp_activity_row *rows, size_t *count, tp_message *msg);

    /* A manual adjustment. Refused (TP_ERR_STATE) when it would take the
     * balance below zero, unless the config allows negative balances.
     * Written with an audit record ("adjust"; staff is actor and approver)
     * in the same transaction. */
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

    /* Imports a CSV file (header: code,name,phone,email,points,reason —
     * see the README). Every row is checked first, reading only (a dry
     * run is that check); with any invalid row nothing is applied unless
     * TP_IMPORT_SKIP_INVALID. The rows are then written in short
     * transactions (chunks), each with an audit record ("import", by
     * `staff`) covering its entries. Re-importing the same file adds
     * nothing twice, which also finishes an interrupted import; `problem`
     * then hears, with line 0, how many rows an earlier run had written. */
    tp_status (*import_csv)(const tp_plugin *plugin, const char *path, uint32_t flags,
                            const char *staff, tp_progress_fn progress,
                            tp_problem_fn problem, void *user,
                            tp_import_result *result, tp_message *msg);

    /* Writes every member with their balance in the import format. */
    tp_status (*export_csv)(const tp_plugin *plugin, const char *path,
                            uint64_t *rows, tp_message *msg);

    /* Checks every invariant of the database (integrity, every trigger's
     * SQL text against the schema this version creates, reversals,
     * receipts earning at most once, balances, the audit chain and the
     * ledger entries each record covers, and with [sync] the central
     * database's head of this terminal's audit log when reachable); each
     * violation is reported through `problem`. TP_OK only when there are
     * none. The audit extension (ext/audit.h) also takes a head written
     * down earlier and says what the heads showed, and reports progress.
     * verify reads on a connection of its own in short read transactions
     * (config [limits] verify_step_rows): the other calls here, the forms
     * and checkout are not held up while it runs. It checks the rows that
     * existed when it began. */
    tp_status (*verify)(const tp_plugin *plugin, tp_problem_fn problem, void *user,
                        tp_verify_result *result, tp_message *msg);

    /* Waits until every accepted checkout, scan and refund has been
     * processed (its event is queued for the host), or `timeout_ms` passes
     * (TP_ERR_BUSY). */
    tp_status (*flush)(const tp_plugin *plugin, int64_t timeout_ms, tp_message *msg);

    /* Managers who approve retroactive credits, corrections and claim
     * resolutions. PINs are [retro] pin_min_digits (6 by default, never
     * fewer than 4) to 12 digits, stored as Argon2id hashes; a shorter PIN
     * is refused (TP_ERR_INVALID_ARGUMENT). `staff` is who makes the change
     * (audited). reset_pin also lifts a lockout and clears the failures. */
    tp_status (*manager_add)(const tp_plugin *plugin, const char *id, const char *name,
                             const char *pin, const char *staff, tp_message *msg);
    tp_status (*manager_reset_pin)(const tp_plugin *plugin, const char *id, const char *pin,
                                   const char *staff, tp_message *msg);
    tp_status (*manager_list)(const tp_plugin *plugin, tp_manager_info *out, size_t cap,
                              size_t *count, tp_message *msg);

    /* sync: the outbox to the central database. All [thread-safe, blocking]. */
    /* Counts and the link's state. Works without [sync] (configured = 0). */
    tp_status (*queue_status)(const tp_plugin *plugin, tp_queue_status *out, tp_message *msg);
    /* Undelivered entries, oldest first: all, or parked ones only. */
    tp_status (*queue_list)(const tp_plugin *plugin, int parked_only, tp_queue_entry *out,
                            size_t cap, size_t *count, tp_message *msg);
    /* Resets the failure counts of pending entries and asks the sync thread
     * (in any process on this database) to try now; *rows: entries reset. */
    tp_status (*queue_retry)(const tp_plugin *plugin, uint64_t *rows, tp_message *msg);
    /* Parks an entry (it stops being sent) or unparks it (sent again). */
    tp_status (*queue_park)(const tp_plugin *plugin, int64_t id, tp_message *msg);
    tp_status (*queue_unpark)(const tp_plugin *plugin, int64_t id, tp_message *msg);
    /* Creates or migrates the central schema; *from / *to: versions. */
    tp_status (*central_init)(const tp_plugin *plugin, int *from, int *to, tp_message *msg);
    /* A member's balance as a synced terminal shows it (by code, card,
     * app id, phone or email). */
    tp_status (*member_balance)(const tp_plugin *plugin, const char *key, tp_balance_view *out,
                                tp_message *msg);
} tp_admin_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_ADMIN_H */
