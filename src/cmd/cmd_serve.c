/*
 * cmd_serve.c -- `hikyaku serve`: bind, load keys, drop privileges, and run
 * the SMTP engines on one libuv loop, wired to the account store and the
 * Maildir delivery through struct smtp_hooks.
 *
 * Order matters (DESIGN.md, Process and privileges): listeners are bound and
 * TLS keys loaded while still root, then the process drops to run_user and
 * refuses to go on as root; only then is the database opened, so that every
 * file it creates belongs to run_user.
 * Signals: SIGHUP reloads certificates (open sessions keep theirs), SIGTERM
 * and SIGINT stop. A message is only acknowledged after maildir_tx_commit()
 * reports it durable, so stopping at any moment loses nothing acknowledged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/cmd.h"
#include "cmd/deliver.h"
#include "cmd/priv.h"
#include "cmd/serve.h"
#include "cmd/serve_msgauth.h"
#include "conf/conf.h"
#include "net/anvil.h"
#include "net/conn.h"
#include "net/listener.h"
#include "queue/queue.h"
#include "smtp/smtp_server.h"
#include "stats/stats.h"
#include "store/mailbox.h"
#include "store/maildir.h"
#include "store/store.h"
#include "tls/tls.h"

/* Per-session application state. */
struct app_sess {
	struct app *app;
	struct maildir_tx *tx;	 /* every recipient is local */
	struct queue_tx *qtx;	 /* some recipient is remote: all go through the queue */
	bool counted; /* anvil_conn_open() was called */
	struct msgauth_sess *ma; /* SPF, DKIM, DMARC (serve_msgauth.c) */
	bool recorded; /* a statistics record was made for this session */
};

/* app_stats - one statistics record (src/stats): a message accepted
   (rcpts > 0) or, at the end, a session that carried none. The peer
   domain is MAIL FROM's, or the EHLO name for <> and no transaction. */
static void
app_stats(struct app *app, struct smtp_sess *s, struct app_sess *as, size_t rcpts)
{
	const char *sender = smtp_sess_sender(s);
	const char *at = sender != NULL ? strrchr(sender, '@') : NULL;
	struct stats_rec r = {
		.tls = smtp_sess_is_tls(s),
		.new_session = !as->recorded,
		.messages = rcpts > 0,
		.rcpts = (unsigned)rcpts,
	};

	stats_rec_set(r.service, sizeof(r.service), smtp_sess_server(s)->service_name, false);
	stats_rec_set(r.domain, sizeof(r.domain), at != NULL ? at + 1 : smtp_sess_helo(s), true);
	stats_rec_set(r.ip, sizeof(r.ip), smtp_sess_peer_ip(s), false);
	if (r.tls) {
		stats_rec_set(r.tls_version, sizeof(r.tls_version), smtp_sess_tls_version(s), false);
		stats_rec_set(r.tls_cipher, sizeof(r.tls_cipher), smtp_sess_tls_cipher(s), false);
		stats_rec_set(r.peer_cert, sizeof(r.peer_cert), "none", false); /* none asked */
	}
	as->recorded = true;
	stats_record(app->stats, &r);
}


static int
app_connect(void *ctx, struct smtp_sess *s, struct smtp_hook_reply *r)
{
	struct app *app = ctx;
	struct app_sess *as = xcalloc(1, sizeof(*as));
	unsigned n, limit = app->conf->smtpd_client_connection_count_limit;

	as->app = app;
	smtp_sess_set_app_data(s, as);
	n = anvil_conn_open(app->anvil, smtp_sess_peer_ip(s));
	as->counted = true;
	if (limit > 0 && n > limit) {
		*r = (struct smtp_hook_reply){ 421, "4.7.0", "Error: too many connections from your address" };
		return -1;
	}
	return 1;
}

static void
app_disconnect(void *ctx, struct smtp_sess *s)
{
	struct app *app = ctx;
	struct app_sess *as = smtp_sess_app_data(s);

	if (as == NULL)
		return;
	/* A connection that never said HELO/EHLO (a port probe, a scanner)
	   exchanged no mail: not a session for the TLS report. */
	if (!as->recorded && smtp_sess_helo(s)[0] != '\0')
		app_stats(app, s, as, 0);
	if (as->counted)
		anvil_conn_close(app->anvil, smtp_sess_peer_ip(s));
	maildir_tx_abort(&as->tx);
	queue_tx_abort(&as->qtx);
	serve_msgauth_free(&as->ma);
	free(as);
	smtp_sess_set_app_data(s, NULL);
}

static bool
app_auth_locked(void *ctx, struct smtp_sess *s)
{
	struct app *app = ctx;

	return serve_auth_locked(app, smtp_sess_peer_ip(s));
}

static void
app_auth_done(void *ctx, bool ok)
{
	smtp_sess_auth_result(ctx, ok);
}

static void
app_auth(void *ctx, struct smtp_sess *s, const char *user, const char *password)
{
	serve_auth_check(ctx, smtp_sess_peer_ip(s), user, password, app_auth_done, s);
}

static int
app_mail(void *ctx, struct smtp_sess *s, const char *sender, struct smtp_hook_reply *r)
{
	const char *user = smtp_sess_auth_user(s);
	struct app_sess *as = smtp_sess_app_data(s);

	/* Submission: a user sends only as one of its own addresses (or <>). */
	if (user != NULL && *sender != '\0' && strcasecmp(sender, user) != 0) {
		*r = (struct smtp_hook_reply){ 553, "5.7.1", "Sender address rejected: not owned by you" };
		return -1;
	}
	serve_msgauth_mail(ctx, s, &as->ma, sender); /* port 25: SPF starts now */
	return 1;
}

static int
app_rcpt(void *ctx, struct smtp_sess *s, const char *rcpt, struct smtp_hook_reply *r)
{
	struct app *app = ctx;
	const char *at = strrchr(rcpt, '@');
	int local = at == NULL ? 0 : store_domain_is_local(app->store, at + 1);
	int known = local == 1 ? store_user_exists(app->store, rcpt) : 0;

	if (local < 0 || known < 0) {
		*r = (struct smtp_hook_reply){ 451, "4.3.0", "Error: temporary lookup failure" };
		return -1;
	}
	if (known == 1)
		return 1;
	if (local == 1) {
		*r = (struct smtp_hook_reply){ 550, "5.1.1", "Recipient address rejected: User unknown" };
		return -1;
	}
	if (smtp_sess_server(s)->service == SMTP_SVC_MX) {
		*r = (struct smtp_hook_reply){ 550, "5.7.1", "Relay access denied" };
		return -1;
	}
	return 1; /* an authenticated user's mail for elsewhere: the queue takes it */
}

/* app_is_local - one of our domains? (a failed lookup counts as remote:
   the queue then retries, nothing is lost) */
static bool
app_is_local(struct app *app, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');

	return at != NULL && store_domain_is_local(app->store, at + 1) == 1;
}

/* app_queue_begin - a message with a remote recipient: the whole message,
   local recipients included, goes through the durable queue. */
static int
app_queue_begin(struct app *app, struct smtp_sess *s, struct app_sess *as)
{
	const char *error;

	if ((as->qtx = queue_tx_begin(app->queue, smtp_sess_sender(s), &error)) == NULL) {
		log_warnx("sid=%016llx event=queue-error op=begin error=\"%s\"",
		    (unsigned long long)smtp_sess_id(s), error);
		return -1;
	}
	/* The next hop needs to know: SMTPUTF8 must be offered there, and 8-bit
	   data announced. */
	queue_tx_set_options(as->qtx,
	    (smtp_sess_smtputf8(s) ? QUEUE_F_SMTPUTF8 : 0) |
		(smtp_sess_8bitmime(s) ? QUEUE_F_8BITMIME : 0),
	    NULL, QUEUE_RET_DEFAULT);
	for (size_t i = 0; i < smtp_sess_rcpt_count(s); i++)
		if (queue_tx_add_rcpt(as->qtx, smtp_sess_rcpt(s, i), NULL, 0) < 0)
			return -1;
	return 0;
}

/* app_store_begin - the Maildir or queue transaction for the message. */
static int
app_store_begin(struct app *app, struct smtp_sess *s, struct app_sess *as)
{
	const char *error;

	BUG_ON(as->tx != NULL || as->qtx != NULL);
	for (size_t i = 0; i < smtp_sess_rcpt_count(s); i++)
		if (!app_is_local(app, smtp_sess_rcpt(s, i)))
			return app_queue_begin(app, s, as);
	if ((as->tx = maildir_tx_begin(app->store, &error)) == NULL) {
		log_warnx("sid=%016llx event=store-error op=begin error=\"%s\"",
		    (unsigned long long)smtp_sess_id(s), error);
		return -1;
	}
	for (size_t i = 0; i < smtp_sess_rcpt_count(s); i++)
		if (maildir_tx_add_rcpt(as->tx, smtp_sess_rcpt(s, i)) < 0)
			return -1;
	return 0;
}

static int
app_data_begin(void *ctx, struct smtp_sess *s)
{
	struct app_sess *as = smtp_sess_app_data(s);

	if (app_store_begin(ctx, s, as) < 0)
		return -1;
	return serve_msgauth_begin(ctx, s, &as->ma, as->qtx != NULL);
}

static int
app_data_write(void *ctx, struct smtp_sess *s, const void *p, size_t n)
{
	struct app_sess *as = smtp_sess_app_data(s);

	(void)ctx;
	if (as->ma != NULL)
		serve_msgauth_write(as->ma, p, n);
	if (as->qtx != NULL)
		return queue_tx_write(as->qtx, p, n);
	return maildir_tx_write(as->tx, p, n);
}

/* app_notify - tell open IMAP/POP3 sessions of the recipients about new
   mail in their INBOX (IDLE sees it at once). */
static void
app_notify(struct smtp_sess *s)
{
	struct app_sess *as = smtp_sess_app_data(s);

	for (size_t i = 0; i < smtp_sess_rcpt_count(s); i++)
		mailbox_store_notify(as->app->mailboxes, smtp_sess_rcpt(s, i), NULL);
}

static void
app_commit_done(void *ctx, int status, const char *error)
{
	struct smtp_sess *s = ctx;
	struct app_sess *as = smtp_sess_app_data(s);

	if (status == 1) {
		app_notify(s);
		app_stats(as->app, s, as, smtp_sess_rcpt_count(s));
	}
	if (status != 1)
		log_warnx("sid=%016llx event=store-error op=commit error=\"%s\"",
		    (unsigned long long)smtp_sess_id(s), error != NULL ? error : "unknown");
	smtp_sess_data_result(s, status == 1, NULL);
}

static void
app_queue_done(void *ctx, int status, const char *id_or_error)
{
	struct smtp_sess *s = ctx;
	struct app_sess *as = smtp_sess_app_data(s);

	if (status == 1)
		app_stats(as->app, s, as, smtp_sess_rcpt_count(s));
	if (status != 1)
		log_warnx("sid=%016llx event=queue-error op=commit error=\"%s\"",
		    (unsigned long long)smtp_sess_id(s), id_or_error);
	smtp_sess_data_result(s, status == 1, NULL);
}

/* app_msgauth_done - SPF/DKIM/DMARC have spoken (serve_msgauth.c): refuse,
   or commit with the header prefix, into Junk for a DMARC quarantine. */
static void
app_msgauth_done(void *ctx, const struct msgauth_outcome *o)
{
	struct smtp_sess *s = ctx;
	struct app_sess *as = smtp_sess_app_data(s);
	struct maildir_tx *tx = as->tx;
	struct queue_tx *qtx = as->qtx;
	int rc = 0;

	as->tx = NULL;
	as->qtx = NULL;
	if (o->reject != NULL) {
		maildir_tx_abort(&tx);
		queue_tx_abort(&qtx);
		smtp_sess_data_result(s, false, o->reject);
		return;
	}
	if (o->has_prefix)
		rc = qtx != NULL ? queue_tx_set_prefix(qtx, o->prefix.p, o->prefix.n, o->skip)
		                 : maildir_tx_set_prefix(tx, o->prefix.p, o->prefix.n, o->skip);
	if (rc == 0 && o->folder != NULL && tx != NULL)
		rc = maildir_tx_set_folder(tx, o->folder);
	if (rc < 0)
		log_warnx("sid=%016llx event=msgauth-error error=\"cannot set the header prefix\"",
		    (unsigned long long)smtp_sess_id(s));
	if (qtx != NULL)
		queue_tx_commit(qtx, app_queue_done, s);
	else
		maildir_tx_commit(tx, app_commit_done, s);
}

static void
app_data_commit(void *ctx, struct smtp_sess *s)
{
	struct app_sess *as = smtp_sess_app_data(s);

	(void)ctx;
	serve_msgauth_finish(as->ma, app_msgauth_done, s);
}

static void
app_data_abort(void *ctx, struct smtp_sess *s)
{
	struct app_sess *as = smtp_sess_app_data(s);

	(void)ctx;
	if (as != NULL) {
		maildir_tx_abort(&as->tx);
		queue_tx_abort(&as->qtx);
		serve_msgauth_abort(as->ma);
	}
}

static const struct smtp_hooks app_hooks = {
	.connect = app_connect,
	.disconnect = app_disconnect,
	.auth_locked = app_auth_locked,
	.auth = app_auth,
	.mail = app_mail,
	.rcpt = app_rcpt,
	.data_begin = app_data_begin,
	.data_write = app_data_write,
	.data_commit = app_data_commit,
	.data_abort = app_data_abort,
};

static void
app_accept(void *ctx, struct listener *l, struct conn *c)
{
	const struct smtp_server *srv = ctx;

	(void)l;
	smtp_sess_start(srv, c);
}

/* app_server_init - one engine configuration per SMTP service. */
static void
app_server_init(struct app *app, enum smtp_service svc, const char *name)
{
	const struct conf *cf = app->conf;
	struct smtp_server *srv = &app->srv[svc];

	srv->hostname = cf->myhostname;
	srv->service = svc;
	srv->service_name = name;
	srv->tls = app->tls;
	srv->hooks = &app_hooks;
	srv->app = app;
	srv->lim = (struct smtp_limits){
		.cmd_line = cf->smtpd_command_line_limit,
		.message_size = cf->message_size_limit,
		.max_rcpts = cf->smtpd_recipient_limit,
		.hard_errors = cf->smtpd_hard_error_limit,
		.idle_ms = cf->smtpd_timeout,
		.forbid_bare_newline = cf->smtpd_forbid_bare_newline,
	};
}

void
serve_listen(struct app *app, const char *service, const struct sockaddr_storage *sa,
    bool implicit_tls, void (*accept)(void *ctx, struct listener *l, struct conn *c), void *ctx)
{
	const char *error;
	struct listener *l = listener_open(app->loop, service, sa, implicit_tls, app->tls, accept,
	    ctx, &error);

	if (l == NULL)
		die("cannot listen: %s", error);
	app->listeners = xrealloc(app->listeners, (app->nlisteners + 1) * sizeof(*app->listeners));
	app->listeners[app->nlisteners++] = l;
}

/* app_listen - bind every address of one SMTP service. */
static void
app_listen(struct app *app, const struct conf_listen *addrs, enum smtp_service svc)
{
	for (size_t i = 0; i < addrs->n; i++)
		serve_listen(app, app->srv[svc].service_name, &addrs->addrs[i],
		    svc == SMTP_SVC_SUBMISSIONS, app_accept, &app->srv[svc]);
}

static void
app_on_signal(uv_signal_t *h, int signum)
{
	struct app *app = h->data;
	const char *error;

	if (signum == SIGHUP) {
		if (tls_server_reload(app->tls, &error) < 0)
			log_warnx("event=reload status=failed error=\"%s\" (keeping the old certificates)",
			    error);
		else
			log_info("event=reload status=ok");
		return;
	}
	log_info("event=stop signal=%d", signum);
	for (size_t i = 0; i < app->nlisteners; i++)
		listener_close(&app->listeners[i]);
	uv_stop(app->loop);
}

static void
app_signals(struct app *app)
{
	uv_signal_t *hs[] = { &app->sig_hup, &app->sig_term, &app->sig_int };
	int sigs[] = { SIGHUP, SIGTERM, SIGINT };

	for (size_t i = 0; i < 3; i++) {
		uv_signal_init(app->loop, hs[i]);
		hs[i]->data = app;
		uv_signal_start(hs[i], app_on_signal, sigs[i]);
		uv_unref((uv_handle_t *)hs[i]);
	}
}

/* app_load_tls - certificates are mandatory: no listener runs without TLS. */
static void
app_load_tls(struct app *app)
{
	const struct conf *cf = app->conf;
	const char *error;

	if (cf->smtpd_tls_cert_file.n == 0)
		die("%s: smtpd_tls_cert_file and smtpd_tls_key_file must be set", cf->path);
	app->tls = tls_server_new(cf->smtpd_tls_cert_file.v, cf->smtpd_tls_key_file.v,
	    cf->smtpd_tls_cert_file.n, &error);
	if (app->tls == NULL)
		die("TLS: %s", error);
	if (tls_server_has_selfsigned(app->tls))
		log_warnx("event=tls-warning *** SELF-SIGNED CERTIFICATE: for local trials only; "
			  "other servers and clients will not trust it. Install a real "
			  "certificate (smtpd_tls_cert_file) before going live. ***");
}

/* app_queue_start - the outbound queue, its scheduler and delivery agent. */
static void
app_queue_start(struct app *app)
{
	const struct conf *cf = app->conf;
	struct queue_params qp;
	const char *error;

	if ((app->queue = queue_open(cf->data_dir, app->loop, &error)) == NULL)
		die("queue: %s", error);
	if (deliver_init(&app->deliver, app->loop, cf, app->store, app->queue, &error) < 0)
		die("outbound: %s", error);
	queue_params_init(&qp);
	qp.myhostname = cf->myhostname;
	qp.minimal_backoff_time = (unsigned)(cf->minimal_backoff_time / 1000);
	qp.maximal_backoff_time = (unsigned)(cf->maximal_backoff_time / 1000);
	qp.queue_run_delay = (unsigned)(cf->queue_run_delay / 1000);
	qp.maximal_queue_lifetime = (unsigned)(cf->maximal_queue_lifetime / 1000);
	qp.bounce_queue_lifetime = (unsigned)(cf->bounce_queue_lifetime / 1000);
	qp.delay_warning_time = (unsigned)(cf->delay_warning_time / 1000);
	qp.destination_concurrency_limit = cf->default_destination_concurrency_limit;
	qp.destination_recipient_limit = cf->default_destination_recipient_limit;
	if (queue_start(app->queue, &qp, &error) < 0)
		die("queue: %s", error);
}

int
cmd_serve(struct conf *conf, int argc, char **argv)
{
	struct app app = { .conf = conf };
	const char *error;

	(void)argc;
	(void)argv;
	if (log_open(conf->log_file) < 0)
		die("cannot open log_file %s", conf->log_file);
	if (priv_prepare_data_dir(conf, &error) < 0)
		die("%s", error);
	app.loop = uv_default_loop();
	app_load_tls(&app);
	app_server_init(&app, SMTP_SVC_MX, "smtp");
	app_server_init(&app, SMTP_SVC_SUBMISSION, "submission");
	app_server_init(&app, SMTP_SVC_SUBMISSIONS, "submissions");
	app_listen(&app, &conf->smtp_listen, SMTP_SVC_MX);
	app_listen(&app, &conf->submission_listen, SMTP_SVC_SUBMISSION);
	app_listen(&app, &conf->submissions_listen, SMTP_SVC_SUBMISSIONS);
	serve_imap_listen(&app);
	serve_pop3_listen(&app);
	if (priv_drop(conf->run_user, &error) < 0)
		die("%s", error);
	if (geteuid() == 0 || getuid() == 0)
		die("refusing to run as root: set run_user");
	if ((app.store = store_open(conf->data_dir, true, &error)) == NULL)
		die("%s: %s", conf->data_dir, error);
	if (store_commit_start(app.store, app.loop) < 0)
		die("cannot start the delivery committer");
	/* IMAP (and POP3) sessions share one registry of open accounts. */
	app.mailboxes = mailbox_store_new(app.loop, conf->data_dir);
	/* Statistics are worth a warning, not refusing mail. */
	if ((app.stats = stats_open(conf->data_dir, app.loop, conf->tls_report_retention / 1000,
		 &error)) == NULL)
		log_warnx("event=stats-error error=\"%s\" (sessions are not recorded)", error);
	app_queue_start(&app);
	serve_msgauth_init(&app); /* uses the outbound resolver (app.deliver.dns) */
	app.deliver.stats = app.stats;
	app.deliver.mailboxes = app.mailboxes;
	serve_pickup_start(&app);
	app.anvil = anvil_new();
	app_signals(&app);
	log_info("event=start version=%s listeners=%zu hostname=%s data_dir=%s", HIKYAKU_VERSION,
	    app.nlisteners, conf->myhostname, conf->data_dir);
	uv_run(app.loop, UV_RUN_DEFAULT);
	deliver_stop(&app.deliver);
	serve_pickup_stop(&app);
	store_commit_stop(app.store);
	/* Only when no session holds an account: mailbox_store_free() waits
	   for open accounts, and sessions still open at a stop are not closed.
	   Their memory stays reachable from the loop. */
	if (app.mailbox_users == 0)
		mailbox_store_free(&app.mailboxes);
	queue_close(&app.queue);
	app.deliver.stats = NULL;
	stats_close(&app.stats); /* before serve_pickup_free(), which runs the loop once */
	serve_pickup_free(&app);
	deliver_deinit(&app.deliver);
	store_close(&app.store);
	anvil_free(&app.anvil);
	tls_server_free(&app.tls);
	free(app.listeners);
	log_info("event=stopped");
	return 0;
}
