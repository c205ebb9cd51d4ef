/*
 * smtp_client_reply.c -- SMTP reply parser for the client side.
 *
 * Bytes -> lines with the command framer (line_next(), limit
 * SMTP_REPLY_LINE_MAX), lines -> replies here: "ddd-text" continues,
 * "ddd text" or "ddd" ends a reply. Keeps the code, the first enhanced
 * status code, the text (bounded) and, for EHLO, the extension keywords.
 * Pure: no I/O, no logging, no allocation; resumable at any byte.
 * Limits: SMTP_REPLY_LINE_MAX, SMTP_REPLY_LINES_MAX, SMTP_REPLY_BYTES_MAX.
 * Standards: RFC 5321 4.2 (reply syntax, 4.2.1 multi-line), 4.1.1.1 (EHLO);
 * RFC 2034 / RFC 3463 (enhanced status codes); RFC 1870 (SIZE).
 * Security: remote-facing, fuzzed by tests/fuzz/fuzz_smtp_reply.c. The text
 * is returned as received (minus control bytes, which are refused): log it
 * through log_value().
 */
#include <string.h>

#include "smtp/smtp_client.h"

void
smtp_reply_parser_init(struct smtp_reply_parser *p, bool ehlo)
{
	memset(p, 0, sizeof(*p));
	p->f.max = SMTP_REPLY_LINE_MAX;
	p->ehlo = ehlo;
}

/* reply_reset - ready for the next reply; the framer keeps its state. */
static void
reply_reset(struct smtp_reply_parser *p)
{
	p->ehlo = false;
	p->bytes = 0;
	p->text_len = 0;
	memset(&p->r, 0, sizeof(p->r));
}

/* digits - count of leading ASCII digits in p[0..n), at most max + 1. */
static size_t
digits(const uint8_t *p, size_t n, size_t max)
{
	size_t i = 0;

	while (i < n && i <= max && p[i] >= '0' && p[i] <= '9')
		i++;
	return i;
}

/*
 * enhanced_len - length of an RFC 3463 code "c.sss.ddd" at p whose class c
 * matches the reply's first digit, followed by a space or the end; else 0.
 */
static size_t
enhanced_len(const uint8_t *p, size_t n, uint8_t cls)
{
	size_t i, k;

	if (n < 5 || p[0] != cls || (cls != '2' && cls != '4' && cls != '5') || p[1] != '.')
		return 0;
	i = 2;
	if ((k = digits(p + i, n - i, 3)) < 1 || k > 3)
		return 0;
	i += k;
	if (i >= n || p[i] != '.')
		return 0;
	i++;
	if ((k = digits(p + i, n - i, 3)) < 1 || k > 3)
		return 0;
	i += k;
	return i == n || p[i] == ' ' ? i : 0;
}

/* text_ok - refuses control bytes other than HT (8-bit text is allowed:
   RFC 6531 servers may send UTF-8). */
static bool
text_ok(struct span t)
{
	for (size_t i = 0; i < t.n; i++)
		if ((t.p[i] < 0x20 && t.p[i] != '\t') || t.p[i] == 0x7f)
			return false;
	return true;
}

/* text_add - append one line's text to the bounded reply text. */
static void
text_add(struct smtp_reply_parser *p, struct span t)
{
	size_t room = sizeof(p->r.text) - 1 - p->text_len;
	size_t n;

	if (p->text_len > 0 && room > 0 && t.n > 0) {
		p->r.text[p->text_len++] = ' ';
		room--;
	}
	n = MIN(room, t.n);
	if (n > 0)
		memcpy(p->r.text + p->text_len, t.p, n);
	p->text_len += n;
	p->r.text[p->text_len] = '\0';
}

/* parse_size - "SIZE [n]": n as digits, 0 when absent, invalid or huge. */
static uint64_t
parse_size(struct span v)
{
	uint64_t n = 0;

	if (v.n == 0 || v.n > 19 || digits(v.p, v.n, 19) != v.n)
		return 0;
	for (size_t i = 0; i < v.n; i++)
		n = n * 10 + (uint64_t)(v.p[i] - '0');
	return n;
}

/* ehlo_keyword - one EHLO line "KEYWORD[ params]" (RFC 5321 4.1.1.1). */
static void
ehlo_keyword(struct smtp_reply *r, struct span t)
{
	static const struct {
		const char *kw;
		unsigned bit;
	} kws[] = {
	        {"PIPELINING", SMTP_EXT_PIPELINING},
	        {"SIZE", SMTP_EXT_SIZE},
	        {"8BITMIME", SMTP_EXT_8BITMIME},
	        {"SMTPUTF8", SMTP_EXT_SMTPUTF8},
	        {"STARTTLS", SMTP_EXT_STARTTLS},
	        {"CHUNKING", SMTP_EXT_CHUNKING},
	        {"ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES},
	        {"AUTH", SMTP_EXT_AUTH},
	};
	const uint8_t *sp = memchr(t.p, ' ', t.n);
	struct span kw = {t.p, sp != NULL ? (size_t)(sp - t.p) : t.n};

	for (size_t i = 0; i < nitems(kws); i++) {
		if (!span_eq_ci(kw, kws[i].kw))
			continue;
		r->ext |= kws[i].bit;
		if (kws[i].bit == SMTP_EXT_SIZE && sp != NULL)
			r->size = parse_size((struct span){sp + 1, t.n - kw.n - 1});
		return;
	}
}

/* line_head - checks "ddd" and the separator; sets *last_r. */
static int
line_head(struct span line, bool *last_r, const char **error_r)
{
	if (line.n < 3 || line.p[0] < '2' || line.p[0] > '5' || line.p[1] < '0' ||
	    line.p[1] > '5' || line.p[2] < '0' || line.p[2] > '9') {
		*error_r = "malformed reply code";
		return -1;
	}
	if (line.n > 3 && line.p[3] != ' ' && line.p[3] != '-') {
		*error_r = "malformed reply separator";
		return -1;
	}
	*last_r = line.n == 3 || line.p[3] == ' ';
	return 0;
}

int
smtp_reply_line(struct smtp_reply_parser *p, struct span line, struct smtp_reply *r,
                const char **error_r)
{
	struct span t;
	unsigned code;
	size_t e;
	bool last;

	if (line_head(line, &last, error_r) < 0)
		return -1;
	code = (unsigned)(line.p[0] - '0') * 100 + (unsigned)(line.p[1] - '0') * 10 +
	       (unsigned)(line.p[2] - '0');
	if (p->r.nlines > 0 && code != p->r.code) {
		*error_r = "reply code changed within a multi-line reply";
		return -1;
	}
	if (++p->r.nlines > SMTP_REPLY_LINES_MAX) {
		*error_r = "too many lines in one reply";
		return -1;
	}
	if ((p->bytes += line.n + 2) > SMTP_REPLY_BYTES_MAX) {
		*error_r = "reply too large";
		return -1;
	}
	p->r.code = code;
	t = line.n > 4 ? (struct span){line.p + 4, line.n - 4} : (struct span){line.p, 0};
	if (!text_ok(t)) {
		*error_r = "control character in reply";
		return -1;
	}
	if (p->ehlo && p->r.nlines > 1 && code / 100 == 2)
		ehlo_keyword(&p->r, t);
	if ((e = enhanced_len(t.p, t.n, line.p[0])) > 0) {
		if (p->r.nlines == 1)
			memcpy(p->r.enhanced, t.p, e); /* e <= 9 < sizeof(enhanced) */
		t.p += MIN(e + 1, t.n);
		t.n -= MIN(e + 1, t.n);
	}
	text_add(p, t);
	if (!last)
		return 0;
	*r = p->r;
	reply_reset(p);
	return 1;
}

/* framer_error - the framer's verdict in words. */
static const char *
framer_error(enum line_err e)
{
	switch (e) {
	case LE_TOO_LONG:
		return "reply line too long";
	case LE_BARE_LF:
		return "reply line ends in bare LF";
	case LE_NUL:
		return "NUL in reply";
	case LE_NONE:
		break;
	}
	return "malformed reply";
}

int
smtp_reply_parse(struct smtp_reply_parser *p, struct buf *in, struct smtp_reply *r,
                 const char **error_r)
{
	struct span line;
	enum line_rc rc;
	int res;

	for (;;) {
		rc = line_next(&p->f, in, &line);
		if (rc == LINE_MORE) {
			/* Fail at once rather than skip an endless line until LF. */
			if (p->f.skipping) {
				*error_r = "reply line too long";
				return -1;
			}
			return 0;
		}
		if (rc == LINE_ERR) {
			*error_r = framer_error(p->f.err);
			return -1;
		}
		if ((res = smtp_reply_line(p, line, r, error_r)) != 0)
			return res;
	}
}
