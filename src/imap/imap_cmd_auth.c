/*
 * imap_cmd_auth.c -- LOGIN and AUTHENTICATE PLAIN with SASL-IR (RFC 9051
 * 6.2.2, 6.2.3; RFC 4959; RFC 4616).
 *
 * No password is accepted without TLS: LOGIN gets "NO [PRIVACYREQUIRED]"
 * (LOGINDISABLED is advertised) and AUTHENTICATE has no mechanism. A
 * locked-out client (too many failures) is refused without any check, so
 * a guessing attacker learns nothing even with the right password.
 * Credentials are wiped after use; the check is the application's
 * asynchronous hook, which pins the session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "imap/imap_server_int.h"
#include "net/conn.h"

/* auth_allowed - the gates before any credentials; false if replied. */
static bool
auth_allowed(struct imap_sess *s)
{
	if (!s->tls) {
		imap_tagged_error(s, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
		return false;
	}
	if (s->srv->hooks->auth_locked(s->srv->app, s)) {
		SLOG(s, "event=auth-locked peer=%s", s->peer_ip);
		imap_tagged_error(s, "NO",
		    "[UNAVAILABLE] Too many failed logins from your address, try again later");
		return false;
	}
	return true;
}

/* auth_check - hand the credentials to the hook (asynchronous). */
static void
auth_check(struct imap_sess *s, const char *user, const char *password)
{
	snprintf(s->auth_try, sizeof(s->auth_try), "%s", user);
	s->input = II_CMD;
	imap_sess_pause(s);
	s->srv->hooks->auth(s->srv->app, s, user, password);
}

void
imap_cmd_login(struct imap_sess *s, const struct imap_cmd *c)
{
	const char *user, *pass;

	if (c->nargs != 2 || (user = imap_arg_astring(&c->args[0])) == NULL ||
	    (pass = imap_arg_astring(&c->args[1])) == NULL) {
		imap_tagged_error(s, "BAD", "Syntax: LOGIN user password");
		return;
	}
	if (!auth_allowed(s))
		return;
	if (strlen(user) > SASL_MAX_FIELD || strlen(pass) > SASL_MAX_FIELD || *user == '\0') {
		imap_tagged_error(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
		return;
	}
	auth_check(s, user, pass);
}

/* auth_plain - one PLAIN response (RFC 4616), base64. */
static void
auth_plain(struct imap_sess *s, struct span b64)
{
	struct sasl_creds cr;
	const char *error;

	if (sasl_plain_decode(b64, &cr, &error) < 0) {
		sasl_creds_wipe(&cr);
		s->input = II_CMD;
		imap_tagged_error(s, "BAD", "Cannot decode response: %s", error);
		return;
	}
	if (cr.authzid[0] != '\0' && strcasecmp(cr.authzid, cr.authcid) != 0) {
		sasl_creds_wipe(&cr);
		s->input = II_CMD;
		imap_tagged_error(s, "NO", "[AUTHORIZATIONFAILED] Authorization identity not allowed");
		return;
	}
	auth_check(s, cr.authcid, cr.passwd);
	sasl_creds_wipe(&cr);
}

void
imap_cmd_authenticate(struct imap_sess *s, const struct imap_cmd *c)
{
	const struct imap_arg *a = c->args;

	if (c->nargs < 1 || c->nargs > 2 || a[0].type != IMAP_ARG_ATOM ||
	    (c->nargs == 2 && a[1].type != IMAP_ARG_ATOM)) {
		imap_tagged_error(s, "BAD", "Syntax: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	if (strcasecmp(a[0].str, "PLAIN") != 0 || !s->tls) {
		imap_tagged_error(s, "NO", "Unsupported authentication mechanism");
		return;
	}
	if (!auth_allowed(s))
		return;
	if (c->nargs == 2) { /* SASL-IR; "=" is an empty response (RFC 4959) */
		auth_plain(s, (struct span){ (const uint8_t *)a[1].str, a[1].len });
		return;
	}
	s->input = II_AUTH;
	imap_write(s, "+ \r\n", 4);
}

void
imap_auth_input(struct imap_sess *s, struct span line)
{
	s->input = II_CMD;
	if (line.n == 1 && line.p[0] == '*') {
		imap_tagged_error(s, "BAD", "Authentication cancelled");
		return;
	}
	auth_plain(s, line);
}

void
imap_auth_done(struct imap_sess *s, bool ok)
{
	const char *error = NULL;
	char v[128];

	log_value(v, sizeof(v), s->auth_try, strlen(s->auth_try));
	if (ok && (s->mbu = s->srv->hooks->user_open(s->srv->app, s, s->auth_try, &error)) == NULL)
		SLOG(s, "event=login result=error user=%s error=\"%s\"", v, error);
	if (!ok || s->mbu == NULL) {
		if (!ok)
			SLOG(s, "event=login result=fail user=%s", v);
		explicit_bzero(s->auth_try, sizeof(s->auth_try));
		if (ok)
			imap_tagged(s, "NO", "[UNAVAILABLE] Mailbox unavailable, try again later");
		else
			imap_tagged_error(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
		return;
	}
	s->user = xstrdup(s->auth_try);
	explicit_bzero(s->auth_try, sizeof(s->auth_try));
	SLOG(s, "event=login result=ok user=%s tls=%s cipher=%s", v,
	    conn_tls_version(s->conn) ? conn_tls_version(s->conn) : "none",
	    conn_tls_cipher(s->conn) ? conn_tls_cipher(s->conn) : "none");
	imap_logged_in(s);
	imap_tagged(s, "OK", "[CAPABILITY %s] Logged in", imap_capabilities(s));
}
