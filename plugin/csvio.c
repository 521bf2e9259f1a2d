/*
 * csvio.c — CSV import and export (see csvio.h).
 *
 * Format: a header row naming the columns, in any order, case-insensitive:
 *   code (required), points (required), name, phone, email, reason,
 *   app_id, cards (alternate codes separated by ';')
 * then one row per member. A row whose code is unknown creates the member
 * (name, phone, email) with `points` as opening balance; a row for an
 * existing member adds `points` (positive or negative) to the balance.
 * UTF-8, with or without a byte-order mark; CRLF or LF; fields quoted as
 * RFC 4180 says (libcsv parses them).
 *
 * Guarantees: the whole file runs inside one transaction. Every row is
 * checked; with any invalid row the transaction is rolled back (unless
 * skip-invalid), so nothing is ever half-applied. A dry run always rolls
 * back. Each row's ledger entry is keyed by the file's content hash and the
 * row's line, so importing the same file twice adds nothing the second
 * time (those rows are reported as already imported).
 */
#include "csvio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csv.h>
#include <sodium.h>
#include <sqlite3.h>

#include "audit.h"
#include "ledger.h"
#include "members.h"
#include "util.h"

enum { COL_CODE, COL_POINTS, COL_NAME, COL_PHONE, COL_EMAIL, COL_REASON, COL_APP_ID, COL_CARDS,
       COL_N };
static const char *const col_names[COL_N] = {"code",   "points", "name",  "phone",
                                             "email",  "reason", "app_id", "cards"};

#define FIELD_MAX 256
#define MAX_FIELDS 32
#define BATCH 64 /* rows per multi-row INSERT */

/* A new member and a ledger entry waiting for their batch to be written. */
typedef struct staged_member {
    int64_t id;
    char code[TP_MEMBER_CODE_MAX + 1], name[TP_NAME_MAX + 1];
    char phone[TP_PHONE_MAX + 1], email[TP_EMAIL_MAX + 1];
} staged_member;

typedef struct staged_entry {
    int64_t member_id, points;
    char key[64], reason[TP_REASON_MAX + 1];
} staged_entry;

typedef struct import_ctx {
    tp_store *s;
    const tp_config *cfg;
    const char *staff;
    tp_problem_fn problem;
    void *user;
    tp_import_result *res;
    char file_key[24];       /* first bytes of the file's hash, hex */
    uint64_t line;           /* line being fed */
    int64_t now_ms;          /* one time for the whole import */
    int header_done;
    int col_of[MAX_FIELDS];  /* field index -> COL_* or -1 */
    int nfields;
    int too_many;
    char field[MAX_FIELDS][FIELD_MAX + 1];
    int field_too_long[MAX_FIELDS];
    int fatal;               /* storage error: stop */
    tp_message fatal_msg;
    int one_by_one;          /* no batches (file seen before, ids near the end) */
    int64_t next_id;         /* id of the next new member, 0 = ask */
    staged_member sm[BATCH];
    int nsm;
    staged_entry se[BATCH];
    int nse;
    sqlite3_stmt *ins_members[2], *ins_entries[2]; /* BATCH rows, one row */
} import_ctx;

static void problem(import_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(import_ctx *c, const char *fmt, ...)
{
    char text[TP_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    c->res->invalid++;
    if (c->problem)
        c->problem(c->user, c->line, text);
}

/* The formula guard (OWASP, "CSV injection"; docs/MANAGER.md): export
 * writes a text cell that starts with one of these with a single quote in
 * front, so a spreadsheet shows it as text instead of running it. The
 * quote itself is in the set, so that a cell that really starts with a
 * quote gets one more: import then removes exactly one leading quote when
 * the next character is in the set, and every cell comes back as it was. */
static int formula_lead(char ch)
{
    return ch != '\0' && strchr("=+-@\t\r'", ch) != NULL;
}

static void on_field(void *data, size_t len, void *user)
{
    import_ctx *c = user;
    if (len >= 2 && ((const char *)data)[0] == '\'' && formula_lead(((const char *)data)[1])) {
        data = (char *)data + 1; /* undo the export's formula guard */
        len--;
    }
    if (c->nfields >= MAX_FIELDS) {
        c->too_many = 1;
        return;
    }
    int i = c->nfields++;
    c->field_too_long[i] = len > FIELD_MAX;
    size_t n = len > FIELD_MAX ? FIELD_MAX : len;
    if (n)
        memcpy(c->field[i], data, n);
    c->field[i][n] = '\0';
}

static void take_header(import_ctx *c)
{
    int seen[COL_N] = {0};
    for (int i = 0; i < c->nfields; i++) {
        c->col_of[i] = -1;
        for (int k = 0; k < COL_N; k++)
            if (strcasecmp(c->field[i], col_names[k]) == 0) {
                if (seen[k]) {
                    problem(c, "The header names the column %s twice.", col_names[k]);
                    return;
                }
                seen[k] = 1;
                c->col_of[i] = k;
            }
        if (c->col_of[i] < 0) {
            problem(c, "The header has an unknown column '%.40s' (known: code, points, name, "
                       "phone, email, reason, app_id, cards).", c->field[i]);
            return;
        }
    }
    if (!seen[COL_CODE] || !seen[COL_POINTS]) {
        problem(c, "The header must name at least the columns code and points.");
        return;
    }
    c->header_done = 1;
}

static const char *col(import_ctx *c, int which)
{
    for (int i = 0; i < c->nfields; i++)
        if (c->col_of[i] == which)
            return c->field[i];
    return "";
}

/* Cards listed for the member ("C1;C2"): a card already the member's is
 * fine; one belonging to someone else makes the row invalid. */
static int add_cards(import_ctx *c, const tp_member_row *m, const char *list)
{
    char buf[FIELD_MAX + 1];
    tp_copy(buf, sizeof buf, list);
    for (char *save = NULL, *card = strtok_r(buf, ";", &save); card;
         card = strtok_r(NULL, ";", &save)) {
        while (*card == ' ')
            card++;
        size_t n = strlen(card);
        while (n && card[n - 1] == ' ')
            card[--n] = '\0';
        if (n == 0)
            continue;
        if (n > TP_MEMBER_CODE_MAX || !tp_is_member_code(card, n, NULL)) {
            problem(c, "The card '%.40s' is not letters, digits, '-', '_' or '.'.", card);
            return -1;
        }
        tp_member_row other;
        tp_message why;
        tp_status st = tp_store_find_member(c->s, card, &other, &why);
        if (st == TP_OK) {
            if (other.id != m->id) {
                problem(c, "The card %s already belongs to member %s.", card, other.code);
                return -1;
            }
            continue;
        }
        static const char card_sql[] =
            "INSERT INTO member_cards(code, member_id, added_ms) VALUES(?1, ?2, ?3)";
        sqlite3_stmt *q = tp_store_cached(c->s, card_sql);
        int rc = SQLITE_ERROR;
        if (q) {
            sqlite3_bind_text(q, 1, card, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 2, m->id);
            sqlite3_bind_int64(q, 3, c->now_ms);
            rc = sqlite3_step(q);
            sqlite3_reset(q);
        }
        if (rc != SQLITE_DONE) {
            c->fatal = 1;
            tp_msg_set(&c->fatal_msg, "Cannot add card %s: %s", card, tp_store_errmsg(c->s));
            return -1;
        }
    }
    return 0;
}

/* One data row, checked: the texts point into the parser's fields. */
typedef struct csv_row {
    const char *code, *name, *reason, *app_id, *cards;
    char phone[TP_PHONE_MAX + 1], email[TP_EMAIL_MAX + 1];
    int64_t points;
} csv_row;

/* Checks what can be checked without the database: 0, or -1 after
 * reporting the row's problem. */
static int check_row(import_ctx *c, csv_row *r)
{
    if (c->too_many || c->nfields > MAX_FIELDS) {
        problem(c, "The row has more than %d fields.", MAX_FIELDS);
        return -1;
    }
    for (int i = 0; i < c->nfields && i < MAX_FIELDS; i++)
        if (c->field_too_long[i]) {
            problem(c, "A field is longer than %d characters.", FIELD_MAX);
            return -1;
        }
    r->code = col(c, COL_CODE);
    const char *pts = col(c, COL_POINTS);
    size_t n = strlen(r->code);
    if (n == 0 || n > TP_MEMBER_CODE_MAX || !tp_is_member_code(r->code, n, NULL)) {
        problem(c, "The code '%.40s' is not a member code (letters, digits, '-', '_', '.').",
                r->code);
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long points = strtoll(pts, &end, 10);
    if (!*pts || *end || errno || points > TP_ADJUST_MAX || points < -TP_ADJUST_MAX) {
        problem(c, "Points must be a whole number between -%lld and %lld (got '%.20s').",
                (long long)TP_ADJUST_MAX, (long long)TP_ADJUST_MAX, pts);
        return -1;
    }
    r->points = points;
    tp_message why;
    r->phone[0] = r->email[0] = '\0';
    if (*col(c, COL_PHONE) &&
        tp_normalise_phone(col(c, COL_PHONE), c->cfg->default_country_code, r->phone,
                           sizeof r->phone, &why) != TP_OK) {
        problem(c, "%s", why.text);
        return -1;
    }
    if (*col(c, COL_EMAIL) &&
        tp_normalise_email(col(c, COL_EMAIL), r->email, sizeof r->email, &why) != TP_OK) {
        problem(c, "%s", why.text);
        return -1;
    }
    r->name = col(c, COL_NAME);
    if (strlen(r->name) > TP_NAME_MAX || !tp_is_printable(r->name, strlen(r->name))) {
        problem(c, "The name is longer than %d characters or has control characters.",
                TP_NAME_MAX);
        return -1;
    }
    r->reason = *col(c, COL_REASON) ? col(c, COL_REASON) : "CSV import";
    if (strlen(r->reason) > TP_REASON_MAX || !tp_is_printable(r->reason, strlen(r->reason))) {
        problem(c, "The reason is longer than %d characters.", TP_REASON_MAX);
        return -1;
    }
    r->app_id = col(c, COL_APP_ID);
    if (*r->app_id && !tp_is_member_code(r->app_id, strlen(r->app_id), NULL)) {
        problem(c, "The app id '%.40s' is not letters, digits, '-', '_' or '.'.", r->app_id);
        return -1;
    }
    r->cards = col(c, COL_CARDS);
    return 0;
}

static void ledger_key(const import_ctx *c, uint64_t line, char *key, size_t cap)
{
    snprintf(key, cap, "IMPORT-%s-L%llu", c->file_key, (unsigned long long)line);
}

/* ---- rows one at a time -------------------------------------------------
 * For the rows that can be refused after writing something (a debit, which
 * must not overdraw; cards, which may belong to someone else), rows with an
 * app id, and every row of a file imported before. */

static void apply_row(import_ctx *c, const csv_row *r)
{
    /* Only the row id is needed: the member's code is read back only for a
     * debit, whose refusal names it. */
    tp_member_row m;
    memset(&m, 0, sizeof m);
    tp_message why;
    int found = tp_store_member_id(c->s, r->code, &m.id);
    tp_status st = TP_OK;
    if (found == 0 && *r->app_id) {
        tp_member_row other;
        if (tp_store_find_member(c->s, r->app_id, &other, &why) == TP_OK) {
            problem(c, "The app id %s is already used by member %s.", r->app_id, other.code);
            return;
        }
    }
    if (found == 1) {
        tp_copy(m.code, sizeof m.code, r->code);
        if (r->points < 0)
            st = tp_store_member_by_id(c->s, m.id, &m, &why);
    } else if (found == 0) {
        /* The code was just looked up (as code, card and app id), so the
         * insert needs no second check. */
        st = tp_store_insert_member(c->s, r->code, r->name, r->phone[0] ? r->phone : NULL,
                                    r->email[0] ? r->email : NULL,
                                    *r->app_id ? r->app_id : NULL, c->now_ms, &why);
        if (st == TP_ERR_DUPLICATE) {
            problem(c, "%s", why.text);
            return;
        }
        if (st == TP_OK) {
            m.id = sqlite3_last_insert_rowid(tp_store_db(c->s));
            tp_copy(m.code, sizeof m.code, r->code);
            c->res->members_created++;
        }
    } else {
        st = TP_ERR_STORAGE;
        tp_msg_set(&why, "Cannot read members: %s.", tp_store_errmsg(c->s));
    }
    if (st != TP_OK) {
        c->fatal = 1;
        c->fatal_msg = why;
        return;
    }
    if (add_cards(c, &m, r->cards) != 0)
        return;
    if (r->points == 0)
        return;
    char key[64];
    ledger_key(c, c->line, key, sizeof key);
    st = tp_ledger_append_manual(c->s, c->cfg, m.id, m.code, "import", key, r->points, c->staff,
                                 r->reason, NULL, NULL, &why);
    if (st == TP_ERR_DUPLICATE) {
        /* Same file, same line: already imported. Not an error. */
        if (c->problem)
            c->problem(c->user, c->line, "Already imported from this file; skipped.");
        return;
    }
    if (st == TP_ERR_STATE) {
        problem(c, "%s", why.text);
        return;
    }
    if (st != TP_OK) {
        c->fatal = 1;
        c->fatal_msg = why;
        return;
    }
    c->res->entries++;
    c->res->points_total += r->points;
}

static int step_cached(import_ctx *c, const char *sql)
{
    sqlite3_stmt *q = tp_store_cached(c->s, sql);
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    if (q)
        sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Each such row in its own savepoint: a row refused half-way (member
 * created, then its points refused) leaves nothing behind, even with
 * skip-invalid. */
static void apply_row_atomically(import_ctx *c, const csv_row *r)
{
    if (!*r->cards && r->points >= 0) {
        apply_row(c, r); /* nothing can refuse it after a write */
        return;
    }
    static const char begin_sql[] = "SAVEPOINT csv_row", undo_sql[] = "ROLLBACK TO csv_row",
                      end_sql[] = "RELEASE csv_row";
    if (step_cached(c, begin_sql) != 0) {
        c->fatal = 1;
        tp_msg_set(&c->fatal_msg, "%s", tp_store_errmsg(c->s));
        return;
    }
    uint64_t invalid = c->res->invalid, created = c->res->members_created;
    apply_row(c, r);
    if (c->res->invalid != invalid || c->fatal) {
        step_cached(c, undo_sql);
        c->res->members_created = created;
    }
    step_cached(c, end_sql);
}

/* ---- rows in batches ----------------------------------------------------
 * Plain rows (points >= 0, no cards, no app id) cannot be refused once
 * checked, so they are written BATCH at a time by one multi-row INSERT:
 * one statement (and one statement journal, which the ledger's triggers
 * require) per batch instead of per row. New members get their ids here,
 * so their entries can be staged before they are written; a later row
 * naming a staged member finds it among the staged ones. Everything staged
 * is written before any row that reads the database for more than a code
 * (the rows above), and at the end. */

/* Parameters every row of a batch shares: ?1 the import's time, ?2 the
 * location, ?3 the terminal, ?4 the staff member. */
#define SHARED_N 4
#define MEMBER_PARAMS 5 /* id, code, name, phone, email */
#define ENTRY_PARAMS 4  /* member id, key, points, reason */

static const char members_head[] = "INSERT INTO members(id, code, name, phone, email, created_ms)";
static const char members_tail[] = "?1";
static const char entries_head[] =
    "INSERT INTO ledger(member_id, receipt, points, reason, location, terminal, kind, staff,"
    " time_ms, recorded_ms)";
static const char entries_tail[] = "?2, ?3, 'import', ?4, ?1, ?1";

/* The INSERT of `rows` rows: head, then per row `per_row` parameters of
 * its own followed by `tail` (shared parameters and constants). */
static sqlite3_stmt *prepare_batch(import_ctx *c, const char *head, int per_row,
                                   const char *tail, int rows)
{
    size_t cap = strlen(head) + (size_t)rows * ((size_t)per_row * 8 + strlen(tail) + 4) + 16;
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    size_t n = (size_t)snprintf(sql, cap, "%s VALUES", head);
    for (int i = 0; i < rows; i++) {
        n += (size_t)snprintf(sql + n, cap - n, "%s(", i ? "," : "");
        for (int k = 0; k < per_row; k++)
            n += (size_t)snprintf(sql + n, cap - n, "?%d,", SHARED_N + 1 + i * per_row + k);
        n += (size_t)snprintf(sql + n, cap - n, "%s)", tail);
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v3(tp_store_db(c->s), sql, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) !=
        SQLITE_OK)
        q = NULL;
    free(sql);
    return q;
}

static void batch_failed(import_ctx *c)
{
    c->fatal = 1;
    tp_msg_set(&c->fatal_msg, "Cannot write the imported rows: %s.", tp_store_errmsg(c->s));
}

static void bind_text_or_null(sqlite3_stmt *q, int at, const char *text)
{
    if (*text)
        sqlite3_bind_text(q, at, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, at);
}

static void bind_member(import_ctx *c, sqlite3_stmt *q, int at, int row)
{
    const staged_member *m = &c->sm[row];
    sqlite3_bind_int64(q, at, m->id);
    sqlite3_bind_text(q, at + 1, m->code, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, at + 2, m->name, -1, SQLITE_STATIC);
    bind_text_or_null(q, at + 3, m->phone);
    bind_text_or_null(q, at + 4, m->email);
}

static void bind_entry(import_ctx *c, sqlite3_stmt *q, int at, int row)
{
    const staged_entry *e = &c->se[row];
    sqlite3_bind_int64(q, at, e->member_id);
    sqlite3_bind_text(q, at + 1, e->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, at + 2, e->points);
    sqlite3_bind_text(q, at + 3, e->reason, -1, SQLITE_STATIC);
}

/* One kind of staged row and how it is written. */
typedef struct batch_kind {
    const char *head, *tail;
    int per_row;
    void (*bind)(import_ctx *c, sqlite3_stmt *q, int at, int row);
} batch_kind;

static const batch_kind member_batch = {members_head, members_tail, MEMBER_PARAMS,
                                        bind_member};
static const batch_kind entry_batch = {entries_head, entries_tail, ENTRY_PARAMS, bind_entry};

/* Writes the *n staged rows of `kind` (and empties the stage): through the
 * BATCH-row statement when full, else the one-row statement *n times. */
static int write_staged(import_ctx *c, const batch_kind *kind, sqlite3_stmt **st, int *n)
{
    int rows = *n, full = rows == BATCH, per = full ? BATCH : 1;
    *n = 0;
    if (rows == 0)
        return 0;
    sqlite3_stmt **q = &st[full ? 0 : 1];
    if (!*q && !(*q = prepare_batch(c, kind->head, kind->per_row, kind->tail, per))) {
        batch_failed(c);
        return -1;
    }
    for (int done = 0; done < rows; done += per) {
        sqlite3_bind_int64(*q, 1, c->now_ms);
        sqlite3_bind_text(*q, 2, c->cfg->location, -1, SQLITE_STATIC);
        sqlite3_bind_text(*q, 3, c->cfg->terminal, -1, SQLITE_STATIC);
        sqlite3_bind_text(*q, 4, c->staff, -1, SQLITE_STATIC);
        for (int i = 0; i < per; i++)
            kind->bind(c, *q, SHARED_N + 1 + i * kind->per_row, done + i);
        int rc = sqlite3_step(*q);
        sqlite3_reset(*q);
        if (rc != SQLITE_DONE) {
            batch_failed(c);
            return -1;
        }
    }
    return 0;
}

static int flush_members(import_ctx *c)
{
    return write_staged(c, &member_batch, c->ins_members, &c->nsm);
}

/* Members first: the entries refer to them. */
static int flush_staged(import_ctx *c)
{
    if (flush_members(c) != 0)
        return -1;
    return write_staged(c, &entry_batch, c->ins_entries, &c->nse);
}

/* The id the next new member gets (what SQLite would choose: one past the
 * largest). Near the end of the id range SQLite picks ids at random, so
 * such a file goes one row at a time. */
static int next_member_id(import_ctx *c)
{
    static const char max_sql[] = "SELECT COALESCE(MAX(id), 0) FROM members";
    sqlite3_stmt *q = tp_store_cached(c->s, max_sql);
    if (!q || sqlite3_step(q) != SQLITE_ROW) {
        if (q)
            sqlite3_reset(q);
        batch_failed(c);
        return -1;
    }
    int64_t max = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (max > INT64_MAX - 4 * (int64_t)1000000000)
        c->one_by_one = 1;
    else
        c->next_id = max + 1;
    return 0;
}

static void stage_row(import_ctx *c, const csv_row *r)
{
    int64_t id = 0;
    int found = tp_store_member_id(c->s, r->code, &id);
    if (found < 0) {
        batch_failed(c);
        return;
    }
    for (int i = 0; !found && i < c->nsm; i++)
        if (strcmp(c->sm[i].code, r->code) == 0) {
            id = c->sm[i].id;
            found = 1;
        }
    if (!found) {
        if (c->nsm == BATCH && flush_members(c) != 0)
            return;
        staged_member *m = &c->sm[c->nsm++];
        m->id = id = c->next_id++;
        tp_copy(m->code, sizeof m->code, r->code);
        tp_copy(m->name, sizeof m->name, r->name);
        tp_copy(m->phone, sizeof m->phone, r->phone);
        tp_copy(m->email, sizeof m->email, r->email);
        c->res->members_created++;
    }
    if (r->points == 0)
        return;
    if (c->nse == BATCH && flush_staged(c) != 0)
        return;
    staged_entry *e = &c->se[c->nse++];
    e->member_id = id;
    e->points = r->points;
    ledger_key(c, c->line, e->key, sizeof e->key);
    tp_copy(e->reason, sizeof e->reason, r->reason);
    c->res->entries++;
    c->res->points_total += r->points;
}

static void take_row(import_ctx *c)
{
    c->res->rows++;
    csv_row r;
    if (check_row(c, &r) != 0)
        return;
    int plain = r.points >= 0 && !*r.cards && !*r.app_id;
    if (plain && !c->one_by_one && c->next_id == 0 && next_member_id(c) != 0)
        return;
    if (plain && !c->one_by_one) {
        stage_row(c, &r);
        return;
    }
    if (flush_staged(c) != 0)
        return;
    apply_row_atomically(c, &r);
    c->next_id = 0; /* it may have added a member: ask again */
}

/* A file imported before (fully, or partly with skip-invalid) goes one row
 * at a time, so each line already in the ledger is recognised and skipped. */
static int check_imported_before(import_ctx *c)
{
    static const char sql[] = "SELECT 1 FROM ledger WHERE location = ?1 AND receipt >= ?2"
                              " AND receipt < ?3 AND kind = 'import' LIMIT 1";
    char lo[64], hi[64];
    snprintf(lo, sizeof lo, "IMPORT-%s-L", c->file_key);
    snprintf(hi, sizeof hi, "IMPORT-%s-M", c->file_key);
    sqlite3_stmt *q = tp_store_cached(c->s, sql);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, c->cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, hi, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        c->one_by_one = 1;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static void on_row(int term, void *user)
{
    (void)term;
    import_ctx *c = user;
    if (!c->fatal) {
        /* A row of one empty field is a blank line. */
        int blank = c->nfields == 1 && c->field[0][0] == '\0';
        if (!blank) {
            if (!c->header_done) {
                if (c->res->invalid == 0)
                    take_header(c);
            } else {
                take_row(c);
            }
        }
    }
    c->nfields = 0;
    c->too_many = 0;
}

/* The import's audit record, last in its transaction: it covers every
 * ledger entry the import wrote (audit.c reads them back for the digest),
 * so one record per file, not one per row, keeps the import fast and the
 * log readable. Its receipt is the prefix of the entries' keys. */
static void audit_import(import_ctx *c, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char key[64], detail[400];
    snprintf(key, sizeof key, "IMPORT-%s", c->file_key);
    tp_buf_set(detail, sizeof detail, "file %.200s: %llu rows, %llu entries, %llu members "
               "created%s", base, (unsigned long long)c->res->rows,
               (unsigned long long)c->res->entries, (unsigned long long)c->res->members_created,
               c->res->invalid ? ", invalid rows skipped" : "");
    tp_audit_entry e = {.time_ms = c->now_ms, .action = "import", .actor = c->staff,
                        .approver = c->staff, .location = c->cfg->location, .receipt = key,
                        .points = c->res->points_total, .reason = "CSV import",
                        .detail = detail};
    tp_message why;
    if (tp_audit_append(c->s, &e, &why) != TP_OK) {
        c->fatal = 1;
        c->fatal_msg = why;
    }
}

/* Hash of the whole file: the import's identity for idempotency. */
static int hash_file(FILE *f, char *hex, size_t cap, uint64_t *lines)
{
    crypto_generichash_state st;
    unsigned char buf[65536], out[16];
    crypto_generichash_init(&st, NULL, 0, sizeof out);
    size_t n;
    *lines = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        crypto_generichash_update(&st, buf, n);
        for (size_t i = 0; i < n; i++)
            *lines += buf[i] == '\n';
    }
    if (ferror(f))
        return -1;
    crypto_generichash_final(&st, out, sizeof out);
    sodium_bin2hex(hex, cap, out, 8);
    rewind(f);
    return 0;
}

tp_status tp_csv_import(tp_store *s, const tp_config *cfg, const char *path, uint32_t flags,
                        const char *staff, tp_progress_fn progress, tp_problem_fn problem_fn,
                        void *user, tp_import_result *result, tp_message *msg)
{
    memset(result, 0, sizeof *result);
    if (!path || tp_bounded_len(path, 4095) == (size_t)-1) {
        tp_msg_set(msg, "Name the CSV file to import.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    size_t n = staff ? tp_bounded_len(staff, 64) : 0;
    if (!staff || n == 0 || n == (size_t)-1) {
        tp_msg_set(msg, "Say which staff member runs the import.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        tp_msg_set(msg, "Cannot open %s: %s.", path, strerror(errno));
        return TP_ERR_NOT_FOUND;
    }
    import_ctx *c = calloc(1, sizeof *c);
    struct csv_parser p;
    if (!c || csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        free(c);
        fclose(f);
        tp_msg_set(msg, "Out of memory reading %s.", path);
        return TP_ERR_NO_MEMORY;
    }
    c->s = s;
    c->cfg = cfg;
    c->staff = staff;
    c->problem = problem_fn;
    c->user = user;
    c->res = result;
    c->now_ms = tp_now_ms();
    uint64_t total_lines = 0;
    tp_status st = TP_OK;
    if (hash_file(f, c->file_key, sizeof c->file_key, &total_lines) != 0) {
        tp_msg_set(msg, "Cannot read %s.", path);
        st = TP_ERR_STORAGE;
        goto out;
    }
    /* One transaction for the whole file: give it room so SQLite does not
     * spill dirty pages mid-way; restored below. */
    sqlite3_exec(tp_store_db(s), "PRAGMA cache_size = -131072", NULL, NULL, NULL);
    sqlite3_exec(tp_store_db(s), "PRAGMA temp_store = MEMORY", NULL, NULL, NULL);
    if ((st = tp_store_begin(s, msg)) != TP_OK)
        goto out;
    if (check_imported_before(c) != 0) {
        c->fatal = 1;
        tp_msg_set(&c->fatal_msg, "%s", tp_store_errmsg(s));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while (!c->fatal && (got = getline(&line, &cap, f)) > 0) {
        c->line++;
        const char *data = line;
        if (c->line == 1 && got >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            data += 3;
            got -= 3;
        }
        if (csv_parse(&p, data, (size_t)got, on_field, on_row, c) != (size_t)got) {
            problem(c, "The CSV is malformed here (%s); check the quotes.",
                    csv_strerror(csv_error(&p)));
            break;
        }
        if (progress && c->line % 10000 == 0)
            progress(user, c->line, total_lines);
    }
    free(line);
    if (!c->fatal && csv_fini(&p, on_field, on_row, c) != 0)
        problem(c, "The file ends inside a quoted field.");
    if (!c->fatal)
        flush_staged(c);
    if (!c->fatal && !c->header_done && result->invalid == 0)
        problem(c, "The file is empty; it needs a header row (code,points,...).");
    if (progress)
        progress(user, c->line, total_lines);
    int applying = !c->fatal && !(flags & TP_IMPORT_DRY_RUN) &&
                   !(result->invalid && !(flags & TP_IMPORT_SKIP_INVALID));
    if (applying && result->entries > 0)
        audit_import(c, path);
    if (c->fatal) {
        tp_store_rollback(s);
        tp_msg_set(msg, "Import stopped, nothing applied: %s", c->fatal_msg.text);
        st = TP_ERR_STORAGE;
    } else if (flags & TP_IMPORT_DRY_RUN) {
        tp_store_rollback(s);
        tp_msg_set(msg, "Dry run of %s: %llu rows, %llu invalid; nothing was applied.", path,
                   (unsigned long long)result->rows, (unsigned long long)result->invalid);
        st = result->invalid ? TP_ERR_INVALID_ARGUMENT : TP_OK;
    } else if (result->invalid && !(flags & TP_IMPORT_SKIP_INVALID)) {
        tp_store_rollback(s);
        tp_msg_set(msg, "%llu of %llu rows of %s are invalid; nothing was applied.",
                   (unsigned long long)result->invalid, (unsigned long long)result->rows, path);
        st = TP_ERR_INVALID_ARGUMENT;
    } else if ((st = tp_store_commit(s, msg)) == TP_OK) {
        result->applied = 1;
        tp_msg_set(msg, "Imported %s: %llu rows, %llu members created, %llu entries, %lld points%s.",
                   path, (unsigned long long)result->rows,
                   (unsigned long long)result->members_created,
                   (unsigned long long)result->entries, (long long)result->points_total,
                   result->invalid ? " (invalid rows skipped)" : "");
    }
    if (!result->applied) {
        if (!(flags & TP_IMPORT_DRY_RUN)) {
            result->members_created = 0;
            result->entries = 0;
            result->points_total = 0;
        }
    }
out:
    for (int i = 0; i < 2; i++) {
        sqlite3_finalize(c->ins_members[i]);
        sqlite3_finalize(c->ins_entries[i]);
    }
    sqlite3_exec(tp_store_db(s), "PRAGMA cache_size = -2000", NULL, NULL, NULL);
    csv_free(&p);
    free(c);
    fclose(f);
    return st;
}

/* One quoted field; a text cell gets the formula guard (see formula_lead). */
static int write_field(FILE *f, const char *text, int last)
{
    size_t n = strlen(text);
    int r;
    if (formula_lead(text[0])) {
        char *guarded = malloc(n + 2);
        if (!guarded)
            return -1;
        guarded[0] = '\'';
        memcpy(guarded + 1, text, n + 1);
        r = csv_fwrite(f, guarded, n + 1);
        free(guarded);
    } else {
        r = csv_fwrite(f, text, n);
    }
    if (r != 0)
        return -1;
    return fputc(last ? '\n' : ',', f) == EOF ? -1 : 0;
}

/* Creates `path` for the export: never an existing file (or a link), and
 * mode 0600 whatever the caller's umask, because it lists phone numbers and
 * e-mail addresses. */
static FILE *create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return NULL;
    FILE *f = NULL;
    if (fchmod(fd, 0600) == 0)
        f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(path);
        errno = e;
    }
    return f;
}

tp_status tp_csv_export(tp_store *s, const char *path, uint64_t *rows, tp_message *msg)
{
    *rows = 0;
    if (!path || tp_bounded_len(path, 4095) == (size_t)-1) {
        tp_msg_set(msg, "Name the CSV file to write.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    FILE *f = create_private(path);
    if (!f) {
        tp_msg_set(msg, errno == EEXIST ? "%s already exists; choose a new file name."
                                        : "Cannot create %s: %s.",
                   path, strerror(errno));
        return TP_ERR_INVALID_ARGUMENT;
    }
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(tp_store_db(s),
                                "SELECT m.code, m.name, COALESCE(m.phone, ''),"
                                " COALESCE(m.email, ''),"
                                " (SELECT COALESCE(SUM(points), 0) FROM ledger l"
                                "  WHERE l.member_id = m.id),"
                                " COALESCE(m.app_id, ''),"
                                " (SELECT COALESCE(group_concat(code, ';'), '') FROM"
                                "  (SELECT code FROM member_cards c WHERE c.member_id = m.id"
                                "   ORDER BY code))"
                                " FROM members m ORDER BY m.id",
                                -1, &q, NULL);
    int bad = rc != SQLITE_OK || fputs("code,name,phone,email,points,reason,app_id,cards\n", f) == EOF;
    while (!bad && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        char pts[32];
        snprintf(pts, sizeof pts, "%lld", (long long)sqlite3_column_int64(q, 4));
        bad = write_field(f, (const char *)sqlite3_column_text(q, 0), 0) ||
              write_field(f, (const char *)sqlite3_column_text(q, 1), 0) ||
              write_field(f, (const char *)sqlite3_column_text(q, 2), 0) ||
              write_field(f, (const char *)sqlite3_column_text(q, 3), 0) ||
              csv_fwrite(f, pts, strlen(pts)) != 0 || fputc(',', f) == EOF ||
              write_field(f, "balance at export", 0) ||
              write_field(f, (const char *)sqlite3_column_text(q, 5), 0) ||
              write_field(f, (const char *)sqlite3_column_text(q, 6), 1);
        (*rows)++;
    }
    sqlite3_finalize(q);
    if (fclose(f) != 0)
        bad = 1;
    if (bad || (rc != SQLITE_DONE)) {
        tp_msg_set(msg, "Cannot write %s completely; delete it and try again.", path);
        return TP_ERR_STORAGE;
    }
    tp_msg_set(msg, "Wrote %llu members to %s.", (unsigned long long)*rows, path);
    return TP_OK;
}
