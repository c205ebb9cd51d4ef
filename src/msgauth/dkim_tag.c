/*
 * dkim_tag.c -- DKIM tag lists: the generic parser (RFC 6376 3.2), the
 * DKIM-Signature field (3.5, checks of 6.1.1) and key records (3.6.1).
 *
 * Pure: no I/O, no allocation; spans point into the input. Base64 (b=,
 * bh=, p=) is decoded by libsodium, which rejects bad padding and stray
 * characters; folding whitespace inside it is skipped as RFC 6376 allows.
 * Limits: DKIM_MAX_TAGS tags, DKIM_MAX_H names in h=, decoded sizes.
 * Security: remote data; fuzzed by fuzz_dkim_sig.c and fuzz_dkim_key.c.
 */
#include <sodium.h>

#include "msgauth/dkim.h"

static bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* FWS = [*WSP CRLF] 1*WSP; a bare CR or LF anywhere else is a syntax error. */
static bool
is_fws(uint8_t c)
{
	return is_wsp(c) || c == '\r' || c == '\n';
}

static size_t
skip_fws(struct span in, size_t i)
{
	while (i < in.n && is_fws(in.p[i]))
		i++;
	return i;
}

static struct span
trim(struct span s)
{
	while (s.n > 0 && is_fws(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_fws(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* tag-name = ALPHA *ALNUMPUNC */
static size_t
tag_name_len(struct span in, size_t i)
{
	size_t j = i;

	if (j >= in.n || !((in.p[j] | 0x20) >= 'a' && (in.p[j] | 0x20) <= 'z'))
		return 0;
	while (j < in.n && (in.p[j] == '_' || (in.p[j] >= '0' && in.p[j] <= '9') ||
	                    ((in.p[j] | 0x20) >= 'a' && (in.p[j] | 0x20) <= 'z')))
		j++;
	return j - i;
}

/* tval-char = %x21-3A / %x3C-7E, plus UTF-8 (RFC 8616); no controls. */
static bool
value_ok(struct span v)
{
	for (size_t i = 0; i < v.n; i++) {
		uint8_t c = v.p[i];
		if (c == 0x7f || (c < 0x20 && !is_fws(c)))
			return false;
	}
	return true;
}

static bool
tag_seen(const struct dkim_tag *tags, int n, struct span name)
{
	for (int k = 0; k < n; k++)
		if (tags[k].name.n == name.n && memcmp(tags[k].name.p, name.p, name.n) == 0)
			return true;
	return false;
}

int
dkim_tag_parse(struct span in, struct dkim_tag *tags, size_t max, const char **error_r)
{
	size_t i = 0;
	int n = 0;

	for (;;) {
		size_t nl, vstart, vend;
		struct dkim_tag t;

		i = skip_fws(in, i);
		if (i == in.n)
			return n; /* empty list, or a final ';' */
		if ((nl = tag_name_len(in, i)) == 0) {
			*error_r = "bad tag name";
			return -1;
		}
		t.name = (struct span){in.p + i, nl};
		i = skip_fws(in, i + nl);
		if (i == in.n || in.p[i] != '=') {
			*error_r = "tag without '='";
			return -1;
		}
		vstart = ++i;
		while (i < in.n && in.p[i] != ';')
			i++;
		vend = i;
		t.raw = (struct span){in.p + vstart, vend - vstart};
		t.value = trim(t.raw);
		if (!value_ok(t.value)) {
			*error_r = "control character in tag value";
			return -1;
		}
		/* RFC 6376 3.2: a duplicate tag name makes the whole list invalid. */
		if (tag_seen(tags, n, t.name)) {
			*error_r = "duplicate tag";
			return -1;
		}
		if ((size_t)n == max) {
			*error_r = "too many tags";
			return -1;
		}
		tags[n++] = t;
		if (i == in.n)
			return n;
		i++; /* the ';' */
	}
}

static const struct dkim_tag *
tag_get(const struct dkim_tag *tags, int n, const char *name)
{
	for (int k = 0; k < n; k++)
		if (span_eq(tags[k].name, name))
			return &tags[k];
	return NULL;
}

/* Decodes base64 with folding whitespace; -1 when malformed or too long. */
static int
b64_decode(struct span v, uint8_t *dst, size_t max, size_t *len_r)
{
	const char *end;

	if (v.n == 0) {
		*len_r = 0;
		return 0;
	}
	if (sodium_base642bin(dst, max, (const char *)v.p, v.n, " \t\r\n", len_r, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	return end == (const char *)v.p + v.n ? 0 : -1;
}

/* Decimal, at most 12 digits (RFC 6376: 12 for t= x=, 76 for l=: we bound). */
static int
parse_num(struct span v, uint64_t *r)
{
	uint64_t x = 0;

	if (v.n == 0 || v.n > 18)
		return -1;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v.p[i] - '0');
	}
	*r = x;
	return 0;
}

static int
parse_alg(struct dkim_sig *sig, struct span v)
{
	if (span_eq_ci(v, "rsa-sha256"))
		sig->alg = DKIM_ALG_RSA_SHA256;
	else if (span_eq_ci(v, "ed25519-sha256"))
		sig->alg = DKIM_ALG_ED25519_SHA256;
	else if (span_eq_ci(v, "rsa-sha1"))
		sig->alg = DKIM_ALG_RSA_SHA1; /* parsed so it can fail clearly */
	else
		return -1;
	return 0;
}

static int
parse_canon1(struct span v, enum dkim_canon *c)
{
	if (span_eq_ci(v, "simple"))
		*c = DKIM_CANON_SIMPLE;
	else if (span_eq_ci(v, "relaxed"))
		*c = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

/* c= header[/body], each simple by default (RFC 6376 3.5). */
static int
parse_canon(struct dkim_sig *sig, struct span v)
{
	const uint8_t *slash = memchr(v.p, '/', v.n);

	sig->hcanon = sig->bcanon = DKIM_CANON_SIMPLE;
	if (slash == NULL)
		return parse_canon1(v, &sig->hcanon);
	if (parse_canon1((struct span){v.p, (size_t)(slash - v.p)}, &sig->hcanon) == -1)
		return -1;
	return parse_canon1((struct span){slash + 1, v.n - (size_t)(slash - v.p) - 1},
	                    &sig->bcanon);
}

/* h= names, colon-separated, FWS around each; From must be among them. */
static int
parse_h(struct dkim_sig *sig, struct span v, const char **error_r)
{
	size_t i = 0;
	bool from = false;

	sig->nh = 0;
	while (i <= v.n) {
		size_t j = i;
		struct span name;

		while (j < v.n && v.p[j] != ':')
			j++;
		name = trim((struct span){v.p + i, j - i});
		if (name.n == 0) {
			*error_r = "empty name in h=";
			return -1;
		}
		if (sig->nh == DKIM_MAX_H) {
			*error_r = "too many names in h=";
			return -1;
		}
		for (size_t k = 0; k < name.n; k++)
			if (name.p[k] <= 0x20 || name.p[k] >= 0x7f) {
				*error_r = "bad field name in h=";
				return -1;
			}
		from |= span_eq_ci(name, "from");
		sig->h[sig->nh++] = name;
		i = j + 1;
	}
	if (!from) {
		*error_r = "h= does not include From";
		return -1;
	}
	return 0;
}

/* A domain: 1..253 bytes of letters, digits, '-', '_' and dots. */
static bool
domain_ok(struct span d)
{
	if (d.n == 0 || d.n > DKIM_MAX_DOMAIN || d.p[0] == '.' || d.p[d.n - 1] == '.')
		return false;
	for (size_t i = 0; i < d.n; i++) {
		uint8_t c = d.p[i];
		if (!(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') ||
		      ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')))
			return false;
		if (c == '.' && d.p[i + 1] == '.')
			return false;
	}
	return true;
}

/* RFC 6376 6.1.1: the i= domain must be d= or a subdomain of it. */
static bool
auid_in_domain(struct span i, struct span d)
{
	const uint8_t *at = NULL;
	struct span id;

	for (size_t k = 0; k < i.n; k++)
		if (i.p[k] == '@')
			at = i.p + k;
	if (at == NULL)
		return false;
	id = (struct span){at + 1, i.n - (size_t)(at + 1 - i.p)};
	if (id.n == d.n)
		return strncasecmp((const char *)id.p, (const char *)d.p, d.n) == 0;
	return id.n > d.n && id.p[id.n - d.n - 1] == '.' &&
	       strncasecmp((const char *)id.p + id.n - d.n, (const char *)d.p, d.n) == 0;
}

/* q= is a colon list of methods; dns/txt must be among them. */
static bool
q_has_dns_txt(struct span v)
{
	size_t i = 0;

	while (i <= v.n) {
		size_t j = i;
		while (j < v.n && v.p[j] != ':')
			j++;
		if (span_eq_ci(trim((struct span){v.p + i, j - i}), "dns/txt"))
			return true;
		i = j + 1;
	}
	return false;
}

static const char *const sig_required[] = {"v", "a", "b", "bh", "d", "h", "s"};

/* Reads the tags that need no decoding; sets d and s first for reports. */
static int
sig_basic(struct dkim_sig *sig, const struct dkim_tag *t, int n, const char **error_r)
{
	const struct dkim_tag *x;

	if ((x = tag_get(t, n, "d")) != NULL && domain_ok(x->value))
		sig->d = x->value;
	if ((x = tag_get(t, n, "s")) != NULL && domain_ok(x->value))
		sig->s = x->value;
	for (size_t k = 0; k < nitems(sig_required); k++)
		if (tag_get(t, n, sig_required[k]) == NULL) {
			*error_r = "missing required tag";
			return -1;
		}
	if (!span_eq(tag_get(t, n, "v")->value, "1")) {
		*error_r = "unsupported version (v= is not 1)";
		return -1;
	}
	if (sig->d.n == 0 || sig->s.n == 0) {
		*error_r = "bad d= or s=";
		return -1;
	}
	if (parse_alg(sig, tag_get(t, n, "a")->value) == -1) {
		*error_r = "unknown algorithm (a=)";
		return -1;
	}
	if ((x = tag_get(t, n, "c")) != NULL && parse_canon(sig, x->value) == -1) {
		*error_r = "unknown canonicalization (c=)";
		return -1;
	}
	return 0;
}

/* l=, t=, x=, i=, q= */
static int
sig_options(struct dkim_sig *sig, const struct dkim_tag *t, int n, const char **error_r)
{
	const struct dkim_tag *x;

	if ((x = tag_get(t, n, "l")) != NULL) {
		if (parse_num(x->value, &sig->l) == -1) {
			*error_r = "bad l=";
			return -1;
		}
		sig->has_l = true;
	}
	if ((x = tag_get(t, n, "t")) != NULL) {
		if (parse_num(x->value, &sig->t) == -1) {
			*error_r = "bad t=";
			return -1;
		}
		sig->has_t = true;
	}
	if ((x = tag_get(t, n, "x")) != NULL) {
		if (parse_num(x->value, &sig->x) == -1) {
			*error_r = "bad x=";
			return -1;
		}
		sig->has_x = true;
	}
	if (sig->has_t && sig->has_x && sig->x <= sig->t) {
		*error_r = "x= is not after t=";
		return -1;
	}
	if ((x = tag_get(t, n, "i")) != NULL) {
		sig->i = x->value;
		if (!auid_in_domain(sig->i, sig->d)) {
			*error_r = "i= is not within d=";
			return -1;
		}
	}
	if ((x = tag_get(t, n, "q")) != NULL && !q_has_dns_txt(x->value)) {
		*error_r = "q= lacks dns/txt";
		return -1;
	}
	return 0;
}

int
dkim_sig_parse(struct dkim_sig *sig, struct span value, const char **error_r)
{
	struct dkim_tag t[DKIM_MAX_TAGS];
	const struct dkim_tag *b, *bh;
	size_t bhlen;
	int n;

	memset(sig, 0, sizeof(*sig));
	if ((n = dkim_tag_parse(value, t, nitems(t), error_r)) == -1)
		return -1;
	if (sig_basic(sig, t, n, error_r) == -1 || sig_options(sig, t, n, error_r) == -1)
		return -1;
	if (parse_h(sig, tag_get(t, n, "h")->value, error_r) == -1)
		return -1;
	b = tag_get(t, n, "b");
	sig->b_text = b->value;
	sig->b_raw = b->raw;
	if (b64_decode(b->value, sig->b, sizeof(sig->b), &sig->blen) == -1 || sig->blen == 0) {
		*error_r = "bad b=";
		return -1;
	}
	bh = tag_get(t, n, "bh");
	if (b64_decode(bh->value, sig->bh, sizeof(sig->bh), &bhlen) == -1 ||
	    bhlen != (sig->alg == DKIM_ALG_RSA_SHA1 ? 20 : 32)) {
		*error_r = "bad bh=";
		return -1;
	}
	return 1;
}

/* A colon list (key h=, s=) holding `want` or "*" when star_ok. */
static bool
list_has(struct span v, const char *want, bool star_ok)
{
	size_t i = 0;

	while (i <= v.n) {
		size_t j = i;
		struct span e;

		while (j < v.n && v.p[j] != ':')
			j++;
		e = trim((struct span){v.p + i, j - i});
		if (span_eq_ci(e, want) || (star_ok && span_eq(e, "*")))
			return true;
		i = j + 1;
	}
	return false;
}

/* k=, h=, s=, t= of a key record. */
static int
key_options(struct dkim_key *key, const struct dkim_tag *t, int n, const char **error_r)
{
	const struct dkim_tag *x;

	key->type = DKIM_KEY_RSA;
	if ((x = tag_get(t, n, "k")) != NULL) {
		if (span_eq_ci(x->value, "rsa"))
			key->type = DKIM_KEY_RSA;
		else if (span_eq_ci(x->value, "ed25519"))
			key->type = DKIM_KEY_ED25519;
		else {
			*error_r = "unknown key type (k=)";
			return -1;
		}
	}
	if ((x = tag_get(t, n, "h")) != NULL && !list_has(x->value, "sha256", false)) {
		*error_r = "key does not allow sha256 (h=)";
		return -1;
	}
	if ((x = tag_get(t, n, "s")) != NULL && !list_has(x->value, "email", true)) {
		*error_r = "key is not for email (s=)";
		return -1;
	}
	if ((x = tag_get(t, n, "t")) != NULL) {
		key->testing = list_has(x->value, "y", false);
		key->strict = list_has(x->value, "s", false);
	}
	return 0;
}

int
dkim_key_parse(struct dkim_key *key, struct span txt, const char **error_r)
{
	struct dkim_tag t[DKIM_MAX_TAGS];
	const struct dkim_tag *p;
	int n;

	memset(key, 0, sizeof(*key));
	if ((n = dkim_tag_parse(txt, t, nitems(t), error_r)) == -1)
		return -1;
	/* RFC 6376 3.6.1: v=, if present, must be first and exactly DKIM1. */
	for (int k = 0; k < n; k++)
		if (span_eq(t[k].name, "v") && (k != 0 || !span_eq(t[k].value, "DKIM1"))) {
			*error_r = "bad v= in key record";
			return -1;
		}
	if (key_options(key, t, n, error_r) == -1)
		return -1;
	if ((p = tag_get(t, n, "p")) == NULL) {
		*error_r = "key record without p=";
		return -1;
	}
	if (b64_decode(p->value, key->p, sizeof(key->p), &key->plen) == -1) {
		*error_r = "bad p= in key record";
		return -1;
	}
	key->revoked = key->plen == 0;
	return 1;
}
