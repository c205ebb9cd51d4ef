/*
 * mailbox_append.c -- APPEND: a new message file and its index row.
 *
 * Order (each step durable before the next): write FOLDER/tmp/NAME and
 * fsync it; link it as FOLDER/cur/NAME:2, and fsync cur/; remove the temp
 * name; commit the index row (synchronous=FULL); then done(1). A crash
 * before the commit leaves an unindexed file in cur/, which the next load
 * of the folder picks up (the client never saw OK and may append again,
 * as with any server); a failed commit removes the file.
 * Limits: the engine bounds the literal size before calling.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/wfile.h"
#include "base/xalloc.h"
#include "store/mailbox_int.h"

struct job_append {
	struct mbx_job j; /* first */
	int64_t folder;
	char path[MBX_PATH];
	void *data;
	size_t len;
	unsigned flags;
	char **kw;
	size_t nkw;
	int64_t date;
	int tz;
	/* results */
	struct mbx_folder_row row; /* after the append */
	struct mbx_msg *msg;
	char **keywords; /* the folder's keyword list after */
	size_t nkeywords;
	mailbox_append_fn *done;
	void *ctx;
};

/* tmp/, fsync, link into cur/, fsync cur/. 0 or -1 (job failed). */
static int
append_file(struct job_append *ja, char *file, size_t size)
{
	char base[300], tmp[MBX_PATH], dst[MBX_PATH], cur[MBX_PATH];
	int fd, rc;

	mbx_unique_name(ja->j.u->ms, base, sizeof(base));
	mbx_path(tmp, sizeof(tmp), "%s/tmp/%s", ja->path, base);
	snprintf(file, size, "%s,S=%zu:2,", base, ja->len);
	mbx_path(dst, sizeof(dst), "%s/cur/%s", ja->path, file);
	mbx_path(cur, sizeof(cur), "%s/cur", ja->path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		mbx_job_fail(&ja->j, "create %s: %s", tmp, strerror(errno));
		return -1;
	}
	rc = write_all(fd, ja->data, ja->len) < 0 || fsync(fd) < 0 ? -1 : 0;
	if (rc < 0)
		mbx_job_fail(&ja->j, "write %s: %s", tmp, strerror(errno));
	close(fd);
	if (rc == 0 && (link(tmp, dst) < 0 || mbx_fsync_dir(cur) < 0)) {
		mbx_job_fail(&ja->j, "link %s: %s", dst, strerror(errno));
		unlink(dst);
		rc = -1;
	}
	unlink(tmp);
	return rc;
}

static int
append_index(struct job_append *ja, sqlite3 *db, const char *file)
{
	sqlite3_stmt *ins;
	uint64_t mask;
	int rc;

	if (mbx_db_begin(db) < 0)
		return -1;
	if ((rc = mbx_index_folder_get(db, ja->folder, &ja->row)) <= 0) {
		mbx_db_rollback(db);
		if (rc == 0)
			ja->j.status = 0;
		return -1;
	}
	if (mbx_index_keyword_mask(db, ja->folder, (const char *const *)ja->kw, ja->nkw, true,
	                           &mask, ja->j.err, sizeof(ja->j.err)) < 0)
		goto fail;
	ins = mbx_db_prep(db, "INSERT INTO messages(folder, uid, file, flags, keywords, modseq,"
	                      " internaldate, tz, size) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)");
	if (ins == NULL)
		goto fail;
	ja->msg = xcalloc(1, sizeof(*ja->msg));
	ja->msg->m = (struct mailbox_msg){.uid = ja->row.uidnext,
	                                  .flags = ja->flags,
	                                  .keywords = mask,
	                                  .modseq = ja->row.highestmodseq + 1,
	                                  .internaldate = ja->date,
	                                  .internaldate_tz = ja->tz,
	                                  .size = ja->len};
	ja->msg->file = xstrdup(file);
	sqlite3_bind_int64(ins, 1, ja->folder);
	sqlite3_bind_int64(ins, 2, ja->msg->m.uid);
	sqlite3_bind_text(ins, 3, file, -1, SQLITE_STATIC);
	sqlite3_bind_int(ins, 4, (int)ja->flags);
	sqlite3_bind_int64(ins, 5, (sqlite3_int64)mask);
	sqlite3_bind_int64(ins, 6, (sqlite3_int64)ja->msg->m.modseq);
	sqlite3_bind_int64(ins, 7, ja->date);
	sqlite3_bind_int(ins, 8, ja->tz);
	sqlite3_bind_int64(ins, 9, (sqlite3_int64)ja->len);
	rc = sqlite3_step(ins);
	sqlite3_finalize(ins);
	ja->row.uidnext++;
	ja->row.highestmodseq++;
	if (rc != SQLITE_DONE ||
	    mbx_index_folder_set(db, ja->folder, ja->row.uidnext, ja->row.highestmodseq) < 0 ||
	    mbx_db_commit(db) < 0)
		goto fail;
	ja->keywords = mbx_index_keywords(db, ja->folder, &ja->nkeywords);
	return 0;
fail:
	mbx_db_rollback(db);
	if (ja->j.err[0] != '\0')
		ja->j.status = -1; /* the reason is already there */
	else
		mbx_job_fail(&ja->j, "index: %s", sqlite3_errmsg(db));
	return -1;
}

static void
append_run(struct mbx_job *j)
{
	struct job_append *ja = (struct job_append *)j;
	char file[400], p[MBX_PATH];

	if (append_file(ja, file, sizeof(file)) < 0)
		return;
	if (append_index(ja, j->u->db, file) < 0) {
		/* Not in the index: the file must not turn up later. */
		mbx_path(p, sizeof(p), "%s/cur/%s", ja->path, file);
		unlink(p);
		return;
	}
	j->status = 1;
}

static void
append_complete(struct mbx_job *j)
{
	struct job_append *ja = (struct job_append *)j;
	struct mbx_folder *f = mbx_folder_by_id(j->u, ja->folder);

	if (j->status == 1 && f != NULL) {
		f->uidnext = ja->row.uidnext;
		f->highestmodseq = ja->row.highestmodseq;
		if (f->loaded) {
			mbx_folder_keywords(f, &ja->keywords, &ja->nkeywords);
			mbx_folder_merge(f, &ja->msg, 1);
			ja->msg = NULL;
			mbx_folder_poke(f, NULL);
		}
	}
	ja->done(ja->ctx, j->status, j->status < 0 ? j->err : NULL, ja->row.uidvalidity,
	         j->status == 1 ? ja->row.uidnext - 1 : 0);
	mbx_msg_free(ja->msg);
	mbx_strv_free(ja->keywords, ja->nkeywords);
	mbx_strv_free(ja->kw, ja->nkw);
	free(ja->data);
	free(ja);
}

void
mailbox_append(struct mailbox_user *u, const char *name, const void *data, size_t len,
               unsigned flags, const char *const *keywords, size_t nkeywords, int64_t internaldate,
               int tz_minutes, mailbox_append_fn *done, void *ctx)
{
	struct job_append *ja = xcalloc(1, sizeof(*ja));
	struct mbx_folder *f = mbx_folder_find(u, name);

	ja->j.run = append_run;
	ja->j.complete = append_complete;
	ja->done = done;
	ja->ctx = ctx;
	if (f == NULL) {
		/* Refused in the queue: done never runs inside this call. */
		ja->j.run = NULL;
		snprintf(ja->j.err, sizeof(ja->j.err), "no such mailbox");
		mbx_job_submit(u, &ja->j, NULL);
		return;
	}
	ja->folder = f->id;
	snprintf(ja->path, sizeof(ja->path), "%s", f->path);
	ja->data = xmalloc(len > 0 ? len : 1);
	memcpy(ja->data, data, len);
	ja->len = len;
	ja->flags = flags & (MAILBOX_F_SEEN | MAILBOX_F_ANSWERED | MAILBOX_F_FLAGGED |
	                     MAILBOX_F_DELETED | MAILBOX_F_DRAFT);
	ja->kw = xcalloc(nkeywords + 1, sizeof(char *));
	for (size_t i = 0; i < nkeywords; i++)
		ja->kw[i] = xstrdup(keywords[i]);
	ja->nkw = nkeywords;
	ja->date = internaldate != 0 ? internaldate : (int64_t)time(NULL);
	ja->tz = tz_minutes;
	mbx_job_submit(u, &ja->j, NULL);
}
