/*
 * pop3_server.c -- session lifecycle, input loop, command dispatch, replies.
 *
 * Pipelining (RFC 2449 6.6) falls out of the design: commands are taken
 * from the input buffer one by one and their responses appended to the
 * connection's output in order. A RETR/TOP response streams from the file
 * and holds the input loop until its last line is queued.
 * Limits: struct pop3_limits, POP3_CMD_LINE. Security: remote-facing; an
 * asynchronous hook pins the session (pending) so that a closed connection
 * never leaves a dangling pointer in a completion.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "net/conn.h"
#include "pop3/pop3_server_int.h"
#include "store/mailbox.h"

#define P3_ANY (P3_AUTHORIZATION | P3_TRANSACTION)

/* The whole protocol at a glance (RFC 1939 9, RFC 2449, 2595, 5034). */
static const struct pop3_cmd_def pop3_cmds[] = {
	{ POP3_CAPA, P3_ANY, POP3_CMDF_PRE_TLS, pop3_cmd_capa },
	{ POP3_STLS, P3_AUTHORIZATION, POP3_CMDF_PRE_TLS, pop3_cmd_stls },
	{ POP3_QUIT, P3_ANY, POP3_CMDF_PRE_TLS, pop3_cmd_quit },
	{ POP3_USER, P3_AUTHORIZATION, 0, pop3_cmd_user },
	{ POP3_PASS, P3_AUTHORIZATION, 0, pop3_cmd_pass },
	{ POP3_AUTH, P3_AUTHORIZATION, 0, pop3_cmd_auth },
	{ POP3_STAT, P3_TRANSACTION, 0, pop3_cmd_stat },
	{ POP3_LIST, P3_TRANSACTION, 0, pop3_cmd_list },
	{ POP3_UIDL, P3_TRANSACTION, 0, pop3_cmd_uidl },
	{ POP3_RETR, P3_TRANSACTION, 0, pop3_cmd_retr },
	{ POP3_TOP, P3_TRANSACTION, 0, pop3_cmd_retr },
	{ POP3_DELE, P3_TRANSACTION, 0, pop3_cmd_dele },
	{ POP3_RSET, P3_TRANSACTION, 0, pop3_cmd_rset },
	{ POP3_NOOP, P3_TRANSACTION, 0, pop3_cmd_noop },
};

static void pop3_on_input(struct conn *c);
static void pop3_on_tls_ready(struct conn *c);
static void pop3_on_timeout(struct conn *c);
static void pop3_on_closed(struct conn *c, const char *reason);
static void pop3_on_drained(struct conn *c);

static const struct conn_handler pop3_conn_handler = {
	.input = pop3_on_input,
	.tls_ready = pop3_on_tls_ready,
	.timeout = pop3_on_timeout,
	.closed = pop3_on_closed,
	.drained = pop3_on_drained,
};

/* pop3_drop_maildrop - close the view and the account (session end). */
static void
pop3_drop_maildrop(struct pop3_sess *s)
{
	pop3_stream_abort(s);
	if (s->view != NULL)
		mailbox_view_close(&s->view);
	if (s->mbu != NULL)
		mailbox_user_close(&s->mbu);
	free(s->deleted);
	s->deleted = NULL;
	s->nmsgs = 0;
	free(s->upd_uids);
	s->upd_uids = NULL;
	s->upd_n = 0;
}

/* pop3_sess_free - release everything; the connection is already gone. */
static void
pop3_sess_free(struct pop3_sess **sp)
{
	struct pop3_sess *s = *sp;

	if (s == NULL)
		return;
	if (s->srv->hooks->disconnect != NULL)
		s->srv->hooks->disconnect(s->srv->app, s);
	pop3_drop_maildrop(s);
	free(s->chunk);
	free(s->auth_user);
	explicit_bzero(s->user, sizeof(s->user));
	free(s);
	*sp = NULL;
}

/* pop3_admit - the connect hook (per-client limits), before any TLS work.
   False if refused. */
static bool
pop3_admit(struct pop3_sess *s)
{
	if (s->srv->hooks->connect == NULL || s->srv->hooks->connect(s->srv->app, s) >= 0)
		return true;
	SLOG(s, "event=reject stage=connect reason=%s", "too-many-connections");
	/* On implicit TLS there is no channel yet to say why: just close. */
	if (!s->srv->implicit_tls)
		pop3_reply_fail(s, "[SYS/TEMP] Too many connections from your address");
	pop3_sess_close(s, "refused");
	return false;
}

static void
pop3_greet(struct pop3_sess *s)
{
	s->greeted = true;
	pop3_reply_ok(s, "%s POP3 hikyaku ready", s->srv->hostname);
	conn_flush(s->conn);
}

void
pop3_sess_start(const struct pop3_server *srv, struct conn *c)
{
	struct pop3_sess *s = xcalloc(1, sizeof(*s));

	s->id = conn_id(c);
	s->proto = srv->service_name;
	s->srv = srv;
	s->conn = c;
	s->state = P3_AUTHORIZATION;
	s->input = PI_CMD;
	s->fd = -1;
	s->framer.max = POP3_CMD_LINE;
	snprintf(s->peer_ip, sizeof(s->peer_ip), "%s", conn_peer_ip(c));
	conn_set_handler(c, &pop3_conn_handler, s);
	conn_set_input_max(c, 64 * 1024);
	conn_set_idle_timeout(c, srv->lim.idle_ms);
	SLOG(s, "event=connect peer=%s:%d local=%s:%d", conn_peer_ip(c), conn_peer_port(c),
	    conn_local_ip(c), conn_local_port(c));
	if (!pop3_admit(s))
		return;
	if (srv->implicit_tls)
		return; /* greet in pop3_on_tls_ready, after the handshake */
	pop3_greet(s);
}

/* pop3_vreply - one status line: "+OK text" or "-ERR text". */
__attribute__((format(printf, 3, 0))) static void
pop3_vreply(struct pop3_sess *s, const char *status, const char *fmt, va_list ap)
{
	char text[512];

	if (s->conn == NULL || s->closing)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	/* A client that pipelines without reading our responses: a lost one
	   would desynchronise the dialogue, so end it instead. */
	if (conn_printf(s->conn, "%s %s\r\n", status, text) < 0)
		pop3_sess_close(s, "output-overflow");
}

void
pop3_reply_ok(struct pop3_sess *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pop3_vreply(s, "+OK", fmt, ap);
	va_end(ap);
}

void
pop3_reply_fail(struct pop3_sess *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pop3_vreply(s, "-ERR", fmt, ap);
	va_end(ap);
}

void
pop3_reply_err(struct pop3_sess *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pop3_vreply(s, "-ERR", fmt, ap);
	va_end(ap);
	pop3_count_error(s);
}

bool
pop3_write(struct pop3_sess *s, const void *p, size_t n)
{
	if (s->conn == NULL || s->closing)
		return false;
	if (conn_write(s->conn, p, n) < 0) {
		pop3_sess_close(s, "output-overflow");
		return false;
	}
	return true;
}

void
pop3_count_error(struct pop3_sess *s)
{
	/* As smtpd_hard_error_limit: a client that keeps failing is probing
	   or broken; either way, stop talking to it. */
	if (++s->errors >= s->srv->lim.hard_errors && !s->closing) {
		pop3_reply_fail(s, "Too many bad commands, closing connection");
		pop3_sess_close(s, "too-many-errors");
	}
}

void
pop3_sess_close(struct pop3_sess *s, const char *reason)
{
	s->closing = true;
	if (s->conn != NULL)
		conn_close(s->conn, reason);
}

bool
pop3_sess_must_tls(const struct pop3_sess *s)
{
	return !s->tls;
}

void
pop3_sess_forget(struct pop3_sess *s)
{
	BUG_ON(s->state != P3_AUTHORIZATION || s->pending);
	explicit_bzero(s->user, sizeof(s->user));
	s->have_user = false;
	s->input = PI_CMD;
	s->framer = (struct line_framer){ .max = POP3_CMD_LINE };
}

void
pop3_sess_pause(struct pop3_sess *s)
{
	BUG_ON(s->pending);
	s->pending = true;
	conn_pause(s->conn);
	conn_flush(s->conn);
}

bool
pop3_sess_resume(struct pop3_sess *s)
{
	struct pop3_sess *dead;

	BUG_ON(!s->pending);
	s->pending = false;
	if (s->dead) {
		dead = s;
		pop3_sess_free(&dead);
		return true;
	}
	return false;
}

void
pop3_after_hook(struct pop3_sess *s)
{
	if (s->conn == NULL)
		return;
	conn_flush(s->conn);
	if (!s->closing)
		conn_resume(s->conn);
}

const struct mailbox_msg *
pop3_msg(struct pop3_sess *s, uint32_t msg)
{
	const struct mailbox_msg *m;

	if (msg == 0 || msg > s->nmsgs) {
		pop3_reply_fail(s, "There's no message %u.", msg);
		return NULL;
	}
	if (s->deleted[msg - 1]) {
		pop3_reply_fail(s, "Message %u is deleted.", msg);
		return NULL;
	}
	m = mailbox_view_msg(s->view, msg);
	if (m == NULL || m->expunged) {
		pop3_reply_fail(s, "Message %u was expunged by another session.", msg);
		return NULL;
	}
	return m;
}

/* pop3_dispatch - parse, gate on state and TLS, run. */
static void
pop3_dispatch(struct pop3_sess *s, struct span line)
{
	const struct pop3_cmd_def *def = NULL;
	struct pop3_cmd c;
	const char *error;

	if (pop3_parse_cmd(line, &c, &error) < 0) {
		pop3_reply_err(s, "%s", error);
		return;
	}
	for (size_t i = 0; i < nitems(pop3_cmds); i++)
		if (pop3_cmds[i].verb == c.verb)
			def = &pop3_cmds[i];
	BUG_ON(def == NULL);
	if (!(def->states & s->state)) {
		pop3_reply_err(s, "Command not valid in this state");
		return;
	}
	/* RFC 2595 4: no password in the clear; Dovecot's wording and code. */
	if (!(def->flags & POP3_CMDF_PRE_TLS) && pop3_sess_must_tls(s)) {
		pop3_reply_err(s, "[AUTH] Plaintext authentication disallowed on non-secure "
				  "connections; use STLS first");
		return;
	}
	def->run(s, &c);
}

/* pop3_line_error - the framer refused a line; it has been consumed. */
static void
pop3_line_error(struct pop3_sess *s)
{
	switch (s->framer.err) {
	case LE_TOO_LONG:
		pop3_reply_err(s, "Line too long");
		break;
	case LE_BARE_LF:
		pop3_reply_err(s, "Bare LF received");
		break;
	default:
		pop3_reply_err(s, "NUL in command");
		break;
	}
	s->framer.err = LE_NONE;
}

/* pop3_command_input - take one line; returns false when none is complete. */
static bool
pop3_command_input(struct pop3_sess *s)
{
	struct span line;

	s->framer.max = s->input == PI_AUTH ? POP3_AUTH_LINE : POP3_CMD_LINE;
	switch (line_next(&s->framer, conn_in(s->conn), &line)) {
	case LINE_MORE:
		return false;
	case LINE_ERR:
		s->input = PI_CMD;
		pop3_line_error(s);
		return true;
	case LINE_OK:
		break;
	}
	if (s->input == PI_AUTH)
		pop3_auth_input(s, line);
	else
		pop3_dispatch(s, line);
	return true;
}

static void
pop3_on_input(struct conn *c)
{
	struct pop3_sess *s = conn_ctx(c);

	if (!s->greeted)
		return; /* implicit TLS: nothing is parsed before the handshake */
	while (!s->closing && !s->pending && s->conn != NULL && s->input != PI_STREAM)
		if (!pop3_command_input(s))
			break;
	if (s->conn != NULL)
		conn_flush(s->conn);
}

static void
pop3_on_drained(struct conn *c)
{
	struct pop3_sess *s = conn_ctx(c);

	if (s->input == PI_STREAM && !s->closing)
		pop3_stream_more(s);
}

static void
pop3_on_tls_ready(struct conn *c)
{
	struct pop3_sess *s = conn_ctx(c);

	s->tls = true;
	if (!s->greeted)
		pop3_greet(s);
	/* STLS: the client speaks next (CAPA, then credentials). */
}

static void
pop3_on_timeout(struct conn *c)
{
	struct pop3_sess *s = conn_ctx(c);

	/* RFC 1939 3: on the autologout timer "the server should close the TCP
	   connection without removing any messages or sending any response". */
	SLOG(s, "event=timeout state=%u", s->state);
	pop3_sess_close(s, "timeout");
}

static void
pop3_on_closed(struct conn *c, const char *reason)
{
	struct pop3_sess *s = conn_ctx(c);

	SLOG(s, "event=disconnect reason=%s errors=%u", reason, s->errors);
	s->conn = NULL;
	if (s->pending) {
		s->dead = true; /* freed by the completion (pop3_sess_resume) */
		return;
	}
	pop3_sess_free(&s);
}

void
pop3_sess_set_app_data(struct pop3_sess *s, void *data)
{
	s->app_data = data;
}

void *
pop3_sess_app_data(const struct pop3_sess *s)
{
	return s->app_data;
}

uint64_t
pop3_sess_id(const struct pop3_sess *s)
{
	return s->id;
}

const char *
pop3_sess_peer_ip(const struct pop3_sess *s)
{
	return s->peer_ip;
}
