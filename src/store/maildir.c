/*
 * maildir.c -- durable Maildir delivery with group commit.
 *
 * Loop thread: maildir_tx_begin/write/add_rcpt/commit (cheap: one openat,
 * buffered writes, one cached SQLite lookup per recipient).
 * Committer thread: takes every pending commit at once and, for the batch,
 *   1. writes what is buffered, then one syncfs(): every temp file durable;
 *   2. link()s each into every recipient's new/ (creating a missing Maildir);
 *   3. one more syncfs(): every new directory entry durable;
 *   4. unlink()s the temp files;
 * then hands the batch back to the loop with uv_async_send(). Data is
 * durable before any name points to it, so a crash never exposes a partial
 * file; a name is durable before done(1), so a 250 is never premature.
 * Why syncfs() and not fdatasync() per file: see batch_barrier().
 * Security: recipients' paths come from validated, lower-cased addresses
 * (store_user_maildir); temp files are O_EXCL, 0600, under data_dir/tmp.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/wfile.h"
#include "base/wfile_prefix.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "ev/ev_batch.h"
#include "store/maildir.h"
#include "store/store_int.h"

#define PATH_MAX_LEN 4096

struct maildir_tx {
	struct ev_batch_job link; /* first: the committer's lists */
	struct store *s;
	struct wfile w; /* the temp file */
	char name[256]; /* "<sec>.M<usec>P<pid>Q<seq>.<host>": temp name and Maildir base */
	struct wfile_prefix prefix; /* maildir_tx_set_prefix() */
	char **dirs; /* recipients' Maildirs (a folder's, after set_folder) */
	size_t ndirs, capdirs;
	size_t nlinked; /* links made so far (to undo on failure) */
	maildir_done_fn *done;
	void *ctx;
	int status;
	char err[PATH_MAX_LEN + 64];
};

static struct maildir_tx *
tx_next(const struct maildir_tx *tx)
{
	return (struct maildir_tx *)tx->link.next;
}


/* Unique per process across stores and threads (Maildir "Q" part). */
static atomic_ulong maildir_seq;

/* ---- helpers ---- */

static void
tx_fail(struct maildir_tx *tx, const char *what, const char *path, int errnum)
{
	if (tx->status < 0)
		return; /* keep the first reason */
	tx->status = -1;
	snprintf(tx->err, sizeof(tx->err), "%s %s: %s", what, path, strerror(errnum));
}

static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, saved;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* mkdir; 1 created, 0 was there, -1 error. */
static int
mkdir_new(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 1;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return -1;
}

int
maildir_create(const char *dir)
{
	static const char *const subs[] = {"cur", "new", "tmp"};
	char parent[PATH_MAX_LEN], grand[PATH_MAX_LEN], sub[PATH_MAX_LEN];
	char *slash;
	int rc, changed = 0;

	snprintf(parent, sizeof(parent), "%s", dir);
	if ((slash = strrchr(parent, '/')) == NULL)
		return errno = EINVAL, -1;
	*slash = '\0';
	snprintf(grand, sizeof(grand), "%s", parent);
	if ((slash = strrchr(grand, '/')) != NULL)
		*slash = '\0';
	/* A new entry is durable only once its parent directory is synced. */
	if ((rc = mkdir_new(parent)) < 0 || (rc == 1 && fsync_dir(grand) < 0))
		return -1;
	if ((rc = mkdir_new(dir)) < 0 || (rc == 1 && fsync_dir(parent) < 0))
		return -1;
	for (size_t i = 0; i < nitems(subs); i++) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, subs[i]);
		if ((rc = mkdir_new(sub)) < 0)
			return -1;
		changed |= rc;
	}
	/* A Maildir++ sub-folder (".Junk") carries an empty marker file. */
	slash = strrchr(dir, '/');
	if (changed && slash != NULL && slash[1] == '.') {
		int fd;

		snprintf(sub, sizeof(sub), "%s/maildirfolder", dir);
		if ((fd = open(sub, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
			close(fd);
	}
	return changed ? fsync_dir(dir) : 0;
}

int
maildir_clean_tmp(struct store *s)
{
	int dfd = dup(s->tmp_fd), n = 0;
	struct dirent *de;
	DIR *d;

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (fstatat(s->tmp_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(s->tmp_fd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		log_info("event=store-cleanup removed=%d dir=%s/tmp", n, s->data_dir);
	return n;
}

/* ---- loop-thread API ---- */

struct maildir_tx *
maildir_tx_begin(struct store *s, const char **error_r)
{
	static _Thread_local char err[PATH_MAX_LEN + 64];
	struct maildir_tx *tx = xcalloc(1, sizeof(*tx));
	struct timeval tv;
	int fd;

	gettimeofday(&tv, NULL);
	snprintf(tx->name, sizeof(tx->name), "%lld.M%ldP%ldQ%lu.%s", (long long)tv.tv_sec,
	         (long)tv.tv_usec, (long)getpid(), atomic_fetch_add(&maildir_seq, 1) + 1, s->host);
	fd = openat(s->tmp_fd, tx->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, sizeof(err), "create %s/tmp/%s: %s", s->data_dir, tx->name,
		         strerror(errno));
		*error_r = err;
		free(tx);
		return NULL;
	}
	tx->s = s;
	wfile_init(&tx->w, fd);
	wfile_prefix_init(&tx->prefix, MAILDIR_MAX_PREFIX);
	return tx;
}

int
maildir_tx_write(struct maildir_tx *tx, const void *p, size_t n)
{
	return wfile_write(&tx->w, p, n);
}

int
maildir_tx_add_rcpt(struct maildir_tx *tx, const char *address)
{
	char dir[PATH_MAX_LEN];

	if (tx->ndirs >= MAILDIR_MAX_RCPTS ||
	    store_user_maildir(tx->s, address, dir, sizeof(dir)) < 0 ||
	    store_user_exists(tx->s, address) != 1)
		return -1;
	/* XXX: quadratic, but bounded by smtpd_recipient_limit and cheap for
	   the usual handful of recipients. */
	for (size_t i = 0; i < tx->ndirs; i++)
		if (strcmp(tx->dirs[i], dir) == 0)
			return 0;
	if (tx->ndirs == tx->capdirs) {
		tx->capdirs = tx->capdirs == 0 ? 4 : tx->capdirs * 2;
		tx->dirs = xrealloc(tx->dirs, tx->capdirs * sizeof(*tx->dirs));
	}
	tx->dirs[tx->ndirs++] = xstrdup(dir);
	return 0;
}

static void
tx_free(struct maildir_tx *tx)
{
	for (size_t i = 0; i < tx->ndirs; i++)
		free(tx->dirs[i]);
	free(tx->dirs);
	wfile_deinit(&tx->w);
	wfile_prefix_deinit(&tx->prefix);
	free(tx);
}

int
maildir_tx_set_prefix(struct maildir_tx *tx, const void *prefix, size_t n, uint64_t skip)
{
	return wfile_prefix_set(&tx->prefix, &tx->w, prefix, n, skip);
}

/* folder_name_ok - a plain Maildir++ folder name: no '.', '/' or escapes. */
static bool
folder_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_'))
			return false;
	return true;
}

int
maildir_tx_set_folder(struct maildir_tx *tx, const char *name)
{
	char dir[PATH_MAX_LEN];

	if (!folder_name_ok(name))
		return -1;
	for (size_t i = 0; i < tx->ndirs; i++) {
		if ((size_t)snprintf(dir, sizeof(dir), "%s/.%s", tx->dirs[i], name) >= sizeof(dir))
			return -1;
		free(tx->dirs[i]);
		tx->dirs[i] = xstrdup(dir);
	}
	return 0;
}

void
maildir_tx_abort(struct maildir_tx **txp)
{
	struct maildir_tx *tx = *txp;

	if (tx == NULL)
		return;
	close(tx->w.fd);
	unlinkat(tx->s->tmp_fd, tx->name, 0);
	tx_free(tx);
	*txp = NULL;
}

/* ---- the batch commit (committer thread, or inline) ---- */

/* Final Maildir name of the message: base name plus ",S=<size>". */
static void
tx_final_name(const struct maildir_tx *tx, char *dst, size_t size)
{
	snprintf(dst, size, "%s,S=%llu", tx->name, (unsigned long long)tx->w.size);
}

/* Undoes the links made so far: failed means not visible. */
static void
unlink_links(struct maildir_tx *tx)
{
	char fname[300], path[PATH_MAX_LEN];

	tx_final_name(tx, fname, sizeof(fname));
	for (size_t i = 0; i < tx->nlinked; i++) {
		snprintf(path, sizeof(path), "%s/new/%s", tx->dirs[i], fname);
		unlink(path);
	}
	tx->nlinked = 0;
}

/*
 * batch_barrier - one syncfs() on the file system of data_dir: everything
 * written so far is durable. Returns 0 or -1 with errno.
 * Measured on the development VM (ext4, virtio disk; 20 writers of 4 KiB
 * messages, 3 runs each, msg/s and CPU per message):
 *   syncfs, link, syncfs per batch            8300-9600/s   87-96 us
 *   per message fdatasync+link+fsync(dir),
 *     20 threads in parallel, no batching     6800-7500/s  138-146 us
 *   per file sync_file_range then fdatasync,
 *     link, fsync each new/ once per batch    3700-4000/s  122-138 us
 *   per file fdatasync, link, fsync dirs      2400-2800/s  165-367 us
 * A single committer cannot overlap per-file fsyncs, and syncfs() lets the
 * disk do the whole batch in one flush. The cost: it also flushes whatever
 * else is dirty on that file system (the queue, the database), which has to
 * reach the disk anyway. Since Linux 5.8 it reports write-back errors.
 */
static int
batch_barrier(const struct store *s)
{
	return syncfs(s->tmp_fd);
}

/* Fails every tx still going (after a failed barrier). */
static void
fail_all(struct maildir_tx *list, const char *what, int errnum)
{
	for (struct maildir_tx *tx = list; tx != NULL; tx = tx_next(tx)) {
		if (tx->status != 0)
			continue;
		tx_fail(tx, what, tx->s->data_dir, errnum);
		unlink_links(tx);
	}
}

/* Writes what is buffered; then the barrier makes the files durable. */
static void
batch_sync_files(struct maildir_tx *list)
{
	bool going = false;

	for (struct maildir_tx *tx = list; tx != NULL; tx = tx_next(tx)) {
		if (wfile_prefix_commit(&tx->prefix, &tx->w, tx->s->tmp_fd, tx->name) < 0)
			tx_fail(tx, "prefix", "temp file", tx->w.err);
		else if (wfile_flush(&tx->w) < 0)
			tx_fail(tx, "write", "temp file", tx->w.err);
		else if (tx->ndirs == 0)
			tx_fail(tx, "commit", "(no recipients)", EINVAL);
		going |= tx->status == 0;
	}
	if (going && batch_barrier(list->s) < 0)
		fail_all(list, "syncfs", errno);
}

/* Links the temp file into every recipient's new/; all or none. */
static void
tx_link_all(struct maildir_tx *tx)
{
	char fname[300], path[PATH_MAX_LEN];

	tx_final_name(tx, fname, sizeof(fname));
	for (size_t i = 0; i < tx->ndirs; i++) {
		int rc;

		if (snprintf(path, sizeof(path), "%s/new/%s", tx->dirs[i], fname) >=
		    (int)sizeof(path)) {
			tx_fail(tx, "link into", tx->dirs[i], ENAMETOOLONG);
			break;
		}
		rc = linkat(tx->s->tmp_fd, tx->name, AT_FDCWD, path, 0);
		/* The account exists but its Maildir is gone: make it again. */
		if (rc < 0 && errno == ENOENT && maildir_create(tx->dirs[i]) == 0)
			rc = linkat(tx->s->tmp_fd, tx->name, AT_FDCWD, path, 0);
		if (rc < 0) {
			tx_fail(tx, "link into", tx->dirs[i], errno);
			break;
		}
		tx->nlinked++;
	}
	if (tx->status < 0)
		unlink_links(tx);
}

static void
commit_batch(struct maildir_tx *list)
{
	bool linked = false;

	batch_sync_files(list);
	for (struct maildir_tx *tx = list; tx != NULL; tx = tx_next(tx)) {
		if (tx->status == 0)
			tx_link_all(tx);
		linked |= tx->status == 0;
	}
	if (linked && batch_barrier(list->s) < 0)
		fail_all(list, "syncfs", errno);
	for (struct maildir_tx *tx = list; tx != NULL; tx = tx_next(tx)) {
		/* The temp name is no longer needed; a crash before this unlink
		   leaves it for store_open() to remove. */
		unlinkat(tx->s->tmp_fd, tx->name, 0);
		close(tx->w.fd);
		tx->w.fd = -1;
		if (tx->status == 0)
			tx->status = 1;
	}
}

static void
complete(struct maildir_tx *list)
{
	while (list != NULL) {
		struct maildir_tx *next = tx_next(list);

		list->done(list->ctx, list->status, list->status == 1 ? NULL : list->err);
		tx_free(list);
		list = next;
	}
}

/* ---- the committer (ev_batch) ---- */

static void
batch_run(void *ctx, struct ev_batch_job *list)
{
	(void)ctx;
	commit_batch((struct maildir_tx *)list);
}

static void
batch_complete(void *ctx, struct ev_batch_job *list)
{
	(void)ctx;
	complete((struct maildir_tx *)list);
}

void
maildir_tx_commit(struct maildir_tx *tx, maildir_done_fn *done, void *ctx)
{
	tx->done = done;
	tx->ctx = ctx;
	tx->link.next = NULL;
	if (tx->s->committer == NULL) {
		commit_batch(tx);
		complete(tx);
		return;
	}
	ev_batch_submit(tx->s->committer, &tx->link);
}

int
store_commit_start(struct store *s, uv_loop_t *loop)
{
	BUG_ON(s->committer != NULL);
	s->committer = ev_batch_new(loop, batch_run, batch_complete, s);
	return s->committer != NULL ? 0 : -1;
}

void
store_commit_stop(struct store *s)
{
	ev_batch_free(&s->committer);
}
