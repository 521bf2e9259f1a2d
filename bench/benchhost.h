/*
 * benchhost.h — the host of a plugin linked into a benchmark
 * (libtillpoints-test.a), for bench_sync and bench_redeem: one instance,
 * a host that delivers events when the plugin asks (request_callback
 * counts the requests; bench_host_pump answers them), errors of the
 * plugin's log on stderr with BENCH_VERBOSE set. Header-only, after
 * hostabi.h.
 */
#ifndef TP_BENCH_HOST_H
#define TP_BENCH_HOST_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/tillpoints.h"

typedef struct bench_host bench_host;
struct bench_host {
    tp_host host;
    tp_host_events_ext events;
    atomic_int callbacks;
    const tp_plugin *p;
    const tp_checkout_ext *co;
    tp_admin_set admin;
    const tp_admin_set *ad; /* &admin */
    /* Each event, on the thread that pumps; NULL: events are dropped. */
    void (*on_event)(bench_host *b, const tp_event *e);
};

static inline const void *bench_host_extension(const tp_host *h, const char *id)
{
    bench_host *b = h->host_data;
    return b->on_event && strcmp(id, TP_HOST_EXT_EVENTS) == 0 ? &b->events : NULL;
}

static inline void bench_host_request_callback(const tp_host *h)
{
    bench_host *b = h->host_data;
    atomic_fetch_add(&b->callbacks, 1);
}

static inline void bench_host_log(const tp_host *h, tp_log_level level, const char *msg)
{
    (void)h;
    if (level >= TP_LOG_ERROR && getenv("BENCH_VERBOSE"))
        fprintf(stderr, "plugin: %s\n", msg);
}

static inline void bench_host_event(const tp_host *h, const tp_event *e)
{
    bench_host *b = h->host_data;
    b->on_event(b, e);
}

/* Creates and initialises the instance on `config`; `name` is the host's
 * name. Everything else of *b is set here (on_event kept). 0, or -1 with
 * the reason on stderr. */
static inline int bench_host_start(bench_host *b, const char *name, const char *config)
{
    void (*on_event)(bench_host *, const tp_event *) = b->on_event;
    memset(b, 0, sizeof *b);
    b->on_event = on_event;
    b->events.struct_size = sizeof b->events;
    b->events.on_event = bench_host_event;
    b->host.abi = (tp_version)TP_VERSION_INIT;
    b->host.struct_size = sizeof b->host;
    b->host.name = name;
    b->host.vendor = "tillpoints";
    b->host.version = "0";
    b->host.host_data = b;
    b->host.get_extension = bench_host_extension;
    b->host.request_callback = bench_host_request_callback;
    b->host.log = bench_host_log;
    if (!tillpoints_entry.init("bench"))
        return -1;
    tp_message msg;
    b->p = tillpoints_entry.create(&b->host, config, &msg);
    if (!b->p || b->p->init(b->p, &msg) != TP_OK) {
        fprintf(stderr, "bench: init: %s\n", msg.text);
        return -1;
    }
    const char *missing = tp_admin_set_get(b->p, &b->admin);
    if (missing) {
        fprintf(stderr, "bench: the plugin lacks the %s extension.\n", missing);
        return -1;
    }
    b->ad = &b->admin;
    b->co = b->admin.checkout;
    return 0;
}

/* Delivers the events the plugin asked to deliver, if it asked. */
static inline void bench_host_pump(bench_host *b)
{
    if (atomic_exchange(&b->callbacks, 0) > 0)
        b->p->on_main_thread(b->p);
}

/* Destroys the instance (NULL-safe). */
static inline void bench_host_stop(bench_host *b)
{
    if (b->p)
        b->p->destroy(b->p);
    b->p = NULL;
}

#endif
