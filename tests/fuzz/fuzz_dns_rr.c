/*
 * fuzz_dns_rr.c -- libFuzzer target for the rdata and name decoders
 * (src/dns/dns_rr.c).
 *
 * Input: byte 0 picks the record type (A, AAAA, MX, TXT, TLSA, PTR, or one
 * we do not decode); the rest is the rdata. Checks: a success accounts for
 * the bytes it claims (addresses exact, TXT text no longer than the rdata,
 * TLSA body = rdata less 3), every decoded name fits its buffer, and a
 * decoded name without escapes is again a valid query name. The same bytes
 * are also run through dns_name_decode() and, as text, dns_name_is_valid().
 */
#include <netinet/in.h>

#include <string.h>

#include "dns/dns_rr.h"
#include "fuzz.h"

static const uint16_t fuzz_types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_TLSA,
	DNS_T_PTR, DNS_T_SRV, 99 };

/* check_name - a decoded name: terminated in its buffer, and valid for a
   query unless it is the root or holds escapes. */
static void
check_name(const char *name, size_t size)
{
	size_t len = strnlen(name, size);

	FUZZ_ASSERT(len > 0 && len < size);
	if (strcmp(name, ".") != 0 && strchr(name, '\\') == NULL)
		FUZZ_ASSERT(dns_name_is_valid(name));
}

static void
check_rr(const struct dns_rr *rr, uint16_t type, size_t n)
{
	FUZZ_ASSERT(rr->type == type);
	switch (type) {
	case DNS_T_A:
		FUZZ_ASSERT(n == 4 && rr->u.addr.ss_family == AF_INET);
		break;
	case DNS_T_AAAA:
		FUZZ_ASSERT(n == 16 && rr->u.addr.ss_family == AF_INET6);
		break;
	case DNS_T_MX:
		check_name(rr->u.mx.name, sizeof(rr->u.mx.name));
		break;
	case DNS_T_PTR:
		check_name(rr->u.ptr.name, sizeof(rr->u.ptr.name));
		break;
	case DNS_T_SRV:
		FUZZ_ASSERT(n >= 7);
		check_name(rr->u.srv.target, sizeof(rr->u.srv.target));
		break;
	case DNS_T_TXT:
		FUZZ_ASSERT(rr->u.txt.len < n && rr->u.txt.text[rr->u.txt.len] == '\0');
		break;
	case DNS_T_TLSA:
		FUZZ_ASSERT(rr->u.tlsa.len == n - 3);
		break;
	default:
		FUZZ_ASSERT(0); /* other types never decode */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_rr rr;
	char name[DNS_NAME_TEXT_MAX], text[300];
	uint16_t type;
	int used;

	if (size < 1)
		return 0;
	type = fuzz_types[data[0] % (sizeof(fuzz_types) / sizeof(fuzz_types[0]))];
	data++;
	size--;
	if (dns_rr_decode(&rr, type, data, size) == 0) {
		check_rr(&rr, type, size);
		dns_rr_clear(&rr);
	}
	if ((used = dns_name_decode(data, size, name, sizeof(name))) >= 0) {
		FUZZ_ASSERT((size_t)used <= size && used <= DNS_NAME_WIRE_MAX);
		check_name(name, sizeof(name));
	}
	if (size < sizeof(text)) {
		memcpy(text, data, size);
		text[size] = '\0';
		(void)dns_name_is_valid(text);
		(void)dns_name_is_ip_literal(text);
	}
	return 0;
}
