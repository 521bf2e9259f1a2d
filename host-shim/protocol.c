/*
 * protocol.c — the shim's JSON-lines protocol (see protocol.h and
 * docs/PROTOCOL.md): line framing, request parsing and validation with
 * jansson, dispatch to the plugin's extensions, replies and event lines.
 *
 * Guarantees, relied on by shim.c and checked by tests/fuzz/fuzz_shim.c:
 *  - every non-blank request line yields exactly one reply line, carrying
 *    the request's id when it could be read (null otherwise);
 *  - every output line is one compact JSON object, valid UTF-8, with no
 *    newline inside;
 *  - nothing reaches the plugin unless every field has the right type and
 *    every amount lies within the ABI's limits; strings are passed as they
 *    came (jansson already refused invalid UTF-8 and embedded NULs) and
 *    the plugin checks their lengths and content with its own sentences;
 *  - the transactions a session begins are remembered, so that a client
 *    that goes away never leaves one open (tp_proto_end_session).
 */
#include "protocol.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostabi.h"
#include "tillpoints/ext/images.h"

struct tp_proto {
    tp_proto_config cfg;
    size_t line_max;
    int hello;      /* the session negotiated a protocol version */
    char **txns;    /* ids the session began; each owned, malloc'ed */
    size_t ntxns, cap_txns;
    char *buf;      /* partial input line, line_max + 1 bytes ("\r"); owned */
    size_t buf_len;
    int discarding; /* skipping the rest of an over-long line */
    uint64_t forms[TP_FORMS_OPEN_MAX]; /* forms the session opened and not yet dismissed */
};

/* An error reply under construction. */
typedef struct perr {
    const char *code;
    char msg[TP_MESSAGE_MAX + 128];
} perr;

typedef json_t *(*method_fn)(tp_proto *p, json_t *params, perr *e);

/* ---- output ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid.
 * As strict as jansson's own check: no overlongs, surrogates or values
 * beyond U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < need + 1 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return need + 1;
}

/* A JSON string from text that ought to be UTF-8 but may not be (a
 * plugin message cut at its buffer's end, a name another host stored):
 * invalid bytes become '?'. NULL only when out of memory. */
static json_t *jstr(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            break;
        i += k;
    }
    if (i == n)
        return json_stringn(s, n);
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, n + 1);
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k) {
            copy[i] = '?';
            k = 1;
        }
        i += k;
    }
    json_t *j = json_stringn(copy, n);
    free(copy);
    return j;
}

static const char oom_line[] =
    "{\"id\":null,\"error\":{\"code\":\"no_memory\",\"message\":\"The shim is out of memory.\"}}";

/* Dumps `obj` (reference stolen) as one line. */
static void emit(json_t *obj, tp_proto_out_fn out, void *user)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (text)
        out(user, text, strlen(text));
    else
        out(user, oom_line, sizeof oom_line - 1);
    free(text);
    json_decref(obj);
}

static json_t *error_object(json_t *id, const char *code, const char *message)
{
    json_t *err = json_object();
    json_t *reply = json_object();
    if (!err || !reply || json_object_set_new(err, "code", json_string(code)) ||
        json_object_set_new(err, "message", jstr(message)) ||
        json_object_set(reply, "id", id ? id : json_null()) ||
        json_object_set_new(reply, "error", err)) {
        json_decref(err);
        json_decref(reply);
        return NULL;
    }
    return reply;
}

void tp_proto_error_line(const char *code, const char *message, tp_proto_out_fn out, void *user)
{
    emit(error_object(NULL, code, message), out, user);
}

static void reply_error(json_t *id, const perr *e, tp_proto_out_fn out, void *user)
{
    emit(error_object(id, e->code, e->msg), out, user);
}

static void reply_result(json_t *id, json_t *result, tp_proto_out_fn out, void *user)
{
    json_t *reply = json_object();
    if (!reply || json_object_set(reply, "id", id) || json_object_set_new(reply, "result", result)) {
        json_decref(reply);
        reply = NULL;
    }
    emit(reply, out, user);
}

const char *tp_proto_status_code(tp_status st)
{
    switch (st) {
    case TP_OK: return "ok";
    case TP_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case TP_ERR_TOO_LONG: return "too_long";
    case TP_ERR_NOT_FOUND: return "not_found";
    case TP_ERR_STATE: return "wrong_state";
    case TP_ERR_DUPLICATE: return "duplicate";
    case TP_ERR_BUSY: return "busy";
    case TP_ERR_DISABLED: return "disabled";
    case TP_ERR_STORAGE: return "storage_error";
    case TP_ERR_NO_MEMORY: return "no_memory";
    case TP_ERR_VERSION: return "version_mismatch";
    case TP_ERR_CONFIG: return "config_error";
    case TP_ERR_UNSUPPORTED: return "unsupported";
    case TP_ERR_INTERNAL: return "internal_error";
    case TP_ERR_WRONG_PIN: return "wrong_pin";
    case TP_ERR_LOCKED_OUT: return "locked_out";
    case TP_ERR_UNREACHABLE: return "unreachable";
    }
    return "internal_error";
}

/* ---- field checks -------------------------------------------------------- */

static int fail(perr *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(perr *e, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return -1;
}

/* The plugin refused: its own sentence, or a generic one if it gave none. */
static json_t *refused(perr *e, tp_status st, const tp_message *msg)
{
    if (msg->text[0])
        fail(e, tp_proto_status_code(st), "%s", msg->text);
    else
        fail(e, tp_proto_status_code(st), "The loyalty plugin refused the request (%s).",
             tp_proto_status_code(st));
    return NULL;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

/* `where` prefixes field names in messages, e.g. "receipt.lines[2]." */
static int get_string(json_t *obj, const char *where, const char *key, int required,
                      const char **out, perr *e)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(e, "bad_field", "%s%s is missing; it must be a string.", where, key);
        return 0;
    }
    if (!json_is_string(v))
        return fail(e, "bad_field", "%s%s must be a string, not %s.", where, key, type_name(v));
    *out = json_string_value(v);
    return 0;
}

/* An integer in [min, max]; *present says whether it was given. */
static int get_int(json_t *obj, const char *where, const char *key, int required, int64_t min,
                   int64_t max, int64_t *out, int *present, perr *e)
{
    json_t *v = json_object_get(obj, key);
    if (present)
        *present = 0;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(e, "bad_field", "%s%s is missing; it must be an integer.", where, key);
        return 0;
    }
    if (!json_is_integer(v))
        return fail(e, "bad_field", "%s%s must be an integer%s, not %s.", where, key,
                    strstr(key, "_minor") ? " in minor units (1299 for 12.99)" : "",
                    type_name(v));
    json_int_t n = json_integer_value(v);
    if (n < min || n > max)
        return fail(e, "bad_field", "%s%s must be from %lld to %lld; it is %lld.", where, key,
                    (long long)min, (long long)max, (long long)n);
    *out = (int64_t)n;
    if (present)
        *present = 1;
    return 0;
}

static int get_bool(json_t *obj, const char *where, const char *key, int *out, perr *e)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return fail(e, "bad_field", "%s%s must be true or false, not %s.", where, key,
                    type_name(v));
    *out = json_is_true(v);
    return 0;
}

static int get_object(json_t *obj, const char *where, const char *key, json_t **out, perr *e)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return fail(e, "bad_field", "%s%s is missing; it must be an object.", where, key);
    if (!json_is_object(v))
        return fail(e, "bad_field", "%s%s must be an object, not %s.", where, key, type_name(v));
    *out = v;
    return 0;
}

/* Adds `key` to a result object; 0 on success. Takes `v`. */
static int put(json_t *obj, const char *key, json_t *v)
{
    return json_object_set_new(obj, key, v);
}

static json_t *oom(perr *e, json_t *partial)
{
    json_decref(partial);
    fail(e, "no_memory", "The shim is out of memory.");
    return NULL;
}

/* A plugin's non-empty note on success ("lookup is busy ...") is passed on. */
static int put_note(json_t *obj, const tp_message *msg)
{
    return msg->text[0] ? put(obj, "message", jstr(msg->text)) : 0;
}

/* ---- the session's open transactions -------------------------------------- */

static int session_add(tp_proto *p, const char *txn)
{
    if (!txn)
        return -1;
    if (p->ntxns == p->cap_txns) {
        size_t cap = p->cap_txns ? p->cap_txns * 2 : 16;
        char **grown = realloc(p->txns, cap * sizeof *grown);
        if (!grown)
            return -1;
        p->txns = grown;
        p->cap_txns = cap;
    }
    char *copy = strdup(txn);
    if (!copy)
        return -1;
    p->txns[p->ntxns++] = copy;
    return 0;
}

static void session_remove(tp_proto *p, const char *txn)
{
    for (size_t i = 0; txn && i < p->ntxns; i++)
        if (strcmp(p->txns[i], txn) == 0) {
            free(p->txns[i]);
            p->txns[i] = p->txns[--p->ntxns];
            return;
        }
}

static void clear_msg(tp_message *msg)
{
    msg->text[0] = '\0';
}

/* ---- methods --------------------------------------------------------------- */

/* hello's "methods": the names of the dispatch table below, so that the
 * list can never differ from what is answered. */
static json_t *method_list(void);

static const char *const event_names[] = {
    NULL, /* kinds start at 1 */
    "member.identified", "member.unknown", "award.committed", "award.failed",
    "refund.committed", "refund.failed", "plugin.disabled", "storage.error",
    "storage.recovered", "scan", "scan.rejected", "scanner.online", "scanner.offline",
    "scanner.error", "sync.state", "sync.parked", "award.deferred", "refund.deferred",
    "redeem.confirmed", "redeem.refused", "overdraft", /* 1.6 */
};

/* Form events and the scanner snapshot are not tp_event kinds; hello
 * lists them with the others. */
static const char *const form_event_names[] = {"ui.present", "ui.dismiss", "scanner.state"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* "MAJOR.MINOR", each 1..9 digits. */
static int parse_protocol(const char *s, long *major, long *minor)
{
    long v[2] = {0, 0};
    if (!s)
        return -1;
    for (int part = 0; part < 2; part++) {
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            if (++digits > 9)
                return -1;
            v[part] = v[part] * 10 + (*s++ - '0');
        }
        if (!digits)
            return -1;
        if (part == 0 && *s++ != '.')
            return -1;
    }
    if (*s)
        return -1;
    *major = v[0];
    *minor = v[1];
    return 0;
}

static json_t *string_array(const char *const *names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (names[i] && json_array_append_new(a, json_string(names[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static int add_form_events(json_t *events)
{
    json_t *more = string_array(form_event_names, COUNT(form_event_names));
    int bad = !events || !more || json_array_extend(events, more) != 0;
    json_decref(more);
    return bad;
}

static json_t *m_hello(tp_proto *p, json_t *params, perr *e)
{
    const char *proto, *client;
    if (get_string(params, "", "protocol", 1, &proto, e) ||
        get_string(params, "", "client", 0, &client, e))
        return NULL;
    long major, minor;
    if (parse_protocol(proto, &major, &minor) != 0) {
        fail(e, "bad_field", "protocol must look like \"1.0\" (MAJOR.MINOR).");
        return NULL;
    }
    if (client && strlen(client) > TP_PROTO_CLIENT_MAX) {
        fail(e, "bad_field", "client is longer than %d bytes.", TP_PROTO_CLIENT_MAX);
        return NULL;
    }
    if (major != TP_PROTO_VERSION_MAJOR) {
        fail(e, "version_mismatch",
             "This shim speaks protocol %s; the client asked for %ld.%ld. Use a client for "
             "protocol %d.x or a shim that speaks %ld.x.",
             TP_PROTO_VERSION, major, minor, TP_PROTO_VERSION_MAJOR, major);
        return NULL;
    }
    char abi[48];
    snprintf(abi, sizeof abi, "%u.%u.%u", p->cfg.plugin_abi.major, p->cfg.plugin_abi.minor,
             p->cfg.plugin_abi.patch);
    json_t *r = json_object(), *shim = json_object(), *plugin = json_object(),
           *limits = json_object();
    int bad = !r || !shim || !plugin || !limits;
    bad = bad || put(shim, "name", json_string(TP_SHIM_NAME)) ||
          put(shim, "version", json_string(TP_SHIM_VERSION)) ||
          put(plugin, "abi", json_string(abi)) ||
          put(limits, "line_bytes", json_integer((json_int_t)p->line_max)) ||
          put(limits, "id_bytes", json_integer(TP_PROTO_ID_MAX)) ||
          put(limits, "lines_per_receipt", json_integer(TP_LINES_MAX)) ||
          put(limits, "amount_max_minor", json_integer(TP_AMOUNT_MAX)) ||
          put(r, "protocol", json_string(TP_PROTO_VERSION));
    if (bad) {
        json_decref(shim);
        json_decref(plugin);
        json_decref(limits);
        return oom(e, r);
    }
    if (put(r, "shim", shim) || put(r, "plugin", plugin) || put(r, "limits", limits) ||
        put(r, "methods", method_list()) ||
        put(r, "events", string_array(event_names, COUNT(event_names))) ||
        add_form_events(json_object_get(r, "events")))
        return oom(e, r);
    p->hello = 1;
    return r;
}

static json_t *m_begin(tp_proto *p, json_t *params, perr *e)
{
    const char *txn, *staff;
    if (get_string(params, "", "txn", 1, &txn, e) || get_string(params, "", "staff", 0, &staff, e))
        return NULL;
    if (p->ntxns >= TP_PROTO_SESSION_TXNS_MAX) {
        fail(e, "busy", "This connection has %d transactions open; complete or cancel one first.",
             TP_PROTO_SESSION_TXNS_MAX);
        return NULL;
    }
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.checkout->begin(p->cfg.plugin, txn, staff, &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    if (session_add(p, txn) != 0) {
        p->cfg.checkout->cancel(p->cfg.plugin, txn, &msg);
        return oom(e, NULL);
    }
    json_t *r = json_object();
    if (!r || put(r, "txn", json_string(txn)) || put_note(r, &msg))
        return oom(e, r);
    return r;
}

static json_t *m_scan(tp_proto *p, json_t *params, perr *e)
{
    const char *txn, *code;
    if (get_string(params, "", "txn", 1, &txn, e) || get_string(params, "", "code", 1, &code, e))
        return NULL;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.checkout->scan(p->cfg.plugin, txn, code, &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *r = json_object();
    if (!r || put(r, "txn", json_string(txn)) || put_note(r, &msg))
        return oom(e, r);
    return r;
}

static const struct {
    const char *name;
    uint32_t bit;
} line_flags[] = {{"tax", TP_LINE_TAX}, {"tip", TP_LINE_TIP}, {"gift_card", TP_LINE_GIFT_CARD}};

/* Line `i` of the array called `array` ("receipt.lines", "lines"). */
static int parse_line(json_t *v, const char *array, size_t i, tp_line *l, perr *e)
{
    char where[48];
    snprintf(where, sizeof where, "%s[%zu]", array, i);
    if (!json_is_object(v))
        return fail(e, "bad_field", "%s must be an object, not %s.", where, type_name(v));
    size_t wl = strlen(where);
    if (wl + 1 < sizeof where) {
        where[wl] = '.';
        where[wl + 1] = '\0';
    }
    if (get_string(v, where, "sku", 0, &l->sku, e) ||
        get_string(v, where, "category", 0, &l->category, e) ||
        get_int(v, where, "amount_minor", 1, 0, TP_AMOUNT_MAX, &l->amount_minor, NULL, e) ||
        get_int(v, where, "discount_minor", 0, 0, l->amount_minor, &l->discount_minor, NULL, e))
        return -1;
    json_t *flags = json_object_get(v, "flags");
    if (!flags || json_is_null(flags))
        return 0;
    if (!json_is_array(flags))
        return fail(e, "bad_field", "%sflags must be an array of strings, not %s.", where,
                    type_name(flags));
    size_t k;
    json_t *f;
    json_array_foreach(flags, k, f) {
        const char *name = json_string_value(f);
        size_t j = 0;
        while (name && j < COUNT(line_flags) && strcmp(name, line_flags[j].name) != 0)
            j++;
        if (!name || j == COUNT(line_flags))
            return fail(e, "bad_field",
                        "%sflags[%zu] must be \"tax\", \"tip\" or \"gift_card\".", where, k);
        l->flags |= line_flags[j].bit;
    }
    return 0;
}

/* The array `lines` (called `name` in messages) as tp_lines: *out is
 * malloc'ed, owned by the caller, also when it has no lines. */
static int parse_lines(json_t *lines, const char *name, tp_line **out, size_t *count, perr *e)
{
    *out = NULL;
    *count = 0;
    if (!lines || !json_is_array(lines))
        return fail(e, "bad_field", "%s must be an array of line objects%s%s.", name,
                    lines ? ", not " : "", lines ? type_name(lines) : "");
    size_t n = json_array_size(lines);
    if (n > TP_LINES_MAX)
        return fail(e, "bad_field", "%s has %zu lines; a receipt has at most %d.", name, n,
                    TP_LINES_MAX);
    tp_line *tl = calloc(n ? n : 1, sizeof *tl);
    if (!tl) {
        oom(e, NULL);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (parse_line(json_array_get(lines, i), name, i, &tl[i], e) != 0) {
            free(tl);
            return -1;
        }
    *out = tl;
    *count = n;
    return 0;
}

static json_t *m_complete(tp_proto *p, json_t *params, perr *e)
{
    const char *txn;
    json_t *receipt, *lines;
    tp_receipt r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    if (get_string(params, "", "txn", 1, &txn, e) ||
        get_object(params, "", "receipt", &receipt, e) ||
        get_string(receipt, "receipt.", "id", 1, &r.receipt_id, e) ||
        get_string(receipt, "receipt.", "currency", 1, &r.currency, e) ||
        get_int(receipt, "receipt.", "time_ms", 0, INT64_MIN, INT64_MAX, &r.time_ms, NULL, e))
        return NULL;
    lines = json_object_get(receipt, "lines");
    tp_line *tl;
    size_t n;
    if (parse_lines(lines, "receipt.lines", &tl, &n, e) != 0)
        return NULL;
    r.lines = tl;
    r.line_count = n;
    r.line_stride = sizeof *tl;
    tp_award_preview pv;
    memset(&pv, 0, sizeof pv);
    pv.struct_size = sizeof pv;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.checkout->complete(p->cfg.plugin, txn, &r, &pv, &msg);
    free(tl);
    if (st == TP_OK || st == TP_ERR_NOT_FOUND)
        session_remove(p, txn);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *res = json_object();
    if (!res || put(res, "txn", json_string(txn)) ||
        put(res, "receipt_id", json_string(r.receipt_id)) ||
        put(res, "has_member", json_boolean(pv.has_member)) ||
        put(res, "eligible_minor", json_integer(pv.eligible_minor)) ||
        put(res, "points", json_integer(pv.points)) ||
        put(res, "redeemed_points", json_integer(pv.redeemed_points)) ||
        put(res, "redeemed_minor", json_integer(pv.redeemed_minor)) || put_note(res, &msg))
        return oom(e, res);
    return res;
}

/* ---- spending points (protocol 1.6, ABI 2.5) ---------------------------- */

/* The plugin's checkout table reaches the spending functions: 0, or -1
 * with an error for an older plugin. */
static int can_spend(const tp_proto *p, perr *e)
{
    if (TP_HAS_FIELD(p->cfg.checkout, tp_checkout_ext, unredeem))
        return 0;
    return fail(e, "unsupported", "The loaded loyalty plugin cannot spend points (it predates "
                                  "ABI 2.5); install a newer plugin.");
}

static json_t *offer_json(const tp_reward_offer *o)
{
    json_t *x = json_object();
    if (!x || put(x, "name", jstr(o->name)) || put(x, "label", jstr(o->label)) ||
        put(x, "cost_points", json_integer(o->cost_points)) ||
        put(x, "min_basket_minor", json_integer(o->min_basket_minor)) ||
        put(x, "max_per_receipt", json_integer(o->max_per_receipt))) {
        json_decref(x);
        return NULL;
    }
    return x;
}

/* `count` offers of `stride` bytes (the plugin's) as a JSON array. */
static json_t *offers_json(const tp_reward_offer *base, size_t stride, size_t count)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < count; i++) {
        tp_reward_offer o = tp_reward_offer_read(base, stride, i);
        json_t *x = offer_json(&o);
        if (!x || json_array_append_new(a, x)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The plugin's configuration holds at most 32 rewards (docs/DESIGN.md §5);
 * room for a later one allowing more. */
#define TP_PROTO_OFFERS_MAX 128

static json_t *m_offers(tp_proto *p, json_t *params, perr *e)
{
    const char *txn;
    if (get_string(params, "", "txn", 1, &txn, e) || can_spend(p, e))
        return NULL;
    tp_reward_offer *buf = calloc(TP_PROTO_OFFERS_MAX, sizeof *buf);
    if (!buf)
        return oom(e, NULL);
    size_t n = 0;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.checkout->offers(p->cfg.plugin, txn, buf, TP_PROTO_OFFERS_MAX,
                                           sizeof *buf, &n, &msg);
    json_t *offers = st == TP_OK ? offers_json(buf, sizeof *buf, n) : NULL;
    free(buf);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *r = json_object();
    if (!offers || !r || put(r, "txn", json_string(txn))) {
        json_decref(offers);
        return oom(e, r);
    }
    if (put(r, "offers", offers) || put_note(r, &msg))
        return oom(e, r);
    return r;
}

static json_t *m_redeem(tp_proto *p, json_t *params, perr *e)
{
    tp_redeem_request req;
    memset(&req, 0, sizeof req);
    req.struct_size = sizeof req;
    const char *txn;
    int has_points;
    if (get_string(params, "", "txn", 1, &txn, e) ||
        get_string(params, "", "reward", 0, &req.reward, e) ||
        get_int(params, "", "points", 0, 0, INT64_MAX, &req.points, &has_points, e) ||
        can_spend(p, e))
        return NULL;
    if (req.reward && has_points) {
        fail(e, "bad_field", "Give either reward (a reward's name) or points (0: as many as "
                             "fit), not both.");
        return NULL;
    }
    if (!req.reward && !has_points) {
        fail(e, "bad_field", "reward or points is missing: give a reward's name, or the points "
                             "to pay with (0: as many as fit).");
        return NULL;
    }
    tp_line *tl;
    size_t n;
    if (parse_lines(json_object_get(params, "lines"), "lines", &tl, &n, e) != 0)
        return NULL;
    req.lines = tl;
    req.line_count = n;
    req.line_stride = sizeof *tl;
    tp_redemption out;
    memset(&out, 0, sizeof out);
    out.struct_size = sizeof out;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.checkout->redeem(p->cfg.plugin, txn, &req, &out, &msg);
    free(tl);
    if (st != TP_OK)
        return refused(e, st, &msg);
    out.label[sizeof out.label - 1] = '\0';
    json_t *r = json_object();
    if (!r || put(r, "txn", json_string(txn)) ||
        put(r, "redemption_no", json_integer(out.redemption_no)) ||
        put(r, "kind", json_string(out.kind == TP_REDEEM_REWARD ? "reward" : "points")) ||
        put(r, "points", json_integer(out.points)) ||
        put(r, "discount_minor", json_integer(out.discount_minor)) ||
        put(r, "balance_after", json_integer(out.balance_after)) ||
        put(r, "label", jstr(out.label)) || put_note(r, &msg))
        return oom(e, r);
    return r;
}

static json_t *m_unredeem(tp_proto *p, json_t *params, perr *e)
{
    const char *txn;
    int64_t no;
    if (get_string(params, "", "txn", 1, &txn, e) ||
        get_int(params, "", "redemption_no", 1, 1, UINT32_MAX, &no, NULL, e) || can_spend(p, e))
        return NULL;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.checkout->unredeem(p->cfg.plugin, txn, (uint32_t)no, &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *r = json_object();
    if (!r || put(r, "txn", json_string(txn)) || put(r, "redemption_no", json_integer(no)) ||
        put_note(r, &msg))
        return oom(e, r);
    return r;
}

static json_t *m_cancel(tp_proto *p, json_t *params, perr *e)
{
    const char *txn;
    if (get_string(params, "", "txn", 1, &txn, e))
        return NULL;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.checkout->cancel(p->cfg.plugin, txn, &msg);
    if (st == TP_OK || st == TP_ERR_NOT_FOUND)
        session_remove(p, txn);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *r = json_object();
    if (!r || put(r, "txn", json_string(txn)))
        return oom(e, r);
    return r;
}

static json_t *m_refund(tp_proto *p, json_t *params, perr *e)
{
    tp_refund rf;
    memset(&rf, 0, sizeof rf);
    rf.struct_size = sizeof rf;
    int has_amount;
    if (get_string(params, "", "refund_id", 1, &rf.refund_id, e) ||
        get_string(params, "", "receipt_id", 1, &rf.receipt_id, e) ||
        get_string(params, "", "currency", 1, &rf.currency, e) ||
        get_int(params, "", "amount_minor", 0, 1, TP_AMOUNT_MAX, &rf.amount_minor, &has_amount,
                e) ||
        get_bool(params, "", "full", &rf.full, e) ||
        get_int(params, "", "time_ms", 0, INT64_MIN, INT64_MAX, &rf.time_ms, NULL, e))
        return NULL;
    if (rf.full && has_amount) {
        fail(e, "bad_field", "Give either amount_minor or full: true, not both.");
        return NULL;
    }
    if (!rf.full && !has_amount) {
        fail(e, "bad_field", "amount_minor is missing; give the refunded amount in minor units "
                             "or full: true.");
        return NULL;
    }
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.checkout->refund(p->cfg.plugin, &rf, &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *r = json_object();
    if (!r || put(r, "refund_id", json_string(rf.refund_id)) ||
        put(r, "receipt_id", json_string(rf.receipt_id)) || put_note(r, &msg))
        return oom(e, r);
    return r;
}

/* Protocol 1.4: what `balance` is made of (docs/DESIGN.md §8, "One
 * balance"): this terminal's ledger sum, where the shown figure comes from
 * ("" when there is none) and how fresh its central part is. */
static int put_balance_parts(json_t *o, int64_t ledger, const char *source, int64_t as_of_ms)
{
    return put(o, "ledger_balance", json_integer(ledger)) ||
           put(o, "balance_source", jstr(source)) ||
           put(o, "balance_as_of_ms", json_integer(as_of_ms));
}

/* Protocol 1.5: the member's next expiry (docs/DESIGN.md §5, "Expiry"):
 * 0 and 0 when nothing expires, expiry is off, or the plugin predates ABI
 * 2.4 (the fields beyond its struct_size read as 0). */
static int put_expiry(json_t *o, int64_t points, int64_t at_ms)
{
    return put(o, "expiring_points", json_integer(points)) ||
           put(o, "expiring_at_ms", json_integer(at_ms));
}

/* A member as JSON. The plugin fills fixed arrays; they are terminated
 * here rather than trusted. */
static json_t *member_json(tp_member_info *info)
{
    info->code[sizeof info->code - 1] = '\0';
    info->name[sizeof info->name - 1] = '\0';
    info->phone[sizeof info->phone - 1] = '\0';
    info->email[sizeof info->email - 1] = '\0';
    info->app_id[sizeof info->app_id - 1] = '\0';
    info->balance_source[sizeof info->balance_source - 1] = '\0';
    json_t *m = json_object();
    if (!m || put(m, "code", jstr(info->code)) || put(m, "name", jstr(info->name)) ||
        put(m, "phone", jstr(info->phone)) || put(m, "email", jstr(info->email)) ||
        put(m, "app_id", jstr(info->app_id)) ||
        put(m, "balance", json_integer(TP_HOST_SHOWN_BALANCE(info))) ||
        put(m, "created_ms", json_integer(info->created_ms)) ||
        put_balance_parts(m, info->balance, info->balance_source, info->balance_as_of_ms) ||
        put_expiry(m, info->expiring_points, info->expiring_at_ms)) {
        json_decref(m);
        return NULL;
    }
    return m;
}

static json_t *member_result(tp_member_info *info, perr *e)
{
    json_t *r = json_object();
    if (!r || put(r, "member", member_json(info)))
        return oom(e, r);
    return r;
}

static json_t *m_member_add(tp_proto *p, json_t *params, perr *e)
{
    tp_member_new m = {.struct_size = sizeof m};
    if (get_string(params, "", "code", 1, &m.code, e) ||
        get_string(params, "", "name", 0, &m.name, e) ||
        get_string(params, "", "phone", 0, &m.phone, e) ||
        get_string(params, "", "email", 0, &m.email, e) ||
        get_string(params, "", "app_id", 0, &m.app_id, e))
        return NULL;
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.members->member_add(p->cfg.plugin, &m, &info, &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    return member_result(&info, e);
}

static json_t *m_member_get(tp_proto *p, json_t *params, perr *e)
{
    const char *code;
    if (get_string(params, "", "code", 1, &code, e))
        return NULL;
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.members->member_get(p->cfg.plugin, code, &info, &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    return member_result(&info, e);
}

static json_t *m_flush(tp_proto *p, json_t *params, perr *e)
{
    int64_t timeout = TP_PROTO_FLUSH_TIMEOUT_DEFAULT_MS;
    if (get_int(params, "", "timeout_ms", 0, 0, TP_PROTO_FLUSH_TIMEOUT_MAX_MS, &timeout, NULL, e))
        return NULL;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.checkout->flush(p->cfg.plugin, timeout, &msg);
    if (p->cfg.settle)
        p->cfg.settle(p->cfg.settle_user);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *r = json_object();
    return r ? r : oom(e, NULL);
}

/* ---- forms (ext/ui.h) ------------------------------------------------------ */

static int form_slot(tp_proto *p, uint64_t id)
{
    for (int i = 0; i < TP_FORMS_OPEN_MAX; i++)
        if (p->forms[i] == id)
            return i;
    return -1;
}

static int get_form_id(json_t *params, uint64_t *id, perr *e)
{
    int64_t v = 0;
    if (get_int(params, "", "form_id", 1, 1, INT64_MAX, &v, NULL, e))
        return -1;
    *id = (uint64_t)v;
    return 0;
}

static json_t *m_ui_open(tp_proto *p, json_t *params, perr *e)
{
    if (!p->cfg.ui) {
        fail(e, "unsupported", "This plugin offers no forms.");
        return NULL;
    }
    const char *action = NULL, *prefill = NULL, *sid = NULL, *role = NULL;
    json_t *staff = NULL;
    if (get_string(params, "", "action", 1, &action, e) ||
        get_string(params, "", "prefill", 0, &prefill, e) ||
        get_object(params, "", "staff", &staff, e))
        return NULL;
    if (!staff) {
        fail(e, "bad_field", "params.staff is required: {\"id\": ..., \"role\": \"manager\" | "
                             "\"cashier\"}.");
        return NULL;
    }
    if (get_string(staff, "staff.", "id", 1, &sid, e) ||
        get_string(staff, "staff.", "role", 0, &role, e))
        return NULL;
    /* A role the plugin does not know must not quietly become a cashier:
     * the POS would believe its manager was recognised. */
    if (role && strcmp(role, "manager") != 0 && strcmp(role, "cashier") != 0) {
        fail(e, "bad_field", "staff.role must be \"manager\" or \"cashier\" (or left out for a "
                             "cashier), not \"%.32s\".", role);
        return NULL;
    }
    int slot = form_slot(p, 0);
    if (slot < 0) {
        fail(e, "busy", "This session has %d forms open; finish or cancel one first.",
             TP_FORMS_OPEN_MAX);
        return NULL;
    }
    tp_staff who = {.struct_size = sizeof who, .id = sid, .role = role ? role : "cashier"};
    uint64_t id = 0;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.ui->open(p->cfg.plugin, action, &who, prefill, &id, &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    p->forms[slot] = id;
    json_t *r = json_object();
    if (!r || put(r, "form_id", json_integer((json_int_t)id)))
        return oom(e, r);
    return r;
}

static json_t *m_ui_submit(tp_proto *p, json_t *params, perr *e)
{
    uint64_t id;
    json_t *answers = NULL;
    if (!p->cfg.ui) {
        fail(e, "unsupported", "This plugin offers no forms.");
        return NULL;
    }
    if (get_form_id(params, &id, e) || get_object(params, "", "answers", &answers, e))
        return NULL;
    tp_form_answer a[TP_FORM_ANSWERS_MAX];
    size_t n = 0;
    if (answers) {
        const char *key;
        json_t *v;
        json_object_foreach(answers, key, v) {
            if (n == TP_FORM_ANSWERS_MAX) {
                fail(e, "bad_field", "params.answers has more than %d fields.",
                     TP_FORM_ANSWERS_MAX);
                return NULL;
            }
            if (!json_is_string(v) || strlen(key) > TP_FIELD_ID_MAX ||
                json_string_length(v) > TP_FIELD_VALUE_MAX) {
                fail(e, "bad_field", "params.answers.%.24s must be a string of at most %d bytes.",
                     key, TP_FIELD_VALUE_MAX);
                return NULL;
            }
            a[n].field_id = key;
            a[n].value = json_string_value(v);
            n++;
        }
    }
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.ui->submit(p->cfg.plugin, id, a, n, sizeof a[0], &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *r = json_object();
    return r ? r : oom(e, NULL);
}

static json_t *m_ui_cancel(tp_proto *p, json_t *params, perr *e)
{
    uint64_t id;
    if (!p->cfg.ui) {
        fail(e, "unsupported", "This plugin offers no forms.");
        return NULL;
    }
    if (get_form_id(params, &id, e))
        return NULL;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = p->cfg.ui->cancel(p->cfg.plugin, id, &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *r = json_object();
    return r ? r : oom(e, NULL);
}

static const char *field_kind_name(tp_field_kind k)
{
    switch (k) {
    case TP_FIELD_TEXT: return "text";
    case TP_FIELD_MONEY: return "money";
    case TP_FIELD_DATETIME: return "datetime";
    case TP_FIELD_CHOICE: return "choice";
    case TP_FIELD_PIN: return "pin";
    case TP_FIELD_INFO: return "info";
    case TP_FIELD_RESULTS: return "results";
    }
    return "text";
}

/* The form is read by the plugin's size and strides (hostabi.h). */
int tp_proto_present(tp_proto *p, const tp_form *plugin_form, tp_proto_out_fn out, void *user)
{
    if (!p->hello || !plugin_form)
        return 0;
    const tp_form read = tp_form_read(plugin_form), *f = &read;
    json_t *fields = json_array(), *form = json_object(), *o = json_object();
    int bad = !fields || !form || !o;
    for (size_t i = 0; !bad && i < f->field_count; i++) {
        const tp_form_field field = tp_form_field_read(f, i), *x = &field;
        json_t *jf = json_object(), *choices = json_array();
        bad = !jf || !choices;
        for (size_t k = 0; !bad && k < x->choice_count; k++) {
            const tp_form_choice choice = tp_form_choice_read(x, k);
            json_t *c = json_object();
            bad = !c || put(c, "key", jstr(choice.key)) || put(c, "label", jstr(choice.label)) ||
                  json_array_append_new(choices, c);
        }
        bad = bad || put(jf, "id", jstr(x->id)) ||
              put(jf, "kind", json_string(field_kind_name(x->kind))) ||
              put(jf, "label", jstr(x->label)) ||
              /* A PIN's value is never sent back to the POS. */
              put(jf, "value", jstr(x->kind == TP_FIELD_PIN ? "" : x->value)) ||
              put(jf, "error", jstr(x->error)) || put(jf, "required", json_boolean(x->required)) ||
              put(jf, "max_len", json_integer((json_int_t)x->max_len)) ||
              put(jf, "choices", choices);
        choices = NULL;
        bad = bad || json_array_append_new(fields, jf);
        jf = NULL;
        json_decref(choices);
    }
    bad = bad || put(form, "form_id", json_integer((json_int_t)f->form_id)) ||
          put(form, "action", jstr(f->action)) || put(form, "title", jstr(f->title)) ||
          put(form, "message", jstr(f->message)) ||
          put(form, "is_error", json_boolean(f->is_error)) ||
          put(form, "submit_label", jstr(f->submit_label)) || put(form, "fields", fields);
    fields = NULL;
    bad = bad || put(o, "event", json_string("ui.present")) || put(o, "form", form);
    form = NULL;
    json_decref(fields);
    json_decref(form);
    if (bad) {
        json_decref(o);
        return 0;
    }
    emit(o, out, user);
    return 1;
}

int tp_proto_dismiss(tp_proto *p, uint64_t form_id, int32_t done, const char *result,
                     tp_proto_out_fn out, void *user)
{
    int slot = form_slot(p, form_id);
    if (slot >= 0)
        p->forms[slot] = 0;
    if (!p->hello)
        return 0;
    json_t *o = json_object();
    if (!o || put(o, "event", json_string("ui.dismiss")) ||
        put(o, "form_id", json_integer((json_int_t)form_id)) ||
        put(o, "done", json_boolean(done)) || put(o, "result", jstr(result))) {
        json_decref(o);
        return 0;
    }
    emit(o, out, user);
    return 1;
}

/* images.decode: a base64 PNG through the plugin's tillpoints.images/1,
 * answered as the till would judge the scan (docs/PROTOCOL.md). */
static json_t *m_images_decode(tp_proto *p, json_t *params, perr *e)
{
    const tp_images_ext *x = p->cfg.plugin->get_extension
                                 ? p->cfg.plugin->get_extension(p->cfg.plugin, TP_EXT_IMAGES)
                                 : NULL;
    if (!x || !TP_HAS_FIELD(x, tp_images_ext, decode_png)) {
        fail(e, "unsupported", "This loyalty plugin cannot read pictures (it predates ABI 2.1).");
        return NULL;
    }
    const char *b64;
    if (get_string(params, "", "png", 1, &b64, e) || !b64)
        return NULL;
    size_t b64_len = strlen(b64), len = 0;
    unsigned char *png = malloc(b64_len / 4 * 3 + 3);
    if (!png)
        return oom(e, NULL);
    if (sodium_base642bin(png, b64_len / 4 * 3 + 3, b64, b64_len, "\r\n", &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || len == 0) {
        free(png);
        fail(e, "bad_field", "params.png must be a PNG file in standard base64 (RFC 4648, "
                             "with padding), not empty.");
        return NULL;
    }
    tp_image_result r = {.struct_size = sizeof r};
    tp_message msg;
    clear_msg(&msg);
    tp_status st = x->decode_png(p->cfg.plugin, png, len, &r, &msg);
    free(png);
    if (st != TP_OK)
        return refused(e, st, &msg);
    r.member_code[sizeof r.member_code - 1] = '\0';
    r.symbology[sizeof r.symbology - 1] = '\0';
    r.message[sizeof r.message - 1] = '\0';
    json_t *o = json_object();
    if (!o ||
        put(o, "verdict", json_string(r.verdict == TP_IMAGE_MEMBER    ? "member"
                                      : r.verdict == TP_IMAGE_NO_CODE ? "no_code"
                                                                      : "refused")) ||
        put(o, "member_code", jstr(r.member_code)) || put(o, "symbology", jstr(r.symbology)) ||
        put(o, "signed", json_boolean(r.is_signed)) ||
        put(o, "codes", json_integer((json_int_t)r.codes)) ||
        put(o, "refusal", json_string(r.verdict == TP_IMAGE_REFUSED
                                          ? tp_proto_status_code(r.refusal)
                                          : "ok")) ||
        put(o, "message", jstr(r.message)))
        return oom(e, o);
    return o;
}

/* ---- scanners ------------------------------------------------------------ */

/* A state a later minor may add (tillpoints.h) is sent as "unknown". */
static const char *scanner_state_name(tp_scanner_state state)
{
    static const char *const names[] = {"starting", "online", "offline", "error"};
    return state < COUNT(names) ? names[state] : "unknown";
}

/* Every configured scanner, read through the plugin's list with this
 * build's stride (the plugin writes at most that; what an older plugin
 * leaves out stays 0). *out is owned by the caller (free); NULL when none
 * are configured. */
static tp_status scanner_snapshot(tp_proto *p, tp_scanner_info **out, size_t *n, tp_message *msg)
{
    *out = NULL;
    *n = 0;
    size_t count = 0, again = 0;
    tp_status st = p->cfg.scanners->list(p->cfg.plugin, NULL, 0, sizeof(tp_scanner_info),
                                         &count, msg);
    if (st != TP_OK || count == 0)
        return st;
    if (count > TP_PROTO_SCANNERS_MAX)
        count = TP_PROTO_SCANNERS_MAX;
    tp_scanner_info *a = calloc(count, sizeof *a);
    if (!a) {
        snprintf(msg->text, sizeof msg->text, "The shim is out of memory.");
        return TP_ERR_NO_MEMORY;
    }
    st = p->cfg.scanners->list(p->cfg.plugin, a, count, sizeof *a, &again, msg);
    if (st != TP_OK) {
        free(a);
        return st;
    }
    *n = again < count ? again : count;
    for (size_t i = 0; i < *n; i++) { /* a plugin's string never runs past its field */
        a[i].name[sizeof a[i].name - 1] = '\0';
        a[i].driver[sizeof a[i].driver - 1] = '\0';
        a[i].device[sizeof a[i].device - 1] = '\0';
        a[i].last_error[sizeof a[i].last_error - 1] = '\0';
    }
    *out = a;
    return TP_OK;
}

/* One scanner as scanners.list and scanner.state send it. */
static json_t *scanner_json(const tp_scanner_info *x)
{
    json_t *o = json_object();
    if (!o || put(o, "name", jstr(x->name)) || put(o, "driver", jstr(x->driver)) ||
        put(o, "device", jstr(x->device)) ||
        put(o, "state", json_string(scanner_state_name(x->state))) ||
        put(o, "last_error", jstr(x->last_error)) ||
        put(o, "last_scan_ms", json_integer(x->last_scan_ms)) ||
        put(o, "scans", json_integer((json_int_t)x->scans)) ||
        put(o, "rejected", json_integer((json_int_t)x->rejected)) ||
        put(o, "errors", json_integer((json_int_t)x->errors)) ||
        put(o, "reconnects", json_integer((json_int_t)x->reconnects))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *m_scanners_list(tp_proto *p, json_t *params, perr *e)
{
    (void)params;
    if (!p->cfg.scanners) {
        fail(e, "unsupported", "This plugin does not report its scanners.");
        return NULL;
    }
    tp_scanner_info *info;
    size_t n;
    tp_message msg;
    clear_msg(&msg);
    tp_status st = scanner_snapshot(p, &info, &n, &msg);
    if (st != TP_OK)
        return refused(e, st, &msg);
    json_t *r = json_object(), *list = json_array();
    int bad = !r || !list;
    for (size_t i = 0; !bad && i < n; i++)
        bad = json_array_append_new(list, scanner_json(&info[i])) != 0;
    free(info);
    if (bad) {
        json_decref(list);
        return oom(e, r);
    }
    if (put(r, "scanners", list)) /* takes list, also when it fails */
        return oom(e, r);
    return r;
}

/* Right after hello's reply: one scanner.state event per configured
 * scanner, so that a client attaching late knows what a status change
 * already said before it came (docs/PROTOCOL.md, "Scanner state"). A
 * plugin that cannot answer now sends none; scanners.list says why. */
static void scanner_state_events(tp_proto *p, tp_proto_out_fn out, void *user)
{
    tp_scanner_info *info;
    size_t n;
    tp_message msg;
    clear_msg(&msg);
    if (!p->cfg.scanners || scanner_snapshot(p, &info, &n, &msg) != TP_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        if (!o || put(o, "event", json_string("scanner.state")) ||
            put(o, "device", jstr(info[i].name)) || put(o, "scanner", scanner_json(&info[i]))) {
            json_decref(o);
            continue;
        }
        emit(o, out, user);
    }
    free(info);
}

static const struct {
    const char *name;
    method_fn fn;
} methods[] = {
    {"hello", m_hello},
    {"checkout.begin", m_begin},
    {"checkout.scan", m_scan},
    {"checkout.complete", m_complete},
    {"checkout.cancel", m_cancel},
    {"checkout.refund", m_refund},
    {"checkout.offers", m_offers},
    {"checkout.redeem", m_redeem},
    {"checkout.unredeem", m_unredeem},
    {"admin.member_add", m_member_add},
    {"admin.member_get", m_member_get},
    {"admin.flush", m_flush},
    {"ui.open", m_ui_open},
    {"ui.submit", m_ui_submit},
    {"ui.cancel", m_ui_cancel},
    {"images.decode", m_images_decode},
    {"scanners.list", m_scanners_list},
};

static json_t *method_list(void)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < COUNT(methods); i++)
        if (json_array_append_new(a, json_string(methods[i].name))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ---- requests --------------------------------------------------------------- */

static const char nul_sentence[] =
    "The request contains a NUL character (\\u0000), which no field may hold; remove it and "
    "send the line again.";

/* Why jansson refused the line, as a sentence a POS developer can act on;
 * jansson's own text ("end of file expected near 'x'") is never passed
 * on. Its column counts characters on the one line. */
static void parse_failure(const json_error_t *jerr, perr *e)
{
    int col = jerr->column > 0 ? jerr->column : jerr->position;
    switch (json_error_code(jerr)) {
    case json_error_out_of_memory:
        fail(e, "no_memory", "The shim is out of memory.");
        return;
    case json_error_null_character:
    case json_error_null_byte_in_key:
        fail(e, "parse_error", "%s", nul_sentence);
        return;
    case json_error_invalid_utf8:
        fail(e, "parse_error", "The request is not valid UTF-8 (at column %d); send every "
                               "string as UTF-8 and the line again.", col);
        return;
    case json_error_duplicate_key:
        fail(e, "parse_error", "The request names the same field twice in one object (at "
                               "column %d); send each field once.", col);
        return;
    case json_error_numeric_overflow:
        fail(e, "parse_error", "A number in the request is too big (at column %d): integers "
                               "must fit in 64 bits, and amounts are whole minor units.", col);
        return;
    case json_error_stack_overflow:
        fail(e, "parse_error", "The request nests arrays or objects too deeply (at column %d); "
                               "send one flat JSON object per line.", col);
        return;
    case json_error_premature_end_of_input:
        fail(e, "parse_error", "The request line ends before its JSON does (at column %d): "
                               "send exactly one whole JSON object per line.", col);
        return;
    default:
        fail(e, "parse_error", "The request line is not valid JSON (at column %d): send exactly "
                               "one JSON object per line.", col);
        return;
    }
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

void tp_proto_handle_line(tp_proto *p, const char *line, size_t len, tp_proto_out_fn out,
                          void *user)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (blank(line, len))
        return;
    perr e = {"bad_field", ""};
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr); /* json_loadb fills it; not when a NUL skips it */
    /* Any JSON text is decoded, so that a scalar is told it is not an
     * object (bad_field) rather than that it is not JSON. */
    json_t *req = memchr(line, '\0', len)
                      ? NULL
                      : json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!req) {
        if (memchr(line, '\0', len))
            fail(&e, "parse_error", "%s", nul_sentence);
        else
            parse_failure(&jerr, &e);
        reply_error(NULL, &e, out, user);
        return;
    }
    json_t *id = NULL;
    if (!json_is_object(req)) {
        fail(&e, "bad_field", "A request is a JSON object with id, method and params, not %s.",
             type_name(req));
        goto error;
    }
    json_t *rid = json_object_get(req, "id");
    if (!rid || !(json_is_integer(rid) || json_is_string(rid))) {
        fail(&e, "bad_field", "The request's id must be an integer or a string%s%s.",
             rid ? ", not " : "; it is missing", rid ? type_name(rid) : "");
        goto error;
    }
    if (json_is_string(rid) && json_string_length(rid) > TP_PROTO_ID_MAX) {
        fail(&e, "bad_field", "A string id is at most %d bytes.", TP_PROTO_ID_MAX);
        goto error;
    }
    id = rid;
    json_t *m = json_object_get(req, "method");
    if (!m || !json_is_string(m)) {
        fail(&e, "bad_field", "The request's method must be a string%s%s.",
             m ? ", not " : "; it is missing", m ? type_name(m) : "");
        goto error;
    }
    json_t *params = json_object_get(req, "params");
    json_t *empty = NULL;
    if (!params || json_is_null(params))
        params = empty = json_object();
    if (!params) {
        fail(&e, "no_memory", "The shim is out of memory.");
        goto error;
    }
    if (!json_is_object(params)) {
        fail(&e, "bad_field", "The request's params must be an object, not %s.",
             type_name(params));
        goto error;
    }
    const char *name = json_string_value(m);
    size_t i = 0;
    while (i < COUNT(methods) && strcmp(methods[i].name, name) != 0)
        i++;
    json_t *result = NULL;
    if (i == COUNT(methods) || json_string_length(m) != strlen(name))
        fail(&e, "unknown_method", "There is no method \"%.64s\"; hello lists the methods.", name);
    else if (!p->hello && methods[i].fn != m_hello)
        fail(&e, "hello_required", "Say hello first: {\"id\":1,\"method\":\"hello\",\"params\":"
                                   "{\"protocol\":\"%s\"}}.", TP_PROTO_VERSION);
    else
        result = methods[i].fn(p, params, &e);
    json_decref(empty);
    if (result) {
        reply_result(id, result, out, user);
        if (methods[i].fn == m_hello)
            scanner_state_events(p, out, user);
        json_decref(req);
        return;
    }
error:
    reply_error(id, &e, out, user);
    json_decref(req);
}

void tp_proto_feed(tp_proto *p, const char *data, size_t len, tp_proto_out_fn out, void *user)
{
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t piece = nl ? (size_t)(nl - data) : len;
        size_t used = nl ? piece + 1 : len;
        /* A "\r" that ends the line is not part of it (docs/PROTOCOL.md,
         * Framing): a line of line_max bytes may come with one byte more
         * when that byte is a "\r". If more bytes follow the "\r", the
         * line is too long once they arrive. */
        int cr_last = piece ? data[piece - 1] == '\r'
                            : p->buf_len && p->buf[p->buf_len - 1] == '\r';
        size_t counted = p->buf_len + piece - (cr_last ? 1 : 0);
        if (p->discarding) {
            if (nl)
                p->discarding = 0;
        } else if (counted > p->line_max) {
            char text[128];
            snprintf(text, sizeof text, "The line is longer than %zu bytes; it was ignored.",
                     p->line_max);
            tp_proto_error_line("line_too_long", text, out, user);
            p->buf_len = 0;
            p->discarding = nl == NULL;
        } else if (!nl) {
            memcpy(p->buf + p->buf_len, data, piece);
            p->buf_len += piece;
        } else if (p->buf_len == 0) {
            tp_proto_handle_line(p, data, piece, out, user);
        } else {
            memcpy(p->buf + p->buf_len, data, piece);
            size_t n = p->buf_len + piece;
            p->buf_len = 0;
            tp_proto_handle_line(p, p->buf, n, out, user);
        }
        data += used;
        len -= used;
    }
}

/* ---- events --------------------------------------------------------------- */

/* The event is read by the plugin's struct_size (hostabi.h). */
int tp_proto_event(tp_proto *p, const tp_event *plugin_event, tp_proto_out_fn out, void *user)
{
    if (!p->hello || !plugin_event)
        return 0;
    const tp_event read = tp_event_read(plugin_event), *ev = &read;
    if (ev->kind < 1 || (size_t)ev->kind >= COUNT(event_names))
        return 0;
    json_t *o = json_object();
    if (!o || put(o, "event", json_string(event_names[ev->kind])) ||
        put(o, "status", json_string(tp_proto_status_code(ev->status))) ||
        put(o, "txn", jstr(ev->txn_id)) || put(o, "receipt_id", jstr(ev->receipt_id)) ||
        put(o, "member_code", jstr(ev->member_code)) ||
        put(o, "member_name", jstr(ev->member_name)) ||
        put(o, "points", json_integer(ev->points)) ||
        put(o, "balance", json_integer(TP_HOST_SHOWN_BALANCE(ev))) ||
        put_balance_parts(o, ev->balance, ev->balance_source, ev->balance_as_of_ms) ||
        put_expiry(o, ev->expiring_points, ev->expiring_at_ms) ||
        put(o, "replayed", json_boolean(ev->replayed)) ||
        put(o, "time_ms", json_integer(ev->time_ms)) || put(o, "message", jstr(ev->message)) ||
        put(o, "device", jstr(ev->device)) || put(o, "receipt_code", jstr(ev->receipt_code))) {
        json_decref(o);
        return 0;
    }
    /* Protocol 1.1: refund events name the refund. */
    if (ev->kind == TP_EVENT_REFUND_COMMITTED || ev->kind == TP_EVENT_REFUND_FAILED) {
        if (put(o, "refund_id", jstr(ev->refund_id))) {
            json_decref(o);
            return 0;
        }
    }
    /* Protocol 1.6: spending points. */
    int bad = 0;
    if (ev->kind == TP_EVENT_MEMBER_IDENTIFIED) {
        json_t *offers = offers_json(ev->offers, ev->offer_stride, ev->offer_count);
        bad = !offers || put(o, "offers", offers);
    } else if (ev->kind == TP_EVENT_AWARD_COMMITTED || ev->kind == TP_EVENT_REFUND_COMMITTED) {
        bad = put(o, "redeemed_points", json_integer(ev->redeemed_points));
    } else if (ev->kind == TP_EVENT_REDEEM_CONFIRMED || ev->kind == TP_EVENT_REDEEM_REFUSED) {
        bad = put(o, "redemption_no", json_integer(ev->redemption_no)) ||
              put(o, "source", jstr(ev->redeem_source));
    }
    if (bad) {
        json_decref(o);
        return 0;
    }
    /* Scan events name the symbology the scanner reported ("" unsaid). */
    if (ev->kind == TP_EVENT_SCANNED || ev->kind == TP_EVENT_SCAN_REJECTED) {
        if (put(o, "symbology", jstr(ev->symbology))) {
            json_decref(o);
            return 0;
        }
    }
    emit(o, out, user);
    return 1;
}

/* ---- lifecycle ------------------------------------------------------------ */

tp_proto *tp_proto_new(const tp_proto_config *cfg)
{
    if (!cfg || !cfg->checkout || !cfg->members)
        return NULL;
    tp_proto *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cfg = *cfg;
    p->line_max = cfg->line_max && cfg->line_max < SIZE_MAX ? cfg->line_max : TP_PROTO_LINE_MAX;
    p->buf = malloc(p->line_max + 1); /* and a "\r" before the "\n" */
    if (!p->buf) {
        free(p);
        return NULL;
    }
    return p;
}

size_t tp_proto_cancel_open(tp_proto *p)
{
    size_t n = p->ntxns;
    for (size_t i = 0; i < n; i++) {
        tp_message msg;
        clear_msg(&msg);
        /* Nothing was journaled for an open transaction: cancelling it is
         * exactly what the till would do on a void. */
        p->cfg.checkout->cancel(p->cfg.plugin, p->txns[i], &msg);
        free(p->txns[i]);
    }
    p->ntxns = 0;
    /* Forms the client left open are cancelled like its sales. */
    for (int i = 0; i < TP_FORMS_OPEN_MAX; i++) {
        if (p->forms[i] && p->cfg.ui) {
            tp_message msg;
            clear_msg(&msg);
            p->cfg.ui->cancel(p->cfg.plugin, p->forms[i], &msg);
        }
        p->forms[i] = 0;
    }
    return n;
}

size_t tp_proto_end_session(tp_proto *p)
{
    size_t n = tp_proto_cancel_open(p);
    p->hello = 0;
    p->buf_len = 0;
    p->discarding = 0;
    return n;
}

size_t tp_proto_open_txns(const tp_proto *p)
{
    return p->ntxns;
}

void tp_proto_free(tp_proto *p)
{
    if (!p)
        return;
    tp_proto_end_session(p);
    free(p->txns);
    free(p->buf);
    free(p);
}
