/*
 * queue.c — see queue.h.
 *
 * Memory order. Slot data is handed over by the slot's sequence number:
 * the producer writes the job, then stores the sequence with release; the
 * consumer loads it with acquire before reading the job, and frees the
 * slot with a release store that the next lap's producer acquires before
 * overwriting it. Sleeping is a Dekker handshake, hence sequentially
 * consistent: the consumer stores ASLEEP in `sleeping` then looks at the next
 * slot; a producer publishes the slot then looks at `sleeping`. At least
 * one of them sees the other's store, so either the consumer finds the job
 * or the producer clears `sleeping` and wakes it. The consumer sleeps with
 * FUTEX_WAIT on `sleeping` expecting ASLEEP: the kernel compares and sleeps in
 * one step, so a producer's clear that lands between the consumer's check
 * and its sleep makes the wait return at once; no wake-up is lost, and no
 * producer ever waits for a lock the consumer holds.
 */
#include "queue.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#define CLOSED_BIT (SIZE_MAX ^ (SIZE_MAX >> 1))

/* The consumer's state, in q->sleeping (the futex word). */
enum { AWAKE = 0, ASLEEP = 1, LINGERING = 2 };

/* atomic_int has the size and representation of int on Linux, which is
 * what the futex word is. Either call may return early (a signal, a
 * spurious wake-up); callers re-check. */
static void futex_wait(atomic_int *word, int expected)
{
    (void)syscall(SYS_futex, (void *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wait_ns(atomic_int *word, int expected, int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    (void)syscall(SYS_futex, (void *)word, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
}

static void futex_wake(atomic_int *word, int n)
{
    (void)syscall(SYS_futex, (void *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/*
 * The ring's memory. A push copies the job into the next slot on the
 * host's thread, so that memory must not fault there: the ring is mapped
 * whole, touched now, and locked in memory when the process may (best
 * effort: RLIMIT_MEMLOCK allows 8 MiB to an ordinary user on Debian 12; a
 * refusal leaves it touched, not locked). Measured (bench_redeem, on a
 * virtual machine whose host pages out memory a process has not touched
 * for a while): before, one push in five of a ring's lap took a page
 * fault, the p99 of redeem()'s push was 11-16 us; locked, 1.5 us.
 */
static unsigned char *ring_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memset(p, 0, bytes);
    (void)mlock(p, bytes);
    return p;
}

int tp_queue_init(tp_queue *q, size_t item_size, size_t capacity)
{
    memset(q, 0, sizeof *q);
    if (capacity == 0 || item_size == 0 || capacity > SIZE_MAX / 2 / item_size)
        return -1;
    q->ring = ring_map(capacity * item_size);
    q->seq = calloc(capacity, sizeof *q->seq);
    if (!q->ring || !q->seq) {
        if (q->ring)
            munmap(q->ring, capacity * item_size);
        free(q->seq);
        q->ring = NULL;
        q->seq = NULL;
        return -1;
    }
    for (size_t i = 0; i < capacity; i++)
        atomic_init(&q->seq[i], i);
    q->item_size = item_size;
    q->capacity = capacity;
    atomic_init(&q->tail, 0);
    atomic_init(&q->finished, 0);
    atomic_init(&q->sleeping, 0);
    pthread_mutex_init(&q->lock, NULL);
    return 0;
}

void tp_queue_destroy(tp_queue *q)
{
    if (!q->ring)
        return;
    pthread_mutex_destroy(&q->lock);
    munmap(q->ring, q->capacity * q->item_size); /* unlocks it too */
    free(q->seq);
    q->ring = NULL;
    q->seq = NULL;
}

static int push(tp_queue *q, const void *item, int wake_lingering);

int tp_queue_push(tp_queue *q, const void *item)
{
    return push(q, item, 0);
}

int tp_queue_push_prompt(tp_queue *q, const void *item)
{
    return push(q, item, 1);
}

static int push(tp_queue *q, const void *item, int wake_lingering)
{
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t slot;
    for (;;) {
        if (pos & CLOSED_BIT)
            return -1;
        slot = pos % q->capacity;
        size_t s = atomic_load_explicit(&q->seq[slot], memory_order_acquire);
        if (s == pos) {
            /* Free for this lap: claim it. A failed CAS reloads pos. */
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (s < pos) {
            /* The slot still holds last lap's job: full. A lingering
             * consumer is woken now (the one push that pays a system
             * call); it would otherwise come back within LOOK_NS. */
            int lingering = LINGERING;
            if (atomic_compare_exchange_strong(&q->sleeping, &lingering, AWAKE))
                futex_wake(&q->sleeping, 1);
            return -1;
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
    memcpy(q->ring + slot * q->item_size, item, q->item_size);
    atomic_store(&q->seq[slot], pos + 1); /* publish (seq_cst, see top) */
    int asleep = ASLEEP;
    int wake = atomic_load(&q->sleeping) == ASLEEP &&
               atomic_compare_exchange_strong(&q->sleeping, &asleep, AWAKE);
    /* A prompt push also wakes a lingering consumer, which keeps its state
     * and looks now rather than at its next LOOK_NS. */
    if (wake || (wake_lingering && atomic_load(&q->sleeping) == LINGERING))
        futex_wake(&q->sleeping, 1);
    return 0;
}

/* The slot at the consumer's head is published. */
static int head_ready(tp_queue *q)
{
    return atomic_load(&q->seq[q->head % q->capacity]) == q->head + 1;
}

/* Closed, and every position claimed before the close has been popped. */
static int drained(tp_queue *q)
{
    size_t t = atomic_load(&q->tail);
    return (t & CLOSED_BIT) && (t & ~CLOSED_BIT) == q->head;
}

/*
 * Lingering. Waking a consumer asleep on the futex costs the pushing
 * thread a system call — the host's thread, inside complete() — and on a
 * virtual machine that call is most of complete()'s time (store-day bench,
 * till alone: p50 17 us with a wake per sale, 1.5 us without). So an idle
 * consumer does not sleep on the futex at once: it looks again every
 * LOOK_NS, and sleeps on the futex only after LINGER_NS without work.
 * While a till is selling, its pushes therefore never wake anybody; a job
 * waits at most LOOK_NS longer to be written (the durability target is
 * 250 ms), and an idle plugin settles into no wake-ups at all. LOOK_NS is
 * not shorter because each look is a timer interrupt that can land on the
 * host's CPU in the middle of a complete(): looking every millisecond, on
 * three queues, put the till-alone p99 at 19 us.
 */
#define LOOK_NS 10000000LL     /* 10 ms */
#define LINGER_NS 2000000000LL /* 2 s */

/* Waits, looking every LOOK_NS, until the head is ready or the queue is
 * drained (1), or LINGER_NS pass without either (0). The wait is on the
 * futex word with a timeout, marked LINGERING: a push does not wake it,
 * but a push that finds the ring full, or close, does. */
static int linger(tp_queue *q)
{
    int64_t start = tp_mono_ns();
    int ready = 0;
    while (!ready && tp_mono_ns() - start < LINGER_NS) {
        atomic_store(&q->sleeping, LINGERING);
        if (!head_ready(q) && !drained(q))
            futex_wait_ns(&q->sleeping, LINGERING, LOOK_NS);
        ready = head_ready(q) || drained(q);
    }
    atomic_store(&q->sleeping, AWAKE);
    return ready;
}

size_t tp_queue_pop_batch(tp_queue *q, void *out, size_t max)
{
    for (;;) {
        size_t n = 0;
        while (n < max) {
            size_t slot = q->head % q->capacity;
            if (atomic_load_explicit(&q->seq[slot], memory_order_acquire) != q->head + 1)
                break;
            memcpy((unsigned char *)out + n * q->item_size, q->ring + slot * q->item_size,
                   q->item_size);
            atomic_store_explicit(&q->seq[slot], q->head + q->capacity, memory_order_release);
            q->head++;
            n++;
        }
        if (n > 0 || max == 0 || drained(q))
            return n;
        /* Empty: linger first, looking on a short timer, while the host is
         * active; the host's push makes no system call meanwhile. */
        if (linger(q))
            continue;
        /* Idle for LINGER_NS (or the next slot claimed but not yet
         * published): announce the sleep, look once more, and only then
         * sleep. A wake-up by the producer of a later slot finds the head
         * still empty: sleep again. */
        for (;;) {
            atomic_store(&q->sleeping, ASLEEP);
            if (head_ready(q) || drained(q))
                break;
            futex_wait(&q->sleeping, ASLEEP);
        }
        atomic_store(&q->sleeping, AWAKE);
    }
}

void tp_queue_done(tp_queue *q, size_t n)
{
    atomic_fetch_add_explicit(&q->finished, n, memory_order_release);
}

size_t tp_queue_pending(tp_queue *q)
{
    /* finished first: every finished job was claimed before, so the tail
     * read after it is never smaller. */
    size_t done = atomic_load_explicit(&q->finished, memory_order_acquire);
    size_t claimed = atomic_load(&q->tail) & ~CLOSED_BIT;
    return claimed - done;
}

int tp_queue_closed(tp_queue *q)
{
    return (atomic_load(&q->tail) & CLOSED_BIT) != 0;
}

void tp_queue_close(tp_queue *q)
{
    atomic_fetch_or(&q->tail, CLOSED_BIT);
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_mutex_unlock(&q->lock);
    /* After the bit: a consumer that missed it stored 1 before, and this
     * store ends its wait (see top). */
    atomic_store(&q->sleeping, 0);
    futex_wake(&q->sleeping, INT_MAX);
}
