/*
 * till.c — tillpoints-till, the reference host: a small terminal till that
 * loads tillpoints.so with dlopen and drives it the way a POS would.
 *
 * Interactive, it polls the keyboard and the plugin's wake-up pipe in one
 * loop, so events (member identified, points awarded) appear as they
 * arrive and the till never waits on the plugin. With --script it reads
 * the same commands from a file, echoes them, and after each command waits
 * for the plugin to settle, so that a transcript is deterministic (the
 * demo and the end-to-end tests rely on that).
 *
 * Spending points (ABI 2.5; docs/INTEGRATING.md, "Spending points at the
 * till"): `redeem` applies the plugin's discount line at once and keeps it
 * in the sale's own list; the confirmation or refusal arrives as an event
 * and updates that list (a refused line is taken off again, as a host
 * must). `pay` then charges what is left after the redemptions.
 *
 * Forms (ext/ui.h): `retro`, `claims`, `claim` and `correct` open one of the
 * plugin's actions for the person logged in (`login ID manager|cashier`).
 * The role is what a POS's own login would say; the plugin only uses it to
 * prefill a manager's id as the approver, and still asks for that
 * manager's PIN (unless the store set [retro] trust_host_managers);
 * the plugin presents the form, forms.c prints it and asks each field, the
 * till submits, until the plugin dismisses it. The answers come from the
 * same line source as the commands: the next lines of the script, or the
 * keyboard (PINs with echo off).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forms.h"
#include "host.h"
#include "tillpoints/money.h"
#include "tillpoints/ext/scanners.h"

#define MAX_ARGS 16
#define LINE_MAX_LEN 1024
#define SETTLE_MS 10000
#define FORM_WAIT_MS 30000 /* a silent plugin: the form is closed after this */
#define TILL_REDEEM_MAX 16 /* redemption lines one sale keeps; the plugin may allow fewer */
#define TILL_OFFERS_MAX 32 /* rewards listed at once (the plugin's config caps them at 32) */

/* A redemption line of the open sale, as redeem() gave it. */
enum { RED_WAITING = 1, RED_CONFIRMED, RED_REFUSED };
typedef struct till_redemption {
    uint32_t no; /* the plugin's number in the sale; 0: a free slot */
    int state;   /* RED_* */
    int64_t points;
    int64_t discount_minor;
    char label[TP_NAME_MAX + 1];
} till_redemption;

typedef struct till {
    tp_hostlib *h;
    const tp_plugin *p;
    const tp_checkout_ext *co;
    const tp_admin_set *ad;
    int script;          /* echo commands, settle after each */
    int failures;        /* commands refused */
    char currency[4];
    char staff[TP_STAFF_ID_MAX + 1];
    char role[16];       /* "cashier" or "manager", for forms */
    FILE *in;            /* the line source: the script or stdin */
    const tp_ui_ext *ui; /* NULL when the plugin has no forms */
    tp_forms_session forms;
    int open;
    char txn[TP_TXN_ID_MAX + 1];
    int sales;           /* counter for generated sale ids */
    int refunds;
    size_t nlines;
    tp_line *lines;      /* TP_LINES_MAX; owned */
    char (*skus)[TP_SKU_MAX + 1];
    char (*cats)[TP_CATEGORY_MAX + 1];
    till_redemption red[TILL_REDEEM_MAX]; /* the open sale's redemptions */
} till;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static int begin_sale(till *t, const char *id);
static int refused(till *t, tp_status st, const tp_message *msg);
static void format_money(const till *t, char *buf, size_t cap, int64_t minor);
static void on_redeem_event(till *t, const tp_event *ev);
static void print_offers(const till *t, const tp_reward_offer *offers, size_t stride,
                         size_t count);

/* A few words on a balance that is not simply the central's or the local
 * ledger's (docs/DESIGN.md §8, "One balance"): 1 when there is something
 * to say. Standalone and fresh central balances say nothing. */
static int expiry_note(int64_t points, int64_t at_ms, char *out, size_t cap);
static int balance_note(const char *source, int64_t as_of_ms, char *out, size_t cap)
{
    if (!source || strcmp(source, "confirmed+pending") != 0)
        return 0;
    char when[16] = "";
    time_t t = (time_t)(as_of_ms / 1000);
    struct tm tm;
    if (as_of_ms <= 0 || !gmtime_r(&t, &tm) || strftime(when, sizeof when, "%H:%M:%S", &tm) == 0)
        snprintf(out, cap, "balance not yet confirmed by the central database");
    else
        snprintf(out, cap, "balance confirmed centrally at %s UTC, plus this till's "
                 "unconfirmed points", when);
    return 1;
}

/* "40 points expire on 2027-03-01 00:00 UTC" (docs/DESIGN.md §5, "Expiry";
 * ABI 2.4: an older plugin leaves both 0): 1 when there is something to
 * say. */
static int expiry_note(int64_t points, int64_t at_ms, char *out, size_t cap)
{
    time_t t = (time_t)(at_ms / 1000);
    struct tm tm;
    char when[32];
    if (points <= 0 || at_ms <= 0 || !gmtime_r(&t, &tm) ||
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm) == 0)
        return 0;
    snprintf(out, cap, "%lld %s on %s UTC", (long long)points,
             points == 1 ? "point expires" : "points expire", when);
    return 1;
}

static void on_event(void *user, const tp_event *ev)
{
    till *t = user;
    if (ev->kind == TP_EVENT_AWARD_FAILED || ev->kind == TP_EVENT_REFUND_FAILED ||
        ev->kind == TP_EVENT_PLUGIN_DISABLED)
        t->failures++;
    const char *tag = "event";
    switch (ev->kind) {
    case TP_EVENT_MEMBER_IDENTIFIED: tag = "member"; break;
    case TP_EVENT_MEMBER_UNKNOWN: tag = "unknown member"; break;
    case TP_EVENT_AWARD_COMMITTED: tag = ev->replayed ? "already recorded" : "award"; break;
    case TP_EVENT_AWARD_FAILED: tag = "award failed"; break;
    case TP_EVENT_REFUND_COMMITTED: tag = ev->replayed ? "already recorded" : "refund"; break;
    case TP_EVENT_REFUND_FAILED: tag = "refund failed"; break;
    case TP_EVENT_PLUGIN_DISABLED: tag = "loyalty off"; break;
    case TP_EVENT_STORAGE_ERROR:
    case TP_EVENT_STORAGE_RECOVERED: tag = "storage"; break;
    case TP_EVENT_SCANNED: tag = "scanner"; break;
    case TP_EVENT_SCAN_REJECTED: tag = "scan rejected"; break;
    case TP_EVENT_SCANNER_ONLINE: tag = "scanner online"; break;
    case TP_EVENT_SCANNER_OFFLINE: tag = "scanner offline"; break;
    case TP_EVENT_SCANNER_ERROR: tag = "scanner"; break;
    case TP_EVENT_SYNC_STATE: tag = "central"; break;
    case TP_EVENT_SYNC_PARKED: tag = "central refused"; break;
    case TP_EVENT_AWARD_DEFERRED: tag = "award kept for later"; break;
    case TP_EVENT_REFUND_DEFERRED: tag = "refund kept for later"; break;
    case TP_EVENT_REDEEM_CONFIRMED: tag = "points confirmed"; break;
    case TP_EVENT_REDEEM_REFUSED: tag = "points refused"; break;
    case TP_EVENT_OVERDRAFT: tag = "overdraft"; break;
    }
    /* A scan names its symbology when the scanner said it: [scanner qr]. */
    const char *sym = "";
    if ((ev->kind == TP_EVENT_SCANNED || ev->kind == TP_EVENT_SCAN_REJECTED) && ev->symbology)
        sym = ev->symbology;
    say("  [%s%s%s] %s", tag, *sym ? " " : "", sym, ev->message);
    /* A sale without a member: the code to print on the receipt, which
     * later opens the retro-visit form already filled (`retro CODE`). */
    if (ev->kind == TP_EVENT_AWARD_COMMITTED && !ev->member_code[0] && ev->receipt_code[0])
        say("  Receipt code for a later claim: %s", ev->receipt_code);
    /* On a synced till, how fresh the balance in the sentence is. */
    char note[96];
    if (balance_note(ev->balance_source, ev->balance_as_of_ms, note, sizeof note))
        say("  (%s)", note);
    /* Points about to expire: worth telling the customer at the till. */
    if (ev->kind == TP_EVENT_MEMBER_IDENTIFIED &&
        expiry_note(ev->expiring_points, ev->expiring_at_ms, note, sizeof note))
        say("  (%s)", note);
    /* What the customer could spend the balance on now (ABI 2.5; a plugin
     * without rewards, or an older one, gives none). */
    if (ev->kind == TP_EVENT_MEMBER_IDENTIFIED && ev->offer_count > 0)
        print_offers(t, ev->offers, ev->offer_stride, ev->offer_count);
    if (ev->kind == TP_EVENT_REDEEM_CONFIRMED || ev->kind == TP_EVENT_REDEEM_REFUSED)
        on_redeem_event(t, ev);
    /* A code from a plugin-owned scanner goes to the open sale, exactly as
     * if the cashier had typed it; scanning first opens a sale. */
    if (ev->kind == TP_EVENT_SCANNED && t->p) {
        tp_message msg;
        if (!t->open && begin_sale(t, NULL) != 0)
            return;
        refused(t, t->co->scan(t->p, t->txn, ev->member_code, &msg), &msg);
    }
}

static void on_present(void *user, const tp_form *form)
{
    till *t = user;
    tp_forms_on_present(&t->forms, form);
}

static void on_dismiss(void *user, uint64_t form_id, int32_t done, const char *result)
{
    till *t = user;
    tp_forms_on_dismiss(&t->forms, form_id, done, result);
}

static int refused(till *t, tp_status st, const tp_message *msg)
{
    if (st == TP_OK) {
        if (msg->text[0])
            say("  %s", msg->text);
        return 0;
    }
    t->failures++;
    say("  ! %s (%s)", msg->text, tp_hostlib_status_name(st));
    return -1;
}

static void usage_error(till *t, const char *text)
{
    t->failures++;
    say("  ! %s", text);
}

/* An amount with the till currency's own decimals (ISO 4217). */
static void format_money(const till *t, char *buf, size_t cap, int64_t minor)
{
    tp_money_format(buf, cap, minor, tp_currency_exponent(t->currency));
}

static int begin_sale(till *t, const char *id)
{
    char gen[TP_TXN_ID_MAX + 1];
    if (!id) {
        snprintf(gen, sizeof gen, "S%lld-%d", (long long)time(NULL), ++t->sales);
        id = gen;
    }
    tp_message msg;
    tp_status st = t->co->begin(t->p, id, t->staff[0] ? t->staff : NULL, &msg);
    if (refused(t, st, &msg))
        return -1;
    snprintf(t->txn, sizeof t->txn, "%s", id);
    t->open = 1;
    t->nlines = 0;
    memset(t->red, 0, sizeof t->red);
    say("  Sale %s open.", t->txn);
    return 0;
}

static void cmd_item(till *t, int argc, char **argv)
{
    if (argc < 3) {
        usage_error(t, "Usage: item SKU PRICE [CATEGORY] [tax|tip|giftcard]");
        return;
    }
    int64_t amount;
    if (tp_hostlib_parse_money(argv[2], t->currency, &amount) != 0) {
        usage_error(t, "The price must look like 4.50 (at most two decimals, no sign).");
        return;
    }
    if (strlen(argv[1]) > TP_SKU_MAX) {
        usage_error(t, "The SKU is too long.");
        return;
    }
    if (t->nlines >= TP_LINES_MAX) {
        usage_error(t, "This sale has the most lines a receipt can have.");
        return;
    }
    if (!t->open && begin_sale(t, NULL) != 0)
        return;
    size_t i = t->nlines;
    tp_line *l = &t->lines[i];
    memset(l, 0, sizeof *l);
    snprintf(t->skus[i], sizeof t->skus[i], "%s", argv[1]);
    l->sku = t->skus[i];
    l->amount_minor = amount;
    for (int a = 3; a < argc; a++) {
        if (strcmp(argv[a], "tax") == 0)
            l->flags |= TP_LINE_TAX;
        else if (strcmp(argv[a], "tip") == 0)
            l->flags |= TP_LINE_TIP;
        else if (strcmp(argv[a], "giftcard") == 0)
            l->flags |= TP_LINE_GIFT_CARD;
        else if (strlen(argv[a]) <= TP_CATEGORY_MAX) {
            snprintf(t->cats[i], sizeof t->cats[i], "%s", argv[a]);
            l->category = t->cats[i];
        }
    }
    t->nlines++;
    char money[TP_MONEY_TEXT_SIZE];
    format_money(t, money, sizeof money, amount);
    say("  %-20s %10s", argv[1], money);
}

static void cmd_discount(till *t, int argc, char **argv)
{
    int64_t amount;
    if (argc != 2 || tp_hostlib_parse_money(argv[1], t->currency, &amount) != 0) {
        usage_error(t, "Usage: discount AMOUNT (applies to the last item)");
        return;
    }
    if (!t->open || t->nlines == 0) {
        usage_error(t, "There is no item to discount.");
        return;
    }
    t->lines[t->nlines - 1].discount_minor = amount;
    char money[TP_MONEY_TEXT_SIZE];
    format_money(t, money, sizeof money, amount);
    say("  %-20s %10s-", "discount", money);
}

/* The plugin's spending functions (ABI 2.5), or NULL for an older plugin:
 * its checkout table ends before them. */
static int can_spend(till *t)
{
    if (TP_HAS_FIELD(t->co, tp_checkout_ext, unredeem))
        return 1;
    usage_error(t, "This plugin cannot spend points (it predates ABI 2.5).");
    return 0;
}

static void print_offers(const till *t, const tp_reward_offer *offers, size_t stride,
                         size_t count)
{
    say("  Rewards the customer can have now:");
    for (size_t i = 0; i < count; i++) {
        tp_reward_offer o = tp_reward_offer_read(offers, stride, i);
        char basket[TP_MONEY_TEXT_SIZE + 48] = "";
        if (o.min_basket_minor > 0) {
            char money[TP_MONEY_TEXT_SIZE];
            format_money(t, money, sizeof money, o.min_basket_minor);
            snprintf(basket, sizeof basket, ", on a basket of %s %s or more", money,
                     t->currency);
        }
        say("    redeem %-12s %s, %lld points%s", o.name, o.label, (long long)o.cost_points,
            basket);
    }
}

/* What the open sale's redemptions take off it, refused ones aside. */
static int64_t redeemed_minor(const till *t)
{
    int64_t off = 0;
    for (size_t i = 0; i < TILL_REDEEM_MAX; i++)
        if (t->red[i].no && t->red[i].state != RED_REFUSED)
            off += t->red[i].discount_minor;
    return off;
}

static int64_t basket_minor(const till *t)
{
    int64_t total = 0;
    for (size_t i = 0; i < t->nlines; i++)
        total += t->lines[i].amount_minor - t->lines[i].discount_minor;
    return total;
}

static till_redemption *find_redemption(till *t, uint32_t no)
{
    for (size_t i = 0; i < TILL_REDEEM_MAX; i++)
        if (no && t->red[i].no == no)
            return &t->red[i];
    return NULL;
}

static void say_left_to_pay(const till *t)
{
    char money[TP_MONEY_TEXT_SIZE];
    int64_t left = basket_minor(t) - redeemed_minor(t);
    format_money(t, money, sizeof money, left > 0 ? left : 0);
    say("  Left to pay: %s %s.", money, t->currency);
}

/* Takes redemption `r` off the sale: the plugin releases its points, the
 * till drops its line. 0, or -1 (refused, said why) when the line stays. */
static int take_off(till *t, till_redemption *r)
{
    tp_message msg;
    if (refused(t, t->co->unredeem(t->p, t->txn, r->no, &msg), &msg))
        return -1;
    char money[TP_MONEY_TEXT_SIZE];
    format_money(t, money, sizeof money, r->discount_minor);
    say("  Redemption %u taken off: %s (%s %s, %lld points).", (unsigned)r->no, r->label, money,
        t->currency, (long long)r->points);
    memset(r, 0, sizeof *r);
    return 0;
}

/* REDEEM_CONFIRMED / REDEEM_REFUSED: the line stays, or goes as the
 * plugin asks (events.h), so that the sale can still be paid. */
static void on_redeem_event(till *t, const tp_event *ev)
{
    if (!t->open || strcmp(ev->txn_id, t->txn) != 0)
        return;
    till_redemption *r = find_redemption(t, ev->redemption_no);
    if (!r)
        return;
    if (ev->kind == TP_EVENT_REDEEM_CONFIRMED) {
        r->state = RED_CONFIRMED;
        return;
    }
    r->state = RED_REFUSED;
    t->failures++;
    if (take_off(t, r) == 0)
        say_left_to_pay(t);
    else
        say("  Type unredeem %u before paying.", (unsigned)ev->redemption_no);
}

static int need_sale(till *t)
{
    if (t->open)
        return 1;
    usage_error(t, "No sale is open; scan the customer's card first.");
    return 0;
}

static void cmd_offers(till *t)
{
    if (!can_spend(t) || !need_sale(t))
        return;
    tp_reward_offer offers[TILL_OFFERS_MAX];
    size_t n = 0;
    tp_message msg;
    tp_status st = t->co->offers(t->p, t->txn, offers, TILL_OFFERS_MAX, sizeof offers[0], &n,
                                 &msg);
    if (st != TP_OK) {
        refused(t, st, &msg);
        return;
    }
    if (n == 0) {
        say("  %s", msg.text[0] ? msg.text : "No reward is affordable now.");
        return;
    }
    print_offers(t, offers, sizeof offers[0], n);
}

/* redeem NAME | redeem points [N]: the basket so far goes with it, so the
 * plugin can price the discount. */
static void cmd_redeem(till *t, int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[1], "points") != 0)) {
        usage_error(t, "Usage: redeem REWARD | redeem points [N]");
        return;
    }
    if (!can_spend(t) || !need_sale(t))
        return;
    tp_redeem_request req = {.struct_size = sizeof req, .lines = t->lines,
                             .line_count = t->nlines, .line_stride = sizeof t->lines[0]};
    if (strcmp(argv[1], "points") != 0)
        req.reward = argv[1];
    else if (argc == 3) {
        char *end = NULL;
        errno = 0;
        long long n = strtoll(argv[2], &end, 10);
        if (errno || !end || *end || end == argv[2] || n <= 0) {
            usage_error(t, "The points to spend must be a whole number above 0 (or leave it "
                           "out: as many as fit).");
            return;
        }
        req.points = n;
    }
    till_redemption *slot = NULL;
    for (size_t i = 0; !slot && i < TILL_REDEEM_MAX; i++)
        if (!t->red[i].no)
            slot = &t->red[i];
    if (!slot) {
        usage_error(t, "This sale holds the most redemptions the till keeps; take one off "
                       "(unredeem N) first.");
        return;
    }
    tp_redemption out = {.struct_size = sizeof out};
    tp_message msg;
    tp_status st = t->co->redeem(t->p, t->txn, &req, &out, &msg);
    if (st != TP_OK) {
        refused(t, st, &msg);
        return;
    }
    slot->no = out.redemption_no;
    slot->state = RED_WAITING;
    slot->points = out.points;
    slot->discount_minor = out.discount_minor;
    snprintf(slot->label, sizeof slot->label, "%s", out.label);
    char money[TP_MONEY_TEXT_SIZE];
    format_money(t, money, sizeof money, out.discount_minor);
    say("  %-20s %10s-", out.label, money);
    say("  Redemption %u: %s: %s %s off for %lld points, waiting for confirmation.",
        (unsigned)out.redemption_no, out.label, money, t->currency, (long long)out.points);
}

static void cmd_unredeem(till *t, int argc, char **argv)
{
    char *end = NULL;
    unsigned long no = argc == 2 ? strtoul(argv[1], &end, 10) : 0;
    if (argc != 2 || !end || *end || no == 0 || no > UINT32_MAX) {
        usage_error(t, "Usage: unredeem N (the redemption's number, as redeem showed it)");
        return;
    }
    if (!can_spend(t) || !need_sale(t))
        return;
    till_redemption *r = find_redemption(t, (uint32_t)no);
    if (!r) {
        usage_error(t, "This sale has no redemption with that number; total lists them.");
        return;
    }
    if (take_off(t, r) == 0)
        say_left_to_pay(t);
}

/* The sale so far: its amount, each redemption and what is left to pay. */
static void cmd_total(till *t)
{
    if (!need_sale(t))
        return;
    char money[TP_MONEY_TEXT_SIZE];
    format_money(t, money, sizeof money, basket_minor(t));
    say("  %-20s %10s", "Items", money);
    static const char *const states[] = {"", "waiting", "confirmed", "refused"};
    for (size_t i = 0; i < TILL_REDEEM_MAX; i++) {
        const till_redemption *r = &t->red[i];
        if (!r->no)
            continue;
        format_money(t, money, sizeof money, r->discount_minor);
        say("  %-20s %10s-  #%u, %lld points, %s", r->label, money, (unsigned)r->no,
            (long long)r->points, states[r->state]);
    }
    say_left_to_pay(t);
}

static void cmd_pay(till *t, int argc, char **argv)
{
    if (!t->open || t->nlines == 0) {
        usage_error(t, "There is nothing to pay; add items first.");
        return;
    }
    tp_receipt r = {
        .struct_size = sizeof r,
        .receipt_id = argc > 1 ? argv[1] : t->txn,
        .currency = t->currency,
        .time_ms = 0,
        .lines = t->lines,
        .line_count = t->nlines,
        .line_stride = sizeof t->lines[0],
    };
    tp_award_preview pv = {.struct_size = sizeof pv};
    tp_message msg;
    tp_status st = t->co->complete(t->p, t->txn, &r, &pv, &msg);
    if (st != TP_OK) {
        refused(t, st, &msg);
        return;
    }
    /* What the points paid comes off the amount; the plugin's preview
     * says it (an older plugin leaves it 0 and takes no redemptions). */
    int64_t total = basket_minor(t) - pv.redeemed_minor;
    char money[TP_MONEY_TEXT_SIZE], elig[TP_MONEY_TEXT_SIZE];
    if (pv.redeemed_points > 0) {
        format_money(t, money, sizeof money, pv.redeemed_minor);
        say("  Points spent: %lld for %s %s off.", (long long)pv.redeemed_points, money,
            t->currency);
    }
    format_money(t, money, sizeof money, total > 0 ? total : 0);
    format_money(t, elig, sizeof elig, pv.eligible_minor);
    if (pv.has_member)
        say("  Paid %s %s (eligible %s): %lld points pending.", money, t->currency, elig,
            (long long)pv.points);
    else
        say("  Paid %s %s: no member scanned.", money, t->currency);
    /* Why a member's sale earns nothing (the line above says it when no
     * member was scanned). */
    if (pv.has_member && msg.text[0])
        say("  %s", msg.text);
    t->open = 0;
    memset(t->red, 0, sizeof t->red);
}

static void cmd_refund(till *t, int argc, char **argv)
{
    if (argc < 3) {
        usage_error(t, "Usage: refund RECEIPT full|AMOUNT [REFUND-ID]");
        return;
    }
    tp_refund r = {.struct_size = sizeof r, .receipt_id = argv[1], .currency = t->currency};
    if (strcmp(argv[2], "full") == 0)
        r.full = 1;
    else if (tp_hostlib_parse_money(argv[2], t->currency, &r.amount_minor) != 0) {
        usage_error(t, "The refund amount must look like 4.50, or be 'full'.");
        return;
    }
    char id[TP_RECEIPT_ID_MAX + 1];
    if (argc > 3)
        r.refund_id = argv[3];
    else {
        snprintf(id, sizeof id, "RF%lld-%d", (long long)time(NULL), ++t->refunds);
        r.refund_id = id;
    }
    tp_message msg;
    tp_status st = t->co->refund(t->p, &r, &msg);
    if (refused(t, st, &msg))
        return;
    say("  Refund %s against %s submitted.", r.refund_id, r.receipt_id);
}

static void cmd_scanners(till *t)
{
    const tp_scanners_ext *sc =
        tp_hostabi_extension(t->p, TP_EXT_SCANNERS, TP_FIELD_END(tp_scanners_ext, list));
    tp_scanner_info info[8];
    size_t n = 0;
    tp_message msg;
    if (!sc || refused(t, sc->list(t->p, info, 8, sizeof info[0], &n, &msg), &msg))
        return;
    /* A later minor may add states: shown as "unknown". */
    static const char *const states[] = {"starting", "online", "offline", "error"};
    if (n == 0)
        say("  No scanners are configured; codes are typed or come from the POS.");
    for (size_t i = 0; i < n && i < 8; i++)
        say("  %-10s %-7s %-8s scans %llu, rejected %llu, errors %llu%s%s", info[i].name,
            info[i].driver, info[i].state < 4 ? states[info[i].state] : "unknown",
            (unsigned long long)info[i].scans,
            (unsigned long long)info[i].rejected, (unsigned long long)info[i].errors,
            info[i].last_error[0] ? " - " : "", info[i].last_error);
}

static void cmd_member(till *t, int argc, char **argv)
{
    tp_message msg;
    if (argc >= 3 && strcmp(argv[1], "add") == 0) {
        char name[TP_NAME_MAX + 1] = "";
        const char *phone = NULL, *email = NULL;
        size_t used = 0;
        for (int a = 3; a < argc; a++) {
            if (strcmp(argv[a], "--phone") == 0 && a + 1 < argc)
                phone = argv[++a];
            else if (strcmp(argv[a], "--email") == 0 && a + 1 < argc)
                email = argv[++a];
            else {
                int n = snprintf(name + used, sizeof name - used, "%s%s", used ? " " : "",
                                 argv[a]);
                if (n < 0 || (size_t)n >= sizeof name - used) {
                    usage_error(t, "The name is too long.");
                    return;
                }
                used += (size_t)n;
            }
        }
        tp_member_new m = {.struct_size = sizeof m, .code = argv[2], .name = name,
                           .phone = phone, .email = email};
        tp_status st = t->ad->members->member_add(t->p, &m, NULL, &msg);
        if (refused(t, st, &msg) == 0)
            say("  Member %s added: %s.", argv[2], name[0] ? name : "(no name)");
        return;
    }
    if (argc == 3 && strcmp(argv[1], "show") == 0) {
        tp_member_info info = {.struct_size = sizeof info};
        tp_status st = t->ad->members->member_get(t->p, argv[2], &info, &msg);
        if (refused(t, st, &msg) == 0) {
            char note[96];
            int has = balance_note(info.balance_source, info.balance_as_of_ms, note, sizeof note);
            say("  %s  %s  balance %lld points%s%s%s", info.code, info.name,
                (long long)TP_HOST_SHOWN_BALANCE(&info), has ? " (" : "", has ? note : "",
                has ? ")" : "");
            if (expiry_note(info.expiring_points, info.expiring_at_ms, note, sizeof note))
                say("  (%s)", note);
        }
        return;
    }
    usage_error(t, "Usage: member add CODE NAME... [--phone P] [--email E] | member show CODE");
}

/* Opens `action` for the person logged in and drives its forms to the
 * end. `preset` answers (may be NULL) fill the first form. */
static void run_form(till *t, const char *action, const char *prefill,
                     const tp_forms_answers *preset)
{
    if (!t->ui) {
        usage_error(t, "This plugin has no forms (no " TP_EXT_UI " extension).");
        return;
    }
    if (!t->staff[0]) {
        usage_error(t, "Log in first: login ID manager|cashier (or staff ID for a cashier).");
        return;
    }
    tp_forms_session_reset(&t->forms);
    if (preset)
        tp_forms_answers_copy(&t->forms.preset, preset);
    tp_staff who = {.struct_size = sizeof who, .id = t->staff, .role = t->role};
    uint64_t id = 0;
    tp_message msg;
    tp_status st = t->ui->open(t->p, action, &who, prefill, &id, &msg);
    if (refused(t, st, &msg))
        return;
    t->forms.form_id = id;
    tp_forms_io io;
    tp_forms_io_init(&io, t->in, stdout, t->script || !isatty(fileno(t->in)));
    tp_forms_driver d = {.plugin = t->p, .ui = t->ui, .wait = tp_forms_wait_hostlib,
                         .user = t->h, .timeout_ms = FORM_WAIT_MS};
    tp_forms_end end = tp_forms_run(&t->forms, &d, &io);
    if (end == TP_FORMS_FAILED)
        t->failures++;
    say("  [%s] %s", end == TP_FORMS_DONE ? "done" : "not done",
        t->forms.result[0] ? t->forms.result : "Closed.");
    tp_forms_session_reset(&t->forms);
}

static void cmd_claim(till *t, int argc, char **argv)
{
    tp_forms_answers preset;
    memset(&preset, 0, sizeof preset);
    for (int a = 2; a < argc; a++) {
        const char *field = strcmp(argv[a], "--phone") == 0   ? "phone"
                            : strcmp(argv[a], "--email") == 0 ? "email"
                                                              : NULL;
        if (!field || a + 1 >= argc) {
            usage_error(t, "Usage: claim RECEIPT [--phone P] [--email E]");
            return;
        }
        if (tp_forms_answers_set(&preset, field, argv[++a]) != 0) {
            usage_error(t, "The contact is too long.");
            return;
        }
    }
    run_form(t, "missed-scan-claim", argv[1], &preset);
}

static void cmd_login(till *t, int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "manager") != 0 && strcmp(argv[2], "cashier") != 0)) {
        usage_error(t, "Usage: login ID manager|cashier");
        return;
    }
    if (strlen(argv[1]) > TP_STAFF_ID_MAX) {
        usage_error(t, "The staff id is too long.");
        return;
    }
    snprintf(t->staff, sizeof t->staff, "%s", argv[1]);
    snprintf(t->role, sizeof t->role, "%s", argv[2]);
    if (strcmp(t->role, "manager") == 0)
        say("  Manager %s logged in. Approvals still take an enrolled manager's PIN.", t->staff);
    else
        say("  Cashier %s logged in.", t->staff);
}

static void help(void)
{
    say("Commands:\n"
        "  begin [SALE-ID]              open a sale (item opens one too)\n"
        "  staff ID                     the cashier for the next sales\n"
        "  scan CODE                    a member code, typed or from a scanner\n"
        "  item SKU PRICE [CATEGORY] [tax|tip|giftcard]\n"
        "  discount AMOUNT              on the last item\n"
        "  offers                       rewards the customer can afford now\n"
        "  redeem REWARD                spend points on a reward (a discount line)\n"
        "  redeem points [N]            pay part of the sale with N points (none\n"
        "                               given: as many as the balance and sale allow)\n"
        "  unredeem N                   take redemption N off the sale\n"
        "  total                        the sale so far and what is left to pay\n"
        "  pay [RECEIPT]                complete the sale (receipt = sale id); waits\n"
        "                               for the points to be confirmed first\n"
        "  cancel                       void the open sale\n"
        "  refund RECEIPT full|AMOUNT [REFUND-ID]\n"
        "  member add CODE NAME... [--phone P] [--email E]\n"
        "  member show CODE\n"
        "  scanners                     the plugin's scanners and their state\n"
        "  login ID manager|cashier     who is at the till (for the forms below; a\n"
        "                               manager's id is prefilled as the approver,\n"
        "                               the manager's PIN is still asked)\n"
        "  retro [RECEIPT-CODE|NUMBER]  credit a missed visit after the fact\n"
        "  claims                       the queue of missed-scan claims\n"
        "  claim RECEIPT [--phone P] [--email E]  the customer will claim later\n"
        "  correct                      move a credit to the right customer\n"
        "  (in a form: Enter keeps [the value], a number picks, :cancel cancels)\n"
        "  wait                         wait for the plugin to catch up\n"
        "  quit");
}

/* Splits on blanks; "double quotes" group words. Returns argc, -1 when
 * there are too many words. */
static int split(char *line, char **argv)
{
    int argc = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            break;
        if (argc == MAX_ARGS)
            return -1;
        if (*p == '"') {
            argv[argc++] = ++p;
            while (*p && *p != '"')
                p++;
        } else {
            argv[argc++] = p;
            while (*p && *p != ' ' && *p != '\t')
                p++;
        }
        if (!*p)
            break;
        *p++ = '\0';
    }
    return argc;
}

/* Returns 1 to quit. */
static int run_command(till *t, char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    if (t->script && line[0] && line[0] != '#')
        say("till> %s", line);
    char *argv[MAX_ARGS];
    int argc = split(line, argv);
    if (argc < 0) {
        usage_error(t, "Too many words on one line.");
        return 0;
    }
    if (argc == 0)
        return 0;
    const char *c = argv[0];
    tp_message msg;
    if (strcmp(c, "quit") == 0 || strcmp(c, "exit") == 0)
        return 1;
    else if (strcmp(c, "help") == 0)
        help();
    else if (strcmp(c, "begin") == 0) {
        if (t->open)
            usage_error(t, "A sale is already open; pay or cancel it first.");
        else
            begin_sale(t, argc > 1 ? argv[1] : NULL);
    } else if (strcmp(c, "staff") == 0 && argc == 2) {
        snprintf(t->staff, sizeof t->staff, "%s", argv[1]);
        snprintf(t->role, sizeof t->role, "cashier");
        say("  Staff %s.", t->staff);
    } else if (strcmp(c, "login") == 0) {
        cmd_login(t, argc, argv);
    } else if (strcmp(c, "retro") == 0 && argc <= 2) {
        run_form(t, "retro-visit", argc > 1 ? argv[1] : NULL, NULL);
    } else if (strcmp(c, "claims") == 0 && argc == 1) {
        run_form(t, "missed-scan-queue", NULL, NULL);
    } else if (strcmp(c, "claim") == 0 && argc >= 2) {
        cmd_claim(t, argc, argv);
    } else if (strcmp(c, "correct") == 0 && argc == 1) {
        run_form(t, "correct-credit", NULL, NULL);
    } else if (strcmp(c, "scan") == 0 && argc == 2) {
        if (!t->open && begin_sale(t, NULL) != 0)
            return 0;
        refused(t, t->co->scan(t->p, t->txn, argv[1], &msg), &msg);
    } else if (strcmp(c, "item") == 0)
        cmd_item(t, argc, argv);
    else if (strcmp(c, "discount") == 0)
        cmd_discount(t, argc, argv);
    else if (strcmp(c, "pay") == 0)
        cmd_pay(t, argc, argv);
    else if (strcmp(c, "total") == 0 && argc == 1)
        cmd_total(t);
    else if (strcmp(c, "offers") == 0 && argc == 1)
        cmd_offers(t);
    else if (strcmp(c, "redeem") == 0)
        cmd_redeem(t, argc, argv);
    else if (strcmp(c, "unredeem") == 0)
        cmd_unredeem(t, argc, argv);
    else if (strcmp(c, "cancel") == 0) {
        if (!t->open)
            usage_error(t, "No sale is open.");
        else if (refused(t, t->co->cancel(t->p, t->txn, &msg), &msg) == 0) {
            say("  Sale %s voided; no points.", t->txn);
            t->open = 0;
            memset(t->red, 0, sizeof t->red);
        }
    } else if (strcmp(c, "refund") == 0)
        cmd_refund(t, argc, argv);
    else if (strcmp(c, "member") == 0)
        cmd_member(t, argc, argv);
    else if (strcmp(c, "scanners") == 0)
        cmd_scanners(t);
    else if (strcmp(c, "wait") == 0)
        refused(t, tp_hostlib_settle(t->h, SETTLE_MS, &msg), &msg);
    else
        usage_error(t, "Unknown command; type help.");
    if (t->script)
        refused(t, tp_hostlib_settle(t->h, SETTLE_MS, &msg), &msg);
    return 0;
}

static int run_script(till *t, FILE *f)
{
    char line[LINE_MAX_LEN];
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n') && !feof(f)) {
            usage_error(t, "A script line is longer than 1023 characters.");
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            continue;
        }
        if (run_command(t, line))
            break;
    }
    return 0;
}

static int run_interactive(till *t)
{
    say("tillpoints reference till. Type help for commands.");
    char line[LINE_MAX_LEN];
    int prompt = 1;
    for (;;) {
        if (prompt) {
            printf("till> ");
            fflush(stdout);
            prompt = 0;
        }
        struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0},
                                {tp_hostlib_wake_fd(t->h), POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (fds[1].revents & POLLIN) {
            printf("\r");
            tp_hostlib_dispatch(t->h);
            prompt = 1;
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            if (!fgets(line, sizeof line, stdin))
                return 0;
            if (run_command(t, line))
                return 0;
            prompt = 1;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plugin", required_argument, NULL, 'p'}, {"config", required_argument, NULL, 'c'},
        {"script", required_argument, NULL, 's'}, {"currency", required_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
    tp_hostlib_options opt = {.host_name = "tillpoints-till", .on_event = on_event,
                              .on_present = on_present, .on_dismiss = on_dismiss};
    const char *script = NULL, *currency = "EUR";
    int c, version = 0;
    while ((c = getopt_long(argc, argv, "p:c:s:C:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': opt.plugin_path = optarg; break;
        case 'c': opt.config_path = optarg; break;
        case 's': script = optarg; break;
        case 'C': currency = optarg; break;
        case 'v': opt.verbose = 1; break;
        case 'V': version = 1; break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: tillpoints-till [--config FILE] [--plugin PATH] "
                    "[--currency EUR] [--script FILE|-] [--verbose]\n"
                    "       tillpoints-till --version\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (version)
        return tp_hostlib_print_version(stdout, "tillpoints-till", &opt);
    if (strlen(currency) != 3) {
        fprintf(stderr, "tillpoints-till: --currency takes an ISO 4217 code such as EUR.\n");
        return 2;
    }
    till t;
    memset(&t, 0, sizeof t);
    opt.user = &t;
    snprintf(t.currency, sizeof t.currency, "%s", currency);
    snprintf(t.role, sizeof t.role, "cashier");
    t.lines = calloc(TP_LINES_MAX, sizeof *t.lines);
    t.skus = calloc(TP_LINES_MAX, sizeof *t.skus);
    t.cats = calloc(TP_LINES_MAX, sizeof *t.cats);
    FILE *f = NULL;
    int rc = 2;
    if (script)
        f = strcmp(script, "-") == 0 ? stdin : fopen(script, "r");
    if (!t.lines || !t.skus || !t.cats || (script && !f)) {
        fprintf(stderr, "tillpoints-till: %s\n",
                script && !f ? "cannot open the script file" : "out of memory");
        goto out;
    }
    char err[512];
    t.h = tp_hostlib_open(&opt, err, sizeof err);
    if (!t.h) {
        fprintf(stderr, "tillpoints-till: %s\n", err);
        goto out;
    }
    t.p = tp_hostlib_plugin(t.h);
    t.co = tp_hostlib_checkout(t.h);
    t.ad = tp_hostlib_admin(t.h);
    t.ui = tp_hostlib_ui(t.h);
    t.script = script != NULL;
    t.in = script ? f : stdin;
    if (script)
        run_script(&t, f);
    else
        run_interactive(&t);
    tp_message msg;
    if (t.open)
        t.co->cancel(t.p, t.txn, &msg);
    tp_hostlib_settle(t.h, SETTLE_MS, &msg);
    tp_hostlib_close(t.h);
    tp_forms_session_reset(&t.forms);
    rc = t.failures ? 1 : 0;
out:
    if (f && f != stdin)
        fclose(f);
    free(t.lines);
    free(t.skus);
    free(t.cats);
    return rc;
}
