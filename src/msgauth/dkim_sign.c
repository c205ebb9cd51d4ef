/*
 * dkim_sign.c -- DKIM signing of our users' mail (RFC 6376 5, RFC 8301,
 * RFC 8463), streaming, once at queue entry.
 *
 * Defaults: relaxed/relaxed; one signature per key given (RSA-2048 and
 * Ed25519: dual signatures); h= lists every occurrence of the fields in
 * dkim_sign_headers and From once more than it occurs ("oversigning": a
 * From added later changes the signed data, so it cannot go unnoticed);
 * t= the signing time; x= only when asked (dkim_sign_set_expire).
 * The body streams through one relaxed canonicalizer into SHA-256; the
 * header section is kept (dkim_hdr.c bounds).
 * Security: the private keys never leave the EVP_PKEY; only DKIM's own
 * fields are written. The input is our user's and is still bounded.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "msgauth/dkim.h"

#define SIGN_WIDTH 76 /* folded lines stay under RFC 5322's 78 */

const char *const dkim_sign_headers[] = {
        "from",
        "reply-to",
        "subject",
        "date",
        "to",
        "cc",
        "message-id",
        "in-reply-to",
        "references",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-language",
        "sender",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-post",
        "list-help",
        "list-subscribe",
        "list-owner",
        "list-archive",
        "autocrypt",
        NULL,
};

struct dkim_sign {
	struct dkim_sign_key *keys[2];
	size_t nkeys;
	time_t now, expire; /* expire: 0 for no x= */
	struct dkim_hdr hdr;
	struct dkim_body body;
};

struct dkim_sign_key *
dkim_sign_key_load(const char *path, const char *domain, const char *selector, const char **error_r)
{
	struct dkim_sign_key *k;
	EVP_PKEY *pk;
	FILE *fp;

	if (strlen(domain) > DKIM_MAX_DOMAIN || strlen(selector) >= sizeof(k->selector)) {
		*error_r = "domain or selector too long";
		return NULL;
	}
	if ((fp = fopen(path, "re")) == NULL) {
		*error_r = "cannot open key file";
		return NULL;
	}
	pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (pk == NULL || !(EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "ED25519"))) {
		EVP_PKEY_free(pk);
		*error_r = "not an RSA or Ed25519 private key in PEM";
		return NULL;
	}
	if (EVP_PKEY_is_a(pk, "RSA") && (EVP_PKEY_get_bits(pk) < DKIM_MIN_RSA_BITS ||
	                                 EVP_PKEY_get_bits(pk) > DKIM_MAX_RSA_BITS)) {
		EVP_PKEY_free(pk);
		*error_r = "RSA key size outside 1024..8192 bits (RFC 8301)";
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	k->type = EVP_PKEY_is_a(pk, "RSA") ? DKIM_KEY_RSA : DKIM_KEY_ED25519;
	k->pkey = pk;
	snprintf(k->domain, sizeof(k->domain), "%s", domain);
	snprintf(k->selector, sizeof(k->selector), "%s", selector);
	return k;
}

void
dkim_sign_key_free(struct dkim_sign_key **kp)
{
	if (*kp == NULL)
		return;
	EVP_PKEY_free((*kp)->pkey);
	free(*kp);
	*kp = NULL;
}

/* newest - the selector of `type` that sorts last in dir, or "". */
static void
newest(const char *dir, const char *domain, enum dkim_keytype type, char *best, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	best[0] = '\0';
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char sel[64], *path;
		struct dkim_sign_key *k;
		const char *err;

		if (e->d_name[0] == '.' || n < 5 || n - 4 >= sizeof(sel) ||
		    strcmp(e->d_name + n - 4, ".key") != 0)
			continue;
		memcpy(sel, e->d_name, n - 4);
		sel[n - 4] = '\0';
		if (strcmp(sel, best) <= 0)
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		if ((k = dkim_sign_key_load(path, domain, sel, &err)) != NULL && k->type == type)
			snprintf(best, size, "%s", sel);
		dkim_sign_key_free(&k);
		free(path);
	}
	closedir(d);
}

int
dkim_sign_keys_load(const char *data_dir, const char *domain, struct dkim_sign_key *keys[2],
                    size_t *n_r, const char **error_r)
{
	static const enum dkim_keytype types[] = {DKIM_KEY_RSA, DKIM_KEY_ED25519};
	char *dir, *path, sel[64];

	*n_r = 0;
	if ((path = dkim_key_path(data_dir, domain, "x")) == NULL) {
		*error_r = "bad domain";
		return -1;
	}
	free(path);
	dir = xasprintf("%s/dkim/%s", data_dir, domain);
	for (size_t i = 0; i < nitems(types); i++) {
		newest(dir, domain, types[i], sel, sizeof(sel));
		if (sel[0] == '\0')
			continue;
		path = xasprintf("%s/%s.key", dir, sel);
		if ((keys[*n_r] = dkim_sign_key_load(path, domain, sel, error_r)) != NULL)
			(*n_r)++;
		free(path);
	}
	free(dir);
	if (*n_r == 0) {
		*error_r = "no usable key for the domain";
		return -1;
	}
	return 0;
}

struct dkim_sign *
dkim_sign_new(struct dkim_sign_key *const *keys, size_t nkeys, time_t now)
{
	struct dkim_sign *s = xcalloc(1, sizeof(*s));

	BUG_ON(nkeys == 0 || nkeys > nitems(s->keys));
	for (size_t i = 0; i < nkeys; i++)
		s->keys[i] = keys[i];
	s->nkeys = nkeys;
	s->now = now != 0 ? now : time(NULL);
	dkim_hdr_init(&s->hdr);
	dkim_body_init(&s->body, DKIM_CANON_RELAXED, UINT64_MAX);
	return s;
}

void
dkim_sign_set_expire(struct dkim_sign *s, time_t x)
{
	BUG_ON(x != 0 && x <= s->now);
	s->expire = x;
}

void
dkim_sign_feed(struct dkim_sign *s, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t used = 0;

	if (!s->hdr.done)
		used = dkim_hdr_feed(&s->hdr, p, n);
	if (s->hdr.done)
		dkim_body_update(&s->body, p + used, n - used);
}

static size_t
count_fields(const struct dkim_hdr *h, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < h->nf; i++)
		n += span_eq_ci(dkim_hdr_name(h, i), name);
	return n;
}

/* h_list - the names to sign, From once more than present. Returns count. */
static size_t
h_list(const struct dkim_hdr *h, struct span *names)
{
	size_t n = 0;

	for (size_t j = 0; dkim_sign_headers[j] != NULL; j++) {
		size_t k = count_fields(h, dkim_sign_headers[j]);

		if (strcmp(dkim_sign_headers[j], "from") == 0)
			k++;
		for (; k > 0 && n < DKIM_MAX_H; k--)
			names[n++] = span_str(dkim_sign_headers[j]);
	}
	return n;
}

/* Folding writer: breaks before a token that would pass SIGN_WIDTH. */
struct fold {
	struct buf *b;
	size_t col;
};

static void
fold_put(struct fold *f, const char *s, size_t n)
{
	if (f->col + n > SIGN_WIDTH && f->col > 1) {
		buf_append(f->b, "\r\n\t", 3);
		f->col = 1;
		if (n > 0 && s[0] == ' ')
			s++, n--; /* the tab is the separator now */
	}
	buf_append(f->b, s, n);
	f->col += n;
}

/* fold_value - a long value in pieces that fit the line. */
static void
fold_long(struct fold *f, const char *s, size_t n)
{
	while (n > 0) {
		size_t room = f->col < SIGN_WIDTH ? SIGN_WIDTH - f->col : 0;
		size_t k = MIN(n, room);

		if (k == 0) {
			buf_append(f->b, "\r\n\t", 3);
			f->col = 1;
			continue;
		}
		buf_append(f->b, s, k);
		f->col += k;
		s += k;
		n -= k;
	}
}

static void
b64(char *dst, size_t size, const uint8_t *p, size_t n)
{
	sodium_bin2base64(dst, size, p, n, sodium_base64_VARIANT_ORIGINAL);
}

/* sig_field - "DKIM-Signature: ... b=" as it will appear, folded.
   Returns the column where b= ends. */
static size_t
sig_field(struct dkim_sign *s, const struct dkim_sign_key *k, const struct span *names, size_t nn,
          const uint8_t bh[32], struct buf *out)
{
	struct fold f = {out, 0};
	char tmp[DKIM_MAX_DOMAIN + 64], bh64[64];

	fold_put(&f, "DKIM-Signature: v=1;", 20);
	snprintf(tmp, sizeof(tmp), " a=%s;",
	         dkim_alg_name(k->type == DKIM_KEY_RSA ? DKIM_ALG_RSA_SHA256
	                                               : DKIM_ALG_ED25519_SHA256));
	fold_put(&f, tmp, strlen(tmp));
	fold_put(&f, " c=relaxed/relaxed;", 19);
	snprintf(tmp, sizeof(tmp), " d=%s;", k->domain);
	fold_put(&f, tmp, strlen(tmp));
	snprintf(tmp, sizeof(tmp), " s=%s;", k->selector);
	fold_put(&f, tmp, strlen(tmp));
	snprintf(tmp, sizeof(tmp), " t=%lld;", (long long)s->now);
	fold_put(&f, tmp, strlen(tmp));
	if (s->expire != 0) {
		snprintf(tmp, sizeof(tmp), " x=%lld;", (long long)s->expire);
		fold_put(&f, tmp, strlen(tmp));
	}
	fold_put(&f, " h=", 3);
	for (size_t i = 0; i < nn; i++) {
		snprintf(tmp, sizeof(tmp), "%.*s%s", (int)names[i].n, (const char *)names[i].p,
		         i + 1 < nn ? ":" : ";");
		fold_put(&f, tmp, strlen(tmp));
	}
	b64(bh64, sizeof(bh64), bh, 32);
	snprintf(tmp, sizeof(tmp), " bh=%s;", bh64);
	fold_put(&f, tmp, strlen(tmp));
	fold_put(&f, " b=", 3);
	return f.col;
}

/* sign_data - RSA signs the data with SHA-256; Ed25519 signs its SHA-256. */
static int
sign_data(const struct dkim_sign_key *k, struct span data, uint8_t *sig, size_t *len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t hash[32];
	int ok;

	if (ctx == NULL)
		die("dkim: out of memory");
	if (k->type == DKIM_KEY_ED25519)
		ok = EVP_Digest(data.p, data.n, hash, NULL, EVP_sha256(), NULL) == 1 &&
		     EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
		     EVP_DigestSign(ctx, sig, len, hash, sizeof(hash)) == 1;
	else
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
		     EVP_DigestSign(ctx, sig, len, data.p, data.n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* sign_one - one complete DKIM-Signature field onto `out`. */
static int
sign_one(struct dkim_sign *s, const struct dkim_sign_key *k, const struct span *names, size_t nn,
         const uint8_t bh[32], struct buf *out)
{
	struct buf field, data;
	uint8_t sig[DKIM_MAX_SIG_BYTES];
	char sig64[DKIM_MAX_SIG_BYTES * 4 / 3 + 8];
	size_t siglen = sizeof(sig);
	struct fold f;
	int rc = -1;

	buf_init(&field, 1024, DKIM_MAX_SIG_FIELD);
	buf_init(&data, 4096, 2 * DKIM_MAX_HEADER);
	f = (struct fold){&field, sig_field(s, k, names, nn, bh, &field)};
	if (dkim_hdr_select(&s->hdr, names, nn, DKIM_CANON_RELAXED, SIZE_MAX, &data) == 0 &&
	    dkim_canon_header(DKIM_CANON_RELAXED, buf_peek(&field), false, &data) == 0 &&
	    sign_data(k, buf_peek(&data), sig, &siglen) == 0) {
		b64(sig64, sizeof(sig64), sig, siglen);
		fold_long(&f, sig64, strlen(sig64));
		rc = buf_append(&field, "\r\n", 2) == 0 &&
		                     buf_append(out, buf_peek(&field).p, buf_len(&field)) == 0
		             ? 0
		             : -1;
	}
	buf_deinit(&field);
	buf_deinit(&data);
	return rc;
}

int
dkim_sign_finish(struct dkim_sign *s, struct buf *out, const char **error_r)
{
	struct span names[DKIM_MAX_H];
	uint8_t bh[32];
	size_t nn;

	dkim_hdr_finish(&s->hdr);
	dkim_body_final(&s->body, bh);
	if (s->hdr.error != NULL) {
		*error_r = s->hdr.error;
		return -1;
	}
	if (count_fields(&s->hdr, "from") == 0) {
		*error_r = "message has no From field";
		return -1;
	}
	nn = h_list(&s->hdr, names);
	for (size_t i = 0; i < s->nkeys; i++)
		if (sign_one(s, s->keys[i], names, nn, bh, out) == -1) {
			*error_r = "signing failed";
			return -1;
		}
	return 0;
}

void
dkim_sign_free(struct dkim_sign **sp)
{
	struct dkim_sign *s = *sp;

	if (s == NULL)
		return;
	dkim_body_deinit(&s->body);
	dkim_hdr_deinit(&s->hdr);
	free(s);
	*sp = NULL;
}
