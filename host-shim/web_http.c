/*
 * web_http.c — the libmicrohttpd glue of tillpoints-web (docs/DESIGN.md
 * §15): the daemon, one state per request, the query and the body (urlencoded
 * or multipart, through MHD's post processor), the upload limit, and every
 * response with the security headers.
 *
 * Guarantees:
 *  - a body above max_upload_bytes is answered 413 and nothing is done
 *    with it: refused up front from Content-Length, and counted as it
 *    arrives for a chunked body (dropped, never parsed);
 *  - a multipart file part is streamed into a 0600 file inside the
 *    server's private 0700 directory; whatever happens to the request, the
 *    file is removed unless a job took it over;
 *  - every response carries the Content-Security-Policy, nosniff and
 *    Referrer-Policy headers; every page Cache-Control: no-store;
 *  - a request never outlives the daemon: MHD_stop_daemon joins the
 *    connection threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web.h"

#define CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
#define FIELD_VALUE_CAP (1u << 20) /* one form field (the bulk list is the longest) */

typedef struct conn_state {
    tp_web_req req;
    struct MHD_PostProcessor *pp;
    uint64_t body_bytes;
    int too_big;
    int answered; /* a response was queued at the first call */
} conn_state;

const char *tp_web_arg(tp_web_req *r, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)r->conn, MHD_GET_ARGUMENT_KIND,
                                       name);
}

const char *tp_web_field(tp_web_req *r, const char *name)
{
    for (size_t i = 0; i < r->nfield; i++)
        if (strcmp(r->field[i].name, name) == 0)
            return r->field[i].value;
    return NULL;
}

const char *tp_web_header(tp_web_req *r, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)r->conn, MHD_HEADER_KIND, name);
}

static void add_headers(struct MHD_Response *resp, const tp_web_resp *out)
{
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Cache-Control", out->is_static ? "no-cache" : "no-store");
    MHD_add_response_header(resp, "Content-Type",
                            out->content_type ? out->content_type : "text/html; charset=utf-8");
    if (out->location[0])
        MHD_add_response_header(resp, "Location", out->location);
    for (int i = 0; i < out->ncookie; i++)
        MHD_add_response_header(resp, "Set-Cookie", out->cookie[i]);
    if (out->disposition[0])
        MHD_add_response_header(resp, "Content-Disposition", out->disposition);
}

/* Queues `out` (and frees what it holds). */
static enum MHD_Result send_resp(struct MHD_Connection *c, tp_web_resp *out)
{
    struct MHD_Response *resp;
    if (out->fd >= 0) {
        resp = MHD_create_response_from_fd(out->fd_size, out->fd);
        if (!resp)
            close(out->fd);
        out->fd = -1;
        tp_web_buf_free(&out->body);
    } else {
        if (out->body.failed) {
            tp_web_buf_free(&out->body);
            out->status = 500;
            tp_web_buf_puts(&out->body, "<!DOCTYPE html><title>Error</title><p>Out of memory.</p>");
        }
        size_t len = 0;
        char *data = tp_web_buf_take(&out->body, &len);
        resp = MHD_create_response_from_buffer(len, data ? data : (void *)"",
                                               data ? MHD_RESPMEM_MUST_FREE
                                                    : MHD_RESPMEM_PERSISTENT);
        if (!resp)
            free(data);
    }
    if (!resp)
        return MHD_NO;
    add_headers(resp, out);
    enum MHD_Result rc = MHD_queue_response(c, out->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void resp_init(tp_web_resp *out)
{
    memset(out, 0, sizeof *out);
    tp_web_buf_init(&out->body);
    out->status = 200;
    out->fd = -1;
}

static void upload_discard(tp_web_req *r)
{
    if (r->upload_fd >= 0) {
        close(r->upload_fd);
        r->upload_fd = -1;
    }
    if (r->upload_path[0]) {
        unlink(r->upload_path);
        r->upload_path[0] = '\0';
    }
}

/* Adds field `key` (off 0) or the next piece of its value (off > 0: the
 * post processor hands long values over in pieces). */
static int field_append(tp_web_req *r, const char *key, uint64_t off, const char *data,
                        size_t size)
{
    tp_web_kv *kv = NULL;
    if (off > 0 && r->nfield && strcmp(r->field[r->nfield - 1].name, key) == 0)
        kv = &r->field[r->nfield - 1];
    if (!kv) {
        if (r->nfield >= TP_WEB_FIELDS_MAX)
            return -1;
        kv = &r->field[r->nfield];
        kv->name = strdup(key);
        kv->value = calloc(1, 1);
        kv->len = 0;
        if (!kv->name || !kv->value) {
            free(kv->name);
            free(kv->value);
            kv->name = kv->value = NULL;
            return -1;
        }
        r->nfield++;
    }
    if (size == 0)
        return 0;
    if (kv->len + size > FIELD_VALUE_CAP)
        return -1;
    char *v = realloc(kv->value, kv->len + size + 1);
    if (!v)
        return -1;
    memcpy(v + kv->len, data, size);
    kv->len += size;
    v[kv->len] = '\0';
    kv->value = v;
    return 0;
}

static enum MHD_Result on_post_data(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data,
                                    uint64_t off, size_t size)
{
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    tp_web_req *r = cls;
    if (!key)
        return MHD_YES;
    if (filename && strcmp(key, "file") == 0) {
        if (r->upload_fd < 0 && !r->has_file) {
            if (snprintf(r->upload_path, sizeof r->upload_path, "%s/upload-XXXXXX",
                         r->w->tmpdir) >= (int)sizeof r->upload_path)
                return MHD_NO;
            r->upload_fd = mkstemp(r->upload_path); /* 0600 */
            if (r->upload_fd < 0) {
                r->upload_path[0] = '\0';
                r->body_bad = 1;
                return MHD_NO;
            }
            r->has_file = 1;
        }
        if (r->upload_fd < 0)
            return MHD_YES; /* a second file part: ignored */
        while (size > 0) {
            ssize_t n = write(r->upload_fd, data, size);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                r->body_bad = 1;
                return MHD_NO;
            }
            data += n;
            size -= (size_t)n;
        }
        return MHD_YES;
    }
    if (field_append(r, key, off, data, size) != 0) {
        r->body_bad = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

static void client_text(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)cap);
}

static enum MHD_Result reject(struct MHD_Connection *c, unsigned status, const char *title,
                              const char *sentence)
{
    tp_web_resp out;
    resp_init(&out);
    tp_web_error_page(&out, status, title, sentence, NULL);
    return send_resp(c, &out);
}

static const char too_big_sentence[] =
    "The upload is larger than this server accepts (max_upload_bytes); nothing was imported. "
    "Split the file, or ask the administrator to raise the limit.";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    tp_web *w = cls;
    conn_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        st->req.w = w;
        st->req.conn = c;
        st->req.method = method;
        st->req.url = url;
        st->req.upload_fd = -1;
        st->req.is_post = strcmp(method, "POST") == 0;
        client_text(c, st->req.client, sizeof st->req.client);
        if (st->req.is_post) {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            if (cl && strtoull(cl, NULL, 10) > (unsigned long long)w->cfg.max_upload_bytes) {
                st->answered = 1;
                return reject(c, 413, "Upload too large", too_big_sentence);
            }
            const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
            if (ct && (strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 ||
                       strncasecmp(ct, "multipart/form-data", 19) == 0))
                st->pp = MHD_create_post_processor(c, (size_t)16 * 1024, on_post_data, &st->req);
            if (!st->pp)
                st->req.body_bad = 1; /* no body, or not a form: the page says so */
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->answered)
            return MHD_YES;
        st->body_bytes += n;
        if (st->body_bytes > (uint64_t)w->cfg.max_upload_bytes) {
            st->too_big = 1;
            upload_discard(&st->req);
            /* a client that goes on sending far beyond the limit is cut off */
            return st->body_bytes > 4 * (uint64_t)w->cfg.max_upload_bytes ? MHD_NO : MHD_YES;
        }
        if (st->pp && !st->req.body_bad && MHD_post_process(st->pp, upload_data, n) != MHD_YES)
            st->req.body_bad = 1;
        return MHD_YES;
    }
    if (st->answered)
        return MHD_YES;
    st->answered = 1;
    if (st->too_big)
        return reject(c, 413, "Upload too large", too_big_sentence);
    if (st->req.upload_fd >= 0) {
        close(st->req.upload_fd);
        st->req.upload_fd = -1;
    }
    tp_web_resp out;
    resp_init(&out);
    tp_web_route(&st->req, &out);
    return send_resp(c, &out);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    conn_state *st = *con_cls;
    if (!st)
        return;
    if (st->pp)
        MHD_destroy_post_processor(st->pp);
    upload_discard(&st->req);
    for (size_t i = 0; i < st->req.nfield; i++) {
        tp_web_kv *kv = &st->req.field[i];
        if (kv->value)
            explicit_bzero(kv->value, kv->len); /* PINs among them */
        free(kv->name);
        free(kv->value);
    }
    explicit_bzero(&st->req.sess, sizeof st->req.sess);
    free(st);
    *con_cls = NULL;
}

static char *read_file(const char *path, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_cap, "Cannot read %s: %s.", path, strerror(errno));
        return NULL;
    }
    tp_web_buf b;
    tp_web_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        tp_web_buf_put(&b, chunk, n);
    fclose(f);
    if (b.failed || !b.data) {
        snprintf(err, err_cap, "Cannot read %s: it is empty or memory ran out.", path);
        tp_web_buf_free(&b);
        return NULL;
    }
    return tp_web_buf_take(&b, NULL);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    tp_web *w = cls;
    if (!w->verbose)
        return;
    fputs("tillpoints-web: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int tp_web_http_start(tp_web *w, char *url, size_t url_cap, char *err, size_t err_cap)
{
    struct sockaddr_storage addr;
    socklen_t alen;
    int loopback;
    if (tp_web_parse_listen(w->cfg.listen, &addr, &alen, &loopback, err, err_cap) != 0)
        return -1;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    char *cert = NULL, *key = NULL;
    if (w->cfg.tls_cert[0]) {
        if (!(cert = read_file(w->cfg.tls_cert, err, err_cap)) ||
            !(key = read_file(w->cfg.tls_key, err, err_cap))) {
            free(cert);
            return -1;
        }
        flags |= MHD_USE_TLS;
        w->tls = 1;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    if (!cert)
        tls_opts[0].option = MHD_OPTION_END;
    w->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)w->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, w, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (cert) {
        explicit_bzero(key, strlen(key));
        free(cert);
        free(key);
    }
    if (!w->daemon) {
        snprintf(err, err_cap,
                 "Cannot listen on %s: the address is in use, not on this machine, or the "
                 "TLS certificate and key do not match.",
                 w->cfg.listen);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    unsigned port = 0;
    if (di && getsockname(di->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        port = bound.ss_family == AF_INET6
                   ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                   : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    char host[INET6_ADDRSTRLEN];
    if (addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, host, sizeof host);
        snprintf(url, url_cap, "%s://[%s]:%u/", w->tls ? "https" : "http", host, port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof host);
        snprintf(url, url_cap, "%s://%s:%u/", w->tls ? "https" : "http", host, port);
    }
    return 0;
}

void tp_web_http_stop(tp_web *w)
{
    if (w->daemon) {
        MHD_stop_daemon(w->daemon);
        w->daemon = NULL;
    }
}
