/*
 * test_addr.c -- RFC 5321 mailbox parsing and formatting.
 *
 * The parser is not incremental, so instead of byte-by-byte feeding every
 * case is also parsed at every truncation point, from an exact-size heap
 * copy, so that the sanitizers catch a read past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "msg/addr.h"

#define IN(lit) .in = (lit), .inlen = sizeof(lit) - 1 /* keeps embedded NULs */

static const struct addr_case {
	const char *in;
	size_t inlen;
	bool utf8;
	int rc;
	const char *local, *domain; /* on success */
	bool quoted, literal;
	const char *fmt; /* addr_format() output */
	const char *err; /* on failure */
} addr_cases[] = {
	{ IN("user@example.com"), .rc = 1, .local = "user", .domain = "example.com",
	    .fmt = "user@example.com" },
	{ IN("User.Name+tag@Example.COM"), .rc = 1, .local = "User.Name+tag",
	    .domain = "Example.COM", .fmt = "User.Name+tag@example.com" },
	{ IN("a@b"), .rc = 1, .local = "a", .domain = "b", .fmt = "a@b" },
	{ IN("!#$%&'*+-/=?^_`{|}~@x-y.z9"), .rc = 1, .local = "!#$%&'*+-/=?^_`{|}~",
	    .domain = "x-y.z9", .fmt = "!#$%&'*+-/=?^_`{|}~@x-y.z9" },
	{ IN("a@xn--bcher-kva.example"), .rc = 1, .local = "a", .domain = "xn--bcher-kva.example",
	    .fmt = "a@xn--bcher-kva.example" },
	/* Quoted local parts: kept as sent, quotes and backslashes included. */
	{ IN("\"john doe\"@example.com"), .rc = 1, .local = "\"john doe\"",
	    .domain = "example.com", .quoted = true, .fmt = "\"john doe\"@example.com" },
	{ IN("\"a\\\"b@c\"@x"), .rc = 1, .local = "\"a\\\"b@c\"", .domain = "x", .quoted = true,
	    .fmt = "\"a\\\"b@c\"@x" },
	{ IN("\"\"@x"), .rc = 1, .local = "\"\"", .domain = "x", .quoted = true, .fmt = "\"\"@x" },
	{ IN("\"a\\\x01\"@x"), .rc = -1, .err = "invalid quoted local part" },
	{ IN("\"a\x7f\"@x"), .rc = -1, .err = "invalid quoted local part" },
	{ IN("\"abc@x"), .rc = -1, .err = "invalid quoted local part" },
	{ IN("\"abc\\"), .rc = -1, .err = "invalid quoted local part" },
	{ IN("\"a\"b@x"), .rc = -1, .err = "invalid local part" },
	{ IN("\"a\""), .rc = -1, .err = "missing domain" },
	/* Dot-strings. */
	{ IN(".a@x"), .rc = -1, .err = "invalid local part" },
	{ IN("a.@x"), .rc = -1, .err = "invalid local part" },
	{ IN("a..b@x"), .rc = -1, .err = "invalid local part" },
	{ IN("a b@x"), .rc = -1, .err = "invalid local part" },
	{ IN("a\x01@x"), .rc = -1, .err = "invalid local part" },
	{ IN("a\0b@x"), .rc = -1, .err = "invalid local part" },
	{ IN("a(b)@x"), .rc = -1, .err = "invalid local part" },
	{ IN("@x"), .rc = -1, .err = "invalid local part" },
	{ IN(""), .rc = -1, .err = "empty address" },
	{ IN("a"), .rc = -1, .err = "missing domain" },
	{ IN("a@"), .rc = -1, .err = "missing domain" },
	/* Domains. */
	{ IN("a@-x.com"), .rc = -1, .err = "invalid domain" },
	{ IN("a@x-.com"), .rc = -1, .err = "invalid domain" },
	{ IN("a@x..com"), .rc = -1, .err = "invalid domain" },
	{ IN("a@x.com."), .rc = -1, .err = "invalid domain" },
	{ IN("a@.x"), .rc = -1, .err = "invalid domain" },
	{ IN("a@x_y.com"), .rc = -1, .err = "invalid domain" },
	{ IN("a@b@c"), .rc = -1, .err = "invalid domain" },
	{ IN("a@x\r"), .rc = -1, .err = "invalid domain" },
	{ IN("a@x\0"), .rc = -1, .err = "invalid domain" },
	{ IN("a@x y"), .rc = -1, .err = "invalid domain" },
	/* Address literals. */
	{ IN("a@[1.2.3.4]"), .rc = 1, .local = "a", .domain = "[1.2.3.4]", .literal = true,
	    .fmt = "a@[1.2.3.4]" },
	{ IN("a@[IPv6:2001:DB8::1]"), .rc = 1, .local = "a", .domain = "[IPv6:2001:DB8::1]",
	    .literal = true, .fmt = "a@[ipv6:2001:db8::1]" },
	{ IN("a@[ipv6:::1]"), .rc = 1, .local = "a", .domain = "[ipv6:::1]", .literal = true,
	    .fmt = "a@[ipv6:::1]" },
	{ IN("a@[IPv6:::ffff:1.2.3.4]"), .rc = 1, .local = "a", .domain = "[IPv6:::ffff:1.2.3.4]",
	    .literal = true, .fmt = "a@[ipv6:::ffff:1.2.3.4]" },
	{ IN("a@[1.2.3]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[256.1.1.1]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[1.2.3.4.5]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[IPv6:1.2.3.4]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[IPv6:2001:db8::1%eth0]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[IPv6:]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[IPv6:1:2:3:4:5:6:7:8:9]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[x-tag:stuff]"), .rc = -1, .err = "unsupported address literal" },
	{ IN("a@[1.2.3.4"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[1.2.3.4]x"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[1.2.3.4]]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[1.2.3.4\0]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[]"), .rc = -1, .err = "invalid address literal" },
	{ IN("a@["), .rc = -1, .err = "invalid address literal" },
	{ IN("a@[ 1.2.3.4]"), .rc = -1, .err = "invalid address literal" },
	/* UTF-8 (RFC 6531): only with SMTPUTF8, and only well-formed. */
	{ IN("\xce\xb8\xcf\x83@example.com"), .rc = -1,
	    .err = "non-ASCII address without SMTPUTF8" },
	{ IN("\xce\xb8\xcf\x83@example.com"), .utf8 = true, .rc = 1, .local = "\xce\xb8\xcf\x83",
	    .domain = "example.com", .fmt = "\xce\xb8\xcf\x83@example.com" },
	{ IN("user@b\xc3\xbc" "cher.DE"), .rc = -1, .err = "non-ASCII address without SMTPUTF8" },
	{ IN("user@b\xc3\xbc" "cher.DE"), .utf8 = true, .rc = 1, .local = "user",
	    .domain = "b\xc3\xbc" "cher.DE", .fmt = "user@b\xc3\xbc" "cher.de" },
	{ IN("\"\xc3\xbc x\"@x"), .utf8 = true, .rc = 1, .local = "\"\xc3\xbc x\"", .domain = "x",
	    .quoted = true, .fmt = "\"\xc3\xbc x\"@x" },
	{ IN("\"\xc3\xbc\"@x"), .rc = -1, .err = "non-ASCII address without SMTPUTF8" },
	{ IN("\xf0\x9f\x98\x80@x"), .utf8 = true, .rc = 1, .local = "\xf0\x9f\x98\x80",
	    .domain = "x", .fmt = "\xf0\x9f\x98\x80@x" },
	{ IN("\xef\xbf\xbf@x"), .utf8 = true, .rc = 1, .local = "\xef\xbf\xbf", .domain = "x",
	    .fmt = "\xef\xbf\xbf@x" },
	{ IN("\xc0\xaf@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("\xc1\xbf@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("\xe0\x80\xaf@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("\xf0\x80\x80\xaf@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("\xed\xa0\x80@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("\xf4\x90\x80\x80@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("\xf5\x80\x80\x80@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("\xc3@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("a@\xe2\x82"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("\x80@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
	{ IN("\"\xc3\"@x"), .utf8 = true, .rc = -1, .err = "invalid UTF-8 in address" },
};

/* parse - from an exact-size heap copy of in[0..n). */
static int
parse(const char *in, size_t n, bool utf8, struct mailbox *mb, const char **err,
    uint8_t **copy_r)
{
	uint8_t *p = malloc(n + 1);

	memcpy(p, in, n);
	*copy_r = p;
	*err = NULL;
	return addr_parse_mailbox((struct span){ p, n }, utf8, mb, err);
}

static void
test_addr_table(void)
{
	for (size_t i = 0; i < nitems(addr_cases); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct mailbox mb;
		const char *err;
		char out[ADDR_MAX_PATH + 1];
		uint8_t *p;
		int rc = parse(c->in, c->inlen, c->utf8, &mb, &err, &p);

		CHECK_INT(rc, c->rc);
		if (rc != c->rc)
			t_fail(__FILE__, __LINE__, c->in);
		else if (rc < 0)
			CHECK_STR(err, c->err);
		else {
			CHECK_SPAN(mb.local, c->local);
			CHECK_SPAN(mb.domain, c->domain);
			CHECK_INT(mb.quoted, c->quoted);
			CHECK_INT(mb.domain_literal, c->literal);
			CHECK_INT(addr_format(&mb, out, sizeof(out)), strlen(c->fmt));
			CHECK_STR(out, c->fmt);
		}
		free(p);
	}
}

/* Every truncation of every case: no over-read, and every accepted prefix
   is a well-formed split of its input. */
static void
test_addr_prefixes(void)
{
	for (size_t i = 0; i < nitems(addr_cases); i++) {
		const struct addr_case *c = &addr_cases[i];

		for (size_t n = 0; n <= c->inlen; n++) {
			struct mailbox mb;
			const char *err;
			uint8_t *p;

			if (parse(c->in, n, true, &mb, &err, &p) == 1)
				CHECK_INT(mb.local.n + 1 + mb.domain.n, n);
			else
				CHECK(err != NULL);
			free(p);
		}
	}
}

/* fill - n copies of ch. */
static void
fill(char *dst, char ch, size_t n)
{
	memset(dst, ch, n);
}

/* domain_of - labels of `lab` letters separated by dots, total length n. */
static void
domain_of(char *dst, size_t n, size_t lab)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (i + 1) % (lab + 1) == 0 ? '.' : 'd';
	if (n > 0 && dst[n - 1] == '.')
		dst[n - 1] = 'd';
}

static int
parse_len(size_t local, size_t domain, size_t lab, const char **err)
{
	char buf[1024];
	struct mailbox mb;
	uint8_t *p;
	int rc;

	fill(buf, 'l', local);
	buf[local] = '@';
	domain_of(buf + local + 1, domain, lab);
	rc = parse(buf, local + 1 + domain, false, &mb, err, &p);
	free(p);
	return rc;
}

static void
test_addr_limits(void)
{
	const char *err = NULL;

	CHECK_INT(parse_len(64, 10, 63, &err), 1);
	CHECK_INT(parse_len(65, 10, 63, &err), -1);
	CHECK_STR(err, "local part too long");
	CHECK_INT(parse_len(1, 63, 63, &err), 1);
	CHECK_INT(parse_len(1, 64, 64, &err), -1);
	CHECK_STR(err, "domain label too long");
	CHECK_INT(parse_len(1, 256, 63, &err), -1);
	CHECK_STR(err, "domain too long");
	/* 254 octets in all (RFC 5321 4.5.3.1.3 path limit less "<>"). */
	CHECK_INT(parse_len(64, 189, 63, &err), 1);
	CHECK_INT(parse_len(64, 190, 63, &err), -1);
	CHECK_STR(err, "address too long");
	CHECK_INT(parse_len(1, 252, 63, &err), 1);
	CHECK_INT(parse_len(1, 253, 63, &err), -1);
	CHECK_STR(err, "address too long");
}

static void
test_addr_format(void)
{
	struct mailbox mb = { .local = span_str("Postmaster") };
	char out[ADDR_MAX_PATH + 1];
	const char *err;
	uint8_t *p;

	/* A local part alone (RCPT TO:<Postmaster>) formats without '@'. */
	CHECK_INT(addr_format(&mb, out, sizeof(out)), 10);
	CHECK_STR(out, "Postmaster");
	CHECK_INT(parse("X@A.B", 5, false, &mb, &err, &p), 1);
	/* Exactly the room needed, NUL included. */
	CHECK_INT(addr_format(&mb, out, 6), 5);
	CHECK_STR(out, "X@a.b");
	free(p);
}

static const struct t_test tests[] = {
	T(test_addr_table),
	T(test_addr_prefixes),
	T(test_addr_limits),
	T(test_addr_format),
	{ 0 },
};
T_MAIN(tests)
