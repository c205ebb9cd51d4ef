/*
 * deliver.c -- the queue's delivery agent: local recipients into their
 * Maildir, remote ones to their domain's MX hosts over SMTP with the TLS
 * level that policy asks for.
 *
 * Remote: MX lookup (dns_mx_resolve: preference order, random among equals,
 * A/AAAA fallback, null MX), then at most smtp_mx_address_limit addresses in
 * turn. A host that fails (connection, greeting, TLS required but not
 * available or not verified, STARTTLS response injection) passes the
 * recipients to the next; under `may` a failed handshake is retried with the
 * same host in clear, as Postfix does. Permanent DNS answers (null MX, no
 * such domain) bounce at once; temporary ones defer.
 * Reuse (Postfix smtp_connection_cache_on_demand): a session that ends a
 * transaction in step is parked, keyed by (next-hop domain, policy level):
 * only that domain's mail may use it, since `secure` verified the peer for
 * that name. A delivery for the domain takes the newest usable one instead
 * of MX lookup + connect; if it fails before MAIL is answered, the delivery
 * starts over with MX lookup. At most destination_concurrency_limit idle
 * per domain and DELIVER_IDLE_MAX in all; the client closes an idle session
 * after SMTP_CLIENT_IDLE_MS and after SMTP_CLIENT_MAX_TX transactions.
 * Logs: the SMTP client logs each connection with its TLS facts and the
 * peer's trust (Anonymous, Untrusted, Trusted, Verified); the queue logs
 * each recipient's status=sent|deferred|bounced with the relay and reply.
 * Standards: RFC 5321 5.1 and 4.2.5 (retry), RFC 7505, RFC 3207.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/deliver.h"
#include "conf/conf.h"
#include "dns/dns_mx.h"
#include "queue/queue.h"
#include "smtp/smtp_client.h"
#include "stats/stats.h"
#include "store/mailbox.h"
#include "store/maildir.h"
#include "store/store.h"
#include "tls/tls.h"

/* tls/ cannot include conf/: the two level enums must stay the same numbers. */
_Static_assert((int)TLS_LVL_NONE == (int)CONF_TLS_NONE && (int)TLS_LVL_MAY == (int)CONF_TLS_MAY &&
	(int)TLS_LVL_ENCRYPT == (int)CONF_TLS_ENCRYPT &&
	(int)TLS_LVL_VERIFY == (int)CONF_TLS_VERIFY && (int)TLS_LVL_SECURE == (int)CONF_TLS_SECURE,
    "enum tls_level and enum conf_tls_level differ");

#define DELIVER_IDLE_MAX 100 /* idle sessions in all (file descriptors) */

/* An idle session, the cache's own (see smtp_client_start()). */
struct cached_conn {
	struct cached_conn *prev, *next; /* dl->idle */
	struct deliver *dl;
	struct smtp_client *client;
	char domain[256];
	int level;
	char relay[256];
	unsigned ntx; /* transactions done on it */
};

/* One delivery in progress (one domain, one message, some recipients). */
struct attempt {
	struct attempt *prev, *next; /* dl->attempts */
	struct deliver *dl;
	struct queue *q;
	struct queue_delivery_handle *h;
	const struct queue_delivery *d;
	struct dns_mx_req *mx_req;
	struct dns_mx_result *mx;
	struct smtp_client *client;
	struct maildir_tx *mtx;
	size_t host, addr, tries;
	int level;	 /* policy level for this domain */
	bool plain_retry; /* `may`: this address again, without TLS */
	bool committing;  /* a Maildir commit holds the attempt */
	bool reused;	  /* a cached session, no MX result yet */
	char relay[256]; /* as struct queue_rcpt_result.relay */
	char last[512]; /* why the last host failed */
	struct queue_rcpt_result *res;
};

static void attempt_next(struct attempt *a);

/* attempt_finish - hand the results to the queue and forget the attempt. */
static void
attempt_free(struct attempt *a)
{
	struct deliver *dl = a->dl;

	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		dl->attempts = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	dl->inflight--;
	free(a->mx);
	free(a->res);
	free(a);
}

static void
attempt_finish(struct attempt *a)
{
	queue_delivery_done(a->q, a->h, a->res);
	attempt_free(a);
}

/* attempt_all - the same outcome for every recipient. */
static void
attempt_all(struct attempt *a, int status, unsigned code, const char *enh, const char *text)
{
	for (size_t i = 0; i < a->d->nrcpts; i++) {
		struct queue_rcpt_result *r = &a->res[i];

		r->status = status;
		r->code = code;
		snprintf(r->enhanced, sizeof(r->enhanced), "%s", enh);
		snprintf(r->text, sizeof(r->text), "%s", text);
		snprintf(r->relay, sizeof(r->relay), "%s", a->relay);
	}
	attempt_finish(a);
}

/* ---- local recipients ---- */

static void
local_done(void *ctx, int status, const char *error)
{
	struct attempt *a = ctx;

	/* Also while stopping: the queue is still open and records the result. */
	a->committing = false;
	for (size_t i = 0; i < a->d->nrcpts; i++) {
		struct queue_rcpt_result *r = &a->res[i];

		if (r->status == QR_BOUNCE)
			continue;
		r->status = status == 1 ? QR_SENT : QR_DEFER;
		r->code = status == 1 ? 250 : 451;
		snprintf(r->enhanced, sizeof(r->enhanced), "%s", status == 1 ? "2.0.0" : "4.3.0");
		snprintf(r->text, sizeof(r->text), "%s",
		    status == 1 ? "delivered to mailbox" : (error != NULL ? error : "store error"));
		snprintf(r->relay, sizeof(r->relay), "local");
		/* Open IMAP/POP3 sessions (IDLE) see it at once. */
		if (status == 1)
			mailbox_store_notify(a->dl->mailboxes, a->d->rcpts[i], NULL);
	}
	attempt_finish(a);
}

/* local_copy - the spooled message into a Maildir transaction. */
static int
local_copy(struct attempt *a)
{
	char buf[64 * 1024];
	ssize_t n;
	int fd = open(a->d->msg_path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (maildir_tx_write(a->mtx, buf, (size_t)n) < 0)
			rc = -1;
	close(fd);
	return n < 0 ? -1 : rc;
}

/* deliver_local - our own domain: straight into the Maildirs. */
static void
deliver_local(struct attempt *a)
{
	const char *error;
	size_t ok = 0;

	snprintf(a->relay, sizeof(a->relay), "local");
	if ((a->mtx = maildir_tx_begin(a->dl->store, &error)) == NULL) {
		attempt_all(a, QR_DEFER, 451, "4.3.0", error);
		return;
	}
	for (size_t i = 0; i < a->d->nrcpts; i++) {
		if (store_user_exists(a->dl->store, a->d->rcpts[i]) == 1 &&
		    maildir_tx_add_rcpt(a->mtx, a->d->rcpts[i]) == 0) {
			ok++;
			continue;
		}
		a->res[i] = (struct queue_rcpt_result){ .status = QR_BOUNCE, .code = 550 };
		snprintf(a->res[i].enhanced, sizeof(a->res[i].enhanced), "5.1.1");
		snprintf(a->res[i].text, sizeof(a->res[i].text), "User unknown in local domain");
		snprintf(a->res[i].relay, sizeof(a->res[i].relay), "local");
	}
	if (ok == 0 || local_copy(a) < 0) {
		maildir_tx_abort(&a->mtx);
		if (ok == 0)
			attempt_finish(a);
		else
			attempt_all(a, QR_DEFER, 451, "4.3.0", "cannot read the spooled message");
		return;
	}
	a->committing = true;
	maildir_tx_commit(a->mtx, local_done, a);
	a->mtx = NULL;
}

/* ---- idle session cache ---- */

static void
cache_unlink(struct cached_conn *cc)
{
	struct deliver *dl = cc->dl;

	if (cc->prev != NULL)
		cc->prev->next = cc->next;
	else
		dl->idle = cc->next;
	if (cc->next != NULL)
		cc->next->prev = cc->prev;
}

/* cache_drop - QUIT (or just free, when already dead) and forget. */
static void
cache_drop(struct cached_conn *cc)
{
	cache_unlink(cc);
	smtp_client_release(&cc->client);
	free(cc);
}

/* cache_closed - smtp_client_closed_fn: the server or the idle limit ended
   a parked session. */
static void
cache_closed(void *ctx, struct smtp_client *c)
{
	(void)c;
	cache_drop(ctx);
}

/* cache_park - keep a session whose transaction said reusable, within the
   bounds; the cache owns it from here. */
static void
cache_park(struct attempt *a, struct smtp_client *c, unsigned ntx)
{
	struct deliver *dl = a->dl;
	size_t same = 0, all = 0;
	struct cached_conn *cc;

	for (cc = dl->idle; cc != NULL; cc = cc->next) {
		all++;
		same += strcmp(cc->domain, a->d->domain) == 0;
	}
	if (dl->stopping || strlen(a->d->domain) >= sizeof(cc->domain) ||
	    same >= dl->conf->default_destination_concurrency_limit || all >= DELIVER_IDLE_MAX) {
		smtp_client_release(&c);
		return;
	}
	cc = xcalloc(1, sizeof(*cc));
	cc->dl = dl;
	cc->client = c;
	cc->level = a->level;
	cc->ntx = ntx;
	snprintf(cc->domain, sizeof(cc->domain), "%s", a->d->domain);
	snprintf(cc->relay, sizeof(cc->relay), "%s", a->relay);
	cc->next = dl->idle;
	if (cc->next != NULL)
		cc->next->prev = cc;
	dl->idle = cc;
	smtp_client_on_close(c, cache_closed, cc);
}

/* cache_take - the newest usable session for (domain, level), unlinked, or
   NULL; dead ones met on the way are released. */
static struct cached_conn *
cache_take(struct deliver *dl, const char *domain, int level)
{
	struct cached_conn *cc, *next;

	for (cc = dl->idle; cc != NULL; cc = next) {
		next = cc->next;
		if (cc->level != level || strcmp(cc->domain, domain) != 0)
			continue;
		if (!smtp_client_usable(cc->client)) {
			cache_drop(cc);
			continue;
		}
		cache_unlink(cc);
		return cc;
	}
	return NULL;
}

/* ---- remote recipients ---- */

static void attempt_resolve(struct attempt *a);

/* client_stats - one statistics record per outbound transaction that got
   per-recipient results (src/stats): the next-hop domain, the address from
   a->relay ("name[ip]:port"), the TLS facts and what was accepted. */
static void
client_stats(struct attempt *a, const struct smtp_client_result *r)
{
	struct stats_rec sr = { .out = true, .tls = r->tls, .new_session = r->ntx <= 1 };
	const char *lb = strchr(a->relay, '['), *rb = lb != NULL ? strchr(lb, ']') : NULL;
	char ip[64] = "";

	for (size_t i = 0; i < a->d->nrcpts; i++)
		sr.rcpts += r->rcpt[i].code >= 200 && r->rcpt[i].code < 300;
	sr.messages = sr.rcpts > 0;
	if (rb != NULL && (size_t)(rb - lb - 1) < sizeof(ip))
		memcpy(ip, lb + 1, (size_t)(rb - lb - 1));
	stats_rec_set(sr.service, sizeof(sr.service), "relay", false);
	stats_rec_set(sr.domain, sizeof(sr.domain), a->d->domain, true);
	stats_rec_set(sr.ip, sizeof(sr.ip), ip, false);
	if (r->tls) {
		stats_rec_set(sr.tls_version, sizeof(sr.tls_version), r->tls_version, false);
		stats_rec_set(sr.tls_cipher, sizeof(sr.tls_cipher), r->tls_cipher, false);
		stats_rec_set(sr.peer_cert, sizeof(sr.peer_cert), r->peer_cert, false);
	}
	stats_record(a->dl->stats, &sr);
}

/* client_results - a finished SMTP transaction: per-recipient outcome. */
static void
client_results(struct attempt *a, const struct smtp_client_result *r)
{
	client_stats(a, r);
	for (size_t i = 0; i < a->d->nrcpts; i++) {
		const struct smtp_client_rcpt_result *c = &r->rcpt[i];
		struct queue_rcpt_result *o = &a->res[i];

		o->code = c->code;
		o->status = c->code >= 200 && c->code < 300 ? QR_SENT :
		    c->code >= 500 ? QR_BOUNCE : QR_DEFER;
		snprintf(o->enhanced, sizeof(o->enhanced), "%s", c->enhanced);
		snprintf(o->text, sizeof(o->text), "%s", c->text);
		snprintf(o->relay, sizeof(o->relay), "%s", a->relay);
		if (r->tls) {
			snprintf(o->tls_version, sizeof(o->tls_version), "%s", r->tls_version);
			snprintf(o->tls_cipher, sizeof(o->tls_cipher), "%s", r->tls_cipher);
			snprintf(o->tls_peer, sizeof(o->tls_peer), "%s", r->peer_cert);
		}
	}
	attempt_finish(a);
}

static void
client_done(void *ctx, const struct smtp_client_result *r)
{
	struct attempt *a = ctx;
	struct smtp_client *c = a->client;

	a->client = NULL; /* the client logged the connection and its TLS facts */
	if (r->status != SC_DONE && a->reused) {
		/* the cached session died before MAIL was answered: start over */
		log_info("event=reuse-failed id=%s relay=%s reason=\"%s\"", a->d->id, a->relay,
		    r->reason);
		a->reused = false;
		attempt_resolve(a);
		return;
	}
	switch (r->status) {
	case SC_DONE:
		if (r->reusable)
			cache_park(a, c, r->ntx);
		client_results(a, r);
		return;
	case SC_TLS_RETRY_PLAIN:
		log_info("event=tls-out-failed id=%s relay=%s reason=\"%s\" retry=plain", a->d->id,
		    a->relay, r->reason);
		snprintf(a->last, sizeof(a->last), "%s", r->reason);
		a->plain_retry = true;
		attempt_next(a);
		return;
	case SC_HOST_FAILED:
		log_info("event=host-failed id=%s relay=%s reason=\"%s\"", a->d->id, a->relay,
		    r->reason);
		snprintf(a->last, sizeof(a->last), "%s", r->reason); /* names the host */
		a->plain_retry = false;
		a->addr++;
		attempt_next(a);
		return;
	}
}

/* attempt_addr - the address to try now, or NULL when none is left. */
static const struct sockaddr_storage *
attempt_addr(struct attempt *a)
{
	while (a->host < a->mx->nhosts) {
		const struct dns_mx_host *h = &a->mx->hosts[a->host];

		if (a->addr < h->naddrs)
			return &h->addrs[a->addr];
		a->host++;
		a->addr = 0;
	}
	return NULL;
}

static void
attempt_relay_name(struct attempt *a, const struct sockaddr_storage *ss, unsigned port)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof(ip));
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof(ip));
	snprintf(a->relay, sizeof(a->relay), "%s[%s]:%u", a->mx->hosts[a->host].name, ip, port);
}

/* attempt_tx_req - the message's part of a request. */
static void
attempt_tx_req(struct attempt *a, struct smtp_client_req *req)
{
	const struct conf *cf = a->dl->conf;

	req->helo = cf->myhostname;
	req->nexthop = a->d->domain;
	req->tls = a->dl->tls;
	req->sender = a->d->sender;
	req->nrcpts = a->d->nrcpts;
	req->rcpts = a->d->rcpts;
	req->msg_path = a->d->msg_path;
	req->msg_size = a->d->size;
	req->smtputf8 = (a->d->flags & QUEUE_F_SMTPUTF8) != 0;
	req->eightbit = (a->d->flags & QUEUE_F_8BITMIME) != 0;
	req->timeout_ms = cf->smtp_reply_timeout;
	req->tls_loglevel = cf->smtp_tls_loglevel;
	req->reuse = true;
}

/* attempt_reuse - the delivery on a cached session of its domain. Returns
   0, or -1 when none is usable. */
static int
attempt_reuse(struct attempt *a)
{
	struct smtp_client_req req = { 0 };
	struct cached_conn *cc;

	attempt_tx_req(a, &req);
	while ((cc = cache_take(a->dl, a->d->domain, a->level)) != NULL) {
		struct smtp_client *c = cc->client;
		unsigned n = cc->ntx + 1;

		snprintf(a->relay, sizeof(a->relay), "%s", cc->relay);
		free(cc);
		if (smtp_client_next(c, &req, client_done, a) < 0) {
			smtp_client_release(&c);
			continue;
		}
		a->client = c;
		a->reused = true;
		log_info("event=reuse id=%s relay=%s n=%u", a->d->id, a->relay, n);
		return 0;
	}
	return -1;
}

/* attempt_next - connect to the next address (or the same one in clear). */
static void
attempt_next(struct attempt *a)
{
	const struct conf *cf = a->dl->conf;
	const struct sockaddr_storage *ss = attempt_addr(a);
	struct smtp_client_req req = { 0 };

	/* The limit counts addresses; retrying one in clear is not a new one. */
	if (ss == NULL || (!a->plain_retry && a->tries >= cf->smtp_mx_address_limit)) {
		attempt_all(a, QR_DEFER, 0, "4.4.1",
		    a->last[0] != '\0' ? a->last : "no MX host could be reached");
		return;
	}
	a->tries += a->plain_retry ? 0 : 1;
	req.addr = *ss;
	if (req.addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&req.addr)->sin6_port = htons((uint16_t)cf->relay_port);
	else
		((struct sockaddr_in *)&req.addr)->sin_port = htons((uint16_t)cf->relay_port);
	attempt_relay_name(a, ss, cf->relay_port);
	attempt_tx_req(a, &req);
	req.mx_host = a->mx->hosts[a->host].name;
	req.tls_level = a->plain_retry ? TLS_LVL_NONE : a->level;
	a->client = smtp_client_start(a->dl->loop, &req, client_done, a);
}

static void
mx_done(void *ctx, struct dns_mx_result *r)
{
	struct attempt *a = ctx;

	a->mx_req = NULL;
	a->mx = r;
	snprintf(a->relay, sizeof(a->relay), "none");
	switch (r->rc) {
	case DNS_MX_OK:
		attempt_next(a);
		return;
	case DNS_MX_NULL:
		/* RFC 7505 section 4.1: 556 5.1.10 */
		attempt_all(a, QR_BOUNCE, 556, "5.1.10", "Domain does not accept mail (null MX)");
		return;
	case DNS_MX_NXDOMAIN:
		attempt_all(a, QR_BOUNCE, 550, "5.1.2", r->reason);
		return;
	default:
		attempt_all(a, QR_DEFER, 451, "4.4.3", r->reason);
		return;
	}
}

/* attempt_resolve - the MX lookup that starts a fresh connection. */
static void
attempt_resolve(struct attempt *a)
{
	a->mx_req = dns_mx_resolve(a->dl->dns, a->d->domain, mx_done, a);
	if (a->mx_req == NULL)
		attempt_all(a, QR_BOUNCE, 550, "5.1.2", "invalid domain name");
}

/* deliver_agent - queue_agent_fn: one domain's recipients of one message. */
static void
deliver_agent(void *ctx, struct queue *q, struct queue_delivery_handle *h,
    const struct queue_delivery *d)
{
	struct deliver *dl = ctx;
	struct attempt *a = xcalloc(1, sizeof(*a));

	a->dl = dl;
	a->q = q;
	a->h = h;
	a->d = d;
	a->res = xcalloc(d->nrcpts, sizeof(*a->res));
	a->next = dl->attempts;
	if (a->next != NULL)
		a->next->prev = a;
	dl->attempts = a;
	a->level = conf_policy_level(&dl->policy, d->domain, dl->conf->smtp_tls_security_level);
	dl->inflight++;
	if (store_domain_is_local(dl->store, d->domain) == 1) {
		deliver_local(a);
		return;
	}
	if (attempt_reuse(a) == 0)
		return;
	attempt_resolve(a);
}

int
deliver_init(struct deliver *dl, uv_loop_t *loop, const struct conf *conf, struct store *store,
    struct queue *q, const char **error_r)
{
	static char err[512];

	memset(dl, 0, sizeof(*dl));
	dl->loop = loop;
	dl->conf = conf;
	dl->store = store;
	if (conf_policy_load(&dl->policy, conf->smtp_tls_policy_maps, err, sizeof(err)) < 0) {
		*error_r = err;
		return -1;
	}
	if ((dl->dns = dns_new(loop, conf->dns_server, error_r)) == NULL)
		return -1;
	if ((dl->tls = tls_client_new(conf->smtp_tls_CAfile, error_r)) == NULL)
		return -1;
	dl->queue = q;
	queue_set_agent(q, deliver_agent, dl);
	return 0;
}

void
deliver_stop(struct deliver *dl)
{
	struct attempt *a, *next;

	dl->stopping = true;
	queue_set_agent(dl->queue, NULL, NULL); /* no new deliveries */
	for (a = dl->attempts; a != NULL; a = next) {
		next = a->next;
		if (a->committing)
			continue; /* local_done reports it when the store finishes */
		smtp_client_cancel(&a->client);
		dns_mx_cancel(&a->mx_req);
		queue_delivery_abandon(a->q, a->h);
		attempt_free(a);
	}
	while (dl->idle != NULL)
		cache_drop(dl->idle);
}

void
deliver_deinit(struct deliver *dl)
{
	tls_client_free(&dl->tls);
	dns_free(&dl->dns);
	conf_policy_free(&dl->policy);
}
