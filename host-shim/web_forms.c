/*
 * web_forms.c — the ui-form bridge of tillpoints-web (docs/DESIGN.md §15):
 * the plugin's forms (ext/ui.h) as HTML pages.
 *
 * The ui extension's open, submit and cancel are [main-thread], and the
 * forms' present and dismiss arrive on the main thread (through
 * tp_hostlib_dispatch). A connection thread therefore posts a job (a
 * pointer written to a pipe the main loop polls), waits for the job to be
 * done, then waits for the form's next state (a presentation or a
 * dismissal of that form id), each wait bounded by FORM_WAIT_MS: a silent
 * plugin costs the browser a 503, never a hung thread.
 *
 * Guarantees:
 *  - every form is owned by the session that opened it; another session
 *    gets 404 for it;
 *  - the latest presentation of each form is kept as a deep copy
 *    (tp_forms_copy_new) so pages can be drawn from any thread under the
 *    table's lock;
 *  - answers (PINs among them) are wiped after the submit, also in a job
 *    its waiter gave up on (the main thread then frees it);
 *  - a session keeps one open form: opening another cancels the earlier
 *    one, so abandoned tabs cannot use up the plugin's TP_FORMS_OPEN_MAX.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forms.h"
#include "hostabi.h"
#include "web.h"

#define FORM_WAIT_MS 30000
#define FORMS_CAP 256
/* A form nobody looked at for this long is abandoned (a closed tab, a
 * session that ended): it is cancelled when the plugin's forms are all
 * taken (TP_FORMS_OPEN_MAX) and a manager opens a new one. */
#define FORM_ABANDONED_MS 120000

typedef struct form_entry {
    uint64_t id;          /* 0 = free */
    uint64_t owner;       /* session serial */
    tp_forms_copy *copy;  /* latest presentation, or NULL before the first */
    char title[TP_MESSAGE_MAX + 1];
    int dismissed;
    int done;
    char result[2 * (TP_MESSAGE_MAX + 1)];
    uint64_t version;     /* bumped by every present and dismiss */
    int64_t touched_ms;
} form_entry;

struct tp_web_formtab {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    form_entry e[FORMS_CAP];
    int pipe[2];
};

enum { JOB_OPEN = 1, JOB_SUBMIT = 2, JOB_CANCEL = 3 };

typedef struct form_job {
    int kind;
    char action[TP_FORM_ACTION_MAX + 1];
    char prefill[TP_FIELD_VALUE_MAX + 1];
    int has_prefill;
    char manager[TP_MANAGER_ID_MAX + 1];
    uint64_t owner;
    uint64_t form_id;
    uint64_t evicted;      /* OPEN refused as busy: the abandoned form cancelled */
    tp_forms_answers ans;
    /* under the table's lock: */
    int finished;
    int abandoned;
    tp_status st;
    char msg[TP_MESSAGE_MAX + 1];
} form_job;

static const char silent_sentence[] = "The loyalty plugin did not answer in time; try again.";

int tp_web_forms_init(tp_web *w)
{
    tp_web_formtab *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    if (pipe(t->pipe) != 0) {
        free(t);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(t->pipe[i], F_SETFD, FD_CLOEXEC);
        fcntl(t->pipe[i], F_SETFL, fcntl(t->pipe[i], F_GETFL) | O_NONBLOCK);
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    w->forms = t;
    return 0;
}

static void job_free(form_job *j)
{
    tp_forms_answers_clear(&j->ans);
    explicit_bzero(j, sizeof *j);
    free(j);
}

void tp_web_forms_free(tp_web *w)
{
    tp_web_formtab *t = w->forms;
    if (!t)
        return;
    void *j;
    while (read(t->pipe[0], &j, sizeof j) == (ssize_t)sizeof j)
        job_free(j); /* nobody waits any more: the daemon is stopped */
    for (size_t i = 0; i < FORMS_CAP; i++)
        tp_forms_copy_free(t->e[i].copy);
    close(t->pipe[0]);
    close(t->pipe[1]);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
    w->forms = NULL;
}

int tp_web_forms_fd(tp_web *w)
{
    return w->forms->pipe[0];
}

static form_entry *find(tp_web_formtab *t, uint64_t id)
{
    for (size_t i = 0; i < FORMS_CAP; i++)
        if (id && t->e[i].id == id)
            return &t->e[i];
    return NULL;
}

static void entry_clear(form_entry *e)
{
    tp_forms_copy_free(e->copy);
    memset(e, 0, sizeof *e);
}

/* ---------------------------------------------------------- main thread */

void tp_web_on_present(void *user, const tp_form *form)
{
    tp_web *w = user;
    tp_web_formtab *t = w->forms;
    tp_form f = tp_form_read(form);
    tp_forms_copy *copy = tp_forms_copy_new(form);
    pthread_mutex_lock(&t->lock);
    form_entry *e = find(t, f.form_id);
    if (e && copy) {
        tp_forms_copy_free(e->copy);
        e->copy = copy;
        copy = NULL;
        snprintf(e->title, sizeof e->title, "%s", f.title);
        e->version++;
        e->touched_ms = tp_web_now_ms();
        pthread_cond_broadcast(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
    tp_forms_copy_free(copy); /* a form nobody here opened, or no memory */
}

void tp_web_on_dismiss(void *user, uint64_t form_id, int32_t done, const char *result)
{
    tp_web *w = user;
    tp_web_formtab *t = w->forms;
    pthread_mutex_lock(&t->lock);
    form_entry *e = find(t, form_id);
    if (e) {
        e->dismissed = 1;
        e->done = done != 0;
        snprintf(e->result, sizeof e->result, "%s", result ? result : "");
        e->version++;
        e->touched_ms = tp_web_now_ms();
        pthread_cond_broadcast(&t->cond);
    }
    pthread_mutex_unlock(&t->lock);
}

/* A free entry for a new form: a free one, else the oldest dismissed one,
 * else the oldest (cancelled). Under the lock. */
static form_entry *make_room(tp_web *w, uint64_t *cancel_id)
{
    tp_web_formtab *t = w->forms;
    form_entry *oldest_done = NULL, *oldest = NULL;
    *cancel_id = 0;
    for (size_t i = 0; i < FORMS_CAP; i++) {
        form_entry *e = &t->e[i];
        if (!e->id)
            return e;
        if (e->dismissed && (!oldest_done || e->touched_ms < oldest_done->touched_ms))
            oldest_done = e;
        if (!oldest || e->touched_ms < oldest->touched_ms)
            oldest = e;
    }
    form_entry *e = oldest_done ? oldest_done : oldest;
    if (!e->dismissed)
        *cancel_id = e->id;
    entry_clear(e);
    return e;
}

static void run_job(tp_web *w, form_job *j)
{
    tp_web_formtab *t = w->forms;
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st = TP_ERR_STATE;
    if (j->kind == JOB_OPEN) {
        /* one open form per session: cancel the earlier ones */
        uint64_t stale[FORMS_CAP];
        size_t nstale = 0;
        pthread_mutex_lock(&t->lock);
        for (size_t i = 0; i < FORMS_CAP; i++)
            if (t->e[i].id && t->e[i].owner == j->owner && !t->e[i].dismissed)
                stale[nstale++] = t->e[i].id;
        pthread_mutex_unlock(&t->lock);
        for (size_t i = 0; i < nstale; i++) {
            tp_message m2;
            w->ui->cancel(w->p, stale[i], &m2);
        }
        tp_staff staff = {.struct_size = sizeof staff, .id = j->manager, .role = "manager"};
        uint64_t id = 0;
        st = w->ui->open(w->p, j->action, &staff, j->has_prefill ? j->prefill : NULL, &id, &msg);
        if (st == TP_ERR_BUSY) {
            /* every form of the plugin is open: cancel the one abandoned longest */
            int64_t now = tp_web_now_ms();
            form_entry *lru = NULL;
            pthread_mutex_lock(&t->lock);
            for (size_t i = 0; i < FORMS_CAP; i++) {
                form_entry *e = &t->e[i];
                if (e->id && !e->dismissed && now - e->touched_ms > FORM_ABANDONED_MS &&
                    (!lru || e->touched_ms < lru->touched_ms))
                    lru = e;
            }
            uint64_t victim = lru ? lru->id : 0;
            pthread_mutex_unlock(&t->lock);
            tp_message m2;
            if (victim && w->ui->cancel(w->p, victim, &m2) == TP_OK)
                j->evicted = victim;
        }
        if (st == TP_OK) {
            uint64_t cancel_id = 0;
            pthread_mutex_lock(&t->lock);
            form_entry *e = make_room(w, &cancel_id);
            e->id = id;
            e->owner = j->owner;
            e->touched_ms = tp_web_now_ms();
            j->form_id = id;
            pthread_mutex_unlock(&t->lock);
            if (cancel_id) {
                tp_message m2;
                w->ui->cancel(w->p, cancel_id, &m2);
            }
        }
    } else if (j->kind == JOB_SUBMIT) {
        st = w->ui->submit(w->p, j->form_id, j->ans.a, j->ans.count, sizeof(tp_form_answer),
                           &msg);
        tp_forms_answers_clear(&j->ans);
    } else if (j->kind == JOB_CANCEL) {
        st = w->ui->cancel(w->p, j->form_id, &msg);
    }
    pthread_mutex_lock(&t->lock);
    j->st = st;
    snprintf(j->msg, sizeof j->msg, "%s", msg.text);
    j->finished = 1;
    int abandoned = j->abandoned;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    if (abandoned)
        job_free(j);
}

void tp_web_forms_run_jobs(tp_web *w)
{
    void *j;
    while (read(w->forms->pipe[0], &j, sizeof j) == (ssize_t)sizeof j)
        run_job(w, j);
}

void tp_web_forms_cancel_all(tp_web *w)
{
    tp_web_formtab *t = w->forms;
    if (!t || !w->ui)
        return;
    for (size_t i = 0; i < FORMS_CAP; i++) {
        pthread_mutex_lock(&t->lock);
        uint64_t id = t->e[i].id && !t->e[i].dismissed ? t->e[i].id : 0;
        pthread_mutex_unlock(&t->lock);
        if (id) {
            tp_message m;
            w->ui->cancel(w->p, id, &m);
        }
    }
}

/* ---------------------------------------------------- connection threads */

void tp_web_forms_drop_session(tp_web *w, uint64_t owner)
{
    tp_web_formtab *t = w->forms;
    uint64_t ids[FORMS_CAP];
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < FORMS_CAP; i++)
        if (t->e[i].id && t->e[i].owner == owner && !t->e[i].dismissed)
            ids[n++] = t->e[i].id;
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        form_job *j = calloc(1, sizeof *j);
        if (!j)
            return;
        j->kind = JOB_CANCEL;
        j->form_id = ids[i];
        j->abandoned = 1; /* nobody waits: the main thread frees it */
        void *ptr = j;
        if (write(t->pipe[1], &ptr, sizeof ptr) != (ssize_t)sizeof ptr)
            job_free(j);
    }
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Posts `j` and waits until the main thread ran it. 0 (j->st says how it
 * went; the caller frees j), or -1 on a timeout (j now belongs to the
 * main thread). */
static int post_and_wait(tp_web *w, form_job *j, const struct timespec *deadline)
{
    tp_web_formtab *t = w->forms;
    ssize_t n;
    void *ptr = j; /* the pointer itself crosses the pipe */
    do
        n = write(t->pipe[1], &ptr, sizeof ptr);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof ptr) {
        job_free(j);
        return -1;
    }
    pthread_mutex_lock(&t->lock);
    while (!j->finished)
        if (pthread_cond_timedwait(&t->cond, &t->lock, deadline) == ETIMEDOUT)
            break;
    int ok = j->finished;
    if (!ok)
        j->abandoned = 1;
    pthread_mutex_unlock(&t->lock);
    return ok ? 0 : -1;
}

/* Waits until form `id` moved past `version`. 0, or -1 on a timeout or a
 * form that is gone. Under no lock on entry. */
static int wait_state(tp_web *w, uint64_t id, uint64_t version, const struct timespec *deadline)
{
    tp_web_formtab *t = w->forms;
    int rc = -1;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        form_entry *e = find(t, id);
        if (!e)
            break;
        if (e->version > version) {
            rc = 0;
            break;
        }
        if (pthread_cond_timedwait(&t->cond, &t->lock, deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* Waits until form `id` is dismissed (or gone from the table). 0, or -1 on
 * a timeout. */
static int wait_dismissed(tp_web *w, uint64_t id, const struct timespec *deadline)
{
    tp_web_formtab *t = w->forms;
    int rc = -1;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        form_entry *e = find(t, id);
        if (!e || e->dismissed) {
            rc = 0;
            break;
        }
        if (pthread_cond_timedwait(&t->cond, &t->lock, deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static unsigned status_of(tp_status st)
{
    switch (st) {
    case TP_ERR_NOT_FOUND: return 404;
    case TP_ERR_INVALID_ARGUMENT:
    case TP_ERR_TOO_LONG: return 400;
    case TP_ERR_BUSY: return 503;
    default: return 409;
    }
}

unsigned tp_web_form_open(tp_web *w, const tp_web_session *s, const char *action,
                          const char *prefill, const char *member, uint64_t *form_id,
                          char *err, size_t err_cap)
{
    struct timespec deadline;
    deadline_in(&deadline, FORM_WAIT_MS);
    form_job *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, err_cap, "The server ran out of memory; try again.");
        return 503;
    }
    j->kind = JOB_OPEN;
    j->owner = s->serial;
    snprintf(j->action, sizeof j->action, "%s", action);
    snprintf(j->manager, sizeof j->manager, "%s", s->manager);
    if (prefill && *prefill) {
        if (strlen(prefill) > TP_FIELD_VALUE_MAX) {
            job_free(j);
            snprintf(err, err_cap, "The prefill value is longer than %d bytes.",
                     TP_FIELD_VALUE_MAX);
            return 400;
        }
        snprintf(j->prefill, sizeof j->prefill, "%s", prefill);
        j->has_prefill = 1;
    }
    if (post_and_wait(w, j, &deadline) != 0) {
        snprintf(err, err_cap, "%s", silent_sentence);
        return 503;
    }
    if (j->st == TP_ERR_BUSY && j->evicted) {
        /* an abandoned form is being cancelled: once it is gone, try again */
        if (wait_dismissed(w, j->evicted, &deadline) == 0) {
            j->finished = 0;
            j->evicted = 0;
            j->msg[0] = '\0';
            if (post_and_wait(w, j, &deadline) != 0) {
                snprintf(err, err_cap, "%s", silent_sentence);
                return 503;
            }
        }
    }
    tp_status st = j->st;
    uint64_t id = j->form_id;
    if (st != TP_OK) {
        snprintf(err, err_cap, "%s", j->msg[0] ? j->msg : "The plugin refused to open the form.");
        job_free(j);
        return status_of(st);
    }
    job_free(j);
    if (wait_state(w, id, 0, &deadline) != 0) {
        snprintf(err, err_cap, "%s", silent_sentence);
        return 503;
    }
    *form_id = id;
    if (!member || !*member)
        return 0;
    /* answer the first step's customer field with the member's code */
    tp_web_formtab *t = w->forms;
    uint64_t version = 0;
    int has_customer = 0;
    pthread_mutex_lock(&t->lock);
    form_entry *e = find(t, id);
    if (e && !e->dismissed && e->copy) {
        version = e->version;
        tp_form f = tp_form_read(tp_forms_copy_form(e->copy));
        for (size_t i = 0; i < f.field_count; i++) {
            tp_form_field fld = tp_form_field_read(&f, i);
            if (strcmp(fld.id, "customer") == 0 && fld.kind != TP_FIELD_INFO)
                has_customer = 1;
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (!has_customer)
        return 0;
    j = calloc(1, sizeof *j);
    if (!j)
        return 0; /* the form is open; the manager types the customer */
    j->kind = JOB_SUBMIT;
    j->form_id = id;
    if (tp_forms_answers_set(&j->ans, "customer", member) != 0) {
        job_free(j);
        return 0;
    }
    if (post_and_wait(w, j, &deadline) != 0) {
        snprintf(err, err_cap, "%s", silent_sentence);
        return 503;
    }
    st = j->st;
    job_free(j);
    if (st == TP_OK && wait_state(w, id, version, &deadline) != 0) {
        snprintf(err, err_cap, "%s", silent_sentence);
        return 503;
    }
    return 0;
}

static void render_field(tp_web_buf *b, const tp_form_field *f, size_t idx)
{
    (void)idx;
    const char *err_attr = f->error[0] ? " aria-invalid=\"true\"" : "";
    tp_web_buf_puts(b, "<div class=\"field\">\n");
    switch (f->kind) {
    case TP_FIELD_TEXT:
    case TP_FIELD_MONEY:
    case TP_FIELD_DATETIME:
    case TP_FIELD_PIN:
        tp_web_buf_puts(b, "<label for=\"f-");
        tp_web_buf_esc(b, f->id);
        tp_web_buf_puts(b, "\">");
        tp_web_buf_esc(b, f->label);
        tp_web_buf_printf(b, "%s</label>\n<input id=\"f-", f->required ? " (required)" : "");
        tp_web_buf_esc(b, f->id);
        tp_web_buf_puts(b, "\" name=\"");
        tp_web_buf_esc(b, f->id);
        if (f->kind == TP_FIELD_PIN) {
            tp_web_buf_puts(b, "\" type=\"password\" autocomplete=\"off\" inputmode=\"numeric\"");
        } else {
            tp_web_buf_printf(b, "\" type=\"text\"%s value=\"",
                              f->kind == TP_FIELD_MONEY ? " inputmode=\"decimal\"" : "");
            tp_web_buf_esc(b, f->value);
            tp_web_buf_puts(b, "\"");
        }
        if (f->max_len)
            tp_web_buf_printf(b, " maxlength=\"%u\"", (unsigned)f->max_len);
        if (f->required)
            tp_web_buf_puts(b, " aria-required=\"true\"");
        if (f->error[0]) {
            tp_web_buf_puts(b, " aria-describedby=\"err-");
            tp_web_buf_esc(b, f->id);
            tp_web_buf_puts(b, "\"");
        }
        tp_web_buf_printf(b, "%s>\n", err_attr);
        break;
    case TP_FIELD_CHOICE:
        tp_web_buf_puts(b, "<label for=\"f-");
        tp_web_buf_esc(b, f->id);
        tp_web_buf_puts(b, "\">");
        tp_web_buf_esc(b, f->label);
        tp_web_buf_puts(b, "</label>\n<select id=\"f-");
        tp_web_buf_esc(b, f->id);
        tp_web_buf_puts(b, "\" name=\"");
        tp_web_buf_esc(b, f->id);
        tp_web_buf_printf(b, "\"%s>\n", err_attr);
        for (size_t k = 0; k < f->choice_count; k++) {
            tp_form_choice c = tp_form_choice_read(f, k);
            tp_web_buf_puts(b, "<option value=\"");
            tp_web_buf_esc(b, c.key);
            tp_web_buf_printf(b, "\"%s>", strcmp(c.key, f->value) == 0 ? " selected" : "");
            tp_web_buf_esc(b, c.label);
            tp_web_buf_puts(b, "</option>\n");
        }
        tp_web_buf_puts(b, "</select>\n");
        break;
    case TP_FIELD_RESULTS:
        tp_web_buf_puts(b, "<fieldset id=\"f-");
        tp_web_buf_esc(b, f->id);
        tp_web_buf_puts(b, "\"><legend>");
        tp_web_buf_esc(b, f->label);
        tp_web_buf_puts(b, "</legend>\n");
        for (size_t k = 0; k < f->choice_count; k++) {
            tp_form_choice c = tp_form_choice_read(f, k);
            tp_web_buf_puts(b, "<div class=\"choice\"><input type=\"radio\" id=\"f-");
            tp_web_buf_esc(b, f->id);
            tp_web_buf_printf(b, "-%zu\" name=\"", k);
            tp_web_buf_esc(b, f->id);
            tp_web_buf_puts(b, "\" value=\"");
            tp_web_buf_esc(b, c.key);
            tp_web_buf_printf(b, "\"%s><label for=\"f-",
                              c.key[0] && strcmp(c.key, f->value) == 0 ? " checked" : "");
            tp_web_buf_esc(b, f->id);
            tp_web_buf_printf(b, "-%zu\">", k);
            tp_web_buf_esc(b, c.label);
            tp_web_buf_puts(b, "</label></div>\n");
        }
        if (f->choice_count == 0)
            tp_web_buf_puts(b, "<p>Nothing to choose from.</p>\n");
        tp_web_buf_puts(b, "</fieldset>\n");
        break;
    default: /* INFO, and kinds this build does not know */
        tp_web_buf_puts(b, "<p class=\"info-label\">");
        tp_web_buf_esc(b, f->label);
        tp_web_buf_puts(b, "</p>\n<p class=\"info\" id=\"f-");
        tp_web_buf_esc(b, f->id);
        tp_web_buf_puts(b, "\">");
        tp_web_buf_esc(b, tp_forms_value_shown(f));
        tp_web_buf_puts(b, "</p>\n");
        break;
    }
    if (f->error[0]) {
        tp_web_buf_puts(b, "<p class=\"field-error\" id=\"err-");
        tp_web_buf_esc(b, f->id);
        tp_web_buf_puts(b, "\">");
        tp_web_buf_esc(b, f->error);
        tp_web_buf_puts(b, "</p>\n");
    }
    tp_web_buf_puts(b, "</div>\n");
}

void tp_web_form_page(tp_web_req *r, uint64_t form_id, tp_web_resp *out)
{
    tp_web_formtab *t = r->w->forms;
    tp_web_buf *b = &out->body;
    pthread_mutex_lock(&t->lock);
    form_entry *e = find(t, form_id);
    if (!e || e->owner != r->sess.serial) {
        pthread_mutex_unlock(&t->lock);
        tp_web_error_page(out, 404, "No such form",
                          "This form does not exist or belongs to another sign-in; open it "
                          "again from the menu.",
                          r->sess.csrf);
        return;
    }
    e->touched_ms = tp_web_now_ms();
    if (e->dismissed || !e->copy) {
        tp_web_page_begin(b, e->title[0] ? e->title : "Form", r->sess.csrf, 0);
        tp_web_buf_puts(b, "<h1 id=\"form-title\">");
        tp_web_buf_esc(b, e->title[0] ? e->title : "Form");
        tp_web_buf_printf(b, "</h1>\n<p id=\"form-result\" class=\"%s\" role=\"status\">",
                          e->dismissed ? (e->done ? "done" : "refused") : "refused");
        tp_web_buf_esc(b, e->dismissed ? e->result
                                       : "The loyalty plugin has not shown this form yet; "
                                         "reload the page.");
        tp_web_buf_puts(b, "</p>\n<p><a href=\"/missed\">Missed scans</a> · "
                           "<a href=\"/activity\">Activity</a> · <a href=\"/\">Dashboard</a></p>\n");
        pthread_mutex_unlock(&t->lock);
        tp_web_page_end(b);
        return;
    }
    tp_form f = tp_form_read(tp_forms_copy_form(e->copy));
    tp_web_page_begin(b, f.title, r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1 id=\"form-title\">");
    tp_web_buf_esc(b, f.title);
    tp_web_buf_printf(b, "</h1>\n<p id=\"form-message\"%s%s>",
                      f.is_error ? " class=\"error\"" : "", f.is_error ? " role=\"alert\"" : "");
    tp_web_buf_esc(b, f.message);
    tp_web_buf_printf(b,
                      "</p>\n<form id=\"uiform\" method=\"post\" action=\"/form/%llu\">\n"
                      "<input type=\"hidden\" name=\"csrf\" value=\"",
                      (unsigned long long)form_id);
    tp_web_buf_esc(b, r->sess.csrf);
    tp_web_buf_puts(b, "\">\n");
    for (size_t i = 0; i < f.field_count; i++) {
        tp_form_field fld = tp_form_field_read(&f, i);
        render_field(b, &fld, i);
    }
    tp_web_buf_puts(b, "<div class=\"actions\"><button id=\"form-submit\" type=\"submit\" "
                       "name=\"_action\" value=\"submit\">");
    tp_web_buf_esc(b, f.submit_label[0] ? f.submit_label : "Continue");
    tp_web_buf_puts(b, "</button>\n<button id=\"form-cancel\" type=\"submit\" name=\"_action\" "
                       "value=\"cancel\" class=\"secondary\">Cancel</button></div>\n</form>\n");
    pthread_mutex_unlock(&t->lock);
    tp_web_page_end(b);
}

void tp_web_form_post(tp_web_req *r, uint64_t form_id, tp_web_resp *out)
{
    tp_web *w = r->w;
    tp_web_formtab *t = w->forms;
    struct timespec deadline;
    deadline_in(&deadline, FORM_WAIT_MS);
    form_job *j = calloc(1, sizeof *j);
    if (!j) {
        tp_web_error_page(out, 503, "Busy", "The server ran out of memory; try again.",
                          r->sess.csrf);
        return;
    }
    const char *act = tp_web_field(r, "_action");
    j->kind = act && strcmp(act, "cancel") == 0 ? JOB_CANCEL : JOB_SUBMIT;
    j->form_id = form_id;
    char bad[TP_FIELD_ID_MAX + 1] = "";
    pthread_mutex_lock(&t->lock);
    form_entry *e = find(t, form_id);
    if (!e || e->owner != r->sess.serial) {
        pthread_mutex_unlock(&t->lock);
        job_free(j);
        tp_web_error_page(out, 404, "No such form",
                          "This form does not exist or belongs to another sign-in; open it "
                          "again from the menu.",
                          r->sess.csrf);
        return;
    }
    uint64_t version = e->version;
    int dismissed = e->dismissed || !e->copy;
    if (!dismissed && j->kind == JOB_SUBMIT) {
        tp_form f = tp_form_read(tp_forms_copy_form(e->copy));
        for (size_t i = 0; i < f.field_count; i++) {
            tp_form_field fld = tp_form_field_read(&f, i);
            if (fld.kind == TP_FIELD_INFO)
                continue;
            const char *v = tp_web_field(r, fld.id);
            if (tp_forms_answers_set(&j->ans, fld.id, v ? v : "") != 0) {
                snprintf(bad, sizeof bad, "%s", fld.id);
                break;
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    snprintf(out->location, sizeof out->location, "/form/%llu", (unsigned long long)form_id);
    if (dismissed) {
        job_free(j);
        out->status = 303;
        return;
    }
    if (bad[0]) {
        job_free(j);
        char sentence[160];
        snprintf(sentence, sizeof sentence,
                 "The answer to \"%s\" is longer than %d bytes; shorten it and submit again.",
                 bad, TP_FIELD_VALUE_MAX);
        out->location[0] = '\0';
        tp_web_error_page(out, 400, "Answer too long", sentence, r->sess.csrf);
        return;
    }
    if (post_and_wait(w, j, &deadline) != 0) {
        out->location[0] = '\0';
        tp_web_error_page(out, 503, "No answer", silent_sentence, r->sess.csrf);
        return;
    }
    tp_status st = j->st;
    job_free(j);
    if (st == TP_OK && wait_state(w, form_id, version, &deadline) != 0) {
        out->location[0] = '\0';
        tp_web_error_page(out, 503, "No answer", silent_sentence, r->sess.csrf);
        return;
    }
    out->status = 303; /* a refused call leaves the form as it was: shown again */
}
