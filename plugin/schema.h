/*
 * schema.h — every table, index and trigger of tillpoints, in one place:
 * the migrations of the terminal's SQLite database (store.c applies them,
 * verify.c compares a database with them) and of the central PostgreSQL
 * database (sync.c's central init). docs/DESIGN.md §4 and §8.
 */
#ifndef TP_SCHEMA_H
#define TP_SCHEMA_H

#include "tillpoints/limits.h"

/* A limit as SQL text, for CHECK constraints and verify's queries:
 * TP_SQL_INT(TP_NAME_MAX) is "128". */
#define TP_SQL_INT_(x) #x
#define TP_SQL_INT(x) TP_SQL_INT_(x)

/* tp_schema_migrations[i] takes the local database (PRAGMA user_version)
 * from version i to i + 1; TP_SCHEMA_VERSION is the version this build
 * creates. */
#define TP_SCHEMA_VERSION 8
extern const char *const tp_schema_migrations[TP_SCHEMA_VERSION];

/* tp_central_migrations[i] takes the central schema (its schema_version
 * table) from version i to i + 1. */
#define TP_CENTRAL_VERSION 3
extern const char *const tp_central_migrations[TP_CENTRAL_VERSION];

#endif /* TP_SCHEMA_H */
