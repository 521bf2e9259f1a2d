/* Tests for plugin/retro.c and plugin/ui.c: the retroactive-visit dialog,
 * the missed-scan queue and corrections, through the ui extension exactly
 * as a host drives it (present/submit/dismiss on the main thread), on real
 * database files. */
#include <sqlite3.h>

#include "testutil.h"

#define CONF "[retro]\nmax_points_per_credit = 100\nmax_points_per_manager_day = 150\n" \
             "pin_max_failures = 3\npin_lockout_seconds = 600\n"

typedef struct ctx {
    tu_host *h;
    const tp_ui_ext *ui;
    uint64_t form;
} ctx;

static void settle(ctx *c)
{
    tu_settle(c->h);
}

static void open_form(ctx *c, const char *action, const char *staff, const char *role,
                      const char *prefill)
{
    tp_staff who = {.id = staff, .role = role};
    tp_message msg;
    if (c->ui->open(c->h->plugin, action, &who, prefill, &c->form, &msg) != TP_OK)
        fail_msg("open %s: %s", action, msg.text);
    settle(c);
}

/* submit(c, "field", "value", ..., NULL) */
static void submit(ctx *c, ...)
{
    tp_form_answer a[TP_FORM_ANSWERS_MAX];
    size_t n = 0;
    va_list ap;
    va_start(ap, c);
    for (;;) {
        const char *id = va_arg(ap, const char *);
        if (!id)
            break;
        a[n].field_id = id;
        a[n].value = va_arg(ap, const char *);
        n++;
    }
    va_end(ap);
    tp_message msg;
    if (c->ui->submit(c->h->plugin, c->form, a, n, &msg) != TP_OK)
        fail_msg("submit: %s", msg.text);
    settle(c);
}

static const char *field_error(ctx *c, const char *id)
{
    int i = tu_field(c->h, id);
    return i < 0 ? "" : c->h->form.error[i];
}

static int64_t q(ctx *c, const char *sql)
{
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", c->h->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void raw(ctx *c, const char *sql)
{
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", c->h->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
}

static int setup(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    c->h = tu_start(CONF);
    c->ui = c->h->plugin->get_extension(c->h->plugin, TP_EXT_UI);
    assert_non_null(c->ui);
    tp_member_new bob = {.code = "M-1002", .name = "Bob Sample", .phone = "0151 2345 6789"};
    tp_member_new ann = {.code = "M-1001", .name = "Ann Other", .email = "ann@example.com"};
    tp_message msg;
    assert_int_equal(c->h->ad->member_add(c->h->plugin, &bob, NULL, &msg), TP_OK);
    assert_int_equal(c->h->ad->member_add(c->h->plugin, &ann, NULL, &msg), TP_OK);
    if (c->h->ad->manager_add(c->h->plugin, "mgr-1", "Mia Manager", "4711", "owner", &msg) != TP_OK)
        fail_msg("manager_add: %s", msg.text);
    assert_int_equal(tu_sale(c->h, "S-1", NULL, 2799, &msg), TP_OK); /* 27 points */
    assert_int_equal(tu_sale(c->h, "S-2", NULL, 900, &msg), TP_OK);  /* 9 points */
    assert_int_equal(tu_sale(c->h, "S-3", "M-1001", 500, &msg), TP_OK); /* live: 5 */
    settle(c);
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

static void manager_credits_a_missed_visit_from_the_journal(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "mgr-1", "manager", NULL);
    assert_true(tu_field(c->h, "customer") >= 0);
    submit(c, "customer", "+49 151 23456789", NULL);
    /* Receipt step: the recent unclaimed receipts are offered. */
    int recent = tu_field(c->h, "recent");
    assert_true(recent >= 0);
    assert_int_equal(c->h->form.n_choices[recent], 2); /* S-1, S-2 (S-3 earned live) */
    submit(c, "recent", "S-1", NULL);
    int pts = tu_field(c->h, "points");
    assert_true(pts >= 0);
    assert_string_equal(c->h->form.value[pts], "27");
    assert_int_equal(tu_field(c->h, "pin"), -1); /* a manager approves herself */
    submit(c, "reason", "forgot her card", NULL);
    assert_int_equal(c->h->dismissed, 1);
    assert_true(c->h->dismissed_done);
    assert_non_null(strstr(c->h->result, "Credited 27 points"));
    assert_int_equal(tu_balance(c->h, "M-1002"), 27);
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro' AND receipt = 'S-1'"
                          " AND reason = 'forgot her card' AND staff = 'mgr-1'"), 1);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'retro.credit'"
                          " AND approver = 'mgr-1' AND points = 27"), 1);
}

static void each_refusal_is_a_sentence_on_the_form_and_changes_nothing(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "mgr-1", "manager", NULL);
    submit(c, "customer", "nobody-at-all", NULL);
    assert_non_null(strstr(field_error(c, "customer"), "No member matches"));
    submit(c, "customer", "M-1002", NULL);
    /* Already credited live. */
    submit(c, "receipt", "S-3", NULL);
    assert_non_null(strstr(field_error(c, "receipt"), "already earned points (at the till"));
    /* Not in the journal. */
    submit(c, "receipt", "S-404", NULL);
    assert_non_null(strstr(field_error(c, "receipt"), "not in this till's journal"));
    /* Typed amount differs from the journal. */
    submit(c, "receipt", "S-2", "amount", "19.00", NULL);
    assert_non_null(strstr(field_error(c, "amount"), "The journal has 9.00 EUR"));
    /* From the future and outside the window (journal rows edited the way
     * a wrong clock or an old receipt would have written them). */
    raw(c, "DROP TRIGGER receipts_no_update;"
           "UPDATE receipts SET time_ms = time_ms + 5 * 86400000 WHERE receipt = 'S-2';"
           "UPDATE receipts SET time_ms = time_ms - 40 * 86400000 WHERE receipt = 'S-1';");
    submit(c, "receipt", "S-2", NULL);
    assert_non_null(strstr(field_error(c, "receipt"), "in the future"));
    submit(c, "receipt", "S-1", NULL);
    assert_non_null(strstr(field_error(c, "receipt"), "older than the 30 days"));
    tp_message msg;
    assert_int_equal(c->ui->cancel(c->h->plugin, c->form, &msg), TP_OK);
    settle(c);
    assert_int_equal(c->h->dismissed, 1);
    assert_false(c->h->dismissed_done);
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro'"), 0);
}

static void caps_are_enforced_and_denials_audited(void **state)
{
    ctx *c = *state;
    tp_message msg;
    assert_int_equal(tu_sale(c->h, "BIG", NULL, 15000, &msg), TP_OK); /* 150 > 100 */
    settle(c);
    open_form(c, "retro-visit", "mgr-1", "manager", "BIG");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "big basket", NULL);
    assert_int_equal(c->h->dismissed, 0);
    assert_true(c->h->form.is_error);
    assert_non_null(strstr(c->h->form.message, "more than one retroactive credit may carry"));
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'retro.denied'"), 1);
    assert_int_equal(tu_balance(c->h, "M-1002"), 0);
}

static void cashier_needs_a_manager_pin_and_lockout_survives_a_restart(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "cas-7", "cashier", NULL);
    submit(c, "customer", "ann@EXAMPLE.com", NULL);
    submit(c, "recent", "S-2", NULL);
    assert_true(tu_field(c->h, "pin") >= 0);
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "0000", NULL);
    assert_true(field_error(c, "pin")[0] != '\0');
    assert_int_equal(tu_balance(c->h, "M-1001"), 5);
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "1111", NULL);
    int64_t before_lock = tp_now_ms_for_tests();
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "2222", NULL); /* 3rd: lock */
    int64_t after_lock = tp_now_ms_for_tests();
    /* Locked for the configured 600 s from the third failure. */
    int64_t until = q(c, "SELECT locked_until_ms FROM managers WHERE id = 'mgr-1'");
    assert_true(until >= before_lock + 600000 && until <= after_lock + 600000);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'pin.failure'"), 3);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'pin.lockout'"), 1);
    /* A restart does not lift the lockout: even the right PIN is refused. */
    tu_restart(c->h);
    c->ui = c->h->plugin->get_extension(c->h->plugin, TP_EXT_UI);
    open_form(c, "retro-visit", "cas-7", "cashier", "S-2");
    submit(c, "customer", "M-1001", NULL);
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "4711", NULL);
    assert_non_null(strstr(field_error(c, "approver"), "locked until"));
    assert_int_equal(tu_balance(c->h, "M-1001"), 5);
    /* After the lockout the right PIN works. The lockout is long (600 s)
     * so that no machine is too slow to see the refusal above; its end is
     * brought to the moment just past, in the database the plugin reads
     * it from, instead of waiting for it. */
    {
        char sql[160];
        int64_t just_past = tp_now_ms_for_tests() - 1;
        snprintf(sql, sizeof sql,
                 "UPDATE managers SET locked_until_ms = %lld WHERE id = 'mgr-1'",
                 (long long)just_past);
        q(c, sql);
        assert_int_equal(q(c, "SELECT locked_until_ms FROM managers WHERE id = 'mgr-1'"),
                         just_past);
    }
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "4711", NULL);
    assert_int_equal(c->h->dismissed, 1);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1001"), 14);
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro' AND staff = 'cas-7'"),
                     1);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'retro.credit'"
                          " AND actor = 'cas-7' AND approver = 'mgr-1'"), 1);
    /* The activity log shows who did it and who approved it. */
    tp_activity_row rows[4];
    size_t n = 0;
    tp_activity_query aq = {.limit = 4, .kinds = TP_KIND_RETRO};
    tp_message msg;
    assert_int_equal(c->h->ad->activity(c->h->plugin, &aq, rows, &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].staff, "cas-7");
    assert_string_equal(rows[0].approver, "mgr-1");
    assert_string_equal(rows[0].reason, "dead phone");
}

static void a_parked_claim_is_resolved_from_the_queue(void **state)
{
    ctx *c = *state;
    open_form(c, "missed-scan-claim", "cas-7", "cashier", "S-1");
    submit(c, "phone", "0151 2345 6789", "note", "phone was dead", NULL);
    assert_true(c->h->dismissed_done);
    assert_non_null(strstr(c->h->result, "Claim parked for receipt S-1"));
    open_form(c, "missed-scan-queue", "mgr-1", "manager", NULL);
    int claim = tu_field(c->h, "claim");
    assert_true(claim >= 0);
    assert_int_equal(c->h->form.n_choices[claim], 1);
    assert_non_null(strstr(c->h->form.clabel[claim][0], "S-1"));
    assert_null(strstr(c->h->form.clabel[claim][0], "23456789")); /* contact masked */
    submit(c, "claim", c->h->form.ckey[claim][0], NULL);
    /* The customer field is prefilled with the claim's contact. */
    int cust = tu_field(c->h, "customer");
    assert_string_equal(c->h->form.value[cust], "+4915123456789");
    submit(c, "customer", c->h->form.value[cust], NULL);
    submit(c, "reason", "claimed at the counter", NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1002"), 27);
    assert_int_equal(q(c, "SELECT count(*) FROM claim_resolutions WHERE outcome = 'credited'"), 1);
    /* The queue is empty now. */
    int before = c->h->dismissed;
    open_form(c, "missed-scan-queue", "mgr-1", "manager", NULL);
    assert_int_equal(c->h->dismissed, before + 1);
    assert_non_null(strstr(c->h->result, "no open claims"));
}

static void a_claim_can_be_dismissed_with_a_reason(void **state)
{
    ctx *c = *state;
    open_form(c, "missed-scan-claim", "cas-7", "cashier", "S-2");
    submit(c, NULL);
    open_form(c, "missed-scan-queue", "mgr-1", "manager", NULL);
    int claim = tu_field(c->h, "claim");
    submit(c, "claim", c->h->form.ckey[claim][0], "dismiss_reason", "customer not a member", NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(q(c, "SELECT count(*) FROM claim_resolutions WHERE outcome = 'dismissed'"),
                     1);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'claim.dismiss'"), 1);
}

static void the_printed_receipt_code_opens_the_dialog_filled(void **state)
{
    ctx *c = *state;
    tp_message msg;
    assert_int_equal(tu_sale(c->h, "S-9", NULL, 1200, &msg), TP_OK);
    settle(c);
    const tu_event *e = tu_last(c->h);
    assert_int_equal(e->kind, TP_EVENT_AWARD_COMMITTED);
    assert_string_equal(e->receipt, "S-9");
    assert_int_equal(strncmp(e->receipt_code, "TPR1|store-1|S-9|", 17), 0);
    char code[200];
    snprintf(code, sizeof code, "%s", e->receipt_code);
    /* A forged code (wrong check) fills nothing. */
    open_form(c, "retro-visit", "mgr-1", "manager", "TPR1|store-1|S-9|00000000");
    assert_null(strstr(c->h->form.message, "S-9"));
    assert_int_equal(c->ui->cancel(c->h->plugin, c->form, &msg), TP_OK);
    settle(c);
    /* The real one: find the customer, then straight to approval. */
    open_form(c, "retro-visit", "mgr-1", "manager", code);
    assert_non_null(strstr(c->h->form.message, "Receipt S-9 will be credited"));
    submit(c, "customer", "M-1002", NULL);
    int pts = tu_field(c->h, "points");
    assert_true(pts >= 0);
    assert_string_equal(c->h->form.value[pts], "12");
    submit(c, "reason", "scanned the receipt", NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1002"), 12);
}

static void credited_the_wrong_customer_is_corrected_in_one_step(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "mgr-1", "manager", "S-1");
    submit(c, "customer", "M-1001", NULL); /* wrong customer: Ann */
    submit(c, "reason", "missed scan", NULL);
    assert_int_equal(tu_balance(c->h, "M-1001"), 5 + 27);
    open_form(c, "correct-credit", "mgr-1", "manager", "S-1");
    submit(c, "receipt", "S-1", "customer", "M-1002", "reason", "wrong customer", NULL);
    assert_true(c->h->dismissed_done);
    assert_non_null(strstr(c->h->result, "Moved 27 points of receipt S-1"));
    assert_int_equal(tu_balance(c->h, "M-1001"), 5);
    assert_int_equal(tu_balance(c->h, "M-1002"), 27);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'correction'"), 1);
    tp_verify_result r;
    tp_message msg;
    assert_int_equal(c->h->ad->verify(c->h->plugin, NULL, NULL, &r, &msg), TP_OK);
    /* The audit chain is intact, and a tampered record is detected. */
    raw(c, "DROP TRIGGER audit_no_update; UPDATE audit SET points = 999"
           " WHERE action = 'correction';");
    assert_int_equal(c->h->ad->verify(c->h->plugin, NULL, NULL, &r, &msg), TP_ERR_INTERNAL);
    assert_true(r.problems >= 2); /* the changed record and the missing trigger */
}

static void a_manual_credit_needs_the_config_is_capped_and_marked(void **state)
{
    ctx *c = *state;
    /* Not allowed by default: an unjournaled receipt is refused. */
    open_form(c, "retro-visit", "mgr-1", "manager", "PAPER-7");
    submit(c, "customer", "M-1002", NULL);
    assert_true(tu_field(c->h, "manual_amount") < 0);
    assert_non_null(strstr(field_error(c, "receipt"),
                           "only journaled receipts can be credited here"));
    tp_message msg;
    assert_int_equal(c->ui->cancel(c->h->plugin, c->form, &msg), TP_OK);
    settle(c);
    /* Allowed: capped at manual_max_points, and marked manual. */
    tu_stop(c->h, 1);
    c->h = tu_start(CONF "allow_manual = yes\nmanual_max_points = 10\n");
    c->ui = c->h->plugin->get_extension(c->h->plugin, TP_EXT_UI);
    tu_add_member(c->h, "M-1002", "Bob Sample");
    open_form(c, "retro-visit", "mgr-1", "manager", "PAPER-7");
    assert_int_equal(c->h->ad->manager_add(c->h->plugin, "mgr-1", "Mia", "4711", "owner", &msg),
                     TP_OK);
    submit(c, "customer", "M-1002", NULL);
    assert_true(tu_field(c->h, "manual_amount") >= 0);
    submit(c, "receipt", "PAPER-7", "manual_amount", "25.00", NULL); /* 25 > 10 */
    submit(c, "reason", "paper receipt from the outage", NULL);
    assert_true(c->h->form.is_error);
    assert_non_null(strstr(c->h->form.message, "more than one manual credit may carry (10)"));
    assert_int_equal(tu_balance(c->h, "M-1002"), 0);
    c->h->dismissed = 0;
    open_form(c, "retro-visit", "mgr-1", "manager", "PAPER-8");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "receipt", "PAPER-8", "manual_amount", "8.50", NULL);
    submit(c, "reason", "paper receipt from the outage", NULL);
    assert_true(c->h->dismissed_done);
    assert_non_null(strstr(c->h->result, "(manual)"));
    assert_int_equal(tu_balance(c->h, "M-1002"), 8);
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro'"
                          " AND receipt LIKE 'MANUAL-%' AND reason LIKE 'manual: %'"), 1);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'retro.credit'"
                          " AND detail LIKE 'manual credit%'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(manager_credits_a_missed_visit_from_the_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(each_refusal_is_a_sentence_on_the_form_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(caps_are_enforced_and_denials_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(cashier_needs_a_manager_pin_and_lockout_survives_a_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(a_parked_claim_is_resolved_from_the_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(a_claim_can_be_dismissed_with_a_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(the_printed_receipt_code_opens_the_dialog_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(credited_the_wrong_customer_is_corrected_in_one_step, setup, teardown),
        cmocka_unit_test_setup_teardown(a_manual_credit_needs_the_config_is_capped_and_marked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
