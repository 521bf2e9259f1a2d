/*
 * workers.c — the plugin's two database threads.
 *
 * The writer drains the write queue in batches and commits each batch in
 * one transaction (group commit): one fsync carries many awards, which is
 * what makes synchronous=FULL affordable. A batch that fails to commit
 * (disk full, I/O error) is rolled back and retried with backoff, and the
 * host is told (STORAGE_ERROR); a batch that waited in vain for another
 * connection's write lock is retried quietly on the same connection. Because
 * every job is keyed by (location, receipt), re-applying a batch whose
 * commit actually reached the disk finds the rows and does not double them.
 * Outcomes are posted to the host only after the commit succeeded.
 *
 * The lookup thread answers member scans from its own connection, so a
 * scan never waits behind a group commit.
 *
 * Shutdown is bounded. destroy() closes the write queue and waits for the
 * writer for three quarters of [limits] shutdown_deadline_ms (the last
 * quarter is for writing the side journal); the writer's backoff between
 * retries is a timed wait that wakes when the queue is closed (it then
 * retries at the shortest interval) and when destroy() gives up. A writer
 * still inside a commit at the deadline (an fsync that does not return)
 * cannot be stopped: tp_writer_stop takes its batch and the queued jobs for
 * the side journal (sidejournal.h) and abandons it. The abandoned writer
 * stops after the call it is in, posts nothing (the host may be gone) and
 * frees the memory it shares with destroy() if it is the last to hold it;
 * the plugin's code is pinned in memory so that a host's dlclose() cannot
 * unmap it under that thread. If its commit completes after all, those rows
 * are in the database and in the side journal; replay finds them by their
 * (location, receipt) key and does not double them.
 */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE: pinning the code (pin_code) */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "balance.h"
#include "confirm.h"
#include "spend.h"
#include "expiry.h"
#include "instance.h"
#include "rules.h"
#include "sidejournal.h"
#include "util.h"
#include "workers.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 5000

static struct timespec mono_abs(int64_t ms)
{
    return (struct timespec){(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
}

/* The backoff between retries: until `ms` pass, destroy() closes the queue
 * (close_seen tells whether that was already known), or gives up. Returns
 * 1 when the writer is abandoned and must stop. */
static int backoff_wait(tp_instance *in, int64_t ms, int *close_seen)
{
    int64_t until = tp_mono_ms() + ms;
    pthread_mutex_lock(&in->w_lock);
    while (!in->abandoned && !(in->w_closing && !*close_seen)) {
        struct timespec ts = mono_abs(until);
        if (pthread_cond_timedwait(&in->w_cond, &in->w_lock, &ts) == ETIMEDOUT)
            break;
    }
    *close_seen = in->w_closing;
    int stop = in->abandoned;
    pthread_mutex_unlock(&in->w_lock);
    return stop;
}

/* Applies the batch in one transaction. TP_OK: committed, outcomes filled. */
static tp_status apply_batch(tp_instance *in, const tp_write_job *jobs, size_t n,
                             tp_outcome *outs, tp_message *why)
{
    if (!in->writer_store &&
        tp_store_open(in->cfg.database, &in->writer_store, why) != TP_OK)
        return TP_ERR_STORAGE;
    tp_store *s = in->writer_store;
    /* A batch of reservations only need not reach the disk before its
     * answer: a restart drops reservations anyway (spend.h), and the fsync
     * is most of the time a cashier waits for the confirmation. Any batch
     * with a sale or a refund in it syncs as always. */
    int ephemeral = 1;
    for (size_t i = 0; i < n && ephemeral; i++)
        ephemeral = jobs[i].kind == TP_JOB_RESERVE || jobs[i].kind == TP_JOB_RELEASE;
    if (tp_store_set_synchronous(s, !ephemeral) != 0) { /* SQLITE_OK */
        tp_msg_set(why, "Cannot set how the database syncs: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    if (tp_store_begin(s, why) != TP_OK)
        return TP_ERR_STORAGE;
    for (size_t i = 0; i < n; i++) {
        tp_status st;
        switch (jobs[i].kind) {
        case TP_JOB_AWARD:
            st = tp_store_apply_award(s, &in->cfg, NULL, &jobs[i].u.award, &outs[i]);
            break;
        case TP_JOB_REFUND:
            st = tp_store_apply_refund(s, &in->cfg, NULL, &jobs[i].u.refund, &outs[i]);
            break;
        case TP_JOB_RESERVE:
            st = tp_spend_apply_reserve(s, &in->cfg, in->confirm != NULL, &jobs[i].u.reserve,
                                        &outs[i]);
            break;
        default:
            st = tp_spend_apply_release(s, &in->cfg, &jobs[i].u.reserve, &outs[i]);
            break;
        }
        if (st != TP_OK) {
            tp_msg_set(why, "The database refused a write: %s.", tp_store_errmsg(s));
            tp_store_rollback(s);
            return st;
        }
    }
    return tp_store_commit(s, why);
}

/* After the commit: what the confirmation thread takes over (confirm.h)
 * instead of an event now. 1 when the outcome is not posted here: a
 * release (no event), or with [sync] a reservation the central ledger
 * confirms. A committed redemption lets its central hold go. */
static int hand_over_gated(tp_instance *in, const tp_write_job *j, const tp_outcome *o);

static int hand_over(tp_instance *in, const tp_write_job *j, const tp_outcome *o)
{
    if (j->kind == TP_JOB_REFUND || (j->kind == TP_JOB_AWARD && j->u.award.redeem_points == 0))
        return 0;
    /* destroy() stops the confirmation thread after this one; a writer it
     * gave up on may not reach it any more (nor post: as tp_instance_post),
     * and reads in->confirm only inside the gate. */
    if (!tp_instance_enter(in))
        return 1;
    int r = hand_over_gated(in, j, o);
    tp_instance_leave(in);
    return r;
}

static int hand_over_gated(tp_instance *in, const tp_write_job *j, const tp_outcome *o)
{
    if (j->kind == TP_JOB_RELEASE) {
        if (in->confirm)
            tp_confirm_release(in->confirm, j->u.reserve.txn, j->u.reserve.no, 0);
        return 1;
    }
    if (j->kind == TP_JOB_AWARD && in->confirm && j->u.award.redeem_points > 0)
        tp_confirm_release(in->confirm, j->u.award.txn, 0, 1);
    if (j->kind != TP_JOB_RESERVE || !in->confirm || o->kind != TP_EVENT_REDEEM_CONFIRMED)
        return 0;
    if (tp_confirm_hold(in->confirm, j->u.reserve.txn, j->u.reserve.no, j->u.reserve.code,
                        j->u.reserve.points, o->pending) == 0)
        return 1;
    /* The confirmation thread's queue is full: no one would answer. */
    tp_outcome no = *o;
    no.kind = TP_EVENT_REDEEM_REFUSED;
    no.status = TP_ERR_BUSY;
    tp_buf_set(no.message, sizeof no.message, "Too many redemptions wait for the central "
               "ledger; take the line off and try again in a moment.");
    tp_instance_post_ordered(in, &no, &(tp_order){TP_LANE_WRITE, j->seq, j->after});
    return 1;
}

/* What the program awards, as the first word of a sentence. */
static const char *units_first(const tp_instance *in)
{
    return in->cfg.rules.kind == TP_PROGRAM_VISITS ? "Stamps" : "Points";
}

static void post_storage(tp_instance *in, tp_event_kind kind, const char *text)
{
    tp_outcome o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.status = kind == TP_EVENT_STORAGE_ERROR ? TP_ERR_STORAGE : TP_OK;
    o.time_ms = tp_now_ms();
    tp_copy(o.message, sizeof o.message, text);
    tp_instance_post(in, &o);
}

/* Pops the next batch: the side journal's jobs first, then the queue.
 * Returns the number of jobs in `jobs` (published as the batch in flight),
 * 0 when there is no more work or the writer is abandoned. */
static size_t next_batch(tp_instance *in, tp_write_job *jobs, size_t max, int *from_replay)
{
    pthread_mutex_lock(&in->w_lock);
    if (in->abandoned) {
        pthread_mutex_unlock(&in->w_lock);
        return 0;
    }
    if (in->replay_next < in->n_replay) {
        size_t n = in->n_replay - in->replay_next;
        n = n < max ? n : max;
        memcpy(jobs, in->replay + in->replay_next, n * sizeof *jobs);
        in->replay_next += n;
        in->w_jobs = jobs;
        in->w_n = n;
        *from_replay = 1;
        pthread_mutex_unlock(&in->w_lock);
        return n;
    }
    *from_replay = 0;
    in->w_popping = 1;
    pthread_mutex_unlock(&in->w_lock);
    size_t n = tp_queue_pop_batch(&in->write_q, jobs, max);
    pthread_mutex_lock(&in->w_lock);
    in->w_popping = 0;
    in->w_jobs = jobs;
    in->w_n = n;
    pthread_cond_broadcast(&in->w_cond);
    pthread_mutex_unlock(&in->w_lock);
    return n;
}

/* The batch is decided (committed, or taken by destroy()). 1: abandoned. */
static int batch_done(tp_instance *in, size_t n, int from_replay)
{
    pthread_mutex_lock(&in->w_lock);
    in->w_n = 0;
    int stop = in->abandoned;
    /* Every job of the side journal committed: remove the file, unless
     * destroy() has rewritten it meanwhile (abandoned). */
    if (!stop && from_replay && in->replay_next == in->n_replay) {
        tp_message msg;
        if (in->replay_unlink && tp_sidejournal_write(in->pending_path, NULL, 0, &msg) != TP_OK)
            tp_instance_log(in, TP_LOG_ERROR, "%s", msg.text);
        in->replay_unlink = 0;
        in->replaying = 0;
    }
    pthread_mutex_unlock(&in->w_lock);
    if (!from_replay)
        tp_queue_done(&in->write_q, n);
    return stop;
}

static void writer_exit(tp_instance *in)
{
    pthread_mutex_lock(&in->w_lock);
    in->w_exited = 1;
    in->w_jobs = NULL;
    pthread_cond_broadcast(&in->w_cond);
    pthread_mutex_unlock(&in->w_lock);
    tp_instance_unref(in);
}

void *tp_writer_main(void *arg)
{
    tp_instance *in = arg;
    size_t max = (size_t)in->cfg.batch_max;
    tp_write_job *jobs = malloc(max * sizeof *jobs);
    tp_outcome *outs = malloc(max * sizeof *outs);
    if (!jobs || !outs) {
        tp_instance_disable(in, "out of memory starting the writer");
        /* Keep draining so that shutdown does not wait forever. */
        tp_write_job one;
        size_t n;
        while ((n = tp_queue_pop_batch(&in->write_q, &one, 1)) > 0)
            tp_queue_done(&in->write_q, n);
        free(jobs);
        free(outs);
        writer_exit(in);
        return NULL;
    }
    int failing = 0, close_seen = 0;
    size_t n;
    int from_replay;
    while ((n = next_batch(in, jobs, max, &from_replay)) > 0) {
        int64_t backoff = BACKOFF_MIN_MS;
        for (;;) {
            tp_message why;
            tp_msg_clear(&why);
            if (apply_batch(in, jobs, n, outs, &why) == TP_OK) {
                if (failing) {
                    char text[TP_MESSAGE_MAX];
                    tp_buf_set(text, sizeof text, "The loyalty database is writable again; "
                               "pending %s were saved.", tp_rules_unit(&in->cfg.rules, 2));
                    post_storage(in, TP_EVENT_STORAGE_RECOVERED, text);
                    tp_instance_log(in, TP_LOG_INFO, "database writable again");
                    failing = 0;
                }
                /* Replayed jobs belong to no call of this instance: their
                 * events are of no lane and never wait. */
                for (size_t i = 0; i < n; i++) {
                    if (hand_over(in, &jobs[i], &outs[i]))
                        continue;
                    tp_instance_post_ordered(in, &outs[i], from_replay ? NULL : &(tp_order){
                        TP_LANE_WRITE, jobs[i].seq, jobs[i].after});
                }
                break;
            }
            int contended = in->writer_store && tp_store_contended(in->writer_store);
            if (contended) {
                /* Another connection (a manager's import or verify, the
                 * CLI, another process) held the write lock past the busy
                 * timeout. That is contention, not a disk fault: keep the
                 * connection and retry. The cashier hears of it only when
                 * awards are at risk, the queue three-quarters full. */
                tp_instance_log(in, TP_LOG_INFO,
                                "the database is busy with another task; %zu checkouts wait "
                                "to be saved (%s)", n, why.text);
                if (!failing &&
                    tp_queue_pending(&in->write_q) * 4 >= in->write_q.capacity * 3) {
                    char text[TP_MESSAGE_MAX];
                    tp_buf_set(text, sizeof text, "%s are waiting to be saved: the loyalty "
                               "database is busy with another task. Sales go on; %s are kept "
                               "and saved when it is free.", units_first(in),
                               tp_rules_unit(&in->cfg.rules, 2));
                    post_storage(in, TP_EVENT_STORAGE_ERROR, text);
                    failing = 1;
                }
            } else {
                /* A failed batch leaves the connection in a state we cannot
                 * vouch for (an I/O error mid-commit, out of memory inside
                 * a savepoint): start the retry on a fresh connection. The
                 * keys make re-applying what did reach the disk harmless. */
                tp_store_close(in->writer_store);
                in->writer_store = NULL;
            }
            if (!failing && !contended) {
                char text[TP_MESSAGE_MAX];
                tp_buf_set(text, sizeof text,
                           "%s cannot be saved right now (%s) Sales go on; %s are kept and "
                           "saved when the disk recovers.", units_first(in), why.text,
                           tp_rules_unit(&in->cfg.rules, 2));
                post_storage(in, TP_EVENT_STORAGE_ERROR, text);
                tp_instance_log(in, TP_LOG_ERROR, "%s", why.text);
                failing = 1;
            }
            /* Retries never stop on their own: at shutdown destroy() takes
             * this batch for the side journal when its deadline passes. */
            if (backoff_wait(in, close_seen ? BACKOFF_MIN_MS : backoff, &close_seen))
                break;
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        if (batch_done(in, n, from_replay))
            break;
    }
    free(jobs);
    free(outs);
    writer_exit(in);
    return NULL;
}

void *tp_reader_main(void *arg)
{
    tp_instance *in = arg;
    tp_lookup_job job;
    while (tp_queue_pop_batch(&in->lookup_q, &job, 1) == 1) {
        tp_outcome o;
        memset(&o, 0, sizeof o);
        tp_copy(o.txn, sizeof o.txn, job.txn);
        o.time_ms = tp_now_ms();
        tp_member_row m;
        tp_message msg;
        tp_status st = tp_store_find_member(in->reader_store, job.code, &m, &msg);
        if (st == TP_OK && tp_payload_signed_policy(&in->cfg.scan, job.is_signed, m.app_id,
                                                    msg.text, sizeof msg.text) != TP_OK)
            st = TP_ERR_UNSUPPORTED; /* [scan] require_signed; msg says what to do */
        /* The balance to show, by the one rule (balance.h); no sync
         * snapshot here: the sync thread stops before this one. */
        tp_balance b;
        if (st == TP_OK)
            st = tp_balance_get(in->reader_store, &in->cfg, NULL, m.code, m.balance, &b, &msg);
        if (st == TP_OK) {
            o.kind = TP_EVENT_MEMBER_IDENTIFIED;
            tp_copy(o.member_code, sizeof o.member_code, m.code);
            tp_copy(o.member_name, sizeof o.member_name, m.name);
            o.balance = m.balance;
            tp_balance_to_outcome(&b, &o);
            /* 2.4: the next expiry, here on the lookup thread like the
             * balance; a failure to read it only leaves it out. */
            tp_expiry_next next;
            int64_t due;
            tp_message why;
            if (tp_expiry_member(in->reader_store, &in->cfg, m.id, o.time_ms, &due, &next,
                                 &why) == TP_OK) {
                o.expiring_points = next.points;
                o.expiring_at_ms = next.at_ms;
            }
            tp_buf_set(o.message, sizeof o.message, "%s (%s), balance %lld %s.",
                       m.name[0] ? m.name : "Member", m.code, (long long)b.shown,
                       tp_rules_unit(&in->cfg.rules, b.shown));
        } else {
            o.kind = TP_EVENT_MEMBER_UNKNOWN;
            o.status = st;
            tp_copy(o.member_code, sizeof o.member_code, job.code);
            if (st == TP_ERR_NOT_FOUND)
                tp_buf_set(o.message, sizeof o.message,
                           "No member has the code %s; the sale can go on without %s.",
                           job.code, tp_rules_unit(&in->cfg.rules, 2));
            else if (st == TP_ERR_UNSUPPORTED)
                tp_copy(o.message, sizeof o.message, msg.text);
            else
                tp_buf_set(o.message, sizeof o.message,
                           "The member cannot be looked up right now; the code is checked "
                           "again when the sale completes.");
        }
        /* Exactly one event per job, in queue order: delivery relies on it
         * to know which lookups are settled (entry.c). */
        tp_instance_post_ordered(in, &o, &(tp_order){TP_LANE_LOOKUP, job.seq, 0});
        tp_queue_done(&in->lookup_q, 1);
    }
    return NULL;
}

/* ---- bounded shutdown ---- */

tp_status tp_writer_prepare(tp_instance *in, tp_message *msg)
{
    if (tp_sidejournal_path(in->pending_path, sizeof in->pending_path, in->cfg.database) != 0) {
        tp_msg_set(msg, "The database path is too long.");
        return TP_ERR_CONFIG;
    }
    int corrupt = 0;
    tp_status st = tp_sidejournal_read(in->pending_path, &in->replay, &in->n_replay, &corrupt, msg);
    if (st != TP_OK)
        return st; /* the file stays for the next start */
    if (corrupt) {
        char aside[TP_CFG_PATH_MAX + 64];
        if (tp_sidejournal_set_aside(in->pending_path, aside, sizeof aside) != 0) {
            tp_msg_set(msg, "%s; it cannot be moved aside (%s), so loyalty does not start. "
                       "Move the file away and start again.", msg->text, strerror(errno));
            return TP_ERR_STORAGE;
        }
        tp_instance_log(in, TP_LOG_ERROR,
                        "%s Checkouts from an earlier shutdown that it held after that point "
                        "are not saved; the file is kept as %s. %zu good records are saved "
                        "now.", msg->text, aside, in->n_replay);
        tp_msg_clear(msg);
    } else if (in->n_replay > 0) {
        in->replay_unlink = 1;
        tp_instance_log(in, TP_LOG_INFO,
                        "saving %zu checkouts kept at the last shutdown (%s)", in->n_replay,
                        in->pending_path);
    } else if (access(in->pending_path, F_OK) == 0) {
        /* A journal of no jobs, or with only a torn record: nothing to save. */
        if (tp_sidejournal_write(in->pending_path, NULL, 0, msg) != TP_OK)
            tp_instance_log(in, TP_LOG_WARNING, "%s", msg->text); /* read again next start */
        tp_msg_clear(msg);
    }
    in->replaying = in->n_replay > 0;
    return TP_OK;
}

int tp_writer_replaying(tp_instance *in)
{
    pthread_mutex_lock(&in->w_lock);
    int r = in->replaying;
    pthread_mutex_unlock(&in->w_lock);
    return r;
}

/* Keeps this plugin's code mapped for as long as the process lives, so a
 * thread that cannot be stopped is never left running in unmapped code
 * after the host's dlclose(). Best effort: in a program linked with the
 * plugin statically there is nothing to pin. */
static void pin_code(tp_instance *in)
{
    static const char anchor;
    Dl_info info;
    if (dladdr(&anchor, &info) == 0 || !info.dli_fname)
        return;
    void *self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    if (!self)
        tp_instance_log(in, TP_LOG_WARNING, "cannot pin the plugin in memory: %s", dlerror());
    /* The handle is deliberately kept: RTLD_NODELETE outlives it anyway. */
}

int tp_writer_stop(tp_instance *in, int64_t deadline_ms, tp_write_job **unsaved, size_t *n)
{
    *unsaved = NULL;
    *n = 0;
    tp_queue_close(&in->write_q);
    pthread_mutex_lock(&in->w_lock);
    in->w_closing = 1;
    pthread_cond_broadcast(&in->w_cond);
    while (!in->w_exited) {
        struct timespec ts = mono_abs(deadline_ms);
        if (pthread_cond_timedwait(&in->w_cond, &in->w_lock, &ts) == ETIMEDOUT)
            break;
    }
    /* A writer inside pop_batch of a closed queue returns at once: wait for
     * it to publish what it took, so that nothing is in neither place. */
    while (!in->w_exited && in->w_popping)
        pthread_cond_wait(&in->w_cond, &in->w_lock);
    if (in->w_exited) {
        pthread_mutex_unlock(&in->w_lock);
        pthread_join(in->writer, NULL);
        return 0;
    }
    /* The deadline passed with the writer inside a call to the disk. From
     * here it must not call the host: no post or log is running (host_gate
     * is held for writing) and none starts. */
    pin_code(in);
    pthread_rwlock_wrlock(&in->host_gate);
    in->host_gone = 1;
    pthread_rwlock_unlock(&in->host_gate);
    in->abandoned = 1;
    pthread_cond_broadcast(&in->w_cond);
    size_t queued = tp_queue_pending(&in->write_q);
    size_t cap = in->w_n + (in->n_replay - in->replay_next) + queued;
    tp_write_job *out = cap ? malloc(cap * sizeof *out) : NULL;
    size_t k = 0;
    if (out) {
        if (in->w_n) /* the batch in flight (read only by the writer too) */
            memcpy(out, in->w_jobs, in->w_n * sizeof *out);
        k = in->w_n;
        if (in->replay_next < in->n_replay)
            memcpy(out + k, in->replay + in->replay_next,
                   (in->n_replay - in->replay_next) * sizeof *out);
        k += in->n_replay - in->replay_next;
        in->replay_next = in->n_replay;
        /* The writer pops no more once abandoned: what is queued is ours. */
        size_t got;
        while (k < cap && (got = tp_queue_pop_batch(&in->write_q, out + k, cap - k)) > 0) {
            k += got;
            tp_queue_done(&in->write_q, got);
        }
    }
    pthread_mutex_unlock(&in->w_lock);
    pthread_detach(in->writer);
    *unsaved = out;
    *n = k;
    return 1;
}

void tp_instance_unref(tp_instance *in)
{
    pthread_mutex_lock(&in->w_lock);
    int last = --in->refs == 0;
    pthread_mutex_unlock(&in->w_lock);
    if (last)
        tp_instance_free_shared(in);
}
