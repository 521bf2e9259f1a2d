/* Tests for plugin/csvio.c: CSV import and export through the admin
 * extension, on real files. */
#include "testutil.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "config.h"
#include "csvio.h"
#include "store.h"

typedef struct problems {
    int n;
    uint64_t lines[16];
    char text[16][TP_MESSAGE_MAX + 1];
} problems;

static void on_problem(void *user, uint64_t line, const char *sentence)
{
    problems *p = user;
    if (p->n < 16) {
        p->lines[p->n] = line;
        snprintf(p->text[p->n], sizeof p->text[p->n], "%s", sentence);
    }
    p->n++;
}

static tp_status import(tu_host *h, const char *name, const char *text, uint32_t flags,
                        problems *p, tp_import_result *r, tp_message *msg)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", h->dir, name);
    if (text)
        tu_write_file(path, text);
    memset(p, 0, sizeof *p);
    return h->ad->transfer->import_csv(h->plugin, path, flags, "mgr-1", NULL, on_problem, p, r,
                                       msg);
}

static void import_creates_members_and_adds_points_with_quoting_bom_and_crlf(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Existing");
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    const char *csv = "\xEF\xBB\xBF" "code,name,phone,email,points,reason\r\n"
                      "M-0001,,,,15,\"migration, part 1\"\r\n"
                      "M-0100,\"Smith, Jane\",0151 7654321,JANE@example.com,40,opening\r\n"
                      "\r\n"
                      "M-0101,\"Quote \"\"Q\"\" Person\",,,0,\r\n";
    assert_int_equal(import(h, "a.csv", csv, 0, &p, &r, &msg), TP_OK);
    assert_int_equal(p.n, 0);
    assert_int_equal(r.rows, 3);
    assert_int_equal(r.members_created, 2);
    assert_int_equal(r.entries, 2);
    assert_int_equal(r.points_total, 55);
    assert_true(r.applied);
    assert_int_equal(tu_balance(h, "M-0001"), 15);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(h->ad->members->member_get(h->plugin, "M-0100", &info, &msg), TP_OK);
    assert_string_equal(info.name, "Smith, Jane");
    assert_string_equal(info.phone, "+491517654321");
    assert_string_equal(info.email, "jane@example.com");
    assert_int_equal(info.balance, 40);
    assert_int_equal(h->ad->members->member_get(h->plugin, "M-0101", &info, &msg), TP_OK);
    assert_string_equal(info.name, "Quote \"Q\" Person");
    tu_stop(h, 1);
}

static void one_invalid_row_applies_nothing_and_names_its_line(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    const char *csv = "code,points\n"
                      "M-0001,10\n"
                      "M-0002,ten\n"
                      "bad code!,5\n"
                      "M-0003,5\n";
    assert_int_equal(import(h, "b.csv", csv, 0, &p, &r, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.lines[0], 3);
    assert_non_null(strstr(p.text[0], "whole number"));
    assert_int_equal(p.lines[1], 4);
    assert_non_null(strstr(msg.text, "nothing was applied"));
    assert_false(r.applied);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(h->ad->members->member_get(h->plugin, "M-0001", &info, &msg),
                     TP_ERR_NOT_FOUND);
    /* With skip-invalid the valid rows go in. */
    assert_int_equal(import(h, "b.csv", NULL, TP_IMPORT_SKIP_INVALID, &p, &r, &msg), TP_OK);
    assert_int_equal(r.invalid, 2);
    assert_int_equal(r.members_created, 2);
    assert_int_equal(tu_balance(h, "M-0003"), 5);
    tu_stop(h, 1);
}

/* A Latin-1 export (0xFC for u-umlaut) is not UTF-8: its rows are refused
 * by field, not stored as text no screen can show. */
static void a_name_or_reason_that_is_not_utf8_is_a_problem_of_its_row(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    const char *csv = "code,points,name,reason\n"
                      "M-0001,10,J\xfcrgen,\n"
                      "M-0002,10,Ann,Gr\xfc\xdf" "e\n"
                      "M-0003,10,J\xc3\xbcrgen,Gr\xc3\xbc\xc3\x9f" "e\n";
    assert_int_equal(import(h, "latin1.csv", csv, 0, &p, &r, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.lines[0], 2);
    assert_non_null(strstr(p.text[0], "The name is not valid UTF-8 text"));
    assert_int_equal(p.lines[1], 3);
    assert_non_null(strstr(p.text[1], "The reason is not valid UTF-8 text"));
    assert_int_equal(import(h, "latin1.csv", NULL, TP_IMPORT_SKIP_INVALID, &p, &r, &msg), TP_OK);
    assert_int_equal(r.members_created, 1);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(h->ad->members->member_get(h->plugin, "M-0003", &info, &msg), TP_OK);
    assert_string_equal(info.name, "J\xc3\xbcrgen");
    tu_stop(h, 1);
}

static void a_row_refused_half_way_leaves_nothing_even_when_skipping(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    /* M-0009 is new and its opening balance is negative: the member must
     * not be created either. */
    assert_int_equal(import(h, "s.csv", "code,points\nM-0008,5\nM-0009,-5\n",
                            TP_IMPORT_SKIP_INVALID, &p, &r, &msg),
                     TP_OK);
    assert_int_equal(r.invalid, 1);
    assert_int_equal(r.members_created, 1);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(h->ad->members->member_get(h->plugin, "M-0009", &info, &msg),
                     TP_ERR_NOT_FOUND);
    assert_int_equal(tu_balance(h, "M-0008"), 5);
    tu_stop(h, 1);
}

static void dry_run_checks_everything_and_writes_nothing(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    assert_int_equal(import(h, "c.csv", "code,points\nM-0001,10\nM-0002,-5\n", TP_IMPORT_DRY_RUN,
                            &p, &r, &msg),
                     TP_ERR_INVALID_ARGUMENT); /* M-0002 would go negative */
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.text[0], "below zero"));
    assert_int_equal(import(h, "d.csv", "code,points\nM-0001,10\n", TP_IMPORT_DRY_RUN, &p, &r,
                            &msg),
                     TP_OK);
    assert_int_equal(r.entries, 1);
    assert_false(r.applied);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(h->ad->members->member_get(h->plugin, "M-0001", &info, &msg),
                     TP_ERR_NOT_FOUND);
    tu_stop(h, 1);
}

static void importing_the_same_file_twice_adds_nothing_twice(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    const char *csv = "code,points\nM-0001,10\nM-0001,5\n";
    assert_int_equal(import(h, "e.csv", csv, 0, &p, &r, &msg), TP_OK);
    assert_int_equal(tu_balance(h, "M-0001"), 15);
    assert_int_equal(import(h, "e.csv", NULL, 0, &p, &r, &msg), TP_OK);
    assert_int_equal(r.entries, 0);
    assert_int_equal(p.n, 3); /* both rows said "already imported", then the summary */
    assert_non_null(strstr(p.text[0], "Already imported"));
    assert_int_equal(p.lines[2], 0);
    assert_non_null(strstr(p.text[2], "2 rows of this file were imported by an earlier run"));
    assert_int_equal(tu_balance(h, "M-0001"), 15);
    tu_stop(h, 1);
}

/* Plain rows are written in batches, other rows one at a time; a file
 * that mixes them (across full batches) must give exactly what reading it
 * row by row gives: balances, refusals, members created once, cards found,
 * and ledger entries in the file's order. */
static void batched_and_single_rows_mix_in_file_order(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    size_t cap = 1 << 16, n = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    n += (size_t)snprintf(csv + n, cap - n, "code,name,points,cards,reason\n");
    for (int i = 0; i < 150; i++) /* new members: two full batches and some */
        n += (size_t)snprintf(csv + n, cap - n, "B-%03d,Name %d,%d,,opening\n", i, i, i + 1);
    /* line 152: a debit on a member still staged (B-149 has 150) */
    n += (size_t)snprintf(csv + n, cap - n, "B-149,,-100,,\n");
    /* line 153: overdraws B-148 (149): refused */
    n += (size_t)snprintf(csv + n, cap - n, "B-148,,-200,,\n");
    /* line 154: a card for a written member, with points */
    n += (size_t)snprintf(csv + n, cap - n, "B-147,,5,C-147,\n");
    /* lines 155-156: a new member named twice while staged */
    n += (size_t)snprintf(csv + n, cap - n, "NEW-1,New One,10,,\nNEW-1,,20,,\n");
    /* line 157: a new member with two cards and no points */
    n += (size_t)snprintf(csv + n, cap - n, "NEW-2,New Two,0,C-N2;C-N2b,\n");
    /* line 158: points by card */
    n += (size_t)snprintf(csv + n, cap - n, "C-147,,7,,\n");
    for (int i = 0; i < 70; i++) /* lines 159-228: top-ups, a full batch and some */
        n += (size_t)snprintf(csv + n, cap - n, "B-%03d,,1,,\n", i);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    assert_int_equal(import(h, "mix.csv", csv, TP_IMPORT_SKIP_INVALID, &p, &r, &msg), TP_OK);
    free(csv);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.lines[0], 153);
    assert_non_null(strstr(p.text[0], "below zero"));
    assert_int_equal(r.rows, 227);
    assert_int_equal(r.invalid, 1);
    assert_int_equal(r.members_created, 152);
    assert_int_equal(r.entries, 150 + 1 + 1 + 2 + 1 + 70);
    assert_int_equal(r.points_total, 150 * 151 / 2 - 100 + 5 + 30 + 7 + 70);
    assert_true(r.applied);
    assert_int_equal(tu_balance(h, "B-149"), 50);
    assert_int_equal(tu_balance(h, "B-148"), 149);
    assert_int_equal(tu_balance(h, "B-147"), 148 + 5 + 7);
    assert_int_equal(tu_balance(h, "B-000"), 2);
    assert_int_equal(tu_balance(h, "B-069"), 71);
    assert_int_equal(tu_balance(h, "B-070"), 71);
    assert_int_equal(tu_balance(h, "NEW-1"), 30);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(h->ad->members->member_get(h->plugin, "C-N2b", &info, &msg), TP_OK);
    assert_string_equal(info.code, "NEW-2");
    assert_int_equal(info.balance, 0);
    assert_int_equal(h->ad->members->member_get(h->plugin, "B-100", &info, &msg), TP_OK);
    assert_string_equal(info.name, "Name 100");
    /* Entries in file order: newest first means descending line numbers. */
    tp_activity_row *rows = calloc(300, sizeof *rows);
    assert_non_null(rows);
    tp_activity_query q = {.struct_size = sizeof q, .kinds = TP_KIND_IMPORT};
    size_t count = 0;
    assert_int_equal(
        h->ad->ledger->activity(h->plugin, &q, rows, 300, sizeof rows[0], &count, &msg), TP_OK);
    assert_int_equal(count, r.entries);
    unsigned long prev = 1000000;
    for (size_t i = 0; i < count; i++) {
        const char *l = strrchr(rows[i].receipt, 'L');
        assert_non_null(l);
        unsigned long line = strtoul(l + 1, NULL, 10);
        assert_true(line < prev);
        prev = line;
    }
    free(rows);
    tp_verify_result vr = {.struct_size = sizeof vr};
    assert_int_equal(h->ad->audit->verify(h->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg),
                     TP_OK);
    assert_int_equal(vr.problems, 0);
    /* The same file again goes row by row and adds nothing. */
    assert_int_equal(import(h, "mix.csv", NULL, TP_IMPORT_SKIP_INVALID, &p, &r, &msg), TP_OK);
    assert_int_equal(r.entries, 0);
    assert_int_equal(r.members_created, 0);
    assert_int_equal(tu_balance(h, "B-149"), 50);
    assert_int_equal(tu_balance(h, "NEW-1"), 30);
    tu_stop(h, 1);
}

static void malformed_files_are_refused_with_a_sentence(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    assert_int_equal(import(h, "f.csv", "", 0, &p, &r, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(p.text[0], "empty"));
    assert_int_equal(import(h, "g.csv", "code,pointz\nM-1,1\n", 0, &p, &r, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(p.text[0], "unknown column"));
    assert_non_null(strstr(msg.text, "/g.csv has no import header on its first line (see the "
                                     "problem on line 1); nothing was applied."));
    /* A file that is not text: its bytes are never echoed. */
    assert_int_equal(import(h, "bin.csv", "\x01\xfe\xff\x1b[31m,zz\n\x80\n", TP_IMPORT_DRY_RUN, &p, &r,
                            &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(p.text[0], "The first line is not a header of text: is this a CSV file? "
                                   "The columns are code, points, name, phone, email, reason, "
                                   "app_id, cards (docs/MANAGER.md, CSV import).");
    assert_non_null(strstr(msg.text, "has no import header"));
    assert_int_equal(import(h, "h.csv", "code,points\n\"M-0001,5\n", 0, &p, &r, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_true(p.n >= 1);
    assert_int_equal(h->ad->transfer->import_csv(h->plugin, "/nonexistent.csv", 0, "mgr", NULL,
                                                 NULL, NULL, &r, &msg),
                     TP_ERR_NOT_FOUND);
    assert_non_null(strstr(msg.text, "/nonexistent.csv"));
    tu_stop(h, 1);
}

static void export_then_import_round_trips_balances(void **state)
{
    (void)state;
    tu_host *a = tu_start(NULL);
    tp_member_new m = {.struct_size = sizeof m, .code = "M-0001", .name = "Lee, \"Ace\"",
                       .phone = "+4930111222", .email = "lee@example.com"};
    tp_message msg;
    assert_int_equal(a->ad->members->member_add(a->plugin, &m, NULL, &msg), TP_OK);
    tp_member_new z = {.struct_size = sizeof z, .code = "M-0002", .name = "Zed",
                       .app_id = "app-zed"};
    assert_int_equal(a->ad->members->member_add(a->plugin, &z, NULL, &msg), TP_OK);
    assert_int_equal(a->ad->members->member_add_card(a->plugin, "M-0002", "CARD-B", &msg), TP_OK);
    assert_int_equal(a->ad->members->member_add_card(a->plugin, "M-0002", "CARD-A", &msg), TP_OK);
    assert_int_equal(tu_sale(a, "R-1", "M-0001", 4321, &msg), TP_OK);
    tu_settle(a);
    char path[400];
    snprintf(path, sizeof path, "%s/export.csv", a->dir);
    uint64_t rows = 0;
    assert_int_equal(a->ad->transfer->export_csv(a->plugin, path, &rows, &msg), TP_OK);
    assert_int_equal(rows, 2);
    assert_int_equal(a->ad->transfer->export_csv(a->plugin, path, &rows, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "already exists"));
    tu_host *b = tu_start(NULL);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    memset(&p, 0, sizeof p);
    assert_int_equal(
        b->ad->transfer->import_csv(b->plugin, path, 0, "mgr", NULL, on_problem, &p, &r, &msg),
        TP_OK);
    assert_int_equal(tu_balance(b, "M-0001"), 43);
    assert_int_equal(tu_balance(b, "M-0002"), 0);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(b->ad->members->member_get(b->plugin, "lee@example.com", &info, &msg), TP_OK);
    assert_string_equal(info.name, "Lee, \"Ace\"");
    /* Cards and the app id travel too. */
    assert_int_equal(b->ad->members->member_get(b->plugin, "CARD-A", &info, &msg), TP_OK);
    assert_string_equal(info.code, "M-0002");
    assert_int_equal(b->ad->members->member_get(b->plugin, "app-zed", &info, &msg), TP_OK);
    assert_string_equal(info.code, "M-0002");
    tu_stop(a, 1);
    tu_stop(b, 1);
}

static void export_file_is_private_whatever_the_umask(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tp_member_new m = {.struct_size = sizeof m, .code = "M-0001", .name = "Private",
                       .phone = "+4930111222", .email = "p@example.com"};
    tp_message msg;
    assert_int_equal(h->ad->members->member_add(h->plugin, &m, NULL, &msg), TP_OK);
    char path[400];
    snprintf(path, sizeof path, "%s/members.csv", h->dir);
    uint64_t rows = 0;
    mode_t old = umask(0);
    tp_status st = h->ad->transfer->export_csv(h->plugin, path, &rows, &msg);
    umask(old);
    assert_int_equal(st, TP_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    /* An existing file, or a link planted where the export goes, is
     * refused and left as it was. */
    char target[400], link[400];
    snprintf(target, sizeof target, "%s/elsewhere", h->dir);
    snprintf(link, sizeof link, "%s/link.csv", h->dir);
    tu_write_file(target, "keep\n");
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(h->ad->transfer->export_csv(h->plugin, link, &rows, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "already exists"));
    FILE *f = fopen(target, "r");
    char line[16] = "";
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "keep\n");
    tu_stop(h, 1);
}

/* What a spreadsheet would run, a literal leading quote, and plain text:
 * export writes each so that no cell starts a formula, import reads back
 * exactly what was there. */
static void formula_cells_are_guarded_on_export_and_read_back_unchanged(void **state)
{
    (void)state;
    static const char *names[] = {
        "=HYPERLINK(\"http://evil.example/\",\"click\")", "+1+cmd|' /C calc'!A0",
        "-2+3", "@SUM(1)", "'Quoted", "''Two quotes", "'=still text", "plain 'inner' quote",
        "Normal Name",
    };
    enum { N = sizeof names / sizeof names[0] };
    tu_host *a = tu_start(NULL);
    tp_message msg;
    char codes[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(codes[i], sizeof codes[i], "FM-%d", i);
        tp_member_new m = {.struct_size = sizeof m, .code = codes[i], .name = names[i]};
        assert_int_equal(a->ad->members->member_add(a->plugin, &m, NULL, &msg), TP_OK);
    }
    /* A code may start with '-' too, and a phone always starts with '+'. */
    tp_member_new d = {.struct_size = sizeof d, .code = "-DASH-1", .name = "Dash",
                       .phone = "+4930999888"};
    assert_int_equal(a->ad->members->member_add(a->plugin, &d, NULL, &msg), TP_OK);
    char path[400];
    snprintf(path, sizeof path, "%s/f.csv", a->dir);
    uint64_t rows = 0;
    assert_int_equal(a->ad->transfer->export_csv(a->plugin, path, &rows, &msg), TP_OK);
    assert_int_equal(rows, N + 1);

    /* In the file: every text cell that starts with = + - @ or a quote
     * starts with one added quote. */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "\"FM-0\",\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"click\"\")\""));
    assert_non_null(strstr(text, "\"FM-2\",\"'-2+3\""));
    assert_non_null(strstr(text, "\"FM-3\",\"'@SUM(1)\""));
    assert_non_null(strstr(text, "\"FM-4\",\"''Quoted\""));
    assert_non_null(strstr(text, "\"FM-5\",\"'''Two quotes\""));
    assert_non_null(strstr(text, "\"FM-7\",\"plain 'inner' quote\""));
    assert_non_null(strstr(text, "\"'-DASH-1\",\"Dash\",\"'+4930999888\""));
    for (const char *cell = strstr(text, ",\""); cell; cell = strstr(cell + 1, ",\""))
        if (strchr("=+-@", cell[2]))
            fail_msg("a cell starts a formula: %.40s", cell + 1);

    tu_host *b = tu_start(NULL);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    memset(&p, 0, sizeof p);
    assert_int_equal(
        b->ad->transfer->import_csv(b->plugin, path, 0, "mgr", NULL, on_problem, &p, &r, &msg),
        TP_OK);
    assert_int_equal(p.n, 0);
    for (int i = 0; i < N; i++) {
        tp_member_info info = {.struct_size = sizeof info};
        assert_int_equal(b->ad->members->member_get(b->plugin, codes[i], &info, &msg), TP_OK);
        assert_string_equal(info.name, names[i]);
    }
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(b->ad->members->member_get(b->plugin, "-DASH-1", &info, &msg), TP_OK);
    assert_string_equal(info.phone, "+4930999888");
    tu_stop(a, 1);
    tu_stop(b, 1);
}

/* A file written by hand keeps a leading quote that export would never
 * have added (one not followed by = + - @ tab CR or another quote). */
static void import_keeps_a_leading_quote_export_did_not_add(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    assert_int_equal(import(h, "q.csv", "code,name,points\nQT-1,'Tis Me,0\nQT-2,'=1+1,0\n", 0,
                            &p, &r, &msg),
                     TP_OK);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(h->ad->members->member_get(h->plugin, "QT-1", &info, &msg), TP_OK);
    assert_string_equal(info.name, "'Tis Me");
    assert_int_equal(h->ad->members->member_get(h->plugin, "QT-2", &info, &msg), TP_OK);
    assert_string_equal(info.name, "=1+1");
    tu_stop(h, 1);
}

/* ---- chunked writes, read-only checks -----------------------------------
 * These drive tp_csv_import_paced (the admin call's work) with small
 * chunks, on real database files, with real threads and processes. */

#define CHUNK_ROWS 5
#define ROWS 40

/* A file of ROWS new members, row i (line i + 2) with i + 1 points. */
static void write_members_file(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "code,name,points\n");
    for (int i = 0; i < ROWS; i++)
        fprintf(f, "%s-%03d,Member %d,%d\n", prefix, i, i, i + 1);
    assert_int_equal(fclose(f), 0);
}

/* The child of import_killed_half_way_is_finished_by_running_it_again:
 * imports argv[3] into the database of config argv[2] in chunks of
 * CHUNK_ROWS, telling stdout of each committed chunk, and once two are
 * committed and a row of the third is written (its transaction open),
 * says "mid" and waits to be killed. */
typedef struct child_pace {
    uint64_t chunks, last_line, total_lines;
} child_pace;

static void child_committed(void *user, uint64_t chunk, uint64_t last_line)
{
    child_pace *cp = user;
    cp->chunks = chunk;
    cp->last_line = last_line;
    printf("chunk %llu\n", (unsigned long long)chunk);
    fflush(stdout);
}

static void child_progress(void *user, uint64_t done, uint64_t total)
{
    child_pace *cp = user;
    cp->total_lines = total / 2;
    /* done counts the check pass first; a write-pass line past the last
     * committed one is in the open chunk. */
    if (cp->chunks >= 2 && done > cp->total_lines + cp->last_line + 1) {
        printf("mid\n");
        fflush(stdout);
        for (;;)
            pause();
    }
}

static int import_child(const char *config, const char *csv)
{
    tp_config cfg;
    tp_message msg;
    tp_store *s = NULL;
    if (tp_config_load(&cfg, config, &msg) != TP_OK ||
        tp_store_open(cfg.database, &s, &msg) != TP_OK) {
        fprintf(stderr, "child: %s\n", msg.text);
        return 2;
    }
    child_pace cp = {0, 0, 0};
    tp_import_pace pace = {CHUNK_ROWS, 60000, 1, child_committed};
    tp_import_result r = {.struct_size = sizeof r};
    if (tp_csv_import_paced(s, &cfg, csv, 0, "mgr-1", &pace, child_progress, NULL, &cp, &r,
                            &msg) != TP_OK)
        fprintf(stderr, "child: %s\n", msg.text);
    printf("finished\n"); /* the test fails on this */
    fflush(stdout);
    tp_store_close(s);
    return 0;
}

static const char *self_path;

static void import_killed_half_way_is_finished_by_running_it_again(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    char csv[400], db[400];
    snprintf(csv, sizeof csv, "%s/kill.csv", h->dir);
    snprintf(db, sizeof db, "%s/test.db", h->dir);
    write_members_file(csv, "K");
    /* Killed inside its third chunk, after two were committed. */
    char *child[] = {(char *)self_path, "--import-child", h->config, csv, NULL};
    assert_int_equal(tu_kill_at_mid(child, "chunk "), 2);
    /* Exactly the two committed chunks are in; the third left nothing. */
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM ledger WHERE kind = 'import'"),
                     2 * CHUNK_ROWS);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM members"), 2 * CHUNK_ROWS);
    tp_verify_result vr = {.struct_size = sizeof vr};
    tp_message msg;
    assert_int_equal(h->ad->audit->verify(h->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg),
                     TP_OK);
    assert_int_equal(vr.problems, 0);
    /* Running the same file again finishes it. */
    problems p;
    tp_import_result r = {.struct_size = sizeof r};
    memset(&p, 0, sizeof p);
    assert_int_equal(
        h->ad->transfer->import_csv(h->plugin, csv, 0, "mgr-1", NULL, on_problem, &p, &r, &msg),
        TP_OK);
    assert_int_equal(r.rows, ROWS);
    assert_int_equal(r.entries, ROWS - 2 * CHUNK_ROWS);
    assert_int_equal(r.members_created, ROWS - 2 * CHUNK_ROWS);
    assert_int_equal(p.n, 2 * CHUNK_ROWS + 1); /* "already imported" per line, a summary */
    assert_non_null(strstr(p.text[0], "Already imported"));
    assert_int_equal(p.lines[2 * CHUNK_ROWS], 0);
    assert_non_null(strstr(p.text[2 * CHUNK_ROWS], "10 rows of this file were imported"));
    assert_non_null(strstr(msg.text, "10 rows were already imported earlier"));
    /* Every row once: one entry per line, each member its own points. */
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM ledger WHERE kind = 'import'"), ROWS);
    assert_int_equal(tu_count_sql(db, "SELECT count(DISTINCT receipt) FROM ledger"
                                   " WHERE kind = 'import'"),
                     ROWS);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM members"), ROWS);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM members m WHERE (SELECT sum(points)"
                                   " FROM ledger l WHERE l.member_id = m.id)"
                                   " = CAST(substr(m.code, 3) AS INTEGER) + 1"),
                     ROWS);
    assert_int_equal(h->ad->audit->verify(h->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg),
                     TP_OK);
    assert_int_equal(vr.problems, 0);
    /* And a third run adds nothing. */
    assert_int_equal(
        h->ad->transfer->import_csv(h->plugin, csv, 0, "mgr-1", NULL, NULL, NULL, &r, &msg), TP_OK);
    assert_int_equal(r.entries, 0);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM ledger WHERE kind = 'import'"), ROWS);
    tu_stop(h, 1);
}

/* A store of its own for the in-process tests below. */
typedef struct solo {
    char dir[256], db[300], csv[300];
    tp_config cfg;
    tp_store *s;
} solo;

static void solo_open(solo *o)
{
    tu_mkdtemp(o->dir, sizeof o->dir);
    snprintf(o->db, sizeof o->db, "%s/t.db", o->dir);
    snprintf(o->csv, sizeof o->csv, "%s/in.csv", o->dir);
    tp_message msg;
    assert_int_equal(tp_config_load(&o->cfg, NULL, &msg), TP_OK);
    assert_int_equal(tp_store_open(o->db, &o->s, &msg), TP_OK);
}

static void solo_close(solo *o)
{
    tp_store_close(o->s);
    tu_rmdir(o->dir);
}

/* Another connection's write, waiting at most `busy_ms` for the lock. */
static int other_write(const char *db_path, int busy_ms, const char *code)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, busy_ms);
    char sql[200];
    snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; INSERT INTO members(code, name, created_ms)"
                              " VALUES('%s', 'other', 0); COMMIT;", code);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

typedef struct dry_watch {
    const char *db;
    int calls, wrote;
} dry_watch;

static void dry_progress(void *user, uint64_t done, uint64_t total)
{
    dry_watch *w = user;
    /* Mid-way through the check pass, its read transaction open: a writer
     * that will not wait at all gets the lock. */
    if (w->calls++ == 0 && done < total) {
        char code[32];
        snprintf(code, sizeof code, "W-%d", w->calls);
        w->wrote = other_write(w->db, 0, code) == 0;
    }
}

static void dry_run_takes_no_write_lock(void **state)
{
    (void)state;
    solo o;
    solo_open(&o);
    write_members_file(o.csv, "D");
    dry_watch w = {o.db, 0, 0};
    tp_import_pace pace = {CHUNK_ROWS, 60000, ROWS / 2, NULL};
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    assert_int_equal(tp_csv_import_paced(o.s, &o.cfg, o.csv, TP_IMPORT_DRY_RUN, "mgr-1", &pace,
                                         dry_progress, NULL, &w, &r, &msg),
                     TP_OK);
    assert_true(w.calls >= 2);
    assert_true(w.wrote);
    assert_int_equal(r.rows, ROWS);
    assert_int_equal(r.entries, ROWS);
    assert_int_equal(r.members_created, ROWS);
    assert_false(r.applied);
    assert_int_equal(tu_count_sql(o.db, "SELECT count(*) FROM members"), 1); /* the other's */
    assert_int_equal(tu_count_sql(o.db, "SELECT count(*) FROM ledger"), 0);
    solo_close(&o);
}

/* A writer thread with a short busy timeout, starting once the import has
 * committed its first chunk; the import does not go past its middle chunk
 * before the writer has finished (a hang guard bounds that wait). */
typedef struct contender {
    const char *db;
    atomic_int chunks, done, wrote, import_chunks_at_done;
} contender;

static void *contend(void *arg)
{
    contender *k = arg;
    for (int i = 0; i < 120000 && atomic_load(&k->chunks) < 1; i++)
        usleep(1000);
    int ok = 1;
    for (int i = 0; i < 5 && ok; i++) {
        char code[32];
        snprintf(code, sizeof code, "T-%d", i);
        ok = other_write(k->db, 1000, code) == 0;
    }
    atomic_store(&k->wrote, ok);
    atomic_store(&k->import_chunks_at_done, atomic_load(&k->chunks));
    atomic_store(&k->done, 1);
    return NULL;
}

static void contender_committed(void *user, uint64_t chunk, uint64_t last_line)
{
    (void)last_line;
    contender *k = user;
    atomic_store(&k->chunks, (int)chunk);
    if (chunk == ROWS / CHUNK_ROWS / 2)
        for (int i = 0; i < 120000 && !atomic_load(&k->done); i++)
            usleep(1000);
}

static void a_till_writes_between_the_chunks_of_a_long_import(void **state)
{
    (void)state;
    solo o;
    solo_open(&o);
    write_members_file(o.csv, "C");
    contender k;
    memset(&k, 0, sizeof k);
    k.db = o.db;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, contend, &k), 0);
    tp_import_pace pace = {CHUNK_ROWS, 60000, 1000, contender_committed};
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    tp_status st = tp_csv_import_paced(o.s, &o.cfg, o.csv, 0, "mgr-1", &pace, NULL, NULL, &k,
                                       &r, &msg);
    pthread_join(t, NULL);
    assert_int_equal(st, TP_OK);
    assert_true(atomic_load(&k.wrote));
    assert_true(atomic_load(&k.import_chunks_at_done) <= ROWS / CHUNK_ROWS / 2);
    assert_int_equal(atomic_load(&k.chunks), ROWS / CHUNK_ROWS);
    assert_int_equal(r.entries, ROWS);
    assert_int_equal(tu_count_sql(o.db, "SELECT count(*) FROM members WHERE code LIKE 'T-%'"), 5);
    /* One audit record per chunk, each covering its own entries. */
    assert_int_equal(tu_count_sql(o.db, "SELECT count(*) FROM audit WHERE action = 'import'"),
                     ROWS / CHUNK_ROWS);
    assert_int_equal(tu_count_sql(o.db, "SELECT sum(ledger_count) FROM audit"
                                     " WHERE action = 'import'"),
                     ROWS);
    solo_close(&o);
}

/* A row found invalid only against the database, after several chunks'
 * worth of good rows: nothing at all is written. */
static void a_late_invalid_row_refuses_the_whole_chunked_import(void **state)
{
    (void)state;
    solo o;
    solo_open(&o);
    write_members_file(o.csv, "L");
    FILE *f = fopen(o.csv, "a");
    assert_non_null(f);
    /* L-000 has 1 point from line 2; this takes 2. */
    fprintf(f, "L-000,,-2\n");
    assert_int_equal(fclose(f), 0);
    tp_import_pace pace = {CHUNK_ROWS, 60000, 1000, NULL};
    problems p;
    memset(&p, 0, sizeof p);
    tp_import_result r = {.struct_size = sizeof r};
    tp_message msg;
    assert_int_equal(tp_csv_import_paced(o.s, &o.cfg, o.csv, 0, "mgr-1", &pace, NULL,
                                         on_problem, &p, &r, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.lines[0], ROWS + 2);
    assert_non_null(strstr(p.text[0], "from 1 to -1 points"));
    assert_false(r.applied);
    assert_int_equal(tu_count_sql(o.db, "SELECT count(*) FROM members"), 0);
    assert_int_equal(tu_count_sql(o.db, "SELECT count(*) FROM ledger"), 0);
    assert_int_equal(tu_count_sql(o.db, "SELECT count(*) FROM audit WHERE action = 'import'"), 0);
    /* With skip-invalid the rest goes in, chunk by chunk. */
    memset(&p, 0, sizeof p);
    assert_int_equal(tp_csv_import_paced(o.s, &o.cfg, o.csv, TP_IMPORT_SKIP_INVALID, "mgr-1",
                                         &pace, NULL, on_problem, &p, &r, &msg),
                     TP_OK);
    assert_int_equal(r.entries, ROWS);
    assert_int_equal(p.n, 1);
    assert_int_equal(tu_count_sql(o.db, "SELECT count(*) FROM ledger"), ROWS);
    solo_close(&o);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--import-child") == 0)
        return import_child(argv[2], argv[3]);
    self_path = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(import_creates_members_and_adds_points_with_quoting_bom_and_crlf),
        cmocka_unit_test(one_invalid_row_applies_nothing_and_names_its_line),
        cmocka_unit_test(a_name_or_reason_that_is_not_utf8_is_a_problem_of_its_row),
        cmocka_unit_test(a_row_refused_half_way_leaves_nothing_even_when_skipping),
        cmocka_unit_test(dry_run_checks_everything_and_writes_nothing),
        cmocka_unit_test(importing_the_same_file_twice_adds_nothing_twice),
        cmocka_unit_test(batched_and_single_rows_mix_in_file_order),
        cmocka_unit_test(malformed_files_are_refused_with_a_sentence),
        cmocka_unit_test(export_then_import_round_trips_balances),
        cmocka_unit_test(export_file_is_private_whatever_the_umask),
        cmocka_unit_test(formula_cells_are_guarded_on_export_and_read_back_unchanged),
        cmocka_unit_test(import_keeps_a_leading_quote_export_did_not_add),
        cmocka_unit_test(import_killed_half_way_is_finished_by_running_it_again),
        cmocka_unit_test(dry_run_takes_no_write_lock),
        cmocka_unit_test(a_till_writes_between_the_chunks_of_a_long_import),
        cmocka_unit_test(a_late_invalid_row_refuses_the_whole_chunked_import),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
