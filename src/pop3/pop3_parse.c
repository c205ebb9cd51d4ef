/*
 * pop3_parse.c -- POP3 command tokenizing and RETR/TOP byte-stuffing.
 *
 * Input is untrusted network data (commands) or message files (stuffing).
 * No I/O, no logging, no allocation, no global state.
 * Limits: see pop3_parse.h. Standards: RFC 1939, 2449, 2595, 5034.
 * Security: remote-facing, reached before authentication; fuzzed by
 * tests/fuzz/fuzz_pop3_parse.c.
 */
#include <string.h>

#include "pop3/pop3_parse.h"

/* 4294967295 has 10 digits. */
#define U32_DIGITS_MAX 10

/* Argument shapes. */
enum pop3_args {
	PA_NONE,     /* no argument */
	PA_TEXT,     /* the rest of the line, not empty (USER, PASS) */
	PA_MSG,	     /* one message number */
	PA_OPT_MSG,  /* an optional message number */
	PA_MSG_N,    /* message number and line count (TOP) */
	PA_AUTH,     /* [mechanism [initial-response]] */
};

static const struct pop3_kw {
	const char *kw;
	enum pop3_verb verb;
	enum pop3_args args;
} pop3_kws[] = {
	{ "CAPA", POP3_CAPA, PA_NONE },	  { "USER", POP3_USER, PA_TEXT },
	{ "PASS", POP3_PASS, PA_TEXT },	  { "AUTH", POP3_AUTH, PA_AUTH },
	{ "STLS", POP3_STLS, PA_NONE },	  { "STAT", POP3_STAT, PA_NONE },
	{ "LIST", POP3_LIST, PA_OPT_MSG }, { "UIDL", POP3_UIDL, PA_OPT_MSG },
	{ "RETR", POP3_RETR, PA_MSG },	  { "TOP", POP3_TOP, PA_MSG_N },
	{ "DELE", POP3_DELE, PA_MSG },	  { "RSET", POP3_RSET, PA_NONE },
	{ "NOOP", POP3_NOOP, PA_NONE },	  { "QUIT", POP3_QUIT, PA_NONE },
};

static bool
is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

static struct span
span_from(struct span s, size_t off)
{
	return (struct span){ s.p + off, s.n - off };
}

/* trim_right - drop trailing spaces (some clients send "LIST "). */
static struct span
trim_right(struct span s)
{
	while (s.n > 0 && s.p[s.n - 1] == ' ')
		s.n--;
	return s;
}

/* parse_u32 - 1..10 digits, no sign, no overflow. */
static bool
parse_u32(struct span s, uint32_t *v_r)
{
	uint64_t v = 0;

	if (s.n == 0 || s.n > U32_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*v_r = (uint32_t)v;
	return true;
}

/* split_word - the word before the first space, and what follows it. */
static struct span
split_word(struct span s, struct span *rest_r)
{
	const uint8_t *sp = s.n > 0 ? memchr(s.p, ' ', s.n) : NULL;

	if (sp == NULL) {
		*rest_r = SPAN_NULL;
		return s;
	}
	*rest_r = span_from(s, (size_t)(sp - s.p) + 1);
	return (struct span){ s.p, (size_t)(sp - s.p) };
}

/* parse_msg - a message number; 0 is no message (RFC 1939 5: from 1). */
static int
parse_msg(struct span s, uint32_t *msg_r, const char **error_r)
{
	if (!parse_u32(s, msg_r) || *msg_r == 0) {
		*error_r = "Invalid message number";
		return -1;
	}
	return 1;
}

static int
parse_args(const struct pop3_kw *kw, struct span args, struct pop3_cmd *c, const char **error_r)
{
	struct span a1, a2;

	switch (kw->args) {
	case PA_NONE:
		if (trim_right(args).n != 0) {
			*error_r = "Too many arguments";
			return -1;
		}
		return 1;
	case PA_TEXT:
		/* RFC 1939 7 (PASS): spaces may be part of the password. */
		c->arg = kw->verb == POP3_PASS ? args : trim_right(args);
		if (c->arg.n == 0) {
			*error_r = "Missing argument";
			return -1;
		}
		return 1;
	case PA_OPT_MSG:
		args = trim_right(args);
		if (args.n == 0)
			return 1;
		c->has_msg = true;
		return parse_msg(args, &c->msg, error_r);
	case PA_MSG:
		return parse_msg(trim_right(args), &c->msg, error_r);
	case PA_MSG_N:
		a1 = split_word(trim_right(args), &a2);
		if (parse_msg(a1, &c->msg, error_r) < 0)
			return -1;
		if (!parse_u32(a2, &c->lines)) {
			*error_r = "Invalid line count";
			return -1;
		}
		return 1;
	case PA_AUTH:
		c->arg = split_word(trim_right(args), &c->ir);
		if (c->ir.n > 0 && memchr(c->ir.p, ' ', c->ir.n) != NULL) {
			*error_r = "Too many arguments";
			return -1;
		}
		return 1;
	}
	*error_r = "Unknown command";
	return -1;
}

int
pop3_parse_cmd(struct span line, struct pop3_cmd *c, const char **error_r)
{
	struct span verb, args;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < line.n; i++) {
		if (is_ctl(line.p[i])) {
			*error_r = "Control character in command";
			return -1;
		}
	}
	verb = split_word(line, &args);
	if (verb.n == 0) {
		*error_r = "Empty command";
		return -1;
	}
	for (size_t i = 0; i < nitems(pop3_kws); i++) {
		if (span_eq_ci(verb, pop3_kws[i].kw)) {
			c->verb = pop3_kws[i].verb;
			return parse_args(&pop3_kws[i], args, c, error_r);
		}
	}
	*error_r = "Unknown command";
	return -1;
}

void
pop3_stuff_init(struct pop3_stuff *st, bool top, uint64_t lines)
{
	*st = (struct pop3_stuff){ .top = top, .left = lines, .bol = true };
	/* TOP 0 still sends the header and the empty line after it. */
}

/* stuff_eol - a line ended (at LF): count it for TOP. */
static void
stuff_eol(struct pop3_stuff *st)
{
	bool empty = st->col == 0 || (st->col == 1 && st->prev_cr);

	if (!st->top)
		return;
	if (!st->in_body) {
		if (empty) {
			st->in_body = true;
			st->done = st->left == 0;
		}
		return;
	}
	if (--st->left == 0)
		st->done = true;
}

size_t
pop3_stuff_run(struct pop3_stuff *st, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0;

	/* UNSAFE: writes up to 2n bytes; the caller sized out with
	   POP3_STUFF_OUT(n). o <= 2i holds at the top of every iteration. */
	for (size_t i = 0; i < n && !st->done; i++) {
		uint8_t b = in[i];

		if (st->bol && b == '.')
			out[o++] = '.';
		out[o++] = b;
		if (b == '\n') {
			stuff_eol(st);
			st->bol = true;
			st->col = 0;
		} else {
			st->bol = false;
			st->col++;
		}
		st->prev_cr = b == '\r';
	}
	return o;
}

size_t
pop3_stuff_finish(const struct pop3_stuff *st, uint8_t *out)
{
	size_t o = 0;

	/* The terminating "." must start a line of its own. */
	if (!st->bol) {
		if (!st->prev_cr)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}
