/*
 * queue.c — see queue.h.
 */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

int tp_queue_init(tp_queue *q, size_t item_size, size_t capacity)
{
    memset(q, 0, sizeof *q);
    q->ring = calloc(capacity, item_size);
    if (!q->ring)
        return -1;
    q->item_size = item_size;
    q->capacity = capacity;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    return 0;
}

void tp_queue_destroy(tp_queue *q)
{
    if (!q->ring)
        return;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->nonempty);
    free(q->ring);
    q->ring = NULL;
}

int tp_queue_push(tp_queue *q, const void *item)
{
    pthread_mutex_lock(&q->lock);
    if (q->closed || q->count == q->capacity) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    size_t tail = (q->head + q->count) % q->capacity;
    memcpy(q->ring + tail * q->item_size, item, q->item_size);
    q->count++;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

size_t tp_queue_pop_batch(tp_queue *q, void *out, size_t max)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->nonempty, &q->lock);
    size_t n = q->count < max ? q->count : max;
    for (size_t i = 0; i < n; i++) {
        memcpy((unsigned char *)out + i * q->item_size, q->ring + q->head * q->item_size,
               q->item_size);
        q->head = (q->head + 1) % q->capacity;
    }
    q->count -= n;
    q->in_flight += n;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void tp_queue_done(tp_queue *q, size_t n)
{
    pthread_mutex_lock(&q->lock);
    q->in_flight -= n;
    pthread_mutex_unlock(&q->lock);
}

size_t tp_queue_pending(tp_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->count + q->in_flight;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void tp_queue_close(tp_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}
