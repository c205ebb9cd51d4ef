/*
 * imap_parse.c -- IMAP command framing (resumable, bounded) and tokenizing.
 *
 * The framer copies the command's line text into p->text (CRLFs kept) and
 * each literal's bytes into a buffer of its own, tracking quoted strings so
 * that a "{5}" inside quotes is not taken for a literal. A line-level fault
 * (bare LF, NUL, unterminated quote) is sticky: the rest of the command,
 * non-synchronizing literals included, is still consumed so that the
 * stream stays in step, and one error is reported at its end.
 * The tokenizer then walks the complete text; it takes a literal only where
 * "{n}" CRLF stands, which is exactly where the framer read one.
 * No I/O, no logging. Limits: struct imap_parse_limits.
 * Standards: RFC 9051 section 9, RFC 7888, RFC 3516.
 * Security: remote-facing; fuzzed by tests/fuzz/fuzz_imap_parse.c.
 */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "imap/imap_parse.h"

struct imap_parser {
	struct imap_parse_limits lim;
	uint64_t literal_max;

	/* framer */
	struct buf text;     /* the command's lines, CRLFs included */
	size_t line_start;   /* offset of the current line in text */
	bool quoted, escape; /* inside a quoted string, after a backslash */
	bool nul;	     /* the current line holds a NUL */
	uint64_t total;	     /* bytes of the command, literals included */
	struct buf *lits;    /* literal contents, NUL-terminated when complete */
	size_t nlits, alits;
	uint64_t lit_left; /* bytes of the current literal still to come */
	bool in_literal;
	uint64_t lit_size;  /* last announced literal */
	const char *failed; /* sticky fault of this command */
	bool done;	    /* a command or error was returned: reset first */
	char tag[IMAP_TAG_MAX + 1];
	char name[IMAP_NAME_MAX + 1];

	/* error of the last IMAP_PARSE_ERROR */
	const char *error;
	bool fatal;

	/* tokenizer output, freed at the next command */
	struct imap_cmd cmd;
	void **allocs;
	size_t nallocs, aallocs;

	/* raw lines */
	struct buf line;
	bool line_skip;
	bool line_ready; /* the last line returned is still in `line` */
};

struct imap_parser *
imap_parser_new(const struct imap_parse_limits *lim)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	p->lim = *lim;
	if (p->lim.line_max < 64)
		p->lim.line_max = 64;
	if (p->lim.cmd_max < p->lim.line_max)
		p->lim.cmd_max = p->lim.line_max;
	p->literal_max = p->lim.literal_max;
	/* The text never holds more than the command may. */
	buf_init(&p->text, 0, (size_t)MIN(p->lim.cmd_max, (uint64_t)SIZE_MAX / 2));
	buf_init(&p->line, 0, p->lim.line_max);
	strcpy(p->tag, "*");
	return p;
}

/* reset_cmd - forget the command being read and its tree. */
static void
reset_cmd(struct imap_parser *p)
{
	for (size_t i = 0; i < p->nallocs; i++)
		free(p->allocs[i]);
	p->nallocs = 0;
	for (size_t i = 0; i < p->nlits; i++)
		buf_deinit(&p->lits[i]);
	p->nlits = 0;
	buf_clear(&p->text);
	p->line_start = 0;
	p->quoted = p->escape = p->nul = false;
	p->total = 0;
	p->lit_left = 0;
	p->in_literal = false;
	p->failed = NULL;
	p->done = false;
	memset(&p->cmd, 0, sizeof(p->cmd));
	strcpy(p->tag, "*");
	p->name[0] = '\0';
}

void
imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	reset_cmd(p);
	free(p->allocs);
	free(p->lits);
	buf_deinit(&p->text);
	buf_deinit_secret(&p->line); /* may have held an AUTHENTICATE response */
	free(p);
	*pp = NULL;
}

const struct imap_cmd *
imap_parser_cmd(const struct imap_parser *p)
{
	return &p->cmd;
}

const char *
imap_parser_error(const struct imap_parser *p, bool *fatal_r)
{
	if (fatal_r != NULL)
		*fatal_r = p->fatal;
	return p->error;
}

const char *
imap_parser_tag(const struct imap_parser *p)
{
	return p->tag;
}

const char *
imap_parser_name(const struct imap_parser *p)
{
	return p->name;
}

uint64_t
imap_parser_literal_size(const struct imap_parser *p)
{
	return p->lit_size;
}

void
imap_parser_set_literal_max(struct imap_parser *p, uint64_t max)
{
	p->literal_max = MIN(max, p->lim.literal_max);
}

bool
imap_parser_idle(const struct imap_parser *p)
{
	return p->done || (buf_len(&p->text) == 0 && !p->in_literal);
}

void
imap_parser_reject_literal(struct imap_parser *p)
{
	reset_cmd(p);
}

/* ---- framer ---- */

static bool
is_tag_char(uint8_t c)
{
	/* ASTRING-CHAR minus "+" (RFC 9051 9, tag). */
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\+", c) == NULL;
}

/* grab_tag_name - remember tag and command name from the first line, for
   replies to errors found before the command is complete. */
static void
grab_tag_name(struct imap_parser *p, const uint8_t *s, size_t n)
{
	size_t i = 0, j;

	while (i < n && i < IMAP_TAG_MAX && is_tag_char(s[i]))
		i++;
	if (i == 0 || i >= n || s[i] != ' ')
		return;
	memcpy(p->tag, s, i);
	p->tag[i] = '\0';
	for (j = i + 1; j < n && j - i - 1 < IMAP_NAME_MAX; j++) {
		uint8_t c = s[j];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.'))
			break;
	}
	memcpy(p->name, s + i + 1, j - i - 1);
	p->name[j - i - 1] = '\0';
}

/*
 * literal_marker - does the line s[0..n) (CRLF removed) end in "{n}",
 * "{n+}" or "~{n}"? Returns 1 with the size and kind, 0 if not, -1 when
 * the number does not fit 64 bits (too large in any case).
 */
static int
literal_marker(const uint8_t *s, size_t n, uint64_t *size_r, bool *sync_r)
{
	size_t end, i;
	uint64_t v = 0;

	if (n < 3 || s[n - 1] != '}')
		return 0;
	end = n - 1;
	*sync_r = true;
	if (s[end - 1] == '+') {
		*sync_r = false;
		end--;
	}
	i = end;
	while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
		i--;
	if (i == end || i == 0 || s[i - 1] != '{')
		return 0;
	for (size_t k = i; k < end; k++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[k] - '0');
	}
	*size_r = v;
	return 1;
}

/* fail - the command is over with an error (the caller returns ERROR). */
static enum imap_parse_rc
fail(struct imap_parser *p, const char *why, bool fatal)
{
	p->error = why;
	p->fatal = fatal;
	p->done = true;
	return IMAP_PARSE_ERROR;
}

static enum imap_parse_rc tokenize(struct imap_parser *p);

/* start_literal - the line announced a literal of `size` bytes. */
static enum imap_parse_rc
start_literal(struct imap_parser *p, uint64_t size, bool sync)
{
	if (size > p->literal_max || p->total + size > p->lim.cmd_max) {
		/* RFC 7888 4: the bytes of a non-synchronizing literal are on
		   their way and cannot be told from commands: end the session. */
		if (!sync)
			return fail(p, "[TOOBIG] Literal too large", true);
		return fail(p, "[TOOBIG] Literal too large", false);
	}
	if (p->nlits >= p->lim.items_max)
		return fail(p, "Too many literals", !sync);
	if (p->failed != NULL && sync)
		return fail(p, p->failed, false); /* never invite bytes we refuse */
	if (p->nlits == p->alits) {
		p->alits = p->alits ? p->alits * 2 : 4;
		p->lits = xrealloc(p->lits, p->alits * sizeof(*p->lits));
	}
	/* Grows as bytes arrive: announcing a size allocates nothing. */
	buf_init(&p->lits[p->nlits++], 0, (size_t)size + 1);
	p->lit_size = size;
	p->lit_left = size;
	p->total += size;
	p->in_literal = true;
	return sync ? IMAP_PARSE_LITERAL : IMAP_PARSE_MORE;
}

/* line_end - a whole line (CRLF included) is at text[line_start..]. */
static enum imap_parse_rc
line_end(struct imap_parser *p)
{
	struct span t = buf_peek(&p->text);
	const uint8_t *s = t.p + p->line_start;
	size_t n = t.n - p->line_start;
	uint64_t size;
	bool sync;
	int m;

	if (p->line_start == 0)
		grab_tag_name(p, s, n);
	if (n < 2 || s[n - 2] != '\r')
		p->failed = p->failed ? p->failed : "Line must end with CRLF";
	else if (p->nul)
		p->failed = p->failed ? p->failed : "NUL in command";
	else if (p->quoted)
		p->failed = p->failed ? p->failed : "Unterminated quoted string";
	p->quoted = p->escape = p->nul = false;
	m = n >= 2 && s[n - 2] == '\r' ? literal_marker(s, n - 2, &size, &sync) : 0;
	if (m < 0)
		return fail(p, "[TOOBIG] Literal too large", s[n - 4] == '+');
	if (m == 1)
		return start_literal(p, size, sync);
	if (p->failed != NULL)
		return fail(p, p->failed, false);
	return tokenize(p);
}

/* scan - track quoting over new line bytes; returns bytes up to and
   including the first LF, or all of them. */
static size_t
scan(struct imap_parser *p, const uint8_t *s, size_t n, bool *eol_r)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c == '\n') {
			*eol_r = true;
			return i + 1;
		}
		if (c == '\0')
			p->nul = true;
		if (p->escape)
			p->escape = false;
		else if (p->quoted && c == '\\')
			p->escape = true;
		else if (c == '"')
			p->quoted = !p->quoted;
	}
	*eol_r = false;
	return n;
}

/* feed_literal - copy literal bytes; true when the literal is complete. */
static bool
feed_literal(struct imap_parser *p, struct buf *in)
{
	struct span s = buf_peek(in);
	struct buf *lit = &p->lits[p->nlits - 1];
	size_t n = (size_t)MIN((uint64_t)s.n, p->lit_left);

	if (n > 0) {
		/* Cannot fail: the buffer's max is the announced size + 1. */
		BUG_ON(buf_append(lit, s.p, n) < 0);
		buf_consume(in, n);
		p->lit_left -= n;
	}
	if (p->lit_left > 0)
		return false;
	BUG_ON(buf_append(lit, "", 1) < 0);
	p->in_literal = false;
	p->line_start = buf_len(&p->text);
	return true;
}

enum imap_parse_rc
imap_parse_feed(struct imap_parser *p, struct buf *in)
{
	if (p->done)
		reset_cmd(p);
	for (;;) {
		struct span s = buf_peek(in);
		size_t n;
		bool eol;

		if (p->in_literal) {
			if (!feed_literal(p, in))
				return IMAP_PARSE_MORE;
			continue;
		}
		if (s.n == 0)
			return IMAP_PARSE_MORE;
		n = scan(p, s.p, s.n, &eol);
		if (buf_len(&p->text) - p->line_start + n > p->lim.line_max ||
		    p->total + n > p->lim.cmd_max || buf_append(&p->text, s.p, n) < 0) {
			buf_consume(in, n);
			return fail(p, "Line too long", true);
		}
		buf_consume(in, n);
		p->total += n;
		if (!eol)
			return IMAP_PARSE_MORE;
		enum imap_parse_rc rc = line_end(p);
		if (rc != IMAP_PARSE_MORE)
			return rc;
	}
}

int
imap_parse_line(struct imap_parser *p, struct buf *in, struct span *line_r,
    const char **error_r)
{
	if (p->line_ready) {
		buf_clear(&p->line);
		p->line_ready = false;
	}
	for (;;) {
		struct span s = buf_peek(in), l;
		const uint8_t *lf = s.n ? memchr(s.p, '\n', s.n) : NULL;
		size_t n = lf ? (size_t)(lf - s.p) + 1 : s.n;

		if (s.n == 0)
			return 0;
		if (p->line_skip || buf_append(&p->line, s.p, n) < 0) {
			p->line_skip = true;
			buf_clear(&p->line);
		}
		buf_consume(in, n);
		if (lf == NULL)
			continue;
		l = buf_peek(&p->line);
		p->line_ready = true;
		if (p->line_skip) {
			p->line_skip = false;
			*error_r = "Line too long";
			return -1;
		}
		if (l.n < 2 || l.p[l.n - 2] != '\r') {
			*error_r = "Line must end with CRLF";
			return -1;
		}
		if (memchr(l.p, '\0', l.n) != NULL) {
			*error_r = "NUL in line";
			return -1;
		}
		*line_r = (struct span){ l.p, l.n - 2 };
		return 1;
	}
}

/* ---- tokenizer: the complete command in p->text ---- */

struct tok {
	struct imap_parser *p;
	const uint8_t *s;
	size_t n, pos;
	size_t lit; /* next literal */
	unsigned items;
	const char *err;
};

static void *
tok_alloc(struct tok *t, size_t n)
{
	struct imap_parser *p = t->p;
	void *v = xcalloc(1, n ? n : 1);

	if (p->nallocs == p->aallocs) {
		p->aallocs = p->aallocs ? p->aallocs * 2 : 16;
		p->allocs = xrealloc(p->allocs, p->aallocs * sizeof(*p->allocs));
	}
	p->allocs[p->nallocs++] = v;
	return v;
}

static char *
tok_strdup(struct tok *t, const uint8_t *s, size_t n)
{
	char *v = tok_alloc(t, n + 1);

	memcpy(v, s, n);
	return v;
}

static int
tok_peek(const struct tok *t)
{
	return t->pos < t->n ? t->s[t->pos] : -1;
}

/* tok_quoted - "..." with \" and \\ the only escapes (RFC 9051 9). */
static int
tok_quoted(struct tok *t, struct imap_arg *a)
{
	size_t start = ++t->pos, len = 0;
	char *out;

	for (; t->pos < t->n && t->s[t->pos] != '"'; t->pos++, len++) {
		if (t->s[t->pos] == '\r' || t->s[t->pos] == '\n')
			break;
		if (t->s[t->pos] == '\\') {
			t->pos++;
			if (t->pos >= t->n || (t->s[t->pos] != '"' && t->s[t->pos] != '\\')) {
				t->err = "Bad escape in quoted string";
				return -1;
			}
		}
	}
	if (tok_peek(t) != '"') {
		t->err = "Unterminated quoted string";
		return -1;
	}
	out = tok_alloc(t, len + 1);
	for (size_t i = start, j = 0; i < t->pos; i++) {
		if (t->s[i] == '\\')
			i++;
		out[j++] = (char)t->s[i];
	}
	t->pos++;
	*a = (struct imap_arg){ .type = IMAP_ARG_STRING, .str = out, .len = len };
	return 0;
}

/* tok_literal - "{n}" / "{n+}" / "~{n}" CRLF and the bytes the framer read. */
static int
tok_literal(struct tok *t, struct imap_arg *a)
{
	bool lit8 = t->s[t->pos] == '~';
	uint64_t v = 0;
	size_t digits = 0;
	struct span data;

	t->pos += lit8 ? 2 : 1;
	for (; t->pos < t->n && t->s[t->pos] >= '0' && t->s[t->pos] <= '9'; t->pos++, digits++)
		v = v * 10 + (uint64_t)(t->s[t->pos] - '0'); /* the framer bounded it */
	if (tok_peek(t) == '+')
		t->pos++;
	if (digits == 0 || digits > 20 || t->pos + 3 > t->n || t->s[t->pos] != '}' ||
	    t->s[t->pos + 1] != '\r' || t->s[t->pos + 2] != '\n' || t->lit >= t->p->nlits) {
		t->err = "Bad literal";
		return -1;
	}
	t->pos += 3;
	data = buf_peek(&t->p->lits[t->lit++]);
	/* UNSAFE: the size came from the client; the framer read exactly v
	   bytes plus a NUL, which is what this checks. */
	BUG_ON(data.n != v + 1);
	*a = (struct imap_arg){ .type = IMAP_ARG_STRING,
		.str = v ? (const char *)data.p : "",
		.len = (size_t)v,
		.literal = true,
		.literal8 = lit8 };
	return 0;
}

/* tok_section - "[...]" inside an atom, kept verbatim up to its "]". */
static int
tok_section(struct tok *t)
{
	bool quoted = false;

	for (t->pos++; t->pos < t->n; t->pos++) {
		uint8_t c = t->s[t->pos];

		if (c < 0x20 || c >= 0x7f || (c == '{' && !quoted)) {
			t->err = "Bad character in section";
			return -1;
		}
		if (quoted && c == '\\')
			t->pos++;
		else if (c == '"')
			quoted = !quoted;
		else if (c == ']' && !quoted) {
			t->pos++;
			return 0;
		}
	}
	t->err = "Unterminated section";
	return -1;
}

static bool
is_atom_char(uint8_t c)
{
	/* Loose on purpose: list wildcards, flags' "\" and "]" are kept for
	   the interpreters, which check their own grammar. */
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '"';
}

static int
tok_atom(struct tok *t, struct imap_arg *a)
{
	size_t start = t->pos;

	while (t->pos < t->n) {
		uint8_t c = t->s[t->pos];

		if (c == '[') {
			if (tok_section(t) < 0)
				return -1;
		} else if (is_atom_char(c)) {
			t->pos++;
		} else {
			break;
		}
	}
	if (t->pos == start) {
		t->err = t->pos < t->n && t->s[t->pos] >= 0x80 ? "8-bit character in atom"
							       : "Expected an argument";
		return -1;
	}
	a->len = t->pos - start;
	a->str = tok_strdup(t, t->s + start, a->len);
	a->type = a->len == 3 && strncasecmp(a->str, "NIL", 3) == 0 ? IMAP_ARG_NIL
								    : IMAP_ARG_ATOM;
	if (a->type == IMAP_ARG_NIL) {
		a->str = NULL;
		a->len = 0;
	}
	return 0;
}

static int tok_items(struct tok *t, unsigned depth, const struct imap_arg **v_r, size_t *n_r);

static int
tok_item(struct tok *t, unsigned depth, struct imap_arg *a)
{
	int c = tok_peek(t);

	if (++t->items > t->p->lim.items_max) {
		t->err = "Too many arguments";
		return -1;
	}
	memset(a, 0, sizeof(*a));
	if (c == '(') {
		if (depth >= t->p->lim.depth_max) {
			t->err = "Lists nested too deeply";
			return -1;
		}
		t->pos++;
		a->type = IMAP_ARG_LIST;
		if (tok_peek(t) == ')') {
			t->pos++;
			return 0;
		}
		return tok_items(t, depth + 1, &a->list, &a->n);
	}
	if (c == '"')
		return tok_quoted(t, a);
	if (c == '{' || (c == '~' && t->pos + 1 < t->n && t->s[t->pos + 1] == '{'))
		return tok_literal(t, a);
	return tok_atom(t, a);
}

/*
 * tok_items - items separated by single spaces, up to ")" (depth > 0) or
 * the final CRLF (depth 0). The array lives until the next command.
 */
static int
tok_items(struct tok *t, unsigned depth, const struct imap_arg **v_r, size_t *n_r)
{
	struct imap_arg *v = NULL, *out;
	size_t n = 0, a = 0;
	int c, rc = -1;

	for (;;) {
		if (n == a) {
			a = a ? a * 2 : 4;
			v = xrealloc(v, a * sizeof(*v));
		}
		if (tok_item(t, depth, &v[n]) < 0)
			goto out;
		n++;
		c = tok_peek(t);
		if (c == ' ') {
			t->pos++;
			c = tok_peek(t);
			if (c == ')' || c == '\r' || c == ' ' || c == -1) {
				t->err = "Unexpected space";
				goto out;
			}
			continue;
		}
		if (c == ')' && depth > 0) {
			t->pos++;
			break;
		}
		if (c == '\r' && depth == 0)
			break;
		t->err = c == ')' ? "Unbalanced parenthesis"
		    : c == '\r'	  ? "Missing closing parenthesis"
				  : "Expected a space between arguments";
		goto out;
	}
	out = tok_alloc(t, n * sizeof(*out));
	memcpy(out, v, n * sizeof(*out));
	*v_r = out;
	*n_r = n;
	rc = 0;
out:
	free(v);
	return rc;
}

/* tok_head - "tag SP name"; leaves pos on what follows the name. */
static int
tok_head(struct tok *t)
{
	size_t start = t->pos;

	while (t->pos < t->n && t->pos - start <= IMAP_TAG_MAX && is_tag_char(t->s[t->pos]))
		t->pos++;
	if (t->pos == start || t->pos - start > IMAP_TAG_MAX || tok_peek(t) != ' ') {
		t->err = t->pos == start ? "Missing or bad tag" : "Bad tag";
		return -1;
	}
	t->p->cmd.tag = tok_strdup(t, t->s + start, t->pos - start);
	start = ++t->pos;
	while (t->pos < t->n && t->pos - start <= IMAP_NAME_MAX && is_atom_char(t->s[t->pos]) &&
	    t->s[t->pos] != '[')
		t->pos++;
	if (t->pos == start || t->pos - start > IMAP_NAME_MAX) {
		t->err = "Missing or bad command name";
		return -1;
	}
	t->p->cmd.name = tok_strdup(t, t->s + start, t->pos - start);
	return 0;
}

static enum imap_parse_rc
tokenize(struct imap_parser *p)
{
	struct span s = buf_peek(&p->text);
	struct tok t = { .p = p, .s = s.p, .n = s.n };
	int c;

	if (tok_head(&t) < 0)
		return fail(p, t.err, false);
	c = tok_peek(&t);
	if (c == ' ') {
		t.pos++;
		if (tok_items(&t, 0, &p->cmd.args, &p->cmd.nargs) < 0)
			return fail(p, t.err, false);
		c = tok_peek(&t);
	}
	/* The framer ended the command at this CRLF; nothing may follow. */
	if (c != '\r' || t.pos + 2 != t.n) {
		return fail(p, c == ' ' ? "Unexpected space" : "Bad command syntax", false);
	}
	if (t.lit != p->nlits)
		return fail(p, "Bad literal", false); /* cannot happen: see above */
	p->done = true;
	return IMAP_PARSE_CMD;
}
