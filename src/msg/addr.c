/*
 * addr.c -- SMTP envelope mailbox parser (RFC 5321 4.1.2, RFC 6531 3.3).
 *
 * Input is untrusted network data. No I/O, no logging, no allocation, no
 * global state. Every index is checked against the span length before use.
 * Limits: ADDR_MAX_LOCAL, ADDR_MAX_DOMAIN, ADDR_MAX_PATH - 2 for the whole.
 * Standards: RFC 5321 4.1.2, 4.1.3, 4.5.3.1.1-3; RFC 6531 3.3; RFC 3629 4
 * (UTF-8 well-formedness); RFC 1035 2.3.4 (63-octet labels).
 * Security: remote-facing; fuzzed by tests/fuzz/fuzz_addr.c.
 * XXX: U-labels are checked as UTF-8 only, not against IDNA2008 (that needs
 * libidn2 and belongs where the domain is looked up).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <assert.h>
#include <string.h>

#include "msg/addr.h"

#define LABEL_MAX 63
/* Room for the longest IPv6 text form, "IPv6:" stripped, plus a NUL. */
#define LITERAL_MAX 64

static bool
is_alnum(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 3.2.3 atext, as RFC 5321 4.1.2 uses it. */
static bool
is_atext(uint8_t c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * utf8_seq - length of the well-formed non-ASCII UTF-8 sequence at p, or 0.
 * The second-byte ranges are those of RFC 3629 4, which exclude overlong
 * forms (C0, C1, E0 80-9F, F0 80-8F), surrogates (ED A0-BF) and code points
 * past U+10FFFF (F4 90-BF, F5-FF).
 */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/*
 * non_ascii - length of the UTF-8 sequence at p[0] >= 0x80, or 0 with
 * *error_r when UTF-8 is not allowed or not well-formed.
 */
static size_t
non_ascii(const uint8_t *p, size_t n, bool utf8, const char **error_r)
{
	size_t k;

	if (!utf8) {
		*error_r = "non-ASCII address without SMTPUTF8";
		return 0;
	}
	if ((k = utf8_seq(p, n)) == 0)
		*error_r = "invalid UTF-8 in address";
	return k;
}

/* dot_string - RFC 5321 Dot-string = Atom *("." Atom) at the start of s;
   its length in *len_r. */
static int
dot_string(struct span s, bool utf8, size_t *len_r, const char **error_r)
{
	size_t i = 0, atom;

	*error_r = "invalid local part";
	for (;;) {
		for (atom = i; i < s.n;) {
			size_t k = 1;

			if (s.p[i] >= 0x80 && (k = non_ascii(s.p + i, s.n - i, utf8, error_r)) == 0)
				return -1;
			if (s.p[i] < 0x80 && !is_atext(s.p[i]))
				break;
			i += k;
		}
		if (i == atom)
			return -1; /* empty atom: leading, trailing or double dot */
		if (i == s.n || s.p[i] != '.')
			break;
		i++;
	}
	*len_r = i;
	return 1;
}

/*
 * quoted_string - RFC 5321 Quoted-string at the start of s (s.p[0] is '"'):
 * qtextSMTP is printable ASCII and space except '"' and '\'; quoted-pairSMTP
 * is '\' and printable ASCII or space; RFC 6531 adds UTF-8 to qtextSMTP.
 */
static int
quoted_string(struct span s, bool utf8, size_t *len_r, const char **error_r)
{
	size_t i = 1;

	while (i < s.n) {
		uint8_t c = s.p[i];
		size_t k = 1;

		if (c == '"') {
			*len_r = i + 1;
			return 1;
		}
		if (c == '\\') {
			if (i + 1 == s.n || s.p[i + 1] < 32 || s.p[i + 1] > 126)
				break;
			k = 2;
		} else if (c >= 0x80) {
			if ((k = non_ascii(s.p + i, s.n - i, utf8, error_r)) == 0)
				return -1;
		} else if (c < 32 || c > 126) {
			break;
		}
		i += k;
	}
	*error_r = "invalid quoted local part";
	return -1;
}

/* label - one domain label at the start of s, up to '.' or the end. */
static int
label(struct span s, bool utf8, size_t *len_r, const char **error_r)
{
	size_t i = 0;

	*error_r = "invalid domain";
	while (i < s.n && s.p[i] != '.') {
		size_t k = 1;

		if (s.p[i] >= 0x80) {
			if ((k = non_ascii(s.p + i, s.n - i, utf8, error_r)) == 0)
				return -1;
		} else if (!is_alnum(s.p[i]) && s.p[i] != '-') {
			return -1;
		}
		i += k;
	}
	if (i == 0 || s.p[0] == '-' || s.p[i - 1] == '-')
		return -1;
	if (i > LABEL_MAX) {
		*error_r = "domain label too long";
		return -1;
	}
	*len_r = i;
	return 1;
}

/* domain_name - RFC 5321 Domain = sub-domain *("." sub-domain), all of d. */
static int
domain_name(struct span d, bool utf8, const char **error_r)
{
	size_t i = 0, k;

	for (;;) {
		if (label((struct span){ d.p + i, d.n - i }, utf8, &k, error_r) < 0)
			return -1;
		i += k;
		if (i == d.n)
			return 1;
		i++; /* the '.'; a trailing one leaves an empty label */
	}
}

/* literal_chars - only what inet_pton's text forms use, so that a NUL or
   other junk cannot end the string early. */
static bool
literal_chars(struct span s)
{
	for (size_t i = 0; i < s.n; i++) {
		uint8_t c = s.p[i];

		if (!is_alnum(c) && c != '.' && c != ':')
			return false;
	}
	return true;
}

/* address_literal - "[1.2.3.4]" or "[IPv6:...]", all of d (RFC 5321 4.1.3). */
static int
address_literal(struct span d, const char **error_r)
{
	struct span in = { d.p + 1, d.n >= 2 ? d.n - 2 : 0 };
	char text[LITERAL_MAX];
	unsigned char bin[16];
	int af = AF_INET;

	*error_r = "invalid address literal";
	if (d.n < 3 || d.p[d.n - 1] != ']')
		return -1;
	if (span_startswith_ci(in, "IPv6:")) {
		af = AF_INET6;
		in = (struct span){ in.p + 5, in.n - 5 };
	} else if (memchr(in.p, ':', in.n) != NULL) {
		*error_r = "unsupported address literal";
		return -1;
	}
	if (in.n == 0 || in.n >= sizeof(text) || !literal_chars(in))
		return -1;
	memcpy(text, in.p, in.n);
	text[in.n] = '\0';
	return inet_pton(af, text, bin) == 1 ? 1 : -1;
}

/* local_part - the local part at the start of s, up to (not including) '@'. */
static int
local_part(struct span s, bool utf8, struct mailbox *mb, const char **error_r)
{
	size_t len;
	int rc;

	mb->quoted = s.p[0] == '"';
	if (mb->quoted)
		rc = quoted_string(s, utf8, &len, error_r);
	else
		rc = dot_string(s, utf8, &len, error_r);
	if (rc < 0)
		return -1;
	if (len == s.n || s.p[len] != '@') {
		*error_r = len == s.n ? "missing domain" : "invalid local part";
		return -1;
	}
	if (len > ADDR_MAX_LOCAL) {
		*error_r = "local part too long";
		return -1;
	}
	mb->local = (struct span){ s.p, len };
	return 1;
}

int
addr_parse_mailbox(struct span path, bool utf8, struct mailbox *mb, const char **error_r)
{
	struct span d;
	int rc;

	memset(mb, 0, sizeof(*mb));
	if (path.n == 0) {
		*error_r = "empty address";
		return -1;
	}
	if (local_part(path, utf8, mb, error_r) < 0)
		return -1;
	d = (struct span){ path.p + mb->local.n + 1, path.n - mb->local.n - 1 };
	if (d.n == 0) {
		*error_r = "missing domain";
		return -1;
	}
	if (d.n > ADDR_MAX_DOMAIN) {
		*error_r = "domain too long";
		return -1;
	}
	mb->domain_literal = d.p[0] == '[';
	rc = mb->domain_literal ? address_literal(d, error_r) : domain_name(d, utf8, error_r);
	if (rc < 0)
		return -1;
	if (path.n > ADDR_MAX_PATH - 2) {
		*error_r = "address too long";
		return -1;
	}
	mb->domain = d;
	return 1;
}

static char
ascii_lower(uint8_t c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

size_t
addr_format(const struct mailbox *mb, char *dst, size_t size)
{
	size_t len = mb->local.n + (mb->domain.n > 0 ? 1 + mb->domain.n : 0);
	char *w = dst;

	assert(size > len);
	if (size <= len) {
		if (size > 0)
			dst[0] = '\0';
		return 0;
	}
	if (mb->local.n > 0)
		memcpy(w, mb->local.p, mb->local.n);
	w += mb->local.n;
	if (mb->domain.n > 0) {
		*w++ = '@';
		for (size_t i = 0; i < mb->domain.n; i++)
			*w++ = ascii_lower(mb->domain.p[i]);
	}
	*w = '\0';
	return len;
}
