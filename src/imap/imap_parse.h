/*
 * imap_parse.h -- the IMAP command parser: bytes in, one command tree out.
 *
 * Two layers, as in smtp_lex: a framer that is resumable at any byte and
 * collects one whole command (its lines and the literals between them,
 * RFC 9051 4.3: "{n}" synchronizing, "{n+}" non-synchronizing per RFC 7888
 * LITERAL+, "~{n}" literal8 per RFC 3516), then a pure tokenizer that turns
 * the complete command into "tag SP name [SP args]" with the arguments as a
 * struct imap_arg tree (imap_arg.h). The engine sends the "+ " continuation
 * request when the framer asks for it (IMAP_PARSE_LITERAL), or refuses the
 * literal with a tagged reply (imap_parser_reject_literal).
 * No I/O, no logging. Input is untrusted network data.
 * Limits (struct imap_parse_limits): bytes per line outside literals, bytes
 * per literal, bytes per command, list nesting, tokens per command. A line
 * over the limit, or a non-synchronizing literal over the limit (the client
 * sends its bytes without waiting, so they cannot be told apart from
 * commands) is a fatal error: the engine says BYE.
 * Standards: RFC 9051 section 9 (command, tag, astring, quoted, literal),
 * RFC 3501 section 9, RFC 7888, RFC 3516.
 * Security: remote-facing, reached before authentication; fuzzed by
 * tests/fuzz/fuzz_imap_parse.c.
 */
#ifndef HIKYAKU_IMAP_PARSE_H
#define HIKYAKU_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/span.h"
#include "imap/imap_arg.h"

/* Defaults: Dovecot's imap_max_line_length (64 KiB) and nesting bound. */
#define IMAP_PARSE_LINE_MAX 65536
#define IMAP_PARSE_DEPTH_MAX 16
#define IMAP_PARSE_ITEMS_MAX 100000
#define IMAP_TAG_MAX 64
#define IMAP_NAME_MAX 32

struct imap_parse_limits {
	size_t line_max;      /* bytes of one line outside literals, CRLF included */
	uint64_t literal_max; /* bytes of one literal (the engine may lower it) */
	uint64_t cmd_max;     /* bytes of one command, literals included */
	unsigned depth_max;   /* parenthesized list nesting */
	unsigned items_max;   /* tokens (and literals) in one command */
};

enum imap_parse_rc {
	IMAP_PARSE_ERROR = -1,	/* command refused and consumed: imap_parser_error() */
	IMAP_PARSE_MORE = 0,	/* all buffered input taken; feed more */
	IMAP_PARSE_CMD = 1,	/* a whole command: imap_parser_cmd() */
	IMAP_PARSE_LITERAL = 2, /* a synchronizing literal was announced: send
				   "+ ..." or reject it, then call again */
};

/* One parsed command; valid until the next imap_parse_feed() call. */
struct imap_cmd {
	const char *tag;
	const char *name; /* as sent; compare case-insensitively */
	const struct imap_arg *args;
	size_t nargs;
};

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parse_limits *lim);
void imap_parser_free(struct imap_parser **p);

/*
 * Takes bytes from the front of `in` (consuming them) until a command is
 * complete, a continuation is due or an error is found. Returns one of
 * enum imap_parse_rc. Never keeps pointers into `in`.
 */
enum imap_parse_rc imap_parse_feed(struct imap_parser *p, struct buf *in);

/* After IMAP_PARSE_CMD. */
const struct imap_cmd *imap_parser_cmd(const struct imap_parser *p);

/* After IMAP_PARSE_ERROR: the reason (static text for a BAD reply) and
   whether the connection must end (BYE). */
const char *imap_parser_error(const struct imap_parser *p, bool *fatal_r);

/* The tag and command name of the command being read, as far as they are
   known: "*" / "" until the first line is complete or when malformed. For
   tagged replies to errors and to refused literals. */
const char *imap_parser_tag(const struct imap_parser *p);
const char *imap_parser_name(const struct imap_parser *p);
/* After IMAP_PARSE_LITERAL: the announced size. */
uint64_t imap_parser_literal_size(const struct imap_parser *p);

/* After IMAP_PARSE_LITERAL: the engine replied with a tagged NO/BAD
   instead of "+", so the client sends no literal; the command is dropped
   and parsing starts over with the next line. */
void imap_parser_reject_literal(struct imap_parser *p);

/* Lowers (or restores) the literal bound, e.g. before authentication.
   Capped at the limit given to imap_parser_new(). */
void imap_parser_set_literal_max(struct imap_parser *p, uint64_t max);

/*
 * A raw line (AUTHENTICATE responses, IDLE's DONE), bounded by line_max:
 * 1 with *line_r (CRLF removed; valid until the next call on p), 0 when no
 * whole line is buffered (all taken), -1 when the line was too long or had
 * a NUL or a bare LF (consumed; *error_r set).
 */
int imap_parse_line(struct imap_parser *p, struct buf *in, struct span *line_r,
    const char **error_r);

/* True when nothing of a command has been read yet. */
bool imap_parser_idle(const struct imap_parser *p);

#endif
