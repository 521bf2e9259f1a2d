/* Tests for plugin/expiry.c (ext/expiry.h): points that expire [expiry]
 * months after they were earned, by the model of docs/DESIGN.md §5
 * ("Expiry"), on real database files through the plugin's extensions.
 *
 * Sales are dated into the past (a receipt's time_ms), and runs are asked
 * for an instant (as_of_ms), so every figure below is worked out by hand
 * from fixed UTC dates. One point per 1.00 spent (the default rules). */
#include <sqlite3.h>

#include "testutil.h"
#include "tillpoints/ext/expiry.h"
#include "tillpoints/ext/hostrole.h"

#include "config.h"
#include "expiry.h"
#include "instance.h"
#include "store.h"

#define MONTHS_1 "[expiry]\nmonths = 1\n"
#define PIN "583920"
#define HOUR 3600000LL
#define DAY 86400000LL

/* UTC ms of y-m-d h:00. */
static int64_t utc(int y, int m, int d, int h)
{
    struct tm t = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = h};
    return (int64_t)timegm(&t) * 1000;
}

static const tp_expiry_ext *expiry_of(tu_host *h)
{
    const tp_expiry_ext *x = h->plugin->get_extension(h->plugin, TP_EXT_EXPIRY);
    assert_non_null(x);
    return x;
}

static char *db_of(tu_host *h, char *out, size_t cap)
{
    snprintf(out, cap, "%s/test.db", h->dir);
    return out;
}

static int64_t sql_of(tu_host *h, const char *sql)
{
    char db[300];
    return tu_count_sql(db_of(h, db, sizeof db), sql);
}

/* One sale at `when` of `amount` minor units, with `member` (or none). */
static void sale_at(tu_host *h, const char *receipt, const char *member, int64_t amount,
                    int64_t when)
{
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, receipt, "cas-1", &msg), TP_OK);
    if (member)
        assert_int_equal(h->co->scan(h->plugin, receipt, member, &msg), TP_OK);
    tp_line line = {.sku = "SKU-1", .amount_minor = amount};
    tp_receipt r = {.struct_size = sizeof r, .receipt_id = receipt, .currency = "EUR",
                    .time_ms = when, .lines = &line, .line_count = 1,
                    .line_stride = sizeof line};
    if (h->co->complete(h->plugin, receipt, &r, NULL, &msg) != TP_OK)
        fail_msg("complete %s: %s", receipt, msg.text);
    tu_settle(h);
}

static void adjust(tu_host *h, const char *member, int64_t points)
{
    tu_adjust(h, member, points, "correction");
}

static tp_expiry_result expire(tu_host *h, int64_t as_of, int dry_run)
{
    tp_expiry_result r = {.struct_size = sizeof r};
    tp_message msg;
    if (expiry_of(h)->expire(h->plugin, as_of, dry_run, "mgr-1", NULL, NULL, &r, &msg) != TP_OK)
        fail_msg("expire: %s", msg.text);
    return r;
}

static void expect_run(tp_expiry_result r, uint64_t members, int64_t points, int applied)
{
    if (r.members != members || r.entries != members || r.points != points ||
        r.applied != applied)
        fail_msg("run: %llu members, %llu entries, %lld points, applied %d; want %llu, %llu, "
                 "%lld, %d", (unsigned long long)r.members, (unsigned long long)r.entries,
                 (long long)r.points, r.applied, (unsigned long long)members,
                 (unsigned long long)members, (long long)points, applied);
}

static tp_expiry_next next_of(tu_host *h, const char *member)
{
    tp_expiry_next n = {.struct_size = sizeof n};
    tp_message msg;
    if (expiry_of(h)->member_next(h->plugin, member, &n, &msg) != TP_OK)
        fail_msg("member_next: %s", msg.text);
    return n;
}

static void expiry_instant_is_the_same_time_of_day_months_later_clamped_to_the_month(void **s)
{
    (void)s;
    /* Jan 31 + 1 month: February has no 31st, so its last day. */
    assert_int_equal(tp_expiry_instant(utc(2026, 1, 31, 10), 1), utc(2026, 2, 28, 10));
    /* In a leap year, the 29th. */
    assert_int_equal(tp_expiry_instant(utc(2024, 1, 31, 10), 1), utc(2024, 2, 29, 10));
    /* A leap day + 12 months: 2025 has no Feb 29. + 48 months: 2028 has. */
    assert_int_equal(tp_expiry_instant(utc(2024, 2, 29, 12), 12), utc(2025, 2, 28, 12));
    assert_int_equal(tp_expiry_instant(utc(2024, 2, 29, 12), 48), utc(2028, 2, 29, 12));
    /* Across a year end; to the millisecond. */
    assert_int_equal(tp_expiry_instant(utc(2025, 12, 15, 23) + 59 * 60000 + 999, 1),
                     utc(2026, 1, 15, 23) + 59 * 60000 + 999);
    assert_int_equal(tp_expiry_instant(utc(2025, 3, 31, 0), 120), utc(2035, 3, 31, 0));
    assert_int_equal(tp_expiry_instant(utc(2025, 5, 31, 0), 1), utc(2025, 6, 30, 0));
}

/* Ann earns 10 on 2025-01-31 10:00; with months = 1 they expire at
 * 2025-02-28 10:00: not a millisecond before. */
static void points_expire_at_their_instant_and_not_a_millisecond_before(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    tu_add_member(h, "M-ANN", "Ann");
    sale_at(h, "S-1", "M-ANN", 1000, utc(2025, 1, 31, 10));
    int64_t at = utc(2025, 2, 28, 10);
    expect_run(expire(h, at - 1, 0), 0, 0, 1);
    assert_int_equal(tu_balance(h, "M-ANN"), 10);
    expect_run(expire(h, at, 0), 1, 10, 1);
    assert_int_equal(tu_balance(h, "M-ANN"), 0);
    /* One entry, keyed by the run's day and the member, and covered by an
     * audit record naming the staff member as actor and approver. */
    assert_int_equal(sql_of(h, "SELECT count(*) FROM ledger WHERE kind = 'expire' AND points = "
                               "-10 AND receipt = 'EXP-20250228-1'"), 1);
    assert_int_equal(sql_of(h, "SELECT count(*) FROM audit WHERE action = 'expire' AND actor = "
                               "'mgr-1' AND approver = 'mgr-1' AND points = -10"), 1);
    /* Nothing left to expire. */
    expect_run(expire(h, at + 40 * DAY, 0), 0, 0, 1);
    tu_stop(h, 1);
}

/* A leap day's points, months = 12: 2024-02-29 12:00 -> 2025-02-28 12:00. */
static void a_leap_days_points_expire_on_the_last_day_of_february(void **s)
{
    (void)s;
    tu_host *h = tu_start("[expiry]\nmonths = 12\n");
    tu_add_member(h, "M-LEA", "Lea");
    sale_at(h, "S-1", "M-LEA", 2500, utc(2024, 2, 29, 12));
    tp_expiry_next n = next_of(h, "M-LEA");
    assert_int_equal(n.points, 25);
    assert_int_equal(n.at_ms, utc(2025, 2, 28, 12)); /* past: it goes at the next run */
    expect_run(expire(h, utc(2025, 2, 28, 12) - 1, 0), 0, 0, 1);
    expect_run(expire(h, utc(2025, 2, 28, 12), 0), 1, 25, 1);
    tu_stop(h, 1);
}

/* Lots, months = 1:
 *   S-1 2025-03-01 10:00  +10   expires 2025-04-01 10:00
 *   S-2 2025-03-11 10:00  +20   expires 2025-04-11 10:00
 *   adjustment            -15   takes 10 from S-1 and 5 from S-2 (oldest first)
 *   S-3 2025-03-21 10:00  +30   expires 2025-04-21 10:00
 * Remaining: S-1 0, S-2 15, S-3 30; balance 45. */
static void debits_take_the_oldest_lots_first(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    tu_add_member(h, "M-BOB", "Bob");
    sale_at(h, "S-1", "M-BOB", 1000, utc(2025, 3, 1, 10));
    sale_at(h, "S-2", "M-BOB", 2000, utc(2025, 3, 11, 10));
    adjust(h, "M-BOB", -15);
    sale_at(h, "S-3", "M-BOB", 3000, utc(2025, 3, 21, 10));
    /* S-1's instant: nothing of it is left. */
    expect_run(expire(h, utc(2025, 4, 1, 10), 0), 0, 0, 1);
    /* S-2's: its 15. */
    expect_run(expire(h, utc(2025, 4, 11, 10), 0), 1, 15, 1);
    assert_int_equal(tu_balance(h, "M-BOB"), 30);
    tp_expiry_next n = next_of(h, "M-BOB");
    assert_int_equal(n.points, 30);
    assert_int_equal(n.at_ms, utc(2025, 4, 21, 10));
    /* S-3's: the 30 left; the expire entry before took S-2's 15, not S-3's. */
    expect_run(expire(h, utc(2025, 4, 21, 10), 0), 1, 30, 1);
    assert_int_equal(tu_balance(h, "M-BOB"), 0);
    assert_int_equal(next_of(h, "M-BOB").points, 0);
    assert_int_equal(next_of(h, "M-BOB").at_ms, 0);
    tu_stop(h, 1);
}

/* S-1 +10 (2025-03-01), S-2 +20 (2025-03-11); a refund of 5.00 of S-2
 * reverses 5 points of S-2's lot, not of the older S-1: at S-1's instant
 * all its 10 expire (FIFO would have left 5), at S-2's its 15. */
static void a_reversal_takes_from_the_lot_it_reverses(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    tu_add_member(h, "M-CID", "Cid");
    sale_at(h, "S-1", "M-CID", 1000, utc(2025, 3, 1, 10));
    sale_at(h, "S-2", "M-CID", 2000, utc(2025, 3, 11, 10));
    tp_refund rf = {.struct_size = sizeof rf, .refund_id = "R-1", .receipt_id = "S-2",
                    .currency = "EUR", .amount_minor = 500, .time_ms = utc(2025, 3, 12, 10)};
    tp_message msg;
    assert_int_equal(h->co->refund(h->plugin, &rf, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-CID"), 25);
    expect_run(expire(h, utc(2025, 4, 1, 10), 0), 1, 10, 1);
    expect_run(expire(h, utc(2025, 4, 11, 10), 0), 1, 15, 1);
    assert_int_equal(tu_balance(h, "M-CID"), 0);
    tu_stop(h, 1);
}

static void add_manager(tu_host *h, const char *id, const char *pin)
{
    tp_message msg;
    if (h->ad->managers->manager_add(h->plugin, id, "Manager", pin, "owner", &msg) != TP_OK)
        fail_msg("manager_add: %s", msg.text);
}

/* A missed visit credited later is a lot dated by its receipt: S-9 of 9.00
 * twenty days ago, credited to Dan today, expires a month after S-9. */
static void a_retro_credit_is_a_lot_of_its_receipts_time(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    tu_add_member(h, "M-DAN", "Dan");
    add_manager(h, "mgr-1", PIN);
    sale_at(h, "S-9", NULL, 900, tp_now_ms_for_tests() - 20 * DAY);
    uint64_t f = tu_form_open(h, "retro-visit", "web-desk", "manager", "S-9");
    tu_form_submit(h, f, "customer", "M-DAN", NULL);
    tu_form_submit(h, f, "reason", "forgot the card", "approver", "mgr-1", "pin", PIN, NULL);
    if (!h->dismissed_done)
        fail_msg("credit: %s", h->result);
    int64_t t = sql_of(h, "SELECT time_ms FROM ledger WHERE kind = 'retro'");
    int64_t at = tp_expiry_instant(t, 1);
    assert_true(at > tp_now_ms_for_tests()); /* a month after 20 days ago */
    tp_expiry_next n = next_of(h, "M-DAN");
    assert_int_equal(n.points, 9);
    assert_int_equal(n.at_ms, at);
    expect_run(expire(h, at - 1, 0), 0, 0, 1);
    expect_run(expire(h, at, 0), 1, 9, 1);
    assert_int_equal(tu_balance(h, "M-DAN"), 0);
    tu_stop(h, 1);
}

/* Three members with points due at 2025-06-01: Ann 10, Bob 20 + 5, Cid 0
 * (earned later). A dry run reports 35 points of 2 members and writes
 * nothing; the real run the same figures. */
static void a_dry_run_writes_nothing_and_reports_the_same_figures(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    tu_add_member(h, "M-ANN", "Ann");
    tu_add_member(h, "M-BOB", "Bob");
    tu_add_member(h, "M-CID", "Cid");
    sale_at(h, "S-1", "M-ANN", 1000, utc(2025, 4, 1, 9));
    sale_at(h, "S-2", "M-BOB", 2000, utc(2025, 4, 2, 9));
    sale_at(h, "S-3", "M-BOB", 500, utc(2025, 4, 30, 9));
    sale_at(h, "S-4", "M-CID", 700, utc(2025, 5, 15, 9));
    int64_t as_of = utc(2025, 6, 1, 0);
    int64_t entries = sql_of(h, "SELECT count(*) FROM ledger");
    int64_t records = sql_of(h, "SELECT count(*) FROM audit");
    expect_run(expire(h, as_of, 1), 2, 35, 0);
    assert_int_equal(sql_of(h, "SELECT count(*) FROM ledger"), entries);
    assert_int_equal(sql_of(h, "SELECT count(*) FROM audit"), records);
    expect_run(expire(h, as_of, 0), 2, 35, 1);
    assert_int_equal(sql_of(h, "SELECT count(*) FROM ledger"), entries + 2);
    assert_int_equal(sql_of(h, "SELECT count(*) FROM audit WHERE action = 'expire'"), 1);
    assert_int_equal(tu_balance(h, "M-CID"), 7);
    tu_stop(h, 1);
}

/* Two instances (two processes' worth of connections) on one file. Eve's
 * lots expire 2025-07-01 08:00 (S-1, +10) and 20:00 (S-2, +20). The first
 * instance runs at 12:00 and expires S-1's 10 as EXP-20250701-1. The
 * second runs the same day at 22:00: S-2 is due too, but the day's entry
 * for Eve exists, so it writes nothing (one entry per member and day);
 * S-2's 20 go the next day. */
static void two_runs_the_same_day_write_once(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    tu_add_member(h, "M-EVE", "Eve");
    sale_at(h, "S-1", "M-EVE", 1000, utc(2025, 6, 1, 8));
    sale_at(h, "S-2", "M-EVE", 2000, utc(2025, 6, 1, 20));
    tu_host *other = tu_start(NULL);
    char ini[600];
    snprintf(ini, sizeof ini, "[store]\ndatabase = %s/test.db\n" MONTHS_1, h->dir);
    tu_write_file(other->config, ini);
    tu_restart(other);
    expect_run(expire(h, utc(2025, 7, 1, 12), 0), 1, 10, 1);
    expect_run(expire(other, utc(2025, 7, 1, 22), 1), 0, 0, 0); /* a dry run agrees */
    expect_run(expire(other, utc(2025, 7, 1, 22), 0), 0, 0, 1);
    expect_run(expire(h, utc(2025, 7, 1, 23), 0), 0, 0, 1);
    assert_int_equal(sql_of(h, "SELECT count(*) FROM ledger WHERE kind = 'expire'"), 1);
    assert_int_equal(tu_balance(h, "M-EVE"), 20);
    expect_run(expire(other, utc(2025, 7, 2, 0), 0), 1, 20, 1);
    assert_int_equal(tu_balance(h, "M-EVE"), 0);
    tu_stop(other, 1);
    tu_stop(h, 1);
}

/* With negative balances allowed: Fay earns 10 (2025-02-01), is debited
 * 15 (balance -5: the debt no lot covers). Nothing expires: there is
 * nothing to take. She earns 20 (2025-02-10): the debt takes 5 of it,
 * so 15 expire at its instant and the balance ends at 0, never below. */
static void a_balance_never_goes_below_zero(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1 "[program]\nallow_negative_balance = yes\n");
    tu_add_member(h, "M-FAY", "Fay");
    sale_at(h, "S-1", "M-FAY", 1000, utc(2025, 2, 1, 10));
    adjust(h, "M-FAY", -15);
    expect_run(expire(h, utc(2025, 3, 1, 10), 0), 0, 0, 1);
    assert_int_equal(tu_balance(h, "M-FAY"), -5);
    sale_at(h, "S-2", "M-FAY", 2000, utc(2025, 2, 10, 10));
    expect_run(expire(h, utc(2025, 3, 10, 10), 0), 1, 15, 1);
    assert_int_equal(tu_balance(h, "M-FAY"), 0);
    tu_stop(h, 1);
}

static void expiry_is_off_by_default_and_says_so(void **s)
{
    (void)s;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-GUS", "Gus");
    sale_at(h, "S-1", "M-GUS", 1000, utc(2020, 1, 1, 10));
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    assert_int_equal(h->ad->members->member_get(h->plugin, "M-GUS", &info, &msg), TP_OK);
    assert_int_equal(info.struct_size, sizeof info);
    assert_int_equal(info.expiring_points, 0);
    assert_int_equal(info.expiring_at_ms, 0);
    tp_expiry_next n = next_of(h, "M-GUS");
    assert_int_equal(n.points, 0);
    assert_int_equal(n.at_ms, 0);
    tp_expiry_result r = {.struct_size = sizeof r};
    assert_int_equal(expiry_of(h)->expire(h->plugin, 0, 0, "mgr-1", NULL, NULL, &r, &msg),
                     TP_ERR_STATE);
    assert_string_equal(msg.text, "Points do not expire at this store ([expiry] months = 0).");
    assert_int_equal(sql_of(h, "SELECT count(*) FROM ledger WHERE kind = 'expire'"), 0);
    tu_stop(h, 1);
}

static void months_outside_0_to_120_are_refused_naming_the_key(void **s)
{
    (void)s;
    const char *bad[] = {"121", "-1", "twelve", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_host *h = tu_start(NULL);
        char ini[400], want[600];
        snprintf(ini, sizeof ini, "[store]\ndatabase = test.db\n[expiry]\nmonths = %s\n", bad[i]);
        tu_write_file(h->config, ini);
        h->plugin->destroy(h->plugin);
        tp_message msg;
        h->plugin = tillpoints_entry.create(&h->host, h->config, &msg);
        assert_non_null(h->plugin);
        assert_int_equal(h->plugin->init(h->plugin, &msg), TP_ERR_CONFIG);
        snprintf(want, sizeof want, "%s line 4: [expiry] months must be a whole number of "
                 "months from 0 (points never expire) to 120.", h->config);
        assert_string_equal(msg.text, want);
        tu_stop(h, 1);
    }
}

/* Hal earns 10 two days ago and 5 one day ago, months = 12: the next
 * expiry is 10 points a year after the first sale (the second is on
 * another day). member_get, member_find and the member.identified event
 * of a scan all carry it. */
static void member_lookups_and_the_identified_event_carry_the_next_expiry(void **s)
{
    (void)s;
    tu_host *h = tu_start("[expiry]\nmonths = 12\n");
    tu_add_member(h, "M-HAL", "Hal");
    int64_t now = tp_now_ms_for_tests();
    sale_at(h, "S-1", "M-HAL", 1000, now - 2 * DAY);
    sale_at(h, "S-2", "M-HAL", 500, now - DAY);
    int64_t at = tp_expiry_instant(now - 2 * DAY, 12);
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    assert_int_equal(h->ad->members->member_get(h->plugin, "M-HAL", &info, &msg), TP_OK);
    assert_int_equal(info.expiring_points, 10);
    assert_int_equal(info.expiring_at_ms, at);
    tp_member_info found[2];
    size_t count = 0;
    assert_int_equal(h->ad->members->member_find(h->plugin, "Hal", found, 2, sizeof found[0],
                                                 &count, &msg), TP_OK);
    assert_int_equal(count, 1);
    assert_int_equal(found[0].expiring_points, 10);
    assert_int_equal(found[0].expiring_at_ms, at);
    assert_int_equal(h->co->begin(h->plugin, "S-3", "cas-1", &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "S-3", "M-HAL", &msg), TP_OK);
    tu_settle(h);
    const tu_event *e = tu_find(h, TP_EVENT_MEMBER_IDENTIFIED, NULL);
    assert_int_equal(e->expiring_points, 10);
    assert_int_equal(e->expiring_at_ms, at);
    assert_int_equal(h->co->cancel(h->plugin, "S-3", &msg), TP_OK);
    tu_stop(h, 1);
}

/* The till's own schedule: Ivy's 10 points of 2025-01-05 are long due.
 * With the first run and the checks shortened (TP_EXPIRY_FIRST_RUN_MS,
 * TP_EXPIRY_CHECK_MS, read at init), a restarted instance expires them by
 * itself, logs one line with the figures, records the day, and writes the
 * entry only once however often it checks. */
static void the_schedule_runs_once_a_day_by_itself(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    tu_add_member(h, "M-IVY", "Ivy");
    sale_at(h, "S-1", "M-IVY", 1000, utc(2025, 1, 5, 10));
    setenv("TP_EXPIRY_FIRST_RUN_MS", "20", 1);
    setenv("TP_EXPIRY_CHECK_MS", "20", 1);
    tu_restart(h);
    unsetenv("TP_EXPIRY_FIRST_RUN_MS");
    unsetenv("TP_EXPIRY_CHECK_MS");
    /* Paced by the log: a generous bound, never a fixed sleep as proof. */
    char last[TP_MESSAGE_MAX + 1] = "";
    int64_t until = tp_now_ms_for_tests() + 60000;
    while (!strstr(last, "expiry:") && tp_now_ms_for_tests() < until) {
        (void)tu_logged(h, last, sizeof last);
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    assert_string_equal(last, "expiry: 10 points of 1 members expired (1 entries, [expiry] "
                              "months = 1)");
    int64_t today = tp_now_ms_for_tests() / DAY;
    assert_int_equal(sql_of(h, "SELECT value FROM sync_state WHERE key = 'expiry_last_day'"),
                     today);
    /* Later checks of the same day find it done: let several pass (the
     * log count stays), then the ledger still has one entry. */
    int logs = tu_logged(h, NULL, 0);
    int64_t checks_until = tp_now_ms_for_tests() + 200;
    while (tp_now_ms_for_tests() < checks_until) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(tu_logged(h, NULL, 0), logs);
    assert_int_equal(sql_of(h, "SELECT count(*) FROM ledger WHERE kind = 'expire'"), 1);
    assert_int_equal(sql_of(h, "SELECT count(*) FROM audit WHERE action = 'expire' AND actor = "
                               "'tillpoints-expiry'"), 1);
    assert_int_equal(tu_balance(h, "M-IVY"), 0);
    tu_stop(h, 1);
}

/* destroy() wakes the schedule's wait at once: with the first run a
 * minute away, a restart takes well under that. */
static void destroy_does_not_wait_for_the_schedule(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    tu_clock a = tu_clock_now();
    h->plugin->destroy(h->plugin);
    tu_clock b = tu_clock_now();
    h->plugin = NULL;
    assert_true(tu_wall_ms(&a, &b) < 10000.0);
    tu_stop(h, 1);
}

/* A run stopped (destroy() of a till in the middle of the schedule's run)
 * ends after the chunk it is in; what it wrote stands, and the next run
 * the same day finishes it without writing anyone twice. 600 members of
 * 3 points each (an import, dated now), a run two months on with the stop
 * already asked: one chunk (at most 500 members), then the rest. */
static void a_stopped_run_keeps_its_chunk_and_the_next_run_finishes_it(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    char csv[300];
    snprintf(csv, sizeof csv, "%s/members.csv", h->dir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "code,points\n");
    for (int i = 0; i < 600; i++)
        fprintf(f, "M-%04d,3\n", i);
    fclose(f);
    tp_import_result ir = {.struct_size = sizeof ir};
    tp_message msg;
    if (h->ad->transfer->import_csv(h->plugin, csv, 0, "mgr-1", NULL, NULL, NULL, &ir, &msg) !=
        TP_OK)
        fail_msg("import: %s", msg.text);
    tp_config cfg;
    char db[300];
    if (tp_config_load(&cfg, h->config, &msg) != TP_OK)
        fail_msg("config: %s", msg.text);
    tp_store *st = NULL;
    if (tp_store_open(db_of(h, db, sizeof db), &st, &msg) != TP_OK)
        fail_msg("open: %s", msg.text);
    atomic_int stop;
    atomic_init(&stop, 1);
    int64_t later = tp_now_ms_for_tests() + 62 * DAY;
    tp_expiry_result r;
    assert_int_equal(tp_expiry_run(st, &cfg, later, 0, "mgr-1", NULL, NULL, &stop, &r, &msg),
                     TP_ERR_STATE);
    /* A chunk also ends after 50 ms, so on a slow machine (valgrind) the
     * first one may hold fewer than 500. */
    uint64_t first = r.members;
    assert_true(first >= 1 && first <= 500);
    char want[200];
    snprintf(want, sizeof want, "The expiry run stopped (loyalty is shutting down) after %llu "
             "members; the next run finishes it.", (unsigned long long)first);
    assert_string_equal(msg.text, want);
    expect_run(r, first, 3 * (int64_t)first, 1);
    atomic_store(&stop, 0);
    assert_int_equal(tp_expiry_run(st, &cfg, later, 0, "mgr-1", NULL, NULL, &stop, &r, &msg),
                     TP_OK);
    expect_run(r, 600 - first, 3 * (int64_t)(600 - first), 1);
    tp_store_close(st);
    assert_int_equal(sql_of(h, "SELECT count(DISTINCT member_id) || count(*) FROM ledger WHERE "
                               "kind = 'expire'"), 600600);
    assert_true(sql_of(h, "SELECT count(*) FROM audit WHERE action = 'expire'") >= 2);
    assert_int_equal(sql_of(h, "SELECT sum(ledger_count) FROM audit WHERE action = 'expire'"),
                     600);
    assert_int_equal(sql_of(h, "SELECT sum(points) FROM ledger"), 0);
    tu_stop(h, 1);
}

/* A back office (the CLI, the web) starts no schedule of its own: the
 * till's process does that. The call a manager makes still works there. */
static void a_back_office_runs_no_schedule(void **s)
{
    (void)s;
    tu_host *h = tu_start(MONTHS_1);
    assert_non_null(tp_instance_of(h->plugin)->expiry_sched); /* a till has one */
    tu_add_member(h, "M-JO", "Jo");
    sale_at(h, "S-1", "M-JO", 1000, utc(2025, 1, 5, 10));
    h->plugin->destroy(h->plugin);
    h->back_office = 1;
    tp_message msg;
    h->plugin = tillpoints_entry.create(&h->host, h->config, &msg);
    assert_non_null(h->plugin);
    assert_int_equal(h->plugin->init(h->plugin, &msg), TP_OK);
    tu_attach(h);
    assert_null(tp_instance_of(h->plugin)->expiry_sched);
    expect_run(expire(h, 0, 1), 1, 10, 0);
    assert_int_equal(sql_of(h, "SELECT count(*) FROM ledger WHERE kind = 'expire'"), 0);
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expiry_instant_is_the_same_time_of_day_months_later_clamped_to_the_month),
        cmocka_unit_test(points_expire_at_their_instant_and_not_a_millisecond_before),
        cmocka_unit_test(a_leap_days_points_expire_on_the_last_day_of_february),
        cmocka_unit_test(debits_take_the_oldest_lots_first),
        cmocka_unit_test(a_reversal_takes_from_the_lot_it_reverses),
        cmocka_unit_test(a_retro_credit_is_a_lot_of_its_receipts_time),
        cmocka_unit_test(a_dry_run_writes_nothing_and_reports_the_same_figures),
        cmocka_unit_test(two_runs_the_same_day_write_once),
        cmocka_unit_test(a_balance_never_goes_below_zero),
        cmocka_unit_test(expiry_is_off_by_default_and_says_so),
        cmocka_unit_test(months_outside_0_to_120_are_refused_naming_the_key),
        cmocka_unit_test(member_lookups_and_the_identified_event_carry_the_next_expiry),
        cmocka_unit_test(the_schedule_runs_once_a_day_by_itself),
        cmocka_unit_test(destroy_does_not_wait_for_the_schedule),
        cmocka_unit_test(a_stopped_run_keeps_its_chunk_and_the_next_run_finishes_it),
        cmocka_unit_test(a_back_office_runs_no_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
