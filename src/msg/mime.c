/*
 * mime.c -- the MIME part tree of a message in memory (mime.h).
 *
 * One pass per nesting level: an entity's header block is found line by
 * line, its Content-Type decides whether the body holds parts (multipart:
 * split at the delimiter lines of its boundary) or an embedded message
 * (message/rfc822, message/global: parsed as a message one level down).
 * Child ranges always lie inside the parent's body, so an inner part can
 * never reach past an outer delimiter.
 * Standards: RFC 2046 5.1.1 (delimiters: "The CRLF preceding the boundary
 * delimiter line is conceptually attached to the boundary"), 5.1.5 (digest
 * defaults to message/rfc822), RFC 2045 5.2 (default text/plain).
 * Limits: MIME_MAX_DEPTH, MIME_MAX_PARTS, MIME_MAX_BOUNDARY.
 * Security: untrusted input; recursion depth is bounded by MIME_MAX_DEPTH.
 */
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "msg/mime.h"

struct mime_parser {
	struct mime_msg *msg;
	size_t cap;
};

/* line_next - the end of the line at pos (its LF, or end) and the start of
   the next one; *len_r is the length without CR LF. */
static size_t
line_next(const char *d, size_t pos, size_t end, size_t *len_r)
{
	const char *lf = memchr(d + pos, '\n', end - pos);
	size_t eol = lf != NULL ? (size_t)(lf - d) : end;
	size_t len = eol - pos;

	if (len > 0 && d[eol - 1] == '\r')
		len--;
	*len_r = len;
	return lf != NULL ? eol + 1 : end;
}

/* is_field_line - "name:" with a name of printable non-blank ASCII; blanks
   before the colon are tolerated (obsolete syntax, RFC 5322 4.5). */
static bool
is_field_line(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] > ' ' && p[i] < 127 && p[i] != ':')
		i++;
	if (i == 0)
		return false;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < len && p[i] == ':';
}

/* find_header - the header block at start: ends after a blank line, or
   before the first line that is neither a field nor a continuation. */
static void
find_header(const char *d, size_t start, size_t end, struct mime_part *p)
{
	size_t pos = start, len;

	p->hdr_off = start;
	while (pos < end) {
		size_t next = line_next(d, pos, end, &len);

		if (len == 0) {
			p->hdr_len = next - start;
			p->body_off = next;
			return;
		}
		if (d[pos] != ' ' && d[pos] != '\t' && !is_field_line(d + pos, len))
			break;
		pos = next;
	}
	p->hdr_len = pos - start;
	p->body_off = pos;
}

size_t
mime_header_len(const char *data, size_t len)
{
	struct mime_part p;

	find_header(data, 0, len, &p);
	return p.hdr_len;
}

static size_t
count_lines(const char *p, size_t n)
{
	size_t lines = 0;

	for (const char *q = p; (q = memchr(q, '\n', n - (size_t)(q - p))) != NULL; q++)
		lines++;
	if (n > 0 && p[n - 1] != '\n')
		lines++;
	return lines;
}

/* set_type - type, subtype and kind from Content-Type, or the default. */
static void
set_type(const struct mime_msg *msg, struct mime_part *p, bool digest_child)
{
	struct span v, rest;

	p->ctype_given = false;
	if (mime_hdr_find(msg->data + p->hdr_off, p->hdr_len, "Content-Type", &v) &&
	    mime_value_token(v, &p->type, &rest) && rest.n > 0 && rest.p[0] == '/' &&
	    mime_value_token((struct span){ rest.p + 1, rest.n - 1 }, &p->subtype,
		&p->ctype_rest))
		p->ctype_given = true;
	if (!p->ctype_given) {
		p->type = span_str(digest_child ? "message" : "text");
		p->subtype = span_str(digest_child ? "rfc822" : "plain");
		p->ctype_rest = SPAN_NULL;
	}
	if (span_eq_ci(p->type, "multipart"))
		p->kind = MIME_KIND_MULTIPART;
	else if (span_eq_ci(p->type, "message") &&
	    (span_eq_ci(p->subtype, "rfc822") || span_eq_ci(p->subtype, "global")))
		p->kind = MIME_KIND_MESSAGE;
	else if (span_eq_ci(p->type, "text"))
		p->kind = MIME_KIND_TEXT;
	else
		p->kind = MIME_KIND_BASIC;
}

static struct mime_part *parse_entity(struct mime_parser *ps, size_t start, size_t end,
    struct mime_part *parent, bool digest_child);

/* add_child - parses [start, end) as the next child of p. */
static void
add_child(struct mime_parser *ps, struct mime_part *p, struct mime_part **last, size_t start,
    size_t end)
{
	bool digest = span_eq_ci(p->subtype, "digest");
	struct mime_part *c = parse_entity(ps, start, end, p, digest);

	if (c == NULL)
		return;
	if (*last == NULL)
		p->children = c;
	else
		(*last)->next = c;
	*last = c;
	p->nchildren++;
}

/* delimiter_line - is line [pos, pos+len) "--boundary" or "--boundary--",
   followed only by blanks (RFC 2046 5.1.1 transport padding)? Returns 0
   no, 1 delimiter, 2 close delimiter. */
static int
delimiter_line(const char *d, size_t len, const char *b, size_t blen)
{
	size_t i;
	int kind = 1;

	if (len < blen + 2 || d[0] != '-' || d[1] != '-' || memcmp(d + 2, b, blen) != 0)
		return 0;
	i = blen + 2;
	if (len - i >= 2 && d[i] == '-' && d[i + 1] == '-') {
		kind = 2;
		i += 2;
	}
	for (; i < len; i++)
		if (d[i] != ' ' && d[i] != '\t')
			return 0;
	return kind;
}

/* parse_multipart - splits p's body at its boundary's delimiter lines. */
static void
parse_multipart(struct mime_parser *ps, struct mime_part *p)
{
	const char *d = ps->msg->data;
	struct mime_params params;
	const char *b;
	size_t blen, pos = p->body_off, end = p->body_off + p->body_len, open = SIZE_MAX, len;
	struct mime_part *last = NULL;

	mime_params_parse(p->ctype_rest, &params);
	b = mime_params_get(&params, "boundary");
	blen = b != NULL ? strlen(b) : 0;
	while (blen > 0 && blen <= MIME_MAX_BOUNDARY && pos < end) {
		size_t next = line_next(d, pos, end, &len);
		int kind = delimiter_line(d + pos, len, b, blen);

		if (kind != 0) {
			if (open != SIZE_MAX) {
				/* The line break before the delimiter belongs to it. */
				size_t cend = pos;
				if (cend > open && d[cend - 1] == '\n')
					cend--;
				if (cend > open && d[cend - 1] == '\r')
					cend--;
				add_child(ps, p, &last, open, cend);
			}
			open = kind == 2 ? SIZE_MAX : next;
			if (kind == 2)
				break;
		}
		pos = next;
	}
	if (open != SIZE_MAX) /* no close delimiter: the last part runs to the end */
		add_child(ps, p, &last, open, end);
	mime_params_free(&params);
}

static struct mime_part *
new_part(struct mime_parser *ps)
{
	struct mime_msg *msg = ps->msg;
	struct mime_part *p;

	if (msg->nparts == MIME_MAX_PARTS) {
		msg->limited = true;
		return NULL;
	}
	if (msg->nparts == ps->cap) {
		ps->cap = ps->cap == 0 ? 16 : ps->cap * 2;
		msg->all = xrealloc(msg->all, ps->cap * sizeof(*msg->all));
	}
	p = xcalloc(1, sizeof(*p));
	msg->all[msg->nparts++] = p;
	return p;
}

/* parse_entity - header, type and contents of the entity at [start, end). */
static struct mime_part *
parse_entity(struct mime_parser *ps, size_t start, size_t end, struct mime_part *parent,
    bool digest_child)
{
	struct mime_msg *msg = ps->msg;
	struct mime_part *p = new_part(ps);

	if (p == NULL)
		return NULL;
	p->parent = parent;
	p->depth = parent != NULL ? parent->depth + 1 : 0;
	find_header(msg->data, start, end, p);
	p->body_len = end - p->body_off;
	p->body_lines = count_lines(msg->data + p->body_off, p->body_len);
	set_type(msg, p, digest_child);
	if (p->kind != MIME_KIND_BASIC && p->kind != MIME_KIND_TEXT &&
	    p->depth >= MIME_MAX_DEPTH) {
		msg->limited = true;
		p->kind = MIME_KIND_BASIC;
	}
	if (p->kind == MIME_KIND_MULTIPART) {
		parse_multipart(ps, p);
		if (p->nchildren == 0)
			p->kind = MIME_KIND_BASIC;
	} else if (p->kind == MIME_KIND_MESSAGE) {
		/* An encoded message/rfc822 is forbidden (RFC 2046 5.2.1); keep it opaque. */
		if (mime_part_cte(msg, p) != MIME_CTE_IDENTITY)
			p->kind = MIME_KIND_BASIC;
		else if ((p->children = parse_entity(ps, p->body_off, end, p, false)) != NULL)
			p->nchildren = 1;
		else
			p->kind = MIME_KIND_BASIC;
	}
	return p;
}

struct mime_msg *
mime_parse(const char *data, size_t len)
{
	struct mime_parser ps = { 0 };

	ps.msg = xcalloc(1, sizeof(*ps.msg));
	ps.msg->data = data;
	ps.msg->len = len;
	ps.msg->root = parse_entity(&ps, 0, len, NULL, false);
	return ps.msg;
}

void
mime_free(struct mime_msg **msgp)
{
	struct mime_msg *msg = *msgp;

	if (msg == NULL)
		return;
	for (size_t i = 0; i < msg->nparts; i++)
		free(msg->all[i]);
	free(msg->all);
	free(msg);
	*msgp = NULL;
}

static const struct mime_part *
nth_child(const struct mime_part *p, uint32_t k)
{
	const struct mime_part *c = p->children;

	while (c != NULL && --k > 0)
		c = c->next;
	return c;
}

const struct mime_part *
mime_part_find(const struct mime_msg *msg, const uint32_t *nums, size_t n)
{
	const struct mime_part *cur = msg->root;
	bool in_msg = true; /* cur stands for a message, not yet for one of its parts */

	for (size_t i = 0; i < n && cur != NULL; i++) {
		uint32_t k = nums[i];

		if (k == 0)
			return NULL;
		if (cur->kind == MIME_KIND_MULTIPART)
			cur = nth_child(cur, k);
		else if (in_msg)
			cur = k == 1 ? cur : NULL;
		else if (cur->kind == MIME_KIND_MESSAGE) {
			const struct mime_part *e = cur->children;
			if (e->kind == MIME_KIND_MULTIPART)
				cur = nth_child(e, k);
			else
				cur = k == 1 ? e : NULL;
		} else
			return NULL;
		in_msg = false;
	}
	return cur;
}
