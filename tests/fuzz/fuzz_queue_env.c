/*
 * fuzz_queue_env.c -- libFuzzer target for the queue envelope parser
 * (src/queue/queue_env.c).
 *
 * The whole input is one envelope file. Invariants, checked with abort():
 *   - parse returns 1 or -1 with an error, and a rejected input leaves the
 *     struct empty;
 *   - an accepted envelope formats, and that text parses again and formats
 *     to the same bytes (a fixpoint), so the daemon's rewrites never drift;
 *   - an accepted id is a valid queue id (a safe file name).
 */
#include <string.h>

#include "queue/queue.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_env env, again;
	const char *err = NULL;
	struct buf a, b;
	int rc = queue_env_parse(data, size, &env, &err);

	FUZZ_ASSERT(rc == 1 || (rc == -1 && err != NULL));
	if (rc != 1) {
		FUZZ_ASSERT(env.nrcpts == 0 && env.rcpts == NULL && env.sender == NULL);
		return 0;
	}
	FUZZ_ASSERT(queue_id_valid(env.id) && env.nrcpts >= 1 && env.nrcpts <= QUEUE_MAX_RCPTS);
	buf_init(&a, 256, QUEUE_ENV_MAX_SIZE * 2);
	buf_init(&b, 256, QUEUE_ENV_MAX_SIZE * 2);
	FUZZ_ASSERT(queue_env_format(&env, &a) == 0);
	FUZZ_ASSERT(queue_env_parse(buf_peek(&a).p, buf_len(&a), &again, &err) == 1);
	FUZZ_ASSERT(queue_env_format(&again, &b) == 0);
	FUZZ_ASSERT(buf_len(&a) == buf_len(&b) &&
	            memcmp(buf_peek(&a).p, buf_peek(&b).p, buf_len(&a)) == 0);
	queue_env_deinit(&again);
	queue_env_deinit(&env);
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
