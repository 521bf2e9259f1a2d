/*
 * about.c — the about extension (ext/about.h): the plugin's release, set by
 * the build from packaging/deb/changelog, and the SQLite it runs on.
 */
#include "tillpoints/ext/about.h"

#include <sqlite3.h>

#include "instance.h"

#ifndef TP_VERSION
#error "TP_VERSION (the release, from packaging/deb/changelog) is set by the Makefile"
#endif

static const char *about_version(const tp_plugin *plugin)
{
    (void)plugin;
    return TP_VERSION;
}

static const char *about_sqlite_version(const tp_plugin *plugin)
{
    (void)plugin;
    return sqlite3_libversion();
}

const tp_about_ext tp_about_extension = {
    .struct_size = sizeof(tp_about_ext),
    .version = about_version,
    .sqlite_version = about_sqlite_version,
};
