/*
 * imap_server.c -- session lifecycle, input loop, command dispatch,
 * responses and mailbox synchronization.
 *
 * Commands are taken from the input one at a time; a command that waits
 * for the store or the password check pins the session (pending) and
 * pauses input, so responses stay in command order and a closed connection
 * never leaves a dangling pointer in a completion. Untagged EXPUNGE,
 * FETCH and EXISTS responses from other sessions and deliveries are sent
 * after commands, as RFC 9051 7.5.1 allows, and at once during IDLE.
 * Limits: struct imap_limits. Security: remote-facing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "imap/imap_server_int.h"
#include "net/conn.h"

static const struct imap_cmd_def imap_cmds[] = {
	{ "CAPABILITY", IS_ANY, 0, imap_cmd_capability },
	{ "NOOP", IS_ANY, 0, imap_cmd_noop },
	{ "LOGOUT", IS_ANY, 0, imap_cmd_logout },
	{ "ID", IS_ANY, 0, imap_cmd_id },
	{ "STARTTLS", IS_NOAUTH, 0, imap_cmd_starttls },
	{ "LOGIN", IS_NOAUTH, 0, imap_cmd_login },
	{ "AUTHENTICATE", IS_NOAUTH, 0, imap_cmd_authenticate },
	{ "ENABLE", IS_LOGGED, 0, imap_cmd_enable },
	{ "NAMESPACE", IS_LOGGED, 0, imap_cmd_namespace },
	{ "SELECT", IS_LOGGED, 0, imap_cmd_select },
	{ "EXAMINE", IS_LOGGED, 0, imap_cmd_examine },
	{ "CREATE", IS_LOGGED, 0, imap_cmd_create },
	{ "DELETE", IS_LOGGED, 0, imap_cmd_delete },
	{ "RENAME", IS_LOGGED, 0, imap_cmd_rename },
	{ "SUBSCRIBE", IS_LOGGED, 0, imap_cmd_subscribe },
	{ "UNSUBSCRIBE", IS_LOGGED, 0, imap_cmd_unsubscribe },
	{ "LIST", IS_LOGGED, 0, imap_cmd_list },
	{ "LSUB", IS_LOGGED, 0, imap_cmd_lsub },
	{ "STATUS", IS_LOGGED, 0, imap_cmd_status },
	{ "APPEND", IS_LOGGED, 0, imap_cmd_append },
	{ "IDLE", IS_LOGGED, 0, imap_cmd_idle },
	{ "CHECK", IS_SELECTED, 0, imap_cmd_check },
	{ "CLOSE", IS_SELECTED, 0, imap_cmd_close },
	{ "UNSELECT", IS_SELECTED, 0, imap_cmd_unselect },
	{ "EXPUNGE", IS_SELECTED, IMAP_CMDF_UID, imap_cmd_expunge },
	{ "SEARCH", IS_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE, imap_cmd_search },
	{ "FETCH", IS_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE, imap_cmd_fetch },
	{ "STORE", IS_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE, imap_cmd_store },
	{ "COPY", IS_SELECTED, IMAP_CMDF_UID, imap_cmd_copy },
	{ "MOVE", IS_SELECTED, IMAP_CMDF_UID, imap_cmd_move },
};

static void imap_on_input(struct conn *c);
static void imap_on_tls_ready(struct conn *c);
static void imap_on_timeout(struct conn *c);
static void imap_on_closed(struct conn *c, const char *reason);
static void imap_on_drained(struct conn *c);

static const struct conn_handler imap_conn_handler = {
	.input = imap_on_input,
	.tls_ready = imap_on_tls_ready,
	.timeout = imap_on_timeout,
	.closed = imap_on_closed,
	.drained = imap_on_drained,
};

static struct imap_parser *
imap_parser_for(const struct imap_server *srv)
{
	struct imap_parse_limits lim = {
		.line_max = srv->lim.line_max,
		.literal_max = srv->lim.literal_max,
		/* One message plus its command line (APPEND). */
		.cmd_max = srv->lim.literal_max + 2 * srv->lim.line_max,
		.depth_max = IMAP_PARSE_DEPTH_MAX,
		.items_max = IMAP_PARSE_ITEMS_MAX,
	};
	struct imap_parser *p = imap_parser_new(&lim);

	/* Before login only LOGIN takes literals: user and password. */
	imap_parser_set_literal_max(p, SASL_MAX_FIELD);
	return p;
}

/* imap_sess_free - release everything; the connection is already gone. */
static void
imap_sess_free(struct imap_sess **sp)
{
	struct imap_sess *s = *sp;

	if (s == NULL)
		return;
	if (s->srv->hooks->disconnect != NULL)
		s->srv->hooks->disconnect(s->srv->app, s);
	imap_fetch_job_free(&s->fetch);
	imap_unselect(s);
	if (s->mbu != NULL)
		mailbox_user_close(&s->mbu);
	imap_parser_free(&s->parser);
	free(s->uids);
	free(s->arg);
	free(s->arg2);
	free(s->user);
	explicit_bzero(s->auth_try, sizeof(s->auth_try));
	free(s);
	*sp = NULL;
}

/* What every state offers (RFC 9051 7.2.2); the pre-login variants add to it. */
#define IMAP_CAPS                                                                                  \
	"IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE "   \
	"SPECIAL-USE LIST-EXTENDED BINARY"

const char *
imap_capabilities(const struct imap_sess *s)
{
	if (s->state != IS_NOAUTH)
		return IMAP_CAPS;
	/* RFC 9051 6.2.3 and 7.2.2: no LOGIN and no mechanisms without TLS. */
	if (!s->tls)
		return s->srv->tls != NULL ? IMAP_CAPS " STARTTLS LOGINDISABLED"
					   : IMAP_CAPS " LOGINDISABLED";
	return IMAP_CAPS " AUTH=PLAIN";
}

static void
imap_greet(struct imap_sess *s)
{
	s->greeted = true;
	imap_printf(s, "* OK [CAPABILITY %s] %s hikyaku IMAP ready\r\n", imap_capabilities(s),
	    s->srv->hostname);
	conn_flush(s->conn);
}

void
imap_sess_start(const struct imap_server *srv, struct conn *c)
{
	struct imap_sess *s = xcalloc(1, sizeof(*s));

	s->id = conn_id(c);
	s->proto = srv->service_name;
	s->srv = srv;
	s->conn = c;
	s->state = IS_NOAUTH;
	s->parser = imap_parser_for(srv);
	strcpy(s->tag, "*");
	snprintf(s->peer_ip, sizeof(s->peer_ip), "%s", conn_peer_ip(c));
	conn_set_handler(c, &imap_conn_handler, s);
	conn_set_input_max(c, 64 * 1024);
	conn_set_idle_timeout(c, srv->lim.login_ms);
	SLOG(s, "event=connect peer=%s:%d local=%s:%d", conn_peer_ip(c), conn_peer_port(c),
	    conn_local_ip(c), conn_local_port(c));
	if (srv->hooks->connect != NULL && srv->hooks->connect(srv->app, s) < 0) {
		SLOG(s, "event=reject stage=connect reason=%s", "too-many-connections");
		if (!srv->implicit_tls)
			imap_printf(s, "* BYE Too many connections from your address\r\n");
		imap_sess_close(s, "refused");
		return;
	}
	if (srv->implicit_tls)
		return; /* greet in imap_on_tls_ready */
	imap_greet(s);
}

void
imap_write(struct imap_sess *s, const void *p, size_t n)
{
	if (s->conn == NULL || s->closing)
		return;
	/* A client that does not read its responses: end it rather than
	   lose a response and desynchronise the dialogue. */
	if (conn_write(s->conn, p, n) < 0)
		imap_sess_close(s, "output-overflow");
}

void
imap_printf(struct imap_sess *s, const char *fmt, ...)
{
	va_list ap;
	struct buf b;

	buf_init(&b, 0, 64 * 1024);
	va_start(ap, fmt);
	if (buf_vprintf(&b, fmt, ap) == 0)
		imap_write(s, buf_peek(&b).p, buf_len(&b));
	va_end(ap);
	buf_deinit(&b);
}

__attribute__((format(printf, 3, 0))) static void
imap_vtagged(struct imap_sess *s, const char *status, const char *fmt, va_list ap)
{
	char text[1024];

	/* RFC 9051 7.5.1: changes go out while a command is in progress, not
	   after its end, and not during FETCH, STORE or SEARCH. */
	if (s->changed && s->sync_ok)
		imap_sync(s);
	vsnprintf(text, sizeof(text), fmt, ap);
	imap_printf(s, "%s %s %s\r\n", s->tag, status, text);
}

void
imap_tagged(struct imap_sess *s, const char *status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_vtagged(s, status, fmt, ap);
	va_end(ap);
}

void
imap_tagged_error(struct imap_sess *s, const char *status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_vtagged(s, status, fmt, ap);
	va_end(ap);
	imap_count_error(s);
}

void
imap_count_error(struct imap_sess *s)
{
	/* Like smtpd_hard_error_limit: a client that keeps failing is
	   probing or broken; either way, stop talking to it. */
	if (++s->errors >= s->srv->lim.hard_errors && !s->closing) {
		imap_printf(s, "* BYE Too many errors\r\n");
		imap_sess_close(s, "too-many-errors");
	}
}

void
imap_buf_string(struct buf *out, const char *str, size_t len)
{
	bool lit = false;

	for (size_t i = 0; i < len && !lit; i++)
		lit = str[i] == '\r' || str[i] == '\n' || str[i] == '\0';
	if (lit) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, str, len);
		return;
	}
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, &str[i], 1);
	}
	buf_append(out, "\"", 1);
}

void
imap_sess_close(struct imap_sess *s, const char *reason)
{
	s->closing = true;
	if (s->conn != NULL)
		conn_close(s->conn, reason);
}

void
imap_sess_pause(struct imap_sess *s)
{
	BUG_ON(s->pending);
	s->pending = true;
	conn_pause(s->conn);
	conn_flush(s->conn);
}

bool
imap_sess_resume(struct imap_sess *s)
{
	struct imap_sess *dead;

	BUG_ON(!s->pending);
	s->pending = false;
	if (s->dead) {
		dead = s;
		imap_sess_free(&dead);
		return true;
	}
	return false;
}

void
imap_after_async(struct imap_sess *s)
{
	if (s->conn == NULL)
		return;
	conn_flush(s->conn);
	if (!s->closing && !s->pending && s->fetch == NULL)
		conn_resume(s->conn);
}

void
imap_buf_flags(struct imap_sess *s, struct buf *out, const struct mailbox_msg *m)
{
	static const struct {
		unsigned bit;
		const char *name;
	} sys[] = {
		{ MAILBOX_F_SEEN, "\\Seen" },
		{ MAILBOX_F_ANSWERED, "\\Answered" },
		{ MAILBOX_F_FLAGGED, "\\Flagged" },
		{ MAILBOX_F_DELETED, "\\Deleted" },
		{ MAILBOX_F_DRAFT, "\\Draft" },
	};
	const char *const *kw;
	size_t nkw = mailbox_view_keywords(s->view, &kw);
	bool first = true;

	buf_append_str(out, "(");
	for (size_t i = 0; i < nitems(sys); i++)
		if (m->flags & sys[i].bit) {
			buf_printf(out, "%s%s", first ? "" : " ", sys[i].name);
			first = false;
		}
	for (size_t i = 0; i < nkw && i < 64; i++)
		if (m->keywords & (1ull << i)) {
			buf_printf(out, "%s%s", first ? "" : " ", kw[i]);
			first = false;
		}
	buf_append_str(out, ")");
}

/* ---- synchronization with the store ---- */

static void
sync_expunge(void *ctx, uint32_t seq)
{
	imap_printf(ctx, "* %u EXPUNGE\r\n", seq);
}

static void
sync_flags(void *ctx, uint32_t seq, const struct mailbox_msg *m)
{
	struct imap_sess *s = ctx;
	struct buf b;

	buf_init(&b, 0, 64 * 1024);
	buf_printf(&b, "* %u FETCH (UID %u FLAGS ", seq, m->uid);
	imap_buf_flags(s, &b, m);
	buf_append_str(&b, ")\r\n");
	imap_write(s, buf_peek(&b).p, buf_len(&b));
	buf_deinit(&b);
}

static void
sync_exists(void *ctx, uint32_t count)
{
	imap_printf(ctx, "* %u EXISTS\r\n", count);
}

static const struct mailbox_sync_cb imap_sync_cb = {
	.expunge = sync_expunge,
	.flags = sync_flags,
	.exists = sync_exists,
};

void
imap_sync(struct imap_sess *s)
{
	s->changed = false;
	if (s->view != NULL && s->conn != NULL)
		mailbox_view_sync(s->view, &imap_sync_cb, s);
}

void
imap_view_changed(void *ctx)
{
	struct imap_sess *s = ctx;

	s->changed = true;
	/* RFC 2177: during IDLE, changes go out at once. */
	if (s->input == II_IDLE && !s->pending && s->conn != NULL) {
		imap_sync(s);
		conn_flush(s->conn);
	}
}

void
imap_unselect(struct imap_sess *s)
{
	if (s->view != NULL)
		mailbox_view_close(&s->view);
	s->changed = false;
	if (s->state == IS_SELECTED)
		s->state = IS_AUTH;
}

void
imap_sess_forget(struct imap_sess *s)
{
	imap_parser_free(&s->parser);
	s->parser = imap_parser_for(s->srv);
	s->input = II_CMD;
	s->rev2 = s->utf8 = false;
}

void
imap_logged_in(struct imap_sess *s)
{
	s->state = IS_AUTH;
	imap_parser_set_literal_max(s->parser, s->srv->lim.literal_max);
	conn_set_idle_timeout(s->conn, s->srv->lim.idle_ms);
}

/* ---- dispatch ---- */

static const struct imap_cmd_def *
imap_find(const char *name)
{
	for (size_t i = 0; i < nitems(imap_cmds); i++)
		if (strcasecmp(name, imap_cmds[i].name) == 0)
			return &imap_cmds[i];
	return NULL;
}

/* imap_dispatch - look the command up, gate on state, run it. */
static void
imap_dispatch(struct imap_sess *s, const struct imap_cmd *c)
{
	const struct imap_cmd_def *def = imap_find(c->name);
	struct imap_cmd sub = *c;

	snprintf(s->tag, sizeof(s->tag), "%s", c->tag);
	s->uid = false;
	s->sync_ok = true;
	if (strcasecmp(c->name, "UID") == 0) {
		if (c->nargs == 0 || c->args[0].type != IMAP_ARG_ATOM ||
		    (def = imap_find(c->args[0].str)) == NULL || !(def->flags & IMAP_CMDF_UID)) {
			imap_tagged_error(s, "BAD", "Unknown UID command");
			return;
		}
		s->uid = true;
		sub.name = c->args[0].str;
		sub.args = c->args + 1;
		sub.nargs = c->nargs - 1;
	}
	if (def != NULL && !s->uid && (def->flags & IMAP_CMDF_NO_EXPUNGE))
		s->sync_ok = false;
	if (def == NULL) {
		imap_tagged_error(s, "BAD", "Unknown command");
		return;
	}
	if (!(def->states & s->state)) {
		imap_tagged_error(s, "BAD", "%s", s->state == IS_NOAUTH ? "Log in first"
		    : def->states == IS_SELECTED ? "No mailbox selected"
						 : "Command not valid in this state");
		return;
	}
	def->run(s, &sub);
}

/* imap_literal_check - may the command being read send a literal? */
static void
imap_literal_check(struct imap_sess *s)
{
	const char *name = imap_parser_name(s->parser);

	snprintf(s->tag, sizeof(s->tag), "%s", imap_parser_tag(s->parser));
	s->sync_ok = false;
	if (s->state == IS_NOAUTH && strcasecmp(name, "LOGIN") != 0) {
		imap_parser_reject_literal(s->parser);
		imap_tagged_error(s, "BAD", "Literals are only accepted by LOGIN before login");
		return;
	}
	/* Only a message is big; names, strings and search keys fit a line. */
	if (strcasecmp(name, "APPEND") != 0 &&
	    imap_parser_literal_size(s->parser) > s->srv->lim.line_max) {
		imap_parser_reject_literal(s->parser);
		imap_tagged_error(s, "BAD", "[TOOBIG] Literal too large for %s", name);
		return;
	}
	imap_write(s, "+ Ready for literal data\r\n", 26);
	conn_flush(s->conn);
}

/* imap_command_input - one step of command parsing; false when more
   input is needed. */
static bool
imap_command_input(struct imap_sess *s)
{
	bool fatal;
	const char *err;

	switch (imap_parse_feed(s->parser, conn_in(s->conn))) {
	case IMAP_PARSE_MORE:
		return false;
	case IMAP_PARSE_LITERAL:
		imap_literal_check(s);
		return true;
	case IMAP_PARSE_ERROR:
		err = imap_parser_error(s->parser, &fatal);
		snprintf(s->tag, sizeof(s->tag), "%s", imap_parser_tag(s->parser));
		s->sync_ok = false;
		if (fatal) {
			imap_tagged(s, "BAD", "%s", err);
			imap_printf(s, "* BYE %s\r\n", err);
			imap_sess_close(s, "protocol-error");
		} else {
			imap_tagged_error(s, "BAD", "%s", err);
		}
		return true;
	case IMAP_PARSE_CMD:
		imap_dispatch(s, imap_parser_cmd(s->parser));
		return true;
	}
	return false;
}

/* imap_line_input - AUTHENTICATE responses and IDLE's DONE. */
static bool
imap_line_input(struct imap_sess *s)
{
	struct span line;
	const char *err;
	int rc = imap_parse_line(s->parser, conn_in(s->conn), &line, &err);

	if (rc == 0)
		return false;
	if (rc < 0)
		line = span_str("\x01"); /* never a valid response: fails the step */
	if (s->input == II_AUTH)
		imap_auth_input(s, line);
	else
		imap_idle_input(s, line);
	return true;
}

static void
imap_on_input(struct conn *c)
{
	struct imap_sess *s = conn_ctx(c);
	bool more = true;

	if (!s->greeted)
		return; /* implicit TLS: nothing is parsed before the handshake */
	while (more && !s->closing && !s->pending && s->fetch == NULL && s->conn != NULL) {
		if (s->input == II_CMD)
			more = imap_command_input(s);
		else
			more = imap_line_input(s);
	}
	if (s->conn != NULL)
		conn_flush(s->conn);
}

static void
imap_on_tls_ready(struct conn *c)
{
	struct imap_sess *s = conn_ctx(c);

	s->tls = true;
	if (!s->greeted)
		imap_greet(s);
}

static void
imap_on_timeout(struct conn *c)
{
	struct imap_sess *s = conn_ctx(c);

	SLOG(s, "event=timeout state=%u", s->state);
	imap_printf(s, "* BYE Autologout; idle for too long\r\n");
	imap_sess_close(s, "timeout");
}

static void
imap_on_drained(struct conn *c)
{
	struct imap_sess *s = conn_ctx(c);

	if (s->fetch != NULL && !s->pending) /* not while \Seen is being set */
		imap_fetch_drained(s);
}

static void
imap_on_closed(struct conn *c, const char *reason)
{
	struct imap_sess *s = conn_ctx(c);
	char v[128];

	SLOG(s, "event=disconnect reason=%s user=%s errors=%u", reason,
	    s->user ? log_value(v, sizeof(v), s->user, strlen(s->user)) : "-", s->errors);
	s->conn = NULL;
	if (s->pending) {
		s->dead = true; /* freed by the completion (imap_sess_resume) */
		return;
	}
	imap_sess_free(&s);
}

void
imap_sess_auth_result(struct imap_sess *s, bool ok)
{
	if (imap_sess_resume(s))
		return;
	imap_auth_done(s, ok);
	imap_after_async(s);
}

void
imap_sess_set_app_data(struct imap_sess *s, void *data)
{
	s->app_data = data;
}

void *
imap_sess_app_data(const struct imap_sess *s)
{
	return s->app_data;
}

uint64_t
imap_sess_id(const struct imap_sess *s)
{
	return s->id;
}

const char *
imap_sess_peer_ip(const struct imap_sess *s)
{
	return s->peer_ip;
}

const char *
imap_sess_user(const struct imap_sess *s)
{
	return s->user;
}
