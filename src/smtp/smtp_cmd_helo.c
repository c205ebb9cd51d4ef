/*
 * smtp_cmd_helo.c -- EHLO and HELO (RFC 5321 section 4.1.1.1).
 *
 * The EHLO reply advertises only what the session may use now: STARTTLS
 * until TLS is up (never twice), AUTH only on submission and only over TLS
 * (RFC 4954 section 4, Postfix smtpd_tls_auth_only). An EHLO also resets
 * any transaction (RFC 5321 section 4.1.4).
 */
#include <stdio.h>
#include <string.h>

#include "net/conn.h"
#include "smtp/smtp_server_int.h"

/* smtp_helo_save - keep a printable copy of the client's name for Received. */
static bool
smtp_helo_save(struct smtp_sess *s, struct span name)
{
	size_t i;

	if (name.n == 0 || name.n >= sizeof(s->helo))
		return false;
	for (i = 0; i < name.n; i++)
		if (name.p[i] <= 0x20 || name.p[i] >= 0x7f || name.p[i] == '(' || name.p[i] == ')')
			return false;
	memcpy(s->helo, name.p, name.n);
	s->helo[name.n] = '\0';
	return true;
}

/* smtp_helo_common - validate and record the name; false if replied. */
static bool
smtp_helo_common(struct smtp_sess *s, struct span params, const char *verb)
{
	if (params.n == 0) {
		smtp_reply_error(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return false;
	}
	if (!smtp_helo_save(s, params)) {
		smtp_reply_error(s, 501, "5.5.4", "Error: invalid hostname");
		return false;
	}
	smtp_tx_reset(s);
	s->phase = SP_HELO;
	return true;
}

void
smtp_cmd_ehlo(struct smtp_sess *s, struct span params)
{
	const struct smtp_server *srv = s->srv;
	char r[1024];
	int n;

	if (!smtp_helo_common(s, params, "EHLO"))
		return;
	s->esmtp = true;
	/* One write for the whole reply, so that it is queued whole or not at all. */
	n = snprintf(r, sizeof(r), "250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n%s%s"
	    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
	    srv->hostname, (unsigned long long)srv->lim.message_size,
	    !s->tls && srv->tls != NULL ? "250-STARTTLS\r\n" : "",
	    smtp_sess_may_auth(s) ? "250-AUTH PLAIN LOGIN\r\n" : "");
	BUG_ON(n < 0 || (size_t)n >= sizeof(r));
	if (conn_write(s->conn, r, (size_t)n) < 0)
		smtp_sess_close(s, "output-overflow");
}

void
smtp_cmd_helo(struct smtp_sess *s, struct span params)
{
	if (!smtp_helo_common(s, params, "HELO"))
		return;
	s->esmtp = false;
	smtp_reply(s, 250, NULL, "%s", s->srv->hostname);
}
