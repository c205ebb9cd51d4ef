/*
 * stats.c -- the session statistics recorder (see stats.h): a writer
 * thread that inserts batches of records into data_dir/stats.db.
 *
 * The database handle is opened on the loop thread before the writer
 * starts and used only by the writer afterwards (SQLITE_OPEN_NOMUTEX is
 * then safe); stats_close() joins the writer before closing it.
 * Security: the records come from remote peers (domains, EHLO names); they
 * are sanitized in stats_rec_set() and only ever bound as SQL parameters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "ev/ev_batch.h"
#include "stats/stats.h"
#include "stats/stats_int.h"

#define PRUNE_EVERY_S 3600 /* the writer prunes at most this often */

struct stats_job {
	struct ev_batch_job link; /* first: ev_batch casts */
	struct stats_rec rec;
	bool failed;
	char error[160]; /* set by the writer when failed */
};

struct stats {
	sqlite3 *db;
	sqlite3_stmt *insert;
	struct ev_batch *batch;
	uint64_t retention_s;
	int64_t last_prune; /* writer thread only */
	size_t pending;     /* loop thread only */
	uint64_t dropped;   /* loop thread only */
	bool warned;        /* loop thread only: the drop warning was logged */
};

static _Thread_local char stats_err[4608];

static const char *
stats_error(const char *what, sqlite3 *db)
{
	snprintf(stats_err, sizeof(stats_err), "%s: %s", what,
	         db != NULL ? sqlite3_errmsg(db) : "out of memory");
	return stats_err;
}

void
stats_rec_set(char *dst, size_t size, const char *src, bool lower)
{
	size_t i = 0;

	for (; src != NULL && src[i] != '\0' && i + 1 < size; i++) {
		unsigned char ch = (unsigned char)src[i];

		if (ch <= 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
			ch = '?';
		else if (lower && ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		dst[i] = (char)ch;
	}
	if (size > 0)
		dst[i] = '\0';
}

/* ---- schema ---- */

static const char *const schema_sql =
        "CREATE TABLE sessions ("
        " ts INTEGER NOT NULL,"   /* unix seconds */
        " dir TEXT NOT NULL,"     /* in, out */
        " service TEXT NOT NULL," /* smtp, submission, submissions, relay */
        " domain TEXT NOT NULL,"
        " ip TEXT NOT NULL,"
        " tls INTEGER NOT NULL,"
        " tls_version TEXT NOT NULL,"
        " tls_cipher TEXT NOT NULL,"
        " peer_cert TEXT NOT NULL,"
        " new_session INTEGER NOT NULL," /* first record of a connection */
        " messages INTEGER NOT NULL,"
        " rcpts INTEGER NOT NULL);"
        "CREATE INDEX sessions_ts ON sessions(ts);"
        "PRAGMA user_version = 1;";

int
stats_schema(sqlite3 *db, const char **error_r)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = stats_error("stats.db", db);
		return -1;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (v < 0 || v > STATS_SCHEMA_VERSION) {
		*error_r = v < 0 ? stats_error("stats.db", db)
		                 : "stats.db: schema is newer than this hikyaku";
		goto fail;
	}
	if (v == 0 && sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = stats_error("stats.db", db);
		goto fail;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	*error_r = stats_error("stats.db", db);
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* ---- writer thread ---- */

/* stats_bind - one record into the prepared INSERT. */
static int
stats_bind(sqlite3_stmt *st, const struct stats_rec *r)
{
	int rc = SQLITE_OK;

	sqlite3_reset(st);
	rc |= sqlite3_bind_int64(st, 1, r->time);
	rc |= sqlite3_bind_text(st, 2, r->out ? "out" : "in", -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 3, r->service, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 4, r->domain, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 5, r->ip, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int(st, 6, r->tls);
	rc |= sqlite3_bind_text(st, 7, r->tls_version, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 8, r->tls_cipher, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 9, r->peer_cert, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int(st, 10, r->new_session);
	rc |= sqlite3_bind_int64(st, 11, r->messages);
	rc |= sqlite3_bind_int64(st, 12, r->rcpts);
	return rc == SQLITE_OK ? 0 : -1;
}

/* stats_prune - deletes what is older than the retention period. */
static int
stats_prune(struct stats *st, int64_t now)
{
	sqlite3_stmt *del;
	int rc;

	st->last_prune = now;
	if (st->retention_s == 0)
		return 0;
	if (sqlite3_prepare_v2(st->db, "DELETE FROM sessions WHERE ts < ?1", -1, &del, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_int64(del, 1, now - (int64_t)st->retention_s);
	rc = sqlite3_step(del);
	sqlite3_finalize(del);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* stats_fail - marks every job of a failed batch (they are all lost). */
static void
stats_fail(struct stats *st, struct ev_batch_job *list)
{
	struct stats_job *first = (struct stats_job *)list;

	snprintf(first->error, sizeof(first->error), "%s", sqlite3_errmsg(st->db));
	for (struct ev_batch_job *j = list; j != NULL; j = j->next)
		((struct stats_job *)j)->failed = true;
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* stats_run - ev_batch_fn on the writer: one transaction per batch. */
static void
stats_run(void *ctx, struct ev_batch_job *list)
{
	struct stats *st = ctx;
	int64_t now = (int64_t)time(NULL);

	if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		stats_fail(st, list);
		return;
	}
	for (struct ev_batch_job *j = list; j != NULL; j = j->next) {
		const struct stats_rec *r = &((struct stats_job *)j)->rec;

		if (stats_bind(st->insert, r) < 0 || sqlite3_step(st->insert) != SQLITE_DONE) {
			sqlite3_reset(st->insert);
			stats_fail(st, list);
			return;
		}
	}
	sqlite3_reset(st->insert);
	/* A failed prune costs nothing but disk: it is retried next time. */
	if (now - st->last_prune >= PRUNE_EVERY_S)
		(void)stats_prune(st, now);
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		stats_fail(st, list);
}

/* stats_complete - ev_batch_fn on the loop: free, count, report failures. */
static void
stats_complete(void *ctx, struct ev_batch_job *list)
{
	struct stats *st = ctx;
	size_t failed = 0;
	char errcopy[sizeof(((struct stats_job *)0)->error)] = "";

	/* Several batches may come back at once; each failed one carries its
	   reason in its first job. */
	while (list != NULL) {
		struct stats_job *j = (struct stats_job *)list;

		list = list->next;
		if (j->failed && j->error[0] != '\0' && errcopy[0] == '\0')
			memcpy(errcopy, j->error, sizeof(errcopy));
		failed += j->failed;
		st->pending--;
		free(j);
	}
	if (failed > 0) {
		st->dropped += failed;
		log_warnx("event=stats-error lost=%zu error=\"%s\"", failed, errcopy);
	}
}

/* ---- loop thread ---- */

static int
stats_db_open(struct stats *st, const char *data_dir, const char **error_r)
{
	char path[4096];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", data_dir, STATS_DB_NAME) >=
	    sizeof(path)) {
		*error_r = "data_dir: path too long";
		return -1;
	}
	if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
		*error_r = stats_error(path, st->db);
		return -1;
	}
	sqlite3_busy_timeout(st->db, 5000);
	/* NORMAL: in WAL mode a crash loses at most the last commits, never
	   the database; good enough for statistics (see stats.h). */
	if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
	                 NULL) != SQLITE_OK) {
		*error_r = stats_error(path, st->db);
		return -1;
	}
	if (stats_schema(st->db, error_r) < 0)
		return -1;
	if (sqlite3_prepare_v3(
	            st->db,
	            "INSERT INTO sessions (ts, dir, service, domain, ip, tls, tls_version,"
	            " tls_cipher, peer_cert, new_session, messages, rcpts)"
	            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	            -1, SQLITE_PREPARE_PERSISTENT, &st->insert, NULL) != SQLITE_OK) {
		*error_r = stats_error(path, st->db);
		return -1;
	}
	return 0;
}

struct stats *
stats_open(const char *data_dir, uv_loop_t *loop, uint64_t retention_s, const char **error_r)
{
	struct stats *st = xcalloc(1, sizeof(*st));

	st->retention_s = retention_s;
	if (stats_db_open(st, data_dir, error_r) < 0)
		goto fail;
	if (stats_prune(st, (int64_t)time(NULL)) < 0) {
		*error_r = stats_error("pruning", st->db);
		goto fail;
	}
	if ((st->batch = ev_batch_new(loop, stats_run, stats_complete, st)) == NULL) {
		*error_r = "cannot start the statistics writer thread";
		goto fail;
	}
	return st;
fail:
	sqlite3_finalize(st->insert);
	sqlite3_close(st->db);
	free(st);
	return NULL;
}

void
stats_record(struct stats *st, const struct stats_rec *r)
{
	struct stats_job *j;

	if (st == NULL)
		return;
	if (st->pending >= STATS_MAX_PENDING) {
		st->dropped++;
		if (!st->warned)
			log_warnx("event=stats-error error=\"writer behind: dropping records\"");
		st->warned = true;
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->rec = *r;
	if (j->rec.time == 0)
		j->rec.time = (int64_t)time(NULL);
	/* The caller may have filled the arrays without stats_rec_set(). */
	j->rec.service[sizeof(j->rec.service) - 1] = '\0';
	j->rec.domain[sizeof(j->rec.domain) - 1] = '\0';
	j->rec.ip[sizeof(j->rec.ip) - 1] = '\0';
	j->rec.tls_version[sizeof(j->rec.tls_version) - 1] = '\0';
	j->rec.tls_cipher[sizeof(j->rec.tls_cipher) - 1] = '\0';
	j->rec.peer_cert[sizeof(j->rec.peer_cert) - 1] = '\0';
	st->pending++;
	ev_batch_submit(st->batch, &j->link);
}

uint64_t
stats_dropped(const struct stats *st)
{
	return st != NULL ? st->dropped : 0;
}

void
stats_close(struct stats **stp)
{
	struct stats *st = *stp;

	if (st == NULL)
		return;
	ev_batch_free(&st->batch); /* writes and completes what is pending */
	sqlite3_finalize(st->insert);
	sqlite3_close(st->db);
	free(st);
	*stp = NULL;
}
