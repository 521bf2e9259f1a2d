/*
 * about.h — what the loaded plugin is: its release and the SQLite library
 * it runs on, for a host's `--version`, its logs and support reports.
 *
 * Works on an instance that was created but not initialised: a host can ask
 * without reading a config or opening a database.
 */
#ifndef TILLPOINTS_EXT_ABOUT_H
#define TILLPOINTS_EXT_ABOUT_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_ABOUT "tillpoints.about/2"

typedef struct tp_about_ext {
    uint32_t struct_size; /* sizeof(tp_about_ext) in the plugin's build */

    /* [thread-safe] The plugin's release, e.g. "0.1.0" (<= 32 bytes).
     * Static storage: valid while the plugin is loaded. */
    const char *(*version)(const tp_plugin *plugin);

    /* [thread-safe] The version of the SQLite library the plugin runs on,
     * as that library reports it at run time, e.g. "3.40.1" (<= 32 bytes).
     * Static storage: valid while the plugin is loaded. */
    const char *(*sqlite_version)(const tp_plugin *plugin);
} tp_about_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_ABOUT_H */
