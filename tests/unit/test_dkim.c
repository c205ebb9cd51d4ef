/*
 * test_dkim.c -- DKIM pure parts: tag lists, DKIM-Signature and key
 * records, header and body canonicalization (RFC 6376 3.4.6 example and
 * edge cases, l=), the streaming header parser and the bottom-up selection
 * of repeated fields, key paths and zone-file TXT splitting.
 *
 * The body canonicalizer is checked against the expected canonical text
 * hashed in one piece, while the body is fed whole, byte by byte and in
 * seeded random chunk sizes: the hash must not depend on the chunking.
 * The header parser likewise. Signing and verifying with keys and DNS are
 * covered by tests/integration/test_dkim.py.
 */
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "msgauth/dkim.h"

#define IN(lit) .in = (lit), .inlen = sizeof(lit) - 1
#define OUT(lit) .out = (lit), .outlen = sizeof(lit) - 1

static uint32_t
next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/* ---- tag lists ---- */

static const struct tag_case {
	const char *in;
	int n;             /* -1: error */
	const char *first; /* "name=value" of the first tag */
	const char *last;  /* "name=value" of the last tag */
} tag_cases[] = {
        {"", 0, NULL, NULL},
        {"  ", 0, NULL, NULL},
        {"v=1", 1, "v=1", "v=1"},
        {"v=1;", 1, "v=1", "v=1"},
        {"v=1; ", 1, "v=1", "v=1"},
        {" v = 1 ; a=b", 2, "v=1", "a=b"},
        {"a=\r\n b c\r\n ;d=", 2, "a=b c", "d="},
        {"a_1=x=y", 1, "a_1=x=y", "a_1=x=y"},
        {"n=caf\xc3\xa9", 1, "n=caf\xc3\xa9", "n=caf\xc3\xa9"},
        {"v=1;;a=b", -1, NULL, NULL},
        {"=1", -1, NULL, NULL},
        {"1a=1", -1, NULL, NULL},
        {"v", -1, NULL, NULL},
        {"v 1", -1, NULL, NULL},
        {"a=1; a=2", -1, NULL, NULL},
        {"a=\x01", -1, NULL, NULL},
        {"a=b\x7f", -1, NULL, NULL},
        {"a=1;b=1;c=1;d=1;e=1;f=1;g=1;h=1;i=1;j=1;k=1;l=1;m=1;n=1;o=1;p=1;"
         "q=1;r=1;s=1;t=1;u=1;v=1;w=1;x=1;y=1;z=1;aa=1;ab=1;ac=1;ad=1;ae=1;af=1",
         32, "a=1", "af=1"},
        {"a=1;b=1;c=1;d=1;e=1;f=1;g=1;h=1;i=1;j=1;k=1;l=1;m=1;n=1;o=1;p=1;"
         "q=1;r=1;s=1;t=1;u=1;v=1;w=1;x=1;y=1;z=1;aa=1;ab=1;ac=1;ad=1;ae=1;af=1;ag=1",
         -1, NULL, NULL},
};

static void
check_tag(const struct dkim_tag *t, const char *want)
{
	char got[256];

	snprintf(got, sizeof(got), "%.*s=%.*s", (int)t->name.n, (const char *)t->name.p,
	         (int)t->value.n, (const char *)t->value.p);
	CHECK_STR(got, want);
}

static void
test_tag_list(void)
{
	for (size_t i = 0; i < nitems(tag_cases); i++) {
		const struct tag_case *c = &tag_cases[i];
		struct dkim_tag t[DKIM_MAX_TAGS];
		const char *err = NULL;
		int n = dkim_tag_parse(span_str(c->in), t, nitems(t), &err);

		CHECK_INT(n, c->n);
		if (n == -1) {
			CHECK(err != NULL);
		} else if (n > 0) {
			check_tag(&t[0], c->first);
			check_tag(&t[n - 1], c->last);
		}
	}
}

/* ---- DKIM-Signature ---- */

#define SIG_OK                                                                                     \
	"v=1; a=rsa-sha256; d=example.com; s=sel; h=From:To; bh="                                  \
	"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"

static const struct sig_case {
	const char *in;
	const char *err; /* NULL: valid */
} sig_cases[] = {
        {SIG_OK, NULL},
        {SIG_OK "; c=relaxed", NULL},
        {SIG_OK "; c=relaxed/simple; l=10; t=5; x=6; i=@sub.example.com; q=dns/txt", NULL},
        {SIG_OK "; i=user@example.com", NULL},
        {"v=1; a=ed25519-sha256; d=x.y; s=a.b; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3h"
         "\r\n\tSuFU=; b=AA\r\n AA",
         NULL},
        {"v=1; a=rsa-sha1; d=e.com; s=s; h=from; bh=2jmj7l5rSw0yVb/vlWAYkK/YBwk=; b=AAAA", NULL},
        {"v=2; a=rsa-sha256; d=e.com; s=s; h=from; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
         "b=AAAA",
         "unsupported version (v= is not 1)"},
        {"a=rsa-sha256; d=e.com; s=s; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
         "b=AAAA",
         "missing required tag"},
        {"v=1; a=rsa-md5; d=e.com; s=s; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
         "b=AAAA",
         "unknown algorithm (a=)"},
        {SIG_OK "; c=loose", "unknown canonicalization (c=)"},
        {SIG_OK "; c=relaxed/", "unknown canonicalization (c=)"},
        {SIG_OK "; l=x", "bad l="},
        {SIG_OK "; l=-1", "bad l="},
        {SIG_OK "; l=1234567890123456789", "bad l="},
        {SIG_OK "; t=10; x=10", "x= is not after t="},
        {SIG_OK "; i=@evil.com", "i= is not within d="},
        {SIG_OK "; i=@xexample.com", "i= is not within d="},
        {SIG_OK "; i=nobody", "i= is not within d="},
        {SIG_OK "; q=http/well-known", "q= lacks dns/txt"},
        {"v=1; a=rsa-sha256; d=e.com; s=s; h=to:subject; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
         "h= does not include From"},
        {"v=1; a=rsa-sha256; d=e.com; s=s; h=from::to; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
         "empty name in h="},
        {"v=1; a=rsa-sha256; d=e.com; s=s; h=from; bh=47DEQpj8; b=AAAA", "bad bh="},
        {"v=1; a=rsa-sha256; d=e.com; s=s; h=from; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=A*AA",
         "bad b="},
        {"v=1; a=rsa-sha256; d=e.com; s=s; h=from; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=",
         "bad b="},
        {"v=1; a=rsa-sha256; d=e..com; s=s; h=from; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
         "bad d= or s="},
        {"v=1; a=rsa-sha256; d=e.com; s=s/x; h=from; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
         "bad d= or s="},
        {SIG_OK "; d=x.com", "duplicate tag"},
};

static void
test_sig_parse(void)
{
	for (size_t i = 0; i < nitems(sig_cases); i++) {
		struct dkim_sig *sig = calloc(1, sizeof(*sig));
		const char *err = NULL;
		int rc = dkim_sig_parse(sig, span_str(sig_cases[i].in), &err);

		if (sig_cases[i].err == NULL) {
			CHECK_INT(rc, 1);
			if (rc == -1)
				fprintf(stderr, "case %zu: %s\n", i, err);
		} else {
			CHECK_INT(rc, -1);
			CHECK_STR(err, sig_cases[i].err);
		}
		free(sig);
	}
}

static void
test_sig_fields(void)
{
	struct dkim_sig *sig = calloc(1, sizeof(*sig));
	const char *err = NULL;
	const char *in = "v=1; a=ed25519-sha256; c=relaxed/simple; d=example.com;\r\n"
	                 " s=brisbane; l=42; t=100; x=200; h=from : to :\r\n"
	                 " subject : from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
	                 " b=AAEC AwQ=\r\n";

	CHECK_INT(dkim_sig_parse(sig, span_str(in), &err), 1);
	CHECK(sig->alg == DKIM_ALG_ED25519_SHA256);
	CHECK(sig->hcanon == DKIM_CANON_RELAXED && sig->bcanon == DKIM_CANON_SIMPLE);
	CHECK_SPAN(sig->d, "example.com");
	CHECK_SPAN(sig->s, "brisbane");
	CHECK(sig->has_l && sig->l == 42 && sig->t == 100 && sig->x == 200);
	CHECK_INT(sig->nh, 4);
	CHECK_SPAN(sig->h[0], "from");
	CHECK_SPAN(sig->h[2], "subject");
	CHECK_SPAN(sig->h[3], "from");
	CHECK_INT(sig->blen, 5);
	CHECK(memcmp(sig->b, "\0\1\2\3\4", 5) == 0);
	CHECK_SPAN(sig->b_text, "AAEC AwQ=");
	CHECK_SPAN(sig->b_raw, "AAEC AwQ=\r\n");
	CHECK_INT(sig->bh[0], 0xe3);
	/* Defaults: simple/simple. */
	CHECK_INT(dkim_sig_parse(sig, span_str(SIG_OK), &err), 1);
	CHECK(sig->hcanon == DKIM_CANON_SIMPLE && sig->bcanon == DKIM_CANON_SIMPLE);
	CHECK(!sig->has_l && !sig->has_x && sig->i.n == 0);
	free(sig);
}

/* ---- key records ---- */

#define ED_P "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

static const struct key_case {
	const char *in;
	const char *err;
	enum dkim_keytype type;
	bool revoked, testing, strict;
} key_cases[] = {
        {"v=DKIM1; k=ed25519; " ED_P, NULL, DKIM_KEY_ED25519, false, false, false},
        {ED_P, NULL, DKIM_KEY_RSA, false, false, false},
        {"k=rsa; p=", NULL, DKIM_KEY_RSA, .revoked = true},
        {"v=DKIM1; p=; n=gone", NULL, DKIM_KEY_RSA, .revoked = true},
        {"v=DKIM1; h=sha1:sha256; s=email; t=y:s; " ED_P, NULL, DKIM_KEY_RSA, .testing = true,
         .strict = true},
        {"s=*; " ED_P, NULL, DKIM_KEY_RSA, false, false, false},
        {"p=11qYAYKxCrfVS/7TyWQHOg7h\r\n\tcvPapiMlrwIaaPcHURo=", NULL, DKIM_KEY_RSA, false, false,
         false},
        {"k=ed25519; " ED_P "; v=DKIM1", "bad v= in key record", DKIM_KEY_RSA, false, false, false},
        {"v=DKIM2; " ED_P, "bad v= in key record", DKIM_KEY_RSA, false, false, false},
        {"k=dsa; " ED_P, "unknown key type (k=)", DKIM_KEY_RSA, false, false, false},
        {"h=sha1; " ED_P, "key does not allow sha256 (h=)", DKIM_KEY_RSA, false, false, false},
        {"s=im; " ED_P, "key is not for email (s=)", DKIM_KEY_RSA, false, false, false},
        {"v=DKIM1; k=rsa", "key record without p=", DKIM_KEY_RSA, false, false, false},
        {"p=%%%", "bad p= in key record", DKIM_KEY_RSA, false, false, false},
        {"p=QUJD=", "bad p= in key record", DKIM_KEY_RSA, false, false, false},
        {"v=DKIM1; p=a; p=b", "duplicate tag", DKIM_KEY_RSA, false, false, false},
};

static void
test_key_parse(void)
{
	for (size_t i = 0; i < nitems(key_cases); i++) {
		const struct key_case *c = &key_cases[i];
		struct dkim_key key;
		const char *err = NULL;
		int rc = dkim_key_parse(&key, span_str(c->in), &err);

		if (c->err != NULL) {
			CHECK_INT(rc, -1);
			CHECK_STR(err, c->err);
			continue;
		}
		CHECK_INT(rc, 1);
		CHECK(key.type == c->type);
		CHECK(key.revoked == c->revoked && key.testing == c->testing &&
		      key.strict == c->strict);
		CHECK(c->revoked || key.plen == 32);
	}
}

/* ---- header canonicalization ---- */

static const struct hcanon_case {
	enum dkim_canon c;
	const char *in, *out;
} hcanon_cases[] = {
        /* RFC 6376 3.4.6 */
        {DKIM_CANON_RELAXED, "A: X", "a:X\r\n"},
        {DKIM_CANON_RELAXED, "B : Y\t\r\n\tZ  ", "b:Y Z\r\n"},
        {DKIM_CANON_SIMPLE, "A: X", "A: X\r\n"},
        {DKIM_CANON_SIMPLE, "B : Y\t\r\n\tZ  ", "B : Y\t\r\n\tZ  \r\n"},
        {DKIM_CANON_RELAXED, "SUBJECT:   a \t b  ", "subject:a b\r\n"},
        {DKIM_CANON_RELAXED, "X-Empty:", "x-empty:\r\n"},
        {DKIM_CANON_RELAXED, "X-Empty:  \r\n  ", "x-empty:\r\n"},
        {DKIM_CANON_RELAXED, "To: a:b: c", "to:a:b: c\r\n"},
        {DKIM_CANON_RELAXED, "NoColon", "nocolon\r\n"},
};

static void
test_canon_header(void)
{
	for (size_t i = 0; i < nitems(hcanon_cases); i++) {
		struct buf out;
		char *got;

		buf_init(&out, 16, 4096);
		CHECK_INT(dkim_canon_header(hcanon_cases[i].c, span_str(hcanon_cases[i].in), true,
		                            &out),
		          0);
		got = strndup((const char *)buf_peek(&out).p, buf_len(&out));
		CHECK_STR(got, hcanon_cases[i].out);
		free(got);
		buf_deinit(&out);
	}
}

/* ---- body canonicalization ---- */

static const struct body_case {
	enum dkim_canon c;
	const char *in;
	size_t inlen;
	const char *out; /* the canonical body */
	size_t outlen;
	uint64_t limit; /* 0: none */
} body_cases[] = {
        /* RFC 6376 3.4.6 */
        {DKIM_CANON_RELAXED, IN(" C \r\nD \t E\r\n\r\n\r\n"), OUT(" C\r\nD E\r\n")},
        {DKIM_CANON_SIMPLE, IN(" C \r\nD \t E\r\n\r\n\r\n"), OUT(" C \r\nD \t E\r\n")},
        /* Empty bodies: simple is CRLF, relaxed nothing (RFC 6376 erratum 3951). */
        {DKIM_CANON_SIMPLE, IN(""), OUT("\r\n")},
        {DKIM_CANON_RELAXED, IN(""), OUT("")},
        {DKIM_CANON_SIMPLE, IN("\r\n\r\n"), OUT("\r\n")},
        {DKIM_CANON_RELAXED, IN("\r\n  \r\n\t\r\n"), OUT("")},
        /* A last line without CRLF gets one. */
        {DKIM_CANON_SIMPLE, IN("abc"), OUT("abc\r\n")},
        {DKIM_CANON_RELAXED, IN("abc  "), OUT("abc\r\n")},
        /* Empty lines in the middle stay. */
        {DKIM_CANON_SIMPLE, IN("a\r\n\r\n\r\nb\r\n\r\n"), OUT("a\r\n\r\n\r\nb\r\n")},
        {DKIM_CANON_RELAXED, IN("a\r\n \r\n\r\nb \r\n \r\n"), OUT("a\r\n\r\n\r\nb\r\n")},
        /* Bare CR and LF are content. */
        {DKIM_CANON_SIMPLE, IN("a\rb\nc\r\n"), OUT("a\rb\nc\r\n")},
        {DKIM_CANON_RELAXED, IN("a \r b\r"), OUT("a \r b\r\r\n")},
        {DKIM_CANON_SIMPLE, IN("a\r\r\n"), OUT("a\r\r\n")},
        {DKIM_CANON_RELAXED, IN("   x"), OUT(" x\r\n")},
        /* l= cuts the canonical body. */
        {DKIM_CANON_SIMPLE, IN("hello\r\nworld\r\n"), OUT("hel"), .limit = 3},
        {DKIM_CANON_RELAXED, IN("a  b\r\nc\r\n"), OUT("a b\r\n"), .limit = 5},
        {DKIM_CANON_SIMPLE, IN(""), OUT("\r"), .limit = 1},
};

static void
sha256(const void *p, size_t n, uint8_t out[32])
{
	EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL);
}

/* run_body - feeds in chunks (0: random sizes); returns the hash. */
static void
run_body(const struct body_case *c, size_t chunk, uint32_t *seed, uint8_t hash[32], uint64_t *len_r)
{
	struct dkim_body b;
	size_t off = 0;

	dkim_body_init(&b, c->c, c->limit != 0 ? c->limit : UINT64_MAX);
	while (off < c->inlen) {
		size_t n = chunk != 0 ? chunk : 1 + next_rand(seed) % 5;
		n = MIN(n, c->inlen - off);
		dkim_body_update(&b, (const uint8_t *)c->in + off, n);
		off += n;
	}
	dkim_body_final(&b, hash);
	*len_r = b.len;
	dkim_body_deinit(&b);
}

static void
test_canon_body(void)
{
	uint32_t seed = 42;

	for (size_t i = 0; i < nitems(body_cases); i++) {
		const struct body_case *c = &body_cases[i];
		uint8_t want[32], got[32];
		uint64_t len;

		sha256(c->out, c->outlen, want);
		for (size_t chunk = 0; chunk <= 3; chunk++) {
			for (int rep = 0; rep < (chunk == 0 ? 20 : 1); rep++) {
				run_body(c, chunk == 3 ? SIZE_MAX : chunk, &seed, got, &len);
				CHECK(memcmp(got, want, 32) == 0);
				if (memcmp(got, want, 32) != 0)
					fprintf(stderr, "body case %zu chunk %zu\n", i, chunk);
				if (c->limit == 0 || c->limit == UINT64_MAX)
					CHECK_INT(len, c->outlen);
			}
		}
	}
}

/* A long random body: whole, byte by byte and random chunks agree. */
static void
test_canon_body_random(void)
{
	static const char alphabet[] = "ab \t\r\n\r\n";
	uint32_t seed = 7;

	for (int round = 0; round < 50; round++) {
		char in[600];
		size_t n = next_rand(&seed) % sizeof(in);
		uint8_t h1[32], h2[32], h3[32];
		uint64_t l1, l2, l3;

		for (size_t i = 0; i < n; i++)
			in[i] = alphabet[next_rand(&seed) % (sizeof(alphabet) - 1)];
		for (int c = 0; c < 2; c++) {
			struct body_case bc = {.c = c == 0 ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED,
			                       .in = in,
			                       .inlen = n,
			                       .limit = round % 3 == 0 ? n / 2 + 1 : 0};
			run_body(&bc, SIZE_MAX, &seed, h1, &l1);
			run_body(&bc, 1, &seed, h2, &l2);
			run_body(&bc, 0, &seed, h3, &l3);
			CHECK(memcmp(h1, h2, 32) == 0 && memcmp(h1, h3, 32) == 0);
			CHECK(l1 == l2 && l1 == l3);
		}
	}
}

/* ---- the header section ---- */

static const char hdr_msg[] = "Received: a\r\n"
                              "From: one@example.com\r\n"
                              "Subject: first\r\n"
                              "\tfolded\r\n"
                              "X-A: 1\r\n"
                              "x-a : 2\r\n"
                              "not a field\r\n"
                              "X-A: 3\r\n"
                              "\r\n"
                              "Body: not a header\r\n";

/* feed_hdr - chunk 0: random sizes. Returns the body offset. */
static size_t
feed_hdr(struct dkim_hdr *h, const char *msg, size_t n, size_t chunk, uint32_t *seed)
{
	size_t off = 0, used = 0;

	while (off < n) {
		size_t k = chunk != 0 ? chunk : 1 + next_rand(seed) % 9;
		size_t u;

		k = MIN(k, n - off);
		u = dkim_hdr_feed(h, (const uint8_t *)msg + off, k);
		CHECK(u == k || h->done);
		used += u;
		off += k;
		if (h->done)
			break;
	}
	return used;
}

static void
test_hdr_parse(void)
{
	uint32_t seed = 3;
	size_t chunks[] = {SIZE_MAX, 1, 2, 0, 0, 0};

	for (size_t ci = 0; ci < nitems(chunks); ci++) {
		struct dkim_hdr *h = malloc(sizeof(*h));
		size_t body;

		dkim_hdr_init(h);
		body = feed_hdr(h, hdr_msg, sizeof(hdr_msg) - 1, chunks[ci], &seed);
		CHECK(h->done);
		CHECK(h->error == NULL);
		CHECK_INT(body, strstr(hdr_msg, "Body:") - hdr_msg);
		CHECK_INT(h->nf, 7);
		CHECK_SPAN(dkim_hdr_field(h, 2), "Subject: first\r\n\tfolded");
		CHECK_SPAN(dkim_hdr_name(h, 4), "x-a");
		CHECK_SPAN(dkim_hdr_value(h, 4), " 2");
		CHECK_INT(h->f[5].namelen, 0);
		dkim_hdr_deinit(h);
		free(h);
	}
}

static void
test_hdr_select(void)
{
	struct dkim_hdr *h = malloc(sizeof(*h));
	struct span names[] = {span_str("x-a"),    span_str("FROM"), span_str("X-A"),
	                       span_str("x-a"),    span_str("x-a"),  span_str("from"),
	                       span_str("missing")};
	struct buf out;
	char *got;

	dkim_hdr_init(h);
	dkim_hdr_feed(h, (const uint8_t *)hdr_msg, sizeof(hdr_msg) - 1);
	buf_init(&out, 64, 4096);
	/* Repeated names pick from the bottom; extra mentions select nothing. */
	CHECK_INT(dkim_hdr_select(h, names, nitems(names), DKIM_CANON_RELAXED, SIZE_MAX, &out), 0);
	got = strndup((const char *)buf_peek(&out).p, buf_len(&out));
	CHECK_STR(got, "x-a:3\r\nfrom:one@example.com\r\nx-a:2\r\nx-a:1\r\n");
	free(got);
	/* A skipped field (the signature itself) is never selected. */
	buf_clear(&out);
	CHECK_INT(dkim_hdr_select(h, names, 1, DKIM_CANON_SIMPLE, 6, &out), 0);
	got = strndup((const char *)buf_peek(&out).p, buf_len(&out));
	CHECK_STR(got, "x-a : 2\r\n");
	free(got);
	buf_deinit(&out);
	dkim_hdr_deinit(h);
	free(h);
}

/* Over the bounds: storing stops, the body still starts in the right place. */
static void
test_hdr_limits(void)
{
	size_t n = DKIM_MAX_HEADER + 5000, chunks[] = {SIZE_MAX, 1, 1000};
	char *msg = malloc(n + 32);
	uint32_t seed = 9;

	memcpy(msg, "X-Fold: a", 9);
	for (size_t i = 9; i + 3 <= n; i += 3)
		memcpy(msg + i, "\r\n ", 3);
	n -= n % 3;
	memcpy(msg + n, "\r\n\r\nbody", 8);
	for (size_t ci = 0; ci < nitems(chunks); ci++) {
		struct dkim_hdr *h = malloc(sizeof(*h));

		dkim_hdr_init(h);
		CHECK_INT(feed_hdr(h, msg, n + 8, chunks[ci], &seed), n + 4);
		CHECK(h->done);
		CHECK_STR(h->error, "header section too large");
		dkim_hdr_deinit(h);
		free(h);
	}
	/* Too many fields; the empty line right after them is still found. */
	size_t len = 0;
	char *many = malloc((DKIM_MAX_FIELDS + 10) * 6 + 16);
	for (size_t i = 0; i < DKIM_MAX_FIELDS + 10; i++)
		len += (size_t)sprintf(many + len, "A: 1\r\n");
	len += (size_t)sprintf(many + len, "\r\nbody");
	struct dkim_hdr *h = malloc(sizeof(*h));
	dkim_hdr_init(h);
	CHECK_INT(feed_hdr(h, many, len, 1, &seed), len - 4);
	CHECK_STR(h->error, "too many header fields");
	dkim_hdr_deinit(h);
	free(h);
	free(many);
	free(msg);
}

/* No empty line at all: the header section ends with the message. */
static void
test_hdr_no_body(void)
{
	struct dkim_hdr *h = malloc(sizeof(*h));
	const char *m = "From: a\r\nTo: b";

	dkim_hdr_init(h);
	CHECK_INT(dkim_hdr_feed(h, (const uint8_t *)m, strlen(m)), strlen(m));
	CHECK(!h->done);
	dkim_hdr_finish(h);
	CHECK(h->done && h->nf == 2);
	CHECK_SPAN(dkim_hdr_field(h, 1), "To: b");
	dkim_hdr_deinit(h);
	free(h);
}

/* ---- keys on disk, TXT text ---- */

static void
test_key_path_and_zone(void)
{
	char *p = dkim_key_path("/var/lib/hikyaku", "example.com", "ed2026");
	struct buf out;
	char txt[600];

	CHECK_STR(p, "/var/lib/hikyaku/dkim/example.com/ed2026.key");
	free(p);
	CHECK(dkim_key_path("/d", "../etc", "x") == NULL);
	CHECK(dkim_key_path("/d", "a.com", "x/y") == NULL);
	CHECK(dkim_key_path("/d", "", "x") == NULL);
	CHECK(dkim_key_path("/d", "a.com", ".hidden") == NULL);

	buf_init(&out, 64, 4096);
	CHECK_INT(dkim_txt_zone("v=DKIM1; p=", &out), 0);
	CHECK_SPAN(buf_peek(&out), "\"v=DKIM1; p=\"");
	buf_clear(&out);
	memset(txt, 'A', 510);
	txt[510] = '\0';
	CHECK_INT(dkim_txt_zone(txt, &out), 0);
	CHECK_INT(buf_len(&out), 255 + 2 + 1 + 255 + 2);
	CHECK(buf_peek(&out).p[257] == ' ' && buf_peek(&out).p[258] == '"');
	buf_clear(&out);
	CHECK_INT(dkim_txt_zone("a\"b", &out), 0);
	CHECK_SPAN(buf_peek(&out), "\"a\\\"b\"");
	buf_deinit(&out);
}

/* ---- the verifier without a resolver ---- */

struct vres {
	int calls;
	size_t n, nskipped;
	struct dkim_sig_result r[DKIM_MAX_SIGS];
};

static void
vdone(void *ctx, const struct dkim_sig_result *r, size_t n, size_t nskipped)
{
	struct vres *vr = ctx;

	vr->calls++;
	vr->n = n;
	vr->nskipped = nskipped;
	memcpy(vr->r, r, n * sizeof(*r));
}

/* verify_nodns - feeds msg in chunks (0: random sizes), runs the loop. */
static void
verify_nodns(const char *msg, size_t chunk, struct vres *vr)
{
	uv_loop_t loop;
	struct dkim_verify *v = dkim_verify_new(NULL, 1700000000);
	size_t n = strlen(msg), off = 0;
	uint32_t seed = 5;

	memset(vr, 0, sizeof(*vr));
	uv_loop_init(&loop);
	while (off < n) {
		size_t k = chunk != 0 ? chunk : 1 + next_rand(&seed) % 13;

		k = MIN(k, n - off); /* MIN evaluates twice: no calls inside */
		dkim_verify_feed(v, msg + off, k);
		off += k;
	}
	CHECK_INT(dkim_verify_finish(v, &loop, vdone, vr), 0);
	CHECK_INT(vr->calls, 0); /* never from inside finish */
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(vr->calls, 1);
	dkim_verify_free(&v);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
}

/* bh= is the relaxed hash of "body\r\n"; b= never gets checked here. */
#define VSIG(extra)                                                                                \
	"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;\r\n"             \
	" s=sel; h=from; bh=" BODY_BH "; b=AAAAAAAAAAAA" extra "\r\n"
#define BODY_BH "Ck5SoRNWUpSR4X0COv7R5ub2pUTtl6xz4dTFz++ji4M="

static void
test_verify_nodns(void)
{
	size_t chunks[] = {SIZE_MAX, 1, 0};
	char *many = malloc(20 * 256 + 64);
	struct vres vr;

	for (size_t ci = 0; ci < nitems(chunks); ci++) {
		verify_nodns(VSIG("") "From: a@example.com\r\n\r\nbody\r\n", chunks[ci], &vr);
		CHECK_INT(vr.n, 1);
		CHECK(vr.r[0].result == DKIM_TEMPERROR); /* body ok: the key was needed */
		CHECK_STR(vr.r[0].reason, "no resolver");
		CHECK_STR(vr.r[0].d, "example.com");
		CHECK_STR(vr.r[0].a, "ed25519-sha256");
		CHECK_STR(vr.r[0].b, "AAAAAAAA"); /* RFC 6008: 8 characters when unique */

		verify_nodns(VSIG("") "From: a@example.com\r\n\r\nbody!\r\n", chunks[ci], &vr);
		CHECK(vr.n == 1 && vr.r[0].result == DKIM_FAIL);
		CHECK_STR(vr.r[0].reason, "body hash did not verify");
	}
	verify_nodns(VSIG("; x=1600000000") "From: a\r\n\r\nbody\r\n", 0, &vr);
	CHECK(vr.n == 1 && vr.r[0].result == DKIM_FAIL);
	CHECK_STR(vr.r[0].reason, "signature expired (x=)");
	verify_nodns(VSIG("; l=100") "From: a\r\n\r\nbody\r\n", 0, &vr);
	CHECK_STR(vr.r[0].reason, "l= is longer than the body");
	verify_nodns("DKIM-Signature: v=1; a=rsa-sha1; d=e.com; s=s; h=from;\r\n"
	             " bh=2jmj7l5rSw0yVb/vlWAYkK/YBwk=; b=AAAA\r\nFrom: a\r\n\r\n",
	             0, &vr);
	CHECK(vr.n == 1 && vr.r[0].result == DKIM_FAIL);
	CHECK_STR(vr.r[0].a, "rsa-sha1");
	verify_nodns("DKIM-Signature: v=1; d=e.com; s=s\r\nFrom: a\r\n\r\n", 0, &vr);
	CHECK(vr.n == 1 && vr.r[0].result == DKIM_PERMERROR);
	CHECK_STR(vr.r[0].reason, "malformed signature: missing required tag");
	CHECK_STR(vr.r[0].d, "e.com");
	/* No signature: one callback, nothing in it. */
	verify_nodns("From: a\r\n\r\nbody\r\n", 1, &vr);
	CHECK(vr.n == 0 && vr.nskipped == 0);
	/* Past DKIM_MAX_SIGS: counted, not tried. */
	many[0] = '\0';
	for (int i = 0; i < 20; i++)
		strcat(many, VSIG(""));
	strcat(many, "From: a\r\n\r\nbody\r\n");
	verify_nodns(many, 0, &vr);
	CHECK_INT(vr.n, DKIM_MAX_SIGS);
	CHECK_INT(vr.nskipped, 20 - DKIM_MAX_SIGS);
	CHECK_STR(vr.r[0].b, "AAAAAAAAAAAA"); /* never unique: the whole value */
	free(many);
}

static const struct t_test tests[] = {
        T(test_tag_list),
        T(test_sig_parse),
        T(test_sig_fields),
        T(test_key_parse),
        T(test_canon_header),
        T(test_canon_body),
        T(test_canon_body_random),
        T(test_hdr_parse),
        T(test_hdr_select),
        T(test_hdr_limits),
        T(test_hdr_no_body),
        T(test_key_path_and_zone),
        T(test_verify_nodns),
        {0},
};
T_MAIN(tests)
