/*
 * fuzz_dkim_key.c -- libFuzzer target for the DKIM key record parser
 * (src/msgauth/dkim_tag.c): the input is TXT record text.
 * Dictionary: tests/fuzz/dkim.dict (shared by the dkim_* targets).
 */
#include "fuzz.h"
#include "msgauth/dkim.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_key key;
	const char *err = NULL;

	if (dkim_key_parse(&key, (struct span){data, size}, &err) == 1) {
		FUZZ_ASSERT(key.plen <= DKIM_MAX_KEY_BYTES);
		FUZZ_ASSERT(key.revoked == (key.plen == 0));
		FUZZ_ASSERT(key.type == DKIM_KEY_RSA || key.type == DKIM_KEY_ED25519);
	} else {
		FUZZ_ASSERT(err != NULL);
	}
	return 0;
}
