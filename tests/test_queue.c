/* Unit tests for plugin/queue.c. */
#include "testutil.h"

#include <sched.h>

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

/* Several producer threads push into a small ring while one consumer
 * drains it: every item arrives exactly once, and each producer's items
 * arrive in the order it pushed them. */
#define MP_PRODUCERS 4
#define MP_ITEMS 20000

typedef struct mp_item {
    int producer;
    int n;
} mp_item;

typedef struct mp_shared {
    tp_queue q;
    int start;
    pthread_mutex_t lock;
    pthread_cond_t go;
} mp_shared;

typedef struct mp_producer {
    mp_shared *sh;
    int id;
    long refusals;
} mp_producer;

static void *mp_produce(void *arg)
{
    mp_producer *p = arg;
    pthread_mutex_lock(&p->sh->lock);
    while (!p->sh->start)
        pthread_cond_wait(&p->sh->go, &p->sh->lock);
    pthread_mutex_unlock(&p->sh->lock);
    for (int i = 0; i < MP_ITEMS; i++) {
        mp_item it = {p->id, i};
        while (tp_queue_push(&p->sh->q, &it) != 0) {
            p->refusals++; /* full: the push said so at once */
            sched_yield();
        }
    }
    return NULL;
}

typedef struct mp_consumer {
    tp_queue *q;
    int next[MP_PRODUCERS]; /* the item each producer must send next */
    long received;
    int out_of_order;
} mp_consumer;

static void *mp_consume(void *arg)
{
    mp_consumer *c = arg;
    mp_item buf[7];
    size_t n;
    while ((n = tp_queue_pop_batch(c->q, buf, 7)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (buf[i].producer < 0 || buf[i].producer >= MP_PRODUCERS ||
                buf[i].n != c->next[buf[i].producer])
                c->out_of_order++;
            else
                c->next[buf[i].producer]++;
            c->received++;
        }
        tp_queue_done(c->q, n);
    }
    return NULL;
}

static void many_producers_one_consumer_lose_nothing_and_keep_each_order(void **state)
{
    (void)state;
    mp_shared sh;
    memset(&sh, 0, sizeof sh);
    assert_int_equal(tp_queue_init(&sh.q, sizeof(mp_item), 16), 0);
    pthread_mutex_init(&sh.lock, NULL);
    pthread_cond_init(&sh.go, NULL);
    mp_consumer c;
    memset(&c, 0, sizeof c);
    c.q = &sh.q;
    pthread_t ct, pt[MP_PRODUCERS];
    mp_producer p[MP_PRODUCERS];
    assert_int_equal(pthread_create(&ct, NULL, mp_consume, &c), 0);
    for (int i = 0; i < MP_PRODUCERS; i++) {
        p[i] = (mp_producer){&sh, i, 0};
        assert_int_equal(pthread_create(&pt[i], NULL, mp_produce, &p[i]), 0);
    }
    pthread_mutex_lock(&sh.lock);
    sh.start = 1;
    pthread_cond_broadcast(&sh.go);
    pthread_mutex_unlock(&sh.lock);
    for (int i = 0; i < MP_PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    tp_queue_close(&sh.q);
    pthread_join(ct, NULL);
    assert_int_equal(c.out_of_order, 0);
    assert_int_equal(c.received, (long)MP_PRODUCERS * MP_ITEMS);
    for (int i = 0; i < MP_PRODUCERS; i++)
        assert_int_equal(c.next[i], MP_ITEMS);
    assert_int_equal(tp_queue_pending(&sh.q), 0);
    tp_queue_destroy(&sh.q);
    pthread_mutex_destroy(&sh.lock);
    pthread_cond_destroy(&sh.go);
}

typedef struct sleeper {
    tp_queue *q;
    size_t got;
    int item;
} sleeper;

static void *sleeper_pop(void *arg)
{
    sleeper *s = arg;
    s->got = tp_queue_pop_batch(s->q, &s->item, 1);
    return NULL;
}

/* 1 once the consumer has announced that it sleeps on the empty ring. */
static int wait_asleep(tp_queue *q)
{
    for (int i = 0; i < 100000; i++) { /* hang guard: 10 s */
        if (atomic_load(&q->sleeping))
            return 1;
        usleep(100);
    }
    return 0;
}

static void close_wakes_a_sleeping_consumer_with_nothing(void **state)
{
    (void)state;
    tp_queue q;
    assert_int_equal(tp_queue_init(&q, sizeof(int), 4), 0);
    sleeper s = {&q, 99, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sleeper_pop, &s), 0);
    assert_true(wait_asleep(&q));
    assert_false(tp_queue_closed(&q));
    tp_queue_close(&q);
    pthread_join(t, NULL);
    assert_int_equal(s.got, 0);
    assert_true(tp_queue_closed(&q));
    assert_int_equal(q.closed, 1);
    tp_queue_destroy(&q);
}

static void push_wakes_a_sleeping_consumer(void **state)
{
    (void)state;
    tp_queue q;
    assert_int_equal(tp_queue_init(&q, sizeof(int), 4), 0);
    sleeper s = {&q, 99, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sleeper_pop, &s), 0);
    assert_true(wait_asleep(&q));
    int x = 42;
    assert_int_equal(tp_queue_push(&q, &x), 0);
    pthread_join(t, NULL);
    assert_int_equal(s.got, 1);
    assert_int_equal(s.item, 42);
    assert_int_equal(tp_queue_pending(&q), 1); /* popped, not yet done */
    tp_queue_done(&q, 1);
    assert_int_equal(tp_queue_pending(&q), 0);
    tp_queue_destroy(&q);
}

/* What was pushed before close is still handed out after it; a push
 * after close fails, as does one into a full ring, and neither changes
 * what is pending. */
static void closed_queue_refuses_pushes_but_hands_out_what_it_holds(void **state)
{
    (void)state;
    tp_queue q;
    assert_int_equal(tp_queue_init(&q, sizeof(int), 3), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tp_queue_push(&q, &i), 0);
    int x = 7;
    assert_int_equal(tp_queue_push(&q, &x), -1); /* full */
    assert_int_equal(tp_queue_pending(&q), 3);
    tp_queue_close(&q);
    assert_int_equal(tp_queue_push(&q, &x), -1); /* closed */
    assert_int_equal(tp_queue_pending(&q), 3);
    int out[4];
    assert_int_equal(tp_queue_pop_batch(&q, out, 2), 2);
    /* Room now, but closed: still refused. */
    assert_int_equal(tp_queue_push(&q, &x), -1);
    assert_int_equal(tp_queue_pop_batch(&q, out + 2, 4), 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 2);
    assert_int_equal(tp_queue_pop_batch(&q, out, 4), 0);
    tp_queue_done(&q, 3);
    assert_int_equal(tp_queue_pending(&q), 0);
    tp_queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(items_come_out_in_order_in_batches),
        cmocka_unit_test(full_queue_refuses_at_once_and_wraps_after_draining),
        cmocka_unit_test(closing_lets_the_consumer_drain_then_stop),
        cmocka_unit_test(many_producers_one_consumer_lose_nothing_and_keep_each_order),
        cmocka_unit_test(close_wakes_a_sleeping_consumer_with_nothing),
        cmocka_unit_test(push_wakes_a_sleeping_consumer),
        cmocka_unit_test(closed_queue_refuses_pushes_but_hands_out_what_it_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
