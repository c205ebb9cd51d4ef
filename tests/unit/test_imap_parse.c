/*
 * test_imap_parse.c -- the IMAP command framer and tokenizer.
 *
 * Each case is a byte stream of one or more commands and the events the
 * parser must report for it: a command (rendered back as text: atoms as
 * they are, strings in quotes with "{n}" before literals, lists in
 * parentheses), a continuation request for a synchronizing literal, or an
 * error (fatal or not). Every case is fed whole, byte by byte, in small
 * chunks and cut in two at every position; the answers must not depend on
 * how the bytes arrive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "harness.h"
#include "imap/imap_parse.h"

#define IN(lit) .in = (lit), .inlen = sizeof(lit) - 1 /* keeps embedded NULs */
#define MAXEV 6

/* Events: "C:<rendering>" a command, "+" a continuation, "E:<error>" a
   non-fatal error, "F:<error>" a fatal one (the stream ends there). */
static const struct parse_case {
	const char *in;
	size_t inlen;
	uint64_t literal_max; /* 0: 1000 */
	const char *ev[MAXEV];
} cases[] = {
	{ IN("a1 NOOP\r\n"), .ev = { "C:a1 NOOP" } },
	{ IN("a1 CAPABILITY\r\na2 LOGOUT\r\n"), .ev = { "C:a1 CAPABILITY", "C:a2 LOGOUT" } },
	{ IN("A.1 login alice \"se\\\"cr\\\\et\"\r\n"),
	    .ev = { "C:A.1 login alice \"se\"cr\\et\"" } },
	{ IN("t SELECT INBOX\r\n"), .ev = { "C:t SELECT INBOX" } },
	{ IN("t select \"\"\r\n"), .ev = { "C:t select \"\"" } },
	{ IN("t FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n"),
	    .ev = { "C:t FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)" } },
	{ IN("t FETCH 1 BODY[HEADER.FIELDS (\"a]b\")]\r\n"),
	    .ev = { "C:t FETCH 1 BODY[HEADER.FIELDS (\"a]b\")]" } },
	{ IN("t STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)\r\n"),
	    .ev = { "C:t STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)" } },
	{ IN("t LIST \"\" %\r\n"), .ev = { "C:t LIST \"\" %" } },
	{ IN("t LIST (SUBSCRIBED) \"\" * RETURN (SPECIAL-USE)\r\n"),
	    .ev = { "C:t LIST (SUBSCRIBED) \"\" * RETURN (SPECIAL-USE)" } },
	{ IN("t X nil NIL () ((a) ())\r\n"), .ev = { "C:t X NIL NIL () ((a) ())" } },
	{ IN("t SEARCH CHARSET UTF-8 SUBJECT \"\xc3\xa9t\xc3\xa9\"\r\n"),
	    .ev = { "C:t SEARCH CHARSET UTF-8 SUBJECT \"\xc3\xa9t\xc3\xa9\"" } },
	/* Literals: synchronizing (continuation), LITERAL+, literal8, empty,
	   holding CRLF, quotes and NUL, several in one command. */
	{ IN("a LOGIN {5}\r\nalice {3}\r\npw!\r\n"), .ev = { "+", "+", "C:a LOGIN {5}\"alice\" {3}\"pw!\"" } },
	{ IN("a LOGIN {5+}\r\nalice {3+}\r\npw!\r\n"), .ev = { "C:a LOGIN {5}\"alice\" {3}\"pw!\"" } },
	{ IN("a APPEND INBOX (\\Seen) {7}\r\nx\r\n\"{1}\r\n"),
	    .ev = { "+", "C:a APPEND INBOX (\\Seen) {7}\"x\r\n\"{1}\"" } },
	{ IN("a APPEND INBOX ~{3}\r\na\0b\r\n"), .ev = { "+", "C:a APPEND INBOX ~{3}\"a\\0b\"" } },
	{ IN("a X {0}\r\n\r\n"), .ev = { "+", "C:a X {0}\"\"" } },
	{ IN("a X ({1+}\r\na {1+}\r\nb)\r\n"), .ev = { "C:a X ({1}\"a\" {1}\"b\")" } },
	/* A literal marker inside quotes is text. */
	{ IN("a X \"{5}\"\r\n"), .ev = { "C:a X \"{5}\"" } },
	/* Limits on literals. */
	{ IN("a X {1001}\r\nb NOOP\r\n"), .ev = { "E:[TOOBIG] Literal too large", "C:b NOOP" } },
	{ IN("a X {1001+}\r\n"), .ev = { "F:[TOOBIG] Literal too large" } },
	{ IN("a X {99999999999999999999999}\r\nb NOOP\r\n"),
	    .ev = { "E:[TOOBIG] Literal too large", "C:b NOOP" } },
	{ IN("a X {4}\r\nabcd\r\n"), .literal_max = 3, .ev = { "E:[TOOBIG] Literal too large", "E:Bad tag" } },
	/* Bad syntax: each command is refused and the next one parsed. */
	{ IN("a X {-5}\r\nb NOOP\r\n"), .ev = { "E:Bad literal", "C:b NOOP" } },
	{ IN("a X (a b\r\nb NOOP\r\n"), .ev = { "E:Missing closing parenthesis", "C:b NOOP" } },
	{ IN("a X a)\r\n"), .ev = { "E:Unbalanced parenthesis" } },
	{ IN("a X \"abc\r\nb NOOP\r\n"), .ev = { "E:Unterminated quoted string", "C:b NOOP" } },
	{ IN("a X \"a\\b\"\r\n"), .ev = { "E:Bad escape in quoted string" } },
	{ IN("a X a  b\r\n"), .ev = { "E:Unexpected space" } },
	{ IN("a X a \r\n"), .ev = { "E:Unexpected space" } },
	{ IN("a X a\"b\"\r\n"), .ev = { "E:Expected a space between arguments" } },
	{ IN("a X \xff\r\n"), .ev = { "E:8-bit character in atom" } },
	{ IN("a X BODY[HEADER\r\n"), .ev = { "E:Bad character in section" } },
	{ IN("a X BODY[HEADER"), .ev = { NULL } },
	{ IN("\r\n"), .ev = { "E:Missing or bad tag" } },
	{ IN("NOOP\r\n"), .ev = { "E:Bad tag" } },
	{ IN("a+ NOOP\r\n"), .ev = { "E:Bad tag" } },
	{ IN("a \r\n"), .ev = { "E:Missing or bad command name" } },
	{ IN("a NOOP\nb NOOP\r\n"), .ev = { "E:Line must end with CRLF", "C:b NOOP" } },
	{ IN("a NO\0OP\r\nb NOOP\r\n"), .ev = { "E:NUL in command", "C:b NOOP" } },
	/* A faulty line still consumes its non-synchronizing literal ... */
	{ IN("a X \0 {3+}\r\nb N\r\nc NOOP\r\n"), .ev = { "E:NUL in command", "C:c NOOP" } },
	/* ... but never invites a synchronizing one. */
	{ IN("a X \0 {3}\r\nc NOOP\r\n"), .ev = { "E:NUL in command", "C:c NOOP" } },
	{ IN("a X ((((((((((((((((((x))))))))))))))))))\r\n"), .ev = { "E:Lists nested too deeply" } },
};

struct result {
	char ev[MAXEV][256];
	size_t n;
};

static void render(struct buf *o, const struct imap_arg *a, size_t n);

static void
render_one(struct buf *o, const struct imap_arg *a)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
		buf_append(o, a->str, a->len);
		break;
	case IMAP_ARG_NIL:
		buf_append_str(o, "NIL");
		break;
	case IMAP_ARG_STRING:
		if (a->literal)
			buf_printf(o, "%s{%zu}", a->literal8 ? "~" : "", a->len);
		buf_append_str(o, "\"");
		for (size_t i = 0; i < a->len; i++) {
			if (a->str[i] == '\0')
				buf_append_str(o, "\\0");
			else
				buf_append(o, &a->str[i], 1);
		}
		CHECK(a->str[a->len] == '\0');
		buf_append_str(o, "\"");
		break;
	case IMAP_ARG_LIST:
		buf_append_str(o, "(");
		render(o, a->list, a->n);
		buf_append_str(o, ")");
		break;
	}
}

static void
render(struct buf *o, const struct imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append_str(o, " ");
		render_one(o, &a[i]);
	}
}

static void
record(struct result *r, struct imap_parser *p, enum imap_parse_rc rc)
{
	struct buf o;
	bool fatal;

	if (r->n >= MAXEV)
		return;
	buf_init(&o, 0, 4096);
	if (rc == IMAP_PARSE_CMD) {
		const struct imap_cmd *c = imap_parser_cmd(p);

		buf_printf(&o, "C:%s %s", c->tag, c->name);
		if (c->nargs > 0)
			buf_append_str(&o, " ");
		render(&o, c->args, c->nargs);
	} else if (rc == IMAP_PARSE_LITERAL) {
		buf_append_str(&o, "+");
	} else {
		const char *e = imap_parser_error(p, &fatal);
		buf_printf(&o, "%s:%s", fatal ? "F" : "E", e);
	}
	snprintf(r->ev[r->n++], sizeof(r->ev[0]), "%.*s", (int)buf_len(&o),
	    (const char *)buf_peek(&o).p);
	buf_deinit(&o);
}

/* run - feeds the case in chunks (the first one `first` bytes long when not
   0); stops at a fatal error as the engine would. */
static void
run(const struct parse_case *c, size_t first, size_t chunk, struct result *r)
{
	struct imap_parse_limits lim = { .line_max = 200,
		.literal_max = c->literal_max ? c->literal_max : 1000,
		.cmd_max = 4000,
		.depth_max = IMAP_PARSE_DEPTH_MAX,
		.items_max = 100 };
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf in;
	size_t off = 0;
	bool fatal = false;

	memset(r, 0, sizeof(*r));
	buf_init(&in, 0, 1 << 16);
	while (off < c->inlen && !fatal) {
		size_t n = MIN(off == 0 && first ? first : chunk, c->inlen - off);
		enum imap_parse_rc rc;

		buf_append(&in, c->in + off, n);
		off += n;
		while (!fatal && (rc = imap_parse_feed(p, &in)) != IMAP_PARSE_MORE) {
			record(r, p, rc);
			if (rc == IMAP_PARSE_ERROR)
				imap_parser_error(p, &fatal);
		}
	}
	imap_parser_free(&p);
	buf_deinit(&in);
}

static void
check_case(size_t i, size_t first, size_t chunk)
{
	const struct parse_case *c = &cases[i];
	struct result r;
	size_t want = 0;
	char show[512];

	run(c, first, chunk, &r);
	while (want < MAXEV && c->ev[want] != NULL)
		want++;
	if (r.n != want)
		fprintf(stderr, "case %zu (%s) split %zu/%zu: %zu events, want %zu\n", i,
		    t_show_bytes(show, sizeof(show), c->in, c->inlen), first, chunk, r.n, want);
	CHECK_INT(r.n, want);
	for (size_t e = 0; e < want && e < r.n; e++)
		CHECK_STR(r.ev[e], c->ev[e]);
}

/* Every case whole, byte by byte, in 2-, 3- and 7-byte chunks, and cut in
   two at every position. */
static void
test_imap_parse_table(void)
{
	static const size_t chunks[] = { SIZE_MAX, 1, 2, 3, 7 };

	for (size_t i = 0; i < nitems(cases); i++) {
		for (size_t k = 0; k < nitems(chunks); k++)
			check_case(i, 0, chunks[k]);
		for (size_t cut = 1; cut < cases[i].inlen; cut++)
			check_case(i, cut, SIZE_MAX);
	}
}

/* A refused synchronizing literal: the client sends nothing more for it. */
static void
test_imap_parse_reject_literal(void)
{
	struct imap_parse_limits lim = { 200, 1000, 4000, 8, 100 };
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf in;

	buf_init(&in, 0, 4096);
	buf_append_str(&in, "a1 APPEND INBOX {500}\r\n");
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_LITERAL);
	CHECK_STR(imap_parser_tag(p), "a1");
	CHECK_STR(imap_parser_name(p), "APPEND");
	CHECK_INT(imap_parser_literal_size(p), 500);
	imap_parser_reject_literal(p);
	CHECK(imap_parser_idle(p));
	buf_append_str(&in, "a2 NOOP\r\n");
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_CMD);
	CHECK_STR(imap_parser_cmd(p)->tag, "a2");
	/* A lowered bound (before authentication) applies to the next literal. */
	imap_parser_set_literal_max(p, 10);
	buf_append_str(&in, "a3 LOGIN {11}\r\n");
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_ERROR);
	CHECK_STR(imap_parser_tag(p), "a3");
	imap_parser_set_literal_max(p, 1u << 30); /* capped at the limit */
	buf_append_str(&in, "a4 X {1001}\r\n");
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_ERROR);
	imap_parser_free(&p);
	CHECK(p == NULL);
	buf_deinit(&in);
}

/* Over-long lines are fatal; the bound counts the CRLF. */
static void
test_imap_parse_line_limit(void)
{
	struct imap_parse_limits lim = { 64, 1000, 4000, 8, 100 };
	struct imap_parser *p = imap_parser_new(&lim);
	char line[80];
	struct buf in;
	bool fatal = false;

	buf_init(&in, 0, 4096);
	memset(line, 'x', sizeof(line));
	memcpy(line, "a X ", 4);
	buf_append(&in, line, 62);
	buf_append_str(&in, "\r\n");
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_CMD);
	buf_append(&in, line, 63);
	buf_append_str(&in, "\r\n");
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_ERROR);
	CHECK_STR(imap_parser_error(p, &fatal), "Line too long");
	CHECK(fatal);
	/* Lines after a literal have a bound of their own. */
	imap_parser_free(&p);
	p = imap_parser_new(&lim);
	buf_clear(&in);
	buf_append_str(&in, "a X {100+}\r\n");
	for (int i = 0; i < 100; i++)
		buf_append_str(&in, "y");
	buf_append_str(&in, " ");
	buf_append(&in, line + 4, 50);
	buf_append_str(&in, "\r\n");
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_CMD);
	CHECK_INT(imap_parser_cmd(p)->nargs, 2);
	imap_parser_free(&p);
	buf_deinit(&in);
}

/* The command bound counts literals too. */
static void
test_imap_parse_cmd_limit(void)
{
	struct imap_parse_limits lim = { 200, 1000, 1500, 8, 100 };
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf in;

	buf_init(&in, 0, 8192);
	buf_append_str(&in, "a X {900+}\r\n");
	for (int i = 0; i < 900; i++)
		buf_append_str(&in, "z");
	buf_append_str(&in, " {900}\r\n");
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_ERROR);
	CHECK_STR(imap_parser_error(p, NULL), "[TOOBIG] Literal too large");
	imap_parser_free(&p);
	buf_deinit(&in);
}

/* Raw lines: AUTHENTICATE responses and DONE. */
static void
test_imap_parse_raw_line(void)
{
	static const char more[] = "NE\r\n"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
	    "A\nB\0\r\n*\r\n";
	struct imap_parse_limits lim = { 64, 1000, 4000, 8, 100 };
	struct imap_parser *p = imap_parser_new(&lim);
	const char *err;
	struct span l;
	struct buf in;

	buf_init(&in, 0, 4096);
	buf_append_str(&in, "DO");
	CHECK_INT(imap_parse_line(p, &in, &l, &err), 0);
	buf_append(&in, more, sizeof(more) - 1);
	CHECK_INT(imap_parse_line(p, &in, &l, &err), 1);
	CHECK_SPAN(l, "DONE");
	CHECK_INT(imap_parse_line(p, &in, &l, &err), -1);
	CHECK_STR(err, "Line too long");
	CHECK_INT(imap_parse_line(p, &in, &l, &err), -1);
	CHECK_STR(err, "Line must end with CRLF");
	CHECK_INT(imap_parse_line(p, &in, &l, &err), -1);
	CHECK_STR(err, "NUL in line");
	CHECK_INT(imap_parse_line(p, &in, &l, &err), 1);
	CHECK_SPAN(l, "*");
	CHECK_INT(buf_len(&in), 0);
	imap_parser_free(&p);
	buf_deinit(&in);
}

/* Too many tokens in one command. */
static void
test_imap_parse_items(void)
{
	struct imap_parse_limits lim = { 4000, 1000, 8000, 8, 10 };
	struct imap_parser *p = imap_parser_new(&lim);
	struct buf in;

	buf_init(&in, 0, 8192);
	buf_append_str(&in, "a X 1 2 3 4 5 6 7 8 9 10\r\nb X 1 2 3 4 5 6 7 8 9 10 11\r\n");
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_CMD);
	CHECK_INT(imap_parser_cmd(p)->nargs, 10);
	CHECK_INT(imap_parse_feed(p, &in), IMAP_PARSE_ERROR);
	CHECK_STR(imap_parser_error(p, NULL), "Too many arguments");
	imap_parser_free(&p);
	buf_deinit(&in);
}

static const struct t_test tests[] = {
	T(test_imap_parse_table),
	T(test_imap_parse_reject_literal),
	T(test_imap_parse_line_limit),
	T(test_imap_parse_cmd_limit),
	T(test_imap_parse_raw_line),
	T(test_imap_parse_items),
	{ 0 },
};

T_MAIN(tests)
