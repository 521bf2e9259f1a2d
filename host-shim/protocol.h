/*
 * protocol.h — the JSON-lines protocol spoken by tillpoints-shim, without
 * any I/O: bytes in, JSON lines out through a callback.
 *
 * The shim's loop (shim.c) reads bytes from its client and hands them to
 * tp_proto_feed(), which splits them into lines (bounded by line_max),
 * parses each line as one JSON request (jansson), checks every field,
 * calls the plugin's checkout/admin extension and produces exactly one
 * reply line per non-blank request line. Plugin events become event lines
 * through tp_proto_event(). docs/PROTOCOL.md is the client-facing contract.
 *
 * The module takes the extension pointers rather than a tp_hostlib, so a
 * test or fuzzer can drive it with a fake plugin.
 *
 * Threading: one tp_proto is used from one thread (the host's main
 * thread, since the checkout calls are [main-thread]).
 * Memory: lines passed to the output callback are valid for the call only.
 */
#ifndef TP_PROTOCOL_H
#define TP_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/ui.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/ext/scanners.h"
#include "tillpoints/tillpoints.h"

#define TP_PROTO_VERSION_MAJOR 1
#define TP_PROTO_VERSION_MINOR 0
#define TP_PROTO_VERSION "1.6"
#define TP_SHIM_NAME "tillpoints-shim"
#define TP_SHIM_VERSION "1.0.0"

/* Longest request line, in bytes, not counting its "\n" nor a "\r" before it. */
#define TP_PROTO_LINE_MAX 65536
/* Longest string "id" and "client" name, in bytes. */
#define TP_PROTO_ID_MAX 128
#define TP_PROTO_CLIENT_MAX 128
/* Upper bound on admin.flush's timeout_ms: the shim's loop waits that long. */
#define TP_PROTO_FLUSH_TIMEOUT_MAX_MS 60000
#define TP_PROTO_FLUSH_TIMEOUT_DEFAULT_MS 5000
/* Scanners reported by scanners.list and the hello snapshot (the plugin
 * allows TP_SCANNERS_MAX; room for a later one allowing more). */
#define TP_PROTO_SCANNERS_MAX 64
/* Transactions one session may hold open (the plugin has its own limit). */
#define TP_PROTO_SESSION_TXNS_MAX 4096

typedef struct tp_proto tp_proto;

/* Receives one complete JSON text (no trailing newline; `line` is not
 * NUL-terminated in general), valid for the call only. */
typedef void (*tp_proto_out_fn)(void *user, const char *line, size_t len);

typedef struct tp_proto_config {
    const tp_plugin *plugin;          /* passed through to the extensions */
    const tp_checkout_ext *checkout;  /* required (admin.flush is its flush) */
    const tp_members_ext *members;    /* required: admin.member_* */
    const tp_ui_ext *ui;              /* forms; NULL: ui.* are refused */
    /* The plugin's scanners (tillpoints.scanners/2): scanners.list, and
     * one scanner.state event per scanner right after each hello. NULL:
     * scanners.list is refused and no snapshot is sent. */
    const tp_scanners_ext *scanners;
    tp_version plugin_abi;            /* reported by hello */
    /* Called after a successful admin.flush, before its reply, to deliver
     * the plugin's pending events (tp_hostlib_dispatch). May be NULL. The
     * events may come back into tp_proto_event() during the call. */
    void (*settle)(void *settle_user);
    void *settle_user;
    size_t line_max;                  /* 0: TP_PROTO_LINE_MAX */
} tp_proto_config;

/* Creates a session-less protocol state. Returns NULL when out of memory
 * or when a required extension is missing. Owned by the caller; free with
 * tp_proto_free(). */
tp_proto *tp_proto_new(const tp_proto_config *cfg);

/* Ends the session (cancelling its open transactions) and frees `p`. */
void tp_proto_free(tp_proto *p);

/* Bytes from the client, any chunking. Complete lines are handled at
 * once; a partial line is kept for the next call. A line longer than
 * line_max (a "\r" before its "\n" not counted) gets one line_too_long
 * error and is discarded up to its "\n". */
void tp_proto_feed(tp_proto *p, const char *data, size_t len, tp_proto_out_fn out, void *user);

/* One request line without its "\n" (a trailing "\r" is ignored). Blank
 * lines produce nothing; every other line produces exactly one reply,
 * possibly preceded by event lines (admin.flush), and a successful hello
 * is followed by the scanner snapshot: one scanner.state event line per
 * configured scanner (docs/PROTOCOL.md, "Scanner state"). */
void tp_proto_handle_line(tp_proto *p, const char *line, size_t len, tp_proto_out_fn out,
                          void *user);

/* Turns a plugin event into an event line. Nothing is written before the
 * session's hello, nor for event kinds this protocol version does not
 * name. Returns 1 when a line was written. */
int tp_proto_event(tp_proto *p, const tp_event *plugin_event, tp_proto_out_fn out, void *user);

/* A form the plugin presents (ui.present) or dismisses (ui.dismiss) as an
 * event line; nothing before hello. Returns 1 when a line was written. */
int tp_proto_present(tp_proto *p, const tp_form *plugin_form, tp_proto_out_fn out, void *user);
int tp_proto_dismiss(tp_proto *p, uint64_t form_id, int32_t done, const char *result,
                     tp_proto_out_fn out, void *user);

/* Cancels every transaction the client began and did not complete or
 * cancel, and every form it left open; the session itself goes on, so the
 * events of what it completed still reach it. Returns how many
 * transactions were cancelled. */
size_t tp_proto_cancel_open(tp_proto *p);

/* Ends the client's session: cancels what tp_proto_cancel_open does,
 * forgets its hello and any partial input line.
 * Returns how many transactions were cancelled. The state is ready for
 * the next client. */
size_t tp_proto_end_session(tp_proto *p);

/* Transactions the current session has open. */
size_t tp_proto_open_txns(const tp_proto *p);

/* Writes {"id":null,"error":{"code":code,"message":message}} — for errors
 * outside any request (e.g. a refused second connection). */
void tp_proto_error_line(const char *code, const char *message, tp_proto_out_fn out,
                         void *user);

/* The stable protocol error code for a status, e.g. "not_found". */
const char *tp_proto_status_code(tp_status st);

#endif
