/*
 * stats_report.h -- the queries behind `hikyaku report tls` over
 * data_dir/stats.db (opened read-only: the daemon may be writing), and the
 * parsers for the period given on the command line.
 *
 * Traffic falls in three classes: inbound MX (port 25, other servers),
 * inbound submission (587 and 465, our own users, always TLS) and outbound.
 * A "share" is encrypted / all, of messages (sessions when no message was
 * carried); the transparency-report figure is the message share.
 * Limits: at most STATS_REPORT_MAX_ROWS domain rows and STATS_REPORT_MAX_DAYS
 * days per query. Time is UTC throughout; a day is [00:00, 24:00) UTC.
 * Input: command-line text in the parsers (bounded, fuzzed by
 * tests/fuzz/fuzz_stats_period.c); the database's text is shown only after
 * the caller escapes it for its output format.
 */
#ifndef HIKYAKU_STATS_STATS_REPORT_H
#define HIKYAKU_STATS_STATS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_REPORT_MAX_ROWS 10000
#define STATS_REPORT_MAX_DAYS 4000
#define STATS_DAY 86400
/* Durations and times beyond this are refused (the year 9999 ends near). */
#define STATS_MAX_DURATION ((int64_t)36600 * STATS_DAY)

enum stats_class {
	STATS_MX,         /* inbound, service smtp */
	STATS_SUBMISSION, /* inbound, submission and submissions */
	STATS_OUT,        /* outbound */
	STATS_NCLASS
};

/* "in-mx", "in-submission", "out". */
const char *stats_class_name(enum stats_class c);

struct stats_counts {
	uint64_t sessions, tls_sessions;
	uint64_t messages, tls_messages;
	uint64_t verified_messages; /* peer certificate "Verified" */
	uint64_t rcpts, tls_rcpts;
};

/* [from, to) in unix seconds. */
struct stats_period {
	int64_t from, to;
};

struct stats_domain {
	enum stats_class cls;
	char domain[256];
	struct stats_counts c;
};

struct stats_day {
	int64_t day; /* 00:00 UTC, unix seconds */
	struct stats_counts c[STATS_NCLASS];
};

/* TLS protocol versions seen ("" for none). */
struct stats_proto {
	enum stats_class cls;
	char version[16];
	uint64_t sessions, messages;
};

enum stats_order {
	STATS_BY_VOLUME, /* most messages first */
	STATS_WEAKEST,   /* lowest share first, then by volume */
};

struct stats_report;

/* Opens data_dir/stats.db read-only. Returns 1 with *r_r, 0 when there is
   no database yet (nothing recorded), -1 with *error_r. */
int stats_report_open(const char *data_dir, struct stats_report **r_r, const char **error_r);
void stats_report_close(struct stats_report **r);

/* The message share in [0, 1] (session share when c carries no message),
   or -1 when there is nothing to share. */
double stats_report_share(const struct stats_counts *c);

/* The queries: 0, or -1 with *error_r (valid until the next call on r).
   Rows are the caller's to free(). */
int stats_report_totals(struct stats_report *r, const struct stats_period *p,
                        struct stats_counts out[STATS_NCLASS], const char **error_r);
/* Per (class, peer domain); limit 0 means STATS_REPORT_MAX_ROWS. */
int stats_report_domains(struct stats_report *r, const struct stats_period *p,
                         enum stats_order order, size_t limit, struct stats_domain **rows_r,
                         size_t *n_r, const char **error_r);
/* Days that saw traffic, oldest first. */
int stats_report_days(struct stats_report *r, const struct stats_period *p,
                      struct stats_day **rows_r, size_t *n_r, const char **error_r);
int stats_report_protocols(struct stats_report *r, const struct stats_period *p,
                           struct stats_proto **rows_r, size_t *n_r, const char **error_r);

/* "7d", "12h", "30m", "90s", "2w": a positive duration up to
   STATS_MAX_DURATION. Returns 0 with *secs_r, or -1 with *error_r. */
int stats_report_parse_duration(const char *s, int64_t *secs_r, const char **error_r);
/* "YYYY-MM-DD" (00:00 UTC; with end_of_day the next day's 00:00, so that
   --to includes the day named) or "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC).
   Returns 0 with *t_r, or -1 with *error_r. */
int stats_report_parse_time(const char *s, bool end_of_day, int64_t *t_r, const char **error_r);

#endif
