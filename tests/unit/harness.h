/*
 * harness.h -- a tiny unit-test harness, no framework dependency.
 *
 * A test file lists its tests in a table and ends with T_MAIN(table):
 *
 *   static const struct t_test tests[] = { T(test_buf_bounds), T(test_x), { 0 } };
 *   T_MAIN(tests)
 *
 * Each test runs in-process; CHECK failures are counted, not fatal, so one
 * run reports every broken case. The process exits non-zero on any failure.
 */
#ifndef HIKYAKU_TESTS_HARNESS_H
#define HIKYAKU_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "base/span.h"

struct t_test {
	const char *name;
	void (*fn)(void);
};

#define T(fn) { #fn, fn }

void t_fail(const char *file, int line, const char *what);
void t_check_str(const char *file, int line, const char *expr, const char *got, const char *want);
void t_check_span(const char *file, int line, const char *expr, struct span got, const char *want);
void t_check_int(const char *file, int line, const char *expr, long long got, long long want);
int t_run(const struct t_test *tests);
/* in[0..n) with CR, LF and NUL spelled out (\\r \\n \\0), for failure messages. */
const char *t_show_bytes(char *dst, size_t size, const char *in, size_t n);
/* A sample message from tests/unit/data/mime/ (HIKYAKU_TEST_DATA), LF
   lines turned into CRLF; malloc'ed, at most 1 MiB. A missing file fails
   the test and gives "". */
char *t_load_mime(const char *name, size_t *len_r);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			t_fail(__FILE__, __LINE__, #c);                                            \
	} while (0)
#define CHECK_STR(a, b) t_check_str(__FILE__, __LINE__, #a, (a), (b))
#define CHECK_SPAN(sp, s) t_check_span(__FILE__, __LINE__, #sp, (sp), (s))
#define CHECK_INT(a, b) t_check_int(__FILE__, __LINE__, #a, (long long)(a), (long long)(b))

#define T_MAIN(tests)                                                                              \
	int main(void)                                                                             \
	{                                                                                          \
		return t_run(tests);                                                               \
	}

#endif
