/*
 * anvil.h -- per-client-IP counters: concurrent connections and AUTH
 * failures with lockout (after Postfix's anvil(8)).
 *
 * Limits: at most ANVIL_MAX_ENTRIES addresses are tracked; when full, the
 * least recently used idle entry is evicted, and a new address that finds
 * only busy entries is not tracked (its count reads 1: fail open, since by
 * then per-IP limits no longer describe the load).
 * XXX: IPv6 is counted per address; aggregating per /64 is later work.
 * Security: the hash table is keyed with a random SipHash key, so a client
 * choosing its IPv6 addresses cannot build long chains. Not thread-safe: one
 * anvil per event loop (or a lock) until counters move to their own process.
 */
#ifndef HIKYAKU_NET_ANVIL_H
#define HIKYAKU_NET_ANVIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANVIL_MAX_ENTRIES 65536

struct anvil;

struct anvil *anvil_new(void);
/* Frees and sets *a to NULL; accepts NULL. */
void anvil_free(struct anvil **a);

/* A connection from ip (numeric, as conn_peer_ip gives it) opened. Returns
   the number of connections now open from it. */
unsigned anvil_conn_open(struct anvil *a, const char *ip);
/* The matching close; an unknown ip is ignored. */
void anvil_conn_close(struct anvil *a, const char *ip);

/*
 * An AUTH failure from ip at now_ms. Failures are counted in a window of
 * lockout_ms that starts at the first one; the one that reaches `limit`
 * locks ip out until now_ms + lockout_ms and starts a new count. Returns the
 * count including this failure (== limit when it locked), 0 if untracked.
 */
unsigned anvil_auth_fail(struct anvil *a, const char *ip, uint64_t now_ms, unsigned limit,
                         uint64_t lockout_ms);
/* True while ip is locked out at now_ms. */
bool anvil_auth_locked(struct anvil *a, const char *ip, uint64_t now_ms);
/* A successful AUTH: forget ip's failure count (an active lockout stays). */
void anvil_auth_ok(struct anvil *a, const char *ip);

/* Addresses tracked now (statistics, tests). */
size_t anvil_entries(const struct anvil *a);

#endif
