/*
 * imap_fetch_int.h -- shared by imap_fetch.c (items), imap_fetch_render.c
 * (the response) and imap_fetch_struct.c (ENVELOPE, BODYSTRUCTURE, IMAP
 * strings); not for the engine.
 */
#ifndef HIKYAKU_IMAP_FETCH_INT_H
#define HIKYAKU_IMAP_FETCH_INT_H

#include "base/buf.h"
#include "imap/imap_fetch.h"
#include "msg/mime.h"

enum fi_type {
	FI_UID,
	FI_FLAGS,
	FI_INTERNALDATE,
	FI_SIZE,
	FI_ENVELOPE,
	FI_BODY,
	FI_BODYSTRUCTURE,
	FI_MODSEQ,
	FI_RFC822,
	FI_RFC822_HEADER,
	FI_RFC822_TEXT,
	FI_SECTION,
	FI_BINARY,
	FI_BINARY_SIZE,
};

enum sec_kind { SEC_FULL, SEC_HEADER, SEC_FIELDS, SEC_FIELDS_NOT, SEC_TEXT, SEC_MIME };

struct fetch_item {
	enum fi_type type;
	bool peek;
	enum sec_kind sec;
	uint32_t nums[MIME_MAX_DEPTH];
	size_t nnums;
	char **fields;
	size_t nfields;
	bool partial;
	uint64_t off, count;
	char *name; /* as in the response: "BODY[1.MIME]", without the partial */
};

struct imap_fetch_req {
	struct fetch_item items[IMAP_FETCH_MAX_ITEMS];
	size_t n;
};

/* Appends s[0..n) as an IMAP string: "" for empty, a quoted string when
   every byte is printable ASCII (utf8: or valid UTF-8, IMAP4rev2) and short,
   else a literal {n}. Returns 0 or -1 (out full). */
int imap_fetch_put_string(struct buf *out, const void *s, size_t n, bool utf8);
/* Same, NIL for a NULL s. */
int imap_fetch_put_nstring(struct buf *out, const char *s);

/* The ENVELOPE of the message whose header block is hdr[0..len). */
int imap_fetch_envelope_hdr(const char *hdr, size_t len, struct buf *out);
/* The BODY or BODYSTRUCTURE of a parsed part. */
int imap_fetch_part_structure(const struct mime_msg *msg, const struct mime_part *p,
    bool extended, struct buf *out);

#endif
