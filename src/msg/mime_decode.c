/*
 * mime_decode.c -- from MIME transfer form to UTF-8 text (mime.h):
 * Content-Transfer-Encoding (base64, quoted-printable), charsets (iconv
 * from glibc), RFC 2047 encoded words in header values.
 *
 * Decoders are lenient, as readers of real mail must be: base64 skips
 * characters outside its alphabet and stops at '='; quoted-printable keeps
 * a malformed "=" escape as written; an unknown charset or an invalid byte
 * sequence is copied, not refused. Output is always bounded by the
 * caller's buffer.
 * Standards: RFC 2045 6.7 (quoted-printable), 6.8 (base64), RFC 2047 (2:
 * syntax, 4.1 B, 4.2 Q, 6.2 blanks between adjacent encoded words), RFC
 * 2231 5 (a language after '*' in the charset).
 * XXX base64 is hand-written because the library decoders (OpenSSL
 * EVP_DecodeBlock, libsodium sodium_base642bin) stop at the first stray
 * byte, which real mail has; the loop below is the whole decoder.
 * Security: untrusted input; iconv output goes through a fixed scratch
 * array, never sized from the input; charset names other than plain
 * [A-Za-z0-9-_.:] (at most 40) never reach iconv_open().
 */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <string.h>

#include "msg/mime.h"

enum mime_cte
mime_part_cte(const struct mime_msg *msg, const struct mime_part *p)
{
	struct span v, tok, rest;

	if (!mime_hdr_find(msg->data + p->hdr_off, p->hdr_len, "Content-Transfer-Encoding", &v) ||
	    !mime_value_token(v, &tok, &rest))
		return MIME_CTE_IDENTITY;
	if (span_eq_ci(tok, "7bit") || span_eq_ci(tok, "8bit") || span_eq_ci(tok, "binary"))
		return MIME_CTE_IDENTITY;
	if (span_eq_ci(tok, "base64"))
		return MIME_CTE_BASE64;
	if (span_eq_ci(tok, "quoted-printable"))
		return MIME_CTE_QP;
	return MIME_CTE_UNKNOWN;
}

static int
b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
decode_base64(struct span in, struct buf *out)
{
	uint8_t chunk[3072];
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < in.n && in.p[i] != '='; i++) {
		int v = b64_value(in.p[i]);

		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			chunk[n++] = (uint8_t)(acc >> bits);
			if (n == sizeof(chunk)) {
				if (buf_append(out, chunk, n) < 0)
					return -1;
				n = 0;
			}
		}
	}
	return buf_append(out, chunk, n);
}

static int
hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* qp_soft_break - length of "=" blanks* EOL at in[i], or 0. */
static size_t
qp_soft_break(struct span in, size_t i)
{
	size_t j = i + 1;

	while (j < in.n && (in.p[j] == ' ' || in.p[j] == '\t'))
		j++;
	if (j < in.n && in.p[j] == '\r')
		j++;
	if (j < in.n && in.p[j] == '\n')
		return j + 1 - i;
	return j == in.n ? j - i : 0; /* "=" at the very end: drop it */
}

/* decode_qp - quoted-printable; q is RFC 2047's Q ('_' is a space). */
static int
decode_qp(struct span in, bool q, struct buf *out)
{
	for (size_t i = 0; i < in.n;) {
		uint8_t c;
		size_t start = i, brk;

		while (i < in.n && in.p[i] != '=' && !(q && in.p[i] == '_'))
			i++;
		if (buf_append(out, in.p + start, i - start) < 0)
			return -1;
		if (i == in.n)
			break;
		c = in.p[i];
		if (c == '_') {
			c = ' ';
			i++;
		} else if (i + 2 < in.n && hex_value(in.p[i + 1]) >= 0 &&
		    hex_value(in.p[i + 2]) >= 0) {
			c = (uint8_t)(hex_value(in.p[i + 1]) * 16 + hex_value(in.p[i + 2]));
			i += 3;
		} else if ((brk = qp_soft_break(in, i)) > 0) {
			i += brk;
			continue;
		} else {
			i++; /* a stray '=': keep it */
		}
		if (buf_append(out, &c, 1) < 0)
			return -1;
	}
	return 0;
}

int
mime_decode_cte(enum mime_cte cte, struct span in, struct buf *out)
{
	switch (cte) {
	case MIME_CTE_IDENTITY:
		return buf_append(out, in.p, in.n);
	case MIME_CTE_BASE64:
		return decode_base64(in, out);
	case MIME_CTE_QP:
		return decode_qp(in, false, out);
	case MIME_CTE_UNKNOWN:
		break;
	}
	return -1;
}

/* is_utf8_compatible - charsets whose bytes we can search as they are. */
static bool
is_utf8_compatible(const char *cs)
{
	return cs == NULL || *cs == '\0' || strcasecmp(cs, "utf-8") == 0 ||
	    strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "utf8") == 0 ||
	    strcasecmp(cs, "ascii") == 0;
}

/* charset_name_ok - a plain name: a remote sender must not steer iconv's
   "//" suffixes or gconv module lookup with odd strings. */
static bool
charset_name_ok(const char *cs)
{
	size_t n = strlen(cs);

	if (n == 0 || n > 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)cs[i]) && strchr("-_.:", cs[i]) == NULL)
			return false;
	return true;
}

int
mime_to_utf8(const char *charset, struct span in, struct buf *out)
{
	char chunk[4096];
	iconv_t cd;
	char *ip = (char *)(uintptr_t)in.p;
	size_t ileft = in.n;
	int rc = 0;

	if (is_utf8_compatible(charset) || !charset_name_ok(charset) ||
	    (cd = iconv_open("UTF-8", charset)) == (iconv_t)-1)
		return buf_append(out, in.p, in.n);
	while (ileft > 0 && rc == 0) {
		char *op = chunk;
		size_t oleft = sizeof(chunk);
		size_t r = iconv(cd, &ip, &ileft, &op, &oleft);

		rc = buf_append(out, chunk, sizeof(chunk) - oleft);
		if (r != (size_t)-1 || errno == E2BIG)
			continue;
		if (errno == EINVAL) /* truncated sequence at the end */
			break;
		/* EILSEQ: copy the bad byte, go on after it. */
		if (rc == 0)
			rc = buf_append(out, ip, 1);
		ip++;
		ileft--;
	}
	iconv_close(cd);
	return rc;
}

/* encoded_word - parses "=?cs?E?text?=" at v[i]; returns its length or 0. */
static size_t
encoded_word(struct span v, size_t i, char cs[64], char *enc, struct span *text)
{
	size_t j = i + 2, k;

	if (i + 2 > v.n || v.p[i] != '=' || v.p[i + 1] != '?')
		return 0;
	for (k = 0; j < v.n && v.p[j] != '?' && k < 63; j++)
		if (v.p[j] <= ' ' || v.p[j] >= 127)
			return 0;
		else
			cs[k++] = (char)v.p[j];
	cs[k] = '\0';
	if (k == 0 || j + 3 > v.n || v.p[j] != '?' || v.p[j + 2] != '?')
		return 0;
	*enc = (char)(v.p[j + 1] | 0x20);
	if (*enc != 'b' && *enc != 'q')
		return 0;
	j += 3;
	k = j;
	while (j + 1 < v.n && !(v.p[j] == '?' && v.p[j + 1] == '='))
		j++;
	if (j + 1 >= v.n)
		return 0;
	*text = (struct span){ v.p + k, j - k };
	if (strchr(cs, '*') != NULL) /* RFC 2231 5: charset*language */
		*strchr(cs, '*') = '\0';
	return j + 2 - i;
}

/* decode_word - one encoded word's text into UTF-8. */
static int
decode_word(const char *cs, char enc, struct span text, struct buf *out)
{
	struct buf raw;
	int rc;

	buf_init(&raw, 0, text.n + 1);
	if (enc == 'b')
		decode_base64(text, &raw);
	else
		decode_qp(text, true, &raw);
	rc = mime_to_utf8(cs, buf_peek(&raw), out);
	buf_deinit(&raw);
	return rc;
}

/* flush_blanks - appends the pending blanks unless dropped. */
static int
flush_blanks(struct buf *out, const char *wsb, size_t *ws, bool drop)
{
	int rc = drop || *ws == 0 ? 0 : buf_append(out, wsb, *ws);

	*ws = 0;
	return rc;
}

int
mime_decode_words(struct span v, struct buf *out)
{
	char wsb[64]; /* the blanks since the last word; a longer run is cut */
	size_t i = 0, ws = 0;
	bool after_word = false;

	while (i < v.n) {
		char cs[64], enc;
		struct span text;
		size_t len = encoded_word(v, i, cs, &enc, &text);

		if (len > 0) {
			/* RFC 2047 6.2: blanks between two encoded words vanish. */
			if (flush_blanks(out, wsb, &ws, after_word) < 0 ||
			    decode_word(cs, enc, text, out) < 0)
				return -1;
			after_word = true;
			i += len;
		} else if (v.p[i] == '\r' || v.p[i] == '\n') {
			i++; /* unfold */
		} else if (v.p[i] == ' ' || v.p[i] == '\t') {
			if (ws < sizeof(wsb))
				wsb[ws++] = (char)v.p[i];
			i++;
		} else {
			if (flush_blanks(out, wsb, &ws, false) < 0 || buf_append(out, &v.p[i], 1) < 0)
				return -1;
			after_word = false;
			i++;
		}
	}
	return flush_blanks(out, wsb, &ws, after_word);
}
