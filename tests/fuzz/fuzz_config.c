/*
 * fuzz_config.c — libFuzzer target for the INI configuration parser
 * (plugin/config.c). Invariants: any input either loads (and then every
 * field is within its documented range) or is refused with a sentence; the
 * caller's struct is untouched on refusal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* libFuzzer calls these; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    tp_config c;
    memset(&c, 0xa5, sizeof c);
    tp_message msg;
    tp_status st = tp_config_load_string(&c, text, &msg);
    if (st == TP_OK) {
        if (c.rules.points_per_unit < 1 || c.rules.unit_minor < 1 || c.queue_capacity < 16 ||
            c.batch_max < 1 || c.max_open_transactions < 1 || c.shutdown_deadline_ms < 100 ||
            c.shutdown_deadline_ms > 60000 || strlen(c.currency) != 3 ||
            !c.location[0] || !c.terminal[0] || !c.database[0])
            __builtin_trap();
    } else {
        if (!msg.text[0] || (unsigned char)c.location[0] != 0xa5)
            __builtin_trap();
    }
    free(text);
    return 0;
}
