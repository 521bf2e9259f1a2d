/*
 * pglink.c — the central database's connection helpers shared by the sync
 * and confirmation threads (pglink.h).
 */
#include "pglink.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int tp_pg_wait(int wake_fd, atomic_int *stop, int fd, short events, int64_t deadline)
{
    for (;;) {
        if (atomic_load(stop))
            return -1;
        struct pollfd p[2] = {{.fd = wake_fd, .events = POLLIN}, {.fd = fd, .events = events}};
        int timeout = -1;
        if (deadline) {
            int64_t left = deadline - tp_mono_ms();
            if (left <= 0)
                return 0;
            timeout = left > 1000 ? 1000 : (int)left;
        }
        int n = poll(p, fd >= 0 ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR)
            return 0;
        if (n > 0 && (p[0].revents & POLLIN)) {
            uint64_t v;
            if (read(wake_fd, &v, sizeof v) < 0) { /* drained either way */
            }
            if (atomic_load(stop))
                return -1;
            if (fd < 0)
                return 0; /* a plain sleep ends early on a retry-now */
        }
        if (n > 0 && fd >= 0 && p[1].revents)
            return 1;
    }
}

int tp_pg_connect_poll(const tp_pq_api *pq, PGconn *pg, int wake_fd, atomic_int *stop,
                       int64_t deadline)
{
    PostgresPollingStatusType p = PGRES_POLLING_WRITING;
    while (pq->status(pg) != CONNECTION_BAD && p != PGRES_POLLING_OK &&
           p != PGRES_POLLING_FAILED) {
        int w = tp_pg_wait(wake_fd, stop, pq->socket(pg),
                           p == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (w < 0)
            return -1;
        if (w == 0)
            return 0;
        p = pq->connectPoll(pg);
    }
    return pq->status(pg) == CONNECTION_OK ? 1 : -2;
}

tp_pg_exchange_result tp_pg_exchange(const tp_pq_api *pq, PGconn *pg, int wake_fd,
                                     atomic_int *stop, const char *sql, int nparams,
                                     const char *const *params, int64_t deadline,
                                     void (*sent)(void *), void *sent_arg, PGresult **last)
{
    *last = NULL;
    int ok = nparams >= 0 ? pq->sendQueryParams(pg, sql, nparams, NULL, params, NULL, NULL, 0)
                          : pq->sendQuery(pg, sql);
    if (!ok)
        return TP_PG_SEND_FAILED;
    int sock = pq->socket(pg);
    while (pq->flush(pg) == 1) {
        int w = tp_pg_wait(wake_fd, stop, sock, POLLOUT | POLLIN, deadline);
        if (w <= 0)
            return w < 0 ? TP_PG_STOPPED : TP_PG_TIMEOUT;
        if (pq->consumeInput(pg) == 0)
            break;
    }
    if (sent)
        sent(sent_arg);
    PGresult *keep = NULL;
    for (;;) {
        while (pq->isBusy(pg)) {
            int w = tp_pg_wait(wake_fd, stop, sock, POLLIN, deadline);
            if (w <= 0) {
                pq->clear(keep);
                return w < 0 ? TP_PG_STOPPED : TP_PG_TIMEOUT;
            }
            if (pq->consumeInput(pg) == 0) {
                pq->clear(keep);
                return TP_PG_BROKEN;
            }
        }
        PGresult *r = pq->getResult(pg);
        if (!r)
            break;
        ExecStatusType es = pq->resultStatus(r);
        if (es == PGRES_FATAL_ERROR || es == PGRES_BAD_RESPONSE || es == PGRES_NONFATAL_ERROR) {
            /* Keep the first error; drain the rest. */
            if (!keep || pq->resultStatus(keep) != PGRES_FATAL_ERROR) {
                pq->clear(keep);
                keep = r;
            } else {
                pq->clear(r);
            }
        } else if (keep && pq->resultStatus(keep) == PGRES_FATAL_ERROR) {
            pq->clear(r);
        } else {
            pq->clear(keep);
            keep = r;
        }
    }
    *last = keep;
    return TP_PG_DONE;
}

/* First line of a driver's text, for the log. */
void tp_pg_raw_line(char *out, size_t cap, const char *text)
{
    if (!text)
        text = "";
    size_t n = strcspn(text, "\n");
    tp_buf_set(out, cap, "%.*s", (int)n, text);
}

/* Why a connection attempt failed, from libpq's text (a failed
 * connection has no SQLSTATE): a sentence naming the cause a manager can
 * act on, and its status. Reachable but refused (credentials, a database
 * or user that does not exist) is TP_ERR_CONFIG; nothing answering is
 * TP_ERR_UNREACHABLE. */
tp_status tp_pg_connect_cause(const char *e, char *why, size_t cap)
{
    if (!e)
        e = "";
    /* Where libpq tried: 'on socket "/run/.s.PGSQL.5432"' or 'at "db", port 5432'. */
    char where[192] = "";
    const char *a = strstr(e, "connection to server ");
    const char *b = a ? strstr(a, " failed") : NULL;
    if (a && b) {
        a += strlen("connection to server ");
        tp_buf_set(where, sizeof where, " %.*s", (int)(b - a), a);
    }
    if (strstr(e, "password authentication failed") || strstr(e, "authentication failed")) {
        tp_copy(why, cap, "The central database refused this terminal's password: set the "
                          "right [sync] password in the secrets file.");
        return TP_ERR_CONFIG;
    }
    if (strstr(e, "no password supplied")) {
        tp_copy(why, cap, "The central database asks for a password and this terminal has "
                          "none: set [sync] password in the secrets file.");
        return TP_ERR_CONFIG;
    }
    if (strstr(e, "no pg_hba.conf entry")) {
        tp_copy(why, cap, "The central database does not let this terminal in (no pg_hba.conf "
                          "entry for it): its administrator must allow it.");
        return TP_ERR_CONFIG;
    }
    if (strstr(e, "does not exist")) {
        tp_buf_set(why, cap, "The %s named in [sync] postgres does not exist on the central "
                   "server: fix the name, or create it.", strstr(e, "role") ? "user" : "database");
        return TP_ERR_CONFIG;
    }
    if (strstr(e, "starting up") || strstr(e, "shutting down") || strstr(e, "recovery")) {
        tp_buf_set(why, cap, "The central database%s is starting up or shutting down; this "
                   "terminal tries again shortly.", where);
        return TP_ERR_UNREACHABLE;
    }
    if (strstr(e, "too many clients") || strstr(e, "connection slots")) {
        tp_buf_set(why, cap, "The central database%s has no connection free (too many "
                   "clients); this terminal tries again shortly.", where);
        return TP_ERR_BUSY;
    }
    if (strstr(e, "translate host name")) {
        tp_copy(why, cap, "The central database's host name in [sync] postgres cannot be "
                          "resolved: check the name and this terminal's DNS.");
        return TP_ERR_UNREACHABLE;
    }
    if (strstr(e, "refused") || strstr(e, "No such file") || strstr(e, "timed out") ||
        strstr(e, "timeout") || strstr(e, "No route") || strstr(e, "unreachable") ||
        strstr(e, "reset by peer")) {
        tp_buf_set(why, cap, "The central database cannot be reached: nothing answers%s (the "
                   "server is down or the address is wrong).", where[0] ? where : "");
        return TP_ERR_UNREACHABLE;
    }
    size_t n = strcspn(e, "\n");
    while (n > 0 && (e[n - 1] == '.' || e[n - 1] == ' '))
        n--;
    tp_buf_set(why, cap, "This terminal cannot connect to the central database; libpq said: "
               "%.*s.", (int)n, e);
    return TP_ERR_UNREACHABLE;
}

/* One sentence from a libpq error text: first line, no trailing dot. */
void tp_pg_sentence(char *out, size_t cap, const char *prefix, const char *text)
{
    if (!text)
        text = "";
    size_t n = strcspn(text, "\n");
    while (n > 0 && (text[n - 1] == '.' || text[n - 1] == ' '))
        n--;
    tp_buf_set(out, cap, "%s%.*s.", prefix, (int)n, text);
}

/* The server options to connect with: the store's own (an `options=` in
 * [sync] postgres, e.g. -c search_path=tp), then ours. libpq takes one
 * "options" value, and ours, passed as a keyword after the connection
 * string, would replace the store's instead of adding to them. */
void tp_pg_merged_options(const tp_pq_api *pq, const char *conninfo, const char *ours,
                           char *out, size_t cap)
{
    const char *theirs = NULL;
    PQconninfoOption *opts = pq->conninfoParse(conninfo, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val && o->val[0])
            theirs = o->val;
    if (theirs)
        snprintf(out, cap, "%s %s", theirs, ours);
    else
        snprintf(out, cap, "%s", ours);
    if (opts)
        pq->conninfoFree(opts);
}

PGconn *tp_pg_connect_start(const tp_pq_api *pq, const tp_sync_config *cfg,
                             const char *terminal)
{
    char ours[160], options[sizeof cfg->postgres + 200], app[64];
    snprintf(ours, sizeof ours,
             "-c statement_timeout=%d -c lock_timeout=%d -c idle_in_transaction_session_timeout=%d",
             cfg->statement_timeout_ms, cfg->statement_timeout_ms,
             cfg->statement_timeout_ms * 2);
    tp_pg_merged_options(pq, cfg->postgres, ours, options, sizeof options);
    snprintf(app, sizeof app, "tillpoints %s", terminal);
    const char *kw[] = {"dbname", "application_name", "options", "keepalives",
                        "keepalives_idle", "keepalives_interval", "keepalives_count", NULL};
    const char *val[] = {cfg->postgres, app, options, "1", "10", "5", "3", NULL};
    return pq->connectStartParams(kw, val, 1);
}

int tp_pg_version_of(const tp_pq_api *pq, const PGresult *r)
{
    return pq->ntuples(r) == 1 && !pq->getisnull(r, 0, 0)
               ? (int)strtol(pq->getvalue(r, 0, 0), NULL, 10)
               : 0;
}

