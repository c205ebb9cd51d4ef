/*
 * fuzz_conf_policy.c -- libFuzzer target for the smtp_tls_policy_maps parser.
 * Invariants: an error names the file and a line; every accepted entry is a
 * valid level and a lower-case destination that looks itself up.
 */
#include <ctype.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/conf_policy.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_policy pm;
	char err[256];

	if (conf_policy_parse(&pm, "f", (const char *)data, size, err, sizeof(err)) < 0) {
		FUZZ_ASSERT(strncmp(err, "f:", 2) == 0);
	} else {
		for (size_t i = 0; i < pm.n; i++) {
			const char *d = pm.v[i].dest;

			FUZZ_ASSERT(pm.v[i].level >= CONF_TLS_NONE && pm.v[i].level <= CONF_TLS_SECURE);
			for (const char *c = d; *c != '\0'; c++)
				FUZZ_ASSERT(!isupper((unsigned char)*c));
			if (d[0] != '.')
				FUZZ_ASSERT(conf_policy_level(&pm, d, -1) >= 0);
		}
	}
	conf_policy_free(&pm);
	return 0;
}
