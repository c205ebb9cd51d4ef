/*
 * spf.c -- the SPF evaluator: check_host() (RFC 7208 4-6) as a state
 * machine on the libuv loop.
 *
 * Shape. include pushes a frame (the included domain's record), redirect
 * replaces the top frame, so the frame stack is as deep as the include
 * nesting, which the 10-lookup limit bounds. Exactly one DNS query is
 * outstanding at a time (`c->q`), and `c->step` says what its answer is
 * for; the names of an mx or ptr mechanism are then checked one after the
 * other. Sequential queries are slower than parallel ones for mx, but keep
 * the state small and the lookup order deterministic; the whole
 * evaluation's time cap bounds the wait.
 * Errors anywhere end the whole evaluation (temperror, permerror); pass,
 * fail, softfail and neutral of an included record go back to the
 * include mechanism (RFC 7208 5.2).
 * Limits: see spf.h. An expanded name that DNS would refuse (dns_query()
 * returns NULL) counts as a name that does not exist.
 * Security: every remote string is bounded before it is copied; the
 * callback runs from a timer, never from the start call or a DNS callback
 * that may still touch the check.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "msgauth/spf.h"
#include "msgauth/spf_int.h"

#define SPF_MAX_DEPTH (SPF_MAX_LOOKUPS + 2)

struct spf_frame {
	char domain[DNS_NAME_TEXT_MAX];
	char *txt;              /* the record text, owned */
	struct spf_record *rec; /* owned; terms point into txt */
	size_t next;            /* the next term to evaluate */
	bool redirected;        /* reached through redirect= */
};

enum spf_step {
	SPF_ST_RECORD,   /* TXT of a frame's domain */
	SPF_ST_A,        /* a: A/AAAA of the target */
	SPF_ST_EXISTS,   /* exists: A of the target */
	SPF_ST_MX,       /* mx: MX of the target */
	SPF_ST_MX_ADDR,  /* mx: A/AAAA of names[iname] */
	SPF_ST_PTR,      /* ptr: PTR of the client address */
	SPF_ST_PTR_ADDR, /* ptr: A/AAAA of names[iname] */
	SPF_ST_P_PTR,    /* %{p}: PTR of the client address */
	SPF_ST_P_ADDR,   /* %{p}: A/AAAA of names[iname] */
	SPF_ST_EXP,      /* exp=: TXT of the explanation domain */
};

enum spf_p_resume { SPF_P_RUN, SPF_P_EXP_DOMAIN, SPF_P_EXP_TEXT };

struct spf_check {
	uv_loop_t *loop;
	struct dns *dns;
	uv_timer_t timer; /* the time cap, then the deferred callback */
	spf_done_fn *done;
	void *ctx;
	struct dns_query *q;
	enum spf_step step;
	bool finished;
	bool delivering; /* inside the callback: spf_check_cancel() is a no-op */
	enum spf_p_resume p_resume; /* where to go once %{p} is known */

	/* The request. */
	char *ip_text, *sender, *local, *sender_domain, *helo, *receiver;
	bool helo_identity;
	int family; /* AF_INET or AF_INET6 (IPv4-mapped addresses are IPv4) */
	uint8_t addr[16];

	struct spf_frame frames[SPF_MAX_DEPTH];
	size_t depth;
	unsigned lookups, voids;
	const struct spf_term *term; /* the mechanism waiting for DNS */

	/* mx and ptr names, and the %{p} candidates. */
	char names[SPF_MAX_PTR][DNS_NAME_TEXT_MAX];
	size_t nnames, iname;
	char target[SPF_EXPAND_MAX + 1];

	/* %{p}: validated names (RFC 7208 5.5), found once per check. */
	bool p_done;
	char pnames[SPF_MAX_PTR][DNS_NAME_TEXT_MAX];
	size_t npnames;
	char pchoice[DNS_NAME_TEXT_MAX];

	/* The verdict. */
	enum spf_result result;
	const char *how; /* static: how a final result came about */
	char reason[256];
	char mechanism[128];
	char domain[DNS_NAME_TEXT_MAX];
	char exp_spec[SPF_RECORD_MAX + 1]; /* explanation text, until expanded */
	char explanation[SPF_EXP_MAX + 1];
	bool has_explanation;
};

static void spf_run(struct spf_check *c);
static void spf_on_dns(void *ctx, const struct dns_answer *a);
static void spf_p_start(struct spf_check *c, enum spf_p_resume resume);
static int spf_expand_target(struct spf_check *c, struct span spec, const char **error_r);

const char *
spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:
		return "none";
	case SPF_NEUTRAL:
		return "neutral";
	case SPF_PASS:
		return "pass";
	case SPF_FAIL:
		return "fail";
	case SPF_SOFTFAIL:
		return "softfail";
	case SPF_TEMPERROR:
		return "temperror";
	case SPF_PERMERROR:
		return "permerror";
	}
	return "?";
}

/* ---- ending ---- */

static void
spf_on_closed(uv_handle_t *h)
{
	struct spf_check *c = h->data;

	for (size_t i = 0; i < c->depth; i++) {
		free(c->frames[i].txt);
		free(c->frames[i].rec);
	}
	free(c->ip_text);
	free(c->sender);
	free(c->local);
	free(c->sender_domain);
	free(c->helo);
	free(c->receiver);
	free(c);
}

static void
spf_destroy(struct spf_check *c)
{
	dns_cancel(&c->q);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, spf_on_closed);
}

static void
spf_on_deliver(uv_timer_t *t)
{
	struct spf_check *c = t->data;
	struct spf_verdict v = {
		.result = c->result,
		.identity = c->helo_identity ? "helo" : "mailfrom",
		.sender = c->sender,
		.domain = c->domain,
		.mechanism = c->mechanism,
		.explanation = c->has_explanation ? c->explanation : NULL,
		.reason = c->reason,
		.lookups = c->lookups,
	};

	c->delivering = true;
	c->done(c->ctx, &v);
	spf_destroy(c);
}

/* spf_finish - the verdict; the callback runs on the next loop turn. */
static void
spf_finish(struct spf_check *c, enum spf_result r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
spf_finish(struct spf_check *c, enum spf_result r, const char *fmt, ...)
{
	va_list ap;

	if (c->finished)
		return;
	c->finished = true;
	dns_cancel(&c->q);
	c->result = r;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	uv_timer_start(&c->timer, spf_on_deliver, 0, 0);
}

static void
spf_on_deadline(uv_timer_t *t)
{
	struct spf_check *c = t->data;

	spf_finish(c, SPF_TEMPERROR, "evaluation timed out after %u lookups", c->lookups);
}

/* ---- DNS plumbing ---- */

/* spf_query - one query for this step; a name DNS refuses is NXDOMAIN. */
static void
spf_query(struct spf_check *c, enum spf_step step, const char *name, uint16_t type)
{
	c->step = step;
	c->q = dns_query(c->dns, name, type, spf_on_dns, c);
	if (c->q == NULL) {
		struct dns_answer a = { .rc = DNS_NXDOMAIN, .qname = name, .qtype = type };

		spf_on_dns(c, &a);
	}
}

static uint16_t
spf_addr_type(const struct spf_check *c)
{
	return c->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

static bool
spf_dns_error(const struct dns_answer *a)
{
	return a->rc == DNS_TEMPFAIL || a->rc == DNS_BOGUS;
}

/* spf_void - count a lookup that found nothing (RFC 7208 4.6.4). */
static bool
spf_void(struct spf_check *c, const struct dns_answer *a)
{
	if (++c->voids <= SPF_MAX_VOID)
		return false;
	spf_finish(c, SPF_PERMERROR, "more than %d void lookups (last %s)", SPF_MAX_VOID, a->qname);
	return true;
}

/* spf_prefix_match - the first `bits` bits of a and b are equal. */
static bool
spf_prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	return rest == 0 || ((a[bytes] ^ b[bytes]) & (0xff00 >> rest) & 0xff) == 0;
}

/* spf_addr_bytes - the address octets of an A/AAAA record. */
static const uint8_t *
spf_addr_bytes(const struct dns_rr *rr)
{
	if (rr->u.addr.ss_family == AF_INET)
		return (const uint8_t *)&((const struct sockaddr_in *)&rr->u.addr)->sin_addr;
	return (const uint8_t *)&((const struct sockaddr_in6 *)&rr->u.addr)->sin6_addr;
}

/* spf_answer_matches - any A/AAAA record of a within the prefix. */
static bool
spf_answer_matches(const struct spf_check *c, const struct dns_answer *a, unsigned cidr4,
                   unsigned cidr6)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct dns_rr *rr = &a->rr[i];
		int fam = rr->u.addr.ss_family;

		if ((rr->type != DNS_T_A && rr->type != DNS_T_AAAA) || fam != c->family)
			continue;
		if (spf_prefix_match(spf_addr_bytes(rr), c->addr, fam == AF_INET ? cidr4 : cidr6))
			return true;
	}
	return false;
}

/* spf_reverse_name - "4.3.2.1.in-addr.arpa" or the ip6.arpa nibbles. */
static void
spf_reverse_name(const struct spf_check *c, char *dst, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;

	if (c->family == AF_INET) {
		snprintf(dst, size, "%u.%u.%u.%u.in-addr.arpa", c->addr[3], c->addr[2], c->addr[1],
		         c->addr[0]);
		return;
	}
	for (int i = 15; i >= 0; i--) {
		dst[k++] = hex[c->addr[i] & 0xf];
		dst[k++] = '.';
		dst[k++] = hex[c->addr[i] >> 4];
		dst[k++] = '.';
	}
	snprintf(dst + k, size - k, "ip6.arpa");
}

/* spf_name_within - name equals domain or is below it (ASCII case, any
   final dots ignored). */
static bool
spf_name_within(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (d > 0 && domain[d - 1] == '.')
		d--;
	if (n < d || strncasecmp(name + n - d, domain, d) != 0)
		return false;
	return n == d || name[n - d - 1] == '.';
}

/* ---- frames and results ---- */

static struct spf_frame *
spf_top(struct spf_check *c)
{
	return &c->frames[c->depth - 1];
}

static void
spf_frame_clear(struct spf_frame *f)
{
	free(f->txt);
	free(f->rec);
	memset(f, 0, sizeof(*f));
}

/* spf_fetch - look up a frame's record: a fresh frame (include, the
   start) or the top one replaced (redirect). */
static void
spf_fetch(struct spf_check *c, const char *domain, bool push, bool redirected)
{
	struct spf_frame *f;

	if (push) {
		if (c->depth == SPF_MAX_DEPTH) { /* the lookup limit comes first */
			spf_finish(c, SPF_PERMERROR, "include nesting too deep");
			return;
		}
		c->depth++;
	}
	f = spf_top(c);
	spf_frame_clear(f);
	snprintf(f->domain, sizeof(f->domain), "%s", domain);
	f->redirected = redirected;
	spf_query(c, SPF_ST_RECORD, f->domain, DNS_T_TXT);
}

static void spf_matched(struct spf_check *c, const struct spf_term *t);

/* spf_explain - after fail: the exp= of the deciding record, if any
   (RFC 7208 6.2). Any trouble with it leaves the result fail, unexplained. */
static void
spf_explain(struct spf_check *c)
{
	struct spf_frame *f = spf_top(c);
	const struct spf_term *t = &f->rec->terms[f->rec->exp];
	const char *err;

	if (spf_macro_uses_p(t->spec) && !c->p_done) {
		spf_p_start(c, SPF_P_EXP_DOMAIN);
		return;
	}
	if (spf_expand_target(c, t->spec, &err) < 0) {
		spf_finish(c, SPF_FAIL, "%s; exp= not expanded: %s", c->how, err);
		return;
	}
	spf_query(c, SPF_ST_EXP, c->target, DNS_T_TXT);
}

/* spf_frame_result - a record's evaluation ended with r (t matched, or
   NULL for the default neutral). */
static void
spf_frame_result(struct spf_check *c, enum spf_result r, const struct spf_term *t)
{
	struct spf_frame *f = spf_top(c);

	if (c->depth > 1) {
		/* Back to the include (RFC 7208 5.2): only pass matches. */
		spf_frame_clear(f);
		c->depth--;
		f = spf_top(c);
		if (r == SPF_PASS)
			spf_matched(c, &f->rec->terms[f->next - 1]);
		else
			spf_run(c);
		return;
	}
	snprintf(c->domain, sizeof(c->domain), "%s", f->domain);
	if (t != NULL)
		snprintf(c->mechanism, sizeof(c->mechanism), "%.*s", (int)t->text.n,
		         (const char *)t->text.p);
	c->how = t != NULL ? "matched" : "no match: default result";
	if (r == SPF_FAIL && f->rec->exp >= 0) {
		c->result = r;
		spf_explain(c);
		return;
	}
	spf_finish(c, r, "%s", c->how);
}

static void
spf_matched(struct spf_check *c, const struct spf_term *t)
{
	spf_frame_result(c, t->qualifier, t);
}

/* ---- macros ---- */

/* spf_p_name - %{p} for the current domain: a validated name equal to it,
   else one below it, else any validated name, else NULL ("unknown"). */
static const char *
spf_p_name(struct spf_check *c, const char *domain)
{
	for (size_t i = 0; i < c->npnames; i++)
		if (strcasecmp(c->pnames[i], domain) == 0)
			return c->pnames[i];
	for (size_t i = 0; i < c->npnames; i++)
		if (spf_name_within(c->pnames[i], domain))
			return c->pnames[i];
	return c->npnames > 0 ? c->pnames[0] : NULL;
}

static void
spf_env(struct spf_check *c, struct spf_macro_env *env)
{
	const char *domain = spf_top(c)->domain;

	*env = (struct spf_macro_env){
		.sender = c->sender,
		.local = c->local,
		.sender_domain = c->sender_domain,
		.domain = domain,
		.family = c->family,
		.ptr = spf_p_name(c, domain),
		.helo = c->helo,
		.receiver = c->receiver,
		.now = time(NULL),
	};
	memcpy(env->addr, c->addr, sizeof(env->addr));
}

/* spf_expand_target - c->target = the domain-spec expanded and cut to
   253 octets, or the current domain when spec is empty. */
static int
spf_expand_target(struct spf_check *c, struct span spec, const char **error_r)
{
	struct spf_macro_env env;

	if (spec.n == 0) {
		snprintf(c->target, sizeof(c->target), "%s", spf_top(c)->domain);
		return 0;
	}
	spf_env(c, &env);
	if (spf_macro_expand(spec, &env, false, c->target, sizeof(c->target), error_r) < 0)
		return -1;
	spf_domain_truncate(c->target);
	return 0;
}

/* ---- %{p}: PTR names validated by a forward lookup ---- */

static void
spf_p_start(struct spf_check *c, enum spf_p_resume resume)
{
	char rev[80];

	c->p_resume = resume;
	c->nnames = c->iname = c->npnames = 0;
	spf_reverse_name(c, rev, sizeof(rev));
	spf_query(c, SPF_ST_P_PTR, rev, DNS_T_PTR);
}

static void spf_exp_text(struct spf_check *c);

/* spf_p_next - validate the next candidate, or resume the evaluation. */
static void
spf_p_next(struct spf_check *c)
{
	if (c->iname < c->nnames) {
		spf_query(c, SPF_ST_P_ADDR, c->names[c->iname], spf_addr_type(c));
		return;
	}
	c->p_done = true;
	switch (c->p_resume) {
	case SPF_P_RUN:
		spf_run(c);
		break;
	case SPF_P_EXP_DOMAIN:
		spf_explain(c);
		break;
	case SPF_P_EXP_TEXT:
		spf_exp_text(c);
		break;
	}
}

/* spf_take_names - the first SPF_MAX_PTR names of a PTR answer, those
   within `within` only when it is not NULL. */
static void
spf_take_names(struct spf_check *c, const struct dns_answer *a, const char *within)
{
	c->nnames = c->iname = 0;
	for (size_t i = 0; i < a->n && i < SPF_MAX_PTR; i++) {
		const char *name = a->rr[i].u.ptr.name;

		if (a->rr[i].type != DNS_T_PTR || (within != NULL && !spf_name_within(name, within)))
			continue;
		snprintf(c->names[c->nnames++], DNS_NAME_TEXT_MAX, "%s", name);
	}
}

static void
spf_on_p(struct spf_check *c, const struct dns_answer *a)
{
	if (c->step == SPF_ST_P_PTR) {
		if (a->rc == DNS_OK)
			spf_take_names(c, a, NULL);
	} else {
		if (a->rc == DNS_OK && spf_answer_matches(c, a, 32, 128))
			memcpy(c->pnames[c->npnames++], c->names[c->iname], DNS_NAME_TEXT_MAX);
		c->iname++;
	}
	spf_p_next(c);
}

/* ---- mechanisms ---- */

static bool
spf_term_needs_dns(enum spf_term_type type)
{
	return type == SPF_T_INCLUDE || type == SPF_T_A || type == SPF_T_MX ||
	       type == SPF_T_PTR || type == SPF_T_EXISTS || type == SPF_T_REDIRECT;
}

/* spf_ip_matches - ip4/ip6: only against a client of that family. */
static bool
spf_ip_matches(const struct spf_check *c, const struct spf_term *t)
{
	if (t->type == SPF_T_IP4)
		return c->family == AF_INET && spf_prefix_match(t->addr, c->addr, t->cidr4);
	return c->family == AF_INET6 && spf_prefix_match(t->addr, c->addr, t->cidr6);
}

/* spf_start_term - a DNS-querying term: count it, expand its target and
   send the first query. */
static void
spf_start_term(struct spf_check *c, const struct spf_term *t)
{
	const char *err;
	char rev[80];

	if (++c->lookups > SPF_MAX_LOOKUPS) {
		spf_finish(c, SPF_PERMERROR, "more than %d DNS-querying terms (at %.*s)",
		           SPF_MAX_LOOKUPS, (int)MIN(t->text.n, 64), (const char *)t->text.p);
		return;
	}
	if (spf_expand_target(c, t->spec, &err) < 0) {
		spf_finish(c, SPF_PERMERROR, "%.*s: %s", (int)MIN(t->text.n, 64),
		           (const char *)t->text.p, err);
		return;
	}
	c->term = t;
	switch (t->type) {
	case SPF_T_INCLUDE:
		spf_fetch(c, c->target, true, false);
		break;
	case SPF_T_REDIRECT:
		spf_fetch(c, c->target, false, true);
		break;
	case SPF_T_A:
		spf_query(c, SPF_ST_A, c->target, spf_addr_type(c));
		break;
	case SPF_T_EXISTS:
		spf_query(c, SPF_ST_EXISTS, c->target, DNS_T_A); /* A even for IPv6 (5.7) */
		break;
	case SPF_T_MX:
		spf_query(c, SPF_ST_MX, c->target, DNS_T_MX);
		break;
	case SPF_T_PTR:
		spf_reverse_name(c, rev, sizeof(rev));
		spf_query(c, SPF_ST_PTR, rev, DNS_T_PTR);
		break;
	default:
		BUG_ON(1);
	}
}

/* spf_run - evaluate the top record's terms from where it stopped; returns
   when a query is out or the evaluation has ended. */
static void
spf_run(struct spf_check *c)
{
	struct spf_frame *f = spf_top(c);

	while (!c->finished && f->next < f->rec->n) {
		const struct spf_term *t = &f->rec->terms[f->next];

		if (t->type >= SPF_T_REDIRECT) { /* modifiers: used below */
			f->next++;
			continue;
		}
		if (spf_term_needs_dns(t->type) && spf_macro_uses_p(t->spec) && !c->p_done) {
			spf_p_start(c, SPF_P_RUN);
			return;
		}
		f->next++;
		if (t->type == SPF_T_ALL) {
			spf_matched(c, t);
			return;
		}
		if (t->type == SPF_T_IP4 || t->type == SPF_T_IP6) {
			if (spf_ip_matches(c, t)) {
				spf_matched(c, t);
				return;
			}
			continue;
		}
		spf_start_term(c, t);
		return;
	}
	if (c->finished)
		return;
	if (f->rec->redirect >= 0) { /* only reached without a match (6.1) */
		const struct spf_term *t = &f->rec->terms[f->rec->redirect];

		if (spf_macro_uses_p(t->spec) && !c->p_done) {
			spf_p_start(c, SPF_P_RUN);
			return;
		}
		spf_start_term(c, t);
		return;
	}
	spf_frame_result(c, SPF_NEUTRAL, NULL);
}

/* ---- answers ---- */

/* spf_select_record - the one "v=spf1" TXT record (RFC 7208 4.5); returns
   1, 0 when there is none, -1 when there are several. */
static int
spf_select_record(const struct dns_answer *a, const struct dns_rr **rr_r)
{
	int found = 0;

	for (size_t i = 0; i < a->n; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (rr->type != DNS_T_TXT ||
		    !spf_record_is_spf((struct span){ (const uint8_t *)rr->u.txt.text, rr->u.txt.len }))
			continue;
		if (found++ > 0)
			return -1;
		*rr_r = rr;
	}
	return found;
}

static void
spf_on_record(struct spf_check *c, const struct dns_answer *a)
{
	struct spf_frame *f = spf_top(c);
	const struct dns_rr *rr = NULL;
	const char *err;
	int r = 0;

	if (spf_dns_error(a)) {
		spf_finish(c, SPF_TEMPERROR, "DNS error for %s TXT: %s", a->qname,
		           a->why != NULL ? a->why : dns_rc_name(a->rc));
		return;
	}
	if (a->rc == DNS_OK && (r = spf_select_record(a, &rr)) < 0) {
		spf_finish(c, SPF_PERMERROR, "%s has more than one SPF record", a->qname);
		return;
	}
	if (r == 0) {
		if (c->depth == 1 && !f->redirected) {
			snprintf(c->domain, sizeof(c->domain), "%s", f->domain);
			spf_finish(c, SPF_NONE, "no SPF record at %s", a->qname);
		} else {
			spf_finish(c, SPF_PERMERROR, "no SPF record at %s (%s target)", a->qname,
			           f->redirected ? "redirect" : "include");
		}
		return;
	}
	f->txt = xstrndup(rr->u.txt.text, rr->u.txt.len);
	f->rec = xmalloc(sizeof(*f->rec));
	if (spf_record_parse((struct span){ (const uint8_t *)f->txt, rr->u.txt.len }, f->rec,
	                     &err) < 0) {
		snprintf(c->domain, sizeof(c->domain), "%s", f->domain);
		spf_finish(c, SPF_PERMERROR, "invalid SPF record at %s: %s", a->qname, err);
		return;
	}
	spf_run(c);
}

/* spf_on_addr_answer - a, exists, and one name of mx or ptr. */
static void
spf_on_addrs(struct spf_check *c, const struct dns_answer *a)
{
	const struct spf_term *t = c->term;
	bool nothing = a->rc == DNS_NXDOMAIN || a->rc == DNS_NODATA;

	if (spf_dns_error(a) && c->step != SPF_ST_PTR_ADDR) {
		spf_finish(c, SPF_TEMPERROR, "DNS error for %s: %s", a->qname,
		           a->why != NULL ? a->why : dns_rc_name(a->rc));
		return;
	}
	if (a->rc == DNS_OK &&
	    (c->step == SPF_ST_EXISTS ? a->n > 0 : spf_answer_matches(c, a, t->cidr4, t->cidr6))) {
		spf_matched(c, t);
		return;
	}
	if (c->step == SPF_ST_A || c->step == SPF_ST_EXISTS) {
		if (!nothing || !spf_void(c, a))
			spf_run(c);
		return;
	}
	/* The next name of mx or ptr. */
	if (++c->iname < c->nnames) {
		spf_query(c, c->step, c->names[c->iname], spf_addr_type(c));
		return;
	}
	spf_run(c);
}

static void
spf_on_mx(struct spf_check *c, const struct dns_answer *a)
{
	if (spf_dns_error(a)) {
		spf_finish(c, SPF_TEMPERROR, "DNS error for %s MX: %s", a->qname,
		           a->why != NULL ? a->why : dns_rc_name(a->rc));
		return;
	}
	if (a->rc != DNS_OK) {
		if (!spf_void(c, a))
			spf_run(c);
		return;
	}
	if (a->n > SPF_MAX_MX) {
		spf_finish(c, SPF_PERMERROR, "%s has more than %d MX records", a->qname, SPF_MAX_MX);
		return;
	}
	c->nnames = c->iname = 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->rr[i].type == DNS_T_MX && strcmp(a->rr[i].u.mx.name, ".") != 0)
			snprintf(c->names[c->nnames++], DNS_NAME_TEXT_MAX, "%s", a->rr[i].u.mx.name);
	if (c->nnames == 0) {
		spf_run(c); /* null MX (RFC 7505): no hosts */
		return;
	}
	spf_query(c, SPF_ST_MX_ADDR, c->names[0], spf_addr_type(c));
}

/* spf_on_ptr - RFC 7208 5.5: a DNS error here means no match. */
static void
spf_on_ptr(struct spf_check *c, const struct dns_answer *a)
{
	if (a->rc == DNS_NXDOMAIN || a->rc == DNS_NODATA) {
		if (!spf_void(c, a))
			spf_run(c);
		return;
	}
	if (a->rc != DNS_OK) {
		spf_run(c);
		return;
	}
	spf_take_names(c, a, c->target);
	if (c->nnames == 0) {
		spf_run(c);
		return;
	}
	spf_query(c, SPF_ST_PTR_ADDR, c->names[0], spf_addr_type(c));
}

/* ---- explanation ---- */

/* spf_exp_text - expand the fetched explanation text (RFC 7208 6.2). */
static void
spf_exp_text(struct spf_check *c)
{
	struct spf_macro_env env;
	const char *err;
	struct span text = span_str(c->exp_spec);

	if (spf_macro_uses_p(text) && !c->p_done) {
		spf_p_start(c, SPF_P_EXP_TEXT);
		return;
	}
	spf_env(c, &env);
	if (spf_macro_expand(text, &env, true, c->explanation, sizeof(c->explanation), &err) < 0) {
		spf_finish(c, SPF_FAIL, "%s; explanation not expanded: %s", c->how, err);
		return;
	}
	c->has_explanation = true;
	spf_finish(c, SPF_FAIL, "%s", c->how);
}

static void
spf_on_exp(struct spf_check *c, const struct dns_answer *a)
{
	const struct dns_rr *rr = a->n == 1 ? &a->rr[0] : NULL;

	if (a->rc != DNS_OK || rr == NULL || rr->type != DNS_T_TXT) {
		spf_finish(c, SPF_FAIL, "%s; no single explanation at %s", c->how, a->qname);
		return;
	}
	if (rr->u.txt.len >= sizeof(c->exp_spec) || strlen(rr->u.txt.text) != rr->u.txt.len) {
		spf_finish(c, SPF_FAIL, "%s; explanation unusable", c->how);
		return;
	}
	memcpy(c->exp_spec, rr->u.txt.text, rr->u.txt.len + 1);
	spf_exp_text(c);
}

static void
spf_on_dns(void *ctx, const struct dns_answer *a)
{
	struct spf_check *c = ctx;

	c->q = NULL;
	if (c->finished)
		return;
	switch (c->step) {
	case SPF_ST_RECORD:
		spf_on_record(c, a);
		break;
	case SPF_ST_A:
	case SPF_ST_EXISTS:
	case SPF_ST_MX_ADDR:
	case SPF_ST_PTR_ADDR:
		spf_on_addrs(c, a);
		break;
	case SPF_ST_MX:
		spf_on_mx(c, a);
		break;
	case SPF_ST_PTR:
		spf_on_ptr(c, a);
		break;
	case SPF_ST_P_PTR:
	case SPF_ST_P_ADDR:
		spf_on_p(c, a);
		break;
	case SPF_ST_EXP:
		spf_on_exp(c, a);
		break;
	}
}

/* ---- starting ---- */

/* spf_parse_ip - the client address; IPv4-mapped IPv6 counts as IPv4. */
static int
spf_parse_ip(struct spf_check *c, const char *ip)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (inet_pton(AF_INET, ip, c->addr) == 1) {
		c->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, c->addr) != 1)
		return -1;
	c->family = AF_INET6;
	if (memcmp(c->addr, mapped, sizeof(mapped)) == 0) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = AF_INET;
	}
	return 0;
}

/* spf_identity - <sender>, its local part and domain (RFC 7208 2.4, 4.3). */
static void
spf_identity(struct spf_check *c, const struct spf_request *req)
{
	const char *sender = req->sender != NULL ? req->sender : "";
	const char *helo = req->helo != NULL ? req->helo : "";
	const char *at = strrchr(sender, '@');

	c->helo = xstrdup(helo);
	/* A null path is still the MAIL FROM identity, built from the HELO
	   name (RFC 7208 2.4). */
	if (c->helo_identity || sender[0] == '\0') {
		c->local = xstrdup("postmaster");
		c->sender_domain = xstrdup(helo);
	} else if (at == NULL) {
		c->local = xstrdup("postmaster");
		c->sender_domain = xstrdup(sender);
	} else {
		c->local = at == sender ? xstrdup("postmaster") : xstrndup(sender, (size_t)(at - sender));
		c->sender_domain = xstrdup(at + 1);
	}
	c->sender = xasprintf("%s@%s", c->local, c->sender_domain);
}

/* spf_domain_ok - RFC 7208 4.3: a well-formed, multi-label domain. */
static bool
spf_domain_ok(const char *d)
{
	const char *dot = strchr(d, '.');

	return dns_name_is_valid(d) && dot != NULL && dot[1] != '\0' && !dns_name_is_ip_literal(d);
}

struct spf_check *
spf_check_start(uv_loop_t *loop, struct dns *dns, const struct spf_request *req,
                spf_done_fn *done, void *ctx)
{
	struct spf_check *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->dns = dns;
	c->done = done;
	c->ctx = ctx;
	c->helo_identity = req->helo_identity;
	c->ip_text = xstrdup(req->ip != NULL ? req->ip : "");
	c->receiver = req->receiver != NULL ? xstrdup(req->receiver) : NULL;
	spf_identity(c, req);
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	uv_timer_start(&c->timer, spf_on_deadline, req->timeout_ms > 0 ? req->timeout_ms : SPF_TIMEOUT_MS,
	               0);
	snprintf(c->domain, sizeof(c->domain), "%s", c->sender_domain);
	if (spf_parse_ip(c, c->ip_text) < 0) {
		spf_finish(c, SPF_PERMERROR, "invalid client address");
		return c;
	}
	if (!spf_domain_ok(c->sender_domain)) {
		spf_finish(c, SPF_NONE, "no valid domain to check");
		return c;
	}
	spf_fetch(c, c->sender_domain, true, false);
	return c;
}

void
spf_check_cancel(struct spf_check **cp)
{
	struct spf_check *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->delivering)
		return; /* a misuse (the handle died with the callback) made harmless */
	c->finished = true;
	spf_destroy(c);
}
