/*
 * example_host.c — a complete, minimal C host of the tillpoints plugin
 * (docs/INTEGRATING.md walks through it). It uses only the installed
 * headers; the plugin is loaded with dlopen, never linked:
 *
 *   cc -o example_host example_host.c $(pkg-config --cflags --libs tillpoints)
 *   ./example_host "$(pkg-config --variable=plugin tillpoints)" \
 *       /etc/tillpoints/tillpoints.conf M-1001
 *
 * It loads the plugin, refuses one of another ABI major, creates an
 * instance on the config, rings up one sale for the member code given (or
 * none), and waits on its main loop for the award event. Plugin threads
 * never call the host's code directly: they call request_callback(), which
 * writes a byte to a pipe; the main loop sees the pipe readable and calls
 * plugin->on_main_thread(), from which the events arrive.
 *
 * Exit status: 0 when the sale was recorded (award committed), 1 when the
 * plugin refused something or no outcome came within 10 s, 2 on usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tillpoints/ext/checkout.h>
#include <tillpoints/ext/events.h>
#include <tillpoints/tillpoints.h>

/* Everything the host keeps; reached from the callbacks via host_data. */
typedef struct example {
    tp_host host;               /* given to the plugin; outlives it */
    tp_host_events_ext events;  /* our TP_HOST_EXT_EVENTS */
    int wake[2];                /* request_callback -> main loop */
    char receipt_id[TP_RECEIPT_ID_MAX + 1];
    int done;                   /* 1: award committed, -1: failed */
} example;

/* [thread-safe] Called from plugin threads: only wake the main loop. A full
 * pipe already means "call me back", so a failed write is fine. */
static void on_request_callback(const tp_host *host)
{
    example *ex = host->host_data;
    char b = 1;
    ssize_t r = write(ex->wake[1], &b, 1);
    (void)r;
}

/* [thread-safe] The plugin's log lines. */
static void on_log(const tp_host *host, tp_log_level level, const char *msg)
{
    (void)host;
    if (level >= TP_LOG_WARNING)
        fprintf(stderr, "tillpoints: %s\n", msg);
}

static const char *event_name(tp_event_kind kind)
{
    switch (kind) {
    case TP_EVENT_MEMBER_IDENTIFIED: return "member identified";
    case TP_EVENT_MEMBER_UNKNOWN: return "member unknown";
    case TP_EVENT_AWARD_COMMITTED: return "award committed";
    case TP_EVENT_AWARD_FAILED: return "award failed";
    case TP_EVENT_REFUND_COMMITTED: return "refund committed";
    case TP_EVENT_REFUND_FAILED: return "refund failed";
    case TP_EVENT_PLUGIN_DISABLED: return "plugin disabled";
    case TP_EVENT_STORAGE_ERROR: return "storage error";
    case TP_EVENT_STORAGE_RECOVERED: return "storage recovered";
    case TP_EVENT_SCANNED: return "scanned";
    case TP_EVENT_SCAN_REJECTED: return "scan rejected";
    case TP_EVENT_SCANNER_ONLINE: return "scanner online";
    case TP_EVENT_SCANNER_OFFLINE: return "scanner offline";
    case TP_EVENT_SCANNER_ERROR: return "scanner error";
    case TP_EVENT_SYNC_STATE: return "central link";
    case TP_EVENT_SYNC_PARKED: return "central refused";
    case TP_EVENT_AWARD_DEFERRED: return "award kept for the next start";
    case TP_EVENT_REFUND_DEFERRED: return "refund kept for the next start";
    default: break; /* a kind of a later minor version: keep compiling */
    }
    return "event";
}

/* [main-thread] Events, delivered from inside on_main_thread(). The event
 * and its strings are valid for this call only: copy what you keep. A 2.0
 * plugin's event has every field below; one that a later minor version
 * appends is read only when TP_HAS_FIELD(ev, tp_event, field) says the
 * plugin's event has it. */
static void on_event(const tp_host *host, const tp_event *ev)
{
    example *ex = host->host_data;
    printf("[%s] %s\n", event_name(ev->kind), ev->message);
    switch (ev->kind) {
    case TP_EVENT_AWARD_COMMITTED:
        if (strcmp(ev->receipt_id, ex->receipt_id) == 0) {
            /* The balance to show (2.2): on a terminal of a chain, the
             * central balance plus this terminal's entries not yet
             * confirmed; from an older plugin, its ledger sum. */
            int64_t shown = TP_HAS_FIELD(ev, tp_event, balance_source) && ev->balance_source &&
                                    ev->balance_source[0]
                                ? ev->shown_balance
                                : ev->balance;
            printf("receipt %s recorded: %+lld points%s%s, balance %lld\n", ev->receipt_id,
                   (long long)ev->points, ev->member_code[0] ? " for " : "",
                   ev->member_code, (long long)shown);
            ex->done = 1;
        }
        break;
    case TP_EVENT_AWARD_FAILED:
    case TP_EVENT_PLUGIN_DISABLED:
        ex->done = -1;
        break;
    default:
        break; /* later minor versions add kinds: ignore unknown ones */
    }
}

/* [thread-safe] Host-side extensions the plugin may ask for. */
static const void *on_get_extension(const tp_host *host, const char *id)
{
    example *ex = host->host_data;
    if (id && strcmp(id, TP_HOST_EXT_EVENTS) == 0)
        return &ex->events;
    return NULL; /* e.g. "tillpoints.host-ui/2" (forms) not offered here */
}

/* The main loop's part: drain the pipe, let the plugin deliver. */
static void dispatch(example *ex, const tp_plugin *p)
{
    char buf[64];
    while (read(ex->wake[0], buf, sizeof buf) > 0)
        ;
    p->on_main_thread(p);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s PLUGIN.so [CONFIG] [MEMBER-CODE]\n", argv[0]);
        return 2;
    }
    const char *plugin_path = argv[1];
    const char *config_path = argc > 2 && argv[2][0] ? argv[2] : NULL; /* NULL: defaults */
    const char *member_code = argc > 3 ? argv[3] : NULL;

    static example ex; /* static: zeroed, and its address stays valid */
    if (pipe(ex.wake) != 0 || fcntl(ex.wake[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(ex.wake[1], F_SETFL, O_NONBLOCK) != 0) {
        perror("pipe");
        return 1;
    }

    /* 1. Load the plugin and check its ABI major before calling anything. */
    void *so = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "cannot load %s: %s\n", plugin_path, dlerror());
        return 1;
    }
    const tp_entry *entry = (const tp_entry *)dlsym(so, TP_ENTRY_SYMBOL);
    if (!entry) {
        fprintf(stderr, "%s is not a tillpoints plugin\n", plugin_path);
        dlclose(so);
        return 1;
    }
    tp_version ours = TP_VERSION_INIT;
    if (!tp_version_is_compatible(ours, entry->abi)) {
        fprintf(stderr,
                "The loyalty plugin %s was built for tillpoints ABI %u.%u; this host needs "
                "ABI %u.x.\n",
                plugin_path, (unsigned)entry->abi.major, (unsigned)entry->abi.minor,
                (unsigned)ours.major);
        dlclose(so);
        return 1;
    }
    printf("plugin ABI %u.%u.%u\n", (unsigned)entry->abi.major, (unsigned)entry->abi.minor,
           (unsigned)entry->abi.patch);
    if (!entry->init(plugin_path)) {
        fprintf(stderr, "the plugin refused to initialise\n");
        dlclose(so);
        return 1;
    }

    /* 2. The host struct, then one plugin instance on the config. Every
     *    struct that starts with struct_size gets its sizeof from whoever
     *    allocates it: here the host. */
    ex.events.struct_size = sizeof ex.events;
    ex.events.on_event = on_event;
    ex.host.abi = ours;
    ex.host.struct_size = sizeof ex.host;
    ex.host.name = "example host";
    ex.host.vendor = "tillpoints docs";
    ex.host.version = "1.0";
    ex.host.host_data = &ex;
    ex.host.get_extension = on_get_extension;
    ex.host.request_callback = on_request_callback;
    ex.host.log = on_log;

    int status = 1;
    tp_message msg;
    const tp_plugin *p = entry->create(&ex.host, config_path, &msg);
    if (!p) {
        fprintf(stderr, "create: %s\n", msg.text);
        goto out_entry;
    }
    if (p->init(p, &msg) != TP_OK) { /* a bad config says file and line */
        fprintf(stderr, "init: %s\n", msg.text);
        goto out_plugin;
    }
    /* An extension table starts with its size too: a function a later
     * minor version appends is called only when TP_HAS_FIELD says the
     * plugin's table has it. */
    const tp_checkout_ext *co = p->get_extension(p, TP_EXT_CHECKOUT);
    if (!co || !TP_HAS_FIELD(co, tp_checkout_ext, complete)) {
        fprintf(stderr, "the plugin has no %s\n", TP_EXT_CHECKOUT);
        goto out_plugin;
    }

    /* 3. One sale. Every checkout call returns at once; outcomes follow
     *    as events. Receipt ids earn once: make them unique per sale. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(ex.receipt_id, sizeof ex.receipt_id, "EX-%lld-%ld", (long long)now.tv_sec,
             now.tv_nsec / 1000000);
    const char *txn = ex.receipt_id;
    tp_status st = co->begin(p, txn, "cashier-1", &msg);
    if (st == TP_OK && member_code)
        st = co->scan(p, txn, member_code, &msg);
    if (st != TP_OK) {
        fprintf(stderr, "refused: %s\n", msg.text);
        goto out_plugin;
    }
    const tp_line lines[] = {
        {.sku = "COFFEE", .amount_minor = 450},
        {.sku = "CROISSANT", .category = "bakery", .amount_minor = 280},
        {.sku = "VAT", .amount_minor = 51, .flags = TP_LINE_TAX}, /* earns nothing */
    };
    tp_receipt receipt = {.struct_size = sizeof receipt, .line_stride = sizeof(tp_line),
                          .receipt_id = ex.receipt_id, .currency = "EUR", .lines = lines,
                          .line_count = sizeof lines / sizeof lines[0]};
    tp_award_preview preview = {.struct_size = sizeof preview};
    st = co->complete(p, txn, &receipt, &preview, &msg);
    if (st != TP_OK) {
        fprintf(stderr, "complete refused: %s\n", msg.text);
        goto out_plugin;
    }
    printf("sale %s: eligible %lld.%02lld, %lld points pending\n", ex.receipt_id,
           (long long)(preview.eligible_minor / 100), (long long)(preview.eligible_minor % 100),
           (long long)preview.points);

    /* 4. The main loop: a real POS polls its UI and this fd together. */
    for (int waited_ms = 0; !ex.done && waited_ms < 10000; waited_ms += 100) {
        struct pollfd pfd = {.fd = ex.wake[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0)
            dispatch(&ex, p);
    }
    if (ex.done == 1)
        status = 0;
    else if (!ex.done)
        fprintf(stderr, "no outcome for %s within 10 s\n", ex.receipt_id);

out_plugin:
    p->destroy(p); /* joins the plugin's threads; flushes accepted work */
out_entry:
    entry->deinit();
    dlclose(so);
    close(ex.wake[0]);
    close(ex.wake[1]);
    return status;
}
