/*
 * fuzz_queue_drop.c -- libFuzzer target for maildrop files
 * (src/queue/queue_drop.c), which any local user can write.
 *
 * The whole input is one drop file. Invariants, checked with abort():
 *   - parse returns 0 or -1 with an error; a rejected input leaves the
 *     envelope empty;
 *   - an accepted file has a sender and 1..QUEUE_MAX_RCPTS recipients,
 *     none of them empty, and the message offset lies within the input.
 */
#include "queue/queue_drop.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_env env;
	const char *err = NULL;
	size_t off = 0;
	int rc = queue_drop_parse(data, size, &env, &off, &err);

	FUZZ_ASSERT(rc == 0 || (rc == -1 && err != NULL));
	if (rc != 0) {
		FUZZ_ASSERT(env.nrcpts == 0 && env.rcpts == NULL && env.sender == NULL);
		return 0;
	}
	FUZZ_ASSERT(env.sender != NULL && off <= size);
	FUZZ_ASSERT(env.nrcpts >= 1 && env.nrcpts <= QUEUE_MAX_RCPTS);
	for (size_t i = 0; i < env.nrcpts; i++)
		FUZZ_ASSERT(env.rcpts[i].addr[0] != '\0');
	queue_env_deinit(&env);
	return 0;
}
