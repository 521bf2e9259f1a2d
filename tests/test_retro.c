/* Tests for plugin/retro.c and plugin/ui.c: the retroactive-visit dialog,
 * the missed-scan queue and corrections, through the ui extension exactly
 * as a host drives it (present/submit/dismiss on the main thread), on real
 * database files.
 *
 * What the host says about its staff is never enough to move points: every
 * path that credits, corrects or resolves a claim is tried here with the
 * role "manager" and a made-up id, an enrolled id without or with a wrong
 * PIN, and shown to write nothing; only an enrolled manager's PIN (or, when
 * a store opts in with trust_host_managers, the host's login of an
 * enrolled manager) approves. */
#include <sqlite3.h>

#include "testutil.h"

#define CONF "[retro]\nmax_points_per_credit = 100\nmax_points_per_manager_day = 150\n" \
             "pin_max_failures = 3\npin_lockout_seconds = 600\n"
#define PIN "583920"
#define WRONG "Wrong manager id or PIN; after 3 wrong PINs in a row a manager is locked."

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
    c->form = tu_form_open(c->h, action, staff, role, prefill);
}

/* submit(c, "field", "value", ..., NULL) */
static void submit(ctx *c, ...)
{
    va_list ap;
    va_start(ap, c);
    tu_form_vsubmit(c->h, c->form, ap);
    va_end(ap);
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

/* Members Bob and Ann, three sales (S-1 27 points and S-2 9 points without
 * a member, S-3 earned live by Ann), on a database with no manager. */
static ctx *start(const char *conf)
{
    ctx *c = calloc(1, sizeof *c);
    c->h = tu_start(conf);
    c->ui = c->h->plugin->get_extension(c->h->plugin, TP_EXT_UI);
    assert_non_null(c->ui);
    tp_member_new bob = {.struct_size = sizeof bob, .code = "M-1002", .name = "Bob Sample",
                         .phone = "0151 2345 6789"};
    tp_member_new ann = {.struct_size = sizeof ann, .code = "M-1001", .name = "Ann Other",
                         .email = "ann@example.com"};
    tp_message msg;
    assert_int_equal(c->h->ad->members->member_add(c->h->plugin, &bob, NULL, &msg), TP_OK);
    assert_int_equal(c->h->ad->members->member_add(c->h->plugin, &ann, NULL, &msg), TP_OK);
    assert_int_equal(tu_sale(c->h, "S-1", NULL, 2799, &msg), TP_OK); /* 27 points */
    assert_int_equal(tu_sale(c->h, "S-2", NULL, 900, &msg), TP_OK);  /* 9 points */
    assert_int_equal(tu_sale(c->h, "S-3", "M-1001", 500, &msg), TP_OK); /* live: 5 */
    settle(c);
    return c;
}

static void add_manager(ctx *c)
{
    tp_message msg;
    if (c->h->ad->managers->manager_add(c->h->plugin, "mgr-1", "Mia Manager", PIN, "owner", &msg) !=
        TP_OK)
        fail_msg("manager_add: %s", msg.text);
}

/* The usual store: manager mgr-1 with PIN. */
static int setup(void **state)
{
    ctx *c = start(CONF);
    add_manager(c);
    *state = c;
    return 0;
}

/* A store where nobody was ever enrolled as a manager. */
static int setup_no_manager(void **state)
{
    *state = start(CONF);
    return 0;
}

/* A store that trusts the host's manager login (lockouts of a minute, so
 * that one outlasts the test). */
static int setup_trusting(void **state)
{
    ctx *c = start(CONF "trust_host_managers = yes\npin_lockout_seconds = 60\n");
    add_manager(c);
    *state = c;
    return 0;
}

/* A stamp card: one stamp a visit, at least 5.00 spent. */
static int setup_visits(void **state)
{
    ctx *c = start(CONF "[program]\nkind = visits\nmin_eligible_minor = 500\n");
    add_manager(c);
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


/* The value of field `id` of the form last presented. */
static const char *value_of(ctx *c, const char *id)
{
    int i = tu_field(c->h, id);
    return i < 0 ? "(no such field)" : c->h->form.value[i];
}

static tp_manager_info manager(ctx *c, const char *id)
{
    tp_manager_info rows[4];
    size_t n = 0;
    tp_message msg;
    assert_int_equal(
        c->h->ad->managers->manager_list(c->h->plugin, rows, 4, sizeof rows[0], &n, &msg), TP_OK);
    for (size_t i = 0; i < n && i < 4; i++)
        if (strcmp(rows[i].id, id) == 0)
            return rows[i];
    fail_msg("manager %s not listed", id);
    return rows[0];
}

/* Waits until the lockout the plugin reports for `id` has passed. */
/* Ends a lockout now, in the database the plugin reads it from. The
 * lockouts are long (600 s and more) so that no machine is too slow to see
 * the refusals; instead of waiting for one to pass, its end is brought to
 * the moment just past. */
static void end_lockout(ctx *c, const char *id)
{
    int64_t until = manager(c, id).locked_until_ms;
    assert_true(until > tp_now_ms_for_tests());
    char sql[160];
    int64_t just_past = tp_now_ms_for_tests() - 1;
    snprintf(sql, sizeof sql, "UPDATE managers SET locked_until_ms = %lld WHERE id = '%s'",
             (long long)just_past, id);
    q(c, sql);
    assert_int_equal(manager(c, id).locked_until_ms, just_past);
}

/* Nothing was credited, moved or closed since setup. */
static void nothing_moved(ctx *c)
{
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind IN ('retro', 'reversal')"), 0);
    assert_int_equal(q(c, "SELECT count(*) FROM claim_resolutions"), 0);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action IN ('retro.credit',"
                          " 'correction', 'claim.dismiss')"), 0);
    assert_int_equal(tu_balance(c->h, "M-1002"), 0);
    assert_int_equal(tu_balance(c->h, "M-1001"), 5);
}

static void cancel(ctx *c)
{
    tp_message msg;
    assert_int_equal(c->ui->cancel(c->h->plugin, c->form, &msg), TP_OK);
    settle(c);
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
    assert_string_equal(value_of(c, "points"), "27");
    /* The host's role prefills the approver; the PIN is still asked. */
    assert_string_equal(value_of(c, "approver"), "mgr-1");
    assert_true(tu_field(c->h, "pin") >= 0);
    submit(c, "reason", "forgot her card", "approver", "mgr-1", "pin", PIN, NULL);
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
    assert_non_null(strstr(field_error(c, "receipt"), "later than this till's clock allows"));
    submit(c, "receipt", "S-1", NULL);
    assert_non_null(strstr(field_error(c, "receipt"), "older than the 30 days"));
    cancel(c);
    assert_int_equal(c->h->dismissed, 1);
    assert_false(c->h->dismissed_done);
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro'"), 0);
}

/* An answer longer than its field takes is refused on that field, not cut
 * (a reason cut to nothing was told it was missing); one longer than any
 * answer, or not UTF-8 text, is refused by submit itself. Nothing moves. */
static void an_answer_too_long_for_its_field_says_so_on_the_field(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "mgr-1", "manager", NULL);
    submit(c, "customer", "M-1002", NULL);
    submit(c, "recent", "S-2", NULL);
    char reason[TP_REASON_MAX + 2];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    submit(c, "reason", reason, "approver", "mgr-1", "pin", PIN, NULL);
    assert_string_equal(field_error(c, "reason"),
                        "This answer is 201 bytes long; the field takes at most 200 (a letter "
                        "with an accent takes two). Shorten it.");
    assert_string_equal(value_of(c, "reason"), reason);
    assert_int_equal(tu_balance(c->h, "M-1002"), 0);

    char huge[TP_FIELD_VALUE_MAX + 2];
    memset(huge, 'r', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    tp_form_answer a[] = {{.field_id = "reason", .value = huge}};
    tp_message msg;
    assert_int_equal(c->ui->submit(c->h->plugin, c->form, a, 1, sizeof(tp_form_answer), &msg),
                     TP_ERR_TOO_LONG);
    assert_non_null(strstr(msg.text, "The answer to reason is longer than 256 bytes"));
    a[0].value = "caf\xe9 receipt";
    assert_int_equal(c->ui->submit(c->h->plugin, c->form, a, 1, sizeof(tp_form_answer), &msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(msg.text, "The answer to reason is not valid UTF-8 text; type it again, "
                                  "or save the file it came from as UTF-8.");

    submit(c, "reason", "caf\xc3\xa9 receipt", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1002"), 9);
}

/* A stamp card's forms and their results speak of stamps; a visit below
 * the minimum is refused with the reason, not "no points". */
static void a_visits_program_credits_stamps_in_its_own_words(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "mgr-1", "manager", NULL);
    submit(c, "customer", "M-1002", NULL);
    submit(c, "recent", "S-1", NULL);
    assert_string_equal(value_of(c, "points"), "1");
    assert_string_equal(c->h->form.submit, "Credit 1 stamp");
    submit(c, "reason", "forgot her card", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_non_null(strstr(c->h->result, "Credited 1 stamp to Bob Sample"));
    assert_null(strstr(c->h->result, "point"));
    assert_int_equal(tu_balance(c->h, "M-1002"), 1);

    /* S-2 (9.00) qualifies, and S-4 (4.00) is below the minimum. */
    tp_message msg;
    assert_int_equal(tu_sale(c->h, "S-4", NULL, 400, &msg), TP_OK);
    settle(c);
    open_form(c, "retro-visit", "mgr-1", "manager", "S-4");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "small visit", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->form.is_error);
    assert_string_equal(c->h->form.message,
                        "Receipt S-4 earns no stamps: its eligible amount, 4.00 EUR, is below the "
                        "store's minimum of 5.00 EUR for a visit.");
    assert_int_equal(tu_balance(c->h, "M-1002"), 1);
    cancel(c);
}

static void caps_are_enforced_and_denials_audited(void **state)
{
    ctx *c = *state;
    tp_message msg;
    assert_int_equal(tu_sale(c->h, "BIG", NULL, 15000, &msg), TP_OK); /* 150 > 100 */
    settle(c);
    open_form(c, "retro-visit", "mgr-1", "manager", "BIG");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "big basket", "approver", "mgr-1", "pin", PIN, NULL);
    assert_int_equal(c->h->dismissed, 0);
    assert_true(c->h->form.is_error);
    assert_non_null(strstr(c->h->form.message, "more than one retroactive credit may carry"));
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'retro.denied'"), 1);
    assert_int_equal(tu_balance(c->h, "M-1002"), 0);
}

/* A refusal is never kept without its audit record: when the audit log
 * refuses the record (here a trigger stands in for a disk that fails just
 * then), the wrong PIN is not counted, nothing is committed, and the form
 * says the refusal could not be recorded. */
static void a_refusal_that_cannot_be_audited_changes_nothing_and_says_so(void **state)
{
    ctx *c = *state;
    tp_message msg;
    assert_int_equal(tu_sale(c->h, "BIG", NULL, 15000, &msg), TP_OK); /* 150 > 100 */
    settle(c);
    raw(c, "CREATE TRIGGER refuse_refusals BEFORE INSERT ON audit"
           " WHEN NEW.action IN ('pin.failure', 'retro.denied')"
           " BEGIN SELECT RAISE(ABORT, 'audit log refused'); END;");
    open_form(c, "retro-visit", "cas-7", "cashier", "BIG");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "big basket", "approver", "mgr-1", "pin", "111111", NULL);
    assert_non_null(strstr(field_error(c, "pin"), WRONG));
    assert_non_null(strstr(field_error(c, "pin"), "could not be recorded in the audit log"));
    assert_int_equal(manager(c, "mgr-1").failures, 0);
    submit(c, "reason", "big basket", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->form.is_error);
    assert_non_null(strstr(c->h->form.message, "more than one retroactive credit may carry"));
    assert_non_null(strstr(c->h->form.message, "could not be recorded in the audit log"));
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action IN ('pin.failure',"
                          " 'retro.denied')"), 0);
    assert_int_equal(tu_balance(c->h, "M-1002"), 0);
    raw(c, "DROP TRIGGER refuse_refusals");
    /* The audit log writable again: the same refusal is recorded. */
    submit(c, "reason", "big basket", "approver", "mgr-1", "pin", PIN, NULL);
    assert_null(strstr(c->h->form.message, "could not be recorded"));
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'retro.denied'"), 1);
    cancel(c);
}

static void cashier_needs_a_manager_pin_and_lockouts_grow(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "cas-7", "cashier", NULL);
    submit(c, "customer", "ann@EXAMPLE.com", NULL);
    submit(c, "recent", "S-2", NULL);
    assert_true(tu_field(c->h, "pin") >= 0);
    assert_string_equal(value_of(c, "approver"), ""); /* a cashier: nothing prefilled */
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "000000", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    assert_int_equal(tu_balance(c->h, "M-1001"), 5);
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "111111", NULL);
    int64_t before_lock = tp_now_ms_for_tests();
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "222222", NULL); /* 3rd: lock */
    int64_t after_lock = tp_now_ms_for_tests();
    assert_non_null(strstr(field_error(c, "pin"), "now locked until"));
    /* Locked for the configured 600 s from the third failure. */
    int64_t until = manager(c, "mgr-1").locked_until_ms;
    assert_true(until >= before_lock + 600000 && until <= after_lock + 600000);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'pin.failure'"), 3);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'pin.lockout'"), 1);
    tp_manager_info m = manager(c, "mgr-1");
    assert_int_equal(m.failures, 3);
    /* A restart does not lift the lockout: even the right PIN is refused. */
    tu_restart(c->h);
    c->ui = c->h->plugin->get_extension(c->h->plugin, TP_EXT_UI);
    open_form(c, "retro-visit", "cas-7", "cashier", "S-2");
    submit(c, "customer", "M-1001", NULL);
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", PIN, NULL);
    assert_non_null(strstr(field_error(c, "approver"), "locked until"));
    assert_int_equal(tu_balance(c->h, "M-1001"), 5);

    /* When the lockout has passed, three more wrong PINs lock again, for
     * twice as long (1200 s instead of 600 s). */
    end_lockout(c, "mgr-1");
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "333333", NULL);
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "444444", NULL);
    assert_true(manager(c, "mgr-1").locked_until_ms < tp_now_ms_for_tests());
    int64_t before = tp_now_ms_for_tests();
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", "555555", NULL);
    int64_t after = tp_now_ms_for_tests();
    m = manager(c, "mgr-1");
    assert_int_equal(m.failures, 6);
    assert_true(m.locked_until_ms >= before + 1200000 && m.locked_until_ms <= after + 1200000);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'pin.lockout'"), 2);

    /* After it, the right PIN credits and clears the counter. */
    end_lockout(c, "mgr-1");
    submit(c, "reason", "dead phone", "approver", "mgr-1", "pin", PIN, NULL);
    assert_int_equal(c->h->dismissed, 1);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1001"), 14);
    assert_int_equal(manager(c, "mgr-1").failures, 0);
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro' AND staff = 'cas-7'"),
                     1);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'retro.credit'"
                          " AND actor = 'cas-7' AND approver = 'mgr-1'"), 1);
    /* The activity log shows who did it and who approved it. */
    tp_activity_row rows[4];
    size_t n = 0;
    tp_activity_query aq = {.struct_size = sizeof aq, .kinds = TP_KIND_RETRO};
    tp_message msg;
    assert_int_equal(
        c->h->ad->ledger->activity(c->h->plugin, &aq, rows, 4, sizeof rows[0], &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].staff, "cas-7");
    assert_string_equal(rows[0].approver, "mgr-1");
    assert_string_equal(rows[0].reason, "dead phone");
}

static void a_parked_claim_is_resolved_from_the_queue(void **state)
{
    ctx *c = *state;
    /* Parking moves no points: a cashier does it without a PIN. */
    open_form(c, "missed-scan-claim", "cas-7", "cashier", "S-1");
    assert_int_equal(tu_field(c->h, "pin"), -1);
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
    submit(c, "reason", "claimed at the counter", "approver", "mgr-1", "pin", PIN, NULL);
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
    /* Dismissing closes the claim for good: an approval step. */
    assert_int_equal(c->h->dismissed, 1);
    assert_string_equal(value_of(c, "reason"), "customer not a member");
    assert_string_equal(value_of(c, "approver"), "mgr-1");
    submit(c, "reason", "customer not a member", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(q(c, "SELECT count(*) FROM claim_resolutions WHERE outcome = 'dismissed'"),
                     1);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'claim.dismiss'"
                          " AND approver = 'mgr-1' AND actor = 'mgr-1'"), 1);
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
    cancel(c);
    /* The real one: find the customer, then straight to approval. */
    open_form(c, "retro-visit", "mgr-1", "manager", code);
    assert_non_null(strstr(c->h->form.message, "Receipt S-9 will be credited"));
    submit(c, "customer", "M-1002", NULL);
    assert_string_equal(value_of(c, "points"), "12");
    submit(c, "reason", "scanned the receipt", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1002"), 12);
}

static void credited_the_wrong_customer_is_corrected_in_one_step(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "mgr-1", "manager", "S-1");
    submit(c, "customer", "M-1001", NULL); /* wrong customer: Ann */
    submit(c, "reason", "missed scan", "approver", "mgr-1", "pin", PIN, NULL);
    assert_int_equal(tu_balance(c->h, "M-1001"), 5 + 27);
    open_form(c, "correct-credit", "cas-7", "cashier", "S-1");
    submit(c, "receipt", "S-1", "customer", "M-1002", "reason", "wrong customer", "approver",
           "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_non_null(strstr(c->h->result, "Moved 27 points of receipt S-1"));
    assert_int_equal(tu_balance(c->h, "M-1001"), 5);
    assert_int_equal(tu_balance(c->h, "M-1002"), 27);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'correction'"
                          " AND actor = 'cas-7' AND approver = 'mgr-1'"), 1);
    /* Both rows of the correction show who approved it (ext/admin.h). */
    tp_activity_row rows[8];
    size_t n = 0;
    tp_activity_query aq = {.struct_size = sizeof aq, .kinds = TP_KIND_RETRO | TP_KIND_REVERSAL};
    tp_message msg;
    assert_int_equal(
        c->h->ad->ledger->activity(c->h->plugin, &aq, rows, 8, sizeof rows[0], &n, &msg), TP_OK);
    assert_int_equal(n, 3); /* the credit, its reversal, the credit to the right member */
    assert_string_equal(rows[0].kind, "retro");
    assert_string_equal(rows[0].member_code, "M-1002");
    assert_string_equal(rows[0].staff, "cas-7");
    assert_string_equal(rows[0].approver, "mgr-1");
    assert_string_equal(rows[1].kind, "reversal");
    assert_string_equal(rows[1].member_code, "M-1001");
    assert_string_equal(rows[1].approver, "mgr-1");
    assert_string_equal(rows[2].kind, "retro");
    assert_string_equal(rows[2].approver, "mgr-1");
    tp_verify_result r = {.struct_size = sizeof r};
    assert_int_equal(c->h->ad->audit->verify(c->h->plugin, NULL, NULL, NULL, NULL, &r, NULL, &msg),
                     TP_OK);
    /* The audit chain is intact, and a tampered record is detected. */
    raw(c, "DROP TRIGGER audit_no_update; UPDATE audit SET points = 999"
           " WHERE action = 'correction';");
    assert_int_equal(c->h->ad->audit->verify(c->h->plugin, NULL, NULL, NULL, NULL, &r, NULL, &msg),
                     TP_ERR_INTERNAL);
    assert_true(r.problems >= 2); /* the changed record and the missing trigger */
}

static void a_manual_credit_needs_the_config_is_capped_and_marked(void **state)
{
    ctx *c = *state;
    /* Not allowed by default: an unjournaled receipt is refused at once,
     * before the customer is asked for. */
    open_form(c, "retro-visit", "mgr-1", "manager", "PAPER-7");
    assert_int_equal(c->h->dismissed, 1);
    assert_false(c->h->dismissed_done);
    assert_non_null(strstr(c->h->result, "only journaled receipts can be credited here"));
    /* Allowed: capped at manual_max_points, and marked manual. */
    tu_stop(c->h, 1);
    c->h = tu_start(CONF "allow_manual = yes\nmanual_max_points = 10\n");
    c->ui = c->h->plugin->get_extension(c->h->plugin, TP_EXT_UI);
    tu_add_member(c->h, "M-1002", "Bob Sample");
    open_form(c, "retro-visit", "mgr-1", "manager", "PAPER-7");
    add_manager(c);
    submit(c, "customer", "M-1002", NULL);
    assert_true(tu_field(c->h, "manual_amount") >= 0);
    submit(c, "receipt", "PAPER-7", "manual_amount", "25.00", NULL); /* 25 > 10 */
    submit(c, "reason", "paper receipt from the outage", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->form.is_error);
    assert_non_null(strstr(c->h->form.message, "more than one manual credit may carry (10)"));
    assert_int_equal(tu_balance(c->h, "M-1002"), 0);
    c->h->dismissed = 0;
    open_form(c, "retro-visit", "mgr-1", "manager", "PAPER-8");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "receipt", "PAPER-8", "manual_amount", "8.50", NULL);
    /* A manual credit needs the PIN like any other. */
    submit(c, "reason", "paper receipt from the outage", "approver", "mgr-1", NULL);
    assert_string_equal(field_error(c, "pin"), "A manager must approve: their id and PIN.");
    assert_int_equal(tu_balance(c->h, "M-1002"), 0);
    submit(c, "reason", "paper receipt from the outage", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_non_null(strstr(c->h->result, "(manual)"));
    assert_int_equal(tu_balance(c->h, "M-1002"), 8);
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro'"
                          " AND receipt LIKE 'MANUAL-%' AND reason LIKE 'manual: %'"), 1);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'retro.credit'"
                          " AND detail LIKE 'manual credit%'"), 1);
}

/* Money is typed with the store currency's own decimals (ISO 4217): yen
 * have none, so "12.50" is refused with a yen example and "1250" is 1250. */
static void a_yen_store_types_amounts_without_decimals(void **state)
{
    ctx *c = *state;
    tu_stop(c->h, 1);
    c->h = tu_start("[store]\ncurrency = JPY\n" CONF "allow_manual = yes\nmanual_max_points = 50\n");
    c->ui = c->h->plugin->get_extension(c->h->plugin, TP_EXT_UI);
    tu_add_member(c->h, "M-1002", "Bob Sample");
    open_form(c, "retro-visit", "mgr-1", "manager", "PAPER-9");
    add_manager(c);
    submit(c, "customer", "M-1002", NULL);
    submit(c, "receipt", "PAPER-9", "manual_amount", "12.50", NULL);
    assert_string_equal(field_error(c, "manual_amount"), "Type the amount like 1250.");
    submit(c, "receipt", "PAPER-9", "manual_amount", "1250", NULL);
    assert_string_equal(field_error(c, "manual_amount"), "");
    submit(c, "reason", "paper receipt from the outage", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1002"), 12); /* 1 point per 100 yen */
}

/* The first finding: a host (or socket client) that says "manager"
 * with an id nobody enrolled, on a store with no manager at all. */
static void the_manager_role_with_a_made_up_id_moves_nothing(void **state)
{
    ctx *c = *state;
    /* A retro credit. */
    open_form(c, "retro-visit", "not-a-manager", "manager", "S-1");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "trust me", NULL);
    nothing_moved(c);
    assert_int_equal(c->h->dismissed, 0);
    assert_string_equal(value_of(c, "approver"), "not-a-manager");
    assert_true(tu_field(c->h, "pin") >= 0);
    assert_string_equal(field_error(c, "approver"), "A manager must approve: their id and PIN.");
    submit(c, "reason", "trust me", "approver", "not-a-manager", NULL);
    assert_string_equal(field_error(c, "pin"), "A manager must approve: their id and PIN.");
    submit(c, "reason", "trust me", "approver", "not-a-manager", "pin", "123456", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    assert_int_equal(c->h->dismissed, 0);
    cancel(c);
    nothing_moved(c);

    /* A correction of Ann's live credit to Bob. */
    open_form(c, "correct-credit", "not-a-manager", "manager", "S-3");
    submit(c, "receipt", "S-3", "customer", "M-1002", "reason", "trust me", NULL);
    assert_string_equal(field_error(c, "approver"), "A manager must approve: their id and PIN.");
    submit(c, "receipt", "S-3", "customer", "M-1002", "reason", "trust me", "approver",
           "not-a-manager", "pin", "123456", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    cancel(c);
    nothing_moved(c);

    /* A claim: parked by a cashier (no points move), then credited and
     * dismissed from the queue. */
    open_form(c, "missed-scan-claim", "cas-7", "cashier", "S-2");
    submit(c, "email", "bob@example.com", NULL);
    assert_true(c->h->dismissed_done);
    open_form(c, "missed-scan-queue", "boss", "manager", NULL);
    int claim = tu_field(c->h, "claim");
    char key[TP_FIELD_VALUE_MAX + 1];
    snprintf(key, sizeof key, "%s", c->h->form.ckey[claim][0]);
    submit(c, "claim", key, NULL);
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "trust me", NULL);
    assert_string_equal(field_error(c, "approver"), "A manager must approve: their id and PIN.");
    submit(c, "reason", "trust me", "approver", "boss", "pin", "999999", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    cancel(c);
    open_form(c, "missed-scan-queue", "boss", "manager", NULL);
    submit(c, "claim", key, "dismiss_reason", "trust me", NULL);
    submit(c, "reason", "trust me", NULL);
    assert_string_equal(field_error(c, "approver"), "A manager must approve: their id and PIN.");
    submit(c, "reason", "trust me", "approver", "boss", "pin", "999999", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    cancel(c);
    nothing_moved(c);
    /* The attempts are in the audit log for the managers to see. */
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'pin.failure'"
                          " AND detail = 'no such manager'"), 4);
}

static void an_enrolled_manager_still_types_the_pin(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "mgr-1", "manager", "S-1");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "forgot the card", "approver", "mgr-1", NULL);
    assert_string_equal(field_error(c, "pin"), "A manager must approve: their id and PIN.");
    submit(c, "reason", "forgot the card", "approver", "mgr-1", "pin", "583921", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    /* A PIN shorter than the policy is refused before anything else. */
    submit(c, "reason", "forgot the card", "approver", "mgr-1", "pin", "58392", NULL);
    assert_non_null(strstr(field_error(c, "pin"), "A manager PIN is 6 to 12 digits"));
    nothing_moved(c);
    assert_int_equal(manager(c, "mgr-1").failures, 1);
    submit(c, "reason", "forgot the card", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1002"), 27);
}

static void an_unknown_id_gets_the_wrong_pin_sentence(void **state)
{
    ctx *c = *state;
    open_form(c, "retro-visit", "cas-7", "cashier", "S-1");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "r", "approver", "mgr-1", "pin", "111111", NULL);
    char wrong_pin[TP_MESSAGE_MAX + 1];
    snprintf(wrong_pin, sizeof wrong_pin, "%s", field_error(c, "pin"));
    submit(c, "reason", "r", "approver", "mgr-9", "pin", "111111", NULL);
    assert_string_equal(field_error(c, "pin"), wrong_pin);
    assert_string_equal(field_error(c, "approver"), "");
    assert_false(c->h->form.is_error);
    assert_string_equal(wrong_pin, WRONG);
    /* Only the enrolled manager's counter moved; both tries are audited. */
    assert_int_equal(manager(c, "mgr-1").failures, 1);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'pin.failure'"), 2);
    cancel(c);
    nothing_moved(c);
}

static void a_correction_needs_an_enrolled_managers_pin(void **state)
{
    ctx *c = *state;
    /* Ann earned S-3 live; a cashier, then a manager without the PIN, try
     * to move it to Bob. */
    open_form(c, "correct-credit", "cas-7", "cashier", "S-3");
    assert_string_equal(value_of(c, "approver"), "");
    submit(c, "receipt", "S-3", "customer", "M-1002", "reason", "wrong customer", NULL);
    assert_string_equal(field_error(c, "approver"), "A manager must approve: their id and PIN.");
    submit(c, "receipt", "S-3", "customer", "M-1002", "reason", "wrong customer", "approver",
           "mgr-1", "pin", "000001", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    cancel(c);
    open_form(c, "correct-credit", "mgr-1", "manager", "S-3");
    assert_string_equal(value_of(c, "approver"), "mgr-1");
    submit(c, "receipt", "S-3", "customer", "M-1002", "reason", "wrong customer", "approver",
           "mgr-1", NULL);
    assert_string_equal(field_error(c, "pin"), "A manager must approve: their id and PIN.");
    nothing_moved(c);
    submit(c, "receipt", "S-3", "customer", "M-1002", "reason", "wrong customer", "approver",
           "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1001"), 0);
    assert_int_equal(tu_balance(c->h, "M-1002"), 5);
}

static void claim_credit_and_dismissal_need_a_managers_pin(void **state)
{
    ctx *c = *state;
    open_form(c, "missed-scan-claim", "cas-7", "cashier", "S-1");
    submit(c, "phone", "0151 2345 6789", NULL);
    open_form(c, "missed-scan-queue", "mgr-1", "manager", NULL);
    int claim = tu_field(c->h, "claim");
    char key[TP_FIELD_VALUE_MAX + 1];
    snprintf(key, sizeof key, "%s", c->h->form.ckey[claim][0]);
    submit(c, "claim", key, "dismiss_reason", "duplicate", NULL);
    submit(c, "reason", "duplicate", "approver", "mgr-1", NULL);
    assert_string_equal(field_error(c, "pin"), "A manager must approve: their id and PIN.");
    submit(c, "reason", "duplicate", "approver", "mgr-1", "pin", "000002", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    cancel(c);
    nothing_moved(c);
    open_form(c, "missed-scan-queue", "mgr-1", "manager", NULL);
    submit(c, "claim", key, NULL);
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "claimed", "approver", "mgr-1", NULL);
    assert_string_equal(field_error(c, "pin"), "A manager must approve: their id and PIN.");
    submit(c, "reason", "claimed", "approver", "mgr-1", "pin", "000003", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    nothing_moved(c);
    submit(c, "reason", "claimed", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1002"), 27);
    assert_int_equal(q(c, "SELECT count(*) FROM claim_resolutions WHERE outcome = 'credited'"), 1);
}

static void a_pin_shorter_than_the_policy_is_refused_when_set(void **state)
{
    ctx *c = *state;
    tp_message msg;
    assert_int_equal(
        c->h->ad->managers->manager_add(c->h->plugin, "mgr-2", "Max", "4711", "owner", &msg),
        TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(msg.text, "A manager PIN is 6 to 12 digits (0-9), nothing else.");
    assert_int_equal(
        c->h->ad->managers->manager_reset_pin(c->h->plugin, "mgr-1", "12345", "owner", &msg),
        TP_ERR_INVALID_ARGUMENT);
    size_t n = 0;
    assert_int_equal(
        c->h->ad->managers->manager_list(c->h->plugin, NULL, 0, sizeof(tp_manager_info), &n, &msg),
        TP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action LIKE 'manager.%'"), 1);
    /* A store may lower the minimum to 4, never below. */
    tu_stop(c->h, 1);
    c->h = tu_start(CONF "pin_min_digits = 4\n");
    assert_int_equal(
        c->h->ad->managers->manager_add(c->h->plugin, "mgr-2", "Max", "4711", "owner", &msg),
        TP_OK);
    assert_int_equal(
        c->h->ad->managers->manager_add(c->h->plugin, "mgr-3", "Moe", "471", "owner", &msg),
        TP_ERR_INVALID_ARGUMENT);
}

static void trust_host_managers_lets_only_an_enrolled_manager_skip_the_pin(void **state)
{
    ctx *c = *state;
    /* The host's login of enrolled manager mgr-1 approves, without a PIN. */
    open_form(c, "retro-visit", "mgr-1", "manager", "S-1");
    submit(c, "customer", "M-1002", NULL);
    assert_int_equal(tu_field(c->h, "pin"), -1);
    assert_int_equal(tu_field(c->h, "approver"), -1);
    assert_string_equal(value_of(c, "approved_by"), "mgr-1 (logged in at the till)");
    submit(c, "reason", "forgot the card", NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1002"), 27);
    assert_int_equal(q(c, "SELECT count(*) FROM audit WHERE action = 'retro.credit'"
                          " AND approver = 'mgr-1' AND detail LIKE '%trust_host_managers%'"), 1);

    /* A made-up id with the manager role is still asked for a PIN, and
     * an answer naming mgr-1 needs mgr-1's PIN. */
    open_form(c, "retro-visit", "boss", "manager", "S-2");
    submit(c, "customer", "M-1002", NULL);
    assert_true(tu_field(c->h, "pin") >= 0);
    submit(c, "reason", "trust me", NULL);
    assert_string_equal(field_error(c, "approver"), "A manager must approve: their id and PIN.");
    submit(c, "reason", "trust me", "approver", "mgr-1", "pin", "000004", NULL);
    assert_string_equal(field_error(c, "pin"), WRONG);
    cancel(c);
    /* So is the enrolled id when the host says cashier. */
    open_form(c, "retro-visit", "mgr-1", "cashier", "S-2");
    submit(c, "customer", "M-1002", NULL);
    assert_true(tu_field(c->h, "pin") >= 0);
    cancel(c);
    assert_int_equal(tu_balance(c->h, "M-1002"), 27);
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro'"), 1);

    /* A locked manager is not trusted either: the PIN step comes back. */
    open_form(c, "retro-visit", "cas-7", "cashier", "S-2");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "r", "approver", "mgr-1", "pin", "000005", NULL);
    submit(c, "reason", "r", "approver", "mgr-1", "pin", "000006", NULL);
    assert_non_null(strstr(field_error(c, "pin"), "now locked until"));
    cancel(c);
    assert_true(manager(c, "mgr-1").locked_until_ms > tp_now_ms_for_tests());
    int dismissed = c->h->dismissed;
    open_form(c, "retro-visit", "mgr-1", "manager", "S-2");
    submit(c, "customer", "M-1002", NULL);
    assert_true(tu_field(c->h, "pin") >= 0);
    submit(c, "reason", "r", NULL);
    assert_int_equal(c->h->dismissed, dismissed);
    assert_string_equal(field_error(c, "approver"), "A manager must approve: their id and PIN.");
    cancel(c);
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro'"), 1);
}

static void a_receipt_dated_beyond_the_clock_skew_is_refused_and_not_offered(void **state)
{
    ctx *c = *state;
    tp_message msg;
    assert_int_equal(tu_sale(c->h, "S-SOON", NULL, 300, &msg), TP_OK);
    assert_int_equal(tu_sale(c->h, "S-LATE", NULL, 400, &msg), TP_OK);
    settle(c);
    /* Journal rows as a till with a clock 2 and 10 minutes fast writes
     * them; the allowed skew is 5 minutes. */
    raw(c, "DROP TRIGGER receipts_no_update;"
           "UPDATE receipts SET time_ms = time_ms + 2 * 60000 WHERE receipt = 'S-SOON';"
           "UPDATE receipts SET time_ms = time_ms + 10 * 60000 WHERE receipt = 'S-LATE';");
    open_form(c, "retro-visit", "mgr-1", "manager", NULL);
    submit(c, "customer", "M-1002", NULL);
    int recent = tu_field(c->h, "recent");
    int soon = 0, late = 0;
    for (int i = 0; i < c->h->form.n_choices[recent]; i++) {
        soon |= strcmp(c->h->form.ckey[recent][i], "S-SOON") == 0;
        late |= strcmp(c->h->form.ckey[recent][i], "S-LATE") == 0;
    }
    assert_true(soon);
    assert_false(late);
    submit(c, "receipt", "S-LATE", NULL);
    assert_non_null(strstr(field_error(c, "receipt"), "later than this till's clock allows "
                                                      "(5 minutes ahead at most)"));
    cancel(c);
    /* Prefilled, it is refused before the customer is asked for. */
    open_form(c, "retro-visit", "mgr-1", "manager", "S-LATE");
    assert_int_equal(tu_field(c->h, "customer"), -1);
    assert_false(c->h->dismissed_done);
    assert_non_null(strstr(c->h->result, "Receipt S-LATE is dated"));
    assert_int_equal(q(c, "SELECT count(*) FROM ledger WHERE kind = 'retro'"), 0);
    /* Within the skew it is credited. */
    open_form(c, "retro-visit", "mgr-1", "manager", "S-SOON");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "clock a bit fast", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    assert_int_equal(tu_balance(c->h, "M-1002"), 3);
}

static void an_already_credited_receipt_is_refused_before_the_customer_step(void **state)
{
    ctx *c = *state;
    int presented = c->h->presented;
    open_form(c, "retro-visit", "mgr-1", "manager", "S-3");
    assert_int_equal(c->h->presented, presented); /* no customer form */
    assert_int_equal(c->h->dismissed, 1);
    assert_false(c->h->dismissed_done);
    assert_string_equal(c->h->result, "Receipt S-3 already earned points (at the till, entry 1); "
                                      "a receipt earns once.");
    /* A claim whose receipt was credited meanwhile is refused when picked,
     * and can be dismissed instead. */
    open_form(c, "missed-scan-claim", "cas-7", "cashier", "S-1");
    submit(c, NULL);
    open_form(c, "retro-visit", "mgr-1", "manager", "S-1");
    submit(c, "customer", "M-1002", NULL);
    submit(c, "reason", "r", "approver", "mgr-1", "pin", PIN, NULL);
    assert_true(c->h->dismissed_done);
    open_form(c, "missed-scan-queue", "mgr-1", "manager", NULL);
    int claim = tu_field(c->h, "claim");
    submit(c, "claim", c->h->form.ckey[claim][0], NULL);
    assert_int_equal(tu_field(c->h, "customer"), -1);
    assert_non_null(strstr(field_error(c, "claim"), "Receipt S-1 already earned points"));
    assert_non_null(strstr(field_error(c, "claim"), "dismiss it with a reason"));
    cancel(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(manager_credits_a_missed_visit_from_the_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(each_refusal_is_a_sentence_on_the_form_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(an_answer_too_long_for_its_field_says_so_on_the_field, setup, teardown),
        cmocka_unit_test_setup_teardown(a_visits_program_credits_stamps_in_its_own_words, setup_visits, teardown),
        cmocka_unit_test_setup_teardown(caps_are_enforced_and_denials_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(a_refusal_that_cannot_be_audited_changes_nothing_and_says_so,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(cashier_needs_a_manager_pin_and_lockouts_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(a_parked_claim_is_resolved_from_the_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(a_claim_can_be_dismissed_with_a_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(the_printed_receipt_code_opens_the_dialog_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(credited_the_wrong_customer_is_corrected_in_one_step, setup, teardown),
        cmocka_unit_test_setup_teardown(a_manual_credit_needs_the_config_is_capped_and_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(a_yen_store_types_amounts_without_decimals, setup, teardown),
        cmocka_unit_test_setup_teardown(the_manager_role_with_a_made_up_id_moves_nothing, setup_no_manager, teardown),
        cmocka_unit_test_setup_teardown(an_enrolled_manager_still_types_the_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(an_unknown_id_gets_the_wrong_pin_sentence, setup, teardown),
        cmocka_unit_test_setup_teardown(a_correction_needs_an_enrolled_managers_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(claim_credit_and_dismissal_need_a_managers_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(a_pin_shorter_than_the_policy_is_refused_when_set, setup, teardown),
        cmocka_unit_test_setup_teardown(trust_host_managers_lets_only_an_enrolled_manager_skip_the_pin, setup_trusting, teardown),
        cmocka_unit_test_setup_teardown(a_receipt_dated_beyond_the_clock_skew_is_refused_and_not_offered, setup, teardown),
        cmocka_unit_test_setup_teardown(an_already_credited_receipt_is_refused_before_the_customer_step, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
