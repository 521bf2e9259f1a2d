/* Tests for plugin/members.c: normalisation and lookup by every key. */
#include "testutil.h"

#include "members.h"

static void phones_normalise_to_e164(void **state)
{
    (void)state;
    struct {
        const char *in, *want;
    } ok[] = {
        {"+49 151 1234-5678", "+4915112345678"}, {"0151 12345678", "+4915112345678"},
        {"0049 (151) 12345678", "+4915112345678"}, {"15112345678", "+4915112345678"},
        {"+1 212 555 0199", "+12125550199"},
    };
    char out[TP_PHONE_MAX + 1];
    tp_message msg;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(tp_normalise_phone(ok[i].in, 49, out, sizeof out, &msg), TP_OK);
        assert_string_equal(out, ok[i].want);
    }
    const char *bad[] = {"12345", "+49 151 12345678 ext 4", "0", "+0123456789", "phone"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (tp_normalise_phone(bad[i], 49, out, sizeof out, &msg) == TP_OK)
            fail_msg("'%s' was accepted as %s", bad[i], out);
        assert_true(msg.text[0] != '\0');
    }
}

static void emails_normalise_to_trimmed_lower_case(void **state)
{
    (void)state;
    char out[TP_EMAIL_MAX + 1];
    tp_message msg;
    assert_int_equal(tp_normalise_email("  Ann.Example@Mail.EXAMPLE.com ", out, sizeof out, &msg),
                     TP_OK);
    assert_string_equal(out, "ann.example@mail.example.com");
    const char *bad[] = {"ann", "ann@", "@example.com", "a@b", "a b@example.com",
                         "a@@example.com", "a@example."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tp_normalise_email(bad[i], out, sizeof out, &msg) == TP_OK)
            fail_msg("'%s' was accepted", bad[i]);
}

static void a_member_is_found_by_code_card_app_id_phone_and_email(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tp_member_new m = {.struct_size = sizeof m, .code = "M-0001", .name = "Ann Example",
                       .phone = "0151 12345678", .email = "Ann@Example.com", .app_id = "app-77"};
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    assert_int_equal(h->ad->members->member_add(h->plugin, &m, &info, &msg), TP_OK);
    assert_string_equal(info.phone, "+4915112345678");
    assert_string_equal(info.email, "ann@example.com");
    assert_int_equal(h->ad->members->member_add_card(h->plugin, "M-0001", "CARD-9", &msg), TP_OK);
    const char *keys[] = {"M-0001", "CARD-9", "app-77", "+49 151 12345678", "ann@EXAMPLE.com"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        info = (tp_member_info){.struct_size = sizeof info};
        if (h->ad->members->member_get(h->plugin, keys[i], &info, &msg) != TP_OK)
            fail_msg("%s: %s", keys[i], msg.text);
        assert_string_equal(info.code, "M-0001");
    }
    /* A scan of the card identifies the member at the till too. */
    assert_int_equal(h->co->begin(h->plugin, "T", NULL, &msg), TP_OK);
    assert_int_equal(h->co->scan(h->plugin, "T", "CARD-9", &msg), TP_OK);
    tu_settle(h);
    assert_int_equal(tu_last(h)->kind, TP_EVENT_MEMBER_IDENTIFIED);
    assert_string_equal(tu_last(h)->member_code, "M-0001");
    tu_stop(h, 1);
}

static void codes_cards_and_app_ids_never_collide(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tu_add_member(h, "M-0001", "Ann");
    tp_message msg;
    assert_int_equal(h->ad->members->member_add_card(h->plugin, "M-0001", "CARD-1", &msg), TP_OK);
    tp_member_new dup = {.struct_size = sizeof dup, .code = "CARD-1"};
    assert_int_equal(h->ad->members->member_add(h->plugin, &dup, NULL, &msg), TP_ERR_DUPLICATE);
    assert_non_null(strstr(msg.text, "already used by member M-0001"));
    tu_add_member(h, "M-0002", "Bob");
    assert_int_equal(h->ad->members->member_add_card(h->plugin, "M-0002", "M-0001", &msg),
                     TP_ERR_DUPLICATE);
    assert_int_equal(h->ad->members->member_add_card(h->plugin, "NOBODY", "CARD-2", &msg),
                     TP_ERR_NOT_FOUND);
    tu_stop(h, 1);
}

static void a_shared_phone_is_ambiguous_and_find_lists_both(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    tp_message msg;
    tp_member_new a = {.struct_size = sizeof a, .code = "M-0001", .name = "Anna Family",
                       .phone = "+4930123456"};
    tp_member_new b = {.struct_size = sizeof b, .code = "M-0002", .name = "Andreas Family",
                       .phone = "030 123456"};
    tp_member_new c = {.struct_size = sizeof c, .code = "M-0003", .name = "Bert Other"};
    assert_int_equal(h->ad->members->member_add(h->plugin, &a, NULL, &msg), TP_OK);
    assert_int_equal(h->ad->members->member_add(h->plugin, &b, NULL, &msg), TP_OK);
    assert_int_equal(h->ad->members->member_add(h->plugin, &c, NULL, &msg), TP_OK);
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(h->ad->members->member_get(h->plugin, "030123456", &info, &msg),
                     TP_ERR_DUPLICATE);
    assert_non_null(strstr(msg.text, "Several members share"));
    tp_member_info found[10];
    size_t n = 0;
    assert_int_equal(
        h->ad->members->member_find(h->plugin, "030 123456", found, 10, sizeof found[0], &n, &msg),
        TP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(
        h->ad->members->member_find(h->plugin, "an", found, 10, sizeof found[0], &n, &msg), TP_OK);
    assert_int_equal(n, 2); /* Anna, Andreas: prefix, case-insensitive */
    assert_int_equal(
        h->ad->members->member_find(h->plugin, "An%", found, 10, sizeof found[0], &n, &msg), TP_OK);
    assert_int_equal(n, 0); /* % is a character, not a wildcard */
    assert_int_equal(
        h->ad->members->member_find(h->plugin, "bert", found, 1, sizeof found[0], &n, &msg), TP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(found[0].code, "M-0003");
    tu_stop(h, 1);
}

/* Over-long member strings are TP_ERR_TOO_LONG with a sentence; a name
 * that is not UTF-8 text is refused by name. Nobody is added. */
static void over_long_and_broken_member_texts_are_refused_by_name(void **state)
{
    (void)state;
    tu_host *h = tu_start(NULL);
    char code[TP_MEMBER_CODE_MAX + 2], name[TP_NAME_MAX + 2], email[TP_EMAIL_MAX + 10],
        phone[70];
    memset(code, 'C', sizeof code - 1);
    code[sizeof code - 1] = '\0';
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    memset(email, 'e', sizeof email - 1);
    memcpy(email + sizeof email - 13, "@example.com", 13);
    memset(phone, '1', sizeof phone - 1);
    phone[sizeof phone - 1] = '\0';
    struct {
        tp_member_new m;
        tp_status want;
        const char *says;
    } cases[] = {
        {{.code = code}, TP_ERR_TOO_LONG, "The member code must be 1 to 128 letters"},
        {{.code = "M-0001", .app_id = code}, TP_ERR_TOO_LONG, "The app id must be 1 to 128"},
        {{.code = "M-0001", .name = name}, TP_ERR_TOO_LONG, "The name is longer than 128 bytes"},
        {{.code = "M-0001", .name = "M\xfcller"}, TP_ERR_INVALID_ARGUMENT,
         "The name is not valid UTF-8 text"},
        {{.code = "M-0001", .name = "Ann\xf4\x90\x80\x80"}, TP_ERR_INVALID_ARGUMENT,
         "The name is not valid UTF-8 text"},
        {{.code = "M-0001", .phone = phone}, TP_ERR_TOO_LONG,
         "The phone number is longer than 64 characters"},
        {{.code = "M-0001", .email = email}, TP_ERR_TOO_LONG,
         "The email address is longer than 128 characters"},
    };
    tp_message msg;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].m.struct_size = sizeof cases[i].m;
        tp_status st = h->ad->members->member_add(h->plugin, &cases[i].m, NULL, &msg);
        if (st != cases[i].want)
            fail_msg("case %zu: status %d, not %d: %s", i, st, cases[i].want, msg.text);
        if (!strstr(msg.text, cases[i].says))
            fail_msg("case %zu: '%s' does not say '%s'", i, msg.text, cases[i].says);
    }
    tp_member_info info = {.struct_size = sizeof info};
    assert_int_equal(h->ad->members->member_get(h->plugin, "M-0001", &info, &msg),
                     TP_ERR_NOT_FOUND);
    tp_member_new ok = {.struct_size = sizeof ok, .code = "M-0001",
                        .name = "J\xc3\xbcrgen M\xc3\xbcller"};
    assert_int_equal(h->ad->members->member_add(h->plugin, &ok, &info, &msg), TP_OK);
    assert_string_equal(info.name, "J\xc3\xbcrgen M\xc3\xbcller");
    /* A card, a lookup key and a search beyond their limits. */
    assert_int_equal(h->ad->members->member_add_card(h->plugin, "M-0001", code, &msg),
                     TP_ERR_TOO_LONG);
    char key[300];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    assert_int_equal(h->ad->members->member_get(h->plugin, key, &info, &msg), TP_ERR_TOO_LONG);
    size_t n = 0;
    assert_int_equal(h->ad->members->member_find(h->plugin, name, &info, 1, sizeof info, &n, &msg),
                     TP_ERR_TOO_LONG);
    assert_non_null(strstr(msg.text, "longer than 128 characters"));
    tu_stop(h, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(phones_normalise_to_e164),
        cmocka_unit_test(emails_normalise_to_trimmed_lower_case),
        cmocka_unit_test(a_member_is_found_by_code_card_app_id_phone_and_email),
        cmocka_unit_test(codes_cards_and_app_ids_never_collide),
        cmocka_unit_test(a_shared_phone_is_ambiguous_and_find_lists_both),
        cmocka_unit_test(over_long_and_broken_member_texts_are_refused_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
