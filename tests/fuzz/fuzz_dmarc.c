/*
 * fuzz_dmarc.c -- libFuzzer target for the DMARC record parser
 * (src/msgauth/dmarc.c), and with the same input the organizational
 * domain and alignment, and the Authentication-Results recognition and
 * header filter (src/msgauth/authres.c).
 *
 * Invariants, checked with abort():
 *   - the parser answers 1, 0 or -1 (with a reason); on success p, sp,
 *     adkim and aspf are in range, pct <= 100 and rua is a printable,
 *     terminated string;
 *   - an organizational domain is a suffix of the (lower-cased) input;
 *   - a domain is aligned with itself in both modes when it is valid;
 *   - the header filter never outputs more than its input and drops only
 *     whole fields.
 */
#include <ctype.h>
#include <string.h>

#include "msgauth/authres.h"
#include "msgauth/dmarc.h"
#include "fuzz.h"

static void
check_record(const uint8_t *data, size_t size)
{
	struct dmarc_record rec;
	const char *err = NULL;
	int rc = dmarc_record_parse((struct span){ data, size }, &rec, &err);

	FUZZ_ASSERT(rc == 1 || rc == 0 || (rc == -1 && err != NULL));
	if (rc != 1)
		return;
	FUZZ_ASSERT(rec.p <= DMARC_P_REJECT && rec.sp <= DMARC_P_REJECT);
	FUZZ_ASSERT(rec.adkim <= DMARC_A_STRICT && rec.aspf <= DMARC_A_STRICT);
	FUZZ_ASSERT(rec.pct <= 100);
	FUZZ_ASSERT(memchr(rec.rua, '\0', sizeof(rec.rua)) != NULL);
	for (const char *c = rec.rua; *c != '\0'; c++)
		FUZZ_ASSERT(*c >= 0x20 && *c < 0x7f);
}

static void
check_domain(const uint8_t *data, size_t size)
{
	char name[300], org[DMARC_MAX_DOMAIN + 1];
	size_t n = MIN(size, sizeof(name) - 1);

	memcpy(name, data, n);
	name[n] = '\0';
	if (dmarc_org_domain(name, org, sizeof(org)) == 0) {
		size_t on = strlen(org), nn = strlen(name);

		if (nn > 0 && name[nn - 1] == '.')
			nn--;
		FUZZ_ASSERT(on <= nn);
		FUZZ_ASSERT(strncasecmp(name + nn - on, org, on) == 0);
		FUZZ_ASSERT(dmarc_aligned(name, name, DMARC_A_STRICT));
		FUZZ_ASSERT(dmarc_aligned(name, name, DMARC_A_RELAXED));
	}
}

static void
check_authres(const uint8_t *data, size_t size)
{
	struct buf out;
	int rc;

	buf_init(&out, 0, size + 1);
	rc = authres_strip_ours(data, size, "mx.example.net", &out);
	FUZZ_ASSERT(rc >= 0);
	FUZZ_ASSERT(buf_len(&out) <= size);
	FUZZ_ASSERT(rc > 0 || buf_len(&out) == size);
	buf_deinit(&out);
	(void)authres_claims_ours(span_str("Authentication-Results"), (struct span){ data, size },
	                          "mx.example.net");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_record(data, size);
	check_domain(data, size);
	check_authres(data, size);
	return 0;
}
