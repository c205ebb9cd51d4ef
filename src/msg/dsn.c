/*
 * dsn.c -- RFC 3464 delivery status notifications (pure builder).
 *
 * Every byte goes through put()/put_field()/copy_lines() into one bounded
 * buffer; a full buffer is remembered (sticky) and reported once at the
 * end, so that the building code reads straight through.
 * Security: diagnostic texts come from remote servers; they are reduced to
 * printable ASCII and folded, so that they cannot inject header fields or
 * MIME boundaries. The returned original is copied as it is apart from
 * splitting lines over 998 octets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "msg/dsn.h"

#define LINE_MAX_OCTETS 998
#define FOLD_AT 78

struct out {
	struct buf *b;
	int err;
};

static void
put(struct out *o, const void *p, size_t n)
{
	if (o->err == 0 && buf_append(o->b, p, n) < 0)
		o->err = -1;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void
putf(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (o->err == 0 && buf_vprintf(o->b, fmt, ap) < 0)
		o->err = -1;
	va_end(ap);
}

void
dsn_format_date(int64_t t, char *dst, size_t size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;

	/* Names spelled out: strftime's %a/%b follow the locale. */
	gmtime_r(&tt, &tm);
	snprintf(dst, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
	         tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
}

/* Printable ASCII copy of untrusted text; other bytes become '?'. */
static void
sanitize(char *dst, size_t size, const char *src)
{
	size_t o = 0;

	for (; *src != '\0' && o + 1 < size; src++) {
		unsigned char c = (unsigned char)*src;
		dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : (c == '\t' ? ' ' : '?');
	}
	dst[o] = '\0';
}

/* An address for a field: ASCII as is, other bytes as xtext "+HH". */
static void
addr_ascii(char *dst, size_t size, const char *src)
{
	size_t o = 0;

	for (; *src != '\0' && o + 4 < size; src++) {
		unsigned char c = (unsigned char)*src;

		if (c > 0x20 && c < 0x7f && c != '+')
			dst[o++] = (char)c;
		else
			o += (size_t)snprintf(dst + o, size - o, "+%02X", c);
	}
	dst[o] = '\0';
}

/*
 * put_value - value CRLF, starting at column col, folded (RFC 5322 2.2.3:
 * a CRLF before a space) when a word would pass FOLD_AT, and broken by
 * force before LINE_MAX_OCTETS when a word alone is that long. The value
 * must be printable ASCII (sanitize() first).
 */
static void
put_value(struct out *o, size_t col, const char *value)
{
	size_t n = strlen(value);

	for (size_t i = 0; i < n;) {
		size_t word;

		if (value[i] == ' ') {
			word = strcspn(value + i + 1, " ");
			if (col > 20 && col + 1 + word > FOLD_AT) {
				puts_(o, "\r\n");
				col = 0;
			}
			put(o, " ", 1);
			col++;
			i++;
			continue;
		}
		word = strcspn(value + i, " ");
		while (col + word > LINE_MAX_OCTETS - 2) {
			size_t part = LINE_MAX_OCTETS - 2 - col;

			put(o, value + i, part);
			puts_(o, "\r\n ");
			col = 1;
			i += part;
			word -= part;
		}
		put(o, value + i, word);
		col += word;
		i += word;
	}
	puts_(o, "\r\n");
}

/* "Name: value" CRLF, folded. */
static void
put_field(struct out *o, const char *name, const char *value)
{
	putf(o, "%s: ", name);
	put_value(o, strlen(name) + 2, value);
}

/*
 * copy_lines - the original's lines, CRLF, none over 998 octets: a longer
 * one is split, with a tab after the break when `hdr` (a folded header).
 * A final line without CRLF gets one.
 */
static void
copy_lines(struct out *o, struct span s, bool hdr)
{
	size_t i = 0;

	while (i < s.n) {
		const uint8_t *lf = memchr(s.p + i, '\n', s.n - i);
		size_t end = lf != NULL ? (size_t)(lf - s.p) : s.n;
		size_t len = end - i;

		if (len > 0 && s.p[end - 1] == '\r')
			len--;
		while (len > LINE_MAX_OCTETS) {
			put(o, s.p + i, LINE_MAX_OCTETS - 1);
			puts_(o, hdr ? "\r\n\t" : "\r\n");
			i += LINE_MAX_OCTETS - 1;
			len -= LINE_MAX_OCTETS - 1;
		}
		put(o, s.p + i, len);
		puts_(o, "\r\n");
		i = end + 1;
	}
}

/* The header section of msg, without the empty line. */
static struct span
header_section(struct span msg)
{
	for (size_t i = 0; i + 1 < msg.n; i++) {
		if (msg.p[i] != '\n')
			continue;
		if (msg.p[i + 1] == '\n')
			return (struct span){msg.p, i + 1};
		if (msg.p[i + 1] == '\r' && i + 2 < msg.n && msg.p[i + 2] == '\n')
			return (struct span){msg.p, i + 1};
	}
	return msg;
}

static bool
has_8bit(struct span s)
{
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] >= 0x80)
			return true;
	return false;
}

static bool
boundary_ok(const char *b)
{
	size_t n = strlen(b);

	return n >= 1 && n <= 70 &&
	       strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.=_/-") ==
	               n;
}

static void
put_headers(struct out *o, const struct dsn_report *r, bool eight_bit)
{
	char date[40], to[600];

	dsn_format_date(r->now, date, sizeof(date));
	addr_ascii(to, sizeof(to), r->sender);
	putf(o, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n", r->reporting_mta);
	putf(o, "To: <%s>\r\n", to);
	putf(o, "Subject: %s\r\n",
	     r->action == DSN_FAILED ? "Undelivered Mail Returned to Sender"
	                             : "Delayed Mail (still being retried)");
	putf(o, "Date: %s\r\n", date);
	putf(o, "Message-ID: <%s>\r\n", r->message_id);
	puts_(o, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	putf(o,
	     "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	     "\tboundary=\"%s\"\r\n",
	     r->boundary);
	putf(o,
	     "Content-Transfer-Encoding: %s\r\n\r\n"
	     "This is a MIME-encapsulated message.\r\n\r\n",
	     eight_bit ? "8bit" : "7bit");
}

/* The part people read: what happened, per recipient. */
static void
put_human(struct out *o, const struct dsn_report *r, bool headers_only_fallback)
{
	char until[40], line[1600], a[600], diag[600], mta[300];

	putf(o,
	     "--%s\r\nContent-Description: Notification\r\n"
	     "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
	     r->boundary);
	putf(o, "This is the mail system at host %s.\r\n\r\n", r->reporting_mta);
	if (r->action == DSN_FAILED) {
		puts_(o, "Your message could not be delivered to one or more of its recipients;\r\n"
		         "the reasons are given below, and the report is attached.\r\n");
	} else {
		puts_(o, "This is a warning only; you need not send your message again.\r\n"
		         "Delivery to the recipients below has been delayed; the mail system\r\n");
		if (r->retry_until > 0) {
			dsn_format_date(r->retry_until, until, sizeof(until));
			putf(o, "will keep trying until %s.\r\n", until);
		} else {
			puts_(o, "will keep trying.\r\n");
		}
	}
	if (headers_only_fallback)
		puts_(o, "\r\nThe message was too large to return whole: its headers follow.\r\n");
	puts_(o, "\r\n");
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];

		addr_ascii(a, sizeof(a), rc->final_rcpt);
		sanitize(diag, sizeof(diag), rc->diag != NULL ? rc->diag : "(no reply)");
		sanitize(mta, sizeof(mta), rc->remote_mta != NULL ? rc->remote_mta : "");
		if (rc->remote_mta != NULL)
			snprintf(line, sizeof(line), "<%s>: host %s said: %s", a, mta, diag);
		else
			snprintf(line, sizeof(line), "<%s>: %s", a, diag);
		put_value(o, 0, line);
	}
	puts_(o, "\r\n");
}

static void
put_rcpt_fields(struct out *o, const struct dsn_report *r, const struct dsn_rcpt *rc)
{
	char v[1200], a[600], date[40];

	puts_(o, "\r\n");
	addr_ascii(a, sizeof(a), rc->final_rcpt);
	snprintf(v, sizeof(v), "rfc822; %s", a);
	put_field(o, "Final-Recipient", v);
	if (rc->orcpt != NULL) {
		const char *semi = strchr(rc->orcpt, ';');
		sanitize(a, sizeof(a), semi != NULL ? semi + 1 : rc->orcpt);
		snprintf(v, sizeof(v), "%.*s; %s", semi != NULL ? (int)(semi - rc->orcpt) : 6,
		         semi != NULL ? rc->orcpt : "rfc822", a);
		sanitize(v, sizeof(v), v);
		put_field(o, "Original-Recipient", v);
	}
	put_field(o, "Action", r->action == DSN_FAILED ? "failed" : "delayed");
	sanitize(a, sizeof(a), rc->status != NULL ? rc->status : "");
	put_field(o, "Status", a[0] ? a : (r->action == DSN_FAILED ? "5.0.0" : "4.0.0"));
	if (rc->remote_mta != NULL) {
		sanitize(a, sizeof(a), rc->remote_mta);
		snprintf(v, sizeof(v), "dns; %s", a);
		put_field(o, "Remote-MTA", v);
	}
	if (rc->diag != NULL) {
		sanitize(a, sizeof(a), rc->diag);
		/* "smtp" only for an SMTP reply; our own reasons are ours. */
		bool smtp = strlen(a) >= 4 && a[0] >= '2' && a[0] <= '5' && a[1] >= '0' &&
		            a[1] <= '9' && a[2] >= '0' && a[2] <= '9' && a[3] == ' ';
		snprintf(v, sizeof(v), "%s; %s", smtp ? "smtp" : "X-hikyaku", a);
		put_field(o, "Diagnostic-Code", v);
	}
	if (r->action == DSN_DELAYED && r->retry_until > 0) {
		dsn_format_date(r->retry_until, date, sizeof(date));
		put_field(o, "Will-Retry-Until", date);
	}
}

/* RFC 3464 2.2 per-message fields, then 2.3 per-recipient fields. */
static void
put_status(struct out *o, const struct dsn_report *r)
{
	char date[40], v[300];

	putf(o,
	     "--%s\r\nContent-Description: Delivery report\r\n"
	     "Content-Type: message/delivery-status\r\n\r\n",
	     r->boundary);
	snprintf(v, sizeof(v), "dns; %s", r->reporting_mta);
	put_field(o, "Reporting-MTA", v);
	if (r->envid != NULL) {
		sanitize(v, sizeof(v), r->envid);
		put_field(o, "Original-Envelope-Id", v);
	}
	dsn_format_date(r->arrival, date, sizeof(date));
	put_field(o, "Arrival-Date", date);
	for (size_t i = 0; i < r->nrcpts; i++)
		put_rcpt_fields(o, r, &r->rcpts[i]);
	puts_(o, "\r\n");
}

static void
put_original(struct out *o, const struct dsn_report *r, bool full)
{
	struct span part = full ? r->msg : header_section(r->msg);

	putf(o, "--%s\r\nContent-Description: %s\r\nContent-Type: %s\r\n", r->boundary,
	     full ? "Undelivered Message" : "Undelivered Message Headers",
	     full ? "message/rfc822" : "text/rfc822-headers");
	if (has_8bit(part))
		puts_(o, "Content-Transfer-Encoding: 8bit\r\n");
	puts_(o, "\r\n");
	copy_lines(o, part, !full);
	putf(o, "\r\n--%s--\r\n", r->boundary);
}

int
dsn_build(const struct dsn_report *r, struct buf *out, const char **error_r)
{
	struct out o = {.b = out};
	size_t max_full = r->max_full != 0 ? r->max_full : DSN_MAX_FULL_DEFAULT;
	bool full = r->full && r->msg.n <= max_full;

	if (r->nrcpts == 0) {
		*error_r = "no recipients to report";
		return -1;
	}
	if (!boundary_ok(r->boundary)) {
		*error_r = "bad MIME boundary";
		return -1;
	}
	put_headers(&o, r, has_8bit(full ? r->msg : header_section(r->msg)));
	put_human(&o, r, r->full && !full);
	put_status(&o, r);
	put_original(&o, r, full);
	if (o.err != 0) {
		*error_r = "notification too large";
		return -1;
	}
	return 1;
}
