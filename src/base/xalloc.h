/*
 * xalloc.h -- allocation that cannot fail: on out-of-memory the process dies
 * (Postfix mymalloc, OpenSMTPD xmalloc). All memory returned is zeroed where
 * that costs nothing extra (xcalloc); strings are always NUL-terminated.
 */
#ifndef HIKYAKU_BASE_XALLOC_H
#define HIKYAKU_BASE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh heap string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
