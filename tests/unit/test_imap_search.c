/*
 * test_imap_search.c -- SEARCH: parsing (good, bad, BADCHARSET, limits),
 * every key evaluated on a small mailbox of the sample messages in
 * tests/unit/data/mime/ (flags, keywords, sizes, sets, dates in their own
 * zones, header and body strings after RFC 2047, transfer encoding and
 * charset decoding, Unicode case folding), NOT/OR nesting, and the SEARCH
 * and ESEARCH responses.
 * Criteria are written as IMAP text and turned into imap_arg trees by
 * tests/fuzz/imap_arg_tok.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/imap_arg_tok.h"
#include "harness.h"
#include "imap/imap_search.h"

static const char *const kw_work[] = { "$Work" };

/* The mailbox: message n is seq n + 1. Internal dates are chosen so that
   the day in the message's own zone differs from the UTC day for 3 and 6. */
static const struct box_msg {
	const char *file;
	uint32_t uid;
	unsigned flags;
	const char *const *kw;
	size_t nkw;
	int64_t idate;
	int tz;
} box[] = {
	{ "plain.eml", 10, IMAP_F_SEEN, kw_work, 1, 1795425302, 60 },	      /* 23 Nov */
	{ "alternative.eml", 20, IMAP_F_RECENT, NULL, 0, 1795507205, 0 },    /* 24 Nov */
	{ "mixed.eml", 30, IMAP_F_ANSWERED | IMAP_F_FLAGGED, NULL, 0, 1795660200,
	    -300 },							      /* 25 Nov local, 26 UTC */
	{ "rfc822.eml", 40, IMAP_F_DELETED | IMAP_F_DRAFT | IMAP_F_SEEN, NULL, 0, 1795680000,
	    60 },							      /* 26 Nov */
	{ "encoded.eml", 50, 0, NULL, 0, 1795777200, 60 },		      /* 27 Nov */
	{ "8bit.eml", 60, 0, NULL, 0, 1795819500, 540 },		      /* 28 local, 27 UTC */
};

static char *box_data[nitems(box)];
static size_t box_len[nitems(box)];

static void
box_load(void)
{
	for (size_t i = 0; i < nitems(box); i++)
		if (box_data[i] == NULL)
			box_data[i] = t_load_mime(box[i].file, &box_len[i]);
}

static struct imap_search_msg
box_msg(size_t i)
{
	return (struct imap_search_msg){ .seq = (uint32_t)i + 1, .uid = box[i].uid,
		.max_seq = nitems(box), .max_uid = 60, .flags = box[i].flags,
		.keywords = box[i].kw, .nkeywords = box[i].nkw, .internaldate = box[i].idate,
		.internaldate_tz = box[i].tz, .size = box_len[i], .data = box_data[i],
		.len = box_len[i] };
}

/* parse - criteria text to a program; rc as imap_search_parse returns. */
static int
parse(const char *text, struct imap_search **s, const char **err)
{
	struct tok_tree t;
	int rc;

	*s = NULL;
	*err = NULL;
	if (tok_parse(text, strlen(text), &t) < 0) {
		t_fail(__FILE__, __LINE__, text);
		return -9;
	}
	rc = imap_search_parse(t.args, t.n, s, err);
	tok_free(&t);
	return rc;
}

static const struct match_case {
	const char *criteria;
	const char *want; /* matching message numbers, "1,3" */
} match_cases[] = {
	{ "ALL", "1,2,3,4,5,6" },
	{ "SEEN", "1,4" },
	{ "UNSEEN", "2,3,5,6" },
	{ "ANSWERED", "3" },
	{ "UNANSWERED", "1,2,4,5,6" },
	{ "FLAGGED", "3" },
	{ "UNFLAGGED", "1,2,4,5,6" },
	{ "DELETED", "4" },
	{ "UNDELETED", "1,2,3,5,6" },
	{ "DRAFT", "4" },
	{ "UNDRAFT", "1,2,3,5,6" },
	{ "RECENT", "2" },
	{ "NEW", "2" },
	{ "OLD", "1,3,4,5,6" },
	{ "KEYWORD $Work", "1" },
	{ "KEYWORD $work", "1" },
	{ "UNKEYWORD $Work", "2,3,4,5,6" },
	{ "KEYWORD \\Seen", "1,4" },
	{ "KEYWORD Other", "" },
	{ "LARGER 702", "3,4" },
	{ "LARGER 701", "2,3,4" },
	{ "SMALLER 456", "1,6" },
	{ "SMALLER 99999999999999999", "1,2,3,4,5,6" },
	{ "2:4", "2,3,4" },
	{ "*", "6" },
	{ "5:*", "5,6" },
	{ "1,6", "1,6" },
	{ "UID 20:40", "2,3,4" },
	{ "UID *", "6" },
	{ "UID 45:*", "5,6" },
	{ "UID 99:*", "6" },
	{ "UID 11:19", "" },
	/* Header strings: RFC 2047 decoded, folded. */
	{ "FROM alice", "1" },
	{ "FROM ALICE", "1" },
	{ "FROM example.net", "3" },
	{ "FROM \"Newsletter, Example\"", "2" },
	{ "FROM andr\xc3\xa9", "5" },
	{ "FROM ANDR\xc3\x89", "5" },
	{ "TO bob", "1,2,3,6" },
	{ "TO undisclosed", "5" },
	{ "CC eve", "3" },
	{ "CC j\xc3\xbcrgen", "5" },
	{ "BCC bob", "" },
	{ "SUBJECT friday", "1" },
	{ "SUBJECT r\xc3\xa9union", "5" },
	{ "SUBJECT \"R\xc3\x89SUM\xc3\x89 DE\"", "5" },
	{ "SUBJECT gr\xc3\xbc\xc3\x9f" "e", "6" },
	{ "SUBJECT GR\xc3\x9cSSE", "6" }, /* full case folding: sharp s is ss */
	{ "SUBJECT {4}\r\nnews", "2" },	 /* a literal */
	{ "SUBJECT \"\"", "1,2,3,4,5,6" },
	{ "HEADER Message-ID inv117", "3" },
	{ "HEADER message-id <FWD1@", "4" },
	{ "HEADER In-Reply-To \"\"", "3" },
	{ "HEADER X-Nothing \"\"", "" },
	{ "HEADER Received 4F2A1B", "1" },
	/* Bodies: text parts only, decoded and converted to UTF-8. */
	{ "BODY caf\xc3\xa9", "2,5" },
	{ "BODY \"opening hours\"", "2" },
	{ "BODY photo", "4" },
	{ "BODY invoice", "3" },
	{ "BODY %PDF", "" },
	{ "BODY alice@example", "" },
	{ "BODY Alice", "1" },
	{ "BODY stra\xc3\x9f" "e", "6" },
	{ "BODY STRASSE", "6" },
	{ "BODY \"servi \xc3\xa0 10h\"", "5" },
	{ "TEXT lunch", "1" },
	{ "TEXT received", "1" },
	{ "TEXT frank", "4" },
	{ "TEXT caf\xc3\xa9", "2,5" },
	/* Dates: internal date's day in its own zone. */
	{ "ON 23-Nov-2026", "1" },
	{ "ON 25-Nov-2026", "3" },
	{ "ON 26-Nov-2026", "4" },
	{ "ON 28-nov-2026", "6" },
	{ "BEFORE 25-Nov-2026", "1,2" },
	{ "SINCE 27-Nov-2026", "5,6" },
	{ "SINCE \"1-Jan-2027\"", "" },
	{ "BEFORE 1-Jan-1970", "" },
	/* Sent dates: the Date: field's day in its zone. */
	{ "SENTON 28-Nov-2026", "6" },
	{ "SENTON 25-Nov-2026", "3" },
	{ "SENTBEFORE 24-Nov-2026", "1" },
	{ "SENTSINCE 27-Nov-2026", "5,6" },
	/* Nesting. */
	{ "NOT SEEN", "2,3,5,6" },
	{ "NOT NOT NOT SEEN", "2,3,5,6" },
	{ "OR SEEN FLAGGED", "1,3,4" },
	{ "OR (SEEN DELETED) ANSWERED", "3,4" },
	{ "NOT (OR 1 2)", "3,4,5,6" },
	{ "OR OR 1 2 3", "1,2,3" },
	{ "(FROM alice TO bob)", "1" },
	{ "1:3 NOT 2", "1,3" },
	{ "((((SEEN))))", "1,4" },
	{ "OR NOT SEEN NOT UNSEEN", "1,2,3,4,5,6" },
	{ "UNSEEN SMALLER 500 NOT TO bob", "5" },
	{ "CHARSET UTF-8 SUBJECT r\xc3\xa9sum\xc3\xa9", "5" },
	{ "CHARSET us-ascii ALL", "1,2,3,4,5,6" },
	{ "RETURN (COUNT) CHARSET UTF-8 DELETED", "4" },
};

static void
test_search_match(void)
{
	box_load();
	for (size_t i = 0; i < nitems(match_cases); i++) {
		const struct match_case *c = &match_cases[i];
		struct imap_search *s;
		const char *err;
		char got[64] = "";

		if (parse(c->criteria, &s, &err) != 0) {
			t_fail(__FILE__, __LINE__, c->criteria);
			continue;
		}
		for (size_t k = 0; k < nitems(box); k++) {
			struct imap_search_msg m = box_msg(k);
			if (imap_search_match(s, &m) == 1)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%zu",
				    got[0] != '\0' ? "," : "", k + 1);
		}
		if (strcmp(got, c->want) != 0) {
			char what[256];
			snprintf(what, sizeof(what), "%s: got \"%s\", want \"%s\"", c->criteria, got,
			    c->want);
			t_fail(__FILE__, __LINE__, what);
		}
		imap_search_free(&s);
		CHECK(s == NULL);
	}
}

static const char *const bad_criteria[] = {
	"FOO",
	"FROM",
	"LARGER",
	"LARGER x",
	"LARGER -1",
	"LARGER 12345678901234567890",
	"BEFORE",
	"BEFORE 1-Foo-2026",
	"BEFORE 32-Jan-2026",
	"BEFORE 31-Feb-2026",
	"BEFORE 2026-11-01",
	"BEFORE 1-Jan-26",
	"OR SEEN",
	"NOT",
	"()",
	"UID",
	"UID x",
	"UID (1)",
	"0",
	"1:0",
	"$",
	"HEADER Subject",
	"HEADER \"\" x",
	"KEYWORD \"\"",
	"RETURN MIN ALL",
	"RETURN (FOO) ALL",
	"RETURN (MIN)",
	"CHARSET",
	"CHARSET UTF-8",
	"(SEEN) FOO",
	"SEEN (FOO)",
	"\"SEEN\"",
	"FROM (a)",
};

static void
test_search_parse_bad(void)
{
	for (size_t i = 0; i < nitems(bad_criteria); i++) {
		struct imap_search *s;
		const char *err;
		int rc = parse(bad_criteria[i], &s, &err);

		if (rc != -1 || s != NULL || err == NULL)
			t_fail(__FILE__, __LINE__, bad_criteria[i]);
		imap_search_free(&s);
	}
}

/* Every prefix of every criteria text: parsed or refused, never more. */
static void
test_search_parse_prefixes(void)
{
	for (size_t i = 0; i < nitems(match_cases); i++) {
		const char *c = match_cases[i].criteria;

		for (size_t n = 0; n <= strlen(c); n++) {
			struct tok_tree t;
			struct imap_search *s;
			const char *err = NULL;
			int rc;

			if (tok_parse(c, n, &t) < 0)
				continue;
			rc = imap_search_parse(t.args, t.n, &s, &err);
			CHECK((rc == 0 && s != NULL) || (rc < 0 && s == NULL && err != NULL));
			imap_search_free(&s);
			tok_free(&t);
		}
	}
}

static void
test_search_parse_misc(void)
{
	struct imap_search *s;
	const char *err;

	CHECK_INT(imap_search_parse(NULL, 0, &s, &err), -1);
	CHECK(err != NULL);
	CHECK_INT(parse("CHARSET ISO-8859-1 ALL", &s, &err), -2);
	CHECK_STR(err, IMAP_SEARCH_BADCHARSET);
	CHECK(s == NULL);

	CHECK_INT(parse("RETURN (MIN MAX) ALL", &s, &err), 0);
	CHECK_INT(imap_search_return(s), IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX);
	CHECK(imap_search_is_esearch(s));
	imap_search_free(&s);
	CHECK_INT(parse("RETURN () ALL", &s, &err), 0);
	CHECK_INT(imap_search_return(s), IMAP_SEARCH_RET_ALL);
	imap_search_free(&s);
	CHECK_INT(parse("return (count save all min max) all", &s, &err), 0);
	CHECK_INT(imap_search_return(s), 0x1f);
	imap_search_free(&s);
	CHECK_INT(parse("ALL", &s, &err), 0);
	CHECK_INT(imap_search_return(s), 0);
	CHECK(!imap_search_is_esearch(s));
	imap_search_free(&s);
}

static void
test_search_needs_data(void)
{
	static const struct {
		const char *criteria;
		bool data;
	} cases[] = {
		{ "SEEN", false },
		{ "ON 1-Jan-2026 LARGER 5 UID 1:* 1:2 KEYWORD x", false },
		{ "FROM x", true },
		{ "SENTON 1-Jan-2026", true },
		{ "OR SEEN BODY x", true },
		{ "NOT (TEXT x)", true },
		{ "HEADER X-A b", true },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		struct imap_search *s;
		const char *err;

		if (parse(cases[i].criteria, &s, &err) != 0) {
			t_fail(__FILE__, __LINE__, cases[i].criteria);
			continue;
		}
		if (imap_search_needs_data(s) != cases[i].data)
			t_fail(__FILE__, __LINE__, cases[i].criteria);
		imap_search_free(&s);
	}
}

static void
test_search_limits(void)
{
	struct buf b;
	struct imap_search *s;
	const char *err;

	buf_init(&b, 0, 1 << 20);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH + 2; i++)
		buf_append_str(&b, "NOT ");
	buf_append_str(&b, "ALL");
	buf_append(&b, "", 1);
	CHECK_INT(parse((const char *)b.base, &s, &err), -1);
	CHECK(err != NULL && strstr(err, "deep") != NULL);
	buf_clear(&b);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH + 2; i++)
		buf_append_str(&b, "(");
	buf_append_str(&b, "ALL");
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH + 2; i++)
		buf_append_str(&b, ")");
	buf_append(&b, "", 1);
	CHECK_INT(parse((const char *)b.base, &s, &err), -1);
	buf_clear(&b);
	for (int i = 0; i < IMAP_SEARCH_MAX_KEYS + 1; i++)
		buf_append_str(&b, i > 0 ? " SEEN" : "SEEN");
	buf_append(&b, "", 1);
	{
		/* More keys than one tokenizer list holds: build the args directly. */
		struct imap_arg *args = calloc(IMAP_SEARCH_MAX_KEYS + 1, sizeof(*args));
		for (int i = 0; i < IMAP_SEARCH_MAX_KEYS + 1; i++)
			args[i] = (struct imap_arg){ .type = IMAP_ARG_ATOM, .str = "SEEN", .len = 4 };
		CHECK_INT(imap_search_parse(args, IMAP_SEARCH_MAX_KEYS + 1, &s, &err), -1);
		CHECK(err != NULL && strstr(err, "many") != NULL);
		CHECK_INT(imap_search_parse(args, IMAP_SEARCH_MAX_KEYS - 1, &s, &err), 0);
		imap_search_free(&s);
		free(args);
	}
	buf_deinit(&b);
}

/* A message with no Date, broken MIME and undecodable bytes. */
static void
test_search_broken(void)
{
	static const char msg[] = "Subject: =?x-unknown?q?abc?= =?utf-8?b?!!!?=\r\n"
				  "Content-Type: text/plain; charset=x-none\r\n"
				  "Content-Transfer-Encoding: x-strange\r\n\r\nraw \xff\xfe body\r\n";
	struct imap_search_msg m = { .seq = 1, .uid = 1, .max_seq = 1, .max_uid = 1,
		.data = msg, .len = sizeof(msg) - 1, .size = sizeof(msg) - 1 };
	static const struct match_case cases[] = {
		{ "SUBJECT abc", "1" },
		{ "BODY \"raw ?? body\"", "1" },
		{ "BODY raw", "1" },
		{ "SENTON 1-Jan-1970", "" },
		{ "SENTBEFORE 1-Jan-2100", "" },
		{ "NOT SENTSINCE 1-Jan-1970", "1" },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		struct imap_search *s;
		const char *err;

		if (parse(cases[i].criteria, &s, &err) != 0) {
			t_fail(__FILE__, __LINE__, cases[i].criteria);
			continue;
		}
		if (imap_search_match(s, &m) != (cases[i].want[0] == '1'))
			t_fail(__FILE__, __LINE__, cases[i].criteria);
		imap_search_free(&s);
	}
}

static void
check_format(const char *criteria, bool uid, bool rev2, const uint32_t *v, size_t n,
    const char *want)
{
	struct imap_search *s;
	const char *err;
	struct buf b;

	if (parse(criteria, &s, &err) != 0) {
		t_fail(__FILE__, __LINE__, criteria);
		return;
	}
	buf_init(&b, 0, 4096);
	CHECK_INT(imap_search_format_ex(s, "A1", uid, rev2, v, n, &b), 0);
	buf_append(&b, "", 1);
	CHECK_STR((const char *)b.base, want);
	buf_deinit(&b);
	imap_search_free(&s);
}

static void
test_search_format(void)
{
	static const uint32_t v[] = { 1, 3, 4, 5, 9 };

	check_format("ALL", false, false, v, nitems(v), "* SEARCH 1 3 4 5 9\r\n");
	check_format("ALL", true, false, NULL, 0, "* SEARCH\r\n");
	check_format("ALL", false, true, v, nitems(v), "* ESEARCH (TAG \"A1\") ALL 1,3:5,9\r\n");
	check_format("RETURN (MIN MAX COUNT ALL) ALL", true, false, v, nitems(v),
	    "* ESEARCH (TAG \"A1\") UID MIN 1 MAX 9 COUNT 5 ALL 1,3:5,9\r\n");
	check_format("RETURN (MIN MAX COUNT ALL) ALL", false, false, NULL, 0,
	    "* ESEARCH (TAG \"A1\") COUNT 0\r\n");
	check_format("RETURN () ALL", false, false, v, 2, "* ESEARCH (TAG \"A1\") ALL 1,3\r\n");
	check_format("RETURN (MIN) ALL", false, false, NULL, 0, "* ESEARCH (TAG \"A1\")\r\n");
	check_format("RETURN (SAVE) ALL", false, false, v, nitems(v), "");
	check_format("RETURN (SAVE MIN) ALL", false, false, v, nitems(v),
	    "* ESEARCH (TAG \"A1\") MIN 1\r\n");
}

static void
test_search_cleanup(void)
{
	for (size_t i = 0; i < nitems(box); i++) {
		free(box_data[i]);
		box_data[i] = NULL;
	}
}

static const struct t_test tests[] = {
	T(test_search_match),
	T(test_search_parse_bad),
	T(test_search_parse_prefixes),
	T(test_search_parse_misc),
	T(test_search_needs_data),
	T(test_search_limits),
	T(test_search_broken),
	T(test_search_format),
	T(test_search_cleanup),
	{ 0 },
};

T_MAIN(tests)
