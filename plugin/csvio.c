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
 * Two passes over the file.
 *
 * The check pass runs in a read transaction and writes nothing to the
 * database, so it never takes the write lock and a till keeps writing
 * while it runs (a dry run is this pass alone). It checks every row as
 * the write pass would apply it, in file order: the row's own fields, and
 * what depends on the database and on the rows before it (an app id or a
 * card already used, a debit that would overdraw). What the file itself
 * creates (members, cards, app ids) and the points it moves are noted in
 * two TEMP tables, which live in the connection's own temporary database.
 * With any invalid row nothing is written (unless skip-invalid).
 *
 * The write pass applies the rows in chunks: each chunk is one write
 * transaction, committed once it holds pace.chunk_rows rows or has been
 * open pace.chunk_ms (csvio.h), with its own audit record covering
 * exactly its ledger entries, so every commit is complete on its own and
 * `verify` is clean after any of them. Between chunks the import steps
 * aside for a moment (tp_store_step_aside), so a till's writer waiting
 * for the lock gets in.
 *
 * Each row's ledger entry is keyed by the file's content hash and the
 * row's line, and a row's member, cards and entry are written in the same
 * chunk. So an import that stopped half-way (killed, power lost, a disk
 * error) is finished by importing the same file again: the check pass
 * finds the lines already in the ledger, reports them as already
 * imported, and the write pass skips them; nothing is added twice.
 *
 * What the check pass cannot promise: a till may change a balance between
 * the passes (a refund taking points back), so a debit found fine can be
 * refused when written. The write pass checks again; such a row stops
 * the import there (or is skipped with skip-invalid), the chunks before
 * it stay applied, and the message says so.
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
#include <time.h>
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
    uint32_t flags;
    const tp_import_pace *pace;
    tp_progress_fn progress;
    int checking;            /* 1 in the check pass, 0 in the write pass */
    int seen_before;         /* some line of this file is in the ledger already */
    uint64_t total_lines;
    uint8_t *skip;           /* bit per line: invalid or already imported */
    uint64_t already;        /* rows imported by an earlier run */
    sqlite3_stmt *chk[7];    /* the check pass's statements, see chk_sql */
    /* The write pass's open chunk. */
    int in_chunk;
    int64_t chunk_start_ns;
    uint64_t chunk_rows, chunks, chunk_first_line, last_line_done;
    tp_import_result before_chunk; /* the result when the chunk began */
    int halted;              /* a row refused in the write pass stopped it */
    uint64_t halt_line;
    tp_message halt_msg;
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
    if (!c->checking && !(c->flags & TP_IMPORT_SKIP_INVALID) && !c->halted) {
        c->halted = 1;
        c->halt_line = c->line;
        tp_msg_set(&c->halt_msg, "%s", text);
    }
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

/* Valid UTF-8 without control characters. */
static int printable_text(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return tp_utf8_valid(s, strlen(s));
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
        if (c->col_of[i] < 0 && !printable_text(c->field[i])) {
            /* Not shown: bytes that are not text would reach a terminal or
             * a page as they are. */
            problem(c, "The first line is not a header of text: is this a CSV file? The "
                       "columns are code, points, name, phone, email, reason, app_id, cards "
                       "(docs/MANAGER.md, CSV import).");
            return;
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

static char *next_card(char *buf, char **save);
static int card_well_formed(import_ctx *c, const char *card);

/* Cards listed for the member ("C1;C2"): a card already the member's is
 * fine; one belonging to someone else makes the row invalid. */
static int add_cards(import_ctx *c, const tp_member_row *m, const char *list)
{
    char buf[FIELD_MAX + 1];
    tp_copy(buf, sizeof buf, list);
    char *save = NULL;
    for (char *card = next_card(buf, &save); card; card = next_card(NULL, &save)) {
        if (!card_well_formed(c, card))
            return -1;
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
        sqlite3_stmt *q = tp_store_cached(c->s, TP_STMT_CSVIO_ADD_CARDS, card_sql);
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
    char refusal[TP_MESSAGE_MAX];
    if (tp_payload_code_scannable(&c->cfg->scan, r->code, refusal, sizeof refusal) != TP_OK) {
        problem(c, "%s", refusal);
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
    r->reason = *col(c, COL_REASON) ? col(c, COL_REASON) : "CSV import";
    if (tp_check_text(r->name, TP_NAME_MAX, "name", &why) != TP_OK ||
        tp_check_text(r->reason, TP_REASON_MAX, "reason", &why) != TP_OK) {
        problem(c, "%s", why.text);
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

/* ---- the check pass -----------------------------------------------------
 * A member is named in the TEMP tables by a key: "#<id>" for one in the
 * database, its code for one the file creates (a code never starts with
 * '#'). csv_names holds every name (code, app id, card) the file gives a
 * member; csv_delta the points the file has moved so far per member. */

enum { CHK_NAME, CHK_ADD_NAME, CHK_DELTA, CHK_ADD_DELTA, CHK_IMPORTED, CHK_BALANCE, CHK_CODE };

static const char *const chk_sql[] = {
    [CHK_NAME] = "SELECT member FROM temp.tp_csv_names WHERE name = ?1",
    [CHK_ADD_NAME] = "INSERT OR IGNORE INTO temp.tp_csv_names(name, member) VALUES(?1, ?2)",
    [CHK_DELTA] = "SELECT delta FROM temp.tp_csv_delta WHERE member = ?1",
    [CHK_ADD_DELTA] = "INSERT INTO temp.tp_csv_delta(member, delta) VALUES(?1, ?2)"
                      " ON CONFLICT(member) DO UPDATE SET delta = delta + excluded.delta",
    [CHK_IMPORTED] = "SELECT 1 FROM ledger WHERE location = ?1 AND receipt = ?2"
                     " AND kind = 'import'",
    [CHK_BALANCE] = "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE member_id = ?1",
    [CHK_CODE] = "SELECT code FROM members WHERE id = ?1",
};

static const char chk_tables[] =
    "CREATE TEMP TABLE IF NOT EXISTS tp_csv_names(name TEXT PRIMARY KEY, member TEXT NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TEMP TABLE IF NOT EXISTS tp_csv_delta(member TEXT PRIMARY KEY,"
    " delta INTEGER NOT NULL) WITHOUT ROWID;"
    "DELETE FROM temp.tp_csv_names; DELETE FROM temp.tp_csv_delta;";

static void check_failed(import_ctx *c)
{
    c->fatal = 1;
    tp_msg_set(&c->fatal_msg, "Cannot check the rows: %s.", tp_store_errmsg(c->s));
}

/* The statement `which`, reset, with ?1 bound to `a` (text) when given. */
static sqlite3_stmt *chk(import_ctx *c, int which, const char *a)
{
    sqlite3_stmt **q = &c->chk[which];
    if (!*q && sqlite3_prepare_v3(tp_store_db(c->s), chk_sql[which], -1,
                                  SQLITE_PREPARE_PERSISTENT, q, NULL) != SQLITE_OK) {
        *q = NULL;
        check_failed(c);
        return NULL;
    }
    sqlite3_reset(*q);
    sqlite3_clear_bindings(*q);
    if (a)
        sqlite3_bind_text(*q, 1, a, -1, SQLITE_STATIC);
    return *q;
}

/* Runs a statement that returns nothing: 0, or -1 (fatal). */
static int chk_run(import_ctx *c, sqlite3_stmt *q)
{
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    if (q)
        sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        if (q)
            check_failed(c);
        return -1;
    }
    return 0;
}

/* The member `name` names, as it would be when this row is written: in
 * the database, or created by a row before it. 1 found (key set), 0 not,
 * -1 fatal. */
static int chk_member(import_ctx *c, const char *name, char *key, size_t cap)
{
    int64_t id = 0;
    int found = tp_store_member_id(c->s, name, &id);
    if (found < 0) {
        check_failed(c);
        return -1;
    }
    if (found) {
        snprintf(key, cap, "#%lld", (long long)id);
        return 1;
    }
    sqlite3_stmt *q = chk(c, CHK_NAME, name);
    if (!q)
        return -1;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        tp_copy(key, cap, (const char *)sqlite3_column_text(q, 0));
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        check_failed(c);
        return -1;
    }
    return rc == SQLITE_ROW;
}

/* The member code a key stands for, for a sentence. */
static void chk_label(import_ctx *c, const char *key, char *out, size_t cap)
{
    tp_copy(out, cap, key);
    if (key[0] != '#')
        return;
    sqlite3_stmt *q = chk(c, CHK_CODE, NULL);
    if (!q)
        return;
    sqlite3_bind_int64(q, 1, strtoll(key + 1, NULL, 10));
    if (sqlite3_step(q) == SQLITE_ROW)
        tp_copy(out, cap, (const char *)sqlite3_column_text(q, 0));
    sqlite3_reset(q);
}

/* The balance the member with `key` would have before this row. */
static int chk_balance(import_ctx *c, const char *key, int64_t *balance)
{
    *balance = 0;
    sqlite3_stmt *q;
    if (key[0] == '#') {
        if (!(q = chk(c, CHK_BALANCE, NULL)))
            return -1;
        sqlite3_bind_int64(q, 1, strtoll(key + 1, NULL, 10));
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW)
            *balance = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
        if (rc != SQLITE_ROW) {
            check_failed(c);
            return -1;
        }
    }
    if (!(q = chk(c, CHK_DELTA, key)))
        return -1;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *balance += sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        check_failed(c);
        return -1;
    }
    return 0;
}

/* 1 when this line's entry is in the ledger (an earlier run wrote it). */
static int chk_imported(import_ctx *c)
{
    char key[64];
    ledger_key(c, c->line, key, sizeof key);
    sqlite3_stmt *q = chk(c, CHK_IMPORTED, NULL);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, c->cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        check_failed(c);
        return -1;
    }
    return rc == SQLITE_ROW;
}

/* The cards of a row, trimmed, one by one: the next card from *save or NULL. */
static char *next_card(char *buf, char **save)
{
    for (char *card = strtok_r(buf, ";", save); card; card = strtok_r(NULL, ";", save)) {
        while (*card == ' ')
            card++;
        size_t n = strlen(card);
        while (n && card[n - 1] == ' ')
            card[--n] = '\0';
        if (n)
            return card;
    }
    return NULL;
}

static int card_well_formed(import_ctx *c, const char *card)
{
    size_t n = strlen(card);
    if (n > TP_MEMBER_CODE_MAX || !tp_is_member_code(card, n, NULL)) {
        problem(c, "The card '%.40s' is not letters, digits, '-', '_' or '.'.", card);
        return 0;
    }
    char why[TP_MESSAGE_MAX];
    if (tp_payload_code_scannable(&c->cfg->scan, card, why, sizeof why) != TP_OK) {
        problem(c, "%s", why);
        return 0;
    }
    return 1;
}

/* Checks a row as apply_row would write it, without writing: 0 valid (the
 * file's notes updated), -1 refused (reported) or fatal. */
static int check_against_store(import_ctx *c, const csv_row *r)
{
    char key[TP_MEMBER_CODE_MAX + 24], other[TP_MEMBER_CODE_MAX + 24];
    char label[TP_MEMBER_CODE_MAX + 24];
    int found = chk_member(c, r->code, key, sizeof key);
    if (found < 0)
        return -1;
    if (!found) {
        tp_copy(key, sizeof key, r->code);
        int used = *r->app_id ? chk_member(c, r->app_id, other, sizeof other) : 0;
        if (used < 0)
            return -1;
        if (used) {
            chk_label(c, other, label, sizeof label);
            problem(c, "The app id %s is already used by member %s.", r->app_id, label);
            return -1;
        }
    }
    char buf[FIELD_MAX + 1], *save = NULL;
    tp_copy(buf, sizeof buf, r->cards);
    for (char *card = next_card(buf, &save); card; card = next_card(NULL, &save)) {
        if (!card_well_formed(c, card))
            return -1;
        int owned = chk_member(c, card, other, sizeof other);
        if (owned < 0)
            return -1;
        if (owned && strcmp(other, key) != 0) {
            chk_label(c, other, label, sizeof label);
            problem(c, "The card %s already belongs to member %s.", card, label);
            return -1;
        }
    }
    int imported = 0;
    if (r->points != 0 && c->seen_before && (imported = chk_imported(c)) < 0)
        return -1;
    if (r->points < 0 && !imported && !c->cfg->allow_negative_balance) {
        int64_t balance;
        if (chk_balance(c, key, &balance) != 0)
            return -1;
        if (balance + r->points < 0) {
            chk_label(c, key, label, sizeof label);
            problem(c, "That would take %s from %lld to %lld points; balances cannot go below "
                       "zero here.", label, (long long)balance,
                    (long long)balance + (long long)r->points);
            return -1;
        }
    }
    /* Valid: note what it creates and moves, for the rows after it. */
    sqlite3_stmt *q;
    if (!found) {
        c->res->members_created++;
        const char *names[2] = {r->code, r->app_id};
        for (int i = 0; i < 2; i++) {
            if (!*names[i])
                continue;
            if (!(q = chk(c, CHK_ADD_NAME, names[i])))
                return -1;
            sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
            if (chk_run(c, q) != 0)
                return -1;
        }
    }
    tp_copy(buf, sizeof buf, r->cards);
    save = NULL;
    for (char *card = next_card(buf, &save); card; card = next_card(NULL, &save)) {
        if (!(q = chk(c, CHK_ADD_NAME, card)))
            return -1;
        sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
        if (chk_run(c, q) != 0)
            return -1;
    }
    if (r->points == 0)
        return 0;
    if (imported) {
        c->already++;
        if (c->problem)
            c->problem(c->user, c->line, "Already imported from this file; skipped.");
        return 1;
    }
    if (!c->cfg->allow_negative_balance) {
        if (!(q = chk(c, CHK_ADD_DELTA, key)))
            return -1;
        sqlite3_bind_int64(q, 2, r->points);
        if (chk_run(c, q) != 0)
            return -1;
    }
    c->res->entries++;
    c->res->points_total += r->points;
    return 0;
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
        /* Same file, same line: imported meanwhile by another run. */
        c->already++;
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

static int step_cached(import_ctx *c, tp_stmt id, const char *sql)
{
    sqlite3_stmt *q = tp_store_cached(c->s, id, sql);
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
    if (step_cached(c, TP_STMT_CSVIO_ROW_SAVEPOINT, begin_sql) != 0) {
        c->fatal = 1;
        tp_msg_set(&c->fatal_msg, "%s", tp_store_errmsg(c->s));
        return;
    }
    uint64_t invalid = c->res->invalid, created = c->res->members_created;
    apply_row(c, r);
    if (c->res->invalid != invalid || c->fatal) {
        step_cached(c, TP_STMT_CSVIO_ROW_UNDO, undo_sql);
        c->res->members_created = created;
    }
    step_cached(c, TP_STMT_CSVIO_ROW_RELEASE, end_sql);
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
    sqlite3_stmt *q = tp_store_cached(c->s, TP_STMT_CSVIO_NEXT_MEMBER_ID_MAX, max_sql);
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

static int skipped(const import_ctx *c, uint64_t line)
{
    return line <= c->total_lines + 1 && (c->skip[line / 8] >> (line % 8)) & 1;
}

static void mark_skipped(import_ctx *c, uint64_t line)
{
    if (line <= c->total_lines + 1)
        c->skip[line / 8] |= (uint8_t)(1u << (line % 8));
}

static void audit_chunk(import_ctx *c, const char *path);

/* Opens the write pass's next chunk. */
static int chunk_begin(import_ctx *c)
{
    tp_message why;
    if (tp_store_begin(c->s, &why) != TP_OK) {
        c->fatal = 1;
        c->fatal_msg = why;
        return -1;
    }
    c->in_chunk = 1;
    c->chunk_start_ns = tp_mono_ns();
    c->chunk_rows = 0;
    c->chunk_first_line = c->line;
    c->before_chunk = *c->res;
    c->next_id = 0; /* members may have been added since the last chunk */
    return 0;
}

/* Writes what is staged, the chunk's audit record, and commits. */
static void chunk_commit(import_ctx *c, const char *path, int more)
{
    if (flush_staged(c) != 0)
        return;
    if (c->res->entries > c->before_chunk.entries)
        audit_chunk(c, path);
    if (c->fatal)
        return;
    tp_message why;
    if (tp_store_commit(c->s, &why) != TP_OK) {
        c->in_chunk = 0;
        *c->res = c->before_chunk;
        c->fatal = 1;
        c->fatal_msg = why;
        return;
    }
    c->in_chunk = 0;
    c->chunks++;
    c->last_line_done = c->line;
    if (more)
        tp_store_step_aside(tp_mono_ns() - c->chunk_start_ns);
    if (c->pace->committed)
        c->pace->committed(c->user, c->chunks, c->line);
}

/* Drops the open chunk; the result goes back to what was committed. */
static void chunk_drop(import_ctx *c)
{
    if (!c->in_chunk)
        return;
    c->nsm = c->nse = 0;
    tp_store_rollback(c->s);
    uint64_t rows = c->res->rows, invalid = c->res->invalid, already = c->already;
    *c->res = c->before_chunk;
    c->res->rows = rows;
    c->res->invalid = invalid;
    c->already = already;
    c->in_chunk = 0;
}

static void write_row(import_ctx *c, const csv_row *r)
{
    int plain = r->points >= 0 && !*r->cards && !*r->app_id;
    if (plain && !c->one_by_one && c->next_id == 0 && next_member_id(c) != 0)
        return;
    if (plain && !c->one_by_one) {
        stage_row(c, r);
        return;
    }
    if (flush_staged(c) != 0)
        return;
    apply_row_atomically(c, r);
    c->next_id = 0; /* it may have added a member: ask again */
}

static void take_row(import_ctx *c)
{
    if (!c->checking && skipped(c, c->line))
        return; /* invalid (reported) or imported before */
    if (c->checking)
        c->res->rows++;
    csv_row r;
    if (check_row(c, &r) != 0) {
        mark_skipped(c, c->line);
        return;
    }
    if (c->checking) {
        if (check_against_store(c, &r) != 0 && !c->fatal)
            mark_skipped(c, c->line);
        return;
    }
    if (!c->in_chunk && chunk_begin(c) != 0)
        return;
    write_row(c, &r);
    c->chunk_rows++;
}

/* Has some line of this file been imported before? Then the check pass
 * looks each line up in the ledger. */
static int check_imported_before(import_ctx *c)
{
    static const char sql[] = "SELECT 1 FROM ledger WHERE location = ?1 AND receipt >= ?2"
                              " AND receipt < ?3 AND kind = 'import' LIMIT 1";
    char lo[64], hi[64];
    snprintf(lo, sizeof lo, "IMPORT-%s-L", c->file_key);
    snprintf(hi, sizeof hi, "IMPORT-%s-M", c->file_key);
    sqlite3_stmt *q = tp_store_cached(c->s, TP_STMT_CSVIO_CHECK_IMPORTED_BEFORE, sql);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, c->cfg->location, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, hi, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW)
        c->seen_before = 1;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static void on_row(int term, void *user)
{
    (void)term;
    import_ctx *c = user;
    if (!c->fatal && !c->halted) {
        /* A row of one empty field is a blank line. */
        int blank = c->nfields == 1 && c->field[0][0] == '\0';
        if (!blank) {
            if (!c->header_done) {
                if (c->res->invalid == 0 || !c->checking) /* checked once */
                    take_header(c);
            } else {
                take_row(c);
            }
        }
    }
    c->nfields = 0;
    c->too_many = 0;
}

/* The audit record of one chunk, last in its transaction: it covers every
 * ledger entry the chunk wrote (audit.c reads them back for the digest),
 * so one record per chunk, not one per row, keeps the import fast and the
 * log readable. Its receipt is the prefix of the entries' keys, the same
 * for every chunk of a file. */
static void audit_chunk(import_ctx *c, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char key[64], detail[400];
    snprintf(key, sizeof key, "IMPORT-%s", c->file_key);
    const tp_import_result *b = &c->before_chunk, *r = c->res;
    tp_buf_set(detail, sizeof detail, "file %.200s, lines %llu-%llu: %llu entries, %llu "
               "members created%s", base, (unsigned long long)c->chunk_first_line,
               (unsigned long long)c->line, (unsigned long long)(r->entries - b->entries),
               (unsigned long long)(r->members_created - b->members_created),
               r->invalid ? ", invalid rows skipped" : "");
    tp_audit_entry e = {.time_ms = c->now_ms, .action = "import", .actor = c->staff,
                        .approver = c->staff, .location = c->cfg->location, .receipt = key,
                        .points = r->points_total - b->points_total, .reason = "CSV import",
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

/* One pass over the file (checking or writing, see c->checking); progress
 * counts both passes, the check pass first. */
static void read_pass(import_ctx *c, FILE *f, const char *path)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        c->fatal = 1;
        tp_msg_set(&c->fatal_msg, "Out of memory reading %s.", path);
        return;
    }
    rewind(f);
    c->line = 0;
    c->header_done = 0;
    c->nfields = 0;
    c->too_many = 0;
    int dry = (c->flags & TP_IMPORT_DRY_RUN) != 0;
    uint64_t total = dry ? c->total_lines : 2 * c->total_lines;
    uint64_t base = c->checking ? 0 : c->total_lines;
    uint64_t every = c->pace->progress_lines ? c->pace->progress_lines : 1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while (!c->fatal && !c->halted && (got = getline(&line, &cap, f)) > 0) {
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
        if (c->in_chunk && !c->fatal && !c->halted &&
            (c->chunk_rows >= c->pace->chunk_rows ||
             tp_mono_ns() - c->chunk_start_ns >= (int64_t)c->pace->chunk_ms * 1000000))
            chunk_commit(c, path, 1);
        if (c->progress && c->line % every == 0)
            c->progress(c->user, base + c->line, total);
    }
    free(line);
    if (!c->fatal && !c->halted && csv_fini(&p, on_field, on_row, c) != 0)
        problem(c, "The file ends inside a quoted field.");
    csv_free(&p);
}

/* The check pass: a read transaction and the connection's TEMP tables. */
static void check_pass(import_ctx *c, FILE *f, const char *path)
{
    sqlite3 *db = tp_store_db(c->s);
    c->checking = 1;
    /* The notes of a big file go to a temporary file, not to memory (the
     * write pass asks for memory, for its statement journals). */
    sqlite3_exec(db, "PRAGMA temp_store = DEFAULT", NULL, NULL, NULL);
    if (sqlite3_exec(db, chk_tables, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN DEFERRED", NULL, NULL, NULL) != SQLITE_OK) {
        check_failed(c);
        return;
    }
    if (check_imported_before(c) != 0)
        check_failed(c);
    read_pass(c, f, path);
    if (!c->fatal && !c->header_done && c->res->invalid == 0)
        problem(c, "The file is empty; it needs a header row (code,points,...).");
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL); /* read only: nothing to lose */
    sqlite3_exec(db, "DELETE FROM temp.tp_csv_names; DELETE FROM temp.tp_csv_delta", NULL, NULL,
                 NULL);
    c->checking = 0;
}

/* The write pass, in chunks. */
static void write_pass(import_ctx *c, FILE *f, const char *path)
{
    tp_import_result *r = c->res;
    r->members_created = r->entries = 0;
    r->points_total = 0;
    /* Room for a chunk, so SQLite does not spill dirty pages mid-way;
     * restored by the caller. */
    sqlite3_exec(tp_store_db(c->s), "PRAGMA cache_size = -131072", NULL, NULL, NULL);
    sqlite3_exec(tp_store_db(c->s), "PRAGMA temp_store = MEMORY", NULL, NULL, NULL);
    read_pass(c, f, path);
    /* A refused row was undone on its own (apply_row_atomically): the rows
     * before it in the chunk are kept. */
    if (c->in_chunk && !c->fatal)
        chunk_commit(c, path, 0);
    chunk_drop(c); /* what a storage error left open */
}

tp_status tp_csv_import_paced(tp_store *s, const tp_config *cfg, const char *path,
                              uint32_t flags, const char *staff, const tp_import_pace *pace,
                              tp_progress_fn progress, tp_problem_fn problem_fn, void *user,
                              tp_import_result *result, tp_message *msg)
{
    static const tp_import_pace defaults = {TP_IMPORT_CHUNK_ROWS, TP_IMPORT_CHUNK_MS,
                                            TP_IMPORT_PROGRESS_LINES, NULL};
    memset(result, 0, sizeof *result);
    if (!path || !*path) {
        tp_msg_set(msg, "Name the CSV file to import.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (tp_bounded_len(path, 4095) == (size_t)-1) {
        tp_msg_set(msg, "The CSV file's name is longer than 4095 characters.");
        return TP_ERR_TOO_LONG;
    }
    if (!staff || !*staff) {
        tp_msg_set(msg, "Say which staff member runs the import.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_status checked = tp_check_text(staff, 64, "staff id", msg);
    if (checked != TP_OK)
        return checked;
    FILE *f = fopen(path, "rb");
    if (!f) {
        tp_msg_set(msg, "Cannot open %s: %s.", path, strerror(errno));
        return TP_ERR_NOT_FOUND;
    }
    import_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        fclose(f);
        tp_msg_set(msg, "Out of memory reading %s.", path);
        return TP_ERR_NO_MEMORY;
    }
    c->s = s;
    c->cfg = cfg;
    c->staff = staff;
    c->flags = flags;
    c->pace = pace ? pace : &defaults;
    if (c->pace->chunk_rows == 0 || c->pace->chunk_ms == 0)
        c->pace = &defaults;
    c->progress = progress;
    c->problem = problem_fn;
    c->user = user;
    c->res = result;
    c->now_ms = tp_now_ms();
    tp_status st = TP_OK;
    if (hash_file(f, c->file_key, sizeof c->file_key, &c->total_lines) != 0) {
        tp_msg_set(msg, "Cannot read %s.", path);
        st = TP_ERR_STORAGE;
        goto out;
    }
    if (!(c->skip = calloc(c->total_lines / 8 + 2, 1))) {
        tp_msg_set(msg, "Out of memory reading %s.", path);
        st = TP_ERR_NO_MEMORY;
        goto out;
    }
    check_pass(c, f, path);
    int dry = (flags & TP_IMPORT_DRY_RUN) != 0;
    if (c->already && c->problem && !c->fatal) {
        /* Not a problem: the summary of a resumed import, as its own
         * sentence (line 0: the file as a whole). */
        char note[160];
        snprintf(note, sizeof note, "%llu row%s of this file %s imported by an earlier run; "
                 "%s skipped, nothing is added twice.", (unsigned long long)c->already,
                 c->already == 1 ? "" : "s", c->already == 1 ? "was" : "were",
                 c->already == 1 ? "it is" : "they are");
        c->problem(c->user, 0, note);
    }
    int refused = result->invalid && !(flags & TP_IMPORT_SKIP_INVALID);
    if (!c->fatal && !dry && !refused)
        write_pass(c, f, path);
    if (progress)
        progress(user, dry ? c->line : 2 * c->total_lines, dry ? c->total_lines
                                                               : 2 * c->total_lines);
    result->applied = c->chunks > 0 || (!c->fatal && !c->halted && !dry && !refused);
    char earlier[96] = "";
    if (c->already)
        snprintf(earlier, sizeof earlier, "; %llu row%s already imported earlier",
                 (unsigned long long)c->already, c->already == 1 ? " was" : "s were");
    if (c->fatal && c->chunks == 0) {
        tp_msg_set(msg, "Import stopped, nothing applied: %s", c->fatal_msg.text);
        st = TP_ERR_STORAGE;
    } else if (c->halted) {
        tp_msg_set(msg, "Import of %s stopped at line %llu, which changed since the check: %s "
                   "The lines before it are applied (%llu entries); import the same file again "
                   "with skip-invalid to finish it without that line (nothing is added twice).",
                   path, (unsigned long long)c->halt_line, c->halt_msg.text,
                   (unsigned long long)result->entries);
        st = TP_ERR_STATE;
    } else if (c->fatal) {
        tp_msg_set(msg, "Import of %s stopped: %s Lines 1-%llu are applied (%llu entries); "
                   "import the same file again to finish it (nothing is added twice).",
                   path, c->fatal_msg.text, (unsigned long long)c->last_line_done,
                   (unsigned long long)result->entries);
        st = TP_ERR_STORAGE;
    } else if (!c->header_done && result->invalid) {
        tp_msg_set(msg, "%s has no import header on its first line (see the problem on line 1); "
                   "nothing was applied.", path);
        st = TP_ERR_INVALID_ARGUMENT;
    } else if (dry) {
        tp_msg_set(msg, "Dry run of %s: %llu rows, %llu invalid%s; nothing was applied.", path,
                   (unsigned long long)result->rows, (unsigned long long)result->invalid,
                   earlier);
        st = result->invalid ? TP_ERR_INVALID_ARGUMENT : TP_OK;
    } else if (refused) {
        tp_msg_set(msg, "%llu of %llu rows of %s are invalid; nothing was applied.",
                   (unsigned long long)result->invalid, (unsigned long long)result->rows, path);
        st = TP_ERR_INVALID_ARGUMENT;
    } else {
        tp_msg_set(msg, "Imported %s: %llu rows, %llu members created, %llu entries, %lld "
                   "points%s%s.", path, (unsigned long long)result->rows,
                   (unsigned long long)result->members_created,
                   (unsigned long long)result->entries, (long long)result->points_total,
                   result->invalid ? " (invalid rows skipped)" : "", earlier);
    }
    if (!result->applied && !dry) {
        result->members_created = 0;
        result->entries = 0;
        result->points_total = 0;
    }
out:
    for (int i = 0; i < 2; i++) {
        sqlite3_finalize(c->ins_members[i]);
        sqlite3_finalize(c->ins_entries[i]);
    }
    for (size_t i = 0; i < sizeof c->chk / sizeof c->chk[0]; i++)
        sqlite3_finalize(c->chk[i]);
    sqlite3_exec(tp_store_db(s), "PRAGMA cache_size = -2000", NULL, NULL, NULL);
    free(c->skip);
    free(c);
    fclose(f);
    return st;
}

tp_status tp_csv_import(tp_store *s, const tp_config *cfg, const char *path, uint32_t flags,
                        const char *staff, tp_progress_fn progress, tp_problem_fn problem_fn,
                        void *user, tp_import_result *result, tp_message *msg)
{
    return tp_csv_import_paced(s, cfg, path, flags, staff, NULL, progress, problem_fn, user,
                               result, msg);
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
    if (!path || !*path) {
        tp_msg_set(msg, "Name the CSV file to write.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (tp_bounded_len(path, 4095) == (size_t)-1) {
        tp_msg_set(msg, "The CSV file's name is longer than 4095 characters.");
        return TP_ERR_TOO_LONG;
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
