/*
 * imap_seqset.h -- IMAP sequence sets: "1:3,7,10:*".
 *
 * Parses the sequence-set grammar of RFC 9051 section 9 (seq-number,
 * seq-range, "*", ranges in either order), tests membership against the
 * current mailbox size, and formats a sorted list of numbers back into the
 * compact form (COPYUID, ESEARCH ALL, RFC 4315 / RFC 4731).
 * Pure: no I/O, no logging. Input is untrusted client data.
 * Limits: IMAP_SEQSET_MAX_RANGES ranges per set; each number fits
 * nz-number (1 .. 4294967295); 0 is refused.
 * Security: remote-facing; exercised by tests/unit/test_imap_seqset.c and
 * through SEARCH by tests/fuzz/fuzz_imap_search.c.
 */
#ifndef HIKYAKU_IMAP_SEQSET_H
#define HIKYAKU_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define IMAP_SEQSET_MAX_RANGES 10000
/* "*" is stored as this value; imap_seqset_contains() maps it to max. */
#define IMAP_SEQSET_STAR UINT32_MAX

struct imap_seqset {
	size_t n;
	struct imap_range {
		uint32_t lo, hi; /* as written: lo may exceed hi ("5:2"), either may be STAR */
	} *r;
};

/*
 * Parses s[0..len) (no NUL needed) into *out, which must not hold a set
 * (zero it, or free it first). Returns 0, or -1 with *error_r (static text
 * for a BAD reply) and *out left empty.
 */
int imap_seqset_parse(const char *s, size_t len, struct imap_seqset *out, const char **error_r);

/*
 * True when v (1-based) is in the set, "*" meaning max (the highest message
 * number or UID in the mailbox). As RFC 9051 section 9 says, "n:*" holds max
 * even when n > max, and a range is the same in either order.
 */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t v, uint32_t max);

/*
 * The lowest and highest value the set can match in a mailbox whose highest
 * number is max, for the caller to bound its scan. Returns false when the
 * set can match nothing (max == 0).
 */
bool imap_seqset_bounds(const struct imap_seqset *set, uint32_t max, uint32_t *lo_r,
    uint32_t *hi_r);

/* Frees the ranges; the set may be parsed into again. */
void imap_seqset_free(struct imap_seqset *set);

/*
 * Appends values[0..n), which must be sorted ascending (duplicates allowed),
 * to out as "1:3,7". Appends nothing for n == 0. Returns 0, or -1 when out
 * reached its limit (what was appended is then incomplete).
 */
int imap_seqset_format(const uint32_t *sorted_values, size_t n, struct buf *out);

#endif
