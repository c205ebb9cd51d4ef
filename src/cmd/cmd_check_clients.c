/*
 * cmd_check_clients.c -- `hikyaku check --clients`: the client side of a
 * domain. RFC 6186 (and RFC 8314 for the implicit-TLS names) SRV records
 * say where mail clients submit and read; every endpoint they name is
 * probed with the same TLS facts as the MX hosts, and a password that
 * could cross in clear (AUTH before STARTTLS, IMAP without LOGINDISABLED,
 * POP3 USER before STLS) is a FAIL.
 * Limits: CLIENT_MAX_SRV targets per service, CLIENT_MAX_ADDRS addresses
 * per target; every probe step is bounded by --timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/check_int.h"

#define CLIENT_MAX_SRV 2
#define CLIENT_MAX_ADDRS 2

static const struct client_svc {
	const char *label; /* SRV owner label */
	const char *name;
	enum probe_proto proto;
	bool implicit;
} client_svcs[] = {
	{"_submissions._tcp.", "submissions", PROBE_SMTP, true},
	{"_submission._tcp.", "submission", PROBE_SMTP, false},
	{"_imaps._tcp.", "imaps", PROBE_IMAP, true},
	{"_imap._tcp.", "imap", PROBE_IMAP, false},
	{"_pop3s._tcp.", "pop3s", PROBE_POP3, true},
	{"_pop3._tcp.", "pop3", PROBE_POP3, false},
};
#define CLIENT_NSVC (sizeof(client_svcs) / sizeof(client_svcs[0]))

/* One address of one SRV target. */
struct client_ep {
	struct check_domain *d;
	const struct client_svc *svc;
	char target[DNS_NAME_TEXT_MAX];
	uint16_t port;
	char ip[INET6_ADDRSTRLEN];
	struct probe_result res;
	bool done;
};

/* One SRV target being resolved. */
struct client_target {
	struct check_clients *cc;
	const struct client_svc *svc;
	char name[DNS_NAME_TEXT_MAX];
	uint16_t port;
	int naddrs;
};

struct check_clients {
	struct check_domain *d;
	enum dns_rc srv_rc[CLIENT_NSVC];
	bool not_offered[CLIENT_NSVC]; /* SRV target "." (RFC 2782) */
	size_t nsrv[CLIENT_NSVC];
	struct client_target targets[CLIENT_NSVC * CLIENT_MAX_SRV];
	size_t ntargets;
	struct client_ep eps[CLIENT_NSVC * CLIENT_MAX_SRV * CLIENT_MAX_ADDRS];
	size_t neps;
};

/* A query context: which service's SRV, or which target's A/AAAA. */
struct client_q {
	struct check_clients *cc;
	size_t svc;
	struct client_target *t;
};

static void
on_probe(void *ctx, const struct probe_result *r)
{
	struct client_ep *e = ctx;

	e->res = *r;
	e->done = true;
	check_settle(e->d);
}

static void
client_probe(struct check_clients *cc, struct client_target *t, const struct sockaddr_storage *ss)
{
	struct check *chk = cc->d->chk;
	struct probe_opts o = chk->po;
	struct client_ep *e;
	struct sockaddr_storage sa = *ss;

	if (cc->neps == sizeof(cc->eps) / sizeof(cc->eps[0]) || t->naddrs >= CLIENT_MAX_ADDRS)
		return;
	t->naddrs++;
	e = &cc->eps[cc->neps++];
	e->d = cc->d;
	e->svc = t->svc;
	e->port = t->port;
	snprintf(e->target, sizeof(e->target), "%s", t->name);
	if (sa.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&sa)->sin6_port = htons(t->port);
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, e->ip, sizeof(e->ip));
	} else {
		((struct sockaddr_in *)&sa)->sin_port = htons(t->port);
		inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, e->ip, sizeof(e->ip));
	}
	o.proto = t->svc->proto;
	o.implicit_tls = t->svc->implicit;
	cc->d->pending++;
	probe_start(chk->loop, (struct sockaddr *)&sa, t->name, &o, on_probe, e);
}

static void
on_addr(void *ctx, const struct dns_answer *a)
{
	struct client_q *q = ctx;

	for (size_t i = 0; a->rc == DNS_OK && i < a->n; i++)
		client_probe(q->cc, q->t, &a->rr[i].u.addr);
	check_settle(q->cc->d);
	free(q);
}

static void
client_resolve(struct check_clients *cc, const struct client_svc *svc, const struct dns_rr *rr)
{
	static const uint16_t types[] = {DNS_T_A, DNS_T_AAAA};
	struct client_target *t;

	/* A host name from DNS: letters, digits, '-' and '_' only. */
	if (cc->ntargets == sizeof(cc->targets) / sizeof(cc->targets[0]) ||
	    !dns_name_is_valid(rr->u.srv.target))
		return;
	t = &cc->targets[cc->ntargets++];
	t->cc = cc;
	t->svc = svc;
	t->port = rr->u.srv.port;
	snprintf(t->name, sizeof(t->name), "%s", rr->u.srv.target);
	for (size_t i = 0; i < 2; i++) {
		struct client_q *q = xcalloc(1, sizeof(*q));

		q->cc = cc;
		q->t = t;
		cc->d->pending++;
		if (dns_query(cc->d->chk->dns, t->name, types[i], on_addr, q) == NULL) {
			cc->d->pending--;
			free(q);
		}
	}
}

static void
on_srv(void *ctx, const struct dns_answer *a)
{
	struct client_q *q = ctx;
	struct check_clients *cc = q->cc;
	const struct client_svc *svc = &client_svcs[q->svc];

	cc->srv_rc[q->svc] = a->rc;
	for (size_t i = 0; a->rc == DNS_OK && i < a->n && cc->nsrv[q->svc] < CLIENT_MAX_SRV; i++) {
		if (strcmp(a->rr[i].u.srv.target, ".") == 0) {
			cc->not_offered[q->svc] = true;
			continue;
		}
		cc->nsrv[q->svc]++;
		client_resolve(cc, svc, &a->rr[i]);
	}
	check_settle(cc->d);
	free(q);
}

void
check_clients_start(struct check_domain *d)
{
	struct check_clients *cc = xcalloc(1, sizeof(*cc));

	cc->d = d;
	d->clients = cc;
	for (size_t i = 0; i < CLIENT_NSVC; i++) {
		struct client_q *q = xcalloc(1, sizeof(*q));
		char name[DNS_NAME_TEXT_MAX + 24];

		q->cc = cc;
		q->svc = i;
		snprintf(name, sizeof(name), "%s%s", client_svcs[i].label, d->name);
		d->pending++;
		if (dns_query(d->chk->dns, name, DNS_T_SRV, on_srv, q) == NULL) {
			d->pending--;
			cc->srv_rc[i] = DNS_NXDOMAIN;
			free(q);
		}
	}
}

/* report_ep - one endpoint; returns true when a password may cross in clear. */
static bool
report_ep(struct out *o, const struct client_ep *e)
{
	const struct probe_result *r = &e->res;
	char where[400], v[300];
	bool starttls_svc = !e->svc->implicit;

	snprintf(where, sizeof(where), "%s %s[%s]:%u", e->svc->name, e->target, e->ip, e->port);
	if (!r->tls) {
		if (starttls_svc && r->reached > PROBE_STAGE_EHLO && !r->starttls) {
			out_line(o, CHK_FAIL, "client", "%s: no STARTTLS: passwords and mail in clear",
			         where);
			return true;
		}
		out_line(o, CHK_FAIL, "client", "%s: %s%s", where, r->timeout ? "timeout: " : "",
		         log_value(v, sizeof(v), r->error, strlen(r->error)));
		return false;
	}
	if (starttls_svc && r->clear_login) {
		out_line(o, CHK_FAIL, "client", "%s: offers a login before STARTTLS (%s)", where,
		         e->svc->proto == PROBE_IMAP   ? "no LOGINDISABLED"
		         : e->svc->proto == PROBE_POP3 ? "USER"
		                                       : "AUTH");
		return true;
	}
	out_line(o, r->cert.chain_ok && r->name_ok && r->cert.days_left >= 14 ? CHK_OK : CHK_WARN,
	         "client", "%s: %s %s; %s; %s %s; %d days left", where, r->version, r->cipher,
	         r->cert.chain_ok ? "chain verified" : r->cert.chain_error,
	         r->name_ok ? "name matches" : "name does not match", e->target, r->cert.days_left);
	return false;
}

void
check_clients_report(struct out *o, struct check_domain *d)
{
	struct check_clients *cc = d->clients;
	bool clear = false, any = false;

	if (cc == NULL)
		return;
	for (size_t i = 0; i < CLIENT_NSVC; i++) {
		const char *label = client_svcs[i].label;

		if (cc->not_offered[i] && cc->nsrv[i] == 0)
			out_line(o, CHK_INFO, "client", "%s%s: not offered (target \".\")", label, d->name);
		else if (cc->nsrv[i] == 0)
			out_line(o, cc->srv_rc[i] == DNS_TEMPFAIL ? CHK_WARN : CHK_INFO, "client",
			         "%s%s: no SRV record (%s)", label, d->name, dns_rc_name(cc->srv_rc[i]));
		for (size_t k = 0; k < cc->neps; k++)
			if (cc->eps[k].svc == &client_svcs[i]) {
				any = true;
				clear |= report_ep(o, &cc->eps[k]);
			}
	}
	if (!any)
		out_line(o, CHK_WARN, "clients", "no RFC 6186 SRV records: mail clients must guess "
		         "where to connect");
	else
		out_line(o, clear ? CHK_FAIL : CHK_OK, "clients", "%s", clear
		         ? "a client can send its password in clear"
		         : "every published client service protects passwords with TLS");
}

/* The "clients" array, left open like "mx" before it (the caller closes). */
void
check_clients_json(FILE *fp, const struct check_domain *d)
{
	const struct check_clients *cc = d->clients;

	if (cc == NULL)
		return;
	fprintf(fp, "\n    ], \"clients\": [");
	for (size_t k = 0; k < cc->neps; k++) {
		const struct client_ep *e = &cc->eps[k];

		fprintf(fp, "%s\n      {\"service\": \"%s\", \"host\": ", k == 0 ? "" : ",",
		        e->svc->name);
		json_put_str(fp, e->target);
		fprintf(fp, ", \"address\": ");
		json_put_str(fp, e->ip);
		fprintf(fp, ", \"port\": %u, \"tls\": %s, \"starttls\": %s, \"login_before_tls\": %s, "
		        "\"version\": ", e->port, e->res.tls ? "true" : "false",
		        e->res.starttls ? "true" : "false", e->res.clear_login ? "true" : "false");
		json_put_str(fp, e->res.version);
		fprintf(fp, ", \"chain_verified\": %s, \"name_matches\": %s, \"error\": ",
		        e->res.cert.chain_ok ? "true" : "false", e->res.name_ok ? "true" : "false");
		json_put_str(fp, e->res.error);
		fputc('}', fp);
	}
}

void
check_clients_free(struct check_domain *d)
{
	free(d->clients);
	d->clients = NULL;
}
