/*
 * wfile_prefix.h -- putting header lines in front of a spooled message at
 * commit time, for the Maildir and queue committers.
 *
 * Why: the SMTP engine streams DATA into a temp file, but some header
 * fields depend on the whole message (Authentication-Results once DKIM and
 * DMARC are known; DKIM-Signature once the body hash is). The caller keeps
 * the message's header section in memory while it streams (bounded), and
 * at commit hands "new fields + filtered header section" as the prefix and
 * the raw header section's length as `skip`: the final file is the prefix
 * followed by the written bytes from offset `skip` on (the body).
 * Cost: a message that still fits in the wfile buffer (64 KiB, the common
 * case) has not touched the disk yet, so the prefix is simply written
 * first: no copy. A larger one is copied once into a new temp file with
 * copy_file_range(2) (in-kernel, no user-space copy), which then replaces
 * the old name. Runs on the committer thread, before the barrier, so the
 * durability order (data synced before any name points at it) is the
 * caller's as before.
 */
#ifndef HIKYAKU_BASE_WFILE_PREFIX_H
#define HIKYAKU_BASE_WFILE_PREFIX_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/span.h"
#include "base/wfile.h"

/* A prefix waiting for the commit (one per Maildir or queue transaction). */
struct wfile_prefix {
	struct buf text;
	uint64_t skip;
	bool set;
};

/* Empty; a prefix may be at most max bytes. */
void wfile_prefix_init(struct wfile_prefix *p, size_t max);
void wfile_prefix_deinit(struct wfile_prefix *p);
/* Copies the prefix to use at commit over the bytes before `skip` (which
   must not be past what w has been given). Returns 0, or -1 (skip past
   the data, prefix over max). */
int wfile_prefix_set(struct wfile_prefix *p, const struct wfile *w, const void *prefix,
                     size_t n, uint64_t skip);
/* At commit (committer thread): wfile_prefix_apply() when one was set.
   Returns 0, or -1 with w->err set. */
int wfile_prefix_commit(struct wfile_prefix *p, struct wfile *w, int dirfd, const char *name);

/*
 * Makes the file `name` in directory `dirfd` (w's file) hold prefix + the
 * bytes written from offset skip (<= w->size) on, flushed; w->fd may be
 * replaced and w->size becomes the new length. Returns 0, or -1 with
 * w->err set (sticky, as for wfile_write).
 */
int wfile_prefix_apply(struct wfile *w, int dirfd, const char *name, struct span prefix,
                       uint64_t skip);

#endif
