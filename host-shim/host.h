/*
 * host.h — the host side of the ABI, shared by every host in host-shim/
 * (the reference till, the admin CLI, the JSON-lines shim): loading the
 * plugin with dlopen, checking its ABI version, providing the host
 * services, and delivering plugin callbacks on the host's main thread.
 *
 * Threading: request_callback() (called from plugin threads) writes one
 * byte to a non-blocking pipe; the host's main loop polls the pipe's read
 * end (tp_hostlib_wake_fd) and calls tp_hostlib_dispatch(), which runs the
 * plugin's on_main_thread(); events then reach `on_event`.
 *
 * Sizes (docs/DESIGN.md §2, "The ABI contract" in tillpoints.h): the host
 * library reads what the plugin hands out only as far as its struct_size
 * or stride covers (hostabi.h), so a host built against these headers also
 * runs a plugin of a later minor version, whose structs are bigger.
 */
#ifndef TP_HOSTLIB_H
#define TP_HOSTLIB_H

#include <stddef.h>
#include <stdio.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/ext/hostrole.h"
#include "tillpoints/ext/stats.h"
#include "tillpoints/ext/ui.h"
#include "tillpoints/tillpoints.h"

#include "hostabi.h"

typedef struct tp_hostlib tp_hostlib;

typedef void (*tp_hostlib_event_fn)(void *user, const tp_event *ev);

/* The host-ui extension (ext/ui.h), on the main thread like events: the
 * form is valid for the call only (tp_forms_copy_new keeps one). */
typedef void (*tp_hostlib_present_fn)(void *user, const tp_form *form);
typedef void (*tp_hostlib_dismiss_fn)(void *user, uint64_t form_id, int32_t done,
                                      const char *result);

typedef struct tp_hostlib_options {
    const char *plugin_path; /* NULL: $TILLPOINTS_PLUGIN, else the
                                installed plugin (tp_hostlib_plugin_path) */
    const char *config_path; /* NULL: built-in defaults */
    const char *host_name;   /* shown in the plugin's logs */
    tp_hostlib_event_fn on_event;
    void *user;
    int verbose;             /* log level DEBUG instead of WARNING */
    tp_version abi;          /* the ABI the host claims; {0} = ours */
    /* With on_present set, the host offers TP_HOST_EXT_UI (both must be
     * set); without, the plugin finds no host ui and opens no forms. */
    tp_hostlib_present_fn on_present;
    tp_hostlib_dismiss_fn on_dismiss;
    /* Load the plugin and create the instance only: no config is read, no
     * database opened, no thread started (for --version). The checkout,
     * admin and ui accessors then return NULL. */
    int create_only;
    /* When set, the plugin's log lines (those `verbose` lets through) go
     * here instead of to stderr. */
    void (*on_log)(void *user, tp_log_level level, const char *msg);
    /* A back-office program (tillpoints-web): the host offers
     * TP_HOST_EXT_ROLE with TP_HOST_ROLE_BACK_OFFICE, so the plugin starts
     * none of the till's scanners in this process. */
    int back_office;
} tp_hostlib_options;

/* Loads, creates and initialises the plugin. On failure returns NULL and
 * writes a sentence to `err`. */
tp_hostlib *tp_hostlib_open(const tp_hostlib_options *opt, char *err, size_t err_cap);

/* Destroys the plugin instance; its destroy() delivers the events still
 * pending (through the host's callbacks) before it returns. Waits for the
 * plugin's writer at most its [limits] shutdown_deadline_ms. */
void tp_hostlib_stop(tp_hostlib *h);

/* Destroys the plugin instance if tp_hostlib_stop did not, unloads it. */
void tp_hostlib_close(tp_hostlib *h);

const tp_plugin *tp_hostlib_plugin(tp_hostlib *h);
const tp_checkout_ext *tp_hostlib_checkout(tp_hostlib *h);
/* The manager-side extensions and checkout (hostabi.h), every one of them
 * there; NULL with create_only. */
const tp_admin_set *tp_hostlib_admin(tp_hostlib *h);
/* The plugin's ui extension (forms), or NULL when the plugin lacks it. */
const tp_ui_ext *tp_hostlib_ui(tp_hostlib *h);

/* The fd that becomes readable when the plugin asked for a callback. */
int tp_hostlib_wake_fd(tp_hostlib *h);

/* Drains the wake pipe and lets the plugin deliver its events. */
void tp_hostlib_dispatch(tp_hostlib *h);

/* Waits until the plugin has processed every accepted request (checkout
 * flush), then delivers the resulting events. */
tp_status tp_hostlib_settle(tp_hostlib *h, int64_t timeout_ms, tp_message *msg);

/* Which plugin a host loads: `given` (--plugin) when not NULL, else
 * $TILLPOINTS_PLUGIN when set and not empty, else the installed plugin
 * (TP_INSTALLED_PLUGIN, compiled in from the Makefile's LIBDIR). Nothing
 * else is ever looked at: not the program's own directory, not the current
 * one, so an installed program loads only the installed plugin unless told
 * otherwise. Writes the path to `out`; returns which rule chose it. */
enum { TP_HOSTLIB_PLUGIN_GIVEN = 1, TP_HOSTLIB_PLUGIN_ENV = 2, TP_HOSTLIB_PLUGIN_INSTALLED = 3 };
int tp_hostlib_plugin_path(const char *given, char *out, size_t cap);

/* The installed configuration file every host uses when none is given. */
#define TP_HOSTLIB_DEFAULT_CONFIG "/etc/tillpoints/tillpoints.conf"

/* `given` when not NULL, else the default config when it exists, else NULL
 * (the plugin's built-in defaults). */
const char *tp_hostlib_config_path(const char *given);

/* `--version` of every host program: prints to `out` the program's release
 * and the ABI it was built against, then what the plugin (opt->plugin_path,
 * or the default search) says of itself: its file, release, ABI and the
 * SQLite it runs on. The plugin is created, never initialised. Returns the
 * exit status: 0, or 1 when the plugin cannot be loaded (the reason is
 * printed to `out` as the plugin line). */
int tp_hostlib_print_version(FILE *out, const char *program, const tp_hostlib_options *opt);

/* The human name of a status, e.g. "not found". */
const char *tp_hostlib_status_name(tp_status st);

/* An amount typed at the till ("12.50"; "1250" for yen) in minor units of
 * ISO 4217 `currency` (its own decimals, tillpoints/money.h). 0, or -1
 * when it is not one. */
int tp_hostlib_parse_money(const char *text, const char *currency, int64_t *minor);

#endif
