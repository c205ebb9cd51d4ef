/*
 * cmd_domain_dns.c -- `hikyaku domain dns DOMAIN [--check]`: every DNS
 * record a domain needs, in zone-file syntax ready to paste, and with
 * --check whether DNS already serves it.
 *
 * Records: MX (myhostname), SPF "v=spf1 mx -all" (RFC 7208), one DKIM key
 * record per key under data_dir/dkim/DOMAIN/ (RFC 6376 3.6.1, RFC 8463),
 * DMARC p=quarantine with a rua address (RFC 7489), the RFC 6186 SRV
 * records (a service we do not run gets the "." target, 3.4: "decidedly
 * not available"; standard ports otherwise, since clients look for those),
 * and the autoconfig/autodiscover names clients probe (CNAMEs to
 * myhostname).
 * --check asks the resolver (dns_server when set) for the MX, TXT and SRV
 * records (an SRV record matches on port and target); CNAMEs are shown as
 * not checked (the resolver follows them rather than returning them).
 * Every query is bounded by the resolver's timeout.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/span.h"
#include "base/xalloc.h"
#include "cmd/cmd.h"
#include "cmd/cmd_domain.h"
#include "conf/conf.h"
#include "dns/dns.h"
#include "msgauth/dkim.h"

#define DNS_MAX_KEYS 32

static void
rec_add(struct domain_recs *rs, const char *name, const char *type, const char *value, const char *txt)
{
	struct domain_rec *r;

	if (rs->n == nitems(rs->r))
		return;
	r = &rs->r[rs->n++];
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->type = type;
	r->value = xstrdup(value);
	r->txt = txt != NULL ? xstrdup(txt) : NULL;
	r->found = -2; /* not checked */
}

/* rec_txt - a TXT record: printed as zone character-strings. */
static void
rec_txt(struct domain_recs *rs, const char *name, const char *txt)
{
	struct buf b;

	buf_init(&b, 0, 8192);
	if (dkim_txt_zone(txt, &b) == 0 && buf_append(&b, "", 1) == 0)
		rec_add(rs, name, "TXT", (const char *)buf_peek(&b).p, txt);
	buf_deinit(&b);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dkim_records - one TXT record per SELECTOR.key, sorted by selector. */
static void
dkim_records(struct domain_recs *rs, const struct conf *conf, const char *d)
{
	char dir[4096], *names[DNS_MAX_KEYS], name[400];
	size_t n = 0;
	struct dirent *de;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/dkim/%s", conf->data_dir, d);
	if ((dp = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL && n < DNS_MAX_KEYS) {
		size_t len = strlen(de->d_name);

		if (len > 4 && de->d_name[0] != '.' && strcmp(de->d_name + len - 4, ".key") == 0)
			names[n++] = xstrndup(de->d_name, len - 4);
	}
	closedir(dp);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char *path = dkim_key_path(conf->data_dir, d, names[i]);
		struct buf txt;
		const char *error;

		buf_init(&txt, 0, 4096);
		if (path != NULL && dkim_key_txt(path, &txt, &error) == 0 &&
		    buf_append(&txt, "", 1) == 0) {
			snprintf(name, sizeof(name), "%s._domainkey.%s.", names[i], d);
			rec_txt(rs, name, (const char *)buf_peek(&txt).p);
		} else if (path != NULL) {
			fprintf(stderr, "hikyaku: %s: %s\n", path, error);
		}
		buf_deinit(&txt);
		free(path);
		free(names[i]);
	}
}

/* srv - one RFC 6186 record; "." when we do not run the service. */
static void
srv(struct domain_recs *rs, const struct conf *conf, const char *d, const char *svc, unsigned port,
    bool on)
{
	char name[300], value[400];

	snprintf(name, sizeof(name), "_%s._tcp.%s.", svc, d);
	if (on)
		snprintf(value, sizeof(value), "0 1 %u %s.", port, conf->myhostname);
	else
		snprintf(value, sizeof(value), "0 0 0 .");
	rec_add(rs, name, "SRV", value, NULL);
}

void
cmd_domain_dns_build(struct domain_recs *rs, const struct conf *conf, const char *d)
{
	char name[300], value[400];

	snprintf(name, sizeof(name), "%s.", d);
	snprintf(value, sizeof(value), "10 %s.", conf->myhostname);
	rec_add(rs, name, "MX", value, conf->myhostname);
	rec_txt(rs, name, "v=spf1 mx -all");
	dkim_records(rs, conf, d);
	snprintf(name, sizeof(name), "_dmarc.%s.", d);
	snprintf(value, sizeof(value), "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", d);
	rec_txt(rs, name, value);
	srv(rs, conf, d, "submission", 587, conf->submission_listen.n > 0);
	srv(rs, conf, d, "submissions", 465, conf->submissions_listen.n > 0);
	srv(rs, conf, d, "imap", 143, conf->imap_listen.n > 0);
	srv(rs, conf, d, "imaps", 993, conf->imaps_listen.n > 0);
	srv(rs, conf, d, "pop3", 110, conf->pop3_listen.n > 0);
	srv(rs, conf, d, "pop3s", 995, conf->pop3s_listen.n > 0);
	snprintf(value, sizeof(value), "%s.", conf->myhostname);
	snprintf(name, sizeof(name), "autoconfig.%s.", d);
	rec_add(rs, name, "CNAME", value, NULL);
	snprintf(name, sizeof(name), "autodiscover.%s.", d);
	rec_add(rs, name, "CNAME", value, NULL);
}

/* ---- --check ---- */

bool
cmd_domain_srv_matches(const struct dns_rr *rr, const char *want)
{
	unsigned prio, weight, port;
	char target[300];
	size_t n;

	if (sscanf(want, "%u %u %u %299s", &prio, &weight, &port, target) != 4)
		return false;
	n = strlen(target);
	if (n > 1 && target[n - 1] == '.')
		target[n - 1] = '\0';
	return rr->u.srv.port == port && strcasecmp(rr->u.srv.target, target) == 0;
}


struct probe {
	struct domain_rec *r;
	bool done;
};

static void
probe_done(void *ctx, const struct dns_answer *a)
{
	struct probe *p = ctx;

	p->done = true;
	if (a->rc != DNS_OK && a->rc != DNS_NXDOMAIN && a->rc != DNS_NODATA) {
		p->r->found = -1;
		return;
	}
	p->r->found = 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (rr->type == DNS_T_TXT && strcmp(rr->u.txt.text, p->r->txt) == 0)
			p->r->found = 1;
		if (rr->type == DNS_T_MX && strcasecmp(rr->u.mx.name, p->r->txt) == 0)
			p->r->found = 1;
		if (rr->type == DNS_T_SRV && cmd_domain_srv_matches(rr, p->r->value))
			p->r->found = 1;
	}
}

/* check_all - one query at a time; each ends within the resolver's cap. */
static int
check_all(struct domain_recs *rs, const struct conf *conf)
{
	uv_loop_t loop;
	const char *error;
	struct dns *dns;

	uv_loop_init(&loop);
	if ((dns = dns_new(&loop, conf->dns_server, &error)) == NULL) {
		fprintf(stderr, "hikyaku: resolver: %s\n", error);
		uv_loop_close(&loop);
		return -1;
	}
	for (size_t i = 0; i < rs->n; i++) {
		struct domain_rec *r = &rs->r[i];
		struct probe p = { r, false };
		uint16_t type = strcmp(r->type, "MX") == 0    ? DNS_T_MX
		                : strcmp(r->type, "TXT") == 0 ? DNS_T_TXT
		                : strcmp(r->type, "SRV") == 0 ? DNS_T_SRV
		                                              : 0;

		if (type == 0)
			continue;
		if (dns_query(dns, r->name, type, probe_done, &p) == NULL) {
			r->found = -1;
			continue;
		}
		while (!p.done)
			uv_run(&loop, UV_RUN_ONCE);
	}
	dns_free(&dns);
	uv_run(&loop, UV_RUN_DEFAULT); /* lets the resolver close its handles */
	uv_loop_close(&loop);
	return 0;
}

static const char *
status(const struct domain_rec *r)
{
	switch (r->found) {
	case 1:
		return "  ; ok: published";
	case 0:
		return "  ; MISSING";
	case -1:
		return "  ; lookup failed";
	default:
		return "  ; not checked";
	}
}

void
cmd_domain_dns_free(struct domain_recs *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->r[i].value);
		free(rs->r[i].txt);
	}
	free(rs);
}

int
cmd_domain_dns_print(const struct conf *conf, const char *d, bool check)
{
	struct domain_recs *rs = xcalloc(1, sizeof(*rs));
	int missing = 0;

	cmd_domain_dns_build(rs, conf, d);
	if (check && check_all(rs, conf) < 0)
		check = false;
	printf("; DNS records for %s (zone-file syntax; TTL 3600)\n", d);
	for (size_t i = 0; i < rs->n; i++) {
		struct domain_rec *r = &rs->r[i];

		printf("%s 3600 IN %s %s%s\n", r->name, r->type, r->value, check ? status(r) : "");
		missing += check && r->found == 0;
	}
	cmd_domain_dns_free(rs);
	return missing > 0 ? 1 : 0;
}
