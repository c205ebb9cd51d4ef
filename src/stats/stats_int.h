/*
 * stats_int.h -- shared by the recorder (stats.c) and the queries
 * (stats_report.c): the schema of data_dir/stats.db.
 */
#ifndef HIKYAKU_STATS_STATS_INT_H
#define HIKYAKU_STATS_STATS_INT_H

#include <sqlite3.h>

#define STATS_SCHEMA_VERSION 1

/* Creates the schema on a fresh database; refuses one from a newer
   hikyaku. Returns 0, or -1 with *error_r (thread-local text). */
int stats_schema(sqlite3 *db, const char **error_r);

#endif
