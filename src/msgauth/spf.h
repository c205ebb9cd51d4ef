/*
 * spf.h -- Sender Policy Framework (RFC 7208): record parser, macro
 * expansion, an asynchronous evaluator over dns/, and the Received-SPF
 * header field.
 *
 * Parts. spf_record_parse() and spf_macro_expand() are pure (no I/O, no
 * logging, no allocation): the fuzzer and unit tests drive them directly.
 * spf_check_start() runs check_host() (RFC 7208 4) on a libuv loop: every
 * DNS query goes through dns_query(), one at a time, and the caller gets
 * exactly one callback on the loop thread, never from inside the start
 * call, unless it cancels first.
 * Limits (RFC 7208 4.6.4 and ours): 10 DNS-querying terms, 2 void lookups,
 * 10 MX names per mx, 10 PTR names per ptr or %{p}, records of at most
 * SPF_RECORD_MAX octets and SPF_MAX_TERMS terms, macro expansions of at most
 * SPF_EXPAND_MAX octets, and a cap on the whole evaluation's time
 * (SPF_TIMEOUT_MS, 20 s as 4.6.4 suggests). Loops of include or redirect
 * end at the lookup limit; every bound ends as permerror or temperror with a
 * reason.
 * Standards: RFC 7208 (SPF), RFC 3986 2.3 (unreserved set, for upper-case
 * macros), RFC 5952 (%{c} for IPv6).
 * Security: records, names and explanation text are remote data: parsed
 * with bounds checks, never trusted as C strings without a length, and the
 * explanation is only returned when it is printable ASCII.
 */
#ifndef HIKYAKU_MSGAUTH_SPF_H
#define HIKYAKU_MSGAUTH_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "base/buf.h"
#include "base/span.h"
#include "dns/dns.h"

#define SPF_MAX_LOOKUPS 10     /* RFC 7208 4.6.4 */
#define SPF_MAX_VOID 2         /* RFC 7208 4.6.4 */
#define SPF_MAX_MX 10          /* RFC 7208 4.6.4: more is permerror */
#define SPF_MAX_PTR 10         /* RFC 7208 4.6.4: the rest is ignored */
#define SPF_RECORD_MAX 4096    /* ours: real records fit in a 512-octet reply */
#define SPF_MAX_TERMS 256      /* ours */
#define SPF_EXPAND_MAX 2048    /* ours: before truncation to 253 octets */
#define SPF_EXP_MAX 1024       /* ours: explanation text */
#define SPF_TIMEOUT_MS 20000   /* RFC 7208 4.6.4: at least 20 seconds */

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* "none", "neutral", "pass", ... as in RFC 7208 2.6 and Received-SPF. */
const char *spf_result_name(enum spf_result r);

/* ---- record parser (pure) ---- */

enum spf_term_type {
	SPF_T_ALL,
	SPF_T_INCLUDE,
	SPF_T_A,
	SPF_T_MX,
	SPF_T_PTR,
	SPF_T_IP4,
	SPF_T_IP6,
	SPF_T_EXISTS,
	SPF_T_REDIRECT, /* modifiers from here on */
	SPF_T_EXP,
	SPF_T_UNKNOWN_MOD, /* syntax-checked, then ignored (RFC 7208 6) */
};

struct spf_term {
	enum spf_term_type type;
	enum spf_result qualifier; /* PASS, FAIL, SOFTFAIL or NEUTRAL */
	struct span text;          /* the whole term, for logs and verdicts */
	struct span spec;          /* domain-spec; empty: the current domain */
	uint8_t cidr4, cidr6;      /* prefix lengths (32/128 when absent) */
	uint8_t addr[16];          /* ip4 (first 4 octets) or ip6 */
};

struct spf_record {
	size_t n;
	int redirect, exp; /* term index, or -1 */
	struct spf_term terms[SPF_MAX_TERMS];
};

/*
 * True when txt is an SPF record at all: "v=spf1" (any case) followed by a
 * space or the end (RFC 7208 4.5). Records that are not are ignored.
 */
bool spf_record_is_spf(struct span txt);

/*
 * Parses an SPF record (RFC 7208 4.6, 5, 6, 12 ABNF), including the
 * syntax of every macro in it. Terms point into txt, which must outlive rec.
 * Returns 1, or -1 with *error_r (static) on any syntax error, a record
 * longer than SPF_RECORD_MAX, more than SPF_MAX_TERMS terms, non-ASCII,
 * or a repeated redirect or exp: all of which are permerror.
 */
int spf_record_parse(struct span txt, struct spf_record *rec, const char **error_r);

/* ---- macro expansion (pure) ---- */

/* What the macro letters stand for (RFC 7208 7.3). */
struct spf_macro_env {
	const char *sender;        /* s: local@domain */
	const char *local;         /* l */
	const char *sender_domain; /* o */
	const char *domain;        /* d: the current domain */
	int family;                /* AF_INET or AF_INET6: i, c, v */
	uint8_t addr[16];          /* the client address (4 or 16 octets) */
	const char *ptr;           /* p: a validated name, NULL: "unknown" */
	const char *helo;          /* h */
	const char *receiver;      /* r: NULL: "unknown" */
	time_t now;                /* t */
};

/*
 * Expands a macro-string (RFC 7208 7.1) into out (NUL-terminated). `exp`
 * selects explanation text, where c, r and t are allowed and any printable
 * ASCII is literal; otherwise the text is a domain-spec. A syntax error, an
 * unknown letter or a result longer than size-1 (size <= SPF_EXPAND_MAX + 1
 * is enough for anything the evaluator accepts) returns -1 with *error_r;
 * else the length. A NULL env checks the syntax only (out may be NULL).
 */
int spf_macro_expand(struct span spec, const struct spf_macro_env *env, bool exp, char *out,
                     size_t size, const char **error_r);

/* True when the macro-string uses the p letter (needs a PTR validation). */
bool spf_macro_uses_p(struct span spec);

/*
 * Drops leading labels of an expanded domain until it fits in 253 octets,
 * and a trailing dot (RFC 7208 7.3). Returns the new length.
 */
size_t spf_domain_truncate(char *name);

/* ---- evaluation (asynchronous) ---- */

struct spf_request {
	const char *ip;       /* client address: IPv4 or IPv6 text */
	const char *sender;   /* MAIL FROM without <>; "" for the null path */
	const char *helo;     /* HELO/EHLO argument as sent */
	const char *receiver; /* our host name for %{r}; NULL: "unknown" */
	bool helo_identity;   /* check the HELO identity (RFC 7208 2.3) */
	unsigned timeout_ms;  /* the whole evaluation; 0: SPF_TIMEOUT_MS */
};

struct spf_verdict {
	enum spf_result result;
	const char *identity;    /* "helo" when asked for, else "mailfrom" (also for <>) */
	const char *sender;      /* the checked <sender> (postmaster@helo for <>) */
	const char *domain;      /* the domain whose policy decided, or "" */
	const char *mechanism;   /* the term that matched, or "" (default) */
	const char *explanation; /* fail: the exp= text, or NULL */
	const char *reason;      /* short text, why for errors; may quote remote
	                            names: log it through log_value() */
	unsigned lookups;        /* DNS-querying terms evaluated */
};

/* v and its strings are valid only during the call. */
typedef void spf_done_fn(void *ctx, const struct spf_verdict *v);

struct spf_check;

/*
 * Starts check_host() for the request's identity: the MAIL FROM sender, or
 * postmaster@HELO when the sender is "" or helo_identity is set (RFC 7208
 * 2.4); a sender without a local part uses "postmaster". The request's
 * strings are copied. `done` runs once, later, on the loop; then the check
 * is freed, so the handle is invalid once `done` has started (clear the
 * caller's copy there). Returns the handle (never NULL).
 */
struct spf_check *spf_check_start(uv_loop_t *loop, struct dns *dns, const struct spf_request *req,
                                  spf_done_fn *done, void *ctx);

/* Stops a check before its callback: no callback runs. Sets *c to NULL;
   NULL is a no-op; from inside the check's own callback it does nothing
   (the check ends with the callback anyway). Cancel every check before
   dns_free() on the resolver it uses. */
void spf_check_cancel(struct spf_check **c);

/*
 * Appends the Received-SPF header field (RFC 7208 9.1), name included,
 * folded, ending in CRLF: result, comment, and the key-value pairs
 * client-ip, envelope-from, helo, receiver, identity and mechanism or
 * problem; every value from the peer or DNS is quoted or escaped and cut
 * to 256 octets. Returns 0, or -1 when `out` is full (it then holds part
 * of the field: discard it).
 */
int spf_received_header(const struct spf_verdict *v, const struct spf_request *req,
                        struct buf *out);

#endif
