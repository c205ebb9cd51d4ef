/*
 * cmd_check.c -- `hikyaku check [options] DOMAIN...`: can mail to these
 * domains travel encrypted, and can a sender authenticate their servers?
 *
 * For each domain: the MX hosts (A/AAAA fallback, null MX), then, all in
 * parallel, a probe of every MX address (probe/probe.h) plus two more
 * handshakes capped at TLS 1.1 and TLS 1.0 to learn the oldest version the
 * server still accepts; DANE and MTA-STS (cmd_check_policy.c); TLS-RPT
 * (presence); SPF (syntax, and the DNS lookups the policy costs, evaluated
 * for a TEST-NET address); DMARC (policy, alignment modes, rua); the keys
 * of --dkim-selector; with --clients the submission, IMAP and POP3
 * endpoints (cmd_check_clients.c); with --self our own domains and
 * certificate (cmd_check_self.c). The verdict calls mail "always encrypted
 * and authenticated" only when a policy (MTA-STS enforce, or DNSSEC-signed
 * TLSA records that match) makes senders insist. Output: a table per
 * domain with OK / INFO / WARN / FAIL lines and one verdict sentence, or
 * --json. Exit status: 0 all good, 1 warnings, 2 failures or a usage error.
 * Limits: CHECK_MAX_DOMAINS domains, CHECK_MAX_ADDRS probed addresses per
 * domain; every probe step is bounded by --timeout (default 10 s), DNS by
 * the resolver's cap (--timeout too).
 * Security: everything printed that came from the network goes through
 * log_value() (text) or json_put_str() (JSON escaping).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/check_int.h"
#include "cmd/cmd.h"
#include "dns/dns.h"
#include "dns/dns_mx.h"
#include "msgauth/dkim.h"
#include "msgauth/dmarc.h"
#include "msgauth/spf.h"
#include "probe/probe.h"

static const char *const level_names[] = {"OK", "INFO", "WARN", "FAIL"};

void
check_settle(struct check_domain *d)
{
	if (--d->pending == 0)
		d->chk->pending--;
}

/* ---- probes ---- */

static void
on_probe(void *ctx, const struct probe_result *r, struct probe_result *slot)
{
	struct check_addr *a = ctx;

	*slot = *r;
	if (--a->pending == 0)
		check_settle(a->d);
}

static void
on_legacy10(void *ctx, const struct probe_result *r)
{
	on_probe(ctx, r, &((struct check_addr *)ctx)->tls10);
}

static void
on_legacy11(void *ctx, const struct probe_result *r)
{
	on_probe(ctx, r, &((struct check_addr *)ctx)->tls11);
}

static void
on_main(void *ctx, const struct probe_result *r)
{
	struct check_addr *a = ctx;
	struct check *chk = a->d->chk;
	struct probe_opts o = chk->po;

	/* Only a server that speaks TLS at all can be asked about old versions. */
	if (r->tls) {
		o.handshake_only = true;
		o.tls = chk->tls11;
		a->pending++;
		probe_start(chk->loop, (struct sockaddr *)&a->sa, a->host, &o, on_legacy11, a);
		o.tls = chk->tls10;
		a->pending++;
		probe_start(chk->loop, (struct sockaddr *)&a->sa, a->host, &o, on_legacy10, a);
	}
	on_probe(ctx, r, &a->main);
}

static void
check_add_addr(struct check_domain *d, const struct dns_mx_host *h, const struct sockaddr_storage *ss)
{
	struct check_addr *a;

	if (d->naddrs == CHECK_MAX_ADDRS)
		return;
	a = &d->addrs[d->naddrs++];
	a->d = d;
	snprintf(a->host, sizeof(a->host), "%s", h->name);
	a->pref = h->pref;
	a->sa = *ss;
	if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;

		s6->sin6_port = htons((uint16_t)d->chk->port);
		inet_ntop(AF_INET6, &s6->sin6_addr, a->ip, sizeof(a->ip));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;

		s4->sin_port = htons((uint16_t)d->chk->port);
		inet_ntop(AF_INET, &s4->sin_addr, a->ip, sizeof(a->ip));
	}
	a->pending = 1;
	d->pending++;
	probe_start(d->chk->loop, (struct sockaddr *)&a->sa, a->host, &d->chk->po, on_main, a);
}

static void
on_mx(void *ctx, struct dns_mx_result *r)
{
	struct check_domain *d = ctx;

	d->mx_req = NULL;
	d->mx_rc = (int)r->rc;
	d->implicit = r->implicit;
	d->mx_secure = r->mx_secure;
	snprintf(d->mx_reason, sizeof(d->mx_reason), "%s", r->reason != NULL ? r->reason : "");
	for (size_t i = 0; r->rc == DNS_MX_OK && i < r->nhosts; i++) {
		check_tlsa_start(d, &r->hosts[i]);
		for (size_t j = 0; j < r->hosts[i].naddrs; j++)
			check_add_addr(d, &r->hosts[i], &r->hosts[i].addrs[j]);
	}
	free(r);
	check_settle(d);
}

/* ---- published records ---- */

static void
on_spf(void *ctx, const struct spf_verdict *v)
{
	struct check_domain *d = ctx;

	d->spf_done = true;
	d->spf_result = (int)v->result;
	d->spf_lookups = v->lookups;
	log_value(d->spf_reason, sizeof(d->spf_reason), v->reason, strlen(v->reason));
	check_settle(d);
}

/* check_spf_start - evaluate the policy for 192.0.2.1 (TEST-NET-1, which
   no real policy lists), so that every term up to "all" is followed and
   the lookup count is the policy's worst case (RFC 7208 4.6.4). */
static void
check_spf_start(struct check_domain *d)
{
	char sender[DNS_NAME_TEXT_MAX + 16];
	struct spf_request req = {.ip = "192.0.2.1", .sender = sender, .helo = d->chk->po.helo,
	                          .receiver = d->chk->po.helo,
	                          .timeout_ms = (unsigned)d->chk->po.timeout_ms * 2};

	snprintf(sender, sizeof(sender), "postmaster@%s", d->name);
	d->pending++;
	spf_check_start(d->chk->loop, d->chk->dns, &req, on_spf, d);
}

static void
on_dkim(void *ctx, const struct dns_answer *ans)
{
	struct check_dkim *k = ctx;

	k->rc = ans->rc;
	for (size_t i = 0; ans->rc == DNS_OK && i < ans->n; i++)
		if (k->count++ == 0)
			snprintf(k->raw, sizeof(k->raw), "%s", ans->rr[i].u.txt.text);
	check_settle(k->d);
}

static void
check_dkim_start(struct check_domain *d)
{
	for (size_t i = 0; i < d->chk->nselectors; i++) {
		struct check_dkim *k = &d->dkim[d->ndkim];

		k->d = d;
		snprintf(k->name, sizeof(k->name), "%s._domainkey.%s", d->chk->selectors[i], d->name);
		d->pending++;
		if (dns_query(d->chk->dns, k->name, DNS_T_TXT, on_dkim, k) == NULL) {
			d->pending--;
			continue;
		}
		d->ndkim++;
	}
}

static void
on_txt(void *ctx, const struct dns_answer *ans)
{
	struct check_txt *t = ctx;
	size_t plen = strlen(t->prefix);

	t->rc = ans->rc;
	t->done = true;
	for (size_t i = 0; ans->rc == DNS_OK && i < ans->n; i++) {
		const char *txt = ans->rr[i].u.txt.text;

		/* RFC 7208 4.5 and its siblings: the version tag, then a space or
		   the end (case-insensitive for SPF, exact for the others). */
		if (strncasecmp(txt, t->prefix, plen) != 0 || (txt[plen] != '\0' &&
		    txt[plen] != ' ' && txt[plen] != ';'))
			continue;
		if (t->count++ == 0) {
			log_value(t->first, sizeof(t->first), txt, strlen(txt));
			snprintf(t->raw, sizeof(t->raw), "%s", txt);
		}
	}
	if (t == &t->d->txt[0] && t->count == 1)
		check_spf_start(t->d);
	check_settle(t->d);
}

static void
check_txt_start(struct check_domain *d, size_t i, const char *what, const char *label,
                const char *prefix)
{
	struct check_txt *t = &d->txt[i];

	t->d = d;
	t->what = what;
	t->prefix = prefix;
	snprintf(t->name, sizeof(t->name), "%s%s", label, d->name);
	d->pending++;
	if (dns_query(d->chk->dns, t->name, DNS_T_TXT, on_txt, t) == NULL) {
		t->rc = DNS_NXDOMAIN;
		t->done = true;
		d->pending--;
	}
}

/* ---- verdicts and output ---- */


/* json_addrs - the facts per MX address, for scripts. */
static void
json_addrs(FILE *fp, const struct check_domain *d)
{
	fprintf(fp, "\n    ], \"mx\": [");
	for (size_t i = 0; i < d->naddrs; i++) {
		const struct check_addr *a = &d->addrs[i];
		const struct probe_result *m = &a->main;

		fprintf(fp, "%s\n      {\"host\": ", i == 0 ? "" : ",");
		json_put_str(fp, a->host);
		fprintf(fp, ", \"preference\": %u, \"address\": ", a->pref);
		json_put_str(fp, a->ip);
		fprintf(fp, ", \"port\": %d, \"banner_code\": %u, \"starttls\": %s, \"tls\": %s",
		        d->chk->port, m->banner_code, m->starttls ? "true" : "false",
		        m->tls ? "true" : "false");
		fprintf(fp, ", \"version\": ");
		json_put_str(fp, m->version);
		fprintf(fp, ", \"cipher\": ");
		json_put_str(fp, m->cipher);
		fprintf(fp, ", \"group\": ");
		json_put_str(fp, m->cert.group);
		fprintf(fp, ", \"chain_verified\": %s, \"name_matches\": %s, \"days_left\": %d",
		        m->cert.chain_ok ? "true" : "false", m->name_ok ? "true" : "false",
		        m->cert.days_left);
		fprintf(fp, ", \"accepts_tls1_0\": %s, \"accepts_tls1_1\": %s, \"timeout\": %s",
		        a->tls10.tls ? "true" : "false", a->tls11.tls ? "true" : "false",
		        m->timeout ? "true" : "false");
		fprintf(fp, ", \"error\": ");
		json_put_str(fp, m->error);
		fputc('}', fp);
	}
}

void
json_put_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}


void
out_line(struct out *o, enum check_level lvl, const char *what, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (lvl > *o->worst)
		*o->worst = lvl;
	if (!o->json) {
		fprintf(o->fp, "  %-4s  %-9s %s\n", level_names[lvl], what, detail);
		return;
	}
	fprintf(o->fp, "%s\n      {\"status\": \"%s\", \"check\": ", o->first ? "" : ",",
	        level_names[lvl]);
	json_put_str(o->fp, what);
	fprintf(o->fp, ", \"detail\": ");
	json_put_str(o->fp, detail);
	fputc('}', o->fp);
	o->first = false;
}

/* report_addr - the lines for one MX address; clear and unauth say whether
   mail to it can travel in clear or unauthenticated. */
static void
report_addr(struct out *o, const struct check_addr *a, bool *clear, bool *unauth, bool *reached)
{
	const struct probe_result *m = &a->main;
	char where[400], b[300], b2[300];

	snprintf(where, sizeof(where), "%s[%s]", a->host, a->ip);
	if (m->reached <= PROBE_STAGE_BANNER || (m->reached == PROBE_STAGE_EHLO && m->banner_code != 220)) {
		out_line(o, CHK_FAIL, "smtp", "%s: %s%s", where, m->timeout ? "timeout: " : "",
		         log_value(b, sizeof(b), m->error, strlen(m->error)));
		return;
	}
	*reached = true;
	out_line(o, CHK_OK, "smtp", "%s: %u %s", where, m->banner_code,
	         log_value(b, sizeof(b), m->banner, strlen(m->banner)));
	if (!m->starttls) {
		*clear = true;
		out_line(o, CHK_FAIL, "starttls", "%s: not offered: mail travels in clear", where);
		return;
	}
	if (!m->tls) {
		*clear = true; /* opportunistic senders fall back to clear */
		out_line(o, CHK_FAIL, "tls", "%s: STARTTLS offered but failed: %s", where,
		         log_value(b, sizeof(b), m->error, strlen(m->error)));
		return;
	}
	out_line(o, CHK_OK, "tls", "%s: %s %s%s%s", where, m->version, m->cipher,
	         m->cert.group[0] ? " " : "", m->cert.group);
	if (!m->has_cert) {
		*unauth = true;
		out_line(o, CHK_WARN, "cert", "%s: no certificate", where);
	} else {
		bool ok = m->cert.chain_ok && m->name_ok && m->cert.days_left >= 0;

		*unauth |= !ok;
		out_line(o, ok ? (m->cert.days_left < 14 ? CHK_WARN : CHK_OK) : CHK_WARN, "cert",
		         "%s: %s; %s %s; %d days left; subject %s; issuer %s", where,
		         m->cert.chain_ok ? "chain verified" : m->cert.chain_error,
		         m->name_ok ? "name matches" : "name does not match", a->host,
		         m->cert.days_left,
		         log_value(b, sizeof(b), m->cert.subject, strlen(m->cert.subject)),
		         log_value(b2, sizeof(b2), m->cert.issuer, strlen(m->cert.issuer)));
	}
	if (a->tls10.tls || a->tls11.tls)
		out_line(o, CHK_WARN, "versions", "%s: still accepts %s", where,
		         a->tls10.tls ? "TLS 1.0" : "TLS 1.1");
	else
		out_line(o, CHK_OK, "versions", "%s: TLS 1.0 and 1.1 refused", where);
}

/* report_spf - syntax and the lookup budget of the one SPF record. */
static void
report_spf(struct out *o, const struct check_txt *t)
{
	const struct check_domain *d = t->d;
	struct spf_record *rec = xmalloc(sizeof(*rec));
	const char *err = NULL;

	if (spf_record_parse(span_str(t->raw), rec, &err) < 0)
		out_line(o, CHK_FAIL, "spf", "%s: %s: %s (permerror for every receiver)", t->name,
		         t->first, err);
	else if (!d->spf_done)
		out_line(o, CHK_WARN, "spf", "%s: %s: not evaluated", t->name, t->first);
	else if (d->spf_result == SPF_PERMERROR)
		out_line(o, CHK_FAIL, "spf", "%s: %s: permerror: %s", t->name, t->first,
		         d->spf_reason);
	else if (d->spf_result == SPF_TEMPERROR)
		out_line(o, CHK_WARN, "spf", "%s: %s: temperror: %s", t->name, t->first,
		         d->spf_reason);
	else
		out_line(o, d->spf_lookups > 8 ? CHK_WARN : CHK_OK, "spf",
		         "%s: %s (%u of 10 DNS lookups)", t->name, t->first, d->spf_lookups);
	free(rec);
}

/* report_dkim_key - the algorithm and, for RSA, the modulus size. */
static void
report_dkim_key(struct out *o, const struct check_dkim *k, const struct dkim_key *key)
{
	const unsigned char *p = key->p;
	EVP_PKEY *pk = key->type == DKIM_KEY_RSA ? d2i_PUBKEY(NULL, &p, (long)key->plen) : NULL;
	int bits = pk != NULL ? EVP_PKEY_get_bits(pk) : 0;
	const char *testing = key->testing ? " (t=y: testing, verifiers may ignore failures)" : "";

	EVP_PKEY_free(pk);
	if (key->type == DKIM_KEY_ED25519)
		out_line(o, key->testing ? CHK_WARN : CHK_OK, "dkim", "%s: ed25519%s", k->name,
		         testing);
	else if (bits == 0)
		out_line(o, CHK_FAIL, "dkim", "%s: RSA key does not decode", k->name);
	else if (bits < 1024)
		out_line(o, CHK_FAIL, "dkim", "%s: RSA %d bits: verifiers reject keys under 1024 "
		         "(RFC 8301)", k->name, bits);
	else
		out_line(o, bits < 2048 || key->testing ? CHK_WARN : CHK_OK, "dkim", "%s: RSA %d bits%s%s",
		         k->name, bits, bits < 2048 ? " (2048 recommended)" : "", testing);
}

/* report_dkim - a selector's key: published, well-formed, strong enough
   (RFC 8301: RSA of 1024 bits at least, 2048 recommended). */
static void
report_dkim(struct out *o, const struct check_dkim *k)
{
	struct dkim_key *key = xmalloc(sizeof(*key));
	const char *err = NULL;

	if (k->rc == DNS_TEMPFAIL || k->rc == DNS_BOGUS)
		out_line(o, CHK_WARN, "dkim", "%s: lookup failed (%s)", k->name, dns_rc_name(k->rc));
	else if (k->count == 0)
		out_line(o, CHK_FAIL, "dkim", "%s: no key record", k->name);
	else if (k->count > 1)
		out_line(o, CHK_FAIL, "dkim", "%s: %zu TXT records (verifiers need exactly one)",
		         k->name, k->count);
	else if (dkim_key_parse(key, span_str(k->raw), &err) < 0)
		out_line(o, CHK_FAIL, "dkim", "%s: malformed key record: %s", k->name, err);
	else if (key->revoked)
		out_line(o, CHK_WARN, "dkim", "%s: revoked (empty p=)", k->name);
	else
		report_dkim_key(o, k, key);
	free(key);
}

/* report_dmarc - the policy, how strict, and whether reports come back. */
static void
report_dmarc(struct out *o, const struct check_txt *t)
{
	static const char *const pol[] = {"none", "quarantine", "reject"};
	struct dmarc_record rec;
	const char *err = NULL;
	enum check_level lvl = CHK_OK;
	char rua[300];
	int rc = dmarc_record_parse(span_str(t->raw), &rec, &err);

	if (rc <= 0) {
		out_line(o, CHK_FAIL, "dmarc", "%s: %s: %s (receivers ignore it)", t->name, t->first,
		         rc == 0 ? "v=DMARC1 is not the first tag" : err);
		return;
	}
	if (rec.p == DMARC_P_NONE || rec.pct < 100 || rec.rua[0] == '\0')
		lvl = CHK_WARN;
	log_value(rua, sizeof(rua), rec.rua, strlen(rec.rua));
	out_line(o, lvl, "dmarc", "%s: p=%s sp=%s pct=%u adkim=%s aspf=%s rua=%s%s%s", t->name,
	         pol[rec.p], pol[rec.sp], rec.pct, rec.adkim == DMARC_A_STRICT ? "s" : "r",
	         rec.aspf == DMARC_A_STRICT ? "s" : "r", rec.rua[0] ? rua : "-",
	         rec.p == DMARC_P_NONE ? "; p=none only monitors: spoofed mail is still delivered"
	                               : "",
	         rec.rua[0] == '\0' ? "; no rua: the domain gets no aggregate reports" : "");
}

static void
report_txt(struct out *o, const struct check_txt *t)
{
	enum check_level missing = strcmp(t->what, "spf") == 0 || strcmp(t->what, "dmarc") == 0
	                                   ? CHK_WARN
	                                   : CHK_INFO;

	if (t->rc == DNS_TEMPFAIL || t->rc == DNS_BOGUS)
		out_line(o, CHK_WARN, t->what, "%s: lookup failed (%s)", t->name, dns_rc_name(t->rc));
	else if (t->count == 0)
		out_line(o, missing, t->what, "%s: no %s record", t->name, t->prefix);
	else if (t->count > 1)
		out_line(o, CHK_FAIL, t->what, "%s: %zu %s records (exactly one is allowed)", t->name,
		         t->count, t->prefix);
	else if (t == &t->d->txt[0])
		report_spf(o, t);
	else if (t == &t->d->txt[1])
		report_dmarc(o, t);
	else
		out_line(o, CHK_OK, t->what, "%s: %s", t->name, t->first);
}

/* report_mx - the lines for every MX address and each host's DANE. */
static void
report_mx(struct out *o, struct check_domain *d, bool *clear, bool *unauth, bool *reached,
          bool *dane_all)
{
	*dane_all = d->naddrs > 0;
	for (size_t i = 0; i < d->naddrs; i++) {
		const struct check_addr *a = &d->addrs[i];
		bool last = i + 1 == d->naddrs || strcmp(a->host, d->addrs[i + 1].host) != 0;

		if (i == 0 || strcmp(a->host, d->addrs[i - 1].host) != 0)
			out_line(o, d->implicit ? CHK_WARN : CHK_OK, "mx", "%s (preference %u)%s",
			         a->host, a->pref,
			         d->implicit ? ": no MX record, the domain's own address" : "");
		report_addr(o, a, clear, unauth, reached);
		for (size_t k = 0; last && k < d->ntlsa; k++)
			if (strcmp(d->tlsa[k].host, a->host) == 0) {
				bool enforced;

				report_dane(o, d, &d->tlsa[k], &enforced);
				*dane_all &= enforced;
			}
	}
}

/* verdict - one sentence and its level, from the worst MX. */
static enum check_level
verdict(struct check_domain *d, bool clear, bool unauth, bool reached, bool enforced)
{
	const char *n = d->name;

	if (!reached)
		return snprintf(d->verdict, sizeof(d->verdict),
		                "mail to %s cannot be delivered now: no MX host answered", n), CHK_FAIL;
	if (clear)
		return snprintf(d->verdict, sizeof(d->verdict), "mail to %s can travel in clear", n),
		       CHK_FAIL;
	if (unauth)
		return snprintf(d->verdict, sizeof(d->verdict),
		                "mail to %s is encrypted when possible, not authenticated", n), CHK_WARN;
	if (!enforced)
		return snprintf(d->verdict, sizeof(d->verdict),
		                "mail to %s is encrypted when possible and its servers can be "
		                "authenticated, but no MTA-STS (enforce) or DANE tells senders to "
		                "insist, so an attacker on the path can strip STARTTLS", n), CHK_WARN;
	return snprintf(d->verdict, sizeof(d->verdict),
	                "mail to %s is always encrypted and authenticated", n), CHK_OK;
}

static void
report_domain(struct check_domain *d, FILE *fp, bool json, bool first)
{
	struct out o = {fp, json, true, &d->worst};
	bool clear = false, unauth = false, reached = false, dane = false, sts = false;
	enum check_level v = CHK_FAIL;

	if (json) {
		fprintf(fp, "%s\n    {\"domain\": ", first ? "" : ",");
		json_put_str(fp, d->name);
		fprintf(fp, ", \"checks\": [");
	} else {
		fprintf(fp, "%s\n", d->name);
	}
	if (d->mx_rc == DNS_MX_NULL) {
		out_line(&o, CHK_FAIL, "mx", "null MX (RFC 7505): the domain accepts no mail");
		snprintf(d->verdict, sizeof(d->verdict), "%s accepts no mail (null MX)", d->name);
	} else if (d->mx_rc != DNS_MX_OK) {
		out_line(&o, CHK_FAIL, "mx", "%s", d->mx_reason);
		snprintf(d->verdict, sizeof(d->verdict), "mail to %s cannot be delivered: %s",
		         d->name, d->mx_reason);
	} else {
		report_mx(&o, d, &clear, &unauth, &reached, &dane);
	}
	for (size_t i = 0; i < CHECK_NRECORDS; i++)
		if (d->txt[i].what != NULL)
			report_txt(&o, &d->txt[i]);
	for (size_t i = 0; i < d->ndkim; i++)
		report_dkim(&o, &d->dkim[i]);
	if (d->mx_rc == DNS_MX_OK) {
		report_sts(&o, d, &sts);
		v = verdict(d, clear, unauth, reached, dane || sts);
	}
	check_clients_report(&o, d);
	check_self_report(&o, d);
	if (v > d->worst)
		d->worst = v;
	if (json) {
		json_addrs(fp, d);
		check_clients_json(fp, d);
		fprintf(fp, "\n    ], \"status\": \"%s\", \"verdict\": ", level_names[d->worst]);
		json_put_str(fp, d->verdict);
		fputc('}', fp);
	} else {
		fprintf(fp, "  verdict: %s\n\n", d->verdict);
	}
}

/* ---- command ---- */

static int
check_usage(void)
{
	return cmd_usage_error("check [--clients] [--dkim-selector S]... [--json] [--port N] "
	                       "[--https-port N] [--ca FILE] [--timeout SECONDS] DOMAIN...|--self");
}

static int
check_setup(struct check *chk, const struct conf *conf, const char *ca, unsigned timeout_s)
{
	struct dns_opts dopt = {.server = conf->dns_server, .timeout_ms = timeout_s * 1000};
	const char *error = NULL;

	chk->loop = uv_default_loop();
	chk->po.helo = conf->myhostname;
	chk->po.timeout_ms = (uint64_t)timeout_s * 1000;
	if ((chk->dns = dns_new_opts(chk->loop, &dopt, &error)) == NULL ||
	    (chk->tls = tls_client_new_probe(ca, 0, &error)) == NULL ||
	    (chk->tls11 = tls_client_new_probe(ca, TLS1_1_VERSION, &error)) == NULL ||
	    (chk->tls10 = tls_client_new_probe(ca, TLS1_VERSION, &error)) == NULL) {
		fprintf(stderr, "check: %s\n", error);
		return -1;
	}
	chk->po.tls = chk->tls;
	return 0;
}

static void
check_start_domain(struct check *chk, struct check_domain *d)
{
	d->chk = chk;
	d->mx_rc = -1;
	d->pending = 1;
	chk->pending++;
	check_txt_start(d, 0, "spf", "", "v=spf1");
	check_txt_start(d, 1, "dmarc", "_dmarc.", "v=DMARC1");
	check_txt_start(d, 2, "mta-sts", "_mta-sts.", "v=STSv1");
	check_txt_start(d, 3, "tls-rpt", "_smtp._tls.", "v=TLSRPTv1");
	check_sts_start(d);
	check_dkim_start(d);
	if (chk->self)
		check_self_start(d);
	if (chk->clients)
		check_clients_start(d);
	d->mx_req = dns_mx_resolve(chk->dns, d->name, on_mx, d);
	if (d->mx_req == NULL) {
		d->mx_rc = DNS_MX_NXDOMAIN;
		snprintf(d->mx_reason, sizeof(d->mx_reason), "not a valid domain name");
		check_settle(d);
	}
}

static int
check_run(struct check *chk, char **names, size_t n)
{
	enum check_level worst = CHK_OK;

	chk->domains = xcalloc(n, sizeof(*chk->domains));
	chk->ndomains = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(chk->domains[i].name, sizeof(chk->domains[i].name), "%s", names[i]);
		check_start_domain(chk, &chk->domains[i]);
	}
	while (chk->pending > 0 && uv_run(chk->loop, UV_RUN_ONCE) != 0)
		;
	if (chk->json)
		printf("{\n");
	if (chk->self) {
		printf(chk->json ? "  \"server\": {\"checks\": [" : "this server (%s)\n",
		       chk->conf->myhostname);
		worst = check_self_cert(stdout, chk->json, chk->conf);
		printf(chk->json ? "\n  ]},\n" : "\n");
	}
	if (chk->json)
		printf("  \"domains\": [");
	for (size_t i = 0; i < n; i++) {
		report_domain(&chk->domains[i], stdout, chk->json, i == 0);
		if (chk->domains[i].worst > worst)
			worst = chk->domains[i].worst;
	}
	if (chk->json)
		printf("\n  ],\n  \"status\": \"%s\"\n}\n", level_names[worst]);
	return worst == CHK_FAIL ? 2 : worst == CHK_WARN ? 1 : 0;
}

/* check_main - set up, check every domain, report, clean up. */
static int
check_main(struct check *chk, const char *ca, unsigned timeout_s, char **names, size_t n)
{
	int rc;

	log_set_level(LOG_LVL_WARN);
	chk->ca = ca;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (check_setup(chk, chk->conf, ca, timeout_s) < 0)
		rc = 2;
	else
		rc = check_run(chk, names, n);
	dns_free(&chk->dns);
	tls_client_free(&chk->tls);
	tls_client_free(&chk->tls11);
	tls_client_free(&chk->tls10);
	uv_run(chk->loop, UV_RUN_NOWAIT);
	for (size_t i = 0; i < chk->ndomains; i++) {
		check_clients_free(&chk->domains[i]);
		check_self_free(&chk->domains[i]);
	}
	free(chk->domains);
	curl_global_cleanup();
	return rc;
}

int
cmd_check(struct conf *conf, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'}, {"ca", required_argument, NULL, 'a'},
		{"timeout", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
		{"https-port", required_argument, NULL, 'h'},
		{"clients", no_argument, NULL, 'c'},
		{"dkim-selector", required_argument, NULL, 's'},
		{"self", no_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	struct check chk = {.port = 25, .https_port = 443};
	const char *ca = NULL;
	unsigned timeout_s = 10;
	int c, rc;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		long v;

		switch (c) {
		case 'p':
		case 'h':
		case 't':
			v = strtol(optarg, &end, 10);
			if (*end != '\0' || v < 1 || v > (c == 't' ? 300 : 65535))
				return check_usage();
			if (c == 'p')
				chk.port = (int)v;
			else if (c == 'h')
				chk.https_port = (int)v;
			else
				timeout_s = (unsigned)v;
			break;
		case 'a':
			ca = optarg;
			break;
		case 'j':
			chk.json = true;
			break;
		case 'c':
			chk.clients = true;
			break;
		case 'S':
			chk.self = true;
			break;
		case 's':
			if (chk.nselectors == CHECK_MAX_SELECTORS || !dns_name_is_valid(optarg))
				return check_usage();
			chk.selectors[chk.nselectors++] = optarg;
			break;
		default:
			return check_usage();
		}
	}
	if ((optind == argc) != chk.self || argc - optind > CHECK_MAX_DOMAINS)
		return check_usage();
	chk.conf = conf;
	if (chk.self) {
		char **names = NULL;
		size_t n = 0;

		if (check_self_domains(conf, &names, &n) < 0)
			return 2;
		if (n == 0) {
			fprintf(stderr, "check --self: no domains yet (hikyaku domain add DOMAIN)\n");
			return 2;
		}
		rc = check_main(&chk, ca, timeout_s, names, n);
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return rc;
	}
	for (int i = optind; i < argc; i++)
		if (!dns_name_is_valid(argv[i]) || dns_name_is_ip_literal(argv[i]) ||
		    strchr(argv[i], '.') == NULL) {
			fprintf(stderr, "check: %s: not a domain name\n", argv[i]);
			return CMD_EX_USAGE;
		}
	return check_main(&chk, ca, timeout_s, argv + optind, (size_t)(argc - optind));
}
