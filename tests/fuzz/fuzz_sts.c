/*
 * fuzz_sts.c -- libFuzzer target for the MTA-STS record and policy parsers
 * (src/sts/sts.c), both fed from DNS and HTTPS.
 *
 * Invariants, checked with abort(): every call returns 0 or -1 with an
 * error; an accepted policy has a mode, at most STS_MAX_MX patterns, a
 * max_age within the RFC's bound, and mx lines unless the mode is none;
 * matching never reads past a pattern.
 */
#include <string.h>

#include "sts/sts.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sts_policy p;
	char txt[1024], id[STS_ID_MAX + 1];
	const char *err = NULL;
	int rc = sts_policy_parse((const char *)data, size, &p, &err);

	FUZZ_ASSERT(rc == 0 || (rc == -1 && err != NULL));
	if (rc == 0) {
		FUZZ_ASSERT(p.nmx <= STS_MAX_MX && p.max_age <= STS_MAX_AGE);
		FUZZ_ASSERT(p.mode == STS_MODE_NONE || p.nmx > 0);
		(void)sts_policy_mx_match(&p, "mx.example.com");
	}
	/* The same bytes as a TXT record (NUL-terminated, bounded). */
	size = size < sizeof(txt) - 1 ? size : sizeof(txt) - 1;
	memcpy(txt, data, size);
	txt[size] = '\0';
	err = NULL;
	rc = sts_record_parse(txt, id, &err);
	FUZZ_ASSERT(rc == 0 || (rc == -1 && err != NULL));
	if (rc == 0)
		FUZZ_ASSERT(strlen(id) >= 1 && strlen(id) <= STS_ID_MAX);
	return 0;
}
