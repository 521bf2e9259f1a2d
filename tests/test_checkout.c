/* Tests for plugin/checkout.c and the instance lifecycle (entry.c,
 * workers.c), through tillpoints_entry as a host uses it, on real files. */
#include <sqlite3.h>

#include "instance.h" /* the lookup thread's connection, for the gate below */
#include "util.h"
#include "testutil.h"
#include "tillpoints/ext/sync.h"

static int64_t db_int(tu_host *h, const char *sql)
{
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void scan_identifies_and_complete_awards_on_the_main_thread(void **state)
{
    (void)state;
    tu_host *h = tu_start("[program]\npoints_per_unit = 3\nunit_minor = 200\n");
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, "T1", "cashier-7", &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "T1", "  M-0001\r\n", &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(h->n_events, 1);
    assert_int_equal(h->ev[0].kind, TP_EVENT_MEMBER_IDENTIFIED);
    assert_string_equal(h->ev[0].member_code, "M-0001");
    /* 3.33 at 3 points per 2.00 = 4.995 -> floor 4 */
    tp_line lines[] = {{.sku = "A", .amount_minor = 333}, {.sku = "VAT", .amount_minor = 63,
                                                           .flags = TP_LINE_TAX}};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = "R-1",
                    .currency = "EUR", .lines = lines, .line_count = 2};
    tp_award_preview pv = {.struct_size = sizeof pv};
    assert_int_equal(h->co->complete(h->plugin, "T1", &r, &pv, &msg), TP_OK);
    assert_true(pv.has_member);
    assert_int_equal(pv.eligible_minor, 333);
    assert_int_equal(pv.points, 4);
    assert_true(atomic_load(&h->callbacks_requested) > 0);
    tu_settle(h);
    const tu_event *e = tu_last(h);
    assert_int_equal(e->kind, TP_EVENT_AWARD_COMMITTED);
    assert_int_equal(e->points, 4);
    assert_int_equal(e->balance, 4);
    assert_string_equal(e->receipt, "R-1");
    assert_int_equal(db_int(h, "SELECT total_minor FROM receipts WHERE receipt='R-1'"), 396);
    assert_int_equal(db_int(h, "SELECT count(*) FROM receipts WHERE staff='cashier-7'"), 1);
    tu_stop(h, 1);
}

/* Completes `receipt` with `lines` for member `code` (or none) and returns
 * complete()'s sentence; the award's event is then looked up by receipt. */
static const char *complete_saying(tu_host *h, const char *receipt, const char *code,
                                   const tp_line *lines, size_t n, tp_message *msg)
{
    assert_int_equal(h->co->begin(h->plugin, receipt, "cashier-7", msg), TP_OK);
    if (code)
        assert_int_equal(h->co->scan(h->plugin, receipt, code, msg), TP_OK);
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = receipt,
                    .currency = "EUR", .lines = lines, .line_count = n};
    tp_award_preview pv = {.struct_size = sizeof pv};
    assert_int_equal(h->co->complete(h->plugin, receipt, &r, &pv, msg), TP_OK);
    assert_int_equal(pv.points, 0);
    tu_settle(h);
    return msg->text;
}

/* "+0 points" is never the whole story: complete() and the award's event
 * say why a sale earns nothing, each reason in its own words. */
static void a_zero_award_says_why(void **state)
{
    (void)state;
    tu_host *h = tu_start("[program]\npoints_per_unit = 1\nunit_minor = 500\n"
                          "min_eligible_minor = 300\n");
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    tp_line tax_only[] = {{.sku = "VAT", .amount_minor = 900, .flags = TP_LINE_TAX},
                          {.sku = "TIP", .amount_minor = 200, .flags = TP_LINE_TIP}};
    tp_line small[] = {{.sku = "A", .amount_minor = 250}};
    tp_line rounds[] = {{.sku = "A", .amount_minor = 450}};
    assert_string_equal(complete_saying(h, "Z-1", NULL, small, 1, &msg),
                        "Receipt Z-1 earns no points: no member was scanned.");
    assert_string_equal(complete_saying(h, "Z-2", "M-0001", tax_only, 2, &msg),
                        "Receipt Z-2 earns no points: none of its lines earn points (tax, tips, "
                        "gift cards and excluded items never do).");
    assert_string_equal(tu_find(h, TP_EVENT_AWARD_COMMITTED, "Z-2")->message,
                        "Receipt Z-2 earns no points for Ann: none of its lines earn points "
                        "(tax, tips, gift cards and excluded items never do). Balance 0.");
    assert_string_equal(complete_saying(h, "Z-3", "M-0001", small, 1, &msg),
                        "Receipt Z-3 earns no points: its eligible amount, 2.50 EUR, is below "
                        "the store's minimum of 3.00 EUR to earn points.");
    assert_string_equal(complete_saying(h, "Z-4", "M-0001", rounds, 1, &msg),
                        "Receipt Z-4 earns no points: its eligible amount, 4.50 EUR, is less "
                        "than one point's worth (1 point per 5.00 EUR, rounded down).");
    assert_non_null(strstr(tu_find(h, TP_EVENT_AWARD_COMMITTED, "Z-4")->message,
                           "less than one point's worth"));
    /* A sale that earns says nothing extra. */
    tp_line enough[] = {{.sku = "A", .amount_minor = 1000}};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = "Z-5",
                    .currency = "EUR", .lines = enough, .line_count = 1};
    assert_int_equal(h->co->begin(h->plugin, "Z-5", "cashier-7", &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "Z-5", "M-0001", &msg), TP_OK);
    assert_int_equal(h->co->complete(h->plugin, "Z-5", &r, NULL, &msg), TP_OK);
    assert_string_equal(msg.text, "");
    tu_stop(h, 1);
}

/* A visits program never speaks of points to the cashier: not in the
 * member's balance, the award, a refund, or why a visit earns nothing. */
static void a_visits_program_speaks_of_stamps(void **state)
{
    (void)state;
    tu_host *h = tu_start("[program]\nkind = visits\nmin_eligible_minor = 500\n");
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    tp_line small[] = {{.sku = "A", .amount_minor = 250}};
    assert_string_equal(complete_saying(h, "V-1", "M-0001", small, 1, &msg),
                        "Receipt V-1 earns no stamps: its eligible amount, 2.50 EUR, is below "
                        "the store's minimum of 5.00 EUR for a visit.");
    assert_string_equal(tu_find(h, TP_EVENT_MEMBER_IDENTIFIED, NULL)->message,
                        "Ann (M-0001), balance 0 stamps.");
    assert_int_equal(tu_sale(h, "V-2", "M-0001", 900, &msg), TP_OK);
    tu_settle(h);
    assert_string_equal(tu_find(h, TP_EVENT_AWARD_COMMITTED, "V-2")->message,
                        "Receipt V-2: +1 stamp for Ann; balance 1.");
    tp_refund rf = {.struct_size = sizeof rf, .refund_id = "V-2R", .receipt_id = "V-2",
                    .currency = "EUR", .full = 1};
    assert_int_equal(h->co->refund(h->plugin, &rf, &msg), TP_OK);
    tu_settle(h);
    assert_string_equal(tu_find(h, TP_EVENT_REFUND_COMMITTED, NULL)->message,
                        "Refund V-2R: -1 stamp for Ann; balance 0.");
    for (int i = 0; i < h->n_events; i++)
        if (strstr(h->ev[i].message, "point"))
            fail_msg("event %d speaks of points: %s", i, h->ev[i].message);
    /* Nor does a refusal. */
    tp_receipt usd = {.struct_size = sizeof usd, .line_stride = sizeof(tp_line),
                      .receipt_id = "V-3", .currency = "USD", .lines = small, .line_count = 1};
    assert_int_equal(h->co->begin(h->plugin, "V-3", "cashier-7", &msg), TP_OK);
    assert_int_equal(h->co->complete(h->plugin, "V-3", &usd, NULL, &msg), TP_ERR_UNSUPPORTED);
    assert_string_equal(msg.text, "This till earns stamps in EUR only; a receipt in USD earns "
                                  "none.");
    tu_stop(h, 1);
}

static void replaying_complete_never_awards_twice(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    for (int i = 0; i < 3; i++)
        assert_int_equal(tu_sale(h, "R-9", "M-0001", 1000, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0001"), 10);
    int replays = 0;
    for (int i = 0; i < h->n_events; i++)
        replays += h->ev[i].kind == TP_EVENT_AWARD_COMMITTED && h->ev[i].replayed;
    assert_int_equal(replays, 2);
    assert_int_equal(db_int(h, "SELECT count(*) FROM ledger"), 1);
    tu_stop(h, 1);
}

static void unknown_code_still_completes_the_sale_without_loyalty(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tp_message msg;
    assert_int_equal(tu_sale(h, "R-2", "GHOST-1", 500, &msg), TP_OK);
    tu_settle(h);
    /* The lookup and the award run on two threads; the host still gets
     * them in the order of its calls: unknown member first, then the sale. */
    assert_int_equal(h->n_events, 2);
    assert_int_equal(h->ev[0].kind, TP_EVENT_MEMBER_UNKNOWN);
    assert_int_equal(h->ev[0].status, TP_ERR_NOT_FOUND);
    assert_non_null(strstr(h->ev[0].message, "without points"));
    assert_int_equal(h->ev[1].kind, TP_EVENT_AWARD_COMMITTED);
    assert_int_equal(h->ev[1].points, 0);
    assert_int_equal(db_int(h, "SELECT count(*) FROM receipts"), 1);
    assert_int_equal(db_int(h, "SELECT count(*) FROM ledger"), 0);
    tu_stop(h, 1);
}

/* A gate on the lookup thread's connection: SQLite calls the progress
 * handler on the thread running the statement, so the first member lookup
 * after the gate is installed stops inside its query until the test opens
 * the gate. The writer has its own connection and goes on. That makes the
 * race of the issue (the award committed before the scan's lookup
 * answered) happen every time instead of by luck. */
typedef struct lookup_gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered; /* the lookup thread is inside a lookup, held */
    int open;
} lookup_gate;

static int gate_progress(void *arg)
{
    lookup_gate *g = arg;
    pthread_mutex_lock(&g->lock);
    if (!g->entered) {
        g->entered = 1;
        pthread_cond_broadcast(&g->cond);
    }
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    return 0; /* never interrupts the lookup */
}

/* Installed while the lookup thread is idle; the lookup queue's mutex
 * orders this before the thread's next statement. */
static void gate_close(tu_host *h, lookup_gate *g)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    tp_instance *in = tp_instance_of(h->plugin);
    sqlite3_progress_handler(tp_store_db(in->reader_store), 1, gate_progress, g);
}

/* 1 once the lookup thread is held inside a lookup, 0 after 10 s. */
static int gate_wait_entered(lookup_gate *g)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&g->lock);
    int rc = 0;
    while (!g->entered && rc == 0)
        rc = pthread_cond_timedwait(&g->cond, &g->lock, &until);
    int entered = g->entered;
    pthread_mutex_unlock(&g->lock);
    return entered;
}

static void gate_open(lookup_gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* After the plugin posted something since `before` callbacks: 1, or 0
 * after 10 s. The plugin asks for a callback when it has posted an event,
 * so this paces the test by what the plugin reports. */
static int wait_callback_after(tu_host *h, int before)
{
    for (int i = 0; i < 10000; i++) {
        if (atomic_load(&h->callbacks_requested) > before)
            return 1;
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Index of the first event of `kind` for transaction `txn`, or -1. */
static int event_index(const tu_host *h, tp_event_kind kind, const char *txn)
{
    for (int i = 0; i < h->n_events; i++)
        if (h->ev[i].kind == kind && strcmp(h->ev[i].txn, txn) == 0)
            return i;
    return -1;
}

/* The issue: the award was committed (writer thread) before the scan's
 * member lookup answered (lookup thread), and the host showed "points
 * saved" before "unknown member". Events of one transaction must come in
 * the order of the calls that caused them, whichever thread made them. */
static void events_of_one_transaction_arrive_in_call_order(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    lookup_gate g;
    gate_close(h, &g);
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, "T-ORD", NULL, &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "T-ORD", "GHOST-7", &msg), TP_OK);
    int held = gate_wait_entered(&g);
    int before = atomic_load(&h->callbacks_requested);
    tp_line line = {.sku = "A", .amount_minor = 500};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = "R-ORD",
                    .currency = "EUR", .lines = &line, .line_count = 1};
    tp_status st = h->co->complete(h->plugin, "T-ORD", &r, NULL, &msg);
    /* The award is committed and posted while the lookup is still held:
     * the host is called back now and delivers what it may. */
    int posted = st == TP_OK && wait_callback_after(h, before);
    h->plugin->on_main_thread(h->plugin);
    int early = h->n_events;
    /* A second sale whose scan answers at once: identified, then awarded. */
    gate_open(&g);
    tu_settle(h);
    assert_int_equal(tu_sale(h, "R-ORD2", "M-0001", 700, &msg), TP_OK);
    tu_settle(h);

    assert_true(held);
    assert_int_equal(st, TP_OK);
    assert_true(posted);
    int unknown = event_index(h, TP_EVENT_MEMBER_UNKNOWN, "T-ORD");
    int award = event_index(h, TP_EVENT_AWARD_COMMITTED, "T-ORD");
    assert_true(unknown >= 0);
    assert_true(award > unknown);
    assert_int_equal(early, 0); /* held back, not lost: it came after */
    assert_int_equal(h->ev[award].points, 0);
    int known = event_index(h, TP_EVENT_MEMBER_IDENTIFIED, "R-ORD2");
    int award2 = event_index(h, TP_EVENT_AWARD_COMMITTED, "R-ORD2");
    assert_true(known >= 0);
    assert_true(award2 > known);
    assert_int_equal(h->ev[award2].points, 7);
    assert_int_equal(h->n_events, 4);
    tu_stop(h, 1);
}

/* An award waits for its own sale's lookup only: another sale's lookup
 * still running does not delay an award with none pending, nor one whose
 * scan was refused because the lookup queue was full (that lookup never
 * answers, so waiting for it would hold the award forever). */
static void a_sale_without_a_pending_lookup_is_not_held_back(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    lookup_gate g;
    gate_close(h, &g);
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, "SLOW", NULL, &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "SLOW", "GHOST-1", &msg), TP_OK);
    int held = gate_wait_entered(&g);
    /* Fill the lookup queue behind the held lookup. */
    assert_int_equal(h->co->begin(h->plugin, "FILL", NULL, &msg), TP_OK);
    int refused = 0;
    for (int i = 0; i < 100000 && !refused; i++) {
        assert_int_equal(h->co->scan(h->plugin, "FILL", "GHOST-2", &msg), TP_OK);
        refused = strstr(msg.text, "busy") != NULL;
    }
    assert_int_equal(h->co->begin(h->plugin, "FULL", NULL, &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "FULL", "GHOST-3", &msg), TP_OK);
    int full_refused = strstr(msg.text, "busy") != NULL;
    int before = atomic_load(&h->callbacks_requested);
    tp_status st_plain = tu_sale(h, "PLAIN", NULL, 300, &msg);
    tp_line line = {.sku = "A", .amount_minor = 300};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = "FULL",
                    .currency = "EUR", .lines = &line, .line_count = 1};
    tp_status st_full = h->co->complete(h->plugin, "FULL", &r, NULL, &msg);
    int posted = wait_callback_after(h, before);
    /* Both awards commit in the writer's order; wait for the second. */
    tp_instance *in = tp_instance_of(h->plugin);
    for (int i = 0; i < 10000 && tp_queue_pending(&in->write_q) > 0; i++) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    h->plugin->on_main_thread(h->plugin);
    int plain = event_index(h, TP_EVENT_AWARD_COMMITTED, "PLAIN");
    int full = event_index(h, TP_EVENT_AWARD_COMMITTED, "FULL");
    int n_early = h->n_events;
    gate_open(&g);
    tu_settle(h);

    assert_true(held);
    assert_true(refused);
    assert_true(full_refused);
    assert_int_equal(st_full, TP_OK);
    assert_int_equal(st_plain, TP_OK);
    assert_true(posted);
    assert_int_equal(n_early, 2);
    assert_int_equal(plain, 0);
    assert_int_equal(full, 1);
    assert_true(event_index(h, TP_EVENT_MEMBER_UNKNOWN, "SLOW") > full);
    tu_stop(h, 1);
}

/* An award held back for its lookup when the plugin is destroyed is freed
 * with the instance (the sanitizer builds check the memory). */
static void destroy_frees_events_still_held_back(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    lookup_gate g;
    gate_close(h, &g);
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, "T-D", NULL, &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "T-D", "GHOST-9", &msg), TP_OK);
    int held = gate_wait_entered(&g);
    int before = atomic_load(&h->callbacks_requested);
    tp_line line = {.sku = "A", .amount_minor = 100};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = "R-D",
                    .currency = "EUR", .lines = &line, .line_count = 1};
    tp_status st = h->co->complete(h->plugin, "T-D", &r, NULL, &msg);
    int posted = wait_callback_after(h, before);
    h->plugin->on_main_thread(h->plugin);
    int early = h->n_events;
    gate_open(&g);
    tu_stop(h, 1);
    assert_true(held);
    assert_int_equal(st, TP_OK);
    assert_true(posted);
    assert_int_equal(early, 0);
}

static void cancel_voids_the_sale_and_records_nothing(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, "T5", NULL, &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "T5", "M-0001", &msg), TP_OK);
    assert_int_equal(h->co->cancel(h->plugin, "T5", &msg), TP_OK);
    assert_int_equal(h->co->cancel(h->plugin, "T5", &msg), TP_ERR_NOT_FOUND);
    tu_settle(h);
    assert_int_equal(db_int(h, "SELECT count(*) FROM receipts"), 0);
    /* The id can be used again after a void. */
    assert_int_equal(h->co->begin(h->plugin, "T5", NULL, &msg), TP_OK);
    tu_stop(h, 1);
}

/* Every refused call: its status, a sentence, and nothing changed. */
static void bad_input_is_refused_with_a_sentence_and_changes_nothing(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    const tp_checkout_ext *co = h->co;
    const tp_plugin *p = h->plugin;
    tp_message msg;
    char longid[TP_TXN_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    char longcode[TP_CODE_MAX + 2];
    memset(longcode, '7', sizeof longcode - 1);
    longcode[sizeof longcode - 1] = '\0';
    tp_line ok_line = {.sku = "A", .amount_minor = 100};
    tp_line neg_line = {.sku = "A", .amount_minor = -100};
    tp_line huge[2] = {{.amount_minor = TP_AMOUNT_MAX}, {.amount_minor = TP_AMOUNT_MAX}};
    tp_receipt usd = {.struct_size = sizeof usd, .line_stride = sizeof(tp_line), .receipt_id = "R",
                      .currency = "USD", .lines = &ok_line, .line_count = 1};
    tp_receipt junkcur = {.struct_size = sizeof junkcur, .line_stride = sizeof(tp_line),
                          .receipt_id = "R", .currency = "eu", .lines = &ok_line, .line_count = 1};
    tp_receipt neg = {.struct_size = sizeof neg, .line_stride = sizeof(tp_line), .receipt_id = "R",
                      .currency = "EUR", .lines = &neg_line, .line_count = 1};
    tp_receipt over = {.struct_size = sizeof over, .line_stride = sizeof(tp_line),
                       .receipt_id = "R", .currency = "EUR", .lines = huge, .line_count = 2};
    tp_receipt future = {.struct_size = sizeof future, .line_stride = sizeof(tp_line),
                         .receipt_id = "R", .currency = "EUR", .lines = &ok_line, .line_count = 1,
                         .time_ms = INT64_MAX};
    tp_receipt noid = {.struct_size = sizeof noid, .line_stride = sizeof(tp_line),
                       .receipt_id = NULL, .currency = "EUR", .lines = &ok_line, .line_count = 1};
    tp_refund bigref = {.struct_size = sizeof bigref, .refund_id = "F", .receipt_id = "R",
                        .currency = "EUR", .amount_minor = TP_AMOUNT_MAX + 1};
    tp_refund zeroref = {.struct_size = sizeof zeroref, .refund_id = "F", .receipt_id = "R",
                         .currency = "EUR"};

    assert_int_equal(co->begin(p, "OPEN", NULL, &msg), TP_OK);
    assert_int_equal(co->scan(p, "OPEN", "M-0001", &msg), TP_OK);
    struct {
        tp_status got, want;
        const char *needle;
    } cases[] = {
        {co->begin(NULL, "T", NULL, &msg), TP_ERR_INVALID_ARGUMENT, "instance"},
        {co->begin(p, NULL, NULL, &msg), TP_ERR_INVALID_ARGUMENT, "missing"},
        {co->begin(p, "", NULL, &msg), TP_ERR_INVALID_ARGUMENT, "missing"},
        {co->begin(p, longid, NULL, &msg), TP_ERR_TOO_LONG, "longer than 64"},
        {co->begin(p, "bad\x01id", NULL, &msg), TP_ERR_INVALID_ARGUMENT, "control"},
        {co->begin(p, "OPEN", NULL, &msg), TP_ERR_STATE, "already open"},
        {co->scan(p, "NOPE", "M-0001", &msg), TP_ERR_NOT_FOUND, "begin it first"},
        {co->scan(p, "OPEN", NULL, &msg), TP_ERR_INVALID_ARGUMENT, "No code"},
        {co->scan(p, "OPEN", longcode, &msg), TP_ERR_TOO_LONG, "not a loyalty code"},
        {co->scan(p, "OPEN", "   ", &msg), TP_ERR_INVALID_ARGUMENT, "empty"},
        {co->scan(p, "OPEN", "DROP TABLE;", &msg), TP_ERR_INVALID_ARGUMENT, "not a loyalty code"},
        {co->complete(p, "NOPE", &neg, NULL, &msg), TP_ERR_NOT_FOUND, "begin it first"},
        {co->complete(p, "OPEN", NULL, NULL, &msg), TP_ERR_INVALID_ARGUMENT, "No receipt"},
        {co->complete(p, "OPEN", &noid, NULL, &msg), TP_ERR_INVALID_ARGUMENT, "receipt number"},
        {co->complete(p, "OPEN", &usd, NULL, &msg), TP_ERR_UNSUPPORTED, "EUR only"},
        {co->complete(p, "OPEN", &junkcur, NULL, &msg), TP_ERR_INVALID_ARGUMENT, "ISO 4217"},
        {co->complete(p, "OPEN", &neg, NULL, &msg), TP_ERR_INVALID_ARGUMENT, "Line 1"},
        {co->complete(p, "OPEN", &over, NULL, &msg), TP_ERR_INVALID_ARGUMENT, "total"},
        {co->complete(p, "OPEN", &future, NULL, &msg), TP_ERR_INVALID_ARGUMENT, "clock"},
        {co->cancel(p, NULL, &msg), TP_ERR_INVALID_ARGUMENT, "missing"},
        {co->refund(p, NULL, &msg), TP_ERR_INVALID_ARGUMENT, "No refund"},
        {co->refund(p, &bigref, &msg), TP_ERR_INVALID_ARGUMENT, "refund amount"},
        {co->refund(p, &zeroref, &msg), TP_ERR_INVALID_ARGUMENT, "refund amount"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (cases[i].got != cases[i].want)
            fail_msg("case %zu: status %d, want %d", i, cases[i].got, cases[i].want);
    /* The sentences, one call at a time (msg above holds only the last). */
    assert_int_equal(co->complete(p, "OPEN", &usd, NULL, &msg), TP_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg.text, "EUR only"));
    assert_int_equal(co->begin(p, "OPEN", NULL, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "already open"));
    assert_int_equal(co->scan(p, "OPEN", "DROP TABLE;", &msg), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "contains a space"));
    assert_int_equal(co->complete(p, "NOPE", &neg, NULL, &msg), TP_ERR_NOT_FOUND);
    assert_non_null(strstr(msg.text, "begin it first"));
    /* NULL message pointers are allowed. */
    assert_int_equal(co->begin(p, NULL, NULL, NULL), TP_ERR_INVALID_ARGUMENT);

    tu_settle(h);
    assert_int_equal(db_int(h, "SELECT count(*) FROM receipts"), 0);
    assert_int_equal(db_int(h, "SELECT count(*) FROM ledger"), 0);
    /* The open transaction survived every refusal and still completes,
     * with the member scanned before the bad scans. */
    tp_receipt good = {.struct_size = sizeof good, .line_stride = sizeof(tp_line),
                       .receipt_id = "R-OK", .currency = "EUR", .lines = &ok_line, .line_count = 1};
    tp_award_preview pv = {.struct_size = sizeof pv};
    assert_int_equal(co->complete(p, "OPEN", &good, &pv, &msg), TP_OK);
    assert_int_equal(pv.points, 1);
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0001"), 1);
    tu_stop(h, 1);
}

static void too_many_open_transactions_is_busy_not_blocking(void **state)
{
    (void)state;
    tu_host *h = tu_start("[limits]\nmax_open_transactions = 2\n");
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, "A", NULL, &msg), TP_OK);
    assert_int_equal(h->co->begin(h->plugin, "B", NULL, &msg), TP_OK);
    assert_int_equal(h->co->begin(h->plugin, "C", NULL, &msg), TP_ERR_BUSY);
    assert_non_null(strstr(msg.text, "already open"));
    tu_stop(h, 1);
}

/* A host that stops calling on_main_thread. The plugin keeps every
 * outcome it owes (each accepted sale's award arrives exactly once when the
 * host comes back) but bounds what it holds: once the waiting events reach
 * the cap, checkout refuses new work as busy, with a sentence, instead of
 * queueing more; notices of no transaction beyond the cap are dropped,
 * counted and reported when the host calls back. */
#define BL_SALES 4000
static unsigned char bl_accepted[BL_SALES];
static int bl_awards[BL_SALES];
static int bl_free_events;

static void bl_on_event(const tp_host *host, const tp_event *plugin_event)
{
    const tp_event ev = tp_event_read(plugin_event), *e = &ev;
    tu_on_event(host, e);
    int n;
    if (e->kind == TP_EVENT_AWARD_COMMITTED && sscanf(e->receipt_id, "BL-%d", &n) == 1 &&
        n >= 0 && n < BL_SALES)
        bl_awards[n]++;
    if (e->kind == TP_EVENT_SCANNER_ONLINE)
        bl_free_events++;
}

static tp_status bl_complete(tu_host *h, const char *rec, tp_message *msg)
{
    tp_line line = {.sku = "SKU-1", .amount_minor = 1000};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = rec,
                    .currency = "EUR", .lines = &line, .line_count = 1};
    return h->co->complete(h->plugin, rec, &r, NULL, msg);
}

static void a_host_that_stops_collecting_events_is_refused_as_busy_and_owed_nothing(void **state)
{
    (void)state;
    tu_host *h = tu_start("[limits]\nqueue_capacity = 64\nbatch_max = 16\n");
    h->events_ext.on_event = bl_on_event;
    memset(bl_accepted, 0, sizeof bl_accepted);
    memset(bl_awards, 0, sizeof bl_awards);
    bl_free_events = 0;
    tu_add_member(h, "M-BL", "Bea");
    tu_settle(h);
    tp_instance *in = tp_instance_of(h->plugin);
    size_t cap = tp_instance_events_cap(in);
    tp_message msg;
    char rec[32];
    int accepted = 0, refused_at = -1;
    /* Sell, never calling on_main_thread, until the plugin says it waits
     * for the till. A full write queue is another busy: the writer drains
     * it (flush does not deliver events), then the sale completes. */
    for (int i = 0; i < BL_SALES && refused_at < 0; i++) {
        snprintf(rec, sizeof rec, "BL-%d", i);
        assert_int_equal(h->co->begin(h->plugin, rec, NULL, &msg), TP_OK);
        tp_status st = h->co->scan(h->plugin, rec, "M-BL", &msg);
        if (st == TP_OK)
            while ((st = bl_complete(h, rec, &msg)) == TP_ERR_BUSY &&
                   !strstr(msg.text, "collect its messages"))
                assert_int_equal(h->ad->checkout->flush(h->plugin, TU_SETTLE_MS, &msg), TP_OK);
        if (st == TP_OK) {
            bl_accepted[i] = 1;
            accepted++;
            continue;
        }
        assert_int_equal(st, TP_ERR_BUSY);
        if (!strstr(msg.text, "collect its messages"))
            fail_msg("sale %d: %s", i, msg.text);
        assert_int_equal(h->co->cancel(h->plugin, rec, &msg), TP_OK);
        refused_at = i;
    }
    assert_true(refused_at > 0);
    assert_true((size_t)accepted * 2 >= cap - 2); /* a lookup and an award each */
    assert_int_equal(h->ad->checkout->flush(h->plugin, TU_SETTLE_MS, &msg), TP_OK);
    size_t waiting = atomic_load(&in->events_waiting);
    assert_true(waiting >= cap);
    assert_true(waiting < 2 * cap);

    /* Still refused, at once, for every call that would queue work; the
     * refused calls change nothing. */
    assert_int_equal(h->co->begin(h->plugin, "BL-X", NULL, &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "BL-X", "M-BL", &msg), TP_ERR_BUSY);
    assert_non_null(strstr(msg.text, "collect its messages"));
    assert_int_equal(bl_complete(h, "BL-X", &msg), TP_ERR_BUSY);
    tp_refund rf = {.struct_size = sizeof rf, .refund_id = "BL-RF", .receipt_id = "BL-0",
                    .currency = "EUR", .full = 1};
    assert_int_equal(h->co->refund(h->plugin, &rf, &msg), TP_ERR_BUSY);
    assert_non_null(strstr(msg.text, "collect its messages"));
    assert_int_equal(h->co->cancel(h->plugin, "BL-X", &msg), TP_OK);

    /* Notices of no transaction are dropped at the cap: counted, logged
     * once for the episode, and the list does not grow. */
    int logs = tu_logged(h, NULL, 0);
    for (int i = 0; i < 5; i++) {
        tp_outcome o;
        memset(&o, 0, sizeof o);
        o.kind = TP_EVENT_SCANNER_ONLINE;
        tp_copy(o.message, sizeof o.message, "Scanner online.");
        tp_instance_post(in, &o);
    }
    char last[TP_MESSAGE_MAX + 1];
    assert_int_equal(tu_logged(h, last, sizeof last), logs + 1);
    assert_non_null(strstr(last, "has not collected"));
    assert_int_equal(atomic_load(&in->events_waiting), waiting);
    pthread_mutex_lock(&in->events_lock);
    uint64_t dropped = in->events_dropped;
    pthread_mutex_unlock(&in->events_lock);
    assert_int_equal(dropped, 5);

    /* The host comes back: every accepted award arrives exactly once, the
     * refused sales have none, and the host hears how many notices went. */
    h->plugin->on_main_thread(h->plugin);
    assert_int_equal(atomic_load(&in->events_waiting), 0);
    for (int i = 0; i < BL_SALES; i++)
        if (bl_awards[i] != (bl_accepted[i] ? 1 : 0))
            fail_msg("sale BL-%d (%s): %d award events", i,
                     bl_accepted[i] ? "accepted" : "refused", bl_awards[i]);
    assert_int_equal(bl_free_events, 0);
    assert_int_equal(tu_logged(h, last, sizeof last), logs + 2);
    assert_non_null(strstr(last, "5 scanner, sync or storage notices were dropped"));
    assert_int_equal(db_int(h, "SELECT count(*) FROM receipts WHERE receipt LIKE 'BL-%'"),
                     accepted);

    /* And sells again. */
    h->n_events = 0; /* tu_on_event keeps the first 256 only */
    assert_int_equal(tu_sale(h, "BL-AFTER", "M-BL", 1000, &msg), TP_OK);
    tu_settle(h);
    assert_non_null(tu_find(h, TP_EVENT_AWARD_COMMITTED, "BL-AFTER"));
    tu_stop(h, 1);
}

static void calls_before_init_are_refused(void **state)
{
    (void)state;
    tu_host *h = calloc(1, sizeof *h);
    h->host.abi = (tp_version)TP_VERSION_INIT;
    h->host.struct_size = sizeof h->host;
    h->host.host_data = h;
    h->host.request_callback = tu_request_callback;
    h->main_thread = pthread_self();
    tp_message msg;
    const tp_plugin *p = tillpoints_entry.create(&h->host, NULL, &msg);
    assert_non_null(p);
    const tp_checkout_ext *co = p->get_extension(p, TP_EXT_CHECKOUT);
    assert_int_equal(co->begin(p, "T", NULL, &msg), TP_ERR_STATE);
    assert_non_null(strstr(msg.text, "init"));
    assert_null(p->get_extension(p, "tillpoints.no-such/1"));
    p->destroy(p);
    free(h);
}

static void host_of_another_major_version_is_refused(void **state)
{
    (void)state;
    tp_host host;
    memset(&host, 0, sizeof host);
    host.abi = (tp_version){TP_ABI_MAJOR + 1, 0, 0};
    host.request_callback = tu_request_callback;
    tp_message msg;
    assert_null(tillpoints_entry.create(&host, NULL, &msg));
    assert_non_null(strstr(msg.text, "ABI"));
    assert_null(tillpoints_entry.create(NULL, NULL, &msg));
}

static void a_bad_config_file_stops_init_with_its_line(void **state)
{
    (void)state;
    char dir[256], path[300];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.conf", dir);
    tu_write_file(path, "[program]\nrounding = sideways\n");
    tp_host host = tu_bare_host();
    tp_message msg;
    const tp_plugin *p = tillpoints_entry.create(&host, path, &msg);
    assert_non_null(p);
    assert_int_equal(p->init(p, &msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg.text, "line 2"));
    assert_int_equal(p->init(p, &msg), TP_ERR_STATE);
    p->destroy(p);
    tu_rmdir(dir);
}

static void two_instances_coexist_on_their_own_databases(void **state)
{
    (void)state;
    tu_host *a = tu_start("[store]\nlocation = a\n");
    tu_host *b = tu_start("[store]\nlocation = b\n");
    tu_add_member(a, "M-AB", "In A");
    tu_add_member(b, "M-AB", "In B");
    tp_message msg;
    assert_int_equal(tu_sale(a, "R", "M-AB", 500, &msg), TP_OK);
    assert_int_equal(tu_sale(b, "R", "M-AB", 900, &msg), TP_OK);
    tu_settle(a);
    tu_settle(b);
    assert_int_equal(tu_balance(a, "M-AB"), 5);
    assert_int_equal(tu_balance(b, "M-AB"), 9);
    tu_stop(a, 1);
    tu_stop(b, 1);
}

static void acknowledged_awards_survive_destroy_and_restart(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    char id[32];
    for (int i = 0; i < 500; i++) {
        snprintf(id, sizeof id, "R-%d", i);
        assert_int_equal(tu_sale(h, id, "M-0001", 100, &msg), TP_OK);
    }
    /* No flush: destroy itself must write everything acknowledged. */
    char dir[256], config[300];
    snprintf(dir, sizeof dir, "%s", h->dir);
    snprintf(config, sizeof config, "%s", h->config);
    h->plugin->destroy(h->plugin);
    h->plugin = NULL;
    tu_stop(h, 0);
    tp_host host = tu_bare_host();
    const tp_plugin *p = tillpoints_entry.create(&host, config, &msg);
    assert_int_equal(p->init(p, &msg), TP_OK);
    tp_admin_set ads;
    const tp_admin_set *ad = tu_admin_set(p, &ads);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(ad->members->member_get(p, "M-0001", &info, &msg), TP_OK);
    assert_int_equal(info.balance, 500);
    p->destroy(p);
    tu_rmdir(dir);
}

static void visits_program_stamps_once_per_period(void **state)
{
    (void)state;
    tu_host *h = tu_start("[program]\nkind = visits\nmin_eligible_minor = 300\n"
                          "visit_period_hours = 24\n");
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    assert_int_equal(tu_sale(h, "V-1", "M-0001", 299, &msg), TP_OK); /* below minimum */
    assert_int_equal(tu_sale(h, "V-2", "M-0001", 500, &msg), TP_OK); /* a stamp */
    assert_int_equal(tu_sale(h, "V-3", "M-0001", 900, &msg), TP_OK); /* same day: none */
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0001"), 1);
    assert_int_equal(tu_last(h)->kind, TP_EVENT_AWARD_COMMITTED);
    assert_non_null(strstr(tu_last(h)->message, "already got a stamp within the last 24 hours"));
    tu_stop(h, 1);
}

static void live_scan_gets_the_campaign_bonus(void **state)
{
    (void)state;
    tu_host *h = tu_start("[campaign \"always\"]\nmultiplier = 3\nbonus = 5\n");
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    assert_int_equal(tu_sale(h, "C-1", "M-0001", 1000, &msg), TP_OK); /* 10 x3 + 5 */
    tu_settle(h);
    assert_int_equal(tu_balance(h, "M-0001"), 35);
    tu_stop(h, 1);
}

static int64_t count_from_another_process(tu_host *h)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sqlite3 '%s/test.db' 'SELECT count(*) FROM receipts'", h->dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    long long n = -1;
    if (fscanf(p, "%lld", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

/* Regression: the store once opened and closed the database file for each
 * connection, which dropped this process's POSIX locks; another process
 * closing the database then deleted the WAL the plugin was still writing,
 * and later commits became invisible (and lost at a crash). */
static void another_process_reading_the_database_never_loses_our_writes(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tp_message msg;
    assert_int_equal(tu_sale(h, "W-1", NULL, 100, &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(count_from_another_process(h), 1);
    assert_int_equal(tu_sale(h, "W-2", NULL, 100, &msg), TP_OK);
    tu_settle(h);
    char wal[320];
    snprintf(wal, sizeof wal, "%s/test.db-wal", h->dir);
    assert_int_equal(access(wal, F_OK), 0);
    assert_int_equal(count_from_another_process(h), 2);
    tu_stop(h, 1);
}

static void sync_status_is_off_when_standalone(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    const tp_sync_ext *sx = h->plugin->get_extension(h->plugin, TP_EXT_SYNC);
    assert_non_null(sx);
    tp_sync_status ss = {.struct_size = sizeof ss};
    tp_message msg;
    assert_int_equal(sx->status(h->plugin, &ss, &msg), TP_OK);
    assert_false(ss.configured);
    assert_int_equal(ss.state, TP_SYNC_OFF);
    tu_stop(h, 1);
}

/* A manager's long task (an import, verify, the CLI in another process)
 * holding the write lock past the busy timeout is contention, not a disk
 * fault: the writer retries on its connection and the cashier sees no
 * storage alarm; the award is saved once the lock is free. The test holds
 * BEGIN IMMEDIATE on its own connection and waits until the plugin logs
 * that its writer found the database locked. */
static void another_connection_holding_the_write_lock_raises_no_storage_alarm(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    char path[300];
    snprintf(path, sizeof path, "%s/test.db", h->dir);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int logs_before = tu_logged(h, NULL, 0);
    tp_message msg;
    assert_int_equal(tu_sale(h, "L-1", "GHOST-1", 500, &msg), TP_OK);
    char last[TP_MESSAGE_MAX + 1] = "";
    int waited_ms = 0;
    while (!(tu_logged(h, last, sizeof last) > logs_before && strstr(last, "locked"))) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
        waited_ms += 10;
        if (waited_ms > TU_SETTLE_MS)
            fail_msg("the writer never reported the locked database; last log: %s", last);
    }
    h->plugin->on_main_thread(h->plugin);
    for (int i = 0; i < h->n_events; i++)
        assert_int_not_equal(h->ev[i].kind, TP_EVENT_STORAGE_ERROR);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    tu_settle(h);
    for (int i = 0; i < h->n_events; i++)
        assert_int_not_equal(h->ev[i].kind, TP_EVENT_STORAGE_ERROR);
    assert_non_null(tu_find(h, TP_EVENT_AWARD_COMMITTED, "L-1")); /* saved, no member */
    assert_int_equal(db_int(h, "SELECT count(*) FROM receipts WHERE receipt = 'L-1'"), 1);
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_identifies_and_complete_awards_on_the_main_thread),
        cmocka_unit_test(a_zero_award_says_why),
        cmocka_unit_test(a_visits_program_speaks_of_stamps),
        cmocka_unit_test(replaying_complete_never_awards_twice),
        cmocka_unit_test(unknown_code_still_completes_the_sale_without_loyalty),
        cmocka_unit_test(events_of_one_transaction_arrive_in_call_order),
        cmocka_unit_test(a_sale_without_a_pending_lookup_is_not_held_back),
        cmocka_unit_test(destroy_frees_events_still_held_back),
        cmocka_unit_test(cancel_voids_the_sale_and_records_nothing),
        cmocka_unit_test(bad_input_is_refused_with_a_sentence_and_changes_nothing),
        cmocka_unit_test(too_many_open_transactions_is_busy_not_blocking),
        cmocka_unit_test(a_host_that_stops_collecting_events_is_refused_as_busy_and_owed_nothing),
        cmocka_unit_test(calls_before_init_are_refused),
        cmocka_unit_test(host_of_another_major_version_is_refused),
        cmocka_unit_test(a_bad_config_file_stops_init_with_its_line),
        cmocka_unit_test(two_instances_coexist_on_their_own_databases),
        cmocka_unit_test(acknowledged_awards_survive_destroy_and_restart),
        cmocka_unit_test(visits_program_stamps_once_per_period),
        cmocka_unit_test(live_scan_gets_the_campaign_bonus),
        cmocka_unit_test(another_process_reading_the_database_never_loses_our_writes),
        cmocka_unit_test(sync_status_is_off_when_standalone),
        cmocka_unit_test(another_connection_holding_the_write_lock_raises_no_storage_alarm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
