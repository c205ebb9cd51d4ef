/*
 * mailbox_sync.c -- bringing a folder's files and its index together (pool
 * thread): pick up of new/, and the full reconciliation of a first load.
 *
 * Pick up: files in new/ (SMTP delivery links them there) get the next UIDs
 * in name order, size from ",S=" (else stat), internal date from the
 * file's mtime. Order: index rows committed (synchronous=FULL) first, then
 * new/NAME renamed to cur/NAME:2, -- a crash in between leaves an indexed
 * file in new/, which the next pick up only renames.
 * Reconciliation (first load of a folder in this process), after a crash:
 *   - a file named in `doomed` is deleted (an expunge, MOVE source or
 *     aborted COPY target whose index side already happened);
 *   - an index row whose file is gone is dropped (as if expunged);
 *   - a file in cur/ that the index does not know (an APPEND that crashed
 *     before its commit) is picked up like new mail.
 * Names starting with '.' and anything but regular files are ignored.
 * Standards: Maildir (cr.yp.to/proto/maildir.html), Maildir++ ",S=".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "store/mailbox_int.h"

void
mbx_namev_free(struct mbx_namev *nv)
{
	mbx_strv_free(nv->v, nv->n);
	*nv = (struct mbx_namev){0};
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool
mbx_namev_has(const struct mbx_namev *nv, const char *name)
{
	return nv->n > 0 && bsearch(&name, nv->v, nv->n, sizeof(char *), name_cmp) != NULL;
}

/* Regular files of dir, sorted. 0, or -1 with errno. */
int
mbx_namev_read_dir(struct mbx_namev *nv, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (nv->n == nv->cap) {
			nv->cap = nv->cap == 0 ? 64 : nv->cap * 2;
			nv->v = xrealloc(nv->v, nv->cap * sizeof(char *));
		}
		nv->v[nv->n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (nv->n > 1)
		qsort(nv->v, nv->n, sizeof(char *), name_cmp);
	return 0;
}

/* Column 0 of every row of a one-parameter query, sorted. */
static int
namev_query(struct mbx_namev *nv, sqlite3 *db, const char *sql, int64_t folder)
{
	sqlite3_stmt *st = mbx_db_prep(db, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, folder);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nv->n == nv->cap) {
			nv->cap = nv->cap == 0 ? 64 : nv->cap * 2;
			nv->v = xrealloc(nv->v, nv->cap * sizeof(char *));
		}
		nv->v[nv->n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (nv->n > 1)
		qsort(nv->v, nv->n, sizeof(char *), name_cmp);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
mbx_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* The cur/ name of a new/ file: "NAME:2," (Maildir info, no flags: the
   index holds them). A name that already has an info part keeps it. */
void
mbx_cur_name(const char *newname, char *out, size_t size)
{
	snprintf(out, size, "%s%s", newname, strchr(newname, ':') != NULL ? "" : ":2,");
}

/* ",S=<size>" of a Maildir++ name, else 0. */
uint64_t
mbx_name_size(const char *name)
{
	const char *p = strstr(name, ",S=");
	const char *colon = strchr(name, ':');
	char *end;
	unsigned long long v;

	if (p == NULL || (colon != NULL && p > colon))
		return 0;
	errno = 0;
	v = strtoull(p + 3, &end, 10);
	if (errno != 0 || end == p + 3 || (*end != '\0' && *end != ',' && *end != ':'))
		return 0;
	return v;
}

struct sync_ctx {
	struct mbx_job *j;
	sqlite3 *db;
	int64_t folder;
	const char *path;
	uint32_t uidnext;
	uint64_t modseq; /* the new HIGHESTMODSEQ, when changed */
	bool changed;
	sqlite3_stmt *ins;
};

/* Indexes one file (already in cur/ or about to be) under the next UID. */
static int
sync_index_file(struct sync_ctx *sc, const char *dir, const char *file, const char *curfile)
{
	char p[MBX_PATH];
	struct stat st;
	uint64_t size = mbx_name_size(file);

	mbx_path(p, sizeof(p), "%s/%s/%s", sc->path, dir, file);
	if (stat(p, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (size == 0)
		size = (uint64_t)st.st_size;
	sqlite3_reset(sc->ins);
	sqlite3_bind_int64(sc->ins, 1, sc->folder);
	sqlite3_bind_int64(sc->ins, 2, sc->uidnext);
	sqlite3_bind_text(sc->ins, 3, curfile, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(sc->ins, 4, (sqlite3_int64)sc->modseq);
	sqlite3_bind_int64(sc->ins, 5, st.st_mtime);
	sqlite3_bind_int64(sc->ins, 6, (sqlite3_int64)size);
	if (sqlite3_step(sc->ins) != SQLITE_DONE)
		return -1;
	sc->uidnext++;
	sc->changed = true;
	return 0;
}

/* Drops rows whose file is gone, deletes doomed files, indexes unknown
   files of cur/ (full reconciliation). */
static int
sync_cur(struct sync_ctx *sc, const struct mbx_namev *doomed)
{
	struct mbx_namev cur = {0}, known = {0};
	char dir[MBX_PATH];
	int rc = -1;

	mbx_path(dir, sizeof(dir), "%s/cur", sc->path);
	if (mbx_namev_read_dir(&cur, dir) < 0 ||
	    namev_query(&known, sc->db, "SELECT file FROM messages WHERE folder = ?1", sc->folder) <
	            0)
		goto out;
	for (size_t i = 0; i < known.n; i++) {
		if (mbx_namev_has(&cur, known.v[i]))
			continue;
		sqlite3_stmt *del = mbx_db_prep(sc->db, "DELETE FROM messages WHERE folder = ?1"
		                                        " AND file = ?2");
		if (del == NULL)
			goto out;
		sqlite3_bind_int64(del, 1, sc->folder);
		sqlite3_bind_text(del, 2, known.v[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(del);
		sqlite3_finalize(del);
		if (rc != SQLITE_DONE) {
			rc = -1;
			goto out;
		}
		sc->changed = true;
	}
	rc = -1;
	for (size_t i = 0; i < cur.n; i++) {
		if (mbx_namev_has(doomed, cur.v[i])) {
			char p[MBX_PATH];

			mbx_path(p, sizeof(p), "%s/%s", dir, cur.v[i]);
			if (unlink(p) < 0 && errno != ENOENT)
				goto out;
		} else if (!mbx_namev_has(&known, cur.v[i]) &&
		           sync_index_file(sc, "cur", cur.v[i], cur.v[i]) < 0) {
			goto out;
		}
	}
	rc = 0;
out:
	mbx_namev_free(&cur);
	mbx_namev_free(&known);
	return rc;
}

/* Indexes the files of new/ the index does not know yet; fills `move`
   with those to rename into cur/ after the commit. */
static int
sync_new(struct sync_ctx *sc, const struct mbx_namev *doomed, struct mbx_namev *move)
{
	sqlite3_stmt *q = mbx_db_prep(sc->db, "SELECT 1 FROM messages WHERE folder = ?1"
	                                      " AND file = ?2");
	struct mbx_namev nv = {0};
	char dir[MBX_PATH], cf[512];
	int rc = -1;

	mbx_path(dir, sizeof(dir), "%s/new", sc->path);
	if (q == NULL || mbx_namev_read_dir(&nv, dir) < 0)
		goto out;
	for (size_t i = 0; i < nv.n; i++) {
		mbx_cur_name(nv.v[i], cf, sizeof(cf));
		if (mbx_namev_has(doomed, cf))
			continue; /* left in new/, never indexed: removed below */
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, sc->folder);
		sqlite3_bind_text(q, 2, cf, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(q);
		if (rc != SQLITE_ROW &&
		    (rc != SQLITE_DONE || sync_index_file(sc, "new", nv.v[i], cf) < 0)) {
			rc = -1;
			goto out;
		}
	}
	/* Hand every name over: indexed ones move, doomed ones are removed. */
	*move = nv;
	nv = (struct mbx_namev){0};
	rc = 0;
out:
	sqlite3_finalize(q);
	mbx_namev_free(&nv);
	return rc;
}

/* After the commit: new/NAME to cur/NAME:2, (or away, when doomed). */
static int
sync_move(struct sync_ctx *sc, const struct mbx_namev *move, const struct mbx_namev *doomed)
{
	char from[MBX_PATH], to[MBX_PATH], cf[512];

	for (size_t i = 0; i < move->n; i++) {
		mbx_cur_name(move->v[i], cf, sizeof(cf));
		mbx_path(from, sizeof(from), "%s/new/%s", sc->path, move->v[i]);
		mbx_path(to, sizeof(to), "%s/cur/%s", sc->path, cf);
		if (mbx_namev_has(doomed, cf)) {
			unlink(from);
			continue;
		}
		if (rename(from, to) < 0 && errno != ENOENT) {
			mbx_job_fail(sc->j, "rename %s: %s", from, strerror(errno));
			return -1;
		}
	}
	if (move->n == 0)
		return 0;
	mbx_path(to, sizeof(to), "%s/cur", sc->path);
	mbx_path(from, sizeof(from), "%s/new", sc->path);
	if (mbx_fsync_dir(to) < 0 || mbx_fsync_dir(from) < 0) {
		mbx_job_fail(sc->j, "fsync %s: %s", to, strerror(errno));
		return -1;
	}
	return 0;
}

/* Loads uidnext and highestmodseq; 1, 0 no such folder, -1. */
static int
sync_folder_meta(struct sync_ctx *sc)
{
	sqlite3_stmt *st = mbx_db_prep(sc->db, "SELECT uidnext, highestmodseq FROM folders"
	                                       " WHERE id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, sc->folder);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sc->uidnext = (uint32_t)sqlite3_column_int64(st, 0);
		sc->modseq = (uint64_t)sqlite3_column_int64(st, 1) + 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
sync_folder_save(struct sync_ctx *sc)
{
	sqlite3_stmt *st = mbx_db_prep(sc->db, "UPDATE folders SET uidnext = ?2,"
	                                       " highestmodseq = ?3 WHERE id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, sc->folder);
	sqlite3_bind_int64(st, 2, sc->uidnext);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)sc->modseq);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The index side of a sync, in one transaction. */
static int
sync_index(struct sync_ctx *sc, bool full, const struct mbx_namev *doomed, struct mbx_namev *move)
{
	int rc;

	if (mbx_db_begin(sc->db) < 0)
		return -1;
	if ((rc = sync_folder_meta(sc)) <= 0) {
		mbx_db_rollback(sc->db);
		return rc;
	}
	sc->ins = mbx_db_prep(sc->db, "INSERT OR IGNORE INTO messages(folder, uid, file, flags,"
	                              " keywords, modseq, internaldate, tz, size)"
	                              " VALUES (?1, ?2, ?3, 0, 0, ?4, ?5, 0, ?6)");
	rc = sc->ins == NULL || (full && sync_cur(sc, doomed) < 0) ||
	                     sync_new(sc, doomed, move) < 0 ||
	                     (sc->changed && sync_folder_save(sc) < 0)
	             ? -1
	             : 1;
	sqlite3_finalize(sc->ins);
	sc->ins = NULL;
	if (rc < 0 || mbx_db_commit(sc->db) < 0) {
		mbx_db_rollback(sc->db);
		return -1;
	}
	return 1;
}

/* Doomed files are gone from disk now (cur/ synced): forget them. */
static void
sync_forget_doomed(struct sync_ctx *sc, const struct mbx_namev *doomed)
{
	char dir[MBX_PATH];
	sqlite3_stmt *st;

	if (doomed->n == 0)
		return;
	mbx_path(dir, sizeof(dir), "%s/cur", sc->path);
	if (mbx_fsync_dir(dir) < 0)
		return; /* keep them doomed: retried at the next load */
	if ((st = mbx_db_prep(sc->db, "DELETE FROM doomed WHERE folder = ?1")) == NULL)
		return;
	sqlite3_bind_int64(st, 1, sc->folder);
	if (mbx_db_begin_lazy(sc->db) == 0) {
		if (sqlite3_step(st) == SQLITE_DONE)
			mbx_db_commit(sc->db);
		else
			mbx_db_rollback(sc->db);
	}
	sqlite3_finalize(st);
}

int
mbx_sync_folder(struct mbx_job *j, sqlite3 *db, int64_t folder, const char *path, bool full)
{
	struct sync_ctx sc = {.j = j, .db = db, .folder = folder, .path = path};
	struct mbx_namev doomed = {0}, move = {0};
	int rc;

	if (full &&
	    namev_query(&doomed, db, "SELECT file FROM doomed WHERE folder = ?1", folder) < 0) {
		mbx_job_fail(j, "index: %s", sqlite3_errmsg(db));
		return -1;
	}
	rc = sync_index(&sc, full, &doomed, &move);
	if (rc < 0 && j->status == 0)
		mbx_job_fail(j, "sync %s: %s", path,
		             sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db)
		                                              : strerror(errno));
	if (rc > 0 && sync_move(&sc, &move, &doomed) < 0)
		rc = -1;
	if (rc > 0 && full)
		sync_forget_doomed(&sc, &doomed);
	mbx_namev_free(&doomed);
	mbx_namev_free(&move);
	return rc;
}

/* ---- files ---- */

int
mbx_file_link(const struct mailbox_store *ms, const char *src, const char *dir, char *out,
              size_t size)
{
	char base[300], dst[MBX_PATH];

	mbx_unique_name(ms, base, sizeof(base));
	snprintf(out, size, "%s:2,", base);
	mbx_path(dst, sizeof(dst), "%s/cur/%s", dir, out);
	return link(src, dst);
}

static int
dir_empty_out(const char *dir)
{
	struct mbx_namev nv = {0};
	char p[MBX_PATH];

	if (mbx_namev_read_dir(&nv, dir) < 0)
		return errno == ENOENT ? 0 : -1;
	for (size_t i = 0; i < nv.n; i++) {
		mbx_path(p, sizeof(p), "%s/%s", dir, nv.v[i]);
		unlink(p);
	}
	mbx_namev_free(&nv);
	return rmdir(dir) < 0 && errno != ENOENT ? -1 : 0;
}

int
mbx_dir_remove(const char *path)
{
	static const char *const subs[] = {"cur", "new", "tmp"};
	char p[MBX_PATH];

	for (size_t i = 0; i < 3; i++) {
		mbx_path(p, sizeof(p), "%s/%s", path, subs[i]);
		if (dir_empty_out(p) < 0)
			return -1;
	}
	/* Files left at the top (e.g. "maildirfolder") go too. */
	return dir_empty_out(path);
}
