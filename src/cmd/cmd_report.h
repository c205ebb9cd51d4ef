/*
 * cmd_report.h -- shared by cmd_report.c (arguments, text, JSON, CSV) and
 * cmd_report_html.c (the self-contained HTML page) for `hikyaku report tls`.
 */
#ifndef HIKYAKU_CMD_CMD_REPORT_H
#define HIKYAKU_CMD_CMD_REPORT_H

#include <stdio.h>

#include "stats/stats_report.h"

/* Everything one report shows, gathered before any output is written. */
struct report_data {
	struct stats_period period;
	enum stats_order order;
	size_t top; /* domain rows asked for (0: all) */
	struct stats_counts totals[STATS_NCLASS];
	struct stats_domain *domains;
	size_t ndomains;
	struct stats_day *days;
	size_t ndays;
	struct stats_proto *protos;
	size_t nprotos;
};

/* "2026-01-31T00:00:00Z" (with_time) or "2026-01-31". */
void cmd_report_time(int64_t t, bool with_time, char *dst, size_t size);
/* s with bytes that are not valid UTF-8 replaced by '?', into dst. */
void cmd_report_text(const char *s, char *dst, size_t size);
/* Writes the HTML page; 0, or -1 when fp fails. */
int cmd_report_html(FILE *fp, const struct report_data *d);

#endif
