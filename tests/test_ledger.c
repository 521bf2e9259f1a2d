/* Tests for plugin/ledger.c: adjustments, bulk adjustments, the activity
 * log and its paging, through the admin extension on real files. */
#include "testutil.h"

static tp_status adjust(tu_host *h, const char *member, int64_t points, tp_message *msg)
{
    tp_adjustment a = {.member = member, .points = points, .reason = "goodwill",
                       .comment = "Sorry for the wait", .staff = "mgr-1"};
    return h->ad->adjust(h->plugin, &a, NULL, msg);
}

static void adjustment_records_reason_comment_and_staff(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tp_adjustment a = {.member = "M-0001", .points = 25, .reason = "broken cup",
                       .comment = "A small thank-you", .staff = "mgr-1"};
    tp_activity_row e;
    tp_message msg;
    assert_int_equal(h->ad->adjust(h->plugin, &a, &e, &msg), TP_OK);
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
        tp_status st = h->ad->adjust(h->plugin, &cases[i], NULL, &msg);
        if (st == TP_OK)
            fail_msg("case %zu accepted", i);
        assert_true(msg.text[0] != '\0');
    }
    assert_int_equal(tu_balance(h, "M-0001"), 0);
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
    tp_bulk_result r;
    const char *bad_list[] = {"M-0001", "NOBODY", "M-0003"};
    tp_bulk_adjustment b = {.members = bad_list, .member_count = 3, .points = 10,
                            .reason = "launch", .staff = "mgr"};
    assert_int_equal(h->ad->bulk_adjust(h->plugin, &b, NULL, NULL, &r, &msg), TP_ERR_NOT_FOUND);
    assert_non_null(strstr(msg.text, "Member 2 of the list"));
    assert_int_equal(tu_balance(h, "M-0001"), 0);
    const char *twice[] = {"M-0001", "M-0001"};
    b.members = twice;
    b.member_count = 2;
    assert_int_equal(h->ad->bulk_adjust(h->plugin, &b, NULL, NULL, &r, &msg), TP_ERR_DUPLICATE);
    assert_int_equal(tu_balance(h, "M-0001"), 0);
    tp_bulk_adjustment all = {.all_members = 1, .points = 7, .reason = "launch", .staff = "mgr"};
    assert_int_equal(h->ad->bulk_adjust(h->plugin, &all, NULL, NULL, &r, &msg), TP_OK);
    assert_int_equal(r.members, 3);
    assert_int_equal(r.points_total, 21);
    assert_int_equal(tu_balance(h, "M-0003"), 7);
    /* A negative bulk that would overdraw one member touches none. */
    assert_int_equal(adjust(h, "M-0002", 5, &msg), TP_OK);
    tp_bulk_adjustment minus = {.all_members = 1, .points = -10, .reason = "fix", .staff = "mgr"};
    assert_int_equal(h->ad->bulk_adjust(h->plugin, &minus, NULL, NULL, &r, &msg), TP_ERR_STATE);
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
    tp_refund rf = {.refund_id = "F-1", .receipt_id = "R-6", .currency = "EUR", .full = 1};
    assert_int_equal(h->co->refund(h->plugin, &rf, &msg), TP_OK);
    tu_settle(h);

    tp_activity_row rows[10];
    size_t n = 0;
    tp_activity_query q = {.limit = 3};
    assert_int_equal(h->ad->activity(h->plugin, &q, rows, &n, &msg), TP_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].kind, "reversal");
    assert_int_equal(rows[0].points, -7);
    assert_string_equal(rows[1].kind, "adjust");
    /* Walk all pages: 7 earns + 1 adjust + 1 reversal, no repeats. */
    int total = 0;
    int64_t before = 0, last = INT64_MAX;
    for (;;) {
        tp_activity_query p = {.limit = 4, .before_id = before};
        assert_int_equal(h->ad->activity(h->plugin, &p, rows, &n, &msg), TP_OK);
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
    tp_activity_query by_member = {.limit = 10, .member = "M-0002", .kinds = TP_KIND_EARN};
    assert_int_equal(h->ad->activity(h->plugin, &by_member, rows, &n, &msg), TP_OK);
    assert_int_equal(n, 3); /* */
    tp_activity_query by_staff = {.limit = 10, .staff = "mgr-1"};
    assert_int_equal(h->ad->activity(h->plugin, &by_staff, rows, &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    tp_activity_query future = {.limit = 10, .from_ms = tp_now_ms_for_tests() + 3600000};
    assert_int_equal(h->ad->activity(h->plugin, &future, rows, &n, &msg), TP_OK);
    assert_int_equal(n, 0);
    tp_activity_query bad = {.limit = 0};
    assert_int_equal(h->ad->activity(h->plugin, &bad, rows, &n, &msg), TP_ERR_INVALID_ARGUMENT);
    tp_activity_query nobody = {.limit = 5, .member = "NOBODY"};
    assert_int_equal(h->ad->activity(h->plugin, &nobody, rows, &n, &msg), TP_ERR_NOT_FOUND);
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adjustment_records_reason_comment_and_staff),
        cmocka_unit_test(adjustment_never_overdraws_unless_configured),
        cmocka_unit_test(bad_adjustments_are_refused_and_change_nothing),
        cmocka_unit_test(bulk_adjustment_is_all_or_nothing),
        cmocka_unit_test(activity_filters_and_pages_newest_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
