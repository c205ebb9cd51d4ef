/*
 * imap_mutf7.c -- modified UTF-7 (RFC 3501 5.1.3) to and from UTF-8.
 *
 * Decoding checks that re-encoding would give back the same bytes (one
 * spelling per name): every base64 run holds at least one character that
 * must be encoded, is as short as possible, has zero padding bits and ends
 * with "-"; "&-" is the only way to write "&".
 * Pure; no I/O. Security: remote-facing; see imap_mutf7.h.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "imap/imap_mutf7.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64_value(unsigned char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

/* put_utf8 - one code point as UTF-8. */
static int
put_utf8(struct buf *out, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, u, n);
}

/* decode_run - the base64 run in[0..n) (between "&" and "-"). */
static int
decode_run(const char *in, size_t n, struct buf *out, const char **error_r)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;

	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (v < 0) {
			*error_r = "Bad modified UTF-7 character";
			return -1;
		}
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				goto bad;
			u = 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
			continue;
		} else if ((u >= 0xdc00 && u <= 0xdfff) || (u >= 0x20 && u <= 0x7e)) {
			goto bad; /* lone low surrogate; ASCII that stands for itself */
		}
		if (put_utf8(out, u) < 0) {
			*error_r = "Mailbox name too long";
			return -1;
		}
	}
	/* Shortest form: fewer than 6 bits left over, all zero. */
	if (high != 0 || nbits >= 6 || bits != 0 || n == 0)
		goto bad;
	return 0;
bad:
	*error_r = "Bad modified UTF-7 encoding";
	return -1;
}

int
imap_mutf7_to_utf8(const char *in, size_t len, struct buf *out, const char **error_r)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		const char *end;

		if (c < 0x20 || c > 0x7e) {
			*error_r = "Mailbox name must be modified UTF-7";
			return -1;
		}
		if (c != '&') {
			if (buf_append(out, &in[i++], 1) < 0)
				goto full;
			continue;
		}
		end = memchr(in + i + 1, '-', len - i - 1);
		if (end == NULL) {
			*error_r = "Unterminated modified UTF-7";
			return -1;
		}
		if (end == in + i + 1) {
			if (buf_append(out, "&", 1) < 0)
				goto full;
		} else if (decode_run(in + i + 1, (size_t)(end - in - i - 1), out, error_r) < 0) {
			return -1;
		}
		i = (size_t)(end - in) + 1;
		/* Two adjacent runs would have been one. */
		if (i < len && in[i] == '&' && i + 1 < len && in[i + 1] != '-' && end[-1] != '&') {
			*error_r = "Bad modified UTF-7 encoding";
			return -1;
		}
	}
	return 0;
full:
	*error_r = "Mailbox name too long";
	return -1;
}

/* next_cp - one UTF-8 code point at in[*i]; -1 for invalid or overlong. */
static int
next_cp(const unsigned char *in, size_t len, size_t *i, uint32_t *cp_r)
{
	unsigned char c = in[*i];
	size_t n;
	uint32_t cp, min;

	if (c < 0x80) {
		*cp_r = c;
		(*i)++;
		return 0;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 1, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3, cp = c & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	for (size_t k = 1; k <= n; k++) {
		if (*i + k >= len || (in[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (in[*i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	*cp_r = cp;
	return 0;
}

/* put_run - UTF-16 units u[0..n) as one "&...-" run. */
static int
put_run(struct buf *out, const uint16_t *u, size_t n)
{
	uint32_t bits = 0;
	unsigned nbits = 0;

	if (buf_append(out, "&", 1) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		bits = bits << 16 | u[i];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			if (buf_append(out, &b64[(bits >> nbits) & 0x3f], 1) < 0)
				return -1;
		}
		bits &= (1u << nbits) - 1;
	}
	if (nbits > 0 && buf_append(out, &b64[(bits << (6 - nbits)) & 0x3f], 1) < 0)
		return -1;
	return buf_append(out, "-", 1);
}

int
imap_utf8_to_mutf7(const char *in, size_t len, struct buf *out, const char **error_r)
{
	const unsigned char *s = (const unsigned char *)in;
	uint16_t run[512];
	size_t i = 0, nrun = 0;

	while (i < len) {
		uint32_t cp;

		if (next_cp(s, len, &i, &cp) < 0) {
			*error_r = "Invalid UTF-8 in mailbox name";
			return -1;
		}
		if (cp >= 0x20 && cp <= 0x7e) {
			if ((nrun > 0 && put_run(out, run, nrun) < 0) ||
			    buf_append(out, cp == '&' ? "&-" : (const char *)&s[i - 1],
				cp == '&' ? 2 : 1) < 0)
				goto full;
			nrun = 0;
			continue;
		}
		if (nrun + 2 > nitems(run))
			goto full;
		if (cp >= 0x10000) {
			run[nrun++] = (uint16_t)(0xd800 + ((cp - 0x10000) >> 10));
			run[nrun++] = (uint16_t)(0xdc00 + ((cp - 0x10000) & 0x3ff));
		} else {
			run[nrun++] = (uint16_t)cp;
		}
	}
	if (nrun > 0 && put_run(out, run, nrun) < 0)
		goto full;
	return 0;
full:
	*error_r = "Mailbox name too long";
	return -1;
}
