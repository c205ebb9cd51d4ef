/*
 * mime_header.c -- header fields of a header block, and the structured
 * pieces of Content-* values: tokens and parameters (mime.h).
 *
 * Standards: RFC 5322 2.2 (fields, folding), 3.2.2 (CFWS); RFC 2045 5.1
 * (token, tspecials, parameters); RFC 2231 3 and 4 (continuations and
 * extended values, joined but not decoded: IMAP passes them on raw).
 * Limits: MIME_MAX_PARAMS parameters; comment nesting is counted, not
 * recursed.
 * Security: untrusted input; every scan is bounded by the span it is given.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "msg/mime.h"

void
mime_hdr_iter_init(struct mime_hdr_iter *it, const char *hdr, size_t len)
{
	it->p = hdr;
	it->end = hdr + len;
}

/* field_end - one past the field starting at p: its line plus the
   continuation lines (starting with a blank) after it. */
static const char *
field_end(const char *p, const char *end)
{
	for (;;) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));

		if (lf == NULL)
			return end;
		p = lf + 1;
		if (p == end || (*p != ' ' && *p != '\t'))
			return p;
	}
}

bool
mime_hdr_next(struct mime_hdr_iter *it, struct span *name, struct span *value,
    struct span *field)
{
	while (it->p < it->end) {
		const char *start = it->p, *fend = field_end(start, it->end), *q = start;
		const char *vend = fend;

		it->p = fend;
		while (q < fend && *q > ' ' && *q < 127 && *q != ':')
			q++;
		name->p = (const uint8_t *)start;
		name->n = (size_t)(q - start);
		while (q < fend && (*q == ' ' || *q == '\t'))
			q++;
		if (name->n == 0 || q == fend || *q != ':')
			continue; /* not a field: a blank line, garbage or continuation */
		if (vend > q + 1 && vend[-1] == '\n')
			vend--;
		if (vend > q + 1 && vend[-1] == '\r')
			vend--;
		value->p = (const uint8_t *)q + 1;
		value->n = (size_t)(vend - (q + 1));
		field->p = (const uint8_t *)start;
		field->n = (size_t)(fend - start);
		return true;
	}
	return false;
}

bool
mime_hdr_find(const char *hdr, size_t len, const char *name, struct span *value)
{
	struct mime_hdr_iter it;
	struct span n, f;

	mime_hdr_iter_init(&it, hdr, len);
	while (mime_hdr_next(&it, &n, value, &f))
		if (span_eq_ci(n, name))
			return true;
	return false;
}

int
mime_hdr_unfold(struct span v, struct buf *out)
{
	size_t a = 0, b = v.n;

	while (a < b && (v.p[a] == ' ' || v.p[a] == '\t' || v.p[a] == '\r' || v.p[a] == '\n'))
		a++;
	while (b > a && (v.p[b - 1] == ' ' || v.p[b - 1] == '\t' || v.p[b - 1] == '\r' ||
			    v.p[b - 1] == '\n'))
		b--;
	for (size_t i = a; i < b; i++) {
		if (v.p[i] == '\r' || v.p[i] == '\n')
			continue;
		if (buf_append(out, &v.p[i], 1) < 0)
			return -1;
	}
	return 0;
}

/* skip_cfws - past blanks, line breaks and (nested) comments. */
static size_t
skip_cfws(struct span v, size_t i)
{
	while (i < v.n) {
		if (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' || v.p[i] == '\n') {
			i++;
		} else if (v.p[i] == '(') {
			size_t depth = 0;
			for (; i < v.n; i++) {
				if (v.p[i] == '\\' && i + 1 < v.n)
					i++;
				else if (v.p[i] == '(')
					depth++;
				else if (v.p[i] == ')' && --depth == 0) {
					i++;
					break;
				}
			}
		} else
			break;
	}
	return i;
}

/* RFC 2045 5.1: token chars are printable ASCII except tspecials. */
static bool
is_token_char(uint8_t c)
{
	return c > ' ' && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

bool
mime_value_token(struct span v, struct span *tok, struct span *rest)
{
	size_t i = skip_cfws(v, 0), start = i;

	while (i < v.n && is_token_char(v.p[i]))
		i++;
	if (i == start)
		return false;
	*tok = (struct span){ v.p + start, i - start };
	i = skip_cfws(v, i);
	*rest = (struct span){ v.p + i, v.n - i };
	return true;
}

/* read_value - a quoted string (unescaped) or a lenient token: real mail
   has unquoted values with '=' and '/' (boundary=----=_Part_1). */
static char *
read_value(struct span v, size_t *ip)
{
	size_t i = *ip;
	struct buf b;
	char *s;

	buf_init(&b, 0, v.n + 1);
	if (i < v.n && v.p[i] == '"') {
		for (i++; i < v.n && v.p[i] != '"'; i++) {
			if (v.p[i] == '\\' && i + 1 < v.n)
				i++;
			if (v.p[i] != '\r' && v.p[i] != '\n')
				buf_append(&b, &v.p[i], 1);
		}
		if (i < v.n)
			i++;
	} else {
		size_t start = i;
		while (i < v.n && v.p[i] != ';' && v.p[i] > ' ' && v.p[i] != '(' && v.p[i] != '"')
			i++;
		buf_append(&b, v.p + start, i - start);
	}
	*ip = i;
	s = xstrndup((const char *)(b.base != NULL ? b.base : (const uint8_t *)""), buf_len(&b));
	buf_deinit(&b);
	return s;
}

/* One attr=value as written, before RFC 2231 joining. */
struct raw_param {
	char *attr, *value;
	size_t base_len; /* attr length before the first '*' */
	long section;	 /* N of "attr*N" or "attr*N*", -1 when none */
	bool extended;	 /* a trailing '*': the value is charset'lang'encoded */
};

static void
raw_classify(struct raw_param *r)
{
	char *star = strchr(r->attr, '*');
	char *endp;

	r->base_len = strlen(r->attr);
	r->section = -1;
	r->extended = false;
	if (star == NULL)
		return;
	r->base_len = (size_t)(star - r->attr);
	if (star[1] == '\0') {
		r->extended = true;
		return;
	}
	if (!isdigit((unsigned char)star[1]))
		return;
	r->section = strtol(star + 1, &endp, 10);
	if (r->section > 1000)
		r->section = 1000;
	r->extended = endp[0] == '*';
}

/* parse_raw - the attr=value pairs of v in order, at most MIME_MAX_PARAMS. */
static size_t
parse_raw(struct span v, struct raw_param *raw)
{
	size_t i = 0, n = 0;

	while (n < MIME_MAX_PARAMS) {
		size_t start;

		i = skip_cfws(v, i);
		while (i < v.n && v.p[i] != ';') /* skip anything up to the next ';' */
			i++;
		if (i >= v.n)
			break;
		i = skip_cfws(v, i + 1);
		start = i;
		while (i < v.n && is_token_char(v.p[i]))
			i++;
		if (i == start)
			continue;
		raw[n].attr = xstrndup((const char *)v.p + start, i - start);
		i = skip_cfws(v, i);
		if (i >= v.n || v.p[i] != '=') {
			free(raw[n].attr);
			continue;
		}
		i = skip_cfws(v, i + 1);
		raw[n].value = read_value(v, &i);
		for (char *c = raw[n].attr; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
		raw_classify(&raw[n]);
		n++;
	}
	return n;
}

/* join_sections - concatenates the "base*N" pieces of raw[first]'s base in
   order of N, marking them used. */
static void
join_sections(struct raw_param *raw, size_t n, size_t first, bool *used, struct mime_param *out)
{
	struct buf b;
	bool ext = false;

	buf_init(&b, 0, 1u << 20);
	for (long want = 0; want <= 1000; want++) {
		bool found = false;
		for (size_t j = 0; j < n; j++) {
			if (used[j] || raw[j].section != want || raw[j].base_len != raw[first].base_len ||
			    strncmp(raw[j].attr, raw[first].attr, raw[first].base_len) != 0)
				continue;
			used[j] = found = true;
			ext |= raw[j].extended;
			buf_append_str(&b, raw[j].value);
			break;
		}
		if (!found)
			break;
	}
	out->attr = xasprintf("%.*s%s", (int)raw[first].base_len, raw[first].attr, ext ? "*" : "");
	out->value = xstrndup(b.base != NULL ? (const char *)b.base : "", buf_len(&b));
	buf_deinit(&b);
}

void
mime_params_parse(struct span v, struct mime_params *out)
{
	struct raw_param raw[MIME_MAX_PARAMS];
	bool used[MIME_MAX_PARAMS] = { false };
	size_t n = parse_raw(v, raw);

	out->n = 0;
	out->p = n > 0 ? xcalloc(n, sizeof(*out->p)) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (used[i])
			continue;
		if (raw[i].section == 0) {
			join_sections(raw, n, i, used, &out->p[out->n++]);
		} else if (raw[i].section < 0) {
			used[i] = true;
			out->p[out->n].attr = xstrdup(raw[i].attr);
			out->p[out->n++].value = xstrdup(raw[i].value);
		}
		/* A "*N" piece without its "*0" is dropped. */
	}
	for (size_t i = 0; i < n; i++) {
		free(raw[i].attr);
		free(raw[i].value);
	}
	if (out->n == 0) { /* only orphaned continuations */
		free(out->p);
		out->p = NULL;
	}
}

void
mime_params_free(struct mime_params *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->p[i].attr);
		free(ps->p[i].value);
	}
	free(ps->p);
	ps->p = NULL;
	ps->n = 0;
}

const char *
mime_params_get(const struct mime_params *ps, const char *attr)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->p[i].attr, attr) == 0)
			return ps->p[i].value;
	return NULL;
}
