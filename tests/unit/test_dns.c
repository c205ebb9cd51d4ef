/*
 * test_dns.c -- DNS: name and rdata decoding, MX ordering, and the resolver
 * and MX lookup against a real nsd on loopback.
 *
 * Pure part: decoders fed hand-built wire bytes, whole and truncated at
 * every length from exact-size heap copies (the sanitizers catch a read
 * past the end); MX sorting with a seeded generator.
 * Live part: the test writes a zone and an nsd.conf into a mkdtemp()
 * directory, starts /usr/sbin/nsd in the foreground on 127.0.0.1 and a
 * port that was free a moment ago, waits (bounded) until it answers, and
 * points the resolver at it. A second port where a UDP socket is bound but
 * never read stands for a server that does not answer. A second zone,
 * signed.test, is signed at run time with ldns-keygen/ldns-signzone (one
 * record then altered), and its key is the trust anchor for the DNSSEC
 * checks: secure, bogus, authenticated denial. nsd is stopped at the end,
 * and dies with this process if it crashes (PR_SET_PDEATHSIG).
 * A missing nsd or ldnsutils fails the test unless HIKYAKU_ALLOW_SKIP=1.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dns/dns.h"
#include "dns/dns_mx.h"
#include "harness.h"

#define NSD_PATH "/usr/sbin/nsd"
#define LDNS_KEYGEN "/usr/bin/ldns-keygen"
#define LDNS_SIGNZONE "/usr/bin/ldns-signzone"
#define IN(lit) .in = (const uint8_t *)(lit), .inlen = sizeof(lit) - 1

/* ---- pure: names ---- */

static const struct valid_case {
	const char *name;
	bool valid, ip;
} valid_cases[] = {
	{ "example.org", true, false },
	{ "example.org.", true, false },
	{ "_25._tcp.mx-1.example.org", true, false },
	{ "localhost", true, false },
	{ "192.0.2.1", true, true },
	{ "192.0.2.1.", true, true },
	{ "10.1", true, true },
	{ "mx1.2nd.example", true, false },
	{ "", false, false },
	{ ".", false, false },
	{ ".example.org", false, false },
	{ "example..org", false, false },
	{ "exa mple.org", false, false },
	{ "exa\\032mple.org", false, false },
	{ "[192.0.2.1]", false, false },
	{ "b\xc3\xbc"
	  "cher.example",
	    false, false },
	{ "example.org..", false, false },
};

static void
test_name_valid(void)
{
	char name[300];

	for (size_t i = 0; i < nitems(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];

		if (dns_name_is_valid(c->name) != c->valid)
			t_fail(__FILE__, __LINE__, c->name);
		if (c->valid && dns_name_is_ip_literal(c->name) != c->ip)
			t_fail(__FILE__, __LINE__, c->name);
	}
	/* Label of 63 ok, 64 not; 253 octets ok, 254 not. */
	memset(name, 'a', 63);
	strcpy(name + 63, ".example");
	CHECK(dns_name_is_valid(name));
	memset(name, 'a', 64);
	strcpy(name + 64, ".example");
	CHECK(!dns_name_is_valid(name));
	for (size_t i = 0; i < 253; i++)
		name[i] = i % 2 == 0 ? 'a' : '.';
	name[253] = '\0';
	CHECK(dns_name_is_valid(name));
	name[253] = '.';
	name[254] = '\0';
	CHECK(dns_name_is_valid(name)); /* the final dot is free */
	name[253] = 'a';
	CHECK(!dns_name_is_valid(name));
}

/* A wire name of `labels` labels of `len` octets each plus one of `last`. */
static size_t
long_name(uint8_t *p, int labels, int len, int last)
{
	size_t w = 0;

	for (int i = 0; i < labels; i++) {
		p[w++] = (uint8_t)len;
		memset(p + w, 'a' + i, (size_t)len);
		w += (size_t)len;
	}
	if (last > 0) {
		p[w++] = (uint8_t)last;
		memset(p + w, 'z', (size_t)last);
		w += (size_t)last;
	}
	p[w++] = 0;
	return w;
}

static const struct decode_case {
	const uint8_t *in;
	size_t inlen;
	const char *want; /* NULL: must fail */
} decode_cases[] = {
	{ IN("\3mx1\7example\3org\0"), "mx1.example.org" },
	{ IN("\0"), "." },
	{ IN("\1a\0"), "a" },
	{ IN("\3M-x\1_\0"), "M-x._" },
	{ IN("\3a.b\0"), "a\\046b" },
	{ IN("\3a b\0"), "a\\032b" },
	{ IN("\2\xff\x01\0"), "\\255\\001" },
	{ IN("\3mx1\xc0\x0c"), NULL }, /* compression pointer */
	{ IN("\3mx1\x40"), NULL },     /* extended label type */
	{ IN("\x80"), NULL },
	{ IN("\3mx1"), NULL },   /* no root label */
	{ IN("\5mx1\0"), NULL }, /* label runs past the end */
	{ IN(""), NULL },
};

/* decode_exact - decode from a heap copy of exactly n bytes. */
static int
decode_exact(const uint8_t *in, size_t n, char *dst, size_t size)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);
	int used;

	memcpy(copy, in, n);
	used = dns_name_decode(copy, n, dst, size);
	free(copy);
	return used;
}

static void
test_name_decode(void)
{
	char out[DNS_NAME_TEXT_MAX];
	uint8_t wire[400];
	size_t n;

	for (size_t i = 0; i < nitems(decode_cases); i++) {
		const struct decode_case *c = &decode_cases[i];
		int used = decode_exact(c->in, c->inlen, out, sizeof(out));

		if (c->want == NULL) {
			CHECK_INT(used, -1);
			continue;
		}
		CHECK_INT(used, (long long)c->inlen);
		CHECK_STR(out, c->want);
		for (size_t k = 0; k < c->inlen; k++) /* every truncation fails */
			CHECK_INT(decode_exact(c->in, k, out, sizeof(out)), -1);
	}
	/* 255 octets on the wire: the limit; 256 and 257: over it. */
	n = long_name(wire, 3, 63, 61);
	CHECK_INT(n, 255);
	CHECK_INT(decode_exact(wire, n, out, sizeof(out)), 255);
	CHECK_INT(strlen(out), 253);
	n = long_name(wire, 3, 63, 62);
	CHECK_INT(decode_exact(wire, n, out, sizeof(out)), -1);
	n = long_name(wire, 4, 63, 0);
	CHECK_INT(decode_exact(wire, n, out, sizeof(out)), -1);
	/* Label of 64 octets. */
	n = long_name(wire, 1, 64, 0);
	CHECK_INT(decode_exact(wire, n, out, sizeof(out)), -1);
	/* Too small an output buffer, escaped or not. */
	CHECK_INT(decode_exact((const uint8_t *)"\3abc\0", 5, out, 3), -1);
	CHECK_INT(decode_exact((const uint8_t *)"\3abc\0", 5, out, 4), 5);
	CHECK_INT(decode_exact((const uint8_t *)"\1\x01\0", 3, out, 4), -1);
	CHECK_INT(decode_exact((const uint8_t *)"\1\x01\0", 3, out, 5), 3);
	/* Escapes that would take the text past 255 characters. */
	memset(wire, 0, sizeof(wire));
	for (int i = 0; i < 2; i++) {
		wire[i * 64] = 63;
		memset(wire + i * 64 + 1, ' ', 63);
	}
	CHECK_INT(decode_exact(wire, 129, out, sizeof(out)), -1);
}

/* ---- pure: rdata ---- */

static const struct rr_case {
	uint16_t type;
	const uint8_t *in;
	size_t inlen;
	const char *want; /* NULL: must fail; else as rr_show() prints it */
	bool prefix_ok;   /* TXT, TLSA: a shorter prefix may decode too */
} rr_cases[] = {
	{ DNS_T_A, IN("\xc0\x00\x02\x01"), "192.0.2.1" },
	{ DNS_T_A, IN("\xc0\x00\x02"), NULL },
	{ DNS_T_A, IN("\xc0\x00\x02\x01\x00"), NULL },
	{ DNS_T_AAAA, IN("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"), "2001:db8::1" },
	{ DNS_T_AAAA, IN("\x20\x01\x0d\xb8"), NULL },
	{ DNS_T_MX, IN("\x00\x0a\3mx1\7example\3org\0"), "10 mx1.example.org" },
	{ DNS_T_MX, IN("\x00\x00\0"), "0 ." },
	{ DNS_T_MX, IN("\xff\xff\1a\0"), "65535 a" },
	{ DNS_T_MX, IN("\x00\x0a\3mx1\0x"), NULL }, /* trailing octet */
	{ DNS_T_MX, IN("\x00\x0a\3mx1\xc0\x0c"), NULL },
	{ DNS_T_MX, IN("\x00\x0a"), NULL },
	{ DNS_T_TXT, IN("\7v=spf1 \4-all"), "v=spf1 -all", true },
	{ DNS_T_TXT, IN("\0"), "", true },
	{ DNS_T_TXT, IN("\0\0\3abc\0"), "abc", true },
	{ DNS_T_TXT, IN("\5abc"), NULL },
	{ DNS_T_TXT, IN(""), NULL },
	{ DNS_T_TLSA, IN("\3\1\1\xde\xad\xbe\xef"), "3 1 1 deadbeef", true },
	{ DNS_T_TLSA, IN("\2\0\0"), "2 0 0 ", true },
	{ DNS_T_TLSA, IN("\3\1"), NULL },
	{ DNS_T_PTR, IN("\4host\7example\0"), "host.example" },
	{ DNS_T_PTR, IN("\4host\7example\0\0"), NULL },
	{ DNS_T_SRV, IN("\0\0\0\1\x01\xd1\4mail\7example\0"), "0 1 465 mail.example" },
	{ DNS_T_SRV, IN("\0\0\0\0\0\0\0"), "0 0 0 ." },
	{ DNS_T_SRV, IN("\0\0\0\1\x01\xd1\4mail\0x"), NULL }, /* trailing octet */
	{ DNS_T_SRV, IN("\0\0\0\1\x01\xd1"), NULL },
	{ 99, IN("\1a\0"), NULL },
};

/* rr_show - one record as text, for comparing and for failure messages. */
static void
rr_show(const struct dns_rr *rr, char *dst, size_t size)
{
	char addr[INET6_ADDRSTRLEN];
	size_t w;

	dst[0] = '\0';
	switch (rr->type) {
	case DNS_T_A:
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&rr->u.addr)->sin_addr, addr,
		          sizeof(addr));
		snprintf(dst, size, "%s", addr);
		break;
	case DNS_T_AAAA:
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&rr->u.addr)->sin6_addr, addr,
		          sizeof(addr));
		snprintf(dst, size, "%s", addr);
		break;
	case DNS_T_MX:
		snprintf(dst, size, "%u %s", rr->u.mx.pref, rr->u.mx.name);
		break;
	case DNS_T_PTR:
		snprintf(dst, size, "%s", rr->u.ptr.name);
		break;
	case DNS_T_SRV:
		snprintf(dst, size, "%u %u %u %s", rr->u.srv.prio, rr->u.srv.weight, rr->u.srv.port,
		         rr->u.srv.target);
		break;
	case DNS_T_TXT:
		snprintf(dst, size, "%.*s", (int)rr->u.txt.len, rr->u.txt.text);
		break;
	case DNS_T_TLSA:
		w = (size_t)snprintf(dst, size, "%u %u %u ", rr->u.tlsa.usage, rr->u.tlsa.selector,
		                     rr->u.tlsa.mtype);
		for (size_t i = 0; i < rr->u.tlsa.len && w + 3 < size; i++)
			w += (size_t)snprintf(dst + w, size - w, "%02x", rr->u.tlsa.data[i]);
		break;
	}
}

/* rr_decode_exact - decode from an exact-size heap copy; the text or NULL. */
static const char *
rr_decode_exact(uint16_t type, const uint8_t *in, size_t n, char *show, size_t size)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);
	struct dns_rr rr;
	int rc;

	memcpy(copy, in, n);
	rc = dns_rr_decode(&rr, type, copy, n);
	free(copy);
	if (rc < 0) {
		CHECK(rr.type == 0 && rr.u.txt.text == NULL); /* zeroed, owns nothing */
		return NULL;
	}
	rr_show(&rr, show, size);
	dns_rr_clear(&rr);
	return show;
}

static void
test_name_queryable(void)
{
	char out[1100];

	/* RFC 7208 7.1: SPF macros may put any visible character in a name. */
	CHECK(dns_name_is_queryable("foo:bar/baz.example.com"));
	CHECK(dns_name_is_queryable("a b%c.example.com."));
	CHECK(!dns_name_is_valid("foo:bar/baz.example.com"));
	CHECK(!dns_name_is_queryable(""));
	CHECK(!dns_name_is_queryable("a..b"));
	CHECK(!dns_name_is_queryable("a\tb.example"));
	CHECK(!dns_name_is_queryable("caf\xc3\xa9.example"));
	CHECK_INT(dns_name_escape("a b;c\\d\"(@$).x", out, sizeof(out)), 0);
	CHECK_STR(out, "a\\032b\\059c\\092d\\034\\040\\064\\036\\041.x");
	CHECK_INT(dns_name_escape("abc", out, 3), -1);
	/* Decoded names carry \DDD escapes: kept, one octet each. */
	CHECK(dns_name_is_queryable("foo\\058bar.example"));
	CHECK_INT(dns_name_escape("foo\\058bar.example", out, sizeof(out)), 0);
	CHECK_STR(out, "foo\\058bar.example");
	CHECK_INT(dns_name_escape("a\\x", out, sizeof(out)), 0);
	CHECK_STR(out, "a\\092x");
}

static void
test_rr_decode(void)
{
	char got[600], part[600], what[700];

	for (size_t i = 0; i < nitems(rr_cases); i++) {
		const struct rr_case *c = &rr_cases[i];
		const char *r = rr_decode_exact(c->type, c->in, c->inlen, got, sizeof(got));

		snprintf(what, sizeof(what), "case %zu type %u", i, c->type);
		if ((r == NULL) != (c->want == NULL)) {
			t_fail(__FILE__, __LINE__, what);
			continue;
		}
		if (r == NULL)
			continue;
		CHECK_STR(got, c->want);
		for (size_t k = 0; k < c->inlen; k++) {
			r = rr_decode_exact(c->type, c->in, k, part, sizeof(part));
			/* Names and addresses never survive truncation; TXT and
			   TLSA may, as a prefix of the whole. */
			if (r != NULL && (!c->prefix_ok || strncmp(part, got, strlen(part)) != 0))
				t_fail(__FILE__, __LINE__, what);
		}
	}
	/* TXT: 255-octet strings concatenated, up to a full-size rdata. */
	{
		size_t n = 65535;
		uint8_t *big = malloc(n);
		struct dns_rr rr;

		for (size_t off = 0; off < n; off += 256) {
			size_t len = MIN(255, n - off - 1);

			big[off] = (uint8_t)len;
			memset(big + off + 1, 'x', len);
		}
		CHECK_INT(dns_rr_decode(&rr, DNS_T_TXT, big, n), 0);
		CHECK_INT(rr.u.txt.len, 65535 - 256);
		dns_rr_clear(&rr);
		free(big);
	}
}

/* ---- pure: MX ordering ---- */

/* A seeded xorshift32; a biased modulo is good enough for a test. */
static uint32_t
test_rng(void *ctx, uint32_t upper)
{
	uint32_t *s = ctx;

	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s % upper;
}

static void
mx_set(struct dns_rr *rr, uint16_t pref, const char *name)
{
	memset(rr, 0, sizeof(*rr));
	rr->type = DNS_T_MX;
	rr->u.mx.pref = pref;
	snprintf(rr->u.mx.name, sizeof(rr->u.mx.name), "%s", name);
}

/* mx_order - the names after sorting with `seed`, joined with spaces. */
static void
mx_order(uint32_t seed, char *dst, size_t size)
{
	static const struct {
		uint16_t pref;
		const char *name;
	} in[] = { { 20, "c" }, { 10, "a" }, { 30, "z" }, { 10, "b" }, { 5, "low" }, { 10, "d" } };
	struct dns_rr mx[nitems(in)];
	size_t w = 0;

	for (size_t i = 0; i < nitems(in); i++)
		mx_set(&mx[i], in[i].pref, in[i].name);
	dns_mx_sort(mx, nitems(in), test_rng, &seed);
	dst[0] = '\0';
	for (size_t i = 0; i < nitems(in); i++) {
		if (i > 0 && mx[i].u.mx.pref < mx[i - 1].u.mx.pref)
			t_fail(__FILE__, __LINE__, "preference order");
		w += (size_t)snprintf(dst + w, size - w, "%s%s", i ? " " : "", mx[i].u.mx.name);
	}
}

static void
test_mx_sort(void)
{
	char order[64], again[64];
	unsigned first[3] = { 0 }, perms = 0;
	char seen[6][16] = { { 0 } };

	for (uint32_t seed = 1; seed <= 600; seed++) {
		mx_order(seed, order, sizeof(order));
		/* low first, then a/b/d in some order, then c, then z. */
		CHECK(strncmp(order, "low ", 4) == 0);
		CHECK(strcmp(order + 9, " c z") == 0);
		CHECK(order[4] != order[6] && order[4] != order[8] && order[6] != order[8]);
		first[order[4] == 'a' ? 0 : order[4] == 'b' ? 1 : 2]++;
		/* Which of the 6 orders of a, b, d this was. */
		size_t k;
		for (k = 0; k < perms && strncmp(seen[k], order + 4, 5) != 0; k++)
			;
		if (k == perms && perms < 6)
			snprintf(seen[perms++], sizeof(seen[0]), "%.5s", order + 4);
		/* The same seed gives the same order. */
		mx_order(seed, again, sizeof(again));
		CHECK_STR(again, order);
	}
	CHECK_INT(perms, 6);
	for (int i = 0; i < 3; i++) /* about 200 each */
		CHECK(first[i] > 120 && first[i] < 280);
	/* The default generator (libsodium) keeps the preference order too. */
	{
		struct dns_rr mx[3];

		mx_set(&mx[0], 30, "c");
		mx_set(&mx[1], 10, "a");
		mx_set(&mx[2], 20, "b");
		dns_mx_sort(mx, 3, NULL, NULL);
		CHECK_STR(mx[0].u.mx.name, "a");
		CHECK_STR(mx[2].u.mx.name, "c");
	}
}

static void
test_mx_select(void)
{
	struct dns_rr mx[20];
	uint32_t seed = 7;
	size_t n;

	mx_set(&mx[0], 10, "mx1.example");
	mx_set(&mx[1], 10, ".");
	mx_set(&mx[2], 5, "192.0.2.1");
	mx_set(&mx[3], 20, "MX1.example."); /* repeat: the pref-10 one stays */
	mx_set(&mx[4], 0, "bad\\032name");
	mx_set(&mx[5], 30, "mx2.example");
	mx_set(&mx[6], 1, "10.1");
	n = dns_mx_select(mx, 7, test_rng, &seed);
	CHECK_INT(n, 2);
	CHECK_STR(mx[0].u.mx.name, "mx1.example");
	CHECK_INT(mx[0].u.mx.pref, 10);
	CHECK_STR(mx[1].u.mx.name, "mx2.example");
	/* Past DNS_MX_MAX_HOSTS: the best preferences stay. */
	for (int i = 0; i < 15; i++) {
		char name[32];

		snprintf(name, sizeof(name), "mx%d.example", 15 - i);
		mx_set(&mx[i], (uint16_t)(15 - i), name);
	}
	n = dns_mx_select(mx, 15, test_rng, &seed);
	CHECK_INT(n, DNS_MX_MAX_HOSTS);
	CHECK_INT(mx[0].u.mx.pref, 1);
	CHECK_INT(mx[9].u.mx.pref, 10);
	CHECK_STR(mx[9].u.mx.name, "mx10.example");
	/* Null MX: exactly one record, preference 0, target ".". */
	mx_set(&mx[0], 0, ".");
	CHECK(dns_mx_is_null(mx, 1));
	mx_set(&mx[1], 10, "mx.example");
	CHECK(!dns_mx_is_null(mx, 2));
	mx_set(&mx[0], 10, ".");
	CHECK(!dns_mx_is_null(mx, 1));
	CHECK_INT(dns_mx_select(mx, 1, test_rng, &seed), 0);
}

/* ---- live: nsd on loopback ---- */

static const char zone_text[] =
    "$ORIGIN example.test.\n"
    "$TTL 300\n"
    "@ SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300\n"
    "@ NS ns\n"
    "ns A 127.0.0.1\n"
    "@ MX 10 mx-a\n"
    "@ MX 10 mx-b\n"
    "@ MX 5 mx-low\n"
    "mx-a A 192.0.2.10\n"
    "mx-a AAAA 2001:db8::a\n"
    "mx-b A 192.0.2.11\n"
    "mx-low A 192.0.2.5\n"
    "mx-low AAAA 2001:db8::5\n"
    "mx-low AAAA 2001:db8::6\n"
    "host A 192.0.2.1\n"
    "host AAAA 2001:db8::1\n"
    "alias CNAME host\n"
    "txt TXT \"v=spf1 \" \"-all\"\n"
    "txt TXT \"second\"\n"
    "nullmx MX 0 .\n"
    "implicit A 192.0.2.20\n"
    "nodata TXT \"only text\"\n"
    "_25._tcp.mx-a TLSA 3 1 1 "
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
    "ptr PTR host.example.test.\n"
    "badmx MX 10 192.0.2.1.\n"
    "deadmx MX 10 nowhere.example.test.\n"
    "mixmx MX 10 nowhere.example.test.\n"
    "mixmx MX 20 mx-b\n"
    "many AAAA 2001:db8::100\n"
    "many AAAA 2001:db8::101\n";

static const char signed_zone_text[] =
    "$ORIGIN signed.test.\n"
    "$TTL 300\n"
    "@ SOA ns.signed.test. hostmaster.signed.test. 1 3600 600 86400 300\n"
    "@ NS ns\n"
    "ns A 127.0.0.1\n"
    "@ MX 10 mx\n"
    "mx A 192.0.2.40\n"
    "good A 192.0.2.50\n"
    "tampered A 192.0.2.60\n";

static struct {
	bool tried, up, skip;
	bool signed_zone; /* signed.test is served and live.anchor is its key */
	char anchor[128];
	pid_t pid;
	int port;
	char dir[64];
	char server[64];
	int hole_fd; /* bound, never read: the server that does not answer */
	char hole[64];
	uv_loop_t loop;
	uv_timer_t watchdog;
	bool expired;
	struct dns *d;
} live = { .hole_fd = -1 };

static bool in_dns_call; /* a callback seeing this set ran too early */

static int
write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, fp);
	return fclose(fp);
}

/* zone_write - the fixed zone plus 20 A records for "many". */
static int
zone_write(void)
{
	char text[sizeof(zone_text) + 1024];
	size_t w = (size_t)snprintf(text, sizeof(text), "%s", zone_text);

	for (int i = 0; i < 20; i++)
		w += (size_t)snprintf(text + w, sizeof(text) - w, "many A 192.0.2.%d\n", 100 + i);
	return write_file(live.dir, "example.test.zone", text);
}

static int
conf_write(int port)
{
	char conf[2048];

	snprintf(conf, sizeof(conf),
	         "server:\n"
	         "\tip-address: 127.0.0.1\n"
	         "\tport: %d\n"
	         "\tdo-ip6: no\n"
	         "\tusername: \"\"\n"
	         "\tchroot: \"\"\n"
	         "\tzonesdir: \"%s\"\n"
	         "\tzonelistfile: \"%s/zone.list\"\n"
	         "\tdatabase: \"\"\n"
	         "\tpidfile: \"%s/nsd.pid\"\n"
	         "\txfrdfile: \"%s/xfrd.state\"\n"
	         "\txfrdir: \"%s\"\n"
	         "\tlogfile: \"%s/nsd.log\"\n"
	         "\tserver-count: 1\n"
	         "\tverbosity: 1\n"
	         "remote-control:\n"
	         "\tcontrol-enable: no\n"
	         "zone:\n"
	         "\tname: \"example.test\"\n"
	         "\tzonefile: \"%s/example.test.zone\"\n"
	         "%s%s%s",
	         port, live.dir, live.dir, live.dir, live.dir, live.dir, live.dir, live.dir,
	         live.signed_zone ? "zone:\n\tname: \"signed.test\"\n\tzonefile: \"" : "",
	         live.signed_zone ? live.dir : "",
	         live.signed_zone ? "/signed.test.zone.signed\"\n" : "");
	return write_file(live.dir, "nsd.conf", conf);
}

/* free_port - a port free for UDP and TCP on 127.0.0.1 a moment ago. */
static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(u, (struct sockaddr *)&sin, &len) == 0 &&
	    bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		port = ntohs(sin.sin_port);
	close(u);
	close(t);
	return port;
}

/* nsd_answers - one SOA query over UDP; true when a reply comes back. */
static bool
nsd_answers(int port, int wait_ms)
{
	static const uint8_t q[] = "\x4b\x48\0\0\0\1\0\0\0\0\0\0"
	                           "\7example\4test\0\0\6\0\1";
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	uint8_t reply[512];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	bool ok = false;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && sendto(fd, q, sizeof(q) - 1, 0, (struct sockaddr *)&sin, sizeof(sin)) > 0 &&
	    poll(&pfd, 1, wait_ms) == 1) {
		ssize_t n = recv(fd, reply, sizeof(reply), 0);

		ok = n >= 12 && reply[0] == 0x4b && reply[1] == 0x48 && (reply[2] & 0x80) != 0;
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

static void
nsd_show_log(void)
{
	char path[128], line[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/nsd.log", live.dir);
	if ((fp = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL)
		fprintf(stderr, "  nsd: %s", line);
	fclose(fp);
}

/* nsd_spawn - nsd in the foreground; it dies with us if we crash. */
static pid_t
nsd_spawn(void)
{
	char conf[128], out[128];
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/nsd.conf", live.dir);
	snprintf(out, sizeof(out), "%s/nsd.out", live.dir);
	if ((pid = fork()) != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execl(NSD_PATH, "nsd", "-d", "-c", conf, (char *)NULL);
	_exit(127);
}

/* nsd_wait - until nsd answers (10 s at most) or exits. */
static bool
nsd_wait(void)
{
	for (int i = 0; i < 100; i++) {
		int status;

		if (nsd_answers(live.port, 100))
			return true;
		if (waitpid(live.pid, &status, WNOHANG) == live.pid) {
			live.pid = 0;
			return false;
		}
	}
	return false;
}

/* nsd_reap - nsd's own children can outlive it; as the subreaper (see
   live_start) we inherit them and wait for them here, up to a second. */
static void
nsd_reap(void)
{
	int status;
	pid_t r;

	for (int i = 0; i < 20; i++) {
		while ((r = waitpid(-1, &status, WNOHANG)) > 0)
			;
		if (r < 0)
			return; /* ECHILD: none left */
		usleep(50 * 1000);
	}
}

static void
nsd_stop(void)
{
	int status;

	if (live.pid <= 0)
		return;
	kill(live.pid, SIGTERM);
	for (int i = 0; i < 100 && live.pid > 0; i++) {
		if (waitpid(live.pid, &status, WNOHANG) == live.pid)
			live.pid = 0;
		else
			usleep(50 * 1000);
	}
	if (live.pid > 0) {
		kill(live.pid, SIGKILL);
		waitpid(live.pid, &status, 0);
		live.pid = 0;
	}
	nsd_reap();
}

/* run_tool - argv[0] with cwd live.dir, output to tools.out; true on exit 0. */
static bool
run_tool(char *const argv[])
{
	char out[128];
	pid_t pid;
	int status;

	snprintf(out, sizeof(out), "%s/tools.out", live.dir);
	if ((pid = fork()) == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd < 0 || chdir(live.dir) < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

/* zone_alter - one A record of the signed zone changed after signing, so
   that its signature no longer matches: a bogus answer. */
static bool
zone_alter(const char *path)
{
	char text[32768], *at;
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return false;
	n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	if ((at = strstr(text, "192.0.2.60")) == NULL)
		return false;
	at[9] = '1'; /* 192.0.2.61 */
	fp = fopen(path, "w");
	return fp != NULL && fputs(text, fp) >= 0 && fclose(fp) == 0;
}

/* zone_sign - signed.test with a fresh ECDSA P-256 key; the key file
   (a DNSKEY line) becomes the trust anchor. */
static bool
zone_sign(void)
{
	char pattern[128], key[128], zone[128];
	char *keygen[] = { LDNS_KEYGEN, "-a", "ECDSAP256SHA256", "-k", "signed.test", NULL };
	char *sign[] = { LDNS_SIGNZONE, "signed.test.zone", key, NULL };
	glob_t g;
	bool ok;

	if (write_file(live.dir, "signed.test.zone", signed_zone_text) < 0 || !run_tool(keygen))
		return false;
	snprintf(pattern, sizeof(pattern), "%s/Ksigned.test.+*.key", live.dir);
	if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc != 1) {
		globfree(&g);
		return false;
	}
	snprintf(live.anchor, sizeof(live.anchor), "%s", g.gl_pathv[0]);
	globfree(&g);
	/* ldns-signzone takes the key's name without ".key". */
	snprintf(key, sizeof(key), "%.*s", (int)(strlen(live.anchor) - 4), live.anchor);
	snprintf(zone, sizeof(zone), "%s/signed.test.zone.signed", live.dir);
	ok = run_tool(sign) && zone_alter(zone);
	return ok;
}

/* tools_missing - true (and a failure, or a skip) when a tool is absent. */
static bool
tools_missing(const char *const *tools, size_t n, const char *pkgs)
{
	for (size_t i = 0; i < n; i++) {
		if (access(tools[i], X_OK) == 0)
			continue;
		if (getenv("HIKYAKU_ALLOW_SKIP") != NULL &&
		    strcmp(getenv("HIKYAKU_ALLOW_SKIP"), "1") == 0) {
			printf("skip: %s not installed (%s; HIKYAKU_ALLOW_SKIP=1)\n", tools[i],
			       pkgs);
			return true;
		}
		fprintf(stderr, "  %s not installed (Debian: %s)\n", tools[i], pkgs);
		t_fail(__FILE__, __LINE__, "test tool missing");
		return true;
	}
	return false;
}

/* hole_open - a UDP port that swallows queries. */
static int
hole_open(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	live.hole_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (live.hole_fd < 0 || bind(live.hole_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(live.hole_fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	snprintf(live.hole, sizeof(live.hole), "127.0.0.1@%d", ntohs(sin.sin_port));
	return 0;
}

static void
on_watchdog(uv_timer_t *t)
{
	(void)t;
	live.expired = true;
}

/* live_start - nsd, the loop and a resolver pointed at nsd, once. */
static bool
live_start(void)
{
	const char *error;

	static const char *const nsd[] = { NSD_PATH };
	static const char *const ldns[] = { LDNS_KEYGEN, LDNS_SIGNZONE };

	if (live.tried)
		return live.up;
	live.tried = true;
	if (tools_missing(nsd, 1, "nsd"))
		return false;
	/* nsd forks; its children would be orphaned to init at shutdown,
	   which in a container may never reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	snprintf(live.dir, sizeof(live.dir), "/tmp/hk-dns-XXXXXX");
	if (mkdtemp(live.dir) == NULL || zone_write() < 0 || hole_open() < 0) {
		t_fail(__FILE__, __LINE__, "test directory or socket setup");
		return false;
	}
	if (!tools_missing(ldns, 2, "ldnsutils")) {
		live.signed_zone = zone_sign();
		if (!live.signed_zone)
			t_fail(__FILE__, __LINE__, "signing the test zone failed (tools.out)");
	}
	for (int attempt = 0; attempt < 3 && !live.up; attempt++) {
		if ((live.port = free_port()) < 0 || conf_write(live.port) < 0)
			continue;
		live.pid = nsd_spawn();
		live.up = live.pid > 0 && nsd_wait();
		if (!live.up)
			nsd_stop();
	}
	if (!live.up) {
		nsd_show_log();
		t_fail(__FILE__, __LINE__, "nsd did not start");
		return false;
	}
	snprintf(live.server, sizeof(live.server), "127.0.0.1@%d", live.port);
	uv_loop_init(&live.loop);
	uv_timer_init(&live.loop, &live.watchdog);
	live.d = dns_new(&live.loop, live.server, &error);
	if (live.d == NULL) {
		t_fail(__FILE__, __LINE__, error);
		live.up = false;
	}
	return live.up;
}

/* run_until - turn the loop until *count reaches want or ms pass;
   returns the milliseconds it took. */
static uint64_t
run_until(const int *count, int want, unsigned ms)
{
	uint64_t start;

	uv_update_time(&live.loop);
	start = uv_now(&live.loop);
	live.expired = false;
	uv_timer_start(&live.watchdog, on_watchdog, ms, 0);
	while (*count < want && !live.expired)
		uv_run(&live.loop, UV_RUN_ONCE);
	uv_timer_stop(&live.watchdog);
	uv_update_time(&live.loop);
	return uv_now(&live.loop) - start;
}

/* ---- live: plain queries ---- */

struct got {
	int calls;
	bool early; /* called from inside dns_query() */
	enum dns_rc rc;
	bool secure;
	size_t n;
	uint32_t ttl;
	char why[128];
	char text[1024]; /* records as rr_show() prints them, sorted, ", "-joined */
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
on_answer(void *ctx, const struct dns_answer *a)
{
	struct got *g = ctx;
	char lines[32][300];
	const char *sorted[32];
	size_t n = MIN(a->n, 32), w = 0;

	g->calls++;
	g->early |= in_dns_call;
	g->rc = a->rc;
	g->secure = a->secure;
	g->n = a->n;
	g->ttl = a->n > 0 ? a->rr[0].ttl : 0;
	snprintf(g->why, sizeof(g->why), "%s", a->why != NULL ? a->why : "");
	for (size_t i = 0; i < n; i++) {
		rr_show(&a->rr[i], lines[i], sizeof(lines[i]));
		sorted[i] = lines[i];
	}
	qsort(sorted, n, sizeof(sorted[0]), cmp_str);
	g->text[0] = '\0';
	for (size_t i = 0; i < n && w < sizeof(g->text); i++)
		w += (size_t)snprintf(g->text + w, sizeof(g->text) - w, "%s%s", i ? ", " : "",
		                      sorted[i]);
}

/* ask - one query on resolver d, run to completion (5 s at most). */
static void
ask(struct dns *d, const char *name, uint16_t type, struct got *g)
{
	struct dns_query *q;

	memset(g, 0, sizeof(*g));
	in_dns_call = true;
	q = dns_query(d, name, type, on_answer, g);
	in_dns_call = false;
	CHECK(q != NULL);
	CHECK_INT(g->calls, 0);
	run_until(&g->calls, 1, 5000);
	CHECK_INT(g->calls, 1);
	CHECK(!g->early);
}

static void
test_live_records(void)
{
	struct got g;

	if (!live_start())
		return;
	ask(live.d, "host.example.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK_STR(g.text, "192.0.2.1");
	CHECK(!g.secure); /* unsigned test zone: insecure, never bogus */
	CHECK(g.ttl > 0 && g.ttl <= 300);
	ask(live.d, "host.example.test.", DNS_T_AAAA, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK_STR(g.text, "2001:db8::1");
	ask(live.d, "alias.example.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK_STR(g.text, "192.0.2.1");
	ask(live.d, "example.test", DNS_T_MX, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK_STR(g.text, "10 mx-a.example.test, 10 mx-b.example.test, 5 mx-low.example.test");
	ask(live.d, "txt.example.test", DNS_T_TXT, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK_STR(g.text, "second, v=spf1 -all");
	ask(live.d, "_25._tcp.mx-a.example.test", DNS_T_TLSA, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK_STR(g.text, "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	ask(live.d, "ptr.example.test", DNS_T_PTR, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK_STR(g.text, "host.example.test");
	ask(live.d, "many.example.test", DNS_T_A, &g);
	CHECK_INT(g.n, 20);
}

static void
test_live_negative(void)
{
	struct got g;

	if (!live_start())
		return;
	ask(live.d, "nope.example.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_NXDOMAIN);
	CHECK_INT(g.n, 0);
	ask(live.d, "nodata.example.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_NODATA);
	ask(live.d, "nodata.example.test", DNS_T_MX, &g);
	CHECK_INT(g.rc, DNS_NODATA);
	/* Not our zone: nsd refuses, which is a temporary failure. */
	ask(live.d, "example.invalid-tld", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_TEMPFAIL);
	/* Invalid names are refused at once, with no callback. */
	CHECK(dns_query(live.d, "", DNS_T_A, on_answer, &g) == NULL);
	CHECK(dns_query(live.d, "a..example.test", DNS_T_A, on_answer, &g) == NULL);
	CHECK(dns_query(live.d, "a\tb.example.test", DNS_T_A, on_answer, &g) == NULL);
	CHECK(dns_query(live.d, "caf\xc3\xa9.example.test", DNS_T_A, on_answer, &g) == NULL);
	/* Any visible octet may be asked (SPF macros): escaped on the wire. */
	ask(live.d, "a b:c.example.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_NXDOMAIN);
}

/* ---- live: MX resolution ---- */

struct mxgot {
	int calls;
	bool early;
	struct dns_mx_result *r;
};

static void
on_mx(void *ctx, struct dns_mx_result *r)
{
	struct mxgot *g = ctx;

	g->calls++;
	g->early |= in_dns_call;
	free(g->r);
	g->r = r;
}

static void
addrs_show(const struct dns_mx_host *h, char *dst, size_t size)
{
	size_t w = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < h->naddrs && w < size; i++) {
		struct dns_rr rr = { .type = DNS_T_A };
		char one[INET6_ADDRSTRLEN];

		if (h->addrs[i].ss_family == AF_INET6)
			rr.type = DNS_T_AAAA;
		rr.u.addr = h->addrs[i];
		rr_show(&rr, one, sizeof(one));
		w += (size_t)snprintf(dst + w, size - w, "%s%s", i ? " " : "", one);
	}
}

/* ask_mx - one MX resolution, run to completion; g->r is the caller's. */
static void
ask_mx(struct dns *d, const char *domain, struct mxgot *g)
{
	struct dns_mx_req *r;

	memset(g, 0, sizeof(*g));
	in_dns_call = true;
	r = dns_mx_resolve(d, domain, on_mx, g);
	in_dns_call = false;
	CHECK(r != NULL);
	run_until(&g->calls, 1, 10000);
	CHECK_INT(g->calls, 1);
	CHECK(!g->early);
	if (g->r == NULL) { /* keep the checks that follow from crashing */
		g->r = calloc(1, sizeof(*g->r));
		g->r->rc = DNS_MX_TEMPFAIL;
		g->r->reason = "no callback";
	}
}

static void
test_live_mx(void)
{
	struct mxgot g;
	char addrs[1024];
	unsigned a_first = 0, b_first = 0;

	if (!live_start())
		return;
	for (int i = 0; i < 30; i++) {
		ask_mx(live.d, "example.test", &g);
		if (g.r == NULL)
			return;
		CHECK_INT(g.r->rc, DNS_MX_OK);
		CHECK(!g.r->implicit && !g.r->mx_secure);
		CHECK_INT(g.r->nhosts, 3);
		if (g.r->nhosts == 3) {
			const struct dns_mx_host *h = g.r->hosts;

			CHECK_STR(h[0].name, "mx-low.example.test");
			CHECK_INT(h[0].pref, 5);
			CHECK(!h[0].secure);
			addrs_show(&h[0], addrs, sizeof(addrs));
			/* v6 first, then interleaved; order within a family as served. */
			CHECK(strcmp(addrs, "2001:db8::5 192.0.2.5 2001:db8::6") == 0 ||
			      strcmp(addrs, "2001:db8::6 192.0.2.5 2001:db8::5") == 0);
			CHECK_INT(h[1].pref, 10);
			CHECK_INT(h[2].pref, 10);
			a_first += strcmp(h[1].name, "mx-a.example.test") == 0;
			b_first += strcmp(h[1].name, "mx-b.example.test") == 0;
			for (int k = 1; k < 3; k++) {
				addrs_show(&h[k], addrs, sizeof(addrs));
				if (strcmp(h[k].name, "mx-a.example.test") == 0)
					CHECK_STR(addrs, "2001:db8::a 192.0.2.10");
				else
					CHECK_STR(addrs, "192.0.2.11");
			}
		}
		free(g.r);
	}
	CHECK_INT(a_first + b_first, 30);
	CHECK(a_first > 0 && b_first > 0); /* both orders: chance of a false fail 2^-29 */
}

static void
test_live_mx_fallback(void)
{
	struct mxgot g;
	char addrs[1024];

	if (!live_start())
		return;
	ask_mx(live.d, "implicit.example.test", &g);
	CHECK_INT(g.r->rc, DNS_MX_OK);
	CHECK(g.r->implicit);
	CHECK_INT(g.r->nhosts, 1);
	CHECK_STR(g.r->hosts[0].name, "implicit.example.test");
	addrs_show(&g.r->hosts[0], addrs, sizeof(addrs));
	CHECK_STR(addrs, "192.0.2.20");
	free(g.r);

	/* 2 AAAA and 20 A: 16 addresses, v6 first, interleaved. */
	ask_mx(live.d, "many.example.test", &g);
	CHECK_INT(g.r->rc, DNS_MX_OK);
	CHECK_INT(g.r->hosts[0].naddrs, DNS_MX_MAX_ADDRS);
	CHECK_INT(g.r->hosts[0].addrs[0].ss_family, AF_INET6);
	CHECK_INT(g.r->hosts[0].addrs[1].ss_family, AF_INET);
	CHECK_INT(g.r->hosts[0].addrs[2].ss_family, AF_INET6);
	CHECK_INT(g.r->hosts[0].addrs[3].ss_family, AF_INET);
	CHECK_INT(g.r->hosts[0].addrs[4].ss_family, AF_INET);
	free(g.r);

	ask_mx(live.d, "nodata.example.test", &g);
	CHECK_INT(g.r->rc, DNS_MX_NXDOMAIN);
	CHECK(strstr(g.r->reason, "no MX and no A/AAAA") != NULL);
	free(g.r);
}

static void
test_live_mx_permanent(void)
{
	struct mxgot g;

	if (!live_start())
		return;
	ask_mx(live.d, "nullmx.example.test", &g);
	CHECK_INT(g.r->rc, DNS_MX_NULL);
	CHECK_INT(g.r->nhosts, 0);
	CHECK(strstr(g.r->reason, "null MX") != NULL);
	free(g.r);

	ask_mx(live.d, "nope.example.test", &g);
	CHECK_INT(g.r->rc, DNS_MX_NXDOMAIN);
	CHECK(strstr(g.r->reason, "NXDOMAIN") != NULL);
	free(g.r);

	ask_mx(live.d, "badmx.example.test", &g); /* an IP literal as MX host */
	CHECK_INT(g.r->rc, DNS_MX_NXDOMAIN);
	CHECK(strstr(g.r->reason, "invalid MX") != NULL);
	free(g.r);

	ask_mx(live.d, "deadmx.example.test", &g); /* host does not exist */
	CHECK_INT(g.r->rc, DNS_MX_NXDOMAIN);
	CHECK(strstr(g.r->reason, "has an address") != NULL);
	free(g.r);

	ask_mx(live.d, "mixmx.example.test", &g); /* the dead one is dropped */
	CHECK_INT(g.r->rc, DNS_MX_OK);
	CHECK_INT(g.r->nhosts, 1);
	CHECK_STR(g.r->hosts[0].name, "mx-b.example.test");
	CHECK_INT(g.r->hosts[0].pref, 20);
	free(g.r);

	CHECK(dns_mx_resolve(live.d, "bad..example", on_mx, &g) == NULL);
}

/* ---- live: limits, cancel, free ---- */

static void
test_live_timeout(void)
{
	struct dns_opts o = { .timeout_ms = 400 };
	struct dns *d;
	struct got g;
	struct mxgot mg;
	const char *error;
	uint64_t ms;

	if (!live_start())
		return;
	o.server = live.hole;
	d = dns_new_opts(&live.loop, &o, &error);
	CHECK(d != NULL);
	if (d == NULL)
		return;
	memset(&g, 0, sizeof(g));
	CHECK(dns_query(d, "host.example.test", DNS_T_A, on_answer, &g) != NULL);
	ms = run_until(&g.calls, 1, 5000);
	CHECK_INT(g.calls, 1);
	CHECK_INT(g.rc, DNS_TEMPFAIL);
	CHECK_STR(g.why, "timeout");
	CHECK(ms >= 350 && ms < 3000);

	ask_mx(d, "example.test", &mg);
	CHECK_INT(mg.r->rc, DNS_MX_TEMPFAIL);
	CHECK(strstr(mg.r->reason, "timeout") != NULL);
	free(mg.r);
	dns_free(&d);
	CHECK(d == NULL);
	uv_run(&live.loop, UV_RUN_NOWAIT);
}

static void
test_live_overcap(void)
{
	struct dns_opts o = { .max_queries = 2 };
	struct got g[3];
	struct dns *d;
	const char *error;
	int calls = 0;

	if (!live_start())
		return;
	o.server = live.server;
	d = dns_new_opts(&live.loop, &o, &error);
	if (d == NULL) {
		t_fail(__FILE__, __LINE__, error);
		return;
	}
	memset(g, 0, sizeof(g));
	in_dns_call = true;
	for (int i = 0; i < 3; i++)
		CHECK(dns_query(d, "host.example.test", DNS_T_A, on_answer, &g[i]) != NULL);
	in_dns_call = false;
	CHECK_INT(g[2].calls, 0); /* not inside dns_query() */
	for (int tries = 0; tries < 50 && calls < 3; tries++) {
		run_until(&calls, 3, 100);
		calls = g[0].calls + g[1].calls + g[2].calls;
	}
	CHECK_INT(calls, 3);
	CHECK_INT(g[0].rc, DNS_OK);
	CHECK_INT(g[1].rc, DNS_OK);
	CHECK_INT(g[2].rc, DNS_TEMPFAIL);
	CHECK_STR(g[2].why, "too many outstanding queries");
	CHECK(!g[2].early);
	dns_free(&d);
	uv_run(&live.loop, UV_RUN_NOWAIT);
}

static void
test_live_cancel(void)
{
	struct dns_opts o = { .timeout_ms = 300 };
	struct got g[3];
	struct mxgot mg;
	struct dns_query *q[3];
	struct dns_mx_req *r;
	struct dns *hole;
	const char *error;
	int never = 0;

	if (!live_start())
		return;
	o.server = live.hole;
	hole = dns_new_opts(&live.loop, &o, &error);
	CHECK(hole != NULL);
	if (hole == NULL)
		return;
	memset(g, 0, sizeof(g));
	memset(&mg, 0, sizeof(mg));
	/* Cancelled at once: callbacks never run inside dns_query(), so
	   these cannot have completed. */
	q[0] = dns_query(live.d, "host.example.test", DNS_T_A, on_answer, &g[0]);
	q[2] = dns_query(live.d, "uncached.example.test", DNS_T_TXT, on_answer, &g[2]);
	r = dns_mx_resolve(live.d, "example.test", on_mx, &mg);
	dns_cancel(&q[0]);
	dns_cancel(&q[2]);
	dns_mx_cancel(&r);
	CHECK(q[0] == NULL && q[2] == NULL && r == NULL);
	/* Under way at the server that never answers, then cancelled. */
	q[1] = dns_query(hole, "host.example.test", DNS_T_A, on_answer, &g[1]);
	r = dns_mx_resolve(hole, "example.test", on_mx, &mg);
	run_until(&never, 1, 100);
	CHECK_INT(g[1].calls + mg.calls, 0);
	dns_cancel(&q[1]);
	dns_mx_cancel(&r);
	dns_cancel(&q[0]); /* NULL: no-op */
	dns_mx_cancel(&r);
	run_until(&never, 1, 600); /* past the hole's time cap */
	CHECK_INT(g[0].calls + g[1].calls + g[2].calls + mg.calls, 0);

	/* Freed with queries outstanding: no callback, nothing leaks. MX
	   requests are the caller's to cancel first (dns_mx.h). */
	CHECK(dns_query(hole, "host.example.test", DNS_T_A, on_answer, &g[1]) != NULL);
	CHECK(dns_query(hole, "example.test", DNS_T_MX, on_answer, &g[1]) != NULL);
	r = dns_mx_resolve(hole, "example.test", on_mx, &mg);
	dns_mx_cancel(&r);
	dns_free(&hole);
	run_until(&never, 1, 400);
	CHECK_INT(g[1].calls + mg.calls, 0);
}

struct free_ctx {
	struct dns *d;
	int calls;
};

static void
on_answer_free(void *ctx, const struct dns_answer *a)
{
	struct free_ctx *f = ctx;

	(void)a;
	f->calls++;
	dns_free(&f->d); /* the second callback is never made */
}

static void
test_live_free_in_callback(void)
{
	struct free_ctx f = { 0 };
	const char *error;
	int never = 0;

	if (!live_start())
		return;
	f.d = dns_new(&live.loop, live.server, &error);
	CHECK(f.d != NULL);
	if (f.d == NULL)
		return;
	CHECK(dns_query(f.d, "host.example.test", DNS_T_A, on_answer_free, &f) != NULL);
	CHECK(dns_query(f.d, "host.example.test", DNS_T_A, on_answer_free, &f) != NULL);
	run_until(&f.calls, 1, 5000);
	run_until(&never, 1, 200);
	CHECK_INT(f.calls, 1);
	CHECK(f.d == NULL);
}

static void
test_live_setup(void)
{
	const char *error = NULL;
	static const char *const bad[] = {
	        "localhost",     "127.0.0.1@", "127.0.0.1@0", "127.0.0.1@65536",
	        "127.0.0.1@53x", "1.2.3.4.5",  "@53"};

	if (!live_start())
		return;
	for (size_t i = 0; i < nitems(bad); i++) {
		struct dns *d = dns_new(&live.loop, bad[i], &error);

		if (d != NULL) {
			t_fail(__FILE__, __LINE__, bad[i]);
			dns_free(&d);
		}
		CHECK(error != NULL);
	}
	/* The system resolver: "localhost" is answered from /etc/hosts and
	   libunbound's own local zone, so nothing leaves the machine. */
	{
		struct dns *d = dns_new(&live.loop, NULL, &error);
		struct got g;

		CHECK(d != NULL);
		if (d != NULL) {
			ask(d, "localhost", DNS_T_A, &g);
			CHECK_INT(g.rc, DNS_OK);
			CHECK_STR(g.text, "127.0.0.1");
		}
		dns_free(&d);
		d = dns_new(&live.loop, "::1@5353", &error);
		CHECK(d != NULL);
		dns_free(&d);
		uv_run(&live.loop, UV_RUN_NOWAIT);
	}
}

/* test_live_dnssec - signed.test under its own trust anchor. */
static void
test_live_dnssec(void)
{
	struct dns_opts o = { .strict = true };
	struct dns *d;
	struct got g;
	struct mxgot mg;
	const char *error;

	if (!live_start() || !live.signed_zone)
		return;
	o.server = live.server;
	o.trust_anchor = live.anchor;
	if ((d = dns_new_opts(&live.loop, &o, &error)) == NULL) {
		t_fail(__FILE__, __LINE__, error);
		return;
	}
	ask(d, "good.signed.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK(g.secure);
	CHECK_STR(g.text, "192.0.2.50");
	ask(d, "tampered.signed.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_BOGUS);
	CHECK(!g.secure && g.n == 0);
	CHECK(strstr(g.why, "signature") != NULL || strstr(g.why, "validation") != NULL);
	ask(d, "nope.signed.test", DNS_T_A, &g); /* NSEC-proven */
	CHECK_INT(g.rc, DNS_NXDOMAIN);
	CHECK(g.secure);
	ask(d, "good.signed.test", DNS_T_MX, &g);
	CHECK_INT(g.rc, DNS_NODATA);
	CHECK(g.secure);
	ask(d, "host.example.test", DNS_T_A, &g); /* outside the anchor */
	CHECK_INT(g.rc, DNS_OK);
	CHECK(!g.secure);
	ask_mx(d, "signed.test", &mg);
	CHECK_INT(mg.r->rc, DNS_MX_OK);
	CHECK(mg.r->mx_secure);
	CHECK_INT(mg.r->nhosts, 1);
	CHECK_STR(mg.r->nhosts > 0 ? mg.r->hosts[0].name : "", "mx.signed.test");
	CHECK(mg.r->nhosts > 0 && mg.r->hosts[0].secure);
	free(mg.r);
	ask_mx(d, "example.test", &mg);
	CHECK(!mg.r->mx_secure && mg.r->nhosts > 0 && !mg.r->hosts[0].secure);
	free(mg.r);
	dns_free(&d);

	/* Not strict (the default with a forwarder): bogus reads as insecure. */
	o.strict = false;
	if ((d = dns_new_opts(&live.loop, &o, &error)) == NULL) {
		t_fail(__FILE__, __LINE__, error);
		return;
	}
	ask(d, "tampered.signed.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK(!g.secure);
	CHECK_STR(g.text, "192.0.2.61");
	ask(d, "good.signed.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK(g.secure);
	dns_free(&d);

	/* No trust anchor at all: nothing is secure, nothing fails. */
	o.trust_anchor = "/nonexistent/root.key";
	if ((d = dns_new_opts(&live.loop, &o, &error)) == NULL) {
		t_fail(__FILE__, __LINE__, error);
		return;
	}
	ask(d, "good.signed.test", DNS_T_A, &g);
	CHECK_INT(g.rc, DNS_OK);
	CHECK(!g.secure);
	dns_free(&d);
	uv_run(&live.loop, UV_RUN_NOWAIT);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Last: stop nsd, free the resolver, check that the loop is empty. */
static void
test_live_stop(void)
{
	if (!live.up)
		return;
	dns_free(&live.d);
	uv_close((uv_handle_t *)&live.watchdog, NULL);
	uv_run(&live.loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&live.loop), 0);
	nsd_stop();
	CHECK_INT(live.pid, 0);
	close(live.hole_fd);
	nftw(live.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static const struct t_test tests[] = {
	T(test_name_valid),
	T(test_name_decode),
	T(test_name_queryable),
	T(test_rr_decode),
	T(test_mx_sort),
	T(test_mx_select),
	T(test_live_records),
	T(test_live_negative),
	T(test_live_mx),
	T(test_live_mx_fallback),
	T(test_live_mx_permanent),
	T(test_live_timeout),
	T(test_live_overcap),
	T(test_live_cancel),
	T(test_live_free_in_callback),
	T(test_live_setup),
	T(test_live_dnssec),
	T(test_live_stop),
	{ 0 },
};

T_MAIN(tests)
