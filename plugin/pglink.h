/*
 * pglink.h — what the two threads that talk to the central PostgreSQL
 * share (the sync thread, sync.c; the confirmation thread, confirm.c):
 * connecting without blocking, waiting on a socket and a wake-up eventfd
 * together so a stop is seen within one poll, sending one statement and
 * collecting its results by a deadline, and turning libpq's words into
 * sentences for people (docs/DESIGN.md §8).
 *
 * Every libpq call goes through the table of pq.h. Nothing here keeps
 * state: each caller owns its connection, its eventfd and its stop flag.
 */
#ifndef TP_PGLINK_H
#define TP_PGLINK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "pq.h"
#include "tillpoints/tillpoints.h"

/* Waits until `fd` is ready (events), `wake_fd` fires, or `deadline`
 * (monotonic ms; 0 = none) passes; each poll() lasts at most a second.
 * 1 ready, 0 timeout or woken (a plain sleep, fd < 0, ends early when
 * woken), -1 when *stop is set. */
int tp_pg_wait(int wake_fd, atomic_int *stop, int fd, short events, int64_t deadline);

/* Starts a non-blocking connection to cfg->postgres with the store's own
 * server options and ours (statement, lock and idle timeouts of
 * cfg->statement_timeout_ms), named "tillpoints <terminal>" on the server.
 * NULL when out of memory. */
PGconn *tp_pg_connect_start(const tp_pq_api *pq, const tp_sync_config *cfg,
                            const char *terminal);

/* Drives a started connection until it is made, fails, `deadline` passes
 * or *stop is set: 1 made, 0 timeout, -1 stop, -2 failed (the caller reads
 * pq->errorMessage). */
int tp_pg_connect_poll(const tp_pq_api *pq, PGconn *pg, int wake_fd, atomic_int *stop,
                       int64_t deadline);

/* The server options to connect with: the store's own (an `options=` in
 * the connection string), then `ours`. */
void tp_pg_merged_options(const tp_pq_api *pq, const char *conninfo, const char *ours,
                          char *out, size_t cap);

typedef enum tp_pg_exchange_result {
    TP_PG_DONE = 0,     /* *last holds the last result (the first error, if any) */
    TP_PG_SEND_FAILED,  /* the statement could not be sent */
    TP_PG_BROKEN,       /* the connection broke while waiting */
    TP_PG_TIMEOUT,      /* no answer by the deadline */
    TP_PG_STOPPED       /* *stop was set */
} tp_pg_exchange_result;

/* Sends one statement (extended protocol when nparams >= 0, simple
 * otherwise) on a non-blocking connection and collects every result by
 * `deadline` (monotonic ms). `sent` (may be NULL) is called once the
 * statement is on its way, while the server works. On TP_PG_DONE *last is
 * the caller's to clear: the first error result when there was one, else
 * the last result; NULL when the server sent none (treat as broken). */
tp_pg_exchange_result tp_pg_exchange(const tp_pq_api *pq, PGconn *pg, int wake_fd,
                                     atomic_int *stop, const char *sql, int nparams,
                                     const char *const *params, int64_t deadline,
                                     void (*sent)(void *), void *sent_arg, PGresult **last);

/* max(version) of schema_version from a one-row result; 0 when none. */
int tp_pg_version_of(const tp_pq_api *pq, const PGresult *r);

/* Why a connection attempt failed, from libpq's text (a failed connection
 * has no SQLSTATE): a sentence naming the cause a manager can act on, and
 * its status — TP_ERR_CONFIG when reachable but refused, TP_ERR_BUSY when
 * it has no connection free, else TP_ERR_UNREACHABLE. */
tp_status tp_pg_connect_cause(const char *e, char *why, size_t cap);

/* First line of a driver's text, for the log. */
void tp_pg_raw_line(char *out, size_t cap, const char *text);

/* `prefix` and the first line of a libpq text as one sentence. */
void tp_pg_sentence(char *out, size_t cap, const char *prefix, const char *text);

#endif
