/* test_buf.c -- the bounded buffer never grows past max and compacts. */
#include <string.h>

#include "base/buf.h"
#include "harness.h"

static void
test_buf_bounds(void)
{
	struct buf b;
	char big[100];

	memset(big, 'x', sizeof(big));
	buf_init(&b, 8, 64);
	CHECK(buf_append(&b, big, 64) == 0);
	CHECK(buf_append(&b, "y", 1) == -1);
	CHECK_INT(buf_len(&b), 64);
	buf_consume(&b, 60);
	CHECK(buf_append(&b, big, 60) == 0); /* compaction makes room */
	CHECK_INT(buf_len(&b), 64);
	CHECK(buf_printf(&b, "%d", 1) == -1);
	buf_clear(&b);
	CHECK(buf_printf(&b, "%s-%d", "ab", 42) == 0);
	CHECK_SPAN(buf_peek(&b), "ab-42");
	buf_deinit(&b);
}

static void
test_buf_reserve(void)
{
	struct buf b;
	size_t avail;
	uint8_t *w;

	buf_init(&b, 0, 1 << 20);
	w = buf_reserve(&b, 1000, &avail);
	CHECK(w != NULL && avail >= 1000);
	memcpy(w, "hello", 5);
	buf_commit(&b, 5);
	CHECK_SPAN(buf_peek(&b), "hello");
	CHECK(buf_reserve(&b, (1 << 20) + 1, NULL) == NULL);
	buf_deinit_secret(&b);
	CHECK(b.base == NULL);
}

static void
test_buf_truncate(void)
{
	struct buf b;

	buf_init(&b, 16, 64);
	CHECK_INT(buf_append_str(&b, "xxheader\r\n\r\nbody"), 0);
	buf_consume(&b, 2);
	buf_truncate(&b, 10);
	CHECK_SPAN(buf_peek(&b), "header\r\n\r\n");
	buf_truncate(&b, 0);
	CHECK_INT(buf_len(&b), 0);
	buf_deinit(&b);
}

static const struct t_test tests[] = { T(test_buf_bounds), T(test_buf_reserve),
	                               T(test_buf_truncate), { 0 } };
T_MAIN(tests)
