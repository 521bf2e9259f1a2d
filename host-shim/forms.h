/*
 * forms.h — the terminal renderer and driver of the plugin's forms
 * (ext/ui.h), shared by the reference till and the `tillpoints` CLI.
 *
 * The plugin presents a form through the host's ui extension; the host
 * copies it (tp_forms_copy: a presented form is valid only during the
 * present() call), prints it, asks for each answerable field in order,
 * and submits the answers. Everything a person types comes from one line
 * source, a FILE: the till's script file, or stdin (a terminal or a pipe).
 *
 * At any prompt:
 *   Enter          keeps the value shown in [brackets] (or answers nothing
 *                  for an optional field);
 *   a number       picks that entry of a numbered list (RESULTS, CHOICE);
 *                  the entry's key is accepted as well;
 *   :cancel        cancels the whole form (end of input does the same).
 * PINs are read with echo off when the line source is a terminal, and are
 * never printed: a script transcript shows "****" in their place.
 *
 * Threading: every function runs on the host's main thread.
 */
#ifndef TP_FORMS_H
#define TP_FORMS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tillpoints/ext/ui.h"

#define TP_FORMS_CANCEL ":cancel"
#define TP_FORMS_LINE_MAX 1024

/* Where a form is shown and where its answers come from. */
typedef struct tp_forms_io {
    FILE *in;    /* the line source (script file, stdin) */
    FILE *out;   /* where the form and the prompts go */
    int echo;    /* print each answer after its prompt (a script's
                    transcript); PINs as "****" */
    int tty;     /* `in` is a terminal: PINs are read with echo off.
                    tp_forms_io_init sets it from isatty(). */
} tp_forms_io;

void tp_forms_io_init(tp_forms_io *io, FILE *in, FILE *out, int echo);

/* ------------------------------------------------------------ owned copy */

/* A deep copy of a presented form, owned by the host: read by the
 * plugin's size and strides (hostabi.h), with this build's. */
typedef struct tp_forms_copy tp_forms_copy;

tp_forms_copy *tp_forms_copy_new(const tp_form *plugin_form);
void tp_forms_copy_free(tp_forms_copy *c);
/* The copy as a tp_form (valid until tp_forms_copy_free). */
const tp_form *tp_forms_copy_form(const tp_forms_copy *c);

/* -------------------------------------------------------------- answers */

typedef struct tp_forms_answers {
    size_t count;
    tp_form_answer a[TP_FORM_ANSWERS_MAX];
    char id[TP_FORM_ANSWERS_MAX][TP_FIELD_ID_MAX + 1];
    char value[TP_FORM_ANSWERS_MAX][TP_FIELD_VALUE_MAX + 1];
} tp_forms_answers;

/* Wipes the answers (PINs included) with explicit_bzero. */
void tp_forms_answers_clear(tp_forms_answers *ans);

/* Copies answers (the a[] pointers of a struct copy would point into the
 * source). */
void tp_forms_answers_copy(tp_forms_answers *dst, const tp_forms_answers *src);

/* Sets (or adds) the answer for `field_id`. Returns -1 when full or too
 * long. */
int tp_forms_answers_set(tp_forms_answers *ans, const char *field_id, const char *value);

/* ------------------------------------------------------------ rendering */

/* Prints the whole form: title, message, every field with its label and
 * value (INFO text; numbered entries of RESULTS and CHOICE; PINs never),
 * each field's error under it after "!", and the submit label.
 * `plugin_form` is one as presented, or a copy. */
void tp_forms_print(FILE *out, const tp_form *plugin_form);

/* The shown text of a field's current value: the label of the chosen
 * entry for RESULTS/CHOICE, "" for PINs, else the value. `field` is one
 * of a tp_forms_copy, or as tp_form_field_read gives it. */
const char *tp_forms_value_shown(const tp_form_field *field);

/* Outcome of tp_forms_ask. */
typedef enum tp_forms_outcome {
    TP_FORMS_ANSWERED = 0,  /* `ans` holds one answer per answerable field */
    TP_FORMS_CANCELLED = 1, /* ":cancel" typed */
    TP_FORMS_EOF = 2        /* the line source ended (or failed) */
} tp_forms_outcome;

/* Prompts for every answerable field of `plugin_form` (as presented, or a
 * copy) in order (all but INFO), starting from `preset` (may be NULL):
 * answers the host already knows, e.g. the contact given on the till's
 * command line, shown as the value that Enter keeps. Bad picks and
 * over-long answers are asked again; the rest is for the plugin to judge.
 * A form without answerable fields asks once for Enter (to submit) or
 * :cancel. */
tp_forms_outcome tp_forms_ask(const tp_form *plugin_form, const tp_forms_answers *preset,
                              tp_forms_io *io, tp_forms_answers *ans);

/* Reads one line from io->in into buf (without the newline, blanks
 * trimmed). With `secret` and a terminal, echo is off while reading.
 * Returns 0, 1 for a line longer than cap-1 (discarded), -1 at the end. */
int tp_forms_read_line(tp_forms_io *io, int secret, char *buf, size_t cap);

/* --------------------------------------------------------------- driver */

/* The host side of one form's life: present() and dismiss() land here
 * (the host's ui callbacks forward them), and tp_forms_run asks and
 * submits until the plugin dismisses the form. */
typedef struct tp_forms_session {
    uint64_t form_id;        /* the form being driven (0 = any) */
    tp_forms_copy *pending;  /* presented, not yet answered */
    int dismissed;
    int done;
    char result[2 * (TP_MESSAGE_MAX + 1)];
    tp_forms_answers preset; /* applied to the first presentation */
    int presented;           /* presentations so far */
} tp_forms_session;

void tp_forms_session_init(tp_forms_session *s);
void tp_forms_session_reset(tp_forms_session *s);

/* The host ui callbacks' bodies. present() of another form id than the
 * one driven is ignored (0 while nothing is driven takes any). */
void tp_forms_on_present(tp_forms_session *s, const tp_form *form);
void tp_forms_on_dismiss(tp_forms_session *s, uint64_t form_id, int32_t done, const char *result);

/* How the driver reaches the plugin. */
typedef struct tp_forms_driver {
    const tp_plugin *plugin;
    const tp_ui_ext *ui;
    /* Lets the plugin deliver (poll its wake fd up to `timeout_ms`, then
     * dispatch). Returns 0; -1 when waiting failed. */
    int (*wait)(void *user, int timeout_ms);
    void *user;
    int timeout_ms;          /* give up on a silent plugin after this */
} tp_forms_driver;

/* Outcome of a driven form. */
typedef enum tp_forms_end {
    TP_FORMS_DONE = 0,       /* dismissed with done != 0 */
    TP_FORMS_NOT_DONE = 1,   /* dismissed: cancelled or refused; see result */
    TP_FORMS_FAILED = 2      /* the plugin refused a call, or went silent */
} tp_forms_end;

/* Drives the form `s->form_id` (already opened) to its end: waits for
 * each presentation, prints it and asks, submits; ":cancel" or the end
 * of input cancels it. The dismissal's sentence is in s->result. */
tp_forms_end tp_forms_run(tp_forms_session *s, const tp_forms_driver *d, tp_forms_io *io);

/* A tp_forms_driver.wait for hosts built on host.c: `user` is the
 * tp_hostlib. */
int tp_forms_wait_hostlib(void *user, int timeout_ms);

/* Reads a new PIN: twice with echo off on a terminal (prompts on
 * io->out), or one line otherwise. Returns 0, or -1 with a sentence in
 * err (mismatch, end of input, too long). */
int tp_forms_read_new_pin(tp_forms_io *io, const char *what, char *pin, size_t cap, char *err,
                          size_t err_cap);

#endif
