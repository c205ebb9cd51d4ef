/*
 * smtp_lex.h -- SMTP command framing (bytes -> lines) and tokenizing
 * (line -> verb, parameters, MAIL/RCPT/BDAT arguments).
 *
 * Pure: no I/O, no logging, no allocation, no global state. Results are
 * spans into the caller's buffer. The framer enforces the line limit before
 * anything is tokenized.
 * Standards: RFC 5321 2.3.8, 4.1.1, 4.1.2, 4.5.3.1; RFC 1870 (SIZE);
 * RFC 6152 (8BITMIME); RFC 3030 (CHUNKING, BINARYMIME); RFC 6531 (SMTPUTF8);
 * RFC 4954 (AUTH=); RFC 3461 (RET, ENVID, NOTIFY, ORCPT).
 * Security: remote-facing and reached before authentication.
 */
#ifndef HIKYAKU_SMTP_SMTP_LEX_H
#define HIKYAKU_SMTP_SMTP_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/span.h"

#define SMTP_VERB_MAX 16

enum line_rc { LINE_MORE = 0, LINE_OK = 1, LINE_ERR = -1 };
enum line_err { LE_NONE, LE_TOO_LONG, LE_BARE_LF, LE_NUL };

/* Zero it and set `max` to start; zero it again after purging `in`. */
struct line_framer {
	size_t max;     /* longest accepted line, CRLF included; >= 2 */
	size_t scanned; /* bytes of `in` already searched for LF: never rescan */
	bool skipping;  /* inside an over-long line: drop bytes up to its LF */
	enum line_err err;
};

/*
 * Takes the next line from `in`. Returns LINE_OK with *line_r = the line
 * without its CRLF (the bytes are consumed from `in`, and the span stays
 * valid until the next buf_reserve() or buf_append() on `in`), LINE_MORE if
 * no complete line is buffered yet, or LINE_ERR with f->err set and the
 * offending line consumed:
 *   LE_TOO_LONG  the line with its CRLF exceeds f->max; reported once, at
 *                its LF, and never buffered beyond f->max bytes;
 *   LE_BARE_LF   the line ends in LF without CR (RFC 5321 2.3.8);
 *   LE_NUL       the line holds a NUL byte.
 * A CR inside a line (not before the LF) is left in the line for the
 * command's own syntax check to refuse.
 */
enum line_rc line_next(struct line_framer *f, struct buf *in, struct span *line_r);

struct smtp_args {
	struct span verb;   /* 1..SMTP_VERB_MAX ASCII letters, case as sent */
	struct span params; /* after the single space, trailing spaces trimmed; may be empty */
};

/* Splits "VERB[ params]". Returns 1, or -1 for an empty line or a verb that is
   not 1..16 ASCII letters followed by the end of the line or a space. */
int smtp_tokenize(struct span line, struct smtp_args *a);

enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };

struct smtp_path_args {
	struct span path; /* between < and >, source route removed; empty = null path <> */
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	struct span auth, ret, envid, notify, orcpt; /* raw values, empty if absent */
};

enum smtp_parse_rc {
	SMTP_PARSE_OK = 1,
	SMTP_PARSE_SYNTAX = -1, /* reply 501 5.5.4 */
	SMTP_PARSE_PARAM = -2,  /* unknown or bad ESMTP parameter: 555 5.5.4 */
};

/*
 * MAIL: params = "FROM:<a@b> SIZE=10 BODY=8BITMIME". RCPT: "TO:<x@y>
 * NOTIFY=...". Keywords are case-insensitive; one space is allowed after the
 * colon (as Postfix does); the path must be in <>. A source route
 * ("<@a,@b:u@d>") is checked and dropped. The path is only delimited here:
 * the caller validates it with addr_parse_mailbox(), and rejects an empty
 * RCPT path.
 * MAIL accepts SIZE (digits, at most 20, no overflow), BODY (7BIT, 8BITMIME,
 * BINARYMIME), SMTPUTF8 (no value), AUTH, RET (FULL or HDRS), ENVID; RCPT
 * accepts NOTIFY (NEVER, or a list of SUCCESS, FAILURE, DELAY) and ORCPT
 * (type;value). Values are 1*(printable ASCII except "="), RFC 5321 4.1.2.
 * Returns SMTP_PARSE_OK, SMTP_PARSE_SYNTAX for a bad command or path, or
 * SMTP_PARSE_PARAM for an unknown, malformed or repeated parameter; on
 * error *error_r is a static human-readable string.
 */
enum smtp_parse_rc smtp_parse_mail(struct span params, struct smtp_path_args *m,
    const char **error_r);
enum smtp_parse_rc smtp_parse_rcpt(struct span params, struct smtp_path_args *r,
    const char **error_r);

/* BDAT: params = "<size> [LAST]" (RFC 3030 2); size is 1..20 digits and must
   fit in 64 bits. Returns 1, or -1 with *error_r (static). */
int smtp_parse_bdat(struct span params, uint64_t *size_r, bool *last_r, const char **error_r);

#endif
