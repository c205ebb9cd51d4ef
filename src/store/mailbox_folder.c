/*
 * mailbox_folder.c -- LIST, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE.
 *
 * Crash order:
 *   CREATE: a stale directory of that name (a DELETE cut short) is emptied,
 *     the Maildir made and synced, then the index row committed.
 *   DELETE: the index rows go first (committed), then the files; a crash
 *     in between leaves a directory no row names, emptied by a later CREATE.
 *   RENAME: the new names and a "renames" intent commit together, then the
 *     directories are renamed; mailbox_user_open() finishes an interrupted
 *     one. Renaming INBOX moves its messages: rows first, then the files; a
 *     crash in between leaves the files in INBOX, where the next load picks
 *     them up again (nothing is lost; the RENAME was not acknowledged).
 * Folders with open views cannot be deleted or renamed ("in use"): a view
 * keeps its folder's path, and jobs carry paths.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/span.h"
#include "base/xalloc.h"
#include "store/mailbox_int.h"
#include "store/store_int.h"

enum fop { FOP_CREATE, FOP_DELETE, FOP_RENAME, FOP_SUBSCRIBE };

struct job_folder {
	struct mbx_job j; /* first */
	enum fop op;
	char name[MAILBOX_MAX_NAME + 8], to[MAILBOX_MAX_NAME + 8];
	char path[MBX_PATH], topath[MBX_PATH];
	int64_t id, newid;
	bool on;
	struct mbx_folder_row row; /* CREATE, INBOX RENAME: the new folder */
	mailbox_done_fn *done;
	void *ctx;
};

/* ---- LIST ---- */

static int
info_cmp(const void *a, const void *b)
{
	const struct mailbox_info *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;

	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void
list_add(struct mailbox_user *u, size_t *cap, const char *name, size_t len, unsigned attrs)
{
	for (size_t i = 0; i < u->nlist; i++) {
		if (strlen(u->list[i].name) == len && memcmp(u->list[i].name, name, len) == 0) {
			u->list[i].attrs |= attrs & ~MAILBOX_A_NOSELECT;
			if (!(attrs & MAILBOX_A_NOSELECT))
				u->list[i].attrs &= ~(unsigned)MAILBOX_A_NOSELECT;
			return;
		}
	}
	if (u->nlist == *cap) {
		*cap = *cap == 0 ? 16 : *cap * 2;
		u->list = xrealloc(u->list, *cap * sizeof(*u->list));
		u->list_names = xrealloc(u->list_names, *cap * sizeof(char *));
	}
	u->list_names[u->nlist] = xstrndup(name, len);
	u->list[u->nlist] = (struct mailbox_info){.name = u->list_names[u->nlist], .attrs = attrs};
	u->nlist++;
}

/* Sets \HasChildren or \HasNoChildren. */
static void
list_children(struct mailbox_user *u)
{
	for (size_t i = 0; i < u->nlist; i++) {
		size_t n = strlen(u->list[i].name);
		bool kids = false;

		for (size_t k = 0; k < u->nlist && !kids; k++)
			kids = strncmp(u->list[k].name, u->list[i].name, n) == 0 &&
			       u->list[k].name[n] == '/';
		u->list[i].attrs |= kids ? MAILBOX_A_HASCHILDREN : MAILBOX_A_HASNOCHILDREN;
	}
}

size_t
mailbox_list(struct mailbox_user *u, const struct mailbox_info **v)
{
	size_t cap = 0;

	free(u->list);
	mbx_strv_free(u->list_names, u->nlist);
	u->list = NULL;
	u->list_names = NULL;
	u->nlist = 0;
	for (struct mbx_folder *f = u->folders; f != NULL; f = f->next) {
		/* Parents that exist only as a prefix are \Noselect. */
		for (const char *s = strchr(f->name, '/'); s != NULL; s = strchr(s + 1, '/'))
			list_add(u, &cap, f->name, (size_t)(s - f->name), MAILBOX_A_NOSELECT);
		list_add(u, &cap, f->name, strlen(f->name),
		         f->special | (f->subscribed ? MAILBOX_A_SUBSCRIBED : 0));
	}
	list_children(u);
	if (u->nlist > 1)
		qsort(u->list, u->nlist, sizeof(*u->list), info_cmp);
	*v = u->list;
	return u->nlist;
}

/* ---- STATUS ---- */

static void
status_from_memory(const struct mbx_folder *f, struct mailbox_status *st)
{
	for (size_t i = 0; i < f->nmsgs; i++) {
		const struct mailbox_msg *m = &f->msgs[i]->m;

		if (m->expunged)
			continue;
		st->messages++;
		st->unseen += !(m->flags & MAILBOX_F_SEEN);
		st->deleted += (m->flags & MAILBOX_F_DELETED) != 0;
		st->size += m->size;
	}
}

static int
status_from_index(struct mailbox_user *u, const struct mbx_folder *f, struct mailbox_status *st)
{
	sqlite3_stmt *q;
	int rc;

	/* Opened on first need: most sessions never ask (fewer fds). */
	if (u->rdb == NULL &&
	    (u->rdb = mbx_index_open(u->dir, true, u->err, sizeof(u->err))) == NULL)
		return -1;
	q = mbx_db_prep(u->rdb, "SELECT count(*), total(flags & 1 = 0), total(flags & 8 != 0),"
	                        " total(size) FROM messages WHERE folder = ?1");
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, f->id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		st->messages = (uint32_t)sqlite3_column_int64(q, 0);
		st->unseen = (uint32_t)sqlite3_column_double(q, 1);
		st->deleted = (uint32_t)sqlite3_column_double(q, 2);
		st->size = (uint64_t)sqlite3_column_double(q, 3);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
mailbox_status(struct mailbox_user *u, const char *name, struct mailbox_status *st,
               const char **error_r)
{
	struct mbx_folder *f = mbx_folder_find(u, name);

	*st = (struct mailbox_status){0};
	if (f == NULL)
		return 0;
	if (f->loaded) {
		status_from_memory(f, st);
	} else if (status_from_index(u, f, st) < 0) {
		if (u->rdb != NULL)
			snprintf(u->err, sizeof(u->err), "index: %s", sqlite3_errmsg(u->rdb));
		*error_r = u->err;
		return -1;
	}
	st->uidvalidity = f->uidvalidity;
	st->uidnext = f->uidnext;
	st->highestmodseq = f->highestmodseq;
	return 1;
}

/* ---- the jobs ---- */

static void
run_create(struct job_folder *jf, sqlite3 *db)
{
	struct stat sb;
	int rc;

	/* A directory no index row names: left by a DELETE cut short. */
	if (stat(jf->path, &sb) == 0 && mbx_dir_remove(jf->path) < 0) {
		mbx_job_fail(&jf->j, "%s: %s", jf->path, strerror(errno));
		return;
	}
	if (maildir_create(jf->path) < 0) {
		mbx_job_fail(&jf->j, "%s: %s", jf->path, strerror(errno));
		return;
	}
	if (mbx_db_begin(db) < 0 ||
	    (rc = mbx_index_folder_add(db, jf->j.u->dir, jf->name, 0, &jf->row.id)) < 0 ||
	    (rc == 1 && mbx_index_folder_get(db, jf->row.id, &jf->row) < 0) ||
	    mbx_db_commit(db) < 0) {
		mbx_db_rollback(db);
		mbx_job_fail(&jf->j, "index: %s", sqlite3_errmsg(db));
		return;
	}
	if (rc == 0)
		mbx_job_fail(&jf->j, "mailbox already exists");
	else
		jf->j.status = 1;
}

static void
run_delete(struct job_folder *jf, sqlite3 *db)
{
	static const char *const sql[] = {
	        "DELETE FROM messages WHERE folder = ?1", "DELETE FROM cache WHERE folder = ?1",
	        "DELETE FROM keywords WHERE folder = ?1", "DELETE FROM doomed WHERE folder = ?1",
	        "DELETE FROM folders WHERE id = ?1",
	};

	if (mbx_db_begin(db) < 0)
		goto fail;
	for (size_t i = 0; i < nitems(sql); i++)
		if (mbx_index_run(db, sql[i], jf->id, 0, NULL) < 0)
			goto fail;
	if (sqlite3_changes(db) == 0) {
		mbx_db_rollback(db);
		jf->j.status = 0;
		return;
	}
	if (mbx_db_commit(db) < 0)
		goto fail;
	/* Gone from the index: the files are garbage now, best effort. */
	mbx_dir_remove(jf->path);
	mbx_fsync_dir(jf->j.u->dir);
	jf->j.status = 1;
	return;
fail:
	mbx_db_rollback(db);
	mbx_job_fail(&jf->j, "index: %s", sqlite3_errmsg(db));
}

/* Renames the folder `from` and its children in the index, with one
   intent row per directory (names relative to the account). n, or -1. */
static int
rename_index(struct job_folder *jf, sqlite3 *db)
{
	sqlite3_stmt *q = mbx_db_prep(db, "SELECT id, name FROM folders WHERE name = ?1"
	                                  " OR substr(name, 1, length(?1) + 1) = ?1 || '/'");
	sqlite3_stmt *ins = mbx_db_prep(db, "INSERT INTO renames(old, new) VALUES (?1, ?2)");
	size_t flen = strlen(jf->name);
	int rc = SQLITE_ERROR, n = 0;

	if (q == NULL || ins == NULL)
		goto out;
	sqlite3_bind_text(q, 1, jf->name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *old = (const char *)sqlite3_column_text(q, 1);
		char newname[2 * MAILBOX_MAX_NAME + 8], od[MBX_PATH], nd[MBX_PATH];

		snprintf(newname, sizeof(newname), "%s%s", jf->to, old + flen);
		if (strlen(newname) > MAILBOX_MAX_NAME ||
		    mbx_folder_dir("", old, od, sizeof(od)) < 0 ||
		    mbx_folder_dir("", newname, nd, sizeof(nd)) < 0 ||
		    mbx_index_run(db, "UPDATE folders SET name = ?3 WHERE id = ?1",
		                  sqlite3_column_int64(q, 0), 0, newname) < 0)
			break;
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, od + 1, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 2, nd + 1, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(ins) != SQLITE_DONE)
			break;
		n++;
	}
out:
	sqlite3_finalize(q);
	sqlite3_finalize(ins);
	return rc == SQLITE_DONE ? n : -1;
}

static void
run_rename_dirs(struct job_folder *jf, sqlite3 *db)
{
	sqlite3_stmt *q = mbx_db_prep(db, "SELECT old, new FROM renames ORDER BY seq");
	char from[MBX_PATH], to[MBX_PATH];
	const char *udir = jf->j.u->dir;

	if (q == NULL)
		return;
	while (sqlite3_step(q) == SQLITE_ROW) {
		mbx_path(from, sizeof(from), "%s/%s", udir, sqlite3_column_text(q, 0));
		mbx_path(to, sizeof(to), "%s/%s", udir, sqlite3_column_text(q, 1));
		if (rename(from, to) < 0)
			mbx_job_fail(&jf->j, "rename %s: %s", from, strerror(errno));
	}
	sqlite3_finalize(q);
	if (mbx_fsync_dir(udir) == 0)
		mbx_db_exec(db, "DELETE FROM renames");
}

/* INBOX cannot go away: its messages move to a new folder (RFC 9051 6.3.6). */
static void
run_rename_inbox(struct job_folder *jf, sqlite3 *db)
{
	static const char *const sql[] = {
	        "UPDATE messages SET folder = ?2 WHERE folder = ?1",
	        "UPDATE cache SET folder = ?2 WHERE folder = ?1",
	        "UPDATE keywords SET folder = ?2 WHERE folder = ?1",
	        ("UPDATE folders SET (uidnext, highestmodseq) = (SELECT uidnext, highestmodseq"
	         " FROM folders WHERE id = ?1) WHERE id = ?2"),
	        "UPDATE folders SET highestmodseq = highestmodseq + 1 WHERE id = ?1",
	};
	char from[MBX_PATH], to[MBX_PATH];
	struct mbx_msg **v;
	size_t n = 0;
	int rc = -1;

	if (maildir_create(jf->topath) < 0) {
		mbx_job_fail(&jf->j, "%s: %s", jf->topath, strerror(errno));
		return;
	}
	if (mbx_db_begin(db) < 0 ||
	    (rc = mbx_index_folder_add(db, jf->j.u->dir, jf->to, 0, &jf->row.id)) != 1)
		goto fail;
	for (size_t i = 0; i < nitems(sql); i++)
		if (mbx_index_run(db, sql[i], jf->id, jf->row.id, NULL) < 0)
			goto fail;
	if (mbx_index_folder_get(db, jf->row.id, &jf->row) < 0)
		goto fail;
	v = mbx_index_msgs(db, jf->row.id, 0, UINT32_MAX, &n, &rc);
	if (rc < 0)
		goto fail;
	if (mbx_db_commit(db) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		mbx_path(from, sizeof(from), "%s/cur/%s", jf->path, v[i]->file);
		mbx_path(to, sizeof(to), "%s/cur/%s", jf->topath, v[i]->file);
		if (rename(from, to) < 0)
			mbx_job_fail(&jf->j, "rename %s: %s", from, strerror(errno));
		mbx_msg_free(v[i]);
	}
	free(v);
	mbx_path(to, sizeof(to), "%s/cur", jf->topath);
	mbx_path(from, sizeof(from), "%s/cur", jf->path);
	if (mbx_fsync_dir(to) < 0 || mbx_fsync_dir(from) < 0)
		mbx_job_fail(&jf->j, "fsync: %s", strerror(errno));
	if (jf->j.status == 0)
		jf->j.status = 1;
	return;
fail:
	mbx_db_rollback(db);
	if (rc == 0)
		mbx_job_fail(&jf->j, "mailbox already exists");
	else
		mbx_job_fail(&jf->j, "index: %s", sqlite3_errmsg(db));
}

static void
run_rename(struct job_folder *jf, sqlite3 *db)
{
	int rc;

	if (strcmp(jf->name, "INBOX") == 0) {
		run_rename_inbox(jf, db);
		return;
	}
	if (mbx_db_begin(db) < 0 || (rc = rename_index(jf, db)) < 0 || mbx_db_commit(db) < 0) {
		mbx_db_rollback(db);
		mbx_job_fail(&jf->j, "index: %s", sqlite3_errmsg(db));
		return;
	}
	run_rename_dirs(jf, db);
	if (jf->j.status == 0)
		jf->j.status = rc > 0 ? 1 : 0;
}

static void
run_subscribe(struct job_folder *jf, sqlite3 *db)
{
	if (mbx_db_begin(db) < 0 ||
	    mbx_index_run(db, "UPDATE folders SET subscribed = ?2 WHERE id = ?1", jf->id, jf->on,
	                  NULL) < 0 ||
	    mbx_db_commit(db) < 0) {
		mbx_db_rollback(db);
		mbx_job_fail(&jf->j, "index: %s", sqlite3_errmsg(db));
		return;
	}
	jf->j.status = 1;
}

static void
folder_job_run(struct mbx_job *j)
{
	struct job_folder *jf = (struct job_folder *)j;
	sqlite3 *db = j->u->db;

	switch (jf->op) {
	case FOP_CREATE:
		run_create(jf, db);
		break;
	case FOP_DELETE:
		run_delete(jf, db);
		break;
	case FOP_RENAME:
		run_rename(jf, db);
		break;
	case FOP_SUBSCRIBE:
		run_subscribe(jf, db);
		break;
	}
}

static void
folder_add_row(struct mailbox_user *u, struct mbx_folder_row *r, const char *name)
{
	struct mbx_folder *f = xcalloc(1, sizeof(*f));
	char path[MBX_PATH];

	f->u = u;
	f->id = r->id;
	f->name = xstrdup(name);
	if (mbx_folder_dir(u->dir, name, path, sizeof(path)) < 0)
		path[0] = '\0';
	f->path = xstrdup(path);
	f->uidvalidity = r->uidvalidity;
	f->uidnext = r->uidnext;
	f->highestmodseq = r->highestmodseq;
	f->special = r->special;
	f->next = u->folders;
	u->folders = f;
}

/* Memory follows a committed rename: the folder and its children. */
static void
rename_in_memory(struct mailbox_user *u, const char *from, const char *to)
{
	size_t flen = strlen(from);
	char name[2 * MAILBOX_MAX_NAME + 8], path[MBX_PATH];

	for (struct mbx_folder *f = u->folders; f != NULL; f = f->next) {
		if (strncmp(f->name, from, flen) != 0 ||
		    (f->name[flen] != '\0' && f->name[flen] != '/'))
			continue;
		snprintf(name, sizeof(name), "%s%s", to, f->name + flen);
		if (mbx_folder_dir(u->dir, name, path, sizeof(path)) < 0)
			continue;
		free(f->name);
		free(f->path);
		f->name = xstrdup(name);
		f->path = xstrdup(path);
	}
}

static void
folder_job_complete(struct mbx_job *j)
{
	struct job_folder *jf = (struct job_folder *)j;
	struct mailbox_user *u = j->u;
	struct mbx_folder *f = mbx_folder_by_id(u, jf->id);

	if (j->status == 1) {
		switch (jf->op) {
		case FOP_CREATE:
			folder_add_row(u, &jf->row, jf->name);
			break;
		case FOP_DELETE:
			if (f != NULL && f->views == NULL) {
				for (struct mbx_folder **pp = &u->folders; *pp != NULL;
				     pp = &(*pp)->next)
					if (*pp == f) {
						*pp = f->next;
						break;
					}
				mbx_folder_unload(f);
				free(f->name);
				free(f->path);
				free(f);
			}
			break;
		case FOP_RENAME:
			if (strcmp(jf->name, "INBOX") == 0) {
				folder_add_row(u, &jf->row, jf->to);
				if (f != NULL)
					f->highestmodseq++;
			} else {
				rename_in_memory(u, jf->name, jf->to);
			}
			break;
		case FOP_SUBSCRIBE:
			if (f != NULL)
				f->subscribed = jf->on;
			break;
		}
	}
	jf->done(jf->ctx, j->status, j->status < 0 ? j->err : NULL);
	free(jf);
}

/* ---- entry points ---- */

static struct job_folder *
folder_job(struct mailbox_user *u, enum fop op, const char *name, mailbox_done_fn *done, void *ctx)
{
	struct job_folder *jf = xcalloc(1, sizeof(*jf));

	jf->j.run = folder_job_run;
	jf->j.complete = folder_job_complete;
	jf->op = op;
	jf->done = done;
	jf->ctx = ctx;
	jf->id = -1;
	mbx_name_canon(name, jf->name, sizeof(jf->name));
	(void)u;
	return jf;
}

/* Fails a job before it runs, still through the queue: done is never
   called from inside the caller's mailbox_* call. */
static void
folder_job_refuse(struct mailbox_user *u, struct job_folder *jf, int status, const char *why)
{
	jf->j.status = status;
	if (why != NULL)
		snprintf(jf->j.err, sizeof(jf->j.err), "%s", why);
	jf->op = FOP_SUBSCRIBE; /* harmless: run is skipped below */
	jf->id = -1;
	jf->j.run = NULL;
	mbx_job_submit(u, &jf->j, NULL);
}

static bool
folder_busy(struct mailbox_user *u, const char *name)
{
	size_t n = strlen(name);

	for (struct mbx_folder *f = u->folders; f != NULL; f = f->next)
		if (f->views != NULL && strncmp(f->name, name, n) == 0 &&
		    (f->name[n] == '\0' || f->name[n] == '/'))
			return true;
	return false;
}

void
mailbox_create(struct mailbox_user *u, const char *name, mailbox_done_fn *done, void *ctx)
{
	struct job_folder *jf = folder_job(u, FOP_CREATE, name, done, ctx);
	const char *error;

	if (!mailbox_name_valid(jf->name, &error)) {
		folder_job_refuse(u, jf, -1, error);
		return;
	}
	if (mbx_folder_find(u, jf->name) != NULL) {
		folder_job_refuse(u, jf, -1, "mailbox already exists");
		return;
	}
	if (mbx_folder_dir(u->dir, jf->name, jf->path, sizeof(jf->path)) < 0) {
		folder_job_refuse(u, jf, -1, "mailbox name too long");
		return;
	}
	mbx_job_submit(u, &jf->j, NULL);
}

void
mailbox_delete(struct mailbox_user *u, const char *name, mailbox_done_fn *done, void *ctx)
{
	struct job_folder *jf = folder_job(u, FOP_DELETE, name, done, ctx);
	struct mbx_folder *f = mbx_folder_find(u, jf->name);

	if (f == NULL) {
		folder_job_refuse(u, jf, 0, "no such mailbox");
		return;
	}
	if (strcmp(f->name, "INBOX") == 0) {
		folder_job_refuse(u, jf, -1, "INBOX cannot be deleted");
		return;
	}
	if (f->views != NULL) {
		folder_job_refuse(u, jf, -1, "mailbox is in use");
		return;
	}
	jf->id = f->id;
	snprintf(jf->path, sizeof(jf->path), "%s", f->path);
	mbx_job_submit(u, &jf->j, NULL);
}

void
mailbox_rename(struct mailbox_user *u, const char *from, const char *to, mailbox_done_fn *done,
               void *ctx)
{
	struct job_folder *jf = folder_job(u, FOP_RENAME, from, done, ctx);
	struct mbx_folder *f = mbx_folder_find(u, jf->name);
	const char *error;
	size_t n = strlen(jf->name);

	mbx_name_canon(to, jf->to, sizeof(jf->to));
	if (f == NULL) {
		folder_job_refuse(u, jf, 0, "no such mailbox");
		return;
	}
	if (!mailbox_name_valid(jf->to, &error)) {
		folder_job_refuse(u, jf, -1, error);
		return;
	}
	if (mbx_folder_find(u, jf->to) != NULL || strcmp(jf->to, "INBOX") == 0) {
		folder_job_refuse(u, jf, -1, "mailbox already exists");
		return;
	}
	if (strncmp(jf->to, jf->name, n) == 0 && jf->to[n] == '/') {
		folder_job_refuse(u, jf, -1, "cannot rename a mailbox below itself");
		return;
	}
	if (folder_busy(u, jf->name)) {
		folder_job_refuse(u, jf, -1, "mailbox is in use");
		return;
	}
	jf->id = f->id;
	snprintf(jf->path, sizeof(jf->path), "%s", f->path);
	if (mbx_folder_dir(u->dir, jf->to, jf->topath, sizeof(jf->topath)) < 0) {
		folder_job_refuse(u, jf, -1, "mailbox name too long");
		return;
	}
	mbx_job_submit(u, &jf->j, NULL);
}

void
mailbox_subscribe(struct mailbox_user *u, const char *name, bool on, mailbox_done_fn *done,
                  void *ctx)
{
	struct job_folder *jf = folder_job(u, FOP_SUBSCRIBE, name, done, ctx);
	struct mbx_folder *f = mbx_folder_find(u, jf->name);

	if (f == NULL) {
		folder_job_refuse(u, jf, 0, "no such mailbox");
		return;
	}
	jf->id = f->id;
	jf->on = on;
	mbx_job_submit(u, &jf->j, NULL);
}
