/*
 * secrets.c — the secret settings and the secrets file's rules (see
 * secrets.h).
 */
#include "secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pq.h"
#include "util.h"

/* Every secret setting, one line each. A setting listed here is accepted
 * in the secrets file and refused in a main configuration that others can
 * read. ([scan] token_public_key is a public key, not a secret.) */
static const struct {
    const char *section, *key;
} secret_keys[] = {
    {"sync", "password"},
    {"scan", "receipt_code_key"},
};

#define N_SECRET_KEYS (sizeof secret_keys / sizeof secret_keys[0])

int tp_secret_is_key(const char *section, const char *key)
{
    for (size_t i = 0; i < N_SECRET_KEYS; i++)
        if (strcmp(section, secret_keys[i].section) == 0 && strcmp(key, secret_keys[i].key) == 0)
            return 1;
    return 0;
}

void tp_secret_key_list(char *out, size_t cap)
{
    size_t used = 0;
    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < N_SECRET_KEYS && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s[%s] %s", i ? ", " : "",
                         secret_keys[i].section, secret_keys[i].key);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int tp_secret_file_is_shared(const struct stat *st)
{
    return (st->st_mode & (S_IRGRP | S_IROTH)) != 0;
}

tp_status tp_secret_file_check(const struct stat *st, const char *path, uid_t euid,
                               tp_message *msg)
{
    if (!S_ISREG(st->st_mode)) {
        tp_msg_set(msg, "The secrets file %s is not a regular file.", path);
        return TP_ERR_CONFIG;
    }
    /* Any group or other bit: readable (or writable) by someone else, or an
     * ACL granting someone (its mask shows in the group bits). */
    if (st->st_mode & (S_IRWXG | S_IRWXO)) {
        tp_msg_set(msg, "The secrets file %s can be used by users other than its owner (mode "
                   "%04o); make it readable by its owner only: chmod 600 %s.", path,
                   (unsigned)(st->st_mode & 07777), path);
        return TP_ERR_CONFIG;
    }
    if (euid != 0 && st->st_uid != euid && st->st_uid != 0) {
        tp_msg_set(msg, "The secrets file %s belongs to uid %ld, not to the user this program "
                   "runs as (uid %ld) or root; give it to that user (chown) or run as it.",
                   path, (long)st->st_uid, (long)euid);
        return TP_ERR_CONFIG;
    }
    return TP_OK;
}

int tp_secret_credential_path(char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (!dir || dir[0] != '/')
        return 0;
    int n = snprintf(out, cap, "%s/%s", dir, TP_SECRETS_CREDENTIAL);
    if (n < 0 || (size_t)n >= cap || access(out, F_OK) != 0) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    return 1;
}

/* Only libpq knows every spelling of a connection string (key=value,
 * URIs with a password in the user-info part or as a parameter, escapes),
 * so it alone parses it; it comes from the sync module, tillpoints-sync.so
 * (docs/DESIGN.md §14).
 *
 * Without the module the answer is 0, as for a string libpq cannot parse:
 * the configuration loads and the sync thread reports the missing module
 * (TP_SYNC_ERROR, logged and posted as a sync.state event) until it is
 * installed. Answering 1 would refuse every configuration with [sync]
 * postgres that its group can read — the packaged 0640 root:tillpoints
 * file — and so stop checkout for a missing library, naming a password
 * that may not be there. What 0 leaves open: a password already written
 * into a shared file goes unnamed while the module is missing; this
 * process cannot use it then (no libpq), and the first start with the
 * module refuses the file as usual. */
int tp_secret_conninfo_has_password(const char *conninfo)
{
    char why[TP_MESSAGE_MAX + 1];
    const tp_pq_api *pq = tp_pq(why, sizeof why);
    if (!pq)
        return 0;
    char *err = NULL;
    PQconninfoOption *opts = pq->conninfoParse(conninfo, &err);
    pq->freemem(err);
    if (!opts)
        return 0;
    int has = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
            has = 1;
    pq->conninfoFree(opts);
    return has;
}

static int is_uri(const char *s)
{
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

tp_status tp_secret_conninfo_add_password(char *conninfo, size_t cap, const char *password,
                                          tp_message *msg)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(conninfo);
    /* Room for the longest spelling: every byte percent-encoded. */
    size_t need = n + 16 + 3 * strlen(password) + 1;
    if (need > cap) {
        tp_msg_set(msg, "[sync] postgres and [sync] password together are too long (at most "
                   "%zu characters).", cap - 1);
        return TP_ERR_CONFIG;
    }
    char *w = conninfo + n;
    if (is_uri(conninfo)) {
        /* Query parameters come after the URI's own parts, so this one wins
         * over a password in the user-info part. */
        *w++ = strchr(conninfo, '?') ? '&' : '?';
        memcpy(w, "password=", 9);
        w += 9;
        for (const unsigned char *p = (const unsigned char *)password; *p; p++) {
            if (unreserved(*p)) {
                *w++ = (char)*p;
            } else {
                *w++ = '%';
                *w++ = hex[*p >> 4];
                *w++ = hex[*p & 15];
            }
        }
    } else {
        /* key=value: a later keyword replaces an earlier one. */
        if (n)
            *w++ = ' ';
        memcpy(w, "password='", 10);
        w += 10;
        for (const char *p = password; *p; p++) {
            if (*p == '\'' || *p == '\\')
                *w++ = '\\';
            *w++ = *p;
        }
        *w++ = '\'';
    }
    *w = '\0';
    return TP_OK;
}
