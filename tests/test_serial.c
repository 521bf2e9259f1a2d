/*
 * test_serial.c — pins down drivers/serial.c against the REAL libserialport
 * 0.1.1 and the real kernel tty layer, with a pseudo-terminal standing in
 * for the scanner's cable.
 *
 * How (docs/DESIGN.md §7): libserialport accepts only a /dev/<name> with a
 * /sys/class/tty/<name> entry and refuses a PTY because TIOCMGET fails. So
 * the test, as root, re-executes itself in a private mount namespace with
 * LD_PRELOAD=serial_seam.so (tests/serial_seam.c, which answers the
 * modem-line ioctls for PTY fds and lets a test drop DSR/CD through a
 * control file), and each test binds a PTY's slave over an existing
 * /dev/ttyS<N> node — all of it done by tests/pty_harness.c, which says how
 * the node is chosen and what is cleaned up. The test then drives the
 * driver exactly like the scanner thread does: create, configure, check,
 * open, poll() on fd() with the driver's deadline(), on_ready() or tick(),
 * close, destroy — while writing the scanner's bytes to the PTY master.
 * Unplugging is closing the master; replugging is a new PTY bound at the
 * same node.
 *
 * Environment: TP_SERIAL_SEAM and TP_ALLOW_SKIP, see tests/pty_harness.h.
 *
 * Expectations are written out by hand from driver.h/framer.h, never
 * computed by the code under test.
 */
/* posix_openpt, grantpt, unlockpt, ptsname */
#define _XOPEN_SOURCE 700

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "pty_harness.h"
#include "serial.h"

/* ------------------------------------------------------------------ */
/* Process-wide test environment (set once in main, read by tests)     */
/* ------------------------------------------------------------------ */

static ph_env g_env; /* node the PTY slaves are bound over, scratch dir */

/* ------------------------------------------------------------------ */
/* Sink recorder                                                       */
/* ------------------------------------------------------------------ */

#define REC_MAX 64
#define SENTENCE_MAX 512

typedef struct rec_scan {
    char data[TP_FRAMER_MAX_LENGTH + 1];
    size_t len;
    tp_symbology sym;
    char aim_id[4];
} rec_scan;

typedef struct recorder {
    size_t n_scans, n_errors, n_status;
    rec_scan scans[REC_MAX];
    char errors[REC_MAX][SENTENCE_MAX];
    tp_device_state states[REC_MAX];
    char status_text[REC_MAX][SENTENCE_MAX];
} recorder;

static void rec_data(void *user, const tp_scan_data *scan)
{
    recorder *r = user;
    rec_scan *s;

    assert_true(r->n_scans < REC_MAX);
    assert_int_equal(scan->data[scan->len], '\0');
    s = &r->scans[r->n_scans++];
    memcpy(s->data, scan->data, scan->len + 1);
    s->len = scan->len;
    s->sym = scan->symbology;
    memcpy(s->aim_id, scan->aim_id, sizeof s->aim_id);
}

static void rec_error(void *user, const char *sentence)
{
    recorder *r = user;

    assert_true(r->n_errors < REC_MAX);
    snprintf(r->errors[r->n_errors++], SENTENCE_MAX, "%s", sentence);
}

static void rec_status(void *user, tp_device_state state, const char *sentence)
{
    recorder *r = user;

    assert_true(r->n_status < REC_MAX);
    r->states[r->n_status] = state;
    snprintf(r->status_text[r->n_status++], SENTENCE_MAX, "%s", sentence);
}

/* ------------------------------------------------------------------ */
/* Fixture: one PTY "cable" and one driver                             */
/* ------------------------------------------------------------------ */

typedef struct fixture {
    int master;            /* -1 when unplugged */
    tp_driver *d;
    recorder rec;
    char msg[SENTENCE_MAX];
} fixture;

static const tp_driver_ops *ops = &tp_serial_driver;

/* Bound on a wait for something the driver reports (a scan, an error, a
 * hang-up, a pending frame): it only stops a run that is stuck, so it is
 * generous; a busy machine does not trip it. */
#define WAIT_MS 120000

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_lines(const char *text)
{
    assert_int_equal(ph_set_lines(&g_env, text), 0);
}

/* Plugs a new PTY "scanner" in at g_env.node. */
static void plug(fixture *fx)
{
    fx->master = ph_plug(&g_env);
    if (fx->master < 0)
        fail_msg("plugging a PTY in at %s: %s", g_env.node, strerror(errno));
}

/* Pulls the cable: the slave sees a hang-up. The stale bind stays, as a
 * dead /dev node would until udev removed it. */
static void unplug(fixture *fx)
{
    ph_unplug(&fx->master);
}

static void send_bytes(fixture *fx, const void *data, size_t len)
{
    assert_int_equal(ph_send(fx->master, data, len), 0);
}

static void send_str(fixture *fx, const char *s)
{
    send_bytes(fx, s, strlen(s));
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    tp_driver_sink sink;

    assert_non_null(fx);
    set_lines("dsr=1 cd=1 cts=1\n");
    plug(fx);
    sink.user = &fx->rec;
    sink.on_data = rec_data;
    sink.on_error = rec_error;
    sink.on_status = rec_status;
    fx->d = ops->create(&sink);
    assert_non_null(fx->d);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    ops->destroy(fx->d);
    unplug(fx);
    free(fx);
    return 0;
}

static void configure(fixture *fx, const char *key, const char *value)
{
    tp_status st = ops->configure(fx->d, key, value, fx->msg, sizeof fx->msg);

    if (st != TP_OK)
        fail_msg("configure %s=%s: %d %s", key, value, (int)st, fx->msg);
}

/* Key/value pairs for open_with(), NULL-terminated. */
#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})
static const char *const NO_KEYS[] = {NULL};

/* configure port=<node>, then the given key/value pairs, check, open. */
static void open_with(fixture *fx, const char *const *kv)
{
    tp_status st;

    configure(fx, "port", g_env.node);
    for (; kv[0] != NULL; kv += 2)
        configure(fx, kv[0], kv[1]);
    st = ops->check(fx->d, fx->msg, sizeof fx->msg);
    if (st != TP_OK)
        fail_msg("check: %d %s", (int)st, fx->msg);
    st = ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg);
    if (st != TP_OK)
        fail_msg("open: %d %s", (int)st, fx->msg);
}

/*
 * One scanner-thread loop: poll the driver's fd until its deadline (or the
 * budget), then on_ready() or tick(). Runs until the recorder holds
 * want_scans scans and want_errors errors, on_ready() returns non-OK, or
 * budget_ms passes. Returns the on_ready() status (TP_OK otherwise).
 */
static tp_status pump(fixture *fx, size_t want_scans, size_t want_errors, int budget_ms)
{
    int64_t end = now_ms() + budget_ms;

    for (;;) {
        struct pollfd pfd;
        int64_t now = now_ms();
        int64_t dl = ops->deadline(fx->d);
        int64_t wait = end - now;
        int n;

        if (fx->rec.n_scans >= want_scans && fx->rec.n_errors >= want_errors &&
            (want_scans > 0 || want_errors > 0))
            return TP_OK;
        if (wait <= 0)
            return TP_OK;
        if (dl >= 0 && dl - now < wait)
            wait = dl - now < 0 ? 0 : dl - now;
        pfd.fd = ops->fd(fx->d, &pfd.events);
        pfd.revents = 0;
        n = poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)wait);
        assert_true(n >= 0);
        if (n > 0) {
            tp_status st = ops->on_ready(fx->d, pfd.revents, now_ms());

            if (st != TP_OK)
                return st;
        } else {
            ops->tick(fx->d, now_ms());
        }
    }
}

/* Runs the loop until the driver holds a pending frame (it has read the
 * bytes and armed the frame timer); fails after WAIT_MS. Only for a port
 * opened with its modem lines low: then nothing is watched and deadline()
 * is the frame timer alone. */
static void pump_until_pending(fixture *fx)
{
    int64_t end = now_ms() + WAIT_MS;

    while (ops->deadline(fx->d) < 0) {
        if (now_ms() >= end)
            fail_msg("the driver did not read the partial frame within %d ms", WAIT_MS);
        assert_int_equal(pump(fx, 0, 0, 5), TP_OK);
    }
}

static void assert_scan(const fixture *fx, size_t i, const char *data)
{
    assert_true(i < fx->rec.n_scans);
    assert_string_equal(fx->rec.scans[i].data, data);
    assert_int_equal(fx->rec.scans[i].len, strlen(data));
}

static void assert_mentions(const char *sentence, const char *part)
{
    if (strstr(sentence, part) == NULL)
        fail_msg("sentence does not mention '%s': %s", part, sentence);
}

/* ------------------------------------------------------------------ */
/* Framing through the real port                                       */
/* ------------------------------------------------------------------ */

static void cr_suffix_delivers_each_scan(void **state)
{
    fixture *fx = *state;

    open_with(fx, KV("suffix", "CR"));
    assert_int_equal(fx->rec.n_status, 1);
    assert_int_equal(fx->rec.states[0], TP_DEVICE_ONLINE);
    assert_mentions(fx->rec.status_text[0], g_env.node);
    send_str(fx, "12345\rABC-9\r");
    assert_int_equal(pump(fx, 2, 0, WAIT_MS), TP_OK);
    assert_int_equal(fx->rec.n_scans, 2);
    assert_scan(fx, 0, "12345");
    assert_scan(fx, 1, "ABC-9");
    assert_int_equal(fx->rec.scans[0].sym, TP_SYM_UNKNOWN);
    assert_string_equal(fx->rec.scans[0].aim_id, "");
    assert_int_equal(fx->rec.n_errors, 0);
}

static void lf_suffix_delivers_each_scan(void **state)
{
    fixture *fx = *state;

    open_with(fx, KV("suffix", "LF"));
    send_str(fx, "4006381333931\nM-0042\n");
    assert_int_equal(pump(fx, 2, 0, WAIT_MS), TP_OK);
    assert_int_equal(fx->rec.n_scans, 2);
    assert_scan(fx, 0, "4006381333931");
    assert_scan(fx, 1, "M-0042");
}

static void crlf_suffix_split_across_writes_delivers_one_scan(void **state)
{
    fixture *fx = *state;

    /* a long frame timer: only the suffix may end the frame here; lines
     * low (3-wire), so deadline() is the frame timer alone */
    set_lines("dsr=0 cd=0\n");
    open_with(fx, KV("suffix", "CRLF", "frame_timeout_ms", "60000"));
    assert_int_equal(ops->deadline(fx->d), -1);
    send_str(fx, "HELLO\r");
    pump_until_pending(fx); /* read, and held */
    assert_int_equal(fx->rec.n_scans, 0); /* CR alone does not end it */
    send_str(fx, "\nWORLD\r\n");
    assert_int_equal(pump(fx, 2, 0, WAIT_MS), TP_OK);
    assert_int_equal(fx->rec.n_scans, 2);
    assert_scan(fx, 0, "HELLO");
    assert_scan(fx, 1, "WORLD");
    assert_int_equal(fx->rec.n_errors, 0);
}

static void tab_suffix_delivers_each_scan(void **state)
{
    fixture *fx = *state;

    open_with(fx, KV("suffix", "TAB"));
    send_str(fx, "A1\tB2\t");
    assert_int_equal(pump(fx, 2, 0, WAIT_MS), TP_OK);
    assert_int_equal(fx->rec.n_scans, 2);
    assert_scan(fx, 0, "A1");
    assert_scan(fx, 1, "B2");
}

static void stx_etx_frames_ignore_the_bytes_between_them(void **state)
{
    fixture *fx = *state;

    open_with(fx, KV("framing", "stx-etx"));
    send_str(fx, "\x02" "FIRST\x03\r\n\x02" "SECOND\x03");
    assert_int_equal(pump(fx, 2, 0, WAIT_MS), TP_OK);
    assert_int_equal(fx->rec.n_scans, 2);
    assert_scan(fx, 0, "FIRST");
    assert_scan(fx, 1, "SECOND");
    assert_int_equal(fx->rec.n_errors, 0);
}

static void aim_ids_are_stripped_and_mapped_to_symbologies(void **state)
{
    fixture *fx = *state;

    open_with(fx, KV("aim", "yes"));
    send_str(fx, "]Q1MEMBER42\r]E04006381333931\r]C0ABC123\r");
    assert_int_equal(pump(fx, 3, 0, WAIT_MS), TP_OK);
    assert_int_equal(fx->rec.n_scans, 3);
    assert_scan(fx, 0, "MEMBER42");
    assert_int_equal(fx->rec.scans[0].sym, TP_SYM_QR);
    assert_string_equal(fx->rec.scans[0].aim_id, "]Q1");
    assert_scan(fx, 1, "4006381333931");
    assert_int_equal(fx->rec.scans[1].sym, TP_SYM_EAN13);
    assert_string_equal(fx->rec.scans[1].aim_id, "]E0");
    assert_scan(fx, 2, "ABC123");
    assert_int_equal(fx->rec.scans[2].sym, TP_SYM_CODE128);
}

static void partial_frame_times_out_and_next_scan_survives(void **state)
{
    fixture *fx = *state;
    int64_t read_by, dl;

    set_lines("dsr=0 cd=0\n"); /* 3-wire: deadline() is the frame timer alone */
    open_with(fx, KV("frame_timeout_ms", "100"));
    assert_int_equal(ops->deadline(fx->d), -1);
    send_str(fx, "12345");
    pump_until_pending(fx); /* bytes read, frame pending */
    read_by = now_ms();
    dl = ops->deadline(fx->d);
    /* the timer is the configured 100 ms from the last byte, which was
     * read before read_by */
    assert_true(dl >= 0 && dl <= read_by + 100);
    assert_int_equal(pump(fx, 0, 1, WAIT_MS), TP_OK);
    assert_int_equal(fx->rec.n_errors, 1);
    assert_true(now_ms() >= dl); /* not before its time */
    assert_mentions(fx->rec.errors[0], g_env.node);
    assert_mentions(fx->rec.errors[0], "incomplete scan (5 bytes");
    assert_mentions(fx->rec.errors[0], "check");
    assert_int_equal(fx->rec.n_scans, 0);
    send_str(fx, "OK1\r");
    assert_int_equal(pump(fx, 1, 1, WAIT_MS), TP_OK);
    assert_scan(fx, 0, "OK1");
}

static void oversize_frame_is_reported_and_next_scan_survives(void **state)
{
    fixture *fx = *state;

    open_with(fx, KV("max_length", "16"));
    send_str(fx, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\rNEXT\r");
    assert_int_equal(pump(fx, 1, 1, WAIT_MS), TP_OK);
    assert_int_equal(fx->rec.n_errors, 1);
    assert_mentions(fx->rec.errors[0], g_env.node);
    assert_mentions(fx->rec.errors[0], "longer than 16 bytes");
    assert_mentions(fx->rec.errors[0], "max_length");
    assert_int_equal(fx->rec.n_scans, 1);
    assert_scan(fx, 0, "NEXT");
}

static void crlf_scanner_on_a_cr_port_is_reported_as_bad_data(void **state)
{
    fixture *fx = *state;

    open_with(fx, KV("suffix", "CR"));
    send_str(fx, "AAA\r\nBBB\r\n");
    assert_int_equal(pump(fx, 1, 1, WAIT_MS), TP_OK);
    assert_scan(fx, 0, "AAA");
    assert_int_equal(fx->rec.n_errors, 1);
    assert_mentions(fx->rec.errors[0], "control characters");
    assert_mentions(fx->rec.errors[0], "suffix CR");
    assert_mentions(fx->rec.errors[0], g_env.node);
}

static void missing_prefix_is_reported_and_prefixed_scan_delivered(void **state)
{
    fixture *fx = *state;

    open_with(fx, KV("framing", "prefix", "prefix", "#"));
    send_str(fx, "X1\r#Y2\r");
    assert_int_equal(pump(fx, 1, 1, WAIT_MS), TP_OK);
    assert_int_equal(fx->rec.n_errors, 1);
    assert_mentions(fx->rec.errors[0], "prefix");
    assert_int_equal(fx->rec.n_scans, 1);
    assert_scan(fx, 0, "Y2");
}

/* ------------------------------------------------------------------ */
/* Line settings                                                       */
/* ------------------------------------------------------------------ */

static void baud_9600_8n1_is_applied_to_the_port(void **state)
{
    fixture *fx = *state;
    struct termios t;
    short ev;
    int fd;

    open_with(fx, KV("baud", "9600"));
    fd = ops->fd(fx->d, &ev);
    assert_true(fd >= 0);
    assert_true(ev & POLLIN);
    assert_int_equal(tcgetattr(fd, &t), 0);
    assert_int_equal(cfgetispeed(&t), B9600);
    assert_int_equal(t.c_cflag & CSIZE, CS8);
    assert_int_equal(t.c_cflag & (PARENB | CSTOPB), 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_mentions(fx->rec.status_text[0], "9600 8N1");
    send_str(fx, "SCAN9600\r");
    assert_int_equal(pump(fx, 1, 0, WAIT_MS), TP_OK);
    assert_scan(fx, 0, "SCAN9600");
}

static void baud_115200_7e2_is_applied_to_the_port(void **state)
{
    fixture *fx = *state;
    struct termios t;
    short ev;
    int fd;

    open_with(fx, KV("baud", "115200", "data_bits", "7", "parity", "even", "stop_bits", "2",
              "flow_control", "rtscts"));
    fd = ops->fd(fx->d, &ev);
    assert_int_equal(tcgetattr(fd, &t), 0);
    assert_int_equal(cfgetispeed(&t), B115200);
    /* The kernel's pty driver forces CS8 and clears PARENB whatever is
     * asked (drivers/tty/pty.c), so 7E cannot be read back from a PTY;
     * the driver's own account of what it requested is checked below. */
    assert_true(t.c_cflag & CSTOPB);
    assert_true(t.c_cflag & CRTSCTS);
    assert_mentions(fx->rec.status_text[0], "115200 7E2, flow control rtscts");
    send_str(fx, "SCAN115K\r");
    assert_int_equal(pump(fx, 1, 0, WAIT_MS), TP_OK);
    assert_scan(fx, 0, "SCAN115K");
}

/* ------------------------------------------------------------------ */
/* Unplug, replug, modem lines, health                                 */
/* ------------------------------------------------------------------ */

static void unplug_reports_offline_and_on_ready_returns_not_found(void **state)
{
    fixture *fx = *state;
    tp_status st;

    open_with(fx, NO_KEYS);
    assert_int_equal(ops->health(fx->d, fx->msg, sizeof fx->msg), TP_OK);
    send_str(fx, "LAST\r");
    assert_int_equal(pump(fx, 1, 0, WAIT_MS), TP_OK);
    assert_scan(fx, 0, "LAST");
    /* Bytes still unread at the hang-up are flushed by the kernel's tty
     * hang-up itself, so nothing is written between the last scan and the
     * unplug here. */
    unplug(fx);
    st = pump(fx, 99, 0, WAIT_MS);
    assert_int_equal(st, TP_ERR_NOT_FOUND);
    assert_int_equal(fx->rec.n_scans, 1);
    assert_int_equal(fx->rec.n_status, 2);
    assert_int_equal(fx->rec.states[1], TP_DEVICE_OFFLINE);
    assert_mentions(fx->rec.status_text[1], g_env.node);
    assert_mentions(fx->rec.status_text[1], "check the cable");
    /* stays gone, reported once */
    assert_int_equal(ops->on_ready(fx->d, POLLIN, now_ms()), TP_ERR_NOT_FOUND);
    assert_int_equal(fx->rec.n_status, 2);
    assert_int_equal(ops->health(fx->d, fx->msg, sizeof fx->msg), TP_ERR_NOT_FOUND);
    assert_mentions(fx->msg, g_env.node);
    assert_int_equal(ops->deadline(fx->d), -1);
}

static void reopen_while_unplugged_is_not_found_and_replug_opens_again(void **state)
{
    fixture *fx = *state;
    tp_status st;
    short ev;

    open_with(fx, NO_KEYS);
    unplug(fx);
    assert_int_equal(pump(fx, 99, 0, WAIT_MS), TP_ERR_NOT_FOUND);
    ops->close(fx->d);
    assert_int_equal(ops->fd(fx->d, &ev), -1);
    assert_int_equal(ops->health(fx->d, fx->msg, sizeof fx->msg), TP_ERR_STATE);
    assert_mentions(fx->msg, g_env.node);

    st = ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg);
    assert_int_equal(st, TP_ERR_NOT_FOUND);
    assert_mentions(fx->msg, g_env.node);
    assert_mentions(fx->msg, "plugged in");

    plug(fx); /* the scanner comes back at the same name */
    st = ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg);
    if (st != TP_OK)
        fail_msg("reopen after replug: %d %s", (int)st, fx->msg);
    assert_int_equal(fx->rec.states[fx->rec.n_status - 1], TP_DEVICE_ONLINE);
    send_str(fx, "BACK\r");
    assert_int_equal(pump(fx, 1, 0, WAIT_MS), TP_OK);
    assert_scan(fx, 0, "BACK");
    assert_int_equal(ops->health(fx->d, fx->msg, sizeof fx->msg), TP_OK);
}

static void dsr_drop_reports_offline_from_tick(void **state)
{
    fixture *fx = *state;
    int64_t dl;

    open_with(fx, NO_KEYS);
    dl = ops->deadline(fx->d); /* the line check is a timer */
    assert_true(dl >= 0);
    set_lines("dsr=0 cd=1 cts=1\n");
    /* no data: only tick() runs, until the driver reports the drop */
    {
        int64_t end = now_ms() + WAIT_MS;

        while (fx->rec.n_status < 2 && now_ms() < end)
            assert_int_equal(pump(fx, 0, 0, 50), TP_OK);
    }
    assert_int_equal(fx->rec.n_status, 2);
    assert_int_equal(fx->rec.states[1], TP_DEVICE_OFFLINE);
    assert_mentions(fx->rec.status_text[1], "DSR dropped");
    assert_mentions(fx->rec.status_text[1], g_env.node);
    assert_int_equal(ops->on_ready(fx->d, POLLIN, now_ms()), TP_ERR_NOT_FOUND);
    assert_int_equal(ops->health(fx->d, fx->msg, sizeof fx->msg), TP_ERR_NOT_FOUND);
}

static void cd_drop_reports_offline_from_on_ready_after_the_data(void **state)
{
    fixture *fx = *state;

    open_with(fx, NO_KEYS);
    set_lines("dsr=1 cd=0\n");
    assert_int_equal(ops->health(fx->d, fx->msg, sizeof fx->msg), TP_ERR_NOT_FOUND);
    assert_mentions(fx->msg, "CD dropped");
    send_str(fx, "Z9\r");
    assert_int_equal(pump(fx, 99, 0, WAIT_MS), TP_ERR_NOT_FOUND);
    assert_scan(fx, 0, "Z9");
    assert_int_equal(fx->rec.states[fx->rec.n_status - 1], TP_DEVICE_OFFLINE);
    assert_mentions(fx->rec.status_text[fx->rec.n_status - 1], "CD dropped");
}

static void lines_low_at_open_are_not_watched(void **state)
{
    fixture *fx = *state;

    set_lines("dsr=0 cd=0\n"); /* a 3-wire scanner cable */
    open_with(fx, NO_KEYS);
    assert_int_equal(ops->health(fx->d, fx->msg, sizeof fx->msg), TP_OK);
    assert_int_equal(ops->deadline(fx->d), -1); /* idle: no timer at all */
    send_str(fx, "THREEWIRE\r");
    assert_int_equal(pump(fx, 1, 0, WAIT_MS), TP_OK);
    assert_scan(fx, 0, "THREEWIRE");
    assert_int_equal(fx->rec.n_status, 1);
}

/* ------------------------------------------------------------------ */
/* Port names and config                                               */
/* ------------------------------------------------------------------ */

static void by_id_symlink_is_resolved_before_opening(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX + 16], link[PATH_MAX + 64];
    tp_status st;

    snprintf(dir, sizeof dir, "%s/by-id", g_env.tmpdir);
    (void)mkdir(dir, 0700);
    snprintf(link, sizeof link, "%s/usb-Acme_Scanner_X1_0042-if00", dir);
    (void)unlink(link);
    assert_int_equal(symlink(g_env.node, link), 0);
    configure(fx, "port", link);
    st = ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg);
    if (st != TP_OK)
        fail_msg("open via symlink: %d %s", (int)st, fx->msg);
    assert_mentions(fx->rec.status_text[0], "usb-Acme_Scanner_X1_0042-if00");
    assert_mentions(fx->rec.status_text[0], g_env.node);
    send_str(fx, "VIALINK\r");
    assert_int_equal(pump(fx, 1, 0, WAIT_MS), TP_OK);
    assert_scan(fx, 0, "VIALINK");
    ops->close(fx->d);
    unlink(link);
}

static void missing_port_is_not_found_with_a_sentence(void **state)
{
    fixture *fx = *state;
    char link[PATH_MAX + 64];

    configure(fx, "port", "/dev/ttyUSB-tillpoints-absent");
    assert_int_equal(ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg), TP_ERR_NOT_FOUND);
    assert_mentions(fx->msg, "/dev/ttyUSB-tillpoints-absent");
    assert_mentions(fx->msg, "plugged in");

    /* a by-id link whose device is gone dangles: same answer */
    snprintf(link, sizeof link, "%s/usb-Gone_Scanner-if00", g_env.tmpdir);
    (void)unlink(link);
    assert_int_equal(symlink("/dev/ttyACM-tillpoints-absent", link), 0);
    configure(fx, "port", link);
    assert_int_equal(ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg), TP_ERR_NOT_FOUND);
    assert_mentions(fx->msg, "usb-Gone_Scanner-if00");
    unlink(link);
    assert_int_equal(ops->fd(fx->d, NULL), -1);
}

static void a_file_that_is_not_a_tty_is_refused_as_config(void **state)
{
    fixture *fx = *state;
    char path[PATH_MAX + 16];
    FILE *f;

    snprintf(path, sizeof path, "%s/not-a-tty", g_env.tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    configure(fx, "port", path);
    assert_int_equal(ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg), TP_ERR_CONFIG);
    assert_mentions(fx->msg, "not-a-tty");
    assert_mentions(fx->msg, "not a serial port");
    unlink(path);
}

/* A PTY of its own (/dev/pts/<n>: no /sys/class/tty entry, as a socat or
 * ser2net link): libserialport refuses it, the driver opens it itself,
 * applies the line settings with termios, reads scans and sees the other
 * end closing as a hang-up. */
static void pty_without_sysfs_entry_is_opened_with_termios(void **state)
{
    fixture *fx = *state;
    struct termios t;
    short ev;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    int fd;

    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    assert_non_null(ptsname(m));
    configure(fx, "port", ptsname(m));
    configure(fx, "baud", "115200");
    configure(fx, "stop_bits", "2");
    configure(fx, "flow_control", "rtscts");
    assert_int_equal(ops->check(fx->d, fx->msg, sizeof fx->msg), TP_OK);
    if (ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg) != TP_OK)
        fail_msg("open %s: %s", ptsname(m), fx->msg);
    assert_int_equal(fx->rec.n_status, 1);
    assert_int_equal(fx->rec.states[0], TP_DEVICE_ONLINE);
    assert_mentions(fx->rec.status_text[0], "/dev/pts/");
    fd = ops->fd(fx->d, &ev);
    assert_true(fd >= 0);
    assert_int_equal(tcgetattr(fd, &t), 0);
    assert_int_equal(cfgetispeed(&t), B115200);
    assert_true(t.c_cflag & CSTOPB);
    assert_true(t.c_cflag & CRTSCTS);
    assert_false(t.c_lflag & (ICANON | ECHO)); /* raw: a CR ends no line here */
    assert_int_equal(write(m, "M-1001\r", 7), 7);
    assert_int_equal(pump(fx, 1, 0, WAIT_MS), TP_OK);
    assert_scan(fx, 0, "M-1001");
    assert_int_equal(ops->health(fx->d, fx->msg, sizeof fx->msg), TP_OK);
    close(m); /* the bridge goes away */
    assert_int_equal(pump(fx, 2, 0, WAIT_MS), TP_ERR_NOT_FOUND);
    assert_int_equal(fx->rec.states[fx->rec.n_status - 1], TP_DEVICE_OFFLINE);
    ops->close(fx->d);
    assert_int_equal(ops->fd(fx->d, NULL), -1);
}

/* A character device that is not a terminal is refused, saying so. */
static void a_device_that_is_not_a_terminal_is_refused_as_config(void **state)
{
    fixture *fx = *state;

    configure(fx, "port", "/dev/null");
    assert_int_equal(ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg), TP_ERR_CONFIG);
    assert_mentions(fx->msg, "/dev/null");
    assert_mentions(fx->msg, "not a terminal");
    assert_mentions(fx->msg, "pseudo-terminal");
    assert_int_equal(ops->fd(fx->d, NULL), -1);
    assert_int_equal(fx->rec.n_status, 0);
}

static void bad_config_values_are_refused_with_sentences(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *key, *value, *mention;
    } bad[] = {
        {"port", "ttyS0", "absolute"},
        {"port", "", "absolute"},
        {"baud", "300", "1200"},
        {"baud", "1000000", "921600"},
        {"baud", "96OO", "baud"},
        {"baud", "-9600", "baud"},
        {"data_bits", "9", "data_bits"},
        {"data_bits", "4", "data_bits"},
        {"parity", "sometimes", "none, odd, even, mark, space"},
        {"stop_bits", "3", "stop_bits"},
        {"stop_bits", "1.5", "stop_bits"},
        {"flow_control", "dtrdsr", "rtscts"},
        {"flow_control", "hardware", "none, xonxoff, rtscts"},
        {"framing", "morse", "framing"},
        {"suffix", "NUL", "suffix"},
        {"max_length", "0", "max_length"},
        {"frame_timeout_ms", "60001", "frame_timeout_ms"},
        {"aim", "maybe", "aim"},
    };
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tp_status st = ops->configure(fx->d, bad[i].key, bad[i].value, fx->msg, sizeof fx->msg);

        if (st != TP_ERR_CONFIG)
            fail_msg("%s=%s: expected TP_ERR_CONFIG, got %d", bad[i].key, bad[i].value, (int)st);
        assert_true(strlen(fx->msg) > 20);
        assert_mentions(fx->msg, bad[i].mention);
    }
    assert_int_equal(ops->configure(fx->d, "colour", "red", fx->msg, sizeof fx->msg),
                     TP_ERR_NOT_FOUND);
    assert_mentions(fx->msg, "colour");
    assert_mentions(fx->msg, "baud");

    /* nothing changed, and no port was ever accepted */
    assert_int_equal(ops->check(fx->d, fx->msg, sizeof fx->msg), TP_ERR_CONFIG);
    assert_mentions(fx->msg, "port is not set");

    /* a framer rule across keys: the prefix must not contain the suffix */
    configure(fx, "port", g_env.node);
    configure(fx, "framing", "prefix");
    configure(fx, "prefix", "\\x0d");
    assert_int_equal(ops->check(fx->d, fx->msg, sizeof fx->msg), TP_ERR_CONFIG);
    assert_true(strlen(fx->msg) > 20);
}

static void settings_cannot_change_while_open(void **state)
{
    fixture *fx = *state;

    open_with(fx, NO_KEYS);
    assert_int_equal(ops->configure(fx->d, "baud", "9600", fx->msg, sizeof fx->msg),
                     TP_ERR_STATE);
    assert_mentions(fx->msg, g_env.node);
    assert_int_equal(ops->open(fx->d, now_ms(), fx->msg, sizeof fx->msg), TP_ERR_STATE);
    ops->close(fx->d);
    ops->close(fx->d); /* safe twice */
    configure(fx, "baud", "19200");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cr_suffix_delivers_each_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(lf_suffix_delivers_each_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(crlf_suffix_split_across_writes_delivers_one_scan,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(tab_suffix_delivers_each_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(stx_etx_frames_ignore_the_bytes_between_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(aim_ids_are_stripped_and_mapped_to_symbologies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(partial_frame_times_out_and_next_scan_survives, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(oversize_frame_is_reported_and_next_scan_survives,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(crlf_scanner_on_a_cr_port_is_reported_as_bad_data,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(missing_prefix_is_reported_and_prefixed_scan_delivered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(baud_9600_8n1_is_applied_to_the_port, setup, teardown),
        cmocka_unit_test_setup_teardown(baud_115200_7e2_is_applied_to_the_port, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unplug_reports_offline_and_on_ready_returns_not_found,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            reopen_while_unplugged_is_not_found_and_replug_opens_again, setup, teardown),
        cmocka_unit_test_setup_teardown(dsr_drop_reports_offline_from_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(cd_drop_reports_offline_from_on_ready_after_the_data,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(lines_low_at_open_are_not_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(by_id_symlink_is_resolved_before_opening, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_port_is_not_found_with_a_sentence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_file_that_is_not_a_tty_is_refused_as_config, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(pty_without_sysfs_entry_is_opened_with_termios, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_device_that_is_not_a_terminal_is_refused_as_config,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(bad_config_values_are_refused_with_sentences, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(settings_cannot_change_while_open, setup, teardown),
    };
    int failed;

    (void)argc;
    if (!ph_inside())
        return ph_reexec_inside("test_serial", argv);
    if (ph_env_setup(&g_env, "test_serial", true) != 0)
        return 1;
    printf("test_serial: PTY slaves bound over %s%s, seam %s\n", g_env.node,
           g_env.placeholder ? " (placeholder file)" : "", getenv("LD_PRELOAD"));

    failed = cmocka_run_group_tests(tests, NULL, NULL);

    {
        char by_id[PATH_MAX + 16];

        snprintf(by_id, sizeof by_id, "%s/by-id", g_env.tmpdir);
        (void)rmdir(by_id);
    }
    ph_env_teardown(&g_env);
    return failed == 0 ? 0 : 1;
}
