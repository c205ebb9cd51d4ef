/*
 * imap_seqset.c -- IMAP sequence sets (RFC 9051 section 9, sequence-set).
 *
 *   sequence-set = (seq-number / seq-range) ["," sequence-set]
 *   seq-range    = seq-number ":" seq-number
 *   seq-number   = nz-number / "*"
 *
 * Input is untrusted: every number is range-checked before it is stored,
 * and the number of ranges is bounded so a client cannot make us allocate
 * without limit. Pure: no I/O, no logging.
 */
#include <stdlib.h>

#include "base/xalloc.h"
#include "imap/imap_seqset.h"

/* parse_number - one seq-number at s[*pos]; advances *pos. Returns 0/-1. */
static int
parse_number(const char *s, size_t len, size_t *pos, uint32_t *v_r)
{
	uint64_t v = 0;
	size_t i = *pos;

	if (i < len && s[i] == '*') {
		*v_r = IMAP_SEQSET_STAR;
		*pos = i + 1;
		return 0;
	}
	/* nz-number = digit-nz *DIGIT: no leading zero, no zero. */
	if (i >= len || s[i] < '1' || s[i] > '9')
		return -1;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v >= IMAP_SEQSET_STAR) /* 4294967295 is reserved for "*" here */
			return -1;
	}
	*v_r = (uint32_t)v;
	*pos = i;
	return 0;
}

int
imap_seqset_parse(const char *s, size_t len, struct imap_seqset *out, const char **error_r)
{
	size_t pos = 0, cap = 0;

	out->n = 0;
	out->r = NULL;
	for (;;) {
		struct imap_range r;

		if (parse_number(s, len, &pos, &r.lo) < 0)
			goto bad;
		r.hi = r.lo;
		if (pos < len && s[pos] == ':') {
			pos++;
			if (parse_number(s, len, &pos, &r.hi) < 0)
				goto bad;
		}
		if (out->n == IMAP_SEQSET_MAX_RANGES) {
			imap_seqset_free(out);
			*error_r = "Too many ranges in sequence set";
			return -1;
		}
		if (out->n == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			out->r = xrealloc(out->r, cap * sizeof(*out->r));
		}
		out->r[out->n++] = r;
		if (pos == len)
			return 0;
		if (s[pos++] != ',')
			goto bad;
	}
bad:
	imap_seqset_free(out);
	*error_r = "Invalid sequence set";
	return -1;
}

/* range_norm - the range's bounds with "*" resolved, lo <= hi. */
static void
range_norm(const struct imap_range *r, uint32_t max, uint32_t *lo_r, uint32_t *hi_r)
{
	uint32_t a = r->lo == IMAP_SEQSET_STAR ? max : r->lo;
	uint32_t b = r->hi == IMAP_SEQSET_STAR ? max : r->hi;

	*lo_r = MIN(a, b);
	*hi_r = MAX(a, b);
}

bool
imap_seqset_contains(const struct imap_seqset *set, uint32_t v, uint32_t max)
{
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo, hi;

		range_norm(&set->r[i], max, &lo, &hi);
		if (v >= lo && v <= hi)
			return true;
	}
	return false;
}

bool
imap_seqset_bounds(const struct imap_seqset *set, uint32_t max, uint32_t *lo_r, uint32_t *hi_r)
{
	uint32_t lo = UINT32_MAX, hi = 0;

	if (max == 0)
		return false;
	for (size_t i = 0; i < set->n; i++) {
		uint32_t a, b;

		range_norm(&set->r[i], max, &a, &b);
		lo = MIN(lo, a);
		hi = MAX(hi, b);
	}
	if (lo > max)
		return false;
	*lo_r = lo;
	*hi_r = MIN(hi, max);
	return true;
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = 0;
}

int
imap_seqset_format(const uint32_t *v, size_t n, struct buf *out)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		/* Extend the run over duplicates and consecutive values. */
		while (j + 1 < n && (v[j + 1] == v[j] || v[j + 1] == v[j] + 1))
			j++;
		if (buf_printf(out, "%s%u", i == 0 ? "" : ",", v[i]) < 0)
			return -1;
		if (v[j] != v[i] && buf_printf(out, ":%u", v[j]) < 0)
			return -1;
		i = j + 1;
	}
	return 0;
}
