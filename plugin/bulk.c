/*
 * bulk.c — bulk adjustments: the same points for a list of members or for
 * every member (see ledger.h).
 *
 * Two steps, like the CSV import (csvio.c). First a read transaction
 * checks the whole request without taking the write lock: every listed
 * member exists, none is listed twice, and a debit overdraws nobody. With
 * any problem nothing is written. Then the entries are written in chunks:
 * each chunk is one write transaction, committed once it holds
 * pace.chunk_members entries or has been open pace.chunk_ms, with its own
 * audit record ("bulk") covering exactly its entries; after each commit
 * the job steps aside for a moment (tp_store_step_aside), so a till
 * waiting for the lock gets in.
 *
 * The batch and its resumption. Every entry's key is "<batch>/<member
 * code>", and a batch's audit records name the operation: a hash of the
 * points, reason, comment and member set ("op <hex>"), and the last part
 * says "last part". A bulk adjustment that stopped half-way (killed,
 * power lost, a disk error) left records of its operation without a last
 * part; running the same bulk adjustment again (same points, reason,
 * comment and members) takes up that batch instead of opening a new one,
 * and the members it already adjusted are skipped: nobody gets the points
 * twice. Once a batch has its last part, the same request again is a new
 * batch, as a second identical bonus should be. With all members, the
 * batch finished later covers the members there are then.
 */
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "audit.h"
#include "members.h"
#include "util.h"

typedef struct bulk_member {
    int64_t id;
    char code[TP_MEMBER_CODE_MAX + 1];
} bulk_member;

typedef struct bulk_run {
    tp_store *s;
    const tp_config *cfg;
    const tp_bulk_adjustment *b;
    const tp_bulk_pace *pace;
    tp_bulk_result *res;
    char op[40];          /* "op <hex>": the operation's name in its records */
    int resumed;
    uint64_t already;     /* members the batch had adjusted before this run */
    bulk_member *list;    /* the resolved list; NULL with all members */
    uint64_t total, done; /* members to visit, visited */
    int64_t after_id;     /* all members: the last id visited */
    /* the open chunk */
    int64_t start_ns;
    uint64_t chunk_members, parts;
    int64_t chunk_points;
} bulk_run;

/* The operation's name: what a re-run must repeat to take up the batch. */
static void name_operation(bulk_run *r)
{
    const tp_bulk_adjustment *b = r->b;
    crypto_generichash_state st;
    unsigned char out[8];
    char head[96];
    snprintf(head, sizeof head, "%lld\n%d\n", (long long)b->points, b->all_members ? 1 : 0);
    crypto_generichash_init(&st, NULL, 0, sizeof out);
    crypto_generichash_update(&st, (const unsigned char *)head, strlen(head));
    const char *texts[2] = {b->reason, b->comment ? b->comment : ""};
    for (int i = 0; i < 2; i++)
        crypto_generichash_update(&st, (const unsigned char *)texts[i], strlen(texts[i]) + 1);
    for (size_t i = 0; !b->all_members && i < b->member_count; i++)
        crypto_generichash_update(&st, (const unsigned char *)b->members[i],
                                  strlen(b->members[i]) + 1);
    crypto_generichash_final(&st, out, sizeof out);
    char hex[sizeof out * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, out, sizeof out);
    snprintf(r->op, sizeof r->op, "op %s", hex);
}

/* A batch of this operation that has no last part yet, if any. */
static tp_status find_unfinished(bulk_run *r, tp_message *msg)
{
    static const char sql[] =
        "SELECT receipt, instr(detail, 'last part') > 0 FROM audit WHERE action = 'bulk'"
        " AND location = ?1 AND reason = ?2 AND instr(detail, ?3) > 0 ORDER BY id DESC LIMIT 1";
    sqlite3_stmt *q = tp_store_cached(r->s, TP_STMT_BULK_FIND_UNFINISHED, sql);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_text(q, 1, r->cfg->location, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, r->b->reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, r->op, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW && sqlite3_column_int(q, 1) == 0) {
            tp_copy(r->res->batch_id, sizeof r->res->batch_id,
                    (const char *)sqlite3_column_text(q, 0));
            r->resumed = 1;
        }
        sqlite3_reset(q);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tp_msg_set(msg, "Cannot read the audit log: %s.", tp_store_errmsg(r->s));
        return TP_ERR_STORAGE;
    }
    return TP_OK;
}

/* 1 when the batch already has an entry for `code`. */
static int adjusted_before(bulk_run *r, const char *code)
{
    static const char sql[] = "SELECT 1 FROM ledger WHERE location = ?1 AND receipt = ?2"
                              " AND kind = 'bulk'";
    if (!r->resumed)
        return 0;
    char key[64 + TP_MEMBER_CODE_MAX + 2];
    snprintf(key, sizeof key, "%s/%s", r->res->batch_id, code);
    sqlite3_stmt *q = tp_store_cached(r->s, TP_STMT_BULK_ADJUSTED_BEFORE, sql);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, r->cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int cmp_member_id(const void *a, const void *b)
{
    int64_t x = ((const bulk_member *)a)->id, y = ((const bulk_member *)b)->id;
    return (x > y) - (x < y);
}

/* A debit must leave every member it reaches at zero or more. */
static tp_status check_balance(bulk_run *r, int64_t id, const char *code, tp_message *msg)
{
    static const char sql[] = "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?1";
    if (r->b->points >= 0 || r->cfg->allow_negative_balance)
        return TP_OK;
    int before = adjusted_before(r, code);
    sqlite3_stmt *q = tp_store_cached(r->s, TP_STMT_BULK_CHECK_BALANCE, sql);
    int rc = SQLITE_ERROR;
    int64_t balance = 0;
    if (q && before >= 0) {
        sqlite3_bind_int64(q, 1, id);
        rc = sqlite3_step(q);
        balance = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
        sqlite3_reset(q);
    }
    if (rc != SQLITE_ROW) {
        tp_msg_set(msg, "Cannot read the balance: %s.", tp_store_errmsg(r->s));
        return TP_ERR_STORAGE;
    }
    if (before == 0 && balance + r->b->points < 0) {
        tp_msg_set(msg, "That would take %s from %lld to %lld points; balances cannot go below "
                   "zero here. Nothing was changed.", code, (long long)balance,
                   (long long)balance + (long long)r->b->points);
        return TP_ERR_STATE;
    }
    return TP_OK;
}

/* The read step: resolves the list and checks every member. */
static tp_status check_request(bulk_run *r, tp_message *msg)
{
    const tp_bulk_adjustment *b = r->b;
    tp_status st = find_unfinished(r, msg);
    if (st != TP_OK)
        return st;
    if (b->all_members) {
        static const char count_sql[] = "SELECT count(*) FROM members";
        sqlite3_stmt *q = tp_store_cached(r->s, TP_STMT_BULK_CHECK_REQUEST_COUNT, count_sql);
        if (!q || sqlite3_step(q) != SQLITE_ROW) {
            if (q)
                sqlite3_reset(q);
            tp_msg_set(msg, "Cannot list members: %s.", tp_store_errmsg(r->s));
            return TP_ERR_STORAGE;
        }
        r->total = (uint64_t)sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
        if (b->points >= 0 || r->cfg->allow_negative_balance)
            return TP_OK;
        sqlite3_stmt *all = NULL;
        if (sqlite3_prepare_v2(tp_store_db(r->s), "SELECT id, code FROM members ORDER BY id",
                               -1, &all, NULL) != SQLITE_OK) {
            tp_msg_set(msg, "Cannot list members: %s.", tp_store_errmsg(r->s));
            return TP_ERR_STORAGE;
        }
        int rc;
        while (st == TP_OK && (rc = sqlite3_step(all)) == SQLITE_ROW)
            st = check_balance(r, sqlite3_column_int64(all, 0),
                               (const char *)sqlite3_column_text(all, 1), msg);
        if (st == TP_OK && rc != SQLITE_DONE) {
            tp_msg_set(msg, "Cannot list members: %s.", tp_store_errmsg(r->s));
            st = TP_ERR_STORAGE;
        }
        sqlite3_finalize(all);
        return st;
    }
    r->total = b->member_count;
    if (!(r->list = calloc(b->member_count, sizeof *r->list))) {
        tp_msg_set(msg, "Out of memory for %zu members.", b->member_count);
        return TP_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < b->member_count; i++) {
        tp_member_row m;
        tp_message why;
        st = tp_members_resolve(r->s, r->cfg, b->members[i], &m, &why);
        if (st != TP_OK) {
            tp_msg_set(msg, "Member %zu of the list: %s Nothing was changed.", i + 1, why.text);
            return st;
        }
        r->list[i].id = m.id;
        tp_copy(r->list[i].code, sizeof r->list[i].code, m.code);
        if ((st = check_balance(r, m.id, m.code, msg)) != TP_OK)
            return st;
    }
    bulk_member *sorted = malloc(b->member_count * sizeof *sorted);
    if (!sorted) {
        tp_msg_set(msg, "Out of memory for %zu members.", b->member_count);
        return TP_ERR_NO_MEMORY;
    }
    memcpy(sorted, r->list, b->member_count * sizeof *sorted);
    qsort(sorted, b->member_count, sizeof *sorted, cmp_member_id);
    for (size_t i = 1; i < b->member_count && st == TP_OK; i++)
        if (sorted[i].id == sorted[i - 1].id) {
            tp_msg_set(msg, "Member %s is in the list twice; nothing was changed.",
                       sorted[i].code);
            st = TP_ERR_DUPLICATE;
        }
    free(sorted);
    return st;
}

/* The next member to visit: 1, 0 at the end, -1 on error. */
static int next_member(bulk_run *r, bulk_member *m)
{
    if (r->list) {
        if (r->done >= r->b->member_count)
            return 0;
        *m = r->list[r->done];
        return 1;
    }
    static const char sql[] = "SELECT id, code FROM members WHERE id > ?1 ORDER BY id LIMIT 1";
    sqlite3_stmt *q = tp_store_cached(r->s, TP_STMT_BULK_NEXT_MEMBER, sql);
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, r->after_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        m->id = sqlite3_column_int64(q, 0);
        tp_copy(m->code, sizeof m->code, (const char *)sqlite3_column_text(q, 1));
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The chunk's audit record, last in its transaction: it covers the
 * chunk's entries (their count, sum and digest are in the record, see
 * audit.c). */
static tp_status audit_part(bulk_run *r, int last, tp_message *msg)
{
    const tp_bulk_adjustment *b = r->b;
    char detail[TP_COMMENT_MAX + 128];
    tp_buf_set(detail, sizeof detail, "%llu members, %s%lld each (%s, part %llu%s)%s%s",
               (unsigned long long)r->chunk_members, b->points > 0 ? "+" : "",
               (long long)b->points, r->op, (unsigned long long)r->parts + 1,
               last ? ", last part" : "", b->comment && *b->comment ? "; comment: " : "",
               b->comment ? b->comment : "");
    tp_audit_entry e = {.time_ms = tp_now_ms(), .action = "bulk", .actor = b->staff,
                        .approver = b->staff, .location = r->cfg->location,
                        .receipt = r->res->batch_id, .points = r->chunk_points,
                        .reason = b->reason, .detail = detail};
    return tp_audit_append(r->s, &e, msg);
}

static tp_status part_begin(bulk_run *r, tp_message *msg)
{
    tp_status st = tp_store_begin(r->s, msg);
    if (st != TP_OK)
        return st;
    r->start_ns = tp_mono_ns();
    r->chunk_members = 0;
    r->chunk_points = 0;
    if (!r->res->batch_id[0])
        snprintf(r->res->batch_id, sizeof r->res->batch_id, "BULK-%lld",
                 (long long)tp_ledger_next_id(r->s));
    return TP_OK;
}

/* Commits the open chunk; `last` marks the batch finished. */
static tp_status part_commit(bulk_run *r, int last, tp_message *msg)
{
    tp_status st = TP_OK;
    if (r->chunk_members > 0 || (last && (r->parts > 0 || r->resumed)))
        st = audit_part(r, last, msg);
    if (st == TP_OK)
        st = tp_store_commit(r->s, msg);
    else
        tp_store_rollback(r->s);
    if (st != TP_OK)
        return st;
    if (r->chunk_members > 0 || last)
        r->parts++;
    r->res->members += r->chunk_members;
    r->res->points_total += r->chunk_points;
    if (r->pace->committed)
        r->pace->committed(r->pace->user, r->parts, r->res->members);
    if (!last)
        tp_store_step_aside(tp_mono_ns() - r->start_ns);
    return TP_OK;
}

/* The write step, in chunks. */
static tp_status write_batch(bulk_run *r, tp_progress_fn progress, void *user, tp_message *msg)
{
    const tp_bulk_adjustment *b = r->b;
    tp_status st = part_begin(r, msg);
    for (;;) {
        if (st != TP_OK)
            break;
        bulk_member m;
        int more = next_member(r, &m);
        if (more < 0) {
            tp_msg_set(msg, "Cannot list members: %s.", tp_store_errmsg(r->s));
            st = TP_ERR_STORAGE;
            break;
        }
        if (!more)
            return part_commit(r, 1, msg);
        r->done++;
        r->after_id = m.id;
        char key[64 + TP_MEMBER_CODE_MAX + 2];
        snprintf(key, sizeof key, "%s/%s", r->res->batch_id, m.code);
        tp_message why;
        st = tp_ledger_append_manual(r->s, r->cfg, m.id, m.code, "bulk", key, b->points,
                                     b->staff, b->reason, b->comment, NULL, &why);
        if (st == TP_ERR_DUPLICATE) { /* adjusted by the run this one takes up */
            r->already++;
            st = TP_OK;
        } else if (st != TP_OK) {
            tp_msg_set(msg, "%s", why.text);
            break;
        } else {
            r->chunk_members++;
            r->chunk_points += b->points;
        }
        if (progress && r->done % 1000 == 0)
            progress(user, r->done, r->total);
        if (r->chunk_members >= r->pace->chunk_members ||
            tp_mono_ns() - r->start_ns >= (int64_t)r->pace->chunk_ms * 1000000) {
            if ((st = part_commit(r, 0, msg)) == TP_OK)
                st = part_begin(r, msg);
        }
    }
    tp_store_rollback(r->s);
    return st;
}

tp_status tp_ledger_bulk_paced(tp_store *s, const tp_config *cfg, const tp_bulk_adjustment *b,
                               const tp_bulk_pace *pace, tp_progress_fn progress, void *user,
                               tp_bulk_result *result, tp_message *msg)
{
    static const tp_bulk_pace defaults = {TP_BULK_CHUNK_MEMBERS, TP_BULK_CHUNK_MS, NULL, NULL};
    memset(result, 0, sizeof *result);
    if (b->points == 0 || b->points > TP_ADJUST_MAX || b->points < -TP_ADJUST_MAX) {
        tp_msg_set(msg, "An adjustment is a non-zero number of points up to %lld either way.",
                   (long long)TP_ADJUST_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status st = tp_ledger_check_texts(b->reason, b->comment, b->staff, msg);
    if (st != TP_OK)
        return st;
    if (!b->all_members && (!b->members || b->member_count == 0)) {
        tp_msg_set(msg, "Name the members to adjust, or choose all members.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    bulk_run r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.cfg = cfg;
    r.b = b;
    r.pace = pace && pace->chunk_members && pace->chunk_ms ? pace : &defaults;
    r.res = result;
    name_operation(&r);
    sqlite3 *db = tp_store_db(s);
    if (sqlite3_exec(db, "BEGIN DEFERRED", NULL, NULL, NULL) != SQLITE_OK) {
        tp_msg_set(msg, "Cannot read the database: %s.", tp_store_errmsg(s));
        return TP_ERR_STORAGE;
    }
    st = check_request(&r, msg);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL); /* read only */
    if (st == TP_OK)
        st = write_batch(&r, progress, user, msg);
    free(r.list);
    if (st != TP_OK) {
        if (result->members > 0 || r.parts > 0) {
            char why[TP_MESSAGE_MAX];
            tp_copy(why, sizeof why, msg->text);
            tp_msg_set(msg, "Bulk adjustment %s stopped after %llu members: %s Run the same "
                       "bulk adjustment again to finish it; nobody gets the points twice.",
                       result->batch_id, (unsigned long long)result->members, why);
        } else {
            memset(result, 0, sizeof *result);
        }
        return st;
    }
    if (progress)
        progress(user, r.done, r.total);
    if (r.resumed && r.already)
        tp_msg_set(msg, "Finished bulk adjustment %s: %llu members now, %llu adjusted by the "
                   "run that stopped.", result->batch_id, (unsigned long long)result->members,
                   (unsigned long long)r.already);
    else
        tp_msg_clear(msg); /* the result says it all */
    return TP_OK;
}

tp_status tp_ledger_bulk(tp_store *s, const tp_config *cfg, const tp_bulk_adjustment *b,
                         tp_progress_fn progress, void *user, tp_bulk_result *result,
                         tp_message *msg)
{
    return tp_ledger_bulk_paced(s, cfg, b, NULL, progress, user, result, msg);
}
