/*
 * spf_record.c -- SPF record parser (RFC 7208 4.5, 4.6, 5, 6, 12).
 *
 * Pure: no I/O, no logging, no allocation; terms are spans into the input.
 * The whole record is checked before anything is evaluated, macros
 * included, because a syntax error anywhere is permerror (RFC 7208 4.6).
 * Limits: SPF_RECORD_MAX octets, SPF_MAX_TERMS terms, prefix lengths
 * 0..32 and 0..128 without leading zeros.
 * Security: the record is remote data; fuzzed by tests/fuzz/fuzz_spf.c.
 */
#include <arpa/inet.h>

#include <string.h>

#include "msgauth/spf.h"
#include "msgauth/spf_int.h"

static const struct {
	const char *name;
	enum spf_term_type type;
} spf_mechs[] = {
	{ "all", SPF_T_ALL },       { "include", SPF_T_INCLUDE }, { "a", SPF_T_A },
	{ "mx", SPF_T_MX },         { "ptr", SPF_T_PTR },         { "ip4", SPF_T_IP4 },
	{ "ip6", SPF_T_IP6 },       { "exists", SPF_T_EXISTS },
};

static bool
spf_is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
spf_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

bool
spf_record_is_spf(struct span txt)
{
	return span_startswith_ci(txt, "v=spf1") && (txt.n == 6 || txt.p[6] == ' ');
}

/* spf_is_toplabel - RFC 7208 12: letters, digits and '-', starting and
   ending with a letter or digit, and not all digits. */
static bool
spf_is_toplabel(const uint8_t *p, size_t n)
{
	bool alpha = false, dash = false;

	if (n == 0 || p[0] == '-' || p[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '-')
			dash = true;
		else if (spf_is_alpha(p[i]))
			alpha = true;
		else if (!spf_is_digit(p[i]))
			return false;
	}
	return alpha || dash;
}

/* spf_ends_in_macro - domain-end may be a macro-expand (RFC 7208 12). */
static bool
spf_ends_in_macro(struct span s)
{
	size_t i;

	if (s.n >= 2 && s.p[s.n - 2] == '%' && strchr("%_-", s.p[s.n - 1]) != NULL) {
		/* "%%" at the end could be the tail of "x%%%": count the run. */
		for (i = s.n - 1; i > 0 && s.p[i - 1] == '%'; i--)
			;
		return s.p[s.n - 1] != '%' ? (s.n - 1 - i) % 2 == 1 : (s.n - i) % 2 == 0;
	}
	if (s.n == 0 || s.p[s.n - 1] != '}')
		return false;
	for (i = s.n - 1; i > 0; i--)
		if (s.p[i - 1] == '{')
			return i >= 2 && s.p[i - 2] == '%';
	return false;
}

/* spf_check_domain_spec - macro syntax, then domain-end. */
static int
spf_check_domain_spec(struct span s, const char **error_r)
{
	const uint8_t *dot;
	size_t n = s.n;

	if (s.n == 0) {
		*error_r = "empty domain-spec";
		return -1;
	}
	if (spf_macro_expand_mode(s, NULL, SPF_MACRO_DOMAIN, NULL, 0, error_r) < 0)
		return -1;
	if (spf_ends_in_macro(s))
		return 0;
	if (s.p[n - 1] == '.')
		n--;
	dot = n > 0 ? memrchr(s.p, '.', n) : NULL;
	if (dot == NULL || !spf_is_toplabel(dot + 1, n - (size_t)(dot + 1 - s.p))) {
		*error_r = "domain-spec does not end in a valid top label";
		return -1;
	}
	return 0;
}

/* spf_parse_cidr - "/N" at the end of [p, *end) with N in 0..max and no
   leading zero; moves *end before it. Returns 1 found, 0 none, -1 bad. */
static int
spf_parse_cidr(const uint8_t *p, const uint8_t **end, unsigned max, uint8_t *len_r)
{
	const uint8_t *d = *end;
	unsigned v = 0;

	while (d > p && spf_is_digit(d[-1]))
		d--;
	if (d == p || d[-1] != '/')
		return 0;
	if (d == *end || (*end - d > 1 && d[0] == '0') || *end - d > 3)
		return -1;
	for (const uint8_t *q = d; q < *end; q++)
		v = v * 10 + (unsigned)(*q - '0');
	if (v > max)
		return -1;
	*len_r = (uint8_t)v;
	*end = d - 1;
	return 1;
}

/* spf_parse_dual_cidr - a, mx: [ "/" ip4-len ] [ "//" ip6-len ] at the end. */
static int
spf_parse_dual_cidr(struct span *body, struct spf_term *t, const char **error_r)
{
	const uint8_t *end = body->p + body->n;
	int r;

	*error_r = "invalid CIDR length";
	if ((r = spf_parse_cidr(body->p, &end, 128, &t->cidr6)) < 0)
		return -1;
	if (r == 1) {
		/* That was either "//N" (ip6) or "/N" (ip4). */
		if (end > body->p && end[-1] == '/') {
			end--;
			if (spf_parse_cidr(body->p, &end, 32, &t->cidr4) < 0)
				return -1;
		} else if (t->cidr6 > 32) {
			return -1;
		} else {
			t->cidr4 = t->cidr6;
			t->cidr6 = 128;
		}
	}
	body->n = (size_t)(end - body->p);
	return 0;
}

/* spf_parse_ip - ip4:/ip6: network and prefix length. */
static int
spf_parse_ip(struct span arg, struct spf_term *t, const char **error_r)
{
	char addr[64];
	const uint8_t *end = arg.p + arg.n;
	bool v4 = t->type == SPF_T_IP4;
	uint8_t *len = v4 ? &t->cidr4 : &t->cidr6;

	*error_r = "invalid IP network";
	if (spf_parse_cidr(arg.p, &end, v4 ? 32 : 128, len) < 0)
		return -1;
	if ((size_t)(end - arg.p) == 0 || (size_t)(end - arg.p) >= sizeof(addr))
		return -1;
	memcpy(addr, arg.p, (size_t)(end - arg.p));
	addr[end - arg.p] = '\0';
	if (inet_pton(v4 ? AF_INET : AF_INET6, addr, t->addr) != 1)
		return -1;
	return 0;
}

/* spf_parse_mechanism - [qualifier] name [":" arg] [cidr]. */
static int
spf_parse_mechanism(struct span term, struct spf_term *t, const char **error_r)
{
	struct span s = term, name, arg = SPAN_NULL;
	size_t i, m;
	bool colon;

	t->qualifier = SPF_PASS;
	if (s.n > 0 && strchr("+-~?", s.p[0]) != NULL) {
		t->qualifier = s.p[0] == '+' ? SPF_PASS : s.p[0] == '-' ? SPF_FAIL :
		               s.p[0] == '~' ? SPF_SOFTFAIL : SPF_NEUTRAL;
		s.p++, s.n--;
	}
	for (i = 0; i < s.n && s.p[i] != ':' && s.p[i] != '/'; i++)
		;
	name = (struct span){ s.p, i };
	for (m = 0; m < nitems(spf_mechs) && !span_eq_ci(name, spf_mechs[m].name); m++)
		;
	if (m == nitems(spf_mechs)) {
		*error_r = "unknown mechanism";
		return -1;
	}
	t->type = spf_mechs[m].type;
	colon = i < s.n && s.p[i] == ':';
	arg = (struct span){ s.p + i + colon, s.n - i - colon };
	switch (t->type) {
	case SPF_T_ALL:
		if (!colon && arg.n == 0)
			return 0;
		*error_r = "all takes no argument";
		return -1;
	case SPF_T_IP4:
	case SPF_T_IP6:
		if (!colon)
			break;
		return spf_parse_ip(arg, t, error_r);
	case SPF_T_A:
	case SPF_T_MX:
		if (spf_parse_dual_cidr(&arg, t, error_r) < 0)
			return -1;
		if (!colon && arg.n == 0)
			return 0; /* the current domain */
		break;
	case SPF_T_PTR:
		if (!colon && arg.n == 0)
			return 0;
		break;
	default: /* include, exists: the argument is required */
		break;
	}
	if (!colon) {
		*error_r = "missing argument";
		return -1;
	}
	t->spec = arg;
	return spf_check_domain_spec(arg, error_r);
}

/* spf_modifier_name - length of a modifier name followed by '=', or 0. */
static size_t
spf_modifier_name(struct span term)
{
	size_t i;

	if (term.n == 0 || !spf_is_alpha(term.p[0]))
		return 0;
	for (i = 1; i < term.n; i++) {
		uint8_t c = term.p[i];

		if (!spf_is_alpha(c) && !spf_is_digit(c) && c != '-' && c != '_' && c != '.')
			break;
	}
	return i < term.n && term.p[i] == '=' ? i : 0;
}

/* spf_parse_modifier - redirect=, exp= (at most once each), or unknown. */
static int
spf_parse_modifier(struct span term, size_t nlen, struct spf_record *rec, struct spf_term *t,
                   const char **error_r)
{
	struct span name = { term.p, nlen };
	int *slot = NULL;

	t->spec = (struct span){ term.p + nlen + 1, term.n - nlen - 1 };
	t->qualifier = SPF_NEUTRAL;
	if (span_eq_ci(name, "redirect")) {
		t->type = SPF_T_REDIRECT;
		slot = &rec->redirect;
	} else if (span_eq_ci(name, "exp")) {
		t->type = SPF_T_EXP;
		slot = &rec->exp;
	} else {
		t->type = SPF_T_UNKNOWN_MOD;
		if (spf_macro_expand_mode(t->spec, NULL, SPF_MACRO_MODIFIER, NULL, 0, error_r) < 0)
			return -1;
		return 0;
	}
	if (*slot >= 0) {
		*error_r = t->type == SPF_T_REDIRECT ? "more than one redirect" : "more than one exp";
		return -1;
	}
	*slot = (int)rec->n;
	return spf_check_domain_spec(t->spec, error_r);
}

static int
spf_parse_term(struct span term, struct spf_record *rec, const char **error_r)
{
	struct spf_term *t;
	size_t nlen;

	if (rec->n == SPF_MAX_TERMS) {
		*error_r = "too many terms";
		return -1;
	}
	t = &rec->terms[rec->n];
	memset(t, 0, sizeof(*t));
	t->text = term;
	t->cidr4 = 32;
	t->cidr6 = 128;
	if ((nlen = spf_modifier_name(term)) > 0) {
		if (spf_parse_modifier(term, nlen, rec, t, error_r) < 0)
			return -1;
	} else if (spf_parse_mechanism(term, t, error_r) < 0) {
		return -1;
	}
	rec->n++;
	return 0;
}

int
spf_record_parse(struct span txt, struct spf_record *rec, const char **error_r)
{
	size_t i = 6;

	rec->n = 0;
	rec->redirect = rec->exp = -1;
	if (txt.n > SPF_RECORD_MAX) {
		*error_r = "record too long";
		return -1;
	}
	if (!spf_record_is_spf(txt)) {
		*error_r = "not an SPF record";
		return -1;
	}
	for (size_t k = 0; k < txt.n; k++) {
		if (txt.p[k] < 0x20 || txt.p[k] > 0x7e) {
			*error_r = txt.p[k] > 0x7e ? "non-ASCII in record" : "control character in record";
			return -1;
		}
	}
	while (i < txt.n) {
		size_t start;

		while (i < txt.n && txt.p[i] == ' ')
			i++;
		start = i;
		while (i < txt.n && txt.p[i] != ' ')
			i++;
		if (i > start &&
		    spf_parse_term((struct span){ txt.p + start, i - start }, rec, error_r) < 0)
			return -1;
	}
	return 1;
}
