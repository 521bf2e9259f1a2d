/*
 * expiry.c — points that expire [expiry] months after they were earned
 * (ext/expiry.h). The model is docs/DESIGN.md §5, "Expiry":
 *
 *  - every positive ledger entry is a lot, expiring `months` calendar
 *    months after its time_ms at the same UTC time of day (the day
 *    clamped to the month's last day);
 *  - a reversal takes its points from the lot it reverses first (what that
 *    lot no longer holds comes from the oldest lots); every other negative
 *    entry, "expire" entries included, takes from the oldest lots first
 *    (by time_ms, then id: FIFO); a debit no lot can cover is a debt the
 *    next lots pay first, so the lots always hold max(balance, 0);
 *  - a run expires what is left of the lots due at its instant, with one
 *    "expire" entry per member keyed "EXP-YYYYMMDD-<member id>" by the
 *    run's UTC day: the ledger's UNIQUE(location, receipt, kind) makes a
 *    second run of the day, from this process or another, write nothing
 *    twice.
 *
 * Nothing is stored about lots: they are replayed from the member's
 * entries (ledger_member index) whenever they are needed, so expiry never
 * edits anything and a ledger copied elsewhere gives the same answers.
 *
 * The run is bulk.c's shape: a read transaction finds the members with
 * points due (a dry run stops there), then short write transactions of at
 * most CHUNK_MEMBERS members or CHUNK_MS each, every one with its audit
 * record "expire" covering its entries, stepping aside between them so a
 * till waiting for the write lock gets in. Each member's due points are
 * worked out again inside the write transaction, so a sale or a spend
 * between the two steps is counted.
 *
 * The schedule (a till, not a back office, with expiry on) is one thread
 * with its own connection; it waits on a condition variable, so destroy()
 * wakes it at once, and records the UTC day of its last complete run in
 * sync_state ("expiry_last_day").
 */
#include "expiry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "abi.h"
#include "audit.h"
#include "instance.h"
#include "ledger.h"
#include "members.h"
#include "outbox.h"

#define DAY_MS 86400000LL
#define CHUNK_MEMBERS 500u
#define CHUNK_MS 50
/* The scheduled run's actor in the ledger and the audit log. */
#define SCHEDULE_STAFF "tillpoints-expiry"
#define REASON "points expired"
#define LAST_DAY_KEY "expiry_last_day"
/* The schedule's pace: the first run about a minute after init, then a
 * check every hour. Tests shorten both (docs/DESIGN.md §5, "Expiry"). */
#define FIRST_RUN_MS 60000
#define CHECK_MS 3600000
#define ENV_FIRST_RUN "TP_EXPIRY_FIRST_RUN_MS"
#define ENV_CHECK "TP_EXPIRY_CHECK_MS"

/* ---- calendar (proleptic Gregorian, UTC) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of y-m-d (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

int64_t tp_expiry_instant(int64_t time_ms, int months)
{
    int64_t day = floor_div(time_ms, DAY_MS);
    int64_t time_of_day = time_ms - day * DAY_MS;
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    int64_t month_index = y * 12 + (m - 1) + months;
    y = floor_div(month_index, 12);
    m = (int)(month_index - y * 12) + 1;
    if (d > days_in_month(y, m))
        d = days_in_month(y, m);
    return days_from_civil(y, m, d) * DAY_MS + time_of_day;
}

/* "YYYYMMDD" of the UTC day of `ms`. */
static void day_stamp(int64_t ms, char out[16])
{
    int64_t y;
    int m, d;
    civil_from_days(floor_div(ms, DAY_MS), &y, &m, &d);
    snprintf(out, 16, "%04lld%02d%02d", (long long)y, m, d);
}

/* ---- lots ---- */

typedef struct lot {
    int64_t id, time_ms, expires_ms, remaining;
} lot;

/* A member's lots, ordered by (time_ms, id); those before `first` are
 * empty. `debt`: debits no lot could cover, paid by the next lots. */
typedef struct lots {
    lot *v;
    size_t n, cap, first;
    int64_t debt;
} lots;

static void take_fifo(lots *l, int64_t amount)
{
    for (size_t i = l->first; i < l->n && amount > 0; i++) {
        int64_t take = l->v[i].remaining < amount ? l->v[i].remaining : amount;
        l->v[i].remaining -= take;
        amount -= take;
    }
    while (l->first < l->n && l->v[l->first].remaining == 0)
        l->first++;
    l->debt += amount;
}

static int add_lot(lots *l, int64_t id, int64_t time_ms, int64_t points, int months)
{
    int64_t pay = l->debt < points ? l->debt : points;
    l->debt -= pay;
    if (points - pay == 0)
        return 0; /* a reversal of it then comes from the oldest lots */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        lot *grown = realloc(l->v, cap * sizeof *grown);
        if (!grown)
            return -1;
        l->v = grown;
        l->cap = cap;
    }
    /* Entries come in id order, so nearly always at the end; a retro
     * credit dated back goes before later lots. */
    size_t p = l->n;
    while (p > 0 && l->v[p - 1].time_ms > time_ms)
        p--;
    memmove(&l->v[p + 1], &l->v[p], (l->n - p) * sizeof *l->v);
    l->v[p] = (lot){id, time_ms, tp_expiry_instant(time_ms, months), points - pay};
    l->n++;
    if (p < l->first)
        l->first = p;
    return 0;
}

static void take_reversal(lots *l, int64_t reverses, int64_t amount)
{
    for (size_t i = l->n; i-- > l->first;) {
        if (l->v[i].id != reverses)
            continue;
        int64_t take = l->v[i].remaining < amount ? l->v[i].remaining : amount;
        l->v[i].remaining -= take;
        amount -= take;
        break;
    }
    take_fifo(l, amount);
}

static const char entries_sql[] =
    "SELECT id, points, COALESCE(reverses, 0), time_ms FROM ledger WHERE member_id = ?1"
    " ORDER BY id";

tp_status tp_expiry_member(tp_store *s, const tp_config *cfg, int64_t member_id,
                           int64_t as_of_ms, int64_t *due, tp_expiry_next *next,
                           tp_message *msg)
{
    *due = 0;
    if (next) {
        next->points = 0;
        next->at_ms = 0;
    }
    if (cfg->expiry_months <= 0)
        return TP_OK;
    sqlite3_stmt *q = tp_store_cached(s, TP_STMT_EXPIRY_ENTRIES, entries_sql);
    if (!q) {
        tp_msg_set(msg, "Cannot read the ledger: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    lots l = {0};
    int64_t balance = 0;
    int rc, oom = 0;
    sqlite3_bind_int64(q, 1, member_id);
    while (!oom && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0), points = sqlite3_column_int64(q, 1);
        int64_t reverses = sqlite3_column_int64(q, 2), time_ms = sqlite3_column_int64(q, 3);
        balance += points;
        if (points > 0)
            oom = add_lot(&l, id, time_ms, points, cfg->expiry_months) != 0;
        else if (reverses)
            take_reversal(&l, reverses, -points);
        else
            take_fifo(&l, -points);
    }
    sqlite3_reset(q);
    tp_status st = TP_OK;
    if (oom) {
        tp_msg_set(msg, "Out of memory reading a member's points.");
        st = TP_ERR_NO_MEMORY;
    } else if (rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot read the ledger: %s.", tp_store_errmsg(s));
        st = TP_ERR_STORAGE;
    } else {
        /* Lots are in time order and the instant grows with time_ms, so
         * the due ones are a prefix of what remains. */
        int64_t sum = 0;
        size_t i = l.first;
        for (; i < l.n && l.v[i].expires_ms <= as_of_ms; i++)
            sum += l.v[i].remaining;
        *due = sum < balance ? sum : (balance > 0 ? balance : 0);
        if (next) {
            /* The earliest instant still holding points, and every point
             * that goes by the end of that UTC day (or of today, when the
             * instant is already past: they go at the next run). */
            size_t k = l.first;
            while (k < l.n && l.v[k].remaining == 0)
                k++;
            if (k < l.n) {
                int64_t at = l.v[k].expires_ms;
                int64_t day_end =
                    (floor_div(at > as_of_ms ? at : as_of_ms, DAY_MS) + 1) * DAY_MS;
                int64_t pts = 0;
                for (; k < l.n && l.v[k].expires_ms < day_end; k++)
                    pts += l.v[k].remaining;
                if (pts > balance)
                    pts = balance;
                if (pts > 0) {
                    next->points = pts;
                    next->at_ms = at;
                }
            }
        }
    }
    free(l.v);
    return st;
}

/* ---- the run ---- */

typedef struct due_member {
    int64_t id;
    char code[TP_MEMBER_CODE_MAX + 1];
} due_member;

typedef struct run {
    tp_store *s;
    const tp_config *cfg;
    int64_t as_of_ms;
    const char *staff;
    char day[16];       /* YYYYMMDD of as_of_ms */
    char batch[32];     /* "EXP-YYYYMMDD" */
    due_member *list;   /* members with points due at the read step */
    size_t n, cap;
    tp_expiry_result *res;
    /* the open chunk */
    int64_t start_ns;
    uint64_t chunk_members, parts;
    int64_t chunk_points;
} run;

static const char next_member_sql[] =
    "SELECT id, code FROM members WHERE id > ?1 ORDER BY id LIMIT 1";
static const char done_today_sql[] =
    "SELECT 1 FROM ledger WHERE location = ?1 AND receipt = ?2 AND kind = 'expire'";

/* 1 when the member's entry of the run's day exists (a run earlier that
 * day, from any process), 0 when not, -1 on error. What falls due later
 * that day then waits for the next day's run, in a dry run too. */
static int done_today(run *r, int64_t member_id)
{
    char key[64];
    snprintf(key, sizeof key, "%s-%lld", r->batch, (long long)member_id);
    sqlite3_stmt *q = tp_store_cached(r->s, TP_STMT_EXPIRY_DONE_TODAY, done_today_sql);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, r->cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The read step: every member with points due, and the figures. */
static tp_status find_due(run *r, tp_progress_fn progress, void *user, tp_message *msg)
{
    sqlite3 *db = tp_store_db(r->s);
    if (sqlite3_exec(db, "BEGIN DEFERRED", NULL, NULL, NULL) != SQLITE_OK) {
        tp_msg_set(msg, "Cannot read the database: %s.", tp_store_errmsg(r->s));
        return TP_ERR_STORAGE;
    }
    tp_status st = TP_OK;
    int64_t after = 0;
    uint64_t seen = 0;
    for (;;) {
        sqlite3_stmt *q = tp_store_cached(r->s, TP_STMT_EXPIRY_NEXT_MEMBER, next_member_sql);
        if (!q) {
            tp_msg_set(msg, "Cannot list members: %s.", tp_store_errmsg(r->s));
            st = TP_ERR_STORAGE;
            break;
        }
        sqlite3_bind_int64(q, 1, after);
        int rc = sqlite3_step(q);
        due_member m = {0};
        if (rc == SQLITE_ROW) {
            m.id = sqlite3_column_int64(q, 0);
            tp_copy(m.code, sizeof m.code, (const char *)sqlite3_column_text(q, 1));
        }
        sqlite3_reset(q);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            tp_msg_set(msg, "Cannot list members: %s.", tp_store_errmsg(r->s));
            st = TP_ERR_STORAGE;
            break;
        }
        after = m.id;
        int64_t due;
        if ((st = tp_expiry_member(r->s, r->cfg, m.id, r->as_of_ms, &due, NULL, msg)) != TP_OK)
            break;
        if (progress && ++seen % 1000 == 0)
            progress(user, seen, 0);
        if (due <= 0)
            continue;
        int done = done_today(r, m.id);
        if (done < 0) {
            tp_msg_set(msg, "Cannot read the ledger: %s.", tp_store_errmsg(r->s));
            st = TP_ERR_STORAGE;
            break;
        }
        if (done)
            continue;
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 64;
            due_member *grown = realloc(r->list, cap * sizeof *grown);
            if (!grown) {
                tp_msg_set(msg, "Out of memory listing the members whose points expire.");
                st = TP_ERR_NO_MEMORY;
                break;
            }
            r->list = grown;
            r->cap = cap;
        }
        r->list[r->n++] = m;
        r->res->members++;
        r->res->entries++;
        r->res->points += due;
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL); /* read only */
    return st;
}

static tp_status chunk_begin(run *r, tp_message *msg)
{
    tp_status st = tp_store_begin(r->s, msg);
    r->start_ns = tp_mono_ns();
    r->chunk_members = 0;
    r->chunk_points = 0;
    return st;
}

/* Commits the open chunk with its audit record (when it wrote anything:
 * the record covers exactly the chunk's entries, audit.c). */
static tp_status chunk_commit(run *r, int last, tp_message *msg)
{
    tp_status st = TP_OK;
    if (r->chunk_members > 0) {
        char detail[160];
        tp_buf_set(detail, sizeof detail, "%llu members, %lld points due by %s (part %llu)",
                   (unsigned long long)r->chunk_members, (long long)-r->chunk_points, r->day,
                   (unsigned long long)r->parts + 1);
        tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "expire", .actor = r->staff,
                            .approver = r->staff, .location = r->cfg->location,
                            .receipt = r->batch, .points = r->chunk_points,
                            .reason = REASON, .detail = detail};
        st = tp_audit_append(r->s, &e, msg);
    }
    if (st == TP_OK)
        st = tp_store_commit(r->s, msg);
    else
        tp_store_rollback(r->s);
    if (st != TP_OK)
        return st;
    if (r->chunk_members > 0)
        r->parts++;
    r->res->members += r->chunk_members;
    r->res->entries += r->chunk_members;
    r->res->points += -r->chunk_points;
    if (!last)
        tp_store_step_aside(tp_mono_ns() - r->start_ns);
    return TP_OK;
}

/* The write step: the members found due, in chunks. */
static tp_status write_due(run *r, tp_progress_fn progress, void *user, const atomic_int *stop,
                           tp_message *msg)
{
    tp_status st = chunk_begin(r, msg);
    for (size_t i = 0; st == TP_OK; i++) {
        if (i == r->n)
            return chunk_commit(r, 1, msg);
        int64_t due;
        if ((st = tp_expiry_member(r->s, r->cfg, r->list[i].id, r->as_of_ms, &due, NULL, msg)) !=
            TP_OK)
            break;
        if (due > 0) {
            char key[64];
            snprintf(key, sizeof key, "%s-%lld", r->batch, (long long)r->list[i].id);
            tp_message why;
            st = tp_ledger_append_manual(r->s, r->cfg, r->list[i].id, r->list[i].code, "expire",
                                         key, -due, r->staff, REASON, NULL, NULL, &why);
            if (st == TP_ERR_DUPLICATE) { /* today's run, from another process */
                st = TP_OK;
            } else if (st != TP_OK) {
                tp_msg_set(msg, "%s", why.text);
                break;
            } else {
                r->chunk_members++;
                r->chunk_points -= due;
            }
        }
        if (progress && (i + 1) % 1000 == 0)
            progress(user, i + 1, r->n);
        if (r->chunk_members >= CHUNK_MEMBERS ||
            tp_mono_ns() - r->start_ns >= (int64_t)CHUNK_MS * 1000000) {
            if ((st = chunk_commit(r, 0, msg)) != TP_OK)
                return st;
            if (stop && atomic_load(stop)) {
                tp_msg_set(msg, "The expiry run stopped (loyalty is shutting down) after %llu "
                           "members; the next run finishes it.",
                           (unsigned long long)r->res->members);
                return TP_ERR_STATE;
            }
            st = chunk_begin(r, msg);
        }
    }
    tp_store_rollback(r->s);
    return st;
}

tp_status tp_expiry_run(tp_store *s, const tp_config *cfg, int64_t as_of_ms, int dry_run,
                        const char *staff, tp_progress_fn progress, void *user,
                        const atomic_int *stop, tp_expiry_result *res, tp_message *msg)
{
    memset(res, 0, sizeof *res);
    res->struct_size = sizeof *res;
    tp_msg_clear(msg);
    if (cfg->expiry_months <= 0) {
        tp_msg_set(msg, "Points do not expire at this store ([expiry] months = 0).");
        return TP_ERR_STATE;
    }
    if (!staff || !*staff) {
        tp_msg_set(msg, "Say which staff member runs the expiry (1 to 64 characters).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = tp_check_text(staff, 64, "staff id", msg);
    if (st != TP_OK)
        return st;
    run r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.cfg = cfg;
    r.as_of_ms = as_of_ms;
    r.staff = staff;
    r.res = res;
    day_stamp(as_of_ms, r.day);
    snprintf(r.batch, sizeof r.batch, "EXP-%s", r.day);
    st = find_due(&r, progress, user, msg);
    if (st == TP_OK && !dry_run && r.n > 0) {
        /* The write step counts what it actually wrote. */
        res->members = res->entries = 0;
        res->points = 0;
        st = write_due(&r, progress, user, stop, msg);
        res->applied = 1;
    } else if (st == TP_OK && !dry_run) {
        res->applied = 1;
    }
    free(r.list);
    if (st == TP_OK && progress)
        progress(user, r.n, r.n);
    return st;
}

/* ---- the extension ---- */

static tp_status ext_expire(const tp_plugin *plugin, int64_t as_of_ms, int32_t dry_run,
                            const char *staff, tp_progress_fn progress, void *user,
                            tp_expiry_result *out, tp_message *msg)
{
    tp_instance *in;
    tp_status st = tp_instance_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!out) {
        tp_msg_set(msg, "No place for the answer was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_abi_check_out(out, TP_MIN_EXPIRY_RESULT, "tp_expiry_result", msg)) != TP_OK)
        return st;
    if (as_of_ms < 0) {
        tp_msg_set(msg, "The expiry date must be a time after 1970 (UTC milliseconds), or 0 "
                        "for now.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_expiry_result r;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_expiry_run(in->admin_store, &in->cfg, as_of_ms ? as_of_ms : tp_now_ms(), dry_run != 0,
                       staff, progress, user, NULL, &r, msg);
    pthread_mutex_unlock(&in->admin_lock);
    tp_abi_write_out(out, &r, sizeof r);
    return st;
}

static tp_status ext_member_next(const tp_plugin *plugin, const char *key, tp_expiry_next *out,
                                 tp_message *msg)
{
    tp_instance *in;
    tp_status st = tp_instance_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!out) {
        tp_msg_set(msg, "No place for the answer was given.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_abi_check_out(out, TP_MIN_EXPIRY_NEXT, "tp_expiry_next", msg)) != TP_OK)
        return st;
    tp_expiry_next next = {.struct_size = sizeof next};
    tp_member_row row;
    int64_t due;
    pthread_mutex_lock(&in->admin_lock);
    st = tp_members_resolve(in->admin_store, &in->cfg, key, &row, msg);
    if (st == TP_OK)
        st = tp_expiry_member(in->admin_store, &in->cfg, row.id, tp_now_ms(), &due, &next, msg);
    pthread_mutex_unlock(&in->admin_lock);
    if (st == TP_OK)
        tp_abi_write_out(out, &next, sizeof next);
    return st;
}

const tp_expiry_ext tp_expiry_extension = {
    .struct_size = sizeof(tp_expiry_ext),
    .expire = ext_expire,
    .member_next = ext_member_next,
};

/* ---- the schedule ---- */

struct tp_expiry_sched {
    tp_instance *in;
    tp_store *store; /* the thread's own connection */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    atomic_int stopping;
    int64_t first_ms, check_ms;
};

/* A test-only pace from the environment (docs/DESIGN.md §5, "Expiry"):
 * milliseconds from 1 to a day, else `fallback`. */
static int64_t pace_from_env(const char *name, int64_t fallback)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return fallback;
    char *end;
    long long n = strtoll(v, &end, 10);
    return *end == '\0' && n >= 1 && n <= DAY_MS ? n : fallback;
}

/* Waits `ms` or until stopped: 1 when stopped. */
static int sched_wait(struct tp_expiry_sched *e, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&e->lock);
    int rc = 0;
    while (!atomic_load(&e->stopping) && rc == 0)
        rc = pthread_cond_timedwait(&e->cond, &e->lock, &until);
    pthread_mutex_unlock(&e->lock);
    return atomic_load(&e->stopping);
}

/* Today's run, unless this database already had it. */
static void sched_tick(struct tp_expiry_sched *e)
{
    tp_instance *in = e->in;
    int64_t now = tp_now_ms();
    int64_t today = floor_div(now, DAY_MS), last = -1;
    if (tp_sync_state_get(e->store, LAST_DAY_KEY, &last) != TP_OK) {
        tp_instance_log(in, TP_LOG_WARNING, "expiry: cannot read when it last ran: %s",
                        tp_store_errmsg(e->store));
        return;
    }
    if (last == today)
        return;
    tp_expiry_result r;
    tp_message msg;
    tp_status st = tp_expiry_run(e->store, &in->cfg, now, 0, SCHEDULE_STAFF, NULL, NULL,
                                 &e->stopping, &r, &msg);
    if (st != TP_OK) {
        tp_instance_log(in, TP_LOG_WARNING, "expiry: %s (%llu points of %llu members expired "
                        "before it stopped); it runs again at the next check",
                        msg.text, (unsigned long long)r.points,
                        (unsigned long long)r.members);
        return;
    }
    if (tp_sync_state_set(e->store, LAST_DAY_KEY, today) != TP_OK)
        tp_instance_log(in, TP_LOG_WARNING, "expiry: cannot record today's run: %s",
                        tp_store_errmsg(e->store));
    tp_instance_log(in, TP_LOG_INFO,
                    "expiry: %lld points of %llu members expired (%llu entries, [expiry] "
                    "months = %d)",
                    (long long)r.points, (unsigned long long)r.members,
                    (unsigned long long)r.entries, in->cfg.expiry_months);
}

static void *sched_main(void *arg)
{
    struct tp_expiry_sched *e = arg;
    if (sched_wait(e, e->first_ms))
        return NULL;
    do
        sched_tick(e);
    while (!sched_wait(e, e->check_ms));
    return NULL;
}

tp_status tp_expiry_start(tp_instance *in, tp_message *msg)
{
    if (in->cfg.expiry_months <= 0 || in->back_office)
        return TP_OK;
    struct tp_expiry_sched *e = calloc(1, sizeof *e);
    if (!e) {
        tp_msg_set(msg, "Out of memory starting the expiry schedule.");
        return TP_ERR_NO_MEMORY;
    }
    e->in = in;
    e->first_ms = pace_from_env(ENV_FIRST_RUN, FIRST_RUN_MS);
    e->check_ms = pace_from_env(ENV_CHECK, CHECK_MS);
    atomic_init(&e->stopping, 0);
    tp_status st = tp_store_open(in->cfg.database, &e->store, msg);
    if (st != TP_OK) {
        free(e);
        return st;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&e->thread, NULL, sched_main, e) != 0) {
        pthread_cond_destroy(&e->cond);
        pthread_mutex_destroy(&e->lock);
        tp_store_close(e->store);
        free(e);
        tp_msg_set(msg, "Cannot start the expiry schedule's thread.");
        return TP_ERR_INTERNAL;
    }
    in->expiry_sched = e;
    return TP_OK;
}

void tp_expiry_stop(tp_instance *in)
{
    struct tp_expiry_sched *e = in->expiry_sched;
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    atomic_store(&e->stopping, 1);
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
    tp_store_close(e->store);
    free(e);
    in->expiry_sched = NULL;
}
