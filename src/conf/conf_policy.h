/*
 * conf_policy.h -- smtp_tls_policy_maps: per-destination outbound TLS levels.
 *
 * File format (a subset of Postfix's policy table, type "texthash"): one
 * `DESTINATION LEVEL` per line, `#` comment lines, blank lines ignored.
 * DESTINATION is a domain ("example.com", exact) or ".example.com" (every
 * sub-domain of it); LEVEL is none, may, encrypt, verify or secure. The
 * exact entry wins, then the longest ".parent" entry, then the default.
 * Limits: CONF_POLICY_MAX_LINE bytes a line, CONF_POLICY_MAX entries.
 * Errors: "FILE:LINE: message". Fuzzed by tests/fuzz/fuzz_conf_policy.c.
 */
#ifndef HIKYAKU_CONF_CONF_POLICY_H
#define HIKYAKU_CONF_CONF_POLICY_H

#include <stddef.h>

#define CONF_POLICY_MAX_LINE 1024
#define CONF_POLICY_MAX 10000

struct conf_policy_entry {
	char *dest; /* lower-case; leading '.' for sub-domains */
	int level;  /* enum conf_tls_level */
};

struct conf_policy {
	size_t n;
	struct conf_policy_entry *v;
};

/* Parses `len` bytes; `name` stands for the file in messages. Returns 0, or
   -1 with err set; either way conf_policy_free() releases pm. */
int conf_policy_parse(struct conf_policy *pm, const char *name, const char *data, size_t len,
    char *err, size_t errsize);
/* Reads the file `path` ("" means no table: empty, returns 0). */
int conf_policy_load(struct conf_policy *pm, const char *path, char *err, size_t errsize);
/* The level for `domain` (lower-case), or `def` when no entry matches. */
int conf_policy_level(const struct conf_policy *pm, const char *domain, int def);
void conf_policy_free(struct conf_policy *pm);

#endif
