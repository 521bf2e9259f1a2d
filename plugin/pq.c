/*
 * pq.c — the sync module, tillpoints-sync.so: libpq's functions in the
 * table the core calls through (pq.h, docs/DESIGN.md §14). Nothing else
 * lives here, so the module is the only object of the plugin that links
 * libpq.
 */
#include "pq.h"

#include "module.h"

static const tp_pq_api pq_api = {
    .connectdbParams = PQconnectdbParams,
    .connectStartParams = PQconnectStartParams,
    .connectPoll = PQconnectPoll,
    .status = PQstatus,
    .errorMessage = PQerrorMessage,
    .socket = PQsocket,
    .setnonblocking = PQsetnonblocking,
    .flush = PQflush,
    .consumeInput = PQconsumeInput,
    .isBusy = PQisBusy,
    .sendQuery = PQsendQuery,
    .sendQueryParams = PQsendQueryParams,
    .getResult = PQgetResult,
    .exec = PQexec,
    .execParams = PQexecParams,
    .resultStatus = PQresultStatus,
    .resultErrorMessage = PQresultErrorMessage,
    .resultErrorField = PQresultErrorField,
    .ntuples = PQntuples,
    .getvalue = PQgetvalue,
    .getisnull = PQgetisnull,
    .clear = PQclear,
    .finish = PQfinish,
    .conninfoParse = PQconninfoParse,
    .conninfoFree = PQconninfoFree,
    .freemem = PQfreemem,
};

TP_MODULE_DEFINE(sync, &pq_api);
