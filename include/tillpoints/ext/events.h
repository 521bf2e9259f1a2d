/*
 * events.h — the host's events extension, "tillpoints.events/2".
 *
 * The plugin reports outcomes of its background work to the host through
 * this extension. Events are always delivered on the host's main thread,
 * from inside plugin->on_main_thread(), in the order they happened. The
 * events of one transaction arrive in the order of the calls that caused
 * them (a scan's MEMBER_* event before its complete's AWARD_* event),
 * whichever of the plugin's threads produced them.
 *
 * The host may leave out this extension; the plugin then drops events
 * (the journal and ledger are still written).
 */
#ifndef TILLPOINTS_EXT_EVENTS_H
#define TILLPOINTS_EXT_EVENTS_H

#include "../tillpoints.h"
#include "checkout.h" /* tp_reward_offer */

#ifdef __cplusplus
extern "C" {
#endif

#define TP_HOST_EXT_EVENTS "tillpoints.events/2"

/* An event kind: a uint32_t; later minor versions add kinds, and a host
 * ignores kinds it does not know. */
typedef uint32_t tp_event_kind;
enum {
    TP_EVENT_MEMBER_IDENTIFIED = 1, /* member found for a scan */
    TP_EVENT_MEMBER_UNKNOWN = 2,    /* no member has that code, or
                                       (status TP_ERR_UNSUPPORTED) the code
                                       may not identify this member:
                                       [scan] require_signed */
    TP_EVENT_AWARD_COMMITTED = 3,   /* receipt journaled (and points
                                       awarded when a member was known);
                                       durable on disk */
    TP_EVENT_AWARD_FAILED = 4,      /* nothing recorded; see status */
    TP_EVENT_REFUND_COMMITTED = 5,
    TP_EVENT_REFUND_FAILED = 6,
    TP_EVENT_PLUGIN_DISABLED = 7,   /* internal fault: loyalty is off, the
                                       checkout goes on without it */
    TP_EVENT_STORAGE_ERROR = 8,     /* the database could not be written
                                       (a disk fault, or another task held
                                       it until the write queue was 3/4
                                       full); work is kept and retried */
    TP_EVENT_STORAGE_RECOVERED = 9,
    TP_EVENT_SCANNED = 10,          /* a plugin-owned scanner read a member
                                       code (member_code; device); the host
                                       passes it to checkout.scan for the
                                       open sale */
    TP_EVENT_SCAN_REJECTED = 11,    /* a scanner read something that is not
                                       a loyalty code; message says what */
    TP_EVENT_SCANNER_ONLINE = 12,   /* device opened (or back after unplug) */
    TP_EVENT_SCANNER_OFFLINE = 13,  /* device gone; reopened with backoff */
    TP_EVENT_SCANNER_ERROR = 14,    /* device misconfigured or refused, or
                                       a discarded frame; message says what
                                       a person can do */
    TP_EVENT_SYNC_STATE = 15,       /* the link to the central database
                                       changed: status TP_OK when it is
                                       reachable again, else why not */
    TP_EVENT_SYNC_PARKED = 16,      /* the central database refused an
                                       outbox entry for good (e.g. a receipt
                                       already credited at another till);
                                       member_code/points say which */
    TP_EVENT_AWARD_DEFERRED = 17,   /* delivered by destroy():
                                       the receipt was not saved before the
                                       shutdown deadline; it is kept beside
                                       the database and saved (an
                                       AWARD_COMMITTED) when loyalty next
                                       starts. status TP_ERR_STORAGE */
    TP_EVENT_REFUND_DEFERRED = 18,  /* the same for a refund */
    /* 2.5: spending points (checkout.h). */
    TP_EVENT_REDEEM_CONFIRMED = 19, /* the reservation of redemption_no
                                       holds; complete() may follow.
                                       redeem_source says who vouched */
    TP_EVENT_REDEEM_REFUSED = 20,   /* it does not: message says why (the
                                       balance moved, the central ledger
                                       says no, the offline allowance is
                                       used up); the host removes the line
                                       and calls unredeem */
    TP_EVENT_OVERDRAFT = 21         /* the central database reports that
                                       redemptions of several terminals
                                       together took member_code below
                                       zero (points: the balance); a
                                       manager queue item (redeem.h) */
};

/* Valid for the duration of the on_event call only; owned by the plugin.
 * Grows at the end in later minor versions: read a field only when
 * TP_HAS_FIELD(event, tp_event, field). Strings are never NULL. */
typedef struct tp_event {
    uint32_t struct_size;     /* sizeof(tp_event) in the plugin's build */
    tp_event_kind kind;       /* TP_EVENT_* */
    tp_status status;         /* TP_OK, or why it failed */
    int32_t replayed;         /* award/refund already recorded earlier; the
                                 figures are the original ones */
    int64_t points;           /* points (or visits) of this award/reversal
                                 (reversals negative), 0 otherwise */
    int64_t balance;          /* member's balance in this terminal's
                                 ledger after it, when known; show
                                 shown_balance (2.2) */
    int64_t time_ms;          /* when it happened, UTC ms */
    const char *txn_id;       /* "" when not tied to a transaction */
    const char *receipt_id;   /* "" when none */
    const char *member_code;  /* "" when none */
    const char *member_name;  /* display name, "" when none */
    const char *message;      /* a sentence for the cashier */
    const char *device;       /* scanner name for scanner events, else "" */
    const char *receipt_code; /* AWARD_COMMITTED without a member: a code to
                                 print on the receipt; scanning it later opens
                                 the retro-visit dialog filled. Else "". */
    const char *refund_id;    /* REFUND_*: the refund's own number
                                 (tp_refund.refund_id), telling apart
                                 several refunds of one receipt. Else "". */
    const char *symbology;    /* SCANNED / SCAN_REJECTED: the symbology the
                                 scanner reported (AIM id or camera decoder),
                                 e.g. "qr", "ean13", <= TP_SYMBOLOGY_MAX
                                 bytes; "" when it did not say */
    /* 2.2, with `balance` (which stays this terminal's ledger sum): the
     * balance to show after the event and how fresh it is, as
     * tp_member_info's fields of the same names (ext/members.h). */
    int64_t shown_balance;
    int64_t balance_as_of_ms;
    const char *balance_source; /* "local", "central", "confirmed+pending",
                                   or "" when the event has no balance */
    /* 2.4: MEMBER_IDENTIFIED: the member's next expiry, as tp_member_info's
     * fields of the same names (ext/members.h); 0 / 0 otherwise. */
    int64_t expiring_points;
    int64_t expiring_at_ms;
    /* 2.5: spending points. MEMBER_IDENTIFIED: the configured rewards the
     * shown balance affords (offers, as checkout.offers() gives them);
     * REDEEM_*: the redemption's number in the transaction and, when
     * confirmed, who vouched for it: "local" (this terminal's ledger,
     * standalone), "central" (the central ledger) or "offline" (the
     * central database did not answer in time; within the offline
     * allowance). AWARD_COMMITTED: points spent on the receipt;
     * REFUND_COMMITTED: spent points given back (redeemed_points). */
    const tp_reward_offer *offers;
    size_t offer_count;
    size_t offer_stride;
    uint32_t redemption_no;
    int32_t reserved_2_5;     /* 0 */
    const char *redeem_source;
    int64_t redeemed_points;
} tp_event;

typedef struct tp_host_events_ext {
    uint32_t struct_size; /* sizeof(tp_host_events_ext) in the host's build */

    /* [main-thread] One event. Must not call back into the plugin's
     * destroy(); other plugin calls are allowed. */
    void (*on_event)(const tp_host *host, const tp_event *event);
} tp_host_events_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_EVENTS_H */
