/*
 * smtp_cmd_starttls.c -- STARTTLS (RFC 3207), the fixed recipe of
 * STYLE.md section 9.
 *
 * RFC 3207 section 4.2: "the server MUST discard any knowledge obtained from
 * the client, such as the argument to the EHLO command, which was not
 * obtained from the TLS negotiation itself." Anything the client pipelined
 * behind STARTTLS arrived in plaintext and may have been injected by a man in
 * the middle (CVE-2011-0411 class), so it is dropped unparsed and logged.
 */
#include "net/conn.h"
#include "smtp/smtp_server_int.h"

void
smtp_cmd_starttls(struct smtp_sess *s, struct span params)
{
	size_t dropped;

	if (params.n != 0) {
		smtp_reply_error(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (s->tls) {
		smtp_reply_error(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (s->srv->tls == NULL) {
		smtp_reply_error(s, 502, "5.5.1", "Error: TLS not available");
		return;
	}
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	dropped = conn_starttls(s->conn, s->srv->tls);
	if (dropped > 0)
		SLOG(s, "event=starttls-pipelined discarded=%zu", dropped);
	smtp_sess_forget(s);
	/* From here on TLS: no plaintext byte can reach the parser again. */
	s->tls = true;
}
