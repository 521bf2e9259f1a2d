/*
 * bench_serial.c — scan-to-event latency of the serial scanner driver
 * (docs/DESIGN.md §10): the time from the moment a scan's bytes are handed to the
 * "cable" to the moment the driver's sink receives on_data for it.
 *
 * Setup is the one of tests/test_serial.c, shared in tests/pty_harness.c:
 * as root, the program re-executes itself in a private mount namespace
 * with LD_PRELOAD of serial_seam.so, bind-mounts a PTY slave over a
 * /dev/ttyS<N> node, and opens it through the real libserialport and
 * drivers/serial.c at 115200 8N1, suffix CR.
 *
 * Measurement: a writer thread plays the scanner. For scan i it waits
 * until scan i-1 arrived, idles a pseudo-random 0.5-1.5 ms (so the reader
 * is asleep in poll(), as it is between real scans), reads CLOCK_MONOTONIC
 * (t0) and writes the whole frame "S<i>\r" to the PTY master in one
 * write(). t0 is taken just before that write, so the write syscall counts
 * against the driver. The main thread is the scanner thread: poll() on the
 * driver's fd with its deadline, on_ready()/tick(); the sink reads
 * CLOCK_MONOTONIC (t1) on entry to on_data. Latency = t1 - t0. It
 * includes the kernel's pty flush to the line discipline, the poll()
 * wake-up, read(), framing and the callback — everything but the UART's
 * own wire time (a 10-byte scan at 115200 baud adds 0.87 ms on a real
 * cable, which a PTY does not model).
 *
 * Output: one table on stdout, progress on stderr. Exit 0 when the run
 * completed with every scan delivered exactly once, whatever the verdict;
 * 1 when it could not run (not root, no namespace: unless TP_ALLOW_SKIP=1,
 * which prints a SKIP line and exits 0) or scans were lost or garbled.
 *
 * usage: bench_serial [--n N]      (default 2000 scans)
 * env:   TP_SERIAL_SEAM            path of serial_seam.so (default
 *                                  ../serial_seam.so next to the binary's
 *                                  directory, i.e. $(BUILD)/)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/pty_harness.h"
#include "serial.h"
#include "bench.h"

#define N_DEFAULT 2000
#define N_MAX 1000000
#define TARGET_P99_MS 2.0
#define IDLE_TIMEOUT_MS 5000 /* a scan not delivered by then is lost */

typedef struct bench {
    size_t n;
    int master;
    _Atomic int64_t *t0_ns;   /* written by the writer, read by the sink */
    int64_t *lat_ns;          /* sink only */
    _Atomic size_t received;  /* scans delivered so far */
    size_t bad;               /* labels that did not parse / duplicates */
    size_t errors;            /* on_error calls */
    _Atomic bool writer_failed;
    bool offline;
} bench;

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- sink ---------------------------------------------------------------- */

static void on_data(void *user, const tp_scan_data *scan)
{
    int64_t t1 = mono_ns();
    bench *b = user;
    size_t expect = atomic_load_explicit(&b->received, memory_order_relaxed);
    char *end = NULL;
    unsigned long idx;

    if (scan->len < 2 || scan->data[0] != 'S') {
        b->bad++;
        return;
    }
    idx = strtoul(scan->data + 1, &end, 10);
    if (end == NULL || *end != '\0' || idx != expect || idx >= b->n) {
        b->bad++;
        return;
    }
    b->lat_ns[idx] = t1 - atomic_load_explicit(&b->t0_ns[idx], memory_order_acquire);
    atomic_store_explicit(&b->received, expect + 1, memory_order_release);
}

static void on_error(void *user, const char *sentence)
{
    bench *b = user;

    b->errors++;
    fprintf(stderr, "bench_serial: driver error: %s\n", sentence);
}

static void on_status(void *user, tp_device_state state, const char *sentence)
{
    bench *b = user;

    if (state == TP_DEVICE_OFFLINE)
        b->offline = true;
    fprintf(stderr, "bench_serial: %s\n", sentence);
}

/* ---- the scanner (writer thread) ----------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void *scanner_thread(void *arg)
{
    bench *b = arg;
    uint64_t seed = 42;
    size_t i;

    for (i = 0; i < b->n; i++) {
        char frame[32];
        int len = snprintf(frame, sizeof frame, "S%zu\r", i);
        int64_t wait_until = mono_ns() + (int64_t)IDLE_TIMEOUT_MS * 1000000;
        struct timespec idle;

        while (atomic_load_explicit(&b->received, memory_order_acquire) < i) {
            if (mono_ns() > wait_until) {
                atomic_store(&b->writer_failed, true);
                return NULL;
            }
            idle.tv_sec = 0;
            idle.tv_nsec = 50000;
            nanosleep(&idle, NULL);
        }
        idle.tv_sec = 0;
        idle.tv_nsec = 500000 + (long)(splitmix64(&seed) % 1000000);
        nanosleep(&idle, NULL);
        atomic_store_explicit(&b->t0_ns[i], mono_ns(), memory_order_release);
        if (write(b->master, frame, (size_t)len) != len) {
            atomic_store(&b->writer_failed, true);
            return NULL;
        }
    }
    return NULL;
}

/* ---- table --------------------------------------------------------------- */

static void row(const char *figure, const char *value, const char *unit, const char *target,
                const char *verdict)
{
    printf("%-36s %8s  %-6s %-8s %s\n", figure, value, unit, target, verdict);
}

static void row_ms(const char *figure, double v, const char *target, const char *verdict)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%.3f", v);
    row(figure, buf, "ms", target, verdict);
}

/* ---- main ---------------------------------------------------------------- */

static int run(size_t n)
{
    bench b;
    tp_driver_sink sink;
    tp_driver *d = NULL;
    pthread_t writer;
    bool writer_started = false;
    ph_env env;
    bool env_ready = false;
    char msg[512];
    int rc = 1;
    size_t got;

    memset(&b, 0, sizeof b);
    b.n = n;
    b.master = -1;
    b.t0_ns = calloc(n, sizeof *b.t0_ns);
    b.lat_ns = calloc(n, sizeof *b.lat_ns);
    if (b.t0_ns == NULL || b.lat_ns == NULL) {
        fprintf(stderr, "bench_serial: out of memory\n");
        goto out;
    }
    if (ph_env_setup(&env, "bench_serial", false) != 0)
        goto out;
    env_ready = true;
    b.master = ph_plug(&env);
    if (b.master < 0) {
        fprintf(stderr, "bench_serial: PTY setup over %s failed: %s\n", env.node,
                strerror(errno));
        goto out;
    }

    sink.user = &b;
    sink.on_data = on_data;
    sink.on_error = on_error;
    sink.on_status = on_status;
    d = tp_serial_driver.create(&sink);
    if (d == NULL ||
        tp_serial_driver.configure(d, "port", env.node, msg, sizeof msg) != TP_OK ||
        tp_serial_driver.configure(d, "baud", "115200", msg, sizeof msg) != TP_OK ||
        tp_serial_driver.configure(d, "suffix", "CR", msg, sizeof msg) != TP_OK ||
        tp_serial_driver.check(d, msg, sizeof msg) != TP_OK ||
        tp_serial_driver.open(d, mono_ns() / 1000000, msg, sizeof msg) != TP_OK) {
        fprintf(stderr, "bench_serial: driver setup failed: %s\n", d ? msg : "out of memory");
        goto out;
    }
    fprintf(stderr, "bench_serial: %zu scans over %s (PTY) at 115200 8N1, suffix CR\n", n,
            env.node);
    if (pthread_create(&writer, NULL, scanner_thread, &b) != 0) {
        fprintf(stderr, "bench_serial: cannot start the writer thread\n");
        goto out;
    }
    writer_started = true;

    /* The scanner thread's loop; gives up after IDLE_TIMEOUT_MS without
     * progress. */
    {
        size_t last_got = 0;
        int64_t last_progress = mono_ns();

        for (;;) {
            struct pollfd pfd;
            int64_t now_ns = mono_ns(), now = now_ns / 1000000;
            int64_t dl = tp_serial_driver.deadline(d);
            int timeout = 100;
            int r;

            got = atomic_load(&b.received);
            if (got >= n || atomic_load(&b.writer_failed) || b.offline)
                break;
            if (got != last_got) {
                last_got = got;
                last_progress = now_ns;
            } else if (now_ns - last_progress > (int64_t)IDLE_TIMEOUT_MS * 1000000) {
                break;
            }
            if (dl >= 0 && dl - now < timeout)
                timeout = dl - now < 0 ? 0 : (int)(dl - now);
            pfd.fd = tp_serial_driver.fd(d, &pfd.events);
            pfd.revents = 0;
            r = poll(&pfd, 1, timeout);
            if (r > 0) {
                if (tp_serial_driver.on_ready(d, pfd.revents, mono_ns() / 1000000) != TP_OK)
                    b.offline = true;
            } else {
                tp_serial_driver.tick(d, mono_ns() / 1000000);
            }
        }
    }
    got = atomic_load(&b.received);

    if (got != n || b.bad != 0 || b.errors != 0 || b.offline || atomic_load(&b.writer_failed)) {
        fprintf(stderr,
                "bench_serial: run failed: %zu of %zu scans delivered, %zu garbled, %zu driver "
                "errors%s%s\n",
                got, n, b.bad, b.errors, b.offline ? ", device went offline" : "",
                atomic_load(&b.writer_failed) ? ", writer stalled" : "");
        goto out;
    }

    qsort(b.lat_ns, n, sizeof *b.lat_ns, bench_cmp_i64);
    {
        double p50 = bench_pct_ms(b.lat_ns, n, 0.50), p99 = bench_pct_ms(b.lat_ns, n, 0.99),
               max = (double)b.lat_ns[n - 1] / 1e6;
        char count[32];

        printf("bench_serial: %zu scans, PTY + real libserialport, 115200 8N1, suffix CR\n", n);
        row("figure", "value", "unit", "target", "verdict");
        row("------", "-----", "----", "------", "-------");
        row_ms("scan-to-event p50", p50, "-", "-");
        row_ms("scan-to-event p99", p99, "< 2", p99 < TARGET_P99_MS ? "ok" : "MISSED");
        row_ms("scan-to-event max", max, "-", "-");
        snprintf(count, sizeof count, "%zu", got);
        row("scans delivered (each exactly once)", count, "scans", "= N", "ok");
    }
    rc = 0;

out:
    if (writer_started) {
        if (atomic_load(&b.received) < n)
            atomic_store(&b.writer_failed, true);
        pthread_join(writer, NULL);
    }
    if (d != NULL)
        tp_serial_driver.destroy(d);
    ph_unplug(&b.master);
    if (env_ready)
        ph_env_teardown(&env);
    free(b.t0_ns);
    free(b.lat_ns);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = N_DEFAULT;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            char *end = NULL;
            unsigned long v = strtoul(argv[++i], &end, 10);

            if (end == NULL || *end != '\0' || v < 1 || v > N_MAX || argv[i][0] == '-') {
                fprintf(stderr, "bench_serial: --n wants a count from 1 to %d\n", N_MAX);
                return 1;
            }
            n = (size_t)v;
        } else {
            fprintf(stderr, "usage: bench_serial [--n N]   (default %d scans)\n", N_DEFAULT);
            return strcmp(argv[i], "--help") == 0 ? 0 : 1;
        }
    }
    if (!ph_inside())
        return ph_reexec_inside("bench_serial", argv);
    return run(n);
}
