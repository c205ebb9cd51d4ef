/*
 * sasl.h -- server-side SASL PLAIN and LOGIN message decoding.
 *
 * Pure: no I/O, no logging, no allocation. Base64 is strict (libsodium
 * sodium_base642bin, original alphabet, padding required, no whitespace,
 * unused bits zero). Decoded secrets live only in caller-provided storage
 * and in stack temporaries that are wiped before returning.
 * Standards: RFC 4616 (PLAIN), draft-murchison-sasl-login-00 (LOGIN),
 * RFC 4954 4 ("=" for an empty response), RFC 4648 4 (base64).
 * Limits: SASL_MAX_FIELD octets per field (RFC 4616 2: "MUST be capable of
 * accepting authzid, authcid, and passwd productions of up to and including
 * 255 octets").
 * Security: reached before authentication; fuzzed by tests/fuzz/fuzz_sasl.c.
 */
#ifndef HIKYAKU_SASL_SASL_H
#define HIKYAKU_SASL_SASL_H

#include <stddef.h>
#include <sys/types.h>

#include "base/span.h"

#define SASL_MAX_FIELD 255

struct sasl_creds {
	char authzid[SASL_MAX_FIELD + 1]; /* "" when absent */
	char authcid[SASL_MAX_FIELD + 1];
	char passwd[SASL_MAX_FIELD + 1];
};

/* Decodes strict base64 into out, NUL-terminated, at most outsize - 1 bytes.
   "=" alone and the empty string decode to "" (RFC 4954 4). Returns the
   decoded length, or -1 on bad base64 or when it does not fit (out is then
   wiped). */
ssize_t sasl_b64_decode(struct span in, char *out, size_t outsize);

/* Encodes n bytes as base64 with padding into out, NUL-terminated. Returns
   the length without the NUL, or -1 if it does not fit. */
ssize_t sasl_b64_encode(const void *in, size_t n, char *out, size_t outsize);

/*
 * PLAIN (RFC 4616 2): base64 of [authzid] NUL authcid NUL passwd. Rejects
 * bad base64, fewer or more than two NULs, an empty authcid or passwd, and
 * fields over SASL_MAX_FIELD. Returns 1, or -1 with *error_r (static) and
 * *c wiped. Wipes its temporaries.
 */
int sasl_plain_decode(struct span b64, struct sasl_creds *c, const char **error_r);

/* LOGIN: one base64 line -> one field (user name or password) into field,
   NUL-terminated, at most min(fieldsize - 1, SASL_MAX_FIELD) bytes. Rejects
   bad base64, an empty field, a NUL in it and an over-long field. Returns
   1, or -1 with *error_r (static) and field wiped. */
int sasl_login_decode(struct span b64, char *field, size_t fieldsize, const char **error_r);

/* Wipes all three fields. */
void sasl_creds_wipe(struct sasl_creds *c);

#endif
