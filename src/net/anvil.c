/*
 * anvil.c -- per-IP counters in a bounded, keyed hash table.
 *
 * Entries are keyed by the 16-byte address (IPv4 as ::ffff:a.b.c.d), so
 * "192.0.2.1" and "::ffff:192.0.2.1" or differently written IPv6 forms count
 * together. An entry with open connections is busy and never evicted; an
 * idle entry (only AUTH state left) sits on an LRU list, from which expired
 * entries are swept a few at a time and the oldest is evicted at the cap.
 * Text that is not an address shares one "unparsable" entry: over-counting
 * is the safe side for limits.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "net/anvil.h"

#define ANVIL_SWEEP 8 /* expired entries examined per timed call */

struct anvil_entry {
	struct anvil_entry *hnext;       /* hash chain */
	struct anvil_entry *prev, *next; /* idle LRU list, head = most recent */
	uint64_t hash;
	uint8_t addr[16];
	unsigned conns;
	unsigned fails;
	uint64_t window_end; /* failures before this are counted together */
	uint64_t locked_until;
	bool idle; /* on the LRU list */
};

struct anvil {
	struct anvil_entry **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	struct anvil_entry *lru_head, *lru_tail;
	unsigned char key[crypto_shorthash_KEYBYTES];
};

struct anvil *
anvil_new(void)
{
	struct anvil *a;

	if (sodium_init() < 0)
		die("anvil: libsodium initialisation failed");
	a = xcalloc(1, sizeof(*a));
	a->nbuckets = 64;
	a->buckets = xcalloc(a->nbuckets, sizeof(*a->buckets));
	randombytes_buf(a->key, sizeof(a->key));
	return a;
}

void
anvil_free(struct anvil **ap)
{
	struct anvil *a = *ap;

	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nbuckets; i++) {
		struct anvil_entry *e = a->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	free(a->buckets);
	free(a);
	*ap = NULL;
}

size_t
anvil_entries(const struct anvil *a)
{
	return a->count;
}

/* anvil_key - canonical 16-byte form of a numeric address. */
static void
anvil_key(const char *ip, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET6, ip, addr) == 1)
		return;
	if (inet_pton(AF_INET, ip, addr + 12) == 1) {
		addr[10] = addr[11] = 0xff;
		return;
	}
	memset(addr, 0, 16); /* the shared "unparsable" entry */
}

static uint64_t
anvil_hash(const struct anvil *a, const uint8_t addr[16])
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, addr, 16, a->key);
	memcpy(&v, h, sizeof(v));
	return v;
}

static void
anvil_lru_unlink(struct anvil *a, struct anvil_entry *e)
{
	if (!e->idle)
		return;
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		a->lru_head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		a->lru_tail = e->prev;
	e->prev = e->next = NULL;
	e->idle = false;
}

static void
anvil_lru_push(struct anvil *a, struct anvil_entry *e)
{
	anvil_lru_unlink(a, e);
	e->next = a->lru_head;
	if (a->lru_head != NULL)
		a->lru_head->prev = e;
	a->lru_head = e;
	if (a->lru_tail == NULL)
		a->lru_tail = e;
	e->idle = true;
}

static void
anvil_remove(struct anvil *a, struct anvil_entry *e)
{
	struct anvil_entry **pp = &a->buckets[e->hash & (a->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	anvil_lru_unlink(a, e);
	a->count--;
	free(e);
}

/* anvil_grow - double the bucket array to keep chains short. */
static void
anvil_grow(struct anvil *a)
{
	size_t n = a->nbuckets * 2;
	struct anvil_entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < a->nbuckets; i++) {
		struct anvil_entry *e = a->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(a->buckets);
	a->buckets = b;
	a->nbuckets = n;
}

static struct anvil_entry *
anvil_find(const struct anvil *a, const uint8_t addr[16], uint64_t hash)
{
	struct anvil_entry *e = a->buckets[hash & (a->nbuckets - 1)];

	while (e != NULL && (e->hash != hash || memcmp(e->addr, addr, 16) != 0))
		e = e->hnext;
	return e;
}

/* anvil_get - find or create ip's entry; NULL when full of busy entries. */
static struct anvil_entry *
anvil_get(struct anvil *a, const char *ip, bool create)
{
	uint8_t addr[16];
	uint64_t hash;
	struct anvil_entry *e;

	anvil_key(ip, addr);
	hash = anvil_hash(a, addr);
	if ((e = anvil_find(a, addr, hash)) != NULL || !create)
		return e;
	if (a->count >= ANVIL_MAX_ENTRIES) {
		if (a->lru_tail == NULL)
			return NULL;
		anvil_remove(a, a->lru_tail);
	}
	if (a->count >= a->nbuckets)
		anvil_grow(a);
	e = xcalloc(1, sizeof(*e));
	memcpy(e->addr, addr, 16);
	e->hash = hash;
	e->hnext = a->buckets[hash & (a->nbuckets - 1)];
	a->buckets[hash & (a->nbuckets - 1)] = e;
	a->count++;
	return e;
}

static bool
anvil_expired(const struct anvil_entry *e, uint64_t now_ms)
{
	return e->conns == 0 && now_ms >= e->locked_until &&
	       (e->fails == 0 || now_ms >= e->window_end);
}

/* anvil_sweep - drop a few expired idle entries, oldest first. */
static void
anvil_sweep(struct anvil *a, uint64_t now_ms)
{
	for (int i = 0; i < ANVIL_SWEEP && a->lru_tail != NULL; i++) {
		if (!anvil_expired(a->lru_tail, now_ms))
			break;
		anvil_remove(a, a->lru_tail);
	}
}

/* anvil_settle - after a change: free an empty entry, or queue it as idle. */
static void
anvil_settle(struct anvil *a, struct anvil_entry *e)
{
	if (e->conns > 0)
		anvil_lru_unlink(a, e);
	else if (e->fails == 0 && e->locked_until == 0)
		anvil_remove(a, e);
	else
		anvil_lru_push(a, e);
}

unsigned
anvil_conn_open(struct anvil *a, const char *ip)
{
	struct anvil_entry *e = anvil_get(a, ip, true);

	if (e == NULL)
		return 1;
	e->conns++;
	anvil_settle(a, e);
	return e->conns;
}

void
anvil_conn_close(struct anvil *a, const char *ip)
{
	struct anvil_entry *e = anvil_get(a, ip, false);

	if (e == NULL || e->conns == 0)
		return;
	e->conns--;
	anvil_settle(a, e);
}

unsigned
anvil_auth_fail(struct anvil *a, const char *ip, uint64_t now_ms, unsigned limit,
                uint64_t lockout_ms)
{
	struct anvil_entry *e;
	unsigned n;

	anvil_sweep(a, now_ms);
	if ((e = anvil_get(a, ip, true)) == NULL)
		return 0;
	if (e->fails == 0 || now_ms >= e->window_end) {
		e->fails = 0;
		e->window_end = now_ms + lockout_ms;
	}
	n = ++e->fails;
	if (limit > 0 && n >= limit) {
		e->locked_until = now_ms + lockout_ms;
		e->fails = 0;
	}
	anvil_settle(a, e);
	return n;
}

bool
anvil_auth_locked(struct anvil *a, const char *ip, uint64_t now_ms)
{
	struct anvil_entry *e;

	anvil_sweep(a, now_ms);
	e = anvil_get(a, ip, false);
	return e != NULL && now_ms < e->locked_until;
}

void
anvil_auth_ok(struct anvil *a, const char *ip)
{
	struct anvil_entry *e = anvil_get(a, ip, false);

	if (e == NULL)
		return;
	e->fails = 0;
	anvil_settle(a, e);
}
