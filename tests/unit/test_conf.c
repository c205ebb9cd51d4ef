/*
 * test_conf.c -- the config parser: every type, suffixes, bounds, and each
 * error with its exact "file:line: message" text; dump reads back.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "harness.h"

/* Parses text as "t.conf"; returns the rc and leaves the error in err. */
static int
parse(struct conf *c, const char *text, char *err, size_t errsize)
{
	return conf_parse_buffer(c, "t.conf", text, strlen(text), err, errsize);
}

/* The value conf_dump() prints for key ("" if absent); static storage. */
static const char *
dumped(const struct conf *c, const char *key)
{
	static char value[8192];
	char *text = NULL, *line;
	size_t len = 0, klen = strlen(key);
	FILE *fp = open_memstream(&text, &len);

	conf_dump(fp, c, false);
	fclose(fp);
	value[0] = '\0';
	for (line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (strncmp(line, key, klen) == 0 && strncmp(line + klen, " =", 2) == 0) {
			snprintf(value, sizeof(value), "%s",
			         line + klen + 2 + (line[klen + 2] == ' '));
			break;
		}
	}
	free(text);
	return value;
}

static void
test_conf_defaults(void)
{
	struct conf c;

	conf_init_defaults(&c);
	CHECK_STR(c.data_dir, "/var/lib/hikyaku");
	CHECK_STR(c.run_user, "");
	CHECK_STR(c.log_file, "");
	CHECK(c.myhostname != NULL && c.myhostname[0] != '\0');
	CHECK_INT(c.smtp_listen.n, 0);
	CHECK_INT(c.smtpd_tls_cert_file.n, 0);
	CHECK_INT(c.smtp_tls_security_level, CONF_TLS_MAY);
	CHECK_STR(c.smtp_tls_CAfile, "/etc/ssl/certs/ca-certificates.crt");
	CHECK_INT(c.smtp_tls_loglevel, 1);
	CHECK_INT(c.relay_port, 25);
	CHECK_STR(c.dns_server, "");
	CHECK_INT(c.message_size_limit, 52428800);
	CHECK_INT(c.smtpd_command_line_limit, 4096);
	CHECK_INT(c.smtpd_recipient_limit, 1000);
	CHECK_INT(c.smtpd_hard_error_limit, 20);
	CHECK_INT(c.smtpd_timeout, 300000);
	CHECK_INT(c.smtpd_client_connection_count_limit, 50);
	CHECK_INT(c.smtpd_auth_failure_limit, 5);
	CHECK_INT(c.smtpd_auth_lockout_time, 600000);
	CHECK_INT(c.smtpd_error_sleep_time, 1000);
	CHECK(c.smtpd_forbid_bare_newline);
	conf_free(&c);
}

/* Accepted values: what is stored, as conf_dump() prints it back. */
static const struct value_case {
	const char *text, *key, *want;
} value_cases[] = {
        {"message_size_limit = 1024", "message_size_limit", "1024"},
        {"message_size_limit = 10k", "message_size_limit", "10240"},
        {"message_size_limit = 10K", "message_size_limit", "10240"},
        {"message_size_limit = 3m", "message_size_limit", "3145728"},
        {"message_size_limit = 3M", "message_size_limit", "3145728"},
        {"message_size_limit = 16g", "message_size_limit", "17179869184"},
        {"smtpd_timeout = 90", "smtpd_timeout", "90s"},
        {"smtpd_timeout = 90s", "smtpd_timeout", "90s"},
        {"smtpd_timeout = 120", "smtpd_timeout", "2m"},
        {"smtpd_timeout = 1h", "smtpd_timeout", "1h"},
        {"smtpd_auth_lockout_time = 1d", "smtpd_auth_lockout_time", "1d"},
        {"smtpd_error_sleep_time = 0", "smtpd_error_sleep_time", "0s"},
        {"smtpd_recipient_limit = 1", "smtpd_recipient_limit", "1"},
        {"smtpd_recipient_limit = 100000", "smtpd_recipient_limit", "100000"},
        {"smtpd_client_connection_count_limit = 0", "smtpd_client_connection_count_limit", "0"},
        {"smtpd_forbid_bare_newline = no", "smtpd_forbid_bare_newline", "no"},
        {"smtpd_forbid_bare_newline = TRUE", "smtpd_forbid_bare_newline", "yes"},
        {"smtpd_forbid_bare_newline = false", "smtpd_forbid_bare_newline", "no"},
        {"smtp_tls_security_level = secure", "smtp_tls_security_level", "secure"},
        {"smtp_tls_security_level = None", "smtp_tls_security_level", "none"},
        {"smtp_tls_CAfile = /x y/ca.pem", "smtp_tls_CAfile", "/x y/ca.pem"},
        {"  myhostname\t=\tMX.example.org  \r", "myhostname", "MX.example.org"},
        {"run_user=hikyaku", "run_user", "hikyaku"},
        {"smtpd_tls_cert_file = /a, /b\nsmtpd_tls_key_file = /ka /kb", "smtpd_tls_cert_file",
         "/a /b"},
        {"smtp_listen = 127.0.0.1:25 [::1]:25", "smtp_listen", "127.0.0.1:25 [::1]:25"},
        {"smtp_listen = 0.0.0.0:2525,[::]:2525", "smtp_listen", "0.0.0.0:2525 [::]:2525"},
        {"smtp_listen =", "smtp_listen", ""},
        {"dns_server = 127.0.0.1@5353", "dns_server", "127.0.0.1@5353"},
        {"dns_server = ::1", "dns_server", "::1"},
        {"dns_server = ", "dns_server", ""},
        {"smtp_tls_policy_maps = a = b # c", "smtp_tls_policy_maps", "a = b # c"},
        {"# only a comment\n\n   \n", "relay_port", "25"},
        {"relay_port = 2525", "relay_port", "2525"},
};

static void
test_conf_values(void)
{
	for (size_t i = 0; i < nitems(value_cases); i++) {
		const struct value_case *vc = &value_cases[i];
		struct conf c;
		char err[512];

		if (parse(&c, vc->text, err, sizeof(err)) != 0)
			t_fail(__FILE__, __LINE__, err);
		else
			CHECK_STR(dumped(&c, vc->key), vc->want);
		conf_free(&c);
	}
}

/* Typed storage: times in ms, sizes in bytes. */
static void
test_conf_storage(void)
{
	struct conf c;
	char err[512];

	CHECK_INT(parse(&c,
	                "smtpd_timeout = 5m\nmessage_size_limit = 2k\nrelay_port = 26\n"
	                "smtp_tls_security_level = verify\nsmtpd_forbid_bare_newline = no\n",
	                err, sizeof(err)),
	          0);
	CHECK_INT(c.smtpd_timeout, 300000);
	CHECK_INT(c.message_size_limit, 2048);
	CHECK_INT(c.relay_port, 26);
	CHECK_INT(c.smtp_tls_security_level, CONF_TLS_VERIFY);
	CHECK(!c.smtpd_forbid_bare_newline);
	CHECK_STR(c.path, "t.conf");
	conf_free(&c);
}

static void
test_conf_listen(void)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;
	struct conf c;
	char err[512];

	CHECK_INT(parse(&c, "smtp_listen = 127.0.0.2:2525 [::1]:587\nimaps_listen = [::]:993", err,
	                sizeof(err)),
	          0);
	CHECK_INT(c.smtp_listen.n, 2);
	sin = (const struct sockaddr_in *)&c.smtp_listen.addrs[0];
	CHECK_INT(sin->sin_family, AF_INET);
	CHECK_INT(ntohs(sin->sin_port), 2525);
	CHECK_INT(ntohl(sin->sin_addr.s_addr), 0x7f000002);
	sin6 = (const struct sockaddr_in6 *)&c.smtp_listen.addrs[1];
	CHECK_INT(sin6->sin6_family, AF_INET6);
	CHECK_INT(ntohs(sin6->sin6_port), 587);
	CHECK(memcmp(&sin6->sin6_addr, &lo6, sizeof(lo6)) == 0);
	CHECK_INT(c.imaps_listen.n, 1);
	CHECK_INT(c.submission_listen.n, 0);
	conf_free(&c);
}

#define LONG_LINE_LEN (CONF_MAX_LINE + 1)

/* Rejected input: the exact message. */
static const struct error_case {
	const char *text, *err;
} error_cases[] = {
        {"bogus = 1", "t.conf:1: unknown parameter \"bogus\""},
        {"SMTP_LISTEN = 127.0.0.1:25", "t.conf:1: unknown parameter \"SMTP_LISTEN\""},
        {"relay_port = 1\n# x\nrelay_port = 2",
         "t.conf:3: duplicate parameter \"relay_port\" (first set at line 1)"},
        {"relay_port 25", "t.conf:1: missing \"=\" after \"relay_port\""},
        {"\n\nmyhostname", "t.conf:3: missing \"=\" after \"myhostname\""},
        {"= 25", "t.conf:1: missing parameter name before \"=\""},
        {"relay_port = 0", "t.conf:1: relay_port: value 0 out of range 1..65535"},
        {"relay_port = 65536", "t.conf:1: relay_port: value 65536 out of range 1..65535"},
        {"relay_port = -1", "t.conf:1: relay_port: bad number \"-1\""},
        {"relay_port = 25k", "t.conf:1: relay_port: bad number \"25k\""},
        {"relay_port = 99999999999999999999999", "t.conf:1: relay_port: bad number "
                                                 "\"99999999999999999999999\""},
        {"relay_port =", "t.conf:1: relay_port: missing value"},
        {"smtp_tls_loglevel = 5", "t.conf:1: smtp_tls_loglevel: value 5 out of range 0..4"},
        {"smtpd_recipient_limit = 0",
         "t.conf:1: smtpd_recipient_limit: value 0 out of range 1..100000"},
        {"message_size_limit = 1023",
         "t.conf:1: message_size_limit: value 1023 out of range 1024..17179869184"},
        {"message_size_limit = 17g",
         "t.conf:1: message_size_limit: value 18253611008 out of range 1024..17179869184"},
        {"message_size_limit = 10x", "t.conf:1: message_size_limit: bad size \"10x\" (bytes, or "
                                     "a number with k, m or g)"},
        {"message_size_limit = 99999999999999999g",
         "t.conf:1: message_size_limit: bad size \"99999999999999999g\" (bytes, or a number "
         "with k, m or g)"},
        {"message_size_limit = k",
         "t.conf:1: message_size_limit: bad size \"k\" (bytes, or a number with k, m or g)"},
        {"smtpd_command_line_limit = 511",
         "t.conf:1: smtpd_command_line_limit: value 511 out of range 512..65536"},
        {"smtpd_timeout = 5x",
         "t.conf:1: smtpd_timeout: bad time \"5x\" (seconds, or a number with s, m, h or d)"},
        {"smtpd_timeout = 0", "t.conf:1: smtpd_timeout: value 0s out of range 1s..1h"},
        {"smtpd_timeout = 2h", "t.conf:1: smtpd_timeout: value 2h out of range 1s..1h"},
        {"smtpd_timeout = 1.5s",
         "t.conf:1: smtpd_timeout: bad time \"1.5s\" (seconds, or a number with s, m, h or d)"},
        {"smtpd_error_sleep_time = 61", "t.conf:1: smtpd_error_sleep_time: value 61s out of "
                                        "range 0s..1m"},
        {"smtpd_forbid_bare_newline = maybe", "t.conf:1: smtpd_forbid_bare_newline: bad boolean "
                                              "\"maybe\" (yes, no, true or false)"},
        {"smtp_tls_security_level = dane",
         "t.conf:1: smtp_tls_security_level: bad value \"dane\" (none, may, encrypt, verify, "
         "secure)"},
        {"smtp_listen = 127.0.0.1", "t.conf:1: smtp_listen: bad address \"127.0.0.1\" "
                                    "(ADDR:PORT or [IPv6]:PORT)"},
        {"smtp_listen = 127.0.0.1:0",
         "t.conf:1: smtp_listen: bad port in \"127.0.0.1:0\" (1..65535)"},
        {"smtp_listen = 127.0.0.1:65536",
         "t.conf:1: smtp_listen: bad port in \"127.0.0.1:65536\" (1..65535)"},
        {"smtp_listen = 127.0.0.1:smtp",
         "t.conf:1: smtp_listen: bad port in \"127.0.0.1:smtp\" (1..65535)"},
        {"smtp_listen = ::1:25",
         "t.conf:1: smtp_listen: bad address \"::1:25\" (ADDR:PORT or [IPv6]:PORT)"},
        {"smtp_listen = [::1]25",
         "t.conf:1: smtp_listen: bad address \"[::1]25\" (ADDR:PORT or [IPv6]:PORT)"},
        {"smtp_listen = [127.0.0.1]:25",
         "t.conf:1: smtp_listen: bad address \"[127.0.0.1]:25\" (ADDR:PORT or [IPv6]:PORT)"},
        {"smtp_listen = mail.example.com:25", "t.conf:1: smtp_listen: bad address "
                                              "\"mail.example.com:25\" (ADDR:PORT or "
                                              "[IPv6]:PORT)"},
        {"smtp_listen = 127.0.0.1:25 127.0.0.1:25",
         "t.conf:1: smtp_listen: \"127.0.0.1:25\" listed twice"},
        {"smtp_listen = 127.0.0.1:25\nsubmission_listen = [::1]:587 127.0.0.1:25",
         "t.conf:2: submission_listen: 127.0.0.1:25 is also in smtp_listen"},
        {"smtpd_tls_cert_file = /a /b\nsmtpd_tls_key_file = /ka",
         "t.conf:2: smtpd_tls_cert_file and smtpd_tls_key_file must list the same number of "
         "files (2 and 1)"},
        {"smtpd_tls_key_file = /ka\n\nsmtpd_tls_cert_file = /a /b",
         "t.conf:3: smtpd_tls_cert_file and smtpd_tls_key_file must list the same number of "
         "files (2 and 1)"},
        {"smtpd_tls_cert_file = /a",
         "t.conf:1: smtpd_tls_cert_file and smtpd_tls_key_file must list the same number of "
         "files (1 and 0)"},
        {"myhostname = -bad.example", "t.conf:1: myhostname: bad host name \"-bad.example\" "
                                      "(letters, digits, '-' and '.')"},
        {"myhostname = a..b", "t.conf:1: myhostname: bad host name \"a..b\" (letters, digits, "
                              "'-' and '.')"},
        {"myhostname =", "t.conf:1: myhostname: bad host name \"\" (letters, digits, '-' and "
                         "'.')"},
        {"data_dir = var/lib", "t.conf:1: data_dir: \"var/lib\" is not an absolute path"},
        {"run_user = -x", "t.conf:1: run_user: bad user name \"-x\""},
        {"dns_server = 127.0.0.1@0",
         "t.conf:1: dns_server: bad server \"127.0.0.1@0\" (IP address, optionally @PORT)"},
        {"dns_server = ns.example",
         "t.conf:1: dns_server: bad server \"ns.example\" (IP address, optionally @PORT)"},
        {"relay_port = 25\x01", "t.conf:1: control character in line"},
        {"relay_port = 25\r\nrelay_port = 26\r\n",
         "t.conf:2: duplicate parameter \"relay_port\" (first set at line 1)"},
};

static void
test_conf_errors(void)
{
	for (size_t i = 0; i < nitems(error_cases); i++) {
		struct conf c;
		char err[512];

		CHECK_INT(parse(&c, error_cases[i].text, err, sizeof(err)), -1);
		CHECK_STR(err, error_cases[i].err);
		conf_free(&c);
	}
}

/* Limits that need built input: NUL, an overlong line, an oversized file. */
static void
test_conf_bounds(void)
{
	static const char nul[] = "relay_port = 2\0"
	                          "5\n";
	char *big = malloc(CONF_MAX_FILE + 2), err[512];
	struct conf c;

	CHECK_INT(conf_parse_buffer(&c, "t.conf", nul, sizeof(nul) - 1, err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf:1: NUL byte in line");
	conf_free(&c);

	/* A comment exactly at the limit is fine; one byte more is not. */
	memset(big, '#', CONF_MAX_LINE);
	big[CONF_MAX_LINE] = '\n';
	CHECK_INT(conf_parse_buffer(&c, "t.conf", big, CONF_MAX_LINE + 1, err, sizeof(err)), 0);
	conf_free(&c);
	memset(big, '#', LONG_LINE_LEN);
	memcpy(big + LONG_LINE_LEN, "\nrelay_port = 2\n", 16);
	CHECK_INT(conf_parse_buffer(&c, "t.conf", big, LONG_LINE_LEN + 16, err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf:1: line too long (max 4096 bytes)");
	conf_free(&c);

	memset(big, '\n', CONF_MAX_FILE + 1);
	CHECK_INT(conf_parse_buffer(&c, "t.conf", big, CONF_MAX_FILE + 1, err, sizeof(err)), -1);
	CHECK_STR(err, "t.conf: file too large (max 1048576 bytes)");
	conf_free(&c);
	free(big);

	/* A short error buffer truncates, never overflows. */
	CHECK_INT(parse(&c, "bogus = 1", err, 8), -1);
	CHECK_STR(err, "t.conf:");
	conf_free(&c);
}

/* dump prints what parses back to the same values. */
static void
test_conf_dump_roundtrip(void)
{
	static const char text[] = "smtp_listen = [::1]:25 127.0.0.1:25\n"
	                           "smtpd_tls_cert_file = /c1 /c2\nsmtpd_tls_key_file = /k1 /k2\n"
	                           "smtpd_timeout = 3600\nmessage_size_limit = 1g\n"
	                           "smtpd_forbid_bare_newline = no\ndns_server = ::1@53\n";
	char *a = NULL, *b = NULL, err[512];
	size_t alen = 0, blen = 0;
	struct conf c1, c2;
	FILE *fp;

	CHECK_INT(parse(&c1, text, err, sizeof(err)), 0);
	fp = open_memstream(&a, &alen);
	conf_dump(fp, &c1, false);
	fclose(fp);
	CHECK_INT(conf_parse_buffer(&c2, "dump", a, alen, err, sizeof(err)), 0);
	fp = open_memstream(&b, &blen);
	conf_dump(fp, &c2, false);
	fclose(fp);
	CHECK_STR(a, b);
	free(a);
	free(b);

	/* -n: only what differs from the defaults, in table order. */
	a = NULL;
	fp = open_memstream(&a, &alen);
	conf_dump(fp, &c1, true);
	fclose(fp);
	CHECK_STR(a, "smtp_listen = [::1]:25 127.0.0.1:25\n"
	             "smtpd_tls_cert_file = /c1 /c2\nsmtpd_tls_key_file = /k1 /k2\n"
	             "dns_server = ::1@53\nmessage_size_limit = 1073741824\n"
	             "smtpd_timeout = 1h\nsmtpd_forbid_bare_newline = no\n");
	free(a);
	conf_free(&c1);
	conf_free(&c2);
}

static void
test_conf_load_file(void)
{
	char dir[] = "/tmp/test_conf.XXXXXX", path[256], err[512], want[600];
	struct conf c;
	FILE *fp;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/h.conf", dir);
	fp = fopen(path, "w");
	fputs("# test\nrelay_port = 2525\nsmtp_listen = 127.0.0.1:2525\nbogus = 1\n", fp);
	fclose(fp);
	CHECK_INT(conf_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: unknown parameter \"bogus\"", path);
	CHECK_STR(err, want);
	conf_free(&c);

	fp = fopen(path, "w");
	fputs("relay_port = 2525", fp); /* no final newline */
	fclose(fp);
	CHECK_INT(conf_load(&c, path, err, sizeof(err)), 0);
	CHECK_INT(c.relay_port, 2525);
	CHECK_STR(c.path, path);
	conf_free(&c);
	unlink(path);

	CHECK_INT(conf_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	CHECK_STR(err, want);
	conf_free(&c);
	CHECK_INT(conf_load(&c, dir, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", dir);
	CHECK_STR(err, want);
	conf_free(&c);
	rmdir(dir);
}

static const struct t_test tests[] = {
        T(test_conf_defaults),       T(test_conf_values),    T(test_conf_storage),
        T(test_conf_listen),         T(test_conf_errors),    T(test_conf_bounds),
        T(test_conf_dump_roundtrip), T(test_conf_load_file), {0},
};
T_MAIN(tests)
