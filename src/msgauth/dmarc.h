/*
 * dmarc.h -- DMARC (RFC 7489): the policy record parser, the organizational
 * domain (public suffix list, libpsl), identifier alignment, policy
 * selection with sp= and pct=, and asynchronous record discovery over dns/.
 *
 * Parts. dmarc_record_parse(), dmarc_org_domain(), dmarc_aligned() and
 * dmarc_evaluate() are pure apart from the read-only public suffix list
 * loaded once (dmarc_psl_init()): unit tests and the fuzzer drive them
 * directly. dmarc_lookup_start() finds the record for a From domain on a
 * libuv loop and calls back exactly once, later, unless cancelled.
 * Discovery is RFC 7489 6.6.3: _dmarc.FROM, then _dmarc.ORG when FROM is
 * not its own organizational domain (the DMARCbis tree walk is not done:
 * XXX when DMARCbis is an RFC, walk up to 8 labels and honour psd=).
 * Limits: records of at most DMARC_RECORD_MAX octets (longer is permerror),
 * DMARC_MAX_TAGS tags, two queries, each bounded by the resolver's timeout
 * (dns.h); a caller bounds the whole wait (serve_msgauth.c).
 * Standards: RFC 7489 (3.1 alignment, 3.2 organizational domain, 6.3
 * record format, 6.6.3 discovery, 6.6.4 pct, 6.6.2 evaluation), RFC 6376
 * 3.2 (tag-list syntax, shared with DKIM).
 * Security: records are remote data, parsed with bounds; unknown tags and
 * bad values of optional tags fall back to defaults (6.3 "SHOULD be
 * discarded in favor of default values"); the rua text is only kept for
 * display, never acted upon (we send no aggregate reports).
 */
#ifndef HIKYAKU_MSGAUTH_DMARC_H
#define HIKYAKU_MSGAUTH_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "base/span.h"
#include "msgauth/dkim.h"
#include "msgauth/spf.h"

struct dns;

#define DMARC_RECORD_MAX 2048 /* ours: real records are well under 512 octets */
#define DMARC_MAX_TAGS 32     /* ours: RFC 7489 defines 11 */
#define DMARC_MAX_DOMAIN 253
#define DMARC_MAX_DKIM 8      /* DKIM results looked at (DKIM_MAX_SIGS) */

enum dmarc_policy { DMARC_P_NONE, DMARC_P_QUARANTINE, DMARC_P_REJECT };
enum dmarc_align { DMARC_A_RELAXED, DMARC_A_STRICT };

/* RFC 8601 2.7.4 / RFC 7489 11.2 result words. */
enum dmarc_result { DMARC_NONE, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR };

struct dmarc_record {
	enum dmarc_policy p, sp; /* sp = p when absent */
	bool has_sp;
	enum dmarc_align adkim, aspf;
	unsigned pct; /* 0..100 */
	char rua[256]; /* as published, truncated; for display only */
};

/*
 * Parses a DMARC record (RFC 7489 6.3/6.4): "v=DMARC1" first, then tags.
 * Returns 1; 0 when txt is not a DMARC record at all (v= missing or not
 * first: such TXT records are ignored, 6.6.3); -1 with *error_r (static)
 * on a tag-list syntax error, an over-long record or a missing or invalid
 * p= (6.6.3: no usable policy). Bad optional tags take their defaults.
 */
int dmarc_record_parse(struct span txt, struct dmarc_record *rec, const char **error_r);

/* Loads the public suffix list once (libpsl: the newer of the built-in
   list and Debian's publicsuffix file). Returns 0, or -1 when no list is
   available. Safe to call again; the other functions call it. */
int dmarc_psl_init(void);

/*
 * Writes the organizational domain of `domain` (RFC 7489 3.2: one label
 * more than its public suffix; the domain itself when it is a public
 * suffix), lower case, without a final dot, into dst. Returns 0, or -1
 * when the domain is not a valid name or does not fit.
 */
int dmarc_org_domain(const char *domain, char *dst, size_t size);

/* True when `id` (SPF or DKIM domain) is aligned with the From domain in
   `mode` (RFC 7489 3.1: strict: equal; relaxed: same organizational
   domain). Case-insensitive; a final dot is ignored. */
bool dmarc_aligned(const char *from, const char *id, enum dmarc_align mode);

/* One DKIM signature's outcome, as dkim_verify reported it. */
struct dmarc_dkim {
	enum dkim_result result;
	const char *d;
};

/* What DMARC looks at for one message (RFC 7489 4.2). */
struct dmarc_input {
	const char *from_domain; /* RFC5322.From domain */
	enum spf_result spf;
	const char *spf_domain; /* the MAIL FROM domain (HELO's for <>) */
	const struct dmarc_dkim *dkim;
	size_t ndkim;
};

/* The outcome. */
struct dmarc_verdict {
	enum dmarc_result result;
	enum dmarc_policy policy;      /* published policy that applies (p or sp) */
	enum dmarc_policy disposition; /* what to do: policy after pct= sampling */
	bool spf_aligned, dkim_aligned;
	bool sampled_out;   /* pct= sampling lowered the disposition */
	char reason[128];   /* for logs and the A-R comment */
};

/*
 * Evaluates DMARC for `in` under `rec` found at `rec_domain` (RFC 7489
 * 6.6.2): pass when SPF passes aligned or any DKIM signature passes
 * aligned. The policy is sp= when the record came from the organizational
 * domain and the From domain is a sub-domain, else p=. On fail, `roll`
 * (0..99, uniformly random; a parameter so tests choose it) at or above
 * pct= lowers the disposition one step (6.6.4: reject to quarantine,
 * quarantine to none). Pure.
 */
void dmarc_evaluate(const struct dmarc_record *rec, const char *rec_domain,
                    const struct dmarc_input *in, unsigned roll, struct dmarc_verdict *v);

const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy p);

/* ---- discovery (asynchronous) ---- */

struct dmarc_found {
	int rc;             /* 1 record found, 0 none published, -1 error */
	enum dmarc_result error; /* rc -1: DMARC_TEMPERROR or DMARC_PERMERROR */
	const char *reason; /* rc != 1: why (static or in this struct) */
	const char *domain; /* rc 1: where the record was found */
	struct dmarc_record rec;
};

/* f and its strings are valid only during the call. */
typedef void dmarc_found_fn(void *ctx, const struct dmarc_found *f);

struct dmarc_lookup;

/*
 * Looks up the policy record of `from_domain` (copied) as RFC 7489 6.6.3
 * says. `done` runs exactly once, later, on the loop. Returns the handle,
 * or NULL (and no callback) when from_domain is not a valid domain name:
 * the caller's permerror.
 */
struct dmarc_lookup *dmarc_lookup_start(struct dns *dns, const char *from_domain,
                                        dmarc_found_fn *done, void *ctx);
/* Stops a lookup before its callback; sets *l to NULL; NULL is a no-op.
   Must not be called from inside the lookup's own callback. */
void dmarc_lookup_cancel(struct dmarc_lookup **l);

#endif
