/*
 * hostconf.c — the scanners a configuration names, for back-office hosts
 * (hostconf.h).
 */
#include "hostconf.h"

#include <ini.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct scan_ctx {
    tp_hostconf_scanner *out;
    int cap, n;
} scan_ctx;

/* inih's handler: a [scanner "NAME"] section's name, driver and port or
 * device. */
static int on_key(void *user, const char *section, const char *key, const char *value)
{
    scan_ctx *cs = user;
    char name[TP_SCANNER_NAME_MAX + 1];
    if (!cs->out || !section || !key || !value)
        return 0;
    if (sscanf(section, "scanner \"%32[^\"]\"", name) != 1)
        return 1;
    tp_hostconf_scanner *cur = cs->n ? &cs->out[cs->n - 1] : NULL;
    if (!cur || strcmp(cur->name, name) != 0) {
        if (cs->n == cs->cap)
            return 1;
        cur = &cs->out[cs->n++];
        memset(cur, 0, sizeof *cur);
        snprintf(cur->name, sizeof cur->name, "%s", name);
    }
    if (strcasecmp(key, "driver") == 0)
        snprintf(cur->driver, sizeof cur->driver, "%s", value);
    else if (strcasecmp(key, "port") == 0 || strcasecmp(key, "device") == 0)
        snprintf(cur->device, sizeof cur->device, "%s", value);
    return 1;
}

int tp_hostconf_scanners(const char *path, tp_hostconf_scanner *out, int cap)
{
    scan_ctx cs = {out, cap, 0};
    return ini_parse(path, on_key, &cs) == -1 ? -1 : cs.n;
}
