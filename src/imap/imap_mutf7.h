/*
 * imap_mutf7.h -- mailbox names in modified UTF-7 (RFC 3501 5.1.3) and
 * UTF-8.
 *
 * IMAP4rev1 clients name mailboxes in modified UTF-7: printable ASCII
 * stands for itself except "&", which is written "&-"; other characters
 * are UTF-16 in a base64 variant ("," for "/") between "&" and "-". After
 * ENABLE IMAP4rev2 or UTF8=ACCEPT names are plain UTF-8 (RFC 9051 5.1,
 * RFC 6855). The store takes UTF-8.
 * Pure: no I/O, no logging. Strict: a name has exactly one encoding, so
 * that two spellings never reach the same folder (and a check on one
 * spelling cannot be bypassed with another): non-shortest base64 runs,
 * encoded printable ASCII, unpaired surrogates, non-zero padding bits and
 * a missing "-" are refused, and so is invalid or overlong UTF-8.
 * Limits: the output buffer's bound.
 * Security: remote-facing; fuzzed by tests/fuzz/fuzz_imap_mutf7.c.
 */
#ifndef HIKYAKU_IMAP_MUTF7_H
#define HIKYAKU_IMAP_MUTF7_H

#include <stddef.h>

#include "base/buf.h"

/* Modified UTF-7 in[0..len) to UTF-8 appended to out. Returns 0, or -1
   with *error_r (static) and out's new bytes unspecified. */
int imap_mutf7_to_utf8(const char *in, size_t len, struct buf *out, const char **error_r);

/* UTF-8 in[0..len) to modified UTF-7 appended to out. Returns 0, or -1
   with *error_r (static) for invalid UTF-8 or when out is full. */
int imap_utf8_to_mutf7(const char *in, size_t len, struct buf *out, const char **error_r);

#endif
