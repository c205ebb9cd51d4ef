/*
 * dmarc_lookup.c -- DMARC policy discovery (RFC 7489 6.6.3) over dns/.
 *
 * Step 1: TXT _dmarc.FROM. Records that do not start with v=DMARC1 are
 * dropped; exactly one must remain. None: step 2, TXT _dmarc.ORG when the
 * organizational domain differs. Two queries at most, one at a time, each
 * bounded by the resolver's timeout. A temporary DNS failure is temperror;
 * several DMARC records or an unusable one end discovery (no policy:
 * result none, with the reason), as 6.6.3 says.
 * Security: answers are remote data; records are parsed by
 * dmarc_record_parse() with its bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "dns/dns.h"
#include "msgauth/dmarc.h"

struct dmarc_lookup {
	struct dns *dns;
	struct dns_query *q;
	dmarc_found_fn *done;
	void *ctx;
	char from[DMARC_MAX_DOMAIN + 1];
	char org[DMARC_MAX_DOMAIN + 1];
	char cur[DMARC_MAX_DOMAIN + 1]; /* the domain being asked about */
	char reason[DMARC_MAX_DOMAIN + 200];
};

static void lookup_done(void *ctx, const struct dns_answer *a);

/* ask - TXT query for _dmarc.DOMAIN; false when the name is unusable. */
static bool
ask(struct dmarc_lookup *l, const char *domain)
{
	char name[DMARC_MAX_DOMAIN + 8];

	snprintf(l->cur, sizeof(l->cur), "%s", domain);
	if ((size_t)snprintf(name, sizeof(name), "_dmarc.%s", domain) >= sizeof(name))
		return false;
	l->q = dns_query(l->dns, name, DNS_T_TXT, lookup_done, l);
	return l->q != NULL;
}

/* finish - report and free. */
static void
finish(struct dmarc_lookup *l, struct dmarc_found *f)
{
	if (f->rc == 1)
		f->domain = l->cur;
	l->done(l->ctx, f);
	free(l);
}

/* pick - the one DMARC record among the TXT answers (6.6.3 steps 3-4).
   Returns 1 with f->rec, 0 none, -1 several or unusable (f->reason). */
static int
pick(struct dmarc_lookup *l, const struct dns_answer *a, struct dmarc_found *f)
{
	size_t nrec = 0;
	const char *bad = NULL;

	for (size_t i = 0; i < a->n; i++) {
		struct dmarc_record rec;
		struct span t = { (const uint8_t *)a->rr[i].u.txt.text, a->rr[i].u.txt.len };
		const char *err = NULL;
		int rc = dmarc_record_parse(t, &rec, &err);

		if (rc == 0)
			continue; /* not DMARC: ignored */
		nrec++;
		if (rc < 0)
			bad = err;
		else
			f->rec = rec;
	}
	if (nrec > 1) {
		f->reason = "several DMARC records";
		return -1;
	}
	if (bad != NULL) {
		snprintf(l->reason, sizeof(l->reason), "unusable record at _dmarc.%s: %s", l->cur,
		         bad);
		f->reason = l->reason;
		return -1;
	}
	return nrec == 1 ? 1 : 0;
}

static void
lookup_done(void *ctx, const struct dns_answer *a)
{
	struct dmarc_lookup *l = ctx;
	struct dmarc_found f = { .rc = 0, .reason = "no DMARC record" };
	int rc;

	l->q = NULL;
	if (a->rc != DNS_OK && a->rc != DNS_NXDOMAIN && a->rc != DNS_NODATA) {
		snprintf(l->reason, sizeof(l->reason), "DNS error for _dmarc.%s: %s", l->cur,
		         a->why != NULL ? a->why : dns_rc_name(a->rc));
		f = (struct dmarc_found){ .rc = -1, .error = DMARC_TEMPERROR, .reason = l->reason };
		finish(l, &f);
		return;
	}
	rc = a->rc == DNS_OK ? pick(l, a, &f) : 0;
	if (rc != 0) {
		/* -1: several or unusable records: no policy (6.6.3), result none. */
		f.rc = rc == 1 ? 1 : 0;
		finish(l, &f);
		return;
	}
	if (strcmp(l->cur, l->from) == 0 && strcmp(l->org, l->from) != 0) {
		if (ask(l, l->org))
			return;
	}
	finish(l, &f);
}

struct dmarc_lookup *
dmarc_lookup_start(struct dns *dns, const char *from_domain, dmarc_found_fn *done, void *ctx)
{
	struct dmarc_lookup *l;

	if (strlen(from_domain) > DMARC_MAX_DOMAIN)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->dns = dns;
	l->done = done;
	l->ctx = ctx;
	/* Also validates the name: dns_name_is_valid(). */
	if (dmarc_org_domain(from_domain, l->org, sizeof(l->org)) < 0) {
		free(l);
		return NULL;
	}
	/* The domain itself, lower case, without a final dot. */
	snprintf(l->from, sizeof(l->from), "%s", from_domain);
	for (char *c = l->from; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if (l->from[0] != '\0' && l->from[strlen(l->from) - 1] == '.')
		l->from[strlen(l->from) - 1] = '\0';
	if (!ask(l, l->from)) {
		free(l);
		return NULL;
	}
	return l;
}

void
dmarc_lookup_cancel(struct dmarc_lookup **lp)
{
	struct dmarc_lookup *l = *lp;

	if (l == NULL)
		return;
	dns_cancel(&l->q);
	free(l);
	*lp = NULL;
}
