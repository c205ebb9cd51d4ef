/*
 * queue.c -- the durable spool: transactions, the group committer, reading
 * and administrative requests.
 *
 * Loop thread: queue_tx_begin/write/add_rcpt/commit (one openat, buffered
 * writes). Committer thread: takes every pending job (new message,
 * envelope rewrite, removal) as one batch and
 *   1. writes what is buffered and each envelope to queue/tmp, one syncfs():
 *      every byte durable before any name points at it;
 *   2. renames msg then env into place (a removal unlinks env then msg);
 *   3. one more syncfs(): every name durable;
 * then hands the batch back to the loop with uv_async_send(). Without a
 * loop the same batch code runs inline. The approach and the reasons for
 * syncfs() over per-file fsync are store/maildir.c's (batch_barrier()).
 * The committer thread and its lists are ev/ev_batch.c, shared with
 * store/maildir.c.
 * Security: file names are generated ids (queue_id_valid before use),
 * files are O_EXCL 0600, directories 0700.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/wfile.h"
#include "base/wfile_prefix.h"
#include "base/xalloc.h"
#include "ev/ev_batch.h"
#include "queue/queue_int.h"

/* queue/tmp files older than this are leftovers of a crash. */
#define TMP_MAX_AGE (24 * 3600)

struct queue_tx {
	struct queue_job job; /* first: the committer sees the tx as a job */
	struct queue *q;
	struct wfile w; /* the message's temp file */
	struct wfile_prefix prefix; /* queue_tx_set_prefix() */
	char msg_tmp[64];
	struct queue_env env;
	queue_done_fn *done;
	void *ctx;
};

static struct queue_job *
job_next(const struct queue_job *job)
{
	return (struct queue_job *)job->link.next;
}


static atomic_ulong queue_seq;
static _Thread_local char queue_err[512];

static const char *
qerror(const char *what, const char *path, int errnum)
{
	snprintf(queue_err, sizeof(queue_err), "%s %s: %s", what, path, strerror(errnum));
	return queue_err;
}

/* ---- opening ---- */

/* mkdir at dfd (0700) and open it. Returns the fd or -1. */
static int
open_subdir(int dfd, const char *name, bool *created)
{
	if (mkdirat(dfd, name, 0700) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -1;
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Removes queue/tmp files older than TMP_MAX_AGE (a younger one may be
   another process's transaction in progress). */
static void
clean_tmp(struct queue *q)
{
	int dfd = dup(q->tmp_fd), n = 0;
	time_t now = time(NULL);
	struct dirent *de;
	DIR *d;

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (fstatat(q->tmp_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && now - st.st_mtime > TMP_MAX_AGE &&
		    unlinkat(q->tmp_fd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		log_info("event=queue-cleanup removed=%d dir=%s/tmp", n, q->dir);
}

static int
open_dirs(struct queue *q, const char **error_r)
{
	bool created = false, sub_created = false;
	int base = open(q->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (base < 0)
		return *error_r = qerror("open", q->data_dir, errno), -1;
	q->dir_fd = open_subdir(base, "queue", &created);
	if (q->dir_fd >= 0 && created)
		fsync(base);
	close(base);
	if (q->dir_fd < 0)
		return *error_r = qerror("open", q->dir, errno), -1;
	q->tmp_fd = open_subdir(q->dir_fd, "tmp", &sub_created);
	q->msg_fd = open_subdir(q->dir_fd, "msg", &sub_created);
	q->env_fd = open_subdir(q->dir_fd, "env", &sub_created);
	q->ctl_fd = open_subdir(q->dir_fd, "ctl", &sub_created);
	if (q->tmp_fd < 0 || q->msg_fd < 0 || q->env_fd < 0 || q->ctl_fd < 0)
		return *error_r = qerror("open subdirectories of", q->dir, errno), -1;
	if (sub_created)
		fsync(q->dir_fd);
	return 0;
}

static int committer_start(struct queue *q);

struct queue *
queue_open(const char *data_dir, uv_loop_t *loop, const char **error_r)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	q->data_dir = xstrdup(data_dir);
	q->dir = xasprintf("%s/queue", data_dir);
	q->dir_fd = q->tmp_fd = q->msg_fd = q->env_fd = q->ctl_fd = q->lock_fd = -1;
	q->loop = loop;
	if (open_dirs(q, error_r) < 0)
		goto fail;
	clean_tmp(q);
	if (loop != NULL && committer_start(q) < 0) {
		*error_r = "cannot start the queue committer thread";
		goto fail;
	}
	return q;
fail:
	queue_close(&q);
	return NULL;
}

const char *
queue_dir(const struct queue *q)
{
	return q->dir;
}

static void committer_stop(struct queue *q);

void
queue_close(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	int *fds[] = {&q->dir_fd, &q->tmp_fd, &q->msg_fd, &q->env_fd, &q->ctl_fd, &q->lock_fd};
	queue_sched_stop(q);
	committer_stop(q);
	queue_sched_free(q);
	for (size_t i = 0; i < nitems(fds); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	free(q->data_dir);
	free(q->dir);
	free(q);
	*qp = NULL;
}

/* ---- transactions ---- */

/* A fresh id: arrival time in microseconds, pid, per-process sequence. */
static void
make_id(char *dst, struct timeval *tv)
{
	unsigned long seq = atomic_fetch_add(&queue_seq, 1);

	gettimeofday(tv, NULL);
	snprintf(dst, QUEUE_ID_LEN + 1, "%014llX.%06lX.%04lX",
	         (unsigned long long)tv->tv_sec * 1000000ull + (unsigned long long)tv->tv_usec,
	         (unsigned long)getpid() & 0xffffff, seq & 0xffff);
}

struct queue_tx *
queue_tx_begin(struct queue *q, const char *sender, const char **error_r)
{
	struct queue_tx *tx = xcalloc(1, sizeof(*tx));
	struct timeval tv;
	int fd;

	if (strcmp(sender, "<>") == 0)
		sender = "";
	if (strlen(sender) > QUEUE_ENV_MAX_LINE - 16 || strpbrk(sender, "\r\n") != NULL) {
		free(tx);
		*error_r = "bad sender";
		return NULL;
	}
	/* An id already in the queue (clock stepped back) is skipped. */
	do {
		make_id(tx->env.id, &tv);
	} while (faccessat(q->env_fd, tx->env.id, F_OK, 0) == 0);
	snprintf(tx->msg_tmp, sizeof(tx->msg_tmp), "%s.msg", tx->env.id);
	fd = openat(q->tmp_fd, tx->msg_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = qerror("create", tx->msg_tmp, errno);
		free(tx);
		return NULL;
	}
	wfile_init(&tx->w, fd);
	wfile_prefix_init(&tx->prefix, QUEUE_MAX_PREFIX);
	tx->q = q;
	tx->env.arrival = queue_now(q);
	tx->env.sender = xstrdup(sender);
	buf_init(&tx->job.env_text, 0, QUEUE_ENV_MAX_SIZE);
	return tx;
}

const char *
queue_tx_id(const struct queue_tx *tx)
{
	return tx->env.id;
}

void
queue_tx_set_options(struct queue_tx *tx, unsigned flags, const char *envid, enum queue_ret ret)
{
	tx->env.flags = flags & (QUEUE_F_SMTPUTF8 | QUEUE_F_8BITMIME);
	free(tx->env.envid);
	tx->env.envid = NULL;
	/* ENVID is xtext (RFC 3461 4.4): printable ASCII, no spaces. */
	if (envid != NULL && *envid != '\0' && strlen(envid) <= 100 &&
	    strspn(envid, "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
	                  "abcdefghijklmnopqrstuvwxyz{|}~") == strlen(envid))
		tx->env.envid = xstrdup(envid);
	tx->env.ret = ret;
}

/* A value fit for an envelope line: no control characters, bounded. */
static bool
value_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int
queue_tx_add_rcpt(struct queue_tx *tx, const char *rcpt, const char *orcpt, unsigned notify)
{
	struct queue_env *env = &tx->env;
	struct queue_rcpt *r;

	if (env->nrcpts == QUEUE_MAX_RCPTS || !value_ok(rcpt, 512) ||
	    (orcpt != NULL && (!value_ok(orcpt, 600) || strchr(orcpt, ';') == NULL)) ||
	    ((notify & QUEUE_NOTIFY_NEVER) && notify != QUEUE_NOTIFY_NEVER) || notify > 15)
		return -1;
	if ((env->nrcpts & (env->nrcpts - 1)) == 0)
		env->rcpts =
		        xrealloc(env->rcpts, (env->nrcpts == 0 ? 1 : env->nrcpts * 2) * sizeof(*r));
	r = &env->rcpts[env->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(rcpt);
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	return 0;
}

int
queue_tx_write(struct queue_tx *tx, const void *p, size_t n)
{
	return wfile_write(&tx->w, p, n);
}

int
queue_tx_set_prefix(struct queue_tx *tx, const void *prefix, size_t n, uint64_t skip)
{
	return wfile_prefix_set(&tx->prefix, &tx->w, prefix, n, skip);
}

static void
tx_free(struct queue_tx *tx)
{
	if (tx->w.fd >= 0)
		close(tx->w.fd);
	wfile_deinit(&tx->w);
	wfile_prefix_deinit(&tx->prefix);
	buf_deinit(&tx->job.env_text);
	queue_env_deinit(&tx->env);
	free(tx);
}

void
queue_tx_abort(struct queue_tx **txp)
{
	struct queue_tx *tx = *txp;

	if (tx == NULL)
		return;
	unlinkat(tx->q->tmp_fd, tx->msg_tmp, 0);
	tx_free(tx);
	*txp = NULL;
}

/* Loop thread (or inline): report, and hand the envelope to the scheduler. */
static void
tx_complete(struct queue_job *job)
{
	struct queue_tx *tx = (struct queue_tx *)job;
	struct queue_env env;

	if (job->status == 1) {
		log_info("queue_id=%s event=queued from=<%s> nrcpt=%zu size=%llu", tx->env.id,
		         tx->env.sender, tx->env.nrcpts, (unsigned long long)tx->w.size);
		tx->done(tx->ctx, 1, tx->env.id);
		env = tx->env;
		memset(&tx->env, 0, sizeof(tx->env));
		queue_sched_added(tx->q, &env);
	} else {
		tx->done(tx->ctx, -1, job->err);
	}
	tx_free(tx);
}

void
queue_tx_commit(struct queue_tx *tx, queue_done_fn *done, void *ctx)
{
	tx->done = done;
	tx->ctx = ctx;
	tx->job.kind = QJ_NEW;
	tx->job.complete = tx_complete;
	memcpy(tx->job.id, tx->env.id, sizeof(tx->job.id));
	if (tx->env.nrcpts == 0) {
		tx->job.status = -1;
		snprintf(tx->job.err, sizeof(tx->job.err), "no recipients");
	} else if (queue_env_format(&tx->env, &tx->job.env_text) < 0) {
		tx->job.status = -1;
		snprintf(tx->job.err, sizeof(tx->job.err), "envelope too large");
	}
	if (tx->job.status < 0) {
		unlinkat(tx->q->tmp_fd, tx->msg_tmp, 0);
		tx_complete(&tx->job);
		return;
	}
	queue_job_submit(tx->q, &tx->job);
}

/* ---- jobs ---- */

struct queue_job *
queue_job_new(enum queue_job_kind kind, const struct queue_env *env,
              void (*complete)(struct queue_job *), void *ctx)
{
	struct queue_job *job = xcalloc(1, sizeof(*job));

	job->kind = kind;
	job->complete = complete;
	job->ctx = ctx;
	memcpy(job->id, env->id, sizeof(job->id));
	buf_init(&job->env_text, 0, QUEUE_ENV_MAX_SIZE);
	if (kind == QJ_REWRITE && queue_env_format(env, &job->env_text) < 0) {
		job->status = -1;
		snprintf(job->err, sizeof(job->err), "envelope too large");
	}
	return job;
}

void
queue_job_free(struct queue_job *job)
{
	buf_deinit(&job->env_text);
	free(job);
}

static void
job_fail(struct queue_job *job, const char *what, int errnum)
{
	if (job->status < 0)
		return;
	job->status = -1;
	snprintf(job->err, sizeof(job->err), "%s %s: %s", what, job->id, strerror(errnum));
}

/* job_prefix - a new message's prefix in place (committer thread). */
static int
job_prefix(struct queue_tx *tx)
{
	return wfile_prefix_commit(&tx->prefix, &tx->w, tx->q->tmp_fd, tx->msg_tmp);
}

/* Step 1 for one job: its bytes into queue/tmp. */
static void
job_write(struct queue *q, struct queue_job *job)
{
	struct span t = buf_peek(&job->env_text);
	int fd;

	if (job->kind == QJ_REMOVE || job->status != 0)
		return;
	if (job->kind == QJ_NEW && job_prefix((struct queue_tx *)job) < 0) {
		job_fail(job, "prefix message", ((struct queue_tx *)job)->w.err);
		return;
	}
	if (job->kind == QJ_NEW && wfile_flush(&((struct queue_tx *)job)->w) < 0) {
		job_fail(job, "write message", ((struct queue_tx *)job)->w.err);
		return;
	}
	snprintf(job->env_tmp, sizeof(job->env_tmp), "%s.env.%lu", job->id,
	         atomic_fetch_add(&queue_seq, 1));
	fd = openat(q->tmp_fd, job->env_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		job_fail(job, "create envelope", errno);
		return;
	}
	if (write_all(fd, t.p, t.n) < 0)
		job_fail(job, "write envelope", errno);
	close(fd);
}

/* Step 2 for one job: names into place. */
static void
job_publish(struct queue *q, struct queue_job *job)
{
	if (job->status != 0)
		return;
	switch (job->kind) {
	case QJ_NEW:
		if (renameat(q->tmp_fd, ((struct queue_tx *)job)->msg_tmp, q->msg_fd, job->id) < 0)
			job_fail(job, "rename message", errno);
		break;
	case QJ_REWRITE:
		/* Never bring back a message removed meanwhile. */
		if (faccessat(q->env_fd, job->id, F_OK, 0) < 0)
			job_fail(job, "rewrite envelope", errno);
		break;
	case QJ_REMOVE:
		/* env first: without it the message is no longer queued. */
		if (unlinkat(q->env_fd, job->id, 0) < 0 && errno != ENOENT)
			job_fail(job, "remove envelope", errno);
		else
			unlinkat(q->msg_fd, job->id, 0);
		return;
	}
	if (job->status == 0 && renameat(q->tmp_fd, job->env_tmp, q->env_fd, job->id) < 0)
		job_fail(job, "rename envelope", errno);
}

/* Cleans up after a failed job: temp files, and a new message's names. */
static void
job_undo(struct queue *q, struct queue_job *job, bool published)
{
	if (job->kind == QJ_REMOVE)
		return;
	if (job->env_tmp[0] != '\0')
		unlinkat(q->tmp_fd, job->env_tmp, 0);
	if (job->kind == QJ_NEW) {
		unlinkat(q->tmp_fd, ((struct queue_tx *)job)->msg_tmp, 0);
		if (published) {
			unlinkat(q->env_fd, job->id, 0);
			unlinkat(q->msg_fd, job->id, 0);
		}
	}
}

/* One barrier for the batch; on failure every job still going fails. */
static void
batch_barrier(struct queue *q, struct queue_job *list, bool published)
{
	int errnum;

	if (syncfs(q->tmp_fd) == 0)
		return;
	errnum = errno;
	for (struct queue_job *job = list; job != NULL; job = job_next(job))
		if (job->status == 0) {
			job_fail(job, "syncfs", errnum);
			job_undo(q, job, published);
		}
}

static void
commit_batch(struct queue *q, struct queue_job *list)
{
	for (struct queue_job *job = list; job != NULL; job = job_next(job)) {
		job_write(q, job);
		if (job->status < 0)
			job_undo(q, job, false);
	}
	batch_barrier(q, list, false);
	for (struct queue_job *job = list; job != NULL; job = job_next(job)) {
		job_publish(q, job);
		if (job->status < 0)
			job_undo(q, job, job->kind == QJ_NEW);
	}
	batch_barrier(q, list, true);
	for (struct queue_job *job = list; job != NULL; job = job_next(job)) {
		if (job->kind == QJ_NEW) {
			close(((struct queue_tx *)job)->w.fd);
			((struct queue_tx *)job)->w.fd = -1;
		}
		if (job->status == 0)
			job->status = 1;
	}
}

static void
complete(struct queue_job *list)
{
	while (list != NULL) {
		struct queue_job *next = job_next(list);

		list->complete(list);
		list = next;
	}
}

/* ---- the committer (ev_batch) ---- */

static void
batch_run(void *ctx, struct ev_batch_job *list)
{
	commit_batch(ctx, (struct queue_job *)list);
}

static void
batch_complete(void *ctx, struct ev_batch_job *list)
{
	(void)ctx;
	complete((struct queue_job *)list);
}

static int
committer_start(struct queue *q)
{
	q->committer = ev_batch_new(q->loop, batch_run, batch_complete, q);
	return q->committer != NULL ? 0 : -1;
}

static void
committer_stop(struct queue *q)
{
	ev_batch_free(&q->committer);
}

void
queue_job_submit(struct queue *q, struct queue_job *job)
{
	job->link.next = NULL;
	if (q->committer == NULL) {
		commit_batch(q, job);
		complete(job);
		return;
	}
	ev_batch_submit(q->committer, &job->link);
}

/* ---- reading ---- */

int
queue_msg_path(const struct queue *q, const char *id, char *dst, size_t size)
{
	int n = snprintf(dst, size, "%s/msg/%s", q->dir, id);

	return n < 0 || (size_t)n >= size || !queue_id_valid(id) ? -1 : 0;
}

int64_t
queue_msg_size(struct queue *q, const char *id)
{
	struct stat st;

	if (!queue_id_valid(id) || fstatat(q->msg_fd, id, &st, 0) < 0)
		return -1;
	return (int64_t)st.st_size;
}

/* Reads a whole small file at dfd/name into a heap buffer. NULL with
 *errnum_r set on failure (EFBIG past max). */
static char *
read_file(int dfd, const char *name, size_t max, size_t *len_r, int *errnum_r)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st = {0};
	char *data;
	ssize_t r;
	size_t n = 0;

	if (fd < 0) {
		*errnum_r = errno;
		return NULL;
	}
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
		*errnum_r = (size_t)st.st_size > max ? EFBIG : errno;
		close(fd);
		return NULL;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (n < (size_t)st.st_size && (r = read(fd, data + n, (size_t)st.st_size - n)) > 0)
		n += (size_t)r;
	close(fd);
	*len_r = n;
	return data;
}

int
queue_env_load(struct queue *q, const char *id, struct queue_env *env, const char **error_r)
{
	size_t len = 0;
	int errnum = 0;
	char *data;
	int rc;

	memset(env, 0, sizeof(*env));
	if (!queue_id_valid(id)) {
		*error_r = "not a queue id";
		return 0;
	}
	data = read_file(q->env_fd, id, QUEUE_ENV_MAX_SIZE, &len, &errnum);
	if (data == NULL) {
		if (errnum == ENOENT)
			return 0;
		*error_r = qerror("read envelope", id, errnum);
		return -1;
	}
	rc = queue_env_parse(data, len, env, error_r);
	free(data);
	if (rc == 1 && strcmp(env->id, id) != 0) {
		queue_env_deinit(env);
		*error_r = "envelope id does not match its file name";
		return -1;
	}
	return rc;
}

int
queue_env_read(struct queue *q, const char *id, struct queue_env *env, const char **error_r)
{
	return queue_env_load(q, id, env, error_r);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids in env/, sorted. Returns the count, or -1. */
static ssize_t
list_ids(struct queue *q, char ***ids_r)
{
	int dfd = dup(q->env_fd);
	size_t n = 0, cap = 0;
	char **ids = NULL;
	struct dirent *de;
	DIR *d;

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(ids, n, sizeof(*ids), cmp_str);
	*ids_r = ids;
	return (ssize_t)n;
}

ssize_t
queue_list_ids(struct queue *q, char ***ids_r)
{
	return list_ids(q, ids_r);
}

int
queue_list(struct queue *q, queue_list_fn *cb, void *ctx)
{
	char **ids = NULL;
	ssize_t n = list_ids(q, &ids);
	int skipped = 0;

	if (n < 0)
		return -1;
	for (ssize_t i = 0; i < n; i++) {
		struct queue_env env;
		const char *error;
		int64_t size = queue_msg_size(q, ids[i]);

		/* 0: removed since the directory was read. */
		if (queue_env_load(q, ids[i], &env, &error) == 1 && size >= 0)
			cb(ctx, &env, (uint64_t)size);
		else if (faccessat(q->env_fd, ids[i], F_OK, 0) == 0)
			skipped++;
		queue_env_deinit(&env);
		free(ids[i]);
	}
	free(ids);
	return skipped;
}

/* ---- administrative requests ---- */

/* Takes queue/sched.lock without waiting. Returns the fd (lock held),
   -1 when a scheduler holds it, -2 on error. */
static int
lock_try(struct queue *q)
{
	int fd = openat(q->dir_fd, "sched.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -2;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	close(fd);
	return errno == EWOULDBLOCK ? -1 : -2;
}

int
queue_lock_sched(struct queue *q)
{
	int fd = lock_try(q);

	if (fd < 0)
		return -1;
	q->lock_fd = fd;
	return 0;
}

/* Without a scheduler: make every pending recipient of id due now. */
static int
retry_now(struct queue *q, const char *id, const char **error_r)
{
	struct queue_env env;
	struct queue_job *job;
	int rc = queue_env_load(q, id, &env, error_r);

	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < env.nrcpts; i++)
		env.rcpts[i].next = 0;
	job = queue_job_new(QJ_REWRITE, &env, NULL, NULL);
	queue_env_deinit(&env);
	job->link.next = NULL;
	if (job->status == 0)
		commit_batch(q, job);
	rc = job->status == 1 ? 1 : -1;
	if (rc < 0)
		*error_r = qerror("rewrite", id, EIO);
	queue_job_free(job);
	return rc;
}

/* Without a scheduler: remove id now. */
static int
remove_now(struct queue *q, const char *id, const char **error_r)
{
	struct queue_job job = {.kind = QJ_REMOVE};

	if (faccessat(q->env_fd, id, F_OK, 0) < 0)
		return 0;
	memcpy(job.id, id, sizeof(job.id));
	commit_batch(q, &job);
	if (job.status != 1) {
		*error_r = qerror("remove", id, EIO);
		return -1;
	}
	return 1;
}

/* Drops a request file into queue/ctl/ and waits for it to go. */
static int
ask_scheduler(struct queue *q, const char *name, unsigned wait_ms, const char **error_r)
{
	int fd = openat(q->ctl_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		*error_r = qerror("create request", name, errno);
		return -1;
	}
	close(fd);
	for (unsigned t = 0; t < wait_ms; t += 20) {
		if (faccessat(q->ctl_fd, name, F_OK, 0) < 0)
			return 1;
		usleep(20000);
	}
	return faccessat(q->ctl_fd, name, F_OK, 0) < 0 ? 1 : 0;
}

int
queue_request(struct queue *q, const char *what, const char *id, unsigned wait_ms,
              const char **error_r)
{
	char name[64];
	int lock, rc = 1;

	if (id != NULL && !queue_id_valid(id)) {
		*error_r = "not a queue id";
		return -1;
	}
	if (id != NULL)
		snprintf(name, sizeof(name), "%s.%s", what, id);
	else
		snprintf(name, sizeof(name), "%s", what);
	if ((lock = lock_try(q)) == -2) {
		*error_r = qerror("lock", "sched.lock", errno);
		return -1;
	}
	if (lock == -1)
		return ask_scheduler(q, name, wait_ms, error_r);
	if (strcmp(what, "retry") == 0 && id != NULL)
		rc = retry_now(q, id, error_r);
	else if (strcmp(what, "delete") == 0 && id != NULL)
		rc = remove_now(q, id, error_r);
	else if (strcmp(what, "flush") == 0 || strcmp(what, "pickup") == 0)
		rc = 0; /* nobody to tell: the next start looks at everything */
	close(lock);
	return rc;
}
