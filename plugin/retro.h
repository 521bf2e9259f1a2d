/*
 * retro.h — the flows behind the ui actions (docs/DESIGN.md §6): retro-visit,
 * missed-scan-queue, missed-scan-claim, correct-credit. They run on the ui
 * thread, on the admin connection, and build the next form or finish.
 */
#ifndef TP_RETRO_H
#define TP_RETRO_H

#include "instance.h"
#include "uiform.h"

#define TP_UI_SESSIONS 16

typedef struct tp_answers {
    int n;
    char id[TP_FORM_ANSWERS_MAX][TP_FIELD_ID_MAX + 1];
    char value[TP_FORM_ANSWERS_MAX][TP_FIELD_VALUE_MAX + 1];
} tp_answers;

typedef enum tp_flow { FLOW_RETRO = 1, FLOW_QUEUE, FLOW_CLAIM, FLOW_CORRECT } tp_flow;

typedef struct tp_session {
    int used;
    uint64_t id;
    tp_flow flow;
    char action[TP_FORM_ACTION_MAX + 1];
    char staff[TP_STAFF_ID_MAX + 1];         /* the host's staff id: audited as the actor */
    int is_manager;             /* the host's role says manager: prefills the
                                   approver; never approves by itself (retro.c) */
    int step;
    /* what has been decided so far */
    int64_t member_id;
    char member_code[TP_MEMBER_CODE_MAX + 1];
    char member_label[200];
    char receipt[TP_RECEIPT_ID_MAX + 1];
    int manual;                 /* not in the journal */
    int64_t manual_amount;
    int64_t claim_id;           /* resolving a parked claim */
    int64_t entry_id;           /* correct-credit: the entry to move */
    char prefill_customer[TP_FIELD_VALUE_MAX + 1];
    tp_answers kept;            /* answers of the current step, re-shown */
} tp_session;

/* Starts `s` (flow, staff set) with `prefill` and fills the first form.
 * Returns 1 when the form is to be presented, 0 when the session ended
 * (out->dismiss set). */
int tp_retro_start(tp_instance *in, tp_session *s, const char *prefill, tp_uform *out);

/* Handles the answers to the current form; fills the next form or the
 * dismissal. */
int tp_retro_submit(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out);

#endif
