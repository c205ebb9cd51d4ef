/*
 * fuzz_imap_parse.c -- libFuzzer target for the IMAP command framer and
 * tokenizer (src/imap/imap_parse.c).
 *
 * Input: byte 0 picks the line limit, byte 1 the size of the chunks the
 * rest is fed in, byte 2 whether continuation requests are refused, so the
 * fuzzer explores split CRLFs, literals cut anywhere and refused literals.
 * Invariants (abort() on violation): every tree is well formed (strings
 * NUL-terminated at len, lists within the nesting bound, at most items_max
 * tokens), a fatal error ends the stream, input is always consumed.
 */
#include <string.h>

#include "base/buf.h"
#include "imap/imap_parse.h"
#include "fuzz.h"

#define ITEMS_MAX 500

static size_t
check_args(const struct imap_arg *a, size_t n, unsigned depth)
{
	size_t items = n;

	FUZZ_ASSERT(depth <= IMAP_PARSE_DEPTH_MAX);
	for (size_t i = 0; i < n; i++) {
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			FUZZ_ASSERT(a[i].len > 0 && strlen(a[i].str) == a[i].len);
			break;
		case IMAP_ARG_STRING:
			FUZZ_ASSERT(a[i].str[a[i].len] == '\0');
			FUZZ_ASSERT(a[i].literal || strlen(a[i].str) == a[i].len);
			break;
		case IMAP_ARG_LIST:
			FUZZ_ASSERT(a[i].n == 0 || a[i].list != NULL);
			items += check_args(a[i].list, a[i].n, depth + 1);
			break;
		case IMAP_ARG_NIL:
			FUZZ_ASSERT(a[i].str == NULL);
			break;
		}
	}
	return items;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parse_limits lim = { 0 };
	struct imap_parser *p;
	struct buf in;
	size_t chunk, off = 0;
	bool refuse, fatal = false;

	if (size < 3)
		return 0;
	lim.line_max = 64 + (size_t)data[0] * 8;
	lim.literal_max = 1000;
	lim.cmd_max = 8000;
	lim.depth_max = IMAP_PARSE_DEPTH_MAX;
	lim.items_max = ITEMS_MAX;
	chunk = 1 + data[1];
	refuse = data[2] & 1;
	data += 3;
	size -= 3;
	p = imap_parser_new(&lim);
	buf_init(&in, 0, 1 << 20);
	while (off < size && !fatal) {
		size_t n = size - off < chunk ? size - off : chunk;
		enum imap_parse_rc rc;

		FUZZ_ASSERT(buf_append(&in, data + off, n) == 0);
		off += n;
		while (!fatal && (rc = imap_parse_feed(p, &in)) != IMAP_PARSE_MORE) {
			if (rc == IMAP_PARSE_CMD) {
				const struct imap_cmd *c = imap_parser_cmd(p);
				FUZZ_ASSERT(c->tag[0] != '\0' && c->name[0] != '\0');
				FUZZ_ASSERT(check_args(c->args, c->nargs, 0) <= ITEMS_MAX);
			} else if (rc == IMAP_PARSE_ERROR) {
				FUZZ_ASSERT(imap_parser_error(p, &fatal) != NULL);
			} else if (refuse) {
				FUZZ_ASSERT(imap_parser_literal_size(p) <= lim.literal_max);
				imap_parser_reject_literal(p);
			}
		}
		FUZZ_ASSERT(fatal || buf_len(&in) == 0);
	}
	imap_parser_free(&p);
	buf_deinit(&in);
	return 0;
}
