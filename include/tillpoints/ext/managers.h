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

    /* 2.3. A manager signing in to a back office (tillpoints-web): checks
     * `pin` for manager `id` with the same policy as an approval step
     * (ext/ui.h): the Argon2id check runs outside the write lock, a wrong
     * PIN counts towards [retro] pin_max_failures and its lockout, a right
     * one clears the failures. An unknown id costs what a wrong PIN costs
     * and gets the same sentence. The outcome is written to the audit log
     * ("manager.signin", or "pin.failure" and "pin.lockout"; `client` says
     * where from, e.g. "web 192.0.2.7", <= TP_STAFF_ID_MAX bytes).
     *   TP_OK                   the PIN is right and the manager not locked
     *   TP_ERR_WRONG_PIN        wrong PIN, or no such manager
     *   TP_ERR_LOCKED_OUT       locked (now, or already: then the PIN was
     *                           not checked)
     *   TP_ERR_INVALID_ARGUMENT the PIN cannot be right (not
     *                           pin_min_digits..TP_PIN_MAX digits): nothing
     *                           is counted
     *   TP_ERR_STATE            the lockout ended or the PIN was reset while
     *                           it was checked: type it again
     *   TP_ERR_STORAGE          the database could not be read or written
     * It proves the PIN once; the host keeps its own session. */
    tp_status (*manager_verify)(const tp_plugin *plugin, const char *id, const char *pin,
                                const char *client, tp_message *msg);
} tp_managers_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_MANAGERS_H */
