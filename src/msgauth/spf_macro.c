/*
 * spf_macro.c -- SPF macro expansion (RFC 7208 7).
 *
 * Pure: no I/O, no logging, no allocation. One pass over the macro-string
 * both checks the syntax and, when an environment is given, writes the
 * expansion into a caller's fixed buffer: a result that would not fit is an
 * error, so a hostile record cannot make us build a large string (a record
 * of %{s} repeated is bounded by the buffer, not by the record).
 * Standards: RFC 7208 7.1 (syntax), 7.2 (letters), 7.3 (transformers,
 * delimiters, URL escaping of upper-case letters per RFC 3986 2.3, the
 * 253-octet truncation of domain names).
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

#include "msgauth/spf.h"
#include "msgauth/spf_int.h"

#define SPF_MACRO_PARTS 128 /* split parts kept per macro; more are dropped from the left */

struct spf_out {
	char *p;
	size_t size, len;
	bool full;
};

static void
spf_out_put(struct spf_out *o, const char *s, size_t n)
{
	if (o->p == NULL)
		return;
	if (o->full || n >= o->size - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static bool
spf_is_delim(uint8_t c)
{
	return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

/* spf_is_unreserved - RFC 3986 2.3: not escaped by upper-case macros. */
static bool
spf_is_unreserved(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* spf_ip_value - %{i} (dotted quad, or dot-separated nibbles for IPv6) and
   %{c} (dotted quad, or RFC 5952 text). */
static void
spf_ip_value(const struct spf_macro_env *env, bool readable, char *dst, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;

	if (env->family == AF_INET || readable) {
		if (inet_ntop(env->family, env->addr, dst, (socklen_t)size) == NULL)
			dst[0] = '\0';
		return;
	}
	for (size_t i = 0; i < 16 && k + 4 <= size; i++) {
		dst[k++] = hex[env->addr[i] >> 4];
		dst[k++] = '.';
		dst[k++] = hex[env->addr[i] & 0xf];
		dst[k++] = '.';
	}
	dst[k > 0 ? k - 1 : 0] = '\0';
}

/* spf_letter_value - the raw value of one macro letter (lower case), or
   NULL when the letter is unknown or not allowed in this context. */
static const char *
spf_letter_value(const struct spf_macro_env *env, char letter, bool exp, char *tmp, size_t size)
{
	switch (letter) {
	case 's':
		return env->sender;
	case 'l':
		return env->local;
	case 'o':
		return env->sender_domain;
	case 'd':
		return env->domain;
	case 'i':
		spf_ip_value(env, false, tmp, size);
		return tmp;
	case 'p':
		return env->ptr != NULL ? env->ptr : "unknown";
	case 'v':
		return env->family == AF_INET ? "in-addr" : "ip6";
	case 'h':
		return env->helo;
	case 'c':
		if (!exp)
			return NULL;
		spf_ip_value(env, true, tmp, size);
		return tmp;
	case 'r':
		return !exp ? NULL : env->receiver != NULL ? env->receiver : "unknown";
	case 't':
		if (!exp)
			return NULL;
		snprintf(tmp, size, "%lld", (long long)env->now);
		return tmp;
	}
	return NULL;
}

static bool
spf_letter_ok(char letter, bool exp)
{
	return strchr("slodipvh", letter) != NULL || (exp && strchr("crt", letter) != NULL);
}

/* spf_put_escaped - one part of a value, URL-escaped when `upper`. */
static void
spf_put_escaped(struct spf_out *o, const char *s, size_t n, bool upper)
{
	char esc[4];

	if (!upper) {
		spf_out_put(o, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (spf_is_unreserved((uint8_t)s[i])) {
			spf_out_put(o, s + i, 1);
			continue;
		}
		snprintf(esc, sizeof(esc), "%%%02X", (uint8_t)s[i]);
		spf_out_put(o, esc, 3);
	}
}

struct spf_xform {
	unsigned keep; /* 0: all parts */
	bool reverse;
	char delims[8];
	bool upper;
};

/* spf_transform - split value on the delimiters, reverse, keep the
   rightmost `keep` parts, join with "." (RFC 7208 7.3). */
static void
spf_transform(struct spf_out *o, const char *value, const struct spf_xform *x)
{
	const char *start[SPF_MACRO_PARTS];
	size_t len[SPF_MACRO_PARTS], n = 0, first = 0;
	const char *delims = x->delims[0] != '\0' ? x->delims : ".";
	const char *p = value;

	for (;;) {
		size_t l = strcspn(p, delims);

		if (n == SPF_MACRO_PARTS) { /* keep the rightmost ones */
			memmove(start, start + 1, sizeof(start[0]) * (n - 1));
			memmove(len, len + 1, sizeof(len[0]) * (n - 1));
			n--;
		}
		start[n] = p;
		len[n++] = l;
		if (p[l] == '\0')
			break;
		p += l + 1;
	}
	if (x->reverse) {
		for (size_t i = 0; i < n / 2; i++) {
			const char *ts = start[i];
			size_t tl = len[i];

			start[i] = start[n - 1 - i], len[i] = len[n - 1 - i];
			start[n - 1 - i] = ts, len[n - 1 - i] = tl;
		}
	}
	if (x->keep > 0 && x->keep < n)
		first = n - x->keep;
	for (size_t i = first; i < n; i++) {
		if (i > first)
			spf_put_escaped(o, ".", 1, false);
		spf_put_escaped(o, start[i], len[i], x->upper);
	}
}

/* spf_parse_braces - the inside of "%{...}" at s[0..n) (after the brace);
   returns the octets used including "}", or -1. */
static int
spf_parse_braces(const uint8_t *s, size_t n, bool exp, char *letter_r, struct spf_xform *x)
{
	size_t i = 0, nd = 0;
	unsigned long keep = 0;
	bool digits = false;

	if (n == 0)
		return -1;
	*letter_r = (char)(s[0] | 0x20);
	x->upper = s[0] >= 'A' && s[0] <= 'Z';
	if (!((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z') || !spf_letter_ok(*letter_r, exp))
		return -1;
	for (i = 1; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		digits = true;
		if (keep < 1000) /* clamp: more parts than any value has */
			keep = keep * 10 + (s[i] - '0');
	}
	if (digits && keep == 0)
		return -1; /* RFC 7208 7.3: a DIGIT transformer must be nonzero */
	x->keep = (unsigned)keep;
	if (i < n && (s[i] == 'r' || s[i] == 'R')) {
		x->reverse = true;
		i++;
	}
	for (; i < n && spf_is_delim(s[i]); i++)
		if (nd < sizeof(x->delims) - 1 && strchr(x->delims, s[i]) == NULL)
			x->delims[nd++] = (char)s[i];
	if (i >= n || s[i] != '}')
		return -1;
	return (int)(i + 1);
}

/* spf_literal_ok - macro-literal (RFC 7208 7.1), plus SP in explanations. */
static bool
spf_literal_ok(uint8_t c, bool exp)
{
	return (c >= 0x21 && c <= 0x7e && c != '%') || (exp && c == ' ');
}

/* spf_expand_macro - one "%..." at s[0..n); returns octets used or -1. */
static int
spf_expand_macro(const uint8_t *s, size_t n, const struct spf_macro_env *env, bool exp,
                 struct spf_out *o)
{
	struct spf_xform x = { 0 };
	char letter, tmp[80];
	const char *value;
	int used;

	if (n < 2)
		return -1;
	switch (s[1]) {
	case '%':
		spf_out_put(o, "%", 1);
		return 2;
	case '_':
		spf_out_put(o, " ", 1);
		return 2;
	case '-':
		spf_out_put(o, "%20", 3);
		return 2;
	case '{':
		break;
	default:
		return -1;
	}
	if ((used = spf_parse_braces(s + 2, n - 2, exp, &letter, &x)) < 0)
		return -1;
	if (env != NULL) {
		value = spf_letter_value(env, letter, exp, tmp, sizeof(tmp));
		spf_transform(o, value != NULL ? value : "", &x);
	}
	return used + 2;
}

int
spf_macro_expand_mode(struct span spec, const struct spf_macro_env *env, int mode, char *out,
                      size_t size, const char **error_r)
{
	struct spf_out o = { .p = env != NULL ? out : NULL, .size = size };
	bool exp = mode == SPF_MACRO_EXP, any_letter = mode != SPF_MACRO_DOMAIN;

	if (o.p != NULL) {
		if (size == 0) {
			*error_r = "macro expansion too long";
			return -1;
		}
		out[0] = '\0';
	}
	for (size_t i = 0; i < spec.n;) {
		int used;

		if (spec.p[i] != '%') {
			if (!spf_literal_ok(spec.p[i], exp)) {
				*error_r = "invalid character in macro-string";
				return -1;
			}
			spf_out_put(&o, (const char *)spec.p + i, 1);
			i++;
			continue;
		}
		used = spf_expand_macro(spec.p + i, spec.n - i, env, any_letter, &o);
		if (used < 0) {
			*error_r = "invalid macro";
			return -1;
		}
		i += (size_t)used;
	}
	if (o.full) {
		*error_r = "macro expansion too long";
		return -1;
	}
	return (int)o.len;
}

int
spf_macro_expand(struct span spec, const struct spf_macro_env *env, bool exp, char *out,
                 size_t size, const char **error_r)
{
	return spf_macro_expand_mode(spec, env, exp ? SPF_MACRO_EXP : SPF_MACRO_DOMAIN, out, size,
	                             error_r);
}

bool
spf_macro_uses_p(struct span spec)
{
	for (size_t i = 0; i + 2 < spec.n; i++) {
		if (spec.p[i] != '%')
			continue;
		if (spec.p[i + 1] == '{' && (spec.p[i + 2] | 0x20) == 'p')
			return true;
		i++; /* "%%" must not start a macro at the second '%' */
	}
	return false;
}

size_t
spf_domain_truncate(char *name)
{
	size_t len = strlen(name);
	char *p = name;

	if (len > 0 && name[len - 1] == '.')
		name[--len] = '\0';
	while (len > 253) {
		char *dot = memchr(p, '.', len);

		if (dot == NULL)
			break; /* one huge label: left for the DNS layer to refuse */
		len -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	memmove(name, p, len + 1);
	return len;
}
