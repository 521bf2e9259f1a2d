/*
 * checkout.c — the checkout extension (see ext/checkout.h).
 *
 * Runs on the host's main thread. Each call validates, computes, and at
 * most copies a fixed-size job into a bounded queue: no disk, no network,
 * no waiting. Invalid input is refused with a sentence before anything
 * changes, so a refused call leaves the transaction as it was.
 */
#include <string.h>

#include "abi.h"
#include "instance.h"
#include "payload.h"
#include "rules.h"
#include "rewards.h"
#include "scanners.h"
#include "spend.h"
#include "util.h"
#include "workers.h"

/* A receipt time more than this far ahead of the till's clock is refused:
 * clocks drift, but not by a day. */
#define FUTURE_SLACK_MS (24LL * 3600 * 1000)

static tp_status ready(const tp_plugin *plugin, tp_instance **in, tp_message *msg)
{
    tp_status st = tp_instance_ready(plugin, in, msg);
    if (st != TP_OK)
        return st;
    if (atomic_load(&(*in)->disabled)) {
        tp_msg_set(msg, "Loyalty is switched off after an internal error; the sale goes on "
                   "without %s.", tp_rules_unit(&(*in)->cfg.rules, 2));
        return TP_ERR_DISABLED;
    }
    return TP_OK;
}

/* Checks an id string: present, within `max` bytes, UTF-8, printable. */
static tp_status check_id(const char *s, size_t max, const char *what, tp_message *msg)
{
    if (!s || !*s) {
        tp_msg_set(msg, "The %s is missing.", what);
        return TP_ERR_INVALID_ARGUMENT;
    }
    return tp_check_text(s, max, what, msg);
}

static tp_status check_currency(const tp_instance *in, const char *cur, tp_message *msg)
{
    if (!cur || tp_bounded_len(cur, 3) != 3 || cur[0] < 'A' || cur[0] > 'Z' || cur[1] < 'A' ||
        cur[1] > 'Z' || cur[2] < 'A' || cur[2] > 'Z') {
        tp_msg_set(msg, "The currency must be an ISO 4217 code such as %s.", in->cfg.currency);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(cur, in->cfg.currency) != 0) {
        tp_msg_set(msg, "This till earns %s in %s only; a receipt in %s earns none.",
                   tp_rules_unit(&in->cfg.rules, 2), in->cfg.currency, cur);
        return TP_ERR_UNSUPPORTED;
    }
    return TP_OK;
}

tp_txn_slot *tp_checkout_find(tp_instance *in, const char *id)
{
    if (!in->txns || !id[0])
        return NULL;
    for (int i = 0; i < in->cfg.max_open_transactions; i++)
        if (in->txns[i].used && strcmp(in->txns[i].id, id) == 0)
            return &in->txns[i];
    return NULL;
}

tp_status tp_checkout_txn(tp_instance **in, const tp_plugin *plugin, const char *txn_id,
                          tp_txn_slot **slot, tp_message *msg)
{
    tp_status st = ready(plugin, in, msg);
    if (st == TP_OK)
        st = check_id(txn_id, TP_TXN_ID_MAX, "transaction id", msg);
    if (st != TP_OK)
        return st;
    *slot = tp_checkout_find(*in, txn_id);
    if (!*slot) {
        tp_msg_set(msg, "There is no open loyalty transaction %s; begin it first.", txn_id);
        return TP_ERR_NOT_FOUND;
    }
    return TP_OK;
}

static tp_status co_begin(const tp_plugin *plugin, const char *txn_id, const char *staff_id,
                          tp_message *msg)
{
    tp_instance *in;
    tp_status st = ready(plugin, &in, msg);
    if (st == TP_OK)
        st = check_id(txn_id, TP_TXN_ID_MAX, "transaction id", msg);
    if (st == TP_OK && staff_id && *staff_id)
        st = check_id(staff_id, TP_STAFF_ID_MAX, "staff id", msg);
    if (st != TP_OK)
        return st;
    if (tp_checkout_find(in, txn_id)) {
        tp_msg_set(msg, "Transaction %s is already open; complete or cancel it first.", txn_id);
        return TP_ERR_STATE;
    }
    for (int i = 0; i < in->cfg.max_open_transactions; i++) {
        tp_txn_slot *t = &in->txns[i];
        if (t->used)
            continue;
        memset(t, 0, sizeof *t);
        t->used = 1;
        tp_copy(t->id, sizeof t->id, txn_id);
        tp_copy(t->staff, sizeof t->staff, staff_id ? staff_id : "");
        return TP_OK;
    }
    tp_msg_set(msg, "%d loyalty transactions are already open; complete or cancel one first.",
               in->cfg.max_open_transactions);
    return TP_ERR_BUSY;
}

static tp_status co_scan(const tp_plugin *plugin, const char *txn_id, const char *code,
                         tp_message *msg)
{
    tp_instance *in;
    tp_txn_slot *t;
    tp_status st = tp_checkout_txn(&in, plugin, txn_id, &t, msg);
    if (st != TP_OK)
        return st;
    if (!code) {
        tp_msg_set(msg, "No code was scanned.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    size_t len = tp_bounded_len(code, TP_CODE_MAX);
    if (len == (size_t)-1) {
        tp_msg_set(msg, "The scanned code is longer than %d characters; it is not a loyalty "
                   "code.", TP_CODE_MAX);
        return TP_ERR_TOO_LONG;
    }
    /* Plain codes, check digits, loyalty links and signed app passes are
     * all resolved here, on the host's thread: it is pure computation. */
    tp_payload pl;
    tp_message why;
    st = tp_payload_parse(&in->cfg.scan, code, len, tp_now_ms(), &pl, why.text,
                          sizeof why.text);
    if (st != TP_OK) {
        tp_msg_set(msg, "%s", why.text);
        return st;
    }
    if (pl.kind != TP_PAYLOAD_MEMBER) {
        tp_msg_set(msg, "That is a receipt code, not a member code; scan the customer's card "
                   "or app pass.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    /* [scan] require_signed: `all` refuses a plain code here; `app` once
     * the member is known (reader and writer, same rule). */
    int is_signed = pl.is_signed || tp_scanners_vouched(in->scanners, pl.member_code);
    st = tp_payload_signed_policy(&in->cfg.scan, is_signed, NULL, why.text, sizeof why.text);
    if (st != TP_OK) {
        tp_msg_set(msg, "%s", why.text);
        return st;
    }
    /* Points of the member already reserved on this sale: not another card. */
    if ((st = tp_spend_may_rescan(t, pl.member_code, msg)) != TP_OK)
        return st;
    /* The host has not collected the outcomes of earlier work: queue no
     * more (see tp_instance_post_ordered). The sale is left as it was. */
    if (tp_instance_backlogged(in, msg))
        return TP_ERR_BUSY;
    tp_lookup_job job;
    memset(&job, 0, sizeof job);
    tp_copy(job.code, sizeof job.code, pl.member_code);
    tp_copy(job.txn, sizeof job.txn, txn_id);
    job.is_signed = is_signed;
    t->code_signed = is_signed;
    if (strcmp(t->code, job.code) != 0)
        t->identified = 0; /* another member: spending waits for its lookup */
    tp_copy(t->code, sizeof t->code, job.code);
    job.seq = ++in->next_seq;
    /* Only a queued lookup is waited for by this sale's award: a refused
     * one never posts an event, and the earlier one (if any) still does. */
    if (tp_queue_push(&in->lookup_q, &job) == 0)
        t->lookup_seq = job.seq;
    else
        tp_msg_set(msg, "Member lookup is busy; the code is kept and checked when the sale "
                   "completes.");
    return TP_OK;
}

/* A sale that earns nothing says why, in the message complete() returns
 * (the preview has only the number); empty when it earns. */
static void say_why_none(const tp_instance *in, const tp_award_job *a, tp_message *msg)
{
    const char *units = tp_rules_unit(&in->cfg.rules, 2);
    char why[TP_MESSAGE_MAX];
    if (a->points > 0)
        tp_msg_clear(msg);
    else if (!a->code[0])
        tp_msg_set(msg, "Receipt %s earns no %s: no member was scanned.", a->receipt, units);
    else if (tp_rules_why_none(&in->cfg.rules, a->total_minor, a->eligible_minor, a->currency,
                               why, sizeof why))
        tp_msg_set(msg, "Receipt %s earns no %s: %s.", a->receipt, units, why);
    else
        tp_msg_set(msg, "Receipt %s earns no %s under the current rules.", a->receipt, units);
}

static tp_status co_complete(const tp_plugin *plugin, const char *txn_id,
                             const tp_receipt *given, tp_award_preview *preview,
                             tp_message *msg)
{
    tp_instance *in;
    tp_txn_slot *t;
    tp_status st = tp_checkout_txn(&in, plugin, txn_id, &t, msg);
    if (st != TP_OK)
        return st;
    if (!given) {
        tp_msg_set(msg, "No receipt was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_receipt local;
    const tp_receipt *receipt = &local;
    if ((st = tp_abi_read_in(&local, sizeof local, given, TP_MIN_RECEIPT, "tp_receipt", msg)) !=
            TP_OK ||
        (preview && (st = tp_abi_check_out(preview, TP_MIN_PREVIEW, "tp_award_preview", msg)) !=
                        TP_OK))
        return st;
    st = check_id(receipt->receipt_id, TP_RECEIPT_ID_MAX, "receipt number", msg);
    if (st == TP_OK)
        st = check_currency(in, receipt->currency, msg);
    if (st != TP_OK)
        return st;
    int64_t now = tp_now_ms();
    int64_t when = receipt->time_ms ? receipt->time_ms : now;
    if (when < 0 || when > now + FUTURE_SLACK_MS) {
        tp_msg_set(msg, "The receipt time is not plausible (in the future or before 1970); "
                   "check the till's clock.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_spend_ready_to_complete(t, msg)) != TP_OK)
        return st;
    if (tp_instance_backlogged(in, msg))
        return TP_ERR_BUSY;
    tp_write_job job;
    memset(&job, 0, sizeof job);
    job.kind = TP_JOB_AWARD;
    job.seq = ++in->next_seq;
    job.after = t->lookup_seq; /* its event must not pass the scan's */
    tp_award_job *a = &job.u.award;
    st = tp_rules_eligible(&in->cfg.rules, receipt->lines, receipt->line_count,
                           receipt->line_stride, &a->total_minor, &a->eligible_minor, msg);
    if (st != TP_OK)
        return st;
    /* Points spent on the sale go with it; it earns on what was paid
     * ([redeem] earn_on). */
    tp_spend_fill_award(in, t, a);
    a->points = t->code[0] ? tp_rules_award(&in->cfg.rules,
                                            tp_rewards_earn_base(&in->cfg, a->eligible_minor,
                                                                 a->redeem_minor),
                                            when, in->cfg.location, 0)
                           : 0;
    a->time_ms = when;
    a->line_count = (int32_t)receipt->line_count;
    tp_copy(a->txn, sizeof a->txn, t->id);
    tp_copy(a->receipt, sizeof a->receipt, receipt->receipt_id);
    tp_copy(a->code, sizeof a->code, t->code);
    a->code_signed = t->code_signed;
    tp_copy(a->staff, sizeof a->staff, t->staff);
    tp_copy(a->currency, sizeof a->currency, receipt->currency);
    if (tp_queue_push(&in->write_q, &job) != 0) {
        tp_msg_set(msg, "Loyalty is behind on saving %s; finish the sale and credit this "
                   "receipt later, or complete again in a moment.",
                   tp_rules_unit(&in->cfg.rules, 2));
        return TP_ERR_BUSY;
    }
    if (preview) {
        tp_award_preview p = {.has_member = t->code[0] != '\0',
                              .eligible_minor = a->eligible_minor,
                              .points = a->points,
                              .redeemed_points = a->redeem_points,
                              .redeemed_minor = a->redeem_minor};
        tp_abi_write_out(preview, &p, sizeof p);
    }
    say_why_none(in, a, msg);
    tp_spend_closed(in, t);
    memset(t, 0, sizeof *t);
    return TP_OK;
}

static tp_status co_cancel(const tp_plugin *plugin, const char *txn_id, tp_message *msg)
{
    tp_instance *in;
    tp_txn_slot *t;
    tp_status st = tp_checkout_txn(&in, plugin, txn_id, &t, msg);
    if (st != TP_OK)
        return st;
    /* Points reserved on the sale go back first; a full queue leaves the
     * sale open, so the cancel can be tried again. */
    if ((st = tp_spend_release_all(in, t, msg)) != TP_OK)
        return st;
    tp_spend_closed(in, t);
    memset(t, 0, sizeof *t);
    return TP_OK;
}

static tp_status co_refund(const tp_plugin *plugin, const tp_refund *given, tp_message *msg)
{
    tp_instance *in;
    tp_status st = ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!given) {
        tp_msg_set(msg, "No refund was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_refund local;
    const tp_refund *refund = &local;
    if ((st = tp_abi_read_in(&local, sizeof local, given, TP_MIN_REFUND, "tp_refund", msg)) !=
        TP_OK)
        return st;
    st = check_id(refund->refund_id, TP_RECEIPT_ID_MAX, "refund number", msg);
    if (st == TP_OK)
        st = check_id(refund->receipt_id, TP_RECEIPT_ID_MAX, "original receipt number", msg);
    if (st == TP_OK)
        st = check_currency(in, refund->currency, msg);
    if (st != TP_OK)
        return st;
    if (!refund->full && (refund->amount_minor <= 0 || refund->amount_minor > TP_AMOUNT_MAX)) {
        tp_msg_set(msg, "The refund amount must be more than 0 and at most %lld minor units.",
                   (long long)TP_AMOUNT_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    int64_t now = tp_now_ms();
    int64_t when = refund->time_ms ? refund->time_ms : now;
    if (when < 0 || when > now + FUTURE_SLACK_MS) {
        tp_msg_set(msg, "The refund time is not plausible; check the till's clock.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (tp_instance_backlogged(in, msg))
        return TP_ERR_BUSY;
    tp_write_job job;
    memset(&job, 0, sizeof job);
    job.kind = TP_JOB_REFUND;
    job.seq = ++in->next_seq;
    tp_refund_job *r = &job.u.refund;
    tp_copy(r->refund, sizeof r->refund, refund->refund_id);
    tp_copy(r->receipt, sizeof r->receipt, refund->receipt_id);
    tp_copy(r->currency, sizeof r->currency, refund->currency);
    r->amount_minor = refund->full ? 0 : refund->amount_minor;
    r->full = refund->full != 0;
    r->time_ms = when;
    if (tp_queue_push(&in->write_q, &job) != 0) {
        tp_msg_set(msg, "Loyalty is behind on saving; try the refund again in a moment.");
        return TP_ERR_BUSY;
    }
    return TP_OK;
}

/* Also when loyalty is off after a fault: what was accepted before is
 * still finished (or failed) and reported. */
static tp_status co_flush(const tp_plugin *plugin, int64_t timeout_ms, tp_message *msg)
{
    tp_instance *in;
    tp_status st = tp_instance_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    int64_t deadline = tp_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (tp_queue_pending(&in->write_q) == 0 && tp_queue_pending(&in->lookup_q) == 0 &&
            !tp_writer_replaying(in) && (!in->ui_started || tp_queue_pending(&in->ui_q) == 0))
            return TP_OK;
        if (tp_now_ms() >= deadline) {
            tp_msg_set(msg, "Loyalty still has work waiting for the disk after %lld ms.",
                       (long long)timeout_ms);
            return TP_ERR_BUSY;
        }
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
}

const tp_checkout_ext tp_checkout_extension = {
    .struct_size = sizeof(tp_checkout_ext),
    .begin = co_begin,
    .scan = co_scan,
    .complete = co_complete,
    .cancel = co_cancel,
    .refund = co_refund,
    .flush = co_flush,
    .offers = tp_spend_offers,
    .redeem = tp_spend_redeem,
    .unredeem = tp_spend_unredeem,
};
