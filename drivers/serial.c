/*
 * serial.c — the serial barcode-scanner driver: libserialport opens and
 * configures the port, the scanner thread polls its fd, and every byte goes
 * through drivers/framer.c, which owns framing, AIM ids, length limits and
 * partial-frame timeouts. This file only moves bytes and turns framer
 * events and device faults into sink calls with sentences a person can act
 * on; every sentence names the port and says what to check.
 *
 * Guarantees (driver.h): never blocks, never sleeps, never exits, aborts,
 * forks or signals; no global mutable state; every callback runs inside
 * open()/on_ready()/tick() on the scanner thread.
 *
 * Decisions that are not obvious:
 *
 * Port names. libserialport 0.1.1 accepts only a /dev/<name> that has a
 * /sys/class/tty/<name> entry and does not follow symlinks, so the
 * configured name is realpath()'d on every open (a /dev/serial/by-id/...
 * link may point at a different ttyACMn after a replug).
 *
 * Virtual ports. A PTY (socat, ser2net, a network scanner bridge) has no
 * /sys/class/tty entry, and libserialport's sp_open() fails on it because
 * the modem-line ioctls (TIOCMGET) are refused. When libserialport will
 * not take a port, the driver opens it itself: a character device that is
 * a tty (isatty) is configured with termios directly (raw, the configured
 * baud, bits, parity, stop bits and flow control, which a PTY accepts and
 * ignores); anything else is refused with a sentence. Modem lines that
 * cannot be read are not an error there: nothing is watched, and a
 * hang-up (the other end of the bridge closing) is still a disconnect.
 *
 * Reading. sp_open() leaves the fd O_NONBLOCK but with VMIN=0, where an
 * empty non-blocking read() returns 0 — indistinguishable from a hang-up.
 * After configuring we set VMIN=1/VTIME=0 ourselves, so an empty read is
 * EAGAIN and read()==0 only ever means end of file. We never call
 * sp_blocking_read*: after a hang-up they busy-loop until their timeout
 * (docs/DESIGN.md §12). POLLHUP/POLLERR/POLLNVAL, read()==0 and EIO/ENXIO/ENODEV
 * all mean the device went away. Whatever read() still returns is framed
 * before the hang-up is acted on (the kernel's hang-up flushes unread
 * input, so usually that is nothing).
 *
 * Disconnects are reported once, by the driver, as on_status(OFFLINE, a
 * sentence) — the driver is the only one that knows the port and the
 * reason. on_ready() then returns TP_ERR_NOT_FOUND (and keeps doing so
 * until close()), so the scanner thread closes and reopens with backoff.
 *
 * Modem lines. A scanner that drives DSR or CD drops it when its cable is
 * pulled or it powers off, which a UART does not always turn into a
 * hang-up. Many scanners are wired 3-wire and never assert either line, so
 * "low" alone cannot mean "gone": we watch only the lines that were
 * asserted at open, and a watched line that drops is a disconnect. Lines
 * do not wake poll(), so while any line is watched deadline() includes a
 * check every SERIAL_LINE_CHECK_MS and tick() does it; on_ready() checks
 * too. Where the lines cannot be read (the ioctl is refused), nothing is
 * watched.
 *
 * Ownership: a tp_driver is created by create() and freed by destroy(); it
 * owns its struct sp_port while open. The sink struct is copied.
 */
#include "serial.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "drvutil.h"
#include "util.h"

#define SERIAL_PORT_MAX 256          /* configured name, with its NUL */
#define SERIAL_WHERE_MAX 200         /* port name as quoted in sentences */
#define SERIAL_READ_CHUNK 512
#define SERIAL_READS_PER_WAKEUP 16   /* 8 KiB, then let other devices run */
#define SERIAL_LINE_CHECK_MS 500
#define SERIAL_BAUD_MIN 1200
#define SERIAL_BAUD_MAX 921600
#define SERIAL_SENTENCE_MAX 512

struct tp_driver {
    tp_driver_sink sink;

    /* Configuration (configure/check). */
    char port[SERIAL_PORT_MAX];
    int baud;
    int data_bits;
    int stop_bits;
    enum sp_parity parity;
    enum sp_flowcontrol flow;
    tp_framer_config framer_cfg;
    bool checked; /* framer initialised from the current config */

    /* Open state. */
    struct sp_port *sp;        /* owned; NULL when closed or opened plainly */
    int fd;                    /* sp's fd or our own; -1 when closed */
    bool gone;                 /* disconnect reported; waiting for close() */
    int watched;               /* SP_SIG_DSR / SP_SIG_DCD asserted at open */
    int ever_watched;          /* lines seen asserted at any earlier open: a
                                  scanner that had DSR/CD and now has them
                                  low is switched off, not a 3-wire cable */
    int64_t next_line_check;   /* monotonic ms */
    char where[SERIAL_WHERE_MAX]; /* port name for sentences */

    tp_framer framer;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* A whole number from lo to hi (tp_drv_parse_uint: digits only, so "9600 "
 * or "+9600" are errors, not 9600). */
static bool parse_int_range(const char *s, long lo, long hi, int *out)
{
    uint64_t v;

    if (!tp_drv_parse_uint(s, (uint64_t)hi, &v) || v < (uint64_t)lo)
        return false;
    *out = (int)v;
    return true;
}

/* strerror() is not thread-safe; this is the XSI strerror_r. */
static const char *errno_text(int err, char *buf, size_t cap)
{
    if (strerror_r(err, buf, cap) != 0)
        snprintf(buf, cap, "error %d", err);
    return buf;
}

static bool errno_means_gone(int err)
{
    return err == ENOENT || err == ENODEV || err == ENXIO || err == EIO;
}

static char parity_letter(enum sp_parity p)
{
    switch (p) {
    case SP_PARITY_ODD:
        return 'O';
    case SP_PARITY_EVEN:
        return 'E';
    case SP_PARITY_MARK:
        return 'M';
    case SP_PARITY_SPACE:
        return 'S';
    default:
        return 'N';
    }
}

static const char *flow_name(enum sp_flowcontrol f)
{
    switch (f) {
    case SP_FLOWCONTROL_XONXOFF:
        return "xonxoff";
    case SP_FLOWCONTROL_RTSCTS:
        return "rtscts";
    case SP_FLOWCONTROL_DTRDSR:
        return "dtrdsr";
    default:
        return "none";
    }
}

static const char *suffix_name(tp_suffix s)
{
    switch (s) {
    case TP_SUFFIX_LF:
        return "LF";
    case TP_SUFFIX_CRLF:
        return "CRLF";
    case TP_SUFFIX_TAB:
        return "TAB";
    default:
        return "CR";
    }
}

/* "9600 8N1, flow control none" */
static void describe_line(const tp_driver *d, char *buf, size_t cap)
{
    snprintf(buf, cap, "%d %d%c%d, flow control %s", d->baud, d->data_bits,
             parity_letter(d->parity), d->stop_bits, flow_name(d->flow));
}

/* "suffix CR", "prefix framing with suffix CRLF", "STX/ETX framing" */
static void describe_framing(const tp_driver *d, char *buf, size_t cap)
{
    switch (d->framer_cfg.framing) {
    case TP_FRAMING_STX_ETX:
        snprintf(buf, cap, "STX/ETX framing");
        break;
    case TP_FRAMING_PREFIX:
        snprintf(buf, cap, "prefix framing with suffix %s", suffix_name(d->framer_cfg.suffix));
        break;
    default:
        snprintf(buf, cap, "suffix %s", suffix_name(d->framer_cfg.suffix));
        break;
    }
}

static void emit_status(tp_driver *d, tp_device_state state, const char *sentence)
{
    if (d->sink.on_status != NULL)
        d->sink.on_status(d->sink.user, state, sentence);
}

/* ------------------------------------------------------------------ */
/* Framer events -> sink                                               */
/* ------------------------------------------------------------------ */

static void on_frame(void *user, const tp_frame_event *ev)
{
    tp_driver *d = user;
    char sentence[SERIAL_SENTENCE_MAX];
    char framing[64];

    if (ev->kind == TP_FRAME_EV_FRAME) {
        tp_drv_deliver_scan(&d->sink, ev->data, ev->len, ev->symbology, ev->aim_id,
                            ev->last_ms);
        return;
    }

    describe_framing(d, framing, sizeof framing);
    switch (ev->kind) {
    case TP_FRAME_EV_OVERSIZE:
        snprintf(sentence, sizeof sentence,
                 "Serial scanner on %s: a scan longer than %zu bytes was discarded; check that "
                 "the scanner sends the configured %s after each code, or raise max_length.",
                 d->where, d->framer_cfg.max_length, framing);
        break;
    case TP_FRAME_EV_TIMEOUT:
        snprintf(sentence, sizeof sentence,
                 "Serial scanner on %s: an incomplete scan (%zu bytes, then %lld ms of silence) "
                 "was discarded; check that the scanner ends each code with the configured %s "
                 "and that baud and parity match (%d %d%c%d).",
                 d->where, ev->len, (long long)d->framer_cfg.frame_timeout_ms, framing, d->baud,
                 d->data_bits, parity_letter(d->parity), d->stop_bits);
        break;
    case TP_FRAME_EV_BAD_PREFIX:
        snprintf(sentence, sizeof sentence,
                 "Serial scanner on %s: a scan without the configured prefix was discarded; "
                 "check the scanner's prefix setting against prefix= in the config.",
                 d->where);
        break;
    default: /* TP_FRAME_EV_BAD_DATA */
        snprintf(sentence, sizeof sentence,
                 "Serial scanner on %s: a scan containing control characters was discarded; "
                 "check that the scanner's suffix matches the configured %s (CRLF versus CR is "
                 "the usual mix-up) and that baud and parity match (%d %d%c%d).",
                 d->where, framing, d->baud, d->data_bits, parity_letter(d->parity),
                 d->stop_bits);
        break;
    }
    tp_drv_report_error(&d->sink, sentence);
}

/* ------------------------------------------------------------------ */
/* Create / configure / check                                          */
/* ------------------------------------------------------------------ */

static tp_driver *serial_create(const tp_driver_sink *sink)
{
    tp_driver *d = calloc(1, sizeof *d);

    if (d == NULL)
        return NULL;
    if (sink != NULL)
        d->sink = *sink;
    d->baud = 9600;
    d->data_bits = 8;
    d->stop_bits = 1;
    d->parity = SP_PARITY_NONE;
    d->flow = SP_FLOWCONTROL_NONE;
    d->fd = -1;
    tp_framer_config_default(&d->framer_cfg);
    return d;
}

static tp_status serial_configure(tp_driver *d, const char *key, const char *value, char *msg,
                                  size_t msg_cap)
{
    tp_status st;
    int v;

    tp_buf_set(msg, msg_cap, "%s", "");
    if (d == NULL || key == NULL || value == NULL) {
        tp_buf_set(msg, msg_cap, "Serial scanner config: missing argument.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (d->fd >= 0) {
        tp_buf_set(msg, msg_cap,
                   "Serial scanner on %s: settings cannot change while the port is open; close it "
                   "first.",
                   d->where);
        return TP_ERR_STATE;
    }

    if (tp_drv_keyword_eq(key, "port")) {
        size_t n = strlen(value);

        if (value[0] != '/' || n >= sizeof d->port) {
            tp_buf_set(msg, msg_cap,
                       "port must be an absolute device path of fewer than %zu characters, such as "
                       "/dev/ttyS0, /dev/ttyACM0 or /dev/serial/by-id/usb-...; got '%.60s'.",
                       sizeof d->port, value);
            return TP_ERR_CONFIG;
        }
        memcpy(d->port, value, n + 1);
    } else if (tp_drv_keyword_eq(key, "baud")) {
        if (!parse_int_range(value, SERIAL_BAUD_MIN, SERIAL_BAUD_MAX, &v)) {
            tp_buf_set(msg, msg_cap,
                       "baud must be a whole number from %d to %d matching the scanner (9600 and "
                       "115200 are common); got '%.40s'.",
                       SERIAL_BAUD_MIN, SERIAL_BAUD_MAX, value);
            return TP_ERR_CONFIG;
        }
        d->baud = v;
    } else if (tp_drv_keyword_eq(key, "data_bits")) {
        if (!parse_int_range(value, 5, 8, &v)) {
            tp_buf_set(msg, msg_cap,
                       "data_bits must be 5, 6, 7 or 8 (scanners use 8 or 7); got '%.40s'.",
                       value);
            return TP_ERR_CONFIG;
        }
        d->data_bits = v;
    } else if (tp_drv_keyword_eq(key, "parity")) {
        if (tp_drv_keyword_eq(value, "none"))
            d->parity = SP_PARITY_NONE;
        else if (tp_drv_keyword_eq(value, "odd"))
            d->parity = SP_PARITY_ODD;
        else if (tp_drv_keyword_eq(value, "even"))
            d->parity = SP_PARITY_EVEN;
        else if (tp_drv_keyword_eq(value, "mark"))
            d->parity = SP_PARITY_MARK;
        else if (tp_drv_keyword_eq(value, "space"))
            d->parity = SP_PARITY_SPACE;
        else {
            tp_buf_set(msg, msg_cap,
                       "parity must be one of none, odd, even, mark, space; got '%.40s'.",
                       value);
            return TP_ERR_CONFIG;
        }
    } else if (tp_drv_keyword_eq(key, "stop_bits")) {
        if (!parse_int_range(value, 1, 2, &v)) {
            tp_buf_set(msg, msg_cap, "stop_bits must be 1 or 2; got '%.40s'.", value);
            return TP_ERR_CONFIG;
        }
        d->stop_bits = v;
    } else if (tp_drv_keyword_eq(key, "flow_control")) {
        if (tp_drv_keyword_eq(value, "none"))
            d->flow = SP_FLOWCONTROL_NONE;
        else if (tp_drv_keyword_eq(value, "xonxoff"))
            d->flow = SP_FLOWCONTROL_XONXOFF;
        else if (tp_drv_keyword_eq(value, "rtscts"))
            d->flow = SP_FLOWCONTROL_RTSCTS;
        else if (tp_drv_keyword_eq(value, "dtrdsr")) {
            /* Checked on Debian 12: sp_set_config() returns SP_ERR_SUPP for
             * DTR/DSR flow control on Linux. Say so now, not at every open. */
            tp_buf_set(msg, msg_cap,
                       "flow_control dtrdsr is not supported on Linux by libserialport; set the "
                       "scanner to rtscts or none and use that value.");
            return TP_ERR_CONFIG;
        } else {
            tp_buf_set(msg, msg_cap,
                       "flow_control must be one of none, xonxoff, rtscts; got '%.40s'.", value);
            return TP_ERR_CONFIG;
        }
    } else {
        st = tp_framer_config_set(&d->framer_cfg, key, value, msg, msg_cap);
        if (st == TP_ERR_NOT_FOUND) {
            tp_buf_set(msg, msg_cap,
                       "Unknown serial scanner key '%.40s'; the keys are port, baud, data_bits, "
                       "parity, stop_bits, flow_control, framing, suffix, prefix, aim, "
                       "max_length, frame_timeout_ms.",
                       key);
            return TP_ERR_NOT_FOUND;
        }
        if (st != TP_OK)
            return st;
    }
    d->checked = false;
    return TP_OK;
}

static tp_status serial_check(tp_driver *d, char *msg, size_t msg_cap)
{
    tp_status st;

    tp_buf_set(msg, msg_cap, "%s", "");
    if (d == NULL)
        return TP_ERR_INVALID_ARGUMENT;
    if (d->fd >= 0) {
        tp_buf_set(msg, msg_cap,
                   "Serial scanner on %s: the port is open; close it first.",
                   d->where);
        return TP_ERR_STATE;
    }
    if (d->port[0] == '\0') {
        tp_buf_set(msg, msg_cap,
                   "Serial scanner: port is not set; add port = /dev/ttyS0 (or the scanner's "
                   "/dev/serial/by-id/... name) to its section.");
        return TP_ERR_CONFIG;
    }
    st = tp_framer_init(&d->framer, &d->framer_cfg, on_frame, d, msg, msg_cap);
    if (st != TP_OK)
        return st;
    d->checked = true;
    return TP_OK;
}

/* ------------------------------------------------------------------ */
/* Open / close                                                        */
/* ------------------------------------------------------------------ */

static void release_port(tp_driver *d)
{
    if (d->sp != NULL) {
        sp_close(d->sp);
        sp_free_port(d->sp);
    } else if (d->fd >= 0) {
        (void)close(d->fd);
    }
    d->sp = NULL;
    d->fd = -1;
    d->gone = false;
    d->watched = 0;
}

/* The sentence and status for an errno from opening or configuring. */
static tp_status open_failure(tp_driver *d, int err, const char *what, char *msg, size_t cap)
{
    char etext[128];

    errno_text(err, etext, sizeof etext);
    if (errno_means_gone(err)) {
        tp_buf_set(msg, cap,
                   "Serial scanner on %s is not there (%s %s); check that it is plugged in and "
                   "powered - it is retried automatically.",
                   d->where, what, etext);
        return TP_ERR_NOT_FOUND;
    }
    if (err == EACCES || err == EPERM) {
        tp_buf_set(msg, cap,
                   "Serial scanner on %s: permission denied; add the POS user to the dialout "
                   "group or install the tillpoints udev rule.",
                   d->where);
        return TP_ERR_CONFIG;
    }
    if (err == EBUSY) {
        tp_buf_set(msg, cap,
                   "Serial scanner on %s is in use by another program; close it (a terminal "
                   "program, or ModemManager probing the port).",
                   d->where);
        return TP_ERR_BUSY;
    }
    if (err == ENOTTY) {
        tp_buf_set(msg, cap,
                   "Serial scanner on %s: the device refused serial-port control (%s); check that "
                   "port names the scanner's tty, a pseudo-terminal or a socat/ser2net link, "
                   "not a file.",
                   d->where, etext);
        return TP_ERR_UNSUPPORTED;
    }
    tp_buf_set(msg, cap, "Serial scanner on %s: %s failed (%s); check the port name and the cable.",
               d->where, what, etext);
    return TP_ERR_INTERNAL;
}

/* Applies the configured line settings through libserialport. */
static tp_status apply_config(tp_driver *d, char *msg, size_t cap)
{
    struct sp_port_config *cfg = NULL;
    enum sp_return r;
    char line[96];

    if (sp_new_config(&cfg) != SP_OK) {
        tp_buf_set(msg, cap, "Serial scanner on %s: out of memory while configuring.", d->where);
        return TP_ERR_NO_MEMORY;
    }
    r = sp_set_config_baudrate(cfg, d->baud);
    if (r == SP_OK)
        r = sp_set_config_bits(cfg, d->data_bits);
    if (r == SP_OK)
        r = sp_set_config_parity(cfg, d->parity);
    if (r == SP_OK)
        r = sp_set_config_stopbits(cfg, d->stop_bits);
    if (r == SP_OK)
        r = sp_set_config_flowcontrol(cfg, d->flow);
    /* Many scanners take power or "host ready" from DTR/RTS: assert the
     * ones flow control does not own. */
    if (r == SP_OK)
        r = sp_set_config_dtr(cfg, SP_DTR_ON);
    if (r == SP_OK && d->flow != SP_FLOWCONTROL_RTSCTS)
        r = sp_set_config_rts(cfg, SP_RTS_ON);
    if (r == SP_OK)
        r = sp_set_config(d->sp, cfg);
    sp_free_config(cfg);
    if (r == SP_OK)
        return TP_OK;
    if (r == SP_ERR_FAIL) {
        int err = sp_last_error_code();

        if (errno_means_gone(err))
            return open_failure(d, err, "configuring:", msg, cap);
    }
    describe_line(d, line, sizeof line);
    tp_buf_set(msg, cap,
               "Serial scanner on %s refused the settings %s; check that the adapter supports "
               "them and that baud, data_bits, parity, stop_bits and flow_control match the "
               "scanner.",
               d->where, line);
    return TP_ERR_CONFIG;
}

/* VMIN=1/VTIME=0 so that an empty non-blocking read is EAGAIN and read()
 * == 0 means end of file; O_NONBLOCK and FD_CLOEXEC (the host may fork).
 * RTS/CTS: Debian 12's libserialport 0.1.1 returns SP_OK for
 * SP_FLOWCONTROL_RTSCTS but leaves CRTSCTS clear in the termios it writes
 * (seen with strace), so the bit is set here. */
static tp_status prepare_fd(tp_driver *d, char *msg, size_t cap)
{
    struct termios t;
    int fl;

    if (tcgetattr(d->fd, &t) != 0)
        return open_failure(d, errno, "reading the line settings:", msg, cap);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (d->flow == SP_FLOWCONTROL_RTSCTS)
        t.c_cflag |= CRTSCTS;
    else
        t.c_cflag &= ~(tcflag_t)CRTSCTS;
    if (tcsetattr(d->fd, TCSANOW, &t) != 0)
        return open_failure(d, errno, "setting the read mode:", msg, cap);
    fl = fcntl(d->fd, F_GETFL);
    if (fl < 0 || fcntl(d->fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return open_failure(d, errno, "making reads non-blocking:", msg, cap);
    fl = fcntl(d->fd, F_GETFD);
    if (fl >= 0)
        (void)fcntl(d->fd, F_SETFD, fl | FD_CLOEXEC);
    /* Keep ModemManager and terminal programs from opening the port and
     * stealing scans. Best effort: root can still open it. */
    (void)ioctl(d->fd, TIOCEXCL);
    return TP_OK;
}

/* The modem lines as SP_SIG_* bits, through libserialport or (a port
 * opened plainly) TIOCMGET; false with *err when they cannot be read. */
static bool read_signals(tp_driver *d, int *sig, int *err)
{
    int m;

    if (d->sp != NULL) {
        enum sp_signal s;

        if (sp_get_signals(d->sp, &s) == SP_OK) {
            *sig = (int)s;
            return true;
        }
        *err = sp_last_error_code();
        return false;
    }
    if (ioctl(d->fd, TIOCMGET, &m) != 0) {
        *err = errno;
        return false;
    }
    *sig = ((m & TIOCM_DSR) ? SP_SIG_DSR : 0) | ((m & TIOCM_CD) ? SP_SIG_DCD : 0);
    return true;
}

static speed_t baud_constant(int baud)
{
    switch (baud) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 921600: return B921600;
    default: return B0;
    }
}

/* A port libserialport will not take (see "Virtual ports" above): opened
 * and configured here when it is a tty, refused with a sentence when not. */
static tp_status open_plain(tp_driver *d, const char *resolved, char *msg, size_t cap)
{
    struct termios t;
    struct stat sb;
    speed_t speed;
    int fd = open(resolved, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return open_failure(d, errno, "opening:", msg, cap);
    if (fstat(fd, &sb) != 0 || !S_ISCHR(sb.st_mode) || !isatty(fd) || tcgetattr(fd, &t) != 0) {
        bool chr = fstat(fd, &sb) == 0 && S_ISCHR(sb.st_mode);

        (void)close(fd);
        tp_buf_set(msg, cap,
                   "Serial scanner on %s: this is not a serial port (%s); set port to the "
                   "scanner's tty (/dev/ttyUSB0, /dev/serial/by-id/...), or to a pseudo-terminal "
                   "such as a socat or ser2net link.",
                   d->where, chr ? "a device that is not a terminal" : "not a device at all");
        return TP_ERR_CONFIG;
    }
    cfmakeraw(&t);
    t.c_cflag |= CREAD | CLOCAL;
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CMSPAR | CSTOPB);
    t.c_cflag |= d->data_bits == 5 ? CS5 : d->data_bits == 6 ? CS6 : d->data_bits == 7 ? CS7 : CS8;
    if (d->parity != SP_PARITY_NONE)
        t.c_cflag |= PARENB;
    if (d->parity == SP_PARITY_ODD || d->parity == SP_PARITY_MARK)
        t.c_cflag |= PARODD;
    if (d->parity == SP_PARITY_MARK || d->parity == SP_PARITY_SPACE)
        t.c_cflag |= CMSPAR;
    if (d->stop_bits == 2)
        t.c_cflag |= CSTOPB;
    if (d->flow == SP_FLOWCONTROL_XONXOFF)
        t.c_iflag |= IXON | IXOFF;
    speed = baud_constant(d->baud);
    if (speed != B0) {
        (void)cfsetispeed(&t, speed);
        (void)cfsetospeed(&t, speed);
    }
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        int err = errno;

        (void)close(fd);
        return open_failure(d, err, "configuring:", msg, cap);
    }
    d->fd = fd;
    return TP_OK;
}

static tp_status serial_open(tp_driver *d, int64_t now_ms, char *msg, size_t msg_cap)
{
    char resolved[PATH_MAX];
    char line[96];
    char sentence[SERIAL_SENTENCE_MAX];
    int sig, err;
    enum sp_return r;
    tp_status st;

    tp_buf_set(msg, msg_cap, "%s", "");
    if (d == NULL)
        return TP_ERR_INVALID_ARGUMENT;
    if (d->fd >= 0) {
        tp_buf_set(msg, msg_cap, "Serial scanner on %s is already open.", d->where);
        return TP_ERR_STATE;
    }
    if (!d->checked) {
        st = serial_check(d, msg, msg_cap);
        if (st != TP_OK)
            return st;
    }
    snprintf(d->where, sizeof d->where, "%.150s", d->port);

    if (realpath(d->port, resolved) == NULL) {
        err = errno;
        if (err == ENOENT) {
            tp_buf_set(msg, msg_cap,
                       "Serial scanner port %s does not exist; check that the scanner is plugged "
                       "in and that the name is right (ls /dev/serial/by-id/) - it is retried "
                       "automatically.",
                       d->port);
            return TP_ERR_NOT_FOUND;
        }
        return open_failure(d, err, "resolving the name:", msg, msg_cap);
    }
    if (strcmp(resolved, d->port) != 0)
        snprintf(d->where, sizeof d->where, "%.150s (%.40s)", d->port, resolved);

    r = sp_get_port_by_name(resolved, &d->sp);
    if (r != SP_OK) {
        d->sp = NULL;
        if (r == SP_ERR_MEM) {
            tp_buf_set(msg, msg_cap, "Serial scanner on %s: out of memory.", d->where);
            return TP_ERR_NO_MEMORY;
        }
        if (access(resolved, F_OK) != 0) {
            tp_buf_set(msg, msg_cap,
                       "Serial scanner port %s disappeared while opening; check that the scanner "
                       "is plugged in - it is retried automatically.",
                       d->where);
            return TP_ERR_NOT_FOUND;
        }
        /* No /sys/class/tty entry: a PTY or a bridge, or not a tty. */
        st = open_plain(d, resolved, msg, msg_cap);
    } else {
        r = sp_open(d->sp, SP_MODE_READ);
        err = (r == SP_ERR_FAIL) ? sp_last_error_code() : ENOTTY;
        if (r != SP_OK) {
            sp_free_port(d->sp);
            d->sp = NULL;
            /* A tty whose modem-line ioctls are refused: open it plainly. */
            if (err != ENOTTY && err != EINVAL)
                return open_failure(d, err, "opening:", msg, msg_cap);
            st = open_plain(d, resolved, msg, msg_cap);
        } else if (sp_get_port_handle(d->sp, &d->fd) != SP_OK || d->fd < 0) {
            release_port(d);
            tp_buf_set(msg, msg_cap,
                       "Serial scanner on %s: libserialport gave no file descriptor.", d->where);
            return TP_ERR_INTERNAL;
        } else {
            st = apply_config(d, msg, msg_cap);
        }
    }
    if (st == TP_OK)
        st = prepare_fd(d, msg, msg_cap);
    if (st != TP_OK) {
        release_port(d);
        return st;
    }
    /* Whatever the line picked up before we configured it is noise. */
    if (d->sp != NULL)
        (void)sp_flush(d->sp, SP_BUF_INPUT);
    else
        (void)tcflush(d->fd, TCIFLUSH);

    d->watched = 0;
    if (read_signals(d, &sig, &err))
        d->watched = sig & (SP_SIG_DSR | SP_SIG_DCD);
    if (d->ever_watched & ~d->watched) {
        /* It had the line before and has not now: still off. Reopen later. */
        release_port(d);
        tp_buf_set(msg, msg_cap,
                   "Serial scanner on %s: %s is still low; the scanner is switched off or "
                   "unplugged.",
                   d->where, (d->ever_watched & ~d->watched & SP_SIG_DSR) ? "DSR" : "CD");
        return TP_ERR_NOT_FOUND;
    }
    d->ever_watched |= d->watched;
    d->next_line_check = now_ms + SERIAL_LINE_CHECK_MS;
    d->gone = false;
    tp_framer_reset(&d->framer);

    describe_line(d, line, sizeof line);
    snprintf(sentence, sizeof sentence, "Serial scanner on %s is online (%s).", d->where, line);
    emit_status(d, TP_DEVICE_ONLINE, sentence);
    return TP_OK;
}

static void serial_close(tp_driver *d)
{
    if (d == NULL)
        return;
    release_port(d);
    if (d->checked)
        tp_framer_reset(&d->framer);
}

static void serial_destroy(tp_driver *d)
{
    if (d == NULL)
        return;
    serial_close(d);
    free(d);
}

/* ------------------------------------------------------------------ */
/* Running                                                             */
/* ------------------------------------------------------------------ */

static int serial_fd(const tp_driver *d, short *events)
{
    if (events != NULL)
        *events = POLLIN;
    if (d == NULL || d->fd < 0)
        return -1;
    return d->fd;
}

/* Reports the disconnect once and returns TP_ERR_NOT_FOUND. */
static tp_status lost(tp_driver *d, const char *reason)
{
    if (!d->gone) {
        char sentence[SERIAL_SENTENCE_MAX];

        d->gone = true;
        snprintf(sentence, sizeof sentence,
                 "Serial scanner on %s went offline (%s); check the cable and that the scanner "
                 "is powered - it is reopened automatically when it returns.",
                 d->where, reason);
        emit_status(d, TP_DEVICE_OFFLINE, sentence);
    }
    return TP_ERR_NOT_FOUND;
}

/* NULL while the watched modem lines are up, else why the device is gone. */
static const char *line_trouble(tp_driver *d, char *buf, size_t cap)
{
    int sig, err = 0;
    int down;

    if (d->watched == 0)
        return NULL;
    if (!read_signals(d, &sig, &err)) {
        char etext[80];

        if (!errno_means_gone(err))
            return NULL; /* unreadable is not proof of absence */
        snprintf(buf, cap, "the modem lines stopped answering: %s",
                 errno_text(err, etext, sizeof etext));
        return buf;
    }
    down = d->watched & ~sig;
    if (down == (SP_SIG_DSR | SP_SIG_DCD))
        return "DSR and CD dropped";
    if (down == SP_SIG_DSR)
        return "DSR dropped";
    if (down == SP_SIG_DCD)
        return "CD dropped";
    return NULL;
}

static tp_status serial_on_ready(tp_driver *d, short revents, int64_t now_ms)
{
    unsigned char buf[SERIAL_READ_CHUNK];
    char why[128];
    const char *trouble;
    int i;

    if (d == NULL || d->fd < 0)
        return TP_ERR_STATE;
    if (d->gone)
        return TP_ERR_NOT_FOUND;

    for (i = 0; i < SERIAL_READS_PER_WAKEUP; i++) {
        ssize_t n = read(d->fd, buf, sizeof buf);

        if (n > 0) {
            tp_framer_feed(&d->framer, buf, (size_t)n, now_ms);
            if ((size_t)n < sizeof buf)
                break; /* drained; a level-triggered poll brings us back */
            continue;
        }
        if (n == 0)
            return lost(d, "the port hung up");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        {
            char etext[96];

            snprintf(why, sizeof why, "read failed: %s", errno_text(errno, etext, sizeof etext));
        }
        return lost(d, why);
    }
    if (revents & (POLLHUP | POLLERR | POLLNVAL))
        return lost(d, "the port hung up");

    trouble = line_trouble(d, why, sizeof why);
    d->next_line_check = now_ms + SERIAL_LINE_CHECK_MS;
    if (trouble != NULL)
        return lost(d, trouble);
    return TP_OK;
}

static int64_t serial_deadline(const tp_driver *d)
{
    int64_t framer_dl;

    if (d == NULL || d->fd < 0 || d->gone)
        return -1;
    framer_dl = tp_framer_deadline(&d->framer);
    if (d->watched == 0)
        return framer_dl;
    if (framer_dl < 0 || d->next_line_check < framer_dl)
        return d->next_line_check;
    return framer_dl;
}

static void serial_tick(tp_driver *d, int64_t now_ms)
{
    if (d == NULL || d->fd < 0 || d->gone)
        return;
    tp_framer_tick(&d->framer, now_ms);
    if (d->watched != 0 && now_ms >= d->next_line_check) {
        char why[128];
        const char *trouble;

        d->next_line_check = now_ms + SERIAL_LINE_CHECK_MS;
        trouble = line_trouble(d, why, sizeof why);
        if (trouble != NULL)
            (void)lost(d, trouble);
    }
}

static tp_status serial_health(tp_driver *d, char *msg, size_t msg_cap)
{
    struct pollfd pfd;
    char why[128];
    const char *trouble;

    tp_buf_set(msg, msg_cap, "%s", "");
    if (d == NULL)
        return TP_ERR_INVALID_ARGUMENT;
    if (d->fd < 0) {
        tp_buf_set(msg, msg_cap,
                   "Serial scanner on %s is not open; check that it is plugged in and that port is "
                   "right.",
                   d->port[0] != '\0' ? d->port : "(no port set)");
        return TP_ERR_STATE;
    }
    if (d->gone) {
        tp_buf_set(msg, msg_cap,
                   "Serial scanner on %s is offline; check the cable and that the scanner is "
                   "powered.",
                   d->where);
        return TP_ERR_NOT_FOUND;
    }
    pfd.fd = d->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))) {
        tp_buf_set(msg, msg_cap,
                   "Serial scanner on %s hung up; check the cable and that the scanner is powered.",
                   d->where);
        return TP_ERR_NOT_FOUND;
    }
    trouble = line_trouble(d, why, sizeof why);
    if (trouble != NULL) {
        tp_buf_set(msg, msg_cap,
                   "Serial scanner on %s looks unplugged (%s); check the cable and that the "
                   "scanner is powered.",
                   d->where, trouble);
        return TP_ERR_NOT_FOUND;
    }
    return TP_OK;
}

const tp_driver_ops tp_serial_driver = {
    .name = "serial",
    .create = serial_create,
    .configure = serial_configure,
    .check = serial_check,
    .open = serial_open,
    .fd = serial_fd,
    .on_ready = serial_on_ready,
    .deadline = serial_deadline,
    .tick = serial_tick,
    .health = serial_health,
    .close = serial_close,
    .destroy = serial_destroy,
};
