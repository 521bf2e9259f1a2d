/*
 * workers.h — the writer and lookup threads of an instance (workers.c), and
 * the writer's part in a bounded shutdown (docs/DESIGN.md §3).
 */
#ifndef TP_WORKERS_H
#define TP_WORKERS_H

#include "instance.h"

void *tp_writer_main(void *arg);
void *tp_reader_main(void *arg);

/* [main-thread] init(), before the writer starts: sets up the shutdown
 * state and reads `<database>.pending` for the writer to apply first. A
 * corrupt journal is moved aside and logged; its good records still count.
 * Fails only when the journal exists but cannot be read (msg says why). */
tp_status tp_writer_prepare(tp_instance *in, tp_message *msg) TP_MUST_CHECK;

/* [thread-safe] Non-zero while jobs of the side journal wait to commit
 * (admin flush waits for them as for the queue). */
int tp_writer_replaying(tp_instance *in);

/* [main-thread] destroy(): closes the write queue, waits for the writer
 * until `deadline_ms` (tp_mono_ms clock). 0: the writer finished and is
 * joined. 1: it did not; it is abandoned (detached, the host gated off),
 * and *unsaved (malloc'd, caller frees; may be NULL if out of memory) holds
 * the *n jobs not known to be durable, which the caller journals. */
int tp_writer_stop(tp_instance *in, int64_t deadline_ms, tp_write_job **unsaved, size_t *n);

#endif /* TP_WORKERS_H */
