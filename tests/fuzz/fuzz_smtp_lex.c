/*
 * fuzz_smtp_lex.c -- libFuzzer target for the SMTP framer, tokenizer and
 * MAIL/RCPT/BDAT argument parsers (src/smtp/smtp_lex.c).
 *
 * Input: byte 0 picks the line limit, byte 1 the size of the chunks the
 * rest is fed in, so the fuzzer explores split CRLFs and over-long lines.
 * Every complete line is copied to an exact-size heap buffer before it is
 * tokenized, so that a read past the line is caught. Invariants are checked
 * with abort(): line length within the limit, no NUL or LF in a line, the
 * buffer never holding max bytes of an unfinished line, result spans inside
 * their input.
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "smtp/smtp_lex.h"
#include "fuzz.h"

/* inside - span a lies within span b (an empty span anywhere in it). */
static bool
inside(struct span a, struct span b)
{
	return a.n == 0 || (a.p >= b.p && a.p + a.n <= b.p + b.n);
}

static void
check_path_args(struct span params, const struct smtp_path_args *pa)
{
	FUZZ_ASSERT(inside(pa->path, params));
	FUZZ_ASSERT(inside(pa->auth, params) && inside(pa->ret, params));
	FUZZ_ASSERT(inside(pa->envid, params) && inside(pa->notify, params));
	FUZZ_ASSERT(inside(pa->orcpt, params));
}

/* one_line - tokenizes and parses a line as every argument form. */
static void
one_line(struct span line)
{
	uint8_t *copy = malloc(line.n + 1);
	struct span l = { copy, line.n };
	struct smtp_path_args pa;
	struct smtp_args a;
	const char *err;
	uint64_t size;
	bool last;

	memcpy(copy, line.p, line.n);
	if (smtp_tokenize(l, &a) == 1) {
		FUZZ_ASSERT(a.verb.n >= 1 && a.verb.n <= SMTP_VERB_MAX && a.verb.p == l.p);
		FUZZ_ASSERT(inside(a.params, l));
		if (smtp_parse_mail(a.params, &pa, &err) == SMTP_PARSE_OK)
			check_path_args(a.params, &pa);
		else
			FUZZ_ASSERT(err != NULL);
		if (smtp_parse_rcpt(a.params, &pa, &err) == SMTP_PARSE_OK)
			check_path_args(a.params, &pa);
		else
			FUZZ_ASSERT(err != NULL);
		if (smtp_parse_bdat(a.params, &size, &last, &err) != 1)
			FUZZ_ASSERT(err != NULL);
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct line_framer f = { 0 };
	struct buf in;
	size_t chunk, off = 0;

	if (size < 2)
		return 0;
	f.max = 2 + (size_t)data[0] * 4;
	chunk = 1 + data[1];
	data += 2;
	size -= 2;
	buf_init(&in, 0, 1 << 20);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		enum line_rc rc;
		struct span line;

		FUZZ_ASSERT(buf_append(&in, data + off, n) == 0);
		off += n;
		while ((rc = line_next(&f, &in, &line)) != LINE_MORE) {
			if (rc == LINE_ERR) {
				FUZZ_ASSERT(f.err != LE_NONE);
				continue;
			}
			FUZZ_ASSERT(line.n + 2 <= f.max);
			FUZZ_ASSERT(line.n == 0 || memchr(line.p, '\0', line.n) == NULL);
			FUZZ_ASSERT(line.n == 0 || memchr(line.p, '\n', line.n) == NULL);
			one_line(line);
		}
		FUZZ_ASSERT(buf_len(&in) < f.max);
	}
	buf_deinit(&in);
	return 0;
}
