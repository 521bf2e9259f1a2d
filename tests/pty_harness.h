/*
 * pty_harness.h — the PTY "scanner cable" shared by tests/test_serial.c,
 * tests/test_scanners.c and bench/bench_serial.c (docs/DESIGN.md §7).
 *
 * libserialport 0.1.1 accepts only a /dev/<name> with a /sys/class/tty/
 * <name> entry and refuses a PTY because TIOCMGET fails. So a program that
 * wants to drive the real library over a PTY, as root:
 *
 *   1. ph_reexec_inside(): outside, makes a private mount namespace
 *      (unshare(CLONE_NEWNS), the syscall behind `unshare -m`, plus a
 *      recursive MS_PRIVATE remount of / so nothing propagates back to the
 *      host) and re-executes itself with LD_PRELOAD=serial_seam.so (which
 *      answers the modem-line ioctls for PTY slaves; tests/serial_seam.c).
 *      When the binary runs under AddressSanitizer, libasan.so is put
 *      first in LD_PRELOAD, before the seam, or ASan refuses to start.
 *      ph_inside() tells the re-executed copy apart (TP_SERIAL_INSIDE=1).
 *   2. ph_env_setup(): inside, picks a /dev/ttyS<N> to bind PTY slaves over
 *      (ttyS7 if it has a sysfs entry and a node, else the lowest such N;
 *      only when sysfs knows a port that /dev lacks, and the caller allows
 *      it, a placeholder regular file is created on the host's /dev —
 *      which a mount namespace does not isolate — and removed by
 *      ph_env_teardown()), makes a scratch directory and points the seam's
 *      control file (TP_SERIAL_SEAM_LINES) into it.
 *   3. ph_plug() binds a fresh PTY's slave over the node (unmounting a
 *      previous cable first) and returns the master: what is written to it
 *      is what the scanner sends. ph_unplug() closes the master: the slave
 *      sees a hang-up. The stale bind stays, as a dead /dev node would
 *      until udev removed it. The bind is private and vanishes with the
 *      namespace.
 *   4. ph_set_lines() rewrites the seam's control file ("dsr=0 cd=1") to
 *      drop or raise the modem lines the scanner drives.
 *
 * Environment:
 *   TP_SERIAL_SEAM   path of serial_seam.so (default: ../serial_seam.so
 *                    next to the binary's directory, i.e. $(BUILD)/)
 *   TP_ALLOW_SKIP=1  when not root or no mount namespace can be made,
 *                    print a SKIP line and exit 0; without it, fail.
 *
 * The harness keeps no global state: everything lives in the ph_env the
 * caller owns. Functions that can fail return -1 (or false) with errno
 * set where a system call failed, and never abort: each caller decides
 * whether that is a failed assertion (tests) or a message (bench).
 */
#ifndef TP_PTY_HARNESS_H
#define TP_PTY_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ph_env {
    char node[64];          /* /dev/ttyS<N> the PTY slaves are bound over */
    char tmpdir[64];        /* scratch: the seam's control file, symlinks */
    char lines[PATH_MAX];   /* the seam's control file (in tmpdir) */
    bool placeholder;       /* node is a file we created; removed at teardown */
} ph_env;

/* True in the copy that ph_reexec_inside() started. */
bool ph_inside(void);

/* When the environment cannot host the PTY tests (not root, no
 * namespace): with TP_ALLOW_SKIP=1 prints "SKIP <prog>: <why>" and returns
 * 0, else prints a FAIL line saying what is needed and returns 1. */
int ph_skip_or_fail(const char *prog, const char *why);

/* Outside the namespace: makes one and re-executes argv[0]'s binary in it
 * with the seam preloaded. Returns only on failure (or a skip), with the
 * exit code main() should return. */
int ph_reexec_inside(const char *prog, char **argv);

/* Inside: picks the node and makes the scratch directory and the seam's
 * control file name (exported as TP_SERIAL_SEAM_LINES). Returns 0, or -1
 * after printing why on stderr. */
int ph_env_setup(ph_env *env, const char *prog, bool allow_placeholder);

/* Unmounts the last cable, removes a placeholder node, the control file
 * and the scratch directory (which must otherwise be empty). */
void ph_env_teardown(ph_env *env);

/* Plugs a new PTY "scanner" in at env->node: returns the master fd, or -1
 * with errno set. */
int ph_plug(const ph_env *env);

/* Pulls the cable (closes *master, sets it to -1); safe when unplugged. */
void ph_unplug(int *master);

/* Writes all of data to the master: 0, or -1 with errno set. */
int ph_send(int master, const void *data, size_t len);

/* Replaces the seam's control file with text ("dsr=0 cd=1\n"): 0 or -1. */
int ph_set_lines(const ph_env *env, const char *text);

#endif
