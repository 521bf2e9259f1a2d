/*
 * pq.h — the libpq calls the plugin makes, as a table filled in by the sync
 * module, tillpoints-sync.so (plugin/pq.c; docs/DESIGN.md §14). The core
 * plugin never links libpq: sync.c and secrets.c call through this table,
 * which tp_pq() loads on first use. The types and constants come from
 * libpq-fe.h (a header only; nothing of libpq is linked into the core).
 *
 * Each member has the signature of the libpq function it is named after
 * (connectdbParams is PQconnectdbParams); the module assigns the real
 * functions, so the compiler checks every signature.
 */
#ifndef TP_PQ_H
#define TP_PQ_H

#include <stddef.h>

#include <libpq-fe.h>

typedef struct tp_pq_api {
    PGconn *(*connectdbParams)(const char *const *keywords, const char *const *values,
                               int expand_dbname);
    PGconn *(*connectStartParams)(const char *const *keywords, const char *const *values,
                                  int expand_dbname);
    PostgresPollingStatusType (*connectPoll)(PGconn *conn);
    ConnStatusType (*status)(const PGconn *conn);
    char *(*errorMessage)(const PGconn *conn);
    int (*socket)(const PGconn *conn);
    int (*setnonblocking)(PGconn *conn, int arg);
    int (*flush)(PGconn *conn);
    int (*consumeInput)(PGconn *conn);
    int (*isBusy)(PGconn *conn);
    int (*sendQuery)(PGconn *conn, const char *query);
    int (*sendQueryParams)(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                           const char *const *paramValues, const int *paramLengths,
                           const int *paramFormats, int resultFormat);
    PGresult *(*getResult)(PGconn *conn);
    PGresult *(*exec)(PGconn *conn, const char *query);
    PGresult *(*execParams)(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                            const char *const *paramValues, const int *paramLengths,
                            const int *paramFormats, int resultFormat);
    ExecStatusType (*resultStatus)(const PGresult *res);
    char *(*resultErrorMessage)(const PGresult *res);
    char *(*resultErrorField)(const PGresult *res, int fieldcode);
    int (*ntuples)(const PGresult *res);
    char *(*getvalue)(const PGresult *res, int tup_num, int field_num);
    int (*getisnull)(const PGresult *res, int tup_num, int field_num);
    void (*clear)(PGresult *res);
    void (*finish)(PGconn *conn);
    PQconninfoOption *(*conninfoParse)(const char *conninfo, char **errmsg);
    void (*conninfoFree)(PQconninfoOption *connOptions);
    void (*freemem)(void *ptr);
} tp_pq_api;

/* [thread-safe] The libpq table, loading tillpoints-sync.so on first use;
 * NULL with a sentence in `why` when the module or libpq is missing. */
const tp_pq_api *tp_pq(char *why, size_t why_cap);

#endif
