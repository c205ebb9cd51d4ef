/*
 * sts.h -- MTA-STS (RFC 8461): the _mta-sts TXT record and the policy file
 * a domain serves at https://mta-sts.DOMAIN/.well-known/mta-sts.txt.
 *
 * Pure parsers: bytes in, a struct out; no I/O (the fetch is the caller's,
 * over HTTPS with libcurl). Used by `hikyaku check` now and by outbound
 * delivery later.
 * Limits: STS_POLICY_MAX bytes of policy (RFC 8461 3.3: 64 KiB), STS_MAX_MX
 * mx patterns, STS_MAX_LINE per line; max_age at most 31557600 (one year).
 * Standards: RFC 8461 sections 3.1 (record), 3.2 (policy), 4.1 (MX host
 * matching: exact, or "*.example.com" for exactly one more label).
 * Security: both inputs come from the network; they are fuzzed
 * (tests/fuzz/fuzz_sts.c).
 */
#ifndef HIKYAKU_STS_STS_H
#define HIKYAKU_STS_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STS_POLICY_MAX (64 * 1024)
#define STS_MAX_MX 64
#define STS_MAX_LINE 1024
#define STS_MAX_AGE 31557600u
#define STS_ID_MAX 32

enum sts_mode { STS_MODE_NONE, STS_MODE_TESTING, STS_MODE_ENFORCE };

struct sts_policy {
	enum sts_mode mode;
	uint32_t max_age;
	size_t nmx;
	char mx[STS_MAX_MX][256]; /* lower-case patterns */
};

/* "v=STSv1; id=20160831085700Z;": copies the id (1..32 alphanumerics).
   Returns 0, or -1 with *error_r (static) for anything else. */
int sts_record_parse(const char *txt, char id[STS_ID_MAX + 1], const char **error_r);

/* The policy body (CRLF or LF lines of "key: value"). Unknown keys are
   ignored as the RFC says; version, mode and max_age are required, and mx
   unless mode is none. Returns 0, or -1 with *error_r (static). */
int sts_policy_parse(const char *text, size_t len, struct sts_policy *p, const char **error_r);

/* Does an MX host name match one of the policy's patterns (any case, a
   trailing dot ignored)? */
bool sts_policy_mx_match(const struct sts_policy *p, const char *host);

const char *sts_mode_name(enum sts_mode m);

#endif
