/*
 * entry.c — the one exported symbol and the instance lifecycle.
 *
 * create() only checks the host and allocates; init() reads the config,
 * reads back the side journal of an earlier bounded shutdown, opens three
 * connections (writer, lookup, admin) and starts two threads; destroy()
 * closes the queues, lets the writer flush what was acknowledged for at
 * most [limits] shutdown_deadline_ms (see workers.c for what happens to a
 * writer stuck in the disk after that), delivers every event still pending
 * through the host's on_event, and frees everything. Nothing here exits, aborts,
 * forks or installs signal handlers: whatever goes wrong becomes a status
 * and a sentence for the host.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "confirm.h"
#include "abi.h"
#include "expiry.h"
#include "images.h"
#include "instance.h"
#include "spend.h"
#include "outbox.h"
#include "scanners.h"
#include "sidejournal.h"
#include "stats.h"
#include "sync.h" /* sync: */
#include "tillpoints/ext/about.h"
#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/audit.h"
#include "tillpoints/ext/hostrole.h"
#include "tillpoints/ext/stats.h"
#include "tillpoints/ext/sync.h"
#include "tillpoints/ext/ui.h"
#include "ui.h"
#include "util.h"
#include "workers.h"

static void on_main_thread(const tp_plugin *plugin)
{
    tp_instance *in = tp_instance_of(plugin);
    if (!in)
        return;
    tp_instance_deliver_events(in);
    tp_ui_deliver(in);
}

static const void *get_extension(const tp_plugin *plugin, const char *id)
{
    if (!plugin || !id)
        return NULL;
    if (strcmp(id, TP_EXT_CHECKOUT) == 0)
        return &tp_checkout_extension;
    if (strcmp(id, TP_EXT_MEMBERS) == 0)
        return &tp_members_extension;
    if (strcmp(id, TP_EXT_LEDGER) == 0)
        return &tp_ledger_extension;
    if (strcmp(id, TP_EXT_TRANSFER) == 0)
        return &tp_transfer_extension;
    if (strcmp(id, TP_EXT_MANAGERS) == 0)
        return &tp_managers_extension;
    if (strcmp(id, TP_EXT_QUEUE) == 0)
        return &tp_queue_extension;
    if (strcmp(id, TP_EXT_SCANNERS) == 0)
        return &tp_scanners_extension;
    if (strcmp(id, TP_EXT_UI) == 0)
        return &tp_ui_extension;
    if (strcmp(id, TP_EXT_SYNC) == 0)
        return &tp_sync_extension;
    if (strcmp(id, TP_EXT_ABOUT) == 0)
        return &tp_about_extension;
    if (strcmp(id, TP_EXT_AUDIT) == 0)
        return &tp_audit_extension;
    if (strcmp(id, TP_EXT_IMAGES) == 0)
        return &tp_images_extension;
    if (strcmp(id, TP_EXT_STATS) == 0)
        return &tp_stats_extension;
    if (strcmp(id, TP_EXT_EXPIRY) == 0)
        return &tp_expiry_extension;
    if (strcmp(id, TP_EXT_REDEEM) == 0)
        return &tp_redeem_extension;
#ifdef TP_EXT_CODES /* built against the made-up next minor (tests/abi/next.py) */
    if (strcmp(id, TP_EXT_CODES) == 0)
        return &tp_codes_extension;
#endif
    return NULL;
}

/* Tells the host, for each job destroy() could not wait for, that its
 * receipt was deferred to the next start (journaled) or not saved at all. */
static void deliver_unsaved(tp_instance *in, const tp_write_job *jobs, size_t n, int journaled)
{
    for (size_t i = 0; i < n; i++) {
        int award = jobs[i].kind == TP_JOB_AWARD;
        if (!award && jobs[i].kind != TP_JOB_REFUND)
            continue; /* a reservation: its sale ends with this process */
        tp_event_node *node = calloc(1, sizeof *node);
        if (!node)
            continue;
        tp_outcome *o = &node->o;
        o->kind = journaled ? (award ? TP_EVENT_AWARD_DEFERRED : TP_EVENT_REFUND_DEFERRED)
                            : (award ? TP_EVENT_AWARD_FAILED : TP_EVENT_REFUND_FAILED);
        o->status = TP_ERR_STORAGE;
        o->time_ms = tp_now_ms();
        if (award)
            tp_copy(o->txn, sizeof o->txn, jobs[i].u.award.txn);
        tp_copy(o->receipt, sizeof o->receipt,
                award ? jobs[i].u.award.receipt : jobs[i].u.refund.receipt);
        if (!award)
            tp_copy(o->refund, sizeof o->refund, jobs[i].u.refund.refund);
        if (journaled)
            tp_buf_set(o->message, sizeof o->message,
                       "Receipt %s was not saved before shutdown; it is kept and saved when "
                       "loyalty next starts.", o->receipt);
        else
            tp_buf_set(o->message, sizeof o->message,
                       "Receipt %s could not be saved before shutdown; credit it again later.",
                       o->receipt);
        tp_instance_deliver_node(in, node);
    }
}

/* Stops every thread; the writer within the shutdown deadline (workers.c).
 * Then, on this (the host's main) thread, delivers every event still
 * pending and one for each receipt that could not be saved in time. */
static void stop_threads(tp_instance *in)
{
    /* A quarter of the deadline is kept for writing the side journal, which
     * may stall on the same disk as the database. */
    int64_t deadline = tp_mono_ms() + in->cfg.shutdown_deadline_ms;
    int64_t writer_deadline = deadline - in->cfg.shutdown_deadline_ms / 4;
    tp_expiry_stop(in); /* first: it may be between two chunks of a run */
    tp_ui_stop(in);
    tp_scanners_stop(in->scanners);
    in->scanners = NULL;
    tp_sync_stop(in->sync); /* sync: before the stores it reads close */
    in->sync = NULL;
    if (in->lookup_q.ring)
        tp_queue_close(&in->lookup_q);
    /* Lookups first: their events go before the awards held for them. */
    if (in->reader_started)
        pthread_join(in->reader, NULL);
    tp_write_job *unsaved = NULL;
    size_t n_unsaved = 0;
    int abandoned = 0;
    if (in->writer_started)
        abandoned = tp_writer_stop(in, writer_deadline, &unsaved, &n_unsaved);
    else if (in->write_q.ring)
        tp_queue_close(&in->write_q);
    in->writer_started = in->reader_started = 0;
    /* After the writer, which hands it reservations; a writer given up on
     * reaches it no more (workers.c, hand_over). */
    tp_confirm_stop(in->confirm);
    in->confirm = NULL;
    in->initialised = 0; /* an on_event that calls the plugin gets TP_ERR_STATE */

    /* Every thread that posts is stopped or gated off: the lists are ours. */
    tp_instance_deliver_final(in);
    if (abandoned) {
        tp_message why;
        tp_msg_clear(&why);
        tp_status st = unsaved ? tp_sidejournal_write_by(in->pending_path, unsaved, n_unsaved,
                                                         deadline, &why)
                               : TP_ERR_NO_MEMORY;
        if (st == TP_OK)
            tp_instance_log(in, TP_LOG_ERROR,
                            "shutdown deadline of %d ms passed with the database not answering "
                            "(a hung disk, or another task holding it): %zu checkouts are kept "
                            "in %s and saved at the next start",
                            in->cfg.shutdown_deadline_ms, n_unsaved, in->pending_path);
        else
            tp_instance_log(in, TP_LOG_ERROR,
                            "shutdown deadline of %d ms passed with the database not answering, "
                            "and %zu checkouts could not be kept either: %s",
                            in->cfg.shutdown_deadline_ms, n_unsaved,
                            unsaved ? why.text : "out of memory");
        deliver_unsaved(in, unsaved, unsaved ? n_unsaved : 0, st == TP_OK);
        free(unsaved);
    }
}

static tp_status plugin_init(const tp_plugin *plugin, tp_message *msg)
{
    tp_msg_clear(msg);
    tp_instance *in = tp_instance_of(plugin);
    if (!in) {
        tp_msg_set(msg, "No plugin instance was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (in->initialised || in->init_tried) {
        tp_msg_set(msg, in->initialised ? "The plugin instance is already initialised."
                                        : "init() failed before; destroy this instance and "
                                          "create a new one.");
        return TP_ERR_STATE;
    }
    in->init_tried = 1;
    tp_status st = tp_config_load(&in->cfg, in->config_path, msg);
    if (st != TP_OK)
        return st;
    in->txns = calloc((size_t)in->cfg.max_open_transactions, sizeof *in->txns);
    in->spending = calloc((size_t)in->cfg.max_open_transactions, sizeof *in->spending);
    if (!in->txns || !in->spending || tp_queue_init(&in->write_q, sizeof(tp_write_job),
                                   (size_t)in->cfg.queue_capacity) != 0 ||
        tp_queue_init(&in->lookup_q, sizeof(tp_lookup_job), 1024) != 0) {
        tp_msg_set(msg, "Out of memory starting loyalty.");
        return TP_ERR_NO_MEMORY;
    }
    st = tp_writer_prepare(in, msg); /* the side journal of a bounded shutdown */
    if (st == TP_OK)
        st = tp_store_open(in->cfg.database, &in->writer_store, msg);
    if (st == TP_OK)
        st = tp_store_open(in->cfg.database, &in->reader_store, msg);
    if (st == TP_OK)
        st = tp_store_open(in->cfg.database, &in->admin_store, msg);
    /* sync: journal for a central database only when one is configured. */
    if (st == TP_OK)
        st = tp_outbox_enable(in->admin_store, in->cfg.sync.postgres[0] != '\0', msg);
    /* Points reserved by sales of this terminal's last run: those sales
     * ended with it (a crash, kill -9). A back office sells nothing and
     * leaves the till's reservations alone. */
    if (st == TP_OK && !in->back_office)
        st = tp_spend_clear_reservations(in->admin_store, &in->cfg, msg);
    /* Before the writer, which reads in->confirm to hand it reservations. */
    if (st == TP_OK) /* a till with [sync] postgres: confirms redemptions centrally */
        st = tp_confirm_start(in, &in->confirm, msg);
    if (st != TP_OK)
        return st;
    in->refs++; /* the writer's, dropped when it exits (workers.c) */
    if (pthread_create(&in->writer, NULL, tp_writer_main, in) != 0) {
        in->refs--;
        tp_msg_set(msg, "Cannot start the loyalty writer thread.");
        return TP_ERR_INTERNAL;
    }
    in->writer_started = 1;
    if (pthread_create(&in->reader, NULL, tp_reader_main, in) != 0) {
        tp_msg_set(msg, "Cannot start the member lookup thread.");
        return TP_ERR_INTERNAL;
    }
    in->reader_started = 1;
    st = in->back_office ? TP_OK : tp_scanners_start(in, &in->scanners, msg);
    if (st == TP_OK)
        st = tp_ui_start(in, msg);
    if (st == TP_OK)
        st = tp_sync_start(in, &in->sync, msg); /* sync: only with [sync] postgres */
    if (st == TP_OK)
        st = tp_expiry_start(in, msg); /* a till with [expiry] months > 0 */
    if (st != TP_OK)
        return st;
    in->initialised = 1;
    tp_instance_log(in, TP_LOG_INFO, "tillpoints ready: location %s, terminal %s, database %s",
                    in->cfg.location, in->cfg.terminal, in->cfg.database);
    return TP_OK;
}

/* What the writer may still use after destroy() gave up on it: freed by
 * whoever of the two finishes last (tp_instance_unref). */
void tp_instance_free_shared(tp_instance *in)
{
    tp_store_close(in->writer_store);
    tp_queue_destroy(&in->write_q);
    free(in->replay);
    pthread_mutex_destroy(&in->events_lock);
    pthread_mutex_destroy(&in->w_lock);
    pthread_cond_destroy(&in->w_cond);
    pthread_rwlock_destroy(&in->host_gate);
    free(in);
}

static void plugin_destroy(const tp_plugin *plugin)
{
    tp_instance *in = tp_instance_of(plugin);
    if (!in)
        return;
    stop_threads(in);
    tp_store_close(in->reader_store);
    tp_store_close(in->admin_store);
    tp_stats_cache_free(in->stats_cache);
    tp_queue_destroy(&in->lookup_q);
    pthread_mutex_destroy(&in->admin_lock);
    free(in->txns);
    free(in->spending);
    free(in->config_path);
    tp_instance_unref(in);
}

static const tp_plugin *entry_create(const tp_host *host, const char *config_path,
                                     tp_message *msg)
{
    tp_msg_clear(msg);
    if (!host) {
        tp_msg_set(msg, "No host was given.");
        return NULL;
    }
    /* `abi` is the first member of tp_host in every major version, so a
     * host of another major is read that far and no further. */
    tp_version ours = TP_VERSION_INIT;
    if (!tp_version_is_compatible(ours, host->abi)) {
        tp_msg_set(msg,
                   "This loyalty plugin speaks tillpoints ABI %u.%u, and the host was built "
                   "for ABI %u.%u: they cannot work together. Install the tillpoints plugin "
                   "built for ABI %u, or update the host to ABI %u.",
                   ours.major, ours.minor, host->abi.major, host->abi.minor, host->abi.major,
                   ours.major);
        return NULL;
    }
    if (host->struct_size < TP_MIN_HOST) {
        tp_msg_set(msg,
                   "The host's tp_host has struct_size %u; tillpoints ABI 2.0 needs at least "
                   "%zu (set it to sizeof(tp_host)).",
                   (unsigned)host->struct_size, (size_t)TP_MIN_HOST);
        return NULL;
    }
    if (!host->request_callback) {
        tp_msg_set(msg, "The host must provide request_callback.");
        return NULL;
    }
    if (config_path && tp_bounded_len(config_path, TP_CFG_PATH_MAX - 1) == (size_t)-1) {
        tp_msg_set(msg, "The configuration file name is too long.");
        return NULL;
    }
    tp_instance *in = calloc(1, sizeof *in);
    if (!in || (config_path && !(in->config_path = strdup(config_path)))) {
        free(in);
        tp_msg_set(msg, "Out of memory creating the loyalty plugin.");
        return NULL;
    }
    in->host = host;
    in->events = host->get_extension ? host->get_extension(host, TP_HOST_EXT_EVENTS) : NULL;
    in->host_ui = host->get_extension ? host->get_extension(host, TP_HOST_EXT_UI) : NULL;
    /* 2.3: a back-office host (ext/hostrole.h) owns no scanners. */
    const tp_host_role_ext *role =
        host->get_extension ? host->get_extension(host, TP_HOST_EXT_ROLE) : NULL;
    in->back_office = role && role->struct_size >= TP_FIELD_END(tp_host_role_ext, flags) &&
                      (role->flags & TP_HOST_ROLE_BACK_OFFICE);
    /* A host table smaller than 2.0's is not one this plugin can call. */
    if (in->events && in->events->struct_size < TP_MIN_HOST_EVENTS)
        in->events = NULL;
    if (in->host_ui && in->host_ui->struct_size < TP_MIN_HOST_UI)
        in->host_ui = NULL;
    atomic_init(&in->disabled, 0);
    atomic_init(&in->events_waiting, 0);
    pthread_mutex_init(&in->events_lock, NULL);
    pthread_mutex_init(&in->admin_lock, NULL);
    pthread_rwlock_init(&in->host_gate, NULL);
    pthread_mutex_init(&in->w_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines ignore clock changes */
    pthread_cond_init(&in->w_cond, &ca);
    pthread_condattr_destroy(&ca);
    in->refs = 1;
    in->plugin.struct_size = sizeof in->plugin;
    in->plugin.plugin_data = in;
    in->plugin.init = plugin_init;
    in->plugin.destroy = plugin_destroy;
    in->plugin.get_extension = get_extension;
    in->plugin.on_main_thread = on_main_thread;
    return &in->plugin;
}

static int entry_init(const char *plugin_path)
{
    (void)plugin_path;
    /* SQLite must be usable from several threads, each with its own
     * connection; anything less would be a broken build. */
    return sqlite3_threadsafe() != 0 && sqlite3_initialize() == SQLITE_OK &&
           sodium_init() >= 0; /* signed passes; safe to call repeatedly */
}

static void entry_deinit(void)
{
    /* Nothing process-wide to release: instances own everything, and
     * sqlite3_shutdown() could pull SQLite from under another user of it
     * in the host process. */
}

TP_EXPORT const tp_entry tillpoints_entry = {
    .abi = TP_VERSION_INIT,
    .struct_size = sizeof(tp_entry),
    .init = entry_init,
    .deinit = entry_deinit,
    .create = entry_create,
};
