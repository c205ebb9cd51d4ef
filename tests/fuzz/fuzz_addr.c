/*
 * fuzz_addr.c -- libFuzzer target for the mailbox parser (src/msg/addr.c).
 *
 * The whole input is one path's inside. It is parsed with and without
 * SMTPUTF8; invariants, checked with abort():
 *   - what parses as ASCII parses the same with SMTPUTF8;
 *   - an accepted mailbox is its input split at one '@', within the limits;
 *   - the formatted form parses again and formats to itself.
 */
#include <stdlib.h>
#include <string.h>

#include "msg/addr.h"
#include "fuzz.h"

static void
check_mailbox(const uint8_t *data, size_t size, const struct mailbox *mb)
{
	FUZZ_ASSERT(mb->local.p == data && mb->local.n >= 1 && mb->local.n <= ADDR_MAX_LOCAL);
	FUZZ_ASSERT(mb->domain.p == data + mb->local.n + 1 && data[mb->local.n] == '@');
	FUZZ_ASSERT(mb->local.n + 1 + mb->domain.n == size);
	FUZZ_ASSERT(mb->domain.n >= 1 && mb->domain.n <= ADDR_MAX_DOMAIN);
	FUZZ_ASSERT(size <= ADDR_MAX_PATH - 2);
	FUZZ_ASSERT(mb->quoted == (data[0] == '"'));
	FUZZ_ASSERT(mb->domain_literal == (mb->domain.p[0] == '['));
}

/* check_format - format, parse the result again, format again: a fixpoint. */
static void
check_format(const struct mailbox *mb, bool utf8)
{
	char out[ADDR_MAX_PATH + 1], again[ADDR_MAX_PATH + 1];
	size_t len = addr_format(mb, out, sizeof(out));
	uint8_t *copy = malloc(len);
	struct mailbox mb2;
	const char *err;

	FUZZ_ASSERT(len == mb->local.n + 1 + mb->domain.n && strlen(out) == len);
	memcpy(copy, out, len);
	FUZZ_ASSERT(addr_parse_mailbox((struct span){ copy, len }, utf8, &mb2, &err) == 1);
	FUZZ_ASSERT(addr_format(&mb2, again, sizeof(again)) == len);
	FUZZ_ASSERT(memcmp(out, again, len) == 0);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailbox ascii, utf8;
	const char *err = NULL;
	int rc_ascii, rc_utf8;

	rc_ascii = addr_parse_mailbox((struct span){ data, size }, false, &ascii, &err);
	FUZZ_ASSERT(rc_ascii == 1 || (rc_ascii == -1 && err != NULL));
	rc_utf8 = addr_parse_mailbox((struct span){ data, size }, true, &utf8, &err);
	FUZZ_ASSERT(rc_utf8 == 1 || (rc_utf8 == -1 && err != NULL));
	if (rc_ascii == 1) {
		FUZZ_ASSERT(rc_utf8 == 1 && ascii.local.n == utf8.local.n);
		for (size_t i = 0; i < size; i++)
			FUZZ_ASSERT(data[i] < 0x80);
	}
	if (rc_utf8 == 1) {
		check_mailbox(data, size, &utf8);
		check_format(&utf8, true);
	}
	return 0;
}
