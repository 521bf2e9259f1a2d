/*
 * host.c — see host.h.
 */
#define _GNU_SOURCE /* pipe2 */
#include "host.h"
#include "tillpoints/money.h"

#include "tillpoints/ext/about.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TP_INSTALLED_PLUGIN
#define TP_INSTALLED_PLUGIN "/usr/lib/x86_64-linux-gnu/tillpoints/tillpoints.so"
#endif
#ifndef TP_VERSION
#error "TP_VERSION (the release, from packaging/deb/changelog) is set by the Makefile"
#endif

struct tp_hostlib {
    tp_host host;
    tp_hostlib_options opt;
    void *dl;
    const tp_entry *entry;
    int entry_inited;
    char path[PATH_MAX]; /* the plugin file loaded */
    const tp_plugin *plugin;
    const tp_checkout_ext *checkout;
    tp_admin_set admin;
    const tp_ui_ext *ui;
    tp_host_events_ext events;
    tp_host_ui_ext host_ui;
    tp_host_role_ext role;
    int wake[2];
};

static const void *host_get_extension(const tp_host *host, const char *id)
{
    tp_hostlib *h = host->host_data;
    if (id && strcmp(id, TP_HOST_EXT_EVENTS) == 0)
        return &h->events;
    if (id && strcmp(id, TP_HOST_EXT_UI) == 0 && h->opt.on_present && h->opt.on_dismiss)
        return &h->host_ui;
    if (id && strcmp(id, TP_HOST_EXT_ROLE) == 0 && h->opt.back_office)
        return &h->role;
    return NULL;
}

static void host_request_callback(const tp_host *host)
{
    tp_hostlib *h = host->host_data;
    char b = 1;
    /* Non-blocking: a full pipe already means "call me back". */
    ssize_t r = write(h->wake[1], &b, 1);
    (void)r;
}

static void host_log(const tp_host *host, tp_log_level level, const char *msg)
{
    tp_hostlib *h = host->host_data;
    if (level < TP_LOG_WARNING && !h->opt.verbose)
        return;
    if (h->opt.on_log) {
        h->opt.on_log(h->opt.user, level, msg);
        return;
    }
    static const char *const names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "tillpoints %s: %s\n", names[level <= TP_LOG_ERROR ? level : TP_LOG_ERROR],
            msg);
}

/* Hosts get every event as this build's tp_event, read by the plugin's
 * struct_size (hostabi.h). */
static void host_on_event(const tp_host *host, const tp_event *ev)
{
    tp_hostlib *h = host->host_data;
    if (h->opt.on_event && ev) {
        tp_event e = tp_event_read(ev);
        h->opt.on_event(h->opt.user, &e);
    }
}

static void host_present(const tp_host *host, const tp_form *form)
{
    tp_hostlib *h = host->host_data;
    if (h->opt.on_present && form)
        h->opt.on_present(h->opt.user, form);
}

static void host_dismiss(const tp_host *host, uint64_t form_id, int32_t done, const char *result)
{
    tp_hostlib *h = host->host_data;
    if (h->opt.on_dismiss)
        h->opt.on_dismiss(h->opt.user, form_id, done, result ? result : "");
}

int tp_hostlib_plugin_path(const char *given, char *out, size_t cap)
{
    /* Only an explicit choice overrides the installed plugin: never a file
     * found beside the program or in the current directory, which whoever
     * can write there could have put. A build tree names its plugin. */
    const char *env = getenv("TILLPOINTS_PLUGIN");
    int how = given ? TP_HOSTLIB_PLUGIN_GIVEN
              : env && *env ? TP_HOSTLIB_PLUGIN_ENV
                            : TP_HOSTLIB_PLUGIN_INSTALLED;
    const char *path = how == TP_HOSTLIB_PLUGIN_GIVEN ? given
                       : how == TP_HOSTLIB_PLUGIN_ENV ? env
                                                      : TP_INSTALLED_PLUGIN;
    snprintf(out, cap, "%s", path);
    return how;
}

tp_hostlib *tp_hostlib_open(const tp_hostlib_options *opt, char *err, size_t err_cap)
{
    tp_hostlib *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, err_cap, "Out of memory.");
        return NULL;
    }
    h->opt = *opt;
    h->wake[0] = h->wake[1] = -1;
    if (pipe2(h->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, err_cap, "Cannot create the wake-up pipe: %s.", strerror(errno));
        goto fail;
    }
    char *path = h->path;
    int how = tp_hostlib_plugin_path(opt->plugin_path, path, sizeof h->path);
    h->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h->dl) {
        /* The installed plugin missing is what a build tree run without
         * --plugin sees: say how to name the built one. */
        snprintf(err, err_cap, "Cannot load the plugin %s: %s%s", path, dlerror(),
                 how == TP_HOSTLIB_PLUGIN_INSTALLED
                     ? " (the installed plugin; to run another, e.g. build/tillpoints.so "
                       "from a build tree, pass --plugin PATH or set TILLPOINTS_PLUGIN)"
                     : "");
        goto fail;
    }
    h->entry = dlsym(h->dl, TP_ENTRY_SYMBOL);
    if (!h->entry) {
        snprintf(err, err_cap, "%s is not a tillpoints plugin (no %s).", path, TP_ENTRY_SYMBOL);
        goto fail;
    }
    /* `abi` is the first member of tp_entry in every major version: read
     * nothing else of a plugin of another major. */
    tp_version ours = TP_VERSION_INIT;
    tp_version claimed = opt->abi.major ? opt->abi : ours;
    if (!tp_version_is_compatible(claimed, h->entry->abi)) {
        snprintf(err, err_cap,
                 "The loyalty plugin %s was built for tillpoints ABI %u.%u; this host needs "
                 "ABI %u.x. Install the plugin that came with this host.",
                 path, h->entry->abi.major, h->entry->abi.minor, claimed.major);
        goto fail;
    }
    if (h->entry->struct_size < TP_FIELD_END(tp_entry, create)) {
        snprintf(err, err_cap,
                 "The loyalty plugin %s is damaged: its entry point is smaller than "
                 "tillpoints ABI %u.0 defines. Install the plugin that came with this host.",
                 path, claimed.major);
        goto fail;
    }
    if (!h->entry->init(path)) {
        snprintf(err, err_cap, "The plugin %s refused to initialise.", path);
        goto fail;
    }
    h->entry_inited = 1;
    h->events.struct_size = sizeof h->events;
    h->events.on_event = host_on_event;
    h->host_ui.struct_size = sizeof h->host_ui;
    h->host_ui.present = host_present;
    h->host_ui.dismiss = host_dismiss;
    h->role.struct_size = sizeof h->role;
    h->role.flags = TP_HOST_ROLE_BACK_OFFICE;
    h->host.abi = claimed;
    h->host.struct_size = sizeof h->host;
    h->host.name = opt->host_name ? opt->host_name : "tillpoints host";
    h->host.vendor = "tillpoints";
    h->host.version = TP_VERSION;
    h->host.host_data = h;
    h->host.get_extension = host_get_extension;
    h->host.request_callback = host_request_callback;
    h->host.log = host_log;
    tp_message msg;
    h->plugin = h->entry->create(&h->host, opt->config_path, &msg);
    if (!h->plugin) {
        snprintf(err, err_cap, "%s", msg.text);
        goto fail;
    }
    if (opt->create_only)
        return h;
    if (h->plugin->init(h->plugin, &msg) != TP_OK) {
        snprintf(err, err_cap, "%s", msg.text);
        goto fail;
    }
    const char *missing = tp_admin_set_get(h->plugin, &h->admin);
    if (missing) {
        snprintf(err, err_cap,
                 "The loyalty plugin %s lacks the %s extension this host needs. Install the "
                 "plugin that came with this host.",
                 path, missing);
        goto fail;
    }
    h->checkout = h->admin.checkout;
    h->ui = tp_hostabi_extension(h->plugin, TP_EXT_UI, TP_FIELD_END(tp_ui_ext, cancel));
    return h;
fail:
    tp_hostlib_close(h);
    return NULL;
}

void tp_hostlib_stop(tp_hostlib *h)
{
    if (h && h->plugin) {
        h->plugin->destroy(h->plugin);
        h->plugin = NULL;
    }
}

void tp_hostlib_close(tp_hostlib *h)
{
    if (!h)
        return;
    tp_hostlib_stop(h);
    if (h->entry_inited && h->entry)
        h->entry->deinit();
    /* Under AddressSanitizer the plugin stays mapped: LeakSanitizer's exit
     * check reads the threads' TLS, which an unloaded module (and its
     * dependencies) leaves dangling, and leak reports need the symbols. */
#if !defined(__SANITIZE_ADDRESS__)
    if (h->dl)
        dlclose(h->dl);
#endif
    if (h->wake[0] >= 0)
        close(h->wake[0]);
    if (h->wake[1] >= 0)
        close(h->wake[1]);
    free(h);
}

const tp_plugin *tp_hostlib_plugin(tp_hostlib *h) { return h->plugin; }
const tp_checkout_ext *tp_hostlib_checkout(tp_hostlib *h) { return h->checkout; }
const tp_admin_set *tp_hostlib_admin(tp_hostlib *h) { return h->admin.members ? &h->admin : NULL; }
const tp_ui_ext *tp_hostlib_ui(tp_hostlib *h) { return h->ui; }
int tp_hostlib_wake_fd(tp_hostlib *h) { return h->wake[0]; }

void tp_hostlib_dispatch(tp_hostlib *h)
{
    char buf[256];
    while (read(h->wake[0], buf, sizeof buf) > 0)
        ;
    h->plugin->on_main_thread(h->plugin);
}

tp_status tp_hostlib_settle(tp_hostlib *h, int64_t timeout_ms, tp_message *msg)
{
    tp_status st = h->checkout->flush(h->plugin, timeout_ms, msg);
    tp_hostlib_dispatch(h);
    return st;
}

const char *tp_hostlib_config_path(const char *given)
{
    if (given)
        return given;
    return access(TP_HOSTLIB_DEFAULT_CONFIG, F_OK) == 0 ? TP_HOSTLIB_DEFAULT_CONFIG : NULL;
}

const char *tp_hostlib_status_name(tp_status st)
{
    switch (st) {
    case TP_OK: return "ok";
    case TP_ERR_INVALID_ARGUMENT: return "invalid argument";
    case TP_ERR_TOO_LONG: return "too long";
    case TP_ERR_NOT_FOUND: return "not found";
    case TP_ERR_STATE: return "wrong state";
    case TP_ERR_DUPLICATE: return "duplicate";
    case TP_ERR_BUSY: return "busy";
    case TP_ERR_DISABLED: return "disabled";
    case TP_ERR_STORAGE: return "storage error";
    case TP_ERR_NO_MEMORY: return "out of memory";
    case TP_ERR_VERSION: return "version mismatch";
    case TP_ERR_CONFIG: return "configuration error";
    case TP_ERR_UNSUPPORTED: return "unsupported";
    case TP_ERR_INTERNAL: return "internal error";
    case TP_ERR_WRONG_PIN: return "wrong PIN";
    case TP_ERR_LOCKED_OUT: return "locked out";
    case TP_ERR_UNREACHABLE: return "unreachable";
    }
    return "unknown status";
}

int tp_hostlib_parse_money(const char *text, const char *currency, int64_t *minor)
{
    return tp_money_parse(text, tp_currency_exponent(currency), minor);
}

int tp_hostlib_print_version(FILE *out, const char *program, const tp_hostlib_options *opt)
{
    const tp_version ours = TP_VERSION_INIT;
    fprintf(out, "%s %s (tillpoints ABI %u.%u.%u)\n", program, TP_VERSION, ours.major, ours.minor,
            ours.patch);
    tp_hostlib_options o = *opt;
    o.config_path = NULL;
    o.create_only = 1;
    char err[512];
    tp_hostlib *h = tp_hostlib_open(&o, err, sizeof err);
    if (!h) {
        fprintf(out, "plugin: %s\n", err);
        return 1;
    }
    const tp_about_ext *about = tp_hostabi_extension(h->plugin, TP_EXT_ABOUT,
                                                     TP_FIELD_END(tp_about_ext, sqlite_version));
    fprintf(out, "plugin: %s %s (ABI %u.%u.%u), SQLite %s\n", h->path,
            about ? about->version(h->plugin) : "(release not reported)", h->entry->abi.major,
            h->entry->abi.minor, h->entry->abi.patch,
            about ? about->sqlite_version(h->plugin) : "(not reported)");
    tp_hostlib_close(h);
    return 0;
}
