/*
 * dkim.h -- DKIM signatures: verification and signing (RFC 6376, RFC 8301
 * algorithm update, RFC 8463 Ed25519), key generation and key records.
 *
 * Both directions stream: the message is fed in arbitrary chunks as DATA
 * arrives. The header section is parsed incrementally and kept (bounded);
 * body bytes go straight through one canonicalizer + SHA-256 hasher per
 * distinct (body canonicalization, l=) pair, never stored or reread.
 * Verification then finishes on the libuv loop: one TXT lookup per
 * signature tried (dns.h), one callback with every result. Signing gives
 * the DKIM-Signature fields to prepend.
 *
 * Results (RFC 8601 words), as this module uses them:
 *   pass       the signature verifies with an acceptable key;
 *   fail       it was evaluated and does not verify or must not be trusted:
 *              body hash or signature mismatch, x= expired, key revoked
 *              (p= empty), rsa-sha1 or an RSA key under 1024 bits (RFC 8301);
 *   permerror  it cannot be evaluated: malformed signature or key record,
 *              missing tag, no key published, k=/h= key restrictions unmet;
 *   temperror  the key lookup failed temporarily (or DNSSEC was bogus).
 * neutral and policy are never produced here: they are local policy's.
 * A key with t=y (testing) is reported as such; what that means is policy.
 * Signatures past DKIM_MAX_SIGS are not tried; they are only counted.
 *
 * Limits: DKIM_MAX_* below. Header fields and the header section are
 * bounded; a message over a bound still streams to the end, and its
 * signatures end as permerror with the reason.
 * Standards: RFC 6376 (3.2 tag lists, 3.4 canonicalization, 3.5 the
 * signature, 3.6.1 key records, 5 signing, 6 verifying), RFC 8301, RFC 8463,
 * RFC 8601 2.7.1 (result words), RFC 6008 (header.b prefix).
 * Security: signature fields, key records and messages are remote data:
 * parsed with bounds, fuzzed by tests/fuzz/fuzz_dkim_{sig,key,canon}.c.
 * Cryptography is OpenSSL 3 EVP only; base64 is libsodium's (strict).
 */
#ifndef HIKYAKU_MSGAUTH_DKIM_H
#define HIKYAKU_MSGAUTH_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "base/buf.h"
#include "base/span.h"

struct dns;
struct evp_pkey_st;

#define DKIM_MAX_SIGS 8               /* signatures tried per message (RFC 6376 6.1) */
#define DKIM_MAX_TAGS 32              /* tags in one tag list */
#define DKIM_MAX_H 64                 /* names in h= */
#define DKIM_MAX_FIELDS 1000          /* header fields kept */
#define DKIM_MAX_HEADER (256 * 1024)  /* header section kept, bytes */
#define DKIM_MAX_SIG_FIELD (8 * 1024) /* one DKIM-Signature field, bytes */
#define DKIM_MAX_SIG_BYTES 1024       /* b= decoded: RSA up to 8192 bits */
#define DKIM_MAX_KEY_BYTES 1200       /* p= decoded: SPKI of 8192 bits */
#define DKIM_MAX_RSA_BITS 8192
#define DKIM_MIN_RSA_BITS 1024  /* RFC 8301 3.2 */
#define DKIM_SIGN_RSA_BITS 2048 /* RFC 8301 3.2: signers SHOULD use >= 2048 */
#define DKIM_MAX_DOMAIN 253
#define DKIM_BPREFIX_MIN 8 /* RFC 6008 2 */

enum dkim_alg { DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256, DKIM_ALG_RSA_SHA1 };
enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };
enum dkim_keytype { DKIM_KEY_RSA, DKIM_KEY_ED25519 };

enum dkim_result {
	DKIM_NONE,
	DKIM_PASS,
	DKIM_FAIL,
	DKIM_NEUTRAL,
	DKIM_POLICY,
	DKIM_TEMPERROR,
	DKIM_PERMERROR,
};

/* ---- tag lists (RFC 6376 3.2), pure ---- */

struct dkim_tag {
	struct span name;  /* tag-name */
	struct span value; /* tag-value without surrounding whitespace */
	struct span raw;   /* everything between '=' and ';' (or the end) */
};

/*
 * Splits a tag list into at most `max` tags. Returns the count (>= 0), or
 * -1 with *error_r (static) on a syntax error, a duplicate tag name or
 * more than `max` tags. Spans point into `in`.
 */
int dkim_tag_parse(struct span in, struct dkim_tag *tags, size_t max, const char **error_r);

/* ---- DKIM-Signature (RFC 6376 3.5), pure ---- */

struct dkim_sig {
	enum dkim_alg alg;
	enum dkim_canon hcanon, bcanon;
	struct span d, s, i; /* i: empty when absent (then "@" + d) */
	struct span h[DKIM_MAX_H];
	size_t nh;
	uint8_t b[DKIM_MAX_SIG_BYTES];
	size_t blen;
	struct span b_text; /* b= value as written (for header.b) */
	struct span b_raw;  /* the bytes to delete when verifying */
	uint8_t bh[32];
	bool has_l, has_t, has_x;
	uint64_t l, t, x;
};

/*
 * Parses the value of a DKIM-Signature field (after the colon, folding
 * included) and checks it as RFC 6376 6.1.1 asks: v=1; a=, b=, bh=, d=, h=,
 * s= present; h= names From; i= within d=; x= after t=; q= dns/txt.
 * Returns 1, or -1 with *error_r (static). On -1, sig->d and sig->s are
 * set if they were readable (for the report). Spans point into `value`.
 */
int dkim_sig_parse(struct dkim_sig *sig, struct span value, const char **error_r);

/* ---- key records (RFC 6376 3.6.1), pure ---- */

struct dkim_key {
	enum dkim_keytype type;
	bool revoked; /* p= empty */
	bool testing; /* t=y */
	bool strict;  /* t=s: i= domain must equal d= */
	uint8_t p[DKIM_MAX_KEY_BYTES];
	size_t plen;
};

/* Parses a key TXT record. Returns 1, or -1 with *error_r (static). */
int dkim_key_parse(struct dkim_key *key, struct span txt, const char **error_r);

/* ---- canonicalization (RFC 6376 3.4), pure ---- */

/*
 * Appends the canonical form of one header field (`field`: name, colon and
 * value with its folding, no final CRLF) to `out`, followed by CRLF when
 * `crlf`. Returns 0, or -1 when `out` is full.
 */
int dkim_canon_header(enum dkim_canon c, struct span field, bool crlf, struct buf *out);

/* Streaming body canonicalizer + SHA-256, stopping at an optional l=. */
struct dkim_body {
	enum dkim_canon canon;
	uint64_t limit;   /* bytes of canonical body hashed (UINT64_MAX: all) */
	uint64_t len;     /* canonical body bytes produced, past the limit too */
	void *md;         /* EVP_MD_CTX */
	uint32_t empty;   /* pending empty lines (trailing ones vanish) */
	bool cr;          /* a CR waits for its LF */
	bool wsp;         /* relaxed: whitespace waits for more of the line */
	bool inline_;     /* the current line has content */
	uint8_t out[512]; /* canonical bytes not yet hashed */
	size_t nout;
};

void dkim_body_init(struct dkim_body *b, enum dkim_canon c, uint64_t limit);
void dkim_body_update(struct dkim_body *b, const uint8_t *p, size_t n);
/* Ends the body and writes the SHA-256 into hash. */
void dkim_body_final(struct dkim_body *b, uint8_t hash[32]);
void dkim_body_deinit(struct dkim_body *b);

/* ---- the header section, streaming ---- */

struct dkim_field {
	uint32_t off, len; /* in the kept header bytes, no final CRLF */
	uint32_t namelen;  /* 0: no colon (not a field) */
};

struct dkim_hdr {
	struct buf raw; /* the header section as fed, bounded */
	struct dkim_field f[DKIM_MAX_FIELDS];
	size_t nf;
	size_t linestart;  /* offset of the line being read */
	bool bol;          /* over a limit: at the beginning of a line */
	bool cr;           /* over a limit: that line so far is one CR */
	bool done;         /* the empty line was seen */
	const char *error; /* a bound was hit: static reason */
};

void dkim_hdr_init(struct dkim_hdr *h);
void dkim_hdr_deinit(struct dkim_hdr *h);
/* Feeds message bytes; returns how many belong to the header section
   (the rest is body). Once h->done, returns 0. */
size_t dkim_hdr_feed(struct dkim_hdr *h, const uint8_t *p, size_t n);
/* Ends the header section at the end of the message (no body). */
void dkim_hdr_finish(struct dkim_hdr *h);
struct span dkim_hdr_field(const struct dkim_hdr *h, size_t i);
struct span dkim_hdr_name(const struct dkim_hdr *h, size_t i);
/* The value after the colon: a span of the field. */
struct span dkim_hdr_value(const struct dkim_hdr *h, size_t i);

/*
 * Appends the canonical header fields that h= names, chosen from the
 * bottom up (RFC 6376 5.4.2): the n-th mention of a name selects its n-th
 * occurrence from the bottom; a name mentioned more often than it occurs
 * selects nothing. `skip` (or SIZE_MAX) is a field never selected (the
 * signature itself). Returns 0, or -1 when `out` is full.
 */
int dkim_hdr_select(const struct dkim_hdr *h, const struct span *names, size_t nnames,
                    enum dkim_canon c, size_t skip, struct buf *out);

/* ---- verifying ---- */

struct dkim_sig_result {
	enum dkim_result result;
	char d[DKIM_MAX_DOMAIN + 1];
	char s[DKIM_MAX_DOMAIN + 1];
	char a[24]; /* "rsa-sha256", "ed25519-sha256", ... or "" */
	char b[72]; /* header.b: shortest unique prefix, >= 8 chars */
	char reason[160];
	bool testing; /* key has t=y */
};

/* `r` and everything in it are valid only during the call. nskipped counts
   signatures past DKIM_MAX_SIGS that were not tried. */
typedef void dkim_verify_done_fn(void *ctx, const struct dkim_sig_result *r, size_t n,
                                 size_t nskipped);

struct dkim_verify;

/* A verifier for one message. `now` (0: the clock) judges x=. Without a
   resolver (dns NULL: tests, fuzzing) signatures that would need their
   key end as temperror "no resolver". */
struct dkim_verify *dkim_verify_new(struct dns *dns, time_t now);
/* Feeds message bytes (header and body, CRLF line ends, no dot-stuffing). */
void dkim_verify_feed(struct dkim_verify *v, const void *p, size_t n);
/*
 * Ends the message and starts the key lookups. `done` runs exactly once,
 * later, on the loop (never inside this call), unless the verifier is
 * freed first. Returns 0, or -1 when `loop` cannot be used (our bug).
 */
int dkim_verify_finish(struct dkim_verify *v, uv_loop_t *loop, dkim_verify_done_fn *done,
                       void *ctx);
/* Cancels pending lookups (no callback) and frees. NULL is a no-op. */
void dkim_verify_free(struct dkim_verify **v);

const char *dkim_result_name(enum dkim_result r);
const char *dkim_alg_name(enum dkim_alg a);

/* ---- signing ---- */

struct dkim_sign_key {
	enum dkim_keytype type;
	char domain[DKIM_MAX_DOMAIN + 1];
	char selector[64];
	struct evp_pkey_st *pkey;
};

/* Loads a PEM private key (RSA >= 1024 bits or Ed25519) for d=domain,
   s=selector. Returns a key, or NULL with *error_r (static). */
struct dkim_sign_key *dkim_sign_key_load(const char *path, const char *domain, const char *selector,
                                         const char **error_r);
void dkim_sign_key_free(struct dkim_sign_key **k);

/*
 * The signing keys of `domain` under data_dir/dkim/DOMAIN/: per key type
 * (RSA, Ed25519), the SELECTOR.key whose selector sorts last, so that
 * rotation is "add a key with a later-sorting selector (e.g. a date) once
 * its record is published". Fills keys[0..*n_r). Returns 0 (*n_r >= 1),
 * or -1 with *error_r (static) when there is no usable key.
 */
int dkim_sign_keys_load(const char *data_dir, const char *domain, struct dkim_sign_key *keys[2],
                        size_t *n_r, const char **error_r);

struct dkim_sign;

/*
 * A signer for one message with 1..2 keys (RSA and Ed25519 by default:
 * dual signatures), relaxed/relaxed, DKIM_SIGN_HEADERS with From
 * oversigned, t=now (0: the clock). The keys must outlive the signer.
 */
struct dkim_sign *dkim_sign_new(struct dkim_sign_key *const *keys, size_t nkeys, time_t now);
/* Adds x= (after t=) to the signatures; 0 for none (the default). */
void dkim_sign_set_expire(struct dkim_sign *s, time_t x);
void dkim_sign_feed(struct dkim_sign *s, const void *p, size_t n);
/*
 * Ends the message and appends one DKIM-Signature field per key (folded,
 * CRLF-terminated) to `out`, to be prepended to the message. Returns 0, or
 * -1 with *error_r (static): no From field, header over limits, crypto.
 */
int dkim_sign_finish(struct dkim_sign *s, struct buf *out, const char **error_r);
void dkim_sign_free(struct dkim_sign **s);

/* Header fields signed when present, lower case (From always, plus once). */
extern const char *const dkim_sign_headers[];

/* ---- keys on disk and in DNS ---- */

/* data_dir/dkim/DOMAIN/SELECTOR.key (DESIGN.md), heap string. NULL when
   domain or selector is not a safe path component. */
char *dkim_key_path(const char *data_dir, const char *domain, const char *selector);

/*
 * Generates an RSA-2048 or Ed25519 key and writes it as PKCS#8 PEM to
 * `path` (created, mode 0600, never overwritten; parent directories made
 * with mode 0700). Returns 0, or -1 with *error_r (static) and errno.
 */
int dkim_keygen(enum dkim_keytype type, const char *path, const char **error_r);

/* Appends the key record text for the key in the PEM file at `path`
   ("v=DKIM1; k=ed25519; p=..."). Returns 0, or -1 with *error_r. */
int dkim_key_txt(const char *path, struct buf *out, const char **error_r);

/* Appends `txt` as zone-file character-strings of at most 255 bytes each,
   quoted and space-separated ("..." "..."). Returns 0 or -1 (out full). */
int dkim_txt_zone(const char *txt, struct buf *out);

#endif
