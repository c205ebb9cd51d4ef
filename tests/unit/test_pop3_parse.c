/*
 * test_pop3_parse.c -- the POP3 command tokenizer and the RETR/TOP
 * byte-stuffing filter (src/pop3/pop3_parse.c).
 *
 * Command cases go through the line framer as the engine uses it (limit
 * POP3_CMD_LINE), fed whole and byte by byte; lines are copied to
 * exact-size heap buffers so that the sanitizers catch any over-read.
 * Stuffing cases are fed whole, byte by byte and split at every position,
 * and must give the same output every way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "harness.h"
#include "pop3/pop3_parse.h"
#include "smtp/smtp_lex.h"

#define LONG_USER                                                                                  \
	"uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" \
	"uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" \
	"uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"

static const struct cmd_case {
	const char *line; /* without CRLF */
	int rc;
	enum pop3_verb verb;
	bool has_msg;
	uint32_t msg, lines;
	const char *arg, *ir;
} cmd_cases[] = {
	{ .line = "CAPA", .rc = 1, .verb = POP3_CAPA },
	{ .line = "capa", .rc = 1, .verb = POP3_CAPA },
	{ .line = "CAPA ", .rc = 1, .verb = POP3_CAPA },
	{ .line = "CAPA x", .rc = -1 },
	{ .line = "STLS", .rc = 1, .verb = POP3_STLS },
	{ .line = "USER alice@example.test", .rc = 1, .verb = POP3_USER, .arg = "alice@example.test" },
	{ .line = "user alice  ", .rc = 1, .verb = POP3_USER, .arg = "alice" },
	{ .line = "USER", .rc = -1 },
	{ .line = "USER ", .rc = -1 },
	{ .line = "PASS secret with spaces ", .rc = 1, .verb = POP3_PASS, .arg = "secret with spaces " },
	{ .line = "PASS \xc3\xa9t\xc3\xa9", .rc = 1, .verb = POP3_PASS, .arg = "\xc3\xa9t\xc3\xa9" },
	{ .line = "PASS", .rc = -1 },
	{ .line = "PASS a\tb", .rc = -1 },
	{ .line = "AUTH", .rc = 1, .verb = POP3_AUTH, .arg = "", .ir = "" },
	{ .line = "AUTH PLAIN", .rc = 1, .verb = POP3_AUTH, .arg = "PLAIN", .ir = "" },
	{ .line = "AUTH PLAIN AGFsaWNlAHNlY3JldA==", .rc = 1, .verb = POP3_AUTH, .arg = "PLAIN",
	    .ir = "AGFsaWNlAHNlY3JldA==" },
	{ .line = "AUTH PLAIN =", .rc = 1, .verb = POP3_AUTH, .arg = "PLAIN", .ir = "=" },
	{ .line = "AUTH PLAIN a b", .rc = -1 },
	{ .line = "STAT", .rc = 1, .verb = POP3_STAT },
	{ .line = "LIST", .rc = 1, .verb = POP3_LIST },
	{ .line = "LIST 1", .rc = 1, .verb = POP3_LIST, .has_msg = true, .msg = 1 },
	{ .line = "LIST 4294967295", .rc = 1, .verb = POP3_LIST, .has_msg = true, .msg = 4294967295u },
	{ .line = "LIST 4294967296", .rc = -1 },
	{ .line = "LIST 00000000001", .rc = -1 },
	{ .line = "LIST 0", .rc = -1 },
	{ .line = "LIST -1", .rc = -1 },
	{ .line = "LIST 1 2", .rc = -1 },
	{ .line = "LIST x", .rc = -1 },
	{ .line = "UIDL 12", .rc = 1, .verb = POP3_UIDL, .has_msg = true, .msg = 12 },
	{ .line = "UIDL", .rc = 1, .verb = POP3_UIDL },
	{ .line = "RETR 3", .rc = 1, .verb = POP3_RETR, .msg = 3 },
	{ .line = "RETR", .rc = -1 },
	{ .line = "RETR +3", .rc = -1 },
	{ .line = "TOP 1 0", .rc = 1, .verb = POP3_TOP, .msg = 1, .lines = 0 },
	{ .line = "top 2 10", .rc = 1, .verb = POP3_TOP, .msg = 2, .lines = 10 },
	{ .line = "TOP 1", .rc = -1 },
	{ .line = "TOP 1 ", .rc = -1 },
	{ .line = "TOP 1 2 3", .rc = -1 },
	{ .line = "TOP  1 2", .rc = -1 },
	{ .line = "DELE 1", .rc = 1, .verb = POP3_DELE, .msg = 1 },
	{ .line = "DELE", .rc = -1 },
	{ .line = "RSET", .rc = 1, .verb = POP3_RSET },
	{ .line = "NOOP", .rc = 1, .verb = POP3_NOOP },
	{ .line = "QUIT", .rc = 1, .verb = POP3_QUIT },
	{ .line = "QUIT now", .rc = -1 },
	{ .line = "", .rc = -1 },
	{ .line = " QUIT", .rc = -1 },
	{ .line = "QUITX", .rc = -1 },
	{ .line = "APOP a b", .rc = -1 },
	{ .line = "HELO x", .rc = -1 },
	{ .line = "RETR\r1", .rc = -1 },
	{ .line = "NOOP\x7f", .rc = -1 },
	{ .line = "USER " LONG_USER, .rc = 1, .verb = POP3_USER, .arg = LONG_USER },
};

/* frame - push "line\r\n" through the framer in chunks; the line out. */
static enum line_rc
frame(const char *text, size_t chunk, struct buf *in, struct span *line_r)
{
	struct line_framer f = { .max = POP3_CMD_LINE };
	size_t len = strlen(text), off = 0;
	enum line_rc rc = LINE_MORE;
	char *wire = malloc(len + 3);

	memcpy(wire, text, len);
	memcpy(wire + len, "\r\n", 3);
	while (rc == LINE_MORE && off < len + 2) {
		size_t n = MIN(chunk, len + 2 - off);

		CHECK(buf_append(in, wire + off, n) == 0);
		off += n;
		rc = line_next(&f, in, line_r);
	}
	free(wire);
	return rc;
}

static void
run_cmd_case(const struct cmd_case *c, size_t chunk)
{
	struct buf in;
	struct span line;
	struct pop3_cmd cmd;
	const char *error = NULL;
	char what[400], esc[300];
	enum line_rc frc;
	int rc = -1;

	buf_init(&in, 0, 4096);
	snprintf(what, sizeof(what), "case \"%s\" chunk=%zu",
	    t_show_bytes(esc, sizeof(esc), c->line, strlen(c->line)), chunk);
	frc = frame(c->line, chunk, &in, &line);
	if (frc == LINE_OK) {
		uint8_t *copy = malloc(line.n + 1);

		memcpy(copy, line.p, line.n);
		rc = pop3_parse_cmd((struct span){ copy, line.n }, &cmd, &error);
		if (rc == 1 && c->rc == 1) {
			if (cmd.verb != c->verb || cmd.has_msg != c->has_msg || cmd.msg != c->msg ||
			    cmd.lines != c->lines)
				t_fail(__FILE__, __LINE__, what);
			if (c->arg != NULL)
				CHECK_SPAN(cmd.arg, c->arg);
			if (c->ir != NULL)
				CHECK_SPAN(cmd.ir, c->ir);
		}
		if (rc < 0 && (error == NULL || *error == '\0'))
			t_fail(__FILE__, __LINE__, what);
		free(copy);
	}
	if (rc != c->rc)
		t_fail(__FILE__, __LINE__, what);
	buf_deinit(&in);
}

static void
test_cmd_table(void)
{
	for (size_t i = 0; i < nitems(cmd_cases); i++) {
		run_cmd_case(&cmd_cases[i], SIZE_MAX);
		run_cmd_case(&cmd_cases[i], 1);
	}
}

/* RFC 2449 4: 255 octets with CRLF pass, 256 do not (and the next line
   is read normally). */
static void
test_cmd_line_limit(void)
{
	struct line_framer f = { .max = POP3_CMD_LINE };
	char ok[POP3_CMD_LINE + 1], bad[POP3_CMD_LINE + 2];
	struct span line;
	struct buf in;

	memset(ok, 'a', sizeof(ok));
	memcpy(ok, "USER ", 5);
	memcpy(ok + POP3_CMD_LINE - 2, "\r\n", 2);
	memset(bad, 'a', sizeof(bad));
	memcpy(bad, "USER ", 5);
	memcpy(bad + POP3_CMD_LINE - 1, "\r\n", 2);
	buf_init(&in, 0, 4096);
	buf_append(&in, ok, POP3_CMD_LINE);
	CHECK_INT(line_next(&f, &in, &line), LINE_OK);
	CHECK_INT(line.n, POP3_CMD_LINE - 2);
	for (size_t i = 0; i < POP3_CMD_LINE + 1; i++) {
		buf_append(&in, bad + i, 1);
		CHECK(line_next(&f, &in, &line) == (i == POP3_CMD_LINE ? LINE_ERR : LINE_MORE));
	}
	CHECK_INT(f.err, LE_TOO_LONG);
	buf_append_str(&in, "QUIT\r\n");
	CHECK_INT(line_next(&f, &in, &line), LINE_OK);
	CHECK_SPAN(line, "QUIT");
	buf_deinit(&in);
}

#define SIN(lit) .in = (lit), .inlen = sizeof(lit) - 1

static const struct stuff_case {
	const char *in;
	size_t inlen;
	bool top;
	uint64_t lines;
	const char *out; /* with the terminator */
} stuff_cases[] = {
	{ SIN("A: b\r\n\r\nbody\r\n"), .out = "A: b\r\n\r\nbody\r\n.\r\n" },
	{ SIN(""), .out = ".\r\n" },
	{ SIN(".\r\n"), .out = "..\r\n.\r\n" },
	{ SIN("A: b\r\n\r\n.\r\n..x\r\n.\r\nend"),
	    .out = "A: b\r\n\r\n..\r\n...x\r\n..\r\nend\r\n.\r\n" },
	{ SIN("x\ny.\n.z\n"), .out = "x\ny.\n..z\n.\r\n" },
	{ SIN("no newline at end"), .out = "no newline at end\r\n.\r\n" },
	{ SIN("ends in CR\r"), .out = "ends in CR\r\n.\r\n" },
	{ SIN("a.b\r\n"), .out = "a.b\r\n.\r\n" },
	/* TOP: header, the empty line, n body lines. */
	{ SIN("A: b\r\nC: d\r\n\r\n1\r\n2\r\n3\r\n"), .top = true, .lines = 0,
	    .out = "A: b\r\nC: d\r\n\r\n.\r\n" },
	{ SIN("A: b\r\nC: d\r\n\r\n1\r\n2\r\n3\r\n"), .top = true, .lines = 2,
	    .out = "A: b\r\nC: d\r\n\r\n1\r\n2\r\n.\r\n" },
	{ SIN("A: b\r\n\r\n1\r\n.2\r\n3\r\n"), .top = true, .lines = 99,
	    .out = "A: b\r\n\r\n1\r\n..2\r\n3\r\n.\r\n" },
	{ SIN("A: b\r\n\r\n1\r\n2"), .top = true, .lines = 2, .out = "A: b\r\n\r\n1\r\n2\r\n.\r\n" },
	{ SIN("A: b\n\n1\n2\n"), .top = true, .lines = 1, .out = "A: b\n\n1\n.\r\n" },
	/* A lone CR line is an empty line; "\r\r\n" is not. */
	{ SIN("A: b\r\n\r\r\nX\r\n\r\nY\r\n"), .top = true, .lines = 0,
	    .out = "A: b\r\n\r\r\nX\r\n\r\n.\r\n" },
	{ SIN("only header\r\n"), .top = true, .lines = 5, .out = "only header\r\n.\r\n" },
	{ SIN("\r\nbody\r\n"), .top = true, .lines = 0, .out = "\r\n.\r\n" },
};

/* run_stuff - filter c->in cut at the given points (sorted, 0 = none) or
   in chunks of `chunk` bytes; compare with c->out. */
static void
run_stuff(const struct stuff_case *c, size_t chunk, size_t cut1, size_t cut2)
{
	struct pop3_stuff st;
	struct buf out;
	uint8_t tmp[POP3_STUFF_OUT(64) + 8];
	size_t off = 0, n;
	char what[300], esc[200];

	buf_init(&out, 0, 1 << 16);
	pop3_stuff_init(&st, c->top, c->lines);
	while (off < c->inlen) {
		size_t end = c->inlen;

		if (chunk > 0)
			end = MIN(off + chunk, c->inlen);
		else if (cut1 > off)
			end = cut1;
		else if (cut2 > off)
			end = cut2;
		end = MIN(end, off + 64);
		n = pop3_stuff_run(&st, (const uint8_t *)c->in + off, end - off, tmp);
		CHECK(n <= POP3_STUFF_OUT(end - off));
		buf_append(&out, tmp, n);
		off = end;
	}
	n = pop3_stuff_finish(&st, tmp);
	CHECK(n <= 5);
	buf_append(&out, tmp, n);
	snprintf(what, sizeof(what), "stuff case \"%s\" top=%d/%llu chunk=%zu cuts=%zu,%zu",
	    t_show_bytes(esc, sizeof(esc), c->in, c->inlen), c->top, (unsigned long long)c->lines,
	    chunk, cut1, cut2);
	if (buf_len(&out) != strlen(c->out) ||
	    memcmp(buf_peek(&out).p, c->out, strlen(c->out)) != 0)
		t_fail(__FILE__, __LINE__, what);
	buf_deinit(&out);
}

static void
test_stuff_table(void)
{
	for (size_t i = 0; i < nitems(stuff_cases); i++) {
		const struct stuff_case *c = &stuff_cases[i];

		run_stuff(c, 0, 0, 0);
		run_stuff(c, 1, 0, 0);
		for (size_t a = 1; a < c->inlen; a++)
			for (size_t b = a; b < c->inlen; b++)
				run_stuff(c, 0, a, b);
	}
}

/* Once TOP has its lines, the filter takes no more bytes. */
static void
test_stuff_done(void)
{
	struct pop3_stuff st;
	uint8_t out[64];

	pop3_stuff_init(&st, true, 1);
	CHECK_INT(pop3_stuff_run(&st, (const uint8_t *)"H: v\r\n\r\nl1\r\n", 12, out), 12);
	CHECK(st.done);
	CHECK_INT(pop3_stuff_run(&st, (const uint8_t *)"l2\r\n", 4, out), 0);
	CHECK_INT(pop3_stuff_finish(&st, out), 3);
}

static const struct t_test tests[] = {
	T(test_cmd_table),
	T(test_cmd_line_limit),
	T(test_stuff_table),
	T(test_stuff_done),
	{ 0 },
};

T_MAIN(tests)
