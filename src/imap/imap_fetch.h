/*
 * imap_fetch.h -- the IMAP FETCH interpreter: parse the data items, render
 * the untagged FETCH response for one message.
 *
 * The engine parses "FETCH set items" into an imap_arg tree and hands the
 * items here (imap_fetch_parse); for each message it fills an
 * imap_fetch_msg and calls imap_fetch_render(), which emits the whole
 * "* SEQ FETCH (...)\r\n" line as pieces through a callback, big literals
 * pointing straight into the message bytes (zero copy).
 * ENVELOPE and BODYSTRUCTURE strings do not depend on the session, so the
 * engine may compute them once (imap_fetch_envelope, _bodystructure) and
 * cache them in the mailbox index.
 * Standards: RFC 9051 6.4.5, 7.5.2 (IMAP4rev2), RFC 3501 (IMAP4rev1),
 * RFC 3516 (BINARY), RFC 7162 (MODSEQ item, accepted only).
 * Limits: IMAP_FETCH_MAX_ITEMS items, IMAP_FETCH_MAX_FIELDS header names
 * per HEADER.FIELDS, section parts 1..MIME_MAX_DEPTH deep.
 * Security: the item list is untrusted client input, the message is
 * untrusted remote data; fuzzed by tests/fuzz/fuzz_mime.c.
 */
#ifndef HIKYAKU_IMAP_FETCH_H
#define HIKYAKU_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "imap/imap_arg.h"

/* Message flag bits; the mailbox store uses the same values. */
#define IMAP_F_SEEN 0x01
#define IMAP_F_ANSWERED 0x02
#define IMAP_F_FLAGGED 0x04
#define IMAP_F_DELETED 0x08
#define IMAP_F_DRAFT 0x10
/* Session state, not stored: set by the engine for IMAP4rev1 sessions only. */
#define IMAP_F_RECENT 0x20

#define IMAP_FETCH_MAX_ITEMS 64
#define IMAP_FETCH_MAX_FIELDS 100

struct imap_fetch_req;

/*
 * Parses the FETCH items: args[0..n) is everything after the sequence set
 * (a macro ALL/FAST/FULL, one item, or one parenthesized list, and for
 * CONDSTORE later a modifier list, accepted and ignored). uid_cmd adds UID
 * as UID FETCH requires. Returns 0 with *req_r, or -1 with *error_r
 * (static text for a BAD reply) and *req_r NULL.
 */
int imap_fetch_parse(const struct imap_arg *args, size_t n, bool uid_cmd,
    struct imap_fetch_req **req_r, const char **error_r);
void imap_fetch_req_free(struct imap_fetch_req **req);

/* True when imap_fetch_render() needs m->data: a body section, RFC822*,
   BINARY*, or ENVELOPE/BODY/BODYSTRUCTURE (unless the caller passes cached
   renderings, see imap_fetch_needs_structure). */
bool imap_fetch_needs_data(const struct imap_fetch_req *req);
/* True when only ENVELOPE/BODY/BODYSTRUCTURE need the data, so cached
   renderings in imap_fetch_msg make the data unnecessary. */
bool imap_fetch_needs_structure(const struct imap_fetch_req *req);
/* Which cached renderings the request shows (the engine fills only those
   in struct imap_fetch_msg): IMAP_FETCH_S_* bits. */
#define IMAP_FETCH_S_ENVELOPE 0x1
#define IMAP_FETCH_S_BODY 0x2
#define IMAP_FETCH_S_BODYSTRUCTURE 0x4
unsigned imap_fetch_structures(const struct imap_fetch_req *req);
/* True for a non-PEEK BODY[...], RFC822, RFC822.TEXT or BINARY[...]: the
   engine sets \Seen in a read-write mailbox, then calls
   imap_fetch_req_add_flags() so that FLAGS is part of the response. */
bool imap_fetch_sets_seen(const struct imap_fetch_req *req);
void imap_fetch_req_add_flags(struct imap_fetch_req *req);
/* True when MODSEQ was asked (CONDSTORE enabling fetch, RFC 7162 3.1.4). */
bool imap_fetch_wants_modseq(const struct imap_fetch_req *req);

struct imap_fetch_msg {
	uint32_t seq, uid;
	unsigned flags; /* IMAP_F_* */
	const char *const *keywords;
	size_t nkeywords;
	int64_t internaldate; /* unix seconds */
	int internaldate_tz;  /* minutes east of UTC */
	uint64_t size;	      /* RFC822.SIZE */
	uint64_t modseq;
	const char *data; /* the whole message, CRLF line ends; NULL when not needed */
	size_t len;
	/* Cached renderings from imap_fetch_envelope/_bodystructure, or NULL. */
	const char *envelope, *bodystructure, *body;
};

/* Receives the response in order. p either points into m->data (valid as
   long as the caller keeps the message) or into scratch memory valid only
   during this call. Returns 0, or non-zero to abort the rendering. */
typedef int imap_fetch_emit_fn(void *ctx, const void *p, size_t n);

/*
 * Emits "* SEQ FETCH (...)\r\n" for m. imap4rev2 drops \Recent (RFC 9051
 * has none); 8-bit header text always goes as a literal, so that cached
 * renderings suit both protocol versions. Returns 0; -1 when emit aborted
 * (the response is then incomplete); -2 before anything was emitted when a
 * BINARY item meets a Content-Transfer-Encoding it cannot decode (the
 * engine replies "NO [UNKNOWN-CTE]", RFC 3516 4.3).
 */
int imap_fetch_render(const struct imap_fetch_req *req, const struct imap_fetch_msg *m,
    bool imap4rev2, imap_fetch_emit_fn *emit, void *ctx);

/* Appends the ENVELOPE value "(date subject from ...)" of the message.
   Returns 0, or -1 when out reached its limit. */
int imap_fetch_envelope(const char *data, size_t len, struct buf *out);
/* Appends the BODYSTRUCTURE value (extended = true) or the BODY value
   (false). Returns 0, or -1 when out reached its limit. */
int imap_fetch_bodystructure(const char *data, size_t len, bool extended, struct buf *out);

/* Writes "24-Nov-2026 08:00:00 +0000" (date-time, RFC 9051 9) for the unix
   time t shown in the zone tz_minutes east of UTC. */
void imap_fetch_date(int64_t t, int tz_minutes, char out[32]);

#endif
