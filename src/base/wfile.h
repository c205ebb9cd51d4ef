/*
 * wfile.h -- buffered writes to a file descriptor with a sticky error, for
 * spool and Maildir temp files: small writes are gathered (one write(2)
 * per 64 KiB), a failed write is remembered and every later call fails, so
 * callers check once, at commit. The file itself is the caller's (open,
 * fsync, close).
 */
#ifndef HIKYAKU_BASE_WFILE_H
#define HIKYAKU_BASE_WFILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define WFILE_BUF (64 * 1024)

struct wfile {
	int fd;
	struct buf b;
	uint64_t size; /* bytes given to wfile_write() */
	int err;       /* sticky errno, 0 while all is well */
};

void wfile_init(struct wfile *w, int fd);
void wfile_deinit(struct wfile *w); /* frees the buffer; does not close fd */
/* Returns 0, or -1 (w->err set) now or after any earlier failure. */
int wfile_write(struct wfile *w, const void *p, size_t n);
/* Writes out what is buffered. Returns 0 or -1 (w->err set). */
int wfile_flush(struct wfile *w);
/* write(2) until done, retrying EINTR. Returns 0 or -1 with errno. */
int write_all(int fd, const void *p, size_t n);

#endif
