/*
 * fuzz_dkim_verify.c -- libFuzzer target for the streaming DKIM verifier
 * (src/msgauth/dkim_verify.c) up to the key lookups: header parsing,
 * signature selection and parsing, the shared body hashers, the body hash
 * check and the report. It runs without a resolver (signatures that would
 * need a key end as temperror), on a private libuv loop.
 *
 * Input: byte 0 picks the chunk size (1..256), the rest is the message.
 * The callback must run exactly once, from the loop, with at most
 * DKIM_MAX_SIGS results, each with a result and a reason.
 * Dictionary: tests/fuzz/dkim.dict (shared by the dkim_* targets).
 */
#include <string.h>

#include "fuzz.h"
#include "msgauth/dkim.h"

struct seen {
	int calls;
};

static void
done(void *ctx, const struct dkim_sig_result *r, size_t n, size_t nskipped)
{
	struct seen *s = ctx;

	s->calls++;
	FUZZ_ASSERT(n <= DKIM_MAX_SIGS);
	FUZZ_ASSERT(nskipped == 0 || n == DKIM_MAX_SIGS);
	for (size_t i = 0; i < n; i++) {
		FUZZ_ASSERT(r[i].result != DKIM_NONE && r[i].result != DKIM_PASS);
		FUZZ_ASSERT(r[i].reason[0] != '\0');
		FUZZ_ASSERT(strlen(r[i].b) < sizeof(r[i].b));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uv_loop_t loop;
	struct dkim_verify *v;
	struct seen seen = {0};
	size_t chunk, off = 0;

	if (size < 1)
		return 0;
	chunk = 1 + data[0];
	data++;
	size--;
	FUZZ_ASSERT(uv_loop_init(&loop) == 0);
	v = dkim_verify_new(NULL, 1700000000);
	while (off < size) {
		size_t k = size - off < chunk ? size - off : chunk;
		dkim_verify_feed(v, data + off, k);
		off += k;
	}
	FUZZ_ASSERT(dkim_verify_finish(v, &loop, done, &seen) == 0);
	FUZZ_ASSERT(seen.calls == 0); /* never from inside finish */
	uv_run(&loop, UV_RUN_DEFAULT);
	FUZZ_ASSERT(seen.calls == 1);
	dkim_verify_free(&v);
	uv_run(&loop, UV_RUN_DEFAULT);
	FUZZ_ASSERT(uv_loop_close(&loop) == 0);
	return 0;
}
