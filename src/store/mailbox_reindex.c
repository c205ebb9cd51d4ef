/*
 * mailbox_reindex.c -- `hikyaku reindex ACCOUNT`: rebuild index.db from the
 * Maildir files.
 *
 * The files are the truth for which messages exist; the old index, when it
 * can be read, for their UIDs, flags and keywords. Per folder directory:
 *   - doomed files are deleted, new/ files moved to cur/;
 *   - a file the old index knows keeps its UID, flags, keywords, MODSEQ;
 *   - a file it does not know gets the next UID (flags from a ":2,FLAGS"
 *     info part), so UIDVALIDITY stays;
 *   - a folder the old index does not know (or an index that is lost or
 *     unreadable: it is moved aside as index.db.broken-TIME) gets a new
 *     UIDVALIDITY, greater than any before (the account's uidvalidity file).
 * Index rows whose file is gone, and folders whose directory is gone, are
 * dropped. Everything happens in one transaction (synchronous=FULL).
 * Synchronous; the daemon must not serve the account meanwhile.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "store/mailbox_int.h"
#include "store/store_int.h"

struct rx {
	sqlite3 *db;
	const char *udir;
	char err[MBX_PATH + 128];
	unsigned folders, kept, added, dropped;
};

/* Flags of a Maildir info ":2,DFRST". */
static unsigned
info_flags(const char *file)
{
	const char *p = strstr(file, ":2,");
	unsigned f = 0;

	for (p = p != NULL ? p + 3 : ""; *p != '\0'; p++) {
		switch (*p) {
		case 'S':
			f |= MAILBOX_F_SEEN;
			break;
		case 'R':
			f |= MAILBOX_F_ANSWERED;
			break;
		case 'F':
			f |= MAILBOX_F_FLAGGED;
			break;
		case 'T':
			f |= MAILBOX_F_DELETED;
			break;
		case 'D':
			f |= MAILBOX_F_DRAFT;
			break;
		}
	}
	return f;
}

/* Moves new/ to cur/ and deletes doomed files of the folder. */
static int
rx_tidy(struct rx *rx, int64_t folder, const char *path)
{
	sqlite3_stmt *q = mbx_db_prep(rx->db, "SELECT file FROM doomed WHERE folder = ?1");
	struct mbx_namev nv = {0};
	char from[MBX_PATH], to[MBX_PATH], cf[512];

	if (q != NULL && folder >= 0) {
		sqlite3_bind_int64(q, 1, folder);
		while (sqlite3_step(q) == SQLITE_ROW) {
			mbx_path(from, sizeof(from), "%s/cur/%s", path, sqlite3_column_text(q, 0));
			unlink(from);
		}
	}
	sqlite3_finalize(q);
	mbx_path(from, sizeof(from), "%s/new", path);
	if (mbx_namev_read_dir(&nv, from) < 0)
		return errno == ENOENT ? 0 : -1;
	for (size_t i = 0; i < nv.n; i++) {
		mbx_cur_name(nv.v[i], cf, sizeof(cf));
		mbx_path(from, sizeof(from), "%s/new/%s", path, nv.v[i]);
		mbx_path(to, sizeof(to), "%s/cur/%s", path, cf);
		if (rename(from, to) < 0) {
			mbx_namev_free(&nv);
			return -1;
		}
	}
	mbx_namev_free(&nv);
	mbx_path(to, sizeof(to), "%s/cur", path);
	return mbx_fsync_dir(to);
}

/* The folder's row: the old one when the index knows the name, else new. */
static int
rx_folder_row(struct rx *rx, const char *name, struct mbx_folder_row *r, bool *known_r)
{
	sqlite3_stmt *q = mbx_db_prep(rx->db, "SELECT id FROM folders WHERE name = ?1");
	int rc;

	if (q == NULL)
		return -1;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	r->id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
	sqlite3_finalize(q);
	*known_r = r->id >= 0;
	if (r->id < 0 && mbx_index_folder_add(rx->db, rx->udir, name, 0, &r->id) != 1)
		return -1;
	return mbx_index_folder_get(rx->db, r->id, r) == 1 ? 0 : -1;
}

/* Rows whose file is gone go; returns the highest UID kept. */
static int
rx_drop_missing(struct rx *rx, int64_t folder, const struct mbx_namev *cur, uint32_t *max_r)
{
	size_t n;
	int rc;
	struct mbx_msg **v = mbx_index_msgs(rx->db, folder, 0, UINT32_MAX, &n, &rc);

	*max_r = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && !mbx_namev_has(cur, v[i]->file)) {
			if (mbx_index_run(rx->db,
			                  "DELETE FROM messages WHERE folder = ?1 AND uid = ?2",
			                  folder, v[i]->m.uid, NULL) < 0)
				rc = -1;
			rx->dropped++;
		} else if (v[i]->m.uid > *max_r) {
			*max_r = v[i]->m.uid;
			rx->kept++;
		}
		mbx_msg_free(v[i]);
	}
	free(v);
	return rc;
}

/* Indexes the files of cur/ the index does not know. */
static int
rx_add_unknown(struct rx *rx, struct mbx_folder_row *r, const char *path,
               const struct mbx_namev *cur)
{
	sqlite3_stmt *q =
	        mbx_db_prep(rx->db, "SELECT 1 FROM messages WHERE folder = ?1 AND file = ?2");
	sqlite3_stmt *ins = mbx_db_prep(rx->db, "INSERT INTO messages(folder, uid, file, flags,"
	                                        " keywords, modseq, internaldate, tz, size)"
	                                        " VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, 0, ?7)");
	char p[MBX_PATH];
	int rc = q != NULL && ins != NULL ? 0 : -1;

	for (size_t i = 0; i < cur->n && rc == 0; i++) {
		struct stat st;
		uint64_t size = mbx_name_size(cur->v[i]);

		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, r->id);
		sqlite3_bind_text(q, 2, cur->v[i], -1, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_ROW)
			continue;
		mbx_path(p, sizeof(p), "%s/cur/%s", path, cur->v[i]);
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, r->id);
		sqlite3_bind_int64(ins, 2, r->uidnext++);
		sqlite3_bind_text(ins, 3, cur->v[i], -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, 4, (int)info_flags(cur->v[i]));
		sqlite3_bind_int64(ins, 5, (sqlite3_int64)r->highestmodseq);
		sqlite3_bind_int64(ins, 6, st.st_mtime);
		sqlite3_bind_int64(ins, 7,
		                   (sqlite3_int64)(size != 0 ? size : (uint64_t)st.st_size));
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = -1;
		rx->added++;
	}
	sqlite3_finalize(q);
	sqlite3_finalize(ins);
	return rc;
}

static int
rx_folder(struct rx *rx, const char *name)
{
	char path[MBX_PATH], cur[MBX_PATH];
	struct mbx_folder_row r;
	struct mbx_namev nv = {0};
	uint32_t maxuid;
	bool known;
	int rc = -1;

	if (mbx_folder_dir(rx->udir, name, path, sizeof(path)) < 0 ||
	    rx_folder_row(rx, name, &r, &known) < 0)
		return -1;
	(void)known;
	mbx_path(cur, sizeof(cur), "%s/cur", path);
	if (maildir_create(path) < 0 || rx_tidy(rx, r.id, path) < 0 ||
	    mbx_namev_read_dir(&nv, cur) < 0) {
		snprintf(rx->err, sizeof(rx->err), "%s: %s", path, strerror(errno));
		goto out;
	}
	if (rx_drop_missing(rx, r.id, &nv, &maxuid) < 0)
		goto out;
	/* A damaged index may say UIDNEXT <= a UID it holds. */
	if (r.uidnext <= maxuid)
		r.uidnext = maxuid + 1;
	r.highestmodseq++;
	if (rx_add_unknown(rx, &r, path, &nv) < 0 ||
	    mbx_index_folder_set(rx->db, r.id, r.uidnext, r.highestmodseq) < 0 ||
	    mbx_index_run(rx->db, "DELETE FROM doomed WHERE folder = ?1", r.id, 0, NULL) < 0)
		goto out;
	rx->folders++;
	rc = 0;
out:
	mbx_namev_free(&nv);
	return rc;
}

/* Folder name of a Maildir++ directory ".a.b", or NULL. */
static char *
rx_dir_name(const char *udir, const char *d)
{
	char p[MBX_PATH], *name;
	const char *error;
	struct stat st;

	if (d[0] != '.' || d[1] == '.' || d[1] == '\0')
		return NULL;
	mbx_path(p, sizeof(p), "%s/%s/cur", udir, d);
	if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	name = xstrdup(d + 1);
	for (char *c = name; *c != '\0'; c++)
		if (*c == '.')
			*c = '/';
	if (strcmp(name, "INBOX") == 0 || !mailbox_name_valid(name, &error)) {
		free(name);
		return NULL;
	}
	return name;
}

/* Every folder directory, plus INBOX; folders without one are dropped. */
static int
rx_all(struct rx *rx)
{
	DIR *d = opendir(rx->udir);
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return -1;
	rc = rx_folder(rx, "INBOX");
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char *name = rx_dir_name(rx->udir, de->d_name);

		if (name != NULL)
			rc = rx_folder(rx, name);
		free(name);
	}
	closedir(d);
	if (rc < 0)
		return -1;
	return mbx_db_exec(rx->db,
	                   "DELETE FROM messages WHERE folder NOT IN (SELECT id FROM folders);"
	                   "DELETE FROM cache WHERE NOT EXISTS (SELECT 1 FROM messages m"
	                   " WHERE m.folder = cache.folder AND m.uid = cache.uid);"
	                   "DELETE FROM keywords WHERE folder NOT IN (SELECT id FROM folders);"
	                   "DELETE FROM doomed; DELETE FROM renames;");
}

/* Removes folder rows whose directory is gone (before rx_all recreates
   directories for the rest). */
static int
rx_drop_folders(struct rx *rx)
{
	sqlite3_stmt *q = mbx_db_prep(rx->db, "SELECT id, name FROM folders");
	char path[MBX_PATH];
	struct stat st;
	int rc = q != NULL ? 0 : -1;

	while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 1);
		const char *error;

		if (strcmp(name, "INBOX") != 0 &&
		    (!mailbox_name_valid(name, &error) ||
		     mbx_folder_dir(rx->udir, name, path, sizeof(path)) < 0 || stat(path, &st) < 0))
			rc = mbx_index_run(rx->db, "DELETE FROM folders WHERE id = ?1",
			                   sqlite3_column_int64(q, 0), 0, NULL);
	}
	sqlite3_finalize(q);
	return rc;
}

/* Opens the old index; an unreadable one is moved aside for a fresh one. */
static sqlite3 *
rx_open(struct rx *rx)
{
	char p[MBX_PATH], aside[MBX_PATH];
	sqlite3 *db = mbx_index_open(rx->udir, false, rx->err, sizeof(rx->err));
	sqlite3_stmt *q;
	bool ok = false;

	if (db != NULL && (q = mbx_db_prep(db, "PRAGMA quick_check")) != NULL) {
		ok = sqlite3_step(q) == SQLITE_ROW &&
		     strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
		sqlite3_finalize(q);
	}
	if (ok)
		return db;
	sqlite3_close(db);
	mbx_path(p, sizeof(p), "%s/index.db", rx->udir);
	mbx_path(aside, sizeof(aside), "%s/index.db.broken-%lld", rx->udir, (long long)time(NULL));
	if (rename(p, aside) < 0 && errno != ENOENT)
		return NULL;
	for (const char *sfx = "-wal"; sfx != NULL;
	     sfx = strcmp(sfx, "-wal") == 0 ? "-shm" : NULL) {
		mbx_path(p, sizeof(p), "%s/index.db%s", rx->udir, sfx);
		unlink(p);
	}
	return mbx_index_open(rx->udir, false, rx->err, sizeof(rx->err));
}

int
mailbox_reindex(const char *data_dir, const char *address, const char **error_r)
{
	static _Thread_local char err[2 * MBX_PATH + 256];
	char addr[STORE_MAX_ADDRESS + 1], udir[MBX_PATH], *at;
	struct rx rx = {0};
	struct stat st;
	int rc = -1;

	if (store_address_normalize(address, addr, error_r) < 0)
		return -1;
	at = strrchr(addr, '@');
	mbx_path(udir, sizeof(udir), "%s/mail/%s/%.*s", data_dir, at + 1, (int)(at - addr), addr);
	if (stat(udir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*error_r = "no such account (no mail directory)";
		return -1;
	}
	rx.udir = udir;
	if ((rx.db = rx_open(&rx)) == NULL)
		goto out;
	if (mbx_db_begin(rx.db) < 0 || rx_drop_folders(&rx) < 0 || rx_all(&rx) < 0 ||
	    mbx_db_commit(rx.db) < 0) {
		if (rx.err[0] == '\0')
			snprintf(rx.err, sizeof(rx.err), "index: %s", sqlite3_errmsg(rx.db));
		mbx_db_rollback(rx.db);
		goto out;
	}
	rc = 1;
	snprintf(err, sizeof(err), "folders=%u kept=%u added=%u dropped=%u", rx.folders, rx.kept,
	         rx.added, rx.dropped);
	*error_r = err;
out:
	if (rc < 0) {
		snprintf(err, sizeof(err), "%s: %s", udir, rx.err);
		*error_r = err;
	}
	sqlite3_close(rx.db);
	return rc;
}
