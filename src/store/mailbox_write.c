/*
 * mailbox_write.c -- STORE, EXPUNGE, COPY and MOVE from a view.
 *
 * The pool side reads the current rows from the index (not from memory,
 * which may lag behind queued jobs), changes them in one transaction and
 * commits with synchronous=FULL; the loop side then applies the result to
 * the shared message array and pokes the other views. One new MODSEQ per
 * command (RFC 7162 3.1: messages changed by one command may share it).
 * Crash order:
 *   EXPUNGE: rows deleted and their files listed in `doomed`, committed;
 *     then the files unlinked and cur/ synced; then `doomed` cleared. A
 *     file left by a crash is deleted at the next load, never re-indexed.
 *   COPY/MOVE: the target names are first committed to `doomed` (an
 *     intent), then linked and synced, then one transaction adds the target
 *     rows, clears their intent and (MOVE) removes the source rows, dooming
 *     the source files; the source files are unlinked after. A crash
 *     before that commit leaves only doomed links (deleted at next load):
 *     never a message in both folders, never one in neither.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "store/mailbox_int.h"

struct chg {
	uint32_t uid;
	unsigned flags;
	uint64_t keywords;
};

struct job_write {
	struct mbx_job j; /* first */
	int64_t folder, dest;
	char path[MBX_PATH], dpath[MBX_PATH];
	uint32_t *uids; /* NULL: every \Deleted message (EXPUNGE) */
	size_t n;
	enum mailbox_flags_op op;
	unsigned flags;
	char **kw;
	size_t nkw;
	bool move;
	/* results */
	struct chg *chg; /* STORE */
	size_t nchg;
	uint64_t modseq; /* the source folder's new HIGHESTMODSEQ */
	uint32_t *gone;  /* EXPUNGE, MOVE: source UIDs removed */
	size_t ngone;
	uint32_t *src_uids, *dst_uids; /* COPY */
	size_t ncopied;
	struct mbx_folder_row drow;
	struct mbx_msg **dmsgs;
	size_t ndmsgs;
	char **keywords, **dkeywords;
	size_t nkeywords, ndkeywords;
	mailbox_done_fn *done;
	mailbox_copy_fn *copy_done;
	void *ctx;
};

static void
write_free(struct job_write *jw)
{
	free(jw->uids);
	mbx_strv_free(jw->kw, jw->nkw);
	free(jw->chg);
	free(jw->gone);
	free(jw->src_uids);
	free(jw->dst_uids);
	for (size_t i = 0; i < jw->ndmsgs; i++)
		mbx_msg_free(jw->dmsgs[i]);
	free(jw->dmsgs);
	mbx_strv_free(jw->keywords, jw->nkeywords);
	mbx_strv_free(jw->dkeywords, jw->ndkeywords);
	free(jw);
}

static void
write_db_fail(struct job_write *jw, sqlite3 *db)
{
	mbx_db_rollback(db);
	if (jw->j.err[0] != '\0')
		jw->j.status = -1; /* the reason is already there */
	else
		mbx_job_fail(&jw->j, "index: %s", sqlite3_errmsg(db));
}

/* ---- STORE ---- */

static unsigned
flags_apply(enum mailbox_flags_op op, unsigned old, unsigned set)
{
	switch (op) {
	case MAILBOX_FLAGS_SET:
		return set;
	case MAILBOX_FLAGS_ADD:
		return old | set;
	case MAILBOX_FLAGS_REMOVE:
		return old & ~set;
	}
	return old;
}

static uint64_t
kw_apply(enum mailbox_flags_op op, uint64_t old, uint64_t set)
{
	return op == MAILBOX_FLAGS_SET ? set : op == MAILBOX_FLAGS_ADD ? old | set : old & ~set;
}

static int
store_rows(struct job_write *jw, sqlite3 *db, uint64_t mask)
{
	sqlite3_stmt *sel = mbx_db_prep(db, "SELECT flags, keywords FROM messages"
	                                    " WHERE folder = ?1 AND uid = ?2");
	sqlite3_stmt *upd = mbx_db_prep(db, "UPDATE messages SET flags = ?3, keywords = ?4,"
	                                    " modseq = ?5 WHERE folder = ?1 AND uid = ?2");
	int rc = 0;

	jw->chg = xcalloc(jw->n + 1, sizeof(*jw->chg));
	for (size_t i = 0; i < jw->n && sel != NULL && upd != NULL; i++) {
		unsigned of, nf;
		uint64_t ok, nk;

		sqlite3_reset(sel);
		sqlite3_bind_int64(sel, 1, jw->folder);
		sqlite3_bind_int64(sel, 2, jw->uids[i]);
		if (sqlite3_step(sel) != SQLITE_ROW)
			continue; /* absent UIDs are skipped */
		of = (unsigned)sqlite3_column_int(sel, 0);
		ok = (uint64_t)sqlite3_column_int64(sel, 1);
		nf = flags_apply(jw->op, of, jw->flags);
		nk = kw_apply(jw->op, ok, mask);
		if (nf == of && nk == ok)
			continue;
		sqlite3_reset(upd);
		sqlite3_bind_int64(upd, 1, jw->folder);
		sqlite3_bind_int64(upd, 2, jw->uids[i]);
		sqlite3_bind_int(upd, 3, (int)nf);
		sqlite3_bind_int64(upd, 4, (sqlite3_int64)nk);
		sqlite3_bind_int64(upd, 5, (sqlite3_int64)jw->modseq);
		if (sqlite3_step(upd) != SQLITE_DONE) {
			rc = -1;
			break;
		}
		jw->chg[jw->nchg++] = (struct chg){jw->uids[i], nf, nk};
	}
	if (sel == NULL || upd == NULL)
		rc = -1;
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc;
}

static void
store_run(struct mbx_job *j)
{
	struct job_write *jw = (struct job_write *)j;
	sqlite3 *db = j->u->db;
	struct mbx_folder_row r;
	uint64_t mask;
	int rc;

	if (mbx_db_begin(db) < 0 || (rc = mbx_index_folder_get(db, jw->folder, &r)) < 0)
		goto fail;
	if (rc == 0) {
		mbx_db_rollback(db);
		return;
	}
	jw->modseq = r.highestmodseq + 1;
	if (mbx_index_keyword_mask(db, jw->folder, (const char *const *)jw->kw, jw->nkw,
	                           jw->op != MAILBOX_FLAGS_REMOVE, &mask, j->err,
	                           sizeof(j->err)) < 0 ||
	    store_rows(jw, db, mask) < 0)
		goto fail;
	if (jw->nchg == 0)
		jw->modseq = r.highestmodseq;
	else if (mbx_index_folder_set(db, jw->folder, r.uidnext, jw->modseq) < 0)
		goto fail;
	if (mbx_db_commit(db) < 0)
		goto fail;
	jw->keywords = mbx_index_keywords(db, jw->folder, &jw->nkeywords);
	j->status = 1;
	return;
fail:
	write_db_fail(jw, db);
}

static void
store_complete(struct mbx_job *j)
{
	struct job_write *jw = (struct job_write *)j;
	struct mbx_folder *f = mbx_folder_by_id(j->u, jw->folder);

	if (j->status == 1 && f != NULL && f->loaded) {
		bool current = j->v != NULL && j->v->synced_modseq >= f->highestmodseq;

		for (size_t i = 0; i < jw->nchg; i++) {
			struct mbx_msg *m = mbx_folder_msg_by_uid(f, jw->chg[i].uid);

			if (m == NULL)
				continue;
			m->m.flags = jw->chg[i].flags;
			m->m.keywords = jw->chg[i].keywords;
			m->m.modseq = jw->modseq;
			mbx_folder_changed(f, m->m.uid, jw->modseq);
		}
		mbx_folder_keywords(f, &jw->keywords, &jw->nkeywords);
		if (jw->modseq > f->highestmodseq)
			f->highestmodseq = jw->modseq;
		/* The session reports its own changes itself: a view that was up
		   to date stays so, and is not told again at its sync. */
		if (current)
			j->v->synced_modseq = f->highestmodseq;
		if (jw->nchg > 0)
			mbx_folder_poke(f, j->v);
	} else if (j->status == 1 && f != NULL && jw->modseq > f->highestmodseq) {
		f->highestmodseq = jw->modseq;
	}
	jw->done(jw->ctx, j->status, j->status < 0 ? j->err : NULL);
	write_free(jw);
}

/* ---- EXPUNGE ---- */

struct gone_file {
	uint32_t uid;
	char *file;
};

/* The \Deleted rows to expunge, UID order. */
static struct gone_file *
expunge_select(struct job_write *jw, sqlite3 *db, size_t *n_r)
{
	sqlite3_stmt *q = mbx_db_prep(
	        db, jw->uids == NULL ? "SELECT uid, file FROM messages WHERE folder = ?1"
	                               " AND (flags & 8) != 0 AND uid >= ?2 ORDER BY uid"
	                             : "SELECT uid, file FROM messages WHERE folder = ?1"
	                               " AND (flags & 8) != 0 AND uid = ?2");
	struct gone_file *v = NULL;
	size_t n = 0, cap = 0, rounds = jw->uids == NULL ? 1 : jw->n;

	*n_r = 0;
	if (q == NULL)
		return NULL;
	for (size_t i = 0; i < rounds; i++) {
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, jw->folder);
		sqlite3_bind_int64(q, 2, jw->uids == NULL ? 0 : jw->uids[i]);
		while (sqlite3_step(q) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n].uid = (uint32_t)sqlite3_column_int64(q, 0);
			v[n++].file = xstrdup((const char *)sqlite3_column_text(q, 1));
		}
	}
	sqlite3_finalize(q);
	*n_r = n;
	return v;
}

/* Removes rows (and cache) and dooms their files, in the open transaction. */
static int
rows_remove(sqlite3 *db, int64_t folder, const struct gone_file *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (mbx_index_run(db, "DELETE FROM messages WHERE folder = ?1 AND uid = ?2", folder,
		                  g[i].uid, NULL) < 0 ||
		    mbx_index_run(db, "DELETE FROM cache WHERE folder = ?1 AND uid = ?2", folder,
		                  g[i].uid, NULL) < 0 ||
		    mbx_index_run(db, "INSERT OR IGNORE INTO doomed(folder, file) VALUES (?1, ?3)",
		                  folder, 0, g[i].file) < 0)
			return -1;
	return 0;
}

/* After the commit: the doomed files go, then their doom records. */
static void
files_remove(sqlite3 *db, int64_t folder, const char *path, const struct gone_file *g, size_t n)
{
	char p[MBX_PATH];

	for (size_t i = 0; i < n; i++) {
		mbx_path(p, sizeof(p), "%s/cur/%s", path, g[i].file);
		unlink(p);
	}
	mbx_path(p, sizeof(p), "%s/cur", path);
	if (n == 0 || mbx_fsync_dir(p) < 0 || mbx_db_begin_lazy(db) < 0)
		return; /* still doomed: the next load finishes the job */
	for (size_t i = 0; i < n; i++)
		mbx_index_run(db, "DELETE FROM doomed WHERE folder = ?1 AND file = ?3", folder, 0,
		              g[i].file);
	mbx_db_commit(db);
}

static void
gone_free(struct gone_file *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i].file);
	free(g);
}

static void
expunge_run(struct mbx_job *j)
{
	struct job_write *jw = (struct job_write *)j;
	sqlite3 *db = j->u->db;
	struct mbx_folder_row r;
	struct gone_file *g = NULL;
	size_t n = 0;
	int rc;

	if (mbx_db_begin(db) < 0 || (rc = mbx_index_folder_get(db, jw->folder, &r)) < 0)
		goto fail;
	if (rc == 0) {
		mbx_db_rollback(db);
		return;
	}
	g = expunge_select(jw, db, &n);
	jw->modseq = r.highestmodseq + (n > 0);
	if (rows_remove(db, jw->folder, g, n) < 0 ||
	    (n > 0 && mbx_index_folder_set(db, jw->folder, r.uidnext, jw->modseq) < 0) ||
	    mbx_db_commit(db) < 0)
		goto fail;
	files_remove(db, jw->folder, jw->path, g, n);
	jw->gone = xcalloc(n + 1, sizeof(*jw->gone));
	for (size_t i = 0; i < n; i++)
		jw->gone[jw->ngone++] = g[i].uid;
	gone_free(g, n);
	j->status = 1;
	return;
fail:
	gone_free(g, n);
	write_db_fail(jw, db);
}

/* Memory follows a removal from the source folder. */
static void
apply_gone(struct job_write *jw, struct mbx_folder *f)
{
	if (f == NULL)
		return;
	if (jw->modseq > f->highestmodseq)
		f->highestmodseq = jw->modseq;
	if (!f->loaded || jw->ngone == 0)
		return;
	mbx_folder_expunged(f, jw->gone, jw->ngone);
	mbx_folder_poke(f, jw->j.v);
}

static void
expunge_complete(struct mbx_job *j)
{
	struct job_write *jw = (struct job_write *)j;

	if (j->status == 1)
		apply_gone(jw, mbx_folder_by_id(j->u, jw->folder));
	jw->done(jw->ctx, j->status, j->status < 0 ? j->err : NULL);
	write_free(jw);
}

/* ---- COPY and MOVE ---- */

struct copy_src {
	struct mbx_msg *m; /* the source row */
	char dfile[400];   /* its name in the destination */
	bool linked;
};

static struct copy_src *
copy_select(struct job_write *jw, sqlite3 *db, size_t *n_r)
{
	struct copy_src *v = xcalloc(jw->n + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < jw->n; i++) {
		size_t k;
		int rc;
		struct mbx_msg **one =
		        mbx_index_msgs(db, jw->folder, jw->uids[i], jw->uids[i], &k, &rc);

		if (one != NULL && k > 0 && one[0]->m.uid == jw->uids[i]) {
			v[n++].m = one[0];
			one[0] = NULL;
		}
		for (size_t x = 0; x < k; x++)
			mbx_msg_free(one[x]);
		free(one);
	}
	*n_r = n;
	return v;
}

/* The source's keyword names of a mask, and their destination mask. */
static uint64_t
copy_keywords(struct job_write *jw, sqlite3 *db, uint64_t src_mask)
{
	const char *names[MAILBOX_MAX_KEYWORDS];
	size_t n = 0;
	uint64_t mask = 0;
	char err[128];

	for (size_t k = 0; k < jw->nkeywords && k < MAILBOX_MAX_KEYWORDS; k++)
		if (src_mask & (UINT64_C(1) << k))
			names[n++] = jw->keywords[k];
	/* Past the destination's limit a keyword is dropped, not the copy. */
	if (n > 0 &&
	    mbx_index_keyword_mask(db, jw->dest, names, n, true, &mask, err, sizeof(err)) < 0)
		mbx_index_keyword_mask(db, jw->dest, names, n, false, &mask, err, sizeof(err));
	return mask;
}

/* Intent, then links: after this every target file exists and is doomed. */
static int
copy_link(struct job_write *jw, sqlite3 *db, struct copy_src *v, size_t n)
{
	char src[MBX_PATH], cur[MBX_PATH];

	if (mbx_db_begin(db) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char base[300];

		mbx_unique_name(jw->j.u->ms, base, sizeof(base));
		snprintf(v[i].dfile, sizeof(v[i].dfile), "%s,S=%llu:2,", base,
		         (unsigned long long)v[i].m->m.size);
		if (mbx_index_run(db, "INSERT OR IGNORE INTO doomed(folder, file) VALUES (?1, ?3)",
		                  jw->dest, 0, v[i].dfile) < 0)
			return -1;
	}
	if (mbx_db_commit(db) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char dst[MBX_PATH];

		mbx_path(src, sizeof(src), "%s/cur/%s", jw->path, v[i].m->file);
		mbx_path(dst, sizeof(dst), "%s/cur/%s", jw->dpath, v[i].dfile);
		if (link(src, dst) < 0) {
			mbx_job_fail(&jw->j, "link %s: %s", src, strerror(errno));
			return -1;
		}
		v[i].linked = true;
	}
	mbx_path(cur, sizeof(cur), "%s/cur", jw->dpath);
	if (mbx_fsync_dir(cur) < 0) {
		mbx_job_fail(&jw->j, "fsync %s: %s", cur, strerror(errno));
		return -1;
	}
	return 0;
}

static int
copy_row(struct job_write *jw, sqlite3 *db, struct copy_src *c, uint32_t uid, uint64_t modseq)
{
	sqlite3_stmt *ins = mbx_db_prep(db, "INSERT INTO messages(folder, uid, file, flags,"
	                                    " keywords, modseq, internaldate, tz, size)"
	                                    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)");
	struct mbx_msg *d;
	int rc;

	if (ins == NULL)
		return -1;
	d = xcalloc(1, sizeof(*d));
	d->m = c->m->m;
	d->m.uid = uid;
	d->m.modseq = modseq;
	d->m.keywords = copy_keywords(jw, db, c->m->m.keywords);
	d->file = xstrdup(c->dfile);
	jw->dmsgs[jw->ndmsgs++] = d;
	sqlite3_bind_int64(ins, 1, jw->dest);
	sqlite3_bind_int64(ins, 2, uid);
	sqlite3_bind_text(ins, 3, d->file, -1, SQLITE_STATIC);
	sqlite3_bind_int(ins, 4, (int)d->m.flags);
	sqlite3_bind_int64(ins, 5, (sqlite3_int64)d->m.keywords);
	sqlite3_bind_int64(ins, 6, (sqlite3_int64)modseq);
	sqlite3_bind_int64(ins, 7, d->m.internaldate);
	sqlite3_bind_int(ins, 8, d->m.internaldate_tz);
	sqlite3_bind_int64(ins, 9, (sqlite3_int64)d->m.size);
	rc = sqlite3_step(ins);
	sqlite3_finalize(ins);
	if (rc != SQLITE_DONE ||
	    mbx_index_run(db, "DELETE FROM doomed WHERE folder = ?1 AND file = ?3", jw->dest, 0,
	                  c->dfile) < 0)
		return -1;
	/* The cached renderings describe the same bytes. */
	sqlite3_stmt *cc = mbx_db_prep(db, "INSERT OR REPLACE INTO cache(folder, uid, field, value)"
	                                   " SELECT ?1, ?2, field, value FROM cache"
	                                   " WHERE folder = ?3 AND uid = ?4");
	if (cc == NULL)
		return -1;
	sqlite3_bind_int64(cc, 1, jw->dest);
	sqlite3_bind_int64(cc, 2, uid);
	sqlite3_bind_int64(cc, 3, jw->folder);
	sqlite3_bind_int64(cc, 4, c->m->m.uid);
	rc = sqlite3_step(cc);
	sqlite3_finalize(cc);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The one transaction that makes the copy (and the move) happen. */
static int
copy_commit(struct job_write *jw, sqlite3 *db, struct copy_src *v, size_t n, struct gone_file *g)
{
	struct mbx_folder_row sr;
	int rc;

	if (mbx_db_begin(db) < 0 || mbx_index_folder_get(db, jw->folder, &sr) < 0 ||
	    (rc = mbx_index_folder_get(db, jw->dest, &jw->drow)) < 0)
		return -1;
	if (rc == 0) {
		snprintf(jw->j.err, sizeof(jw->j.err), "[TRYCREATE] no such mailbox");
		return -1;
	}
	jw->dmsgs = xcalloc(n + 1, sizeof(*jw->dmsgs));
	jw->src_uids = xcalloc(n + 1, sizeof(uint32_t));
	jw->dst_uids = xcalloc(n + 1, sizeof(uint32_t));
	for (size_t i = 0; i < n; i++) {
		if (copy_row(jw, db, &v[i], jw->drow.uidnext, jw->drow.highestmodseq + 1) < 0)
			return -1;
		jw->src_uids[jw->ncopied] = v[i].m->m.uid;
		jw->dst_uids[jw->ncopied++] = jw->drow.uidnext++;
		g[i] = (struct gone_file){v[i].m->m.uid, v[i].m->file};
	}
	jw->drow.highestmodseq++;
	if (mbx_index_folder_set(db, jw->dest, jw->drow.uidnext, jw->drow.highestmodseq) < 0)
		return -1;
	jw->modseq = sr.highestmodseq;
	if (jw->move) {
		/* Same folder: the destination's counters are the source's. */
		if (jw->dest == jw->folder)
			sr = jw->drow;
		jw->modseq = sr.highestmodseq + 1;
		if (rows_remove(db, jw->folder, g, n) < 0 ||
		    mbx_index_folder_set(db, jw->folder, sr.uidnext, jw->modseq) < 0)
			return -1;
		if (jw->dest == jw->folder)
			jw->drow.highestmodseq = jw->modseq;
	}
	return mbx_db_commit(db);
}

static void
copy_run(struct mbx_job *j)
{
	struct job_write *jw = (struct job_write *)j;
	sqlite3 *db = j->u->db;
	size_t n;
	struct copy_src *v = copy_select(jw, db, &n);
	struct gone_file *g = xcalloc(n + 1, sizeof(*g));

	jw->keywords = mbx_index_keywords(db, jw->folder, &jw->nkeywords);
	if (n > 0 && (copy_link(jw, db, v, n) < 0 || copy_commit(jw, db, v, n, g) < 0)) {
		write_db_fail(jw, db);
		/* Doomed links: removed now, or at the next load. */
		for (size_t i = 0; i < n; i++) {
			char p[MBX_PATH];

			mbx_path(p, sizeof(p), "%s/cur/%s", jw->dpath, v[i].dfile);
			if (v[i].linked)
				unlink(p);
		}
	} else {
		if (n > 0 && jw->move)
			files_remove(db, jw->folder, jw->path, g, n);
		jw->gone = xcalloc(n + 1, sizeof(uint32_t));
		for (size_t i = 0; jw->move && i < n; i++)
			jw->gone[jw->ngone++] = v[i].m->m.uid;
		jw->dkeywords = mbx_index_keywords(db, jw->dest, &jw->ndkeywords);
		if (n == 0 && mbx_index_folder_get(db, jw->dest, &jw->drow) <= 0)
			mbx_job_fail(j, "[TRYCREATE] no such mailbox");
		if (j->status == 0)
			j->status = 1;
	}
	for (size_t i = 0; i < n; i++)
		mbx_msg_free(v[i].m);
	free(v);
	free(g);
}

static void
copy_complete(struct mbx_job *j)
{
	struct job_write *jw = (struct job_write *)j;
	struct mbx_folder *d = mbx_folder_by_id(j->u, jw->dest);

	if (j->status == 1 && d != NULL) {
		d->uidnext = jw->drow.uidnext;
		if (jw->drow.highestmodseq > d->highestmodseq)
			d->highestmodseq = jw->drow.highestmodseq;
		if (d->loaded) {
			mbx_folder_keywords(d, &jw->dkeywords, &jw->ndkeywords);
			mbx_folder_merge(d, jw->dmsgs, jw->ndmsgs);
			if (jw->ndmsgs > 0)
				mbx_folder_poke(d, NULL);
		}
	}
	if (j->status == 1)
		apply_gone(jw, mbx_folder_by_id(j->u, jw->folder));
	jw->copy_done(jw->ctx, j->status, j->status < 0 ? j->err : NULL, jw->drow.uidvalidity,
	              jw->src_uids, jw->dst_uids, jw->ncopied);
	write_free(jw);
}

/* ---- entry points ---- */

static struct job_write *
write_job(struct mailbox_view *v, const uint32_t *uids, size_t n)
{
	struct job_write *jw = xcalloc(1, sizeof(*jw));

	jw->folder = v->f->id;
	snprintf(jw->path, sizeof(jw->path), "%s", v->f->path);
	/* NULL uids: nothing for STORE and COPY, every \Deleted for EXPUNGE. */
	if (uids != NULL) {
		jw->uids = xcalloc(n + 1, sizeof(*uids));
		memcpy(jw->uids, uids, n * sizeof(*uids));
		jw->n = n;
	}
	return jw;
}

/* A refusal still goes through the queue (done never runs inside the
   caller's call). */
static void
write_refuse(struct mailbox_view *v, struct job_write *jw, const char *why)
{
	jw->j.run = NULL;
	jw->j.status = -1;
	snprintf(jw->j.err, sizeof(jw->j.err), "%s", why);
	mbx_job_submit(v->f->u, &jw->j, v);
}

void
mailbox_view_store(struct mailbox_view *v, const uint32_t *uids, size_t n, enum mailbox_flags_op op,
                   unsigned flags, const char *const *keywords, size_t nkeywords,
                   mailbox_done_fn *done, void *ctx)
{
	struct job_write *jw = write_job(v, uids, n);

	jw->j.run = store_run;
	jw->j.complete = store_complete;
	jw->done = done;
	jw->ctx = ctx;
	jw->op = op;
	jw->flags = flags & (MAILBOX_F_SEEN | MAILBOX_F_ANSWERED | MAILBOX_F_FLAGGED |
	                     MAILBOX_F_DELETED | MAILBOX_F_DRAFT);
	jw->kw = xcalloc(nkeywords + 1, sizeof(char *));
	for (size_t i = 0; i < nkeywords; i++)
		jw->kw[i] = xstrdup(keywords[i]);
	jw->nkw = nkeywords;
	if (v->readonly) {
		write_refuse(v, jw, "mailbox is read-only");
		return;
	}
	mbx_job_submit(v->f->u, &jw->j, v);
}

void
mailbox_view_expunge(struct mailbox_view *v, const uint32_t *uids, size_t n, mailbox_done_fn *done,
                     void *ctx)
{
	struct job_write *jw = write_job(v, uids, n);

	jw->j.run = expunge_run;
	jw->j.complete = expunge_complete;
	jw->done = done;
	jw->ctx = ctx;
	if (v->readonly) {
		write_refuse(v, jw, "mailbox is read-only");
		return;
	}
	mbx_job_submit(v->f->u, &jw->j, v);
}

void
mailbox_view_copy(struct mailbox_view *v, const uint32_t *uids, size_t n, const char *dest,
                  bool move, mailbox_copy_fn *done, void *ctx)
{
	struct job_write *jw = write_job(v, uids, n);
	struct mbx_folder *d = mbx_folder_find(v->f->u, dest);

	jw->j.run = copy_run;
	jw->j.complete = copy_complete;
	jw->copy_done = done;
	jw->ctx = ctx;
	jw->move = move;
	if (d == NULL) {
		write_refuse(v, jw, "[TRYCREATE] no such mailbox");
		return;
	}
	if (move && v->readonly) {
		write_refuse(v, jw, "mailbox is read-only");
		return;
	}
	jw->dest = d->id;
	snprintf(jw->dpath, sizeof(jw->dpath), "%s", d->path);
	mbx_job_submit(v->f->u, &jw->j, v);
}
