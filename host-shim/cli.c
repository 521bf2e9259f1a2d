/*
 * cli.c — `tillpoints`, the manager's command-line tool: members, balances,
 * the activity log, adjustments, bulk adjustments, CSV import and export,
 * database verification, the audit log's head (`audit head`, `verify
 * --head`), managers (who approve retroactive credits with a PIN) and the
 * retroactive-visit dialog itself (`retro`: the plugin's forms,
 * rendered in the terminal by forms.c, as the reference till does).
 *
 * It is a host like the reference till: it loads tillpoints.so through
 * host.c and calls the plugin's admin extension (ext/admin.h). Every rule
 * — what a valid member code, adjustment or CSV row is, what may overdraw —
 * lives in the plugin; this file only parses the command line, calls one
 * admin function, and prints the answer, as text for a person or, with
 * --json, as one JSON document (built with jansson) for a script.
 *
 * The whole command line is parsed and checked before the plugin is
 * loaded, so a usage error never opens the database.
 *
 * Exit status: 0 done; 1 refused (the plugin's sentence on stderr, after
 * "tillpoints: "), also when the plugin cannot start or a file given to the
 * CLI cannot be read; 2 usage error (a usage line on stderr).
 * Numbers are integers throughout; times are printed in UTC.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "forms.h"
#include "host.h"
#include "hostconf.h"
#include "tillpoints/ext/audit.h"
#include "tillpoints/ext/expiry.h"
#include "tillpoints/ext/redeem.h"
#include "tillpoints/ext/scanners.h"

#define DEFAULT_CONFIG TP_HOSTLIB_DEFAULT_CONFIG
#define ACTIVITY_LIMIT_DEFAULT 20
#define ACTIVITY_LIMIT_MAX TP_ACTIVITY_PAGE_MAX /* the ABI's bound on one page */
#define FIND_MAX 50             /* matches shown by `member find` */
#define FORM_WAIT_MS 30000      /* a silent plugin: the form is closed after this */
#define OVERDRAFTS_MAX 1000     /* overdrafts listed at once, newest first; the
                                   text in cmd_overdrafts says the number */
#define SHIM_WAIT_MS 30000      /* scanners --shim: a hang guard, never a pace */
#define SHIM_REPLY_MAX ((size_t)1024 * 1024) /* bytes read from the shim at most */
#define EXIT_REFUSED 1
#define EXIT_USAGE 2

/* Options, as bits: which a command accepts, and which were given. */
enum {
    O_NAME = 1u << 0, O_PHONE = 1u << 1, O_EMAIL = 1u << 2, O_APP_ID = 1u << 3,
    O_LIMIT = 1u << 4, O_BEFORE = 1u << 5, O_TYPE = 1u << 6, O_MEMBER = 1u << 7,
    O_STAFF = 1u << 8, O_LOCATION = 1u << 9, O_FROM = 1u << 10, O_TO = 1u << 11,
    O_REASON = 1u << 12, O_COMMENT = 1u << 13, O_MEMBERS_FILE = 1u << 14,
    O_ALL = 1u << 15, O_DRY_RUN = 1u << 16, O_SKIP_INVALID = 1u << 17, O_ROLE = 1u << 18,
    O_SHIM = 1u << 19, /* scanners --shim SOCKET */
    O_HEAD = 1u << 21, /* audit: verify --head */
    O_PARKED = 1u << 22, /* sync: queue list --parked */
    O_AS_OF = 1u << 20,  /* expire --as-of DATE */
    O_APPROVER = 1u << 23, /* redeem reverse --approver ID */
    /* global: accepted everywhere */
    O_CONFIG = 1u << 24, O_PLUGIN = 1u << 25, O_JSON = 1u << 26, O_HELP = 1u << 27,
    O_VERSION = 1u << 28,
    O_GLOBAL = O_CONFIG | O_PLUGIN | O_JSON | O_HELP | O_VERSION
};

typedef struct option_def {
    const char *name; /* without the leading "--" */
    unsigned bit;
    int takes_value;
} option_def;

static const option_def option_defs[] = {
    {"config", O_CONFIG, 1},         {"plugin", O_PLUGIN, 1},
    {"json", O_JSON, 0},             {"help", O_HELP, 0},
    {"version", O_VERSION, 0},
    {"name", O_NAME, 1},             {"phone", O_PHONE, 1},
    {"email", O_EMAIL, 1},           {"app-id", O_APP_ID, 1},
    {"limit", O_LIMIT, 1},           {"before", O_BEFORE, 1},
    {"type", O_TYPE, 1},             {"member", O_MEMBER, 1},
    {"staff", O_STAFF, 1},           {"location", O_LOCATION, 1},
    {"from", O_FROM, 1},             {"to", O_TO, 1},
    {"reason", O_REASON, 1},         {"comment", O_COMMENT, 1},
    {"members-file", O_MEMBERS_FILE, 1}, {"all", O_ALL, 0},
    {"dry-run", O_DRY_RUN, 0},       {"skip-invalid", O_SKIP_INVALID, 0},
    {"role", O_ROLE, 1},             {"shim", O_SHIM, 1},
    {"head", O_HEAD, 1},             /* audit: */
    {"parked", O_PARKED, 0},         /* sync: */
    {"as-of", O_AS_OF, 1},
    {"approver", O_APPROVER, 1},
};
#define OPTION_COUNT (sizeof option_defs / sizeof option_defs[0])

typedef enum command_id {
    C_NONE, C_MEMBER_ADD, C_MEMBER_ADD_CARD, C_MEMBER_SHOW, C_MEMBER_FIND, C_BALANCE,
    C_HISTORY, C_ACTIVITY, C_ADJUST, C_BULK_ADJUST, C_IMPORT, C_EXPORT, C_VERIFY, C_SCANNERS,
    C_RETRO, C_MANAGER_ADD, C_MANAGER_RESET_PIN, C_MANAGER_LIST,
    /* sync: */
    C_QUEUE_STATUS, C_QUEUE_RETRY, C_QUEUE_PARK, C_QUEUE_UNPARK, C_CENTRAL_INIT,
    C_QUEUE_LIST, C_QUEUE_DISMISS,
    /* audit: the head of the audit log (ext/audit.h) */
    C_AUDIT_HEAD, C_AUDIT_SEAL,
    C_EXPIRE, /* points that expire (ext/expiry.h, 2.4) */
    /* points spent at the till (ext/redeem.h, 2.5) */
    C_REDEEM_REVERSE, C_OVERDRAFTS
} command_id;

typedef struct command_def {
    command_id id;
    const char *group;   /* "member" or "manager" for their subcommands, else NULL */
    const char *name;
    int positionals;     /* exact count after the command word(s); retro
                            takes 0 or 1 */
    unsigned options;    /* accepted besides the global ones */
    unsigned required;
    const char *usage;   /* after "tillpoints [GLOBAL] " */
} command_def;

static const command_def commands[] = {
    {C_MEMBER_ADD, "member", "add", 1, O_NAME | O_PHONE | O_EMAIL | O_APP_ID, 0,
     "member add CODE [--name N] [--phone P] [--email E] [--app-id A]"},
    {C_MEMBER_ADD_CARD, "member", "add-card", 2, 0, 0, "member add-card MEMBER CARD"},
    {C_MEMBER_SHOW, "member", "show", 1, 0, 0, "member show KEY"},
    {C_MEMBER_FIND, "member", "find", 1, 0, 0, "member find QUERY"},
    {C_BALANCE, NULL, "balance", 1, 0, 0, "balance KEY"},
    {C_HISTORY, NULL, "history", 1, O_LIMIT | O_BEFORE, 0,
     "history KEY [--limit N] [--before ID]"},
    {C_ACTIVITY, NULL, "activity", 0,
     O_TYPE | O_MEMBER | O_STAFF | O_LOCATION | O_FROM | O_TO | O_LIMIT | O_BEFORE, 0,
     "activity [--type issued|retro|adjust|bulk|import|reversal|expire|redeem|unredeem[,...]] "
     "[--member KEY] [--staff S] [--location L] [--from DATE] [--to DATE] "
     "[--limit N] [--before ID]"},
    {C_ADJUST, NULL, "adjust", 2, O_REASON | O_COMMENT | O_STAFF, O_REASON | O_STAFF,
     "adjust KEY +N|-N --reason R [--comment C] --staff S"},
    {C_BULK_ADJUST, NULL, "bulk-adjust", 1,
     O_MEMBERS_FILE | O_ALL | O_REASON | O_COMMENT | O_STAFF, O_REASON | O_STAFF,
     "bulk-adjust (--members-file FILE | --all) +N|-N --reason R [--comment C] --staff S"},
    {C_IMPORT, NULL, "import", 1, O_DRY_RUN | O_SKIP_INVALID | O_STAFF, O_STAFF,
     "import FILE.csv [--dry-run] [--skip-invalid] --staff S"},
    {C_EXPORT, NULL, "export", 1, 0, 0, "export FILE.csv"},
    {C_VERIFY, NULL, "verify", 0, O_HEAD, 0, "verify [--head SEQ:HASH]"},
    {C_SCANNERS, NULL, "scanners", 0, O_SHIM, 0, "scanners [--shim SOCKET]"},
    {C_RETRO, NULL, "retro", 1, O_STAFF | O_ROLE, 0,
     "retro [--staff S] [--role manager|cashier] [RECEIPT-CODE|RECEIPT]"},
    {C_MANAGER_ADD, "manager", "add", 1, O_NAME | O_STAFF, O_NAME | O_STAFF,
     "manager add ID --name N --staff S"},
    {C_MANAGER_RESET_PIN, "manager", "reset-pin", 1, O_STAFF, O_STAFF,
     "manager reset-pin ID --staff S"},
    {C_MANAGER_LIST, "manager", "list", 0, 0, 0, "manager list"},
    /* sync: the outbox and the central database */
    {C_QUEUE_STATUS, "queue", "status", 0, 0, 0, "queue status"},
    {C_QUEUE_RETRY, "queue", "retry", 0, 0, 0, "queue retry"},
    {C_QUEUE_PARK, "queue", "park", 1, 0, 0, "queue park ID"},
    {C_QUEUE_UNPARK, "queue", "unpark", 1, 0, 0, "queue unpark ID"},
    {C_QUEUE_LIST, "queue", "list", 0, O_PARKED | O_LIMIT, 0, "queue list [--parked] [--limit N]"},
    {C_QUEUE_DISMISS, "queue", "dismiss", 1, O_REASON | O_STAFF, O_REASON | O_STAFF,
     "queue dismiss ID --reason R --staff S"},
    {C_CENTRAL_INIT, "central", "init", 0, 0, 0, "central init"},
    /* audit: */
    {C_AUDIT_HEAD, "audit", "head", 0, 0, 0, "audit head"},
    {C_AUDIT_SEAL, "audit", "seal", 0, O_STAFF | O_REASON, O_STAFF | O_REASON,
     "audit seal --staff S --reason R"},
    {C_EXPIRE, NULL, "expire", 0, O_DRY_RUN | O_AS_OF | O_STAFF, O_STAFF,
     "expire [--dry-run] [--as-of YYYY-MM-DD] --staff S"},
    {C_REDEEM_REVERSE, "redeem", "reverse", 1, O_REASON | O_STAFF | O_APPROVER | O_LOCATION,
     O_REASON | O_STAFF | O_APPROVER,
     "redeem reverse RECEIPT --reason R --staff S --approver ID [--location L]"},
    {C_OVERDRAFTS, NULL, "overdrafts", 0, 0, 0, "overdrafts"},
};
#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

#define MAX_POSITIONALS 4

/* Everything the command line says, checked, before the plugin loads.
 * The strings point into argv. */
typedef struct request {
    const command_def *cmd;
    unsigned given;
    const char *config, *plugin;
    int json;
    const char *name, *phone, *email, *app_id;
    const char *member, *staff, *location, *reason, *comment, *members_file, *role;
    const char *head; /* audit: verify --head */
    const char *shim; /* scanners --shim: a running tillpoints-shim's socket */
    const char *approver; /* redeem reverse --approver: a manager's id */
    uint32_t kinds;
    int64_t from_ms, to_ms, before_id, points;
    int64_t as_of_ms; /* expire --as-of: the end of that UTC day; 0 = now */
    uint32_t limit;
    const char *pos[MAX_POSITIONALS];
    int npos;
} request;

/* A drawn-over line on stderr for long calls, only on a terminal. */
typedef struct progress {
    int enabled;
    int drawn;
    int last_permille;
    uint64_t last_done;
} progress;

typedef struct cli {
    request rq;
    tp_hostlib *h;
    const tp_plugin *p;
    const tp_admin_set *ad;
    json_t *doc;       /* the --json answer; owned */
    json_t *problems;  /* array inside doc, borrowed; or NULL */
    tp_forms_session forms;
    uint64_t problem_count;
    progress bar;
} cli;

/* ---------------------------------------------------------------- usage */

static void print_usage(FILE *f)
{
    fprintf(f, "usage: tillpoints [--config FILE] [--plugin PATH] [--json] COMMAND ...\n"
               "       tillpoints --version\n"
               "commands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "KEY is a member code, card, app id, phone or email. DATE is YYYY-MM-DD or\n"
               "YYYY-MM-DDTHH:MM[Z], UTC. The config defaults to " DEFAULT_CONFIG
               "\nwhen it exists. A manager's PIN (6-12 digits; [retro] pin_min_digits) is asked\n"
               "twice with echo off on a terminal, or read from one line of stdin; reset-pin\n"
               "also lifts a lockout. retro runs the retroactive-visit form in the terminal\n"
               "(Enter keeps a value, a number picks from a list, :cancel cancels); every\n"
               "approval takes an enrolled manager's id and PIN, --role manager only fills\n"
               "in the id.\n"
               "redeem reverse gives back the points a receipt spent at the till (what refunds\n"
               "have not); the approver's PIN is asked with echo off on a terminal, or read\n"
               "from one line of stdin, never taken from the command line.\n"
               "audit head prints the audit log's newest record as SEQ:HASH for the end-of-day\n"
               "report; verify --head SEQ:HASH proves the log still holds it (16 or more hex\n"
               "digits of the hash will do).\n");
}

static int usage_error(const command_def *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const command_def *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tillpoints: ", stderr);
    vfprintf(stderr, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start above */
    fputc('\n', stderr);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "usage: tillpoints [--config FILE] [--plugin PATH] [--json] %s\n",
                cmd->usage);
    else
        fprintf(stderr, "usage: tillpoints [--config FILE] [--plugin PATH] [--json] COMMAND "
                        "...  (tillpoints --help lists the commands)\n");
    return EXIT_USAGE;
}

/* -------------------------------------------------------------- parsing */

/* A whole decimal integer with an optional sign; -1 on junk or overflow. */
static int parse_int64(const char *s, int64_t *out)
{
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > (uint64_t)INT64_MAX)
            return -1;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int digits_at(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM" with an optional "Z", always UTC,
 * without the locale. A date alone is midnight; with `end_of_day` it is
 * the following midnight (so an exclusive upper bound takes the whole
 * day). Returns -1 on anything else, including 2026-02-30. */
static int parse_date(const char *s, int end_of_day, int64_t *ms)
{
    size_t n = strlen(s);
    int y, mo, d, hh = 0, mi = 0;
    int has_time = n == 16 || (n == 17 && s[16] == 'Z');
    if (n != 10 && !has_time)
        return -1;
    if (digits_at(s, 4, &y) || s[4] != '-' || digits_at(s + 5, 2, &mo) || s[7] != '-' ||
        digits_at(s + 8, 2, &d))
        return -1;
    if (has_time && (s[10] != 'T' || digits_at(s + 11, 2, &hh) || s[13] != ':' ||
                     digits_at(s + 14, 2, &mi)))
        return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && leap) || hh > 23 || mi > 59)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mi;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    if (!has_time && end_of_day)
        t += 86400;
    *ms = (int64_t)t * 1000;
    return 0;
}

static const struct {
    const char *name;
    uint32_t bit;
} kind_names[] = {
    {"issued", TP_KIND_EARN}, {"earn", TP_KIND_EARN},         {"retro", TP_KIND_RETRO},
    {"adjust", TP_KIND_ADJUST}, {"bulk", TP_KIND_BULK},       {"import", TP_KIND_IMPORT},
    {"reversal", TP_KIND_REVERSAL}, {"expire", TP_KIND_EXPIRE},
    {"redeem", TP_KIND_REDEEM},     {"unredeem", TP_KIND_UNREDEEM},
};

/* Adds the kinds of a comma list to *kinds; -1 names the bad word. */
static int parse_kinds(const char *list, uint32_t *kinds, char *bad, size_t bad_cap)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        size_t k;
        for (k = 0; k < sizeof kind_names / sizeof kind_names[0]; k++)
            if (strlen(kind_names[k].name) == n && strncmp(kind_names[k].name, p, n) == 0)
                break;
        if (k == sizeof kind_names / sizeof kind_names[0]) {
            snprintf(bad, bad_cap, "%.*s", (int)(n > 40 ? 40 : n), p);
            return -1;
        }
        *kinds |= kind_names[k].bit;
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

static const char *kind_shown(const char *kind)
{
    return strcmp(kind, "earn") == 0 ? "issued" : kind;
}

static const command_def *find_command(const char *group, const char *name)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const command_def *c = &commands[i];
        if ((c->group == NULL) != (group == NULL))
            continue;
        if (group && strcmp(c->group, group) != 0)
            continue;
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

/* A positional word: anything not starting with "-", and negative numbers. */
static int is_positional(const char *a)
{
    return a[0] != '-' || (a[1] >= '0' && a[1] <= '9') || a[1] == '\0';
}

static void set_value(request *rq, unsigned bit, const char *v)
{
    switch (bit) {
    case O_CONFIG: rq->config = v; break;
    case O_PLUGIN: rq->plugin = v; break;
    case O_NAME: rq->name = v; break;
    case O_PHONE: rq->phone = v; break;
    case O_EMAIL: rq->email = v; break;
    case O_APP_ID: rq->app_id = v; break;
    case O_MEMBER: rq->member = v; break;
    case O_STAFF: rq->staff = v; break;
    case O_LOCATION: rq->location = v; break;
    case O_REASON: rq->reason = v; break;
    case O_COMMENT: rq->comment = v; break;
    case O_MEMBERS_FILE: rq->members_file = v; break;
    case O_ROLE: rq->role = v; break;
    case O_HEAD: rq->head = v; break;
    case O_SHIM: rq->shim = v; break;
    case O_APPROVER: rq->approver = v; break;
    default: break;
    }
}

/* SEQ:HASH or HASH, HASH TP_AUDIT_ANCHOR_MIN_HEX..TP_AUDIT_HASH_MAX hex digits (the
 * plugin checks it again). */
static int head_shaped(const char *s)
{
    const char *hex = strchr(s, ':');
    if (hex) {
        if (hex == s || hex - s > 19)
            return 0;
        for (const char *p = s; p < hex; p++)
            if (*p < '0' || *p > '9')
                return 0;
        hex++;
    } else {
        hex = s;
    }
    size_t n = strlen(hex);
    if (n < TP_AUDIT_ANCHOR_MIN_HEX || n > TP_AUDIT_HASH_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f') ||
              (hex[i] >= 'A' && hex[i] <= 'F')))
            return 0;
    return 1;
}

/* Parses argv into *rq. Returns 0, or an exit status (usage, or --help). */
static int parse_command_line(int argc, char **argv, request *rq)
{
    /* Options may come before or after the command words; they are
     * checked against the command once it is known. */
    const char *words[MAX_POSITIONALS + 2];
    int nwords = 0, only_positionals = 0;
    const char *limit_arg = NULL, *before_arg = NULL, *from_arg = NULL, *to_arg = NULL;
    const char *as_of_arg = NULL;
    const char *type_args[16];
    int ntypes = 0;
    memset(rq, 0, sizeof *rq);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_positionals && strcmp(a, "--") == 0) {
            only_positionals = 1;
            continue;
        }
        if (only_positionals || is_positional(a)) {
            if (nwords == MAX_POSITIONALS + 2)
                return usage_error(NULL, "too many arguments, starting at '%s'.", a);
            words[nwords++] = a;
            continue;
        }
        if (strcmp(a, "-h") == 0) {
            rq->given |= O_HELP;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return usage_error(NULL, "unknown option '%s'.", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const option_def *o = NULL;
        for (size_t k = 0; k < OPTION_COUNT; k++)
            if (strlen(option_defs[k].name) == nlen &&
                strncmp(option_defs[k].name, name, nlen) == 0)
                o = &option_defs[k];
        if (!o)
            return usage_error(NULL, "unknown option '%.*s'.", (int)(nlen + 2), a);
        const char *value = NULL;
        if (o->takes_value) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return usage_error(NULL, "--%s needs a value.", o->name);
        } else if (eq) {
            return usage_error(NULL, "--%s takes no value.", o->name);
        }
        if (o->bit == O_TYPE) {
            if (ntypes == (int)(sizeof type_args / sizeof type_args[0]))
                return usage_error(NULL, "too many --type options.");
            type_args[ntypes++] = value;
        } else if (rq->given & o->bit) {
            return usage_error(NULL, "--%s is given twice.", o->name);
        }
        rq->given |= o->bit;
        if (o->bit == O_LIMIT)
            limit_arg = value;
        else if (o->bit == O_BEFORE)
            before_arg = value;
        else if (o->bit == O_FROM)
            from_arg = value;
        else if (o->bit == O_TO)
            to_arg = value;
        else if (o->bit == O_AS_OF)
            as_of_arg = value;
        else if (o->takes_value && o->bit != O_TYPE)
            set_value(rq, o->bit, value);
    }
    rq->json = (rq->given & O_JSON) != 0;
    if (rq->given & O_HELP) {
        print_usage(stdout);
        return -1; /* exit 0 */
    }
    if (rq->given & O_VERSION) {
        tp_hostlib_options opt = {.plugin_path = rq->plugin};
        return tp_hostlib_print_version(stdout, "tillpoints", &opt) == 0 ? -1 : EXIT_REFUSED;
    }
    if (nwords == 0)
        return usage_error(NULL, "no command given.");
    if (nwords == 1 && strcmp(words[0], "help") == 0) { /* what people type first */
        print_usage(stdout);
        return -1; /* exit 0 */
    }

    int used = 1;
    const command_def *cmd;
    if (strcmp(words[0], "member") == 0) {
        if (nwords < 2)
            return usage_error(NULL, "member needs a subcommand: add, add-card, show or find.");
        cmd = find_command("member", words[1]);
        if (!cmd)
            return usage_error(NULL, "unknown member subcommand '%s' (add, add-card, show, "
                                     "find).", words[1]);
        used = 2;
    } else if (strcmp(words[0], "manager") == 0) {
        if (nwords < 2)
            return usage_error(NULL, "manager needs a subcommand: add, reset-pin or list.");
        cmd = find_command("manager", words[1]);
        if (!cmd)
            return usage_error(NULL, "unknown manager subcommand '%s' (add, reset-pin, list).",
                               words[1]);
        used = 2;
    } else if (strcmp(words[0], "redeem") == 0) {
        cmd = nwords < 2 ? NULL : find_command("redeem", words[1]);
        if (!cmd)
            return usage_error(NULL, "redeem needs a subcommand: reverse RECEIPT.");
        used = 2;
    } else if (strcmp(words[0], "audit") == 0) { /* audit: */
        cmd = nwords < 2 ? NULL : find_command("audit", words[1]);
        if (!cmd)
            return usage_error(NULL, "audit needs a subcommand: head or seal.");
        used = 2;
    } else if (strcmp(words[0], "queue") == 0 || strcmp(words[0], "central") == 0) { /* sync: */
        int queue = words[0][0] == 'q';
        cmd = nwords < 2 ? NULL : find_command(words[0], words[1]);
        if (!cmd)
            return usage_error(NULL, queue ? "queue needs a subcommand: status, list, retry, "
                                             "park ID, unpark ID or dismiss ID."
                                           : "central needs a subcommand: init.");
        used = 2;
    } else {
        cmd = find_command(NULL, words[0]);
        if (!cmd)
            return usage_error(NULL, "unknown command '%s'.", words[0]);
    }
    rq->cmd = cmd;
    int optional_missing = cmd->id == C_RETRO && nwords == used; /* the prefill */
    if (!optional_missing && nwords - used != cmd->positionals)
        return usage_error(cmd, "%s %s.", nwords - used < cmd->positionals ?
                                              "missing arguments for" : "too many arguments for",
                           cmd->name);
    for (int i = used; i < nwords; i++)
        rq->pos[rq->npos++] = words[i];

    unsigned stray = rq->given & ~(cmd->options | O_GLOBAL);
    if (stray) {
        for (size_t k = 0; k < OPTION_COUNT; k++)
            if (stray & option_defs[k].bit)
                return usage_error(cmd, "%s does not take --%s.", cmd->name,
                                   option_defs[k].name);
    }
    unsigned missing = cmd->required & ~rq->given;
    if (missing) {
        for (size_t k = 0; k < OPTION_COUNT; k++)
            if (missing & option_defs[k].bit)
                return usage_error(cmd, "%s needs --%s.", cmd->name, option_defs[k].name);
    }

    /* Values that must be numbers, dates or kinds. */
    rq->limit = ACTIVITY_LIMIT_DEFAULT;
    if (limit_arg) {
        int64_t v;
        if (parse_int64(limit_arg, &v) != 0 || v < 1 || v > ACTIVITY_LIMIT_MAX)
            return usage_error(cmd, "--limit takes a whole number from 1 to %d.",
                               ACTIVITY_LIMIT_MAX);
        rq->limit = (uint32_t)v;
    }
    if (before_arg &&
        (parse_int64(before_arg, &rq->before_id) != 0 || rq->before_id < 1))
        return usage_error(cmd, "--before takes an entry id, as printed on the last line "
                                "of the previous page.");
    if (from_arg && parse_date(from_arg, 0, &rq->from_ms) != 0)
        return usage_error(cmd, "--from takes a UTC date, YYYY-MM-DD or YYYY-MM-DDTHH:MM.");
    if (to_arg && parse_date(to_arg, 1, &rq->to_ms) != 0)
        return usage_error(cmd, "--to takes a UTC date, YYYY-MM-DD or YYYY-MM-DDTHH:MM.");
    if (from_arg && to_arg && rq->to_ms <= rq->from_ms)
        return usage_error(cmd, "--to must be later than --from.");
    /* The points due by the end of that day: its last millisecond. */
    if (as_of_arg && (strlen(as_of_arg) != 10 || parse_date(as_of_arg, 1, &rq->as_of_ms) != 0))
        return usage_error(cmd, "--as-of takes a UTC date, YYYY-MM-DD.");
    if (as_of_arg)
        rq->as_of_ms -= 1;
    for (int i = 0; i < ntypes; i++) {
        char bad[48];
        if (parse_kinds(type_args[i], &rq->kinds, bad, sizeof bad) != 0)
            return usage_error(cmd, "unknown --type '%s' (issued, retro, adjust, bulk, "
                                    "import, reversal, expire, redeem, unredeem).", bad);
    }
    if (cmd->id == C_ADJUST || cmd->id == C_BULK_ADJUST) {
        const char *n = rq->pos[cmd->id == C_ADJUST ? 1 : 0];
        if (parse_int64(n, &rq->points) != 0)
            return usage_error(cmd, "the points must be a whole number such as +50 or -20, "
                                    "not '%s'.", n);
    }
    if (cmd->id == C_BULK_ADJUST &&
        !!(rq->given & O_ALL) == !!(rq->given & O_MEMBERS_FILE))
        return usage_error(cmd, "bulk-adjust takes either --members-file FILE or --all.");
    if (rq->role && strcmp(rq->role, "manager") != 0 && strcmp(rq->role, "cashier") != 0)
        return usage_error(cmd, "--role is manager or cashier, not '%s'.", rq->role);
    if (rq->staff && (!*rq->staff || strlen(rq->staff) > TP_STAFF_ID_MAX))
        return usage_error(cmd, "--staff takes an id of 1 to %d characters.", TP_STAFF_ID_MAX);
    if (rq->head && !head_shaped(rq->head))
        return usage_error(cmd, "--head takes SEQ:HASH as `tillpoints audit head` prints it: "
                                "the record number, a colon and at least the first %d hex "
                                "digits of the hash.", TP_AUDIT_ANCHOR_MIN_HEX);
    return 0;
}

/* ----------------------------------------------------------- formatting */

static void format_time(char *buf, size_t cap, int64_t ms, int iso)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "?");
        return;
    }
    /* Numeric fields only: the same in every locale. */
    if (strftime(buf, cap, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(buf, cap, "?");
}

static void format_points(char *buf, size_t cap, int64_t points)
{
    snprintf(buf, cap, "%s%lld", points > 0 ? "+" : "", (long long)points);
}

static const char *points_word(int64_t points)
{
    return points == 1 || points == -1 ? "point" : "points";
}

/* Width on a terminal, counting UTF-8 sequences as one column each. */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0u) != 0x80u)
            w++;
    return w;
}

/* Prints a table of ncols columns: headers, a rule, then rows of cells
 * (row-major, `nrows * ncols` strings). The last column is not padded. */
static void print_table(const char *const *headers, size_t ncols, const char *const *cells,
                        size_t nrows)
{
    size_t width[16] = {0};
    for (size_t c = 0; c < ncols; c++) {
        width[c] = display_width(headers[c]);
        for (size_t r = 0; r < nrows; r++) {
            size_t w = display_width(cells[r * ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t r = 0; r < nrows + 2; r++) {
        const char *const *line = r == 0 ? headers : r == 1 ? NULL : &cells[(r - 2) * ncols];
        /* Stop at the last non-empty cell: no trailing blanks. */
        size_t last = ncols - 1;
        while (line && last > 0 && !line[last][0])
            last--;
        for (size_t c = 0; c <= last; c++) {
            if (c > 0)
                fputs("  ", stdout);
            if (!line) {
                for (size_t i = 0; i < width[c]; i++)
                    putchar('-');
                continue;
            }
            fputs(line[c], stdout);
            if (c < last)
                for (size_t i = display_width(line[c]); i < width[c]; i++)
                    putchar(' ');
        }
        putchar('\n');
    }
}

/* ----------------------------------------------------------------- JSON */

/* A JSON string; bytes that are not valid UTF-8 become '?' rather than
 * losing the field. */
static json_t *jstr(const char *s)
{
    if (!s)
        s = "";
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return json_null();
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80u)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
}

static json_t *jint(int64_t v) { return json_integer((json_int_t)v); }

static void jset(json_t *obj, const char *key, json_t *value)
{
    json_object_set_new(obj, key, value ? value : json_null());
}

/* What a shown balance is made of (docs/DESIGN.md §8, "One balance"), as
 * the shim's protocol 1.4 names it: this terminal's ledger sum, the
 * source ("" from an older plugin) and when the central part was last
 * confirmed. */
static void balance_parts_json(json_t *o, const tp_member_info *m)
{
    jset(o, "ledger_balance", jint(m->balance));
    jset(o, "balance_source", jstr(m->balance_source));
    jset(o, "balance_as_of_ms", jint(m->balance_as_of_ms));
}

/* On a synced terminal, one sentence on how fresh a member's balance is
 * (from member_balance's view); "" standalone or from an older plugin. */
static void balance_note(cli *c, const tp_member_info *m, char *out, size_t cap)
{
    out[0] = '\0';
    if (!m->balance_source[0] || strcmp(m->balance_source, "local") == 0 ||
        !TP_HAS_FIELD(c->ad->members, tp_members_ext, member_balance))
        return;
    tp_balance_view v = {.struct_size = sizeof v};
    tp_message msg;
    if (c->ad->members->member_balance(c->p, m->code, &v, &msg) != TP_OK)
        return;
    char when[32] = "?";
    time_t t = (time_t)(m->balance_as_of_ms / 1000);
    struct tm tm;
    if (m->balance_as_of_ms > 0 && gmtime_r(&t, &tm) &&
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(when, sizeof when, "?");
    size_t n = 0;
    if (strcmp(m->balance_source, "central") == 0)
        n = (size_t)snprintf(out, cap, "the chain's balance, confirmed by the central database "
                             "(as of %s UTC)", when);
    else if (m->balance_as_of_ms)
        n = (size_t)snprintf(out, cap, "%lld confirmed by the central database as of %s UTC, "
                             "%lld from this till not yet confirmed", (long long)v.confirmed,
                             when, (long long)v.pending);
    else
        n = (size_t)snprintf(out, cap, "not yet confirmed by the central database "
                             "(%lld from this till waiting to be sent)", (long long)v.pending);
    if (v.refused && n < cap)
        snprintf(out + n, cap - n, "; %lld refused centrally and not counted (see tillpoints "
                 "queue list)", (long long)v.refused);
}

/* The member's next expiry (2.4; 0 / 0 from an older plugin, or when
 * nothing expires): for --json. */
static void expiry_json(json_t *o, const tp_member_info *m)
{
    jset(o, "expiring_points", jint(m->expiring_points));
    jset(o, "expiring_at_ms", jint(m->expiring_at_ms));
}

/* "next expiry: 40 points on 2027-03-01 00:00 UTC", or "" when none. */
static void expiry_line(const tp_member_info *m, char *out, size_t cap)
{
    out[0] = '\0';
    if (m->expiring_points <= 0)
        return;
    char when[32];
    format_time(when, sizeof when, m->expiring_at_ms, 0);
    snprintf(out, cap, "next expiry: %lld %s on %s UTC", (long long)m->expiring_points,
             points_word(m->expiring_points), when);
}

static json_t *member_json(const tp_member_info *m)
{
    char when[32];
    format_time(when, sizeof when, m->created_ms, 1);
    json_t *o = json_object();
    jset(o, "code", jstr(m->code));
    jset(o, "name", jstr(m->name));
    jset(o, "phone", jstr(m->phone));
    jset(o, "email", jstr(m->email));
    jset(o, "app_id", jstr(m->app_id));
    jset(o, "balance", jint(TP_HOST_SHOWN_BALANCE(m)));
    jset(o, "created_ms", jint(m->created_ms));
    jset(o, "created", jstr(when));
    balance_parts_json(o, m);
    expiry_json(o, m);
    return o;
}

static json_t *row_json(const tp_activity_row *r)
{
    char when[32];
    format_time(when, sizeof when, r->time_ms, 1);
    json_t *o = json_object();
    jset(o, "id", jint(r->id));
    jset(o, "time_ms", jint(r->time_ms));
    jset(o, "time", jstr(when));
    jset(o, "member", jstr(r->member_code));
    jset(o, "member_name", jstr(r->member_name));
    jset(o, "points", jint(r->points));
    jset(o, "kind", jstr(r->kind));
    jset(o, "type", jstr(kind_shown(r->kind)));
    jset(o, "staff", jstr(r->staff));
    jset(o, "approver", jstr(r->approver));
    jset(o, "location", jstr(r->location));
    jset(o, "receipt", jstr(r->receipt));
    jset(o, "reason", jstr(r->reason));
    jset(o, "comment", jstr(r->comment));
    jset(o, "reverses_id", r->reverses_id ? jint(r->reverses_id) : json_null());
    return o;
}

/* ------------------------------------------------------ progress, problems */

static void progress_clear(progress *b)
{
    if (b->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        b->drawn = 0;
    }
}

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    cli *c = user;
    progress *b = &c->bar;
    if (!b->enabled)
        return;
    char line[96];
    if (total > 0) {
        uint64_t d = done > total ? total : done;
        int permille = (int)(d * 1000 / total);
        if (b->drawn && permille == b->last_permille)
            return;
        b->last_permille = permille;
        enum { BAR = 30 };
        char bar[BAR + 1];
        int fill = permille * BAR / 1000;
        for (int i = 0; i < BAR; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR] = '\0';
        snprintf(line, sizeof line, "[%s] %3d%% %llu/%llu", bar, permille / 10,
                 (unsigned long long)d, (unsigned long long)total);
    } else {
        if (b->drawn && done - b->last_done < 1000)
            return;
        b->last_done = done;
        snprintf(line, sizeof line, "%llu rows", (unsigned long long)done);
    }
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    b->drawn = 1;
}

/* 1234567 -> "1,234,567". */
static void with_commas(char *out, size_t cap, uint64_t n)
{
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

/* verify's line: rows read of the run's total, redrawn per permille. */
static void on_verify_progress(void *user, uint64_t done, uint64_t total)
{
    cli *c = user;
    progress *b = &c->bar;
    if (!b->enabled || total == 0)
        return;
    uint64_t d = done > total ? total : done;
    int permille = (int)(d * 1000 / total);
    if (b->drawn && permille == b->last_permille)
        return;
    b->last_permille = permille;
    char a[32], t[32];
    with_commas(a, sizeof a, d);
    with_commas(t, sizeof t, total);
    fprintf(stderr, "\rverify: %s of %s rows read (%d%%)\033[K", a, t, permille / 10);
    fflush(stderr);
    b->drawn = 1;
}

static void on_problem(void *user, uint64_t line, const char *sentence)
{
    cli *c = user;
    c->problem_count++;
    if (c->rq.json) {
        json_t *o = json_object();
        jset(o, "line", line ? jint((int64_t)line) : json_null());
        jset(o, "message", jstr(sentence));
        json_array_append_new(c->problems, o);
        return;
    }
    progress_clear(&c->bar);
    if (line)
        printf("line %llu: %s\n", (unsigned long long)line, sentence);
    else
        printf("%s\n", sentence);
    fflush(stdout);
}

/* ------------------------------------------------------------- commands */

/* Reports a refusal: the plugin's sentence on stderr (and in the JSON
 * answer). Returns the exit status. */
static int refused(cli *c, tp_status st, const tp_message *msg)
{
    const char *text = msg->text[0] ? msg->text : tp_hostlib_status_name(st);
    progress_clear(&c->bar);
    fflush(stdout); /* what was printed comes first, also through a pipe */
    fprintf(stderr, "tillpoints: %s\n", text);
    if (c->doc) {
        jset(c->doc, "ok", json_false());
        jset(c->doc, "status", jstr(tp_hostlib_status_name(st)));
        jset(c->doc, "error", jstr(text));
    }
    return EXIT_REFUSED;
}

static void print_member(cli *c, const tp_member_info *m)
{
    char when[32], note[TP_MESSAGE_MAX + 160];
    format_time(when, sizeof when, m->created_ms, 0);
    balance_note(c, m, note, sizeof note);
    printf("code:     %s\n", m->code);
    printf("name:     %s\n", m->name[0] ? m->name : "-");
    printf("phone:    %s\n", m->phone[0] ? m->phone : "-");
    printf("email:    %s\n", m->email[0] ? m->email : "-");
    printf("app id:   %s\n", m->app_id[0] ? m->app_id : "-");
    int64_t shown = TP_HOST_SHOWN_BALANCE(m);
    printf("balance:  %lld %s\n", (long long)shown, points_word(shown));
    if (note[0])
        printf("          %s\n", note);
    char expiry[96];
    expiry_line(m, expiry, sizeof expiry);
    if (expiry[0])
        printf("          %s\n", expiry);
    printf("member since %s UTC\n", when);
}

static int cmd_member_add(cli *c)
{
    const request *rq = &c->rq;
    tp_member_new m = {.struct_size = sizeof m, .code = rq->pos[0], .name = rq->name,
                       .phone = rq->phone, .email = rq->email, .app_id = rq->app_id};
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    tp_status st = c->ad->members->member_add(c->p, &m, &info, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (c->doc) {
        jset(c->doc, "member", member_json(&info));
        return 0;
    }
    printf("Member %s added.\n", info.code);
    print_member(c, &info);
    return 0;
}

static int cmd_member_add_card(cli *c)
{
    tp_message msg;
    tp_status st = c->ad->members->member_add_card(c->p, c->rq.pos[0], c->rq.pos[1], &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    tp_member_info info = {.struct_size = sizeof info};
    st = c->ad->members->member_get(c->p, c->rq.pos[1], &info, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (c->doc) {
        jset(c->doc, "card", jstr(c->rq.pos[1]));
        jset(c->doc, "member", member_json(&info));
        return 0;
    }
    printf("Card %s now identifies %s%s%s%s.\n", c->rq.pos[1], info.code,
           info.name[0] ? " (" : "", info.name, info.name[0] ? ")" : "");
    return 0;
}

static int cmd_member_show(cli *c)
{
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    tp_status st = c->ad->members->member_get(c->p, c->rq.pos[0], &info, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (c->doc) {
        jset(c->doc, "member", member_json(&info));
        return 0;
    }
    print_member(c, &info);
    return 0;
}

static int cmd_member_find(cli *c)
{
    /* One more than shown, to tell "exactly FIND_MAX" from "more". */
    tp_member_info *found = calloc(FIND_MAX + 1, sizeof *found);
    if (!found) {
        fprintf(stderr, "tillpoints: out of memory.\n");
        return EXIT_REFUSED;
    }
    size_t n = 0;
    tp_message msg;
    tp_status st = c->ad->members->member_find(c->p, c->rq.pos[0], found, FIND_MAX + 1,
                                               sizeof *found, &n, &msg);
    if (st != TP_OK) {
        free(found);
        return refused(c, st, &msg);
    }
    int more = n > FIND_MAX;
    if (more)
        n = FIND_MAX;
    if (c->doc) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, member_json(&found[i]));
        jset(c->doc, "members", arr);
        jset(c->doc, "more", json_boolean(more));
        free(found);
        return 0;
    }
    if (n == 0) {
        printf("No member matches '%s'.\n", c->rq.pos[0]);
        free(found);
        return 0;
    }
    static const char *const headers[] = {"code", "name", "phone", "email", "app id",
                                          "balance"};
    const char **cells = calloc(n * 6, sizeof *cells);
    char (*bal)[24] = calloc(n, sizeof *bal);
    if (!cells || !bal) {
        free(cells);
        free(bal);
        free(found);
        fprintf(stderr, "tillpoints: out of memory.\n");
        return EXIT_REFUSED;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(bal[i], sizeof bal[i], "%lld", (long long)TP_HOST_SHOWN_BALANCE(&found[i]));
        const char **row = &cells[i * 6];
        row[0] = found[i].code;
        row[1] = found[i].name;
        row[2] = found[i].phone;
        row[3] = found[i].email;
        row[4] = found[i].app_id;
        row[5] = bal[i];
    }
    print_table(headers, 6, cells, n);
    if (more)
        printf("The first %d matches are shown; type more of the name to narrow it.\n",
               FIND_MAX);
    else
        printf("%zu member%s.\n", n, n == 1 ? "" : "s");
    free(cells);
    free(bal);
    free(found);
    return 0;
}

static int cmd_balance(cli *c)
{
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    tp_status st = c->ad->members->member_get(c->p, c->rq.pos[0], &info, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    int64_t shown = TP_HOST_SHOWN_BALANCE(&info);
    if (c->doc) {
        jset(c->doc, "member", jstr(info.code));
        jset(c->doc, "name", jstr(info.name));
        jset(c->doc, "balance", jint(shown));
        balance_parts_json(c->doc, &info);
        expiry_json(c->doc, &info);
        return 0;
    }
    char note[TP_MESSAGE_MAX + 160], expiry[96];
    balance_note(c, &info, note, sizeof note);
    expiry_line(&info, expiry, sizeof expiry);
    printf("%s%s%s%s: %lld %s\n", info.code, info.name[0] ? " (" : "", info.name,
           info.name[0] ? ")" : "", (long long)shown, points_word(shown));
    if (note[0])
        printf("%s.\n", note);
    if (expiry[0])
        printf("%s\n", expiry);
    return 0;
}

/* Prints a page of the activity log and how to get the next one. */
static void print_activity(const tp_activity_row *rows, size_t n, int more)
{
    if (n == 0) {
        printf("No entries.\n");
        return;
    }
    static const char *const headers[] = {"time", "member", "points", "type", "staff",
                                          "location", "receipt", "reason"};
    enum { COLS = 8 };
    const char **cells = calloc(n * COLS, sizeof *cells);
    char (*times)[24] = calloc(n, sizeof *times);
    char (*points)[24] = calloc(n, sizeof *points);
    char (*staff)[140] = calloc(n, sizeof *staff);
    if (!cells || !times || !points || !staff) {
        fprintf(stderr, "tillpoints: out of memory.\n");
    } else {
        for (size_t i = 0; i < n; i++) {
            format_time(times[i], sizeof times[i], rows[i].time_ms, 0);
            format_points(points[i], sizeof points[i], rows[i].points);
            const char **row = &cells[i * COLS];
            row[0] = times[i];
            row[1] = rows[i].member_code;
            row[2] = points[i];
            row[3] = kind_shown(rows[i].kind);
            /* "cas-7 (mia)": who did it, and the manager who approved. */
            if (rows[i].approver[0] && strcmp(rows[i].approver, rows[i].staff) != 0)
                snprintf(staff[i], sizeof staff[i], "%s (%s)", rows[i].staff, rows[i].approver);
            else
                snprintf(staff[i], sizeof staff[i], "%s", rows[i].staff);
            row[4] = staff[i];
            row[5] = rows[i].location;
            row[6] = rows[i].receipt;
            row[7] = rows[i].reason;
        }
        print_table(headers, COLS, cells, n);
    }
    free(cells);
    free(staff);
    free(times);
    free(points);
    if (more)
        printf("%zu entries shown, newest first; for older ones add --before %lld\n", n,
               (long long)rows[n - 1].id);
    else
        printf("%zu entr%s shown; no older ones.\n", n, n == 1 ? "y" : "ies");
}

static int run_activity(cli *c, const char *member)
{
    const request *rq = &c->rq;
    /* Ask for one more row than shown, to know whether an older page
     * exists; at the ABI's maximum, assume it may. */
    uint32_t want = rq->limit < ACTIVITY_LIMIT_MAX ? rq->limit + 1 : rq->limit;
    tp_activity_query q = {.struct_size = sizeof q, .kinds = rq->kinds, .member = member,
                           .staff = rq->staff, .location = rq->location,
                           .from_ms = rq->from_ms, .to_ms = rq->to_ms,
                           .before_id = rq->before_id};
    tp_activity_row *rows = calloc(want, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "tillpoints: out of memory.\n");
        return EXIT_REFUSED;
    }
    size_t n = 0;
    tp_message msg;
    tp_status st = c->ad->ledger->activity(c->p, &q, rows, want, sizeof *rows, &n, &msg);
    if (st != TP_OK) {
        free(rows);
        return refused(c, st, &msg);
    }
    if (n > want)
        n = want; /* a plugin never reports more than asked; be safe */
    int more = n > rq->limit || (n == ACTIVITY_LIMIT_MAX && rq->limit == ACTIVITY_LIMIT_MAX);
    if (n > rq->limit)
        n = rq->limit;
    if (c->doc) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, row_json(&rows[i]));
        jset(c->doc, "entries", arr);
        jset(c->doc, "next_before", more && n ? jint(rows[n - 1].id) : json_null());
    } else {
        print_activity(rows, n, more);
    }
    free(rows);
    return 0;
}

static int cmd_history(cli *c)
{
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    tp_status st = c->ad->members->member_get(c->p, c->rq.pos[0], &info, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (c->doc)
        jset(c->doc, "member", member_json(&info));
    else
        printf("%s%s%s%s, balance %lld %s\n", info.code, info.name[0] ? " (" : "",
               info.name, info.name[0] ? ")" : "", (long long)TP_HOST_SHOWN_BALANCE(&info),
               points_word(TP_HOST_SHOWN_BALANCE(&info)));
    return run_activity(c, info.code);
}

static int cmd_activity(cli *c) { return run_activity(c, c->rq.member); }

/* After a manager's entry: the entry and the member's balance now, as
 * JSON or as "Entry 12: +50 points for M-1 (Ann); balance 90 points."
 * (`verb` between the points and the member; `receipt`, when not NULL,
 * adds "for receipt R"). */
static int said_entry(cli *c, const tp_activity_row *entry, const char *member,
                      const char *verb, const char *receipt)
{
    tp_member_info info = {.struct_size = sizeof info};
    tp_message msg;
    tp_status st = c->ad->members->member_get(c->p, member, &info, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    int64_t shown = TP_HOST_SHOWN_BALANCE(&info);
    if (c->doc) {
        jset(c->doc, "entry", row_json(entry));
        jset(c->doc, "balance", jint(shown));
        balance_parts_json(c->doc, &info);
        return 0;
    }
    char pts[24];
    format_points(pts, sizeof pts, entry->points);
    printf("Entry %lld: %s %s %s %s%s%s%s%s%s; balance %lld %s.\n", (long long)entry->id, pts,
           points_word(entry->points), verb, info.code, info.name[0] ? " (" : "", info.name,
           info.name[0] ? ")" : "", receipt ? " for receipt " : "", receipt ? receipt : "",
           (long long)shown, points_word(shown));
    return 0;
}

static int cmd_adjust(cli *c)
{
    const request *rq = &c->rq;
    tp_adjustment adj = {.struct_size = sizeof adj, .member = rq->pos[0], .points = rq->points,
                         .reason = rq->reason, .comment = rq->comment, .staff = rq->staff};
    tp_activity_row entry = {.struct_size = sizeof entry};
    tp_message msg;
    tp_status st = c->ad->ledger->adjust(c->p, &adj, &entry, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    return said_entry(c, &entry, entry.member_code[0] ? entry.member_code : rq->pos[0], "for",
                      NULL);
}

static void free_codes(char **codes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(codes[i]);
    free(codes);
}

/* Reads one member code per line: blank lines and lines starting with '#'
 * are skipped, surrounding blanks, a CR and a UTF-8 BOM are dropped.
 * Returns 0, or -1 with errno set. */
static int read_codes(const char *path, char ***out, size_t *count)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f)
        return -1;
    char **codes = NULL, *line = NULL;
    size_t n = 0, cap = 0, linecap = 0;
    ssize_t len;
    int first = 1, err = 0;
    while ((len = getline(&line, &linecap, f)) >= 0) {
        char *s = line;
        if (first && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
            s += 3;
        first = 0;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strlen(s);
        while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == ' ' ||
                         s[l - 1] == '\t'))
            s[--l] = '\0';
        if (l == 0 || s[0] == '#')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **grown = realloc(codes, ncap * sizeof *grown);
            if (!grown) {
                err = ENOMEM;
                break;
            }
            codes = grown;
            cap = ncap;
        }
        if (!(codes[n] = strdup(s))) {
            err = ENOMEM;
            break;
        }
        n++;
    }
    if (!err && ferror(f))
        err = EIO;
    free(line);
    if (f != stdin)
        fclose(f);
    if (err) {
        free_codes(codes, n);
        errno = err;
        return -1;
    }
    *out = codes;
    *count = n;
    return 0;
}

static int cmd_bulk_adjust(cli *c)
{
    const request *rq = &c->rq;
    char **codes = NULL;
    size_t ncodes = 0;
    if (rq->members_file && read_codes(rq->members_file, &codes, &ncodes) != 0) {
        int e = errno;
        fprintf(stderr, "tillpoints: cannot read %s: %s.\n", rq->members_file, strerror(e));
        if (c->doc) {
            jset(c->doc, "ok", json_false());
            jset(c->doc, "error", jstr(strerror(e)));
        }
        return EXIT_REFUSED;
    }
    tp_bulk_adjustment bulk = {.struct_size = sizeof bulk,
                               .members = (const char *const *)codes,
                               .member_count = ncodes,
                               .all_members = (rq->given & O_ALL) != 0,
                               .points = rq->points,
                               .reason = rq->reason,
                               .comment = rq->comment,
                               .staff = rq->staff};
    tp_bulk_result res = {.struct_size = sizeof res};
    tp_message msg;
    memset(&msg, 0, sizeof msg);
    tp_status st = c->ad->ledger->bulk_adjust(c->p, &bulk, on_progress, c, &res, &msg);
    progress_clear(&c->bar);
    free_codes(codes, ncodes);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (c->doc) {
        jset(c->doc, "batch_id", jstr(res.batch_id));
        jset(c->doc, "members", jint((int64_t)res.members));
        jset(c->doc, "points_each", jint(rq->points));
        jset(c->doc, "points_total", jint(res.points_total));
        if (msg.text[0])
            jset(c->doc, "message", jstr(msg.text));
        return 0;
    }
    char each[24], total[24];
    format_points(each, sizeof each, rq->points);
    format_points(total, sizeof total, res.points_total);
    printf("bulk-adjust: %s %s for %llu member%s, %s %s in total (batch %s).\n", each,
           points_word(rq->points), (unsigned long long)res.members,
           res.members == 1 ? "" : "s", total, points_word(res.points_total), res.batch_id);
    if (msg.text[0]) /* e.g. a batch an earlier, interrupted run began */
        printf("bulk-adjust: %s\n", msg.text);
    return 0;
}

/* Points that expire (ext/expiry.h): found with tp_hostabi_extension, so
 * this CLI still runs every other command with a plugin older than 2.4. */
static int cmd_expire(cli *c)
{
    const request *rq = &c->rq;
    tp_message msg;
    const tp_expiry_ext *x =
        tp_hostabi_extension(c->p, TP_EXT_EXPIRY, TP_FIELD_END(tp_expiry_ext, member_next));
    if (!x) {
        snprintf(msg.text, sizeof msg.text, "This tillpoints.so has no expiry (it predates ABI "
                 "2.4); install the plugin that came with this tillpoints.");
        return refused(c, TP_ERR_UNSUPPORTED, &msg);
    }
    int dry = (rq->given & O_DRY_RUN) != 0;
    tp_expiry_result res = {.struct_size = sizeof res};
    tp_status st = x->expire(c->p, rq->as_of_ms, dry, rq->staff, on_progress, c, &res, &msg);
    progress_clear(&c->bar);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (c->doc) {
        jset(c->doc, "dry_run", json_boolean(dry));
        jset(c->doc, "as_of_ms", rq->as_of_ms ? jint(rq->as_of_ms) : json_null());
        jset(c->doc, "members", jint((int64_t)res.members));
        jset(c->doc, "entries", jint((int64_t)res.entries));
        jset(c->doc, "points", jint(res.points));
        jset(c->doc, "applied", json_boolean(res.applied));
        return 0;
    }
    if (res.members == 0)
        printf(dry ? "Dry run: no points are due to expire; nothing written.\n"
                   : "No points are due to expire; nothing written.\n");
    else if (dry)
        printf("Dry run: %lld %s of %llu member%s would expire; nothing written.\n",
               (long long)res.points, points_word(res.points), (unsigned long long)res.members,
               res.members == 1 ? "" : "s");
    else
        printf("Expired %lld %s of %llu member%s (%llu entr%s).\n", (long long)res.points,
               points_word(res.points), (unsigned long long)res.members,
               res.members == 1 ? "" : "s", (unsigned long long)res.entries,
               res.entries == 1 ? "y" : "ies");
    return 0;
}

static int cmd_import(cli *c)
{
    const request *rq = &c->rq;
    uint32_t flags = 0;
    int dry = (rq->given & O_DRY_RUN) != 0, skip = (rq->given & O_SKIP_INVALID) != 0;
    if (dry)
        flags |= TP_IMPORT_DRY_RUN;
    if (skip)
        flags |= TP_IMPORT_SKIP_INVALID;
    tp_import_result res = {.struct_size = sizeof res};
    tp_message msg;
    tp_status st = c->ad->transfer->import_csv(c->p, rq->pos[0], flags, rq->staff, on_progress,
                                               on_problem, c, &res, &msg);
    progress_clear(&c->bar);
    /* Refused, or invalid rows kept the file out (without --skip-invalid,
     * or when no row was valid): exit 1. */
    int failed = st != TP_OK ||
                 (res.invalid > 0 && (!skip || res.invalid >= res.rows));
    if (c->doc) {
        jset(c->doc, "file", jstr(rq->pos[0]));
        jset(c->doc, "dry_run", json_boolean(dry));
        jset(c->doc, "rows", jint((int64_t)res.rows));
        jset(c->doc, "invalid", jint((int64_t)res.invalid));
        jset(c->doc, "members_created", jint((int64_t)res.members_created));
        jset(c->doc, "entries", jint((int64_t)res.entries));
        jset(c->doc, "points_total", jint(res.points_total));
        jset(c->doc, "applied", json_boolean(res.applied));
        jset(c->doc, "message", jstr(msg.text));
    } else {
        char total[24];
        format_points(total, sizeof total, res.points_total);
        const char *outcome = res.applied && (res.entries || res.members_created) ? "applied"
                              : res.applied ? "nothing new to apply"
                              : dry         ? "dry run, nothing written"
                                            : "nothing applied";
        printf("import: %llu row%s, %llu invalid, %llu member%s created, %llu entr%s, %s "
               "%s; %s.\n",
               (unsigned long long)res.rows, res.rows == 1 ? "" : "s",
               (unsigned long long)res.invalid, (unsigned long long)res.members_created,
               res.members_created == 1 ? "" : "s", (unsigned long long)res.entries,
               res.entries == 1 ? "y" : "ies", total, points_word(res.points_total), outcome);
    }
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (failed) {
        if (c->doc)
            jset(c->doc, "ok", json_false());
        return EXIT_REFUSED;
    }
    return 0;
}

static int cmd_export(cli *c)
{
    uint64_t rows = 0;
    tp_message msg;
    tp_status st = c->ad->transfer->export_csv(c->p, c->rq.pos[0], &rows, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (c->doc) {
        jset(c->doc, "file", jstr(c->rq.pos[0]));
        jset(c->doc, "rows", jint((int64_t)rows));
        return 0;
    }
    printf("export: %llu member%s written to %s.\n", (unsigned long long)rows,
           rows == 1 ? "" : "s", c->rq.pos[0]);
    return 0;
}

static const char *const central_names[] = {"off", "unreachable", "empty", "compared"};

/* What the heads showed, after the counts: the local head, the central
 * database's, and the anchor given. */
static void print_heads(const cli *c, const tp_audit_report *rep)
{
    if (rep->local.seq)
        printf("audit log: %llu record%s; head %llu:%s\n", (unsigned long long)rep->local.seq,
               rep->local.seq == 1 ? "" : "s", (unsigned long long)rep->local.seq,
               rep->local.hash);
    else
        printf("audit log: empty\n");
    switch (rep->central) {
    case TP_AUDIT_CENTRAL_OFF:
        break;
    case TP_AUDIT_CENTRAL_UNREACHABLE:
        printf("central database: not compared (%s)\n", rep->central_note);
        break;
    case TP_AUDIT_CENTRAL_EMPTY:
        printf("central database: holds no audit record of this terminal yet\n");
        break;
    case TP_AUDIT_CENTRAL_COMPARED:
        printf("central database: holds records up to %llu:%.16s",
               (unsigned long long)rep->central_seq, rep->central_hash);
        if (rep->local.seq > rep->central_seq)
            printf("; %llu newer here not sent yet",
                   (unsigned long long)(rep->local.seq - rep->central_seq));
        printf("\n");
        break;
    }
    if (rep->anchor_checked && rep->anchor_seq)
        printf("head %s: record %llu still has that hash\n", c->rq.head,
               (unsigned long long)rep->anchor_seq);
    else if (rep->anchor_checked)
        printf("head %s: not found as recorded\n", c->rq.head);
}

static json_t *heads_json(const cli *c, const tp_audit_report *rep)
{
    json_t *o = json_object();
    json_t *local = json_object();
    jset(local, "seq", jint((int64_t)rep->local.seq));
    jset(local, "hash", jstr(rep->local.hash));
    jset(o, "head", local);
    json_t *central = json_object();
    jset(central, "state", jstr(central_names[rep->central <= TP_AUDIT_CENTRAL_COMPARED
                                                  ? rep->central
                                                  : TP_AUDIT_CENTRAL_OFF]));
    if (rep->central == TP_AUDIT_CENTRAL_COMPARED) {
        jset(central, "seq", jint((int64_t)rep->central_seq));
        jset(central, "hash", jstr(rep->central_hash));
    }
    if (rep->central_note[0])
        jset(central, "note", jstr(rep->central_note));
    jset(o, "central", central);
    if (rep->anchor_checked) {
        json_t *a = json_object();
        jset(a, "given", jstr(c->rq.head));
        jset(a, "seq", rep->anchor_seq ? jint((int64_t)rep->anchor_seq) : json_null());
        jset(a, "found", rep->anchor_seq ? json_true() : json_false());
        jset(o, "anchor", a);
    }
    return o;
}

static int cmd_verify(cli *c)
{
    tp_verify_result res = {.struct_size = sizeof res};
    tp_message msg;
    tp_audit_report rep = {.struct_size = sizeof rep, .local = {.struct_size = sizeof rep.local}};
    tp_status st =
        c->ad->audit->verify(c->p, c->rq.head, on_verify_progress, on_problem, c, &res, &rep, &msg);
    progress_clear(&c->bar);
    if (st == TP_ERR_INVALID_ARGUMENT && res.checks == 0)
        return refused(c, st, &msg); /* a malformed head: nothing was checked */
    uint64_t problems = res.problems > c->problem_count ? res.problems : c->problem_count;
    if (c->doc) {
        jset(c->doc, "checks", jint((int64_t)res.checks));
        jset(c->doc, "problem_count", jint((int64_t)problems));
        jset(c->doc, "entries", jint((int64_t)res.entries));
        jset(c->doc, "members", jint((int64_t)res.members));
        jset(c->doc, "audit", heads_json(c, &rep));
    } else {
        printf("verify: %llu checks, %llu problem%s\n", (unsigned long long)res.checks,
               (unsigned long long)problems, problems == 1 ? "" : "s");
        print_heads(c, &rep);
    }
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (problems) {
        if (c->doc)
            jset(c->doc, "ok", json_false());
        return EXIT_REFUSED;
    }
    return 0;
}

static void print_head(cli *c, const tp_audit_head *h)
{
    char when[32];
    format_time(when, sizeof when, h->time_ms, c->doc != NULL);
    if (c->doc) {
        char anchor[96], short_anchor[48];
        snprintf(anchor, sizeof anchor, "%llu:%s", (unsigned long long)h->seq, h->hash);
        snprintf(short_anchor, sizeof short_anchor, "%llu:%.16s", (unsigned long long)h->seq,
                 h->hash);
        jset(c->doc, "seq", jint((int64_t)h->seq));
        jset(c->doc, "hash", jstr(h->hash));
        jset(c->doc, "anchor", h->seq ? jstr(anchor) : json_null());
        jset(c->doc, "short_anchor", h->seq ? jstr(short_anchor) : json_null());
        jset(c->doc, "time_ms", h->seq ? jint(h->time_ms) : json_null());
        jset(c->doc, "time", h->seq ? jstr(when) : json_null());
        jset(c->doc, "action", jstr(h->action));
        jset(c->doc, "location", jstr(h->location));
        jset(c->doc, "terminal", jstr(h->terminal));
        return;
    }
    if (!h->seq) {
        printf("audit head: the audit log is empty.\n");
        return;
    }
    printf("audit head: %llu:%s\n", (unsigned long long)h->seq, h->hash);
    printf("record %llu of %s/%s, %s, %s UTC\n", (unsigned long long)h->seq, h->location,
           h->terminal, h->action, when);
    printf("For the end-of-day report write down at least %llu:%.16s; later,\n"
           "tillpoints verify --head %llu:%.16s proves the log still holds it.\n",
           (unsigned long long)h->seq, h->hash, (unsigned long long)h->seq, h->hash);
}

static int cmd_audit_head(cli *c)
{
    tp_message msg;
    tp_audit_head h = {.struct_size = sizeof h};
    tp_status st = c->ad->audit->head(c->p, &h, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    print_head(c, &h);
    return 0;
}

static int cmd_audit_seal(cli *c)
{
    tp_message msg;
    tp_audit_head h = {.struct_size = sizeof h};
    tp_status st = c->ad->audit->seal(c->p, c->rq.staff, c->rq.reason, &h, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (!c->doc)
        printf("%s\n", msg.text);
    print_head(c, &h);
    return 0;
}

/* ------------------------------------------------------------- scanners */

/* `scanners` never loads the plugin: a plugin instance with the store's
 * configuration would open the scanner devices itself (taking a serial
 * port from the till, or showing counters of its own, always 0). The live
 * state and counters belong to the process that owns the scanners; with
 * --shim SOCKET they are asked of a running tillpoints-shim
 * (scanners.list, docs/PROTOCOL.md); without it the configured scanners
 * are listed from the configuration, no device touched. */

static const char scanners_where[] =
    "The live state and counters of a scanner are known only to the program that owns it "
    "(the till or tillpoints-shim); to see them, ask a running shim: tillpoints scanners "
    "--shim SOCKET.";

/* A scanner from a reply of the shim (a scanners.list element). */
static const char *jfield(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static int64_t jfield_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int shim_refused(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int shim_refused(cli *c, const char *fmt, ...)
{
    tp_message msg;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg.text, sizeof msg.text, fmt, ap);
    va_end(ap);
    return refused(c, TP_ERR_NOT_FOUND, &msg);
}

/* Sends hello and scanners.list to the shim at `path` and returns the
 * list's reply (owned by the caller), or NULL after printing why not. A
 * shim answers at once; the wait is bounded so that a stuck one cannot
 * hang the command. */
static json_t *shim_scanners_list(cli *c, const char *path, int *rc)
{
    static const char req[] =
        "{\"id\":1,\"method\":\"hello\",\"params\":{\"protocol\":\"1.3\",\"client\":"
        "\"tillpoints scanners\"}}\n{\"id\":2,\"method\":\"scanners.list\"}\n";
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        *rc = shim_refused(c, "The socket path %s is too long (at most %zu bytes).", path,
                           sizeof addr.sun_path - 1);
        return NULL;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        *rc = shim_refused(c, "No tillpoints-shim answers at %s (%s); start it with --socket %s, "
                              "or run tillpoints scanners without --shim to list the "
                              "configured scanners.", path, strerror(err), path);
        return NULL;
    }
    /* A refusing shim may close before taking the request: its one line is
     * still read below. */
    ssize_t w = send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
    (void)w;
    char *buf = malloc(SHIM_REPLY_MAX + 1);
    size_t len = 0;
    json_t *answer = NULL;
    const char *why = NULL;
    char why_buf[TP_MESSAGE_MAX + 64] = "";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (buf && !answer && !why) {
        char *nl = memchr(buf, '\n', len);
        if (nl) {
            json_t *line = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, buf + used, len - used);
            len -= used;
            json_t *err = json_object_get(line, "error");
            json_t *id = json_object_get(line, "id");
            if (err) {
                snprintf(why_buf, sizeof why_buf, "The tillpoints-shim at %s refused: %s", path,
                         jfield(err, "message"));
                why = why_buf;
            } else if (json_is_integer(id) && json_integer_value(id) == 2) {
                answer = json_incref(json_object_get(line, "result"));
                if (!json_is_array(json_object_get(answer, "scanners"))) {
                    json_decref(answer);
                    answer = NULL;
                    why = "The shim's answer to scanners.list has no scanners list.";
                }
            } /* hello's reply and event lines (the snapshot) are skipped */
            json_decref(line);
            continue;
        }
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t waited = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000 +
                         (t1.tv_nsec - t0.tv_nsec) / 1000000;
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = waited < SHIM_WAIT_MS ? poll(&pfd, 1, (int)(SHIM_WAIT_MS - waited)) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        ssize_t n = pr > 0 && len < SHIM_REPLY_MAX ? read(fd, buf + len, SHIM_REPLY_MAX - len) : -1;
        if (n > 0)
            len += (size_t)n;
        else if (pr == 0)
            why = "The tillpoints-shim did not answer within 30 seconds.";
        else
            why = "The tillpoints-shim closed the connection without answering scanners.list; "
                  "is it a tillpoints-shim of protocol 1.3 or later?";
    }
    free(buf);
    close(fd);
    if (!answer)
        *rc = shim_refused(c, "%s", why ? why : "Out of memory.");
    return answer;
}

static int scanners_from_shim(cli *c)
{
    int rc = EXIT_REFUSED;
    json_t *answer = shim_scanners_list(c, c->rq.shim, &rc);
    if (!answer)
        return rc;
    json_t *list = json_object_get(answer, "scanners");
    if (c->doc) {
        jset(c->doc, "source", jstr("shim"));
        jset(c->doc, "socket", jstr(c->rq.shim));
        jset(c->doc, "scanners", json_incref(list));
        json_decref(answer);
        return 0;
    }
    if (json_array_size(list) == 0)
        printf("No scanners are configured; codes are typed or come from the POS.\n");
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o) {
        char last[32] = "never";
        if (jfield_int(o, "last_scan_ms"))
            format_time(last, sizeof last, jfield_int(o, "last_scan_ms"), 0);
        printf("%-10s %-7s %-8s %s\n", jfield(o, "name"), jfield(o, "driver"),
               jfield(o, "state"), jfield(o, "device"));
        printf("           %lld scans, %lld rejected, %lld errors, %lld reconnects; last scan %s\n",
               (long long)jfield_int(o, "scans"), (long long)jfield_int(o, "rejected"),
               (long long)jfield_int(o, "errors"), (long long)jfield_int(o, "reconnects"), last);
        if (jfield(o, "last_error")[0])
            printf("           %s\n", jfield(o, "last_error"));
    }
    json_decref(answer);
    return 0;
}

static int scanners_configured(cli *c, const char *config_path)
{
    tp_hostconf_scanner sc[TP_HOSTCONF_SCANNERS_MAX];
    int n = config_path ? tp_hostconf_scanners(config_path, sc, TP_HOSTCONF_SCANNERS_MAX) : 0;
    if (n < 0) {
        tp_message msg;
        snprintf(msg.text, sizeof msg.text, "Cannot read the configuration %s: %s.", config_path,
                 strerror(errno));
        return refused(c, TP_ERR_CONFIG, &msg);
    }
    if (c->doc) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++) {
            json_t *o = json_object();
            jset(o, "name", jstr(sc[i].name));
            jset(o, "driver", jstr(sc[i].driver));
            jset(o, "device", jstr(sc[i].device));
            json_array_append_new(arr, o);
        }
        jset(c->doc, "source", jstr("config"));
        jset(c->doc, "note", jstr(scanners_where));
        jset(c->doc, "scanners", arr);
        return 0;
    }
    if (n == 0) {
        printf("No scanners are configured; codes are typed or come from the POS.\n");
        return 0;
    }
    printf("Configured in %s (not opened by this command):\n", config_path);
    for (int i = 0; i < n; i++)
        printf("%-10s %-7s %s\n", sc[i].name, sc[i].driver, sc[i].device);
    printf("%s\n", scanners_where);
    return 0;
}

/* ------------------------------------------------------------- managers */

/* Reads a new PIN for manager `id`: twice with echo off on a terminal,
 * one line from stdin otherwise. Prompts go to stderr. */
static int read_pin(cli *c, const char *id, char *pin, size_t cap)
{
    tp_forms_io io;
    tp_forms_io_init(&io, stdin, stderr, 0);
    char err[160];
    if (tp_forms_read_new_pin(&io, id, pin, cap, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "tillpoints: %s\n", err);
    if (c->doc) {
        jset(c->doc, "ok", json_false());
        jset(c->doc, "error", jstr(err));
    }
    return EXIT_REFUSED;
}

static int cmd_manager_add(cli *c)
{
    char pin[TP_FIELD_VALUE_MAX + 1];
    int rc = read_pin(c, c->rq.pos[0], pin, sizeof pin);
    if (rc != 0)
        return rc;
    tp_message msg;
    tp_status st =
        c->ad->managers->manager_add(c->p, c->rq.pos[0], c->rq.name, pin, c->rq.staff, &msg);
    explicit_bzero(pin, sizeof pin);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (c->doc) {
        jset(c->doc, "manager", jstr(c->rq.pos[0]));
        jset(c->doc, "name", jstr(c->rq.name));
        return 0;
    }
    printf("Manager %s (%s) added.\n", c->rq.pos[0], c->rq.name);
    return 0;
}

static int cmd_manager_reset_pin(cli *c)
{
    char pin[TP_FIELD_VALUE_MAX + 1];
    int rc = read_pin(c, c->rq.pos[0], pin, sizeof pin);
    if (rc != 0)
        return rc;
    tp_message msg;
    tp_status st = c->ad->managers->manager_reset_pin(c->p, c->rq.pos[0], pin, c->rq.staff, &msg);
    explicit_bzero(pin, sizeof pin);
    if (st != TP_OK)
        return refused(c, st, &msg);
    if (c->doc) {
        jset(c->doc, "manager", jstr(c->rq.pos[0]));
        return 0;
    }
    printf("The PIN of manager %s was changed; failures and any lockout are cleared.\n",
           c->rq.pos[0]);
    return 0;
}

static int cmd_manager_list(cli *c)
{
    size_t cap = 64, n = 0;
    tp_manager_info *rows = NULL;
    tp_message msg;
    for (;;) {
        tp_manager_info *grown = realloc(rows, cap * sizeof *rows);
        if (!grown) {
            free(rows);
            fprintf(stderr, "tillpoints: out of memory.\n");
            return EXIT_REFUSED;
        }
        rows = grown;
        memset(rows, 0, cap * sizeof *rows);
        tp_status st = c->ad->managers->manager_list(c->p, rows, cap, sizeof *rows, &n, &msg);
        if (st != TP_OK) {
            free(rows);
            return refused(c, st, &msg);
        }
        if (n <= cap || cap >= 65536)
            break;
        cap = n;
    }
    if (n > cap)
        n = cap;
    if (c->doc) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            char when[32];
            json_t *o = json_object();
            jset(o, "id", jstr(rows[i].id));
            jset(o, "name", jstr(rows[i].name));
            jset(o, "failures", jint(rows[i].failures));
            if (rows[i].locked_until_ms) {
                format_time(when, sizeof when, rows[i].locked_until_ms, 1);
                jset(o, "locked_until_ms", jint(rows[i].locked_until_ms));
                jset(o, "locked_until", jstr(when));
            } else {
                jset(o, "locked_until_ms", json_null());
                jset(o, "locked_until", json_null());
            }
            format_time(when, sizeof when, rows[i].created_ms, 1);
            jset(o, "created", jstr(when));
            json_array_append_new(arr, o);
        }
        jset(c->doc, "managers", arr);
        free(rows);
        return 0;
    }
    if (n == 0) {
        printf("No managers yet; add one with: tillpoints manager add ID --name N --staff S\n");
        free(rows);
        return 0;
    }
    static const char *const headers[] = {"id", "name", "failures", "locked until"};
    const char **cells = calloc(n * 4, sizeof *cells);
    char (*fails)[16] = calloc(n, sizeof *fails);
    char (*locked)[32] = calloc(n, sizeof *locked);
    if (!cells || !fails || !locked) {
        fprintf(stderr, "tillpoints: out of memory.\n");
        free(cells);
        free(fails);
        free(locked);
        free(rows);
        return EXIT_REFUSED;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(fails[i], sizeof fails[i], "%d", rows[i].failures);
        if (rows[i].locked_until_ms)
            format_time(locked[i], sizeof locked[i], rows[i].locked_until_ms, 0);
        else
            snprintf(locked[i], sizeof locked[i], "-");
        const char **row = &cells[i * 4];
        row[0] = rows[i].id;
        row[1] = rows[i].name;
        row[2] = fails[i];
        row[3] = locked[i];
    }
    print_table(headers, 4, cells, n);
    printf("%zu manager%s; times in UTC.\n", n, n == 1 ? "" : "s");
    free(cells);
    free(fails);
    free(locked);
    free(rows);
    return 0;
}

/* --------------------------------------------------- points spent at the till */

/* The plugin's redemption extension (ABI 2.5), or NULL after saying why. */
static const tp_redeem_ext *redeem_ext(cli *c)
{
    const tp_redeem_ext *r =
        tp_hostabi_extension(c->p, TP_EXT_REDEEM, TP_FIELD_END(tp_redeem_ext, overdrafts));
    if (!r) {
        tp_message msg;
        snprintf(msg.text, sizeof msg.text, "This plugin has no %s extension (it predates ABI "
                 "2.5); install a newer plugin.", TP_EXT_REDEEM);
        refused(c, TP_ERR_UNSUPPORTED, &msg);
    }
    return r;
}

/* Reads the PIN of manager `id` once: echo off on a terminal, else one
 * line of stdin. Never from the command line, where ps and the shell's
 * history would keep it. */
static int read_approver_pin(cli *c, const char *id, char *pin, size_t cap)
{
    tp_forms_io io;
    tp_forms_io_init(&io, stdin, stderr, 0);
    if (io.tty) {
        fprintf(stderr, "PIN of manager %s: ", id);
        fflush(stderr);
    }
    int r = tp_forms_read_line(&io, 1, pin, cap);
    if (r == 0 && *pin)
        return 0;
    explicit_bzero(pin, cap);
    const char *err = r < 0    ? "No PIN was given (the input ended)."
                      : r == 1 ? "The PIN is too long."
                               : "No PIN was given.";
    fprintf(stderr, "tillpoints: %s\n", err);
    if (c->doc) {
        jset(c->doc, "ok", json_false());
        jset(c->doc, "error", jstr(err));
    }
    return EXIT_REFUSED;
}

static int cmd_redeem_reverse(cli *c)
{
    const request *rq = &c->rq;
    const tp_redeem_ext *rx = redeem_ext(c);
    if (!rx)
        return EXIT_REFUSED;
    char pin[TP_FIELD_VALUE_MAX + 1];
    int rc = read_approver_pin(c, rq->approver, pin, sizeof pin);
    if (rc != 0)
        return rc;
    tp_redeem_reversal rv = {.struct_size = sizeof rv, .receipt = rq->pos[0],
                             .location = rq->location, .reason = rq->reason,
                             .staff = rq->staff, .approver = rq->approver, .pin = pin};
    tp_activity_row entry = {.struct_size = sizeof entry};
    tp_message msg;
    tp_status st = rx->reverse(c->p, &rv, &entry, &msg);
    explicit_bzero(pin, sizeof pin);
    if (st != TP_OK)
        return refused(c, st, &msg);
    return said_entry(c, &entry, entry.member_code, "given back to", rq->pos[0]);
}

static int cmd_overdrafts(cli *c)
{
    const tp_redeem_ext *rx = redeem_ext(c);
    if (!rx)
        return EXIT_REFUSED;
    tp_overdraft *rows = calloc(OVERDRAFTS_MAX, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "tillpoints: out of memory.\n");
        return EXIT_REFUSED;
    }
    for (size_t i = 0; i < OVERDRAFTS_MAX; i++)
        rows[i].struct_size = sizeof rows[i];
    size_t n = 0;
    tp_message msg;
    tp_status st = rx->overdrafts(c->p, rows, OVERDRAFTS_MAX, sizeof *rows, &n, &msg);
    if (st != TP_OK) {
        free(rows);
        return refused(c, st, &msg);
    }
    if (n > OVERDRAFTS_MAX)
        n = OVERDRAFTS_MAX;
    if (c->doc) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            char when[32];
            json_t *o = json_object();
            format_time(when, sizeof when, rows[i].detected_ms, 1);
            jset(o, "id", jint(rows[i].id));
            jset(o, "member", jstr(rows[i].member_code));
            jset(o, "balance", jint(rows[i].balance));
            jset(o, "detected_ms", jint(rows[i].detected_ms));
            jset(o, "detected", jstr(when));
            jset(o, "location", jstr(rows[i].location));
            jset(o, "terminal", jstr(rows[i].terminal));
            jset(o, "receipt", jstr(rows[i].receipt));
            json_array_append_new(arr, o);
        }
        jset(c->doc, "overdrafts", arr);
        free(rows);
        return 0;
    }
    if (n == 0) {
        printf("No overdrafts reported.\n");
        free(rows);
        return 0;
    }
    enum { COLS = 7 };
    static const char *const headers[COLS] = {"id", "detected", "member", "balance",
                                              "location", "terminal", "receipt"};
    const char **cells = calloc(n * COLS, sizeof *cells);
    char (*ids)[24] = calloc(n, sizeof *ids);
    char (*when)[32] = calloc(n, sizeof *when);
    char (*bal)[24] = calloc(n, sizeof *bal);
    if (!cells || !ids || !when || !bal) {
        fprintf(stderr, "tillpoints: out of memory.\n");
        free(cells);
        free(ids);
        free(when);
        free(bal);
        free(rows);
        return EXIT_REFUSED;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%lld", (long long)rows[i].id);
        format_time(when[i], sizeof when[i], rows[i].detected_ms, 0);
        snprintf(bal[i], sizeof bal[i], "%lld", (long long)rows[i].balance);
        const char **row = &cells[i * COLS];
        row[0] = ids[i];
        row[1] = when[i];
        row[2] = rows[i].member_code;
        row[3] = bal[i];
        row[4] = rows[i].location;
        row[5] = rows[i].terminal;
        row[6] = rows[i].receipt;
    }
    print_table(headers, COLS, cells, n);
    printf("%zu overdraft%s, newest first%s; times in UTC. Each is a member the central "
           "database saw below zero.\n", n, n == 1 ? "" : "s",
           n == OVERDRAFTS_MAX ? " (the newest 1000 only)" : "");
    free(cells);
    free(ids);
    free(when);
    free(bal);
    free(rows);
    return 0;
}

/* ---------------------------------------------------------------- retro */

static void on_present(void *user, const tp_form *form)
{
    cli *c = user;
    tp_forms_on_present(&c->forms, form);
}

static void on_dismiss(void *user, uint64_t form_id, int32_t done, const char *result)
{
    cli *c = user;
    tp_forms_on_dismiss(&c->forms, form_id, done, result);
}

/* The person at the terminal when --staff is not given: the login name. */
static const char *default_staff(void)
{
    const struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name && *pw->pw_name && strlen(pw->pw_name) <= TP_STAFF_ID_MAX)
        return pw->pw_name;
    return "tillpoints-cli";
}

static int cmd_retro(cli *c)
{
    const request *rq = &c->rq;
    const tp_ui_ext *ui = tp_hostlib_ui(c->h);
    if (!ui) {
        tp_message msg;
        snprintf(msg.text, sizeof msg.text, "This plugin has no forms (no %s extension).",
                 TP_EXT_UI);
        return refused(c, TP_ERR_UNSUPPORTED, &msg);
    }
    tp_staff who = {.struct_size = sizeof who,
                    .id = rq->staff ? rq->staff : default_staff(),
                    .role = rq->role ? rq->role : "cashier"};
    tp_forms_session_init(&c->forms);
    uint64_t id = 0;
    tp_message msg;
    tp_status st = ui->open(c->p, "retro-visit", &who, rq->npos ? rq->pos[0] : NULL, &id, &msg);
    if (st != TP_OK)
        return refused(c, st, &msg);
    c->forms.form_id = id;
    /* With --json the forms go to stderr: stdout is the answer only. */
    tp_forms_io io;
    tp_forms_io_init(&io, stdin, c->doc ? stderr : stdout, 0);
    io.echo = !io.tty;
    tp_forms_driver d = {.plugin = c->p, .ui = ui, .wait = tp_forms_wait_hostlib,
                         .user = c->h, .timeout_ms = FORM_WAIT_MS};
    tp_forms_end end = tp_forms_run(&c->forms, &d, &io);
    const char *result = c->forms.result[0] ? c->forms.result : "Closed.";
    if (c->doc) {
        jset(c->doc, "ok", json_boolean(end == TP_FORMS_DONE));
        jset(c->doc, "done", json_boolean(end == TP_FORMS_DONE));
        jset(c->doc, "result", jstr(result));
    } else if (end == TP_FORMS_DONE) {
        printf("%s\n", result);
    } else {
        fflush(stdout);
        fprintf(stderr, "tillpoints: %s\n", result);
    }
    tp_forms_session_reset(&c->forms);
    return end == TP_FORMS_DONE ? 0 : EXIT_REFUSED;
}

/* ---------------------------------------------------------- sync: queue */

static const char *const sync_state_names[] = {"off", "connecting", "online", "offline",
                                               "error"};

/* "42 s", "5 min", "3 h", "2 d": how long ago (or until) for a person. */
static void format_span(char *buf, size_t cap, int64_t ms)
{
    int64_t s = (ms < 0 ? -ms : ms) / 1000;
    if (s < 120)
        snprintf(buf, cap, "%lld s", (long long)s);
    else if (s < 7200)
        snprintf(buf, cap, "%lld min", (long long)(s / 60));
    else if (s < 172800)
        snprintf(buf, cap, "%lld h", (long long)(s / 3600));
    else
        snprintf(buf, cap, "%lld d", (long long)(s / 86400));
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The 2.2 fields, when the plugin filled them (an older one does not). */
static int64_t status_field(const tp_queue_status *st, int which)
{
    if (which == 0)
        return TP_HAS_FIELD(st, tp_queue_status, last_error_ms) ? st->last_error_ms : 0;
    return TP_HAS_FIELD(st, tp_queue_status, next_attempt_ms) ? st->next_attempt_ms : 0;
}

static int cmd_queue_status(cli *c)
{
    tp_queue_status st = {.struct_size = sizeof st};
    tp_message msg;
    tp_status rc = c->ad->queue->queue_status(c->p, &st, &msg);
    if (rc != TP_OK)
        return refused(c, rc, &msg);
    const char *state = (unsigned)st.state < 5 ? sync_state_names[st.state] : "?";
    int64_t now = now_ms(), error_ms = status_field(&st, 0), next_ms = status_field(&st, 1);
    char oldest[32] = "-", success[32] = "never", age[24] = "", when[32] = "", next[32] = "",
         wait[24] = "";
    if (st.oldest_pending_ms) {
        format_time(oldest, sizeof oldest, st.oldest_pending_ms, c->doc != NULL);
        format_span(age, sizeof age, now - st.oldest_pending_ms);
    }
    if (st.last_success_ms)
        format_time(success, sizeof success, st.last_success_ms, c->doc != NULL);
    if (error_ms)
        format_time(when, sizeof when, error_ms, c->doc != NULL);
    if (next_ms) {
        format_time(next, sizeof next, next_ms, c->doc != NULL);
        format_span(wait, sizeof wait, next_ms - now);
    }
    if (c->doc) {
        jset(c->doc, "configured", json_boolean(st.configured));
        jset(c->doc, "state", jstr(state));
        jset(c->doc, "pending", jint((int64_t)st.pending));
        jset(c->doc, "parked", jint((int64_t)st.parked));
        jset(c->doc, "delivered", jint((int64_t)st.delivered));
        jset(c->doc, "failing", jint((int64_t)st.failing));
        jset(c->doc, "oldest_pending", st.oldest_pending_ms ? jstr(oldest) : json_null());
        jset(c->doc, "oldest_pending_age_s",
             st.oldest_pending_ms ? jint((now - st.oldest_pending_ms) / 1000) : json_null());
        jset(c->doc, "last_success", st.last_success_ms ? jstr(success) : json_null());
        jset(c->doc, "last_error", jstr(st.last_error));
        jset(c->doc, "last_error_at", error_ms ? jstr(when) : json_null());
        jset(c->doc, "next_attempt", next_ms ? jstr(next) : json_null());
        return 0;
    }
    printf("central:      %s\n", st.configured ? state : "not configured (standalone)");
    printf("last error:   %s\n", st.last_error[0] ? st.last_error : "-");
    if (error_ms)
        printf("  last seen:  %s UTC\n", when);
    if (next_ms)
        printf("next retry:   %s UTC (%s %s)\n", next, next_ms > now ? "in" : "due",
               next_ms > now ? wait : "now");
    if (st.oldest_pending_ms)
        printf("pending:      %llu (oldest %s UTC, %s ago)\n", (unsigned long long)st.pending,
               oldest, age);
    else
        printf("pending:      %llu\n", (unsigned long long)st.pending);
    printf("parked:       %llu%s\n", (unsigned long long)st.parked,
           st.parked ? " (tillpoints queue list --parked)" : "");
    printf("delivered:    %llu\n", (unsigned long long)st.delivered);
    printf("last success: %s%s\n", success, st.last_success_ms ? " UTC" : "");
    return 0;
}

/* Pending and parked entries with the ids queue park/unpark/dismiss take. */
static int cmd_queue_list(cli *c)
{
    size_t cap = c->rq.limit, n = 0;
    tp_queue_entry *e = calloc(cap, sizeof *e);
    if (!e) {
        tp_message oom;
        snprintf(oom.text, sizeof oom.text, "Out of memory.");
        return refused(c, TP_ERR_NO_MEMORY, &oom);
    }
    tp_message msg;
    tp_status rc = c->ad->queue->queue_list(c->p, (c->rq.given & O_PARKED) != 0, e, cap,
                                            sizeof e[0], &n, &msg);
    if (rc != TP_OK) {
        free(e);
        return refused(c, rc, &msg);
    }
    if (n > cap)
        n = cap;
    json_t *arr = c->doc ? json_array() : NULL;
    if (!c->doc && n == 0)
        printf("%s\n", c->rq.given & O_PARKED ? "No parked entries." : "The outbox is empty.");
    else if (!c->doc)
        printf("%-7s %-8s %-7s %-16s %-12s %8s %8s  %s\n", "ID", "STATE", "KIND", "RECEIPT",
               "MEMBER", "POINTS", "ATTEMPTS", "WRITTEN (UTC)");
    for (size_t i = 0; i < n; i++) {
        char created[32], points[24] = "-";
        format_time(created, sizeof created, e[i].created_ms, c->doc != NULL);
        if (strcmp(e[i].kind, "ledger") == 0)
            format_points(points, sizeof points, e[i].points);
        if (arr) {
            json_t *o = json_object();
            jset(o, "id", jint(e[i].id));
            jset(o, "state", jstr(e[i].parked ? "parked" : "pending"));
            jset(o, "kind", jstr(e[i].kind));
            jset(o, "event_id", jstr(e[i].event_id));
            jset(o, "receipt", jstr(e[i].receipt));
            jset(o, "member", jstr(e[i].member));
            jset(o, "points", jint(e[i].points));
            jset(o, "attempts", jint(e[i].attempts));
            jset(o, "written", jstr(created));
            jset(o, "error", jstr(e[i].last_error));
            json_array_append_new(arr, o);
            continue;
        }
        printf("%-7lld %-8s %-7s %-16s %-12s %8s %8d  %s\n", (long long)e[i].id,
               e[i].parked ? "parked" : "pending", e[i].kind, e[i].receipt[0] ? e[i].receipt : "-",
               e[i].member[0] ? e[i].member : "-", points, e[i].attempts, created);
        if (e[i].last_error[0])
            printf("        %s\n", e[i].last_error);
    }
    if (arr)
        jset(c->doc, "entries", arr);
    free(e);
    return 0;
}

static int cmd_queue_dismiss(cli *c)
{
    int64_t id = 0;
    if (parse_int64(c->rq.pos[0], &id) != 0 || id <= 0)
        return usage_error(c->rq.cmd, "ID is the number shown by queue list.");
    tp_message msg;
    if (!TP_HAS_FIELD(c->ad->queue, tp_queue_ext, queue_dismiss)) {
        snprintf(msg.text, sizeof msg.text, "This tillpoints.so cannot dismiss entries (it "
                 "predates ABI 2.2).");
        return refused(c, TP_ERR_UNSUPPORTED, &msg);
    }
    tp_status rc = c->ad->queue->queue_dismiss(c->p, id, c->rq.staff, c->rq.reason, &msg);
    if (rc != TP_OK)
        return refused(c, rc, &msg);
    if (c->doc)
        jset(c->doc, "dismissed", jint(id));
    else
        printf("%s\n", msg.text);
    return 0;
}

/* After a command: when the link, as the database records it, is down or
 * refused, one line on stderr naming the cause, whatever the cause. (The
 * plugin's own sync thread in this short-lived process may or may not meet
 * the cause before the command ends, so its log lines about the link are
 * not printed: this line replaces them.) Not after queue status, which
 * prints the same on stdout, nor central init, which is the remedy. */
static void warn_about_central(cli *c)
{
    command_id id = c->rq.cmd->id;
    if (!c->ad || id == C_QUEUE_STATUS || id == C_CENTRAL_INIT)
        return;
    tp_queue_status st = {.struct_size = sizeof st};
    tp_message msg;
    if (c->ad->queue->queue_status(c->p, &st, &msg) != TP_OK || !st.configured ||
        (st.state != TP_SYNC_OFFLINE && st.state != TP_SYNC_ERROR) || !st.last_error[0])
        return;
    fflush(stdout);
    fprintf(stderr, "tillpoints warning: central database %s: %s\n",
            st.state == TP_SYNC_ERROR ? "refused" : "unreachable", st.last_error);
}

static void cli_log(void *user, tp_log_level level, const char *msg)
{
    (void)user;
    if (strncmp(msg, "central database: ", 18) == 0 || strncmp(msg, "central init: ", 14) == 0)
        return; /* warn_about_central says it, or the command's own answer */
    static const char *const names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "tillpoints %s: %s\n", names[level <= TP_LOG_ERROR ? level : TP_LOG_ERROR],
            msg);
}

static int cmd_queue_retry(cli *c)
{
    uint64_t rows = 0;
    tp_message msg;
    tp_status rc = c->ad->queue->queue_retry(c->p, &rows, &msg);
    if (rc != TP_OK)
        return refused(c, rc, &msg);
    if (c->doc)
        jset(c->doc, "reset", jint((int64_t)rows));
    else
        printf("Retrying now; %llu failing entr%s reset.\n", (unsigned long long)rows,
               rows == 1 ? "y" : "ies");
    return 0;
}

static int cmd_queue_park(cli *c, int park)
{
    int64_t id = 0;
    if (parse_int64(c->rq.pos[0], &id) != 0 || id <= 0)
        return usage_error(c->rq.cmd, "ID is the number shown by queue list.");
    tp_message msg;
    tp_status rc = park ? c->ad->queue->queue_park(c->p, id, &msg)
                        : c->ad->queue->queue_unpark(c->p, id, &msg);
    if (rc != TP_OK)
        return refused(c, rc, &msg);
    if (!c->doc)
        printf("Entry %lld %s.\n", (long long)id, park ? "parked" : "unparked; it is sent again");
    return 0;
}

static int cmd_central_init(cli *c)
{
    int32_t from = 0, to = 0;
    tp_message msg;
    tp_status rc = c->ad->queue->central_init(c->p, &from, &to, &msg);
    if (rc != TP_OK)
        return refused(c, rc, &msg);
    if (c->doc) {
        jset(c->doc, "from_version", jint(from));
        jset(c->doc, "to_version", jint(to));
    } else {
        printf("%s\n", msg.text);
    }
    return 0;
}

static int run(cli *c)
{
    switch (c->rq.cmd->id) {
    case C_MEMBER_ADD: return cmd_member_add(c);
    case C_MEMBER_ADD_CARD: return cmd_member_add_card(c);
    case C_MEMBER_SHOW: return cmd_member_show(c);
    case C_MEMBER_FIND: return cmd_member_find(c);
    case C_BALANCE: return cmd_balance(c);
    case C_HISTORY: return cmd_history(c);
    case C_ACTIVITY: return cmd_activity(c);
    case C_ADJUST: return cmd_adjust(c);
    case C_BULK_ADJUST: return cmd_bulk_adjust(c);
    case C_IMPORT: return cmd_import(c);
    case C_EXPORT: return cmd_export(c);
    case C_VERIFY: return cmd_verify(c);
    case C_SCANNERS: break; /* main(): without the plugin */
    case C_RETRO: return cmd_retro(c);
    case C_MANAGER_ADD: return cmd_manager_add(c);
    case C_MANAGER_RESET_PIN: return cmd_manager_reset_pin(c);
    case C_MANAGER_LIST: return cmd_manager_list(c);
    case C_QUEUE_STATUS: return cmd_queue_status(c);   /* sync: */
    case C_QUEUE_RETRY: return cmd_queue_retry(c);     /* sync: */
    case C_QUEUE_PARK: return cmd_queue_park(c, 1);    /* sync: */
    case C_QUEUE_UNPARK: return cmd_queue_park(c, 0);  /* sync: */
    case C_CENTRAL_INIT: return cmd_central_init(c);   /* sync: */
    case C_QUEUE_LIST: return cmd_queue_list(c);       /* sync: */
    case C_QUEUE_DISMISS: return cmd_queue_dismiss(c); /* sync: */
    case C_AUDIT_HEAD: return cmd_audit_head(c);       /* audit: */
    case C_AUDIT_SEAL: return cmd_audit_seal(c);       /* audit: */
    case C_EXPIRE: return cmd_expire(c);
    case C_REDEEM_REVERSE: return cmd_redeem_reverse(c);
    case C_OVERDRAFTS: return cmd_overdrafts(c);
    case C_NONE: break;
    }
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    cli c;
    memset(&c, 0, sizeof c);
    int rc = parse_command_line(argc, argv, &c.rq);
    if (rc != 0)
        return rc < 0 ? 0 : rc;

    /* A back office (ext/hostrole.h): the store's scanners stay the till's;
     * a command never opens a serial port or input device. */
    tp_hostlib_options opt = {.host_name = "tillpoints", .plugin_path = c.rq.plugin,
                              .on_present = on_present, .on_dismiss = on_dismiss, .user = &c,
                              .on_log = cli_log, .back_office = 1};
    opt.config_path = c.rq.config;
    opt.config_path = tp_hostlib_config_path(opt.config_path);

    if (c.rq.json) {
        c.doc = json_object();
        if (!c.doc) {
            fprintf(stderr, "tillpoints: out of memory.\n");
            return EXIT_REFUSED;
        }
        jset(c.doc, "ok", json_true());
        jset(c.doc, "command", jstr(c.rq.cmd->group ? c.rq.cmd->group : c.rq.cmd->name));
        if (c.rq.cmd->group)
            jset(c.doc, "subcommand", jstr(c.rq.cmd->name));
        if (c.rq.cmd->id == C_IMPORT || c.rq.cmd->id == C_VERIFY) {
            c.problems = json_array();
            jset(c.doc, "problems", c.problems);
        }
    }
    c.bar.enabled = isatty(STDERR_FILENO);

    char err[512];
    if (c.rq.cmd->id == C_SCANNERS) {
        rc = c.rq.shim ? scanners_from_shim(&c) : scanners_configured(&c, opt.config_path);
    } else if (!(c.h = tp_hostlib_open(&opt, err, sizeof err))) {
        fprintf(stderr, "tillpoints: %s\n", err);
        rc = EXIT_REFUSED;
        if (c.doc) {
            jset(c.doc, "ok", json_false());
            jset(c.doc, "error", jstr(err));
        }
    } else {
        c.p = tp_hostlib_plugin(c.h);
        c.ad = tp_hostlib_admin(c.h);
        rc = run(&c);
        warn_about_central(&c); /* sync: */
        tp_hostlib_close(c.h);
    }
    if (c.doc) {
        if (json_dumpf(c.doc, stdout, JSON_INDENT(2)) == 0)
            putchar('\n');
        json_decref(c.doc);
    }
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "tillpoints: cannot write the output: %s.\n", strerror(errno));
        rc = EXIT_REFUSED;
    }
    return rc;
}
