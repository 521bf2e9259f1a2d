/*
 * sync.c — the outbox to a central PostgreSQL and the directory back
 * (see sync.h, docs/DESIGN.md §8).
 *
 * Push. A batch of undelivered, unparked outbox rows, in id order, goes in
 * one central transaction:
 *
 *   BEGIN; SELECT pg_advisory_xact_lock(K);
 *   WITH v AS (VALUES ...), ins AS (INSERT INTO events ... ON CONFLICT
 *   (event_id) DO NOTHING RETURNING ...), led AS (INSERT INTO ledger ...),
 *   mem, crd, bal AS (upsert balances ... RETURNING) SELECT ... FROM bal;
 *   COMMIT;
 *
 * and the rows are marked delivered in SQLite only after that COMMIT
 * answered. A lost answer leaves them pending; sending them again inserts
 * nothing (the events are already there, so neither the ledger nor the
 * balances move): nothing is lost, nothing is doubled.
 *
 * Why the advisory lock: every sequence number (events, members, cards,
 * balances) is drawn while holding it, and it is held until COMMIT, so the
 * order of sequence numbers is the order of commits. A terminal that pulled
 * everything up to seq N can then never miss a row below N that commits
 * later — the classic gap of pulling by a bigserial. The lock serialises
 * pushes from all terminals; one push is a few milliseconds.
 *
 * Errors. Connection failures, timeouts, deadlocks, a missing or different
 * schema: the whole batch waits, with capped exponential backoff and
 * jitter (a PRNG seeded per instance). Each cause has a status (nothing
 * answers: TP_ERR_UNREACHABLE; credentials or names refused: _CONFIG; no
 * or another schema: _VERSION; too busy: _BUSY) and a sentence for people;
 * libpq's and the server's own words go to the log only. The link's state
 * is written to sync_link at each change and before each retry, so any
 * process on the file (the CLI) reports what this thread met. A data or constraint error (SQLSTATE
 * class 22 or 23) is the fault of some row: the batch is then sent row by
 * row; a row refused again has its attempts counted and is parked after
 * max_attempts, while the rows around it are delivered. The central ledger's
 * unique index on (location, receipt) for earn/retro is what refuses a
 * receipt credited on a second terminal.
 *
 * What a refused (parked) credit does to balances: the local ledger keeps
 * the entry (it is append-only; `tillpoints verify` stays clean), the
 * outbox row is parked with a sentence (for a receipt, which terminal of
 * which store holds it: receipt_holder), and the balance a synced
 * terminal shows (admin member_balance) is the central confirmed balance
 * plus this terminal's pending entries — parked ones are not pending, so
 * the refused points disappear from what is shown and are reported
 * separately as `refused`. A manager may reverse the local entry, unpark
 * it after fixing the central side, or dismiss it (queue_dismiss: resolved
 * for good, counted nowhere, audited).
 *
 * Pull. When the outbox is empty (and at least every pull_interval_ms),
 * members, cards, balances and overdraft reports with seq above the last
 * seen are copied into SQLite (members and cards without going back into
 * the outbox; balances into central_balances; each overdraft report new
 * here is also posted as an OVERDRAFT event). Balances returned by a push are stored in the
 * same SQLite transaction that marks the rows delivered, so confirmed +
 * pending never counts an entry twice or not at all.
 *
 * libpq. Every call goes through the table of pq.h, which the sync module
 * tillpoints-sync.so fills (docs/DESIGN.md §14): the thread's table is
 * s->pq, and the blocking calls (central init, the audit head) load
 * their own. Without the module, checkouts go on and the outbox
 * fills; see load_pq().
 */
#include "sync.h"
#include "tillpoints/ext/audit.h"
#include "tillpoints/ext/sync.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "instance.h"
#include "outbox.h"
#include "pglink.h"
#include "pq.h"
#include "abi.h"
#include "schema.h"
#include "util.h"

#define PUSH_LOCK_KEY 7321000701LL /* pg_advisory_xact_lock key of pushes */
#define INIT_LOCK_KEY 7321000702LL /* ... of central init */
#define PULL_PAGE 2000



/* The events go in in outbox order (ORDER BY n): the central's audit
 * trigger checks each record against the head the one before it set. */
static const char push_sql[] =
    "WITH v(event_id, kind, payload, n) AS (SELECT e, k, p::jsonb, n"
    "  FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(e, k, p, n)),"
    " ins AS (INSERT INTO events(event_id, kind, location, terminal, payload)"
    "  SELECT event_id, kind, $1, $2, payload FROM v ORDER BY n"
    "  ON CONFLICT (event_id) DO NOTHING RETURNING event_id, kind, payload),"
    " led AS (INSERT INTO ledger(event_id, location, terminal, receipt, kind, member, points,"
    "  time_ms) SELECT event_id, payload->>'location', payload->>'terminal',"
    "  payload->>'receipt', payload->>'kind', payload->>'member',"
    "  (payload->>'points')::bigint, (payload->>'time_ms')::bigint"
    "  FROM ins WHERE kind = 'ledger' RETURNING member, points),"
    " mem AS (INSERT INTO members(code, name, phone, email, app_id, created_ms, location,"
    "  terminal) SELECT payload->>'code', COALESCE(payload->>'name', ''), payload->>'phone',"
    "  payload->>'email', payload->>'app_id', (payload->>'created_ms')::bigint, $1, $2"
    "  FROM ins WHERE kind = 'member' ON CONFLICT (code) DO NOTHING),"
    " crd AS (INSERT INTO member_cards(code, member, added_ms)"
    "  SELECT payload->>'card', payload->>'member', (payload->>'added_ms')::bigint"
    "  FROM ins WHERE kind = 'card' ON CONFLICT (code) DO NOTHING),"
    " bal AS (INSERT INTO balances(member, balance, seq)"
    "  SELECT member, sum(points), nextval('tp_seq') FROM led GROUP BY member ORDER BY member"
    "  ON CONFLICT (member) DO UPDATE SET balance = balances.balance + EXCLUDED.balance,"
    "  seq = EXCLUDED.seq RETURNING member, balance, seq)"
    " SELECT member, balance, seq FROM bal"
    /* And the balances of the batch's members whose entries the central
     * already had (a batch sent again after a lost answer): without them a
     * member's first entries could be delivered with no central figure
     * until the next pull (docs/DESIGN.md §8, "One balance"). The main
     * query sees the table as it was before this statement; these members
     * are not in bal, so their rows are current. */
    " UNION ALL SELECT b.member, b.balance, b.seq FROM balances b"
    "  WHERE b.member IN (SELECT payload->>'member' FROM v WHERE kind = 'ledger')"
    "  AND b.member NOT IN (SELECT member FROM bal)";

typedef enum pg_fail {
    PG_OK = 0,
    PG_TRANSIENT,  /* connection, timeout, lock, server going down: try later */
    PG_PERMANENT,  /* a row's data or a constraint (SQLSTATE 22, 23) */
    PG_STOPPED     /* shutdown requested */
} pg_fail;

struct tp_sync {
    tp_instance *in;
    const tp_sync_config *cfg;
    tp_store *db;   /* this thread's SQLite connection */
    const tp_pq_api *pq; /* libpq, from tillpoints-sync.so; NULL until loaded (load_pq) */
    PGconn *pg;     /* NULL while disconnected; never set while pq is NULL */
    int wake_fd;    /* eventfd: stop and retry-now */
    atomic_int stop;
    pthread_t thread;
    int started;
    uint64_t rng;   /* jitter PRNG (splitmix64), per instance */
    int64_t backoff_ms;
    int64_t last_pull_ms;
    int64_t retry_seen;
    int pushed_since_pull;
    char *arr[3];   /* array literals: event ids, kinds, payloads */
    size_t arr_len[3], arr_cap[3];
    tp_central_balance *bal;
    size_t bal_cap;
    /* Pipelining: a batch committed centrally but not yet marked delivered
     * in SQLite; it is marked while the next batch runs on the server. */
    int mark_pending, overlap;
    int64_t mark_first, mark_last;
    tp_central_balance *mark_bal;
    size_t mark_nbal, mark_cap;
    tp_outbox_batch batch;
    pthread_mutex_t lock; /* guards snap */
    tp_sync_snapshot snap;
    /* The last failure, beside the sentence in the caller's `why`: its
     * status for the host, the driver's own words for the log, and what
     * the server said of it (SQLSTATE, constraint, primary message). */
    tp_status why_status;
    char why_raw[512];
    char err_state[6];
    char err_constraint[64];
    char err_primary[256];
};

/* ------------------------------------------------------------ small helpers */

static uint64_t rng_next(tp_sync *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int stopping(tp_sync *s)
{
    return atomic_load(&s->stop);
}

static void persist_link(tp_sync *s);

/* The state the thread is in, and (error not NULL) why: `status` for the
 * host, `error` a sentence for people, `raw` the driver's words for the
 * log only. Each change is logged once, posted once as SYNC_STATE and
 * written to the database (sync_link), where any process reads it. */
static void set_state(tp_sync *s, tp_sync_state st, tp_status status, const char *error,
                      const char *raw)
{
    pthread_mutex_lock(&s->lock);
    tp_sync_state was = s->snap.state;
    /* A sentence longer than last_error is kept cut, not dropped (tp_copy
     * would leave ""), and compared as kept, so a long one repeated on each
     * retry is still one change. */
    size_t keep = sizeof s->snap.last_error - 1;
    int changed = was != st || (error && strncmp(error, s->snap.last_error, keep) != 0);
    s->snap.state = st;
    if (error) {
        tp_buf_set(s->snap.last_error, sizeof s->snap.last_error, "%s", error);
        s->snap.status = status;
        s->snap.last_error_ms = tp_now_ms();
    } else if (st == TP_SYNC_ONLINE) {
        s->snap.last_success_ms = tp_now_ms();
        s->snap.next_attempt_ms = 0;
    }
    pthread_mutex_unlock(&s->lock);
    if (changed)
        persist_link(s);
    /* Logged once per change, not once per retry. */
    if (changed && error)
        tp_instance_log(s->in, TP_LOG_WARNING,
                        "central database: %s Checkouts go on; events wait in the outbox and "
                        "are retried with backoff.%s%s%s", error, raw && *raw ? " (" : "",
                        raw && *raw ? raw : "", raw && *raw ? ")" : "");
    else if (changed && st == TP_SYNC_ONLINE && was != TP_SYNC_CONNECTING)
        tp_instance_log(s->in, TP_LOG_INFO, "central database reachable again");
    /* The host hears of each change once, on its main thread. */
    if (changed && (error || (st == TP_SYNC_ONLINE && was != TP_SYNC_CONNECTING))) {
        tp_outcome o;
        memset(&o, 0, sizeof o);
        o.kind = TP_EVENT_SYNC_STATE;
        o.status = error ? status : TP_OK;
        o.time_ms = tp_now_ms();
        tp_buf_set(o.message, sizeof o.message, "%s",
                   error ? error : "The central database is reachable again.");
        tp_instance_post(s->in, &o);
    }
}

/* Writes the snapshot's link state to sync_link on the thread's own
 * connection. A failure is logged and otherwise ignored: the state is a
 * report, and the next change writes it again. */
static void persist_link(tp_sync *s)
{
    tp_sync_link link;
    memset(&link, 0, sizeof link);
    pthread_mutex_lock(&s->lock);
    link.state = s->snap.state;
    link.status = s->snap.state == TP_SYNC_ONLINE ? TP_OK : s->snap.status;
    if (s->snap.state != TP_SYNC_ONLINE)
        tp_buf_set(link.error, sizeof link.error, "%s", s->snap.last_error);
    link.error_ms = s->snap.state == TP_SYNC_ONLINE ? 0 : s->snap.last_error_ms;
    link.next_attempt_ms = s->snap.next_attempt_ms;
    pthread_mutex_unlock(&s->lock);
    link.updated_ms = tp_now_ms();
    tp_message msg;
    if (tp_sync_link_put(s->db, &link, &msg) != TP_OK)
        tp_instance_log(s->in, TP_LOG_WARNING, "%s", msg.text);
}



/* The sync thread's state for a failure of this status: reachable but
 * unusable until someone acts (ERROR), or waiting for the server or the
 * network (OFFLINE). */
static tp_sync_state state_for(tp_status st)
{
    return st == TP_ERR_CONFIG || st == TP_ERR_VERSION || st == TP_ERR_UNSUPPORTED
               ? TP_SYNC_ERROR
               : TP_SYNC_OFFLINE;
}

/* Records a failure that is not the server's refusal: `why` gets the
 * sentence, the thread the status and the driver's words. */
static void failed(tp_sync *s, char *why, size_t cap, tp_status st, const char *raw,
                   const char *sentence)
{
    tp_buf_set(why, cap, "%s", sentence);
    s->why_status = st;
    tp_pg_raw_line(s->why_raw, sizeof s->why_raw, raw);
}

void tp_sync_snapshot_get(tp_sync *s, tp_sync_snapshot *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    *out = s->snap;
    pthread_mutex_unlock(&s->lock);
}

static void count(tp_sync *s, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&s->lock);
    *field += n;
    pthread_mutex_unlock(&s->lock);
}

/* tp_pg_wait on this thread's wake-up descriptor and stop flag. */
static int wait_fd(tp_sync *s, int fd, short events, int64_t deadline)
{
    return tp_pg_wait(s->wake_fd, &s->stop, fd, events, deadline);
}

static void disconnect(tp_sync *s)
{
    if (s->pg)
        s->pq->finish(s->pg);
    s->pg = NULL;
}

/* ------------------------------------------------------------ libpq, async */

static void flush_mark(tp_sync *s);

static pg_fail classify(const tp_pq_api *pq, const PGresult *r)
{
    const char *state = r ? pq->resultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
        return PG_PERMANENT;
    return PG_TRANSIENT;
}

/* What an error the server answered means, by SQLSTATE, as a sentence for
 * the whole batch, with its status; the server's own words go to the log
 * (why_raw), and its SQLSTATE, constraint and primary message stay for
 * row_refusal when the batch is then sent row by row. */
static void server_refusal(tp_sync *s, const PGresult *r, char *why, size_t cap)
{
    const tp_pq_api *pq = s->pq;
    const char *state = pq->resultErrorField(r, PG_DIAG_SQLSTATE);
    const char *primary = pq->resultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = pq->resultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    const char *constraint = pq->resultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
    tp_buf_set(s->err_state, sizeof s->err_state, "%s", state ? state : "");
    tp_buf_set(s->err_constraint, sizeof s->err_constraint, "%s", constraint ? constraint : "");
    tp_pg_raw_line(s->err_primary, sizeof s->err_primary, primary);
    size_t d = detail ? strcspn(detail, "\n") : 0;
    tp_buf_set(s->why_raw, sizeof s->why_raw, "SQLSTATE %s: %s%s%.*s", state ? state : "?",
               s->err_primary, d ? " " : "", (int)d, detail ? detail : "");
    const char *st = s->err_state;
    if (strcmp(st, "42P01") == 0 || strcmp(st, "42883") == 0) {
        s->why_status = TP_ERR_VERSION;
        tp_copy(why, cap, "The central database has no tillpoints schema, or only part of it: "
                          "run `tillpoints central init` once.");
    } else if (strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0) {
        s->why_status = TP_ERR_BUSY;
        tp_buf_set(why, cap, "The central database did not take this terminal's entries within "
                   "%d ms (a lock or statement timeout): it is busy; they are sent again "
                   "shortly.", s->cfg->statement_timeout_ms);
    } else if (strcmp(st, "40P01") == 0 || strcmp(st, "40001") == 0) {
        s->why_status = TP_ERR_BUSY;
        tp_copy(why, cap, "The central database broke off a conflicting transaction; the "
                          "entries are sent again.");
    } else if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0) {
        s->why_status = TP_ERR_UNREACHABLE;
        tp_copy(why, cap, "The connection to the central database was lost (the server "
                          "restarted or is shutting down); this terminal connects again.");
    } else if (strncmp(st, "53", 2) == 0) {
        s->why_status = TP_ERR_STORAGE;
        tp_copy(why, cap, "The central database is out of disk space or memory: its "
                          "administrator must free some. The entries wait.");
    } else if (strcmp(st, "42501") == 0) {
        s->why_status = TP_ERR_CONFIG;
        tp_copy(why, cap, "The central database does not let this terminal's user write the "
                          "tillpoints tables: grant it the rights.");
    } else if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0) {
        s->why_status = TP_ERR_INVALID_ARGUMENT;
        tp_copy(why, cap, "The central database refused an entry of the batch; each is sent "
                          "alone to find which.");
    } else {
        /* No class of its own (e.g. a trigger's exception): its words are
         * all there is to go on, so they follow the sentence. */
        s->why_status = TP_ERR_STORAGE;
        size_t n = strlen(s->err_primary);
        while (n > 0 && (s->err_primary[n - 1] == '.' || s->err_primary[n - 1] == ' '))
            n--;
        tp_buf_set(why, cap, "The central database refused the entries; they wait and are "
                   "retried; the server said: %.*s.", (int)n, s->err_primary);
    }
}

/* Why the central database refused one entry for good (SQLSTATE class 22
 * or 23, kept by server_refusal), as a sentence with the important part
 * first, and the status the SYNC_PARKED event carries: TP_ERR_DUPLICATE
 * when it already holds it, TP_ERR_INVALID_ARGUMENT when the entry breaks
 * one of its rules. `holder`: for a receipt credited elsewhere, "terminal
 * T of store L" (or ""). */
static tp_status row_refusal(tp_sync *s, const tp_outbox_row *row, const char *holder,
                             char *why, size_t cap)
{
    const char *st = s->err_state;
    if (strcmp(st, "23505") == 0) {
        if (row->receipt[0] && holder[0])
            tp_buf_set(why, cap, "Receipt %s was already credited at %s; the central database "
                       "keeps the first credit.", row->receipt, holder);
        else if (row->receipt[0])
            tp_buf_set(why, cap, "Receipt %s was already credited at another terminal; the "
                       "central database keeps the first credit.", row->receipt);
        else
            tp_buf_set(why, cap, "The central database already holds this %s (%s).", row->kind,
                       s->err_constraint[0] ? s->err_constraint : "a unique key");
        return TP_ERR_DUPLICATE;
    }
    if (strcmp(st, "23514") == 0 && !s->err_constraint[0]) {
        /* Raised by the central schema's own checks (the audit chain),
         * whose message is already a sentence for people. */
        tp_buf_set(why, cap, "%s.", s->err_primary);
        size_t n = strlen(why);
        if (n >= 2 && why[n - 2] == '.')
            why[n - 1] = '\0';
    } else if (strncmp(st, "23", 2) == 0) {
        tp_buf_set(why, cap, "The central database refused %s%s: it breaks its rule %s.",
                   row->receipt[0] ? "receipt " : "this ", row->receipt[0] ? row->receipt
                   : row->kind, s->err_constraint[0] ? s->err_constraint : "(unnamed)");
    } else {
        tp_buf_set(why, cap, "The central database does not accept a value in %s%s.",
                   row->receipt[0] ? "receipt " : "this ", row->receipt[0] ? row->receipt
                   : row->kind);
    }
    return TP_ERR_INVALID_ARGUMENT;
}


/* Called by tp_pg_exchange once a statement is sent: while the server
 * works, the batch committed before it is marked delivered (`overlap`). */
static void overlap_mark(void *arg)
{
    tp_sync *s = arg;
    if (s->overlap) {
        s->overlap = 0;
        flush_mark(s);
    }
}

/* Sends one statement (extended protocol when nparams >= 0, simple
 * otherwise) and waits for every result, within statement_timeout plus a
 * margin (a stalled network never answers, and the server-side timeout
 * cannot fire then). Returns the last result (caller frees) or NULL. */
static PGresult *pg_run(tp_sync *s, const char *sql, int nparams, const char *const *params,
                        pg_fail *fail, char *why, size_t why_cap)
{
    *fail = PG_TRANSIENT;
    if (!s->pg) {
        failed(s, why, why_cap, TP_ERR_UNREACHABLE, "not connected",
               "This terminal is not connected to the central database.");
        return NULL;
    }
    int64_t deadline = tp_mono_ms() + s->cfg->statement_timeout_ms + 2000;
    PGresult *last = NULL;
    switch (tp_pg_exchange(s->pq, s->pg, s->wake_fd, &s->stop, sql, nparams, params, deadline,
                           overlap_mark, s, &last)) {
    case TP_PG_DONE:
        break;
    case TP_PG_SEND_FAILED:
        failed(s, why, why_cap, TP_ERR_UNREACHABLE, s->pq->errorMessage(s->pg),
               "The connection to the central database broke while sending; this terminal "
               "connects again.");
        disconnect(s);
        return NULL;
    case TP_PG_BROKEN:
        failed(s, why, why_cap, TP_ERR_UNREACHABLE, s->pq->errorMessage(s->pg),
               "The connection to the central database broke; this terminal connects "
               "again.");
        disconnect(s);
        return NULL;
    case TP_PG_TIMEOUT:
    case TP_PG_STOPPED:
        goto timeout_or_stop;
    }
    if (!last) {
        failed(s, why, why_cap, TP_ERR_UNREACHABLE, s->pq->errorMessage(s->pg),
               "The connection to the central database broke; this terminal connects again.");
        disconnect(s);
        return NULL;
    }
    if (s->pq->resultStatus(last) == PGRES_FATAL_ERROR) {
        *fail = s->pq->status(s->pg) == CONNECTION_BAD ? PG_TRANSIENT : classify(s->pq, last);
        server_refusal(s, last, why, why_cap);
        if (s->pq->status(s->pg) == CONNECTION_BAD) {
            if (*fail == PG_TRANSIENT && s->why_status != TP_ERR_VERSION)
                s->why_status = TP_ERR_UNREACHABLE;
            disconnect(s);
        }
        s->pq->clear(last);
        return NULL;
    }
    *fail = PG_OK;
    return last;
timeout_or_stop:
    if (stopping(s)) {
        *fail = PG_STOPPED;
        failed(s, why, why_cap, TP_ERR_STATE, "", "Stopping.");
    } else {
        char sentence[200];
        tp_buf_set(sentence, sizeof sentence, "The central database did not answer within %d ms "
                   "(a timeout); the connection was dropped and is made again.",
                   s->cfg->statement_timeout_ms + 2000);
        failed(s, why, why_cap, TP_ERR_UNREACHABLE, "no answer", sentence);
    }
    disconnect(s); /* the server rolls back whatever was open */
    return NULL;
}

/* Runs a statement that returns no rows we need. */
static pg_fail pg_exec(tp_sync *s, const char *sql, char *why, size_t cap)
{
    pg_fail f;
    PGresult *r = pg_run(s, sql, -1, NULL, &f, why, cap);
    s->pq->clear(r);
    return f;
}



static int schema_verdict(tp_sync *s, int v, char *why, size_t cap);


/* Checks the central schema version on a fresh connection. */
static int check_schema(tp_sync *s, char *why, size_t cap)
{
    pg_fail f;
    PGresult *r = pg_run(s, "SELECT max(version) FROM schema_version", -1, NULL, &f, why, cap);
    if (!r) {
        if (f == PG_STOPPED || s->why_status != TP_ERR_VERSION)
            return -1;
        /* No schema_version table at all: nothing was ever created. */
        tp_copy(why, cap, "The central database has no tillpoints schema: run `tillpoints "
                          "central init` once.");
        disconnect(s);
        return -2;
    }
    int v = tp_pg_version_of(s->pq, r);
    s->pq->clear(r);
    return schema_verdict(s, v, why, cap);
}

/* 0 when `v` is the version this build speaks; else -2 with a sentence. */
static int schema_verdict(tp_sync *s, int v, char *why, size_t cap)
{
    if (v == TP_CENTRAL_SCHEMA_VERSION)
        return 0;
    s->why_status = TP_ERR_VERSION;
    s->why_raw[0] = '\0';
    if (v > TP_CENTRAL_SCHEMA_VERSION)
        tp_buf_set(why, cap, "The central schema is version %d, newer than this terminal's %d: "
                   "install the newer tillpoints on this terminal.", v, TP_CENTRAL_SCHEMA_VERSION);
    else if (v == 0)
        tp_copy(why, cap, "The central database has no tillpoints schema: run `tillpoints "
                          "central init` once.");
    else
        tp_buf_set(why, cap, "The central schema is version %d and this terminal needs %d: run "
                   "`tillpoints central init` to migrate it.", v, TP_CENTRAL_SCHEMA_VERSION);
    disconnect(s);
    return -2;
}

/* Connects (interruptibly) and checks the schema. 0 ok; -1 unreachable;
 * -2 reachable but unusable; -3 stopping. */
static int connect_central(tp_sync *s, char *why, size_t cap)
{
    disconnect(s);
    s->pg = tp_pg_connect_start(s->pq, s->cfg, s->in->cfg.terminal);
    if (!s->pg) {
        failed(s, why, cap, TP_ERR_NO_MEMORY, "", "Out of memory connecting to the central "
               "database.");
        return -1;
    }
    int64_t deadline = tp_mono_ms() + (int64_t)s->cfg->connect_timeout_s * 1000;
    int w = tp_pg_connect_poll(s->pq, s->pg, s->wake_fd, &s->stop, deadline);
    if (w == -1) {
        disconnect(s);
        return -3;
    }
    if (w == 0) {
        char sentence[160];
        tp_buf_set(sentence, sizeof sentence, "The central database cannot be reached: no "
                   "answer within %d s (connect timeout).", s->cfg->connect_timeout_s);
        failed(s, why, cap, TP_ERR_UNREACHABLE, "connect timeout", sentence);
        disconnect(s);
        return -1;
    }
    if (s->pq->status(s->pg) != CONNECTION_OK) {
        const char *e = s->pq->errorMessage(s->pg);
        s->why_status = tp_pg_connect_cause(e, why, cap);
        tp_pg_raw_line(s->why_raw, sizeof s->why_raw, e);
        disconnect(s);
        return state_for(s->why_status) == TP_SYNC_ERROR ? -2 : -1;
    }
    if (s->pq->setnonblocking(s->pg, 1) != 0) {
        failed(s, why, cap, TP_ERR_UNREACHABLE, s->pq->errorMessage(s->pg),
               "This terminal cannot use its connection to the central database; it connects "
               "again.");
        disconnect(s);
        return -1;
    }
    int rc = check_schema(s, why, cap);
    if (rc == -1 && stopping(s))
        return -3;
    return rc;
}

/* ------------------------------------------------------------------ push */

/* Appends `v` to the array literal being built in s->arr[k] as one
 * double-quoted element ("\\" and "\"" escaped). */
static int arr_put(tp_sync *s, int k, const char *v, int first)
{
    size_t n = strlen(v);
    size_t need = s->arr_len[k] + 2 * n + 8;
    if (need > s->arr_cap[k]) {
        size_t cap = s->arr_cap[k] ? s->arr_cap[k] : 65536;
        while (cap < need)
            cap *= 2;
        char *t = realloc(s->arr[k], cap);
        if (!t)
            return -1;
        s->arr[k] = t;
        s->arr_cap[k] = cap;
    }
    char *o = s->arr[k] + s->arr_len[k];
    *o++ = first ? '{' : ',';
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"' || v[i] == '\\')
            *o++ = '\\';
        *o++ = v[i];
    }
    *o++ = '"';
    s->arr_len[k] = (size_t)(o - s->arr[k]);
    return 0;
}

/* Sends rows[0..n) in one central transaction and marks them delivered.
 * PG_OK, or why it failed (the rows stay pending). */
/* Marks the batch committed earlier delivered (see `overlap`). */
static void flush_mark(tp_sync *s)
{
    if (!s->mark_pending)
        return;
    s->mark_pending = 0;
    tp_message msg;
    if (tp_outbox_delivered(s->db, s->mark_first, s->mark_last, s->mark_bal, s->mark_nbal,
                            tp_now_ms(), &msg) != TP_OK)
        tp_instance_log(s->in, TP_LOG_ERROR,
                        "%s The events reached the central database and will be sent again "
                        "(harmlessly) later.", msg.text);
}

static pg_fail push_rows(tp_sync *s, const tp_outbox_row *rows, size_t n, int defer_mark,
                         char *why, size_t cap)
{
    /* Three array parameters, not a VALUES list of 3n parameters: the
     * statement is then planned the same way whatever n is, and cheaply. */
    for (int k = 0; k < 3; k++)
        s->arr_len[k] = 0;
    for (size_t i = 0; i < n; i++) {
        if (arr_put(s, 0, rows[i].event_id, i == 0) != 0 ||
            arr_put(s, 1, rows[i].kind, i == 0) != 0 ||
            arr_put(s, 2, rows[i].payload, i == 0) != 0) {
            failed(s, why, cap, TP_ERR_NO_MEMORY, "", "Out of memory building a batch.");
            return PG_TRANSIENT;
        }
    }
    const char *params[5] = {s->in->cfg.location, s->in->cfg.terminal, NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        if (arr_put(s, k, "", 0) != 0) { /* room for the closing brace */
            failed(s, why, cap, TP_ERR_NO_MEMORY, "", "Out of memory building a batch.");
            return PG_TRANSIENT;
        }
        s->arr_len[k] -= 3; /* drop the dummy ,"" again */
        s->arr[k][s->arr_len[k]] = '}';
        s->arr[k][s->arr_len[k] + 1] = '\0';
        params[2 + k] = s->arr[k];
    }
    /* The version is read under the lock, in the same round trip, so a
     * schema changed under a live connection is noticed at the next batch. */
    char lock[160];
    snprintf(lock, sizeof lock, "BEGIN; SELECT pg_advisory_xact_lock(%lld);"
             " SELECT max(version) FROM schema_version", PUSH_LOCK_KEY);
    pg_fail f;
    PGresult *r = pg_run(s, lock, -1, NULL, &f, why, cap);
    if (!r) {
        if (s->pg)
            disconnect(s); /* aborted transaction, or a missing schema: start afresh */
        return f == PG_PERMANENT ? PG_TRANSIENT : f;
    }
    int v = tp_pg_version_of(s->pq, r);
    s->pq->clear(r);
    if (v != TP_CENTRAL_SCHEMA_VERSION) {
        schema_verdict(s, v, why, cap); /* disconnects */
        return PG_TRANSIENT;
    }
    s->overlap = 1;
    r = pg_run(s, push_sql, 5, params, &f, why, cap);
    s->overlap = 0;
    flush_mark(s); /* when pg_run failed before it got there */
    if (!r) {
        if (s->pg) {
            char ignored[64];
            pg_exec(s, "ROLLBACK", ignored, sizeof ignored);
        }
        return f;
    }
    size_t nb = (size_t)s->pq->ntuples(r);
    if (nb > s->bal_cap) {
        tp_central_balance *b = realloc(s->bal, nb * sizeof *b);
        if (!b) {
            s->pq->clear(r);
            pg_exec(s, "ROLLBACK", why, cap);
            failed(s, why, cap, TP_ERR_NO_MEMORY, "", "Out of memory reading balances.");
            return PG_TRANSIENT;
        }
        s->bal = b;
        s->bal_cap = nb;
    }
    for (size_t i = 0; i < nb; i++) {
        tp_copy(s->bal[i].code, sizeof s->bal[i].code, s->pq->getvalue(r, (int)i, 0));
        s->bal[i].balance = strtoll(s->pq->getvalue(r, (int)i, 1), NULL, 10);
        s->bal[i].seq = strtoll(s->pq->getvalue(r, (int)i, 2), NULL, 10);
    }
    s->pq->clear(r);
    f = pg_exec(s, "COMMIT", why, cap);
    if (f != PG_OK)
        return f == PG_PERMANENT ? PG_TRANSIENT : f; /* unknown outcome: send again */
    /* Hand the batch to the mark slot (swapping the balance buffers). */
    tp_central_balance *tb = s->mark_bal;
    size_t tc = s->mark_cap;
    s->mark_bal = s->bal;
    s->mark_cap = s->bal_cap;
    s->bal = tb;
    s->bal_cap = tc;
    s->mark_nbal = nb;
    s->mark_first = rows[0].id;
    s->mark_last = rows[n - 1].id;
    s->mark_pending = 1;
    if (!defer_mark)
        flush_mark(s);
    count(s, &s->snap.pushed, n);
    s->pushed_since_pull = 1;
    return PG_OK;
}

/* Who holds a receipt in the central ledger, after the ledger's unique
 * index on (location, receipt) refused ours: "terminal T of store L", or
 * "" when it cannot be read. A statement of its own after the ROLLBACK,
 * only reading: the push transaction and its guarantees are untouched, and
 * since central ledger rows are append-only and the refusing row had
 * committed before our push took the lock, the row found is the one that
 * refused ours. A failure here is not the push's: the sentence then says
 * "another terminal" and the next push meets the broken link, if any. */
static void receipt_holder(tp_sync *s, const tp_outbox_row *row, char *out, size_t cap)
{
    out[0] = '\0';
    if (!s->pg || strcmp(row->kind, "ledger") != 0)
        return;
    const char *params[1] = {row->payload};
    char ignored[256];
    pg_fail f;
    PGresult *r = pg_run(s, "SELECT terminal, location FROM ledger"
                            " WHERE location = ($1::jsonb)->>'location'"
                            " AND receipt = ($1::jsonb)->>'receipt'"
                            " AND kind IN ('earn', 'retro') ORDER BY terminal LIMIT 1",
                         1, params, &f, ignored, sizeof ignored);
    if (r && s->pq->ntuples(r) == 1) {
        const char *terminal = s->pq->getvalue(r, 0, 0);
        if (strcmp(terminal, s->in->cfg.terminal) == 0)
            tp_buf_set(out, cap, "this terminal (%s) of %s", terminal, s->pq->getvalue(r, 0, 1));
        else
            tp_buf_set(out, cap, "terminal %s of %s", terminal, s->pq->getvalue(r, 0, 1));
    }
    s->pq->clear(r);
}

/* A batch with a poison row: each row alone. PG_OK when the batch was
 * dealt with (delivered or failure counted), else the transient failure. */
static pg_fail push_one_by_one(tp_sync *s, const tp_outbox_batch *b, char *why, size_t cap)
{
    for (size_t i = 0; i < b->n; i++) {
        const tp_outbox_row *row = &b->rows[i];
        char one_why[512];
        pg_fail f = push_rows(s, row, 1, 0, one_why, sizeof one_why);
        if (f == PG_OK)
            continue;
        if (f != PG_PERMANENT) {
            tp_copy(why, cap, one_why);
            return f;
        }
        char server[sizeof s->why_raw], holder[2 * TP_LOCATION_MAX + 48] = "";
        tp_buf_set(server, sizeof server, "%s", s->why_raw);
        if (strcmp(s->err_state, "23505") == 0)
            receipt_holder(s, row, holder, sizeof holder);
        char sentence[TP_MESSAGE_MAX + 1];
        tp_status status = row_refusal(s, row, holder, sentence, sizeof sentence);
        int parked = 0;
        tp_message msg;
        if (tp_outbox_failed(s->db, row->id, sentence, s->cfg->max_attempts, &parked, &msg) !=
            TP_OK) {
            failed(s, why, cap, TP_ERR_STORAGE, "", msg.text);
            return PG_TRANSIENT;
        }
        if (parked) {
            count(s, &s->snap.parked, 1);
            tp_outcome o;
            memset(&o, 0, sizeof o);
            o.kind = TP_EVENT_SYNC_PARKED;
            o.status = status;
            o.time_ms = tp_now_ms();
            o.points = row->points;
            tp_buf_set(o.receipt, sizeof o.receipt, "%s", row->receipt);
            tp_buf_set(o.member_code, sizeof o.member_code, "%s", row->member);
            /* The cause first: a message cut at its size loses the advice. */
            if (row->receipt[0])
                tp_buf_set(o.message, sizeof o.message, "%s Parked: %lld points of member %s "
                           "no longer count here; see `tillpoints queue list`.", sentence,
                           (long long)row->points, row->member);
            else
                tp_buf_set(o.message, sizeof o.message, "%s Parked: the %s entry %lld waits "
                           "for a manager; see `tillpoints queue list`.", sentence, row->kind,
                           (long long)row->id);
            tp_instance_post(s->in, &o);
        }
        tp_instance_log(s->in, parked ? TP_LOG_ERROR : TP_LOG_WARNING,
                        "outbox entry %lld (%s) refused by the central database%s: %s "
                        "(server: %s)", (long long)row->id, row->event_id,
                        parked ? ", parked; it no longer counts in this terminal's synced "
                                 "balance" : "", sentence, server);
    }
    return PG_OK;
}

/* ------------------------------------------------------------------ pull */

static const char sql_pull_member[] =
    "INSERT OR IGNORE INTO members(code, name, phone, email, app_id, created_ms)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_pull_card[] =
    "INSERT OR IGNORE INTO member_cards(code, member_id, added_ms)"
    " SELECT ?1, id, ?3 FROM members WHERE code = ?2";
static const char sql_pull_balance[] =
    "INSERT INTO central_balances(code, balance, seq, pulled_ms) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(code) DO UPDATE SET balance = excluded.balance, seq = excluded.seq,"
    " pulled_ms = excluded.pulled_ms WHERE excluded.seq > central_balances.seq";

static const char sql_pull_overdraft[] =
    "INSERT OR IGNORE INTO overdrafts(member, balance, location, terminal, receipt, detected_ms,"
    " id, pulled_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

typedef struct pull_def {
    tp_stmt id;          /* the local insert's statement, and which pull this is */
    const char *cursor;  /* sync_state key */
    const char *select;  /* $1 = cursor; last column is seq */
    const char *insert;  /* binds the columns before seq, in order */
    int ncols;
} pull_def;

static const pull_def pulls[] = {
    {TP_STMT_SYNC_PULL_MEMBER, "members_seq",
     "SELECT code, name, phone, email, app_id, created_ms, seq FROM members"
     " WHERE seq > $1 ORDER BY seq LIMIT 2000",
     sql_pull_member, 6},
    {TP_STMT_SYNC_PULL_CARD, "cards_seq",
     "SELECT code, member, added_ms, seq FROM member_cards WHERE seq > $1 ORDER BY seq LIMIT 2000",
     sql_pull_card, 3},
    {TP_STMT_SYNC_PULL_BALANCE, "balances_seq",
     "SELECT member, balance, seq FROM balances WHERE seq > $1 ORDER BY seq LIMIT 2000",
     sql_pull_balance, 2},
    /* Central schema v3: each new report is also an OVERDRAFT event. */
    {TP_STMT_SYNC_PULL_OVERDRAFT, "overdrafts_seq",
     "SELECT member, balance, location, terminal, receipt,"
     " (extract(epoch FROM detected_at) * 1000)::bigint, seq FROM overdrafts"
     " WHERE seq > $1 ORDER BY seq LIMIT 2000",
     sql_pull_overdraft, 6},
};

/* One TP_EVENT_OVERDRAFT for a report pulled (row i of r), for the host's
 * manager queue: a free-lane event, posted after the rows committed. */
static void post_overdraft(tp_sync *s, const PGresult *r, int i)
{
    tp_outcome o;
    memset(&o, 0, sizeof o);
    o.kind = TP_EVENT_OVERDRAFT;
    o.status = TP_OK;
    o.time_ms = tp_now_ms();
    tp_copy(o.member_code, sizeof o.member_code, s->pq->getvalue(r, i, 0));
    o.points = strtoll(s->pq->getvalue(r, i, 1), NULL, 10);
    o.balance = o.points;
    tp_copy(o.receipt, sizeof o.receipt, s->pq->getvalue(r, i, 4));
    tp_buf_set(o.message, sizeof o.message, "Redemptions at several tills took %s to %lld "
               "points while the central database was out of reach; see tillpoints "
               "overdrafts.", o.member_code, (long long)o.points);
    tp_instance_post(s->in, &o);
}

/* Applies one page; returns rows applied, or -1. */
static long apply_page(tp_sync *s, const pull_def *d, PGresult *r, tp_message *msg)
{
    int n = s->pq->ntuples(r);
    if (n == 0)
        return 0;
    if (tp_store_begin(s->db, msg) != TP_OK)
        return -1;
    int ok = tp_sync_state_set(s->db, "pulling", 1) == TP_OK;
    sqlite3_stmt *q = ok ? tp_store_cached(s->db, d->id, d->insert) : NULL;
    int64_t now = tp_now_ms();
    int64_t seq = 0;
    /* Overdraft reports new to this terminal, announced after the commit. */
    unsigned char *fresh = d->id == TP_STMT_SYNC_PULL_OVERDRAFT ? calloc((size_t)n, 1) : NULL;
    if (d->id == TP_STMT_SYNC_PULL_OVERDRAFT && !fresh)
        q = NULL;
    for (int i = 0; q && i < n; i++) {
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
        for (int c = 0; c < d->ncols; c++) {
            if (s->pq->getisnull(r, i, c))
                sqlite3_bind_null(q, c + 1);
            else
                sqlite3_bind_text(q, c + 1, s->pq->getvalue(r, i, c), -1, SQLITE_STATIC);
        }
        if (d->id == TP_STMT_SYNC_PULL_BALANCE) {
            sqlite3_bind_int64(q, 2, strtoll(s->pq->getvalue(r, i, 1), NULL, 10));
            sqlite3_bind_int64(q, 3, strtoll(s->pq->getvalue(r, i, 2), NULL, 10));
            sqlite3_bind_int64(q, 4, now);
        } else if (d->id == TP_STMT_SYNC_PULL_OVERDRAFT) {
            sqlite3_bind_int64(q, 2, strtoll(s->pq->getvalue(r, i, 1), NULL, 10));
            sqlite3_bind_int64(q, 6, strtoll(s->pq->getvalue(r, i, 5), NULL, 10));
            sqlite3_bind_int64(q, 7, strtoll(s->pq->getvalue(r, i, 6), NULL, 10));
            sqlite3_bind_int64(q, 8, now);
        } else if (d->id == TP_STMT_SYNC_PULL_MEMBER) {
            sqlite3_bind_text(q, 2, s->pq->getisnull(r, i, 1) ? "" : s->pq->getvalue(r, i, 1), -1,
                              SQLITE_STATIC);
            sqlite3_bind_int64(q, 6, strtoll(s->pq->getvalue(r, i, 5), NULL, 10));
        } else {
            sqlite3_bind_int64(q, 3, strtoll(s->pq->getvalue(r, i, 2), NULL, 10));
        }
        int rc = sqlite3_step(q);
        /* A pulled member whose code or app id is taken locally stays out
         * (OR IGNORE); a CHECK failure is skipped the same way. */
        if (rc != SQLITE_DONE && (rc & 0xff) != SQLITE_CONSTRAINT)
            q = NULL;
        else if (fresh && rc == SQLITE_DONE)
            fresh[i] = sqlite3_changes(tp_store_db(s->db)) > 0;
        seq = strtoll(s->pq->getvalue(r, i, d->ncols), NULL, 10); /* seq comes last */
    }
    if (q)
        sqlite3_reset(q);
    ok = q && tp_sync_state_set(s->db, d->cursor, seq) == TP_OK &&
         tp_sync_state_set(s->db, "pulling", 0) == TP_OK &&
         tp_sync_state_set(s->db, "last_pull_ms", now) == TP_OK &&
         tp_sync_state_set(s->db, "last_success_ms", now) == TP_OK;
    if (!ok) {
        tp_msg_set(msg, "Cannot store pulled rows: %s.", tp_store_errmsg(s->db));
        tp_store_rollback(s->db);
        free(fresh);
        return -1;
    }
    if (tp_store_commit(s->db, msg) != TP_OK) {
        free(fresh);
        return -1;
    }
    for (int i = 0; fresh && i < n; i++)
        if (fresh[i])
            post_overdraft(s, r, i);
    free(fresh);
    return n;
}

static pg_fail pull_all(tp_sync *s, char *why, size_t cap)
{
    for (size_t k = 0; k < sizeof pulls / sizeof pulls[0]; k++) {
        for (;;) {
            int64_t cursor = 0;
            if (tp_sync_state_get(s->db, pulls[k].cursor, &cursor) != TP_OK) {
                char sentence[200];
                tp_buf_set(sentence, sizeof sentence, "Cannot read the pull cursor: %s.",
                           tp_store_errmsg(s->db));
                failed(s, why, cap, TP_ERR_STORAGE, "", sentence);
                return PG_TRANSIENT;
            }
            char c[32];
            snprintf(c, sizeof c, "%lld", (long long)cursor);
            const char *p[1] = {c};
            pg_fail f;
            PGresult *r = pg_run(s, pulls[k].select, 1, p, &f, why, cap);
            if (!r)
                return f == PG_PERMANENT ? PG_TRANSIENT : f;
            tp_message msg;
            long n = apply_page(s, &pulls[k], r, &msg);
            s->pq->clear(r);
            if (n < 0) {
                failed(s, why, cap, TP_ERR_STORAGE, "", msg.text);
                return PG_TRANSIENT;
            }
            count(s, &s->snap.pulled, (uint64_t)n);
            if (n < PULL_PAGE)
                break;
        }
    }
    s->pushed_since_pull = 0;
    s->last_pull_ms = tp_mono_ms();
    return PG_OK;
}

/* ------------------------------------------------------------ the thread */

static void backoff_wait(tp_sync *s)
{
    int64_t min = s->cfg->backoff_min_ms, max = s->cfg->backoff_max_ms;
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : min;
    if (s->backoff_ms > max)
        s->backoff_ms = max;
    /* Equal jitter: half fixed, half random, so terminals that lost the
     * server together do not come back in lockstep. */
    int64_t half = s->backoff_ms / 2;
    int64_t delay = half + (int64_t)(rng_next(s) % (uint64_t)(s->backoff_ms - half + 1));
    pthread_mutex_lock(&s->lock);
    s->snap.next_attempt_ms = tp_now_ms() + delay;
    pthread_mutex_unlock(&s->lock);
    persist_link(s); /* one write per retry: any process can say when the next one is */
    int64_t end = tp_mono_ms() + delay;
    while (!stopping(s) && tp_mono_ms() < end) {
        int64_t slice = end - tp_mono_ms();
        if (slice > 250)
            slice = 250;
        wait_fd(s, -1, 0, tp_mono_ms() + slice);
        int64_t retry = 0;
        if (tp_sync_state_get(s->db, "retry_ms", &retry) == TP_OK && retry != s->retry_seen) {
            s->retry_seen = retry;
            s->backoff_ms = 0;
            break;
        }
    }
}

/* libpq comes from the sync module, tillpoints-sync.so (docs/DESIGN.md
 * §14), loaded here on the thread rather than in tp_sync_start(): a till
 * without the module (or without libpq5) must still start and sell. The
 * thread runs anyway and treats the missing module like any other reason
 * the central database cannot be used: the state is TP_SYNC_ERROR with
 * tp_pq()'s sentence (logged and posted once, by set_state), the outbox
 * keeps every event, and each backoff retry (or a manager's retry-now)
 * tries the load again, so a module installed while the till runs is
 * picked up without a restart. A retry costs one stat() of a missing
 * file. 0 when loaded; -1 with a sentence. */
static int load_pq(tp_sync *s, char *why, size_t cap)
{
    if (!s->pq)
        s->pq = tp_pq(why, cap);
    return s->pq ? 0 : -1;
}

static void *sync_main(void *arg)
{
    tp_sync *s = arg;
    char why[768];
    /* Unreadable now: the first retry request seen is then taken as new. */
    if (tp_sync_state_get(s->db, "retry_ms", &s->retry_seen) != TP_OK)
        s->retry_seen = 0;
    while (!stopping(s)) {
        if (load_pq(s, why, sizeof why) != 0) {
            set_state(s, TP_SYNC_ERROR, TP_ERR_UNSUPPORTED, why, NULL);
            backoff_wait(s);
            continue;
        }
        if (!s->pg) {
            int rc = connect_central(s, why, sizeof why);
            if (rc == -3)
                break;
            if (rc != 0) {
                set_state(s, rc == -2 ? TP_SYNC_ERROR : TP_SYNC_OFFLINE, s->why_status, why,
                          s->why_raw);
                backoff_wait(s);
                continue;
            }
            count(s, &s->snap.reconnects, 1);
            set_state(s, TP_SYNC_ONLINE, TP_OK, NULL, NULL);
        }
        tp_message msg;
        if (tp_outbox_next(s->db, s->mark_pending ? s->mark_last : 0, (size_t)s->cfg->batch,
                           &s->batch, &msg) != TP_OK) {
            set_state(s, TP_SYNC_ERROR, TP_ERR_STORAGE, msg.text, NULL);
            backoff_wait(s);
            continue;
        }
        pg_fail f = PG_OK;
        if (s->batch.n > 0) {
            f = push_rows(s, s->batch.rows, s->batch.n, 1, why, sizeof why);
            if (f == PG_PERMANENT)
                f = push_one_by_one(s, &s->batch, why, sizeof why);
        } else if (s->mark_pending) {
            flush_mark(s);
            continue;
        } else if (s->pushed_since_pull ||
                   tp_mono_ms() - s->last_pull_ms >= s->cfg->pull_interval_ms) {
            f = pull_all(s, why, sizeof why);
        }
        if (f == PG_STOPPED)
            break;
        if (f != PG_OK) {
            flush_mark(s);
            /* Start afresh: the next connection checks the schema again. */
            disconnect(s);
            set_state(s, state_for(s->why_status), s->why_status, why, s->why_raw);
            backoff_wait(s);
            continue;
        }
        s->backoff_ms = 0;
        set_state(s, TP_SYNC_ONLINE, TP_OK, NULL, NULL);
        if (s->batch.n == 0)
            wait_fd(s, -1, 0, tp_mono_ms() + s->cfg->push_interval_ms);
    }
    flush_mark(s);
    disconnect(s);
    return NULL;
}

tp_status tp_sync_start(tp_instance *in, tp_sync **out, tp_message *msg)
{
    *out = NULL;
    if (!in->cfg.sync.postgres[0])
        return TP_OK;
    tp_sync *s = calloc(1, sizeof *s);
    if (!s) {
        tp_msg_set(msg, "Out of memory starting the sync thread.");
        return TP_ERR_NO_MEMORY;
    }
    s->in = in;
    s->cfg = &in->cfg.sync;
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    atomic_init(&s->stop, 0);
    pthread_mutex_init(&s->lock, NULL);
    s->snap.state = TP_SYNC_CONNECTING;
    /* Per-instance seed: two terminals started together still differ. */
    s->rng = (uint64_t)tp_now_ms() ^ ((uint64_t)(uintptr_t)s << 16) ^ (uint64_t)getpid();
    if (s->wake_fd < 0) {
        tp_msg_set(msg, "Cannot start the sync thread: %s.", strerror(errno));
        tp_sync_stop(s);
        return TP_ERR_INTERNAL;
    }
    tp_status st = tp_store_open(in->cfg.database, &s->db, msg);
    if (st != TP_OK) {
        tp_sync_stop(s);
        return st;
    }
    if (pthread_create(&s->thread, NULL, sync_main, s) != 0) {
        tp_msg_set(msg, "Cannot start the sync thread.");
        tp_sync_stop(s);
        return TP_ERR_INTERNAL;
    }
    s->started = 1;
    *out = s;
    return TP_OK;
}

void tp_sync_stop(tp_sync *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    if (s->wake_fd >= 0) {
        uint64_t one = 1;
        if (write(s->wake_fd, &one, sizeof one) < 0) { /* a full counter wakes too */
        }
    }
    if (s->started)
        pthread_join(s->thread, NULL);
    disconnect(s);
    tp_store_close(s->db);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    tp_outbox_batch_free(&s->batch);
    for (int k = 0; k < 3; k++)
        free(s->arr[k]);
    free(s->bal);
    free(s->mark_bal);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ------------------------------------------------------------ central init */

static tp_status init_fail(const tp_pq_api *pq, PGconn *pg, PGresult *r, const char *what,
                           tp_message *msg)
{
    char line[400];
    tp_pg_sentence(line, sizeof line, "", r ? pq->resultErrorMessage(r) : pq->errorMessage(pg));
    tp_msg_set(msg, "Cannot %s the central schema: %s", what, line);
    pq->clear(r);
    PGresult *rb = pq->exec(pg, "ROLLBACK");
    pq->clear(rb);
    pq->finish(pg);
    return TP_ERR_STORAGE;
}

tp_status tp_central_init(tp_instance *in, int *from, int *to, tp_message *msg)
{
    const tp_config *cfg = &in->cfg;
    *from = *to = 0;
    if (!cfg->sync.postgres[0]) {
        tp_msg_set(msg, "No central database is configured: set [sync] postgres in the "
                   "configuration file.");
        return TP_ERR_CONFIG;
    }
    char why[TP_MESSAGE_MAX + 1];
    const tp_pq_api *pq = tp_pq(why, sizeof why);
    if (!pq) {
        tp_msg_set(msg, "%s", why); /* names the module and what to install */
        return TP_ERR_UNSUPPORTED;
    }
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", cfg->sync.connect_timeout_s);
    const char *kw[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *val[] = {cfg->sync.postgres, timeout, "tillpoints central init", NULL};
    PGconn *pg = pq->connectdbParams(kw, val, 1);
    if (!pg || pq->status(pg) != CONNECTION_OK) {
        /* The same causes and sentences as the sync thread's. */
        const char *e = pg ? pq->errorMessage(pg) : "out of memory";
        char line[TP_MESSAGE_MAX + 1], raw[400];
        tp_status st = tp_pg_connect_cause(e, line, sizeof line);
        tp_pg_raw_line(raw, sizeof raw, e);
        tp_msg_set(msg, "%s", line);
        tp_instance_log(in, TP_LOG_WARNING, "central init: %s (%s)", line, raw);
        pq->finish(pg);
        return st;
    }
    char lock[96];
    snprintf(lock, sizeof lock, "BEGIN; SELECT pg_advisory_xact_lock(%lld)", INIT_LOCK_KEY);
    PGresult *r = pq->exec(pg, lock);
    if (pq->resultStatus(r) != PGRES_TUPLES_OK)
        return init_fail(pq, pg, r, "lock", msg);
    pq->clear(r);
    r = pq->exec(pg, "SELECT to_regclass('schema_version') IS NOT NULL");
    if (pq->resultStatus(r) != PGRES_TUPLES_OK)
        return init_fail(pq, pg, r, "read", msg);
    int exists = pq->getvalue(r, 0, 0)[0] == 't';
    pq->clear(r);
    int version = 0;
    if (exists) {
        r = pq->exec(pg, "SELECT COALESCE(max(version), 0) FROM schema_version");
        if (pq->resultStatus(r) != PGRES_TUPLES_OK)
            return init_fail(pq, pg, r, "read", msg);
        version = (int)strtol(pq->getvalue(r, 0, 0), NULL, 10);
        pq->clear(r);
    }
    *from = *to = version;
    if (version > TP_CENTRAL_VERSION) {
        r = pq->exec(pg, "ROLLBACK");
        pq->clear(r);
        pq->finish(pg);
        tp_msg_set(msg, "The central schema is version %d, newer than this tillpoints knows "
                   "(%d). Install the newer version.", version, TP_CENTRAL_VERSION);
        return TP_ERR_VERSION;
    }
    while (version < TP_CENTRAL_VERSION) {
        r = pq->exec(pg, tp_central_migrations[version]);
        if (pq->resultStatus(r) != PGRES_COMMAND_OK)
            return init_fail(pq, pg, r, "create", msg);
        pq->clear(r);
        char ins[96];
        snprintf(ins, sizeof ins, "INSERT INTO schema_version(version) VALUES(%d)", version + 1);
        r = pq->exec(pg, ins);
        if (pq->resultStatus(r) != PGRES_COMMAND_OK)
            return init_fail(pq, pg, r, "record", msg);
        pq->clear(r);
        version++;
    }
    r = pq->exec(pg, "COMMIT");
    if (pq->resultStatus(r) != PGRES_COMMAND_OK)
        return init_fail(pq, pg, r, "commit", msg);
    pq->clear(r);
    pq->finish(pg);
    *to = version;
    if (*from == *to)
        tp_msg_set(msg, "The central schema is already at version %d.", *to);
    else
        tp_msg_set(msg, "The central schema went from version %d to %d.", *from, *to);
    return TP_OK;
}

void tp_central_audit_head(const tp_config *cfg, tp_central_head *out)
{
    memset(out, 0, sizeof *out);
    if (!cfg->sync.postgres[0]) {
        out->state = TP_AUDIT_CENTRAL_OFF;
        return;
    }
    out->state = TP_AUDIT_CENTRAL_UNREACHABLE;
    /* Without the module the head cannot be read: unreachable, and the note
     * says which file is missing and what to install. */
    const tp_pq_api *pq = tp_pq(out->note, sizeof out->note);
    if (!pq)
        return;
    char timeout[16], ours[64], options[sizeof cfg->sync.postgres + 100];
    snprintf(timeout, sizeof timeout, "%d", cfg->sync.connect_timeout_s);
    snprintf(ours, sizeof ours, "-c statement_timeout=%d", cfg->sync.statement_timeout_ms);
    tp_pg_merged_options(pq, cfg->sync.postgres, ours, options, sizeof options);
    const char *kw[] = {"dbname", "connect_timeout", "application_name", "options", NULL};
    const char *val[] = {cfg->sync.postgres, timeout, "tillpoints verify", options, NULL};
    PGconn *pg = pq->connectdbParams(kw, val, 1);
    if (!pg || pq->status(pg) != CONNECTION_OK) {
        tp_pg_sentence(out->note, sizeof out->note, "cannot connect: ",
                    pg ? pq->errorMessage(pg) : "out of memory");
        pq->finish(pg);
        return;
    }
    PGresult *r = pq->exec(pg, "SELECT COALESCE(max(version), 0) FROM schema_version");
    int version = pq->resultStatus(r) == PGRES_TUPLES_OK ? tp_pg_version_of(pq, r) : 0;
    pq->clear(r);
    if (version < 2) {
        tp_buf_set(out->note, sizeof out->note, "the central schema is version %d and keeps no "
                   "audit heads; run `tillpoints central init`.", version);
        pq->finish(pg);
        return;
    }
    const char *params[2] = {cfg->location, cfg->terminal};
    r = pq->execParams(pg, "SELECT seq, hash FROM audit_heads WHERE location = $1"
                         " AND terminal = $2", 2, NULL, params, NULL, NULL, 0);
    if (pq->resultStatus(r) != PGRES_TUPLES_OK) {
        tp_pg_sentence(out->note, sizeof out->note, "cannot read the audit heads: ",
                    pq->resultErrorMessage(r));
    } else if (pq->ntuples(r) == 0) {
        out->state = TP_AUDIT_CENTRAL_EMPTY;
    } else {
        out->state = TP_AUDIT_CENTRAL_COMPARED;
        out->seq = (uint64_t)strtoull(pq->getvalue(r, 0, 0), NULL, 10);
        tp_copy(out->hash, sizeof out->hash, pq->getvalue(r, 0, 1));
    }
    pq->clear(r);
    pq->finish(pg);
}

static void sync_status_get(const tp_instance *in, tp_sync_status *out);

static tp_status sync_status(const tp_plugin *plugin, tp_sync_status *out, tp_message *msg)
{
    tp_msg_clear(msg);
    tp_instance *in = tp_instance_of(plugin);
    if (!in || !out) {
        tp_msg_set(msg, "A plugin instance and a place for the answer are needed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = tp_abi_check_out(out, TP_MIN_SYNC_STATUS, "tp_sync_status", msg);
    if (st != TP_OK)
        return st;
    tp_sync_status local;
    sync_status_get(in, &local);
    tp_abi_write_out(out, &local, sizeof local);
    return TP_OK;
}

static void sync_status_get(const tp_instance *in, tp_sync_status *out)
{
    memset(out, 0, sizeof *out);
    out->configured = in->cfg.sync.postgres[0] != '\0';
    if (!in->sync)
        return; /* standalone: TP_SYNC_OFF */
    tp_sync_snapshot snap;
    tp_sync_snapshot_get(in->sync, &snap);
    out->state = snap.state;
    tp_copy(out->last_error, sizeof out->last_error, snap.last_error);
    out->last_error_ms = snap.last_error_ms;
    out->last_success_ms = snap.last_success_ms;
    out->next_attempt_ms = snap.next_attempt_ms;
    out->pushed = snap.pushed;
    out->parked = snap.parked;
    out->pulled = snap.pulled;
    out->reconnects = snap.reconnects;
}

const tp_sync_ext tp_sync_extension = {.struct_size = sizeof(tp_sync_ext),
                                       .status = sync_status};
