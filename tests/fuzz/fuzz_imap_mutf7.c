/*
 * fuzz_imap_mutf7.c -- libFuzzer target for the modified UTF-7 mailbox
 * name codec (src/imap/imap_mutf7.c).
 *
 * Invariants (abort() on violation): whatever decodes re-encodes to the
 * same bytes (one spelling per name), and whatever encodes decodes back to
 * the input; output stays within its buffer's bound.
 */
#include <string.h>

#include "base/buf.h"
#include "imap/imap_mutf7.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b;
	const char *err;

	buf_init(&a, 0, 8192);
	buf_init(&b, 0, 16384);
	if (imap_mutf7_to_utf8((const char *)data, size, &a, &err) == 0) {
		FUZZ_ASSERT(imap_utf8_to_mutf7((const char *)buf_peek(&a).p, buf_len(&a), &b, &err) == 0);
		FUZZ_ASSERT(buf_len(&b) == size && (size == 0 || memcmp(buf_peek(&b).p, data, size) == 0));
	}
	buf_clear(&a);
	buf_clear(&b);
	if (imap_utf8_to_mutf7((const char *)data, size, &a, &err) == 0) {
		FUZZ_ASSERT(imap_mutf7_to_utf8((const char *)buf_peek(&a).p, buf_len(&a), &b, &err) == 0);
		FUZZ_ASSERT(buf_len(&b) == size && (size == 0 || memcmp(buf_peek(&b).p, data, size) == 0));
	}
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
