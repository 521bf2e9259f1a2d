/*
 * hostconf.h — what a back-office host reads of the store's configuration
 * itself: the scanners it names. The plugin reads and checks the whole
 * file; a host that does not start the scanners (the CLI, tillpoints-web:
 * docs/DESIGN.md §15) still shows which ones the till owns.
 */
#ifndef TP_HOSTCONF_H
#define TP_HOSTCONF_H

#include "tillpoints/limits.h"

/* The plugin takes at most this many [scanner] sections. */
#define TP_HOSTCONF_SCANNERS_MAX 8

typedef struct tp_hostconf_scanner {
    char name[TP_SCANNER_NAME_MAX + 1];
    char driver[TP_DRIVER_NAME_MAX + 1];
    char device[TP_DEVICE_MAX + 1]; /* port or device, as written */
} tp_hostconf_scanner;

/* The [scanner "NAME"] sections of the file at `path`, read with inih as
 * the plugin reads it, as written (the plugin checks them when the till
 * starts them). Returns how many, at most `cap`; -1 when the file cannot
 * be read (errno says why). */
int tp_hostconf_scanners(const char *path, tp_hostconf_scanner *out, int cap);

#endif
