/*
 * test_smtp_lex.c -- the SMTP line framer, tokenizer and MAIL/RCPT/BDAT
 * argument parsers.
 *
 * Framer cases are fed whole, byte by byte, and split into two and three
 * chunks at every position; the parser cases also go through the framer byte
 * by byte as a full command line. Inputs are copied to exact-size heap
 * buffers so that the sanitizers catch any over-read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "harness.h"
#include "smtp/smtp_lex.h"

#define IN(lit) .in = (lit), .inlen = sizeof(lit) - 1 /* keeps embedded NULs */
#define MAXEV 6

struct ev {
	enum line_rc rc; /* LINE_MORE (0) ends the list */
	enum line_err err;
	const char *line;
};

#define OK(s) { LINE_OK, LE_NONE, (s) }
#define ERR(e) { LINE_ERR, (e), NULL }

static const struct frame_case {
	const char *in;
	size_t inlen;
	size_t max; /* 0: 64 */
	struct ev ev[MAXEV];
	size_t left; /* bytes of an unfinished line still buffered */
} frame_cases[] = {
	{ IN("EHLO a.example\r\n"), .ev = { OK("EHLO a.example") } },
	{ IN("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
	    .ev = { OK("MAIL FROM:<a@b>"), OK("RCPT TO:<c@d>"), OK("DATA") } },
	{ IN("\r\n"), .ev = { OK("") } },
	{ IN("RSET\n"), .ev = { ERR(LE_BARE_LF) } },
	{ IN("\n"), .ev = { ERR(LE_BARE_LF) } },
	{ IN("RSET\nNOOP\r\n"), .ev = { ERR(LE_BARE_LF), OK("NOOP") } },
	{ IN("NOOP \0x\r\nQUIT\r\n"), .ev = { ERR(LE_NUL), OK("QUIT") } },
	{ IN("\0\r\n"), .ev = { ERR(LE_NUL) } },
	{ IN("A\r\r\n"), .ev = { OK("A\r") } },
	{ IN("AB\rCD\r\n"), .ev = { OK("AB\rCD") } },
	/* max counts the CRLF: 6 + 2 fits in 8, 7 + 2 does not. */
	{ IN("ABCDEF\r\n"), .max = 8, .ev = { OK("ABCDEF") } },
	{ IN("ABCDEFG\r\n"), .max = 8, .ev = { ERR(LE_TOO_LONG) } },
	{ IN("ABCDEFGH\n"), .max = 8, .ev = { ERR(LE_TOO_LONG) } },
	{ IN("HELO aaaaaaaaaaaaaaaaaaaa\r\nNOOP\r\n"), .max = 8,
	    .ev = { ERR(LE_TOO_LONG), OK("NOOP") } },
	/* Two over-long lines: each reported once, then a good one. */
	{ IN("xxxxxxxxxxxxxxxxxxxxxxxxx\r\nyyyyyyyyyyyyyyyyy\r\nQUIT\r\n"), .max = 8,
	    .ev = { ERR(LE_TOO_LONG), ERR(LE_TOO_LONG), OK("QUIT") } },
	/* Inside an over-long line a NUL or bare LF ending is not reported. */
	{ IN("xxxxxxxxxx\0xxxxxxxx\nQUIT\r\n"), .max = 8, .ev = { ERR(LE_TOO_LONG), OK("QUIT") } },
	/* Still skipping at the end: nothing reported yet, nothing kept. */
	{ IN("xxxxxxxxxxxxxxxxxxxx"), .max = 8, .left = 0 },
	{ IN("NOOP"), .left = 4 },
	{ IN("NOOP\r"), .left = 5 },
	{ IN("QUIT\r\nNOO"), .ev = { OK("QUIT") }, .left = 3 },
	{ IN("EHLO x\r\n\nNOOP\r\n\0\r\nQUIT\r\n"),
	    .ev = { OK("EHLO x"), ERR(LE_BARE_LF), OK("NOOP"), ERR(LE_NUL), OK("QUIT") } },
};

/* Run state for one framer case under one way of chunking it. */
struct frame_run {
	struct ev got[MAXEV + 1];
	char lines[MAXEV + 1][80];
	size_t ngot;
	bool bounded;
};

/* drain - takes every complete line now buffered, recording the events. */
static void
drain(struct line_framer *f, struct buf *in, struct frame_run *r)
{
	enum line_rc rc;
	struct span line;

	while ((rc = line_next(f, in, &line)) != LINE_MORE) {
		struct ev *e = &r->got[r->ngot < MAXEV ? r->ngot : MAXEV];

		e->rc = rc;
		e->err = rc == LINE_ERR ? f->err : LE_NONE;
		e->line = NULL;
		if (rc == LINE_OK && r->ngot < MAXEV) {
			snprintf(r->lines[r->ngot], sizeof(r->lines[0]), "%.*s", (int)line.n,
			    (const char *)line.p);
			e->line = r->lines[r->ngot];
		}
		r->ngot++;
	}
	/* Whatever is buffered is one unfinished line, shorter than max. */
	if (buf_len(in) >= f->max)
		r->bounded = false;
}

/* frame_feed - feeds c->in cut at cut1 and cut2 (0 = no cut), or in chunks of
   `chunk` bytes when chunk > 0. */
static void
frame_feed(const struct frame_case *c, size_t chunk, size_t cut1, size_t cut2)
{
	struct line_framer f = { .max = c->max != 0 ? c->max : 64 };
	struct frame_run r = { .bounded = true };
	struct buf in;
	size_t off = 0, i;
	char what[200], esc[80];

	buf_init(&in, 0, 1 << 16);
	while (off < c->inlen) {
		size_t end = c->inlen;

		if (chunk > 0)
			end = MIN(off + chunk, c->inlen);
		else if (cut1 > off)
			end = cut1;
		else if (cut2 > off)
			end = cut2;
		CHECK(buf_append(&in, c->in + off, end - off) == 0);
		off = end;
		drain(&f, &in, &r);
	}
	snprintf(what, sizeof(what), "frame case \"%s\" chunk=%zu cuts=%zu,%zu",
	    t_show_bytes(esc, sizeof(esc), c->in, c->inlen), chunk, cut1, cut2);
	for (i = 0; i < MAXEV && (c->ev[i].rc != LINE_MORE || i < r.ngot); i++) {
		const struct ev *w = &c->ev[i], *g = &r.got[i];
		bool same = i < r.ngot && g->rc == w->rc && g->err == w->err &&
		    (w->line == NULL) == (g->line == NULL) &&
		    (w->line == NULL || strcmp(w->line, g->line) == 0);

		if (!same)
			t_fail(__FILE__, __LINE__, what);
	}
	if (buf_len(&in) != c->left || !r.bounded)
		t_fail(__FILE__, __LINE__, what);
	buf_deinit(&in);
}

static void
test_framer_table(void)
{
	for (size_t i = 0; i < nitems(frame_cases); i++) {
		const struct frame_case *c = &frame_cases[i];

		frame_feed(c, 0, 0, 0);
		frame_feed(c, 1, 0, 0);
		for (size_t a = 1; a < c->inlen; a++)
			for (size_t b = a; b < c->inlen; b++)
				frame_feed(c, 0, a, b);
	}
}

/* After a purge of the input (STARTTLS) the framer must not read stale
   positions, even if the caller forgot to reset it. */
static void
test_framer_purge(void)
{
	struct line_framer f = { .max = 64 };
	struct buf in;
	struct span line;

	buf_init(&in, 0, 1024);
	buf_append_str(&in, "STARTTLS junk without end");
	CHECK_INT(line_next(&f, &in, &line), LINE_MORE);
	buf_clear(&in);
	buf_append_str(&in, "EHLO\r\n");
	CHECK_INT(line_next(&f, &in, &line), LINE_OK);
	CHECK_SPAN(line, "EHLO");
	CHECK_INT(buf_len(&in), 0);
	buf_deinit(&in);
}

static const struct tok_case {
	const char *line;
	int rc;
	const char *verb, *params;
} tok_cases[] = {
	{ "EHLO a.example", 1, "EHLO", "a.example" },
	{ "QUIT", 1, "QUIT", "" },
	{ "QUIT   ", 1, "QUIT", "" },
	{ "quit", 1, "quit", "" },
	{ "MAIL FROM:<a@b> SIZE=10  ", 1, "MAIL", "FROM:<a@b> SIZE=10" },
	{ "MAIL  FROM:<a@b>", 1, "MAIL", " FROM:<a@b>" },
	{ "ABCDEFGHIJKLMNOP x", 1, "ABCDEFGHIJKLMNOP", "x" },
	{ "ABCDEFGHIJKLMNOPQ x", .rc = -1 },
	{ "", .rc = -1 },
	{ " EHLO", .rc = -1 },
	{ "EHLO\tx", .rc = -1 },
	{ "MAIL:x", .rc = -1 },
	{ "X-FOO", .rc = -1 },
	{ "EHL0 x", .rc = -1 },
	{ "\xc3\xa9HLO", .rc = -1 },
};

static void
test_tokenize(void)
{
	for (size_t i = 0; i < nitems(tok_cases); i++) {
		const struct tok_case *c = &tok_cases[i];
		size_t n = strlen(c->line);
		uint8_t *p = malloc(n + 1); /* exact size for ASan; +1 for n == 0 */
		struct smtp_args a;
		int rc;

		memcpy(p, c->line, n);
		rc = smtp_tokenize((struct span){ p, n }, &a);
		CHECK_INT(rc, c->rc);
		if (rc == 1 && c->rc == 1) {
			CHECK_SPAN(a.verb, c->verb);
			CHECK_SPAN(a.params, c->params);
		}
		free(p);
	}
}

#define ENVID101                                                                                   \
	"0123456789012345678901234567890123456789012345678901234567890123456789"               \
	"0123456789012345678901234567890"

static const struct path_case {
	bool rcpt;
	const char *in;
	enum smtp_parse_rc rc;
	const char *path;
	const char *err;
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool utf8;
	const char *auth, *ret, *envid, *notify, *orcpt;
} path_cases[] = {
	{ false, "FROM:<a@b>", SMTP_PARSE_OK, .path = "a@b" },
	{ false, "from:<a@b>", SMTP_PARSE_OK, .path = "a@b" },
	{ false, "FROM: <a@b>", SMTP_PARSE_OK, .path = "a@b" },
	{ false, "FROM:<>", SMTP_PARSE_OK, .path = "" },
	{ false, "FROM:<> SIZE=0", SMTP_PARSE_OK, .path = "", .has_size = true, .size = 0 },
	{ false, "FROM:<a@b> SIZE=10 BODY=8BITMIME", SMTP_PARSE_OK, .path = "a@b", .has_size = true,
	    .size = 10, .body = SMTP_BODY_8BITMIME },
	{ false, "FROM:<a@b>   SIZE=1   body=7bit", SMTP_PARSE_OK, .path = "a@b", .has_size = true,
	    .size = 1, .body = SMTP_BODY_7BIT },
	{ false, "FROM:<a@b> BODY=BINARYMIME", SMTP_PARSE_OK, .path = "a@b",
	    .body = SMTP_BODY_BINARYMIME },
	{ false, "FROM:<a@b> SIZE=18446744073709551615", SMTP_PARSE_OK, .path = "a@b",
	    .has_size = true, .size = UINT64_MAX },
	{ false, "FROM:<u@x> SMTPUTF8", SMTP_PARSE_OK, .path = "u@x", .utf8 = true },
	{ false, "FROM:<a@b> AUTH=<> RET=HDRS ENVID=QQ+2B123", SMTP_PARSE_OK, .path = "a@b",
	    .auth = "<>", .ret = "HDRS", .envid = "QQ+2B123" },
	{ false, "FROM:<@a,@b.example:u@d>", SMTP_PARSE_OK, .path = "u@d" },
	{ false, "FROM:<@a:u@d> SIZE=5", SMTP_PARSE_OK, .path = "u@d", .has_size = true,
	    .size = 5 },
	{ false, "FROM:<\"a>b\"@c>", SMTP_PARSE_OK, .path = "\"a>b\"@c" },
	{ false, "FROM:<\"a\\\"> x\"@c>", SMTP_PARSE_OK, .path = "\"a\\\"> x\"@c" },
	/* The path is only delimited here; addr_parse_mailbox() judges it. */
	{ false, "FROM:<not an address>", SMTP_PARSE_OK, .path = "not an address" },
	{ false, "FROM:  <a@b>", SMTP_PARSE_SYNTAX, .err = "address must be in <>" },
	{ false, "FROM:a@b", SMTP_PARSE_SYNTAX, .err = "address must be in <>" },
	{ false, "FROM:", SMTP_PARSE_SYNTAX, .err = "address must be in <>" },
	{ false, "FROM:<a@b", SMTP_PARSE_SYNTAX, .err = "missing > after address" },
	{ false, "FROM:<\"a>@b", SMTP_PARSE_SYNTAX, .err = "missing > after address" },
	{ false, "FROM <a@b>", SMTP_PARSE_SYNTAX, .err = "expected FROM:<address>" },
	{ false, "TO:<a@b>", SMTP_PARSE_SYNTAX, .err = "expected FROM:<address>" },
	{ false, "", SMTP_PARSE_SYNTAX, .err = "expected FROM:<address>" },
	{ false, "FROM:<a@b>SIZE=1", SMTP_PARSE_SYNTAX, .err = "garbage after address" },
	{ false, "FROM:<@a,b:u@d>", SMTP_PARSE_SYNTAX, .err = "bad source route" },
	{ false, "FROM:<@a:>", SMTP_PARSE_SYNTAX, .err = "bad source route" },
	{ false, "FROM:<@:u@d>", SMTP_PARSE_SYNTAX, .err = "bad source route" },
	{ false, "FROM:<@a u@d>", SMTP_PARSE_SYNTAX, .err = "bad source route" },
	{ false, "FROM:<a@b> SIZE=10 SIZE=11", SMTP_PARSE_PARAM, .err = "duplicate parameter" },
	{ false, "FROM:<a@b> size=10 SIZE=10", SMTP_PARSE_PARAM, .err = "duplicate parameter" },
	{ false, "FROM:<a@b> SMTPUTF8 smtputf8", SMTP_PARSE_PARAM, .err = "duplicate parameter" },
	{ false, "FROM:<a@b> SIZE=18446744073709551616", SMTP_PARSE_PARAM,
	    .err = "bad SIZE value" },
	{ false, "FROM:<a@b> SIZE=000000000000000000001", SMTP_PARSE_PARAM,
	    .err = "bad SIZE value" },
	{ false, "FROM:<a@b> SIZE=-1", SMTP_PARSE_PARAM, .err = "bad SIZE value" },
	{ false, "FROM:<a@b> SIZE=1x", SMTP_PARSE_PARAM, .err = "bad SIZE value" },
	{ false, "FROM:<a@b> SIZE=", SMTP_PARSE_PARAM, .err = "bad parameter value" },
	{ false, "FROM:<a@b> SIZE", SMTP_PARSE_PARAM, .err = "parameter needs a value" },
	{ false, "FROM:<a@b> BODY=8BIT", SMTP_PARSE_PARAM, .err = "bad BODY value" },
	{ false, "FROM:<a@b> SMTPUTF8=yes", SMTP_PARSE_PARAM, .err = "SMTPUTF8 takes no value" },
	{ false, "FROM:<a@b> RET=FOO", SMTP_PARSE_PARAM, .err = "bad RET value" },
	{ false, "FROM:<a@b> ENVID=" ENVID101, SMTP_PARSE_PARAM, .err = "ENVID too long" },
	{ false, "FROM:<a@b> AUTH=a=b", SMTP_PARSE_PARAM, .err = "bad parameter value" },
	{ false, "FROM:<a@b> AUTH=a\x01", SMTP_PARSE_PARAM, .err = "bad parameter value" },
	{ false, "FROM:<a@b> XFOO=1", SMTP_PARSE_PARAM, .err = "unsupported parameter" },
	{ false, "FROM:<a@b> =1", SMTP_PARSE_PARAM, .err = "unsupported parameter" },
	{ false, "FROM:<a@b> NOTIFY=NEVER", SMTP_PARSE_PARAM, .err = "unsupported parameter" },
	{ true, "TO:<x@y>", SMTP_PARSE_OK, .path = "x@y" },
	{ true, "To: <x@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y", SMTP_PARSE_OK, .path = "x@y",
	    .notify = "SUCCESS,FAILURE", .orcpt = "rfc822;x@y" },
	{ true, "TO:<x@y> NOTIFY=never", SMTP_PARSE_OK, .path = "x@y", .notify = "never" },
	{ true, "TO:<x@y> NOTIFY=DELAY,SUCCESS,FAILURE", SMTP_PARSE_OK, .path = "x@y",
	    .notify = "DELAY,SUCCESS,FAILURE" },
	{ true, "TO:<Postmaster>", SMTP_PARSE_OK, .path = "Postmaster" },
	{ true, "TO:<>", SMTP_PARSE_OK, .path = "" },
	{ true, "TO:<@a,@b:u@d>", SMTP_PARSE_OK, .path = "u@d" },
	{ true, "TO:x@y", SMTP_PARSE_SYNTAX, .err = "address must be in <>" },
	{ true, "FROM:<x@y>", SMTP_PARSE_SYNTAX, .err = "expected TO:<address>" },
	{ true, "TO:<x@y> NOTIFY=NEVER,SUCCESS", SMTP_PARSE_PARAM, .err = "bad NOTIFY value" },
	{ true, "TO:<x@y> NOTIFY=SUCCESS,NEVER", SMTP_PARSE_PARAM, .err = "bad NOTIFY value" },
	{ true, "TO:<x@y> NOTIFY=SUCCESS,SUCCESS", SMTP_PARSE_PARAM, .err = "bad NOTIFY value" },
	{ true, "TO:<x@y> NOTIFY=SUCCESS,", SMTP_PARSE_PARAM, .err = "bad NOTIFY value" },
	{ true, "TO:<x@y> NOTIFY=SOMETIMES", SMTP_PARSE_PARAM, .err = "bad NOTIFY value" },
	{ true, "TO:<x@y> ORCPT=rfc822", SMTP_PARSE_PARAM, .err = "bad ORCPT value" },
	{ true, "TO:<x@y> ORCPT=;x@y", SMTP_PARSE_PARAM, .err = "bad ORCPT value" },
	{ true, "TO:<x@y> ORCPT=rfc822;", SMTP_PARSE_PARAM, .err = "bad ORCPT value" },
	{ true, "TO:<x@y> ORCPT=a;b ORCPT=a;b", SMTP_PARSE_PARAM, .err = "duplicate parameter" },
	{ true, "TO:<x@y> SIZE=10", SMTP_PARSE_PARAM, .err = "unsupported parameter" },
};

static void
check_opt_span(struct span got, const char *want)
{
	CHECK_SPAN(got, want != NULL ? want : "");
}

static void
check_path_result(const struct path_case *c, enum smtp_parse_rc rc,
    const struct smtp_path_args *pa, const char *err)
{
	CHECK_INT(rc, c->rc);
	if (rc != c->rc) {
		t_fail(__FILE__, __LINE__, c->in);
		return;
	}
	if (rc != SMTP_PARSE_OK) {
		CHECK_STR(err, c->err);
		return;
	}
	CHECK_SPAN(pa->path, c->path);
	CHECK_INT(pa->has_size, c->has_size);
	CHECK(pa->size == c->size);
	CHECK_INT(pa->body, c->body);
	CHECK_INT(pa->smtputf8, c->utf8);
	check_opt_span(pa->auth, c->auth);
	check_opt_span(pa->ret, c->ret);
	check_opt_span(pa->envid, c->envid);
	check_opt_span(pa->notify, c->notify);
	check_opt_span(pa->orcpt, c->orcpt);
}

static enum smtp_parse_rc
parse_path_args(bool rcpt, struct span params, struct smtp_path_args *pa, const char **err)
{
	*err = NULL;
	return rcpt ? smtp_parse_rcpt(params, pa, err) : smtp_parse_mail(params, pa, err);
}

/* path_framed - the full command line "MAIL <params>\r\n" through the framer
   byte by byte, then the tokenizer and the parser. */
static void
path_framed(const struct path_case *c)
{
	struct line_framer f = { .max = 512 };
	struct smtp_path_args pa;
	struct smtp_args a;
	struct span line;
	struct buf in;
	char cmd[512];
	const char *err;
	enum line_rc lrc = LINE_MORE;
	int n = snprintf(cmd, sizeof(cmd), "%s %s\r\n", c->rcpt ? "RCPT" : "MAIL", c->in);

	buf_init(&in, 0, 1024);
	for (int i = 0; i < n && lrc == LINE_MORE; i++) {
		buf_append(&in, cmd + i, 1);
		lrc = line_next(&f, &in, &line);
	}
	CHECK_INT(lrc, LINE_OK);
	if (lrc == LINE_OK && smtp_tokenize(line, &a) == 1) {
		enum smtp_parse_rc rc = parse_path_args(c->rcpt, a.params, &pa, &err);

		CHECK_SPAN(a.verb, c->rcpt ? "RCPT" : "MAIL");
		check_path_result(c, rc, &pa, err);
	} else {
		t_fail(__FILE__, __LINE__, c->in);
	}
	buf_deinit(&in);
}

static void
test_path_table(void)
{
	for (size_t i = 0; i < nitems(path_cases); i++) {
		const struct path_case *c = &path_cases[i];
		size_t n = strlen(c->in);
		uint8_t *p = malloc(n + 1);
		struct smtp_path_args pa;
		const char *err;
		enum smtp_parse_rc rc;

		memcpy(p, c->in, n);
		rc = parse_path_args(c->rcpt, (struct span){ p, n }, &pa, &err);
		check_path_result(c, rc, &pa, err);
		free(p);
		path_framed(c);
	}
}

/* Every prefix of every case parses without reading past its end. */
static void
test_path_prefixes(void)
{
	for (size_t i = 0; i < nitems(path_cases); i++) {
		const char *s = path_cases[i].in;

		for (size_t n = 0; n <= strlen(s); n++) {
			uint8_t *p = malloc(n + 1);
			struct smtp_path_args pa;
			const char *err;

			memcpy(p, s, n);
			(void)parse_path_args(false, (struct span){ p, n }, &pa, &err);
			(void)parse_path_args(true, (struct span){ p, n }, &pa, &err);
			free(p);
		}
	}
}

static const struct bdat_case {
	const char *in;
	int rc;
	uint64_t size;
	bool last;
} bdat_cases[] = {
	{ "10", 1, 10, false },
	{ "10 LAST", 1, 10, true },
	{ "10 last", 1, 10, true },
	{ "0 LAST", 1, 0, true },
	{ "0", 1, 0, false },
	{ "18446744073709551615", 1, UINT64_MAX, false },
	{ "18446744073709551616", .rc = -1 },
	{ "000000000000000000001", .rc = -1 },
	{ "", .rc = -1 },
	{ "LAST", .rc = -1 },
	{ " 10", .rc = -1 },
	{ "10 LASTX", .rc = -1 },
	{ "10 LAST X", .rc = -1 },
	{ "10 X", .rc = -1 },
	{ "-1", .rc = -1 },
	{ "+1", .rc = -1 },
	{ "1 2", .rc = -1 },
	{ "0x10", .rc = -1 },
};

static void
test_bdat(void)
{
	for (size_t i = 0; i < nitems(bdat_cases); i++) {
		const struct bdat_case *c = &bdat_cases[i];
		size_t n = strlen(c->in);
		uint8_t *p = malloc(n + 1);
		uint64_t size = 12345;
		bool last = false;
		const char *err = NULL;
		int rc;

		memcpy(p, c->in, n);
		rc = smtp_parse_bdat((struct span){ p, n }, &size, &last, &err);
		CHECK_INT(rc, c->rc);
		if (rc == 1) {
			CHECK(size == c->size);
			CHECK_INT(last, c->last);
		} else {
			CHECK(err != NULL);
		}
		free(p);
	}
}

static const struct t_test tests[] = {
	T(test_framer_table),
	T(test_framer_purge),
	T(test_tokenize),
	T(test_path_table),
	T(test_path_prefixes),
	T(test_bdat),
	{ 0 },
};
T_MAIN(tests)
