/*
 * test_payload.c — what a scan means, pinned down case by case.
 *
 * Keys are made at test time (crypto_sign_keypair); check digits are
 * worked out by hand in the comments; the receipt-code check values were
 * computed independently with Python's hashlib.blake2b(digest_size=16).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "payload.h"

/* 2026-11-01 10:00:00 UTC */
#define EXPIRY_2026_11_01_1000 INT64_C(1793527200000)
#define EXAMPLE_PATTERN "https://loyalty.example.com/m/{code}"

static unsigned char pass_pk[crypto_sign_PUBLICKEYBYTES];
static unsigned char pass_sk[crypto_sign_SECRETKEYBYTES];
static unsigned char other_pk[crypto_sign_PUBLICKEYBYTES];
static unsigned char other_sk[crypto_sign_SECRETKEYBYTES];
static char pass_pk_hex[2 * crypto_sign_PUBLICKEYBYTES + 1];

static int make_keys(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    crypto_sign_keypair(pass_pk, pass_sk);
    crypto_sign_keypair(other_pk, other_sk);
    sodium_bin2hex(pass_pk_hex, sizeof pass_pk_hex, pass_pk, sizeof pass_pk);
    return 0;
}

static void set_ok(tp_payload_config *cfg, const char *key, const char *value)
{
    char msg[TP_MESSAGE_MAX + 1];
    tp_status st = tp_payload_config_set(cfg, key, value, msg, sizeof msg);
    if (st != TP_OK)
        fail_msg("setting %s=%s: %s", key, value, msg);
}

static tp_payload_config config_with(const char *key, const char *value)
{
    tp_payload_config cfg = tp_payload_config_default();
    set_ok(&cfg, key, value);
    return cfg;
}

static tp_payload_config token_config(void)
{
    return config_with("token_public_key", pass_pk_hex);
}

/* "v1|<code>|<expiry>|<sig>" signed with sk; `expiry` is text so tests can
 * also sign malformed expiries. */
static void make_token(char *out, size_t cap, const char *code,
                       const char *expiry, const unsigned char *sk)
{
    unsigned char sig[crypto_sign_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    char body[512];
    int n = snprintf(body, sizeof body, "v1|%s|%s", code, expiry);

    assert_true(n > 0 && (size_t)n < sizeof body);
    crypto_sign_detached(sig, NULL, (const unsigned char *)body, (size_t)n, sk);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n = snprintf(out, cap, "%s|%s", body, b64);
    assert_true(n > 0 && (size_t)n < cap);
}

static tp_status parse_at(const tp_payload_config *cfg, const char *s,
                          int64_t now, tp_payload *out, char *msg)
{
    return tp_payload_parse(cfg, s, strlen(s), now, out, msg, TP_MESSAGE_MAX + 1);
}

/* Parses s expecting failure with `want`; checks out is untouched and the
 * message is a non-empty sentence. */
static void expect_refused(const tp_payload_config *cfg, const char *s,
                           size_t len, int64_t now, tp_status want, char *msg)
{
    tp_payload out, before;

    memset(&out, 0xa5, sizeof out);
    before = out;
    tp_status st = tp_payload_parse(cfg, s, len, now, &out, msg,
                                    TP_MESSAGE_MAX + 1);
    assert_int_equal(st, want);
    assert_memory_equal(&out, &before, sizeof out);
    assert_true(strlen(msg) > 10);
    assert_true(msg[strlen(msg) - 1] == '.');
}

static void expect_member(const tp_payload_config *cfg, const char *s,
                          const char *want_code)
{
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload out;

    memset(&out, 0xa5, sizeof out);
    tp_status st = parse_at(cfg, s, 0, &out, msg);
    if (st != TP_OK)
        fail_msg("'%s' refused: %s", s, msg);
    assert_int_equal(out.kind, TP_PAYLOAD_MEMBER);
    assert_string_equal(out.member_code, want_code);
    assert_int_equal(out.is_signed, 0);
    assert_int_equal(out.expiry_ms, 0);
    assert_string_equal(out.location, "");
    assert_string_equal(out.receipt_id, "");
    assert_string_equal(msg, "");
}

/* ---- plain member codes ------------------------------------------------ */

static void plain_code_is_accepted_with_case_preserved(void **state)
{
    (void)state;
    tp_payload_config cfg = tp_payload_config_default();
    expect_member(&cfg, "AbC-12_3.x", "AbC-12_3.x");
}

static void scanner_suffix_and_leading_blanks_are_trimmed(void **state)
{
    (void)state;
    tp_payload_config cfg = tp_payload_config_default();
    expect_member(&cfg, " \tMEMBER42\r\n", "MEMBER42");
}

static void code_shorter_than_minimum_is_refused(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();
    expect_refused(&cfg, "AB1", 3, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_string_equal(msg, "The code AB1 is too short (at least 4 "
                             "characters); scan it again or type it.");
    expect_member(&cfg, "AB12", "AB12");
}

static void code_longer_than_maximum_is_refused_as_too_long(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    char code[66];
    tp_payload_config cfg = tp_payload_config_default();

    memset(code, 'A', 64);
    code[64] = '\0';
    expect_member(&cfg, code, code);
    code[64] = 'A';
    code[65] = '\0';
    expect_refused(&cfg, code, 65, 0, TP_ERR_TOO_LONG, msg);
    assert_non_null(strstr(msg, "longer than 64 characters"));
}

static void code_with_forbidden_character_is_refused_naming_it(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();

    expect_refused(&cfg, "ABC/123", 7, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_string_equal(msg, "The code contains '/', which loyalty codes "
                             "never have; scan it again or type it.");
    expect_refused(&cfg, "ABC 123", 7, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "a space"));
    expect_refused(&cfg, "AB|C123", 7, 0, TP_ERR_INVALID_ARGUMENT, msg);
}

/* A ':' is never misread into a code: the customer showed something else,
 * and the sentence says what, and what to ask for instead of a rescan. */
static void code_with_a_colon_says_what_it_is_and_asks_for_the_loyalty_code(void **state)
{
    (void)state;
    static const struct {
        const char *scan, *says;
    } cases[] = {
        {"WIFI:S:Cafe;T:WPA;P:secret;;", "This is a Wi-Fi network code, not a loyalty code"},
        {"mailto:till@example.com", "This is an e-mail address, not a loyalty code"},
        {"TEL:+3212345678", "This is a phone number, not a loyalty code"},
        {"https:loyalty.example.com", "This is a web link, not a loyalty code"},
        {"M-10:01", "The code M-10:01 contains ':', so it is not a loyalty code"},
    };
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();
    tp_payload_config linked = config_with("url_pattern", EXAMPLE_PATTERN);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_refused(&cfg, cases[i].scan, strlen(cases[i].scan), 0, TP_ERR_INVALID_ARGUMENT,
                       msg);
        if (strncmp(msg, cases[i].says, strlen(cases[i].says)) != 0)
            fail_msg("%s: '%s' does not start '%s'", cases[i].scan, msg, cases[i].says);
        assert_null(strstr(msg, "scan it again"));
        assert_null(strstr(msg, "secret")); /* a Wi-Fi password is not repeated */
        assert_non_null(strstr(msg, "ask the customer for the loyalty code"));
    }
    /* with loyalty links set up, a link without // is named as a foreign link */
    expect_refused(&linked, "https:loyalty.example.com/m/M-1", 31, 0, TP_ERR_INVALID_ARGUMENT,
                   msg);
    assert_string_equal(msg, "This is a web link that is not one of this store's loyalty links "
                             "([scan] url_pattern); ask the customer for the loyalty code in "
                             "the store's app or on the card, or type their member code.");
    /* adding such a code to a member says why it can never be scanned */
    assert_int_equal(tp_payload_code_scannable(&cfg, "M-10:01", msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(msg, "The code M-10:01 contains ':', so it is not a loyalty code (they "
                             "never have one); a member with this code could never be scanned "
                             "at this store (see [scan] in the configuration).");
}

static void empty_or_blank_scan_is_refused(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();

    expect_refused(&cfg, "", 0, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_string_equal(msg, "The scan was empty; scan the code again.");
    expect_refused(&cfg, " \r\n\t", 4, 0, TP_ERR_INVALID_ARGUMENT, msg);
    expect_refused(&cfg, NULL, 0, 0, TP_ERR_INVALID_ARGUMENT, msg);
}

static void nul_byte_is_refused_and_result_untouched(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();

    expect_refused(&cfg, "ABCD\0EFG", 8, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "NUL"));
    /* A terminator counted into len is still a NUL in the scan. */
    expect_refused(&cfg, "ABCD", 5, 0, TP_ERR_INVALID_ARGUMENT, msg);
}

static void control_character_is_refused_pointing_at_scanner_setup(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();

    /* STX/ETX framing left in the data by a misconfigured scanner. */
    expect_refused(&cfg, "\x02" "ABCD1234\x03", 10, 0,
                   TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "prefix and suffix"));
    expect_refused(&cfg, "ABCD\x7f", 5, 0, TP_ERR_INVALID_ARGUMENT, msg);
    expect_refused(&cfg, "AB\x1b" "CD", 5, 0, TP_ERR_INVALID_ARGUMENT, msg);
}

static void invalid_utf8_is_refused_as_unreadable(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();
    static const char *const bad[] = {
        "ABCD\xff",         /* never valid */
        "ABCD\xc3",         /* truncated */
        "ABCD\xc0\xaf",     /* overlong '/' */
        "ABCD\xed\xa0\x80", /* surrogate */
        "ABCD\xf4\x90\x80\x80", /* past U+10FFFF */
        "ABCD\x80",         /* lone continuation */
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_refused(&cfg, bad[i], strlen(bad[i]), 0,
                       TP_ERR_INVALID_ARGUMENT, msg);
        assert_non_null(strstr(msg, "unreadable"));
    }
}

static void well_formed_non_ascii_text_is_refused_as_not_a_code(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();

    expect_refused(&cfg, "Gr\xc3\xbc\xc3\x9f" "e", 7, 0,
                   TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "not a loyalty or receipt code"));
    expect_refused(&cfg, "ABCD\xf0\x9f\x98\x80", 8, 0,
                   TP_ERR_INVALID_ARGUMENT, msg);
}

static void scan_beyond_scan_max_is_refused_as_too_long(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    size_t n = TP_PAYLOAD_SCAN_MAX + 1;
    char *big = malloc(n);
    tp_payload_config cfg = tp_payload_config_default();

    assert_non_null(big);
    memset(big, 'A', n);
    expect_refused(&cfg, big, n, 0, TP_ERR_TOO_LONG, msg);
    /* Surrounding whitespace does not count against the limit. */
    memset(big, ' ', n);
    memcpy(big + 100, "ABCD1234", 8);
    tp_payload out;
    assert_int_equal(tp_payload_parse(&cfg, big, n, 0, &out, msg, sizeof msg),
                     TP_OK);
    assert_string_equal(out.member_code, "ABCD1234");
    free(big);
}

static void parser_reads_only_len_bytes_of_unterminated_data(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload out;
    tp_payload_config cfg = tp_payload_config_default();
    /* Exactly sized heap copy with no NUL: ASan flags any read past it. */
    char *raw = malloc(8);

    assert_non_null(raw);
    memcpy(raw, "ABCD1234", 8);
    assert_int_equal(tp_payload_parse(&cfg, raw, 8, 0, &out, msg, sizeof msg),
                     TP_OK);
    assert_string_equal(out.member_code, "ABCD1234");
    assert_int_equal(tp_payload_parse(&cfg, raw, 6, 0, &out, msg, sizeof msg),
                     TP_OK);
    assert_string_equal(out.member_code, "ABCD12");
    free(raw);
}

static void message_is_truncated_but_terminated_and_may_be_null(void **state)
{
    (void)state;
    char small[16];
    tp_payload out;
    tp_payload_config cfg = tp_payload_config_default();

    assert_int_equal(tp_payload_parse(&cfg, "A/BCD", 5, 0, &out, small,
                                      sizeof small),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(tp_payload_parse(&cfg, "A/BCD", 5, 0, &out, NULL, 0),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_payload_parse(&cfg, "ABCD", 4, 0, &out, NULL, 0),
                     TP_OK);
}

static void missing_config_or_result_is_an_invalid_argument(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload out;
    tp_payload_config cfg = tp_payload_config_default();

    assert_int_equal(tp_payload_parse(NULL, "ABCD", 4, 0, &out, msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_payload_parse(&cfg, "ABCD", 4, 0, NULL, msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_payload_parse(&cfg, NULL, 4, 0, &out, msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
}

/* ---- check digits ------------------------------------------------------ */

static void ean13_with_valid_check_digit_is_accepted(void **state)
{
    (void)state;
    /* 4006381333931: 4+0*3+0+6*3+3+8*3+1+3*3+3+3*3+9+3*3 = 89 -> 1 */
    tp_payload_config cfg = config_with("check_digit", "ean13");
    expect_member(&cfg, "4006381333931", "4006381333931");
}

static void ean13_with_wrong_check_digit_is_refused_quoting_the_code(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = config_with("check_digit", "ean13");

    expect_refused(&cfg, "4006381333932", 13, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_string_equal(msg, "The code 4006381333932 has a wrong check digit; "
                             "scan it again or type it.");
}

static void ean13_accepts_the_twelve_digit_upca_spelling_with_leading_zero(void **state)
{
    (void)state;
    /* 036000291452 is UPC-A (check 2) = EAN-13 0036000291452. */
    tp_payload_config cfg = config_with("check_digit", "ean13");
    expect_member(&cfg, "036000291452", "0036000291452");
    expect_member(&cfg, "0036000291452", "0036000291452");
}

static void ean13_refuses_ean8_letters_and_other_lengths(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = config_with("check_digit", "ean13");

    /* 96385074 is a valid EAN-8, but not this store's card series. */
    expect_refused(&cfg, "96385074", 8, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_string_equal(msg, "The code 96385074 is not a 13-digit EAN-13 code; "
                             "scan it again or type it.");
    expect_refused(&cfg, "400638133393A", 13, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "digits only"));
    expect_refused(&cfg, "40063813339310", 14, 0, TP_ERR_INVALID_ARGUMENT, msg);
}

static void upc_accepts_twelve_digits_and_the_ean13_spelling(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = config_with("check_digit", "upc");

    /* 0*3+3+6*3+0+0*3+0+2*3+9+1*3+4+5*3 = 58 -> check 2 */
    expect_member(&cfg, "036000291452", "036000291452");
    expect_member(&cfg, "0036000291452", "036000291452");
    expect_refused(&cfg, "036000291453", 12, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "wrong check digit"));
    /* A 13-digit code not starting with 0 is not a UPC-A. */
    expect_refused(&cfg, "4006381333931", 13, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "12-digit UPC-A"));
}

static void luhn_code_is_checked(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = config_with("check_digit", "luhn");

    /* 79927398713 from the right: 3 1 7 8 9 3 7 2 9 9 7, every second
     * doubled: 1->2 8->16->7 3->6 2->4 9->18->9;
     * 3+2+7+7+9+6+7+4+9+9+7 = 70, a multiple of 10. */
    expect_member(&cfg, "79927398713", "79927398713");
    expect_refused(&cfg, "79927398710", 11, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_string_equal(msg, "The code 79927398710 has a wrong check digit; "
                             "scan it again or type it.");
    expect_refused(&cfg, "7992-7398713", 12, 0, TP_ERR_INVALID_ARGUMENT, msg);
    expect_refused(&cfg, "18", 2, 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "too short"));
}

/* ---- links ------------------------------------------------------------- */

static void link_matching_the_pattern_yields_its_code(void **state)
{
    (void)state;
    tp_payload_config cfg = config_with("url_pattern", EXAMPLE_PATTERN);
    expect_member(&cfg, "https://loyalty.example.com/m/ABC-123", "ABC-123");
}

static void link_scheme_and_host_match_any_case_but_path_exactly(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = config_with("url_pattern", EXAMPLE_PATTERN);
    const char *upper_path = "https://loyalty.example.com/M/ABC123";

    expect_member(&cfg, "HTTPS://Loyalty.Example.COM/m/ABC123", "ABC123");
    expect_refused(&cfg, upper_path, strlen(upper_path), 0,
                   TP_ERR_INVALID_ARGUMENT, msg);
}

static void link_query_string_and_fragment_are_ignored(void **state)
{
    (void)state;
    tp_payload_config cfg = config_with("url_pattern", EXAMPLE_PATTERN);
    expect_member(&cfg, "https://loyalty.example.com/m/ABC123?utm_source=app",
                  "ABC123");
    expect_member(&cfg, "https://loyalty.example.com/m/ABC123#card", "ABC123");
}

static void link_to_another_site_is_refused_as_not_this_stores_link(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = config_with("url_pattern", EXAMPLE_PATTERN);
    static const char *const others[] = {
        "https://evil.example.com/m/ABC123",
        "https://loyalty.example.org/m/ABC123", /* same length, other host */
        "ftps://loyalty.example.com/m/ABC123",
        "https://loyalty.example.com.evil.net/m/ABC123",
        "https://loyalty.example.com@evil.net/m/ABC123",
        "http://loyalty.example.com/m/ABC123",
        "https://loyalty.example.com:8443/m/ABC123",
        "https://loyalty.example.com/m/",
        "https://loyalty.example.com/m/ABC123/extra",
        "https://loyalty.example.com/x/ABC123",
        "https://loyalty.example.com/m",
        "https://l",
    };

    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        expect_refused(&cfg, others[i], strlen(others[i]), 0,
                       TP_ERR_INVALID_ARGUMENT, msg);
        assert_string_equal(msg, "This link is not one of this store's "
                                 "loyalty links; ask the customer to open the "
                                 "store's app and show the loyalty code.");
    }
}

static void link_pattern_with_text_after_the_code_must_match_it(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg =
        config_with("url_pattern", "https://shop.example/c/{code}/card");
    const char *wrong = "https://shop.example/c/ABC123/cart";

    expect_member(&cfg, "https://shop.example/c/ABC123/card", "ABC123");
    expect_refused(&cfg, wrong, strlen(wrong), 0, TP_ERR_INVALID_ARGUMENT, msg);
}

static void code_inside_a_link_is_checked_like_a_plain_code(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = config_with("url_pattern", EXAMPLE_PATTERN);
    const char *bad_digit = "https://loyalty.example.com/m/4006381333932";
    const char *bad_char = "https://loyalty.example.com/m/AB%20CD";

    set_ok(&cfg, "check_digit", "ean13");
    expect_member(&cfg, "https://loyalty.example.com/m/4006381333931",
                  "4006381333931");
    expect_refused(&cfg, bad_digit, strlen(bad_digit), 0,
                   TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "wrong check digit"));
    set_ok(&cfg, "check_digit", "none");
    expect_refused(&cfg, bad_char, strlen(bad_char), 0,
                   TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "'%'"));
}

static void link_when_no_pattern_is_configured_is_refused(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();
    const char *url = "https://loyalty.example.com/m/ABC123";

    expect_refused(&cfg, url, strlen(url), 0, TP_ERR_UNSUPPORTED, msg);
    assert_non_null(strstr(msg, "links are not set up on this till"));
}

/* ---- signed tokens ----------------------------------------------------- */

static void signed_token_yields_its_member_and_expiry(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload out;
    tp_payload_config cfg = token_config();

    make_token(tok, sizeof tok, "MEMBER-7", "1793527200000", pass_sk);
    assert_int_equal(parse_at(&cfg, tok, EXPIRY_2026_11_01_1000 - 1, &out, msg),
                     TP_OK);
    assert_int_equal(out.kind, TP_PAYLOAD_MEMBER);
    assert_string_equal(out.member_code, "MEMBER-7");
    assert_int_equal(out.is_signed, 1);
    assert_int_equal(out.expiry_ms, EXPIRY_2026_11_01_1000);
    assert_string_equal(msg, "");
}

static void token_expiring_exactly_now_is_still_accepted(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload out;
    tp_payload_config cfg = token_config();

    make_token(tok, sizeof tok, "MEMBER-7", "1793527200000", pass_sk);
    assert_int_equal(parse_at(&cfg, tok, EXPIRY_2026_11_01_1000, &out, msg),
                     TP_OK);
}

static void expired_token_is_refused_with_its_expiry_time(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = token_config();

    /* 59.999 s past the minute: the time shown is truncated, not rounded. */
    make_token(tok, sizeof tok, "MEMBER-7", "1793527259999", pass_sk);
    expect_refused(&cfg, tok, strlen(tok), EXPIRY_2026_11_01_1000 + 60000,
                   TP_ERR_INVALID_ARGUMENT, msg);
    assert_string_equal(msg, "This loyalty pass expired on 2026-11-01 10:00 "
                             "UTC; ask the customer to refresh it in the app.");
    /* A leap day, to pin the calendar arithmetic. */
    make_token(tok, sizeof tok, "MEMBER-7", "951868740000", pass_sk);
    expect_refused(&cfg, tok, strlen(tok), EXPIRY_2026_11_01_1000,
                   TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "expired on 2000-02-29 23:59 UTC"));
    make_token(tok, sizeof tok, "MEMBER-7", "0", pass_sk);
    expect_refused(&cfg, tok, strlen(tok), 1, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "expired on 1970-01-01 00:00 UTC"));
}

static void token_with_tampered_member_fails_security_check(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = token_config();

    make_token(tok, sizeof tok, "MEMBER-7", "1793527200000", pass_sk);
    tok[3 + 7] = '8'; /* MEMBER-7 -> MEMBER-8 */
    expect_refused(&cfg, tok, strlen(tok), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "failed its security check"));
}

static void token_with_tampered_expiry_fails_security_check(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = token_config();

    make_token(tok, sizeof tok, "MEMBER-7", "1793527200000", pass_sk);
    tok[12] = '9'; /* a later expiry */
    expect_refused(&cfg, tok, strlen(tok), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "failed its security check"));
}

static void token_with_tampered_signature_fails_security_check(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = token_config();

    make_token(tok, sizeof tok, "MEMBER-7", "1793527200000", pass_sk);
    char *sig = strrchr(tok, '|') + 1;
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    expect_refused(&cfg, tok, strlen(tok), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "failed its security check"));
}

static void forged_expired_token_is_refused_as_forged_not_expired(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = token_config();

    make_token(tok, sizeof tok, "MEMBER-7", "1000", other_sk);
    expect_refused(&cfg, tok, strlen(tok), EXPIRY_2026_11_01_1000,
                   TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "failed its security check"));
}

static void token_signed_with_another_key_fails_security_check(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = token_config();

    make_token(tok, sizeof tok, "MEMBER-7", "1793527200000", other_sk);
    expect_refused(&cfg, tok, strlen(tok), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_string_equal(msg, "This loyalty pass failed its security check; ask "
                             "the customer to refresh it in the app, or type "
                             "their member code.");
}

static void token_when_no_key_is_configured_is_refused_as_not_set_up(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();

    make_token(tok, sizeof tok, "MEMBER-7", "1793527200000", pass_sk);
    expect_refused(&cfg, tok, strlen(tok), 0, TP_ERR_UNSUPPORTED, msg);
    assert_non_null(strstr(msg, "Signed loyalty passes are not set up on this "
                                "till"));
}

static void malformed_token_is_refused_as_damaged(void **state)
{
    (void)state;
    char tok[512], bad[600], msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = token_config();
    const char *sig;

    make_token(tok, sizeof tok, "MEMBER-7", "1793527200000", pass_sk);
    sig = strrchr(tok, '|') + 1;
    const char *const cases[] = {
        "v1|",
        "v1|MEMBER-7",
        "v1|MEMBER-7|1793527200000",
        "v1|MEMBER-7|1793527200000|",
        "v1||1793527200000|xx",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_refused(&cfg, cases[i], strlen(cases[i]), 0,
                       TP_ERR_INVALID_ARGUMENT, msg);
        assert_non_null(strstr(msg, "damaged or incomplete"));
    }
    /* Padded base64, a fifth field, an expiry that is not a number or
     * overflows int64: all damaged. */
    snprintf(bad, sizeof bad, "%s==", tok);
    expect_refused(&cfg, bad, strlen(bad), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "damaged"));
    snprintf(bad, sizeof bad, "%s|x", tok);
    expect_refused(&cfg, bad, strlen(bad), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "damaged"));
    /* Same signature bytes, non-zero trailing bits in the last base64
     * character (A/Q/g/w -> B/R/h/x): one spelling per signature. */
    snprintf(bad, sizeof bad, "%s", tok);
    bad[strlen(bad) - 1]++;
    expect_refused(&cfg, bad, strlen(bad), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "damaged"));
    snprintf(bad, sizeof bad, "v1|MEMBER-7|-1|%s", sig);
    expect_refused(&cfg, bad, strlen(bad), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "damaged"));
    snprintf(bad, sizeof bad, "v1|MEMBER-7|9223372036854775808|%s", sig);
    expect_refused(&cfg, bad, strlen(bad), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "damaged"));
}

static void signed_member_code_skips_check_digit_but_not_alphabet(void **state)
{
    (void)state;
    char tok[512], msg[TP_MESSAGE_MAX + 1];
    tp_payload out;
    tp_payload_config cfg = token_config();

    set_ok(&cfg, "check_digit", "ean13");
    make_token(tok, sizeof tok, "MEMBER-7", "9223372036854775807", pass_sk);
    assert_int_equal(parse_at(&cfg, tok, 0, &out, msg), TP_OK);
    assert_string_equal(out.member_code, "MEMBER-7");
    assert_int_equal(out.expiry_ms, INT64_MAX);
    make_token(tok, sizeof tok, "MEMBER 7", "9223372036854775807", pass_sk);
    expect_refused(&cfg, tok, strlen(tok), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "a space"));
}

static void token_of_a_newer_format_is_refused_as_unsupported(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = token_config();
    const char *v2 = "v2|MEMBER-7|1793527200000|abc";

    expect_refused(&cfg, v2, strlen(v2), 0, TP_ERR_UNSUPPORTED, msg);
    assert_non_null(strstr(msg, "newer format"));
    expect_refused(&cfg, "TPR2|a|b|c", 10, 0, TP_ERR_UNSUPPORTED, msg);
}

/* ---- receipt codes ----------------------------------------------------- */

static void receipt_code_matches_the_documented_unkeyed_format(void **state)
{
    (void)state;
    char code[TP_RECEIPT_CODE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();

    assert_int_equal(tp_receipt_code_format(&cfg, "Store 7", "R-2026-000123",
                                            code, sizeof code),
                     TP_OK);
    assert_string_equal(code, "TPR1|Store 7|R-2026-000123|41cc5590");
}

static void receipt_code_matches_the_documented_keyed_format(void **state)
{
    (void)state;
    char code[TP_RECEIPT_CODE_MAX + 1];
    tp_payload_config cfg = config_with(
        "receipt_code_key",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

    assert_int_equal(tp_receipt_code_format(&cfg, "Store 7", "R-2026-000123",
                                            code, sizeof code),
                     TP_OK);
    assert_string_equal(code, "TPR1|Store 7|R-2026-000123|f163a9f5");
}

static void printed_receipt_code_scans_back_to_its_location_and_id(void **state)
{
    (void)state;
    char code[TP_RECEIPT_CODE_MAX + 1], msg[TP_MESSAGE_MAX + 1];
    tp_payload out;
    tp_payload_config cfg = config_with(
        "receipt_code_key",
        "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0");

    assert_int_equal(tp_receipt_code_format(&cfg, "Main St.", "000451/7", code,
                                            sizeof code),
                     TP_OK);
    assert_int_equal(parse_at(&cfg, code, 0, &out, msg), TP_OK);
    assert_int_equal(out.kind, TP_PAYLOAD_RECEIPT);
    assert_string_equal(out.location, "Main St.");
    assert_string_equal(out.receipt_id, "000451/7");
    assert_string_equal(out.member_code, "");
    assert_int_equal(out.is_signed, 0);
}

static void receipt_code_check_is_accepted_in_upper_case(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload out;
    tp_payload_config cfg = tp_payload_config_default();

    assert_int_equal(parse_at(&cfg, "TPR1|Store 7|R-2026-000123|41CC5590\r\n", 0,
                              &out, msg),
                     TP_OK);
    assert_string_equal(out.receipt_id, "R-2026-000123");
}

static void receipt_code_with_wrong_check_is_refused(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();
    const char *typo = "TPR1|Store 7|R-2026-000124|41cc5590";

    expect_refused(&cfg, typo, strlen(typo), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_string_equal(msg, "This receipt code was misread or is not from "
                             "this store's receipts; type the receipt number "
                             "instead.");
}

static void receipt_code_under_another_key_is_refused(void **state)
{
    (void)state;
    char code[TP_RECEIPT_CODE_MAX + 1], msg[TP_MESSAGE_MAX + 1];
    tp_payload_config ours = config_with(
        "receipt_code_key",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    tp_payload_config unkeyed = tp_payload_config_default();

    assert_int_equal(tp_receipt_code_format(&unkeyed, "Store 7", "R-1", code,
                                            sizeof code),
                     TP_OK);
    expect_refused(&ours, code, strlen(code), 0, TP_ERR_INVALID_ARGUMENT, msg);
    assert_non_null(strstr(msg, "misread or is not from"));
}

static void damaged_receipt_code_is_refused(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();
    static const char *const cases[] = {
        "TPR1|",
        "TPR1|Store 7|R-2026-000123",
        "TPR1|Store 7|R-2026-000123|41cc559",
        "TPR1|Store 7|R-2026-000123|41cc55900",
        "TPR1|Store 7|R-2026-000123|41cc559g",
        "TPR1||R-2026-000123|41cc5590",
        "TPR1|Store 7||41cc5590",
        "TPR1|Store|7|R-2026-000123|41cc5590",
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_refused(&cfg, cases[i], strlen(cases[i]), 0,
                       TP_ERR_INVALID_ARGUMENT, msg);
        assert_non_null(strstr(msg, "receipt"));
    }
}

static void receipt_code_with_overlong_parts_is_refused_as_too_long(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1], scan[200];
    tp_payload_config cfg = tp_payload_config_default();

    snprintf(scan, sizeof scan, "TPR1|%033d|R-1|00000000", 0);
    expect_refused(&cfg, scan, strlen(scan), 0, TP_ERR_TOO_LONG, msg);
    snprintf(scan, sizeof scan, "TPR1|Store 7|%065d|00000000", 0);
    expect_refused(&cfg, scan, strlen(scan), 0, TP_ERR_TOO_LONG, msg);
}

static void receipt_code_format_enforces_part_limits(void **state)
{
    (void)state;
    char code[TP_RECEIPT_CODE_MAX + 1];
    char loc[TP_RECEIPT_LOCATION_MAX + 2], id[TP_RECEIPT_ID_MAX + 2];
    tp_payload_config cfg = tp_payload_config_default();

    memset(loc, 'L', TP_RECEIPT_LOCATION_MAX);
    loc[TP_RECEIPT_LOCATION_MAX] = '\0';
    memset(id, 'I', TP_RECEIPT_ID_MAX);
    id[TP_RECEIPT_ID_MAX] = '\0';
    assert_int_equal(tp_receipt_code_format(&cfg, loc, id, code, sizeof code),
                     TP_OK);
    assert_int_equal(strlen(code), TP_RECEIPT_CODE_MAX);
    /* One byte short of room: refused, out left empty. */
    assert_int_equal(tp_receipt_code_format(&cfg, loc, id, code,
                                            TP_RECEIPT_CODE_MAX),
                     TP_ERR_TOO_LONG);
    assert_string_equal(code, "");
    loc[TP_RECEIPT_LOCATION_MAX] = 'L';
    loc[TP_RECEIPT_LOCATION_MAX + 1] = '\0';
    assert_int_equal(tp_receipt_code_format(&cfg, loc, "R1", code, sizeof code),
                     TP_ERR_TOO_LONG);
    id[TP_RECEIPT_ID_MAX] = 'I';
    id[TP_RECEIPT_ID_MAX + 1] = '\0';
    assert_int_equal(tp_receipt_code_format(&cfg, "S1", id, code, sizeof code),
                     TP_ERR_TOO_LONG);
    assert_int_equal(tp_receipt_code_format(&cfg, "", "R1", code, sizeof code),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_receipt_code_format(&cfg, "S1", "", code, sizeof code),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_receipt_code_format(&cfg, "S|1", "R1", code, sizeof code),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_receipt_code_format(&cfg, "S1", "R\n1", code,
                                            sizeof code),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_receipt_code_format(&cfg, "S1", "R\xc3\xa9", code,
                                            sizeof code),
                     TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_receipt_code_format(NULL, "S1", "R1", code, sizeof code),
                     TP_ERR_INVALID_ARGUMENT);
}

/* ---- configuration ----------------------------------------------------- */

static void defaults_are_as_documented(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();

    assert_int_equal(cfg.code_min_length, 4);
    assert_int_equal(cfg.code_max_length, 64);
    assert_int_equal(cfg.check_digit, TP_CHECK_DIGIT_NONE);
    assert_string_equal(cfg.url_pattern, "");
    assert_int_equal(cfg.has_token_public_key, 0);
    assert_int_equal(cfg.has_receipt_code_key, 0);
    assert_int_equal(tp_payload_config_check(&cfg, msg, sizeof msg), TP_OK);
}

static void each_setting_is_applied(void **state)
{
    (void)state;
    tp_payload_config cfg = tp_payload_config_default();

    set_ok(&cfg, "code_min_length", " 6 ");
    set_ok(&cfg, "code_max_length", "128");
    set_ok(&cfg, "check_digit", "LUHN");
    set_ok(&cfg, "url_pattern", EXAMPLE_PATTERN);
    set_ok(&cfg, "token_public_key", pass_pk_hex);
    set_ok(&cfg, "receipt_code_key", "00112233445566778899AABBCCDDEEFF"
                                     "00112233445566778899aabbccddeeff");
    assert_int_equal(cfg.code_min_length, 6);
    assert_int_equal(cfg.code_max_length, 128);
    assert_int_equal(cfg.check_digit, TP_CHECK_DIGIT_LUHN);
    assert_string_equal(cfg.url_pattern, EXAMPLE_PATTERN);
    assert_int_equal(cfg.has_token_public_key, 1);
    assert_memory_equal(cfg.token_public_key, pass_pk, sizeof pass_pk);
    assert_int_equal(cfg.has_receipt_code_key, 1);
    assert_int_equal(cfg.receipt_code_key[10], 0xaa);

    set_ok(&cfg, "url_pattern", "");
    set_ok(&cfg, "token_public_key", "");
    set_ok(&cfg, "receipt_code_key", "");
    assert_string_equal(cfg.url_pattern, "");
    assert_int_equal(cfg.has_token_public_key, 0);
    assert_int_equal(cfg.has_receipt_code_key, 0);
}

static void bad_setting_value_is_refused_and_changes_nothing(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    char bad_key[65];
    tp_payload_config cfg = tp_payload_config_default();
    tp_payload_config before = cfg;
    static const char *const bad[][2] = {
        {"code_min_length", "0"},
        {"code_min_length", "129"},
        {"code_max_length", "-5"},
        {"code_max_length", "12x"},
        {"code_max_length", ""},
        {"check_digit", "ean8"},
        {"url_pattern", "loyalty.example.com/m/{code}"},
        {"url_pattern", "https://loyalty.example.com/m/"},
        {"url_pattern", "https://{code}.example.com/m"},
        {"url_pattern", "https://loyalty.example.com/m/{code}/{code}"},
        {"url_pattern", "https://loyalty.example.com/m/{code}?x=1"},
        {"url_pattern", "https://loyalty.example.com/m/{code} x"},
        {"url_pattern", "https:///m/{code}"},
        {"token_public_key", "abcd"},
        {"receipt_code_key", "zz"},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tp_payload_config_set(&cfg, bad[i][0], bad[i][1], msg,
                                               sizeof msg),
                         TP_ERR_CONFIG);
        assert_non_null(strstr(msg, bad[i][0]));
        assert_memory_equal(&cfg, &before, sizeof cfg);
    }
    /* 64 hex digits that are not a curve point: every pass would fail. */
    memset(bad_key, 'f', 64);
    bad_key[64] = '\0';
    assert_int_equal(tp_payload_config_set(&cfg, "token_public_key", bad_key,
                                           msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_memory_equal(&cfg, &before, sizeof cfg);
}

static void key_values_are_never_echoed_in_messages(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();
    const char *secretish = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e7"
                            "5ec2e75ec2e7zz";

    assert_int_equal(tp_payload_config_set(&cfg, "receipt_code_key", secretish,
                                           msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_null(strstr(msg, "5ec2e7"));
}

static void unknown_setting_is_reported_as_not_found(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();

    assert_int_equal(tp_payload_config_set(&cfg, "baud", "9600", msg, sizeof msg),
                     TP_ERR_NOT_FOUND);
    assert_string_equal(msg, "Unknown scan setting 'baud'.");
    assert_int_equal(tp_payload_config_set(&cfg, "b\x1b[2J", "1", msg,
                                           sizeof msg),
                     TP_ERR_NOT_FOUND);
    assert_string_equal(msg, "Unknown scan setting.");
    assert_int_equal(tp_payload_config_set(NULL, "baud", "1", msg, sizeof msg),
                     TP_ERR_INVALID_ARGUMENT);
}

static void settings_apply_in_any_order_and_are_checked_together(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload out;
    tp_payload_config cfg = tp_payload_config_default();

    /* min above the default max is fine until the whole is checked. */
    set_ok(&cfg, "code_min_length", "100");
    assert_int_equal(tp_payload_config_check(&cfg, msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_string_equal(msg, "code_min_length (100) is larger than "
                             "code_max_length (64).");
    assert_int_equal(parse_at(&cfg, "ABCD", 0, &out, msg), TP_ERR_CONFIG);
    set_ok(&cfg, "code_max_length", "128");
    assert_int_equal(tp_payload_config_check(&cfg, msg, sizeof msg), TP_OK);

    cfg = config_with("check_digit", "ean13");
    set_ok(&cfg, "code_max_length", "12");
    assert_int_equal(tp_payload_config_check(&cfg, msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "13-digit"));
}

static void hand_built_config_with_bad_pattern_is_refused_by_parse(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload out;
    tp_payload_config cfg = tp_payload_config_default();

    strcpy(cfg.url_pattern, "not a pattern");
    assert_int_equal(parse_at(&cfg, "ABCD", 0, &out, msg), TP_ERR_CONFIG);
    memset(cfg.url_pattern, 'x', sizeof cfg.url_pattern);
    assert_int_equal(parse_at(&cfg, "ABCD", 0, &out, msg), TP_ERR_CONFIG);
    cfg = tp_payload_config_default();
    cfg.check_digit = (tp_check_digit)42;
    assert_int_equal(parse_at(&cfg, "ABCD", 0, &out, msg), TP_ERR_CONFIG);
}

/* ---- require_signed ------------------------------------------------------ */

static void require_signed_takes_no_app_all_and_needs_the_pass_key(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = tp_payload_config_default();
    assert_int_equal(cfg.require_signed, TP_REQUIRE_SIGNED_NO);
    const struct {
        const char *text;
        tp_require_signed want;
    } ok[] = {{"no", TP_REQUIRE_SIGNED_NO}, {"app", TP_REQUIRE_SIGNED_APP},
              {"APP", TP_REQUIRE_SIGNED_APP}, {"yes", TP_REQUIRE_SIGNED_APP},
              {" all ", TP_REQUIRE_SIGNED_ALL}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        set_ok(&cfg, "require_signed", ok[i].text);
        assert_int_equal(cfg.require_signed, ok[i].want);
    }
    assert_int_equal(tp_payload_config_set(&cfg, "require_signed", "sometimes", msg, sizeof msg),
                     TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "no, app"));
    assert_int_equal(cfg.require_signed, TP_REQUIRE_SIGNED_ALL); /* unchanged */
    /* Without the key no pass could ever be shown: refused as a whole. */
    assert_int_equal(tp_payload_config_check(&cfg, msg, sizeof msg), TP_ERR_CONFIG);
    assert_non_null(strstr(msg, "needs token_public_key"));
    set_ok(&cfg, "token_public_key", pass_pk_hex);
    assert_int_equal(tp_payload_config_check(&cfg, msg, sizeof msg), TP_OK);
}

static void signed_policy_refuses_plain_codes_as_configured(void **state)
{
    (void)state;
    char msg[TP_MESSAGE_MAX + 1];
    tp_payload_config cfg = token_config();
    /* no: everything goes. */
    assert_int_equal(tp_payload_signed_policy(&cfg, 0, "APP-1", msg, sizeof msg), TP_OK);
    assert_string_equal(msg, "");
    /* app: a plain code of a member with an app id, once known. */
    set_ok(&cfg, "require_signed", "app");
    assert_int_equal(tp_payload_signed_policy(&cfg, 0, NULL, msg, sizeof msg), TP_OK);
    assert_int_equal(tp_payload_signed_policy(&cfg, 0, "", msg, sizeof msg), TP_OK);
    assert_int_equal(tp_payload_signed_policy(&cfg, 1, "APP-1", msg, sizeof msg), TP_OK);
    assert_int_equal(tp_payload_signed_policy(&cfg, 0, "APP-1", msg, sizeof msg),
                     TP_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "This member uses the app: ask them to show the pass in the app"));
    /* all: every plain code, known member or not. */
    set_ok(&cfg, "require_signed", "all");
    assert_int_equal(tp_payload_signed_policy(&cfg, 0, NULL, msg, sizeof msg), TP_ERR_UNSUPPORTED);
    assert_non_null(strstr(msg, "ask the customer to show the pass in the app"));
    assert_int_equal(tp_payload_signed_policy(&cfg, 0, "", msg, sizeof msg), TP_ERR_UNSUPPORTED);
    assert_int_equal(tp_payload_signed_policy(&cfg, 1, NULL, msg, sizeof msg), TP_OK);
    /* The parser itself is not the policy: it still says what a scan is. */
    tp_payload out;
    assert_int_equal(parse_at(&cfg, "MEMBER-7", 0, &out, msg), TP_OK);
    assert_int_equal(out.is_signed, 0);
    char tok[300];
    make_token(tok, sizeof tok, "MEMBER-7", "1793527200000", pass_sk);
    assert_int_equal(parse_at(&cfg, tok, 0, &out, msg), TP_OK);
    assert_int_equal(out.is_signed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_code_is_accepted_with_case_preserved),
        cmocka_unit_test(scanner_suffix_and_leading_blanks_are_trimmed),
        cmocka_unit_test(code_shorter_than_minimum_is_refused),
        cmocka_unit_test(code_longer_than_maximum_is_refused_as_too_long),
        cmocka_unit_test(code_with_forbidden_character_is_refused_naming_it),
        cmocka_unit_test(code_with_a_colon_says_what_it_is_and_asks_for_the_loyalty_code),
        cmocka_unit_test(empty_or_blank_scan_is_refused),
        cmocka_unit_test(nul_byte_is_refused_and_result_untouched),
        cmocka_unit_test(control_character_is_refused_pointing_at_scanner_setup),
        cmocka_unit_test(invalid_utf8_is_refused_as_unreadable),
        cmocka_unit_test(well_formed_non_ascii_text_is_refused_as_not_a_code),
        cmocka_unit_test(scan_beyond_scan_max_is_refused_as_too_long),
        cmocka_unit_test(parser_reads_only_len_bytes_of_unterminated_data),
        cmocka_unit_test(message_is_truncated_but_terminated_and_may_be_null),
        cmocka_unit_test(missing_config_or_result_is_an_invalid_argument),
        cmocka_unit_test(ean13_with_valid_check_digit_is_accepted),
        cmocka_unit_test(ean13_with_wrong_check_digit_is_refused_quoting_the_code),
        cmocka_unit_test(ean13_accepts_the_twelve_digit_upca_spelling_with_leading_zero),
        cmocka_unit_test(ean13_refuses_ean8_letters_and_other_lengths),
        cmocka_unit_test(upc_accepts_twelve_digits_and_the_ean13_spelling),
        cmocka_unit_test(luhn_code_is_checked),
        cmocka_unit_test(link_matching_the_pattern_yields_its_code),
        cmocka_unit_test(link_scheme_and_host_match_any_case_but_path_exactly),
        cmocka_unit_test(link_query_string_and_fragment_are_ignored),
        cmocka_unit_test(link_to_another_site_is_refused_as_not_this_stores_link),
        cmocka_unit_test(link_pattern_with_text_after_the_code_must_match_it),
        cmocka_unit_test(code_inside_a_link_is_checked_like_a_plain_code),
        cmocka_unit_test(link_when_no_pattern_is_configured_is_refused),
        cmocka_unit_test(signed_token_yields_its_member_and_expiry),
        cmocka_unit_test(token_expiring_exactly_now_is_still_accepted),
        cmocka_unit_test(expired_token_is_refused_with_its_expiry_time),
        cmocka_unit_test(token_with_tampered_member_fails_security_check),
        cmocka_unit_test(token_with_tampered_expiry_fails_security_check),
        cmocka_unit_test(token_with_tampered_signature_fails_security_check),
        cmocka_unit_test(forged_expired_token_is_refused_as_forged_not_expired),
        cmocka_unit_test(token_signed_with_another_key_fails_security_check),
        cmocka_unit_test(token_when_no_key_is_configured_is_refused_as_not_set_up),
        cmocka_unit_test(malformed_token_is_refused_as_damaged),
        cmocka_unit_test(signed_member_code_skips_check_digit_but_not_alphabet),
        cmocka_unit_test(token_of_a_newer_format_is_refused_as_unsupported),
        cmocka_unit_test(receipt_code_matches_the_documented_unkeyed_format),
        cmocka_unit_test(receipt_code_matches_the_documented_keyed_format),
        cmocka_unit_test(printed_receipt_code_scans_back_to_its_location_and_id),
        cmocka_unit_test(receipt_code_check_is_accepted_in_upper_case),
        cmocka_unit_test(receipt_code_with_wrong_check_is_refused),
        cmocka_unit_test(receipt_code_under_another_key_is_refused),
        cmocka_unit_test(damaged_receipt_code_is_refused),
        cmocka_unit_test(receipt_code_with_overlong_parts_is_refused_as_too_long),
        cmocka_unit_test(receipt_code_format_enforces_part_limits),
        cmocka_unit_test(defaults_are_as_documented),
        cmocka_unit_test(each_setting_is_applied),
        cmocka_unit_test(bad_setting_value_is_refused_and_changes_nothing),
        cmocka_unit_test(key_values_are_never_echoed_in_messages),
        cmocka_unit_test(unknown_setting_is_reported_as_not_found),
        cmocka_unit_test(settings_apply_in_any_order_and_are_checked_together),
        cmocka_unit_test(hand_built_config_with_bad_pattern_is_refused_by_parse),
        cmocka_unit_test(require_signed_takes_no_app_all_and_needs_the_pass_key),
        cmocka_unit_test(signed_policy_refuses_plain_codes_as_configured),
    };
    return cmocka_run_group_tests(tests, make_keys, NULL);
}
