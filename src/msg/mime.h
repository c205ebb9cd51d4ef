/*
 * mime.h -- MIME structure of a message in memory, header fields, address
 * lists, and the decoders that turn MIME text into UTF-8.
 *
 * mime_parse() builds a tree of parts with byte offsets into the message:
 * every part has a header block and a body; a multipart has its parts as
 * children; a message/rfc822 (or message/global) part has the embedded
 * message as its one child. Nothing is copied: types and header values are
 * spans into the caller's bytes, which must outlive the tree.
 * Broken MIME is taken leniently, as IMAP servers must (RFC 9051 6.4.5):
 * bare LF ends lines; a header without a blank line ends at the first line
 * that is not a header field; a missing close delimiter ends the multipart
 * at the end of its enclosing part; a multipart without a boundary or
 * without any part is a plain leaf.
 * Standards: RFC 5322 (header fields, address lists), RFC 2045 (Content-*
 * fields), RFC 2046 (multipart, message/rfc822, digest defaults), RFC 2047
 * (encoded words), RFC 2231 (parameter continuations, basic), RFC 6532
 * (UTF-8 in headers).
 * Limits: MIME_MAX_DEPTH nesting, MIME_MAX_PARTS parts (deeper or further
 * parts are left inside their parent as leaf bodies), MIME_MAX_PARAMS
 * parameters per field, MIME_MAX_ADDRS addresses per list.
 * Security: messages are untrusted remote data; no recursion deeper than
 * MIME_MAX_DEPTH; fuzzed by tests/fuzz/fuzz_mime.c.
 */
#ifndef HIKYAKU_MSG_MIME_H
#define HIKYAKU_MSG_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/span.h"

#define MIME_MAX_DEPTH 50
#define MIME_MAX_PARTS 10000
#define MIME_MAX_PARAMS 64
#define MIME_MAX_ADDRS 1000
#define MIME_MAX_BOUNDARY 200 /* RFC 2046 allows 70; be lenient */

enum mime_kind {
	MIME_KIND_BASIC,     /* any leaf that is not text/ or message/rfc822 */
	MIME_KIND_TEXT,	     /* text/... */
	MIME_KIND_MULTIPART, /* multipart/... with at least one part found */
	MIME_KIND_MESSAGE,   /* message/rfc822 or message/global, not encoded */
};

struct mime_part {
	size_t hdr_off, hdr_len;   /* header block, its blank line included */
	size_t body_off, body_len; /* body; before a delimiter, the CRLF before it is not body */
	size_t body_lines;	   /* text lines in the body */
	enum mime_kind kind;
	struct span type, subtype; /* as written, or the default (static text) */
	struct span ctype_rest;	   /* the Content-Type value after the subtype: "; a=b" */
	bool ctype_given;	   /* a valid Content-Type field was present */
	struct mime_part *parent;
	struct mime_part *children; /* first child (MESSAGE: the embedded message) */
	struct mime_part *next;	    /* next sibling */
	size_t nchildren;
	unsigned depth; /* 0 for the message itself */
};

struct mime_msg {
	const char *data;
	size_t len;
	struct mime_part *root; /* the message: its header is the message header */
	size_t nparts;
	bool limited; /* MIME_MAX_DEPTH or MIME_MAX_PARTS cut the tree */
	struct mime_part **all;
};

/* The length of the header block at the start of data[0..len), its blank
   line included, by the same rules as mime_parse(): the body starts there. */
size_t mime_header_len(const char *data, size_t len);

/* Parses data[0..len) (any bytes; need not end in a newline). Never fails;
   the result is freed with mime_free(). */
struct mime_msg *mime_parse(const char *data, size_t len);
void mime_free(struct mime_msg **msg);

/*
 * Finds a part by IMAP section numbers nums[0..n) (RFC 9051 6.4.5): in a
 * multipart, number k is its k-th part; a message/rfc822 part stands for the
 * embedded message's parts; "1" of a non-multipart message (or embedded
 * message) is that message's own body. n == 0 gives the root. Returns the
 * part, or NULL when there is no such part.
 */
const struct mime_part *mime_part_find(const struct mime_msg *msg, const uint32_t *nums,
    size_t n);

/* ---- header fields (mime_header.c) ---- */

/* Walks the fields of a header block. */
struct mime_hdr_iter {
	const char *p, *end;
};

void mime_hdr_iter_init(struct mime_hdr_iter *it, const char *hdr, size_t len);
/*
 * Returns true with the next field: *name (without the colon, trailing
 * blanks cut), *value (from after the colon up to the field's final line
 * end, folding kept), *field (the whole field with its final line end).
 * Lines without a colon are skipped. Returns false at the end.
 */
bool mime_hdr_next(struct mime_hdr_iter *it, struct span *name, struct span *value,
    struct span *field);
/* The raw value of the first field named `name` (any case) in the header
   block. Returns true when found. */
bool mime_hdr_find(const char *hdr, size_t len, const char *name, struct span *value);
/* Appends the value unfolded (CR and LF removed) with leading and trailing
   blanks cut. Returns 0, or -1 when out reached its limit. */
int mime_hdr_unfold(struct span value, struct buf *out);

/* Parameters of a Content-Type or Content-Disposition value, attributes
   lower-cased, values unquoted, RFC 2231 continuations joined ("name*0",
   "name*1" -> "name"; any "*N*" part -> "name*" holding the still-encoded
   charset'lang'value). */
struct mime_params {
	size_t n;
	struct mime_param {
		char *attr, *value;
	} *p;
};

/* Parses ";attr=value" pairs from s (the text after the type or
   disposition). Never fails; bad pairs are skipped; at most
   MIME_MAX_PARAMS kept. Free with mime_params_free(). */
void mime_params_parse(struct span s, struct mime_params *out);
void mime_params_free(struct mime_params *ps);
/* The value of attr (lower case), or NULL. */
const char *mime_params_get(const struct mime_params *ps, const char *attr);

/* Splits a structured value into its first token (type or disposition,
   comments and blanks skipped) and the rest after it. Returns false when
   there is no token. */
bool mime_value_token(struct span v, struct span *tok, struct span *rest);

/* ---- address lists (mime_addr.c) ---- */

/*
 * One entry of an address list in the ENVELOPE shape (RFC 9051 7.5.2):
 * name is the display phrase (quotes removed, encoded words kept raw), adl
 * the source route, mailbox the local part, host the domain. A group start
 * has only mailbox (the group name); a group end has all four NULL.
 */
struct mime_addr {
	char *name, *adl, *mailbox, *host; /* NULL = NIL */
};

/* Parses an RFC 5322 address-list (leniently: obsolete routes, comments,
   missing domains). Returns the count (0 when none) with *list_r, at most
   MIME_MAX_ADDRS entries. Free with mime_addr_free(). */
size_t mime_addr_parse(struct span value, struct mime_addr **list_r);
void mime_addr_free(struct mime_addr **list, size_t n);

/* ---- decoding (mime_decode.c) ---- */

/* Content-Transfer-Encoding values. */
enum mime_cte { MIME_CTE_IDENTITY, MIME_CTE_BASE64, MIME_CTE_QP, MIME_CTE_UNKNOWN };

/* The encoding named by a part's Content-Transfer-Encoding field (absent,
   7bit, 8bit, binary: identity). */
enum mime_cte mime_part_cte(const struct mime_msg *msg, const struct mime_part *p);
/* Appends in decoded by cte (lenient: bad base64 characters are skipped,
   bad quoted-printable escapes kept). Returns 0, or -1 when out reached its
   limit or cte is MIME_CTE_UNKNOWN. */
int mime_decode_cte(enum mime_cte cte, struct span in, struct buf *out);
/* Appends in converted from charset to UTF-8 (iconv); an unknown charset or
   an invalid sequence copies what it cannot convert as is. Returns 0 or -1
   (out full). */
int mime_to_utf8(const char *charset, struct span in, struct buf *out);
/* Appends an unstructured header value unfolded with its RFC 2047 encoded
   words decoded to UTF-8. Returns 0 or -1 (out full). */
int mime_decode_words(struct span value, struct buf *out);

/* ---- dates (mime_date.c) ---- */

/* Parses an RFC 5322 date-time (obsolete forms and zone names leniently).
   Returns 0 with *t_r (unix seconds) and *tz_r (minutes east of UTC), or
   -1. */
int mime_date_parse(struct span value, int64_t *t_r, int *tz_r);

#endif
