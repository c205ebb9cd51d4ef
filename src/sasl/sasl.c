/*
 * sasl.c -- SASL PLAIN and LOGIN message decoding (server side).
 *
 * Input is untrusted network data, and the decoded bytes are secrets: they
 * go straight into caller storage and every temporary is wiped with
 * sodium_memzero() before returning, on success and on failure.
 * No I/O, no logging, no allocation, no global state. libsodium's codecs
 * need no sodium_init().
 * Standards: RFC 4616 2; draft-murchison-sasl-login-00; RFC 4954 4;
 * RFC 4648 4.
 * Security: reached before authentication; fuzzed by tests/fuzz/fuzz_sasl.c.
 * XXX: fields are not checked to be UTF-8 (RFC 4616 SAFE); they are only
 * compared byte for byte with stored credentials.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "sasl/sasl.h"

/* authzid NUL authcid NUL passwd, each field at its maximum. */
#define PLAIN_MAX (3 * SASL_MAX_FIELD + 2)

/*
 * is_b64_alphabet - only RFC 4648 4 characters and '='. libsodium checks
 * this too, but 1.0.18 (Debian 12) takes every byte >= 0x80 for a digit
 * (found by fuzz_sasl), so do not rely on it.
 */
static bool
is_b64_alphabet(struct span s)
{
	for (size_t i = 0; i < s.n; i++) {
		uint8_t c = s.p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '+' || c == '/' || c == '='))
			return false;
	}
	return true;
}

ssize_t
sasl_b64_decode(struct span in, char *out, size_t outsize)
{
	size_t len;

	if (outsize == 0)
		return -1;
	/* RFC 4954 4: a zero-length response is sent as "=". */
	if (in.n == 0 || (in.n == 1 && in.p[0] == '=')) {
		out[0] = '\0';
		return 0;
	}
	/* No `ignore` set and no b64_end: every input byte must be base64 and
	   the padding exact, or it fails. */
	if (!is_b64_alphabet(in) ||
	    sodium_base642bin((unsigned char *)out, outsize - 1, (const char *)in.p, in.n, NULL,
	        &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		sodium_memzero(out, outsize);
		return -1;
	}
	out[len] = '\0';
	return (ssize_t)len;
}

ssize_t
sasl_b64_encode(const void *in, size_t n, char *out, size_t outsize)
{
	size_t need;

	/* Keep sodium_base64_ENCODED_LEN() from overflowing. */
	if (n > SIZE_MAX / 4 * 3 - 3)
		return -1;
	need = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	/* sodium_bin2base64() aborts when out is too small: check first. */
	if (need > outsize)
		return -1;
	sodium_bin2base64(out, outsize, in, n, sodium_base64_VARIANT_ORIGINAL);
	return (ssize_t)(need - 1);
}

/* copy_field - one field into dst (SASL_MAX_FIELD + 1 bytes), terminated. */
static int
copy_field(char *dst, const char *p, size_t n, const char **error_r)
{
	if (n > SASL_MAX_FIELD) {
		*error_r = "field too long";
		return -1;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* plain_split - RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd. */
static int
plain_split(const char *msg, size_t n, struct sasl_creds *c, const char **error_r)
{
	const char *end = msg + n, *nul1, *nul2 = NULL;

	nul1 = memchr(msg, '\0', n);
	if (nul1 != NULL)
		nul2 = memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1));
	if (nul2 == NULL) {
		*error_r = "missing NUL separator";
		return -1;
	}
	if (memchr(nul2 + 1, '\0', (size_t)(end - nul2 - 1)) != NULL) {
		*error_r = "NUL inside a field";
		return -1;
	}
	if (nul2 == nul1 + 1 || nul2 + 1 == end) {
		*error_r = nul2 == nul1 + 1 ? "empty authentication identity" : "empty password";
		return -1;
	}
	if (copy_field(c->authzid, msg, (size_t)(nul1 - msg), error_r) < 0 ||
	    copy_field(c->authcid, nul1 + 1, (size_t)(nul2 - nul1 - 1), error_r) < 0 ||
	    copy_field(c->passwd, nul2 + 1, (size_t)(end - nul2 - 1), error_r) < 0)
		return -1;
	return 1;
}

int
sasl_plain_decode(struct span b64, struct sasl_creds *c, const char **error_r)
{
	char msg[PLAIN_MAX + 1];
	ssize_t n;
	int rc;

	sasl_creds_wipe(c);
	if ((n = sasl_b64_decode(b64, msg, sizeof(msg))) < 0) {
		*error_r = "invalid base64 or response too long";
		return -1;
	}
	rc = plain_split(msg, (size_t)n, c, error_r);
	sodium_memzero(msg, sizeof(msg));
	if (rc < 0)
		sasl_creds_wipe(c);
	return rc;
}

int
sasl_login_decode(struct span b64, char *field, size_t fieldsize, const char **error_r)
{
	size_t cap = fieldsize < SASL_MAX_FIELD + 1 ? fieldsize : SASL_MAX_FIELD + 1;
	ssize_t n;

	if (fieldsize == 0) {
		*error_r = "no room for the field";
		return -1;
	}
	if ((n = sasl_b64_decode(b64, field, cap)) < 0) {
		*error_r = "invalid base64 or field too long";
	} else if (n == 0) {
		*error_r = "empty field";
	} else if (memchr(field, '\0', (size_t)n) != NULL) {
		*error_r = "NUL inside the field";
	} else {
		return 1;
	}
	sodium_memzero(field, fieldsize);
	return -1;
}

void
sasl_creds_wipe(struct sasl_creds *c)
{
	sodium_memzero(c, sizeof(*c));
}
