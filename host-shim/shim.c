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
 * Flow control (docs/PROTOCOL.md, "Flow control"). Output is queued and
 * written without blocking, as fast as the client reads. A client that
 * reads slower than the shim produces is slowed down, never dropped: while
 * OUT_HIGH bytes wait unwritten the shim stops reading requests (the
 * client's input is not polled) and stops taking events out of the plugin
 * (tp_hostlib_dispatch is not called, so they wait in the plugin's own
 * bounded list, docs/DESIGN.md §3 "Bounded event memory"); both resume
 * below OUT_LOW. Requests are handed to the protocol one line at a time,
 * so at the moment the shim pauses at most one request is between reading
 * and replying, and its reply is always queued whole: the buffer grows past
 * OUT_HIGH by at most what one step produced (one request's reply, with
 * the events an admin.flush delivers, or one dispatch of the plugin's
 * events), and both are bounded by the plugin's event cap. Nothing is
 * ever cut or left out to stay under a limit.
 *
 * Only a client that takes nothing (no byte written to it) for
 * --send-timeout (30 s) while output waits is dropped (socket mode:
 * closed, its open transactions cancelled, the next client accepted; stdio
 * mode: the shim exits with status 1). Committed awards are never lost by
 * dropping a client: every complete() already handed the award to the
 * plugin's writer.
 *
 * Whole lines. The kernel is only ever handed whole lines, in writes of at
 * most PIPE_BUF bytes, which a pipe takes whole or not at all (POSIX) and
 * a Unix stream socket takes in one buffer, so also whole or not at all. A
 * longer line waits until the pipe or socket is empty and is then written
 * in one go. So what a client reads, even one that is dropped or whose
 * shim exits, ends with a whole line.
 *
 * Shutdown (a signal, or end of input): no new request is read and no new
 * client accepted; the client's open transactions are cancelled; then the
 * plugin is destroyed while the client is still attached. destroy() waits
 * for the plugin's writer at most its [limits] shutdown_deadline_ms and
 * delivers every event still pending, including one for each receipt it
 * could not save in time (award.deferred: kept and saved at the next
 * start). So every request the client had an answer to also has its
 * outcome event written before the connection closes (docs/PROTOCOL.md,
 * "Shutdown"); the shim then writes what is queued for as long as the
 * client keeps taking it, giving up after DRAIN_MS without progress.
 */
#define _GNU_SOURCE /* accept4, dladdr, struct ucred, F_GETPIPE_SZ */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "protocol.h"

/* Unwritten output at which the client is paused, and at which it goes on. */
#define OUT_HIGH ((size_t)1024 * 1024)
#define OUT_LOW (OUT_HIGH / 4)
#define WRITE_ATOMIC ((size_t)PIPE_BUF) /* a write a pipe takes whole or not at all */
#define READ_CHUNK 65536
#define SEND_TIMEOUT_MS 30000    /* default --send-timeout */
#define SEND_TIMEOUT_MAX_S 86400 /* a day: longer is a typo */
#define DRAIN_MS 5000            /* at exit: give up after this long without progress */
#define LONG_LINE_RETRY_MS 10    /* a line > WRITE_ATOMIC waits for an empty pipe */

/* What the client's output is, for knowing how much a write will take. */
enum { SINK_OTHER, SINK_PIPE, SINK_SOCKET };

typedef struct shim {
    tp_hostlib *h;
    tp_proto *proto;
    int verbose;
    int sig_fd;
    int64_t send_timeout_ms; /* drop a client that takes nothing this long */
    /* client */
    int in_fd, out_fd;       /* -1 when no client; equal in socket mode */
    int is_socket;
    int sink;                /* SINK_*: the kind of out_fd */
    int in_eof;              /* the client sent its last request */
    int lost;                /* out of memory for its output: drop the client */
    int broken;              /* writing failed: the client is gone */
    int paused;              /* OUT_HIGH waits: no requests read, no events taken */
    int await_empty;         /* the next line is long: wait for an empty pipe */
    char *out;               /* pending output, out_cap bytes; owned */
    size_t out_cap;
    size_t out_off, out_len; /* pending bytes are out[out_off, out_len), whole lines */
    int64_t stall_since;     /* last progress, or when output began to wait */
    /* per client, for the log line at its end */
    unsigned long long written;
    size_t most_waiting;
    unsigned long pauses;
    /* socket mode */
    const char *socket_path;
    int listen_fd;
    gid_t allowed_gid;       /* clients in this group may connect */
    char allowed_group_name[64];
    /* stdio mode */
    int stdout_flags;        /* to restore at exit; -1 when untouched */
    /* bytes read from the client, not yet handed to the protocol:
     * in[in_off, in_len) */
    size_t in_off, in_len;
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

static size_t out_pending(const shim *s) { return s->out_len - s->out_off; }

/* Queues one line. Never refused for its size: the bound on what waits is
 * kept by pausing the client (see the top of this file), so a reply or an
 * event is never cut or left out. */
static void out_line(void *user, const char *line, size_t len)
{
    shim *s = user;
    if (s->out_fd < 0 || s->lost || s->broken)
        return;
    size_t pending = out_pending(s);
    if (pending == 0) {
        s->out_off = s->out_len = 0;
        s->stall_since = now_ms(); /* the client's time to take it starts now */
    }
    if (s->out_len + len + 1 > s->out_cap && s->out_off) {
        memmove(s->out, s->out + s->out_off, pending);
        s->out_off = 0;
        s->out_len = pending;
    }
    if (s->out_len + len + 1 > s->out_cap) {
        size_t cap = s->out_cap * 2 >= s->out_len + len + 1 ? s->out_cap * 2
                                                             : s->out_len + len + 1;
        char *grown = realloc(s->out, cap);
        if (!grown) {
            /* Leaving the line out would be a silent gap: drop the client
             * after the whole lines already queued instead. */
            s->lost = 1;
            return;
        }
        s->out = grown;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, line, len);
    s->out[s->out_len + len] = '\n';
    s->out_len += len + 1;
    pending += len + 1;
    if (pending > s->most_waiting)
        s->most_waiting = pending;
    if (!s->paused && pending >= OUT_HIGH) {
        s->paused = 1;
        s->pauses++;
    }
}

/* Bytes the kernel still holds for the client in its pipe or socket; -1
 * for a file or a terminal, whose writes are not split this way. */
static long sink_queued(const shim *s)
{
    int n = 0;
    if (s->sink == SINK_PIPE && ioctl(s->out_fd, FIONREAD, &n) == 0)
        return n;
    if (s->sink == SINK_SOCKET && ioctl(s->out_fd, TIOCOUTQ, &n) == 0)
        return n;
    return -1;
}

/* How many bytes at out_off to write at once: whole lines, together at
 * most WRITE_ATOMIC, which the kernel takes whole or not at all; or one
 * longer line, when the pipe or socket is empty and so takes it whole. 0:
 * wait (await_empty is set). */
static size_t out_chunk(shim *s)
{
    const char *p = s->out + s->out_off;
    size_t left = out_pending(s);
    const char *nl = memchr(p, '\n', left);
    size_t n = nl ? (size_t)(nl - p) + 1 : left;
    if (n > WRITE_ATOMIC) {
        if (sink_queued(s) > 0) {
            s->await_empty = 1;
            return 0;
        }
        return n;
    }
    while (n < left) {
        size_t room = WRITE_ATOMIC - n;
        nl = memchr(p + n, '\n', left - n < room ? left - n : room);
        if (!nl)
            break;
        n = (size_t)(nl - p) + 1;
    }
    return n;
}

/* Writes what the client will take now, whole lines only. */
static void out_flush(shim *s)
{
    s->await_empty = 0;
    while (s->out_fd >= 0 && !s->broken && s->out_off < s->out_len) {
        size_t n = out_chunk(s);
        if (n == 0)
            break;
        ssize_t w = s->is_socket
                        ? send(s->out_fd, s->out + s->out_off, n, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : write(s->out_fd, s->out + s->out_off, n);
        if (w > 0) {
            s->out_off += (size_t)w;
            s->written += (unsigned long long)w;
            s->stall_since = now_ms();
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        s->broken = 1;
    }
    if (s->out_off == s->out_len) {
        s->out_off = s->out_len = 0;
        /* A flush's batch of events may have grown the buffer: give the
         * memory back once it is written. */
        if (s->out_cap > 2 * OUT_HIGH) {
            char *small = realloc(s->out, OUT_HIGH);
            if (small) {
                s->out = small;
                s->out_cap = OUT_HIGH;
            }
        }
    }
    if (s->paused && out_pending(s) <= OUT_LOW)
        s->paused = 0;
}

/* Milliseconds until the client has taken nothing for `limit` while output
 * waits (0: it has); -1 when nothing waits. */
static int64_t stall_left(const shim *s, int64_t limit)
{
    if (s->out_fd < 0 || s->out_off == s->out_len)
        return -1;
    int64_t left = s->stall_since + limit - now_ms();
    return left > 0 ? left : 0;
}

/* At exit: writes the rest for as long as the client keeps taking it,
 * giving up after DRAIN_MS (or the send timeout, if shorter) without
 * progress. */
static void out_drain(shim *s)
{
    int64_t limit = s->send_timeout_ms < DRAIN_MS ? s->send_timeout_ms : DRAIN_MS;
    out_flush(s);
    while (s->out_fd >= 0 && !s->broken && s->out_off < s->out_len) {
        int64_t left = stall_left(s, limit);
        if (left <= 0)
            return;
        if (s->await_empty && left > LONG_LINE_RETRY_MS)
            left = LONG_LINE_RETRY_MS;
        struct pollfd pfd = {s->out_fd, (short)(s->await_empty ? 0 : POLLOUT), 0};
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return;
        if (pfd.revents & (POLLERR | POLLHUP)) {
            s->broken = 1; /* the reader is gone */
            return;
        }
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
    s->sink = SINK_OTHER;
    struct stat st;
    if (is_socket)
        s->sink = SINK_SOCKET;
    else if (fstat(out_fd, &st) == 0)
        s->sink = S_ISFIFO(st.st_mode) ? SINK_PIPE : S_ISSOCK(st.st_mode) ? SINK_SOCKET : SINK_OTHER;
    s->in_eof = s->lost = s->broken = s->paused = s->await_empty = 0;
    s->out_off = s->out_len = 0;
    s->in_off = s->in_len = 0;
    s->written = 0;
    s->most_waiting = 0;
    s->pauses = 0;
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
    /* How hard the client was held back: says whether a POS reads too
     * slowly (docs/PROTOCOL.md, "Flow control"). */
    if (s->pauses || s->verbose)
        note("client output: %llu bytes written, at most %zu waiting; reading its requests "
             "paused %lu time%s",
             s->written, s->most_waiting, s->pauses, s->pauses == 1 ? "" : "s");
    if (s->is_socket && s->in_fd >= 0)
        close(s->in_fd);
    s->in_fd = s->out_fd = -1;
    s->out_off = s->out_len = 0;
    s->in_off = s->in_len = 0;
    s->paused = s->await_empty = 0;
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

/* Reads what the client sent, once the protocol has taken all that was
 * read before; returns 0 at end of input or on error. */
static int client_read(shim *s)
{
    ssize_t n = read(s->in_fd, s->in, sizeof s->in);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return 1;
    if (n <= 0)
        return 0;
    s->in_off = 0;
    s->in_len = (size_t)n;
    return 1;
}

/* Hands what was read to the protocol one line at a time, for as long as
 * the client is not paused: a pause takes effect after the request whose
 * output reached OUT_HIGH, and the rest waits here, unread by the
 * protocol, until the client has taken its output down to OUT_LOW. */
static void client_feed(shim *s)
{
    while (s->in_fd >= 0 && !s->paused && !s->lost && s->in_off < s->in_len) {
        const char *p = s->in + s->in_off;
        size_t left = s->in_len - s->in_off;
        const char *nl = memchr(p, '\n', left);
        size_t n = nl ? (size_t)(nl - p) + 1 : left;
        s->in_off += n;
        tp_proto_feed(s->proto, p, n, out_line, s);
    }
    if (s->in_off == s->in_len)
        s->in_off = s->in_len = 0;
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

/* After a turn of the loop: drops or lets go the client when it is time.
 * Returns -1 to go on serving (in socket mode also after a client left),
 * else the exit status for serve(). */
static int client_check(shim *s)
{
    if (s->in_fd < 0)
        return -1;
    char why[256];
    if (s->lost) {
        snprintf(why, sizeof why,
                 "there was no memory for more of the client's output (%zu bytes waiting)",
                 out_pending(s));
        if (!s->is_socket) {
            note("%s; stopping.", why);
            return 1;
        }
        client_detach(s, why);
        return -1;
    }
    if (s->broken) {
        if (!s->is_socket)
            return 0;
        client_detach(s, NULL);
        return -1;
    }
    if (stall_left(s, s->send_timeout_ms) == 0) {
        snprintf(why, sizeof why,
                 "did not read its replies: it took nothing for %g s (--send-timeout) while "
                 "%zu bytes waited",
                 (double)s->send_timeout_ms / 1000.0, out_pending(s));
        if (!s->is_socket) {
            note("the client %s; stopping.", why);
            return 1;
        }
        char line[300];
        snprintf(line, sizeof line, "dropped a client that %s", why);
        client_detach(s, line);
        return -1;
    }
    if (s->in_eof) {
        if (!s->is_socket)
            return 0; /* main() shuts down and writes what is owed */
        /* A socket client that ended its requests still gets the replies
         * queued for them, as long as it keeps reading. */
        if (s->out_off == s->out_len)
            client_detach(s, NULL);
    }
    return -1;
}

/* Returns the exit status: 0 after end of input or a signal, 1 when the
 * stdio client was dropped (it took nothing for the send timeout while
 * output waited). */
static int serve(shim *s)
{
    for (;;) {
        struct pollfd fds[6];
        nfds_t n = 0, wi = 0, li = 0, ci = 0, oi = 0;
        int client = s->in_fd >= 0;
        int pending = client && s->out_off < s->out_len;
        /* Paused (see the top of this file), the plugin's events wait in
         * the plugin, its wake-up pipe not polled, and the client's
         * requests in its socket or pipe. */
        int take_events = !(client && s->paused);
        int want_in = client && !s->paused && !s->in_eof && s->in_off == s->in_len;
        short want_out = pending && !s->await_empty ? POLLOUT : 0;
        fds[n++] = (struct pollfd){s->sig_fd, POLLIN, 0};
        if (take_events) {
            wi = n;
            fds[n++] = (struct pollfd){tp_hostlib_wake_fd(s->h), POLLIN, 0};
        }
        if (s->listen_fd >= 0) {
            li = n;
            fds[n++] = (struct pollfd){s->listen_fd, POLLIN, 0};
        }
        if (client && s->is_socket) {
            ci = n;
            fds[n++] = (struct pollfd){s->in_fd, (short)((want_in ? POLLIN : 0) | want_out), 0};
        } else if (client) {
            if (want_in) {
                ci = n;
                fds[n++] = (struct pollfd){s->in_fd, POLLIN, 0};
            }
            if (pending) { /* also without POLLOUT: POLLERR says the reader left */
                oi = n;
                fds[n++] = (struct pollfd){s->out_fd, want_out, 0};
            }
        }
        int64_t timeout = -1;
        if (client && !s->paused && s->in_off < s->in_len) {
            timeout = 0; /* requests read before a pause: go on with them */
        } else if (pending) {
            timeout = stall_left(s, s->send_timeout_ms);
            if (s->await_empty && timeout > LONG_LINE_RETRY_MS)
                timeout = LONG_LINE_RETRY_MS;
        }
        if (poll(fds, n, (int)timeout) < 0) {
            if (errno == EINTR)
                continue;
            note("poll failed: %s.", strerror(errno));
            return 1;
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            ssize_t r = read(s->sig_fd, &si, sizeof si);
            if (r == (ssize_t)sizeof si && s->verbose)
                note("signal %u: shutting down", si.ssi_signo);
            return 0;
        }
        if (wi && (fds[wi].revents & POLLIN))
            tp_hostlib_dispatch(s->h);
        out_flush(s);
        if (ci && want_in && (fds[ci].revents & (POLLIN | POLLHUP | POLLERR)) && !client_read(s))
            s->in_eof = 1;
        if ((ci && !want_in && (fds[ci].revents & (POLLHUP | POLLERR))) ||
            (oi && (fds[oi].revents & (POLLERR | POLLHUP))))
            s->broken = 1; /* the reader is gone */
        client_feed(s);
        out_flush(s);
        int status = client_check(s);
        if (status >= 0)
            return status;
        if (li && (fds[li].revents & POLLIN))
            accept_client(s);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tillpoints-shim [--plugin PATH] [--config FILE] [--socket PATH "
               "[--socket-group NAME]]\n"
               "                       [--send-timeout SECONDS] [--verbose]\n"
               "       tillpoints-shim --version\n"
               "Serves the tillpoints JSON-lines protocol %s (docs/PROTOCOL.md) on stdin/stdout,\n"
               "or on a Unix socket (mode 0660) with --socket. A client that takes none of its\n"
               "output for --send-timeout seconds (default %d) is dropped.\n",
               TP_PROTO_VERSION, SEND_TIMEOUT_MS / 1000);
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
        {"send-timeout", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    tp_hostlib_options opt = {.host_name = "tillpoints-shim", .on_event = on_event,
                              .on_present = on_present, .on_dismiss = on_dismiss};
    const char *socket_path = NULL, *group = NULL;
    int64_t send_timeout_ms = SEND_TIMEOUT_MS;
    int c, version = 0;
    while ((c = getopt_long(argc, argv, "p:c:s:g:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': opt.plugin_path = optarg; break;
        case 'c': opt.config_path = optarg; break;
        case 's': socket_path = optarg; break;
        case 'g': group = optarg; break;
        case 't': {
            char *end;
            errno = 0;
            double secs = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(secs >= 0.001 && secs <= SEND_TIMEOUT_MAX_S)) {
                note("--send-timeout takes seconds, from 0.001 to %d (e.g. 30 or 2.5), not "
                     "\"%s\".", SEND_TIMEOUT_MAX_S, optarg);
                return 2;
            }
            send_timeout_ms = (int64_t)(secs * 1000.0 + 0.5);
            break;
        }
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
    s.send_timeout_ms = send_timeout_ms;
    opt.user = &s;
    s.out_cap = OUT_HIGH;
    s.out = malloc(s.out_cap);
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
        size_t cancelled = tp_proto_cancel_open(s.proto);
        if (s.verbose && cancelled)
            note("%zu open transactions cancelled at shutdown", cancelled);
        tp_hostlib_dispatch(s.h);
        out_flush(&s);
        tp_hostlib_stop(s.h);
        out_drain(&s);
        if (!s.broken && s.out_off < s.out_len)
            note("the client took nothing for %g s at shutdown; %zu bytes of its output "
                 "(whole lines) were not delivered.",
                 (double)(s.send_timeout_ms < DRAIN_MS ? s.send_timeout_ms : DRAIN_MS) / 1000.0,
                 s.out_len - s.out_off);
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
