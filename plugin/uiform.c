/*
 * uiform.c — building a form on the ui thread (uiform.h): fields, their
 * choices, and finding a field again by id. The flows in retro*.c fill
 * these; ui.c hands the finished form to the host.
 */
#include "uiform.h"

#include <string.h>

#include "util.h"

tp_ufield *tp_uform_add(tp_uform *f, const char *id, tp_field_kind kind, const char *label,
                        const char *value, int required, size_t max_len)
{
    if (f->n_fields >= TP_FORM_FIELDS_MAX)
        return NULL;
    tp_ufield *x = &f->f[f->n_fields++];
    memset(x, 0, sizeof *x);
    tp_copy(x->id, sizeof x->id, id);
    x->kind = kind;
    tp_buf_set(x->label, sizeof x->label, "%s", label);
    tp_buf_set(x->value, sizeof x->value, "%s", value ? value : "");
    x->required = required;
    x->max_len = max_len;
    return x;
}

void tp_ufield_choice(tp_ufield *field, const char *key, const char *label)
{
    if (!field || field->n_choices >= TP_FORM_CHOICES_MAX)
        return;
    tp_buf_set(field->ckey[field->n_choices], sizeof field->ckey[0], "%s", key);
    tp_buf_set(field->clabel[field->n_choices], sizeof field->clabel[0], "%s", label);
    field->n_choices++;
}

tp_ufield *tp_uform_field(tp_uform *f, const char *id)
{
    for (int i = 0; i < f->n_fields; i++)
        if (strcmp(f->f[i].id, id) == 0)
            return &f->f[i];
    return NULL;
}
