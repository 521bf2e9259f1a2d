/* Tests for plugin/util.c: UTF-8 validation at its edges and the text
 * check every typed or imported text goes through. */
#include "testutil.h"

#include "util.h"

typedef struct utf8_case {
    const char *bytes;
    size_t len;
    int valid;
    const char *what;
} utf8_case;

#define CASE(b, v, w) {b, sizeof b - 1, v, w}

static void utf8_edges_are_accepted_or_refused_exactly(void **state)
{
    (void)state;
    static const utf8_case cases[] = {
        CASE("", 1, "empty"),
        CASE("Ann Example", 1, "ASCII"),
        CASE("J\xc3\xbcrgen M\xc3\xbcller", 1, "two-byte letters"),
        CASE("\xc2\x80", 1, "U+0080, the first two-byte code point"),
        CASE("\xdf\xbf", 1, "U+07FF, the last two-byte code point"),
        CASE("\xe0\xa0\x80", 1, "U+0800, the first three-byte code point"),
        CASE("\xed\x9f\xbf", 1, "U+D7FF, just below the surrogates"),
        CASE("\xee\x80\x80", 1, "U+E000, just above the surrogates"),
        CASE("\xef\xbf\xbf", 1, "U+FFFF"),
        CASE("\xf0\x90\x80\x80", 1, "U+10000, the first four-byte code point"),
        CASE("\xf4\x8f\xbf\xbf", 1, "U+10FFFF, the last code point"),
        CASE("\xf0\x9f\x98\x80 ok", 1, "an emoji then ASCII"),
        CASE("\x80", 0, "a lone continuation byte"),
        CASE("a\xbf", 0, "a continuation byte after ASCII"),
        CASE("\xc0\xaf", 0, "overlong '/' in two bytes"),
        CASE("\xc1\xbf", 0, "overlong U+007F in two bytes"),
        CASE("\xe0\x80\xaf", 0, "overlong '/' in three bytes"),
        CASE("\xe0\x9f\xbf", 0, "overlong U+07FF in three bytes"),
        CASE("\xf0\x8f\xbf\xbf", 0, "overlong U+FFFF in four bytes"),
        CASE("\xed\xa0\x80", 0, "U+D800, a high surrogate"),
        CASE("\xed\xbf\xbf", 0, "U+DFFF, a low surrogate"),
        CASE("\xf4\x90\x80\x80", 0, "U+110000, above the last code point"),
        CASE("\xf5\x80\x80\x80", 0, "0xF5 never leads"),
        CASE("\xff", 0, "0xFF never appears"),
        CASE("\xc3", 0, "a two-byte sequence cut after its lead"),
        CASE("ab\xe2\x82", 0, "a three-byte sequence cut at the end"),
        CASE("\xf0\x9f\x98", 0, "a four-byte sequence cut at the end"),
        CASE("\xe2\x28\xa1", 0, "ASCII where a continuation byte belongs"),
        CASE("\xc3\xbc\xc3", 0, "a good letter, then a cut one"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (tp_utf8_valid(cases[i].bytes, cases[i].len) != cases[i].valid)
            fail_msg("%s: expected %s", cases[i].what, cases[i].valid ? "valid" : "invalid");
}

static void utf8_length_bounds_the_bytes_read(void **state)
{
    (void)state;
    /* Only `len` bytes count: a sequence cut by the length is refused even
     * when the buffer goes on, and bytes past the length are not read. */
    assert_false(tp_utf8_valid("\xc3\xbc", 1));
    assert_true(tp_utf8_valid("a\xff", 1));
}

static void text_check_names_the_field_and_the_fault(void **state)
{
    (void)state;
    tp_message msg;
    assert_int_equal(tp_check_text(NULL, 8, "reason", &msg), TP_OK);
    assert_int_equal(tp_check_text("M\xc3\xbcller", 7, "name", &msg), TP_OK);

    assert_int_equal(tp_check_text("M\xc3\xbcller", 6, "name", &msg), TP_ERR_TOO_LONG);
    assert_non_null(strstr(msg.text, "The name is longer than 6 bytes"));

    assert_int_equal(tp_check_text("M\xfcller", 64, "name", &msg), TP_ERR_INVALID_ARGUMENT);
    assert_string_equal(msg.text, "The name is not valid UTF-8 text; type it again, or save the "
                        "file it came from as UTF-8.");

    assert_int_equal(tp_check_text("two\nlines", 64, "reason", &msg), TP_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(msg.text, "The reason contains control characters"));

    /* What a scanner typed may end in CR LF; only the control rule differs. */
    assert_int_equal(tp_check_utf8("R-1\r\n", 64, "answer", &msg), TP_OK);
    assert_int_equal(tp_check_utf8("R-\xc0\xaf", 64, "answer", &msg), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_check_utf8("R-12345", 4, "answer", &msg), TP_ERR_TOO_LONG);

    /* A NULL message is allowed: the status alone says what happened. */
    assert_int_equal(tp_check_text("\xed\xa0\x80", 64, "comment", NULL),
                     TP_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_edges_are_accepted_or_refused_exactly),
        cmocka_unit_test(utf8_length_bounds_the_bytes_read),
        cmocka_unit_test(text_check_names_the_field_and_the_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
