/* test_anvil.c -- per-IP connection counts, AUTH lockout, expiry and the cap,
   all with explicit now_ms (no clock). */
#include <stdio.h>

#include "harness.h"
#include "net/anvil.h"

static void
test_anvil_conns(void)
{
	struct anvil *a = anvil_new();

	CHECK_INT(anvil_conn_open(a, "192.0.2.1"), 1);
	CHECK_INT(anvil_conn_open(a, "192.0.2.1"), 2);
	CHECK_INT(anvil_conn_open(a, "192.0.2.2"), 1);
	/* Same address, other spellings. */
	CHECK_INT(anvil_conn_open(a, "::ffff:192.0.2.1"), 3);
	CHECK_INT(anvil_conn_open(a, "2001:db8::1"), 1);
	CHECK_INT(anvil_conn_open(a, "2001:0db8:0:0::0001"), 2);
	CHECK_INT(anvil_entries(a), 3);
	anvil_conn_close(a, "192.0.2.1");
	anvil_conn_close(a, "192.0.2.1");
	CHECK_INT(anvil_conn_open(a, "192.0.2.1"), 2);
	anvil_conn_close(a, "192.0.2.2");
	anvil_conn_close(a, "192.0.2.2");    /* extra close: ignored */
	anvil_conn_close(a, "198.51.100.9"); /* never seen: ignored */
	CHECK_INT(anvil_entries(a), 2);      /* an empty entry is freed at once */
	anvil_free(&a);
	CHECK(a == NULL);
	anvil_free(&a);
}

static void
test_anvil_lockout(void)
{
	struct anvil *a = anvil_new();
	const char *ip = "203.0.113.5";

	CHECK(!anvil_auth_locked(a, ip, 1000));
	CHECK_INT(anvil_auth_fail(a, ip, 1000, 3, 60000), 1);
	CHECK_INT(anvil_auth_fail(a, ip, 2000, 3, 60000), 2);
	CHECK(!anvil_auth_locked(a, ip, 2000));
	CHECK_INT(anvil_auth_fail(a, ip, 3000, 3, 60000), 3);
	CHECK(anvil_auth_locked(a, ip, 3000));
	CHECK(anvil_auth_locked(a, ip, 62999));
	CHECK(!anvil_auth_locked(a, "203.0.113.6", 3000)); /* others unaffected */
	CHECK(!anvil_auth_locked(a, ip, 63000));
	/* The lockout started a new count. */
	CHECK_INT(anvil_auth_fail(a, ip, 63000, 3, 60000), 1);
	anvil_auth_ok(a, ip);
	CHECK_INT(anvil_auth_fail(a, ip, 63001, 3, 60000), 1);
	CHECK(!anvil_auth_locked(a, ip, 63001));
	anvil_free(&a);
}

static void
test_anvil_window(void)
{
	struct anvil *a = anvil_new();
	const char *ip = "2001:db8::66";

	CHECK_INT(anvil_auth_fail(a, ip, 0, 3, 1000), 1);
	CHECK_INT(anvil_auth_fail(a, ip, 999, 3, 1000), 2);
	/* The window began at the first failure: it is over at 1000. */
	CHECK_INT(anvil_auth_fail(a, ip, 1000, 3, 1000), 1);
	CHECK(!anvil_auth_locked(a, ip, 1000));
	anvil_free(&a);
}

static void
test_anvil_expiry(void)
{
	struct anvil *a = anvil_new();

	anvil_auth_fail(a, "192.0.2.10", 0, 5, 1000);
	anvil_auth_fail(a, "192.0.2.11", 0, 1, 1000); /* locked until 1000 */
	CHECK_INT(anvil_conn_open(a, "192.0.2.12"), 1);
	CHECK_INT(anvil_entries(a), 3);
	CHECK(anvil_auth_locked(a, "192.0.2.11", 999));
	CHECK_INT(anvil_entries(a), 3);
	/* Later calls sweep the idle entries whose state has run out; the
	   one with an open connection stays. */
	CHECK(!anvil_auth_locked(a, "192.0.2.11", 5000));
	CHECK_INT(anvil_entries(a), 1);
	CHECK_INT(anvil_conn_open(a, "192.0.2.12"), 2);
	anvil_free(&a);
}

/* fill - n distinct IPv4 addresses starting at 10.0.0.0. */
static void
ip_of(unsigned i, char *dst, size_t size)
{
	snprintf(dst, size, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

static void
test_anvil_cap(void)
{
	struct anvil *a = anvil_new();
	char ip[32];

	/* Idle AUTH entries fill the table; the oldest is evicted. */
	for (unsigned i = 0; i < ANVIL_MAX_ENTRIES; i++) {
		ip_of(i, ip, sizeof(ip));
		anvil_auth_fail(a, ip, 0, 10, 1000000);
	}
	CHECK_INT(anvil_entries(a), ANVIL_MAX_ENTRIES);
	CHECK_INT(anvil_conn_open(a, "192.0.2.1"), 1);
	CHECK_INT(anvil_entries(a), ANVIL_MAX_ENTRIES);
	ip_of(0, ip, sizeof(ip));
	CHECK_INT(anvil_auth_fail(a, ip, 1, 10, 1000000), 1); /* was evicted */
	ip_of(ANVIL_MAX_ENTRIES - 1, ip, sizeof(ip));
	CHECK_INT(anvil_auth_fail(a, ip, 1, 10, 1000000), 2); /* was kept */
	anvil_free(&a);

	/* Busy entries are never evicted: a new address goes untracked. */
	a = anvil_new();
	for (unsigned i = 0; i < ANVIL_MAX_ENTRIES; i++) {
		ip_of(i, ip, sizeof(ip));
		anvil_conn_open(a, ip);
	}
	CHECK_INT(anvil_conn_open(a, "192.0.2.1"), 1);
	CHECK_INT(anvil_conn_open(a, "192.0.2.1"), 1);
	CHECK_INT(anvil_auth_fail(a, "192.0.2.1", 0, 1, 1000), 0);
	ip_of(7, ip, sizeof(ip));
	CHECK_INT(anvil_conn_open(a, ip), 2);
	CHECK_INT(anvil_entries(a), ANVIL_MAX_ENTRIES);
	anvil_free(&a);
}

static void
test_anvil_unparsable(void)
{
	struct anvil *a = anvil_new();

	CHECK_INT(anvil_conn_open(a, "not-an-ip"), 1);
	CHECK_INT(anvil_conn_open(a, ""), 2); /* shares the one entry */
	CHECK_INT(anvil_conn_open(a, "192.0.2.1"), 1);
	anvil_free(&a);
}

static const struct t_test tests[] = {T(test_anvil_conns),
                                      T(test_anvil_lockout),
                                      T(test_anvil_window),
                                      T(test_anvil_expiry),
                                      T(test_anvil_cap),
                                      T(test_anvil_unparsable),
                                      {0}};
T_MAIN(tests)
