/*
 * dot.c -- DATA/BDAT streaming filter: dot-unstuffing, strict end of data,
 * bare CR/LF flags and the message size limit.
 *
 * Input is untrusted network data. No I/O, no logging, no global state; the
 * only allocation is the caller's bounded `out` buffer growing.
 * Performance: runs of plain content (whole lines included) are found with
 * memchr and copied with one memcpy; each byte is searched at most once per
 * call for CR and once for LF, whatever the input, so the cost is linear.
 * Standards: RFC 5321 4.1.1.4 and 4.5.2 (end of data, transparency),
 * 2.3.8 (CR and LF only together); RFC 3030 (BDAT).
 * Security: the end of data is CR LF "." CR LF and nothing else (SMTP
 * smuggling); bare CR and LF are flagged for the caller's policy. Fuzzed by
 * tests/fuzz/fuzz_dot.c.
 */
#include <assert.h>
#include <string.h>

#include "msg/dot.h"

enum dot_state {
	ST_BOL,    /* at the start of a line: after CR LF, or at the start */
	ST_DOT,    /* "." began the line; not output */
	ST_DOT_CR, /* "." CR began the line; not output */
	ST_MID,    /* inside a line */
	ST_CR,     /* just after a CR that has been output */
	ST_END,    /* the end-of-data marker has been consumed */
};

/* Lazily found positions of the next CR and LF in this call's input, so
   that no byte is searched twice (SIZE_MAX: not searched yet). */
struct scan {
	const uint8_t *p;
	size_t n;
	size_t cr, lf;
};

void
dot_filter_init(struct dot_filter *f, enum dot_mode mode, uint64_t max)
{
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->max = max;
	f->state = ST_BOL;
}

void
dot_filter_finish(struct dot_filter *f)
{
	/* The chunk's last CR never got its LF. */
	if (f->state == ST_CR)
		f->bare_cr = true;
	f->state = ST_MID;
}

/* scan_next - index of the next byte c at or after i, or s->n. */
static size_t
scan_next(const struct scan *s, size_t *pos, size_t i, uint8_t c)
{
	if (*pos == SIZE_MAX || *pos < i) {
		const uint8_t *q = memchr(s->p + i, c, s->n - i);

		*pos = q != NULL ? (size_t)(q - s->p) : s->n;
	}
	return *pos;
}

/*
 * run_end - end of the plain content that starts at i inside a line: whole
 * CR LF lines included, stopping before a bare LF, before a CR that is not
 * followed by LF in this input (bare, or last), and after a CR LF that is
 * followed by "." in DATA mode (a possible end or stuffed line).
 */
static size_t
run_end(struct scan *s, size_t i, bool data)
{
	for (;;) {
		size_t cr = scan_next(s, &s->cr, i, '\r');
		size_t lf = scan_next(s, &s->lf, i, '\n');

		if (lf < cr)
			return lf;
		if (cr == s->n)
			return s->n;
		if (cr + 1 == s->n || lf != cr + 1)
			return cr;
		i = cr + 2;
		if (i == s->n || (data && s->p[i] == '.'))
			return i;
	}
}

/* count - adds k bytes to the message size, saturating. */
static void
count(struct dot_filter *f, size_t k)
{
	f->size = UINT64_MAX - f->size < k ? UINT64_MAX : f->size + k;
}

/*
 * emit - appends up to k message bytes to out and returns how many were
 * taken: fewer than k only when `out` is full. Bytes past the size limit
 * are counted, not stored.
 */
static size_t
emit(struct dot_filter *f, struct buf *out, const uint8_t *p, size_t k)
{
	size_t keep = k, avail;
	uint8_t *w;

	if (f->too_big)
		keep = 0;
	else if (f->max - f->size < k)
		keep = (size_t)(f->max - f->size);
	if (keep > 0) {
		/* All of it if it fits, else whatever room is left. */
		if ((w = buf_reserve(out, keep, &avail)) == NULL &&
		    (w = buf_reserve(out, 1, &avail)) == NULL)
			return 0;
		if (avail < keep) {
			memcpy(w, p, avail);
			buf_commit(out, avail);
			count(f, avail);
			return avail;
		}
		memcpy(w, p, keep);
		buf_commit(out, keep);
	}
	if (keep < k)
		f->too_big = true;
	count(f, k);
	return k;
}

/* mid - inside a line: copy a run of content, or take one CR or LF. */
static bool
mid(struct dot_filter *f, struct scan *s, size_t *i, struct buf *out)
{
	size_t end = run_end(s, *i, f->mode == DOT_MODE_DATA);
	bool single = end == *i; /* a CR or LF that no run could take */
	size_t k;
	uint8_t last;

	if ((k = emit(f, out, s->p + *i, single ? 1 : end - *i)) == 0)
		return false;
	*i += k;
	last = s->p[*i - 1];
	if (single && last == '\n') {
		f->bare_lf = true; /* RFC 5321 2.3.8; the line goes on */
		f->state = ST_MID;
	} else if (last == '\r') {
		f->state = ST_CR;
	} else {
		/* Inside a run every LF follows a CR: it ended a line. */
		f->state = last == '\n' ? ST_BOL : ST_MID;
	}
	return true;
}

/* step - one move of the state machine at in[*i]; false when out is full. */
static bool
step(struct dot_filter *f, struct scan *s, size_t *i, struct buf *out)
{
	uint8_t c = s->p[*i];

	switch (f->state) {
	case ST_BOL:
		f->state = ST_MID;
		if (f->mode == DOT_MODE_DATA && c == '.') {
			f->state = ST_DOT;
			(*i)++;
		}
		return true;
	case ST_DOT:
		/* RFC 5321 4.5.2: "If the first character is a period and
		   there are other characters on the line, the first character
		   is deleted." Only CR LF can make it the end. */
		f->state = ST_MID;
		if (c == '\r') {
			f->state = ST_DOT_CR;
			(*i)++;
		}
		return true;
	case ST_DOT_CR:
		if (c == '\n') {
			f->state = ST_END;
			(*i)++;
			return true;
		}
		/* Not the end: the dot was stuffing, the held CR is content. */
		if (emit(f, out, (const uint8_t *)"\r", 1) == 0)
			return false;
		f->state = ST_CR;
		return true;
	case ST_CR:
		if (c != '\n') {
			f->bare_cr = true;
			f->state = ST_MID;
			return true;
		}
		if (emit(f, out, &c, 1) == 0)
			return false;
		f->state = ST_BOL;
		(*i)++;
		return true;
	case ST_MID:
		return mid(f, s, i, out);
	default:
		assert(!"dot filter state");
		return false;
	}
}

enum dot_rc
dot_filter_run(struct dot_filter *f, const uint8_t *in, size_t n, size_t *used_r, struct buf *out)
{
	struct scan s = { in, n, SIZE_MAX, SIZE_MAX };
	size_t i = 0;

	/* Each step consumes a byte or moves to a state that consumes the
	   next one, so this ends. */
	while (i < n && f->state != ST_END && step(f, &s, &i, out))
		;
	*used_r = i;
	return f->state == ST_END ? DOT_END : DOT_MORE;
}
