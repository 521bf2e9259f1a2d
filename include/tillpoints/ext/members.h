/*
 * members.h — the plugin's members extension, "tillpoints.members/1":
 * enrolling members, their cards, looking them up, and their balance.
 *
 * Like every manager-side extension (admin.h lists them) these calls read
 * and write the database before they return: [thread-safe, blocking]. A POS
 * calls them from a worker thread or a back-office process, never from the
 * thread that runs the checkout screen. Every write is one transaction.
 */
#ifndef TILLPOINTS_EXT_MEMBERS_H
#define TILLPOINTS_EXT_MEMBERS_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_MEMBERS "tillpoints.members/1"

typedef struct tp_member_new {
    uint32_t struct_size; /* sizeof(tp_member_new) */
    const char *code;   /* the store's [scan] code_min_length to
                           code_max_length bytes (4 to 64 by default, at
                           most TP_MEMBER_CODE_MAX): letters, digits, -_. */
    const char *name;   /* 0..TP_NAME_MAX bytes, may be NULL */
    const char *phone;  /* as typed; normalised to E.164 with the configured
                           default country; may be NULL */
    const char *email;  /* normalised (trimmed, lower case); may be NULL */
    const char *app_id; /* the loyalty app's id for the member; may be NULL */
} tp_member_new;

/* Filled by the plugin. Singly (set struct_size first) or as an array
 * element (the call takes a stride and sets each element's struct_size). */
typedef struct tp_member_info {
    uint32_t struct_size;
    char code[TP_MEMBER_CODE_MAX + 1];
    char name[TP_NAME_MAX + 1];
    char phone[TP_PHONE_MAX + 1];   /* E.164 or "" */
    char email[TP_EMAIL_MAX + 1];   /* or "" */
    char app_id[TP_MEMBER_CODE_MAX + 1];
    int64_t balance;                /* sum of this terminal's ledger for the
                                       member; show shown_balance (2.2) */
    int64_t created_ms;
    /* 2.2: the balance to show, by the one rule of docs/DESIGN.md §8 ("One
     * balance"): standalone, the ledger sum (= balance); with [sync], the
     * central balance last confirmed plus this terminal's entries not yet
     * confirmed (a parked entry counts for nothing until a manager
     * resolves it). */
    int64_t shown_balance;
    int64_t balance_as_of_ms;       /* when the central figure in it was last
                                       confirmed (UTC ms); 0 standalone or
                                       never confirmed */
    char balance_source[TP_BALANCE_SOURCE_MAX + 1];
                                    /* as tp_balance_view.source: "local",
                                       "central" or "confirmed+pending" */
    /* 2.4: the member's next expiry ([expiry] months, docs/DESIGN.md §5
     * "Expiry"), as tillpoints.expiry/1's member_next: the points and
     * their earliest expiry instant (UTC ms); 0 / 0 when nothing expires
     * or expiry is off. */
    int64_t expiring_points;
    int64_t expiring_at_ms;
} tp_member_info;

/* A member's balance as a synced terminal shows it. */
typedef struct tp_balance_view {
    uint32_t struct_size;
    char code[TP_MEMBER_CODE_MAX + 1];
    int64_t balance;      /* what to show: see source */
    int64_t local;        /* sum of this terminal's own ledger */
    int64_t confirmed;    /* the central balance as last pulled or pushed */
    int64_t pending;      /* this terminal's entries the central has not confirmed */
    int64_t refused;      /* this terminal's entries the central refused (parked) */
    int64_t confirmed_ms; /* when the link last succeeded; 0 never */
    char source[TP_BALANCE_SOURCE_MAX + 1];
                          /* "local" (no sync): balance = local;
                             "central": confirmed, nothing pending, link up;
                             "confirmed+pending": confirmed + pending, the
                             link is down or entries wait */
} tp_balance_view;

typedef struct tp_members_ext {
    uint32_t struct_size; /* sizeof(tp_members_ext) in the plugin's build */

    /* Adds a member; `out` (may be NULL) receives it as stored.
     * TP_ERR_DUPLICATE when the code or app id is already a code, card or
     * app id. A code that the store's [scan] settings would refuse at the
     * till is refused here with the same sentence. Phone and email may be
     * shared (a family); a lookup by a shared one is then refused as
     * ambiguous. */
    tp_status (*member_add)(const tp_plugin *plugin, const tp_member_new *member,
                            tp_member_info *out, tp_message *msg);

    /* Adds an alternate code (a card) to an existing member. */
    tp_status (*member_add_card)(const tp_plugin *plugin, const char *member,
                                 const char *card_code, tp_message *msg);

    /* Looks a member up by code, card, app id, phone (any format) or
     * email, with balance. */
    tp_status (*member_get)(const tp_plugin *plugin, const char *key,
                            tp_member_info *out, tp_message *msg);

    /* Members whose name starts with `query` (case-insensitive), or whose
     * code, card, app id, phone or email is `query`. Up to `cap` elements
     * of `stride` bytes (sizeof(tp_member_info)) into `out`; *count
     * receives how many were written. */
    tp_status (*member_find)(const tp_plugin *plugin, const char *query,
                             tp_member_info *out, size_t cap, size_t stride,
                             size_t *count, tp_message *msg);

    /* A member's balance as a synced terminal shows it (by code, card,
     * app id, phone or email). */
    tp_status (*member_balance)(const tp_plugin *plugin, const char *key,
                                tp_balance_view *out, tp_message *msg);
} tp_members_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_MEMBERS_H */
