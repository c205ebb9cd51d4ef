/*
 * smtp_server.c -- session lifecycle, input loop, command dispatch, replies.
 *
 * Pipelining falls out of the design: commands are taken from the input
 * buffer one by one and their replies appended to the connection's output in
 * order; output is flushed when the buffer is empty or a hook goes
 * asynchronous (RFC 2920 section 3.1: replies in command order).
 * Limits: struct smtp_limits. Security: remote-facing; an asynchronous hook
 * pins the session (pending) so that a closed connection never leaves a
 * dangling pointer in a completion.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "net/conn.h"
#include "smtp/smtp_server_int.h"

static const struct smtp_cmd smtp_cmds[] = {
	{ "EHLO", SP_ANY, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_ehlo },
	{ "HELO", SP_ANY, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_helo },
	{ "STARTTLS", SP_ANY, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_starttls },
	{ "AUTH", SP_HELO, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_auth },
	{ "MAIL", SP_HELO, 0, smtp_cmd_mail },
	{ "RCPT", SP_MAIL | SP_RCPT, 0, smtp_cmd_rcpt },
	{ "DATA", SP_RCPT, 0, smtp_cmd_data },
	{ "BDAT", SP_ANY, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_bdat }, /* gates inside: the chunk must be consumed */
	{ "RSET", SP_ANY, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_rset },
	{ "NOOP", SP_ANY, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_noop },
	{ "QUIT", SP_ANY, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_quit },
	{ "VRFY", SP_ANY, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_vrfy },
	{ "HELP", SP_ANY, SMTP_CMDF_PRE_TLS | SMTP_CMDF_PRE_AUTH, smtp_cmd_help },
};

static void smtp_on_input(struct conn *c);
static void smtp_on_tls_ready(struct conn *c);
static void smtp_on_timeout(struct conn *c);
static void smtp_on_closed(struct conn *c, const char *reason);

static const struct conn_handler smtp_conn_handler = {
	.input = smtp_on_input,
	.tls_ready = smtp_on_tls_ready,
	.timeout = smtp_on_timeout,
	.closed = smtp_on_closed,
};

/* smtp_sess_free - release everything; the connection is already gone. */
static void
smtp_sess_free(struct smtp_sess **sp)
{
	struct smtp_sess *s = *sp;

	if (s == NULL)
		return;
	if (s->srv->hooks->disconnect != NULL)
		s->srv->hooks->disconnect(s->srv->app, s);
	smtp_tx_reset(s);
	buf_deinit(&s->dout);
	free(s->auth_user);
	explicit_bzero(s->auth_login_user, sizeof(s->auth_login_user));
	free(s);
	*sp = NULL;
}

/* smtp_admit - the connect hook (per-client limits), before any TLS work:
   a refused client costs us no handshake. False if refused. */
static bool
smtp_admit(struct smtp_sess *s)
{
	struct smtp_hook_reply r = { 0 };

	if (s->srv->hooks->connect == NULL || s->srv->hooks->connect(s->srv->app, s, &r) >= 0)
		return true;
	SLOG(s, "event=reject stage=connect code=%u reason=\"%s\"", r.code, r.text);
	/* On implicit TLS there is no channel yet to say why: just close. */
	if (s->srv->service != SMTP_SVC_SUBMISSIONS)
		smtp_reply_hook(s, &r);
	smtp_sess_close(s, "refused");
	return false;
}

static void
smtp_greet(struct smtp_sess *s)
{
	s->greeted = true;
	smtp_reply(s, 220, NULL, "%s ESMTP hikyaku", s->srv->hostname);
	conn_flush(s->conn);
}

void
smtp_sess_start(const struct smtp_server *srv, struct conn *c)
{
	struct smtp_sess *s = xcalloc(1, sizeof(*s));

	s->id = conn_id(c);
	s->proto = srv->service_name;
	s->srv = srv;
	s->conn = c;
	s->phase = SP_GREET;
	s->input = SI_CMD;
	s->framer.max = srv->lim.cmd_line;
	snprintf(s->peer_ip, sizeof(s->peer_ip), "%s", conn_peer_ip(c));
	buf_init(&s->dout, 0, 64 * 1024);
	conn_set_handler(c, &smtp_conn_handler, s);
	conn_set_input_max(c, MAX(srv->lim.cmd_line, (size_t)64 * 1024));
	conn_set_idle_timeout(c, srv->lim.idle_ms);
	SLOG(s, "event=connect peer=%s:%d local=%s:%d", conn_peer_ip(c), conn_peer_port(c),
	    conn_local_ip(c), conn_local_port(c));
	if (!smtp_admit(s))
		return;
	if (srv->service == SMTP_SVC_SUBMISSIONS)
		return; /* greet in smtp_on_tls_ready, after the handshake */
	smtp_greet(s);
}

/* smtp_vreply - one reply line; multi-line replies are built by callers. */
__attribute__((format(printf, 4, 0))) static void
smtp_vreply(struct smtp_sess *s, unsigned code, const char *enh, const char *fmt, va_list ap)
{
	char text[1024];
	int rc;

	if (s->conn == NULL || s->closing)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	if (enh != NULL)
		rc = conn_printf(s->conn, "%03u %s %s\r\n", code, enh, text);
	else
		rc = conn_printf(s->conn, "%03u %s\r\n", code, text);
	/* A client that pipelines without reading our replies: a lost reply
	   would desynchronise the dialogue, so end it instead. */
	if (rc < 0)
		smtp_sess_close(s, "output-overflow");
}

void
smtp_reply(struct smtp_sess *s, unsigned code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, code, enh, fmt, ap);
	va_end(ap);
}

void
smtp_reply_error(struct smtp_sess *s, unsigned code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, code, enh, fmt, ap);
	va_end(ap);
	smtp_count_error(s);
}

void
smtp_count_error(struct smtp_sess *s)
{
	/* Postfix smtpd_hard_error_limit: a client that keeps failing is
	   probing or broken; either way, stop talking to it. */
	if (++s->errors >= s->srv->lim.hard_errors && !s->closing) {
		smtp_reply(s, 421, "4.7.0", "%s Error: too many errors", s->srv->hostname);
		smtp_sess_close(s, "too-many-errors");
	}
}

void
smtp_reply_hook(struct smtp_sess *s, const struct smtp_hook_reply *r)
{
	smtp_reply(s, r->code, r->enhanced, "%s", r->text);
}

void
smtp_sess_close(struct smtp_sess *s, const char *reason)
{
	s->closing = true;
	if (s->conn != NULL)
		conn_close(s->conn, reason);
}

bool
smtp_sess_must_tls(const struct smtp_sess *s)
{
	return s->srv->service != SMTP_SVC_MX && !s->tls;
}

bool
smtp_sess_must_auth(const struct smtp_sess *s)
{
	return s->srv->service != SMTP_SVC_MX && s->auth_user == NULL;
}

bool
smtp_sess_may_auth(const struct smtp_sess *s)
{
	return s->srv->service != SMTP_SVC_MX && s->tls && s->auth_user == NULL;
}

void
smtp_tx_reset(struct smtp_sess *s)
{
	if (s->tx_started && s->srv->hooks->data_abort != NULL)
		s->srv->hooks->data_abort(s->srv->app, s);
	s->tx_started = false;
	free(s->sender);
	s->sender = NULL;
	for (size_t i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->tx_smtputf8 = false;
	s->tx_8bitmime = false;
	s->tx_failed = false;
	s->bdat_used = false;
	s->bdat_last = false;
	s->bdat_left = 0;
	s->msg_size = 0;
	buf_clear(&s->dout);
	if (s->phase != SP_GREET)
		s->phase = SP_HELO;
}

void
smtp_sess_forget(struct smtp_sess *s)
{
	smtp_tx_reset(s);
	s->phase = SP_GREET;
	s->esmtp = false;
	s->helo[0] = '\0';
	s->auth_step = AUTH_NONE;
	explicit_bzero(s->auth_login_user, sizeof(s->auth_login_user));
	free(s->auth_user);
	s->auth_user = NULL;
	s->framer = (struct line_framer){ .max = s->srv->lim.cmd_line };
}

void
smtp_sess_pause(struct smtp_sess *s)
{
	BUG_ON(s->pending);
	s->pending = true;
	conn_pause(s->conn);
	conn_flush(s->conn);
}

bool
smtp_sess_resume(struct smtp_sess *s)
{
	struct smtp_sess *dead;

	BUG_ON(!s->pending);
	s->pending = false;
	if (s->dead) {
		dead = s;
		smtp_sess_free(&dead);
		return true;
	}
	return false;
}

/* smtp_after_hook - the common tail of an asynchronous completion. */
static void
smtp_after_hook(struct smtp_sess *s)
{
	if (s->conn == NULL)
		return;
	conn_flush(s->conn);
	if (!s->closing)
		conn_resume(s->conn);
}

/* smtp_dispatch - look the verb up, gate on phase, TLS and AUTH, run it. */
static void
smtp_dispatch(struct smtp_sess *s, struct span line)
{
	const struct smtp_cmd *cmd = NULL;
	struct smtp_args a;

	if (smtp_tokenize(line, &a) < 0) {
		smtp_reply_error(s, 500, "5.5.2", "Error: bad syntax");
		return;
	}
	for (size_t i = 0; i < nitems(smtp_cmds); i++)
		if (span_eq_ci(a.verb, smtp_cmds[i].verb))
			cmd = &smtp_cmds[i];
	if (cmd == NULL) {
		smtp_reply_error(s, 502, "5.5.2", "Error: command not recognized");
		return;
	}
	if (!(cmd->flags & SMTP_CMDF_PRE_TLS) && smtp_sess_must_tls(s)) {
		smtp_reply_error(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	if (!(cmd->flags & SMTP_CMDF_PRE_AUTH) && smtp_sess_must_auth(s)) {
		smtp_reply_error(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if (!(cmd->phases & s->phase)) {
		smtp_reply_error(s, 503, "5.5.1", "Error: bad sequence of commands");
		return;
	}
	cmd->run(s, a.params);
}

/* smtp_line_error - the framer refused a line; it has been consumed. */
static void
smtp_line_error(struct smtp_sess *s)
{
	switch (s->framer.err) {
	case LE_TOO_LONG:
		smtp_reply_error(s, 500, "5.5.2", "Error: line too long");
		break;
	case LE_BARE_LF:
		smtp_reply_error(s, 500, "5.5.2", "Error: bare <LF> received");
		break;
	default:
		smtp_reply_error(s, 500, "5.5.2", "Error: NUL in command");
		break;
	}
	s->framer.err = LE_NONE;
}

/* smtp_command_input - take one line; returns false when none is complete. */
static bool
smtp_command_input(struct smtp_sess *s)
{
	struct span line;

	switch (line_next(&s->framer, conn_in(s->conn), &line)) {
	case LINE_MORE:
		return false;
	case LINE_ERR:
		if (s->input == SI_AUTH) {
			s->input = SI_CMD;
			s->auth_step = AUTH_NONE;
		}
		smtp_line_error(s);
		return true;
	case LINE_OK:
		break;
	}
	if (s->input == SI_AUTH)
		smtp_auth_input(s, line);
	else
		smtp_dispatch(s, line);
	return true;
}

static void
smtp_on_input(struct conn *c)
{
	struct smtp_sess *s = conn_ctx(c);
	bool more = true;

	if (!s->greeted)
		return; /* implicit TLS: nothing is parsed before the handshake */
	while (more && !s->closing && !s->pending && s->conn != NULL) {
		if (s->input == SI_CMD || s->input == SI_AUTH)
			more = smtp_command_input(s);
		else
			more = smtp_data_input(s);
	}
	if (s->conn != NULL)
		conn_flush(s->conn);
}

static void
smtp_on_tls_ready(struct conn *c)
{
	struct smtp_sess *s = conn_ctx(c);
	const char *version = conn_tls_version(c), *cipher = conn_tls_cipher(c);

	s->tls = true;
	snprintf(s->tls_version, sizeof(s->tls_version), "%s", version != NULL ? version : "");
	snprintf(s->tls_cipher, sizeof(s->tls_cipher), "%s", cipher != NULL ? cipher : "");
	if (!s->greeted) {
		smtp_greet(s);
		return;
	}
	/* STARTTLS: the client speaks first (EHLO); nothing else to do. */
}

static void
smtp_on_timeout(struct conn *c)
{
	struct smtp_sess *s = conn_ctx(c);

	SLOG(s, "event=timeout phase=%u", s->phase);
	smtp_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->srv->hostname);
	smtp_sess_close(s, "timeout");
}

static void
smtp_on_closed(struct conn *c, const char *reason)
{
	struct smtp_sess *s = conn_ctx(c);

	SLOG(s, "event=disconnect reason=%s errors=%u", reason, s->errors);
	s->conn = NULL;
	if (s->pending) {
		s->dead = true; /* freed by the completion (smtp_sess_resume) */
		return;
	}
	smtp_sess_free(&s);
}

void
smtp_sess_auth_result(struct smtp_sess *s, bool ok)
{
	if (smtp_sess_resume(s))
		return;
	smtp_auth_done(s, ok);
	smtp_after_hook(s);
}

void
smtp_sess_data_result(struct smtp_sess *s, bool ok, const struct smtp_hook_reply *r)
{
	if (smtp_sess_resume(s))
		return;
	smtp_data_done(s, ok, r);
	smtp_after_hook(s);
}

void
smtp_sess_set_app_data(struct smtp_sess *s, void *data)
{
	s->app_data = data;
}

void *
smtp_sess_app_data(const struct smtp_sess *s)
{
	return s->app_data;
}

uint64_t
smtp_sess_id(const struct smtp_sess *s)
{
	return s->id;
}

const char *
smtp_sess_peer_ip(const struct smtp_sess *s)
{
	return s->peer_ip;
}

const struct smtp_server *
smtp_sess_server(const struct smtp_sess *s)
{
	return s->srv;
}

const char *
smtp_sess_auth_user(const struct smtp_sess *s)
{
	return s->auth_user;
}

size_t
smtp_sess_rcpt_count(const struct smtp_sess *s)
{
	return s->nrcpts;
}

const char *
smtp_sess_rcpt(const struct smtp_sess *s, size_t i)
{
	return i < s->nrcpts ? s->rcpts[i] : NULL;
}

const char *
smtp_sess_sender(const struct smtp_sess *s)
{
	return s->sender;
}

bool
smtp_sess_smtputf8(const struct smtp_sess *s)
{
	return s->tx_smtputf8;
}

bool
smtp_sess_8bitmime(const struct smtp_sess *s)
{
	return s->tx_8bitmime;
}

const char *
smtp_sess_tx_id(const struct smtp_sess *s)
{
	return s->tx_id;
}

bool
smtp_sess_is_tls(const struct smtp_sess *s)
{
	return s->tls;
}

const char *
smtp_sess_tls_version(const struct smtp_sess *s)
{
	return s->tls ? s->tls_version : NULL;
}

const char *
smtp_sess_tls_cipher(const struct smtp_sess *s)
{
	return s->tls ? s->tls_cipher : NULL;
}

const char *
smtp_sess_helo(const struct smtp_sess *s)
{
	return s->helo;
}
