/*
 * test_imap_seqset.c -- sequence sets: parsing (good and bad), membership
 * with "*" against the mailbox size, bounds, and the compact format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "imap/imap_seqset.h"

static const struct contains_case {
	const char *set;
	uint32_t max;
	const char *in;	 /* comma-separated values that must be in the set */
	const char *out; /* values that must not */
} contains_cases[] = {
	{ "1", 10, "1", "2,10" },
	{ "1:3", 10, "1,2,3", "4" },
	{ "3:1", 10, "1,2,3", "4" },
	{ "2,4:5,9", 10, "2,4,5,9", "1,3,6,8,10" },
	{ "*", 10, "10", "9,1" },
	{ "5:*", 10, "5,6,10", "4" },
	{ "*:5", 10, "5,6,10", "4" },
	/* RFC 9051 9: "n:*" holds the highest number even when n > max. */
	{ "15:*", 10, "10", "9,1" },
	{ "*", 0, "", "1" },
	{ "4294967294", 10, "4294967294", "10" },
	{ "1:4294967294", 10, "1,4294967294", "" },
};

static void
check_values(const struct imap_seqset *set, uint32_t max, const char *list, bool want)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		uint32_t v = (uint32_t)strtoul(tok, NULL, 10);
		if (imap_seqset_contains(set, v, max) != want) {
			char what[128];
			snprintf(what, sizeof(what), "value %u %s set (max %u)", v,
			    want ? "missing from" : "wrongly in", max);
			t_fail(__FILE__, __LINE__, what);
		}
	}
}

static void
test_seqset_contains(void)
{
	for (size_t i = 0; i < nitems(contains_cases); i++) {
		const struct contains_case *c = &contains_cases[i];
		struct imap_seqset set = { 0 };
		const char *err = NULL;

		CHECK_INT(imap_seqset_parse(c->set, strlen(c->set), &set, &err), 0);
		check_values(&set, c->max, c->in, true);
		check_values(&set, c->max, c->out, false);
		imap_seqset_free(&set);
		CHECK(set.r == NULL && set.n == 0);
	}
}

static void
test_seqset_bad(void)
{
	static const char *const bad[] = { "", "0", "1:0", "0:3", ",", "1,", ",1", "1::2", "1:",
		":1", "a", "1 2", "01", "1:*:3", "-1", "4294967295", "99999999999", "1,,2", "**",
		"1:2x", "$" };

	for (size_t i = 0; i < nitems(bad); i++) {
		struct imap_seqset set = { 0 };
		const char *err = NULL;

		if (imap_seqset_parse(bad[i], strlen(bad[i]), &set, &err) != -1) {
			t_fail(__FILE__, __LINE__, bad[i]);
			imap_seqset_free(&set);
			continue;
		}
		CHECK(err != NULL);
		CHECK(set.r == NULL && set.n == 0);
	}
}

/* The length is what counts, not a NUL: parse a prefix of a longer string. */
static void
test_seqset_len(void)
{
	struct imap_seqset set = { 0 };
	const char *err;

	CHECK_INT(imap_seqset_parse("1:3 junk", 3, &set, &err), 0);
	CHECK(imap_seqset_contains(&set, 3, 10));
	imap_seqset_free(&set);
}

static void
test_seqset_limit(void)
{
	struct buf b;
	struct imap_seqset set = { 0 };
	const char *err = NULL;

	buf_init(&b, 0, 1 << 20);
	for (unsigned i = 1; i <= IMAP_SEQSET_MAX_RANGES; i++)
		buf_printf(&b, "%s%u", i > 1 ? "," : "", 2 * i);
	CHECK_INT(imap_seqset_parse((const char *)b.base, buf_len(&b), &set, &err), 0);
	CHECK_INT(set.n, IMAP_SEQSET_MAX_RANGES);
	CHECK(imap_seqset_contains(&set, 2 * IMAP_SEQSET_MAX_RANGES, UINT32_MAX - 1));
	CHECK(!imap_seqset_contains(&set, 3, 100));
	imap_seqset_free(&set);
	buf_append_str(&b, ",1");
	CHECK_INT(imap_seqset_parse((const char *)b.base, buf_len(&b), &set, &err), -1);
	CHECK(err != NULL && strstr(err, "Too many") != NULL);
	buf_deinit(&b);
}

static void
test_seqset_bounds(void)
{
	struct imap_seqset set = { 0 };
	const char *err;
	uint32_t lo, hi;

	CHECK_INT(imap_seqset_parse("7,3:5,20:*", 10, &set, &err), 0);
	CHECK(imap_seqset_bounds(&set, 30, &lo, &hi));
	CHECK_INT(lo, 3);
	CHECK_INT(hi, 30);
	CHECK(imap_seqset_bounds(&set, 6, &lo, &hi)); /* 20:* is 6:20 -> 6 */
	CHECK_INT(lo, 3);
	CHECK_INT(hi, 6);
	CHECK(!imap_seqset_bounds(&set, 0, &lo, &hi));
	imap_seqset_free(&set);
	CHECK_INT(imap_seqset_parse("8:9", 3, &set, &err), 0);
	CHECK(!imap_seqset_bounds(&set, 5, &lo, &hi));
	imap_seqset_free(&set);
}

static void
check_format(const uint32_t *v, size_t n, const char *want)
{
	struct buf b;

	buf_init(&b, 0, 4096);
	CHECK_INT(imap_seqset_format(v, n, &b), 0);
	buf_append(&b, "", 1);
	CHECK_STR((const char *)(b.base != NULL ? b.base : (const uint8_t *)""), want);
	buf_deinit(&b);
}

static void
test_seqset_format(void)
{
	static const uint32_t a[] = { 1, 2, 3, 7 }, b[] = { 5 }, c[] = { 1, 1, 2, 4, 4, 5, 9 },
			      d[] = { 4294967294u, 4294967295u };
	struct buf small;

	check_format(a, nitems(a), "1:3,7");
	check_format(b, nitems(b), "5");
	check_format(c, nitems(c), "1:2,4:5,9");
	check_format(d, nitems(d), "4294967294:4294967295");
	check_format(NULL, 0, "");
	buf_init(&small, 0, 3);
	CHECK_INT(imap_seqset_format(a, nitems(a), &small), -1);
	buf_deinit(&small);
}

/* Format, then parse again: every value is in, its neighbours out. */
static void
test_seqset_roundtrip(void)
{
	uint32_t v[200];
	size_t n = 0;
	uint32_t x = 1;
	struct buf b;
	struct imap_seqset set = { 0 };
	const char *err;

	for (unsigned i = 0; i < nitems(v); i++) {
		x += (i * 7919u) % 5 == 0 ? 3 : 1;
		v[n++] = x;
	}
	buf_init(&b, 0, 1 << 16);
	CHECK_INT(imap_seqset_format(v, n, &b), 0);
	CHECK_INT(imap_seqset_parse((const char *)b.base, buf_len(&b), &set, &err), 0);
	for (uint32_t k = 1, j = 0; k <= x + 2; k++) {
		bool want = j < n && v[j] == k;
		CHECK(imap_seqset_contains(&set, k, x + 2) == want);
		if (want)
			j++;
	}
	imap_seqset_free(&set);
	buf_deinit(&b);
}

static const struct t_test tests[] = {
	T(test_seqset_contains),
	T(test_seqset_bad),
	T(test_seqset_len),
	T(test_seqset_limit),
	T(test_seqset_bounds),
	T(test_seqset_format),
	T(test_seqset_roundtrip),
	{ 0 },
};

T_MAIN(tests)
