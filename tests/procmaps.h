/*
 * procmaps.h — which shared objects this process maps, read from
 * /proc/self/maps, and the library families a till without a camera, a
 * keyboard wedge or a central database must never map (docs/DESIGN.md
 * §14). Shared by tests/test_modules.c and bench/bench_footprint.c, so the
 * test and the bench judge the same list. Header-only (static inline).
 */
#ifndef TP_PROCMAPS_H
#define TP_PROCMAPS_H

#include <stdio.h>
#include <string.h>

/* Matched as the start of a mapped file's base name. */
static const char *const tp_heavy_libs[] = {
    "libX11", "libxcb", "libdbus", "libkrb5", "libgssapi", "libk5crypto", "libldap",
    "liblber", "libssl", "libcrypto", "libgnutls", "libpq", "libzbar", "libv4l", "libjpeg",
    "libevdev", "tillpoints-camera.so", "tillpoints-wedge.so", "tillpoints-sync.so",
};
#define TP_N_HEAVY_LIBS (sizeof tp_heavy_libs / sizeof tp_heavy_libs[0])

#define TP_MAPPED_MAX 256
typedef struct tp_mapped {
    int n;
    char name[TP_MAPPED_MAX][128]; /* base names, each once */
} tp_mapped;

/* The shared objects mapped into this process now: 0, or -1 when
 * /proc/self/maps cannot be read. */
static inline int tp_read_maps(tp_mapped *m)
{
    m->n = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *path = strchr(line, '/');
        if (!path || !strstr(path, ".so"))
            continue;
        const char *base = strrchr(path, '/') + 1;
        int seen = 0;
        for (int i = 0; i < m->n && !seen; i++)
            seen = strcmp(m->name[i], base) == 0;
        if (!seen && m->n < TP_MAPPED_MAX)
            snprintf(m->name[m->n++], sizeof m->name[0], "%s", base);
    }
    fclose(f);
    return 0;
}

/* The mapped file whose name starts with `prefix`, or NULL. */
static inline const char *tp_find_mapped(const tp_mapped *m, const char *prefix)
{
    for (int i = 0; i < m->n; i++)
        if (strncmp(m->name[i], prefix, strlen(prefix)) == 0)
            return m->name[i];
    return NULL;
}

/* Non-zero when `name` belongs to one of the heavy families. */
static inline int tp_is_heavy(const char *name)
{
    for (size_t i = 0; i < TP_N_HEAVY_LIBS; i++)
        if (strncmp(name, tp_heavy_libs[i], strlen(tp_heavy_libs[i])) == 0)
            return 1;
    return 0;
}

#endif
