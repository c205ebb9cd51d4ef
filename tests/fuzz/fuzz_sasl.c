/*
 * fuzz_sasl.c -- libFuzzer target for SASL decoding (src/sasl/sasl.c).
 *
 * The whole input is one base64 response line. Strict base64 is canonical,
 * so every accepted input must re-encode to exactly itself ("=" and "" to
 * nothing): a decoder that accepted sloppy padding or junk would fail here.
 * The raw input must also survive an encode/decode round trip. Checked with
 * abort().
 */
#include <stdlib.h>
#include <string.h>

#include "sasl/sasl.h"
#include "fuzz.h"

/* Room for any PLAIN message and its base64. */
#define BIN_MAX 1024
#define B64_MAX (BIN_MAX / 3 * 4 + 8)

/* reencodes_to - bin[0..n) encodes to exactly data[0..size). */
static bool
reencodes_to(const void *bin, size_t n, const uint8_t *data, size_t size)
{
	char b64[B64_MAX];
	ssize_t len = sasl_b64_encode(bin, n, b64, sizeof(b64));

	if (n == 0)
		return size == 0 || (size == 1 && data[0] == '=');
	return len >= 0 && (size_t)len == size && memcmp(b64, data, size) == 0;
}

static void
check_plain(const uint8_t *data, size_t size)
{
	struct sasl_creds c;
	const char *err = NULL;
	char msg[3 * (SASL_MAX_FIELD + 1)];
	size_t zl, cl, pl;

	if (sasl_plain_decode((struct span){ data, size }, &c, &err) != 1) {
		FUZZ_ASSERT(err != NULL);
		return;
	}
	zl = strlen(c.authzid);
	cl = strlen(c.authcid);
	pl = strlen(c.passwd);
	FUZZ_ASSERT(zl <= SASL_MAX_FIELD && cl >= 1 && cl <= SASL_MAX_FIELD);
	FUZZ_ASSERT(pl >= 1 && pl <= SASL_MAX_FIELD);
	memcpy(msg, c.authzid, zl + 1);
	memcpy(msg + zl + 1, c.authcid, cl + 1);
	memcpy(msg + zl + cl + 2, c.passwd, pl);
	FUZZ_ASSERT(reencodes_to(msg, zl + cl + 2 + pl, data, size));
	sasl_creds_wipe(&c);
}

static void
check_login(const uint8_t *data, size_t size)
{
	char field[SASL_MAX_FIELD + 1];
	const char *err = NULL;

	if (sasl_login_decode((struct span){ data, size }, field, sizeof(field), &err) != 1) {
		FUZZ_ASSERT(err != NULL);
		return;
	}
	FUZZ_ASSERT(strlen(field) >= 1 && strlen(field) <= SASL_MAX_FIELD);
	FUZZ_ASSERT(reencodes_to(field, strlen(field), data, size));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char bin[BIN_MAX], b64[B64_MAX];
	ssize_t n, m;

	n = sasl_b64_decode((struct span){ data, size }, bin, sizeof(bin));
	if (n >= 0)
		FUZZ_ASSERT(bin[n] == '\0' && reencodes_to(bin, (size_t)n, data, size));
	check_plain(data, size);
	check_login(data, size);

	/* Any bytes survive a round trip. */
	if (size <= BIN_MAX - 1) {
		m = sasl_b64_encode(data, size, b64, sizeof(b64));
		FUZZ_ASSERT(m >= 0);
		n = sasl_b64_decode((struct span){ (const uint8_t *)b64, (size_t)m }, bin,
		    sizeof(bin));
		FUZZ_ASSERT(n == (ssize_t)size && memcmp(bin, data, size) == 0);
	}
	return 0;
}
