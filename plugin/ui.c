/*
 * ui.c — the ui extension (ext/ui.h): forms, not windows.
 *
 * The host's thread only validates, copies and enqueues (open/submit/
 * cancel return at once). A dedicated ui thread runs the flows (retro.c) on
 * the admin connection — member search, journal checks, Argon2id PIN
 * checks and the credit itself are all too slow or too disk-bound for a
 * checkout thread — and posts the next form or the dismissal, which
 * on_main_thread hands to the host's host-ui extension.
 */
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "instance.h"
#include "retro.h"
#include "tillpoints/ext/ui.h"
#include "ui.h"
#include "uiform.h"
#include "util.h"

typedef enum { UI_OPEN = 1, UI_SUBMIT, UI_CANCEL } ui_kind;

typedef struct ui_job {
    ui_kind kind;
    uint64_t form_id;
    char action[TP_FORM_ACTION_MAX + 1];
    char staff[TP_STAFF_ID_MAX + 1];
    int is_manager;
    char prefill[TP_FIELD_VALUE_MAX + 1];
    tp_answers answers;
} ui_job;

typedef struct tp_uform_node {
    struct tp_uform_node *next;
    tp_uform form;
} tp_uform_node;

/* ---- main thread ---------------------------------------------------------- */

static int form_slot(tp_instance *in, uint64_t id)
{
    for (int i = 0; i < TP_FORMS_OPEN_MAX; i++)
        if (in->open_forms[i] == id)
            return i;
    return -1;
}

static tp_status ui_ready(const tp_plugin *plugin, tp_instance **in, tp_message *msg)
{
    tp_status st = tp_instance_ready(plugin, in, msg);
    if (st == TP_OK && !(*in)->ui_started) {
        tp_msg_set(msg, "Loyalty is not started; the host must call init first.");
        return TP_ERR_STATE;
    }
    return st;
}

static tp_status ui_open(const tp_plugin *plugin, const char *action, const tp_staff *given,
                         const char *prefill, uint64_t *form_id, tp_message *msg)
{
    tp_instance *in;
    tp_status st = ui_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (!action || !form_id || !given) {
        tp_msg_set(msg, "An action, the staff member and a place for the form id are needed.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    tp_staff local;
    const tp_staff *staff = &local;
    if ((st = tp_abi_read_in(&local, sizeof local, given, TP_MIN_STAFF, "tp_staff", msg)) != TP_OK)
        return st;
    if (staff->role && staff->role[0] && strcmp(staff->role, "manager") != 0 &&
        strcmp(staff->role, "cashier") != 0) {
        tp_msg_set(msg, "The staff role must be \"manager\" or \"cashier\" (or none, for a "
                   "cashier); \"%.32s\" is not one.", staff->role);
        return TP_ERR_INVALID_ARGUMENT;
    }
    static const char *const actions[] = {"retro-visit", "missed-scan-queue", "missed-scan-claim",
                                          "correct-credit"};
    int known = 0;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        known |= strcmp(action, actions[i]) == 0;
    if (!known) {
        tp_msg_set(msg, "There is no form called %.40s (retro-visit, missed-scan-queue, "
                   "missed-scan-claim, correct-credit).", action);
        return TP_ERR_NOT_FOUND;
    }
    if (!staff->id || !*staff->id) {
        tp_msg_set(msg, "Say who is at the till (a staff id of 1 to 64 characters).");
        return TP_ERR_INVALID_ARGUMENT;
    }
    if ((st = tp_check_text(staff->id, 64, "staff id", msg)) != TP_OK ||
        (st = tp_check_utf8(prefill, TP_FIELD_VALUE_MAX, "prefilled value", msg)) != TP_OK)
        return st;
    int slot = form_slot(in, 0);
    if (slot < 0) {
        tp_msg_set(msg, "%d forms are already open; finish or cancel one first.",
                   TP_FORMS_OPEN_MAX);
        return TP_ERR_BUSY;
    }
    ui_job *job = calloc(1, sizeof *job);
    if (!job) {
        tp_msg_set(msg, "Out of memory opening the form.");
        return TP_ERR_NO_MEMORY;
    }
    job->kind = UI_OPEN;
    job->form_id = ++in->next_form_id;
    tp_copy(job->action, sizeof job->action, action);
    tp_copy(job->staff, sizeof job->staff, staff->id);
    /* The host's word, used to prefill the approver and (only with
     * [retro] trust_host_managers) to skip the PIN of an enrolled
     * manager; retro.c never approves on it alone. */
    job->is_manager = staff->role && strcmp(staff->role, "manager") == 0;
    tp_copy(job->prefill, sizeof job->prefill, prefill ? prefill : "");
    if (tp_queue_push(&in->ui_q, job) != 0) {
        free(job);
        tp_msg_set(msg, "The form cannot be opened right now; try again in a moment.");
        return TP_ERR_BUSY;
    }
    in->open_forms[slot] = job->form_id;
    *form_id = job->form_id;
    free(job);
    return TP_OK;
}

static tp_status ui_submit(const tp_plugin *plugin, uint64_t form_id,
                           const tp_form_answer *answers, size_t count, size_t stride,
                           tp_message *msg)
{
    tp_instance *in;
    tp_status st = ui_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (form_id == 0 || form_slot(in, form_id) < 0) {
        tp_msg_set(msg, "Form %llu is not open.", (unsigned long long)form_id);
        return TP_ERR_NOT_FOUND;
    }
    if (count > TP_FORM_ANSWERS_MAX || (count && !answers)) {
        tp_msg_set(msg, "A form takes at most %d answers.", TP_FORM_ANSWERS_MAX);
        return TP_ERR_INVALID_ARGUMENT;
    }
    if (count && (st = tp_abi_check_stride(stride, TP_MIN_ANSWER, "tp_form_answer", msg)) != TP_OK)
        return st;
    ui_job *job = calloc(1, sizeof *job);
    if (!job) {
        tp_msg_set(msg, "Out of memory submitting the form.");
        return TP_ERR_NO_MEMORY;
    }
    job->kind = UI_SUBMIT;
    job->form_id = form_id;
    for (size_t i = 0; i < count; i++) {
        tp_form_answer a;
        tp_abi_get(&a, sizeof a, answers, stride, i);
        const char *id = a.field_id, *v = a.value ? a.value : "";
        if (!id || tp_copy(job->answers.id[i], sizeof job->answers.id[i], id) != 0) {
            free(job);
            tp_msg_set(msg, "Answer %zu has no field id, or one longer than %d characters.",
                       i + 1, TP_FIELD_ID_MAX);
            return id ? TP_ERR_TOO_LONG : TP_ERR_INVALID_ARGUMENT;
        }
        /* Refused whole: the form stays as it was, and the host hears
         * which field (a field's own, smaller limit is the form's to say). */
        char what[TP_FIELD_ID_MAX + 16];
        tp_buf_set(what, sizeof what, "answer to %s", id);
        if ((st = tp_check_utf8(v, TP_FIELD_VALUE_MAX, what, msg)) != TP_OK) {
            free(job);
            return st;
        }
        tp_copy(job->answers.value[i], sizeof job->answers.value[i], v);
    }
    job->answers.n = (int)count;
    int rc = tp_queue_push(&in->ui_q, job);
    free(job);
    if (rc != 0) {
        tp_msg_set(msg, "The form cannot be submitted right now; try again in a moment.");
        return TP_ERR_BUSY;
    }
    return TP_OK;
}

static tp_status ui_cancel(const tp_plugin *plugin, uint64_t form_id, tp_message *msg)
{
    tp_instance *in;
    tp_status st = ui_ready(plugin, &in, msg);
    if (st != TP_OK)
        return st;
    if (form_id == 0 || form_slot(in, form_id) < 0) {
        tp_msg_set(msg, "Form %llu is not open.", (unsigned long long)form_id);
        return TP_ERR_NOT_FOUND;
    }
    ui_job job;
    memset(&job, 0, sizeof job);
    job.kind = UI_CANCEL;
    job.form_id = form_id;
    if (tp_queue_push(&in->ui_q, &job) != 0) {
        tp_msg_set(msg, "The form cannot be cancelled right now; try again in a moment.");
        return TP_ERR_BUSY;
    }
    return TP_OK;
}

const tp_ui_ext tp_ui_extension = {.struct_size = sizeof(tp_ui_ext),
                                   .open = ui_open,
                                   .submit = ui_submit,
                                   .cancel = ui_cancel};

void tp_ui_deliver(tp_instance *in)
{
    pthread_mutex_lock(&in->events_lock);
    tp_uform_node *node = in->ui_head;
    in->ui_head = in->ui_tail = NULL;
    pthread_mutex_unlock(&in->events_lock);
    while (node) {
        tp_uform_node *next = node->next;
        tp_uform *u = &node->form;
        if (u->dismiss) {
            int slot = form_slot(in, u->id);
            if (slot >= 0)
                in->open_forms[slot] = 0;
            if (in->host_ui && in->host_ui->dismiss)
                in->host_ui->dismiss(in->host, u->id, u->done, u->message);
        } else if (in->host_ui && in->host_ui->present) {
            tp_form_field fields[TP_FORM_FIELDS_MAX];
            tp_form_choice choices[TP_FORM_FIELDS_MAX][TP_FORM_CHOICES_MAX];
            for (int i = 0; i < u->n_fields; i++) {
                tp_ufield *x = &u->f[i];
                for (int k = 0; k < x->n_choices; k++)
                    choices[i][k] = (tp_form_choice){.key = x->ckey[k], .label = x->clabel[k]};
                fields[i] = (tp_form_field){.id = x->id, .kind = x->kind, .label = x->label,
                                            .value = x->value, .error = x->error,
                                            .required = x->required, .max_len = x->max_len,
                                            .choices = choices[i],
                                            .choice_count = (size_t)x->n_choices,
                                            .choice_stride = sizeof(tp_form_choice)};
            }
            tp_form form = {.struct_size = sizeof form, .form_id = u->id, .action = u->action,
                            .title = u->title, .message = u->message, .is_error = u->is_error,
                            .fields = fields, .field_count = (size_t)u->n_fields,
                            .field_stride = sizeof(tp_form_field), .submit_label = u->submit};
            in->host_ui->present(in->host, &form);
        }
        free(node);
        node = next;
    }
}

/* ---- ui thread ------------------------------------------------------------ */

static void post_form(tp_instance *in, tp_uform_node *node)
{
    node->next = NULL;
    pthread_mutex_lock(&in->events_lock);
    if (in->ui_tail)
        in->ui_tail->next = node;
    else
        in->ui_head = node;
    in->ui_tail = node;
    pthread_mutex_unlock(&in->events_lock);
    in->host->request_callback(in->host);
}

/* The session of form `id`, or (id 0) a free one. */
static tp_session *session(tp_instance *in, uint64_t id)
{
    for (int i = 0; i < TP_UI_SESSIONS; i++)
        if (id ? in->sessions[i].used && in->sessions[i].id == id : !in->sessions[i].used)
            return &in->sessions[i];
    return NULL;
}

static void handle(tp_instance *in, const ui_job *job)
{
    tp_uform_node *node = calloc(1, sizeof *node);
    if (!node) {
        tp_instance_log(in, TP_LOG_ERROR, "out of memory building a form");
        return;
    }
    tp_uform *out = &node->form;
    out->id = job->form_id;
    tp_session *s = job->kind == UI_OPEN ? session(in, 0) : session(in, job->form_id);
    int presented = 0;
    if (!s) {
        out->dismiss = 1;
        tp_copy(out->message, sizeof out->message,
                job->kind == UI_OPEN ? "Too many forms are open; finish one first."
                                     : "This form is no longer open.");
    } else if (job->kind == UI_CANCEL) {
        out->dismiss = 1;
        tp_copy(out->message, sizeof out->message, "Cancelled; nothing was changed.");
    } else if (job->kind == UI_OPEN) {
        memset(s, 0, sizeof *s);
        s->used = 1;
        s->id = job->form_id;
        tp_copy(s->action, sizeof s->action, job->action);
        tp_copy(s->staff, sizeof s->staff, job->staff);
        s->is_manager = job->is_manager;
        s->flow = !strcmp(job->action, "retro-visit")         ? FLOW_RETRO
                  : !strcmp(job->action, "missed-scan-queue") ? FLOW_QUEUE
                  : !strcmp(job->action, "missed-scan-claim") ? FLOW_CLAIM
                                                              : FLOW_CORRECT;
        pthread_mutex_lock(&in->admin_lock);
        presented = tp_retro_start(in, s, job->prefill, out);
        pthread_mutex_unlock(&in->admin_lock);
    } else {
        pthread_mutex_lock(&in->admin_lock);
        presented = tp_retro_submit(in, s, &job->answers, out);
        pthread_mutex_unlock(&in->admin_lock);
    }
    out->id = job->form_id;
    if (s) {
        tp_copy(out->action, sizeof out->action, s->action);
        if (!presented) {
            out->dismiss = 1;
            memset(s, 0, sizeof *s);
        }
    }
    post_form(in, node);
}

static void *ui_main(void *arg)
{
    tp_instance *in = arg;
    ui_job *job = malloc(sizeof *job);
    if (!job)
        return NULL;
    while (tp_queue_pop_batch(&in->ui_q, job, 1) == 1) {
        handle(in, job);
        tp_queue_done(&in->ui_q, 1);
    }
    free(job);
    return NULL;
}

tp_status tp_ui_start(tp_instance *in, tp_message *msg)
{
    in->sessions = calloc(TP_UI_SESSIONS, sizeof *in->sessions);
    if (!in->sessions || tp_queue_init(&in->ui_q, sizeof(ui_job), 32) != 0) {
        tp_msg_set(msg, "Out of memory starting the forms.");
        return TP_ERR_NO_MEMORY;
    }
    if (pthread_create(&in->ui_thread, NULL, ui_main, in) != 0) {
        tp_msg_set(msg, "Cannot start the forms thread.");
        return TP_ERR_INTERNAL;
    }
    in->ui_started = 1;
    return TP_OK;
}

void tp_ui_stop(tp_instance *in)
{
    if (in->ui_q.ring)
        tp_queue_close(&in->ui_q);
    if (in->ui_started)
        pthread_join(in->ui_thread, NULL);
    in->ui_started = 0;
    tp_queue_destroy(&in->ui_q);
    tp_uform_node *node = in->ui_head;
    while (node) {
        tp_uform_node *next = node->next;
        free(node);
        node = next;
    }
    in->ui_head = in->ui_tail = NULL;
    free(in->sessions);
    in->sessions = NULL;
}
