/* Tests for plugin/ledger.c: adjustments, bulk adjustments, the activity
 * log and its paging, through the admin extension on real files. */
#include "testutil.h"

#include <signal.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "config.h"
#include "ledger.h"
#include "store.h"

static tp_status adjust(tu_host *h, const char *member, int64_t points, tp_message *msg)
{
    tp_adjustment a = {.struct_size = sizeof a, .member = member, .points = points,
                       .reason = "goodwill", .comment = "Sorry for the wait", .staff = "mgr-1"};
    return h->ad->ledger->adjust(h->plugin, &a, NULL, msg);
}

static void adjustment_records_reason_comment_and_staff(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tp_adjustment a = {.struct_size = sizeof a, .member = "M-0001", .points = 25,
                       .reason = "broken cup", .comment = "A small thank-you", .staff = "mgr-1"};
    tp_activity_row e = {.struct_size = sizeof e};
    tp_message msg;
    assert_int_equal(h->ad->ledger->adjust(h->plugin, &a, &e, &msg), TP_OK);
    assert_int_equal(e.points, 25);
    assert_string_equal(e.kind, "adjust");
    assert_string_equal(e.reason, "broken cup");
    assert_string_equal(e.comment, "A small thank-you");
    assert_string_equal(e.staff, "mgr-1");
    assert_string_equal(e.member_code, "M-0001");
    assert_int_equal(tu_balance(h, "M-0001"), 25);
    tu_stop(h, 1);
}

static void adjustment_never_overdraws_unless_configured(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    assert_int_equal(adjust(h, "M-0001", 10, &msg), TP_OK);
    assert_int_equal(adjust(h, "M-0001", -11, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "from 10 to -1"));
    assert_int_equal(tu_balance(h, "M-0001"), 10);
    assert_int_equal(adjust(h, "M-0001", -10, &msg), TP_OK);
    tu_stop(h, 1);
    h = tu_start("[program]\nallow_negative_balance = yes\n");
    tu_add_member(h, "M-0001", "Ann");
    assert_int_equal(adjust(h, "M-0001", -5, &msg), TP_OK);
    assert_int_equal(tu_balance(h, "M-0001"), -5);
    tu_stop(h, 1);
}

static void bad_adjustments_are_refused_and_change_nothing(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    tp_adjustment cases[] = {
        {.member = "M-0001", .points = 0, .reason = "r", .staff = "s"},
        {.member = "M-0001", .points = TP_ADJUST_MAX + 1, .reason = "r", .staff = "s"},
        {.member = "M-0001", .points = 5, .reason = "", .staff = "s"},
        {.member = "M-0001", .points = 5, .reason = NULL, .staff = "s"},
        {.member = "M-0001", .points = 5, .reason = "r", .staff = NULL},
        {.member = "NOBODY", .points = 5, .reason = "r", .staff = "s"},
        {.member = NULL, .points = 5, .reason = "r", .staff = "s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].struct_size = sizeof cases[i]; /* each case is wrong in one field only */
        tp_status st = h->ad->ledger->adjust(h->plugin, &cases[i], NULL, &msg);
        if (st == TP_OK)
            fail_msg("case %zu accepted", i);
        assert_true(msg.text[0] != '\0');
    }
    assert_int_equal(tu_balance(h, "M-0001"), 0);
    tu_stop(h, 1);
}

/* Each text of an adjustment: over its limit is TP_ERR_TOO_LONG, not UTF-8
 * text is TP_ERR_INVALID_ARGUMENT, and the sentence names the field. */
static void over_long_or_broken_texts_name_the_field(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    char long_reason[TP_REASON_MAX + 2], long_comment[TP_COMMENT_MAX + 2];
    char long_staff[TP_STAFF_ID_MAX + 2];
    memset(long_reason, 'r', sizeof long_reason - 1);
    long_reason[sizeof long_reason - 1] = '\0';
    memset(long_comment, 'c', sizeof long_comment - 1);
    long_comment[sizeof long_comment - 1] = '\0';
    memset(long_staff, 's', sizeof long_staff - 1);
    long_staff[sizeof long_staff - 1] = '\0';
    struct {
        tp_adjustment a;
        tp_status want;
        const char *says;
    } cases[] = {
        {{.reason = long_reason, .staff = "s"}, TP_ERR_TOO_LONG,
         "The reason is longer than 200 bytes"},
        {{.reason = "r", .comment = long_comment, .staff = "s"}, TP_ERR_TOO_LONG,
         "The customer comment is longer than 200 bytes"},
        {{.reason = "r", .staff = long_staff}, TP_ERR_TOO_LONG,
         "The staff id is longer than 64 bytes"},
        {{.reason = "caf\xe9", .staff = "s"}, TP_ERR_INVALID_ARGUMENT,
         "The reason is not valid UTF-8 text"},
        {{.reason = "r", .comment = "\xed\xa0\x80", .staff = "s"}, TP_ERR_INVALID_ARGUMENT,
         "The customer comment is not valid UTF-8 text"},
        {{.reason = "r", .staff = "\xc0\xaf"}, TP_ERR_INVALID_ARGUMENT,
         "The staff id is not valid UTF-8 text"},
    };
    tp_message msg;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].a.struct_size = sizeof cases[i].a;
        cases[i].a.member = "M-0001";
        cases[i].a.points = 5;
        assert_int_equal(h->ad->ledger->adjust(h->plugin, &cases[i].a, NULL, &msg), cases[i].want);
        if (!strstr(msg.text, cases[i].says))
            fail_msg("case %zu: '%s' does not say '%s'", i, msg.text, cases[i].says);
    }
    /* Accented text within the limit is welcome. */
    tp_adjustment ok = {.struct_size = sizeof ok,
                        .member = "M-0001",
                        .points = 5,
                        .reason = "Gr\xc3\xbc\xc3\x9f"
                                  "e",
                        .comment = "Entschuldigung f\xc3\xbcr die Wartezeit",
                        .staff = "J\xc3\xb6rg"};
    assert_int_equal(h->ad->ledger->adjust(h->plugin, &ok, NULL, &msg), TP_OK);
    assert_int_equal(tu_balance(h, "M-0001"), 5);
    tu_stop(h, 1);
}

static void bulk_adjustment_is_all_or_nothing(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tu_add_member(h, "M-0002", "Bob");
    tu_add_member(h, "M-0003", "Cid");
    tp_message msg;
    tp_bulk_result r = {.struct_size = sizeof r};
    const char *bad_list[] = {"M-0001", "NOBODY", "M-0003"};
    tp_bulk_adjustment b = {.struct_size = sizeof b, .members = bad_list, .member_count = 3,
                            .points = 10, .reason = "launch", .staff = "mgr"};
    assert_int_equal(h->ad->ledger->bulk_adjust(h->plugin, &b, NULL, NULL, &r, &msg),
                     TP_ERR_NOT_FOUND);
    assert_non_null(strstr(msg.text, "Member 2 of the list"));
    assert_int_equal(tu_balance(h, "M-0001"), 0);
    const char *twice[] = {"M-0001", "M-0001"};
    b.members = twice;
    b.member_count = 2;
    assert_int_equal(h->ad->ledger->bulk_adjust(h->plugin, &b, NULL, NULL, &r, &msg),
                     TP_ERR_DUPLICATE);
    assert_int_equal(tu_balance(h, "M-0001"), 0);
    tp_bulk_adjustment all = {.struct_size = sizeof all, .all_members = 1, .points = 7,
                              .reason = "launch", .staff = "mgr"};
    assert_int_equal(h->ad->ledger->bulk_adjust(h->plugin, &all, NULL, NULL, &r, &msg), TP_OK);
    assert_int_equal(r.members, 3);
    assert_int_equal(r.points_total, 21);
    assert_int_equal(tu_balance(h, "M-0003"), 7);
    /* A negative bulk that would overdraw one member touches none. */
    assert_int_equal(adjust(h, "M-0002", 5, &msg), TP_OK);
    tp_bulk_adjustment minus = {.struct_size = sizeof minus, .all_members = 1, .points = -10,
                                .reason = "fix", .staff = "mgr"};
    assert_int_equal(h->ad->ledger->bulk_adjust(h->plugin, &minus, NULL, NULL, &r, &msg),
                     TP_ERR_STATE);
    assert_int_equal(tu_balance(h, "M-0002"), 12);
    tu_stop(h, 1);
}

static void activity_filters_and_pages_newest_first(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tu_add_member(h, "M-0002", "Bob");
    tp_message msg;
    char id[16];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "R-%d", i);
        assert_int_equal(tu_sale(h, id, i % 2 ? "M-0002" : "M-0001", 100 * (i + 1), &msg),
                         TP_OK);
    }
    tu_settle(h);
    assert_int_equal(adjust(h, "M-0001", 3, &msg), TP_OK);
    tp_refund rf = {.struct_size = sizeof rf, .refund_id = "F-1", .receipt_id = "R-6",
                    .currency = "EUR", .full = 1};
    assert_int_equal(h->co->refund(h->plugin, &rf, &msg), TP_OK);
    tu_settle(h);

    tp_activity_row rows[10];
    size_t n = 0;
    tp_activity_query q = {.struct_size = sizeof q};
    assert_int_equal(h->ad->ledger->activity(h->plugin, &q, rows, 3, sizeof rows[0], &n, &msg),
                     TP_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].kind, "reversal");
    assert_int_equal(rows[0].points, -7);
    assert_string_equal(rows[1].kind, "adjust");
    /* Walk all pages: 7 earns + 1 adjust + 1 reversal, no repeats. */
    int total = 0;
    int64_t before = 0, last = INT64_MAX;
    for (;;) {
        tp_activity_query p = {.struct_size = sizeof p, .before_id = before};
        assert_int_equal(h->ad->ledger->activity(h->plugin, &p, rows, 4, sizeof rows[0], &n, &msg),
                         TP_OK);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            assert_true(rows[i].id < last);
            last = rows[i].id;
        }
        total += (int)n;
        before = rows[n - 1].id;
    }
    assert_int_equal(total, 9);
    tp_activity_query by_member = {.struct_size = sizeof by_member, .member = "M-0002",
                                   .kinds = TP_KIND_EARN};
    assert_int_equal(
        h->ad->ledger->activity(h->plugin, &by_member, rows, 10, sizeof rows[0], &n, &msg), TP_OK);
    assert_int_equal(n, 3); /* */
    tp_activity_query by_staff = {.struct_size = sizeof by_staff, .staff = "mgr-1"};
    assert_int_equal(
        h->ad->ledger->activity(h->plugin, &by_staff, rows, 10, sizeof rows[0], &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    tp_activity_query future = {.struct_size = sizeof future,
                                .from_ms = tp_now_ms_for_tests() + 3600000};
    assert_int_equal(
        h->ad->ledger->activity(h->plugin, &future, rows, 10, sizeof rows[0], &n, &msg), TP_OK);
    assert_int_equal(n, 0);
    tp_activity_query bad = {.struct_size = sizeof bad};
    assert_int_equal(h->ad->ledger->activity(h->plugin, &bad, rows, 0, sizeof rows[0], &n, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    tp_activity_query nobody = {.struct_size = sizeof nobody, .member = "NOBODY"};
    assert_int_equal(h->ad->ledger->activity(h->plugin, &nobody, rows, 5, sizeof rows[0], &n, &msg),
                     TP_ERR_NOT_FOUND);
    tu_stop(h, 1);
}

/* ---- bulk adjustments in chunks -----------------------------------------
 * The child of bulk_adjustment_killed_half_way_is_finished_by_running_it
 * _again: +5 for all members of config argv[2]'s database, in parts of
 * BULK_PART members; after the second part it says "mid" and waits to be
 * killed. */
#define BULK_PART 3
#define BULK_MEMBERS 20

static void child_part(void *user, uint64_t part, uint64_t members)
{
    (void)user;
    printf("part %llu %llu\n", (unsigned long long)part, (unsigned long long)members);
    fflush(stdout);
    if (part == 2) {
        printf("mid\n");
        fflush(stdout);
        for (;;)
            pause();
    }
}

static const tp_bulk_adjustment bonus = {.struct_size = sizeof(tp_bulk_adjustment),
                                         .all_members = 1, .points = 5, .reason = "bonus",
                                         .comment = "Thank you", .staff = "mgr-1"};

static int bulk_child(const char *config)
{
    tp_config cfg;
    tp_message msg;
    tp_store *s = NULL;
    if (tp_config_load(&cfg, config, &msg) != TP_OK ||
        tp_store_open(cfg.database, &s, &msg) != TP_OK) {
        fprintf(stderr, "child: %s\n", msg.text);
        return 2;
    }
    tp_bulk_pace pace = {BULK_PART, 60000, child_part, NULL};
    tp_bulk_result r = {.struct_size = sizeof r};
    if (tp_ledger_bulk_paced(s, &cfg, &bonus, &pace, NULL, NULL, &r, &msg) != TP_OK)
        fprintf(stderr, "child: %s\n", msg.text);
    printf("finished\n"); /* the test fails on this */
    fflush(stdout);
    tp_store_close(s);
    return 0;
}

static const char *self_path;

static void bulk_adjustment_killed_half_way_is_finished_by_running_it_again(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    for (int i = 0; i < BULK_MEMBERS; i++) {
        char code[16];
        snprintf(code, sizeof code, "B-%03d", i);
        tu_add_member(h, code, "Member");
    }
    char db[400];
    snprintf(db, sizeof db, "%s/test.db", h->dir);
    char *child[] = {(char *)self_path, "--bulk-child", h->config, NULL};
    tu_kill_at_mid(child, NULL);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM ledger WHERE kind = 'bulk'"),
                     2 * BULK_PART);
    tp_verify_result vr = {.struct_size = sizeof vr};
    tp_message msg;
    assert_int_equal(h->ad->audit->verify(h->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg),
                     TP_OK);
    assert_int_equal(vr.problems, 0);
    /* The same request again takes up the batch: everyone once. */
    tp_bulk_result r = {.struct_size = sizeof r};
    assert_int_equal(h->ad->ledger->bulk_adjust(h->plugin, &bonus, NULL, NULL, &r, &msg), TP_OK);
    assert_int_equal(r.members, BULK_MEMBERS - 2 * BULK_PART);
    assert_int_equal(r.points_total, 5 * (BULK_MEMBERS - 2 * BULK_PART));
    assert_non_null(strstr(msg.text, "6 adjusted by the run that stopped"));
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM ledger WHERE kind = 'bulk'"),
                     BULK_MEMBERS);
    assert_int_equal(tu_count_sql(db, "SELECT count(DISTINCT member_id) FROM ledger"
                                   " WHERE kind = 'bulk'"),
                     BULK_MEMBERS);
    assert_int_equal(tu_count_sql(db, "SELECT count(DISTINCT substr(receipt, 1, instr(receipt,"
                                   " '/'))) FROM ledger WHERE kind = 'bulk'"),
                     1);
    for (int i = 0; i < BULK_MEMBERS; i += 7) {
        char code[16];
        snprintf(code, sizeof code, "B-%03d", i);
        assert_int_equal(tu_balance(h, code), 5);
    }
    assert_int_equal(h->ad->audit->verify(h->plugin, NULL, NULL, NULL, NULL, &vr, NULL, &msg),
                     TP_OK);
    assert_int_equal(vr.problems, 0);
    /* Finished, the same request is a new batch: a second bonus. */
    assert_int_equal(h->ad->ledger->bulk_adjust(h->plugin, &bonus, NULL, NULL, &r, &msg), TP_OK);
    assert_int_equal(r.members, BULK_MEMBERS);
    assert_int_equal(tu_balance(h, "B-000"), 10);
    tu_stop(h, 1);
}

/* A writer with a short busy timeout gets in between the parts. */
typedef struct part_gate {
    const char *db;
    int wrote;
} part_gate;

static void write_between_parts(void *user, uint64_t part, uint64_t members)
{
    (void)members;
    part_gate *g = user;
    if (part != 1)
        return;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(g->db, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 0);
        g->wrote = sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO members(code, name,"
                                    " created_ms) VALUES('T-1', 'till', 0); COMMIT;",
                                NULL, NULL, NULL) == SQLITE_OK;
    }
    sqlite3_close(db);
}

static void bulk_adjustment_leaves_the_lock_free_between_parts(void **state)
{
    (void)state;
    char dir[256], db[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/t.db", dir);
    tp_config cfg;
    tp_message msg;
    tp_store *s = NULL;
    assert_int_equal(tp_config_load(&cfg, NULL, &msg), TP_OK);
    assert_int_equal(tp_store_open(db, &s, &msg), TP_OK);
    for (int i = 0; i < 10; i++) {
        char code[16];
        snprintf(code, sizeof code, "P-%03d", i);
        assert_int_equal(tp_store_add_member(s, code, "Member", NULL, NULL, NULL, 0, &msg),
                         TP_OK);
    }
    part_gate g = {db, 0};
    tp_bulk_pace pace = {4, 60000, write_between_parts, &g};
    tp_bulk_result r = {.struct_size = sizeof r};
    assert_int_equal(tp_ledger_bulk_paced(s, &cfg, &bonus, &pace, NULL, NULL, &r, &msg), TP_OK);
    assert_true(g.wrote);
    /* All members: T-1, added meanwhile, is among them (ids in order). */
    assert_int_equal(r.members, 11);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM audit WHERE action = 'bulk'"), 3);
    assert_int_equal(tu_count_sql(db, "SELECT count(*) FROM audit WHERE action = 'bulk'"
                                   " AND detail LIKE '%last part%'"),
                     1);
    tp_store_close(s);
    tu_rmdir(dir);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--bulk-child") == 0)
        return bulk_child(argv[2]);
    self_path = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adjustment_records_reason_comment_and_staff),
        cmocka_unit_test(adjustment_never_overdraws_unless_configured),
        cmocka_unit_test(bad_adjustments_are_refused_and_change_nothing),
        cmocka_unit_test(over_long_or_broken_texts_name_the_field),
        cmocka_unit_test(bulk_adjustment_is_all_or_nothing),
        cmocka_unit_test(activity_filters_and_pages_newest_first),
        cmocka_unit_test(bulk_adjustment_killed_half_way_is_finished_by_running_it_again),
        cmocka_unit_test(bulk_adjustment_leaves_the_lock_free_between_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
