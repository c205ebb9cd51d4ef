/*
 * stats_report.c -- read-only queries over data_dir/stats.db for
 * `hikyaku report tls`, and the period parsers (see stats_report.h).
 *
 * The database is opened with SQLITE_OPEN_READONLY: in WAL mode a reader
 * never blocks the daemon's writer, and the CLI cannot damage the file.
 * Every query is bounded by the period (an index on ts) and by
 * STATS_REPORT_MAX_ROWS / STATS_REPORT_MAX_DAYS rows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/xalloc.h"
#include "stats/stats_int.h"
#include "stats/stats_report.h"

struct stats_report {
	sqlite3 *db;
	char errbuf[512];
};

/* The class of a row, as SQL (enum stats_class values). */
#define CLASS_SQL "CASE WHEN dir = 'out' THEN 2 WHEN service = 'smtp' THEN 0 ELSE 1 END"
/* The columns of struct stats_counts, in order. */
#define COUNTS_SQL                                                                                 \
	"SUM(new_session), SUM(new_session * tls), SUM(messages), SUM(messages * tls),"            \
	" SUM(CASE WHEN peer_cert = 'Verified' THEN messages ELSE 0 END), SUM(rcpts),"             \
	" SUM(rcpts * tls)"
#define PERIOD_SQL " WHERE ts >= ?1 AND ts < ?2 "
/* The share of stats_report_share(), as SQL, for ordering. */
#define SHARE_SQL                                                                                  \
	"(CASE WHEN SUM(messages) > 0 THEN 1.0 * SUM(messages * tls) / SUM(messages)"              \
	" ELSE 1.0 * SUM(new_session * tls) / MAX(SUM(new_session), 1) END)"

const char *
stats_class_name(enum stats_class c)
{
	static const char *const names[STATS_NCLASS] = {
	        [STATS_MX] = "in-mx", [STATS_SUBMISSION] = "in-submission", [STATS_OUT] = "out"};

	return (unsigned)c < STATS_NCLASS ? names[c] : "?";
}

double
stats_report_share(const struct stats_counts *c)
{
	if (c->messages > 0)
		return (double)c->tls_messages / (double)c->messages;
	if (c->sessions > 0)
		return (double)c->tls_sessions / (double)c->sessions;
	return -1;
}

static const char *
report_error(struct stats_report *r, const char *what)
{
	snprintf(r->errbuf, sizeof(r->errbuf), "%s: %s", what, sqlite3_errmsg(r->db));
	return r->errbuf;
}

int
stats_report_open(const char *data_dir, struct stats_report **r_r, const char **error_r)
{
	static _Thread_local char err[4200];
	struct stats_report *r;
	char path[4096];
	int v = -1;
	sqlite3_stmt *st;

	if ((size_t)snprintf(path, sizeof(path), "%s/stats.db", data_dir) >= sizeof(path)) {
		*error_r = "data_dir: path too long";
		return -1;
	}
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	r = xcalloc(1, sizeof(*r));
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(err, sizeof(err), "%s: %s", path,
		         r->db != NULL ? sqlite3_errmsg(r->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(r->db, 5000);
	if (sqlite3_prepare_v2(r->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (v != STATS_SCHEMA_VERSION) {
		snprintf(err, sizeof(err), "%s: %s", path,
		         v < 0    ? sqlite3_errmsg(r->db)
		         : v == 0 ? "not initialised yet"
		                  : "schema version not supported");
		goto fail;
	}
	*r_r = r;
	return 1;
fail:
	*error_r = err;
	stats_report_close(&r);
	return -1;
}

void
stats_report_close(struct stats_report **rp)
{
	struct stats_report *r = *rp;

	if (r == NULL)
		return;
	sqlite3_close(r->db);
	free(r);
	*rp = NULL;
}

/* report_prep - a query with the period bound as ?1 and ?2. */
static sqlite3_stmt *
report_prep(struct stats_report *r, const char *sql, const struct stats_period *p,
            const char **error_r)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
		*error_r = report_error(r, "stats.db");
		return NULL;
	}
	sqlite3_bind_int64(st, 1, p->from);
	sqlite3_bind_int64(st, 2, p->to);
	return st;
}

/* counts_get - struct stats_counts from columns col..col+6 (SUM() of no
   rows is NULL, which reads as 0). */
static void
counts_get(sqlite3_stmt *st, int col, struct stats_counts *c)
{
	uint64_t *f[] = {&c->sessions,          &c->tls_sessions, &c->messages, &c->tls_messages,
	                 &c->verified_messages, &c->rcpts,        &c->tls_rcpts};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		sqlite3_int64 v = sqlite3_column_int64(st, col + (int)i);

		*f[i] = v > 0 ? (uint64_t)v : 0;
	}
}

/* report_done - after the last sqlite3_step(): SQLITE_DONE or an error. */
static int
report_done(struct stats_report *r, sqlite3_stmt *st, int rc, const char **error_r)
{
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	*error_r = report_error(r, "stats.db");
	return -1;
}

int
stats_report_totals(struct stats_report *r, const struct stats_period *p,
                    struct stats_counts out[STATS_NCLASS], const char **error_r)
{
	sqlite3_stmt *st = report_prep(r,
	                               "SELECT " CLASS_SQL " AS cls, " COUNTS_SQL
	                               " FROM sessions" PERIOD_SQL "GROUP BY cls",
	                               p, error_r);
	int rc;

	memset(out, 0, STATS_NCLASS * sizeof(*out));
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int cls = sqlite3_column_int(st, 0);

		if (cls >= 0 && cls < STATS_NCLASS)
			counts_get(st, 1, &out[cls]);
	}
	return report_done(r, st, rc, error_r);
}

int
stats_report_domains(struct stats_report *r, const struct stats_period *p, enum stats_order order,
                     size_t limit, struct stats_domain **rows_r, size_t *n_r, const char **error_r)
{
	static const char *const sql[] = {
	        [STATS_BY_VOLUME] =
	                "SELECT " CLASS_SQL " AS cls, domain, " COUNTS_SQL
	                " FROM sessions" PERIOD_SQL "GROUP BY cls, domain"
	                " ORDER BY SUM(messages) DESC, SUM(new_session) DESC, cls, domain"
	                " LIMIT ?3",
	        [STATS_WEAKEST] = "SELECT " CLASS_SQL " AS cls, domain, " COUNTS_SQL
	                          " FROM sessions" PERIOD_SQL "GROUP BY cls, domain"
	                          " ORDER BY " SHARE_SQL " ASC, SUM(messages) DESC,"
	                          " SUM(new_session) DESC, cls, domain LIMIT ?3",
	};
	sqlite3_stmt *st = report_prep(r, sql[order == STATS_WEAKEST], p, error_r);
	struct stats_domain *rows = NULL;
	size_t n = 0;
	int rc;

	*rows_r = NULL;
	*n_r = 0;
	if (st == NULL)
		return -1;
	if (limit == 0 || limit > STATS_REPORT_MAX_ROWS)
		limit = STATS_REPORT_MAX_ROWS;
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
		const unsigned char *d = sqlite3_column_text(st, 1);

		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		memset(&rows[n], 0, sizeof(rows[n]));
		rows[n].cls = (enum stats_class)sqlite3_column_int(st, 0);
		snprintf(rows[n].domain, sizeof(rows[n].domain), "%s",
		         d != NULL ? (const char *)d : "");
		counts_get(st, 2, &rows[n].c);
		n++;
	}
	*rows_r = rows;
	*n_r = n;
	return report_done(r, st, rc, error_r);
}

int
stats_report_days(struct stats_report *r, const struct stats_period *p, struct stats_day **rows_r,
                  size_t *n_r, const char **error_r)
{
	sqlite3_stmt *st =
	        report_prep(r,
	                    "SELECT ts - ts % 86400 AS day, " CLASS_SQL " AS cls, " COUNTS_SQL
	                    " FROM sessions" PERIOD_SQL "GROUP BY day, cls ORDER BY day, cls",
	                    p, error_r);
	struct stats_day *rows = NULL;
	size_t n = 0;
	int rc;

	*rows_r = NULL;
	*n_r = 0;
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t day = sqlite3_column_int64(st, 0);
		int cls = sqlite3_column_int(st, 1);

		if (n == 0 || rows[n - 1].day != day) {
			if (n == STATS_REPORT_MAX_DAYS)
				break;
			rows = xrealloc(rows, (n + 1) * sizeof(*rows));
			memset(&rows[n], 0, sizeof(rows[n]));
			rows[n++].day = day;
		}
		if (cls >= 0 && cls < STATS_NCLASS)
			counts_get(st, 2, &rows[n - 1].c[cls]);
	}
	*rows_r = rows;
	*n_r = n;
	return report_done(r, st, rc, error_r);
}

int
stats_report_protocols(struct stats_report *r, const struct stats_period *p,
                       struct stats_proto **rows_r, size_t *n_r, const char **error_r)
{
	sqlite3_stmt *st = report_prep(r,
	                               "SELECT " CLASS_SQL " AS cls, tls_version,"
	                               " SUM(new_session), SUM(messages) FROM sessions" PERIOD_SQL
	                               "GROUP BY cls, tls_version ORDER BY cls, tls_version"
	                               " LIMIT 1000",
	                               p, error_r);
	struct stats_proto *rows = NULL;
	size_t n = 0;
	int rc;

	*rows_r = NULL;
	*n_r = 0;
	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 1);

		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		memset(&rows[n], 0, sizeof(rows[n]));
		rows[n].cls = (enum stats_class)sqlite3_column_int(st, 0);
		snprintf(rows[n].version, sizeof(rows[n].version), "%s",
		         v != NULL ? (const char *)v : "");
		rows[n].sessions = (uint64_t)sqlite3_column_int64(st, 2);
		rows[n].messages = (uint64_t)sqlite3_column_int64(st, 3);
		n++;
	}
	*rows_r = rows;
	*n_r = n;
	return report_done(r, st, rc, error_r);
}

/* ---- period parsers ---- */

/* parse_digits - exactly n ASCII digits at s; -1 otherwise. */
static int
parse_digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
stats_report_parse_duration(const char *s, int64_t *secs_r, const char **error_r)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', STATS_DAY}, {'w', 7 * STATS_DAY}};
	size_t n = 0;
	int64_t v = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		if (n >= 9) {
			*error_r = "duration too long";
			return -1;
		}
		v = v * 10 + (s[n++] - '0');
	}
	if (n == 0 || s[n] == '\0' || s[n + 1] != '\0') {
		*error_r = "not a duration: a number and one of s, m, h, d, w (e.g. 7d)";
		return -1;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (s[n] != units[i].unit)
			continue;
		if (v == 0 || v > STATS_MAX_DURATION / units[i].secs) {
			*error_r = v == 0 ? "duration must be positive" : "duration too long";
			return -1;
		}
		*secs_r = v * units[i].secs;
		return 0;
	}
	*error_r = "not a duration: the unit must be one of s, m, h, d, w (e.g. 7d)";
	return -1;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* parse_date - "YYYY-MM-DD" into tm; -1 if malformed or no such day. */
static int
parse_date(const char *s, struct tm *tm)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y = parse_digits(s, 4), m, d;

	if (y < 0 || s[4] != '-' || (m = parse_digits(s + 5, 2)) < 0 || s[7] != '-' ||
	    (d = parse_digits(s + 8, 2)) < 0)
		return -1;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && is_leap(y)))
		return -1;
	tm->tm_year = y - 1900;
	tm->tm_mon = m - 1;
	tm->tm_mday = d;
	return 0;
}

/* parse_clock - "HH:MM[:SS][Z]" into tm; -1 if malformed. */
static int
parse_clock(const char *s, struct tm *tm)
{
	int h = parse_digits(s, 2), mi = -1, sec = 0;
	size_t n = 5;

	if (h < 0 || s[2] != ':' || (mi = parse_digits(s + 3, 2)) < 0)
		return -1;
	if (s[5] == ':') {
		if ((sec = parse_digits(s + 6, 2)) < 0)
			return -1;
		n = 8;
	}
	if (s[n] == 'Z')
		n++;
	if (s[n] != '\0' || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm->tm_hour = h;
	tm->tm_min = mi;
	tm->tm_sec = sec;
	return 0;
}

int
stats_report_parse_time(const char *s, bool end_of_day, int64_t *t_r, const char **error_r)
{
	struct tm tm = {0};
	size_t len = strnlen(s, 32);
	time_t t;

	if (len < 10 || len > 20 || parse_date(s, &tm) < 0 ||
	    (len > 10 && (s[10] != 'T' || parse_clock(s + 11, &tm) < 0))) {
		*error_r = "not a date: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z (UTC)";
		return -1;
	}
	if ((t = timegm(&tm)) == (time_t)-1) {
		*error_r = "date out of range";
		return -1;
	}
	*t_r = (int64_t)t + (len == 10 && end_of_day ? STATS_DAY : 0);
	return 0;
}
