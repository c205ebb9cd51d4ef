/*
 * span.h -- a borrowed run of bytes (pointer + length), never owned.
 *
 * Parsers return spans into their input so that nothing is copied; a span is
 * valid only as long as the buffer it points into is not compacted or freed.
 */
#ifndef HIKYAKU_BASE_SPAN_H
#define HIKYAKU_BASE_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

struct span {
	const uint8_t *p;
	size_t n;
};

#define SPAN_NULL ((struct span){ NULL, 0 })
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

static inline struct span
span_str(const char *s)
{
	return (struct span){ (const uint8_t *)s, strlen(s) };
}

/* True when the span equals the NUL-terminated string, ignoring ASCII case. */
static inline bool
span_eq_ci(struct span a, const char *s)
{
	size_t n = strlen(s);
	return a.n == n && strncasecmp((const char *)a.p, s, n) == 0;
}

static inline bool
span_eq(struct span a, const char *s)
{
	size_t n = strlen(s);
	return a.n == n && memcmp(a.p, s, n) == 0;
}

/* True when the span starts with the string, ignoring ASCII case. */
static inline bool
span_startswith_ci(struct span a, const char *s)
{
	size_t n = strlen(s);
	return a.n >= n && strncasecmp((const char *)a.p, s, n) == 0;
}

#endif
