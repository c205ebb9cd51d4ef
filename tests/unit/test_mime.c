/*
 * test_mime.c -- the MIME structure parser and its helpers: part trees of
 * the sample messages in tests/unit/data/mime/ (offsets, types, line
 * counts), section lookup, header fields, parameters with RFC 2231
 * continuations, address lists, the decoders and dates.
 * The sample files are stored with LF line ends and turned into CRLF on
 * load, as messages are stored; bare-LF cases are inline.
 * The parser takes a whole message, so instead of byte-by-byte feeding
 * every prefix of every sample is parsed and the tree invariants checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "msg/mime.h"

/* load - a sample message with CRLF line ends; *len_r its size. */
static struct span
body_of(const struct mime_msg *m, const struct mime_part *p)
{
	return (struct span){ (const uint8_t *)m->data + p->body_off, p->body_len };
}

/* check_tree - every child lies inside its parent's body; counts add up. */
static size_t
check_tree(const struct mime_msg *m, const struct mime_part *p, unsigned depth)
{
	size_t n = 1, kids = 0;

	CHECK(p->hdr_off + p->hdr_len == p->body_off);
	CHECK(p->body_off + p->body_len <= m->len);
	CHECK(p->depth == depth);
	CHECK(depth <= MIME_MAX_DEPTH);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		CHECK(c->parent == p);
		CHECK(c->hdr_off >= p->body_off);
		CHECK(c->body_off + c->body_len <= p->body_off + p->body_len);
		n += check_tree(m, c, depth + 1);
		kids++;
	}
	CHECK(kids == p->nchildren);
	if (p->kind == MIME_KIND_MESSAGE)
		CHECK(kids == 1);
	if (p->kind == MIME_KIND_MULTIPART)
		CHECK(kids >= 1);
	return n;
}

static const struct mime_part *
find(const struct mime_msg *m, const char *section)
{
	uint32_t nums[MIME_MAX_DEPTH];
	size_t n = 0;
	char *end;

	for (const char *s = section; *s != '\0' && n < MIME_MAX_DEPTH; s = *end ? end + 1 : end)
		nums[n++] = (uint32_t)strtoul(s, &end, 10);
	return mime_part_find(m, nums, n);
}

static void
check_part(const struct mime_msg *m, const char *section, const char *type, const char *subtype,
    enum mime_kind kind, size_t octets, size_t lines)
{
	const struct mime_part *p = find(m, section);

	if (p == NULL) {
		t_fail(__FILE__, __LINE__, section);
		return;
	}
	CHECK_SPAN(p->type, type);
	CHECK_SPAN(p->subtype, subtype);
	CHECK_INT(p->kind, kind);
	CHECK_INT(p->body_len, octets);
	CHECK_INT(p->body_lines, lines);
}

static void
test_mime_plain(void)
{
	size_t len;
	char *d = t_load_mime("plain.eml", &len);
	struct mime_msg *m = mime_parse(d, len);

	CHECK_INT(check_tree(m, m->root, 0), 1);
	CHECK_INT(m->root->kind, MIME_KIND_TEXT);
	CHECK(!m->root->ctype_given);
	CHECK_INT(m->root->body_len, 55);
	CHECK_INT(m->root->body_lines, 5);
	CHECK_SPAN(body_of(m, m->root), "Hi Bob,\r\n\r\nAre you free for lunch on Friday?\r\n\r\nAlice\r\n");
	CHECK_INT(mime_header_len(d, len), m->root->hdr_len);
	/* "1" of a single-part message is its body: the root itself. */
	CHECK(find(m, "1") == m->root);
	CHECK(find(m, "2") == NULL);
	CHECK(find(m, "1.1") == NULL);
	CHECK(find(m, "0") == NULL);
	mime_free(&m);
	CHECK(m == NULL);
	free(d);
}

static void
test_mime_alternative(void)
{
	size_t len;
	char *d = t_load_mime("alternative.eml", &len);
	struct mime_msg *m = mime_parse(d, len);

	CHECK_INT(check_tree(m, m->root, 0), 3);
	CHECK_INT(m->root->kind, MIME_KIND_MULTIPART);
	check_part(m, "1", "text", "plain", MIME_KIND_TEXT, 59, 2);
	check_part(m, "2", "text", "html", MIME_KIND_TEXT, 50, 1);
	CHECK_SPAN(body_of(m, find(m, "2")), "<p>Caf=C3=A9 opening hours change in December.</p>");
	CHECK(find(m, "3") == NULL);
	CHECK_INT(mime_part_cte(m, find(m, "1")), MIME_CTE_QP);
	mime_free(&m);
	free(d);
}

static void
test_mime_mixed(void)
{
	size_t len;
	char *d = t_load_mime("mixed.eml", &len);
	struct mime_msg *m = mime_parse(d, len);
	const struct mime_part *p;

	CHECK_INT(check_tree(m, m->root, 0), 5);
	check_part(m, "1", "multipart", "alternative", MIME_KIND_MULTIPART, 209, 9);
	check_part(m, "1.1", "text", "plain", MIME_KIND_TEXT, 33, 1);
	check_part(m, "1.2", "text", "html", MIME_KIND_TEXT, 40, 1);
	check_part(m, "2", "application", "pdf", MIME_KIND_BASIC, 72, 1);
	p = find(m, "2");
	CHECK_INT(mime_part_cte(m, p), MIME_CTE_BASE64);
	CHECK(find(m, "1.3") == NULL);
	CHECK(find(m, "2.1") == NULL);
	mime_free(&m);
	free(d);
}

static void
test_mime_rfc822(void)
{
	size_t len;
	char *d = t_load_mime("rfc822.eml", &len);
	struct mime_msg *m = mime_parse(d, len);
	const struct mime_part *p2, *e;

	CHECK_INT(check_tree(m, m->root, 0), 6);
	check_part(m, "1", "text", "plain", MIME_KIND_TEXT, 26, 1);
	check_part(m, "2", "message", "rfc822", MIME_KIND_MESSAGE, 385, 18);
	p2 = find(m, "2");
	e = p2->children;
	CHECK(e != NULL && e->kind == MIME_KIND_MULTIPART && e->depth == 2);
	CHECK(e->hdr_off == p2->body_off);
	/* 2.1 and 2.2 are the parts of the embedded multipart. */
	check_part(m, "2.1", "text", "plain", MIME_KIND_TEXT, 18, 1);
	check_part(m, "2.2", "image", "png", MIME_KIND_BASIC, 12, 1);
	CHECK(find(m, "2.3") == NULL);
	CHECK(find(m, "2.1.1") == NULL);
	mime_free(&m);
	free(d);
}

static void
test_mime_broken(void)
{
	size_t len;
	char *d = t_load_mime("noend.eml", &len);
	struct mime_msg *m = mime_parse(d, len);

	/* No close delimiter: the last part runs to the end. */
	CHECK_INT(check_tree(m, m->root, 0), 3);
	check_part(m, "1", "text", "plain", MIME_KIND_TEXT, 10, 1);
	check_part(m, "2", "text", "plain", MIME_KIND_TEXT, 27, 1);
	mime_free(&m);
	free(d);

	/* No blank line: the header ends at the first non-field line. */
	d = t_load_mime("nosep.eml", &len);
	m = mime_parse(d, len);
	CHECK_INT(m->root->hdr_len, strlen("From: broken@example.com\r\nSubject: no separator\r\n"));
	CHECK_INT(m->root->body_len, 78);
	CHECK_INT(m->root->body_lines, 2);
	mime_free(&m);
	free(d);
}

static const struct inline_case {
	const char *in;
	size_t nparts;
	enum mime_kind root_kind;
	size_t root_body_len;
} inline_cases[] = {
	{ "", 1, MIME_KIND_TEXT, 0 },
	{ "\r\n", 1, MIME_KIND_TEXT, 0 },
	{ "Subject: x", 1, MIME_KIND_TEXT, 0 },
	{ "body only, no header\r\n", 1, MIME_KIND_TEXT, 22 },
	/* Bare LF everywhere. */
	{ "Content-Type: multipart/mixed; boundary=z\n\n--z\n\na\n--z\n\nb\n--z--\n", 3,
	    MIME_KIND_MULTIPART, 20 },
	/* A multipart without boundary, or with no delimiter, is a leaf. */
	{ "Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\na\r\n", 1, MIME_KIND_BASIC, 10 },
	{ "Content-Type: multipart/mixed; boundary=q\r\n\r\nno parts\r\n", 1, MIME_KIND_BASIC, 10 },
	/* A boundary that is a prefix of a longer line is not a delimiter. */
	{ "Content-Type: multipart/mixed; boundary=ab\r\n\r\n--ab\r\n\r\nx\r\n--abc\r\n--ab--\r\n", 2,
	    MIME_KIND_MULTIPART, 26 },
	/* Encoded message/rfc822 stays opaque. */
	{ "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA==\r\n",
	    1, MIME_KIND_BASIC, 18 },
	/* digest: parts default to message/rfc822 (root, part, embedded message). */
	{ "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\nhi\r\n--d--\r\n",
	    3, MIME_KIND_MULTIPART, 33 },
	/* Folded Content-Type and comments. */
	{ "Content-Type: (c) multipart/mixed (x);\r\n\tboundary=\"q q\"\r\n\r\n--q q\r\n\r\nz\r\n--q q--\r\n",
	    2, MIME_KIND_MULTIPART, 21 },
};

static void
test_mime_inline(void)
{
	for (size_t i = 0; i < nitems(inline_cases); i++) {
		const struct inline_case *c = &inline_cases[i];
		struct mime_msg *m = mime_parse(c->in, strlen(c->in));

		if (check_tree(m, m->root, 0) != c->nparts || m->nparts != c->nparts ||
		    m->root->kind != c->root_kind || m->root->body_len != c->root_body_len) {
			char what[128];
			snprintf(what, sizeof(what), "inline case %zu: parts %zu kind %d body %zu", i,
			    m->nparts, (int)m->root->kind, m->root->body_len);
			t_fail(__FILE__, __LINE__, what);
		}
		mime_free(&m);
	}
}

/* Deep nesting and many parts hit the limits, never the stack. */
static void
test_mime_limits(void)
{
	struct buf b;
	struct mime_msg *m;

	buf_init(&b, 0, 1 << 24);
	for (int i = 0; i < 200; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_append_str(&b, "\r\ninnermost\r\n");
	m = mime_parse((const char *)b.base, buf_len(&b));
	CHECK(m->limited);
	CHECK_INT(check_tree(m, m->root, 0), m->nparts);
	CHECK(m->nparts <= MIME_MAX_DEPTH + 1);
	mime_free(&m);

	buf_clear(&b);
	buf_append_str(&b, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < MIME_MAX_PARTS + 50; i++)
		buf_append_str(&b, "--x\r\n\r\np\r\n");
	m = mime_parse((const char *)b.base, buf_len(&b));
	CHECK(m->limited);
	CHECK_INT(m->nparts, MIME_MAX_PARTS);
	CHECK_INT(check_tree(m, m->root, 0), MIME_MAX_PARTS);
	mime_free(&m);
	buf_deinit(&b);
}

/* Every prefix of every sample parses into a consistent tree. */
static void
test_mime_prefixes(void)
{
	static const char *const names[] = { "plain.eml", "alternative.eml", "mixed.eml",
		"rfc822.eml", "encoded.eml", "8bit.eml", "noend.eml", "nosep.eml" };

	for (size_t i = 0; i < nitems(names); i++) {
		size_t len;
		char *d = t_load_mime(names[i], &len);

		for (size_t n = 0; n <= len; n++) {
			char *copy = malloc(n + 1); /* exact size: ASan sees overreads */
			memcpy(copy, d, n);
			struct mime_msg *m = mime_parse(copy, n);
			CHECK_INT(check_tree(m, m->root, 0), m->nparts);
			mime_free(&m);
			free(copy);
		}
		free(d);
	}
}

static void
test_mime_header(void)
{
	static const char hdr[] = "Subject: a\r\n b\r\nX-Empty:\r\nbad line\r\nTo : x@y\r\n"
				  "subject: second\r\n\r\n";
	struct mime_hdr_iter it;
	struct span name, value, field;
	struct buf b;
	int n = 0;

	mime_hdr_iter_init(&it, hdr, strlen(hdr));
	while (mime_hdr_next(&it, &name, &value, &field))
		n++;
	CHECK_INT(n, 4);
	CHECK(mime_hdr_find(hdr, strlen(hdr), "SUBJECT", &value));
	CHECK_SPAN(value, " a\r\n b");
	buf_init(&b, 0, 100);
	CHECK_INT(mime_hdr_unfold(value, &b), 0);
	CHECK_SPAN(buf_peek(&b), "a b");
	buf_deinit(&b);
	CHECK(mime_hdr_find(hdr, strlen(hdr), "to", &value));
	CHECK_SPAN(value, " x@y");
	CHECK(mime_hdr_find(hdr, strlen(hdr), "x-empty", &value));
	CHECK_INT(value.n, 0);
	CHECK(!mime_hdr_find(hdr, strlen(hdr), "bad line", &value));
	CHECK(!mime_hdr_find(hdr, strlen(hdr), "From", &value));
	/* The field span covers the continuation line. */
	mime_hdr_iter_init(&it, hdr, strlen(hdr));
	CHECK(mime_hdr_next(&it, &name, &value, &field));
	CHECK_SPAN(field, "Subject: a\r\n b\r\n");
	/* A header without a final line end. */
	CHECK(mime_hdr_find("A: 1\r\nB: 2", 10, "b", &value));
	CHECK_SPAN(value, " 2");
}

static void
check_param(const char *in, const char *attr, const char *want)
{
	struct mime_params ps;

	mime_params_parse(span_str(in), &ps);
	if (want == NULL)
		CHECK(mime_params_get(&ps, attr) == NULL);
	else if (mime_params_get(&ps, attr) == NULL)
		t_fail(__FILE__, __LINE__, in);
	else
		CHECK_STR(mime_params_get(&ps, attr), want);
	mime_params_free(&ps);
}

static void
test_mime_params(void)
{
	check_param("; charset=utf-8", "charset", "utf-8");
	check_param(";CHARSET=\"UTF-8\"", "charset", "UTF-8");
	check_param("; boundary=----=_Part_1_2.3", "boundary", "----=_Part_1_2.3");
	check_param("; a=\"q\\\"uote\"; b=2", "a", "q\"uote");
	check_param("; a=\"q\\\"uote\"; b=2", "b", "2");
	check_param(" (comment) ; name = x (c)", "name", "x");
	check_param("; filename*0=\"a b\"; filename*1=c.pdf", "filename", "a bc.pdf");
	check_param("; filename*1=\"2\"; filename*0=\"1\"", "filename", "12");
	check_param("; filename*=utf-8''%e2%82%ac.txt", "filename*", "utf-8''%e2%82%ac.txt");
	check_param("; t*0*=us-ascii'en'a%20; t*1=b", "t*", "us-ascii'en'a%20b");
	check_param("; t*1=orphan", "t", NULL);
	check_param("; novalue; x=1", "x", "1");
	check_param("; novalue", "novalue", NULL);
	check_param("", "x", NULL);
}

static void
test_mime_params_limit(void)
{
	struct buf b;
	struct mime_params ps;

	buf_init(&b, 0, 1 << 20);
	for (int i = 0; i < 500; i++)
		buf_printf(&b, "; p%d=%d", i, i);
	mime_params_parse(buf_peek(&b), &ps);
	CHECK_INT(ps.n, MIME_MAX_PARAMS);
	mime_params_free(&ps);
	buf_deinit(&b);
}

/* addrs - the parsed list as "name|adl|mailbox|host;" entries, NULL as -. */
static void
check_addrs(const char *in, const char *want)
{
	struct mime_addr *a;
	size_t n = mime_addr_parse(span_str(in), &a);
	struct buf b;

	buf_init(&b, 0, 1 << 16);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s|%s|%s|%s;", a[i].name ? a[i].name : "-", a[i].adl ? a[i].adl : "-",
		    a[i].mailbox ? a[i].mailbox : "-", a[i].host ? a[i].host : "-");
	buf_append(&b, "", 1);
	CHECK_STR((const char *)b.base, want);
	buf_deinit(&b);
	mime_addr_free(&a, n);
	CHECK(a == NULL);
}

static void
test_mime_addr(void)
{
	check_addrs("alice@example.org", "-|-|alice|example.org;");
	check_addrs(" Alice Example <alice@example.org>", "Alice Example|-|alice|example.org;");
	check_addrs("\"Doe, John\" <jd@x.y>, b@c", "Doe, John|-|jd|x.y;-|-|b|c;");
	check_addrs("\"john q\"@example.com", "-|-|john q|example.com;");
	check_addrs("<@r1.example,@r2.example:u@d.example>", "-|@r1.example,@r2.example|u|d.example;");
	check_addrs("Team: a@b, \"C D\" <c@d>;, e@f",
	    "-|-|Team|-;-|-|a|b;C D|-|c|d;-|-|-|-;-|-|e|f;");
	check_addrs("undisclosed-recipients:;", "-|-|undisclosed-recipients|-;-|-|-|-;");
	check_addrs("Open: a@b", "-|-|Open|-;-|-|a|b;-|-|-|-;");
	check_addrs("a@b (Comment Name)", "-|-|a|b;");
	check_addrs("=?UTF-8?Q?J=C3=BCrgen?= <j@x.de>", "=?UTF-8?Q?J=C3=BCrgen?=|-|j|x.de;");
	check_addrs("John.Q. Public <jqp@x>", "John.Q. Public|-|jqp|x;");
	check_addrs("nodomain", "-|-|nodomain|MISSING_DOMAIN;");
	check_addrs("<>", "-|-|MISSING_MAILBOX|MISSING_DOMAIN;");
	check_addrs("a@[192.0.2.1]", "-|-|a|[192.0.2.1];");
	check_addrs("", "");
	check_addrs(" , ,", "");
	check_addrs("a . b @ c . d", "-|-|a.b|c.d;");
	check_addrs("Bob <bob@x", "Bob|-|bob|x;");
	check_addrs("\"\" <\"\"@b>", "|-||b;"); /* empty quoted words are empty, not NIL */
}

static void
check_decode(enum mime_cte cte, const char *in, const char *want, size_t want_len)
{
	struct buf b;

	buf_init(&b, 0, 1 << 16);
	CHECK_INT(mime_decode_cte(cte, span_str(in), &b), 0);
	CHECK_INT(buf_len(&b), want_len);
	CHECK(buf_len(&b) == 0 || memcmp(b.base, want, want_len) == 0);
	buf_deinit(&b);
}

static void
test_mime_decode(void)
{
	struct buf b;

	check_decode(MIME_CTE_BASE64, "SGVsbG8=", "Hello", 5);
	check_decode(MIME_CTE_BASE64, "SGVs\r\nbG8h", "Hello!", 6);
	check_decode(MIME_CTE_BASE64, "SG!Vs*bG8", "Hello", 5); /* stray bytes skipped */
	check_decode(MIME_CTE_BASE64, "AAEC", "\0\1\2", 3);
	check_decode(MIME_CTE_BASE64, "", "", 0);
	check_decode(MIME_CTE_QP, "Caf=C3=A9", "Caf\xc3\xa9", 5);
	check_decode(MIME_CTE_QP, "soft=\r\nbreak", "softbreak", 9);
	check_decode(MIME_CTE_QP, "soft= \t\nbreak", "softbreak", 9);
	check_decode(MIME_CTE_QP, "bad=ZZ=", "bad=ZZ", 6);
	check_decode(MIME_CTE_QP, "a=3d=3D_b", "a==_b", 5);
	check_decode(MIME_CTE_IDENTITY, "as is", "as is", 5);
	buf_init(&b, 0, 100);
	CHECK_INT(mime_decode_cte(MIME_CTE_UNKNOWN, span_str("x"), &b), -1);
	buf_deinit(&b);
	buf_init(&b, 0, 3); /* out too small */
	CHECK_INT(mime_decode_cte(MIME_CTE_QP, span_str("abcdef"), &b), -1);
	buf_deinit(&b);
}

static void
check_utf8(const char *charset, const char *in, const char *want)
{
	struct buf b;

	buf_init(&b, 0, 1 << 16);
	CHECK_INT(mime_to_utf8(charset, span_str(in), &b), 0);
	buf_append(&b, "", 1);
	CHECK_STR((const char *)b.base, want);
	buf_deinit(&b);
}

static void
check_words(const char *in, const char *want)
{
	struct buf b;

	buf_init(&b, 0, 1 << 16);
	CHECK_INT(mime_decode_words(span_str(in), &b), 0);
	buf_append(&b, "", 1);
	CHECK_STR((const char *)b.base, want);
	buf_deinit(&b);
}

static void
test_mime_charset(void)
{
	check_utf8("iso-8859-1", "caf\xe9", "caf\xc3\xa9");
	check_utf8("windows-1252", "\x80", "\xe2\x82\xac");
	check_utf8("KOI8-R", "\xf0\xd2\xc9\xd7\xc5\xd4", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	check_utf8("utf-8", "caf\xc3\xa9", "caf\xc3\xa9");
	check_utf8(NULL, "plain", "plain");
	check_utf8("x-no-such-charset", "raw\xff", "raw\xff");
	/* An invalid byte is copied and conversion goes on after it. */
	check_utf8("ISO-2022-JP", "a\x80" "b", "a\x80" "b");
	check_utf8("utf-16le", "a", ""); /* a truncated sequence at the end is dropped */
	check_utf8("us-ascii", "abc", "abc");
	check_utf8("iso-8859-1//TRANSLIT", "caf\xe9", "caf\xe9"); /* odd names: copied as is */
}

static void
test_mime_words(void)
{
	check_words("plain text", "plain text");
	check_words("=?ISO-8859-1?Q?Andr=E9?= Martin", "Andr\xc3\xa9 Martin");
	check_words("=?UTF-8?B?UsOpc3Vtw6k=?= =?UTF-8?Q?_de_la_r=C3=A9union?=",
	    "R\xc3\xa9sum\xc3\xa9 de la r\xc3\xa9union");
	check_words("a =?utf-8?q?b?=  c", "a b  c");
	check_words("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab");
	check_words("=?utf-8*en?q?lang?=", "lang");
	check_words("=?utf-8?x?bad?=", "=?utf-8?x?bad?=");
	check_words("=?utf-8?q?unterminated", "=?utf-8?q?unterminated");
	check_words("=??q?nocharset?=", "=??q?nocharset?=");
	check_words("x=?utf-8?q?y?=z", "xyz");
}

static void
check_date(const char *in, int rc, int64_t t, int tz)
{
	int64_t got_t = -1;
	int got_tz = -1;

	CHECK_INT(mime_date_parse(span_str(in), &got_t, &got_tz), rc);
	if (rc == 0) {
		CHECK_INT(got_t, t);
		CHECK_INT(got_tz, tz);
	}
}

static void
test_mime_date(void)
{
	/* 2026-11-23 09:15:00 UTC = 1795425300 */
	check_date("Mon, 23 Nov 2026 10:15:00 +0100", 0, 1795425300, 60);
	check_date("23 Nov 2026 10:15 +0100", 0, 1795425300, 60);
	check_date("Mon, 23 Nov 2026 04:15:00 EST", 0, 1795425300, -300);
	check_date("Mon (x), 23 Nov 2026 09:15:00 GMT", 0, 1795425300, 0);
	check_date("Mon, 23 Nov 26 09:15:00 +0000", 0, 1795425300, 0);
	check_date("23 Nov 2026 09:15:00", 0, 1795425300, 0);
	check_date("1 Jan 1970 00:00:00 +0000", 0, 0, 0);
	check_date("31 Feb 2026 00:00:00 +0000", -1, 0, 0);
	check_date("32 Jan 2026 00:00:00 +0000", -1, 0, 0);
	check_date("1 Foo 2026 00:00:00 +0000", -1, 0, 0);
	check_date("1 Jan 2026 24:00:00 +0000", -1, 0, 0);
	check_date("", -1, 0, 0);
	check_date("garbage", -1, 0, 0);
}

static const struct t_test tests[] = {
	T(test_mime_plain),
	T(test_mime_alternative),
	T(test_mime_mixed),
	T(test_mime_rfc822),
	T(test_mime_broken),
	T(test_mime_inline),
	T(test_mime_limits),
	T(test_mime_prefixes),
	T(test_mime_header),
	T(test_mime_params),
	T(test_mime_params_limit),
	T(test_mime_addr),
	T(test_mime_decode),
	T(test_mime_charset),
	T(test_mime_words),
	T(test_mime_date),
	{ 0 },
};

T_MAIN(tests)
