/*
 * secrets.h — which settings are secrets, and who may read the file that
 * holds them (docs/INTEGRATING.md "Secrets", tillpoints.conf(5)).
 *
 * The main configuration may be readable by a group (the package installs
 * it 0640 root:tillpoints); secrets live in a separate file that only the
 * user the plugin runs as can read, named by `[store] secrets = PATH`, or
 * passed by systemd as the credential `tillpoints-secrets`. The rules:
 *
 *  - the secrets file holds secret settings only (tp_secret_is_key), in
 *    the same INI syntax; anything else in it is refused;
 *  - it must be a regular file with no group or other permission bits, and
 *    owned by the user the plugin runs as or by root (a plugin running as
 *    root accepts any owner: root reads every file anyway);
 *  - a main configuration that its group or others can read must not hold
 *    a secret (a non-empty secret setting, or a password inside
 *    [sync] postgres): the plugin refuses to start and says where to move it.
 *
 * Pure functions, no state; libpq parses connection strings, through the
 * sync module's table (pq.h).
 */
#ifndef TP_SECRETS_H
#define TP_SECRETS_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "tillpoints/tillpoints.h"
#include "util.h" /* TP_MUST_CHECK */

/* The systemd credential that, when present in $CREDENTIALS_DIRECTORY,
 * is the secrets file (it takes the place of [store] secrets). */
#define TP_SECRETS_CREDENTIAL "tillpoints-secrets"

/* 1 when [section] key is a secret setting. The list is in secrets.c: one
 * line per secret. */
int tp_secret_is_key(const char *section, const char *key);

/* The list as text for messages, e.g. "[sync] password, [scan] ...",
 * cut to fit `cap`. */
void tp_secret_key_list(char *out, size_t cap);

/* Checks the secrets file's stat (from fstat of the opened file) for a
 * process running as `euid`. TP_OK, or TP_ERR_CONFIG with a sentence that
 * names `path`, what is wrong and the command that fixes it. */
tp_status tp_secret_file_check(const struct stat *st, const char *path, uid_t euid,
                               tp_message *msg) TP_MUST_CHECK;

/* 1 when a main configuration file with this stat can be read by users
 * other than its owner (group or other read bits). */
int tp_secret_file_is_shared(const struct stat *st);

/* The credential file when systemd passed one: writes
 * $CREDENTIALS_DIRECTORY/tillpoints-secrets into `out` and returns 1 when
 * that file exists; 0 otherwise (out is then ""). */
int tp_secret_credential_path(char *out, size_t cap) TP_MUST_CHECK;

/* 1 when the libpq connection string (key=value or postgresql:// URI)
 * carries a non-empty password. An unparsable string carries none here;
 * the connection reports it. So does any string while the sync module
 * (libpq) cannot be loaded; the sync then reports that (secrets.c says
 * why). */
int tp_secret_conninfo_has_password(const char *conninfo);

/* Adds `password` to the connection string in `conninfo` (capacity `cap`),
 * so that it overrides any password already there: a key=value string gets
 * password='...' appended (quotes and backslashes escaped), a URI gets a
 * percent-encoded password query parameter. TP_OK, or TP_ERR_CONFIG when
 * the result does not fit. */
tp_status tp_secret_conninfo_add_password(char *conninfo, size_t cap, const char *password,
                                          tp_message *msg) TP_MUST_CHECK;

#endif
