/*
 * dot_ref.h -- a deliberately naive model of the DATA/BDAT filter, for
 * differential testing of src/msg/dot.c (tests/unit/test_dot.c and
 * tests/fuzz/fuzz_dot.c).
 *
 * It sees the whole input at once and decides each byte by looking at its
 * neighbours, straight from the rules: RFC 5321 4.5.2 (a line starting with
 * "." loses that dot; ". CR LF" after CR LF, or at the very start, ends the
 * data) and 2.3.8 (CR and LF only as a pair). Slow and obvious on purpose.
 * Test code only.
 */
#ifndef HIKYAKU_TESTS_DOT_REF_H
#define HIKYAKU_TESTS_DOT_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dot_ref {
	uint8_t *out; /* caller's storage, at least n bytes */
	size_t outlen;
	uint64_t size;
	bool end;
	size_t used; /* bytes consumed: through the end marker, or all */
	bool bare_lf, bare_cr, too_big;
};

static inline void
dot_ref_put(struct dot_ref *r, uint64_t max, uint8_t c)
{
	r->size++;
	if (r->size > max)
		r->too_big = true;
	else
		r->out[r->outlen++] = c;
}

/* dot_ref_run - the whole of in[0..n); `finish` as after the last BDAT. */
static inline void
dot_ref_run(struct dot_ref *r, bool data, uint64_t max, const uint8_t *in, size_t n, bool finish)
{
	bool bol = true;

	r->used = n;
	for (size_t i = 0; i < n; i++) {
		if (data && bol && in[i] == '.') {
			if (i + 2 < n && in[i + 1] == '\r' && in[i + 2] == '\n') {
				r->end = true;
				r->used = i + 3;
				return;
			}
			/* "." or "." CR at the very end of the input is still
			   undecided: nothing of it is output. */
			if (i + 1 == n || (i + 2 == n && in[i + 1] == '\r'))
				return;
			bol = false;
			continue; /* the stuffing dot is dropped */
		}
		bol = false;
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			r->bare_lf = true;
		if (in[i] == '\n' && i > 0 && in[i - 1] == '\r')
			bol = true;
		if (in[i] == '\r' && ((i + 1 < n && in[i + 1] != '\n') || (i + 1 == n && finish)))
			r->bare_cr = true;
		dot_ref_put(r, max, in[i]);
	}
}

#endif
