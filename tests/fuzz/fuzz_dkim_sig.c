/*
 * fuzz_dkim_sig.c -- libFuzzer target for the DKIM-Signature parser
 * (src/msgauth/dkim_tag.c): the input is a field value. On success every
 * span must lie inside the input and every count within its bound.
 * Dictionary: tests/fuzz/dkim.dict (shared by the dkim_* targets).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "msgauth/dkim.h"

static bool
inside(struct span s, const uint8_t *p, size_t n)
{
	return s.n == 0 || (s.p >= p && s.p + s.n <= p + n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_sig *sig = malloc(sizeof(*sig));
	struct dkim_tag tags[DKIM_MAX_TAGS];
	const char *err = NULL;
	int n;

	n = dkim_tag_parse((struct span){data, size}, tags, DKIM_MAX_TAGS, &err);
	FUZZ_ASSERT(n <= DKIM_MAX_TAGS && (n >= 0 || err != NULL));
	for (int i = 0; i < n; i++)
		FUZZ_ASSERT(tags[i].name.n > 0 && inside(tags[i].value, data, size) &&
		            inside(tags[i].raw, data, size));
	err = NULL;
	if (dkim_sig_parse(sig, (struct span){data, size}, &err) == 1) {
		FUZZ_ASSERT(sig->nh > 0 && sig->nh <= DKIM_MAX_H);
		FUZZ_ASSERT(sig->blen > 0 && sig->blen <= DKIM_MAX_SIG_BYTES);
		FUZZ_ASSERT(sig->d.n > 0 && sig->d.n <= DKIM_MAX_DOMAIN && sig->s.n > 0);
		FUZZ_ASSERT(inside(sig->d, data, size) && inside(sig->s, data, size));
		FUZZ_ASSERT(inside(sig->b_raw, data, size) && inside(sig->i, data, size));
		for (size_t i = 0; i < sig->nh; i++)
			FUZZ_ASSERT(sig->h[i].n > 0 && inside(sig->h[i], data, size));
		FUZZ_ASSERT(!sig->has_t || !sig->has_x || sig->x > sig->t);
	} else {
		FUZZ_ASSERT(err != NULL);
	}
	free(sig);
	return 0;
}
