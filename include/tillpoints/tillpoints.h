/*
 * tillpoints.h — the core ABI between a point-of-sale host and the
 * tillpoints loyalty plugin.
 *
 * The plugin (tillpoints.so) exports exactly one symbol, `tillpoints_entry`.
 * Everything else is reached through it:
 *
 *   entry->init(plugin_path)            once per process, before create
 *   entry->create(host, config_path)    one plugin instance per call
 *   plugin->init(plugin)                start threads, open the store
 *   plugin->get_extension(plugin, id)   e.g. TP_EXT_CHECKOUT
 *   plugin->destroy(plugin)             join threads, close the store
 *   entry->deinit()                     once, after the last destroy
 *
 * Conventions that hold for every function in every tillpoints header:
 *  - Thread: each function is marked [main-thread] (only the host's main
 *    thread may call it) or [thread-safe] (any thread, any time).
 *  - Memory: pointers passed across the ABI are owned by the caller and
 *    valid for the duration of the call only. A callee that needs the data
 *    later copies it. Out-structs are caller-allocated.
 *  - Strings: UTF-8, NUL-terminated, with the maximum length (in bytes,
 *    without the NUL) stated where the string is declared.
 *  - Money: int64_t minor units plus an ISO 4217 code; never floating point.
 *  - Time: int64_t milliseconds since the Unix epoch, UTC.
 *  - Errors: every fallible call returns tp_status. Calls that can fail for
 *    a reason a person should read take a `tp_message *` (may be NULL),
 *    filled with one sentence a cashier can act on.
 *  - Compatibility: see "The ABI contract" below and
 *    docs/INTEGRATING.md, "Versions and compatibility".
 */
#ifndef TILLPOINTS_H
#define TILLPOINTS_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The ABI contract (2.0, frozen).
 *
 * Versions. TP_ABI_MAJOR changes only when something below is broken on
 * purpose; a host and a plugin of different majors refuse each other with a
 * sentence naming both versions. `abi` is the first member of tp_entry and
 * of tp_host in every major version, so either side can read the other's
 * version before anything else. TP_ABI_MINOR counts additions; nothing
 * depends on comparing minors: everything a minor adds is found by size
 * (below) or by asking for an extension id.
 *
 * What a minor version may add, and nothing else:
 *  - fields at the end of a struct that starts with `struct_size`, or at
 *    the end of an array element type that travels with a stride;
 *  - functions at the end of an extension table (they start with
 *    `struct_size` too);
 *  - new extensions (new ids); an extension whose table cannot grow by
 *    appending gets a new id ("tillpoints.name/N+1") and the plugin keeps
 *    answering the old one for the rest of the major version;
 *  - new status values, event kinds, field kinds and flag bits, and limits
 *    that bound input (limits.h). A host treats a status it does not know
 *    as a failure (the message still says why), ignores an event kind it
 *    does not know and shows a field kind it does not know as INFO.
 * Nothing present ever moves, changes type or size, or changes meaning.
 *
 * Sizes. Whoever allocates a struct that starts with `struct_size` sets it
 * to sizeof() in its own build; whoever allocates an array sets its stride
 * (the element's sizeof() in its own build). The other side:
 *  - reads a field only when the size covers it (TP_HAS_FIELD,
 *    TP_STRIDE_HAS_FIELD) and takes a field it cannot see as 0 / NULL,
 *    which always means "not given" (so an older host's struct asks for
 *    the default);
 *  - writes into a caller-allocated struct or array element at most the
 *    caller's size, and sets the struct's `struct_size` to the bytes it
 *    filled (the smaller of the two sizes): the caller then knows which
 *    fields were filled. Bytes beyond stay as the caller left them.
 * A size below the 2.0 one is refused with TP_ERR_INVALID_ARGUMENT.
 * The struct sizes of this version are pinned by tests (tests/test_abi.c)
 * and by the ABI baseline (abi/, checked by `make abi-check`).
 *
 * Minor versions so far:
 *  - 2.1 added the extension "tillpoints.images/1" (ext/images.h: a host's
 *    own picture read and judged as a scan) and the limits TP_IMAGE_*.
 *    Its structs' smallest sizes are their 2.1 sizes.
 *  - 2.2 added the balance to show (tp_member_info, tp_event), the queue's
 *    last error and next try, queue_dismiss and TP_ERR_UNREACHABLE.
 *  - 2.3 added manager_verify (ext/managers.h: a manager's sign-in to a
 *    back office, same PIN policy and lockout as an approval), the
 *    extension "tillpoints.stats/1" (ext/stats.h: a dashboard's figures)
 *    and the host extension "tillpoints.host-role/1" (ext/hostrole.h: a
 *    back-office host that owns no scanners).
 *  - 2.4 added the extension "tillpoints.expiry/1" (ext/expiry.h: points
 *    that expire [expiry] months after they were earned) and a member's
 *    next expiry (tp_member_info, tp_event: expiring_points,
 *    expiring_at_ms).
 *  - 2.5 added spending points: checkout's offers, redeem and unredeem
 *    (ext/checkout.h), the events REDEEM_CONFIRMED, REDEEM_REFUSED and
 *    OVERDRAFT with their fields (ext/events.h), the award preview's
 *    redeemed figures, the ledger kinds "redeem" and "unredeem"
 *    (ext/ledger.h), the extension "tillpoints.redeem/1" (ext/redeem.h: a
 *    manager's reversal, the central database's overdraft reports) and
 *    the limits TP_REWARD_*.
 */
#define TP_ABI_MAJOR 2
#define TP_ABI_MINOR 5
#define TP_ABI_PATCH 0

#if defined(__GNUC__) || defined(__clang__)
#define TP_EXPORT __attribute__((visibility("default")))
#else
#define TP_EXPORT
#endif

/* Frozen: never grows. */
typedef struct tp_version {
    uint32_t major;
    uint32_t minor;
    uint32_t patch;
} tp_version;

#define TP_VERSION_INIT {TP_ABI_MAJOR, TP_ABI_MINOR, TP_ABI_PATCH}

/* Non-zero when a party built against `theirs` can talk to one built
 * against `ours`: same major version. */
static inline int tp_version_is_compatible(tp_version ours, tp_version theirs)
{
    return ours.major == theirs.major;
}

/* The bytes a struct must have for `field` to be in it. */
#define TP_FIELD_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
/* Non-zero when the struct at `ptr` (which starts with struct_size) has
 * `field`: the side that allocated it knew the field. */
#define TP_HAS_FIELD(ptr, type, field) ((size_t)(ptr)->struct_size >= TP_FIELD_END(type, field))
/* The same for an element of an array with this stride. */
#define TP_STRIDE_HAS_FIELD(stride, type, field) ((size_t)(stride) >= TP_FIELD_END(type, field))

/* Statuses: an int32_t, never an enum type (whose size a compiler picks).
 * Later minor versions may add values. */
typedef int32_t tp_status;
enum {
    TP_OK = 0,
    TP_ERR_INVALID_ARGUMENT = 1, /* NULL, out of range, malformed */
    TP_ERR_TOO_LONG = 2,         /* a string beyond its stated maximum */
    TP_ERR_NOT_FOUND = 3,        /* unknown transaction, member, receipt */
    TP_ERR_STATE = 4,            /* call not valid now (e.g. second begin) */
    TP_ERR_DUPLICATE = 5,        /* already recorded (receipt, member code) */
    TP_ERR_BUSY = 6,             /* a bounded queue is full; try again */
    TP_ERR_DISABLED = 7,         /* plugin disabled after an internal fault */
    TP_ERR_STORAGE = 8,          /* database error (disk full, I/O) */
    TP_ERR_NO_MEMORY = 9,
    TP_ERR_VERSION = 10,         /* incompatible ABI major, or a database
                                    written by a newer tillpoints */
    TP_ERR_CONFIG = 11,          /* configuration file invalid */
    TP_ERR_UNSUPPORTED = 12,     /* e.g. currency not accepted */
    TP_ERR_INTERNAL = 13,
    TP_ERR_WRONG_PIN = 14,       /* a wrong PIN, or an approver id that is
                                    not an enrolled manager (the two are
                                    told apart to nobody) */
    TP_ERR_LOCKED_OUT = 15,      /* too many wrong PINs: wait, or have the
                                    manager's PIN reset */
    TP_ERR_UNREACHABLE = 16      /* 2.2: the central database cannot be
                                    reached (network, server down); the
                                    till goes on and retries */
};

/* A sentence for a person. Caller-allocated; the callee always leaves it
 * NUL-terminated (empty on success unless there is something to say).
 * Frozen: never grows. */
typedef struct tp_message {
    char text[TP_MESSAGE_MAX + 1];
} tp_message;

typedef uint32_t tp_log_level;
enum {
    TP_LOG_DEBUG = 0,
    TP_LOG_INFO = 1,
    TP_LOG_WARNING = 2,
    TP_LOG_ERROR = 3
};

/* Progress of a long call: `done` of `total` rows (total 0 = unknown). */
typedef void (*tp_progress_fn)(void *user, uint64_t done, uint64_t total);

/* One problem found in a row of an input file or in the database. */
typedef void (*tp_problem_fn)(void *user, uint64_t line, const char *sentence);

typedef struct tp_host tp_host;
typedef struct tp_plugin tp_plugin;

/* Services the host gives the plugin. The struct is owned by the host and
 * must stay valid until the plugin instance is destroyed. */
struct tp_host {
    tp_version abi;          /* TP_VERSION_INIT of the host's build; first
                                in every major version */
    uint32_t struct_size;    /* sizeof(tp_host) */
    const char *name;        /* <= TP_HOST_NAME_MAX bytes, e.g. "Acme POS" */
    const char *vendor;      /* <= TP_HOST_NAME_MAX bytes */
    const char *version;     /* <= TP_HOST_VERSION_MAX bytes */
    void *host_data;         /* for the host's own use */

    /* [thread-safe] Returns the host-side extension with this id (e.g.
     * TP_HOST_EXT_EVENTS) or NULL when the host does not offer it. The
     * returned struct is owned by the host and lives as long as `host`. */
    const void *(*get_extension)(const tp_host *host, const char *id);

    /* [thread-safe] Asks the host to call plugin->on_main_thread() soon,
     * on its main thread. Must not block; may coalesce several requests
     * into one call. */
    void (*request_callback)(const tp_host *host);

    /* [thread-safe] A log line. `msg` (<= TP_LOG_LINE_MAX bytes) is valid for the
     * call only. Never contains PINs or full personal data. */
    void (*log)(const tp_host *host, tp_log_level level, const char *msg);
};

/* A plugin instance, created by tillpoints_entry.create(). Owned by the
 * plugin; the host releases it with destroy(). Several instances may
 * coexist in one process (they share no mutable state). */
struct tp_plugin {
    uint32_t struct_size; /* sizeof(tp_plugin) in the plugin's build */
    void *plugin_data;    /* private to the plugin */

    /* [main-thread] Opens the store, starts the plugin's threads. On
     * failure the instance is still valid to destroy(), and `msg` says why. */
    tp_status (*init)(const tp_plugin *plugin, tp_message *msg);

    /* [main-thread] Stops every thread the plugin started, flushes
     * acknowledged work to disk, frees the instance. Returns within the
     * configured [limits] shutdown_deadline_ms even when the disk hangs:
     * work not saved by then is kept beside the database and saved by the
     * next init(). Before it returns, destroy() delivers every event still
     * pending through the host's on_event (events.h), on this thread,
     * including one AWARD_DEFERRED / REFUND_DEFERRED for
     * each receipt it could not save in time. Plugin calls made from
     * on_event during destroy() return TP_ERR_STATE. */
    void (*destroy)(const tp_plugin *plugin);

    /* [thread-safe] Returns the plugin-side extension with this id (e.g.
     * TP_EXT_CHECKOUT) or NULL. The struct lives as long as the instance. */
    const void *(*get_extension)(const tp_plugin *plugin, const char *id);

    /* [main-thread] Called by the host after request_callback(); delivers
     * pending events to the host's extensions. Never blocks. The events
     * waiting for this call are bounded: a host that stops calling it
     * gets TP_ERR_BUSY from checkout calls that would queue work until it
     * calls again; no outcome of accepted work is dropped, while notices
     * of no transaction beyond the bound are (and logged, with their
     * count). docs/INTEGRATING.md, "The threading contract". */
    void (*on_main_thread)(const tp_plugin *plugin);
};

/* The single exported symbol. */
typedef struct tp_entry {
    tp_version abi;       /* the plugin's ABI version; first in every major */
    uint32_t struct_size; /* sizeof(tp_entry) in the plugin's build */

    /* [main-thread] Once per process before the first create().
     * `plugin_path` (<= TP_PATH_MAX bytes) is the file the host loaded. Returns
     * non-zero on success. */
    int (*init)(const char *plugin_path);

    /* [main-thread] Once per process after the last destroy(). */
    void (*deinit)(void);

    /* [main-thread] Creates an instance bound to `host`. `config_path`
     * (<= TP_PATH_MAX bytes) may be NULL: built-in defaults are used. Returns NULL
     * when the host's ABI major differs (or its tp_host is smaller than
     * this major's), with a sentence naming both versions in `msg`. The
     * config is read in plugin->init(), not here. */
    const tp_plugin *(*create)(const tp_host *host, const char *config_path,
                               tp_message *msg);
} tp_entry;

extern TP_EXPORT const tp_entry tillpoints_entry;

#define TP_ENTRY_SYMBOL "tillpoints_entry"

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_H */
