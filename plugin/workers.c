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
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "instance.h"
#include "util.h"

/* Retries of a failing batch once the plugin is shutting down, before the
 * remaining work is reported lost. While running, retries never stop. */
#define SHUTDOWN_RETRIES 3
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 5000

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int queue_closed(tp_queue *q)
{
    pthread_mutex_lock(&q->lock);
    int c = q->closed;
    pthread_mutex_unlock(&q->lock);
    return c;
}

/* Applies the batch in one transaction. TP_OK: committed, outcomes filled. */
static tp_status apply_batch(tp_instance *in, const tp_write_job *jobs, size_t n,
                             tp_outcome *outs, tp_message *why)
{
    if (!in->writer_store &&
        tp_store_open(in->cfg.database, &in->writer_store, why) != TP_OK)
        return TP_ERR_STORAGE;
    tp_store *s = in->writer_store;
    if (tp_store_begin(s, why) != TP_OK)
        return TP_ERR_STORAGE;
    for (size_t i = 0; i < n; i++) {
        tp_status st = jobs[i].kind == TP_JOB_AWARD
                           ? tp_store_apply_award(s, &in->cfg, &jobs[i].u.award, &outs[i])
                           : tp_store_apply_refund(s, &in->cfg, &jobs[i].u.refund, &outs[i]);
        if (st != TP_OK) {
            tp_msg_set(why, "The database refused a write: %s.", tp_store_errmsg(s));
            tp_store_rollback(s);
            return st;
        }
    }
    return tp_store_commit(s, why);
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
        return NULL;
    }
    int failing = 0;
    size_t n;
    while ((n = tp_queue_pop_batch(&in->write_q, jobs, max)) > 0) {
        int64_t backoff = BACKOFF_MIN_MS;
        int retries = 0;
        for (;;) {
            tp_message why;
            tp_msg_clear(&why);
            if (apply_batch(in, jobs, n, outs, &why) == TP_OK) {
                if (failing) {
                    post_storage(in, TP_EVENT_STORAGE_RECOVERED,
                                 "The loyalty database is writable again; pending points were saved.");
                    tp_instance_log(in, TP_LOG_INFO, "database writable again");
                    failing = 0;
                }
                for (size_t i = 0; i < n; i++)
                    tp_instance_post_ordered(in, &outs[i], &(tp_order){
                        TP_LANE_WRITE, jobs[i].seq, jobs[i].after});
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
                    post_storage(in, TP_EVENT_STORAGE_ERROR,
                                 "Points are waiting to be saved: the loyalty database is busy "
                                 "with another task. Sales go on; points are kept and saved "
                                 "when it is free.");
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
                           "Points cannot be saved right now (%s) Sales go on; points are "
                           "kept and saved when the disk recovers.", why.text);
                post_storage(in, TP_EVENT_STORAGE_ERROR, text);
                tp_instance_log(in, TP_LOG_ERROR, "%s", why.text);
                failing = 1;
            }
            if (queue_closed(&in->write_q) && ++retries > SHUTDOWN_RETRIES) {
                tp_instance_log(in, TP_LOG_ERROR,
                                "shutting down with %zu unsaved checkouts: %s", n, why.text);
                for (size_t i = 0; i < n; i++) {
                    tp_outcome o;
                    memset(&o, 0, sizeof o);
                    o.kind = jobs[i].kind == TP_JOB_AWARD ? TP_EVENT_AWARD_FAILED
                                                          : TP_EVENT_REFUND_FAILED;
                    o.status = TP_ERR_STORAGE;
                    tp_copy(o.receipt, sizeof o.receipt,
                            jobs[i].kind == TP_JOB_AWARD ? jobs[i].u.award.receipt
                                                         : jobs[i].u.refund.receipt);
                    if (jobs[i].kind == TP_JOB_REFUND)
                        tp_copy(o.refund, sizeof o.refund, jobs[i].u.refund.refund);
                    tp_buf_set(o.message, sizeof o.message,
                               "Receipt %s could not be saved before shutdown; "
                               "credit it again later.", o.receipt);
                    tp_instance_post_ordered(in, &o, &(tp_order){
                        TP_LANE_WRITE, jobs[i].seq, jobs[i].after});
                }
                break;
            }
            sleep_ms(backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        tp_queue_done(&in->write_q, n);
    }
    free(jobs);
    free(outs);
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
        if (st == TP_OK) {
            o.kind = TP_EVENT_MEMBER_IDENTIFIED;
            tp_copy(o.member_code, sizeof o.member_code, m.code);
            tp_copy(o.member_name, sizeof o.member_name, m.name);
            o.balance = m.balance;
            tp_buf_set(o.message, sizeof o.message, "%s (%s), balance %lld points.",
                       m.name[0] ? m.name : "Member", m.code, (long long)m.balance);
        } else {
            o.kind = TP_EVENT_MEMBER_UNKNOWN;
            o.status = st;
            tp_copy(o.member_code, sizeof o.member_code, job.code);
            if (st == TP_ERR_NOT_FOUND)
                tp_buf_set(o.message, sizeof o.message,
                           "No member has the code %s; the sale can go on without points.",
                           job.code);
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
