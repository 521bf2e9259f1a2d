/* Unit tests for plugin/queue.c. */
#include "testutil.h"

#include "queue.h"

static void items_come_out_in_order_in_batches(void **state)
{
    (void)state;
    tp_queue q;
    assert_int_equal(tp_queue_init(&q, sizeof(int), 8), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(tp_queue_push(&q, &i), 0);
    int out[8];
    assert_int_equal(tp_queue_pop_batch(&q, out, 3), 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[2], 2);
    assert_int_equal(tp_queue_pending(&q), 5); /* 2 waiting + 3 in flight */
    tp_queue_done(&q, 3);
    assert_int_equal(tp_queue_pop_batch(&q, out, 8), 2);
    assert_int_equal(out[1], 4);
    tp_queue_done(&q, 2);
    assert_int_equal(tp_queue_pending(&q), 0);
    tp_queue_destroy(&q);
}

static void full_queue_refuses_at_once_and_wraps_after_draining(void **state)
{
    (void)state;
    tp_queue q;
    assert_int_equal(tp_queue_init(&q, sizeof(int), 4), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tp_queue_push(&q, &i), 0);
    int x = 99;
    assert_int_equal(tp_queue_push(&q, &x), -1);
    int out[4];
    assert_int_equal(tp_queue_pop_batch(&q, out, 2), 2);
    tp_queue_done(&q, 2);
    int a = 10, b = 11;
    assert_int_equal(tp_queue_push(&q, &a), 0);
    assert_int_equal(tp_queue_push(&q, &b), 0);
    assert_int_equal(tp_queue_pop_batch(&q, out, 4), 4);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 10);
    assert_int_equal(out[3], 11);
    tp_queue_destroy(&q);
}

static void *consumer(void *arg)
{
    tp_queue *q = arg;
    long sum = 0;
    int buf[16];
    size_t n;
    while ((n = tp_queue_pop_batch(q, buf, 16)) > 0) {
        for (size_t i = 0; i < n; i++)
            sum += buf[i];
        tp_queue_done(q, n);
    }
    return (void *)sum;
}

static void closing_lets_the_consumer_drain_then_stop(void **state)
{
    (void)state;
    tp_queue q;
    assert_int_equal(tp_queue_init(&q, sizeof(int), 64), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, consumer, &q), 0);
    long want = 0;
    for (int i = 1; i <= 1000; i++) {
        while (tp_queue_push(&q, &i) != 0)
            usleep(100);
        want += i;
    }
    tp_queue_close(&q);
    int late = 5;
    assert_int_equal(tp_queue_push(&q, &late), -1);
    void *sum;
    pthread_join(t, &sum);
    assert_int_equal((long)sum, want);
    tp_queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(items_come_out_in_order_in_batches),
        cmocka_unit_test(full_queue_refuses_at_once_and_wraps_after_draining),
        cmocka_unit_test(closing_lets_the_consumer_drain_then_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
