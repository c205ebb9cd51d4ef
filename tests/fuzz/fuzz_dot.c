/*
 * fuzz_dot.c -- libFuzzer target for the DATA/BDAT filter (src/msg/dot.c),
 * checked against the naive whole-input model in dot_ref.h.
 *
 * Input: byte 0 picks the mode (bit 0) and the output buffer limit
 * (bits 1-4: 1..16 bytes, or 64 KiB), byte 1 the size limit (0 = none),
 * byte 2 the chunk size; the rest is the message stream. The filter is fed
 * in chunks, resumed whenever its output fills, and must agree with the
 * model on every output byte, the consumed length, the end and the flags.
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "dot_ref.h"
#include "msg/dot.h"
#include "fuzz.h"

/* Output collected from the filter, in the model's storage layout. */
struct sink {
	uint8_t *p;
	size_t len, cap;
};

static void
drain(struct buf *out, struct sink *s)
{
	struct span sp;

	if (buf_len(out) == 0)
		return; /* maybe never allocated: nothing to peek at */
	sp = buf_peek(out);
	FUZZ_ASSERT(s->len + sp.n <= s->cap);
	memcpy(s->p + s->len, sp.p, sp.n);
	s->len += sp.n;
	buf_consume(out, sp.n);
}

/* feed - runs one chunk to completion; returns bytes consumed. */
static size_t
feed(struct dot_filter *f, const uint8_t *p, size_t n, struct buf *out, struct sink *s,
    enum dot_rc *rc)
{
	size_t off = 0;

	while (off < n && *rc != DOT_END) {
		size_t used = 0;

		*rc = dot_filter_run(f, p + off, n - off, &used, out);
		FUZZ_ASSERT(used <= n - off);
		/* No progress is only allowed with a full output buffer. */
		FUZZ_ASSERT(used > 0 || *rc == DOT_END || buf_len(out) > 0);
		off += used;
		drain(out, s);
	}
	return off;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool data_mode, finish;
	uint64_t max;
	size_t chunk, outmax, off = 0, used = 0;
	struct dot_filter f;
	struct dot_ref ref = { 0 };
	struct sink s;
	struct buf out;
	enum dot_rc rc = DOT_MORE;

	if (size < 3)
		return 0;
	data_mode = (data[0] & 1) == 0;
	finish = !data_mode;
	outmax = (data[0] >> 1 & 15) == 15 ? 1 << 16 : 1 + (data[0] >> 1 & 15);
	max = data[1] == 0 ? UINT64_MAX : (uint64_t)data[1] * 3;
	chunk = 1 + data[2];
	data += 3;
	size -= 3;

	ref.out = malloc(size + 1);
	dot_ref_run(&ref, data_mode, max, data, size, finish);
	s = (struct sink){ malloc(size + 1), 0, size };
	buf_init(&out, 0, outmax);
	dot_filter_init(&f, data_mode ? DOT_MODE_DATA : DOT_MODE_RAW, max);
	while (off < size && rc != DOT_END) {
		size_t n = size - off < chunk ? size - off : chunk;

		used += feed(&f, data + off, n, &out, &s, &rc);
		off += n;
	}
	if (finish)
		dot_filter_finish(&f);

	FUZZ_ASSERT((rc == DOT_END) == ref.end && used == ref.used);
	FUZZ_ASSERT(s.len == ref.outlen && (s.len == 0 || memcmp(s.p, ref.out, s.len) == 0));
	FUZZ_ASSERT(f.size == ref.size && f.too_big == ref.too_big);
	FUZZ_ASSERT(f.bare_lf == ref.bare_lf && f.bare_cr == ref.bare_cr);
	FUZZ_ASSERT(s.len <= max);
	buf_deinit(&out);
	free(s.p);
	free(ref.out);
	return 0;
}
