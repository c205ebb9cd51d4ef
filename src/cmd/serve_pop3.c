/*
 * serve_pop3.c -- `hikyaku serve`: the POP3 listeners (pop3_listen with
 * STLS, pop3s_listen with implicit TLS) and the hooks that wire the POP3
 * engine to the account store.
 *
 * Passwords go through serve_auth_check() (argon2id in the thread pool,
 * the same lockout per client IP as SMTP AUTH); after a good password the
 * account is opened with mailbox_user_open() and handed to the engine,
 * which takes its INBOX from there. Connections per client IP count in the
 * same anvil as SMTP (smtpd_client_connection_count_limit).
 * Security: listeners are bound while still root (cmd_serve()); nothing
 * here runs before the privilege drop except serve_pop3_listen().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/serve.h"
#include "conf/conf.h"
#include "net/anvil.h"
#include "pop3/pop3_server.h"
#include "store/mailbox.h"
#include "store/store.h"

/* Per-session application state. */
struct serve_pop3_sess {
	bool counted;	   /* anvil_conn_open() was called */
	bool has_account; /* counted in app->mailbox_users */
};

/* A password check in flight: the session is pinned by the engine. */
struct serve_pop3_auth {
	struct app *app;
	struct pop3_sess *s;
	char user[STORE_MAX_ADDRESS + 1];
};

static int
serve_pop3_connect(void *ctx, struct pop3_sess *s)
{
	struct app *app = ctx;
	struct serve_pop3_sess *ps = xcalloc(1, sizeof(*ps));
	unsigned n, limit = app->conf->smtpd_client_connection_count_limit;

	pop3_sess_set_app_data(s, ps);
	n = anvil_conn_open(app->anvil, pop3_sess_peer_ip(s));
	ps->counted = true;
	return limit > 0 && n > limit ? -1 : 1;
}

static void
serve_pop3_disconnect(void *ctx, struct pop3_sess *s)
{
	struct app *app = ctx;
	struct serve_pop3_sess *ps = pop3_sess_app_data(s);

	if (ps == NULL)
		return;
	if (ps->counted)
		anvil_conn_close(app->anvil, pop3_sess_peer_ip(s));
	if (ps->has_account)
		app->mailbox_users--; /* the engine closes the account next */
	free(ps);
	pop3_sess_set_app_data(s, NULL);
}

static bool
serve_pop3_auth_locked(void *ctx, struct pop3_sess *s)
{
	return serve_auth_locked(ctx, pop3_sess_peer_ip(s));
}

/* serve_pop3_open - the password was right: open the account. */
static void
serve_pop3_open(struct serve_pop3_auth *a)
{
	struct mailbox_user *u;
	const char *error;
	char addr[STORE_MAX_ADDRESS + 1];

	if (a->app->mailboxes == NULL) {
		pop3_sess_auth_result(a->s, -1, NULL);
		return;
	}
	/* The address as stored (lower case): one account, one directory. */
	if (store_address_normalize(a->user, addr, &error) < 0 ||
	    (u = mailbox_user_open(a->app->mailboxes, addr, &error)) == NULL) {
		log_warnx("sid=%016llx event=store-error op=open error=\"%s\"",
		    (unsigned long long)pop3_sess_id(a->s), error);
		pop3_sess_auth_result(a->s, -1, NULL);
		return;
	}
	a->app->mailbox_users++;
	((struct serve_pop3_sess *)pop3_sess_app_data(a->s))->has_account = true;
	pop3_sess_auth_result(a->s, 1, u);
}

static void
serve_pop3_auth_done(void *ctx, bool ok)
{
	struct serve_pop3_auth *a = ctx;

	if (ok)
		serve_pop3_open(a);
	else
		pop3_sess_auth_result(a->s, 0, NULL);
	explicit_bzero(a->user, sizeof(a->user));
	free(a);
}

static void
serve_pop3_auth(void *ctx, struct pop3_sess *s, const char *user, const char *password)
{
	struct serve_pop3_auth *a = xcalloc(1, sizeof(*a));

	a->app = ctx;
	a->s = s;
	snprintf(a->user, sizeof(a->user), "%s", user);
	serve_auth_check(ctx, pop3_sess_peer_ip(s), user, password, serve_pop3_auth_done, a);
}

static const struct pop3_hooks serve_pop3_hooks = {
	.connect = serve_pop3_connect,
	.disconnect = serve_pop3_disconnect,
	.auth_locked = serve_pop3_auth_locked,
	.auth = serve_pop3_auth,
};

static void
serve_pop3_accept(void *ctx, struct listener *l, struct conn *c)
{
	(void)l;
	pop3_sess_start(ctx, c);
}

/* serve_pop3_init - one engine configuration per POP3 service. */
static void
serve_pop3_init(struct app *app, struct pop3_server *srv, const char *name, bool implicit_tls)
{
	const struct conf *cf = app->conf;

	srv->hostname = cf->myhostname;
	srv->service_name = name;
	srv->implicit_tls = implicit_tls;
	srv->tls = app->tls;
	srv->hooks = &serve_pop3_hooks;
	srv->app = app;
	srv->lim = (struct pop3_limits){
		.hard_errors = cf->smtpd_hard_error_limit,
		.idle_ms = cf->pop3d_timeout,
	};
}

void
serve_pop3_listen(struct app *app)
{
	const struct conf *cf = app->conf;

	serve_pop3_init(app, &app->pop3_srv[0], "pop3", false);
	serve_pop3_init(app, &app->pop3_srv[1], "pop3s", true);
	for (size_t i = 0; i < cf->pop3_listen.n; i++)
		serve_listen(app, "pop3", &cf->pop3_listen.addrs[i], false, serve_pop3_accept,
		    &app->pop3_srv[0]);
	for (size_t i = 0; i < cf->pop3s_listen.n; i++)
		serve_listen(app, "pop3s", &cf->pop3s_listen.addrs[i], true, serve_pop3_accept,
		    &app->pop3_srv[1]);
}
