/*
 * web.h — the shared internal declarations of tillpoints-web, the
 * manager's back office in a browser (docs/DESIGN.md §15): the
 * configuration, the server's state, a request and a response as the
 * pages see them, and the entry points of each file.
 *
 * tillpoints-web is one more host of the plugin (host.c, back-office
 * role): every read and write goes through the plugin's manager-side
 * extensions, so every rule, chunking and audit record of the plugin
 * holds for it. Threads: libmicrohttpd runs one thread per connection;
 * those call the [thread-safe, blocking] extensions directly. The ui
 * extension is [main-thread]: a connection thread posts a job to the main
 * thread (web_forms.c) and waits for the form's next state.
 */
#ifndef TP_WEB_H
#define TP_WEB_H

#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "host.h"
#include "tillpoints/ext/scanners.h"
#include "web_html.h"
#include "web_session.h"

/* ---------------------------------------------------------- configuration */

#define TP_WEB_DEFAULT_CONFIG "/etc/tillpoints/web.conf"
#define TP_WEB_DEFAULT_LISTEN "127.0.0.1:8080"
#define TP_WEB_DEFAULT_ASSETS "/usr/share/tillpoints/web"
#define TP_WEB_DEFAULT_CHARTJS "/usr/share/javascript/chart.js/chart.min.js"
#define TP_WEB_PATH_MAX 1024

typedef struct tp_web_config {
    char listen[256];
    char tls_cert[TP_WEB_PATH_MAX];
    char tls_key[TP_WEB_PATH_MAX];
    int allow_plain_http;
    long session_idle_seconds;
    long long max_upload_bytes;
    long max_connections;
    char assets[TP_WEB_PATH_MAX];
    char chartjs[TP_WEB_PATH_MAX];
} tp_web_config;

/* The defaults of the contract. */
void tp_web_config_defaults(tp_web_config *cfg);

/* Reads the [web] section of INI file `path` into cfg (keys not in the
 * file keep their value). 0, or -1 with a sentence in err naming the file,
 * the line and the key (an unknown key or section, a bad value, a file
 * that cannot be read). */
int tp_web_config_load(tp_web_config *cfg, const char *path, char *err, size_t err_cap);

/* Sets one key as the file would ("listen", "max_upload_bytes", ...). 0, or
 * -1 with a sentence (without file and line) in err. */
int tp_web_config_set(tp_web_config *cfg, const char *key, const char *value, char *err,
                      size_t err_cap);

/* "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (= 127.0.0.1) into a
 * socket address; *loopback says whether it is a loopback address. 0, or
 * -1 with a sentence. Port 0 lets the kernel choose. */
int tp_web_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
                        int *loopback, char *err, size_t err_cap);

/* The checks of a whole configuration before start: the listen address
 * parses; TLS has both files or neither; a non-loopback address needs TLS
 * or allow_plain_http; limits are in range. 0, or -1 with a sentence. */
int tp_web_config_check(const tp_web_config *cfg, char *err, size_t err_cap);

/* ----------------------------------------------------------------- server */

typedef struct tp_web_formtab tp_web_formtab; /* web_forms.c */
typedef struct tp_web_jobtab tp_web_jobtab;   /* web_jobs.c */
struct MHD_Daemon;

typedef struct tp_web {
    tp_web_config cfg;
    int tls;
    int verbose;
    const char *config_path;         /* the store's config, or NULL (defaults) */
    tp_hostlib *h;
    const tp_plugin *p;
    const tp_admin_set *ad;
    const tp_ui_ext *ui;
    const tp_stats_ext *stats;
    const tp_scanners_ext *scanners; /* NULL when the plugin has none */
    tp_web_sessions sessions;
    unsigned char pre_key[TP_WEB_PRE_KEY_LEN]; /* signs the sign-in form's tokens */
    tp_web_formtab *forms;
    tp_web_jobtab *jobs;
    char tmpdir[TP_WEB_PATH_MAX];    /* private 0700 directory for uploads */
    struct MHD_Daemon *daemon;
} tp_web;

/* UTC ms now. */
int64_t tp_web_now_ms(void);

/* -------------------------------------------------------- request, response */

typedef struct tp_web_kv {
    char *name;
    char *value;
    size_t len;
} tp_web_kv;

#define TP_WEB_FIELDS_MAX 64

typedef struct tp_web_req {
    tp_web *w;
    void *conn;                /* struct MHD_Connection * */
    const char *method;
    const char *url;
    int is_post;
    char client[48];           /* the peer's address as text */
    /* the POST body's fields (urlencoded or multipart), not the file */
    tp_web_kv field[TP_WEB_FIELDS_MAX];
    size_t nfield;
    int body_bad;              /* unparseable or too many fields */
    /* a multipart file part, streamed to a private temp file */
    char upload_path[TP_WEB_PATH_MAX];
    int upload_fd;
    int has_file;
    /* the signed-in session, when there is one */
    int signed_in;
    tp_web_session sess;
} tp_web_req;

typedef struct tp_web_resp {
    unsigned status;
    tp_web_buf body;
    const char *content_type;  /* static string; NULL = text/html */
    char location[512];
    char cookie[2][256];
    int ncookie;
    char disposition[128];
    int fd;                    /* >= 0: serve this file instead of body */
    uint64_t fd_size;
    int is_static;             /* not a page: no Cache-Control: no-store */
} tp_web_resp;

/* A query argument or a POST field (NULL when absent). */
const char *tp_web_arg(tp_web_req *r, const char *name);
const char *tp_web_field(tp_web_req *r, const char *name);
/* A request header (NULL when absent). */
const char *tp_web_header(tp_web_req *r, const char *name);

/* web_http.c: starts the daemon (w->cfg, w->tls); writes the URL it
 * listens on to url. 0, or -1 with a sentence. */
int tp_web_http_start(tp_web *w, char *url, size_t url_cap, char *err, size_t err_cap);
void tp_web_http_stop(tp_web *w);

/* web_pages.c: answers one request (after the body is read). */
void tp_web_route(tp_web_req *r, tp_web_resp *out);
/* A whole error page with a sentence in p#error. */
void tp_web_error_page(tp_web_resp *out, unsigned status, const char *title,
                       const char *sentence, const char *csrf);

/* web_forms.c: the ui-form bridge. */
int tp_web_forms_init(tp_web *w);
void tp_web_forms_free(tp_web *w);
/* The main thread's end of the job pipe (poll it; then run the jobs). */
int tp_web_forms_fd(tp_web *w);
void tp_web_forms_run_jobs(tp_web *w);
/* host.c callbacks, on the main thread. */
void tp_web_on_present(void *user, const tp_form *form);
void tp_web_on_dismiss(void *user, uint64_t form_id, int32_t done, const char *result);
/* From a connection thread: opens `action` for the session's manager and
 * waits for its first presentation (answering `member` into its customer
 * field when given). 0 with *form_id; else an HTTP status and a sentence. */
unsigned tp_web_form_open(tp_web *w, const tp_web_session *s, const char *action,
                          const char *prefill, const char *member, uint64_t *form_id,
                          char *err, size_t err_cap);
/* GET /form/ID and POST /form/ID. */
void tp_web_form_page(tp_web_req *r, uint64_t form_id, tp_web_resp *out);
void tp_web_form_post(tp_web_req *r, uint64_t form_id, tp_web_resp *out);
/* Cancels the forms of a session that signed out (from any thread; the
 * main thread carries it out). */
void tp_web_forms_drop_session(tp_web *w, uint64_t owner);
/* Cancels every form still open at shutdown (main thread). */
void tp_web_forms_cancel_all(tp_web *w);

/* web_jobs.c: import and verify jobs. */
int tp_web_jobs_init(tp_web *w);
/* Joins every job thread, frees the table. */
void tp_web_jobs_free(tp_web *w);
enum { TP_WEB_JOB_IMPORT = 1, TP_WEB_JOB_VERIFY = 2 };
/* Starts a job; takes over `path` (the upload, removed when the job ends).
 * Returns the job id (> 0), or 0 with a sentence. */
uint64_t tp_web_job_start(tp_web *w, int kind, const char *manager, const char *path,
                          int dry_run, char *err, size_t err_cap);
/* The page of job `id` of `kind`; 0, or -1 when there is no such job. */
int tp_web_job_page(tp_web *w, int kind, uint64_t id, const char *csrf, tp_web_buf *b);

#endif
