/*
 * dns.c -- asynchronous DNS resolver on the libuv loop (libunbound).
 *
 * Threading. ub_ctx_async(ctx, 1): libunbound resolves in one background
 * thread of its own and writes answers to a pipe; ub_process(), called when
 * the pipe is readable, runs our ub callback on the loop thread. The other
 * mode (0) forks a resolver process instead, which would inherit every
 * listening socket and open file of the daemon; the thread shares nothing
 * with us but that pipe.
 *
 * Queries live on one of two lists. `pending`: handed to libunbound, in
 * deadline order (every query gets the same time cap, so appending keeps
 * the order and one uv timer serves them all). `ready`: answered, timed
 * out or failed at once, waiting for dns_dispatch() to call back. The ub
 * callback only moves a query from pending to ready; user callbacks run
 * from dns_dispatch() after ub_process() has returned, so a callback may
 * start, cancel or free anything, the resolver included.
 *
 * Limits: timeout_ms per query overall, max_queries outstanding (dns.h).
 * Standards: RFC 1035, RFC 4033-4035 (validation done by libunbound).
 * Security: rdata decoded by dns_rr.c with bounds checks; validation on
 * when the root trust anchor is installed.
 */
#include <arpa/inet.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unbound.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "dns/dns.h"

#define DNS_CLASS_IN 1
#define DNS_RCODE_NXDOMAIN 3

struct dns_list {
	struct dns_query *head, *tail;
	size_t n;
};

struct dns {
	uv_loop_t *loop;
	struct ub_ctx *ub;
	uv_poll_t poll;  /* ub_fd(): answers waiting */
	uv_timer_t cap;  /* the first pending query's deadline */
	uv_timer_t kick; /* ready queries to call back */
	struct dns_list pending, ready;
	unsigned timeout_ms, max_queries;
	unsigned handles; /* libuv handles not yet closed */
	bool closing, broken;
};

struct dns_query {
	struct dns *d;
	struct dns_query *prev, *next;
	struct dns_list *list; /* the list it is on, or NULL */
	uint64_t deadline;     /* uv_now() time */
	int ub_id;
	uint16_t type;
	dns_done_fn *done;
	void *ctx;
	int ub_err;            /* from libunbound's callback */
	struct ub_result *res; /* owned; NULL when failed */
	const char *fail;      /* set: completes as DNS_TEMPFAIL with this reason */
	bool delivering;       /* inside its callback: dns_dispatch() frees it */
	char name[DNS_NAME_TEXT_MAX];
};

static atomic_bool dns_said_no_anchor;

static void dns_on_cap(uv_timer_t *t);
static void dns_on_kick(uv_timer_t *t);

const char *
dns_rc_name(enum dns_rc rc)
{
	switch (rc) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NODATA:
		return "nodata";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_BOGUS:
		return "bogus";
	}
	return "?";
}

static void
dns_list_add(struct dns_list *l, struct dns_query *q)
{
	BUG_ON(q->list != NULL);
	q->list = l;
	q->next = NULL;
	q->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
	l->n++;
}

static void
dns_list_del(struct dns_query *q)
{
	struct dns_list *l = q->list;

	if (l == NULL)
		return;
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		l->head = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	else
		l->tail = q->prev;
	l->n--;
	q->list = NULL;
	q->prev = q->next = NULL;
}

static void
dns_query_destroy(struct dns_query *q)
{
	dns_list_del(q);
	ub_resolve_free(q->res);
	free(q);
}

/* dns_arm_cap - the cap timer follows the first pending deadline; with
   nothing pending it stops, so an idle resolver keeps no loop alive. */
static void
dns_arm_cap(struct dns *d)
{
	uint64_t now = uv_now(d->loop);
	struct dns_query *q = d->pending.head;

	if (q == NULL) {
		uv_timer_stop(&d->cap);
		return;
	}
	uv_timer_start(&d->cap, dns_on_cap, q->deadline > now ? q->deadline - now : 0, 0);
}

/* dns_make_ready - queue q for its callback (from pending or from nowhere). */
static void
dns_make_ready(struct dns_query *q)
{
	struct dns *d = q->d;
	bool was_pending = q->list == &d->pending;

	dns_list_del(q);
	dns_list_add(&d->ready, q);
	if (was_pending && d->pending.n == 0)
		uv_timer_stop(&d->cap);
}

/* dns_fail_soon - complete q with DNS_TEMPFAIL on the next loop turn. */
static void
dns_fail_soon(struct dns_query *q, const char *why)
{
	q->fail = why;
	dns_make_ready(q);
	uv_timer_start(&q->d->kick, dns_on_kick, 0, 0);
}

/* dns_decode_all - turns the rdata items of res into a->rr; malformed
   items are dropped. Returns the number kept. */
static size_t
dns_decode_all(struct dns_query *q, struct dns_answer *a)
{
	const struct ub_result *res = q->res;
	size_t n = 0, kept = 0;

	while (res->data[n] != NULL)
		n++;
	a->rr = xcalloc(n, sizeof(*a->rr));
	for (size_t i = 0; i < n; i++) {
		struct dns_rr *rr = &a->rr[kept];

		if (res->len[i] < 0 || dns_rr_decode(rr, q->type, (const uint8_t *)res->data[i],
		                                     (size_t)res->len[i]) < 0)
			continue;
		rr->ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
		kept++;
	}
	if (kept < n)
		log_warnx("dns: malformed rdata qname=%s qtype=%u dropped=%zu", q->name, q->type,
		          n - kept);
	return kept;
}

/* dns_classify - fills the answer from libunbound's result. */
static void
dns_classify(struct dns_query *q, struct dns_answer *a)
{
	const struct ub_result *res = q->res;

	a->rc = DNS_TEMPFAIL;
	if (q->fail != NULL) {
		a->why = q->fail;
		return;
	}
	if (q->ub_err != 0 || res == NULL) {
		a->why = ub_strerror(q->ub_err);
		return;
	}
	if (res->bogus) {
		a->rc = DNS_BOGUS;
		a->why = a->why_bogus =
		        res->why_bogus != NULL ? res->why_bogus : "validation failed";
		return;
	}
	a->secure = res->secure != 0;
	if (res->rcode == DNS_RCODE_NXDOMAIN || res->nxdomain) {
		a->rc = DNS_NXDOMAIN;
	} else if (res->rcode != 0) {
		a->why = res->rcode == 2 ? "SERVFAIL" : res->rcode == 5 ? "REFUSED" : "DNS error";
	} else if (!res->havedata) {
		a->rc = DNS_NODATA;
	} else if ((a->n = dns_decode_all(q, a)) > 0) {
		a->rc = DNS_OK;
	} else {
		a->why = "malformed answer";
	}
}

/* dns_deliver - one callback, then the answer's memory is released. */
static void
dns_deliver(struct dns_query *q)
{
	struct dns_answer a = { .qname = q->name, .qtype = q->type };

	dns_classify(q, &a);
	q->done(q->ctx, &a);
	for (size_t i = 0; i < a.n; i++)
		dns_rr_clear(&a.rr[i]);
	free(a.rr);
}

/* dns_dispatch - call back every ready query; stops if a callback frees
   the resolver (its memory stays valid until the handles are closed). */
static void
dns_dispatch(struct dns *d)
{
	struct dns_query *q;

	while (!d->closing && (q = d->ready.head) != NULL) {
		dns_list_del(q); /* detached: dns_free() from the callback won't see it */
		q->delivering = true;
		dns_deliver(q);
		dns_query_destroy(q);
	}
}

static void
dns_on_kick(uv_timer_t *t)
{
	dns_dispatch(t->data);
}

/* dns_on_cap - pending queries past their deadline become DNS_TEMPFAIL. */
static void
dns_on_cap(uv_timer_t *t)
{
	struct dns *d = t->data;
	uint64_t now = uv_now(d->loop);
	struct dns_query *q;

	while ((q = d->pending.head) != NULL && q->deadline <= now) {
		/* In thread mode ub_cancel() only marks the query: it cannot
		   fail for a query whose callback has not run. */
		BUG_ON(ub_cancel(d->ub, q->ub_id) != 0);
		q->fail = "timeout";
		dns_make_ready(q);
	}
	dns_arm_cap(d);
	dns_dispatch(d);
}

/* dns_on_ub - libunbound's callback, inside ub_process(): park the result. */
static void
dns_on_ub(void *arg, int err, struct ub_result *res)
{
	struct dns_query *q = arg;

	q->ub_err = err;
	q->res = res;
	dns_make_ready(q);
}

static void
dns_on_readable(uv_poll_t *p, int status, int events)
{
	struct dns *d = p->data;
	int r = 0;

	(void)events;
	if (status == 0 && (r = ub_process(d->ub)) == 0) {
		dns_arm_cap(d);
		dns_dispatch(d);
		return;
	}
	/* The answer pipe is broken (the resolver thread is gone): stop
	   watching it, or a readable EOF would spin the loop. Pending queries
	   run into their time cap; new ones fail at once. */
	log_warnx("dns: resolver stopped: %s", status != 0 ? uv_strerror(status) : ub_strerror(r));
	d->broken = true;
	uv_poll_stop(&d->poll);
	dns_dispatch(d);
}

static void
dns_on_closed(uv_handle_t *h)
{
	struct dns *d = h->data;

	if (--d->handles == 0)
		free(d);
}

struct dns_query *
dns_query(struct dns *d, const char *name, uint16_t type, dns_done_fn *done, void *ctx)
{
	struct dns_query *q;
	char wire[4 * DNS_NAME_TEXT_MAX];
	int r;

	BUG_ON(done == NULL || d->closing);
	BUG_ON(type != DNS_T_A && type != DNS_T_AAAA && type != DNS_T_MX && type != DNS_T_TXT &&
	       type != DNS_T_TLSA && type != DNS_T_PTR && type != DNS_T_SRV);
	if (!dns_name_is_queryable(name) || dns_name_escape(name, wire, sizeof(wire)) < 0)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->d = d;
	q->type = type;
	q->done = done;
	q->ctx = ctx;
	memcpy(q->name, name, strlen(name) + 1); /* valid names are < 256 */
	if (d->broken) {
		dns_fail_soon(q, "resolver stopped");
		return q;
	}
	if (d->pending.n >= d->max_queries) {
		dns_fail_soon(q, "too many outstanding queries");
		return q;
	}
	r = ub_resolve_async(d->ub, wire, type, DNS_CLASS_IN, q, dns_on_ub, &q->ub_id);
	if (r != 0) {
		dns_fail_soon(q, ub_strerror(r));
		return q;
	}
	q->deadline = uv_now(d->loop) + d->timeout_ms;
	dns_list_add(&d->pending, q);
	if (d->pending.n == 1)
		dns_arm_cap(d);
	return q;
}

void
dns_cancel(struct dns_query **qp)
{
	struct dns_query *q = *qp;

	if (q == NULL)
		return;
	*qp = NULL;
	if (q->delivering)
		return; /* a misuse (the handle died with the call) made harmless */
	if (q->list == &q->d->pending) {
		BUG_ON(ub_cancel(q->d->ub, q->ub_id) != 0); /* see dns_on_cap() */
		dns_list_del(q);
		if (q->d->pending.n == 0)
			uv_timer_stop(&q->d->cap);
	}
	dns_query_destroy(q);
}

/* dns_parse_server - "ADDR" or "ADDR@PORT", the form ub_ctx_set_fwd() takes. */
static int
dns_parse_server(const char *server, const char **error_r)
{
	char addr[INET6_ADDRSTRLEN];
	const char *at = strrchr(server, '@');
	size_t alen = at != NULL ? (size_t)(at - server) : strlen(server);
	unsigned char bin[sizeof(struct in6_addr)];

	*error_r = "dns_server: expected ADDR or ADDR@PORT with a numeric address";
	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, server, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
		return -1;
	if (at != NULL) {
		char *end;
		unsigned long port;

		if (at[1] < '0' || at[1] > '9')
			return -1;
		port = strtoul(at + 1, &end, 10);
		if (*end != '\0' || port == 0 || port > 65535)
			return -1;
	}
	return 0;
}

/* dns_set - one libunbound option; a failure is a setup error. */
static int
dns_set(struct ub_ctx *ub, const char *opt, const char *val, const char **error_r)
{
	if (ub_ctx_set_option(ub, opt, val) != 0) {
		*error_r = "dns: libunbound rejected an option";
		return -1;
	}
	return 0;
}

/*
 * dns_setup_forwarder - every query to `server`. The tests' zones sit
 * under "test.", which libunbound otherwise answers itself (RFC 6761
 * defaults), and split-horizon servers serve private reverse zones; a
 * transparent local zone lets those queries through. ("nodefault" would say
 * so more directly, but libunbound 1.17 mis-parses it from set_option.)
 */
static int
dns_setup_forwarder(struct ub_ctx *ub, const char *server, bool strict, const char **error_r)
{
	if (dns_parse_server(server, error_r) < 0)
		return -1;
	if (ub_ctx_set_fwd(ub, server) != 0) {
		*error_r = "dns_server: libunbound rejected the address";
		return -1;
	}
	if (dns_set(ub, "local-zone:", "test. transparent", error_r) < 0 ||
	    dns_set(ub, "unblock-lan-zones:", "yes", error_r) < 0 ||
	    dns_set(ub, "insecure-lan-zones:", "yes", error_r) < 0)
		return -1;
	/* Bogus becomes insecure (see dns_new() in dns.h): never a failure,
	   never "secure" either, so DANE is simply not used. */
	return strict ? 0 : dns_set(ub, "val-permissive-mode:", "yes", error_r);
}

/* dns_setup_system - the resolvers in /etc/resolv.conf and /etc/hosts. */
static void
dns_setup_system(struct ub_ctx *ub)
{
	int r;

	if ((r = ub_ctx_resolvconf(ub, NULL)) != 0)
		log_warnx("dns: /etc/resolv.conf: %s: resolving from the root servers",
		          ub_strerror(r));
	if ((r = ub_ctx_hosts(ub, NULL)) != 0)
		log_warnx("dns: /etc/hosts: %s: ignored", ub_strerror(r));
}

/* dns_setup_validation - the root trust anchor, or no validator at all. */
static int
dns_setup_validation(struct ub_ctx *ub, const char *anchor, const char **error_r)
{
	if (anchor == NULL)
		anchor = DNS_TRUST_ANCHOR;
	if (anchor[0] != '\0' && access(anchor, R_OK) == 0) {
		if (ub_ctx_add_ta_file(ub, anchor) != 0) {
			*error_r = "dns: cannot use the trust anchor file";
			return -1;
		}
		return 0;
	}
	/* Once per process, not once per resolver (one per loop). */
	if (anchor[0] != '\0' && !atomic_exchange(&dns_said_no_anchor, true))
		log_info("dns: no DNSSEC trust anchor at %s (package dns-root-data): "
		         "answers are not validated",
		         anchor);
	return dns_set(ub, "module-config:", "iterator", error_r);
}

/* dns_ub_new - a libunbound context configured from o. */
static struct ub_ctx *
dns_ub_new(const struct dns_opts *o, const char **error_r)
{
	struct ub_ctx *ub = ub_ctx_create();

	if (ub == NULL) {
		*error_r = "dns: cannot create a libunbound context";
		return NULL;
	}
	if (ub_ctx_async(ub, 1) != 0 || dns_set(ub, "do-not-query-localhost:", "no", error_r) < 0 ||
	    dns_setup_validation(ub, o->trust_anchor, error_r) < 0) {
		*error_r = *error_r != NULL ? *error_r : "dns: libunbound setup failed";
		ub_ctx_delete(ub);
		return NULL;
	}
	if (o->server != NULL && o->server[0] != '\0') {
		if (dns_setup_forwarder(ub, o->server, o->strict, error_r) < 0) {
			ub_ctx_delete(ub);
			return NULL;
		}
	} else {
		dns_setup_system(ub);
	}
	return ub;
}

struct dns *
dns_new_opts(uv_loop_t *loop, const struct dns_opts *o, const char **error_r)
{
	struct dns *d;
	struct ub_ctx *ub;

	*error_r = NULL;
	if ((ub = dns_ub_new(o, error_r)) == NULL)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->ub = ub;
	d->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DNS_TIMEOUT_MS;
	d->max_queries = o->max_queries > 0 ? o->max_queries : DNS_MAX_QUERIES;
	if (uv_poll_init(loop, &d->poll, ub_fd(ub)) != 0) {
		*error_r = "dns: cannot watch libunbound's answer pipe";
		ub_ctx_delete(ub);
		free(d);
		return NULL;
	}
	uv_timer_init(loop, &d->cap);
	uv_timer_init(loop, &d->kick);
	d->poll.data = d->cap.data = d->kick.data = d;
	d->handles = 3;
	uv_poll_start(&d->poll, UV_READABLE, dns_on_readable);
	/* The pipe alone keeps no loop alive: pending queries hold the cap
	   timer, which is enough. */
	uv_unref((uv_handle_t *)&d->poll);
	return d;
}

struct dns *
dns_new(uv_loop_t *loop, const char *server, const char **error_r)
{
	struct dns_opts o = { .server = server };

	return dns_new_opts(loop, &o, error_r);
}

/* dns_drop_all - free the queries on l without calling back. */
static void
dns_drop_all(struct dns_list *l)
{
	while (l->head != NULL)
		dns_query_destroy(l->head);
}

void
dns_free(struct dns **dp)
{
	struct dns *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	BUG_ON(d->closing);
	d->closing = true;
	dns_drop_all(&d->pending);
	dns_drop_all(&d->ready);
	/* libuv must stop polling the fd before libunbound closes it. */
	uv_close((uv_handle_t *)&d->poll, dns_on_closed);
	uv_close((uv_handle_t *)&d->cap, dns_on_closed);
	uv_close((uv_handle_t *)&d->kick, dns_on_closed);
	/* Joins the resolver thread; queries it still holds are discarded. */
	ub_ctx_delete(d->ub);
	d->ub = NULL;
}
