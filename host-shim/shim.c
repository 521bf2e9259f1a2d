/*
 * shim.c — tillpoints-shim, the JSON-lines bridge for POS software that
 * cannot load a C plugin (Java, .NET, Python, web): it loads tillpoints.so
 * through host.h and serves one client at a time, over stdio (default) or
 * a Unix socket (--socket PATH). The protocol itself lives in protocol.c;
 * this file is only the I/O loop.
 *
 * The loop never sleeps and never waits on the plugin for a checkout call:
 * one poll() covers the client, the plugin's wake-up pipe (events are
 * dispatched as soon as it is readable), the listening socket and a
 * signalfd for SIGINT/SIGTERM/SIGHUP. Admin calls (member_add/get, flush)
 * are blocking by the ABI's design and hold the loop for their duration.
 *
 * Output is queued in a buffer bounded by OUT_MAX and written without
 * blocking. A client that does not read its replies while the buffer
 * overflows is dropped (socket mode: closed, its open transactions
 * cancelled, the next client accepted; stdio mode: the shim exits with
 * status 1). Committed awards are never lost by dropping a client: every
 * complete() already handed the award to the plugin's writer.
 *
 * Shutdown (a signal, or end of input): no new request is read and no new
 * client accepted; the client's open transactions are cancelled; then the
 * plugin is destroyed while the client is still attached. destroy() waits
 * for the plugin's writer at most its [limits] shutdown_deadline_ms and
 * delivers every event still pending, including one for each receipt it
 * could not save in time (award.deferred: kept and saved at the next
 * start). So every request the client had an answer to also has its
 * outcome event written before the connection closes (docs/PROTOCOL.md,
 * "Shutdown"); while that happens a full output buffer is drained into the
 * client instead of dropping it.
 */
#define _GNU_SOURCE /* accept4, dladdr, struct ucred */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "protocol.h"

#define OUT_MAX ((size_t)1024 * 1024) /* bytes of unwritten output per client */
#define READ_CHUNK 65536
#define DRAIN_MS 5000         /* at exit: wait this long for a slow reader */

typedef struct shim {
    tp_hostlib *h;
    tp_proto *proto;
    int verbose;
    int sig_fd;
    /* client */
    int in_fd, out_fd;       /* -1 when no client; equal in socket mode */
    int is_socket;
    int overflow;            /* output exceeded OUT_MAX: drop the client */
    int broken;              /* writing failed: the client is gone */
    int stopping;            /* shutting down: drain output, never drop it */
    char *out;               /* pending output; owned */
    size_t out_off, out_len; /* pending bytes are out[out_off, out_len) */
    /* socket mode */
    const char *socket_path;
    int listen_fd;
    gid_t allowed_gid;       /* clients in this group may connect */
    char allowed_group_name[64];
    /* stdio mode */
    int stdout_flags;        /* to restore at exit; -1 when untouched */
    char in[READ_CHUNK];
} shim;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tillpoints-shim: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- output ---------------------------------------------------------- */

static void out_drain(shim *s);

static void out_line(void *user, const char *line, size_t len)
{
    shim *s = user;
    if (s->out_fd < 0 || s->overflow || s->broken)
        return;
    size_t pending = s->out_len - s->out_off;
    if (s->stopping && pending + len + 1 > OUT_MAX) {
        /* The outcomes of answered requests are what shutdown is for:
         * wait (bounded) for the client to take what is queued. */
        out_drain(s);
        pending = s->out_len - s->out_off;
    }
    if (pending + len + 1 > OUT_MAX) {
        s->overflow = 1;
        return;
    }
    if (s->out_off && s->out_len + len + 1 > OUT_MAX) {
        memmove(s->out, s->out + s->out_off, pending);
        s->out_off = 0;
        s->out_len = pending;
    }
    memcpy(s->out + s->out_len, line, len);
    s->out[s->out_len + len] = '\n';
    s->out_len += len + 1;
}

/* Writes what the client will take now. */
static void out_flush(shim *s)
{
    while (s->out_fd >= 0 && !s->broken && s->out_off < s->out_len) {
        size_t n = s->out_len - s->out_off;
        ssize_t w = s->is_socket
                        ? send(s->out_fd, s->out + s->out_off, n, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : write(s->out_fd, s->out + s->out_off, n);
        if (w > 0) {
            s->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        s->broken = 1;
    }
    if (s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
}

/* Gives a slow client up to DRAIN_MS to take the rest (at exit only). */
static void out_drain(shim *s)
{
    int64_t deadline = now_ms() + DRAIN_MS;
    out_flush(s);
    while (s->out_fd >= 0 && !s->broken && s->out_off < s->out_len) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {s->out_fd, POLLOUT, 0};
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return;
        out_flush(s);
    }
}

static void on_event(void *user, const tp_event *ev)
{
    shim *s = user;
    if (s->out_fd >= 0)
        tp_proto_event(s->proto, ev, out_line, s);
}

static void on_present(void *user, const tp_form *form)
{
    shim *s = user;
    if (s->out_fd >= 0)
        tp_proto_present(s->proto, form, out_line, s);
}

static void on_dismiss(void *user, uint64_t form_id, int32_t done, const char *result)
{
    shim *s = user;
    if (s->out_fd >= 0)
        tp_proto_dismiss(s->proto, form_id, done, result, out_line, s);
}

static void settle(void *user)
{
    shim *s = user;
    tp_hostlib_dispatch(s->h);
}

/* ---- clients --------------------------------------------------------- */

static void client_attach(shim *s, int in_fd, int out_fd, int is_socket)
{
    s->in_fd = in_fd;
    s->out_fd = out_fd;
    s->is_socket = is_socket;
    s->overflow = s->broken = 0;
    s->out_off = s->out_len = 0;
}

/* Ends the client's session: its open transactions are cancelled (nothing
 * of theirs was journaled yet); completed ones are already with the
 * plugin's writer. */
static void client_detach(shim *s, const char *why)
{
    size_t cancelled = tp_proto_end_session(s->proto);
    if (why)
        note("%s%s", why,
             cancelled ? "; its open transactions were cancelled" : "");
    else if (s->verbose)
        note("client disconnected (%zu open transactions cancelled)", cancelled);
    if (s->is_socket && s->in_fd >= 0)
        close(s->in_fd);
    s->in_fd = s->out_fd = -1;
    s->out_off = s->out_len = 0;
}

typedef struct line_buf {
    char text[1024];
    size_t len;
} line_buf;

static void collect_line(void *user, const char *line, size_t len)
{
    line_buf *b = user;
    if (len + 1 <= sizeof b->text) {
        memcpy(b->text, line, len);
        b->text[len] = '\n';
        b->len = len + 1;
    }
}

/* One more connection while a client is served: one error line, closed. */
static void refuse(int fd)
{
    line_buf b = {{0}, 0};
    tp_proto_error_line("already_connected",
                        "Another client is connected to this tillpoints-shim; it serves one "
                        "POS connection at a time. Try again when that client has disconnected.",
                        collect_line, &b);
    ssize_t w = send(fd, b.text, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w; /* best effort: the socket buffer of a new connection is empty */
    close(fd);
    note("refused a second connection while a client is connected");
}

/* 1 when `gid` is among the peer's supplementary groups (SO_PEERGROUPS:
 * the groups of the connecting process, as the kernel saw them at
 * connect(); not the group database, which the peer cannot change). */
static int peer_in_group(int fd, gid_t gid)
{
    gid_t small[64];
    gid_t *groups = small;
    socklen_t len = sizeof small;
    int r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
    if (r != 0 && errno == ERANGE && len > 0) {
        groups = malloc(len);
        if (!groups)
            return 0;
        r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
    }
    int in = 0;
    for (size_t i = 0; r == 0 && i < len / sizeof *groups && !in; i++)
        in = groups[i] == gid;
    if (groups != small)
        free(groups);
    return in;
}

/* Who may use the socket (docs/PROTOCOL.md, "Socket mode"): root, the
 * shim's own user, and processes in the allowed group. The file mode of
 * the socket says the same; this check holds also when the mode or the
 * directory was loosened, and it is what names the refused peer in the
 * log. SO_PEERCRED is the peer's credentials at connect(). */
static int peer_allowed(const shim *s, int fd, struct ucred *cred)
{
    socklen_t len = sizeof *cred;
    memset(cred, 0, sizeof *cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) != 0 || len != sizeof *cred) {
        cred->uid = (uid_t)-1; /* unknown peer: refused */
        return 0;
    }
    if (cred->uid == 0 || cred->uid == geteuid())
        return 1;
    return cred->gid == s->allowed_gid || peer_in_group(fd, s->allowed_gid);
}

/* A connection from outside the allowed group: one error line, closed,
 * before it can send anything. */
static void refuse_peer(const shim *s, int fd, const struct ucred *cred)
{
    line_buf b = {{0}, 0};
    char text[320];
    snprintf(text, sizeof text,
             "This tillpoints-shim serves only members of the group %s (and root or its own "
             "user); uid %ld is not one. Add the POS's user to %s and reconnect.",
             s->allowed_group_name, (long)cred->uid, s->allowed_group_name);
    tp_proto_error_line("not_allowed", text, collect_line, &b);
    ssize_t w = send(fd, b.text, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w; /* best effort, as in refuse() */
    close(fd);
    note("refused a connection from uid %ld gid %ld pid %ld: not in group %s",
         (long)cred->uid, (long)cred->gid, (long)cred->pid, s->allowed_group_name);
}

static void accept_client(shim *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return; /* EAGAIN, ECONNABORTED ...: nothing to do */
    struct ucred cred;
    if (!peer_allowed(s, fd, &cred)) {
        refuse_peer(s, fd, &cred);
        return;
    }
    if (s->in_fd >= 0) {
        refuse(fd);
        return;
    }
    client_attach(s, fd, fd, 1);
    if (s->verbose)
        note("client connected");
}

/* Reads what the client sent; returns 0 at end of input or on error. */
static int client_read(shim *s)
{
    ssize_t n = read(s->in_fd, s->in, sizeof s->in);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return 1;
    if (n <= 0)
        return 0;
    tp_proto_feed(s->proto, s->in, (size_t)n, out_line, s);
    return 1;
}

/* ---- socket ---------------------------------------------------------- */

/* Creates the listening socket at `path`, mode 0660 (group `group` when
 * given). It is bound under a temporary name, made ready (mode, owner,
 * listen) and then renamed into place, so a client that sees `path` can
 * always connect. A stale socket left by a crash is replaced; a live one
 * (another shim) or a file that is not a socket is not. */
static int open_socket(shim *s, const char *path, const char *group)
{
    struct sockaddr_un addr, tmp;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    tmp = addr;
    int n = snprintf(tmp.sun_path, sizeof tmp.sun_path, "%s.%ld.tmp", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp.sun_path) {
        note("the socket path %s is too long (at most %zu bytes).", path,
             sizeof addr.sun_path - 20);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        note("cannot create a Unix socket: %s.", strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            note("%s exists and is not a socket; refusing to replace it.", path);
            goto fail;
        }
        /* A live shim answers; a stale socket from a crash does not. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int live = probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof addr) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            note("another process is already serving %s.", path);
            goto fail;
        }
    }
    unlink(tmp.sun_path);
    mode_t old = umask(0117); /* born 0660: never a moment world-accessible */
    int r = bind(fd, (struct sockaddr *)&tmp, sizeof tmp);
    umask(old);
    if (r != 0) {
        note("cannot create the socket %s: %s.", tmp.sun_path, strerror(errno));
        goto fail;
    }
    /* The allowed group: --socket-group, else the shim's own group. */
    s->allowed_gid = getegid();
    if (group) {
        const struct group *g = getgrnam(group);
        if (!g) {
            note("there is no group named %s (--socket-group).", group);
            goto fail_unlink;
        }
        if (chown(tmp.sun_path, (uid_t)-1, g->gr_gid) != 0) {
            note("cannot give %s to group %s: %s.", path, group, strerror(errno));
            goto fail_unlink;
        }
        s->allowed_gid = g->gr_gid;
        snprintf(s->allowed_group_name, sizeof s->allowed_group_name, "%s", group);
    } else {
        const struct group *g = getgrgid(s->allowed_gid);
        if (g)
            snprintf(s->allowed_group_name, sizeof s->allowed_group_name, "%s", g->gr_name);
        else
            snprintf(s->allowed_group_name, sizeof s->allowed_group_name, "%ld",
                     (long)s->allowed_gid);
    }
    /* A full backlog makes a client's non-blocking connect fail at once
     * (EAGAIN): take what the system allows, so a burst of POS processes
     * starting together each reach the shim and get a served session or a
     * clear already_connected line. */
    if (chmod(tmp.sun_path, 0660) != 0 || listen(fd, SOMAXCONN) != 0 ||
        rename(tmp.sun_path, path) != 0) {
        note("cannot listen on %s: %s.", path, strerror(errno));
        goto fail_unlink;
    }
    s->listen_fd = fd;
    s->socket_path = path;
    return 0;
fail_unlink:
    unlink(tmp.sun_path);
fail:
    close(fd);
    return -1;
}

/* ---- main loop ------------------------------------------------------- */

/* Returns the exit status: 0 after end of input or a signal, 1 when the
 * stdio client was dropped for not reading its replies. */
static int serve(shim *s)
{
    for (;;) {
        struct pollfd fds[5];
        nfds_t n = 0;
        fds[n++] = (struct pollfd){tp_hostlib_wake_fd(s->h), POLLIN, 0};
        fds[n++] = (struct pollfd){s->sig_fd, POLLIN, 0};
        nfds_t li = 0, ci = 0, oi = 0;
        if (s->listen_fd >= 0) {
            li = n;
            fds[n++] = (struct pollfd){s->listen_fd, POLLIN, 0};
        }
        short want_out = s->out_off < s->out_len ? POLLOUT : 0;
        if (s->in_fd >= 0) {
            ci = n;
            fds[n++] = (struct pollfd){s->in_fd, (short)(POLLIN | (s->is_socket ? want_out : 0)), 0};
            if (!s->is_socket && want_out) {
                oi = n;
                fds[n++] = (struct pollfd){s->out_fd, POLLOUT, 0};
            }
        }
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            note("poll failed: %s.", strerror(errno));
            return 1;
        }
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            ssize_t r = read(s->sig_fd, &si, sizeof si);
            if (r == (ssize_t)sizeof si && s->verbose)
                note("signal %u: shutting down", si.ssi_signo);
            return 0;
        }
        if (fds[0].revents & POLLIN)
            tp_hostlib_dispatch(s->h);
        int eof = 0;
        if (ci && (fds[ci].revents & (POLLIN | POLLHUP | POLLERR)))
            eof = !client_read(s);
        if (oi && (fds[oi].revents & (POLLERR | POLLHUP)))
            s->broken = 1;
        out_flush(s);
        if (s->in_fd >= 0 && s->overflow) {
            if (!s->is_socket) {
                note("the client did not read its replies (%d bytes waiting); stopping.",
                     (int)OUT_MAX);
                return 1;
            }
            client_detach(s, "dropped a client that did not read its replies");
        } else if (s->in_fd >= 0 && (eof || s->broken)) {
            if (!s->is_socket)
                return 0;
            client_detach(s, NULL);
        }
        if (li && (fds[li].revents & POLLIN))
            accept_client(s);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tillpoints-shim [--plugin PATH] [--config FILE] [--socket PATH "
               "[--socket-group NAME]] [--verbose]\n"
               "       tillpoints-shim --version\n"
               "Serves the tillpoints JSON-lines protocol %s (docs/PROTOCOL.md) on stdin/stdout,\n"
               "or on a Unix socket (mode 0660) with --socket.\n",
               TP_PROTO_VERSION);
}

/* The ABI version of the loaded plugin, for hello. host.h checked its
 * major already; the exact version is read from the entry symbol of the
 * object that holds the checkout extension. */
static tp_version loaded_abi(tp_hostlib *h)
{
    tp_version v = TP_VERSION_INIT;
    Dl_info info;
    if (dladdr((const void *)tp_hostlib_checkout(h), &info) && info.dli_fname) {
        void *dl = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (dl) {
            const tp_entry *e = dlsym(dl, TP_ENTRY_SYMBOL);
            if (e)
                v = e->abi;
            dlclose(dl);
        }
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plugin", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 's'},
        {"socket-group", required_argument, NULL, 'g'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    tp_hostlib_options opt = {.host_name = "tillpoints-shim", .on_event = on_event,
                              .on_present = on_present, .on_dismiss = on_dismiss};
    const char *socket_path = NULL, *group = NULL;
    int c, version = 0;
    while ((c = getopt_long(argc, argv, "p:c:s:g:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': opt.plugin_path = optarg; break;
        case 'c': opt.config_path = optarg; break;
        case 's': socket_path = optarg; break;
        case 'g': group = optarg; break;
        case 'v': opt.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': version = 1; break;
        default: usage(stderr); return 2;
        }
    }
    if (version)
        return tp_hostlib_print_version(stdout, "tillpoints-shim", &opt);
    if (optind < argc || (group && !socket_path)) {
        usage(stderr);
        return 2;
    }
    opt.config_path = tp_hostlib_config_path(opt.config_path);

    static shim s; /* static: the 64 KiB read buffer stays off the stack */
    s.in_fd = s.out_fd = s.listen_fd = s.sig_fd = -1;
    s.stdout_flags = -1;
    s.verbose = opt.verbose;
    opt.user = &s;
    s.out = malloc(OUT_MAX);
    if (!s.out) {
        note("out of memory.");
        return 2;
    }

    /* Before the plugin starts its threads, so that they inherit the mask
     * and the signals reach only the signalfd. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
        (s.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        note("cannot set up signal handling: %s.", strerror(errno));
        free(s.out);
        return 2;
    }

    char err[512];
    s.h = tp_hostlib_open(&opt, err, sizeof err);
    if (!s.h) {
        note("%s", err);
        close(s.sig_fd);
        free(s.out);
        return 2;
    }
    tp_proto_config pc = {
        .plugin = tp_hostlib_plugin(s.h),
        .checkout = tp_hostlib_checkout(s.h),
        .members = tp_hostlib_admin(s.h)->members,
        .ui = tp_hostlib_ui(s.h),
        .scanners = tp_hostabi_extension(tp_hostlib_plugin(s.h), TP_EXT_SCANNERS,
                                         TP_FIELD_END(tp_scanners_ext, list)),
        .plugin_abi = loaded_abi(s.h),
        .settle = settle,
        .settle_user = &s,
    };
    s.proto = tp_proto_new(&pc);
    int status = 2;
    if (!s.proto) {
        note("out of memory.");
        goto out;
    }
    if (socket_path) {
        if (open_socket(&s, socket_path, group) != 0)
            goto out;
        if (s.verbose)
            note("serving protocol %s on %s", TP_PROTO_VERSION, socket_path);
    } else {
        s.stdout_flags = fcntl(STDOUT_FILENO, F_GETFL);
        if (s.stdout_flags >= 0)
            fcntl(STDOUT_FILENO, F_SETFL, s.stdout_flags | O_NONBLOCK);
        client_attach(&s, STDIN_FILENO, STDOUT_FILENO, 0);
    }

    status = serve(&s);

    /* Shutdown: accept nothing new, cancel what the client left open, then
     * destroy the plugin with the client attached, so that every answered
     * checkout's outcome (committed, failed, or deferred to the next
     * start) reaches it; see the top of this file. */
    if (s.listen_fd >= 0) {
        close(s.listen_fd);
        unlink(s.socket_path);
        s.listen_fd = -1;
    }
    if (status == 0 && s.in_fd >= 0) {
        s.stopping = 1;
        size_t cancelled = tp_proto_cancel_open(s.proto);
        if (s.verbose && cancelled)
            note("%zu open transactions cancelled at shutdown", cancelled);
        tp_hostlib_dispatch(s.h);
        out_flush(&s);
        tp_hostlib_stop(s.h);
        out_drain(&s);
    }
    if (s.in_fd >= 0)
        client_detach(&s, NULL);
out:
    tp_proto_free(s.proto);
    tp_hostlib_close(s.h);
    if (s.listen_fd >= 0) { /* only when serving never started */
        close(s.listen_fd);
        unlink(s.socket_path);
    }
    if (s.stdout_flags >= 0)
        fcntl(STDOUT_FILENO, F_SETFL, s.stdout_flags);
    close(s.sig_fd);
    free(s.out);
    return status;
}
