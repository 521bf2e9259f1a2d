/*
 * pty_harness.c — the private-mount-namespace + PTY-bind + LD_PRELOAD seam
 * harness for the serial scanner tests and benchmark; see pty_harness.h.
 *
 * Linked into test_serial, test_scanners and bench_serial only. It uses no
 * test framework so the benchmark can use it too: failures come back as
 * return values, with errno or a line on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare(), CLONE_NEWNS, ptsname_r() */
#endif

#include "pty_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

bool ph_inside(void)
{
    const char *inside = getenv("TP_SERIAL_INSIDE");

    return inside != NULL && strcmp(inside, "1") == 0;
}

int ph_skip_or_fail(const char *prog, const char *why)
{
    const char *allow = getenv("TP_ALLOW_SKIP");

    if (allow != NULL && strcmp(allow, "1") == 0) {
        printf("SKIP %s: %s (TP_ALLOW_SKIP=1)\n", prog, why);
        return 0;
    }
    fprintf(stderr,
            "FAIL %s: cannot run the PTY serial tests: %s. They need root and a private mount "
            "namespace; set TP_ALLOW_SKIP=1 to skip them where that is impossible.\n",
            prog, why);
    return 1;
}

/* The libasan.so this binary runs with, if any: it must stay first in
 * LD_PRELOAD, before the seam, or ASan refuses to start. */
static bool find_asan(char *out, size_t cap)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[PATH_MAX + 128];
    bool found = false;

    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *p = strchr(line, '/');

        if (p != NULL && strstr(p, "/libasan.so") != NULL) {
            p[strcspn(p, "\n")] = '\0';
            snprintf(out, cap, "%s", p);
            found = true;
        }
    }
    fclose(f);
    return found;
}

int ph_reexec_inside(const char *prog, char **argv)
{
    char seam[PATH_MAX], exe[PATH_MAX], asan[PATH_MAX], preload[2 * PATH_MAX + 2];
    const char *env_seam = getenv("TP_SERIAL_SEAM");
    ssize_t n;

    if (geteuid() != 0)
        return ph_skip_or_fail(prog, "not running as root");
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "FAIL %s: cannot read /proc/self/exe.\n", prog);
        return 1;
    }
    exe[n] = '\0';
    if (env_seam != NULL && *env_seam != '\0') {
        snprintf(seam, sizeof seam, "%s", env_seam);
    } else {
        const char *slash = strrchr(exe, '/');

        snprintf(seam, sizeof seam, "%.*s/../serial_seam.so", (int)(slash - exe), exe);
    }
    if (access(seam, R_OK) != 0) {
        fprintf(stderr,
                "FAIL %s: the test seam %s is missing; build it (make) or point "
                "TP_SERIAL_SEAM at serial_seam.so.\n",
                prog, seam);
        return 1;
    }
    if (unshare(CLONE_NEWNS) != 0) {
        char why[128];

        snprintf(why, sizeof why, "unshare(CLONE_NEWNS) failed: %s", strerror(errno));
        return ph_skip_or_fail(prog, why);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        char why[128];

        snprintf(why, sizeof why, "making / private failed: %s", strerror(errno));
        return ph_skip_or_fail(prog, why);
    }
    if (find_asan(asan, sizeof asan))
        snprintf(preload, sizeof preload, "%s:%s", asan, seam);
    else
        snprintf(preload, sizeof preload, "%s", seam);
    setenv("LD_PRELOAD", preload, 1);
    setenv("TP_SERIAL_INSIDE", "1", 1);
    execv(exe, argv);
    fprintf(stderr, "FAIL %s: re-exec of %s failed: %s\n", prog, exe, strerror(errno));
    return 1;
}

/* A /dev/ttyS<N> with a sysfs entry: ttyS7 if there, else the lowest. */
static bool pick_node(ph_env *env, bool allow_placeholder)
{
    DIR *dir = opendir("/sys/class/tty");
    const struct dirent *e;
    int best = -1, best_with_node = -1;
    struct stat st;
    int fd;

    if (dir == NULL)
        return false;
    while ((e = readdir(dir)) != NULL) {
        char path[300];
        int num;
        char extra;

        if (sscanf(e->d_name, "ttyS%d%c", &num, &extra) != 1 || num < 0)
            continue;
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        if (stat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
            if (best_with_node < 0 || num == 7 || (best_with_node != 7 && num < best_with_node))
                best_with_node = num;
        } else if (best < 0 || num < best) {
            best = num;
        }
    }
    closedir(dir);
    if (best_with_node >= 0) {
        snprintf(env->node, sizeof env->node, "/dev/ttyS%d", best_with_node);
        return true;
    }
    if (best < 0 || !allow_placeholder)
        return false;
    /* sysfs knows the port but /dev has no node: a placeholder file to
     * bind over (visible on the host's /dev until teardown removes it).
     * Another run of the suite on this machine may hold the lowest one
     * (O_EXCL says so): take the next port sysfs knows that has none. */
    for (int num = best; num < best + 64; num++) {
        char sys[64];

        snprintf(sys, sizeof sys, "/sys/class/tty/ttyS%d", num);
        snprintf(env->node, sizeof env->node, "/dev/ttyS%d", num);
        if (access(sys, F_OK) != 0 || lstat(env->node, &st) == 0)
            continue;
        fd = open(env->node, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
            continue;
        close(fd);
        env->placeholder = true;
        return true;
    }
    env->node[0] = '\0';
    return false;
}

int ph_env_setup(ph_env *env, const char *prog, bool allow_placeholder)
{
    memset(env, 0, sizeof *env);
    if (!pick_node(env, allow_placeholder)) {
        fprintf(stderr, "FAIL %s: no /sys/class/tty/ttyS* entry to bind a PTY over%s.\n", prog,
                allow_placeholder ? "" : " (with a /dev node)");
        return -1;
    }
    snprintf(env->tmpdir, sizeof env->tmpdir, "/tmp/tillpoints-serial-XXXXXX");
    if (mkdtemp(env->tmpdir) == NULL) {
        fprintf(stderr, "FAIL %s: mkdtemp: %s\n", prog, strerror(errno));
        if (env->placeholder)
            (void)unlink(env->node);
        env->tmpdir[0] = '\0';
        return -1;
    }
    snprintf(env->lines, sizeof env->lines, "%s/lines", env->tmpdir);
    setenv("TP_SERIAL_SEAM_LINES", env->lines, 1);
    return 0;
}

void ph_env_teardown(ph_env *env)
{
    if (env->node[0] != '\0')
        (void)umount2(env->node, MNT_DETACH);
    if (env->placeholder)
        (void)unlink(env->node);
    env->placeholder = false;
    if (env->tmpdir[0] != '\0') {
        (void)unlink(env->lines);
        (void)rmdir(env->tmpdir);
    }
}

int ph_plug(const ph_env *env)
{
    char slave[64];
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    int err;

    if (master < 0)
        return -1;
    if (grantpt(master) != 0 || unlockpt(master) != 0 ||
        ptsname_r(master, slave, sizeof slave) != 0)
        goto fail;
    (void)umount2(env->node, MNT_DETACH); /* a previous cable, if any */
    if (mount(slave, env->node, NULL, MS_BIND, NULL) != 0)
        goto fail;
    return master;
fail:
    err = errno;
    close(master);
    errno = err;
    return -1;
}

void ph_unplug(int *master)
{
    if (*master >= 0)
        close(*master);
    *master = -1;
}

int ph_send(int master, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(master, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ph_set_lines(const ph_env *env, const char *text)
{
    FILE *f = fopen(env->lines, "w");

    if (f == NULL)
        return -1;
    if (fputs(text, f) == EOF) {
        fclose(f);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}
