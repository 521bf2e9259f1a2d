/*
 * fuzz_sidejournal.c — libFuzzer target for the side journal's reader
 * (plugin/sidejournal.c), which init() runs on a file left by an earlier
 * shutdown. Invariants: any input either yields jobs that checkout could
 * have queued (a kind, a printable receipt, non-negative amounts) or is
 * reported corrupt with a sentence; never a crash, never more jobs than
 * the input could hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sidejournal.h"

/* libFuzzer calls these; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_write_job *jobs;
    size_t n;
    int corrupt;
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st = tp_sidejournal_parse(data, size, "fuzz.pending", &jobs, &n, &corrupt, &msg);
    if (st != TP_OK && st != TP_ERR_NO_MEMORY)
        __builtin_trap();
    if (st == TP_OK && corrupt && !msg.text[0])
        __builtin_trap();
    if (n * 20 > size)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        const tp_write_job *j = &jobs[i];
        const char *receipt = j->kind == TP_JOB_AWARD ? j->u.award.receipt : j->u.refund.receipt;
        if ((j->kind != TP_JOB_AWARD && j->kind != TP_JOB_REFUND) || !receipt[0] ||
            (j->kind == TP_JOB_AWARD && (j->u.award.points < 0 || j->u.award.total_minor < 0 ||
                                         j->u.award.redeem_points < 0 ||
                                         j->u.award.redeem_minor < 0)))
            __builtin_trap();
    }
    free(jobs);
    return 0;
}
