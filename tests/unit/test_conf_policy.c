/* test_conf_policy.c -- smtp_tls_policy_maps parsing and lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_policy.h"
#include "harness.h"

static void
test_policy_lookup(void)
{
	static const char table[] = "# outbound TLS policy\n"
				    "example.com   secure\n"
				    "\n"
				    ".example.com  encrypt\n"
				    ".sub.example.com verify\r\n"
				    "Plain.TEST none\n";
	struct conf_policy pm;
	char err[256] = "";

	CHECK(conf_policy_parse(&pm, "t", table, sizeof(table) - 1, err, sizeof(err)) == 0);
	CHECK_STR(err, "");
	CHECK_INT(pm.n, 4);
	CHECK_INT(conf_policy_level(&pm, "example.com", CONF_TLS_MAY), CONF_TLS_SECURE);
	CHECK_INT(conf_policy_level(&pm, "a.example.com", CONF_TLS_MAY), CONF_TLS_ENCRYPT);
	CHECK_INT(conf_policy_level(&pm, "b.sub.example.com", CONF_TLS_MAY), CONF_TLS_VERIFY);
	/* ".sub.example.com" is for sub-domains only, so the parent rule applies */
	CHECK_INT(conf_policy_level(&pm, "sub.example.com", CONF_TLS_MAY), CONF_TLS_ENCRYPT);
	CHECK_INT(conf_policy_level(&pm, "plain.test", CONF_TLS_MAY), CONF_TLS_NONE);
	CHECK_INT(conf_policy_level(&pm, "other.org", CONF_TLS_MAY), CONF_TLS_MAY);
	CHECK_INT(conf_policy_level(&pm, "xexample.com", CONF_TLS_ENCRYPT), CONF_TLS_ENCRYPT);
	conf_policy_free(&pm);
}

static const struct {
	const char *in;
	const char *err;
} bad[] = {
	{ "example.com\n", "t:1: expected \"DESTINATION LEVEL\"" },
	{ "ok.test may\nexample.com dane\n", "t:2: bad level: none, may, encrypt, verify or secure" },
	{ "example.com may extra\n", "t:1: expected \"DESTINATION LEVEL\"" },
	{ "exa_mple.com may\n", "t:1: bad destination" },
	{ "..example.com may\n", "t:1: bad destination" },
	{ "example..com may\n", "t:1: bad destination" },
	{ ". may\n", "t:1: bad destination" },
	{ "example.com. may\n", "t:1: bad destination" },
};

static void
test_policy_errors(void)
{
	for (size_t i = 0; i < nitems(bad); i++) {
		struct conf_policy pm;
		char err[256] = "";

		CHECK(conf_policy_parse(&pm, "t", bad[i].in, strlen(bad[i].in), err, sizeof(err)) < 0);
		CHECK_STR(err, bad[i].err);
		conf_policy_free(&pm);
	}
}

static void
test_policy_limits(void)
{
	struct conf_policy pm;
	char err[256] = "", line[CONF_POLICY_MAX_LINE + 8];
	static const char nul[] = "a.test may\n\0b.test may\n";

	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	CHECK(conf_policy_parse(&pm, "t", line, strlen(line), err, sizeof(err)) < 0);
	CHECK_STR(err, "t:1: line too long");
	conf_policy_free(&pm);
	CHECK(conf_policy_parse(&pm, "t", nul, sizeof(nul) - 1, err, sizeof(err)) < 0);
	CHECK_STR(err, "t:1: NUL byte in file");
	conf_policy_free(&pm);
}

static void
test_policy_load(void)
{
	char path[] = "/tmp/test_policy.XXXXXX", spec[64], err[256] = "";
	struct conf_policy pm;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, "mx.test encrypt\n", 16) == 16);
	close(fd);
	snprintf(spec, sizeof(spec), "hash:%s", path); /* as Postfix admins write it */
	CHECK(conf_policy_load(&pm, spec, err, sizeof(err)) == 0);
	CHECK_INT(conf_policy_level(&pm, "mx.test", CONF_TLS_MAY), CONF_TLS_ENCRYPT);
	conf_policy_free(&pm);
	unlink(path);
	CHECK(conf_policy_load(&pm, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "cannot open") != NULL);
	conf_policy_free(&pm);
	CHECK(conf_policy_load(&pm, "", err, sizeof(err)) == 0 && pm.n == 0);
}

static const struct t_test tests[] = {
	T(test_policy_lookup),
	T(test_policy_errors),
	T(test_policy_limits),
	T(test_policy_load),
	{ 0 },
};
T_MAIN(tests)
