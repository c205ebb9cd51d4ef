/*
 * test_imap_fetch.c -- FETCH items: parsing (good and bad), the flags the
 * engine asks about, ENVELOPE and BODYSTRUCTURE of the sample messages in
 * tests/unit/data/mime/ against strings derived by hand from RFC 9051
 * 7.5.2, section and partial extraction, BINARY, and whole responses.
 * Item lists are written as IMAP text and turned into imap_arg trees by
 * tests/fuzz/imap_arg_tok.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/imap_arg_tok.h"
#include "harness.h"
#include "imap/imap_fetch.h"

/* parse - items text to a request; NULL (and *err) when refused. */
static struct imap_fetch_req *
parse(const char *items, bool uid, const char **err)
{
	struct tok_tree t;
	struct imap_fetch_req *req = NULL;

	*err = NULL;
	if (tok_parse(items, strlen(items), &t) < 0) {
		t_fail(__FILE__, __LINE__, items);
		return NULL;
	}
	if (imap_fetch_parse(t.args, t.n, uid, &req, err) < 0)
		req = NULL;
	tok_free(&t);
	return req;
}

/* The emitted response, and whether some piece pointed into the message. */
struct sink {
	struct buf out;
	const char *data;
	size_t len;
	bool zero_copy;
	int fail_after; /* abort at this call (0: never) */
	int calls;
};

static int
sink_emit(void *ctx, const void *p, size_t n)
{
	struct sink *s = ctx;
	const char *c = p;

	if (++s->calls == s->fail_after)
		return -1;
	if (s->data != NULL && c >= s->data && c + n <= s->data + s->len)
		s->zero_copy = true;
	buf_append(&s->out, p, n);
	return 0;
}

/* render - the whole response of `items` on message data[0..len). */
static char *
render(const char *items, const char *data, size_t len, struct imap_fetch_msg *tmpl, int *rc_r,
    bool *zero_copy_r)
{
	struct imap_fetch_msg m = { .seq = 7, .uid = 42, .size = len, .data = data, .len = len };
	struct sink s = { .data = data, .len = len };
	const char *err;
	struct imap_fetch_req *req = parse(items, false, &err);
	char *out;
	int rc;

	if (req == NULL) {
		t_fail(__FILE__, __LINE__, items);
		return strdup("");
	}
	if (tmpl != NULL) {
		m = *tmpl;
		m.data = data;
		m.len = len;
	}
	buf_init(&s.out, 0, 1 << 22);
	rc = imap_fetch_render(req, &m, false, sink_emit, &s);
	if (rc_r != NULL)
		*rc_r = rc;
	else
		CHECK_INT(rc, 0);
	if (zero_copy_r != NULL)
		*zero_copy_r = s.zero_copy;
	/* Not strndup: BINARY output may hold NUL. */
	out = calloc(1, buf_len(&s.out) + 1);
	if (buf_len(&s.out) > 0)
		memcpy(out, s.out.base, buf_len(&s.out));
	buf_deinit(&s.out);
	imap_fetch_req_free(&req);
	CHECK(req == NULL);
	return out;
}

static const char *const good_items[] = {
	"ALL",
	"FAST",
	"full",
	"UID",
	"(UID FLAGS INTERNALDATE RFC822.SIZE)",
	"(ENVELOPE BODY BODYSTRUCTURE)",
	"BODY[]",
	"body.peek[]",
	"BODY[HEADER]",
	"BODY[TEXT]",
	"BODY[1]",
	"BODY[1.2.3]",
	"BODY[1.MIME]",
	"BODY[2.HEADER]",
	"BODY[2.TEXT]",
	"BODY[HEADER.FIELDS (From To)]",
	"BODY.PEEK[HEADER.FIELDS.NOT (Received \"X-Spam\")]",
	"BODY[1.HEADER.FIELDS (Subject)]<0.100>",
	"BODY[]<0.1>",
	"BODY[]<9223372036854775807.1>",
	"(RFC822 RFC822.HEADER RFC822.TEXT)",
	"BINARY[]",
	"BINARY[1]",
	"BINARY.PEEK[1.2]<5.10>",
	"BINARY.SIZE[1]",
	"MODSEQ",
	"(FLAGS) (CHANGEDSINCE 12345)",
};

static const char *const bad_items[] = {
	"",
	"FOO",
	"(ALL)",
	"()",
	"\"UID\"",
	"UID FLAGS",
	"(UID) (X) (Y)",
	"(UID) X",
	"BODY[",
	"BODY[MIME]",
	"BODY[0]",
	"BODY[1.]",
	"BODY[.1]",
	"BODY[1..2]",
	"BODY[01x]",
	"BODY[4294967296]",
	"BODY[FOO]",
	"BODY[1.FOO]",
	"BODY[HEADERX]",
	"BODY[HEADER.FIELDS]",
	"BODY[HEADER.FIELDS ()]",
	"BODY[HEADER.FIELDS (From]",
	"BODY[HEADER.FIELDS (From) x]",
	"BODY[TEXT.MIME]",
	"BODY[]<0>",
	"BODY[]<1.0>",
	"BODY[]<a.1>",
	"BODY[]<1.2",
	"BODY[]<1.2>x",
	"BODY[]<9223372036854775808.1>",
	"BODY.PEEKX[]",
	"BINARY[HEADER]",
	"BINARY[1.MIME]",
	"BINARY.SIZE[1]<0.1>",
	"BINARY.SIZEX[1]",
	"RFC822.PEEK",
	"(UID (FLAGS))",
};

static void
test_fetch_parse(void)
{
	for (size_t i = 0; i < nitems(good_items); i++) {
		const char *err;
		struct imap_fetch_req *req = parse(good_items[i], false, &err);
		if (req == NULL)
			t_fail(__FILE__, __LINE__, good_items[i]);
		imap_fetch_req_free(&req);
	}
	for (size_t i = 0; i < nitems(bad_items); i++) {
		const char *err;
		struct tok_tree t;
		struct imap_fetch_req *req = NULL;
		int rc;

		if (tok_parse(bad_items[i], strlen(bad_items[i]), &t) < 0)
			continue; /* not even tokens: the engine's parser refuses it */
		rc = imap_fetch_parse(t.args, t.n, false, &req, &err);
		if (rc != -1 || req != NULL || err == NULL)
			t_fail(__FILE__, __LINE__, bad_items[i]);
		imap_fetch_req_free(&req);
		tok_free(&t);
	}
}

/* Every prefix of every good item list: parsed or refused, never more. */
static void
test_fetch_parse_prefixes(void)
{
	for (size_t i = 0; i < nitems(good_items); i++) {
		for (size_t n = 0; n <= strlen(good_items[i]); n++) {
			struct tok_tree t;
			struct imap_fetch_req *req;
			const char *err = NULL;
			int rc;

			if (tok_parse(good_items[i], n, &t) < 0)
				continue;
			rc = imap_fetch_parse(t.args, t.n, true, &req, &err);
			CHECK((rc == 0 && req != NULL) || (rc == -1 && req == NULL && err != NULL));
			imap_fetch_req_free(&req);
			tok_free(&t);
		}
	}
}

static void
test_fetch_parse_limits(void)
{
	struct buf b;
	const char *err;
	struct imap_fetch_req *req;

	buf_init(&b, 0, 1 << 20);
	buf_append_str(&b, "(");
	for (int i = 0; i < IMAP_FETCH_MAX_ITEMS + 1; i++)
		buf_printf(&b, "%sBODY[%d]", i > 0 ? " " : "", i + 1);
	buf_append_str(&b, ")");
	buf_append(&b, "", 1);
	req = parse((const char *)b.base, false, &err);
	CHECK(req == NULL && err != NULL);
	buf_clear(&b);
	buf_append_str(&b, "BODY[HEADER.FIELDS (");
	for (int i = 0; i < IMAP_FETCH_MAX_FIELDS + 1; i++)
		buf_printf(&b, "%sX-%d", i > 0 ? " " : "", i);
	buf_append_str(&b, ")]");
	buf_append(&b, "", 1);
	req = parse((const char *)b.base, false, &err);
	CHECK(req == NULL && err != NULL);
	buf_deinit(&b);
}

static void
test_fetch_flags(void)
{
	static const struct {
		const char *items;
		bool data, structure, seen;
		unsigned structures;
	} cases[] = {
		{ "FAST", false, false, false, 0 },
		{ "(UID FLAGS MODSEQ)", false, false, false, 0 },
		{ "ALL", true, true, false, IMAP_FETCH_S_ENVELOPE },
		{ "FULL", true, true, false, IMAP_FETCH_S_ENVELOPE | IMAP_FETCH_S_BODY },
		{ "(BODYSTRUCTURE UID)", true, true, false, IMAP_FETCH_S_BODYSTRUCTURE },
		{ "(ENVELOPE BODY[])", true, false, true, IMAP_FETCH_S_ENVELOPE },
		{ "BODY.PEEK[]", true, false, false, 0 },
		{ "BODY[HEADER]", true, false, true, 0 },
		{ "RFC822", true, false, true, 0 },
		{ "RFC822.TEXT", true, false, true, 0 },
		{ "RFC822.HEADER", true, false, false, 0 },
		{ "BINARY[1]", true, false, true, 0 },
		{ "BINARY.PEEK[1]", true, false, false, 0 },
		{ "BINARY.SIZE[1]", true, false, false, 0 },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		const char *err;
		struct imap_fetch_req *req = parse(cases[i].items, false, &err);

		if (req == NULL) {
			t_fail(__FILE__, __LINE__, cases[i].items);
			continue;
		}
		if (imap_fetch_needs_data(req) != cases[i].data ||
		    imap_fetch_needs_structure(req) != cases[i].structure ||
		    imap_fetch_sets_seen(req) != cases[i].seen ||
		    imap_fetch_structures(req) != cases[i].structures)
			t_fail(__FILE__, __LINE__, cases[i].items);
		imap_fetch_req_free(&req);
	}
}

static void
test_fetch_simple_render(void)
{
	static const char *const kw[] = { "$Forwarded", "Junk" };
	struct imap_fetch_msg m = { .seq = 3, .uid = 1001,
		.flags = IMAP_F_SEEN | IMAP_F_FLAGGED | IMAP_F_RECENT, .keywords = kw,
		.nkeywords = 2, .internaldate = 1795425300, .internaldate_tz = 60, .size = 452,
		.modseq = 77 };
	const char *err;
	struct imap_fetch_req *req = parse("(FLAGS INTERNALDATE RFC822.SIZE MODSEQ)", true, &err);
	struct sink s = { 0 };

	buf_init(&s.out, 0, 4096);
	CHECK_INT(imap_fetch_render(req, &m, false, sink_emit, &s), 0);
	buf_append(&s.out, "", 1);
	CHECK_STR((const char *)s.out.base,
	    "* 3 FETCH (UID 1001 FLAGS (\\Seen \\Flagged \\Recent $Forwarded Junk) "
	    "INTERNALDATE \"23-Nov-2026 10:15:00 +0100\" RFC822.SIZE 452 MODSEQ (77))\r\n");
	/* IMAP4rev2 has no \Recent. */
	buf_clear(&s.out);
	CHECK_INT(imap_fetch_render(req, &m, true, sink_emit, &s), 0);
	buf_append(&s.out, "", 1);
	CHECK(strstr((const char *)s.out.base, "FLAGS (\\Seen \\Flagged $Forwarded Junk)") != NULL);
	/* An emit failure aborts. */
	s.fail_after = 1;
	s.calls = 0;
	CHECK_INT(imap_fetch_render(req, &m, false, sink_emit, &s), -1);
	buf_deinit(&s.out);
	/* add_flags after \Seen was set: FLAGS once. */
	imap_fetch_req_free(&req);
	req = parse("BODY[]", false, &err);
	imap_fetch_req_add_flags(req);
	imap_fetch_req_add_flags(req);
	m.flags = IMAP_F_SEEN;
	m.nkeywords = 0;
	m.data = "A: b\r\n\r\nxy";
	m.len = 10;
	s = (struct sink){ 0 };
	buf_init(&s.out, 0, 4096);
	CHECK_INT(imap_fetch_render(req, &m, false, sink_emit, &s), 0);
	buf_append(&s.out, "", 1);
	CHECK_STR((const char *)s.out.base, "* 3 FETCH (BODY[] {10}\r\nA: b\r\n\r\nxy FLAGS (\\Seen))\r\n");
	buf_deinit(&s.out);
	imap_fetch_req_free(&req);
}

static void
test_fetch_date(void)
{
	char out[32];

	imap_fetch_date(0, 0, out);
	CHECK_STR(out, " 1-Jan-1970 00:00:00 +0000");
	imap_fetch_date(1795425300, 60, out);
	CHECK_STR(out, "23-Nov-2026 10:15:00 +0100");
	imap_fetch_date(1795425300, -330, out);
	CHECK_STR(out, "23-Nov-2026 03:45:00 -0530");
	imap_fetch_date(1795425300, 99999, out); /* nonsense zone: a fixed safe value */
	CHECK_STR(out, " 1-Jan-1970 00:00:00 +0000");
}

/* The ENVELOPE and BODYSTRUCTURE of each sample, by hand from RFC 9051
   7.5.2: Sender and Reply-To default to From; addresses are (name adl
   mailbox host); a group is (NIL NIL name NIL) ... (NIL NIL NIL NIL);
   multipart children are not separated by spaces; a text part has lines,
   a message/rfc822 part has envelope, body and lines. */
static const struct struct_case {
	const char *file;
	const char *envelope;
	const char *bodystructure;
	const char *body;
} struct_cases[] = {
	{ "plain.eml",
	    "(\"Mon, 23 Nov 2026 10:15:00 +0100\" \"Lunch on Friday?\" "
	    "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
	    "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
	    "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
	    "((\"Bob\" NIL \"bob\" \"example.com\")(NIL NIL \"carol\" \"example.net\")) NIL NIL NIL "
	    "\"<20261123101500.1@example.org>\")",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 55 5 NIL NIL NIL NIL)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 55 5)" },
	{ "alternative.eml",
	    "(\"Tue, 24 Nov 2026 08:00:00 +0000\" \"November news\" "
	    "((\"Newsletter, Example\" NIL \"news\" \"lists.example.org\")) "
	    "((NIL NIL \"bounces\" \"lists.example.org\")) ((NIL NIL \"help\" \"example.org\")) "
	    "((NIL NIL \"bob\" \"example.com\")) NIL NIL NIL \"<news-2026-11@lists.example.org>\")",
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 59 2 NIL NIL "
	    "NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 50 1 "
	    "NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"=_alt_01\") NIL NIL NIL)",
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 59 2)"
	    "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 50 1) "
	    "\"alternative\")" },
	{ "mixed.eml",
	    "(\"Wed, 25 Nov 2026 17:30:00 -0500\" \"Invoice 2026-117\" "
	    "((\"Dave\" NIL \"dave\" \"example.net\")) ((\"Dave\" NIL \"dave\" \"example.net\")) "
	    "((\"Dave\" NIL \"dave\" \"example.net\")) ((NIL NIL \"bob\" \"example.com\")) "
	    "((\"Eve\" NIL \"eve\" \"example.com\")) NIL \"<req117@example.com>\" "
	    "\"<inv117@example.net>\")",
	    "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 33 1 NIL NIL NIL NIL)"
	    "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 40 1 NIL NIL NIL NIL) "
	    "\"alternative\" (\"boundary\" \"inner-ABC\") NIL NIL NIL)"
	    "(\"application\" \"pdf\" (\"name\" \"invoice-117.pdf\") \"<part3.117@example.net>\" "
	    "\"Invoice\" \"base64\" 72 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
	    "(\"attachment\" (\"filename\" \"invoice-117.pdf\")) (\"en\" \"de\") NIL) "
	    "\"mixed\" (\"boundary\" \"outer-XYZ\") NIL NIL NIL)",
	    "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 33 1)"
	    "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 40 1) \"alternative\")"
	    "(\"application\" \"pdf\" (\"name\" \"invoice-117.pdf\") \"<part3.117@example.net>\" "
	    "\"Invoice\" \"base64\" 72) \"mixed\")" },
	{ "rfc822.eml",
	    "(\"Thu, 26 Nov 2026 09:00:00 +0100\" \"Fwd: Holiday photos\" "
	    "((\"Bob\" NIL \"bob\" \"example.com\")) ((\"Bob\" NIL \"bob\" \"example.com\")) "
	    "((\"Bob\" NIL \"bob\" \"example.com\")) ((\"Frank\" NIL \"frank\" \"example.org\")) "
	    "NIL NIL NIL \"<fwd1@example.com>\")",
	    "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 26 1 NIL NIL NIL NIL)"
	    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 385 "
	    "(\"Sun, 22 Nov 2026 20:00:00 +0100\" \"Holiday photos\" "
	    "((\"Grace\" NIL \"grace\" \"example.net\")) ((\"Grace\" NIL \"grace\" \"example.net\")) "
	    "((\"Grace\" NIL \"grace\" \"example.net\")) ((\"Bob\" NIL \"bob\" \"example.com\")) "
	    "NIL NIL NIL \"<photos@example.net>\") "
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 18 1 NIL NIL NIL NIL)"
	    "(\"image\" \"png\" NIL NIL NIL \"base64\" 12 NIL NIL NIL NIL) \"mixed\" "
	    "(\"boundary\" \"b2\") NIL NIL NIL) 18 NIL (\"inline\" NIL) NIL NIL) "
	    "\"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)",
	    NULL },
	{ "encoded.eml",
	    "(\"Fri, 27 Nov 2026 12:00:00 +0100\" "
	    "\"=?UTF-8?B?UsOpc3Vtw6k=?= =?UTF-8?Q?_de_la_r=C3=A9union?=\" "
	    "((\"=?ISO-8859-1?Q?Andr=E9?= Martin\" NIL \"andre\" \"example.fr\")) "
	    "((\"=?ISO-8859-1?Q?Andr=E9?= Martin\" NIL \"andre\" \"example.fr\")) "
	    "((\"=?ISO-8859-1?Q?Andr=E9?= Martin\" NIL \"andre\" \"example.fr\")) "
	    "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
	    "((NIL NIL \"Team\" NIL)(\"J. Doe\" NIL \"j.doe\" \"example.com\")"
	    "(\"=?UTF-8?B?SsO8cmdlbg==?=\" NIL \"juergen\" \"example.de\")(NIL NIL NIL NIL)) "
	    "NIL NIL \"<enc1@example.fr>\")",
	    "(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 31 1 NIL "
	    "NIL NIL NIL)",
	    NULL },
	/* 8-bit header text goes as a literal: quoted strings are 7-bit. */
	{ "8bit.eml",
	    "(\"Sat, 28 Nov 2026 07:45:00 +0900\" {17}\r\nGr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln "
	    "((\"Hanako\" NIL \"hanako\" \"example.jp\")) ((\"Hanako\" NIL \"hanako\" \"example.jp\")) "
	    "((\"Hanako\" NIL \"hanako\" \"example.jp\")) ((NIL NIL \"bob\" \"example.com\")) NIL NIL "
	    "NIL \"<u8@example.jp>\")",
	    "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 22 1 NIL NIL NIL NIL)",
	    NULL },
	{ "noend.eml",
	    "(NIL \"truncated\" ((NIL NIL \"spammer\" \"example.biz\")) "
	    "((NIL NIL \"spammer\" \"example.biz\")) ((NIL NIL \"spammer\" \"example.biz\")) "
	    "((NIL NIL \"bob\" \"example.com\")) NIL NIL NIL NIL)",
	    "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL)"
	    "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 27 1 NIL NIL NIL NIL) \"mixed\" "
	    "(\"boundary\" \"cut\") NIL NIL NIL)",
	    NULL },
	{ "nosep.eml",
	    "(NIL \"no separator\" ((NIL NIL \"broken\" \"example.com\")) "
	    "((NIL NIL \"broken\" \"example.com\")) ((NIL NIL \"broken\" \"example.com\")) "
	    "NIL NIL NIL NIL NIL)",
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 78 2 NIL NIL NIL NIL)",
	    NULL },
};

static void
test_fetch_structure(void)
{
	for (size_t i = 0; i < nitems(struct_cases); i++) {
		const struct struct_case *c = &struct_cases[i];
		size_t len;
		char *d = t_load_mime(c->file, &len);
		struct buf b;

		buf_init(&b, 0, 1 << 20);
		CHECK_INT(imap_fetch_envelope(d, len, &b), 0);
		buf_append(&b, "", 1);
		CHECK_STR((const char *)b.base, c->envelope);
		buf_clear(&b);
		CHECK_INT(imap_fetch_bodystructure(d, len, true, &b), 0);
		buf_append(&b, "", 1);
		CHECK_STR((const char *)b.base, c->bodystructure);
		if (c->body != NULL) {
			buf_clear(&b);
			CHECK_INT(imap_fetch_bodystructure(d, len, false, &b), 0);
			buf_append(&b, "", 1);
			CHECK_STR((const char *)b.base, c->body);
		}
		buf_deinit(&b);
		free(d);
	}
}

/* A full FETCH response built from the renderings, and from the cache. */
static void
test_fetch_structure_render(void)
{
	size_t len;
	char *d = t_load_mime("plain.eml", &len);
	struct imap_fetch_msg m = { .seq = 1, .uid = 5, .envelope = "(CACHED-ENV)",
		.bodystructure = "(CACHED-BS)", .body = "(CACHED-B)" };
	char *out = render("(ENVELOPE BODY)", d, len, NULL, NULL, NULL);

	CHECK(strncmp(out, "* 7 FETCH (ENVELOPE (\"Mon, 23 Nov", 32) == 0);
	CHECK(strstr(out, ") BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 55 "
			  "5))\r\n") != NULL);
	free(out);
	out = render("(ENVELOPE BODY BODYSTRUCTURE)", NULL, 0, &m, NULL, NULL);
	CHECK_STR(out, "* 1 FETCH (ENVELOPE (CACHED-ENV) BODY (CACHED-B) BODYSTRUCTURE (CACHED-BS))\r\n");
	free(out);
	free(d);
}

static const struct section_case {
	const char *file;
	const char *item;
	const char *want; /* the response after "* 7 FETCH (" and before ")\r\n" */
} section_cases[] = {
	{ "rfc822.eml", "BODY[1]", "BODY[1] {26}\r\nSee the forwarded message." },
	{ "rfc822.eml", "BODY[2.1]", "BODY[2.1] {18}\r\nHere is one photo." },
	{ "rfc822.eml", "BODY[2.2]", "BODY[2.2] {12}\r\niVBORw0KGgo=" },
	{ "rfc822.eml", "BODY.PEEK[2.2.MIME]",
	    "BODY[2.2.MIME] {62}\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: "
	    "base64\r\n\r\n" },
	{ "rfc822.eml", "BODY[2.MIME]",
	    "BODY[2.MIME] {61}\r\nContent-Type: message/rfc822\r\nContent-Disposition: "
	    "inline\r\n\r\n" },
	{ "rfc822.eml", "BODY[2.HEADER.FIELDS (subject FROM)]",
	    "BODY[2.HEADER.FIELDS (subject FROM)] {60}\r\nFrom: Grace <grace@example.net>\r\n"
	    "Subject: Holiday photos\r\n\r\n" },
	{ "rfc822.eml", "BODY[HEADER.FIELDS.NOT (Date Message-ID MIME-Version Content-Type)]",
	    "BODY[HEADER.FIELDS.NOT (Date Message-ID MIME-Version Content-Type)] {92}\r\n"
	    "From: Bob <bob@example.com>\r\nTo: Frank <frank@example.org>\r\n"
	    "Subject: Fwd: Holiday photos\r\n\r\n" },
	{ "rfc822.eml", "BODY[2.HEADER.FIELDS (X-None)]",
	    "BODY[2.HEADER.FIELDS (X-None)] {2}\r\n\r\n" },
	{ "rfc822.eml", "BODY[2.TEXT]<0.4>", "BODY[2.TEXT]<0> {4}\r\n--b2" },
	{ "rfc822.eml", "BODY[2]<6.4>", "BODY[2]<6> {4}\r\nSun," },
	{ "rfc822.eml", "BODY[2]<380.100>", "BODY[2]<380> {5}\r\n-b2--" },
	{ "rfc822.eml", "BODY[2]<385.10>", "BODY[2]<385> \"\"" },
	{ "rfc822.eml", "BODY[2]<9999.10>", "BODY[2]<9999> \"\"" },
	{ "rfc822.eml", "BODY[3]", "BODY[3] NIL" },
	{ "rfc822.eml", "BODY[2.3]", "BODY[2.3] NIL" },
	{ "rfc822.eml", "BODY[1.HEADER]", "BODY[1.HEADER] NIL" },
	{ "rfc822.eml", "BODY[1.1]", "BODY[1.1] NIL" },
	{ "rfc822.eml", "BINARY[2.2]", "BINARY[2.2] {8}\r\n\x89PNG\r\n\x1a\n" },
	{ "rfc822.eml", "BINARY.SIZE[2.2]", "BINARY.SIZE[2.2] 8" },
	{ "rfc822.eml", "BINARY[2.1]", "BINARY[2.1] {18}\r\nHere is one photo." },
	{ "rfc822.eml", "BINARY[9]", "BINARY[9] NIL" },
	{ "plain.eml", "BODY[1]",
	    "BODY[1] {55}\r\nHi Bob,\r\n\r\nAre you free for lunch on Friday?\r\n\r\nAlice\r\n" },
	{ "plain.eml", "BODY[TEXT]<3.3>", "BODY[TEXT]<3> {3}\r\nBob" },
	{ "plain.eml", "BODY[1.MIME]<0.12>", "BODY[1.MIME]<0> {12}\r\nReturn-Path:" },
	{ "plain.eml", "BODY[2]", "BODY[2] NIL" },
	{ "plain.eml", "BODY[HEADER.FIELDS (To Subject)]",
	    "BODY[HEADER.FIELDS (To Subject)] {75}\r\nTo: Bob <bob@example.com>, "
	    "carol@example.net\r\nSubject: Lunch on Friday?\r\n\r\n" },
	{ "plain.eml", "BODY[HEADER.FIELDS (Received)]",
	    "BODY[HEADER.FIELDS (Received)] {166}\r\nReceived: from mail.example.org "
	    "(mail.example.org [192.0.2.10])\r\n\tby mx.example.com with ESMTPS id 4F2A1B\r\n"
	    "\tfor <bob@example.com>; Mon, 23 Nov 2026 10:15:02 +0100\r\n\r\n" },
	{ "plain.eml", "RFC822.TEXT", "RFC822.TEXT {55}\r\nHi Bob,\r\n\r\nAre you free for lunch "
				      "on Friday?\r\n\r\nAlice\r\n" },
	{ "mixed.eml", "BODY[1.2]", "BODY[1.2] {40}\r\n<b>Please find the invoice attached.</b>" },
	{ "mixed.eml", "BINARY[2]<0.8>", "BINARY[2]<0> {8}\r\n%PDF-1.4" },
	{ "mixed.eml", "BINARY.SIZE[2]", "BINARY.SIZE[2] 52" },
	{ "alternative.eml", "BINARY[1]",
	    "BINARY[1] {55}\r\nCaf\xc3\xa9 opening hours change in December.\r\nSee you there!" },
	{ "alternative.eml", "BODY[HEADER.FIELDS (\"Reply-To\")]",
	    "BODY[HEADER.FIELDS (Reply-To)] {30}\r\nReply-To: help@example.org\r\n\r\n" },
	{ "nosep.eml", "BODY[HEADER]",
	    "BODY[HEADER] {49}\r\nFrom: broken@example.com\r\nSubject: no separator\r\n" },
	{ "nosep.eml", "BODY[HEADER.FIELDS (Subject)]",
	    "BODY[HEADER.FIELDS (Subject)] {25}\r\nSubject: no separator\r\n\r\n" },
};

static void
test_fetch_sections(void)
{
	for (size_t i = 0; i < nitems(section_cases); i++) {
		const struct section_case *c = &section_cases[i];
		size_t len;
		char *d = t_load_mime(c->file, &len);
		char *out = render(c->item, d, len, NULL, NULL, NULL);
		char want[4096];

		snprintf(want, sizeof(want), "* 7 FETCH (%s)\r\n", c->want);
		CHECK_STR(out, want);
		free(out);
		free(d);
	}
}

/* Big contiguous sections go out as pointers into the message. */
static void
test_fetch_zero_copy(void)
{
	size_t len;
	char *d = t_load_mime("mixed.eml", &len);
	bool zc;
	char *out = render("BODY.PEEK[]", d, len, NULL, NULL, &zc);

	CHECK(zc);
	free(out);
	out = render("BODY.PEEK[HEADER.FIELDS (From)]", d, len, NULL, NULL, &zc);
	CHECK(!zc);
	free(out);
	free(d);
}

static void
test_fetch_binary(void)
{
	static const char nul[] = "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
				  "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--x\r\n"
				  "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--x--\r\n";
	int rc;
	char *out = render("BINARY[1]", nul, sizeof(nul) - 1, NULL, NULL, NULL);

	/* RFC 3516 4.2: NUL in the decoded data means literal8. */
	CHECK(memcmp(out, "* 7 FETCH (BINARY[1] ~{3}\r\n\0\1\2)\r\n", 31) == 0);
	free(out);
	/* RFC 3516 4.3: an unknown encoding fails the FETCH before any output. */
	out = render("(UID BINARY[2])", nul, sizeof(nul) - 1, NULL, &rc, NULL);
	CHECK_INT(rc, -2);
	CHECK_STR(out, "");
	free(out);
	out = render("BINARY.SIZE[2]", nul, sizeof(nul) - 1, NULL, &rc, NULL);
	CHECK_INT(rc, -2);
	free(out);
	/* BODY[] of the same part is fine: no decoding asked. */
	out = render("BODY[2]", nul, sizeof(nul) - 1, NULL, &rc, NULL);
	CHECK_INT(rc, 0);
	CHECK_STR(out, "* 7 FETCH (BODY[2] {5}\r\nbegin)\r\n");
	free(out);
}

/* A message whose body is a message; a digest; a header cut short. */
static void
test_fetch_nested_message(void)
{
	static const char fwd[] = "Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n"
				  "Subject: inner\r\n\r\nhello\r\n";
	static const char digest[] = "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n"
				     "\r\nSubject: one\r\n\r\nbody one\r\n--d--\r\n";
	static const char cut[] = "From: x@y\r\nSubject: cut";
	struct buf b;
	char *out;

	out = render("(BODY[1] BODY[1.1] BODY[1.HEADER] BODY[2])", fwd, sizeof(fwd) - 1, NULL,
	    NULL, NULL);
	CHECK_STR(out, "* 7 FETCH (BODY[1] {25}\r\nSubject: inner\r\n\r\nhello\r\n "
		       "BODY[1.1] {7}\r\nhello\r\n BODY[1.HEADER] {18}\r\nSubject: inner\r\n\r\n "
		       "BODY[2] NIL)\r\n");
	free(out);
	buf_init(&b, 0, 4096);
	CHECK_INT(imap_fetch_bodystructure(fwd, sizeof(fwd) - 1, false, &b), 0);
	buf_append(&b, "", 1);
	CHECK_STR((const char *)b.base,
	    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 25 (NIL \"inner\" NIL NIL NIL NIL NIL NIL "
	    "NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1) 3)");
	buf_clear(&b);
	/* RFC 2046 5.1.5: a digest part without Content-Type is message/rfc822. */
	CHECK_INT(imap_fetch_bodystructure(digest, sizeof(digest) - 1, false, &b), 0);
	buf_append(&b, "", 1);
	CHECK_STR((const char *)b.base,
	    "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 24 (NIL \"one\" NIL NIL NIL NIL NIL "
	    "NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1) 3) "
	    "\"digest\")");
	buf_deinit(&b);
	out = render("(BODY[HEADER.FIELDS (Subject)] RFC822.HEADER RFC822.TEXT)", cut,
	    sizeof(cut) - 1, NULL, NULL, NULL);
	CHECK_STR(out, "* 7 FETCH (BODY[HEADER.FIELDS (Subject)] {16}\r\nSubject: cut\r\n\r\n "
		       "RFC822.HEADER {23}\r\nFrom: x@y\r\nSubject: cut RFC822.TEXT \"\")\r\n");
	free(out);
}

/* Strings that need quoting or a literal in ENVELOPE. */
static void
test_fetch_strings(void)
{
	static const char msg[] = "Subject: say \"hi\" \\o/\r\nFrom: \"a\\\"b\" <x@y>\r\n"
				  "Message-ID: <m@x>\r\nIn-Reply-To: \r\n\r\n";
	struct buf b;

	buf_init(&b, 0, 4096);
	CHECK_INT(imap_fetch_envelope(msg, sizeof(msg) - 1, &b), 0);
	buf_append(&b, "", 1);
	CHECK_STR((const char *)b.base,
	    "(NIL \"say \\\"hi\\\" \\\\o/\" ((\"a\\\"b\" NIL \"x\" \"y\")) ((\"a\\\"b\" NIL \"x\" "
	    "\"y\")) ((\"a\\\"b\" NIL \"x\" \"y\")) NIL NIL NIL \"\" \"<m@x>\")");
	buf_deinit(&b);
}

static const struct t_test tests[] = {
	T(test_fetch_parse),
	T(test_fetch_parse_prefixes),
	T(test_fetch_parse_limits),
	T(test_fetch_flags),
	T(test_fetch_simple_render),
	T(test_fetch_date),
	T(test_fetch_structure),
	T(test_fetch_structure_render),
	T(test_fetch_sections),
	T(test_fetch_zero_copy),
	T(test_fetch_binary),
	T(test_fetch_nested_message),
	T(test_fetch_strings),
	{ 0 },
};

T_MAIN(tests)
