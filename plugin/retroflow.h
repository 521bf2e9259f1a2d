/*
 * retroflow.h — what the retro flows share (retro.c, retro_visit.c,
 * retro_claims.c, retro_correct.c): their steps, the journal as they read
 * it, the approval of a step, and the helpers that build their forms.
 * Private to those four files; the ui thread calls retro.h.
 */
#ifndef TP_RETROFLOW_H
#define TP_RETROFLOW_H

#include "managers.h"
#include "retro.h"
#include "util.h" /* TP_MUST_CHECK */

enum {
    STEP_FIND = 1, STEP_RECEIPT, STEP_APPROVE,     /* retro-visit */
    STEP_C_ENTRY = 11, STEP_C_APPROVE,            /* correct-credit */
    STEP_QUEUE = 21, STEP_Q_DISMISS,              /* missed-scan-queue */
    STEP_CLAIM = 31                               /* missed-scan-claim */
};

typedef struct journal_row {
    int found;
    char location[TP_CFG_ID_MAX + 1];
    int64_t time_ms;
    int64_t total, eligible, refunded;
    int64_t credited_entry;   /* earn or retro entry for this receipt, 0 none */
    char credited_kind[16];
} journal_row;

/* Who approves a step, and how. */
typedef struct approval {
    char approver[TP_MANAGER_ID_MAX + 1];
    int by_host_login;          /* trust_host_managers: no PIN was typed */
    tp_pin_attempt attempt;     /* the PIN's check, between its steps */
} approval;

const char *tp_retro_answer(const tp_answers *a, const char *id);
void tp_retro_approval_fields(tp_instance *in, tp_session *s, tp_uform *out,
                              const tp_answers *keep);
const char *tp_retro_approval_note(const approval *ap);
int tp_retro_approve_retro(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out);
int tp_retro_begin_approved(tp_instance *in, tp_session *s, const tp_answers *a, const char *reason,
                            approval *ap, tp_uform *out);
int tp_retro_choose_member(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out);
int tp_retro_choose_receipt(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out);
void tp_retro_deny(tp_instance *in, tp_session *s, const char *approver, int64_t points,
                   const char *why, tp_uform *out);
void tp_retro_dismiss(tp_uform *out, int done, const char *fmt, ...) __attribute__((format(printf,
                      3, 4)));
int tp_retro_do_correct(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out);
int tp_retro_do_dismiss(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out);
int64_t tp_retro_form_approve(tp_instance *in, tp_session *s, tp_uform *out,
                              const tp_answers *keep);
void tp_retro_form_claim(tp_session *s, tp_uform *out, const tp_answers *keep);
void tp_retro_form_correct(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep);
void tp_retro_form_dismiss(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep);
void tp_retro_form_error(tp_uform *out, const char *field, const char *text);
void tp_retro_form_find(tp_session *s, tp_uform *out, const char *query);
int tp_retro_form_queue(tp_instance *in, tp_uform *out, const tp_answers *keep);
void tp_retro_form_receipt(tp_instance *in, tp_session *s, tp_uform *out, const tp_answers *keep);
const char *tp_retro_known_receipt_refusal(tp_instance *in, const char *receipt, char *buf,
                                           size_t cap);
void tp_retro_mask_email(char *out, size_t cap, const char *e);
void tp_retro_mask_phone(char *out, size_t cap, const char *p);
int tp_retro_park_claim(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out);
int64_t tp_retro_parse_money_text(const tp_instance *in, const char *t, int *ok);
int tp_retro_read_journal(tp_instance *in, const char *location, const char *receipt,
                          journal_row *j) TP_MUST_CHECK;
const char *tp_retro_receipt_refusal(tp_instance *in, const char *receipt, const journal_row *j,
                                     char *buf, size_t cap);
int tp_retro_resolve_queue(tp_instance *in, tp_session *s, const tp_answers *a, tp_uform *out);
int64_t tp_retro_retro_points(tp_instance *in, const journal_row *j);
void tp_retro_trim(char *s);
const char *tp_retro_unit_word(const tp_instance *in, int64_t n);

#endif /* TP_RETROFLOW_H */
