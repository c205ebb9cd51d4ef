/*
 * wfile.c -- buffered writes with a sticky error (see wfile.h).
 */
#include <errno.h>
#include <unistd.h>

#include "base/wfile.h"

int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

void
wfile_init(struct wfile *w, int fd)
{
	w->fd = fd;
	w->size = 0;
	w->err = 0;
	buf_init(&w->b, 0, WFILE_BUF);
}

void
wfile_deinit(struct wfile *w)
{
	buf_deinit(&w->b);
}

int
wfile_flush(struct wfile *w)
{
	struct span p = buf_peek(&w->b);

	if (w->err == 0 && p.n > 0 && write_all(w->fd, p.p, p.n) < 0)
		w->err = errno;
	buf_clear(&w->b);
	return w->err == 0 ? 0 : -1;
}

int
wfile_write(struct wfile *w, const void *p, size_t n)
{
	if (w->err != 0)
		return -1;
	w->size += n;
	if (buf_append(&w->b, p, n) == 0)
		return 0;
	if (wfile_flush(w) < 0)
		return -1;
	if (n < WFILE_BUF)
		return buf_append(&w->b, p, n);
	/* A large piece goes straight out: no copy through the buffer. */
	if (write_all(w->fd, p, n) < 0)
		w->err = errno;
	return w->err == 0 ? 0 : -1;
}
