/*
 * test_sasl.c -- strict base64, SASL PLAIN and LOGIN decoding.
 *
 * The decoders are not incremental, so instead of byte-by-byte feeding
 * every PLAIN case is also decoded at every truncation point. Inputs are
 * exact-size heap copies, so the sanitizers catch a read past the end.
 * Failures must leave the output wiped.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sasl/sasl.h"

/* An exact-size heap copy of s, for ASan. */
static struct span
dup_span(const char *s, size_t n)
{
	uint8_t *p = malloc(n + 1);

	memcpy(p, s, n);
	return (struct span){ p, n };
}

static void
free_span(struct span s)
{
	free((void *)(uintptr_t)s.p);
}

static bool
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

#define IN(lit) .in = (lit), .inlen = sizeof(lit) - 1 /* keeps embedded NULs */

static const struct b64_case {
	const char *in;
	size_t inlen;
	size_t outsize;
	ssize_t rc;
	const char *out; /* rc bytes */
} b64_cases[] = {
	{ IN(""), 16, 0, "" },
	{ IN("="), 16, 0, "" },
	{ IN("QQ=="), 16, 1, "A" },
	{ IN("QUI="), 16, 2, "AB" },
	{ IN("QUJD"), 16, 3, "ABC" },
	{ IN("AHVzZXIAcGFzcw=="), 16, 10, "\0user\0pass" },
	{ IN("QUJD"), 4, 3, "ABC" },
	{ IN("QUJD"), 3, -1 },  /* no room for the NUL */
	{ IN("QQ"), 16, -1 },   /* padding is required */
	{ IN("QQ="), 16, -1 },  /* and must be complete */
	{ IN("QR=="), 16, -1 }, /* unused bits must be zero */
	{ IN("Q Q=="), 16, -1 },
	{ IN("QQ==\r\n"), 16, -1 },
	{ IN("QQ==QQ=="), 16, -1 },
	{ IN("===="), 16, -1 },
	{ IN("=="), 16, -1 },
	{ IN("-_8="), 16, -1 }, /* URL-safe alphabet */
	{ IN("QUJD\0"), 16, -1 },
	{ IN("*"), 16, -1 },
	{ IN("QUJ\x9d"), 16, -1 }, /* libsodium 1.0.18 takes bytes >= 0x80 as digits */
	{ IN("\x9d\x98\xbd\x8a"), 16, -1 },
};

static void
test_b64_decode(void)
{
	for (size_t i = 0; i < nitems(b64_cases); i++) {
		const struct b64_case *c = &b64_cases[i];
		struct span in = dup_span(c->in, c->inlen);
		char out[16];
		ssize_t rc;

		memset(out, 'x', sizeof(out));
		rc = sasl_b64_decode(in, out, c->outsize);
		CHECK_INT(rc, c->rc);
		if (rc >= 0 && rc == c->rc) {
			CHECK(memcmp(out, c->out, (size_t)rc) == 0);
			CHECK_INT(out[rc], '\0');
		} else if (rc < 0) {
			CHECK(all_zero(out, c->outsize));
		}
		free_span(in);
	}
}

static void
test_b64_encode(void)
{
	char out[32];

	CHECK_INT(sasl_b64_encode("", 0, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_INT(sasl_b64_encode("A", 1, out, sizeof(out)), 4);
	CHECK_STR(out, "QQ==");
	CHECK_INT(sasl_b64_encode("ABC", 3, out, sizeof(out)), 4);
	CHECK_STR(out, "QUJD");
	CHECK_INT(sasl_b64_encode("\0user\0pass", 10, out, 16), -1); /* no room for the NUL */
	CHECK_INT(sasl_b64_encode("\0user\0pass", 10, out, 17), 16);
	CHECK_STR(out, "AHVzZXIAcGFzcw==");
	CHECK_INT(sasl_b64_encode("ABC", 3, out, 4), -1); /* no room for the NUL */
	CHECK_INT(sasl_b64_encode("ABC", 3, out, 5), 4);
	CHECK_INT(sasl_b64_encode("ABC", SIZE_MAX, out, sizeof(out)), -1);
}

static const struct plain_case {
	const char *b64;
	int rc;
	const char *authzid, *authcid, *passwd;
	const char *err;
} plain_cases[] = {
	{ "AHVzZXIAcGFzcw==", 1, .authzid = "", "user", "pass" },
	{ "YWRtaW4AdXNlcgBwYXNz", 1, .authzid = "admin", "user", "pass" },
	{ "AHUAcA==", 1, .authzid = "", "u", "p" },
	{ "AMO8c2VyAHDDpHNz", 1, .authzid = "", "\xc3\xbcser", "p\xc3\xa4ss" },
	{ "dXNlcnBhc3M=", -1, .err = "missing NUL separator" },
	{ "dXNlcgBwYXNz", -1, .err = "missing NUL separator" },
	{ "=", -1, .err = "missing NUL separator" },
	{ "", -1, .err = "missing NUL separator" },
	{ "AABwYXNz", -1, .err = "empty authentication identity" },
	{ "AHVzZXIA", -1, .err = "empty password" },
	{ "AHVzZXIAcGEAc3M=", -1, .err = "NUL inside a field" },
	{ "AHVzZXIAcGFzcw=", -1, .err = "invalid base64 or response too long" },
	{ "AHVzZXIAcGFzcw", -1, .err = "invalid base64 or response too long" },
	{ "AHVzZXIAcGFzcw==\r", -1, .err = "invalid base64 or response too long" },
	{ "!HVzZXIAcGFzcw==", -1, .err = "invalid base64 or response too long" },
};

static void
check_plain(const struct plain_case *c, const struct sasl_creds *cr, int rc, const char *err)
{
	CHECK_INT(rc, c->rc);
	if (rc == 1 && c->rc == 1) {
		CHECK_STR(cr->authzid, c->authzid);
		CHECK_STR(cr->authcid, c->authcid);
		CHECK_STR(cr->passwd, c->passwd);
	} else if (rc < 0) {
		CHECK_STR(err, c->err);
		CHECK(all_zero(cr, sizeof(*cr)));
	}
}

static void
test_plain_table(void)
{
	for (size_t i = 0; i < nitems(plain_cases); i++) {
		const struct plain_case *c = &plain_cases[i];
		struct span in = dup_span(c->b64, strlen(c->b64));
		struct sasl_creds cr;
		const char *err = NULL;
		int rc;

		memset(&cr, 'x', sizeof(cr));
		rc = sasl_plain_decode(in, &cr, &err);
		check_plain(c, &cr, rc, err);
		/* Every truncation, with no read past its end; strict base64
		   refuses any length that is not a multiple of 4. */
		for (size_t n = 0; c->rc == 1 && n < in.n; n++) {
			struct span t = dup_span(c->b64, n);

			rc = sasl_plain_decode(t, &cr, &err);
			if (n % 4 != 0)
				CHECK_INT(rc, -1);
			free_span(t);
		}
		free_span(in);
	}
}

/* plain_fields - PLAIN with fields of the given lengths, built and encoded. */
static int
plain_fields(size_t zl, size_t cl, size_t pl, struct sasl_creds *cr, const char **err)
{
	char msg[1024], b64[2048];
	struct span in;
	size_t n = 0;
	ssize_t bl;
	int rc;

	memset(msg + n, 'z', zl);
	n += zl;
	msg[n++] = '\0';
	memset(msg + n, 'c', cl);
	n += cl;
	msg[n++] = '\0';
	memset(msg + n, 'p', pl);
	n += pl;
	bl = sasl_b64_encode(msg, n, b64, sizeof(b64));
	CHECK(bl > 0);
	in = dup_span(b64, bl > 0 ? (size_t)bl : 0);
	rc = sasl_plain_decode(in, cr, err);
	free_span(in);
	return rc;
}

static void
test_plain_limits(void)
{
	struct sasl_creds cr;
	const char *err = NULL;

	CHECK_INT(plain_fields(255, 255, 255, &cr, &err), 1);
	CHECK_INT(strlen(cr.authzid), 255);
	CHECK_INT(strlen(cr.authcid), 255);
	CHECK_INT(strlen(cr.passwd), 255);
	sasl_creds_wipe(&cr);
	CHECK(all_zero(&cr, sizeof(cr)));
	CHECK_INT(plain_fields(0, 256, 1, &cr, &err), -1);
	CHECK_STR(err, "field too long");
	CHECK_INT(plain_fields(0, 1, 256, &cr, &err), -1);
	CHECK_STR(err, "field too long");
	CHECK_INT(plain_fields(256, 1, 1, &cr, &err), -1);
	CHECK_STR(err, "field too long");
	/* Longer than any valid message: refused while decoding. */
	CHECK_INT(plain_fields(255, 255, 256, &cr, &err), -1);
	CHECK_STR(err, "invalid base64 or response too long");
	CHECK(all_zero(&cr, sizeof(cr)));
}

static const struct login_case {
	const char *b64;
	size_t fieldsize;
	int rc;
	const char *field;
} login_cases[] = {
	{ "dXNlcg==", 256, 1, "user" },
	{ "dXNlcg==", 5, 1, "user" },
	{ "dXNlcg==", 4, .rc = -1 },
	{ "=", 256, .rc = -1 },
	{ "", 256, .rc = -1 },
	{ "dQB4", 256, .rc = -1 },
	{ "dXNlcg", 256, .rc = -1 },
	{ "dXNlcg== ", 256, .rc = -1 },
	{ "dXNlcg==", 0, .rc = -1 },
};

static void
test_login(void)
{
	char big[400], b64[600], field[512];
	const char *err;

	for (size_t i = 0; i < nitems(login_cases); i++) {
		const struct login_case *c = &login_cases[i];
		struct span in = dup_span(c->b64, strlen(c->b64));
		int rc;

		memset(field, 'x', sizeof(field));
		err = NULL;
		rc = sasl_login_decode(in, field, c->fieldsize, &err);
		CHECK_INT(rc, c->rc);
		if (rc == 1 && c->rc == 1)
			CHECK_STR(field, c->field);
		else if (rc < 0 && c->fieldsize > 0)
			CHECK(err != NULL && all_zero(field, c->fieldsize));
		free_span(in);
	}
	/* SASL_MAX_FIELD caps the field even when the buffer is larger. */
	memset(big, 'u', sizeof(big));
	CHECK_INT(sasl_b64_encode(big, 255, b64, sizeof(b64)), 340);
	CHECK_INT(sasl_login_decode(span_str(b64), field, sizeof(field), &err), 1);
	CHECK_INT(strlen(field), 255);
	CHECK(sasl_b64_encode(big, 256, b64, sizeof(b64)) > 0);
	CHECK_INT(sasl_login_decode(span_str(b64), field, sizeof(field), &err), -1);
	CHECK(all_zero(field, sizeof(field)));
}

static const struct t_test tests[] = {
	T(test_b64_decode),
	T(test_b64_encode),
	T(test_plain_table),
	T(test_plain_limits),
	T(test_login),
	{ 0 },
};
T_MAIN(tests)
