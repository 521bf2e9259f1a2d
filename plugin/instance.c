/*
 * instance.c — what every module of an instance shares: logging through
 * the host, posting outcomes to the host's main thread in the order of the
 * host's calls, the bound on events waiting for it, and turning loyalty off
 * after an internal fault. The lifecycle (create, init, destroy) is in
 * entry.c; the threads that post are in workers.c, ui.c, scanners.c and
 * sync.c (docs/DESIGN.md §3).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "spend.h"
#include "util.h"

/* Every call into the host from a plugin thread goes through this gate:
 * a writer abandoned by destroy() (workers.c) must not call a host that
 * may be gone. Taken for reading around the call, so destroy() taking it
 * for writing waits for a call under way and none starts after. */
static int host_enter(tp_instance *in)
{
    pthread_rwlock_rdlock(&in->host_gate);
    if (in->host_gone && pthread_equal(pthread_self(), in->writer)) {
        pthread_rwlock_unlock(&in->host_gate);
        return 0;
    }
    return 1;
}

int tp_instance_enter(tp_instance *in)
{
    return host_enter(in);
}

void tp_instance_leave(tp_instance *in)
{
    pthread_rwlock_unlock(&in->host_gate);
}

void tp_instance_log(tp_instance *in, tp_log_level level, const char *fmt, ...)
{
    if (!in->host->log || !host_enter(in))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    in->host->log(in->host, level, line);
    pthread_rwlock_unlock(&in->host_gate);
}

/*
 * Bounded memory for events. When the host stops calling on_main_thread,
 * events pile up here; the list is bounded by tp_instance_events_cap():
 *  - Outcomes of accepted jobs (lookup and write lanes) are never dropped:
 *    the host was told the call was accepted, so it is owed the outcome.
 *    Instead, while the list is at the cap, checkout refuses to queue more
 *    work (complete, refund, the lookup of a scan answer TP_ERR_BUSY with a
 *    sentence; tp_instance_backlogged). Jobs already queued then add at
 *    most the queues' capacities, so the list stays under twice the cap.
 *  - Events of no transaction (scanners, sync, storage state) arriving at
 *    the cap are dropped and counted: the first drop of an episode is
 *    logged at once, and the next on_main_thread logs how many were lost
 *    and ends the episode. PLUGIN_DISABLED (at most one per instance) is
 *    always kept.
 * docs/INTEGRATING.md states this contract for integrators.
 */
static void post_ordered(tp_instance *in, const tp_outcome *o, const tp_order *ord)
{
    int lookup = ord && ord->lane == TP_LANE_LOOKUP;
    int droppable = (!ord || ord->lane == TP_LANE_FREE) && o->kind != TP_EVENT_PLUGIN_DISABLED;
    tp_event_node *node = malloc(sizeof *node);
    if (!node) {
        tp_instance_log(in, TP_LOG_ERROR, "out of memory: an event for the host was dropped (%s)",
                        o->message);
        if (!lookup)
            return;
    } else {
        node->next = NULL;
        node->ord = ord ? *ord : (tp_order){.lane = TP_LANE_FREE};
        node->o = *o;
    }
    pthread_mutex_lock(&in->events_lock);
    if (node && droppable && atomic_load(&in->events_waiting) >= tp_instance_events_cap(in)) {
        int dropped_first = in->events_dropped++ == 0;
        pthread_mutex_unlock(&in->events_lock);
        free(node);
        if (dropped_first)
            tp_instance_log(in, TP_LOG_WARNING,
                            "the host has not collected %zu events (on_main_thread is not "
                            "being called); scanner, sync and storage notices are dropped "
                            "and checkouts refused as busy until it does",
                            tp_instance_events_cap(in));
        return;
    }
    /* Recorded under the same lock as the list, so that on_main_thread,
     * taking both at once, knows every lookup up to this seq has its event
     * in what it took (or before), or never will. */
    if (lookup && ord->seq > in->lookups_posted)
        in->lookups_posted = ord->seq;
    /* One callback request per non-empty list: on_main_thread takes the
     * whole list at once, so a request is already pending when the list
     * had entries. A batch of 256 awards costs one wake-up, not 256. A
     * lookup whose event was lost still asks: an award may be held back
     * for it, and only the main thread can let it go. */
    int wake = node ? in->events_head == NULL : 1;
    if (node) {
        if (in->events_tail)
            in->events_tail->next = node;
        else
            in->events_head = node;
        in->events_tail = node;
        atomic_fetch_add(&in->events_waiting, 1);
    }
    pthread_mutex_unlock(&in->events_lock);
    if (wake)
        in->host->request_callback(in->host);
}

void tp_instance_post_ordered(tp_instance *in, const tp_outcome *o, const tp_order *ord)
{
    if (!host_enter(in))
        return; /* abandoned writer: destroy() has told the host already */
    post_ordered(in, o, ord);
    pthread_rwlock_unlock(&in->host_gate);
}

void tp_instance_post(tp_instance *in, const tp_outcome *o)
{
    tp_instance_post_ordered(in, o, NULL);
}

int tp_instance_backlogged(tp_instance *in, tp_message *msg)
{
    if (atomic_load_explicit(&in->events_waiting, memory_order_relaxed) <
        tp_instance_events_cap(in))
        return 0;
    tp_msg_set(msg, "Loyalty is waiting for the till to collect its messages; finish the sale "
               "and credit this receipt later, or try again in a moment.");
    return 1;
}

tp_status tp_instance_ready(const tp_plugin *plugin, tp_instance **in, tp_message *msg)
{
    tp_msg_clear(msg);
    *in = tp_instance_of(plugin);
    if (!*in) {
        tp_msg_set(msg, "No plugin instance was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (!(*in)->initialised) {
        tp_msg_set(msg, "Loyalty is not started; the host must call init first.");
        return TP_ERR_STATE;
    }
    return TP_OK;
}

void tp_instance_disable(tp_instance *in, const char *why)
{
    if (atomic_exchange(&in->disabled, 1))
        return;
    tp_instance_log(in, TP_LOG_ERROR, "loyalty disabled: %s", why);
    tp_outcome o;
    memset(&o, 0, sizeof o);
    o.kind = TP_EVENT_PLUGIN_DISABLED;
    o.status = TP_ERR_DISABLED;
    o.time_ms = tp_now_ms();
    tp_buf_set(o.message, sizeof o.message,
               "Loyalty is switched off after an internal error (%s); sales go on without "
               "points.", why);
    tp_instance_post(in, &o);
}

void tp_instance_deliver_node(tp_instance *in, tp_event_node *node)
{
    {
        const tp_outcome *o = &node->o;
        tp_event ev = {
            .struct_size = sizeof ev,
            .kind = o->kind,
            .status = o->status,
            .txn_id = o->txn,
            .receipt_id = o->receipt,
            .member_code = o->member_code,
            .member_name = o->member_name,
            .points = o->points,
            .balance = o->balance,
            .replayed = o->replayed,
            .time_ms = o->time_ms,
            .message = o->message,
            .device = o->device,
            .receipt_code = o->receipt_code,
            .refund_id = o->refund,
            .symbology = o->symbology,
            .shown_balance = o->shown_balance,
            .balance_as_of_ms = o->balance_as_of_ms,
            .balance_source = o->balance_source,
            .expiring_points = o->expiring_points,
            .expiring_at_ms = o->expiring_at_ms,
            .redemption_no = o->redemption_no,
            .redeem_source = o->redeem_source,
            .redeemed_points = o->redeemed_points,
        };
        /* The sale's spending state follows its events, host or no host. */
        tp_spend_on_event(in, node, &ev);
        if (in->events && in->events->on_event)
            in->events->on_event(in->host, &ev);
    }
    free(node);
}

/* Delivers held events, oldest first, for as long as the oldest one's
 * lookup is settled. Each is unlinked before the host sees it. */
static void release_held(tp_instance *in)
{
    while (in->held_head && in->held_head->ord.after <= in->lookups_settled) {
        tp_event_node *node = in->held_head;
        in->held_head = node->next;
        if (!in->held_head)
            in->held_tail = NULL;
        tp_instance_deliver_node(in, node);
    }
}

/*
 * Delivery order. The events of one transaction reach the host in the
 * order of the calls that caused them, although a scan's lookup runs on
 * the lookup thread and the complete's award on the writer thread, and
 * either may post first. The main thread stamps every job it queues
 * (next_seq); an award records the stamp of its transaction's last queued
 * lookup (`after`). Here, on the main thread:
 *  - lookup events are delivered at once; the lookup thread posts one per
 *    job in stamp order, so delivering seq N settles every lookup <= N;
 *  - a write-lane event (award, refund, their failures) whose lookup is not
 *    settled is held back, and so is every write-lane event after it, so
 *    the writer's order survives as well;
 *  - everything else (scanners, sync, storage state, disable) is of no
 *    transaction and never waits.
 * Nothing is held forever: every queued lookup is answered by the lookup
 * thread (even at shutdown it drains its queue), a lookup whose event was
 * lost still raises lookups_posted and asks for a callback, and a lookup
 * that was never queued (queue full) is never waited for. So once the
 * list taken below has been delivered, every lookup up to lookups_posted
 * is settled. Holding is only deferral: no waiting, no allocation here.
 */
void tp_instance_deliver_events(tp_instance *in)
{
    pthread_mutex_lock(&in->events_lock);
    tp_event_node *node = in->events_head;
    in->events_head = in->events_tail = NULL;
    atomic_store(&in->events_waiting, 0);
    uint64_t posted = in->lookups_posted;
    uint64_t dropped = in->events_dropped;
    in->events_dropped = 0;
    pthread_mutex_unlock(&in->events_lock);
    if (dropped)
        tp_instance_log(in, TP_LOG_WARNING,
                        "%llu scanner, sync or storage notices were dropped while the host "
                        "did not collect events; every checkout outcome is kept",
                        (unsigned long long)dropped);
    while (node) {
        tp_event_node *next = node->next;
        node->next = NULL;
        if (node->ord.lane == TP_LANE_WRITE &&
            (in->held_head || node->ord.after > in->lookups_settled)) {
            if (in->held_tail)
                in->held_tail->next = node;
            else
                in->held_head = node;
            in->held_tail = node;
        } else {
            if (node->ord.lane == TP_LANE_LOOKUP && node->ord.seq > in->lookups_settled)
                in->lookups_settled = node->ord.seq;
            tp_instance_deliver_node(in, node);
            release_held(in);
        }
        node = next;
    }
    if (posted > in->lookups_settled)
        in->lookups_settled = posted;
    release_held(in);
}


void tp_instance_deliver_final(tp_instance *in)
{
    tp_instance_deliver_events(in);
    in->lookups_settled = UINT64_MAX;
    release_held(in);
}
