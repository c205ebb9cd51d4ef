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
#include "store/maildir.h"
#include "store/store.h"
#include "tls/tls.h"

/* tls/ cannot include conf/: the two level enums must stay the same numbers. */
_Static_assert((int)TLS_LVL_NONE == (int)CONF_TLS_NONE && (int)TLS_LVL_MAY == (int)CONF_TLS_MAY &&
	(int)TLS_LVL_ENCRYPT == (int)CONF_TLS_ENCRYPT &&
	(int)TLS_LVL_VERIFY == (int)CONF_TLS_VERIFY && (int)TLS_LVL_SECURE == (int)CONF_TLS_SECURE,
    "enum tls_level and enum conf_tls_level differ");

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

/* ---- remote recipients ---- */

/* client_results - a finished SMTP transaction: per-recipient outcome. */
static void
client_results(struct attempt *a, const struct smtp_client_result *r)
{
	for (size_t i = 0; i < a->d->nrcpts; i++) {
		const struct smtp_client_rcpt_result *c = &r->rcpt[i];
		struct queue_rcpt_result *o = &a->res[i];

		o->code = c->code;
		o->status = c->code >= 200 && c->code < 300 ? QR_SENT :
		    c->code >= 500 ? QR_BOUNCE : QR_DEFER;
		snprintf(o->enhanced, sizeof(o->enhanced), "%s", c->enhanced);
		snprintf(o->text, sizeof(o->text), "%s", c->text);
		snprintf(o->relay, sizeof(o->relay), "%s", a->relay);
	}
	attempt_finish(a);
}

static void
client_done(void *ctx, const struct smtp_client_result *r)
{
	struct attempt *a = ctx;

	a->client = NULL; /* the client logged the connection and its TLS facts */
	switch (r->status) {
	case SC_DONE:
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
	req.helo = cf->myhostname;
	req.mx_host = a->mx->hosts[a->host].name;
	req.nexthop = a->d->domain;
	req.tls_level = a->plain_retry ? TLS_LVL_NONE : a->level;
	req.tls = a->dl->tls;
	req.sender = a->d->sender;
	req.nrcpts = a->d->nrcpts;
	req.rcpts = a->d->rcpts;
	req.msg_path = a->d->msg_path;
	req.msg_size = a->d->size;
	req.smtputf8 = (a->d->flags & QUEUE_F_SMTPUTF8) != 0;
	req.eightbit = (a->d->flags & QUEUE_F_8BITMIME) != 0;
	req.timeout_ms = cf->smtp_reply_timeout;
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
	a->mx_req = dns_mx_resolve(dl->dns, d->domain, mx_done, a);
	if (a->mx_req == NULL)
		attempt_all(a, QR_BOUNCE, 550, "5.1.2", "invalid domain name");
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
}

void
deliver_deinit(struct deliver *dl)
{
	tls_client_free(&dl->tls);
	dns_free(&dl->dns);
	conf_policy_free(&dl->policy);
}
