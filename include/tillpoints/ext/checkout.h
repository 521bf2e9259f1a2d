/*
 * checkout.h — the plugin's checkout extension, "tillpoints.checkout/2".
 *
 * One loyalty transaction follows one sale at the till:
 *
 *   begin(txn)  ->  scan(txn, code)*  ->  complete(txn, receipt)
 *                                     \->  cancel(txn)      (void: no award)
 *   refund(refund)                         (later, against a journaled receipt)
 *
 * Every call here is [main-thread] and returns at once: it validates its
 * input, does pure computation and enqueues work for the plugin's own
 * threads. It never touches the disk or the network. Outcomes that need the
 * database arrive later as events (see ext/events.h) on the main thread:
 * member identified or unknown, award committed or failed, refund committed
 * or failed.
 *
 * A receipt earns at most once: completing the same receipt id again (a
 * replay after a crash, a double click) commits nothing new and reports the
 * original award with `replayed` set.
 *
 * Spending points (2.5; docs/INTEGRATING.md, "Spending points at the
 * till"), once the member is identified:
 *
 *   offers(txn)           the configured rewards the customer can afford
 *   redeem(txn, request)  ->  a discount line, held as a reservation; then
 *                             REDEEM_CONFIRMED or REDEEM_REFUSED (events.h)
 *   unredeem(txn, no)     releases one (cancel releases all of them)
 *   complete(txn)         commits the redemptions and the award together
 *
 * complete() refuses (TP_ERR_STATE) while a redemption of the transaction
 * waits for its confirmation or was refused: the host applies the line at
 * once and tenders after the event, as it would wait for a card terminal.
 */
#ifndef TILLPOINTS_EXT_CHECKOUT_H
#define TILLPOINTS_EXT_CHECKOUT_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_CHECKOUT "tillpoints.checkout/2"

/* Limits: ../limits.h. */

/* Line flags: lines that never earn points. */
#define TP_LINE_TAX 0x1u
#define TP_LINE_TIP 0x2u
#define TP_LINE_GIFT_CARD 0x4u

/* One line of a receipt. An array element: it travels with a stride
 * (tp_receipt.line_stride) instead of a struct_size. */
typedef struct tp_line {
    const char *sku;      /* <= TP_SKU_MAX bytes, may be NULL */
    const char *category; /* <= TP_CATEGORY_MAX bytes, may be NULL */
    int64_t amount_minor;   /* extended amount (qty x price), >= 0 */
    int64_t discount_minor; /* discount on this line, 0..amount_minor */
    uint32_t flags;         /* TP_LINE_* */
} tp_line;

typedef struct tp_receipt {
    uint32_t struct_size;   /* sizeof(tp_receipt) */
    const char *receipt_id; /* 1..TP_RECEIPT_ID_MAX bytes, printable */
    const char *currency;   /* ISO 4217 code, e.g. "EUR"; must be the
                               store's configured currency */
    int64_t time_ms;        /* sale time, UTC ms; 0 means "now" */
    const tp_line *lines;   /* line_count entries */
    size_t line_count;      /* 0..TP_LINES_MAX */
    size_t line_stride;     /* sizeof(tp_line) */
} tp_receipt;

/* Filled by complete(): what the plugin computed on the host's thread. The
 * durable outcome follows as an award event. */
typedef struct tp_award_preview {
    uint32_t struct_size;    /* set by the caller; see tillpoints.h */
    int32_t has_member;      /* a member code was scanned in this txn */
    int64_t eligible_minor;  /* the amount that earns points */
    int64_t points;          /* points the award will carry (0: none) */
    /* 2.5: the redemptions the receipt commits with the award. */
    int64_t redeemed_points; /* points spent (0: none) */
    int64_t redeemed_minor;  /* what they took off the sale */
} tp_award_preview;

typedef struct tp_refund {
    uint32_t struct_size;    /* sizeof(tp_refund) */
    const char *refund_id;   /* the refund's own receipt number,
                                1..TP_RECEIPT_ID_MAX bytes */
    const char *receipt_id;  /* the original receipt */
    const char *currency;    /* as on the original receipt */
    int64_t amount_minor;    /* eligible amount refunded, > 0 */
    int32_t full;            /* non-zero: refund the whole receipt
                                (amount_minor is then ignored) */
    int64_t time_ms;         /* 0 means "now" */
} tp_refund;

/* 2.5: what a redemption spends points on. */
typedef int32_t tp_redeem_kind;
enum {
    TP_REDEEM_REWARD = 1, /* a configured reward */
    TP_REDEEM_POINTS = 2  /* paying part of the basket with points */
};

/* A reward the customer can afford (offers(), MEMBER_IDENTIFIED). An
 * array element: it travels with a stride. Strings are the plugin's and
 * live as long as the instance. */
typedef struct tp_reward_offer {
    const char *name;         /* the name redeem() takes, <= TP_REWARD_NAME_MAX */
    const char *label;        /* what the customer reads, <= TP_NAME_MAX */
    int64_t cost_points;      /* points it costs */
    int64_t min_basket_minor; /* eligible basket it needs; 0 = any */
    int32_t max_per_receipt;
} tp_reward_offer;

typedef struct tp_redeem_request {
    uint32_t struct_size;   /* sizeof(tp_redeem_request) */
    const char *reward;     /* a configured reward's name, or NULL / "" to
                               pay with points */
    int64_t points;         /* paying with points: at most this many points;
                               0 = as many as the balance and the basket
                               allow. Ignored for a reward. */
    const tp_line *lines;   /* the basket so far, as tp_receipt's lines */
    size_t line_count;      /* 0..TP_LINES_MAX */
    size_t line_stride;     /* sizeof(tp_line) */
} tp_redeem_request;

/* Filled by redeem(); set struct_size first. */
typedef struct tp_redemption {
    uint32_t struct_size;
    uint32_t redemption_no;  /* 1, 2, ... within the transaction */
    tp_redeem_kind kind;
    int32_t reserved;        /* 1 */
    int64_t points;          /* points it spends */
    int64_t discount_minor;  /* the amount the host takes off the sale */
    int64_t balance_after;   /* the balance shown less every reservation
                                of this member at this till */
    char label[TP_NAME_MAX + 1]; /* the line's text, e.g. "Free coffee" or
                                    "Paid with 500 points" */
} tp_redemption;

typedef struct tp_checkout_ext {
    uint32_t struct_size; /* sizeof(tp_checkout_ext) in the plugin's build */

    /* [main-thread] Opens loyalty transaction `txn_id` (the host's sale
     * id, 1..TP_TXN_ID_MAX bytes). `staff_id` may be NULL.
     * TP_ERR_STATE if that id is already open; TP_ERR_BUSY when too many
     * transactions are open. */
    tp_status (*begin)(const tp_plugin *plugin, const char *txn_id,
                       const char *staff_id, tp_message *msg);

    /* [main-thread] A code scanned or typed for this transaction (a member
     * code, card, or app pass; <= TP_CODE_MAX bytes). Checks its shape
     * at once (TP_ERR_INVALID_ARGUMENT with a sentence when it cannot be a
     * member code) and looks the member up in the background: the answer
     * comes as a MEMBER_IDENTIFIED or MEMBER_UNKNOWN event. A later scan
     * replaces an earlier one. With [scan] require_signed = all, a code
     * that is not a signed app pass is refused with TP_ERR_UNSUPPORTED and
     * a sentence; with require_signed = app, a plain code of a member who
     * has an app id gets MEMBER_UNKNOWN with TP_ERR_UNSUPPORTED and earns
     * nothing at complete (docs/INTEGRATING.md, "Signed passes"). */
    tp_status (*scan)(const tp_plugin *plugin, const char *txn_id,
                      const char *code, tp_message *msg);

    /* [main-thread] Completes the sale: journals the receipt and, when a
     * member was scanned, awards points. Closes the transaction on
     * success. `preview` (may be NULL) receives the computed points. The
     * receipt is always journaled, with or without a member.
     * TP_ERR_BUSY (transaction left open, nothing queued) when the write
     * queue is full, or when the host has left too many events uncollected
     * (on_main_thread not called); scan and refund answer the same. */
    tp_status (*complete)(const tp_plugin *plugin, const char *txn_id,
                          const tp_receipt *receipt,
                          tp_award_preview *preview, tp_message *msg);

    /* [main-thread] Voids the transaction: nothing is journaled or awarded. */
    tp_status (*cancel)(const tp_plugin *plugin, const char *txn_id,
                        tp_message *msg);

    /* [main-thread] Refunds (part of) a journaled receipt. Points are
     * reversed in proportion; the outcome comes as a REFUND_COMMITTED or
     * REFUND_FAILED event. */
    tp_status (*refund)(const tp_plugin *plugin, const tp_refund *refund,
                        tp_message *msg);

    /* [thread-safe, blocking] Waits until every accepted begin, scan,
     * complete and refund has been processed (its event is queued for the
     * host), or `timeout_ms` passes (TP_ERR_BUSY). Never from the thread
     * that runs the checkout screen: for a till's own shutdown, or a tool. */
    tp_status (*flush)(const tp_plugin *plugin, int64_t timeout_ms, tp_message *msg);

    /* 2.5: spending points. */

    /* [main-thread] The configured rewards the customer of `txn` can
     * afford now (cost <= the balance the member-identified event showed,
     * less what open transactions of this till have reserved), in the
     * configuration's order: up to `cap` elements of `stride` bytes
     * (sizeof(tp_reward_offer)) into `out`, *count how many. Whether the
     * basket qualifies (min_basket_minor) is redeem()'s check.
     * TP_ERR_STATE with a sentence when no member is identified yet. */
    tp_status (*offers)(const tp_plugin *plugin, const char *txn_id, tp_reward_offer *out,
                        size_t cap, size_t stride, size_t *count, tp_message *msg);

    /* [main-thread] Spends points on `txn`: a configured reward, or paying
     * part of the basket with points ([redeem] pay_with_points). Computes
     * the discount from the basket as it stands (its lines, before this
     * redemption; earlier redemptions of the transaction are taken off
     * first), fills `out` with the line the host applies, and reserves the
     * points: the reservation is checked against the member's one balance
     * on the plugin's threads (with [sync], against the central ledger)
     * and the outcome comes as REDEEM_CONFIRMED or REDEEM_REFUSED with
     * out->redemption_no. `msg` stays empty on success: the host writes
     * its line from *out. Never waits for the disk or the network.
     * Refused at once, with a sentence and nothing reserved: no member
     * identified (TP_ERR_STATE), a reward not configured
     * (TP_ERR_NOT_FOUND), a basket that does not qualify or a reward
     * already on the receipt max_per_receipt times (TP_ERR_STATE), more
     * points than the balance (TP_ERR_STATE), bad lines
     * (TP_ERR_INVALID_ARGUMENT). */
    tp_status (*redeem)(const tp_plugin *plugin, const char *txn_id,
                        const tp_redeem_request *request, tp_redemption *out,
                        tp_message *msg);

    /* [main-thread] Takes redemption `redemption_no` off the transaction
     * and releases its reservation (the host removes its line). */
    tp_status (*unredeem)(const tp_plugin *plugin, const char *txn_id,
                          uint32_t redemption_no, tp_message *msg);
} tp_checkout_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_CHECKOUT_H */
