/*
 * queue.h — a bounded multi-producer queue of fixed-size jobs, handed from
 * the host's thread to one of the plugin's worker threads.
 *
 * Guarantees: push never blocks beyond a short mutex hold and never
 * allocates (the ring is allocated once at init), so the host's thread
 * cannot be stalled by a slow disk; when the ring is full push fails at
 * once. pop_batch blocks the worker until there is work or the queue is
 * closed, and hands out up to `max` jobs in FIFO order.
 */
#ifndef TP_QUEUE_H
#define TP_QUEUE_H

#include <pthread.h>
#include <stddef.h>

typedef struct tp_queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    unsigned char *ring;     /* capacity * item_size bytes; owned */
    size_t item_size;
    size_t capacity;
    size_t head;             /* next item to pop */
    size_t count;
    size_t in_flight;        /* popped, not yet marked done */
    int closed;
} tp_queue;

/* 0 on success, -1 when out of memory. */
int tp_queue_init(tp_queue *q, size_t item_size, size_t capacity);
void tp_queue_destroy(tp_queue *q);

/* Copies `item` in. 0 on success, -1 when full or closed. */
int tp_queue_push(tp_queue *q, const void *item);

/* Waits for work, copies up to `max` items into `out`. Returns how many;
 * 0 only once the queue is closed and empty. */
size_t tp_queue_pop_batch(tp_queue *q, void *out, size_t max);

/* The consumer says the last batch is fully processed. */
void tp_queue_done(tp_queue *q, size_t n);

/* Items waiting or being processed. */
size_t tp_queue_pending(tp_queue *q);

/* No more pushes; the consumer drains what is left, then pop returns 0. */
void tp_queue_close(tp_queue *q);

#endif
