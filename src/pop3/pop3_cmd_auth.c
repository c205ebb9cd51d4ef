/*
 * pop3_cmd_auth.c -- USER/PASS (RFC 1939 7), AUTH PLAIN (RFC 5034, RFC
 * 4616), and opening the maildrop after a successful login.
 *
 * Only over TLS (the dispatcher refuses these commands before STLS), so no
 * password crosses a connection in clear. USER always answers +OK so that
 * user names cannot be probed; PASS answers the same -ERR [AUTH] for an
 * unknown user and a wrong password. Credentials live in stack buffers
 * that are wiped before return; the check itself (argon2id) is the
 * application's asynchronous hook. A locked-out client gets -ERR without
 * any check, so a guessing attacker learns nothing even with the right
 * password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "net/conn.h"
#include "pop3/pop3_server_int.h"
#include "store/mailbox.h"

/* pop3_auth_allowed - the lockout gate before any check; false if replied. */
static bool
pop3_auth_allowed(struct pop3_sess *s)
{
	if (s->srv->hooks->auth_locked(s->srv->app, s)) {
		SLOG(s, "event=auth-locked peer=%s", s->peer_ip);
		pop3_reply_fail(s, "[SYS/TEMP] Too many failed logins from your address, "
				   "try again later");
		return false;
	}
	return true;
}

/* pop3_auth_check - hand credentials to the hook (asynchronous). */
static void
pop3_auth_check(struct pop3_sess *s, const char *user, const char *password)
{
	snprintf(s->user, sizeof(s->user), "%s", user);
	s->have_user = false;
	s->input = PI_CMD;
	pop3_sess_pause(s);
	s->srv->hooks->auth(s->srv->app, s, s->user, password);
}

void
pop3_cmd_user(struct pop3_sess *s, const struct pop3_cmd *c)
{
	if (c->arg.n > SASL_MAX_FIELD) {
		pop3_reply_err(s, "User name too long");
		return;
	}
	snprintf(s->user, sizeof(s->user), "%.*s", (int)c->arg.n, (const char *)c->arg.p);
	s->have_user = true;
	pop3_reply_ok(s, "Send your password");
}

void
pop3_cmd_pass(struct pop3_sess *s, const struct pop3_cmd *c)
{
	char password[SASL_MAX_FIELD + 1];
	char user[SASL_MAX_FIELD + 1];

	if (!s->have_user) {
		pop3_reply_err(s, "No USER given");
		return;
	}
	if (c->arg.n > SASL_MAX_FIELD) {
		s->have_user = false;
		pop3_reply_err(s, "[AUTH] Password too long");
		return;
	}
	if (!pop3_auth_allowed(s)) {
		s->have_user = false;
		return;
	}
	memcpy(password, c->arg.p, c->arg.n);
	password[c->arg.n] = '\0';
	memcpy(user, s->user, sizeof(user));
	pop3_auth_check(s, user, password);
	explicit_bzero(password, sizeof(password));
}

/* pop3_auth_plain - decode a PLAIN response and check it. */
static void
pop3_auth_plain(struct pop3_sess *s, struct span b64)
{
	struct sasl_creds cr;
	const char *error;

	s->input = PI_CMD;
	if (sasl_plain_decode(b64, &cr, &error) < 0) {
		sasl_creds_wipe(&cr);
		pop3_reply_err(s, "Cannot decode response: %s", error);
		return;
	}
	if (cr.authzid[0] != '\0' && strcasecmp(cr.authzid, cr.authcid) != 0) {
		sasl_creds_wipe(&cr);
		pop3_reply_err(s, "[AUTH] Authorization identity not allowed");
		return;
	}
	pop3_auth_check(s, cr.authcid, cr.passwd);
	sasl_creds_wipe(&cr);
}

void
pop3_cmd_auth(struct pop3_sess *s, const struct pop3_cmd *c)
{
	s->have_user = false;
	if (c->arg.n == 0) {
		/* The pre-RFC 5034 listing (draft-myers-sasl-pop3), which some
		   clients still probe with: a multi-line list of mechanisms. */
		pop3_reply_ok(s, "Supported mechanisms follow");
		pop3_write(s, "PLAIN\r\n.\r\n", 10);
		return;
	}
	if (!span_eq_ci(c->arg, "PLAIN")) {
		pop3_reply_err(s, "Unsupported authentication mechanism");
		return;
	}
	if (!pop3_auth_allowed(s))
		return;
	if (c->ir.n > 0) {
		pop3_auth_plain(s, c->ir);
		return;
	}
	s->input = PI_AUTH;
	pop3_write(s, "+ \r\n", 4);
}

void
pop3_auth_input(struct pop3_sess *s, struct span line)
{
	/* RFC 5034 4: "*" cancels the exchange. */
	if (line.n == 1 && line.p[0] == '*') {
		s->input = PI_CMD;
		pop3_reply_err(s, "Authentication aborted");
		return;
	}
	pop3_auth_plain(s, line);
}

static void
pop3_changed(void *ctx)
{
	/* The maildrop is a snapshot (RFC 1939 5): news wait for the next
	   session. */
	(void)ctx;
}

/* pop3_view_opened - the INBOX snapshot is ready (or not): enter the
   TRANSACTION state. */
static void
pop3_view_opened(void *ctx, int status, const char *error, struct mailbox_view *v)
{
	struct pop3_sess *s = ctx;
	struct mailbox_status st;

	s->view = v; /* closed by pop3_sess_free if the session is dead */
	if (pop3_sess_resume(s))
		return;
	if (status != 1) {
		SLOG(s, "event=login-failed user=%s error=\"%s\"", s->auth_user,
		    error != NULL ? error : "no INBOX");
		if (s->view != NULL)
			mailbox_view_close(&s->view);
		mailbox_user_close(&s->mbu);
		free(s->auth_user);
		s->auth_user = NULL;
		pop3_reply_fail(s, "[SYS/TEMP] Cannot open your mailbox, try again later");
		pop3_after_hook(s);
		return;
	}
	mailbox_view_status(v, &st);
	s->uidvalidity = st.uidvalidity;
	s->nmsgs = mailbox_view_count(v);
	s->deleted = xcalloc(s->nmsgs + 1, sizeof(*s->deleted));
	s->state = P3_TRANSACTION;
	SLOG(s, "event=login user=%s messages=%u", s->auth_user, s->nmsgs);
	pop3_reply_ok(s, "Logged in, %u messages", s->nmsgs);
	pop3_after_hook(s);
}

/* pop3_auth_done - the hook's verdict, session alive and still pinned. */
static void
pop3_auth_done(struct pop3_sess *s, int status, struct mailbox_user *u)
{
	char v[128];

	if (status == 1 && u != NULL) {
		s->mbu = u;
		s->auth_user = xstrdup(s->user);
		explicit_bzero(s->user, sizeof(s->user));
		/* Still pinned: pop3_view_opened resumes. */
		mailbox_view_open(u, "INBOX", false, pop3_changed, pop3_view_opened, s);
		return;
	}
	if (u != NULL)
		mailbox_user_close(&u);
	if (pop3_sess_resume(s))
		return;
	SLOG(s, "event=auth result=%s user=%s", status == 0 ? "fail" : "error",
	    log_value(v, sizeof(v), s->user, strlen(s->user)));
	explicit_bzero(s->user, sizeof(s->user));
	if (status == 0)
		pop3_reply_err(s, "[AUTH] Authentication failed");
	else
		pop3_reply_fail(s, "[SYS/TEMP] Temporary failure, try again later");
	pop3_after_hook(s);
}

void
pop3_sess_auth_result(struct pop3_sess *s, int status, struct mailbox_user *u)
{
	if (s->dead) {
		if (u != NULL)
			mailbox_user_close(&u);
		pop3_sess_resume(s); /* frees it */
		return;
	}
	pop3_auth_done(s, status, u);
}
