/*
 * scanners.c — the scanner thread (see scanners.h and drivers/driver.h).
 *
 * One thread polls every device's fd plus a wake-up pipe; drivers do their
 * reading and framing inside on_ready()/tick() and report through the sink
 * below, which turns scans into host events: a member code becomes SCANNED
 * (the host hands it to checkout.scan for the open sale), anything else
 * SCAN_REJECTED with the payload parser's sentence. The same code read
 * twice within the dedup window counts once. A device that is missing or
 * goes away is reported offline once and reopened with capped exponential
 * backoff; when it returns it is reported online again. A device the driver
 * refuses at open (not a tty, permission denied) is reported in error once,
 * with the driver's sentence, and retried on the same backoff: fixing the
 * permissions or the device brings it online without a restart.
 *
 * Backoff starts at BACKOFF_MIN_MS and doubles up to the scanner's
 * reconnect_max_ms (default RECONNECT_MAX_DEFAULT_MS): a scanner replugged
 * after a long absence is back within that bound. The key belongs to the
 * scanner thread, not the driver, so it is taken here before the driver
 * sees the section's keys.
 *
 * Error events are limited to one per device per ERROR_EVENT_GAP_MS: line
 * noise can discard thousands of frames a second, and a host's event queue
 * is no place for them. The discarded-frame count (tp_scanner_info.errors)
 * still counts every one; the next event, or a summary at the end of the
 * gap, says how many were not reported one by one.
 *
 * Time: drivers work in CLOCK_MONOTONIC ms (driver.h); events carry UTC.
 */
#include "scanners.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "dedup.h"
#include "driver.h"
#include "instance.h"
#include "payload.h"
#include "camera.h"
#include "module.h"
#include "serial.h"
#include "wedge.h"
#include "util.h"

#define BACKOFF_MIN_MS 500
#define RECONNECT_MAX_DEFAULT_MS 2000
#define RECONNECT_MAX_LO_MS 100     /* reconnect_max_ms bounds */
#define RECONNECT_MAX_HI_MS 300000
#define ERROR_EVENT_GAP_MS 1000

typedef struct device {
    struct tp_scanners *owner;
    const tp_scanner_config *cfg; /* the instance's, read-only after init */
    const tp_driver_ops *ops;     /* NULL while the driver's module is missing */
    tp_driver *drv;
    tp_driver_sink sink;
    int open;
    int64_t next_open_ms;      /* monotonic */
    int64_t backoff_ms;
    int64_t backoff_max_ms;    /* reconnect_max_ms */
    int was_online;
    /* Error-event rate limit (scanner thread only). */
    int64_t last_error_event_ms; /* monotonic; 0 = none yet */
    uint64_t errors_unreported;  /* discarded since the last error event */
    char last_error_text[TP_MESSAGE_MAX];
    tp_dedup dedup;
    tp_scanner_info info;      /* guarded by owner->lock */
} device;

/* A member code a scanner read from a verified app pass, until when. */
typedef struct voucher {
    char code[TP_MEMBER_CODE_MAX + 1];
    int64_t until_ms; /* UTC; 0 = unused */
} voucher;

#define VOUCHERS 8

struct tp_scanners {
    tp_instance *in;
    int n;
    device dev[TP_SCANNERS_MAX];
    voucher vouchers[VOUCHERS]; /* guarded by lock; oldest overwritten */
    int next_voucher;
    pthread_mutex_t lock;
    pthread_t thread;
    int started;
    int wake[2];
    atomic_int stop;
};

/* `scan` (NULL for device events) gives the event its symbology. */
static void post(device *d, tp_event_kind kind, tp_status status, const char *code,
                 const tp_scan_data *scan, const char *text)
{
    tp_outcome o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.status = status;
    o.time_ms = tp_now_ms();
    tp_copy(o.device, sizeof o.device, d->info.name);
    if (code)
        tp_copy(o.member_code, sizeof o.member_code, code);
    if (scan)
        tp_copy(o.symbology, sizeof o.symbology,
                tp_symbology_event_name(scan->symbology, scan->aim_id));
    tp_copy(o.message, sizeof o.message, text);
    tp_instance_post(d->owner->in, &o);
}

static int64_t first_backoff(const device *d)
{
    return d->backoff_max_ms < BACKOFF_MIN_MS ? d->backoff_max_ms : BACKOFF_MIN_MS;
}

/* State changes are reported once, whoever notices them first (the driver
 * through on_status, or this thread after open/on_ready). */
static void set_state(device *d, tp_scanner_state st, const char *sentence)
{
    pthread_mutex_lock(&d->owner->lock);
    tp_scanner_state before = d->info.state;
    d->info.state = st;
    if (st == TP_SCANNER_ERROR || st == TP_SCANNER_OFFLINE)
        tp_copy(d->info.last_error, sizeof d->info.last_error, sentence);
    if (st == TP_SCANNER_ONLINE && d->was_online && before != TP_SCANNER_ONLINE)
        d->info.reconnects++;
    pthread_mutex_unlock(&d->owner->lock);
    if (before == st)
        return;
    if (st == TP_SCANNER_ONLINE) {
        d->was_online = 1;
        d->backoff_ms = first_backoff(d);
        /* A fresh session: a rescan right after a replug counts. */
        if (tp_dedup_init(&d->dedup, d->owner->in->cfg.scan_dedup_ms) != TP_OK)
            d->dedup.window_ms = 0; /* cannot happen: the window was accepted at start */
        post(d, TP_EVENT_SCANNER_ONLINE, TP_OK, NULL, NULL, sentence);
    } else if (st == TP_SCANNER_OFFLINE) {
        post(d, TP_EVENT_SCANNER_OFFLINE, TP_ERR_NOT_FOUND, NULL, NULL, sentence);
    } else if (st == TP_SCANNER_ERROR) {
        post(d, TP_EVENT_SCANNER_ERROR, TP_ERR_CONFIG, NULL, NULL, sentence);
    }
}

/* One INFO line per counted scan, naming what the scanner said the
 * symbology was (packaging/tillpoints.conf promises it for aim = yes).
 * The member code itself stays out of the log; the event carries it. */
static void log_scan(device *d, const tp_scan_data *scan, const char *what)
{
    const char *sym = tp_symbology_event_name(scan->symbology, scan->aim_id);
    if (!*sym && !scan->aim_id[0]) {
        tp_instance_log(d->owner->in, TP_LOG_INFO, "scanner %s read %s (symbology not reported)",
                        d->info.name, what);
        return;
    }
    tp_instance_log(d->owner->in, TP_LOG_INFO, "scanner %s read %s (symbology %s%s%s)",
                    d->info.name, what, *sym ? sym : "not named",
                    scan->aim_id[0] ? ", AIM id " : "", scan->aim_id);
}

static void on_data(void *user, const tp_scan_data *scan)
{
    device *d = user;
    tp_instance *in = d->owner->in;
    if (tp_dedup_seen(&d->dedup, scan->data, scan->len, scan->time_ms))
        return;
    tp_payload pl;
    char why[TP_MESSAGE_MAX];
    tp_status st = tp_payload_parse(&in->cfg.scan, scan->data, scan->len, tp_now_ms(), &pl, why,
                                    sizeof why);
    if (st == TP_OK && pl.kind == TP_PAYLOAD_MEMBER)
        st = tp_payload_signed_policy(&in->cfg.scan, pl.is_signed, NULL, why, sizeof why);
    if (st == TP_OK && pl.kind == TP_PAYLOAD_MEMBER) {
        int64_t now = tp_now_ms();
        pthread_mutex_lock(&d->owner->lock);
        d->info.scans++;
        d->info.last_scan_ms = now;
        if (pl.is_signed) {
            voucher *v = &d->owner->vouchers[d->owner->next_voucher];
            d->owner->next_voucher = (d->owner->next_voucher + 1) % VOUCHERS;
            tp_copy(v->code, sizeof v->code, pl.member_code);
            v->until_ms = now + TP_SCANNERS_VOUCH_MS < pl.expiry_ms ? now + TP_SCANNERS_VOUCH_MS
                                                                    : pl.expiry_ms;
        }
        pthread_mutex_unlock(&d->owner->lock);
        char text[TP_MESSAGE_MAX];
        tp_buf_set(text, sizeof text, "Scanner %s read member code %s.", d->info.name,
                   pl.member_code);
        log_scan(d, scan, "a member code");
        post(d, TP_EVENT_SCANNED, TP_OK, pl.member_code, scan, text);
        return;
    }
    if (st == TP_OK) /* a receipt code: the retro dialog's business */
        tp_copy(why, sizeof why, TP_PAYLOAD_NOT_A_MEMBER);
    pthread_mutex_lock(&d->owner->lock);
    d->info.rejected++;
    pthread_mutex_unlock(&d->owner->lock);
    log_scan(d, scan, "a code that is no member code");
    post(d, TP_EVENT_SCAN_REJECTED, st == TP_OK ? TP_ERR_INVALID_ARGUMENT : st, NULL, scan, why);
}

/* The error event for `sentence`, naming how many discarded frames went
 * unreported since the last one. The count comes first: a driver's
 * sentence may fill TP_MESSAGE_MAX on its own. */
static void post_error(device *d, const char *sentence, int64_t now)
{
    char text[TP_MESSAGE_MAX];
    if (d->errors_unreported)
        tp_buf_set(text, sizeof text, "Scanner %s: %llu more discarded frames in the last "
                   "second were not reported one by one; the latest: %s", d->info.name,
                   (unsigned long long)d->errors_unreported, sentence);
    else
        tp_copy(text, sizeof text, sentence);
    d->errors_unreported = 0;
    d->last_error_event_ms = now;
    post(d, TP_EVENT_SCANNER_ERROR, TP_ERR_INVALID_ARGUMENT, NULL, NULL, text);
}

static void on_error(void *user, const char *sentence)
{
    device *d = user;
    pthread_mutex_lock(&d->owner->lock);
    d->info.errors++;
    tp_copy(d->info.last_error, sizeof d->info.last_error, sentence);
    pthread_mutex_unlock(&d->owner->lock);
    int64_t now = tp_mono_ms();
    if (d->last_error_event_ms && now - d->last_error_event_ms < ERROR_EVENT_GAP_MS) {
        d->errors_unreported++;
        tp_copy(d->last_error_text, sizeof d->last_error_text, sentence);
        return;
    }
    post_error(d, sentence, now);
}

/* When errors went unreported, the summary is due at the end of the gap. */
static int64_t error_summary_due(const device *d)
{
    return d->errors_unreported ? d->last_error_event_ms + ERROR_EVENT_GAP_MS : -1;
}

static void flush_errors(device *d, int64_t now)
{
    int64_t due = error_summary_due(d);
    if (due < 0 || now < due)
        return;
    char text[TP_MESSAGE_MAX];
    uint64_t n = d->errors_unreported;
    tp_buf_set(text, sizeof text, "Scanner %s discarded %llu more frame%s in the last second; "
               "the last: %s", d->info.name, (unsigned long long)n, n == 1 ? "" : "s",
               d->last_error_text);
    d->errors_unreported = 0;
    d->last_error_event_ms = now;
    post(d, TP_EVENT_SCANNER_ERROR, TP_ERR_INVALID_ARGUMENT, NULL, NULL, text);
}

static void on_status(void *user, tp_device_state state, const char *sentence)
{
    device *d = user;
    if (state == TP_DEVICE_ONLINE)
        set_state(d, TP_SCANNER_ONLINE, sentence);
    else if (state == TP_DEVICE_OFFLINE)
        set_state(d, TP_SCANNER_OFFLINE, sentence);
    else if (state == TP_DEVICE_ERROR)
        set_state(d, TP_SCANNER_ERROR, sentence);
}

static void close_device(device *d, int64_t now, int64_t retry_ms)
{
    if (d->open)
        d->ops->close(d->drv);
    d->open = 0;
    d->next_open_ms = now + retry_ms;
}

/* Closed until the backoff has passed; the next wait is twice as long, up
 * to reconnect_max_ms. */
static void retry_later(device *d, int64_t now)
{
    close_device(d, now, d->backoff_ms);
    d->backoff_ms = d->backoff_ms * 2 > d->backoff_max_ms ? d->backoff_max_ms : d->backoff_ms * 2;
}

static tp_status attach_driver(device *d, tp_message *msg);

static void try_open(device *d, int64_t now)
{
    char why[TP_MESSAGE_MAX] = "";
    if (!d->ops) { /* its module was missing: installed since? */
        tp_message m = {0};
        if (attach_driver(d, &m) != TP_OK) {
            pthread_mutex_lock(&d->owner->lock);
            d->info.errors++;
            pthread_mutex_unlock(&d->owner->lock);
            set_state(d, TP_SCANNER_ERROR, m.text);
            retry_later(d, now);
            return;
        }
    }
    tp_status st = d->ops->open(d->drv, now, why, sizeof why);
    if (st != TP_OK) {
        pthread_mutex_lock(&d->owner->lock);
        d->info.errors++;
        pthread_mutex_unlock(&d->owner->lock);
    }
    if (st == TP_OK) {
        d->open = 1;
        char text[TP_MESSAGE_MAX];
        tp_buf_set(text, sizeof text, "Scanner %s is online.", d->info.name);
        set_state(d, TP_SCANNER_ONLINE, text);
        return;
    }
    /* Not plugged in (yet) or held by another program: offline. Refused
     * (not a tty, no permission): error, with the driver's sentence. Both
     * are retried: a person fixing the cause should not have to restart
     * the till. */
    if (st == TP_ERR_NOT_FOUND || st == TP_ERR_BUSY)
        set_state(d, TP_SCANNER_OFFLINE, why);
    else
        set_state(d, TP_SCANNER_ERROR, why);
    retry_later(d, now);
}

static void *scanner_main(void *arg)
{
    tp_scanners *s = arg;
    struct pollfd fds[TP_SCANNERS_MAX + 1];
    int owner[TP_SCANNERS_MAX + 1];
    while (!atomic_load(&s->stop)) {
        int64_t now = tp_mono_ms();
        int64_t next = now + 1000;
        int n = 0;
        fds[n] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        owner[n++] = -1;
        for (int i = 0; i < s->n; i++) {
            device *d = &s->dev[i];
            if (!d->open && now >= d->next_open_ms)
                try_open(d, now);
            if (!d->open) {
                if (d->next_open_ms < next)
                    next = d->next_open_ms;
                continue;
            }
            short events = POLLIN;
            int fd = d->ops->fd(d->drv, &events);
            if (fd >= 0) {
                fds[n] = (struct pollfd){.fd = fd, .events = events};
                owner[n++] = i;
            }
            int64_t dl = d->ops->deadline(d->drv);
            if (dl >= 0 && dl < next)
                next = dl;
            dl = error_summary_due(d);
            if (dl >= 0 && dl < next)
                next = dl;
        }
        int timeout = next > now ? (int)(next - now) : 0;
        if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR) {
            /* Cannot happen with valid fds; say so rather than go quiet. */
            for (int i = 0; i < s->n; i++)
                set_state(&s->dev[i], TP_SCANNER_ERROR,
                          "The scanner thread stopped: poll() failed; restart loyalty.");
            break;
        }
        if (fds[0].revents) {
            char buf[64];
            while (read(s->wake[0], buf, sizeof buf) > 0)
                ;
        }
        now = tp_mono_ms();
        for (int k = 1; k < n; k++) {
            device *d = &s->dev[owner[k]];
            if (!fds[k].revents || !d->open)
                continue;
            if (d->ops->on_ready(d->drv, fds[k].revents, now) == TP_ERR_NOT_FOUND) {
                char text[TP_MESSAGE_MAX];
                tp_buf_set(text, sizeof text, "Scanner %s went away; it is reopened when it "
                           "comes back.", d->info.name);
                set_state(d, TP_SCANNER_OFFLINE, text);
                close_device(d, now, first_backoff(d));
            }
        }
        for (int i = 0; i < s->n; i++) {
            device *d = &s->dev[i];
            flush_errors(d, now);
            if (!d->open)
                continue;
            int64_t dl = d->ops->deadline(d->drv);
            if (dl >= 0 && dl <= now)
                d->ops->tick(d->drv, now);
            /* A driver may notice a lost device in tick() (modem lines do
             * not wake poll); it said so through on_status. */
            pthread_mutex_lock(&s->lock);
            int gone = d->info.state != TP_SCANNER_ONLINE;
            pthread_mutex_unlock(&s->lock);
            if (gone)
                close_device(d, now, first_backoff(d));
        }
    }
    return NULL;
}

/* [scanner "name"] reconnect_max_ms: the longest wait between two attempts
 * to reopen a scanner that is missing or refused. */
static tp_status reconnect_max(device *d, const char *value, tp_message *msg)
{
    char *end = NULL;
    errno = 0;
    long long v = (value[0] >= '0' && value[0] <= '9') ? strtoll(value, &end, 10) : -1;
    if (v < RECONNECT_MAX_LO_MS || v > RECONNECT_MAX_HI_MS || errno || !end || *end) {
        tp_msg_set(msg, "Scanner %s: reconnect_max_ms must be a whole number of milliseconds "
                   "from %d to %d (the default is %d); got '%.40s'.", d->info.name,
                   RECONNECT_MAX_LO_MS, RECONNECT_MAX_HI_MS, RECONNECT_MAX_DEFAULT_MS, value);
        return TP_ERR_CONFIG;
    }
    d->backoff_max_ms = v;
    d->backoff_ms = first_backoff(d);
    return TP_OK;
}

/* The driver called `name`: serial is part of the plugin; camera and wedge
 * are in modules (plugin/module.h), loaded here. NULL with a sentence in
 * `why` when the module cannot be loaded; *known is 0 for a name that is
 * no driver at all. */
static const tp_driver_ops *driver_named(const char *name, int *known, char *why, size_t cap)
{
    *known = 1;
    if (strcmp(name, "serial") == 0)
        return &tp_serial_driver;
    if (strcmp(name, "camera") == 0) {
        const tp_camera_api *cam = tp_module_api(TP_MODULE_CAMERA, why, cap);
        return cam ? cam->driver : NULL;
    }
    if (strcmp(name, "wedge") == 0) {
        const tp_wedge_api *wedge = tp_module_api(TP_MODULE_WEDGE, why, cap);
        return wedge ? wedge->driver : NULL;
    }
    *known = 0;
    return NULL;
}

/* Creates the device's driver and gives it the section's keys: at start,
 * and again on each retry of a scanner whose module was missing at start,
 * so a module installed while the till runs is picked up without a
 * restart. TP_ERR_NOT_FOUND while the module is still missing; on any
 * failure the device is left without a driver and msg says why. */
static tp_status attach_driver(device *d, tp_message *msg)
{
    const tp_scanner_config *sc = d->cfg;
    char why[TP_MESSAGE_MAX] = "";
    int known;
    const tp_driver_ops *ops = driver_named(sc->driver, &known, why, sizeof why);
    if (!known) {
        tp_msg_set(msg, "Scanner %s: there is no driver called %s (known: serial, wedge, camera).",
                   sc->name, sc->driver);
        return TP_ERR_CONFIG;
    }
    if (!ops) {
        tp_msg_set(msg, "Scanner %s cannot start: %s", sc->name, why);
        return TP_ERR_NOT_FOUND;
    }
    tp_driver *drv = ops->create(&d->sink);
    if (!drv) {
        tp_msg_set(msg, "Out of memory creating scanner %s.", sc->name);
        return TP_ERR_NO_MEMORY;
    }
    tp_status st = TP_OK;
    for (int k = 0; k < sc->n_keys && st == TP_OK; k++) {
        if (strcmp(sc->key[k], "reconnect_max_ms") == 0)
            continue; /* the scanner thread's own, set by tp_scanners_start */
        tp_status r = ops->configure(drv, sc->key[k], sc->value[k], why, sizeof why);
        if (r == TP_ERR_NOT_FOUND) {
            tp_msg_set(msg, "Scanner %s: %s is not a setting of the %s driver.", sc->name,
                       sc->key[k], sc->driver);
            st = TP_ERR_CONFIG;
        } else if (r != TP_OK) {
            tp_msg_set(msg, "Scanner %s: %s", sc->name, why);
            st = TP_ERR_CONFIG;
        }
    }
    if (st == TP_OK && ops->check(drv, why, sizeof why) != TP_OK) {
        tp_msg_set(msg, "Scanner %s: %s", sc->name, why);
        st = TP_ERR_CONFIG;
    }
    if (st != TP_OK) {
        ops->destroy(drv);
        return st;
    }
    d->ops = ops;
    d->drv = drv;
    return TP_OK;
}

tp_status tp_scanners_start(tp_instance *in, tp_scanners **out, tp_message *msg)
{
    *out = NULL;
    if (in->cfg.n_scanners == 0)
        return TP_OK;
    tp_scanners *s = calloc(1, sizeof *s);
    if (!s) {
        tp_msg_set(msg, "Out of memory starting the scanners.");
        return TP_ERR_NO_MEMORY;
    }
    s->in = in;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->stop, 0);
    tp_status st = TP_OK;
    for (int i = 0; i < in->cfg.n_scanners && st == TP_OK; i++) {
        const tp_scanner_config *sc = &in->cfg.scanners[i];
        device *d = &s->dev[s->n];
        d->owner = s;
        d->cfg = sc;
        tp_copy(d->info.name, sizeof d->info.name, sc->name);
        tp_copy(d->info.driver, sizeof d->info.driver, sc->driver);
        d->backoff_max_ms = RECONNECT_MAX_DEFAULT_MS;
        d->backoff_ms = first_backoff(d);
        if (tp_dedup_init(&d->dedup, in->cfg.scan_dedup_ms) != TP_OK) {
            tp_msg_set(msg, "Scanner %s: the repeat window of %lld ms is out of range.",
                       sc->name, (long long)in->cfg.scan_dedup_ms);
            st = TP_ERR_CONFIG;
            break;
        }
        d->sink = (tp_driver_sink){.user = d, .on_data = on_data, .on_error = on_error,
                                   .on_status = on_status};
        for (int k = 0; k < sc->n_keys && st == TP_OK; k++) {
            if (strcmp(sc->key[k], "reconnect_max_ms") == 0)
                st = reconnect_max(d, sc->value[k], msg);
            if (strcmp(sc->key[k], "port") == 0 || strcmp(sc->key[k], "device") == 0)
                tp_copy(d->info.device, sizeof d->info.device, sc->value[k]);
        }
        if (st != TP_OK)
            break;
        /* A missing module is not a config error: the scanner thread
         * reports it as the scanner's error and retries (try_open);
         * checkout and the other scanners work meanwhile. */
        tp_status a = attach_driver(d, msg);
        if (a != TP_OK && a != TP_ERR_NOT_FOUND) {
            st = a;
            break;
        }
        if (a == TP_ERR_NOT_FOUND)
            tp_msg_clear(msg);
        s->n++;
    }
    if (st == TP_OK && (pipe(s->wake) != 0 || fcntl(s->wake[0], F_SETFL, O_NONBLOCK) != 0 ||
                        fcntl(s->wake[1], F_SETFL, O_NONBLOCK) != 0 ||
                        fcntl(s->wake[0], F_SETFD, FD_CLOEXEC) != 0 ||
                        fcntl(s->wake[1], F_SETFD, FD_CLOEXEC) != 0)) {
        tp_msg_set(msg, "Cannot start the scanner thread: %s.", strerror(errno));
        st = TP_ERR_INTERNAL;
    }
    if (st == TP_OK && pthread_create(&s->thread, NULL, scanner_main, s) != 0) {
        tp_msg_set(msg, "Cannot start the scanner thread.");
        st = TP_ERR_INTERNAL;
    }
    if (st != TP_OK) {
        tp_scanners_stop(s);
        return st;
    }
    s->started = 1;
    *out = s;
    return TP_OK;
}

void tp_scanners_stop(tp_scanners *s)
{
    if (!s)
        return;
    if (s->started) {
        atomic_store(&s->stop, 1);
        char b = 1;
        ssize_t r = write(s->wake[1], &b, 1);
        (void)r;
        pthread_join(s->thread, NULL);
    }
    for (int i = 0; i < s->n; i++) {
        if (!s->dev[i].ops)
            continue;
        if (s->dev[i].open)
            s->dev[i].ops->close(s->dev[i].drv);
        s->dev[i].ops->destroy(s->dev[i].drv);
    }
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int tp_scanners_vouched(tp_scanners *s, const char *code)
{
    if (!s || !code || !*code)
        return 0;
    int64_t now = tp_now_ms();
    int found = 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < VOUCHERS && !found; i++) {
        voucher *v = &s->vouchers[i];
        if (v->until_ms && now <= v->until_ms && strcmp(v->code, code) == 0) {
            found = 1;
            memset(v, 0, sizeof *v); /* one pass, one sale */
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

static tp_status list(const tp_plugin *plugin, tp_scanner_info *out, size_t cap, size_t stride,
                      size_t *count, tp_message *msg)
{
    tp_msg_clear(msg);
    tp_instance *in = tp_instance_of(plugin);
    if (!in || !count || (cap && !out)) {
        tp_msg_set(msg, "A plugin instance and a place for the answer are needed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st;
    if (cap && (st = tp_abi_check_stride(stride, TP_MIN_SCANNER_INFO, "tp_scanner_info", msg)) !=
                   TP_OK)
        return st;
    tp_scanners *s = in->scanners;
    *count = s ? (size_t)s->n : 0;
    if (!s && in->back_office && in->cfg.n_scanners > 0)
        tp_msg_set(msg, "This back-office program opens none of the %d configured scanners: "
                   "the till's process owns them.", in->cfg.n_scanners);
    if (!s)
        return TP_OK;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n && (size_t)i < cap; i++)
        tp_abi_put(out, stride, (size_t)i, &s->dev[i].info, sizeof s->dev[i].info, 0);
    pthread_mutex_unlock(&s->lock);
    return TP_OK;
}

const tp_scanners_ext tp_scanners_extension = {.struct_size = sizeof(tp_scanners_ext),
                                                 .list = list};
