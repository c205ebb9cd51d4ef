/*
 * dns_mx.c -- where to deliver mail for a domain: MX hosts and addresses.
 *
 * Flow: MX query; NXDOMAIN bounces, a failure defers, a null MX bounces,
 * NODATA falls back to the domain itself (implicit MX), otherwise the
 * hosts are chosen and ordered by dns_mx_select() (pure, unit-tested).
 * Then A and AAAA for every host at once; when the last answer is in, the
 * hosts with addresses are reported in order, the rest dropped.
 * Standards: RFC 5321 5.1, RFC 7505, RFC 7672 2.2. Limits: dns_mx.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "dns/dns_mx.h"

#define DNS_MX_REASON_MAX 512

struct mx_slot;

/* One address lookup of one host. */
struct mx_addrq {
	struct dns_mx_req *r;
	struct mx_slot *slot;
	struct dns_query *q;
	int fam; /* 0: AAAA, 1: A */
};

/* One host while its addresses are being looked up. */
struct mx_slot {
	char name[DNS_NAME_TEXT_MAX];
	uint16_t pref;
	bool insecure, temp;
	size_t n[2]; /* [0] v6, [1] v4 */
	struct sockaddr_storage addrs[2][DNS_MX_MAX_ADDRS];
	struct mx_addrq aq[2];
};

struct dns_mx_req {
	struct dns *d;
	dns_mx_done_fn *done;
	void *ctx;
	struct dns_query *mxq;
	bool mx_secure, implicit;
	unsigned pending; /* address lookups outstanding */
	size_t nslots;
	struct mx_slot *slots;
	char why[DNS_MX_REASON_MAX]; /* first temporary failure */
	char domain[DNS_NAME_TEXT_MAX];
};

/* mx_rng_default - libsodium's unbiased uniform random number. */
static uint32_t
mx_rng_default(void *ctx, uint32_t upper_bound)
{
	(void)ctx;
	return randombytes_uniform(upper_bound);
}

/* Sort key: preference, then a random draw, then the position (ties). */
struct mx_key {
	uint16_t pref;
	uint32_t draw;
	size_t pos;
};

static int
mx_key_cmp(const void *a, const void *b)
{
	const struct mx_key *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	if (x->draw != y->draw)
		return x->draw < y->draw ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void
dns_mx_sort(struct dns_rr *mx, size_t n, dns_mx_rng_fn *rng, void *rng_ctx)
{
	struct mx_key *keys;
	struct dns_rr *copy;

	if (n < 2)
		return;
	if (rng == NULL)
		rng = mx_rng_default;
	keys = xcalloc(n, sizeof(*keys));
	for (size_t i = 0; i < n; i++)
		keys[i] = (struct mx_key){ mx[i].u.mx.pref, rng(rng_ctx, UINT32_MAX), i };
	qsort(keys, n, sizeof(*keys), mx_key_cmp);
	copy = xcalloc(n, sizeof(*copy));
	memcpy(copy, mx, n * sizeof(*copy));
	for (size_t i = 0; i < n; i++)
		mx[i] = copy[keys[i].pos];
	free(copy);
	free(keys);
}

/* mx_usable - an MX target we may connect to (RFC 5321 5.1: a domain
   name, never an address literal; RFC 7505: "." is nowhere). */
static bool
mx_usable(const struct dns_rr *rr)
{
	return rr->type == DNS_T_MX && dns_name_is_valid(rr->u.mx.name) &&
	       strcmp(rr->u.mx.name, ".") != 0 && !dns_name_is_ip_literal(rr->u.mx.name);
}

/* mx_same_name - equal up to ASCII case and a final dot. */
static bool
mx_same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

size_t
dns_mx_select(struct dns_rr *mx, size_t n, dns_mx_rng_fn *rng, void *rng_ctx)
{
	size_t kept = 0, out = 0;

	for (size_t i = 0; i < n; i++)
		if (mx_usable(&mx[i]))
			mx[kept++] = mx[i];
	dns_mx_sort(mx, kept, rng, rng_ctx);
	for (size_t i = 0; i < kept && out < DNS_MX_MAX_HOSTS; i++) {
		bool dup = false;

		for (size_t j = 0; j < out && !dup; j++)
			dup = mx_same_name(mx[j].u.mx.name, mx[i].u.mx.name);
		if (!dup)
			mx[out++] = mx[i];
	}
	return out;
}

bool
dns_mx_is_null(const struct dns_rr *mx, size_t n)
{
	/* RFC 7505 3: preference 0 and a zero-length exchange, alone. */
	return n == 1 && mx[0].type == DNS_T_MX && mx[0].u.mx.pref == 0 &&
	       strcmp(mx[0].u.mx.name, ".") == 0;
}

/* mx_finish - one result to the caller, then the request is freed. */
static void mx_finish(struct dns_mx_req *r, int rc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
mx_finish(struct dns_mx_req *r, int rc, const char *fmt, ...)
{
	size_t nhosts = 0, k = 0;
	struct dns_mx_result *res;
	va_list ap;

	for (size_t i = 0; rc == DNS_MX_OK && i < r->nslots; i++)
		nhosts += r->slots[i].n[0] + r->slots[i].n[1] > 0;
	res = xcalloc(1, sizeof(*res) + nhosts * sizeof(res->hosts[0]) + DNS_MX_REASON_MAX);
	res->rc = rc;
	res->mx_secure = r->mx_secure;
	res->implicit = r->implicit;
	res->nhosts = nhosts;
	for (size_t i = 0; k < nhosts; i++) {
		const struct mx_slot *s = &r->slots[i];
		struct dns_mx_host *h = &res->hosts[k];

		if (s->n[0] + s->n[1] == 0)
			continue;
		memcpy(h->name, s->name, sizeof(h->name));
		h->pref = s->pref;
		h->secure = !s->insecure;
		/* v6, v4, v6, v4, ...: both families early in the list. */
		for (size_t j = 0; h->naddrs < DNS_MX_MAX_ADDRS && j < DNS_MX_MAX_ADDRS; j++)
			for (int f = 0; f < 2 && h->naddrs < DNS_MX_MAX_ADDRS; f++)
				if (j < s->n[f])
					h->addrs[h->naddrs++] = s->addrs[f][j];
		k++;
	}
	res->reason = (char *)&res->hosts[nhosts];
	va_start(ap, fmt);
	vsnprintf((char *)res->reason, DNS_MX_REASON_MAX, fmt, ap);
	va_end(ap);
	r->done(r->ctx, res);
	free(r->slots);
	free(r);
}

/* mx_note_temp - keep the first temporary failure's reason. */
static void
mx_note_temp(struct dns_mx_req *r, const char *name, const struct dns_answer *a)
{
	if (r->why[0] == '\0')
		snprintf(r->why, sizeof(r->why), "%s %s lookup: %s", name,
		         a->qtype == DNS_T_A ? "A" : "AAAA", a->why != NULL ? a->why : "failed");
}

/* mx_addrs_done - every address lookup is in: report. */
static void
mx_addrs_done(struct dns_mx_req *r)
{
	for (size_t i = 0; i < r->nslots; i++)
		if (r->slots[i].n[0] + r->slots[i].n[1] > 0) {
			mx_finish(r, DNS_MX_OK, "ok");
			return;
		}
	for (size_t i = 0; i < r->nslots; i++)
		if (r->slots[i].temp) {
			mx_finish(r, DNS_MX_TEMPFAIL, "no MX host reachable now: %s", r->why);
			return;
		}
	if (r->implicit)
		mx_finish(r, DNS_MX_NXDOMAIN, "%s has no MX and no A/AAAA records", r->domain);
	else
		mx_finish(r, DNS_MX_NXDOMAIN, "no MX host of %s has an address", r->domain);
}

static void
mx_on_addr(void *ctx, const struct dns_answer *a)
{
	struct mx_addrq *aq = ctx;
	struct mx_slot *s = aq->slot;
	struct dns_mx_req *r = aq->r;

	aq->q = NULL;
	r->pending--;
	if (!a->secure)
		s->insecure = true;
	if (a->rc == DNS_OK) {
		for (size_t i = 0; i < a->n && s->n[aq->fam] < DNS_MX_MAX_ADDRS; i++)
			s->addrs[aq->fam][s->n[aq->fam]++] = a->rr[i].u.addr;
	} else if (a->rc == DNS_TEMPFAIL || a->rc == DNS_BOGUS) {
		s->temp = true;
		mx_note_temp(r, s->name, a);
	}
	/* NXDOMAIN, NODATA: no address of this family, for good. */
	if (r->pending == 0)
		mx_addrs_done(r);
}

/* mx_lookup_addrs - A and AAAA for every slot, all at once. */
static void
mx_lookup_addrs(struct dns_mx_req *r)
{
	for (size_t i = 0; i < r->nslots; i++) {
		struct mx_slot *s = &r->slots[i];

		for (int f = 0; f < 2; f++) {
			s->aq[f] = (struct mx_addrq){ .r = r, .slot = s, .fam = f };
			s->aq[f].q = dns_query(r->d, s->name, f == 0 ? DNS_T_AAAA : DNS_T_A,
			                       mx_on_addr, &s->aq[f]);
			r->pending += s->aq[f].q != NULL;
		}
	}
	if (r->pending == 0) /* only if every name was refused: cannot happen */
		mx_addrs_done(r);
}

/* mx_use_hosts - slots from a non-null MX answer. */
static void
mx_use_hosts(struct dns_mx_req *r, const struct dns_answer *a)
{
	struct dns_rr *mx = xcalloc(a->n, sizeof(*mx));
	size_t n;

	memcpy(mx, a->rr, a->n * sizeof(*mx)); /* MX records own no heap memory */
	n = dns_mx_select(mx, a->n, NULL, NULL);
	if (n == 0) {
		free(mx);
		mx_finish(r, DNS_MX_NXDOMAIN, "no usable MX host for %s (invalid MX targets)",
		          r->domain);
		return;
	}
	r->slots = xcalloc(n, sizeof(*r->slots));
	r->nslots = n;
	for (size_t i = 0; i < n; i++) {
		memcpy(r->slots[i].name, mx[i].u.mx.name, sizeof(r->slots[i].name));
		r->slots[i].pref = mx[i].u.mx.pref;
	}
	free(mx);
	mx_lookup_addrs(r);
}

/* mx_use_implicit - RFC 5321 5.1: no MX, so the domain is its own host. */
static void
mx_use_implicit(struct dns_mx_req *r)
{
	r->implicit = true;
	r->slots = xcalloc(1, sizeof(*r->slots));
	r->nslots = 1;
	memcpy(r->slots[0].name, r->domain, sizeof(r->slots[0].name));
	mx_lookup_addrs(r);
}

static void
mx_on_mx(void *ctx, const struct dns_answer *a)
{
	struct dns_mx_req *r = ctx;

	r->mxq = NULL;
	r->mx_secure = a->secure;
	switch (a->rc) {
	case DNS_OK:
		if (dns_mx_is_null(a->rr, a->n))
			mx_finish(r, DNS_MX_NULL, "%s does not accept mail (null MX)", r->domain);
		else
			mx_use_hosts(r, a);
		break;
	case DNS_NODATA:
		mx_use_implicit(r);
		break;
	case DNS_NXDOMAIN:
		mx_finish(r, DNS_MX_NXDOMAIN, "%s does not exist (NXDOMAIN)", r->domain);
		break;
	case DNS_BOGUS:
		log_warnx("dns: MX for %s failed DNSSEC validation: %s", r->domain, a->why_bogus);
		mx_finish(r, DNS_MX_TEMPFAIL, "MX lookup for %s: DNSSEC validation failed: %s",
		          r->domain, a->why_bogus);
		break;
	case DNS_TEMPFAIL:
		mx_finish(r, DNS_MX_TEMPFAIL, "MX lookup for %s: %s", r->domain,
		          a->why != NULL ? a->why : "failed");
		break;
	}
}

struct dns_mx_req *
dns_mx_resolve(struct dns *d, const char *domain, dns_mx_done_fn *done, void *ctx)
{
	struct dns_mx_req *r;

	BUG_ON(done == NULL);
	if (!dns_name_is_valid(domain))
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->d = d;
	r->done = done;
	r->ctx = ctx;
	memcpy(r->domain, domain, strlen(domain) + 1);
	r->mxq = dns_query(d, domain, DNS_T_MX, mx_on_mx, r);
	BUG_ON(r->mxq == NULL); /* the same name check passed above */
	return r;
}

void
dns_mx_cancel(struct dns_mx_req **rp)
{
	struct dns_mx_req *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	dns_cancel(&r->mxq);
	for (size_t i = 0; i < r->nslots; i++)
		for (int f = 0; f < 2; f++)
			dns_cancel(&r->slots[i].aq[f].q);
	free(r->slots);
	free(r);
}
