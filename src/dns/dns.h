/*
 * dns.h -- asynchronous DNS resolver on the libuv loop (libunbound).
 *
 * Queries run in libunbound's background thread; answers come back through
 * its pipe (ub_fd), which a uv_poll_t watches, and every callback runs on
 * the loop thread, never inside dns_query(). Each answer keeps its DNSSEC
 * status (secure, or bogus with the reason) for DANE (RFC 7672).
 * Limits: an overall time cap per query (DNS_TIMEOUT_MS) on top of
 * libunbound's own retries, a cap on outstanding queries (DNS_MAX_QUERIES),
 * names and rdata bounded as in dns_rr.h.
 * Standards: RFC 1035, RFC 4033-4035 (validation by libunbound).
 * Security: answers are remote data: rdata is decoded with bounds checks
 * (dns_rr.c). Validation is on when the root trust anchor is installed.
 */
#ifndef HIKYAKU_DNS_DNS_H
#define HIKYAKU_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dns/dns_rr.h"

#define DNS_TRUST_ANCHOR "/usr/share/dns/root.key" /* Debian: dns-root-data */
#define DNS_TIMEOUT_MS (30 * 1000)
#define DNS_MAX_QUERIES 10000

struct dns;
struct dns_query;

enum dns_rc {
	DNS_OK,
	DNS_NXDOMAIN,
	DNS_NODATA,
	DNS_TEMPFAIL, /* SERVFAIL, REFUSED, timeout, network, too many queries */
	DNS_BOGUS,    /* DNSSEC validation failed: treat as TEMPFAIL, log why_bogus */
};

struct dns_answer {
	enum dns_rc rc;
	bool secure;           /* DNSSEC-authenticated (data or denial) */
	const char *why_bogus; /* DNS_BOGUS: libunbound's reason, else NULL */
	const char *why;       /* rc not OK/NODATA/NXDOMAIN: short reason for logs */
	size_t n;
	struct dns_rr *rr; /* n records of qtype (CNAMEs followed) */
	const char *qname;
	uint16_t qtype;
};

/* `a` and everything it points to are valid only during the call. */
typedef void dns_done_fn(void *ctx, const struct dns_answer *a);

struct dns_opts {
	/* NULL or "": system settings (/etc/resolv.conf, /etc/hosts);
	   "ADDR" or "ADDR@PORT": forward every query to that server only. */
	const char *server;
	const char *trust_anchor; /* NULL: DNS_TRUST_ANCHOR; "": no validation */
	unsigned timeout_ms;      /* 0: DNS_TIMEOUT_MS */
	unsigned max_queries;     /* 0: DNS_MAX_QUERIES */
	/* With a forwarder: report failed validation as DNS_BOGUS, as without
	   one (for a forwarder known to serve the chain of trust). */
	bool strict;
};

/*
 * A resolver bound to `loop`, with the defaults for everything but the
 * server (see struct dns_opts). Validation runs when the trust anchor file
 * exists (one log line says when it does not). With a forwarder (unless
 * o->strict), a failed validation is reported as insecure, not bogus: a
 * forwarder may be an authoritative test server or a split-horizon view
 * that cannot serve the chain of trust, and its unsigned answers must stay
 * usable; they are never reported secure either.
 * Returns NULL with *error_r (static) on a bad server string or a
 * libunbound setup failure.
 */
struct dns *dns_new(uv_loop_t *loop, const char *server, const char **error_r);
struct dns *dns_new_opts(uv_loop_t *loop, const struct dns_opts *o, const char **error_r);

/* Cancels every outstanding query without calling its callback, and frees
   the resolver (the memory on the loop's next iteration, once libuv has
   closed its handles). May be called from a callback. NULL is a no-op. */
void dns_free(struct dns **d);

/*
 * Starts a query for `name` of `type` (DNS_T_A, _AAAA, _MX, _TXT, _TLSA,
 * _PTR, _SRV; another type is our bug). `done` runs once, later, on the loop.
 * Returns NULL only when `name` cannot be asked (dns_name_is_queryable):
 * callers treat that as a permanent failure. Host names must be checked
 * with dns_name_is_valid() by the caller. Past the outstanding-query cap
 * the query still returns a handle and completes with DNS_TEMPFAIL.
 * The handle is invalid once `done` has started.
 */
struct dns_query *dns_query(struct dns *d, const char *name, uint16_t type, dns_done_fn *done,
                            void *ctx);

/* Stops a query: its callback never runs. Sets *q to NULL; NULL is a no-op. */
void dns_cancel(struct dns_query **q);

const char *dns_rc_name(enum dns_rc rc);

#endif
