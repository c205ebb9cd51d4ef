/*
 * test_imap_mutf7.c -- modified UTF-7 mailbox names (RFC 3501 5.1.3):
 * both directions on a table of names, the RFC's own example, round trips,
 * and the strictness rules (one spelling per name).
 */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "harness.h"
#include "imap/imap_mutf7.h"

static const struct {
	const char *utf8, *mutf7;
} pairs[] = {
	{ "INBOX", "INBOX" },
	{ "a&b", "a&-b" },
	{ "&", "&-" },
	{ "", "" },
	/* RFC 3501 5.1.3: "~peter/mail/&U,BTFw-/&ZeVnLIqe-" */
	{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	    "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
	{ "Entw\xc3\xbc" "rfe", "Entw&APw-rfe" },
	{ "\xc3\xa9t\xc3\xa9", "&AOk-t&AOk-" },
	{ "\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail" }, /* U+1F4E7: a surrogate pair */
	{ "tab\x09x", "tab&AAk-x" },
};

static const char *const bad_mutf7[] = {
	"&", "&AOk", "&AGE-", /* "a" encoded */ "&AOk-&AOk-", /* two runs */ "&2D0-", /* lone high */
	"&3ec-", /* lone low */ "&AOkA-", /* extra bits */ "&A-", "&AO!-", "caf\xc3\xa9", "a\x01",
};

static const char *const bad_utf8[] = {
	"\xc3", "\xc0\xaf", /* overlong "/" */ "\xed\xa0\x80", /* surrogate */ "\xff", "a\xe2\x82",
	"\xf4\x90\x80\x80", /* > U+10FFFF */
};

static void
test_imap_mutf7_pairs(void)
{
	for (size_t i = 0; i < nitems(pairs); i++) {
		struct buf b;
		const char *err = NULL;
		char got[256];

		buf_init(&b, 0, 1024);
		CHECK_INT(imap_utf8_to_mutf7(pairs[i].utf8, strlen(pairs[i].utf8), &b, &err), 0);
		snprintf(got, sizeof(got), "%.*s", (int)buf_len(&b), (const char *)buf_peek(&b).p);
		CHECK_STR(got, pairs[i].mutf7);
		buf_clear(&b);
		CHECK_INT(imap_mutf7_to_utf8(pairs[i].mutf7, strlen(pairs[i].mutf7), &b, &err), 0);
		snprintf(got, sizeof(got), "%.*s", (int)buf_len(&b), (const char *)buf_peek(&b).p);
		CHECK_STR(got, pairs[i].utf8);
		buf_deinit(&b);
	}
}

static void
test_imap_mutf7_strict(void)
{
	for (size_t i = 0; i < nitems(bad_mutf7); i++) {
		struct buf b;
		const char *err = NULL;

		buf_init(&b, 0, 1024);
		if (imap_mutf7_to_utf8(bad_mutf7[i], strlen(bad_mutf7[i]), &b, &err) != -1)
			fprintf(stderr, "accepted bad modified UTF-7 %s\n", bad_mutf7[i]);
		CHECK(err != NULL);
		buf_deinit(&b);
	}
	for (size_t i = 0; i < nitems(bad_utf8); i++) {
		struct buf b;
		const char *err = NULL;

		buf_init(&b, 0, 1024);
		CHECK_INT(imap_utf8_to_mutf7(bad_utf8[i], strlen(bad_utf8[i]), &b, &err), -1);
		CHECK(err != NULL);
		buf_deinit(&b);
	}
}

/* Output bounds are errors, never overflows. */
static void
test_imap_mutf7_bounds(void)
{
	struct buf b;
	const char *err = NULL;

	buf_init(&b, 0, 4);
	CHECK_INT(imap_utf8_to_mutf7("\xc3\xa9\xc3\xa9", 4, &b, &err), -1);
	buf_clear(&b);
	CHECK_INT(imap_mutf7_to_utf8("abcdef", 6, &b, &err), -1);
	buf_deinit(&b);
}

static const struct t_test tests[] = {
	T(test_imap_mutf7_pairs),
	T(test_imap_mutf7_strict),
	T(test_imap_mutf7_bounds),
	{ 0 },
};

T_MAIN(tests)
