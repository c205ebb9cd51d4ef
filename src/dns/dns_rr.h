/*
 * dns_rr.h -- DNS names and record data: validation and decoding.
 *
 * Pure: no I/O, no logging, no global state; the only allocation is the
 * copy of a TXT or TLSA body. Input is rdata as libunbound hands it over
 * (struct ub_result data[i]/len[i]): wire format, uncompressed, but it comes
 * from the network, so every length is checked against the bytes present.
 * Limits: names 255 octets on the wire, labels 63 (RFC 1035 2.3.4); no
 * compression pointers or extended label types inside rdata (libunbound
 * decompresses the types we ask for; anything else is malformed here).
 * Standards: RFC 1035 3.3.9 (MX), 3.3.12 (PTR), 3.3.14 (TXT), 3.4.1 (A);
 * RFC 3596 (AAAA); RFC 6698 2.1 (TLSA); RFC 2181 11 (any octet in a label).
 * Security: remote data; fuzzed by tests/fuzz/fuzz_dns_rr.c.
 */
#ifndef HIKYAKU_DNS_DNS_RR_H
#define HIKYAKU_DNS_DNS_RR_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_T_A 1
#define DNS_T_PTR 12
#define DNS_T_MX 15
#define DNS_T_TXT 16
#define DNS_T_AAAA 28
#define DNS_T_SRV 33
#define DNS_T_TLSA 52

#define DNS_NAME_WIRE_MAX 255 /* RFC 1035 2.3.4, length octets included */
#define DNS_LABEL_MAX 63
#define DNS_NAME_TEXT_MAX 256 /* room for a decoded name and its NUL */
#define DNS_TXT_MAX (64 * 1024)

/* One decoded record. Names are in presentation form without the final
   dot ("mx.example.org"), the root as "."; label octets other than
   letters, digits, '-' and '_' are written as \DDD (RFC 1035 5.1). */
struct dns_rr {
	uint16_t type;
	uint32_t ttl;
	union {
		struct {
			uint16_t pref;
			char name[DNS_NAME_TEXT_MAX];
		} mx;
		struct {
			char name[DNS_NAME_TEXT_MAX];
		} ptr;
		struct {
			uint16_t prio, weight, port;
			char target[DNS_NAME_TEXT_MAX]; /* "." : service not offered */
		} srv;
		struct sockaddr_storage addr; /* A/AAAA, port 0 */
		struct {
			size_t len;
			char *text; /* character-strings concatenated, NUL-terminated */
		} txt;
		struct {
			uint8_t usage, selector, mtype;
			size_t len;
			uint8_t *data;
		} tlsa;
	} u;
};

/*
 * True when `name` is a domain we may query: 1..253 octets of text, an
 * optional final dot, labels of 1..63 letters, digits, '-' or '_'. No
 * escapes, no spaces, no non-ASCII (callers convert U-labels first).
 */
bool dns_name_is_valid(const char *name);

/*
 * True when `name` may be asked at all (RFC 2181 11: any octet is allowed
 * in a label): 1..253 octets, an optional final dot, labels of 1..63
 * visible ASCII characters or spaces, where \DDD (as dns_name_decode()
 * writes) stands for one octet. SPF macros build such names (RFC 7208
 * 7.1); dns_query() escapes them for the wire. Everything that names a
 * host must still pass dns_name_is_valid().
 */
bool dns_name_is_queryable(const char *name);

/* Writes name in presentation form for a resolver library: '.' separates
   labels, \DDD escapes are kept, other special characters become \DDD.
   Returns 0, or -1 when it does not fit `size` (4 x 253 + 1 always fits). */
int dns_name_escape(const char *name, char *dst, size_t size);

/*
 * True when the last label of a valid name is all digits: "192.0.2.1" or
 * "10.1" are IP literals in disguise, not host names (RFC 1123 2.1, RFC
 * 3696 2), and must not be used as MX hosts.
 */
bool dns_name_is_ip_literal(const char *name);

/*
 * Decodes the wire-format name at p[0..n) into dst (presentation form, as
 * in struct dns_rr). Returns the wire octets used, or -1 when the name is
 * truncated, uses compression or an extended label type, exceeds 255
 * octets, or does not fit `size` once escaped (size >= 2).
 */
int dns_name_decode(const uint8_t *p, size_t n, char *dst, size_t size);

/*
 * Decodes one rdata item of `type` (A, AAAA, MX, TXT, TLSA, PTR) into *rr;
 * rr->type is set, rr->ttl left at 0. Every octet must be accounted for.
 * Returns 0, or -1 when malformed or of another type (*rr is then zeroed
 * and owns nothing). A success may own heap memory: dns_rr_clear() it.
 */
int dns_rr_decode(struct dns_rr *rr, uint16_t type, const uint8_t *p, size_t n);

/* Frees what dns_rr_decode() allocated and zeroes *rr. */
void dns_rr_clear(struct dns_rr *rr);

#endif
