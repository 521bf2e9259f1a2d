/*
 * test_dedup.c — "the same code scanned twice within a short window counts
 * once", and the edges of that promise: fixed window, fail open when full
 * or when time runs backwards, exact comparison of codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dedup.h"

#define W TP_DEDUP_DEFAULT_WINDOW_MS

static int seen(tp_dedup *d, const char *code, int64_t now)
{
    return tp_dedup_seen(d, code, strlen(code), now);
}

static tp_dedup fresh(int64_t window_ms)
{
    tp_dedup d;
    assert_int_equal(tp_dedup_init(&d, window_ms), TP_OK);
    return d;
}

static void first_scan_of_a_code_counts(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    assert_int_equal(seen(&d, "MEMBER-1", 1000), 0);
}

static void same_code_within_the_window_is_a_duplicate(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    assert_int_equal(seen(&d, "MEMBER-1", 1000), 0);
    assert_int_equal(seen(&d, "MEMBER-1", 1000), 1);
    assert_int_equal(seen(&d, "MEMBER-1", 1000 + W - 1), 1);
}

static void same_code_when_the_window_has_passed_counts_again(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    assert_int_equal(seen(&d, "MEMBER-1", 1000), 0);
    assert_int_equal(seen(&d, "MEMBER-1", 1000 + W), 0);
    /* ...and opens a new window from there. */
    assert_int_equal(seen(&d, "MEMBER-1", 1000 + W + 1), 1);
}

static void duplicate_does_not_extend_the_window(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    /* A scanner re-reading every 500 ms: counts again once per window. */
    assert_int_equal(seen(&d, "MEMBER-1", 0), 0);
    assert_int_equal(seen(&d, "MEMBER-1", 500), 1);
    assert_int_equal(seen(&d, "MEMBER-1", 1000), 1);
    assert_int_equal(seen(&d, "MEMBER-1", 1500), 0);
    assert_int_equal(seen(&d, "MEMBER-1", 2000), 1);
}

static void different_codes_do_not_suppress_each_other(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    assert_int_equal(seen(&d, "MEMBER-1", 0), 0);
    assert_int_equal(seen(&d, "MEMBER-2", 10), 0);
    assert_int_equal(seen(&d, "member-1", 20), 0);
    assert_int_equal(seen(&d, "MEMBER-1", 30), 1);
    assert_int_equal(seen(&d, "MEMBER-2", 40), 1);
}

static void code_and_its_prefix_are_different_codes(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    assert_int_equal(seen(&d, "MEMBER-12", 0), 0);
    assert_int_equal(seen(&d, "MEMBER-1", 1), 0);
    assert_int_equal(tp_dedup_seen(&d, "MEMBER-12", 8, 2), 1);
}

static void long_codes_differing_only_after_the_stored_prefix_are_distinct(void **state)
{
    (void)state;
    char a[200], b[200];
    tp_dedup d = fresh(W);

    memset(a, 'x', sizeof a);
    memcpy(b, a, sizeof b);
    b[sizeof b - 1] = 'y';
    assert_int_equal(tp_dedup_seen(&d, a, sizeof a, 0), 0);
    assert_int_equal(tp_dedup_seen(&d, b, sizeof b, 1), 0);
    assert_int_equal(tp_dedup_seen(&d, a, sizeof a, 2), 1);
    assert_int_equal(tp_dedup_seen(&d, b, sizeof b, 3), 1);
}

static void code_need_not_be_nul_terminated(void **state)
{
    (void)state;
    const char buf[] = {'A', 'B', 'C', 'D'};
    tp_dedup d = fresh(W);

    assert_int_equal(tp_dedup_seen(&d, buf, sizeof buf, 0), 0);
    assert_int_equal(seen(&d, "ABCD", 1), 1);
}

static void empty_code_never_counts_as_duplicate(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    assert_int_equal(tp_dedup_seen(&d, NULL, 0, 0), 0);
    assert_int_equal(tp_dedup_seen(&d, "", 0, 1), 0);
}

static void clock_going_backwards_lets_the_scan_count(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    assert_int_equal(seen(&d, "MEMBER-1", 10000), 0);
    assert_int_equal(seen(&d, "MEMBER-1", 9999), 0);
    /* The new scan anchored a new window at 9999. */
    assert_int_equal(seen(&d, "MEMBER-1", 10000), 1);
}

static void extreme_timestamps_do_not_overflow(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    assert_int_equal(seen(&d, "MEMBER-1", INT64_MIN), 0);
    assert_int_equal(seen(&d, "MEMBER-1", INT64_MAX), 0);
    assert_int_equal(seen(&d, "MEMBER-1", INT64_MAX), 1);
    assert_int_equal(seen(&d, "MEMBER-2", INT64_MAX - 1), 0);
    assert_int_equal(seen(&d, "MEMBER-2", INT64_MIN), 0);
}

static void zero_window_turns_suppression_off(void **state)
{
    (void)state;
    tp_dedup d = fresh(0);
    assert_int_equal(seen(&d, "MEMBER-1", 0), 0);
    assert_int_equal(seen(&d, "MEMBER-1", 0), 0);
}

static void window_outside_its_range_is_refused(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    tp_dedup before;

    assert_int_equal(seen(&d, "MEMBER-1", 0), 0);
    before = d;
    assert_int_equal(tp_dedup_init(&d, -1), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_dedup_init(&d, TP_DEDUP_MAX_WINDOW_MS + 1),
                     TP_ERR_INVALID_ARGUMENT);
    assert_memory_equal(&d, &before, sizeof d);
    assert_int_equal(tp_dedup_init(NULL, W), TP_ERR_INVALID_ARGUMENT);
    assert_int_equal(tp_dedup_init(&d, TP_DEDUP_MAX_WINDOW_MS), TP_OK);
}

static void init_again_forgets_every_code(void **state)
{
    (void)state;
    tp_dedup d = fresh(W);
    assert_int_equal(seen(&d, "MEMBER-1", 0), 0);
    assert_int_equal(tp_dedup_init(&d, W), TP_OK);
    assert_int_equal(seen(&d, "MEMBER-1", 1), 0);
}

static void full_table_forgets_the_oldest_code_first(void **state)
{
    (void)state;
    char code[16];
    tp_dedup d = fresh(W);

    for (int i = 0; i < TP_DEDUP_SLOTS; i++) {
        snprintf(code, sizeof code, "CODE-%02d", i);
        assert_int_equal(seen(&d, code, i), 0);
    }
    /* One more distinct code within the window evicts CODE-00 only. */
    assert_int_equal(seen(&d, "CODE-NEW", 100), 0);
    assert_int_equal(seen(&d, "CODE-00", 101), 0); /* fails open: counts */
    for (int i = 2; i < TP_DEDUP_SLOTS; i++) {
        snprintf(code, sizeof code, "CODE-%02d", i);
        assert_int_equal(seen(&d, code, 102), 1);
    }
    assert_int_equal(seen(&d, "CODE-NEW", 103), 1);
}

static void expired_slots_are_reused_before_live_ones(void **state)
{
    (void)state;
    char code[16];
    tp_dedup d = fresh(W);

    for (int i = 0; i < TP_DEDUP_SLOTS - 1; i++) {
        snprintf(code, sizeof code, "OLD-%02d", i);
        assert_int_equal(seen(&d, code, 0), 0);
    }
    assert_int_equal(seen(&d, "LIVE", W), 0);
    /* The OLD codes are all past their window; new codes take their slots
     * and LIVE stays remembered. */
    for (int i = 0; i < TP_DEDUP_SLOTS - 1; i++) {
        snprintf(code, sizeof code, "NEW-%02d", i);
        assert_int_equal(seen(&d, code, W + 1), 0);
    }
    assert_int_equal(seen(&d, "LIVE", W + 2), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_scan_of_a_code_counts),
        cmocka_unit_test(same_code_within_the_window_is_a_duplicate),
        cmocka_unit_test(same_code_when_the_window_has_passed_counts_again),
        cmocka_unit_test(duplicate_does_not_extend_the_window),
        cmocka_unit_test(different_codes_do_not_suppress_each_other),
        cmocka_unit_test(code_and_its_prefix_are_different_codes),
        cmocka_unit_test(long_codes_differing_only_after_the_stored_prefix_are_distinct),
        cmocka_unit_test(code_need_not_be_nul_terminated),
        cmocka_unit_test(empty_code_never_counts_as_duplicate),
        cmocka_unit_test(clock_going_backwards_lets_the_scan_count),
        cmocka_unit_test(extreme_timestamps_do_not_overflow),
        cmocka_unit_test(zero_window_turns_suppression_off),
        cmocka_unit_test(window_outside_its_range_is_refused),
        cmocka_unit_test(init_again_forgets_every_code),
        cmocka_unit_test(full_table_forgets_the_oldest_code_first),
        cmocka_unit_test(expired_slots_are_reused_before_live_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
