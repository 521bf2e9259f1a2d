/*
 * abi_pins.c — the layout of ABI 2.0, pinned: the offset of every member
 * of every public struct, and every struct's size, as built for 64-bit
 * Linux (x86_64, aarch64: LP64). Compiled into the plugin, so a header
 * change that moves, resizes or retypes anything fails the build here,
 * before the ABI baseline check (abi/, `make abi-check`) even runs.
 *
 * A later minor version appends members: their offsets are pinned here
 * when they are added, and the sizes below become lower bounds (a struct
 * may only grow). See "The ABI contract" in tillpoints.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "tillpoints/ext/about.h"
#include "tillpoints/ext/admin.h"
#include "tillpoints/ext/checkout.h"
#include "tillpoints/ext/events.h"
#include "tillpoints/ext/expiry.h"
#include "tillpoints/ext/hostrole.h"
#include "tillpoints/ext/images.h"
#include "tillpoints/ext/redeem.h"
#include "tillpoints/ext/scanners.h"
#include "tillpoints/ext/stats.h"
#include "tillpoints/ext/sync.h"
#include "tillpoints/ext/ui.h"

#if UINTPTR_MAX == UINT64_MAX && SIZE_MAX == UINT64_MAX

#define PIN(type, member, offset)                                                             \
    _Static_assert(offsetof(type, member) == (offset), #type "." #member " moved")
#if TP_ABI_MAJOR == 2 && TP_ABI_MINOR == 0
#define PIN_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " changed size")
#else
#define PIN_SIZE(type, size) _Static_assert(sizeof(type) >= (size), #type " shrank")
#endif

_Static_assert(sizeof(tp_status) == 4 && sizeof(tp_event_kind) == 4 &&
                   sizeof(tp_field_kind) == 4 && sizeof(tp_log_level) == 4 &&
                   sizeof(tp_sync_state) == 4 && sizeof(tp_scanner_state) == 4 &&
                   sizeof(tp_audit_central) == 4 &&
                   sizeof(tp_image_verdict) == 4,
               "status and kind types are 32-bit");

/* Since 2.5. */
PIN_SIZE(tp_award_preview, 40);
PIN(tp_award_preview, redeemed_points, 24);
PIN(tp_award_preview, redeemed_minor, 32);
PIN_SIZE(tp_checkout_ext, 80);
PIN(tp_checkout_ext, offers, 56);
PIN(tp_checkout_ext, redeem, 64);
PIN(tp_checkout_ext, unredeem, 72);
PIN_SIZE(tp_event, 200);
PIN(tp_event, offers, 152);
PIN(tp_event, offer_count, 160);
PIN(tp_event, offer_stride, 168);
PIN(tp_event, redemption_no, 176);
PIN(tp_event, reserved_2_5, 180);
PIN(tp_event, redeem_source, 184);
PIN(tp_event, redeemed_points, 192);
PIN_SIZE(tp_reward_offer, 40);
PIN(tp_reward_offer, name, 0);
PIN(tp_reward_offer, label, 8);
PIN(tp_reward_offer, cost_points, 16);
PIN(tp_reward_offer, min_basket_minor, 24);
PIN(tp_reward_offer, max_per_receipt, 32);
PIN_SIZE(tp_redeem_request, 48);
PIN(tp_redeem_request, struct_size, 0);
PIN(tp_redeem_request, reward, 8);
PIN(tp_redeem_request, points, 16);
PIN(tp_redeem_request, lines, 24);
PIN(tp_redeem_request, line_count, 32);
PIN(tp_redeem_request, line_stride, 40);
PIN_SIZE(tp_redemption, 176);
PIN(tp_redemption, struct_size, 0);
PIN(tp_redemption, redemption_no, 4);
PIN(tp_redemption, kind, 8);
PIN(tp_redemption, reserved, 12);
PIN(tp_redemption, points, 16);
PIN(tp_redemption, discount_minor, 24);
PIN(tp_redemption, balance_after, 32);
PIN(tp_redemption, label, 40);
PIN_SIZE(tp_redeem_reversal, 56);
PIN(tp_redeem_reversal, struct_size, 0);
PIN(tp_redeem_reversal, receipt, 8);
PIN(tp_redeem_reversal, location, 16);
PIN(tp_redeem_reversal, reason, 24);
PIN(tp_redeem_reversal, staff, 32);
PIN(tp_redeem_reversal, approver, 40);
PIN(tp_redeem_reversal, pin, 48);
PIN_SIZE(tp_overdraft, 296);
PIN(tp_overdraft, struct_size, 0);
PIN(tp_overdraft, id, 8);
PIN(tp_overdraft, balance, 16);
PIN(tp_overdraft, detected_ms, 24);
PIN(tp_overdraft, member_code, 32);
PIN(tp_overdraft, location, 161);
PIN(tp_overdraft, terminal, 194);
PIN(tp_overdraft, receipt, 227);
PIN_SIZE(tp_redeem_ext, 24);
PIN(tp_redeem_ext, struct_size, 0);
PIN(tp_redeem_ext, reverse, 8);
PIN(tp_redeem_ext, overdrafts, 16);

/* Since 2.4. */
PIN(tp_member_info, expiring_points, 616);
PIN(tp_member_info, expiring_at_ms, 624);
PIN_SIZE(tp_member_info, 632);
PIN(tp_event, expiring_points, 136);
PIN(tp_event, expiring_at_ms, 144);
PIN_SIZE(tp_event, 152);
PIN_SIZE(tp_expiry_result, 40);
PIN(tp_expiry_result, struct_size, 0);
PIN(tp_expiry_result, members, 8);
PIN(tp_expiry_result, entries, 16);
PIN(tp_expiry_result, points, 24);
PIN(tp_expiry_result, applied, 32);
PIN_SIZE(tp_expiry_next, 24);
PIN(tp_expiry_next, struct_size, 0);
PIN(tp_expiry_next, points, 8);
PIN(tp_expiry_next, at_ms, 16);
PIN_SIZE(tp_expiry_ext, 24);
PIN(tp_expiry_ext, struct_size, 0);
PIN(tp_expiry_ext, expire, 8);
PIN(tp_expiry_ext, member_next, 16);

/* Since 2.3. */
PIN(tp_managers_ext, manager_verify, 32);
PIN_SIZE(tp_managers_ext, 40);
PIN_SIZE(tp_stats_query, 24);
PIN(tp_stats_query, struct_size, 0);
PIN(tp_stats_query, from_ms, 8);
PIN(tp_stats_query, days, 16);
PIN_SIZE(tp_stats_row, 112);
PIN(tp_stats_row, struct_size, 0);
PIN(tp_stats_row, metric, 4);
PIN(tp_stats_row, key, 21);
PIN(tp_stats_row, day, 88);
PIN(tp_stats_row, count, 96);
PIN(tp_stats_row, points, 104);
PIN_SIZE(tp_stats_ext, 16);
PIN(tp_stats_ext, struct_size, 0);
PIN(tp_stats_ext, stats, 8);
PIN_SIZE(tp_host_role_ext, 8);
PIN(tp_host_role_ext, struct_size, 0);
PIN(tp_host_role_ext, flags, 4);

/* Since 2.2. */
PIN(tp_member_info, shown_balance, 576);
PIN(tp_member_info, balance_as_of_ms, 584);
PIN(tp_member_info, balance_source, 592);
PIN_SIZE(tp_member_info, 616);
PIN(tp_event, shown_balance, 112);
PIN(tp_event, balance_as_of_ms, 120);
PIN(tp_event, balance_source, 128);
PIN_SIZE(tp_event, 136);
PIN(tp_queue_status, last_error_ms, 328);
PIN(tp_queue_status, next_attempt_ms, 336);
PIN_SIZE(tp_queue_status, 344);
PIN(tp_queue_entry, receipt, 696);
PIN_SIZE(tp_queue_entry, 768);
PIN(tp_queue_ext, queue_dismiss, 56);
PIN_SIZE(tp_queue_ext, 64);

/* Since 2.1. */
PIN_SIZE(tp_images_ext, 24);
PIN(tp_images_ext, struct_size, 0);
PIN(tp_images_ext, decode_grey, 8);
PIN(tp_images_ext, decode_png, 16);

PIN_SIZE(tp_grey_frame, 24);
PIN(tp_grey_frame, struct_size, 0);
PIN(tp_grey_frame, width, 4);
PIN(tp_grey_frame, height, 8);
PIN(tp_grey_frame, bytes_per_row, 12);
PIN(tp_grey_frame, pixels, 16);

PIN_SIZE(tp_image_result, 424);
PIN(tp_image_result, struct_size, 0);
PIN(tp_image_result, verdict, 4);
PIN(tp_image_result, refusal, 8);
PIN(tp_image_result, is_signed, 12);
PIN(tp_image_result, codes, 16);
PIN(tp_image_result, member_code, 20);
PIN(tp_image_result, symbology, 149);
PIN(tp_image_result, message, 166);

PIN_SIZE(tp_about_ext, 24);
PIN(tp_about_ext, struct_size, 0);
PIN(tp_about_ext, version, 8);
PIN(tp_about_ext, sqlite_version, 16);

PIN_SIZE(tp_verify_result, 40);
PIN(tp_verify_result, struct_size, 0);
PIN(tp_verify_result, checks, 8);
PIN(tp_verify_result, problems, 16);
PIN(tp_verify_result, entries, 24);
PIN(tp_verify_result, members, 32);

PIN_SIZE(tp_audit_head, 200);
PIN(tp_audit_head, struct_size, 0);
PIN(tp_audit_head, seq, 8);
PIN(tp_audit_head, hash, 16);
PIN(tp_audit_head, time_ms, 88);
PIN(tp_audit_head, action, 96);
PIN(tp_audit_head, location, 129);
PIN(tp_audit_head, terminal, 162);

PIN_SIZE(tp_audit_report, 560);
PIN(tp_audit_report, struct_size, 0);
PIN(tp_audit_report, local, 8);
PIN(tp_audit_report, central, 208);
PIN(tp_audit_report, central_seq, 216);
PIN(tp_audit_report, central_hash, 224);
PIN(tp_audit_report, central_note, 289);
PIN(tp_audit_report, anchor_checked, 548);
PIN(tp_audit_report, anchor_seq, 552);

PIN_SIZE(tp_audit_ext, 32);
PIN(tp_audit_ext, struct_size, 0);
PIN(tp_audit_ext, head, 8);
PIN(tp_audit_ext, verify, 16);
PIN(tp_audit_ext, seal, 24);

PIN_SIZE(tp_line, 40);
PIN(tp_line, sku, 0);
PIN(tp_line, category, 8);
PIN(tp_line, amount_minor, 16);
PIN(tp_line, discount_minor, 24);
PIN(tp_line, flags, 32);

PIN_SIZE(tp_receipt, 56);
PIN(tp_receipt, struct_size, 0);
PIN(tp_receipt, receipt_id, 8);
PIN(tp_receipt, currency, 16);
PIN(tp_receipt, time_ms, 24);
PIN(tp_receipt, lines, 32);
PIN(tp_receipt, line_count, 40);
PIN(tp_receipt, line_stride, 48);

PIN_SIZE(tp_award_preview, 24);
PIN(tp_award_preview, struct_size, 0);
PIN(tp_award_preview, has_member, 4);
PIN(tp_award_preview, eligible_minor, 8);
PIN(tp_award_preview, points, 16);

PIN_SIZE(tp_refund, 56);
PIN(tp_refund, struct_size, 0);
PIN(tp_refund, refund_id, 8);
PIN(tp_refund, receipt_id, 16);
PIN(tp_refund, currency, 24);
PIN(tp_refund, amount_minor, 32);
PIN(tp_refund, full, 40);
PIN(tp_refund, time_ms, 48);

PIN_SIZE(tp_checkout_ext, 56);
PIN(tp_checkout_ext, struct_size, 0);
PIN(tp_checkout_ext, begin, 8);
PIN(tp_checkout_ext, scan, 16);
PIN(tp_checkout_ext, complete, 24);
PIN(tp_checkout_ext, cancel, 32);
PIN(tp_checkout_ext, refund, 40);
PIN(tp_checkout_ext, flush, 48);

PIN_SIZE(tp_event, 112);
PIN(tp_event, struct_size, 0);
PIN(tp_event, kind, 4);
PIN(tp_event, status, 8);
PIN(tp_event, replayed, 12);
PIN(tp_event, points, 16);
PIN(tp_event, balance, 24);
PIN(tp_event, time_ms, 32);
PIN(tp_event, txn_id, 40);
PIN(tp_event, receipt_id, 48);
PIN(tp_event, member_code, 56);
PIN(tp_event, member_name, 64);
PIN(tp_event, message, 72);
PIN(tp_event, device, 80);
PIN(tp_event, receipt_code, 88);
PIN(tp_event, refund_id, 96);
PIN(tp_event, symbology, 104);

PIN_SIZE(tp_host_events_ext, 16);
PIN(tp_host_events_ext, struct_size, 0);
PIN(tp_host_events_ext, on_event, 8);

PIN_SIZE(tp_activity_query, 56);
PIN(tp_activity_query, struct_size, 0);
PIN(tp_activity_query, kinds, 4);
PIN(tp_activity_query, member, 8);
PIN(tp_activity_query, staff, 16);
PIN(tp_activity_query, location, 24);
PIN(tp_activity_query, from_ms, 32);
PIN(tp_activity_query, to_ms, 40);
PIN(tp_activity_query, before_id, 48);

PIN_SIZE(tp_activity_row, 960);
PIN(tp_activity_row, struct_size, 0);
PIN(tp_activity_row, id, 8);
PIN(tp_activity_row, time_ms, 16);
PIN(tp_activity_row, member_code, 24);
PIN(tp_activity_row, member_name, 153);
PIN(tp_activity_row, points, 288);
PIN(tp_activity_row, kind, 296);
PIN(tp_activity_row, staff, 313);
PIN(tp_activity_row, location, 378);
PIN(tp_activity_row, receipt, 411);
PIN(tp_activity_row, reason, 476);
PIN(tp_activity_row, comment, 677);
PIN(tp_activity_row, reverses_id, 880);
PIN(tp_activity_row, approver, 888);

PIN_SIZE(tp_adjustment, 48);
PIN(tp_adjustment, struct_size, 0);
PIN(tp_adjustment, member, 8);
PIN(tp_adjustment, points, 16);
PIN(tp_adjustment, reason, 24);
PIN(tp_adjustment, comment, 32);
PIN(tp_adjustment, staff, 40);

PIN_SIZE(tp_bulk_adjustment, 64);
PIN(tp_bulk_adjustment, struct_size, 0);
PIN(tp_bulk_adjustment, members, 8);
PIN(tp_bulk_adjustment, member_count, 16);
PIN(tp_bulk_adjustment, all_members, 24);
PIN(tp_bulk_adjustment, points, 32);
PIN(tp_bulk_adjustment, reason, 40);
PIN(tp_bulk_adjustment, comment, 48);
PIN(tp_bulk_adjustment, staff, 56);

PIN_SIZE(tp_bulk_result, 96);
PIN(tp_bulk_result, struct_size, 0);
PIN(tp_bulk_result, members, 8);
PIN(tp_bulk_result, points_total, 16);
PIN(tp_bulk_result, batch_id, 24);

PIN_SIZE(tp_ledger_ext, 32);
PIN(tp_ledger_ext, struct_size, 0);
PIN(tp_ledger_ext, activity, 8);
PIN(tp_ledger_ext, adjust, 16);
PIN(tp_ledger_ext, bulk_adjust, 24);

PIN_SIZE(tp_manager_info, 216);
PIN(tp_manager_info, id, 0);
PIN(tp_manager_info, name, 65);
PIN(tp_manager_info, failures, 196);
PIN(tp_manager_info, locked_until_ms, 200);
PIN(tp_manager_info, created_ms, 208);

PIN_SIZE(tp_managers_ext, 32);
PIN(tp_managers_ext, struct_size, 0);
PIN(tp_managers_ext, manager_add, 8);
PIN(tp_managers_ext, manager_reset_pin, 16);
PIN(tp_managers_ext, manager_list, 24);

PIN_SIZE(tp_member_new, 48);
PIN(tp_member_new, struct_size, 0);
PIN(tp_member_new, code, 8);
PIN(tp_member_new, name, 16);
PIN(tp_member_new, phone, 24);
PIN(tp_member_new, email, 32);
PIN(tp_member_new, app_id, 40);

PIN_SIZE(tp_member_info, 576);
PIN(tp_member_info, struct_size, 0);
PIN(tp_member_info, code, 4);
PIN(tp_member_info, name, 133);
PIN(tp_member_info, phone, 262);
PIN(tp_member_info, email, 295);
PIN(tp_member_info, app_id, 424);
PIN(tp_member_info, balance, 560);
PIN(tp_member_info, created_ms, 568);

PIN_SIZE(tp_balance_view, 208);
PIN(tp_balance_view, struct_size, 0);
PIN(tp_balance_view, code, 4);
PIN(tp_balance_view, balance, 136);
PIN(tp_balance_view, local, 144);
PIN(tp_balance_view, confirmed, 152);
PIN(tp_balance_view, pending, 160);
PIN(tp_balance_view, refused, 168);
PIN(tp_balance_view, confirmed_ms, 176);
PIN(tp_balance_view, source, 184);

PIN_SIZE(tp_members_ext, 48);
PIN(tp_members_ext, struct_size, 0);
PIN(tp_members_ext, member_add, 8);
PIN(tp_members_ext, member_add_card, 16);
PIN(tp_members_ext, member_get, 24);
PIN(tp_members_ext, member_find, 32);
PIN(tp_members_ext, member_balance, 40);

PIN_SIZE(tp_queue_status, 328);
PIN(tp_queue_status, struct_size, 0);
PIN(tp_queue_status, configured, 4);
PIN(tp_queue_status, state, 8);
PIN(tp_queue_status, pending, 16);
PIN(tp_queue_status, parked, 24);
PIN(tp_queue_status, delivered, 32);
PIN(tp_queue_status, failing, 40);
PIN(tp_queue_status, oldest_pending_ms, 48);
PIN(tp_queue_status, last_success_ms, 56);
PIN(tp_queue_status, last_pull_ms, 64);
PIN(tp_queue_status, last_error, 72);

PIN_SIZE(tp_queue_entry, 696);
PIN(tp_queue_entry, id, 0);
PIN(tp_queue_entry, event_id, 8);
PIN(tp_queue_entry, kind, 264);
PIN(tp_queue_entry, member, 280);
PIN(tp_queue_entry, points, 416);
PIN(tp_queue_entry, attempts, 424);
PIN(tp_queue_entry, parked, 428);
PIN(tp_queue_entry, created_ms, 432);
PIN(tp_queue_entry, last_error, 440);

PIN_SIZE(tp_queue_ext, 56);
PIN(tp_queue_ext, struct_size, 0);
PIN(tp_queue_ext, queue_status, 8);
PIN(tp_queue_ext, queue_list, 16);
PIN(tp_queue_ext, queue_retry, 24);
PIN(tp_queue_ext, queue_park, 32);
PIN(tp_queue_ext, queue_unpark, 40);
PIN(tp_queue_ext, central_init, 48);

PIN_SIZE(tp_scanner_info, 608);
PIN(tp_scanner_info, name, 0);
PIN(tp_scanner_info, driver, 33);
PIN(tp_scanner_info, device, 50);
PIN(tp_scanner_info, state, 308);
PIN(tp_scanner_info, last_scan_ms, 312);
PIN(tp_scanner_info, scans, 320);
PIN(tp_scanner_info, rejected, 328);
PIN(tp_scanner_info, errors, 336);
PIN(tp_scanner_info, reconnects, 344);
PIN(tp_scanner_info, last_error, 352);

PIN_SIZE(tp_scanners_ext, 16);
PIN(tp_scanners_ext, struct_size, 0);
PIN(tp_scanners_ext, list, 8);

PIN_SIZE(tp_sync_status, 328);
PIN(tp_sync_status, struct_size, 0);
PIN(tp_sync_status, configured, 4);
PIN(tp_sync_status, state, 8);
PIN(tp_sync_status, last_error, 12);
PIN(tp_sync_status, last_error_ms, 272);
PIN(tp_sync_status, last_success_ms, 280);
PIN(tp_sync_status, next_attempt_ms, 288);
PIN(tp_sync_status, pushed, 296);
PIN(tp_sync_status, parked, 304);
PIN(tp_sync_status, pulled, 312);
PIN(tp_sync_status, reconnects, 320);

PIN_SIZE(tp_sync_ext, 16);
PIN(tp_sync_ext, struct_size, 0);
PIN(tp_sync_ext, status, 8);

PIN_SIZE(tp_import_result, 56);
PIN(tp_import_result, struct_size, 0);
PIN(tp_import_result, rows, 8);
PIN(tp_import_result, invalid, 16);
PIN(tp_import_result, members_created, 24);
PIN(tp_import_result, entries, 32);
PIN(tp_import_result, points_total, 40);
PIN(tp_import_result, applied, 48);

PIN_SIZE(tp_transfer_ext, 24);
PIN(tp_transfer_ext, struct_size, 0);
PIN(tp_transfer_ext, import_csv, 8);
PIN(tp_transfer_ext, export_csv, 16);

PIN_SIZE(tp_form_choice, 16);
PIN(tp_form_choice, key, 0);
PIN(tp_form_choice, label, 8);

PIN_SIZE(tp_form_field, 72);
PIN(tp_form_field, id, 0);
PIN(tp_form_field, kind, 8);
PIN(tp_form_field, label, 16);
PIN(tp_form_field, value, 24);
PIN(tp_form_field, error, 32);
PIN(tp_form_field, required, 40);
PIN(tp_form_field, max_len, 44);
PIN(tp_form_field, choices, 48);
PIN(tp_form_field, choice_count, 56);
PIN(tp_form_field, choice_stride, 64);

PIN_SIZE(tp_form, 80);
PIN(tp_form, struct_size, 0);
PIN(tp_form, form_id, 8);
PIN(tp_form, action, 16);
PIN(tp_form, title, 24);
PIN(tp_form, message, 32);
PIN(tp_form, is_error, 40);
PIN(tp_form, fields, 48);
PIN(tp_form, field_count, 56);
PIN(tp_form, field_stride, 64);
PIN(tp_form, submit_label, 72);

PIN_SIZE(tp_form_answer, 16);
PIN(tp_form_answer, field_id, 0);
PIN(tp_form_answer, value, 8);

PIN_SIZE(tp_staff, 24);
PIN(tp_staff, struct_size, 0);
PIN(tp_staff, id, 8);
PIN(tp_staff, role, 16);

PIN_SIZE(tp_ui_ext, 32);
PIN(tp_ui_ext, struct_size, 0);
PIN(tp_ui_ext, open, 8);
PIN(tp_ui_ext, submit, 16);
PIN(tp_ui_ext, cancel, 24);

PIN_SIZE(tp_host_ui_ext, 24);
PIN(tp_host_ui_ext, struct_size, 0);
PIN(tp_host_ui_ext, present, 8);
PIN(tp_host_ui_ext, dismiss, 16);

PIN_SIZE(tp_version, 12);
PIN(tp_version, major, 0);
PIN(tp_version, minor, 4);
PIN(tp_version, patch, 8);

PIN_SIZE(tp_message, 256);
PIN(tp_message, text, 0);

PIN_SIZE(struct tp_host, 72);
PIN(struct tp_host, abi, 0);
PIN(struct tp_host, struct_size, 12);
PIN(struct tp_host, name, 16);
PIN(struct tp_host, vendor, 24);
PIN(struct tp_host, version, 32);
PIN(struct tp_host, host_data, 40);
PIN(struct tp_host, get_extension, 48);
PIN(struct tp_host, request_callback, 56);
PIN(struct tp_host, log, 64);

PIN_SIZE(struct tp_plugin, 48);
PIN(struct tp_plugin, struct_size, 0);
PIN(struct tp_plugin, plugin_data, 8);
PIN(struct tp_plugin, init, 16);
PIN(struct tp_plugin, destroy, 24);
PIN(struct tp_plugin, get_extension, 32);
PIN(struct tp_plugin, on_main_thread, 40);

PIN_SIZE(tp_entry, 40);
PIN(tp_entry, abi, 0);
PIN(tp_entry, struct_size, 12);
PIN(tp_entry, init, 16);
PIN(tp_entry, deinit, 24);
PIN(tp_entry, create, 32);

#endif /* LP64 */
