/*
 * imap_search.h -- the IMAP SEARCH interpreter: parse the criteria once,
 * then match them against each message.
 *
 * Parses "[RETURN (...)] [CHARSET x] key..." from an imap_arg tree into a
 * small program and evaluates it per message. String keys match
 * case-insensitively as substrings of UTF-8 text: header values after RFC
 * 2047 decoding, bodies after Content-Transfer-Encoding decoding and charset
 * conversion to UTF-8 (iconv). BODY looks at text parts only; TEXT at the
 * header and the text parts.
 * Standards: RFC 9051 6.4.4 (IMAP4rev2), RFC 3501 6.4.4, RFC 4731 and 9051
 * ESEARCH (RETURN MIN MAX ALL COUNT SAVE), RFC 5182 (SAVE, "$" is left to
 * the engine).
 * Limits: IMAP_SEARCH_MAX_KEYS keys, IMAP_SEARCH_MAX_DEPTH nesting of
 * NOT/OR/parentheses.
 * Security: criteria are untrusted client input, messages untrusted remote
 * data; fuzzed by tests/fuzz/fuzz_imap_search.c.
 */
#ifndef HIKYAKU_IMAP_SEARCH_H
#define HIKYAKU_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "imap/imap_arg.h"
#include "imap/imap_fetch.h" /* IMAP_F_* flag bits */

#define IMAP_SEARCH_MAX_KEYS 1000
#define IMAP_SEARCH_MAX_DEPTH 32

#define IMAP_SEARCH_RET_MIN 0x01
#define IMAP_SEARCH_RET_MAX 0x02
#define IMAP_SEARCH_RET_ALL 0x04
#define IMAP_SEARCH_RET_COUNT 0x08
#define IMAP_SEARCH_RET_SAVE 0x10

/* The text of the NO reply for an unsupported CHARSET (RFC 9051 7.1). */
#define IMAP_SEARCH_BADCHARSET "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset"

struct imap_search;

/*
 * Parses the SEARCH arguments args[0..n). Returns 0 with *s_r; -1 with
 * *error_r for a BAD reply (syntax); -2 with *error_r =
 * IMAP_SEARCH_BADCHARSET for a NO reply (unknown charset). *s_r is NULL
 * on failure.
 */
int imap_search_parse(const struct imap_arg *args, size_t n, struct imap_search **s_r,
    const char **error_r);
void imap_search_free(struct imap_search **s);

/* True when some key needs the message bytes (header, body, text, sent
   date); otherwise imap_search_msg.data may be NULL. */
bool imap_search_needs_data(const struct imap_search *s);
/* Does a key look past the header section (BODY, TEXT)? If not, the
   engine may pass only the header section (with its empty line) as data. */
bool imap_search_needs_body(const struct imap_search *s);
/* The RETURN options as IMAP_SEARCH_RET_* bits; 0 when no RETURN was given
   (plain "* SEARCH" response). "RETURN ()" means ALL, as RFC 4731 says. */
unsigned imap_search_return(const struct imap_search *s);
/* True when RETURN was given at all (an ESEARCH response is due). */
bool imap_search_is_esearch(const struct imap_search *s);

struct imap_search_msg {
	uint32_t seq, uid, max_seq, max_uid; /* max_*: for "*" in sets */
	unsigned flags;			     /* IMAP_F_* */
	const char *const *keywords;
	size_t nkeywords;
	int64_t internaldate; /* unix seconds */
	int internaldate_tz;  /* minutes east of UTC */
	uint64_t size;
	const char *data; /* the whole message, or NULL when not needed */
	size_t len;
};

/* Returns 1 when m matches, 0 when it does not. */
int imap_search_match(const struct imap_search *s, const struct imap_search_msg *m);

/*
 * Appends the ESEARCH response for the matches values[0..n) (sorted
 * ascending): "* ESEARCH (TAG "tag") [UID] MIN 1 MAX 9 COUNT 3 ALL 1:9\r\n"
 * per the RETURN options, or "* SEARCH 1 2 3\r\n" when no RETURN was given.
 * Returns 0, or -1 when out reached its limit.
 */
int imap_search_format(const struct imap_search *s, const char *tag, bool uid,
    const uint32_t *values, size_t n, struct buf *out);
/* The same for an IMAP4rev2 session when imap4rev2 is true: a SEARCH
   without RETURN is then answered with ESEARCH ALL (RFC 9051 6.4.4). */
int imap_search_format_ex(const struct imap_search *s, const char *tag, bool uid,
    bool imap4rev2, const uint32_t *values, size_t n, struct buf *out);

#endif
