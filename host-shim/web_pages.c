/*
 * web_pages.c — the pages of tillpoints-web (docs/DESIGN.md §15): routing,
 * sign-in and sign-out, the dashboard (HTML and JSON), members, a member's
 * page, the activity log, adjustments (single and bulk), import and
 * export, the missed-scan entry points, status and the audit log. The
 * routes, element ids and statuses are the ones the browser and curl
 * tests rely on (the HTTP contract of docs/DESIGN.md §15).
 *
 * Guarantees:
 *  - every page but /signin and /static/ needs a session: a GET without
 *    one is sent to /signin, a POST without one is refused (401) and
 *    changes nothing;
 *  - every POST passes the origin check and carries the session's CSRF
 *    token (the pre-session token for /signin) before anything is read
 *    from its fields; otherwise 403 and nothing changes;
 *  - every value from the request, the database or the plugin is
 *    HTML-escaped (web_html.h); sentences from the plugin are shown as
 *    they are, escaped;
 *  - data is read and written only through the plugin's extensions,
 *    never with SQL of this program, so the plugin's rules, chunking and
 *    audit records hold; the signed-in manager is the staff of every
 *    write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hostabi.h"
#include "hostconf.h"
#include "web.h"

#define DASH_DAYS 30
#define DASH_TERMINALS 32
#define DASH_MANAGERS 64
#define ACTIVITY_PAGE 50
#define MEMBERS_MAX 200
#define BULK_MEMBERS_MAX 100000

static const char expired_sentence[] = "Your session has ended; sign in again.";
static const char csrf_sentence[] =
    "This form has expired or did not come from this site; open the page again.";

/* ------------------------------------------------------------- helpers */

void tp_web_error_page(tp_web_resp *out, unsigned status, const char *title,
                       const char *sentence, const char *csrf)
{
    tp_web_buf_free(&out->body);
    tp_web_buf_init(&out->body);
    out->status = status;
    out->content_type = NULL;
    out->fd = -1;
    tp_web_page_begin(&out->body, title, csrf, 0);
    tp_web_buf_puts(&out->body, "<h1>");
    tp_web_buf_esc(&out->body, title);
    tp_web_buf_puts(&out->body, "</h1>\n<p class=\"error\" id=\"error\" role=\"alert\">");
    tp_web_buf_esc(&out->body, sentence);
    tp_web_buf_puts(&out->body, "</p>\n");
    if (csrf)
        tp_web_buf_puts(&out->body, "<p><a href=\"/\">Back to the dashboard</a></p>\n");
    else
        tp_web_buf_puts(&out->body, "<p><a href=\"/signin\">Sign in</a></p>\n");
    tp_web_page_end(&out->body);
}

static void redirect(tp_web_resp *out, const char *to)
{
    out->status = 303;
    snprintf(out->location, sizeof out->location, "%s", to);
}

static void add_cookie(tp_web_resp *out, const tp_web *w, const char *name, const char *value,
                       int clear)
{
    if (out->ncookie >= 2)
        return;
    snprintf(out->cookie[out->ncookie++], sizeof out->cookie[0],
             "%s=%s; HttpOnly; SameSite=Strict; Path=/%s%s", name, value,
             w->tls ? "; Secure" : "", clear ? "; Max-Age=0" : "");
}

static void csrf_input(tp_web_buf *b, const char *csrf)
{
    tp_web_buf_puts(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
    tp_web_buf_esc(b, csrf);
    tp_web_buf_puts(b, "\">\n");
}

/* <label for=ID>LABEL</label><input ...> with an escaped value. */
static void text_input(tp_web_buf *b, const char *id, const char *name, const char *label,
                       const char *type, const char *value, const char *extra)
{
    tp_web_buf_printf(b, "<div class=\"field\"><label for=\"%s\">%s</label>\n"
                         "<input id=\"%s\" name=\"%s\" type=\"%s\" value=\"",
                      id, label, id, name, type);
    tp_web_buf_esc(b, value ? value : "");
    tp_web_buf_printf(b, "\"%s></div>\n", extra ? extra : "");
}

static void message_p(tp_web_buf *b, const char *cls, const char *id, const char *sentence)
{
    tp_web_buf_printf(b, "<p class=\"%s\"%s%s%s role=\"%s\">", cls, id ? " id=\"" : "",
                      id ? id : "", id ? "\"" : "", strcmp(cls, "error") ? "status" : "alert");
    tp_web_buf_esc(b, sentence);
    tp_web_buf_puts(b, "</p>\n");
}

static unsigned status_for(tp_status st)
{
    switch (st) {
    case TP_OK: return 200;
    case TP_ERR_INVALID_ARGUMENT:
    case TP_ERR_TOO_LONG: return 400;
    case TP_ERR_NOT_FOUND: return 404;
    case TP_ERR_STATE:
    case TP_ERR_DUPLICATE: return 409;
    case TP_ERR_WRONG_PIN: return 401;
    case TP_ERR_LOCKED_OUT: return 429;
    default: return 503;
    }
}

static const char *or_sentence(const tp_message *m, const char *fallback)
{
    return m->text[0] ? m->text : fallback;
}

/* "YYYY-MM-DD" at local midnight, as UTC ms. 0, or -1. */
static int parse_date(const char *s, int64_t *ms)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int mo = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1)
        return -1;
    *ms = (int64_t)t * 1000;
    return 0;
}

static int parse_i64(const char *s, int64_t *v)
{
    if (!s || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (errno || !end || *end)
        return -1;
    *v = x;
    return 0;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/* ------------------------------------------------------------ sign-in */

static void signin_page(tp_web_req *r, tp_web_resp *out, unsigned status, const char *error,
                        const char *manager)
{
    char pre[TP_WEB_TOKEN_LEN + 1];
    tp_web_pre_token_new(r->w->pre_key, pre);
    add_cookie(out, r->w, "tp_pre", pre, 0);
    out->status = status;
    tp_web_buf *b = &out->body;
    tp_web_page_begin(b, "Sign in", NULL, 0);
    tp_web_buf_puts(b, "<h1>Sign in</h1>\n");
    if (error)
        message_p(b, "error", "error", error);
    tp_web_buf_puts(b, "<form id=\"signin\" method=\"post\" action=\"/signin\">\n");
    csrf_input(b, pre);
    text_input(b, "manager", "manager", "Manager id", "text", manager,
               " autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\"");
    text_input(b, "pin", "pin", "PIN", "password", "",
               " autocomplete=\"current-password\" inputmode=\"numeric\"");
    tp_web_buf_puts(b, "<div class=\"actions\"><button id=\"signin-submit\" type=\"submit\">"
                       "Sign in</button></div>\n</form>\n"
                       "<p class=\"hint\">The same manager id and PIN that approve retro "
                       "credits at the till.</p>\n");
    tp_web_page_end(b);
    sodium_memzero(pre, sizeof pre);
}

static void signin_post(tp_web_req *r, tp_web_resp *out)
{
    tp_web *w = r->w;
    const char *manager = tp_web_field(r, "manager");
    const char *pin_in = tp_web_field(r, "pin");
    if (!manager || !*manager || !pin_in || !*pin_in) {
        signin_page(r, out, 400, "Type your manager id and your PIN.", manager);
        return;
    }
    if (strlen(manager) > TP_MANAGER_ID_MAX) {
        signin_page(r, out, 400, "That manager id is too long.", NULL);
        return;
    }
    char pin[TP_PIN_MAX + 2];
    if (strlen(pin_in) > TP_PIN_MAX) {
        signin_page(r, out, 400, "A PIN has at most 12 digits; type it again.", manager);
        return;
    }
    snprintf(pin, sizeof pin, "%s", pin_in);
    char client[TP_STAFF_ID_MAX + 1];
    snprintf(client, sizeof client, "web %s", r->client);
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st = w->ad->managers->manager_verify(w->p, manager, pin, client, &msg);
    sodium_memzero(pin, sizeof pin);
    if (st == TP_OK) {
        tp_web_session s;
        if (tp_web_session_create(&w->sessions, manager, tp_web_now_ms(), &s) != 0) {
            signin_page(r, out, 503, "The server could not start a session; try again.", manager);
            return;
        }
        add_cookie(out, w, "tp_session", s.token, 0);
        add_cookie(out, w, "tp_pre", "", 1);
        sodium_memzero(&s, sizeof s);
        redirect(out, "/");
        return;
    }
    const char *fallback = st == TP_ERR_WRONG_PIN ? "Wrong manager id or PIN."
                           : st == TP_ERR_LOCKED_OUT
                               ? "Too many wrong PINs: this manager is locked for now."
                           : st == TP_ERR_INVALID_ARGUMENT ? "A PIN is a number of 6 to 12 digits."
                                                           : "The sign-in could not be checked; "
                                                             "try again.";
    unsigned code = st == TP_ERR_STATE ? 409 : status_for(st);
    signin_page(r, out, code, or_sentence(&msg, fallback), manager);
}

/* ----------------------------------------------------------- dashboard */

typedef struct dash_term {
    char key[TP_STATS_KEY_MAX + 1];
    int64_t receipts[DASH_DAYS];
    int64_t missed[DASH_DAYS];
} dash_term;

typedef struct dash {
    char day[DASH_DAYS][11];
    int64_t issued[DASH_DAYS], retro[DASH_DAYS], retro_n[DASH_DAYS], adjusted[DASH_DAYS],
        refunded[DASH_DAYS], receipts[DASH_DAYS], missed[DASH_DAYS];
    dash_term term[DASH_TERMINALS];
    size_t nterm;
    struct {
        char key[TP_STATS_KEY_MAX + 1];
        int64_t count, points;
    } mgr[DASH_MANAGERS];
    size_t nmgr;
    char error[TP_MESSAGE_MAX + 1];
} dash;

/* The last 30 days (today last), from the local midnight 29 days ago. */
static int dash_load(tp_web *w, dash *d)
{
    memset(d, 0, sizeof *d);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    tm.tm_mday -= DASH_DAYS - 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    time_t from = mktime(&tm);
    for (int i = 0; i < DASH_DAYS; i++) {
        struct tm dt;
        time_t t = from + (time_t)i * 86400 + 43200; /* midday: DST-proof */
        localtime_r(&t, &dt);
        strftime(d->day[i], sizeof d->day[i], "%Y-%m-%d", &dt);
    }
    tp_stats_query q = {.struct_size = sizeof q, .from_ms = (int64_t)from * 1000,
                        .days = DASH_DAYS};
    size_t cap = 2048, count = 0;
    tp_stats_row *rows = NULL;
    tp_message msg;
    tp_status st;
    for (int attempt = 0;; attempt++) {
        free(rows);
        rows = calloc(cap, sizeof *rows);
        if (!rows) {
            snprintf(d->error, sizeof d->error, "The server ran out of memory.");
            return -1;
        }
        msg.text[0] = '\0';
        st = w->stats->stats(w->p, &q, rows, cap, sizeof *rows, &count, &msg);
        if (st != TP_OK || count <= cap || attempt == 1)
            break;
        cap = count;
    }
    if (st != TP_OK) {
        snprintf(d->error, sizeof d->error, "%s",
                 or_sentence(&msg, "The figures could not be read."));
        free(rows);
        return -1;
    }
    if (count > cap)
        count = cap;
    for (size_t i = 0; i < count; i++) {
        const tp_stats_row *x = &rows[i];
        if (x->day < 0 || x->day >= DASH_DAYS)
            continue;
        int day = x->day;
        if (!strcmp(x->metric, "issued")) {
            d->issued[day] += x->points;
        } else if (!strcmp(x->metric, "refunded")) {
            d->refunded[day] += x->points;
        } else if (!strcmp(x->metric, "adjusted")) {
            d->adjusted[day] += x->points;
        } else if (!strcmp(x->metric, "retro")) {
            d->retro[day] += x->points;
            d->retro_n[day] += x->count;
            size_t k = 0;
            while (k < d->nmgr && strcmp(d->mgr[k].key, x->key) != 0)
                k++;
            if (k == d->nmgr && d->nmgr < DASH_MANAGERS)
                snprintf(d->mgr[d->nmgr++].key, sizeof d->mgr[0].key, "%s", x->key);
            if (k < d->nmgr) {
                d->mgr[k].count += x->count;
                d->mgr[k].points += x->points;
            }
        } else if (!strcmp(x->metric, "receipts")) {
            d->receipts[day] += x->count;
            d->missed[day] += x->points;
            size_t k = 0;
            while (k < d->nterm && strcmp(d->term[k].key, x->key) != 0)
                k++;
            if (k == d->nterm && d->nterm < DASH_TERMINALS)
                snprintf(d->term[d->nterm++].key, sizeof d->term[0].key, "%s", x->key);
            if (k < d->nterm) {
                d->term[k].receipts[day] += x->count;
                d->term[k].missed[day] += x->points;
            }
        } /* "corrected" and metrics of later minors: not charted */
    }
    free(rows);
    return 0;
}

static int64_t sum30(const int64_t *v)
{
    int64_t s = 0;
    for (int i = 0; i < DASH_DAYS; i++)
        s += v[i];
    return s;
}

static double rate(int64_t missed, int64_t receipts)
{
    if (receipts <= 0)
        return 0.0;
    int64_t tenths = missed * 1000 / receipts; /* one decimal, rounded down */
    return (double)tenths / 10.0;
}

static json_t *j_series(const int64_t *v)
{
    json_t *a = json_array();
    for (int i = 0; a && i < DASH_DAYS; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *j_summary(const dash *d, int today)
{
    int from = today ? DASH_DAYS - 1 : 0;
    int64_t issued = 0, retro = 0, retro_points = 0, adjusted = 0, refunded = 0;
    for (int i = from; i < DASH_DAYS; i++) {
        issued += d->issued[i];
        retro += d->retro_n[i];
        retro_points += d->retro[i];
        adjusted += d->adjusted[i];
        refunded += d->refunded[i];
    }
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "issued", (json_int_t)issued, "retro",
                     (json_int_t)retro, "retro_points", (json_int_t)retro_points, "adjusted",
                     (json_int_t)adjusted, "refunded", (json_int_t)refunded);
}

static void dashboard_json(tp_web_req *r, tp_web_resp *out)
{
    dash *d = malloc(sizeof *d);
    if (!d || dash_load(r->w, d) != 0) {
        char why[TP_MESSAGE_MAX + 1];
        snprintf(why, sizeof why, "%s", d ? d->error : "The server ran out of memory.");
        free(d);
        json_t *e = json_pack("{s:s}", "error", why);
        char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
        out->status = 503;
        out->content_type = "application/json";
        tp_web_buf_puts(&out->body, s ? s : "{}");
        free(s);
        return;
    }
    json_t *root = json_object();
    json_t *days = json_array();
    for (int i = 0; i < DASH_DAYS; i++)
        json_array_append_new(days, json_string(d->day[i]));
    json_object_set_new(root, "days", days);
    json_object_set_new(root, "issued", j_series(d->issued));
    json_object_set_new(root, "retro", j_series(d->retro));
    json_object_set_new(root, "adjusted", j_series(d->adjusted));
    json_object_set_new(root, "refunded", j_series(d->refunded));
    json_t *missed = json_object();
    for (size_t k = 0; k < d->nterm; k++) {
        json_t *a = json_array();
        for (int i = 0; i < DASH_DAYS; i++)
            json_array_append_new(a, json_real(rate(d->term[k].missed[i], d->term[k].receipts[i])));
        json_object_set_new(missed, d->term[k].key, a);
    }
    json_object_set_new(root, "missed", missed);
    json_t *by = json_object();
    for (size_t k = 0; k < d->nmgr; k++)
        json_object_set_new(by, d->mgr[k].key, json_integer(d->mgr[k].count));
    json_object_set_new(root, "retro_by_manager", by);
    json_object_set_new(root, "today", j_summary(d, 1));
    json_object_set_new(root, "month", j_summary(d, 0));
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    free(d);
    if (!s) {
        out->status = 500;
        out->content_type = "application/json";
        tp_web_buf_puts(&out->body, "{\"error\":\"out of memory\"}");
        return;
    }
    out->content_type = "application/json";
    tp_web_buf_puts(&out->body, s);
    free(s);
}

static void summary_dl(tp_web_buf *b, const char *id, const char *heading, const dash *d,
                       int today)
{
    int from = today ? DASH_DAYS - 1 : 0;
    int64_t v[5] = {0, 0, 0, 0, 0};
    for (int i = from; i < DASH_DAYS; i++) {
        v[0] += d->issued[i];
        v[1] += d->retro_n[i];
        v[2] += d->retro[i];
        v[3] += d->adjusted[i];
        v[4] += d->refunded[i];
    }
    static const char *const key[5] = {"issued", "retro", "retro-points", "adjusted", "refunded"};
    static const char *const label[5] = {"Points issued", "Retro credits (missed scans)",
                                         "Points credited retroactively", "Points adjusted (net)",
                                         "Points refunded"};
    tp_web_buf_printf(b, "<section class=\"summary\"><h2>%s</h2>\n<dl id=\"%s\">\n", heading, id);
    for (int k = 0; k < 5; k++)
        tp_web_buf_printf(b, "<dt>%s</dt><dd id=\"%s-%s\">%" PRId64 "</dd>\n", label[k], id,
                          key[k], v[k]);
    tp_web_buf_puts(b, "</dl></section>\n");
}

static void dashboard_page(tp_web_req *r, tp_web_resp *out)
{
    tp_web_buf *b = &out->body;
    dash *d = malloc(sizeof *d);
    if (!d) {
        tp_web_error_page(out, 503, "Dashboard", "The server ran out of memory; try again.",
                          r->sess.csrf);
        return;
    }
    int ok = dash_load(r->w, d) == 0;
    tp_web_page_begin(b, "Dashboard", r->sess.csrf, 1);
    tp_web_buf_puts(b, "<h1>Dashboard</h1>\n<p>Signed in as <strong id=\"who\">");
    tp_web_buf_esc(b, r->sess.manager);
    tp_web_buf_puts(b, "</strong>.</p>\n");
    if (!ok)
        message_p(b, "error", "error", d->error);
    tp_web_buf_puts(b, "<div class=\"summaries\">\n");
    summary_dl(b, "today", "Today", d, 1);
    summary_dl(b, "month", "Last 30 days", d, 0);
    tp_web_buf_puts(b, "</div>\n<section class=\"charts\">\n"
                       "<figure><figcaption>Points per day</figcaption>"
                       "<canvas id=\"chart-points\" role=\"img\" aria-label=\"Points per day: "
                       "issued, retro, adjusted, refunded\"></canvas></figure>\n"
                       "<figure><figcaption>Missed scans per terminal (% of receipts)"
                       "</figcaption><canvas id=\"chart-missed\" role=\"img\" aria-label=\"Missed-"
                       "scan rate per terminal per day\"></canvas></figure>\n"
                       "<figure><figcaption>Retro credits per manager (30 days)</figcaption>"
                       "<canvas id=\"chart-retro\" role=\"img\" aria-label=\"Retro credits per "
                       "manager\"></canvas></figure>\n</section>\n");
    tp_web_buf_puts(b, "<h2>Per day</h2>\n<div class=\"scroll\"><table id=\"dashboard-table\">\n"
                       "<thead><tr><th scope=\"col\">Day</th><th scope=\"col\">Issued</th>"
                       "<th scope=\"col\">Retro points</th><th scope=\"col\">Retro credits</th>"
                       "<th scope=\"col\">Adjusted</th><th scope=\"col\">Refunded</th>"
                       "<th scope=\"col\">Receipts</th><th scope=\"col\">Missed scans</th>"
                       "<th scope=\"col\">Missed %</th></tr></thead>\n<tbody>\n");
    for (int i = DASH_DAYS - 1; i >= 0; i--)
        tp_web_buf_printf(b,
                          "<tr><th scope=\"row\">%s</th><td>%" PRId64 "</td><td>%" PRId64
                          "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64
                          "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%.1f</td></tr>\n",
                          d->day[i], d->issued[i], d->retro[i], d->retro_n[i], d->adjusted[i],
                          d->refunded[i], d->receipts[i], d->missed[i],
                          rate(d->missed[i], d->receipts[i]));
    tp_web_buf_printf(b,
                      "</tbody>\n<tfoot><tr><th scope=\"row\">30 days</th><td>%" PRId64
                      "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64
                      "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64
                      "</td><td>%.1f</td></tr></tfoot>\n</table></div>\n",
                      sum30(d->issued), sum30(d->retro), sum30(d->retro_n), sum30(d->adjusted),
                      sum30(d->refunded), sum30(d->receipts), sum30(d->missed),
                      rate(sum30(d->missed), sum30(d->receipts)));
    tp_web_buf_puts(b, "<h2>Retro credits per manager (30 days)</h2>\n<div class=\"scroll\">"
                       "<table id=\"retro-managers\">\n<thead><tr><th scope=\"col\">Manager</th>"
                       "<th scope=\"col\">Credits</th><th scope=\"col\">Points</th></tr></thead>"
                       "\n<tbody>\n");
    for (size_t k = 0; k < d->nmgr; k++) {
        tp_web_buf_puts(b, "<tr><td>");
        tp_web_buf_esc(b, d->mgr[k].key);
        tp_web_buf_printf(b, "</td><td>%" PRId64 "</td><td>%" PRId64 "</td></tr>\n",
                          d->mgr[k].count, d->mgr[k].points);
    }
    tp_web_buf_puts(b, "</tbody></table></div>\n");
    free(d);
    tp_web_page_end(b);
}

/* ------------------------------------------------------------- members */

static void members_page(tp_web_req *r, tp_web_resp *out)
{
    tp_web *w = r->w;
    tp_web_buf *b = &out->body;
    const char *q = tp_web_arg(r, "q");
    tp_web_page_begin(b, "Members", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Members</h1>\n<form id=\"member-search\" method=\"get\" "
                       "action=\"/members\" role=\"search\">\n");
    text_input(b, "q", "q", "Name (first letters), code, card, phone or email", "search", q,
               NULL);
    tp_web_buf_puts(b, "<div class=\"actions\"><button id=\"search-submit\" type=\"submit\">"
                       "Search</button></div>\n</form>\n");
    size_t count = 0;
    tp_member_info *m = NULL;
    if (q && *q) {
        m = calloc(MEMBERS_MAX, sizeof *m);
        tp_message msg;
        msg.text[0] = '\0';
        tp_status st = m ? w->ad->members->member_find(w->p, q, m, MEMBERS_MAX, sizeof *m,
                                                       &count, &msg)
                         : TP_ERR_NO_MEMORY;
        if (st != TP_OK) {
            out->status = status_for(st) == 503 ? 503 : 200;
            message_p(b, "error", "error", or_sentence(&msg, "The search failed; try again."));
            count = 0;
        } else if (count == 0) {
            message_p(b, "notice", "no-results", "No member matches.");
        }
    } else {
        tp_web_buf_puts(b, "<p class=\"hint\">Search for a member to see them here.</p>\n");
    }
    tp_web_buf_puts(b, "<div class=\"scroll\"><table id=\"members\">\n<thead><tr>"
                       "<th scope=\"col\">Code</th><th scope=\"col\">Name</th>"
                       "<th scope=\"col\">Phone</th><th scope=\"col\">Email</th>"
                       "<th scope=\"col\">Balance</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < count && i < MEMBERS_MAX; i++) {
        tp_web_buf_puts(b, "<tr><td><a href=\"/members/");
        tp_web_buf_url(b, m[i].code);
        tp_web_buf_puts(b, "\">");
        tp_web_buf_esc(b, m[i].code);
        tp_web_buf_puts(b, "</a></td><td>");
        tp_web_buf_esc(b, m[i].name);
        tp_web_buf_puts(b, "</td><td>");
        tp_web_buf_esc(b, m[i].phone);
        tp_web_buf_puts(b, "</td><td>");
        tp_web_buf_esc(b, m[i].email);
        tp_web_buf_printf(b, "</td><td class=\"num\">%" PRId64 "</td></tr>\n",
                          TP_HOST_SHOWN_BALANCE(&m[i]));
    }
    tp_web_buf_puts(b, "</tbody></table></div>\n");
    free(m);
    tp_web_page_end(b);
}

static void activity_table(tp_web_buf *b, const char *id, const tp_activity_row *rows,
                           size_t n)
{
    tp_web_buf_printf(b,
                      "<div class=\"scroll\"><table id=\"%s\">\n<thead><tr>"
                      "<th scope=\"col\">Time</th><th scope=\"col\">Member</th>"
                      "<th scope=\"col\">Kind</th><th scope=\"col\">Points</th>"
                      "<th scope=\"col\">Staff</th><th scope=\"col\">Approver</th>"
                      "<th scope=\"col\">Receipt</th><th scope=\"col\">Reason</th>"
                      "</tr></thead>\n<tbody>\n",
                      id);
    for (size_t i = 0; i < n; i++) {
        const tp_activity_row *x = &rows[i];
        char when[32];
        tp_web_format_time(x->time_ms, when, sizeof when);
        tp_web_buf_printf(b, "<tr data-id=\"%" PRId64 "\"><td class=\"time\">%s</td>"
                             "<td class=\"member\"><a href=\"/members/",
                          x->id, when);
        tp_web_buf_url(b, x->member_code);
        tp_web_buf_puts(b, "\">");
        tp_web_buf_esc(b, x->member_code);
        tp_web_buf_puts(b, "</a></td><td class=\"kind\">");
        tp_web_buf_esc(b, x->kind);
        tp_web_buf_printf(b, "</td><td class=\"points\">%" PRId64 "</td><td class=\"staff\">",
                          x->points);
        tp_web_buf_esc(b, x->staff);
        tp_web_buf_puts(b, "</td><td class=\"approver\">");
        tp_web_buf_esc(b, x->approver);
        tp_web_buf_puts(b, "</td><td class=\"receipt\">");
        tp_web_buf_esc(b, x->receipt);
        tp_web_buf_puts(b, "</td><td class=\"reason\">");
        tp_web_buf_esc(b, x->reason);
        tp_web_buf_puts(b, "</td></tr>\n");
    }
    tp_web_buf_puts(b, "</tbody></table></div>\n");
}

static void member_page(tp_web_req *r, const char *code, tp_web_resp *out)
{
    tp_web *w = r->w;
    tp_member_info m;
    memset(&m, 0, sizeof m);
    m.struct_size = sizeof m;
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st = w->ad->members->member_get(w->p, code, &m, &msg);
    if (st != TP_OK) {
        tp_web_error_page(out, status_for(st) == 400 ? 404 : status_for(st), "Member",
                          or_sentence(&msg, "No member has this code."), r->sess.csrf);
        return;
    }
    tp_web_buf *b = &out->body;
    tp_web_page_begin(b, m.name[0] ? m.name : m.code, r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>");
    tp_web_buf_esc(b, m.name[0] ? m.name : m.code);
    tp_web_buf_puts(b, "</h1>\n<dl id=\"member\">\n<dt>Code</dt><dd id=\"code\">");
    tp_web_buf_esc(b, m.code);
    tp_web_buf_puts(b, "</dd>\n<dt>Phone</dt><dd>");
    tp_web_buf_esc(b, m.phone);
    tp_web_buf_puts(b, "</dd>\n<dt>Email</dt><dd>");
    tp_web_buf_esc(b, m.email);
    tp_web_buf_printf(b, "</dd>\n<dt>Balance</dt><dd><span id=\"balance\">%" PRId64 "</span>",
                      TP_HOST_SHOWN_BALANCE(&m));
    if (m.balance_source[0] && strcmp(m.balance_source, "local") != 0) {
        tp_web_buf_puts(b, " <span class=\"hint\">(");
        tp_web_buf_esc(b, m.balance_source);
        tp_web_buf_puts(b, ")</span>");
    }
    /* The next expiry (docs/DESIGN.md §5, "Expiry"; 0 when none, when
     * expiry is off, or from a plugin before ABI 2.4). */
    if (m.expiring_points > 0) {
        char when[32];
        tp_web_format_time(m.expiring_at_ms, when, sizeof when);
        tp_web_buf_printf(b, "</dd>\n<dt>Next expiry</dt><dd id=\"expiry\">%" PRId64
                             " points on ", m.expiring_points);
        tp_web_buf_esc(b, when);
    }
    tp_web_buf_puts(b, "</dd>\n</dl>\n<p class=\"links\"><a id=\"credit-missed\" "
                       "href=\"/forms/retro-visit?member=");
    tp_web_buf_url(b, m.code);
    tp_web_buf_puts(b, "\">Credit a missed visit</a> · <a id=\"adjust-member\" "
                       "href=\"/adjust?member=");
    tp_web_buf_url(b, m.code);
    tp_web_buf_puts(b, "\">Adjust</a> · <a href=\"/activity?member=");
    tp_web_buf_url(b, m.code);
    tp_web_buf_puts(b, "\">All activity</a></p>\n<h2>History</h2>\n");
    tp_activity_row *rows = calloc(ACTIVITY_PAGE, sizeof *rows);
    size_t n = 0;
    tp_activity_query q = {.struct_size = sizeof q, .member = m.code};
    msg.text[0] = '\0';
    st = rows ? w->ad->ledger->activity(w->p, &q, rows, ACTIVITY_PAGE, sizeof *rows, &n, &msg)
              : TP_ERR_NO_MEMORY;
    if (st != TP_OK) {
        message_p(b, "error", NULL, or_sentence(&msg, "The history could not be read."));
        n = 0;
    }
    activity_table(b, "history", rows, n);
    free(rows);
    tp_web_page_end(b);
}

/* ------------------------------------------------------------ activity */

static const struct {
    const char *name;
    uint32_t bit;
} kinds[] = {{"earn", TP_KIND_EARN},     {"retro", TP_KIND_RETRO},
             {"adjust", TP_KIND_ADJUST}, {"bulk", TP_KIND_BULK},
             {"import", TP_KIND_IMPORT}, {"reversal", TP_KIND_REVERSAL},
             {"expire", TP_KIND_EXPIRE}, {"redeem", TP_KIND_REDEEM},
             {"unredeem", TP_KIND_UNREDEEM}};

static void activity_page(tp_web_req *r, tp_web_resp *out)
{
    tp_web *w = r->w;
    const char *kind = tp_web_arg(r, "kind");
    const char *member = tp_web_arg(r, "member");
    const char *staff = tp_web_arg(r, "staff");
    const char *from = tp_web_arg(r, "from");
    const char *to = tp_web_arg(r, "to");
    const char *before = tp_web_arg(r, "before");
    tp_activity_query q = {.struct_size = sizeof q};
    if (kind && *kind && strcmp(kind, "all") != 0) {
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (!strcmp(kind, kinds[i].name))
                q.kinds = kinds[i].bit;
        if (!q.kinds) {
            tp_web_error_page(out, 400, "Activity",
                              "Unknown kind: choose all, earn, retro, adjust, bulk, import, "
                              "reversal or expire.",
                              r->sess.csrf);
            return;
        }
    }
    if (nonempty(from) && parse_date(from, &q.from_ms) != 0) {
        tp_web_error_page(out, 400, "Activity", "The start date is not a date (YYYY-MM-DD).",
                          r->sess.csrf);
        return;
    }
    if (nonempty(to)) {
        if (parse_date(to, &q.to_ms) != 0) {
            tp_web_error_page(out, 400, "Activity", "The end date is not a date (YYYY-MM-DD).",
                              r->sess.csrf);
            return;
        }
        q.to_ms += 86400000; /* the whole end day */
    }
    if (nonempty(before) && (parse_i64(before, &q.before_id) != 0 || q.before_id <= 0)) {
        tp_web_error_page(out, 400, "Activity", "The page cursor (before) is not an entry id.",
                          r->sess.csrf);
        return;
    }
    q.member = nonempty(member);
    q.staff = nonempty(staff);
    tp_web_buf *b = &out->body;
    tp_web_page_begin(b, "Activity", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Activity</h1>\n<form id=\"activity-filter\" method=\"get\" "
                       "action=\"/activity\">\n<div class=\"field\"><label for=\"kind\">Kind"
                       "</label>\n<select id=\"kind\" name=\"kind\">\n<option value=\"all\">all"
                       "</option>\n");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        tp_web_buf_printf(b, "<option value=\"%s\"%s>%s</option>\n", kinds[i].name,
                          kind && !strcmp(kind, kinds[i].name) ? " selected" : "",
                          kinds[i].name);
    tp_web_buf_puts(b, "</select></div>\n");
    text_input(b, "member", "member", "Member", "text", member, NULL);
    text_input(b, "staff", "staff", "Staff", "text", staff, NULL);
    text_input(b, "from", "from", "From (YYYY-MM-DD)", "date", from, NULL);
    text_input(b, "to", "to", "To (YYYY-MM-DD)", "date", to, NULL);
    tp_web_buf_puts(b, "<div class=\"actions\"><button id=\"filter-submit\" type=\"submit\">"
                       "Show</button></div>\n</form>\n");
    tp_activity_row *rows = calloc(ACTIVITY_PAGE + 1, sizeof *rows);
    size_t n = 0;
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st = rows ? w->ad->ledger->activity(w->p, &q, rows, ACTIVITY_PAGE + 1,
                                                  sizeof *rows, &n, &msg)
                        : TP_ERR_NO_MEMORY;
    if (st != TP_OK) {
        out->status = status_for(st);
        message_p(b, "error", "error", or_sentence(&msg, "The activity could not be read."));
        n = 0;
    }
    int more = n > ACTIVITY_PAGE;
    if (more)
        n = ACTIVITY_PAGE;
    activity_table(b, "activity", rows, n);
    if (more) {
        tp_web_buf_puts(b, "<p><a id=\"older\" href=\"/activity?kind=");
        tp_web_buf_url(b, kind ? kind : "all");
        tp_web_buf_puts(b, "&amp;member=");
        tp_web_buf_url(b, member);
        tp_web_buf_puts(b, "&amp;staff=");
        tp_web_buf_url(b, staff);
        tp_web_buf_puts(b, "&amp;from=");
        tp_web_buf_url(b, from);
        tp_web_buf_puts(b, "&amp;to=");
        tp_web_buf_url(b, to);
        tp_web_buf_printf(b, "&amp;before=%" PRId64 "\">Older</a></p>\n", rows[n - 1].id);
    }
    free(rows);
    tp_web_page_end(b);
}

/* -------------------------------------------------------------- adjust */

static void adjust_form(tp_web_buf *b, const char *csrf, const char *member, const char *points,
                        const char *reason, const char *comment)
{
    tp_web_buf_puts(b, "<form id=\"adjust\" method=\"post\" action=\"/adjust\">\n");
    csrf_input(b, csrf);
    text_input(b, "member", "member", "Member (code, card, phone or email)", "text", member,
               NULL);
    text_input(b, "points", "points", "Points (+ to add, - to take away)", "text", points,
               " inputmode=\"numeric\"");
    text_input(b, "reason", "reason", "Reason (for managers)", "text", reason, NULL);
    text_input(b, "comment", "comment", "Comment (the customer sees it; optional)", "text",
               comment, NULL);
    tp_web_buf_puts(b, "<div class=\"actions\"><button id=\"adjust-submit\" type=\"submit\">"
                       "Adjust</button></div>\n</form>\n<p><a href=\"/bulk\">Adjust many members at "
                       "once</a></p>\n");
}

static void adjust_get(tp_web_req *r, tp_web_resp *out)
{
    tp_web_buf *b = &out->body;
    tp_web_page_begin(b, "Adjust", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Adjust a balance</h1>\n");
    adjust_form(b, r->sess.csrf, tp_web_arg(r, "member"), NULL, NULL, NULL);
    tp_web_page_end(b);
}

static void adjust_post(tp_web_req *r, tp_web_resp *out)
{
    tp_web *w = r->w;
    const char *member = tp_web_field(r, "member");
    const char *points = tp_web_field(r, "points");
    const char *reason = tp_web_field(r, "reason");
    const char *comment = tp_web_field(r, "comment");
    tp_web_buf *b = &out->body;
    int64_t pts = 0;
    const char *bad = NULL;
    if (!nonempty(member))
        bad = "Type the member's code, card, phone or email.";
    else if (parse_i64(points, &pts) != 0 || pts == 0)
        bad = "Points must be a whole number other than 0, e.g. 25 or -10.";
    else if (!nonempty(reason))
        bad = "Give a reason for the adjustment.";
    if (bad) {
        out->status = 400;
        tp_web_page_begin(b, "Adjust", r->sess.csrf, 0);
        tp_web_buf_puts(b, "<h1>Adjust a balance</h1>\n");
        message_p(b, "error", "error", bad);
        adjust_form(b, r->sess.csrf, member, points, reason, comment);
        tp_web_page_end(b);
        return;
    }
    tp_adjustment adj = {.struct_size = sizeof adj, .member = member, .points = pts,
                         .reason = reason, .comment = nonempty(comment),
                         .staff = r->sess.manager};
    tp_activity_row entry;
    memset(&entry, 0, sizeof entry);
    entry.struct_size = sizeof entry;
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st = w->ad->ledger->adjust(w->p, &adj, &entry, &msg);
    tp_web_page_begin(b, "Adjust", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Adjust a balance</h1>\n");
    if (st == TP_OK) {
        tp_member_info m;
        memset(&m, 0, sizeof m);
        m.struct_size = sizeof m;
        tp_message m2;
        int have = w->ad->members->member_get(w->p, member, &m, &m2) == TP_OK;
        char sentence[512];
        if (have)
            snprintf(sentence, sizeof sentence,
                     "Adjusted %s by %+" PRId64 " points; the balance is now %" PRId64 ".",
                     m.code, pts, TP_HOST_SHOWN_BALANCE(&m));
        else
            snprintf(sentence, sizeof sentence, "Adjusted %s by %+" PRId64 " points.", member,
                     pts);
        message_p(b, "done", "result", sentence);
        adjust_form(b, r->sess.csrf, NULL, NULL, NULL, NULL);
    } else {
        out->status = status_for(st);
        message_p(b, "error", "error", or_sentence(&msg, "The adjustment was refused."));
        adjust_form(b, r->sess.csrf, member, points, reason, comment);
    }
    tp_web_page_end(b);
}

static void bulk_form(tp_web_buf *b, const char *csrf, const char *members, const char *points,
                      const char *reason, const char *comment)
{
    tp_web_buf_puts(b, "<form id=\"bulk\" method=\"post\" action=\"/bulk\">\n");
    csrf_input(b, csrf);
    tp_web_buf_puts(b, "<div class=\"field\"><label for=\"members\">Members (one code per line)"
                       "</label>\n<textarea id=\"members\" name=\"members\" rows=\"8\">");
    tp_web_buf_esc(b, members);
    tp_web_buf_puts(b, "</textarea></div>\n<div class=\"field check\"><input type=\"checkbox\" "
                       "id=\"all-members\" name=\"all_members\" value=\"1\"><label "
                       "for=\"all-members\">Every member instead of the list</label></div>\n");
    text_input(b, "points", "points", "Points (+ to add, - to take away)", "text", points,
               " inputmode=\"numeric\"");
    text_input(b, "reason", "reason", "Reason (for managers)", "text", reason, NULL);
    text_input(b, "comment", "comment", "Comment (the customers see it; optional)", "text",
               comment, NULL);
    tp_web_buf_puts(b, "<div class=\"actions\"><button id=\"bulk-submit\" type=\"submit\">"
                       "Adjust them all</button></div>\n</form>\n");
}

static void bulk_get(tp_web_req *r, tp_web_resp *out)
{
    tp_web_buf *b = &out->body;
    tp_web_page_begin(b, "Bulk adjustment", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Adjust many members</h1>\n<p class=\"hint\">Everything is checked "
                       "first: with an unknown member, one listed twice or a balance that "
                       "would go below zero, nothing is written.</p>\n");
    bulk_form(b, r->sess.csrf, NULL, NULL, NULL, NULL);
    tp_web_page_end(b);
}

static void bulk_post(tp_web_req *r, tp_web_resp *out)
{
    tp_web *w = r->w;
    const char *members = tp_web_field(r, "members");
    const char *points = tp_web_field(r, "points");
    const char *reason = tp_web_field(r, "reason");
    const char *comment = tp_web_field(r, "comment");
    const char *all = tp_web_field(r, "all_members");
    int all_members = all && !strcmp(all, "1");
    tp_web_buf *b = &out->body;
    int64_t pts = 0;
    const char *bad = NULL;
    char *copy = NULL;
    const char **list = NULL;
    size_t n = 0;
    if (parse_i64(points, &pts) != 0 || pts == 0)
        bad = "Points must be a whole number other than 0, e.g. 25 or -10.";
    else if (!nonempty(reason))
        bad = "Give a reason for the adjustment.";
    else if (!all_members) {
        copy = strdup(members ? members : "");
        list = calloc(BULK_MEMBERS_MAX, sizeof *list);
        if (!copy || !list) {
            bad = "The server ran out of memory; try a shorter list.";
        } else {
            char *save = NULL;
            for (char *tok = strtok_r(copy, "\r\n", &save); tok;
                 tok = strtok_r(NULL, "\r\n", &save)) {
                while (*tok == ' ' || *tok == '\t')
                    tok++;
                char *end = tok + strlen(tok);
                while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
                    *--end = '\0';
                if (!*tok)
                    continue;
                if (n == BULK_MEMBERS_MAX) {
                    bad = "The list has more than 100000 members; split it.";
                    break;
                }
                list[n++] = tok;
            }
            if (!bad && n == 0)
                bad = "List the members, one code per line, or tick \"Every member\".";
        }
    }
    tp_web_page_begin(b, "Bulk adjustment", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Adjust many members</h1>\n");
    if (bad) {
        out->status = 400;
        message_p(b, "error", "error", bad);
        bulk_form(b, r->sess.csrf, members, points, reason, comment);
    } else {
        tp_bulk_adjustment bulk = {.struct_size = sizeof bulk, .members = all_members ? NULL : list,
                                   .member_count = all_members ? 0 : n,
                                   .all_members = all_members, .points = pts, .reason = reason,
                                   .comment = nonempty(comment), .staff = r->sess.manager};
        tp_bulk_result res;
        memset(&res, 0, sizeof res);
        res.struct_size = sizeof res;
        tp_message msg;
        msg.text[0] = '\0';
        tp_status st = w->ad->ledger->bulk_adjust(w->p, &bulk, NULL, NULL, &res, &msg);
        if (st == TP_OK) {
            char sentence[TP_MESSAGE_MAX + 256];
            snprintf(sentence, sizeof sentence,
                     "Adjusted %" PRIu64 " members, %+" PRId64 " points in all (batch %s).%s%s",
                     res.members, res.points_total, res.batch_id, msg.text[0] ? " " : "",
                     msg.text);
            message_p(b, "done", "result", sentence);
            bulk_form(b, r->sess.csrf, NULL, NULL, NULL, NULL);
        } else {
            out->status = status_for(st);
            message_p(b, "error", "error", or_sentence(&msg, "The bulk adjustment was refused."));
            bulk_form(b, r->sess.csrf, members, points, reason, comment);
        }
    }
    free(list);
    free(copy);
    tp_web_page_end(b);
}

/* ------------------------------------------------------- import, export */

static void import_get(tp_web_req *r, tp_web_resp *out)
{
    tp_web_buf *b = &out->body;
    tp_web_page_begin(b, "Import", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Import members and points</h1>\n<p class=\"hint\">A CSV file with "
                       "the header code,name,phone,email,points,reason (docs/MANAGER.md, "
                       "\"CSV import\"). Every row is checked first; with any invalid row "
                       "nothing is written.</p>\n<form id=\"import\" method=\"post\" "
                       "action=\"/import\" enctype=\"multipart/form-data\">\n");
    csrf_input(b, r->sess.csrf);
    tp_web_buf_puts(b, "<div class=\"field\"><label for=\"file\">CSV file</label>\n"
                       "<input type=\"file\" id=\"file\" name=\"file\" accept=\".csv,text/csv\">"
                       "</div>\n<div class=\"field check\"><input type=\"checkbox\" id=\"dry-run\" "
                       "name=\"dry_run\" value=\"1\"><label for=\"dry-run\">Dry run: check "
                       "only, write nothing</label></div>\n<div class=\"actions\"><button "
                       "id=\"import-submit\" type=\"submit\">Import</button></div>\n</form>\n");
    tp_web_page_end(b);
}

static void import_post(tp_web_req *r, tp_web_resp *out)
{
    if (!r->has_file || !r->upload_path[0]) {
        tp_web_error_page(out, 400, "Import", "Choose a CSV file to import.", r->sess.csrf);
        return;
    }
    const char *dry = tp_web_field(r, "dry_run");
    char err[256];
    uint64_t id = tp_web_job_start(r->w, TP_WEB_JOB_IMPORT, r->sess.manager, r->upload_path,
                                   dry && !strcmp(dry, "1"), err, sizeof err);
    if (!id) {
        tp_web_error_page(out, 503, "Import", err, r->sess.csrf);
        return;
    }
    r->upload_path[0] = '\0'; /* the job owns (and removes) the file now */
    char to[64];
    snprintf(to, sizeof to, "/import/%" PRIu64, id);
    redirect(out, to);
}

static void job_get(tp_web_req *r, int kind, const char *id_text, tp_web_resp *out)
{
    int64_t id = 0;
    if (parse_i64(id_text, &id) != 0 || id <= 0 ||
        tp_web_job_page(r->w, kind, (uint64_t)id, r->sess.csrf, &out->body) != 0)
        tp_web_error_page(out, 404, "No such job",
                          "This import or check is not known (a restart forgets them); start "
                          "it again.",
                          r->sess.csrf);
}

static void export_get(tp_web_req *r, tp_web_resp *out)
{
    tp_web *w = r->w;
    char tok[TP_WEB_TOKEN_LEN + 1];
    tp_web_token_new(tok);
    char path[TP_WEB_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/export-%.16s.csv", w->tmpdir, tok);
    uint64_t rows = 0;
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st = w->ad->transfer->export_csv(w->p, path, &rows, &msg);
    if (st != TP_OK) {
        unlink(path);
        tp_web_error_page(out, status_for(st), "Export",
                          or_sentence(&msg, "The export failed; try again."), r->sess.csrf);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    unlink(path); /* served from the open file, gone from the directory */
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        tp_web_error_page(out, 503, "Export", "The export file could not be read; try again.",
                          r->sess.csrf);
        return;
    }
    out->fd = fd;
    out->fd_size = (uint64_t)sb.st_size;
    out->content_type = "text/csv; charset=utf-8";
    snprintf(out->disposition, sizeof out->disposition,
             "attachment; filename=\"tillpoints-members.csv\"");
}

/* ------------------------------------------------ missed, status, audit */

static void missed_page(tp_web_req *r, tp_web_resp *out)
{
    tp_web_buf *b = &out->body;
    tp_web_page_begin(b, "Missed scans", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Missed scans</h1>\n<p>Customers who forgot their card can be "
                       "credited afterwards, with your PIN on the approval step.</p>\n"
                       "<ul class=\"actions-list\">\n"
                       "<li><a id=\"open-queue\" href=\"/forms/missed-scan-queue\">Open claims "
                       "(the missed-scan queue)</a></li>\n"
                       "<li><a id=\"open-retro\" href=\"/forms/retro-visit\">Credit a missed "
                       "visit</a></li>\n"
                       "<li><a id=\"open-correct\" href=\"/forms/correct-credit\">Credited the "
                       "wrong customer</a></li>\n</ul>\n");
    tp_web_page_end(b);
}

static const char *scanner_state(tp_scanner_state s)
{
    switch (s) {
    case TP_SCANNER_STARTING: return "not started here";
    case TP_SCANNER_ONLINE: return "online";
    case TP_SCANNER_OFFLINE: return "offline";
    case TP_SCANNER_ERROR: return "error";
    default: return "unknown";
    }
}

static const char *sync_state(tp_sync_state s)
{
    switch (s) {
    case TP_SYNC_OFF: return "off (standalone)";
    case TP_SYNC_CONNECTING: return "connecting";
    case TP_SYNC_ONLINE: return "online";
    case TP_SYNC_OFFLINE: return "offline";
    case TP_SYNC_ERROR: return "error";
    default: return "unknown";
    }
}

static void status_page(tp_web_req *r, tp_web_resp *out)
{
    tp_web *w = r->w;
    tp_web_buf *b = &out->body;
    tp_web_page_begin(b, "Status", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Status</h1>\n<h2>Scanners</h2>\n<p class=\"hint\">This back office "
                       "owns no scanner; the till does. What the plugin here says of them:</p>\n");
    tp_scanner_info sc[32];
    size_t n = 0;
    tp_message msg;
    msg.text[0] = '\0';
    memset(sc, 0, sizeof sc);
    if (!w->scanners) {
        message_p(b, "notice", NULL, "This plugin reports no scanners.");
    } else if (w->scanners->list(w->p, sc, 32, sizeof sc[0], &n, &msg) != TP_OK) {
        message_p(b, "error", NULL, or_sentence(&msg, "The scanners could not be listed."));
        n = 0;
    } else if (n == 0) {
        /* the plugin says why it lists none (in a back office: the till owns
         * them); the table then shows the configured ones as the till's
         * config lists them, not started in this process */
        message_p(b, "notice", "scanners-note",
                  or_sentence(&msg, "No scanners are configured."));
        tp_hostconf_scanner conf[TP_HOSTCONF_SCANNERS_MAX];
        int nc = msg.text[0] && w->config_path
                     ? tp_hostconf_scanners(w->config_path, conf, TP_HOSTCONF_SCANNERS_MAX)
                     : 0;
        for (int i = 0; i < nc; i++, n++) {
            _Static_assert(sizeof sc[0].name == sizeof conf[0].name &&
                               sizeof sc[0].driver == sizeof conf[0].driver &&
                               sizeof sc[0].device == sizeof conf[0].device,
                           "a configured scanner fits a tp_scanner_info");
            memcpy(sc[n].name, conf[i].name, sizeof sc[n].name);
            memcpy(sc[n].driver, conf[i].driver, sizeof sc[n].driver);
            memcpy(sc[n].device, conf[i].device, sizeof sc[n].device);
            sc[n].state = TP_SCANNER_STARTING;
            snprintf(sc[n].last_error, sizeof sc[n].last_error,
                     "Not opened here: the till's process owns it.");
        }
    }
    tp_web_buf_puts(b, "<div class=\"scroll\"><table id=\"scanners\">\n<thead><tr>"
                       "<th scope=\"col\">Name</th><th scope=\"col\">Driver</th>"
                       "<th scope=\"col\">Device</th><th scope=\"col\">State</th>"
                       "<th scope=\"col\">Last scan</th><th scope=\"col\">Scans</th>"
                       "<th scope=\"col\">Rejected</th><th scope=\"col\">Errors</th>"
                       "<th scope=\"col\">Note</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < n && i < 32; i++) {
        char when[32];
        tp_web_format_time(sc[i].last_scan_ms, when, sizeof when);
        tp_web_buf_puts(b, "<tr><td>");
        tp_web_buf_esc(b, sc[i].name);
        tp_web_buf_puts(b, "</td><td>");
        tp_web_buf_esc(b, sc[i].driver);
        tp_web_buf_puts(b, "</td><td>");
        tp_web_buf_esc(b, sc[i].device);
        tp_web_buf_printf(b,
                          "</td><td>%s</td><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64
                          "</td><td>%" PRIu64 "</td><td>",
                          scanner_state(sc[i].state), when, sc[i].scans, sc[i].rejected,
                          sc[i].errors);
        tp_web_buf_esc(b, sc[i].last_error);
        tp_web_buf_puts(b, "</td></tr>\n");
    }
    tp_web_buf_puts(b, "</tbody></table></div>\n<h2>Central database</h2>\n");
    tp_queue_status qs;
    memset(&qs, 0, sizeof qs);
    qs.struct_size = sizeof qs;
    msg.text[0] = '\0';
    if (w->ad->queue->queue_status(w->p, &qs, &msg) != TP_OK) {
        message_p(b, "error", "error", or_sentence(&msg, "The queue could not be read."));
    } else {
        char oldest[32], success[32], errat[32];
        tp_web_format_time(qs.oldest_pending_ms, oldest, sizeof oldest);
        tp_web_format_time(qs.last_success_ms, success, sizeof success);
        tp_web_format_time(qs.last_error_ms, errat, sizeof errat);
        tp_web_buf_printf(b,
                          "<dl id=\"queue\">\n<dt>Configured</dt><dd id=\"queue-configured\">%s"
                          "</dd>\n<dt>Link</dt><dd id=\"queue-state\">%s</dd>\n"
                          "<dt>Waiting to be sent</dt><dd id=\"queue-pending\">%" PRIu64 "</dd>\n"
                          "<dt>Parked</dt><dd id=\"queue-parked\">%" PRIu64 "</dd>\n"
                          "<dt>Delivered</dt><dd id=\"queue-delivered\">%" PRIu64 "</dd>\n"
                          "<dt>Failing</dt><dd id=\"queue-failing\">%" PRIu64 "</dd>\n"
                          "<dt>Oldest waiting</dt><dd>%s</dd>\n<dt>Last success</dt><dd>%s"
                          "</dd>\n<dt>Last error</dt><dd>%s ",
                          qs.configured ? "yes" : "no", sync_state(qs.state), qs.pending,
                          qs.parked, qs.delivered, qs.failing, oldest[0] ? oldest : "none",
                          success[0] ? success : "never", errat);
        tp_web_buf_esc(b, qs.last_error[0] ? qs.last_error : "none");
        tp_web_buf_puts(b, "</dd>\n</dl>\n");
    }
    tp_web_page_end(b);
}

static void audit_page(tp_web_req *r, tp_web_resp *out)
{
    tp_web *w = r->w;
    tp_web_buf *b = &out->body;
    tp_audit_head h;
    memset(&h, 0, sizeof h);
    h.struct_size = sizeof h;
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st = w->ad->audit->head(w->p, &h, &msg);
    tp_web_page_begin(b, "Audit log", r->sess.csrf, 0);
    tp_web_buf_puts(b, "<h1>Audit log</h1>\n");
    if (st != TP_OK) {
        out->status = status_for(st);
        message_p(b, "error", "error", or_sentence(&msg, "The audit log could not be read."));
    } else if (h.seq == 0) {
        message_p(b, "notice", "audit-empty", "The audit log is empty.");
    } else {
        char when[32];
        tp_web_format_time(h.time_ms, when, sizeof when);
        tp_web_buf_printf(b, "<p>Write the anchor on the end-of-day report; a later check "
                             "proves the log still holds that record.</p>\n<dl id=\"audit-head\">"
                             "\n<dt>Anchor</dt><dd id=\"audit-anchor\"><code>%" PRIu64 ":",
                          h.seq);
        tp_web_buf_esc(b, h.hash);
        tp_web_buf_printf(b, "</code></dd>\n<dt>Record</dt><dd id=\"audit-seq\">%" PRIu64
                             "</dd>\n<dt>Written</dt><dd>%s</dd>\n<dt>Action</dt><dd>",
                          h.seq, when);
        tp_web_buf_esc(b, h.action);
        tp_web_buf_puts(b, "</dd>\n<dt>Location</dt><dd>");
        tp_web_buf_esc(b, h.location);
        tp_web_buf_puts(b, "</dd>\n<dt>Terminal</dt><dd>");
        tp_web_buf_esc(b, h.terminal);
        tp_web_buf_puts(b, "</dd>\n</dl>\n");
    }
    tp_web_buf_puts(b, "<h2>Check the database</h2>\n<p>Checks every invariant: the audit "
                       "chain, balances, receipts earning at most once. The tills carry on "
                       "meanwhile.</p>\n<form id=\"verify\" method=\"post\" "
                       "action=\"/audit/verify\">\n");
    csrf_input(b, r->sess.csrf);
    tp_web_buf_puts(b, "<div class=\"actions\"><button id=\"verify-submit\" type=\"submit\">"
                       "Check now</button></div>\n</form>\n");
    tp_web_page_end(b);
}

static void verify_post(tp_web_req *r, tp_web_resp *out)
{
    char err[256];
    uint64_t id =
        tp_web_job_start(r->w, TP_WEB_JOB_VERIFY, r->sess.manager, NULL, 0, err, sizeof err);
    if (!id) {
        tp_web_error_page(out, 503, "Database check", err, r->sess.csrf);
        return;
    }
    char to[64];
    snprintf(to, sizeof to, "/audit/verify/%" PRIu64, id);
    redirect(out, to);
}

/* ------------------------------------------------------------- static */

static void static_file(tp_web_req *r, const char *name, tp_web_resp *out)
{
    tp_web *w = r->w;
    int ok = *name && *name != '.' && strlen(name) < 128;
    for (const char *p = name; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '.' || *p == '-' || *p == '_';
    char path[TP_WEB_PATH_MAX + 160];
    if (ok && !strcmp(name, "chart.js"))
        snprintf(path, sizeof path, "%s", w->cfg.chartjs);
    else
        snprintf(path, sizeof path, "%s/%s", w->cfg.assets, name);
    int fd = ok ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        tp_web_error_page(out, 404, "Not found", "There is no such file.", NULL);
        return;
    }
    const char *dot = strrchr(name, '.');
    out->content_type = !dot                   ? "application/octet-stream"
                        : !strcmp(dot, ".css") ? "text/css; charset=utf-8"
                        : !strcmp(dot, ".js")  ? "text/javascript; charset=utf-8"
                        : !strcmp(dot, ".svg") ? "image/svg+xml"
                        : !strcmp(dot, ".png") ? "image/png"
                        : !strcmp(dot, ".ico") ? "image/x-icon"
                                               : "application/octet-stream";
    out->fd = fd;
    out->fd_size = (uint64_t)sb.st_size;
    out->is_static = 1;
}

/* ------------------------------------------------------------- routing */

enum { M_GET = 1, M_POST = 2 };

static void route_signed_in(tp_web_req *r, const char *url, int post, tp_web_resp *out)
{
    if (!strcmp(url, "/"))
        dashboard_page(r, out);
    else if (!strcmp(url, "/dashboard.json"))
        dashboard_json(r, out);
    else if (!strcmp(url, "/members"))
        members_page(r, out);
    else if (!strncmp(url, "/members/", 9))
        member_page(r, url + 9, out);
    else if (!strcmp(url, "/activity"))
        activity_page(r, out);
    else if (!strcmp(url, "/missed"))
        missed_page(r, out);
    else if (!strcmp(url, "/adjust"))
        post ? adjust_post(r, out) : adjust_get(r, out);
    else if (!strcmp(url, "/bulk"))
        post ? bulk_post(r, out) : bulk_get(r, out);
    else if (!strcmp(url, "/import"))
        post ? import_post(r, out) : import_get(r, out);
    else if (!strncmp(url, "/import/", 8))
        job_get(r, TP_WEB_JOB_IMPORT, url + 8, out);
    else if (!strcmp(url, "/export.csv"))
        export_get(r, out);
    else if (!strcmp(url, "/status"))
        status_page(r, out);
    else if (!strcmp(url, "/audit"))
        audit_page(r, out);
    else if (!strcmp(url, "/audit/verify"))
        verify_post(r, out);
    else if (!strncmp(url, "/audit/verify/", 14))
        job_get(r, TP_WEB_JOB_VERIFY, url + 14, out);
    else if (!strcmp(url, "/signout")) {
        char tok[TP_WEB_TOKEN_LEN + 1];
        snprintf(tok, sizeof tok, "%s", r->sess.token);
        tp_web_session_remove(&r->w->sessions, tok);
        sodium_memzero(tok, sizeof tok);
        tp_web_forms_drop_session(r->w, r->sess.serial);
        add_cookie(out, r->w, "tp_session", "", 1);
        redirect(out, "/signin");
    } else if (!strncmp(url, "/forms/", 7)) {
        const char *action = url + 7;
        if (strcmp(action, "retro-visit") != 0 && strcmp(action, "correct-credit") != 0 &&
            strcmp(action, "missed-scan-queue") != 0) {
            tp_web_error_page(out, 404, "Not found", "There is no such form.", r->sess.csrf);
            return;
        }
        uint64_t id = 0;
        char err[TP_MESSAGE_MAX + 1];
        unsigned st = tp_web_form_open(r->w, &r->sess, action, tp_web_arg(r, "prefill"),
                                       tp_web_arg(r, "member"), &id, err, sizeof err);
        if (st != 0) {
            tp_web_error_page(out, st, "Form", err, r->sess.csrf);
            return;
        }
        char to[64];
        snprintf(to, sizeof to, "/form/%" PRIu64, id);
        redirect(out, to);
    } else if (!strncmp(url, "/form/", 6)) {
        int64_t id = 0;
        if (parse_i64(url + 6, &id) != 0 || id <= 0) {
            tp_web_error_page(out, 404, "No such form", "There is no such form.", r->sess.csrf);
            return;
        }
        if (post)
            tp_web_form_post(r, (uint64_t)id, out);
        else
            tp_web_form_page(r, (uint64_t)id, out);
    }
}

/* Which methods a URL takes; 0 = no such page. */
static int methods_of(const char *url)
{
    static const struct {
        const char *path;
        int prefix;
        int methods;
    } table[] = {
        {"/", 0, M_GET},           {"/dashboard.json", 0, M_GET},
        {"/members", 0, M_GET},    {"/members/", 1, M_GET},
        {"/activity", 0, M_GET},   {"/missed", 0, M_GET},
        {"/adjust", 0, M_GET | M_POST}, {"/bulk", 0, M_GET | M_POST},
        {"/import", 0, M_GET | M_POST}, {"/import/", 1, M_GET},
        {"/export.csv", 0, M_GET}, {"/status", 0, M_GET},
        {"/audit", 0, M_GET},      {"/audit/verify", 0, M_POST},
        {"/audit/verify/", 1, M_GET}, {"/signout", 0, M_POST},
        {"/forms/", 1, M_GET},     {"/form/", 1, M_GET | M_POST},
        {"/signin", 0, M_GET | M_POST}, {"/static/", 1, M_GET},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t n = strlen(table[i].path);
        if (table[i].prefix ? (!strncmp(url, table[i].path, n) && url[n])
                            : !strcmp(url, table[i].path))
            return table[i].methods;
    }
    return 0;
}

void tp_web_route(tp_web_req *r, tp_web_resp *out)
{
    tp_web *w = r->w;
    const char *url = r->url;
    int is_get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    int post = r->is_post;
    int methods = methods_of(url);
    int session_known = 0;
    char cookie[TP_WEB_TOKEN_LEN + 8];
    const char *cookies = tp_web_header(r, "Cookie");
    if (tp_web_cookie_get(cookies, "tp_session", cookie, sizeof cookie) == 0 &&
        tp_web_session_lookup(&w->sessions, cookie, tp_web_now_ms(), &r->sess) == 0) {
        r->signed_in = 1;
        session_known = 1;
    }
    sodium_memzero(cookie, sizeof cookie);
    const char *csrf = session_known ? r->sess.csrf : NULL;
    if (!methods) {
        tp_web_error_page(out, 404, "Not found", "There is no such page.", csrf);
        return;
    }
    if (!((is_get && (methods & M_GET)) || (post && (methods & M_POST)))) {
        tp_web_error_page(out, 405, "Method not allowed",
                          "This page does not take that kind of request.", csrf);
        snprintf(out->location, sizeof out->location, "%s", ""); /* no redirect */
        return;
    }
    if (!strncmp(url, "/static/", 8)) {
        static_file(r, url + 8, out);
        return;
    }
    if (post && !tp_web_origin_ok(tp_web_header(r, "Origin"), tp_web_header(r, "Referer"),
                                  tp_web_header(r, "Sec-Fetch-Site"), tp_web_header(r, "Host"),
                                  w->tls)) {
        tp_web_error_page(out, 403, "Refused", csrf_sentence, csrf);
        return;
    }
    if (!strcmp(url, "/signin")) {
        if (!post) {
            signin_page(r, out, 200, NULL, NULL);
            return;
        }
        char pre[TP_WEB_TOKEN_LEN + 8];
        int have = tp_web_cookie_get(cookies, "tp_pre", pre, sizeof pre) == 0;
        int ok = have && tp_web_pre_token_ok(w->pre_key, pre) &&
                 tp_web_csrf_ok(pre, tp_web_field(r, "csrf"));
        sodium_memzero(pre, sizeof pre);
        if (!ok) {
            tp_web_error_page(out, 403, "Refused", csrf_sentence, NULL);
            return;
        }
        signin_post(r, out);
        return;
    }
    if (!session_known) {
        if (post)
            tp_web_error_page(out, 401, "Signed out", expired_sentence, NULL);
        else
            redirect(out, "/signin");
        return;
    }
    if (post && !tp_web_csrf_ok(r->sess.csrf, tp_web_field(r, "csrf"))) {
        tp_web_error_page(out, 403, "Refused", csrf_sentence, csrf);
        return;
    }
    if (post && r->body_bad && strcmp(url, "/signout") != 0) {
        tp_web_error_page(out, 400, "Bad form",
                          "The form could not be read (too many fields, a field too long, or "
                          "not a form); open the page again.",
                          csrf);
        return;
    }
    route_signed_in(r, url, post, out);
}
