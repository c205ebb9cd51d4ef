/*
 * buf.c -- bounded byte buffer.
 *
 * Security: every growth is checked against b->max; consume past the end is
 * our bug and panics rather than corrupting memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/xalloc.h"

void
buf_init(struct buf *b, size_t initial, size_t max)
{
	BUG_ON(initial > max);
	memset(b, 0, sizeof(*b));
	b->max = max;
	if (initial > 0) {
		b->base = xmalloc(initial);
		b->cap = initial;
	}
}

void
buf_deinit(struct buf *b)
{
	free(b->base);
	memset(b, 0, sizeof(*b));
}

void
buf_deinit_secret(struct buf *b)
{
	if (b->base != NULL)
		explicit_bzero(b->base, b->cap);
	buf_deinit(b);
}

uint8_t *
buf_reserve(struct buf *b, size_t want, size_t *avail_r)
{
	size_t len = buf_len(b);

	if (b->cap - b->wpos < want && b->rpos > 0) {
		memmove(b->base, b->base + b->rpos, len);
		b->rpos = 0;
		b->wpos = len;
	}
	if (b->cap - b->wpos < want) {
		size_t ncap = b->cap < 64 ? 64 : b->cap;

		if (want > b->max || len > b->max - want)
			return NULL;
		while (ncap < len + want)
			ncap *= 2;
		if (ncap > b->max)
			ncap = b->max;
		b->base = xrealloc(b->base, ncap);
		b->cap = ncap;
	}
	if (avail_r != NULL)
		*avail_r = b->cap - b->wpos;
	return b->base + b->wpos;
}

void
buf_commit(struct buf *b, size_t n)
{
	BUG_ON(n > b->cap - b->wpos);
	b->wpos += n;
}

void
buf_truncate(struct buf *b, size_t n)
{
	BUG_ON(n > buf_len(b));
	b->wpos = b->rpos + n;
}

void
buf_consume(struct buf *b, size_t n)
{
	BUG_ON(n > buf_len(b));
	b->rpos += n;
	if (b->rpos == b->wpos)
		b->rpos = b->wpos = 0;
}

void
buf_clear(struct buf *b)
{
	b->rpos = b->wpos = 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	uint8_t *w;

	if (n == 0)
		return 0;
	if ((w = buf_reserve(b, n, NULL)) == NULL)
		return -1;
	memcpy(w, p, n);
	b->wpos += n;
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	size_t avail;
	uint8_t *w;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	/* +1: vsnprintf writes the terminating NUL, which we do not commit. */
	if ((w = buf_reserve(b, (size_t)n + 1, &avail)) == NULL)
		return -1;
	vsnprintf((char *)w, avail, fmt, ap);
	b->wpos += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}
