/*
 * imap_fetch_struct.c -- the ENVELOPE and BODYSTRUCTURE (and BODY) values
 * of FETCH responses, and the IMAP string forms they are written in.
 *
 * Both are computed from the MIME tree (msg/mime.h) and do not depend on
 * the session, so the engine may cache them. Header values are given
 * unfolded and otherwise raw: RFC 9051 7.5.2 leaves RFC 2047 decoding to
 * the client. Defaults where a field is missing follow RFC 2045 (text/plain;
 * charset=us-ascii, 7bit).
 * Standards: RFC 9051 7.5.2 (BODYSTRUCTURE, ENVELOPE), 9 (body, envelope
 * grammar), RFC 2183 (Content-Disposition), RFC 3066 (Content-Language),
 * RFC 2557 (Content-Location), RFC 1864 (Content-MD5).
 * Security: the message is untrusted; every string is quoted or sent as a
 * literal by length, so no header byte can break the response syntax.
 */
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "imap/imap_fetch.h"
#include "imap/imap_fetch_int.h"

/* Quoted strings longer than this go as literals (readability, no rule). */
#define QUOTED_MAX 1024

/* utf8_len - length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t
utf8_len(const uint8_t *p, size_t n)
{
	size_t len;
	uint32_t cp;

	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	if (len > n)
		return 0;
	cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* quotable - may s[0..n) be sent as a quoted string? */
static bool
quotable(const uint8_t *s, size_t n, bool utf8)
{
	if (n > QUOTED_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t l;

		if (s[i] >= 0x20 && s[i] < 0x7f)
			continue;
		if (!utf8 || s[i] < 0x80 || (l = utf8_len(s + i, n - i)) == 0)
			return false;
		i += l - 1;
	}
	return true;
}

int
imap_fetch_put_string(struct buf *out, const void *sv, size_t n, bool utf8)
{
	const uint8_t *s = sv;
	int rc = 0;

	if (!quotable(s, n, utf8)) {
		rc |= buf_printf(out, "{%zu}\r\n", n);
		return rc | buf_append(out, s, n);
	}
	rc |= buf_append(out, "\"", 1);
	for (size_t i = 0, start = 0; i <= n; i++) {
		if (i < n && s[i] != '"' && s[i] != '\\')
			continue;
		rc |= buf_append(out, s + start, i - start);
		if (i < n)
			rc |= buf_append(out, (const char[]){ '\\', (char)s[i] }, 2);
		start = i + 1;
	}
	return rc | buf_append(out, "\"", 1);
}

int
imap_fetch_put_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		return buf_append_str(out, "NIL");
	return imap_fetch_put_string(out, s, strlen(s), false);
}

/* field_value - the unfolded value of the first field `name`, or NULL. */
static char *
field_value(const char *hdr, size_t len, const char *name)
{
	struct span v;
	struct buf b;
	char *s;

	if (!mime_hdr_find(hdr, len, name, &v))
		return NULL;
	buf_init(&b, 0, v.n + 1);
	mime_hdr_unfold(v, &b);
	s = xstrndup(b.base != NULL ? (const char *)b.base : "", buf_len(&b));
	buf_deinit(&b);
	return s;
}

/* put_field - the unfolded field as an nstring (NIL when absent). */
static int
put_field(struct buf *out, const char *hdr, size_t len, const char *name)
{
	char *v = field_value(hdr, len, name);
	int rc = imap_fetch_put_nstring(out, v);

	free(v);
	return rc;
}

/* put_addrs - an address list field as "((name adl mailbox host)...)" or
   NIL; returns 1 when it wrote a list, 0 for NIL, -1 when out is full. */
static int
put_addrs(struct buf *out, const char *hdr, size_t len, const char *name, bool nil_if_empty)
{
	struct span v;
	struct mime_addr *a;
	size_t n = 0;
	int rc = 0;

	if (mime_hdr_find(hdr, len, name, &v))
		n = mime_addr_parse(v, &a);
	if (n == 0) {
		if (nil_if_empty)
			return buf_append_str(out, "NIL") < 0 ? -1 : 0;
		return 0;
	}
	rc |= buf_append(out, "(", 1);
	for (size_t i = 0; i < n; i++) {
		rc |= buf_append(out, "(", 1);
		rc |= imap_fetch_put_nstring(out, a[i].name);
		rc |= buf_append(out, " ", 1);
		rc |= imap_fetch_put_nstring(out, a[i].adl);
		rc |= buf_append(out, " ", 1);
		rc |= imap_fetch_put_nstring(out, a[i].mailbox);
		rc |= buf_append(out, " ", 1);
		rc |= imap_fetch_put_nstring(out, a[i].host);
		rc |= buf_append(out, ")", 1);
	}
	rc |= buf_append(out, ")", 1);
	mime_addr_free(&a, n);
	return rc < 0 ? -1 : 1;
}

/* put_sender - Sender or Reply-To, or From when that is absent or empty
   (RFC 9051 7.5.2 ENVELOPE). */
static int
put_sender(struct buf *out, const char *hdr, size_t len, const char *name)
{
	int rc = put_addrs(out, hdr, len, name, false);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	return put_addrs(out, hdr, len, "From", true) < 0 ? -1 : 0;
}

int
imap_fetch_envelope_hdr(const char *hdr, size_t len, struct buf *out)
{
	int rc = 0;

	rc |= buf_append(out, "(", 1);
	rc |= put_field(out, hdr, len, "Date");
	rc |= buf_append(out, " ", 1);
	rc |= put_field(out, hdr, len, "Subject");
	rc |= buf_append(out, " ", 1);
	rc |= put_addrs(out, hdr, len, "From", true) < 0 ? -1 : 0;
	rc |= buf_append(out, " ", 1);
	rc |= put_sender(out, hdr, len, "Sender");
	rc |= buf_append(out, " ", 1);
	rc |= put_sender(out, hdr, len, "Reply-To");
	static const char *const lists[] = { "To", "Cc", "Bcc" };
	for (size_t i = 0; i < nitems(lists); i++) {
		rc |= buf_append(out, " ", 1);
		rc |= put_addrs(out, hdr, len, lists[i], true) < 0 ? -1 : 0;
	}
	rc |= buf_append(out, " ", 1);
	rc |= put_field(out, hdr, len, "In-Reply-To");
	rc |= buf_append(out, " ", 1);
	rc |= put_field(out, hdr, len, "Message-ID");
	rc |= buf_append(out, ")", 1);
	return rc < 0 ? -1 : 0;
}

int
imap_fetch_envelope(const char *data, size_t len, struct buf *out)
{
	return imap_fetch_envelope_hdr(data, mime_header_len(data, len), out);
}

/* put_params - "(attr value ...)" or NIL. */
static int
put_params(struct buf *out, struct span rest)
{
	struct mime_params ps;
	int rc = 0;

	mime_params_parse(rest, &ps);
	if (ps.n == 0) {
		mime_params_free(&ps);
		return buf_append_str(out, "NIL");
	}
	rc |= buf_append(out, "(", 1);
	for (size_t i = 0; i < ps.n; i++) {
		rc |= i > 0 ? buf_append(out, " ", 1) : 0;
		rc |= imap_fetch_put_nstring(out, ps.p[i].attr);
		rc |= buf_append(out, " ", 1);
		rc |= imap_fetch_put_nstring(out, ps.p[i].value);
	}
	rc |= buf_append(out, ")", 1);
	mime_params_free(&ps);
	return rc;
}

/* put_disposition - body-fld-dsp: ("attachment" (params)) or NIL. */
static int
put_disposition(struct buf *out, const char *hdr, size_t len)
{
	struct span v, tok, rest;
	int rc = 0;

	if (!mime_hdr_find(hdr, len, "Content-Disposition", &v) ||
	    !mime_value_token(v, &tok, &rest))
		return buf_append_str(out, "NIL");
	rc |= buf_append(out, "(", 1);
	rc |= imap_fetch_put_string(out, tok.p, tok.n, false);
	rc |= buf_append(out, " ", 1);
	rc |= put_params(out, rest);
	return rc | buf_append(out, ")", 1);
}

/* put_language - body-fld-lang: NIL, "en", or ("en" "fr"). */
static int
put_language(struct buf *out, const char *hdr, size_t len)
{
	struct span v, tok, rest;
	struct span toks[16];
	size_t n = 0;
	int rc = 0;

	if (mime_hdr_find(hdr, len, "Content-Language", &v)) {
		while (n < nitems(toks) && mime_value_token(v, &tok, &rest)) {
			toks[n++] = tok;
			v = rest;
			if (v.n > 0 && v.p[0] == ',')
				v = (struct span){ v.p + 1, v.n - 1 };
		}
	}
	if (n == 0)
		return buf_append_str(out, "NIL");
	if (n == 1)
		return imap_fetch_put_string(out, toks[0].p, toks[0].n, false);
	rc |= buf_append(out, "(", 1);
	for (size_t i = 0; i < n; i++) {
		rc |= i > 0 ? buf_append(out, " ", 1) : 0;
		rc |= imap_fetch_put_string(out, toks[i].p, toks[i].n, false);
	}
	return rc | buf_append(out, ")", 1);
}

/* put_extension - the dsp, lang, loc shared by both body-ext forms. */
static int
put_extension(struct buf *out, const char *hdr, size_t len)
{
	int rc = 0;

	rc |= buf_append(out, " ", 1);
	rc |= put_disposition(out, hdr, len);
	rc |= buf_append(out, " ", 1);
	rc |= put_language(out, hdr, len);
	rc |= buf_append(out, " ", 1);
	return rc | put_field(out, hdr, len, "Content-Location");
}

/* put_type - type and subtype. A leaf that claims multipart or message
   (no boundary, no parts, encoded, or cut by the limits) is shown as
   application/octet-stream so that clients do not expect the fields of a
   multipart or message/rfc822 body. */
static int
put_type(struct buf *out, const struct mime_part *p)
{
	int rc = 0;

	if (p->kind == MIME_KIND_BASIC &&
	    (span_eq_ci(p->type, "multipart") ||
		(span_eq_ci(p->type, "message") &&
		    (span_eq_ci(p->subtype, "rfc822") || span_eq_ci(p->subtype, "global")))))
		return buf_append_str(out, "\"application\" \"octet-stream\"");
	rc |= imap_fetch_put_string(out, p->type.p, p->type.n, false);
	rc |= buf_append(out, " ", 1);
	return rc | imap_fetch_put_string(out, p->subtype.p, p->subtype.n, false);
}

/* put_fields - body-fields: params id desc enc octets. */
static int
put_fields(struct buf *out, const struct mime_part *p, const char *hdr)
{
	struct span v, tok, rest;
	int rc = 0;

	if (!p->ctype_given && p->kind == MIME_KIND_TEXT)
		rc |= buf_append_str(out, "(\"charset\" \"us-ascii\")");
	else
		rc |= put_params(out, p->ctype_rest);
	rc |= buf_append(out, " ", 1);
	rc |= put_field(out, hdr, p->hdr_len, "Content-ID");
	rc |= buf_append(out, " ", 1);
	rc |= put_field(out, hdr, p->hdr_len, "Content-Description");
	rc |= buf_append(out, " ", 1);
	if (mime_hdr_find(hdr, p->hdr_len, "Content-Transfer-Encoding", &v) &&
	    mime_value_token(v, &tok, &rest))
		rc |= imap_fetch_put_string(out, tok.p, tok.n, false);
	else
		rc |= buf_append_str(out, "\"7bit\"");
	return rc | buf_printf(out, " %zu", p->body_len);
}

static int
put_multipart(const struct mime_msg *msg, const struct mime_part *p, bool ext, struct buf *out)
{
	const char *hdr = msg->data + p->hdr_off;
	int rc = 0;

	rc |= buf_append(out, "(", 1);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next)
		rc |= imap_fetch_part_structure(msg, c, ext, out);
	rc |= buf_append(out, " ", 1);
	rc |= imap_fetch_put_string(out, p->subtype.p, p->subtype.n, false);
	if (ext) {
		rc |= buf_append(out, " ", 1);
		rc |= put_params(out, p->ctype_rest);
		rc |= put_extension(out, hdr, p->hdr_len);
	}
	return rc | buf_append(out, ")", 1);
}

int
imap_fetch_part_structure(const struct mime_msg *msg, const struct mime_part *p, bool ext,
    struct buf *out)
{
	const char *hdr = msg->data + p->hdr_off;
	int rc = 0;

	if (p->kind == MIME_KIND_MULTIPART)
		return put_multipart(msg, p, ext, out) < 0 ? -1 : 0;
	rc |= buf_append(out, "(", 1);
	rc |= put_type(out, p);
	rc |= buf_append(out, " ", 1);
	rc |= put_fields(out, p, hdr);
	if (p->kind == MIME_KIND_MESSAGE) {
		const struct mime_part *e = p->children;
		rc |= buf_append(out, " ", 1);
		rc |= imap_fetch_envelope_hdr(msg->data + e->hdr_off, e->hdr_len, out);
		rc |= buf_append(out, " ", 1);
		rc |= imap_fetch_part_structure(msg, e, ext, out);
	}
	if (p->kind == MIME_KIND_MESSAGE || p->kind == MIME_KIND_TEXT)
		rc |= buf_printf(out, " %zu", p->body_lines);
	if (ext) {
		rc |= buf_append(out, " ", 1);
		rc |= put_field(out, hdr, p->hdr_len, "Content-MD5");
		rc |= put_extension(out, hdr, p->hdr_len);
	}
	rc |= buf_append(out, ")", 1);
	return rc < 0 ? -1 : 0;
}

int
imap_fetch_bodystructure(const char *data, size_t len, bool extended, struct buf *out)
{
	struct mime_msg *msg = mime_parse(data, len);
	int rc = imap_fetch_part_structure(msg, msg->root, extended, out);

	mime_free(&msg);
	return rc;
}
