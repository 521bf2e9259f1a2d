/*
 * members.h — members as managers find them: by code, card, app id, phone
 * (normalised to E.164) or email (normalised), and by name prefix.
 */
#ifndef TP_MEMBERS_H
#define TP_MEMBERS_H

#include "config.h"
#include "store.h"
#include "tillpoints/ext/admin.h"
#include "util.h" /* TP_MUST_CHECK */

struct tp_sync;

/* "+49 151 1234-5678", "0151 12345678", "0049151..." -> "+4915112345678"
 * with `country_code` for numbers typed without one. */
tp_status tp_normalise_phone(const char *in, int country_code, char *out, size_t cap,
                             tp_message *msg) TP_MUST_CHECK;

/* Trimmed, lower case, one '@', a dot in the domain, no blanks. */
tp_status tp_normalise_email(const char *in, char *out, size_t cap, tp_message *msg) TP_MUST_CHECK;

/* The one member `key` names: code, card, app id, phone or email.
 * TP_ERR_NOT_FOUND, or TP_ERR_DUPLICATE when a phone or email is shared by
 * several members (the sentence says to pick by code). */
tp_status tp_members_resolve(tp_store *s, const tp_config *cfg, const char *key,
                             tp_member_row *row, tp_message *msg) TP_MUST_CHECK;

/* Each match with its balance to show (tp_members_info); `sync` as for
 * tp_balance_get. */
tp_status tp_members_find(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                          const char *query, tp_member_info *out, size_t cap, size_t stride,
                          size_t *count, tp_message *msg) TP_MUST_CHECK;

tp_status tp_members_add_card(tp_store *s, const tp_config *cfg, const char *member,
                              const char *card, tp_message *msg) TP_MUST_CHECK;

void tp_member_info_from_row(tp_member_info *out, const tp_member_row *row);

/* tp_member_info_from_row, plus the balance to show (shown_balance,
 * balance_as_of_ms, balance_source) by the one rule (balance.h), read on
 * `s`; `sync` as for tp_balance_get. */
tp_status tp_members_info(tp_store *s, const tp_config *cfg, struct tp_sync *sync,
                          const tp_member_row *row, tp_member_info *out,
                          tp_message *msg) TP_MUST_CHECK;

#endif
