/*
 * dkim_verify.c -- DKIM verification (RFC 6376 6, RFC 8301, RFC 8463),
 * streaming, with the key lookups on the libuv loop.
 *
 * As the header section ends, up to DKIM_MAX_SIGS DKIM-Signature fields
 * (from the top) are parsed and each gets a body hasher, shared by every
 * signature with the same (body canonicalization, l=): body bytes pass
 * through once. At the end, signatures whose body hash already mismatches
 * fail without a lookup; the others query s._domainkey.d TXT in parallel
 * (each bounded by the resolver's time cap) and are verified as answers
 * come. One callback reports all of them.
 * Limits: DKIM_MAX_SIGS tried (the rest counted), DKIM_MAX_SIG_FIELD per
 * signature, the header bounds of dkim_hdr.c, RSA 1024..8192 bits.
 * Security: every signature and key record is remote data; failures are
 * results with a reason, never a crash.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "dns/dns.h"
#include "msgauth/dkim.h"

struct vsig {
	struct dkim_verify *v;
	struct dkim_sig sig;
	size_t field; /* index in the header */
	int body;     /* index in v->bodies, -1 for none */
	struct dns_query *q;
	struct dkim_sig_result res;
};

struct dkim_verify {
	struct dns *dns;
	time_t now;
	struct dkim_hdr hdr;
	struct vsig sigs[DKIM_MAX_SIGS];
	size_t nsigs, nskipped;
	struct dkim_body bodies[DKIM_MAX_SIGS];
	uint8_t bh[DKIM_MAX_SIGS][32];
	size_t nbodies;
	bool finished;
	size_t npending;
	uv_timer_t *timer;
	dkim_verify_done_fn *done;
	void *ctx;
};

static const char *const result_names[] = {
        [DKIM_NONE] = "none",           [DKIM_PASS] = "pass",     [DKIM_FAIL] = "fail",
        [DKIM_NEUTRAL] = "neutral",     [DKIM_POLICY] = "policy", [DKIM_TEMPERROR] = "temperror",
        [DKIM_PERMERROR] = "permerror",
};

const char *
dkim_result_name(enum dkim_result r)
{
	return (size_t)r < nitems(result_names) ? result_names[r] : "?";
}

const char *
dkim_alg_name(enum dkim_alg a)
{
	switch (a) {
	case DKIM_ALG_RSA_SHA256:
		return "rsa-sha256";
	case DKIM_ALG_ED25519_SHA256:
		return "ed25519-sha256";
	case DKIM_ALG_RSA_SHA1:
		return "rsa-sha1";
	}
	return "?";
}

static void set_result(struct vsig *vs, enum dkim_result r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
set_result(struct vsig *vs, enum dkim_result r, const char *fmt, ...)
{
	va_list ap;

	vs->res.result = r;
	va_start(ap, fmt);
	vsnprintf(vs->res.reason, sizeof(vs->res.reason), fmt, ap);
	va_end(ap);
}

static void
copy_span(char *dst, size_t size, struct span s)
{
	size_t n = MIN(s.n, size - 1);

	if (n > 0) /* an absent tag is {NULL, 0}: memcpy(NULL) is undefined */
		memcpy(dst, s.p, n);
	dst[n] = '\0';
}

struct dkim_verify *
dkim_verify_new(struct dns *dns, time_t now)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));

	v->dns = dns;
	v->now = now != 0 ? now : time(NULL);
	dkim_hdr_init(&v->hdr);
	return v;
}

/* body_for - the hasher for this signature's (c= body, l=), shared. */
static int
body_for(struct dkim_verify *v, const struct dkim_sig *sig)
{
	uint64_t limit = sig->has_l ? sig->l : UINT64_MAX;

	for (size_t i = 0; i < v->nbodies; i++)
		if (v->bodies[i].canon == sig->bcanon && v->bodies[i].limit == limit)
			return (int)i;
	dkim_body_init(&v->bodies[v->nbodies], sig->bcanon, limit);
	return (int)v->nbodies++;
}

/* setup_sig - parses one signature field, settles what can be settled now. */
static void
setup_sig(struct dkim_verify *v, size_t field)
{
	struct vsig *vs = &v->sigs[v->nsigs++];
	struct span value = dkim_hdr_value(&v->hdr, field);
	const char *err = NULL;
	int rc;

	vs->v = v;
	vs->field = field;
	vs->body = -1;
	if (dkim_hdr_field(&v->hdr, field).n > DKIM_MAX_SIG_FIELD) {
		set_result(vs, DKIM_PERMERROR, "signature field longer than %d bytes",
		           DKIM_MAX_SIG_FIELD);
		return;
	}
	rc = dkim_sig_parse(&vs->sig, value, &err);
	copy_span(vs->res.d, sizeof(vs->res.d), vs->sig.d);
	copy_span(vs->res.s, sizeof(vs->res.s), vs->sig.s);
	if (rc == -1) {
		set_result(vs, DKIM_PERMERROR, "malformed signature: %s", err);
		return;
	}
	snprintf(vs->res.a, sizeof(vs->res.a), "%s", dkim_alg_name(vs->sig.alg));
	if (v->hdr.error != NULL)
		set_result(vs, DKIM_PERMERROR, "%s", v->hdr.error);
	else if (vs->sig.alg == DKIM_ALG_RSA_SHA1)
		set_result(vs, DKIM_FAIL, "rsa-sha1 is not accepted (RFC 8301)");
	else if (vs->sig.has_x && vs->sig.x < (uint64_t)v->now)
		set_result(vs, DKIM_FAIL, "signature expired (x=)");
	else
		vs->body = body_for(v, &vs->sig);
}

/* header_done - finds the signatures once the header section is complete. */
static void
header_done(struct dkim_verify *v)
{
	for (size_t i = 0; i < v->hdr.nf; i++) {
		if (!span_eq_ci(dkim_hdr_name(&v->hdr, i), "DKIM-Signature"))
			continue;
		if (v->nsigs == DKIM_MAX_SIGS)
			v->nskipped++;
		else
			setup_sig(v, i);
	}
}

static void
body_update(struct dkim_verify *v, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < v->nbodies; i++)
		dkim_body_update(&v->bodies[i], p, n);
}

void
dkim_verify_feed(struct dkim_verify *v, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t used = 0;

	BUG_ON(v->finished);
	if (!v->hdr.done) {
		used = dkim_hdr_feed(&v->hdr, p, n);
		if (!v->hdr.done)
			return;
		header_done(v);
	}
	body_update(v, p + used, n - used);
}

/* pubkey - the key record's p= as an OpenSSL key, or NULL with a result. */
static EVP_PKEY *
pubkey(struct vsig *vs, const struct dkim_key *key)
{
	const uint8_t *p = key->p;
	EVP_PKEY *pk;
	int bits;

	if (key->type == DKIM_KEY_ED25519) {
		pk = key->plen == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p, 32)
		                     : NULL;
		if (pk == NULL)
			set_result(vs, DKIM_PERMERROR, "bad Ed25519 key in key record");
		return pk;
	}
	/* RFC 6376 3.6.1 says SubjectPublicKeyInfo; some publish RSAPublicKey. */
	if ((pk = d2i_PUBKEY(NULL, &p, (long)key->plen)) == NULL) {
		p = key->p;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)key->plen);
	}
	if (pk == NULL || !EVP_PKEY_is_a(pk, "RSA")) {
		set_result(vs, DKIM_PERMERROR, "bad RSA key in key record");
		EVP_PKEY_free(pk);
		return NULL;
	}
	bits = EVP_PKEY_get_bits(pk);
	if (bits < DKIM_MIN_RSA_BITS || bits > DKIM_MAX_RSA_BITS) {
		set_result(vs, bits < DKIM_MIN_RSA_BITS ? DKIM_FAIL : DKIM_PERMERROR,
		           "RSA key of %d bits is outside %d..%d (RFC 8301)", bits,
		           DKIM_MIN_RSA_BITS, DKIM_MAX_RSA_BITS);
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

/* signed_data - the canonical header fields h= names, then the signature
   field with its b= value deleted (RFC 6376 3.7). */
static int
signed_data(struct dkim_verify *v, struct vsig *vs, struct buf *out)
{
	struct span f = dkim_hdr_field(&v->hdr, vs->field);
	size_t pre = (size_t)(vs->sig.b_raw.p - f.p), post = pre + vs->sig.b_raw.n;
	struct buf self;
	int rc;

	if (dkim_hdr_select(&v->hdr, vs->sig.h, vs->sig.nh, vs->sig.hcanon, vs->field, out) == -1)
		return -1;
	buf_init(&self, f.n, f.n);
	buf_append(&self, f.p, pre);
	buf_append(&self, f.p + post, f.n - post);
	rc = dkim_canon_header(vs->sig.hcanon, buf_peek(&self), false, out);
	buf_deinit(&self);
	return rc;
}

/* check_sig - the cryptographic check (RFC 8463 3: Ed25519 signs the hash). */
static bool
check_sig(const struct dkim_sig *sig, EVP_PKEY *pk, struct span data)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t hash[32];
	bool ok = false;

	if (ctx == NULL)
		die("dkim: out of memory");
	if (sig->alg == DKIM_ALG_ED25519_SHA256) {
		ok = EVP_Digest(data.p, data.n, hash, NULL, EVP_sha256(), NULL) == 1 &&
		     EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
		     EVP_DigestVerify(ctx, sig->b, sig->blen, hash, sizeof(hash)) == 1;
	} else {
		ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
		     EVP_DigestVerify(ctx, sig->b, sig->blen, data.p, data.n) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* The i= domain, for keys with t=s (RFC 6376 3.6.1). */
static bool
auid_domain_is_d(const struct dkim_sig *sig)
{
	const uint8_t *at;

	if (sig->i.n == 0)
		return true;
	at = memchr(sig->i.p, '@', sig->i.n);
	return at != NULL && (size_t)(sig->i.p + sig->i.n - at - 1) == sig->d.n &&
	       strncasecmp((const char *)at + 1, (const char *)sig->d.p, sig->d.n) == 0;
}

static void
verify_with_key(struct dkim_verify *v, struct vsig *vs, const struct dkim_key *key)
{
	bool want_ed = vs->sig.alg == DKIM_ALG_ED25519_SHA256;
	EVP_PKEY *pk;
	struct buf data;

	vs->res.testing = key->testing;
	if (key->revoked) {
		set_result(vs, DKIM_FAIL, "key revoked (empty p=)");
		return;
	}
	if (want_ed != (key->type == DKIM_KEY_ED25519)) {
		set_result(vs, DKIM_PERMERROR, "key type (k=) does not match a=");
		return;
	}
	if (key->strict && !auid_domain_is_d(&vs->sig)) {
		set_result(vs, DKIM_PERMERROR, "key has t=s but i= is a subdomain of d=");
		return;
	}
	if ((pk = pubkey(vs, key)) == NULL)
		return;
	buf_init(&data, 4096, 2 * DKIM_MAX_HEADER);
	if (signed_data(v, vs, &data) == -1)
		set_result(vs, DKIM_PERMERROR, "signed header fields too large");
	else if (check_sig(&vs->sig, pk, buf_peek(&data)))
		set_result(vs, DKIM_PASS, "signature verified");
	else
		set_result(vs, DKIM_FAIL, "signature did not verify");
	buf_deinit(&data);
	EVP_PKEY_free(pk);
}

/* b_text - b= without folding whitespace, truncated to fit dst. */
static void
b_text(char *dst, size_t size, struct span t)
{
	size_t n = 0;

	for (size_t k = 0; k < t.n && n + 1 < size; k++)
		if (t.p[k] > ' ' && t.p[k] < 0x7f)
			dst[n++] = (char)t.p[k];
	dst[n] = '\0';
}

/* b_prefixes - RFC 6008: the shortest prefix of b= (>= 8 characters) that
   no other signature of the message shares. */
static void
b_prefixes(struct dkim_verify *v)
{
	char full[DKIM_MAX_SIGS][sizeof(v->sigs[0].res.b)];

	for (size_t i = 0; i < v->nsigs; i++)
		b_text(full[i], sizeof(full[i]), v->sigs[i].sig.b_text);
	for (size_t i = 0; i < v->nsigs; i++) {
		size_t n = strlen(full[i]), len = MIN(n, DKIM_BPREFIX_MIN);

		for (size_t j = 0; j < v->nsigs; j++)
			while (j != i && len < n && strncmp(full[j], full[i], len) == 0)
				len++;
		memcpy(v->sigs[i].res.b, full[i], len);
		v->sigs[i].res.b[len] = '\0';
	}
}

/* deliver - the one callback; v may be freed inside it. */
static void
deliver(struct dkim_verify *v)
{
	struct dkim_sig_result r[DKIM_MAX_SIGS];

	b_prefixes(v);
	for (size_t i = 0; i < v->nsigs; i++)
		r[i] = v->sigs[i].res;
	v->done(v->ctx, r, v->nsigs, v->nskipped);
}

static void
key_answer(void *ctx, const struct dns_answer *a)
{
	struct vsig *vs = ctx;
	struct dkim_verify *v = vs->v;
	const char *err = "no TXT record";
	struct dkim_key key;
	size_t i;

	vs->q = NULL;
	if (a->rc == DNS_NXDOMAIN || a->rc == DNS_NODATA || (a->rc == DNS_OK && a->n == 0)) {
		set_result(vs, DKIM_PERMERROR, "no key record published (%s)", dns_rc_name(a->rc));
	} else if (a->rc != DNS_OK) {
		set_result(vs, DKIM_TEMPERROR, "key lookup failed: %s",
		           a->why != NULL ? a->why : dns_rc_name(a->rc));
	} else {
		/* RFC 6376 6.1.2: with several records, use the first that parses. */
		for (i = 0; i < a->n; i++)
			if (dkim_key_parse(&key,
			                   (struct span){(const uint8_t *)a->rr[i].u.txt.text,
			                                 a->rr[i].u.txt.len},
			                   &err) == 1)
				break;
		if (i == a->n)
			set_result(vs, DKIM_PERMERROR, "malformed key record: %s", err);
		else
			verify_with_key(v, vs, &key);
	}
	if (--v->npending == 0)
		deliver(v);
}

/* lookup - body hash first (no lookup for a body that does not match). */
static void
lookup(struct dkim_verify *v, struct vsig *vs)
{
	char name[DKIM_MAX_DOMAIN * 2 + 16];
	const struct dkim_body *b = &v->bodies[vs->body];

	if (memcmp(v->bh[vs->body], vs->sig.bh, 32) != 0) {
		set_result(vs, DKIM_FAIL, "body hash did not verify");
		return;
	}
	if (vs->sig.has_l && b->len < vs->sig.l) {
		set_result(vs, DKIM_FAIL, "l= is longer than the body");
		return;
	}
	if (v->dns == NULL) {
		set_result(vs, DKIM_TEMPERROR, "no resolver");
		return;
	}
	snprintf(name, sizeof(name), "%.*s._domainkey.%.*s", (int)vs->sig.s.n,
	         (const char *)vs->sig.s.p, (int)vs->sig.d.n, (const char *)vs->sig.d.p);
	vs->q = dns_query(v->dns, name, DNS_T_TXT, key_answer, vs);
	if (vs->q == NULL) {
		set_result(vs, DKIM_PERMERROR, "key name is not a valid domain");
		return;
	}
	v->npending++;
}

static void
timer_fired(uv_timer_t *t)
{
	deliver(t->data);
}

int
dkim_verify_finish(struct dkim_verify *v, uv_loop_t *loop, dkim_verify_done_fn *done, void *ctx)
{
	BUG_ON(v->finished);
	v->finished = true;
	v->done = done;
	v->ctx = ctx;
	if (!v->hdr.done) {
		dkim_hdr_finish(&v->hdr);
		header_done(v);
	}
	for (size_t i = 0; i < v->nbodies; i++)
		dkim_body_final(&v->bodies[i], v->bh[i]);
	for (size_t i = 0; i < v->nsigs; i++)
		if (v->sigs[i].res.result == DKIM_NONE)
			lookup(v, &v->sigs[i]);
	if (v->npending > 0)
		return 0;
	/* Nothing to look up: still call back from the loop, as promised. */
	v->timer = xcalloc(1, sizeof(*v->timer));
	if (uv_timer_init(loop, v->timer) != 0) {
		free(v->timer);
		v->timer = NULL;
		return -1;
	}
	v->timer->data = v;
	uv_timer_start(v->timer, timer_fired, 0, 0);
	return 0;
}

static void
timer_closed(uv_handle_t *h)
{
	free(h);
}

void
dkim_verify_free(struct dkim_verify **vp)
{
	struct dkim_verify *v = *vp;

	if (v == NULL)
		return;
	*vp = NULL;
	for (size_t i = 0; i < v->nsigs; i++)
		dns_cancel(&v->sigs[i].q);
	if (v->timer != NULL) {
		uv_timer_stop(v->timer);
		uv_close((uv_handle_t *)v->timer, timer_closed);
	}
	for (size_t i = 0; i < v->nbodies; i++)
		dkim_body_deinit(&v->bodies[i]);
	dkim_hdr_deinit(&v->hdr);
	free(v);
}
