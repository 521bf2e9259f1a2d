/*
 * web_jobs.c — the long calls of tillpoints-web as jobs with a progress
 * page (docs/DESIGN.md §15): a CSV import (transfer.import_csv) and the
 * database check (audit.verify).
 *
 * Each job runs on a thread of its own, calling the [thread-safe,
 * blocking] extension; its progress callbacks and every problem (line,
 * sentence) are recorded under the table's lock and shown by the job's
 * page, which refreshes itself while the job runs. The uploaded file
 * belongs to the job from its start and is removed when the job ends.
 * Shutdown joins every job thread (the plugin is still up then), so no
 * thread outlives the plugin. The table keeps JOBS_CAP jobs; a new job
 * replaces the oldest finished one, and is refused while all are running.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "web.h"

#define JOBS_CAP 32
#define PROBLEMS_MAX 1000

typedef struct job_problem {
    uint64_t line;
    char *sentence;
} job_problem;

typedef struct web_job {
    uint64_t id;           /* 0 = free */
    int kind;
    int running;           /* the thread has not ended */
    int joinable;
    pthread_t thread;
    char manager[TP_MANAGER_ID_MAX + 1];
    char path[TP_WEB_PATH_MAX];
    int dry_run;
    uint64_t done, total;
    char state[16];        /* running, done, refused, failed */
    char sentence[2 * (TP_MESSAGE_MAX + 1)];
    job_problem problem[PROBLEMS_MAX];
    size_t nproblem;
    uint64_t problems_dropped;
    tp_import_result imp;
    tp_verify_result ver;
    tp_audit_report rep;
    int has_result;
    int64_t ended_ms;
    tp_web *w;
} web_job;

struct tp_web_jobtab {
    pthread_mutex_t lock;
    web_job job[JOBS_CAP];
    uint64_t next_id;
};

int tp_web_jobs_init(tp_web *w)
{
    tp_web_jobtab *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    pthread_mutex_init(&t->lock, NULL);
    t->next_id = 1;
    w->jobs = t;
    return 0;
}

static void job_clear(web_job *j)
{
    for (size_t i = 0; i < j->nproblem; i++)
        free(j->problem[i].sentence);
    memset(j, 0, sizeof *j);
}

void tp_web_jobs_free(tp_web *w)
{
    tp_web_jobtab *t = w->jobs;
    if (!t)
        return;
    for (size_t i = 0; i < JOBS_CAP; i++) {
        if (t->job[i].joinable)
            pthread_join(t->job[i].thread, NULL);
        job_clear(&t->job[i]);
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
    w->jobs = NULL;
}

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    web_job *j = user;
    pthread_mutex_lock(&j->w->jobs->lock);
    j->done = done;
    j->total = total;
    pthread_mutex_unlock(&j->w->jobs->lock);
}

static void on_problem(void *user, uint64_t line, const char *sentence)
{
    web_job *j = user;
    pthread_mutex_lock(&j->w->jobs->lock);
    char *s = NULL;
    if (j->nproblem < PROBLEMS_MAX && (s = strdup(sentence ? sentence : "")) != NULL) {
        j->problem[j->nproblem].line = line;
        j->problem[j->nproblem].sentence = s;
        j->nproblem++;
    } else {
        j->problems_dropped++;
    }
    pthread_mutex_unlock(&j->w->jobs->lock);
}

static void *job_main(void *arg)
{
    web_job *j = arg;
    tp_web *w = j->w;
    tp_message msg;
    msg.text[0] = '\0';
    tp_status st;
    tp_import_result imp;
    tp_verify_result ver;
    tp_audit_report rep;
    memset(&imp, 0, sizeof imp);
    memset(&ver, 0, sizeof ver);
    memset(&rep, 0, sizeof rep);
    imp.struct_size = sizeof imp;
    ver.struct_size = sizeof ver;
    rep.struct_size = sizeof rep;
    rep.local.struct_size = sizeof rep.local;
    if (j->kind == TP_WEB_JOB_IMPORT) {
        st = w->ad->transfer->import_csv(w->p, j->path, j->dry_run ? TP_IMPORT_DRY_RUN : 0,
                                          j->manager, on_progress, on_problem, j, &imp, &msg);
        unlink(j->path);
    } else {
        st = w->ad->audit->verify(w->p, NULL, on_progress, on_problem, j, &ver, &rep, &msg);
    }
    pthread_mutex_lock(&w->jobs->lock);
    j->imp = imp;
    j->ver = ver;
    j->rep = rep;
    j->has_result = 1;
    j->running = 0;
    j->ended_ms = tp_web_now_ms();
    /* The plugin names the file it read: the private upload, which means
     * nothing to the manager. */
    char shown[sizeof msg.text + 64];
    shown[0] = '\0';
    const char *at = j->path[0] ? strstr(msg.text, j->path) : NULL;
    if (at)
        snprintf(shown, sizeof shown, "%.*s%s uploaded file%s", (int)(at - msg.text), msg.text,
                 at == msg.text ? "The" : "the", at + strlen(j->path));
    else
        snprintf(shown, sizeof shown, "%s", msg.text);
    if (st == TP_OK) {
        snprintf(j->state, sizeof j->state, "done");
        if (shown[0])
            snprintf(j->sentence, sizeof j->sentence, "%s", shown);
        else if (j->kind == TP_WEB_JOB_IMPORT)
            snprintf(j->sentence, sizeof j->sentence, "%s",
                     imp.applied ? "The import was applied."
                     : j->dry_run ? "Dry run: everything was checked, nothing was written."
                                  : "The import wrote nothing.");
        else
            snprintf(j->sentence, sizeof j->sentence,
                     "The database passed every check (%" PRIu64 " checks).", ver.checks);
    } else {
        int refused = j->nproblem > 0 || st == TP_ERR_INVALID_ARGUMENT ||
                      st == TP_ERR_STATE || st == TP_ERR_NOT_FOUND || st == TP_ERR_DUPLICATE;
        snprintf(j->state, sizeof j->state, "%s", refused ? "refused" : "failed");
        snprintf(j->sentence, sizeof j->sentence, "%s",
                 shown[0] ? shown
                 : j->kind == TP_WEB_JOB_IMPORT ? "The import was refused; see the problems."
                                                : "The database check found problems.");
    }
    pthread_mutex_unlock(&w->jobs->lock);
    return NULL;
}

uint64_t tp_web_job_start(tp_web *w, int kind, const char *manager, const char *path,
                          int dry_run, char *err, size_t err_cap)
{
    tp_web_jobtab *t = w->jobs;
    pthread_mutex_lock(&t->lock);
    web_job *use = NULL;
    for (size_t i = 0; i < JOBS_CAP; i++) {
        web_job *j = &t->job[i];
        if (!j->id) {
            use = j;
            break;
        }
        if (!j->running && (!use || j->ended_ms < use->ended_ms))
            use = j;
    }
    if (!use) {
        pthread_mutex_unlock(&t->lock);
        snprintf(err, err_cap, "%d imports and checks are running already; wait for one to "
                               "finish, then try again.", JOBS_CAP);
        return 0;
    }
    if (use->joinable)
        pthread_join(use->thread, NULL); /* ended: returns at once */
    job_clear(use);
    use->id = t->next_id++;
    use->kind = kind;
    use->w = w;
    use->running = 1;
    use->dry_run = dry_run;
    snprintf(use->manager, sizeof use->manager, "%s", manager);
    snprintf(use->path, sizeof use->path, "%s", path ? path : "");
    snprintf(use->state, sizeof use->state, "running");
    snprintf(use->sentence, sizeof use->sentence, "%s",
             kind == TP_WEB_JOB_IMPORT ? "Reading the file…" : "Checking the database…");
    if (pthread_create(&use->thread, NULL, job_main, use) != 0) {
        job_clear(use);
        pthread_mutex_unlock(&t->lock);
        snprintf(err, err_cap, "The server could not start a thread for the job; try again.");
        return 0;
    }
    use->joinable = 1;
    uint64_t id = use->id;
    pthread_mutex_unlock(&t->lock);
    return id;
}

static void dl_row(tp_web_buf *b, const char *term, const char *fmt_val)
{
    tp_web_buf_puts(b, "<dt>");
    tp_web_buf_puts(b, term);
    tp_web_buf_puts(b, "</dt><dd>");
    tp_web_buf_puts(b, fmt_val);
    tp_web_buf_puts(b, "</dd>\n");
}

int tp_web_job_page(tp_web *w, int kind, uint64_t id, const char *csrf, tp_web_buf *b)
{
    tp_web_jobtab *t = w->jobs;
    pthread_mutex_lock(&t->lock);
    web_job *j = NULL;
    for (size_t i = 0; i < JOBS_CAP; i++)
        if (id && t->job[i].id == id && t->job[i].kind == kind)
            j = &t->job[i];
    if (!j) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    const char *pfx = kind == TP_WEB_JOB_IMPORT ? "import" : "verify";
    const char *title = kind == TP_WEB_JOB_IMPORT
                            ? (j->dry_run ? "Import (dry run)" : "Import")
                            : "Database check";
    /* The layout with a refresh while the job runs (a meta tag, no script). */
    tp_web_buf page;
    tp_web_buf_init(&page);
    tp_web_page_begin(&page, title, csrf, 0);
    if (j->running) {
        char *head_end = page.data ? strstr(page.data, "</head>") : NULL;
        if (head_end) {
            size_t at = (size_t)(head_end - page.data);
            tp_web_buf_put(b, page.data, at);
            tp_web_buf_puts(b, "<meta http-equiv=\"refresh\" content=\"1\">\n");
            tp_web_buf_puts(b, page.data + at);
        } else {
            tp_web_buf_puts(b, page.data);
        }
    } else {
        tp_web_buf_puts(b, page.data);
    }
    tp_web_buf_free(&page);
    tp_web_buf_printf(b, "<h1>%s</h1>\n", title);
    uint64_t max = j->total ? j->total : (j->running ? 0 : 1);
    uint64_t val = j->running ? j->done : max;
    if (max)
        tp_web_buf_printf(b,
                          "<progress id=\"%s-progress\" value=\"%" PRIu64 "\" max=\"%" PRIu64
                          "\">%" PRIu64 " of %" PRIu64 "</progress>\n",
                          pfx, val, max, val, max);
    else
        tp_web_buf_printf(b, "<progress id=\"%s-progress\"></progress>\n", pfx);
    tp_web_buf_printf(b, "<p id=\"%s-state\" data-state=\"%s\" class=\"%s\" role=\"status\">",
                      pfx, j->state,
                      !strcmp(j->state, "done") ? "done"
                      : !strcmp(j->state, "running") ? "running" : "error");
    tp_web_buf_esc(b, j->sentence);
    tp_web_buf_puts(b, "</p>\n");
    char v[64];
    if (j->has_result && kind == TP_WEB_JOB_IMPORT) {
        tp_web_buf_puts(b, "<dl id=\"import-summary\">\n");
        snprintf(v, sizeof v, "%" PRIu64, j->imp.rows);
        dl_row(b, "Rows", v);
        snprintf(v, sizeof v, "%" PRIu64, j->imp.invalid);
        dl_row(b, "Invalid", v);
        snprintf(v, sizeof v, "%" PRIu64, j->imp.members_created);
        dl_row(b, "Members created", v);
        snprintf(v, sizeof v, "%" PRIu64, j->imp.entries);
        dl_row(b, "Entries", v);
        snprintf(v, sizeof v, "%+" PRId64, j->imp.points_total);
        dl_row(b, "Points", v);
        dl_row(b, "Applied", j->imp.applied ? "yes" : "no");
        tp_web_buf_puts(b, "</dl>\n");
    } else if (j->has_result) {
        tp_web_buf_puts(b, "<dl id=\"verify-summary\">\n");
        snprintf(v, sizeof v, "%" PRIu64, j->ver.checks);
        dl_row(b, "Checks", v);
        snprintf(v, sizeof v, "%" PRIu64, j->ver.problems);
        dl_row(b, "Problems", v);
        snprintf(v, sizeof v, "%" PRIu64, j->ver.entries);
        dl_row(b, "Ledger entries", v);
        snprintf(v, sizeof v, "%" PRIu64, j->ver.members);
        dl_row(b, "Members", v);
        const char *central = j->rep.central == TP_AUDIT_CENTRAL_COMPARED ? "compared"
                              : j->rep.central == TP_AUDIT_CENTRAL_EMPTY  ? "holds no record yet"
                              : j->rep.central == TP_AUDIT_CENTRAL_UNREACHABLE
                                  ? "unreachable"
                                  : "not configured";
        dl_row(b, "Central database", central);
        tp_web_buf_puts(b, "</dl>\n");
        if (j->rep.central_note[0]) {
            tp_web_buf_puts(b, "<p>");
            tp_web_buf_esc(b, j->rep.central_note);
            tp_web_buf_puts(b, "</p>\n");
        }
    }
    tp_web_buf_printf(b, "<h2>Problems</h2>\n<div class=\"scroll\"><table id=\"%s-problems\">\n"
                         "<thead><tr><th scope=\"col\">Line</th><th scope=\"col\">Problem</th>"
                         "</tr></thead>\n<tbody>\n",
                      pfx);
    for (size_t i = 0; i < j->nproblem; i++) {
        tp_web_buf_printf(b, "<tr><td class=\"line\">%" PRIu64 "</td><td class=\"problem\">",
                          j->problem[i].line);
        tp_web_buf_esc(b, j->problem[i].sentence);
        tp_web_buf_puts(b, "</td></tr>\n");
    }
    tp_web_buf_puts(b, "</tbody></table></div>\n");
    if (j->problems_dropped)
        tp_web_buf_printf(b, "<p>%" PRIu64 " more problems are not shown.</p>\n",
                          j->problems_dropped);
    if (!j->running)
        tp_web_buf_printf(b, "<p><a href=\"/%s\">Back</a></p>\n",
                          kind == TP_WEB_JOB_IMPORT ? "import" : "audit");
    pthread_mutex_unlock(&t->lock);
    tp_web_page_end(b);
    return 0;
}
