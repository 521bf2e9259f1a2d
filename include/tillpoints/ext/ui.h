/*
 * ui.h — forms, not windows: the plugin's ui extension "tillpoints.ui/2"
 * and the host's "tillpoints.host-ui/2".
 *
 * The plugin describes a form (typed fields, a per-field error, result
 * lists to choose from); the host renders it with its own toolkit and
 * submits the answers; the plugin validates and either presents the form
 * again (with errors, or the next step) or dismisses it with a result.
 *
 * Flow, all on the host's main thread:
 *   ui->open(plugin, "retro-visit", &staff, prefill, &form_id)  returns at once
 *   ... host_ui->present(host, form)           (from on_main_thread)
 *   ui->submit(plugin, form_id, answers, n)    returns at once
 *   ... host_ui->present(host, form)  again, or host_ui->dismiss(host, id, result)
 *
 * The plugin's work for a form (member search, journal checks, Argon2id PIN
 * verification, the credit itself) runs on a plugin thread, never on the
 * host's; its outcome arrives through on_main_thread like any event.
 *
 * Actions (plugin side):
 *   "retro-visit"        credit a missed visit: find the customer, pick the
 *                        journaled receipt, approve (docs/DESIGN.md §6). `prefill`
 *                        may be a scanned receipt code (TPR1|...) or a
 *                        receipt number, which fills the receipt step; a
 *                        prefilled receipt that cannot be credited (already
 *                        credited, refunded, outside the window, dated after
 *                        the terminal's clock plus [retro]
 *                        future_skew_minutes, not journaled) is refused
 *                        at once: the form is dismissed with the reason.
 *   "missed-scan-queue"  open claims, oldest first: credit one through the
 *                        retro flow, or dismiss it with a reason; either
 *                        ends in an approval step.
 *   "missed-scan-claim"  park a claim for receipt `prefill` at checkout:
 *                        "customer will claim later", optional contact. It
 *                        moves no points and has no approval step.
 *   "correct-credit"     "credited the wrong customer": reverse a credit and
 *                        credit the right member, in one transaction.
 *
 * Steps and field ids (docs/PROTOCOL.md, "Forms reference", has every
 * label and sentence). A step is one present() of the same form_id; answer
 * it with submit() keyed by these ids; INFO fields are never answered.
 * (r) marks a required field; RESULTS fields are answered with a
 * choice's key.
 *   "retro-visit"
 *     1 find:     customer TEXT (r); member RESULTS (r, only when several
 *                 members match)
 *     2 receipt:  who INFO; receipt TEXT; recent RESULTS; amount MONEY
 *                 (must match the journal); manual_amount MONEY (only with
 *                 [retro] allow_manual). Skipped when prefilled.
 *     3 approve:  who, receipt_info, points INFO; reason TEXT (r);
 *                 approver TEXT (r); pin PIN (r) -- or approved_by INFO
 *                 instead of approver and pin (trust_host_managers)
 *   "missed-scan-claim"
 *     1 park:     receipt_info INFO; phone, email, note TEXT
 *   "missed-scan-queue"
 *     1 pick:     claim RESULTS (r); dismiss_reason TEXT
 *     2 credit:   the retro-visit steps from "find" on, the claim's
 *                 receipt known; or, with a dismiss_reason:
 *       dismiss:  receipt_info INFO; reason TEXT (r); approver, pin (r)
 *                 (or approved_by)
 *   "correct-credit"
 *     1 move:     receipt TEXT (r); customer TEXT (r); member RESULTS (r,
 *                 only when several match); reason TEXT (r); approver,
 *                 pin (r) (or approved_by)
 * A refusal comes back in one of three shapes: the same step presented
 * again with a sentence in that field's `error` (field error); the same
 * step with `is_error` set and the sentence in `message` (form error); or
 * dismiss() with done = 0 and the reason in `result` (nothing changed).
 * A finished action is dismiss() with done = 1 and the sentence to show.
 *
 * What the plugin trusts from the host, and what it does not:
 *   - tp_staff.id is recorded as the actor (who was at the till) in the
 *     ledger and the audit log, and is shown back. It proves nothing.
 *   - tp_staff.role only chooses what a form shows: for "manager" the
 *     approval step's "approver" field is prefilled with the staff id.
 *   - Approval never rests on either. Every step that moves points or
 *     closes a claim (a credit, a manual credit, a correction, a claim
 *     credited or dismissed) has the fields "approver" (a manager id) and
 *     "pin" (TP_FIELD_PIN), and is carried out only when the approver is an
 *     enrolled manager (admin.h manager_add), not locked, whose PIN was
 *     given in that submit. The host must send both answers, including a
 *     prefilled approver it showed unchanged. A missing PIN, a wrong PIN
 *     and an id that is not an enrolled manager are refused on the form
 *     and write nothing but an audit record; an unknown id gets the same
 *     sentence, and costs the same Argon2id check, as a wrong PIN.
 *   - The one exception is the store's choice, not the host's: with
 *     [retro] trust_host_managers = yes in the plugin's config, a staff
 *     member with role "manager" whose id is an enrolled, unlocked manager
 *     approves without a PIN; the step then shows an INFO field
 *     "approved_by" instead of "approver" and "pin". This trusts the
 *     host's own login (and anyone who can call ui.open). Off by default.
 *   - There is no manager session: a PIN approves the one step it was
 *     typed on, so nothing the host holds can be replayed later.
 */
#ifndef TILLPOINTS_EXT_UI_H
#define TILLPOINTS_EXT_UI_H

#include "../tillpoints.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_EXT_UI "tillpoints.ui/2"
#define TP_HOST_EXT_UI "tillpoints.host-ui/2"

/* Limits (TP_FIELD_*, TP_FORM_*): ../limits.h. */

/* A field kind; later minor versions may add kinds, which a host that does
 * not know them shows as INFO. */
typedef uint32_t tp_field_kind;
enum {
    TP_FIELD_TEXT = 1,     /* free text up to max_len bytes */
    TP_FIELD_MONEY = 2,    /* an amount typed as "12.50"; the answer is the
                              text, the plugin parses it exactly */
    TP_FIELD_DATETIME = 3, /* "YYYY-MM-DD HH:MM" UTC */
    TP_FIELD_CHOICE = 4,   /* one of `choices`; the answer is its key */
    TP_FIELD_PIN = 5,      /* secret digits: render masked, never log */
    TP_FIELD_INFO = 6,     /* read-only text (value); no answer */
    TP_FIELD_RESULTS = 7   /* a list to pick one from (search results,
                              receipts, claims); the answer is a key */
};

/* An array element (tp_form_field.choice_stride). */
typedef struct tp_form_choice {
    const char *key;   /* what to answer, <= TP_FIELD_VALUE_MAX bytes */
    const char *label; /* what to show; personal data already masked */
} tp_form_choice;

/* An array element (tp_form.field_stride). */
typedef struct tp_form_field {
    const char *id;        /* <= TP_FIELD_ID_MAX bytes, e.g. "customer" */
    tp_field_kind kind;    /* TP_FIELD_* */
    const char *label;     /* e.g. "Customer (phone, email, code or name)" */
    const char *value;     /* prefilled value / INFO text, "" for none */
    const char *error;     /* this field's error sentence, "" for none */
    int32_t required;
    uint32_t max_len;      /* for TEXT, MONEY, PIN: bytes */
    const tp_form_choice *choices; /* CHOICE and RESULTS */
    size_t choice_count;
    size_t choice_stride;  /* sizeof(tp_form_choice) in the plugin's build */
} tp_form_field;

/* Valid for the duration of the present() call; owned by the plugin. */
typedef struct tp_form {
    uint32_t struct_size;  /* sizeof(tp_form) in the plugin's build */
    uint64_t form_id;
    const char *action;    /* the action that opened it */
    const char *title;     /* e.g. "Missed visit: pick the receipt" */
    const char *message;   /* a form-level sentence ("" for none) */
    int32_t is_error;      /* message is an error */
    const tp_form_field *fields;
    size_t field_count;
    size_t field_stride;   /* sizeof(tp_form_field) in the plugin's build */
    const char *submit_label; /* e.g. "Credit 27 points" */
} tp_form;

/* An array element: submit takes a stride. */
typedef struct tp_form_answer {
    const char *field_id;  /* <= TP_FIELD_ID_MAX bytes */
    const char *value;     /* <= TP_FIELD_VALUE_MAX bytes */
} tp_form_answer;

/* Who is at the till, as the host's own login says. Used for the record
 * and to prefill forms, never to approve (see the top of this file):
 * every approval needs an enrolled manager's id and PIN on its step. */
typedef struct tp_staff {
    uint32_t struct_size;  /* sizeof(tp_staff) */
    const char *id;        /* 1..TP_STAFF_ID_MAX bytes: the actor in the
                              audit log */
    const char *role;      /* "manager" or "cashier" (NULL: cashier);
                              "manager" prefills the approver's id; any
                              other role is refused */
} tp_staff;

typedef struct tp_ui_ext {
    uint32_t struct_size; /* sizeof(tp_ui_ext) in the plugin's build */

    /* [main-thread] Opens `action` for `staff`. `prefill` may be NULL.
     * *form_id receives the new form's id; the form itself arrives through
     * the host's present(). TP_ERR_NOT_FOUND for an unknown action. */
    tp_status (*open)(const tp_plugin *plugin, const char *action, const tp_staff *staff,
                      const char *prefill, uint64_t *form_id, tp_message *msg);

    /* [main-thread] The answers to the form last presented with this id
     * (up to TP_FORM_ANSWERS_MAX elements of `stride` bytes,
     * sizeof(tp_form_answer)). The outcome arrives through present() or
     * dismiss(). TP_ERR_NOT_FOUND for a form that is not open. */
    tp_status (*submit)(const tp_plugin *plugin, uint64_t form_id,
                        const tp_form_answer *answers, size_t count, size_t stride,
                        tp_message *msg);

    /* [main-thread] Closes the form without doing anything; the host gets
     * dismiss(). */
    tp_status (*cancel)(const tp_plugin *plugin, uint64_t form_id, tp_message *msg);
} tp_ui_ext;

typedef struct tp_host_ui_ext {
    uint32_t struct_size; /* sizeof(tp_host_ui_ext) in the host's build */

    /* [main-thread] Show `form` (a new one, or a new state of an open one
     * with the same id). */
    void (*present)(const tp_host *host, const tp_form *form);

    /* [main-thread] The form is finished: `result` is a sentence to show
     * (what was credited, or why nothing was); `done` is non-zero when the
     * action was carried out, 0 when cancelled or refused for good. */
    void (*dismiss)(const tp_host *host, uint64_t form_id, int32_t done, const char *result);
} tp_host_ui_ext;

#ifdef __cplusplus
}
#endif

#endif /* TILLPOINTS_EXT_UI_H */
