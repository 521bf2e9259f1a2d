/*
 * spend.c — spending points, the host's thread (see spend.h; the writer's
 * side is spendstore.c).
 *
 * Like the rest of checkout: validate, compute, queue a fixed-size job,
 * return. A redemption is decided in three places, each one stricter:
 * here against the balance the member-identified event showed less what
 * this till's open transactions hold (so a cashier hears at once that 900
 * points do not buy a 1000-point reward); on the writer against the
 * database, where every reservation of the member on the file counts; and
 * with [sync] on the confirmation thread against the central ledger. The
 * host hears the last word as REDEEM_CONFIRMED or REDEEM_REFUSED, and
 * complete() waits for it (docs/DESIGN.md §5, "Spending points").
 */
#include <stdio.h>
#include <string.h>

#include "abi.h"
#include "currency.h"
#include "instance.h"
#include "rewards.h"
#include "rules.h"
#include "spend.h"
#include "util.h"

static const char *unit_word(const tp_instance *in, int64_t n)
{
    return tp_rules_unit(&in->cfg.rules, n);
}

/* Points every open transaction of this till holds for `member`, refused
 * redemptions aside (they hold nothing once the writer said no). Only the
 * sales that hold redemptions are looked at (in->spending). */
static int64_t held_here(const tp_instance *in, const char *member)
{
    int64_t held = 0;
    for (int j = 0; j < in->n_spending; j++) {
        const tp_txn_slot *t = &in->txns[in->spending[j]];
        if (!t->identified || strcmp(t->member, member) != 0)
            continue;
        for (int k = 0; k < TP_TXN_REDEEM_MAX; k++)
            if (t->red[k].no && t->red[k].state != TP_RED_REFUSED)
                held += t->red[k].points;
    }
    return held;
}

static int holds_any(const tp_txn_slot *t)
{
    for (int k = 0; k < TP_TXN_REDEEM_MAX; k++)
        if (t->red[k].no)
            return 1;
    return 0;
}

/* Keeps in->spending in step with slot `t`: listed while it holds any. */
static void track(tp_instance *in, const tp_txn_slot *t, int holds)
{
    int idx = (int)(t - in->txns);
    for (int j = 0; j < in->n_spending; j++)
        if (in->spending[j] == idx) {
            if (!holds)
                in->spending[j] = in->spending[--in->n_spending];
            return;
        }
    if (holds && in->n_spending < in->cfg.max_open_transactions)
        in->spending[in->n_spending++] = idx;
}

void tp_spend_closed(tp_instance *in, const tp_txn_slot *t)
{
    track(in, t, 0);
}

static int64_t available_for(const tp_instance *in, const tp_txn_slot *t)
{
    int64_t a = t->shown_balance - held_here(in, t->member);
    return a > 0 ? a : 0;
}

/* The member must be known before points are spent: scanned, and the
 * lookup's answer delivered. */
static tp_status need_member(const tp_instance *in, const tp_txn_slot *t, tp_message *msg)
{
    if (!t->code[0]) {
        tp_msg_set(msg, "No member is on sale %s; scan the customer's card or app pass before "
                   "spending %s.", t->id, unit_word(in, 2));
        return TP_ERR_STATE;
    }
    if (!t->identified) {
        tp_msg_set(msg, "The customer's card is still being looked up (or is not a member's); "
                   "spend %s once the member is shown.", unit_word(in, 2));
        return TP_ERR_STATE;
    }
    return TP_OK;
}

tp_status tp_spend_offers(const tp_plugin *plugin, const char *txn_id, tp_reward_offer *out,
                          size_t cap, size_t stride, size_t *count, tp_message *msg)
{
    tp_instance *in;
    tp_txn_slot *t;
    tp_status st = tp_checkout_txn(&in, plugin, txn_id, &t, msg);
    if (st != TP_OK)
        return st;
    if (!count || (cap && !out)) {
        tp_msg_set(msg, "A place for the offers and their count is needed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    *count = 0;
    if (cap && (st = tp_abi_check_stride(stride, TP_MIN_REWARD_OFFER, "tp_reward_offer", msg)) !=
                   TP_OK)
        return st;
    if ((st = need_member(in, t, msg)) != TP_OK)
        return st;
    int idx[TP_REWARDS_MAX];
    size_t n = tp_rewards_affordable(&in->cfg, available_for(in, t), idx, TP_REWARDS_MAX);
    for (size_t i = 0; i < n && i < cap; i++) {
        const tp_reward_config *r = &in->cfg.rewards[idx[i]];
        tp_reward_offer o = {.name = r->name, .label = r->label, .cost_points = r->cost,
                             .min_basket_minor = r->min_basket_minor,
                             .max_per_receipt = r->max_per_receipt};
        tp_abi_put(out, stride, i, &o, sizeof o, 0);
        (*count)++;
    }
    if (n == 0)
        tp_msg_set(msg, "%lld %s buy none of the rewards here.",
                   (long long)available_for(in, t), unit_word(in, available_for(in, t)));
    return TP_OK;
}

static int find_reward(const tp_instance *in, const char *name)
{
    for (int i = 0; i < in->cfg.n_rewards; i++)
        if (strcmp(in->cfg.rewards[i].name, name) == 0)
            return i;
    return -1;
}

static void list_rewards(const tp_instance *in, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < in->cfg.n_rewards && n + 1 < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", in->cfg.rewards[i].name);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
}

tp_status tp_spend_redeem(const tp_plugin *plugin, const char *txn_id,
                          const tp_redeem_request *request, tp_redemption *out, tp_message *msg)
{
    tp_instance *in;
    tp_txn_slot *t;
    tp_status st = tp_checkout_txn(&in, plugin, txn_id, &t, msg);
    if (st != TP_OK)
        return st;
    if (!request) {
        tp_msg_set(msg, "No redemption was asked for.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_redeem_request req;
    if ((st = tp_abi_read_in(&req, sizeof req, request, TP_MIN_REDEEM_REQUEST,
                             "tp_redeem_request", msg)) != TP_OK ||
        (out && (st = tp_abi_check_out(out, TP_MIN_REDEMPTION, "tp_redemption", msg)) != TP_OK))
        return st;
    if ((st = need_member(in, t, msg)) != TP_OK)
        return st;
    int slot = -1;
    int64_t taken_off = 0;
    for (int k = 0; k < TP_TXN_REDEEM_MAX; k++) {
        if (!t->red[k].no && slot < 0)
            slot = k;
        else if (t->red[k].no)
            taken_off += t->red[k].discount_minor;
    }
    if (slot < 0) {
        tp_msg_set(msg, "Sale %s has %d redemptions already, the most one sale takes.", t->id,
                   TP_TXN_REDEEM_MAX);
        return TP_ERR_STATE;
    }
    int64_t total = 0, eligible = 0;
    st = tp_rules_eligible(&in->cfg.rules, req.lines, req.line_count, req.line_stride, &total,
                           &eligible, msg);
    if (st != TP_OK)
        return st;
    int64_t left = eligible - taken_off;
    if (left <= 0) {
        tp_msg_set(msg, "Nothing is left on sale %s that %s can pay for.", t->id,
                   unit_word(in, 2));
        return TP_ERR_STATE;
    }
    int64_t available = available_for(in, t);
    const char *who = t->member;
    tp_slot_redemption r = {.reward = -1};
    char label[TP_NAME_MAX + 1];
    if (req.reward && req.reward[0]) {
        if ((st = tp_check_text(req.reward, TP_REWARD_NAME_MAX, "reward name", msg)) != TP_OK)
            return st;
        r.reward = find_reward(in, req.reward);
        if (r.reward < 0) {
            char names[TP_MESSAGE_MAX / 2];
            list_rewards(in, names, sizeof names);
            if (names[0])
                tp_msg_set(msg, "No reward is called %s here; the rewards are: %s.",
                           req.reward, names);
            else
                tp_msg_set(msg, "No reward is called %s here; this store has no rewards.",
                           req.reward);
            return TP_ERR_NOT_FOUND;
        }
        const tp_reward_config *rc = &in->cfg.rewards[r.reward];
        int applied = 0;
        for (int k = 0; k < TP_TXN_REDEEM_MAX; k++)
            if (t->red[k].no && t->red[k].reward == r.reward)
                applied++;
        /* The lines were checked just above (tp_rules_eligible). */
        st = tp_rewards_discount_checked(&in->cfg, rc, req.lines, req.line_count,
                                         req.line_stride, left, applied, &r.discount_minor, msg);
        if (st != TP_OK)
            return st;
        r.points = rc->cost;
        if (r.points > available) {
            tp_msg_set(msg, "%s costs %lld %s; %s has %lld available.", rc->label,
                       (long long)r.points, unit_word(in, r.points), who, (long long)available);
            return TP_ERR_STATE;
        }
        tp_copy(label, sizeof label, rc->label);
    } else {
        int64_t most = available;
        if (req.points < 0) {
            tp_msg_set(msg, "The points to spend must be 0 (as many as fit) or more.");
            return TP_ERR_INVALID_ARGUMENT;
        }
        if (req.points > 0) {
            if (req.points > available) {
                tp_msg_set(msg, "Spending %lld %s needs more than the %lld %s has available.",
                           (long long)req.points, unit_word(in, req.points), (long long)available,
                           who);
                return TP_ERR_STATE;
            }
            most = req.points;
        }
        st = tp_rewards_points_for_amount(&in->cfg, left, most, &r.points, &r.discount_minor,
                                          msg);
        if (st != TP_OK)
            return st;
        snprintf(label, sizeof label, "Paid with %lld %s", (long long)r.points,
                 unit_word(in, r.points));
    }
    if (tp_instance_backlogged(in, msg))
        return TP_ERR_BUSY;
    tp_write_job job;
    memset(&job, 0, sizeof job);
    job.kind = TP_JOB_RESERVE;
    job.seq = ++in->next_seq;
    job.after = t->lookup_seq;
    r.no = t->last_no + 1;
    r.state = TP_RED_PENDING;
    tp_copy(job.u.reserve.txn, sizeof job.u.reserve.txn, t->id);
    tp_copy(job.u.reserve.code, sizeof job.u.reserve.code, t->member);
    job.u.reserve.no = r.no;
    job.u.reserve.points = r.points;
    if (tp_queue_push(&in->write_q, &job) != 0) {
        tp_msg_set(msg, "Loyalty is busy saving; try the redemption again in a moment.");
        return TP_ERR_BUSY;
    }
    t->last_no = r.no;
    t->red[slot] = r;
    track(in, t, 1);
    if (out) {
        tp_redemption o = {.redemption_no = r.no,
                           .kind = r.reward >= 0 ? TP_REDEEM_REWARD : TP_REDEEM_POINTS,
                           .reserved = 1,
                           .points = r.points,
                           .discount_minor = r.discount_minor,
                           .balance_after = available - r.points};
        tp_copy(o.label, sizeof o.label, label);
        tp_abi_write_out(out, &o, sizeof o);
    }
    /* Nothing to say: the host writes its line from *out (the label, the
     * amount off, the points), and the confirmation follows as an event. */
    return TP_OK;
}

/* Queues the release of reservation `no` of `t` (0: all of them). */
static tp_status queue_release(tp_instance *in, tp_txn_slot *t, uint32_t no, tp_message *msg)
{
    tp_write_job job;
    memset(&job, 0, sizeof job);
    job.kind = TP_JOB_RELEASE;
    job.seq = ++in->next_seq;
    job.after = t->lookup_seq;
    tp_copy(job.u.reserve.txn, sizeof job.u.reserve.txn, t->id);
    tp_copy(job.u.reserve.code, sizeof job.u.reserve.code, t->member);
    job.u.reserve.no = no;
    if (tp_queue_push(&in->write_q, &job) != 0) {
        tp_msg_set(msg, "Loyalty is busy saving; try again in a moment so the reserved %s are "
                   "released.", unit_word(in, 2));
        return TP_ERR_BUSY;
    }
    return TP_OK;
}

tp_status tp_spend_unredeem(const tp_plugin *plugin, const char *txn_id, uint32_t no,
                            tp_message *msg)
{
    tp_instance *in;
    tp_txn_slot *t;
    tp_status st = tp_checkout_txn(&in, plugin, txn_id, &t, msg);
    if (st != TP_OK)
        return st;
    for (int k = 0; k < TP_TXN_REDEEM_MAX; k++) {
        if (no == 0 || t->red[k].no != no)
            continue;
        if ((st = queue_release(in, t, no, msg)) != TP_OK)
            return st;
        memset(&t->red[k], 0, sizeof t->red[k]);
        track(in, t, holds_any(t));
        return TP_OK;
    }
    tp_msg_set(msg, "Sale %s has no redemption number %u.", t->id, (unsigned)no);
    return TP_ERR_NOT_FOUND;
}

tp_status tp_spend_ready_to_complete(const tp_txn_slot *t, tp_message *msg)
{
    for (int k = 0; k < TP_TXN_REDEEM_MAX; k++) {
        const tp_slot_redemption *r = &t->red[k];
        if (r->no && r->state == TP_RED_PENDING) {
            tp_msg_set(msg, "Redemption %u of sale %s waits for its confirmation; complete the "
                       "sale once it is confirmed.", (unsigned)r->no, t->id);
            return TP_ERR_STATE;
        }
        if (r->no && r->state == TP_RED_REFUSED) {
            tp_msg_set(msg, "Redemption %u of sale %s was refused; take its line off the sale "
                       "(unredeem) before completing.", (unsigned)r->no, t->id);
            return TP_ERR_STATE;
        }
    }
    return TP_OK;
}

void tp_spend_fill_award(const tp_instance *in, const tp_txn_slot *t, tp_award_job *a)
{
    (void)in;
    a->redeem_n = 0;
    for (int k = 0; k < TP_TXN_REDEEM_MAX; k++) {
        const tp_slot_redemption *r = &t->red[k];
        if (!r->no)
            continue;
        int i = a->redeem_n++;
        a->redeem_reward[i] = (int16_t)r->reward;
        a->redeem_points_of[i] = r->points;
        a->redeem_minor_of[i] = r->discount_minor;
        a->redeem_points += r->points;
        a->redeem_minor += r->discount_minor;
    }
}

tp_status tp_spend_release_all(tp_instance *in, tp_txn_slot *t, tp_message *msg)
{
    return holds_any(t) ? queue_release(in, t, 0, msg) : TP_OK;
}

tp_status tp_spend_may_rescan(const tp_txn_slot *t, const char *code, tp_message *msg)
{
    if (!t->identified || strcmp(code, t->code) == 0 || !holds_any(t))
        return TP_OK;
    tp_msg_set(msg, "Points of %s are spent on sale %s; take those redemptions off before "
               "scanning another card.", t->member, t->id);
    return TP_ERR_STATE;
}

void tp_spend_on_event(tp_instance *in, const tp_event_node *node, tp_event *ev)
{
    const tp_outcome *o = &node->o;
    tp_txn_slot *t = tp_checkout_find(in, o->txn);
    switch (o->kind) {
    case TP_EVENT_MEMBER_IDENTIFIED: {
        if (t && node->ord.lane == TP_LANE_LOOKUP && node->ord.seq == t->lookup_seq) {
            t->identified = 1;
            tp_copy(t->member, sizeof t->member, o->member_code);
            t->shown_balance = o->balance_source[0] ? o->shown_balance : o->balance;
        }
        int64_t bal = o->balance_source[0] ? o->shown_balance : o->balance;
        if (t && t->identified && strcmp(t->member, o->member_code) == 0)
            bal = available_for(in, t);
        int idx[TP_REWARDS_MAX];
        size_t n = tp_rewards_affordable(&in->cfg, bal, idx, TP_REWARDS_MAX);
        for (size_t i = 0; i < n; i++) {
            const tp_reward_config *r = &in->cfg.rewards[idx[i]];
            in->offer_buf[i] = (tp_reward_offer){.name = r->name, .label = r->label,
                                                 .cost_points = r->cost,
                                                 .min_basket_minor = r->min_basket_minor,
                                                 .max_per_receipt = r->max_per_receipt};
        }
        ev->offers = n ? in->offer_buf : NULL;
        ev->offer_count = n;
        ev->offer_stride = sizeof(tp_reward_offer);
        break;
    }
    case TP_EVENT_MEMBER_UNKNOWN:
        if (t && node->ord.lane == TP_LANE_LOOKUP && node->ord.seq == t->lookup_seq)
            t->identified = 0;
        break;
    case TP_EVENT_REDEEM_CONFIRMED:
    case TP_EVENT_REDEEM_REFUSED:
        for (int k = 0; t && k < TP_TXN_REDEEM_MAX; k++)
            if (t->red[k].no && t->red[k].no == o->redemption_no)
                t->red[k].state =
                    o->kind == TP_EVENT_REDEEM_CONFIRMED ? TP_RED_CONFIRMED : TP_RED_REFUSED;
        break;
    default:
        break;
    }
}
