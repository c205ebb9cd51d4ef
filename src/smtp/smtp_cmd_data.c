/*
 * smtp_cmd_data.c -- DATA (RFC 5321 4.1.1.4) and BDAT (RFC 3030 CHUNKING):
 * streaming the message through msg/dot.c into the application's
 * data_write hook, then one reply after the durable commit.
 *
 * Errors during the data phase are sticky (STYLE.md section 4): the stream
 * is consumed to its end and answered once, so client and server never
 * desynchronise. The end of DATA is only CRLF.CRLF; bare CR or LF in the
 * data are refused (SMTP smuggling). Size is enforced while streaming and
 * nothing past the limit is stored. A rejected BDAT chunk is still
 * consumed (RFC 3030 section 2), never parsed as commands.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "msg/addr.h"
#include "net/conn.h"
#include "smtp/smtp_server_int.h"

/* smtp_received_proto - RFC 3848 / RFC 6531 "with" keyword. */
static const char *
smtp_received_proto(const struct smtp_sess *s)
{
	static const char *const names[2][2][2] = {
		/* [utf8][tls][auth] */
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};

	if (!s->esmtp)
		return s->tls ? "SMTPS" : "SMTP";
	return names[s->tx_smtputf8][s->tls][s->auth_user != NULL];
}

/*
 * smtp_received - the trace header (RFC 5321 4.4), with the TLS facts as
 * the RFC 8314 section 4.3 "tls" clause (IANA cipher suite name) and, for
 * people, Postfix's "(using ... with cipher ...)" comment.
 */
static int
smtp_received(struct smtp_sess *s)
{
	char hdr[1024], date[64];
	struct tm tm;
	time_t now = time(NULL);
	int n, m;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	n = snprintf(hdr, sizeof(hdr),
	    "Received: from %s ([%s])\r\n\tby %s (hikyaku) with %s id %s", s->helo, s->peer_ip,
	    s->srv->hostname, smtp_received_proto(s), s->tx_id);
	if (s->nrcpts == 1)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "\r\n\tfor <%s>", s->rcpts[0]);
	if (s->tls && s->conn != NULL) {
		m = conn_tls_bits(s->conn);
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
		    "\r\n\ttls %s\r\n\t(using %s with cipher %s (%d/%d bits))",
		    conn_tls_cipher_std(s->conn), conn_tls_version(s->conn),
		    conn_tls_cipher(s->conn), m, m);
	}
	n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, ";\r\n\t%s\r\n", date);
	if (n <= 0 || (size_t)n >= sizeof(hdr))
		return -1;
	return s->srv->hooks->data_write(s->srv->app, s, hdr, (size_t)n);
}

/* smtp_data_begin - open the message at the application; false if replied. */
static bool
smtp_data_begin(struct smtp_sess *s, enum dot_mode mode)
{
	if (s->srv->hooks->data_begin(s->srv->app, s) < 0) {
		smtp_reply(s, 451, "4.3.0", "Error: cannot store the message now");
		return false;
	}
	s->tx_started = true;
	if (smtp_received(s) < 0)
		s->tx_failed = true;
	dot_filter_init(&s->dot, mode, s->srv->lim.message_size);
	return true;
}

void
smtp_cmd_data(struct smtp_sess *s, struct span params)
{
	if (params.n != 0) {
		smtp_reply_error(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	if (s->bdat_used) {
		smtp_reply_error(s, 503, "5.5.1", "Error: DATA after BDAT");
		return;
	}
	if (!smtp_data_begin(s, DOT_MODE_DATA))
		return;
	s->input = SI_DATA;
	smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* smtp_bdat_refuse - reply now, swallow the chunk that follows. */
static void
smtp_bdat_refuse(struct smtp_sess *s, uint64_t size, unsigned code, const char *enh,
    const char *text)
{
	s->bdat_left = size;
	s->input = size > 0 ? SI_BDAT_SKIP : SI_CMD;
	smtp_reply_error(s, code, enh, "%s", text);
}

void
smtp_cmd_bdat(struct smtp_sess *s, struct span params)
{
	uint64_t size;
	bool last;
	const char *error;

	if (smtp_parse_bdat(params, &size, &last, &error) < 0) {
		/* The chunk length is unknown, so the stream cannot be resynced. */
		smtp_reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]: %s", error);
		smtp_sess_close(s, "bad-bdat");
		return;
	}
	if (smtp_sess_must_tls(s)) {
		smtp_bdat_refuse(s, size, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	if (smtp_sess_must_auth(s)) {
		smtp_bdat_refuse(s, size, 530, "5.7.0", "Authentication required");
		return;
	}
	if (s->phase != SP_RCPT) {
		smtp_bdat_refuse(s, size, 503, "5.5.1", "Error: need RCPT command");
		return;
	}
	if (!s->tx_started) {
		if (!smtp_data_begin(s, DOT_MODE_RAW)) {
			s->bdat_left = size;
			s->input = size > 0 ? SI_BDAT_SKIP : SI_CMD;
			return;
		}
		s->bdat_used = true;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->input = SI_BDAT;
}

/* smtp_data_drain - pass filtered bytes on unless the message already failed. */
static void
smtp_data_drain(struct smtp_sess *s)
{
	struct span out = buf_peek(&s->dout);

	if (out.n > 0 && !s->tx_failed && !s->dot.too_big &&
	    s->srv->hooks->data_write(s->srv->app, s, out.p, out.n) < 0)
		s->tx_failed = true;
	buf_clear(&s->dout);
}

/* smtp_data_finish - end of message: refuse it, or commit (asynchronous). */
static void
smtp_data_finish(struct smtp_sess *s)
{
	s->input = SI_CMD;
	s->msg_size = s->dot.size;
	if (s->dot.too_big) {
		SLOG(s, "event=reject stage=data code=552 size=%llu",
		    (unsigned long long)s->dot.size);
		smtp_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
	} else if ((s->dot.bare_lf || s->dot.bare_cr) && s->srv->lim.forbid_bare_newline) {
		SLOG(s, "event=reject stage=data code=550 reason=bare-newline bare_lf=%d bare_cr=%d",
		    s->dot.bare_lf, s->dot.bare_cr);
		smtp_reply(s, 550, "5.6.0", "Message contains bare CR or LF; use CRLF line endings");
	} else if (s->tx_failed) {
		smtp_reply(s, 451, "4.3.0", "Error: could not store the message");
	} else {
		smtp_sess_pause(s);
		s->srv->hooks->data_commit(s->srv->app, s);
		return;
	}
	smtp_tx_reset(s);
}

void
smtp_data_done(struct smtp_sess *s, bool ok, const struct smtp_hook_reply *r)
{
	s->tx_started = false; /* the commit consumed the application's message */
	if (ok) {
		char from[ADDR_MAX_PATH + 8];

		SLOG(s, "event=accepted id=%s from=%s rcpts=%zu size=%llu tls=%s", s->tx_id,
		    log_value(from, sizeof(from), s->sender, strlen(s->sender)), s->nrcpts, (unsigned long long)s->msg_size,
		    s->tls && s->conn != NULL ? conn_tls_version(s->conn) : "none");
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", s->tx_id);
	} else if (r != NULL) {
		smtp_reply_hook(s, r);
	} else {
		smtp_reply(s, 451, "4.3.0", "Error: could not store the message");
	}
	smtp_tx_reset(s);
}

/* smtp_data_stream - DATA: filter until CRLF.CRLF. */
static bool
smtp_data_stream(struct smtp_sess *s, struct buf *in)
{
	while (buf_len(in) > 0) {
		struct span p = buf_peek(in);
		size_t used = 0;
		enum dot_rc rc = dot_filter_run(&s->dot, p.p, p.n, &used, &s->dout);

		buf_consume(in, used);
		smtp_data_drain(s);
		if (rc == DOT_END) {
			smtp_data_finish(s);
			return true;
		}
	}
	return false;
}

/* smtp_bdat_stream - BDAT: exactly bdat_left bytes, then a reply. */
static bool
smtp_bdat_stream(struct smtp_sess *s, struct buf *in)
{
	while (buf_len(in) > 0 && s->bdat_left > 0) {
		struct span p = buf_peek(in);
		size_t used = 0;

		p.n = (size_t)MIN((uint64_t)p.n, s->bdat_left);
		dot_filter_run(&s->dot, p.p, p.n, &used, &s->dout);
		buf_consume(in, used);
		s->bdat_left -= used;
		smtp_data_drain(s);
	}
	if (s->bdat_left > 0)
		return false;
	if (s->bdat_last) {
		dot_filter_finish(&s->dot);
		smtp_data_finish(s);
	} else {
		s->input = SI_CMD;
		smtp_reply(s, 250, "2.0.0", "%llu octets received",
		    (unsigned long long)s->dot.size);
	}
	return true;
}

bool
smtp_data_input(struct smtp_sess *s)
{
	struct buf *in = conn_in(s->conn);
	size_t n;

	switch (s->input) {
	case SI_DATA:
		return smtp_data_stream(s, in);
	case SI_BDAT:
		return smtp_bdat_stream(s, in);
	case SI_BDAT_SKIP:
		n = (size_t)MIN((uint64_t)buf_len(in), s->bdat_left);
		buf_consume(in, n);
		s->bdat_left -= n;
		if (s->bdat_left > 0)
			return false;
		s->input = SI_CMD;
		return true;
	default:
		BUG_ON(1);
	}
	return false;
}
