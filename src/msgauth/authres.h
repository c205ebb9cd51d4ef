/*
 * authres.h -- the Authentication-Results header field (RFC 8601):
 * rendering ours, and recognizing fields that claim our authserv-id so
 * that they can be removed before ours is added (RFC 8601 5).
 *
 * Pure: no I/O, no allocation beyond the caller's buffer.
 * Limits: AUTHRES_MAX_PROPS properties per result; values longer than
 * AUTHRES_MAX_VALUE are cut; comments are reduced to printable ASCII
 * without parentheses or backslashes, so remote text (DNS reasons,
 * explanation strings) cannot break out of them.
 * Standards: RFC 8601 2.2 (syntax), 2.3 (authserv-id), 2.7 (result
 * words), 5 (removal of forged fields); RFC 5322 2.2.3 (folding).
 * Security: the header section scanned for forged fields is remote data,
 * walked with bounds; fuzzed through tests/fuzz/fuzz_dmarc.c.
 */
#ifndef HIKYAKU_MSGAUTH_AUTHRES_H
#define HIKYAKU_MSGAUTH_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/span.h"

#define AUTHRES_MAX_PROPS 6
#define AUTHRES_MAX_VALUE 256

/* One ptype.property=value (RFC 8601 2.3): "smtp", "mailfrom", "a@b". */
struct authres_prop {
	const char *ptype, *property, *value;
};

/* One resinfo: "dkim=pass (reason) header.d=example.com ...". */
struct authres_result {
	const char *method;  /* "spf", "dkim", "dmarc" */
	const char *result;  /* RFC 8601 2.7 word */
	const char *comment; /* NULL or text for a comment after the result */
	struct authres_prop props[AUTHRES_MAX_PROPS];
	size_t nprops;
};

/*
 * Appends "Authentication-Results: ID;" and one folded line per result
 * (or "none" when n is 0), ending in CRLF. Values that are not tokens or
 * plain addresses are quoted. Returns 0, or -1 when `out` is full or the
 * authserv-id is not a token.
 */
int authres_render(struct buf *out, const char *authserv_id, const struct authres_result *r,
                   size_t n);

/*
 * True when the field (name and value, as in the message) is an
 * Authentication-Results field whose authserv-id equals ours (ASCII case
 * folded; comments and folding around it skipped; token or quoted-string).
 */
bool authres_claims_ours(struct span name, struct span value, const char *authserv_id);

/*
 * Copies the header section hdr[0..n) (fields with their CRLFs, without
 * the empty line) to `out`, leaving out every field that
 * authres_claims_ours(). Lines are split at LF; a line starting with SP or
 * HT continues the field before it. Returns the number of fields dropped,
 * or -1 when `out` is full.
 */
int authres_strip_ours(const uint8_t *hdr, size_t n, const char *authserv_id, struct buf *out);

#endif
