/*
 * test_dot.c -- the DATA/BDAT filter: unstuffing, the strict end marker,
 * smuggling variants, bare CR/LF flags, the size limit and resumption.
 *
 * Every table case is fed whole, byte by byte, in two and three chunks cut
 * at every position, and whole into a 3-byte output buffer that forces the
 * filter to stop and resume; all must give the same result. A seeded random
 * test compares the filter with the naive model in tests/fuzz/dot_ref.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/dot_ref.h"
#include "base/buf.h"
#include "harness.h"
#include "msg/dot.h"

#define IN(lit) .in = (lit), .inlen = sizeof(lit) - 1
#define OUT(lit) .out = (lit), .outlen = sizeof(lit) - 1

static const struct dot_case {
	enum dot_mode mode;
	const char *in;
	size_t inlen;
	uint64_t max; /* 0: no limit */
	enum dot_rc rc;
	size_t left; /* bytes not consumed (pipelined after the end) */
	const char *out;
	size_t outlen;
	bool bare_lf, bare_cr, too_big;
	uint64_t size; /* 0: outlen */
	bool finish;   /* call dot_filter_finish() at the end */
} dot_cases[] = {
	{ DOT_MODE_DATA, IN("Hello\r\n.\r\n"), .rc = DOT_END, OUT("Hello\r\n") },
	{ DOT_MODE_DATA, IN(".\r\n"), .rc = DOT_END, OUT("") },
	{ DOT_MODE_DATA, IN("\r\n.\r\n"), .rc = DOT_END, OUT("\r\n") },
	{ DOT_MODE_DATA, IN("\r\n\r\n.\r\n"), .rc = DOT_END, OUT("\r\n\r\n") },
	/* Unstuffing: the first dot of a line goes, whatever follows. */
	{ DOT_MODE_DATA, IN("a\r\n..b\r\n.\r\n"), .rc = DOT_END, OUT("a\r\n.b\r\n") },
	{ DOT_MODE_DATA, IN("..\r\n.\r\n"), .rc = DOT_END, OUT(".\r\n") },
	{ DOT_MODE_DATA, IN("....\r\n.\r\n"), .rc = DOT_END, OUT("...\r\n") },
	{ DOT_MODE_DATA, IN(".x\r\n.\r\n"), .rc = DOT_END, OUT("x\r\n") },
	{ DOT_MODE_DATA, IN("a.\r\n.\r\n"), .rc = DOT_END, OUT("a.\r\n") },
	/* Pipelined commands after the end stay unconsumed. */
	{ DOT_MODE_DATA, IN("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), .rc = DOT_END, .left = 17,
	    OUT("a\r\n") },
	{ DOT_MODE_DATA, IN(".\r\n.\r\n"), .rc = DOT_END, .left = 3, OUT("") },
	/* Smuggling variants are content, never the end. */
	{ DOT_MODE_DATA, IN("a\n.\nb\r\n.\r\n"), .rc = DOT_END, OUT("a\n.\nb\r\n"),
	    .bare_lf = true },
	{ DOT_MODE_DATA, IN("a\r\n.\nb\r\n.\r\n"), .rc = DOT_END, OUT("a\r\n\nb\r\n"),
	    .bare_lf = true },
	{ DOT_MODE_DATA, IN("a\n.\r\nb\r\n.\r\n"), .rc = DOT_END, OUT("a\n.\r\nb\r\n"),
	    .bare_lf = true },
	{ DOT_MODE_DATA, IN("a\r.\r\nb\r\n.\r\n"), .rc = DOT_END, OUT("a\r.\r\nb\r\n"),
	    .bare_cr = true },
	{ DOT_MODE_DATA, IN("a\r\n.\rb\r\n.\r\n"), .rc = DOT_END, OUT("a\r\n\rb\r\n"),
	    .bare_cr = true },
	{ DOT_MODE_DATA, IN("a\r\n.\r\r\n.\r\n"), .rc = DOT_END, OUT("a\r\n\r\r\n"),
	    .bare_cr = true },
	{ DOT_MODE_DATA, IN("a\r\r\n.\r\n"), .rc = DOT_END, OUT("a\r\r\n"), .bare_cr = true },
	{ DOT_MODE_DATA, IN("\n.\n"), .rc = DOT_MORE, OUT("\n.\n"), .bare_lf = true },
	{ DOT_MODE_DATA, IN("x\r\n.\n"), .rc = DOT_MORE, OUT("x\r\n\n"), .bare_lf = true },
	{ DOT_MODE_DATA, IN("x\n.\r\n"), .rc = DOT_MORE, OUT("x\n.\r\n"), .bare_lf = true },
	{ DOT_MODE_DATA, IN("x\r\n\n.\r\n"), .rc = DOT_MORE, OUT("x\r\n\n.\r\n"), .bare_lf = true },
	{ DOT_MODE_DATA, IN("\0\r\n.\r\n"), .rc = DOT_END, OUT("\0\r\n") },
	/* Unfinished: a dot or dot-CR at a line start is held, a CR is output. */
	{ DOT_MODE_DATA, IN("abc\r\n"), .rc = DOT_MORE, OUT("abc\r\n") },
	{ DOT_MODE_DATA, IN("abc\r\n."), .rc = DOT_MORE, OUT("abc\r\n") },
	{ DOT_MODE_DATA, IN("abc\r\n.\r"), .rc = DOT_MORE, OUT("abc\r\n") },
	{ DOT_MODE_DATA, IN("abc\r"), .rc = DOT_MORE, OUT("abc\r") },
	/* Size limit: output stops at max, counting and the end go on. */
	{ DOT_MODE_DATA, IN("0123456789\r\n.\r\n"), .max = 5, .rc = DOT_END, OUT("01234"),
	    .too_big = true, .size = 12 },
	{ DOT_MODE_DATA, IN("abcde\r\n.\r\n"), .max = 7, .rc = DOT_END, OUT("abcde\r\n") },
	{ DOT_MODE_DATA, IN("abcde\r\n.\r\n"), .max = 6, .rc = DOT_END, OUT("abcde\r"),
	    .too_big = true, .size = 7 },
	{ DOT_MODE_DATA, IN("ab\r\n..c\r\n.\r\nQUIT\r\n"), .max = 3, .rc = DOT_END, .left = 6,
	    OUT("ab\r"), .too_big = true, .size = 8 },
	{ DOT_MODE_DATA, IN("ab\r\n.\rc\r\n.\r\n"), .max = 4, .rc = DOT_END, OUT("ab\r\n"),
	    .too_big = true, .size = 8, .bare_cr = true },
	/* BDAT: bytes pass unchanged; flags still set. */
	{ DOT_MODE_RAW, IN("abc\r\ndef"), .rc = DOT_MORE, OUT("abc\r\ndef") },
	{ DOT_MODE_RAW, IN("a\r\n.\r\nb"), .rc = DOT_MORE, OUT("a\r\n.\r\nb") },
	{ DOT_MODE_RAW, IN("..\r\n"), .rc = DOT_MORE, OUT("..\r\n") },
	{ DOT_MODE_RAW, IN("abc\ndef"), .rc = DOT_MORE, OUT("abc\ndef"), .bare_lf = true },
	{ DOT_MODE_RAW, IN("abc\rdef"), .rc = DOT_MORE, OUT("abc\rdef"), .bare_cr = true },
	{ DOT_MODE_RAW, IN("abc\r"), .rc = DOT_MORE, OUT("abc\r") },
	{ DOT_MODE_RAW, IN("abc\r"), .rc = DOT_MORE, OUT("abc\r"), .bare_cr = true,
	    .finish = true },
	{ DOT_MODE_RAW, IN("abc\r\n"), .rc = DOT_MORE, OUT("abc\r\n"), .finish = true },
	{ DOT_MODE_RAW, IN("abcdefgh"), .max = 4, .rc = DOT_MORE, OUT("abcd"), .too_big = true,
	    .size = 8 },
	{ DOT_MODE_RAW, IN("\r\r\n\n"), .rc = DOT_MORE, OUT("\r\r\n\n"), .bare_cr = true,
	    .bare_lf = true },
};

/* The outcome of one run, to compare across feeding patterns. */
struct dot_got {
	enum dot_rc rc;
	size_t used;
	uint8_t out[256];
	size_t outlen;
	bool stuck; /* no progress although there was room: a filter bug */
};

/* drain_out - what the caller does: move the output away. */
static void
drain_out(struct buf *out, struct dot_got *g)
{
	struct span s;

	if (buf_len(out) == 0)
		return; /* maybe never allocated: nothing to peek at */
	s = buf_peek(out);
	if (g->outlen + s.n <= sizeof(g->out)) {
		memcpy(g->out + g->outlen, s.p, s.n);
		g->outlen += s.n;
	}
	buf_consume(out, s.n);
}

/* feed_chunk - one input chunk, calling again while out fills up. */
static void
feed_chunk(struct dot_filter *f, const uint8_t *p, size_t n, struct buf *out, struct dot_got *g)
{
	size_t off = 0;

	while (g->rc != DOT_END && off < n) {
		size_t used = 0;

		g->rc = dot_filter_run(f, p + off, n - off, &used, out);
		off += used;
		g->used += used;
		if (used == 0 && g->rc != DOT_END && buf_len(out) == 0) {
			g->stuck = true;
			return;
		}
		drain_out(out, g);
	}
}

/* dot_feed - c->in cut at cut1 and cut2 (0: none) or in `chunk`-byte pieces,
   into an output buffer of at most outmax bytes. */
static void
dot_feed(const struct dot_case *c, size_t chunk, size_t cut1, size_t cut2, size_t outmax)
{
	struct dot_filter f;
	struct dot_got g = { .rc = DOT_MORE };
	struct buf out;
	uint8_t *in = malloc(c->inlen + 1);
	size_t off = 0;
	char what[200];
	bool ok;

	memcpy(in, c->in, c->inlen);
	buf_init(&out, 0, outmax);
	dot_filter_init(&f, c->mode, c->max != 0 ? c->max : UINT64_MAX);
	while (off < c->inlen && g.rc != DOT_END && !g.stuck) {
		size_t end = c->inlen;

		if (chunk > 0)
			end = MIN(off + chunk, c->inlen);
		else if (cut1 > off)
			end = cut1;
		else if (cut2 > off)
			end = cut2;
		feed_chunk(&f, in + off, end - off, &out, &g);
		off = end;
	}
	if (c->finish)
		dot_filter_finish(&f);
	ok = !g.stuck && g.rc == c->rc && g.used == c->inlen - c->left &&
	    g.outlen == c->outlen && memcmp(g.out, c->out, c->outlen) == 0 &&
	    f.bare_lf == c->bare_lf && f.bare_cr == c->bare_cr && f.too_big == c->too_big &&
	    f.size == (c->size != 0 ? c->size : c->outlen);
	if (!ok) {
		char esc[64];

		snprintf(what, sizeof(what),
		    "dot case \"%s\" chunk=%zu cuts=%zu,%zu outmax=%zu: rc=%d used=%zu "
		    "outlen=%zu lf=%d cr=%d big=%d size=%llu",
		    t_show_bytes(esc, sizeof(esc), c->in, c->inlen), chunk, cut1, cut2, outmax, g.rc,
		    g.used, g.outlen, f.bare_lf, f.bare_cr, f.too_big, (unsigned long long)f.size);
		t_fail(__FILE__, __LINE__, what);
	}
	buf_deinit(&out);
	free(in);
}

static void
test_dot_table(void)
{
	for (size_t i = 0; i < nitems(dot_cases); i++) {
		const struct dot_case *c = &dot_cases[i];

		dot_feed(c, 0, 0, 0, 1 << 16);
		dot_feed(c, 1, 0, 0, 1 << 16);
		dot_feed(c, 0, 0, 0, 3);
		dot_feed(c, 1, 0, 0, 1);
		for (size_t a = 1; a < c->inlen; a++)
			for (size_t b = a; b < c->inlen; b++)
				dot_feed(c, 0, a, b, 1 << 16);
	}
}

/* After the end, further calls consume nothing and keep saying so. */
static void
test_dot_after_end(void)
{
	struct dot_filter f;
	struct buf out;
	size_t used = 99;

	buf_init(&out, 0, 1024);
	dot_filter_init(&f, DOT_MODE_DATA, UINT64_MAX);
	CHECK_INT(dot_filter_run(&f, (const uint8_t *)".\r\nNOOP\r\n", 9, &used, &out), DOT_END);
	CHECK_INT(used, 3);
	CHECK_INT(dot_filter_run(&f, (const uint8_t *)"NOOP\r\n", 6, &used, &out), DOT_END);
	CHECK_INT(used, 0);
	CHECK_INT(buf_len(&out), 0);
	CHECK_INT(dot_filter_run(&f, NULL, 0, &used, &out), DOT_END);
	buf_deinit(&out);
}

/* The CR LF "." CR LF end marker split at every pair of positions, after a
   body that ends mid-run, inside a 2-byte output buffer. */
static void
test_dot_end_splits(void)
{
	static const struct dot_case c = { DOT_MODE_DATA, IN("body\r\n.\r\nQUIT\r\n"),
		.rc = DOT_END, .left = 6, OUT("body\r\n") };

	for (size_t a = 1; a < c.inlen; a++)
		for (size_t b = a; b < c.inlen; b++)
			dot_feed(&c, 0, a, b, 2);
}

/* Adversarial layouts must cost linear time: a quadratic rescan for CR or
   LF would take minutes here. */
static void
test_dot_linear(void)
{
	static const char pat[][2] = {
		{ '\n', '\n' }, { '\r', '\r' }, { '\r', 'x' }, { 'x', '\n' },
	};
	size_t n = 8 << 20;
	uint8_t *in = malloc(n);
	struct dot_filter f;
	struct buf out;
	size_t used;

	buf_init(&out, 0, n + 1);
	for (size_t k = 0; k < nitems(pat); k++) {
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)pat[k][i & 1];
		dot_filter_init(&f, DOT_MODE_DATA, UINT64_MAX);
		buf_clear(&out);
		CHECK_INT(dot_filter_run(&f, in, n, &used, &out), DOT_MORE);
		CHECK_INT(used, n);
		CHECK_INT(buf_len(&out), n);
	}
	buf_deinit(&out);
	free(in);
}

/* xorshift - a fixed-seed generator, so failures reproduce. */
static uint32_t
xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* model_fail - reports a disagreement with the input spelled out. */
static void
model_fail(const uint8_t *in, size_t n, bool data, uint64_t max, const struct dot_got *g,
    const struct dot_ref *ref)
{
	char what[512];
	size_t w;

	w = (size_t)snprintf(what, sizeof(what), "model mismatch mode=%s max=%llu in=\"",
	    data ? "data" : "raw", (unsigned long long)max);
	for (size_t i = 0; i < n && w + 8 < sizeof(what); i++)
		w += (size_t)snprintf(what + w, sizeof(what) - w, in[i] == '\r' ? "\\r" :
		    in[i] == '\n' ? "\\n" : in[i] == '\0' ? "\\0" : "%c", in[i]);
	snprintf(what + w, sizeof(what) - w, "\" used=%zu/%zu out=%zu/%zu end=%d/%d", g->used,
	    ref->used, g->outlen, ref->outlen, g->rc == DOT_END, ref->end);
	t_fail(__FILE__, __LINE__, what);
}

/* One random input compared with the model, fed in random chunks. */
static void
random_case(uint32_t *seed, bool data)
{
	static const uint8_t alphabet[] = { '\r', '\n', '.', 'a', '\r', '\n', '.', '\0' };
	uint8_t in[64], mout[64];
	size_t n = xorshift(seed) % sizeof(in);
	uint64_t max = xorshift(seed) % 2 ? UINT64_MAX : xorshift(seed) % 40;
	struct dot_ref ref = { .out = mout };
	struct dot_filter f;
	struct dot_got g = { .rc = DOT_MORE };
	struct buf out;
	size_t off = 0;

	for (size_t i = 0; i < n; i++)
		in[i] = alphabet[xorshift(seed) % sizeof(alphabet)];
	dot_ref_run(&ref, data, max, in, n, !data);
	buf_init(&out, 0, 1 + xorshift(seed) % 8);
	dot_filter_init(&f, data ? DOT_MODE_DATA : DOT_MODE_RAW, max);
	while (off < n && g.rc != DOT_END && !g.stuck) {
		size_t r = 1 + xorshift(seed) % 7; /* not inside MIN(): it evaluates twice */
		size_t k = MIN(n - off, r);

		feed_chunk(&f, in + off, k, &out, &g);
		off += k;
	}
	if (!data)
		dot_filter_finish(&f);
	if (g.stuck || (g.rc == DOT_END) != ref.end || g.used != ref.used ||
	    g.outlen != ref.outlen || memcmp(g.out, ref.out, ref.outlen) != 0 ||
	    f.size != ref.size || f.bare_lf != ref.bare_lf || f.bare_cr != ref.bare_cr ||
	    f.too_big != ref.too_big)
		model_fail(in, n, data, max, &g, &ref);
	buf_deinit(&out);
}

static void
test_dot_model(void)
{
	uint32_t seed = 0x2545f491;

	for (int i = 0; i < 20000; i++)
		random_case(&seed, i % 4 != 0);
}

static const struct t_test tests[] = {
	T(test_dot_table),
	T(test_dot_after_end),
	T(test_dot_end_splits),
	T(test_dot_linear),
	T(test_dot_model),
	{ 0 },
};
T_MAIN(tests)
