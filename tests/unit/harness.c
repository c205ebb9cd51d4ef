/*
 * harness.c -- runs a table of tests and reports "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static unsigned t_failures;
static const char *t_current;

void
t_fail(const char *file, int line, const char *what)
{
	t_failures++;
	fprintf(stderr, "  FAIL %s: %s:%d: %s\n", t_current, file, line, what);
}

void
t_check_str(const char *file, int line, const char *expr, const char *got, const char *want)
{
	char msg[1024];

	if (got == NULL && want == NULL)
		return;
	if (got != NULL && want != NULL && strcmp(got, want) == 0)
		return;
	snprintf(msg, sizeof(msg), "%s = \"%s\", want \"%s\"", expr, got ? got : "(null)",
	    want ? want : "(null)");
	t_fail(file, line, msg);
}

void
t_check_span(const char *file, int line, const char *expr, struct span got, const char *want)
{
	char msg[1024];

	if (want != NULL && got.n == strlen(want) && (got.n == 0 || memcmp(got.p, want, got.n) == 0))
		return;
	snprintf(msg, sizeof(msg), "%s = \"%.*s\", want \"%s\"", expr, (int)MIN(got.n, 400),
	    got.p ? (const char *)got.p : "", want ? want : "(null)");
	t_fail(file, line, msg);
}

void
t_check_int(const char *file, int line, const char *expr, long long got, long long want)
{
	char msg[512];

	if (got == want)
		return;
	snprintf(msg, sizeof(msg), "%s = %lld, want %lld", expr, got, want);
	t_fail(file, line, msg);
}

const char *
t_show_bytes(char *dst, size_t size, const char *in, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n && w + 5 < size; i++) {
		if (in[i] == '\0' || in[i] == '\r' || in[i] == '\n') {
			dst[w++] = '\\';
			dst[w++] = in[i] == '\0' ? '0' : in[i] == '\r' ? 'r' : 'n';
		} else {
			dst[w++] = in[i];
		}
	}
	dst[w] = '\0';
	return dst;
}

int
t_run(const struct t_test *tests)
{
	unsigned passed = 0, failed = 0;

	for (const struct t_test *t = tests; t->name != NULL; t++) {
		unsigned before = t_failures;

		t_current = t->name;
		t->fn();
		if (t_failures == before) {
			passed++;
			printf("ok %s\n", t->name);
		} else {
			failed++;
			printf("FAIL %s\n", t->name);
		}
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}

char *
t_load_mime(const char *name, size_t *len_r)
{
	const char *dir = getenv("HIKYAKU_TEST_DATA");
	char path[512];
	FILE *f;
	char *out;
	size_t n = 0;
	int c;

	snprintf(path, sizeof(path), "%s/mime/%s", dir != NULL ? dir : "tests/unit/data", name);
	if ((f = fopen(path, "rb")) == NULL) {
		t_fail(__FILE__, __LINE__, path);
		*len_r = 0;
		return calloc(1, 1);
	}
	out = malloc(1 << 20);
	while ((c = fgetc(f)) != EOF && n < (1 << 20) - 2) {
		if (c == '\n')
			out[n++] = '\r';
		out[n++] = (char)c;
	}
	fclose(f);
	*len_r = n;
	return out;
}
