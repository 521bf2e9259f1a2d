/*
 * instance.h — one plugin instance: everything the plugin knows lives here
 * (no global mutable state, so several instances can share a process).
 *
 * Threads: the host's main thread owns `txns`, `next_seq` and the events
 * held back for their order (`held_*`, `lookups_settled`). The writer thread
 * owns `writer_store`, the lookup thread `reader_store`; `admin_store` is
 * shared under `admin_lock`. The event list and `lookups_posted` are shared
 * under `events_lock`.
 *
 * Bounded shutdown (workers.c tp_writer_stop): destroy() waits for the
 * writer at most [limits] shutdown_deadline_ms. If the writer is still
 * inside a commit then (a disk that does not return), destroy() takes the
 * jobs not known to be durable, writes them to `<database>.pending`
 * (sidejournal.h), tells the host which receipts were deferred, and
 * abandons the writer. From then on the writer never calls the host
 * (`host_gone`, checked under `host_gate` by every post and log) and the
 * memory it uses (this struct, `write_q`, `writer_store`) is freed by
 * whichever of destroy() and the writer finishes last (`refs`).
 */
#ifndef TP_INSTANCE_H
#define TP_INSTANCE_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "queue.h"
#include "store.h"
#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/tillpoints.h"
#include "util.h" /* TP_MUST_CHECK */

/* A redemption on an open transaction (spend.c), as the main thread knows
 * it: reserved, then confirmed or refused by an event. */
#define TP_TXN_REDEEM_MAX TP_AWARD_REDEEM_MAX /* store.h */
typedef enum tp_red_state { TP_RED_PENDING = 1, TP_RED_CONFIRMED, TP_RED_REFUSED } tp_red_state;
typedef struct tp_slot_redemption {
    uint32_t no;      /* 1..; 0: this place is free */
    tp_red_state state;
    int reward;       /* index in cfg.rewards; -1: paid with points */
    int64_t points;
    int64_t discount_minor;
} tp_slot_redemption;

typedef struct tp_txn_slot {
    int used;
    char id[TP_TXN_ID_MAX + 1];
    char staff[TP_STAFF_ID_MAX + 1];
    int code_signed; /* `code` came from a verified app pass */
    char code[TP_MEMBER_CODE_MAX + 1]; /* last member code scanned, or "" */
    uint64_t lookup_seq; /* stamp of this txn's last queued lookup, or 0 */
    /* Spending points: the member the last lookup identified (the
     * MEMBER_IDENTIFIED event of lookup_seq, delivered) and the balance it
     * showed; the redemptions made on the transaction. */
    int identified;
    char member[TP_MEMBER_CODE_MAX + 1];
    int64_t shown_balance;
    uint32_t last_no;
    tp_slot_redemption red[TP_TXN_REDEEM_MAX];
} tp_txn_slot;

typedef enum tp_job_kind {
    TP_JOB_AWARD = 1,
    TP_JOB_REFUND = 2,
    TP_JOB_RESERVE = 3, /* spend.c: hold points for an open transaction */
    TP_JOB_RELEASE = 4  /* ... and let them go */
} tp_job_kind;

/* Jobs carry the stamp the main thread gave them (next_seq) so that their
 * events can be put back in the order of the calls (entry.c). */
typedef struct tp_write_job {
    tp_job_kind kind;
    uint64_t seq;
    uint64_t after; /* the lookup whose event goes first (its seq), or 0 */
    union {
        tp_award_job award;
        tp_refund_job refund;
        tp_reserve_job reserve; /* RESERVE and RELEASE */
    } u;
} tp_write_job;

typedef struct tp_lookup_job {
    uint64_t seq;
    char txn[TP_TXN_ID_MAX + 1];
    char code[TP_MEMBER_CODE_MAX + 1];
    int is_signed; /* from a verified app pass ([scan] require_signed) */
} tp_lookup_job;

/* Which ordered stream an event belongs to (see on_main_thread in entry.c).
 * Events of no transaction (scanners, sync, storage state, disable) are
 * TP_LANE_FREE and never wait. */
typedef enum tp_lane { TP_LANE_FREE = 0, TP_LANE_LOOKUP, TP_LANE_WRITE } tp_lane;

typedef struct tp_order {
    tp_lane lane;
    uint64_t seq;   /* the job's stamp */
    uint64_t after; /* TP_LANE_WRITE: the lookup to deliver first, or 0 */
} tp_order;

typedef struct tp_event_node {
    struct tp_event_node *next;
    tp_order ord;
    tp_outcome o;
} tp_event_node;

typedef struct tp_instance {
    tp_plugin plugin; /* the public face; plugin.plugin_data == this */
    const tp_host *host;
    const tp_host_events_ext *events; /* may be NULL */
    char *config_path;                /* owned; NULL: defaults only */
    tp_config cfg;
    int initialised;
    int init_tried;  /* init() may run once per instance */
    atomic_int disabled;

    tp_txn_slot *txns; /* cfg.max_open_transactions slots; main thread */
    /* The slots holding redemptions (indexes into txns), so that what this
     * till holds for a member is found without walking every open sale
     * (spend.c); main thread. */
    int *spending;
    int n_spending;
    /* The offers of the MEMBER_IDENTIFIED event being delivered (spend.c);
     * main thread. */
    tp_reward_offer offer_buf[TP_REWARD_OFFERS_MAX];
    uint64_t next_seq; /* last stamp given to a job; main thread */

    tp_queue write_q; /* tp_write_job */
    tp_queue lookup_q; /* tp_lookup_job */
    tp_store *writer_store;
    tp_store *reader_store;
    tp_store *admin_store;
    pthread_mutex_t admin_lock;
    pthread_t writer, reader;
    int writer_started, reader_started;

    struct tp_scanners *scanners; /* NULL without [scanner] sections, and in a
                                     back-office host */
    int back_office;              /* the host is a back office
                                     (ext/hostrole.h): no scanners */
    struct tp_sync *sync;         /* sync: NULL without [sync] postgres (sync.c) */
    struct tp_confirm *confirm;   /* redemptions confirmed centrally (confirm.c):
                                     NULL without [sync] postgres, and in a
                                     back office */
    struct tp_stats_cache *stats_cache; /* the dashboard's days (stats.c); under
                                           admin_lock; NULL until asked */
    struct tp_expiry_sched *expiry_sched; /* the daily expiry run (expiry.c);
                                             NULL when off or a back office */

    /* Forms (ui.c): the main thread keeps the ids of open forms; the ui
     * thread owns the sessions; finished forms travel in ui_head. */
    const struct tp_host_ui_ext *host_ui; /* may be NULL */
    tp_queue ui_q;
    pthread_t ui_thread;
    int ui_started;
    uint64_t next_form_id;
    uint64_t open_forms[TP_FORMS_OPEN_MAX];
    struct tp_session *sessions; /* TP_UI_SESSIONS, ui thread only */
    struct tp_uform_node *ui_head, *ui_tail; /* under events_lock */

    pthread_mutex_t events_lock;
    tp_event_node *events_head, *events_tail;
    /* Nodes in events_head..tail: changed only under events_lock, read
     * without it by checkout's backpressure check (tp_instance_backlogged). */
    atomic_size_t events_waiting;
    uint64_t events_dropped; /* free-lane events dropped at the cap, not yet
                                reported; under events_lock */
    uint64_t lookups_posted; /* highest lookup seq posted (or dropped) */
    /* Main thread: lookups up to this seq are delivered or produced no
     * event; write-lane events held back until their lookup is. */
    uint64_t lookups_settled;
    tp_event_node *held_head, *held_tail;

    /* Bounded shutdown; everything below but host_gone under w_lock. */
    pthread_rwlock_t host_gate; /* read: a host call; write: host_gone */
    int host_gone;              /* set once: no more host calls */
    pthread_mutex_t w_lock;
    pthread_cond_t w_cond;  /* CLOCK_MONOTONIC; writer state changes */
    int w_closing;          /* destroy() has closed the write queue */
    int w_popping;          /* writer inside tp_queue_pop_batch */
    const tp_write_job *w_jobs; /* the writer's batch in flight ... */
    size_t w_n;                 /* ... of this many jobs, 0 when none */
    int w_exited;
    int abandoned;          /* destroy() gave up waiting; writer must stop */
    int refs;               /* owners of this struct: destroy(), writer */
    /* Jobs read back from the side journal at init, applied first by the
     * writer; replay_next: the first not yet taken into a batch. */
    tp_write_job *replay;
    size_t n_replay, replay_next;
    int replay_unlink;      /* remove the journal once they committed */
    int replaying;          /* journal jobs not yet committed */
    char pending_path[TP_CFG_PATH_MAX + 16];
} tp_instance;

static inline tp_instance *tp_instance_of(const tp_plugin *p)
{
    return p ? (tp_instance *)p->plugin_data : NULL;
}

/* [thread-safe] Queues an outcome for the host and asks for a callback.
 * An event of no transaction: delivered as soon as the host calls back. */
void tp_instance_post(tp_instance *in, const tp_outcome *o);

/* [thread-safe] The same for the outcome of a stamped job: `ord` says where
 * it stands in the order of the host's calls (NULL: as tp_instance_post).
 * The lookup thread posts one event per job, in queue order. */
void tp_instance_post_ordered(tp_instance *in, const tp_outcome *o, const tp_order *ord);

/*
 * The bound on events waiting for the host's main thread (see the policy
 * at tp_instance_post_ordered in instance.c): room for an event of every job
 * the two queues can hold, plus TP_EVENTS_MARGIN for events of no
 * transaction. Jobs already queued when the list reaches the bound still
 * post their events, so the list never holds more than twice this.
 */
#define TP_EVENTS_MARGIN 256
static inline size_t tp_instance_events_cap(const tp_instance *in)
{
    return in->write_q.capacity + in->lookup_q.capacity + TP_EVENTS_MARGIN;
}

/* [main-thread] 1 when the host has left so many events uncollected that
 * checkout must not queue more work (TP_ERR_BUSY, with a sentence in msg).
 * Reads one atomic counter: never waits for another thread. */
int tp_instance_backlogged(tp_instance *in, tp_message *msg);

/* The preamble of every extension call: the instance behind `plugin`
 * into *in, TP_OK once init() succeeded, else a status and a sentence. */
tp_status tp_instance_ready(const tp_plugin *plugin, tp_instance **in, tp_message *msg) TP_MUST_CHECK;

/* The gate every call out of a plugin thread takes (instance.c): 1 and
 * held when the call may go ahead — 0 for a writer that destroy() gave up
 * on, which must touch nothing destroy() frees (the host, the
 * confirmation thread). tp_instance_leave after a 1. */
int tp_instance_enter(tp_instance *in);
void tp_instance_leave(tp_instance *in);

/* [thread-safe] Turns loyalty off after an internal fault and tells the
 * host; checkout calls then return TP_ERR_DISABLED. */
void tp_instance_disable(tp_instance *in, const char *why);

/* [thread-safe] Logs through the host. */
void tp_instance_log(tp_instance *in, tp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* [main-thread] Hands the host every event waiting for it, in the order
 * of the host's calls (from on_main_thread, and from destroy()). */
void tp_instance_deliver_events(tp_instance *in);

/* [main-thread] destroy(), once every thread that posts has stopped: every
 * event still waiting, held ones included. */
void tp_instance_deliver_final(tp_instance *in);

/* [main-thread] One event to the host now (the node is freed). */
void tp_instance_deliver_node(tp_instance *in, tp_event_node *node);

/* Drops one owner of `in`; the last one frees the writer's share of it
 * (entry.c tp_instance_free_shared). */
void tp_instance_unref(tp_instance *in);
void tp_instance_free_shared(tp_instance *in);

extern const tp_checkout_ext tp_checkout_extension;

/* [main-thread] The open transaction `id`, or NULL (checkout.c). */
tp_txn_slot *tp_checkout_find(tp_instance *in, const char *id);

/* [main-thread] checkout's preamble (checkout.c): the instance ready and
 * loyalty on, `txn_id` an open transaction's id, its slot into *slot. */
tp_status tp_checkout_txn(tp_instance **in, const tp_plugin *plugin, const char *txn_id,
                          tp_txn_slot **slot, tp_message *msg) TP_MUST_CHECK;
extern const tp_members_ext tp_members_extension;
extern const tp_ledger_ext tp_ledger_extension;
extern const tp_transfer_ext tp_transfer_extension;
extern const tp_managers_ext tp_managers_extension;
extern const tp_queue_ext tp_queue_extension;
extern const struct tp_ui_ext tp_ui_extension;
extern const struct tp_about_ext tp_about_extension;
extern const struct tp_audit_ext tp_audit_extension;

#endif
