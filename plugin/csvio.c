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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>
#include <sodium.h>
#include <sqlite3.h>

#include "ledger.h"
#include "members.h"
#include "util.h"

enum { COL_CODE, COL_POINTS, COL_NAME, COL_PHONE, COL_EMAIL, COL_REASON, COL_APP_ID, COL_CARDS,
       COL_N };
static const char *const col_names[COL_N] = {"code",   "points", "name",  "phone",
                                             "email",  "reason", "app_id", "cards"};

#define FIELD_MAX 256
#define MAX_FIELDS 32

typedef struct import_ctx {
    tp_store *s;
    const tp_config *cfg;
    const char *staff;
    tp_problem_fn problem;
    void *user;
    tp_import_result *res;
    char file_key[24];       /* first bytes of the file's hash, hex */
    uint64_t line;           /* line being fed */
    int header_done;
    int col_of[MAX_FIELDS];  /* field index -> COL_* or -1 */
    int nfields;
    int too_many;
    char field[MAX_FIELDS][FIELD_MAX + 1];
    int field_too_long[MAX_FIELDS];
    int fatal;               /* storage error: stop */
    tp_message fatal_msg;
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

static void on_field(void *data, size_t len, void *user)
{
    import_ctx *c = user;
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
            sqlite3_bind_int64(q, 3, tp_now_ms());
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

static void take_row(import_ctx *c)
{
    c->res->rows++;
    if (c->too_many || c->nfields > MAX_FIELDS) {
        problem(c, "The row has more than %d fields.", MAX_FIELDS);
        return;
    }
    for (int i = 0; i < c->nfields && i < MAX_FIELDS; i++)
        if (c->field_too_long[i]) {
            problem(c, "A field is longer than %d characters.", FIELD_MAX);
            return;
        }
    const char *code = col(c, COL_CODE), *pts = col(c, COL_POINTS);
    size_t n = strlen(code);
    if (n == 0 || n > TP_MEMBER_CODE_MAX || !tp_is_member_code(code, n, NULL)) {
        problem(c, "The code '%.40s' is not a member code (letters, digits, '-', '_', '.').",
                code);
        return;
    }
    char *end = NULL;
    errno = 0;
    long long points = strtoll(pts, &end, 10);
    if (!*pts || *end || errno || points > TP_ADJUST_MAX || points < -TP_ADJUST_MAX) {
        problem(c, "Points must be a whole number between -%lld and %lld (got '%.20s').",
                (long long)TP_ADJUST_MAX, (long long)TP_ADJUST_MAX, pts);
        return;
    }
    char phone[TP_PHONE_MAX + 1] = "", email[TP_EMAIL_MAX + 1] = "";
    tp_message why;
    if (*col(c, COL_PHONE) &&
        tp_normalise_phone(col(c, COL_PHONE), c->cfg->default_country_code, phone, sizeof phone,
                           &why) != TP_OK) {
        problem(c, "%s", why.text);
        return;
    }
    if (*col(c, COL_EMAIL) && tp_normalise_email(col(c, COL_EMAIL), email, sizeof email, &why) !=
                                  TP_OK) {
        problem(c, "%s", why.text);
        return;
    }
    const char *name = col(c, COL_NAME);
    if (strlen(name) > TP_NAME_MAX || !tp_is_printable(name, strlen(name))) {
        problem(c, "The name is longer than %d characters or has control characters.",
                TP_NAME_MAX);
        return;
    }
    const char *reason = *col(c, COL_REASON) ? col(c, COL_REASON) : "CSV import";
    if (strlen(reason) > TP_REASON_MAX || !tp_is_printable(reason, strlen(reason))) {
        problem(c, "The reason is longer than %d characters.", TP_REASON_MAX);
        return;
    }

    const char *app_id = col(c, COL_APP_ID);
    if (*app_id && !tp_is_member_code(app_id, strlen(app_id), NULL)) {
        problem(c, "The app id '%.40s' is not letters, digits, '-', '_' or '.'.", app_id);
        return;
    }
    tp_member_row m;
    tp_status st = tp_store_find_member(c->s, code, &m, &why);
    if (st == TP_ERR_NOT_FOUND && *app_id) {
        tp_member_row other;
        if (tp_store_find_member(c->s, app_id, &other, &why) == TP_OK) {
            problem(c, "The app id %s is already used by member %s.", app_id, other.code);
            return;
        }
    }
    if (st == TP_ERR_NOT_FOUND) {
        /* The code was just looked up (as code, card and app id), so the
         * insert needs no second check; the row is known without a read. */
        st = tp_store_insert_member(c->s, code, name, phone[0] ? phone : NULL,
                                    email[0] ? email : NULL, *app_id ? app_id : NULL,
                                    tp_now_ms(), &why);
        if (st == TP_ERR_DUPLICATE) {
            problem(c, "%s", why.text);
            return;
        }
        if (st == TP_OK) {
            memset(&m, 0, sizeof m);
            m.id = sqlite3_last_insert_rowid(tp_store_db(c->s));
            tp_copy(m.code, sizeof m.code, code);
            c->res->members_created++;
        }
    }
    if (st != TP_OK) {
        c->fatal = 1;
        c->fatal_msg = why;
        return;
    }
    if (add_cards(c, &m, col(c, COL_CARDS)) != 0)
        return;
    if (points == 0)
        return;
    char key[64];
    snprintf(key, sizeof key, "IMPORT-%s-L%llu", c->file_key, (unsigned long long)c->line);
    st = tp_ledger_append_manual(c->s, c->cfg, m.id, m.code, "import", key, points, c->staff,
                                 reason, NULL, NULL, &why);
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
    c->res->points_total += points;
}

/* Each row in its own savepoint: a row refused half-way (member created,
 * then its points refused) leaves nothing behind, even with skip-invalid. */
static void take_row_atomically(import_ctx *c)
{
    /* Only a debit or cards can refuse a row after it wrote something;
     * other rows need no savepoint (a storage error aborts the file). */
    if (!*col(c, COL_CARDS) && col(c, COL_POINTS)[0] != '-') {
        take_row(c);
        return;
    }
    static const char begin_sql[] = "SAVEPOINT csv_row", undo_sql[] = "ROLLBACK TO csv_row",
                      end_sql[] = "RELEASE csv_row";
    sqlite3_stmt *q = tp_store_cached(c->s, begin_sql);
    if (!q || sqlite3_step(q) != SQLITE_DONE) {
        c->fatal = 1;
        tp_msg_set(&c->fatal_msg, "%s", tp_store_errmsg(c->s));
        return;
    }
    sqlite3_reset(q);
    uint64_t invalid = c->res->invalid, created = c->res->members_created;
    take_row(c);
    if (c->res->invalid != invalid || c->fatal) {
        if ((q = tp_store_cached(c->s, undo_sql)) != NULL) {
            sqlite3_step(q);
            sqlite3_reset(q);
        }
        c->res->members_created = created;
    }
    if ((q = tp_store_cached(c->s, end_sql)) != NULL) {
        sqlite3_step(q);
        sqlite3_reset(q);
    }
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
                take_row_atomically(c);
            }
        }
    }
    c->nfields = 0;
    c->too_many = 0;
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
    if (!c->fatal && !c->header_done && result->invalid == 0)
        problem(c, "The file is empty; it needs a header row (code,points,...).");
    if (progress)
        progress(user, c->line, total_lines);
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
    sqlite3_exec(tp_store_db(s), "PRAGMA cache_size = -2000", NULL, NULL, NULL);
    csv_free(&p);
    free(c);
    fclose(f);
    return st;
}

static int write_field(FILE *f, const char *text, int last)
{
    if (csv_fwrite(f, text, strlen(text)) != 0)
        return -1;
    return fputc(last ? '\n' : ',', f) == EOF ? -1 : 0;
}

tp_status tp_csv_export(tp_store *s, const char *path, uint64_t *rows, tp_message *msg)
{
    *rows = 0;
    if (!path || tp_bounded_len(path, 4095) == (size_t)-1) {
        tp_msg_set(msg, "Name the CSV file to write.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    FILE *f = fopen(path, "wx");
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
              write_field(f, pts, 0) || write_field(f, "balance at export", 0) ||
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
