/*
 * hostabi.h — the host side of the 2.0 size rules ("The ABI contract" at
 * the top of tillpoints.h, docs/DESIGN.md §2): how a host reads what the
 * plugin hands it, and which plugin extensions a back-office tool needs.
 *
 * The loaded plugin may be of a later minor version than the headers this
 * host was built against: its tp_event and tp_form may be larger than this
 * build's, the elements of its arrays (form fields, their choices) larger
 * than this build's sizeof, and its extension tables longer. Everything
 * here reads a field only when the plugin's struct_size or stride covers it
 * (TP_HAS_FIELD, TP_STRIDE_HAS_FIELD) and gives a field it does not cover
 * as 0, or "" for a string — which in every tillpoints struct means "not
 * given". Strings in the copies point into the plugin's structs: valid for
 * the callback that handed them over, like the structs themselves.
 *
 * Header-only (static inline): protocol.c is also built into the shim's
 * fuzzer and bench_sync into a benchmark, neither of which links host.c.
 */
#ifndef TP_HOSTABI_H
#define TP_HOSTABI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/ext/ui.h"
#include "tillpoints/tillpoints.h"

/* Copy one field of `src` (whose struct_size says what it has) into `dst`,
 * or 0 / "" when it lacks it. */
#define TP_HOSTABI_NUM(dst, src, type, f) ((dst).f = TP_HAS_FIELD(src, type, f) ? (src)->f : 0)
#define TP_HOSTABI_STR(dst, src, type, f) \
    ((dst).f = TP_HAS_FIELD(src, type, f) && (src)->f ? (src)->f : "")
/* The same for an array element of `stride` bytes. */
#define TP_HOSTABI_SNUM(dst, src, stride, type, f) \
    ((dst).f = TP_STRIDE_HAS_FIELD(stride, type, f) ? (src)->f : 0)
#define TP_HOSTABI_SSTR(dst, src, stride, type, f) \
    ((dst).f = TP_STRIDE_HAS_FIELD(stride, type, f) && (src)->f ? (src)->f : "")

/* The balance a host shows (docs/DESIGN.md §8, "One balance"): a 2.2
 * plugin's shown_balance when it gave a source; else (an older plugin, or
 * an event that carries no balance) `balance`, its ledger sum. Works on a
 * tp_member_info the host zeroed before the call and on a tp_event_read
 * copy. */
#define TP_HOST_SHOWN_BALANCE(x) ((x)->balance_source[0] ? (x)->shown_balance : (x)->balance)

/* Every manager-side extension (ext/admin.h lists them), and checkout for
 * its flush: what a back-office tool (the CLI, the shim's admin.* methods,
 * the till's shutdown, the tests and benchmarks) calls. Owned by the
 * plugin instance; valid until it is destroyed. */
typedef struct tp_admin_set {
    const tp_members_ext *members;
    const tp_ledger_ext *ledger;
    const tp_transfer_ext *transfer;
    const tp_managers_ext *managers;
    const tp_queue_ext *queue;
    const tp_audit_ext *audit;
    const tp_checkout_ext *checkout;
} tp_admin_set;

/* The plugin's extension `id` when its table holds at least `need` bytes
 * (through the last function of 2.0), else NULL: a shorter table is not
 * the extension this host knows. A function appended after 2.0 is then
 * checked where it is called, with TP_HAS_FIELD(ext, tp_X_ext, fn). Every
 * extension table starts with its uint32_t struct_size. */
static inline const void *tp_hostabi_extension(const tp_plugin *plugin, const char *id,
                                               size_t need)
{
    const void *ext = plugin->get_extension(plugin, id);
    if (!ext || (size_t)*(const uint32_t *)ext < need)
        return NULL;
    return ext;
}

/* Fills `set` from `plugin`. Returns NULL when the plugin has every one of
 * them, else the id of the first it lacks (the others are still filled). */
static inline const char *tp_admin_set_get(const tp_plugin *plugin, tp_admin_set *set)
{
    set->members = tp_hostabi_extension(plugin, TP_EXT_MEMBERS,
                                        TP_FIELD_END(tp_members_ext, member_balance));
    set->ledger = tp_hostabi_extension(plugin, TP_EXT_LEDGER,
                                       TP_FIELD_END(tp_ledger_ext, bulk_adjust));
    set->transfer = tp_hostabi_extension(plugin, TP_EXT_TRANSFER,
                                         TP_FIELD_END(tp_transfer_ext, export_csv));
    set->managers = tp_hostabi_extension(plugin, TP_EXT_MANAGERS,
                                         TP_FIELD_END(tp_managers_ext, manager_list));
    set->queue = tp_hostabi_extension(plugin, TP_EXT_QUEUE,
                                      TP_FIELD_END(tp_queue_ext, central_init));
    set->audit = tp_hostabi_extension(plugin, TP_EXT_AUDIT, TP_FIELD_END(tp_audit_ext, seal));
    set->checkout = tp_hostabi_extension(plugin, TP_EXT_CHECKOUT,
                                         TP_FIELD_END(tp_checkout_ext, flush));
    return !set->members    ? TP_EXT_MEMBERS
           : !set->ledger   ? TP_EXT_LEDGER
           : !set->transfer ? TP_EXT_TRANSFER
           : !set->managers ? TP_EXT_MANAGERS
           : !set->queue    ? TP_EXT_QUEUE
           : !set->audit    ? TP_EXT_AUDIT
           : !set->checkout ? TP_EXT_CHECKOUT
                            : NULL;
}

/* An event as this build's tp_event (struct_size = sizeof), every string
 * non-NULL. */
static inline tp_event tp_event_read(const tp_event *ev)
{
    tp_event e;
    memset(&e, 0, sizeof e);
    e.struct_size = (uint32_t)sizeof e;
    TP_HOSTABI_NUM(e, ev, tp_event, kind);
    TP_HOSTABI_NUM(e, ev, tp_event, status);
    TP_HOSTABI_NUM(e, ev, tp_event, replayed);
    TP_HOSTABI_NUM(e, ev, tp_event, points);
    TP_HOSTABI_NUM(e, ev, tp_event, balance);
    TP_HOSTABI_NUM(e, ev, tp_event, time_ms);
    TP_HOSTABI_STR(e, ev, tp_event, txn_id);
    TP_HOSTABI_STR(e, ev, tp_event, receipt_id);
    TP_HOSTABI_STR(e, ev, tp_event, member_code);
    TP_HOSTABI_STR(e, ev, tp_event, member_name);
    TP_HOSTABI_STR(e, ev, tp_event, message);
    TP_HOSTABI_STR(e, ev, tp_event, device);
    TP_HOSTABI_STR(e, ev, tp_event, receipt_code);
    TP_HOSTABI_STR(e, ev, tp_event, refund_id);
    TP_HOSTABI_STR(e, ev, tp_event, symbology);
    TP_HOSTABI_NUM(e, ev, tp_event, shown_balance);
    TP_HOSTABI_NUM(e, ev, tp_event, balance_as_of_ms);
    TP_HOSTABI_STR(e, ev, tp_event, balance_source);
    TP_HOSTABI_NUM(e, ev, tp_event, expiring_points);
    TP_HOSTABI_NUM(e, ev, tp_event, expiring_at_ms);
    /* 2.5: the offers stay the plugin's (read them with
     * tp_reward_offer_read); the rest by value. */
    TP_HOSTABI_NUM(e, ev, tp_event, offers);
    TP_HOSTABI_NUM(e, ev, tp_event, offer_count);
    TP_HOSTABI_NUM(e, ev, tp_event, offer_stride);
    TP_HOSTABI_NUM(e, ev, tp_event, redemption_no);
    TP_HOSTABI_STR(e, ev, tp_event, redeem_source);
    TP_HOSTABI_NUM(e, ev, tp_event, redeemed_points);
    if (!e.offers)
        e.offer_count = 0;
    return e;
}

/* Offer `i` of an event's (or offers()') array as this build's
 * tp_reward_offer, every string non-NULL. */
static inline tp_reward_offer tp_reward_offer_read(const tp_reward_offer *base, size_t stride,
                                                   size_t i)
{
    tp_reward_offer o;
    memset(&o, 0, sizeof o);
    const unsigned char *p = (const unsigned char *)base + i * stride;
    memcpy(&o, p, stride < sizeof o ? stride : sizeof o);
    if (!o.name)
        o.name = "";
    if (!o.label)
        o.label = "";
    return o;
}

/* A presented form as this build's tp_form, every string non-NULL. Its
 * `fields` and `field_stride` stay the plugin's: read the fields with
 * tp_form_field_read. */
static inline tp_form tp_form_read(const tp_form *form)
{
    tp_form f;
    memset(&f, 0, sizeof f);
    f.struct_size = (uint32_t)sizeof f;
    TP_HOSTABI_NUM(f, form, tp_form, form_id);
    TP_HOSTABI_STR(f, form, tp_form, action);
    TP_HOSTABI_STR(f, form, tp_form, title);
    TP_HOSTABI_STR(f, form, tp_form, message);
    TP_HOSTABI_NUM(f, form, tp_form, is_error);
    TP_HOSTABI_NUM(f, form, tp_form, fields);
    TP_HOSTABI_NUM(f, form, tp_form, field_count);
    TP_HOSTABI_NUM(f, form, tp_form, field_stride);
    TP_HOSTABI_STR(f, form, tp_form, submit_label);
    if (!f.fields || !f.field_stride)
        f.field_count = 0;
    return f;
}

/* Field `i` (< field_count) of `form` (the plugin's, or tp_form_read's
 * copy), stepping by the plugin's stride, as this build's tp_form_field:
 * every string non-NULL, and a kind this build does not know shown as
 * TP_FIELD_INFO (the contract in tillpoints.h). Its `choices` and
 * `choice_stride` stay the plugin's: read them with tp_form_choice_read. */
static inline tp_form_field tp_form_field_read(const tp_form *form, size_t i)
{
    const size_t stride = form->field_stride;
    const tp_form_field *x =
        (const tp_form_field *)(const void *)((const char *)form->fields + i * stride);
    tp_form_field f;
    memset(&f, 0, sizeof f);
    TP_HOSTABI_SSTR(f, x, stride, tp_form_field, id);
    TP_HOSTABI_SNUM(f, x, stride, tp_form_field, kind);
    TP_HOSTABI_SSTR(f, x, stride, tp_form_field, label);
    TP_HOSTABI_SSTR(f, x, stride, tp_form_field, value);
    TP_HOSTABI_SSTR(f, x, stride, tp_form_field, error);
    TP_HOSTABI_SNUM(f, x, stride, tp_form_field, required);
    TP_HOSTABI_SNUM(f, x, stride, tp_form_field, max_len);
    TP_HOSTABI_SNUM(f, x, stride, tp_form_field, choices);
    TP_HOSTABI_SNUM(f, x, stride, tp_form_field, choice_count);
    TP_HOSTABI_SNUM(f, x, stride, tp_form_field, choice_stride);
    if (f.kind < TP_FIELD_TEXT || f.kind > TP_FIELD_RESULTS)
        f.kind = TP_FIELD_INFO;
    if (!f.choices || !f.choice_stride)
        f.choice_count = 0;
    return f;
}

/* Choice `k` (< choice_count) of a field read with tp_form_field_read,
 * both strings non-NULL. */
static inline tp_form_choice tp_form_choice_read(const tp_form_field *field, size_t k)
{
    const size_t stride = field->choice_stride;
    const tp_form_choice *x =
        (const tp_form_choice *)(const void *)((const char *)field->choices + k * stride);
    tp_form_choice c;
    TP_HOSTABI_SSTR(c, x, stride, tp_form_choice, key);
    TP_HOSTABI_SSTR(c, x, stride, tp_form_choice, label);
    return c;
}

#endif
