/*
 * addr.h -- SMTP envelope mailbox parser (the inside of a <path>).
 *
 * Pure: no I/O, no logging, no allocation; results are spans into the input.
 * Standards: RFC 5321 4.1.2 (Mailbox, Dot-string, Quoted-string,
 * address-literal), 4.1.3, 4.5.3.1; RFC 6531 3.3 (UTF-8 when SMTPUTF8).
 * Limits: local part 64 octets, domain 255, whole mailbox 254 (the 256-octet
 * path limit of RFC 5321 4.5.3.1.3 less the "<>").
 * Security: remote-facing (MAIL FROM, RCPT TO); fuzzed by
 * tests/fuzz/fuzz_addr.c.
 */
#ifndef HIKYAKU_MSG_ADDR_H
#define HIKYAKU_MSG_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "base/span.h"

#define ADDR_MAX_LOCAL 64
#define ADDR_MAX_DOMAIN 255
#define ADDR_MAX_PATH 256

struct mailbox {
	struct span local;  /* as sent; quotes included when `quoted` */
	struct span domain; /* as sent; brackets included when `domain_literal` */
	bool quoted;
	bool domain_literal;
};

/*
 * Parses a path's inside (no <>, no source route) as Local-part "@"
 * (Domain / address-literal). The local part is a Dot-string or a
 * Quoted-string; domain labels are letters, digits and '-', 1..63 octets,
 * not starting or ending with '-'; address literals are [IPv4] or
 * [IPv6:...] (checked with inet_pton; general literals are refused).
 * Non-ASCII (well-formed UTF-8: no overlongs, surrogates or code points past
 * U+10FFFF) is allowed in the local part and the domain labels only when
 * `utf8` is true. The maximum lengths above are enforced.
 * Returns 1, or -1 with *error_r (static). An empty path is -1: callers
 * handle the null path <> themselves.
 */
int addr_parse_mailbox(struct span path, bool utf8, struct mailbox *mb, const char **error_r);

/*
 * Writes "local@domain" and a NUL into dst, the domain lower-cased (ASCII
 * only), the local part copied as given, quotes included; "local" alone when
 * the domain is empty. `size` must be at least ADDR_MAX_PATH + 1 for any
 * mailbox from addr_parse_mailbox(). Returns the length. A dst too small is
 * our bug: it asserts, and in release builds writes "" and returns 0.
 */
size_t addr_format(const struct mailbox *mb, char *dst, size_t size);

#endif
