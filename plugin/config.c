/*
 * config.c — INI configuration with embedded defaults (see config.h).
 *
 * Parsing goes through libinih; every value is validated here, so a typo in
 * the file stops init() with a sentence instead of running with a surprise.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "currency.h"
#include "secrets.h"
#include "tillpoints/ext/checkout.h"
#include "util.h"

const char tp_config_defaults_ini[] =
    "; tillpoints built-in defaults. A config file overrides any of these.\n"
    "[store]\n"
    "; This store's id (1-32 characters); every credit carries it.\n"
    "location = store-1\n"
    "; This till's id (1-32 characters).\n"
    "terminal = till-1\n"
    "; ISO 4217 currency of every receipt (three capital letters).\n"
    "currency = EUR\n"
    "; SQLite database file (created 0600). Relative paths are taken from\n"
    "; the config file's directory, or the current directory without one.\n"
    "database = tillpoints.db\n"
    "; Calling code for phone numbers typed without one (49 = Germany).\n"
    "default_country_code = 49\n"
    "; File with the secret settings ([sync] password, [scan] receipt_code_key),\n"
    "; readable by its owner only. Relative paths as for database. Empty: none.\n"
    "secrets =\n"
    "\n"
    "[program]\n"
    "; spend: points per amount spent; visits: one stamp per visit.\n"
    "kind = spend\n"
    "; spend: points_per_unit points for every unit_minor minor units.\n"
    "points_per_unit = 1\n"
    "unit_minor = 100\n"
    "; floor, nearest or ceil.\n"
    "rounding = floor\n"
    "; Minimum eligible amount (minor units) for any points or a stamp.\n"
    "min_eligible_minor = 0\n"
    "; Most points one receipt can earn; 0 means no cap.\n"
    "cap_per_receipt = 0\n"
    "; Comma-separated categories and SKUs that never earn.\n"
    "exclude_categories =\n"
    "exclude_skus =\n"
    "; visits: at most one stamp per member within this many hours; 0 = none.\n"
    "visit_period_hours = 0\n"
    "; Whether adjustments may take a balance below zero.\n"
    "allow_negative_balance = no\n"
    "\n"
    "; Campaigns (any number of sections, at most 16):\n"
    "; [campaign \"double-december\"]\n"
    "; multiplier = 2            ; or: bonus = 50 (fixed points per receipt)\n"
    "; start = 2026-12-01        ; UTC, inclusive (YYYY-MM-DD[THH:MM[:SS]][Z])\n"
    "; end = 2027-01-01          ; UTC, exclusive\n"
    "; location = store-1        ; optional: only this location\n"
    "; retro = no                ; also for retroactive credits\n"
    "\n"
    "; Rewards customers buy with points (at most 32 sections), e.g.:\n"
    "; [reward \"coffee\"]\n"
    "; cost = 500                 ; points, 1-100000000\n"
    "; free_sku = 4006381333931   ; or: amount_off = 5.00, or: percent_off = 10\n"
    "; percent_cap = 10.00        ; percent_off only: at most this much off\n"
    "; min_basket = 0             ; eligible amount the receipt needs\n"
    "; max_per_receipt = 1        ; 1-100\n"
    "; label = Free coffee        ; shown to cashier and customer; default: the name\n"
    "\n"
    "[redeem]\n"
    "; Whether points can pay part of a receipt, at points_per_unit points for\n"
    "; every unit (an amount, e.g. 100 and 1.00: 100 points pay 1.00; both are\n"
    "; needed with yes), at least min_points (default points_per_unit) at a\n"
    "; time, in multiples of step_points.\n"
    "pay_with_points = no\n"
    "; points_per_unit = 100\n"
    "; unit = 1.00\n"
    "; min_points = 100\n"
    "step_points = 1\n"
    "; paid: a receipt that spends points earns on the eligible amount minus\n"
    "; what the points paid for; eligible: as if no points were spent.\n"
    "earn_on = paid\n"
    "; back: a refund gives spent points back in proportion; kept: it does not.\n"
    "refund = back\n"
    "; With [sync]: how long a redemption waits for the central ledger's answer\n"
    "; before the offline allowance decides (100-30000 ms).\n"
    "confirm_timeout_ms = 2000\n"
    "; Points one member may spend per UTC day at this terminal while the central\n"
    "; database cannot be reached (0: no spending offline).\n"
    "offline_allowance = 0\n"
    "\n"
    "[limits]\n"
    "; Awards waiting for the disk before checkout reports 'busy'.\n"
    "queue_capacity = 4096\n"
    "; Awards written per database transaction (group commit).\n"
    "batch_max = 256\n"
    "; Loyalty transactions open at once.\n"
    "max_open_transactions = 64\n"
    "; Ledger rows verify reads per read transaction: smaller steps let the\n"
    "; database checkpoint more often while verify runs beside the tills.\n"
    "verify_step_rows = 20000\n"
    "; Longest destroy() waits for the disk (ms); later work goes to <database>.pending.\n"
    "shutdown_deadline_ms = 3000\n"
    "\n"
    "[retro]\n"
    "; Retroactive visits: receipts at most this many days old can be credited.\n"
    "window_days = 30\n"
    "; Most points one retroactive credit may carry.\n"
    "max_points_per_credit = 500\n"
    "; Most points one manager may approve per UTC day.\n"
    "max_points_per_manager_day = 2000\n"
    "; Credits for receipts that are not in this till's journal (marked manual).\n"
    "allow_manual = no\n"
    "manual_max_points = 100\n"
    "; Wrong PINs in a row before a manager is locked, and for how long. Each\n"
    "; further lockout before a right PIN lasts twice as long as the one before,\n"
    "; up to 24 hours (or pin_lockout_minutes when that is longer).\n"
    "pin_max_failures = 5\n"
    "pin_lockout_minutes = 30\n"
    "; Fewest digits of a manager PIN (4-12). A shorter PIN set before the\n"
    "; minimum was raised no longer approves; reset it (manager reset-pin).\n"
    "pin_min_digits = 6\n"
    "; yes: a manager logged in at the host (staff role \"manager\") whose staff\n"
    "; id is an enrolled, unlocked manager approves without typing a PIN. This\n"
    "; trusts the host's own login; with no, every approval needs a PIN.\n"
    "trust_host_managers = no\n"
    "; A receipt dated more than this many minutes after this terminal's clock\n"
    "; is refused and not offered (0-60).\n"
    "future_skew_minutes = 5\n"
    "; Recent unclaimed receipts offered to pick from.\n"
    "recent_receipts = 20\n"
    "\n"
    "[expiry]\n"
    "; Points expire this many calendar months after they were earned, at the\n"
    "; same UTC time of day (0-120; 0 = points never expire).\n"
    "months = 0\n"
    "\n"
    "[scan]\n"
    "; Member codes: letters, digits, '-', '_' and '.'; length limits.\n"
    "code_min_length = 4\n"
    "code_max_length = 64\n"
    "; none, ean13, upc or luhn: the check digit printed member cards carry.\n"
    "check_digit = none\n"
    "; A loyalty link whose {code} part is the member code, e.g.\n"
    "; https://loyalty.example.com/m/{code}. Empty: links are refused.\n"
    "url_pattern =\n"
    "; Ed25519 public key (64 hex characters) that signs app passes of the\n"
    "; form v1|code|expiry-ms|signature. Empty: signed passes are refused.\n"
    "token_public_key =\n"
    "; no, app or all: plain codes (cards, typed numbers, links) are refused at\n"
    "; checkout for members with an app id (app) or for everyone (all); they\n"
    "; show the signed pass in the app. Needs token_public_key.\n"
    "require_signed = no\n"
    "; 32-byte key (64 hex characters) for the check on printed receipt codes.\n"
    "; A secret: it belongs in the secrets file.\n"
    "receipt_code_key =\n"
    "; The same code read twice within this many ms counts once.\n"
    "dedup_ms = 1500\n"
    "\n"
    /* sync: the [sync] section */
    "[sync]\n"
    "; Central PostgreSQL (libpq connection string or postgresql:// URI).\n"
    "; Empty: this terminal runs standalone on its SQLite file.\n"
    "postgres =\n"
    "; The password for it. A secret: it belongs in the secrets file.\n"
    "password =\n"
    "; Outbox events per central transaction.\n"
    "batch = 1000\n"
    "; Give up a connection attempt / a statement after this long.\n"
    "connect_timeout_s = 5\n"
    "statement_timeout_ms = 10000\n"
    "; Permanent refusals of one event before it is parked.\n"
    "max_attempts = 3\n"
    "; Backoff between failed attempts: doubles from min to max, with jitter.\n"
    "backoff_min_ms = 250\n"
    "backoff_max_ms = 30000\n"
    "; How often an idle terminal looks for new events, and pulls members\n"
    "; and confirmed balances.\n"
    "push_interval_ms = 500\n"
    "pull_interval_ms = 5000\n"
    "\n"
    "; Scanners the plugin owns (at most 8), one section each, e.g.:\n"
    "; [scanner \"front\"]\n"
    "; driver = serial             ; serial (more drivers: see the README)\n"
    "; port = /dev/serial/by-id/usb-Honeywell_1900-if00\n"
    "; baud = 9600                 ; data_bits, parity, stop_bits, flow_control\n"
    "; framing = suffix            ; suffix (CR/LF/CRLF/TAB), prefix, stx-etx\n"
    "; suffix = CR\n"
    "; aim = no                    ; AIM symbology identifiers (]Q1, ]E0 ...)\n";

/* What is being read: the secrets file accepts secret settings only. */
enum { PASS_DEFAULTS, PASS_MAIN, PASS_SECRETS };

/* An amount typed in the store's currency ("5.00"). It is read once the
 * whole file has been, because [store] currency, which says how many
 * decimals it has, may come after it. */
typedef struct pending_amount {
    int64_t *dest;       /* a field of parse_ctx.cfg */
    int positive;        /* must be more than 0 (else 0 or more) */
    int line;
    char section[64];    /* as written; libinih's sections are shorter */
    char key[16];
    char text[32];
} pending_amount;

#define PENDING_AMOUNTS_MAX (TP_REWARDS_MAX * 3 + 1)

/* What the file said about one reward beyond its settings: which keys
 * (a key twice is refused), where it starts and where its cap is. */
typedef struct reward_seen {
    unsigned keys; /* bit i: reward_keys[i] */
    int line;      /* its first key */
    int cap_line;  /* percent_cap, 0 when absent */
} reward_seen;

typedef struct parse_ctx {
    tp_config cfg;
    const char *source;  /* file name or "built-in defaults" */
    char base_dir[TP_CFG_PATH_MAX];
    tp_message *msg;
    int failed;
    int line;            /* current line, counted by the reader */
    FILE *file;          /* source: a file ... */
    const char *text;    /* ... or a string cursor */
    int pass;
    int secret_line;     /* first line of the main file holding a secret */
    char secret_what[80];
    char secrets_path[TP_CFG_PATH_MAX]; /* [store] secrets, resolved */
    char sync_password[512];            /* [sync] password */
    int n_pending;
    pending_amount pending[PENDING_AMOUNTS_MAX];
    reward_seen rewards_seen[TP_REWARDS_MAX];
    int redeem_pay_line, redeem_min_line, redeem_step_line; /* 0: not in the file */
} parse_ctx;

/* libinih as packaged does not pass line numbers to the handler, so the
 * reader counts lines itself; a message can then name the line. Over-long
 * lines are refused rather than silently cut. */
static char *read_line(char *buf, int cap, void *stream)
{
    parse_ctx *c = stream;
    if (c->failed)
        return NULL;
    int n = 0;
    for (;;) {
        int ch;
        if (c->file) {
            ch = fgetc(c->file);
            if (ch == EOF)
                break;
        } else {
            if (!*c->text)
                break;
            ch = (unsigned char)*c->text++;
        }
        if (n >= cap - 1) {
            c->line++;
            if (!c->failed)
                tp_msg_set(c->msg, "%s line %d is longer than %d characters.",
                           c->source, c->line, cap - 2);
            c->failed = 1;
            return NULL;
        }
        buf[n++] = (char)ch;
        if (ch == '\n')
            break;
    }
    if (n == 0)
        return NULL;
    buf[n] = '\0';
    c->line++;
    return buf;
}

static int fail(parse_ctx *c, const char *section, const char *key,
                const char *why)
{
    int line = c->line;
    if (!c->failed)
        tp_msg_set(c->msg, "%s line %d: [%s] %s %s", c->source, line, section,
                   key, why);
    c->failed = 1;
    return 0;
}

static int parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!*v)
        return -1;
    errno = 0;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

static int parse_list(const char *v, char list[][TP_CFG_LIST_ITEM_MAX + 1], int *count)
{
    int n = 0;
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        size_t len = (size_t)(end - start);
        if (n >= TP_CFG_LIST_MAX || len > sizeof list[0] - 1)
            return -1;
        memcpy(list[n], start, len);
        list[n][len] = '\0';
        n++;
    }
    *count = n;
    return 0;
}

static int parse_bool(const char *v)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on"))
        return 1;
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off"))
        return 0;
    return -1;
}

static int valid_id(const char *v);

/* The NAME of a [KIND "NAME"] section (`skip` = strlen(KIND)): quotes
 * optional, 1..TP_CFG_ID_MAX bytes, into id. `unnamed` is the sentence for
 * a missing or too long name; `invalid` (NULL: any text is a name) for one
 * that is not letters, digits, '-', '_' or '.'. 1, or fail()'s answer. */
static int section_name(parse_ctx *c, const char *section, size_t skip, const char *key,
                        const char *unnamed, const char *invalid, char id[TP_CFG_ID_MAX + 1])
{
    const char *name = section + skip;
    while (*name == ' ')
        name++;
    size_t len = strlen(name);
    if (len >= 2 && name[0] == '"' && name[len - 1] == '"') {
        name++;
        len -= 2;
    }
    if (len == 0 || len > TP_CFG_ID_MAX)
        return fail(c, section, key, unnamed);
    memcpy(id, name, len);
    id[len] = '\0';
    if (invalid && !valid_id(id))
        return fail(c, section, key, invalid);
    return 1;
}

/* [campaign "name"]: libinih gives the section text as written. Keys of
 * one section go to the campaign with that name, created on first use. */
static int campaign_key(parse_ctx *c, const char *section, const char *key, const char *value)
{
    tp_rules_config *r = &c->cfg.rules;
    char id[TP_CFG_ID_MAX + 1];
    int named = section_name(c, section, 8, key,
                             "belongs to a campaign section that needs a name: "
                             "[campaign \"name\"].",
                             NULL, id);
    if (named != 1)
        return named;
    tp_campaign *cp = NULL;
    for (int i = 0; i < r->n_campaigns; i++)
        if (strcmp(r->campaigns[i].name, id) == 0)
            cp = &r->campaigns[i];
    if (!cp) {
        if (r->n_campaigns >= TP_CAMPAIGNS_MAX)
            return fail(c, section, key, "is in one campaign too many (at most 16).");
        cp = &r->campaigns[r->n_campaigns++];
        memset(cp, 0, sizeof *cp);
        tp_copy(cp->name, sizeof cp->name, id);
        cp->multiplier = 1;
        cp->end_ms = INT64_MAX;
    }
    int64_t n = 0;
    if (strcmp(key, "multiplier") == 0) {
        if (parse_int(value, 1, 100, &n))
            return fail(c, section, key, "must be a whole number from 1 to 100.");
        cp->multiplier = n;
    } else if (strcmp(key, "bonus") == 0) {
        if (parse_int(value, 0, 1000000, &n))
            return fail(c, section, key, "must be a whole number of points from 0 to 1000000.");
        cp->bonus = n;
    } else if (strcmp(key, "start") == 0 || strcmp(key, "end") == 0) {
        if (tp_parse_utc(value, &n) != 0)
            return fail(c, section, key, "must be a UTC date such as 2026-12-01 or "
                                         "2026-12-01T08:00Z.");
        if (key[0] == 's')
            cp->start_ms = n;
        else
            cp->end_ms = n;
    } else if (strcmp(key, "location") == 0) {
        if (!valid_id(value))
            return fail(c, section, key, "must be a location id (1-32 letters, digits, '-', "
                                         "'_' or '.').");
        tp_copy(cp->location, sizeof cp->location, value);
    } else if (strcmp(key, "retro") == 0) {
        int b = parse_bool(value);
        if (b < 0)
            return fail(c, section, key, "must be yes or no.");
        cp->retro = b;
    } else {
        return fail(c, section, key, "is not a campaign setting (multiplier, bonus, start, "
                                     "end, location, retro).");
    }
    return 1;
}

/* [scanner "name"]: the keys are kept as text for the driver to check. */
static int scanner_key(parse_ctx *c, const char *section, const char *key, const char *value)
{
    char id[TP_CFG_ID_MAX + 1];
    int named = section_name(c, section, 7, key,
                             "belongs to a scanner section that needs a name: "
                             "[scanner \"front\"].",
                             "belongs to a scanner whose name is not 1-32 letters, "
                             "digits, '-', '_' or '.'.",
                             id);
    if (named != 1)
        return named;
    tp_scanner_config *sc = NULL;
    for (int i = 0; i < c->cfg.n_scanners; i++)
        if (strcmp(c->cfg.scanners[i].name, id) == 0)
            sc = &c->cfg.scanners[i];
    if (!sc) {
        if (c->cfg.n_scanners >= TP_SCANNERS_MAX)
            return fail(c, section, key, "is in one scanner too many (at most 8).");
        sc = &c->cfg.scanners[c->cfg.n_scanners++];
        memset(sc, 0, sizeof *sc);
        tp_copy(sc->name, sizeof sc->name, id);
        sc->line = c->line;
    }
    if (strcmp(key, "driver") == 0) {
        if (tp_copy(sc->driver, sizeof sc->driver, value) != 0 || !*value)
            return fail(c, section, key, "must name a driver, such as serial.");
        return 1;
    }
    if (sc->n_keys >= TP_SCANNER_KEYS_MAX)
        return fail(c, section, key, "is one setting too many for one scanner (at most 24).");
    if (tp_copy(sc->key[sc->n_keys], sizeof sc->key[0], key) != 0 ||
        tp_copy(sc->value[sc->n_keys], sizeof sc->value[0], value) != 0)
        return fail(c, section, key, "is too long (values up to 255 characters).");
    sc->n_keys++;
    return 1;
}

static int valid_id(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > TP_CFG_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr("-_.", v[i]))
            return 0;
    return 1;
}

/* sync: [sync] keys. */
static int sync_key(parse_ctx *c, const char *section, const char *key, const char *value)
{
    tp_sync_config *y = &c->cfg.sync;
    static const struct {
        const char *key;
        long min, max;
        size_t off;
    } ints[] = {
        {"batch", 1, 10000, offsetof(tp_sync_config, batch)},
        {"connect_timeout_s", 1, 300, offsetof(tp_sync_config, connect_timeout_s)},
        {"statement_timeout_ms", 100, 3600000, offsetof(tp_sync_config, statement_timeout_ms)},
        {"max_attempts", 1, 1000, offsetof(tp_sync_config, max_attempts)},
        {"backoff_min_ms", 1, 600000, offsetof(tp_sync_config, backoff_min_ms)},
        {"backoff_max_ms", 1, 3600000, offsetof(tp_sync_config, backoff_max_ms)},
        {"push_interval_ms", 10, 600000, offsetof(tp_sync_config, push_interval_ms)},
        {"pull_interval_ms", 10, 3600000, offsetof(tp_sync_config, pull_interval_ms)},
    };
    if (strcmp(key, "postgres") == 0) {
        if (strlen(value) >= sizeof y->postgres)
            return fail(c, section, key, "is too long (at most 1023 characters).");
        tp_copy(y->postgres, sizeof y->postgres, value);
        return 1;
    }
    if (strcmp(key, "password") == 0) {
        if (tp_copy(c->sync_password, sizeof c->sync_password, value) != 0)
            return fail(c, section, key, "is too long (at most 511 characters).");
        return 1;
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (strcmp(key, ints[i].key) != 0)
            continue;
        int64_t n = 0;
        if (parse_int(value, ints[i].min, ints[i].max, &n)) {
            char why[96];
            snprintf(why, sizeof why, "must be a whole number from %ld to %ld.", ints[i].min,
                     ints[i].max);
            return fail(c, section, key, why);
        }
        *(int *)(void *)((char *)y + ints[i].off) = (int)n;
        return 1;
    }
    return fail(c, section, key, "is not a [sync] setting (postgres, password, batch, "
                                 "connect_timeout_s, "
                                 "statement_timeout_ms, max_attempts, backoff_min_ms, "
                                 "backoff_max_ms, push_interval_ms, pull_interval_ms).");
}

/* Notes an amount to read when the currency is known (pending_amount). A
 * second value for the same field replaces the first. */
static int defer_amount(parse_ctx *c, const char *section, const char *key, const char *value,
                        int64_t *dest, int positive)
{
    pending_amount *p = NULL;
    for (int i = 0; i < c->n_pending; i++)
        if (c->pending[i].dest == dest)
            p = &c->pending[i];
    if (!p) {
        /* Every field that takes an amount has one slot; more cannot come. */
        if (c->n_pending >= PENDING_AMOUNTS_MAX)
            return fail(c, section, key, "is one amount too many.");
        p = &c->pending[c->n_pending++];
    }
    if (tp_copy(p->text, sizeof p->text, value) != 0)
        return fail(c, section, key, "is too long for an amount.");
    p->dest = dest;
    p->positive = positive;
    p->line = c->line;
    tp_copy(p->section, sizeof p->section, section);
    tp_copy(p->key, sizeof p->key, key);
    return 1;
}

/* The settings of a [reward "NAME"] section, in the order of the bits of
 * reward_seen.keys. */
static const char *const reward_keys[] = {
    "cost", "amount_off", "percent_off", "percent_cap", "free_sku", "min_basket",
    "max_per_receipt", "label",
};

/* [reward "NAME"]: a reward customers buy with points (docs/DESIGN.md §5).
 * Keys of one name go to one reward, created on first use; each key may
 * be given once, so a reward never means what its last line says. */
static int reward_key(parse_ctx *c, const char *section, const char *key, const char *value)
{
    char id[TP_CFG_ID_MAX + 1];
    int named = section_name(c, section, 6, key,
                             "belongs to a reward section that needs a name of 1-32 "
                             "letters, digits, '-', '_' or '.': [reward \"coffee\"].",
                             "belongs to a reward whose name is not 1-32 letters, "
                             "digits, '-', '_' or '.'.",
                             id);
    if (named != 1)
        return named;
    int index = -1;
    for (int i = 0; i < c->cfg.n_rewards; i++)
        if (strcmp(c->cfg.rewards[i].name, id) == 0)
            index = i;
    if (index < 0) {
        if (c->cfg.n_rewards >= TP_REWARDS_MAX)
            return fail(c, section, key, "is in one reward too many (at most 32).");
        index = c->cfg.n_rewards++;
        tp_reward_config *fresh = &c->cfg.rewards[index];
        memset(fresh, 0, sizeof *fresh);
        tp_copy(fresh->name, sizeof fresh->name, id);
        fresh->max_per_receipt = 1;
        memset(&c->rewards_seen[index], 0, sizeof c->rewards_seen[index]);
        c->rewards_seen[index].line = c->line;
    }
    tp_reward_config *rw = &c->cfg.rewards[index];
    reward_seen *seen = &c->rewards_seen[index];
    size_t k = 0;
    while (k < sizeof reward_keys / sizeof reward_keys[0] && strcmp(reward_keys[k], key) != 0)
        k++;
    if (k == sizeof reward_keys / sizeof reward_keys[0])
        return fail(c, section, key, "is not a reward setting (cost, amount_off, percent_off, "
                                     "percent_cap, free_sku, min_basket, max_per_receipt, "
                                     "label).");
    if (seen->keys & (1u << k))
        return fail(c, section, key, "is given twice for this reward; keep one.");
    seen->keys |= 1u << k;

    int64_t n = 0;
    tp_reward_kind kind = strcmp(key, "amount_off") == 0    ? TP_REWARD_AMOUNT_OFF
                          : strcmp(key, "percent_off") == 0 ? TP_REWARD_PERCENT_OFF
                          : strcmp(key, "free_sku") == 0    ? TP_REWARD_FREE_SKU
                                                            : TP_REWARD_NONE;
    if (kind != TP_REWARD_NONE && rw->kind != TP_REWARD_NONE)
        return fail(c, section, key, "is a second kind of reward: a reward is exactly one of "
                                     "amount_off, percent_off or free_sku.");
    if (kind != TP_REWARD_NONE)
        rw->kind = kind;
    if (strcmp(key, "cost") == 0) {
        if (parse_int(value, 1, TP_ADJUST_MAX, &n)) {
            char why[96];
            snprintf(why, sizeof why, "must be a whole number of points from 1 to %lld.",
                     (long long)TP_ADJUST_MAX);
            return fail(c, section, key, why);
        }
        rw->cost = n;
    } else if (kind == TP_REWARD_AMOUNT_OFF) {
        return defer_amount(c, section, key, value, &rw->amount_off_minor, 1);
    } else if (kind == TP_REWARD_PERCENT_OFF) {
        if (parse_int(value, 1, 100, &n))
            return fail(c, section, key, "must be a whole number from 1 to 100.");
        rw->percent_off = n;
    } else if (strcmp(key, "percent_cap") == 0) {
        seen->cap_line = c->line;
        return defer_amount(c, section, key, value, &rw->percent_cap_minor, 1);
    } else if (kind == TP_REWARD_FREE_SKU) {
        if (!*value || tp_copy(rw->free_sku, sizeof rw->free_sku, value) != 0)
            return fail(c, section, key, "must be a SKU of 1 to 64 bytes.");
    } else if (strcmp(key, "min_basket") == 0) {
        return defer_amount(c, section, key, value, &rw->min_basket_minor, 0);
    } else if (strcmp(key, "max_per_receipt") == 0) {
        if (parse_int(value, 1, 100, &n))
            return fail(c, section, key, "must be a whole number from 1 to 100.");
        rw->max_per_receipt = (int)n;
    } else { /* label */
        size_t bytes = tp_bounded_len(value, TP_NAME_MAX);
        if (!*value || bytes == (size_t)-1 || !tp_utf8_valid(value, bytes))
            return fail(c, section, key, "must be 1 to 128 bytes of UTF-8 text (a letter with "
                                         "an accent takes two).");
        tp_copy(rw->label, sizeof rw->label, value);
    }
    return 1;
}

/* [redeem]: paying with points, and what earning and refunds do when a
 * receipt spends points (docs/DESIGN.md §5). */
static int redeem_key(parse_ctx *c, const char *section, const char *key, const char *value)
{
    tp_redeem_config *d = &c->cfg.redeem;
    int main_file = c->pass == PASS_MAIN;
    int64_t n = 0;
    if (strcmp(key, "pay_with_points") == 0) {
        int b = parse_bool(value);
        if (b < 0)
            return fail(c, section, key, "must be yes or no.");
        d->pay_with_points = b;
        if (main_file)
            c->redeem_pay_line = c->line;
    } else if (strcmp(key, "points_per_unit") == 0) {
        if (parse_int(value, 1, 1000000, &n))
            return fail(c, section, key, "must be a whole number of points from 1 to 1000000.");
        d->points_per_unit = n;
    } else if (strcmp(key, "unit") == 0) {
        return defer_amount(c, section, key, value, &d->unit_minor, 1);
    } else if (strcmp(key, "min_points") == 0 || strcmp(key, "step_points") == 0) {
        if (parse_int(value, 1, TP_ADJUST_MAX, &n)) {
            char why[96];
            snprintf(why, sizeof why, "must be a whole number of points from 1 to %lld.",
                     (long long)TP_ADJUST_MAX);
            return fail(c, section, key, why);
        }
        if (key[0] == 'm') {
            d->min_points = n;
            if (main_file)
                c->redeem_min_line = c->line;
        } else {
            d->step_points = n;
            if (main_file)
                c->redeem_step_line = c->line;
        }
    } else if (strcmp(key, "earn_on") == 0) {
        if (strcmp(value, "paid") == 0)
            d->earn_on = TP_EARN_ON_PAID;
        else if (strcmp(value, "eligible") == 0)
            d->earn_on = TP_EARN_ON_ELIGIBLE;
        else
            return fail(c, section, key, "must be paid (points are earned on the eligible "
                                         "amount minus what points paid for) or eligible.");
    } else if (strcmp(key, "refund") == 0) {
        if (strcmp(value, "back") == 0)
            d->refund = TP_POINTS_REFUND_BACK;
        else if (strcmp(value, "kept") == 0)
            d->refund = TP_POINTS_REFUND_KEPT;
        else
            return fail(c, section, key, "must be back (a refund gives spent points back in "
                                         "proportion) or kept.");
    } else if (strcmp(key, "confirm_timeout_ms") == 0) {
        if (parse_int(value, 100, 30000, &n))
            return fail(c, section, key, "must be a whole number of milliseconds from 100 to "
                                         "30000.");
        d->confirm_timeout_ms = (int)n;
    } else if (strcmp(key, "offline_allowance") == 0) {
        if (parse_int(value, 0, TP_ADJUST_MAX, &n)) {
            char why[96];
            snprintf(why, sizeof why, "must be a whole number of points from 0 to %lld.",
                     (long long)TP_ADJUST_MAX);
            return fail(c, section, key, why);
        }
        d->offline_allowance = n;
    } else {
        return fail(c, section, key, "is not a [redeem] setting (pay_with_points, "
                                     "points_per_unit, unit, min_points, step_points, earn_on, "
                                     "refund, confirm_timeout_ms, offline_allowance).");
    }
    return 1;
}

/* A section named "NAME" or "NAME ...": [reward "x"], never [rewards]. */
static int section_is(const char *section, const char *name)
{
    size_t n = strlen(name);
    return strncmp(section, name, n) == 0 &&
           (section[n] == '\0' || section[n] == ' ' || section[n] == '"');
}

/* The secrets file holds secret settings only; the main file's first
 * secret is remembered, to be refused if others can read that file. */
static int note_secret(parse_ctx *c, const char *section, const char *key, const char *value)
{
    int secret = tp_secret_is_key(section, key);
    if (c->pass == PASS_SECRETS && !secret) {
        char list[160], why[TP_MESSAGE_MAX];
        tp_secret_key_list(list, sizeof list);
        snprintf(why, sizeof why, "is not a secret: it belongs in the main configuration file "
                 "(the secrets file holds %s only).", list);
        fail(c, section, key, why);
        return -1;
    }
    if (c->pass == PASS_MAIN && !c->secret_line && *value &&
        (secret || (strcmp(section, "sync") == 0 && strcmp(key, "postgres") == 0 &&
                    tp_secret_conninfo_has_password(value)))) {
        c->secret_line = c->line;
        snprintf(c->secret_what, sizeof c->secret_what, "[%s] %s%s", section, key,
                 secret ? "" : " (its password)");
    }
    return 0;
}

static int on_key(void *user, const char *section, const char *key,
                  const char *value)
{
    parse_ctx *c = user;
    tp_config *cfg = &c->cfg;
    int64_t n = 0;

    if (c->failed)
        return 0;
    if (note_secret(c, section, key, value) != 0)
        return 0;
#define IS(s, k) (strcmp(section, s) == 0 && strcmp(key, k) == 0)
    if (IS("store", "location") || IS("store", "terminal")) {
        if (!valid_id(value))
            return fail(c, section, key,
                        "must be 1-32 letters, digits, '-', '_' or '.'.");
        tp_copy(strcmp(key, "location") == 0 ? cfg->location : cfg->terminal,
                TP_CFG_ID_MAX + 1, value);
    } else if (IS("store", "currency")) {
        if (strlen(value) != 3 || !isupper((unsigned char)value[0]) ||
            !isupper((unsigned char)value[1]) || !isupper((unsigned char)value[2]))
            return fail(c, section, key,
                        "must be an ISO 4217 code of three capital letters, such as EUR.");
        tp_copy(cfg->currency, sizeof cfg->currency, value);
    } else if (IS("store", "database")) {
        if (!*value)
            return fail(c, section, key, "must name a file.");
        int r;
        if (value[0] != '/' && c->base_dir[0])
            r = snprintf(cfg->database, sizeof cfg->database, "%s/%s", c->base_dir, value);
        else
            r = snprintf(cfg->database, sizeof cfg->database, "%s", value);
        if (r < 0 || (size_t)r >= sizeof cfg->database)
            return fail(c, section, key, "is too long.");
    } else if (IS("store", "secrets")) {
        int r = 0;
        if (!*value)
            c->secrets_path[0] = '\0';
        else if (value[0] != '/' && c->base_dir[0])
            r = snprintf(c->secrets_path, sizeof c->secrets_path, "%s/%s", c->base_dir, value);
        else
            r = snprintf(c->secrets_path, sizeof c->secrets_path, "%s", value);
        if (r < 0 || (size_t)r >= sizeof c->secrets_path)
            return fail(c, section, key, "is too long.");
    } else if (IS("store", "default_country_code")) {
        if (parse_int(value, 1, 999, &n))
            return fail(c, section, key, "must be a calling code from 1 to 999, such as 49.");
        cfg->default_country_code = (int)n;
    } else if (IS("program", "visit_period_hours")) {
        if (parse_int(value, 0, 24LL * 366, &n))
            return fail(c, section, key, "must be a whole number of hours from 0 to 8784.");
        cfg->rules.visit_period_ms = n * (int64_t)3600000;
    } else if (IS("program", "allow_negative_balance")) {
        int b = parse_bool(value);
        if (b < 0)
            return fail(c, section, key, "must be yes or no.");
        cfg->allow_negative_balance = b;
    } else if (strncmp(section, "campaign", 8) == 0) {
        return campaign_key(c, section, key, value);
    } else if (IS("program", "kind")) {
        if (strcmp(value, "spend") == 0)
            cfg->rules.kind = TP_PROGRAM_SPEND;
        else if (strcmp(value, "visits") == 0)
            cfg->rules.kind = TP_PROGRAM_VISITS;
        else
            return fail(c, section, key, "must be spend or visits.");
    } else if (IS("program", "points_per_unit")) {
        if (parse_int(value, 1, 1000000, &n))
            return fail(c, section, key, "must be a whole number from 1 to 1000000.");
        cfg->rules.points_per_unit = n;
    } else if (IS("program", "unit_minor")) {
        if (parse_int(value, 1, 100000000, &n))
            return fail(c, section, key, "must be a whole number from 1 to 100000000.");
        cfg->rules.unit_minor = n;
    } else if (IS("program", "rounding")) {
        if (strcmp(value, "floor") == 0)
            cfg->rules.rounding = TP_ROUND_FLOOR;
        else if (strcmp(value, "nearest") == 0)
            cfg->rules.rounding = TP_ROUND_NEAREST;
        else if (strcmp(value, "ceil") == 0)
            cfg->rules.rounding = TP_ROUND_CEIL;
        else
            return fail(c, section, key, "must be floor, nearest or ceil.");
    } else if (IS("program", "min_eligible_minor")) {
        if (parse_int(value, 0, TP_AMOUNT_MAX, &n))
            return fail(c, section, key, "must be a whole number of minor units, 0 or more.");
        cfg->rules.min_eligible_minor = n;
    } else if (IS("program", "cap_per_receipt")) {
        if (parse_int(value, 0, 1000000000, &n))
            return fail(c, section, key, "must be a whole number from 0 (no cap) to 1000000000.");
        cfg->rules.cap_per_receipt = n;
    } else if (IS("program", "exclude_categories")) {
        if (parse_list(value, cfg->rules.excluded_categories, &cfg->rules.n_excluded_categories))
            return fail(c, section, key, "takes at most 32 names of at most 64 characters.");
    } else if (IS("program", "exclude_skus")) {
        if (parse_list(value, cfg->rules.excluded_skus, &cfg->rules.n_excluded_skus))
            return fail(c, section, key, "takes at most 32 SKUs of at most 64 characters.");
    } else if (IS("limits", "queue_capacity")) {
        if (parse_int(value, 16, 1000000, &n))
            return fail(c, section, key, "must be from 16 to 1000000.");
        cfg->queue_capacity = (int)n;
    } else if (IS("limits", "batch_max")) {
        if (parse_int(value, 1, 10000, &n))
            return fail(c, section, key, "must be from 1 to 10000.");
        cfg->batch_max = (int)n;
    } else if (IS("limits", "max_open_transactions")) {
        if (parse_int(value, 1, 10000, &n))
            return fail(c, section, key, "must be from 1 to 10000.");
        cfg->max_open_transactions = (int)n;
    } else if (IS("limits", "verify_step_rows")) {
        if (parse_int(value, 1, 10000000, &n))
            return fail(c, section, key, "must be from 1 to 10000000.");
        cfg->verify_step_rows = n;
    } else if (IS("limits", "shutdown_deadline_ms")) {
        if (parse_int(value, 100, 60000, &n))
            return fail(c, section, key, "must be a number of milliseconds from 100 to 60000.");
        cfg->shutdown_deadline_ms = (int)n;
    } else if (IS("retro", "window_days")) {
        if (parse_int(value, 1, 3660, &n))
            return fail(c, section, key, "must be a number of days from 1 to 3660.");
        cfg->retro.window_ms = n * (int64_t)86400000;
    } else if (IS("retro", "max_points_per_credit") || IS("retro", "max_points_per_manager_day") ||
               IS("retro", "manual_max_points")) {
        if (parse_int(value, 0, 100000000, &n))
            return fail(c, section, key, "must be a whole number of points from 0 to 100000000.");
        if (strcmp(key, "max_points_per_credit") == 0)
            cfg->retro.max_points_per_credit = n;
        else if (strcmp(key, "manual_max_points") == 0)
            cfg->retro.manual_max_points = n;
        else
            cfg->retro.max_points_per_manager_day = n;
    } else if (IS("retro", "allow_manual")) {
        int b = parse_bool(value);
        if (b < 0)
            return fail(c, section, key, "must be yes or no.");
        cfg->retro.allow_manual = b;
    } else if (IS("retro", "pin_max_failures")) {
        if (parse_int(value, 1, 100, &n))
            return fail(c, section, key, "must be from 1 to 100.");
        cfg->retro.pin_max_failures = (int)n;
    } else if (IS("retro", "pin_lockout_minutes")) {
        if (parse_int(value, 1, 7LL * 24 * 60, &n))
            return fail(c, section, key, "must be a number of minutes from 1 to 10080.");
        cfg->retro.pin_lockout_ms = n * (int64_t)60000;
    } else if (IS("retro", "pin_lockout_seconds")) {
        /* Finer than minutes, for shops (and tests) that want short locks. */
        if (parse_int(value, 1, 7LL * 24 * 3600, &n))
            return fail(c, section, key, "must be a number of seconds from 1 to 604800.");
        cfg->retro.pin_lockout_ms = n * (int64_t)1000;
    } else if (IS("retro", "pin_min_digits")) {
        /* Four digits is the floor: 10,000 PINs fall to a patient guesser
         * even with growing lockouts (managers.c). */
        if (parse_int(value, 4, 12, &n))
            return fail(c, section, key, "must be from 4 to 12 digits; a PIN shorter than 4 "
                                         "digits is too easy to guess.");
        cfg->retro.pin_min_digits = (int)n;
    } else if (IS("retro", "trust_host_managers")) {
        int b = parse_bool(value);
        if (b < 0)
            return fail(c, section, key, "must be yes or no.");
        cfg->retro.trust_host_managers = b;
    } else if (IS("expiry", "months")) {
        if (parse_int(value, 0, TP_EXPIRY_MONTHS_MAX, &n))
            return fail(c, section, key, "must be a whole number of months from 0 (points "
                                         "never expire) to 120.");
        cfg->expiry_months = (int)n;
    } else if (IS("retro", "future_skew_minutes")) {
        if (parse_int(value, 0, 60, &n))
            return fail(c, section, key, "must be a number of minutes from 0 to 60.");
        cfg->retro.future_skew_ms = n * (int64_t)60000;
    } else if (IS("retro", "recent_receipts")) {
        if (parse_int(value, 1, 20, &n))
            return fail(c, section, key, "must be from 1 to 20.");
        cfg->retro.recent_receipts = (int)n;
    } else if (IS("scan", "dedup_ms")) {
        if (parse_int(value, 0, 60000, &n))
            return fail(c, section, key, "must be a number of milliseconds from 0 to 60000.");
        cfg->scan_dedup_ms = n;
    } else if (section_is(section, "reward")) {
        return reward_key(c, section, key, value);
    } else if (strcmp(section, "redeem") == 0) {
        return redeem_key(c, section, key, value);
    } else if (strcmp(section, "sync") == 0) { /* sync: [sync] keys */
        return sync_key(c, section, key, value);
    } else if (strncmp(section, "scanner", 7) == 0) {
        return scanner_key(c, section, key, value);
    } else if (strcmp(section, "scan") == 0) {
        char why[TP_MESSAGE_MAX];
        tp_status st = tp_payload_config_set(&cfg->scan, key, value, why, sizeof why);
        if (st == TP_ERR_NOT_FOUND)
            return fail(c, section, key, "is not a setting tillpoints knows; check its spelling.");
        if (st != TP_OK) {
            if (!c->failed)
                tp_msg_set(c->msg, "%s line %d: [scan] %s", c->source, c->line, why);
            c->failed = 1;
            return 0;
        }
    } else {
        return fail(c, section, key, "is not a setting tillpoints knows; check its spelling.");
    }
#undef IS
    return 1;
}

static tp_status parse_defaults(parse_ctx *c, tp_message *msg)
{
    memset(c, 0, sizeof *c);
    c->msg = msg;
    c->source = "built-in defaults";
    c->text = tp_config_defaults_ini;
    c->pass = PASS_DEFAULTS;
    c->cfg.scan = tp_payload_config_default();
    if (ini_parse_stream(read_line, c, on_key, c) != 0 || c->failed) {
        /* The defaults are part of the build; failing here is a bug. */
        if (!c->failed)
            tp_msg_set(msg, "The built-in configuration is invalid.");
        return TP_ERR_INTERNAL;
    }
    return TP_OK;
}

/* ini_parse_stream's answer as a status: a handler's sentence, or the
 * first line that is not INI. */
static tp_status parsed(parse_ctx *c, int rc, tp_message *msg)
{
    if (c->failed)
        return TP_ERR_CONFIG;
    if (rc < 0) {
        tp_msg_set(msg, "Cannot read the configuration file %s.", c->source);
        return TP_ERR_CONFIG;
    }
    if (rc != 0) {
        tp_msg_set(msg, "%s line %d: this line is not 'key = value' or '[section]'.",
                   c->source, rc);
        return TP_ERR_CONFIG;
    }
    return TP_OK;
}

/* Reads the secrets file: systemd's credential when the service got one,
 * else [store] secrets, else nothing. Its settings replace the main
 * file's. See secrets.h for the rules it must meet. */
static tp_status load_secrets(parse_ctx *c, const char *named_by, tp_message *msg)
{
    char cred[TP_CFG_PATH_MAX];
    int from_systemd = tp_secret_credential_path(cred, sizeof cred);
    const char *path = from_systemd ? cred : c->secrets_path;
    if (!*path)
        return TP_OK;
    /* O_NONBLOCK: a FIFO named by mistake must not hang init (it is then
     * refused as not a regular file); regular files ignore the flag. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        tp_msg_set(msg, "Cannot open the secrets file %s (%s): %s.", path,
                   from_systemd ? "systemd credential " TP_SECRETS_CREDENTIAL : named_by,
                   strerror(errno));
        return TP_ERR_CONFIG;
    }
    struct stat st;
    tp_status status = TP_OK;
    if (fstat(fd, &st) != 0) {
        tp_msg_set(msg, "Cannot read the secrets file %s: %s.", path, strerror(errno));
        status = TP_ERR_CONFIG;
    } else if (from_systemd) {
        /* systemd gives the credential to the unit's user alone
         * (systemd.exec(5), "Credentials"), possibly through an ACL that
         * shows as group bits: only its kind is checked. */
        if (!S_ISREG(st.st_mode)) {
            tp_msg_set(msg, "The secrets file %s is not a regular file.", path);
            status = TP_ERR_CONFIG;
        }
    } else {
        status = tp_secret_file_check(&st, path, geteuid(), msg);
    }
    FILE *f = status == TP_OK ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (status == TP_OK) {
            tp_msg_set(msg, "Cannot read the secrets file %s: %s.", path, strerror(errno));
            status = TP_ERR_CONFIG;
        }
        close(fd);
        return status;
    }
    const char *main_source = c->source;
    c->source = path;
    c->file = f;
    c->text = NULL;
    c->line = 0;
    c->pass = PASS_SECRETS;
    int rc = ini_parse_stream(read_line, c, on_key, c);
    fclose(f);
    c->file = NULL;
    status = parsed(c, rc, msg);
    c->source = main_source; /* `path` may be this function's buffer */
    return status;
}

/* Reads the amounts noted by defer_amount with the decimals of the store's
 * currency, exactly: "5.00" in EUR is 500, "5.001" is refused, as is
 * "5.5" in JPY. */
static tp_status read_amounts(parse_ctx *c)
{
    int exponent = tp_currency_exponent(c->cfg.currency);
    for (int i = 0; i < c->n_pending; i++) {
        const pending_amount *p = &c->pending[i];
        int64_t minor = 0;
        if (tp_money_parse(p->text, exponent, &minor) == 0 && (minor > 0 || !p->positive)) {
            *p->dest = minor;
            continue;
        }
        char example[TP_MONEY_TEXT_SIZE];
        tp_money_format(example, sizeof example, 5 * (int64_t)tp_money_unit(exponent),
                        exponent);
        char decimals[48];
        if (exponent == 0)
            snprintf(decimals, sizeof decimals, "without decimals");
        else
            snprintf(decimals, sizeof decimals, "with at most %d decimal%s", exponent,
                     exponent == 1 ? "" : "s");
        tp_msg_set(c->msg, "%s line %d: [%s] %s must be an amount in %s %s, %s, such as %s.",
                   c->source, p->line, p->section, p->key, c->cfg.currency, decimals,
                   p->positive ? "more than 0" : "0 or more", example);
        return TP_ERR_CONFIG;
    }
    return TP_OK;
}

/* What only the whole file can tell about [reward] and [redeem]: a
 * reward's cost and kind, a cap without a percent, the rate that paying
 * with points needs, and a minimum the step can reach. */
static tp_status check_spending(parse_ctx *c)
{
    tp_status st = read_amounts(c);
    if (st != TP_OK)
        return st;
    for (int i = 0; i < c->cfg.n_rewards; i++) {
        tp_reward_config *rw = &c->cfg.rewards[i];
        const reward_seen *seen = &c->rewards_seen[i];
        if (!rw->cost) {
            tp_msg_set(c->msg, "%s line %d: [reward \"%s\"] cost is missing: the points the "
                       "reward costs, a whole number from 1 to %lld.", c->source, seen->line,
                       rw->name, (long long)TP_ADJUST_MAX);
            return TP_ERR_CONFIG;
        }
        if (rw->kind == TP_REWARD_NONE) {
            tp_msg_set(c->msg, "%s line %d: [reward \"%s\"] needs what the customer gets: "
                       "one of amount_off, percent_off or free_sku.", c->source, seen->line,
                       rw->name);
            return TP_ERR_CONFIG;
        }
        if (seen->cap_line && rw->kind != TP_REWARD_PERCENT_OFF) {
            tp_msg_set(c->msg, "%s line %d: [reward \"%s\"] percent_cap only bounds a "
                       "percent_off reward; this reward has no percent_off.", c->source,
                       seen->cap_line, rw->name);
            return TP_ERR_CONFIG;
        }
        if (!rw->label[0])
            tp_copy(rw->label, sizeof rw->label, rw->name);
    }
    tp_redeem_config *d = &c->cfg.redeem;
    if (d->pay_with_points && (!d->points_per_unit || !d->unit_minor)) {
        tp_msg_set(c->msg, "%s line %d: [redeem] pay_with_points = yes needs the rate: "
                   "points_per_unit and unit (100 and 1.00: 100 points pay 1.00).", c->source,
                   c->redeem_pay_line);
        return TP_ERR_CONFIG;
    }
    int min_given = d->min_points != 0;
    if (!min_given)
        d->min_points = d->points_per_unit;
    if (d->min_points % d->step_points != 0) {
        int64_t below = d->min_points / d->step_points * d->step_points;
        int64_t above = below + d->step_points;
        char such[64];
        if (below > 0)
            snprintf(such, sizeof such, "%lld or %lld", (long long)below, (long long)above);
        else
            snprintf(such, sizeof such, "%lld", (long long)above);
        if (min_given)
            tp_msg_set(c->msg, "%s line %d: [redeem] min_points (%lld) must be a multiple of "
                       "step_points (%lld), such as %s.", c->source, c->redeem_min_line,
                       (long long)d->min_points, (long long)d->step_points, such);
        else
            tp_msg_set(c->msg, "%s line %d: [redeem] min_points, points_per_unit (%lld) when "
                       "not given, must be a multiple of step_points (%lld); set min_points "
                       "to %s.", c->source, c->redeem_step_line, (long long)d->min_points,
                       (long long)d->step_points, such);
        return TP_ERR_CONFIG;
    }
    return TP_OK;
}

static tp_status finish(parse_ctx *c, tp_config *out, tp_message *msg)
{
    for (int i = 0; i < c->cfg.n_scanners; i++) {
        if (!c->cfg.scanners[i].driver[0]) {
            tp_msg_set(msg, "%s line %d: scanner %s needs a driver = line (serial, ...).",
                       c->source, c->cfg.scanners[i].line, c->cfg.scanners[i].name);
            return TP_ERR_CONFIG;
        }
    }
    const tp_rules_config *r = &c->cfg.rules;
    for (int i = 0; i < r->n_campaigns; i++) {
        if (r->campaigns[i].start_ms >= r->campaigns[i].end_ms) {
            tp_msg_set(msg, "%s: campaign %s ends before it starts.", c->source,
                       r->campaigns[i].name);
            return TP_ERR_CONFIG;
        }
    }
    if (check_spending(c) != TP_OK)
        return TP_ERR_CONFIG;
    if (c->cfg.sync.backoff_min_ms > c->cfg.sync.backoff_max_ms) { /* sync: */
        tp_msg_set(msg, "%s: [sync] backoff_min_ms is larger than backoff_max_ms.", c->source);
        return TP_ERR_CONFIG;
    }
    /* The password joins the connection string here, so the sync code
     * connects with one string whichever file the password came from. */
    if (c->sync_password[0] && c->cfg.sync.postgres[0] &&
        tp_secret_conninfo_add_password(c->cfg.sync.postgres, sizeof c->cfg.sync.postgres,
                                        c->sync_password, msg) != TP_OK)
        return TP_ERR_CONFIG;
    char why[TP_MESSAGE_MAX];
    if (tp_payload_config_check(&c->cfg.scan, why, sizeof why) != TP_OK) {
        tp_msg_set(msg, "%s: [scan] %s", c->source, why);
        return TP_ERR_CONFIG;
    }
    *out = c->cfg;
    return TP_OK;
}

/* Frees the context without leaving key material in freed memory. */
static void ctx_free(parse_ctx *c)
{
    if (!c)
        return;
    sodium_memzero(c, sizeof *c);
    free(c);
}

tp_status tp_config_load(tp_config *out, const char *path, tp_message *msg)
{
    tp_msg_clear(msg);
    if (!out) {
        tp_msg_set(msg, "No configuration to fill.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    parse_ctx *c = malloc(sizeof *c);
    if (!c) {
        tp_msg_set(msg, "Out of memory reading the configuration.");
        return TP_ERR_NO_MEMORY;
    }
    tp_status st = parse_defaults(c, msg);
    if (st != TP_OK)
        goto out;
    if (!path) {
        st = load_secrets(c, "[store] secrets", msg);
        goto done;
    }
    if (tp_bounded_len(path, TP_CFG_PATH_MAX - 1) == (size_t)-1) {
        tp_msg_set(msg, "The configuration file name is too long.");
        st = TP_ERR_TOO_LONG;
        goto out;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        tp_msg_set(msg, "Cannot open the configuration file %s: %s.", path, strerror(errno));
        st = TP_ERR_CONFIG;
        goto out;
    }
    c->source = path;
    c->file = f;
    c->text = NULL;
    c->line = 0;
    c->pass = PASS_MAIN;
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(c->base_dir, sizeof c->base_dir, "%.*s", (int)(slash - path), path);
    if (slash == path)
        tp_copy(c->base_dir, sizeof c->base_dir, "/");
    int rc = ini_parse_stream(read_line, c, on_key, c);
    struct stat fst;
    int shared = fstat(fileno(f), &fst) == 0 && tp_secret_file_is_shared(&fst);
    fclose(f);
    c->file = NULL;
    st = parsed(c, rc, msg);
    if (st == TP_OK && shared && c->secret_line) {
        /* Whoever can read this file would read the secret: refused, not
         * warned, because a warning in a log does not take it back. */
        tp_msg_set(msg, "%s line %d: %s is a secret, and this file can be read by others "
                   "(mode %04o); move it to the secrets file ([store] secrets, see "
                   "tillpoints.conf(5)), or make this file readable by its owner only.",
                   path, c->secret_line, c->secret_what, (unsigned)(fst.st_mode & 07777));
        st = TP_ERR_CONFIG;
    }
    if (st == TP_OK) {
        char named_by[TP_CFG_PATH_MAX + 32];
        snprintf(named_by, sizeof named_by, "[store] secrets in %s", path);
        st = load_secrets(c, named_by, msg);
    }
done:
    if (st == TP_OK)
        st = finish(c, out, msg);
out:
    ctx_free(c);
    return st;
}

tp_status tp_config_load_string(tp_config *out, const char *text, tp_message *msg)
{
    tp_msg_clear(msg);
    if (!out || !text) {
        tp_msg_set(msg, "No configuration text.");
        return TP_ERR_INVALID_ARGUMENT;
    }
    parse_ctx *c = malloc(sizeof *c);
    if (!c) {
        tp_msg_set(msg, "Out of memory reading the configuration.");
        return TP_ERR_NO_MEMORY;
    }
    tp_status st = parse_defaults(c, msg);
    if (st == TP_OK) {
        c->source = "configuration";
        c->text = text;
        c->line = 0;
        c->pass = PASS_MAIN;
        int rc = ini_parse_stream(read_line, c, on_key, c);
        st = parsed(c, rc, msg);
        if (st == TP_OK)
            st = load_secrets(c, "[store] secrets", msg);
        if (st == TP_OK)
            st = finish(c, out, msg);
    }
    ctx_free(c);
    return st;
}
