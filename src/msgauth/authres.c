/*
 * authres.c -- Authentication-Results rendering and forged-field
 * recognition (see authres.h).
 *
 * Standards: RFC 8601 2.2, 2.3, 5; RFC 2045 5.1 (token), RFC 5322 3.2.2
 * (CFWS), 3.2.4 (quoted-string).
 * Security: field values scanned here are remote data: every index is
 * checked against the span length, nested comments are bounded by it.
 */
#include <string.h>
#include <strings.h>

#include "msgauth/authres.h"

/* RFC 2045 token character: not a tspecial, space or control. */
static bool
is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* value_is_plain - a token, or local@domain made of token characters
   (RFC 8601 2.3 pvalue), so it needs no quoting. */
static bool
value_is_plain(const char *v)
{
	size_t at = 0, n = strlen(v);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '@' && at++ == 0 && i + 1 < n)
			continue;
		if (!is_token_char((unsigned char)v[i]))
			return false;
	}
	return at <= 1;
}

/* append_value - the value plain, or as a quoted-string of printable
   ASCII (others become '?'), cut at AUTHRES_MAX_VALUE. */
static int
append_value(struct buf *out, const char *v)
{
	size_t n = strlen(v);

	if (n <= AUTHRES_MAX_VALUE && value_is_plain(v))
		return buf_append_str(out, v);
	if (buf_append_str(out, "\"") < 0)
		return -1;
	for (size_t i = 0; i < n && i < AUTHRES_MAX_VALUE; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c == '"' || c == '\\') && buf_append_str(out, "\\") < 0)
			return -1;
		if (buf_append(out, c >= 0x20 && c < 0x7f ? &v[i] : "?", 1) < 0)
			return -1;
	}
	return buf_append_str(out, "\"");
}

/* append_comment - " (text)" with only characters safe in a comment. */
static int
append_comment(struct buf *out, const char *text)
{
	size_t n = strlen(text);

	if (buf_append_str(out, " (") < 0)
		return -1;
	for (size_t i = 0; i < n && i < AUTHRES_MAX_VALUE; i++) {
		unsigned char c = (unsigned char)text[i];
		bool ok = c >= 0x20 && c < 0x7f && c != '(' && c != ')' && c != '\\';

		if (buf_append(out, ok ? &text[i] : "_", 1) < 0)
			return -1;
	}
	return buf_append_str(out, ")");
}

static int
append_result(struct buf *out, const struct authres_result *r)
{
	if (buf_printf(out, ";\r\n\t%s=%s", r->method, r->result) < 0)
		return -1;
	if (r->comment != NULL && r->comment[0] != '\0' && append_comment(out, r->comment) < 0)
		return -1;
	for (size_t i = 0; i < r->nprops && i < AUTHRES_MAX_PROPS; i++) {
		const struct authres_prop *p = &r->props[i];

		if (p->value == NULL || p->value[0] == '\0')
			continue;
		if (buf_printf(out, " %s.%s=", p->ptype, p->property) < 0 ||
		    append_value(out, p->value) < 0)
			return -1;
	}
	return 0;
}

int
authres_render(struct buf *out, const char *authserv_id, const struct authres_result *r,
               size_t n)
{
	size_t id_n = strlen(authserv_id);

	if (id_n == 0 || id_n > AUTHRES_MAX_VALUE)
		return -1;
	for (size_t i = 0; i < id_n; i++)
		if (!is_token_char((unsigned char)authserv_id[i]))
			return -1;
	if (buf_printf(out, "Authentication-Results: %s", authserv_id) < 0)
		return -1;
	if (n == 0)
		return buf_append_str(out, "; none\r\n");
	for (size_t i = 0; i < n; i++)
		if (append_result(out, &r[i]) < 0)
			return -1;
	return buf_append_str(out, "\r\n");
}

/* ---- recognizing ours ---- */

/* skip_cfws - past folding white space and (nested) comments; returns the
   index of the next other character (or n). */
static size_t
skip_cfws(struct span v, size_t i)
{
	unsigned depth = 0;

	for (; i < v.n; i++) {
		unsigned char c = v.p[i];

		if (depth > 0 && c == '\\') {
			i++; /* quoted-pair inside a comment */
		} else if (c == '(') {
			depth++;
		} else if (c == ')' && depth > 0) {
			depth--;
		} else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			return i;
		}
	}
	return v.n;
}

/* quoted_eq - the quoted-string starting at v.p[i] == '"' equals id
   (ASCII case folded). */
static bool
quoted_eq(struct span v, size_t i, const char *id)
{
	size_t k = 0, idn = strlen(id);

	for (i++; i < v.n; i++) {
		unsigned char c = v.p[i];

		if (c == '"')
			return k == idn;
		if (c == '\\' && ++i >= v.n)
			return false;
		if (k >= idn || strncasecmp((const char *)&v.p[i], &id[k], 1) != 0)
			return false;
		k++;
	}
	return false;
}

bool
authres_claims_ours(struct span name, struct span value, const char *authserv_id)
{
	size_t i, start, idn = strlen(authserv_id);

	/* A field name may be followed by blanks before the colon (obs). */
	while (name.n > 0 && (name.p[name.n - 1] == ' ' || name.p[name.n - 1] == '\t'))
		name.n--;
	if (!span_eq_ci(name, "Authentication-Results") || idn == 0)
		return false;
	i = skip_cfws(value, 0);
	if (i < value.n && value.p[i] == '"')
		return quoted_eq(value, i, authserv_id);
	start = i;
	while (i < value.n && is_token_char(value.p[i]))
		i++;
	/* An authserv-id may carry a version after it ("id 1;"): the token
	   alone is compared. */
	return i - start == idn && strncasecmp((const char *)value.p + start, authserv_id, idn) == 0;
}

/* field_end - the end of the field starting at hdr[i] (past its CRLF and
   continuation lines). */
static size_t
field_end(const uint8_t *hdr, size_t n, size_t i)
{
	for (;;) {
		const uint8_t *lf = memchr(hdr + i, '\n', n - i);

		if (lf == NULL)
			return n;
		i = (size_t)(lf - hdr) + 1;
		if (i >= n || (hdr[i] != ' ' && hdr[i] != '\t'))
			return i;
	}
}

int
authres_strip_ours(const uint8_t *hdr, size_t n, const char *authserv_id, struct buf *out)
{
	int dropped = 0;

	for (size_t i = 0; i < n;) {
		size_t end = field_end(hdr, n, i);
		const uint8_t *colon = memchr(hdr + i, ':', end - i);
		bool ours = false;

		if (colon != NULL) {
			struct span name = { hdr + i, (size_t)(colon - hdr) - i };
			struct span value = { colon + 1, end - (size_t)(colon - hdr) - 1 };

			ours = authres_claims_ours(name, value, authserv_id);
		}
		if (ours)
			dropped++;
		else if (buf_append(out, hdr + i, end - i) < 0)
			return -1;
		i = end;
	}
	return dropped;
}
