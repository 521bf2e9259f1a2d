/*
 * module.c — finds, loads and checks the plugin's modules (module.h,
 * docs/DESIGN.md §14).
 *
 * Where: beside the plugin itself. At load time a constructor records the
 * directory of the object this code is in (dladdr, then realpath, so a
 * host that loaded the plugin by a relative path and later changed
 * directory still finds them). Installed, that is $(LIBDIR)/tillpoints/;
 * in a build tree, build/.
 *
 * How: dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE). NOW, so a module whose
 * library is missing or too old is refused at once with the loader's own
 * words instead of failing later inside a call; LOCAL, so its libraries'
 * symbols are not offered to the host or to other modules; NODELETE,
 * because sync and scanner threads of any instance may be in its code and
 * libpq and zbar keep process-wide state that must not be unmapped.
 *
 * A failed load is not remembered: the next call tries again, so a module
 * installed while the till runs is picked up by the scanner's next retry
 * or the next picture handed over.
 */
#define _GNU_SOURCE /* dladdr, Dl_info */
#include "module.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pq.h"
#include "util.h"

/* Linked in only by programs that link the modules' objects statically
 * (tests, benches, fuzzers); NULL in the shipped plugin. */
extern const tp_module tillpoints_module_camera __attribute__((weak));
extern const tp_module tillpoints_module_wedge __attribute__((weak));
extern const tp_module tillpoints_module_sync __attribute__((weak));

typedef struct module_def {
    const char *name;     /* "camera" */
    const char *file;     /* "tillpoints-camera.so" */
    const char *symbol;   /* "tillpoints_module_camera" */
    const char *what;     /* its name in a sentence */
    const char *packages; /* the Debian packages of the libraries it needs */
} module_def;

static const module_def defs[TP_MODULE_COUNT] = {
    [TP_MODULE_CAMERA] = {"camera", "tillpoints-camera.so", "tillpoints_module_camera",
                          "the camera module",
                          "libzbar0 libpng16-16"},
    [TP_MODULE_WEDGE] = {"wedge", "tillpoints-wedge.so", "tillpoints_module_wedge",
                         "the keyboard-wedge module", "libevdev2"},
    [TP_MODULE_SYNC] = {"sync", "tillpoints-sync.so", "tillpoints_module_sync",
                        "the central sync module", "libpq5"},
};

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(const tp_module *) loaded[TP_MODULE_COUNT];
static char plugin_dir[PATH_MAX];

static const tp_module *linked_in(tp_module_id id)
{
    switch (id) {
    case TP_MODULE_CAMERA:
        return &tillpoints_module_camera;
    case TP_MODULE_WEDGE:
        return &tillpoints_module_wedge;
    case TP_MODULE_SYNC:
        return &tillpoints_module_sync;
    default:
        return NULL;
    }
}

/* Runs when the plugin is loaded, in the host's directory of the moment. */
__attribute__((constructor)) static void find_plugin_dir(void)
{
    Dl_info info;
    if (dladdr((void *)find_plugin_dir, &info) == 0 || info.dli_fname == NULL)
        return;
    char real[PATH_MAX];
    const char *path = realpath(info.dli_fname, real) ? real : info.dli_fname;
    const char *slash = strrchr(path, '/');
    if (!slash) {
        tp_copy(plugin_dir, sizeof plugin_dir, ".");
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1; /* "/tillpoints.so" */
    if (n >= sizeof plugin_dir)
        return;
    memcpy(plugin_dir, path, n);
    plugin_dir[n] = '\0';
}

const char *tp_module_file(tp_module_id id)
{
    return (unsigned)id < TP_MODULE_COUNT ? defs[id].file : "";
}

int tp_module_loaded(tp_module_id id)
{
    return (unsigned)id < TP_MODULE_COUNT && atomic_load(&loaded[id]) != NULL;
}

static const tp_module *checked(const module_def *d, const tp_module *m, const char *path,
                                char *why, size_t cap)
{
    if (!m) {
        tp_buf_set(why, cap, "%s is not a tillpoints module (it has no %s): reinstall tillpoints.",
                   path, d->symbol);
        return NULL;
    }
    if (m->interface != TP_MODULE_INTERFACE || m->version == NULL ||
        strcmp(m->version, TP_VERSION) != 0 || m->name == NULL || strcmp(m->name, d->name) != 0 ||
        m->api == NULL) {
        tp_buf_set(why, cap,
                   "%s is from tillpoints %s (module interface %u) and the plugin from %s "
                   "(interface %d): install the same release of both.",
                   path, m->version ? m->version : "(unknown)", (unsigned)m->interface, TP_VERSION,
                   TP_MODULE_INTERFACE);
        return NULL;
    }
    return m;
}

static const tp_module *load(const module_def *d, char *why, size_t cap)
{
    if (plugin_dir[0] == '\0') {
        tp_buf_set(why, cap, "Cannot load %s: the plugin cannot tell which directory it was "
                   "loaded from. Load tillpoints.so by its full path.", d->what);
        return NULL;
    }
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", plugin_dir, d->file);
    if (n < 0 || (size_t)n >= sizeof path) {
        tp_buf_set(why, cap, "Cannot load %s: the plugin's directory name is too long.", d->what);
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        tp_buf_set(why, cap,
                   "%s is not installed: %s is missing; install it with the plugin (make "
                   "install, or the tillpoints package).",
                   d->what, path);
        return NULL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char *e = dlerror();
        /* The remedy first: the loader's words (with paths) may be cut. */
        tp_buf_set(why, cap, "%s cannot be loaded: install %s (apt-get install). The loader "
                   "said: %s", d->what, d->packages, e ? e : "unknown error");
        return NULL;
    }
    const tp_module *m = checked(d, (const tp_module *)dlsym(h, d->symbol), path, why, cap);
    /* With RTLD_NODELETE the module stays mapped either way; dlclose only
     * drops this reference. */
    if (!m)
        dlclose(h);
    return m;
}

const void *tp_module_api(tp_module_id id, char *why, size_t why_cap)
{
    if (why_cap)
        why[0] = '\0';
    if ((unsigned)id >= TP_MODULE_COUNT) {
        tp_buf_set(why, why_cap, "There is no plugin module number %d.", (int)id);
        return NULL;
    }
    const tp_module *m = atomic_load(&loaded[id]);
    if (m)
        return m->api;
    pthread_mutex_lock(&load_lock);
    m = atomic_load(&loaded[id]);
    if (!m) {
        const tp_module *in = linked_in(id);
        m = in ? checked(&defs[id], in, "(linked in)", why, why_cap) : load(&defs[id], why, why_cap);
        if (m)
            atomic_store(&loaded[id], m);
    }
    pthread_mutex_unlock(&load_lock);
    return m ? m->api : NULL;
}

const tp_pq_api *tp_pq(char *why, size_t why_cap)
{
    return tp_module_api(TP_MODULE_SYNC, why, why_cap);
}
