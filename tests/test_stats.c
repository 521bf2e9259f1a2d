/* Tests for plugin/stats.c (ext/stats.h) and the back office's sign-in,
 * manager_verify (ext/managers.h), on real database files through the
 * plugin's extensions as tillpoints-web calls them (docs/DESIGN.md §15).
 *
 * The dashboard's figures are checked against a store day by day whose
 * every sale, refund, adjustment, missed-visit credit and correction is
 * made here, with figures worked out by hand below. */
#include <sqlite3.h>

#include "testutil.h"
#include "tillpoints/ext/hostrole.h"
#include "tillpoints/ext/scanners.h"
#include "tillpoints/ext/stats.h"

#define CONF "terminal = till-9\n[retro]\npin_max_failures = 3\npin_lockout_seconds = 600\n"
#define PIN "583920"
#define PIN2 "620418"
#define DAY 86400000LL

typedef struct ctx {
    tu_host *h;
    const tp_stats_ext *stats;
    int64_t from; /* midnight UTC two days ago: days 0, 1 and 2 (today) */
} ctx;

static void add_manager(tu_host *h, const char *id, const char *pin)
{
    tp_message msg;
    if (h->ad->managers->manager_add(h->plugin, id, "Manager", pin, "owner", &msg) != TP_OK)
        fail_msg("manager_add: %s", msg.text);
}

static int setup(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    c->h = tu_start(CONF);
    c->stats = c->h->plugin->get_extension(c->h->plugin, TP_EXT_STATS);
    assert_non_null(c->stats);
    int64_t now = tp_now_ms_for_tests();
    c->from = now - now % DAY - 2 * DAY;
    tu_add_member(c->h, "M-ANN", "Ann");
    tu_add_member(c->h, "M-BOB", "Bob");
    tu_add_member(c->h, "M-CID", "Cid");
    add_manager(c->h, "mgr-1", PIN);
    add_manager(c->h, "mgr-2", PIN2);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx *c = *state;
    tu_stop(c->h, 1);
    free(c);
    return 0;
}

/* One sale at `when`, one line of `amount` (1 point per 1.00). */
static void sale_at(ctx *c, const char *receipt, const char *member, int64_t amount, int64_t when)
{
    tp_message msg;
    assert_int_equal(c->h->co->begin(c->h->plugin, receipt, "cas-1", &msg), TP_OK);
    if (member)
        assert_int_equal(c->h->co->scan(c->h->plugin, receipt, member, &msg), TP_OK);
    tp_line line = {.sku = "SKU-1", .amount_minor = amount};
    tp_receipt r = {.struct_size = sizeof r, .receipt_id = receipt, .currency = "EUR",
                    .time_ms = when, .lines = &line, .line_count = 1,
                    .line_stride = sizeof line};
    if (c->h->co->complete(c->h->plugin, receipt, &r, NULL, &msg) != TP_OK)
        fail_msg("complete %s: %s", receipt, msg.text);
    tu_settle(c->h);
}

static void credit(ctx *c, const char *receipt, const char *member, const char *approver,
                   const char *pin)
{
    uint64_t f = tu_form_open(c->h, "retro-visit", "web-desk", "manager", receipt);
    tu_form_submit(c->h, f, "customer", member, NULL);
    tu_form_submit(c->h, f, "reason", "forgot the card", "approver", approver, "pin", pin, NULL);
    if (!c->h->dismissed_done)
        fail_msg("credit of %s: %s", receipt, c->h->result);
}

/* The store of the figures below:
 *   day 0  S-1 Ann 10.00 (10 points); S-2 without a member 9.00
 *   day 1  S-3 Bob 5.00 (5 points); S-4 without a member 4.00;
 *          refund R-1 of 2.00 of S-3 (2 points back)
 *   today  adjustment +7 for Ann; S-2 credited to Cid (9) by mgr-1;
 *          S-4 credited to Ann (4) by mgr-2, then moved to Bob by mgr-1
 *   before day 0: S-0 Ann 30.00, which no figure counts. */
static void make_store(ctx *c)
{
    sale_at(c, "S-0", "M-ANN", 3000, c->from - 3600000);
    sale_at(c, "S-1", "M-ANN", 1000, c->from + 3600000);
    sale_at(c, "S-2", NULL, 900, c->from + 2 * 3600000);
    sale_at(c, "S-3", "M-BOB", 500, c->from + DAY + 3600000);
    sale_at(c, "S-4", NULL, 400, c->from + DAY + 2 * 3600000);
    tp_message msg;
    tp_refund rf = {.struct_size = sizeof rf, .refund_id = "R-1", .receipt_id = "S-3",
                    .currency = "EUR", .amount_minor = 200, .time_ms = c->from + DAY + 3 * 3600000};
    assert_int_equal(c->h->co->refund(c->h->plugin, &rf, &msg), TP_OK);
    tu_settle(c->h);
    tp_adjustment adj = {.struct_size = sizeof adj, .member = "M-ANN", .points = 7,
                         .reason = "goodwill", .staff = "mgr-1"};
    assert_int_equal(c->h->ad->ledger->adjust(c->h->plugin, &adj, NULL, &msg), TP_OK);
    credit(c, "S-2", "M-CID", "mgr-1", PIN);
    credit(c, "S-4", "M-ANN", "mgr-2", PIN2);
    uint64_t f = tu_form_open(c->h, "correct-credit", "web-desk", "manager", "S-4");
    tu_form_submit(c->h, f, "receipt", "S-4", "customer", "M-BOB", "reason", "wrong customer",
                   "approver", "mgr-1", "pin", PIN, NULL);
    if (!c->h->dismissed_done)
        fail_msg("correction: %s", c->h->result);
}

typedef struct want {
    const char *metric, *key;
    int32_t day;
    int64_t count, points;
} want;

static void expect_rows(const tp_stats_row *rows, size_t n, const want *w, size_t nw)
{
    for (size_t i = 0; i < n && i < nw; i++)
        if (strcmp(rows[i].metric, w[i].metric) || strcmp(rows[i].key, w[i].key) ||
            rows[i].day != w[i].day || rows[i].count != w[i].count ||
            rows[i].points != w[i].points)
            fail_msg("row %zu: got %s/%s day %d count %lld points %lld, want %s/%s day %d "
                     "count %lld points %lld",
                     i, rows[i].metric, rows[i].key, rows[i].day, (long long)rows[i].count,
                     (long long)rows[i].points, w[i].metric, w[i].key, w[i].day,
                     (long long)w[i].count, (long long)w[i].points);
    if (n != nw)
        fail_msg("%zu rows, want %zu", n, nw);
}

static void figures_per_day_match_a_store_worked_out_by_hand(void **state)
{
    ctx *c = *state;
    make_store(c);
    tp_stats_query q = {.struct_size = sizeof q, .from_ms = c->from, .days = 3};
    tp_stats_row rows[32];
    size_t n = 0;
    tp_message msg;
    assert_int_equal(c->stats->stats(c->h->plugin, &q, rows, 32, sizeof rows[0], &n, &msg),
                     TP_OK);
    /* A correction is counted once, as "corrected" by its approver: its
     * reversal of Ann's credit is not a refund, and the credit it moved
     * stays counted as mgr-2's missed visit. */
    const want w[] = {
        {"adjusted", "", 2, 1, 7},        {"corrected", "mgr-1", 2, 1, 4},
        {"issued", "", 0, 1, 10},         {"issued", "", 1, 1, 5},
        {"receipts", "till-9", 0, 2, 1},  {"receipts", "till-9", 1, 2, 1},
        {"refunded", "", 1, 1, 2},        {"retro", "mgr-1", 2, 1, 9},
        {"retro", "mgr-2", 2, 1, 4},
    };
    expect_rows(rows, n, w, sizeof w / sizeof w[0]);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rows[i].struct_size, sizeof(tp_stats_row));
    /* One day only: day 1 of the store is day 0 of this query. */
    q.from_ms = c->from + DAY;
    q.days = 1;
    assert_int_equal(c->stats->stats(c->h->plugin, &q, rows, 32, sizeof rows[0], &n, &msg),
                     TP_OK);
    const want w1[] = {{"issued", "", 0, 1, 5},
                       {"receipts", "till-9", 0, 2, 1},
                       {"refunded", "", 0, 1, 2}};
    expect_rows(rows, n, w1, 3);
}

/* The rows of days [from, from + days) into rows (cap 64); returns n. */
static size_t read_days(ctx *c, int64_t from, int32_t days, tp_stats_row *rows)
{
    tp_stats_query q = {.struct_size = sizeof q, .from_ms = from, .days = days};
    size_t n = 0;
    tp_message msg;
    if (c->stats->stats(c->h->plugin, &q, rows, 64, sizeof rows[0], &n, &msg) != TP_OK)
        fail_msg("stats: %s", msg.text);
    assert_true(n <= 64);
    return n;
}

/* The figures a fresh instance (nothing kept) gives for the same days. */
static void expect_same_as_a_fresh_read(ctx *c, int64_t from, int32_t days)
{
    tp_stats_row kept[64], fresh[64];
    size_t n = read_days(c, from, days, kept);
    tu_restart(c->h);
    c->stats = c->h->plugin->get_extension(c->h->plugin, TP_EXT_STATS);
    size_t m = read_days(c, from, days, fresh);
    assert_int_equal(n, m);
    for (size_t i = 0; i < n; i++)
        if (memcmp(&kept[i], &fresh[i], sizeof kept[i]) != 0)
            fail_msg("row %zu: kept %s/%s day %d %lld/%lld, fresh %s/%s day %d %lld/%lld", i,
                     kept[i].metric, kept[i].key, kept[i].day, (long long)kept[i].count,
                     (long long)kept[i].points, fresh[i].metric, fresh[i].key, fresh[i].day,
                     (long long)fresh[i].count, (long long)fresh[i].points);
}

static void kept_figures_follow_every_entry_written_since(void **state)
{
    ctx *c = *state;
    tp_stats_row rows[64];
    assert_int_equal(read_days(c, c->from, 3, rows), 0); /* the days are now kept, empty */
    make_store(c); /* everything of the first test, written after */
    /* A sale dated into day 0 (a till that was offline) after day 0 was
     * kept, and one at the last millisecond of day 1. */
    sale_at(c, "S-5", "M-BOB", 300, c->from + 5000);
    sale_at(c, "S-6", NULL, 100, c->from + 2 * DAY - 1);
    size_t n = read_days(c, c->from, 3, rows);
    const want w[] = {
        {"adjusted", "", 2, 1, 7},        {"corrected", "mgr-1", 2, 1, 4},
        {"issued", "", 0, 2, 13},         {"issued", "", 1, 1, 5},
        {"receipts", "till-9", 0, 3, 1},  {"receipts", "till-9", 1, 3, 2},
        {"refunded", "", 1, 1, 2},        {"retro", "mgr-1", 2, 1, 9},
        {"retro", "mgr-2", 2, 1, 4},
    };
    expect_rows(rows, n, w, sizeof w / sizeof w[0]);
    expect_same_as_a_fresh_read(c, c->from, 3);
}

static void another_alignment_or_a_longer_range_reads_what_it_lacks(void **state)
{
    ctx *c = *state;
    make_store(c);
    tp_stats_row rows[64];
    (void)read_days(c, c->from + DAY, 2, rows); /* days 1 and 2 kept */
    /* Three days, one of them not kept: the same as read fresh. */
    expect_same_as_a_fresh_read(c, c->from, 3);
    (void)read_days(c, c->from, 3, rows);
    /* Days from 01:30 (a store east of UTC): day 0 holds S-0 (30 points,
     * 23:00 the day before) and S-1 (01:00); day 1 S-2 (02:00, no member)
     * and S-3 (01:00 the next day). */
    size_t n = read_days(c, c->from - DAY + 5400000, 2, rows);
    const want w[] = {{"issued", "", 0, 2, 40},
                      {"issued", "", 1, 1, 5},
                      {"receipts", "till-9", 0, 2, 0},
                      {"receipts", "till-9", 1, 2, 1}};
    expect_rows(rows, n, w, 4);
    expect_same_as_a_fresh_read(c, c->from - 2 * DAY + 3600000, 5);
}

static void too_little_room_writes_what_fits_and_counts_the_rest(void **state)
{
    ctx *c = *state;
    make_store(c);
    tp_stats_query q = {.struct_size = sizeof q, .from_ms = c->from, .days = 3};
    tp_stats_row rows[3];
    memset(rows, 0x55, sizeof rows);
    size_t n = 0;
    tp_message msg;
    assert_int_equal(c->stats->stats(c->h->plugin, &q, rows, 2, sizeof rows[0], &n, &msg),
                     TP_OK);
    assert_int_equal(n, 9);
    assert_string_equal(rows[1].metric, "corrected");
    assert_int_equal(rows[2].struct_size, 0x55555555u); /* beyond cap: untouched */
    assert_string_equal(msg.text, "2 of the 9 figures fit in the space given.");
    /* Counting only. */
    assert_int_equal(c->stats->stats(c->h->plugin, &q, NULL, 0, 0, &n, &msg), TP_OK);
    assert_int_equal(n, 9);
}

static void an_empty_range_has_no_rows_and_bad_queries_are_refused(void **state)
{
    ctx *c = *state;
    tp_stats_row rows[4];
    size_t n = 99;
    tp_message msg;
    tp_stats_query q = {.struct_size = sizeof q, .from_ms = c->from, .days = 3};
    assert_int_equal(c->stats->stats(c->h->plugin, &q, rows, 4, sizeof rows[0], &n, &msg),
                     TP_OK);
    assert_int_equal(n, 0);
    q.days = 0;
    assert_int_equal(c->stats->stats(c->h->plugin, &q, rows, 4, sizeof rows[0], &n, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(msg.text, "Ask for 1 to 92 days.");
    q.days = TP_STATS_DAYS_MAX + 1;
    assert_int_equal(c->stats->stats(c->h->plugin, &q, rows, 4, sizeof rows[0], &n, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    q.days = 1;
    q.from_ms = -1;
    assert_int_equal(c->stats->stats(c->h->plugin, &q, rows, 4, sizeof rows[0], &n, &msg),
                     TP_ERR_INVALID_ARGUMENT);
    q.from_ms = c->from;
    assert_int_equal(c->stats->stats(c->h->plugin, &q, rows, 4, 8, &n, &msg),
                     TP_ERR_INVALID_ARGUMENT); /* a stride smaller than a row */
    assert_int_equal(c->stats->stats(c->h->plugin, NULL, rows, 4, sizeof rows[0], &n, &msg),
                     TP_ERR_INVALID_ARGUMENT);
}

static int64_t audit_count(ctx *c, const char *action)
{
    char path[300], sql[200];
    snprintf(path, sizeof path, "%s/test.db", c->h->dir);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE action = '%s'", action);
    return tu_count_sql(path, sql);
}

static void sign_in_checks_the_pin_counts_failures_and_locks(void **state)
{
    ctx *c = *state;
    const tp_managers_ext *m = c->h->ad->managers;
    assert_true(TP_HAS_FIELD(m, tp_managers_ext, manager_verify));
    tp_message msg;
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-1", PIN, "web 127.0.0.1", &msg), TP_OK);
    assert_int_equal(audit_count(c, "manager.signin"), 1);
    /* Wrong PIN and unknown id: one sentence, both audited. */
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-1", "111111", "web 127.0.0.1", &msg),
                     TP_ERR_WRONG_PIN);
    char wrong[TP_MESSAGE_MAX + 1];
    snprintf(wrong, sizeof wrong, "%s", msg.text);
    assert_int_equal(m->manager_verify(c->h->plugin, "nobody", "111111", "web 127.0.0.1", &msg),
                     TP_ERR_WRONG_PIN);
    assert_string_equal(msg.text, wrong);
    assert_string_equal(wrong, "Wrong manager id or PIN; after 3 wrong PINs in a row a manager "
                               "is locked.");
    assert_int_equal(audit_count(c, "pin.failure"), 2);
    /* A PIN that cannot be right costs nothing and counts nothing. */
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-1", "12ab", "web", &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(audit_count(c, "pin.failure"), 2);
    /* Two more wrong PINs: the third in a row locks, as at the till. */
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-1", "222222", "web", &msg),
                     TP_ERR_WRONG_PIN);
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-1", "333333", "web", &msg),
                     TP_ERR_LOCKED_OUT);
    assert_int_equal(audit_count(c, "pin.lockout"), 1);
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-1", PIN, "web", &msg),
                     TP_ERR_LOCKED_OUT);
    assert_non_null(strstr(msg.text, "Manager mgr-1 is locked until"));
    /* It is the manager's one lockout, the one the till's approvals see. */
    tp_manager_info rows[4];
    size_t n = 0;
    assert_int_equal(m->manager_list(c->h->plugin, rows, 4, sizeof rows[0], &n, &msg), TP_OK);
    assert_string_equal(rows[0].id, "mgr-1");
    assert_true(rows[0].locked_until_ms > tp_now_ms_for_tests());
    /* The other manager signs in; a reset PIN lifts the lockout. */
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-2", PIN2, "web", &msg), TP_OK);
    assert_int_equal(m->manager_reset_pin(c->h->plugin, "mgr-1", "909090", "owner", &msg), TP_OK);
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-1", "909090", "web", &msg), TP_OK);
    assert_int_equal(audit_count(c, "manager.signin"), 3);
    /* Bad arguments change nothing. */
    assert_int_equal(m->manager_verify(c->h->plugin, "", PIN, "web", &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-2", NULL, "web", &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(m->manager_verify(c->h->plugin, "mgr-2", PIN2, "web\n2", &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(audit_count(c, "manager.signin"), 3);
}

/* A back-office host (ext/hostrole.h): the till's scanners stay closed. */
static void a_back_office_host_opens_no_scanner(void **state)
{
    ctx *c = *state;
    /* A serial scanner on a port no test owns: a till would try it. */
    static const char scanner[] = "[scanner \"desk\"]\ndriver = serial\nport = /dev/null-tp\n";
    char path[300], text[1024];
    snprintf(path, sizeof path, "%s/office.conf", c->h->dir);
    snprintf(text, sizeof text, "[store]\ndatabase = test.db\n%s%s", CONF, scanner);
    tu_write_file(path, text);
    c->h->back_office = 1;
    tp_host host = c->h->host;
    tp_message msg;
    const tp_plugin *p = tillpoints_entry.create(&host, path, &msg);
    assert_non_null(p);
    if (p->init(p, &msg) != TP_OK)
        fail_msg("init: %s", msg.text);
    const tp_scanners_ext *sc = p->get_extension(p, TP_EXT_SCANNERS);
    tp_scanner_info info[2];
    size_t n = 9;
    assert_int_equal(sc->list(p, info, 2, sizeof info[0], &n, &msg), TP_OK);
    assert_int_equal(n, 0);
    assert_string_equal(msg.text, "This back-office program opens none of the 1 configured "
                                  "scanners: the till's process owns them.");
    /* Everything else works: the same managers sign in. */
    tp_admin_set set;
    tu_admin_set(p, &set);
    assert_int_equal(set.managers->manager_verify(p, "mgr-2", PIN2, "web", &msg), TP_OK);
    p->destroy(p);
    /* The same config in a till's process: the scanner is there. */
    c->h->back_office = 0;
    p = tillpoints_entry.create(&host, path, &msg);
    assert_non_null(p);
    assert_int_equal(p->init(p, &msg), TP_OK);
    sc = p->get_extension(p, TP_EXT_SCANNERS);
    assert_int_equal(sc->list(p, info, 2, sizeof info[0], &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(info[0].name, "desk");
    p->destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(figures_per_day_match_a_store_worked_out_by_hand, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(kept_figures_follow_every_entry_written_since, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(another_alignment_or_a_longer_range_reads_what_it_lacks,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(too_little_room_writes_what_fits_and_counts_the_rest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(an_empty_range_has_no_rows_and_bad_queries_are_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sign_in_checks_the_pin_counts_failures_and_locks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_back_office_host_opens_no_scanner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
