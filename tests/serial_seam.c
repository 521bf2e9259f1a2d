/*
 * serial_seam.c — an LD_PRELOAD shared object that gives a pseudo-terminal
 * the modem-control lines a real serial port has, so tests/test_serial.c
 * and bench/bench_serial.c can drive the REAL libserialport 0.1.1 (and the
 * real drivers/serial.c) over a PTY.
 *
 * It is a mock only at the true hardware edge. A PTY carries bytes exactly
 * like a UART does, but it has no RS-232 control lines, so the kernel
 * answers the modem-line ioctls with ENOTTY and sp_open() gives up (docs/DESIGN.md
 * §7). This object intercepts ioctl() and, for a file descriptor that is a
 * PTY slave (character device, Unix98 pty slave majors 136..143) and only
 * for these requests, answers them itself:
 *
 *   TIOCMGET                      the line state below
 *   TIOCMSET, TIOCMBIS, TIOCMBIC  update DTR/RTS (the lines we drive)
 *
 * Every other ioctl, and every ioctl on any other fd, goes to the real
 * ioctl() untouched (found with dlsym(RTLD_NEXT)). What libserialport
 * 0.1.1 issues on Linux was checked with strace: sp_open() does TCGETS,
 * TIOCMGET, TCSETS, TIOCMGET (and TIOCMBIS/TIOCMBIC when a config asks for
 * DTR/RTS); sp_set_config() does the same; sp_get_signals() does TIOCMGET.
 * Only the TIOCM* ones fail on a PTY, so only they are answered here.
 *
 * Input lines (the ones the scanner drives: DSR, CD, CTS, RI) come from a
 * control file named by the environment variable TP_SERIAL_SEAM_LINES. It
 * is re-read on every TIOCMGET, so a test changes a line simply by
 * rewriting the file — no signals, no shared memory. Its content is
 * whitespace-separated words `dsr=0|1`, `cd=0|1`, `cts=0|1`, `ri=0|1`;
 * a line not mentioned, a missing variable or a missing file means the
 * healthy default: DSR, CD and CTS asserted, RI not. Example:
 *
 *     printf 'dsr=0 cd=0\n' > "$TP_SERIAL_SEAM_LINES"   # cable pulled
 *
 * Output lines (DTR, RTS) are kept in one process-wide int: the seam is a
 * test fixture standing in for a UART's modem-control register, which is
 * global state by nature. They start asserted, as the kernel does on open.
 *
 * Build: gcc -fPIC -shared -o serial_seam.so tests/serial_seam.c -ldl
 * Use:   LD_PRELOAD=/path/serial_seam.so (the tests set this themselves
 *        when they re-exec; see tests/test_serial.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define UNIX98_PTY_SLAVE_MAJOR_FIRST 136
#define UNIX98_PTY_SLAVE_MAJOR_LAST 143

typedef int (*real_ioctl_fn)(int, unsigned long, ...);

static int seam_out_lines = TIOCM_DTR | TIOCM_RTS;

static int is_pty_slave(int fd)
{
    struct stat st;
    unsigned int maj;

    if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode))
        return 0;
    maj = major(st.st_rdev);
    return maj >= UNIX98_PTY_SLAVE_MAJOR_FIRST && maj <= UNIX98_PTY_SLAVE_MAJOR_LAST;
}

/* One word "name=0|1" of the control file applied to *lines. */
static void apply_word(const char *w, int *lines)
{
    static const struct {
        const char *name;
        int bit;
    } names[] = {{"dsr", TIOCM_DSR}, {"cd", TIOCM_CD}, {"cts", TIOCM_CTS}, {"ri", TIOCM_RI}};
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].name);

        if (strncmp(w, names[i].name, n) == 0 && w[n] == '=') {
            if (w[n + 1] == '1')
                *lines |= names[i].bit;
            else if (w[n + 1] == '0')
                *lines &= ~names[i].bit;
            return;
        }
    }
}

static int input_lines(void)
{
    int lines = TIOCM_DSR | TIOCM_CD | TIOCM_CTS;
    const char *path = getenv("TP_SERIAL_SEAM_LINES");
    char buf[256];
    char *save = NULL;
    char *w;
    ssize_t n;
    int fd;

    if (path == NULL || *path == '\0')
        return lines;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lines;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return lines;
    buf[n] = '\0';
    for (w = strtok_r(buf, " \t\r\n", &save); w != NULL; w = strtok_r(NULL, " \t\r\n", &save))
        apply_word(w, &lines);
    return lines;
}

int ioctl(int fd, unsigned long request, ...)
{
    static real_ioctl_fn real_ioctl;
    va_list ap;
    void *arg;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);

    if (real_ioctl == NULL) {
        real_ioctl = (real_ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
        if (real_ioctl == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }

    if ((request == TIOCMGET || request == TIOCMSET || request == TIOCMBIS ||
         request == TIOCMBIC) &&
        is_pty_slave(fd)) {
        int *bits = arg;
        const int out_mask = TIOCM_DTR | TIOCM_RTS;

        if (bits == NULL) {
            errno = EFAULT;
            return -1;
        }
        switch (request) {
        case TIOCMGET:
            *bits = (seam_out_lines & out_mask) | input_lines();
            return 0;
        case TIOCMSET:
            seam_out_lines = *bits & out_mask;
            return 0;
        case TIOCMBIS:
            seam_out_lines |= *bits & out_mask;
            return 0;
        default: /* TIOCMBIC */
            seam_out_lines &= ~(*bits & out_mask);
            return 0;
        }
    }
    return real_ioctl(fd, request, arg);
}
