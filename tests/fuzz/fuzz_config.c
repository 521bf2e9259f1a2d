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
        /* Rewards and paying with points (docs/DESIGN.md §5): every
         * reward has a cost, one kind and a label; a minimum the step
         * reaches; a rate whenever points pay. */
        if (c.n_rewards < 0 || c.n_rewards > TP_REWARDS_MAX)
            __builtin_trap();
        for (int i = 0; i < c.n_rewards; i++) {
            const tp_reward_config *r = &c.rewards[i];
            if (r->cost < 1 || r->cost > TP_ADJUST_MAX || !r->label[0] ||
                r->max_per_receipt < 1 || r->max_per_receipt > 100 || r->min_basket_minor < 0 ||
                (r->kind == TP_REWARD_AMOUNT_OFF && r->amount_off_minor <= 0) ||
                (r->kind == TP_REWARD_PERCENT_OFF &&
                 (r->percent_off < 1 || r->percent_off > 100 || r->percent_cap_minor < 0)) ||
                (r->kind == TP_REWARD_FREE_SKU && !r->free_sku[0]) ||
                (r->kind != TP_REWARD_PERCENT_OFF && r->percent_cap_minor != 0) ||
                (r->kind != TP_REWARD_AMOUNT_OFF && r->kind != TP_REWARD_PERCENT_OFF &&
                 r->kind != TP_REWARD_FREE_SKU))
                __builtin_trap();
        }
        if (c.redeem.step_points < 1 || c.redeem.min_points < 0 ||
            c.redeem.min_points % c.redeem.step_points != 0 ||
            (c.redeem.pay_with_points &&
             (c.redeem.points_per_unit < 1 || c.redeem.unit_minor < 1 || c.redeem.min_points < 1)))
            __builtin_trap();
    } else {
        if (!msg.text[0] || (unsigned char)c.location[0] != 0xa5)
            __builtin_trap();
    }
    free(text);
    return 0;
}
