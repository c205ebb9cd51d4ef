/*
 * dns_mx.h -- where to deliver mail for a domain: MX hosts and addresses.
 *
 * One request looks up the domain's MX records (or, without any, the
 * domain's own addresses), orders the hosts and resolves A and AAAA for
 * each in parallel, then calls back once with the whole list.
 * Limits: DNS_MX_MAX_HOSTS hosts (the best by preference), DNS_MX_MAX_ADDRS
 * addresses each; every lookup is bounded by the resolver's time cap.
 * Standards: RFC 5321 5.1 (MX order, implicit MX, no IP literals as hosts),
 * RFC 7505 (null MX), RFC 7672 2.2 (DNSSEC status that DANE needs).
 * Security: all names come from DNS and are validated before use.
 */
#ifndef HIKYAKU_DNS_DNS_MX_H
#define HIKYAKU_DNS_DNS_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"

#define DNS_MX_MAX_HOSTS 10
#define DNS_MX_MAX_ADDRS 16

struct dns_mx_host {
	char name[DNS_NAME_TEXT_MAX];
	uint16_t pref;
	/* Every A/AAAA answer for this host was authenticated. DANE needs
	   this and the result's mx_secure (RFC 7672 2.2.1, 2.2.2). */
	bool secure;
	size_t naddrs;
	struct sockaddr_storage
	        addrs[DNS_MX_MAX_ADDRS]; /* v6 and v4 interleaved, v6 first, port 0 */
};

struct dns_mx_result {
	enum {
		DNS_MX_OK,
		DNS_MX_NULL,     /* RFC 7505 null MX: bounce now */
		DNS_MX_NXDOMAIN, /* permanent: no such domain, or no usable host: bounce */
		DNS_MX_TEMPFAIL, /* defer */
	} rc;
	const char *reason; /* rc != OK: for the log and the DSN; inside this allocation */
	bool mx_secure;     /* the MX answer (or its denial, when implicit) was authenticated */
	bool implicit;      /* no MX: the domain's own A/AAAA (RFC 5321 5.1) */
	size_t nhosts;
	struct dns_mx_host hosts[]; /* by preference, random order among equals */
};

/* The callback owns r and free()s it. */
typedef void dns_mx_done_fn(void *ctx, struct dns_mx_result *r);

struct dns_mx_req;

/*
 * Starts the lookup for `domain`; `done` runs once, later, on the loop.
 * Returns NULL only when `domain` is not a valid domain name. Only hosts
 * with at least one address are listed: a host whose lookups failed is
 * dropped, and when no host is left the result is DNS_MX_TEMPFAIL if any
 * lookup failed temporarily, DNS_MX_NXDOMAIN otherwise. The handle is
 * invalid once `done` has started.
 */
struct dns_mx_req *dns_mx_resolve(struct dns *d, const char *domain, dns_mx_done_fn *done,
                                  void *ctx);

/* Stops the request and its lookups; `done` never runs. Sets *r to NULL.
   The resolver does not know its MX requests: cancel them before
   dns_free(). */
void dns_mx_cancel(struct dns_mx_req **r);

/* A uniform random number below upper_bound (> 0). */
typedef uint32_t dns_mx_rng_fn(void *ctx, uint32_t upper_bound);

/*
 * Orders n MX records by preference, shuffling records of equal preference
 * with rng (NULL: libsodium's randombytes_uniform). Pure apart from rng.
 */
void dns_mx_sort(struct dns_rr *mx, size_t n, dns_mx_rng_fn *rng, void *rng_ctx);

/*
 * The hosts to try, from the records of an MX answer: drops the null MX
 * target ".", names that are not valid host names or are IP literals and
 * repeated names (the best preference stays), sorts as dns_mx_sort() and
 * keeps the first DNS_MX_MAX_HOSTS. Works in place; returns the count.
 * A single "." of preference 0 (a null MX) is the caller's to detect first.
 */
size_t dns_mx_select(struct dns_rr *mx, size_t n, dns_mx_rng_fn *rng, void *rng_ctx);

/* True when an MX answer is exactly the RFC 7505 null MX. */
bool dns_mx_is_null(const struct dns_rr *mx, size_t n);

#endif
