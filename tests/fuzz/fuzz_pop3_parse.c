/*
 * fuzz_pop3_parse.c -- libFuzzer target for the POP3 command tokenizer and
 * the RETR/TOP byte-stuffing filter (src/pop3/pop3_parse.c).
 *
 * Input: byte 0 picks the chunk size, byte 1 the TOP line count (0xff:
 * RETR). The rest is fed to the line framer at the POP3 command limit and
 * every line tokenized from an exact-size heap copy (a read past the line
 * is caught); and the same bytes go through the stuffing filter, whose
 * output is checked against a simple reference: removing the dot added at
 * the start of each line gives back the input (RETR) or a prefix of it
 * that ends at a line end (TOP), and the response ends in CRLF "." CRLF.
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "pop3/pop3_parse.h"
#include "smtp/smtp_lex.h"
#include "fuzz.h"

static bool
inside(struct span a, struct span b)
{
	return a.n == 0 || (a.p >= b.p && a.p + a.n <= b.p + b.n);
}

static void
one_line(struct span line)
{
	uint8_t *copy = malloc(line.n + 1);
	struct span l = { copy, line.n };
	struct pop3_cmd c;
	const char *err = NULL;

	memcpy(copy, line.p, line.n);
	if (pop3_parse_cmd(l, &c, &err) == 1) {
		FUZZ_ASSERT(inside(c.arg, l) && inside(c.ir, l));
		FUZZ_ASSERT(c.verb <= POP3_QUIT);
		if (c.verb == POP3_RETR || c.verb == POP3_DELE || c.verb == POP3_TOP || c.has_msg)
			FUZZ_ASSERT(c.msg >= 1);
	} else {
		FUZZ_ASSERT(err != NULL && *err != '\0');
	}
	free(copy);
}

static void
frame_all(const uint8_t *data, size_t size, size_t chunk)
{
	struct line_framer f = { .max = POP3_CMD_LINE };
	struct buf in;
	size_t off = 0;

	buf_init(&in, 0, 1 << 20);
	while (off < size) {
		size_t n = MIN(chunk, size - off);
		enum line_rc rc;
		struct span line;

		FUZZ_ASSERT(buf_append(&in, data + off, n) == 0);
		off += n;
		while ((rc = line_next(&f, &in, &line)) != LINE_MORE) {
			if (rc == LINE_OK) {
				FUZZ_ASSERT(line.n + 2 <= POP3_CMD_LINE);
				one_line(line);
			}
		}
		FUZZ_ASSERT(buf_len(&in) < POP3_CMD_LINE);
	}
	buf_deinit(&in);
}

/* unstuff - the reference: drop the first "." of each line in place;
   returns the new length. */
static size_t
unstuff(uint8_t *p, size_t n)
{
	size_t o = 0;
	bool bol = true;

	for (size_t i = 0; i < n; i++) {
		if (bol && p[i] == '.') {
			FUZZ_ASSERT(i + 1 < n && p[i + 1] == '.');
			i++;
		}
		p[o++] = p[i];
		bol = p[i] == '\n';
	}
	return o;
}

static void
stuff_all(const uint8_t *data, size_t size, size_t chunk, bool top, uint64_t lines)
{
	uint8_t *out = malloc(POP3_STUFF_OUT(size) + 5);
	struct pop3_stuff st;
	size_t o = 0, off = 0, body;

	pop3_stuff_init(&st, top, lines);
	while (off < size) {
		size_t n = MIN(chunk, size - off);

		o += pop3_stuff_run(&st, data + off, n, out + o);
		off += n;
	}
	o += pop3_stuff_finish(&st, out + o);
	FUZZ_ASSERT(o >= 3 && memcmp(out + o - 3, ".\r\n", 3) == 0);
	FUZZ_ASSERT(o == 3 || out[o - 4] == '\n');
	body = unstuff(out, o - 3);
	FUZZ_ASSERT(body <= size + 2);
	if (!top)
		FUZZ_ASSERT(body >= size);
	/* What came through is the input (or its prefix), plus at most the
	   CRLF that terminates an unterminated last line. */
	FUZZ_ASSERT(memcmp(out, data, MIN(body, size)) == 0);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk;
	bool top;
	uint64_t lines;

	if (size < 2)
		return 0;
	chunk = 1 + data[0];
	top = data[1] != 0xff;
	lines = data[1] % 8;
	data += 2;
	size -= 2;
	frame_all(data, size, chunk);
	stuff_all(data, size, chunk, top, lines);
	return 0;
}
