/*
 * fuzz.h -- shared by the fuzz targets: the entry point and an assertion
 * that aborts (so libFuzzer and the replay runner both report it).
 */
#ifndef HIKYAKU_TESTS_FUZZ_H
#define HIKYAKU_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

#endif
