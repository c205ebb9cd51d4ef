/*
 * pop3_parse.h -- POP3 command tokenizing (line -> command) and the output
 * filter for multi-line responses (message -> dot-stuffed RETR/TOP body).
 *
 * Pure: no I/O, no logging, no allocation, no global state. Lines come from
 * the shared line framer (smtp/smtp_lex.h line_next(), which is protocol
 * neutral: bounded, CRLF only, no NUL), so the limit is enforced before
 * anything is tokenized.
 * Standards: RFC 1939 3 (keywords, arguments, multi-line responses and
 * byte-stuffing), 5, 7 (TOP, UIDL, USER, PASS); RFC 2449 3-4 (CAPA, line
 * and argument lengths); RFC 2595 4 (STLS); RFC 5034 4 (AUTH).
 * Limits: POP3_CMD_LINE octets per command line (RFC 2449 4: "Commands ...
 * MUST NOT exceed 255 octets, including the terminating CRLF"), keywords of
 * 3-4 letters, message numbers and line counts of at most 10 digits.
 * Security: remote-facing and reached before authentication; fuzzed by
 * tests/fuzz/fuzz_pop3_parse.c.
 */
#ifndef HIKYAKU_POP3_POP3_PARSE_H
#define HIKYAKU_POP3_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/span.h"

/* RFC 2449 4, CRLF included. */
#define POP3_CMD_LINE 255
/* A SASL response line (RFC 5034 4 lifts the 255 limit for them): base64
   of the longest PLAIN message (3 fields of 255 octets and 2 NULs) is 1024
   characters; CRLF included. */
#define POP3_AUTH_LINE 1026

enum pop3_verb {
	POP3_CAPA,
	POP3_USER,
	POP3_PASS,
	POP3_AUTH,
	POP3_STLS,
	POP3_STAT,
	POP3_LIST,
	POP3_UIDL,
	POP3_RETR,
	POP3_TOP,
	POP3_DELE,
	POP3_RSET,
	POP3_NOOP,
	POP3_QUIT,
};

struct pop3_cmd {
	enum pop3_verb verb;
	bool has_msg;	/* LIST and UIDL: a message number was given */
	uint32_t msg;	/* message number (1-based; 0 is refused) */
	uint32_t lines; /* TOP: body lines */
	struct span arg; /* USER name, PASS password (the rest of the line,
			    spaces included: RFC 1939 7), AUTH mechanism */
	struct span ir;	 /* AUTH initial response (RFC 5034 4), may be empty */
};

/*
 * Tokenizes one command line (without its CRLF). Keywords are
 * case-insensitive and separated from arguments by one space. Returns 1,
 * or -1 with *error_r (static, fit for a "-ERR" reply) for an empty line,
 * an unknown keyword, a missing, extra or malformed argument, or a control
 * character (a password may hold anything but CTLs).
 */
int pop3_parse_cmd(struct span line, struct pop3_cmd *c, const char **error_r);

/*
 * The body of a RETR or TOP response, fed the message file in pieces:
 * a "." that starts a line is doubled (RFC 1939 3); for TOP only the
 * header, the empty line after it and the first `lines` body lines pass.
 * A line ends at LF (a bare LF too, so that no "." can slip through).
 */
struct pop3_stuff {
	bool top;	  /* TOP: stop after the body lines */
	uint64_t left;	  /* TOP: body lines still to send */
	bool in_body;	  /* past the empty line that ends the header */
	bool bol;	  /* at the beginning of a line */
	bool prev_cr;	  /* the last byte passed was CR */
	size_t col;	  /* bytes of the current line so far */
	bool done;	  /* TOP limit reached: ignore the rest */
};

void pop3_stuff_init(struct pop3_stuff *st, bool top, uint64_t lines);

/* Bytes out[] must hold for n input bytes (each may become two). */
#define POP3_STUFF_OUT(n) (2 * (n))

/*
 * Filters in[0..n) into out (room: POP3_STUFF_OUT(n) bytes) and returns
 * the number of bytes written. Once st->done, consumes and writes nothing:
 * the caller may stop reading the file.
 */
size_t pop3_stuff_run(struct pop3_stuff *st, const uint8_t *in, size_t n, uint8_t *out);

/*
 * The end of the response: CRLF when the last line was unterminated (just
 * LF after a CR), then ".\r\n". Writes at most 5 bytes to out; returns how
 * many.
 */
size_t pop3_stuff_finish(const struct pop3_stuff *st, uint8_t *out);

#endif
