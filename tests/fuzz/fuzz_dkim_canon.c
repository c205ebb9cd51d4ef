/*
 * fuzz_dkim_canon.c -- libFuzzer target for the streaming DKIM header
 * parser (dkim_hdr.c) and canonicalization (dkim_canon.c).
 *
 * Input: byte 0 picks the chunk size (1..256), the rest is a message. It
 * is fed whole and in chunks: the header section must end at the same
 * offset with the same fields, and the body hash (simple and relaxed, with
 * and without an l= cut) must be the same. Every field is canonicalized
 * both ways and selected by its own name, and every DKIM-Signature value
 * goes through the signature parser, as the verifier would do.
 * Dictionary: tests/fuzz/dkim.dict (shared by the dkim_* targets).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "msgauth/dkim.h"

/* feed - returns the body offset; the rest goes to both bodies. */
static size_t
feed(struct dkim_hdr *h, struct dkim_body *b, const uint8_t *p, size_t n, size_t chunk)
{
	size_t off = 0, body = SIZE_MAX;

	while (off < n) {
		size_t k = n - off < chunk ? n - off : chunk, used = 0;

		if (!h->done) {
			used = dkim_hdr_feed(h, p + off, k);
			FUZZ_ASSERT(used <= k);
			if (h->done)
				body = off + used;
		}
		for (int i = 0; i < 2; i++)
			if (h->done)
				dkim_body_update(&b[i], p + off + used, k - used);
		off += k;
	}
	if (!h->done) {
		dkim_hdr_finish(h);
		body = n;
	}
	return body;
}

static void
fields(const struct dkim_hdr *h)
{
	struct buf out;
	struct dkim_sig *sig = malloc(sizeof(*sig));
	const char *err;

	buf_init(&out, 256, 4 * DKIM_MAX_HEADER);
	for (size_t i = 0; i < h->nf; i++) {
		struct span name = dkim_hdr_name(h, i), f = dkim_hdr_field(h, i);

		FUZZ_ASSERT(name.n <= f.n);
		FUZZ_ASSERT(dkim_canon_header(DKIM_CANON_SIMPLE, f, true, &out) == 0);
		FUZZ_ASSERT(dkim_canon_header(DKIM_CANON_RELAXED, f, false, &out) == 0);
		if (name.n > 0)
			FUZZ_ASSERT(dkim_hdr_select(h, &name, 1, DKIM_CANON_RELAXED, SIZE_MAX,
			                            &out) == 0);
		if (span_eq_ci(name, "DKIM-Signature"))
			(void)dkim_sig_parse(sig, dkim_hdr_value(h, i), &err);
		buf_clear(&out);
	}
	buf_deinit(&out);
	free(sig);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_hdr *h[2];
	struct dkim_body b[2][2];
	uint8_t hash[2][2][32];
	size_t body[2], chunk;
	uint64_t limit;

	if (size < 1)
		return 0;
	chunk = 1 + data[0];
	limit = data[0] & 1 ? UINT64_MAX : data[0];
	data++;
	size--;
	for (int r = 0; r < 2; r++) {
		h[r] = malloc(sizeof(*h[r]));
		dkim_hdr_init(h[r]);
		dkim_body_init(&b[r][0], DKIM_CANON_SIMPLE, limit);
		dkim_body_init(&b[r][1], DKIM_CANON_RELAXED, limit);
		body[r] = feed(h[r], b[r], data, size, r == 0 ? SIZE_MAX : chunk);
		for (int i = 0; i < 2; i++) {
			dkim_body_final(&b[r][i], hash[r][i]);
			dkim_body_deinit(&b[r][i]);
		}
	}
	FUZZ_ASSERT(body[0] == body[1] && h[0]->nf == h[1]->nf);
	FUZZ_ASSERT((h[0]->error == NULL) == (h[1]->error == NULL));
	FUZZ_ASSERT(memcmp(hash[0], hash[1], sizeof(hash[0])) == 0);
	for (size_t i = 0; i < h[0]->nf; i++) {
		struct span f0 = dkim_hdr_field(h[0], i), f1 = dkim_hdr_field(h[1], i);
		FUZZ_ASSERT(f0.n == f1.n && (f0.n == 0 || memcmp(f0.p, f1.p, f0.n) == 0));
	}
	fields(h[0]);
	for (int r = 0; r < 2; r++) {
		dkim_hdr_deinit(h[r]);
		free(h[r]);
	}
	return 0;
}
