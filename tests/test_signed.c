/* [scan] require_signed through the ABI (checkout and admin extensions):
 * members who must show their signed app pass get no points for a plain
 * code, and the cashier is told what to do; everyone else is unchanged
 * (docs/INTEGRATING.md, "Signed passes"). */
#include "testutil.h"

#include <sodium.h>

static unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
static char pk_hex[2 * crypto_sign_PUBLICKEYBYTES + 1];

static int make_keys(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    crypto_sign_keypair(pk, sk);
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
    return 0;
}

/* v1|code|expiry|sig, valid until 2100. */
static void pass_for(char *out, size_t cap, const char *code)
{
    char body[200];
    unsigned char sig[crypto_sign_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    int n = snprintf(body, sizeof body, "v1|%s|4102444800000", code);
    crypto_sign_detached(sig, NULL, (const unsigned char *)body, (size_t)n, sk);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, cap, "%s|%s", body, b64);
}

static tu_host *start(const char *mode)
{
    char ini[400];
    snprintf(ini, sizeof ini, "[scan]\ntoken_public_key = %s\nrequire_signed = %s\n", pk_hex,
             mode);
    tu_host *h = tu_start(ini);
    tp_member_new app = {.struct_size = sizeof app, .code = "M-APP", .name = "Ann App",
                         .app_id = "app-ann"};
    tp_member_new card = {.struct_size = sizeof card, .code = "M-CARD", .name = "Carl Card"};
    tp_message msg;
    assert_int_equal(h->ad->members->member_add(h->plugin, &app, NULL, &msg), TP_OK);
    assert_int_equal(h->ad->members->member_add_card(h->plugin, "M-APP", "CARD-ANN", &msg), TP_OK);
    assert_int_equal(h->ad->members->member_add(h->plugin, &card, NULL, &msg), TP_OK);
    return h;
}

/* The last event of `kind` for receipt/txn `id`. */
static const tu_event *event_for(const tu_host *h, tp_event_kind kind, const char *id)
{
    for (int i = h->n_events - 1; i >= 0; i--)
        if (h->ev[i].kind == kind &&
            (strcmp(h->ev[i].txn, id) == 0 || strcmp(h->ev[i].receipt, id) == 0))
            return &h->ev[i];
    fail_msg("no event %d for %s", (int)kind, id);
    return NULL;
}

/* One sale: begin, scan `code` (its status returned in *scan_st), one line
 * of 1000 minor units, complete. */
static void sale(tu_host *h, const char *id, const char *code, tp_status *scan_st,
                 tp_message *scan_msg)
{
    tp_message msg;
    assert_int_equal(h->co->begin(h->plugin, id, "staff-1", &msg), TP_OK);
    *scan_st = h->co->scan(h->plugin, id, code, scan_msg);
    tp_line line = {.sku = "SKU-1", .amount_minor = 1000};
    tp_receipt r = {.struct_size = sizeof r, .line_stride = sizeof(tp_line), .receipt_id = id,
                    .currency = "EUR", .lines = &line, .line_count = 1};
    assert_int_equal(h->co->complete(h->plugin, id, &r, NULL, &msg), TP_OK);
    tu_settle(h);
}

static void app_mode_refuses_plain_codes_of_app_members_with_a_sentence(void **state)
{
    (void)state;
    tu_host *h = start("app");
    tp_status st;
    tp_message msg;
    /* The member's code, a card of theirs and their app id typed in: each a
     * plain code. */
    const char *plain[] = {"M-APP", "CARD-ANN", "app-ann"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char id[16];
        snprintf(id, sizeof id, "R-%zu", i);
        sale(h, id, plain[i], &st, &msg);
        assert_int_equal(st, TP_OK); /* not known yet on the host's thread */
        const tu_event *who = event_for(h, TP_EVENT_MEMBER_UNKNOWN, id);
        assert_int_equal(who->status, TP_ERR_UNSUPPORTED);
        assert_non_null(strstr(who->message, "This member uses the app: ask them to show the "
                                             "pass in the app"));
        assert_null(strstr(who->message, "Ann")); /* no name for a refused code */
        const tu_event *award = event_for(h, TP_EVENT_AWARD_COMMITTED, id);
        assert_int_equal(award->status, TP_ERR_UNSUPPORTED);
        assert_int_equal(award->points, 0);
        assert_string_equal(award->member_code, "");
        assert_non_null(strstr(award->message, "recorded without points"));
        assert_non_null(strstr(award->message, "This member uses the app"));
        /* Unclaimed: a code to print so a manager can credit it later. */
        assert_true(strncmp(award->receipt_code, "TPR1|", 5) == 0);
    }
    assert_int_equal(tu_balance(h, "M-APP"), 0);

    /* The pass from the app: identified and credited. */
    char pass[300];
    pass_for(pass, sizeof pass, "M-APP");
    sale(h, "R-PASS", pass, &st, &msg);
    assert_int_equal(st, TP_OK);
    assert_string_equal(event_for(h, TP_EVENT_MEMBER_IDENTIFIED, "R-PASS")->member_code, "M-APP");
    assert_int_equal(event_for(h, TP_EVENT_AWARD_COMMITTED, "R-PASS")->points, 10);
    assert_int_equal(tu_balance(h, "M-APP"), 10);

    /* A member without an app id goes on with the card. */
    sale(h, "R-CARD", "M-CARD", &st, &msg);
    assert_int_equal(st, TP_OK);
    assert_int_equal(event_for(h, TP_EVENT_AWARD_COMMITTED, "R-CARD")->points, 10);
    assert_int_equal(tu_balance(h, "M-CARD"), 10);
    tu_stop(h, 1);
}

static void all_mode_refuses_every_plain_code_at_the_scan(void **state)
{
    (void)state;
    tu_host *h = start("all");
    tp_status st;
    tp_message msg;
    sale(h, "R-1", "M-CARD", &st, &msg);
    assert_int_equal(st, TP_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg.text, "ask the customer to show the pass in the app"));
    /* The refused scan changed nothing: the sale had no member. */
    const tu_event *award = event_for(h, TP_EVENT_AWARD_COMMITTED, "R-1");
    assert_int_equal(award->points, 0);
    assert_non_null(strstr(award->message, "no member was scanned"));
    assert_int_equal(tu_balance(h, "M-CARD"), 0);

    char pass[300];
    pass_for(pass, sizeof pass, "M-CARD");
    sale(h, "R-2", pass, &st, &msg);
    assert_int_equal(st, TP_OK);
    assert_int_equal(event_for(h, TP_EVENT_AWARD_COMMITTED, "R-2")->points, 10);
    assert_int_equal(tu_balance(h, "M-CARD"), 10);
    tu_stop(h, 1);
}

static void no_mode_keeps_plain_codes_working(void **state)
{
    (void)state;
    tu_host *h = start("no");
    tp_status st;
    tp_message msg;
    sale(h, "R-1", "M-APP", &st, &msg);
    assert_int_equal(st, TP_OK);
    assert_int_equal(event_for(h, TP_EVENT_AWARD_COMMITTED, "R-1")->points, 10);
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(app_mode_refuses_plain_codes_of_app_members_with_a_sentence),
        cmocka_unit_test(all_mode_refuses_every_plain_code_at_the_scan),
        cmocka_unit_test(no_mode_keeps_plain_codes_working),
    };
    return cmocka_run_group_tests(tests, make_keys, NULL);
}
