/*
 * config.h — the plugin's configuration: one INI file (libinih) layered
 * over built-in defaults, so the plugin runs with no file at all.
 *
 * Guarantees: tp_config_load either fills the whole struct and returns
 * TP_OK, or returns TP_ERR_CONFIG with a sentence naming the file, line,
 * key and what is wrong — and the caller's struct is left untouched.
 */
#ifndef TP_CONFIG_H
#define TP_CONFIG_H

#include <stdint.h>

#include "payload.h"
#include "tillpoints/tillpoints.h"
#include "util.h" /* TP_MUST_CHECK */

#define TP_CFG_PATH_MAX 4096
#define TP_CFG_ID_MAX TP_LOCATION_MAX
/* An excluded SKU or category: as long as either may be (limits.h). */
#define TP_CFG_LIST_ITEM_MAX TP_SKU_MAX
_Static_assert(TP_SKU_MAX == TP_CATEGORY_MAX, "one list item size fits both lists");
#define TP_CFG_LIST_MAX 32 /* excluded categories / SKUs */

typedef enum tp_program_kind { TP_PROGRAM_SPEND, TP_PROGRAM_VISITS } tp_program_kind;
typedef enum tp_rounding { TP_ROUND_FLOOR, TP_ROUND_NEAREST, TP_ROUND_CEIL } tp_rounding;

#define TP_CAMPAIGNS_MAX 16

/* A bonus over a date window: a multiplier of the base points, or a fixed
 * bonus, optionally at one location only. */
typedef struct tp_campaign {
    char name[TP_CFG_ID_MAX + 1];
    int64_t multiplier;        /* >= 1; 1 = none */
    int64_t bonus;             /* fixed points added; 0 = none */
    int64_t start_ms, end_ms;  /* [start, end) UTC */
    char location[TP_CFG_ID_MAX + 1]; /* "" = every location */
    int retro;                 /* also applies to retroactive credits */
} tp_campaign;

typedef struct tp_rules_config {
    tp_program_kind kind;
    int64_t points_per_unit;   /* spend: points for each unit_minor spent */
    int64_t unit_minor;        /* spend: e.g. 100 = one currency unit */
    tp_rounding rounding;
    int64_t min_eligible_minor;/* below this, nothing is earned */
    int64_t cap_per_receipt;   /* 0 = no cap */
    int n_excluded_categories;
    char excluded_categories[TP_CFG_LIST_MAX][TP_CFG_LIST_ITEM_MAX + 1];
    int n_excluded_skus;
    char excluded_skus[TP_CFG_LIST_MAX][TP_CFG_LIST_ITEM_MAX + 1];
    int64_t visit_period_ms;   /* visits: at most one stamp per member per
                                  period; 0 = every visit */
    int n_campaigns;
    tp_campaign campaigns[TP_CAMPAIGNS_MAX];
} tp_rules_config;

#define TP_SCANNERS_MAX 8
#define TP_SCANNER_KEYS_MAX 24

/* One [scanner "name"] section, kept as text: the driver named by
 * `driver` validates its own keys when the scanner thread starts. */
typedef struct tp_scanner_config {
    char name[TP_CFG_ID_MAX + 1];
    char driver[TP_DRIVER_NAME_MAX + 1];
    int line;                       /* where the section starts, for messages */
    int n_keys;
    char key[TP_SCANNER_KEYS_MAX][32 + 1];
    char value[TP_SCANNER_KEYS_MAX][255 + 1];
} tp_scanner_config;

/* [retro]: retroactive visits (docs/DESIGN.md §6). */
typedef struct tp_retro_config {
    int64_t window_ms;              /* how old a receipt may be (30 days) */
    int64_t max_points_per_credit;  /* one credit above this is refused */
    int64_t max_points_per_manager_day; /* approvals of one manager per UTC day */
    int allow_manual;               /* credits for receipts not in the journal */
    int64_t manual_max_points;      /* ... capped at this */
    int pin_max_failures;           /* wrong PINs before a lockout (5) */
    int64_t pin_lockout_ms;         /* how long the first lockout lasts (30 min) */
    int pin_min_digits;             /* fewest digits of a PIN (6, never below 4) */
    int trust_host_managers;        /* host's manager login approves (no) */
    int64_t future_skew_ms;         /* receipts dated after now + this are refused (5 min) */
    int recent_receipts;            /* receipts listed to pick from (20) */
} tp_retro_config;

/* sync: [sync], the central database (docs/DESIGN.md §8). Empty postgres: standalone. */
typedef struct tp_sync_config {
    char postgres[1024];      /* libpq connection string or URI */
    int batch;                /* outbox rows per central transaction */
    int connect_timeout_s;
    int statement_timeout_ms;
    int max_attempts;         /* permanent failures before a row is parked */
    int backoff_min_ms, backoff_max_ms;
    int push_interval_ms;     /* how often an idle thread looks at the outbox */
    int pull_interval_ms;     /* how often it pulls members and balances */
} tp_sync_config;

/* [reward "NAME"] and [redeem]: spending points at the till
 * (docs/DESIGN.md §5, "Rewards and paying with points"). Amounts are
 * typed in the store's currency ("5.00") and kept in its minor units. */
#define TP_REWARDS_MAX TP_REWARD_OFFERS_MAX /* limits.h */

typedef enum tp_reward_kind {
    TP_REWARD_NONE = 0,       /* not given: refused when the file is read */
    TP_REWARD_AMOUNT_OFF,     /* amount_off_minor off the eligible amount */
    TP_REWARD_PERCENT_OFF,    /* percent_off of it, at most percent_cap_minor */
    TP_REWARD_FREE_SKU        /* one line of free_sku free */
} tp_reward_kind;

typedef struct tp_reward_config {
    char name[TP_CFG_ID_MAX + 1];
    char label[TP_NAME_MAX + 1];  /* shown to cashier and customer; default name */
    tp_reward_kind kind;
    int64_t cost;                 /* points, 1..TP_ADJUST_MAX */
    int64_t amount_off_minor;     /* AMOUNT_OFF: > 0 */
    int64_t percent_off;          /* PERCENT_OFF: 1..100 */
    int64_t percent_cap_minor;    /* PERCENT_OFF: 0 = no cap */
    char free_sku[TP_SKU_MAX + 1];/* FREE_SKU: 1..TP_SKU_MAX bytes */
    int64_t min_basket_minor;     /* eligible amount the receipt needs; 0 = none */
    int max_per_receipt;          /* 1..100 */
} tp_reward_config;

/* What points are earned on when a receipt spends points. */
typedef enum tp_earn_on {
    TP_EARN_ON_PAID,     /* the eligible amount minus the discounts points paid for */
    TP_EARN_ON_ELIGIBLE  /* the eligible amount, as if no points were spent */
} tp_earn_on;

/* What a refund does with the points a receipt spent. */
typedef enum tp_points_refund {
    TP_POINTS_REFUND_BACK, /* given back in proportion to what is refunded */
    TP_POINTS_REFUND_KEPT  /* not given back */
} tp_points_refund;

typedef struct tp_redeem_config {
    int pay_with_points;     /* points may pay part of a receipt */
    int64_t points_per_unit; /* points that pay unit_minor; 0 = not set */
    int64_t unit_minor;      /* 0 = not set; both are set when pay_with_points */
    int64_t min_points;      /* fewest points one payment uses; a multiple of step */
    int64_t step_points;     /* points are used in multiples of this (>= 1) */
    tp_earn_on earn_on;
    tp_points_refund refund;
    int confirm_timeout_ms;     /* [sync]: the central answer's deadline */
    int64_t offline_allowance;  /* [sync]: points per member per UTC day at
                                   this terminal without the central answer */
} tp_redeem_config;

/* [expiry] months: the longest a point lives, ten years. */
#define TP_EXPIRY_MONTHS_MAX 120

typedef struct tp_config {
    char location[TP_CFG_ID_MAX + 1];
    char terminal[TP_CFG_ID_MAX + 1];
    char currency[4];
    char database[TP_CFG_PATH_MAX];
    tp_rules_config rules;
    tp_payload_config scan;    /* [scan]: what a member code looks like */
    int default_country_code;  /* phone numbers without +: E.164 country */
    int n_scanners;
    tp_scanner_config scanners[TP_SCANNERS_MAX];
    int64_t scan_dedup_ms;     /* same code within this window counts once */
    int allow_negative_balance;
    tp_retro_config retro;
    int queue_capacity;        /* pending durable jobs */
    int batch_max;             /* jobs per group commit */
    int max_open_transactions;
    int64_t verify_step_rows;  /* rows per verify read transaction */
    int shutdown_deadline_ms;  /* longest destroy() waits for the writer */
    tp_sync_config sync; /* sync: [sync] */
    int n_rewards;       /* [reward "NAME"] sections, in the file's order */
    tp_reward_config rewards[TP_REWARDS_MAX];
    tp_redeem_config redeem; /* [redeem] */

    int expiry_months;   /* [expiry] months: 0 = points never expire
                            (docs/DESIGN.md §5, "Expiry") */
} tp_config;

/* The built-in defaults, as a complete INI text (also the documentation of
 * every key). */
extern const char tp_config_defaults_ini[];

/* Loads defaults, then `path` if not NULL. A relative `database` in a file
 * is resolved against the file's directory. */
tp_status tp_config_load(tp_config *out, const char *path, tp_message *msg) TP_MUST_CHECK;

/* Loads defaults, then the INI text `text` (for tests and fuzzing). */
tp_status tp_config_load_string(tp_config *out, const char *text, tp_message *msg) TP_MUST_CHECK;

#endif
