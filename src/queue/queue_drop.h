/*
 * queue_drop.h -- the maildrop: how users who may not write the spool
 * still queue mail with `hikyaku sendmail`.
 *
 * data_dir/maildrop/ is mode 1733 (run_user's; others may create files but
 * not list, read or remove other people's), data_dir 0711. A drop file is
 * written as NAME.tmp (NAME: 32 random hex digits, unguessable because the
 * directory cannot be listed), mode 0644 so that the daemon can read it,
 * syncfs()ed, renamed to NAME, syncfs()ed again: once sendmail exits 0 the
 * message is durable. The daemon's pickup (cmd/serve_pickup.c) moves each
 * complete drop file into the queue and removes it.
 * Format: the envelope text of queue_env_format() (its id and arrival are
 * placeholders), one empty line, then the message (CRLF lines).
 * Security: a drop file is untrusted: opened with O_NOFOLLOW|O_NONBLOCK,
 * it must be a regular file with one link; the envelope goes through the
 * fuzzed queue_env_parse(), every address through addr_parse_mailbox(),
 * and the sender's identity is the file's owner (st_uid), never its text.
 * Limits: the message by the caller's max (message_size_limit); the
 * envelope by QUEUE_ENV_MAX_SIZE.
 */
#ifndef HIKYAKU_QUEUE_DROP_H
#define HIKYAKU_QUEUE_DROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "queue/queue.h"

#define QUEUE_DROP_DIR "maildrop"
#define QUEUE_DROP_NAME_LEN 32

/*
 * Writes env + msg as a drop file under data_dir/maildrop and makes it
 * durable. Returns 0, or -1 with *error_r (thread-local).
 */
int queue_drop_put(const char *data_dir, const struct queue_env *env, const void *msg,
                   size_t len, const char **error_r);

/* Is name a complete drop file's name (not a .tmp, not anything else)? */
bool queue_drop_name_valid(const char *name);

/*
 * Parses a drop file's bytes: env (free with queue_env_deinit) with every
 * address checked, and the offset of the message. Pure (fuzzed).
 * Returns 0, or -1 with *error_r (static).
 */
int queue_drop_parse(const void *data, size_t len, struct queue_env *env, size_t *msg_off,
                     const char **error_r);

/*
 * Reads drop file `name` in the maildrop directory dfd into out (at most
 * max_size message bytes plus the envelope) and reports its owner.
 * Returns 1 read, 0 gone (another pickup took it), -1 error with *error_r
 * (the file should then be set aside: it will never be valid).
 */
int queue_drop_read(int dfd, const char *name, uint64_t max_size, struct buf *out, uid_t *uid_r,
                    const char **error_r);

#endif
