/*
 * abi.h — the plugin's side of the size and stride rules written at the
 * top of tillpoints.h (docs/DESIGN.md §2): inputs are read into the
 * plugin's own full-size structs (fields the host's size does not cover
 * read as 0), outputs are built in full-size structs and copied out up to
 * the caller's size.
 *
 * The TP_MIN_* sizes are the 2.0 sizes, written as the end of each struct's
 * last 2.0 field: a later minor build appends fields and keeps accepting
 * 2.0 hosts.
 */
#ifndef TP_ABI_H
#define TP_ABI_H

#include <stddef.h>

#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/ext/images.h"
#include "tillpoints/ext/redeem.h"
#include "tillpoints/ext/scanners.h"
#include "tillpoints/ext/sync.h"
#include "tillpoints/ext/ui.h"

#define TP_MIN_HOST TP_FIELD_END(tp_host, log)
#define TP_MIN_HOST_EVENTS TP_FIELD_END(tp_host_events_ext, on_event)
#define TP_MIN_HOST_UI TP_FIELD_END(tp_host_ui_ext, dismiss)
#define TP_MIN_RECEIPT TP_FIELD_END(tp_receipt, line_stride)
#define TP_MIN_LINE TP_FIELD_END(tp_line, flags)
#define TP_MIN_PREVIEW TP_FIELD_END(tp_award_preview, points)
#define TP_MIN_REFUND TP_FIELD_END(tp_refund, time_ms)
#define TP_MIN_MEMBER_NEW TP_FIELD_END(tp_member_new, app_id)
#define TP_MIN_MEMBER_INFO TP_FIELD_END(tp_member_info, created_ms)
#define TP_MIN_BALANCE_VIEW TP_FIELD_END(tp_balance_view, source)
#define TP_MIN_ACTIVITY_QUERY TP_FIELD_END(tp_activity_query, before_id)
#define TP_MIN_ACTIVITY_ROW TP_FIELD_END(tp_activity_row, approver)
#define TP_MIN_ADJUSTMENT TP_FIELD_END(tp_adjustment, staff)
#define TP_MIN_BULK TP_FIELD_END(tp_bulk_adjustment, staff)
#define TP_MIN_BULK_RESULT TP_FIELD_END(tp_bulk_result, batch_id)
#define TP_MIN_IMPORT_RESULT TP_FIELD_END(tp_import_result, applied)
#define TP_MIN_VERIFY_RESULT TP_FIELD_END(tp_verify_result, members)
#define TP_MIN_AUDIT_HEAD TP_FIELD_END(tp_audit_head, terminal)
#define TP_MIN_AUDIT_REPORT TP_FIELD_END(tp_audit_report, anchor_seq)
#define TP_MIN_MANAGER_INFO TP_FIELD_END(tp_manager_info, created_ms)
#define TP_MIN_QUEUE_STATUS TP_FIELD_END(tp_queue_status, last_error)
#define TP_MIN_QUEUE_ENTRY TP_FIELD_END(tp_queue_entry, last_error)
#define TP_MIN_SCANNER_INFO TP_FIELD_END(tp_scanner_info, last_error)
#define TP_MIN_SYNC_STATUS TP_FIELD_END(tp_sync_status, reconnects)
#define TP_MIN_STAFF TP_FIELD_END(tp_staff, role)
#define TP_MIN_ANSWER TP_FIELD_END(tp_form_answer, value)
/* Since 2.1: the sizes the structs had when they appeared. */
#define TP_MIN_GREY_FRAME TP_FIELD_END(tp_grey_frame, pixels)
#define TP_MIN_IMAGE_RESULT TP_FIELD_END(tp_image_result, message)
/* Since 2.3. */
#define TP_MIN_STATS_QUERY TP_FIELD_END(tp_stats_query, days)
#define TP_MIN_STATS_ROW TP_FIELD_END(tp_stats_row, points)
/* Since 2.4. */
#define TP_MIN_EXPIRY_RESULT TP_FIELD_END(tp_expiry_result, applied)
#define TP_MIN_EXPIRY_NEXT TP_FIELD_END(tp_expiry_next, at_ms)
/* Since 2.5. */
#define TP_MIN_OVERDRAFT TP_FIELD_END(tp_overdraft, receipt)

/* The struct_size a host-allocated struct declares (its first member). */
uint32_t tp_abi_size_of(const void *s);

/* Copies the host's input struct `in` into the plugin's `local`
 * (local_size bytes): as many bytes as the host's struct_size says, at most
 * local_size; the rest of `local` is zero. A struct smaller than `min`
 * (the 2.0 size) is refused with a sentence naming `type`. */
tp_status tp_abi_read_in(void *local, size_t local_size, const void *in, size_t min,
                         const char *type, tp_message *msg);

/* Checks a caller-allocated output struct: its struct_size must be at
 * least `min`. */
tp_status tp_abi_check_out(const void *out, size_t min, const char *type, tp_message *msg);

/* Copies the plugin's full `local` into the caller's `out`: at most the
 * caller's struct_size bytes, and sets out->struct_size to the bytes
 * copied. */
void tp_abi_write_out(void *out, const void *local, size_t local_size);

/* Checks an array's stride against the 2.0 element size `min`. */
tp_status tp_abi_check_stride(size_t stride, size_t min, const char *type, tp_message *msg);

/* Element `i` of an array of `stride`-byte elements. */
void *tp_abi_elem(void *base, size_t stride, size_t i);
const void *tp_abi_elem_const(const void *base, size_t stride, size_t i);

/* Copies the plugin's `local` into element `i` of a caller's array: at
 * most `stride` bytes. With `sized` (the element type starts with
 * struct_size), the element's struct_size is set to the bytes copied. */
void tp_abi_put(void *base, size_t stride, size_t i, const void *local, size_t local_size,
                int sized);

/* Reads element `i` of a host's array into `local`: at most `stride`
 * bytes, the rest zero. */
void tp_abi_get(void *local, size_t local_size, const void *base, size_t stride, size_t i);

#ifdef TP_EXT_CODES
/* Only when built against the made-up next minor's headers (tests/abi/next.py),
 * which the compatibility test (tests/abi/compat.sh) uses to show how a
 * plugin of a later minor meets hosts of either. */
extern const tp_codes_ext tp_codes_extension;
#endif

#endif /* TP_ABI_H */
