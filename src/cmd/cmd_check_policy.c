/*
 * cmd_check_policy.c -- the policies that tell senders to insist on TLS,
 * for `hikyaku check`: DANE (RFC 7672: the TLSA records of each MX host,
 * their DNSSEC status, and whether every address presents a matching
 * certificate) and MTA-STS (RFC 8461: the TXT record, then the policy
 * fetched over HTTPS with libcurl from the address our resolver found, so
 * that dns_server applies; certificate and name checked, no redirects,
 * 64 KiB and time bounds; does its mx list cover the real MX hosts).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/check_int.h"
#include "cmd/cmd.h"
#include "sts/sts.h"

/* ---- DANE ---- */

static void
on_tlsa(void *ctx, const struct dns_answer *ans)
{
	struct check_tlsa *t = ctx;

	t->rc = ans->rc;
	t->secure = ans->secure;
	for (size_t i = 0; ans->rc == DNS_OK && i < ans->n && t->n < CHECK_MAX_TLSA; i++) {
		const struct dns_rr *rr = &ans->rr[i];

		t->rr[t->n].usage = rr->u.tlsa.usage;
		t->rr[t->n].selector = rr->u.tlsa.selector;
		t->rr[t->n].mtype = rr->u.tlsa.mtype;
		t->rr[t->n].len = rr->u.tlsa.len < 64 ? rr->u.tlsa.len : 64;
		memcpy(t->rr[t->n].data, rr->u.tlsa.data, t->rr[t->n].len);
		t->n++;
	}
	check_settle(t->d);
}

/* check_tlsa_start - DANE records of an MX host (always port 25's name:
   --port only moves where we connect in tests). */
void
check_tlsa_start(struct check_domain *d, const struct dns_mx_host *h)
{
	struct check_tlsa *t = &d->tlsa[d->ntlsa];
	char name[DNS_NAME_TEXT_MAX + 16];

	t->d = d;
	snprintf(t->host, sizeof(t->host), "%s", h->name);
	t->host_secure = h->secure;
	snprintf(name, sizeof(name), "_25._tcp.%s", h->name);
	d->pending++;
	if (dns_query(d->chk->dns, name, DNS_T_TLSA, on_tlsa, t) == NULL) {
		d->pending--;
		return;
	}
	d->ntlsa++;
}

/* tlsa_matches - does one record match the presented chain (RFC 6698
   2.1, RFC 7671 5)? DANE-EE (3) the leaf, DANE-TA (2) any certificate. */
static bool
tlsa_matches(const struct check_tlsa *t, size_t k, const struct probe_result *m)
{
	for (size_t i = 0; i < m->nchain; i++) {
		const struct tls_cert_digests *c = &m->chain[i];
		const unsigned char *want = NULL;
		size_t len = 0;

		if (t->rr[k].usage == 3 && i > 0)
			break;
		if (t->rr[k].mtype == 1) {
			want = t->rr[k].selector == 0 ? c->cert256 : c->spki256;
			len = 32;
		} else if (t->rr[k].mtype == 2) {
			want = t->rr[k].selector == 0 ? c->cert512 : c->spki512;
			len = 64;
		}
		if (want != NULL && t->rr[k].len == len && memcmp(want, t->rr[k].data, len) == 0)
			return true;
	}
	return false;
}

/* report_dane - one line per MX host; *enforced when DANE protects it. */
void
report_dane(struct out *o, const struct check_domain *d, const struct check_tlsa *t,
            bool *enforced)
{
	size_t usable = 0, matched = 0, probed = 0, ok_addrs = 0;

	*enforced = false;
	if (t->rc != DNS_OK || t->n == 0) {
		if (t->rc == DNS_TEMPFAIL || t->rc == DNS_BOGUS)
			out_line(o, CHK_WARN, "dane", "_25._tcp.%s: lookup failed (%s)", t->host,
			         dns_rc_name(t->rc));
		else
			out_line(o, CHK_INFO, "dane", "_25._tcp.%s: no TLSA records", t->host);
		return;
	}
	for (size_t k = 0; k < t->n; k++)
		usable += t->rr[k].usage >= 2 && t->rr[k].mtype >= 1 && t->rr[k].mtype <= 2;
	for (size_t i = 0; i < d->naddrs; i++) {
		const struct check_addr *a = &d->addrs[i];
		bool any = false;

		if (strcmp(a->host, t->host) != 0 || !a->main.tls)
			continue;
		probed++;
		for (size_t k = 0; k < t->n && !any; k++)
			any = t->rr[k].usage >= 2 && tlsa_matches(t, k, &a->main);
		ok_addrs += any;
	}
	matched = ok_addrs;
	if (!t->secure || !d->mx_secure || !t->host_secure) {
		out_line(o, CHK_WARN, "dane", "_25._tcp.%s: %zu TLSA records not DNSSEC-validated "
		         "(senders ignore them); %zu of %zu addresses match", t->host, t->n, matched,
		         probed);
		return;
	}
	if (usable == 0) {
		out_line(o, CHK_WARN, "dane", "_25._tcp.%s: no usable TLSA record (SMTP uses "
		         "usages 2 and 3, matching types 1 and 2)", t->host);
		return;
	}
	if (probed == 0 || matched < probed) {
		out_line(o, CHK_FAIL, "dane", "_25._tcp.%s: DNSSEC-signed TLSA records, but %zu of %zu "
		         "addresses present a matching certificate: DANE senders will defer",
		         t->host, matched, probed);
		return;
	}
	*enforced = true;
	out_line(o, CHK_OK, "dane", "_25._tcp.%s: DNSSEC-signed, every address matches", t->host);
}

/* ---- MTA-STS ---- */

static void
on_sts_addr(void *ctx, const struct dns_answer *ans)
{
	struct check_domain *d = ctx;

	for (size_t i = 0; ans->rc == DNS_OK && i < ans->n && d->sts_ip[0] == '\0'; i++) {
		const struct sockaddr_storage *ss = &ans->rr[i].u.addr;

		if (ss->ss_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, d->sts_ip,
			          sizeof(d->sts_ip));
		else
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, d->sts_ip,
			          sizeof(d->sts_ip));
	}
	check_settle(d);
}

void
check_sts_start(struct check_domain *d)
{
	char name[DNS_NAME_TEXT_MAX + 16];
	uint16_t types[2] = {DNS_T_A, DNS_T_AAAA};

	snprintf(name, sizeof(name), "mta-sts.%s", d->name);
	for (size_t i = 0; i < 2; i++) {
		d->pending++;
		if (dns_query(d->chk->dns, name, types[i], on_sts_addr, d) == NULL)
			d->pending--;
	}
}

struct sts_body {
	char *p;
	size_t n;
	bool too_big;
};

static size_t
sts_write(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct sts_body *b = ctx;
	size_t n = size * nmemb;

	if (b->n + n > STS_POLICY_MAX) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	b->p = xrealloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, ptr, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/*
 * sts_fetch - GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt with the
 * address our resolver found (so that dns_server applies), a valid
 * certificate for that name, no redirects (RFC 8461 3.3), the time bound
 * and the 64 KiB bound. Returns 0 with the body, or -1 with err.
 */
static int
sts_fetch(struct check *chk, struct check_domain *d, struct sts_body *b, bool *text_plain,
          char *err, size_t errsize)
{
	char url[600], resolve[600], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *rl;
	CURL *c = curl_easy_init();
	long status = 0;
	char *ctype = NULL;
	CURLcode rc;

	if (c == NULL)
		return snprintf(err, errsize, "cannot start libcurl"), -1;
	if (chk->https_port == 443)
		snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt", d->name);
	else
		snprintf(url, sizeof(url), "https://mta-sts.%s:%d/.well-known/mta-sts.txt", d->name,
		         chk->https_port);
	snprintf(resolve, sizeof(resolve), "mta-sts.%s:%d:%s%s%s", d->name, chk->https_port,
	         strchr(d->sts_ip, ':') ? "[" : "", d->sts_ip, strchr(d->sts_ip, ':') ? "]" : "");
	rl = curl_slist_append(NULL, resolve);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, rl);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (chk->ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, chk->ca);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)chk->po.timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "hikyaku-check/" HIKYAKU_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sts_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	*text_plain = ctype != NULL && strncasecmp(ctype, "text/plain", 10) == 0;
	if (b->too_big)
		snprintf(err, errsize, "policy larger than 64 KiB");
	else if (rc != CURLE_OK)
		snprintf(err, errsize, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
	else if (status != 200)
		snprintf(err, errsize, "HTTP status %ld (redirects are not followed)", status);
	curl_easy_cleanup(c);
	curl_slist_free_all(rl);
	return b->too_big || rc != CURLE_OK || status != 200 ? -1 : 0;
}

/* report_sts - the policy line; *enforced when it makes senders insist
   on verified TLS to every MX. */
void
report_sts(struct out *o, struct check_domain *d, bool *enforced)
{
	const struct check_txt *t = &d->txt[2];
	char id[STS_ID_MAX + 1], err[CURL_ERROR_SIZE + 64], v[600];
	struct sts_body b = {0};
	struct sts_policy pol;
	const char *perr = NULL;
	bool plain = false, covered = true;

	*enforced = false;
	if (t->count != 1)
		return; /* the mta-sts line said it all */
	if (sts_record_parse(t->raw, id, &perr) < 0) {
		out_line(o, CHK_FAIL, "sts-policy", "_mta-sts.%s: %s", d->name, perr);
		return;
	}
	if (d->sts_ip[0] == '\0') {
		out_line(o, CHK_FAIL, "sts-policy", "mta-sts.%s has no address: the policy cannot "
		         "be fetched", d->name);
		return;
	}
	if (sts_fetch(d->chk, d, &b, &plain, err, sizeof(err)) < 0) {
		out_line(o, CHK_FAIL, "sts-policy", "https://mta-sts.%s/.well-known/mta-sts.txt: %s",
		         d->name, log_value(v, sizeof(v), err, strlen(err)));
		free(b.p);
		return;
	}
	if (sts_policy_parse(b.p != NULL ? b.p : "", b.n, &pol, &perr) < 0) {
		out_line(o, CHK_FAIL, "sts-policy", "mta-sts.%s: malformed policy: %s", d->name, perr);
		free(b.p);
		return;
	}
	free(b.p);
	if (!plain)
		out_line(o, CHK_WARN, "sts-policy", "mta-sts.%s: served without Content-Type "
		         "text/plain", d->name);
	for (size_t i = 0; i < d->naddrs; i++)
		if (!sts_policy_mx_match(&pol, d->addrs[i].host)) {
			covered = false;
			out_line(o, pol.mode == STS_MODE_ENFORCE ? CHK_FAIL : CHK_WARN, "sts-policy",
			         "mode %s, but MX %s is not in its mx list: senders that enforce "
			         "the policy will not deliver there", sts_mode_name(pol.mode),
			         d->addrs[i].host);
			break;
		}
	if (!covered)
		return;
	if (pol.mode != STS_MODE_ENFORCE) {
		out_line(o, CHK_WARN, "sts-policy", "mode %s (id %s, max_age %u): senders do not "
		         "insist on verified TLS", sts_mode_name(pol.mode), id, pol.max_age);
		return;
	}
	*enforced = true;
	out_line(o, CHK_OK, "sts-policy", "mode enforce (id %s, max_age %u), covers every MX",
	         id, pol.max_age);
}

