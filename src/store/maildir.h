/*
 * maildir.h -- durable delivery into Maildirs, with group commit.
 *
 * A message is written once, to data_dir/tmp/NAME, and on commit hard-linked
 * into every recipient's data_dir/mail/DOMAIN/LOCAL/new/ under one Maildir
 * name "<sec>.M<usec>P<pid>Q<seq>.<host>,S=<size>" (the size of the file,
 * which holds the message exactly as received, CRLF line endings).
 * Order per batch of messages: write, syncfs() (every temp file durable),
 * link() into each new/, syncfs() (every name durable), unlink(tmp). A crash
 * leaves either nothing in new/ or the whole message, never a partial file;
 * data_dir/tmp leftovers are removed by store_open(). data_dir/tmp and
 * data_dir/mail must be on one file system (link(2)).
 * Group commit: one committer thread takes every pending commit as a batch
 * so that the two flushes are shared by all messages of the batch;
 * completions come back to the loop thread through uv_async_send(). The
 * committer never touches SQLite: paths are resolved at maildir_tx_add_rcpt().
 * Without store_commit_start(), maildir_tx_commit() works synchronously.
 * A prefix (maildir_tx_set_prefix) replaces the start of what was written
 * at commit: header fields that depend on the whole message, and the
 * header section without forged ones (see base/wfile_prefix.h for why and
 * what it costs). A folder (maildir_tx_set_folder) delivers into the
 * Maildir++ sub-folder ".NAME" of every recipient (e.g. Junk), made with
 * its cur/new/tmp and "maildirfolder" marker when missing.
 * Standards: Maildir (cr.yp.to/proto/maildir.html), Maildir++ ",S=" and
 * ".Folder" directories.
 */
#ifndef HIKYAKU_STORE_MAILDIR_H
#define HIKYAKU_STORE_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "store/store.h"

/* Max recipients of one transaction (smtpd_recipient_limit's upper bound). */
#define MAILDIR_MAX_RCPTS 100000
/* Largest prefix: a header section kept in memory plus added fields. */
#define MAILDIR_MAX_PREFIX (1024 * 1024)

struct maildir_tx;

/* status: 1 durable in every mailbox; -1 failed, nothing visible, error says why. */
typedef void maildir_done_fn(void *ctx, int status, const char *error);

/* Starts a message: creates data_dir/tmp/<unique> (O_EXCL, 0600). Returns
   NULL with *error_r (static storage) on failure. Loop thread only. */
struct maildir_tx *maildir_tx_begin(struct store *s, const char **error_r);
/* Buffered append (one write(2) per ~64 KiB). Returns 0, or -1; an error is
   sticky and makes the commit fail. */
int maildir_tx_write(struct maildir_tx *tx, const void *p, size_t n);
/* Adds an existing account (any case; a repeated address is ignored).
   Returns 0, or -1 (invalid address, no such user, database error). */
int maildir_tx_add_rcpt(struct maildir_tx *tx, const char *address);
/*
 * At commit, the stored message becomes `prefix` followed by what was
 * written from offset `skip` on (skip <= bytes written so far; the caller
 * keeps the bytes it replaces). The prefix is copied (at most
 * MAILDIR_MAX_PREFIX bytes). Returns 0, or -1 when skip is past the data
 * or the prefix too long. Loop thread, before maildir_tx_commit().
 */
int maildir_tx_set_prefix(struct maildir_tx *tx, const void *prefix, size_t n, uint64_t skip);
/* Delivers into the Maildir++ folder ".NAME" instead of INBOX, for every
   recipient ("Junk"). NAME: 1..64 letters, digits, '-' or '_'. Returns 0,
   or -1 for another name. */
int maildir_tx_set_folder(struct maildir_tx *tx, const char *name);
/* Makes the message durable in every recipient's new/, then calls done on
   the loop thread (never from inside this call when the committer runs).
   The tx is consumed. A tx without recipients fails. */
void maildir_tx_commit(struct maildir_tx *tx, maildir_done_fn *done, void *ctx);
/* Drops the message and removes its temp file; *tx = NULL. NULL is fine. */
void maildir_tx_abort(struct maildir_tx **tx);

/* Starts the committer thread, completing on `loop`. Returns 0 or -1. */
int store_commit_start(struct store *s, uv_loop_t *loop);
/* Finishes every pending commit (calling their done callbacks), stops the
   thread and closes its async handle. Safe when not started. */
void store_commit_stop(struct store *s);

#endif
