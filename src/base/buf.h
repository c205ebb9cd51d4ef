/*
 * buf.h -- the one byte buffer type under every connection and parser.
 *
 * Bounded: a buffer never grows past `max`; buf_reserve() and buf_append()
 * fail instead, so a peer cannot make us allocate without limit.
 * Consumed bytes are reclaimed by compaction on the next reserve.
 */
#ifndef HIKYAKU_BASE_BUF_H
#define HIKYAKU_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "base/span.h"

struct buf {
	uint8_t *base;
	size_t rpos; /* first unread byte */
	size_t wpos; /* first free byte */
	size_t cap;  /* bytes allocated */
	size_t max;  /* hard limit on cap */
};

void buf_init(struct buf *b, size_t initial, size_t max);
/* Frees the storage; the struct may be reused after buf_init(). */
void buf_deinit(struct buf *b);
/* Like buf_deinit(), but wipes the bytes first (AUTH lines, keys). */
void buf_deinit_secret(struct buf *b);

static inline size_t
buf_len(const struct buf *b)
{
	return b->wpos - b->rpos;
}

static inline struct span
buf_peek(const struct buf *b)
{
	/* A never-filled buffer has no storage: NULL + 0 is undefined in C. */
	if (b->base == NULL)
		return SPAN_NULL;
	return (struct span){ b->base + b->rpos, b->wpos - b->rpos };
}

/* Room for at least `want` bytes after the data (compacting first). Returns
   the write pointer and the room in *avail_r, or NULL when `max` would be
   exceeded. */
uint8_t *buf_reserve(struct buf *b, size_t want, size_t *avail_r);
/* Marks n bytes written at the pointer buf_reserve() returned. */
void buf_commit(struct buf *b, size_t n);
/* Keeps only the first n bytes; n must not exceed buf_len(). */
void buf_truncate(struct buf *b, size_t n);
/* Drops n bytes from the front; n must not exceed buf_len(). */
void buf_consume(struct buf *b, size_t n);
/* Drops all unread bytes (STARTTLS purge). */
void buf_clear(struct buf *b);
/* Returns 0, or -1 (nothing appended) when `max` would be exceeded. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
/* Returns 0, or -1 (nothing appended) when `max` would be exceeded. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
