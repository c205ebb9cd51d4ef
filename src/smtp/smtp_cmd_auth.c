/*
 * smtp_cmd_auth.c -- AUTH PLAIN and LOGIN (RFC 4954, RFC 4616).
 *
 * Only on submission and only over TLS: without TLS the reply is 538
 * (RFC 4954 section 6), so no password crosses a connection in clear.
 * Credentials are decoded into stack buffers that are wiped before return;
 * the check itself (argon2id) is the application's asynchronous hook.
 * A locked-out client (too many failures) gets 454 without any check, so a
 * guessing attacker learns nothing even with the right password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "smtp/smtp_server_int.h"

/* smtp_auth_check - hand decoded credentials to the hook (asynchronous). */
static void
smtp_auth_check(struct smtp_sess *s, const char *user, const char *password)
{
	snprintf(s->auth_login_user, sizeof(s->auth_login_user), "%s", user);
	s->input = SI_CMD;
	s->auth_step = AUTH_NONE;
	smtp_sess_pause(s);
	s->srv->hooks->auth(s->srv->app, s, user, password);
}

static void
smtp_auth_plain(struct smtp_sess *s, struct span b64)
{
	struct sasl_creds cr;
	const char *error;

	if (sasl_plain_decode(b64, &cr, &error) < 0) {
		sasl_creds_wipe(&cr);
		s->input = SI_CMD;
		s->auth_step = AUTH_NONE;
		smtp_reply_error(s, 501, "5.5.2", "Cannot decode response: %s", error);
		return;
	}
	if (cr.authzid[0] != '\0' && strcasecmp(cr.authzid, cr.authcid) != 0) {
		sasl_creds_wipe(&cr);
		s->input = SI_CMD;
		s->auth_step = AUTH_NONE;
		smtp_reply_error(s, 535, "5.7.8", "Error: authorization identity not allowed");
		return;
	}
	smtp_auth_check(s, cr.authcid, cr.passwd);
	sasl_creds_wipe(&cr);
}

/* smtp_auth_login_step - one base64 line of the LOGIN exchange. */
static void
smtp_auth_login_step(struct smtp_sess *s, struct span b64)
{
	char field[SASL_MAX_FIELD + 1];
	const char *error;

	if (sasl_login_decode(b64, field, sizeof(field), &error) < 0 || field[0] == '\0') {
		explicit_bzero(field, sizeof(field));
		s->input = SI_CMD;
		s->auth_step = AUTH_NONE;
		smtp_reply_error(s, 501, "5.5.2", "Cannot decode response");
		return;
	}
	if (s->auth_step == AUTH_LOGIN_USER) {
		snprintf(s->auth_login_user, sizeof(s->auth_login_user), "%s", field);
		s->auth_step = AUTH_LOGIN_PASS;
		s->input = SI_AUTH;
		smtp_reply(s, 334, NULL, "UGFzc3dvcmQ6"); /* "Password:" */
	} else {
		char user[SASL_MAX_FIELD + 1];

		memcpy(user, s->auth_login_user, sizeof(user));
		smtp_auth_check(s, user, field);
	}
	explicit_bzero(field, sizeof(field));
}

/* smtp_auth_allowed - the gates before any SASL exchange; false if replied. */
static bool
smtp_auth_allowed(struct smtp_sess *s)
{
	if (s->srv->service == SMTP_SVC_MX) {
		smtp_reply_error(s, 503, "5.5.1", "Error: authentication not enabled");
		return false;
	}
	if (!s->tls) {
		smtp_reply_error(s, 538, "5.7.11",
		    "Encryption required for requested authentication mechanism");
		return false;
	}
	if (s->auth_user != NULL) {
		smtp_reply_error(s, 503, "5.5.1", "Error: already authenticated");
		return false;
	}
	if (s->srv->hooks->auth_locked(s->srv->app, s)) {
		SLOG(s, "event=auth-locked peer=%s", s->peer_ip);
		smtp_reply_error(s, 454, "4.7.0",
		    "Too many failed authentications from your address, try again later");
		return false;
	}
	return true;
}

void
smtp_cmd_auth(struct smtp_sess *s, struct span params)
{
	struct span mech = params, ir = SPAN_NULL;
	const uint8_t *sp = memchr(params.p, ' ', params.n);

	if (!smtp_auth_allowed(s))
		return;
	if (sp != NULL) {
		mech.n = (size_t)(sp - params.p);
		ir = (struct span){ sp + 1, params.n - mech.n - 1 };
	}
	if (span_eq_ci(mech, "PLAIN")) {
		if (ir.n > 0) {
			smtp_auth_plain(s, ir);
			return;
		}
		s->auth_step = AUTH_PLAIN_WAIT;
		s->input = SI_AUTH;
		smtp_reply(s, 334, NULL, " ");
	} else if (span_eq_ci(mech, "LOGIN")) {
		s->auth_step = AUTH_LOGIN_USER;
		if (ir.n > 0) {
			smtp_auth_login_step(s, ir);
			return;
		}
		s->input = SI_AUTH;
		smtp_reply(s, 334, NULL, "VXNlcm5hbWU6"); /* "Username:" */
	} else {
		smtp_reply_error(s, 504, "5.5.4", "Error: unsupported authentication mechanism");
	}
}

void
smtp_auth_input(struct smtp_sess *s, struct span line)
{
	if (line.n == 1 && line.p[0] == '*') {
		s->input = SI_CMD;
		s->auth_step = AUTH_NONE;
		smtp_reply_error(s, 501, "5.7.0", "Authentication aborted");
		return;
	}
	if (s->auth_step == AUTH_PLAIN_WAIT)
		smtp_auth_plain(s, line);
	else
		smtp_auth_login_step(s, line);
}

void
smtp_auth_done(struct smtp_sess *s, bool ok)
{
	if (!ok) {
		char v[128];

		SLOG(s, "event=auth result=fail user=%s", log_value(v, sizeof(v),
		    s->auth_login_user, strlen(s->auth_login_user)));
		explicit_bzero(s->auth_login_user, sizeof(s->auth_login_user));
		smtp_reply_error(s, 535, "5.7.8", "Error: authentication failed");
		return;
	}
	s->auth_user = xstrdup(s->auth_login_user);
	explicit_bzero(s->auth_login_user, sizeof(s->auth_login_user));
	SLOG(s, "event=auth result=ok user=%s", s->auth_user);
	smtp_reply(s, 235, "2.7.0", "Authentication successful");
}
