/*
 * cmd_report.c -- `hikyaku report tls`: what share of our SMTP traffic was
 * encrypted, in and out, overall, per peer domain and per day, from the
 * session records the daemon keeps in data_dir/stats.db (src/stats).
 *
 *   report tls [--since DURATION | --from DATE] [--to DATE] [--weakest]
 *              [--top N] [--json | --csv | --html FILE]
 *
 * The period defaults to the last 30 days; DATE is YYYY-MM-DD (UTC; --to
 * includes the day named) or YYYY-MM-DDTHH:MM[:SS]Z. --top N limits the
 * peer domain rows (default 20 in text and HTML, all of them, up to
 * STATS_REPORT_MAX_ROWS, in JSON and CSV). Text output is for
 * people; --json and --csv are stable for scripts (CSV: one table with a
 * `section` column: total, domain, day); --html writes one self-contained
 * page with charts (cmd_report_html.c).
 * Exit status: 0, 1 failure (database), 2 usage (bad dates, durations).
 * Security: the database is opened read-only, after dropping to run_user
 * when started as root. Domains in it came from remote peers: every output
 * format escapes them (JSON strings, CSV quoting, HTML entities).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "cmd/cmd_report.h"
#include "cmd/priv.h"

#define REPORT_USAGE                                                                               \
	"report tls [--since DURATION | --from DATE] [--to DATE] [--weakest] [--top N]\n"          \
	"       [--json | --csv | --html FILE]"
#define REPORT_DEFAULT_SINCE (30 * STATS_DAY)
#define REPORT_DEFAULT_TOP 20

enum report_format { FMT_TEXT, FMT_JSON, FMT_CSV, FMT_HTML };

struct report_args {
	enum report_format format;
	const char *html_path;
	bool have_since, have_from, have_to;
	int64_t since, from, to;
	bool weakest;
	long top; /* -1: the format's default */
};

/* ---- helpers shared with cmd_report_html.c ---- */

void
cmd_report_time(int64_t t, bool with_time, char *dst, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(dst, size, "?");
		return;
	}
	strftime(dst, size, with_time ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d", &tm);
}

/* utf8_len - length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (s[0] < 0x80)
		return 1;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void
cmd_report_text(const char *s, char *dst, size_t size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p != '\0' && o + 5 < size) {
		size_t n = utf8_len(p);

		if (n == 0) {
			dst[o++] = '?';
			p++;
			continue;
		}
		memcpy(dst + o, p, n);
		o += n;
		p += n;
	}
	dst[o] = '\0';
}

/* ---- arguments ---- */

/* arg_value - the value of "--name VALUE" or "--name=VALUE" at argv[*i];
   NULL if argv[*i] is not that option; *missing_r when the value is. */
static const char *
arg_value(int argc, char **argv, int *i, const char *name, bool *missing_r)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing_r = true;
		return NULL;
	}
	return argv[++*i];
}

static int
arg_error(const char *opt, const char *value, const char *why)
{
	fprintf(stderr, "hikyaku: report tls: %s%s%s: %s\n", opt, *value != '\0' ? " " : "", value,
	        why);
	return cmd_usage_error(REPORT_USAGE);
}

/* arg_top - "--top N": 1 .. STATS_REPORT_MAX_ROWS. */
static int
arg_top(const char *v, long *top_r)
{
	char *end;
	long n;

	if (*v < '0' || *v > '9')
		return -1;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < 1 || n > STATS_REPORT_MAX_ROWS)
		return -1;
	*top_r = n;
	return 0;
}

/* arg_one - one option at argv[*i]: 1 taken, -1 usage error (printed). */
static int
arg_one(int argc, char **argv, int *i, struct report_args *a)
{
	const char *v, *error;
	bool missing = false;

	if (strcmp(argv[*i], "--json") == 0 || strcmp(argv[*i], "--csv") == 0) {
		if (a->format != FMT_TEXT)
			return arg_error(argv[*i], "", "only one output format"), -1;
		a->format = argv[*i][2] == 'j' ? FMT_JSON : FMT_CSV;
	} else if (strcmp(argv[*i], "--weakest") == 0) {
		a->weakest = true;
	} else if ((v = arg_value(argc, argv, i, "--html", &missing)) != NULL) {
		if (a->format != FMT_TEXT || *v == '\0')
			return arg_error("--html", v, "only one output format, to a file"), -1;
		a->format = FMT_HTML;
		a->html_path = v;
	} else if ((v = arg_value(argc, argv, i, "--since", &missing)) != NULL) {
		if (stats_report_parse_duration(v, &a->since, &error) < 0)
			return arg_error("--since", v, error), -1;
		a->have_since = true;
	} else if ((v = arg_value(argc, argv, i, "--from", &missing)) != NULL) {
		if (stats_report_parse_time(v, false, &a->from, &error) < 0)
			return arg_error("--from", v, error), -1;
		a->have_from = true;
	} else if ((v = arg_value(argc, argv, i, "--to", &missing)) != NULL) {
		if (stats_report_parse_time(v, true, &a->to, &error) < 0)
			return arg_error("--to", v, error), -1;
		a->have_to = true;
	} else if ((v = arg_value(argc, argv, i, "--top", &missing)) != NULL) {
		if (arg_top(v, &a->top) < 0)
			return arg_error("--top", v, "not a count from 1 to 10000"), -1;
	} else {
		return arg_error(argv[*i], "", missing ? "needs a value" : "unknown option"), -1;
	}
	return 1;
}

/* report_args - parses argv after "report tls" and settles the period. */
static int
report_args(int argc, char **argv, struct report_args *a, struct stats_period *p)
{
	int64_t now = (int64_t)time(NULL);

	*a = (struct report_args){.top = -1};
	for (int i = 0; i < argc; i++)
		if (arg_one(argc, argv, &i, a) < 0)
			return -1;
	if (a->have_since && a->have_from)
		return arg_error("--since", "", "give --since or --from, not both"), -1;
	p->to = a->have_to ? a->to : now + 1;
	p->from =
	        a->have_from ? a->from : p->to - (a->have_since ? a->since : REPORT_DEFAULT_SINCE);
	if (p->from >= p->to)
		return arg_error("--from", "", "the period is empty (--from is not before --to)"),
		       -1;
	return 0;
}

/* ---- gathering ---- */

static void
report_data_free(struct report_data *d)
{
	free(d->domains);
	free(d->days);
	free(d->protos);
}

/* report_gather - every query of the report; r NULL: nothing recorded yet. */
static int
report_gather(struct stats_report *r, struct report_data *d, const char **error_r)
{
	if (r == NULL)
		return 0;
	if (stats_report_totals(r, &d->period, d->totals, error_r) < 0 ||
	    stats_report_domains(r, &d->period, d->order, d->top, &d->domains, &d->ndomains,
	                         error_r) < 0 ||
	    stats_report_days(r, &d->period, &d->days, &d->ndays, error_r) < 0 ||
	    stats_report_protocols(r, &d->period, &d->protos, &d->nprotos, error_r) < 0)
		return -1;
	return 0;
}

/* ---- text ---- */

/* pct - "97.5%" or "-" when there is nothing to share. */
static const char *
pct(const struct stats_counts *c, char *dst, size_t size)
{
	double s = stats_report_share(c);

	if (s < 0)
		snprintf(dst, size, "-");
	else
		snprintf(dst, size, "%.1f%%", s * 100.0);
	return dst;
}

static void
text_totals(FILE *fp, const struct report_data *d)
{
	char p[16];

	fprintf(fp, "%-14s %9s %9s %9s %9s %9s %9s\n", "", "sessions", "with-tls", "messages",
	        "encrypted", "verified", "share");
	for (int c = 0; c < STATS_NCLASS; c++) {
		const struct stats_counts *t = &d->totals[c];

		fprintf(fp,
		        "%-14s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64
		        " %9s\n",
		        stats_class_name((enum stats_class)c), t->sessions, t->tls_sessions,
		        t->messages, t->tls_messages, t->verified_messages, pct(t, p, sizeof(p)));
	}
}

static void
text_domains(FILE *fp, const struct report_data *d)
{
	char p[16], name[256];

	fprintf(fp, "\nPeer domains, %s:\n",
	        d->order == STATS_WEAKEST ? "weakest first" : "by volume");
	if (d->ndomains == 0)
		fprintf(fp, "  (none)\n");
	for (size_t i = 0; i < d->ndomains; i++) {
		const struct stats_domain *r = &d->domains[i];

		cmd_report_text(r->domain, name, sizeof(name));
		fprintf(fp, "  %-14s %-40s %6" PRIu64 " sessions %6" PRIu64 " messages %7s\n",
		        stats_class_name(r->cls), name, r->c.sessions, r->c.messages,
		        pct(&r->c, p, sizeof(p)));
	}
}

static void
text_days(FILE *fp, const struct report_data *d)
{
	char day[16], p[STATS_NCLASS][16];

	fprintf(fp, "\nPer day (messages encrypted/all, share):\n");
	if (d->ndays == 0)
		fprintf(fp, "  (none)\n");
	for (size_t i = 0; i < d->ndays; i++) {
		const struct stats_counts *c = d->days[i].c;

		cmd_report_time(d->days[i].day, false, day, sizeof(day));
		fprintf(fp, "  %s", day);
		for (int k = 0; k < STATS_NCLASS; k++)
			fprintf(fp, "  %s %" PRIu64 "/%" PRIu64 " %s",
			        stats_class_name((enum stats_class)k), c[k].tls_messages,
			        c[k].messages, pct(&c[k], p[k], sizeof(p[k])));
		fputc('\n', fp);
	}
}

static void
text_protocols(FILE *fp, const struct report_data *d)
{
	fprintf(fp, "\nProtocols:\n");
	if (d->nprotos == 0)
		fprintf(fp, "  (none)\n");
	for (size_t i = 0; i < d->nprotos; i++)
		fprintf(fp, "  %-14s %-10s %6" PRIu64 " sessions %6" PRIu64 " messages\n",
		        stats_class_name(d->protos[i].cls),
		        d->protos[i].version[0] != '\0' ? d->protos[i].version : "no-tls",
		        d->protos[i].sessions, d->protos[i].messages);
}

static void
report_text(FILE *fp, const struct report_data *d)
{
	char from[32], to[32], in[16], out[16];

	cmd_report_time(d->period.from, true, from, sizeof(from));
	cmd_report_time(d->period.to, true, to, sizeof(to));
	fprintf(fp, "TLS report %s .. %s\n\n", from, to);
	fprintf(fp, "Messages encrypted: inbound (MX) %s, outbound %s\n\n",
	        pct(&d->totals[STATS_MX], in, sizeof(in)),
	        pct(&d->totals[STATS_OUT], out, sizeof(out)));
	text_totals(fp, d);
	text_domains(fp, d);
	text_days(fp, d);
	text_protocols(fp, d);
}

/* ---- JSON ---- */

/* json_str - a JSON string (RFC 8259 7), invalid UTF-8 replaced. */
static void
json_str(FILE *fp, const char *s)
{
	char clean[1024];

	cmd_report_text(s, clean, sizeof(clean));
	fputc('"', fp);
	for (const unsigned char *p = (const unsigned char *)clean; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\u%04x", *p);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

static void
json_counts(FILE *fp, const struct stats_counts *c)
{
	double s = stats_report_share(c);

	fprintf(fp,
	        "{\"sessions\": %" PRIu64 ", \"tls_sessions\": %" PRIu64 ", \"messages\": %" PRIu64
	        ", \"tls_messages\": %" PRIu64 ", \"verified_messages\": %" PRIu64
	        ", \"rcpts\": %" PRIu64 ", \"tls_rcpts\": %" PRIu64 ", \"share\": ",
	        c->sessions, c->tls_sessions, c->messages, c->tls_messages, c->verified_messages,
	        c->rcpts, c->tls_rcpts);
	if (s < 0)
		fprintf(fp, "null}");
	else
		fprintf(fp, "%.6f}", s);
}

static void
json_classes(FILE *fp, const struct stats_counts *c)
{
	fputc('{', fp);
	for (int k = 0; k < STATS_NCLASS; k++) {
		fprintf(fp, "%s\"%s\": ", k > 0 ? ", " : "", stats_class_name((enum stats_class)k));
		json_counts(fp, &c[k]);
	}
	fputc('}', fp);
}

static void
json_lists(FILE *fp, const struct report_data *d)
{
	char day[16];

	fprintf(fp, ",\n \"domains\": [");
	for (size_t i = 0; i < d->ndomains; i++) {
		fprintf(fp, "%s\n  {\"class\": \"%s\", \"domain\": ", i > 0 ? "," : "",
		        stats_class_name(d->domains[i].cls));
		json_str(fp, d->domains[i].domain);
		fprintf(fp, ", \"counts\": ");
		json_counts(fp, &d->domains[i].c);
		fputc('}', fp);
	}
	fprintf(fp, "],\n \"days\": [");
	for (size_t i = 0; i < d->ndays; i++) {
		cmd_report_time(d->days[i].day, false, day, sizeof(day));
		fprintf(fp, "%s\n  {\"date\": \"%s\", \"classes\": ", i > 0 ? "," : "", day);
		json_classes(fp, d->days[i].c);
		fputc('}', fp);
	}
	fprintf(fp, "],\n \"protocols\": [");
	for (size_t i = 0; i < d->nprotos; i++) {
		fprintf(fp, "%s\n  {\"class\": \"%s\", \"version\": ", i > 0 ? "," : "",
		        stats_class_name(d->protos[i].cls));
		json_str(fp, d->protos[i].version);
		fprintf(fp, ", \"sessions\": %" PRIu64 ", \"messages\": %" PRIu64 "}",
		        d->protos[i].sessions, d->protos[i].messages);
	}
	fprintf(fp, "]");
}

static void
report_json(FILE *fp, const struct report_data *d)
{
	char from[32], to[32];

	cmd_report_time(d->period.from, true, from, sizeof(from));
	cmd_report_time(d->period.to, true, to, sizeof(to));
	fprintf(fp,
	        "{\"period\": {\"from\": \"%s\", \"to\": \"%s\", \"from_unix\": %" PRId64
	        ", \"to_unix\": %" PRId64 "},\n \"order\": \"%s\",\n \"totals\": ",
	        from, to, d->period.from, d->period.to,
	        d->order == STATS_WEAKEST ? "weakest" : "volume");
	json_classes(fp, d->totals);
	json_lists(fp, d);
	fprintf(fp, "}\n");
}

/* ---- CSV (RFC 4180) ---- */

static void
csv_str(FILE *fp, const char *s)
{
	char clean[1024];

	cmd_report_text(s, clean, sizeof(clean));
	fputc('"', fp);
	for (const char *p = clean; *p != '\0'; p++) {
		if (*p == '"')
			fputc('"', fp);
		fputc(*p, fp);
	}
	fputc('"', fp);
}

static void
csv_row(FILE *fp, const char *section, const char *date, enum stats_class cls, const char *domain,
        const struct stats_counts *c)
{
	double s = stats_report_share(c);

	fprintf(fp, "%s,%s,%s,", section, date, stats_class_name(cls));
	csv_str(fp, domain);
	fprintf(fp,
	        ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
	        ",",
	        c->sessions, c->tls_sessions, c->messages, c->tls_messages, c->verified_messages,
	        c->rcpts, c->tls_rcpts);
	if (s >= 0)
		fprintf(fp, "%.6f", s);
	fprintf(fp, "\r\n");
}

static void
report_csv(FILE *fp, const struct report_data *d)
{
	char day[16];

	fprintf(fp, "section,date,class,domain,sessions,tls_sessions,messages,tls_messages,"
	            "verified_messages,rcpts,tls_rcpts,share\r\n");
	for (int k = 0; k < STATS_NCLASS; k++)
		csv_row(fp, "total", "", (enum stats_class)k, "", &d->totals[k]);
	for (size_t i = 0; i < d->ndomains; i++)
		csv_row(fp, "domain", "", d->domains[i].cls, d->domains[i].domain,
		        &d->domains[i].c);
	for (size_t i = 0; i < d->ndays; i++) {
		cmd_report_time(d->days[i].day, false, day, sizeof(day));
		for (int k = 0; k < STATS_NCLASS; k++)
			if (d->days[i].c[k].sessions + d->days[i].c[k].messages > 0)
				csv_row(fp, "day", day, (enum stats_class)k, "", &d->days[i].c[k]);
	}
}

/* ---- the command ---- */

/* report_write - the chosen format to stdout or to html (the --html file). */
static int
report_write(const struct report_args *a, const struct report_data *d, FILE *html)
{
	switch (a->format) {
	case FMT_TEXT:
		report_text(stdout, d);
		break;
	case FMT_JSON:
		report_json(stdout, d);
		break;
	case FMT_CSV:
		report_csv(stdout, d);
		break;
	case FMT_HTML:
		if (cmd_report_html(html, d) < 0 || fflush(html) != 0) {
			fprintf(stderr, "hikyaku: %s: write failed\n", a->html_path);
			return 1;
		}
		return 0;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

int
cmd_report(struct conf *conf, int argc, char **argv)
{
	struct report_args a;
	struct report_data d = {0};
	struct stats_report *r = NULL;
	FILE *html = NULL;
	const char *error;
	int rc = 1;

	if (argc < 2 || strcmp(argv[1], "tls") != 0)
		return cmd_usage_error(REPORT_USAGE);
	if (report_args(argc - 2, argv + 2, &a, &d.period) < 0)
		return CMD_EX_USAGE;
	d.order = a.weakest ? STATS_WEAKEST : STATS_BY_VOLUME;
	d.top = a.top > 0                                      ? (size_t)a.top
	        : a.format == FMT_TEXT || a.format == FMT_HTML ? REPORT_DEFAULT_TOP
	                                                       : 0;
	/* The page is the caller's file: opened before dropping to run_user. */
	if (a.format == FMT_HTML && (html = fopen(a.html_path, "w")) == NULL) {
		fprintf(stderr, "hikyaku: %s: %s\n", a.html_path, strerror(errno));
		return 1;
	}
	if (priv_drop(conf->run_user, &error) < 0 ||
	    stats_report_open(conf->data_dir, &r, &error) < 0 || report_gather(r, &d, &error) < 0)
		fprintf(stderr, "hikyaku: report tls: %s\n", error);
	else
		rc = report_write(&a, &d, html);
	if (html != NULL && fclose(html) != 0 && rc == 0) {
		fprintf(stderr, "hikyaku: %s: write failed\n", a.html_path);
		rc = 1;
	}
	stats_report_close(&r);
	report_data_free(&d);
	return rc;
}
