/*
 * dns_rr.c -- DNS names and record data: validation and decoding.
 *
 * Pure functions over untrusted bytes; see dns_rr.h for the limits and
 * standards. Every read is preceded by a check against the bytes left.
 */
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "dns/dns_rr.h"

/* dns_label_char - octets written as themselves in a decoded name. */
static bool
dns_label_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool
dns_name_is_valid(const char *name)
{
	size_t len = strlen(name), label = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	/* 253 text octets + the first length octet + the root = 255 on the wire. */
	if (len == 0 || len > DNS_NAME_WIRE_MAX - 2)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!dns_label_char((uint8_t)name[i]) || ++label > DNS_LABEL_MAX)
			return false;
	}
	return label > 0;
}

/* dns_escape_len - 4 when name[i] starts a \DDD escape (the form
   dns_name_decode() writes for other octets), else 0. */
static size_t
dns_escape_len(const char *name, size_t i)
{
	const char *p = name + i;

	if (p[0] != '\\' || p[1] < '0' || p[1] > '2' || p[2] < '0' || p[2] > '9' || p[3] < '0' ||
	    p[3] > '9' || (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0') > 255)
		return 0;
	return 4;
}

bool
dns_name_is_queryable(const char *name)
{
	size_t len = strlen(name), label = 0, octets = 0;

	if (len > 0 && name[len - 1] == '.' && dns_escape_len(name, len >= 4 ? len - 4 : 0) == 0)
		len--;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			octets++;
			continue;
		}
		if ((uint8_t)name[i] < 0x20 || (uint8_t)name[i] > 0x7e)
			return false;
		i += dns_escape_len(name, i) > 0 ? 3 : 0;
		octets++;
		if (++label > DNS_LABEL_MAX)
			return false;
	}
	return label > 0 && octets <= DNS_NAME_WIRE_MAX - 2;
}

int
dns_name_escape(const char *name, char *dst, size_t size)
{
	size_t w = 0;

	for (const char *p = name; *p != '\0'; p++) {
		uint8_t c = (uint8_t)*p;
		bool plain = c == '.' || (c > 0x20 && c < 0x7f && strchr("\\;()\"@$", c) == NULL);

		if (dns_escape_len(p, 0) > 0) { /* already an escape: keep it */
			if (w + 4 >= size)
				return -1;
			memcpy(dst + w, p, 4);
			w += 4;
			p += 3;
			continue;
		}
		if (w + (plain ? 1 : 4) >= size)
			return -1;
		if (plain)
			dst[w++] = (char)c;
		else
			w += (size_t)snprintf(dst + w, size - w, "\\%03u", c);
	}
	dst[w] = '\0';
	return 0;
}

bool
dns_name_is_ip_literal(const char *name)
{
	size_t len = strlen(name), start;

	if (len > 0 && name[len - 1] == '.')
		len--;
	start = len;
	while (start > 0 && name[start - 1] != '.')
		start--;
	if (start == len)
		return false;
	for (size_t i = start; i < len; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

/* dns_put - appends one octet of a label to dst, escaped when needed;
   false when it does not fit (one octet is kept for the NUL). */
static bool
dns_put(char *dst, size_t size, size_t *w, uint8_t c)
{
	if (dns_label_char(c)) {
		if (*w + 1 >= size)
			return false;
		dst[(*w)++] = (char)c;
		return true;
	}
	if (*w + 4 >= size)
		return false;
	snprintf(dst + *w, 5, "\\%03u", (unsigned)c);
	*w += 4;
	return true;
}

int
dns_name_decode(const uint8_t *p, size_t n, char *dst, size_t size)
{
	size_t off = 0, w = 0;

	if (size < 2)
		return -1;
	for (;;) {
		uint8_t len;

		if (off >= n)
			return -1; /* truncated: no root label */
		len = p[off++];
		if (len == 0)
			break;
		/* 0xC0 is a compression pointer, 0x40/0x80 extended label
		   types (RFC 6891 5): neither belongs in decompressed rdata. */
		if (len > DNS_LABEL_MAX)
			return -1;
		if (len > n - off || off + len + 1 > DNS_NAME_WIRE_MAX)
			return -1;
		if (w > 0) {
			if (w + 1 >= size)
				return -1;
			dst[w++] = '.';
		}
		for (size_t i = 0; i < len; i++)
			if (!dns_put(dst, size, &w, p[off + i]))
				return -1;
		off += len;
	}
	if (w == 0)
		dst[w++] = '.'; /* the root */
	dst[w] = '\0';
	return (int)off;
}

/* dns_rr_addr - A and AAAA: exactly 4 or 16 octets. */
static int
dns_rr_addr(struct dns_rr *rr, uint16_t type, const uint8_t *p, size_t n)
{
	if (type == DNS_T_A) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&rr->u.addr;

		if (n != 4)
			return -1;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, p, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&rr->u.addr;

		if (n != 16)
			return -1;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, p, 16);
	}
	return 0;
}

/* dns_rr_mx - preference, then an exchange name that ends the rdata. */
static int
dns_rr_mx(struct dns_rr *rr, const uint8_t *p, size_t n)
{
	int used;

	if (n < 3)
		return -1;
	rr->u.mx.pref = (uint16_t)(p[0] << 8 | p[1]);
	used = dns_name_decode(p + 2, n - 2, rr->u.mx.name, sizeof(rr->u.mx.name));
	return used >= 0 && (size_t)used == n - 2 ? 0 : -1;
}

/* dns_rr_txt - one or more <length><octets> strings, concatenated. */
static int
dns_rr_txt(struct dns_rr *rr, const uint8_t *p, size_t n)
{
	size_t off = 0, w = 0;
	char *text;

	/* RFC 1035 3.3.14: at least one character-string. */
	if (n == 0 || n > DNS_TXT_MAX)
		return -1;
	text = xmalloc(n); /* the text is shorter than the rdata by one octet per string */
	while (off < n) {
		size_t len = p[off++];

		if (len > n - off) {
			free(text);
			return -1;
		}
		memcpy(text + w, p + off, len);
		w += len;
		off += len;
	}
	text[w] = '\0';
	rr->u.txt.text = text;
	rr->u.txt.len = w;
	return 0;
}

/* dns_rr_tlsa - usage, selector, matching type, association data. */
static int
dns_rr_tlsa(struct dns_rr *rr, const uint8_t *p, size_t n)
{
	if (n < 3 || n > UINT16_MAX)
		return -1;
	rr->u.tlsa.usage = p[0];
	rr->u.tlsa.selector = p[1];
	rr->u.tlsa.mtype = p[2];
	rr->u.tlsa.len = n - 3;
	rr->u.tlsa.data = xmalloc(n - 3 + 1); /* +1: never malloc(0) */
	if (n > 3)
		memcpy(rr->u.tlsa.data, p + 3, n - 3);
	return 0;
}

/* dns_rr_srv - priority, weight, port, then a target name ending the
   rdata (RFC 2782; no name compression in it, RFC 3597 4). */
static int
dns_rr_srv(struct dns_rr *rr, const uint8_t *p, size_t n)
{
	int used;

	if (n < 7)
		return -1;
	rr->u.srv.prio = (uint16_t)(p[0] << 8 | p[1]);
	rr->u.srv.weight = (uint16_t)(p[2] << 8 | p[3]);
	rr->u.srv.port = (uint16_t)(p[4] << 8 | p[5]);
	used = dns_name_decode(p + 6, n - 6, rr->u.srv.target, sizeof(rr->u.srv.target));
	return used >= 0 && (size_t)used == n - 6 ? 0 : -1;
}

/* dns_rr_ptr - a name that is the whole rdata. */
static int
dns_rr_ptr(struct dns_rr *rr, const uint8_t *p, size_t n)
{
	int used = dns_name_decode(p, n, rr->u.ptr.name, sizeof(rr->u.ptr.name));

	return used >= 0 && (size_t)used == n ? 0 : -1;
}

int
dns_rr_decode(struct dns_rr *rr, uint16_t type, const uint8_t *p, size_t n)
{
	int rc;

	memset(rr, 0, sizeof(*rr));
	rr->type = type;
	if (p == NULL)
		n = 0;
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		rc = dns_rr_addr(rr, type, p, n);
		break;
	case DNS_T_MX:
		rc = dns_rr_mx(rr, p, n);
		break;
	case DNS_T_TXT:
		rc = dns_rr_txt(rr, p, n);
		break;
	case DNS_T_TLSA:
		rc = dns_rr_tlsa(rr, p, n);
		break;
	case DNS_T_PTR:
		rc = dns_rr_ptr(rr, p, n);
		break;
	case DNS_T_SRV:
		rc = dns_rr_srv(rr, p, n);
		break;
	default:
		rc = -1;
		break;
	}
	if (rc < 0)
		memset(rr, 0, sizeof(*rr)); /* the helpers free what they allocated */
	return rc;
}

void
dns_rr_clear(struct dns_rr *rr)
{
	if (rr->type == DNS_T_TXT)
		free(rr->u.txt.text);
	else if (rr->type == DNS_T_TLSA)
		free(rr->u.tlsa.data);
	memset(rr, 0, sizeof(*rr));
}
