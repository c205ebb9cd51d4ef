/*
 * cmd_check_self.c -- `hikyaku check --self`: our own domains (from the
 * accounts database), each checked like any other domain, plus: are the
 * records `hikyaku domain dns` says they need really published (MX to
 * myhostname, SPF, each DKIM key exactly as in data_dir/dkim, DMARC, the
 * RFC 6186 SRV records), and does our certificate name myhostname, far
 * enough from expiry, from a real CA rather than self-signed.
 * Limits: DOMAIN_RECS records per domain (cmd_domain.h), each lookup
 * bounded by the resolver's cap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/check_int.h"
#include "cmd/cmd.h"
#include "cmd/cmd_domain.h"
#include "conf/conf.h"
#include "store/store.h"

struct check_self {
	struct domain_recs *recs;
	struct self_q {
		struct check_domain *d;
		struct domain_rec *r;
		enum dns_rc rc;
		char other[300]; /* a record of the same kind that differs */
	} q[64];
};

/* same_kind - a published TXT record for the same purpose as want. */
static bool
same_kind(const char *txt, const char *want)
{
	static const char *const tags[] = {"v=spf1", "v=DMARC1", "v=DKIM1"};

	for (size_t i = 0; i < 3; i++)
		if (strncasecmp(want, tags[i], strlen(tags[i])) == 0)
			return strncasecmp(txt, tags[i], strlen(tags[i])) == 0;
	return false;
}

static void
on_answer(void *ctx, const struct dns_answer *a)
{
	struct self_q *q = ctx;
	struct domain_rec *r = q->r;

	q->rc = a->rc;
	r->found = a->rc == DNS_OK || a->rc == DNS_NXDOMAIN || a->rc == DNS_NODATA ? 0 : -1;
	for (size_t i = 0; a->rc == DNS_OK && i < a->n; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if ((rr->type == DNS_T_MX && strcasecmp(rr->u.mx.name, r->txt) == 0) ||
		    (rr->type == DNS_T_TXT && strcmp(rr->u.txt.text, r->txt) == 0) ||
		    (rr->type == DNS_T_SRV && cmd_domain_srv_matches(rr, r->value)))
			r->found = 1;
		else if (rr->type == DNS_T_TXT && same_kind(rr->u.txt.text, r->txt))
			log_value(q->other, sizeof(q->other), rr->u.txt.text, strlen(rr->u.txt.text));
	}
	check_settle(q->d);
}

void
check_self_start(struct check_domain *d)
{
	struct check_self *cs = xcalloc(1, sizeof(*cs));

	d->self = cs;
	cs->recs = xcalloc(1, sizeof(*cs->recs));
	cmd_domain_dns_build(cs->recs, d->chk->conf, d->name);
	for (size_t i = 0; i < cs->recs->n && i < 64; i++) {
		struct domain_rec *r = &cs->recs->r[i];
		uint16_t type = strcmp(r->type, "MX") == 0    ? DNS_T_MX
		                : strcmp(r->type, "TXT") == 0 ? DNS_T_TXT
		                : strcmp(r->type, "SRV") == 0 ? DNS_T_SRV
		                                              : 0;

		if (type == 0)
			continue; /* CNAME: the resolver does not hand those out */
		cs->q[i] = (struct self_q){.d = d, .r = r};
		d->pending++;
		if (dns_query(d->chk->dns, r->name, type, on_answer, &cs->q[i]) == NULL) {
			d->pending--;
			r->found = -1;
		}
	}
}

void
check_self_report(struct out *o, struct check_domain *d)
{
	struct check_self *cs = d->self;

	if (cs == NULL)
		return;
	for (size_t i = 0; i < cs->recs->n && i < 64; i++) {
		const struct domain_rec *r = &cs->recs->r[i];
		const struct self_q *q = &cs->q[i];
		bool dmarc = strncmp(r->name, "_dmarc.", 7) == 0;

		if (r->found == -2)
			out_line(o, CHK_INFO, "published", "%s %s %s: not checked", r->name, r->type,
			         r->value);
		else if (r->found == 1)
			out_line(o, CHK_OK, "published", "%s %s %s", r->name, r->type, r->value);
		else if (r->found == -1)
			out_line(o, CHK_WARN, "published", "%s %s: lookup failed (%s)", r->name, r->type,
			         dns_rc_name(q->rc));
		else if (q->other[0] != '\0')
			/* Our SPF or DMARC replaced by the admin's own is a choice;
			   a DKIM record that differs from our key breaks signing. */
			out_line(o, strncmp(r->txt, "v=DKIM1", 7) == 0 ? CHK_FAIL : dmarc ? CHK_INFO : CHK_WARN,
			         "published", "%s %s: differs from what `domain dns` suggests: %s",
			         r->name, r->type, q->other);
		else
			out_line(o, CHK_FAIL, "published", "%s %s missing: publish %s", r->name, r->type,
			         r->value);
	}
}

void
check_self_free(struct check_domain *d)
{
	if (d->self == NULL)
		return;
	cmd_domain_dns_free(d->self->recs);
	free(d->self);
	d->self = NULL;
}

/* check_self_cert - our first certificate against myhostname. */
enum check_level
check_self_cert(FILE *fp, bool json, const struct conf *conf)
{
	enum check_level worst = CHK_OK;
	struct out o = {fp, json, true, &worst};
	const char *file = conf->smtpd_tls_cert_file.n > 0 ? conf->smtpd_tls_cert_file.v[0] : NULL;
	FILE *f = file != NULL ? fopen(file, "r") : NULL;
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	int days = 0, secs = 0;

	if (f != NULL)
		fclose(f);
	if (x == NULL) {
		out_line(&o, CHK_FAIL, "cert", "%s: cannot read a certificate",
		         file != NULL ? file : "smtpd_tls_cert_file is not set");
		return worst;
	}
	ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
	if (X509_check_host(x, conf->myhostname, 0, 0, NULL) != 1)
		out_line(&o, CHK_FAIL, "cert", "%s does not name myhostname %s: senders that verify "
		         "will not deliver", file, conf->myhostname);
	else
		out_line(&o, CHK_OK, "cert", "%s names %s", file, conf->myhostname);
	if (X509_check_issued(x, x) == X509_V_OK)
		out_line(&o, CHK_FAIL, "cert", "%s is self-signed: for local trials only, nobody "
		         "will trust it", file);
	out_line(&o, days < 0 ? CHK_FAIL : days < 14 ? CHK_WARN : CHK_OK, "cert",
	         "%s: %d days left", file, days);
	X509_free(x);
	return worst;
}

struct name_list {
	char **v;
	size_t n;
};

static void
add_name(void *ctx, const char *name)
{
	struct name_list *l = ctx;

	if (l->n == CHECK_MAX_DOMAINS)
		return;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(name);
}

int
check_self_domains(const struct conf *conf, char ***names_r, size_t *n_r)
{
	struct name_list l = {0};
	struct store *s = cmd_open_store(conf);
	int rc;

	if (s == NULL)
		return -1;
	rc = store_domain_list(s, add_name, &l);
	store_close(&s);
	*names_r = l.v;
	*n_r = l.n;
	return rc;
}
