/*
 * managers.h — the plugin's managers extension, "tillpoints.managers/1":
 * the managers who approve retroactive credits, corrections and claim
 * resolutions with their PIN.
 *
 * [thread-safe, blocking], like every manager-side extension (admin.h).
 */
#ifndef TILLPOINTS_EXT_MANAGERS_H
#define TILLPOINTS_EXT_MANAGERS_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_MANAGERS "tillpoints.managers/1"

/* An array element: manager_list takes a stride. */
typedef struct tp_manager_info {
    char id[TP_MANAGER_ID_MAX + 1];
    char name[TP_NAME_MAX + 1];
    int32_t failures;        /* wrong PINs since the last right one; every
                                [retro] pin_max_failures-th locks, each lock
                                twice as long as the one before (to 24 h) */
    int64_t locked_until_ms; /* 0, or UTC ms when the lockout ends */
    int64_t created_ms;
} tp_manager_info;

typedef struct tp_managers_ext {
    uint32_t struct_size; /* sizeof(tp_managers_ext) in the plugin's build */

    /* PINs are [retro] pin_min_digits (6 by default, never fewer than
     * TP_PIN_MIN) to TP_PIN_MAX digits, stored as Argon2id hashes; a
     * shorter PIN is refused (TP_ERR_INVALID_ARGUMENT). `staff` is who
     * makes the change (audited). reset_pin also lifts a lockout and
     * clears the failures. */
    tp_status (*manager_add)(const tp_plugin *plugin, const char *id, const char *name,
                             const char *pin, const char *staff, tp_message *msg);
    tp_status (*manager_reset_pin)(const tp_plugin *plugin, const char *id, const char *pin,
                                   const char *staff, tp_message *msg);
    /* Up to `cap` elements of `stride` bytes (sizeof(tp_manager_info));
     * *count receives how many were written. */
    tp_status (*manager_list)(const tp_plugin *plugin, tp_manager_info *out, size_t cap,
                              size_t stride, size_t *count, tp_message *msg);
} tp_managers_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_MANAGERS_H */
