/*
 * wfile_prefix.c -- a prefix in front of a spooled message (see
 * wfile_prefix.h).
 *
 * Security: the file names are the caller's generated temp names; the new
 * file is O_EXCL 0600 in the same directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "base/log.h"
#include "base/wfile_prefix.h"

/* copy_range - n bytes of in from offset off to the end of out. */
static int
copy_range(int in, int out, uint64_t off, uint64_t n)
{
	char tmp[64 * 1024];
	off_t o = (off_t)off;

	while (n > 0) {
		ssize_t k = copy_file_range(in, &o, out, NULL, n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
		              errno == EINVAL))
			break; /* old kernel or file system: copy by hand below */
		if (k < 0)
			return -1;
		if (k == 0)
			return errno = EIO, -1; /* the file is shorter than written */
		n -= (uint64_t)k;
	}
	while (n > 0) {
		ssize_t k = pread(in, tmp, n < sizeof(tmp) ? n : sizeof(tmp), o);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || write_all(out, tmp, (size_t)k) < 0)
			return k == 0 ? (errno = EIO, -1) : -1;
		o += k;
		n -= (uint64_t)k;
	}
	return 0;
}

/* rewrite - the slow path: a new file with prefix + body, renamed over
   the old name. */
static int
rewrite(struct wfile *w, int dirfd, const char *name, struct span prefix, uint64_t skip)
{
	char tmp[300];
	int in, out;

	if (wfile_flush(w) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.pfx", name);
	if ((in = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	out = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0 || write_all(out, prefix.p, prefix.n) < 0 ||
	    copy_range(in, out, skip, w->size - skip) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
		int saved = errno;

		if (out >= 0) {
			close(out);
			unlinkat(dirfd, tmp, 0);
		}
		close(in);
		return errno = saved, -1;
	}
	close(in);
	close(w->fd);
	w->fd = out;
	return 0;
}

int
wfile_prefix_apply(struct wfile *w, int dirfd, const char *name, struct span prefix,
                   uint64_t skip)
{
	uint64_t size = w->size;

	BUG_ON(skip > w->size);
	if (w->err != 0)
		return -1;
	if (w->size == buf_len(&w->b)) {
		/* Nothing reached the file yet: write the prefix first. */
		if (write_all(w->fd, prefix.p, prefix.n) < 0) {
			w->err = errno;
			return -1;
		}
		buf_consume(&w->b, (size_t)skip);
		if (wfile_flush(w) < 0)
			return -1;
	} else if (rewrite(w, dirfd, name, prefix, skip) < 0) {
		w->err = errno;
		return -1;
	}
	w->size = prefix.n + size - skip;
	return 0;
}

void
wfile_prefix_init(struct wfile_prefix *p, size_t max)
{
	buf_init(&p->text, 0, max);
	p->skip = 0;
	p->set = false;
}

void
wfile_prefix_deinit(struct wfile_prefix *p)
{
	buf_deinit(&p->text);
}

int
wfile_prefix_set(struct wfile_prefix *p, const struct wfile *w, const void *prefix, size_t n,
                 uint64_t skip)
{
	if (skip > w->size)
		return -1;
	buf_clear(&p->text);
	if (buf_append(&p->text, prefix, n) < 0)
		return -1;
	p->skip = skip;
	p->set = true;
	return 0;
}

int
wfile_prefix_commit(struct wfile_prefix *p, struct wfile *w, int dirfd, const char *name)
{
	if (!p->set)
		return 0;
	return wfile_prefix_apply(w, dirfd, name, buf_peek(&p->text), p->skip);
}
