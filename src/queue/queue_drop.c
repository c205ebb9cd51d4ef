/*
 * queue_drop.c -- maildrop files: written by `hikyaku sendmail` for users
 * who cannot write the spool, read back by the daemon's pickup.
 *
 * See queue_drop.h for the directory modes and the format. Durability uses
 * syncfs() rather than fsync() of the directory: the writer may create
 * files in maildrop/ but not open it for reading, so it has no directory
 * descriptor to fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/span.h"
#include "base/wfile.h"
#include "msg/addr.h"
#include "queue/queue_drop.h"

static _Thread_local char drop_err[4096 + 600];

static const char *
drop_error(const char *what, const char *name, int errnum)
{
	snprintf(drop_err, sizeof(drop_err), "%s %s: %s", what, name, strerror(errnum));
	return drop_err;
}

bool
queue_drop_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return i == QUEUE_DROP_NAME_LEN;
}

/* drop_write - the whole file, then fsync; 0 or -1 with errno. */
static int
drop_write(int fd, const struct buf *env, const void *msg, size_t len)
{
	struct span e = buf_peek(env);

	if (write_all(fd, e.p, e.n) < 0 || write_all(fd, "\n", 1) < 0 ||
	    write_all(fd, msg, len) < 0)
		return -1;
	/* The daemon (run_user) reads it; nobody can list the directory. */
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
		return -1;
	return 0;
}

int
queue_drop_put(const char *data_dir, const struct queue_env *env, const void *msg, size_t len,
               const char **error_r)
{
	unsigned char rnd[QUEUE_DROP_NAME_LEN / 2];
	char name[QUEUE_DROP_NAME_LEN + 1], tmp[QUEUE_DROP_NAME_LEN + 8], dir[4096];
	struct buf text;
	int dfd, fd, rc = -1;

	if (snprintf(dir, sizeof(dir), "%s/%s", data_dir, QUEUE_DROP_DIR) >= (int)sizeof(dir))
		return *error_r = "data_dir too long", -1;
	/* O_PATH: enough for openat/renameat, and the writer may not read it. */
	if ((dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return *error_r = drop_error("open", dir, errno), -1;
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(name, sizeof(name), rnd, sizeof(rnd));
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	buf_init(&text, 4096, QUEUE_ENV_MAX_SIZE);
	if (queue_env_format(env, &text) < 0) {
		*error_r = "envelope too large";
		goto out;
	}
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = drop_error("create", tmp, errno);
		goto out;
	}
	if (drop_write(fd, &text, msg, len) < 0 || renameat(dfd, tmp, dfd, name) < 0 ||
	    syncfs(fd) < 0) {
		*error_r = drop_error("write", tmp, errno);
		unlinkat(dfd, tmp, 0);
		unlinkat(dfd, name, 0);
	} else {
		rc = 0;
	}
	close(fd);
out:
	buf_deinit(&text);
	close(dfd);
	return rc;
}

/* drop_check_addr - an address as sendmail itself would have accepted it. */
static int
drop_check_addr(const char *a, bool utf8, const char **error_r)
{
	struct mailbox mb;

	if (a[0] == '\0')
		return 0; /* only the sender may be empty: checked by the caller */
	return addr_parse_mailbox(span_str(a), utf8, &mb, error_r);
}

int
queue_drop_parse(const void *data, size_t len, struct queue_env *env, size_t *msg_off,
                 const char **error_r)
{
	const char *p = data, *end = memmem(p, len, "end\n\n", 5);
	bool utf8;

	memset(env, 0, sizeof(*env));
	if (end == NULL || (end != p && end[-1] != '\n'))
		return *error_r = "no end of envelope", -1;
	if (queue_env_parse(p, (size_t)(end - p) + 4, env, error_r) < 0)
		return -1;
	utf8 = (env->flags & QUEUE_F_SMTPUTF8) != 0;
	if (drop_check_addr(env->sender, utf8, error_r) < 0)
		goto fail;
	for (size_t i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].addr[0] == '\0' ||
		    drop_check_addr(env->rcpts[i].addr, utf8, error_r) < 0) {
			if (env->rcpts[i].addr[0] == '\0')
				*error_r = "empty recipient";
			goto fail;
		}
	*msg_off = (size_t)(end - p) + 5;
	return 0;
fail:
	queue_env_deinit(env);
	return -1;
}

int
queue_drop_read(int dfd, const char *name, uint64_t max_size, struct buf *out, uid_t *uid_r,
                const char **error_r)
{
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return *error_r = drop_error("open", name, errno), -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (uint64_t)st.st_size > max_size + QUEUE_ENV_MAX_SIZE) {
		close(fd);
		return *error_r = "not a regular file with one link, or too large", -1;
	}
	*uid_r = st.st_uid;
	buf_clear(out);
	do {
		size_t avail;
		uint8_t *w = buf_reserve(out, 4096, &avail);

		if (w == NULL) {
			close(fd);
			return *error_r = "drop file too large", -1;
		}
		while ((n = read(fd, w, avail)) < 0 && errno == EINTR)
			;
		if (n > 0)
			buf_commit(out, (size_t)n);
	} while (n > 0);
	close(fd);
	if (n < 0)
		return *error_r = drop_error("read", name, errno), -1;
	return 1;
}
