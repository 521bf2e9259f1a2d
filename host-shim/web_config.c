/*
 * web_config.c — the configuration of tillpoints-web (docs/DESIGN.md §15):
 * the [web] section of its INI file, the listen address, and the checks a
 * configuration passes before the server starts.
 *
 * Guarantees: an unknown section or key is refused with a sentence naming
 * the file, the line and the key (a typo never silently leaves a default
 * in force); listening beyond loopback without TLS is refused unless the
 * configuration says allow_plain_http. Pure apart from reading the file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

void tp_web_config_defaults(tp_web_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen, sizeof cfg->listen, "%s", TP_WEB_DEFAULT_LISTEN);
    cfg->session_idle_seconds = 900;
    cfg->max_upload_bytes = 16777216;
    cfg->max_connections = 256;
    snprintf(cfg->assets, sizeof cfg->assets, "%s", TP_WEB_DEFAULT_ASSETS);
    snprintf(cfg->chartjs, sizeof cfg->chartjs, "%s", TP_WEB_DEFAULT_CHARTJS);
}

static int set_string(char *dst, size_t cap, const char *key, const char *value, char *err,
                      size_t err_cap)
{
    if (strlen(value) >= cap) {
        snprintf(err, err_cap, "the value of %s is longer than %zu bytes", key, cap - 1);
        return -1;
    }
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

static int set_number(long long *dst, long long lo, long long hi, const char *key,
                      const char *value, char *err, size_t err_cap)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < lo || v > hi) {
        snprintf(err, err_cap, "%s must be a whole number from %lld to %lld, not \"%s\"", key,
                 lo, hi, value);
        return -1;
    }
    *dst = v;
    return 0;
}

int tp_web_config_set(tp_web_config *cfg, const char *key, const char *value, char *err,
                      size_t err_cap)
{
    long long n = 0;
    if (strcmp(key, "listen") == 0)
        return set_string(cfg->listen, sizeof cfg->listen, key, value, err, err_cap);
    if (strcmp(key, "tls_cert") == 0)
        return set_string(cfg->tls_cert, sizeof cfg->tls_cert, key, value, err, err_cap);
    if (strcmp(key, "tls_key") == 0)
        return set_string(cfg->tls_key, sizeof cfg->tls_key, key, value, err, err_cap);
    if (strcmp(key, "assets") == 0)
        return set_string(cfg->assets, sizeof cfg->assets, key, value, err, err_cap);
    if (strcmp(key, "chartjs") == 0)
        return set_string(cfg->chartjs, sizeof cfg->chartjs, key, value, err, err_cap);
    if (strcmp(key, "allow_plain_http") == 0) {
        if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1"))
            cfg->allow_plain_http = 1;
        else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
            cfg->allow_plain_http = 0;
        else {
            snprintf(err, err_cap, "allow_plain_http must be yes or no, not \"%s\"", value);
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "session_idle_seconds") == 0) {
        if (set_number(&n, 1, 86400LL * 7, key, value, err, err_cap) != 0)
            return -1;
        cfg->session_idle_seconds = (long)n;
        return 0;
    }
    if (strcmp(key, "max_upload_bytes") == 0) {
        if (set_number(&n, 1, 1LL << 32, key, value, err, err_cap) != 0)
            return -1;
        cfg->max_upload_bytes = n;
        return 0;
    }
    if (strcmp(key, "max_connections") == 0) {
        if (set_number(&n, 1, 10000, key, value, err, err_cap) != 0)
            return -1;
        cfg->max_connections = (long)n;
        return 0;
    }
    snprintf(err, err_cap,
             "unknown key \"%s\" (the [web] keys are listen, tls_cert, tls_key, "
             "allow_plain_http, session_idle_seconds, max_upload_bytes, max_connections, "
             "assets, chartjs)",
             key);
    return -1;
}

typedef struct ini_ctx {
    tp_web_config *cfg;
    char why[400];
} ini_ctx;

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *c = user;
    if (strcmp(section, "web") != 0) {
        snprintf(c->why, sizeof c->why,
                 "key \"%s\" is in section [%s]; this file has only a [web] section", name,
                 section);
        return 0;
    }
    return tp_web_config_set(c->cfg, name, value, c->why, sizeof c->why) == 0;
}

int tp_web_config_load(tp_web_config *cfg, const char *path, char *err, size_t err_cap)
{
    ini_ctx c = {.cfg = cfg};
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_cap, "Cannot read the web configuration %s: %s.", path,
                 strerror(errno));
        return -1;
    }
    int line = ini_parse_file(f, on_ini, &c);
    fclose(f);
    if (line == 0)
        return 0;
    if (c.why[0])
        snprintf(err, err_cap, "%s, line %d: %s.", path, line, c.why);
    else
        snprintf(err, err_cap, "%s, line %d: this is not an INI line (key = value, or [web]).",
                 path, line);
    return -1;
}

int tp_web_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
                        int *loopback, char *err, size_t err_cap)
{
    char host[128];
    const char *port_s;
    memset(addr, 0, sizeof *addr);
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host) {
            snprintf(err, err_cap,
                     "The listen address \"%s\" is not ADDRESS:PORT (an IPv6 address in "
                     "brackets: [::1]:8080).",
                     text);
            return -1;
        }
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_s = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || colon == text || (size_t)(colon - text) >= sizeof host ||
            memchr(text, ':', (size_t)(colon - text))) {
            snprintf(err, err_cap,
                     "The listen address \"%s\" is not ADDRESS:PORT (e.g. 127.0.0.1:8080, "
                     "[::1]:8080).",
                     text);
            return -1;
        }
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_s = colon + 1;
    }
    char *end = NULL;
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || errno || *end || port < 0 || port > 65535) {
        snprintf(err, err_cap, "The port in the listen address \"%s\" is not 0 to 65535.", text);
        return -1;
    }
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
        return 0;
    }
    snprintf(err, err_cap,
             "The listen address \"%s\" does not start with an IP address (e.g. 127.0.0.1, "
             "[::1], 0.0.0.0).",
             text);
    return -1;
}

int tp_web_config_check(const tp_web_config *cfg, char *err, size_t err_cap)
{
    struct sockaddr_storage a;
    socklen_t len;
    int loopback = 0;
    if (tp_web_parse_listen(cfg->listen, &a, &len, &loopback, err, err_cap) != 0)
        return -1;
    if (!!cfg->tls_cert[0] != !!cfg->tls_key[0]) {
        snprintf(err, err_cap, "TLS needs both tls_cert and tls_key (--tls-cert and --tls-key); "
                               "only one of them is set.");
        return -1;
    }
    if (!loopback && !cfg->tls_cert[0] && !cfg->allow_plain_http) {
        snprintf(err, err_cap,
                 "Refusing to listen on %s without TLS: PINs and session cookies would cross "
                 "the network in plain text. Set tls_cert and tls_key (--tls-cert, --tls-key), "
                 "or allow_plain_http = yes (--allow-plain-http) behind a TLS proxy.",
                 cfg->listen);
        return -1;
    }
    return 0;
}
