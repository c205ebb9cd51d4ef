/*
 * dsn.h -- delivery status notifications: bounces and delay warnings.
 *
 * Pure builder: a report description in, a complete RFC 5322 message out
 * (CRLF line endings, no line over 998 octets). No I/O, no clock, no
 * randomness: the caller supplies the date, the boundary and the
 * Message-ID, so that output is reproducible (golden tests).
 * The message is a multipart/report; report-type=delivery-status with a
 * human-readable part, a message/delivery-status part and the returned
 * original: text/rfc822-headers (RET=HDRS, the default) or message/rfc822
 * (RET=FULL, up to max_full octets; headers only beyond that).
 * It is to be sent with the null reverse-path <> (RFC 5321 4.5.5), from
 * MAILER-DAEMON@reporting_mta, marked Auto-Submitted: auto-replied
 * (RFC 3834) so that no robot answers it.
 * Standards: RFC 3464 (delivery-status fields), RFC 6522 (multipart/report),
 * RFC 3461 (ENVID, ORCPT, RET), RFC 5322 2.1.1 (998-octet lines).
 * Limits: text from remote servers (diagnostics) is reduced to printable
 * ASCII; non-ASCII in addresses is written as xtext (+HH).
 * XXX: SMTPUTF8 originals would want RFC 6533 message/global-* parts.
 */
#ifndef HIKYAKU_MSG_DSN_H
#define HIKYAKU_MSG_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/span.h"

#define DSN_MAX_FULL_DEFAULT (1024 * 1024)

enum dsn_action { DSN_FAILED, DSN_DELAYED };

struct dsn_rcpt {
	const char *final_rcpt; /* the recipient address we tried */
	const char *orcpt;      /* RFC 3461 ORCPT "type;xtext", or NULL */
	const char *status;     /* "5.1.1" (RFC 3463) */
	const char *remote_mta; /* host name (or [address]) that answered, or NULL */
	const char *diag;       /* the reply "550 5.1.1 text", or NULL */
};

struct dsn_report {
	enum dsn_action action;
	const char *reporting_mta; /* our myhostname */
	const char *sender;        /* the original envelope sender: To: of the DSN */
	const char *envid;         /* RFC 3461 ENVID, or NULL */
	int64_t arrival;           /* original arrival, unix seconds */
	int64_t now;               /* Date: of the DSN */
	int64_t retry_until;       /* DSN_DELAYED: Will-Retry-Until, 0 to omit */
	const char *boundary;      /* MIME boundary: [A-Za-z0-9.=_/-], 1..70 chars */
	const char *message_id;    /* without <> */
	bool full;                 /* RET=FULL */
	size_t max_full;           /* bound for RET=FULL; 0: DSN_MAX_FULL_DEFAULT */
	struct span msg;           /* the original message (CRLF) */
	size_t nrcpts;
	const struct dsn_rcpt *rcpts;
};

/*
 * Appends the notification to out. Returns 1, or -1 with *error_r
 * (static): no recipients, a bad boundary, or out is full (its max).
 */
int dsn_build(const struct dsn_report *r, struct buf *out, const char **error_r);

/* "Thu, 01 Jan 1970 00:00:00 +0000" (RFC 5322 3.3, UTC) into dst (>= 32). */
void dsn_format_date(int64_t t, char *dst, size_t size);

#endif
