/*
 * sidejournal.c — see sidejournal.h for what the file is for and its
 * format. Plain POSIX I/O on purpose: it is written when SQLite's own file
 * is stuck, so it shares nothing with SQLite but the directory.
 */
#include "sidejournal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

#define MAGIC "TPPEND"
#define MAGIC_LEN 6
#define FORMAT_VERSION 1
#define HASH_LEN 16
/* Larger than any record this version writes; a length beyond it is
 * garbage, not a record. */
#define RECORD_MAX 4096

int tp_sidejournal_path(char *out, size_t cap, const char *database)
{
    int len = snprintf(out, cap, "%s" TP_SIDEJOURNAL_SUFFIX, database);
    return len < 0 || (size_t)len >= cap ? -1 : 0;
}

/* ---- encoding ---- */

typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    int failed;
} wbuf;

static void put_bytes(wbuf *b, const void *src, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u(wbuf *b, uint64_t v, size_t width)
{
    unsigned char le[8];
    for (size_t i = 0; i < width; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    put_bytes(b, le, width);
}

static void put_i64(wbuf *b, int64_t v)
{
    put_u(b, (uint64_t)v, 8);
}

static void put_str(wbuf *b, const char *s)
{
    size_t n = strlen(s);
    put_u(b, n, 2);
    put_bytes(b, s, n);
}

/* An award that spent points is kind AWARD_REDEEM in the file: the award's
 * fields, then the redemption's (a file of an older plugin has none). */
#define AWARD_REDEEM 0x81

static void put_job(wbuf *b, const tp_write_job *j)
{
    int redeems = j->kind == TP_JOB_AWARD && j->u.award.redeem_n > 0;
    put_u(b, redeems ? AWARD_REDEEM : (uint64_t)j->kind, 1);
    if (j->kind == TP_JOB_AWARD) {
        const tp_award_job *a = &j->u.award;
        put_str(b, a->txn);
        put_str(b, a->receipt);
        put_str(b, a->code);
        put_str(b, a->staff);
        put_str(b, a->currency);
        put_i64(b, a->time_ms);
        put_i64(b, a->total_minor);
        put_i64(b, a->eligible_minor);
        put_i64(b, a->points);
        put_i64(b, a->line_count);
        put_i64(b, a->code_signed);
        if (redeems) {
            put_i64(b, a->redeem_n);
            for (int i = 0; i < a->redeem_n && i < TP_AWARD_REDEEM_MAX; i++) {
                put_i64(b, a->redeem_reward[i]);
                put_i64(b, a->redeem_points_of[i]);
                put_i64(b, a->redeem_minor_of[i]);
            }
        }
    } else {
        const tp_refund_job *r = &j->u.refund;
        put_str(b, r->refund);
        put_str(b, r->receipt);
        put_str(b, r->currency);
        put_i64(b, r->amount_minor);
        put_i64(b, r->full);
        put_i64(b, r->time_ms);
    }
}

/* ---- decoding ---- */

typedef struct rbuf {
    const unsigned char *p;
    size_t len, at;
    int bad;
} rbuf;

static uint64_t get_u(rbuf *b, size_t width)
{
    if (b->bad || b->len - b->at < width) {
        b->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v |= (uint64_t)b->p[b->at + i] << (8 * i);
    b->at += width;
    return v;
}

static int64_t get_i64(rbuf *b)
{
    return (int64_t)get_u(b, 8);
}

static void get_str(rbuf *b, char *dst, size_t cap)
{
    size_t n = (size_t)get_u(b, 2);
    if (b->bad || n >= cap || b->len - b->at < n) {
        b->bad = 1;
        dst[0] = '\0';
        return;
    }
    memcpy(dst, b->p + b->at, n);
    dst[n] = '\0';
    b->at += n;
}

static int text_ok(const char *s, int required)
{
    size_t n = strlen(s);
    return n == 0 ? !required : tp_is_printable(s, n);
}

/* What checkout would have accepted: a record that passes its checksum but
 * not this was not written by this plugin. */
static int plausible(const tp_write_job *j)
{
    if (j->kind == TP_JOB_AWARD) {
        const tp_award_job *a = &j->u.award;
        return text_ok(a->txn, 1) && text_ok(a->receipt, 1) && text_ok(a->code, 0) &&
               text_ok(a->staff, 0) && strlen(a->currency) == 3 && a->total_minor >= 0 &&
               a->eligible_minor >= 0 && a->points >= 0 && a->line_count >= 0;
    }
    const tp_refund_job *r = &j->u.refund;
    return text_ok(r->refund, 1) && text_ok(r->receipt, 1) && strlen(r->currency) == 3 &&
           r->amount_minor >= 0;
}

static int get_job(rbuf *b, tp_write_job *j)
{
    memset(j, 0, sizeof *j);
    uint64_t kind = get_u(b, 1);
    int redeems = kind == AWARD_REDEEM;
    j->kind = redeems ? TP_JOB_AWARD : (tp_job_kind)kind;
    if (j->kind == TP_JOB_AWARD) {
        tp_award_job *a = &j->u.award;
        get_str(b, a->txn, sizeof a->txn);
        get_str(b, a->receipt, sizeof a->receipt);
        get_str(b, a->code, sizeof a->code);
        get_str(b, a->staff, sizeof a->staff);
        get_str(b, a->currency, sizeof a->currency);
        a->time_ms = get_i64(b);
        a->total_minor = get_i64(b);
        a->eligible_minor = get_i64(b);
        a->points = get_i64(b);
        a->line_count = (int32_t)get_i64(b);
        a->code_signed = (int)get_i64(b);
        if (redeems) {
            int64_t n = get_i64(b);
            if (n < 1 || n > TP_AWARD_REDEEM_MAX)
                b->bad = 1;
            for (int64_t i = 0; !b->bad && i < n; i++) {
                int64_t k = get_i64(b), pts = get_i64(b), off = get_i64(b);
                if (k < -1 || k >= TP_REWARD_OFFERS_MAX || pts <= 0 || off < 0)
                    b->bad = 1;
                a->redeem_reward[i] = (int16_t)k;
                a->redeem_points_of[i] = pts;
                a->redeem_minor_of[i] = off;
                a->redeem_points += pts;
                a->redeem_minor += off;
            }
            a->redeem_n = b->bad ? 0 : (int32_t)n;
        }
    } else if (j->kind == TP_JOB_REFUND) {
        tp_refund_job *r = &j->u.refund;
        get_str(b, r->refund, sizeof r->refund);
        get_str(b, r->receipt, sizeof r->receipt);
        get_str(b, r->currency, sizeof r->currency);
        r->amount_minor = get_i64(b);
        r->full = (int)get_i64(b);
        r->time_ms = get_i64(b);
    } else {
        b->bad = 1;
    }
    return b->bad || b->at != b->len || !plausible(j) ? -1 : 0;
}

/* ---- files ---- */

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes a rename or unlink in the directory of `path` durable. */
static int sync_dir(const char *path)
{
    char dir[TP_CFG_PATH_MAX + 16];
    if (tp_copy(dir, sizeof dir, path) != 0)
        return -1;
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

tp_status tp_sidejournal_write(const char *path, const tp_write_job *jobs, size_t n,
                               tp_message *msg)
{
    if (n == 0) {
        if (unlink(path) != 0 && errno != ENOENT) {
            tp_msg_set(msg, "Cannot remove %s: %s.", path, strerror(errno));
            return TP_ERR_STORAGE;
        }
        (void)sync_dir(path);
        return TP_OK;
    }
    char tmp[TP_CFG_PATH_MAX + 32];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        tp_msg_set(msg, "The database path is too long for its pending-work file.");
        return TP_ERR_STORAGE;
    }
    wbuf b = {0};
    put_bytes(&b, MAGIC, MAGIC_LEN);
    put_u(&b, FORMAT_VERSION, 2);
    wbuf rec = {0};
    for (size_t i = 0; i < n && !b.failed && !rec.failed; i++) {
        /* A reservation belongs to a sale that ends with this process. */
        if (jobs[i].kind != TP_JOB_AWARD && jobs[i].kind != TP_JOB_REFUND)
            continue;
        rec.len = 0;
        put_job(&rec, &jobs[i]);
        if (rec.failed)
            break;
        unsigned char hash[HASH_LEN];
        crypto_generichash(hash, sizeof hash, rec.p, rec.len, NULL, 0);
        put_u(&b, rec.len, 4);
        put_bytes(&b, rec.p, rec.len);
        put_bytes(&b, hash, sizeof hash);
    }
    int oom = b.failed || rec.failed;
    free(rec.p);
    if (oom) {
        free(b.p);
        tp_msg_set(msg, "Out of memory writing %s.", path);
        return TP_ERR_NO_MEMORY;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = 0;
    if (fd < 0 || write_all(fd, b.p, b.len) != 0 || fsync(fd) != 0)
        err = errno ? errno : EIO;
    if (fd >= 0 && close(fd) != 0 && !err)
        err = errno;
    free(b.p);
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (!err && sync_dir(path) != 0)
        err = errno ? errno : EIO;
    if (err) {
        (void)unlink(tmp);
        tp_msg_set(msg, "Cannot write %s: %s.", path, strerror(err));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

/* A journal write handed to its own thread; freed by the last of the
 * thread and the waiter (refs). */
typedef struct write_task {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    int refs;
    int done;
    tp_status st;
    tp_message msg;
    tp_write_job *jobs;
    size_t n;
    char path[TP_CFG_PATH_MAX + 16];
} write_task;

static void task_unref(write_task *t)
{
    pthread_mutex_lock(&t->lock);
    int last = --t->refs == 0;
    pthread_mutex_unlock(&t->lock);
    if (!last)
        return;
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    free(t->jobs);
    free(t);
}

static void *write_task_main(void *arg)
{
    write_task *t = arg;
    tp_message msg;
    tp_msg_clear(&msg);
    tp_status st = tp_sidejournal_write(t->path, t->jobs, t->n, &msg);
    pthread_mutex_lock(&t->lock);
    t->st = st;
    t->msg = msg;
    t->done = 1;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    task_unref(t);
    return NULL;
}

tp_status tp_sidejournal_write_by(const char *path, const tp_write_job *jobs, size_t n,
                                  int64_t deadline_ms, tp_message *msg)
{
    write_task *t = calloc(1, sizeof *t);
    if (!t || tp_copy(t->path, sizeof t->path, path) != 0 ||
        (n && !(t->jobs = malloc(n * sizeof *jobs)))) {
        free(t);
        tp_msg_set(msg, "Out of memory writing %s.", path);
        return TP_ERR_NO_MEMORY;
    }
    if (n)
        memcpy(t->jobs, jobs, n * sizeof *jobs);
    t->n = n;
    t->refs = 2;
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t th;
    if (pthread_create(&th, NULL, write_task_main, t) != 0) {
        /* No thread: write here, unbounded, rather than lose the jobs. */
        t->refs = 1;
        tp_status st = tp_sidejournal_write(path, jobs, n, msg);
        task_unref(t);
        return st;
    }
    pthread_detach(th);
    pthread_mutex_lock(&t->lock);
    while (!t->done) {
        struct timespec ts = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L};
        if (pthread_cond_timedwait(&t->cond, &t->lock, &ts) == ETIMEDOUT)
            break;
    }
    tp_status st = t->done ? t->st : TP_ERR_BUSY;
    if (t->done && st != TP_OK)
        *msg = t->msg;
    else if (!t->done)
        tp_msg_set(msg, "Writing %s did not finish in time: the disk does not answer.", path);
    pthread_mutex_unlock(&t->lock);
    task_unref(t);
    return st;
}

static tp_status read_file(const char *path, unsigned char **data, size_t *len, tp_message *msg)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return TP_OK;
        tp_msg_set(msg, "Cannot open %s: %s.", path, strerror(errno));
        return TP_ERR_STORAGE;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        tp_msg_set(msg, "Cannot read %s: %s.", path, strerror(errno));
        close(fd);
        return TP_ERR_STORAGE;
    }
    size_t size = (size_t)st.st_size;
    unsigned char *p = malloc(size ? size : 1);
    if (!p) {
        close(fd);
        tp_msg_set(msg, "Out of memory reading %s.", path);
        return TP_ERR_NO_MEMORY;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            tp_msg_set(msg, "Cannot read %s: %s.", path, strerror(errno));
            free(p);
            close(fd);
            return TP_ERR_STORAGE;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *data = p;
    *len = got;
    return TP_OK;
}

tp_status tp_sidejournal_parse(const unsigned char *data, size_t len, const char *path,
                               tp_write_job **jobs, size_t *n, int *corrupt, tp_message *msg)
{
    *jobs = NULL;
    *n = 0;
    *corrupt = 0;
    rbuf h = {data, len, 0, 0};
    if (len < MAGIC_LEN + 2 || memcmp(data, MAGIC, MAGIC_LEN) != 0) {
        tp_msg_set(msg, "%s is not a tillpoints pending-work file.", path);
        *corrupt = 1;
        return TP_OK;
    }
    h.at = MAGIC_LEN;
    uint64_t version = get_u(&h, 2);
    if (version != FORMAT_VERSION) {
        tp_msg_set(msg, "%s has format version %llu; this plugin reads version %d.", path,
                   (unsigned long long)version, FORMAT_VERSION);
        *corrupt = 1;
        return TP_OK;
    }
    /* At most one job per minimal record; never more than the file holds. */
    size_t cap = len / (4 + 1 + HASH_LEN) + 1;
    tp_write_job *out = malloc(cap * sizeof *out);
    if (!out) {
        tp_msg_set(msg, "Out of memory reading %s.", path);
        return TP_ERR_NO_MEMORY;
    }
    size_t count = 0;
    while (h.at < len) {
        size_t start = h.at;
        uint64_t plen = get_u(&h, 4);
        if (h.bad || plen > RECORD_MAX || len - h.at < plen + HASH_LEN) {
            /* A length that runs past the end: the last write was torn if
             * the length itself is plausible; garbage otherwise. */
            if (!h.bad && plen <= RECORD_MAX)
                break;
            if (h.bad)
                break; /* fewer than 4 bytes left: torn */
            tp_msg_set(msg, "%s: record at byte %zu has an impossible length.", path, start);
            *corrupt = 1;
            break;
        }
        const unsigned char *payload = data + h.at;
        unsigned char hash[HASH_LEN];
        crypto_generichash(hash, sizeof hash, payload, (size_t)plen, NULL, 0);
        int last = h.at + plen + HASH_LEN == len;
        rbuf rb = {payload, (size_t)plen, 0, 0};
        if (sodium_memcmp(hash, payload + plen, HASH_LEN) != 0 || get_job(&rb, &out[count]) != 0) {
            if (last)
                break; /* the final record, torn in place */
            tp_msg_set(msg, "%s: record at byte %zu is damaged (checksum or content).", path,
                       start);
            *corrupt = 1;
            break;
        }
        count++;
        h.at += plen + HASH_LEN;
    }
    if (count == 0) {
        free(out);
        out = NULL;
    }
    *jobs = out;
    *n = count;
    return TP_OK;
}

tp_status tp_sidejournal_read(const char *path, tp_write_job **jobs, size_t *n, int *corrupt,
                              tp_message *msg)
{
    *jobs = NULL;
    *n = 0;
    *corrupt = 0;
    unsigned char *data;
    size_t len;
    tp_status st = read_file(path, &data, &len, msg);
    if (st != TP_OK || !data)
        return st;
    st = tp_sidejournal_parse(data, len, path, jobs, n, corrupt, msg);
    free(data);
    return st;
}

int tp_sidejournal_set_aside(const char *path, char *aside, size_t cap)
{
    int len = snprintf(aside, cap, "%s.corrupt-%lld", path, (long long)tp_now_ms());
    if (len < 0 || (size_t)len >= cap || rename(path, aside) != 0)
        return -1;
    (void)sync_dir(path);
    return 0;
}
