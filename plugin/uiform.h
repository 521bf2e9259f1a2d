/*
 * uiform.h — forms as the plugin builds them: a self-contained, owned copy
 * (fixed-size text) that can cross from the ui thread to the host's main
 * thread, where it is turned into the borrowed tp_form of ext/ui.h.
 */
#ifndef TP_UIFORM_H
#define TP_UIFORM_H

#include <stdint.h>

#include "tillpoints/ext/ui.h"

typedef struct tp_ufield {
    char id[TP_FIELD_ID_MAX + 1];
    tp_field_kind kind;
    char label[128];
    char value[TP_FIELD_VALUE_MAX + 1];
    char error[TP_MESSAGE_MAX];
    int required;
    size_t max_len;
    int n_choices;
    char ckey[TP_FORM_CHOICES_MAX][TP_FIELD_VALUE_MAX + 1];
    char clabel[TP_FORM_CHOICES_MAX][160];
} tp_ufield;

typedef struct tp_uform {
    uint64_t id;
    char action[TP_FORM_ACTION_MAX + 1];
    char title[128];
    char message[TP_MESSAGE_MAX];
    int is_error;
    int n_fields;
    tp_ufield f[TP_FORM_FIELDS_MAX];
    char submit[64];
    /* dismiss instead of present */
    int dismiss;
    int done;
} tp_uform;

/* Appends a field; returns it (or NULL when the form is full). */
tp_ufield *tp_uform_add(tp_uform *f, const char *id, tp_field_kind kind, const char *label,
                        const char *value, int required, size_t max_len);
void tp_ufield_choice(tp_ufield *field, const char *key, const char *label);
tp_ufield *tp_uform_field(tp_uform *f, const char *id);

#endif
