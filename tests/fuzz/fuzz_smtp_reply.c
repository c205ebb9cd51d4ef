/*
 * fuzz_smtp_reply.c -- libFuzzer target for the client's SMTP reply parser
 * (src/smtp/smtp_client_reply.c).
 *
 * Input: byte 0 bit 0 sets EHLO mode for each reply, byte 1 picks the chunk
 * size the rest is fed in (split CRLFs, replies across reads). Invariants,
 * checked with abort(): codes 200..599, NUL-terminated bounded text and
 * enhanced code, at most SMTP_REPLY_LINES_MAX lines, the buffer never
 * holding a whole over-long line, and an error reported with a reason.
 */
#include <string.h>

#include "base/buf.h"
#include "smtp/smtp_client.h"
#include "fuzz.h"

static void
check_reply(const struct smtp_reply *r)
{
	FUZZ_ASSERT(r->code >= 200 && r->code <= 599);
	FUZZ_ASSERT(memchr(r->text, '\0', sizeof(r->text)) != NULL);
	FUZZ_ASSERT(memchr(r->enhanced, '\0', sizeof(r->enhanced)) != NULL);
	FUZZ_ASSERT(r->enhanced[0] == '\0' || (unsigned)(r->enhanced[0] - '0') == r->code / 100);
	FUZZ_ASSERT(r->nlines >= 1 && r->nlines <= SMTP_REPLY_LINES_MAX);
	FUZZ_ASSERT((r->ext & SMTP_EXT_SIZE) || r->size == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	const char *err = NULL;
	struct buf in;
	size_t chunk, off = 2;
	bool ehlo;
	int rc = 0;

	if (size < 2)
		return 0;
	ehlo = data[0] & 1;
	chunk = 1 + data[1] % 64;
	smtp_reply_parser_init(&p, ehlo);
	buf_init(&in, 0, 2 * SMTP_REPLY_LINE_MAX);
	while (off < size && rc >= 0) {
		size_t n = MIN(chunk, size - off);

		FUZZ_ASSERT(buf_append(&in, data + off, n) == 0);
		off += n;
		while ((rc = smtp_reply_parse(&p, &in, &r, &err)) == 1) {
			check_reply(&r);
			p.ehlo = ehlo;
		}
		FUZZ_ASSERT(rc == 0 || err != NULL);
		FUZZ_ASSERT(buf_len(&in) < SMTP_REPLY_LINE_MAX + 64);
	}
	buf_deinit(&in);
	return 0;
}
