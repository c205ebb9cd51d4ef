/*
 * fuzz_imap_search.c -- libFuzzer target for SEARCH parsing and matching
 * (src/imap/imap_search*.c, imap_seqset.c).
 *
 * Input: criteria text, a '\n', then a message. The criteria are cut into
 * an imap_arg tree by the small tokenizer in imap_arg_tok.h (what it
 * refuses is skipped: the engine's parser is fuzzed on its own), parsed,
 * and matched against the message with flags and dates taken from its
 * first bytes. Invariants, checked with abort():
 *   - parsing returns 0 with a program, or -1/-2 with an error text;
 *   - matching returns 0 or 1, and the same twice;
 *   - NOT (criteria) matches exactly when the criteria do not;
 *   - the (E)SEARCH response of the result is one line ending in CRLF.
 */
#include <string.h>

#include "fuzz.h"
#include "imap/imap_search.h"
#include "imap_arg_tok.h"

static const char *const kws[] = { "$Junk", "Work" };

static int
match(const struct tok_tree *t, const struct imap_search_msg *m, bool negate, int *rc_r)
{
	struct imap_arg wrapped[2];
	struct imap_search *s;
	const char *err = NULL;
	int r;

	if (negate) {
		/* NOT (criteria): only when there is no RETURN/CHARSET prefix. */
		wrapped[0] = (struct imap_arg){ .type = IMAP_ARG_ATOM, .str = "NOT", .len = 3 };
		wrapped[1] = (struct imap_arg){ .type = IMAP_ARG_LIST, .list = t->args, .n = t->n };
		*rc_r = imap_search_parse(wrapped, 2, &s, &err);
	} else
		*rc_r = imap_search_parse(t->args, t->n, &s, &err);
	FUZZ_ASSERT(*rc_r == 0 || ((*rc_r == -1 || *rc_r == -2) && err != NULL && s == NULL));
	if (*rc_r != 0)
		return -1;
	r = imap_search_match(s, m);
	FUZZ_ASSERT(r == 0 || r == 1);
	FUZZ_ASSERT(imap_search_match(s, m) == r);
	if (!negate) {
		struct buf b;
		uint32_t v = m->seq;
		buf_init(&b, 0, 4096);
		FUZZ_ASSERT(imap_search_format_ex(s, "T", m->seq & 1, m->uid & 1, &v, (size_t)r, &b) == 0);
		struct span out = buf_peek(&b);
		FUZZ_ASSERT(out.n == 0 || (out.n >= 2 && out.p[out.n - 2] == '\r' && out.p[out.n - 1] == '\n' &&
						  memchr(out.p, '\n', out.n - 1) == NULL));
		buf_deinit(&b);
	}
	imap_search_free(&s);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t clen = nl != NULL ? (size_t)(nl - data) : size;
	const char *msg = nl != NULL ? (const char *)nl + 1 : "";
	size_t mlen = nl != NULL ? size - clen - 1 : 0;
	struct imap_search_msg m = { .seq = 3, .uid = 30, .max_seq = 5, .max_uid = 50,
		.keywords = kws, .nkeywords = 2, .data = msg, .len = mlen, .size = mlen };
	struct tok_tree t;
	int rc, rc_not, r, r_not;

	if (mlen > 0) {
		m.flags = (unsigned char)msg[0] & 0x3f;
		m.internaldate = (int64_t)(unsigned char)msg[0] * 86400 * 200;
		m.internaldate_tz = ((int)(unsigned char)msg[mlen - 1] - 128) * 10;
	}
	if (tok_parse((const char *)data, clen, &t) < 0)
		return 0;
	r = match(&t, &m, false, &rc);
	if (t.n > 0 && t.args[0].type == IMAP_ARG_ATOM &&
	    (strcasecmp(t.args[0].str, "RETURN") == 0 || strcasecmp(t.args[0].str, "CHARSET") == 0)) {
		tok_free(&t);
		return 0;
	}
	r_not = match(&t, &m, true, &rc_not);
	/* The wrapper adds one nesting level and two keys, so it may hit a
	   limit the plain criteria did not; otherwise both agree. */
	if (rc == 0 && rc_not == 0)
		FUZZ_ASSERT(r_not == !r);
	if (rc != 0)
		FUZZ_ASSERT(rc_not != 0);
	tok_free(&t);
	return 0;
}
