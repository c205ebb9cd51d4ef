/*
 * cmd_report_html.c -- `hikyaku report tls --html FILE`: one self-contained
 * HTML page (no script, no external style, font or image) with the
 * headline figures, two inline SVG charts drawn here (share of messages
 * encrypted per day, inbound MX and outbound; top peer domains by volume
 * with their encrypted part) and the tables behind them.
 * Security: domain names came from remote peers; every text is HTML-escaped
 * (html_str) and invalid UTF-8 replaced before it reaches the page.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd_report.h"

#define CHART_W 720 /* SVG user units */
#define CHART_H 240
#define PAD_L 48
#define PAD_R 16
#define PAD_T 16
#define PAD_B 40
#define BAR_H 18
#define BAR_GAP 6
#define LABEL_W 260
#define PCT_W 56 /* room for "100.0%" after the longest bar */

static const char *const page_style =
        "body{font-family:sans-serif;margin:2em;color:#222;max-width:60em}"
        "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}"
        ".big{display:inline-block;margin:0 2em 1em 0}"
        ".big b{display:block;font-size:2.2em}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}"
        "td.l,th.l{text-align:left}"
        "svg text{font-family:sans-serif;font-size:12px;fill:#222}"
        ".mx{stroke:#1565c0;fill:#1565c0}.out{stroke:#ef6c00;fill:#ef6c00}"
        ".enc{fill:#2e7d32}.clr{fill:#c62828}";

/* html_str - text as HTML character data or attribute value. */
static void
html_str(FILE *fp, const char *s)
{
	char clean[1024];

	cmd_report_text(s, clean, sizeof(clean));
	for (const char *p = clean; *p != '\0'; p++) {
		switch (*p) {
		case '&':
			fputs("&amp;", fp);
			break;
		case '<':
			fputs("&lt;", fp);
			break;
		case '>':
			fputs("&gt;", fp);
			break;
		case '"':
			fputs("&quot;", fp);
			break;
		case '\'':
			fputs("&#39;", fp);
			break;
		default:
			fputc(*p, fp);
			break;
		}
	}
}

/* pct - "97.5%" or "-". */
static void
pct(FILE *fp, const struct stats_counts *c)
{
	double s = stats_report_share(c);

	if (s < 0)
		fputs("-", fp);
	else
		fprintf(fp, "%.1f%%", s * 100.0);
}

static void
html_head(FILE *fp, const struct report_data *d)
{
	static const char *const label[STATS_NCLASS] = {"inbound (MX)", "our users' submission",
	                                                "outbound"};
	char from[32], to[32];

	cmd_report_time(d->period.from, true, from, sizeof(from));
	cmd_report_time(d->period.to, true, to, sizeof(to));
	fprintf(fp,
	        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	        "<title>hikyaku TLS report</title><style>%s</style></head><body>\n",
	        page_style);
	fprintf(fp, "<h1>Share of mail encrypted in transit</h1>\n<p>%s .. %s (UTC)</p>\n", from,
	        to);
	for (int k = 0; k < STATS_NCLASS; k++) {
		fprintf(fp, "<div class=\"big\" id=\"share-%s\"><b>",
		        stats_class_name((enum stats_class)k));
		pct(fp, &d->totals[k]);
		fprintf(fp, "</b>%s: %" PRIu64 " of %" PRIu64 " messages</div>\n", label[k],
		        d->totals[k].tls_messages, d->totals[k].messages);
	}
}

/* day_x, share_y - chart coordinates of day i of n and of a share. */
static double
day_x(size_t i, size_t n)
{
	double w = CHART_W - PAD_L - PAD_R;

	return n <= 1 ? PAD_L + w / 2 : PAD_L + w * (double)i / (double)(n - 1);
}

static double
share_y(double share)
{
	return PAD_T + (CHART_H - PAD_T - PAD_B) * (1.0 - share);
}

/* chart_line - one class's share per day: a polyline and its points
   (days without messages of that class are left out). */
static void
chart_line(FILE *fp, const struct report_data *d, enum stats_class k, const char *cls)
{
	fprintf(fp, "<polyline class=\"%s\" style=\"fill:none\" stroke-width=\"2\" points=\"", cls);
	for (size_t i = 0; i < d->ndays; i++)
		if (d->days[i].c[k].messages > 0)
			fprintf(fp, "%.1f,%.1f ", day_x(i, d->ndays),
			        share_y(stats_report_share(&d->days[i].c[k])));
	fprintf(fp, "\"/>\n");
	for (size_t i = 0; i < d->ndays; i++)
		if (d->days[i].c[k].messages > 0)
			fprintf(fp, "<circle class=\"%s\" r=\"3\" cx=\"%.1f\" cy=\"%.1f\"/>\n", cls,
			        day_x(i, d->ndays), share_y(stats_report_share(&d->days[i].c[k])));
}

static void
chart_trend(FILE *fp, const struct report_data *d)
{
	char day[16];
	size_t step = d->ndays / 8 + 1; /* at most ~8 date labels */

	fprintf(fp,
	        "<h2>Share encrypted per day</h2>\n<svg id=\"trend\" "
	        "width=\"%d\" height=\"%d\" "
	        "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"share encrypted per day\">\n",
	        CHART_W, CHART_H, CHART_W, CHART_H);
	for (int p = 0; p <= 100; p += 25)
		fprintf(fp,
		        "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
		        "<text x=\"4\" y=\"%.1f\">%d%%</text>\n",
		        PAD_L, CHART_W - PAD_R, share_y(p / 100.0), share_y(p / 100.0),
		        share_y(p / 100.0) + 4, p);
	for (size_t i = 0; i < d->ndays; i += step) {
		cmd_report_time(d->days[i].day, false, day, sizeof(day));
		fprintf(fp, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
		        day_x(i, d->ndays), CHART_H - PAD_B + 18, day);
	}
	chart_line(fp, d, STATS_MX, "mx");
	chart_line(fp, d, STATS_OUT, "out");
	fprintf(fp,
	        "<text class=\"mx\" style=\"stroke:none\" x=\"%d\" y=\"%d\">inbound (MX)</text>"
	        "<text class=\"out\" style=\"stroke:none\" x=\"%d\" y=\"%d\">outbound</text>"
	        "\n</svg>\n",
	        PAD_L, CHART_H - 6, PAD_L + 120, CHART_H - 6);
	if (d->ndays == 0)
		fprintf(fp, "<p>No traffic in this period.</p>\n");
}

/* chart_peers - one bar per peer domain: length by messages (sessions
   when none), the encrypted part green, the rest red. */
static void
chart_peers(FILE *fp, const struct report_data *d)
{
	uint64_t max = 1;
	double w = CHART_W - LABEL_W - PCT_W;
	char label[28];
	int h = (int)d->ndomains * (BAR_H + BAR_GAP) + BAR_GAP;

	for (size_t i = 0; i < d->ndomains; i++) {
		uint64_t v = d->domains[i].c.messages ? d->domains[i].c.messages
		                                      : d->domains[i].c.sessions;
		max = v > max ? v : max;
	}
	fprintf(fp,
	        "<h2>Top peer domains (%s)</h2>\n<svg id=\"peers\" "
	        "width=\"%d\" height=\"%d\" "
	        "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"peer domains\">\n",
	        d->order == STATS_WEAKEST ? "weakest first" : "by volume", CHART_W, h, CHART_W, h);
	for (size_t i = 0; i < d->ndomains; i++) {
		const struct stats_domain *r = &d->domains[i];
		uint64_t v = r->c.messages ? r->c.messages : r->c.sessions;
		double share = stats_report_share(&r->c), len = w * (double)v / (double)max;
		int y = BAR_GAP + (int)i * (BAR_H + BAR_GAP);

		share = share < 0 ? 0 : share;
		/* Long names would run into the bar: the table below has them whole. */
		snprintf(label, sizeof(label), "%.*s", (int)sizeof(label) - 1, r->domain);
		fprintf(fp, "<text x=\"0\" y=\"%d\">%s ", y + 13, stats_class_name(r->cls));
		html_str(fp, label);
		fprintf(fp,
		        "</text><rect class=\"enc\" x=\"%d\" y=\"%d\" width=\"%.1f\" "
		        "height=\"%d\"/><rect class=\"clr\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
		        "height=\"%d\"/><text x=\"%.1f\" y=\"%d\">",
		        LABEL_W, y, len * share, BAR_H, LABEL_W + len * share, y, len * (1 - share),
		        BAR_H, LABEL_W + len + 4, y + 13);
		pct(fp, &r->c);
		fprintf(fp, "</text>\n");
	}
	fprintf(fp, "</svg>\n");
}

static void
table_row(FILE *fp, const char *first, const char *second, const struct stats_counts *c)
{
	fprintf(fp, "<tr><td class=\"l\">%s</td><td class=\"l\">", first);
	html_str(fp, second);
	fprintf(fp,
	        "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64
	        "</td><td>%" PRIu64 "</td><td>",
	        c->sessions, c->tls_sessions, c->messages, c->tls_messages, c->verified_messages);
	pct(fp, c);
	fprintf(fp, "</td></tr>\n");
}

static void
table_head(FILE *fp, const char *title, const char *first, const char *second)
{
	fprintf(fp,
	        "<h2>%s</h2>\n<table><tr><th class=\"l\">%s</th><th class=\"l\">%s</th>"
	        "<th>sessions</th><th>with TLS</th><th>messages</th><th>encrypted</th>"
	        "<th>verified</th><th>share</th></tr>\n",
	        title, first, second);
}

static void
html_tables(FILE *fp, const struct report_data *d)
{
	char day[16];

	table_head(fp, "Totals", "class", "");
	for (int k = 0; k < STATS_NCLASS; k++)
		table_row(fp, stats_class_name((enum stats_class)k), "", &d->totals[k]);
	fprintf(fp, "</table>\n");
	table_head(fp, "Peer domains", "class", "domain");
	for (size_t i = 0; i < d->ndomains; i++)
		table_row(fp, stats_class_name(d->domains[i].cls), d->domains[i].domain,
		          &d->domains[i].c);
	fprintf(fp, "</table>\n");
	table_head(fp, "Per day", "date", "class");
	for (size_t i = 0; i < d->ndays; i++) {
		cmd_report_time(d->days[i].day, false, day, sizeof(day));
		for (int k = 0; k < STATS_NCLASS; k++)
			if (d->days[i].c[k].sessions + d->days[i].c[k].messages > 0)
				table_row(fp, day, stats_class_name((enum stats_class)k),
				          &d->days[i].c[k]);
	}
	fprintf(fp, "</table>\n");
}

int
cmd_report_html(FILE *fp, const struct report_data *d)
{
	html_head(fp, d);
	chart_trend(fp, d);
	chart_peers(fp, d);
	html_tables(fp, d);
	fprintf(fp, "<p>Generated by hikyaku report tls.</p>\n</body></html>\n");
	return ferror(fp) ? -1 : 0;
}
