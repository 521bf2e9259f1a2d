/*
 * queue.h — a bounded multi-producer, single-consumer queue of fixed-size
 * jobs, handed from the host's thread to one of the plugin's worker threads.
 *
 * Guarantees: push never blocks and never allocates (the ring is allocated
 * once at init); it fails at once when the ring is full or closed. The
 * consumer copies jobs out without taking any lock the producers take, so
 * a slow or preempted consumer cannot stall the host's thread: a producer
 * takes no lock at all, and makes one wake-up system call only when the
 * consumer announced it is going to sleep on an empty ring. pop_batch
 * blocks its (single) consumer thread until there is work or the queue is
 * closed, and hands out up to `max` jobs; each producer's jobs come out in
 * the order it pushed them.
 *
 * How: a ring of `capacity` slots, each with a sequence number (a bounded
 * MPMC ring in the style of D. Vyukov's). A producer claims the position
 * `tail` with a compare-and-swap, copies its job into the slot and then
 * publishes it by storing the slot's sequence (release). The consumer sees
 * a slot is ready by its sequence (acquire), copies it out and frees the
 * slot by storing the sequence one lap on. Closing sets a bit in `tail`,
 * so no producer can claim a slot after close, and the consumer knows the
 * final position to drain to.
 */
#ifndef TP_QUEUE_H
#define TP_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include "util.h" /* TP_MUST_CHECK */

typedef struct tp_queue {
    unsigned char *ring;    /* capacity * item_size bytes; owned */
    atomic_size_t *seq;     /* capacity slot sequence numbers; owned */
    size_t item_size;
    size_t capacity;
    atomic_size_t tail;     /* next position to claim; top bit: closed */
    size_t head;            /* next position to pop; the consumer's own */
    atomic_size_t finished; /* jobs marked done since init */
    atomic_int sleeping;    /* the consumer's state and futex word:
                               0 awake; 1 asleep (or about to be): a
                               producer that sees 1 clears it and wakes
                               the consumer; 2 lingering on a timer: only
                               a push into a full ring, or close, wakes it
                               (queue.c) */
    pthread_mutex_t lock;   /* guards `closed` only */
    int closed;             /* under lock; the same fact as tail's bit */
} tp_queue;

/* 0 on success, -1 when out of memory or capacity is 0. */
int tp_queue_init(tp_queue *q, size_t item_size, size_t capacity) TP_MUST_CHECK;
void tp_queue_destroy(tp_queue *q);

/* [thread-safe] Copies `item` in. 0 on success, -1 when full or closed.
 * Never waits for the consumer. */
int tp_queue_push(tp_queue *q, const void *item) TP_MUST_CHECK;

/* The same, and a consumer lingering on its timer looks at once: for a
 * producer that is not the host's thread and whose job is waited for
 * (the writer handing a redemption to the confirmation thread). Costs the
 * producer a system call when the consumer lingers. */
int tp_queue_push_prompt(tp_queue *q, const void *item) TP_MUST_CHECK;

/* [consumer thread] Waits for work, copies up to `max` items into `out`.
 * Returns how many; 0 only once the queue is closed and empty. One thread
 * per queue consumes. */
size_t tp_queue_pop_batch(tp_queue *q, void *out, size_t max);

/* [consumer thread] The last `n` popped items are fully processed. */
void tp_queue_done(tp_queue *q, size_t n);

/* [thread-safe] Items waiting or being processed. */
size_t tp_queue_pending(tp_queue *q);

/* [thread-safe] 1 once tp_queue_close was called. */
int tp_queue_closed(tp_queue *q);

/* [thread-safe] No more pushes; the consumer drains what is left, then
 * pop returns 0. */
void tp_queue_close(tp_queue *q);

#endif
