/* Tests for plugin/csvio.c: CSV import and export through the admin
 * extension, on real files. */
#include "testutil.h"

#include <sys/stat.h>

typedef struct problems {
    int n;
    uint64_t lines[16];
    char text[16][TP_MESSAGE_MAX];
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
    return h->ad->import_csv(h->plugin, path, flags, "mgr-1", NULL, on_problem, p, r, msg);
}

static void import_creates_members_and_adds_points_with_quoting_bom_and_crlf(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Existing");
    problems p;
    tp_import_result r;
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
    tp_member_info info;
    assert_int_equal(h->ad->member_get(h->plugin, "M-0100", &info, &msg), TP_OK);
    assert_string_equal(info.name, "Smith, Jane");
    assert_string_equal(info.phone, "+491517654321");
    assert_string_equal(info.email, "jane@example.com");
    assert_int_equal(info.balance, 40);
    assert_int_equal(h->ad->member_get(h->plugin, "M-0101", &info, &msg), TP_OK);
    assert_string_equal(info.name, "Quote \"Q\" Person");
    tu_stop(h, 1);
}

static void one_invalid_row_applies_nothing_and_names_its_line(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r;
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
    tp_member_info info;
    assert_int_equal(h->ad->member_get(h->plugin, "M-0001", &info, &msg), TP_ERR_NOT_FOUND);
    /* With skip-invalid the valid rows go in. */
    assert_int_equal(import(h, "b.csv", NULL, TP_IMPORT_SKIP_INVALID, &p, &r, &msg), TP_OK);
    assert_int_equal(r.invalid, 2);
    assert_int_equal(r.members_created, 2);
    assert_int_equal(tu_balance(h, "M-0003"), 5);
    tu_stop(h, 1);
}

static void a_row_refused_half_way_leaves_nothing_even_when_skipping(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r;
    tp_message msg;
    /* M-0009 is new and its opening balance is negative: the member must
     * not be created either. */
    assert_int_equal(import(h, "s.csv", "code,points\nM-0008,5\nM-0009,-5\n",
                            TP_IMPORT_SKIP_INVALID, &p, &r, &msg),
                     TP_OK);
    assert_int_equal(r.invalid, 1);
    assert_int_equal(r.members_created, 1);
    tp_member_info info;
    assert_int_equal(h->ad->member_get(h->plugin, "M-0009", &info, &msg), TP_ERR_NOT_FOUND);
    assert_int_equal(tu_balance(h, "M-0008"), 5);
    tu_stop(h, 1);
}

static void dry_run_checks_everything_and_writes_nothing(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r;
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
    tp_member_info info;
    assert_int_equal(h->ad->member_get(h->plugin, "M-0001", &info, &msg), TP_ERR_NOT_FOUND);
    tu_stop(h, 1);
}

static void importing_the_same_file_twice_adds_nothing_twice(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r;
    tp_message msg;
    const char *csv = "code,points\nM-0001,10\nM-0001,5\n";
    assert_int_equal(import(h, "e.csv", csv, 0, &p, &r, &msg), TP_OK);
    assert_int_equal(tu_balance(h, "M-0001"), 15);
    assert_int_equal(import(h, "e.csv", NULL, 0, &p, &r, &msg), TP_OK);
    assert_int_equal(r.entries, 0);
    assert_int_equal(p.n, 2); /* both rows said "already imported" */
    assert_non_null(strstr(p.text[0], "Already imported"));
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
    n += (size_t)snprintf(csv + n, cap - n, "N-1,New One,10,,\nN-1,,20,,\n");
    /* line 157: a new member with two cards and no points */
    n += (size_t)snprintf(csv + n, cap - n, "N-2,New Two,0,C-N2;C-N2b,\n");
    /* line 158: points by card */
    n += (size_t)snprintf(csv + n, cap - n, "C-147,,7,,\n");
    for (int i = 0; i < 70; i++) /* lines 159-228: top-ups, a full batch and some */
        n += (size_t)snprintf(csv + n, cap - n, "B-%03d,,1,,\n", i);
    problems p;
    tp_import_result r;
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
    assert_int_equal(tu_balance(h, "N-1"), 30);
    tp_member_info info;
    assert_int_equal(h->ad->member_get(h->plugin, "C-N2b", &info, &msg), TP_OK);
    assert_string_equal(info.code, "N-2");
    assert_int_equal(info.balance, 0);
    assert_int_equal(h->ad->member_get(h->plugin, "B-100", &info, &msg), TP_OK);
    assert_string_equal(info.name, "Name 100");
    /* Entries in file order: newest first means descending line numbers. */
    tp_activity_row *rows = calloc(300, sizeof *rows);
    assert_non_null(rows);
    tp_activity_query q = {.kinds = TP_KIND_IMPORT, .limit = 300};
    size_t count = 0;
    assert_int_equal(h->ad->activity(h->plugin, &q, rows, &count, &msg), TP_OK);
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
    tp_verify_result vr;
    assert_int_equal(h->ad->verify(h->plugin, NULL, NULL, &vr, &msg), TP_OK);
    assert_int_equal(vr.problems, 0);
    /* The same file again goes row by row and adds nothing. */
    assert_int_equal(import(h, "mix.csv", NULL, TP_IMPORT_SKIP_INVALID, &p, &r, &msg), TP_OK);
    assert_int_equal(r.entries, 0);
    assert_int_equal(r.members_created, 0);
    assert_int_equal(tu_balance(h, "B-149"), 50);
    assert_int_equal(tu_balance(h, "N-1"), 30);
    tu_stop(h, 1);
}

static void malformed_files_are_refused_with_a_sentence(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    problems p;
    tp_import_result r;
    tp_message msg;
    assert_int_equal(import(h, "f.csv", "", 0, &p, &r, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(p.text[0], "empty"));
    assert_int_equal(import(h, "g.csv", "code,pointz\nM-1,1\n", 0, &p, &r, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(p.text[0], "unknown column"));
    assert_int_equal(import(h, "h.csv", "code,points\n\"M-0001,5\n", 0, &p, &r, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_true(p.n >= 1);
    assert_int_equal(h->ad->import_csv(h->plugin, "/nonexistent.csv", 0, "mgr", NULL, NULL,
                                       NULL, &r, &msg),
                     TP_ERR_NOT_FOUND);
    assert_non_null(strstr(msg.text, "/nonexistent.csv"));
    tu_stop(h, 1);
}

static void export_then_import_round_trips_balances(void **state)
{
    (void)state;
    tu_host *a = tu_start(NULL);
    tp_member_new m = {.code = "M-0001", .name = "Lee, \"Ace\"", .phone = "+4930111222",
                       .email = "lee@example.com"};
    tp_message msg;
    assert_int_equal(a->ad->member_add(a->plugin, &m, NULL, &msg), TP_OK);
    tp_member_new z = {.code = "M-0002", .name = "Zed", .app_id = "app-zed"};
    assert_int_equal(a->ad->member_add(a->plugin, &z, NULL, &msg), TP_OK);
    assert_int_equal(a->ad->member_add_card(a->plugin, "M-0002", "CARD-B", &msg), TP_OK);
    assert_int_equal(a->ad->member_add_card(a->plugin, "M-0002", "CARD-A", &msg), TP_OK);
    assert_int_equal(tu_sale(a, "R-1", "M-0001", 4321, &msg), TP_OK);
    tu_settle(a);
    char path[400];
    snprintf(path, sizeof path, "%s/export.csv", a->dir);
    uint64_t rows = 0;
    assert_int_equal(a->ad->export_csv(a->plugin, path, &rows, &msg), TP_OK);
    assert_int_equal(rows, 2);
    assert_int_equal(a->ad->export_csv(a->plugin, path, &rows, &msg), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "already exists"));
    tu_host *b = tu_start(NULL);
    problems p;
    tp_import_result r;
    memset(&p, 0, sizeof p);
    assert_int_equal(b->ad->import_csv(b->plugin, path, 0, "mgr", NULL, on_problem, &p, &r, &msg),
                     TP_OK);
    assert_int_equal(tu_balance(b, "M-0001"), 43);
    assert_int_equal(tu_balance(b, "M-0002"), 0);
    tp_member_info info;
    assert_int_equal(b->ad->member_get(b->plugin, "lee@example.com", &info, &msg), TP_OK);
    assert_string_equal(info.name, "Lee, \"Ace\"");
    /* Cards and the app id travel too. */
    assert_int_equal(b->ad->member_get(b->plugin, "CARD-A", &info, &msg), TP_OK);
    assert_string_equal(info.code, "M-0002");
    assert_int_equal(b->ad->member_get(b->plugin, "app-zed", &info, &msg), TP_OK);
    assert_string_equal(info.code, "M-0002");
    tu_stop(a, 1);
    tu_stop(b, 1);
}

static void export_file_is_private_whatever_the_umask(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tp_member_new m = {.code = "M-0001", .name = "Private", .phone = "+4930111222",
                       .email = "p@example.com"};
    tp_message msg;
    assert_int_equal(h->ad->member_add(h->plugin, &m, NULL, &msg), TP_OK);
    char path[400];
    snprintf(path, sizeof path, "%s/members.csv", h->dir);
    uint64_t rows = 0;
    mode_t old = umask(0);
    tp_status st = h->ad->export_csv(h->plugin, path, &rows, &msg);
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
    assert_int_equal(h->ad->export_csv(h->plugin, link, &rows, &msg), TP_ERR_INVALID_ARGUMENT);
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
        snprintf(codes[i], sizeof codes[i], "F-%d", i);
        tp_member_new m = {.code = codes[i], .name = names[i]};
        assert_int_equal(a->ad->member_add(a->plugin, &m, NULL, &msg), TP_OK);
    }
    /* A code may start with '-' too, and a phone always starts with '+'. */
    tp_member_new d = {.code = "-DASH-1", .name = "Dash", .phone = "+4930999888"};
    assert_int_equal(a->ad->member_add(a->plugin, &d, NULL, &msg), TP_OK);
    char path[400];
    snprintf(path, sizeof path, "%s/f.csv", a->dir);
    uint64_t rows = 0;
    assert_int_equal(a->ad->export_csv(a->plugin, path, &rows, &msg), TP_OK);
    assert_int_equal(rows, N + 1);

    /* In the file: every text cell that starts with = + - @ or a quote
     * starts with one added quote. */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "\"F-0\",\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"click\"\")\""));
    assert_non_null(strstr(text, "\"F-2\",\"'-2+3\""));
    assert_non_null(strstr(text, "\"F-3\",\"'@SUM(1)\""));
    assert_non_null(strstr(text, "\"F-4\",\"''Quoted\""));
    assert_non_null(strstr(text, "\"F-5\",\"'''Two quotes\""));
    assert_non_null(strstr(text, "\"F-7\",\"plain 'inner' quote\""));
    assert_non_null(strstr(text, "\"'-DASH-1\",\"Dash\",\"'+4930999888\""));
    for (const char *cell = strstr(text, ",\""); cell; cell = strstr(cell + 1, ",\""))
        if (strchr("=+-@", cell[2]))
            fail_msg("a cell starts a formula: %.40s", cell + 1);

    tu_host *b = tu_start(NULL);
    problems p;
    tp_import_result r;
    memset(&p, 0, sizeof p);
    assert_int_equal(b->ad->import_csv(b->plugin, path, 0, "mgr", NULL, on_problem, &p, &r, &msg),
                     TP_OK);
    assert_int_equal(p.n, 0);
    for (int i = 0; i < N; i++) {
        tp_member_info info;
        assert_int_equal(b->ad->member_get(b->plugin, codes[i], &info, &msg), TP_OK);
        assert_string_equal(info.name, names[i]);
    }
    tp_member_info info;
    assert_int_equal(b->ad->member_get(b->plugin, "-DASH-1", &info, &msg), TP_OK);
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
    tp_import_result r;
    tp_message msg;
    assert_int_equal(import(h, "q.csv", "code,name,points\nQ-1,'Tis Me,0\nQ-2,'=1+1,0\n", 0,
                            &p, &r, &msg),
                     TP_OK);
    tp_member_info info;
    assert_int_equal(h->ad->member_get(h->plugin, "Q-1", &info, &msg), TP_OK);
    assert_string_equal(info.name, "'Tis Me");
    assert_int_equal(h->ad->member_get(h->plugin, "Q-2", &info, &msg), TP_OK);
    assert_string_equal(info.name, "=1+1");
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(import_creates_members_and_adds_points_with_quoting_bom_and_crlf),
        cmocka_unit_test(one_invalid_row_applies_nothing_and_names_its_line),
        cmocka_unit_test(a_row_refused_half_way_leaves_nothing_even_when_skipping),
        cmocka_unit_test(dry_run_checks_everything_and_writes_nothing),
        cmocka_unit_test(importing_the_same_file_twice_adds_nothing_twice),
        cmocka_unit_test(batched_and_single_rows_mix_in_file_order),
        cmocka_unit_test(malformed_files_are_refused_with_a_sentence),
        cmocka_unit_test(export_then_import_round_trips_balances),
        cmocka_unit_test(export_file_is_private_whatever_the_umask),
        cmocka_unit_test(formula_cells_are_guarded_on_export_and_read_back_unchanged),
        cmocka_unit_test(import_keeps_a_leading_quote_export_did_not_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
