/*
 * test_stats.c -- the session statistics recorder and the report queries
 * (src/stats): known records at known times go through the real writer
 * thread into a temporary data_dir/stats.db, then every query is checked
 * (totals and shares, per-domain order by volume and weakest first, days,
 * period filters, protocols, pruning), and the period parsers are run
 * over tables of good and bad arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "harness.h"
#include "stats/stats.h"
#include "stats/stats_report.h"

static char data_dir[] = "/tmp/hk-test-stats-XXXXXX";

/* The records of the main scenario start at base (midnight UTC). */
static int64_t base;

struct rec_spec {
	int64_t at; /* seconds after base */
	bool out;
	const char *service, *domain;
	bool tls;
	const char *cert;
	bool new_session;
	unsigned messages, rcpts;
};

static const struct rec_spec scenario[] = {
        /* day 0 */
        {100, false, "smtp", "A.Example", true, "none", true, 1, 2},
        {200, false, "smtp", "a.example", true, "none", false, 1, 1},
        {300, false, "smtp", "b.example", false, "", true, 1, 1},
        {400, false, "smtp", "c.example", false, "", true, 0, 0},
        {500, false, "submission", "example.test", true, "none", true, 1, 3},
        {600, true, "relay", "rcv.test", true, "Verified", true, 1, 1},
        {700, true, "relay", "plain.test", false, "", true, 1, 1},
        /* day 1 */
        {STATS_DAY + 3600, false, "smtp", "a.example", false, "", true, 1, 1},
        {STATS_DAY + 3700, true, "relay", "rcv.test", true, "Anonymous", true, 1, 2},
};

static void
record(struct stats *st, const struct rec_spec *s, int64_t t)
{
	struct stats_rec r = {.time = t,
	                      .out = s->out,
	                      .tls = s->tls,
	                      .new_session = s->new_session,
	                      .messages = s->messages,
	                      .rcpts = s->rcpts};

	stats_rec_set(r.service, sizeof(r.service), s->service, false);
	stats_rec_set(r.domain, sizeof(r.domain), s->domain, true);
	stats_rec_set(r.ip, sizeof(r.ip), "192.0.2.1", false);
	stats_rec_set(r.peer_cert, sizeof(r.peer_cert), s->cert, false);
	if (s->tls) {
		stats_rec_set(r.tls_version, sizeof(r.tls_version), "TLSv1.3", false);
		stats_rec_set(r.tls_cipher, sizeof(r.tls_cipher), "TLS_AES_256_GCM_SHA384", false);
	}
	stats_record(st, &r);
}

/* write_records - a recorder session: open, record, close (the writer
   thread runs the batches), then let the loop free its handle. */
static void
write_records(uint64_t retention_s, const struct rec_spec *specs, size_t n, int64_t offset)
{
	uv_loop_t loop;
	const char *error = NULL;
	struct stats *st;

	CHECK(uv_loop_init(&loop) == 0);
	st = stats_open(data_dir, &loop, retention_s, &error);
	CHECK(st != NULL);
	if (st == NULL) {
		fprintf(stderr, "stats_open: %s\n", error);
		return;
	}
	for (size_t i = 0; i < n; i++)
		record(st, &specs[i], base + offset + specs[i].at);
	stats_close(&st);
	CHECK(st == NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
}

static struct stats_report *
open_report(void)
{
	struct stats_report *r = NULL;
	const char *error = NULL;

	CHECK_INT(stats_report_open(data_dir, &r, &error), 1);
	return r;
}

static const struct stats_period all = {0, INT64_MAX};

static void
test_stats_setup(void)
{
	struct stats_report *r = NULL;
	const char *error = NULL;
	int64_t now = (int64_t)time(NULL);

	CHECK(mkdtemp(data_dir) != NULL);
	/* Ten days ago, midnight UTC: well inside any retention used here. */
	base = (now / STATS_DAY - 10) * STATS_DAY;
	CHECK_INT(stats_report_open(data_dir, &r, &error), 0); /* nothing recorded yet */
	CHECK(r == NULL);
	write_records(400 * (uint64_t)STATS_DAY, scenario, nitems(scenario), 0);
}

static void
test_stats_totals(void)
{
	struct stats_report *r = open_report();
	struct stats_counts t[STATS_NCLASS];
	const char *error;

	if (r == NULL)
		return;
	CHECK_INT(stats_report_totals(r, &all, t, &error), 0);
	CHECK_INT(t[STATS_MX].sessions, 4);
	CHECK_INT(t[STATS_MX].tls_sessions, 1);
	CHECK_INT(t[STATS_MX].messages, 4);
	CHECK_INT(t[STATS_MX].tls_messages, 2);
	CHECK_INT(t[STATS_MX].rcpts, 5);
	CHECK_INT(t[STATS_MX].tls_rcpts, 3);
	CHECK(stats_report_share(&t[STATS_MX]) == 0.5);
	CHECK_INT(t[STATS_SUBMISSION].messages, 1);
	CHECK(stats_report_share(&t[STATS_SUBMISSION]) == 1.0);
	CHECK_INT(t[STATS_OUT].sessions, 3);
	CHECK_INT(t[STATS_OUT].messages, 3);
	CHECK_INT(t[STATS_OUT].tls_messages, 2);
	CHECK_INT(t[STATS_OUT].verified_messages, 1);
	CHECK_INT(t[STATS_OUT].rcpts, 4);
	stats_report_close(&r);
	CHECK(r == NULL);
}

struct want_domain {
	enum stats_class cls;
	const char *domain;
	uint64_t messages;
};

static void
check_domains(enum stats_order order, const struct want_domain *want, size_t nwant, size_t limit)
{
	struct stats_report *r = open_report();
	struct stats_domain *rows;
	size_t n;
	const char *error;

	if (r == NULL)
		return;
	CHECK_INT(stats_report_domains(r, &all, order, limit, &rows, &n, &error), 0);
	CHECK_INT(n, nwant);
	for (size_t i = 0; i < n && i < nwant; i++) {
		CHECK_INT(rows[i].cls, want[i].cls);
		CHECK_STR(rows[i].domain, want[i].domain);
		CHECK_INT(rows[i].c.messages, want[i].messages);
	}
	free(rows);
	stats_report_close(&r);
}

static void
test_stats_domains_by_volume(void)
{
	static const struct want_domain want[] = {
	        {STATS_MX, "a.example", 3},   {STATS_OUT, "rcv.test", 2},
	        {STATS_MX, "b.example", 1},   {STATS_SUBMISSION, "example.test", 1},
	        {STATS_OUT, "plain.test", 1}, {STATS_MX, "c.example", 0},
	};

	check_domains(STATS_BY_VOLUME, want, nitems(want), 0);
	check_domains(STATS_BY_VOLUME, want, 2, 2); /* --top 2 */
}

static void
test_stats_domains_weakest(void)
{
	/* share 0 (most messages first, then class), 2/3, then 1.0 */
	static const struct want_domain want[] = {
	        {STATS_MX, "b.example", 1}, {STATS_OUT, "plain.test", 1},
	        {STATS_MX, "c.example", 0}, {STATS_MX, "a.example", 3},
	        {STATS_OUT, "rcv.test", 2}, {STATS_SUBMISSION, "example.test", 1},
	};

	check_domains(STATS_WEAKEST, want, nitems(want), 0);
}

static void
test_stats_days(void)
{
	struct stats_report *r = open_report();
	struct stats_day *days;
	size_t n;
	const char *error;

	if (r == NULL)
		return;
	CHECK_INT(stats_report_days(r, &all, &days, &n, &error), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_INT(days[0].day, base);
		CHECK_INT(days[0].c[STATS_MX].messages, 3);
		CHECK_INT(days[0].c[STATS_MX].tls_messages, 2);
		CHECK_INT(days[0].c[STATS_OUT].messages, 2);
		CHECK_INT(days[0].c[STATS_OUT].tls_messages, 1);
		CHECK_INT(days[1].day, base + STATS_DAY);
		CHECK_INT(days[1].c[STATS_MX].messages, 1);
		CHECK_INT(days[1].c[STATS_MX].tls_messages, 0);
		CHECK_INT(days[1].c[STATS_OUT].tls_messages, 1);
		CHECK_INT(days[1].c[STATS_SUBMISSION].sessions, 0);
	}
	free(days);
	stats_report_close(&r);
}

static void
test_stats_period(void)
{
	struct stats_report *r = open_report();
	struct stats_counts t[STATS_NCLASS];
	struct stats_period day1 = {base + STATS_DAY, base + 2 * STATS_DAY};
	struct stats_period day0 = {base, base + STATS_DAY};
	struct stats_period edge = {base + 100, base + 200}; /* [from, to) */
	struct stats_period none = {base + 3 * STATS_DAY, base + 4 * STATS_DAY};
	const char *error;

	if (r == NULL)
		return;
	CHECK_INT(stats_report_totals(r, &day1, t, &error), 0);
	CHECK_INT(t[STATS_MX].messages, 1);
	CHECK_INT(t[STATS_MX].tls_messages, 0);
	CHECK_INT(t[STATS_OUT].messages, 1);
	CHECK_INT(t[STATS_SUBMISSION].messages, 0);
	CHECK(stats_report_share(&t[STATS_SUBMISSION]) < 0);
	CHECK_INT(stats_report_totals(r, &day0, t, &error), 0);
	CHECK_INT(t[STATS_MX].messages, 3);
	CHECK_INT(t[STATS_OUT].messages, 2);
	CHECK_INT(stats_report_totals(r, &edge, t, &error), 0);
	CHECK_INT(t[STATS_MX].messages, 1);
	CHECK_INT(t[STATS_MX].rcpts, 2);
	CHECK_INT(stats_report_totals(r, &none, t, &error), 0);
	CHECK_INT(t[STATS_MX].sessions + t[STATS_OUT].sessions, 0);
	stats_report_close(&r);
}

static void
test_stats_protocols(void)
{
	struct stats_report *r = open_report();
	struct stats_proto *p;
	size_t n, found = 0;
	const char *error;

	if (r == NULL)
		return;
	CHECK_INT(stats_report_protocols(r, &all, &p, &n, &error), 0);
	for (size_t i = 0; i < n; i++) {
		if (p[i].cls == STATS_MX && strcmp(p[i].version, "TLSv1.3") == 0) {
			CHECK_INT(p[i].messages, 2);
			found++;
		}
		if (p[i].cls == STATS_MX && p[i].version[0] == '\0') {
			CHECK_INT(p[i].sessions, 3);
			found++;
		}
	}
	CHECK_INT(found, 2);
	free(p);
	stats_report_close(&r);
}

/* Records older than the retention go when the recorder opens. */
static void
test_stats_prune(void)
{
	static const struct rec_spec old[] = {
	        {0, false, "smtp", "old.example", false, "", true, 1, 1},
	};
	int64_t now = (int64_t)time(NULL), ago = now - 401 * STATS_DAY - base;
	struct stats_report *r;
	struct stats_counts t[STATS_NCLASS];
	const char *error;

	write_records(0, old, 1, ago); /* retention 0: kept */
	if ((r = open_report()) == NULL)
		return;
	CHECK_INT(stats_report_totals(r, &all, t, &error), 0);
	CHECK_INT(t[STATS_MX].messages, 5);
	stats_report_close(&r);
	write_records(400 * (uint64_t)STATS_DAY, NULL, 0, 0); /* prunes at open */
	if ((r = open_report()) == NULL)
		return;
	CHECK_INT(stats_report_totals(r, &all, t, &error), 0);
	CHECK_INT(t[STATS_MX].messages, 4); /* the scenario's, untouched */
	stats_report_close(&r);
}

/* The loop does not run while recording here, so nothing completes:
   records beyond STATS_MAX_PENDING are dropped and counted, and what was
   queued is still written by stats_close(). */
static void
test_stats_backpressure(void)
{
	char dir[] = "/tmp/hk-test-stats-bp-XXXXXX", path[256];
	static const struct rec_spec one = {0, true, "relay", "x.example", false, "", true, 1, 1};
	struct stats_report *r = NULL;
	struct stats_counts t[STATS_NCLASS];
	const char *error = NULL;
	uv_loop_t loop;
	struct stats *st;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(uv_loop_init(&loop) == 0);
	if ((st = stats_open(dir, &loop, 0, &error)) == NULL) {
		CHECK(st != NULL);
		return;
	}
	for (size_t i = 0; i < STATS_MAX_PENDING + 5; i++)
		record(st, &one, base + (int64_t)i);
	CHECK_INT(stats_dropped(st), 5);
	stats_close(&st);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	CHECK_INT(stats_report_open(dir, &r, &error), 1);
	if (r != NULL) {
		CHECK_INT(stats_report_totals(r, &all, t, &error), 0);
		CHECK_INT(t[STATS_OUT].messages, STATS_MAX_PENDING);
		stats_report_close(&r);
	}
	for (const char *f = "stats.db\0stats.db-wal\0stats.db-shm\0"; *f != '\0';
	     f += strlen(f) + 1) {
		snprintf(path, sizeof(path), "%s/%s", dir, f);
		unlink(path);
	}
	CHECK(rmdir(dir) == 0);
}

static void
test_stats_rec_set(void)
{
	char small[8], d[64];

	stats_rec_set(d, sizeof(d), "Mail.EXAMPLE.com", true);
	CHECK_STR(d, "mail.example.com");
	stats_rec_set(d, sizeof(d), "Mail.EXAMPLE.com", false);
	CHECK_STR(d, "Mail.EXAMPLE.com");
	stats_rec_set(d, sizeof(d), "a b\"c\\d\r\n\x7f", true);
	CHECK_STR(d, "a?b?c?d???");
	stats_rec_set(small, sizeof(small), "0123456789", false);
	CHECK_STR(small, "0123456");
	stats_rec_set(d, sizeof(d), NULL, false);
	CHECK_STR(d, "");
}

static const struct dur_case {
	const char *in;
	int64_t secs; /* -1: refused */
} dur_cases[] = {
        {"7d", 7 * 86400}, {"1s", 1},           {"90m", 5400},
        {"12h", 43200},    {"2w", 14 * 86400},  {"36600d", 36600LL * 86400},
        {"36601d", -1},    {"0d", -1},          {"", -1},
        {"d", -1},         {"7", -1},           {"7x", -1},
        {"7dd", -1},       {"-7d", -1},         {" 7d", -1},
        {"7 d", -1},       {"1234567890d", -1}, {"yesterday", -1},
};

static void
test_stats_parse_duration(void)
{
	for (size_t i = 0; i < nitems(dur_cases); i++) {
		int64_t v = -1;
		const char *error = NULL;
		int rc = stats_report_parse_duration(dur_cases[i].in, &v, &error);

		if (dur_cases[i].secs < 0) {
			if (rc != -1 || error == NULL)
				fprintf(stderr, "case %zu %s\n", i, dur_cases[i].in);
			CHECK(rc == -1 && error != NULL);
		} else {
			CHECK(rc == 0);
			CHECK_INT(v, dur_cases[i].secs);
		}
	}
}

static const struct time_case {
	const char *in;
	bool end;
	int64_t t; /* -1: refused */
} time_cases[] = {
        {"2026-01-31", false, 1769817600},
        {"2026-01-31", true, 1769817600 + 86400},
        {"2026-01-31T12:30:00Z", false, 1769862600},
        {"2026-01-31T12:30:00Z", true, 1769862600}, /* a time is exact */
        {"2026-01-31T12:30Z", false, 1769862600},
        {"2026-01-31T12:30", false, 1769862600},
        {"1970-01-01", false, 0},
        {"2024-02-29", false, 1709164800},
        {"2023-02-29", false, -1},
        {"2100-02-29", false, -1},
        {"2000-02-29", false, 951782400},
        {"2026-13-01", false, -1},
        {"2026-00-10", false, -1},
        {"2026-04-31", false, -1},
        {"1969-12-31", false, -1},
        {"2026-1-31", false, -1},
        {"2026/01/31", false, -1},
        {"2026-01-31T24:00Z", false, -1},
        {"2026-01-31T12:60Z", false, -1},
        {"2026-01-31 12:30", false, -1},
        {"2026-01-31T12:30:00+02:00", false, -1},
        {"2026-01-31x", false, -1},
        {"7d", false, -1},
        {"", false, -1},
};

static void
test_stats_parse_time(void)
{
	for (size_t i = 0; i < nitems(time_cases); i++) {
		int64_t v = -2;
		const char *error = NULL;
		int rc = stats_report_parse_time(time_cases[i].in, time_cases[i].end, &v, &error);

		if (time_cases[i].t < 0) {
			if (rc != -1)
				fprintf(stderr, "case %zu %s accepted\n", i, time_cases[i].in);
			CHECK(rc == -1 && error != NULL);
		} else {
			if (rc != 0)
				fprintf(stderr, "case %zu %s: %s\n", i, time_cases[i].in, error);
			CHECK(rc == 0);
			CHECK_INT(v, time_cases[i].t);
		}
	}
}

static void
test_stats_cleanup(void)
{
	char path[256];
	const char *files[] = {"stats.db", "stats.db-wal", "stats.db-shm"};

	for (size_t i = 0; i < nitems(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", data_dir, files[i]);
		unlink(path);
	}
	CHECK(rmdir(data_dir) == 0);
}

static const struct t_test tests[] = {
        T(test_stats_setup),
        T(test_stats_totals),
        T(test_stats_domains_by_volume),
        T(test_stats_domains_weakest),
        T(test_stats_days),
        T(test_stats_period),
        T(test_stats_protocols),
        T(test_stats_prune),
        T(test_stats_backpressure),
        T(test_stats_rec_set),
        T(test_stats_parse_duration),
        T(test_stats_parse_time),
        T(test_stats_cleanup),
        {0},
};

T_MAIN(tests)
