/*
 * module.h — the parts of the plugin that need large libraries live in
 * modules of their own, installed beside tillpoints.so and loaded with
 * dlopen only when the configuration uses them (docs/DESIGN.md §14):
 *
 *   tillpoints-camera.so  zbar, libpng   driver = camera; tillpoints.images/1
 *   tillpoints-wedge.so   libevdev       driver = wedge
 *   tillpoints-sync.so    libpq          [sync] postgres; tillpoints central
 *
 * A store without a camera, a keyboard wedge or a central database never
 * maps those libraries (nor X11, dbus, Kerberos, LDAP or TLS behind them)
 * into the POS process.
 *
 * A module exports one data symbol, tillpoints_module_<name>, a tp_module
 * whose api points at the module's table (tp_camera_api in camera.h,
 * tp_wedge_api in wedge.h, tp_pq_api in pq.h). A module is part of the
 * plugin's own build, not a public ABI: it is accepted only when it was
 * built from the same release with the same interface number.
 *
 * Test and bench programs that link the plugin's objects statically link
 * the modules' objects too; the loader then finds the tables at link time
 * (weak references) and never calls dlopen.
 */
#ifndef TP_MODULE_H
#define TP_MODULE_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever a module table or a type it passes changes. */
#define TP_MODULE_INTERFACE 1

typedef enum tp_module_id {
    TP_MODULE_CAMERA = 0,
    TP_MODULE_WEDGE = 1,
    TP_MODULE_SYNC = 2,
    TP_MODULE_COUNT
} tp_module_id;

typedef struct tp_module {
    uint32_t interface;  /* TP_MODULE_INTERFACE of the module's build */
    const char *version; /* TP_VERSION of the module's build */
    const char *name;    /* "camera", "wedge", "sync" */
    const void *api;     /* the module's table */
} tp_module;

/* Defines the exported entry of a module (in the module's own source). */
#define TP_MODULE_DEFINE(name_, api_)                                                   \
    __attribute__((visibility("default"))) const tp_module tillpoints_module_##name_ = { \
        .interface = TP_MODULE_INTERFACE, .version = TP_VERSION, .name = #name_, .api = (api_)}

/* [thread-safe] The module's table, loading the module on first use. NULL
 * when it is not installed beside the plugin, cannot be loaded (a library
 * it needs is missing) or is from another build; `why` then holds a
 * sentence naming the file and what to install. A loaded module stays
 * loaded until the process ends (RTLD_NODELETE): threads of any instance
 * may be running its code. */
const void *tp_module_api(tp_module_id id, char *why, size_t why_cap);

/* [thread-safe] 1 when the module is loaded in this process (or linked in). */
int tp_module_loaded(tp_module_id id);

/* The file name of a module ("tillpoints-camera.so"). */
const char *tp_module_file(tp_module_id id);

#endif
