/*
 * serve_imap.c -- `hikyaku serve`: the IMAP listeners (imap_listen with
 * STARTTLS, imaps_listen with implicit TLS) and the hooks that wire the
 * IMAP engine to the account store.
 *
 * Passwords go through serve_auth_check() (argon2id in the thread pool,
 * the same per-IP lockout as SMTP AUTH and POP3); after a good password
 * the account is opened with mailbox_user_open() and handed to the engine,
 * which then works on its mailboxes directly (store/mailbox.h).
 * Connections per client IP count in the same anvil as SMTP.
 * Security: listeners are bound while still root (cmd_serve()); nothing
 * here runs before the privilege drop except serve_imap_listen().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/serve.h"
#include "conf/conf.h"
#include "imap/imap_server.h"
#include "net/anvil.h"
#include "store/mailbox.h"
#include "store/store.h"

static int
serve_imap_connect(void *ctx, struct imap_sess *s)
{
	struct app *app = ctx;
	unsigned n, limit = app->conf->smtpd_client_connection_count_limit;

	n = anvil_conn_open(app->anvil, imap_sess_peer_ip(s));
	imap_sess_set_app_data(s, app); /* marks "counted" */
	return limit > 0 && n > limit ? -1 : 1;
}

static void
serve_imap_disconnect(void *ctx, struct imap_sess *s)
{
	struct app *app = ctx;

	if (imap_sess_app_data(s) != NULL)
		anvil_conn_close(app->anvil, imap_sess_peer_ip(s));
	if (imap_sess_user(s) != NULL)
		app->mailbox_users--; /* the engine closes the account next */
	imap_sess_set_app_data(s, NULL);
}

static bool
serve_imap_auth_locked(void *ctx, struct imap_sess *s)
{
	return serve_auth_locked(ctx, imap_sess_peer_ip(s));
}

static void
serve_imap_auth_done(void *ctx, bool ok)
{
	imap_sess_auth_result(ctx, ok);
}

static void
serve_imap_auth(void *ctx, struct imap_sess *s, const char *user, const char *password)
{
	serve_auth_check(ctx, imap_sess_peer_ip(s), user, password, serve_imap_auth_done, s);
}

/* serve_imap_user_open - the password was right: open the account. */
static struct mailbox_user *
serve_imap_user_open(void *ctx, struct imap_sess *s, const char *user, const char **error_r)
{
	struct app *app = ctx;
	char addr[STORE_MAX_ADDRESS + 1];
	struct mailbox_user *u;

	(void)s;
	if (app->mailboxes == NULL) {
		*error_r = "mailbox store not running";
		return NULL;
	}
	/* The address as stored (lower case): one account, one directory. */
	if (store_address_normalize(user, addr, error_r) < 0)
		return NULL;
	if ((u = mailbox_user_open(app->mailboxes, addr, error_r)) != NULL)
		app->mailbox_users++;
	return u;
}

static const struct imap_hooks serve_imap_hooks = {
	.connect = serve_imap_connect,
	.disconnect = serve_imap_disconnect,
	.auth_locked = serve_imap_auth_locked,
	.auth = serve_imap_auth,
	.user_open = serve_imap_user_open,
};

static void
serve_imap_accept(void *ctx, struct listener *l, struct conn *c)
{
	(void)l;
	imap_sess_start(ctx, c);
}

/* serve_imap_init - one engine configuration per IMAP service. */
static void
serve_imap_init(struct app *app, struct imap_server *srv, const char *name, bool implicit_tls)
{
	const struct conf *cf = app->conf;

	srv->hostname = cf->myhostname;
	srv->service_name = name;
	srv->implicit_tls = implicit_tls;
	srv->tls = app->tls;
	srv->hooks = &serve_imap_hooks;
	srv->app = app;
	srv->lim = (struct imap_limits){
		.line_max = cf->imap_max_line_length,
		.literal_max = cf->message_size_limit,
		.hard_errors = cf->smtpd_hard_error_limit,
		.idle_ms = cf->imapd_timeout,
		.login_ms = cf->imapd_login_timeout,
	};
}

void
serve_imap_listen(struct app *app)
{
	const struct conf *cf = app->conf;

	serve_imap_init(app, &app->imap_srv[0], "imap", false);
	serve_imap_init(app, &app->imap_srv[1], "imaps", true);
	for (size_t i = 0; i < cf->imap_listen.n; i++)
		serve_listen(app, "imap", &cf->imap_listen.addrs[i], false, serve_imap_accept,
		    &app->imap_srv[0]);
	for (size_t i = 0; i < cf->imaps_listen.n; i++)
		serve_listen(app, "imaps", &cf->imaps_listen.addrs[i], true, serve_imap_accept,
		    &app->imap_srv[1]);
}
