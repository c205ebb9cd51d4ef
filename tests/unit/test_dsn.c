/*
 * test_dsn.c -- RFC 3464 notifications (src/msg/dsn.c): a golden bounce
 * (fixed date, boundary and Message-ID), and structural checks: CRLF only,
 * no line over 998 octets, the MIME parts in order, long diagnostics
 * folded, header injection through a diagnostic defused, RET=FULL with and
 * beyond its bound, the delayed form, and the refusals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "msg/dsn.h"

#define ORIG                                                                                       \
	"Received: from a by b; Tue, 14 Nov 2023 22:13:20 +0000\r\n"                               \
	"From: <alice@example.test>\r\nTo: <bob@remote.test>\r\nSubject: hello\r\n\r\nBody "       \
	"line\r\n"

static const char golden_failed[] =
        "From: MAILER-DAEMON@mx.example.test (Mail Delivery System)\r\n"
        "To: <alice@example.test>\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Tue, 14 Nov 2023 23:13:20 +0000\r\n"
        "Message-ID: <0005F2A3B4C5D6.00ABCD.0002@mx.example.test>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        "\tboundary=\"0005F2A3B4C5D6.00ABCD.0001/dsn\"\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        "--0005F2A3B4C5D6.00ABCD.0001/dsn\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.example.test.\r\n"
        "\r\n"
        "Your message could not be delivered to one or more of its recipients;\r\n"
        "the reasons are given below, and the report is attached.\r\n"
        "\r\n"
        "<bob@remote.test>: host mx.remote.test said: 550 5.1.1 <bob@remote.test>:\r\n"
        " Recipient address rejected: User unknown in virtual mailbox table\r\n"
        "<carol@other.test>: Host or domain name not found\r\n"
        "\r\n"
        "--0005F2A3B4C5D6.00ABCD.0001/dsn\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.test\r\n"
        "Original-Envelope-Id: QQ314159\r\n"
        "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        "\r\n"
        "Final-Recipient: rfc822; bob@remote.test\r\n"
        "Original-Recipient: rfc822; bob@remote.test\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Remote-MTA: dns; mx.remote.test\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: Recipient address\r\n"
        " rejected: User unknown in virtual mailbox table\r\n"
        "\r\n"
        "Final-Recipient: rfc822; carol@other.test\r\n"
        "Action: failed\r\n"
        "Status: 5.4.4\r\n"
        "Diagnostic-Code: X-hikyaku; Host or domain name not found\r\n"
        "\r\n"
        "--0005F2A3B4C5D6.00ABCD.0001/dsn\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "Received: from a by b; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        "From: <alice@example.test>\r\n"
        "To: <bob@remote.test>\r\n"
        "Subject: hello\r\n"
        "\r\n"
        "--0005F2A3B4C5D6.00ABCD.0001/dsn--\r\n";

static struct dsn_rcpt rcpts[2];
static struct dsn_report rep;

/* The report of the golden case; tests change it from there. */
static void
base_report(void)
{
	rcpts[0] = (struct dsn_rcpt){
	        .final_rcpt = "bob@remote.test",
	        .orcpt = "rfc822;bob@remote.test",
	        .status = "5.1.1",
	        .remote_mta = "mx.remote.test",
	        .diag = "550 5.1.1 <bob@remote.test>: Recipient address rejected: User unknown "
	                "in virtual mailbox table"};
	rcpts[1] = (struct dsn_rcpt){.final_rcpt = "carol@other.test",
	                             .status = "5.4.4",
	                             .diag = "Host or domain name not found"};
	rep = (struct dsn_report){.action = DSN_FAILED,
	                          .reporting_mta = "mx.example.test",
	                          .sender = "alice@example.test",
	                          .envid = "QQ314159",
	                          .arrival = 1700000000,
	                          .now = 1700003600,
	                          .retry_until = 1700432000,
	                          .boundary = "0005F2A3B4C5D6.00ABCD.0001/dsn",
	                          .message_id = "0005F2A3B4C5D6.00ABCD.0002@mx.example.test",
	                          .msg = {(const uint8_t *)ORIG, sizeof(ORIG) - 1},
	                          .nrcpts = 2,
	                          .rcpts = rcpts};
}

/* Builds rep into a NUL-terminated heap string (NULL on failure). */
static char *
build(size_t max, const char **error_r)
{
	struct buf b;
	char *s = NULL;

	buf_init(&b, 0, max);
	if (dsn_build(&rep, &b, error_r) == 1) {
		s = malloc(buf_len(&b) + 1);
		memcpy(s, buf_peek(&b).p, buf_len(&b));
		s[buf_len(&b)] = '\0';
	}
	buf_deinit(&b);
	return s;
}

/* CRLF everywhere, no bare CR or LF, no line over 998 octets. */
static void
check_lines(const char *s)
{
	size_t col = 0;

	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\r') {
			CHECK(p[1] == '\n');
			if (p[1] != '\n')
				return;
			p++;
			CHECK(col <= 998);
			col = 0;
			continue;
		}
		CHECK(*p != '\n');
		col++;
	}
	CHECK(col == 0); /* ends with CRLF */
}

static size_t
count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void
test_dsn_golden(void)
{
	const char *error = NULL;
	char *s;

	base_report();
	s = build(1 << 20, &error);
	CHECK(s != NULL);
	if (s == NULL)
		return;
	CHECK_STR(s, golden_failed);
	check_lines(s);
	free(s);
}

static void
test_dsn_structure(void)
{
	const char *error = NULL;
	char *s, *a, *b, *c;

	base_report();
	s = build(1 << 20, &error);
	if (s == NULL)
		return;
	/* Three parts in order, then the close delimiter. */
	CHECK_INT(count(s, "\r\n--0005F2A3B4C5D6.00ABCD.0001/dsn\r\n"), 3);
	CHECK_INT(count(s, "\r\n--0005F2A3B4C5D6.00ABCD.0001/dsn--\r\n"), 1);
	a = strstr(s, "Content-Type: text/plain");
	b = strstr(s, "Content-Type: message/delivery-status");
	c = strstr(s, "Content-Type: text/rfc822-headers");
	CHECK(a != NULL && b != NULL && c != NULL && a < b && b < c);
	CHECK(strstr(s, "report-type=delivery-status") != NULL);
	CHECK(strncmp(s, "From: MAILER-DAEMON@mx.example.test", 35) == 0);
	CHECK(strstr(s, "\r\nAuto-Submitted: auto-replied\r\n") != NULL);
	/* Headers only by default: the body stays home. */
	CHECK(strstr(s, "Body line") == NULL);
	CHECK(strstr(s, "Subject: hello\r\n") != NULL);
	CHECK_INT(count(s, "Final-Recipient: rfc822; "), 2);
	CHECK_INT(count(s, "Action: failed\r\n"), 2);
	free(s);
}

static void
test_dsn_folding_and_injection(void)
{
	static char longdiag[3000];
	const char *error = NULL;
	char *s;

	base_report();
	/* One 2500-octet word: split by force under 998. */
	memcpy(longdiag, "550 5.0.0 ", 10);
	memset(longdiag + 10, 'x', 2500);
	rcpts[0].diag = longdiag;
	s = build(1 << 20, &error);
	CHECK(s != NULL);
	if (s != NULL) {
		check_lines(s);
		free(s);
	}
	/* A diagnostic that tries to add a header and end the MIME part. */
	rcpts[0].diag = "550 bad\r\nX-Evil: 1\r\n--0005F2A3B4C5D6.00ABCD.0001/dsn--\r\n";
	s = build(1 << 20, &error);
	CHECK(s != NULL);
	if (s != NULL) {
		check_lines(s);
		CHECK(strstr(s, "\r\nX-Evil") == NULL);
		CHECK_INT(count(s, "\r\n--0005F2A3B4C5D6.00ABCD.0001/dsn--\r\n"), 1);
		free(s);
	}
	/* A returned header line over 998 octets is split (folded). */
	static char orig[4000];
	snprintf(orig, sizeof(orig), "Subject: ");
	memset(orig + 9, 'y', 2000);
	memcpy(orig + 2009, "\r\n\r\nbody\r\n", 11);
	base_report();
	rep.msg = (struct span){(const uint8_t *)orig, strlen(orig)};
	s = build(1 << 20, &error);
	CHECK(s != NULL);
	if (s != NULL) {
		check_lines(s);
		CHECK(strstr(s, "\r\n\tyyy") != NULL);
		free(s);
	}
}

static void
test_dsn_full_and_delayed(void)
{
	const char *error = NULL;
	char *s;

	base_report();
	rep.full = true;
	s = build(1 << 20, &error);
	CHECK(s != NULL);
	if (s != NULL) {
		CHECK(strstr(s, "Content-Type: message/rfc822\r\n") != NULL);
		CHECK(strstr(s, "\r\nBody line\r\n") != NULL);
		free(s);
	}
	/* Beyond max_full: headers only, and the reader is told. */
	rep.max_full = 20;
	s = build(1 << 20, &error);
	CHECK(s != NULL);
	if (s != NULL) {
		CHECK(strstr(s, "Content-Type: text/rfc822-headers\r\n") != NULL);
		CHECK(strstr(s, "too large to return whole") != NULL);
		CHECK(strstr(s, "Body line") == NULL);
		free(s);
	}
	base_report();
	rep.action = DSN_DELAYED;
	rcpts[0].status = "4.4.1";
	s = build(1 << 20, &error);
	CHECK(s != NULL);
	if (s != NULL) {
		CHECK(strstr(s, "Subject: Delayed Mail (still being retried)\r\n") != NULL);
		CHECK_INT(count(s, "Action: delayed\r\n"), 2);
		CHECK_INT(count(s, "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n"), 2);
		CHECK(strstr(s, "Status: 4.4.1\r\n") != NULL);
		check_lines(s);
		free(s);
	}
}

static void
test_dsn_refusals(void)
{
	const char *error = NULL;
	char date[40];

	base_report();
	rep.nrcpts = 0;
	CHECK(build(1 << 20, &error) == NULL);
	CHECK_STR(error, "no recipients to report");
	base_report();
	rep.boundary = "bad boundary\r\n";
	CHECK(build(1 << 20, &error) == NULL);
	CHECK_STR(error, "bad MIME boundary");
	base_report();
	CHECK(build(256, &error) == NULL);
	CHECK_STR(error, "notification too large");
	dsn_format_date(0, date, sizeof(date));
	CHECK_STR(date, "Thu, 01 Jan 1970 00:00:00 +0000");
}

static const struct t_test tests[] = {
        T(test_dsn_golden),           T(test_dsn_structure), T(test_dsn_folding_and_injection),
        T(test_dsn_full_and_delayed), T(test_dsn_refusals),  {0},
};

T_MAIN(tests)
