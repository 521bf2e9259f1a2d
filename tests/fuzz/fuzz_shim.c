/*
 * fuzz_shim.c — libFuzzer target for host-shim/protocol.c, the shim's
 * JSON-lines dispatcher, driven with a fake plugin (no dlopen, no disk).
 *
 * The fake checkout/members extensions keep a small table of open
 * transactions and check, on every call, the contract protocol.c promises
 * the plugin: strings present where required, amounts and line counts
 * within the ABI's limits, discount <= amount, known flags only, refund
 * amount xor full, flush timeout bounded. They also queue events (with
 * member names holding invalid UTF-8 on purpose), delivered after each
 * chunk of input and from admin.flush's settle hook (re-entrancy).
 *
 * Checked after every chunk and at the end (violations __builtin_trap):
 *  - every output line is one JSON object without a newline, either an
 *    event or a reply with exactly one of result/error;
 *  - exactly one reply per non-blank input line, counted by a reference
 *    framing of the input here (an over-long line counts as one reply:
 *    its line_too_long error) — independent of how the input is chunked;
 *  - the session's open-transaction count equals the fake's, and
 *    tp_proto_end_session() leaves the fake with none open.
 *
 * Input layout: byte 0 selects the line limit (odd: 64 KiB, even: 64 +
 * 8 * (b >> 1) bytes, so over-long lines are reachable); byte 1 the chunk
 * size (0: all at once, else 1 + b % 97); the rest is the client's bytes.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

#define FAKE_TXNS 8
#define FAKE_EVENTS 16

typedef struct fake {
    char txn[FAKE_TXNS][TP_TXN_ID_MAX + 1];
    int open[FAKE_TXNS];
    int nevents;
    tp_event events[FAKE_EVENTS];
    char ev_text[FAKE_EVENTS][TP_CODE_MAX + 8];
} fake;

typedef struct harness {
    tp_proto *p;
    fake *f;
    size_t replies;
    size_t events;
} harness;

static fake *fake_of(const tp_plugin *plugin)
{
    CHECK(plugin && plugin->plugin_data);
    return plugin->plugin_data;
}

static void say(tp_message *msg, const char *text)
{
    snprintf(msg->text, sizeof msg->text, "%s", text);
}

/* Offers of MEMBER_IDENTIFIED and checkout.offers (protocol 1.6), with
 * strings that are not UTF-8 and figures at their extremes. */
static const tp_reward_offer fake_offers[2] = {
    {.name = "coffee", .label = "Free \xff coffee", .cost_points = 500, .max_per_receipt = 1},
    {.name = "fiver\xc3", .label = "", .cost_points = INT64_MAX, .min_basket_minor = -1},
};

/* Queues an event whose name is `code` followed by bytes that are not
 * UTF-8, so the protocol's output sanitising is always exercised. */
static void queue_event(fake *f, tp_event_kind kind, const char *txn, const char *code)
{
    if (f->nevents == FAKE_EVENTS)
        return;
    int i = f->nevents++;
    snprintf(f->ev_text[i], sizeof f->ev_text[i], "%.*s\xff\xc3", TP_CODE_MAX, code);
    tp_event *e = &f->events[i];
    memset(e, 0, sizeof *e);
    e->struct_size = sizeof *e;
    e->kind = kind;
    e->status = kind == TP_EVENT_MEMBER_UNKNOWN ? TP_ERR_NOT_FOUND : TP_OK;
    e->txn_id = txn ? f->txn[0] : "";
    e->receipt_id = "";
    e->member_code = f->ev_text[i];
    e->member_name = f->ev_text[i];
    e->points = (int64_t)strlen(code) - 3;
    e->balance = INT64_MAX;
    e->replayed = (int32_t)(strlen(code) & 1);
    e->time_ms = INT64_MIN;
    e->message = f->ev_text[i];
    if (kind == TP_EVENT_MEMBER_IDENTIFIED) {
        e->offers = fake_offers;
        e->offer_count = 2;
        e->offer_stride = sizeof fake_offers[0];
    }
    e->redeem_source = e->message;
}

static int find(fake *f, const char *txn)
{
    for (int i = 0; i < FAKE_TXNS; i++)
        if (f->open[i] && strcmp(f->txn[i], txn) == 0)
            return i;
    return -1;
}

static int open_count(const fake *f)
{
    int n = 0;
    for (int i = 0; i < FAKE_TXNS; i++)
        n += f->open[i];
    return n;
}

static tp_status bad_id(const char *s, tp_message *msg)
{
    if (!*s || strlen(s) > TP_TXN_ID_MAX) {
        say(msg, "The transaction id is missing or too long.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    return TP_OK;
}

static tp_status f_begin(const tp_plugin *pl, const char *txn, const char *staff, tp_message *msg)
{
    fake *f = fake_of(pl);
    CHECK(txn && msg);
    (void)staff;
    if (bad_id(txn, msg))
        return TP_ERR_INVALID_ARGUMENT;
    if (find(f, txn) >= 0) {
        say(msg, "Transaction is already open.");
        return TP_ERR_STATE;
    }
    for (int i = 0; i < FAKE_TXNS; i++)
        if (!f->open[i]) {
            f->open[i] = 1;
            snprintf(f->txn[i], sizeof f->txn[i], "%s", txn);
            msg->text[0] = '\0';
            return TP_OK;
        }
    say(msg, "Too many transactions are open.");
    return TP_ERR_BUSY;
}

static tp_status f_scan(const tp_plugin *pl, const char *txn, const char *code, tp_message *msg)
{
    fake *f = fake_of(pl);
    CHECK(txn && code && msg);
    if (find(f, txn) < 0) {
        say(msg, "There is no such transaction.");
        return TP_ERR_NOT_FOUND;
    }
    if (strlen(code) > TP_CODE_MAX) {
        say(msg, "The code is too long.");
        return TP_ERR_TOO_LONG;
    }
    queue_event(f, code[0] == 'M' ? TP_EVENT_MEMBER_IDENTIFIED : TP_EVENT_MEMBER_UNKNOWN, txn,
                code);
    /* A note on success, as the real plugin gives when its queue is full;
     * cut in the middle of a UTF-8 sequence on purpose. */
    snprintf(msg->text, sizeof msg->text, "%s", strlen(code) % 3 == 0 ? "Lookup busy \xe2\x82" : "");
    return TP_OK;
}

static tp_status f_complete(const tp_plugin *pl, const char *txn, const tp_receipt *r,
                            tp_award_preview *pv, tp_message *msg)
{
    fake *f = fake_of(pl);
    CHECK(txn && r && msg);
    /* The sizes the host sets (tillpoints.h): the real plugin refuses
     * anything below 2.0's. */
    CHECK(r->struct_size == sizeof *r && r->line_stride == sizeof(tp_line));
    CHECK(!pv || pv->struct_size == sizeof *pv);
    CHECK(r->receipt_id && r->currency);
    CHECK(r->line_count <= TP_LINES_MAX);
    CHECK(r->line_count == 0 || r->lines);
    int64_t total = 0;
    for (size_t i = 0; i < r->line_count; i++) {
        const tp_line *l = &r->lines[i];
        CHECK(l->amount_minor >= 0 && l->amount_minor <= TP_AMOUNT_MAX);
        CHECK(l->discount_minor >= 0 && l->discount_minor <= l->amount_minor);
        CHECK((l->flags & ~(uint32_t)(TP_LINE_TAX | TP_LINE_TIP | TP_LINE_GIFT_CARD)) == 0);
        CHECK(!l->sku || strlen(l->sku) < 1u << 20);
        CHECK(!l->category || strlen(l->category) < 1u << 20);
        if (!(l->flags & (TP_LINE_TAX | TP_LINE_TIP | TP_LINE_GIFT_CARD)))
            total += l->amount_minor - l->discount_minor;
    }
    int i = find(f, txn);
    if (i < 0) {
        say(msg, "There is no such transaction.");
        return TP_ERR_NOT_FOUND;
    }
    if (strcmp(r->currency, "EUR") != 0) {
        say(msg, "This till earns points in EUR only.");
        return TP_ERR_UNSUPPORTED;
    }
    if (total > TP_AMOUNT_MAX) {
        say(msg, "The receipt total is too large.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    f->open[i] = 0;
    if (pv) {
        pv->has_member = 1;
        pv->eligible_minor = total;
        pv->points = total / 100;
    }
    queue_event(f, TP_EVENT_AWARD_COMMITTED, NULL, r->receipt_id);
    msg->text[0] = '\0';
    return TP_OK;
}

static tp_status f_cancel(const tp_plugin *pl, const char *txn, tp_message *msg)
{
    fake *f = fake_of(pl);
    CHECK(txn && msg);
    int i = find(f, txn);
    if (i < 0) {
        say(msg, "There is no such transaction.");
        return TP_ERR_NOT_FOUND;
    }
    f->open[i] = 0;
    msg->text[0] = '\0';
    return TP_OK;
}

static tp_status f_refund(const tp_plugin *pl, const tp_refund *r, tp_message *msg)
{
    fake *f = fake_of(pl);
    CHECK(r && msg && r->refund_id && r->receipt_id && r->currency);
    CHECK(r->struct_size == sizeof *r);
    if (r->full)
        CHECK(r->amount_minor == 0);
    else
        CHECK(r->amount_minor >= 1 && r->amount_minor <= TP_AMOUNT_MAX);
    queue_event(f, r->receipt_id[0] == 'X' ? TP_EVENT_REFUND_FAILED : TP_EVENT_REFUND_COMMITTED,
                NULL, r->receipt_id);
    msg->text[0] = '\0';
    return TP_OK;
}

static tp_status f_member_add(const tp_plugin *pl, const tp_member_new *m, tp_member_info *out,
                              tp_message *msg)
{
    (void)fake_of(pl);
    CHECK(m && m->code && msg);
    CHECK(m->struct_size == sizeof *m && (!out || out->struct_size == sizeof *out));
    if (!*m->code) {
        say(msg, "A member needs a code.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    msg->text[0] = '\0';
    if (m->code[0] == 'D')
        return TP_ERR_DUPLICATE;
    if (out) {
        memset(out, 0, sizeof *out);
        out->struct_size = sizeof *out;
        snprintf(out->code, sizeof out->code, "%s", m->code);
        snprintf(out->name, sizeof out->name, "%s", m->name ? m->name : "");
    }
    return TP_OK;
}

static tp_status f_member_get(const tp_plugin *pl, const char *code, tp_member_info *out,
                              tp_message *msg)
{
    (void)fake_of(pl);
    CHECK(code && out && msg);
    CHECK(out->struct_size == sizeof *out);
    if (code[0] != 'M') {
        say(msg, "No member has that code.");
        return TP_ERR_NOT_FOUND;
    }
    /* Fill every byte, including the terminators: the protocol must not
     * trust the plugin's arrays to be terminated. */
    memset(out, 0xC3, sizeof *out);
    out->struct_size = sizeof *out;
    out->balance = -1;
    msg->text[0] = '\0';
    return TP_OK;
}

static tp_status f_flush(const tp_plugin *pl, int64_t timeout_ms, tp_message *msg)
{
    (void)fake_of(pl);
    CHECK(msg);
    CHECK(timeout_ms >= 0 && timeout_ms <= TP_PROTO_FLUSH_TIMEOUT_MAX_MS);
    msg->text[0] = '\0';
    if (timeout_ms == 1) {
        say(msg, "Still busy.");
        return TP_ERR_BUSY;
    }
    return TP_OK;
}

/* Spending points (protocol 1.6): a redemption confirms or is refused by
 * its reward's first letter. */
static tp_status f_offers(const tp_plugin *pl, const char *txn, tp_reward_offer *out,
                          size_t cap, size_t stride, size_t *count, tp_message *msg)
{
    fake *f = fake_of(pl);
    CHECK(txn && count && msg && stride == sizeof(tp_reward_offer) && (!cap || out));
    *count = 0;
    if (find(f, txn) < 0) {
        say(msg, "There is no such transaction.");
        return TP_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < 2 && i < cap; i++)
        out[(*count)++] = fake_offers[i];
    msg->text[0] = '\0';
    return TP_OK;
}

static tp_status f_redeem(const tp_plugin *pl, const char *txn, const tp_redeem_request *rq,
                          tp_redemption *out, tp_message *msg)
{
    fake *f = fake_of(pl);
    CHECK(txn && rq && out && msg);
    CHECK(rq->struct_size == sizeof *rq && out->struct_size == sizeof *out);
    CHECK(rq->line_stride == sizeof(tp_line) && rq->line_count <= TP_LINES_MAX);
    CHECK(rq->line_count == 0 || rq->lines);
    CHECK(!rq->reward != !rq->points || (!rq->reward && rq->points == 0));
    CHECK(rq->points >= 0);
    for (size_t i = 0; i < rq->line_count; i++)
        CHECK(rq->lines[i].discount_minor >= 0 &&
              rq->lines[i].discount_minor <= rq->lines[i].amount_minor);
    if (find(f, txn) < 0) {
        say(msg, "There is no such transaction.");
        return TP_ERR_NOT_FOUND;
    }
    if (rq->reward && rq->reward[0] == 'N') {
        say(msg, "No reward is called that here.");
        return TP_ERR_NOT_FOUND;
    }
    out->redemption_no = 1;
    out->kind = rq->reward ? TP_REDEEM_REWARD : TP_REDEEM_POINTS;
    out->points = rq->points ? rq->points : 500;
    out->discount_minor = INT64_MAX;
    out->balance_after = -1;
    /* Unterminated on purpose: the protocol must not trust it. */
    memset(out->label, 0xC3, sizeof out->label);
    queue_event(f, rq->reward && rq->reward[0] == 'R' ? TP_EVENT_REDEEM_REFUSED
                                                      : TP_EVENT_REDEEM_CONFIRMED,
                txn, rq->reward ? rq->reward : "points");
    msg->text[0] = '\0';
    return TP_OK;
}

static tp_status f_unredeem(const tp_plugin *pl, const char *txn, uint32_t no, tp_message *msg)
{
    fake *f = fake_of(pl);
    CHECK(txn && msg && no >= 1);
    if (find(f, txn) < 0 || no != 1) {
        say(msg, "There is no such redemption.");
        return TP_ERR_NOT_FOUND;
    }
    msg->text[0] = '\0';
    return TP_OK;
}

static const tp_checkout_ext fake_checkout = {
    .struct_size = sizeof(tp_checkout_ext),
    .begin = f_begin,
    .scan = f_scan,
    .complete = f_complete,
    .cancel = f_cancel,
    .refund = f_refund,
    .flush = f_flush,
    .offers = f_offers,
    .redeem = f_redeem,
    .unredeem = f_unredeem,
};
/* Only what protocol 1.0 calls; the other members entries stay NULL, and
 * a call through one of them crashes the fuzzer, as it should. */
static const tp_members_ext fake_members = {
    .struct_size = sizeof(tp_members_ext),
    .member_add = f_member_add,
    .member_get = f_member_get,
};

/* ---- output checks ----------------------------------------------------- */

static void on_line(void *user, const char *line, size_t len)
{
    harness *h = user;
    CHECK(len > 0 && !memchr(line, '\n', len));
    json_error_t err;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    CHECK(o && json_is_object(o));
    if (json_object_get(o, "event")) {
        CHECK(json_is_string(json_object_get(o, "event")));
        CHECK(json_is_string(json_object_get(o, "message")));
        h->events++;
    } else {
        json_t *id = json_object_get(o, "id");
        CHECK(id && (json_is_null(id) || json_is_integer(id) || json_is_string(id)));
        int has_result = json_object_get(o, "result") != NULL;
        json_t *e = json_object_get(o, "error");
        CHECK(has_result != (e != NULL));
        if (e) {
            CHECK(json_is_string(json_object_get(e, "code")));
            CHECK(json_is_string(json_object_get(e, "message")));
        }
        h->replies++;
    }
    json_decref(o);
}

static void deliver_events(harness *h)
{
    fake *f = h->f;
    int n = f->nevents;
    f->nevents = 0;
    for (int i = 0; i < n; i++)
        tp_proto_event(h->p, &f->events[i], on_line, h);
}

static void settle(void *user)
{
    deliver_events(user);
}

/* Replies the input must produce, by a framing written independently of
 * protocol.c's. */
static size_t expected_replies(const uint8_t *d, size_t n, size_t line_max)
{
    size_t count = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && d[i] != '\n')
            continue;
        size_t len = i - start;
        /* A "\r" ending the line does not count toward the limit. */
        if (len && d[i - 1] == '\r')
            len--;
        if (len > line_max)
            count++;
        else if (i < n) {
            int blank = 1;
            for (size_t k = start; k < i; k++)
                if (d[k] != ' ' && d[k] != '\t' && d[k] != '\r')
                    blank = 0;
            count += !blank;
        }
        start = i + 1;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t line_max = (data[0] & 1) ? TP_PROTO_LINE_MAX : 64 + 8 * (size_t)(data[0] >> 1);
    size_t chunk = data[1] ? 1 + data[1] % 97 : size;
    data += 2;
    size -= 2;

    fake f;
    memset(&f, 0, sizeof f);
    tp_plugin plugin;
    memset(&plugin, 0, sizeof plugin);
    plugin.plugin_data = &f;
    harness h = {NULL, &f, 0, 0};
    tp_proto_config cfg = {
        .plugin = &plugin,
        .checkout = &fake_checkout,
        .members = &fake_members,
        .plugin_abi = TP_VERSION_INIT,
        .settle = settle,
        .settle_user = &h,
        .line_max = line_max,
    };
    h.p = tp_proto_new(&cfg);
    CHECK(h.p);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        tp_proto_feed(h.p, (const char *)data + off, n, on_line, &h);
        deliver_events(&h);
        CHECK(tp_proto_open_txns(h.p) == (size_t)open_count(&f));
    }
    CHECK(h.replies == expected_replies(data, size, line_max));
    tp_proto_end_session(h.p);
    CHECK(open_count(&f) == 0);
    CHECK(tp_proto_open_txns(h.p) == 0);
    tp_proto_free(h.p);
    return 0;
}
