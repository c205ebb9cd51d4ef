/*
 * smtp_lex.c -- SMTP command framing and tokenizing.
 *
 * Input is untrusted network data. No I/O, no logging, no allocation, no
 * global state: results are spans into the caller's buffer.
 * Limits: the framer's `max` (the caller's command or AUTH line limit);
 * verbs of 16 letters; sizes of 20 digits; ENVID of 100 characters.
 * Standards: RFC 5321 2.3.8, 4.1.1, 4.1.2; RFC 1870; RFC 6152; RFC 3030;
 * RFC 6531; RFC 4954 5; RFC 3461 4.1-4.4.
 * Security: remote-facing, reached before authentication; fuzzed by
 * tests/fuzz/fuzz_smtp_lex.c.
 */
#include <assert.h>
#include <string.h>

#include "smtp/smtp_lex.h"

/* RFC 3461 4.4: "The ENVID esmtp-value MUST be no more than 100 characters". */
#define ENVID_MAX 100
/* 2^64 - 1 has 20 digits. */
#define U64_DIGITS_MAX 20

static bool
is_alpha(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static struct span
span_from(struct span s, size_t off)
{
	return (struct span){ s.p + off, s.n - off };
}

static enum line_rc
line_fail(struct line_framer *f, enum line_err err)
{
	f->err = err;
	return LINE_ERR;
}

enum line_rc
line_next(struct line_framer *f, struct buf *in, struct span *line_r)
{
	struct span s;
	const uint8_t *lf;
	size_t n;

	assert(f->max >= 2);
	/* The caller may have purged `in` (STARTTLS) without resetting us. */
	if (f->scanned > buf_len(in))
		f->scanned = 0;
	/* Nothing new to search; and a never-filled buffer has no base to
	   peek at. */
	if (buf_len(in) == f->scanned)
		return LINE_MORE;
	s = buf_peek(in);
	lf = memchr(s.p + f->scanned, '\n', s.n - f->scanned);
	if (lf == NULL) {
		if (f->skipping || s.n >= f->max) {
			/* Too long already: drop it, and what follows up to the
			   LF, so that `in` never holds more than max bytes of it. */
			f->skipping = true;
			buf_consume(in, s.n);
			f->scanned = 0;
		} else {
			f->scanned = s.n;
		}
		return LINE_MORE;
	}
	n = (size_t)(lf - s.p) + 1;
	f->scanned = 0;
	buf_consume(in, n);
	if (f->skipping || n > f->max) {
		f->skipping = false;
		return line_fail(f, LE_TOO_LONG);
	}
	/* RFC 5321 2.3.8: lines end in CRLF only. Accepting a bare LF is what
	   makes SMTP smuggling possible, so refuse it like Postfix's
	   smtpd_forbid_bare_newline. */
	if (n < 2 || lf[-1] != '\r')
		return line_fail(f, LE_BARE_LF);
	if (memchr(s.p, '\0', n - 2) != NULL)
		return line_fail(f, LE_NUL);
	f->err = LE_NONE;
	*line_r = (struct span){ s.p, n - 2 };
	return LINE_OK;
}

int
smtp_tokenize(struct span line, struct smtp_args *a)
{
	size_t i = 0, end;

	while (i < line.n && is_alpha(line.p[i]))
		i++;
	if (i == 0 || i > SMTP_VERB_MAX)
		return -1;
	if (i < line.n && line.p[i] != ' ')
		return -1;
	a->verb = (struct span){ line.p, i };
	if (i < line.n)
		i++;
	end = line.n;
	while (end > i && line.p[end - 1] == ' ')
		end--;
	a->params = (struct span){ line.p + i, end - i };
	return 1;
}

/* parse_u64 - all of s as 1..20 decimal digits that fit in 64 bits. */
static bool
parse_u64(struct span s, uint64_t *v_r)
{
	uint64_t v = 0;

	if (s.n == 0 || s.n > U64_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		unsigned d;

		if (!is_digit(s.p[i]))
			return false;
		d = s.p[i] - '0';
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*v_r = v;
	return true;
}

/* is_route_char - letters, digits, '-' and '.', as in an RFC 5321 Domain. */
static bool
is_route_char(uint8_t c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.';
}

/*
 * skip_route - length of a source route "@a,@b:" at the start of the path,
 * 0 if there is none, -1 if it is malformed. RFC 5321 4.1.2: A-d-l =
 * At-domain *( "," At-domain ); receivers "MUST accept" and may ignore it
 * (appendix C), which we do.
 */
static int
skip_route(struct span path, size_t *len_r)
{
	size_t i = 0;

	*len_r = 0;
	if (path.n == 0 || path.p[0] != '@')
		return 0;
	for (;;) {
		size_t start;

		if (i >= path.n || path.p[i] != '@')
			return -1;
		start = ++i;
		while (i < path.n && is_route_char(path.p[i]))
			i++;
		if (i == start || i >= path.n)
			return -1;
		if (path.p[i] == ':')
			break;
		if (path.p[i] != ',')
			return -1;
		i++;
	}
	*len_r = i + 1;
	return 1;
}

/*
 * find_path_end - index of the '>' that closes the path in s (which starts
 * after '<'), or -1. A '>' inside a quoted local part ("a>b"@c) does not
 * count; a backslash inside quotes escapes the next byte.
 */
static int
find_path_end(struct span s, size_t *end_r)
{
	bool quoted = false;

	for (size_t i = 0; i < s.n; i++) {
		uint8_t c = s.p[i];

		if (quoted && c == '\\')
			i++;
		else if (c == '"')
			quoted = !quoted;
		else if (!quoted && c == '>') {
			*end_r = i;
			return 1;
		}
	}
	return -1;
}

/* parse_path - "<...>" at the start of *s; advances *s past the '>'. */
static enum smtp_parse_rc
parse_path(struct span *s, struct span *path_r, const char **error_r)
{
	struct span inner;
	size_t end, route;

	if (s->n == 0 || s->p[0] != '<') {
		*error_r = "address must be in <>";
		return SMTP_PARSE_SYNTAX;
	}
	inner = span_from(*s, 1);
	if (find_path_end(inner, &end) < 0) {
		*error_r = "missing > after address";
		return SMTP_PARSE_SYNTAX;
	}
	inner.n = end;
	if (skip_route(inner, &route) < 0 || (route > 0 && route == inner.n)) {
		*error_r = "bad source route";
		return SMTP_PARSE_SYNTAX;
	}
	*path_r = span_from(inner, route);
	*s = span_from(*s, end + 2);
	return SMTP_PARSE_OK;
}

/* An ESMTP parameter: its value, or no value (SMTPUTF8). */
struct esmtp_kv {
	struct span key;
	struct span value;
	bool has_value;
};

/* Each apply function returns 0, or -1 with *error_r set. */
typedef int esmtp_apply_fn(struct smtp_path_args *pa, const struct esmtp_kv *kv,
    const char **error_r);

static int
need_value(const struct esmtp_kv *kv, const char **error_r)
{
	if (!kv->has_value) {
		*error_r = "parameter needs a value";
		return -1;
	}
	return 0;
}

static int
apply_size(struct smtp_path_args *pa, const struct esmtp_kv *kv, const char **error_r)
{
	if (need_value(kv, error_r) < 0)
		return -1;
	if (!parse_u64(kv->value, &pa->size)) {
		*error_r = "bad SIZE value";
		return -1;
	}
	pa->has_size = true;
	return 0;
}

static int
apply_body(struct smtp_path_args *pa, const struct esmtp_kv *kv, const char **error_r)
{
	if (need_value(kv, error_r) < 0)
		return -1;
	if (span_eq_ci(kv->value, "7BIT"))
		pa->body = SMTP_BODY_7BIT;
	else if (span_eq_ci(kv->value, "8BITMIME"))
		pa->body = SMTP_BODY_8BITMIME;
	else if (span_eq_ci(kv->value, "BINARYMIME"))
		pa->body = SMTP_BODY_BINARYMIME;
	else {
		*error_r = "bad BODY value";
		return -1;
	}
	return 0;
}

static int
apply_smtputf8(struct smtp_path_args *pa, const struct esmtp_kv *kv, const char **error_r)
{
	/* RFC 6531 3.4: "SMTPUTF8" takes no value. */
	if (kv->has_value) {
		*error_r = "SMTPUTF8 takes no value";
		return -1;
	}
	pa->smtputf8 = true;
	return 0;
}

static int
apply_auth(struct smtp_path_args *pa, const struct esmtp_kv *kv, const char **error_r)
{
	if (need_value(kv, error_r) < 0)
		return -1;
	pa->auth = kv->value;
	return 0;
}

static int
apply_ret(struct smtp_path_args *pa, const struct esmtp_kv *kv, const char **error_r)
{
	if (need_value(kv, error_r) < 0)
		return -1;
	if (!span_eq_ci(kv->value, "FULL") && !span_eq_ci(kv->value, "HDRS")) {
		*error_r = "bad RET value";
		return -1;
	}
	pa->ret = kv->value;
	return 0;
}

static int
apply_envid(struct smtp_path_args *pa, const struct esmtp_kv *kv, const char **error_r)
{
	if (need_value(kv, error_r) < 0)
		return -1;
	if (kv->value.n > ENVID_MAX) {
		*error_r = "ENVID too long";
		return -1;
	}
	pa->envid = kv->value;
	return 0;
}

#define NOTIFY_NEVER (1u << 0)

/* notify_word - bit of one RFC 3461 4.1 NOTIFY keyword, 0 if unknown. */
static unsigned
notify_word(struct span w)
{
	if (span_eq_ci(w, "NEVER"))
		return NOTIFY_NEVER;
	if (span_eq_ci(w, "SUCCESS"))
		return 1u << 1;
	if (span_eq_ci(w, "FAILURE"))
		return 1u << 2;
	if (span_eq_ci(w, "DELAY"))
		return 1u << 3;
	return 0;
}

/* RFC 3461 4.1: "NEVER" alone, or a comma-separated list of the others,
   each at most once. */
static int
apply_notify(struct smtp_path_args *pa, const struct esmtp_kv *kv, const char **error_r)
{
	struct span v = kv->value;
	unsigned seen = 0;
	size_t i = 0;

	if (need_value(kv, error_r) < 0)
		return -1;
	while (i <= v.n) {
		size_t j = i;
		unsigned bit;

		while (j < v.n && v.p[j] != ',')
			j++;
		bit = notify_word((struct span){ v.p + i, j - i });
		if (bit == 0 || (seen & bit) != 0)
			break;
		seen |= bit;
		i = j + 1;
	}
	if (i <= v.n || ((seen & NOTIFY_NEVER) != 0 && seen != NOTIFY_NEVER)) {
		*error_r = "bad NOTIFY value";
		return -1;
	}
	pa->notify = v;
	return 0;
}

/* RFC 3461 4.2: ORCPT=addr-type ";" xtext; both parts non-empty. */
static int
apply_orcpt(struct smtp_path_args *pa, const struct esmtp_kv *kv, const char **error_r)
{
	const uint8_t *semi;

	if (need_value(kv, error_r) < 0)
		return -1;
	semi = memchr(kv->value.p, ';', kv->value.n);
	if (semi == NULL || semi == kv->value.p || semi == kv->value.p + kv->value.n - 1) {
		*error_r = "bad ORCPT value";
		return -1;
	}
	pa->orcpt = kv->value;
	return 0;
}

static const struct esmtp_param {
	const char *name;
	bool rcpt; /* a RCPT parameter, else a MAIL one */
	esmtp_apply_fn *apply;
} esmtp_params[] = {
	{ "SIZE", false, apply_size },
	{ "BODY", false, apply_body },
	{ "SMTPUTF8", false, apply_smtputf8 },
	{ "AUTH", false, apply_auth },
	{ "RET", false, apply_ret },
	{ "ENVID", false, apply_envid },
	{ "NOTIFY", true, apply_notify },
	{ "ORCPT", true, apply_orcpt },
};

/* RFC 5321 4.1.2: esmtp-value = 1*(%d33-60 / %d62-126). */
static bool
is_esmtp_value(struct span v)
{
	if (v.n == 0)
		return false;
	for (size_t i = 0; i < v.n; i++)
		if (v.p[i] < 33 || v.p[i] > 126 || v.p[i] == '=')
			return false;
	return true;
}

/* split_param - "KEY[=VALUE]"; false if the value is empty or malformed. */
static bool
split_param(struct span tok, struct esmtp_kv *kv)
{
	const uint8_t *eq = memchr(tok.p, '=', tok.n);

	kv->has_value = eq != NULL;
	kv->key = (struct span){ tok.p, eq != NULL ? (size_t)(eq - tok.p) : tok.n };
	kv->value = SPAN_NULL;
	if (eq == NULL)
		return true;
	kv->value = span_from(tok, kv->key.n + 1);
	return is_esmtp_value(kv->value);
}

/* apply_param - one "KEY[=VALUE]" token; `seen` catches repeats. */
static enum smtp_parse_rc
apply_param(struct smtp_path_args *pa, struct span tok, bool rcpt, unsigned *seen,
    const char **error_r)
{
	struct esmtp_kv kv;

	if (!split_param(tok, &kv)) {
		*error_r = "bad parameter value";
		return SMTP_PARSE_PARAM;
	}
	for (size_t i = 0; i < nitems(esmtp_params); i++) {
		const struct esmtp_param *ep = &esmtp_params[i];

		if (ep->rcpt != rcpt || !span_eq_ci(kv.key, ep->name))
			continue;
		if ((*seen & (1u << i)) != 0) {
			*error_r = "duplicate parameter";
			return SMTP_PARSE_PARAM;
		}
		*seen |= 1u << i;
		return ep->apply(pa, &kv, error_r) < 0 ? SMTP_PARSE_PARAM : SMTP_PARSE_OK;
	}
	*error_r = "unsupported parameter";
	return SMTP_PARSE_PARAM;
}

/* parse_params - the space-separated parameters after the path. */
static enum smtp_parse_rc
parse_params(struct span s, bool rcpt, struct smtp_path_args *pa, const char **error_r)
{
	unsigned seen = 0;
	size_t i = 0;

	if (s.n > 0 && s.p[0] != ' ') {
		*error_r = "garbage after address";
		return SMTP_PARSE_SYNTAX;
	}
	for (;;) {
		size_t start;
		enum smtp_parse_rc rc;

		while (i < s.n && s.p[i] == ' ')
			i++;
		if (i == s.n)
			return SMTP_PARSE_OK;
		start = i;
		while (i < s.n && s.p[i] != ' ')
			i++;
		rc = apply_param(pa, (struct span){ s.p + start, i - start }, rcpt, &seen, error_r);
		if (rc != SMTP_PARSE_OK)
			return rc;
	}
}

/* parse_path_cmd - "FROM:<path> params" or "TO:<path> params". */
static enum smtp_parse_rc
parse_path_cmd(struct span params, const char *kw, bool rcpt, struct smtp_path_args *pa,
    const char **error_r)
{
	struct span s = params;
	enum smtp_parse_rc rc;

	memset(pa, 0, sizeof(*pa));
	if (!span_startswith_ci(s, kw)) {
		*error_r = rcpt ? "expected TO:<address>" : "expected FROM:<address>";
		return SMTP_PARSE_SYNTAX;
	}
	s = span_from(s, strlen(kw));
	/* RFC 5321 has no space here, but many clients send one (Postfix
	   accepts it too); allow exactly one. */
	if (s.n > 0 && s.p[0] == ' ')
		s = span_from(s, 1);
	if ((rc = parse_path(&s, &pa->path, error_r)) != SMTP_PARSE_OK)
		return rc;
	return parse_params(s, rcpt, pa, error_r);
}

enum smtp_parse_rc
smtp_parse_mail(struct span params, struct smtp_path_args *m, const char **error_r)
{
	return parse_path_cmd(params, "FROM:", false, m, error_r);
}

enum smtp_parse_rc
smtp_parse_rcpt(struct span params, struct smtp_path_args *r, const char **error_r)
{
	return parse_path_cmd(params, "TO:", true, r, error_r);
}

int
smtp_parse_bdat(struct span params, uint64_t *size_r, bool *last_r, const char **error_r)
{
	size_t i = 0;

	while (i < params.n && params.p[i] != ' ')
		i++;
	if (!parse_u64((struct span){ params.p, i }, size_r)) {
		*error_r = "bad chunk size";
		return -1;
	}
	while (i < params.n && params.p[i] == ' ')
		i++;
	*last_r = false;
	if (i == params.n)
		return 1;
	if (!span_eq_ci(span_from(params, i), "LAST")) {
		*error_r = "expected LAST after chunk size";
		return -1;
	}
	*last_r = true;
	return 1;
}
