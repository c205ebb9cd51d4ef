/*
 * test_authres.c -- Authentication-Results rendering and recognition of
 * fields that claim our authserv-id (src/msgauth/authres.c).
 *
 * Golden strings for rendering; a table for recognition, each value also
 * checked from an exact-size heap copy; the header filter fed whole and at
 * every truncation point.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "msgauth/authres.h"

static const char *
render(struct buf *b, const char *id, const struct authres_result *r, size_t n)
{
	buf_clear(b);
	if (authres_render(b, id, r, n) < 0 || buf_append(b, "", 1) < 0)
		return "(failed)";
	return (const char *)buf_peek(b).p;
}

static void
test_render(void)
{
	struct buf b;
	struct authres_result r[3] = {
		{ "spf", "pass", NULL, { { "smtp", "mailfrom", "alice@example.com" } }, 1 },
		{ "dkim", "pass", NULL,
		  { { "header", "d", "example.com" }, { "header", "s", "sel1" },
		    { "header", "a", "ed25519-sha256" }, { "header", "b", "AbCd+/12" } },
		  4 },
		{ "dmarc", "pass", "p=reject dis=none", { { "header", "from", "example.com" } }, 1 },
	};

	buf_init(&b, 0, 4096);
	CHECK_STR(render(&b, "mx.example.net", r, 3),
	          "Authentication-Results: mx.example.net;\r\n"
	          "\tspf=pass smtp.mailfrom=alice@example.com;\r\n"
	          "\tdkim=pass header.d=example.com header.s=sel1 header.a=ed25519-sha256 "
	          "header.b=\"AbCd+/12\";\r\n"
	          "\tdmarc=pass (p=reject dis=none) header.from=example.com\r\n");
	CHECK_STR(render(&b, "mx.example.net", NULL, 0),
	          "Authentication-Results: mx.example.net; none\r\n");
	/* Remote text cannot escape a comment or a quoted value. */
	r[0] = (struct authres_result){ "spf", "temperror", "dns (a)\\b\r\n",
		                        { { "smtp", "mailfrom", "we\"ird\\ <x>@e.com" },
		                          { "smtp", "helo", "" } },
		                        2 };
	CHECK_STR(render(&b, "mx", r, 1),
	          "Authentication-Results: mx;\r\n"
	          "\tspf=temperror (dns _a__b__) smtp.mailfrom=\"we\\\"ird\\\\ <x>@e.com\"\r\n");
	/* An authserv-id that is not a token is refused. */
	buf_clear(&b);
	CHECK_INT(authres_render(&b, "bad id", r, 1), -1);
	CHECK_INT(authres_render(&b, "", r, 1), -1);
	/* A full buffer fails cleanly. */
	buf_deinit(&b);
	buf_init(&b, 0, 16);
	CHECK_INT(authres_render(&b, "mx.example.net", r, 1), -1);
	buf_deinit(&b);
}

static const struct ours_case {
	const char *name, *value;
	bool want;
} ours_cases[] = {
	{ "Authentication-Results", " mx.example.net; spf=pass", true },
	{ "authentication-results", " MX.Example.NET; none", true },
	{ "Authentication-Results ", "\r\n\tmx.example.net;\r\n\tdkim=pass", true },
	{ "Authentication-Results", " (comment (nested)) mx.example.net 1; none", true },
	{ "Authentication-Results", " \"mx.example.net\"; none", true },
	{ "Authentication-Results", " \"mx.exa\\mple.net\"; none", true },
	{ "Authentication-Results", " mx.example.net.evil; none", false },
	{ "Authentication-Results", " mx.example.ne; none", false },
	{ "Authentication-Results", " other.example; spf=pass smtp.mailfrom=mx.example.net", false },
	{ "Authentication-Results", " \"mx.example.net", false },
	{ "Authentication-Results", " (unclosed comment mx.example.net", false },
	{ "Authentication-Results", "", false },
	{ "X-Authentication-Results", " mx.example.net; none", false },
	{ "ARC-Authentication-Results", " i=1; mx.example.net; none", false },
};

static void
test_claims_ours(void)
{
	for (size_t i = 0; i < nitems(ours_cases); i++) {
		const struct ours_case *c = &ours_cases[i];
		size_t n = strlen(c->value);
		uint8_t *p = malloc(n > 0 ? n : 1);

		memcpy(p, c->value, n);
		if (authres_claims_ours(span_str(c->name), (struct span){ p, n }, "mx.example.net") !=
		    c->want)
			t_fail(__FILE__, __LINE__, c->value);
		/* Every prefix: no over-read. */
		for (size_t k = 0; k < n; k++)
			(void)authres_claims_ours(span_str(c->name), (struct span){ p, k },
			                          "mx.example.net");
		free(p);
	}
}

static void
test_strip(void)
{
	static const char hdr[] = "Received: from a\r\n\tby b\r\n"
	                          "Authentication-Results: mx.example.net;\r\n\tspf=pass\r\n"
	                          "From: a@example.com\r\n"
	                          "Authentication-Results: other.example; none\r\n"
	                          "authentication-results:MX.EXAMPLE.NET; dkim=pass\r\n"
	                          "Subject: x\r\n";
	static const char want[] = "Received: from a\r\n\tby b\r\n"
	                           "From: a@example.com\r\n"
	                           "Authentication-Results: other.example; none\r\n"
	                           "Subject: x\r\n";
	size_t n = sizeof(hdr) - 1;
	struct buf b;

	buf_init(&b, 0, 4096);
	CHECK_INT(authres_strip_ours((const uint8_t *)hdr, n, "mx.example.net", &b), 2);
	CHECK_SPAN(buf_peek(&b), want);
	/* Every truncation: bounded, never more than what was given. */
	for (size_t k = 0; k <= n; k++) {
		uint8_t *p = malloc(k > 0 ? k : 1);
		int rc;

		memcpy(p, hdr, k);
		buf_clear(&b);
		rc = authres_strip_ours(p, k, "mx.example.net", &b);
		CHECK(rc >= 0 && rc <= 2 && buf_len(&b) <= k);
		free(p);
	}
	/* Output full: -1. */
	buf_deinit(&b);
	buf_init(&b, 0, 8);
	CHECK_INT(authres_strip_ours((const uint8_t *)hdr, n, "mx.example.net", &b), -1);
	buf_deinit(&b);
}

static const struct t_test tests[] = {
	T(test_render),
	T(test_claims_ours),
	T(test_strip),
	{ 0 },
};

T_MAIN(tests)
