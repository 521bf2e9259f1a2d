/*
 * expiry.h — points that expire [expiry] months after they were earned
 * (ext/expiry.h; the model is docs/DESIGN.md §5, "Expiry"): the lots of a
 * member's ledger, the run that writes the "expire" entries, and the
 * plugin's own daily schedule.
 */
#ifndef TP_EXPIRY_H
#define TP_EXPIRY_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "tillpoints/ext/expiry.h"
#include "util.h"

extern const tp_expiry_ext tp_expiry_extension;

/* The instant a lot earned at `time_ms` expires: `months` calendar months
 * later, at the same UTC time of day, the day clamped to the last day of
 * the month it falls in (2026-01-31 10:00 + 1 month = 2026-02-28 10:00). */
int64_t tp_expiry_instant(int64_t time_ms, int months);

/* A member's lots replayed from the ledger (inside the caller's
 * transaction, if any): *due receives the points whose expiry instant is
 * at or before `as_of_ms` and that are still there (never more than the
 * balance); `next` (may be NULL) the member's next expiry as seen at
 * `as_of_ms` (ext/expiry.h). Both 0 when cfg's expiry is off. */
tp_status tp_expiry_member(tp_store *s, const tp_config *cfg, int64_t member_id,
                           int64_t as_of_ms, int64_t *due, tp_expiry_next *next,
                           tp_message *msg) TP_MUST_CHECK;

/* One run over every member, as ext/expiry.h's expire() (as_of_ms
 * already resolved, never 0). `stop` (may be NULL): when it becomes
 * non-zero the run ends after the chunk it is in, with TP_ERR_STATE;
 * what it wrote stands, and a run the same day finishes it. */
tp_status tp_expiry_run(tp_store *s, const tp_config *cfg, int64_t as_of_ms, int dry_run,
                        const char *staff, tp_progress_fn progress, void *user,
                        const atomic_int *stop, tp_expiry_result *res,
                        tp_message *msg) TP_MUST_CHECK;

/* The daily schedule of a till (not a back office) with expiry on: a
 * thread that runs the expiry about a minute after init and then checks
 * hourly whether today's run is done. Both are no-ops when there is
 * nothing to schedule. tp_expiry_stop returns as soon as a run in
 * progress has finished its chunk. */
struct tp_instance;
tp_status tp_expiry_start(struct tp_instance *in, tp_message *msg) TP_MUST_CHECK;
void tp_expiry_stop(struct tp_instance *in);

#endif
