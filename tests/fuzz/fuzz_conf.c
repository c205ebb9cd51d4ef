/*
 * fuzz_conf.c -- libFuzzer target for the config parser (src/conf/conf.c).
 *
 * The input is a whole hikyaku.conf. Invariants, checked with abort():
 *   - an error names the file ("fuzz:") and is NUL-terminated in its buffer;
 *   - an accepted file dumps to text that parses again, and that dump is a
 *     fixpoint (dump(parse(dump(c))) == dump(c));
 *   - conf_free() releases everything (LeakSanitizer checks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "fuzz.h"

/* dump_to_mem - conf_dump() into a heap string. */
static char *
dump_to_mem(const struct conf *c, size_t *len)
{
	char *text = NULL;
	FILE *fp = open_memstream(&text, len);

	FUZZ_ASSERT(fp != NULL);
	conf_dump(fp, c, false);
	FUZZ_ASSERT(fclose(fp) == 0);
	return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, again;
	char err[512];
	char *d1, *d2;
	size_t n1, n2;

	if (conf_parse_buffer(&c, "fuzz", data, size, err, sizeof(err)) < 0) {
		FUZZ_ASSERT(strncmp(err, "fuzz:", 5) == 0 && memchr(err, '\0', sizeof(err)));
		conf_free(&c);
		return 0;
	}
	d1 = dump_to_mem(&c, &n1);
	FUZZ_ASSERT(conf_parse_buffer(&again, "dump", d1, n1, err, sizeof(err)) == 0);
	d2 = dump_to_mem(&again, &n2);
	FUZZ_ASSERT(n1 == n2 && memcmp(d1, d2, n1) == 0);
	free(d1);
	free(d2);
	conf_free(&c);
	conf_free(&again);
	return 0;
}
