/*
 * test_sts.c -- MTA-STS record and policy parsers (src/sts/sts.c): the
 * RFC 8461 examples, every required key, limits, and MX pattern matching
 * (section 4.1: a wildcard covers exactly one label). Policies are also fed
 * with LF and CRLF line ends, and every truncation of a valid policy must
 * either parse or fail cleanly.
 */
#include <string.h>

#include "harness.h"
#include "sts/sts.h"

static void
test_record(void)
{
	static const struct {
		const char *txt, *id; /* id NULL: must fail */
	} cases[] = {
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z"},
		{"v=STSv1;id=abc", "abc"},
		{"v = STSv1 ; id = X1 ; ext=val", "X1"},
		{"v=STSv1; foo=bar; id=1", "1"},
		{"v=STSv2; id=1", NULL},
		{"id=1; v=STSv1", NULL},
		{"v=STSv1", NULL},
		{"v=STSv1; id=", NULL},
		{"v=STSv1; id=a-b", NULL},
		{"v=STSv1; id=123456789012345678901234567890123", NULL},
		{"v=STSv1; id=1 junk", NULL},
		{"", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char id[STS_ID_MAX + 1] = "";
		const char *err = NULL;
		int rc = sts_record_parse(cases[i].txt, id, &err);

		if (cases[i].id == NULL) {
			CHECK_INT(rc, -1);
			CHECK(err != NULL);
		} else {
			CHECK_INT(rc, 0);
			CHECK_STR(id, cases[i].id);
		}
	}
}

static const char rfc_policy[] = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                                 "mx: *.example.net\r\nmx: backupmx.example.com\r\n"
                                 "max_age: 604800\r\n";

static void
test_policy(void)
{
	struct sts_policy p;
	const char *err = NULL;
	char lf[sizeof(rfc_policy)];
	size_t n = 0;

	CHECK_INT(sts_policy_parse(rfc_policy, strlen(rfc_policy), &p, &err), 0);
	CHECK_INT(p.mode, STS_MODE_ENFORCE);
	CHECK_INT(p.max_age, 604800);
	CHECK_INT(p.nmx, 3);
	CHECK_STR(p.mx[1], "*.example.net");
	/* The same with bare LF line ends. */
	for (const char *c = rfc_policy; *c != '\0'; c++)
		if (*c != '\r')
			lf[n++] = *c;
	CHECK_INT(sts_policy_parse(lf, n, &p, &err), 0);
	CHECK_INT(p.nmx, 3);
	/* none needs no mx; unknown keys are ignored; the first mode wins. */
	CHECK_INT(sts_policy_parse("version: STSv1\nmode: none\nmax_age: 0\nfoo: bar\n", 45, &p, &err),
	          0);
	CHECK_INT(p.mode, STS_MODE_NONE);
	CHECK_INT(sts_policy_parse("version: STSv1\nmode: testing\nmode: enforce\nmx: a.b\nmax_age: 1",
	                           61, &p, &err),
	          0);
	CHECK_INT(p.mode, STS_MODE_TESTING);
}

static void
test_policy_bad(void)
{
	static const char *const bad[] = {
		"version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n",
		"mode: enforce\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 31557601\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx a.b\nmax_age: 1\n",
	};
	struct sts_policy p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *err = NULL;

		CHECK_INT(sts_policy_parse(bad[i], strlen(bad[i]), &p, &err), -1);
		CHECK(err != NULL);
	}
	for (size_t n = 0; n < sizeof(rfc_policy) - 1; n++) {
		const char *err = NULL;
		int rc = sts_policy_parse(rfc_policy, n, &p, &err);

		CHECK(rc == 0 || (rc == -1 && err != NULL));
	}
}

static void
test_mx_match(void)
{
	struct sts_policy p;
	const char *err = NULL;

	CHECK_INT(sts_policy_parse(rfc_policy, strlen(rfc_policy), &p, &err), 0);
	CHECK(sts_policy_mx_match(&p, "mail.example.com"));
	CHECK(sts_policy_mx_match(&p, "MAIL.Example.COM."));
	CHECK(sts_policy_mx_match(&p, "mx1.example.net"));
	CHECK(!sts_policy_mx_match(&p, "example.net"));
	CHECK(!sts_policy_mx_match(&p, "a.b.example.net"));
	CHECK(!sts_policy_mx_match(&p, "other.example.com"));
	CHECK(!sts_policy_mx_match(&p, ""));
}

static const struct t_test tests[] = {
        T(test_record),
        T(test_policy),
        T(test_policy_bad),
        T(test_mx_match),
        {0},
};

T_MAIN(tests)
