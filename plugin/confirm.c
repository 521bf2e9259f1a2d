/*
 * confirm.c — the confirmation thread (confirm.h; docs/DESIGN.md §8, "No
 * double spending between terminals").
 *
 * One job at a time, in the order the writer queued them. A hold job has a
 * deadline: the time it was queued plus [redeem] confirm_timeout_ms. The
 * central database's answer counts only when it comes by then; otherwise
 * (no connection, no answer, the sync module missing, the schema not
 * migrated) the redemption is judged against the offline allowance on
 * this terminal's own records, and answered at once.
 *
 * Connections are made on demand, within the job's deadline, and after a
 * failure not again until a backoff ([sync] backoff_min_ms doubling to
 * backoff_max_ms) has passed: while the central database is down every
 * job is answered offline at once instead of each waiting out a connect.
 *
 * The first connection of a start deletes every hold of this terminal
 * (location and terminal) before any hold is taken: a till killed between
 * a redeem and its complete leaves none behind. Until that delete has run,
 * no hold is taken (the job is answered offline).
 *
 * The host's thread never waits on this one: tp_confirm_hold and
 * tp_confirm_release only push into a bounded queue. Shutdown sets the
 * stop flag and signals the eventfd every wait watches, so it returns
 * within one poll; jobs still queued then are dropped without an answer
 * (their transactions cannot complete after destroy anyway).
 */
#include "confirm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sqlite3.h>

#include "instance.h"
#include "pglink.h"
#include "pq.h"
#include "queue.h"
#include "util.h"

/* Jobs waiting: far more than one till opens redemptions for. */
#define CONFIRM_QUEUE 256
/* How long a central hold lives without its redeem entry or a release: a
 * sale left open this long is abandoned; its terminal's next start drops
 * the hold anyway. */
#define HOLD_TTL_MS (30 * 60 * 1000)
#define DAY_MS 86400000LL

typedef enum job_kind { JOB_HOLD = 1, JOB_RELEASE = 2 } job_kind;

typedef struct confirm_job {
    job_kind kind;
    int committed;     /* release: the redemption committed */
    uint32_t no;       /* redemption number; release: 0 = every one */
    int64_t points, pending;
    int64_t queued_ms; /* monotonic */
    char txn[TP_TXN_ID_MAX + 1];
    char member[TP_MEMBER_CODE_MAX + 1];
} confirm_job;

struct tp_confirm {
    tp_instance *in;
    const tp_sync_config *cfg;
    const tp_redeem_config *redeem;
    tp_store *db;          /* this thread's SQLite connection */
    const tp_pq_api *pq;   /* NULL until loaded */
    PGconn *pg;            /* NULL while disconnected */
    int swept;             /* this terminal's old holds are deleted */
    int down;              /* the last attempt failed (logged once) */
    int64_t retry_at;      /* monotonic: no connection attempt before */
    int64_t backoff_ms;
    int wake_fd;
    atomic_int stop;
    tp_queue q;            /* confirm_job */
    int q_ready;
    pthread_t thread;
    int started;
};

/* ------------------------------------------------------------ the link */

static void disconnect(tp_confirm *c)
{
    if (c->pg && c->pq) /* pq is loaded before any connection exists */
        c->pq->finish(c->pg);
    c->pg = NULL;
}

/* The central database did not serve: drop the connection, wait a while
 * before the next attempt, and log the cause once per outage. */
static void went_down(tp_confirm *c, const char *why)
{
    disconnect(c);
    int64_t min = c->cfg->backoff_min_ms, max = c->cfg->backoff_max_ms;
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : min;
    if (c->backoff_ms > max)
        c->backoff_ms = max;
    c->retry_at = tp_mono_ms() + c->backoff_ms;
    if (!c->down)
        tp_instance_log(c->in, TP_LOG_WARNING,
                        "confirming redemptions: %s Redemptions are confirmed against the "
                        "offline allowance until it answers.", why);
    c->down = 1;
}

/* One statement by `deadline`; 0 with *out (may be NULL: cleared) on
 * success, -1 when it failed (the link is then down). */
static int run(tp_confirm *c, const char *sql, int n, const char *const *params,
               int64_t deadline, PGresult **out)
{
    if (out)
        *out = NULL;
    PGresult *r = NULL;
    tp_pg_exchange_result x = tp_pg_exchange(c->pq, c->pg, c->wake_fd, &c->stop, sql, n,
                                             params, deadline, NULL, NULL, &r);
    if (x == TP_PG_STOPPED) {
        disconnect(c);
        return -1;
    }
    if (x == TP_PG_TIMEOUT) {
        went_down(c, "The central database did not answer in time (a confirmation's "
                     "deadline, [redeem] confirm_timeout_ms).");
        return -1;
    }
    if (x != TP_PG_DONE || !r) {
        char why[400];
        tp_pg_sentence(why, sizeof why, "The connection to the central database broke: ",
                       c->pq->errorMessage(c->pg));
        went_down(c, why);
        return -1;
    }
    ExecStatusType st = c->pq->resultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *state = c->pq->resultErrorField(r, PG_DIAG_SQLSTATE);
        char why[400];
        if (state && (strcmp(state, "42883") == 0 || strcmp(state, "42P01") == 0))
            tp_copy(why, sizeof why, "The central schema has no holds (version 3): run "
                                     "`tillpoints central init`.");
        else
            tp_pg_sentence(why, sizeof why, "The central database refused a confirmation: ",
                           c->pq->resultErrorMessage(r));
        c->pq->clear(r);
        went_down(c, why);
        return -1;
    }
    if (out)
        *out = r;
    else
        c->pq->clear(r);
    return 0;
}

/* Connected (and this terminal's old holds deleted) by `deadline`: 0, or
 * -1 when not (backing off, no module, no answer). */
static int link_up(tp_confirm *c, int64_t deadline)
{
    if (c->pg && c->swept)
        return 0;
    if (atomic_load(&c->stop) || tp_mono_ms() < c->retry_at)
        return -1;
    if (!c->pq) {
        char why[TP_MESSAGE_MAX + 1];
        c->pq = tp_pq(why, sizeof why);
        if (!c->pq) {
            went_down(c, why);
            return -1;
        }
    }
    if (!c->pg) {
        int64_t cap = tp_mono_ms() + (int64_t)c->cfg->connect_timeout_s * 1000;
        c->pg = tp_pg_connect_start(c->pq, c->cfg, c->in->cfg.terminal);
        if (!c->pg) {
            went_down(c, "Out of memory connecting to the central database.");
            return -1;
        }
        int w = tp_pg_connect_poll(c->pq, c->pg, c->wake_fd, &c->stop,
                                   deadline < cap ? deadline : cap);
        if (w == -1) { /* stopping */
            disconnect(c);
            return -1;
        }
        if (w != 1 || c->pq->setnonblocking(c->pg, 1) != 0) {
            char why[TP_MESSAGE_MAX + 1];
            if (w == 0)
                tp_copy(why, sizeof why, "The central database did not answer a connection "
                                         "in time.");
            else
                tp_pg_connect_cause(c->pq->errorMessage(c->pg), why, sizeof why);
            went_down(c, why);
            return -1;
        }
    }
    if (!c->swept) {
        const char *p[2] = {c->in->cfg.location, c->in->cfg.terminal};
        if (run(c, "DELETE FROM holds WHERE location = $1 AND terminal = $2", 2, p, deadline,
                NULL) != 0)
            return -1;
        c->swept = 1;
    }
    if (c->down)
        tp_instance_log(c->in, TP_LOG_INFO, "confirming redemptions: the central database "
                                            "answers again");
    c->down = 0;
    c->backoff_ms = 0;
    return 0;
}

/* ------------------------------------------------------------ SQLite */

/* The reservation's source, or -1 when it is gone, -2 on an error. */
static int reservation_open(tp_confirm *c, const confirm_job *j)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(tp_store_db(c->db),
                                "SELECT source = '' FROM reservations WHERE location = ?1"
                                " AND terminal = ?2 AND txn = ?3 AND no = ?4", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return -2;
    sqlite3_bind_text(q, 1, c->in->cfg.location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, c->in->cfg.terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, j->txn, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, j->no);
    rc = sqlite3_step(q);
    int v = rc == SQLITE_ROW ? sqlite3_column_int(q, 0) : rc == SQLITE_DONE ? -1 : -2;
    sqlite3_finalize(q);
    return v;
}

/* Records who vouched; 1 when the reservation was still waiting, 0 when it
 * is gone (unredeemed meanwhile), -1 on an error. */
static int reservation_vouched(tp_confirm *c, const confirm_job *j, const char *source)
{
    sqlite3 *db = tp_store_db(c->db);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "UPDATE reservations SET source = ?5 WHERE location = ?1"
                               " AND terminal = ?2 AND txn = ?3 AND no = ?4 AND source = ''",
                           -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, c->in->cfg.location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, c->in->cfg.terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, j->txn, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, j->no);
    sqlite3_bind_text(q, 5, source, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(db) > 0;
}

/* Points the member spent offline at this terminal today (UTC): committed
 * redemptions and reservations vouched for offline. -1 on an error. */
static int64_t offline_spent_today(tp_confirm *c, const char *member)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(
        tp_store_db(c->db),
        "SELECT (SELECT COALESCE(SUM(d.offline_points), 0) FROM redemptions d"
        "         JOIN ledger l ON l.id = d.ledger_id JOIN members m ON m.id = l.member_id"
        "        WHERE d.day = ?4 AND d.offline_points > 0 AND m.code = ?3"
        "          AND l.location = ?1 AND l.terminal = ?2)"
        "     + (SELECT COALESCE(SUM(r.points), 0) FROM reservations r"
        "         JOIN members m ON m.id = r.member_id"
        "        WHERE r.source = 'offline' AND m.code = ?3"
        "          AND r.location = ?1 AND r.terminal = ?2)",
        -1, &q, NULL);
    if (rc != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, c->in->cfg.location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, c->in->cfg.terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, member, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, tp_now_ms() / DAY_MS);
    int64_t v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    return v;
}

/* ------------------------------------------------------------ answers */

static void answer(tp_confirm *c, const confirm_job *j, tp_event_kind kind, tp_status status,
                   const char *source, const char *message)
{
    tp_outcome o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.status = status;
    o.time_ms = tp_now_ms();
    o.points = j->points;
    o.redemption_no = j->no;
    tp_copy(o.txn, sizeof o.txn, j->txn);
    tp_copy(o.member_code, sizeof o.member_code, j->member);
    tp_copy(o.redeem_source, sizeof o.redeem_source, source);
    tp_copy(o.message, sizeof o.message, message);
    tp_instance_post(c->in, &o);
}

/* The central database did not vouch in time: the offline allowance. */
static void confirm_offline(tp_confirm *c, const confirm_job *j)
{
    char m[TP_MESSAGE_MAX + 1];
    int64_t allowance = c->redeem->offline_allowance;
    if (allowance <= 0) {
        tp_buf_set(m, sizeof m, "Spending points needs the central database, which does not "
                   "answer; remove the %" PRId64 "-point redemption and try again later.",
                   j->points);
        answer(c, j, TP_EVENT_REDEEM_REFUSED, TP_ERR_UNREACHABLE, "", m);
        return;
    }
    int64_t spent = offline_spent_today(c, j->member);
    if (spent < 0) {
        tp_instance_log(c->in, TP_LOG_ERROR, "confirming redemptions: cannot read the offline "
                        "spending of %s: %s", j->member, tp_store_errmsg(c->db));
        tp_buf_set(m, sizeof m, "The central database does not answer and this till cannot "
                   "read what %s spent offline today; remove the %" PRId64 "-point redemption.",
                   j->member, j->points);
        answer(c, j, TP_EVENT_REDEEM_REFUSED, TP_ERR_STORAGE, "", m);
        return;
    }
    if (spent + j->points > allowance) {
        tp_buf_set(m, sizeof m, "The central database does not answer and %s has already "
                   "spent %" PRId64 " of the %" PRId64 " points allowed offline today at this "
                   "till; remove the %" PRId64 "-point redemption.", j->member, spent,
                   allowance, j->points);
        answer(c, j, TP_EVENT_REDEEM_REFUSED, TP_ERR_UNREACHABLE, "", m);
        return;
    }
    int v = reservation_vouched(c, j, "offline");
    if (v < 0) {
        tp_instance_log(c->in, TP_LOG_ERROR, "confirming redemptions: cannot record an "
                        "offline confirmation: %s", tp_store_errmsg(c->db));
        tp_buf_set(m, sizeof m, "This till cannot record the redemption's confirmation (its "
                   "database failed); remove the %" PRId64 "-point redemption.", j->points);
        answer(c, j, TP_EVENT_REDEEM_REFUSED, TP_ERR_STORAGE, "", m);
        return;
    }
    if (v == 0)
        return; /* unredeemed meanwhile: nobody waits for an answer */
    tp_buf_set(m, sizeof m, "%" PRId64 " points confirmed offline (the central database does "
               "not answer): %s has %" PRId64 " of %" PRId64 " offline points left today at "
               "this till.", j->points, j->member, allowance - spent - j->points, allowance);
    answer(c, j, TP_EVENT_REDEEM_CONFIRMED, TP_OK, "offline", m);
}

static void release_central(tp_confirm *c, const char *txn, uint32_t no, int64_t deadline)
{
    char n[16];
    snprintf(n, sizeof n, "%u", no);
    const char *p[4] = {c->in->cfg.location, c->in->cfg.terminal, txn, n};
    run(c, "DELETE FROM holds WHERE location = $1 AND terminal = $2 AND txn = $3"
           " AND ($4::integer = 0 OR no = $4::integer)", 4, p, deadline, NULL);
}

static void do_hold(tp_confirm *c, const confirm_job *j)
{
    int open = reservation_open(c, j);
    if (open == -1 || open == 0)
        return; /* gone (unredeemed), or answered already */
    if (open == -2) {
        tp_instance_log(c->in, TP_LOG_ERROR, "confirming redemptions: cannot read "
                        "reservation %s/%u: %s", j->txn, j->no, tp_store_errmsg(c->db));
        char m[TP_MESSAGE_MAX + 1];
        tp_buf_set(m, sizeof m, "This till cannot read the redemption's reservation (its "
                   "database failed); remove the %" PRId64 "-point redemption.", j->points);
        answer(c, j, TP_EVENT_REDEEM_REFUSED, TP_ERR_STORAGE, "", m);
        return;
    }
    int64_t deadline = j->queued_ms + c->redeem->confirm_timeout_ms;
    if (link_up(c, deadline) != 0) {
        if (!atomic_load(&c->stop))
            confirm_offline(c, j);
        return;
    }
    /* The server gives up no later than this terminal does. */
    int64_t left = deadline - tp_mono_ms();
    if (left < 1) {
        confirm_offline(c, j);
        return;
    }
    char set[64];
    snprintf(set, sizeof set, "SET statement_timeout = %" PRId64, left);
    if (run(c, set, -1, NULL, deadline, NULL) != 0) {
        if (!atomic_load(&c->stop))
            confirm_offline(c, j);
        return;
    }
    char no[16], points[24], pending[24], ttl[24];
    snprintf(no, sizeof no, "%u", j->no);
    snprintf(points, sizeof points, "%" PRId64, j->points);
    snprintf(pending, sizeof pending, "%" PRId64, j->pending);
    snprintf(ttl, sizeof ttl, "%d", HOLD_TTL_MS);
    const char *p[8] = {c->in->cfg.location, c->in->cfg.terminal, j->txn, no, j->member,
                        points, pending, ttl};
    PGresult *r = NULL;
    if (run(c, "SELECT ok, available FROM tp_hold($1, $2, $3, $4::integer, $5, $6::bigint,"
               " $7::bigint, $8::bigint)", 8, p, deadline, &r) != 0 ||
        c->pq->ntuples(r) != 1) {
        if (r)
            c->pq->clear(r);
        if (!atomic_load(&c->stop))
            confirm_offline(c, j);
        return;
    }
    int ok = c->pq->getvalue(r, 0, 0)[0] == 't';
    int64_t available = strtoll(c->pq->getvalue(r, 0, 1), NULL, 10);
    c->pq->clear(r);
    char m[TP_MESSAGE_MAX + 1];
    if (!ok) {
        tp_buf_set(m, sizeof m, "The central ledger shows %" PRId64 " points available for "
                   "%s (other tills hold or spent the rest); remove the %" PRId64 "-point "
                   "redemption.", available < 0 ? 0 : available, j->member, j->points);
        answer(c, j, TP_EVENT_REDEEM_REFUSED, TP_ERR_STATE, "", m);
        return;
    }
    int v = reservation_vouched(c, j, "central");
    if (v <= 0) {
        /* Unredeemed while the central database answered, or not recordable:
         * the hold must not outlive the reservation. */
        release_central(c, j->txn, j->no, tp_mono_ms() + c->redeem->confirm_timeout_ms);
        if (v < 0) {
            tp_instance_log(c->in, TP_LOG_ERROR, "confirming redemptions: cannot record a "
                            "confirmation: %s", tp_store_errmsg(c->db));
            tp_buf_set(m, sizeof m, "This till cannot record the redemption's confirmation "
                       "(its database failed); remove the %" PRId64 "-point redemption.",
                       j->points);
            answer(c, j, TP_EVENT_REDEEM_REFUSED, TP_ERR_STORAGE, "", m);
        }
        return;
    }
    tp_buf_set(m, sizeof m, "%" PRId64 " points confirmed by the central ledger.", j->points);
    answer(c, j, TP_EVENT_REDEEM_CONFIRMED, TP_OK, "central", m);
}

static void do_release(tp_confirm *c, const confirm_job *j)
{
    /* A committed redemption's hold stays until its redeem entry reaches
     * the central ledger (the trigger drops it there): dropped earlier,
     * its points would be free to other tills before they are spent. */
    if (j->committed)
        return;
    int64_t deadline = tp_mono_ms() + c->redeem->confirm_timeout_ms;
    if (link_up(c, deadline) == 0)
        release_central(c, j->txn, j->no, deadline);
}

static void *confirm_main(void *arg)
{
    tp_confirm *c = arg;
    /* Drop the holds a previous run left, before the first job if the
     * central database answers. */
    link_up(c, tp_mono_ms() + (int64_t)c->cfg->connect_timeout_s * 1000);
    confirm_job jobs[16];
    for (;;) {
        size_t n = tp_queue_pop_batch(&c->q, jobs, sizeof jobs / sizeof jobs[0]);
        if (n == 0)
            break;
        for (size_t i = 0; i < n && !atomic_load(&c->stop); i++) {
            if (jobs[i].kind == JOB_HOLD)
                do_hold(c, &jobs[i]);
            else
                do_release(c, &jobs[i]);
        }
        tp_queue_done(&c->q, n);
    }
    disconnect(c);
    return NULL;
}

/* ------------------------------------------------------------ interface */

tp_status tp_confirm_start(tp_instance *in, tp_confirm **out, tp_message *msg)
{
    *out = NULL;
    if (!in->cfg.sync.postgres[0] || in->back_office)
        return TP_OK;
    tp_confirm *c = calloc(1, sizeof *c);
    if (!c) {
        tp_msg_set(msg, "Out of memory starting the confirmation thread.");
        return TP_ERR_NO_MEMORY;
    }
    c->in = in;
    c->cfg = &in->cfg.sync;
    c->redeem = &in->cfg.redeem;
    atomic_init(&c->stop, 0);
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wake_fd < 0) {
        tp_msg_set(msg, "Cannot start the confirmation thread: %s.", strerror(errno));
        tp_confirm_stop(c);
        return TP_ERR_INTERNAL;
    }
    if (tp_queue_init(&c->q, sizeof(confirm_job), CONFIRM_QUEUE) != 0) {
        tp_msg_set(msg, "Out of memory starting the confirmation thread.");
        tp_confirm_stop(c);
        return TP_ERR_NO_MEMORY;
    }
    c->q_ready = 1;
    tp_status st = tp_store_open(in->cfg.database, &c->db, msg);
    if (st != TP_OK) {
        tp_confirm_stop(c);
        return st;
    }
    if (pthread_create(&c->thread, NULL, confirm_main, c) != 0) {
        tp_msg_set(msg, "Cannot start the confirmation thread.");
        tp_confirm_stop(c);
        return TP_ERR_INTERNAL;
    }
    c->started = 1;
    *out = c;
    return TP_OK;
}

void tp_confirm_stop(tp_confirm *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, 1);
    if (c->wake_fd >= 0) {
        uint64_t one = 1;
        if (write(c->wake_fd, &one, sizeof one) < 0) { /* a full counter wakes too */
        }
    }
    if (c->q_ready)
        tp_queue_close(&c->q);
    if (c->started)
        pthread_join(c->thread, NULL);
    disconnect(c);
    tp_store_close(c->db);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    if (c->q_ready)
        tp_queue_destroy(&c->q);
    free(c);
}

int tp_confirm_hold(tp_confirm *c, const char *txn, uint32_t no, const char *member_code,
                    int64_t points, int64_t pending)
{
    if (!c || !txn || !member_code || no == 0 || points <= 0)
        return -1;
    confirm_job j;
    memset(&j, 0, sizeof j);
    j.kind = JOB_HOLD;
    j.no = no;
    j.points = points;
    j.pending = pending;
    j.queued_ms = tp_mono_ms();
    tp_copy(j.txn, sizeof j.txn, txn);
    tp_copy(j.member, sizeof j.member, member_code);
    /* The cashier waits for this one: a lingering thread looks now. */
    return tp_queue_push_prompt(&c->q, &j);
}

void tp_confirm_release(tp_confirm *c, const char *txn, uint32_t no, int committed)
{
    if (!c || !txn)
        return;
    confirm_job j;
    memset(&j, 0, sizeof j);
    j.kind = JOB_RELEASE;
    j.no = no;
    j.committed = committed;
    j.queued_ms = tp_mono_ms();
    tp_copy(j.txn, sizeof j.txn, txn);
    if (tp_queue_push(&c->q, &j) != 0)
        tp_instance_log(c->in, TP_LOG_WARNING, "confirming redemptions: the queue is full; "
                        "the central hold of %s expires by itself.", txn);
}
