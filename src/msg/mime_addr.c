/*
 * mime_addr.c -- RFC 5322 address lists in the shape IMAP's ENVELOPE
 * wants (mime.h, struct mime_addr).
 *
 * Two steps: the value is cut into words (atoms, quoted strings unquoted,
 * domain literals) and the specials < > @ , ; : with comments dropped;
 * then each mailbox or group is read from the words. Lenient as mail
 * readers are: obsolete routes (RFC 5322 4.4), dots and blanks in local
 * parts, a missing domain or local part (shown as MISSING_DOMAIN and
 * MISSING_MAILBOX, as other IMAP servers do, never as NIL, which would mean
 * a group), a group without its closing ';'.
 * Encoded words (RFC 2047) stay as written: RFC 9051 7.5.2 hands them to
 * the client raw.
 * Limits: MIME_MAX_ADDRS entries; the word list is bounded by the value.
 * Security: untrusted input; no recursion.
 */
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "msg/mime.h"

struct word {
	char special; /* one of <>@,;: or 0 for a word */
	char *s;      /* the word (unquoted), NULL for a special */
};

/* read_quoted - the quoted string at v[*ip] == '"', unescaped, into b. */
static void
read_quoted(struct span v, size_t *ip, struct buf *b)
{
	size_t i = *ip + 1;

	for (; i < v.n && v.p[i] != '"'; i++) {
		if (v.p[i] == '\\' && i + 1 < v.n)
			i++;
		if (v.p[i] != '\r' && v.p[i] != '\n')
			buf_append(b, &v.p[i], 1);
	}
	*ip = i < v.n ? i + 1 : i;
}

/* skip_comment - past the (nested) comment at v[i] == '('. */
static size_t
skip_comment(struct span v, size_t i)
{
	size_t depth = 0;

	for (; i < v.n; i++) {
		if (v.p[i] == '\\' && i + 1 < v.n)
			i++;
		else if (v.p[i] == '(')
			depth++;
		else if (v.p[i] == ')' && --depth == 0)
			return i + 1;
	}
	return i;
}

static bool
is_atom_char(uint8_t c)
{
	return c > ' ' && c != 127 && strchr("()<>[]:;@\\,\"", c) == NULL;
}

/* tokenize - cuts v into words and specials; returns the count. */
static size_t
tokenize(struct span v, struct word *w)
{
	size_t i = 0, n = 0;
	struct buf b;

	buf_init(&b, 0, v.n + 1);
	while (i < v.n) {
		uint8_t c = v.p[i];
		size_t start = i;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
			continue;
		}
		if (c == '(') {
			i = skip_comment(v, i);
			continue;
		}
		if (strchr("<>@,;:", c) != NULL && c != '\0') {
			w[n++] = (struct word){ (char)c, NULL };
			i++;
			continue;
		}
		buf_clear(&b);
		if (c == '"') {
			read_quoted(v, &i, &b);
		} else if (c == '[') { /* domain literal, brackets kept */
			while (i < v.n && v.p[i] != ']')
				i++;
			i = i < v.n ? i + 1 : i;
			buf_append(&b, v.p + start, i - start);
		} else {
			while (i < v.n && is_atom_char(v.p[i]))
				i++;
			if (i == start) { /* a stray ')', '\\', ']' or control: drop it */
				i++;
				continue;
			}
			buf_append(&b, v.p + start, i - start);
		}
		w[n++] = (struct word){ 0, xstrndup(b.base != NULL ? (const char *)b.base : "",
					      buf_len(&b)) };
	}
	buf_deinit(&b);
	return n;
}

/* join - words w[a..b) joined with sep (specials skipped); NULL if none. */
static char *
join(const struct word *w, size_t a, size_t b, const char *sep)
{
	struct buf out;
	bool any = false;
	char *s;

	buf_init(&out, 0, SIZE_MAX / 2);
	for (size_t i = a; i < b; i++) {
		if (w[i].special != 0)
			continue;
		if (any)
			buf_append_str(&out, sep);
		buf_append_str(&out, w[i].s);
		any = true;
	}
	/* Words may all be empty ("" quoted): then the buffer has no storage. */
	s = any ? xstrndup(out.base != NULL ? (const char *)out.base : "", buf_len(&out)) : NULL;
	buf_deinit(&out);
	return s;
}

/* find - the first special of `set` in w[i..n), or n. */
static size_t
find(const struct word *w, size_t i, size_t n, const char *set)
{
	while (i < n && (w[i].special == 0 || strchr(set, w[i].special) == NULL))
		i++;
	return i;
}

/* addr_spec - local@domain from w[a..b) into e. */
static void
addr_spec(const struct word *w, size_t a, size_t b, struct mime_addr *e)
{
	size_t at = find(w, a, b, "@");

	e->mailbox = join(w, a, at, "");
	e->host = at < b ? join(w, at + 1, b, "") : NULL;
	if (e->mailbox == NULL)
		e->mailbox = xstrdup("MISSING_MAILBOX");
	if (e->host == NULL)
		e->host = xstrdup("MISSING_DOMAIN");
}

/* angle_addr - "<[@route:]local@domain>" at w[lt] == '<'; returns the
   index past it. */
static size_t
angle_addr(const struct word *w, size_t lt, size_t n, struct mime_addr *e)
{
	size_t gt = find(w, lt + 1, n, ">"), a = lt + 1;
	size_t colon = find(w, a, gt, ":");

	if (a < gt && w[a].special == '@' && colon < gt) { /* obs-route */
		struct buf r;
		buf_init(&r, 0, SIZE_MAX / 2);
		for (size_t i = a; i < colon; i++)
			buf_append_str(&r, w[i].special != 0 ? (char[]){ w[i].special, 0 } : w[i].s);
		e->adl = xstrndup(r.base != NULL ? (const char *)r.base : "", buf_len(&r));
		buf_deinit(&r);
		a = colon + 1;
	}
	addr_spec(w, a, gt, e);
	return gt < n ? gt + 1 : gt;
}

/* read_list - the entries from the words; returns the count. */
static size_t
read_list(const struct word *w, size_t n, struct mime_addr *out)
{
	size_t i = 0, k = 0;
	bool in_group = false;

	while (i < n && k < MIME_MAX_ADDRS) {
		size_t stop = find(w, i, n, "<:,;");

		if (w[i].special == ',' || w[i].special == '>') {
			i++;
		} else if (w[i].special == ';') {
			if (in_group)
				out[k++] = (struct mime_addr){ 0 };
			in_group = false;
			i++;
		} else if (stop < n && w[stop].special == ':' && !in_group) {
			out[k++] = (struct mime_addr){ .mailbox = join(w, i, stop, " ") };
			if (out[k - 1].mailbox == NULL)
				out[k - 1].mailbox = xstrdup("");
			in_group = true;
			i = stop + 1;
		} else if (stop < n && w[stop].special == '<') {
			out[k].name = join(w, i, stop, " ");
			i = angle_addr(w, stop, n, &out[k++]);
			i = find(w, i, n, ",;");
		} else {
			size_t end = find(w, i, n, ",;");
			addr_spec(w, i, end, &out[k++]);
			i = end;
		}
	}
	if (in_group && k < MIME_MAX_ADDRS) /* unterminated group */
		out[k++] = (struct mime_addr){ 0 };
	return k;
}

size_t
mime_addr_parse(struct span value, struct mime_addr **list_r)
{
	struct word *w = xcalloc(value.n + 1, sizeof(*w));
	struct mime_addr *out = xcalloc(MIME_MAX_ADDRS, sizeof(*out));
	size_t nw = tokenize(value, w), k = read_list(w, nw, out);

	for (size_t i = 0; i < nw; i++)
		free(w[i].s);
	free(w);
	if (k == 0) {
		free(out);
		out = NULL;
	}
	*list_r = out;
	return k;
}

void
mime_addr_free(struct mime_addr **list, size_t n)
{
	if (*list == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*list)[i].name);
		free((*list)[i].adl);
		free((*list)[i].mailbox);
		free((*list)[i].host);
	}
	free(*list);
	*list = NULL;
}
