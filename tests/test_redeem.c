/* Tests for spending points at the till (plugin/spend.c, spendstore.c,
 * redeemext.c; ext/checkout.h 2.5, ext/redeem.h), standalone: the local
 * ledger is the truth (docs/DESIGN.md §5, "Spending points"). Real
 * database files, through the plugin's extensions as a host calls them.
 *
 * Figures are worked out by hand from the default rules (1 point per 1.00
 * spent, rounded down) and the rewards below. */
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "testutil.h"
#include "tillpoints/ext/redeem.h"

#include "schema.h"
#include "store.h"

#define PIN "583920"
#define REWARDS                                                                               \
    "[reward \"coffee\"]\ncost = 500\nfree_sku = COFFEE\nlabel = Free coffee\n"               \
    "[reward \"fiver\"]\ncost = 400\namount_off = 5.00\nmin_basket = 20.00\n"                 \
    "[reward \"tenpct\"]\ncost = 300\npercent_off = 10\npercent_cap = 3.00\n"                 \
    "[redeem]\npay_with_points = yes\npoints_per_unit = 100\nunit = 1.00\n"                   \
    "min_points = 100\nstep_points = 50\n"

static int64_t sql_of(tu_host *h, const char *sql)
{
    char db[300];
    snprintf(db, sizeof db, "%s/test.db", h->dir);
    return tu_count_sql(db, sql);
}

static void text_of(tu_host *h, const char *sql, char *out, size_t cap)
{
    char db[300];
    snprintf(db, sizeof db, "%s/test.db", h->dir);
    tu_text_sql(db, sql, out, cap);
}

static void give(tu_host *h, const char *member, int64_t points)
{
    tu_adjust(h, member, points, "opening balance");
}

/* Opens sale `txn` for `member` and delivers the lookup's answer. */
static void open_sale(tu_host *h, const char *txn, const char *member)
{
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, txn, "cas-1", &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, txn, member, &msg), TP_OK);
    tu_settle(h);
}

typedef struct basket {
    tp_line lines[4];
    size_t n;
} basket;

static tp_redeem_request request(const basket *b, const char *reward, int64_t points)
{
    tp_redeem_request r = {.struct_size = sizeof r, .reward = reward, .points = points,
                           .lines = b->lines, .line_count = b->n,
                           .line_stride = sizeof(tp_line)};
    return r;
}

static tp_status redeem(tu_host *h, const char *txn, const basket *b, const char *reward,
                        int64_t points, tp_redemption *out, tp_message *msg)
{
    tp_redeem_request r = request(b, reward, points);
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    return h->co->redeem(h->plugin, txn, &r, out, msg);
}

static tp_status complete(tu_host *h, const char *txn, const basket *b,
                          tp_award_preview *preview, tp_message *msg)
{
    tp_receipt r = {.struct_size = sizeof r, .receipt_id = txn, .currency = "EUR",
                    .lines = b->lines, .line_count = b->n, .line_stride = sizeof(tp_line)};
    if (preview) {
        memset(preview, 0, sizeof *preview);
        preview->struct_size = sizeof *preview;
    }
    return h->co->complete(h->plugin, txn, &r, preview, msg);
}

static void on_problem(void *user, uint64_t line, const char *sentence)
{
    (void)user;
    (void)line;
    print_message("verify: %s\n", sentence);
}

static const tu_event *last_of(tu_host *h, tp_event_kind kind)
{
    for (int i = h->n_events - 1; i >= 0; i--)
        if (h->ev[i].kind == kind)
            return &h->ev[i];
    fail_msg("no event of kind %u", (unsigned)kind);
    return NULL;
}

/* The whole path with hand-computed figures: 1000 points; the 5.00-off
 * reward (400 points) on a 30.00 basket; the sale earns on the 25.00 paid
 * (25 points): 1000 - 400 + 25 = 625. A refund of 10.00 gives back
 * floor(400 * 10/30) = 133 spent points and reverses 25 - floor(20.00) =
 * 5 earned: 753. The rest gives back 267 (400 in all, never more) and
 * reverses 20: 1000 again. */
static void redeem_complete_then_partial_and_full_refunds(void **s)
{
    (void)s;
    tu_host *h = tu_start(REWARDS);
    tu_add_member(h, "M-0001", "Ann");
    give(h, "M-0001", 1000);
    open_sale(h, "S-1", "M-0001");
    const tu_event *id = last_of(h, TP_EVENT_MEMBER_IDENTIFIED);
    assert_int_equal(id->offer_count, 3); /* coffee 500, fiver 400, tenpct 300 */
    assert_string_equal(id->offers[0], "coffee");
    assert_string_equal(id->offers[2], "tenpct");

    basket b = {.lines = {{.sku = "SKU-1", .amount_minor = 3000}}, .n = 1};
    tp_redemption r;
    tp_message msg;
    assert_int_equal(redeem(h, "S-1", &b, "fiver", 0, &r, &msg), TP_OK);
    assert_int_equal(r.redemption_no, 1);
    assert_int_equal(r.kind, TP_REDEEM_REWARD);
    assert_int_equal(r.points, 400);
    assert_int_equal(r.discount_minor, 500);
    assert_int_equal(r.balance_after, 600);
    /* Not confirmed yet: complete waits for it, and changes nothing. */
    tp_award_preview p;
    assert_int_equal(complete(h, "S-1", &b, &p, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "waits for its confirmation"));
    tu_settle(h);
    const tu_event *c = last_of(h, TP_EVENT_REDEEM_CONFIRMED);
    assert_int_equal(c->redemption_no, 1);
    assert_string_equal(c->redeem_source, "local");
    assert_int_equal(c->points, 400);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM reservations"), 1);

    assert_int_equal(complete(h, "S-1", &b, &p, &msg), TP_OK);
    assert_int_equal(p.points, 25);
    assert_int_equal(p.redeemed_points, 400);
    assert_int_equal(p.redeemed_minor, 500);
    tu_settle(h);
    const tu_event *a = last_of(h, TP_EVENT_AWARD_COMMITTED);
    assert_int_equal(a->points, 25);
    assert_int_equal(a->redeemed_points, 400);
    assert_int_equal(tu_balance(h, "M-0001"), 625);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM reservations"), 0);
    assert_int_equal(sql_of(h, "SELECT points FROM ledger WHERE kind = 'redeem'"), -400);
    assert_int_equal(sql_of(h, "SELECT discount_minor FROM redemptions"), 500);

    tp_refund rf = {.struct_size = sizeof rf, .refund_id = "R-1", .receipt_id = "S-1",
                    .currency = "EUR", .amount_minor = 1000};
    assert_int_equal(h->co->refund(h->plugin, &rf, &msg), TP_OK);
    tu_settle(h);
    const tu_event *f = last_of(h, TP_EVENT_REFUND_COMMITTED);
    assert_int_equal(f->redeemed_points, 133);
    assert_int_equal(f->points, -5);
    assert_int_equal(tu_balance(h, "M-0001"), 753);

    /* More than is left to refund: refused, nothing changes. */
    tp_refund big = {.struct_size = sizeof big, .refund_id = "R-2", .receipt_id = "S-1",
                     .currency = "EUR", .amount_minor = 2001};
    assert_int_equal(h->co->refund(h->plugin, &big, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_last(h)->kind, TP_EVENT_REFUND_FAILED);
    assert_non_null(strstr(tu_last(h)->message, "larger than what is left"));
    assert_int_equal(tu_balance(h, "M-0001"), 753);

    tp_refund rest = {.struct_size = sizeof rest, .refund_id = "R-3", .receipt_id = "S-1",
                      .currency = "EUR", .full = 1};
    assert_int_equal(h->co->refund(h->plugin, &rest, &msg), TP_OK);
    tu_settle(h);
    f = last_of(h, TP_EVENT_REFUND_COMMITTED);
    assert_int_equal(f->redeemed_points, 267);
    assert_int_equal(f->points, -20);
    assert_int_equal(tu_balance(h, "M-0001"), 1000);
    assert_int_equal(sql_of(h, "SELECT SUM(points) FROM ledger WHERE kind = 'unredeem'"), 400);
    tu_stop(h, 1);
}

/* With [redeem] refund = kept, a refund gives no spent point back. */
static void refund_kept_gives_nothing_back(void **s)
{
    (void)s;
    tu_host *h = tu_start(REWARDS "refund = kept\n");
    tu_add_member(h, "M-0002", "Bo");
    give(h, "M-0002", 600);
    open_sale(h, "S-2", "M-0002");
    basket b = {.lines = {{.sku = "SKU-1", .amount_minor = 1000}}, .n = 1};
    tp_redemption r;
    tp_message msg;
    /* Paying with points: 10.00 left, 600 points, steps of 50: 600 pay 6.00. */
    assert_int_equal(redeem(h, "S-2", &b, NULL, 0, &r, &msg), TP_OK);
    assert_int_equal(r.kind, TP_REDEEM_POINTS);
    assert_int_equal(r.points, 600);
    assert_int_equal(r.discount_minor, 600);
    tu_settle(h);
    assert_int_equal(complete(h, "S-2", &b, NULL, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0002"), 4); /* earns on the 4.00 paid */
    tp_refund rf = {.struct_size = sizeof rf, .refund_id = "R-9", .receipt_id = "S-2",
                    .currency = "EUR", .full = 1};
    assert_int_equal(h->co->refund(h->plugin, &rf, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(last_of(h, TP_EVENT_REFUND_COMMITTED)->redeemed_points, 0);
    assert_int_equal(tu_balance(h, "M-0002"), 0);
    tu_stop(h, 1);
}

/* Each reward kind with its rounding edge, and paying with points. */
static void each_reward_kind_rounds_down(void **s)
{
    (void)s;
    tu_host *h = tu_start(REWARDS);
    tu_add_member(h, "M-0003", "Cy");
    give(h, "M-0003", 5000);
    tp_redemption r;
    tp_message msg;
    /* 10% of 9.99 is 0.999: 0.99 off. */
    open_sale(h, "S-3", "M-0003");
    basket small = {.lines = {{.sku = "SKU-1", .amount_minor = 999}}, .n = 1};
    assert_int_equal(redeem(h, "S-3", &small, "tenpct", 0, &r, &msg), TP_OK);
    assert_int_equal(r.discount_minor, 99);
    assert_int_equal(r.points, 300);
    assert_int_equal(h->co->cancel(h->plugin, "S-3", &msg), TP_OK);
    /* 10% of 50.00 is 5.00, capped at 3.00. */
    open_sale(h, "S-4", "M-0003");
    basket big = {.lines = {{.sku = "SKU-1", .amount_minor = 5000}}, .n = 1};
    assert_int_equal(redeem(h, "S-4", &big, "tenpct", 0, &r, &msg), TP_OK);
    assert_int_equal(r.discount_minor, 300);
    /* Once per receipt. */
    assert_int_equal(redeem(h, "S-4", &big, "tenpct", 0, &r, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "once per receipt"));
    /* The free coffee: its line's price, on the 47.00 the first left. */
    basket two = {.lines = {{.sku = "SKU-1", .amount_minor = 5000},
                            {.sku = "COFFEE", .amount_minor = 250}},
                  .n = 2};
    assert_int_equal(redeem(h, "S-4", &two, "coffee", 0, &r, &msg), TP_OK);
    assert_int_equal(r.discount_minor, 250);
    assert_string_equal(r.label, "Free coffee");
    /* Paying with points what is left (52.50 - 3.00 - 2.50 = 47.00): at most
     * 4200 points (the 5000 less 800 reserved), in steps of 50: 42.00. */
    assert_int_equal(redeem(h, "S-4", &two, NULL, 0, &r, &msg), TP_OK);
    assert_int_equal(r.points, 4200);
    assert_int_equal(r.discount_minor, 4200);
    assert_int_equal(r.balance_after, 0);
    /* Asking for 130 points: 100 (steps of 50 from the minimum 100). */
    assert_int_equal(h->co->unredeem(h->plugin, "S-4", r.redemption_no, &msg), TP_OK);
    assert_int_equal(redeem(h, "S-4", &two, NULL, 130, &r, &msg), TP_OK);
    assert_int_equal(r.points, 100);
    assert_int_equal(r.discount_minor, 100);
    tu_settle(h);
    tp_award_preview p;
    assert_int_equal(complete(h, "S-4", &two, &p, &msg), TP_OK);
    /* 52.50 - 3.00 - 2.50 - 1.00 = 46.00 paid: 46 points. */
    assert_int_equal(p.points, 46);
    assert_int_equal(p.redeemed_points, 900);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0003"), 5000 - 900 + 46);
    /* One entry for the sale, saying what each redemption bought. */
    char v[300];
    text_of(h, "SELECT reason || ' | ' || comment FROM ledger WHERE kind = 'redeem'", v,
            sizeof v);
    assert_string_equal(v, "tenpct: 300 for 3.00; coffee: 500 for 2.50; points: 100 for 1.00 | "
                           "tenpct, Free coffee, Paid with points");
    tu_stop(h, 1);
}

/* Bad input: each refused with a sentence, nothing reserved. */
static void bad_redemptions_are_refused_and_change_nothing(void **s)
{
    (void)s;
    tu_host *h = tu_start(REWARDS);
    tu_add_member(h, "M-0004", "Di");
    give(h, "M-0004", 450);
    basket b = {.lines = {{.sku = "SKU-1", .amount_minor = 1000}}, .n = 1};
    tp_redemption r;
    tp_message msg;
    /* No member on the sale. */
    assert_int_equal(h->co->begin(h->plugin, "S-5", "cas-1", &msg), TP_OK);
    assert_int_equal(redeem(h, "S-5", &b, "tenpct", 0, &r, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "No member is on sale S-5"));
    /* Scanned, but the lookup's answer not delivered yet. */
    assert_int_equal(h->co->scan(h->plugin, "S-5", "M-0004", &msg), TP_OK);
    assert_int_equal(redeem(h, "S-5", &b, "tenpct", 0, &r, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "still being looked up"));
    tu_settle(h);
    /* A reward that does not exist. */
    assert_int_equal(redeem(h, "S-5", &b, "caviar", 0, &r, &msg), TP_ERR_NOT_FOUND);
    assert_non_null(strstr(msg.text, "coffee, fiver, tenpct"));
    /* The basket below the reward's minimum (20.00). */
    assert_int_equal(redeem(h, "S-5", &b, "fiver", 0, &r, &msg), TP_ERR_STATE);
    /* More than the balance: a 500-point reward, 450 points. */
    basket c = {.lines = {{.sku = "COFFEE", .amount_minor = 250}}, .n = 1};
    assert_int_equal(redeem(h, "S-5", &c, "coffee", 0, &r, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "costs 500"));
    assert_int_equal(redeem(h, "S-5", &b, NULL, 460, &r, &msg), TP_ERR_STATE);
    /* A free item that is not on the receipt (a 450-point balance would
     * not pay for it either: the basket is checked first). */
    give(h, "M-0004", 50);
    open_sale(h, "S-5B", "M-0004");
    assert_int_equal(redeem(h, "S-5B", &b, "coffee", 0, &r, &msg), TP_ERR_NOT_FOUND);
    assert_int_equal(h->co->cancel(h->plugin, "S-5B", &msg), TP_OK);
    /* Bad lines. */
    basket neg = {.lines = {{.sku = "SKU-1", .amount_minor = -5}}, .n = 1};
    assert_int_equal(redeem(h, "S-5", &neg, NULL, 0, &r, &msg), TP_ERR_INVALID_ARGUMENT);
    tu_settle(h);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM reservations"), 0);
    /* Unredeem of a number the sale does not have. */
    assert_int_equal(h->co->unredeem(h->plugin, "S-5", 7, &msg), TP_ERR_NOT_FOUND);
    assert_int_equal(h->co->cancel(h->plugin, "S-5", &msg), TP_OK);
    assert_int_equal(tu_balance(h, "M-0004"), 500);
    tu_stop(h, 1);
}

/* Redeem then cancel: the reservation goes, the points are there again. */
static void redeem_then_cancel_releases_the_points(void **s)
{
    (void)s;
    tu_host *h = tu_start(REWARDS);
    tu_add_member(h, "M-0005", "Ed");
    give(h, "M-0005", 500);
    basket b = {.lines = {{.sku = "COFFEE", .amount_minor = 250}}, .n = 1};
    tp_redemption r;
    tp_message msg;
    open_sale(h, "S-6", "M-0005");
    assert_int_equal(redeem(h, "S-6", &b, "coffee", 0, &r, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM reservations"), 1);
    /* A second sale of the same member cannot spend the held points. */
    open_sale(h, "S-7", "M-0005");
    assert_int_equal(redeem(h, "S-7", &b, "coffee", 0, &r, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "has 0 available"));
    assert_int_equal(h->co->cancel(h->plugin, "S-6", &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM reservations"), 0);
    assert_int_equal(redeem(h, "S-7", &b, "coffee", 0, &r, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(last_of(h, TP_EVENT_REDEEM_CONFIRMED)->redemption_no, 1);
    assert_int_equal(complete(h, "S-7", &b, NULL, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0005"), 0);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM ledger WHERE kind = 'redeem'"), 1);
    tu_stop(h, 1);
}

/* The writer checks against every reservation of the member on the file:
 * another till's hold of 900 leaves 100 of 1000, so a 500-point reward is
 * refused by event; complete then refuses until the line is taken off. */
static void the_writer_refuses_what_another_till_holds(void **s)
{
    (void)s;
    tu_host *h = tu_start(REWARDS);
    tu_add_member(h, "M-0006", "Flo");
    give(h, "M-0006", 1000);
    char db[300];
    snprintf(db, sizeof db, "%s/test.db", h->dir);
    sqlite3 *x = NULL;
    assert_int_equal(sqlite3_open(db, &x), SQLITE_OK);
    sqlite3_busy_timeout(x, 10000);
    assert_int_equal(sqlite3_exec(x,
                                  "INSERT INTO reservations(location, terminal, txn, no, "
                                  "member_id, points, source, created_ms) SELECT 'store-1', "
                                  "'till-2', 'T-OTHER', 1, id, 900, 'local', 0 FROM members "
                                  "WHERE code = 'M-0006'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(x);
    basket b = {.lines = {{.sku = "COFFEE", .amount_minor = 250}}, .n = 1};
    tp_redemption r;
    tp_message msg;
    open_sale(h, "S-8", "M-0006");
    assert_int_equal(redeem(h, "S-8", &b, "coffee", 0, &r, &msg), TP_OK);
    tu_settle(h);
    const tu_event *e = last_of(h, TP_EVENT_REDEEM_REFUSED);
    assert_int_equal(e->status, TP_ERR_STATE);
    assert_non_null(strstr(e->message, "100 points available now (900 held"));
    assert_int_equal(complete(h, "S-8", &b, NULL, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "was refused"));
    assert_int_equal(h->co->unredeem(h->plugin, "S-8", r.redemption_no, &msg), TP_OK);
    assert_int_equal(complete(h, "S-8", &b, NULL, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0006"), 1002);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM ledger WHERE kind = 'redeem'"), 0);
    tu_stop(h, 1);
}

/* kill -9 between redeem and complete: the next start leaves no point
 * reserved. The child reserves and says so on a pipe; the parent kills
 * it there, starts on the same files and spends the whole balance. */
static void a_kill_between_redeem_and_complete_leaves_nothing_reserved(void **s)
{
    (void)s;
    tu_host *h = tu_start(REWARDS);
    tu_add_member(h, "M-0007", "Gus");
    give(h, "M-0007", 500);
    h->plugin->destroy(h->plugin);
    h->plugin = NULL;
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        tp_message msg;
        h->plugin = tillpoints_entry.create(&h->host, h->config, &msg);
        if (!h->plugin || h->plugin->init(h->plugin, &msg) != TP_OK)
            _exit(2);
        tu_attach(h);
        basket b = {.lines = {{.sku = "COFFEE", .amount_minor = 250}}, .n = 1};
        tp_redeem_request rq = request(&b, "coffee", 0);
        if (h->co->begin(h->plugin, "S-9", "cas-1", &msg) != TP_OK ||
            h->co->scan(h->plugin, "S-9", "M-0007", &msg) != TP_OK ||
            h->co->flush(h->plugin, 60000, &msg) != TP_OK)
            _exit(3);
        h->plugin->on_main_thread(h->plugin);
        tp_redemption r = {.struct_size = sizeof r};
        if (h->co->redeem(h->plugin, "S-9", &rq, &r, &msg) != TP_OK ||
            h->co->flush(h->plugin, 60000, &msg) != TP_OK)
            _exit(4);
        if (write(fd[1], "reserved\n", 9) != 9)
            _exit(5);
        for (;;)
            pause();
    }
    close(fd[1]);
    char line[16] = "";
    ssize_t n = read(fd[0], line, sizeof line - 1);
    close(fd[0]);
    assert_true(n > 0);
    assert_string_equal(line, "reserved\n");
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM reservations"), 1); /* left behind */

    tp_message msg;
    h->plugin = tillpoints_entry.create(&h->host, h->config, &msg);
    assert_non_null(h->plugin);
    assert_int_equal(h->plugin->init(h->plugin, &msg), TP_OK);
    tu_attach(h);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM reservations"), 0);
    basket b = {.lines = {{.sku = "COFFEE", .amount_minor = 250}}, .n = 1};
    tp_redemption r;
    open_sale(h, "S-10", "M-0007");
    assert_int_equal(redeem(h, "S-10", &b, "coffee", 0, &r, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(last_of(h, TP_EVENT_REDEEM_CONFIRMED)->points, 500);
    assert_int_equal(complete(h, "S-10", &b, NULL, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0007"), 0);
    tu_stop(h, 1);
}

/* A manager gives back what a redemption spent: PIN checked, audited,
 * bounded; the activity log finds both entries by kind. */
static void a_manager_reverses_a_redemption_with_pin_and_reason(void **s)
{
    (void)s;
    tu_host *h = tu_start(REWARDS);
    tu_add_member(h, "M-0008", "Hal");
    give(h, "M-0008", 500);
    tp_message msg;
    assert_int_equal(h->ad->managers->manager_add(h->plugin, "mgr-1", "Mia", PIN, "owner", &msg),
                     TP_OK);
    basket b = {.lines = {{.sku = "COFFEE", .amount_minor = 250}}, .n = 1};
    tp_redemption r;
    open_sale(h, "S-11", "M-0008");
    assert_int_equal(redeem(h, "S-11", &b, "coffee", 0, &r, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(complete(h, "S-11", &b, NULL, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0008"), 0);

    const tp_redeem_ext *rx = h->plugin->get_extension(h->plugin, TP_EXT_REDEEM);
    assert_non_null(rx);
    tp_redeem_reversal rv = {.struct_size = sizeof rv, .receipt = "S-11",
                             .reason = "coffee was cold", .staff = "cas-1",
                             .approver = "mgr-1", .pin = "000000"};
    assert_int_equal(rx->reverse(h->plugin, &rv, NULL, &msg), TP_ERR_WRONG_PIN);
    assert_int_equal(tu_balance(h, "M-0008"), 0);
    rv.reason = "";
    rv.pin = PIN;
    assert_int_equal(rx->reverse(h->plugin, &rv, NULL, &msg), TP_ERR_INVALID_ARGUMENT);
    rv.reason = "coffee was cold";
    tp_activity_row e = {.struct_size = sizeof e};
    assert_int_equal(rx->reverse(h->plugin, &rv, &e, &msg), TP_OK);
    assert_int_equal(e.points, 500);
    assert_string_equal(e.kind, "unredeem");
    assert_string_equal(e.approver, "mgr-1");
    assert_int_equal(tu_balance(h, "M-0008"), 500);
    assert_int_equal(rx->reverse(h->plugin, &rv, NULL, &msg), TP_ERR_STATE);
    rv.receipt = "NOPE";
    assert_int_equal(rx->reverse(h->plugin, &rv, NULL, &msg), TP_ERR_NOT_FOUND);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM audit WHERE action = 'redeem.reverse'"), 1);
    assert_int_equal(sql_of(h, "SELECT COUNT(*) FROM audit WHERE action = 'pin.failure'"), 1);

    tp_activity_query q = {.struct_size = sizeof q, .kinds = TP_KIND_REDEEM | TP_KIND_UNREDEEM};
    tp_activity_row rows[8];
    size_t n = 0;
    assert_int_equal(h->ad->ledger->activity(h->plugin, &q, rows, 8, sizeof rows[0], &n, &msg),
                     TP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].kind, "unredeem");
    assert_string_equal(rows[1].kind, "redeem");
    assert_int_equal(rows[1].points, -500);

    /* The audit chain and the ledger agree (the reversal is covered). */
    tp_verify_result vr = {.struct_size = sizeof vr};
    tp_status vs = h->ad->audit->verify(h->plugin, NULL, NULL, on_problem, NULL, &vr, NULL, &msg);
    if (vs != TP_OK)
        fail_msg("verify: %s", msg.text);
    assert_int_equal(vr.problems, 0);
    tu_stop(h, 1);
}

/* A manager's debit leaves what an open sale holds: 500 points, 400 of
 * them reserved by a sale, so taking 200 off is refused and 100 is not;
 * the sale then completes (earning 25 on the 25.00 paid): 500 - 100 - 400
 * + 25 = 25, never below zero. */
static void an_adjustment_leaves_the_points_an_open_sale_holds(void **s)
{
    (void)s;
    tu_host *h = tu_start(REWARDS);
    tu_add_member(h, "M-0009", "Ida");
    give(h, "M-0009", 500);
    basket b = {.lines = {{.sku = "SKU-1", .amount_minor = 3000}}, .n = 1};
    tp_redemption r;
    tp_message msg;
    open_sale(h, "S-12", "M-0009");
    assert_int_equal(redeem(h, "S-12", &b, "fiver", 0, &r, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(last_of(h, TP_EVENT_REDEEM_CONFIRMED)->points, 400);
    tp_adjustment adj = {.struct_size = sizeof adj, .member = "M-0009", .points = -200,
                         .reason = "correction", .staff = "owner"};
    assert_int_equal(h->ad->ledger->adjust(h->plugin, &adj, NULL, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "open sales at the till hold 400"));
    assert_int_equal(tu_balance(h, "M-0009"), 500);
    adj.points = -100;
    assert_int_equal(h->ad->ledger->adjust(h->plugin, &adj, NULL, &msg), TP_OK);
    assert_int_equal(complete(h, "S-12", &b, NULL, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0009"), 25);
    tu_stop(h, 1);
}

/* A database of schema 7 (before spending points) upgrades in place: the
 * ledger's kinds are widened without copying a row, its history stays,
 * the file is sound, and the new kinds go in — a positive "redeem" does
 * not. */
static void a_schema_7_database_upgrades_in_place(void **s)
{
    (void)s;
    char dir[64], path[128];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/old.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    for (int i = 0; i < 7; i++)
        assert_int_equal(sqlite3_exec(db, tp_schema_migrations[i], NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA user_version = 7;"
                                  "INSERT INTO members(code, name, created_ms) VALUES('M-OLD', "
                                  "'Old', 1);"
                                  "INSERT INTO ledger(member_id, location, terminal, receipt, kind,"
                                  " points, time_ms, recorded_ms) VALUES(1, 's', 't', 'A-1', "
                                  "'adjust', 70, 1, 1);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO ledger(member_id, location, terminal, receipt,"
                                      " kind, points, time_ms, recorded_ms) VALUES(1, 's', 't',"
                                      " 'R-1', 'redeem', -20, 1, 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK); /* schema 7 knows no redemptions */
    sqlite3_close(db);

    tp_store *st = NULL;
    tp_message msg;
    if (tp_store_open(path, &st, &msg) != TP_OK)
        fail_msg("upgrade: %s", msg.text);
    tp_store_close(st);
    assert_int_equal(tu_count_sql(path, "PRAGMA user_version"), 8);
    assert_int_equal(tu_count_sql(path, "SELECT COUNT(*) FROM ledger WHERE points = 70"), 1);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO ledger(member_id, location, terminal, receipt, kind,"
                                  " points, time_ms, recorded_ms) VALUES(1, 's', 't', 'R-1', "
                                  "'redeem', -20, 1, 1);"
                                  "INSERT INTO ledger(member_id, location, terminal, receipt, kind,"
                                  " points, reverses, time_ms, recorded_ms) VALUES(1, 's', 't', "
                                  "'F-1', 'unredeem', 20, 2, 1, 1);",
                                  NULL, NULL, &err),
                     SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO ledger(member_id, location, terminal, receipt,"
                                      " kind, points, time_ms, recorded_ms) VALUES(1, 's', 't',"
                                      " 'R-2', 'redeem', 5, 1, 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
    sqlite3_free(err);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redeem_complete_then_partial_and_full_refunds),
        cmocka_unit_test(refund_kept_gives_nothing_back),
        cmocka_unit_test(each_reward_kind_rounds_down),
        cmocka_unit_test(bad_redemptions_are_refused_and_change_nothing),
        cmocka_unit_test(redeem_then_cancel_releases_the_points),
        cmocka_unit_test(the_writer_refuses_what_another_till_holds),
        cmocka_unit_test(a_kill_between_redeem_and_complete_leaves_nothing_reserved),
        cmocka_unit_test(a_manager_reverses_a_redemption_with_pin_and_reason),
        cmocka_unit_test(an_adjustment_leaves_the_points_an_open_sale_holds),
        cmocka_unit_test(a_schema_7_database_upgrades_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
