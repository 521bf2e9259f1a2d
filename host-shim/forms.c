/*
 * forms.c — see forms.h.
 */
#include "forms.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "host.h"

/* Longest string kept from a presented form: labels and sentences are
 * short by contract; this only bounds a misbehaving plugin. */
#define COPY_TEXT_MAX 4096
#define PIN_SHOWN "****"

void tp_forms_io_init(tp_forms_io *io, FILE *in, FILE *out, int echo)
{
    io->in = in;
    io->out = out;
    io->echo = echo;
    io->tty = in && isatty(fileno(in));
}

/* ------------------------------------------------------------ owned copy */

struct tp_forms_copy {
    tp_form form;
    tp_form_field fields[TP_FORM_FIELDS_MAX];
    tp_form_choice choices[TP_FORM_FIELDS_MAX][TP_FORM_CHOICES_MAX];
    char *strings[8 + TP_FORM_FIELDS_MAX * (5 + 2 * TP_FORM_CHOICES_MAX)];
    size_t nstrings;
    int failed;
};

static const char *keep(tp_forms_copy *c, const char *s)
{
    if (!s)
        s = "";
    char *d = strndup(s, COPY_TEXT_MAX);
    if (!d || c->nstrings == sizeof c->strings / sizeof c->strings[0]) {
        free(d);
        c->failed = 1;
        return "";
    }
    c->strings[c->nstrings++] = d;
    return d;
}

/* Reads the plugin's form by its size and strides (hostabi.h); the copy
 * has this build's. */
tp_forms_copy *tp_forms_copy_new(const tp_form *plugin_form)
{
    tp_forms_copy *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    const tp_form read = tp_form_read(plugin_form), *form = &read;
    c->form.struct_size = sizeof c->form;
    c->form.form_id = form->form_id;
    c->form.action = keep(c, form->action);
    c->form.title = keep(c, form->title);
    c->form.message = keep(c, form->message);
    c->form.is_error = form->is_error;
    c->form.submit_label = keep(c, form->submit_label);
    size_t nf = form->field_count;
    if (nf > TP_FORM_FIELDS_MAX)
        nf = TP_FORM_FIELDS_MAX;
    for (size_t i = 0; i < nf; i++) {
        const tp_form_field field = tp_form_field_read(form, i), *f = &field;
        tp_form_field *g = &c->fields[i];
        g->id = keep(c, f->id);
        g->kind = f->kind;
        g->label = keep(c, f->label);
        /* A PIN is never prefilled; do not even keep one. */
        g->value = keep(c, f->kind == TP_FIELD_PIN ? "" : f->value);
        g->error = keep(c, f->error);
        g->required = f->required;
        g->max_len = f->max_len;
        size_t nc = f->choice_count;
        if (nc > TP_FORM_CHOICES_MAX)
            nc = TP_FORM_CHOICES_MAX;
        for (size_t k = 0; k < nc; k++) {
            const tp_form_choice choice = tp_form_choice_read(f, k);
            c->choices[i][k].key = keep(c, choice.key);
            c->choices[i][k].label = keep(c, choice.label);
        }
        g->choices = nc ? c->choices[i] : NULL;
        g->choice_count = nc;
        g->choice_stride = sizeof c->choices[i][0];
    }
    c->form.fields = c->fields;
    c->form.field_count = nf;
    c->form.field_stride = sizeof c->fields[0];
    if (c->failed) {
        tp_forms_copy_free(c);
        return NULL;
    }
    return c;
}

void tp_forms_copy_free(tp_forms_copy *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nstrings; i++)
        free(c->strings[i]);
    free(c);
}

const tp_form *tp_forms_copy_form(const tp_forms_copy *c) { return &c->form; }

/* -------------------------------------------------------------- answers */

void tp_forms_answers_clear(tp_forms_answers *ans) { explicit_bzero(ans, sizeof *ans); }

void tp_forms_answers_copy(tp_forms_answers *dst, const tp_forms_answers *src)
{
    if (dst == src)
        return;
    memcpy(dst, src, sizeof *dst);
    if (dst->count > TP_FORM_ANSWERS_MAX)
        dst->count = TP_FORM_ANSWERS_MAX;
    for (size_t k = 0; k < dst->count; k++) {
        dst->a[k].field_id = dst->id[k];
        dst->a[k].value = dst->value[k];
    }
}

int tp_forms_answers_set(tp_forms_answers *ans, const char *field_id, const char *value)
{
    if (strlen(field_id) > TP_FIELD_ID_MAX || strlen(value) > TP_FIELD_VALUE_MAX)
        return -1;
    size_t i;
    for (i = 0; i < ans->count; i++)
        if (strcmp(ans->id[i], field_id) == 0)
            break;
    if (i == ans->count) {
        if (ans->count == TP_FORM_ANSWERS_MAX)
            return -1;
        ans->count++;
        snprintf(ans->id[i], sizeof ans->id[i], "%s", field_id);
    }
    snprintf(ans->value[i], sizeof ans->value[i], "%s", value);
    for (size_t k = 0; k < ans->count; k++) {
        ans->a[k].field_id = ans->id[k];
        ans->a[k].value = ans->value[k];
    }
    return 0;
}

static const char *answer_of(const tp_forms_answers *ans, const char *field_id)
{
    if (!ans)
        return NULL;
    for (size_t i = 0; i < ans->count; i++)
        if (strcmp(ans->id[i], field_id) == 0)
            return ans->value[i];
    return NULL;
}

/* ------------------------------------------------------------ rendering */

static const char *str(const char *s) { return s ? s : ""; }

static int is_list(const tp_form_field *f)
{
    return (f->kind == TP_FIELD_CHOICE || f->kind == TP_FIELD_RESULTS) && f->choice_count > 0;
}

/* Fields here are as tp_form_field_read gives them: their choices are read
 * with the stride the field carries. */

/* The 1-based number of the entry whose key is `key`, 0 for none. */
static size_t entry_of(const tp_form_field *f, const char *key)
{
    if (!key || !*key)
        return 0;
    for (size_t k = 0; k < f->choice_count; k++)
        if (strcmp(tp_form_choice_read(f, k).key, key) == 0)
            return k + 1;
    return 0;
}

const char *tp_forms_value_shown(const tp_form_field *f)
{
    if (f->kind == TP_FIELD_PIN)
        return "";
    size_t k = is_list(f) ? entry_of(f, f->value) : 0;
    if (k)
        return tp_form_choice_read(f, k - 1).label;
    return str(f->value);
}

void tp_forms_print(FILE *out, const tp_form *plugin_form)
{
    const tp_form read = tp_form_read(plugin_form), *form = &read;
    fprintf(out, "\n  == %s ==\n", *form->title ? form->title : form->action);
    if (*form->message)
        fprintf(out, "  %s%s\n", form->is_error ? "! " : "", form->message);
    for (size_t i = 0; i < form->field_count; i++) {
        const tp_form_field field = tp_form_field_read(form, i), *f = &field;
        const char *label = *str(f->label) ? f->label : str(f->id);
        /* "(optional)" unless the label says so already */
        const char *opt =
            !f->required && f->kind != TP_FIELD_INFO && !strstr(label, "optional")
                ? " (optional)"
                : "";
        if (is_list(f)) {
            fprintf(out, "  %s%s:\n", label, opt);
            for (size_t k = 0; k < f->choice_count; k++) {
                const tp_form_choice choice = tp_form_choice_read(f, k);
                fprintf(out, "   %s%2zu) %s\n",
                        strcmp(choice.key, f->value) == 0 && *f->value ? "*" : " ", k + 1,
                        choice.label);
            }
        } else if (f->kind == TP_FIELD_RESULTS || f->kind == TP_FIELD_CHOICE) {
            fprintf(out, "  %s%s: (nothing to choose from)\n", label, opt);
        } else if (f->kind == TP_FIELD_PIN) {
            fprintf(out, "  %s%s: (secret, typed at the prompt)\n", label, opt);
        } else {
            const char *v = tp_forms_value_shown(f);
            fprintf(out, "  %s%s:%s%s\n", label, opt, *v ? " " : "", v);
        }
        if (*str(f->error))
            fprintf(out, "      ! %s\n", f->error);
    }
    fprintf(out, "  (Enter keeps the value in [brackets]; :cancel cancels%s%s)\n",
            *form->submit_label ? "; then: " : "", form->submit_label);
    fflush(out);
}

/* ---------------------------------------------------------------- input */

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
                     s[n - 1] == '\t'))
        s[--n] = '\0';
    size_t lead = strspn(s, " \t");
    if (lead)
        memmove(s, s + lead, n - lead + 1);
}

int tp_forms_read_line(tp_forms_io *io, int secret, char *buf, size_t cap)
{
    struct termios saved, quiet;
    int fd = fileno(io->in);
    int hidden = 0;
    if (secret && io->tty && tcgetattr(fd, &saved) == 0) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL; /* the Enter still moves to the next line */
        hidden = tcsetattr(fd, TCSANOW, &quiet) == 0;
    }
    char line[TP_FORMS_LINE_MAX];
    int rc = 0;
    if (!fgets(line, sizeof line, io->in)) {
        rc = -1;
        /* Ctrl-D on a terminal ends this form, not the till's session. */
        if (io->tty)
            clearerr(io->in);
    } else if (!strchr(line, '\n') && !feof(io->in)) {
        int ch;
        while ((ch = fgetc(io->in)) != EOF && ch != '\n')
            ;
        rc = 1;
    }
    if (hidden)
        tcsetattr(fd, TCSANOW, &saved);
    if (rc == 0) {
        trim(line);
        if (strlen(line) >= cap)
            rc = 1;
        else
            memcpy(buf, line, strlen(line) + 1);
    }
    explicit_bzero(line, sizeof line);
    if (rc != 0 && cap)
        buf[0] = '\0';
    return rc;
}

static void show_answer(tp_forms_io *io, int secret, const char *line)
{
    if (io->echo)
        fprintf(io->out, "%s\n", secret ? (*line ? PIN_SHOWN : "") : line);
    fflush(io->out);
}

/* Asks for one field until the answer is acceptable. Returns 0 with the
 * answer in out, or the outcome that ends the form. */
static tp_forms_outcome ask_field(const tp_form_field *f, const char *current, tp_forms_io *io,
                                  char *out)
{
    int secret = f->kind == TP_FIELD_PIN;
    int list = is_list(f);
    size_t max = f->max_len && f->max_len < TP_FIELD_VALUE_MAX ? f->max_len
                                                               : TP_FIELD_VALUE_MAX;
    const char *label = *str(f->label) ? f->label : str(f->id);
    char line[TP_FIELD_VALUE_MAX + 1];
    for (;;) {
        if (list) {
            size_t k = entry_of(f, current);
            char now[32] = "";
            if (k)
                snprintf(now, sizeof now, " [%zu]", k);
            else if (*current)
                snprintf(now, sizeof now, " [as given]");
            fprintf(io->out, "  > %s (1-%zu)%s: ", label, f->choice_count, now);
        } else if (secret || !*current) {
            fprintf(io->out, "  > %s: ", label);
        } else {
            fprintf(io->out, "  > %s [%s]: ", label, current);
        }
        fflush(io->out);
        int r = tp_forms_read_line(io, secret, line, sizeof line);
        if (r < 0) {
            show_answer(io, 0, "");
            return TP_FORMS_EOF;
        }
        show_answer(io, secret, r == 0 ? line : "(too long)");
        if (r == 0 && strcmp(line, TP_FORMS_CANCEL) == 0) {
            explicit_bzero(line, sizeof line);
            return TP_FORMS_CANCELLED;
        }
        if (r > 0 || strlen(line) > max) {
            fprintf(io->out, "      ! At most %zu characters.\n", max);
            explicit_bzero(line, sizeof line);
            continue;
        }
        if (!list) {
            if (!*line && !secret)
                snprintf(out, TP_FIELD_VALUE_MAX + 1, "%s", current);
            else if (!secret && strcmp(line, ":clear") == 0)
                out[0] = '\0';
            else
                memcpy(out, line, strlen(line) + 1);
            explicit_bzero(line, sizeof line);
            return TP_FORMS_ANSWERED;
        }
        if (!*line) {
            snprintf(out, TP_FIELD_VALUE_MAX + 1, "%s", current);
            return TP_FORMS_ANSWERED;
        }
        /* The number shown first, then a key typed (or scanned) as is. */
        char *end = NULL;
        errno = 0;
        unsigned long n = line[0] >= '0' && line[0] <= '9' ? strtoul(line, &end, 10) : 0;
        if (end && !*end && errno == 0 && n >= 1 && n <= f->choice_count) {
            snprintf(out, TP_FIELD_VALUE_MAX + 1, "%s", tp_form_choice_read(f, n - 1).key);
            return TP_FORMS_ANSWERED;
        }
        if (strcmp(line, ":clear") == 0 && !f->required) {
            out[0] = '\0';
            return TP_FORMS_ANSWERED;
        }
        if (entry_of(f, line)) {
            memcpy(out, line, strlen(line) + 1);
            return TP_FORMS_ANSWERED;
        }
        fprintf(io->out, "      ! Type a number from 1 to %zu.\n", f->choice_count);
    }
}

tp_forms_outcome tp_forms_ask(const tp_form *plugin_form, const tp_forms_answers *preset,
                              tp_forms_io *io, tp_forms_answers *ans)
{
    const tp_form read = tp_form_read(plugin_form), *form = &read;
    memset(ans, 0, sizeof *ans);
    size_t asked = 0;
    char value[TP_FIELD_VALUE_MAX + 1];
    for (size_t i = 0; i < form->field_count; i++) {
        const tp_form_field field = tp_form_field_read(form, i), *f = &field;
        if (f->kind == TP_FIELD_INFO || !*str(f->id))
            continue;
        const char *current = answer_of(preset, f->id);
        if (!current)
            current = f->kind == TP_FIELD_PIN ? "" : str(f->value);
        tp_forms_outcome o = ask_field(f, current, io, value);
        if (o != TP_FORMS_ANSWERED) {
            tp_forms_answers_clear(ans);
            return o;
        }
        asked++;
        int bad = tp_forms_answers_set(ans, f->id, value);
        explicit_bzero(value, sizeof value);
        if (bad) {
            tp_forms_answers_clear(ans);
            fprintf(io->out, "  ! The form has more fields than a host can answer.\n");
            return TP_FORMS_CANCELLED;
        }
    }
    if (asked == 0) {
        /* Nothing to answer: a confirmation. */
        fprintf(io->out, "  > Enter to %s, :cancel to cancel: ",
                *form->submit_label ? form->submit_label : "go on");
        fflush(io->out);
        int r = tp_forms_read_line(io, 0, value, sizeof value);
        show_answer(io, 0, r == 0 ? value : "");
        if (r < 0)
            return TP_FORMS_EOF;
        if (r == 0 && strcmp(value, TP_FORMS_CANCEL) == 0)
            return TP_FORMS_CANCELLED;
    }
    return TP_FORMS_ANSWERED;
}

/* --------------------------------------------------------------- driver */

void tp_forms_session_init(tp_forms_session *s)
{
    memset(s, 0, sizeof *s);
}

void tp_forms_session_reset(tp_forms_session *s)
{
    tp_forms_copy_free(s->pending);
    tp_forms_answers_clear(&s->preset);
    memset(s, 0, sizeof *s);
}

void tp_forms_on_present(tp_forms_session *s, const tp_form *form)
{
    if (s->form_id && tp_form_read(form).form_id != s->form_id)
        return;
    tp_forms_copy *c = tp_forms_copy_new(form);
    if (!c)
        return; /* out of memory: the driver times out and cancels */
    tp_forms_copy_free(s->pending);
    s->pending = c;
    s->presented++;
}

void tp_forms_on_dismiss(tp_forms_session *s, uint64_t form_id, int32_t done, const char *result)
{
    if (s->form_id && form_id != s->form_id)
        return;
    s->dismissed = 1;
    s->done = done;
    snprintf(s->result, sizeof s->result, "%s", str(result));
    tp_forms_copy_free(s->pending);
    s->pending = NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (bounded) until the plugin presents or dismisses. Returns 0, or
 * -1 when it stayed silent. */
static int await(tp_forms_session *s, const tp_forms_driver *d)
{
    int64_t deadline = mono_ms() + (d->timeout_ms > 0 ? d->timeout_ms : 30000);
    while (!s->pending && !s->dismissed) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return -1;
        if (!d->wait || d->wait(d->user, (int)(left < 200 ? left : 200)) != 0)
            return -1;
    }
    return 0;
}

static tp_forms_end give_up(tp_forms_session *s, const tp_forms_driver *d, const char *why)
{
    tp_message msg;
    d->ui->cancel(d->plugin, s->form_id, &msg);
    if (!s->dismissed)
        snprintf(s->result, sizeof s->result, "%s", why);
    s->dismissed = 1;
    s->done = 0;
    tp_forms_copy_free(s->pending);
    s->pending = NULL;
    return TP_FORMS_FAILED;
}

tp_forms_end tp_forms_run(tp_forms_session *s, const tp_forms_driver *d, tp_forms_io *io)
{
    tp_forms_answers ans;
    for (;;) {
        if (await(s, d) != 0)
            return give_up(s, d, "The loyalty plugin did not answer; the form was closed.");
        if (s->dismissed)
            return s->done ? TP_FORMS_DONE : TP_FORMS_NOT_DONE;
        tp_forms_copy *c = s->pending;
        s->pending = NULL;
        const tp_form *form = tp_forms_copy_form(c);
        tp_forms_print(io->out, form);
        tp_forms_outcome o =
            tp_forms_ask(form, s->presented == 1 ? &s->preset : NULL, io, &ans);
        tp_forms_copy_free(c);
        tp_message msg;
        msg.text[0] = '\0';
        if (o != TP_FORMS_ANSWERED) {
            tp_status st = d->ui->cancel(d->plugin, s->form_id, &msg);
            if (st == TP_OK && await(s, d) == 0 && s->dismissed) {
                if (!s->result[0])
                    snprintf(s->result, sizeof s->result, "Cancelled.");
                s->done = 0;
                return TP_FORMS_NOT_DONE;
            }
            tp_forms_copy_free(s->pending);
            s->pending = NULL;
            s->dismissed = 1;
            s->done = 0;
            snprintf(s->result, sizeof s->result, "%s",
                     o == TP_FORMS_EOF ? "The input ended; the form was cancelled."
                                       : "Cancelled.");
            return TP_FORMS_NOT_DONE;
        }
        tp_status st =
            d->ui->submit(d->plugin, s->form_id, ans.a, ans.count, sizeof ans.a[0], &msg);
        tp_forms_answers_clear(&ans);
        if (st != TP_OK) {
            char why[sizeof s->result];
            snprintf(why, sizeof why, "%s (%s)", msg.text[0] ? msg.text : "Refused",
                     tp_hostlib_status_name(st));
            return give_up(s, d, why);
        }
    }
}

int tp_forms_wait_hostlib(void *user, int timeout_ms)
{
    tp_hostlib *h = user;
    struct pollfd pfd = {tp_hostlib_wake_fd(h), POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno != EINTR)
        return -1;
    if (r > 0)
        tp_hostlib_dispatch(h);
    return 0;
}

int tp_forms_read_new_pin(tp_forms_io *io, const char *what, char *pin, size_t cap, char *err,
                          size_t err_cap)
{
    if (io->tty)
        fprintf(io->out, "New PIN for %s: ", what);
    fflush(io->out);
    int r = tp_forms_read_line(io, 1, pin, cap);
    if (r == 0 && !*pin)
        r = 2;
    if (r == 0 && io->tty) {
        char again[TP_FIELD_VALUE_MAX + 1];
        fprintf(io->out, "The same PIN again: ");
        fflush(io->out);
        r = tp_forms_read_line(io, 1, again, sizeof again);
        if (r == 0 && strcmp(again, pin) != 0)
            r = 3;
        explicit_bzero(again, sizeof again);
    }
    if (r == 0)
        return 0;
    explicit_bzero(pin, cap);
    snprintf(err, err_cap, "%s",
             r < 0    ? "No PIN was given (the input ended)."
             : r == 1 ? "The PIN is too long."
             : r == 2 ? "No PIN was given."
                      : "The two PINs differ; nothing was changed.");
    return -1;
}
