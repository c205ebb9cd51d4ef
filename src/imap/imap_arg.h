/*
 * imap_arg.h -- the parsed arguments of one IMAP command: a small tree.
 *
 * The command parser (imap_parse.c) turns the bytes after "tag SP command"
 * into this tree; the command handlers and the FETCH and SEARCH
 * interpreters (imap_fetch.c, imap_search.c) read it and never see raw
 * protocol bytes. It is the contract between those files.
 *
 * Tokens (RFC 9051 section 9, client side):
 *   IMAP_ARG_ATOM    an atom, including flags ("\Seen") and sequence sets.
 *                    A '[' inside an atom opens a section that runs to the
 *                    matching ']' with spaces and parentheses kept, and the
 *                    atom goes on after it up to the next delimiter, so
 *                    BODY.PEEK[HEADER.FIELDS (From To)]<0.100> is ONE atom.
 *                    An atom NIL (any case) is IMAP_ARG_NIL instead.
 *   IMAP_ARG_STRING  a quoted string (escapes removed) or a literal
 *                    ({n}, {n+}, or literal8 ~{n}, see `literal8`).
 *   IMAP_ARG_LIST    a parenthesized list; its items in list/n.
 *   IMAP_ARG_NIL     NIL.
 * Every str is NUL-terminated for convenience, but may contain NUL bytes
 * when it came from a literal: always use len.
 * Limits: the parser bounds total size, list nesting and item count
 * (imap_parse.h); interpreters must still check n before indexing.
 * Lifetime: the tree and its strings live until the next command is parsed.
 */
#ifndef HIKYAKU_IMAP_ARG_H
#define HIKYAKU_IMAP_ARG_H

#include <stdbool.h>
#include <stddef.h>

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_STRING,
	IMAP_ARG_LIST,
	IMAP_ARG_NIL,
};

struct imap_arg {
	enum imap_arg_type type;
	const char *str; /* ATOM, STRING: NUL-terminated; NULL for LIST, NIL */
	size_t len;
	bool literal;	 /* STRING came from a literal */
	bool literal8;	 /* STRING came from ~{n} (RFC 3516) */
	const struct imap_arg *list; /* LIST: its items */
	size_t n;		     /* LIST: number of items */
};

#endif
