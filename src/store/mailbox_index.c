/*
 * mailbox_index.c -- the per-account SQLite index (index.db): schema, open,
 * transactions, and the reads that load a folder into memory.
 *
 * index.db is the authority for IMAP state (UIDVALIDITY, UIDNEXT, UIDs,
 * flags, keywords, MODSEQ). WAL; changes that a reply depends on commit
 * with synchronous=FULL, cache puts and clean-ups with NORMAL (a later FULL
 * commit makes them durable too; losing them costs only a rebuild).
 * Tables: folders, messages (file = the name in cur/), keywords, cache,
 * doomed (files whose index rows are gone or not yet made: a file listed
 * there is deleted, never picked up, see mailbox_sync.c), renames (folder
 * directory renames to finish after a crash).
 * Threads: the writer connection is used by one job at a time (pool
 * threads in turn); a second, read-only connection serves the loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "store/mailbox_int.h"

#define INDEX_VERSION 1

static const char *const index_schema =
        "CREATE TABLE folders (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
        " uidvalidity INTEGER NOT NULL, uidnext INTEGER NOT NULL,"
        " highestmodseq INTEGER NOT NULL, subscribed INTEGER NOT NULL DEFAULT 0,"
        " special INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE messages (folder INTEGER NOT NULL, uid INTEGER NOT NULL,"
        " file TEXT NOT NULL, flags INTEGER NOT NULL, keywords INTEGER NOT NULL,"
        " modseq INTEGER NOT NULL, internaldate INTEGER NOT NULL, tz INTEGER NOT NULL,"
        " size INTEGER NOT NULL, PRIMARY KEY (folder, uid)) WITHOUT ROWID;"
        "CREATE UNIQUE INDEX messages_file ON messages(folder, file);"
        "CREATE TABLE keywords (folder INTEGER NOT NULL, idx INTEGER NOT NULL,"
        " name TEXT NOT NULL, PRIMARY KEY (folder, idx)) WITHOUT ROWID;"
        "CREATE TABLE cache (folder INTEGER NOT NULL, uid INTEGER NOT NULL,"
        " field TEXT NOT NULL, value TEXT NOT NULL,"
        " PRIMARY KEY (folder, uid, field)) WITHOUT ROWID;"
        "CREATE TABLE doomed (folder INTEGER NOT NULL, file TEXT NOT NULL,"
        " PRIMARY KEY (folder, file)) WITHOUT ROWID;"
        "CREATE TABLE renames (seq INTEGER PRIMARY KEY, old TEXT NOT NULL, new TEXT NOT NULL);"
        "PRAGMA user_version = 1;";

int
mbx_db_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int
mbx_db_begin(sqlite3 *db)
{
	/* The level holds for the commits that follow; it cannot change
	   inside a transaction. */
	return mbx_db_exec(db, "PRAGMA synchronous=FULL; BEGIN IMMEDIATE");
}

int
mbx_db_begin_lazy(sqlite3 *db)
{
	return mbx_db_exec(db, "PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE");
}

int
mbx_db_commit(sqlite3 *db)
{
	if (mbx_db_exec(db, "COMMIT") == 0)
		return 0;
	mbx_db_rollback(db);
	return -1;
}

void
mbx_db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *
mbx_db_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

/* Creates the schema on a fresh file; refuses a newer one. */
static int
index_schema_init(sqlite3 *db, char *err, size_t errsize)
{
	sqlite3_stmt *st;
	int v = -1;

	if (mbx_db_begin(db) < 0)
		goto fail;
	if ((st = mbx_db_prep(db, "PRAGMA user_version")) != NULL) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (v < 0 || v > INDEX_VERSION) {
		snprintf(err, errsize, "index.db: schema version %d not supported", v);
		mbx_db_rollback(db);
		return -1;
	}
	if (v == 0 && mbx_db_exec(db, index_schema) < 0)
		goto fail;
	if (mbx_db_commit(db) == 0)
		return 0;
fail:
	snprintf(err, errsize, "index.db: %s", sqlite3_errmsg(db));
	mbx_db_rollback(db);
	return -1;
}

sqlite3 *
mbx_index_open(const char *dir, bool readonly, char *err, size_t errsize)
{
	char path[MBX_PATH];
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_NOMUTEX |
	            (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);

	mbx_path(path, sizeof(path), "%s/index.db", dir);
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errsize, "%s: %s", path,
		         db != NULL ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	if (readonly)
		return db;
	if (mbx_db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL") < 0) {
		snprintf(err, errsize, "%s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	if (index_schema_init(db, err, errsize) < 0) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* ---- UIDVALIDITY ---- */

/*
 * RFC 9051 2.3.1.1: a new UIDVALIDITY must be greater than any earlier one
 * of that name. Time-based values are, except after a rebuild within the
 * same second; so the last value handed out is kept in dir/uidvalidity
 * (outside index.db, which a reindex may replace).
 */
uint32_t
mbx_uidvalidity_next(const char *dir)
{
	char path[MBX_PATH], buf[32] = "";
	unsigned long last = 0;
	uint32_t v = (uint32_t)time(NULL);
	ssize_t n;
	int fd;

	mbx_path(path, sizeof(path), "%s/uidvalidity", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return v;
	if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		last = strtoul(buf, NULL, 10);
	}
	if (last >= v && last < UINT32_MAX)
		v = (uint32_t)last + 1;
	n = snprintf(buf, sizeof(buf), "%u\n", v);
	if (pwrite(fd, buf, (size_t)n, 0) == n && ftruncate(fd, n) == 0)
		(void)fdatasync(fd);
	close(fd);
	return v;
}

int
mbx_index_folder_add(sqlite3 *db, const char *udir, const char *name, unsigned special,
                     int64_t *id_r)
{
	sqlite3_stmt *st =
	        mbx_db_prep(db, "INSERT OR IGNORE INTO folders(name, uidvalidity,"
	                        " uidnext, highestmodseq, special) VALUES (?1,?2,1,1,?3)");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, mbx_uidvalidity_next(udir));
	sqlite3_bind_int(st, 3, (int)special);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (sqlite3_changes(db) == 0)
		return 0;
	*id_r = sqlite3_last_insert_rowid(db);
	return 1;
}

/* ---- loading ---- */

void
mbx_msg_free(struct mbx_msg *m)
{
	struct mbx_cache *c, *next;

	if (m == NULL)
		return;
	for (c = m->cache; c != NULL; c = next) {
		next = c->next;
		free(c->field);
		free(c->value);
		free(c);
	}
	free(m->file);
	free(m);
}

void
mbx_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static struct mbx_msg *
msg_from_row(sqlite3_stmt *st)
{
	struct mbx_msg *m = xcalloc(1, sizeof(*m));

	m->m.uid = (uint32_t)sqlite3_column_int64(st, 0);
	m->file = xstrdup((const char *)sqlite3_column_text(st, 1));
	m->m.flags = (unsigned)sqlite3_column_int(st, 2);
	m->m.keywords = (uint64_t)sqlite3_column_int64(st, 3);
	m->m.modseq = (uint64_t)sqlite3_column_int64(st, 4);
	m->m.internaldate = sqlite3_column_int64(st, 5);
	m->m.internaldate_tz = sqlite3_column_int(st, 6);
	m->m.size = (uint64_t)sqlite3_column_int64(st, 7);
	return m;
}

static struct mbx_msg *
msgs_find(struct mbx_msg **v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid]->m.uid == uid)
			return v[mid];
		if (v[mid]->m.uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Attaches the cached renderings to the loaded messages. */
static int
msgs_load_cache(sqlite3 *db, int64_t folder, uint32_t from_uid, uint32_t to_uid, struct mbx_msg **v,
                size_t n)
{
	sqlite3_stmt *st = mbx_db_prep(db, "SELECT uid, field, value FROM cache"
	                                   " WHERE folder = ?1 AND uid >= ?2 AND uid <= ?3");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder);
	sqlite3_bind_int64(st, 2, from_uid);
	sqlite3_bind_int64(st, 3, to_uid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mbx_msg *m = msgs_find(v, n, (uint32_t)sqlite3_column_int64(st, 0));
		struct mbx_cache *c;

		if (m == NULL)
			continue;
		c = xcalloc(1, sizeof(*c));
		c->field = xstrdup((const char *)sqlite3_column_text(st, 1));
		c->value = xstrdup((const char *)sqlite3_column_text(st, 2));
		c->next = m->cache;
		m->cache = c;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

struct mbx_msg **
mbx_index_msgs(sqlite3 *db, int64_t folder, uint32_t from_uid, uint32_t to_uid, size_t *n_r,
               int *rc_r)
{
	sqlite3_stmt *st = mbx_db_prep(db, "SELECT uid, file, flags, keywords, modseq,"
	                                   " internaldate, tz, size FROM messages"
	                                   " WHERE folder = ?1 AND uid >= ?2 AND uid <= ?3"
	                                   " ORDER BY uid");
	struct mbx_msg **v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*rc_r = -1;
	*n_r = 0;
	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, folder);
	sqlite3_bind_int64(st, 2, from_uid);
	sqlite3_bind_int64(st, 3, to_uid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = msg_from_row(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || msgs_load_cache(db, folder, from_uid, to_uid, v, n) < 0) {
		for (size_t i = 0; i < n; i++)
			mbx_msg_free(v[i]);
		free(v);
		return NULL;
	}
	*rc_r = 0;
	*n_r = n;
	return v;
}

char **
mbx_index_keywords(sqlite3 *db, int64_t folder, size_t *n_r)
{
	sqlite3_stmt *st = mbx_db_prep(db, "SELECT idx, name FROM keywords WHERE folder = ?1"
	                                   " ORDER BY idx");
	char **v = xcalloc(MAILBOX_MAX_KEYWORDS, sizeof(*v));
	size_t n = 0;

	if (st != NULL) {
		sqlite3_bind_int64(st, 1, folder);
		/* Indexes are dense from 0: they are handed out in order. */
		while (sqlite3_step(st) == SQLITE_ROW && n < MAILBOX_MAX_KEYWORDS)
			v[n++] = xstrdup((const char *)sqlite3_column_text(st, 1));
		sqlite3_finalize(st);
	}
	*n_r = n;
	return v;
}

/* ---- keywords ---- */

/* A keyword the index may store: 1..MAILBOX_MAX_KEYWORD_LEN printable
   ASCII bytes (the engine checks the IMAP atom syntax). */
static bool
keyword_valid(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > MAILBOX_MAX_KEYWORD_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] >= 0x7f)
			return false;
	return true;
}

int
mbx_index_keyword_mask(sqlite3 *db, int64_t folder, const char *const *names, size_t n, bool add,
                       uint64_t *mask_r, char *err, size_t errsize)
{
	size_t nkw;
	char **kw = mbx_index_keywords(db, folder, &nkw);
	sqlite3_stmt *ins = NULL;
	int rc = 1;

	*mask_r = 0;
	for (size_t i = 0; i < n && rc == 1; i++) {
		size_t k;

		if (!keyword_valid(names[i])) {
			snprintf(err, errsize, "invalid keyword");
			rc = -1;
			break;
		}
		/* RFC 9051 2.3.2: flags are case-insensitive. */
		for (k = 0; k < nkw && strcasecmp(kw[k], names[i]) != 0; k++)
			;
		if (k == nkw && !add)
			continue;
		if (k == nkw && nkw == MAILBOX_MAX_KEYWORDS) {
			snprintf(err, errsize, "too many keywords in this mailbox (max %d)",
			         MAILBOX_MAX_KEYWORDS);
			rc = -1;
			break;
		}
		if (k == nkw) {
			if (ins == NULL &&
			    (ins = mbx_db_prep(db, "INSERT INTO keywords(folder, idx,"
			                           " name) VALUES (?1, ?2, ?3)")) == NULL) {
				rc = -1;
				break;
			}
			sqlite3_reset(ins);
			sqlite3_bind_int64(ins, 1, folder);
			sqlite3_bind_int64(ins, 2, (sqlite3_int64)k);
			sqlite3_bind_text(ins, 3, names[i], -1, SQLITE_STATIC);
			if (sqlite3_step(ins) != SQLITE_DONE) {
				snprintf(err, errsize, "index: %s", sqlite3_errmsg(db));
				rc = -1;
				break;
			}
			kw[nkw++] = xstrdup(names[i]);
		}
		*mask_r |= UINT64_C(1) << k;
	}
	sqlite3_finalize(ins);
	mbx_strv_free(kw, nkw);
	return rc;
}

/* Folder counters as the index has them; 1, 0 no such folder, -1. */
int
mbx_index_folder_get(sqlite3 *db, int64_t folder, struct mbx_folder_row *r)
{
	sqlite3_stmt *st = mbx_db_prep(db, "SELECT uidvalidity, uidnext, highestmodseq,"
	                                   " subscribed, special FROM folders WHERE id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->id = folder;
		r->uidvalidity = (uint32_t)sqlite3_column_int64(st, 0);
		r->uidnext = (uint32_t)sqlite3_column_int64(st, 1);
		r->highestmodseq = (uint64_t)sqlite3_column_int64(st, 2);
		r->subscribed = sqlite3_column_int(st, 3) != 0;
		r->special = (unsigned)sqlite3_column_int(st, 4);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
mbx_index_folder_set(sqlite3 *db, int64_t folder, uint32_t uidnext, uint64_t highestmodseq)
{
	sqlite3_stmt *st = mbx_db_prep(db, "UPDATE folders SET uidnext = ?2, highestmodseq = ?3"
	                                   " WHERE id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder);
	sqlite3_bind_int64(st, 2, uidnext);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)highestmodseq);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Runs a statement with up to three integer parameters and one text. */
int
mbx_index_run(sqlite3 *db, const char *sql, int64_t a, int64_t b, const char *text)
{
	sqlite3_stmt *st = mbx_db_prep(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	if (text != NULL)
		sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
