/* Unit tests for host-shim/forms.c: rendering a form, asking its fields
 * from a scripted line source, and driving a form against a fake plugin
 * ui extension that answers asynchronously (through the host's wait). */
#include "testutil.h"

#include "forms.h"

/* ------------------------------------------------------------ fixtures */

static const tp_form_choice receipts[] = {
    {"A-1", "A-1  12.50 EUR  2026-11-20 10:02"},
    {"A-2", "A-2   3.10 EUR  2026-11-20 11:15"},
    {"1042", "1042  8.00 EUR  2026-11-21 09:00"},
};

static const tp_form_choice why[] = {
    {"forgot", "Forgot to scan"},
    {"dead-phone", "Phone was dead"},
};

/* The last three members of a tp_form_field, as a plugin sets them. */
#define CHOICES(a) (a), sizeof(a) / sizeof((a)[0]), sizeof((a)[0])
#define NO_CHOICES NULL, 0, sizeof(tp_form_choice)

/* A form with one field of every kind. */
static tp_form sample_form(tp_form_field *fields)
{
    const tp_form_field f[] = {
        {"customer", TP_FIELD_TEXT, "Customer (phone, email, code or name)", "+4915100000001",
         "", 1, 128, NO_CHOICES},
        {"member", TP_FIELD_INFO, "Member", "M-1001 Alice E.", "", 0, 0, NO_CHOICES},
        {"receipt", TP_FIELD_RESULTS, "Receipt", "", "Pick a receipt from the list.", 1, 0,
         CHOICES(receipts)},
        {"amount", TP_FIELD_MONEY, "Amount", "", "", 0, 16, NO_CHOICES},
        {"reason", TP_FIELD_CHOICE, "Reason", "forgot", "", 1, 0, CHOICES(why)},
        {"pin", TP_FIELD_PIN, "Manager PIN", "", "Wrong PIN; 4 tries left.", 1, 12, NO_CHOICES},
    };
    memcpy(fields, f, sizeof f);
    tp_form form = {.struct_size = sizeof form, .form_id = 7, .action = "retro-visit",
                    .title = "Missed visit: pick the receipt", .message = "The PIN was wrong.",
                    .is_error = 1, .fields = fields, .field_count = 6,
                    .field_stride = sizeof(tp_form_field), .submit_label = "Credit 25 points"};
    return form;
}

/* Output buffer and scripted input. */
typedef struct io_fixture {
    char *outbuf;
    size_t outlen;
    FILE *out;
    FILE *in;
    tp_forms_io io;
} io_fixture;

static void io_open(io_fixture *x, const char *input)
{
    memset(x, 0, sizeof x[0]);
    x->out = open_memstream(&x->outbuf, &x->outlen);
    assert_non_null(x->out);
    x->in = fmemopen((void *)input, strlen(input), "r");
    assert_non_null(x->in);
    tp_forms_io_init(&x->io, x->in, x->out, 1);
    assert_int_equal(x->io.tty, 0);
}

static const char *io_text(io_fixture *x)
{
    fflush(x->out);
    return x->outbuf;
}

static void io_close(io_fixture *x)
{
    fclose(x->out);
    fclose(x->in);
    free(x->outbuf);
}

static const char *answer(const tp_forms_answers *a, const char *id)
{
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->a[i].field_id, id) == 0)
            return a->a[i].value;
    return NULL;
}

/* --------------------------------------------------------------- tests */

static void print_shows_every_part_of_the_form(void **state)
{
    (void)state;
    tp_form_field fields[6];
    tp_form form = sample_form(fields);
    io_fixture x;
    io_open(&x, "");
    tp_forms_print(x.out, &form);
    const char *t = io_text(&x);
    assert_non_null(strstr(t, "== Missed visit: pick the receipt =="));
    assert_non_null(strstr(t, "  ! The PIN was wrong.\n"));
    assert_non_null(strstr(t, "  Customer (phone, email, code or name): +4915100000001\n"));
    assert_non_null(strstr(t, "  Member: M-1001 Alice E.\n"));
    assert_non_null(strstr(t, "  Receipt:\n"));
    assert_non_null(strstr(t, "     1) A-1  12.50 EUR  2026-11-20 10:02\n"));
    assert_non_null(strstr(t, "     3) 1042  8.00 EUR  2026-11-21 09:00\n"));
    /* errors under their field, marked "!" */
    const char *err = strstr(t, "      ! Pick a receipt from the list.\n");
    assert_non_null(err);
    assert_true(err > strstr(t, "3) 1042"));
    assert_true(err < strstr(t, "  Amount (optional):"));
    /* the chosen entry of a CHOICE is marked */
    assert_non_null(strstr(t, "   * 1) Forgot to scan\n"));
    assert_non_null(strstr(t, "      ! Wrong PIN; 4 tries left.\n"));
    assert_non_null(strstr(t, "Credit 25 points"));
    io_close(&x);
}

static void answers_come_from_the_lines_numbers_keys_and_enter(void **state)
{
    (void)state;
    tp_form_field fields[6];
    tp_form form = sample_form(fields);
    io_fixture x;
    /* customer: Enter keeps the prefill; receipt: "9" is no entry, then
     * "2"; amount: typed; reason: the key; PIN */
    io_open(&x, "\n9\n2\n 12.50 \ndead-phone\n4711\n");
    tp_forms_answers a;
    assert_int_equal(tp_forms_ask(&form, NULL, &x.io, &a), TP_FORMS_ANSWERED);
    assert_int_equal(a.count, 5); /* INFO is not answered */
    assert_string_equal(answer(&a, "customer"), "+4915100000001");
    assert_string_equal(answer(&a, "receipt"), "A-2");
    assert_string_equal(answer(&a, "amount"), "12.50");
    assert_string_equal(answer(&a, "reason"), "dead-phone");
    assert_string_equal(answer(&a, "pin"), "4711");
    assert_null(answer(&a, "member"));
    const char *t = io_text(&x);
    assert_non_null(strstr(t, "  > Customer (phone, email, code or name) [+4915100000001]: \n"));
    assert_non_null(strstr(t, "  > Receipt (1-3): 9\n      ! Type a number from 1 to 3.\n"));
    assert_non_null(strstr(t, "  > Reason (1-2) [1]: dead-phone\n"));
    /* the PIN is never in the output, only a mask */
    assert_null(strstr(t, "4711"));
    assert_non_null(strstr(t, "  > Manager PIN: ****\n"));
    tp_forms_answers_clear(&a);
    assert_int_equal(a.count, 0);
    io_close(&x);
}

static void a_number_shown_wins_and_a_numeric_key_still_works(void **state)
{
    (void)state;
    tp_form_field f = {"receipt", TP_FIELD_RESULTS, "Receipt", "", "", 1, 0, CHOICES(receipts)};
    tp_form form = {.struct_size = sizeof form, .field_stride = sizeof(tp_form_field), .form_id = 1,
                    .title = "t", .fields = &f, .field_count = 1};
    io_fixture x;
    io_open(&x, "3\n");
    tp_forms_answers a;
    assert_int_equal(tp_forms_ask(&form, NULL, &x.io, &a), TP_FORMS_ANSWERED);
    assert_string_equal(answer(&a, "receipt"), "1042");
    io_close(&x);
    io_open(&x, "1042\n");
    assert_int_equal(tp_forms_ask(&form, NULL, &x.io, &a), TP_FORMS_ANSWERED);
    assert_string_equal(answer(&a, "receipt"), "1042");
    io_close(&x);
}

static void cancel_at_any_prompt_and_end_of_input(void **state)
{
    (void)state;
    tp_form_field fields[6];
    tp_form form = sample_form(fields);
    const char *inputs[] = {":cancel\n", "\n:cancel\n", "\n1\n\n\n:cancel\n"};
    for (size_t i = 0; i < 3; i++) {
        io_fixture x;
        io_open(&x, inputs[i]);
        tp_forms_answers a;
        assert_int_equal(tp_forms_ask(&form, NULL, &x.io, &a), TP_FORMS_CANCELLED);
        assert_int_equal(a.count, 0);
        io_close(&x);
    }
    io_fixture x;
    io_open(&x, "\n1\n");
    tp_forms_answers a;
    assert_int_equal(tp_forms_ask(&form, NULL, &x.io, &a), TP_FORMS_EOF);
    io_close(&x);
}

static void too_long_answers_are_asked_again(void **state)
{
    (void)state;
    tp_form_field f = {"reason", TP_FIELD_TEXT, "Reason", "", "", 1, 8, NO_CHOICES};
    tp_form form = {.struct_size = sizeof form, .field_stride = sizeof(tp_form_field), .form_id = 1,
                    .title = "t", .fields = &f, .field_count = 1};
    io_fixture x;
    io_open(&x, "far too long a reason\nshort\n");
    tp_forms_answers a;
    assert_int_equal(tp_forms_ask(&form, NULL, &x.io, &a), TP_FORMS_ANSWERED);
    assert_string_equal(answer(&a, "reason"), "short");
    assert_non_null(strstr(io_text(&x), "! At most 8 characters."));
    io_close(&x);
    /* a line beyond the line buffer is discarded whole */
    char *big = malloc(3000);
    assert_non_null(big);
    memset(big, 'x', 2000);
    snprintf(big + 2000, 1000, "\nok\n");
    io_open(&x, big);
    assert_int_equal(tp_forms_ask(&form, NULL, &x.io, &a), TP_FORMS_ANSWERED);
    assert_string_equal(answer(&a, "reason"), "ok");
    io_close(&x);
    free(big);
}

static void preset_answers_fill_the_prompt_and_clear_empties_them(void **state)
{
    (void)state;
    tp_form_field f[2] = {
        {"receipt", TP_FIELD_INFO, "Receipt", "R-9", "", 0, 0, NO_CHOICES},
        {"phone", TP_FIELD_TEXT, "Contact phone", "", "", 0, 32, NO_CHOICES},
    };
    tp_form form = {.struct_size = sizeof form, .field_stride = sizeof(tp_form_field), .form_id = 1,
                    .title = "Claim", .fields = f, .field_count = 2};
    tp_forms_answers preset;
    memset(&preset, 0, sizeof preset);
    assert_int_equal(tp_forms_answers_set(&preset, "phone", "0151 123"), 0);
    io_fixture x;
    io_open(&x, "\n");
    tp_forms_answers a;
    assert_int_equal(tp_forms_ask(&form, &preset, &x.io, &a), TP_FORMS_ANSWERED);
    assert_string_equal(answer(&a, "phone"), "0151 123");
    assert_non_null(strstr(io_text(&x), "  > Contact phone [0151 123]: "));
    io_close(&x);
    /* a copy points into itself */
    tp_forms_answers copy;
    tp_forms_answers_copy(&copy, &preset);
    memset(&preset, 0, sizeof preset);
    assert_string_equal(answer(&copy, "phone"), "0151 123");
    tp_forms_answers_copy(&preset, &copy);
    io_open(&x, ":clear\n");
    assert_int_equal(tp_forms_ask(&form, &preset, &x.io, &a), TP_FORMS_ANSWERED);
    assert_string_equal(answer(&a, "phone"), "");
    io_close(&x);
}

static void a_form_without_fields_asks_to_confirm(void **state)
{
    (void)state;
    tp_form_field f = {"summary", TP_FIELD_INFO, "Summary", "25 points", "", 0, 0, NO_CHOICES};
    tp_form form = {.struct_size = sizeof form, .field_stride = sizeof(tp_form_field), .form_id = 1,
                    .title = "Confirm", .fields = &f, .field_count = 1,
                    .submit_label = "Credit 25 points"};
    io_fixture x;
    io_open(&x, "\n");
    tp_forms_answers a;
    assert_int_equal(tp_forms_ask(&form, NULL, &x.io, &a), TP_FORMS_ANSWERED);
    assert_int_equal(a.count, 0);
    assert_non_null(strstr(io_text(&x), "Enter to Credit 25 points, :cancel to cancel"));
    io_close(&x);
}

static void answers_respect_the_abi_bounds(void **state)
{
    (void)state;
    tp_forms_answers a;
    memset(&a, 0, sizeof a);
    char longv[TP_FIELD_VALUE_MAX + 2];
    memset(longv, 'v', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    assert_int_equal(tp_forms_answers_set(&a, "f", longv), -1);
    assert_int_equal(tp_forms_answers_set(&a, "an-id-that-is-far-too-long-for-the-abi", "v"), -1);
    char id[16];
    for (int i = 0; i < TP_FORM_ANSWERS_MAX; i++) {
        snprintf(id, sizeof id, "f%d", i);
        assert_int_equal(tp_forms_answers_set(&a, id, "v"), 0);
    }
    assert_int_equal(tp_forms_answers_set(&a, "one-more", "v"), -1);
    assert_int_equal(tp_forms_answers_set(&a, "f3", "changed"), 0); /* replaces */
    assert_int_equal(a.count, TP_FORM_ANSWERS_MAX);
    assert_string_equal(answer(&a, "f3"), "changed");
}

static void a_copy_outlives_the_presented_form_and_drops_pins(void **state)
{
    (void)state;
    char title[32] = "Original title";
    char key[8] = "K1";
    tp_form_choice ch = {key, "Entry one"};
    tp_form_field f[2] = {
        {"pick", TP_FIELD_RESULTS, "Pick", "K1", "", 1, 0, &ch, 1, sizeof ch},
        {"pin", TP_FIELD_PIN, "PIN", "1234", "", 1, 12, NO_CHOICES},
    };
    tp_form form = {.struct_size = sizeof form, .field_stride = sizeof(tp_form_field),
                    .form_id = 42, .action = "retro-visit", .title = title, .fields = f,
                    .field_count = 2, .submit_label = NULL};
    tp_forms_copy *c = tp_forms_copy_new(&form);
    assert_non_null(c);
    snprintf(title, sizeof title, "changed");
    snprintf(key, sizeof key, "XX");
    const tp_form *g = tp_forms_copy_form(c);
    assert_int_equal(g->form_id, 42);
    assert_string_equal(g->title, "Original title");
    assert_string_equal(g->submit_label, "");
    assert_string_equal(g->message, "");
    assert_int_equal(g->field_count, 2);
    assert_string_equal(g->fields[0].choices[0].key, "K1");
    assert_string_equal(tp_forms_value_shown(&g->fields[0]), "Entry one");
    assert_string_equal(g->fields[1].value, "");
    tp_forms_copy_free(c);
}

/* A plugin of a later minor version hands out bigger structs (fields
 * appended at the end: "The ABI contract" in tillpoints.h) and may add
 * field kinds. The host steps through fields and choices by the plugin's
 * strides, reads only what it knows, and shows a kind it does not know as
 * INFO (asked for nothing). */
typedef struct later_choice {
    tp_form_choice base;
    const char *hint;
} later_choice;
typedef struct later_field {
    tp_form_field base;
    uint64_t appended[3];
} later_field;
typedef struct later_form {
    tp_form base;
    const char *footer;
} later_form;

static void a_later_minors_bigger_form_is_read_by_its_sizes_and_strides(void **state)
{
    (void)state;
    later_choice ch[2] = {{{"K1", "Entry one"}, "h1"}, {{"K2", "Entry two"}, "h2"}};
    later_field f[3];
    memset(f, 0xa5, sizeof f); /* what this build does not know: never read */
    f[0].base = (tp_form_field){"pick", TP_FIELD_RESULTS, "Pick", "K2", "", 1, 0, &ch[0].base, 2,
                                sizeof ch[0]};
    f[1].base = (tp_form_field){"later", 99, "Later kind", "shown", "", 1, 0, NO_CHOICES};
    f[2].base = (tp_form_field){"pin", TP_FIELD_PIN, "PIN", "", "", 1, 12, NO_CHOICES};
    later_form lf;
    memset(&lf, 0, sizeof lf);
    lf.base = (tp_form){.struct_size = sizeof lf, .form_id = 3, .title = "Later",
                        .fields = &f[0].base, .field_count = 3, .field_stride = sizeof f[0],
                        .submit_label = "Go"};
    lf.footer = "not read";

    tp_forms_copy *c = tp_forms_copy_new(&lf.base);
    assert_non_null(c);
    const tp_form *g = tp_forms_copy_form(c);
    assert_int_equal(g->struct_size, sizeof(tp_form));
    assert_int_equal(g->field_stride, sizeof(tp_form_field));
    assert_int_equal(g->field_count, 3);
    assert_string_equal(g->fields[0].id, "pick");
    assert_int_equal(g->fields[0].choice_count, 2);
    assert_string_equal(g->fields[0].choices[1].key, "K2");
    assert_string_equal(tp_forms_value_shown(&g->fields[0]), "Entry two");
    assert_string_equal(g->fields[1].id, "later");
    assert_int_equal(g->fields[1].kind, TP_FIELD_INFO);
    assert_string_equal(g->fields[2].id, "pin");
    assert_int_equal(g->fields[2].max_len, 12);
    assert_string_equal(g->submit_label, "Go");
    tp_forms_copy_free(c);

    /* Printed and asked straight from the plugin's form. */
    io_fixture x;
    io_open(&x, "1\n4711\n");
    tp_forms_print(x.out, &lf.base);
    tp_forms_answers a;
    assert_int_equal(tp_forms_ask(&lf.base, NULL, &x.io, &a), TP_FORMS_ANSWERED);
    const char *t = io_text(&x);
    assert_non_null(strstr(t, "   * 2) Entry two\n"));
    assert_non_null(strstr(t, "  Later kind: shown\n"));
    assert_int_equal(a.count, 2); /* pick and pin; the unknown kind is INFO */
    assert_string_equal(answer(&a, "pick"), "K1");
    assert_string_equal(answer(&a, "pin"), "4711");
    tp_forms_answers_clear(&a);
    io_close(&x);
}

static void a_new_pin_is_read_once_from_a_pipe(void **state)
{
    (void)state;
    io_fixture x;
    io_open(&x, "24680\n");
    char pin[32], err[128];
    assert_int_equal(tp_forms_read_new_pin(&x.io, "mgr-1", pin, sizeof pin, err, sizeof err),
                     0);
    assert_string_equal(pin, "24680");
    assert_null(strstr(io_text(&x), "24680"));
    io_close(&x);
    io_open(&x, "");
    assert_int_equal(tp_forms_read_new_pin(&x.io, "mgr-1", pin, sizeof pin, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "No PIN"));
    io_close(&x);
}

/* ------------------------------------------------ driver, fake plugin */

/* A two-step flow like retro-visit: a customer (must be "alice"), then a
 * receipt from a list plus a PIN (must be "1234"). The fake answers on the
 * next wait(), as a plugin thread would through on_main_thread. */
typedef struct fake {
    tp_forms_session *s;
    int step;             /* 0 customer, 1 receipt+pin */
    int queued;           /* 1 present, 2 dismiss done, 3 dismiss cancelled */
    char error[64];
    int submits, cancels, waits;
    int silent;           /* never answer */
    char last_pin[16];
} fake;

static fake *the_fake;

static void fake_deliver(fake *f)
{
    if (f->queued == 1) {
        const tp_form_field one[1] = {
            {"customer", TP_FIELD_TEXT, "Customer", "", f->error, 1, 64, NO_CHOICES}};
        const tp_form_field two[2] = {
            {"receipt", TP_FIELD_RESULTS, "Receipt", "", "", 1, 0, CHOICES(receipts)},
            {"pin", TP_FIELD_PIN, "Manager PIN", "", f->error, 1, 12, NO_CHOICES}};
        tp_form form = {.struct_size = sizeof form, .field_stride = sizeof(tp_form_field),
                        .form_id = 99, .action = "retro-visit"};
        if (f->step == 0) {
            form.fields = one;
            form.title = "Find the customer";
            form.field_count = 1;
        } else {
            form.fields = two;
            form.title = "Pick the receipt";
            form.field_count = 2;
            form.submit_label = "Credit 25 points";
        }
        tp_forms_on_present(f->s, &form);
    } else if (f->queued == 2) {
        tp_forms_on_dismiss(f->s, 99, 1, "25 points credited to M-1001 for receipt A-2.");
    } else if (f->queued == 3) {
        tp_forms_on_dismiss(f->s, 99, 0, "Cancelled; nothing was credited.");
    }
    f->queued = 0;
}

static int fake_wait(void *user, int timeout_ms)
{
    fake *f = user;
    f->waits++;
    if (f->silent) {
        usleep((useconds_t)timeout_ms * 1000);
        return 0;
    }
    fake_deliver(f);
    return 0;
}

static tp_status fake_open(const tp_plugin *p, const char *action, const tp_staff *staff,
                           const char *prefill, uint64_t *form_id, tp_message *msg)
{
    (void)p, (void)staff, (void)prefill;
    msg->text[0] = '\0';
    if (strcmp(action, "retro-visit") != 0)
        return TP_ERR_NOT_FOUND;
    *form_id = 99;
    the_fake->queued = 1;
    return TP_OK;
}

static tp_status fake_submit(const tp_plugin *p, uint64_t id, const tp_form_answer *a,
                             size_t n, size_t stride, tp_message *msg)
{
    (void)p;
    assert_int_equal(stride, sizeof(tp_form_answer));
    msg->text[0] = '\0';
    fake *f = the_fake;
    if (id != 99)
        return TP_ERR_NOT_FOUND;
    f->submits++;
    f->error[0] = '\0';
    if (f->step == 0) {
        if (n == 1 && strcmp(a[0].value, "alice") == 0)
            f->step = 1;
        else
            snprintf(f->error, sizeof f->error, "No member matches.");
        f->queued = 1;
        return TP_OK;
    }
    assert_int_equal(n, 2);
    snprintf(f->last_pin, sizeof f->last_pin, "%s", a[1].value);
    if (strcmp(a[0].value, "A-2") == 0 && strcmp(a[1].value, "1234") == 0) {
        f->queued = 2;
    } else {
        snprintf(f->error, sizeof f->error, "Wrong PIN.");
        f->queued = 1;
    }
    return TP_OK;
}

static tp_status fake_cancel(const tp_plugin *p, uint64_t id, tp_message *msg)
{
    (void)p, (void)id;
    msg->text[0] = '\0';
    the_fake->cancels++;
    if (!the_fake->silent)
        the_fake->queued = 3;
    return TP_OK;
}

static const tp_ui_ext fake_ui = {sizeof(tp_ui_ext), fake_open, fake_submit, fake_cancel};

static tp_forms_end drive(fake *f, tp_forms_session *s, const char *input, io_fixture *x,
                          int timeout_ms)
{
    memset(f, 0, sizeof *f);
    tp_forms_session_init(s);
    f->s = s;
    the_fake = f;
    io_open(x, input);
    tp_staff who = {.struct_size = sizeof who, .id = "mgr-1", .role = "manager"};
    tp_message msg;
    assert_int_equal(fake_ui.open(NULL, "retro-visit", &who, NULL, &s->form_id, &msg), TP_OK);
    tp_forms_driver d = {.plugin = NULL, .ui = &fake_ui, .wait = fake_wait, .user = f,
                         .timeout_ms = timeout_ms};
    return tp_forms_run(s, &d, &x->io);
}

static void driver_represents_errors_and_ends_with_the_result(void **state)
{
    (void)state;
    fake f;
    tp_forms_session s;
    io_fixture x;
    /* wrong customer, right customer; receipt 2 with a wrong PIN, then the
     * right one */
    tp_forms_end end = drive(&f, &s, "bob\nalice\n2\n9999\n2\n1234\n", &x, 2000);
    assert_int_equal(end, TP_FORMS_DONE);
    assert_int_equal(f.submits, 4);
    assert_string_equal(f.last_pin, "1234");
    assert_string_equal(s.result, "25 points credited to M-1001 for receipt A-2.");
    const char *t = io_text(&x);
    assert_non_null(strstr(t, "      ! No member matches.\n"));
    assert_non_null(strstr(t, "      ! Wrong PIN.\n"));
    /* PINs typed are never printed */
    assert_null(strstr(t, "9999"));
    assert_null(strstr(t, "1234"));
    tp_forms_session_reset(&s);
    io_close(&x);
}

static void driver_cancels_on_cancel_and_at_the_end_of_input(void **state)
{
    (void)state;
    fake f;
    tp_forms_session s;
    io_fixture x;
    assert_int_equal(drive(&f, &s, "alice\n:cancel\n", &x, 2000), TP_FORMS_NOT_DONE);
    assert_int_equal(f.cancels, 1);
    assert_string_equal(s.result, "Cancelled; nothing was credited.");
    tp_forms_session_reset(&s);
    io_close(&x);
    assert_int_equal(drive(&f, &s, "alice\n", &x, 2000), TP_FORMS_NOT_DONE);
    assert_int_equal(f.cancels, 1);
    tp_forms_session_reset(&s);
    io_close(&x);
}

static void driver_gives_up_on_a_silent_plugin(void **state)
{
    (void)state;
    fake f;
    tp_forms_session s;
    io_fixture x;
    memset(&f, 0, sizeof f);
    tp_forms_session_init(&s);
    f.s = &s;
    f.silent = 1;
    the_fake = &f;
    io_open(&x, "");
    s.form_id = 99;
    tp_forms_driver d = {.ui = &fake_ui, .wait = fake_wait, .user = &f, .timeout_ms = 300};
    assert_int_equal(tp_forms_run(&s, &d, &x.io), TP_FORMS_FAILED);
    assert_int_equal(f.cancels, 1);
    assert_non_null(strstr(s.result, "did not answer"));
    tp_forms_session_reset(&s);
    io_close(&x);
}

static void presentations_of_other_forms_are_ignored(void **state)
{
    (void)state;
    tp_forms_session s;
    tp_forms_session_init(&s);
    s.form_id = 5;
    tp_form other = {.struct_size = sizeof other, .field_stride = sizeof(tp_form_field),
                     .form_id = 6, .title = "x"};
    tp_forms_on_present(&s, &other);
    assert_null(s.pending);
    tp_forms_on_dismiss(&s, 6, 1, "no");
    assert_int_equal(s.dismissed, 0);
    other.form_id = 5;
    tp_forms_on_present(&s, &other);
    assert_non_null(s.pending);
    tp_forms_on_dismiss(&s, 5, 1, NULL);
    assert_int_equal(s.dismissed, 1);
    assert_null(s.pending);
    assert_string_equal(s.result, "");
    tp_forms_session_reset(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(print_shows_every_part_of_the_form),
        cmocka_unit_test(answers_come_from_the_lines_numbers_keys_and_enter),
        cmocka_unit_test(a_number_shown_wins_and_a_numeric_key_still_works),
        cmocka_unit_test(cancel_at_any_prompt_and_end_of_input),
        cmocka_unit_test(too_long_answers_are_asked_again),
        cmocka_unit_test(preset_answers_fill_the_prompt_and_clear_empties_them),
        cmocka_unit_test(a_form_without_fields_asks_to_confirm),
        cmocka_unit_test(answers_respect_the_abi_bounds),
        cmocka_unit_test(a_copy_outlives_the_presented_form_and_drops_pins),
        cmocka_unit_test(a_later_minors_bigger_form_is_read_by_its_sizes_and_strides),
        cmocka_unit_test(a_new_pin_is_read_once_from_a_pipe),
        cmocka_unit_test(driver_represents_errors_and_ends_with_the_result),
        cmocka_unit_test(driver_cancels_on_cancel_and_at_the_end_of_input),
        cmocka_unit_test(driver_gives_up_on_a_silent_plugin),
        cmocka_unit_test(presentations_of_other_forms_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
