/*
 * sidejournal.h — the file that keeps checkouts a bounded shutdown could
 * not wait for, `<database>.pending`, until the next init() saves them.
 *
 * destroy() waits for the writer for three quarters of [limits]
 * shutdown_deadline_ms. Whatever is not known to be in the database by then
 * (the writer's batch in flight and everything still queued) is written
 * here, within the last quarter (tp_sidejournal_write_by), with plain POSIX
 * I/O: a new file beside the database (mode 0600), fsync'd, renamed over
 * the old one, directory fsync'd. init() reads it back, the writer applies
 * the jobs like any others and removes the file only after they committed.
 * Jobs are keyed by (location, receipt) in the database, so a job that
 * reached the database anyway (a stalled commit that completed after
 * destroy() gave up on it) is found there and not doubled.
 *
 * Format (all integers little-endian):
 *   header  "TPPEND" + 2-byte format version (1)
 *   record  u32 payload length, payload, 16-byte BLAKE2b of the payload
 *   payload u8 job kind, then the job's fields in a fixed order: strings
 *           as u16 length + bytes, integers as i64.
 * A record cut short at the end of the file (a torn write) is ignored; a
 * record whose checksum is wrong anywhere else, or an unknown header, makes
 * the file corrupt (see tp_sidejournal_read).
 */
#ifndef TP_SIDEJOURNAL_H
#define TP_SIDEJOURNAL_H

#include <stddef.h>

#include "instance.h"
#include "util.h" /* TP_MUST_CHECK */

#define TP_SIDEJOURNAL_SUFFIX ".pending"

/* `<database>.pending` into `out`; -1 when it does not fit. */
int tp_sidejournal_path(char *out, size_t cap, const char *database) TP_MUST_CHECK;

/* Writes `n` jobs to `path` (replacing any file there) and makes them
 * durable. TP_OK, or TP_ERR_STORAGE with a sentence in msg; on failure no
 * partial file is left under `path`. n == 0 removes the file. */
tp_status tp_sidejournal_write(const char *path, const tp_write_job *jobs, size_t n,
                               tp_message *msg) TP_MUST_CHECK;

/* The same as tp_sidejournal_write, on a thread of its own that this call
 * waits for only until `deadline_ms` (tp_mono_ms clock): the disk that
 * stalled SQLite may stall this file too, and destroy() must return. The
 * jobs are copied. TP_ERR_BUSY when the deadline came first: the thread
 * goes on alone (it only writes the file and frees its copy) and the file
 * may still appear. */
tp_status tp_sidejournal_write_by(const char *path, const tp_write_job *jobs, size_t n,
                                  int64_t deadline_ms, tp_message *msg) TP_MUST_CHECK;

/* Reads `path`. TP_OK with the jobs in *jobs (malloc'd, caller frees; NULL
 * when none) and their count in *n, also when the file does not exist
 * (n = 0). A torn last record is left out silently. *corrupt set: the file
 * holds a bad header or a bad record before its end; the jobs returned are
 * the good records read before it, and msg says what was wrong. TP_ERR_STORAGE/TP_ERR_NO_MEMORY: it could
 * not be read; nothing returned. */
tp_status tp_sidejournal_read(const char *path, tp_write_job **jobs, size_t *n, int *corrupt,
                              tp_message *msg) TP_MUST_CHECK;

/* The same for a journal already in memory (`path` only names it in
 * messages); the parser the fuzz target drives. */
tp_status tp_sidejournal_parse(const unsigned char *data, size_t len, const char *path,
                               tp_write_job **jobs, size_t *n, int *corrupt, tp_message *msg) TP_MUST_CHECK;

/* Moves a corrupt journal aside as `<path>.corrupt-<ms>` so that the next
 * init() does not read it again and a person can inspect it. The new name
 * into `aside`. 0 or -1. */
int tp_sidejournal_set_aside(const char *path, char *aside, size_t cap) TP_MUST_CHECK;

#endif
